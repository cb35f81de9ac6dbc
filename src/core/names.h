/* The names of local mailboxes. */
#ifndef MBX_NAMES_H
#define MBX_NAMES_H

#include <stddef.h>
#include <sys/types.h>

#define NAME_MAX_LEN 200

/* Returns 0 when name is a valid local mailbox name ([A-Za-z0-9._-],
 * 1..200 bytes, not starting with '.', or "@PID"), -EINVAL or
 * -ENAMETOOLONG. */
int name_check(const char *name);

/* Returns the pid a valid name "@PID" names, or 0 for any other name. */
pid_t name_pid(const char *name);

#endif
