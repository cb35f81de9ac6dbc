/* Runs every measurement of the plan over the chosen mechanisms, saying on
 * stderr what it is doing. */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include "results.h"

/* res->plan, res->mode and res->rows[i].mech (res->nrows of them) are set by
 * the caller. Returns 0, or -EINTR when the user interrupted. */
int run_all(struct results *res);

/* run_preloaded.c: measures row (whose mech->preload is set) in a copy of
 * this program started with LD_PRELOAD, and stores what it measured.
 * Returns 0 (a failed copy makes the row n/a) or -EINTR. */
int run_preloaded(struct results *res, struct row *row);
/* In that copy (--internal-row): writes the measured row to `out`.
 * Returns 0 or a negative errno. */
int preloaded_child_write(const struct row *row, const char *out);

#endif
