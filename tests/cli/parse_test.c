/* Unit tests of tools/parse.c: the value parsers of the mbx tool. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mbx.h"
#include "parse.h"

static void size_ok(const char *s, uint64_t want)
{
    uint64_t v = 12345;

    assert_int_equal(parse_size(s, &v), 0);
    assert_true(v == want);
}

static void size_bad(const char *s, int want_err)
{
    uint64_t v = 12345;

    assert_int_equal(parse_size(s, &v), want_err);
    assert_true(v == 12345);
}

static void test_size(void **state)
{
    (void)state;
    size_ok("0", 0);
    size_ok("1", 1);
    size_ok("8192", 8192);
    size_ok("64K", 65536);
    size_ok("64k", 65536);
    size_ok("1M", 1048576);
    size_ok("3m", 3 * 1048576);
    size_ok("1G", 1073741824);
    size_ok("16777215G", (uint64_t)16777215 << 30);
    size_ok("18446744073709551615", UINT64_MAX);
    size_bad("", -EINVAL);
    size_bad("K", -EINVAL);
    size_bad("-1", -EINVAL);
    size_bad("+1", -EINVAL);
    size_bad(" 1", -EINVAL);
    size_bad("1 ", -EINVAL);
    size_bad("12X", -EINVAL);
    size_bad("1KB", -EINVAL);
    size_bad("1.5K", -EINVAL);
    size_bad("1T", -EINVAL);
    size_bad("18446744073709551616", -ERANGE);
    size_bad("17179869184G", -ERANGE);
}

static void duration_ok(const char *s, int64_t want)
{
    int64_t v = 12345;

    assert_int_equal(parse_duration(s, &v), 0);
    assert_true(v == want);
}

static void duration_bad(const char *s, int want_err)
{
    int64_t v = 12345;

    assert_int_equal(parse_duration(s, &v), want_err);
    assert_true(v == 12345);
}

static void test_duration(void **state)
{
    (void)state;
    duration_ok("0", 0);
    duration_ok("2", 2000000000);
    duration_ok("2s", 2000000000);
    duration_ok("500ms", 500000000);
    duration_ok("250us", 250000);
    duration_ok("7ns", 7);
    duration_ok("3m", 180000000000);
    duration_ok("1.5s", 1500000000);
    duration_ok("1.5", 1500000000);
    duration_ok("0.25ms", 250000);
    duration_ok("1.5ns", 1);
    duration_ok("0.000000001s", 1);
    duration_ok("0.0000000019s", 1);
    duration_ok("0.5m", 30000000000);
    duration_ok("forever", MBX_FOREVER);
    duration_ok("9223372036854775807ns", INT64_MAX);
    duration_ok("9223372036.854775807s", INT64_MAX);
    duration_bad("", -EINVAL);
    duration_bad("s", -EINVAL);
    duration_bad("-1", -EINVAL);
    duration_bad("-1s", -EINVAL);
    duration_bad("5parsecs", -EINVAL);
    duration_bad("5h", -EINVAL);
    duration_bad("5 s", -EINVAL);
    duration_bad("5S", -EINVAL);
    duration_bad("1.s", -EINVAL);
    duration_bad(".5s", -EINVAL);
    duration_bad("1.2.3s", -EINVAL);
    duration_bad("Forever", -EINVAL);
    duration_bad("9223372036854775808ns", -ERANGE);
    duration_bad("9223372037s", -ERANGE);
    duration_bad("9223372036.854775808s", -ERANGE);
    duration_bad("99999999999999999999", -ERANGE);
}

static void test_priority(void **state)
{
    unsigned v = 7;

    (void)state;
    assert_int_equal(parse_priority("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(parse_priority("32767", &v), 0);
    assert_int_equal(v, MBX_PRIO_MAX - 1);
    assert_int_equal(parse_priority("32768", &v), -ERANGE);
    assert_int_equal(parse_priority("99999999999999999999999", &v), -ERANGE);
    assert_int_equal(parse_priority("-1", &v), -EINVAL);
    assert_int_equal(parse_priority("1K", &v), -EINVAL);
    assert_int_equal(parse_priority("", &v), -EINVAL);
    assert_int_equal(v, MBX_PRIO_MAX - 1);
}

static void test_policy(void **state)
{
    uint32_t v = 99;

    (void)state;
    assert_int_equal(parse_policy("any", &v), 0);
    assert_int_equal(v, MBX_RECV_ANY);
    assert_int_equal(parse_policy("exclusive", &v), 0);
    assert_int_equal(v, MBX_RECV_EXCLUSIVE);
    assert_int_equal(parse_policy("pair", &v), 0);
    assert_int_equal(v, MBX_RECV_PAIR);
    assert_int_equal(parse_policy("round-robin", &v), 0);
    assert_int_equal(v, MBX_RECV_ROUND_ROBIN);
    assert_int_equal(parse_policy("Any", &v), -EINVAL);
    assert_int_equal(parse_policy("round_robin", &v), -EINVAL);
    assert_int_equal(parse_policy("", &v), -EINVAL);
    assert_int_equal(v, MBX_RECV_ROUND_ROBIN);
}

static void test_mode(void **state)
{
    uint32_t v = 99;

    (void)state;
    assert_int_equal(parse_mode("0660", &v), 0);
    assert_int_equal(v, 0660);
    assert_int_equal(parse_mode("600", &v), 0);
    assert_int_equal(v, 0600);
    assert_int_equal(parse_mode("7777", &v), 0);
    assert_int_equal(v, 07777);
    assert_int_equal(parse_mode("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(parse_mode("10000", &v), -ERANGE);
    assert_int_equal(parse_mode("0668", &v), -EINVAL);
    assert_int_equal(parse_mode("rw", &v), -EINVAL);
    assert_int_equal(parse_mode("", &v), -EINVAL);
    assert_int_equal(v, 0);
}

static void test_uint(void **state)
{
    uint64_t v = 99;

    (void)state;
    assert_int_equal(parse_uint("1", 1, 10, &v), 0);
    assert_true(v == 1);
    assert_int_equal(parse_uint("10", 1, 10, &v), 0);
    assert_true(v == 10);
    assert_int_equal(parse_uint("0", 1, 10, &v), -ERANGE);
    assert_int_equal(parse_uint("11", 1, 10, &v), -ERANGE);
    assert_int_equal(parse_uint("1e3", 1, 10000, &v), -EINVAL);
    assert_int_equal(parse_uint("0x10", 0, 100, &v), -EINVAL);
    assert_int_equal(parse_uint("", 0, 100, &v), -EINVAL);
    assert_true(v == 10);
}

static void test_type_select(void **state)
{
    int how = -1;
    uint64_t t = 99;

    (void)state;
    assert_int_equal(parse_type_select("7", &how, &t), 0);
    assert_true(how == MBX_SEL_EQ && t == 7);
    assert_int_equal(parse_type_select("<=18446744073709551615", &how, &t), 0);
    assert_true(how == MBX_SEL_LE && t == UINT64_MAX);
    assert_int_equal(parse_type_select("!0", &how, &t), 0);
    assert_true(how == MBX_SEL_NE && t == 0);
    assert_int_equal(parse_type_select("18446744073709551616", &how, &t), -ERANGE);
    assert_int_equal(parse_type_select("<", &how, &t), -EINVAL);
    assert_int_equal(parse_type_select("<7", &how, &t), -EINVAL);
    assert_int_equal(parse_type_select("!", &how, &t), -EINVAL);
    assert_int_equal(parse_type_select(">=3", &how, &t), -EINVAL);
    assert_int_equal(parse_type_select("-1", &how, &t), -EINVAL);
    assert_int_equal(parse_type_select("", &how, &t), -EINVAL);
    assert_true(how == MBX_SEL_NE && t == 0); /* left alone on failure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size),        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_priority),    cmocka_unit_test(test_policy),
        cmocka_unit_test(test_mode),        cmocka_unit_test(test_uint),
        cmocka_unit_test(test_type_select),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
