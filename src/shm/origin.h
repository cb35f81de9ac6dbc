/* Where the messages a thread sends come from: 0 (this machine) unless a
 * gateway's thread says, around the sends it makes for a remote sender,
 * which host that sender is on (an id of hosts.h). The sends record it
 * with each message (mbx_msginfo.sender_host). The calling thread's own:
 * no other thread is affected. */
#ifndef MBX_SHM_ORIGIN_H
#define MBX_SHM_ORIGIN_H

#include "platform/platform.h"

#include <stdint.h>

extern MBX_TLS uint32_t origin_mine;

/* Sets the calling thread's origin (0: this machine). Never fails. */
static inline void origin_set(uint32_t host_id)
{
    origin_mine = host_id;
}

#endif
