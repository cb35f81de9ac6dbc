/* What a process holds across all its handles, and the one place that
 * keeps it right across fork and at exit: the calls in progress (guard.h)
 * and each transport's own (the local transport's: this process's own
 * mailbox and the handles on callers' mailboxes it answers). The pid
 * cache is the platform's (ident_self), which renews itself in a child. */
#ifndef MBX_CORE_PROCESS_H
#define MBX_CORE_PROCESS_H

/* Registers the fork and exit handlers, once per process. Cheap after the
 * first call; every entry point that can make process-wide state calls it
 * first. Never fails. */
void process_init(void);

#endif
