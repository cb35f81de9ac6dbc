/* mbx serve --listen ADDR:PORT: a gateway that exports this host's
 * mailboxes to tcp:// clients until interrupted. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mbx.h"
#include "parse.h"

#define MAX_ALLOW 64

static const struct option options[] = {
    {"listen", required_argument, NULL, 'l'},
    {"allow", required_argument, NULL, 'a'},
    {"secret-file", required_argument, NULL, 's'},
    {"linger", required_argument, NULL, 'L'},
    {"max-sessions", required_argument, NULL, 'M'},
    {"tls-cert", required_argument, NULL, 'C'},
    {"tls-key", required_argument, NULL, 'K'},
    {"tls-ca", required_argument, NULL, 'A'},
    {"no-secret", no_argument, NULL, 'N'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int serve_listen(const struct cli_cmd *self, int argc, char **argv)
{
    const char *cmd = self->name, *addr = NULL;
    const char *allow[MAX_ALLOW + 1] = {NULL};
    int nallow = 0, c, err;
    mbx_gateway_options o;
    mbx_gateway_options_init(&o);
    optind = 0;
    while ((c = getopt_long(argc, argv, ":l:a:s:L:M:C:K:A:Nh", options, NULL)) != -1) {
        switch (c) {
        case 'l':
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
        case 'L': {
            int64_t ns;
            err = parse_duration(optarg, &ns);
            if (err || ns <= 0 || ns / 1000000 > UINT32_MAX)
                return cli_bad_value(cmd, "--linger", optarg, err ? err : -ERANGE);
            o.linger_ms = (uint32_t)(ns / 1000000 ? ns / 1000000 : 1);
            break;
        }
        case 'M': {
            uint64_t n;
            err = parse_uint(optarg, 1, 1000000, &n);
            if (err)
                return cli_bad_value(cmd, "--max-sessions", optarg, err);
            o.sessions_max = (uint32_t)n;
            break;
        }
        case 'C':
            o.tls_cert = optarg;
            break;
        case 'K':
            o.tls_key = optarg;
            break;
        case 'A':
            o.tls_client_ca = optarg;
            break;
        case 'N':
            o.flags |= MBX_GATEWAY_NO_SECRET;
            break;
        case 'h':
            return cli_help(self);
        default:
            return cli_bad_option(cmd, c, argv);
        }
    }
    if (optind != argc)
        return cli_usage(cmd, "--listen takes no mailbox NAME: say which with --allow");
    if (!nallow)
        return cli_usage(cmd, "say which mailboxes to export: --allow NAME (a pattern; '*': all)");
    if (!o.tls_cert != !o.tls_key)
        return cli_usage(cmd, "TLS needs both --tls-cert and --tls-key");
    if (o.tls_client_ca && !o.tls_cert)
        return cli_usage(cmd, "--tls-ca (client certificates) needs --tls-cert and --tls-key");
    if ((o.flags & MBX_GATEWAY_NO_SECRET) && !o.tls_client_ca)
        return cli_usage(cmd, "--no-secret needs --tls-ca: clients must prove something");
    o.allow = allow;
    cli_catch_signals();
    mbx_gateway *g;
    err = mbx_gateway_start(addr, &o, &g);
    if (err) {
        if (err == -EACCES)
            fprintf(stderr,
                    "mbx: %s: the secret file %s must be yours and readable by you alone "
                    "(chmod 600)\n",
                    cmd, o.secret_file ? o.secret_file : "($MBX_SECRET_FILE or ~/.mbx-secret)");
        else if ((err == -EINVAL || err == -ENOENT || err == -EACCES) && o.tls_cert)
            fprintf(stderr,
                    "mbx: %s: --listen %s: %s (--tls-cert, --tls-key and --tls-ca: readable PEM "
                    "files, the key the certificate's; or --listen: HOST:PORT)\n",
                    cmd, addr, mbx_strerror(err));
        else if (err == -EINVAL)
            fprintf(stderr, "mbx: %s: --listen %s: expected HOST:PORT or [V6]:PORT\n", cmd, addr);
        else
            fprintf(stderr, "mbx: %s: --listen %s: %s\n", cmd, addr, mbx_strerror(err));
        return cli_status(err);
    }
    /* The port line is for scripts that asked for port 0. */
    char host[256];
    snprintf(host, sizeof(host), "%s", addr);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = 0;
    printf("listening on %s:%d\n", host, mbx_gateway_port(g));
    fflush(stdout);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    int sig;
    sigwait(&stop, &sig);
    if (mbx_gateway_stop(g) == -ETIMEDOUT) {
        fprintf(stderr, "mbx: serve: a message held for a client could not go back to its full "
                        "mailbox within 10 s and is lost\n");
        return CLI_FAILED;
    }
    return CLI_OK;
}
