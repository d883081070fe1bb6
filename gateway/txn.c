/* SPDX-License-Identifier: MIT */
/*
 * txn.c: RFC 3261 §17 transactions, only where a crossing of the gateway
 * has a UDP leg (DESIGN §3): a request from TLS/TCP that leaves on UDP is
 * retransmitted here (timers A/B, E/F) and answered 408 on timeout; a
 * request that arrives on UDP has its retransmissions absorbed and its
 * last response resent (timers G/H/I/J/L); an INVITE gets 100 Trying;
 * CANCEL follows §16.10 (also before any response) and the ACK for a
 * non-2xx final goes hop by hop (§17.1.1.3). 2xx responses and their ACKs
 * are never held: they stay end to end, routed by Via as the stateless
 * proxy routes them.
 *
 * One struct sg_txn holds both halves of one crossing (the server side
 * toward the sender, the client side toward the next hop). Transactions
 * sit in two hash tables (by the §17.2.3 key of the incoming request, and
 * by our own branch for responses) and in one binary heap of deadlines
 * driven by a single libuv timer per service. Finished transactions
 * linger (absorbing late retransmissions) on a list in expiry order; when
 * max-transactions is reached the oldest lingering one is evicted, and
 * only when none lingers does a new request go on statelessly (counted).
 * Main loop only; never frees a transaction a caller still holds: freeing
 * happens in the timer callback, or by eviction when a new one is made.
 */
#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "txn.h"

#define HEAP_NONE UINT32_MAX
#define TIMER_C_MS (180u * 1000)	/* RFC 3261 §16.6 step 11: > 3 min */
#define TRYING_MS 200			/* RFC 3261 §17.2.1 */
#define BRANCH_MAX 48

enum c_state { C_TRYING, C_PROCEEDING, C_COMPLETED, C_ACCEPTED, C_DONE };
enum s_state { S_TRYING, S_PROCEEDING, S_COMPLETED, S_CONFIRMED, S_ACCEPTED,
	S_DONE };

/* A destination kept compactly: no sockaddr_storage, no conn pointer. */
struct peer {
	uint8_t side, kind;
	uint64_t conn_id;		/* 0: by address */
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} a;
};

/* One crossing of the gateway. Owned by its table. */
struct sg_txn {
	struct sg_txn *in_next, *out_next;	/* hash chains */
	struct sg_txn *lprev, *lnext;		/* the linger list */
	struct sg_txns *tt;
	uint32_t heap_idx;
	uint64_t due;				/* heap key */
	uint64_t in_hash, out_hash;
	bool in_hashed;				/* in the §17.2.3 table */
	bool lingering;
	bool invite;
	bool local;		/* our own CANCEL: responses never go upstream */
	bool up_udp, down_udp;
	bool cancelled;		/* the sender CANCELled it */
	bool cancel_sent;	/* we sent CANCEL downstream */
	uint8_t c_state, s_state;
	unsigned final;		/* final status sent upstream, 0 before */
	struct peer down;	/* where the request went */
	struct peer resp_to;	/* where the last response went (UDP) */
	char *req;		/* the request as we sent it */
	size_t req_len;
	char *ack;		/* our ACK for a non-2xx final */
	size_t ack_len;
	char *resp;		/* last response sent upstream (UDP) */
	size_t resp_len;
	uint64_t retx_at, resp_retx_at, timeout_at, trying_at, end_at;
	uint64_t c_end, s_end;	/* when each half may go, 0 = not yet */
	uint32_t retx_iv, resp_iv;
	uint8_t branch_len;
	char branch[BRANCH_MAX];
	uint16_t keylen;
	char key[];
};

struct sg_txns {
	struct sg_svc *svc;
	const struct sg_txn_ops *ops;	/* the proxy above (sg_txn_init) */
	uv_timer_t timer;
	uint64_t armed;			/* due of the armed timer, 0: none */
	size_t mask;
	struct sg_txn **in_tab, **out_tab;
	struct sg_txn **heap;
	uint32_t nheap, capheap;
	struct sg_txn *lhead, *ltail;
	uint64_t seed;
	struct sg_ratelimit rl_cap;
	/* §18.1.1: requests moved to TCP whose connection is not up yet, and
	 * next hops whose TCP failed (UDP for them, for a while). */
	struct tcp_try {
		char branch[BRANCH_MAX];
		uint8_t blen;
		bool invite;
		struct peer udp;
	} tries[64];
	unsigned ntry;
	struct no_tcp {
		struct peer udp;
		uint64_t until;
	} no_tcp[64];
	unsigned nno_tcp;
	/* Counters. */
	uint64_t active, created, retrans, absorbed, timeouts, acks, cancels,
	    evicted, cap_hits, via_tcp, via_udp, too_large;
};

#define NO_TCP_MS (600u * 1000)	/* remember a next hop without TCP */

static struct sg_sip_msg scratch;	/* parses of our own stored requests */

/* Timers from the service's configuration (RFC 3261 §17.1.1.1; the
 * defaults are cfg.c's). */
static uint64_t t1(const struct sg_txns *tt)
{
	return tt->svc->cfg->timer_t1;
}

static uint64_t t2(const struct sg_txns *tt)
{
	return tt->svc->cfg->timer_t2;
}

static uint64_t t4(const struct sg_txns *tt)
{
	return tt->svc->cfg->timer_t4;
}

static uint64_t now_ms(const struct sg_txns *tt)
{
	return uv_now(tt->svc->gw->loop);
}

/* FNV-1a, 64 bit, seeded per process: the keys come from the network. */
static uint64_t hash_bytes(uint64_t seed, const char *p, size_t n)
{
	uint64_t h = 14695981039346656037ull ^ seed;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (uint8_t)p[i];
		h *= 1099511628211ull;
	}
	return h ^ (h >> 29);
}

/* The deadline heap. */

static bool heap_less(const struct sg_txns *tt, uint32_t a, uint32_t b)
{
	return tt->heap[a]->due < tt->heap[b]->due;
}

static void heap_swap(struct sg_txns *tt, uint32_t a, uint32_t b)
{
	struct sg_txn *x = tt->heap[a];

	tt->heap[a] = tt->heap[b];
	tt->heap[b] = x;
	tt->heap[a]->heap_idx = a;
	tt->heap[b]->heap_idx = b;
}

static void heap_up(struct sg_txns *tt, uint32_t i)
{
	while (i > 0 && heap_less(tt, i, (i - 1) / 2)) {
		heap_swap(tt, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct sg_txns *tt, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < tt->nheap && heap_less(tt, l, m))
			m = l;
		if (r < tt->nheap && heap_less(tt, r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(tt, i, m);
		i = m;
	}
}

static void heap_remove(struct sg_txns *tt, struct sg_txn *t)
{
	uint32_t i = t->heap_idx;

	if (i == HEAP_NONE)
		return;
	t->heap_idx = HEAP_NONE;
	if (i == --tt->nheap)
		return;
	tt->heap[i] = tt->heap[tt->nheap];
	tt->heap[i]->heap_idx = i;
	heap_up(tt, i);
	heap_down(tt, tt->heap[i]->heap_idx);
}

static int heap_push(struct sg_txns *tt, struct sg_txn *t)
{
	if (tt->nheap == tt->capheap) {
		uint32_t cap = tt->capheap ? 2 * tt->capheap : 1024;
		struct sg_txn **h = realloc(tt->heap, cap * sizeof(*h));

		if (h == NULL)
			return -ENOMEM;
		tt->heap = h;
		tt->capheap = cap;
	}
	t->heap_idx = tt->nheap;
	tt->heap[tt->nheap++] = t;
	heap_up(tt, t->heap_idx);
	return 0;
}

static uint64_t min_nz(uint64_t a, uint64_t b)
{
	return a == 0 ? b : b == 0 ? a : a < b ? a : b;
}

/* Put t in the heap at its earliest deadline. */
static void schedule(struct sg_txn *t)
{
	struct sg_txns *tt = t->tt;
	uint64_t due = min_nz(min_nz(min_nz(t->retx_at, t->resp_retx_at),
	    min_nz(t->timeout_at, t->trying_at)), t->end_at);

	if (due == 0)		/* cannot happen: something always ends it */
		due = now_ms(tt) + 64 * t1(tt);
	if (t->heap_idx != HEAP_NONE && due == t->due)
		return;
	t->due = due;
	if (t->heap_idx == HEAP_NONE) {
		if (heap_push(tt, t) < 0)
			t->heap_idx = HEAP_NONE;	/* see sg_txn_close */
		return;
	}
	heap_up(tt, t->heap_idx);
	heap_down(tt, t->heap_idx);
}

static void on_timer(uv_timer_t *h);
static struct sg_txn *out_lookup(struct sg_txns *tt, struct sg_str branch,
				 bool local);

/* Arm the one libuv timer for the earliest deadline. */
static void arm(struct sg_txns *tt)
{
	uint64_t now, due;

	if (tt->nheap == 0) {
		if (tt->armed) {
			uv_timer_stop(&tt->timer);
			tt->armed = 0;
		}
		return;
	}
	due = tt->heap[0]->due;
	if (tt->armed == due)
		return;
	now = now_ms(tt);
	uv_timer_start(&tt->timer, on_timer, due > now ? due - now : 0, 0);
	tt->armed = due;
}

/* Hash tables and the linger list. */

static struct sg_txn **in_slot(struct sg_txns *tt, uint64_t h)
{
	return &tt->in_tab[h & tt->mask];
}

static struct sg_txn **out_slot(struct sg_txns *tt, uint64_t h)
{
	return &tt->out_tab[h & tt->mask];
}

static uint64_t out_hash(const struct sg_txns *tt, const char *b, size_t n,
			 bool local)
{
	return hash_bytes(tt->seed, b, n) ^ (local ? 0x9e3779b97f4a7c15ull : 0);
}

static void unlink_chain(struct sg_txn **slot, struct sg_txn *t, bool in)
{
	struct sg_txn **pp;

	for (pp = slot; *pp; pp = in ? &(*pp)->in_next : &(*pp)->out_next)
		if (*pp == t) {
			*pp = in ? t->in_next : t->out_next;
			return;
		}
}

static void linger_unlink(struct sg_txns *tt, struct sg_txn *t)
{
	if (!t->lingering)
		return;
	if (t->lprev)
		t->lprev->lnext = t->lnext;
	else
		tt->lhead = t->lnext;
	if (t->lnext)
		t->lnext->lprev = t->lprev;
	else
		tt->ltail = t->lprev;
	t->lprev = t->lnext = NULL;
	t->lingering = false;
}

static void txn_free(struct sg_txn *t)
{
	struct sg_txns *tt = t->tt;

	if (t->in_hashed)
		unlink_chain(in_slot(tt, t->in_hash), t, true);
	unlink_chain(out_slot(tt, t->out_hash), t, false);
	heap_remove(tt, t);
	linger_unlink(tt, t);
	free(t->req);
	free(t->ack);
	free(t->resp);
	free(t);
	tt->active--;
}

static void drop_req(struct sg_txn *t)
{
	free(t->req);
	t->req = NULL;
	t->req_len = 0;
}

static void drop_resp(struct sg_txn *t)
{
	free(t->resp);
	t->resp = NULL;
	t->resp_len = 0;
}

/*
 * Both halves are finished: the transaction lingers until end_at to
 * absorb late retransmissions, keeping only what that needs.
 */
static void check_end(struct sg_txn *t)
{
	struct sg_txns *tt = t->tt;

	if (t->c_end == 0 || t->s_end == 0 || t->lingering)
		return;
	t->end_at = t->c_end > t->s_end ? t->c_end : t->s_end;
	t->retx_at = t->resp_retx_at = t->timeout_at = t->trying_at = 0;
	/* A request that timed out may still see a late non-2xx to ACK. */
	if (t->c_state != C_DONE)
		drop_req(t);
	if (t->s_state != S_COMPLETED)
		drop_resp(t);
	t->lingering = true;
	t->lprev = tt->ltail;
	t->lnext = NULL;
	if (tt->ltail)
		tt->ltail->lnext = t;
	else
		tt->lhead = t;
	tt->ltail = t;
}

static uint64_t end_time(uint64_t now, uint64_t after)
{
	return now + after ? now + after : 1;
}

/* Sending. */

static void peer_set(struct peer *p, const struct sg_dest *d)
{
	memset(p, 0, sizeof(*p));
	p->side = (uint8_t)d->side;
	p->kind = (uint8_t)d->kind;
	p->conn_id = d->conn ? d->conn->id : 0;
	memcpy(&p->a, &d->addr, d->addr.ss_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
}

static int peer_send(struct sg_txns *tt, const struct peer *p, const char *buf,
		     size_t len)
{
	struct sg_dest d;

	memset(&d, 0, sizeof(d));
	d.side = p->side;
	d.kind = p->kind;
	memcpy(&d.addr, &p->a, p->a.sa.sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	if (p->conn_id)
		d.conn = sg_xport_find_conn_id(tt->svc, p->conn_id);
	return sg_xport_send(tt->svc, &d, buf, len);
}

static int keep_copy(char **dst, size_t *dlen, const char *buf, size_t len)
{
	char *p = malloc(len);

	if (p == NULL)
		return -ENOMEM;
	memcpy(p, buf, len);
	free(*dst);
	*dst = p;
	*dlen = len;
	return 0;
}

struct wb {			/* a small output builder */
	char *p;
	size_t len, cap;
	bool overflow;
};

static void wb_put(struct wb *b, const char *p, size_t n)
{
	if (b->overflow || b->len + n > b->cap) {
		b->overflow = true;
		return;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void wb_str(struct wb *b, struct sg_str s)
{
	wb_put(b, s.p, s.len);
}

static void wb_cstr(struct wb *b, const char *s)
{
	wb_put(b, s, strlen(s));
}

/*
 * ACK (for a non-2xx final, §17.1.1.3) or CANCEL (§9.1) for the INVITE we
 * sent: its Request-URI, only our Via, its Route set, From, Call-ID and
 * CSeq number; To from the response for an ACK. Returns the length, or 0.
 */
static size_t build_from_invite(struct sg_txn *t, const char *method,
				const struct sg_sip_hdr *resp_to, char *out,
				size_t cap)
{
	struct sg_perr err;
	struct sg_str rest, top;
	struct wb b = { out, 0, cap, false };
	char line[64];
	unsigned i;
	bool via_done = false;

	if (t->req == NULL ||
	    sg_sip_parse(&scratch, t->req, t->req_len, true, &err) < 0)
		return 0;
	wb_cstr(&b, method);
	wb_cstr(&b, " ");
	wb_str(&b, scratch.ruri);
	wb_cstr(&b, " SIP/2.0\r\n");
	for (i = 0; i < scratch.nhdrs; i++) {
		const struct sg_sip_hdr *h = &scratch.hdrs[i];

		switch (h->id) {
		case SG_SIP_HDR_VIA:
			if (via_done)
				break;
			via_done = true;
			rest = h->value;
			if (!sg_sip_list_next(&rest, &top))
				return 0;
			wb_cstr(&b, "Via: ");
			wb_str(&b, top);
			wb_cstr(&b, "\r\n");
			break;
		case SG_SIP_HDR_ROUTE:
		case SG_SIP_HDR_FROM:
		case SG_SIP_HDR_CALL_ID:
			wb_str(&b, h->raw);
			break;
		case SG_SIP_HDR_TO:
			wb_str(&b, resp_to ? resp_to->raw : h->raw);
			break;
		default:
			break;
		}
	}
	snprintf(line, sizeof(line), "CSeq: %u %s\r\n", scratch.cseq_num,
	    method);
	wb_cstr(&b, line);
	wb_cstr(&b, "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
	return b.overflow || !via_done ? 0 : b.len;
}

static struct sg_txn *txn_alloc(struct sg_txns *tt, const char *key,
				size_t keylen)
{
	struct sg_txn *t = calloc(1, sizeof(*t) + keylen);

	if (t == NULL)
		return NULL;
	t->tt = tt;
	t->heap_idx = HEAP_NONE;
	t->keylen = (uint16_t)keylen;
	memcpy(t->key, key, keylen);
	tt->active++;
	tt->created++;
	return t;
}

static void out_insert(struct sg_txn *t, const char *branch, size_t n,
		       bool local)
{
	struct sg_txns *tt = t->tt;
	struct sg_txn **slot;

	if (n > sizeof(t->branch))
		n = sizeof(t->branch);
	memcpy(t->branch, branch, n);
	t->branch_len = (uint8_t)n;
	t->local = local;
	t->out_hash = out_hash(tt, branch, n, local);
	slot = out_slot(tt, t->out_hash);
	t->out_next = *slot;
	*slot = t;
}

/* RFC 3261 §9.1 and §16.10: CANCEL the INVITE we forwarded. */
static void send_cancel(struct sg_txn *t)
{
	struct sg_txns *tt = t->tt;
	char buf[8192];
	struct sg_txn *c;
	size_t n;
	uint64_t now = now_ms(tt);

	t->cancel_sent = true;
	if ((n = build_from_invite(t, "CANCEL", NULL, buf, sizeof(buf))) == 0)
		return;
	/* Its own non-INVITE client transaction, without a server half:
	 * the sender's CANCEL was answered here already. */
	if ((c = txn_alloc(tt, "", 0)) != NULL) {
		c->down = t->down;
		c->down_udp = t->down_udp;
		c->c_state = C_TRYING;
		c->s_state = S_DONE;
		c->s_end = end_time(now, 0);
		c->timeout_at = now + 64 * t1(tt);
		if (c->down_udp && keep_copy(&c->req, &c->req_len, buf, n) == 0) {
			c->retx_at = now + t1(tt);
			c->retx_iv = (uint32_t)t1(tt);
		}
		out_insert(c, t->branch, t->branch_len, true);
		schedule(c);
	}
	if (peer_send(tt, &t->down, buf, n) < 0)
		log_debug("%s: could not send CANCEL", tt->svc->cfg->name);
}

/* RFC 3261 §17.1.1.3: ACK a non-2xx final ourselves, hop by hop. */
static void send_ack(struct sg_txn *t, const struct sg_sip_msg *resp)
{
	struct sg_txns *tt = t->tt;
	char buf[8192];
	size_t n;

	if (t->ack == NULL) {
		n = build_from_invite(t, "ACK",
		    sg_sip_hdr_find(resp, SG_SIP_HDR_TO), buf, sizeof(buf));
		if (n == 0 || keep_copy(&t->ack, &t->ack_len, buf, n) < 0)
			return;
		tt->acks++;
	}
	peer_send(tt, &t->down, t->ack, t->ack_len);
}

/* Timers. */

static void client_timeout(struct sg_txn *t, uint64_t now)
{
	struct sg_txns *tt = t->tt;
	bool prov = t->c_state == C_PROCEEDING;
	char a[64];

	t->c_state = C_DONE;
	t->retx_at = 0;
	t->c_end = end_time(now, 0);
	if (t->local)
		return;		/* our CANCEL got no answer: nothing to say */
	tt->timeouts++;
	log_info("%s: %s to %s: no %s (timer %s): answering %u",
	    tt->svc->cfg->name, t->invite ? "INVITE" : "request",
	    sg_addr_str(&t->down.a.sa, a, sizeof(a)),
	    prov ? "final response" : "response",
	    t->invite ? prov ? "C" : "B" : "F", t->cancelled ? 487 : 408);
	/* §16.8: Timer C cancels the branch. */
	if (t->invite && prov && !t->cancel_sent)
		send_cancel(t);
	/* §16.7 step 6: behave as if the next hop had answered 408. */
	if (t->req && t->final == 0)
		tt->ops->respond_upstream(tt->svc, (enum sg_side)t->down.side,
		    (enum sg_xport_kind)t->down.kind, t->req, t->req_len,
		    t->cancelled ? 487 : 408);
}

static void txn_fire(struct sg_txn *t, uint64_t now)
{
	struct sg_txns *tt = t->tt;

	if (t->trying_at && t->trying_at <= now) {
		t->trying_at = 0;
		/* §17.2.1: no provisional within 200 ms: 100 Trying. */
		if (t->final == 0 && t->s_state == S_TRYING && t->req)
			tt->ops->respond_upstream(tt->svc,
			    (enum sg_side)t->down.side,
			    (enum sg_xport_kind)t->down.kind, t->req,
			    t->req_len, 100);
	}
	if (t->retx_at && t->retx_at <= now) {
		/* Timers A and E (§17.1.1.2, §17.1.2.2). */
		if (t->req && peer_send(tt, &t->down, t->req, t->req_len) == 0)
			tt->retrans++;
		if (t->invite)
			t->retx_iv *= 2;
		else if (t->c_state == C_PROCEEDING)
			t->retx_iv = (uint32_t)t2(tt);
		else
			t->retx_iv = (uint32_t)SG_MIN(2 * (uint64_t)t->retx_iv,
			    t2(tt));
		t->retx_at = now + t->retx_iv;
	}
	if (t->resp_retx_at && t->resp_retx_at <= now) {
		/* Timer G (§17.2.1): the non-2xx final until the ACK. */
		if (t->resp && peer_send(tt, &t->resp_to, t->resp,
		    t->resp_len) == 0)
			tt->retrans++;
		t->resp_iv = (uint32_t)SG_MIN(2 * (uint64_t)t->resp_iv, t2(tt));
		t->resp_retx_at = now + t->resp_iv;
	}
	if (t->timeout_at && t->timeout_at <= now) {
		t->timeout_at = 0;
		if (t->c_state < C_COMPLETED) {
			client_timeout(t, now);	/* B, F or C */
		} else if (t->s_state == S_COMPLETED && t->invite) {
			/* Timer H: the ACK never came. */
			t->s_state = S_DONE;
			t->resp_retx_at = 0;
			t->s_end = end_time(now, 0);
		}
		check_end(t);
	}
	if (t->end_at && t->end_at <= now) {
		txn_free(t);
		return;
	}
	schedule(t);
}

static void on_timer(uv_timer_t *h)
{
	struct sg_txns *tt = container_of(h, struct sg_txns, timer);
	uint64_t now = now_ms(tt);
	unsigned n = 0;

	tt->armed = 0;
	while (tt->nheap > 0 && tt->heap[0]->due <= now && n++ < 10000) {
		struct sg_txn *t = tt->heap[0];

		/* Keep it queued: a response made up in txn_fire finds it. */
		txn_fire(t, now);
	}
	arm(tt);
}

/* Set-up. */

int sg_txn_init(struct sg_svc *svc, const struct sg_txn_ops *ops)
{
	struct sg_txns *tt = calloc(1, sizeof(*tt));
	size_t n = 1024;
	unsigned cap = svc->cfg->max_transactions;

	if (tt == NULL)
		return -ENOMEM;
	tt->ops = ops;
	while (n < cap && n < (1u << 20))
		n *= 2;
	tt->svc = svc;
	tt->mask = n - 1;
	tt->in_tab = calloc(n, sizeof(*tt->in_tab));
	tt->out_tab = calloc(n, sizeof(*tt->out_tab));
	if (tt->in_tab == NULL || tt->out_tab == NULL ||
	    gnutls_rnd(GNUTLS_RND_NONCE, &tt->seed, sizeof(tt->seed)) < 0) {
		free(tt->in_tab);
		free(tt->out_tab);
		free(tt);
		return -ENOMEM;
	}
	uv_timer_init(svc->gw->loop, &tt->timer);
	svc->txn = tt;
	return 0;
}

static void table_on_close(uv_handle_t *h)
{
	struct sg_txns *tt = container_of((uv_timer_t *)h, struct sg_txns,
	    timer);

	free(tt->in_tab);
	free(tt->out_tab);
	free(tt->heap);
	free(tt);
}

void sg_txn_close(struct sg_svc *svc)
{
	struct sg_txns *tt = svc->txn;
	size_t i;

	if (tt == NULL)
		return;
	svc->txn = NULL;
	/* Every transaction is in the out table (and most in the heap). */
	for (i = 0; i <= tt->mask; i++)
		while (tt->out_tab[i])
			txn_free(tt->out_tab[i]);
	uv_timer_stop(&tt->timer);
	uv_close((uv_handle_t *)&tt->timer, table_on_close);
}

void sg_txn_counters(struct sg_svc *svc, sg_counter_fn fn, void *arg)
{
	const struct sg_txns *tt = svc->txn;

	if (tt == NULL)
		return;
#define C(x, name, help) fn(arg, name, help, false, tt->x)
	fn(arg, "txn_active", "SIP transactions held now", true, tt->active);
	C(created, "txn_created", "SIP transactions created (a UDP leg)");
	C(retrans, "txn_retransmissions",
	    "requests and responses the gateway retransmitted on UDP");
	C(absorbed, "txn_absorbed",
	    "retransmitted requests answered here, not forwarded");
	C(timeouts, "txn_timeouts", "requests answered 408 (no response)");
	C(acks, "txn_acks", "ACKs for non-2xx finals sent hop by hop");
	C(cancels, "txn_cancels", "CANCELs handled per RFC 3261 16.10");
	C(evicted, "txn_evicted",
	    "finished transactions dropped early at max-transactions");
	C(cap_hits, "txn_cap_hits",
	    "requests forwarded statelessly: max-transactions reached");
	C(via_tcp, "udp_too_large_tcp",
	    "requests too large for UDP sent by TCP (RFC 3261 18.1.1)");
	C(via_udp, "udp_too_large_udp",
	    "requests too large for UDP sent by UDP: the next hop has no TCP");
	C(too_large, "udp_too_large_513",
	    "requests too large for UDP refused with 513");
#undef C
}

/* Requests. */

/*
 * The §17.2.3 key of a request, for method class cls (ACK and CANCEL look
 * for their INVITE): branch and sent-by with the magic cookie, else the
 * RFC 2543 fields. Also the side it came from: a spiral crosses twice.
 */
/* Append to a key; false when it does not fit. */
static bool key_put(struct sg_txn_req *tr, const char *p, size_t n)
{
	if (tr->keylen + n > sizeof(tr->key))
		return false;
	memcpy(tr->key + tr->keylen, p, n);
	tr->keylen += n;
	return true;
}

static bool make_key(const struct sg_txns *tt, const struct sg_src *src,
		     const struct sg_sip_msg *m, struct sg_str cls,
		     struct sg_txn_req *tr)
{
	const struct sg_sip_hdr *vh = sg_sip_hdr_find(m, SG_SIP_HDR_VIA);
	struct sg_str rest, top;
	struct sg_sip_via v;
	char side = src->side == SG_SIDE_INSIDE ? 'i' : 'o';
	int n;

	tr->keyed = false;
	tr->keylen = 0;
	if (vh == NULL)
		return false;
	rest = vh->value;
	if (!sg_sip_list_next(&rest, &top) || sg_sip_via_parse(top, &v) < 0)
		return false;
	if (v.branch.len > 7 && memcmp(v.branch.p, SG_BRANCH_MAGIC, 7) == 0) {
		/* The common case, without printf: side, method, branch,
		 * sent-by host and port (binary). */
		if (!key_put(tr, &side, 1) || !key_put(tr, cls.p, cls.len) ||
		    !key_put(tr, "|", 1) ||
		    !key_put(tr, v.branch.p, v.branch.len) ||
		    !key_put(tr, "|", 1) || !key_put(tr, v.host.p, v.host.len) ||
		    !key_put(tr, (const char *)&v.port, sizeof(v.port)))
			return false;
		n = (int)tr->keylen;
	} else {
		const struct sg_sip_hdr *f = sg_sip_hdr_find(m, SG_SIP_HDR_FROM);
		struct sg_sip_naddr na;
		struct sg_str tag = SG_STR_NULL;

		if (f && sg_sip_naddr_parse(f->value, &na) == 0)
			sg_sip_param_get(na.params, "tag", &tag);
		n = snprintf(tr->key, sizeof(tr->key),
		    "%c|%.*s|2543|%.*s|%.*s|%u|%.*s|%.*s",
		    src->side == SG_SIDE_INSIDE ? 'i' : 'o', SG_STR_FMT(cls),
		    SG_STR_FMT(m->ruri), SG_STR_FMT(m->call_id), m->cseq_num,
		    SG_STR_FMT(tag), SG_STR_FMT(top));
	}
	if (n < 0 || (size_t)n >= sizeof(tr->key))
		return false;
	tr->keylen = (size_t)n;
	tr->hash = hash_bytes(tt->seed, tr->key, tr->keylen);
	tr->keyed = true;
	return true;
}

static struct sg_txn *in_lookup(struct sg_txns *tt,
				const struct sg_txn_req *tr)
{
	struct sg_txn *t;

	for (t = *in_slot(tt, tr->hash); t; t = t->in_next)
		if (t->in_hash == tr->hash && t->keylen == tr->keylen &&
		    memcmp(t->key, tr->key, tr->keylen) == 0)
			return t;
	return NULL;
}

/* An ACK that matches an INVITE transaction (§17.2.3). */
static enum sg_txn_verdict on_ack(struct sg_txn *t, uint64_t now)
{
	struct sg_txns *tt = t->tt;

	if (t->final < 300)
		return SG_TXN_FORWARD;	/* ACK for 2xx: end to end */
	if (t->s_state == S_COMPLETED) {
		/* Timer I: absorb ACK retransmissions for T4 (UDP). */
		t->s_state = S_CONFIRMED;
		t->resp_retx_at = 0;
		t->timeout_at = 0;
		drop_resp(t);
		t->s_end = end_time(now, t->up_udp ? t4(tt) : 0);
		check_end(t);
		schedule(t);
	}
	return SG_TXN_DONE;	/* our own ACK went downstream already */
}

/* RFC 3261 §16.10: a CANCEL for an INVITE we hold. */
static void on_cancel(struct sg_txns *tt, struct sg_txn *t,
		      const struct sg_src *src, const struct sg_sip_msg *m)
{
	tt->ops->reply(tt->svc, src, m, 200, NULL);
	if (t->cancelled || t->final) {
		if (t->cancelled)
			tt->absorbed++;
		return;
	}
	t->cancelled = true;
	tt->cancels++;
	/* §9.1: not before a provisional response; then at once. */
	if (t->c_state == C_PROCEEDING)
		send_cancel(t);
}

enum sg_txn_verdict sg_txn_on_request(struct sg_svc *svc,
				      const struct sg_src *src,
				      const struct sg_sip_msg *m,
				      struct sg_txn_req *tr)
{
	struct sg_txns *tt = svc->txn;
	bool ack = sg_str_caseeq_lit(m->method, "ACK");
	bool cancel = sg_str_caseeq_lit(m->method, "CANCEL");
	enum sg_txn_verdict v = SG_TXN_FORWARD;
	struct sg_txn *t;

	tr->keyed = false;
	if (tt == NULL || (!svc->cfg->transactions && tt->active == 0))
		return SG_TXN_FORWARD;	/* nothing to match, nothing to make */
	if (!make_key(tt, src, m, ack || cancel ? SG_STR("INVITE") :
	    m->method, tr))
		return SG_TXN_FORWARD;
	t = in_lookup(tt, tr);
	if (ack) {
		if (t)
			v = on_ack(t, now_ms(tt));
	} else if (cancel) {
		if (t && t->invite) {
			on_cancel(tt, t, src, m);
			v = SG_TXN_DONE;
		}
		tr->keyed = false;	/* a stateless CANCEL keeps no state */
	} else if (t) {
		/* A retransmission: it does not cross again (§17.2.1/2). */
		tt->absorbed++;
		if (t->resp && t->s_state != S_ACCEPTED)
			peer_send(tt, &t->resp_to, t->resp, t->resp_len);
		else if (t->trying_at)
			t->trying_at = now_ms(tt);	/* the 100 now */
		schedule(t);
		v = SG_TXN_DONE;
	}
	arm(tt);
	return v;
}

/*
 * Our Via in buf says `from` ("/UDP"): make it `to` ("/TCP"), in place
 * (same length). Our Via is the row that carries our branch.
 */
static bool via_set(char *buf, size_t len, const char *branch,
		    const char *from, const char *to)
{
	char pat[BRANCH_MAX + 16];
	char *p, *q, *end = buf + len;
	int n = snprintf(pat, sizeof(pat), ";branch=%s", branch);

	if (n < 0 || (size_t)n >= sizeof(pat) ||
	    (p = memmem(buf, len, pat, (size_t)n)) == NULL)
		return false;
	/* Back to the start of that line, then find "/UDP" in it. */
	for (q = p; q > buf && q[-1] != '\n'; q--)
		;
	for (; q + 4 <= p && q < end; q++)
		if (memcmp(q, from, 4) == 0) {
			memcpy(q, to, 4);
			return true;
		}
	return false;
}

static bool inside_takes_tcp(const struct sg_svc *svc)
{
	unsigned i;

	for (i = 0; i < svc->cfg->naccept; i++)
		if (svc->cfg->accept[i].kind == SG_XPORT_TCP)
			return true;
	return false;
}

static bool peer_addr_eq(const struct peer *a, const struct peer *b)
{
	return sg_addr_eq(&a->a.sa, &b->a.sa);
}

static bool no_tcp_known(struct sg_txns *tt, const struct peer *p)
{
	uint64_t now = now_ms(tt);
	unsigned i;

	for (i = 0; i < SG_ARRAY_SIZE(tt->no_tcp); i++)
		if (tt->no_tcp[i].until > now &&
		    peer_addr_eq(&tt->no_tcp[i].udp, p))
			return true;
	return false;
}

/* Our branch: the top Via of a message we built. */
static bool our_branch(const char *buf, size_t len, char *out, size_t cap)
{
	struct sg_sip_via v;
	struct sg_str rest, top;
	struct sg_perr err;

	if (sg_sip_parse(&scratch, buf, len, true, &err) < 0 ||
	    scratch.first[SG_SIP_HDR_VIA] < 0)
		return false;
	rest = scratch.hdrs[scratch.first[SG_SIP_HDR_VIA]].value;
	if (!sg_sip_list_next(&rest, &top) || sg_sip_via_parse(top, &v) < 0 ||
	    v.branch.len >= cap)
		return false;
	memcpy(out, v.branch.p, v.branch.len);
	out[v.branch.len] = '\0';
	return true;
}

/*
 * §18.1.1: the next hop gets it by TCP when our inside takes TCP. If that
 * connection cannot be made (refused, reset), §18.1.1 says to retry over
 * UDP: sg_txn_on_send_fail() does, and the next hop is then reached over
 * UDP for NO_TCP_MS. Without TCP on the inside: 513.
 */
unsigned sg_txn_fit_udp(struct sg_svc *svc, struct sg_dest *d, char *buf,
			size_t len)
{
	struct sg_txns *tt = svc->txn;
	char branch[BRANCH_MAX];
	struct tcp_try *tr;
	struct peer udp;

	if (d->kind != SG_XPORT_UDP || len <= SG_TXN_UDP_MAX)
		return 0;
	if (!inside_takes_tcp(svc) || tt == NULL) {
		if (tt)
			tt->too_large++;
		return 513;
	}
	peer_set(&udp, d);
	if (no_tcp_known(tt, &udp)) {
		tt->via_udp++;
		return 0;
	}
	if (!our_branch(buf, len, branch, sizeof(branch)) ||
	    !via_set(buf, len, branch, "/UDP", "/TCP")) {
		tt->too_large++;
		return 513;
	}
	d->kind = SG_XPORT_TCP;
	d->conn = NULL;
	tt->via_tcp++;
	tr = &tt->tries[tt->ntry++ % SG_ARRAY_SIZE(tt->tries)];
	tr->blen = (uint8_t)strlen(branch);
	memcpy(tr->branch, branch, tr->blen);
	tr->invite = buf[0] == 'I';
	tr->udp = udp;
	return 0;
}

/*
 * A message queued on a connection that failed. When it is a request we
 * moved to TCP (§18.1.1), send it over UDP after all, with a client
 * transaction for its retransmissions, and remember that next hop.
 * Returns true when it is handled here.
 */
bool sg_txn_on_send_fail(struct sg_svc *svc, const char *buf, size_t len)
{
	static char copy[SG_SIP_MAX_MSG];
	struct sg_txns *tt = svc->txn;
	char branch[BRANCH_MAX];
	struct tcp_try *tr = NULL;
	struct sg_txn *t;
	unsigned i;
	uint64_t now;

	if (tt == NULL || len > sizeof(copy) || len <= SG_TXN_UDP_MAX ||
	    !our_branch(buf, len, branch, sizeof(branch)))
		return false;
	for (i = 0; i < SG_ARRAY_SIZE(tt->tries); i++)
		if (tt->tries[i].blen == strlen(branch) &&
		    memcmp(tt->tries[i].branch, branch, tt->tries[i].blen) == 0)
			tr = &tt->tries[i];
	if (tr == NULL)
		return false;
	tr->blen = 0;
	now = now_ms(tt);
	tt->no_tcp[tt->nno_tcp++ % SG_ARRAY_SIZE(tt->no_tcp)] =
	    (struct no_tcp){ tr->udp, now + NO_TCP_MS };
	memcpy(copy, buf, len);
	via_set(copy, len, branch, "/TCP", "/UDP");
	tt->via_udp++;
	log_info("%s: no TCP to %s: sending the %zu-byte request over UDP"
	    " (RFC 3261 18.1.1)", svc->cfg->name, sg_addr_str(&tr->udp.a.sa,
	    (char[64]){ 0 }, 64), len);
	/* Retransmissions on UDP now: the transaction's, or a new one. */
	t = out_lookup(tt, sg_str_make(branch, strlen(branch)), false);
	if (t == NULL && (t = txn_alloc(tt, "", 0)) != NULL) {
		t->invite = tr->invite;
		t->c_state = C_TRYING;
		t->s_state = S_TRYING;
		t->timeout_at = now + 64 * t1(tt);
		out_insert(t, branch, strlen(branch), false);
	}
	if (t && t->c_state < C_COMPLETED) {
		t->down = tr->udp;
		t->down_udp = true;
		if (keep_copy(&t->req, &t->req_len, copy, len) == 0) {
			t->retx_at = now + t1(tt);
			t->retx_iv = (uint32_t)t1(tt);
		}
		schedule(t);
		arm(tt);
	}
	peer_send(tt, &tr->udp, copy, len);
	return true;
}

/* Evict the oldest lingering transaction; false when none lingers. */
static bool evict_one(struct sg_txns *tt)
{
	if (tt->lhead == NULL)
		return false;
	tt->evicted++;
	txn_free(tt->lhead);
	return true;
}

void sg_txn_on_forwarded(struct sg_svc *svc, const struct sg_src *src,
			 const struct sg_sip_msg *m,
			 const struct sg_txn_req *tr, const struct sg_dest *d,
			 const char *branch, const char *buf, size_t len)
{
	struct sg_txns *tt = svc->txn;
	unsigned cap = svc->cfg->max_transactions;
	bool up_udp = src->kind == SG_XPORT_UDP;
	bool down_udp = d->kind == SG_XPORT_UDP;
	struct sg_txn *t, **slot;
	uint64_t now;

	if (tt == NULL || !tr->keyed || !svc->cfg->transactions ||
	    (!up_udp && !down_udp) || sg_str_caseeq_lit(m->method, "ACK") ||
	    sg_str_caseeq_lit(m->method, "CANCEL"))
		return;		/* stateless where both legs are reliable */
	if (tt->active >= cap && !evict_one(tt)) {
		tt->cap_hits++;
		log_ratelimited(&tt->rl_cap, LOG_WARNING, "%s: max-transactions"
		    " (%u) reached: forwarding statelessly", svc->cfg->name,
		    cap);
		return;
	}
	if ((t = txn_alloc(tt, tr->key, tr->keylen)) == NULL)
		return;
	now = now_ms(tt);
	t->invite = sg_str_caseeq_lit(m->method, "INVITE");
	t->up_udp = up_udp;
	t->down_udp = down_udp;
	peer_set(&t->down, d);
	t->c_state = C_TRYING;
	t->s_state = S_TRYING;
	t->timeout_at = now + 64 * t1(tt);		/* B or F */
	if ((t->invite || down_udp) &&
	    keep_copy(&t->req, &t->req_len, buf, len) < 0) {
		free(t);
		tt->active--;
		return;
	}
	if (down_udp) {
		t->retx_at = now + t1(tt);		/* A or E */
		t->retx_iv = (uint32_t)t1(tt);
	}
	t->in_hash = tr->hash;
	slot = in_slot(tt, t->in_hash);
	t->in_next = *slot;
	*slot = t;
	t->in_hashed = true;
	out_insert(t, branch, strlen(branch), false);
	/*
	 * §17.2.1: 100 Trying when no provisional came within 200 ms (before
	 * a UDP phone's first retransmission at T1 = 500 ms); at once when
	 * the sender retransmits before that (sg_txn_on_request).
	 */
	if (t->invite)
		t->trying_at = now + TRYING_MS;
	schedule(t);
	arm(tt);
}

/* Responses. */

static struct sg_txn *out_lookup(struct sg_txns *tt, struct sg_str branch,
				 bool local)
{
	uint64_t h = out_hash(tt, branch.p, branch.len, local);
	struct sg_txn *t;

	for (t = *out_slot(tt, h); t; t = t->out_next)
		if (t->out_hash == h && t->local == local &&
		    t->branch_len == branch.len &&
		    memcmp(t->branch, branch.p, branch.len) == 0)
			return t;
	return NULL;
}

static enum sg_txn_verdict response_final(struct sg_txn *t,
					  const struct sg_sip_msg *m,
					  uint64_t now, struct sg_txn **out)
{
	struct sg_txns *tt = t->tt;
	bool ok = m->status < 300;

	if (t->c_state >= C_COMPLETED) {
		/* A retransmitted final, or one after our own 408. */
		if (t->invite && ok)
			return SG_TXN_FORWARD;	/* 2xx: end to end */
		if (t->invite)
			send_ack(t, m);
		tt->absorbed++;
		return SG_TXN_DONE;
	}
	t->retx_at = 0;
	t->timeout_at = 0;
	if (t->invite && !ok) {
		send_ack(t, m);
		t->c_state = C_COMPLETED;		/* Timer D */
		t->c_end = end_time(now, t->down_udp ? 64 * t1(tt) : 0);
	} else if (t->invite) {
		t->c_state = C_ACCEPTED;	/* 2xx pass on by Via */
		t->c_end = end_time(now, 0);
	} else {
		t->c_state = C_COMPLETED;		/* Timer K */
		t->c_end = end_time(now, t->down_udp ? t4(tt) : 0);
	}
	check_end(t);
	schedule(t);
	if (t->final && !(t->invite && ok))
		return SG_TXN_DONE;	/* we answered already (408) */
	*out = t;
	return SG_TXN_FORWARD;
}

enum sg_txn_verdict sg_txn_on_response(struct sg_svc *svc,
				       const struct sg_sip_msg *m,
				       struct sg_str branch, bool injected,
				       struct sg_txn **out)
{
	struct sg_txns *tt = svc->txn;
	bool cancel = sg_str_caseeq_lit(m->cseq_method, "CANCEL");
	enum sg_txn_verdict v = SG_TXN_FORWARD;
	struct sg_txn *t;
	uint64_t now;

	*out = NULL;
	if (tt == NULL ||
	    (t = out_lookup(tt, branch, cancel && !injected)) == NULL)
		return SG_TXN_FORWARD;
	now = now_ms(tt);
	if (t->local) {
		/* The answer to our own CANCEL stops its timers; no more. */
		if (m->status >= 200 && t->c_state < C_COMPLETED) {
			t->c_state = C_COMPLETED;
			t->retx_at = t->timeout_at = 0;
			t->c_end = end_time(now, t->down_udp ? t4(tt) : 0);
			check_end(t);
			schedule(t);
		}
		v = SG_TXN_DONE;
	} else if (t->invite != sg_str_caseeq_lit(m->cseq_method, "INVITE")) {
		v = SG_TXN_FORWARD;	/* not this transaction's answer */
	} else if (injected) {
		if (m->status >= 200 && t->c_state < C_COMPLETED) {
			t->c_state = C_DONE;
			t->retx_at = t->timeout_at = 0;
			t->c_end = end_time(now, 0);
			schedule(t);
		}
		*out = t;
	} else if (m->status < 200) {
		if (t->c_state == C_TRYING) {
			t->c_state = C_PROCEEDING;
			if (t->invite) {
				t->retx_at = 0;	/* §17.1.1.2: stop A */
				t->timeout_at = now + TIMER_C_MS;
				if (t->cancelled && !t->cancel_sent)
					send_cancel(t);
			} else if (t->retx_at) {
				t->retx_iv = (uint32_t)t2(tt);
			}
			schedule(t);
		}
		/* §16.7 step 3: 100 is hop by hop; nothing after a final. */
		if (m->status == 100 || t->final)
			v = SG_TXN_DONE;
		else
			*out = t;
	} else {
		v = response_final(t, m, now, out);
	}
	arm(tt);
	return v;
}

void sg_txn_on_response_sent(struct sg_svc *svc, struct sg_txn *t,
			     unsigned status, const struct sg_dest *d,
			     const char *buf, size_t len)
{
	struct sg_txns *tt = svc->txn;
	uint64_t now;

	if (t == NULL || tt == NULL)
		return;
	now = now_ms(tt);
	t->trying_at = 0;
	if (t->up_udp) {
		peer_set(&t->resp_to, d);
		if (t->final == 0 && !(t->invite && status >= 200 &&
		    status < 300))
			keep_copy(&t->resp, &t->resp_len, buf, len);
	}
	if (status < 200) {
		if (t->s_state == S_TRYING)
			t->s_state = S_PROCEEDING;
	} else if (t->final == 0) {
		t->final = status;
		if (t->invite && status < 300) {
			/* RFC 6026 Accepted (Timer L): absorb, never resend. */
			t->s_state = S_ACCEPTED;
			drop_resp(t);
			t->s_end = end_time(now, t->up_udp ? 64 * t1(tt) : 0);
		} else if (t->invite) {
			/* Timer G on UDP, Timer H until the ACK. */
			t->s_state = S_COMPLETED;
			if (t->up_udp) {
				t->resp_iv = (uint32_t)t1(tt);
				t->resp_retx_at = now + t->resp_iv;
			}
			t->timeout_at = now + 64 * t1(tt);
		} else {
			/* Timer J: resend the final to retransmissions. */
			t->s_state = S_COMPLETED;
			t->s_end = end_time(now, t->up_udp ? 64 * t1(tt) : 0);
		}
		check_end(t);
	}
	schedule(t);
	arm(tt);
}
