/* Header fields of the message-passing model: who owns a mailbox, who
 * holds its exclusive receive right (and a pair's send right), and which calls its process is
 * waiting on. They live in struct seg_hdr; each is one 64-bit word changed
 * with atomic operations (no lock), and untrusted when read.
 */
#ifndef MBX_SEG_MODEL_H
#define MBX_SEG_MODEL_H

#include <stdint.h>

#define SEG_CALLS 16u

struct seg_model {
    uint64_t owner;            /* MBX_OWNED: ident (ident.h) of the owning process */
    uint64_t pending_owner;    /* mbx_transfer target until it opens; 0: none */
    uint64_t receiver;         /* MBX_RECV_EXCLUSIVE: ident of the holder's process */
    uint64_t receiver_handle;  /* ... and its handle, unique in that process */
    uint64_t calls[SEG_CALLS]; /* @PID: tokens of this process's calls under way */
    uint64_t sender;           /* MBX_RECV_PAIR: ident of the send end's process */
    uint64_t sender_handle;    /* ... and its handle */
    uint64_t spare[2];
};
_Static_assert(sizeof(struct seg_model) == 192, "model fields");

/* @PID: the mailbox that call calls[i] went to (its file's device and
 * inode, from fstat of the caller's own descriptor), written by the caller
 * before it sends the request; { 0, 0 } in files of earlier builds. Only
 * the process's own user and root may write @PID, so a replier may trust
 * it where it may not trust the called mailbox's shared memory, and refuses
 * to answer a call to a mailbox it holds no receive handle on (call.h).
 * Not in struct seg_hdr, whose size earlier builds check: the header
 * page's bytes at SEG_CALL_BOXES_OFF (segment.h), which they never look at
 * and which are zero in their files. */
struct seg_call_box {
    uint64_t dev, ino;
};

#endif
