/* SPDX-License-Identifier: MIT */
/*
 * tls.h: GnuTLS credentials and sessions for a service's outside side.
 * Loads and checks certificate, key, CA, CRL and pins; applies the verify
 * matrix of DESIGN §6 inside the handshake. Errors from GnuTLS are logged
 * here with gnutls_strerror() and returned as negative errno codes.
 */
#ifndef SIPSGATE_GATEWAY_TLS_H
#define SIPSGATE_GATEWAY_TLS_H

#include <gnutls/gnutls.h>
#include <stdio.h>

#include "cfg.h"

struct sg_tls_ctx {
	const struct sg_cfg_service *cfg;
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	gnutls_datum_t ticket_key;	/* server-side session tickets */
	gnutls_datum_t resume;		/* last client session, for resumption */
	char verify_name[256];		/* name the server must carry */
	unsigned refs;			/* the service + each TLS connection */
};

/* What a finished handshake was: for logs and `sipsgate status`. */
struct sg_tls_info {
	char version[16];
	char suite[96];
	char peer_subject[256];
	bool resumed;
	/* The peer's identity: SHA-256 of its certificate's public key
	 * (SPKI), which the handshake proved it holds. */
	bool has_peer_id;
	uint8_t peer_id[32];
};

/*
 * Load and check the service's credentials. Problems (key readable by
 * others, certificate expired or not yet valid, unreadable files) are
 * written to errf with the fix; returns 0 or a negative errno code, and
 * *out is then a new context (sg_tls_ctx_free releases it).
 */
int sg_tls_ctx_new(const struct sg_cfg_service *cfg, FILE *errf,
		   struct sg_tls_ctx **out);
void sg_tls_ctx_free(struct sg_tls_ctx *ctx);	/* = sg_tls_ctx_put */
/* A connection holds the context its session was made from, so that a
 * reload can install new credentials while old sessions go on. */
struct sg_tls_ctx *sg_tls_ctx_get(struct sg_tls_ctx *ctx);
void sg_tls_ctx_put(struct sg_tls_ctx *ctx);
/*
 * Per-connection verification state, embedded in the connection: the
 * session's user pointer points at it (container_of finds the owner).
 */
struct sg_tls_sniff {		/* record parser, see sg_tls_sniff() */
	uint8_t hdr[5], alert[2];
	unsigned hdr_got, alert_got;
	bool is_alert;
	size_t left;
};

/*
 * The byte transport under a session (xport_stream.c), libuv-agnostic:
 * push writes or queues all of len (0, or a negative errno code: the
 * session then fails); pull copies up to len bytes already received (a
 * count, 0 at the end of the stream, or -EAGAIN when none is buffered);
 * pending says whether pull has bytes now.
 */
struct sg_tls_io {
	int (*push)(void *arg, const void *p, size_t len);
	ssize_t (*pull)(void *arg, void *dst, size_t len);
	bool (*pending)(void *arg);
};

struct sg_tls_peer {
	struct sg_tls_ctx *ctx;
	const struct sg_tls_io *io;	/* the transport, and its argument */
	void *io_arg;
	gnutls_session_t session;	/* the session this is the peer of */
	size_t pulled;			/* bytes the session took from io */
	bool server;
	int alert_rx;		/* plaintext alert the peer sent, or -1 */
	int alert_tx;		/* alert our verification chose, or -1 */
	struct sg_tls_sniff sniff;
	char fail[512];		/* why verification failed, for the log */
};

/* Feed the bytes the peer sent before the handshake ended. */
void sg_tls_sniff(struct sg_tls_peer *peer, const void *buf, size_t n);

/* A new session with peer as its user pointer. */
int sg_tls_session_new(struct sg_tls_ctx *ctx, bool server,
		       struct sg_tls_peer *peer, gnutls_session_t *out);
/*
 * A handshake failed with GnuTLS code r: write why into why[len] (the
 * alert the peer sent, by name and number, or our verification's reason)
 * and send the peer the alert that fits (RFC 8446 §6.2, RFC 5246 §7.2.2):
 * certificate_required (TLS 1.3) or handshake_failure (TLS 1.2) for a
 * missing client certificate, unknown_ca, certificate_expired, ... for a
 * certificate that does not verify; none when the peer sent one.
 */
void sg_tls_handshake_failed(gnutls_session_t s, struct sg_tls_peer *peer,
			     int r, char *why, size_t len);
/* The RFC name of alert d ("unknown_ca"), in buf. */
const char *sg_tls_alert_name(int d, char *buf, size_t len);
/* Fill info from an established session. */
void sg_tls_session_info(gnutls_session_t s, struct sg_tls_info *info);
/* Remember a client session for resumption on the next connection. */
void sg_tls_save_resume(struct sg_tls_ctx *ctx, gnutls_session_t s);
/*
 * Session I/O. GnuTLS codes stay in tls.c: every call returns 0 or a byte
 * count, or a negative errno code.
 */
/* Put session s on the transport io (arg is passed back to it). */
void sg_tls_session_set_io(gnutls_session_t s, struct sg_tls_peer *peer,
			   const struct sg_tls_io *io, void *arg);
void sg_tls_session_free(gnutls_session_t s);	/* NULL: nothing */
/*
 * Drive the handshake with what the transport holds: 0 when done,
 * -EAGAIN when it waits for the peer, else it failed: why[len] says why
 * (sg_tls_handshake_failed() ran: the fitting alert was sent), and the
 * code is -ECONNRESET when the peer ended it with an alert, else -EPROTO.
 */
int sg_tls_handshake(gnutls_session_t s, struct sg_tls_peer *peer, char *why,
		     size_t len);
/*
 * Read application data: a count > 0; 0 when the peer closed
 * (close_notify); -EAGAIN when nothing more is buffered; -EINTR for a
 * non-fatal condition (call again); -EPERM when the peer asked for a
 * renegotiation (no_renegotiation was sent); -ECONNABORTED when the peer
 * sent a fatal alert, -ECONNRESET for any other fatal error, with why.
 */
ssize_t sg_tls_recv(gnutls_session_t s, void *buf, size_t len, char *why,
		    size_t whylen);
/* Write all of p (0, or -EPROTO: the session is broken). */
int sg_tls_send(gnutls_session_t s, const void *p, size_t len);
/* Hold records until sg_tls_uncork(), which writes them (0 or -EPROTO). */
void sg_tls_cork(gnutls_session_t s);
int sg_tls_uncork(gnutls_session_t s);
/* Send close_notify (our side of the stream is done). */
void sg_tls_bye(gnutls_session_t s);
/* Is the negotiated version TLS 1.3 or later? */
bool sg_tls_is_tls13(gnutls_session_t s);
/* Has the server sent a session ticket (TLS 1.3, after the handshake)? */
bool sg_tls_has_ticket(gnutls_session_t s);
/*
 * Call add() with each DNS name of the context's own certificate: every
 * SAN dNSName, then the CN. Names are not NUL-terminated.
 */
void sg_tls_ctx_own_names(const struct sg_tls_ctx *ctx,
			  void (*add)(void *arg, const char *name, size_t len),
			  void *arg);
/* Check one key file's permissions and a certificate's dates. */
int sg_tls_check_key_file(const char *path, FILE *errf);
int sg_tls_check_cert_file(const char *path, FILE *errf);

#endif /* SIPSGATE_GATEWAY_TLS_H */
