/* The bridged mailboxes of a directory, for mbx ls (bridge_ls.h). The
 * directory may be shared and writable by everyone (/dev/shm), so the
 * files are read as untrusted: only regular files (a symlink to /dev/zero
 * or a FIFO planted under the name would make ls spin or block), owned by
 * the user the bridge process they name runs as, at most 64 KiB of them,
 * lines of known words and bounded fields only, printed escaped. */
#include "bridge_ls.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "format.h"

#define LIST_MAX      65536 /* bytes read of one list file; a real one is far smaller */
#define LIST_LINE_MAX 1400  /* longer than any line a bridge writes */

/* The uid live process pid creates files as (its filesystem uid, the
 * fourth of the "Uid:" line of /proc/PID/status): 0, or -1 when there is
 * no such process (or /proc does not show it: those are left out). */
static int pid_uid(long pid, uid_t *uid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int found = 0;
    while (!found && fgets(line, sizeof(line), f)) {
        unsigned long r, e, s, fs;
        found = sscanf(line, "Uid: %lu %lu %lu %lu", &r, &e, &s, &fs) == 4;
        if (found)
            *uid = (uid_t)fs;
    }
    fclose(f);
    return found ? 0 : -1;
}

/* Reads at most LIST_MAX bytes of list file name in directory dfd into
 * buf. Returns how many, or -1 when the file is not one to trust.
 * O_NOFOLLOW and the regular-file check keep out symlinks (to /dev/zero),
 * FIFOs (O_NONBLOCK: opening one does not wait for a writer) and devices.
 * The owner must be the user the bridge pid runs as, as it is for a file
 * the bridge wrote: the directory is shared, and a list another user
 * planted under a live pid of someone else (pid 1, a bridge of the
 * reader's own) would pass for that process's. Neither the reader nor
 * root gets an exception: a bridge of another user in the same directory
 * is listed, one that claims somebody else's pid is not. A user can still
 * list made-up lines under a pid of their own, but that is no more than
 * running a bridge, and they are shown escaped. */
static ssize_t list_read(int dfd, const char *name, uid_t uid, char *buf)
{
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    size_t got = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != uid) {
        close(fd);
        return -1;
    }
    while (got < LIST_MAX) {
        ssize_t n = read(fd, buf + got, LIST_MAX - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return (ssize_t)got;
}

/* Prints the well-formed lines of one list; returns how many rows are
 * shown so far (shown: before it). */
static int list_print(FILE *out, long pid, const char *buf, size_t len, int shown)
{
    const char *p = buf, *end = buf + len, *nl;
    /* Only whole lines: a bridge ends each with a newline, and one cut
     * by the LIST_MAX cap is left out. */
    for (; (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
        char line[LIST_LINE_MAX + 1];
        size_t n = (size_t)(nl - p);
        /* A NUL would end the line early for sscanf. */
        if (n > LIST_LINE_MAX || memchr(p, '\0', n))
            continue;
        memcpy(line, p, n);
        line[n] = '\0';
        char how[8], name[256], subj[1100], mode[12];
        if (sscanf(line, "%7s %255s %1099s %11s", how, name, subj, mode) != 4 ||
            (strcmp(how, "export") && strcmp(how, "import")) ||
            (strcmp(mode, "core") && strcmp(mode, "jetstream")))
            continue;
        if (!shown++)
            fprintf(out, "\nbridged to NATS (mbx bridge):\n%-24s %-7s %-10s %-8s %s\n", "name",
                    "how", "mode", "pid", "subjects");
        /* name and subject are the file's: escaped (they are not known
         * words), the name padded to its column by hand. */
        for (size_t w = format_escaped(out, name, strlen(name)); w < 24; w++)
            putc(' ', out);
        fprintf(out, " %-7s %-10s %-8ld ", how, mode, pid);
        format_escaped(out, subj, strlen(subj));
        putc('\n', out);
    }
    return shown;
}

void bridge_ls_print(FILE *out, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char *buf = malloc(LIST_MAX);
    if (!buf) {
        closedir(d);
        return;
    }
    struct dirent *e;
    int shown = 0;
    while ((e = readdir(d))) {
        char *end;
        const char *digits = e->d_name + 12;
        if (strncmp(e->d_name, ".mbx-bridge.", 12) != 0 || *digits < '0' || *digits > '9')
            continue;
        errno = 0;
        long pid = strtol(digits, &end, 10);
        uid_t uid;
        /* A dead bridge's list (one it left when killed) is left out. */
        if (errno || pid <= 0 || pid > INT32_MAX || strcmp(end, ".list") != 0 ||
            pid_uid(pid, &uid) != 0)
            continue;
        ssize_t len = list_read(dirfd(d), e->d_name, uid, buf);
        if (len > 0)
            shown = list_print(out, pid, buf, (size_t)len, shown);
    }
    free(buf);
    closedir(d);
}
