/* Fuzz target: the JSON message lines `mbx load` reads (tools/msgline.c).
 *
 * Any input: the parser returns 0 or -EINVAL with a reason, never reads
 * past the input (an exact-size copy), and on success its message, written
 * back with msgline_put, parses to the same priority, type and payload.
 * The payload may be any bytes (base64 when they are not UTF-8), so the
 * round trip covers both encodings.
 */
#include "fuzz_target.h"

#include "mbx.h"
#include "msgline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    struct msgline m;
    const char *why = NULL;
    int r = msgline_parse(s, size, &m, &why);
    if (r != 0) {
        if (r != -EINVAL || !why)
            abort();
        free(s);
        return 0;
    }
    if (m.prio >= MBX_PRIO_MAX)
        abort();
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    if (!f)
        abort();
    msgline_put(f, m.prio, m.type, m.payload, m.len);
    fclose(f);
    if (outlen == 0 || out[outlen - 1] != '\n')
        abort();
    struct msgline again;
    if (msgline_parse(out, outlen - 1, &again, &why) != 0)
        abort();
    if (again.prio != m.prio || again.type != m.type || again.len != m.len ||
        (m.len && memcmp(again.payload, m.payload, m.len) != 0))
        abort();
    msgline_free(&again);
    msgline_free(&m);
    free(out);
    free(s);
    return 0;
}
