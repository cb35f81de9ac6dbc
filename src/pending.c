/* Entry points of later issues, present so the contract links: each says
 * -ENOSYS until its issue lands (loans: #6). */
#include "mbx.h"

#include "handle.h"

#include <errno.h>

EXPORT int mbx_loan(mbx *m, size_t len, void **buf)
{
    (void)m, (void)len, (void)buf;
    return -ENOSYS;
}

EXPORT int mbx_send_loan(mbx *m, void *buf, size_t len, unsigned prio, int64_t timeout_ns)
{
    (void)m, (void)buf, (void)len, (void)prio, (void)timeout_ns;
    return -ENOSYS;
}

EXPORT ssize_t mbx_recv_loan(mbx *m, const void **buf, mbx_msginfo *info, int64_t timeout_ns)
{
    (void)m, (void)buf, (void)info, (void)timeout_ns;
    return -ENOSYS;
}

EXPORT int mbx_release(mbx *m, const void *buf)
{
    (void)m, (void)buf;
    return -ENOSYS;
}
