/* TLS 1.3 for tcp:// links (OpenSSL's libssl): the contexts of a gateway
 * and of a client, and the handshakes over a connected non-blocking
 * socket. The frames that follow go through struct io (sock.h).
 *
 * A gateway has a certificate and its key, and optionally the CA that
 * every client's certificate must chain to (mutual TLS). A client trusts
 * $MBX_TLS_CA (a PEM file), else the system's store, checks that the
 * gateway's certificate names the host it dialled (DNS name or IP
 * address), and shows $MBX_TLS_CERT / $MBX_TLS_KEY when set. Nothing
 * older than TLS 1.3 is spoken. */
#ifndef MBX_TCP_TLS_H
#define MBX_TCP_TLS_H

#include "tcp/sock.h"

#include <stdint.h>

/* A gateway's context. client_ca NULL: clients show no certificate; else
 * each must show one that chains to a CA of that file. Returns the
 * context (an SSL_CTX) or NULL with *err: -ENOENT (a file missing),
 * -EINVAL (not PEM, or the key does not match the certificate), -ENOMEM. */
void *tls_server_ctx(const char *cert, const char *key, const char *client_ca, int *err);

/* A client's context from the environment (above). Returns it or NULL
 * with *err as tls_server_ctx. */
void *tls_client_ctx(int *err);

/* Frees a context; NULL is fine. */
void tls_ctx_free(void *ctx);

/* The handshakes, before the deadline (absolute, CLOCK_MONOTONIC ns). On
 * success io->ssl is set. Return 0, -ETIMEDOUT, -EPIPE (the link went),
 * or -EACCES (the peer's certificate was refused, or it refused ours, or
 * it does not speak TLS 1.3). tls_connect checks the certificate against
 * host. */
int tls_accept(struct io *io, void *ctx, int64_t deadline);
int tls_connect(struct io *io, void *ctx, const char *host, int64_t deadline);

/* Whether a libssl error (ERR_peek_error) is the link going (a reset, an
 * end of stream), not TLS refusing anything. */
int tls_cut(unsigned long err);

/* The SHA-256 of the certificate the peer of io showed (a client, to a
 * gateway that asked for one), in out. Returns 1, or 0 when there is none
 * (plain TCP, no certificate shown). */
int tls_peer_id(const struct io *io, uint8_t out[32]);

/* Frees io's TLS state (not its socket). */
void tls_end(struct io *io);

#endif
