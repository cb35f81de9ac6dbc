/* A call made from a thread of the test, for tests that answer it (or not)
 * on the main thread. */
#ifndef MBX_TEST_CALL_H
#define MBX_TEST_CALL_H

#include <mbx.h>

#include "test_util.h"

#include <sys/types.h>

/* What call_it calls and what it got: the call's result in n (bytes or
 * -errno), the reply in reply. */
struct pending_call {
    mbx *m;
    ssize_t n;
    char reply[32];
};

/* A pthread start routine: calls mailbox p->m with the request "q" (one
 * byte), waiting up to 30 s. Returns NULL. */
static inline void *call_it(void *arg)
{
    struct pending_call *p = arg;
    p->n = mbx_call(p->m, "q", 1, 0, p->reply, sizeof(p->reply), 30000000000ll);
    return NULL;
}

/* Fills this process's own mailbox (@PID, where replies come) with
 * one-byte messages until it takes no more. Returns how many went in (at
 * least one, or the test fails). */
static inline int fill_own_mailbox(void)
{
    mbx *me;
    assert_int_equal(mbx_self(&me), 0);
    int queued = 0;
    while (mbx_send(me, "x", 1, 0, MBX_NONBLOCK) == 0)
        queued++;
    assert_true(queued > 0);
    return queued;
}

/* Takes back the `queued` messages fill_own_mailbox put in. */
static inline void drain_own_mailbox(int queued)
{
    mbx *me;
    assert_int_equal(mbx_self(&me), 0);
    char x;
    for (int i = 0; i < queued; i++)
        assert_int_equal(mbx_recv(me, &x, 1, NULL, MBX_NONBLOCK), 1);
}

#endif
