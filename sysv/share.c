/* IPC_SET's change to who may open a queue's files: their mode and owner,
 * and POSIX ACL entries for the System V owner and creator and their
 * groups. The state file lets the owner's side write and the others read
 * at most; the traffic file and the mailbox let everyone the mode names
 * read and write. */
#include <endian.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "internal.h"

/* Whether the file of fd (opened O_PATH) is one of queue id's page files
 * of that magic, by its contents: magic, version and id, read through a
 * descriptor of its own (the caller owns the file, or is root). */
static int is_page_of(int fd, uint32_t magic, int32_t id)
{
    char proc[40];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    int rd = open(proc, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (rd < 0)
        return 0;
    uint32_t head[3];
    int ok = pread(rd, head, sizeof(head), 0) == (ssize_t)sizeof(head) && head[0] == magic &&
             head[1] == SYSV_META_VERSION && (int32_t)head[2] == id;
    close(rd);
    return ok;
}

/* Opens the file at path for a change of its mode or owner only if it is a
 * regular file of the queue: the owner of a queue may replace its files
 * with a symbolic link or a hard link to any file while another process
 * (root, say) is between IPC_STAT and IPC_SET, and a change by name would
 * then change that file. The name is opened without following a link
 * (O_PATH needs no permission to read, so a mode of 0 can be changed
 * again) and checked; the change goes through the descriptor. A file of
 * more than one name is the queue's only when its contents say so (magic
 * not 0: a page file of that magic and id): any user who may write a
 * queue's file may link it elsewhere, and a file left out kept a former
 * owner's ACL entry (found by a review); a mailbox (magic 0) must have
 * one name. Returns the descriptor, with its stat in *out, or a -errno
 * (-EUCLEAN: not such a file). */
static int open_queue_file(const char *path, uint32_t magic, int32_t id, struct stat *out)
{
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = fd;
    if (fstat(fd, &st) < 0)
        rc = -errno;
    else if (!S_ISREG(st.st_mode) ||
             (st.st_nlink != 1 && (magic == 0 || !is_page_of(fd, magic, id))))
        rc = -EUCLEAN;
    if (rc < 0)
        close(fd);
    else
        *out = st;
    return rc;
}

/* POSIX ACLs as the kernel takes them (system.posix_acl_access, little
 * endian): a version, then entries of tag, permission and id, sorted by
 * tag and id. */
#define ACL_XATTR "system.posix_acl_access"
#define ACL_NO_ID 0xffffffffu
enum {
    TAG_USER_OBJ = 0x01,
    TAG_USER = 0x02,
    TAG_GROUP_OBJ = 0x04,
    TAG_GROUP = 0x08,
    TAG_MASK = 0x10,
    TAG_OTHER = 0x20
};

struct acl {
    unsigned n;
    unsigned char bytes[4 + 8 * 8];
};

static void acl_put(struct acl *a, uint16_t tag, uint16_t perm, uint32_t id)
{
    unsigned char *p = a->bytes + 4 + 8 * a->n++;
    uint16_t t = htole16(tag), r = htole16(perm);
    uint32_t i = htole32(id);
    memcpy(p, &t, 2);
    memcpy(p + 2, &r, 2);
    memcpy(p + 4, &i, 4);
}

/* Named entries for x and y, sorted, one for both when they are equal,
 * none for the file's own owner or group. */
static void acl_named(struct acl *a, uint16_t tag, uint16_t perm, uint32_t x, uint32_t y,
                      uint32_t own)
{
    uint32_t lo = x < y ? x : y, hi = x < y ? y : x;
    if (lo != own)
        acl_put(a, tag, perm, lo);
    if (hi != lo && hi != own)
        acl_put(a, tag, perm, hi);
}

/* Who a queue's files let in: System V's owner and creator (the owner's
 * class), their groups (the group's class), others by the mode. fmode is
 * the file mode of the file at hand (sysv_file_mode or, for the state
 * file, sysv_meta_file_mode of the System V mode). */
struct sharing {
    uint32_t uid, gid, cuid, cgid, was, was_gid;
    mode_t fmode;
};

/* Gives the file (proc: its /proc/self/fd name) the file mode sh->fmode,
 * and ACL entries for the System V owner and creator the file's owner is
 * not (read-write, as the file's owner) and for their groups the file's
 * group is not (the group's right in fmode): the kernel gives
 * the owner's rights to both, the group's to both groups. With no such
 * user a plain chmod, and any ACL removed. On a file system without ACLs,
 * the chmod and -EOPNOTSUPP. */
static int set_access(const char *proc, const struct stat *st, const struct sharing *sh)
{
    mode_t f = sh->fmode;
    uint16_t g = (f >> 3) & 7, o = f & 7;
    struct acl a = {0};
    acl_put(&a, TAG_USER_OBJ, 6, ACL_NO_ID);
    acl_named(&a, TAG_USER, 6, sh->uid, sh->cuid, st->st_uid);
    acl_put(&a, TAG_GROUP_OBJ, g, ACL_NO_ID);
    acl_named(&a, TAG_GROUP, g, sh->gid, sh->cgid, st->st_gid);
    if (a.n == 2) {
        if (removexattr(proc, ACL_XATTR) < 0 && errno != ENODATA && errno != EOPNOTSUPP)
            return -errno;
        return chmod(proc, f) < 0 ? -errno : 0;
    }
    acl_put(&a, TAG_MASK, 6, ACL_NO_ID);
    acl_put(&a, TAG_OTHER, o, ACL_NO_ID);
    uint32_t version = htole32(2);
    memcpy(a.bytes, &version, 4);
    if (setxattr(proc, ACL_XATTR, a.bytes, 4 + 8 * (size_t)a.n, 0) == 0)
        return 0; /* the file's mode follows the ACL */
    int rc = -errno;
    if (chmod(proc, f) < 0 && rc != -EOPNOTSUPP)
        rc = -errno;
    return rc;
}

/* IPC_SET's change to one of the queue's files. A file owned by the
 * creator or the owner before (was) is given to the owner and group this
 * IPC_SET changed (root: CAP_CHOWN), or to the new group alone (its
 * owner, a member), then its access set (set_access; only its owner or
 * root may). An owner or group left as it was is not given the files: a
 * value written into the state file behind the shim's back (by its owner's
 * side, or by a version-1 library, which let every user of the queue
 * write it) gets them only when an IPC_SET names it anew. A file
 * of anyone else (put in the queue's place by its owner) only gets the
 * mode, as before. */
static int share_queue_file(const char *path, uint32_t magic, int32_t id, const struct sharing *sh)
{
    struct stat st;
    int fd = open_queue_file(path, magic, id, &st);
    if (fd < 0)
        return fd;
    char proc[40];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    int rc;
    if (st.st_uid != sh->cuid && st.st_uid != sh->was) {
        rc = chmod(proc, sh->fmode) < 0 ? -errno : 0;
    } else {
        uid_t uid = sh->uid != sh->was && sh->uid != st.st_uid ? sh->uid : (uid_t)-1;
        gid_t gid = sh->gid != sh->was_gid && sh->gid != st.st_gid ? sh->gid : (gid_t)-1;
        if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
            fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0 && uid != (uid_t)-1 && gid != (gid_t)-1)
            (void)fchownat(fd, "", (uid_t)-1, gid, AT_EMPTY_PATH); /* the group alone */
        rc = fstat(fd, &st) < 0 ? -errno : set_access(proc, &st, sh);
    }
    close(fd);
    return rc;
}

int sysv_files_share(int32_t id, const struct sysv_meta *m, uint32_t was, uint32_t was_gid)
{
    uint32_t mode = atomic_load((_Atomic uint32_t *)&m->mode);
    struct sharing sh = {
        .uid = atomic_load((_Atomic uint32_t *)&m->uid),
        .gid = atomic_load((_Atomic uint32_t *)&m->gid),
        .cuid = m->cuid,
        .cgid = m->cgid,
        .was = was,
        .was_gid = was_gid,
        .fmode = sysv_meta_file_mode(mode),
    };
    char path[4200], tail[24];
    int rc = sysv_page_path(path, sizeof(path), SYSV_META_PREFIX, id);
    if (rc == 0)
        rc = share_queue_file(path, SYSV_META_MAGIC, id, &sh);
    sh.fmode = sysv_file_mode(mode);
    int r2 = sysv_page_path(path, sizeof(path), SYSV_TRAFFIC_PREFIX, id);
    if (r2 == 0)
        r2 = share_queue_file(path, SYSV_TRAFFIC_MAGIC, id, &sh);
    snprintf(tail, sizeof(tail), SYSV_BOX_PREFIX "%d", (int)id);
    int r3 = sysv_path(path, sizeof(path), "mbx.", tail);
    if (r3 == 0)
        r3 = share_queue_file(path, 0, id, &sh);
    return rc ? rc : r2 ? r2 : r3;
}
