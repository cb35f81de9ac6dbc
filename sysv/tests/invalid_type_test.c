/* libmbx-sysv and messages put into a queue's mailbox with mbx itself,
 * whose 64-bit type no System V program can be given (0, or above
 * INT64_MAX): msgrcv never hands them out (no mtype 0 or negative, which
 * the kernel never returns), whatever msgtyp, blocking or not, and they
 * stay in the mailbox in their places, for mbx's own receivers. Runs on
 * ring and heap mailboxes (MBX_QUEUE). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "mbx-sysv.h"
#include "mbx.h"
#include "sysv_format.h"
#include "test_util.h"

#define HIGH ((uint64_t)INT64_MAX + 1) /* the lowest type above System V's */

struct msg {
    long mtype;
    char mtext[16];
};

static int id = -1;
static mbx *box;

static int setup(void **state)
{
    if (test_dir_setup(state) != 0)
        return -1;
    id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    char name[32];
    snprintf(name, sizeof(name), SYSV_BOX_PREFIX "%d", id); /* its mailbox */
    return id >= 0 && mbx_open(name, MBX_SEND | MBX_RECV, NULL, &box) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    mbx_close(box);
    msgctl(id, IPC_RMID, NULL);
    return test_dir_teardown(state);
}

static void put(const char *text, uint64_t type)
{
    assert_int_equal(mbx_send_typed(box, text, strlen(text) + 1, 0, type, MBX_NONBLOCK), 0);
}

static void sysv_put(const char *text, long type)
{
    struct msg m = {type, ""};
    strcpy(m.mtext, text);
    assert_int_equal(msgsnd(id, &m, strlen(text) + 1, 0), 0);
}

/* msgrcv(msgtyp, flags) into a full-sized buffer gives `text` of type
 * `type`. */
static void expect_msg(long msgtyp, int flags, const char *text, long type)
{
    struct msg m;
    memset(&m, 0, sizeof(m));
    assert_int_equal(msgrcv(id, &m, sizeof(m.mtext), msgtyp, flags), (ssize_t)strlen(text) + 1);
    assert_int_equal(m.mtype, type);
    assert_string_equal(m.mtext, text);
}

static void expect_nomsg(long msgtyp, int flags)
{
    struct msg m;
    errno = 0;
    assert_int_equal(msgrcv(id, &m, sizeof(m.mtext), msgtyp, flags | IPC_NOWAIT), -1);
    assert_int_equal(errno, ENOMSG);
}

/* Into the mailbox: "zero" (type 0), "five" (System V's 5), "high"
 * (INT64_MAX + 1), "three" (System V's 3), "max" (UINT64_MAX). */
static void fill(void)
{
    put("zero", 0);
    sysv_put("five", 5);
    put("high", HIGH);
    sysv_put("three", 3);
    put("max", UINT64_MAX);
}

/* What is left, in this order and with these types: an mbx receive gets
 * exactly the n messages texts[i] of types[i], then nothing. */
static void left_in_order(const char *const *texts, const uint64_t *types, size_t n)
{
    char buf[16];
    for (size_t i = 0; i < n; i++) {
        uint64_t t = 12345;
        ssize_t r = mbx_recv_select(box, MBX_SEL_ANY, 0, buf, sizeof(buf), NULL, &t, MBX_NONBLOCK);
        assert_int_equal(r, (ssize_t)strlen(texts[i]) + 1);
        assert_string_equal(buf, texts[i]);
        assert_int_equal(t, types[i]);
    }
    assert_int_equal(mbx_recv(box, buf, sizeof(buf), NULL, MBX_NONBLOCK), -EAGAIN);
}

static const char *const odd[] = {"zero", "high", "max"};
static const uint64_t odd_types[] = {0, HIGH, UINT64_MAX};

static void any_type_skips_them(void **state)
{
    (void)state;
    fill();
    expect_msg(0, IPC_NOWAIT, "five", 5);
    expect_msg(0, 0, "three", 3); /* blocking: there is one */
    expect_nomsg(0, 0);
    sysv_put("seven", 7); /* queued after them */
    expect_msg(0, 0, "seven", 7);
    left_in_order(odd, odd_types, 3);
}

static void lowest_type_skips_them(void **state)
{
    (void)state;
    fill();
    expect_msg(-LONG_MAX, IPC_NOWAIT, "three", 3);
    expect_msg(LONG_MIN, 0, "five", 5);
    expect_nomsg(-10, 0);
    expect_nomsg(LONG_MIN, 0);
    /* The lowest System V type, not type 0 (lower still) nor the end. */
    sysv_put("nine", 9);
    sysv_put("eight", 8);
    expect_msg(-9, 0, "eight", 8);
    expect_msg(-9, IPC_NOWAIT | MSG_NOERROR, "nine", 9);
    left_in_order(odd, odd_types, 3);
}

static void except_skips_them(void **state)
{
    (void)state;
    fill();
    struct msg m;
    /* MSG_NOERROR with a short buffer: the truncating path too. */
    memset(&m, 0, sizeof(m));
    assert_int_equal(msgrcv(id, &m, 2, 5, IPC_NOWAIT | MSG_EXCEPT | MSG_NOERROR), 2);
    assert_int_equal(m.mtype, 3);
    assert_memory_equal(m.mtext, "th", 2);
    expect_msg(3, MSG_EXCEPT, "five", 5);
    expect_nomsg(1, MSG_EXCEPT);
    sysv_put("one", 1);
    sysv_put("two", 2);
    expect_msg(1, MSG_EXCEPT, "two", 2);
    expect_msg(2, IPC_NOWAIT | MSG_EXCEPT, "one", 1);
    left_in_order(odd, odd_types, 3);
}

/* One of them too long for msgsz does not make msgrcv fail E2BIG: it is
 * not selected; the System V message behind it is. */
static void long_one_is_not_e2big(void **state)
{
    (void)state;
    put("a long zero", 0);
    put("a long high", HIGH);
    sysv_put("ab", 1);
    struct msg m;
    for (int i = 0; i < 3; i++) {
        long msgtyp = i == 0 ? 0 : i == 1 ? -1 : 2;
        int flags = IPC_NOWAIT | (i == 2 ? MSG_EXCEPT : 0);
        memset(&m, 0, sizeof(m));
        assert_int_equal(msgrcv(id, &m, 4, msgtyp, flags), 3);
        assert_int_equal(m.mtype, 1);
        assert_string_equal(m.mtext, "ab");
        sysv_put("ab", 1);
    }
    expect_msg(1, IPC_NOWAIT, "ab", 1);
    const char *const rest[] = {"a long zero", "a long high"};
    const uint64_t rest_types[] = {0, HIGH};
    left_in_order(rest, rest_types, 2);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

/* A blocking msgrcv while only such messages are queued waits: here until
 * a signal's handler ends it with EINTR. The timer repeats, so that a
 * tick that comes before msgrcv waits (a loaded machine) is followed by
 * another. */
static void expect_blocked(long msgtyp, int flags)
{
    struct itimerval it = {{0, 50000}, {0, 100000}}, off = {{0, 0}, {0, 0}};
    struct msg m;
    memset(&m, 0, sizeof(m));
    alarms = 0;
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    errno = 0;
    ssize_t n = msgrcv(id, &m, sizeof(m.mtext), msgtyp, flags);
    int e = errno;
    assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
    assert_int_equal(n, -1);
    assert_int_equal(e, EINTR);
    assert_true(alarms >= 1);
    assert_int_equal(m.mtype, 0); /* nothing stored */
}

static void blocking_waits_past_them(void **state)
{
    (void)state;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    put("zero", 0);
    put("high", HIGH);
    put("max", UINT64_MAX);
    expect_blocked(0, 0);
    expect_blocked(-LONG_MAX, 0);
    expect_blocked(LONG_MIN, MSG_NOERROR);
    expect_blocked(7, MSG_EXCEPT);
    sigaction(SIGALRM, &old, NULL);
    left_in_order(odd, odd_types, 3);
}

static void *send_later(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
    sysv_put("seven", 7);
    return NULL;
}

/* A blocked msgrcv wakes for a System V message sent meanwhile. */
static void blocked_one_takes_a_later_message(void **state)
{
    (void)state;
    put("zero", 0);
    put("max", UINT64_MAX);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_later, NULL), 0);
    expect_msg(-100, 0, "seven", 7);
    assert_int_equal(pthread_join(t, NULL), 0);
    const char *const rest[] = {"zero", "max"};
    const uint64_t rest_types[] = {0, UINT64_MAX};
    left_in_order(rest, rest_types, 2);
}

/* A receiver killed while it waits in msgrcv takes nothing with it: no
 * message was ever out of the mailbox. */
static void killed_receiver_loses_nothing(void **state)
{
    (void)state;
    put("zero", 0);
    put("high", HIGH);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        test_child();
        struct msg m;
        if (write(ready[1], "r", 1) != 1)
            _exit(2);
        msgrcv(id, &m, sizeof(m.mtext), 0, 0);
        _exit(1); /* it must not return */
    }
    assert_true(test_read_ready(ready[0]));
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL); /* into its wait, most likely */
    assert_int_equal(kill(c, SIGKILL), 0);
    int st;
    assert_int_equal(waitpid(c, &st, 0), c);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    close(ready[0]);
    close(ready[1]);
    const char *const rest[] = {"zero", "high"};
    const uint64_t rest_types[] = {0, HIGH};
    left_in_order(rest, rest_types, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(any_type_skips_them, setup, teardown),
        cmocka_unit_test_setup_teardown(lowest_type_skips_them, setup, teardown),
        cmocka_unit_test_setup_teardown(except_skips_them, setup, teardown),
        cmocka_unit_test_setup_teardown(long_one_is_not_e2big, setup, teardown),
        cmocka_unit_test_setup_teardown(blocking_waits_past_them, setup, teardown),
        cmocka_unit_test_setup_teardown(blocked_one_takes_a_later_message, setup, teardown),
        cmocka_unit_test_setup_teardown(killed_receiver_loses_nothing, setup, teardown),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
