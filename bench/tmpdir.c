#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tmpdir.h"

int tmpdir_make(char *out, size_t outlen)
{
    const char *tmp = getenv("TMPDIR");
    const char *bases[] = {"/dev/shm", tmp && *tmp ? tmp : "/tmp", "/tmp"};
    int err = ENOENT;
    for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
        snprintf(out, outlen, "%s/mbx-bench.XXXXXX", bases[i]);
        if (mkdtemp(out))
            return 0;
        err = errno;
    }
    out[0] = '\0';
    return -err;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

void tmpdir_remove(const char *path)
{
    if (path && path[0])
        nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
