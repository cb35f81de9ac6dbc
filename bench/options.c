#include <stdlib.h>
#include <string.h>

#include "options.h"

static const char usage[] =
    "usage: mbx-bench [--quick | --full] [--pin] [--only MECH[,MECH...]] [--out DIR]\n";

static const char method[] =
    "\n"
    "Measures what each IPC mechanism costs per message on this machine, side by\n"
    "side with mbx, and how close mbx comes to the raw limit of shared memory.\n"
    "\n"
    "  --quick      short run, under a minute on 2 cores (default; `make bench`)\n"
    "  --full       several times the samples per cell (`make bench-full`)\n"
    "  --pin        pin the initiating side to CPU 0 and the responding side to\n"
    "               CPU 1 (fan-in: all senders on CPU 0, the receiver on CPU 1)\n"
    "  --only LIST  measure only these mechanisms, comma-separated\n"
    "  --out DIR    where results.csv, latency.png, scaling.png and plots.gp go\n"
    "               (default build/bench)\n"
    "\n"
    "Method. Every cell runs in freshly forked processes on a fresh channel: an\n"
    "initiator (ping, sender) and a responder (pong, receiver). A process that\n"
    "hangs is killed by pid at a deadline and its cell says so; temporary files,\n"
    "queues and mailboxes are removed at the end, also after an error or ^C.\n"
    "  Round trip: the initiator sends a message of the given size and waits for\n"
    "  it to come back; after a warm-up (10 ms, 100 ms full, and at least 64\n"
    "  round trips: a lap of a default ring) every round trip is timed with\n"
    "  CLOCK_MONOTONIC, and the median and 99th percentile are kept. A round trip\n"
    "  is two messages: a kernel mechanism pays a system call and a copy on each\n"
    "  send and each receive, shared memory pays the copies only.\n"
    "  One-way: one sender sends back to back for a fixed time, then an end\n"
    "  message with its count; the receiver checks every message's sender and\n"
    "  sequence number, so a lost or reordered message fails the cell.\n"
    "  Fan-in: 1, 2, 4, 8, 16 sender processes into one receiver, 64 B messages,\n"
    "  checked per sender the same way; mechanisms with one shared queue only.\n"
    "  Loans by size: the mbx (loan) round trip again at 64 B, 1 MiB, 64 MiB and\n"
    "  1 GiB (default mailboxes; the 1 GiB cell needs about 2 GiB of /dev/shm).\n"
    "  From the first message (with the mbx row): 1024 round trips of 1 MiB on\n"
    "  fresh default mailboxes, timed after one that waits for both sides to\n"
    "  start, as they come and with MBX_PREFAULT=1 (the rows rtt_first and\n"
    "  rtt_first_prefault of results.csv).\n"
    "  Failure detection (with the mbx row): how soon a waiting process learns\n"
    "  of an event it depends on, in fresh processes and mailboxes per trial\n"
    "  (15 quick, 100 full): the owner of an MBX_OWNED mailbox (ring, then\n"
    "  heap) killed while a sender is blocked on it (-EIDRM); the process that\n"
    "  took an mbx_call request killed before replying (the caller's -EPIPE);\n"
    "  a message sent while the round-robin receiver whose turn it is is stopped\n"
    "  (SIGSTOP: its turn passes on; the next receiver gets it); mbx_unlink while\n"
    "  a receiver is blocked (-EIDRM). The event comes 0-60 ms after the waiter\n"
    "  blocked, so the polls that notice deaths are met at every phase; median,\n"
    "  p99 and max of the time from the event to the waiter's return. In\n"
    "  results.csv the rows detect_*, with the trials in the round_trips column.\n"
    "  Per message: system calls and context switches are counted by the kernel.\n"
    "  System calls: `perf stat -e raw_syscalls:sys_enter` around separate runs of\n"
    "  this program doing N and N/10 round trips of 64 B; only the difference is\n"
    "  kept, so start-up and setup cancel out. Context switches: getrusage of\n"
    "  both processes across the timed 64 B round trips.\n"
    "  As root, fs.mqueue.msgsize_max, kernel.msgmax and kernel.msgmnb are raised\n"
    "  in an IPC namespace of the run's own (the machine's stay as they are;\n"
    "  where none can be made, machine-wide for the run and put back), and\n"
    "  RLIMIT_MSGQUEUE for the run; otherwise larger sizes say n/a and why.\n"
    "\n"
    "Reading the table (lower is better except for throughput):\n"
    "  64 B .. 1 MiB   round trip, median/p99, microseconds\n"
    "  msg/s, MB/s     one-way throughput with one sender (MB = 10^6 bytes)\n"
    "  sys/msg         system calls per one-way message; 0 = kernel not involved\n"
    "  csw/msg         context switches per one-way message (sleeps and wake-ups)\n"
    "  /mbx  /raw      the row's 64 B median round trip divided by mbx's and by\n"
    "                  the raw limit's: 3.0 means three times slower\n"
    "  n/a[k] FAIL[k]  see note k under the table\n"
    "  raw limit       the floor: two processes spinning on shared memory with\n"
    "                  the same two copies as mbx; no mailbox can beat it\n"
    "  zmq, nng        over ipc:// (a Unix socket); (tcp): the same over TCP on\n"
    "                  127.0.0.1, an ephemeral port, TCP_NODELAY\n"
    "  mbx (tcp://)    the server process runs a gateway (mbx_gateway_start on\n"
    "                  127.0.0.1) exporting a mailbox it uses locally; the client\n"
    "                  opens tcp://127.0.0.1:PORT/NAME. Round trip: mbx_call from\n"
    "                  the client, local mbx_recv + mbx_reply in the server.\n"
    "                  One-way: the client's mbx_send, the server's mbx_recv\n"
    "  (tcp://, deep)  the same with a mailbox of 1024 slots: about ZeroMQ's\n"
    "                  default buffering (1000 messages a socket); the client's\n"
    "                  window of unacknowledged sends follows the capacity\n"
    "  mbx             default wait: spin briefly, then sleep on a futex;\n"
    "  mbx (deep)      the same with a pipe's 64 KiB of buffer (1024 slots of\n"
    "                  64 B): room for many senders to run ahead\n"
    "  mbx (sleep)     always sleep at once; mbx (spin): never sleep\n"
    "  mbx (epoll)     as an event loop uses mbx: every call MBX_NONBLOCK, both\n"
    "                  sides wait in epoll_wait on mbx_fd (not in fan-in: at\n"
    "                  most 16 pollers a mailbox); unix-seqpacket (epoll): the\n"
    "                  seqpacket socketpair, non-blocking, waited on the same way\n"
    "  mbx (loan)      zero copy: the payload is made in place; only the 16\n"
    "                  header bytes the benchmark checks are copied\n"
    "  iceoryx         iceoryx 2 publish/subscribe (C API): loan a chunk, copy\n"
    "                  in, publish; take, copy out, release (mbx's work); the\n"
    "                  subscriber waits in a WaitSet; (poll): busy-polls instead\n"
    "  iceoryx (zero copy)  the payload made in place, as in mbx (loan)\n"
    "                  The run starts its own iox-roudi (pools for the sizes\n"
    "                  above, in a temporary TOML file) before the first iceoryx\n"
    "                  process and stops it by pid at the end, also on ^C; below\n"
    "                  the table, what RouDi and one mbx mailbox hold\n"
    "                  before the first message. n/a without libiceoryx or\n"
    "                  iox-roudi (Debian: libiceoryx-binding-c-dev, iceoryx)\n"
    "Below the table: aggregate msg/s by number of senders, loaned round trips\n"
    "by size, memory before the first message (with the iceoryx rows), failure\n"
    "detection, and the targets of issues 5, 6, 14, 15, 16, 17 and 18 for mbx,\n"
    "each met or missed.\n"
    "\n"
    "Mechanisms (names for --only):\n";

void options_help(FILE *f)
{
    fputs(usage, f);
    fputs(method, f);
    int w = 15;
    for (size_t i = 0; i < mech_count; i++)
        w = (int)strlen(mech_all[i]->name) > w ? (int)strlen(mech_all[i]->name) : w;
    for (size_t i = 0; i < mech_count; i++)
        fprintf(f, "  %-*s %s\n", w, mech_all[i]->name, mech_all[i]->about);
    for (size_t i = 0; mech_not_built[i]; i++)
        fprintf(f, "  %-*s not built: %s\n", w, "", mech_not_built[i]);
}

static int add_only(struct options *o, const char *list)
{
    char *copy = strdup(list);
    if (!copy)
        return -1;
    int rc = 0;
    for (char *save, *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        const struct mech *m = mech_find(name);
        if (!m) {
            fprintf(stderr, "mbx-bench: unknown mechanism '%s' (see --help)\n", name);
            rc = -1;
            break;
        }
        if (o->nonly < sizeof(o->only) / sizeof(o->only[0]))
            o->only[o->nonly++] = m;
    }
    free(copy);
    return rc;
}

/* Accepts "--opt VALUE" and "--opt=VALUE". */
static const char *value(int argc, char **argv, int *i, const char *opt)
{
    size_t n = strlen(opt);
    if (strncmp(argv[*i], opt, n) == 0 && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (strcmp(argv[*i], opt) != 0 || *i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static int parse_internal(int argc, char **argv, int *i, struct options *o)
{
    if (*i + 3 >= argc) {
        fprintf(stderr, "mbx-bench: --internal-run MECH SIZE ROUNDTRIPS\n");
        return -1;
    }
    o->internal = mech_find(argv[*i + 1]);
    o->internal_size = strtoull(argv[*i + 2], NULL, 10);
    o->internal_rtts = strtoull(argv[*i + 3], NULL, 10);
    *i += 3;
    if (!o->internal || o->internal_size < 64 || o->internal_rtts < 1) {
        fprintf(stderr, "mbx-bench: bad --internal-run arguments\n");
        return -1;
    }
    return 0;
}

int options_parse(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof(*o));
    o->out = "build/bench";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "--quick") == 0) {
            o->full = false;
        } else if (strcmp(a, "--full") == 0) {
            o->full = true;
        } else if (strcmp(a, "--pin") == 0) {
            o->pin = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = true;
        } else if (strcmp(a, "--internal-run") == 0) {
            if (parse_internal(argc, argv, &i, o) < 0)
                return -1;
        } else if (strcmp(a, "--internal-row") == 0 && i + 2 < argc) {
            o->internal_row = mech_find(argv[i + 1]);
            o->internal_out = argv[i + 2];
            i += 2;
            if (!o->internal_row) {
                fprintf(stderr, "mbx-bench: bad --internal-row arguments\n");
                return -1;
            }
        } else if ((v = value(argc, argv, &i, "--only"))) {
            if (add_only(o, v) < 0)
                return -1;
        } else if ((v = value(argc, argv, &i, "--out"))) {
            o->out = v;
        } else {
            fprintf(stderr, "mbx-bench: unknown argument or missing value: '%s'\n%s", a, usage);
            return -1;
        }
    }
    return 0;
}
