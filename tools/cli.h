/* What the commands of the mbx tool share: the command table, exit
 * statuses and the one-line error reports. */
#ifndef MBX_TOOLS_CLI_H
#define MBX_TOOLS_CLI_H

#include <signal.h>

#include "mbx.h"

enum cli_status {
    CLI_OK = 0,      /* success */
    CLI_FAILED = 1,  /* an operation failed */
    CLI_USAGE = 2,   /* bad command line */
    CLI_TIMEOUT = 3, /* timed out, or nothing to receive */
};

struct cli_cmd {
    const char *name;
    const char *summary; /* one line for `mbx help` */
    const char *usage;   /* the text of `mbx help NAME` and `mbx NAME --help` */
    /* argv[0] is the command's name; returns an enum cli_status. */
    int (*run)(const struct cli_cmd *self, int argc, char **argv);
};

extern const struct cli_cmd cmd_create, cmd_send, cmd_recv, cmd_ls, cmd_stat, cmd_top, cmd_rm,
    cmd_dump, cmd_load, cmd_call, cmd_serve, cmd_serve_echo, cmd_bridge, cmd_help;

/* NULL-terminated, in the order `mbx help` lists them. */
extern const struct cli_cmd *const cli_commands[];

/* mbx serve --listen: a tcp:// gateway until interrupted (cmd_serve_listen.c).
 * Returns the exit status. */
int serve_listen(const struct cli_cmd *self, int argc, char **argv);

/* mbx serve --listen-udp: a udp:// gateway until interrupted
 * (cmd_serve_udp.c). Returns the exit status. */
int serve_udp(const struct cli_cmd *self, int argc, char **argv);

/* The command called `name`, or NULL. */
const struct cli_cmd *cli_find(const char *name);

/* Prints "mbx: CMD: NAME: <mbx_strerror(err)>" (without "NAME: " when name
 * is NULL) and returns the exit status for err. Says instead when the
 * mailbox's directory does not exist or the name is not a valid one. */
int cli_error(const char *cmd, const char *name, int err);

/* Opens mailbox name with mbx_open(flags, attr); on failure reports it as
 * cli_error does, saying when the file belongs to another user that
 * --shared would use it, and returns the exit status (0 on success). */
int cli_open(const char *cmd, const char *name, int flags, const mbx_attr *attr, mbx **m);

/* The exit status for a negative errno from the library. */
int cli_status(int err);

/* Prints "mbx: CMD: <message>" and a hint to `mbx help CMD`; returns
 * CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reports what getopt_long returned for a bad option (':' or '?'); returns
 * CLI_USAGE. The option string must start with ':'. */
int cli_bad_option(const char *cmd, int opt, char **argv);

/* Reports a value the parsers of parse.h rejected with err; returns
 * CLI_USAGE. */
int cli_bad_value(const char *cmd, const char *option, const char *value, int err);

/* Prints the command's usage on standard output; returns CLI_OK. */
int cli_help(const struct cli_cmd *c);

/* Makes SIGINT and SIGTERM set cli_interrupted instead of ending the
 * process. They are blocked except while cli_wait_readable waits, so one
 * that comes at any moment ends the wait: none is lost between a look and
 * the sleep (a receive blocked in the library would only see a signal
 * that came during its system call). */
void cli_catch_signals(void);
extern volatile sig_atomic_t cli_interrupted;

/* Waits until descriptor fd is readable or the absolute CLOCK_MONOTONIC
 * deadline (ns; -1: none) passes. Returns 1 (readable), 0 (time is up), or
 * -EINTR (SIGINT or SIGTERM came, now or before). */
int cli_wait_readable(int fd, int64_t deadline);

/* Answers request *info with len bytes at reply for serve and serve-echo
 * (cmd_serve.c), sending it again, up to 10 times in all, while it says
 * -EAGAIN (the caller's mailbox full: about a second; or its lock held:
 * at once). Returns -ENOMEM, -EMFILE or -ENFILE (the server's
 * own want, which stops serving), else 0: the reply went, or cannot go
 * for a reason of the caller's (reported on standard error under cmd and
 * name). */
int serve_reply(const char *cmd, const char *name, const mbx_msginfo *info, const void *reply,
                size_t len);

#endif
