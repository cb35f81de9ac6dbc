/* Fuzz target: NATS subjects read back into mailbox names
 * (src/nats/subject.c), what an importing bridge does with what the
 * network says.
 *
 * Any input: nsubj_parse returns 0 or -EINVAL and never reads past the
 * input (an exact-size copy); on success the name it gives maps back to
 * exactly the input (the mapping is one to one), and the input read as a
 * mailbox name, when it is one, maps to a subject that reads back to it.
 */
#include "fuzz_target.h"

#include "nats/subject.h"

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
    char name[256], host[NSUBJ_HOST_MAX + 1], again[NSUBJ_MAX];
    unsigned band = 99;
    int r = nsubj_parse("mbx", s, size, &band, name, sizeof(name), host, sizeof(host));
    if (r != 0 && r != -EINVAL)
        abort();
    if (r == 0) {
        if (band >= NSUBJ_BANDS)
            abort();
        int n = nsubj_subject("mbx", (int)band, name, name[0] == '@' ? host : "h", again,
                              sizeof(again));
        if (n < 0 || (size_t)n != size || memcmp(again, s, size) != 0)
            abort();
    }
    /* The input as a name. */
    if (size > 0 && size < 256) {
        char nm[256];
        memcpy(nm, data, size);
        nm[size] = 0;
        int n = nsubj_subject("mbx", 1, nm, "h0", again, sizeof(again));
        if (n >= 0) {
            char back[256];
            if (nsubj_parse("mbx", again, (size_t)n, &band, back, sizeof(back), host,
                            sizeof(host)) != 0 ||
                strcmp(back, nm) != 0 || band != 1)
                abort();
        } else if (n != -EINVAL) {
            abort();
        }
    }
    free(s);
    return 0;
}
