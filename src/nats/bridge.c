/* mbx_bridge_start and mbx_bridge_stop: options checked, the connection
 * made, the mailboxes opened, then one thread per export and a few per
 * import (bridge.h). */
#include "nats/bridge.h"

#include "core/handle.h"
#include "nats/conn.h"
#include "platform/platform.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int bridge_stopping(const struct mbx_bridge *b)
{
    return __atomic_load_n(&b->stopping, __ATOMIC_ACQUIRE);
}

EXPORT void mbx_bridge_options_init(mbx_bridge_options *o)
{
    if (!o)
        return; /* as mbx_attr_init: a NULL is no crash */
    memset(o, 0, sizeof(*o));
    o->size = sizeof(*o);
    o->replicas = 1;
    o->pending_limit = 65536;
    o->call_timeout_ms = 5000;
    o->ack_wait_ms = 30000;
}

void bridge_msg_prio(natsMsg *msg, unsigned band, unsigned *prio, uint64_t *type)
{
    const char *v = NULL;
    *prio = nsubj_band_base(band < NSUBJ_BANDS ? band : 0);
    *type = 0;
    if (natsMsgHeader_Get(msg, HDR_PRIO, &v) == NATS_OK && v) {
        char *end;
        unsigned long p = strtoul(v, &end, 10);
        /* A priority outside its subject's band is not believed. */
        if (*v >= '0' && *v <= '9' && !*end && p < MBX_PRIO_MAX &&
            (band >= NSUBJ_BANDS || nsubj_band((unsigned)p) == band))
            *prio = (unsigned)p;
    }
    v = NULL;
    if (natsMsgHeader_Get(msg, HDR_TYPE, &v) == NATS_OK && v) {
        char *end;
        errno = 0;
        unsigned long long t = strtoull(v, &end, 10);
        if (*v >= '0' && *v <= '9' && !*end && errno == 0)
            *type = t;
    }
}

/* 1 when subject s is one of the n subjects of want. */
static int has_subject(const char *const *want, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (s && !strcmp(want[i], s))
            return 1;
    return 0;
}

/* 1 when a stream someone made before us under our name (have) is the
 * one we ask for (want), setting by setting: an allow-list, as every
 * setting we do not ask for is one more way to lose a message or stall
 * us (a review: allow_rollup_hdrs let anyone who may publish purge what
 * the stream held with one "Nats-Rollup: sub" header; no_ack left every
 * publish of the export unanswered, for ever). A work queue on file with
 * our subjects only, our replicas, a de-duplication window as long; no
 * limit that drops or refuses messages, nor on consumers; every publish
 * acknowledged; no rollup, direct get, seal, template, mirror, sources or
 * republish. Description, placement and deny_delete/deny_purge (which
 * only keep more: the bridge neither deletes nor purges) are free. */
static int stream_fits(const jsStreamConfig *have, const jsStreamConfig *want)
{
    if (have->Retention != want->Retention || have->Storage != want->Storage ||
        have->Replicas != want->Replicas || have->Duplicates < want->Duplicates)
        return 0;
    if (have->MaxMsgs > 0 || have->MaxBytes > 0 || have->MaxAge > 0 ||
        have->MaxMsgsPerSubject > 0 || have->MaxMsgSize > 0 || have->MaxConsumers > 0 ||
        have->Discard != want->Discard || have->DiscardNewPerSubject)
        return 0;
    if (have->NoAck || have->AllowRollup || have->AllowDirect || have->MirrorDirect ||
        have->Sealed || (have->Template && *have->Template))
        return 0;
    if (have->Mirror || have->SourcesLen > 0 || have->Sources || have->RePublish)
        return 0;
    if (have->SubjectsLen != want->SubjectsLen)
        return 0;
    for (int i = 0; i < have->SubjectsLen; i++)
        if (!has_subject(want->Subjects, want->SubjectsLen, have->Subjects[i]))
            return 0;
    return 1;
}

/* The stream the bridge makes for mailbox name: its name into stream,
 * its subjects (one per band) into subj and subjects, the rest into
 * *cfg. Returns 0 or -errno (a name too long). */
static int stream_want(struct mbx_bridge *b, const char *name, char *stream, size_t cap,
                       char subj[][NSUBJ_MAX], const char **subjects, jsStreamConfig *cfg)
{
    int n = nsubj_stream_name(b->prefix, name, stream, cap);
    if (n < 0)
        return n;
    for (int i = 0; i < NSUBJ_BANDS; i++) {
        int r = nsubj_subject(b->prefix, i, name, b->host, subj[i], NSUBJ_MAX);
        if (r < 0)
            return r;
        subjects[i] = subj[i];
    }
    jsStreamConfig_Init(cfg);
    cfg->Name = stream;
    cfg->Subjects = subjects;
    cfg->SubjectsLen = NSUBJ_BANDS;
    cfg->Retention = js_WorkQueuePolicy;
    cfg->Storage = js_FileStorage;
    cfg->Replicas = (int64_t)b->replicas;
    cfg->Duplicates = (int64_t)120 * 1000000000; /* the de-duplication window: 2 minutes */
    return 0;
}

/* The stream cfg->Name exists with another configuration than cfg (error
 * 10058): its name is predictable, so anyone allowed to make streams may
 * have made it first, e.g. with limits that drop what was acknowledged.
 * Returns 0 (its creation time in *created) when it keeps what we need,
 * else -EEXIST (the library prints nothing: mbx bridge says why). */
static int stream_existing(struct mbx_bridge *b, const jsStreamConfig *cfg, int64_t *created)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, b->js, cfg->Name, NULL, &jerr);
    if (s != NATS_OK)
        return jerr == JSStreamNotFoundErr                    ? -ENOENT
               : s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS ? -EPROTO
                                                              : -EIO;
    int r = si->Config && stream_fits(si->Config, cfg) ? 0 : -EEXIST;
    *created = si->Created;
    jsStreamInfo_Destroy(si);
    return r;
}

int bridge_stream_check(struct mbx_bridge *b, const char *name)
{
    char stream[160], subj[NSUBJ_BANDS][NSUBJ_MAX];
    const char *subjects[NSUBJ_BANDS];
    jsStreamConfig cfg;
    int64_t created = 0;
    int r = stream_want(b, name, stream, sizeof(stream), subj, subjects, &cfg);
    return r ? r : stream_existing(b, &cfg, &created);
}

int bridge_stream(struct mbx_bridge *b, const char *name, char *stream, size_t cap,
                  int64_t *created)
{
    char subj[NSUBJ_BANDS][NSUBJ_MAX];
    const char *subjects[NSUBJ_BANDS];
    jsStreamConfig cfg;
    int r = stream_want(b, name, stream, cap, subj, subjects, &cfg);
    if (r)
        return r;
    jsErrCode jerr = 0;
    jsStreamInfo *si = NULL;
    natsStatus s = NATS_OK;
    /* A cluster electing its meta leader answers with errors for a while. */
    for (int tries = 0; tries < 50; tries++) {
        jerr = 0;
        s = js_AddStream(&si, b->js, &cfg, NULL, &jerr);
        if (s == NATS_OK || jerr == JSStreamNameExistErr || bridge_stopping(b))
            break;
        if (s == NATS_NOT_PERMITTED || jerr == JSNotEnabledErr || jerr == JSNotEnabledForAccountErr)
            break;
        nats_Sleep(100);
    }
    *created = s == NATS_OK && si ? si->Created : 0;
    jsStreamInfo_Destroy(si);
    if (s == NATS_OK)
        return 0;
    if (jerr == JSStreamNameExistErr) {
        r = stream_existing(b, &cfg, created);
        return r == -ENOENT ? -EIO : r; /* deleted meanwhile: made at the next try */
    }
    if (jerr == JSNotEnabledErr || jerr == JSNotEnabledForAccountErr || s == NATS_NO_RESPONDERS)
        return -EPROTO;
    return s == NATS_TIMEOUT ? -EPROTO : -EIO;
}

static void count_names(const char *const *v, size_t *n)
{
    *n = 0;
    while (v && v[*n])
        (*n)++;
}

int bridge_open_box(struct mbx_bridge *b, const char *name, int flags, uint32_t kind, uint64_t most,
                    mbx **m, uint64_t *max_msg)
{
    mbx_options o;
    mbx_options_init(&o);
    o.kind = kind;
    uint64_t room =
        b->max_payload > BRIDGE_HDR_ROOM ? (uint64_t)b->max_payload - BRIDGE_HDR_ROOM : 1;
    if (o.attr.max_msg_size > room)
        o.attr.max_msg_size = room;
    int create = name[0] == '@' ? 0 : MBX_CREATE;
    int r = mbx_open_opts(name, flags | create, &o, m);
    if (r)
        return r;
    mbx_stat st;
    r = mbx_stat_get(*m, &st);
    if (!r && (st.max_msg_size > room || st.max_msg_size > most))
        r = -EMSGSIZE;
    if (r) {
        mbx_close(*m);
        *m = NULL;
        return r;
    }
    if (max_msg)
        *max_msg = st.max_msg_size;
    /* A bridge's waits sleep at once. It shares the CPUs with the NATS
     * client's threads, the server and its mailboxes' users; on a 2-CPU
     * machine its default spin took the time they needed (one-way through
     * two bridges 590-630k msg/s spinning, 710-800k without). */
    mbx_set_spin(*m, 0);
    return 0;
}

/* A JetStream import makes its mailbox a heap one: whether the delivery
 * a kill -9 interrupted happened is judged by the mailbox's sent_total,
 * which a heap mailbox keeps exact at every instruction of a send and a
 * ring one may count a few instructions late (kill_every_step_test,
 * jsstate.h). */
uint32_t bridge_import_kind(const struct mbx_bridge *b)
{
    return b->jetstream ? MBX_KIND_HEAP : MBX_KIND_AUTO;
}

int bridge_reopen_export(struct bexport *e)
{
    mbx *m = NULL;
    /* Not one made again taking larger messages than the buffer holds. */
    int r = bridge_open_box(e->b, e->name, MBX_RECV, MBX_KIND_AUTO, e->max_msg, &m, NULL);
    if (r)
        return r;
    mbx_close(e->m);
    e->m = m;
    return 0;
}

static int subjects(struct mbx_bridge *b, const char *name, char subj[][NSUBJ_MAX])
{
    for (int i = 0; i <= NSUBJ_BANDS; i++) {
        int r = nsubj_subject(b->prefix, i == BRIDGE_BAND_CALL ? -1 : i, name, b->host, subj[i],
                              NSUBJ_MAX);
        if (r < 0)
            return r;
    }
    /* The request subject: "c" in the band's place. */
    char *star = strstr(subj[BRIDGE_BAND_CALL] + strlen(b->prefix), ".*.");
    if (!star)
        return -EINVAL;
    star[1] = 'c';
    return 0;
}

/* The list of what this bridge bridges, for `mbx ls`:
 * $MBX_DIR/.mbx-bridge.PID.list (or .mbx-bridge.PID.XXXXXX.list when that
 * name is taken): "# started TICKS" (the process's start time, field 22 of
 * /proc/PID/stat), then lines "export|import NAME SUBJECT core|jetstream"
 * (no server address: it may hold credentials). Removed at stop; one a killed
 * bridge leaves names a dead pid, which mbx ls leaves out. */
static void list_path(char *path, size_t cap)
{
    const char *dir = getenv("MBX_DIR");
    snprintf(path, cap, "%s/.mbx-bridge.%ld.list", dir && *dir ? dir : "/dev/shm", (long)getpid());
}

/* Writes the list under a temporary name nobody can guess, then renames
 * it into place: in a shared directory (/dev/shm is 1777) another user
 * could plant a predictable one first and hide the bridge from mbx ls.
 * The place itself is predictable too: when something is there already
 * (another user's file, which the sticky bit keeps, or a directory), the
 * list goes under a name with the temporary one's random part, which
 * mbx ls reads as well. */
static void list_write(struct mbx_bridge *b)
{
    char path[4200], tmp[4300];
    list_path(path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return;
    FILE *f = fchmod(fd, 0644) == 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        close(fd);
        unlink(tmp);
        return;
    }
    /* First the start time of this process: mbx ls tells by it a list
     * whose pid went to another process since (a killed bridge's). */
    uint64_t started;
    if (proc_start(getpid(), &started) == 0)
        fprintf(f, "# started %llu\n", (unsigned long long)started);
    for (size_t i = 0; i < b->nex + b->nim; i++) {
        int ex = i < b->nex;
        const char *name = ex ? b->ex[i].name : b->im[i - b->nex].name;
        char subj[NSUBJ_MAX];
        if (nsubj_subject(b->prefix, -1, name, b->host, subj, sizeof(subj)) > 0)
            fprintf(f, "%s %s %s %s\n", ex ? "export" : "import", name, subj,
                    b->jetstream ? "jetstream" : "core");
    }
    if (fclose(f) != 0) {
        unlink(tmp);
        return;
    }
    if (rename(tmp, path) == 0) {
        snprintf(b->list_file, sizeof(b->list_file), "%s", path);
        return;
    }
    /* "DIR/.mbx-bridge.PID.list.RANDOM" -> "DIR/.mbx-bridge.PID.RANDOM.list" */
    size_t n = strlen(path) - strlen(".list");
    char alt[4300];
    snprintf(alt, sizeof(alt), "%.*s%s.list", (int)n, path, tmp + strlen(path));
    if (rename(tmp, alt) == 0)
        snprintf(b->list_file, sizeof(b->list_file), "%s", alt);
    else
        unlink(tmp);
}

static void bridge_free(struct mbx_bridge *b)
{
    __atomic_store_n(&b->stopping, 1, __ATOMIC_RELEASE);
    if (b->listed && b->list_file[0])
        unlink(b->list_file);
    for (size_t i = 0; i < b->nim; i++) {
        struct bimport *im = &b->im[i];
        for (int k = 0; k <= NSUBJ_BANDS; k++) {
            if (im->started[k])
                pthread_join(im->th[k], NULL);
            if (im->sub[k]) {
                natsSubscription_Unsubscribe(im->sub[k]);
                natsSubscription_Destroy(im->sub[k]);
            }
        }
        jsstate_close(im->st);
        bimport_free(im);
    }
    for (size_t i = 0; i < b->nex; i++) {
        if (b->ex[i].started)
            pthread_join(b->ex[i].th, NULL);
    }
    bcalls_stop(b);
    for (size_t i = 0; i < b->nex; i++) {
        if (b->ex[i].m)
            mbx_close(b->ex[i].m);
        journal_close(b->ex[i].j);
        free(b->ex[i].buf);
    }
    if (b->bulk) {
        natsConnection_FlushTimeout(b->bulk, 1000);
        natsConnection_Close(b->bulk);
    }
    natsConnection_Destroy(b->bulk);
    if (b->nc) {
        natsConnection_FlushTimeout(b->nc, 1000);
        natsConnection_Close(b->nc);
    }
    jsCtx_Destroy(b->js);
    natsConnection_Destroy(b->nc);
    pthread_mutex_destroy(&b->calls_mu);
    free(b->ex);
    free(b->im);
    free(b);
}

EXPORT int mbx_bridge_start(const mbx_bridge_options *o, mbx_bridge **out)
{
    size_t nex = 0, nim = 0;
    if (!o || !out || o->size < sizeof(mbx_bridge_options) || !o->servers)
        return -EINVAL;
    count_names(o->exports, &nex);
    count_names(o->imports, &nim);
    if (nex + nim == 0 || nex > 1024 || nim > 1024)
        return -EINVAL;
    const char *prefix = o->prefix ? o->prefix : "mbx";
    if (nsubj_check_prefix(prefix) || (o->host_id && nsubj_check_host(o->host_id)) ||
        (o->jetstream && (o->replicas < 1 || o->replicas > 5)))
        return -EINVAL;
    for (size_t i = 0; i < nex + nim; i++) {
        const char *name = i < nex ? o->exports[i] : o->imports[i - nex];
        char tmp[NSUBJ_MAX];
        if (nsubj_subject(prefix, 0, name, "h", tmp, sizeof(tmp)) < 0)
            return -EINVAL;
        /* A name given twice: exported and imported, what the import
         * delivers the export publishes back to it, for ever (one message
         * made 2982 rounds in 3 s: a review); twice in one list, two
         * threads share one mailbox's journal or record. */
        for (size_t k = 0; k < i; k++)
            if (!strcmp(name, k < nex ? o->exports[k] : o->imports[k - nex]))
                return -EINVAL;
    }
    struct mbx_bridge *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    pthread_mutex_init(&b->calls_mu, NULL);
    snprintf(b->prefix, sizeof(b->prefix), "%s", prefix);
    int r = 0;
    if (o->host_id)
        snprintf(b->host, sizeof(b->host), "%s", o->host_id);
    else
        r = nconn_host_id(b->host, sizeof(b->host));
    b->jetstream = o->jetstream != 0;
    b->replicas = o->replicas ? o->replicas : 1;
    /* libnats takes an int: more would turn negative ("no limit"). */
    b->pending_limit = !o->pending_limit            ? 65536
                       : o->pending_limit > INT_MAX ? INT_MAX
                                                    : o->pending_limit;
    b->call_timeout_ms = o->call_timeout_ms ? o->call_timeout_ms : 5000;
    b->ack_wait_ms = o->ack_wait_ms ? o->ack_wait_ms : 30000;
    b->ex = calloc(nex ? nex : 1, sizeof(*b->ex));
    b->im = calloc(nim ? nim : 1, sizeof(*b->im));
    if (!r && (!b->ex || !b->im))
        r = -ENOMEM;
    if (!r)
        r = nconn_open(o, 1, &b->nc);
    if (!r && nex && !b->jetstream)
        r = nconn_open(o, 0, &b->bulk);
    if (!r) {
        b->max_payload = natsConnection_GetMaxPayload(b->nc);
        if (b->max_payload <= BRIDGE_HDR_ROOM)
            r = -EMSGSIZE;
    }
    if (!r && b->jetstream) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = 5000;
        r = nconn_errno(natsConnection_JetStream(&b->js, b->nc, &jo));
    }
    for (size_t i = 0; !r && i < nex; i++) {
        struct bexport *e = &b->ex[i];
        e->b = b;
        b->nex = i + 1;
        snprintf(e->name, sizeof(e->name), "%s", o->exports[i]);
        r = subjects(b, e->name, e->subj);
        if (!r)
            r = bridge_open_box(b, e->name, MBX_RECV, MBX_KIND_AUTO, UINT64_MAX, &e->m,
                                &e->max_msg);
        if (!r && b->jetstream)
            r = bridge_stream(b, e->name, e->stream, sizeof(e->stream), &e->stream_created);
        if (!r && b->jetstream)
            r = journal_open(e->stream, e->max_msg, &e->j);
        if (!r && !b->jetstream && !(e->buf = malloc(e->max_msg ? e->max_msg : 1)))
            r = -ENOMEM;
    }
    for (size_t i = 0; !r && i < nim; i++) {
        struct bimport *im = &b->im[i];
        im->b = b;
        bimport_init(im);
        b->nim = i + 1;
        snprintf(im->name, sizeof(im->name), "%s", o->imports[i]);
        r = subjects(b, im->name, im->subj);
        mbx *m = NULL;
        uint64_t max_msg = 0;
        if (!r)
            r = bridge_open_box(b, im->name, MBX_SEND, bridge_import_kind(b), UINT64_MAX, &m,
                                &max_msg);
        if (!r && (r = bimport_box(im, m, max_msg)) != 0)
            mbx_close(m);
        if (!r && b->jetstream)
            r = bridge_stream(b, im->name, im->stream, sizeof(im->stream), &im->stream_created);
    }
    if (!r && nex)
        r = bcalls_start(b);
    for (size_t i = 0; !r && i < nim; i++)
        r = bimport_start(&b->im[i]);
    for (size_t i = 0; !r && i < nex; i++)
        r = bexport_start(&b->ex[i]);
    if (!r)
        r = nconn_errno(natsConnection_FlushTimeout(b->nc, 5000));
    if (r) {
        bridge_free(b);
        return r;
    }
    list_write(b);
    b->listed = 1;
    *out = b;
    return 0;
}

EXPORT int mbx_bridge_stat_get(mbx_bridge *b, mbx_bridge_stat *st)
{
    if (!b || !st)
        return -EINVAL;
    memset(st, 0, sizeof(*st));
    st->exported = __atomic_load_n(&b->n_exported, __ATOMIC_RELAXED);
    st->imported = __atomic_load_n(&b->n_imported, __ATOMIC_RELAXED);
    st->calls = __atomic_load_n(&b->n_calls, __ATOMIC_RELAXED);
    st->refused = __atomic_load_n(&b->n_refused, __ATOMIC_RELAXED);
    st->redeliver = __atomic_load_n(&b->n_redeliver, __ATOMIC_RELAXED);
    for (size_t i = 0; i < b->nim; i++)
        for (int k = 0; k < NSUBJ_BANDS; k++) {
            int64_t d = 0;
            if (!b->jetstream && b->im[i].sub[k] &&
                natsSubscription_GetDropped(b->im[i].sub[k], &d) == NATS_OK)
                st->dropped += (uint64_t)d;
        }
    return 0;
}

EXPORT int mbx_bridge_refusing(mbx_bridge *b, uint32_t *n)
{
    if (!b || !n)
        return -EINVAL;
    uint32_t k = 0;
    for (size_t i = 0; i < b->nim; i++)
        k += __atomic_load_n(&b->im[i].refused, __ATOMIC_ACQUIRE) != 0;
    for (size_t i = 0; i < b->nex; i++)
        k += __atomic_load_n(&b->ex[i].refused, __ATOMIC_ACQUIRE) != 0;
    *n = k;
    return 0;
}

EXPORT int mbx_bridge_held(mbx_bridge *b, uint64_t *held)
{
    if (!b || !held)
        return -EINVAL;
    uint64_t n = __atomic_load_n(&b->n_held, __ATOMIC_RELAXED);
    for (size_t i = 0; i < b->nim; i++)
        for (int k = 0; k < NSUBJ_BANDS; k++) {
            int pending = 0;
            if (!b->jetstream && b->im[i].sub[k] &&
                natsSubscription_GetPending(b->im[i].sub[k], &pending, NULL) == NATS_OK &&
                pending > 0)
                n += (uint64_t)pending;
        }
    *held = n;
    return 0;
}

EXPORT int mbx_bridge_stop(mbx_bridge *b)
{
    if (!b)
        return -EINVAL;
    bridge_free(b);
    return 0;
}
