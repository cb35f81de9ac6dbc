/* A gateway of the tests with a short linger, so that an ended session's
 * put-back shows within the test. */
#ifndef MBX_TEST_SHORT_GATEWAY_H
#define MBX_TEST_SHORT_GATEWAY_H

#include "test_util.h"

#include "mbx.h"

/* Starts a gateway on 127.0.0.1 (any free port) exporting the names allow
 * matches, sessions lingering linger_ms. Returns it; fails the test when
 * it cannot start. */
static inline mbx_gateway *short_gateway(const char *const *allow, uint32_t linger_ms)
{
    mbx_gateway_options o;
    mbx_gateway_options_init(&o);
    o.allow = allow;
    o.linger_ms = linger_ms;
    mbx_gateway *g = NULL;
    assert_int_equal(mbx_gateway_start("127.0.0.1:0", &o, &g), 0);
    return g;
}

#endif
