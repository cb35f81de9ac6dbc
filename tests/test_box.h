/* Test mailboxes: one call makes a fresh one with the few attributes a test
 * cares about. */
#ifndef MBX_TEST_BOX_H
#define MBX_TEST_BOX_H

#include "test_util.h"

#include "mbx.h"

/* Removes any mailbox `name` and creates it afresh, open to send and
 * receive, with this capacity and largest message (and memory_limit unless
 * 0: the default). Returns its handle; fails the test when it cannot. */
static inline mbx *test_box(const char *name, uint32_t capacity, uint64_t max_msg,
                            uint64_t memory_limit)
{
    mbx_attr a;
    mbx_attr_init(&a);
    a.capacity = capacity;
    a.max_msg_size = max_msg;
    if (memory_limit)
        a.memory_limit = memory_limit;
    mbx *m;
    mbx_unlink(name);
    assert_int_equal(mbx_open(name, MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL, &a, &m), 0);
    return m;
}

#endif
