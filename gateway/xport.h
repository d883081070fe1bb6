/* SPDX-License-Identifier: MIT */
/*
 * xport.h: a service's sockets at run time. Inside: plain UDP sockets and
 * TCP listeners/connections; outside: TLS listeners and connections.
 * Stream framing by Content-Length and CRLF keep-alives (RFC 5626 §4.4.1)
 * live here, so the proxy sees whole messages only. Nothing plain is ever
 * written on the outside: every outside connection is TLS.
 */
#ifndef SIPSGATE_GATEWAY_XPORT_H
#define SIPSGATE_GATEWAY_XPORT_H

#include <gnutls/gnutls.h>
#include <uv.h>

#include "cfg.h"
#include "tls.h"
#include "resolve.h"
#include "token.h"

struct sg_gw;
struct sg_svc;
struct sg_sessions;
struct sg_txns;

/* A counter visitor: for `sipsgate status` and Prometheus alike. */
typedef void (*sg_counter_fn)(void *arg, const char *name, const char *help,
			      bool gauge, uint64_t value);

/* Counters an operator knows from CUBE's connection table, per service. */
struct sg_svc_stats {
	uint64_t tls_active;		/* established TLS connections now */
	uint64_t tcp_active;		/* inside TCP connections now */
	uint64_t tls_accepted;
	uint64_t tls_connected;
	uint64_t hs_fail_server;	/* handshakes we accepted that failed */
	uint64_t hs_fail_client;	/* handshakes we started that failed */
	uint64_t conn_fail;		/* connects that failed */
	uint64_t remote_close;		/* peer closed */
	uint64_t send_fail;
	uint64_t msg_in, msg_out;
	uint64_t parse_err;		/* malformed messages */
	uint64_t untrusted_drop;	/* inside sources not in `trusted` */
	uint64_t token_bad;		/* forged or stale flow tokens */
	uint64_t loops;			/* 482 */
	uint64_t too_many_hops;		/* 483 */
	uint64_t local_replies;		/* errors we answered ourselves */
	uint64_t tls_resumed;
	uint64_t keepalive_pongs;
	uint64_t keepalive_timeouts;	/* pong missing: flow closed */
	uint64_t own_socket_refused;	/* next hop was one of our sockets */
	uint64_t raw_bytes_in;		/* protocol = raw: bytes forwarded */
	uint64_t raw_bytes_out;		/* (in: inside -> outside) */
	/* The TLS listener's limits (docs/tls.md, "Limits"). */
	uint64_t tls_handshaking;	/* accepted, in handshake now */
	uint64_t tls_hs_timeout;	/* closed: tls-handshake-timeout */
	uint64_t tls_idle_close;	/* closed: tls-idle-timeout */
	uint64_t tls_refused_source;	/* closed at once: per-source cap */
	uint64_t tls_refused_total;	/* closed at once: total cap */
	uint64_t tls_refused_fd;	/* closed at once: fd reserve */
	uint64_t tls_reneg_refused;	/* client-initiated renegotiation */
	uint64_t accept_fail;		/* accept() failed (EMFILE, ...) */
	uint64_t keepalive_probes;	/* CRLF pings sent to idle clients */
};

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

#define SG_SVC_MAX_SOCKS (SG_CFG_MAX_ENDPOINTS + 1)

/* The runtime of one [service]. Owned by the gateway. */
struct sg_svc {
	struct sg_gw *gw;
	const struct sg_cfg_service *cfg;
	struct sg_tls_ctx *tls;
	unsigned nsocks;
	struct sg_sock socks[SG_SVC_MAX_SOCKS];
	struct sg_conn *conns;
	struct sg_conn *hs_list;	/* accepted TLS, handshake not done */
	/* Next hop per side (the `connect` keys), resolved at start. */
	bool has_connect[2];
	enum sg_xport_kind connect_kind[2];
	struct sockaddr_storage connect_addr[2];
	struct sg_conn *link;		/* persistent TLS connect target */
	/* A connect by name: RFC 3263 targets, tried in order (failover). */
	struct sg_connect_name {
		struct sg_svc *svc;
		int side;
		bool by_name;
		bool resolving;
		uint64_t retry_ms;	/* resolve again from then on */
		unsigned n, cur;
		struct sg_target t[SG_RESOLVE_MAX_TARGETS];
	} cname[2];
	unsigned link_backoff_s;
	uint64_t link_next_try_ms;
	/* What we write into Via / Record-Route / Contact, per side. */
	char adv_host[2][256];
	uint16_t adv_port[2];		/* 0: the connection's own port */
	enum sg_xport_kind inside_kind;	/* udp unless only tcp accepts */
	/* Names this service is known by besides its addresses: the DNS
	 * names in its certificate (route.c, loaded on first use). */
	bool self_loaded;
	unsigned nself_names;
	char self_names[8][256];
	struct sg_sessions *sess;	/* calls and media (session.c) */
	struct sg_txns *txn;		/* transactions on UDP legs (txn.c) */
	struct sg_svc_stats st;
	/* Sockets and connections closed whose close callback is still due:
	 * a stopped service is freed only at 0 (service.c sweep). */
	unsigned handles_closing;
};

/* The whole daemon: main loop state shared by services. */
struct sg_gw {
	uv_loop_t *loop;
	struct sg_cfg *cfg;		/* the configuration in force */
	unsigned nsvc;
	struct sg_svc **svc;		/* the running services */
	/* Stopped services still referenced by closing handles or calls;
	 * freed by sg_gw_sweep() once nothing is left. Replaced
	 * configurations are reference counted (sg_cfg_hold). */
	unsigned nretired;
	struct sg_svc **retired;
	struct sg_token_key token_key;
	uv_timer_t tick;		/* 1 s: keep-alives, reconnects */
	uint64_t started_ms;
	struct sg_resolver *resolver;	/* c-ares on the loop (RFC 3263) */
	uv_check_t flush;		/* writes out corked connections */
	bool flush_ready;
	struct sg_conn *dirty;		/* corked since the last flush */
	uint64_t next_conn_id;
	/* A TLS connection accepted on a file descriptor at or above this
	 * is closed at once: the rest stays for inside SIP, media and the
	 * control socket (0: no limit). Set from RLIMIT_NOFILE. */
	int fd_watermark;
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

int sg_xport_start(struct sg_svc *svc);		/* bind, listen, connect */
void sg_xport_stop(struct sg_svc *svc);
/* Send one whole message; copies buf. Returns 0 or a negative code. */
int sg_xport_send(struct sg_svc *svc, const struct sg_dest *d,
		  const char *buf, size_t len);
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

/* Address helpers. */
int sg_addr_parse(const char *host, uint16_t port,
		  struct sockaddr_storage *out);
bool sg_addr_eq(const struct sockaddr *a, const struct sockaddr *b);
const char *sg_addr_str(const struct sockaddr *a, char *buf, size_t len);
uint16_t sg_addr_port(const struct sockaddr *a);
/* Host part only ("198.18.1.1" or "2001:db8::1", no brackets). */
const char *sg_addr_host(const struct sockaddr *a, char *buf, size_t len);

/* Implemented by the proxy: one whole SIP message arrived. buf is
 * writable scratch that the callee may use until it returns. */
void sg_proxy_on_msg(struct sg_svc *svc, const struct sg_src *src,
		     char *buf, size_t len);
/* Implemented by the proxy: a queued message could not be sent. */
void sg_proxy_on_send_fail(struct sg_svc *svc, const char *buf, size_t len);

#endif /* SIPSGATE_GATEWAY_XPORT_H */
