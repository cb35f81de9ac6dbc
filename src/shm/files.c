/* Where the mailboxes of local names live: $MBX_DIR/mbx.NAME. */
#include "shm/files.h"

#include "core/names.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_PREFIX "mbx."

const char *name_dir(void)
{
    const char *d = getenv("MBX_DIR");
    return (d && *d) ? d : "/dev/shm";
}

int name_path(const char *name, char *path, size_t cap)
{
    size_t d = name_dir_len(name);
    int n = d ? snprintf(path, cap, "%.*s/" FILE_PREFIX "%s", (int)d, name, name + d + 1)
              : snprintf(path, cap, "%s/" FILE_PREFIX "%s", name_dir(), name);
    return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

int name_from_file(const char *file, const char **name)
{
    size_t plen = sizeof(FILE_PREFIX) - 1;
    if (strncmp(file, FILE_PREFIX, plen) != 0 || name_check(file + plen) != 0)
        return 0;
    *name = file + plen;
    return 1;
}

char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = 0;
    }
    return d;
}
