/* SPDX-License-Identifier: MIT */
/*
 * sip_proxy.h: the stateless RFC 3261 §16 proxy between a service's inside
 * (plain SIP) and outside (SIP over TLS). Entry points are the two
 * callbacks declared in xport.h; this header adds what main.c and tests
 * need.
 */
#ifndef SIPSGATE_GATEWAY_SIP_PROXY_H
#define SIPSGATE_GATEWAY_SIP_PROXY_H

#include "xport.h"

#define SG_BRANCH_MAGIC "z9hG4bK"
#define SG_BRANCH_TAG "z9hG4bK-sg"	/* our branches: tag + side + hash */

/* Check that a service has what the proxy needs to advertise itself. */
int sg_proxy_check(struct sg_svc *svc, FILE *errf);

#endif /* SIPSGATE_GATEWAY_SIP_PROXY_H */
