/* The issues' performance targets, met or missed in this run (targets.c). */
#ifndef BENCH_TARGETS_H
#define BENCH_TARGETS_H

#include <stdio.h>

#include "results.h"

/* Prints each target whose figures this run measured. */
void targets_print(FILE *f, const struct results *res);

#endif
