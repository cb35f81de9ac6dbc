/* Files that back mailboxes: create, open, map, remove. Everything here
 * treats the directory as shared with other users: no path is followed
 * through a symbolic link, nothing that is not a regular file is used, and
 * a new file appears under its name only whole. */
#ifndef MBX_SHMFILE_H
#define MBX_SHMFILE_H

#include <stdint.h>
#include <sys/types.h>

/* A mapped mailbox file. */
struct shmfile {
    int fd;
    unsigned char *base;
    uint64_t size;
    uint32_t uid;   /* owner of the file, when it was opened */
    char *tmp_path; /* a new file's hidden name, on file systems without O_TMPFILE */
};

/* Creates an unnamed file of size bytes with permission bits mode in dir,
 * its first `reserve` bytes backed by storage now (the rest stays sparse),
 * and maps it. Returns 0 or -errno (-ENOSPC when the file system is full).
 * The caller formats it, then names it with shmfile_publish. A process
 * killed before publishing leaves nothing behind (O_TMPFILE; on file
 * systems without it, a hidden name that later creations sweep away once
 * its creator is dead). */
int shmfile_create(const char *dir, uint64_t size, uint64_t reserve, unsigned mode,
                   struct shmfile *f);

/* Gives a file from shmfile_create the name path. Returns 0, -EEXIST when
 * the name is taken, or -errno. The file is closed on failure. */
int shmfile_publish(struct shmfile *f, const char *path);

/* Creates a file that has no name at all (memfd) and lives while a
 * process keeps it open, labelled `label` in /proc/PID/fd. Returns 0 or
 * -errno. */
int shmfile_create_anon(const char *label, uint64_t size, unsigned mode, struct shmfile *f);

/* Opens and maps an existing regular file; read-write unless readonly.
 * Never follows a symbolic link at path's last component and never blocks
 * (a FIFO under the name is refused). Returns 0, -ENOENT, -EACCES, -EUCLEAN
 * (not a regular file, a symbolic link, empty), or another -errno. */
int shmfile_open(const char *path, int readonly, struct shmfile *f);

/* Opens and maps the file that process pid has open under the label
 * `label` (see shmfile_create_anon); `accept` is asked about each
 * candidate (several may carry the label) and returns 1 to keep it.
 * Returns 0, -ENOENT (no such process, or no such file), -EACCES (the
 * process belongs to another user), or another -errno. */
int shmfile_open_anon(pid_t pid, const char *label, int readonly,
                      int (*accept)(const struct shmfile *f, void *arg), void *arg,
                      struct shmfile *f);

/* Maps the whole open file once more, read-only. Returns the mapping, or
 * NULL with errno set. Unmap it with shmfile_unmap_view. */
const unsigned char *shmfile_map_view(const struct shmfile *f);
void shmfile_unmap_view(const struct shmfile *f, const unsigned char *view);

/* Unmaps and closes. */
void shmfile_close(struct shmfile *f);

/* Removes path if it still names the same file as f. Returns 0 or -errno
 * (-ENOENT when the name is gone or names another file now, -EPERM or
 * -EACCES when the directory does not let us). */
int shmfile_unlink_same(const char *path, const struct shmfile *f);

/* Returns 1 when the open file no longer has a name. */
int shmfile_unlinked(const struct shmfile *f);

/* Owner uid, gid and permission bits of the open file. */
int shmfile_owner(const struct shmfile *f, uint32_t *uid, uint32_t *gid, uint32_t *mode);

#endif
