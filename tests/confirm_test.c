/* mbx_send_confirmed: a send that returns once a receiver took the message
 * from a buffered mailbox, and names it; one that nobody took in time is
 * taken back. Runs on both kinds (confirm_test_heap: MBX_QUEUE=heap). */
#include "test_box.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#define SEC 1000000000ll

static void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000}, NULL);
}

static uint32_t count_of(mbx *m)
{
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    return st.count;
}

/* Waits (up to 10 s) until the mailbox holds n messages. */
static int wait_count(mbx *m, uint32_t n)
{
    for (int i = 0; i < 10000; i++) {
        if (count_of(m) == n)
            return 1;
        sleep_ms(1);
    }
    return 0;
}

static int exit_of(pid_t p)
{
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A child receives once the message has waited in the mailbox a while: the
 * send returns only then, names the child, and the child sees no reply
 * token it could answer. */
static void names_the_process_that_took_it(void **state)
{
    (void)state;
    mbx *m = test_box("named", 8, 64, 0);
    pid_t p = fork();
    if (p == 0) {
        test_child();
        if (!wait_count(m, 1))
            _exit(10);
        sleep_ms(50);
        char buf[64];
        mbx_msginfo info;
        if (mbx_recv(m, buf, sizeof(buf), &info, 10 * SEC) != 5 || memcmp(buf, "hello", 5))
            _exit(11);
        if (info.reply_token != 0 || mbx_reply(&info, "x", 1) != -EINVAL)
            _exit(12);
        _exit(0);
    }
    mbx_receipt who;
    memset(&who, 0xff, sizeof(who));
    assert_int_equal(mbx_send_confirmed(m, "hello", 5, 0, 20 * SEC, &who), 0);
    assert_int_equal(who.taker_pid, p);
    assert_int_equal(who.taker_uid, getuid());
    assert_string_equal(who.taker_host, "");
    assert_int_equal(exit_of(p), 0);
    assert_int_equal(count_of(m), 0);
    mbx_close(m);
}

/* Queued is not taken: the send still waits while the receiver has not
 * started its receive. */
struct late_receiver {
    mbx *m;
    int started; /* set just before the receive begins */
    ssize_t got;
};

static void *receive_late(void *arg)
{
    struct late_receiver *r = arg;
    wait_count(r->m, 1);
    sleep_ms(100);
    __atomic_store_n(&r->started, 1, __ATOMIC_SEQ_CST);
    char buf[16];
    r->got = mbx_recv(r->m, buf, sizeof(buf), NULL, 10 * SEC);
    return NULL;
}

static void waits_until_taken_not_until_queued(void **state)
{
    (void)state;
    mbx *m = test_box("late", 8, 16, 0);
    struct late_receiver r = {m, 0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, receive_late, &r), 0);
    mbx_receipt who;
    assert_int_equal(mbx_send_confirmed(m, "abc", 3, 0, 20 * SEC, &who), 0);
    assert_int_equal(__atomic_load_n(&r.started, __ATOMIC_SEQ_CST), 1);
    assert_int_equal(who.taker_pid, getpid());
    pthread_join(t, NULL);
    assert_int_equal(r.got, 3);
    mbx_close(m);
}

/* Nobody receives: the message is taken back, never delivered. */
static void untaken_is_withdrawn(void **state)
{
    (void)state;
    mbx *m = test_box("nobody", 8, 16, 0);
    assert_int_equal(mbx_send(m, "first", 5, 0, 0), 0);
    assert_int_equal(mbx_send_confirmed(m, "timed", 5, 0, 30000000, NULL), -ETIMEDOUT);
    assert_int_equal(mbx_send_confirmed(m, "nonbl", 5, 3, MBX_NONBLOCK, NULL), -EAGAIN);
    /* Only the plain send is left. */
    assert_int_equal(count_of(m), 1);
    char buf[16];
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), 5);
    assert_memory_equal(buf, "first", 5);
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 0), -EAGAIN);
    mbx_close(m);
}

/* The mailbox is removed while the message waits in it. */
struct removal {
    mbx *m;
    int r;
};

static void *send_confirmed_forever(void *arg)
{
    struct removal *x = arg;
    x->r = mbx_send_confirmed(x->m, "gone", 4, 0, MBX_FOREVER, NULL);
    return NULL;
}

static void removal_says_eidrm(void **state)
{
    (void)state;
    mbx *m = test_box("removed", 8, 16, 0);
    struct removal x = {m, 1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_confirmed_forever, &x), 0);
    assert_true(wait_count(m, 1));
    assert_int_equal(mbx_unlink("removed"), 0);
    pthread_join(t, NULL);
    assert_int_equal(x.r, -EIDRM);
    mbx_close(m);
}

/* Three receiving processes (one borrows with mbx_recv_loan) report each
 * message they took through a pipe; every receipt names the one that
 * reported it. */
#define TAKERS 3
#define MSGS   60

static void every_receipt_names_the_right_taker(void **state)
{
    (void)state;
    mbx *m = test_box("many", 4, 16, 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t kids[TAKERS];
    for (int k = 0; k < TAKERS; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            test_child();
            close(fds[0]);
            for (;;) {
                uint32_t id;
                mbx_msginfo info;
                if (k == 0) {
                    const void *p;
                    ssize_t n = mbx_recv_loan(m, &p, &info, 10 * SEC);
                    if (n != sizeof(id))
                        _exit(n == -EIDRM || n == -ETIMEDOUT ? 0 : 20);
                    memcpy(&id, p, sizeof(id));
                    if (mbx_release(m, p))
                        _exit(21);
                } else {
                    ssize_t n = mbx_recv(m, &id, sizeof(id), &info, 10 * SEC);
                    if (n != sizeof(id))
                        _exit(n == -EIDRM || n == -ETIMEDOUT ? 0 : 22);
                }
                if (info.reply_token != 0)
                    _exit(23);
                int32_t rec[2] = {(int32_t)id, (int32_t)getpid()};
                if (write(fds[1], rec, sizeof(rec)) != sizeof(rec))
                    _exit(24);
            }
        }
    }
    close(fds[1]);
    pid_t named[MSGS];
    for (uint32_t id = 0; id < MSGS; id++) {
        mbx_receipt who;
        assert_int_equal(mbx_send_confirmed(m, &id, sizeof(id), id % 3, 20 * SEC, &who), 0);
        named[id] = who.taker_pid;
    }
    pid_t reported[MSGS] = {0};
    for (int i = 0; i < MSGS; i++) {
        int32_t rec[2];
        assert_int_equal(read(fds[0], rec, sizeof(rec)), sizeof(rec));
        assert_true(rec[0] >= 0 && rec[0] < MSGS);
        assert_int_equal(reported[rec[0]], 0); /* each taken once */
        reported[rec[0]] = rec[1];
    }
    for (int i = 0; i < MSGS; i++)
        assert_int_equal(named[i], reported[i]);
    assert_int_equal(mbx_unlink("many"), 0);
    for (int k = 0; k < TAKERS; k++)
        assert_int_equal(exit_of(kids[k]), 0);
    close(fds[0]);
    mbx_close(m);
}

/* A rendezvous mailbox confirms too; a stream has no messages to sign. */
static void rendezvous_and_stream(void **state)
{
    (void)state;
    mbx *m = test_box("meet", MBX_RENDEZVOUS, 16, 0);
    pid_t p = fork();
    if (p == 0) {
        test_child();
        char buf[16];
        _exit(mbx_recv(m, buf, sizeof(buf), NULL, 10 * SEC) == 2 ? 0 : 1);
    }
    mbx_receipt who;
    assert_int_equal(mbx_send_confirmed(m, "hi", 2, 0, 20 * SEC, &who), 0);
    assert_int_equal(who.taker_pid, p);
    assert_int_equal(exit_of(p), 0);
    mbx_close(m);

    mbx *s;
    mbx_unlink("bytes");
    assert_int_equal(mbx_open("bytes", MBX_SEND | MBX_RECV | MBX_CREATE | MBX_STREAM, NULL, &s), 0);
    assert_int_equal(mbx_send_confirmed(s, "x", 1, 0, 0, NULL), -ENOTSUP);
    mbx_close(s);
    assert_int_equal(mbx_send_confirmed(NULL, "x", 1, 0, 0, NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_the_process_that_took_it),
        cmocka_unit_test(waits_until_taken_not_until_queued),
        cmocka_unit_test(untaken_is_withdrawn),
        cmocka_unit_test(removal_says_eidrm),
        cmocka_unit_test(every_receipt_names_the_right_taker),
        cmocka_unit_test(rendezvous_and_stream),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
