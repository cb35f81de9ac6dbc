/* The local transport's process-wide state: this process's own mailbox
 * (mbx_self) and the handles on callers' mailboxes it answers (mbx_reply),
 * kept right across fork and at exit by core/process.c. */
#ifndef MBX_SHM_PROCESS_H
#define MBX_SHM_PROCESS_H

#include "shm/shm.h"

/* Stores this process's own mailbox "@PID" (created on first use) in
 * *out; see mbx_self. Returns 0 or an error of mbx_open. */
int shm_self(struct mbx **out);

/* Stores in *out a send handle on process pid's own mailbox, cached.
 * Returns 0 or an error of mbx_open (-ENOENT when that process is gone).
 * Give it back with shm_peer_put. */
int shm_peer_get(pid_t pid, struct shm_box **out);
void shm_peer_put(struct shm_box *b);

/* The cached handle b (from shm_peer_get) may no longer be its process's
 * mailbox, although that process lives and the mailbox is not removed:
 * the process replaced its program (exec closed the mailbox's file and
 * the new program made another). Unless that pid's was looked up again
 * less than a second ago, b is forgotten and the next shm_peer_get of
 * that pid opens it again (a look at its descriptors: a caller choosing
 * to make it after every late reply cost a server 63 ms each; found by a
 * review). Returns 1 when forgotten, 0 when not. Still give b back with
 * shm_peer_put. */
int shm_peer_forget(struct shm_box *b);

/* Fork and exit handlers (core/process.c). */
void shm_fork_prepare(void);
void shm_fork_parent(void);
void shm_fork_child(void);
void shm_at_exit(void);

#endif
