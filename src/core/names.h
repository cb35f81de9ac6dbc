/* Mailbox names and the files that back them. */
#ifndef MBX_NAMES_H
#define MBX_NAMES_H

#include <stddef.h>

#define NAME_MAX_LEN 200
/* Longest path we build: directory, "/mbx.", name, and a temporary suffix. */
#define NAME_PATH_MAX 4096

/* Returns 0 when name is a valid mailbox name ([A-Za-z0-9._-], 1..200 bytes,
 * not starting with '.', or "@PID"), -EINVAL, -ENAMETOOLONG, or
 * -EPROTONOSUPPORT for tcp:// names. */
int name_check(const char *name);

/* The directory holding mailboxes: $MBX_DIR, or /dev/shm when unset or empty. */
const char *name_dir(void);

/* Writes "$MBX_DIR/mbx.NAME" into path. Returns 0 or -ENAMETOOLONG. */
int name_path(const char *name, char *path, size_t cap);

/* Returns 1 when a directory entry is a mailbox file, storing the mailbox
 * name (without "mbx.") at *name. */
int name_from_file(const char *file, const char **name);

#endif
