#include "format.h"

#include <inttypes.h>

#include "json.h"

void format_msg_text(FILE *f, const void *buf, size_t len)
{
    fwrite(buf, 1, len, f);
    putc('\n', f);
}

void format_msg_json(FILE *f, const void *buf, size_t len, const mbx_msginfo *info)
{
    fprintf(f,
            "{\"seq\":%" PRIu64 ",\"size\":%zu,\"priority\":%" PRIu32 ",\"sender\":%" PRId32
            ",\"sender_uid\":%" PRIu32 ",",
            info->seq, len, info->priority, info->sender_pid, info->sender_uid);
    json_put_payload(f, buf, len);
    fputs("}\n", f);
}
