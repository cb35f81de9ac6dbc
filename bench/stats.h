/* Order statistics of round-trip times. */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

void sort_samples(int64_t *v, size_t n);

/* The q-quantile (0 < q <= 1) of the sorted v[0..n), n >= 1, by the nearest
 * rank: the smallest sample with at least q*n samples at or below it. */
double quantile_sorted(const int64_t *v, size_t n, double q);

#endif
