/* Files that back mailboxes: create, open, map, remove. */
#ifndef MBX_SHMFILE_H
#define MBX_SHMFILE_H

#include <stdint.h>
#include <sys/types.h>

/* A mapped mailbox file. */
struct shmfile {
    int fd;
    unsigned char *base;
    uint64_t size;
};

/* Creates a private, unnamed-yet file of size bytes with mode in dir, its
 * first `reserve` bytes backed by storage now (the rest stays sparse), maps
 * it, and returns 0 or -errno (-ENOSPC when the file system is full). The
 * caller formats it, then publishes it with shmfile_publish. */
int shmfile_create(const char *dir, uint64_t size, uint64_t reserve, unsigned mode,
                   struct shmfile *f, char *tmp_path, size_t tmp_cap);

/* Gives the formatted temporary file its final name. Returns 0, -EEXIST
 * when the name is taken (the temporary file is removed either way), or
 * -errno. */
int shmfile_publish(const char *tmp_path, const char *path);

/* Opens and maps an existing file; read-write unless readonly. Returns 0 or
 * -errno (-ENOENT, -EACCES, ...). */
int shmfile_open(const char *path, int readonly, struct shmfile *f);

/* Maps the whole open file once more, read-only. Returns the mapping, or
 * NULL with errno set. Unmap it with shmfile_unmap_view. */
const unsigned char *shmfile_map_view(const struct shmfile *f);
void shmfile_unmap_view(const struct shmfile *f, const unsigned char *view);

/* Unmaps and closes. */
void shmfile_close(struct shmfile *f);

/* Removes path if it still names the same file as f. Returns 0 or -errno. */
int shmfile_unlink_same(const char *path, const struct shmfile *f);

/* Owner uid, gid and permission bits of the open file. */
int shmfile_owner(const struct shmfile *f, uint32_t *uid, uint32_t *gid, uint32_t *mode);

#endif
