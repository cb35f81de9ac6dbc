/* Where the connecting side of a channel finds the listening one when the
 * address is known only once it listens (an ephemeral TCP port): a board in
 * memory shared with the children, made by setup in the parent, posted by
 * the listener after it listens, waited for by the connector. */
#ifndef BENCH_BOARD_H
#define BENCH_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* mech.variant of the zmq and nng rows: their transport. */
enum bench_via { VIA_IPC = 0, VIA_TCP = 1 };

struct board;

/* NULL when out of shared memory. */
struct board *board_new(void);
void board_free(struct board *b);

/* The listener: addr is where to connect. */
void board_post(struct board *b, const char *addr);
/* The connector: copies the posted address to addr. Returns 0, or
 * -ETIMEDOUT when nothing is posted within timeout_ns. */
int board_wait(struct board *b, char *addr, size_t len, int64_t timeout_ns);

/* A second flag for a side that must outlast its peer's goodbye: the one
 * side raises it once done, the other waits for it (at most timeout_ns). */
void board_done(struct board *b);
void board_wait_done(struct board *b, int64_t timeout_ns);

#endif
