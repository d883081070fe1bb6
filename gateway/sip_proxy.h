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
#include "xport.h"

#define SG_BRANCH_MAGIC "z9hG4bK"
#define SG_BRANCH_TAG "z9hG4bK-sg"	/* our branches: tag + side + hash */

/* What a SIP service's transport calls: messages, send failures, and
 * the egress check on every message sent (DESIGN §4). */
extern const struct sg_xport_ops sg_proxy_ops;

/* Make the per-loop state the proxy uses (before any message). */
int sg_proxy_start(struct sg_svc *svc);
/* Free it once the loop has ended. */
void sg_proxy_loop_free(struct sg_gw *gw);


/* Our own answer to request m, built into out: its length, or 0. */
size_t sg_proxy_build_reply(struct sg_svc *svc, const struct sg_src *src,
			    const struct sg_sip_msg *m, unsigned code,
			    const char *reason, const char *extra, char *out,
			    size_t cap);
/* Our own answer to request m, sent back where it came from. */
void sg_proxy_reply(struct sg_svc *svc, const struct sg_src *src,
		    const struct sg_sip_msg *m, unsigned code,
		    const char *reason, const char *extra);
/*
 * Answer the request we sent (buf, toward side over kind) as if the next
 * hop had answered code: the response goes upstream by its Vias.
 */
void sg_proxy_respond_upstream(struct sg_svc *svc, enum sg_side side,
			       enum sg_xport_kind kind, const char *buf,
			       size_t len, unsigned code, const char *reason);

#endif /* SIPSGATE_GATEWAY_SIP_PROXY_H */
