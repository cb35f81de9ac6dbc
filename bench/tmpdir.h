/* The benchmark's private temporary directory: FIFOs, socket files and the
 * mbx mailboxes (MBX_DIR) of one run live there and go with it. */
#ifndef BENCH_TMPDIR_H
#define BENCH_TMPDIR_H

#include <stddef.h>

/* Makes a fresh directory under /dev/shm (memory, like mbx's default), or
 * under $TMPDIR or /tmp without it, and writes its path to out. Returns 0 or
 * a negative errno. */
int tmpdir_make(char *out, size_t outlen);

/* Removes the directory and everything in it. */
void tmpdir_remove(const char *path);

#endif
