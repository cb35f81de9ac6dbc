/* mbx_options.prefault and MBX_PREFAULT: a handle that asks for it has
 * every page of the mailbox's message storage mapped when it opens, so the
 * first message into each slot or block takes no page fault (on a VM a
 * first touch cost a 1 MiB round trip 4-10 times its usual time). Counted
 * here as this process's minor faults while it fills a fresh mailbox. */
#include "test_box.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define SLOTS 16
#define SIZE  (256 * 1024)
#define PAGES (SLOTS * SIZE / 4096) /* the pages a lap of messages writes */

static char buf[SIZE];

static long minor_faults(void)
{
    struct rusage u;
    assert_int_equal(getrusage(RUSAGE_SELF, &u), 0);
    return u.ru_minflt;
}

/* Minor faults taken while SLOTS messages of SIZE go into a fresh mailbox
 * of `kind`, opened with o.prefault = prefault. */
static long faults_of_a_lap(uint32_t kind, uint32_t prefault)
{
    const char *name = "prefault.box";
    mbx_options o;
    mbx_options_init(&o);
    o.kind = kind;
    o.attr.capacity = SLOTS;
    o.attr.max_msg_size = SIZE;
    o.prefault = prefault;
    mbx_unlink(name);
    mbx *m;
    assert_int_equal(mbx_open_opts(name, MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL, &o, &m), 0);
    long before = minor_faults();
    for (int i = 0; i < SLOTS; i++)
        assert_int_equal(mbx_send(m, buf, SIZE, 0, MBX_NONBLOCK), 0);
    long took = minor_faults() - before;
    /* The messages are whole: prefaulting changed no byte of them. */
    char got[64];
    mbx_msginfo info;
    assert_int_equal(mbx_recv(m, got, sizeof(got), &info, MBX_NONBLOCK), -EMSGSIZE);
    assert_int_equal(mbx_close(m), 0);
    assert_int_equal(mbx_unlink(name), 0);
    return took;
}

/* Without prefault every page a message writes faults once; with it, at
 * most a quarter as many (a sanitizer's shadow pages still fault). */
static void check_kind(uint32_t kind)
{
    long cold = faults_of_a_lap(kind, 0);
    long warm = faults_of_a_lap(kind, 1);
    print_message("kind %u: %ld faults as they come, %ld prefaulted (%d pages)\n", kind, cold, warm,
                  PAGES);
    assert_true(cold >= PAGES * 3 / 4);
    assert_true(warm * 4 <= cold);
}

static void ring_prefaults(void **state)
{
    (void)state;
    check_kind(MBX_KIND_RING);
}

static void heap_prefaults(void **state)
{
    (void)state;
    check_kind(MBX_KIND_HEAP);
}

/* MBX_PREFAULT=1 asks it for every open of the process. */
static void environment_asks_for_every_open(void **state)
{
    (void)state;
    long cold = faults_of_a_lap(MBX_KIND_RING, 0);
    assert_int_equal(setenv("MBX_PREFAULT", "1", 1), 0);
    long warm = faults_of_a_lap(MBX_KIND_RING, 0);
    assert_int_equal(unsetenv("MBX_PREFAULT"), 0);
    assert_true(cold >= PAGES * 3 / 4);
    assert_true(warm * 4 <= cold);
}

/* An unbounded heap's arena is its memory_limit (1 GiB by default): only
 * its first 64 MiB are prefaulted, which the allocator hands out first. */
static void unbounded_heap_prefaults_its_start(void **state)
{
    (void)state;
    const char *name = "prefault.unbounded";
    mbx_options o;
    mbx_options_init(&o);
    o.kind = MBX_KIND_HEAP;
    o.attr.capacity = MBX_UNBOUNDED;
    o.attr.max_msg_size = 1 << 20;
    o.prefault = 1;
    mbx_unlink(name);
    mbx *m;
    assert_int_equal(mbx_open_opts(name, MBX_SEND | MBX_RECV | MBX_CREATE | MBX_EXCL, &o, &m), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/mbx.%s", getenv("MBX_DIR"), name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    uint64_t held = (uint64_t)st.st_blocks * 512;
    print_message("an unbounded heap holds %llu MiB of storage after a prefaulted open\n",
                  (unsigned long long)(held >> 20));
    assert_true(held >= (48ull << 20));
    assert_true(held <= (66ull << 20));
    mbx_close(m);
    mbx_unlink(name);
}

/* A receiver that prefaults gets the bytes the sender wrote. */
static void contents_survive(void **state)
{
    (void)state;
    const char *name = "prefault.data";
    mbx_options o;
    mbx_options_init(&o);
    o.attr.capacity = 4;
    o.attr.max_msg_size = SIZE;
    mbx_unlink(name);
    mbx *tx, *rx;
    assert_int_equal(mbx_open_opts(name, MBX_SEND | MBX_CREATE | MBX_EXCL, &o, &tx), 0);
    for (int i = 0; i < SIZE; i++)
        buf[i] = (char)(i * 7 + 1);
    assert_int_equal(mbx_send(tx, buf, SIZE, 0, MBX_NONBLOCK), 0);
    o.prefault = 1;
    assert_int_equal(mbx_open_opts(name, MBX_RECV, &o, &rx), 0);
    char *got = malloc(SIZE);
    assert_non_null(got);
    assert_int_equal(mbx_recv(rx, got, SIZE, NULL, MBX_NONBLOCK), SIZE);
    assert_memory_equal(got, buf, SIZE);
    free(got);
    mbx_close(rx);
    mbx_close(tx);
    mbx_unlink(name);
}

int main(void)
{
    memset(buf, 0x5a, sizeof(buf)); /* its pages fault now, not in a count */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ring_prefaults),
        cmocka_unit_test(heap_prefaults),
        cmocka_unit_test(environment_asks_for_every_open),
        cmocka_unit_test(unbounded_heap_prefaults_its_start),
        cmocka_unit_test(contents_survive),
    };
    return test_result(cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown));
}
