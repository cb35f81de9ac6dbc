/* The iceoryx rows of a build without libiceoryx-binding-c-dev: in the table
 * as n/a with the reason, so a reader sees what was not compared. */
#include <errno.h>
#include <stdio.h>

#include "mech.h"

static int none_setup(struct chan *c, char *why, size_t whylen)
{
    (void)c;
    snprintf(why, whylen,
             "not built: libiceoryx-binding-c-dev was not found when building "
             "(scripts/deps.sh installs it)");
    return -ENOSYS;
}

static void none_teardown(struct chan *c)
{
    c->priv = NULL;
}

#define NONE_ROW(ident, row, shown)                                                                \
    const struct mech ident = {                                                                    \
        .name = row,                                                                               \
        .label = shown,                                                                            \
        .about = "iceoryx (not built: libiceoryx-binding-c-dev missing)",                          \
        .fanin = FANIN_NO,                                                                         \
        .nosys_note = "iceoryx not built",                                                         \
        .setup = none_setup,                                                                       \
        .teardown = none_teardown,                                                                 \
    }

NONE_ROW(mech_iceoryx, "iceoryx", NULL);
NONE_ROW(mech_iceoryx_poll, "iceoryx-poll", "iceoryx (poll)");
NONE_ROW(mech_iceoryx_zc, "iceoryx-zc", "iceoryx (zero copy)");
NONE_ROW(mech_iceoryx_zc_poll, "iceoryx-zc-poll", "iceoryx (zero copy, poll)");
