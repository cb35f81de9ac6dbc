/* TLS contexts and handshakes for tcp:// links (tls.h). */
#include "tcp/tls.h"

#include "platform/platform.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* What a failure to load a file means to the caller. */
static int load_error(const char *path)
{
    ERR_clear_error();
    return access(path, R_OK) ? (errno == ENOENT ? -ENOENT : -EACCES) : -EINVAL;
}

/* Settings both sides share: TLS 1.3 only, no renegotiation or tickets to
 * arrive between frames, writes that may be partial and moved. */
static SSL_CTX *new_ctx(const SSL_METHOD *m, int *err)
{
    SSL_CTX *ctx = SSL_CTX_new(m);
    if (!ctx) {
        *err = -ENOMEM;
        return NULL;
    }
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)) {
        SSL_CTX_free(ctx);
        *err = -EINVAL;
        return NULL;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* A link cut without close_notify is a link cut (the frames say
     * whether anything was truncated), not a failure of TLS. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_num_tickets(ctx, 0);
    return ctx;
}

void *tls_server_ctx(const char *cert, const char *key, const char *client_ca, int *err)
{
    *err = -EINVAL;
    if (!cert || !key)
        return NULL;
    SSL_CTX *ctx = new_ctx(TLS_server_method(), err);
    if (!ctx)
        return NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        *err = load_error(cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        *err = load_error(key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        *err = -EINVAL;
        goto fail;
    }
    if (client_ca) {
        if (SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1) {
            *err = load_error(client_ca);
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    ERR_clear_error();
    *err = 0;
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

void *tls_client_ctx(int *err)
{
    SSL_CTX *ctx = new_ctx(TLS_client_method(), err);
    if (!ctx)
        return NULL;
    const char *ca = getenv("MBX_TLS_CA"), *cert = getenv("MBX_TLS_CERT"),
               *key = getenv("MBX_TLS_KEY");
    if (ca && *ca) {
        if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
            *err = load_error(ca);
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        *err = -EINVAL;
        goto fail;
    }
    if (cert && *cert) {
        const char *k = key && *key ? key : cert; /* a key in the same file */
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
            *err = load_error(cert);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, k, SSL_FILETYPE_PEM) != 1) {
            *err = load_error(k);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            *err = -EINVAL;
            goto fail;
        }
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    ERR_clear_error();
    *err = 0;
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

void tls_ctx_free(void *ctx)
{
    SSL_CTX_free(ctx);
}

int tls_peer_id(const struct io *io, uint8_t out[32])
{
    if (!io->ssl)
        return 0;
    X509 *cert = SSL_get1_peer_certificate(io->ssl);
    if (!cert)
        return 0;
    unsigned len = 0;
    int ok = X509_digest(cert, EVP_sha256(), out, &len) == 1 && len == 32;
    X509_free(cert);
    return ok;
}

void tls_end(struct io *io)
{
    if (io->ssl)
        SSL_free(io->ssl);
    io->ssl = NULL;
}

int tls_cut(unsigned long err)
{
    return ERR_GET_LIB(err) == ERR_LIB_SYS ||
           (ERR_GET_LIB(err) == ERR_LIB_SSL &&
            ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
}

/* Runs SSL_accept or SSL_connect to its end. */
static int handshake(struct io *io, int accept, int64_t deadline)
{
    for (;;) {
        ERR_clear_error();
        int k = accept ? SSL_accept(io->ssl) : SSL_connect(io->ssl);
        if (k == 1)
            return 0;
        int e = SSL_get_error(io->ssl, k);
        short want;
        if (e == SSL_ERROR_WANT_READ)
            want = POLLIN;
        else if (e == SSL_ERROR_WANT_WRITE)
            want = POLLOUT;
        else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN || tls_cut(ERR_peek_error()))
            return -EPIPE; /* the link went */
        else
            return -EACCES; /* a certificate refused, a version not spoken */
        int w = sock_wait(io->fd, want, deadline);
        if (w == 0)
            return -ETIMEDOUT;
        if (w < 0)
            return -EPIPE;
    }
}

/* libssl's socket BIO writes with write(2): on a link the peer has reset,
 * or that our side has shut down, that raises SIGPIPE, and a program that
 * did not ignore it (a client, or the host of an in-process gateway) is
 * killed. Plain TCP sends with MSG_NOSIGNAL; so does this BIO, the socket
 * BIO in all else (its ctrl keeps the descriptor, says the end of the
 * stream, and never closes it). */
static BIO_METHOD *nosig_method;

/* Says what the socket BIO says after a send or a recv that returned k:
 * try again (the socket would block, or a signal came), or, on 0 read,
 * the end of the stream (SSL_OP_IGNORE_UNEXPECTED_EOF asks BIO_eof). */
static int nosig_verdict(BIO *b, int k, int reading)
{
    BIO_clear_retry_flags(b);
    if (k <= 0) {
        if (BIO_sock_should_retry(k)) {
            if (reading)
                BIO_set_retry_read(b);
            else
                BIO_set_retry_write(b);
        } else if (k == 0 && reading) {
            BIO_set_flags(b, BIO_FLAGS_IN_EOF);
        }
    }
    return k;
}

static int nosig_write(BIO *b, const char *buf, int n)
{
    errno = 0;
    ssize_t k = send(BIO_get_fd(b, NULL), buf, n > 0 ? (size_t)n : 0, MSG_NOSIGNAL);
    return nosig_verdict(b, (int)k, 0);
}

static int nosig_read(BIO *b, char *buf, int n)
{
    if (!buf)
        return 0;
    errno = 0;
    ssize_t k = recv(BIO_get_fd(b, NULL), buf, n > 0 ? (size_t)n : 0, 0);
    return nosig_verdict(b, (int)k, 1);
}

static void nosig_init(void)
{
    const BIO_METHOD *sock = BIO_s_socket();
    int type = BIO_get_new_index();
    BIO_METHOD *m = type < 0 ? NULL
                             : BIO_meth_new(type | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                            "mbx socket, no SIGPIPE");
    if (m && BIO_meth_set_write(m, nosig_write) && BIO_meth_set_read(m, nosig_read) &&
        BIO_meth_set_puts(m, BIO_meth_get_puts(sock)) &&
        BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(sock)) &&
        BIO_meth_set_create(m, BIO_meth_get_create(sock)) &&
        BIO_meth_set_destroy(m, BIO_meth_get_destroy(sock)) &&
        BIO_meth_set_callback_ctrl(m, BIO_meth_get_callback_ctrl(sock))) {
        nosig_method = m;
        return;
    }
    BIO_meth_free(m);
}

/* io->ssl over io->fd through the BIO above (one for both ways, as
 * SSL_set_fd makes). Returns 0 or -ENOMEM; never falls back to the
 * socket BIO, which could kill the process. */
static int start(struct io *io, void *ctx)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, nosig_init);
    io->ssl = nosig_method ? SSL_new(ctx) : NULL;
    BIO *b = io->ssl ? BIO_new(nosig_method) : NULL;
    if (!b) {
        tls_end(io);
        return -ENOMEM;
    }
    BIO_set_fd(b, io->fd, BIO_NOCLOSE);
    SSL_set_bio(io->ssl, b, b); /* io->ssl owns b now */
    return 0;
}

int tls_accept(struct io *io, void *ctx, int64_t deadline)
{
    int r = start(io, ctx);
    if (!r)
        r = handshake(io, 1, deadline);
    if (r)
        tls_end(io);
    ERR_clear_error();
    return r;
}

int tls_connect(struct io *io, void *ctx, const char *host, int64_t deadline)
{
    int r = start(io, ctx);
    if (r)
        return r;
    /* The certificate must name what was dialled: an IP address among its
     * addresses, a host name among its names (and sent as SNI). */
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    X509_VERIFY_PARAM *vp = SSL_get0_param(io->ssl);
    if (is_ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1)
            r = -EINVAL;
    } else {
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set1_host(io->ssl, host) != 1 || SSL_set_tlsext_host_name(io->ssl, host) != 1)
            r = -EINVAL;
    }
    if (!r)
        r = handshake(io, 0, deadline);
    if (r)
        tls_end(io);
    ERR_clear_error();
    return r;
}
