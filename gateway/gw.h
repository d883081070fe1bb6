/* SPDX-License-Identifier: MIT */
/*
 * gw.h: the runtime objects every layer above the sockets shares: the
 * gateway (struct sg_gw, one per process and loop) and its services
 * (struct sg_svc, one per [section]), with the per-service counters.
 * Data only: the functions that work on them live in service.c (life),
 * xport*.c (sockets), sip_proxy.c (SIP) and session.c (calls).
 */
#ifndef SIPSGATE_GATEWAY_GW_H
#define SIPSGATE_GATEWAY_GW_H

#include <uv.h>

#include "cfg.h"
#include "resolve.h"
#include "tls.h"
#include "token.h"
#include "xport.h"

struct sg_sessions;
struct sg_txns;
struct sg_xport_loop;		/* xport_int.h */
struct sg_proxy_loop;		/* sip_proxy.c */

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
	/* What the transport calls back (sg_xport_start). */
	const struct sg_xport_ops *ops;
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
	/* Per-loop state of the modules that run on this loop (scratch
	 * buffers, rate limits): allocated at the first service start. */
	struct sg_xport_loop *xport_loop;
	/* Connections that are not SIP (pairing, pair.c), or NULL. */
	const struct sg_xport_conn_ops *conn_ops;
	struct sg_proxy_loop *proxy_loop;
	/* A TLS connection accepted on a file descriptor at or above this
	 * is closed at once: the rest stays for inside SIP, media and the
	 * control socket (0: no limit). Set from RLIMIT_NOFILE. */
	int fd_watermark;
};

#endif /* SIPSGATE_GATEWAY_GW_H */
