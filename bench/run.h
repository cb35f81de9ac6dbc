/* Runs every measurement of the plan over the chosen mechanisms, saying on
 * stderr what it is doing. */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include "results.h"

/* res->plan, res->mode and res->rows[i].mech (res->nrows of them) are set by
 * the caller. Returns 0, or -EINTR when the user interrupted. */
int run_all(struct results *res);

#endif
