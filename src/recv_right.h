/* The receive right of MBX_RECV_EXCLUSIVE mailboxes: at most one handle open
 * with MBX_RECV at a time. The holder (process identity and handle id) is
 * recorded in the header, so a holder that died is noticed and replaced. */
#ifndef MBX_RECV_RIGHT_H
#define MBX_RECV_RIGHT_H

#include "handle.h"

/* At open with MBX_RECV: takes the right for handle m. Returns 0, -EBUSY
 * (a live handle holds it) or -EUCLEAN. */
int recv_right_take(struct mbx *m);

/* At close: gives the right back if handle m holds it. */
void recv_right_drop(struct mbx *m);

#endif
