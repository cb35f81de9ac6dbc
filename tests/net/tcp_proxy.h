/* A small fault-injecting TCP proxy for the tests of tcp:// mailboxes:
 * forwards every connection made to it to a target port on loopback, and
 * on request cuts all connections at once (both directions reset) or
 * stalls them (bytes stop moving but the sockets stay open). This kernel
 * has no netem; a proxy in the test is the link we can break. */
#ifndef MBX_TEST_TCP_PROXY_H
#define MBX_TEST_TCP_PROXY_H

#include <stddef.h>

struct tcp_proxy;

/* Starts a proxy on 127.0.0.1 (any free port) to 127.0.0.1:target.
 * Returns it, or NULL. */
struct tcp_proxy *proxy_start(int target_port);

/* Holds (1) or lets go (0) the bytes from the target to the client on
 * every connection, the other way still moving: a link whose answers
 * are late (acknowledgements lost in a cut that follows). */
void proxy_oneway(struct tcp_proxy *p, int on);

/* Holds (1) or lets go (0) the bytes from the client to the target on
 * every connection, the other way still moving (a client's end of the
 * link closed meanwhile is seen once they go): a client's confirmations
 * and goodbye late on the way. */
void proxy_hold_up(struct tcp_proxy *p, int on);

/* The port the proxy listens on. */
int proxy_port(const struct tcp_proxy *p);

/* Points new connections at another target port (a restarted gateway). */
void proxy_retarget(struct tcp_proxy *p, int target_port);

/* Resets every connection open through the proxy now. Returns how many. */
int proxy_cut(struct tcp_proxy *p);

/* Stops (1) or resumes (0) moving bytes on every connection. */
void proxy_stall(struct tcp_proxy *p, int on);

/* Whether the n bytes at needle went through the proxy, either way, among
 * the first 4 MiB it forwarded (what an eavesdropper on the link saw). */
int proxy_saw(struct tcp_proxy *p, const void *needle, size_t n);

/* Forwards at most bytes_per_s bytes a second on each connection, each
 * way (0: as fast as it can): a slow link. */
void proxy_rate(struct tcp_proxy *p, unsigned long long bytes_per_s);

/* Moves at most bytes at a time (0: up to 64 KiB): with a rate, a link
 * that drips small pieces often instead of large ones now and then. */
void proxy_chunk(struct tcp_proxy *p, unsigned bytes);

/* How many bytes the proxy forwarded, both ways together. */
unsigned long long proxy_bytes(struct tcp_proxy *p);

/* How many connections the proxy took (and forwarded) since it started. */
unsigned proxy_accepted(struct tcp_proxy *p);

/* Cuts everything and frees the proxy. */
void proxy_stop(struct tcp_proxy *p);

#endif
