/* The entry point every fuzz target defines. libFuzzer calls it once per
 * input; replay.c calls it once per corpus file in builds without clang. */
#ifndef MBX_FUZZ_TARGET_H
#define MBX_FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>

/* Runs one input; returns 0. A broken invariant aborts. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
