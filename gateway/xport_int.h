/* SPDX-License-Identifier: MIT */
/*
 * xport_int.h: what the transport's files share and nothing else may use.
 * xport.c is the public face (start, stop, send, tick); xport_udp.c the UDP
 * sockets; xport_stream.c TCP/TLS connections (framing by Content-Length,
 * corking, keep-alives, the TLS listener's limits); xport_raw.c the byte
 * tunnel of protocol = raw; xport_hop.c the next hop (connect targets,
 * RFC 3263 resolution and failover, the persistent TLS link).
 */
#ifndef SIPSGATE_GATEWAY_XPORT_INT_H
#define SIPSGATE_GATEWAY_XPORT_INT_H

#include "gw.h"
#include "log.h"
#include "xport.h"

#define SG_LISTEN_BACKLOG 4096		/* see xport_stream.c */
#define SG_XPORT_SIP_BATCH 8		/* datagrams per recvmmsg */

/*
 * Per-loop state of the transport (one per libuv loop, gw->xport_loop):
 * one receive buffer, since libuv calls alloc_cb then read_cb (for UDP:
 * once per datagram of a recvmmsg batch, each in its own 64 KiB chunk) on
 * the loop thread, and every message is handled before the next; and one
 * token bucket per kind of event an attacker can repeat at will.
 */
struct sg_xport_loop {
	char rx_buf[SG_XPORT_SIP_BATCH * 65536] __attribute__((aligned(64)));
	struct sg_ratelimit rl_untrusted, rl_hs_fail, rl_hs_timeout, rl_idle,
	    rl_refused, rl_accept, rl_reneg;
};

static inline uint64_t sg_xport_now(const struct sg_svc *svc)
{
	return uv_now(svc->gw->loop);
}

static inline struct sg_xport_loop *sg_xport_loop(const struct sg_svc *svc)
{
	return svc->gw->xport_loop;
}

/* xport.c */
int sg_sock_open(struct sg_svc *svc, enum sg_xport_kind kind,
		 enum sg_side side, const struct sockaddr_storage *addr);

/* xport_udp.c */
int sg_udp_open(struct sg_sock *sk);	/* bind, receive */
struct sg_sock *sg_udp_sock_for(struct sg_svc *svc, int family);
int sg_udp_send(struct sg_svc *svc, const struct sockaddr *to,
		const char *p, size_t len);

/* xport_stream.c */
int sg_stream_listen(struct sg_sock *sk);
struct sg_conn *sg_conn_connect(struct sg_svc *svc, enum sg_side side,
				enum sg_xport_kind kind,
				const struct sockaddr *to);
/* Queue or write one whole message (counted); 0 or a negative code. */
int sg_conn_send(struct sg_conn *c, const char *buf, size_t len);
/* Write bytes now (through TLS outside); 0 or a negative code. */
int sg_conn_write(struct sg_conn *c, const char *p, size_t len);
void sg_conn_close(struct sg_conn *c, const char *why);
/* Read again after a pause (protocol = raw back-pressure). */
void sg_conn_resume(struct sg_conn *c);
/* Once a second: handshake deadlines; idle connections, keep-alives. */
void sg_stream_deadlines(struct sg_svc *svc, uint64_t now);
void sg_stream_tick(struct sg_svc *svc, uint64_t now);

/* xport_raw.c */
int sg_raw_pair(struct sg_conn *c);
void sg_raw_forward(struct sg_conn *c);
void sg_raw_ready(struct sg_conn *c);

/* xport_hop.c */
int sg_hop_start(struct sg_svc *svc);
void sg_hop_stop(struct sg_svc *svc);
void sg_hop_tick(struct sg_svc *svc, uint64_t now);
/* The link (svc->link) closed: fail over, back off. */
void sg_hop_link_closed(struct sg_svc *svc, struct sg_conn *c);
/* No connection toward d: open the link if d is the outside connect. */
struct sg_conn *sg_hop_link_for(struct sg_svc *svc, const struct sg_dest *d);
/* The local address the kernel would use toward dst. */
void sg_hop_route_source(const struct sockaddr_storage *dst, char *host,
			 size_t len);

#endif /* SIPSGATE_GATEWAY_XPORT_INT_H */
