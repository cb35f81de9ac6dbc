/* A call made from a thread of the test, for tests that answer it (or not)
 * on the main thread. */
#ifndef MBX_TEST_CALL_H
#define MBX_TEST_CALL_H

#include <mbx.h>

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

#endif
