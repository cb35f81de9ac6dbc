/* TLS contexts and handshakes for tcp:// links (tls.h). */
#include "tcp/tls.h"

#include "platform/platform.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
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

static int start(struct io *io, void *ctx)
{
    io->ssl = SSL_new(ctx);
    if (!io->ssl || SSL_set_fd(io->ssl, io->fd) != 1) {
        tls_end(io);
        return -ENOMEM;
    }
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
