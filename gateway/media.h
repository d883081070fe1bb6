/* SPDX-License-Identifier: MIT */
/*
 * media.h: the RTP/RTCP relay, the hot path (DESIGN §4, §5). A stream is
 * one m= line: two legs, inside (always plain RTP) and outside (SRTP when
 * the stream is secure). Packets are received in batches (recvmmsg),
 * protected or unprotected in place and sent on with uv_udp_try_send: no
 * allocation, no lock and no log line per packet. This module knows
 * nothing of SIP or SDP; session.c drives it from the control plane.
 */
#ifndef SIPSGATE_GATEWAY_MEDIA_H
#define SIPSGATE_GATEWAY_MEDIA_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include "log.h"
#include "sg.h"
#include "srtp.h"

#define SG_MEDIA_INSIDE 0
#define SG_MEDIA_OUTSIDE 1

/* Counters of one leg; read by the control socket. */
struct sg_media_leg_stats {
	uint64_t rx_pkts, rx_bytes;	/* received on this leg */
	uint64_t tx_pkts, tx_bytes;	/* sent from this leg */
	uint64_t rx_rtcp;
	uint64_t auth_fail;		/* SRTP/SRTCP authentication failed */
	uint64_t replay;		/* SRTP replays dropped */
	uint64_t tx_drop;		/* socket busy: dropped */
	uint64_t unlatched_drop;	/* from an address we did not latch */
	uint64_t plain_rtcp_drop;	/* plain RTCP not declared */
	uint64_t latched, relatched;
};

struct sg_media_stream;

/* One side of a stream: an RTP socket and (without rtcp-mux) RTCP. */
struct sg_media_leg {
	struct sg_media_stream *st;
	int side;			/* SG_MEDIA_INSIDE / _OUTSIDE */
	uv_udp_t rtp, rtcp;
	bool rtcp_open;
	uint16_t port;			/* local RTP port; RTCP is port + 1 */
	/* Where the peer is: from SDP first, then latched. */
	struct sockaddr_storage peer_rtp, peer_rtcp;
	bool has_peer;
	bool latched;			/* symmetric RTP: learned from traffic */
	bool rtcp_mux;			/* peer multiplexes RTCP (RFC 5761) */
	/* SRTP on the outside leg: rx unprotects, tx protects. */
	struct sg_srtp rx, tx;
	struct sg_srtp rx_prev;		/* the peer's previous key, re-keying */
	bool secure;			/* SRTP on this leg */
	bool plain_ok;			/* plain RTP allowed (inside, or policy) */
	bool plain_rtcp_ok;		/* peer declared UNENCRYPTED_SRTCP */
	struct sg_media_leg_stats st_;
	struct sg_ratelimit rl;
};

typedef void (*sg_media_event_cb)(struct sg_media_stream *st, int event);
#define SG_MEDIA_EV_CLOSED 1		/* all handles closed; may free */

struct sg_media_stream {
	struct sg_media *m;
	struct sg_media_leg leg[2];
	uint64_t last_rx_ms;		/* inactivity timeout */
	unsigned pending_closes;
	bool closing;
	void *owner;			/* session.c's */
	sg_media_event_cb cb;
};

/* Per service: addresses, the port pool, the shared receive buffer. */
struct sg_media {
	uv_loop_t *loop;
	struct sockaddr_storage addr[2];	/* bind address per side */
	uint16_t port_min, port_max;
	uint16_t next_port;
	unsigned nstreams;
	uint64_t streams_total;
	/* Totals of streams already closed, kept for the counters. */
	struct sg_media_leg_stats closed[2];
};

int sg_media_init(struct sg_media *m, uv_loop_t *loop,
		  const struct sockaddr_storage *inside,
		  const struct sockaddr_storage *outside, uint16_t port_min,
		  uint16_t port_max);
/* Open both legs (RTP and RTCP sockets on each side). */
int sg_media_stream_open(struct sg_media *m, struct sg_media_stream *st,
			 sg_media_event_cb cb, void *owner);
/* Close all handles; cb(SG_MEDIA_EV_CLOSED) fires when they are closed. */
void sg_media_stream_close(struct sg_media_stream *st);
/* Set where a leg sends until it latches (from SDP). */
void sg_media_leg_set_peer(struct sg_media_leg *leg,
			   const struct sockaddr_storage *rtp,
			   const struct sockaddr_storage *rtcp, bool mux);
/* Add one leg's counters to sum. */
void sg_media_stats_add(struct sg_media_leg_stats *sum,
			const struct sg_media_leg_stats *s);

#endif /* SIPSGATE_GATEWAY_MEDIA_H */
