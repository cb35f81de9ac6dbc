/* Where the mailboxes of local names live: $MBX_DIR/mbx.NAME. */
#ifndef MBX_SHM_FILES_H
#define MBX_SHM_FILES_H

#include <stddef.h>

/* Longest path built: directory, "/mbx.", name. */
#define NAME_PATH_MAX 4096

/* The directory holding mailboxes: $MBX_DIR, or /dev/shm when unset or empty. */
const char *name_dir(void);

/* Writes "$MBX_DIR/mbx.NAME" into path ("/DIR/mbx.NAME" for a name that
 * carries its directory, "/DIR/NAME"). Returns 0 or -ENAMETOOLONG. */
int name_path(const char *name, char *path, size_t cap);

/* Returns 1 when a directory entry is a mailbox file, storing the mailbox
 * name (without "mbx.") at *name. */
int name_from_file(const char *file, const char **name);

/* Returns the directory part of a mailbox's path, newly allocated ("." for
 * a bare name), or NULL when out of memory. */
char *dir_of(const char *path);

#endif
