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

/* A short name of len bytes. */
static int short_check(const char *name, size_t len)
{
    if (len == 0 || name[0] == '.')
        return -EINVAL;
    if (len > NAME_MAX_LEN)
        return -ENAMETOOLONG;
    for (size_t i = 0; i < len; i++)
        if (!valid_char(name[i]))
            return -EINVAL;
    return 0;
}

/* "/DIR/NAME": each directory component of name characters, not empty,
 * "." or ".." (the file is exactly where the name says); not the root. */
static int path_check(const char *name, size_t len)
{
    const char *last = strrchr(name, '/');
    if (last == name)
        return -EINVAL;
    for (const char *c = name + 1; c <= last;) {
        const char *end = memchr(c, '/', (size_t)(last - c) + 1);
        size_t n = (size_t)(end - c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return -EINVAL;
        for (size_t k = 0; k < n; k++)
            if (!valid_char(c[k]))
                return -EINVAL;
        c = end + 1;
    }
    return short_check(last + 1, len - (size_t)(last + 1 - name));
}

int name_check(const char *name)
{
    if (!name)
        return -EINVAL;
    size_t len = strnlen(name, NAME_FULL_MAX + 1);
    if (len == 0)
        return -EINVAL;
    if (len > NAME_FULL_MAX)
        return -ENAMETOOLONG;
    if (name[0] == '@')
        return valid_pid_name(name, len) ? 0 : -EINVAL;
    if (name[0] == '/')
        return path_check(name, len);
    return short_check(name, len);
}

size_t name_dir_len(const char *name)
{
    const char *last = name && name[0] == '/' ? strrchr(name, '/') : NULL;
    return last ? (size_t)(last - name) : 0;
}

pid_t name_pid(const char *name)
{
    if (!name || name[0] != '@' || name_check(name) != 0)
        return 0;
    return (pid_t)strtol(name + 1, NULL, 10);
}
