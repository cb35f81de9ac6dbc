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
 * seg_model.h). A receive hands the user a call's token with its 31 low
 * bits XORed with a mix of the mailbox it came through (call_box_mix)
 * keyed by a secret of the receiving process, drawn when the library is
 * loaded and kept by forked children. mbx_reply answers the call in the
 * caller's slots whose token, mixed with the keyed mix of the mailbox the
 * slot names, is the token it was handed, and only if this process holds
 * an open MBX_RECV handle on that mailbox; else -ESRCH, nothing written.
 * So a request that a peer of the called mailbox (who sees the call's
 * token there) forges into another mailbox, served by this process or by
 * one that answers anyone (root's), gets no reply into the caller's
 * mailbox: the peer would have to guess the 31 mixed bits (found by
 * reviews: with a mix of device and inode alone, no secret, it could).
 * Only what a receive hands the user is mixed: the request, its receipt,
 * a withdraw, a confirmed send's token and the reply are not. A process
 * that neither received the request nor was forked from one that shares
 * the key (a program it started, exec) cannot answer it.
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

/* The 31 bits that bind a call's token to mailbox b: a mix of its file's
 * device and inode (fstat of the handle's own descriptor; an id in the
 * shared header, any peer could rewrite) keyed by this process's secret.
 * Computed on first use and kept in the handle (call_mix: the mix and
 * CALL_MIX_KNOWN; call_dev, call_ino); 0 when fstat fails (then not
 * kept). */
#define CALL_MIX_MASK  0x7fffffffu
#define CALL_MIX_KNOWN 0x80000000u
uint32_t call_box_mix_slow(struct shm_box *b);

/* The open of b, a handle with MBX_RECV: its mailbox counts among those
 * this process may answer calls to (call.c: recv_boxes). Returns 0,
 * -ENOMEM, or -EIO (fstat of its descriptor failed). */
int call_box_opened(struct shm_box *b);

/* mbx_close of b: what call_box_opened counted is taken off. Never
 * fails. */
void call_box_forget(struct shm_box *b);

static inline uint32_t call_box_mix(struct shm_box *b)
{
    uint32_t m = __atomic_load_n(&b->call_mix, __ATOMIC_RELAXED);
    return __builtin_expect(m != 0, 1) ? m & CALL_MIX_MASK : call_box_mix_slow(b);
}

/* A received message's token as the user is handed it: a call's (neither
 * a reply nor a confirmed send) bound to the mailbox b it came through.
 * Returns the token to report. */
static inline uint64_t call_token_for_user(struct shm_box *b, uint64_t token)
{
    if (!token || (token & (REPLY_BIT | CONFIRM_BIT)))
        return token;
    return token ^ call_box_mix(b);
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
