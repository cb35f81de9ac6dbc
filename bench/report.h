/* The human-readable report on stdout: the main table (one row per
 * mechanism), its notes, the fan-in table and issue 5's targets. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdio.h>

#include "results.h"

void report_print(FILE *f, const struct results *res);

#endif
