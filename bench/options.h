/* The command line of mbx-bench and its --help text. */
#ifndef BENCH_OPTIONS_H
#define BENCH_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mech.h"

struct options {
    bool full, pin, help;
    const char *out;
    const struct mech *only[64]; /* nonly of them; none: all */
    size_t nonly;
    /* --internal-run MECH SIZE ROUNDTRIPS: one ping-pong for perf to count */
    const struct mech *internal;
    size_t internal_size;
    uint64_t internal_rtts;
    /* --internal-row MECH FILE: measure one row (under LD_PRELOAD), write it */
    const struct mech *internal_row;
    const char *internal_out;
};

/* Fills o from argv. Returns 0, or -1 after saying what is wrong on stderr. */
int options_parse(int argc, char **argv, struct options *o);

void options_help(FILE *f);

#endif
