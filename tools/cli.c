#include "cli.h"
#include "format.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mbx.h"

int cli_status(int err)
{
    return err == -ETIMEDOUT || err == -EAGAIN ? CLI_TIMEOUT : CLI_FAILED;
}

/* The directory mailbox `name` would be in: its own (/DIR/NAME), none for
 * "@PID", else $MBX_DIR or /dev/shm. Returns the length written, 0 when
 * there is none. */
static size_t dir_of(const char *name, char *dir, size_t cap)
{
    const char *d;
    size_t n;

    if (name[0] == '@')
        return 0;
    if (name[0] == '/') {
        d = name;
        n = (size_t)(strrchr(name, '/') - name);
        if (n == 0)
            n = 1;
    } else {
        d = getenv("MBX_DIR");
        if (!d || !*d)
            d = "/dev/shm";
        n = strlen(d);
    }
    if (n >= cap)
        return 0;
    memcpy(dir, d, n);
    dir[n] = '\0';
    return n;
}

int cli_error(const char *cmd, const char *name, int err)
{
    char dir[4096];
    struct stat st;
    mbx_stat ms;

    if (!name) {
        fprintf(stderr, "mbx: %s: %s\n", cmd, mbx_strerror(err));
        return cli_status(err);
    }
    /* "No such mailbox" when the directory itself is missing would send
     * the user looking for the wrong thing. */
    /* The name escaped: an invalid one may hold anything, from a script
     * that passed on what others wrote. */
    fprintf(stderr, "mbx: %s: ", cmd);
    format_escaped(stderr, name, strlen(name));
    if (err == -ENOENT && dir_of(name, dir, sizeof(dir)) && stat(dir, &st) != 0) {
        fputs(": directory ", stderr);
        format_escaped(stderr, dir, strlen(dir));
        fprintf(stderr, " does not exist%s\n", name[0] == '/' ? "" : " ($MBX_DIR)");
        return CLI_FAILED;
    }
    if (err == -ENOTDIR ||
        ((err == -EINVAL || err == -ENAMETOOLONG) && mbx_stat_name(name, &ms) == err)) {
        fputs(": invalid name (1-200 of A-Za-z0-9._- not starting with '.', @PID, or "
              "/DIR/NAME)\n",
              stderr);
        return CLI_FAILED;
    }
    fprintf(stderr, ": %s\n", mbx_strerror(err));
    return cli_status(err);
}

int cli_open(const char *cmd, const char *name, int flags, const mbx_attr *attr, mbx **m)
{
    int err = mbx_open(name, flags, attr, m);
    mbx_stat st;
    if (!err)
        return CLI_OK;
    if (err == -EACCES && !(flags & MBX_SHARED) && mbx_stat_name(name, &st) == 0 &&
        st.uid != (uint32_t)geteuid() && st.uid != 0) {
        fprintf(stderr, "mbx: %s: %s: %s: the file belongs to uid %u (--shared uses it anyway)\n",
                cmd, name, mbx_strerror(err), st.uid);
        return CLI_FAILED;
    }
    return cli_error(cmd, name, err);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "mbx: %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'mbx help %s'.\n", cmd);
    return CLI_USAGE;
}

int cli_bad_option(const char *cmd, int opt, char **argv)
{
    const char *arg = argv[optind - 1];

    if (opt == ':')
        return cli_usage(cmd, "option '%s' needs a value", arg);
    if (optopt && strncmp(arg, "--", 2) != 0)
        return cli_usage(cmd, "unknown option '-%c'", optopt);
    return cli_usage(cmd, "unknown option '%s'", arg);
}

int cli_bad_value(const char *cmd, const char *option, const char *value, int err)
{
    return cli_usage(cmd, "%s: %s '%s'", option, err == -ERANGE ? "out of range" : "invalid value",
                     value);
}

int cli_help(const struct cli_cmd *c)
{
    fputs(c->usage, stdout);
    return CLI_OK;
}
