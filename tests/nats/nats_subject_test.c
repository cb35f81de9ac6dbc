/* The name <-> subject mapping of the NATS bridge (src/nats/subject.h):
 * what it makes, that it reads back exactly what it made, and that it
 * refuses what it never makes. No server needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nats/subject.h"

static void expect_subject(const char *name, int band, const char *want)
{
    char out[NSUBJ_MAX];
    int n = nsubj_subject("mbx", band, name, "h1", out, sizeof(out));
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(out, want);
}

static void roundtrip(const char *name, int band)
{
    char subj[NSUBJ_MAX], back[256], host[NSUBJ_HOST_MAX + 1];
    unsigned b = 99;
    int n = nsubj_subject("fleet.a", band, name, "m-1_x", subj, sizeof(subj));
    assert_true(n > 0);
    assert_int_equal(
        nsubj_parse("fleet.a", subj, (size_t)n, &b, back, sizeof(back), host, sizeof(host)), 0);
    assert_string_equal(back, name);
    assert_int_equal(b, (unsigned)band);
    assert_string_equal(host, name[0] == '@' ? "m-1_x" : "");
}

static void makes_documented_subjects(void **state)
{
    (void)state;
    expect_subject("jobs", 0, "mbx.p0.jobs");
    expect_subject("results.eu", 2, "mbx.p2.results.eu");
    expect_subject("a..b", 1, "mbx.p1.a%2E.b");
    expect_subject("a.", 3, "mbx.p3.a%2E");
    expect_subject("a...", 0, "mbx.p0.a%2E%2E%2E");
    expect_subject("x-_9", -1, "mbx.*.x-_9");
    expect_subject("@1234", 0, "mbx.p0.@h1.1234");
}

static void bands_follow_the_rule(void **state)
{
    (void)state;
    assert_int_equal(nsubj_band(0), 0);
    assert_int_equal(nsubj_band(1), 1);
    assert_int_equal(nsubj_band(15), 1);
    assert_int_equal(nsubj_band(16), 2);
    assert_int_equal(nsubj_band(255), 2);
    assert_int_equal(nsubj_band(256), 3);
    assert_int_equal(nsubj_band(32767), 3);
    for (unsigned b = 0; b < NSUBJ_BANDS; b++)
        assert_int_equal(nsubj_band(nsubj_band_base(b)), b);
}

static void reads_back_what_it_made(void **state)
{
    (void)state;
    const char *names[] = {"jobs", "a.b.c", "a..b",   "a.", "a...",    "x.-.y",
                           "_",    "-",     "A9.z..", "@1", "@4194304"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        for (int b = 0; b < NSUBJ_BANDS; b++)
            roundtrip(names[i], b);
    char longname[201];
    memset(longname, '.', 200);
    longname[0] = 'a';
    longname[200] = 0;
    roundtrip(longname, 2);
}

static void refuses_what_it_never_makes(void **state)
{
    (void)state;
    const char *bad[] = {"mbx.p0.",       "mbx.p4.jobs",   "mbx.*.jobs",
                         "mbx.p0.jobs.",  "mbx.p0..jobs",  "mbx.p0.a.%2E",
                         "mbx.p0.a%2Eb",  "mbx.p0.a%2e",   "mbx.p0.a%41",
                         "mbx.p0.a%2",    "mbx.p0.a b",    "mbx.p0.a>",
                         "mbx.p0.*",      "mbx.p0.>",      "mbx.p0..a",
                         "mbx.p0.%2E.a",  "mbx.p0.@h1",    "mbx.p0.@h1.",
                         "mbx.p0.@h1.0",  "mbx.p0.@h1.01", "mbx.p0.@h1.4194305",
                         "mbx.p0.@.12",   "mbx.p0.@h.1.2", "mbx.p0.@h!.12",
                         "other.p0.jobs", "mbxx.p0.jobs",  "mbx.q0.jobs",
                         "mbx.p0",        "mbx",           ""};
    char name[256], host[NSUBJ_HOST_MAX + 1];
    unsigned b;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r =
            nsubj_parse("mbx", bad[i], strlen(bad[i]), &b, name, sizeof(name), host, sizeof(host));
        if (r != -EINVAL)
            fail_msg("accepted '%s' as '%s'", bad[i], name);
    }
    /* A NUL inside what came from the network. */
    assert_int_equal(
        nsubj_parse("mbx", "mbx.p0.ab\0c", 11, &b, name, sizeof(name), host, sizeof(host)),
        -EINVAL);
    /* A name over 200 bytes. */
    char subj[400] = "mbx.p0.";
    memset(subj + 7, 'a', 201);
    assert_int_equal(
        nsubj_parse("mbx", subj, strlen(subj), &b, name, sizeof(name), host, sizeof(host)),
        -EINVAL);
}

static void refuses_bad_inputs_to_make(void **state)
{
    (void)state;
    char out[NSUBJ_MAX];
    assert_int_equal(nsubj_subject("mbx", 0, "/tmp/x/jobs", "h", out, sizeof(out)), -EINVAL);
    assert_int_equal(nsubj_subject("mbx", 0, ".hidden", "h", out, sizeof(out)), -EINVAL);
    assert_int_equal(nsubj_subject("mbx", 0, "a b", "h", out, sizeof(out)), -EINVAL);
    assert_int_equal(nsubj_subject("mbx", 4, "jobs", "h", out, sizeof(out)), -EINVAL);
    assert_int_equal(nsubj_subject("mbx.", 0, "jobs", "h", out, sizeof(out)), -EINVAL);
    assert_int_equal(nsubj_subject("m*", 0, "jobs", "h", out, sizeof(out)), -EINVAL);
    assert_int_equal(nsubj_subject("a..b", 0, "jobs", "h", out, sizeof(out)), -EINVAL);
    assert_int_equal(nsubj_subject("mbx", 0, "@12", "h.x", out, sizeof(out)), -EINVAL);
    assert_int_equal(nsubj_subject("mbx", 0, "@12", NULL, out, sizeof(out)), -EINVAL);
    /* Over pid_max's bound: the parser would not read it back (found by
     * fuzz_subject). */
    assert_int_equal(nsubj_subject("mbx", 0, "@81234230", "h", out, sizeof(out)), -EINVAL);
    assert_int_equal(nsubj_subject("mbx", 0, "jobs", "h", out, 11), -ENAMETOOLONG);
    assert_int_equal(nsubj_subject("mbx", 0, "jobs", "h", out, 12), 11);
}

static void stream_names_differ(void **state)
{
    (void)state;
    char a[128], b[128];
    assert_true(nsubj_stream_name("mbx", "a.b", a, sizeof(a)) > 0);
    assert_true(nsubj_stream_name("mbx", "a_b", b, sizeof(b)) > 0);
    assert_string_not_equal(a, b);
    assert_int_equal(strncmp(a, "MBX_a_b_", 8), 0);
    assert_true(nsubj_stream_name("other", "a.b", b, sizeof(b)) > 0);
    assert_string_not_equal(a, b);
    assert_null(strpbrk(a, ".*> "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(makes_documented_subjects),  cmocka_unit_test(bands_follow_the_rule),
        cmocka_unit_test(reads_back_what_it_made),    cmocka_unit_test(refuses_what_it_never_makes),
        cmocka_unit_test(refuses_bad_inputs_to_make), cmocka_unit_test(stream_names_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
