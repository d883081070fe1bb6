/* SPDX-License-Identifier: MIT */
/*
 * media.c: the RTP <-> SRTP relay (RFC 3550, RFC 3711, RFC 5761). Per
 * packet it authenticates (SRTP in) before it latches (symmetric RTP),
 * protects in place (SRTP out) and sends with uv_udp_try_send: nothing is
 * allocated, locked, queued or logged per packet (rate-limited lines only).
 * It must never send plain RTP out of a secure leg.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "media.h"

/*
 * One receive buffer per loop: libuv calls alloc_cb and then recv_cb for
 * each datagram of a recvmmsg batch on the loop thread, so in-place work
 * on a chunk is safe. libuv cuts the buffer into 64 KiB chunks, one per
 * datagram, which leaves SRTP its trailer room.
 */
#define MEDIA_BATCH 16
#define MEDIA_CHUNK (64 * 1024)
static char media_rx_buf[MEDIA_BATCH * MEDIA_CHUNK]
    __attribute__((aligned(64)));

static void leg_on_close(uv_handle_t *h);

static bool sa_eq(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a;
		const struct sockaddr_in *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	{
		const struct sockaddr_in6 *x = (const void *)a;
		const struct sockaddr_in6 *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
}

static void sa_copy(struct sockaddr_storage *dst, const struct sockaddr *src)
{
	memcpy(dst, src, src->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
}

/* RFC 5761 §4: RTCP packet types 192-223 in the second byte. */
static inline bool is_rtcp_pt(const uint8_t *p, size_t n)
{
	return n >= 2 && p[1] >= 192 && p[1] <= 223;
}

/* RFC 3550 §5.1 version 2, and the minimum header. */
static inline bool is_rtp_like(const uint8_t *p, size_t n)
{
	return n >= 12 && (p[0] & 0xc0) == 0x80;
}

/*
 * The E flag of an SRTCP packet: before the tag in RFC 3711 §3.4 (AES-CM,
 * 80-bit SRTCP tag for every CM suite), at the very end in RFC 7714 §9.
 */
static inline bool srtcp_is_encrypted(const struct sg_srtp *rx,
				      const uint8_t *p, int len)
{
	bool aead = rx->suite == SG_SRTP_AEAD_AES_128_GCM ||
	    rx->suite == SG_SRTP_AEAD_AES_256_GCM;
	int off = aead ? len - 4 : len - 10 - 4;

	if (off < 8)
		return false;		/* no room for a trailer: plain RTCP */
	return (p[off] & 0x80) != 0;
}

static void media_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	(void)hint;
	buf->base = media_rx_buf;
	buf->len = sizeof(media_rx_buf);
}

/*
 * The hot path. A datagram arrived on one leg's RTP or RTCP socket: check
 * it, unprotect it if the leg is secure, latch, protect it if the other
 * leg is secure and send it on. Every drop is counted.
 */
static void leg_on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
			const struct sockaddr *from, unsigned flags)
{
	struct sg_media_leg *leg = h->data;
	struct sg_media_stream *st = leg->st;
	struct sg_media_leg *out;
	struct sockaddr_storage *peer, *dst;
	uint8_t *p = (uint8_t *)buf->base;
	uv_udp_t *sock;
	uv_buf_t b;
	bool rtcp;
	int len = (int)nread, rc, keep_len = 0;
	uint8_t keep[2048];

	if (nread <= 0 || from == NULL || st->closing)
		return;			/* nothing, or the end of a batch */
	if (flags & UV_UDP_PARTIAL || !is_rtp_like(p, (size_t)nread) ||
	    nread > (ssize_t)sizeof(keep)) {
		leg->st_.unlatched_drop++;
		return;
	}
	rtcp = h == &leg->rtcp || (leg->rtcp_mux && is_rtcp_pt(p, (size_t)len));
	leg->st_.rx_pkts++;
	leg->st_.rx_bytes += (uint64_t)len;
	if (rtcp)
		leg->st_.rx_rtcp++;
	if (!leg->secure && !leg->plain_ok) {
		leg->st_.unlatched_drop++;	/* not negotiated yet */
		return;
	}
	/* SRTP in: authenticate before anything else, latching included. */
	if (leg->secure) {
		if (rtcp && !srtcp_is_encrypted(&leg->rx, p, len) &&
		    !leg->plain_rtcp_ok) {
			/* RFC 4568 §6.3.2: E=0 only if UNENCRYPTED_SRTCP. */
			leg->st_.plain_rtcp_drop++;
			return;
		}
		if (leg->rx_prev.ctx) {
			/* Re-keying: the old key may still be in flight. */
			memcpy(keep, p, (size_t)len);
			keep_len = len;
		}
		rc = rtcp ? sg_srtp_unprotect_rtcp(&leg->rx, p, &len) :
		    sg_srtp_unprotect(&leg->rx, p, &len);
		if (rc == -EBADMSG && leg->rx_prev.ctx) {
			memcpy(p, keep, (size_t)keep_len);
			len = keep_len;
			rc = rtcp ? sg_srtp_unprotect_rtcp(&leg->rx_prev, p,
			    &len) : sg_srtp_unprotect(&leg->rx_prev, p, &len);
		}
		if (rc < 0) {
			if (rc == -EALREADY)
				leg->st_.replay++;
			else
				leg->st_.auth_fail++;
			log_ratelimited(&leg->rl, LOG_INFO, "media port %u: %s"
			    " %s dropped", leg->port, rtcp ? "SRTCP" : "SRTP",
			    rc == -EALREADY ? "replay" : "failed authentication");
			return;
		}
	}
	/* Symmetric RTP (RFC 4961): answer where the media comes from. */
	peer = rtcp && !leg->rtcp_mux ? &leg->peer_rtcp : &leg->peer_rtp;
	if (!rtcp && !leg->latched) {
		/* The first (authenticated) packet: traffic beats SDP from now. */
		leg->latched = true;
		leg->st_.latched++;
		if (!sa_eq(from, peer))
			sa_copy(peer, from);
		leg->has_peer = true;
	} else if (!sa_eq(from, peer)) {
		if (!rtcp)
			leg->st_.relatched++;
		sa_copy(peer, from);
		leg->has_peer = true;
	}
	st->last_rx_ms = uv_now(h->loop);

	out = &st->leg[!leg->side];
	/* Nothing plain leaves a leg that has not been agreed plain. */
	if (!out->has_peer || (!out->secure && !out->plain_ok)) {
		out->st_.tx_drop++;
		return;
	}
	if (out->secure) {
		rc = rtcp ? sg_srtp_protect_rtcp(&out->tx, p, &len) :
		    sg_srtp_protect(&out->tx, p, &len);
		if (rc < 0) {
			out->st_.tx_drop++;
			return;
		}
	}
	if (rtcp && !out->rtcp_mux) {
		sock = &out->rtcp;
		dst = &out->peer_rtcp;
	} else {
		sock = &out->rtp;
		dst = &out->peer_rtp;
	}
	b = uv_buf_init((char *)p, (unsigned)len);
	if (uv_udp_try_send(sock, &b, 1, (const struct sockaddr *)dst) < 0) {
		out->st_.tx_drop++;
		return;
	}
	out->st_.tx_pkts++;
	out->st_.tx_bytes += (uint64_t)len;
}

/* Control plane from here on. */

int sg_media_init(struct sg_media *m, uv_loop_t *loop,
		  const struct sockaddr_storage *inside,
		  const struct sockaddr_storage *outside, uint16_t port_min,
		  uint16_t port_max)
{
	memset(m, 0, sizeof(*m));
	m->loop = loop;
	m->addr[SG_MEDIA_INSIDE] = *inside;
	m->addr[SG_MEDIA_OUTSIDE] = *outside;
	m->port_min = (uint16_t)(port_min & ~1u);
	m->port_max = port_max;
	m->next_port = m->port_min;
	if (m->port_max < m->port_min + 3)
		return -EINVAL;
	return 0;
}

/*
 * Bind the RTP port p and the RTCP port p + 1 with plain sockets first:
 * probing the pool must not touch libuv handles, which cannot be reused
 * before their close callback has run.
 */
static int bind_pair(struct sg_media *m, int side, uint16_t p, int fd[2])
{
	struct sockaddr_storage a = m->addr[side];
	socklen_t alen = a.ss_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int i, rc;

	fd[0] = fd[1] = -1;
	for (i = 0; i < 2; i++) {
		uint16_t port = (uint16_t)(p + i);

		if (a.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&a)->sin6_port = htons(port);
		else
			((struct sockaddr_in *)&a)->sin_port = htons(port);
		fd[i] = socket(a.ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd[i] < 0 || bind(fd[i], (struct sockaddr *)&a, alen) < 0) {
			rc = -errno;
			if (fd[0] >= 0)
				close(fd[0]);
			if (fd[1] >= 0)
				close(fd[1]);
			fd[0] = fd[1] = -1;
			return rc;
		}
	}
	return 0;
}

/*
 * Wrap a bound socket in a libuv handle and start receiving. Takes fd in
 * every case. *inited says whether h now needs uv_close().
 */
static int udp_start(struct sg_media *m, uv_udp_t *h, int fd,
		     struct sg_media_leg *leg, bool *inited)
{
	int rc;

	*inited = false;
	/* AF_UNSPEC: no socket of its own; uv_udp_open() gives it ours. */
	rc = uv_udp_init_ex(m->loop, h, AF_UNSPEC | UV_UDP_RECVMMSG);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*inited = true;
	h->data = leg;
	leg->st->pending_closes++;	/* from now on it must be closed */
	if ((rc = uv_udp_open(h, fd)) < 0) {
		close(fd);
		return rc;
	}
	return uv_udp_recv_start(h, media_on_alloc, leg_on_recv);
}

/* Bind an even RTP port and the RTCP port above it, from the pool. */
static int leg_open(struct sg_media *m, struct sg_media_leg *leg)
{
	unsigned span = (unsigned)(m->port_max - m->port_min + 1) / 2, i;
	int fd[2], rc = UV_EADDRINUSE;
	bool inited;

	for (i = 0; i < span; i++) {
		uint16_t p = m->next_port;

		m->next_port = (uint16_t)(p + 2);
		if (m->next_port + 1 > m->port_max || m->next_port < p)
			m->next_port = m->port_min;
		rc = bind_pair(m, leg->side, p, fd);
		if (rc == UV_EADDRINUSE || rc == UV_EACCES)
			continue;	/* taken: the pool moves on */
		if (rc < 0)
			return rc;
		/* Handles made here are the leg's: closed with the stream. */
		rc = udp_start(m, &leg->rtp, fd[0], leg, &inited);
		if (inited)
			leg->port = p;
		if (rc < 0) {
			close(fd[1]);
			return rc;
		}
		rc = udp_start(m, &leg->rtcp, fd[1], leg, &inited);
		leg->rtcp_open = inited;
		return rc;
	}
	return rc;
}

int sg_media_stream_open(struct sg_media *m, struct sg_media_stream *st,
			 sg_media_event_cb cb, void *owner)
{
	int side, rc;

	memset(st, 0, sizeof(*st));
	st->m = m;
	st->cb = cb;
	st->owner = owner;
	st->last_rx_ms = uv_now(m->loop);
	for (side = 0; side < 2; side++) {
		st->leg[side].st = st;
		st->leg[side].side = side;
	}
	st->leg[SG_MEDIA_INSIDE].plain_ok = true;
	for (side = 0; side < 2; side++) {
		if ((rc = leg_open(m, &st->leg[side])) < 0) {
			if (rc == UV_EMFILE || rc == UV_ENFILE)
				log_warnx("media: cannot open sockets: %s (raise"
				    " the open files limit: LimitNOFILE=)",
				    uv_strerror(rc));
			else
				log_warnx("media: no free port pair in %u-%u: %s",
				    m->port_min, m->port_max, uv_strerror(rc));
			sg_media_stream_close(st);
			return rc;
		}
	}
	m->nstreams++;
	m->streams_total++;
	return 0;
}

/* Every handle is closed: free the SRTP contexts, tell the owner. */
static void stream_finish(struct sg_media_stream *st)
{
	int side;

	for (side = 0; side < 2; side++) {
		sg_srtp_close(&st->leg[side].rx);
		sg_srtp_close(&st->leg[side].rx_prev);
		sg_srtp_close(&st->leg[side].tx);
	}
	if (st->cb)
		st->cb(st, SG_MEDIA_EV_CLOSED);
}

static void leg_on_close(uv_handle_t *h)
{
	struct sg_media_leg *leg = h->data;
	struct sg_media_stream *st = leg->st;

	if (--st->pending_closes > 0 || !st->closing)
		return;
	stream_finish(st);
}

void sg_media_stream_close(struct sg_media_stream *st)
{
	int side;

	if (st->closing)
		return;
	st->closing = true;
	for (side = 0; side < 2; side++) {
		struct sg_media_leg *leg = &st->leg[side];

		sg_media_stats_add(&st->m->closed[side], &leg->st_);
		if (leg->port == 0)
			continue;	/* no handle was made */
		uv_close((uv_handle_t *)&leg->rtp, leg_on_close);
		if (leg->rtcp_open)
			uv_close((uv_handle_t *)&leg->rtcp, leg_on_close);
	}
	if (st->m->nstreams > 0 && st->leg[1].port != 0)
		st->m->nstreams--;
	if (st->pending_closes == 0)
		stream_finish(st);
}

void sg_media_leg_set_peer(struct sg_media_leg *leg,
			   const struct sockaddr_storage *rtp,
			   const struct sockaddr_storage *rtcp, bool mux)
{
	leg->rtcp_mux = mux;
	if (leg->latched)
		return;		/* traffic beats signalling (RFC 4961) */
	leg->peer_rtp = *rtp;
	leg->peer_rtcp = rtcp ? *rtcp : *rtp;
	leg->has_peer = true;
}

void sg_media_stats_add(struct sg_media_leg_stats *sum,
			const struct sg_media_leg_stats *s)
{
	sum->rx_pkts += s->rx_pkts;
	sum->rx_bytes += s->rx_bytes;
	sum->tx_pkts += s->tx_pkts;
	sum->tx_bytes += s->tx_bytes;
	sum->rx_rtcp += s->rx_rtcp;
	sum->auth_fail += s->auth_fail;
	sum->replay += s->replay;
	sum->tx_drop += s->tx_drop;
	sum->unlatched_drop += s->unlatched_drop;
	sum->plain_rtcp_drop += s->plain_rtcp_drop;
	sum->latched += s->latched;
	sum->relatched += s->relatched;
}
