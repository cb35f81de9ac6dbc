/* The key of the bridge's JetStream message ids: a secret of the user's
 * in the mailbox directory (".mbx-bridge.key.UID"), made once, so that the id
 * a restarted bridge gives the message its journal kept is the one it gave
 * before, and nobody who saw one id can tell the next (a peer publishing
 * under the next ids first made the stream drop the bridge's messages as
 * duplicates). */
#ifndef MBX_NATS_IDKEY_H
#define MBX_NATS_IDKEY_H

#include <stdint.h>

#define IDKEY_LEN 32

/* The key, read once per process (made first when there is none yet; read
 * again at the next call after a failure).
 * Returns 0 with *key set; -EACCES when the file is another user's, open
 * to others or has another link (planted: its owner would know our key);
 * -EUCLEAN when it is not a regular file of IDKEY_LEN bytes; or another
 * -errno. */
int idkey_get(const uint8_t **key);

#endif
