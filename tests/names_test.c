/* Tests src/names.c: which names are mailbox names, and where they live. */
#include "test_util.h"

#include "core/names.h"
#include "shm/files.h"

#include <errno.h>

static void valid_names(void **state)
{
    (void)state;
    assert_int_equal(name_check("a"), 0);
    assert_int_equal(name_check("jobs.v2_x-1"), 0);
    assert_int_equal(name_check("@1"), 0);
    assert_int_equal(name_check("@2147483647"), 0);
    char max[NAME_MAX_LEN + 1];
    memset(max, 'x', NAME_MAX_LEN);
    max[NAME_MAX_LEN] = 0;
    assert_int_equal(name_check(max), 0);
    /* A name with its directory. */
    assert_int_equal(name_check("/var/lib/app/jobs"), 0);
    assert_int_equal(name_check("/a/.../b"), 0);
    assert_int_equal(name_dir_len("/var/lib/app/jobs"), 12);
    assert_int_equal(name_dir_len("jobs"), 0);
    assert_int_equal(name_dir_len("@12"), 0);
}

static void invalid_names(void **state)
{
    (void)state;
    assert_int_equal(name_check(NULL), -EINVAL);
    assert_int_equal(name_check(""), -EINVAL);
    assert_int_equal(name_check(".hidden"), -EINVAL);
    assert_int_equal(name_check("a/b"), -EINVAL);
    assert_int_equal(name_check("a b"), -EINVAL);
    assert_int_equal(name_check("é"), -EINVAL);
    assert_int_equal(name_check("@"), -EINVAL);
    assert_int_equal(name_check("@0"), -EINVAL);
    assert_int_equal(name_check("@012"), -EINVAL);
    assert_int_equal(name_check("@12a"), -EINVAL);
    assert_int_equal(name_check("@2147483648"), -EINVAL);
    /* Not a local name: transports with schemes are chosen before
     * (core/transports.c; mbx_open says -EPROTONOSUPPORT, api_test). */
    assert_int_equal(name_check("tcp://host:1/x"), -EINVAL);
    char big[NAME_MAX_LEN + 2];
    memset(big, 'x', NAME_MAX_LEN + 1);
    big[NAME_MAX_LEN + 1] = 0;
    assert_int_equal(name_check(big), -ENAMETOOLONG);
    /* Directories: absolute, no empty, "." or ".." component, not the
     * root, name characters only, a valid short name last. */
    static const char *bad[] = {
        "/jobs", "/tmp//jobs", "/tmp/./jobs", "/tmp/../jobs", "/tmp/x/",  "/tmp/x/.h", "/tmp/x y/j",
        "/..",   "/a/..",      "/a/b/../c",   "tmp/x/jobs",   "/tmp/é/j", "/tmp/x/a b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(name_check(bad[i]), -EINVAL);
    char deep[NAME_FULL_MAX + 8];
    for (size_t i = 0; i < NAME_FULL_MAX; i += 2)
        deep[i] = '/', deep[i + 1] = 'd';
    deep[NAME_FULL_MAX] = '/', deep[NAME_FULL_MAX + 1] = 'q', deep[NAME_FULL_MAX + 2] = 0;
    assert_int_equal(name_check(deep), -ENAMETOOLONG);
    char tail[300];
    snprintf(tail, sizeof(tail), "/tmp/%s", big);
    assert_int_equal(name_check(tail), -ENAMETOOLONG);
}

static void paths_follow_mbx_dir(void **state)
{
    (void)state;
    char p[NAME_PATH_MAX];
    setenv("MBX_DIR", "/tmp/x", 1);
    assert_int_equal(name_path("q", p, sizeof(p)), 0);
    assert_string_equal(p, "/tmp/x/mbx.q");
    setenv("MBX_DIR", "", 1);
    assert_int_equal(name_path("q", p, sizeof(p)), 0);
    assert_string_equal(p, "/dev/shm/mbx.q");
    unsetenv("MBX_DIR");
    assert_string_equal(name_dir(), "/dev/shm");
    assert_int_equal(name_path("q", p, 8), -ENAMETOOLONG);
    /* A name with its directory ignores MBX_DIR. */
    setenv("MBX_DIR", "/tmp/x", 1);
    assert_int_equal(name_path("/srv/queues/q", p, sizeof(p)), 0);
    assert_string_equal(p, "/srv/queues/mbx.q");
    unsetenv("MBX_DIR");
}

static void files_to_names(void **state)
{
    (void)state;
    const char *n = NULL;
    assert_int_equal(name_from_file("mbx.jobs", &n), 1);
    assert_string_equal(n, "jobs");
    assert_int_equal(name_from_file("mbx.@42", &n), 1);
    assert_string_equal(n, "@42");
    assert_int_equal(name_from_file("mbx.", &n), 0);
    assert_int_equal(name_from_file(".mbx-new.1.2.3", &n), 0);
    assert_int_equal(name_from_file("sem.x", &n), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_names),
        cmocka_unit_test(invalid_names),
        cmocka_unit_test(paths_follow_mbx_dir),
        cmocka_unit_test(files_to_names),
    };
    return test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
