/* mbx ls's listing of libmbx-sysv's System V queues. */
#ifndef MBX_TOOLS_SYSV_LS_H
#define MBX_TOOLS_SYSV_LS_H

#include <stdio.h>

/* Prints the queues of mailbox directory dir like `ipcs -q`, after a blank
 * line and a heading; prints nothing when there are none. */
void sysv_ls_print(FILE *f, const char *dir);

#endif
