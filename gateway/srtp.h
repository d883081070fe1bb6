/* SPDX-License-Identifier: MIT */
/*
 * srtp.h: the libsrtp2 wrapper (RFC 3711, RFC 7714 for AEAD). The only
 * module that includes <srtp2/srtp.h>; libsrtp's positive error codes
 * become negative errno codes here (-EBADMSG: authentication failed,
 * -EALREADY: replay). Contexts are created and freed on the control
 * plane (they allocate); protect/unprotect work in place and allocate
 * nothing.
 */
#ifndef SIPSGATE_GATEWAY_SRTP_H
#define SIPSGATE_GATEWAY_SRTP_H

#include "sg.h"

enum sg_srtp_suite {
	SG_SRTP_AES_CM_128_HMAC_SHA1_80,
	SG_SRTP_AES_CM_128_HMAC_SHA1_32,
	SG_SRTP_AEAD_AES_128_GCM,
	SG_SRTP_AEAD_AES_256_GCM,
	SG_SRTP_AES_256_CM_HMAC_SHA1_80,
	SG_SRTP_SUITE_COUNT
};

#define SG_SRTP_MAX_TRAILER 160		/* >= libsrtp SRTP_MAX_TRAILER_LEN */
#define SG_SRTP_MAX_KEY 46

/* One direction of one stream: protects (outbound) or unprotects. */
struct sg_srtp {
	void *ctx;			/* srtp_t */
	enum sg_srtp_suite suite;
	bool outbound;
	bool rtcp_plain;		/* UNENCRYPTED_SRTCP declared */
};

int sg_srtp_global_init(void);
/* Suite by its SDES name (RFC 4568 §6.2, RFC 7714 §12); -ENOENT. */
int sg_srtp_suite_by_name(struct sg_str name);
const char *sg_srtp_suite_name(enum sg_srtp_suite s);
/* Master key + salt length in bytes for the suite. */
size_t sg_srtp_key_len(enum sg_srtp_suite s);
/* Bytes protect adds to an RTP packet (auth tag or AEAD tag). */
size_t sg_srtp_rtp_overhead(enum sg_srtp_suite s);
/* Does this libsrtp2 build do the suite? */
bool sg_srtp_suite_is_available(enum sg_srtp_suite s);

/*
 * Create a context for any SSRC (ssrc_any_outbound / ssrc_any_inbound),
 * with a replay window of 1024 (RFC 3711 §3.3.2 allows larger than 64).
 * key is master key || salt of sg_srtp_key_len() bytes.
 */
int sg_srtp_init(struct sg_srtp *s, enum sg_srtp_suite suite,
		 const uint8_t *key, size_t keylen, bool outbound);
/* The same; rtcp_plain: SRTCP authenticated only (UNENCRYPTED_SRTCP). */
int sg_srtp_init_ex(struct sg_srtp *s, enum sg_srtp_suite suite,
		    const uint8_t *key, size_t keylen, bool outbound,
		    bool rtcp_plain);
void sg_srtp_close(struct sg_srtp *s);	/* no-op on a zeroed struct */
/* Replace the key in place, keeping nothing of the old state. */
int sg_srtp_rekey(struct sg_srtp *s, const uint8_t *key, size_t keylen);

/* In place. pkt must have SG_SRTP_MAX_TRAILER bytes free after *len. */
int sg_srtp_protect(struct sg_srtp *s, void *pkt, int *len);
int sg_srtp_unprotect(struct sg_srtp *s, void *pkt, int *len);
int sg_srtp_protect_rtcp(struct sg_srtp *s, void *pkt, int *len);
int sg_srtp_unprotect_rtcp(struct sg_srtp *s, void *pkt, int *len);

#endif /* SIPSGATE_GATEWAY_SRTP_H */
