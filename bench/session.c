#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "session.h"

int session_open(struct chan *c, const struct mech *m, enum mech_pattern pattern, size_t size,
                 int senders, const char *dir, char *note, size_t notelen)
{
    static unsigned counter;
    memset(c, 0, sizeof(*c));
    c->mech = m;
    c->p.pattern = pattern;
    c->p.size = size;
    c->p.senders = senders;
    c->p.dir = dir;
    snprintf(c->p.tag, sizeof(c->p.tag), "%ld-%u", (long)getpid(), counter++);
    note[0] = '\0';
    int rc = m->setup(c, note, notelen);
    if (rc < 0) {
        if (!note[0])
            snprintf(note, notelen, "setup: %s", strerror(-rc));
        m->teardown(c);
    }
    return rc;
}

void session_close(struct chan *c)
{
    c->mech->teardown(c);
}

bool session_verdict(int rc, const struct procs *ps, const struct side_status *sides, int nsides,
                     const struct mech *m, char *note, size_t notelen, bool *nosys)
{
    *nosys = false;
    if (rc == 0)
        return true;
    for (int i = 0; i < nsides; i++) {
        if (!sides[i].err)
            continue;
        if (sides[i].err == -ENOSYS && m->nosys_note) {
            *nosys = true;
            snprintf(note, notelen, "%s", m->nosys_note);
        } else {
            snprintf(note, notelen, "%s", sides[i].why);
        }
        return false;
    }
    if (rc == -EINTR) {
        snprintf(note, notelen, "interrupted");
    } else if (rc == -ETIMEDOUT) {
        snprintf(note, notelen, "hung: children killed at the deadline");
    } else {
        snprintf(note, notelen, "a child failed");
        for (int i = 0; i < ps->n; i++) {
            if (WIFSIGNALED(ps->status[i])) {
                snprintf(note, notelen, "a child died of %s", strsignal(WTERMSIG(ps->status[i])));
                break;
            }
        }
    }
    return false;
}
