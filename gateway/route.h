/* SPDX-License-Identifier: MIT */
/*
 * route.h: who this gateway is, for routing (RFC 3261 §16.4, §16.6): the
 * Route entries that name it (any address it listens on, its advertised
 * hosts, the DNS names in its certificate) and the loop guard (a request is
 * never sent to one of its own sockets). No message building here.
 */
#ifndef SIPSGATE_GATEWAY_ROUTE_H
#define SIPSGATE_GATEWAY_ROUTE_H

#include "gw.h"

/*
 * Does host[:port] name this service? host is an address (matched against
 * every bound socket, wildcard binds against the machine's addresses) or a
 * name (sip-inside/sip-outside, certificate SAN dNSName and CN). A port,
 * when given, must be one the service listens on or advertises.
 */
bool sg_route_host_is_self(struct sg_svc *svc, struct sg_str host,
			   uint16_t port);
/* The same for a SIP URI (sip:/sips:). */
bool sg_route_uri_is_self(struct sg_svc *svc, struct sg_str uri);
/*
 * The loop guard: would d reach one of the gateway's own listening or
 * sending sockets (any service)? UDP is compared with UDP sockets, TCP and
 * TLS with listeners.
 */
bool sg_route_dest_is_self(struct sg_svc *svc, const struct sg_dest *d);

#endif /* SIPSGATE_GATEWAY_ROUTE_H */
