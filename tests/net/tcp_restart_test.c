/* tcp:// mailboxes across a gateway killed with SIGKILL and restarted on
 * the same port, again and again, while a client sends or receives.
 *
 * The gateway runs in a child process: this program run again (exec, so
 * the child holds none of the client's sockets) as `tcp_restart_test
 * gateway PORT FD`, which reports the port it listens on through FD. The
 * mailboxes are ordinary files in the test's MBX_DIR and outlive it; the
 * new gateway knows nothing of the old one's sessions.
 *
 * What a client may see (include/mbx.h): a pipelined send that returned 0
 * is sent again after the reconnect if it was not acknowledged, so it is
 * delivered, maybe twice (only the ones in flight at a kill: at most a
 * window, 64, per kill); a message the gateway took out of the mailbox
 * for a remote receiver and had not handed over when it died is lost with
 * it no more: it is kept in a journal file beside the mailboxes while it
 * is held, and the next gateway puts it back (a message the client had
 * and whose acknowledgement died with the gateway is then delivered
 * again: at least once), but for a kill in the instant between the
 * message taken and its journal written. Only mbx.h is used, and the journal files' name
 * (.mbx-held.PID.N in MBX_DIR), not their contents.
 *
 * MBX_RESTART_SEED=N repeats a run's random choices. */
#include "test_box.h"

#include "gateway_process.h"
#include "tcp_proxy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/fanotify.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define WINDOW 64 /* the client's window: the capacity of the mailboxes here */

static char secret_path[300];
static char self_exe[4096];
static unsigned seed;

/* ---- the test's side (the gateway's process: gateway_process.h) ---- */

struct gw {
    pid_t pid;
    int port; /* 0: any, the first time */
};

/* Starts the gateway's process and waits for its port. Returns 0, or -1
 * after saying why (no cmocka assert: the killer thread calls this too). */
static int gw_start(struct gw *g)
{
    pid_t pid = gateway_process_start(self_exe, &g->port);
    if (pid < 0)
        return -1;
    g->pid = pid;
    return 0;
}

static void gw_kill(struct gw *g)
{
    if (g->pid <= 0)
        return;
    kill(g->pid, SIGKILL);
    int st;
    waitpid(g->pid, &st, 0);
    g->pid = 0;
}

static void nap_us(unsigned us)
{
    struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* Kills the gateway KILLS times, each once the count of operations the
 * client made reaches the next of `at`, a moment later, and starts it
 * again on the same port after a short pause (the client meanwhile finds
 * it gone: a reset, a refused connection, a retry). */
#define MAX_KILLS 5
struct killer {
    struct gw *g;
    _Atomic unsigned *progress;
    unsigned at[MAX_KILLS];
    int kills;
    unsigned rnd;
    atomic_int done; /* kills made */
};

static void *kill_and_restart(void *arg)
{
    struct killer *k = arg;
    for (int i = 0; i < k->kills; i++) {
        while (atomic_load(k->progress) < k->at[i])
            nap_us(200);
        nap_us((unsigned)rand_r(&k->rnd) % 3000);
        gw_kill(k->g);
        nap_us((unsigned)rand_r(&k->rnd) % 100000);
        if (gw_start(k->g))
            abort();
        atomic_fetch_add(&k->done, 1);
    }
    return NULL;
}

/* Chooses the kills: 3 to 5, at increasing points of 0 .. total. */
static void plan_kills(struct killer *k, unsigned total)
{
    k->kills = 3 + (int)(rand_r(&k->rnd) % 3);
    unsigned step = total / (unsigned)(k->kills + 1);
    for (int i = 0; i < k->kills; i++)
        k->at[i] = step * (unsigned)(i + 1) - step / 2 + (unsigned)rand_r(&k->rnd) % step;
}

static void write_secret(const char *path)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    const char *text = "0123456789abcdef0123456789abcdef\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int setup(void **state)
{
    if (test_dir_setup(state))
        return -1;
    snprintf(secret_path, sizeof(secret_path), "%s/secret", test_dir);
    write_secret(secret_path);
    setenv("MBX_SECRET_FILE", secret_path, 1);
    setenv("MBX_TCP_BYPASS", "0", 1); /* the network path is what is tested */
    return 0;
}

static int teardown(void **state)
{
    return test_dir_teardown(state);
}

static mbx *open_remote(int port, const char *box, int flags)
{
    char name[128];
    snprintf(name, sizeof(name), "tcp://127.0.0.1:%d/%s", port, box);
    mbx *m = NULL;
    assert_int_equal(mbx_open(name, flags, NULL, &m), 0);
    return m;
}

/* ---- a sender across the kills ---- */

#define SENDS 5000

struct drain {
    mbx *box;
    atomic_int stop;
    uint8_t *seen; /* arrivals of each number */
    uint32_t last_first;
    int first_any;
    unsigned arrivals, out_of_order, strangers;
};

/* The local receiver: takes every message, counts each number's arrivals
 * and checks that first arrivals come in increasing order. */
static void take(struct drain *d, uint32_t v)
{
    d->arrivals++;
    if (v >= SENDS) {
        d->strangers++;
        return;
    }
    if (__atomic_fetch_add(&d->seen[v], 1, __ATOMIC_RELAXED) == 0) {
        if (d->first_any && v <= d->last_first)
            d->out_of_order++;
        d->first_any = 1;
        d->last_first = v;
    }
}

static void *drain_main(void *arg)
{
    struct drain *d = arg;
    uint32_t v;
    while (!atomic_load(&d->stop)) {
        ssize_t n = mbx_recv(d->box, &v, sizeof(v), NULL, 20000000ll);
        if (n == sizeof(v))
            take(d, v);
    }
    return NULL;
}

/* Every send that returned 0 is delivered; a number arrives more than once
 * only when it was in flight at a kill (<= 64 a kill); each number's first
 * arrival is in the order of the sends. */
static void sends_survive_gateway_kills(void **state)
{
    (void)state;
    mbx *local = test_box("restart-in", 64, 64, 0);
    struct gw g = {0, 0};
    assert_int_equal(gw_start(&g), 0);
    mbx *remote = open_remote(g.port, "restart-in", MBX_SEND);

    struct drain d = {.box = local};
    d.seen = calloc(SENDS, 1);
    uint8_t *ok = calloc(SENDS, 1);
    assert_non_null(d.seen);
    assert_non_null(ok);
    pthread_t dt, kt;
    assert_int_equal(pthread_create(&dt, NULL, drain_main, &d), 0);

    _Atomic unsigned progress = 0;
    struct killer k = {.g = &g, .progress = &progress, .rnd = seed};
    plan_kills(&k, SENDS);
    assert_int_equal(pthread_create(&kt, NULL, kill_and_restart, &k), 0);

    unsigned returned0 = 0, failed = 0;
    for (uint32_t i = 0; i < SENDS; i++) {
        int r = mbx_send(remote, &i, sizeof(i), 0, 10000000000ll);
        if (r == 0) {
            ok[i] = 1;
            returned0++;
        } else {
            /* A waited-for send whose answer never came: it may or may
             * not be there. */
            if (r != -ENOTCONN && r != -ETIMEDOUT)
                fail_msg("send %u: %d", i, r);
            failed++;
        }
        atomic_store(&progress, i + 1);
        /* Slower than the link can go: the kills land among sends in
         * flight, not only after the last. */
        if (i % 16 == 0)
            nap_us(200);
    }
    pthread_join(kt, NULL);
    assert_int_equal(mbx_sync(remote), 0);

    /* Everything acknowledged is in the mailbox or taken: wait until every
     * number that returned 0 arrived, then a little for stray copies. */
    int64_t waited = 0;
    for (;;) {
        unsigned missing = 0;
        for (uint32_t i = 0; i < SENDS; i++)
            missing += ok[i] && !__atomic_load_n(&d.seen[i], __ATOMIC_RELAXED);
        if (!missing || waited > 10000)
            break;
        nap_us(10000);
        waited += 10;
    }
    nap_us(100000);
    atomic_store(&d.stop, 1);
    pthread_join(dt, NULL);

    unsigned lost = 0, dups = 0, extra = 0;
    for (uint32_t i = 0; i < SENDS; i++) {
        if (ok[i] && !d.seen[i])
            lost++;
        if (d.seen[i] > 1)
            dups += d.seen[i] - 1u;
        if (!ok[i] && d.seen[i])
            extra++;
    }
    print_message("%d sends, gateway killed %d times: %u returned 0, %u failed (%u of those "
                  "arrived), %u lost, %u duplicates, %u arrivals (seed %u)\n",
                  SENDS, atomic_load(&k.done), returned0, failed, extra, lost, dups, d.arrivals,
                  seed);
    assert_int_equal(atomic_load(&k.done), k.kills);
    assert_int_equal(lost, 0);
    assert_int_equal(d.strangers, 0);
    assert_int_equal(d.out_of_order, 0);
    assert_true(dups <= (unsigned)k.kills * WINDOW);
    assert_int_equal(mbx_recv(local, &(uint32_t){0}, sizeof(uint32_t), NULL, 0), -EAGAIN);

    mbx_close(remote);
    gw_kill(&g);
    free(ok);
    free(d.seen);
    mbx_close(local);
    mbx_unlink("restart-in");
}

/* ---- a receiver across the kills ---- */

#define RECVS 3000

/* Every message sent is received remotely or still in the mailbox. The
 * message a killed gateway had taken out for the receiver goes back to
 * the mailbox when the next one starts (its journal), behind the ones
 * sent after it: at most one a kill arrives out of order, and at most one
 * a kill twice (the client had it, its acknowledgement died with the
 * gateway). The others arrive once, in order. A kill in the instant
 * between the message taken and its journal written (one write) still
 * loses it: at most one a kill, counted (0 in 9 runs of a seed that lost
 * one in half its runs when the journal's file was made after the
 * receive, not before). */
static void receiver_across_gateway_kills(void **state)
{
    (void)state;
    mbx *local = test_box("restart-out", RECVS, 64, 0);
    for (uint32_t i = 0; i < RECVS; i++)
        assert_int_equal(mbx_send(local, &i, sizeof(i), 0, 0), 0);
    struct gw g = {0, 0};
    assert_int_equal(gw_start(&g), 0);
    mbx *remote = open_remote(g.port, "restart-out", MBX_RECV);

    _Atomic unsigned progress = 0;
    struct killer k = {.g = &g, .progress = &progress, .rnd = seed * 31u + 7u};
    plan_kills(&k, RECVS * 9 / 10); /* the last while some remain */
    pthread_t kt;
    assert_int_equal(pthread_create(&kt, NULL, kill_and_restart, &k), 0);

    uint8_t *seen = calloc(RECVS, 1);
    assert_non_null(seen);
    unsigned got = 0, dups = 0, late = 0, errors = 0;
    int64_t last = -1;
    /* Receive until the kills are over and the mailbox is empty. */
    for (;;) {
        uint32_t v;
        ssize_t n = mbx_recv(remote, &v, sizeof(v), NULL, 1000000000ll);
        if (n == sizeof(v)) {
            assert_true(v < RECVS);
            if (seen[v]++) {
                dups++;
            } else {
                if ((int64_t)v > last) /* FIFO, but for the ones put back */
                    last = v;
                else
                    late++;
                got++;
            }
            atomic_fetch_add(&progress, 1);
            if (atomic_load(&progress) % 8 == 0)
                nap_us(200);
            continue;
        }
        if (n != -ETIMEDOUT && n != -ENOTCONN)
            fail_msg("recv: %zd", n);
        errors++;
        if (atomic_load(&k.done) == k.kills)
            break; /* the kills are over and nothing came for a second */
    }
    pthread_join(kt, NULL);
    mbx_close(remote);
    gw_kill(&g);

    unsigned left = 0;
    uint32_t v;
    while (mbx_recv(local, &v, sizeof(v), NULL, 0) == sizeof(v)) {
        assert_true(v < RECVS);
        if (seen[v]++) /* taken remotely and put back by a new gateway */
            dups++;
        left++;
    }
    unsigned lost = 0;
    for (uint32_t i = 0; i < RECVS; i++)
        if (!seen[i] && lost++ < 8)
            print_message("lost: %u\n", i);
    print_message("%d messages, gateway killed %d times under a remote receiver: %u received, "
                  "%u twice, %u out of order, %u left in the mailbox, %u lost with a killed "
                  "gateway, %u receives without a message (seed %u)\n",
                  RECVS, k.kills, got, dups, late, left, lost, errors, seed);
    assert_true(lost <= (unsigned)k.kills);
    assert_true(dups <= (unsigned)k.kills);
    assert_true(late <= (unsigned)k.kills);
    free(seen);
    mbx_close(local);
    mbx_unlink("restart-out");
}

/* ---- a held message across a kill: the journal ---- */

#define HELD_PREFIX ".mbx-held."

/* The journal files in MBX_DIR (not the writers' .lock files): how many;
 * the first one's name in first (when not NULL). */
static int journals(char *first, size_t cap)
{
    DIR *d = opendir(test_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, HELD_PREFIX, strlen(HELD_PREFIX)) == 0 &&
            !strstr(e->d_name, ".lock")) {
            if (n++ == 0 && first)
                snprintf(first, cap, "%s", e->d_name);
        }
    closedir(d);
    return n;
}

static uint32_t queued(const char *box)
{
    mbx_stat st;
    assert_int_equal(mbx_stat_name(box, &st), 0);
    return st.count;
}

/* Starts a gateway in this process (which puts back what dead ones held)
 * and stops it. */
static void gateway_in_process(void)
{
    const char *const names[] = {"restart-*", NULL};
    mbx_gateway_options o;
    mbx_gateway_options_init(&o);
    o.allow = names;
    mbx_gateway *gw = NULL;
    assert_int_equal(mbx_gateway_start("127.0.0.1:0", &o, &gw), 0);
    assert_int_equal(mbx_gateway_stop(gw), 0);
}

/* Sends one message (priority 3, type 7) to a new mailbox `box`, has a
 * remote receiver ask for it through a link whose answers stall, so the
 * gateway (in g, started here) takes it and cannot deliver it, then kills
 * the gateway (a gateway started before that does not take the live
 * one's journal). Returns the local mailbox. */
static mbx *held_then_killed(const char *box, struct gw *g)
{
    mbx *local = test_box(box, 8, 64, 0);
    assert_int_equal(mbx_send_typed(local, "held-one", 8, 3, 7, 0), 0);
    g->port = 0;
    assert_int_equal(gw_start(g), 0);
    struct tcp_proxy *p = proxy_start(g->port);
    assert_non_null(p);
    mbx *remote = open_remote(proxy_port(p), box, MBX_RECV);
    proxy_oneway(p, 1); /* the gateway's answers stop on the way */
    char buf[64];
    /* Shorter than the link takes to look dead (no reconnect meanwhile). */
    ssize_t n = mbx_recv(remote, buf, sizeof(buf), NULL, 300000000ll);
    assert_true(n < 0);
    /* The gateway took it: it is neither in the mailbox nor delivered. */
    for (int i = 0; i < 1000 && queued(box) != 0; i++)
        nap_us(10000);
    assert_int_equal(queued(box), 0);
    /* A gateway started meanwhile leaves a live one's journal alone. */
    assert_int_equal(journals(NULL, 0), 1);
    gateway_in_process();
    assert_int_equal(queued(box), 0);
    assert_int_equal(journals(NULL, 0), 1);
    gw_kill(g);
    proxy_stop(p); /* the answer held in it is cut, never delivered */
    mbx_close(remote);
    assert_int_equal(queued(box), 0);
    return local;
}

/* The message a gateway killed with SIGKILL had taken for a remote
 * receiver and not delivered is back in its mailbox, with its priority
 * and type, once a new gateway starts on the same MBX_DIR; its journal
 * file is gone then. (Before the journal: lost, count 0.) */
static void held_message_survives_gateway_kill(void **state)
{
    (void)state;
    struct gw g = {0, 0};
    mbx *local = held_then_killed("restart-held", &g);
    assert_int_equal(gw_start(&g), 0); /* puts back what the dead one held */
    for (int i = 0; i < 500 && queued("restart-held") == 0; i++)
        nap_us(10000);
    assert_int_equal(queued("restart-held"), 1);
    char buf[64];
    mbx_msginfo info;
    uint64_t type = 0;
    ssize_t n = mbx_recv_select(local, MBX_SEL_ANY, 0, buf, sizeof(buf), &info, &type, 0);
    assert_int_equal(n, 8);
    assert_memory_equal(buf, "held-one", 8);
    assert_int_equal(info.priority, 3);
    assert_int_equal(type, 7);
    assert_int_equal(journals(NULL, 0), 0);
    gw_kill(&g);
    mbx_close(local);
    mbx_unlink("restart-held");
}

/* The same when the mailbox is full as the next gateway starts (a local
 * sender keeps it so): the message is put back once there is room, while
 * that gateway runs. It waited for a start after that before, which
 * tcp_chaos_test, whose sender keeps its mailbox full, never made. */
static void held_message_put_back_when_room_comes(void **state)
{
    (void)state;
    struct gw g = {0, 0};
    mbx *local = held_then_killed("restart-full", &g);
    int filled = 0;
    while (mbx_send(local, "fill", 4, 0, MBX_NONBLOCK) == 0)
        filled++;
    assert_true(filled > 0);
    assert_int_equal(gw_start(&g), 0); /* finds no room */
    assert_int_equal(journals(NULL, 0), 1);
    char buf[64];
    assert_int_equal(mbx_recv(local, buf, sizeof(buf), NULL, 0), 4); /* room for one */
    for (int i = 0; i < 1000 && journals(NULL, 0) != 0; i++)
        nap_us(10000);
    assert_int_equal(journals(NULL, 0), 0);
    int found = 0;
    for (int i = 0; i < filled; i++) {
        ssize_t n = mbx_recv(local, buf, sizeof(buf), NULL, 0);
        assert_true(n == 4 || n == 8);
        found += n == 8 && memcmp(buf, "held-one", 8) == 0;
    }
    assert_int_equal(found, 1);
    gw_kill(&g);
    mbx_close(local);
    mbx_unlink("restart-full");
}

/* A message the remote receiver had, and acknowledged, is not put back
 * by the next gateway after a kill: the journal holds only what is not
 * delivered. */
static void delivered_not_put_back(void **state)
{
    (void)state;
    mbx *local = test_box("restart-done", 8, 64, 0);
    assert_int_equal(mbx_send(local, "done", 4, 0, 0), 0);
    struct gw g = {0, 0};
    assert_int_equal(gw_start(&g), 0);
    mbx *remote = open_remote(g.port, "restart-done", MBX_RECV);
    char buf[64];
    assert_int_equal(mbx_recv(remote, buf, sizeof(buf), NULL, 10000000000ll), 4);
    /* A request after it: its acknowledgement went first, on that link. */
    assert_int_equal(mbx_recv(remote, buf, sizeof(buf), NULL, MBX_NONBLOCK), -EAGAIN);
    gw_kill(&g);
    mbx_close(remote);
    assert_int_equal(gw_start(&g), 0);
    assert_int_equal(queued("restart-done"), 0);
    gw_kill(&g);
    mbx_close(local);
    mbx_unlink("restart-done");
}

static void write_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

/* What a gateway reads back of a dead one's journal is untrusted: a
 * symlink, a file with two links, garbage, a file longer or shorter than
 * it says, another user's file (as root) are not put back, and left
 * where they are; the same bytes in a plain file of ours are. An empty
 * one is removed. */
static void planted_journals_refused(void **state)
{
    (void)state;
    struct gw g = {0, 0};
    mbx *local = held_then_killed("restart-plant", &g);
    char name[256], path[600], saved[600];
    assert_int_equal(journals(name, sizeof(name)), 1);
    long pid = strtol(name + strlen(HELD_PREFIX), NULL, 10);
    assert_true(pid > 0);
    snprintf(path, sizeof(path), "%s/%s", test_dir, name);
    snprintf(saved, sizeof(saved), "%s/saved", test_dir);
    uint8_t good[4096];
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t len = read(fd, good, sizeof(good));
    close(fd);
    assert_true(len > 8 && len < (ssize_t)sizeof(good));
    assert_int_equal(rename(path, saved), 0);

    char v[8][600];
    int nv = 0;
#define VARIANT()                                                                                  \
    (snprintf(v[nv], sizeof(v[nv]), "%s/" HELD_PREFIX "%ld.%d", test_dir, pid, 901 + nv), v[nv++])
    char copy[600]; /* a symlink's target of one link: only the symlink is wrong */
    snprintf(copy, sizeof(copy), "%s/saved-copy", test_dir);
    write_file(copy, good, (size_t)len);
    assert_int_equal(symlink(copy, VARIANT()), 0);
    assert_int_equal(link(saved, VARIANT()), 0);
    uint8_t junk[200];
    memset(junk, 'x', sizeof(junk));
    write_file(VARIANT(), junk, sizeof(junk));
    uint8_t *longer = calloc(1, (size_t)len + (1u << 20));
    assert_non_null(longer);
    memcpy(longer, good, (size_t)len);
    write_file(VARIANT(), longer, (size_t)len + (1u << 20));
    free(longer);
    write_file(VARIANT(), good, (size_t)len - 1);
    if (geteuid() == 0) {
        const char *other = VARIANT();
        write_file(other, good, (size_t)len);
        assert_int_equal(chown(other, 65534, 65534), 0);
    }
#undef VARIANT
    /* An empty one holds nothing (made ahead of a receive): removed. */
    char empty[600];
    snprintf(empty, sizeof(empty), "%s/" HELD_PREFIX "%ld.999", test_dir, pid);
    write_file(empty, good, 0);
    gateway_in_process();
    assert_int_equal(access(empty, F_OK), -1);
    assert_int_equal(queued("restart-plant"), 0);
    for (int i = 0; i < nv; i++) {
        struct stat st;
        assert_int_equal(lstat(v[i], &st), 0); /* left */
    }

    /* The same bytes, a plain file of ours: put back, then removed. */
    write_file(path, good, (size_t)len);
    gateway_in_process();
    assert_int_equal(queued("restart-plant"), 1);
    assert_int_equal(access(path, F_OK), -1);
    print_message("planted journals: %d refused and left, the genuine one put back\n", nv);
    mbx_close(local);
    mbx_unlink("restart-plant");
}

/* ---- a signal while the gateway is gone ---- */

static void on_usr1(int sig)
{
    (void)sig;
}

enum { W_RECEIVE, W_CALL, W_SEND };
static const char *const waits[] = {"receive", "call", "send"};

struct waiter {
    mbx *remote;
    int what;           /* W_* */
    atomic_int started; /* about to block */
    _Atomic ssize_t result[2];
    atomic_int done; /* results stored */
};

static void *wait_main(void *arg)
{
    struct waiter *w = arg;
    char buf[64];
    atomic_store(&w->started, 1);
    ssize_t n = 0;
    if (w->what == W_CALL)
        n = mbx_call(w->remote, "q", 1, 0, buf, sizeof(buf), MBX_FOREVER);
    else if (w->what == W_RECEIVE)
        n = mbx_recv(w->remote, buf, sizeof(buf), NULL, MBX_FOREVER);
    else /* pipelined until credit is waited for (a link made again) */
        for (int i = 0; i < 1000 && n == 0; i++)
            n = mbx_send(w->remote, "s", 1, 0, MBX_FOREVER);
    atomic_store(&w->result[0], n);
    atomic_store(&w->done, 1);
    if (w->what == W_SEND && n == -EINTR) {
        /* The link is down now: the next send waits for it first. */
        atomic_store(&w->result[1], mbx_send(w->remote, "s", 1, 0, MBX_FOREVER));
        atomic_store(&w->done, 2);
    }
    return NULL;
}

/* A listener on 127.0.0.1:port (the dead gateway's) that takes connections
 * and never says a word: a gateway that hangs (stopped, swapped out), or a
 * host whose replies are lost. */
static int mute_listener(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = -1;
    for (int i = 0; i < 100 && r != 0; i++) {
        r = bind(fd, (struct sockaddr *)&a, sizeof(a));
        if (r)
            nap_us(50000);
    }
    assert_int_equal(r, 0);
    assert_int_equal(listen(fd, 16), 0);
    return fd;
}

/* A receive, a call or a send with no timeout whose gateway is gone, a
 * signal handler (with and without SA_RESTART) running on its thread
 * while it makes the link again: it returns -EINTR, as a local one does
 * (a send: one that waits for room). The handler here runs while the
 * client waits for a gateway that took the connection and says nothing
 * (its HELLO). Before, for a receive or a call only a handler that cut
 * the pause between two tries short ended the wait; one that ran while a
 * try was under way (up to 5 s each, against a hung gateway or a host
 * that drops the packets) was lost, and the wait went on for ever; a send
 * went on through every signal. */
static void signal_ends_wait_while_gateway_down(void **state)
{
    (void)state;
    mbx *local = test_box("restart-intr", 8, 64, 0);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    for (int round = 0; round < 6; round++) {
        sa.sa_flags = round & 1 ? SA_RESTART : 0;
        assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
        struct gw g = {0, 0};
        assert_int_equal(gw_start(&g), 0);
        struct waiter w = {.remote = open_remote(g.port, "restart-intr", MBX_SEND | MBX_RECV),
                           .what = round / 2};
        gw_kill(&g);
        int lfd = mute_listener(g.port);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, wait_main, &w), 0);
        while (!atomic_load(&w.started))
            nap_us(1000);
        /* A send waits twice: for credit, then for the link. */
        int phases = w.what == W_SEND ? 2 : 1, done = 0, c[2] = {-1, -1};
        for (int k = 0; k < phases && done == k; k++) {
            /* The client's try at the link: it waits for the HELLO now. */
            struct pollfd pf = {lfd, POLLIN, 0};
            assert_int_equal(poll(&pf, 1, 20000), 1);
            c[k] = accept(lfd, NULL, NULL);
            assert_true(c[k] >= 0);
            nap_us(100000);
            pthread_kill(t, SIGUSR1);
            /* Generous: the point is that it returns, not how soon. */
            for (int i = 0; i < 1000 && atomic_load(&w.done) == k; i++)
                nap_us(10000);
            done = atomic_load(&w.done);
        }
        /* Unblock it either way (the close wakes it with -EBADF), and let
         * the close deliver what was sent (to a gateway there again). */
        for (int k = 0; k < 2; k++)
            if (c[k] >= 0)
                close(c[k]);
        close(lfd);
        assert_int_equal(gw_start(&g), 0);
        mbx_close(w.remote);
        pthread_join(t, NULL);
        gw_kill(&g);
        char buf[64];
        while (mbx_recv(local, buf, sizeof(buf), NULL, MBX_NONBLOCK) >= 0)
            ;
        sigaction(SIGUSR1, &old, NULL);
        for (int k = 0; k < phases; k++) {
            ssize_t n = atomic_load(&w.result[k]);
            print_message("%s%s, %s: %s %zd\n", waits[w.what], k ? " (no link)" : "",
                          sa.sa_flags ? "SA_RESTART" : "no SA_RESTART",
                          done > k ? "returned" : "still waiting after 10 s, after the close:", n);
            assert_true(done > k);
            assert_int_equal(n, -EINTR);
        }
    }
    mbx_close(local);
    mbx_unlink("restart-intr");
}

/* ---- a dead writer's lock file whose name a live one took ---- */

/* Removes the journal and lock files the tests before left (refused
 * plants, killed gateways' empty journals): no gateway runs now. */
static void journals_remove(void)
{
    DIR *d = opendir(test_dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, HELD_PREFIX, strlen(HELD_PREFIX)) == 0)
            assert_int_equal(unlinkat(dirfd(d), e->d_name, 0), 0);
    closedir(d);
}

/* Exchanges the lock file `lock` and `tmp` (held by a live writer) at the
 * first open of it fanotify reports, while that open waits: a first
 * recoverer finished and removed the dead writer's lock file, and a new
 * gateway that got the dead one's pid made its own. The dead one's file
 * goes on under the name `tmp`, with one link: as if it had been
 * unlinked only after the recoverer checked its links (fstat), which
 * fanotify cannot hold it at. */
struct swap {
    int fan;
    char lock[600], tmp[600];
    atomic_int moved, stop;
};

static void *swap_main(void *arg)
{
    struct swap *w = arg;
    while (!atomic_load(&w->stop)) {
        struct pollfd p = {w->fan, POLLIN, 0};
        if (poll(&p, 1, 100) != 1)
            continue;
        char buf[4096];
        ssize_t n = read(w->fan, buf, sizeof(buf));
        struct fanotify_event_metadata *md = (void *)buf;
        for (; n > 0 && FAN_EVENT_OK(md, n); md = FAN_EVENT_NEXT(md, n)) {
            if (!atomic_load(&w->moved))
                atomic_store(&w->moved,
                             renameat2(AT_FDCWD, w->tmp, AT_FDCWD, w->lock, RENAME_EXCHANGE) == 0);
            struct fanotify_response r = {md->fd, FAN_ALLOW};
            if (write(w->fan, &r, sizeof(r)) != (ssize_t)sizeof(r))
                abort();
            close(md->fd);
        }
    }
    return NULL;
}

/* Runs a recovery (a gateway started here) while w's lock file is
 * exchanged for the live writer's `live` at the recoverer's open of it.
 * Returns whether the name then still is the live writer's file. */
static int recover_while_swapped(struct swap *w, int live)
{
    struct stat st, live_st;
    assert_int_equal(fstat(live, &live_st), 0);
    atomic_store(&w->moved, 0);
    atomic_store(&w->stop, 0);
    assert_int_equal(fanotify_mark(w->fan, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, w->lock), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, swap_main, w), 0);
    gateway_in_process();
    atomic_store(&w->stop, 1);
    pthread_join(t, NULL);
    unlink(w->tmp); /* the dead writer's */
    return stat(w->lock, &st) == 0 && st.st_ino == live_st.st_ino && st.st_dev == live_st.st_dev;
}

/* A lock file, held shared as a writer holds its own, at `path`. */
static int live_lock(const char *path)
{
    int live = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(live >= 0);
    assert_int_equal(flock(live, LOCK_SH), 0);
    return live;
}

/* A recoverer that judged a writer dead by its lock file, and took the
 * lock after the name had been given to a live writer's lock file (the
 * one it opened was unlinked by another recoverer meanwhile, and a new
 * gateway of that pid, in another pid namespace, made its own), went on
 * as if the live writer were dead: it put back the messages the live one
 * still held (delivered twice: by the gateway that holds it, and from the
 * mailbox), or, when none was left, removed the live one's lock file (its
 * journals then looked dead to everyone, and were put back while it held
 * them). The recoverer is held in its open of the dead writer's lock file
 * (fanotify) while the name is replaced. Now the live writer's journal
 * and lock file stay, and its message is put back once it is gone. Root
 * only. */
static void recovery_leaves_a_live_lock_that_took_a_dead_ones_name(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        printf("skipped: needs root (fanotify, to hold the recoverer in its open)\n");
        skip();
    }
    struct swap w = {.fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC)};
    if (w.fan < 0) {
        printf("skipped: no fanotify permission events here (%s)\n", strerror(errno));
        skip();
    }
    journals_remove();
    struct gw g = {0, 0};
    mbx *local = held_then_killed("restart-swap", &g);
    char name[256];
    assert_int_equal(journals(name, sizeof(name)), 1);
    long pid = strtol(name + strlen(HELD_PREFIX), NULL, 10);
    assert_true(pid > 0);
    snprintf(w.lock, sizeof(w.lock), "%s/" HELD_PREFIX "%ld.lock", test_dir, pid);
    snprintf(w.tmp, sizeof(w.tmp), "%s/live-lock", test_dir);
    struct stat st;
    assert_int_equal(stat(w.lock, &st), 0); /* the dead writer's */

    /* A journal of the live writer's. */
    int live = live_lock(w.tmp);
    int kept = recover_while_swapped(&w, live);
    int moved = atomic_load(&w.moved);
    uint32_t back_alive = queued("restart-swap");
    int left = journals(NULL, 0);
    close(live); /* the live writer is gone now too */
    unlink(w.lock);
    gateway_in_process();
    uint32_t back_dead = queued("restart-swap");

    /* None: the name is what the recoverer would remove. */
    int dead = open(w.lock, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(dead >= 0);
    close(dead);
    live = live_lock(w.tmp);
    int kept_lone = recover_while_swapped(&w, live);
    int moved_lone = atomic_load(&w.moved);
    close(live);
    unlink(w.lock);
    close(w.fan);
    mbx_close(local);
    mbx_unlink("restart-swap");
    print_message("live writer's: %u put back, %d journal left, lock file %s; once gone: %u put "
                  "back; its lock file alone %s\n",
                  back_alive, left, kept ? "kept" : "removed", back_dead,
                  kept_lone ? "kept" : "removed");
    assert_true(moved && moved_lone);
    assert_int_equal(back_alive, 0);
    assert_int_equal(left, 1);
    assert_true(kept);
    assert_int_equal(back_dead, 1);
    assert_true(kept_lone);
}

/* ---- a dead gateway's forked child ---- */

/* The gateway's process for held_message_put_back_while_dead_gateways_child_lives:
 * as gateway_process_main, but once the gateway runs it forks a child
 * that sleeps (a user's program with a gateway in it that forks) until
 * the test is gone, 60 s at most, and writes its pid to file
 * `child_file`. */
static int gateway_forking_main(const char *port, int report, const char *child_file)
{
    const char *const names[] = {"restart-*", NULL};
    mbx_gateway_options o;
    mbx_gateway_options_init(&o);
    o.allow = names;
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%s", port);
    pid_t parent = getppid();
    mbx_gateway *g = NULL;
    int r = mbx_gateway_start(addr, &o, &g);
    if (r == 0) {
        pid_t c = fork();
        if (c == 0) {
            for (int i = 0; i < 600 && kill(parent, 0) == 0; i++)
                usleep(100000);
            _exit(0);
        }
        FILE *f = fopen(child_file, "w");
        if (c < 0 || !f || fprintf(f, "%d\n", (int)c) < 0 || fclose(f))
            r = -EIO;
    }
    int v = r ? r : mbx_gateway_port(g);
    if (write(report, &v, sizeof(v)) != sizeof(v) || r)
        return 1;
    close(report);
    while (getppid() == parent)
        usleep(100000);
    mbx_gateway_stop(g);
    return 0;
}

/* A gateway killed with SIGKILL whose process had forked (a child that
 * lives on): the message it held is put back by the next gateway while
 * the child lives. The child had the dead gateway's lock file open (a
 * flock belongs to the open file, which a fork shares), so its journals
 * looked alive, and were left, for as long as the child lived. */
static void held_message_put_back_while_dead_gateways_child_lives(void **state)
{
    (void)state;
    char file[600];
    snprintf(file, sizeof(file), "%s/fork-child", test_dir);
    journals_remove();
    setenv("RESTART_FORK_CHILD", file, 1);
    struct gw g = {0, 0};
    mbx *local = held_then_killed("restart-fork", &g);
    unsetenv("RESTART_FORK_CHILD");
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    int child = 0;
    assert_int_equal(fscanf(f, "%d", &child), 1);
    fclose(f);
    unlink(file);
    assert_true(child > 0);
    assert_int_equal(kill(child, 0), 0);
    gateway_in_process();
    uint32_t back = queued("restart-fork");
    int lives = kill(child, 0) == 0, left = journals(NULL, 0);
    kill(child, SIGKILL);
    mbx_close(local);
    mbx_unlink("restart-fork");
    print_message("the dead gateway's child %s: %u put back, %d journal left\n",
                  lives ? "alive" : "gone", back, left);
    assert_true(lives);
    assert_int_equal(back, 1);
    assert_int_equal(left, 0);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "gateway") == 0) {
        if (getenv("RESTART_FORK_CHILD"))
            return gateway_forking_main(argv[2], atoi(argv[3]), getenv("RESTART_FORK_CHILD"));
        return gateway_process_main("restart-*", argv[2], atoi(argv[3]), 0);
    }
    signal(SIGPIPE, SIG_IGN);
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
    if (n <= 0)
        return 1;
    self_exe[n] = 0;
    const char *s = getenv("MBX_RESTART_SEED");
    seed = s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
    if (getenv("TEST_ONLY")) /* TEST_ONLY=signal_ends_wait_*: that test alone */
        cmocka_set_test_filter(getenv("TEST_ONLY"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sends_survive_gateway_kills),
        cmocka_unit_test(receiver_across_gateway_kills),
        cmocka_unit_test(held_message_survives_gateway_kill),
        cmocka_unit_test(held_message_put_back_when_room_comes),
        cmocka_unit_test(planted_journals_refused),
        cmocka_unit_test(delivered_not_put_back),
        cmocka_unit_test(signal_ends_wait_while_gateway_down),
        cmocka_unit_test(recovery_leaves_a_live_lock_that_took_a_dead_ones_name),
        cmocka_unit_test(held_message_put_back_while_dead_gateways_child_lives),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
