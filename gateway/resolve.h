/* SPDX-License-Identifier: MIT */
/*
 * resolve.h: RFC 3263 section 4 server location for a client whose
 * transport is already chosen (tls:/tcp:/udp: in the configuration):
 * NAPTR, SRV (RFC 2782 priority and weight), A/AAAA, through c-ares driven
 * by the libuv loop. Never blocks; never calls back before sg_resolve()
 * has returned.
 */
#ifndef SIPSGATE_GATEWAY_RESOLVE_H
#define SIPSGATE_GATEWAY_RESOLVE_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "cfg.h"		/* enum sg_xport_kind */

#define SG_RESOLVE_MAX_TARGETS 32	/* longest list handed to a callback */

/* One place to try. The callback gets them in the order to try them. */
struct sg_target {
	struct sockaddr_storage addr;	/* address and port */
	enum sg_xport_kind kind;	/* as asked for */
	/*
	 * The SIP domain that was resolved (sg_resolve()'s host, as given):
	 * for TLS the name to send as SNI and to check the server's
	 * certificate against (RFC 5922 4.1), never the SRV target.
	 */
	char host[256];
	/* The name the address came from: the SRV target, or host itself. */
	char target[256];
};

/*
 * status is 0 with n >= 1 targets, or negative with n == 0: -ENOENT (no
 * such name, no usable records, or SRV target "."), -ETIMEDOUT, -EAGAIN
 * (server failure or refusal), -ECANCELED (sg_resolver_free()), -ENOMEM.
 * t is valid only during the callback.
 */
typedef void (*sg_resolve_cb)(void *arg, int status, const struct sg_target *t,
			      unsigned n);

struct sg_resolver_opts {
	unsigned timeout_ms;	/* first try per query; 0: 2000 */
	unsigned tries;		/* per query and server; 0: 2 */
};

struct sg_resolver;

/* resolv.conf (and the hosts file for A/AAAA) as the system has them. */
int sg_resolver_new(uv_loop_t *loop, const struct sg_resolver_opts *opts,
		    struct sg_resolver **out);
/* Pending callbacks fire with -ECANCELED before it returns; NULL is a no-op. */
void sg_resolver_free(struct sg_resolver *r);
/* port 0: the default (5061 for TLS, else 5060) after NAPTR/SRV. */
int sg_resolve(struct sg_resolver *r, const char *host, uint16_t port,
	       enum sg_xport_kind kind, sg_resolve_cb cb, void *arg);
/* Forget pending resolutions for (cb, arg): they never call back. */
unsigned sg_resolve_cancel(struct sg_resolver *r, sg_resolve_cb cb, void *arg);

#endif /* SIPSGATE_GATEWAY_RESOLVE_H */
