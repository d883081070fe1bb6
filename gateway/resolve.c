/* SPDX-License-Identifier: MIT */
/*
 * resolve.c: RFC 3263 section 4 for a client with the transport already
 * chosen: NAPTR ("SIPS+D2T", "SIP+D2T", "SIP+D2U", flag "s"), then SRV
 * (RFC 2782: priority, then weighted random order), then A/AAAA. c-ares
 * runs on the libuv loop (one uv_poll_t per c-ares socket, one uv_timer_t
 * for ares_timeout()); nothing here blocks and nothing logs above debug.
 *
 * The NAPTR query, the SRV query on the transport's own name and the
 * A/AAAA lookup of the host are sent together; their answers are then used
 * in RFC 3263 order, so a step that finds nothing costs no extra round
 * trip. A NAPTR or SRV query that fails (time-out, SERVFAIL, refused)
 * counts as "no records"; the result is an error only when the last step
 * used has none.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ares.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "addr.h"
#include "log.h"
#include "resolve.h"

#define MAX_FOLLOW 4		/* NAPTR records followed */
#define MAX_SRV 16		/* SRV records kept per set */
#define MAX_ADDRS 8		/* addresses kept per name */
#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_TRIES 2

/* A name to locate: the host itself or one SRV target, and what it gave. */
struct tgt {
	struct rq *q;
	char name[256];
	uint16_t port, prio, weight;
	bool started, done;
	int status;
	unsigned naddr;
	struct sockaddr_storage addr[MAX_ADDRS];
};

/* One NAPTR or SRV query. */
struct slot {
	struct rq *q;
	char name[272];		/* room for "_sips._tcp." + any host */
	bool started, done;
	int status;
	bool usable;		/* NAPTR: follow[] was filled */
	bool dot;		/* SRV: only "." (RFC 2782: not available) */
	struct tgt *srv;	/* SRV: records in the order to try them */
	unsigned nsrv;
};

enum phase { PH_NAPTR, PH_FOLLOW, PH_SRV, PH_HOST, PH_TARGETS };

/* One sg_resolve() call. Owned by the resolver; freed once delivered and
 * no c-ares callback is outstanding. */
struct rq {
	struct sg_resolver *r;
	TAILQ_ENTRY(rq) entry;	/* r->queries while not delivered */
	TAILQ_ENTRY(rq) dentry;	/* r->done: finished, not delivered */
	char host[256];
	uint16_t port;		/* explicit, or 0 */
	enum sg_xport_kind kind;
	sg_resolve_cb cb;
	void *arg;
	enum phase phase;
	unsigned pending;	/* c-ares calls not yet called back */
	bool finished, delivered, busy, again;
	int status;
	struct slot naptr, srv;
	struct slot fslot[MAX_FOLLOW];
	struct slot *follow[MAX_FOLLOW];	/* fslot[i] or &srv */
	unsigned nfollow;
	struct tgt hostt;	/* A/AAAA of host */
	struct tgt *tg;		/* SRV targets being located */
	unsigned ntg;
	struct sg_target *res;
	unsigned nres;
};

struct rpoll {
	uv_poll_t poll;
	struct sg_resolver *r;
	ares_socket_t fd;
	TAILQ_ENTRY(rpoll) entry;
};

struct sg_resolver {
	uv_loop_t *loop;
	ares_channel channel;
	bool have_channel;
	uv_timer_t timer;	/* ares_timeout() */
	uv_timer_t defer;	/* delivers r->done */
	TAILQ_HEAD(, rpoll) polls;
	TAILQ_HEAD(, rq) queries;
	TAILQ_HEAD(, rq) done;
	unsigned handles;	/* uv handles not yet closed */
	bool closing, freeing;
};

static void advance(struct rq *q);
static void rearm(struct sg_resolver *r);

static int map_ares(int st)
{
	switch (st) {
	case ARES_SUCCESS:
		return 0;
	case ARES_ENODATA:
	case ARES_ENOTFOUND:
	case ARES_ENONAME:
	case ARES_EBADNAME:
		return -ENOENT;
	case ARES_ETIMEOUT:
		return -ETIMEDOUT;
	case ARES_ENOMEM:
		return -ENOMEM;
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		return -ECANCELED;
	default:		/* SERVFAIL, REFUSED, ECONNREFUSED, ... */
		return -EAGAIN;
	}
}

static uint16_t default_port(enum sg_xport_kind kind)
{
	return sg_xport_default_port(kind);
}

static const char *naptr_service(enum sg_xport_kind kind)
{
	switch (kind) {
	case SG_XPORT_TLS:
		return "SIPS+D2T";
	case SG_XPORT_TCP:
		return "SIP+D2T";
	default:
		return "SIP+D2U";
	}
}

static const char *srv_prefix(enum sg_xport_kind kind)
{
	switch (kind) {
	case SG_XPORT_TLS:
		return "_sips._tcp.";
	case SG_XPORT_TCP:
		return "_sip._tcp.";
	default:
		return "_sip._udp.";
	}
}

static void tgt_add_addr(struct tgt *t, int family, const void *raw)
{
	struct sockaddr_storage ss;
	unsigned i;

	if (t->naddr >= MAX_ADDRS)
		return;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, raw, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, raw, 16);
	}
	sg_addr_set_port(&ss, t->port);
	for (i = 0; i < t->naddr; i++)
		if (sg_addr_eq((const struct sockaddr *)&t->addr[i],
		    (const struct sockaddr *)&ss))
			return;
	t->addr[t->naddr++] = ss;
}

/* ---- the loop side: sockets and timer ---------------------------------- */

static void on_handle_close(uv_handle_t *h)
{
	struct sg_resolver *r = h->data;

	if (h->type == UV_POLL)
		free(container_of((uv_poll_t *)h, struct rpoll, poll));
	if (--r->handles == 0 && r->freeing)
		free(r);
}

static void rpoll_close(struct rpoll *p)
{
	TAILQ_REMOVE(&p->r->polls, p, entry);
	uv_close((uv_handle_t *)&p->poll, on_handle_close);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct rpoll *p = container_of(h, struct rpoll, poll);
	struct sg_resolver *r = p->r;
	ares_socket_t fd = p->fd;

	if (status < 0)		/* let c-ares find the socket's error */
		events = UV_READABLE | UV_WRITABLE;
	ares_process_fd(r->channel,
			(events & UV_READABLE) ? fd : ARES_SOCKET_BAD,
			(events & UV_WRITABLE) ? fd : ARES_SOCKET_BAD);
	rearm(r);
}

/* c-ares tells which of its sockets to watch, and for what. */
static void on_sock_state(void *data, ares_socket_t fd, int readable,
			  int writable)
{
	struct sg_resolver *r = data;
	struct rpoll *p;
	int events, rc;

	events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);

	TAILQ_FOREACH(p, &r->polls, entry)
		if (p->fd == fd)
			break;
	if (events == 0) {
		if (p != NULL)	/* before c-ares closes fd */
			rpoll_close(p);
		return;
	}
	if (p == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL) {
			log_warnx("resolve: out of memory for a socket");
			return;
		}
		if ((rc = uv_poll_init_socket(r->loop, &p->poll, fd)) < 0) {
			log_warnx("resolve: uv_poll_init_socket: %s",
				  uv_strerror(rc));
			free(p);
			return;
		}
		p->poll.data = r;
		p->r = r;
		p->fd = fd;
		r->handles++;
		TAILQ_INSERT_TAIL(&r->polls, p, entry);
	}
	if ((rc = uv_poll_start(&p->poll, events, on_poll)) < 0)
		log_warnx("resolve: uv_poll_start: %s", uv_strerror(rc));
}

static void on_timer(uv_timer_t *h)
{
	struct sg_resolver *r = h->data;

	ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm(r);
}

static void rearm(struct sg_resolver *r)
{
	struct timeval tv, *tvp;
	uint64_t ms;

	if (r->closing)
		return;
	if ((tvp = ares_timeout(r->channel, NULL, &tv)) == NULL) {
		uv_timer_stop(&r->timer);
		return;
	}
	ms = (uint64_t)tvp->tv_sec * 1000 +
	     ((uint64_t)tvp->tv_usec + 999) / 1000;
	uv_timer_start(&r->timer, on_timer, ms, 0);
}

/* ---- lifetime of one resolution ---------------------------------------- */

static void rq_free(struct rq *q)
{
	unsigned i;

	free(q->naptr.srv);
	free(q->srv.srv);
	for (i = 0; i < MAX_FOLLOW; i++)
		free(q->fslot[i].srv);
	free(q->tg);
	free(q->res);
	free(q);
}

/* A c-ares callback of q came back: free q if that was the last thing. */
static bool rq_put(struct rq *q)
{
	q->pending--;
	if (q->delivered && q->pending == 0) {
		rq_free(q);
		return true;
	}
	return false;
}

static void on_defer(uv_timer_t *h);

static void finish(struct rq *q, int status)
{
	struct sg_resolver *r = q->r;

	if (q->finished)
		return;
	q->finished = true;
	q->status = status;
	TAILQ_INSERT_TAIL(&r->done, q, dentry);
	if (!uv_is_active((uv_handle_t *)&r->defer))
		uv_timer_start(&r->defer, on_defer, 0, 0);
}

/*
 * Hand q to its owner (or not: cb == NULL) and let it go. q is freed here,
 * or by the last of its c-ares callbacks still outstanding.
 */
static void deliver(struct rq *q, int status)
{
	struct sg_resolver *r = q->r;

	if (q->finished)
		TAILQ_REMOVE(&r->done, q, dentry);
	TAILQ_REMOVE(&r->queries, q, entry);
	q->finished = q->delivered = true;	/* advance() stops for good */
	q->pending++;		/* hold q: cb may sg_resolver_free() */
	if (q->cb != NULL) {
		if (status < 0)
			q->cb(q->arg, status, NULL, 0);
		else
			q->cb(q->arg, 0, q->res, q->nres);
	}
	rq_put(q);
}

static void on_defer(uv_timer_t *h)
{
	struct sg_resolver *r = h->data;
	struct rq *q;

	while (!r->closing && (q = TAILQ_FIRST(&r->done)) != NULL)
		deliver(q, q->status);
}

/* ---- results ----------------------------------------------------------- */

static int res_add(struct rq *q, const struct tgt *t)
{
	struct sg_target *o;
	unsigned i, j;

	for (i = 0; i < t->naddr && q->nres < SG_RESOLVE_MAX_TARGETS; i++) {
		for (j = 0; j < q->nres; j++)
			if (sg_addr_eq((const struct sockaddr *)&q->res[j].addr,
			    (const struct sockaddr *)&t->addr[i]))
				break;
		if (j < q->nres)
			continue;
		if (q->res == NULL)
			q->res = calloc(SG_RESOLVE_MAX_TARGETS,
					 sizeof(*q->res));
		if (q->res == NULL)
			return -ENOMEM;
		o = &q->res[q->nres++];
		o->addr = t->addr[i];
		o->kind = q->kind;
		snprintf(o->host, sizeof(o->host), "%s", q->host);
		snprintf(o->target, sizeof(o->target), "%s", t->name);
	}
	return 0;
}

/* ---- A/AAAA ------------------------------------------------------------ */

static void on_addrinfo(void *arg, int status, int timeouts,
			struct ares_addrinfo *ai)
{
	struct tgt *t = arg;
	struct rq *q = t->q;
	struct ares_addrinfo_node *n;
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	(void)timeouts;
	t->done = true;
	t->status = map_ares(status);
	if (status == ARES_SUCCESS && ai != NULL) {
		for (n = ai->nodes; n != NULL; n = n->ai_next) {
			sin = (const struct sockaddr_in *)n->ai_addr;
			sin6 = (const struct sockaddr_in6 *)n->ai_addr;
			if (n->ai_family == AF_INET)
				tgt_add_addr(t, AF_INET, &sin->sin_addr);
			else if (n->ai_family == AF_INET6)
				tgt_add_addr(t, AF_INET6, &sin6->sin6_addr);
		}
		if (t->naddr == 0)
			t->status = -ENOENT;
	}
	if (ai != NULL)
		ares_freeaddrinfo(ai);
	log_debug("resolve: %s A/AAAA: %u address(es), %s", t->name, t->naddr,
		  t->status < 0 ? strerror(-t->status) : "ok");
	if (!rq_put(q))
		advance(q);
}

static void start_addr(struct rq *q, struct tgt *t)
{
	struct ares_addrinfo_hints hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = q->kind == SG_XPORT_UDP ? SOCK_DGRAM : SOCK_STREAM;
	t->q = q;
	t->started = true;
	q->pending++;
	ares_getaddrinfo(q->r->channel, t->name, NULL, &hints, on_addrinfo, t);
}

/* ---- SRV --------------------------------------------------------------- */

/* RFC 2782 ordering: by priority, then weighted random within each. */
static void srv_order(struct tgt *v, unsigned n)
{
	struct tgt tmp;
	unsigned i, j, start, end;
	uint32_t sum, run, rnd;

	for (i = 1; i < n; i++)		/* stable sort by priority */
		for (j = i; j > 0 && v[j - 1].prio > v[j].prio; j--) {
			tmp = v[j];
			v[j] = v[j - 1];
			v[j - 1] = tmp;
		}
	for (start = 0; start < n; start = end) {
		end = start;
		while (end < n && v[end].prio == v[start].prio)
			end++;
		/* Weight 0 first among the unordered, as the RFC says. */
		for (i = start + 1; i < end; i++)
			for (j = i; j > start && v[j - 1].weight != 0 &&
			     v[j].weight == 0; j--) {
				tmp = v[j];
				v[j] = v[j - 1];
				v[j - 1] = tmp;
			}
		for (i = start; i + 1 < end; i++) {
			sum = 0;
			for (j = i; j < end; j++)
				sum += v[j].weight;
			rnd = 0;
			if (sum > 0 && gnutls_rnd(GNUTLS_RND_NONCE, &rnd,
						  sizeof(rnd)) < 0)
				rnd = (uint32_t)rand();
			rnd %= sum + 1;
			run = 0;
			for (j = i; j < end; j++) {
				run += v[j].weight;
				if (run >= rnd)
					break;
			}
			if (j == end)
				j = end - 1;
			tmp = v[j];	/* the pick to i, the rest after */
			memmove(&v[i + 1], &v[i], (j - i) * sizeof(*v));
			v[i] = tmp;
		}
	}
}

static bool rr_skip_name(const unsigned char *abuf, int alen,
			 const unsigned char **p, char **name)
{
	long len;
	char *s;

	if (ares_expand_name(*p, abuf, alen, &s, &len) != ARES_SUCCESS)
		return false;
	if (name != NULL)
		*name = s;
	else
		ares_free_string(s);
	*p += len;
	return *p <= abuf + alen;
}

/*
 * Addresses of the SRV targets from the additional section of the SRV
 * answer (RFC 2782: "Implementors are urged ... to use" them), so a server
 * that sends them saves a round trip per target.
 */
static void srv_additional(const unsigned char *abuf, int alen, struct tgt *v,
			   unsigned n)
{
	const unsigned char *p = abuf + NS_HFIXEDSZ, *end = abuf + alen;
	unsigned qd, an, ns, ar, i, j, type, cls, rdlen;
	char *name;

	if (alen < NS_HFIXEDSZ)
		return;
	qd = abuf[4] << 8 | abuf[5];
	an = abuf[6] << 8 | abuf[7];
	ns = abuf[8] << 8 | abuf[9];
	ar = abuf[10] << 8 | abuf[11];
	for (i = 0; i < qd; i++) {
		if (!rr_skip_name(abuf, alen, &p, NULL) || end - p < 4)
			return;
		p += 4;
	}
	for (i = 0; i < an + ns + ar; i++) {
		name = NULL;
		if (!rr_skip_name(abuf, alen, &p, i < an + ns ? NULL : &name) ||
		    end - p < NS_RRFIXEDSZ)
			goto bad;
		type = p[0] << 8 | p[1];
		cls = p[2] << 8 | p[3];
		rdlen = p[8] << 8 | p[9];
		p += NS_RRFIXEDSZ;
		if (end - p < (long)rdlen)
			goto bad;
		if (name != NULL && cls == ns_c_in &&
		    ((type == ns_t_a && rdlen == 4) ||
		     (type == ns_t_aaaa && rdlen == 16))) {
			for (j = 0; j < n; j++)
				if (strcasecmp(v[j].name, name) == 0)
					tgt_add_addr(&v[j], type == ns_t_a ?
						     AF_INET : AF_INET6, p);
		}
		if (name != NULL)
			ares_free_string(name);
		p += rdlen;
	}
	return;
bad:
	if (name != NULL)
		ares_free_string(name);
}

static void on_srv(void *arg, int status, int timeouts, unsigned char *abuf,
		   int alen)
{
	struct slot *s = arg;
	struct rq *q = s->q;
	struct ares_srv_reply *reply = NULL, *it;
	struct tgt *t;
	unsigned n = 0, dots = 0;

	(void)timeouts;
	s->done = true;
	if (status == ARES_SUCCESS)
		status = ares_parse_srv_reply(abuf, alen, &reply);
	s->status = map_ares(status);
	for (it = reply; it != NULL; it = it->next)
		n++;
	if (n > MAX_SRV)
		n = MAX_SRV;
	if (n > 0 && (s->srv = calloc(n, sizeof(*s->srv))) == NULL) {
		s->status = -ENOMEM;
		n = 0;
	}
	for (it = reply; it != NULL && s->nsrv < n; it = it->next) {
		if (it->host[0] == '\0' || strcmp(it->host, ".") == 0) {
			dots++;
			continue;
		}
		t = &s->srv[s->nsrv++];
		t->q = q;
		snprintf(t->name, sizeof(t->name), "%s", it->host);
		t->port = it->port;
		t->prio = it->priority;
		t->weight = it->weight;
	}
	if (reply != NULL)
		ares_free_data(reply);
	s->dot = dots > 0 && s->nsrv == 0;
	if (s->nsrv > 0) {
		srv_order(s->srv, s->nsrv);
		srv_additional(abuf, alen, s->srv, s->nsrv);
	}
	log_debug("resolve: %s SRV: %u record(s)%s", s->name, s->nsrv,
		  s->dot ? ", \".\"" : "");
	if (!rq_put(q))
		advance(q);
}

static void start_srv(struct rq *q, struct slot *s)
{
	s->q = q;
	s->started = true;
	q->pending++;
	ares_query(q->r->channel, s->name, ns_c_in, ns_t_srv, on_srv, s);
}

/* ---- NAPTR ------------------------------------------------------------- */

static int naptr_cmp(const void *a, const void *b)
{
	const struct ares_naptr_reply *const *pa = a, *const *pb = b;
	const struct ares_naptr_reply *x = *pa, *y = *pb;

	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	if (x->preference != y->preference)
		return x->preference < y->preference ? -1 : 1;
	return 0;
}

static void on_naptr(void *arg, int status, int timeouts, unsigned char *abuf,
		     int alen)
{
	struct slot *s = arg;
	struct rq *q = s->q;
	struct ares_naptr_reply *reply = NULL, *it, *use[MAX_SRV];
	const char *svc = naptr_service(q->kind), *repl;
	unsigned n = 0, i, j;

	(void)timeouts;
	s->done = true;
	if (status == ARES_SUCCESS)
		status = ares_parse_naptr_reply(abuf, alen, &reply);
	s->status = map_ares(status);
	/* RFC 3263 4.1: the transport's service, flag "s" (an SRV next). */
	for (it = reply; it != NULL && n < MAX_SRV; it = it->next)
		if (strcasecmp((const char *)it->flags, "s") == 0 &&
		    strcasecmp((const char *)it->service, svc) == 0 &&
		    it->replacement[0] != '\0' &&
		    strcmp(it->replacement, ".") != 0)
			use[n++] = it;
	qsort(use, n, sizeof(use[0]), naptr_cmp);	/* ties: any order */
	for (i = 0; i < n && q->nfollow < MAX_FOLLOW; i++) {
		repl = use[i]->replacement;
		for (j = 0; j < q->nfollow; j++)
			if (strcasecmp(q->follow[j]->name, repl) == 0)
				break;
		if (j < q->nfollow)
			continue;
		if (strcasecmp(repl, q->srv.name) == 0) {	/* asked */
			q->follow[q->nfollow++] = &q->srv;
			continue;
		}
		snprintf(q->fslot[q->nfollow].name, sizeof(q->fslot[0].name),
			 "%s", repl);
		q->follow[q->nfollow] = &q->fslot[q->nfollow];
		q->nfollow++;
	}
	s->usable = q->nfollow > 0;
	if (reply != NULL)
		ares_free_data(reply);
	log_debug("resolve: %s NAPTR: %u usable for %s", s->name, q->nfollow,
		  svc);
	if (!rq_put(q))
		advance(q);
}

/* ---- the RFC 3263 state machine ---------------------------------------- */

/* Locate the SRV targets of sets[0..n), in that order. */
static int start_targets(struct rq *q, struct slot **sets, unsigned n)
{
	unsigned i, j, total = 0;

	for (i = 0; i < n; i++)
		total += sets[i]->nsrv;
	if ((q->tg = calloc(total, sizeof(*q->tg))) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		for (j = 0; j < sets[i]->nsrv; j++) {
			q->tg[q->ntg] = sets[i]->srv[j];
			q->tg[q->ntg].q = q;
			q->ntg++;
		}
	q->phase = PH_TARGETS;
	for (i = 0; i < q->ntg; i++) {
		if (q->tg[i].naddr > 0) {	/* the additional section */
			q->tg[i].started = q->tg[i].done = true;
			continue;
		}
		start_addr(q, &q->tg[i]);
	}
	return 0;
}

static void step(struct rq *q)
{
	struct slot *sets[MAX_FOLLOW];
	unsigned i, n = 0;
	int rc, err;

	switch (q->phase) {
	case PH_NAPTR:
		if (!q->naptr.done)
			return;
		if (!q->naptr.usable) {
			q->phase = PH_SRV;
			q->again = true;
			return;
		}
		q->phase = PH_FOLLOW;
		for (i = 0; i < q->nfollow; i++)
			if (!q->follow[i]->started)
				start_srv(q, q->follow[i]);
		q->again = true;
		return;
	case PH_FOLLOW:
		for (i = 0; i < q->nfollow; i++) {
			if (!q->follow[i]->done)
				return;
			if (q->follow[i]->nsrv > 0)
				sets[n++] = q->follow[i];
		}
		if (n == 0)
			q->phase = PH_SRV;	/* nothing behind NAPTRs */
		else if ((rc = start_targets(q, sets, n)) < 0)
			finish(q, rc);
		q->again = true;
		return;
	case PH_SRV:
		if (!q->srv.done)
			return;
		if (q->srv.nsrv > 0) {
			sets[0] = &q->srv;
			if ((rc = start_targets(q, sets, 1)) < 0)
				finish(q, rc);
		} else if (q->srv.dot) {
			finish(q, -ENOENT);
		} else {
			q->phase = PH_HOST;
		}
		q->again = true;
		return;
	case PH_HOST:
		if (!q->hostt.done)
			return;
		rc = q->hostt.status < 0 ? q->hostt.status : -ENOENT;
		if (q->hostt.naddr == 0)
			finish(q, rc);
		else if ((rc = res_add(q, &q->hostt)) < 0)
			finish(q, rc);
		else
			finish(q, 0);
		return;
	case PH_TARGETS:
		for (i = 0; i < q->ntg; i++)
			if (!q->tg[i].done)
				return;
		err = -ENOENT;
		for (i = 0; i < q->ntg; i++) {
			if ((rc = res_add(q, &q->tg[i])) < 0) {
				finish(q, rc);
				return;
			}
			if (q->tg[i].status == -ETIMEDOUT ||
			    (q->tg[i].status < 0 && err == -ENOENT))
				err = q->tg[i].status;
		}
		finish(q, q->nres > 0 ? 0 : err);
		return;
	}
}

/* Run the state machine as far as the answers at hand allow. Re-entrant:
 * c-ares may call back from inside a call made by step(). */
static void advance(struct rq *q)
{
	if (q->finished || q->r->closing)
		return;
	if (q->busy) {
		q->again = true;
		return;
	}
	q->busy = true;
	do {
		q->again = false;
		step(q);
	} while (q->again && !q->finished);
	q->busy = false;
}

/* ---- public API -------------------------------------------------------- */

/*
 * Make a resolver on loop, with the system's resolv.conf (servers, search,
 * ndots) and hosts file (A/AAAA only), and opts (NULL: 2000 ms, 2 tries).
 * Returns 0 and *out, or -ENOMEM / -EIO (c-ares could not start).
 */
int sg_resolver_new(uv_loop_t *loop, const struct sg_resolver_opts *opts,
		    struct sg_resolver **out)
{
	struct ares_options ao;
	struct sg_resolver *r;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	r->loop = loop;
	TAILQ_INIT(&r->polls);
	TAILQ_INIT(&r->queries);
	TAILQ_INIT(&r->done);
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		free(r);
		return rc == ARES_ENOMEM ? -ENOMEM : -EIO;
	}
	memset(&ao, 0, sizeof(ao));
	ao.sock_state_cb = on_sock_state;
	ao.sock_state_cb_data = r;
	ao.timeout = (int)(opts != NULL && opts->timeout_ms > 0 ?
			   opts->timeout_ms : DEFAULT_TIMEOUT_MS);
	ao.tries = (int)(opts != NULL && opts->tries > 0 ?
			 opts->tries : DEFAULT_TRIES);
	rc = ares_init_options(&r->channel, &ao, ARES_OPT_SOCK_STATE_CB |
			       ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		log_warnx("resolve: ares_init_options: %s", ares_strerror(rc));
		ares_library_cleanup();
		free(r);
		return rc == ARES_ENOMEM ? -ENOMEM : -EIO;
	}
	r->have_channel = true;
	uv_timer_init(loop, &r->timer);
	uv_timer_init(loop, &r->defer);
	r->timer.data = r->defer.data = r;
	r->handles = 2;
	*out = r;
	return 0;
}

/*
 * Cancel everything and release r. Every resolution not yet delivered
 * (and not sg_resolve_cancel()ed) gets its callback with -ECANCELED before
 * this returns; a callback may call sg_resolve() (it fails with
 * -ECANCELED) but must not free r again. The memory goes once the loop has
 * run the handles' close callbacks.
 */
void sg_resolver_free(struct sg_resolver *r)
{
	struct rpoll *p;
	struct rq *q;

	if (r == NULL || r->closing)
		return;
	r->closing = true;
	/* Calls every pending c-ares callback (EDESTRUCTION; they only drop
	 * their reference) and closes the sockets (on_sock_state 0, 0). */
	ares_destroy(r->channel);
	ares_library_cleanup();
	while ((q = TAILQ_FIRST(&r->queries)) != NULL)
		deliver(q, -ECANCELED);
	while ((p = TAILQ_FIRST(&r->polls)) != NULL)
		rpoll_close(p);
	r->freeing = true;
	uv_close((uv_handle_t *)&r->timer, on_handle_close);
	uv_close((uv_handle_t *)&r->defer, on_handle_close);
}


/*
 * Locate host for transport kind as RFC 3263 section 4 says: an IP literal
 * as it is; with port != 0 A/AAAA only (4.2); else NAPTR, SRV, A/AAAA. cb
 * gets the whole ordered list (SRV order, then each target's addresses)
 * for failover, always from the loop, never before this returns. Returns 0,
 * or -EINVAL / -ENOMEM / -ECANCELED (r is being freed), and then cb is
 * never called.
 */
int sg_resolve(struct sg_resolver *r, const char *host, uint16_t port,
	       enum sg_xport_kind kind, sg_resolve_cb cb, void *arg)
{
	struct sockaddr_storage ss;
	struct rq *q;
	size_t len;

	if (r == NULL || host == NULL || cb == NULL)
		return -EINVAL;
	if (r->closing)
		return -ECANCELED;
	len = strlen(host);
	if (len > 0 && host[len - 1] == '.')	/* absolute: drop the dot */
		len--;
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host++;				/* an IPv6 literal, bracketed */
		len -= 2;
	}
	if (len == 0 || len > 253)
		return -EINVAL;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -ENOMEM;
	q->r = r;
	memcpy(q->host, host, len);
	q->port = port;
	q->kind = kind;
	q->cb = cb;
	q->arg = arg;
	q->busy = true;		/* no step() before all is started */
	TAILQ_INSERT_TAIL(&r->queries, q, entry);

	snprintf(q->hostt.name, sizeof(q->hostt.name), "%s", q->host);
	q->hostt.port = port != 0 ? port : default_port(kind);
	if (sg_addr_parse(q->host, 0, &ss) == 0) {
		q->hostt.naddr = 1;
		q->hostt.addr[0] = ss;
		sg_addr_set_port(&q->hostt.addr[0], q->hostt.port);
		q->hostt.started = q->hostt.done = true;
		q->phase = PH_HOST;
	} else if (port != 0) {
		q->phase = PH_HOST;
		start_addr(q, &q->hostt);
	} else {
		q->phase = PH_NAPTR;
		q->naptr.q = q;
		snprintf(q->naptr.name, sizeof(q->naptr.name), "%s", q->host);
		snprintf(q->srv.name, sizeof(q->srv.name), "%s%s",
			 srv_prefix(kind), q->host);
		q->naptr.started = true;
		q->pending++;
		ares_query(r->channel, q->naptr.name, ns_c_in, ns_t_naptr,
			   on_naptr, &q->naptr);
		start_srv(q, &q->srv);
		start_addr(q, &q->hostt);
	}
	q->busy = false;
	advance(q);
	rearm(r);
	return 0;
}

/*
 * Forget the resolutions started with (cb, arg) that have not called back:
 * they never will. For an owner that goes away first. Returns how many.
 */
unsigned sg_resolve_cancel(struct sg_resolver *r, sg_resolve_cb cb, void *arg)
{
	struct rq *q, *next;
	unsigned n = 0;

	if (r == NULL)
		return 0;
	for (q = TAILQ_FIRST(&r->queries); q != NULL; q = next) {
		next = TAILQ_NEXT(q, entry);
		if (q->cb == cb && q->arg == arg) {
			q->cb = NULL;
			deliver(q, -ECANCELED);
			n++;
		}
	}
	return n;
}
