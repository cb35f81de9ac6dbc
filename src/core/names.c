#include "core/names.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_PREFIX "mbx."

static int valid_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* "@PID": a process's own mailbox; PID is a positive decimal without sign. */
static int valid_pid_name(const char *name, size_t len)
{
    if (len < 2 || len > 11 || name[1] == '0')
        return 0;
    for (size_t i = 1; i < len; i++)
        if (name[i] < '0' || name[i] > '9')
            return 0;
    return strtoll(name + 1, NULL, 10) <= 0x7fffffff;
}

int name_check(const char *name)
{
    if (!name)
        return -EINVAL;
    if (strncmp(name, "tcp://", 6) == 0)
        return -EPROTONOSUPPORT;
    size_t len = strnlen(name, NAME_MAX_LEN + 1);
    if (len == 0)
        return -EINVAL;
    if (len > NAME_MAX_LEN)
        return -ENAMETOOLONG;
    if (name[0] == '@')
        return valid_pid_name(name, len) ? 0 : -EINVAL;
    if (name[0] == '.')
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if (!valid_char(name[i]))
            return -EINVAL;
    return 0;
}

const char *name_dir(void)
{
    const char *d = getenv("MBX_DIR");
    return (d && *d) ? d : "/dev/shm";
}

int name_path(const char *name, char *path, size_t cap)
{
    int n = snprintf(path, cap, "%s/" FILE_PREFIX "%s", name_dir(), name);
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
