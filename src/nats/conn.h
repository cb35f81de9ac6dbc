/* The bridge's connection to NATS: the client's options from
 * mbx_bridge_options (servers, credentials, TLS), this machine's id, and
 * NATS statuses as errno values. */
#ifndef MBX_NATS_CONN_H
#define MBX_NATS_CONN_H

#include "mbx.h"

#include <nats/nats.h>
#include <stddef.h>

/* Connects with the servers and credentials of o; the client reconnects
 * for ever (a cluster: to any member) and buffers what is published
 * meanwhile. asap: every publish is written at once (for requests and
 * replies: the client's flusher otherwise batches writes, which costs a
 * request about a millisecond); else batched (for streams of messages).
 * Returns 0 with *nc set, or -EINVAL (no or bad server list),
 * -ENOENT (a credentials or certificate file is missing), -EACCES
 * (credentials refused), -ECONNREFUSED (nobody answered), -ENOMEM. */
int nconn_open(const mbx_bridge_options *o, int asap, natsConnection **nc);

/* Writes this machine's id (16 hex digits of /etc/machine-id, else of the
 * boot id) into out (cap >= 17). Returns 0 or -errno. */
int nconn_host_id(char *out, size_t cap);

/* The errno value for a NATS status (0 for NATS_OK). */
int nconn_errno(natsStatus s);

#endif
