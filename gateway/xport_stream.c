/* SPDX-License-Identifier: MIT */
/*
 * xport_stream.c: stream connections of a service. Inside: TCP, accepted
 * only from trusted networks. Outside: TLS only (tls.c drives GnuTLS),
 * with reuse in both directions, RFC 5923 aliases, CRLF keep-alives
 * (RFC 5626 §4.4.1), handshake deadlines, idle limits and caps on
 * connections in handshake (docs/tls.md, "Limits"). Framing by
 * Content-Length (RFC 3261 §18.3): the proxy sees whole messages only.
 * Writes to a TLS connection are corked until the loop's check phase.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sip_msg.h"
#include "xport_int.h"

#define SG_MAX_PENDING_BYTES (1u << 20)	/* per connection, before ready */
#define SG_MAX_WRITE_QUEUE (4u << 20)	/* per connection, then close */
#define SG_MAX_STREAM_BUF (SG_SIP_MAX_MSG + 4096)

static void conn_read(struct sg_conn *c, ssize_t n, const uv_buf_t *buf);
static int sock_write(struct sg_conn *c, const char *p, size_t len);
static void conn_flush_pending(struct sg_conn *c);
static void listener_on_conn(uv_stream_t *ls, int status);

/* Buffers. */

static int buf_append(struct sg_buf *b, const char *p, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *n;

		while (cap < b->len + len)
			cap *= 2;
		if ((n = realloc(b->p, cap)) == NULL)
			return -ENOMEM;
		b->p = n;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	return 0;
}

static void buf_consume(struct sg_buf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

static void buf_free(struct sg_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Connections. */

static void conn_link(struct sg_svc *svc, struct sg_conn *c)
{
	c->next = svc->conns;
	c->prev = NULL;
	if (svc->conns)
		svc->conns->prev = c;
	svc->conns = c;
}

static void conn_unlink(struct sg_svc *svc, struct sg_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (svc->conns == c)
		svc->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
}

/* Accepted TLS connections in handshake: counted per source and in total. */
static void hs_link(struct sg_svc *svc, struct sg_conn *c)
{
	c->hs_next = svc->hs_list;
	c->hs_prev = NULL;
	if (svc->hs_list)
		svc->hs_list->hs_prev = c;
	svc->hs_list = c;
	c->in_hs_list = true;
	svc->st.tls_handshaking++;
}

static void hs_unlink(struct sg_svc *svc, struct sg_conn *c)
{
	if (!c->in_hs_list)
		return;
	if (c->hs_prev)
		c->hs_prev->hs_next = c->hs_next;
	else
		svc->hs_list = c->hs_next;
	if (c->hs_next)
		c->hs_next->hs_prev = c->hs_prev;
	c->hs_next = c->hs_prev = NULL;
	c->in_hs_list = false;
	svc->st.tls_handshaking--;
}

bool sg_xport_conn_is_live(struct sg_svc *svc, const struct sg_conn *conn)
{
	const struct sg_conn *c;

	for (c = svc->conns; c; c = c->next)
		if (c == conn)
			return !c->closing;
	return false;
}

struct sg_conn *sg_xport_find_conn(struct sg_svc *svc, enum sg_side side,
				   const struct sockaddr *addr)
{
	struct sg_conn *c, *fallback = NULL;

	for (c = svc->conns; c; c = c->next) {
		if (c->closing || c->side != side || c->pair)
			continue;
		if (sg_addr_eq((const struct sockaddr *)&c->peer, addr) ||
		    (c->alias.ss_family &&
		    sg_addr_eq((const struct sockaddr *)&c->alias, addr))) {
			if (c->ready)
				return c;
			fallback = c;
		}
	}
	return fallback;
}

/*
 * Peer identity over connections (DESIGN §3): the same peer may have an old
 * connection that a NAT silently dropped and a new one from another port;
 * the one we heard from last is the live one.
 */
struct sg_conn *sg_xport_find_conn_peer_id(struct sg_svc *svc,
					   enum sg_side side,
					   const uint8_t *id)
{
	struct sg_conn *c, *best = NULL;

	for (c = svc->conns; c; c = c->next) {
		if (c->closing || !c->ready || c->side != side ||
		    c->kind != SG_XPORT_TLS || !c->info.has_peer_id ||
		    memcmp(c->info.peer_id, id, SG_TOKEN_ID_LEN) != 0)
			continue;
		if (best == NULL || c->last_rx_ms > best->last_rx_ms ||
		    (c->last_rx_ms == best->last_rx_ms && c->id > best->id))
			best = c;
	}
	return best;
}

struct sg_conn *sg_xport_find_conn_id(struct sg_svc *svc, uint64_t id)
{
	struct sg_conn *c;

	for (c = svc->conns; c; c = c->next)
		if (c->id == id && !c->closing && !c->pair)
			return c;
	return NULL;
}

int sg_xport_conn_write(struct sg_conn *c, const char *p, size_t len)
{
	if (c->closing)
		return -ENOTCONN;
	return sg_conn_write(c, p, len);
}

void sg_xport_conn_close(struct sg_conn *c, const char *why)
{
	sg_conn_close(c, why);
}

static struct sg_conn *conn_new(struct sg_svc *svc, enum sg_xport_kind kind,
				enum sg_side side, bool outbound)
{
	struct sg_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->svc = svc;
	c->kind = kind;
	c->side = side;
	c->outbound = outbound;
	c->id = ++svc->gw->next_conn_id;
	c->pending_tail = &c->pending;
	c->last_rx_ms = sg_xport_now(svc);
	if (uv_tcp_init(svc->gw->loop, &c->tcp) < 0) {
		free(c);
		return NULL;
	}
	c->tcp.data = c;
	uv_tcp_nodelay(&c->tcp, 1);
	conn_link(svc, c);
	return c;
}

static void conn_on_close(uv_handle_t *h)
{
	struct sg_conn *c = h->data;
	struct sg_pending *p, *n;

	c->svc->handles_closing--;
	for (p = c->pending; p; p = n) {
		n = p->next;
		free(p);
	}
	if (c->svc->gw->conn_ops)
		c->svc->gw->conn_ops->free(c);
	if (c->tls) {
		sg_tls_session_free(c->tls);
		sg_tls_ctx_put(c->tlsp.ctx);
	}
	buf_free(&c->cin);
	buf_free(&c->in);
	free(c);
}

/*
 * Close a connection: unlink it so no lookup finds it again, report the
 * messages still waiting for it as failed, then free it after uv_close.
 */
void sg_conn_close(struct sg_conn *c, const char *why)
{
	struct sg_svc *svc = c->svc;
	struct sg_pending *p;
	char a[64];

	if (c->closing)
		return;
	c->closing = true;
	/*
	 * Every way a connection ends is counted here, once: a TLS
	 * connection that never finished its handshake is a handshake
	 * failure (whatever ended it), one the peer ended is a remote close.
	 * Accepted connections that never got that far are logged at debug
	 * only: what ended them (limits, failures) has its own rate-limited
	 * line, so a flood of them cannot flood the log.
	 */
	hs_unlink(svc, c);
	if (c->tls && c->connected && !c->ready) {
		if (c->outbound)
			svc->st.hs_fail_client++;
		else
			svc->st.hs_fail_server++;
	}
	if (c->peer_closed)
		svc->st.remote_close++;
	if (c->outbound || c->ready || c->kind != SG_XPORT_TLS)
		log_info("%s: %s connection %llu %s %s closed: %s",
		    svc->cfg->name, c->kind == SG_XPORT_TLS ? "tls" : "tcp",
		    (unsigned long long)c->id, c->outbound ? "to" : "from",
		    sg_addr_str((struct sockaddr *)&c->peer, a, sizeof(a)), why);
	else
		log_debug("%s: tls connection %llu from %s closed: %s",
		    svc->cfg->name, (unsigned long long)c->id,
		    sg_addr_str((struct sockaddr *)&c->peer, a, sizeof(a)), why);
	if (c->ready && c->kind == SG_XPORT_TLS && svc->st.tls_active > 0)
		svc->st.tls_active--;
	if (c->connected && c->kind == SG_XPORT_TCP && svc->st.tcp_active > 0)
		svc->st.tcp_active--;
	if (c->corked) {
		struct sg_conn **pp = &svc->gw->dirty;

		while (*pp && *pp != c)
			pp = &(*pp)->next_dirty;
		if (*pp)
			*pp = c->next_dirty;
		c->corked = false;
		sg_tls_uncork(c->tls);		/* what was written */
	}
	if (c->tls && c->ready) {
		if (c->outbound && c->resume_saved)
			sg_tls_save_resume(c->tlsp.ctx, c->tls);
		sg_tls_bye(c->tls);
	}
	if (svc->link == c)
		sg_hop_link_closed(svc, c);
	conn_unlink(svc, c);
	if (c->partner) {
		struct sg_conn *pt = c->partner;

		/* The other half goes once it has written what it holds. */
		c->partner = NULL;
		pt->partner = NULL;
		if (pt->tcp.write_queue_size == 0)
			sg_conn_close(pt, "tunnel partner closed");
		else
			pt->close_when_drained = true;
	}
	for (p = c->pending; p; p = p->next)
		if (!c->raw && svc->ops->on_send_fail)
			svc->ops->on_send_fail(svc, p->data, p->len);
	svc->handles_closing++;
	uv_close((uv_handle_t *)&c->tcp, conn_on_close);
}

static void conn_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct sg_conn *c = h->data;

	(void)hint;
	buf->base = sg_xport_loop(c->svc)->rx_buf;
	buf->len = 65536;
}

/*
 * Deliver every whole message in c->in to the proxy. CRLFCRLF is a
 * keep-alive ping, answered with CRLF; a lone CRLF is the pong.
 */
static void conn_frame(struct sg_conn *c)
{
	struct sg_svc *svc = c->svc;
	struct sg_src src;
	ssize_t n;
	size_t ws;

	if (c->raw) {
		sg_raw_forward(c);
		return;
	}
	if (c->pair) {		/* a pairing session: never SIP */
		svc->gw->conn_ops->data(c);
		return;
	}
	memset(&src, 0, sizeof(src));
	src.side = c->side;
	src.kind = c->kind;
	src.addr = c->peer;
	src.conn = c;
	while (c->in.len > 0 && !c->closing) {
		ws = sg_sip_skip_crlf(c->in.p, c->in.len);
		if (ws > 0) {
			if (ws >= 4 && memcmp(c->in.p, "\r\n\r\n", 4) == 0) {
				sg_conn_write(c, "\r\n", 2);
				svc->st.keepalive_pongs++;
			} else if (c->ping_ms != 0) {
				c->ping_ms = 0;		/* the pong */
				c->pongs = true;
			}
			buf_consume(&c->in, ws);
			continue;
		}
		n = sg_sip_frame(c->in.p, c->in.len);
		if (n == 0) {
			if (c->in.len > SG_MAX_STREAM_BUF) {
				svc->st.parse_err++;
				sg_conn_close(c, "message too large");
			}
			return;
		}
		if (n < 0) {
			svc->st.parse_err++;
			log_warnx("%s: unframeable stream from connection %llu"
			    " (%s): closing", svc->cfg->name,
			    (unsigned long long)c->id,
			    n == -EMSGSIZE ? "message too large" :
			    "bad or missing Content-Length");
			sg_conn_close(c, "framing error");
			return;
		}
		svc->st.msg_in++;
		if (svc->ops->on_msg)
			svc->ops->on_msg(svc, &src, c->in.p, (size_t)n);
		if (c->closing)
			return;
		buf_consume(&c->in, (size_t)n);
	}
}

static void conn_tls_ready(struct sg_conn *c)
{
	struct sg_svc *svc = c->svc;
	char a[64];

	c->ready = true;
	hs_unlink(svc, c);
	c->last_rx_ms = sg_xport_now(svc);	/* the idle clock starts now */
	svc->st.tls_active++;
	if (c->outbound)
		svc->st.tls_connected++;
	sg_tls_session_info(c->tls, &c->info);
	if (c->info.resumed)
		svc->st.tls_resumed++;
	if (c->outbound && !sg_tls_is_tls13(c->tls)) {
		sg_tls_save_resume(c->tlsp.ctx, c->tls);	/* TLS 1.2: now */
		c->resume_saved = true;
	}
	if (svc->link == c)
		svc->link_backoff_s = 0;
	if (!c->outbound && svc->gw->conn_ops &&
	    svc->gw->conn_ops->is_special(c)) {
		svc->gw->conn_ops->ready(c);
		return;
	}
	if (c->raw)
		sg_raw_ready(c);
	log_info("%s: tls connection %llu %s %s established: %s%s, peer '%s'",
	    svc->cfg->name, (unsigned long long)c->id,
	    c->outbound ? "to" : "from",
	    sg_addr_str((struct sockaddr *)&c->peer, a, sizeof(a)),
	    c->info.suite, c->info.resumed ? " (resumed)" : "",
	    c->info.peer_subject);
	conn_flush_pending(c);
}

static void conn_tls_drive(struct sg_conn *c)
{
	struct sg_svc *svc = c->svc;
	char a[64], why[640];
	ssize_t n;
	int r, again = 0;

	if (!c->ready) {
		r = sg_tls_handshake(c->tls, &c->tlsp, why, sizeof(why));
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			/* Counted as a handshake failure by sg_conn_close(). */
			if (r == -ECONNRESET)
				c->peer_closed = true;
			log_ratelimited(&sg_xport_loop(svc)->rl_hs_fail,
			    LOG_WARNING,
			    "%s: tls handshake %s %s failed: %s",
			    svc->cfg->name, c->outbound ? "to" : "from",
			    sg_addr_str((struct sockaddr *)&c->peer, a,
			    sizeof(a)), why);
			sg_conn_close(c, "handshake failed");
			return;
		}
		conn_tls_ready(c);
		if (c->closing)
			return;
	}
	for (;;) {
		char tmp[16384];

		n = sg_tls_recv(c->tls, tmp, sizeof(tmp), why, sizeof(why));
		/*
		 * A post-handshake message (a TLS 1.3 ticket) also ends in
		 * AGAIN although more records may be buffered: ask again a
		 * few times; each call that has nothing returns at once.
		 */
		if (n == -EAGAIN || n == -EINTR) {
			if (++again < 4)
				continue;
			break;
		}
		again = 0;
		if (n == 0) {
			c->peer_closed = true;
			sg_conn_close(c, "peer closed");
			return;
		}
		if (n == -EPERM) {
			/* Renegotiation: refused (sg_tls_recv); as the
			 * server, also close. */
			if (c->outbound)
				continue;
			svc->st.tls_reneg_refused++;
			log_ratelimited(&sg_xport_loop(svc)->rl_reneg,
			    LOG_WARNING, "%s: tls"
			    " connection %llu from %s asked to renegotiate:"
			    " refused, closing", svc->cfg->name,
			    (unsigned long long)c->id, sg_addr_str(
			    (struct sockaddr *)&c->peer, a, sizeof(a)));
			sg_conn_close(c, "renegotiation refused");
			return;
		}
		if (n < 0) {
			if (n == -ECONNABORTED)
				log_warnx("%s: tls connection %llu: %s",
				    svc->cfg->name, (unsigned long long)c->id,
				    why);
			c->peer_closed = true;
			sg_conn_close(c, why);
			return;
		}
		c->last_rx_ms = sg_xport_now(svc);
		c->probed = false;
		/* TLS 1.3 tickets arrive after the handshake: keep one. */
		if (c->outbound && !c->resume_saved &&
		    sg_tls_has_ticket(c->tls)) {
			sg_tls_save_resume(c->tlsp.ctx, c->tls);
			c->resume_saved = true;
		}
		if (buf_append(&c->in, tmp, (size_t)n) < 0) {
			sg_conn_close(c, "out of memory");
			return;
		}
		if (c->in.len > SG_MAX_STREAM_BUF * 2)
			break;
	}
	conn_frame(c);
}

static void conn_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct sg_conn *c = s->data;
	struct sg_svc *svc = c->svc;

	if (c->closing)
		return;
	log_ctx_set(svc->cfg->name, NULL, &c->peer);
	conn_read(c, n, buf);
	log_ctx_clear();
}

static void conn_read(struct sg_conn *c, ssize_t n, const uv_buf_t *buf)
{
	struct sg_svc *svc = c->svc;

	if (n < 0) {
		char a[64];

		c->peer_closed = true;
		if (c->tls && c->cin.len > c->cin_off)
			conn_tls_drive(c);	/* a final alert, if any */
		if (c->raw && !c->closing)
			sg_raw_forward(c);		/* what is left, if it can */
		if (c->tls && !c->ready && !c->closing)
			log_ratelimited(&sg_xport_loop(svc)->rl_hs_fail,
			    LOG_WARNING, "%s: tls"
			    " handshake %s %s failed: the peer closed the"
			    " connection (%s)", svc->cfg->name,
			    c->outbound ? "to" : "from", sg_addr_str(
			    (struct sockaddr *)&c->peer, a, sizeof(a)),
			    n == UV_EOF ? "end of stream" :
			    uv_strerror((int)n));
		sg_conn_close(c, n == UV_EOF ? "peer closed" :
		    uv_strerror((int)n));
		return;
	}
	if (n == 0)
		return;
	c->got_bytes = true;
	if (c->kind == SG_XPORT_TLS) {
		if (!c->ready)
			sg_tls_sniff(&c->tlsp, buf->base, (size_t)n);
		if (buf_append(&c->cin, buf->base, (size_t)n) < 0) {
			sg_conn_close(c, "out of memory");
			return;
		}
		conn_tls_drive(c);
		if (!c->closing && c->cin_off == c->cin.len) {
			c->cin.len = 0;
			c->cin_off = 0;
		}
		return;
	}
	c->last_rx_ms = sg_xport_now(svc);
	if (buf_append(&c->in, buf->base, (size_t)n) < 0) {
		sg_conn_close(c, "out of memory");
		return;
	}
	conn_frame(c);
}

/* The TLS session's transport (struct sg_tls_io): ciphertext that
 * conn_on_read() buffered, and sock_write(). */
static bool tls_io_pending(void *arg)
{
	struct sg_conn *c = arg;

	return c->cin.len > c->cin_off;
}

static ssize_t tls_io_pull(void *arg, void *dst, size_t len)
{
	struct sg_conn *c = arg;
	size_t avail = c->cin.len - c->cin_off;

	if (avail == 0)
		return -EAGAIN;
	if (len > avail)
		len = avail;
	memcpy(dst, c->cin.p + c->cin_off, len);
	c->cin_off += len;
	return (ssize_t)len;
}

static int tls_io_push(void *arg, const void *p, size_t len)
{
	struct sg_conn *c = arg;

	if (c->closing && !uv_is_writable((uv_stream_t *)&c->tcp))
		return -EPIPE;
	return sock_write(c, p, len) < 0 ? -EPIPE : 0;
}

static const struct sg_tls_io tls_io = {
	.push = tls_io_push,
	.pull = tls_io_pull,
	.pending = tls_io_pending,
};

static void on_written(uv_write_t *req, int status)
{
	struct sg_conn *c = req->data;

	if (status < 0 && status != UV_ECANCELED && c && !c->closing) {
		c->svc->st.send_fail++;
		sg_conn_close(c, uv_strerror(status));
	}
	free(req);
	if (status == 0 && c->raw && !c->closing)
		sg_raw_ready(c);
}

/* Write bytes to the socket: try now, queue the rest (copied). */
static int sock_write(struct sg_conn *c, const char *p, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)(uintptr_t)p, (unsigned)len);
	uv_write_t *req;
	int rc = 0;

	if (c->tcp.write_queue_size == 0) {
		rc = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		if (rc == (int)len)
			return 0;
		if (rc < 0 && rc != UV_EAGAIN)
			return rc;
		if (rc < 0)
			rc = 0;
	}
	if (c->tcp.write_queue_size > SG_MAX_WRITE_QUEUE)
		return -ENOBUFS;
	p += rc;
	len -= (size_t)rc;
	if ((req = malloc(sizeof(*req) + len)) == NULL)
		return -ENOMEM;
	memcpy(req + 1, p, len);
	req->data = c;
	b = uv_buf_init((char *)(req + 1), (unsigned)len);
	if ((rc = uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, on_written)) < 0)
		free(req);
	return rc;
}

/* Write application bytes: through TLS on the outside, plain inside. */
int sg_conn_write(struct sg_conn *c, const char *p, size_t len)
{
	if (c->kind != SG_XPORT_TLS)
		return sock_write(c, p, len);
	if (!c->ready)
		return -ENOTCONN;
	/*
	 * Cork: what this loop iteration writes to a connection leaves as
	 * few TLS records and one write() in sg_xport_flush(), run by the
	 * loop's check phase, instead of a syscall per message.
	 */
	if (!c->corked && c->svc->gw->flush_ready) {
		sg_tls_cork(c->tls);
		c->corked = true;
		c->next_dirty = c->svc->gw->dirty;
		c->svc->gw->dirty = c;
	}
	return sg_tls_send(c->tls, p, len);
}

/* Write what a corked connection holds. */
static void conn_uncork(struct sg_conn *c)
{
	if (!c->corked)
		return;
	c->corked = false;
	if (sg_tls_uncork(c->tls) < 0 && !c->closing) {
		c->svc->st.send_fail++;
		sg_conn_close(c, "write failed");
	}
}

/* The loop's check phase: flush every connection corked since. */
void sg_xport_flush(struct sg_gw *gw)
{
	struct sg_conn *c;

	while ((c = gw->dirty) != NULL) {
		gw->dirty = c->next_dirty;
		c->next_dirty = NULL;
		conn_uncork(c);
	}
}

static int conn_queue(struct sg_conn *c, const char *p, size_t len)
{
	struct sg_pending *q;

	if (c->pending_bytes + len > SG_MAX_PENDING_BYTES)
		return -ENOBUFS;
	if ((q = malloc(sizeof(*q) + len)) == NULL)
		return -ENOMEM;
	q->next = NULL;
	q->len = len;
	memcpy(q->data, p, len);
	*c->pending_tail = q;
	c->pending_tail = &q->next;
	c->pending_bytes += len;
	return 0;
}

static void conn_flush_pending(struct sg_conn *c)
{
	struct sg_pending *q;

	while ((q = c->pending) != NULL && !c->closing) {
		c->pending = q->next;
		if (c->pending == NULL)
			c->pending_tail = &c->pending;
		c->pending_bytes -= q->len;
		if (sg_conn_write(c, q->data, q->len) < 0) {
			c->svc->st.send_fail++;
			if (c->svc->ops->on_send_fail)
				c->svc->ops->on_send_fail(c->svc, q->data,
				    q->len);
		} else {
			c->svc->st.msg_out++;
		}
		free(q);
	}
}

static int conn_start_tls(struct sg_conn *c, bool server)
{
	int rc;

	if ((rc = sg_tls_session_new(c->svc->tls, server, &c->tlsp,
	    &c->tls)) < 0)
		return rc;
	if (server && c->svc->gw->conn_ops &&
	    (rc = c->svc->gw->conn_ops->prepare(c)) < 0) {
		sg_tls_session_free(c->tls);
		c->tls = NULL;
		return rc;
	}
	sg_tls_ctx_get(c->tlsp.ctx);
	sg_tls_session_set_io(c->tls, &c->tlsp, &tls_io, c);
	return 0;
}

static void conn_fill_addrs(struct sg_conn *c)
{
	int len = sizeof(c->peer);

	uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &len);
	len = sizeof(c->local);
	uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&c->local, &len);
}

/*
 * May an accepted TLS connection start its handshake? NULL if so; else
 * why not (it is then closed at once, counted, and logged rate-limited).
 * A TLS accept never keeps a file descriptor at or above the watermark,
 * so a flood of connections on the outside cannot take the descriptors
 * that inside SIP, media relays and the control socket need.
 */
static const char *tls_admit(struct sg_svc *svc, struct sg_conn *c)
{
	const struct sg_cfg_service *cfg = svc->cfg;
	struct sockaddr *peer = (struct sockaddr *)&c->peer;
	const struct sg_conn *h;
	uv_os_fd_t fd = -1;
	unsigned n = 0;
	char a[64];

	if (svc->gw->fd_watermark > 0 &&
	    uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 &&
	    fd >= svc->gw->fd_watermark) {
		svc->st.tls_refused_fd++;
		log_ratelimited(&sg_xport_loop(svc)->rl_refused,
		    LOG_WARNING, "%s: refused tls"
		    " connection from %s: file descriptors are short (fd %d;"
		    " those from %d up are kept for inside SIP, media and"
		    " control)", cfg->name, sg_addr_str(peer, a, sizeof(a)),
		    fd, svc->gw->fd_watermark);
		return "file descriptor reserve";
	}
	if (svc->st.tls_handshaking >= cfg->tls_max_handshakes) {
		svc->st.tls_refused_total++;
		log_ratelimited(&sg_xport_loop(svc)->rl_refused,
		    LOG_WARNING, "%s: refused tls"
		    " connection from %s: %u connections in handshake"
		    " (tls-max-handshakes)", cfg->name,
		    sg_addr_str(peer, a, sizeof(a)), cfg->tls_max_handshakes);
		return "too many handshakes";
	}
	for (h = svc->hs_list; h; h = h->hs_next)
		if (sg_addr_ip_eq((const struct sockaddr *)&h->peer, peer))
			n++;
	if (n >= cfg->tls_max_handshakes_src) {
		svc->st.tls_refused_source++;
		log_ratelimited(&sg_xport_loop(svc)->rl_refused,
		    LOG_WARNING, "%s: refused tls"
		    " connection from %s: %u connections from that address in"
		    " handshake (tls-max-handshakes-per-source)", cfg->name,
		    sg_addr_str(peer, a, sizeof(a)), n);
		return "too many handshakes from this address";
	}
	return NULL;
}

static void listener_on_conn(uv_stream_t *ls, int status)
{
	struct sg_sock *sk = container_of((uv_tcp_t *)ls, struct sg_sock, h.tcp);
	struct sg_svc *svc = sk->svc;
	struct sg_conn *c;
	const char *why;
	char a[64];

	if (status < 0) {
		/* Out of descriptors: libuv accepted and closed what was
		 * waiting, with a descriptor it keeps spare for this. */
		svc->st.accept_fail++;
		log_ratelimited(&sg_xport_loop(svc)->rl_accept,
		    LOG_WARNING, "%s: accept on %s:"
		    " %s (pending connections closed)", svc->cfg->name,
		    sg_addr_str((struct sockaddr *)&sk->addr, a, sizeof(a)),
		    uv_strerror(status));
		return;
	}
	if ((c = conn_new(svc, sk->kind, sk->side, false)) == NULL)
		return;
	if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
		sg_conn_close(c, "accept failed");
		return;
	}
	conn_fill_addrs(c);
	c->connected = true;
	if (c->kind == SG_XPORT_TCP)
		svc->st.tcp_active++;
	if (sk->side == SG_SIDE_INSIDE &&
	    !sg_cfg_is_trusted(svc->cfg, (struct sockaddr *)&c->peer)) {
		svc->st.untrusted_drop++;
		log_warnx("%s: refused tcp connection from untrusted %s",
		    svc->cfg->name,
		    sg_addr_str((struct sockaddr *)&c->peer, a, sizeof(a)));
		sg_conn_close(c, "untrusted source");
		return;
	}
	if (c->kind == SG_XPORT_TLS) {
		svc->st.tls_accepted++;	/* every one, however short */
		if ((why = tls_admit(svc, c)) != NULL) {
			sg_conn_close(c, why);
			return;
		}
		if (conn_start_tls(c, true) < 0) {
			sg_conn_close(c, "tls setup failed");
			return;
		}
		hs_link(svc, c);
		c->hs_deadline_ms = sg_xport_now(svc) +
		    (uint64_t)svc->cfg->tls_handshake_timeout * 1000;
	} else {
		c->ready = true;
	}
	log_debug("%s: %s connection %llu from %s", svc->cfg->name,
	    c->kind == SG_XPORT_TLS ? "tls" : "tcp", (unsigned long long)c->id,
	    sg_addr_str((struct sockaddr *)&c->peer, a, sizeof(a)));
	if (svc->cfg->protocol == SG_PROTO_RAW && sg_raw_pair(c) < 0)
		return;
	uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read);
}

static void conn_on_connect(uv_connect_t *req, int status)
{
	struct sg_conn *c = req->data;
	struct sg_svc *svc = c->svc;
	char a[64];

	if (c->closing)
		return;
	if (status < 0) {
		svc->st.conn_fail++;
		log_warnx("%s: connect to %s failed: %s", svc->cfg->name,
		    sg_addr_str((struct sockaddr *)&c->peer, a, sizeof(a)),
		    uv_strerror(status));
		sg_conn_close(c, "connect failed");
		return;
	}
	c->connected = true;
	conn_fill_addrs(c);
	uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read);
	if (c->kind == SG_XPORT_TLS) {
		conn_tls_drive(c);	/* sends the ClientHello */
	} else {
		svc->st.tcp_active++;
		c->ready = true;
		conn_flush_pending(c);
		if (c->raw)
			sg_raw_ready(c);
	}
}

struct sg_conn *sg_conn_connect(struct sg_svc *svc, enum sg_side side,
				    enum sg_xport_kind kind,
				    const struct sockaddr *to)
{
	struct sg_conn *c = conn_new(svc, kind, side, true);
	char a[64];
	int rc;

	if (c == NULL)
		return NULL;
	memcpy(&c->peer, to, sizeof(struct sockaddr_storage) <
	    sizeof(c->peer) ? sizeof(struct sockaddr_storage) : sizeof(c->peer));
	if (kind == SG_XPORT_TLS && conn_start_tls(c, false) < 0) {
		sg_conn_close(c, "tls setup failed");
		return NULL;
	}
	if (kind == SG_XPORT_TLS)	/* TCP connect and handshake */
		c->hs_deadline_ms = sg_xport_now(svc) +
		    (uint64_t)svc->cfg->tls_handshake_timeout * 1000;
	c->connect_req.data = c;
	log_debug("%s: connecting to %s (%s)", svc->cfg->name,
	    sg_addr_str(to, a, sizeof(a)), kind == SG_XPORT_TLS ? "tls" : "tcp");
	rc = uv_tcp_connect(&c->connect_req, &c->tcp, to, conn_on_connect);
	if (rc < 0) {
		svc->st.conn_fail++;
		log_warnx("%s: connect to %s: %s", svc->cfg->name,
		    sg_addr_str(to, a, sizeof(a)), uv_strerror(rc));
		sg_conn_close(c, "connect failed");
		return NULL;
	}
	return c;
}

/*
 * One whole message on connection c: queued while it is not ready (or
 * holds older messages), else written now. Counts msg_out and send_fail;
 * a write that fails closes c.
 */
int sg_conn_send(struct sg_conn *c, const char *buf, size_t len)
{
	struct sg_svc *svc = c->svc;
	int rc;

	if (!c->ready || c->pending)
		return conn_queue(c, buf, len);
	if ((rc = sg_conn_write(c, buf, len)) < 0) {
		svc->st.send_fail++;
		sg_conn_close(c, "write failed");
		return rc;
	}
	svc->st.msg_out++;
	return 0;
}

/* Read again after a pause (protocol = raw back-pressure). */
void sg_conn_resume(struct sg_conn *c)
{
	uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read);
	if (c->kind == SG_XPORT_TLS && c->cin.len > c->cin_off)
		conn_tls_drive(c);
}

/*
 * A TCP or TLS listener on sk's address. A burst of connections (a
 * reconnect storm, or a flood) waits in the kernel's accept queue until
 * the loop takes it; one that finds the queue full is dropped and retried
 * by its sender seconds later. The kernel caps the backlog at
 * net.core.somaxconn (4096 by default).
 */
int sg_stream_listen(struct sg_sock *sk)
{
	struct sg_svc *svc = sk->svc;
	int rc;

	if ((rc = uv_tcp_init(svc->gw->loop, &sk->h.tcp)) < 0)
		return rc;
	svc->nsocks++;		/* closed by sg_xport_stop even on error */
	if ((rc = uv_tcp_bind(&sk->h.tcp, (const struct sockaddr *)&sk->addr,
	    0)) < 0)
		return rc;
	return uv_listen((uv_stream_t *)&sk->h.tcp, SG_LISTEN_BACKLOG,
	    listener_on_conn);
}

/* A TLS handshake that did not finish in time: close it. */
static void conn_hs_timeout(struct sg_conn *c)
{
	struct sg_svc *svc = c->svc;
	char a[64];

	svc->st.tls_hs_timeout++;
	if (c->outbound && !c->connected)
		svc->st.conn_fail++;
	log_ratelimited(&sg_xport_loop(svc)->rl_hs_timeout,
	    LOG_WARNING, "%s: tls handshake %s %s"
	    " timed out after %u s (%s): closing", svc->cfg->name,
	    c->outbound ? "to" : "from",
	    sg_addr_str((struct sockaddr *)&c->peer, a, sizeof(a)),
	    svc->cfg->tls_handshake_timeout, c->outbound && !c->connected ?
	    "no TCP connection" : c->got_bytes ? "handshake incomplete" :
	    "nothing received");
	sg_conn_close(c, "handshake timeout");
}

/*
 * An accepted TLS connection that received nothing (no SIP, no CRLF
 * keep-alive) for half of tls-idle-timeout gets one CRLF ping, which
 * any live SIP stack answers (RFC 5626 §4.4.1); after all of it, it is
 * closed. Connections we opened are exempt: they send the pings.
 */
static void conn_idle_check(struct sg_conn *c, uint64_t now)
{
	struct sg_svc *svc = c->svc;
	uint64_t lim = (uint64_t)svc->cfg->tls_idle_timeout * 1000;
	char a[64];

	if (lim == 0 || c->outbound || c->raw || now - c->last_rx_ms < lim / 2)
		return;
	if (now - c->last_rx_ms >= lim) {
		svc->st.tls_idle_close++;
		log_ratelimited(&sg_xport_loop(svc)->rl_idle,
		    LOG_INFO, "%s: tls connection %llu"
		    " from %s: nothing received for %u s (tls-idle-timeout):"
		    " closing", svc->cfg->name, (unsigned long long)c->id,
		    sg_addr_str((struct sockaddr *)&c->peer, a, sizeof(a)),
		    svc->cfg->tls_idle_timeout);
		sg_conn_close(c, "idle");
		return;
	}
	if (!c->probed) {
		c->probed = true;
		if (sg_conn_write(c, "\r\n\r\n", 4) == 0)
			svc->st.keepalive_probes++;
	}
}

/*
 * RFC 5626 §4.4.1 on a connection we opened: a CRLFCRLF ping after
 * `keepalive` seconds without traffic. A peer that answered a ping once
 * (a pong: CRLF) must answer every one: when the pong is late by a quarter
 * of the interval (1 to 10 s) the flow is dead (a NAT dropped its binding)
 * and is closed, so the link is opened again at once. A dead binding is thus
 * found within keepalive + keepalive/4 + the 1 s tick, under twice the
 * interval. Peers that never pong (pre-5626) are only pinged.
 */
static void keepalive_tick(struct sg_conn *c, uint64_t now)
{
	uint64_t every = (uint64_t)c->svc->cfg->keepalive * 1000;
	uint64_t wait = SG_MIN(SG_MAX(every / 4, 1000), 10000);

	if (c->ping_ms != 0) {
		if (c->last_rx_ms > c->ping_ms) {
			c->ping_ms = 0;		/* traffic counts as a pong */
		} else if (c->pongs && now - c->ping_ms >= wait) {
			c->svc->st.keepalive_timeouts++;
			log_warnx("%s: connection %llu: no pong %llu ms after"
			    " the keep-alive ping: flow dead, closing",
			    c->svc->cfg->name, (unsigned long long)c->id,
			    (unsigned long long)(now - c->ping_ms));
			sg_conn_close(c, "keep-alive timeout");
			return;
		}
	}
	if (c->ping_ms == 0 && now - c->last_rx_ms >= every) {
		c->ping_ms = now;
		if (sg_conn_write(c, "\r\n\r\n", 4) < 0)
			sg_conn_close(c, "keep-alive failed");
	} else if (c->ping_ms != 0 && !c->pongs &&
	    now - c->ping_ms >= every) {
		c->ping_ms = 0;		/* no pong expected: ping again */
	}
}

/* TLS handshakes that did not finish in time are closed. */
void sg_stream_deadlines(struct sg_svc *svc, uint64_t now)
{
	struct sg_conn *c, *next;

	for (c = svc->conns; c; c = next) {
		next = c->next;
		if (!c->closing && c->kind == SG_XPORT_TLS && !c->ready &&
		    c->hs_deadline_ms != 0 && now >= c->hs_deadline_ms) {
			conn_hs_timeout(c);
			if (next && next->closing)	/* a raw partner */
				next = svc->conns;
		}
	}
}

/* Idle connections and keep-alives (not for protocol = raw). */
void sg_stream_tick(struct sg_svc *svc, uint64_t now)
{
	const struct sg_cfg_service *cfg = svc->cfg;
	struct sg_conn *c, *next;

	for (c = svc->conns; c; c = next) {
		next = c->next;
		if (c->closing || !c->ready || c->kind != SG_XPORT_TLS)
			continue;
		conn_idle_check(c, now);
		if (c->closing)
			continue;
		/* RFC 5626 §4.4.1: the side that connected sends pings. */
		if (c->outbound && cfg->keepalive > 0)
			keepalive_tick(c, now);
	}
}
