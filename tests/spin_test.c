/* How long a blocked call spins before it sleeps (shm/transport.c's
 * handle_ctx): the default lengthens after a large message, so a round trip
 * of 1 MiB messages does not sleep while its peer still copies; a spin the
 * program chose (mbx_set_spin, MBX_SPIN_NS) is kept exactly. */
#include "test_box.h"

#include "shm/shm.h"

#include <stdlib.h>

#define MIB (1u << 20)

static char big[8 * MIB];

/* The spin the next call through m would use. */
static int64_t spin_of(mbx *m)
{
    return handle_ctx(shm_box_of(m)).wait.spin_ns;
}

/* Sends n bytes to m and receives them back through it. */
static void pass(mbx *m, size_t n)
{
    assert_int_equal(mbx_send(m, big, n, 0, 0), 0);
    assert_int_equal(mbx_recv(m, big, sizeof(big), NULL, 0), (ssize_t)n);
}

static void default_spin_follows_the_last_message(void **state)
{
    (void)state;
    mbx *m = test_box("sized", 2, 8 * MIB, 0);
    assert_int_equal(spin_of(m), 20000);
    pass(m, MIB); /* a quarter of a nanosecond a byte */
    assert_int_equal(spin_of(m), MIB / 4);
    pass(m, 8 * MIB); /* at most 1 ms */
    assert_int_equal(spin_of(m), 1000000);
    pass(m, 64 * 1024); /* below the default: the default */
    assert_int_equal(spin_of(m), 20000);
    mbx_close(m);
    mbx_unlink("sized");
}

static void chosen_spin_is_kept(void **state)
{
    (void)state;
    mbx *m = test_box("chosen", 2, 8 * MIB, 0);
    assert_int_equal(mbx_set_spin(m, 20000), 0);
    pass(m, MIB);
    assert_int_equal(spin_of(m), 20000);
    assert_int_equal(mbx_set_spin(m, 0), 0); /* sleep at once stays so */
    pass(m, MIB);
    assert_int_equal(spin_of(m), 0);
    mbx_close(m);
    setenv("MBX_SPIN_NS", "20000", 1);
    assert_int_equal(mbx_open("chosen", MBX_SEND | MBX_RECV, NULL, &m), 0);
    unsetenv("MBX_SPIN_NS");
    pass(m, MIB);
    assert_int_equal(spin_of(m), 20000);
    mbx_close(m);
    mbx_unlink("chosen");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_spin_follows_the_last_message),
        cmocka_unit_test(chosen_spin_is_kept),
    };
    return cmocka_run_group_tests(tests, test_dir_setup, test_dir_teardown);
}
