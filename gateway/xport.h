/* SPDX-License-Identifier: MIT */
/*
 * xport.h: a service's sockets at run time (xport.c and its xport_*.c).
 * Inside: plain UDP sockets and TCP listeners/connections; outside: TLS
 * listeners and connections.
 * Stream framing by Content-Length and CRLF keep-alives (RFC 5626 §4.4.1)
 * live here, so the proxy sees whole messages only. Nothing plain is ever
 * written on the outside: every outside connection is TLS.
 */
#ifndef SIPSGATE_GATEWAY_XPORT_H
#define SIPSGATE_GATEWAY_XPORT_H

#include <gnutls/gnutls.h>
#include <uv.h>

#include "addr.h"
#include "cfg.h"
#include "tls.h"

struct sg_gw;
struct sg_svc;

struct sg_buf {
	char *p;
	size_t len, cap;
};

/* One message waiting for a connection to finish its handshake. */
struct sg_pending {
	struct sg_pending *next;
	size_t len;
	char data[];
};

/* A stream connection: inside TCP or outside TLS. Owned by its service. */
struct sg_conn {
	struct sg_conn *next, *prev;	/* svc->conns */
	struct sg_svc *svc;
	uv_tcp_t tcp;
	uint64_t id;
	enum sg_xport_kind kind;	/* SG_XPORT_TCP or SG_XPORT_TLS */
	enum sg_side side;
	bool outbound;			/* we connected */
	bool connected;			/* TCP up */
	bool ready;			/* TCP up and TLS handshake done */
	bool closing;
	bool is_connect_target;		/* the service's persistent link */
	bool resume_saved;		/* client: session kept for resumption */
	bool corked;			/* TLS writes held until the flush */
	struct sg_conn *next_dirty;	/* gw->dirty */
	/* protocol = raw: bytes go to the partner connection (stunnel). */
	bool raw;
	bool paused;			/* reading stopped: partner is full */
	bool close_when_drained;	/* partner gone: close after writes */
	struct sg_conn *partner;
	struct sockaddr_storage peer;
	struct sockaddr_storage local;
	struct sockaddr_storage alias;	/* RFC 5923 alias from Via, or 0 */
	gnutls_session_t tls;
	struct sg_tls_peer tlsp;
	struct sg_tls_info info;
	struct sg_buf cin;		/* ciphertext not yet read by GnuTLS */
	size_t cin_off;
	struct sg_buf in;		/* plaintext not yet framed */
	struct sg_pending *pending, **pending_tail;
	size_t pending_bytes;
	uint64_t last_rx_ms;
	uint64_t hs_deadline_ms;	/* TLS: closed if not ready by then */
	struct sg_conn *hs_next, *hs_prev;	/* svc->hs_list */
	bool in_hs_list;		/* accepted, handshake not done */
	bool got_bytes;			/* anything received at all */
	bool peer_closed;		/* EOF, reset, close_notify or alert */
	bool probed;			/* idle: one CRLF ping sent */
	uint64_t ping_ms;		/* CRLF ping sent, no pong yet (or 0) */
	bool pongs;			/* the peer answered a ping once */
	uv_connect_t connect_req;
	struct sg_pair_conn *pair;	/* a pairing session (pair.c), or NULL */
};

/* A listening or sending socket of a service. */
struct sg_sock {
	struct sg_svc *svc;
	enum sg_xport_kind kind;
	enum sg_side side;
	union {
		uv_udp_t udp;
		uv_tcp_t tcp;
	} h;
	struct sockaddr_storage addr;	/* bound address */
};

/* Where a message came from, for the proxy. */
struct sg_src {
	enum sg_side side;
	enum sg_xport_kind kind;
	struct sockaddr_storage addr;	/* remote address */
	struct sg_sock *sock;		/* UDP: the receiving socket */
	struct sg_conn *conn;		/* TCP/TLS: the connection */
};

/* Where to send: a transport and address, and optionally a connection. */
struct sg_dest {
	enum sg_side side;
	enum sg_xport_kind kind;
	struct sockaddr_storage addr;
	struct sg_conn *conn;		/* use this one if still open */
	bool no_connect;		/* only an existing connection */
};

/*
 * Hooks for connections that are not SIP (pairing sessions, pair.c),
 * registered on the gateway (gw->conn_ops): prepare sets up an accepted
 * TLS server session (0 or a negative code: the connection closes);
 * is_special says after the handshake whether c is such a connection,
 * ready hands it over; data gets what arrived in c->in; free releases
 * its state when c is freed.
 */
struct sg_xport_conn_ops {
	int (*prepare)(struct sg_conn *c);
	bool (*is_special)(const struct sg_conn *c);
	void (*ready)(struct sg_conn *c);
	void (*data)(struct sg_conn *c);
	void (*free)(struct sg_conn *c);
};

/*
 * What the transport calls, registered at start (libuv style): it knows
 * nothing of SIP above it. on_msg gets one whole SIP message (buf is
 * writable scratch the callee may use until it returns); on_send_fail a
 * queued message that could not be sent; egress_check, when set, sees
 * every message before it is written and vetoes it with a negative code
 * (returned by sg_xport_send, nothing sent).
 */
struct sg_xport_ops {
	void (*on_msg)(struct sg_svc *svc, const struct sg_src *src,
		       char *buf, size_t len);
	void (*on_send_fail)(struct sg_svc *svc, const char *buf, size_t len);
	int (*egress_check)(struct sg_svc *svc, enum sg_side to,
			    const char *buf, size_t len);
};

/* Bind, listen, connect; ops (not copied) serve the service's life. */
int sg_xport_start(struct sg_svc *svc, const struct sg_xport_ops *ops);
void sg_xport_stop(struct sg_svc *svc);
/* Send one whole message; copies buf. Returns 0 or a negative code. */
int sg_xport_send(struct sg_svc *svc, const struct sg_dest *d,
		  const char *buf, size_t len);
/* Free the loop state sg_xport_start() allocated (after the loop). */
void sg_xport_loop_free(struct sg_gw *gw);
/* Write what connections hold corked (the loop's check phase). */
void sg_xport_flush(struct sg_gw *gw);
/* Once a second: keep-alives, idle checks and reconnects. */
void sg_xport_tick(struct sg_svc *svc, uint64_t now_ms);
/* Find a ready connection to addr (by peer or alias) on a side. */
struct sg_conn *sg_xport_find_conn(struct sg_svc *svc, enum sg_side side,
				   const struct sockaddr *addr);
/* The ready TLS connection on a side whose peer proved this identity
 * (the first SG_TOKEN_ID_LEN bytes of its SPKI hash) and heard from last. */
struct sg_conn *sg_xport_find_conn_peer_id(struct sg_svc *svc,
					   enum sg_side side,
					   const uint8_t *id);
/* The open connection with this id, or NULL. */
struct sg_conn *sg_xport_find_conn_id(struct sg_svc *svc, uint64_t id);
/* Is conn still open (pointer compared against the live list)? */
bool sg_xport_conn_is_live(struct sg_svc *svc, const struct sg_conn *conn);
/* Write bytes on a ready connection (through TLS outside); close it. */
int sg_xport_conn_write(struct sg_conn *c, const char *p, size_t len);
void sg_xport_conn_close(struct sg_conn *c, const char *why);

#endif /* SIPSGATE_GATEWAY_XPORT_H */
