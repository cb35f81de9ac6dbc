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
/* Removes key's link when it still names id, never another queue's link
 * (one remover at a time per link, under a lock on a removal file of the
 * link's owner's or root's: another user's of that name is removed, by
 * root, or passed by).
 * Returns 0 (removed, or the link names another id or none), -EBUSY
 * (another process is removing that link), or -errno. */
HIDDEN int sysv_key_remove(int32_t key, int32_t id);
/* Finishes the removal of key's link to id, a link of user uid's, a
 * killed process began (its removal file is left, its lock free, the
 * file uid's or root's: another's is left alone): the link if it still
 * names id, then the removal file. Returns 0, -EBUSY (its remover is
 * alive), or -errno. */
HIDDEN int sysv_key_finish(int32_t key, int32_t id, uid_t uid);

/* page.c: the page files (state and traffic) of queue id, named
 * PREFIX+ID in the mailbox directory. */
/* The path of queue id's file of prefix in buf. Returns 0 or
 * -ENAMETOOLONG. */
HIDDEN int sysv_page_path(char *buf, size_t cap, const char *prefix, int32_t id);
/* Creates the file (O_EXCL) holding len bytes of init in a zeroed page,
 * with file mode fmode exactly. With held non-NULL, the file is made
 * under a creation's lock (sysv_creating_open), which the caller keeps:
 * *held and *slot for sysv_creating_close. Returns 0, -EEXIST or another
 * -errno. */
HIDDEN int sysv_page_create(const char *prefix, int32_t id, const void *init, size_t len,
                            mode_t fmode, int *held, int *slot);
/* Maps the file shared, read-only or writable, in *out when it is a
 * regular file of one page, not reached through a link. Returns 0,
 * -ENOENT, -EACCES (the file's permissions), -EUCLEAN (not such a file),
 * -ENOMEM. */
HIDDEN int sysv_page_map(const char *prefix, int32_t id, int writable, void **out);
HIDDEN void sysv_page_unmap(const void *p);
/* Removes the file. Returns 0 (also when it was gone) or -errno. */
HIDDEN int sysv_page_unlink(const char *prefix, int32_t id);

/* meta.c: the state files. */
/* Creates queue id's state file (O_EXCL) with *init, file mode
 * sysv_meta_file_mode(init->mode). Returns 0, -EEXIST or another -errno. */
HIDDEN int sysv_meta_create(int32_t id, const struct sysv_meta *init);
/* Maps queue id's state file shared in *out, after checking it:
 * read-only, or writable (which only the owner's side may: IPC_SET,
 * IPC_RMID). Returns 0, -ENOENT (none, or being removed), -EACCES (the
 * file's permissions), -EUCLEAN (not a valid state file), -ENOMEM. */
HIDDEN int sysv_meta_map(int32_t id, int writable, struct sysv_meta **out);
/* The file mode for System V mode `mode`: read-write for the owner, and
 * for group and others when the mode gives them read or write. The
 * traffic file's and the mailbox's. */
HIDDEN mode_t sysv_file_mode(uint32_t mode);
/* The state file's: sysv_file_mode without write for group and others. */
HIDDEN mode_t sysv_meta_file_mode(uint32_t mode);
/* Whether the cached credentials are root or own queue id's files (its
 * state file), who alone may give them to a new owner or group. */
HIDDEN int sysv_files_owner(int32_t id);

/* traffic.c: the traffic files. */
/* Creates queue id's traffic file (O_EXCL), zeroed counts, file mode
 * fmode, under a creation's lock the caller keeps until the state file
 * is made (*held, *slot: sysv_page_create). Returns 0, -EEXIST or another
 * -errno. */
HIDDEN int sysv_traffic_create(int32_t id, mode_t fmode, int *held, int *slot);
/* Maps queue id's traffic file writable in *out (the file checked, not
 * its contents: any user of the queue may write them), or, when it is not
 * a one-page regular file or is gone, a private zeroed page. Returns 0,
 * -EACCES, -ENOMEM, or another error of sysv_page_map. */
HIDDEN int sysv_traffic_map(int32_t id, struct sysv_traffic **out);

/* share.c: IPC_SET's access to the files. */
/* Lets the users queue id's state m names (owner and creator, their
 * groups, others by the mode) open its three files: the state file for
 * reading (the owner and creator also for writing), the traffic file and
 * the mailbox for reading and writing. A file of the
 * creator or of the owner before (was) goes to the owner and group this
 * IPC_SET changed from was and was_gid (root), or to the new group (its
 * owner, a member of it); its mode is the one of sysv_file_mode (or
 * sysv_meta_file_mode), and POSIX ACL entries let in the owner,
 * creator and groups the file's owner and group are not (only its owner
 * or root may set them). Never through a link: a name that is not a
 * one-name regular file is left alone. Returns 0, the first -errno, or
 * -EUCLEAN for such a name. */
HIDDEN int sysv_files_share(int32_t id, const struct sysv_meta *m, uint32_t was, uint32_t was_gid);

/* proc.c: this process, cached: its pid, and its credentials as of its
 * last msgget (or fork). */
HIDDEN pid_t sysv_pid(void);
HIDDEN void sysv_creds_refresh(void);
/* Creates path exclusively (mode 0600) and takes an exclusive flock on
 * it, which a creator holds until its queue's state file is made: the
 * files of a msgget killed before then are known by their free lock
 * (sysv_queue_cleanup). A forked child does not keep the lock: its copy
 * is closed at the fork. Returns the descriptor (and *slot for
 * sysv_creating_close), -EEXIST (the name exists, or a sweep locked the
 * new file first: it is removed), or -errno of open or flock. */
HIDDEN int sysv_creating_open(const char *path, int *slot);
/* Closes fd of sysv_creating_open (fd < 0: nothing), which frees the
 * lock. */
HIDDEN void sysv_creating_close(int fd, int slot);
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
    const struct sysv_meta *meta; /* mapped read-only */
    struct sysv_traffic *traffic;
    int refs; /* atomic: the table's reference and the callers' */
    struct sysv_q *next;
};
/* Stores queue id in *out with a reference (sysv_put), opening it on first
 * use. Returns 0, -EINVAL (no such queue, or removed), -EACCES (the files'
 * permissions), or an error of mbx_open. */
HIDDEN int sysv_get(int32_t id, struct sysv_q **out);
/* Drops a reference from sysv_get; the last closes the queue. */
HIDDEN void sysv_put(struct sysv_q *q);
/* Whether queue q is marked removed. */
HIDDEN int sysv_is_removed(const struct sysv_q *q);
/* How long a blocked msgsnd or msgrcv waits in the mailbox before it looks
 * at the removal mark again: a queue removed by a user who may not remove
 * its mailbox (sysv_queue_remove) wakes nobody. */
#define SYSV_WAIT_SLICE_NS 200000000
/* Takes q out of the table (it was removed): later sysv_get open afresh. */
HIDDEN void sysv_forget(struct sysv_q *q);
/* Adds a queue this process just created (takes m, meta and traffic).
 * Returns 0 or -ENOMEM (then they are closed). */
HIDDEN int sysv_table_add(int32_t id, mbx *m, const struct sysv_meta *meta,
                          struct sysv_traffic *traffic);

/* qbytes.c: waits (unless nowait) until a message of len bytes fits under
 * the queue's msg_qbytes. Returns 0, -EAGAIN (nowait), -EINTR (a signal
 * handler ran), -EIDRM, or an error of mbx_stat_get. */
HIDDEN int sysv_room_wait(struct sysv_q *q, size_t len, int nowait);
/* Counts a message of len bytes sent, or received (waking senders waiting
 * for room). */
HIDDEN void sysv_count_sent(struct sysv_traffic *t, size_t len);
HIDDEN void sysv_count_received(struct sysv_traffic *t, size_t len);

/* Removes from the mailbox directory, the caller's files (all, for
 * root): the files of msgget calls killed before their state file (at
 * most 64 at a time); whole queues nothing reaches but their id (keyed
 * ones whose key's link names another queue or none, and ones marked
 * removed by an IPC_RMID that did not finish), once their creator is done
 * (at most 32 looked at); key links whose removal a killed process began
 * (16). */
HIDDEN void sysv_sweep_unfinished(void);

/* count.c: counts the queues of the mailbox directory, their messages and
 * bytes (each capped at INT32_MAX). Returns 0 or -errno of opendir. */
HIDDEN int sysv_count_queues(int *queues, int *messages, int *bytes);

/* queue.c: whole queues. */
/* Creates a queue for key (0: IPC_PRIVATE) with System V mode `mode` and
 * stores its id. Returns 0, -EEXIST (another process published key first),
 * -ENOSPC, -ENOMEM, or another -errno. */
HIDDEN int sysv_queue_create(int32_t key, uint32_t mode, int32_t *id);
/* Removes queue q (the caller is its owner, creator or root): marks it
 * removed, then removes the key, the traffic file, the mailbox (blocked
 * callers get -EIDRM) and the state file. A caller that does not own the
 * files (another user's, in a sticky directory) removes what it may: the
 * mark alone removes the queue for every call, blocked ones included
 * (within SYSV_WAIT_SLICE_NS), and leaves the rest to their owner's or
 * root's IPC_RMID of the id (sysv_queue_cleanup). Returns 0 or -errno
 * (-EPERM: the caller may not write the state file). */
HIDDEN int sysv_queue_remove(struct sysv_q *q);
/* IPC_RMID of an id no process can use (sysv_get said -EINVAL) whose
 * state file is still there: marked removed (by a process killed inside
 * IPC_RMID, by a remover who could not delete the files, or by the files'
 * owner behind the shim's back) or unreadable; or whose state file was
 * never made (a msgget killed after the traffic file). The files' owner
 * (or root) removes them: key, state and traffic files, mailbox. Returns
 * 0, -EINVAL (no such files of this id, or not the caller's), or -errno
 * of unlink. Files whose creator is alive (it holds the lock it took
 * with the traffic file until its state file is made) are left. */
HIDDEN int sysv_queue_cleanup(int32_t id);

#endif
