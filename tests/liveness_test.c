/* Telling a live process from a dead one: repairs free what the dead held,
 * so a live process called dead would lose memory it still uses. */
#include "test_util.h"

#include "platform/platform.h"
#include "platform/linux/proc.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void self_and_bad_pids(void **state)
{
    (void)state;
    assert_int_equal(ident_pid_alive(getpid()), 1);
    assert_int_equal(ident_pid_alive(0), 0);
    assert_int_equal(ident_pid_alive(-5), 0);
}

static void zombie_is_dead(void **state)
{
    (void)state;
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    siginfo_t info;
    /* Wait for the exit without reaping: the child stays a zombie. */
    assert_int_equal(waitid(P_PID, (id_t)p, &info, WEXITED | WNOWAIT), 0);
    assert_int_equal(ident_pid_alive(p), 0);
    uint64_t start;
    assert_int_equal(proc_start(p, &start), -ESRCH);
    assert_int_equal(waitpid(p, NULL, 0), p);
    assert_int_equal(ident_pid_alive(p), 0);
}

static int gate[2];

static void *wait_on_gate(void *arg)
{
    (void)arg;
    char c;
    ssize_t n = read(gate[0], &c, 1);
    _exit(n == 1 ? 0 : 1);
}

/* The main thread ends with pthread_exit while another thread runs on: the
 * main thread shows as a zombie, yet the process is alive. */
static void process_outlives_its_main_thread(void **state)
{
    (void)state;
    assert_int_equal(pipe(gate), 0);
    pid_t p = fork();
    if (p == 0) {
        alarm(20); /* gone even if the test fails before opening the gate */
        pthread_t t;
        if (pthread_create(&t, NULL, wait_on_gate, NULL) != 0)
            _exit(2);
        pthread_exit(NULL);
    }
    char st = 0;
    for (int i = 0; i < 5000 && st != 'Z'; i++) {
        st = test_proc_state(p);
        usleep(1000);
    }
    assert_int_equal(st, 'Z');
    assert_int_equal(ident_pid_alive(p), 1);
    /* Owners are checked by pid and start time: alive as well. */
    uint64_t start = 0;
    assert_int_equal(proc_start(p, &start), 0);
    assert_int_equal(ident_alive(ident_make(p, (uint32_t)start)), 1);
    assert_int_equal(ident_alive(ident_make(p, (uint32_t)start + 1)), 0);
    assert_int_equal(write(gate[1], "x", 1), 1);
    int status;
    assert_int_equal(waitpid(p, &status, 0), p);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(ident_pid_alive(p), 0);
    close(gate[0]);
    close(gate[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(self_and_bad_pids),
        cmocka_unit_test(zombie_is_dead),
        cmocka_unit_test(process_outlives_its_main_thread),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
