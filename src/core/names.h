/* The names of local mailboxes. */
#ifndef MBX_NAMES_H
#define MBX_NAMES_H

#include <stddef.h>
#include <sys/types.h>

#define NAME_MAX_LEN  200  /* a short name: [A-Za-z0-9._-] */
#define NAME_FULL_MAX 4000 /* a name with its directory: /DIR/NAME */

/* Returns 0 when name is a valid local mailbox name, -EINVAL or
 * -ENAMETOOLONG. A short name is [A-Za-z0-9._-], 1..200 bytes, not
 * starting with '.' (its file is in $MBX_DIR); "@PID" is a process's own
 * mailbox; "/DIR/NAME" carries its directory: an absolute path of
 * components of the same characters (none empty, "." or ".."), then a
 * short name, at most NAME_FULL_MAX bytes in all. */
int name_check(const char *name);

/* For a valid name: the length of its directory part ("/DIR" of
 * "/DIR/NAME"), 0 for a short name or "@PID". */
size_t name_dir_len(const char *name);

/* Returns the pid a valid name "@PID" names, or 0 for any other name. */
pid_t name_pid(const char *name);

#endif
