/* Queue names to mailbox names and paths.
 *
 * A POSIX name may hold any byte but '/' and NUL; an mbx name only
 * [A-Za-z0-9._-]. Bytes outside [A-Za-z0-9.-] are written _XX (hex), '_'
 * included, so the mapping is one to one and `mbx ls` shows plain names
 * as they are ("/jobs" is mailbox "mq.jobs"). */
#include "mq_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
}

/* Writes the mailbox name of queue `name` into out. Returns 0, or the
 * errno Linux's mq_open gives for the name: EINVAL (no leading '/'),
 * ENOENT ("/" alone), EACCES (another '/', ".", ".."), ENAMETOOLONG (over
 * NAME_MAX, or an encoding over mbx's 200 bytes: a limit of the shim). */
int mq_name_encode(const char *name, char *out, size_t cap)
{
    if (!name || name[0] != '/')
        return EINVAL;
    const char *n = name + 1;
    size_t len = strlen(n);
    if (len > NAME_MAX)
        return ENAMETOOLONG;
    if (len == 0)
        return ENOENT;
    if (strchr(n, '/') || strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
        return EACCES;
    size_t o = 0;
    int w = snprintf(out, cap, "%s", MQ_PREFIX);
    if (w < 0 || (size_t)w >= cap)
        return ENAMETOOLONG;
    o = (size_t)w;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)n[i];
        if (plain(c)) {
            if (o + 1 >= cap || o + 1 > MQ_MBX_NAME_MAX)
                return ENAMETOOLONG;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= cap || o + 3 > MQ_MBX_NAME_MAX)
                return ENAMETOOLONG;
            snprintf(out + o, 4, "_%02x", c);
            o += 3;
        }
    }
    out[o] = '\0';
    return 0;
}

/* The directory mbx keeps unqualified names in, as mbx.h says: $MBX_DIR,
 * else /dev/shm. Returns 0 or ENAMETOOLONG. */
int mq_dir(char *out, size_t cap)
{
    const char *d = getenv("MBX_DIR");
    if (!d || !*d)
        d = "/dev/shm";
    int w = snprintf(out, cap, "%s", d);
    return w < 0 || (size_t)w >= cap ? ENAMETOOLONG : 0;
}

/* The side file of mailbox mbxname: a dot file, so mbx ls leaves it out.
 * Returns 0 or ENAMETOOLONG. */
int mq_side_path(const char *dir, const char *mbxname, char *out, size_t cap)
{
    int w = snprintf(out, cap, "%s/.mq-side.%s", dir, mbxname);
    return w < 0 || (size_t)w >= cap ? ENAMETOOLONG : 0;
}

/* The file of mailbox mbxname, as mbx.h defines it. Returns 0 or
 * ENAMETOOLONG. */
int mq_mbx_path(const char *dir, const char *mbxname, char *out, size_t cap)
{
    int w = snprintf(out, cap, "%s/mbx.%s", dir, mbxname);
    return w < 0 || (size_t)w >= cap ? ENAMETOOLONG : 0;
}

/* The named pipe of mailbox mbxname (ready.c): a dot file. Returns 0 or
 * ENAMETOOLONG. */
int mq_fifo_path(const char *dir, const char *mbxname, char *out, size_t cap)
{
    int w = snprintf(out, cap, "%s/.mq-fifo.%s", dir, mbxname);
    return w < 0 || (size_t)w >= cap ? ENAMETOOLONG : 0;
}

/* Whether s (from a side file: untrusted) is a name mq_unlink makes:
 * MQ_GONE_PREFIX and 16 hex digits, NUL-terminated within cap. Returns 1
 * or 0. */
int mq_gone_name_ok(const char *s, size_t cap)
{
    size_t plen = strlen(MQ_GONE_PREFIX);
    if (!memchr(s, '\0', cap) || strncmp(s, MQ_GONE_PREFIX, plen) != 0 || strlen(s) != plen + 16)
        return 0;
    for (const char *c = s + plen; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return 0;
    return 1;
}

/* Renames from to to, unless to exists: an unlinker's moves of a queue's
 * files to their mq-gone name, made by whoever gets there first (the
 * unlinker, a creator finding the old side file, an opener finishing a
 * dead unlinker's work), must never move a file another queue put under
 * the name since, over one already moved. Falls back to a plain rename on
 * a file system without RENAME_NOREPLACE. Returns 0, or -1 with errno
 * (EEXIST: to exists, nothing moved). */
int mq_move(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    return rename(from, to);
}
