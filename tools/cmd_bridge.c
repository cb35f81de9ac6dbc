/* mbx bridge: this host's mailboxes on a NATS server or cluster, until
 * interrupted (mbx_bridge_start). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mbx.h"
#include "parse.h"

#define MAX_NAMES 64

static const char usage[] =
    "usage: mbx bridge --server nats://HOST:PORT[,...] [--export NAME]... [--import NAME]...\n"
    "                  [--jetstream [--replicas N]] [OPTION...]\n"
    "Bridge this host's mailboxes to a NATS server or cluster, until interrupted.\n"
    "What is sent to an exported mailbox is published to its subject,\n"
    "PREFIX.pB.NAME (B: priority band, 0: priority 0, 1: 1-15, 2: 16-255, 3: 256+);\n"
    "what arrives on an imported mailbox's subjects is delivered into it, the\n"
    "highest band first and no faster than it has room. A request (mbx call) to\n"
    "an exported mailbox goes to PREFIX.c.NAME and is answered by a bridge that\n"
    "imports NAME (nobody: the call fails, no such file or directory). Bridges\n"
    "importing the same NAME share its messages (a queue group: NATS picks one\n"
    "at random for each). Mailboxes are created when missing. Prints one line\n"
    "once connected, and what it did when it stops.\n"
    "\n"
    "  -s, --server URLS       nats:// (or tls://) URLs, comma-separated (required)\n"
    "  -e, --export NAME       publish what mailbox NAME receives\n"
    "  -i, --import NAME       deliver NAME's subject into mailbox NAME\n"
    "  -J, --jetstream         durable: through JetStream work-queue streams,\n"
    "                          delivered exactly once across a kill -9 of a bridge\n"
    "                          or a server restart (core NATS: at most once)\n"
    "  -R, --replicas N        JetStream: copies of each stream (default 1)\n"
    "  -P, --prefix PREFIX     first tokens of every subject (default mbx)\n"
    "  -H, --host-id ID        this machine in @PID subjects (default: machine id)\n"
    "  -u, --user USER         user name (with --password)\n"
    "  -p, --password PASS     password (visible to ps: prefer --creds or a token\n"
    "                          in $MBX_NATS_TOKEN)\n"
    "  -T, --token TOKEN       authentication token (default $MBX_NATS_TOKEN)\n"
    "  -c, --creds FILE        a .creds file (user JWT and NKey seed)\n"
    "  -k, --nkey PUBKEY       NKey public key, with --nkey-seed FILE\n"
    "  -K, --nkey-seed FILE    the file holding the NKey seed\n"
    "  -A, --tls-ca FILE       CA certificates (PEM): TLS required\n"
    "  -C, --tls-cert FILE     client certificate chain (PEM), with --tls-key\n"
    "  -Y, --tls-key FILE      client private key (PEM)\n"
    "  -n, --pending COUNT     core NATS: messages held for a full mailbox before\n"
    "                          the client drops (default 65536)\n"
    "  -t, --call-timeout DURATION  how long a bridged request waits (default 5s)\n"
    "  -w, --ack-wait DURATION  JetStream: how long a fetched message is kept from\n"
    "                          others before the stream sends it again (default 30s)\n"
    "  -h, --help              show this help\n";

static const struct option options[] = {
    {"server", required_argument, NULL, 's'},
    {"export", required_argument, NULL, 'e'},
    {"import", required_argument, NULL, 'i'},
    {"jetstream", no_argument, NULL, 'J'},
    {"replicas", required_argument, NULL, 'R'},
    {"prefix", required_argument, NULL, 'P'},
    {"host-id", required_argument, NULL, 'H'},
    {"user", required_argument, NULL, 'u'},
    {"password", required_argument, NULL, 'p'},
    {"token", required_argument, NULL, 'T'},
    {"creds", required_argument, NULL, 'c'},
    {"nkey", required_argument, NULL, 'k'},
    {"nkey-seed", required_argument, NULL, 'K'},
    {"tls-ca", required_argument, NULL, 'A'},
    {"tls-cert", required_argument, NULL, 'C'},
    {"tls-key", required_argument, NULL, 'Y'},
    {"pending", required_argument, NULL, 'n'},
    {"call-timeout", required_argument, NULL, 't'},
    {"ack-wait", required_argument, NULL, 'w'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int add_name(const char *cmd, const char **v, int *n, const char *name)
{
    if (*n == MAX_NAMES)
        return cli_usage(cmd, "at most %d --export and %d --import", MAX_NAMES, MAX_NAMES);
    v[(*n)++] = name;
    return 0;
}

/* The server list as it may be shown (on standard output and in errors,
 * which go to logs read by more people than the credentials' owner): each
 * URL's user information ("user:password@", a token) as "***@". */
static void servers_shown(const char *servers, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    for (const char *p = servers; *p && o + 1 < cap;) {
        size_t n = strcspn(p, ","); /* this URL */
        const char *sch = strstr(p, "://");
        size_t host = sch && (size_t)(sch - p) < n ? (size_t)(sch - p) + 3 : 0;
        /* The last '@' of the URL, as the NATS client takes it: a password
         * may hold '/' or '@'. */
        const char *at = NULL;
        for (size_t k = host; k < n; k++)
            if (p[k] == '@')
                at = p + k;
        int w = at ? snprintf(out + o, cap - o, "%.*s***%.*s", (int)host, p, (int)(p + n - at), at)
                   : snprintf(out + o, cap - o, "%.*s", (int)n, p);
        o += w > 0 ? (size_t)w : 0;
        if (o >= cap)
            o = cap - 1;
        p += n;
        if (*p == ',' && o + 1 < cap) {
            out[o++] = ',';
            out[o] = 0;
            p++;
        }
    }
}

static int run(const struct cli_cmd *self, int argc, char **argv)
{
    const char *cmd = self->name;
    const char *ex[MAX_NAMES + 1] = {NULL}, *im[MAX_NAMES + 1] = {NULL};
    int nex = 0, nim = 0, c, err;
    uint64_t u;
    mbx_bridge_options o;
    mbx_bridge_options_init(&o);
    o.token = getenv("MBX_NATS_TOKEN");
    optind = 0;
    while ((c = getopt_long(argc, argv, ":s:e:i:JR:P:H:u:p:T:c:k:K:A:C:Y:n:t:w:h", options,
                            NULL)) != -1) {
        switch (c) {
        case 's':
            o.servers = optarg;
            break;
        case 'e':
            if ((err = add_name(cmd, ex, &nex, optarg)))
                return err;
            break;
        case 'i':
            if ((err = add_name(cmd, im, &nim, optarg)))
                return err;
            break;
        case 'J':
            o.jetstream = 1;
            break;
        case 'R':
            if ((err = parse_uint(optarg, 1, 5, &u)))
                return cli_bad_value(cmd, "--replicas", optarg, err);
            o.replicas = (uint32_t)u;
            break;
        case 'P':
            o.prefix = optarg;
            break;
        case 'H':
            o.host_id = optarg;
            break;
        case 'u':
            o.user = optarg;
            break;
        case 'p':
            o.password = optarg;
            break;
        case 'T':
            o.token = optarg;
            break;
        case 'c':
            o.creds_file = optarg;
            break;
        case 'k':
            o.nkey = optarg;
            break;
        case 'K':
            o.nkey_seed_file = optarg;
            break;
        case 'A':
            o.tls_ca = optarg;
            break;
        case 'C':
            o.tls_cert = optarg;
            break;
        case 'Y':
            o.tls_key = optarg;
            break;
        case 'n':
            if ((err = parse_uint(optarg, 1, 1u << 24, &u)))
                return cli_bad_value(cmd, "--pending", optarg, err);
            o.pending_limit = (uint32_t)u;
            break;
        case 't': {
            int64_t ns;
            err = parse_duration(optarg, &ns);
            if (err || ns <= 0 || ns / 1000000 > UINT32_MAX)
                return cli_bad_value(cmd, "--call-timeout", optarg, err ? err : -ERANGE);
            o.call_timeout_ms = (uint32_t)(ns / 1000000 ? ns / 1000000 : 1);
            break;
        }
        case 'w': {
            int64_t ns;
            err = parse_duration(optarg, &ns);
            if (err || ns < 1000000 || ns / 1000000 > UINT32_MAX)
                return cli_bad_value(cmd, "--ack-wait", optarg, err ? err : -ERANGE);
            o.ack_wait_ms = (uint32_t)(ns / 1000000);
            break;
        }
        case 'h':
            return cli_help(self);
        default:
            return cli_bad_option(cmd, c, argv);
        }
    }
    if (optind != argc)
        return cli_usage(cmd, "unexpected argument '%s': say --export NAME or --import NAME",
                         argv[optind]);
    if (!o.servers)
        return cli_usage(cmd, "say where: --server nats://HOST:PORT");
    if (!nex && !nim)
        return cli_usage(cmd, "say what: --export NAME and/or --import NAME");
    if ((o.nkey != NULL) != (o.nkey_seed_file != NULL))
        return cli_usage(cmd, "--nkey and --nkey-seed go together");
    if ((o.tls_cert != NULL) != (o.tls_key != NULL))
        return cli_usage(cmd, "--tls-cert and --tls-key go together");
    if (o.password && !o.user)
        return cli_usage(cmd, "--password needs --user");
    o.exports = ex;
    o.imports = im;
    cli_catch_signals();
    char shown[1024];
    servers_shown(o.servers, shown, sizeof(shown));
    mbx_bridge *b;
    err = mbx_bridge_start(&o, &b);
    if (err) {
        const char *why = mbx_strerror(err);
        if (err == -EPROTONOSUPPORT)
            why = "this mbx was built without NATS (MBX_WITH_NATS)";
        else if (err == -EPROTO && o.jetstream)
            why = "the server has no JetStream (nats-server -js)";
        else if (err == -EMSGSIZE)
            why = "a mailbox takes messages larger than the server's max_payload";
        else if (err == -EEXIST && o.jetstream)
            why = "a JetStream stream of a mailbox's name, or one of its band consumers (mbx-p0 "
                  "... mbx-p3), exists with a configuration that can lose messages (the stream: "
                  "not a work queue on file of the bridge's subjects, without limits; a "
                  "consumer: not a pull consumer of its band's subject delivering every message "
                  "whole until acknowledged): delete or fix it";
        else if (err == -EINVAL)
            why = "invalid: a NAME must be NAME or @PID; check --prefix, --host-id and --server";
        fprintf(stderr, "mbx: %s: %s: %s\n", cmd, shown, why);
        return cli_status(err);
    }
    printf("bridging %d export%s and %d import%s via %s%s\n", nex, nex == 1 ? "" : "s", nim,
           nim == 1 ? "" : "s", shown, o.jetstream ? " (JetStream)" : "");
    fflush(stdout);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    /* Waits for the signal, saying meanwhile when an import stops fetching
     * (its stream was made again in a way that can lose messages) and when
     * it fetches again. */
    uint32_t refusing = 0;
    struct timespec second = {1, 0};
    while (sigtimedwait(&stop, NULL, &second) < 0) {
        uint32_t now = 0;
        if (mbx_bridge_refusing(b, &now) == 0 && now != refusing) {
            if (now)
                fprintf(stderr,
                        "mbx: %s: %u JetStream import%s or export%s refused: a stream or band "
                        "consumer of the name was made in a way that can lose messages (not "
                        "what the bridge would make), or the stream does not acknowledge "
                        "publishes: delete or fix it\n",
                        cmd, now, now == 1 ? "" : "s", now == 1 ? "" : "s");
            else
                fprintf(stderr, "mbx: %s: every import fetches again\n", cmd);
            refusing = now;
        }
    }
    mbx_bridge_stat st;
    mbx_bridge_stat_get(b, &st);
    mbx_bridge_stop(b);
    printf("exported %llu imported %llu calls %llu refused %llu dropped %llu redelivered %llu\n",
           (unsigned long long)st.exported, (unsigned long long)st.imported,
           (unsigned long long)st.calls, (unsigned long long)st.refused,
           (unsigned long long)st.dropped, (unsigned long long)st.redeliver);
    return CLI_OK;
}

const struct cli_cmd cmd_bridge = {"bridge", "bridge mailboxes to a NATS server or cluster", usage,
                                   run};
