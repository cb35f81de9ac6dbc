/* Rows whose mechanism names a library to preload (mech->preload): LD_PRELOAD
 * works at exec, and the measuring children are forked, so the row is
 * measured by a copy of this program executed with LD_PRELOAD set (and
 * --internal-row): its processes, and only they, run with the library. The
 * copy measures the row, fan-in included, and writes it to a file the
 * parent reads back. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "run.h"

#define SEC ((int64_t)1000000000)

int run_preloaded(struct results *res, struct row *row)
{
    const struct mech *m = row->mech;
    if (access(m->preload, R_OK) < 0) {
        row->na = true;
        snprintf(row->note, sizeof(row->note), "cannot preload %s: %s", m->preload,
                 strerror(errno));
        return 0;
    }
    char out[PATH_MAX], self[64];
    snprintf(out, sizeof(out), "%s/row.bin", res->plan.dir);
    snprintf(self, sizeof(self), "/proc/%ld/exe", (long)getpid());
    char *argv[] = {self,
                    (char *)(strcmp(res->mode, "full") == 0 ? "--full" : "--quick"),
                    "--internal-row",
                    (char *)m->name,
                    out,
                    res->plan.pin ? "--pin" : NULL,
                    NULL};
    /* Set around the fork only: the environment the copy starts with. */
    setenv("LD_PRELOAD", m->preload, 1);
    struct procs ps = {0};
    int rc = procs_exec(&ps, argv, false);
    unsetenv("LD_PRELOAD");
    if (rc == 0)
        rc = procs_wait(&ps, now_ns() + 600 * SEC);
    if (rc == -EINTR)
        return rc;
    struct row got;
    int fd = rc == 0 ? open(out, O_RDONLY | O_CLOEXEC) : -1;
    ssize_t n = fd >= 0 ? read(fd, &got, sizeof(got)) : -1;
    if (fd >= 0)
        close(fd);
    unlink(out);
    if (n != (ssize_t)sizeof(got)) {
        row->na = true;
        snprintf(row->note, sizeof(row->note), "the preloaded run failed (%s)",
                 rc < 0 ? strerror(-rc) : "no result");
        return 0;
    }
    got.mech = m; /* the copy's pointer means nothing here */
    *row = got;
    return 0;
}

int preloaded_child_write(const struct row *row, const char *out)
{
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, row, sizeof(*row));
    close(fd);
    return n == (ssize_t)sizeof(*row) ? 0 : -EIO;
}
