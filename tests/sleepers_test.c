/* Sleeper counts that forget processes killed asleep (src/sleepers.h). */
#include "test_util.h"

#include "mbx.h"
#include "platform/platform.h"
#include "shm/sleepers.h"

#include <signal.h>
#include <sys/wait.h>

/* An epoch start long enough ago that the next sleeper starts a new one. */
static uint32_t long_ago(void)
{
    return (uint32_t)(clock_now_ns() / 1000000) - 10 * SLEEPERS_EPOCH_MS;
}

static uint32_t just_now(void)
{
    return (uint32_t)(clock_now_ns() / 1000000);
}

static void enter_and_leave(void **state)
{
    (void)state;
    uint32_t w = 0, since = just_now();
    int a = sleepers_enter(&w, &since), b = sleepers_enter(&w, &since);
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(sleepers_count(w), 2);
    assert_int_equal(sleepers_any(&w), 1);
    sleepers_leave(&w, a);
    assert_int_equal(sleepers_count(w), 1);
    sleepers_leave(&w, b);
    assert_int_equal(sleepers_count(w), 0);
    assert_int_equal(sleepers_any(&w), 0);
}

/* One sleeper never leaves (killed): two epochs later its count is gone,
 * and the live sleepers' counts are untouched. */
static void the_dead_are_forgotten_two_epochs_on(void **state)
{
    (void)state;
    uint32_t w = 0, since = just_now();
    (void)sleepers_enter(&w, &since); /* dies asleep */
    assert_int_equal(sleepers_count(w), 1);
    since = long_ago();
    int live = sleepers_enter(&w, &since); /* starts the next epoch */
    assert_int_equal(sleepers_count(w), 2);
    sleepers_leave(&w, live);
    assert_int_equal(sleepers_count(w), 1); /* the dead one is still counted */
    int live2 = sleepers_enter(&w, &since); /* epoch not due: same epoch */
    assert_int_equal(sleepers_count(w), 2);
    since = long_ago();
    int live3 = sleepers_enter(&w, &since); /* the dead one's epoch resets */
    assert_int_equal(sleepers_count(w), 2); /* live2 and live3 */
    sleepers_leave(&w, live2);
    sleepers_leave(&w, live3);
    assert_int_equal(sleepers_count(w), 0);
    assert_int_equal(sleepers_any(&w), 0);
}

/* A sleeper whose epoch was reset while it slept (stopped for long) leaves
 * without taking anything from others. */
static void a_late_leaver_takes_nothing(void **state)
{
    (void)state;
    uint32_t w = 0, since = just_now();
    int late = sleepers_enter(&w, &since);
    since = long_ago();
    int a = sleepers_enter(&w, &since);
    sleepers_leave(&w, a);
    since = long_ago();
    int b = sleepers_enter(&w, &since); /* late's count is reset here */
    assert_int_equal(sleepers_count(w), 1);
    sleepers_leave(&w, late);
    assert_int_equal(sleepers_count(w), 1);
    sleepers_leave(&w, b);
    assert_int_equal(sleepers_count(w), 0);
}

/* The epoch moves on once per due time, not once per sleeper. */
static void one_new_epoch_per_due_time(void **state)
{
    (void)state;
    uint32_t w = 0, since = just_now();
    (void)sleepers_enter(&w, &since); /* dies asleep */
    since = long_ago();
    for (int i = 0; i < 10; i++)
        sleepers_leave(&w, sleepers_enter(&w, &since));
    assert_int_equal(sleepers_count(w), 1); /* only one epoch passed */
}

static void a_full_count_says_so(void **state)
{
    (void)state;
    uint32_t w = 0, since = just_now();
    int n = 0;
    /* Bounded: a count that never fills (an epoch that moves on at every
     * entry forgets the old ones) fails here instead of looping for ever. */
    while (n <= 40000 && sleepers_enter(&w, &since) >= 0)
        n++;
    assert_int_equal(n, 32767);
    assert_int_equal(sleepers_count(w), 32767);
    sleepers_leave(&w, -1); /* an uncounted sleeper takes nothing */
    assert_int_equal(sleepers_count(w), 32767);
}

/* Receivers killed asleep on a mailbox nobody uses again: mbx_stat_get
 * said they waited for as long as anyone looked (3 for 6 s and more;
 * found by a review), as only a sleeper moved the epoch on. A stat now
 * ages the counts as a sleeper would: they are gone within two epochs. */
static void receivers_killed_asleep(int by_name)
{
    mbx *m;
    assert_int_equal(mbx_open("sleepy", MBX_SEND | MBX_RECV | MBX_CREATE, NULL, &m), 0);
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            char b[8];
            mbx_set_spin(m, 0);
            mbx_recv(m, b, sizeof(b), NULL, MBX_FOREVER);
            _exit(0);
        }
    }
    mbx_stat st;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(mbx_stat_get(m, &st), 0);
        if (st.receivers_waiting == 3)
            break;
        usleep(10000);
    }
    assert_int_equal(st.receivers_waiting, 3);
    for (int i = 0; i < 3; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    /* Two epochs of at least a second each, and a slice (a look by name,
     * which cannot age them: three epochs): well under 10 s. */
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(by_name ? mbx_stat_name("sleepy", &st) : mbx_stat_get(m, &st), 0);
        if (st.receivers_waiting == 0)
            break;
        usleep(10000);
    }
    assert_int_equal(st.receivers_waiting, 0);
    mbx_close(m);
    mbx_unlink("sleepy");
}

static void stat_forgets_receivers_killed_asleep(void **state)
{
    (void)state;
    receivers_killed_asleep(0);
}

/* The same seen by name (`mbx ls`), which reads a copy and cannot age
 * the counts: it said they waited until a stat by handle aged them. */
static void stat_by_name_forgets_them_too(void **state)
{
    (void)state;
    receivers_killed_asleep(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(enter_and_leave),
        cmocka_unit_test(the_dead_are_forgotten_two_epochs_on),
        cmocka_unit_test(a_late_leaver_takes_nothing),
        cmocka_unit_test(one_new_epoch_per_due_time),
        cmocka_unit_test(a_full_count_says_so),
        cmocka_unit_test(stat_forgets_receivers_killed_asleep),
        cmocka_unit_test(stat_by_name_forgets_them_too),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
