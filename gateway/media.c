/* SPDX-License-Identifier: MIT */
/*
 * media.c: the RTP <-> SRTP relay (RFC 3550, RFC 3711, RFC 5761). Per
 * packet it authenticates (SRTP in) or checks the source against the
 * peer's SDP address (plain RTP in) before it latches (symmetric RTP),
 * protects in place (SRTP out) and sends with uv_udp_try_send: nothing is
 * allocated, locked, queued or logged per packet. It must never send
 * plain RTP out of a secure leg, and a plain leg never moves to another IP
 * than the one its peer's signalling named (RTP bleed and hijack).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
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

/*
 * May a plain leg take a packet from `from` on its RTP (or, without
 * rtcp-mux, its RTCP) socket? The rules of enum sg_media_latch; nothing
 * changes here: plain_latch() learns the source once the packet passed
 * every other check.
 */
static inline bool plain_source_ok(const struct sg_media_leg *leg,
				   bool rtcp_sock, const struct sockaddr *from)
{
	const struct sockaddr_storage *sdp = rtcp_sock ? &leg->sdp_rtcp :
	    &leg->sdp_rtp;
	const struct sockaddr_storage *peer = rtcp_sock ? &leg->peer_rtcp :
	    &leg->peer_rtp;
	bool latched = rtcp_sock ? leg->rtcp_latched : leg->latched;

	switch (leg->latch) {
	case SG_MEDIA_LATCH_STRICT:
		if (!leg->has_sdp || !sg_addr_ip_eq_mapped(from,
		    (const struct sockaddr *)sdp))
			return false;
		return !latched || sg_addr_eq_mapped(from,
		    (const struct sockaddr *)peer);
	case SG_MEDIA_LATCH_SDP_IP:
		return leg->has_sdp && sg_addr_ip_eq_mapped(from,
		    (const struct sockaddr *)sdp);
	case SG_MEDIA_LATCH_FIRST:
		if (latched)
			return sg_addr_eq_mapped(from,
			    (const struct sockaddr *)peer);
		/* RTCP on its own socket: from the host RTP latched to. */
		return !rtcp_sock || !leg->latched ||
		    sg_addr_ip_eq_mapped(from,
		    (const struct sockaddr *)&leg->peer_rtp);
	}
	return false;
}

/* Learn the source of an accepted plain packet (symmetric RTP). */
static inline void plain_latch(struct sg_media_leg *leg, bool rtcp_sock,
			       const struct sockaddr *from)
{
	struct sockaddr_storage *peer = rtcp_sock ? &leg->peer_rtcp :
	    &leg->peer_rtp;
	bool *latched = rtcp_sock ? &leg->rtcp_latched : &leg->latched;

	if (!*latched) {
		*latched = true;
		if (!rtcp_sock) {
			leg->st_.latched++;
			leg->has_peer = true;
		}
		sg_addr_copy(peer, from);
	} else if (!sg_addr_eq_mapped(from, (const struct sockaddr *)peer)) {
		/* sdp-ip: the same IP from another port (a NAT rebinding). */
		if (!rtcp_sock)
			leg->st_.relatched++;
		sg_addr_copy(peer, from);
	}
}

/*
 * Count a packet a plain leg refused and keep its source for the log
 * summary and `sipsgate status`: a few stores, no formatting, no log.
 */
static inline void plain_foreign(struct sg_media_leg *leg, bool rtcp_sock,
				 const struct sockaddr *from)
{
	struct sg_media *m = leg->st->m;

	leg->st_.foreign_drop++;
	m->foreign_total++;
	sg_addr_copy(&m->foreign_from, from);
	m->foreign_has_want = leg->latch == SG_MEDIA_LATCH_FIRST ?
	    leg->latched : leg->has_sdp;
	if (m->foreign_has_want)
		m->foreign_want = leg->latch == SG_MEDIA_LATCH_FIRST ?
		    leg->peer_rtp : leg->sdp_rtp;
	m->foreign_latch = leg->latch;
	m->foreign_port = (uint16_t)(leg->port + (rtcp_sock ? 1 : 0));
	m->foreign_side = leg->side;
	m->foreign_ms = uv_now(m->loop);
	if (m->foreign_ms == 0)
		m->foreign_ms = 1;
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
	bool rtcp, rtcp_sock;
	int len = (int)nread, rc, keep_len = 0;
	uint8_t keep[2048];

	if (nread <= 0 || from == NULL || st->closing)
		return;			/* nothing, or the end of a batch */
	rtcp_sock = h == &leg->rtcp;
	/* Plain RTP in: only from the peer's address, whatever it holds. */
	if (!leg->secure && leg->plain_ok &&
	    !plain_source_ok(leg, rtcp_sock, from)) {
		plain_foreign(leg, rtcp_sock, from);
		return;
	}
	if (flags & UV_UDP_PARTIAL || !is_rtp_like(p, (size_t)nread) ||
	    nread > (ssize_t)sizeof(keep)) {
		leg->st_.unlatched_drop++;
		return;
	}
	rtcp = rtcp_sock || (leg->rtcp_mux && is_rtcp_pt(p, (size_t)len));
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
	if (!leg->secure) {
		plain_latch(leg, rtcp_sock, from);
	} else {
		peer = rtcp && !leg->rtcp_mux ? &leg->peer_rtcp : &leg->peer_rtp;
		if (!rtcp && !leg->latched) {
			/* The first authenticated packet: traffic beats SDP. */
			leg->latched = true;
			leg->st_.latched++;
			if (!sg_addr_eq_mapped(from,
			    (const struct sockaddr *)peer))
				sg_addr_copy(peer, from);
			leg->has_peer = true;
		} else if (!sg_addr_eq_mapped(from,
		    (const struct sockaddr *)peer)) {
			/* Only the key holder gets here (RFC 3711 auth). */
			if (!rtcp)
				leg->st_.relatched++;
			sg_addr_copy(peer, from);
			leg->has_peer = true;
		}
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
		  uint16_t port_max, sg_media_rnd_fn rnd)
{
	memset(m, 0, sizeof(*m));
	m->loop = loop;
	m->addr[SG_MEDIA_INSIDE] = *inside;
	m->addr[SG_MEDIA_OUTSIDE] = *outside;
	m->port_min = (uint16_t)(port_min & ~1u);
	m->port_max = port_max;
	m->rnd = rnd;
	if (m->port_max < m->port_min + 3)
		return -EINVAL;
	return 0;
}

/*
 * Bind the RTP port p and the RTCP port p + 1 with plain sockets: probing
 * the pool must not touch libuv handles, which cannot be released before
 * their close callback has run. On failure nothing stays open.
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

static unsigned gcd(unsigned a, unsigned b)
{
	while (b) {
		unsigned t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/*
 * Bind an even RTP port and the RTCP port above it, drawn at random from
 * the pool: a random start and a random stride coprime with the number of
 * pairs visit every pair once in an order nobody can guess, so a taken
 * pair only moves the draw on and a full pool is still found full.
 */
static int pick_pair(struct sg_media *m, int side, int fd[2], uint16_t *port)
{
	unsigned span = (unsigned)(m->port_max - m->port_min + 1) / 2;
	unsigned start, stride, i;
	uint32_t r[2];
	int rc = UV_EADDRINUSE;

	if (m->rnd == NULL || m->rnd(r, sizeof(r)) < 0)
		return UV_EIO;
	start = r[0] % span;
	stride = 1 + r[1] % span;
	while (gcd(stride, span) != 1)
		stride = stride % span + 1;
	for (i = 0; i < span; i++) {
		uint16_t p = (uint16_t)(m->port_min + 2 *
		    (unsigned)(((uint64_t)start + (uint64_t)i * stride) % span));

		rc = bind_pair(m, side, p, fd);
		if (rc == UV_EADDRINUSE || rc == UV_EACCES)
			continue;	/* taken: the draw moves on */
		if (rc == 0)
			*port = p;
		return rc;
	}
	return rc;
}

/*
 * Wrap a bound socket in a libuv handle and start receiving. Takes fd in
 * every case. *inited says whether h is now known to the loop (and so
 * must be closed with uv_close).
 */
static int udp_wrap(struct sg_media_stream *st, struct sg_media_leg *leg,
		    uv_udp_t *h, int fd, bool *inited)
{
	int rc;

	*inited = false;
	/* AF_UNSPEC: no socket of its own; uv_udp_open() gives it ours. */
	if ((rc = uv_udp_init_ex(st->m->loop, h, AF_UNSPEC |
	    UV_UDP_RECVMMSG)) < 0) {
		close(fd);
		return rc;
	}
	*inited = true;
	h->data = leg;
	if ((rc = uv_udp_open(h, fd)) < 0) {
		close(fd);		/* not the handle's: ours to close */
		return rc;
	}
	return uv_udp_recv_start(h, media_on_alloc, leg_on_recv);
}

static void stream_free(struct sg_media_stream *st)
{
	int side;

	for (side = 0; side < 2; side++) {
		sg_srtp_close(&st->leg[side].rx);
		sg_srtp_close(&st->leg[side].rx_prev);
		sg_srtp_close(&st->leg[side].tx);
	}
	explicit_bzero(st, sizeof(*st));
	free(st);
}

/*
 * Open a stream in two steps. First every socket is bound, with plain
 * sockets: a used-up pool or EMFILE fails here, with nothing to undo but
 * close(). Then the four handles are made; should that fail, the handles
 * made so far are closed and the stream frees itself from their close
 * callbacks. Either way the caller's callback never fires (STYLE 2.5): it
 * keeps sole ownership of whatever it passed as owner.
 */
int sg_media_stream_new(struct sg_media *m, enum sg_media_latch inside_latch,
			sg_media_event_cb cb, void *owner,
			struct sg_media_stream **out)
{
	struct sg_media_stream *st;
	uv_udp_t *h[4];
	struct sg_media_leg *hl[4];
	int fd[4] = { -1, -1, -1, -1 };
	uint16_t port[2] = { 0, 0 };
	bool inited[4] = { false, false, false, false };
	int side, rc, i;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return UV_ENOMEM;
	st->m = m;
	st->cb = cb;
	st->owner = owner;
	st->last_rx_ms = uv_now(m->loop);
	for (side = 0; side < 2; side++) {
		st->leg[side].st = st;
		st->leg[side].side = side;
	}
	st->leg[SG_MEDIA_INSIDE].plain_ok = true;
	st->leg[SG_MEDIA_INSIDE].latch = inside_latch;
	/* A plain outside leg (relay policy) takes its first source only. */
	st->leg[SG_MEDIA_OUTSIDE].latch = SG_MEDIA_LATCH_FIRST;

	for (side = 0; side < 2; side++) {
		if ((rc = pick_pair(m, side, &fd[2 * side], &port[side])) < 0) {
			if (rc == UV_EMFILE || rc == UV_ENFILE)
				log_warnx("media: cannot open sockets: %s (raise"
				    " the open files limit: LimitNOFILE=)",
				    uv_strerror(rc));
			else
				log_warnx("media: no free port pair in %u-%u: %s",
				    m->port_min, m->port_max, uv_strerror(rc));
			for (i = 0; i < 4; i++)
				if (fd[i] >= 0)
					close(fd[i]);
			stream_free(st);
			return rc;
		}
	}
	for (side = 0; side < 2; side++) {
		h[2 * side] = &st->leg[side].rtp;
		h[2 * side + 1] = &st->leg[side].rtcp;
		hl[2 * side] = hl[2 * side + 1] = &st->leg[side];
		st->leg[side].port = port[side];
	}
	for (i = 0; i < 4; i++) {
		rc = udp_wrap(st, hl[i], h[i], fd[i], &inited[i]);
		fd[i] = -1;
		if (rc < 0)
			break;
	}
	if (i < 4) {
		log_warnx("media: cannot start a stream on ports %u/%u: %s",
		    port[0], port[1], uv_strerror(rc));
		for (i = 0; i < 4; i++) {
			if (fd[i] >= 0)
				close(fd[i]);
			if (inited[i]) {
				st->pending_closes++;
				uv_close((uv_handle_t *)h[i], leg_on_close);
			}
		}
		st->closing = st->failed = true;
		if (st->pending_closes == 0)
			stream_free(st);
		return rc;
	}
	m->nstreams++;
	m->streams_total++;
	*out = st;
	return 0;
}

static void leg_on_close(uv_handle_t *h)
{
	struct sg_media_leg *leg = h->data;
	struct sg_media_stream *st = leg->st;

	if (--st->pending_closes > 0)
		return;
	/* Every handle is closed: tell the owner (not after a failed open). */
	if (!st->failed && st->cb)
		st->cb(st, SG_MEDIA_EV_CLOSED);
	stream_free(st);
}

void sg_media_stream_close(struct sg_media_stream *st)
{
	int side;

	if (st == NULL || st->closing)
		return;
	st->closing = true;
	for (side = 0; side < 2; side++) {
		struct sg_media_leg *leg = &st->leg[side];

		sg_media_stats_add(&st->m->closed[side], &leg->st_);
		st->pending_closes += 2;
		uv_close((uv_handle_t *)&leg->rtp, leg_on_close);
		uv_close((uv_handle_t *)&leg->rtcp, leg_on_close);
	}
	if (st->m->nstreams > 0)
		st->m->nstreams--;
}

void sg_media_leg_set_peer(struct sg_media_leg *leg,
			   const struct sockaddr_storage *rtp,
			   const struct sockaddr_storage *rtcp, bool mux)
{
	const struct sockaddr_storage *rc = rtcp ? rtcp : rtp;
	bool changed = !leg->has_sdp ||
	    !sg_addr_eq_mapped((const struct sockaddr *)rtp,
	    (const struct sockaddr *)&leg->sdp_rtp) ||
	    !sg_addr_eq_mapped((const struct sockaddr *)rc,
	    (const struct sockaddr *)&leg->sdp_rtcp);

	leg->rtcp_mux = mux;
	leg->sdp_rtp = *rtp;
	leg->sdp_rtcp = *rc;
	leg->has_sdp = true;
	if (leg->secure && leg->latched)
		return;		/* authenticated traffic beats SDP (RFC 4961) */
	if (changed) {
		/* The peer's signalling names another address: start over. */
		leg->latched = leg->rtcp_latched = false;
	}
	if (!leg->latched) {
		leg->peer_rtp = *rtp;
		leg->has_peer = true;
	}
	if (!leg->rtcp_latched)
		leg->peer_rtcp = *rc;
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
	sum->foreign_drop += s->foreign_drop;
	sum->plain_rtcp_drop += s->plain_rtcp_drop;
	sum->latched += s->latched;
	sum->relatched += s->relatched;
}
