/* The heap kind's queue on its own (src/shm/heap), on a segment in
 * private memory: order, capacity, filters, rendezvous withdrawal. */
#include "test_util.h"

#include "platform/platform.h"
#include "seg_fixture.h"
#include "shm/heap/heap_queue.h"
#include "shm/shm.h"

#include <errno.h>

static struct fixture f;
static uint32_t closing;

static struct mb_ctx ctx(void)
{
    struct mb_ctx c = {.s = &f.s, .wait = {0, 0, &closing, NULL}, .who = ident_self()};
    c.pid = ident_id(c.who);
    return c;
}

static void order_capacity_and_filters(void **state)
{
    (void)state;
    fixture_make(&f, 64, 3);
    struct mb_ctx c = ctx();
    int v;
    unsigned prios[3] = {1, 7, 1};
    for (v = 0; v < 3; v++)
        assert_int_equal(heap_send(&c, &v, sizeof(v), prios[v], MBX_NONBLOCK), 0);
    assert_int_equal(heap_send(&c, &v, sizeof(v), 0, MBX_NONBLOCK), -EAGAIN); /* full */
    assert_int_equal(heap_send(&c, &v, sizeof(v), 0, 1000000), -ETIMEDOUT);
    /* Someone else's messages only: none. */
    mbx_msginfo info;
    assert_int_equal(heap_recv(&c, 1, &v, sizeof(v), &info, MBX_NONBLOCK), -EAGAIN);
    int want[3] = {1, 0, 2}; /* priority 7 first, then 1 in send order */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(heap_recv(&c, c.pid, &v, sizeof(v), &info, MBX_NONBLOCK), sizeof(v));
        assert_int_equal(v, want[i]);
        assert_int_equal(info.priority, prios[v]);
        assert_int_equal(info.seq, (uint64_t)v + 1);
    }
    assert_int_equal(heap_recv(&c, 0, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    /* A reply is taken only by its token. */
    c.reply_token = 77;
    assert_int_equal(heap_send(&c, &v, sizeof(v), 0, MBX_NONBLOCK), 0);
    c.reply_token = 0;
    c.want_token = 78;
    assert_int_equal(heap_recv(&c, 0, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    c.want_token = 77;
    assert_int_equal(heap_recv(&c, 0, &v, sizeof(v), &info, MBX_NONBLOCK), sizeof(v));
    assert_int_equal(info.reply_token, 77);
    assert_int_equal(f.s.hdr->hot.count, 0);
    fixture_free(&f);
}

/* A rendezvous send nobody takes is withdrawn: never delivered. */
static void rendezvous_send_is_withdrawn(void **state)
{
    (void)state;
    fixture_make(&f, 64, MBX_RENDEZVOUS);
    f.s.capacity = MBX_RENDEZVOUS;
    struct mb_ctx c = ctx();
    int v = 5;
    assert_int_equal(heap_send(&c, &v, sizeof(v), 0, 2000000), -ETIMEDOUT);
    assert_int_equal(heap_send(&c, &v, sizeof(v), 0, MBX_NONBLOCK), -EAGAIN);
    assert_int_equal(heap_recv(&c, 0, &v, sizeof(v), NULL, MBX_NONBLOCK), -EAGAIN);
    assert_int_equal(f.s.hdr->hot.count, 0);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_capacity_and_filters),
        cmocka_unit_test(rendezvous_send_is_withdrawn),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
