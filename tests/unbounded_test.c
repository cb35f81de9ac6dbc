/* MBX_UNBOUNDED: senders never wait; a million small messages and a few of
 * 100 MiB queue up to the memory limit, drain whole and in order, and the
 * memory is reused afterwards. */
#include "test_box.h"

#include "shm/shm.h"
#include "mbx.h"

#include <errno.h>

#define SMALL 1000000
#define BIG   (100u << 20)

static mbx *open_unbounded(const char *name, uint64_t max, uint64_t limit)
{
    return test_box(name, MBX_UNBOUNDED, max, limit);
}

static void a_million_small_messages(void **state)
{
    (void)state;
    mbx *m = open_unbounded("million", 64, 256ull << 20);
    for (uint32_t i = 0; i < SMALL; i++)
        if (mbx_send(m, &i, sizeof(i), i % 4, MBX_NONBLOCK) != 0)
            fail_msg("send %u failed", i);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    assert_int_equal(st.count, SMALL);
    assert_int_equal(st.bytes, (uint64_t)SMALL * sizeof(uint32_t));
    /* Highest priority first, in send order within each. */
    uint32_t v, last = 0, prio = 3;
    for (uint32_t i = 0; i < SMALL; i++) {
        mbx_msginfo info;
        assert_int_equal(mbx_recv(m, &v, sizeof(v), &info, MBX_NONBLOCK), sizeof(v));
        if (info.priority != prio) {
            assert_true(info.priority < prio);
            prio = info.priority;
        } else if (i > 0) {
            assert_true(v > last);
        }
        assert_int_equal(v % 4, info.priority);
        last = v;
    }
    assert_int_equal(mbx_recv(m, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    assert_int_equal(shm_box_of(m)->seg.hdr->meta.used, 0);
    mbx_close(m);
    mbx_unlink("million");
}

static void big_messages_until_the_limit(void **state)
{
    (void)state;
    mbx *m = open_unbounded("big", BIG, 3ull * BIG + (1u << 20));
    unsigned char *buf = malloc(BIG);
    assert_non_null(buf);
    for (int i = 0; i < 3; i++) {
        memset(buf, 'a' + i, BIG);
        assert_int_equal(mbx_send(m, buf, BIG, 0, MBX_FOREVER), 0);
    }
    /* Past the limit a send fails at once instead of waiting. */
    assert_int_equal(mbx_send(m, buf, BIG, 0, MBX_FOREVER), -ENOSPC);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mbx_recv(m, buf, BIG, NULL, 0), (ssize_t)BIG);
        assert_int_equal(buf[0], 'a' + i);
        assert_int_equal(buf[BIG - 1], 'a' + i);
    }
    /* Drained: the same memory takes three more. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(mbx_send(m, buf, BIG, 0, 0), 0);
    mbx_stat st;
    assert_int_equal(mbx_stat_get(m, &st), 0);
    assert_int_equal(st.count, 3);
    free(buf);
    mbx_close(m);
    mbx_unlink("big");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_million_small_messages),
        cmocka_unit_test(big_messages_until_the_limit),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
