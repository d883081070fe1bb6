/* SPDX-License-Identifier: MIT */
/*
 * xport.c: a service's sockets at run time, the public face of the
 * transport (DESIGN §3 transport rules): start (listeners and next hops),
 * stop, the once-a-second tick, and sg_xport_send(), where every SIP
 * message leaves: nothing plain on the outside, nothing TLS on the inside,
 * and the egress check the service registered on every message. The work
 * is in xport_udp.c, xport_stream.c, xport_raw.c and xport_hop.c; what
 * arrives goes up through the callbacks of struct sg_xport_ops.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xport_int.h"

int sg_xport_send(struct sg_svc *svc, const struct sg_dest *d,
		  const char *buf, size_t len)
{
	struct sg_conn *c = NULL;
	int rc;

	/* Nothing plain ever leaves the outside. */
	if (d->side == SG_SIDE_OUTSIDE && d->kind != SG_XPORT_TLS) {
		svc->st.send_fail++;
		return -EPROTO;
	}
	if (d->side == SG_SIDE_INSIDE && d->kind == SG_XPORT_TLS) {
		svc->st.send_fail++;
		return -EPROTO;
	}
	/* Nothing secret reaches the inside, nothing plain leaves under
	 * media = srtp: every SIP message passes the check the service
	 * registered (DESIGN §4; sip_proxy.c). */
	if (svc->ops && svc->ops->egress_check &&
	    (rc = svc->ops->egress_check(svc, d->side, buf, len)) < 0)
		return rc;
	if (d->kind == SG_XPORT_UDP) {
		rc = sg_udp_send(svc, (const struct sockaddr *)&d->addr, buf,
		    len);
		if (rc < 0)
			svc->st.send_fail++;
		else
			svc->st.msg_out++;
		return rc;
	}
	if (d->conn && sg_xport_conn_is_live(svc, d->conn))
		c = d->conn;
	if (c == NULL)
		c = sg_xport_find_conn(svc, d->side,
		    (const struct sockaddr *)&d->addr);
	if (c == NULL)
		c = sg_hop_link_for(svc, d);
	if (c == NULL) {
		if (d->no_connect) {
			svc->st.send_fail++;
			return -ENOTCONN;
		}
		c = sg_conn_connect(svc, d->side, d->kind,
		    (const struct sockaddr *)&d->addr);
		if (c == NULL) {
			svc->st.send_fail++;
			return -ECONNREFUSED;
		}
	}
	return sg_conn_send(c, buf, len);
}

/* A UDP socket or a TCP/TLS listener of the service on addr. */
int sg_sock_open(struct sg_svc *svc, enum sg_xport_kind kind,
		 enum sg_side side, const struct sockaddr_storage *addr)
{
	struct sg_sock *sk;
	char a[64];
	int rc;

	if (svc->nsocks >= SG_SVC_MAX_SOCKS)
		return -ENOSPC;
	sk = &svc->socks[svc->nsocks];
	memset(sk, 0, sizeof(*sk));
	sk->svc = svc;
	sk->kind = kind;
	sk->side = side;
	sk->addr = *addr;
	rc = kind == SG_XPORT_UDP ? sg_udp_open(sk) : sg_stream_listen(sk);
	if (rc < 0) {
		log_warnx("%s: cannot %s %s %s: %s", svc->cfg->name,
		    kind == SG_XPORT_UDP ? "bind" : "listen on",
		    kind == SG_XPORT_UDP ? "udp" : kind == SG_XPORT_TCP ?
		    "tcp" : "tls", sg_addr_str((const struct sockaddr *)addr,
		    a, sizeof(a)), uv_strerror(rc));
		return rc;
	}
	log_info("%s: %s %s on %s", svc->cfg->name,
	    side == SG_SIDE_INSIDE ? "inside" : "outside",
	    kind == SG_XPORT_UDP ? "udp" : kind == SG_XPORT_TCP ? "tcp" : "tls",
	    sg_addr_str((const struct sockaddr *)&sk->addr, a, sizeof(a)));
	return 0;
}

static bool is_wildcard(const char *host)
{
	return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
	    host[0] == '\0';
}

int sg_xport_start(struct sg_svc *svc, const struct sg_xport_ops *ops)
{
	const struct sg_cfg_service *cfg = svc->cfg;
	struct sockaddr_storage a;
	unsigned i;
	int rc;

	svc->ops = ops;
	if (svc->gw->xport_loop == NULL &&
	    (svc->gw->xport_loop = calloc(1, sizeof(struct sg_xport_loop))) ==
	    NULL)
		return -ENOMEM;
	snprintf(svc->adv_host[SG_SIDE_INSIDE], sizeof(svc->adv_host[0]), "%s",
	    cfg->sip_inside);
	snprintf(svc->adv_host[SG_SIDE_OUTSIDE], sizeof(svc->adv_host[1]), "%s",
	    cfg->sip_outside);
	svc->inside_kind = SG_XPORT_TCP;
	for (i = 0; i < cfg->naccept; i++)
		if (cfg->accept[i].kind == SG_XPORT_UDP)
			svc->inside_kind = SG_XPORT_UDP;
	for (i = 0; i < cfg->naccept; i++) {
		const struct sg_cfg_endpoint *ep = &cfg->accept[i];
		enum sg_side side = ep->kind == SG_XPORT_TLS ?
		    SG_SIDE_OUTSIDE : SG_SIDE_INSIDE;

		if ((rc = sg_addr_parse(ep->host, ep->port, &a)) < 0) {
			log_warnx("%s: accept %s: not an address", cfg->name,
			    ep->host);
			return rc;
		}
		if ((rc = sg_sock_open(svc, ep->kind, side, &a)) < 0)
			return rc;
		if (svc->adv_host[side][0] == '\0' && !is_wildcard(ep->host))
			snprintf(svc->adv_host[side],
			    sizeof(svc->adv_host[side]), "%s", ep->host);
		if (svc->adv_port[side] == 0 &&
		    (side == SG_SIDE_OUTSIDE || ep->kind == svc->inside_kind))
			svc->adv_port[side] = ep->port;
	}
	return sg_hop_start(svc);
}

/* Once a second: deadlines, the link to the TLS connect target, idle
 * connections and keep-alives. */
void sg_xport_tick(struct sg_svc *svc, uint64_t now)
{
	sg_stream_deadlines(svc, now);
	if (svc->cfg->protocol == SG_PROTO_RAW)
		return;		/* no persistent link, no CRLF in a byte stream */
	sg_hop_tick(svc, now);
	sg_stream_tick(svc, now);
}

static void sock_on_close(uv_handle_t *h)
{
	struct sg_sock *sk = container_of(h, struct sg_sock, h);

	sk->svc->handles_closing--;
}

void sg_xport_stop(struct sg_svc *svc)
{
	unsigned i;

	sg_hop_stop(svc);
	while (svc->conns)
		sg_conn_close(svc->conns, "shutting down");
	for (i = 0; i < svc->nsocks; i++) {
		struct sg_sock *sk = &svc->socks[i];
		uv_handle_t *h = sk->kind == SG_XPORT_UDP ?
		    (uv_handle_t *)&sk->h.udp : (uv_handle_t *)&sk->h.tcp;

		if (!uv_is_closing(h)) {
			svc->handles_closing++;
			uv_close(h, sock_on_close);
		}
	}
}

void sg_xport_loop_free(struct sg_gw *gw)
{
	free(gw->xport_loop);
	gw->xport_loop = NULL;
}
