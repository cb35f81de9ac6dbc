/* libmbx-sysv's parts, seen by each other only through this header. The
 * public functions (msgget, msgsnd, msgrcv, msgctl) are in mbx-sysv.h. */
#ifndef MBX_SYSV_INTERNAL_H
#define MBX_SYSV_INTERNAL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mbx.h"
#include "sysv_format.h"

#define HIDDEN __attribute__((visibility("hidden")))
/* The four public calls (the rest is built -fvisibility=hidden). */
#define EXPORT __attribute__((visibility("default")))

/* Sets errno to -neg and returns -1, as the System V calls fail. */
static inline int sysv_fail(int neg)
{
    errno = -neg;
    return -1;
}

/* dir.c: the path of file PREFIX+TAIL in the mailbox directory. Returns 0
 * or -ENAMETOOLONG. */
HIDDEN int sysv_path(char *buf, size_t cap, const char *prefix, const char *tail);
/* The mbx name of queue id's mailbox ("sysv.ID") in buf (>= 24 bytes). */
HIDDEN void sysv_box_name(char *buf, size_t cap, int32_t id);

/* ids.c: a fresh random queue id, 1 .. INT32_MAX. Returns it, or -errno of
 * getrandom. */
HIDDEN int32_t sysv_random_id(void);

/* keys.c: the key links. */
/* Stores the id key's link names in *id. Returns 0, -ENOENT (no link),
 * -EUCLEAN (not a link, or its target is not an id). */
HIDDEN int sysv_key_lookup(int32_t key, int32_t *id);
/* Publishes key -> id. Returns 0, -EEXIST (the key has a link already), or
 * another -errno of symlink. */
HIDDEN int sysv_key_publish(int32_t key, int32_t id);
/* Removes key's link when it still names id. Returns 0 or -errno. */
HIDDEN int sysv_key_remove(int32_t key, int32_t id);

/* meta.c: the state files. */
/* Creates queue id's state file (O_EXCL) with *init and file mode fmode.
 * Returns 0, -EEXIST or another -errno. */
HIDDEN int sysv_meta_create(int32_t id, const struct sysv_meta *init, mode_t fmode);
/* Maps queue id's state file shared in *out, after checking it. Returns 0,
 * -ENOENT (none, or being removed), -EACCES (the file's permissions),
 * -EUCLEAN (not a valid state file), -ENOMEM. */
HIDDEN int sysv_meta_map(int32_t id, struct sysv_meta **out);
HIDDEN void sysv_meta_unmap(struct sysv_meta *m);
/* Removes queue id's state file. Returns 0 or -errno of unlink. */
HIDDEN int sysv_meta_unlink(int32_t id);
/* IPC_SET: lets the users queue id's state m names (owner and creator,
 * their groups, others by the mode) open its two files. A file of the
 * creator or of the owner before (was) goes to the owner and group this
 * IPC_SET changed from was and was_gid (root), or to the new group (its
 * owner, a member of it); its mode is
 * the one of sysv_file_mode, and POSIX ACL entries let in the owner,
 * creator and groups the file's owner and group are not (only its owner
 * or root may set them). Never through a link: a name that is not a
 * one-name regular file is left alone. Returns 0, the first -errno, or
 * -EUCLEAN for such a name. */
HIDDEN int sysv_files_share(int32_t id, const struct sysv_meta *m, uint32_t was, uint32_t was_gid);
/* The file mode for System V mode `mode`: read-write for the owner, and
 * for group and others when the mode gives them read or write. */
HIDDEN mode_t sysv_file_mode(uint32_t mode);

/* proc.c: this process, cached: its pid, and its credentials as of its
 * last msgget (or fork). */
HIDDEN pid_t sysv_pid(void);
HIDDEN void sysv_creds_refresh(void);
/* The time in seconds (CLOCK_REALTIME, coarse). */
HIDDEN int64_t sysv_now(void);

/* perm.c: System V's permission rule. */
/* The rights (4 read, 2 write, 1 execute) msgget's mode bits ask for:
 * the kernel folds the three classes' bits together. */
static inline uint32_t sysv_asked(uint32_t flg)
{
    return ((flg >> 6) | (flg >> 3) | flg) & 7;
}
/* Whether the cached credentials may do `want` (4 read, 2 write, 0
 * nothing) on the queue: owner, group or other bits, root passes. */
HIDDEN int sysv_perm_ok(const struct sysv_meta *m, uint32_t want);
/* Whether the cached credentials are the queue's owner, creator or root
 * (who may IPC_SET and IPC_RMID). */
HIDDEN int sysv_is_owner(const struct sysv_meta *m);

/* table.c: the queues this process has open, by id. */
struct sysv_q {
    int32_t id;
    mbx *m;
    struct sysv_meta *meta;
    int refs; /* atomic: the table's reference and the callers' */
    struct sysv_q *next;
};
/* Stores queue id in *out with a reference (sysv_put), opening it on first
 * use. Returns 0, -EINVAL (no such queue, or removed), -EACCES (the files'
 * permissions), or an error of mbx_open. */
HIDDEN int sysv_get(int32_t id, struct sysv_q **out);
/* Drops a reference from sysv_get; the last closes the queue. */
HIDDEN void sysv_put(struct sysv_q *q);
/* Takes q out of the table (it was removed): later sysv_get open afresh. */
HIDDEN void sysv_forget(struct sysv_q *q);
/* Adds a queue this process just created (takes m and meta). Returns 0 or
 * -ENOMEM (then m and meta are closed). */
HIDDEN int sysv_table_add(int32_t id, mbx *m, struct sysv_meta *meta);

/* qbytes.c: waits (unless nowait) until a message of len bytes fits under
 * the queue's msg_qbytes. Returns 0, -EAGAIN (nowait), -EINTR (a signal
 * handler ran), -EIDRM, or an error of mbx_stat_get. */
HIDDEN int sysv_room_wait(struct sysv_q *q, size_t len, int nowait);
/* Counts a message of len bytes sent, or received (waking senders waiting
 * for room). */
HIDDEN void sysv_count_sent(struct sysv_meta *m, size_t len);
HIDDEN void sysv_count_received(struct sysv_meta *m, size_t len);

/* count.c: counts the queues of the mailbox directory, their messages and
 * bytes (each capped at INT32_MAX). Returns 0 or -errno of opendir. */
HIDDEN int sysv_count_queues(int *queues, int *messages, int *bytes);

/* queue.c: whole queues. */
/* Creates a queue for key (0: IPC_PRIVATE) with System V mode `mode` and
 * stores its id. Returns 0, -EEXIST (another process published key first),
 * -ENOSPC, -ENOMEM, or another -errno. */
HIDDEN int sysv_queue_create(int32_t key, uint32_t mode, int32_t *id);
/* Removes queue q: the key first, then the state file, then the mailbox
 * (blocked callers get -EIDRM). Returns 0 or -errno (-EPERM from the
 * directory). */
HIDDEN int sysv_queue_remove(struct sysv_q *q);
/* IPC_RMID of an id no process can use (sysv_get said -EINVAL) whose
 * state file is still there: marked removed (by a process killed inside
 * IPC_RMID, or by a user who may write the state file, which every user
 * who may read the queue can) or unreadable. The files' owner (or root)
 * removes them: key, state file, mailbox. Returns 0, -EINVAL (no such
 * files of this id, or not the caller's), or -errno of unlink. */
HIDDEN int sysv_queue_cleanup(int32_t id);

#endif
