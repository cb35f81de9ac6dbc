/* MBX_RECV_ROUND_ROBIN: receivers waiting together are served in turn. */
#include "test_util.h"

#include "mbx.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#define RECEIVERS 3
#define MESSAGES  3000

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static mbx *open_rr(const char *name)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.recv_policy = MBX_RECV_ROUND_ROBIN;
    a.capacity = 16;
    mbx *m;
    assert_int_equal(mbx_open(name, MBX_SEND | MBX_RECV | MBX_CREATE, &a, &m), 0);
    return m;
}

static void three_receivers_share_evenly(void **state)
{
    (void)state;
    mbx *m = open_rr("rr");
    uint32_t *got = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(got != MAP_FAILED);
    pid_t kids[RECEIVERS];
    for (int i = 0; i < RECEIVERS; i++) {
        if ((kids[i] = fork()) == 0) {
            /* Sleeping waiters are counted in mbx_stat, so the sender can
             * tell when all three are waiting. */
            mbx_set_spin(m, 0);
            uint32_t v;
            for (;;) {
                ssize_t n = mbx_recv(m, &v, sizeof(v), NULL, 10000000000);
                if (n != sizeof(v))
                    _exit(1);
                if (v == UINT32_MAX)
                    _exit(0);
                got[i]++;
            }
        }
    }
    /* Each message goes out while all three receivers wait: the policy
     * then decides alone who gets it. */
    for (uint32_t v = 0; v < MESSAGES; v++) {
        mbx_stat st;
        do
            assert_int_equal(mbx_stat_get(m, &st), 0);
        while (st.receivers_waiting < RECEIVERS || st.count > 0);
        assert_int_equal(mbx_send(m, &v, sizeof(v), 0, MBX_FOREVER), 0);
    }
    uint32_t stop = UINT32_MAX;
    for (int i = 0; i < RECEIVERS; i++)
        assert_int_equal(mbx_send(m, &stop, sizeof(stop), 0, MBX_FOREVER), 0);
    for (int i = 0; i < RECEIVERS; i++) {
        int st;
        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    uint32_t total = 0;
    print_message("%u messages to %d receivers: %u, %u, %u\n", MESSAGES, RECEIVERS, got[0], got[1],
                  got[2]);
    for (int i = 0; i < RECEIVERS; i++) {
        assert_true(got[i] >= MESSAGES / RECEIVERS - 30 && got[i] <= MESSAGES / RECEIVERS + 30);
        total += got[i];
    }
    assert_int_equal(total, MESSAGES);
    munmap(got, 4096);
    mbx_close(m);
    mbx_unlink("rr");
}

/* A receiver killed while it waits for its turn does not stall the rest. */
static void dead_receiver_loses_its_turn(void **state)
{
    (void)state;
    mbx *m = open_rr("rrdead");
    pid_t p = fork();
    if (p == 0) {
        uint32_t v;
        mbx_recv(m, &v, sizeof(v), NULL, MBX_FOREVER);
        _exit(0);
    }
    sleep_ms(50); /* the child holds the first ticket */
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    uint32_t v = 7;
    assert_int_equal(mbx_send(m, &v, sizeof(v), 0, 0), 0);
    v = 0;
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, 2000000000), sizeof(v));
    assert_int_equal(v, 7);
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, 10000000), -ETIMEDOUT);
    mbx_close(m);
    mbx_unlink("rrdead");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(three_receivers_share_evenly),
        cmocka_unit_test(dead_receiver_loses_its_turn),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
