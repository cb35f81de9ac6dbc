/* The bridged mailboxes of a directory, for mbx ls (bridge_ls.h). The
 * directory may be shared and writable by everyone (/dev/shm), so the
 * files are read as untrusted: only regular files (a symlink to /dev/zero
 * or a FIFO planted under the name would make ls spin or block), owned by
 * the user the bridge process they name runs as and naming its start
 * time, at most 64 KiB of them,
 * lines of known words and bounded fields only, printed escaped (in JSON
 * too: json_put_text). */
#include "bridge_ls.h"

#include <ctype.h>
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
#include "json.h"

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

/* The start time of process pid (field 22 of /proc/PID/stat, clock ticks
 * after boot: no wall clock, which may be set) into *ticks. Returns 0, or
 * -1 when it cannot be read. */
static int proc_starttime(long pid, unsigned long long *ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* The name in parentheses may hold anything: fields follow the last ')'. */
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    return p && sscanf(p + 1, "%llu", ticks) == 1 ? 0 : -1;
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

/* One well-formed line of a live bridge's list: its fields as the file
 * has them (how and mode known words; name and subjects not checked
 * further, so escaped wherever they are shown). */
struct bridge_row {
    const char *how, *name, *subj, *mode;
    long pid;
};

typedef void row_fn(const struct bridge_row *r, void *arg);

/* 1 when the list is the running process's own: a bridge writes the
 * start time of its process first ("# started TICKS"), and a list whose
 * pid now runs another process (a killed bridge's, its pid reused, most
 * likely by a process of the same user) says another one. A list without
 * the line (a bridge of before it) is taken as its pid's, as then. */
static int list_is_current(long pid, const char *buf, size_t len)
{
    static const char tag[] = "# started ";
    unsigned long long said, now;
    if (len < sizeof(tag) - 1 || memcmp(buf, tag, sizeof(tag) - 1))
        return 1;
    char num[24];
    size_t n = 0;
    for (size_t i = sizeof(tag) - 1; i < len && buf[i] >= '0' && buf[i] <= '9' && n < 20; i++)
        num[n++] = buf[i];
    num[n] = '\0';
    if (!n || sscanf(num, "%llu", &said) != 1)
        return 0;
    return proc_starttime(pid, &now) == 0 && now == said;
}

/* Calls fn for each well-formed line of one list, in file order. */
static void list_rows(long pid, const char *buf, size_t len, row_fn *fn, void *arg)
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
        struct bridge_row r = {how, name, subj, mode, pid};
        fn(&r, arg);
    }
}

/* 1 for what follows the pid in a list's name: ".list", or ".XXXXXX.list"
 * (letters and digits: the bridge's list when the plain name was taken). */
static int list_suffix(const char *end)
{
    if (!strcmp(end, ".list"))
        return 1;
    if (end[0] != '.')
        return 0;
    for (int i = 1; i <= 6; i++)
        if (!isalnum((unsigned char)end[i]))
            return 0;
    return !strcmp(end + 7, ".list");
}

/* Calls fn for each well-formed line of each trusted list of a live
 * bridge in dir: the one reading of the directory both outputs share, so
 * that JSON leaves out exactly what the text does. */
static void bridge_rows(const char *dir, row_fn *fn, void *arg)
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
    while ((e = readdir(d))) {
        char *end;
        const char *digits = e->d_name + 12;
        if (strncmp(e->d_name, ".mbx-bridge.", 12) != 0 || *digits < '0' || *digits > '9')
            continue;
        errno = 0;
        long pid = strtol(digits, &end, 10);
        uid_t uid;
        /* A dead bridge's list (one it left when killed) is left out. */
        if (errno || pid <= 0 || pid > INT32_MAX || !list_suffix(end) || pid_uid(pid, &uid) != 0)
            continue;
        ssize_t len = list_read(dirfd(d), e->d_name, uid, buf);
        if (len > 0 && list_is_current(pid, buf, (size_t)len))
            list_rows(pid, buf, (size_t)len, fn, arg);
    }
    free(buf);
    closedir(d);
}

struct out {
    FILE *f;
    int shown; /* rows written so far */
};

/* A row of the text table, after the heading the first row brings. */
static void text_row(const struct bridge_row *r, void *arg)
{
    struct out *o = arg;
    FILE *out = o->f;
    const char *name = r->name, *subj = r->subj;
    if (!o->shown++)
        fprintf(out, "\nbridged to NATS (mbx bridge):\n%-24s %-7s %-10s %-8s %s\n", "name", "how",
                "mode", "pid", "subjects");
    /* name and subject are the file's: escaped (they are not known
     * words), the name padded to its column by hand. */
    for (size_t w = format_escaped(out, name, strlen(name)); w < 24; w++)
        putc(' ', out);
    fprintf(out, " %-7s %-10s %-8ld ", r->how, r->mode, r->pid);
    format_escaped(out, subj, strlen(subj));
    putc('\n', out);
}

/* A row as a JSON object. name and subjects go through json_put_text:
 * they may hold anything but blanks and NULs, bytes that are not UTF-8
 * included, and the JSON must stay valid and safe to show. */
static void json_row(const struct bridge_row *r, void *arg)
{
    struct out *o = arg;
    if (o->shown++)
        putc(',', o->f);
    fputs("{\"name\":", o->f);
    json_put_text(o->f, r->name, strlen(r->name));
    fprintf(o->f, ",\"how\":\"%s\",\"mode\":\"%s\",\"pid\":%ld,\"subjects\":", r->how, r->mode,
            r->pid);
    json_put_text(o->f, r->subj, strlen(r->subj));
    putc('}', o->f);
}

void bridge_ls_print(FILE *f, const char *dir)
{
    struct out o = {f, 0};
    bridge_rows(dir, text_row, &o);
}

void bridge_ls_json(FILE *f, const char *dir)
{
    struct out o = {f, 0};
    putc('[', f);
    bridge_rows(dir, json_row, &o);
    putc(']', f);
}
