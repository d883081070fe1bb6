/* SPDX-License-Identifier: MIT */
/*
 * sip_proxy.h: the RFC 3261 §16 proxy between a service's inside
 * (plain SIP) and outside (SIP over TLS). Its entry point is
 * sg_proxy_ops, which a SIP service registers with its transport
 * (sg_xport_start); this header adds what txn.c and tests need.
 */
#ifndef SIPSGATE_GATEWAY_SIP_PROXY_H
#define SIPSGATE_GATEWAY_SIP_PROXY_H

#include "gw.h"
#include "sip_msg.h"
#include "txn.h"
#include "xport.h"

#define SG_BRANCH_TAG "z9hG4bK-sg"	/* our branches: tag + side + hash */

/* What a SIP service's transport calls: messages, send failures, and
 * the egress check on every message sent (DESIGN §4). */
extern const struct sg_xport_ops sg_proxy_ops;
/* What the service's transaction layer calls (sg_txn_init). */
extern const struct sg_txn_ops sg_proxy_txn_ops;

/* Make the per-loop state the proxy uses (before any message). */
int sg_proxy_start(struct sg_svc *svc);
/* Free it once the loop has ended. */
void sg_proxy_loop_free(struct sg_gw *gw);


/*
 * What the proxy will do with a request, decided without sending anything
 * (sg_proxy_plan_request): answer it itself, or forward it there, with
 * these changes. The apply step (sip_proxy.c forward_request) builds the
 * message from it, runs the media policy, and sends.
 */
struct sg_proxy_plan {
	unsigned status;		/* != 0: answer with this */
	const char *why;		/* why (static), for the log */
	bool quiet;			/* an answer not worth a log line */
	char extra[512];		/* header lines for it, or "" */
	char branch[64];		/* our Via branch (RFC 3261 §16.11) */
	struct sg_dest dest;		/* where it goes */
	int max_forwards;		/* the value it leaves with */
	unsigned routes_popped;		/* leading Route entries naming us */
	bool new_ruri;			/* Request-URI from our flow token */
	char ruri[SG_TOKEN_MAX_URI + 1];
	bool record_route;		/* dialog-creating: our two rows */
	bool contacts;			/* REGISTER: Contacts become tokens */
	bool has_rr_flow;		/* a Route entry of ours had a token */
	struct sg_token rr_flow;	/* ... for the flow on the next side */
};

/*
 * Plan request m from src: Max-Forwards (483), Proxy-Require (420), loop
 * versus spiral (482, RFC 3261 §16.3), routing (§16.4-16.6 for a proxy
 * with two sides; docs/signalling.md), flow tokens (403/430), never to
 * one of our own sockets (482). Sends nothing and changes nothing but
 * the service's counters; testable on a parsed message without sockets.
 */
void sg_proxy_plan_request(struct sg_svc *svc, const struct sg_src *src,
			   const struct sg_sip_msg *m, struct sg_proxy_plan *p);

/* Our own answer to request m (reason phrase from sg_sip_reason()),
 * built into out: its length, or 0. */
size_t sg_proxy_build_reply(struct sg_svc *svc, const struct sg_src *src,
			    const struct sg_sip_msg *m, unsigned code,
			    const char *extra, char *out, size_t cap);
/* Our own answer to request m, sent back where it came from. */
void sg_proxy_reply(struct sg_svc *svc, const struct sg_src *src,
		    const struct sg_sip_msg *m, unsigned code,
		    const char *extra);
/*
 * Answer the request we sent (buf, toward side over kind) as if the next
 * hop had answered code: the response goes upstream by its Vias.
 */
void sg_proxy_respond_upstream(struct sg_svc *svc, enum sg_side side,
			       enum sg_xport_kind kind, const char *buf,
			       size_t len, unsigned code);

#endif /* SIPSGATE_GATEWAY_SIP_PROXY_H */
