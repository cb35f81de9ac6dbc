/* Numbers for people: about three significant digits, rates with a unit
 * letter, byte counts in KiB or MiB. */
#include <stdio.h>
#include <string.h>

#include "units.h"

/* About three significant digits, so columns stay narrow from 0.0012 to
 * 12345. */
void sig3(char *out, size_t n, double v)
{
    snprintf(out, n,
             v >= 100             ? "%.0f"
             : v >= 10            ? "%.1f"
             : v >= 0.1 || v == 0 ? "%.2f"
                                  : "%.2g",
             v);
}

void rate_str(char *out, size_t n, double v)
{
    const char *unit = "";
    if (v >= 1e9) {
        v /= 1e9;
        unit = "G";
    } else if (v >= 1e6) {
        v /= 1e6;
        unit = "M";
    } else if (v >= 1e3) {
        v /= 1e3;
        unit = "k";
    }
    char num[24];
    sig3(num, sizeof(num), v);
    size_t k = strnlen(num, sizeof(num) - 1);
    if (n > k + 1) { /* room for the number, the unit (one letter) and the end */
        memcpy(out, num, k);
        snprintf(out + k, n - k, "%s", unit);
    } else if (n) {
        out[0] = 0;
    }
}

void bytes_str(char *out, size_t n, uint64_t b)
{
    char num[24];
    if (b >= (uint64_t)1 << 30) {
        sig3(num, sizeof(num), (double)b / (1 << 30));
        snprintf(out, n, "%s GiB", num);
    } else if (b >= (uint64_t)1 << 20) {
        sig3(num, sizeof(num), (double)b / (1 << 20));
        snprintf(out, n, "%s MiB", num);
    } else {
        sig3(num, sizeof(num), (double)b / 1024);
        snprintf(out, n, "%s KiB", num);
    }
}
