/* The export journal of a JetStream export: the message the bridge took
 * from the mailbox and has not yet seen stored by the stream, kept in a
 * memory-mapped file beside the mailboxes (".mbx-bridge.STREAM.export").
 * mbx_recv copies the message, its info and its type straight into the
 * file, so from the moment the mailbox lets go of it a copy outlives a
 * kill -9; a bridge started again publishes that copy first, under the
 * same message id (so the stream keeps one copy, even when the mailbox
 * also put it back because the kill came during the receive). */
#ifndef MBX_NATS_JOURNAL_H
#define MBX_NATS_JOURNAL_H

#include "mbx.h"

#include <stdint.h>

struct journal_rec {
    uint64_t magic;
    uint64_t cap;   /* payload bytes the file holds */
    uint32_t state; /* 1 from before the receive until the stream has it */
    /* The descriptor on which the process that has the journal open holds
     * its lock (own_file_open), kept open until journal_close: meaningful
     * only in that process, written by it at open (no other can open the
     * file meanwhile). Was padding before. */
    int32_t lock_fd;
    uint64_t type;    /* written by the receive */
    mbx_msginfo info; /* written by the receive; info.seq 0: nothing taken */
    uint8_t payload[];
};

/* Maps the journal of stream `stream` for messages up to cap bytes
 * (creating or resizing it), locked against every other opener until
 * journal_close. Returns 0 with *out set, -EBUSY when another bridge has
 * it open, or another -errno (own_file_open's). */
int journal_open(const char *stream, uint64_t cap, struct journal_rec **out);

/* Room for the life of the mailbox the journal's message was taken from
 * (bridge_export.c's epoch, part of its message id), kept after the
 * payload's room: a journal an older bridge wrote has none there (it
 * grows, zero-filled, at open) and reads as unknown. */
#define JOURNAL_EPOCH_MAX 48

/* Copies the epoch the journal's message was taken under into out (cap
 * bytes). Returns 0, or -ENOENT when there is none or it is not one
 * journal_set_epoch could have written. */
int journal_epoch(const struct journal_rec *j, char *out, size_t cap);

/* Records epoch (shorter than JOURNAL_EPOCH_MAX; [0-9a-fx]) as the one
 * the next messages are taken under. */
void journal_set_epoch(struct journal_rec *j, const char *epoch);

/* 1 when the last run left a message taken and not yet stored. */
int journal_pending(const struct journal_rec *j);

void journal_close(struct journal_rec *j);

#endif
