#include "core/names.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

pid_t name_pid(const char *name)
{
    if (!name || name[0] != '@' || name_check(name) != 0)
        return 0;
    return (pid_t)strtol(name + 1, NULL, 10);
}
