/* mbx serve --listen-udp ADDR:PORT: a UDP gateway that delivers udp://
 * datagrams into this host's mailboxes until interrupted. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mbx.h"

#define MAX_ALLOW 64

static const struct option options[] = {
    {"listen-udp", required_argument, NULL, 'u'},
    {"allow", required_argument, NULL, 'a'},
    {"secret-file", required_argument, NULL, 's'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Prints the gateway's counts on one line of standard output. */
static void print_stats(const mbx_udp_gateway *g)
{
    mbx_udp_gateway_stats st = {.size = sizeof(st)};
    if (mbx_udp_gateway_stats_get(g, &st))
        return;
    printf("udp: received %llu, delivered %llu, probes %llu, dropped: full %llu, bad %llu, "
           "missing %llu, kernel %llu\n",
           (unsigned long long)st.received, (unsigned long long)st.delivered,
           (unsigned long long)st.probes, (unsigned long long)st.dropped_full,
           (unsigned long long)st.dropped_bad, (unsigned long long)st.dropped_missing,
           (unsigned long long)st.dropped_kernel);
    fflush(stdout);
}

int serve_udp(const struct cli_cmd *self, int argc, char **argv)
{
    const char *cmd = self->name, *addr = NULL;
    const char *allow[MAX_ALLOW + 1] = {NULL};
    int nallow = 0, c, err;
    mbx_gateway_options o;
    mbx_gateway_options_init(&o);
    optind = 0;
    while ((c = getopt_long(argc, argv, ":u:a:s:h", options, NULL)) != -1) {
        switch (c) {
        case 'u':
            addr = optarg;
            break;
        case 'a':
            if (nallow == MAX_ALLOW)
                return cli_usage(cmd, "at most %d --allow patterns", MAX_ALLOW);
            allow[nallow++] = optarg;
            break;
        case 's':
            o.secret_file = optarg;
            break;
        case 'h':
            return cli_help(self);
        default:
            return cli_bad_option(cmd, c, argv);
        }
    }
    if (optind != argc)
        return cli_usage(cmd, "--listen-udp takes no mailbox NAME: say which with --allow");
    if (!nallow)
        return cli_usage(cmd, "say which mailboxes to export: --allow NAME (a pattern; '*': all)");
    o.allow = allow;
    cli_catch_signals();
    /* SIGUSR1: the counts so far; SIGINT, SIGTERM: the counts, then stop.
     * Blocked before the gateway's thread starts, so that it inherits
     * the mask and sigwait below takes them all. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGUSR1);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    mbx_udp_gateway *g;
    err = mbx_udp_gateway_start(addr, &o, &g);
    if (err) {
        if (err == -EACCES)
            fprintf(stderr,
                    "mbx: %s: the secret file %s must be yours and readable by you alone "
                    "(chmod 600)\n",
                    cmd, o.secret_file ? o.secret_file : "($MBX_SECRET_FILE or ~/.mbx-secret)");
        else if (err == -EINVAL)
            fprintf(stderr, "mbx: %s: --listen-udp %s: expected HOST:PORT or [V6]:PORT\n", cmd,
                    addr);
        else
            fprintf(stderr, "mbx: %s: --listen-udp %s: %s\n", cmd, addr, mbx_strerror(err));
        return cli_status(err);
    }
    /* The port line is for scripts that asked for port 0. */
    char host[256];
    snprintf(host, sizeof(host), "%s", addr);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = 0;
    printf("listening on udp %s:%d\n", host, mbx_udp_gateway_port(g));
    fflush(stdout);
    int sig;
    do {
        sigwait(&stop, &sig);
        print_stats(g);
    } while (sig == SIGUSR1);
    mbx_udp_gateway_stop(g);
    return CLI_OK;
}
