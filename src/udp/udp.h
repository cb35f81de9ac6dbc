/* udp:// mailboxes: the sender's handle (client.c) and the gateway that
 * receives (gateway.c), over the datagrams of frame.h. */
#ifndef MBX_UDP_UDP_H
#define MBX_UDP_UDP_H

#include <stddef.h>
#include <stdint.h>

/* Datagrams whose sender's clock is further than this from the gateway's
 * are refused (replay protection across a gateway's restarts). */
#define UDP_SKEW_MS 120000

/* How long a sender on the gateway's machine waits for the answer to its
 * probe, per try, and how many tries. */
#define UDP_PROBE_WAIT_NS 100000000ll
#define UDP_PROBE_TRIES   3

/* Parses "udp://HOST:PORT/NAME" (NAME a plain local name). Returns 0,
 * -EINVAL, or -ENAMETOOLONG for a NAME over 200 bytes. */
int udp_parse(const char *name, char *host, size_t hostcap, char *port, size_t portcap, char *box,
              size_t boxcap);

/* The sender's wall clock in ms, as datagrams carry it. */
uint64_t udp_wall_ms(void);

#endif
