/* Direct communication: "@PID" names a process's own mailbox. */
#ifndef MBX_SELF_H
#define MBX_SELF_H

/* For mbx_open: only process PID may create "@PID", and always as an owned
 * mailbox (MBX_OWNED is added to *flags). Returns 0, or -EACCES when another
 * process tries to create it. Other names pass unchanged. */
int self_name_check(const char *name, int *flags);

#endif
