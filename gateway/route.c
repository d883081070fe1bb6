/* SPDX-License-Identifier: MIT */
/*
 * route.c: the gateway's own identity for routing. A proxy must remove every
 * leading Route entry that names it (RFC 3261 §16.4), whatever name or
 * address the entry uses, and must never send a request to itself: both
 * need to know every address, port and name the service is reachable by.
 * Names come from the configuration and from the service's certificate;
 * wildcard binds are expanded to the machine's addresses (getifaddrs),
 * only when a port matches, so the common case costs no system call.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "route.h"
#include "sip_msg.h"

/* Add a name once; wildcards (*.example.net) name no single host. */
static void self_add_name(struct sg_svc *svc, const char *name, size_t len)
{
	unsigned i;

	if (len == 0 || len >= sizeof(svc->self_names[0]) ||
	    memchr(name, '*', len) != NULL ||
	    svc->nself_names >= SG_ARRAY_SIZE(svc->self_names))
		return;
	for (i = 0; i < svc->nself_names; i++)
		if (strlen(svc->self_names[i]) == len &&
		    strncasecmp(svc->self_names[i], name, len) == 0)
			return;
	memcpy(svc->self_names[svc->nself_names], name, len);
	svc->self_names[svc->nself_names][len] = '\0';
	svc->nself_names++;
}

static void self_add(void *arg, const char *name, size_t len)
{
	self_add_name(arg, name, len);
}

/* The DNS names (SAN dNSName, else also the CN) of our certificate. */
static void self_load(struct sg_svc *svc)
{
	unsigned i;

	svc->self_loaded = true;
	svc->nself_names = 0;
	sg_tls_ctx_own_names(svc->tls, self_add, svc);
	for (i = 0; i < svc->nself_names; i++)
		log_debug("%s: known by the certificate name %s",
		    svc->cfg->name, svc->self_names[i]);
}

/* Is a one of this machine's addresses (loopback included)? */
static bool addr_is_local(const struct sockaddr *a)
{
	struct ifaddrs *ifa, *i;
	bool found = false;

	if (a->sa_family == AF_INET && (ntohl(((const struct sockaddr_in *)
	    (const void *)a)->sin_addr.s_addr) >> 24) == 127)
		return true;
	if (a->sa_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(
	    &((const struct sockaddr_in6 *)(const void *)a)->sin6_addr))
		return true;
	if (getifaddrs(&ifa) < 0)
		return false;
	for (i = ifa; i && !found; i = i->ifa_next)
		found = i->ifa_addr && sg_addr_ip_eq(i->ifa_addr, a);
	freeifaddrs(ifa);
	return found;
}

/*
 * Does socket sk receive what is sent to a? Same port, and the same address
 * or a wildcard bind of the family (then a must be a local address).
 */
static bool sock_receives(const struct sg_sock *sk, const struct sockaddr *a)
{
	const struct sockaddr *b = (const struct sockaddr *)&sk->addr;

	if (sg_addr_port(b) != sg_addr_port(a) || b->sa_family != a->sa_family)
		return false;
	if (sg_addr_ip_eq(b, a))
		return true;
	return sg_addr_is_any(b) && addr_is_local(a);
}

/*
 * Is port one we advertise on a side? With no fixed port there (a client
 * without an outside listener), it is the local port of one of our
 * connections on that side: what our Via and Record-Route carried.
 */
static bool port_is_ours(const struct sg_svc *svc, enum sg_side side,
			 uint16_t port)
{
	const struct sg_conn *c;

	if (svc->adv_port[side] != 0)
		return port == svc->adv_port[side];
	for (c = svc->conns; c; c = c->next)
		if (c->side == side && c->connected &&
		    sg_addr_port((const struct sockaddr *)&c->local) == port)
			return true;
	return false;
}

bool sg_route_host_is_self(struct sg_svc *svc, struct sg_str host,
			   uint16_t port)
{
	struct sockaddr_storage a;
	char h[256];
	unsigned i, s;

	if (host.len == 0 || host.len >= sizeof(h))
		return false;
	memcpy(h, host.p, host.len);
	h[host.len] = '\0';
	/* What we advertise: sip-inside / sip-outside or the bound address. */
	for (s = 0; s < 2; s++) {
		if (svc->adv_host[s][0] != '\0' &&
		    strcasecmp(h, svc->adv_host[s]) == 0 &&
		    (port == 0 || port_is_ours(svc, (enum sg_side)s, port)))
			return true;
	}
	if (sg_addr_parse(h, port, &a) == 0) {
		for (i = 0; i < svc->nsocks; i++) {
			const struct sg_sock *sk = &svc->socks[i];
			struct sockaddr_storage probe = a;

			if (port == 0) {	/* any of our ports */
				if (probe.ss_family == AF_INET)
					((struct sockaddr_in *)&probe)->sin_port =
					    htons(sg_addr_port(
					    (const struct sockaddr *)&sk->addr));
				else
					((struct sockaddr_in6 *)&probe)->
					    sin6_port = htons(sg_addr_port(
					    (const struct sockaddr *)&sk->addr));
			}
			if (sock_receives(sk, (const struct sockaddr *)&probe))
				return true;
		}
		return false;
	}
	/* A name: the certificate's, with one of our ports. */
	if (!svc->self_loaded)
		self_load(svc);
	for (i = 0; i < svc->nself_names; i++)
		if (strcasecmp(h, svc->self_names[i]) == 0)
			break;
	if (i == svc->nself_names)
		return false;
	if (port == 0)
		return true;
	for (s = 0; s < 2; s++)
		if (port_is_ours(svc, (enum sg_side)s, port))
			return true;
	for (i = 0; i < svc->nsocks; i++)
		if (sg_addr_port((const struct sockaddr *)&svc->socks[i].addr) ==
		    port)
			return true;
	return false;
}

bool sg_route_uri_is_self(struct sg_svc *svc, struct sg_str uri)
{
	struct sg_sip_uri u;

	if (sg_sip_uri_parse(uri, &u) < 0)
		return false;
	return sg_route_host_is_self(svc, u.host, u.port);
}

static bool svc_socket_is(const struct sg_svc *svc, const struct sg_dest *d)
{
	unsigned i;

	for (i = 0; i < svc->nsocks; i++) {
		const struct sg_sock *sk = &svc->socks[i];

		if ((sk->kind == SG_XPORT_UDP) != (d->kind == SG_XPORT_UDP))
			continue;
		if (sock_receives(sk, (const struct sockaddr *)&d->addr))
			return true;
	}
	return false;
}

bool sg_route_dest_is_self(struct sg_svc *svc, const struct sg_dest *d)
{
	unsigned i;

	if (d->addr.ss_family != AF_INET && d->addr.ss_family != AF_INET6)
		return false;
	if (svc_socket_is(svc, d))
		return true;
	for (i = 0; i < svc->gw->nsvc; i++)
		if (svc->gw->svc[i] != svc && svc_socket_is(svc->gw->svc[i], d))
			return true;
	return false;
}
