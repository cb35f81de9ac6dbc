/* Tests src/api.c and src/stat.c through the public header: every function
 * and every error path the contract names. */
#include "test_util.h"

#include "mbx.h"

#include <errno.h>
#include <limits.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static mbx *make(const char *name, uint32_t capacity, uint64_t max_size)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = capacity;
    a.max_msg_size = max_size;
    mbx *m = NULL;
    assert_int_equal(mbx_open(name, MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL, &a, &m), 0);
    return m;
}

static void drop(mbx *m, const char *name)
{
    assert_int_equal(mbx_close(m), 0);
    assert_int_equal(mbx_unlink(name), 0);
}

static void attr_defaults(void **state)
{
    (void)state;
    mbx_attr a;
    memset(&a, 0xff, sizeof(a));
    mbx_attr_init(&a);
    assert_int_equal(a.max_msg_size, 8192);
    assert_int_equal(a.capacity, 64);
    assert_int_equal(a.recv_policy, MBX_RECV_ANY);
    assert_int_equal(a.mode, 0600);
    assert_int_equal(a.memory_limit, 1ull << 30);
    mbx_attr_init(NULL);
}

/* The other _init functions take NULL as mbx_attr_init does: they wrote
 * through it (a crash). */
static void options_init_accepts_null(void **state)
{
    (void)state;
    mbx_gateway_options_init(NULL);
    mbx_bridge_options_init(NULL);
    mbx_gateway_options g;
    memset(&g, 0xff, sizeof(g));
    mbx_gateway_options_init(&g);
    assert_int_equal(g.size, sizeof(g));
    mbx_bridge_options b;
    memset(&b, 0xff, sizeof(b));
    mbx_bridge_options_init(&b);
    assert_int_equal(b.size, sizeof(b));
}

static void strerror_names_everything(void **state)
{
    (void)state;
    assert_string_equal(mbx_strerror(-ENOENT), "no such mailbox");
    assert_string_equal(mbx_strerror(ENOENT), "no such mailbox");
    assert_string_equal(mbx_strerror(-EIDRM), "mailbox was removed");
    assert_string_equal(mbx_strerror(-EUCLEAN), "mailbox is corrupted");
    assert_string_equal(mbx_strerror(0), "success");
    /* tcp:// is served now: the text names what the error still means. */
    assert_non_null(strstr(mbx_strerror(-EPROTONOSUPPORT), "unknown scheme"));
    /* Values it does not name: the system's text, for the positive value. */
    assert_string_equal(mbx_strerror(-EIO), strerror(EIO));
    char unknown[64];
    snprintf(unknown, sizeof(unknown), "%s", mbx_strerror(-99999));
    assert_non_null(strstr(unknown, "99999"));
    assert_null(strstr(unknown, "-99999"));
    /* A known errno's text stays valid after later calls (it came from
     * strerror, whose buffer the next call freed: a review's ASan run). */
    const char *io = mbx_strerror(-EIO);
    (void)mbx_strerror(-99998);
    (void)mbx_strerror(-99997);
    assert_string_equal(io, strerror(EIO));
    /* The most negative int has no positive value: no undefined negation,
     * and the number it names is its magnitude (a review's UBSan run). */
    assert_non_null(strstr(mbx_strerror(INT_MIN), "2147483648"));
    assert_null(strstr(mbx_strerror(INT_MIN), "-"));
}

static void open_argument_errors(void **state)
{
    (void)state;
    mbx *m = NULL;
    mbx_attr a;
    assert_int_equal(mbx_open("x", MBX_SEND, NULL, NULL), -EINVAL);
    assert_int_equal(mbx_open(NULL, MBX_SEND, NULL, &m), -EINVAL);
    assert_int_equal(mbx_open("", MBX_SEND, NULL, &m), -EINVAL);
    assert_int_equal(mbx_open("a/b", MBX_SEND, NULL, &m), -EINVAL);
    assert_int_equal(mbx_open(".x", MBX_SEND, NULL, &m), -EINVAL);
    assert_int_equal(mbx_open("xyz://h:1/x", MBX_SEND, NULL, &m), -EPROTONOSUPPORT);
    char big[300];
    memset(big, 'a', 299);
    big[299] = 0;
    assert_int_equal(mbx_open(big, MBX_SEND, NULL, &m), -ENAMETOOLONG);
    assert_int_equal(mbx_open("x", 0, NULL, &m), -EINVAL);
    assert_int_equal(mbx_open("x", MBX_CREATE, NULL, &m), -EINVAL);
    assert_int_equal(mbx_open("x", MBX_SEND | 0x4000, NULL, &m), -EINVAL);
    assert_int_equal(mbx_open("x", MBX_SEND | MBX_EXCL, NULL, &m), -EINVAL);
    assert_int_equal(mbx_open("missing", MBX_SEND, NULL, &m), -ENOENT);

    int flags = MBX_SEND | MBX_CREATE;
    mbx_attr_init(&a);
    a.max_msg_size = 0;
    assert_int_equal(mbx_open("x", flags, &a, &m), -EINVAL);
    a.max_msg_size = (1ull << 30) + 1;
    assert_int_equal(mbx_open("x", flags, &a, &m), -EINVAL);
    mbx_attr_init(&a);
    a.capacity = (1u << 31) + 1;
    assert_int_equal(mbx_open("x", flags, &a, &m), -EINVAL);
    mbx_attr_init(&a);
    a.recv_policy = MBX_RECV_PAIR + 1; /* no such policy */
    assert_int_equal(mbx_open("x", flags, &a, &m), -EINVAL);
    mbx_attr_init(&a);
    a.mode = 01000;
    assert_int_equal(mbx_open("x", flags, &a, &m), -EINVAL);
    mbx_attr_init(&a);
    a.memory_limit = 10;
    assert_int_equal(mbx_open("x", flags, &a, &m), -EINVAL);
    /* Nothing was left behind by the failures. */
    assert_int_equal(test_dir_count(), 0);
    assert_null(m);
}

static void create_exclusive_and_reopen(void **state)
{
    (void)state;
    mbx *m = make("q", 5, 100), *again = NULL;
    mbx_attr a;
    mbx_attr_init(&a);
    assert_int_equal(mbx_open("q", MBX_SEND | MBX_CREATE | MBX_EXCL, &a, &again), -EEXIST);
    /* MBX_CREATE on an existing mailbox opens it as it is. */
    a.capacity = 77;
    assert_int_equal(mbx_open("q", MBX_SEND | MBX_CREATE, &a, &again), 0);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(again, &st), 0);
    assert_int_equal(st.capacity, 5);
    assert_int_equal(st.max_msg_size, 100);
    assert_int_equal(mbx_close(again), 0);
    assert_int_equal(mbx_close(NULL), -EINVAL);
    drop(m, "q");
    assert_int_equal(test_dir_count(), 0);
}

static void send_recv_roundtrip(void **state)
{
    (void)state;
    mbx *m = make("rt", 8, 100);
    unsigned char msg[100], buf[200];
    for (int i = 0; i < 100; i++)
        msg[i] = (unsigned char)(i * 3);
    assert_int_equal(mbx_send(m, msg, 100, 7, MBX_NONBLOCK), 0);
    assert_int_equal(mbx_send(m, NULL, 0, 7, MBX_NONBLOCK), 0);
    mbx_msginfo info;
    memset(&info, 0xff, sizeof(info));
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), &info, MBX_NONBLOCK), 100);
    assert_memory_equal(buf, msg, 100);
    assert_int_equal(info.size, 100);
    assert_int_equal(info.priority, 7);
    assert_int_equal(info.sender_pid, getpid());
    assert_int_equal(info.sender_uid, geteuid());
    assert_int_equal(info.seq, 1);
    assert_int_equal(info.reply_token, 0);
    assert_int_equal(mbx_recv(m, NULL, 0, &info, MBX_NONBLOCK), 0);
    assert_int_equal(info.seq, 2);
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK), -EAGAIN);
    drop(m, "rt");
}

static void send_recv_argument_errors(void **state)
{
    (void)state;
    mbx *m = make("args", 4, 16), *tx = NULL, *rx = NULL;
    char buf[32] = "0123456789abcdefXYZ";
    assert_int_equal(mbx_open("args", MBX_SEND, NULL, &tx), 0);
    assert_int_equal(mbx_open("args", MBX_RECV, NULL, &rx), 0);
    assert_int_equal(mbx_send(NULL, buf, 1, 0, 0), -EINVAL);
    assert_int_equal(mbx_send(rx, buf, 1, 0, 0), -EBADF);
    assert_int_equal(mbx_send(tx, buf, 1, MBX_PRIO_MAX, 0), -EINVAL);
    assert_int_equal(mbx_send(tx, NULL, 1, 0, 0), -EINVAL);
    assert_int_equal(mbx_send(tx, buf, 1, 0, -2), -EINVAL);
    assert_int_equal(mbx_send(tx, buf, 17, 0, 0), -EMSGSIZE);
    assert_int_equal(mbx_recv(NULL, buf, 1, NULL, 0), -EINVAL);
    assert_int_equal(mbx_recv(tx, buf, 1, NULL, 0), -EBADF);
    assert_int_equal(mbx_recv(rx, NULL, 5, NULL, 0), -EINVAL);
    assert_int_equal(mbx_recv(rx, buf, 5, NULL, -7), -EINVAL);
    assert_int_equal(mbx_recv_from(rx, 0, buf, 5, NULL, 0), -EINVAL);
    assert_int_equal(mbx_set_spin(NULL, 0), -EINVAL);
    assert_int_equal(mbx_set_spin(rx, -2), -EINVAL);
    assert_int_equal(mbx_set_spin(rx, 0), 0);
    /* None of the bad calls queued anything. */
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    assert_int_equal(st.count, 0);
    assert_int_equal(st.sent_total, 0);

    /* Too small a buffer: -EMSGSIZE, info says the size, message stays. */
    assert_int_equal(mbx_send(tx, buf, 16, 0, 0), 0);
    mbx_msginfo info;
    assert_int_equal(mbx_recv(rx, buf, 15, &info, 0), -EMSGSIZE);
    assert_int_equal(info.size, 16);
    assert_int_equal(mbx_recv(rx, buf, 15, NULL, 0), -EMSGSIZE);
    assert_int_equal(mbx_recv(rx, buf, 16, NULL, 0), 16);
    assert_memory_equal(buf, "0123456789abcdef", 16);
    mbx_close(tx);
    mbx_close(rx);
    drop(m, "args");
}

static void priorities_then_fifo(void **state)
{
    (void)state;
    mbx *m = make("prio", 100, 8);
    unsigned prios[] = {0, 5, 5, 32767, 1, 5, 0};
    for (unsigned i = 0; i < 7; i++)
        assert_int_equal(mbx_send(m, &i, sizeof(i), prios[i], 0), 0);
    unsigned want[] = {3, 1, 2, 5, 4, 0, 6};
    for (unsigned i = 0; i < 7; i++) {
        unsigned got;
        assert_int_equal(mbx_recv(m, &got, sizeof(got), NULL, 0), sizeof(got));
        assert_int_equal(got, want[i]);
    }
    drop(m, "prio");
}

static void full_and_empty_wait_then_give_up(void **state)
{
    (void)state;
    mbx *m = make("full", 2, 8);
    char c = 'x';
    assert_int_equal(mbx_send(m, &c, 1, 0, 0), 0);
    assert_int_equal(mbx_send(m, &c, 1, 0, 0), 0);
    assert_int_equal(mbx_send(m, &c, 1, 0, MBX_NONBLOCK), -EAGAIN);
    int64_t t0 = now_ns();
    assert_int_equal(mbx_send(m, &c, 1, 0, 30000000), -ETIMEDOUT);
    assert_true(now_ns() - t0 >= 30000000);
    assert_int_equal(mbx_recv(m, &c, 1, NULL, 0), 1);
    assert_int_equal(mbx_recv(m, &c, 1, NULL, 0), 1);
    t0 = now_ns();
    assert_int_equal(mbx_recv(m, &c, 1, NULL, 30000000), -ETIMEDOUT);
    assert_true(now_ns() - t0 >= 30000000);
    /* Sleep-only waiting gives up the same way. */
    assert_int_equal(mbx_set_spin(m, 0), 0);
    assert_int_equal(mbx_recv(m, &c, 1, NULL, 10000000), -ETIMEDOUT);
    assert_int_equal(mbx_set_spin(m, MBX_FOREVER), 0);
    assert_int_equal(mbx_recv(m, &c, 1, NULL, 10000000), -ETIMEDOUT);
    drop(m, "full");
}

static void on_signal(int sig)
{
    (void)sig;
}

struct kick {
    pthread_t target;
    int64_t delay_ns;
};

static void *kicker(void *arg)
{
    struct kick *k = arg;
    struct timespec ts = {0, k->delay_ns};
    nanosleep(&ts, NULL);
    pthread_kill(k->target, SIGUSR1);
    return NULL;
}

/* A handler interrupts a blocked receive, with or without SA_RESTART. */
static void signal_interrupts_wait(void **state)
{
    (void)state;
    mbx *m = make("intr", 2, 8);
    assert_int_equal(mbx_set_spin(m, 0), 0);
    int flags[] = {0, SA_RESTART};
    for (int i = 0; i < 2; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sa.sa_flags = flags[i];
        sigaction(SIGUSR1, &sa, NULL);
        struct kick k = {pthread_self(), 50000000};
        pthread_t t;
        pthread_create(&t, NULL, kicker, &k);
        char c;
        assert_int_equal(mbx_recv(m, &c, 1, NULL, MBX_FOREVER), -EINTR);
        pthread_join(t, NULL);
    }
    signal(SIGUSR1, SIG_DFL);
    drop(m, "intr");
}

struct blocked {
    mbx *m;
    int send; /* 1: block in send on a full mailbox; 0: in recv */
    ssize_t result;
};

static void *block_forever(void *arg)
{
    struct blocked *b = arg;
    char c = 0;
    b->result =
        b->send ? mbx_send(b->m, &c, 1, 0, MBX_FOREVER) : mbx_recv(b->m, &c, 1, NULL, MBX_FOREVER);
    return NULL;
}

static void unlink_wakes_everyone(void **state)
{
    (void)state;
    mbx *full = make("u1", 1, 8), *empty = make("u2", 1, 8);
    char c = 0;
    assert_int_equal(mbx_send(full, &c, 1, 0, 0), 0);
    struct blocked bs = {full, 1, 0}, br = {empty, 0, 0};
    pthread_t ts, tr;
    pthread_create(&ts, NULL, block_forever, &bs);
    pthread_create(&tr, NULL, block_forever, &br);
    struct timespec wait = {0, 100000000};
    nanosleep(&wait, NULL);
    assert_int_equal(mbx_unlink("u1"), 0);
    assert_int_equal(mbx_unlink("u2"), 0);
    pthread_join(ts, NULL);
    pthread_join(tr, NULL);
    assert_int_equal(bs.result, -EIDRM);
    assert_int_equal(br.result, -EIDRM);
    /* Later calls on the old handles, too. */
    assert_int_equal(mbx_send(empty, &c, 1, 0, 0), -EIDRM);
    assert_int_equal(mbx_recv(full, &c, 1, NULL, 0), -EIDRM);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(full, &st), -EIDRM);
    assert_int_equal(mbx_sync(full), -EIDRM);
    assert_int_equal(mbx_unlink("u1"), -ENOENT);
    assert_int_equal(mbx_unlink("bad/name"), -EINVAL);
    /* The name is free again: a new, empty mailbox. */
    mbx *fresh = make("u1", 1, 8);
    assert_int_equal(mbx_recv(fresh, &c, 1, NULL, 0), -EAGAIN);
    drop(fresh, "u1");
    mbx_close(full);
    mbx_close(empty);
    assert_int_equal(test_dir_count(), 0);
}

static void stat_reports_state(void **state)
{
    (void)state;
    mbx *m = make("st", 10, 300);
    char buf[300] = {0};
    assert_int_equal(mbx_send(m, buf, 100, 1, 0), 0);
    assert_int_equal(mbx_send(m, buf, 50, 1, 0), 0);
    assert_int_equal(mbx_send(m, buf, 7, 1, 0), 0);
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), 100);
    mbx_stat st, byname;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    assert_string_equal(st.name, "st");
    assert_int_equal(st.count, 2);
    assert_int_equal(st.bytes, 57);
    assert_int_equal(st.sent_total, 3);
    assert_int_equal(st.received_total, 1);
    assert_int_equal(st.capacity, 10);
    assert_int_equal(st.max_msg_size, 300);
    assert_int_equal(st.mode, 0600);
    assert_int_equal(st.uid, geteuid());
    assert_int_equal(st.owner_pid, 0);
    assert_int_equal(st.flags, 0);
    assert_int_equal(mbx_stat_name("st", &byname), 0);
    assert_memory_equal(&st, &byname, sizeof(st));
    assert_int_equal(mbx_stat_name("nope", &byname), -ENOENT);
    assert_int_equal(mbx_stat_name("st", NULL), -EINVAL);
    assert_int_equal(mbx_stat_name("b/d", &byname), -EINVAL);
    assert_int_equal(mbx_stat_get(NULL, &st), -EINVAL);
    drop(m, "st");
}

struct seen {
    int n;
    char names[8][16];
};

static int collect(const char *name, void *arg)
{
    struct seen *s = arg;
    if (s->n < 8)
        snprintf(s->names[s->n], 16, "%s", name);
    s->n++;
    return 0;
}

static int stop_at_second(const char *name, void *arg)
{
    (void)name;
    return ++*(int *)arg == 2 ? 42 : 0;
}

static int has(struct seen *s, const char *name)
{
    for (int i = 0; i < s->n && i < 8; i++)
        if (!strcmp(s->names[i], name))
            return 1;
    return 0;
}

static void foreach_lists_mailboxes(void **state)
{
    (void)state;
    mbx *a = make("fa", 1, 8), *b = make("fb", 1, 8), *c = make("fc", 1, 8);
    /* Another process with its own mailbox ("@PID", no file here) is not
     * listed: only $MBX_DIR's (it was, and a listing changed with whatever
     * else the user ran). */
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t p = fork();
    if (p == 0) {
        mbx *self;
        if (mbx_self(&self) || write(ready[1], "r", 1) != 1)
            _exit(2);
        test_await_kill();
    }
    assert_true(test_read_ready(ready[0]));
    struct seen s = {0};
    assert_int_equal(mbx_foreach(collect, &s), 0);
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    close(ready[0]), close(ready[1]);
    assert_int_equal(s.n, 3);
    assert_true(has(&s, "fa") && has(&s, "fb") && has(&s, "fc"));
    int calls = 0;
    assert_int_equal(mbx_foreach(stop_at_second, &calls), 42);
    assert_int_equal(calls, 2);
    assert_int_equal(mbx_foreach(NULL, NULL), -EINVAL);
    drop(a, "fa");
    drop(b, "fb");
    drop(c, "fc");
}

/* A mailbox's capacity counts messages of any sizes: with messages of
 * mixed sizes coming and going, a send of the largest size always finds
 * room while fewer than the capacity are queued. A heap mailbox gave
 * each message a block of its own size, and mixed sizes fragmented the
 * arena: a largest send said -EAGAIN below the capacity (a review found
 * it through libmbx-mq: a queue of 2 x 8192 holding one 5000-byte message
 * refused an 8192-byte one). */
static void mixed_sizes_fill_the_capacity(void **state)
{
    (void)state;
    enum { CAP = 8, MAX = 8192 };
    mbx *m = make("mixed", CAP, MAX);
    static unsigned char buf[MAX];
    uint32_t seed = 12345, queued = 0;
    for (int round = 0; round < 300; round++) {
        /* Fill to the capacity, the last one of the largest size. */
        while (queued < CAP) {
            seed = seed * 1103515245u + 12345u;
            size_t len = queued == CAP - 1 ? MAX : 1 + (seed >> 8) % MAX;
            memset(buf, (int)(round + queued), len);
            assert_int_equal(mbx_send(m, buf, len, 0, MBX_NONBLOCK), 0);
            queued++;
        }
        assert_int_equal(mbx_send(m, buf, 1, 0, MBX_NONBLOCK), -EAGAIN); /* full */
        /* Take some (at least one) back. */
        seed = seed * 1103515245u + 12345u;
        for (uint32_t k = 1 + (seed >> 8) % CAP; k > 0; k--, queued--)
            assert_true(mbx_recv(m, buf, sizeof(buf), NULL, MBX_NONBLOCK) > 0);
    }
    drop(m, "mixed");
}

/* A mailbox in a disk directory is a plain file and survives its users. */
static void durable_on_disk(void **state)
{
    (void)state;
    char dir[] = "/tmp/mbx-disk-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *saved = strdup(getenv("MBX_DIR"));
    setenv("MBX_DIR", dir, 1);
    mbx *m = make("jobs", 16, 64);
    for (int i = 0; i < 10; i++)
        assert_int_equal(mbx_send(m, &i, sizeof(i), (unsigned)i % 3, 0), 0);
    assert_int_equal(mbx_sync(m), 0);
    assert_int_equal(mbx_sync(NULL), -EINVAL);
    assert_int_equal(mbx_close(m), 0);
    assert_int_equal(mbx_open("jobs", MBX_RECV, NULL, &m), 0);
    int n = 0, v;
    while (mbx_recv(m, &v, sizeof(v), NULL, 0) == sizeof(v))
        n++;
    assert_int_equal(n, 10);
    drop(m, "jobs");
    assert_int_equal(rmdir(dir), 0);
    setenv("MBX_DIR", saved, 1);
    free(saved);
}

static void unbounded_until_memory_limit(void **state)
{
    (void)state;
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = MBX_UNBOUNDED;
    a.max_msg_size = 4096;
    a.memory_limit = 1 << 20;
    mbx *m;
    assert_int_equal(mbx_open("unb", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m), 0);
    char buf[4096] = {0};
    int n = 0, r;
    while ((r = mbx_send(m, buf, sizeof(buf), 0, MBX_FOREVER)) == 0)
        n++;
    assert_int_equal(r, -ENOSPC);
    assert_true(n >= 240 && n <= 256);
    for (int i = 0; i < n; i++)
        assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), sizeof(buf));
    assert_int_equal(mbx_send(m, buf, sizeof(buf), 0, 0), 0);
    drop(m, "unb");
}

static void recv_from_one_sender(void **state)
{
    (void)state;
    mbx *m = make("from", 16, 16);
    int mine = 1;
    assert_int_equal(mbx_send(m, &mine, sizeof(mine), 0, 0), 0);
    pid_t child = fork();
    if (child == 0) {
        int v = 2;
        _exit(mbx_send(m, &v, sizeof(v), 0, 0) == 0 ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(mbx_send(m, &mine, sizeof(mine), 0, 0), 0);
    int v;
    mbx_msginfo info;
    assert_int_equal(mbx_recv_from(m, child, &v, sizeof(v), &info, 0), sizeof(v));
    assert_int_equal(v, 2);
    assert_int_equal(info.sender_pid, child);
    assert_int_equal(mbx_recv_from(m, child, &v, sizeof(v), &info, 0), -EAGAIN);
    assert_int_equal(mbx_recv_from(m, child, &v, sizeof(v), &info, 20000000), -ETIMEDOUT);
    /* The others stayed queued, in order. */
    assert_int_equal(mbx_recv(m, &v, sizeof(v), &info, 0), sizeof(v));
    assert_int_equal(info.seq, 1);
    assert_int_equal(mbx_recv(m, &v, sizeof(v), &info, 0), sizeof(v));
    assert_int_equal(info.seq, 3);
    drop(m, "from");
}

/* Mode 0 applies to its own user too: the creator cannot open it again, nor
 * remove it (mbx_unlink opens it), until the file's mode lets it. Returns
 * 0, or the number of the step that went wrong. */
static int mode_zero_steps(void)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.mode = 0;
    mbx *m, *other;
    if (mbx_open("perm", MBX_SEND | MBX_CREATE, &a, &m) != 0)
        return 1;
    if (mbx_open("perm", MBX_SEND, NULL, &other) != -EACCES)
        return 2;
    if (mbx_unlink("perm") != -EACCES)
        return 3;
    if (mbx_close(m) != 0)
        return 4;
    char path[512];
    snprintf(path, sizeof(path), "%s/mbx.perm", test_dir);
    if (chmod(path, 0600) != 0)
        return 5;
    return mbx_unlink("perm") == 0 ? 0 : 6;
}

/* Root, whom no mode stops, runs the steps in a child as user nobody. */
static void mode_zero_denies_its_user(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        assert_int_equal(mode_zero_steps(), 0);
        return;
    }
    assert_int_equal(chmod(test_dir, 0777), 0);
    pid_t child = fork();
    if (child == 0) {
        if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
            _exit(10);
        _exit(mode_zero_steps());
    }
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(chmod(test_dir, 0700), 0);
    assert_int_equal(test_dir_count(), 0);
}

/* Root only: permissions checked as a second user, like a file's. */
static void permissions_as_another_user(void **state)
{
    (void)state;
    if (geteuid() != 0)
        test_skip("needs root to run a process as another user (nobody)");
    mbx_attr a;
    mbx_attr_init(&a);
    mbx *m;
    assert_int_equal(chmod(test_dir, 0777), 0);
    char buf_g[8];
    a.mode = 0600;
    assert_int_equal(mbx_open("private", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m), 0);
    a.mode = 0666;
    mbx *shared;
    assert_int_equal(mbx_open("public", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &shared), 0);
    a.mode = 0660; /* group root (the creator's) may, others may not */
    mbx *group;
    assert_int_equal(mbx_open("group", MBX_SEND | MBX_RECV | MBX_CREATE, &a, &group), 0);
    pid_t child = fork();
    if (child == 0) {
        if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
            _exit(10);
        mbx *x;
        if (mbx_open("private", MBX_SEND, NULL, &x) != -EACCES)
            _exit(11);
        if (mbx_stat_name("private", &(mbx_stat){0}) != -EACCES)
            _exit(12);
        if (mbx_open("public", MBX_SEND, NULL, &x) != 0 || mbx_send(x, "hi", 2, 0, 0) != 0)
            _exit(13);
        if (mbx_open("group", MBX_SEND, NULL, &x) != -EACCES)
            _exit(14);
        /* Creating it exclusively: it exists, whatever its mode (as
         * open(2)'s O_CREAT|O_EXCL; it said -EACCES). */
        if (mbx_open("private", MBX_SEND | MBX_CREATE | MBX_EXCL, NULL, &x) != -EEXIST)
            _exit(15);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* Another user in the mailbox's group opens a 0660 mailbox. */
    child = fork();
    if (child == 0) {
        gid_t none[1] = {0};
        if (setgroups(1, none) || setresgid(0, 0, 0) || setresuid(65534, 65534, 65534))
            _exit(20);
        mbx *x;
        if (mbx_open("group", MBX_SEND, NULL, &x) != 0 || mbx_send(x, "g", 1, 0, 0) != 0)
            _exit(21);
        if (mbx_open("private", MBX_SEND, NULL, &x) != -EACCES)
            _exit(22);
        _exit(0);
    }
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(mbx_recv(group, buf_g, sizeof(buf_g), NULL, 0), 1);
    drop(group, "group");
    mbx_msginfo info;
    char buf[8];
    assert_int_equal(mbx_recv(shared, buf, sizeof(buf), &info, 0), 2);
    assert_int_equal(info.sender_uid, 65534);
    drop(m, "private");
    drop(shared, "public");
    chmod(test_dir, 0700);
}

/* A name may carry its directory: a mailbox elsewhere than $MBX_DIR, in
 * the same process, without changing the environment; a call to it gets
 * its reply (replies go to @PID, which has no directory). */
static void names_with_directories(void **state)
{
    (void)state;
    char other[300], name[320];
    snprintf(other, sizeof(other), "%s-other", test_dir);
    assert_int_equal(mkdir(other, 0700), 0);
    snprintf(name, sizeof(name), "%s/jobs", other);
    mbx *m = NULL, *local = make("jobs", 4, 64);
    assert_int_equal(mbx_open(name, MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL, NULL, &m), 0);
    char path[340];
    snprintf(path, sizeof(path), "%s/mbx.jobs", other);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(mbx_send(m, "far", 3, 0, 0), 0);
    mbx_stat st;
    assert_int_equal(mbx_stat_name(name, &st), 0);
    assert_int_equal(st.count, 1);
    assert_int_equal(mbx_stat_name("jobs", &st), 0);
    assert_int_equal(st.count, 0); /* $MBX_DIR's is another mailbox */
    pid_t p = fork();
    if (p == 0) {
        mbx *s = NULL;
        char buf[8];
        mbx_msginfo info;
        if (mbx_open(name, MBX_RECV, NULL, &s) || mbx_recv(s, buf, sizeof(buf), &info, 0) != 3)
            _exit(2);
        if (mbx_recv(s, buf, sizeof(buf), &info, 5000000000ll) != 2 || !info.reply_token)
            _exit(3);
        _exit(mbx_reply(&info, "ok", 2) == 0 ? 0 : 4);
    }
    char reply[8];
    assert_int_equal(mbx_call(m, "hi", 2, 0, reply, sizeof(reply), 5000000000ll), 2);
    int ws;
    assert_int_equal(waitpid(p, &ws, 0), p);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    assert_int_equal(mbx_close(m), 0);
    assert_int_equal(mbx_unlink(name), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(mbx_open("/rel/../jobs", MBX_SEND, NULL, &m), -EINVAL);
    drop(local, "jobs");
    assert_int_equal(rmdir(other), 0);
}

/* A name of another machine never makes a local file: an unknown scheme
 * is refused, and a tcp:// name whose gateway is not there fails to
 * connect. */
static void network_names_make_no_local_file(void **state)
{
    (void)state;
    mbx *m;
    assert_int_equal(mbx_open("xyz://127.0.0.1:9/q", MBX_SEND | MBX_CREATE, NULL, &m),
                     -EPROTONOSUPPORT);
    char secret[] = "/tmp/mbx-api-secret-XXXXXX";
    int fd = mkstemp(secret);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "0123456789abcdef0123", 20), 20);
    close(fd);
    setenv("MBX_SECRET_FILE", secret, 1);
    assert_int_equal(mbx_open("tcp://127.0.0.1:9/q", MBX_SEND | MBX_CREATE, NULL, &m),
                     -ECONNREFUSED);
    unsetenv("MBX_SECRET_FILE");
    unlink(secret);
    assert_int_equal(test_dir_count(), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(attr_defaults),
        cmocka_unit_test(options_init_accepts_null),
        cmocka_unit_test(strerror_names_everything),
        cmocka_unit_test(open_argument_errors),
        cmocka_unit_test(create_exclusive_and_reopen),
        cmocka_unit_test(send_recv_roundtrip),
        cmocka_unit_test(send_recv_argument_errors),
        cmocka_unit_test(priorities_then_fifo),
        cmocka_unit_test(full_and_empty_wait_then_give_up),
        cmocka_unit_test(signal_interrupts_wait),
        cmocka_unit_test(unlink_wakes_everyone),
        cmocka_unit_test(stat_reports_state),
        cmocka_unit_test(foreach_lists_mailboxes),
        cmocka_unit_test(durable_on_disk),
        cmocka_unit_test(unbounded_until_memory_limit),
        cmocka_unit_test(mixed_sizes_fill_the_capacity),
        cmocka_unit_test(recv_from_one_sender),
        cmocka_unit_test(mode_zero_denies_its_user),
        cmocka_unit_test(names_with_directories),
        cmocka_unit_test(network_names_make_no_local_file),
    };
    const struct CMUnitTest as_root[] = {
        cmocka_unit_test(permissions_as_another_user),
    };
    if (test_root_only(argc, argv))
        return test_result(cmocka_run_group_tests(as_root, test_dir_setup, test_dir_teardown));
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
