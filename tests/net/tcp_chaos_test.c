/* Chaos across the link: senders and receivers on both sides of a gateway
 * (remote ones through tcp:// names and the fault proxy, local ones on the
 * mailboxes themselves), while the link is cut and restored, the gateway is
 * killed with SIGKILL and restarted on its port, and client processes are
 * killed with SIGKILL at random and started again.
 *
 *   to the gateway's host: 2 remote senders  -> chaos-in  -> 1 local receiver
 *   from it:               1 local sender    -> chaos-out -> 2 remote receivers
 *
 * Every process is this program run again (exec) with a role; they share a
 * board (a file mapped by all) where each writes down what it did:
 *   - a sender, for each message, that its send returned 0; a remote one
 *     also how far mbx_sync returned 0 (acknowledged by the gateway), a local
 *     one is acknowledged at the send;
 *   - a receiver receives into its slot of the board and then counts the
 *     message; one killed in between leaves the message in its slot, where
 *     the test finds it (excused: delivered to a process that died).
 * At the end, with everything drained:
 *   - every acknowledged message was delivered (counted, excused, or still
 *     in a mailbox), but for the known limits below, which are counted;
 *   - none was delivered twice, but for those limits;
 *   - nothing delivered was never sent, nothing torn.
 * A send that returned 0 in a sender killed before mbx_sync may be lost (its
 * process held it): not counted. A remote receiver killed with a message
 * the gateway sent it and it had not confirmed: the gateway puts the
 * message back in its mailbox after the linger time (300 ms here), and
 * another receiver gets it.
 *
 * The known limits, from the gateway's kills (README, failure table): a
 * message the gateway had taken out for a remote receiver is put back from
 * its journal by the next gateway, and delivered twice when the receiver
 * had it and its confirmation died with the gateway, or lost when the kill
 * came before its journal write (at most one per receiving session and
 * kill, either way); sends the gateway delivered
 * but had not acknowledged are sent again to the new gateway and may arrive
 * twice (at most a window, 64, per remote sender and kill).
 *
 *   tcp_chaos_test [SECONDS [SEED [GATEWAY_KILLS]]]
 *                          default 3 seconds of chaos, 2 gateway kills (SEED
 *                          0: from the time) */
#include "test_box.h"

#include "gateway_process.h"
#include "tcp_proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define NRS      2 /* remote senders */
#define NLS      1 /* local senders */
#define NLR      1 /* local receivers */
#define NRR      2 /* remote receivers */
#define NKIDS    (NRS + NLS + NLR + NRR)
#define IDS      2048  /* sender incarnations (about 3 a second are used) */
#define SEQS     16384 /* messages per incarnation at most */
#define WINDOW   64
#define LINGER   300 /* ms: the gateway's */
#define SYNC_GAP 16  /* a remote sender syncs every SYNC_GAP sends */

enum role { SEND_REMOTE, SEND_LOCAL, RECV_LOCAL, RECV_REMOTE };

struct msg {
    uint32_t id, seq, sum, magic;
};
#define MAGIC 0x6d627863u

struct board {
    int stop_send, stop_recv;
    uint32_t next_id;
    uint64_t progress;
    uint64_t torn;
    struct {
        uint32_t id;    /* a sender's incarnation */
        struct msg buf; /* a receiver's: where it receives */
    } kid[NKIDS];
    uint32_t acked[IDS];         /* an incarnation's seq below this: acknowledged */
    uint8_t remote[IDS];         /* the incarnation sent through the gateway */
    uint8_t ret0[IDS][SEQS / 8]; /* send returned 0 (bits) */
    uint8_t got[IDS][SEQS];      /* times counted by receivers */
    uint8_t excused[IDS][SEQS / 8];
};

static struct board *bd;
static char self_exe[4096], board_path[300], secret_path[300];

static uint32_t sum_of(uint32_t id, uint32_t seq)
{
    uint64_t x = ((uint64_t)id << 32 | seq) * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(x >> 29) ^ 0x5bd1e995u;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void nap_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void setbit(uint8_t *bits, uint32_t i)
{
    __atomic_fetch_or(&bits[i / 8], (uint8_t)(1u << (i % 8)), __ATOMIC_SEQ_CST);
}

static int bit(const uint8_t *bits, uint32_t i)
{
    return (__atomic_load_n(&bits[i / 8], __ATOMIC_SEQ_CST) >> (i % 8)) & 1;
}

static struct board *map_board(int create)
{
    int fd = open(board_path, O_RDWR | (create ? O_CREAT | O_TRUNC : 0), 0600);
    if (fd < 0 || (create && ftruncate(fd, sizeof(struct board))))
        return NULL;
    void *p = mmap(NULL, sizeof(struct board), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

/* Whether m is a message some sender made (any incarnation, any seq). */
static int well_formed(const struct msg *m)
{
    return m->magic == MAGIC && m->id < IDS && m->seq < SEQS && m->sum == sum_of(m->id, m->seq);
}

/* ---- the children ---- */

static mbx *open_until(const char *name, int flags)
{
    for (;;) {
        mbx *m;
        int r = mbx_open(name, flags, NULL, &m);
        if (r == 0)
            return m;
        if (__atomic_load_n(&bd->stop_recv, __ATOMIC_SEQ_CST))
            _exit(0);
        nap_ms(20);
    }
}

static int sender(int slot, const char *name, int remote)
{
    uint32_t id = __atomic_load_n(&bd->kid[slot].id, __ATOMIC_SEQ_CST);
    mbx *m = open_until(name, MBX_SEND);
    uint32_t seq = 0;
    while (!__atomic_load_n(&bd->stop_send, __ATOMIC_SEQ_CST) && seq < SEQS) {
        struct msg msg = {id, seq, sum_of(id, seq), MAGIC};
        int r = mbx_send(m, &msg, sizeof(msg), 0, 200000000ll);
        if (r == -ETIMEDOUT || r == -EAGAIN)
            continue; /* not delivered (the mailbox was full): again */
        if (r == 0) {
            setbit(bd->ret0[id], seq);
            __atomic_fetch_add(&bd->progress, 1, __ATOMIC_SEQ_CST);
        }
        /* -ENOTCONN: may or may not be there; not counted either way. */
        seq++;
        if (!remote || (seq % SYNC_GAP == 0 && mbx_sync(m) == 0))
            __atomic_store_n(&bd->acked[id], seq, __ATOMIC_SEQ_CST);
    }
    int r = mbx_sync(m);
    if (r == 0)
        __atomic_store_n(&bd->acked[id], seq, __ATOMIC_SEQ_CST);
    mbx_close(m);
    return r == 0 ? 0 : 3;
}

static int receiver(int slot, const char *name)
{
    mbx *m = open_until(name, MBX_RECV);
    struct msg *buf = &bd->kid[slot].buf;
    while (!__atomic_load_n(&bd->stop_recv, __ATOMIC_SEQ_CST)) {
        ssize_t n = mbx_recv(m, buf, sizeof(*buf), NULL, 50000000ll);
        if (n < 0)
            continue;
        if (n != sizeof(*buf) || !well_formed(buf)) {
            __atomic_fetch_add(&bd->torn, 1, __ATOMIC_SEQ_CST);
        } else {
            __atomic_fetch_add(&bd->got[buf->id][buf->seq], 1, __ATOMIC_SEQ_CST);
            __atomic_fetch_add(&bd->progress, 1, __ATOMIC_SEQ_CST);
        }
        memset(buf, 0, sizeof(*buf));
    }
    mbx_close(m);
    return 0;
}

static int child_main(int role, int slot, const char *port)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const char *path = getenv("MBX_CHAOS_BOARD");
    if (!path)
        return 2;
    snprintf(board_path, sizeof(board_path), "%s", path);
    bd = map_board(0);
    if (!bd)
        return 2;
    char name[128];
    const char *box = role == SEND_REMOTE || role == RECV_LOCAL ? "chaos-in" : "chaos-out";
    if (role == SEND_REMOTE || role == RECV_REMOTE)
        snprintf(name, sizeof(name), "tcp://127.0.0.1:%s/%s", port, box);
    else
        snprintf(name, sizeof(name), "%s", box);
    if (role == SEND_REMOTE || role == SEND_LOCAL)
        return sender(slot, name, role == SEND_REMOTE);
    return receiver(slot, name);
}

/* ---- the test ---- */

static pid_t spawn(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        execv(self_exe, argv);
        _exit(127);
    }
    return pid;
}

static pid_t gw_pid;
static int gw_port;

static int gw_start(void)
{
    int p[2];
    if (pipe(p))
        return -1;
    char port[16], fd[16];
    snprintf(port, sizeof(port), "%d", gw_port);
    snprintf(fd, sizeof(fd), "%d", p[1]);
    char *argv[] = {self_exe, "gateway", port, fd, NULL};
    pid_t pid = spawn(argv);
    close(p[1]);
    struct pollfd pf = {p[0], POLLIN, 0};
    int v = 0;
    if (pid < 0 || poll(&pf, 1, 30000) != 1 || read(p[0], &v, sizeof(v)) != (ssize_t)sizeof(v))
        v = 0;
    close(p[0]);
    if (v <= 0 || (gw_port && v != gw_port)) {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        return -1;
    }
    gw_port = v;
    gw_pid = pid;
    return 0;
}

static void gw_kill(void)
{
    kill(gw_pid, SIGKILL);
    waitpid(gw_pid, NULL, 0);
}

static const int roles[NKIDS] = {SEND_REMOTE, SEND_REMOTE, SEND_LOCAL,
                                 RECV_LOCAL,  RECV_REMOTE, RECV_REMOTE};
static pid_t kids[NKIDS];
static int proxy_port_no;

static void kid_start(int i)
{
    if (roles[i] == SEND_REMOTE || roles[i] == SEND_LOCAL) {
        uint32_t id = __atomic_fetch_add(&bd->next_id, 1, __ATOMIC_SEQ_CST);
        assert_true(id < IDS);
        bd->kid[i].id = id;
        bd->remote[id] = roles[i] == SEND_REMOTE;
    }
    char role[12], slot[12], port[16];
    snprintf(role, sizeof(role), "%d", roles[i]);
    snprintf(slot, sizeof(slot), "%d", i);
    snprintf(port, sizeof(port), "%d", proxy_port_no);
    char *argv[] = {self_exe, "child", role, slot, port, NULL};
    kids[i] = spawn(argv);
    assert_true(kids[i] > 0);
}

static unsigned recv_kills, remote_recv_kills;

/* Kills child i; what a receiver had in hand is excused. */
static void kid_kill(int i)
{
    kill(kids[i], SIGKILL);
    waitpid(kids[i], NULL, 0);
    kids[i] = 0;
    if (roles[i] == RECV_LOCAL || roles[i] == RECV_REMOTE) {
        struct msg *m = &bd->kid[i].buf;
        if (well_formed(m))
            setbit(bd->excused[m->id], m->seq);
        memset(m, 0, sizeof(*m));
        recv_kills++;
        remote_recv_kills += roles[i] == RECV_REMOTE;
    }
}

/* Waits for child i to exit by itself within ms. Returns its status, or -1
 * (then kills it). */
static int kid_wait(int i, int ms)
{
    for (int t = 0; t < ms; t += 10) {
        int st;
        if (waitpid(kids[i], &st, WNOHANG) == kids[i]) {
            kids[i] = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        nap_ms(10);
    }
    kid_kill(i);
    return -1;
}

static int seconds = 3, gateway_kills = 2;
static unsigned seed;

static void chaos_across_the_link(void **state)
{
    (void)state;
    mbx *in = test_box("chaos-in", 64, sizeof(struct msg), 0);
    mbx *out = test_box("chaos-out", 64, sizeof(struct msg), 0);
    snprintf(board_path, sizeof(board_path), "%s/board", test_dir);
    bd = map_board(1);
    assert_non_null(bd);
    setenv("MBX_CHAOS_BOARD", board_path, 1);
    assert_int_equal(gw_start(), 0);
    struct tcp_proxy *p = proxy_start(gw_port);
    assert_non_null(p);
    proxy_port_no = proxy_port(p);
    for (int i = 0; i < NKIDS; i++)
        kid_start(i);

    unsigned rnd = seed, cuts = 0, kid_kills = 0, gw_kills = 0;
    int64_t start = now_ns(), end = start + (int64_t)seconds * 1000000000;
    int64_t gw_step = (end - start) / (gateway_kills + 1), next_gw = start + gw_step;
    uint64_t last_progress = 0;
    int64_t last_moved = start;
    while (now_ns() < end) {
        nap_ms(20 + rand_r(&rnd) % 40);
        unsigned what = (unsigned)rand_r(&rnd) % 8;
        if (what < 3) {
            cuts += proxy_cut(p) > 0;
        } else if (what < 5) {
            int i = (int)((unsigned)rand_r(&rnd) % NKIDS);
            /* Each sender incarnation has its row on the board: once they
             * are all used, only receivers are killed. */
            int sender = roles[i] == SEND_REMOTE || roles[i] == SEND_LOCAL;
            if (!sender || __atomic_load_n(&bd->next_id, __ATOMIC_SEQ_CST) < IDS) {
                kid_kill(i);
                kid_start(i);
                kid_kills++;
            }
        }
        if (gateway_kills && now_ns() >= next_gw && next_gw < end - gw_step / 2) {
            gw_kill();
            nap_ms(rand_r(&rnd) % 100);
            assert_int_equal(gw_start(), 0);
            gw_kills++;
            next_gw += gw_step;
        }
        uint64_t pr = __atomic_load_n(&bd->progress, __ATOMIC_SEQ_CST);
        if (pr != last_progress) {
            last_progress = pr;
            last_moved = now_ns();
        }
        if (now_ns() - last_moved > 20000000000ll)
            fail_msg("nothing moved for 20 s (seed %u)", seed);
    }

    /* The calm: senders finish (their last sync), receivers drain. */
    __atomic_store_n(&bd->stop_send, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < NKIDS; i++)
        if (roles[i] == SEND_REMOTE || roles[i] == SEND_LOCAL)
            assert_int_equal(kid_wait(i, 60000), 0);
    /* Until every acknowledged message was counted, or nothing came for
     * the linger time and a good margin (held messages go back). */
    int64_t quiet = now_ns();
    for (;;) {
        uint64_t pr = __atomic_load_n(&bd->progress, __ATOMIC_SEQ_CST);
        if (pr != last_progress) {
            last_progress = pr;
            quiet = now_ns();
        }
        if (now_ns() - quiet > 3000000000ll)
            break;
        nap_ms(50);
    }
    __atomic_store_n(&bd->stop_recv, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < NKIDS; i++)
        if (kids[i])
            assert_int_equal(kid_wait(i, 30000), 0);
    gw_kill();
    proxy_stop(p);
    /* What is still in the mailboxes was delivered there. */
    struct msg m;
    unsigned left = 0;
    while (mbx_recv(in, &m, sizeof(m), NULL, 0) == sizeof(m) ||
           mbx_recv(out, &m, sizeof(m), NULL, 0) == sizeof(m)) {
        assert_true(well_formed(&m));
        bd->got[m.id][m.seq]++;
        left++;
    }

    /* Acknowledged: a send that returned 0 below its incarnation's acked
     * mark. */
    unsigned acked = 0, returned0 = 0, excused = 0, strays = 0;
    unsigned lost[2] = {0, 0}, dups[2] = {0, 0}; /* [1]: from remote senders (chaos-in) */
    uint32_t ids = bd->next_id;
    for (uint32_t id = 0; id < ids; id++)
        for (uint32_t seq = 0; seq < SEQS; seq++) {
            int r0 = bit(bd->ret0[id], seq);
            unsigned got = bd->got[id][seq];
            returned0 += r0;
            if (got > 1)
                dups[bd->remote[id]] += got - 1;
            if (!r0 && got)
                strays++; /* -ENOTCONN, or its 0 not written down before a kill */
            if (!r0 || seq >= bd->acked[id])
                continue;
            acked++;
            if (!got && bit(bd->excused[id], seq))
                excused++;
            else if (!got)
                lost[bd->remote[id]]++;
        }
    /* What a gateway's kill touches of remote receivers: one held message
     * per receiving session (a killed receiver's lingers), none without
     * gateway kills. */
    unsigned held_bound = gw_kills ? gw_kills * NRR + remote_recv_kills : 0;
    print_message("%d s of chaos: link cut %u times, %u client kills (%u of receivers), gateway "
                  "killed %u times; %u sends returned 0, %u acknowledged\n"
                  "to the gateway's host (remote senders): lost %u, duplicates %u (limit: resent "
                  "to a restarted gateway, <= %u)\n"
                  "from it (remote receivers): lost %u (limit: held by a killed gateway, one a "
                  "receiver's session, <= %u), "
                  "duplicates %u (limit: a receiver killed before its confirmation crossed a "
                  "cut, or one whose confirmation died with a killed gateway, <= %u)\n"
                  "excused %u (in a killed receiver's hands), %u left in the mailboxes, %u "
                  "delivered of unknown outcome, %u torn (seed %u)\n",
                  seconds, cuts, kid_kills, recv_kills, gw_kills, returned0, acked, lost[1],
                  dups[1], gw_kills * NRS * WINDOW, lost[0], held_bound, dups[0],
                  remote_recv_kills + held_bound, excused, left, strays, (unsigned)bd->torn, seed);
    assert_int_equal(bd->torn, 0);
    assert_true(acked > 0);
    assert_int_equal(lost[1], 0);
    assert_true(dups[1] <= gw_kills * NRS * WINDOW);
    /* A killed receiver's session lingers, holding one too. Without
     * gateway kills nothing is lost at all. */
    assert_true(lost[0] <= held_bound);
    /* The killed gateway's journal puts back what it held for a remote
     * receiver, also one the receiver had whose confirmation died with
     * it: at most one per receiving session and kill, as lost above. */
    assert_true(dups[0] <= remote_recv_kills + held_bound);
    assert_true(excused <= recv_kills);
    munmap(bd, sizeof(*bd));
    mbx_close(in);
    mbx_close(out);
    mbx_unlink("chaos-in");
    mbx_unlink("chaos-out");
}

static int setup(void **state)
{
    if (test_dir_setup(state))
        return -1;
    snprintf(secret_path, sizeof(secret_path), "%s/secret", test_dir);
    int fd = open(secret_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    const char *text = "0123456789abcdef0123456789abcdef\n";
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        return -1;
    close(fd);
    setenv("MBX_SECRET_FILE", secret_path, 1);
    setenv("MBX_TCP_BYPASS", "0", 1);
    return 0;
}

static int teardown(void **state)
{
    return test_dir_teardown(state);
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "child") == 0)
        return child_main(atoi(argv[2]), atoi(argv[3]), argv[4]);
    if (argc == 4 && strcmp(argv[1], "gateway") == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        return gateway_process_main("chaos-*", argv[2], atoi(argv[3]), LINGER);
    }
    signal(SIGPIPE, SIG_IGN);
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
    if (n <= 0)
        return 1;
    self_exe[n] = 0;
    if (argc > 1)
        seconds = atoi(argv[1]) > 0 ? atoi(argv[1]) : 3;
    seed = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 0;
    if (!seed)
        seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    if (argc > 3 && atoi(argv[3]) >= 0)
        gateway_kills = atoi(argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chaos_across_the_link),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
