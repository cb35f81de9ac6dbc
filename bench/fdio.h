/* Whole-buffer read and write on file descriptors, for the byte-stream
 * mechanisms (pipe, FIFO, stream sockets) that frame fixed-size messages. */
#ifndef BENCH_FDIO_H
#define BENCH_FDIO_H

#include <stddef.h>
#include <sys/types.h>

/* Writes all len bytes. Returns 0 or a negative errno. */
int fd_write_full(int fd, const void *buf, size_t len);

/* Reads exactly len bytes. Returns len, -EPIPE at end of file, or a negative
 * errno. */
ssize_t fd_read_full(int fd, void *buf, size_t len);

/* Closes *fd when open and marks it closed. */
void fd_close(int *fd);

#endif
