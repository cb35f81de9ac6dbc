/* Request/reply: mbx_call and mbx_reply between processes and threads. */
#include "test_util.h"

#include "core/cancel.h"
#include "mbx.h"
#include "shm/process.h"
#include "shm/seg_model.h"
#include "shm/shm.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#define MS 1000000ll

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int reap(pid_t p)
{
    int st;
    if (waitpid(p, &st, 0) != p)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static mbx *service(const char *name)
{
    mbx *m;
    assert_int_equal(mbx_open(name, MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &m), 0);
    return m;
}

struct req {
    int32_t pid;
    uint32_t thread, n;
};

/* Answers each request with its own numbers plus one in n; a request with
 * n == UINT32_MAX (a plain message) stops the server. */
static void serve(mbx *m)
{
    for (;;) {
        struct req r;
        mbx_msginfo info;
        if (mbx_recv(m, &r, sizeof(r), &info, 10000 * MS) != sizeof(r))
            _exit(10);
        if (r.n == UINT32_MAX) /* sent with mbx_send: no token */
            _exit(info.reply_token == 0 ? 0 : 12);
        if (info.reply_token == 0)
            _exit(13);
        r.n++;
        if (mbx_reply(&info, &r, sizeof(r)) != 0)
            _exit(11);
    }
}

static void call_and_reply(void **state)
{
    (void)state;
    mbx *m = service("svc");
    pid_t c = fork();
    if (c == 0)
        serve(m);
    struct req q = {getpid(), 0, 41}, a;
    assert_int_equal(mbx_call(m, &q, sizeof(q), 0, &a, sizeof(a), 5000 * MS), sizeof(a));
    assert_int_equal(a.n, 42);
    assert_int_equal(a.pid, getpid());
    mbx_msginfo none = {0};
    assert_int_equal(mbx_reply(&none, "x", 1), -EINVAL);
    assert_int_equal(mbx_reply(NULL, "x", 1), -EINVAL);
    assert_int_equal(mbx_call(NULL, &q, sizeof(q), 0, &a, sizeof(a), 0), -EINVAL);
    q.n = UINT32_MAX;
    assert_int_equal(mbx_send(m, &q, sizeof(q), 0, 0), 0);
    assert_int_equal(reap(c), 0);
    mbx_stat st;
    mbx *me;
    assert_int_equal(mbx_self(&me), 0);
    assert_int_equal(mbx_stat_get(me, &st), 0);
    assert_int_equal(st.count, 0);
    mbx_unlink("svc");
    mbx_close(m);
}

#define CALLERS 3
#define THREADS 4
#define CALLS   300

struct caller_arg {
    mbx *m;
    uint32_t thread;
    int bad;
};

static void *caller_thread(void *p)
{
    struct caller_arg *a = p;
    for (uint32_t i = 0; i < CALLS; i++) {
        struct req q = {getpid(), a->thread, i * 2}, r;
        ssize_t n = mbx_call(a->m, &q, sizeof(q), i % 3, &r, sizeof(r), 10000 * MS);
        if (n != sizeof(r) || r.pid != q.pid || r.thread != q.thread || r.n != q.n + 1) {
            a->bad++;
            break; /* one wrong answer is enough: the rest would wait out their timeouts */
        }
    }
    return NULL;
}

/* Several processes with several threads each call two servers at once;
 * every call gets its own answer. */
static void concurrent_calls_get_their_own_answers(void **state)
{
    (void)state;
    mbx *m = service("busy");
    pid_t servers[2], callers[CALLERS];
    for (int i = 0; i < 2; i++)
        if ((servers[i] = fork()) == 0)
            serve(m);
    for (int i = 0; i < CALLERS; i++) {
        if ((callers[i] = fork()) == 0) {
            pthread_t t[THREADS];
            struct caller_arg args[THREADS];
            for (uint32_t k = 0; k < THREADS; k++) {
                args[k] = (struct caller_arg){m, k, 0};
                if (pthread_create(&t[k], NULL, caller_thread, &args[k]))
                    _exit(20);
            }
            int bad = 0;
            for (int k = 0; k < THREADS; k++) {
                pthread_join(t[k], NULL);
                bad += args[k].bad;
            }
            _exit(bad ? 21 : 0);
        }
    }
    for (int i = 0; i < CALLERS; i++)
        assert_int_equal(reap(callers[i]), 0);
    struct req stop = {0, 0, UINT32_MAX};
    for (int i = 0; i < 2; i++)
        assert_int_equal(mbx_send(m, &stop, sizeof(stop), 0, 0), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(reap(servers[i]), 0);
    mbx_unlink("busy");
    mbx_close(m);
}

/* The server takes the request and is killed: the call ends with -EPIPE
 * long before its timeout. */
static void taker_death_is_epipe(void **state)
{
    (void)state;
    mbx *m = service("fragile");
    pid_t c = fork();
    if (c == 0) {
        char buf[16];
        mbx_msginfo info;
        if (mbx_recv(m, buf, sizeof(buf), &info, 5000 * MS) < 0)
            _exit(1);
        usleep(50 * 1000);
        raise(SIGKILL);
    }
    char reply[16];
    int64_t t0 = now_ns();
    assert_int_equal(mbx_call(m, "req", 3, 0, reply, sizeof(reply), 60000 * MS), -EPIPE);
    /* Long before the 60 s timeout; the bound (half of it) leaves a loaded
     * machine (sanitizers, other suites beside) ample time for the child's
     * fork, receive and 50 ms nap. */
    assert_true(now_ns() - t0 < 30000 * MS);
    assert_int_equal(reap(c), 128 + SIGKILL);
    mbx_unlink("fragile");
    mbx_close(m);
}

/* Replies to a caller that gave up, or died, are -ESRCH and leave nothing
 * behind. */
static void reply_to_gone_caller_is_esrch(void **state)
{
    (void)state;
    mbx *m = service("slow");
    pid_t c = fork();
    if (c == 0) {
        char buf[16];
        mbx_msginfo info;
        if (mbx_recv(m, buf, sizeof(buf), &info, 5000 * MS) < 0)
            _exit(1);
        usleep(200 * 1000); /* the caller gives up meanwhile */
        _exit(mbx_reply(&info, "late", 4) == -ESRCH ? 0 : 2);
    }
    char reply[16];
    assert_int_equal(mbx_call(m, "req", 3, 0, reply, sizeof(reply), 50 * MS), -ETIMEDOUT);
    assert_int_equal(reap(c), 0);
    mbx *me;
    mbx_stat st;
    assert_int_equal(mbx_self(&me), 0);
    assert_int_equal(mbx_stat_get(me, &st), 0);
    assert_int_equal(st.count, 0);

    /* Now the caller is a child that is killed while waiting. */
    c = fork();
    if (c == 0) {
        mbx_call(m, "req", 3, 0, reply, sizeof(reply), 10000 * MS);
        _exit(1);
    }
    mbx_msginfo info;
    assert_int_equal(mbx_recv(m, reply, sizeof(reply), &info, 5000 * MS), 3);
    assert_int_equal(info.sender_pid, c);
    assert_int_not_equal(info.reply_token, 0);
    kill(c, SIGKILL);
    assert_int_equal(reap(c), 128 + SIGKILL);
    assert_int_equal(mbx_reply(&info, "late", 4), -ESRCH);
    mbx_unlink("slow");
    mbx_close(m);
}

/* read() system calls this process has made so far (/proc/self/io), or -1
 * where the kernel does not count them. */
static long reads_so_far(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f)
        return -1;
    char line[128];
    long n = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "syscr: %ld", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* Answering a caller whose handle is cached looks at the caller's life as
 * sends to an owned mailbox do, every 50 ms at most: before, every reply
 * read the caller's /proc stat (open, read, close: most of a local call's
 * round trip). Only the replies' own reads are counted: a receive on a
 * loaded machine may look at a lock holder's /proc (each look at the
 * counter is one read, counted before it, hence the - 1). */
#define REPLIES 200

static void replies_do_not_read_proc_each_time(void **state)
{
    (void)state;
    if (reads_so_far() < 0)
        skip();
    mbx *m = service("answers");
    pid_t c = fork();
    if (c == 0) {
        char r[8];
        for (int i = 0; i < REPLIES; i++)
            if (mbx_call(m, "q", 1, 0, r, sizeof(r), 10000 * MS) != 1)
                _exit(1);
        _exit(0);
    }
    char buf[8];
    mbx_msginfo info;
    /* The first reply opens the caller's mailbox (and looks once). */
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), &info, 10000 * MS), 1);
    assert_int_equal(mbx_reply(&info, "a", 1), 0);
    long reads = 0;
    for (int i = 1; i < REPLIES; i++) {
        assert_int_equal(mbx_recv(m, buf, sizeof(buf), &info, 10000 * MS), 1);
        long before = reads_so_far();
        assert_int_equal(mbx_reply(&info, "a", 1), 0);
        reads += reads_so_far() - before - 1;
    }
    assert_int_equal(reap(c), 0);
    print_message("reads: %ld\n", reads);
    assert_true(reads < 20); /* before: one per reply */
    mbx_unlink("answers");
    mbx_close(m);
}

/* A reply too big for the caller's buffer is -EMSGSIZE and is not left in
 * the caller's mailbox; timed-out calls give their slots back and take
 * their untaken requests back. */
static void oversized_reply_and_timeouts(void **state)
{
    (void)state;
    mbx *m = service("big");
    pid_t c = fork();
    if (c == 0) {
        char buf[16];
        mbx_msginfo info;
        if (mbx_recv(m, buf, sizeof(buf), &info, 5000 * MS) < 0)
            _exit(1);
        _exit(mbx_reply(&info, "a long answer", 13) == 0 ? 0 : 2);
    }
    char small[4];
    assert_int_equal(mbx_call(m, "q", 1, 0, small, sizeof(small), 5000 * MS), -EMSGSIZE);
    assert_int_equal(reap(c), 0);
    mbx *me;
    mbx_stat st;
    assert_int_equal(mbx_self(&me), 0);
    assert_int_equal(mbx_stat_get(me, &st), 0);
    assert_int_equal(st.count, 0);
    /* Nobody answers: more timed-out calls than there are slots. Each
     * takes its request back, so no server later answers a caller that
     * left (they stayed queued: count was 16), and only its own: a plain
     * message queued before them, older, stays. */
    assert_int_equal(mbx_send(m, "keep", 4, 0, 0), 0);
    /* A timeout the send uses up (1 ns; or 1 ms on a busy machine) leaves
     * only a look for the reply: that too is -ETIMEDOUT, and the request
     * is taken back (it used to say -EAGAIN and leave it queued). */
    assert_int_equal(mbx_call(m, "q", 1, 0, small, sizeof(small), 1), -ETIMEDOUT);
    for (int i = 0; i < 20; i++)
        assert_int_equal(mbx_call(m, "q", 1, 0, small, sizeof(small), 1 * MS), -ETIMEDOUT);
    assert_int_equal(mbx_stat_get(m, &st), 0);
    assert_int_equal(st.count, 1);
    mbx_msginfo info;
    assert_int_equal(mbx_recv(m, small, sizeof(small), &info, MBX_NONBLOCK), 4);
    assert_memory_equal(small, "keep", 4);
    assert_int_equal(info.reply_token, 0);
    assert_int_equal(mbx_recv(m, small, sizeof(small), NULL, MBX_NONBLOCK), -EAGAIN);
    mbx_unlink("big");
    mbx_close(m);
}

/* A reply up to 1 MiB reaches the caller (its own mailbox takes that
 * much); a larger one is refused to the server, and the caller is told
 * at once: -EMSGSIZE (it waited for its timeout, or for the server's
 * end: -EPIPE). The server here lives on until the call returned. */
#define BIG_REPLY (1u << 20)
static void large_replies(void **state)
{
    (void)state;
    mbx *m = service("large");
    pid_t c = fork();
    if (c == 0) {
        char buf[16];
        mbx_msginfo info;
        unsigned char *big = malloc(BIG_REPLY + 1);
        if (!big)
            _exit(3);
        for (unsigned i = 0; i <= BIG_REPLY; i++)
            big[i] = (unsigned char)(i * 7);
        if (mbx_recv(m, buf, sizeof(buf), &info, 5000 * MS) < 0)
            _exit(1);
        if (mbx_reply(&info, big, BIG_REPLY) != 0)
            _exit(2);
        if (mbx_recv(m, buf, sizeof(buf), &info, 5000 * MS) < 0)
            _exit(4);
        if (mbx_reply(&info, big, BIG_REPLY + 1) != -EMSGSIZE)
            _exit(5);
        /* The call is over: a second reply finds no caller (it went into
         * the caller's mailbox, where nobody took it). */
        if (mbx_reply(&info, "small", 5) != -ESRCH)
            _exit(7);
        /* The caller's next request, once it has its answer: the end. */
        _exit(mbx_recv(m, buf, sizeof(buf), &info, 10000 * MS) < 0 ? 6 : 0);
    }
    unsigned char *got = malloc(BIG_REPLY + 1);
    assert_non_null(got);
    assert_int_equal(mbx_call(m, "q", 1, 0, got, BIG_REPLY + 1, 5000 * MS), BIG_REPLY);
    for (unsigned i = 0; i < BIG_REPLY; i += 4099)
        assert_int_equal(got[i], (unsigned char)(i * 7));
    assert_int_equal(mbx_call(m, "q", 1, 0, got, BIG_REPLY + 1, 5000 * MS), -EMSGSIZE);
    assert_int_equal(mbx_send(m, "end", 3, 0, 5000 * MS), 0);
    assert_int_equal(reap(c), 0);
    /* Nothing left behind in the caller's own mailbox. */
    mbx *me = NULL;
    mbx_stat st;
    assert_int_equal(mbx_self(&me), 0);
    assert_int_equal(mbx_stat_get(me, &st), 0);
    assert_int_equal(st.count, 0);
    free(got);
    mbx_unlink("large");
    mbx_close(m);
}

static int always(void *arg)
{
    (void)arg;
    return 1;
}

static void *cancelled_caller(void *arg)
{
    cancel_set(always, NULL); /* as the tcp:// gateway's, for a client gone */
    int v = 1;
    ssize_t r = mbx_call(arg, &v, sizeof(v), 0, &v, sizeof(v), MBX_FOREVER);
    cancel_set(NULL, NULL);
    return (void *)(intptr_t)r;
}

/* A call without a timeout that finds every call slot of its process
 * taken waits for one; a thread whose cancel hook asks it to end (the
 * tcp:// gateway's, when the client is gone) ends that wait too. (It
 * waited until a slot came free: a gateway whose 16 slots a client held
 * kept the threads of clients long gone; found by an attacker review.) */
static void cancelled_call_does_not_wait_for_a_slot(void **state)
{
    (void)state;
    mbx *sink = service("call-sink");
    struct mbx *self;
    assert_int_equal(shm_self(&self), 0);
    uint64_t *calls = shm_box_of(self)->seg.hdr->model.calls;
    for (unsigned i = 0; i < SEG_CALLS; i++) /* every slot busy */
        __atomic_store_n(&calls[i], 0xdead0000ull + i, __ATOMIC_RELEASE);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cancelled_caller, sink), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    void *got = NULL;
    int joined = pthread_timedjoin_np(t, &got, &until);
    for (unsigned i = 0; i < SEG_CALLS; i++)
        __atomic_store_n(&calls[i], 0, __ATOMIC_RELEASE);
    if (joined != 0)
        pthread_join(t, &got); /* a slot came free: it ends now */
    assert_int_equal(joined, 0);
    assert_int_equal((intptr_t)got, -ECANCELED);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(sink, &st), 0);
    assert_int_equal(st.count, 0); /* never sent */
    mbx_close(sink);
    mbx_unlink("call-sink");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(call_and_reply),
        cmocka_unit_test(concurrent_calls_get_their_own_answers),
        cmocka_unit_test(taker_death_is_epipe),
        cmocka_unit_test(reply_to_gone_caller_is_esrch),
        cmocka_unit_test(replies_do_not_read_proc_each_time),
        cmocka_unit_test(oversized_reply_and_timeouts),
        cmocka_unit_test(large_replies),
        cmocka_unit_test(cancelled_call_does_not_wait_for_a_slot),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
