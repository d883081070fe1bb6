/* SPDX-License-Identifier: MIT */
/*
 * xport_hop.c: a service's next hops (the `connect` keys). A literal
 * address is used as it is; a name is resolved as RFC 3263 says (resolve.c)
 * and its targets are tried in order (failover, §4.3). The outside connect
 * target gets a persistent TLS link, re-established at once, then with
 * back-off.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "xport_int.h"

#define SG_LINK_BACKOFF_MAX 30
#define SG_LINK_CONNECT_TIMEOUT 3	/* seconds for connect + handshake */

static int connect_resolve(struct sg_svc *svc, int side);

/* Point the side's next hop at target cur of its RFC 3263 list. */
static void connect_use(struct sg_svc *svc, int side)
{
	struct sg_connect_name *cn = &svc->cname[side];
	struct sockaddr_storage any;

	svc->connect_addr[side] = cn->t[cn->cur].addr;
	if (svc->adv_host[side][0] == '\0')
		sg_hop_route_source(&svc->connect_addr[side], svc->adv_host[side],
		    sizeof(svc->adv_host[side]));
	/* A UDP next hop is reached from a socket of ours. */
	if (svc->connect_kind[side] == SG_XPORT_UDP &&
	    sg_udp_sock_for(svc, svc->connect_addr[side].ss_family) == NULL) {
		sg_addr_parse(svc->connect_addr[side].ss_family == AF_INET6 ?
		    "::" : "0.0.0.0", 0, &any);
		if (sg_sock_open(svc, SG_XPORT_UDP, side, &any) == 0 &&
		    svc->adv_port[side] == 0)
			svc->adv_port[side] = sg_addr_port((const struct sockaddr *)
			    &svc->socks[svc->nsocks - 1].addr);
	}
}

static void connect_on_resolved(void *arg, int status,
				const struct sg_target *t, unsigned n)
{
	struct sg_connect_name *cn = arg;
	struct sg_svc *svc = cn->svc;
	const struct sg_cfg_endpoint *ep = NULL;
	char a[64];
	unsigned i;

	cn->resolving = false;
	for (i = 0; i < svc->cfg->nconnect; i++)
		if ((svc->cfg->connect[i].kind == SG_XPORT_TLS) ==
		    (cn->side == SG_SIDE_OUTSIDE))
			ep = &svc->cfg->connect[i];
	if (status < 0 || n == 0) {
		log_warnx("%s: connect %s: cannot resolve (%s): trying again in"
		    " 10 s", svc->cfg->name, ep ? ep->host : "?",
		    strerror(-status));
		cn->retry_ms = uv_now(svc->gw->loop) + 10000;
		return;
	}
	cn->n = SG_MIN(n, SG_RESOLVE_MAX_TARGETS);
	memcpy(cn->t, t, cn->n * sizeof(*t));
	cn->cur = 0;
	for (i = 0; i < cn->n; i++)
		log_info("%s: connect %s: target %u of %u: %s (%s)",
		    svc->cfg->name, ep ? ep->host : "?", i + 1, cn->n,
		    sg_addr_str((const struct sockaddr *)&cn->t[i].addr, a,
		    sizeof(a)), cn->t[i].target);
	connect_use(svc, cn->side);
	if (cn->side == SG_SIDE_OUTSIDE && svc->link == NULL)
		svc->link_next_try_ms = 0;
}

/* Start (or restart) the RFC 3263 resolution of a side's connect. */
static int connect_resolve(struct sg_svc *svc, int side)
{
	struct sg_connect_name *cn = &svc->cname[side];
	const struct sg_cfg_endpoint *ep = NULL;
	unsigned i;
	int rc;

	for (i = 0; i < svc->cfg->nconnect; i++)
		if ((svc->cfg->connect[i].kind == SG_XPORT_TLS) ==
		    (side == SG_SIDE_OUTSIDE))
			ep = &svc->cfg->connect[i];
	if (ep == NULL || svc->gw->resolver == NULL)
		return -EINVAL;
	rc = sg_resolve(svc->gw->resolver, ep->host, ep->port_given ?
	    ep->port : 0, ep->kind, connect_on_resolved, cn);
	if (rc < 0) {
		log_warnx("%s: connect %s: %s", svc->cfg->name, ep->host,
		    strerror(-rc));
		return rc;
	}
	cn->resolving = true;
	return 0;
}

/*
 * The link to the current target failed before it was up: move to the
 * next target of the list (RFC 3263 §4.3 failover); after the last, look
 * the name up again.
 */
static void connect_failover(struct sg_svc *svc)
{
	struct sg_connect_name *cn = &svc->cname[SG_SIDE_OUTSIDE];

	if (!cn->by_name || cn->n == 0)
		return;
	if (cn->cur + 1 < cn->n) {
		cn->cur++;
		connect_use(svc, SG_SIDE_OUTSIDE);
		svc->link_next_try_ms = 0;	/* the next one, at once */
		svc->link_backoff_s = 0;
		return;
	}
	cn->cur = 0;
	cn->n = 0;			/* all failed: ask the DNS again */
	if (!cn->resolving)
		connect_resolve(svc, SG_SIDE_OUTSIDE);
}

/*
 * The local address the kernel would use toward dst: a connected UDP
 * socket sends nothing, but getsockname() then tells the source address.
 */
void sg_hop_route_source(const struct sockaddr_storage *dst, char *host,
			 size_t len)
{
	struct sockaddr_storage local;
	socklen_t sl = sizeof(local);
	int fd = socket(dst->ss_family, SOCK_DGRAM, 0);

	if (fd < 0)
		return;
	if (connect(fd, (const struct sockaddr *)dst,
	    dst->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&local, &sl) == 0)
		sg_addr_host((const struct sockaddr *)&local, host, len);
	close(fd);
}

/*
 * The connect keys: each side's next hop. A literal address is used at
 * once (an inside UDP next hop gets a socket of ours to send from); a
 * name is resolved per RFC 3263, asynchronously (c-ares).
 */
int sg_hop_start(struct sg_svc *svc)
{
	const struct sg_cfg_service *cfg = svc->cfg;
	struct sockaddr_storage a;
	unsigned i;
	int rc;

	for (i = 0; i < cfg->nconnect; i++) {
		const struct sg_cfg_endpoint *ep = &cfg->connect[i];
		enum sg_side side = ep->kind == SG_XPORT_TLS ?
		    SG_SIDE_OUTSIDE : SG_SIDE_INSIDE;

		svc->has_connect[side] = true;
		svc->connect_kind[side] = ep->kind;
		if (sg_addr_parse(ep->host, ep->port,
		    &svc->connect_addr[side]) < 0) {
			svc->cname[side].svc = svc;
			svc->cname[side].side = side;
			svc->cname[side].by_name = true;
			if ((rc = connect_resolve(svc, side)) < 0)
				return rc;
			continue;
		}
		if (svc->adv_host[side][0] == '\0')
			sg_hop_route_source(&svc->connect_addr[side],
			    svc->adv_host[side], sizeof(svc->adv_host[side]));
		/* Inside UDP next hop: send from a socket of ours. */
		if (ep->kind == SG_XPORT_UDP &&
		    sg_udp_sock_for(svc, svc->connect_addr[side].ss_family) ==
		    NULL) {
			sg_addr_parse(svc->connect_addr[side].ss_family ==
			    AF_INET6 ? "::" : "0.0.0.0", 0, &a);
			if ((rc = sg_sock_open(svc, SG_XPORT_UDP, side, &a)) < 0)
				return rc;
			if (svc->adv_port[side] == 0)
				svc->adv_port[side] = sg_addr_port(
				    (const struct sockaddr *)
				    &svc->socks[svc->nsocks - 1].addr);
			svc->inside_kind = SG_XPORT_UDP;
		}
	}
	if (svc->has_connect[SG_SIDE_OUTSIDE])
		svc->link_next_try_ms = 0;	/* connect on the first tick */
	return 0;
}

void sg_hop_stop(struct sg_svc *svc)
{
	unsigned i;

	for (i = 0; i < 2; i++)
		if (svc->cname[i].resolving && svc->gw->resolver)
			sg_resolve_cancel(svc->gw->resolver, connect_on_resolved,
			    &svc->cname[i]);
}

/*
 * Once a second: names to resolve again, and the persistent link to the
 * TLS connect target: opened when it is missing, closed and tried again
 * when it is not up after SG_LINK_CONNECT_TIMEOUT (its SYN or handshake
 * lost on a cut path), so that it comes back within seconds of the path,
 * not at the kernel's next SYN retry.
 */
void sg_hop_tick(struct sg_svc *svc, uint64_t now)
{
	struct sg_conn *c;

	for (int side = 0; side < 2; side++) {
		struct sg_connect_name *cn = &svc->cname[side];

		if (cn->by_name && cn->n == 0 && !cn->resolving &&
		    now >= cn->retry_ms)
			connect_resolve(svc, side);
	}
	if (svc->cname[SG_SIDE_OUTSIDE].by_name &&
	    svc->cname[SG_SIDE_OUTSIDE].n == 0)
		;	/* no address yet */
	else if (svc->has_connect[SG_SIDE_OUTSIDE] && svc->link == NULL &&
	    now >= svc->link_next_try_ms) {
		svc->link = sg_conn_connect(svc, SG_SIDE_OUTSIDE, SG_XPORT_TLS,
		    (const struct sockaddr *)&svc->connect_addr[1]);
		if (svc->link)
			svc->link->is_connect_target = true;
		else
			svc->link_next_try_ms = now + 1000;
	}
	c = svc->link;
	if (c && !c->ready && !c->closing &&
	    now - c->last_rx_ms >= SG_LINK_CONNECT_TIMEOUT * 1000) {
		svc->st.conn_fail++;
		sg_conn_close(c, "link not up in time");
	}
}

/*
 * The link closed (sg_conn_close). One that never came up moves to the
 * next target of the list; it is re-established at once the first time,
 * then with back-off up to SG_LINK_BACKOFF_MAX seconds.
 */
void sg_hop_link_closed(struct sg_svc *svc, struct sg_conn *c)
{
	svc->link = NULL;
	if (!c->ready) {
		connect_failover(svc);
		if (svc->cname[SG_SIDE_OUTSIDE].by_name &&
		    svc->link_next_try_ms == 0)
			return;		/* the next target, at once */
	}
	svc->link_next_try_ms = sg_xport_now(svc) +
	    (uint64_t)svc->link_backoff_s * 1000;
	svc->link_backoff_s = svc->link_backoff_s ?
	    SG_MIN(svc->link_backoff_s * 2, SG_LINK_BACKOFF_MAX) : 1;
}

/* No connection toward d: d is the outside connect and no link is up. */
struct sg_conn *sg_hop_link_for(struct sg_svc *svc, const struct sg_dest *d)
{
	if (d->side != SG_SIDE_OUTSIDE || !svc->has_connect[1] ||
	    svc->link != NULL || !sg_addr_eq((const struct sockaddr *)&d->addr,
	    (const struct sockaddr *)&svc->connect_addr[1]))
		return NULL;
	svc->link = sg_conn_connect(svc, d->side, d->kind,
	    (const struct sockaddr *)&d->addr);
	if (svc->link)
		svc->link->is_connect_target = true;
	return svc->link;
}
