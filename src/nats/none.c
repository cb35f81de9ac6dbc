/* The bridge in a build without NATS (MBX_WITH_NATS off): every call says
 * so, and the library needs no libnats. */
#include "core/handle.h"
#include "mbx.h"

#include <errno.h>
#include <string.h>

EXPORT void mbx_bridge_options_init(mbx_bridge_options *o)
{
    if (!o)
        return; /* as mbx_attr_init: a NULL is no crash */
    memset(o, 0, sizeof(*o));
    o->size = sizeof(*o);
    o->replicas = 1;
    o->pending_limit = 65536;
    o->call_timeout_ms = 5000;
    o->ack_wait_ms = 30000;
}

EXPORT int mbx_bridge_start(const mbx_bridge_options *o, mbx_bridge **out)
{
    (void)o, (void)out;
    return -EPROTONOSUPPORT;
}

EXPORT int mbx_bridge_stat_get(mbx_bridge *b, mbx_bridge_stat *st)
{
    (void)b, (void)st;
    return -EINVAL;
}

EXPORT int mbx_bridge_held(mbx_bridge *b, uint64_t *held)
{
    (void)b, (void)held;
    return -EINVAL;
}

EXPORT int mbx_bridge_refusing(mbx_bridge *b, uint32_t *n)
{
    (void)b, (void)n;
    return -EINVAL;
}

EXPORT int mbx_bridge_stop(mbx_bridge *b)
{
    (void)b;
    return -EINVAL;
}
