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
	uint64_t unlatched_drop;	/* not RTP, or the leg is not agreed */
	uint64_t foreign_drop;		/* plain leg: not from the peer's address */
	uint64_t plain_rtcp_drop;	/* plain RTCP not declared */
	uint64_t latched, relatched;
};

/*
 * Whom a plain leg takes packets from (media-latch; docs/media.md). Plain
 * RTP has no authentication, so the source address is all there is:
 *  STRICT  the IP the peer's SDP named; the port of the first packet from
 *          that IP (the SDP port, or another where the phone sends from
 *          elsewhere), then that IP and port only;
 *  SDP_IP  the IP the peer's SDP named, from any port; replies go to the
 *          port of the latest packet;
 *  FIRST   the source of the first packet, whatever the SDP said, then that
 *          IP and port only.
 * None ever moves to another IP; only new SDP from the peer's signalling
 * (a re-INVITE naming another address) starts over. SRTP legs latch to
 * the source of authenticated packets instead.
 */
enum sg_media_latch {
	SG_MEDIA_LATCH_STRICT,
	SG_MEDIA_LATCH_SDP_IP,
	SG_MEDIA_LATCH_FIRST,
};

struct sg_media_stream;

/* One side of a stream: an RTP socket and (without rtcp-mux) RTCP. */
struct sg_media_leg {
	struct sg_media_stream *st;
	int side;			/* SG_MEDIA_INSIDE / _OUTSIDE */
	uv_udp_t rtp, rtcp;
	uint16_t port;			/* local RTP port; RTCP is port + 1 */
	/* Where the peer is: from SDP first, then latched. */
	struct sockaddr_storage peer_rtp, peer_rtcp;
	bool has_peer;
	bool latched;			/* RTP source learnt from traffic */
	bool rtcp_latched;		/* RTCP source (own socket) learnt */
	bool rtcp_mux;			/* peer multiplexes RTCP (RFC 5761) */
	/* What the peer's SDP named: plain legs accept only this. */
	enum sg_media_latch latch;
	bool has_sdp;
	struct sockaddr_storage sdp_rtp, sdp_rtcp;
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
#define SG_MEDIA_EV_CLOSED 1		/* all handles closed; st is freed next */

/* A stream: owned by media.c (allocated by sg_media_stream_new). */
struct sg_media_stream {
	struct sg_media *m;
	struct sg_media_leg leg[2];
	uint64_t last_rx_ms;		/* inactivity timeout */
	unsigned pending_closes;
	bool closing;
	bool failed;			/* open failed: free quietly */
	void *owner;			/* session.c's */
	sg_media_event_cb cb;
};

/* Random bytes for the port draw (session.c: GnuTLS's nonce RNG). */
typedef int (*sg_media_rnd_fn)(void *buf, size_t len);

/* Per service: addresses, the port pool, foreign sources. */
struct sg_media {
	uv_loop_t *loop;
	struct sockaddr_storage addr[2];	/* bind address per side */
	uint16_t port_min, port_max;
	sg_media_rnd_fn rnd;
	unsigned nstreams;
	uint64_t streams_total;
	/* Totals of streams already closed, kept for the counters. */
	struct sg_media_leg_stats closed[2];
	/*
	 * Packets plain legs refused (not from the peer's address): the hot
	 * path only counts and keeps the last one; session.c logs a summary
	 * once a second and `sipsgate status` shows it.
	 */
	uint64_t foreign_total, foreign_logged;
	struct sockaddr_storage foreign_from;	/* the last one's source */
	struct sockaddr_storage foreign_want;	/* what that leg expected */
	bool foreign_has_want;			/* (no SDP address yet) */
	enum sg_media_latch foreign_latch;
	uint16_t foreign_port;			/* our port it was sent to */
	int foreign_side;
	uint64_t foreign_ms;			/* loop time; 0: none yet */
};

int sg_media_init(struct sg_media *m, uv_loop_t *loop,
		  const struct sockaddr_storage *inside,
		  const struct sockaddr_storage *outside, uint16_t port_min,
		  uint16_t port_max, sg_media_rnd_fn rnd);
/*
 * Open a stream: an RTP and an RTCP socket on each side, on port pairs
 * drawn at random from the pool. On success *out is open and owned by the
 * caller until sg_media_stream_close(). On failure a negative code is
 * returned, nothing is left open and cb is never called.
 */
int sg_media_stream_new(struct sg_media *m, enum sg_media_latch inside_latch,
			sg_media_event_cb cb, void *owner,
			struct sg_media_stream **out);
/*
 * Close all handles. cb(SG_MEDIA_EV_CLOSED) fires from the loop once they
 * are closed; the stream is freed when cb returns.
 */
void sg_media_stream_close(struct sg_media_stream *st);
/*
 * What the peer's SDP names for a leg (where to send, and for a plain leg
 * whom to accept). A plain leg whose SDP address changes starts over.
 */
void sg_media_leg_set_peer(struct sg_media_leg *leg,
			   const struct sockaddr_storage *rtp,
			   const struct sockaddr_storage *rtcp, bool mux);
/* Add one leg's counters to sum. */
void sg_media_stats_add(struct sg_media_leg_stats *sum,
			const struct sg_media_leg_stats *s);

#endif /* SIPSGATE_GATEWAY_MEDIA_H */
