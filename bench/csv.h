/* results.csv: every number of the run, one line per cell, for tools. */
#ifndef BENCH_CSV_H
#define BENCH_CSV_H

#include "results.h"

/* Writes path. Returns 0 or a negative errno. */
int csv_write(const char *path, const struct results *res);

#endif
