/* mbx ls's listing of the mailboxes NATS bridges (mbx bridge) serve. */
#ifndef MBX_TOOLS_BRIDGE_LS_H
#define MBX_TOOLS_BRIDGE_LS_H

#include <stdio.h>

/* Prints, after a blank line and a heading, what the live bridges of
 * mailbox directory dir export and import (their .mbx-bridge.PID.list
 * files; a dead bridge's, and one that is not a regular file owned by
 * the user its bridge runs as, is left out; names and subjects printed
 * escaped); nothing when there is none. */
void bridge_ls_print(FILE *f, const char *dir);

/* Writes the same rows as a JSON array (no newline after it), "[]" when
 * there is none: objects of "name", "how" (export, import), "mode" (core,
 * jetstream), "pid" and "subjects", the file's strings made valid UTF-8
 * (json_put_text). */
void bridge_ls_json(FILE *f, const char *dir);

#endif
