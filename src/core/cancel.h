/* A thread's way to end, from outside, a wait inside the library that may
 * otherwise last for ever: the tcp:// gateway makes a remote client's
 * mbx_call or mbx_send_confirmed on a thread of its own, with the client's
 * timeout (which may be none), and must end it when the client's link has
 * been dead too long or the gateway stops. Calls and confirmed sends look
 * at the hook where they look at the taker and at removal (every 20 ms
 * while they sleep) and then give up as after a timeout: the request is
 * taken back unless someone took it. The hook is the calling thread's
 * own: no other thread is ever affected.
 */
#ifndef MBX_CANCEL_H
#define MBX_CANCEL_H

#include "platform/platform.h"

struct cancel_hook {
    int (*asked)(void *arg); /* nonzero: give up now */
    void *arg;
};

extern MBX_TLS struct cancel_hook cancel_mine;

/* Sets the calling thread's hook (asked NULL: none). Never fails. */
static inline void cancel_set(int (*asked)(void *arg), void *arg)
{
    cancel_mine.asked = asked;
    cancel_mine.arg = arg;
}

/* Returns nonzero when the calling thread's hook asks its wait to end. */
static inline int cancel_asked(void)
{
    return cancel_mine.asked && cancel_mine.asked(cancel_mine.arg);
}

#endif
