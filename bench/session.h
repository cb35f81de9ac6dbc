/* What the measurements share around their children: a fresh channel with a
 * name no other run uses, and the verdict on how the children ended. */
#ifndef BENCH_SESSION_H
#define BENCH_SESSION_H

#include <stdbool.h>

#include "child.h"
#include "mech.h"
#include "proc.h"

/* Sets up mechanism m for one measurement. On failure, says why in note,
 * tears down what was made and returns the negative errno. */
int session_open(struct chan *c, const struct mech *m, enum mech_pattern pattern, size_t size,
                 int senders, const char *dir, char *note, size_t notelen);
void session_close(struct chan *c);

/* Turns procs_wait's result and the children's reports into a note. Returns
 * true when every child succeeded; *nosys when one met -ENOSYS. */
bool session_verdict(int rc, const struct procs *ps, const struct side_status *sides, int nsides,
                     const struct mech *m, char *note, size_t notelen, bool *nosys);

#endif
