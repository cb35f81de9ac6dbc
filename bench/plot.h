/* The PNG plots, drawn by gnuplot from a script (plots.gp) that carries its
 * own data, so it can be edited and re-run by hand. */
#ifndef BENCH_PLOT_H
#define BENCH_PLOT_H

#include <stdbool.h>

#include "results.h"

/* Writes dir/plots.gp and runs gnuplot on it, making dir/latency.png and,
 * when fan-in ran, dir/scaling.png. Returns 0 when the plots were drawn;
 * otherwise says on stderr why not (no gnuplot: skipped) and returns a
 * negative errno. */
int plot_write(const char *dir, const struct results *res, bool *scaling);

#endif
