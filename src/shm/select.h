#ifndef MBX_SHM_SELECT_H
#define MBX_SHM_SELECT_H

/* Selective receive (mbx_recv_select): which message types a receive may
 * take. Shared by the ring and the heap queue. */

#include "mbx.h"

#include <stdint.h>

/* The MBX_SEL_* value of a selection, without MBX_SEL_SYSV. */
static inline uint32_t sel_mode(uint32_t sel)
{
    return sel & ~(uint32_t)MBX_SEL_SYSV;
}

/* Whether MBX_SEL_SYSV in selection `sel` rules out type `t`: 0 and the
 * types above INT64_MAX (t - 1 wraps type 0 to the top). */
static inline int sel_excludes(uint32_t sel, uint64_t t)
{
    return (sel & MBX_SEL_SYSV) && t - 1 >= (uint64_t)INT64_MAX;
}

/* Whether a message of type `t` may be taken by a receive selecting
 * (sel, want) (mbx.h: MBX_SEL_*, MBX_SEL_SYSV). MBX_SEL_LE takes the
 * lowest such type first; the queues order that themselves. */
static inline int sel_match(uint32_t sel, uint64_t want, uint64_t t)
{
    if (sel_excludes(sel, t))
        return 0;
    uint32_t how = sel_mode(sel);
    return how == MBX_SEL_ANY || (how == MBX_SEL_EQ && t == want) ||
           (how == MBX_SEL_LE && t <= want) || (how == MBX_SEL_NE && t != want);
}

#endif
