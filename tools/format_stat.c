#include "format.h"

#include <inttypes.h>
#include <pwd.h>
#include <string.h>

#include "json.h"

static const char *policy_name(uint32_t policy)
{
    switch (policy) {
    case MBX_RECV_ANY:
        return "any";
    case MBX_RECV_EXCLUSIVE:
        return "exclusive";
    case MBX_RECV_ROUND_ROBIN:
        return "round-robin";
    case MBX_RECV_PAIR:
        return "pair";
    }
    return "unknown";
}

static const char *capacity_mode(const mbx_stat *st)
{
    if (st->capacity == MBX_RENDEZVOUS)
        return "rendezvous";
    if (st->capacity == MBX_UNBOUNDED)
        return "unbounded";
    return "bounded";
}

static const char *capacity_text(const mbx_stat *st, char *buf, size_t len)
{
    if (st->capacity == MBX_RENDEZVOUS || st->capacity == MBX_UNBOUNDED)
        return capacity_mode(st);
    snprintf(buf, len, "%" PRIu32, st->capacity);
    return buf;
}

/* Bytes with the largest of the K, M, G suffixes that divides them, the form
 * `mbx create --max-size` reads. */
static const char *size_text(uint64_t v, char *buf, size_t len)
{
    static const char suffix[] = "GMK";

    for (int i = 0; i < 3; i++) {
        uint64_t unit = (uint64_t)1 << (10 * (3 - i));
        if (v && v % unit == 0) {
            snprintf(buf, len, "%" PRIu64 "%c", v / unit, suffix[i]);
            return buf;
        }
    }
    snprintf(buf, len, "%" PRIu64, v);
    return buf;
}

static const char *user_text(uint32_t uid, char *buf, size_t len)
{
    struct passwd *pw = getpwuid(uid);

    if (pw)
        return pw->pw_name;
    snprintf(buf, len, "%" PRIu32, uid);
    return buf;
}

static const char *owner_text(const mbx_stat *st, char *buf, size_t len)
{
    if (st->owner_pid == 0)
        return "system";
    snprintf(buf, len, "pid %" PRId32, st->owner_pid);
    return buf;
}

void format_stat_text(FILE *f, const char *name, const mbx_stat *st)
{
    char cap[32], size[32], user[32], owner[32];

    fprintf(f, "name:              %s\n", name);
    fprintf(f, "type:              %s\n", st->flags & MBX_STREAM ? "stream" : "messages");
    fprintf(f, "capacity:          %s\n", capacity_text(st, cap, sizeof(cap)));
    fprintf(f, "max-size:          %s\n", size_text(st->max_msg_size, size, sizeof(size)));
    fprintf(f, "policy:            %s\n", policy_name(st->recv_policy));
    fprintf(f, "mode:              %04" PRIo32 "\n", st->mode);
    fprintf(f, "user:              %s\n", user_text(st->uid, user, sizeof(user)));
    fprintf(f, "gid:               %" PRIu32 "\n", st->gid);
    fprintf(f, "owner:             %s\n", owner_text(st, owner, sizeof(owner)));
    fprintf(f, "messages:          %" PRIu32 "\n", st->count);
    fprintf(f, "bytes:             %" PRIu64 "\n", st->bytes);
    fprintf(f, "senders-waiting:   %" PRIu32 "\n", st->senders_waiting);
    fprintf(f, "receivers-waiting: %" PRIu32 "\n", st->receivers_waiting);
    fprintf(f, "sent-total:        %" PRIu64 "\n", st->sent_total);
    fprintf(f, "received-total:    %" PRIu64 "\n", st->received_total);
}

void format_stat_json(FILE *f, const char *name, const mbx_stat *st)
{
    format_stat_json_ext(f, name, st, NULL);
}

void format_stat_ext_text(FILE *f, const mbx_stat_ext *ext)
{
    fprintf(f, "udp-dropped-full:  %" PRIu64 "\n", ext->udp_dropped_full);
    fprintf(f, "udp-dropped-bad:   %" PRIu64 "\n", ext->udp_dropped_bad);
}

void format_stat_json_ext(FILE *f, const char *name, const mbx_stat *st, const mbx_stat_ext *ext)
{
    fputs("{\"name\":", f);
    json_put_string(f, name, strlen(name));
    fprintf(f,
            ",\"type\":\"%s\",\"capacity\":%" PRIu32 ",\"capacity_mode\":\"%s\""
            ",\"max_msg_size\":%" PRIu64 ",\"policy\":\"%s\",\"mode\":\"%04" PRIo32 "\""
            ",\"uid\":%" PRIu32 ",\"gid\":%" PRIu32 ",\"owned\":%s,\"owner_pid\":%" PRId32
            ",\"count\":%" PRIu32 ",\"bytes\":%" PRIu64 ",\"senders_waiting\":%" PRIu32
            ",\"receivers_waiting\":%" PRIu32 ",\"sent_total\":%" PRIu64
            ",\"received_total\":%" PRIu64,
            st->flags & MBX_STREAM ? "stream" : "messages", st->capacity, capacity_mode(st),
            st->max_msg_size, policy_name(st->recv_policy), st->mode, st->uid, st->gid,
            st->flags & MBX_OWNED ? "true" : "false", st->owner_pid, st->count, st->bytes,
            st->senders_waiting, st->receivers_waiting, st->sent_total, st->received_total);
    if (ext)
        fprintf(f, ",\"udp_dropped_full\":%" PRIu64 ",\"udp_dropped_bad\":%" PRIu64,
                ext->udp_dropped_full, ext->udp_dropped_bad);
    fputc('}', f);
}

void format_ls_header(FILE *f, int name_width)
{
    fprintf(f, "%-*s %8s %10s %10s %7s %4s %-8s %s\n", name_width, "NAME", "MSGS", "BYTES",
            "CAPACITY", "MAXSIZE", "MODE", "USER", "OWNER");
}

void format_ls_row(FILE *f, int name_width, const char *name, const mbx_stat *st)
{
    char cap[32], size[32], user[32], owner[32];

    fprintf(f, "%-*s %8" PRIu32 " %10" PRIu64 " %10s %7s %04" PRIo32 " %-8s %s\n", name_width, name,
            st->count, st->bytes, capacity_text(st, cap, sizeof(cap)),
            size_text(st->max_msg_size, size, sizeof(size)), st->mode,
            user_text(st->uid, user, sizeof(user)), owner_text(st, owner, sizeof(owner)));
}

void format_ls_error(FILE *f, int name_width, const char *name, int err)
{
    fprintf(f, "%-*s (%s)\n", name_width, name, mbx_strerror(err));
}
