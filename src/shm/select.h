#ifndef MBX_SHM_SELECT_H
#define MBX_SHM_SELECT_H

/* Selective receive (mbx_recv_select): which message types a receive may
 * take. Shared by the ring and the heap queue. */

#include "mbx.h"

#include <stdint.h>

/* Whether a message of type `t` may be taken by a receive selecting
 * (how, want) (mbx.h: MBX_SEL_*). MBX_SEL_LE takes the lowest such type
 * first; the queues order that themselves. */
static inline int sel_match(uint32_t how, uint64_t want, uint64_t t)
{
    return how == MBX_SEL_ANY || (how == MBX_SEL_EQ && t == want) ||
           (how == MBX_SEL_LE && t <= want) || (how == MBX_SEL_NE && t != want);
}

#endif
