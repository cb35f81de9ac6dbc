/* Numbers for people, as the report prints them (units.c). */
#ifndef BENCH_UNITS_H
#define BENCH_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Writes v with about three significant digits (0.0012 ... 12345). */
void sig3(char *out, size_t n, double v);

/* Writes a rate with a unit letter: 1.23M, 456k. */
void rate_str(char *out, size_t n, double v);

/* Writes a byte count in KiB, from 1 MiB in MiB, from 1 GiB in GiB. */
void bytes_str(char *out, size_t n, uint64_t b);

#endif
