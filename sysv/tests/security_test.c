/* libmbx-sysv against a peer who may write the queue's directory or its
 * files: a name swapped for a link while the owner changes the mode, a key
 * link planted to point at another queue, a state file's msg_qbytes
 * scribbled out of range, a user of the queue who would write its state
 * file. Each failed before its fix. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <dirent.h>
#include <grp.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mbx-sysv.h"
#include "sysv_format.h"
#include "test_util.h"

static void path_of(char *buf, size_t cap, const char *prefix, int id)
{
    snprintf(buf, cap, "%s/%s%d", test_dir, prefix, id);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* The queue's owner swaps its traffic file for a symbolic link, then for
 * a hard link, to a file of the victim's (0600), between the victim's
 * IPC_STAT and IPC_SET: the mode the victim sets must not land on that
 * file. The victim here runs as the same user; as root it would be any
 * file of the machine. (The traffic file, not the state file: IPC_SET
 * maps the state file first, and stops at a link there before any
 * change.) */
static void ipc_set_never_follows_a_planted_link(void **state)
{
    (void)state;
    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    assert_true(id >= 0);
    struct msqid_ds ds;
    assert_int_equal(msgctl(id, IPC_STAT, &ds), 0); /* the victim has the queue open */
    char target[sizeof(test_dir) + 32], meta[sizeof(test_dir) + 32];
    snprintf(target, sizeof(target), "%s/precious", test_dir);
    int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(chmod(target, 0600), 0);
    path_of(meta, sizeof(meta), SYSV_TRAFFIC_PREFIX, id);
    char saved[sizeof(meta) + 8];
    snprintf(saved, sizeof(saved), "%s.kept", meta);
    assert_int_equal(rename(meta, saved), 0);
    for (int hard = 0; hard < 2; hard++) {
        assert_int_equal(hard ? link(target, meta) : symlink(target, meta), 0);
        ds.msg_perm.mode = 0666;
        (void)msgctl(id, IPC_SET, &ds); /* the state in memory changes; the file may not */
        assert_int_equal(mode_of(target), 0600);
        assert_int_equal(unlink(meta), 0);
    }
    assert_int_equal(rename(saved, meta), 0);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    unlink(target);
}

/* Another user plants the link of key K to a queue made for another key
 * (here IPC_PRIVATE): msgget(K) must not hand the program that queue. */
static void planted_key_link_leads_nowhere(void **state)
{
    (void)state;
    int priv = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    assert_true(priv >= 0);
    key_t key = 0x5a17e;
    char link_path[sizeof(test_dir) + 64], id_text[16];
    snprintf(link_path, sizeof(link_path), "%s/%s%08x", test_dir, SYSV_KEY_PREFIX, (unsigned)key);
    snprintf(id_text, sizeof(id_text), "%d", priv);
    assert_int_equal(symlink(id_text, link_path), 0);
    errno = 0;
    assert_int_equal(msgget(key, 0600), -1); /* no queue of that key */
    assert_int_equal(errno, ENOENT);
    int made = msgget(key, IPC_CREAT | 0600); /* the planted link is ours: replaced */
    assert_true(made >= 0);
    assert_int_not_equal(made, priv);
    struct msqid_ds ds;
    assert_int_equal(msgctl(made, IPC_STAT, &ds), 0);
    assert_int_equal(ds.msg_perm.__key, key);
    assert_int_equal(msgctl(made, IPC_RMID, NULL), 0);
    assert_int_equal(msgctl(priv, IPC_RMID, NULL), 0);
}

/* Queue id's state file, mapped writable as its owner (the files' owner)
 * may map it behind the shim's back. */
static struct sysv_meta *map_meta(int id)
{
    char meta[sizeof(test_dir) + 32];
    path_of(meta, sizeof(meta), SYSV_META_PREFIX, id);
    int fd = open(meta, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    struct sysv_meta *m = mmap(NULL, SYSV_META_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(m != MAP_FAILED);
    close(fd);
    return m;
}

/* The files' owner (or a library of format 1, whose state file every user
 * of the queue could write) puts a msg_qbytes above the shim's limit into
 * the state file: IPC_STAT never hands it out, so the owner's IPC_STAT,
 * IPC_SET round trip still works. */
static void scribbled_qbytes_is_clamped(void **state)
{
    (void)state;
    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    assert_true(id >= 0);
    struct sysv_meta *m = map_meta(id);
    struct msqid_ds ds;
    assert_int_equal(msgctl(id, IPC_STAT, &ds), 0); /* opened before the scribble */
    __atomic_store_n(&m->qbytes, (uint64_t)SYSV_MSGMNB * 4, __ATOMIC_RELAXED);
    assert_int_equal(msgctl(id, IPC_STAT, &ds), 0);
    assert_true(ds.msg_qbytes <= SYSV_MSGMNB);
    assert_int_equal(msgctl(id, IPC_SET, &ds), 0);
    munmap(m, SYSV_META_SIZE);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
}

/* A queue marked removed with its files still there (a process killed
 * inside IPC_RMID; here the test writes the mark). The queue's owner must
 * still be able to remove it: IPC_RMID removes its files (it said EINVAL
 * and left them), and says EINVAL once they are gone. */
static void owner_removes_a_queue_marked_removed(void **state)
{
    (void)state;
    key_t key = 0x5a17f;
    int id = msgget(key, IPC_CREAT | 0644);
    assert_true(id >= 0);
    struct sysv_meta *m = map_meta(id);
    __atomic_store_n(&m->removed, 1, __ATOMIC_RELAXED);
    munmap(m, SYSV_META_SIZE);
    assert_int_equal(test_dir_count(), 4); /* mailbox, state and traffic files, key link */
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    assert_int_equal(test_dir_count(), 0);
    errno = 0;
    assert_int_equal(msgctl(id, IPC_RMID, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(msgget(key, 0), -1);
    assert_int_equal(errno, ENOENT);
}

/* Another uid is written into the state file behind the shim's back (by a
 * library of format 1, which let every user of the queue write it); the
 * owner, seeing it in IPC_STAT, changes only the mode: the files must not
 * go to that uid. (As root, the only caller whose IPC_SET can give files
 * away.) */
static void scribbled_uid_is_not_given_the_files(void **state)
{
    (void)state;
    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0644);
    assert_true(id >= 0);
    struct sysv_meta *m = map_meta(id);
    uid_t me = geteuid();
    __atomic_store_n(&m->uid, me + 4242, __ATOMIC_RELAXED);
    munmap(m, SYSV_META_SIZE);
    struct msqid_ds ds;
    assert_int_equal(msgctl(id, IPC_STAT, &ds), 0);
    ds.msg_perm.mode = 0600;
    assert_int_equal(msgctl(id, IPC_SET, &ds), 0);
    char meta[sizeof(test_dir) + 32];
    path_of(meta, sizeof(meta), SYSV_META_PREFIX, id);
    struct stat st;
    assert_int_equal(stat(meta, &st), 0);
    assert_int_equal(st.st_uid, me);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
}

/* As another user (nobody), against root's queue id of mode 0666: may
 * send and see itself as the last sender, may not open the state file
 * for writing, nor IPC_SET or IPC_RMID. Returns 0, or the number of the
 * first check that failed. */
static int user_of_the_queue(int id)
{
    if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
        return 100;
    char meta[sizeof(test_dir) + 32];
    path_of(meta, sizeof(meta), SYSV_META_PREFIX, id);
    int fd = open(meta, O_RDWR | O_CLOEXEC);
    if (fd >= 0 || errno != EACCES)
        return 1;
    struct {
        long type;
        char text[4];
    } msg = {7, "abc"};
    if (msgsnd(id, &msg, 3, IPC_NOWAIT) != 0)
        return 2;
    struct msqid_ds ds;
    if (msgctl(id, IPC_STAT, &ds) != 0 || ds.msg_lspid != getpid() || ds.msg_qnum != 1)
        return 3;
    ds.msg_perm.uid = getuid();
    if (msgctl(id, IPC_SET, &ds) != -1 || errno != EPERM)
        return 4;
    if (msgctl(id, IPC_RMID, NULL) != -1 || errno != EPERM)
        return 5;
    return 0;
}

/* A user who may send to and receive from a queue may not write its
 * state file (it could: the file was read-write for every user of the
 * queue), so no program, with this library or without, can make itself
 * the owner, give itself any mode or mark the queue removed; what it
 * sends is still counted (in the traffic file). Root only: the child
 * becomes another user. */
static void user_of_a_queue_cannot_write_its_state(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* needs another user */
    assert_int_equal(chmod(test_dir, 01777), 0);
    int id = msgget(IPC_PRIVATE, IPC_CREAT | 0666);
    assert_true(id >= 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(user_of_the_queue(id));
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    struct {
        long type;
        char text[4];
    } msg;
    assert_int_equal(msgrcv(id, &msg, sizeof(msg.text), 0, IPC_NOWAIT), 3);
    assert_int_equal(msg.type, 7);
    struct msqid_ds ds;
    assert_int_equal(msgctl(id, IPC_STAT, &ds), 0);
    assert_int_equal(ds.msg_perm.uid, 0);
    assert_int_equal(ds.msg_perm.mode & 0777, 0666);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
}

/* Users without names: A creates, B is made the owner, C a third. */
#define SEC_A 61021
#define SEC_B 61022
#define SEC_C 61023

/* In a child as uid (its own group): runs fn(arg). Returns its exit
 * status, or -1 when it did not exit. */
static int as_user(uid_t uid, int (*fn)(int), int arg)
{
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
            _exit(100);
        _exit(fn(arg));
    }
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int set_owner(int id, uid_t uid, unsigned mode)
{
    struct msqid_ds ds;
    if (msgctl(id, IPC_STAT, &ds) != 0)
        return -1;
    ds.msg_perm.uid = uid;
    ds.msg_perm.mode = (unsigned short)mode;
    return msgctl(id, IPC_SET, &ds);
}

/* As A: a queue of mode 0600 given to B (through ACL entries: A owns its
 * files). Returns its id + 0 as the exit status is too small: the id is
 * passed through a file instead (written by A). */
static int a_makes_and_gives_to_b(int key)
{
    int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0)
        return 1;
    return set_owner(id, SEC_B, 0600) == 0 ? 0 : 2;
}

/* As B, made the owner by A: may change the mode (its ACL entry on the
 * state file), may not name another owner (it could not give C the
 * files: C would have no way in; the kernel allows it). */
static int b_gives_to_c(int key)
{
    int id = msgget(key, 0);
    if (id < 0)
        return 1;
    if (set_owner(id, SEC_B, 0640) != 0)
        return 2;
    if (set_owner(id, SEC_C, 0640) != -1 || errno != EPERM)
        return 3;
    struct msqid_ds ds;
    if (msgctl(id, IPC_STAT, &ds) != 0 || ds.msg_perm.uid != SEC_B)
        return 4;
    return 0;
}

/* As B: links the state file under another name (its ACL entry lets it),
 * so that a change by name would skip the file. */
static int b_links_the_state_file(int id)
{
    char meta[sizeof(test_dir) + 32], other[sizeof(test_dir) + 48];
    path_of(meta, sizeof(meta), SYSV_META_PREFIX, id);
    snprintf(other, sizeof(other), "%s/kept-by-b", test_dir);
    return link(meta, other) == 0 ? 0 : 1;
}

static int a_takes_it_back(int key)
{
    int id = msgget(key, 0);
    return id >= 0 && set_owner(id, SEC_A, 0600) == 0 ? 0 : 1;
}

/* As B, no longer the owner: may not write the state file. */
static int b_cannot_write(int id)
{
    char meta[sizeof(test_dir) + 32];
    path_of(meta, sizeof(meta), SYSV_META_PREFIX, id);
    int fd = open(meta, O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        return 1;
    }
    return errno == EACCES ? 0 : 2;
}

/* Root only (other users). An owner named by another owner (not the
 * files' owner) is refused (EPERM): it could not get in, and IPC_SET
 * said 0. A former owner who linked the state file under another name
 * keeps no write access once the files' owner takes the queue back: the
 * file of two names was skipped, so its ACL entry stayed, and B could
 * write itself back as the owner (found by a review). */
static void former_owners_keep_nothing(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* needs other users */
    assert_int_equal(chmod(test_dir, 01777), 0);
    key_t key = 0x5a181;
    assert_int_equal(as_user(SEC_A, a_makes_and_gives_to_b, (int)key), 0);
    int id = msgget(key, 0);
    assert_true(id >= 0);
    assert_int_equal(as_user(SEC_B, b_gives_to_c, (int)key), 0);
    assert_int_equal(as_user(SEC_B, b_links_the_state_file, id), 0);
    assert_int_equal(as_user(SEC_A, a_takes_it_back, (int)key), 0);
    assert_int_equal(as_user(SEC_B, b_cannot_write, id), 0);
    char other[sizeof(test_dir) + 48];
    snprintf(other, sizeof(other), "%s/kept-by-b", test_dir);
    assert_int_equal(unlink(other), 0);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
}

/* As A: makes key's queue, mode 0600. */
static int a_makes(int key)
{
    return msgget(key, IPC_CREAT | IPC_EXCL | 0600) >= 0 ? 0 : 1;
}

static int removes(int id)
{
    return msgctl(id, IPC_RMID, NULL) == 0 ? 0 : 1;
}

/* The queues MSG_INFO counts in the test's directory. */
static int queues_counted(void)
{
    struct msginfo mi;
    memset(&mi, 0, sizeof(mi));
    assert_int_equal(msgctl(0, MSG_INFO, (struct msqid_ds *)(void *)&mi), 0);
    return mi.msgpool;
}

/* Root only (other users). The queue's creator or owner who does not own
 * its files removes it (it said EPERM; the kernel lets both): root gave
 * A's queue to B (B's files), or A named B the owner (A's files). The
 * queue is gone (not counted, its key free), and the other user's files,
 * which a sticky directory does not let the remover delete, stay for
 * their owner's IPC_RMID of the id. */
static void removed_by_another_user_than_the_files_owner(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* needs other users */
    assert_int_equal(chmod(test_dir, 01777), 0);
    key_t key = 0x5a183;
    assert_int_equal(as_user(SEC_A, a_makes, (int)key), 0);
    int id = msgget(key, 0);
    assert_true(id >= 0);
    assert_int_equal(set_owner(id, SEC_B, 0600), 0);
    assert_int_equal(queues_counted(), 1);
    /* A sender blocked on the full mailbox (256 messages, far below
     * msg_qbytes) must be woken: A cannot remove B's mailbox, whose
     * removal would wake it. */
    struct {
        long type;
        char text[1];
    } msg = {1, {'x'}};
    int sent = 0;
    while (msgsnd(id, &msg, 1, IPC_NOWAIT) == 0)
        sent++;
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(sent, 256);
    pid_t sender = fork();
    assert_true(sender >= 0);
    if (sender == 0)
        _exit(msgsnd(id, &msg, 1, 0) == -1 ? errno : 0);
    for (int i = 0; i < 20000 && test_proc_state(sender) != 'S'; i++)
        usleep(1000); /* until it blocks */
    assert_int_equal(as_user(SEC_A, removes, id), 0);
    int st;
    pid_t got = 0;
    for (int i = 0; i < 2000 && (got = waitpid(sender, &st, WNOHANG)) == 0; i++)
        usleep(10000);
    if (got != sender) {
        kill(sender, SIGKILL);
        waitpid(sender, &st, 0);
        fail_msg("the sender blocked in the removed queue was not woken in 20 s");
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), EIDRM);
    assert_int_equal(test_dir_count(), 3); /* B's mailbox, state and traffic files */
    assert_int_equal(queues_counted(), 0);
    errno = 0;
    assert_int_equal(msgget(key, 0), -1); /* A removed its key link */
    assert_int_equal(errno, ENOENT);
    assert_int_equal(as_user(SEC_B, removes, id), 0);
    assert_int_equal(test_dir_count(), 0);

    key = 0x5a184;
    assert_int_equal(as_user(SEC_A, a_makes_and_gives_to_b, (int)key), 0);
    id = msgget(key, 0);
    assert_true(id >= 0);
    assert_int_equal(as_user(SEC_B, removes, id), 0);
    assert_int_equal(test_dir_count(), 4); /* and A's key link, which names nothing */
    assert_int_equal(queues_counted(), 0);
    errno = 0;
    assert_int_equal(msgget(key, 0), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(as_user(SEC_A, removes, id), 0);
    assert_int_equal(test_dir_count(), 0);
}

/* As the victim: removes key's queue, which must take its key's link
 * with it, then makes the key's queue again. Returns 0, or the number of
 * the step that failed (4: EAGAIN, 5: EACCES). */
static int removes_and_makes_again(int key)
{
    int id = msgget(key, 0);
    if (id < 0)
        return 1;
    if (msgctl(id, IPC_RMID, NULL) != 0)
        return 2;
    char link[sizeof(test_dir) + 64];
    snprintf(link, sizeof(link), "%s/%s%08x", test_dir, SYSV_KEY_PREFIX, (unsigned)key);
    struct stat st;
    if (lstat(link, &st) == 0)
        return 3; /* IPC_RMID left the key's link */
    int again = msgget(key, IPC_CREAT | 0600);
    if (again < 0)
        return errno == EAGAIN ? 4 : errno == EACCES ? 5 : 6;
    return msgctl(again, IPC_RMID, NULL) == 0 ? 0 : 7;
}

/* Plants, as user SEC_C, a removal file of key's link to id under each
 * name a remover of user uid may use (the link's own, and with the
 * remover's uid), of mode `mode`; when `lock`, holds an exclusive flock
 * on each (fds[0..1], else -1) as SEC_C would, for good. */
static void plant_removal_files(int key, int id, uid_t uid, mode_t mode, int lock, int fds[2])
{
    char path[sizeof(test_dir) + 64];
    for (int i = 0; i < 2; i++) {
        if (i == 0)
            snprintf(path, sizeof(path), "%s/%s%08x.%d", test_dir, SYSV_KEYRM_PREFIX, (unsigned)key,
                     id);
        else
            snprintf(path, sizeof(path), "%s/%s%08x.%d.%u", test_dir, SYSV_KEYRM_PREFIX,
                     (unsigned)key, id, (unsigned)uid);
        int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(fchown(fd, SEC_C, SEC_C), 0);
        assert_int_equal(fchmod(fd, mode), 0);
        if (lock)
            assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
        else
            close(fd);
        fds[i] = lock ? fd : -1;
    }
}

/* Removes the files plant_removal_files made. */
static void unplant_removal_files(int fds[2])
{
    DIR *d = opendir(test_dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, SYSV_KEYRM_PREFIX, strlen(SYSV_KEYRM_PREFIX)) == 0)
            assert_int_equal(unlinkat(dirfd(d), e->d_name, 0), 0);
    closedir(d);
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* Root only (other users). In a shared sticky folder another user (SEC_C)
 * plants the removal file of the victim's key link (its id is the link's
 * target), holding a lock on it, or of mode 000: the victim's IPC_RMID
 * must still remove its key's link, and its next msgget(IPC_CREAT) of the
 * key make a queue. IPC_RMID left the link (the lock: -EBUSY, ignored),
 * and every msgget(IPC_CREAT) of the key then waited 4 s and said EAGAIN
 * (the lock) or EACCES (mode 000: the open refused), for good. For a
 * victim of another user and for root. */
static void planted_removal_file_does_not_keep_the_key(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("skipped: needs root, to run as other users\n");
        skip();
    }
    assert_int_equal(chmod(test_dir, 01777), 0);
    struct {
        uid_t victim;
        mode_t mode;
        int lock;
    } cases[] = {{SEC_A, 0644, 1}, {SEC_A, 0, 0}, {0, 0644, 1}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        key_t key = 0x5a185 + (key_t)c;
        if (cases[c].victim)
            assert_int_equal(as_user(cases[c].victim, a_makes, (int)key), 0);
        else
            assert_int_equal(a_makes((int)key), 0);
        int id = msgget(key, 0);
        assert_true(id >= 0);
        int fds[2];
        plant_removal_files(key, id, cases[c].victim, cases[c].mode, cases[c].lock, fds);
        int rc = cases[c].victim ? as_user(cases[c].victim, removes_and_makes_again, (int)key)
                                 : removes_and_makes_again((int)key);
        print_message("case %zu (victim uid %u, mode %03o%s): %d\n", c, (unsigned)cases[c].victim,
                      (unsigned)cases[c].mode, cases[c].lock ? ", locked" : "", rc);
        unplant_removal_files(fds);
        assert_int_equal(rc, 0);
        assert_int_equal(test_dir_count(), 0);
    }
}

/* A queue made by a child that has exited (so this process's table of
 * open queues does not hold it): its id. */
static int queue_made_elsewhere(int mode)
{
    int pp[2];
    assert_int_equal(pipe(pp), 0);
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        int id = msgget(IPC_PRIVATE, IPC_CREAT | mode);
        _exit(write(pp[1], &id, sizeof(id)) == (ssize_t)sizeof(id) ? 0 : 1);
    }
    int id = -1, st;
    assert_int_equal(read(pp[0], &id, sizeof(id)), (ssize_t)sizeof(id));
    assert_int_equal(waitpid(c, &st, 0), c);
    close(pp[0]), close(pp[1]);
    assert_true(id >= 0);
    return id;
}

/* A queue of the library's first format (one state file, version 1,
 * which this one does not read): the files' owner's IPC_RMID removes it
 * (it said EINVAL, and its files held the key for good). */
static void first_format_queue_is_removed(void **state)
{
    (void)state;
    int id = queue_made_elsewhere(0600);
    key_t key = 0x5a182;
    char traffic[sizeof(test_dir) + 32], link_path[sizeof(test_dir) + 64], id_text[16];
    path_of(traffic, sizeof(traffic), SYSV_TRAFFIC_PREFIX, id);
    /* Made first format: version 1 and the key, no traffic file. */
    struct sysv_meta *m = map_meta(id);
    __atomic_store_n(&m->version, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&m->key, (int32_t)key, __ATOMIC_RELAXED);
    munmap(m, SYSV_META_SIZE);
    assert_int_equal(unlink(traffic), 0);
    snprintf(link_path, sizeof(link_path), "%s/%s%08x", test_dir, SYSV_KEY_PREFIX, (unsigned)key);
    snprintf(id_text, sizeof(id_text), "%d", id);
    assert_int_equal(symlink(id_text, link_path), 0);
    struct {
        long type;
        char text[1];
    } msg = {1, {0}};
    errno = 0;
    assert_int_equal(msgsnd(id, &msg, 1, IPC_NOWAIT), -1); /* none this library can use */
    assert_int_equal(errno, EINVAL);
    assert_int_equal(test_dir_count(), 3); /* mailbox, state file, key link */
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    assert_int_equal(test_dir_count(), 0);
}

/* A msgget killed after it made the mailbox and the traffic file, before
 * the state file (made here by removing a queue's state file): a later
 * msgget makes its queue as ever, another user's IPC_RMID of
 * that id changes nothing, and the files' owner's removes them (it said
 * EINVAL and left them for good: nothing else names them). */
static void creation_killed_before_the_state_file(void **state)
{
    (void)state;
    int id = queue_made_elsewhere(0600);
    char meta[sizeof(test_dir) + 32];
    path_of(meta, sizeof(meta), SYSV_META_PREFIX, id);
    assert_int_equal(unlink(meta), 0);
    assert_int_equal(test_dir_count(), 2);            /* the mailbox and the traffic file */
    int made = msgget(IPC_PRIVATE, IPC_CREAT | 0600); /* a keyed one would sweep them */
    assert_true(made >= 0);
    assert_int_not_equal(made, id);
    struct {
        long type;
        char text[4];
    } msg = {4, "abc"};
    assert_int_equal(msgsnd(made, &msg, 3, IPC_NOWAIT), 0);
    assert_int_equal(msgrcv(made, &msg, sizeof(msg.text), 0, IPC_NOWAIT), 3);
    assert_int_equal(msgctl(made, IPC_RMID, NULL), 0);
    assert_int_equal(test_dir_count(), 2);
    errno = 0;
    assert_int_equal(msgsnd(id, &msg, 3, IPC_NOWAIT), -1); /* no queue */
    assert_int_equal(errno, EINVAL);
    if (geteuid() == 0) {
        assert_int_equal(chmod(test_dir, 01777), 0);
        assert_int_equal(as_user(SEC_A, removes, id), 1); /* not A's files */
        assert_int_equal(test_dir_count(), 2);
    }
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    assert_int_equal(test_dir_count(), 0);
    errno = 0;
    assert_int_equal(msgctl(id, IPC_RMID, NULL), -1);
    assert_int_equal(errno, EINVAL);
}

/* A user of the queue resizes its traffic file (it may write it): the
 * queue stays usable, for a process that opens it afresh too (every call
 * said EINVAL, the owner's too; found by a review). */
static void resized_traffic_file_leaves_the_queue_working(void **state)
{
    (void)state;
    int id = queue_made_elsewhere(0600);
    char traffic[sizeof(test_dir) + 32];
    path_of(traffic, sizeof(traffic), SYSV_TRAFFIC_PREFIX, id);
    assert_int_equal(truncate(traffic, 2 * SYSV_META_SIZE), 0);
    struct {
        long type;
        char text[4];
    } msg = {5, "abc"};
    assert_int_equal(msgsnd(id, &msg, 3, IPC_NOWAIT), 0);
    struct msqid_ds ds;
    assert_int_equal(msgctl(id, IPC_STAT, &ds), 0);
    assert_int_equal(ds.msg_qnum, 1);
    assert_int_equal(msgrcv(id, &msg, sizeof(msg.text), 0, IPC_NOWAIT), 3);
    assert_int_equal(msg.type, 5);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    assert_int_equal(test_dir_count(), 0);
}

/* The test's own open stands for a msgget stalled or killed between its
 * traffic file and its state file: at the state file's creation it calls
 * hook (once), then opens as asked. */
static void (*volatile hook)(int id); /* volatile: msgget is a leaf to the compiler */

int open(const char *path, int flags, ...);
int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    char meta[sizeof(test_dir) + 32];
    snprintf(meta, sizeof(meta), "%s/%s", test_dir, SYSV_META_PREFIX);
    size_t n = strlen(meta);
    if (hook && (flags & O_CREAT) && strncmp(path, meta, n) == 0 && path[n] >= '1' &&
        path[n] <= '9') {
        void (*h)(int) = hook;
        hook = NULL;
        h(atoi(path + n));
    }
    return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

static volatile int stalled_rmid = 2, stalled_errno, stalled_count;

/* The owner's IPC_RMID of the id of a msgget still making it. */
static void rmid_while_making(int id)
{
    errno = 0;
    stalled_rmid = msgctl(id, IPC_RMID, NULL);
    stalled_errno = errno;
    stalled_count = test_dir_count();
}

/* A msgget that is slow (not killed) between its traffic file and its
 * state file: its owner's IPC_RMID of the id (which removes the files of
 * a msgget killed there) must leave them (it removed the mailbox and the
 * traffic file, and msgget returned a queue without them). */
static void slow_creator_keeps_its_files(void **state)
{
    (void)state;
    hook = rmid_while_making;
    int id = msgget(0x5a186, IPC_CREAT | 0600);
    hook = NULL;
    assert_true(id >= 0);
    assert_int_equal(stalled_rmid, -1);
    assert_int_equal(stalled_errno, EINVAL);
    assert_int_equal(stalled_count, 2);    /* the traffic file and the mailbox */
    assert_int_equal(test_dir_count(), 4); /* and the state file, the key link */
    struct {
        long type;
        char text[4];
    } msg = {6, "abc"};
    assert_int_equal(msgsnd(id, &msg, 3, IPC_NOWAIT), 0);
    assert_int_equal(msgrcv(id, &msg, sizeof(msg.text), 0, IPC_NOWAIT), 3);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    assert_int_equal(test_dir_count(), 0);
}

static int heir_pipe[2];
/* The heir writes a byte here once fork returned in it: its fork
 * handlers, which close its copy of the creation lock, have run. */
static int heir_ready[2];

/* A msgget killed before its state file, after another thread forked a
 * child that lives on (here the killed thread itself forks: the same
 * descriptors go to the child). */
static void fork_then_die(int id)
{
    (void)id;
    pid_t heir = fork();
    if (heir == 0) {
        char c = 'r';
        close(heir_pipe[1]);
        if (write(heir_ready[1], &c, 1) != 1)
            _exit(1);
        _exit(read(heir_pipe[0], &c, 1) < 0 ? 1 : 0); /* lives until the test ends */
    }
    raise(SIGKILL);
}

/* The files of a msgget killed before its state file (nothing names
 * them: msgget returned no id) are removed by the next msgget that makes
 * a queue of a key, in another process, even while a child the killed
 * process forked meanwhile lives on. They stayed until an IPC_RMID of an
 * id nobody knew. */
static void killed_creation_is_swept_by_the_next_msgget(void **state)
{
    (void)state;
    assert_int_equal(pipe(heir_pipe), 0);
    assert_int_equal(pipe(heir_ready), 0);
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        hook = fork_then_die;
        msgget(0x5a187, IPC_CREAT | 0600);
        _exit(3);
    }
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFSIGNALED(st));
    /* Until the heir ran, its copy of the lock held the files (it ran
     * after the next msgget once, under load). */
    char ready;
    assert_int_equal(read(heir_ready[0], &ready, 1), 1);
    close(heir_ready[0]);
    close(heir_ready[1]);
    assert_int_equal(test_dir_count(), 2); /* the mailbox and the traffic file */
    c = fork();
    assert_true(c >= 0);
    if (c == 0)
        _exit(msgget(0x5a188, IPC_CREAT | 0600) >= 0 ? 0 : 1);
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int left = test_dir_count();
    close(heir_pipe[1]); /* the heir exits */
    close(heir_pipe[0]);
    int id = msgget(0x5a188, 0);
    assert_true(id >= 0);
    assert_int_equal(msgctl(id, IPC_RMID, NULL), 0);
    assert_int_equal(left, 4); /* the new queue's alone */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ipc_set_never_follows_a_planted_link, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(planted_key_link_leads_nowhere, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(scribbled_qbytes_is_clamped, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(owner_removes_a_queue_marked_removed, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(scribbled_uid_is_not_given_the_files, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(user_of_a_queue_cannot_write_its_state, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(former_owners_keep_nothing, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(removed_by_another_user_than_the_files_owner,
                                        test_dir_setup, test_dir_teardown),
        cmocka_unit_test_setup_teardown(planted_removal_file_does_not_keep_the_key, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(first_format_queue_is_removed, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(creation_killed_before_the_state_file, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(resized_traffic_file_leaves_the_queue_working,
                                        test_dir_setup, test_dir_teardown),
        cmocka_unit_test_setup_teardown(slow_creator_keeps_its_files, test_dir_setup,
                                        test_dir_teardown),
        cmocka_unit_test_setup_teardown(killed_creation_is_swept_by_the_next_msgget, test_dir_setup,
                                        test_dir_teardown),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
