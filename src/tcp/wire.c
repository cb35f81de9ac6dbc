/* Encoding and decoding of the frames of wire.h, little endian, every
 * read bounded by the bytes received. */
#include "tcp/wire.h"

#include <errno.h>
#include <string.h>

/* A cursor over bytes: writes and reads move it; a read past the end sets
 * bad and yields zeros, so a decoder checks once at its end. */
struct cur {
    uint8_t *w;
    const uint8_t *r;
    size_t left;
    int bad;
};

static void put8(struct cur *c, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        *c->w++ = (uint8_t)(v >> (8 * i));
}

static uint64_t get8(struct cur *c, unsigned n)
{
    if (c->left < n) {
        c->bad = 1;
        c->left = 0;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)c->r[i] << (8 * i);
    c->r += n;
    c->left -= n;
    return v;
}

static void put_bytes(struct cur *c, const void *b, size_t n)
{
    memcpy(c->w, b, n);
    c->w += n;
}

static void get_bytes(struct cur *c, void *b, size_t n)
{
    if (c->left < n) {
        c->bad = 1;
        c->left = 0;
        memset(b, 0, n);
        return;
    }
    memcpy(b, c->r, n);
    c->r += n;
    c->left -= n;
}

static struct cur writer(uint8_t *p)
{
    return (struct cur){.w = p};
}

static struct cur reader(const uint8_t *p, size_t n)
{
    return (struct cur){.r = p, .left = n};
}

/* A decoder's verdict: all of a fixed-size body read, nothing left over. */
static int exact(const struct cur *c)
{
    return c->bad || c->left ? -EPROTO : 0;
}

/* The same for a body whose payload follows the fixed part. */
static int prefix(const struct cur *c)
{
    return c->bad ? -EPROTO : 0;
}

void wire_hdr_put(uint8_t *p, const struct wire_hdr *h)
{
    struct cur c = writer(p);
    put8(&c, h->len, 4);
    put8(&c, h->type, 1);
    put8(&c, h->flags, 1);
    put8(&c, 0, 2);
    put8(&c, h->id, 8);
}

int wire_hdr_get(const uint8_t *p, uint64_t max_body, struct wire_hdr *h)
{
    struct cur c = reader(p, WIRE_HDR);
    h->len = (uint32_t)get8(&c, 4);
    h->type = (uint8_t)get8(&c, 1);
    h->flags = (uint8_t)get8(&c, 1);
    uint64_t zero = get8(&c, 2);
    h->id = get8(&c, 8);
    if (zero || h->type < W_HELLO || h->type > W_CONFIRM || h->len > max_body)
        return -EPROTO;
    return 0;
}

size_t wire_hello_put(uint8_t *p, const struct wire_hello *h)
{
    struct cur c = writer(p);
    put8(&c, WIRE_MAGIC, 4);
    put8(&c, h->version, 4);
    put_bytes(&c, h->nonce, WIRE_NONCE);
    return (size_t)(c.w - p);
}

int wire_hello_get(const uint8_t *p, size_t n, struct wire_hello *h)
{
    struct cur c = reader(p, n);
    uint64_t magic = get8(&c, 4);
    h->version = (uint32_t)get8(&c, 4);
    get_bytes(&c, h->nonce, WIRE_NONCE);
    return magic != WIRE_MAGIC ? -EPROTO : exact(&c);
}

size_t wire_open_put(uint8_t *p, const struct wire_open *o)
{
    struct cur c = writer(p);
    size_t len = strnlen(o->name, WIRE_NAME_MAX);
    put8(&c, WIRE_MAGIC, 4);
    put8(&c, o->version, 4);
    put_bytes(&c, o->nonce, WIRE_NONCE);
    put_bytes(&c, o->mac, WIRE_MAC);
    put8(&c, o->session, 8);
    put8(&c, o->last_req, 8);
    put8(&c, o->flags, 4);
    put8(&c, o->opts.kind, 4);
    put8(&c, o->opts.attr.max_msg_size, 8);
    put8(&c, o->opts.attr.capacity, 4);
    put8(&c, o->opts.attr.recv_policy, 4);
    put8(&c, o->opts.attr.mode, 4);
    put8(&c, o->opts.attr.memory_limit, 8);
    put8(&c, len, 2);
    put_bytes(&c, o->name, len);
    if (o->version >= 4) {
        put_bytes(&c, o->kx, WIRE_KX);
        put_bytes(&c, o->proof, WIRE_KX);
    }
    return (size_t)(c.w - p);
}

int wire_open_get(const uint8_t *p, size_t n, struct wire_open *o)
{
    struct cur c = reader(p, n);
    uint64_t magic = get8(&c, 4);
    o->version = (uint32_t)get8(&c, 4);
    get_bytes(&c, o->nonce, WIRE_NONCE);
    get_bytes(&c, o->mac, WIRE_MAC);
    o->session = get8(&c, 8);
    o->last_req = get8(&c, 8);
    o->flags = (uint32_t)get8(&c, 4);
    mbx_options_init(&o->opts);
    o->opts.kind = (uint32_t)get8(&c, 4);
    o->opts.attr.max_msg_size = get8(&c, 8);
    o->opts.attr.capacity = (uint32_t)get8(&c, 4);
    o->opts.attr.recv_policy = (uint32_t)get8(&c, 4);
    o->opts.attr.mode = (uint32_t)get8(&c, 4);
    o->opts.attr.memory_limit = get8(&c, 8);
    size_t len = (size_t)get8(&c, 2);
    if (magic != WIRE_MAGIC || len == 0 || len > WIRE_NAME_MAX)
        return -EPROTO;
    get_bytes(&c, o->name, len);
    o->name[len] = 0;
    memset(o->kx, 0, WIRE_KX);
    memset(o->proof, 0, WIRE_KX);
    if (o->version >= 4) {
        get_bytes(&c, o->kx, WIRE_KX);
        get_bytes(&c, o->proof, WIRE_KX);
    }
    /* A name with a NUL inside would be checked as one name and mean
     * another. */
    if (strlen(o->name) != len)
        return -EPROTO;
    return exact(&c);
}

size_t wire_welcome_put(uint8_t *p, const struct wire_welcome *w)
{
    struct cur c = writer(p);
    put_bytes(&c, w->mac, WIRE_MAC);
    put8(&c, (uint32_t)w->status, 4);
    put8(&c, w->session, 8);
    put8(&c, w->last_seq, 8);
    put8(&c, (uint32_t)w->last_status, 4);
    put8(&c, w->window, 4);
    put8(&c, w->room, 4);
    put8(&c, w->capacity, 4);
    put8(&c, w->max_msg, 8);
    if (w->version >= 4)
        put_bytes(&c, w->kx, WIRE_KX);
    return (size_t)(c.w - p);
}

int wire_welcome_get(const uint8_t *p, size_t n, struct wire_welcome *w)
{
    struct cur c = reader(p, n);
    get_bytes(&c, w->mac, WIRE_MAC);
    w->status = (int32_t)(uint32_t)get8(&c, 4);
    w->session = get8(&c, 8);
    w->last_seq = get8(&c, 8);
    w->last_status = (int32_t)(uint32_t)get8(&c, 4);
    w->window = (uint32_t)get8(&c, 4);
    w->room = (uint32_t)get8(&c, 4);
    w->capacity = (uint32_t)get8(&c, 4);
    w->max_msg = get8(&c, 8);
    /* A version 4 gateway's WELCOME has its key; one that refuses before
     * it knows the client's version (or an older gateway) sends none. */
    w->version = n >= WIRE_WELCOME_LEN_V4 ? 4 : 3;
    memset(w->kx, 0, WIRE_KX);
    if (w->version >= 4)
        get_bytes(&c, w->kx, WIRE_KX);
    if (w->status > 0 || w->status < -4095 || w->last_status > 0 || w->last_status < -4095)
        return -EPROTO;
    return exact(&c);
}

size_t wire_send_put(uint8_t *p, const struct wire_send *s)
{
    struct cur c = writer(p);
    put8(&c, s->prio, 4);
    put8(&c, s->type, 8);
    put8(&c, (uint64_t)s->timeout_ns, 8);
    return (size_t)(c.w - p);
}

int wire_send_get(const uint8_t *p, size_t n, struct wire_send *s)
{
    struct cur c = reader(p, n);
    s->prio = (uint32_t)get8(&c, 4);
    s->type = get8(&c, 8);
    s->timeout_ns = (int64_t)get8(&c, 8);
    if (s->prio >= MBX_PRIO_MAX || s->timeout_ns < -1)
        return -EPROTO;
    return prefix(&c);
}

size_t wire_ack_put(uint8_t *p, const struct wire_ack *a)
{
    struct cur c = writer(p);
    put8(&c, (uint32_t)a->status, 4);
    put8(&c, a->room, 4);
    return (size_t)(c.w - p);
}

int wire_ack_get(const uint8_t *p, size_t n, struct wire_ack *a)
{
    struct cur c = reader(p, n);
    a->status = (int32_t)(uint32_t)get8(&c, 4);
    a->room = (uint32_t)get8(&c, 4);
    if (a->status > 0 || a->status < -4095)
        return -EPROTO;
    return exact(&c);
}

size_t wire_recv_put(uint8_t *p, const struct wire_recv *r)
{
    struct cur c = writer(p);
    put8(&c, (uint32_t)r->from, 4);
    put8(&c, r->how, 4);
    put8(&c, r->type, 8);
    put8(&c, r->cap, 8);
    put8(&c, (uint64_t)r->timeout_ns, 8);
    return (size_t)(c.w - p);
}

int wire_recv_get(const uint8_t *p, size_t n, struct wire_recv *r)
{
    struct cur c = reader(p, n);
    r->from = (int32_t)(uint32_t)get8(&c, 4);
    r->how = (uint32_t)get8(&c, 4);
    r->type = get8(&c, 8);
    r->cap = get8(&c, 8);
    r->timeout_ns = (int64_t)get8(&c, 8);
    if (r->from < 0 || r->how > MBX_SEL_NE || r->timeout_ns < -1)
        return -EPROTO;
    return exact(&c);
}

size_t wire_msg_put(uint8_t *p, const struct wire_msg *m)
{
    struct cur c = writer(p);
    put8(&c, m->info.size, 8);
    put8(&c, m->info.priority, 4);
    put8(&c, (uint32_t)m->info.sender_pid, 4);
    put8(&c, m->info.sender_uid, 4);
    put8(&c, m->info.seq, 8);
    put8(&c, m->info.reply_token, 8);
    put8(&c, m->type, 8);
    return (size_t)(c.w - p);
}

int wire_msg_get(const uint8_t *p, size_t n, struct wire_msg *m)
{
    struct cur c = reader(p, n);
    memset(&m->info, 0, sizeof(m->info));
    m->info.size = get8(&c, 8);
    m->info.priority = (uint32_t)get8(&c, 4);
    m->info.sender_pid = (int32_t)(uint32_t)get8(&c, 4);
    m->info.sender_uid = (uint32_t)get8(&c, 4);
    m->info.seq = get8(&c, 8);
    m->info.reply_token = get8(&c, 8);
    m->type = get8(&c, 8);
    /* The payload that follows is the message: its size must say so. */
    if (c.bad || m->info.size != c.left || m->info.priority >= MBX_PRIO_MAX)
        return -EPROTO;
    return 0;
}

size_t wire_result_put(uint8_t *p, int64_t result)
{
    struct cur c = writer(p);
    put8(&c, (uint64_t)result, 8);
    return (size_t)(c.w - p);
}

int wire_result_get(const uint8_t *p, size_t n, int64_t *result)
{
    struct cur c = reader(p, n);
    *result = (int64_t)get8(&c, 8);
    if (*result < -4095)
        return -EPROTO;
    return exact(&c);
}

size_t wire_result_size_put(uint8_t *p, int64_t result, uint64_t size)
{
    struct cur c = writer(p);
    put8(&c, (uint64_t)result, 8);
    put8(&c, size, 8);
    return (size_t)(c.w - p);
}

int wire_result_size_get(const uint8_t *p, size_t n, int64_t *result, uint64_t *size)
{
    struct cur c = reader(p, n);
    *result = (int64_t)get8(&c, 8);
    *size = get8(&c, 8);
    if (*result < -4095)
        return -EPROTO;
    return exact(&c);
}

size_t wire_call_put(uint8_t *p, const struct wire_call *k)
{
    struct cur c = writer(p);
    put8(&c, k->prio, 4);
    put8(&c, (uint64_t)k->timeout_ns, 8);
    put8(&c, k->cap, 8);
    return (size_t)(c.w - p);
}

int wire_call_get(const uint8_t *p, size_t n, struct wire_call *k)
{
    struct cur c = reader(p, n);
    k->prio = (uint32_t)get8(&c, 4);
    k->timeout_ns = (int64_t)get8(&c, 8);
    k->cap = get8(&c, 8);
    if (k->prio >= MBX_PRIO_MAX || k->timeout_ns < -1)
        return -EPROTO;
    return prefix(&c);
}

size_t wire_stat_put(uint8_t *p, const mbx_stat *st)
{
    struct cur c = writer(p);
    put_bytes(&c, st->name, sizeof(st->name));
    put8(&c, st->max_msg_size, 8);
    put8(&c, st->capacity, 4);
    put8(&c, st->recv_policy, 4);
    put8(&c, st->mode, 4);
    put8(&c, st->flags, 4);
    put8(&c, st->uid, 4);
    put8(&c, st->gid, 4);
    put8(&c, (uint32_t)st->owner_pid, 4);
    put8(&c, st->count, 4);
    put8(&c, st->bytes, 8);
    put8(&c, st->senders_waiting, 4);
    put8(&c, st->receivers_waiting, 4);
    put8(&c, st->sent_total, 8);
    put8(&c, st->received_total, 8);
    put8(&c, st->repairs, 4);
    return (size_t)(c.w - p);
}

int wire_stat_get(const uint8_t *p, size_t n, mbx_stat *st)
{
    struct cur c = reader(p, n);
    memset(st, 0, sizeof(*st));
    get_bytes(&c, st->name, sizeof(st->name));
    st->name[sizeof(st->name) - 1] = 0;
    st->max_msg_size = get8(&c, 8);
    st->capacity = (uint32_t)get8(&c, 4);
    st->recv_policy = (uint32_t)get8(&c, 4);
    st->mode = (uint32_t)get8(&c, 4);
    st->flags = (uint32_t)get8(&c, 4);
    st->uid = (uint32_t)get8(&c, 4);
    st->gid = (uint32_t)get8(&c, 4);
    st->owner_pid = (int32_t)(uint32_t)get8(&c, 4);
    st->count = (uint32_t)get8(&c, 4);
    st->bytes = get8(&c, 8);
    st->senders_waiting = (uint32_t)get8(&c, 4);
    st->receivers_waiting = (uint32_t)get8(&c, 4);
    st->sent_total = get8(&c, 8);
    st->received_total = get8(&c, 8);
    st->repairs = (uint32_t)get8(&c, 4);
    return exact(&c);
}

size_t wire_reply_put(uint8_t *p, uint64_t token, uint32_t pid)
{
    struct cur c = writer(p);
    put8(&c, token, 8);
    put8(&c, pid, 4);
    return (size_t)(c.w - p);
}

int wire_reply_get(const uint8_t *p, size_t n, uint64_t *token, uint32_t *pid)
{
    struct cur c = reader(p, n);
    *token = get8(&c, 8);
    *pid = (uint32_t)get8(&c, 4);
    return *token == 0 ? -EPROTO : prefix(&c);
}

size_t wire_here_put(uint8_t *p, const uint8_t boot_id[WIRE_BOOT_ID], const uint64_t dir_id[2],
                     const char *dir)
{
    struct cur c = writer(p);
    size_t len = strnlen(dir, WIRE_DIR_MAX);
    put_bytes(&c, boot_id, WIRE_BOOT_ID);
    put8(&c, dir_id[0], 8);
    put8(&c, dir_id[1], 8);
    put8(&c, len, 2);
    put_bytes(&c, dir, len);
    return (size_t)(c.w - p);
}

int wire_here_get(const uint8_t *p, size_t n, uint8_t boot_id[WIRE_BOOT_ID], uint64_t dir_id[2],
                  char *dir)
{
    struct cur c = reader(p, n);
    get_bytes(&c, boot_id, WIRE_BOOT_ID);
    dir_id[0] = get8(&c, 8);
    dir_id[1] = get8(&c, 8);
    size_t len = (size_t)get8(&c, 2);
    if (c.bad || len == 0 || len > WIRE_DIR_MAX)
        return -EPROTO;
    get_bytes(&c, dir, len);
    dir[len] = 0;
    /* A folder the client will open a file in: absolute, whole, no ".."
     * games (the name that follows is checked by mbx_open itself). */
    if (dir[0] != '/' || strlen(dir) != len)
        return -EPROTO;
    return exact(&c);
}

size_t wire_frag_put(uint8_t *p, const struct wire_frag *f)
{
    struct cur c = writer(p);
    put8(&c, f->total, 8);
    put8(&c, f->offset, 8);
    return (size_t)(c.w - p);
}

int wire_frag_get(const uint8_t *p, size_t n, struct wire_frag *f)
{
    struct cur c = reader(p, n);
    f->total = get8(&c, 8);
    f->offset = get8(&c, 8);
    if (c.bad || c.left == 0 || c.left > WIRE_FRAG_MAX || f->total <= WIRE_FRAG_MAX ||
        f->offset > f->total || c.left > f->total - f->offset)
        return -EPROTO;
    return 0;
}
