/* tls:// mailboxes: who gets in and who does not, with certificates made
 * at test time (tls_certs.h): the right CA, the wrong one, a certificate
 * for another name, client certificates (mutual TLS) with and without the
 * shared secret, TLS against plain TCP both ways, the gateway options'
 * rules, and what an eavesdropper on the link sees (the fault proxy
 * records every byte). tcp_tls_test runs the whole of tcp_test over
 * tls://, link cuts and held receives included. Only mbx.h is used. */
#include "test_box.h"

#include "tcp_proxy.h"
#include "tls_certs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char secret_path[300];
static int have_certs;

static const char *path(const char *file)
{
    static char buf[8][320];
    static unsigned next;
    char *p = buf[next++ % 8];
    snprintf(p, 320, "%s/%s", test_dir, file);
    return p;
}

static int setup(void **state)
{
    if (test_dir_setup(state))
        return -1;
    snprintf(secret_path, sizeof(secret_path), "%s/secret", test_dir);
    int fd = open(secret_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    const char *text = "0123456789abcdef0123456789abcdef\n";
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        return -1;
    close(fd);
    setenv("MBX_SECRET_FILE", secret_path, 1);
    setenv("MBX_TCP_BYPASS", "0", 1);
    have_certs = tls_make_certs(test_dir) == 0;
    return 0;
}

static int teardown(void **state)
{
    return test_dir_teardown(state);
}

/* Each test starts from: the right CA trusted, no client certificate, the
 * secret in place. */
static int before(void **state)
{
    (void)state;
    if (!have_certs)
        skip(); /* no openssl command */
    setenv("MBX_TLS_CA", path("ca.pem"), 1);
    unsetenv("MBX_TLS_CERT");
    unsetenv("MBX_TLS_KEY");
    setenv("MBX_SECRET_FILE", secret_path, 1);
    return 0;
}

static const char *const allow[] = {"tls*", NULL};

/* A gateway on loopback with this certificate (NULL: plain TCP), client
 * CA and flags. */
static mbx_gateway *gateway(const char *cert, const char *client_ca, uint32_t flags)
{
    mbx_gateway_options o;
    mbx_gateway_options_init(&o);
    o.allow = allow;
    o.linger_ms = 2000;
    if (cert) {
        char key[64];
        snprintf(key, sizeof(key), "%.*s.key", (int)(strlen(cert) - 4), cert);
        o.tls_cert = path(cert);
        o.tls_key = path(key);
    }
    o.tls_client_ca = client_ca ? path(client_ca) : NULL;
    o.flags = flags;
    mbx_gateway *g = NULL;
    assert_int_equal(mbx_gateway_start("127.0.0.1:0", &o, &g), 0);
    return g;
}

static int open_at(const char *scheme, const char *host, int port, const char *box, mbx **m)
{
    char name[160];
    snprintf(name, sizeof(name), "%s://%s:%d/%s", scheme, host, port, box);
    *m = NULL;
    return mbx_open(name, MBX_SEND | MBX_RECV, NULL, m);
}

/* One message each way through handle m and local mailbox box. */
static void round_trip(mbx *m, mbx *box)
{
    char buf[32];
    assert_int_equal(mbx_send(m, "there", 5, 0, 5000000000ll), 0);
    assert_int_equal(mbx_recv(box, buf, sizeof(buf), NULL, 5000000000ll), 5);
    assert_memory_equal(buf, "there", 5);
    assert_int_equal(mbx_send(box, "back", 4, 0, 0), 0);
    assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 5000000000ll), 4);
    assert_memory_equal(buf, "back", 4);
}

/* The right CA: in, by IP address and by name; the gateway's certificate
 * for another name, or from a CA not trusted: refused. */
static void server_certificate_checked(void **state)
{
    (void)state;
    mbx *box = test_box("tls-a", 8, 64, 0);
    mbx_gateway *g = gateway("srv.pem", NULL, 0);
    int port = mbx_gateway_port(g);
    mbx *m;
    assert_int_equal(open_at("tls", "127.0.0.1", port, "tls-a", &m), 0);
    round_trip(m, box);
    mbx_close(m);
    assert_int_equal(open_at("tls", "localhost", port, "tls-a", &m), 0);
    round_trip(m, box);
    mbx_close(m);
    setenv("MBX_TLS_CA", path("ca2.pem"), 1); /* a CA that did not sign it */
    assert_int_equal(open_at("tls", "127.0.0.1", port, "tls-a", &m), -EACCES);
    setenv("MBX_TLS_CA", path("nothing.pem"), 1);
    assert_int_equal(open_at("tls", "127.0.0.1", port, "tls-a", &m), -ENOENT);
    setenv("MBX_TLS_CA", path("ca.pem"), 1);
    mbx_gateway_stop(g);
    /* Signed by the right CA, but for far.example, not 127.0.0.1. */
    g = gateway("far.pem", NULL, 0);
    assert_int_equal(open_at("tls", "127.0.0.1", mbx_gateway_port(g), "tls-a", &m), -EACCES);
    mbx_gateway_stop(g);
    mbx_close(box);
    mbx_unlink("tls-a");
}

/* A name says TLS or not; a gateway that answers otherwise is refused at
 * once, both ways, and the other way is not tried. */
static void tls_and_plain_never_mix(void **state)
{
    (void)state;
    mbx *box = test_box("tls-b", 8, 64, 0);
    mbx_gateway *tg = gateway("srv.pem", NULL, 0), *pg = gateway(NULL, NULL, 0);
    mbx *m;
    assert_int_equal(open_at("tcp", "127.0.0.1", mbx_gateway_port(tg), "tls-b", &m),
                     -EPROTONOSUPPORT);
    assert_int_equal(open_at("tls", "127.0.0.1", mbx_gateway_port(pg), "tls-b", &m),
                     -EPROTONOSUPPORT);
    assert_int_equal(open_at("tcp", "127.0.0.1", mbx_gateway_port(pg), "tls-b", &m), 0);
    round_trip(m, box);
    mbx_close(m);
    mbx_gateway_stop(tg);
    mbx_gateway_stop(pg);
    mbx_close(box);
    mbx_unlink("tls-b");
}

/* Client certificates required: none, or one from another CA, is
 * refused; the right one gets in, with the secret too, or (NO_SECRET)
 * without any secret file at all. */
static void client_certificates(void **state)
{
    (void)state;
    mbx *box = test_box("tls-c", 8, 64, 0);
    mbx *m;
    for (int no_secret = 0; no_secret < 2; no_secret++) {
        mbx_gateway *g = gateway("srv.pem", "ca.pem", no_secret ? MBX_GATEWAY_NO_SECRET : 0);
        int port = mbx_gateway_port(g);
        unsetenv("MBX_TLS_CERT");
        assert_int_equal(open_at("tls", "127.0.0.1", port, "tls-c", &m), -EACCES);
        setenv("MBX_TLS_CERT", path("cli2.pem"), 1); /* from ca2 */
        setenv("MBX_TLS_KEY", path("cli2.key"), 1);
        assert_int_equal(open_at("tls", "127.0.0.1", port, "tls-c", &m), -EACCES);
        setenv("MBX_TLS_CERT", path("cli.pem"), 1);
        setenv("MBX_TLS_KEY", path("cli.key"), 1);
        assert_int_equal(open_at("tls", "127.0.0.1", port, "tls-c", &m), 0);
        round_trip(m, box);
        mbx_close(m);
        /* No secret file: only the gateway that waived it lets us in. */
        setenv("MBX_SECRET_FILE", path("no-such-secret"), 1);
        assert_int_equal(open_at("tls", "127.0.0.1", port, "tls-c", &m), no_secret ? 0 : -EACCES);
        if (!no_secret) {
            setenv("MBX_SECRET_FILE", secret_path, 1);
        } else {
            round_trip(m, box);
            mbx_close(m);
            /* tcp:// never goes without the secret. */
            assert_int_equal(open_at("tcp", "127.0.0.1", port, "tls-c", &m), -EACCES);
            setenv("MBX_SECRET_FILE", secret_path, 1);
        }
        mbx_gateway_stop(g);
    }
    mbx_close(box);
    mbx_unlink("tls-c");
}

/* What the gateway options allow: never a listener that takes clients
 * who proved nothing; TLS settings whole; files that exist and match;
 * the options of a program built before TLS still work. */
static void gateway_options_rules(void **state)
{
    (void)state;
    mbx_gateway_options o;
    mbx_gateway *g;
    mbx_gateway_options_init(&o);
    o.allow = allow;
    o.flags = MBX_GATEWAY_NO_SECRET; /* no client certificates: nobody proves anything */
    assert_int_equal(mbx_gateway_start("127.0.0.1:0", &o, &g), -EINVAL);
    o.tls_cert = path("srv.pem");
    o.tls_key = path("srv.key");
    assert_int_equal(mbx_gateway_start("127.0.0.1:0", &o, &g), -EINVAL);
    o.flags = 0x80;
    assert_int_equal(mbx_gateway_start("127.0.0.1:0", &o, &g), -EINVAL);
    o.flags = 0;
    o.tls_key = NULL;
    assert_int_equal(mbx_gateway_start("127.0.0.1:0", &o, &g), -EINVAL);
    o.tls_key = path("cli.key"); /* not the certificate's */
    assert_int_equal(mbx_gateway_start("127.0.0.1:0", &o, &g), -EINVAL);
    o.tls_key = path("srv.key");
    o.tls_cert = path("missing.pem");
    assert_int_equal(mbx_gateway_start("127.0.0.1:0", &o, &g), -ENOENT);
    o.tls_cert = NULL;
    o.tls_key = NULL;
    o.tls_client_ca = path("ca.pem"); /* client certificates need TLS */
    assert_int_equal(mbx_gateway_start("127.0.0.1:0", &o, &g), -EINVAL);
    /* A program built before the TLS fields: its smaller size is taken,
     * and what lies beyond it is not read. */
    mbx_gateway_options old;
    memset(&old, 0xff, sizeof(old));
    old.size = (uint32_t)offsetof(mbx_gateway_options, tls_cert);
    old.linger_ms = 1000;
    old.secret_file = secret_path;
    old.allow = allow;
    assert_int_equal(mbx_gateway_start("127.0.0.1:0", &old, &g), 0);
    mbx *box = test_box("tls-d", 8, 64, 0), *m;
    assert_int_equal(open_at("tcp", "127.0.0.1", mbx_gateway_port(g), "tls-d", &m), 0);
    round_trip(m, box);
    mbx_close(m);
    mbx_gateway_stop(g);
    old.size = 8;
    assert_int_equal(mbx_gateway_start("127.0.0.1:0", &old, &g), -EINVAL);
    /* A program built with fields after these: taken while they are 0,
     * refused when one is set (it asks for what this library cannot do). */
    struct {
        mbx_gateway_options o;
        uint64_t later;
    } newer;
    memset(&newer, 0, sizeof(newer));
    mbx_gateway_options_init(&newer.o);
    newer.o.size = sizeof(newer);
    newer.o.allow = allow;
    assert_int_equal(mbx_gateway_start("127.0.0.1:0", &newer.o, &g), 0);
    mbx_gateway_stop(g);
    newer.later = 1;
    assert_int_equal(mbx_gateway_start("127.0.0.1:0", &newer.o, &g), -EINVAL);
    mbx_close(box);
    mbx_unlink("tls-d");
}

/* An eavesdropper on the link (the proxy) sees the payloads of tcp:// in
 * the clear and not those of tls://. */
static void payloads_encrypted_on_the_link(void **state)
{
    (void)state;
    static const char secret_words[] = "the-eagle-lands-at-midnight-42";
    const size_t n = sizeof(secret_words) - 1;
    mbx *box = test_box("tls-e", 8, 64, 0);
    for (int tls = 0; tls < 2; tls++) {
        mbx_gateway *g = gateway(tls ? "srv.pem" : NULL, NULL, 0);
        struct tcp_proxy *p = proxy_start(mbx_gateway_port(g));
        assert_non_null(p);
        mbx *m;
        assert_int_equal(open_at(tls ? "tls" : "tcp", "127.0.0.1", proxy_port(p), "tls-e", &m), 0);
        char buf[64];
        assert_int_equal(mbx_send(m, secret_words, n, 0, 5000000000ll), 0);
        assert_int_equal(mbx_sync(m), 0);
        assert_int_equal(mbx_recv(box, buf, sizeof(buf), NULL, 0), (ssize_t)n);
        assert_int_equal(mbx_send(box, secret_words, n, 0, 0), 0);
        assert_int_equal(mbx_recv(m, buf, sizeof(buf), NULL, 5000000000ll), (ssize_t)n);
        assert_true(proxy_bytes(p) > 2 * n);
        /* Either way it crossed the proxy; only plain TCP shows it. */
        assert_int_equal(proxy_saw(p, secret_words, n), !tls);
        assert_int_equal(proxy_saw(p, "tls-e", 5), !tls); /* the name too */
        mbx_close(m);
        proxy_stop(p);
        mbx_gateway_stop(g);
    }
    mbx_close(box);
    mbx_unlink("tls-e");
}

/* Reaps child c if it ended: 1 (its wait status in *status), else 0. At
 * the deadline a child still running is killed (and fails the test). */
static int reaped(pid_t c, int *status, int64_t now, int64_t deadline)
{
    if (waitpid(c, status, WNOHANG) == c)
        return 1;
    if (now < deadline)
        return 0;
    kill(c, SIGKILL);
    assert_int_equal(waitpid(c, status, 0), c);
    return 1;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

#define CUT_MSG (128 * 1024)

/* A client process that left SIGPIPE at its default action (it did not
 * ask to ignore it) sends large messages over tls:// while the link is
 * cut about every 20 ms: it lives on. libssl's socket BIO wrote with
 * write(2), which raises SIGPIPE on a socket the peer has reset, and the
 * process was killed (plain TCP sends with MSG_NOSIGNAL). The child is
 * forked before this test starts a thread; the gateway and the proxy
 * that cuts run here. */
static void link_cut_kills_no_client(void **state)
{
    (void)state;
    static uint8_t big[CUT_MSG];
    memset(big, 'x', sizeof(big));
    int fds[2]; /* the proxy's port to the child, then its end: EOF */
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) { /* the client: sends until told, whatever each send says */
        signal(SIGPIPE, SIG_DFL);
        close(fds[1]);
        int port = 0;
        if (read(fds[0], &port, sizeof(port)) != sizeof(port))
            _exit(2);
        mbx *m;
        if (open_at("tls", "127.0.0.1", port, "tls-p", &m))
            _exit(3);
        for (struct pollfd f = {fds[0], POLLIN, 0}; poll(&f, 1, 0) == 0;)
            (void)mbx_send(m, big, sizeof(big), 0, 200000000ll);
        mbx_close(m);
        _exit(0);
    }
    close(fds[0]);
    mbx *box = test_box("tls-p", 8, CUT_MSG, 0);
    mbx_gateway *g = gateway("srv.pem", NULL, 0);
    struct tcp_proxy *p = proxy_start(mbx_gateway_port(g));
    assert_non_null(p);
    /* A slow link: the client's writes wait for room most of the time, so
     * a cut finds one inside a frame. */
    proxy_rate(p, 4u << 20);
    int port = proxy_port(p);
    assert_int_equal(write(fds[1], &port, sizeof(port)), sizeof(port));
    static uint8_t buf[CUT_MSG];
    /* Until the child ends (at most 90 s): takes what came, and cuts every
     * link about every 20 ms once the first message came (the child's
     * handle is open: a cut open fails, and the child with it); after 60
     * cuts of a live link (not every cut killed: only one that found a
     * write still to come on the dead socket), or 30 s, tells the child to
     * stop. */
    int status = 0, opened = 0, cuts = 0;
    int64_t t0 = now_ms();
    for (int64_t end = t0 + 90000; !reaped(c, &status, now_ms(), end);) {
        while (mbx_recv(box, buf, sizeof(buf), NULL, 0) > 0)
            opened = 1;
        usleep(20000);
        if (opened)
            cuts += proxy_cut(p) > 0;
        if (fds[1] >= 0 && (cuts >= 60 || now_ms() - t0 > 30000)) {
            close(fds[1]);
            fds[1] = -1;
        }
    }
    if (fds[1] >= 0)
        close(fds[1]);
    proxy_stop(p);
    mbx_gateway_stop(g);
    mbx_close(box);
    mbx_unlink("tls-p");
    if (WIFSIGNALED(status))
        print_message("client: killed by signal %d%s (%d cuts)\n", WTERMSIG(status),
                      WTERMSIG(status) == SIGPIPE ? ", SIGPIPE" : "", cuts);
    else if (WEXITSTATUS(status))
        print_message("client: exit %d\n", WEXITSTATUS(status));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(cuts > 0); /* the link was cut under it */
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(server_certificate_checked, before),
        cmocka_unit_test_setup(tls_and_plain_never_mix, before),
        cmocka_unit_test_setup(client_certificates, before),
        cmocka_unit_test_setup(gateway_options_rules, before),
        cmocka_unit_test_setup(payloads_encrypted_on_the_link, before),
        cmocka_unit_test_setup(link_cut_kills_no_client, before),
    };
    if (getenv("TEST_ONLY")) /* TEST_ONLY=link_cut_kills_no_client: that test alone */
        cmocka_set_test_filter(getenv("TEST_ONLY"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
