/* This process's pid, cached: getpid() is a system call, and the send path
 * must not make one. The cache is renewed in a forked child. (The uid is
 * cached per handle instead, when it is opened: a process may change its
 * uid, and the handle it opens afterwards must carry the new one.) */
#ifndef MBX_SELF_ID_H
#define MBX_SELF_ID_H

#include <stdint.h>

int32_t self_pid(void);

#endif
