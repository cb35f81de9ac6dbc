/* Futex wait and wake on words in shared (not process-private) memory. */
#ifndef MBX_FUTEX_H
#define MBX_FUTEX_H

#include <stdint.h>

/* Sleeps while *word == val, at most timeout_ns (< 0: no limit). Returns 0
 * when woken or when *word already differed, -ETIMEDOUT, or -EINTR when a
 * signal handler ran. */
int futex_wait(uint32_t *word, uint32_t val, int64_t timeout_ns);

/* Wakes up to n sleepers on word. */
void futex_wake(uint32_t *word, int n);

#endif
