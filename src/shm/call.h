/* Request/reply: mbx_call and mbx_reply.
 *
 * A call's token is the caller's pid (high 32 bits) and 31 bits that differ
 * per call and are unpredictable (a keyed PRF of a counter). The request
 * carries it; the reply carries it with REPLY_BIT set and goes to the
 * caller's own mailbox "@PID", where the caller takes exactly that message.
 * While it waits, the call occupies a slot in its own mailbox's header (a
 * reply to a caller that gave up finds none: -ESRCH) and a receipt in the
 * called mailbox, where the receiver that takes the request writes itself
 * (receipts.h), so the caller can tell when that taker dies (-EPIPE).
 * Nothing a message says makes a receiver open or write another mailbox:
 * only mbx_reply, asked for by the application, opens the caller's.
 *
 * A reply is bound to the mailbox the call went to. The caller's slot
 * names that mailbox (its file's device and inode, beside calls[] in the
 * caller's own header, which only its user and root may write:
 * seg_model.h). A receive hands the user a call's token with 40 of its
 * bits (CALL_MIX_MASK) XORed with a SipHash of the token under a key of
 * the mailbox it came through, derived from a secret of the receiving
 * process drawn when the library is loaded and kept by forked children.
 * mbx_reply answers the call in the caller's slots whose token, bound so
 * to the mailbox the slot names, is the token it was handed, and only if
 * this process holds an open MBX_RECV handle on that mailbox; else -ESRCH,
 * nothing written. So a request that a peer of the called mailbox (who
 * sees the call's token there) forges into another mailbox, served by
 * this process or by one that answers anyone (root's), gets no reply into
 * the caller's mailbox unless the peer guesses 40 bits for that one call
 * (found by reviews: with a public mix it could at once, with a keyed mix
 * of the mailbox alone after learning it once). Only what a receive hands
 * the user is bound: the request, its receipt, a withdraw, a confirmed
 * send's token and the reply are not. A process that neither received
 * the request nor was forked from one that shares the key (a program it
 * started, exec) cannot answer it, unless the receiver gave it the secret
 * (mbx_reply_secret) and it set it before binding anything under its own
 * (mbx_reply_secret_set).
 */
#ifndef MBX_CALL_H
#define MBX_CALL_H

#include "shm/receipts.h"
#include "shm/shm.h"

/* A new token: this process's pid (high 32 bits) and 31 bits that differ
 * per call and are hard to guess; bit 31 is 0. Never fails. */
uint64_t call_new_token(void);

/* The token key's lock is held across fork (shm_fork_*): a thread that
 * drew the process's first key while another forked left it locked in
 * the child, whose first call then waited for ever (found by a review).
 * call_fork_after is for both processes. */
void call_fork_prepare(void);
void call_fork_after(void);

/* SipHash-2-4 of the 8 bytes of m (little-endian) under the key (k0, k1).
 * Returns the hash. */
uint64_t call_siphash(uint64_t k0, uint64_t k1, uint64_t m);

/* The bits of a call's token that a receive binds to its mailbox (call.c):
 * the 31 random low bits and bits 54-62, above every pid (pid_max is at
 * most 2^22): 40 bits. The pid, bit 31 (CONFIRM_BIT) and bit 63
 * (REPLY_BIT) stay as they are. */
#define CALL_MIX_MASK 0x7fc000007fffffffull

/* The caller's pid in a call's token, bound or not. */
static inline pid_t call_token_pid(uint64_t token)
{
    return (pid_t)((token >> 32) & 0x3fffff);
}

/* The token bound under a mailbox's key (k0, k1): token with the bits of
 * CALL_MIX_MASK XORed with a SipHash of the token. Returns it. */
uint64_t call_bind(uint64_t k0, uint64_t k1, uint64_t token);

/* Makes sure b knows its file's device and inode (fstat of its own
 * descriptor) and its key under this process's secret (call_dev, call_ino,
 * call_k0, call_k1; call_known once set). Returns 0, or -EIO when fstat
 * failed (then looked for again next time). */
int call_box_known_slow(struct shm_box *b);
static inline int call_box_known(struct shm_box *b)
{
    return __builtin_expect(__atomic_load_n(&b->call_known, __ATOMIC_ACQUIRE) != 0, 1)
               ? 0
               : call_box_known_slow(b);
}

/* The open of b, a handle with MBX_RECV: its mailbox counts among those
 * this process may answer calls to (call.c: recv_boxes). Returns 0,
 * -ENOMEM, or -EIO (fstat of its descriptor failed). */
int call_box_opened(struct shm_box *b);

/* mbx_close of b: what call_box_opened counted is taken off. Never
 * fails. */
void call_box_forget(struct shm_box *b);

/* A received message's token as the user is handed it: a call's (neither
 * a reply nor a confirmed send) bound to the mailbox b it came through.
 * Returns the token to report (unbound when b's file cannot be looked at:
 * no reply will then find its call). */
static inline uint64_t call_token_for_user(struct shm_box *b, uint64_t token)
{
    if (!token || (token & (REPLY_BIT | CONFIRM_BIT)) || call_box_known(b))
        return token;
    return call_bind(b->call_k0, b->call_k1, token);
}

/* mbx_call and mbx_reply on local mailboxes, as mbx.h says (arguments
 * checked by the core). */
ssize_t shm_call(struct mbx *m, const void *req, size_t len, unsigned prio, void *reply, size_t cap,
                 int64_t timeout_ns);
int shm_reply(const mbx_msginfo *request, const void *buf, size_t len);

/* mbx_send_confirmed on a local mailbox (confirm.c), arguments checked by
 * the core. */
int shm_send_confirmed(struct mbx *m, const void *buf, size_t len, unsigned prio,
                       int64_t timeout_ns, mbx_receipt *who);

/* Answers a request with an error instead of a reply: the caller's
 * mbx_call returns err (-1 .. -65535). The reply is an empty message whose
 * type says so (REPLY_ERR_TYPE); mbx_reply always sends type 0, so no
 * reply a server sends can be taken for one. Returns what shm_reply
 * returns, or -EINVAL for err out of range. */
#define REPLY_ERR_TYPE 0x4d42584500000000ull /* "MBXE" */
#define REPLY_ERR_MASK 0xffffull
int shm_reply_error(const mbx_msginfo *request, int err);

#endif
