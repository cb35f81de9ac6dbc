/* A model of the ring mailbox's slot protocol (ring.h, ring.c,
 * ring_repair.c, ring_loan.c) for the SPIN model checker. Run it with
 * tests/model/run.sh (--quick or --full); README.md, "The ring's protocol,
 * model checked", says what it proves.
 *
 * WHAT IS MODELLED. Up to three actors (processes) share one ring of SLOTS
 * (1 to 3) slots. Each actor runs a short script of calls: a copying send
 * (ring_send), a loan sent in place or, when it was relocated, by the copy
 * path (ring_loan + ring_send_loan), a loan kept for ever, a send or loan
 * whose storage reservation fails (ring_back: the give-up path), a copying
 * receive (ring_recv), a received loan released (ring_recv_loan +
 * ring_release) or kept. Any actor named in the scenario's kill mask may be
 * killed (SIGKILL) before any one of its steps, or while it waits, or after
 * its script while it still holds something: KILLS deaths per run at most.
 * Repairs (ring_unstick: SKIP, TAKING put back, a repairer dying half way
 * and another finishing its work) and relocation of a live holder's slot
 * happen where the C code does them: in the waits of senders and
 * receivers, in ring_settle_head, in the non-blocking paths.
 *
 * ATOMICITY. Every atomic operation of the C code (load, store, CAS,
 * exchange, fetch-add) on a shared word is one step of the model (a STEP,
 * at which the actor may also die); a plain sequence of them is that many
 * steps. Each inline names the C function it models; the numbers in the
 * comments beside its steps are lines of that function's file (updated
 * for put_back, ring_release_prio, ring_claim and ring_recv_any as of this
 * commit; elsewhere they may lag by a few lines: the statement is named). Purely local
 * computation is folded into the step before it. Two places read two words
 * in one step: the guard of a spinning wait (ring.c:128-129, a loop that
 * reads both words again and again) and the futex's compare-and-sleep,
 * which the kernel does atomically.
 *
 * ABSTRACTIONS.
 * - Memory ordering is NOT modelled: every step is sequentially
 *   consistent. The issue 23 audit found the C code's orderings sound
 *   (publication, slot reuse, the sleeper handshakes); this model checks
 *   the protocol's logic on top of that.
 * - A message is its identity (actor and script index, which give its
 *   sender and its priority). Payload, len, sender_pid/uid and token are
 *   one "message" field written in one step (the memcpy); torn copies are
 *   therefore not modelled, but a copy of the wrong message is caught.
 *   Buffer sizes (-EMSGSIZE), receive filters (from, reply tokens),
 *   receipts, the poll hook, removal, closing and timeouts are not
 *   modelled: receives and blocking sends wait for ever, ring_loan never
 *   waits (as in C).
 * - Liveness: an actor is one thread and one process and never comes back
 *   after a death, so ring_holder_alive is "not killed" (dead[pid]): the
 *   who_word / who_start records that tell a process from a later one with
 *   the same pid are abstracted away, and with them the wrong-death case
 *   (a live process judged dead: pid namespaces, pid reuse) that the
 *   README documents as unsupported.
 * - Positions: the word's 39-bit position is kept modulo POSM = 32 with the
 *   same signed-distance arithmetic as slot_dist, and head and tail are
 *   full counters (bytes here, 64-bit in C) starting at BASE = 31, so the
 *   slot words wrap from 31 to 0 in every run while head and tail do not,
 *   as at 2^39 in C. Every position used stays within 16 of BASE (asserted:
 *   a "model_bound" failure means the scenario is too long, not a bug), so
 *   modular distances are exact.
 * - Futexes: a counter per futex and, per actor, whether it sleeps in the
 *   kernel; futex_wait compares and sleeps atomically, futex_wake(1) wakes
 *   any one sleeper, futex_wake(INT_MAX) all. The sleepers count
 *   (sleepers_enter/leave) is exact; a killed sleeper leaves it at once (C
 *   forgets it within two epochs: more wake-ups, never fewer).
 * - Time: a wait ends only when its condition is met, by a wake-up, or by
 *   the 10 ms poll for a stuck slot when ring_unstick would succeed. The
 *   poll and the 250 ms slice that end any sleep in C count only after a
 *   death (nobody signals one); otherwise a sleeper that needs them to see
 *   a state it could use is reported (the missed wake-ups of issue 23 were
 *   exactly that). A spinning wait is the guard of its loop; the short
 *   busy-head spin (ring.c:503-508) is a second look.
 * - ring_reset_all_dead (reboot), stats (received, unstuck), prefetch and
 *   ADVANCE_LIMIT are not modelled; nor is the heap kind of mailbox.
 *
 * PROPERTIES (each assertion names its property first: "(no_loss||...)").
 * - delivered_once: no message is delivered twice. A copy is delivered
 *   when the receiver frees the slot (ring.c:330), a loan when it is lent
 *   (ring.c:293). A receiver killed while copying (TAKING) never delivered
 *   it: its message is put back and may be taken again; those are counted
 *   apart (the ghost `redelivered`).
 * - delivered_right: what a receiver copies is the message it took, a
 *   published one, with the priority it was sent with; a lent slot still
 *   holds its message when released.
 * - no_loss: when nothing can move any more, every published message has
 *   been delivered or is still in the ring (READY, or TAKING by a dead
 *   receiver).
 * - prio_order: a receiver that takes message m (priority p, position x)
 *   never passes over a message that was READY during its whole attempt
 *   (from its look at hiprio, ring.c:475, to its CAS, ring.c:293) and has
 *   a higher priority, or the same priority and an older position.
 *   Messages being delivered again after a death are exempt.
 * - sender_fifo: the first takes of one sender's messages of equal
 *   priority happen in the order it sent them (its calls are sequential).
 * - hiprio_count (checked in every state): hiprio is never below the
 *   number of READY messages above priority 0; and no FREE slot carries
 *   PRIO_COUNTED (the mark never outlives its lap). hiprio_exact: in a run
 *   without deaths, once nothing moves, hiprio equals the number of marks.
 * - live_slot_safe: a CAS on a slot held (CLAIMED, TAKING, LENT, SKIP) by
 *   another, live actor only relocates it: same state, same pid, one lap
 *   later. From the holder's side: its publish, free or release finds its
 *   slot where it left it or relocated (never -EINVAL or RETRY).
 * - no_leak: an actor that finished its script holds no slot except the
 *   loans its script keeps.
 * - wait_proceeds (checked whenever nothing can move any more): no
 *   receiver waits while a message is READY, or TAKING by a dead receiver;
 *   no sender waits while the position at the tail is FREE or held by a
 *   dead sender or borrower (repairable room).
 * - no_reloc_spin: a sender does not relocate a whole lap of slots with
 *   nobody else making progress meanwhile (it should wait or say -EAGAIN).
 * - no_corrupt: the ring never looks corrupt (the -EUCLEAN checks of
 *   ring_claim and ring_settle_head).
 *
 * MUTANTS (off by default; tests/model/run.sh --mutants checks that each is
 * caught): bugs of the ring, fixed, put back in the model.
 *   M_PRIO_WITH_MARK      take() clears the priority together with its
 *                         mark before freeing the slot (before 70a80eb): a
 *                         receiver killed in between sends the message back
 *                         at priority 0.
 *   M_REPAIR_LIVE         ring_unstick judges a live receiver's TAKING or
 *                         LENT slot dead and repairs it.
 *   M_RELOC_SPIN          a sender facing slots all held by live processes
 *                         moves them on round and round (found by this
 *                         model; fixed in ring_claim).
 *   M_HEAD_MOVED          a receiver whose head slot moved on after
 *                         ring_settle_head waits on its word (found by this
 *                         model; fixed in ring_recv_any).
 *   M_POS39               a repair writes the slot word's 39-bit position
 *                         into the 64-bit head (security issue).
 *   M_KEEP_COUNTED        take() and ring_release count a message down but
 *                         leave PRIO_COUNTED in the slot (issue 23, bug 1).
 *   M_OLD_SKIP            SKIP names nobody, anyone frees it, and
 *                         ring_free_skipped exchanges prio before its CAS
 *                         owns the slot (bug 1, second part).
 *   M_SPIN_IGNORES_STUCK  a spinning waiter watches only its watch word,
 *                         not the stuck slot (bug 2).
 *   M_LATE_FSEEN          the futex value is read just before sleeping,
 *                         after the look (bug 2, sleep mode).
 *   M_NO_SENDER_WAKE      a receive that frees a slot wakes no sender (bug
 *                         3).
 *   M_OLD_RELEASE         ring_release frees only where it first saw the
 *                         loan, not where a sender relocated it.
 *   M_NO_SWEEP            a receiver keeps an eye on the first busy slot
 *                         only: a message whose receiver died behind a slot
 *                         a live process holds is not put back until that
 *                         slot changes (found by this model; fixed in
 *                         ring.c's unstuck).
 *   M_RELOCATED_IS_PROGRESS  a sender that finds its position taken by a
 *                         hold another sender moved on counts it as
 *                         progress and may move the same live hold again:
 *                         two senders push it on in turn (found by this
 *                         model, prio-mark-1slot; fixed in ring_claim).
 *   M_GIVEUP_STALE        a send or loan whose storage fails gives up the
 *                         claim by its original word only: if a sender
 *                         relocated it meanwhile, the slot stays CLAIMED by
 *                         a live process, moved on each lap (found by this
 *                         model; fixed in ring_give_up).
 *   M_REPAIR_WAKES_SLEEPERS_ONLY  a put-back or relocation bumps the
 *                         futex word only when someone is counted asleep:
 *                         a receiver that looked just before the put-back
 *                         sleeps next to the message (found by this model,
 *                         scenario two-recv-1kill).

 */

/* ---------------------------------------------------------------- sizes */
#ifndef SLOTS
#define SLOTS 2
#endif
#ifndef SCEN
#define SCEN 1
#endif
#define MAXS   3            /* arrays are sized for the largest ring */
#define MAXOPS 4            /* calls per actor */
#define NMSG   12           /* message ids 1..12: (actor - 1) * MAXOPS + op + 1 */
#define POSM   32           /* positions in slot words, modulo (2^39 in C) */
#define BASE   31           /* first position: slot words wrap after one */
#define NOPOS  255          /* RING_NO_POS */
#define NONE   255

/* slot states (ring.h:39-46) */
#define FREE    0
#define CLAIMED 1
#define READY   2
#define TAKING  3
#define SKIP    4
#define LENT    5

#define COUNTED 128         /* PRIO_COUNTED (ring_impl.h:165) */

/* return codes */
#define OK     0
#define RETRY  1
#define EAGAIN 2
#define ENOSPC 3

/* futexes and their sleeper counts: send_futex, recv_futex */
#define FSEND 1
#define FRECV 2

/* script operations: kind in the low 4 bits, priority above */
#define OP_END       0
#define OP_SEND      1   /* ring_send */
#define OP_SENDF     2   /* ring_send whose storage reservation may fail */
#define OP_LOAN      3   /* ring_loan, write, ring_send_loan */
#define OP_LOANF     4   /* the same; ring_loan's reservation may fail */
#define OP_LOANKEEP  5   /* ring_loan, write, keep it */
#define OP_RECV      6   /* ring_recv (copy) */
#define OP_RECVLOAN  7   /* ring_recv_loan, ring_release */
#define OP_RECVKEEP  8   /* ring_recv_loan, keep it */
#define P(kind, prio) ((kind) | ((prio) << 4))

/* --------------------------------------------------------- slot words */
/* slot_word (ring.h:79): [position mod POSM | state | pid] */
#define W(pos, st, pid) (((((pos) % POSM)) << 6) | ((st) << 3) | (pid))
#define WPOS(w) ((w) >> 6)
#define WST(w)  (((w) >> 3) & 7)
#define WPID(w) ((w) & 7)
/* slot_dist (ring.h:97): signed distance from pos to w's position */
#define UDIST(w, pos) ((WPOS(w) + POSM - ((pos) % POSM)) % POSM)
#define DIST(w, pos) (UDIST(w, pos) >= POSM / 2 -> UDIST(w, pos) - POSM : UDIST(w, pos))
#define IDX(pos) ((pos) % SLOTS)   /* ring_slot_at (ring_impl.h:167) */

/* ------------------------------------------------------- scenarios */
/* Each sets NA (actors), KILLMASK (bit a-1: actor a may be killed), KILLS
 * (deaths per run), SPINMODES (2 bits per actor: 0 sleeps at once
 * (spin_ns 0), 1 spins then sleeps, 2 spins for ever (-1)) and the
 * scripts. Ring capacity comes from SLOTS. */
#if SCEN == 1
/* Copy sends and receives, priorities, one death anywhere. */
#define NA 2
#define KILLMASK 3
#define SKILLS 1
#define SPINMODES 0
#define SCRIPTS script[0] = P(OP_SEND, 0); script[1] = P(OP_SEND, 1); script[2] = P(OP_SEND, 0); \
                script[4] = P(OP_RECV, 0); script[5] = P(OP_RECV, 0); script[6] = P(OP_RECV, 0)
#elif SCEN == 2
/* A loan sent while another sender comes round (relocation, the copy
 * path), a received loan; one death anywhere. */
#define NA 3
#define KILLMASK 7
#define SKILLS 1
#define SPINMODES 0
#define SCRIPTS script[0] = P(OP_LOAN, 1); \
                script[4] = P(OP_SEND, 0); script[5] = P(OP_SEND, 1); \
                script[8] = P(OP_RECVLOAN, 0); script[9] = P(OP_RECV, 0); script[10] = P(OP_RECV, 0)
#elif SCEN == 3
/* Two receivers racing for messages and repairs; a sender of two
 * priorities; two deaths (a receiver dying copying, a repairer dying). */
#define NA 3
#define KILLMASK 6
#define SKILLS 2
#define SPINMODES 0
#define SCRIPTS script[0] = P(OP_SEND, 0); script[1] = P(OP_SEND, 1); script[2] = P(OP_SEND, 1); \
                script[4] = P(OP_RECV, 0); script[5] = P(OP_RECV, 0); \
                script[8] = P(OP_RECV, 0); script[9] = P(OP_RECV, 0)
#elif SCEN == 4
/* A loan kept by a process that may die (repair of CLAIMED, SKIP taken
 * over), a sender whose storage may fail, a receiver of loans. */
#define NA 3
#define KILLMASK 5
#define SKILLS 2
#define SPINMODES 0
#define SCRIPTS script[0] = P(OP_LOANKEEP, 0); \
                script[4] = P(OP_SENDF, 1); script[5] = P(OP_SEND, 1); script[6] = P(OP_SEND, 0); \
                script[8] = P(OP_RECVLOAN, 0); script[9] = P(OP_RECV, 0)
#elif SCEN == 5
/* Waits: a receiver spinning for ever and one sleeping, a sender that
 * spins then sleeps; deaths anywhere but in the spinner. */
#define NA 3
#define KILLMASK 3
#define SKILLS 1
#define SPINMODES (1 | (0 << 2) | (2 << 4))
#define SCRIPTS script[0] = P(OP_SEND, 0); script[1] = P(OP_SEND, 0); script[2] = P(OP_SEND, 0); \
                script[4] = P(OP_RECV, 0); script[5] = P(OP_RECV, 0); \
                script[8] = P(OP_RECV, 0)
#elif SCEN == 6
/* Received loans kept and released while a sender needs the room; a
 * borrower that may die. */
#define NA 2
#define KILLMASK 2
#define SKILLS 1
#define SPINMODES 0
#define SCRIPTS script[0] = P(OP_SEND, 1); script[1] = P(OP_SEND, 0); script[2] = P(OP_SEND, 1); \
                script[4] = P(OP_RECVLOAN, 0); script[5] = P(OP_RECVKEEP, 0); script[6] = P(OP_RECV, 0)
#elif SCEN == 7
/* Loans whose storage may fail, relocated meanwhile (the give-up path). */
#define NA 3
#define KILLMASK 0
#define SKILLS 0
#define SPINMODES 0
#define SCRIPTS script[0] = P(OP_LOANF, 0); script[1] = P(OP_SENDF, 0); \
                script[4] = P(OP_SEND, 0); script[5] = P(OP_SEND, 0); \
                script[8] = P(OP_RECV, 0); script[9] = P(OP_RECV, 0); script[10] = P(OP_RECV, 0)
#elif SCEN == 8
/* Priority mark across laps: a high message received, then a loan in the
 * same slot that dies, then more high messages (issue 23, bug 1). */
#define NA 3
#define KILLMASK 2
#define SKILLS 1
#define SPINMODES 0
#define SCRIPTS script[0] = P(OP_SEND, 1); script[1] = P(OP_SEND, 0); script[2] = P(OP_SEND, 1); \
                script[4] = P(OP_LOANKEEP, 0); \
                script[8] = P(OP_RECV, 0); script[9] = P(OP_RECV, 0); script[10] = P(OP_RECV, 0)
#elif SCEN == 9
/* A kept loan (live) and a receiver killed copying the message behind it. */
#define NA 3
#define KILLMASK 4
#define SKILLS 1
#define SPINMODES 0
#define SCRIPTS script[0] = P(OP_LOANKEEP, 0); script[1] = P(OP_SEND, 0); \
                script[4] = P(OP_RECV, 0); \
                script[8] = P(OP_RECV, 0)
#elif SCEN == 10
/* Every slot held by a live process: a non-blocking loan must not spin. */
#define NA 2
#define KILLMASK 0
#define SKILLS 0
#define SPINMODES 0
#define SCRIPTS script[0] = P(OP_LOANKEEP, 0); script[1] = P(OP_LOANKEEP, 0); script[2] = P(OP_LOANKEEP, 0); \
                script[4] = P(OP_LOAN, 0)
#elif SCEN == 11
/* Fan-in: two senders asleep on a full ring, a receiver that frees two
 * slots and stops: one wake-up at a time (wake_for_room), passed on by the
 * woken sender (pass_room_on) or the other sleeps next to room. */
#define NA 3
#define KILLMASK 3
#define SKILLS 1
#define SPINMODES 0
#define SCRIPTS script[0] = P(OP_SEND, 0); script[1] = P(OP_SEND, 0); \
                script[4] = P(OP_SEND, 0); script[5] = P(OP_SEND, 0); \
                script[8] = P(OP_RECV, 0); script[9] = P(OP_RECV, 0)
#endif

#ifndef KILLS
#define KILLS SKILLS       /* -DKILLS=n: fewer deaths than the scenario allows */
#endif

#define SPINMODE ((SPINMODES >> (2 * (me - 1))) & 3)

/* ------------------------------------------------------------ state */
short word[MAXS];        /* ring_slot.word */
byte sprio[MAXS];        /* ring_slot.prio: priority | PRIO_COUNTED */
byte smsg[MAXS];         /* the message in the slot: payload, len, sender, token */
bit moved[MAXS];         /* ring_slot.moved */
byte tail = BASE;        /* ring_ctl.tail (64-bit in C) */
byte head = BASE;        /* ring_ctl.head */
/* ring_ctl.sent and the two futex words are counters that waiters compare
 * with a value they read before: only "changed since my read" matters, so
 * that is what is kept, per actor (no wrap-around: 2^64 and 2^32 in C). */
bit schg[4];             /* ring_ctl.sent moved since this actor read it */
byte hiprio;             /* ring_ctl.hiprio */
byte fkind[4];           /* the futex (send_futex 1, recv_futex 2) this actor last read */
bit fchg[4];             /* ... and it moved since */
byte waiters[3];         /* hot.send_waiters, hot.recv_waiters */
bit swoken;              /* hot.send_woken: a sender woken for room has not run yet */
bit sslept[4];           /* per actor: counted asleep for room since its claim began
                            (ring_claim's slept): only such a sender passes room on */
bit rwoken;              /* hot.recv_woken: the receivers asleep were woken for a message
                            and none has slept since */
bit sworphan;            /* an actor was killed while swoken was set: it may stay set
                            with nobody to clear it, and in C the sleepers' 10 ms look
                            at the full slot (STUCK_POLL_NS) ends their sleeps */
byte asleep[4];          /* per actor: the futex it sleeps on in the kernel, or 0 */
bit dead[4];             /* per actor: killed */
byte kills = KILLS;      /* deaths left */
bit over;                /* the quiescent state was checked: waiters stop */
bit dchg[4];             /* a death since this actor last looked (its loop's first step) */

/* ghosts: not part of the protocol, only of its properties */
byte waiting[4];         /* per actor: blocked waiting as a sender (1) or receiver (2) */
bit ended[4];            /* per actor: its script is done */
int published;           /* messages made READY (bit per id) */
int delivered;           /* messages delivered */
int took;                /* messages taken at least once */
int redelivered;         /* messages put back after their receiver died copying */
byte pflag;              /* bit per actor: some progress since it last relocated */

hidden byte script[NMSG];
hidden byte gx, gy, gq, gf;         /* loop counters of ghost checks */
hidden int earlier[NMSG + 1];       /* messages sent before m by its sender, at its priority */

/* Property tags: always 0, named first in each assertion so that SPIN's
 * report says which property failed. */
hidden byte delivered_once, delivered_right, no_loss, prio_order, sender_fifo, hiprio_count,
    hiprio_exact, live_slot_safe, no_leak, wait_proceeds, no_reloc_spin, no_corrupt, model_bound;

#define BIT(m)    (1 << (m))
#define MPRIO(m)  ((script[(m) - 1] >> 4) & 3)
#define SENDER(m) (((m) - 1) / MAXOPS)

/* --------------------------------------------------------- stepping */
/* Every local of an actor back to its initial value: a dead or finished
 * actor's leftovers would keep apart states that are otherwise equal. */
#define RESET_LOCALS \
    reg = 0; j = 0; op = 0; m = 0; keep1 = NONE; keep2 = NONE; keep3 = NONE; pr = 0; kind = 0; \
    relocs = 0; wk = 0; cd_h = 0; rp_old = 0; wr_old = 0; pr_w = 0; pr_n = 0; canfail = 0; cd_ok = 0; sk_ret = 0; sk_ok = 0; \
    fs_ret = 0; fs_alive = 0; r_ok = 0; rl_ok = 0; u_ret = 0; u_alive = 0; u_ok = 0; u_mine = 0; u_p = 0; \
    sk_mine = 0; sk_exp = 0; fs_w = 0; r_exp = 0; rl_cur = 0; rl_mine = 0; u_exp = 0; gu_w = 0; \
    rl_d = 0; u_st = 0; u_h = 0; u_pos = 0; wc_mode = 0; wc_res = 0; wc_phase = 0; wc_ret = 0; wc_gx = 0; wc_gw = 0; \
    wc_cmp = 0; wc_slept = 0; cl_t = 0; cl_i = 0; cl_ret = 0; cl_w = 0; \
    cl_exp = 0; cl_d = 0; cl_ok = 0; cl_first = 0; cl_behind = 0; cl_lastb = 0; cl_want = 0; pb_ret = 0; pb_fail = 0; pb_ok = 0; \
    pb_mine = 0; pb_exp = 0; ln_i = 0; ln_fail = 0; sl_mv = 0; sp_loan = 0; sp_copy = 0; \
    sl_w = 0; sh_h = 0; sh_w = 0; sh_d = 0; pk_pos = 0; pk_pr = 0; pk_w = 0; pk_d = 0; \
    p_ci = 0; p_pos = 0; p_prio = 0; p_cc = 0; b_ci = 0; b_pos = 0; b_prio = 0; b_cc = 0; \
    p_w = 0; p_cw = 0; b_w = 0; b_cw = 0; tk_ret = 0; tk_i = 0; tk_gm = 0; tk_cm = 0; \
    tk_rp = 0; tk_cw = 0; tk_mine = 0; tk_exp = 0; tk_ok = 0; st_t = 0; st_n = 0; \
    rv_si = 0; rv_h = 0; rv_wi = 0; rv_tci = 0; rv_tpos = 0; rv_tw = 0; \
    rv_seen = 0; rv_sw = 0; rv_w = 0; rv_busy = 0; rv_cont = 0; rv_scan = 0; rv_go = 0; \
    rv_done = 0; rv_wsent = 0; rs_w = 0; rs_ok = 0; rs_gm = 0; rs_rp = 0

#define KILLABLE ((KILLMASK >> (me - 1)) & 1)
#define MAYDIE   (kills > 0 && KILLABLE)
/* A death: the process stops; the kernel takes it off any futex; its
 * sleeper count is forgotten. */
#define KILLED   kills--; dead[me] = 1; dchg[1] = 1; dchg[2] = 1; dchg[3] = 1; \
                 asleep[me] = 0; waiting[me] = 0; FORGET; \
                 if :: swoken -> sworphan = 1 :: else -> skip fi; \
                 printf("@ A%d is killed\n", me); \
                 if :: reg != 0 -> waiters[reg]--; reg = 0 :: else -> skip fi
#define DIE_OPT  :: atomic { MAYDIE -> KILLED } -> goto died
/* One atomic step of the C code, before which the actor may be killed. */
#define STEP(s)  if DIE_OPT :: d_step { s } fi

/* compare_exchange: on failure the expected value is updated, as in C */
#define CASV(var, expv, newv, okv) \
    if :: (var) == (expv) -> var = (newv); okv = 1 :: else -> expv = var; okv = 0 fi
/* ring_advance (ring_impl.h:209) */
#define ADVANCE(hint, from) if :: (hint) == (from) -> hint = (from) + 1 :: else -> skip fi

#define HELD(w)      (WST(w) == CLAIMED || WST(w) == TAKING || WST(w) == LENT || WST(w) == SKIP)
#define LIVE_HELD(w) (HELD(w) && WPID(w) != 0 && !dead[WPID(w)])
/* live_slot_safe, checked on every successful CAS that may replace a word
 * the caller does not hold */
#define FOREIGN_OK(old, new) \
    (!LIVE_HELD(old) || WPID(old) == me || \
     (WST(new) == WST(old) && WPID(new) == WPID(old) && DIST(new, WPOS(old)) == SLOTS))
#define PROGRESS pflag = 255

/* ring_unstick would succeed on slot si, still holding sw, for want */
#define RELOC_ALLOWED 1
#define RELOC_GO      1
#define RELOC_ASSERT  assert(no_reloc_spin || relocs < SLOTS)
/* A slot whose message a dead receiver was copying out */
#define DEAD_TAKER(i) ((i) < SLOTS && WST(word[i]) == TAKING && dead[WPID(word[i])])
#ifndef M_NO_SWEEP
/* ring.c unstuck: a receiver's look also finds dead receivers' messages
 * anywhere in the ring (ring_put_back_dead_takers) */
#define SWEEP_OK(si, swant) ((si) != NONE && (swant) == NOPOS && \
                             (DEAD_TAKER(0) || DEAD_TAKER(1) || DEAD_TAKER(2)))
#else
#define SWEEP_OK(si, swant) 0
#endif
#define UNSTICK_OK(si, sw, swant) \
    (((si) != NONE && word[si] == (sw) && \
      ((WST(sw) == SKIP && (WPID(sw) == 0 || dead[WPID(sw)])) || \
       ((WST(sw) == CLAIMED || WST(sw) == TAKING || WST(sw) == LENT) && \
        (dead[WPID(sw)] || ((swant) != NOPOS && DIST(sw, swant) == -SLOTS && RELOC_ALLOWED))))) || \
     SWEEP_OK(si, swant))

/* An actor out of its loop no longer holds the values it read */
#define FORGET fkind[me] = 0; fchg[me] = 0; dchg[me] = 0; schg[me] = 0
/* the watched word (ring_ctl.sent, or slot wi's word) moved off seen */
#define WATCH_MOVED(wsent, wi, seen) ((wsent) -> schg[me] : word[wi] != (seen))
/* futex_wake's counter bump: every actor that read futex k sees it move */
#define FUTEX_BUMP(k) if :: fkind[1] == k -> fchg[1] = 1 :: else -> skip fi; \
                      if :: fkind[2] == k -> fchg[2] = 1 :: else -> skip fi; \
                      if :: fkind[3] == k -> fchg[3] = 1 :: else -> skip fi

/* ------------------------------------------------------------ wakes */
/* sync_wake_sleepers (sync.c:226-232) */
inline wake_all(k)
{
    STEP(wk = waiters[k]);
    if
    :: wk > 0 ->
        STEP(FUTEX_BUMP(k));
        STEP(if :: asleep[1] == k -> asleep[1] = 0 :: else -> skip fi;   /* futex_wake(INT_MAX) */
             if :: asleep[2] == k -> asleep[2] = 0 :: else -> skip fi;
             if :: asleep[3] == k -> asleep[3] = 0 :: else -> skip fi)
    :: else -> skip
    fi
}

/* wake_for_message (wait.h): after a message is published, wakes every
 * receiver asleep unless they were woken and none has slept since (each
 * clears recv_woken as it counts itself asleep and when its sleep ends,
 * sleep64). M_WAKE_EVERY_MESSAGE: the code before, wake_all. */
inline wake_for_message()
{
#ifndef M_WAKE_EVERY_MESSAGE
    STEP(wk = waiters[FRECV]);
    if
    :: wk > 0 ->
        STEP(wr_old = rwoken; rwoken = 1);                                      /* exchange */
        if
        :: !wr_old ->
            STEP(FUTEX_BUMP(FRECV));
            STEP(if :: asleep[1] == FRECV -> asleep[1] = 0 :: else -> skip fi;  /* futex_wake(INT_MAX) */
                 if :: asleep[2] == FRECV -> asleep[2] = 0 :: else -> skip fi;
                 if :: asleep[3] == FRECV -> asleep[3] = 0 :: else -> skip fi)
        :: else -> skip
        fi
    :: else -> skip
    fi;
    wr_old = 0
#else
    wake_all(FRECV)
#endif
}

/* wake_change (wait.c:136-146), after a repair that puts a message back or
 * moves a slot on: receivers that looked before it watch `sent` or another
 * slot, not this change, so the futex word moves even while nobody is
 * counted asleep; a receiver that counts itself in after our look at the
 * count then finds its futex value stale and looks again. */
inline wake_change(k)
{
#ifndef M_REPAIR_WAKES_SLEEPERS_ONLY
    STEP(FUTEX_BUMP(k));
    STEP(wk = waiters[k]);
    if
    :: wk > 0 ->
        STEP(if :: asleep[1] == k -> asleep[1] = 0 :: else -> skip fi;
             if :: asleep[2] == k -> asleep[2] = 0 :: else -> skip fi;
             if :: asleep[3] == k -> asleep[3] = 0 :: else -> skip fi)
    :: else -> skip
    fi
#else
    wake_all(k)
#endif
}

/* sync_wake_one (sync.c:234-240): futex_wake(futex, 1) wakes any one */
inline wake_one(k)
{
    STEP(wk = waiters[k]);
    if
    :: wk > 0 ->
        STEP(FUTEX_BUMP(k));
        if
        DIE_OPT
        :: d_step { asleep[1] == k -> asleep[1] = 0 }
        :: d_step { asleep[2] == k -> asleep[2] = 0 }
        :: d_step { asleep[3] == k -> asleep[3] = 0 }
        :: d_step { asleep[1] != k && asleep[2] != k && asleep[3] != k -> skip }
        fi
    :: else -> skip
    fi
}

/* wake_for_room (wait.h): after a slot frees, wakes one sender asleep for
 * room unless one was woken and has not run yet (it clears send_woken
 * when its sleep ends, and every sender clears it as it counts itself
 * asleep, sleep64). A wake-up that found nobody leaves the mark: the
 * sender that made the count say so is running and clears it.
 * M_WAKE_EVERY_FREE: the code before, one futex_wake per freed slot. */
inline wake_for_room()
{
#ifndef M_WAKE_EVERY_FREE
    STEP(wk = waiters[FSEND]);
    if
    :: wk > 0 ->
        STEP(wr_old = swoken; swoken = 1);                                      /* exchange */
        if
        :: !wr_old ->
            STEP(FUTEX_BUMP(FSEND));
            if
            DIE_OPT
            :: d_step { asleep[1] == FSEND -> asleep[1] = 0 }
            :: d_step { asleep[2] == FSEND -> asleep[2] = 0 }
            :: d_step { asleep[3] == FSEND -> asleep[3] = 0 }
            :: d_step { asleep[1] != FSEND && asleep[2] != FSEND && asleep[3] != FSEND -> skip }
            fi
        :: else -> skip
        fi
    :: else -> skip
    fi;
    wr_old = 0
#else
    wake_one(FSEND)
#endif
}

/* pass_room_on (ring.c): after a claim at position t, a sender that was
 * counted asleep during the claim and leaves room behind it while senders
 * sleep wakes the next (wake_for_room). M_NO_PASS_ON: it does not;
 * M_PASS_ON_AWAKE: senders that never slept pass on too (the code
 * before). With three senders, one that never slept may claim t + 1
 * before the woken one looks: so the woken one looks past held positions
 * to the first free one. Two senders (SCEN 11) cannot show that race; it
 * needs a third sender, beyond this model's actors. */
inline pass_room_on(t)
{
#ifndef M_NO_PASS_ON
#ifndef M_PASS_ON_AWAKE
    STEP(wk = (sslept[me] -> waiters[FSEND] : 0));
#else
    STEP(wk = waiters[FSEND]);
#endif
    if
    :: wk > 0 ->
#ifndef M_PASS_ON_NEXT_ONLY
        /* past the positions others claimed meanwhile, to the first that
         * nobody holds; M_PASS_ON_NEXT_ONLY: t + 1 only (the first cut) */
        pr_n = 1;
        do
        :: pr_n < SLOTS ->
            STEP(pr_w = word[IDX(t + pr_n)]);
            if
            :: DIST(pr_w, t + pr_n) != 0 -> break
            :: DIST(pr_w, t + pr_n) == 0 && WST(pr_w) == FREE -> wake_for_room(); break
            :: else -> pr_n++
            fi
        :: else -> break
        od
#else
        STEP(pr_w = word[IDX(t + 1)]);
        if
        :: DIST(pr_w, t + 1) == 0 && WST(pr_w) == FREE -> wake_for_room()
        :: else -> skip
        fi
#endif
    :: else -> skip
    fi;
    pr_w = 0; pr_n = 0
#else
    skip
#endif
}

/* ------------------------------------------------- priority count */
/* ring_count_down (ring_repair.c:12-18) */
inline count_down()
{
    STEP(cd_h = hiprio);
    do
    :: cd_h == 0 -> break
    :: else ->
        STEP(CASV(hiprio, cd_h, cd_h - 1, cd_ok);
             if :: cd_ok -> printf("@ A%d counts down: hiprio %d\n", me, hiprio) :: else -> skip fi);
        if
        :: cd_ok -> break
        :: else -> skip
        fi
    od;
    cd_h = 0; cd_ok = 0
}

/* ring_release_prio (ring_repair.c:20-24) */
inline release_prio(ci)
{
#ifndef M_PRIO_WITH_MARK
    STEP(rp_old = sprio[ci]; sprio[ci] = sprio[ci] & 127;                       /* fetch_and(~PRIO_COUNTED) */
         printf("@ A%d clears slot %d's mark (prio %d, counted %d)\n", me, ci, rp_old & 127, rp_old >> 7));
#else
    /* the code before 70a80eb: the priority goes with the mark */
    STEP(rp_old = sprio[ci]; sprio[ci] = 0;
         printf("@ A%d exchanges slot %d's prio %d (counted %d) for 0\n", me, ci, rp_old & 127, rp_old >> 7));
#endif
    if
    :: rp_old & COUNTED -> count_down()
    :: else -> skip
    fi;
    rp_old = 0
}

/* ---------------------------------------------------------- repairs */
#ifndef M_OLD_SKIP
/* ring_skip (ring_repair.c:38-47), with finish_skip (29-36): SKIP names
 * the calling thread, which frees the slot. sk_ret: 1 if it did. */
inline ring_skip(ci, w)
{
    sk_mine = W(WPOS(w), SKIP, me);
    STEP(sk_exp = w; CASV(word[ci], sk_exp, sk_mine, sk_ret);                 /* 42 */
         if
         :: sk_ret -> assert(live_slot_safe || FOREIGN_OK(w, sk_mine)); PROGRESS;
                     printf("@ A%d turns slot %d (state %d of A%d) into SKIP(A%d)\n", me, ci, WST(w), WPID(w), me)
         :: else -> skip
         fi);
    if
    :: sk_ret ->
        /* 44: ring_note_holder (who_word, who_start): abstracted */
        release_prio(ci);                                                       /* 32 */
        STEP(sk_exp = sk_mine; CASV(word[ci], sk_exp, W(WPOS(sk_mine) + SLOTS, FREE, 0), sk_ok);
             assert(live_slot_safe || sk_ok);                                   /* 33 */
             smsg[ci] = 0;
             printf("@ A%d frees SKIP slot %d\n", me, ci));
        wake_all(FSEND)                                                         /* 35 */
    :: else -> skip
    fi;
    sk_mine = 0; sk_exp = 0; sk_ok = 0
}

/* ring_free_skipped (ring_repair.c:51-63). fs_ret: 1 if this call freed it. */
inline free_skipped(ci, pos)
{
    fs_ret = 0;
    STEP(fs_w = word[ci]);                                                      /* 53 */
    do
    :: DIST(fs_w, pos) != 0 || WST(fs_w) != SKIP -> break                       /* 55-56 */
    :: else ->
        if
        :: WPID(fs_w) != 0 -> STEP(fs_alive = !dead[WPID(fs_w)])                /* 57: ring_holder_alive */
        :: else -> fs_alive = 0
        fi;
        if
        :: fs_alive -> break
        :: else ->
            ring_skip(ci, fs_w);                                                /* 59 */
            if
            :: sk_ret -> fs_ret = 1; break
            :: else -> STEP(fs_w = word[ci])                                    /* 61 */
            fi
        fi
    od;
    fs_w = 0; fs_alive = 0
}
#else
/* M_OLD_SKIP: the code before issue 23. ring_give_up_if: SKIP(t, 0), then
 * ring_free_skipped; ring_free_skipped: exchange prio, then CAS SKIP(pos,
 * 0) to FREE, whoever calls. */
inline free_skipped(ci, pos)
{
    release_prio(ci);
    fs_w = W(pos, SKIP, 0);
    STEP(CASV(word[ci], fs_w, W((pos) + SLOTS, FREE, 0), fs_ret); if :: fs_ret -> PROGRESS; smsg[ci] = 0 :: else -> skip fi);
    if
    :: fs_ret -> wake_all(FSEND)
    :: else -> skip
    fi;
    fs_w = 0
}

inline ring_skip(ci, w)
{
    sk_mine = W(WPOS(w), SKIP, 0);
    STEP(sk_exp = w; CASV(word[ci], sk_exp, sk_mine, sk_ret);
         if
         :: sk_ret -> assert(live_slot_safe || FOREIGN_OK(w, sk_mine)); PROGRESS
         :: else -> skip
         fi);
    if
    :: sk_ret -> free_skipped(ci, WPOS(w))
    :: else -> skip
    fi;
    sk_mine = 0; sk_exp = 0
}
#endif

/* ring_relocated (ring_repair.c:80-89): rl_ok, and rl_mine the new word */
inline relocated(ci, mine)
{
    STEP(rl_cur = word[ci]);                                                    /* 82 */
    rl_d = DIST(rl_cur, WPOS(mine));
    if
    :: rl_d <= 0 || rl_d % SLOTS != 0 || WST(rl_cur) != WST(mine) || WPID(rl_cur) != WPID(mine) ->
        rl_ok = 0
    :: else -> rl_ok = 1; rl_mine = rl_cur
    fi;
    rl_cur = 0; rl_d = 0
}

/* relocate (ring_repair.c:95-111). r_ok: 1 when moved. */
inline relocate(ci, w, want)
{
    r_ok = 0;
    if
    :: DIST(w, want) == -SLOTS ->                                               /* 97 */
        /* 99-100: who_word / who_start loads: abstracted */
        STEP(if
             :: (pflag >> me) & 1 -> relocs = 0; pflag = pflag & ~(1 << me)
             :: else -> skip
             fi;
             RELOC_ASSERT;
             if
             :: RELOC_GO ->
                 r_exp = w;
                 CASV(word[ci], r_exp, W(want, WST(w), WPID(w)), r_ok);         /* 102 */
                 if
                 :: r_ok ->
                     relocs++;
                     printf("@ A%d relocates slot %d (state %d of A%d) from word position %d to %d\n", me, ci, WST(w), WPID(w), WPOS(w), want);
                     assert(live_slot_safe || FOREIGN_OK(w, W(want, WST(w), WPID(w))));
                     assert(model_bound || want < BASE + POSM / 2)
                 :: else -> skip
                 fi
             :: else -> r_ok = 0
             fi);
        if
        :: r_ok ->
            /* 104-105: the holder's record moved along: abstracted */
            STEP(moved[ci] = 1);                                                /* 106 */
            STEP(ADVANCE(tail, want));                                          /* 107 */
            wake_change(FRECV)                                                  /* 109 */
        :: else -> skip
        fi
    :: else -> skip
    fi;
    r_exp = 0
}

/* ring_unstick (ring_repair.c:119-154), called as unstuck (ring.c:104).
 * u_ret: 1 when the slot was stuck and is now repaired or moved. */
inline unstuck(si, sw, swant)
{
    u_ret = 0;
    u_st = WST(sw);
    if
    :: u_st == CLAIMED || u_st == TAKING || u_st == SKIP || u_st == LENT ->     /* 124 */
        if
#ifndef M_REPAIR_LIVE
        :: u_st != SKIP -> STEP(u_alive = !dead[WPID(sw)])                      /* 172: ring_holder_alive */
#else
        /* mutant: a live receiver's TAKING or LENT slot judged dead */
        :: u_st != SKIP -> STEP(u_alive = !dead[WPID(sw)] && u_st == CLAIMED)
#endif
        :: else -> u_alive = 0
        fi;
        if
        :: u_alive ->
            if
            :: swant != NOPOS -> relocate(si, sw, swant); u_ret = r_ok          /* 127 */
            :: else -> skip
            fi
        :: else ->
            STEP(u_h = head; u_pos = u_h + DIST(sw, u_h));                      /* 174: ring_pos64 */
            if
            :: u_st == TAKING ->
                /* put_back (ring_repair.c:44-71): hold the slot as TAKING
                 * in our own name first (49) */
                u_mine = W(WPOS(sw), TAKING, me);
                STEP(u_exp = sw; CASV(word[si], u_exp, u_mine, u_ok);
                     if
                     :: u_ok ->
                         assert(live_slot_safe || FOREIGN_OK(sw, u_mine)); PROGRESS;
                         printf("@ A%d holds m%d (slot %d) to put it back: its receiver A%d died\n", me, smsg[si], si, WPID(sw))
                     :: else -> skip
                     fi);
                if
                :: u_ok ->
                    /* 51: ring_note_holder: abstracted. 52: recount_prio (30-37) */
                    STEP(u_p = sprio[si]);                                      /* 32 */
                    if
                    :: (u_p & 127) != 0 && !(u_p & COUNTED) ->
                        STEP(hiprio++; printf("@ A%d counts up again: hiprio %d\n", me, hiprio));   /* 35 */
                        STEP(sprio[si] = u_p | COUNTED)                         /* 36 */
                    :: else -> skip
                    fi;
                    do                                                          /* 55-63 */
                    :: STEP(u_exp = u_mine; CASV(word[si], u_exp, W(WPOS(u_mine), READY, 0), u_ok);
                            if
                            :: u_ok ->
                                redelivered = redelivered | BIT(smsg[si]); PROGRESS;
                                printf("@ A%d puts m%d back: slot %d READY at word position %d\n", me, smsg[si], si, WPOS(u_mine))
                            :: else -> skip
                            fi);
                       if
                       :: u_ok -> break
                       :: else ->
                           relocated(si, u_mine);                               /* 61 */
                           assert(live_slot_safe || rl_ok);   /* only a wrong judgement of our death */
                           u_mine = rl_mine
                       fi
                    od;
#ifdef M_POS39
                    STEP(u_h = head);
                    u_pos = WPOS(u_mine);                           /* the old w >> 25 */
#else
                    STEP(u_h = head; u_pos = u_h + DIST(u_mine, u_h));          /* 64-65: ring_pos64 */
#endif
                    do
                    :: u_h > u_pos ->                                           /* 66 */
                        STEP(CASV(head, u_h, u_pos, u_ok);                      /* 67 */
                             if
                             :: u_ok -> printf("@ A%d moves the head back to %d\n", me, u_pos)
                             :: else -> skip
                             fi);
                        if
                        :: u_ok -> break
                        :: else -> skip
                        fi
                    :: else -> break
                    od;
                    wake_change(FRECV);                                         /* 69 */
                    u_ret = 1
                :: else -> skip
                fi
            :: u_st == SKIP ->
                free_skipped(si, u_pos);                                        /* 143 */
                u_ret = fs_ret
            :: else ->
                ring_skip(si, sw);                                              /* 149 */
                u_ret = sk_ret
            fi
        fi
    :: else -> skip
    fi;
    u_st = 0; u_alive = 0; u_h = 0; u_pos = 0; u_exp = 0; u_ok = 0; u_mine = 0; u_p = 0; rl_ok = 0; rl_mine = 0; r_ok = 0; sk_ret = 0; fs_ret = 0
}

/* ------------------------------------------------------------ waits */
/* sync_sleep64 (sync.c:202-224), after wait_change's spin */
inline sleep64(k, wsent, wi, seen, si, sw, swant)
{
    STEP(waiters[k]++; reg = k);                                                /* 211: sleepers_enter */
    /* wait.c: a waiter counted asleep clears the mark of a wake-up that
     * may have found nobody, so that the next change wakes it.
     * M_NO_CLEAR_ON_ENTER, M_NO_RCLEAR_ON_ENTER: senders, receivers do not */
    if
#ifndef M_NO_CLEAR_ON_ENTER
    :: k == FSEND -> STEP(swoken = 0; sworphan = 0)
#else
    :: k == FSEND -> skip
#endif
#ifndef M_NO_RCLEAR_ON_ENTER
    :: k != FSEND -> STEP(rwoken = 0)
#else
    :: k != FSEND -> skip
#endif
    fi;
    /* wait.c moved(): the watched word, then the stuck slot's (wait.c:28-37) */
    STEP(wc_cmp = !WATCH_MOVED(wsent, wi, seen));
    if
    :: wc_cmp -> STEP(wc_cmp = !((si) != NONE && word[si] != (sw)))
    :: else -> skip
    fi;
    if
    :: wc_cmp ->
        /* 217: futex_wait compares and sleeps in one step */
        STEP(if
             :: !fchg[me] -> asleep[me] = k; wc_slept = 1; printf("@ A%d sleeps (futex %d)\n", me, k)
             :: else -> wc_slept = 0
             fi);
        if
        :: wc_slept ->
            atomic {
                waiting[me] = k;
                if
                :: asleep[me] == 0 -> wc_res = 0; printf("@ A%d wakes up\n", me)   /* woken */
                /* the 10 ms poll of a stuck slot that can be repaired, or the
                 * end of a slice after a death */
                :: UNSTICK_OK(si, sw, swant) || dchg[me] ->
                    asleep[me] = 0; wc_res = 0; printf("@ A%d wakes up on its poll\n", me)
                /* a wake-up for room left marked by the dead: the 10 ms look */
                :: k == FSEND && swoken && sworphan ->
                    asleep[me] = 0; wc_res = 0; printf("@ A%d wakes up on its 10 ms look\n", me)
                :: MAYDIE -> KILLED; wc_res = 9
                :: over -> wc_res = 9                   /* checked quiescent: stop */
                fi;
                waiting[me] = 0
            }
            if
            :: wc_res == 9 -> goto died
            :: else -> skip
            fi
        :: else -> skip
        fi
    :: else -> skip
    fi;
    STEP(waiters[k]--; reg = 0);                                                /* 218: sleepers_leave */
    /* wait.c: whatever ended the sleep, a waiter woken has run */
    if
#ifndef M_NO_SLEPT_MARK
    :: k == FSEND -> STEP(swoken = 0; sworphan = 0; sslept[me] = 1)
#else
    :: k == FSEND -> STEP(swoken = 0; sworphan = 0)
#endif
    :: else -> STEP(rwoken = 0)
    fi;
    wc_cmp = 0; wc_slept = 0; wc_res = 0
}

/* wait_change (ring.c:116-155): waits until the watched word (sent, or a
 * slot's word) moves off seen, the stuck slot si moves off sw, or the
 * stuck slot can be repaired or relocated; f is the futex value read
 * before the caller looked, nd the deaths counted then. With nb, it is
 * ring_claim's MBX_NONBLOCK path instead (ring.c:247-250): one unstuck, no
 * wait. wc_ret: 1 when unstuck succeeded or something changed (look again),
 * else 0 (for nb: -EAGAIN). The spin loop's 10 ms unstuck (141-145), the
 * one before sleeping (148) and the non-blocking one share one expansion
 * of unstuck (SPIN's code for nested inlines grows fast). */
inline wait_change(k, wsent, wi, seen, si, sw, swant, nb)
{
    wc_ret = 0;
    if
    :: nb -> wc_phase = 3
    :: else ->
        wc_mode = SPINMODE;
        if
        :: wc_mode == 1 -> STEP(if :: waiters[k] > 0 -> wc_mode = 0 :: else -> skip fi)   /* 124 */
        :: else -> skip
        fi;
        wc_phase = (wc_mode != 0 -> 1 : 2)      /* 1: spinning (127-147); 2: 148-154 */
    fi;
    do
    :: if
       :: wc_phase == 1 ->
           atomic {
               waiting[me] = k;
               if
#ifndef M_SPIN_IGNORES_STUCK
               :: WATCH_MOVED(wsent, wi, seen) || ((si) != NONE && word[si] != (sw)) -> wc_res = 0   /* 128-130 */
#else
               :: WATCH_MOVED(wsent, wi, seen) -> wc_res = 0
#endif
               :: UNSTICK_OK(si, sw, swant) -> wc_res = 1                       /* 141-145: every 10 ms */
               :: wc_mode == 1 -> wc_res = 2                                    /* 138-139: spin time over */
               :: MAYDIE -> KILLED; wc_res = 9
               :: over -> wc_res = 9                    /* checked quiescent: stop */
               fi;
               waiting[me] = 0
           }
           if
           :: wc_res == 0 -> wc_ret = 1; break
           :: wc_res == 1 -> skip
           :: wc_res == 2 -> wc_phase = 2
           :: wc_res == 9 -> goto died
           fi
       :: else -> skip
       fi;
       if
       :: (si) != NONE -> unstuck(si, sw, swant)                                /* 143, 148, 248 */
       :: else -> u_ret = 0
       fi;
#ifndef M_NO_SWEEP
       /* ring.c unstuck: a receiver whose stuck slot's holder lives puts
        * back the messages of dead receivers anywhere in the ring
        * (ring_put_back_dead_takers: ring_unstick on each TAKING slot) */
       if
       :: (si) != NONE && !u_ret && (swant) == NOPOS ->
           wc_gx = 0;
           do
           :: wc_gx < SLOTS && !u_ret ->
               STEP(wc_gw = word[wc_gx]);
               if
               :: WST(wc_gw) == TAKING -> unstuck(wc_gx, wc_gw, NOPOS)
               :: else -> skip
               fi;
               wc_gx++
           :: else -> break
           od;
           wc_gx = 0; wc_gw = 0
       :: else -> skip
       fi;
#endif
       if
       :: u_ret -> wc_ret = 1; break
       :: else ->
           if
           :: wc_phase == 1 -> skip                                             /* spin on */
           :: wc_phase == 3 -> break                                            /* -EAGAIN */
           :: wc_phase == 2 ->
#ifdef M_LATE_FSEEN
               STEP(fkind[me] = k; fchg[me] = 0);       /* the old read, after the look */
#endif
               sleep64(k, wsent, wi, seen, si, sw, swant);                      /* 150 */
               wc_ret = 1;
               break
           fi
       fi
    od;
    wc_mode = 0; wc_phase = 0; wc_res = 0; u_ret = 0
}

/* ------------------------------------------------------------ sends */
/* ring_claim (ring.c:203-256). cl_ret OK (cl_i, cl_t) or EAGAIN. */
inline claim(nb)
{
    relocs = 0;
    cl_first = 1;
    do
    :: STEP(fkind[me] = FSEND; fchg[me] = 0; dchg[me] = 0;                      /* 214 */
            if
            :: cl_first -> pflag = pflag & ~(1 << me); cl_first = 0; sslept[me] = 0
            :: else -> skip
            fi);
       STEP(cl_t = tail);                                                       /* 215 */
       STEP(cl_w = word[IDX(cl_t)]; cl_d = DIST(cl_w, cl_t));                   /* 217-218 */
       if
       :: cl_d == 0 && WST(cl_w) == FREE ->
           STEP(cl_exp = cl_w; CASV(word[IDX(cl_t)], cl_exp, W(cl_t, CLAIMED, me), cl_ok);   /* 221 */
                if
                :: cl_ok -> assert(model_bound || cl_t < BASE + POSM / 2); PROGRESS;
                           printf("@ A%d claims position %d (slot %d)\n", me, cl_t, IDX(cl_t))
                :: else -> skip
                fi);
           if
           :: cl_ok ->
               /* 223: ring_note_holder: abstracted */
               STEP(moved[IDX(cl_t)] = 0);                                      /* 224 */
               STEP(ADVANCE(tail, cl_t));                                       /* 225 */
               pass_room_on(cl_t);
               cl_i = IDX(cl_t);
               cl_ret = OK;
               break
           :: else -> skip
           fi
       :: cl_d > 0 || (cl_d == 0 && WST(cl_w) != FREE) ->
#ifndef M_RELOCATED_IS_PROGRESS
           /* a hold another sender moved on is not progress (ring.c) */
           STEP(if :: !moved[IDX(cl_t)] -> cl_behind = 0 :: else -> skip fi);
#else
           cl_behind = 0;
#endif
           STEP(ADVANCE(tail, cl_t))                                            /* 234-239 */
       :: cl_d < 0 ->
           assert(no_corrupt || (cl_d == -SLOTS && WST(cl_w) != FREE && WST(cl_w) <= LENT));  /* 241 */
           /* positions in a row found held a lap behind: past a lap, a
            * live holder is waited for, not moved on again */
           if
           :: cl_behind == 0 || cl_t != cl_lastb -> cl_behind++
           :: else -> skip
           fi;
           cl_lastb = cl_t;
#ifndef M_RELOC_SPIN
           cl_want = (cl_behind <= SLOTS -> cl_t : NOPOS);
#else
           cl_want = cl_t;                                      /* the code before */
#endif
           wait_change(FSEND, 0, IDX(cl_t), cl_w, IDX(cl_t), cl_w, cl_want, nb);   /* 247-254 */
           if
           :: nb && !wc_ret -> cl_ret = EAGAIN; break
           :: else -> wc_ret = 0
           fi
       fi
    od;
    cl_w = 0; cl_exp = 0; cl_d = 0; cl_ok = 0; cl_first = 0; relocs = 0; wc_ret = 0; cl_behind = 0; cl_lastb = 0; cl_want = 0;
    d_step { FORGET }
}

/* ring_give_up (ring.c:40-48): ring_skip with the word the caller had,
 * following the claim where a sender relocated it (ring_relocated) */
inline give_up(ci, mine)
{
#ifdef M_GIVEUP_STALE
    ring_skip(ci, mine)
#else
    gu_w = mine;
    do
    :: ring_skip(ci, gu_w);
       if
       :: sk_ret -> break
       :: else ->
           relocated(ci, gu_w);
           if
           :: rl_ok -> gu_w = rl_mine
           :: else -> break
           fi
       fi
    od;
    rl_ok = 0; rl_mine = 0
#endif
}

/* ring_publish (ring.c:160-198). pb_ret OK or ENOSPC. */
inline publish(ci, mine, pm, pp, inplace, pcf)
{
    pb_ret = OK;
    pb_fail = 0;
    if
    :: pcf && !inplace ->                                                   /* 165: ring_back */
        if
        :: pb_fail = 1
        :: pb_fail = 0
        fi
    :: else -> skip
    fi;
    if
    :: pb_fail ->
        printf("@ A%d: no storage for m%d, gives the slot up\n", me, pm);
        give_up(ci, mine);                                                      /* 167 */
        pb_ret = ENOSPC
    :: else ->
        if
        :: !inplace -> STEP(smsg[ci] = pm)                                       /* 170-175 */
        :: else -> skip
        fi;
        if
        :: pp > 0 ->
            STEP(hiprio++; printf("@ A%d counts up: hiprio %d\n", me, hiprio));   /* 177 */
            STEP(sprio[ci] = pp | COUNTED)                                    /* 178 */
        :: else -> STEP(sprio[ci] = 0)                                          /* 180 */
        fi;
        pb_mine = mine;
        do                                                                      /* 184-192 */
        :: STEP(pb_exp = pb_mine; CASV(word[ci], pb_exp, W(WPOS(pb_mine), READY, 0), pb_ok);
                if
                :: pb_ok ->
                    assert(delivered_once || !(published & BIT(pm)));
                    published = published | BIT(pm);
                    PROGRESS;
                    printf("@ A%d publishes m%d (priority %d) at slot %d, word position %d\n", me, pm, pp, ci, WPOS(pb_mine))
                :: else -> skip
                fi);
           if
           :: pb_ok -> break
           :: else ->
               relocated(ci, pb_mine);                                          /* 190 */
               assert(live_slot_safe || rl_ok);      /* RETRY: our claim was taken */
               pb_mine = rl_mine
           fi
        od;
        STEP(schg[1] = 1; schg[2] = 1; schg[3] = 1);                            /* 195: sent++ */
        wake_for_message()                                                      /* 196 */
    fi;
    pb_fail = 0; pb_ok = 0; pb_mine = 0; pb_exp = 0; rl_ok = 0; rl_mine = 0
}

/* --------------------------------------------------------- receives */
/* ring_settle_head (ring.c:351-373): sh_h */
inline settle_head()
{
    do
    :: STEP(sh_h = head);                                                       /* 355 */
       STEP(sh_w = word[IDX(sh_h)]; sh_d = DIST(sh_w, sh_h));                   /* 357-359 */
       assert(no_corrupt || !(WST(sh_w) > LENT || (sh_d < 0 && sh_d != -SLOTS)));   /* 360-361 */
       if
       :: !(sh_d > 0 || (sh_d == 0 && (WST(sh_w) == SKIP || WST(sh_w) == LENT))) -> break   /* 363-366 */
       :: else ->
           if
           :: sh_d == 0 && WST(sh_w) == SKIP -> free_skipped(IDX(sh_h), sh_h)   /* 369-370 */
           :: else -> skip
           fi;
           STEP(ADVANCE(head, sh_h))                                            /* 371 */
       fi
    od;
    sh_w = 0; sh_d = 0
}

/* pick (ring.c:387-418) over positions [lo, hi): the oldest READY of the
 * highest priority (o_ci, o_pos, o_w, o_prio), and the first slot seen
 * CLAIMED or TAKING (o_cc, o_cw). */
inline pick(lo, hi, o_ci, o_pos, o_w, o_prio, o_cc, o_cw)
{
    o_ci = NONE;
    o_cc = NONE;
    pk_pos = lo;
    do
    :: pk_pos < hi ->
        STEP(pk_w = word[IDX(pk_pos)]; pk_d = DIST(pk_w, pk_pos));              /* 393-395 */
        if
        :: o_cc == NONE && ((pk_d == 0 && WST(pk_w) == CLAIMED) ||
                            (pk_d <= 0 && pk_d >= -SLOTS && WST(pk_w) == TAKING)) ->   /* 398-402 */
            o_cc = IDX(pk_pos);
            o_cw = pk_w
        :: else -> skip
        fi;
        if
        :: pk_d == 0 && WST(pk_w) == READY ->
            STEP(pk_pr = sprio[IDX(pk_pos)] & 127);                             /* 407 */
            if
            :: o_ci == NONE || pk_pr > o_prio ->                                /* 411-416 */
                o_ci = IDX(pk_pos);
                o_pos = pk_pos;
                o_w = pk_w;
                o_prio = pk_pr
            :: else -> skip
            fi
        :: else -> skip
        fi;
        pk_pos++
    :: else -> break
    od;
    pk_pos = 0; pk_pr = 0; pk_w = 0; pk_d = 0
}

/* Checks at the CAS that takes message tk_gm at position pos (ghost):
 * slot g holds a message that was READY all through this attempt (rv_cont)
 * and is not being delivered again: it must not be of a higher priority,
 * nor of the same and older. (Unrolled: SPIN mishandles loops in a d_step
 * of an inline expanded more than once.) */
#define READYBIT(g) ((g) < SLOTS && WST(word[g]) == READY -> BIT(smsg[g]) : 0)
#define ORDER_CHECK(g, ci, pos) \
    if \
    :: (g) < SLOTS && (g) != (ci) && WST(word[g]) == READY && (rv_cont & BIT(smsg[g])) && \
       !(redelivered & BIT(smsg[g])) -> \
        assert(prio_order || MPRIO(smsg[g]) <= MPRIO(tk_gm)); \
        assert(prio_order || MPRIO(smsg[g]) < MPRIO(tk_gm) || DIST(word[g], pos) > 0) \
    :: else -> skip \
    fi
#define TAKEN_CHECKS(ci, pos, lend) \
    assert(delivered_right || (tk_gm != 0 && (published & BIT(tk_gm)))); \
    if \
    :: !(redelivered & BIT(tk_gm)) -> \
        ORDER_CHECK(0, ci, pos); ORDER_CHECK(1, ci, pos); ORDER_CHECK(2, ci, pos) \
    :: else -> skip \
    fi; \
    if \
    :: !(took & BIT(tk_gm)) -> \
        assert(sender_fifo || (published & earlier[tk_gm] & ~took) == 0) \
    :: else -> skip \
    fi; \
    took = took | BIT(tk_gm); \
    if \
    :: lend -> \
        assert(delivered_once || !(delivered & BIT(tk_gm))); \
        delivered = delivered | BIT(tk_gm) \
    :: else -> skip \
    fi; \
    PROGRESS


/* take (ring.c:277-345): tk_ret OK (message tk_gm in slot tk_i) or RETRY */
inline take(ci, pos, w, lend)
{
    tk_ret = RETRY;
    tk_i = ci;
    /* 282: len, not modelled */
    STEP(tk_cw = word[ci]);                                                     /* 283 */
    if
    :: tk_cw == w ->
        tk_mine = W(pos, (lend -> LENT : TAKING), me);                          /* 292 */
        STEP(tk_exp = w; CASV(word[ci], tk_exp, tk_mine, tk_ok);                /* 293 */
             if
             :: tk_ok -> tk_gm = smsg[ci]; TAKEN_CHECKS(ci, pos, lend);
                        printf("@ A%d takes m%d at position %d (slot %d), lent %d\n", me, tk_gm, pos, ci, lend)
             :: else -> skip
             fi);
        if
        :: tk_ok ->
            /* 295: ring_note_holder: abstracted */
            STEP(tk_rp = sprio[ci];                                             /* 296 */
                 assert(delivered_right || !lend || (tk_rp & 127) == MPRIO(tk_gm)));
            if
            :: !lend -> STEP(tk_cm = smsg[ci])                                  /* 299: memcpy */
            :: else -> skip
            fi;
            /* 300-312: info, receipts: not modelled */
            if
            :: lend -> tk_ret = OK                                              /* 313-320 */
            :: else ->
#ifndef M_KEEP_COUNTED
                if
                :: tk_rp & COUNTED -> release_prio(ci)                          /* 323-324 */
                :: else -> skip
                fi;
#endif
                do                                                              /* 328-337 */
                :: STEP(tk_exp = tk_mine;
                        CASV(word[ci], tk_exp, W(WPOS(tk_mine) + SLOTS, FREE, 0), tk_ok);
                        if
                        :: tk_ok ->
                            assert(delivered_right || tk_cm == tk_gm);
                            assert(delivered_right || (tk_rp & 127) == MPRIO(tk_gm));
                            assert(delivered_once || !(delivered & BIT(tk_gm)));
                            delivered = delivered | BIT(tk_gm);
                            smsg[ci] = 0;
                            PROGRESS;
                            printf("@ A%d frees slot %d: m%d delivered with priority %d\n", me, ci, tk_gm, tk_rp & 127)
                        :: else -> skip
                        fi);
                   if
                   :: tk_ok -> break
                   :: else ->
                       relocated(ci, tk_mine);                                  /* 335 */
                       assert(live_slot_safe || rl_ok);     /* RETRY: our slot was taken */
                       tk_mine = rl_mine
                   fi
                od;
#ifdef M_KEEP_COUNTED
                if
                :: tk_rp & COUNTED -> count_down()        /* the old count-down, mark kept */
                :: else -> skip
                fi;
#endif
#ifndef M_NO_SENDER_WAKE
                wake_for_room();                                                /* 364 */
#endif
                tk_ret = OK
            fi
        :: else -> skip
        fi
    :: else -> skip
    fi;
    tk_cw = 0; tk_mine = 0; tk_exp = 0; tk_ok = 0; tk_cm = 0; tk_rp = 0; rl_ok = 0; rl_mine = 0
}

/* ring_recv_any (ring.c:458-540), waiting for ever, with scan_take
 * (423-455) folded in: each iteration looks at the head (478-511) unless it
 * scans, and scans (513-528) when priorities are queued or the head is busy;
 * both end in one take (485 or 451). */
inline recv_any(lend)
{
    rv_busy = 0;
    rv_done = 0;
    do
    :: STEP(fkind[me] = FRECV; fchg[me] = 0; dchg[me] = 0);                     /* 471 */
       rv_si = NONE;
       rv_sw = 0;
       /* 475; the ghost rv_cont: the messages READY as this attempt starts */
       STEP(rv_scan = (hiprio > 0);
            rv_cont = READYBIT(0) | READYBIT(1) | READYBIT(2));
       rv_go = 1;
       rv_tci = NONE;
       do
       :: if
          :: rv_scan -> STEP(schg[me] = 0)                                      /* 515: sent read */
          :: else -> skip
          fi;
          settle_head();                                                        /* 478, 430 */
          rv_h = sh_h;
          if
          :: !rv_scan ->
              STEP(rv_w = word[IDX(rv_h)]);                                     /* 482 */
              if
              :: DIST(rv_w, rv_h) == 0 && WST(rv_w) == READY ->
                  rv_tci = IDX(rv_h); rv_tpos = rv_h; rv_tw = rv_w; break       /* 484-485 */
#ifndef M_HEAD_MOVED
              :: DIST(rv_w, rv_h) > 0 || (DIST(rv_w, rv_h) == 0 && (WST(rv_w) == SKIP || WST(rv_w) == LENT)) ->
                  rv_go = 0; break        /* 466-467: the head's slot moved on: look again */
#endif
              :: else ->
                  rv_wsent = 0;                                                 /* 495-496 */
                  rv_wi = IDX(rv_h);
                  rv_seen = rv_w;
                  if
                  :: WST(rv_w) == CLAIMED || WST(rv_w) == TAKING ->
                      rv_si = IDX(rv_h);                                        /* 498-499 */
                      rv_sw = rv_w;
                      if
                      :: rv_w != rv_busy && SPINMODE != 0 ->
                          rv_busy = rv_w;              /* 503-508: a short spin on it, look again */
                          rv_go = 0;
                          break
                      :: else -> rv_scan = 1                                    /* 510: scan */
                      fi
                  :: else -> break                                              /* wait */
                  fi
              fi
          :: else ->
              STEP(st_t = tail);                                                /* 435 */
              st_n = (st_t + 1 > rv_h -> st_t + 1 - rv_h : 1);                  /* 436-438 */
              if
              :: st_n > SLOTS -> st_n = SLOTS
              :: else -> skip
              fi;
              pick(rv_h, rv_h + st_n, p_ci, p_pos, p_w, p_prio, p_cc, p_cw);    /* 439 */
              if
              :: p_ci == NONE ->                                                /* 440-441: -EAGAIN */
                  rv_wsent = 1;                                                 /* 522-527 */
                  rv_wi = 0;
                  rv_seen = 0;
                  if
                  :: rv_si == NONE && p_cc != NONE -> rv_si = p_cc; rv_sw = p_cw
                  :: else -> skip
                  fi;
                  break
              :: else ->
                  pick(rv_h, p_pos, b_ci, b_pos, b_w, b_prio, b_cc, b_cw);      /* 448 */
                  if
                  :: b_ci != NONE && b_prio >= p_prio -> rv_go = 0; break       /* 449-450: RETRY */
                  :: else -> rv_tci = p_ci; rv_tpos = p_pos; rv_tw = p_w; break /* 451 */
                  fi
              fi
          fi
       od;
       if
       :: rv_tci != NONE ->
           take(rv_tci, rv_tpos, rv_tw, lend);                                  /* 485, 451 */
           if
           :: tk_ret == OK ->
               if
               :: rv_tpos == rv_h -> STEP(ADVANCE(head, rv_h))                  /* 489, 452-453 */
               :: else -> skip
               fi;
               rv_done = 1
           :: else -> skip                                                      /* RETRY */
           fi
       :: rv_tci == NONE && rv_go ->
           wait_change(FRECV, rv_wsent, rv_wi, rv_seen, rv_si, rv_sw, NOPOS, 0)  /* 536 */
       :: else -> skip
       fi;
       if
       :: rv_done -> break
       :: else -> skip
       fi;
       rv_si = 0; rv_sw = 0; rv_h = 0; rv_w = 0; rv_wi = 0; rv_seen = 0;
       rv_cont = 0; rv_scan = 0; rv_go = 0; rv_wsent = 0; p_cc = 0; p_cw = 0;
       p_ci = 0; p_pos = 0; p_w = 0; p_prio = 0; b_ci = 0; b_pos = 0; b_w = 0; b_prio = 0;
       b_cc = 0; b_cw = 0; st_t = 0; st_n = 0; sh_h = 0; tk_ret = 0; rv_tci = 0; rv_tpos = 0; rv_tw = 0
    od;
    rv_si = 0; rv_sw = 0; rv_h = 0; rv_w = 0; rv_wi = 0; rv_seen = 0;
    rv_cont = 0; rv_scan = 0; rv_go = 0; rv_wsent = 0; p_cc = 0; p_cw = 0;
    p_ci = 0; p_pos = 0; p_w = 0; p_prio = 0; b_ci = 0; b_pos = 0; b_w = 0; b_prio = 0;
    b_cc = 0; b_cw = 0; st_t = 0; st_n = 0; sh_h = 0; tk_ret = 0; rv_tci = 0; rv_tpos = 0; rv_tw = 0;
    rv_busy = 0; rv_done = 0;
    d_step { FORGET }
}

/* ring_release (ring_loan.c:255-279) */
inline release(li)
{
    STEP(rs_w = word[li];                                                       /* 262 */
         assert(delivered_right || smsg[li] == rs_gm));   /* the lent message is intact */
    assert(live_slot_safe || (WST(rs_w) == LENT && WPID(rs_w) == me));          /* 263-264: -EINVAL */
#ifdef M_KEEP_COUNTED
    STEP(rs_rp = sprio[li]);                              /* the old read; mark kept */
#else
    release_prio(li);                                                           /* 266 */
#endif
    do                                                                          /* 269-276 */
    :: STEP(CASV(word[li], rs_w, W(WPOS(rs_w) + SLOTS, FREE, 0), rs_ok);
            if
            :: rs_ok -> PROGRESS; smsg[li] = 0; printf("@ A%d releases its loan, slot %d\n", me, li)
            :: else -> skip
            fi);
       if
       :: rs_ok -> break
       :: else ->
#ifdef M_OLD_RELEASE
           assert(live_slot_safe || false)                /* the old -EINVAL */
#else
           assert(live_slot_safe || (WST(rs_w) == LENT && WPID(rs_w) == me))    /* 274-275 */
#endif
       fi
    od;
#ifdef M_KEEP_COUNTED
    if
    :: rs_rp & COUNTED -> count_down()
    :: else -> skip
    fi;
#endif
    wake_all(FSEND);                                                            /* 277 */
    rs_w = 0; rs_ok = 0; rs_rp = 0
}

/* ------------------------------------------------------------ actors */
proctype actor(byte me)
{
    byte reg;                                       /* sleepers count we are in */
    byte j, op, m, keep1 = NONE, keep2 = NONE, keep3 = NONE;
    byte pr, kind, relocs, wk, cd_h, rp_old;
    bit wr_old;
    short pr_w;
    byte pr_n;
    bit canfail;
    bit cd_ok, sk_ret, sk_ok, fs_ret, fs_alive, r_ok, rl_ok, u_ret, u_alive, u_ok;
    short sk_mine, sk_exp, fs_w, r_exp, rl_cur, rl_mine, u_exp, gu_w;
    short rl_d;
    byte u_st, u_h, u_pos, u_p;
    short u_mine;
    byte wc_mode, wc_res, wc_phase, wc_gx;
    short wc_gw;
    bit wc_ret, wc_cmp, wc_slept;
    byte cl_t, cl_i, cl_ret, cl_behind, cl_lastb, cl_want;
    short cl_w, cl_exp, cl_d;
    bit cl_ok, cl_first;
    byte pb_ret;
    bit pb_fail, pb_ok;
    short pb_mine, pb_exp;
    byte ln_i;
    bit ln_fail, sl_mv, sp_loan, sp_copy;
    short sl_w;
    byte sh_h;
    short sh_w, sh_d;
    byte pk_pos, pk_pr;
    short pk_w, pk_d;
    byte p_ci, p_pos, p_prio, p_cc, b_ci, b_pos, b_prio, b_cc;
    short p_w, p_cw, b_w, b_cw;
    byte tk_ret, tk_i, tk_gm, tk_cm, tk_rp;
    short tk_cw, tk_mine, tk_exp;
    bit tk_ok;
    byte st_t, st_n;
    byte rv_si, rv_h, rv_wi, rv_tci, rv_tpos;
    short rv_tw;
    short rv_seen;
    short rv_sw, rv_w, rv_busy;
    int rv_cont;
    bit rv_scan, rv_go, rv_done, rv_wsent;
    short rs_w;
    bit rs_ok;
    byte rs_gm, rs_rp;

    do
    :: j < MAXOPS && script[(me - 1) * MAXOPS + j] != OP_END ->
        op = script[(me - 1) * MAXOPS + j];
        m = (me - 1) * MAXOPS + j + 1;
        kind = op & 15;
        pr = op >> 4;
        canfail = (kind == OP_SENDF || kind == OP_LOANF);
        if
        :: kind <= OP_LOANKEEP ->
            /* A send (ring_send, ring.c:258-272) or a loan (ring_loan,
             * ring_loan.c:210-225, then ring_send_loan, 227-253). The
             * copy path of a relocated loan is a ring_send: round again. */
            sp_loan = (kind >= OP_LOAN);
            sp_copy = 0;
            do
            :: claim(sp_loan && !sp_copy);                         /* ring.c:264, ring_loan.c:214 */
               if
               :: cl_ret != OK ->
                   printf("@ A%d: ring_loan says -EAGAIN\n", me);
                   break
               :: cl_ret == OK && sp_loan && !sp_copy ->
                   ln_i = cl_i;
                   ln_fail = 0;
                   if
                   :: canfail ->                                   /* ring_loan.c:217: ring_back */
                       if
                       :: ln_fail = 1
                       :: ln_fail = 0
                       fi
                   :: else -> skip
                   fi;
                   if
                   :: ln_fail ->
                       printf("@ A%d: no storage for its loan, gives the slot up\n", me);
                       give_up(cl_i, W(cl_t, CLAIMED, me));        /* ring_loan.c:218 */
                       break
                   :: else -> skip
                   fi;
                   /* ring_loan.c:222: the loan's len: not modelled. The
                    * application writes its message into the loan: */
                   STEP(smsg[ln_i] = m; printf("@ A%d writes m%d into its loan, slot %d\n", me, m, ln_i));
                   if
                   :: kind == OP_LOANKEEP ->
                       if
                       :: keep1 == NONE -> keep1 = ln_i
                       :: keep1 != NONE && keep2 == NONE -> keep2 = ln_i
                       :: keep1 != NONE && keep2 != NONE -> keep3 = ln_i
                       fi;
                       break
                   :: else -> skip
                   fi;
                   /* ring_send_loan */
                   STEP(sl_w = word[ln_i]);                        /* ring_loan.c:232 */
                   assert(live_slot_safe || (WST(sl_w) == CLAIMED && WPID(sl_w) == me));   /* 233-235 */
                   STEP(sl_mv = moved[ln_i]);                      /* 237 */
                   if
                   :: sl_mv ->
                       printf("@ A%d: its loan was moved, gives it up and sends m%d by copy\n", me, m);
                       /* ring_loan.c, ring_send_loan: the message is
                        * copied out and the loan's slot given up first, so
                        * the copy never waits for room only the loan
                        * itself fills (a one-slot ring). */
                       do
                       :: STEP(sl_w = word[ln_i]);
                          if
                          :: WST(sl_w) == CLAIMED && WPID(sl_w) == me ->
                              ring_skip(ln_i, sl_w);               /* ring_give_up_if */
                              if
                              :: sk_ret -> break
                              :: else -> skip
                              fi
                          :: else -> break
                          fi
                       od;
                       sp_copy = 1                                 /* ring_send */
                   :: else ->
                       publish(ln_i, sl_w, m, pr, 1, 0);           /* 251 */
                       break
                   fi
               :: else ->
                   publish(cl_i, W(cl_t, CLAIMED, me), m, pr, 0, canfail && !sp_copy);   /* ring.c:267 */
                   break
               fi
            od
        :: kind == OP_RECV || kind == OP_RECVLOAN || kind == OP_RECVKEEP ->
            recv_any(kind != OP_RECV);
            if
            :: kind == OP_RECVLOAN ->
                rs_gm = tk_gm;
                release(tk_i)
            :: kind == OP_RECVKEEP ->
                if
                :: keep1 == NONE -> keep1 = tk_i
                :: else -> keep2 = tk_i
                fi
            :: else -> skip
            fi
        fi;
        j++;
        tk_gm = 0; tk_i = 0; rs_gm = 0; ln_i = 0; ln_fail = 0; pb_ret = 0; sl_w = 0; sl_mv = 0;
        cl_t = 0; cl_i = 0; cl_ret = 0; sk_ret = 0; gu_w = 0; sp_loan = 0; sp_copy = 0
    :: else -> break
    od;
    /* no_leak: the actor holds nothing but the loans it keeps */
    skip;
    d_step {
        for (gq : 0 .. SLOTS - 1) {
            assert(no_leak || !(HELD(word[gq]) && WPID(word[gq]) == me) ||
                   gq == keep1 || gq == keep2 || gq == keep3)
        }
        ended[me] = 1;
        gf = (keep1 != NONE);
        RESET_LOCALS;
        keep1 = (gf -> 0 : NONE)
    }
    /* A process that keeps something may still die holding it. */
    if
    :: keep1 != NONE ->
end_keep:
        if DIE_OPT fi
    :: else -> skip
    fi;
died:
    skip;
    d_step { RESET_LOCALS }
}

/* hiprio_count, in every state */
#define RHI(i) ((i) < SLOTS && WST(word[i]) == READY && (sprio[i] & 127) > 0 -> 1 : 0)
#define FREECOUNTED(i) ((i) < SLOTS && WST(word[i]) == FREE && (sprio[i] & COUNTED))
active proctype monitor()
{
end_monitor:
    atomic {
        !(hiprio >= RHI(0) + RHI(1) + RHI(2) && !FREECOUNTED(0) && !FREECOUNTED(1) && !FREECOUNTED(2)) ->
        assert(hiprio_count || hiprio >= RHI(0) + RHI(1) + RHI(2));
        assert(hiprio_count || !(FREECOUNTED(0) || FREECOUNTED(1) || FREECOUNTED(2)))
    }
}

/* When every actor is waiting, finished or dead, deaths left may go unused
 * (so that the end of every run is checked). */
#define IDLE(a) (NA < (a) || dead[a] || ended[a] || waiting[a] != 0)
active proctype retire()
{
end_retire:
    atomic { kills > 0 && IDLE(1) && IDLE(2) && IDLE(3) -> kills = 0 }
}

/* The slot at the tail, once the hint is past positions already taken:
 * room a waiting sender must not sleep next to. */
hidden byte qt;
hidden short qw;
#define DEAD_TAKING_COUNTS 1

/* no_loss, wait_proceeds, hiprio_exact: whenever nothing can move */
active proctype quiescence()
{
end_quiescence:
    timeout ->
    d_step {
        for (gq : 1 .. NMSG) {
            if
            :: (published & BIT(gq)) && !(delivered & BIT(gq)) ->
                gf = 0;
                for (gx : 0 .. SLOTS - 1) {
                    if
                    :: smsg[gx] == gq && (WST(word[gx]) == READY || WST(word[gx]) == TAKING) -> gf = 1
                    :: else -> skip
                    fi
                }
                assert(no_loss || gf)
            :: else -> skip
            fi
        }
        for (gy : 1 .. NA) {
            if
            :: waiting[gy] == FRECV && !dead[gy] ->
                for (gx : 0 .. SLOTS - 1) {
                    assert(wait_proceeds || WST(word[gx]) != READY);
                    assert(wait_proceeds || !DEAD_TAKING_COUNTS ||
                           !(WST(word[gx]) == TAKING && dead[WPID(word[gx])]))
                }
            :: waiting[gy] == FSEND && !dead[gy] ->
                qt = tail;
                qw = word[IDX(qt)];
                do
                :: DIST(qw, qt) > 0 || (DIST(qw, qt) == 0 && WST(qw) != FREE) ->
                    qt++;
                    qw = word[IDX(qt)]
                :: else -> break
                od;
                assert(wait_proceeds || !(DIST(qw, qt) == 0 && WST(qw) == FREE));
                assert(wait_proceeds || !(DIST(qw, qt) == -SLOTS &&
                        (((WST(qw) == CLAIMED || WST(qw) == LENT) && dead[WPID(qw)]) ||
                         (WST(qw) == SKIP && (WPID(qw) == 0 || dead[WPID(qw)])))))
            :: else -> skip
            fi
        }
        if
        :: !dead[1] && !dead[2] && !dead[3] ->
            gf = 0;
            for (gx : 0 .. SLOTS - 1) {
                if
                :: sprio[gx] & COUNTED -> gf++
                :: else -> skip
                fi
            }
            assert(hiprio_exact || hiprio == gf)
        :: else -> skip
        fi;
        over = 1
    }
}

init
{
    atomic {
        for (gx : 0 .. SLOTS - 1) {
            word[IDX(BASE + gx)] = W(BASE + gx, FREE, 0)   /* ring_format, 31 laps on */
        }
        SCRIPTS;
        for (gq : 1 .. NMSG) {
            for (gy : 1 .. NMSG) {
                if
                :: SENDER(gy) == SENDER(gq) && gy < gq && MPRIO(gy) == MPRIO(gq) ->
                    earlier[gq] = earlier[gq] | BIT(gy)
                :: else -> skip
                fi
            }
        }
        for (gx : 1 .. NA) {
            run actor(gx)
        }
    }
}
