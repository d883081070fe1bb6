/* SPDX-License-Identifier: MIT */
/*
 * policy.h: the media invariant of DESIGN §4 as predicates on message
 * bodies, and where the SDP of a body is (application/sdp, or one part of
 * a multipart body, RFC 2046 §5.1, RFC 5621). Pure: no I/O, no
 * allocation; views point into the body.
 *
 * The invariant: no a=crypto, a=fingerprint, a=key-mgmt or RTP/SAVP (so
 * also RTP/SAVPF, UDP/TLS/RTP/SAVP) in any message toward the inside;
 * under media = srtp, no m= line with a plain RTP profile (RTP/AVP,
 * RTP/AVPF) in any message toward the outside.
 */
#ifndef SIPSGATE_GATEWAY_POLICY_H
#define SIPSGATE_GATEWAY_POLICY_H

#include "sg.h"

/* Does the body carry key material or a secure profile, anywhere and in
 * any letter case (whatever its content type)? */
bool sg_policy_has_secret(struct sg_str body);
/* Does the body hold an m= line (at any line start) with RTP/AVP or
 * RTP/AVPF, whatever its port? */
bool sg_policy_has_plain_rtp(struct sg_str body);
/*
 * The invariant for a body about to be sent: toward the inside
 * (to_inside) no secret; toward the outside, when srtp is mandatory, no
 * plain RTP. Returns NULL when the body may go, else why not.
 */
const char *sg_policy_check(struct sg_str body, bool to_inside, bool srtp);

/* Where the SDP of a message body is. */
struct sg_body_sdp {
	bool multipart;		/* the body is multipart/... */
	unsigned nsdp;		/* application/sdp bodies or parts found */
	unsigned nparts;	/* parts of a multipart body */
	struct sg_str sdp;	/* the first SDP: a view into the body */
};

/*
 * Find the SDP in a body of Content-Type ctype (the header value, with
 * parameters). application/sdp: the whole body. multipart/ANY: every part
 * whose own Content-Type is application/sdp (parts are not searched
 * further: a nested multipart is one opaque part). Anything else: none.
 * Returns 0, or -EBADMSG for a multipart body without a usable boundary
 * or without its closing delimiter.
 */
int sg_body_find_sdp(struct sg_str ctype, struct sg_str body,
		     struct sg_body_sdp *out);

#endif /* SIPSGATE_GATEWAY_POLICY_H */
