/* SPDX-License-Identifier: MIT */
/*
 * sdp.h: SDP parse and rewrite for the media relay (RFC 4566, RFC 4568
 * a=crypto, RFC 3605 a=rtcp, RFC 5761 a=rtcp-mux). Pure: no I/O; parsed
 * fields are views into the body. The writer keeps every line it does not
 * have to change byte for byte.
 */
#ifndef SIPSGATE_GATEWAY_SDP_H
#define SIPSGATE_GATEWAY_SDP_H

#include "sg.h"

#define SG_SDP_MAX_MEDIA 8
#define SG_SDP_MAX_CRYPTO 16	/* rtpengine offers 12 */
#define SG_SDP_MAX_KEY 46	/* master key + salt, bytes (AES-256 GCM: 44) */

enum sg_sdp_dir { SG_SDP_SENDRECV, SG_SDP_SENDONLY, SG_SDP_RECVONLY,
	SG_SDP_INACTIVE };

/* One a=crypto line (RFC 4568 §9.1). */
struct sg_sdp_crypto {
	uint32_t tag;
	struct sg_str suite;		/* "AES_CM_128_HMAC_SHA1_80" */
	struct sg_str key_params;	/* "inline:KEY[|lifetime][|MKI:len]"; more
					 * than one key-param stays in here */
	struct sg_str session_params;	/* after the key-params, may be empty */
	struct sg_str value;		/* the whole attribute value */
};

struct sg_sdp_media {
	struct sg_str type;		/* "audio", "video", ... */
	uint16_t port;
	unsigned nports;		/* "port/2": 2; else 1 */
	struct sg_str proto;		/* "RTP/AVP", "RTP/SAVP", ... */
	struct sg_str fmts;		/* "0 8 101" */
	bool has_conn;			/* media-level c= */
	struct sg_str conn_addr;
	bool conn_v6;
	bool has_rtcp;			/* a=rtcp:PORT [IN IP4 addr] */
	uint16_t rtcp_port;
	bool rtcp_mux;
	enum sg_sdp_dir dir;		/* media-level, else session-level */
	unsigned ncrypto;
	struct sg_sdp_crypto crypto[SG_SDP_MAX_CRYPTO];
};

struct sg_sdp {
	bool has_conn;			/* session-level c= */
	struct sg_str conn_addr;
	bool conn_v6;
	enum sg_sdp_dir dir;		/* session-level direction */
	unsigned nmedia;
	struct sg_sdp_media media[SG_SDP_MAX_MEDIA];
};

/*
 * Parse an SDP body (CRLF or LF line ends; a CR or NUL anywhere else, an
 * m= line without proto or format: refused). Returns 0, or -EBADMSG with
 * err filled (line numbers are 1-based), or -E2BIG for more than
 * SG_SDP_MAX_MEDIA m= lines or SG_SDP_MAX_CRYPTO crypto lines in one m=.
 * A media section without any c= (session or media level) is -EBADMSG.
 */
int sg_sdp_parse(struct sg_sdp *sdp, const char *body, size_t len,
		 struct sg_perr *err);

/* Parse one a=crypto value ("1 AES_CM_128_HMAC_SHA1_80 inline:..."). */
int sg_sdp_crypto_parse(struct sg_str value, struct sg_sdp_crypto *c);

/*
 * Decode the single inline key of c into key (master key || salt).
 * Returns the key length in bytes; -EINVAL when malformed (base64 by
 * GnuTLS, with or without padding); -ENOTSUP when the key-params carry a
 * lifetime, an MKI or more than one key (declined, not guessed).
 */
int sg_sdp_crypto_key(const struct sg_sdp_crypto *c, uint8_t *key,
		      size_t keysz);

/* Is a session parameter (e.g. "UNENCRYPTED_SRTCP") present in c? */
bool sg_sdp_crypto_has_param(const struct sg_sdp_crypto *c, const char *name);

/* What to write for one m= line. */
struct sg_sdp_media_out {
	uint16_t port;			/* our relay port; 0 keeps 0 (rejected) */
	uint16_t rtcp_port;		/* for a=rtcp; 0: drop a=rtcp */
	bool secure;			/* RTP/SAVP (true) or RTP/AVP */
	bool best_effort;		/* secure keys, but RTP/AVP: RFC 4568
					 * §7.1.1 best-effort SRTP */
	unsigned ncrypto;		/* a=crypto lines to write (if secure) */
	struct {
		uint32_t tag;
		const char *suite;
		const uint8_t *key;	/* master key || salt */
		size_t keylen;
		const char *params;	/* session params to append, or NULL */
	} crypto[SG_SDP_MAX_CRYPTO];
};

struct sg_sdp_rewrite {
	const char *addr;		/* new c= (and o=) address */
	bool addr_v6;
	unsigned nmedia;		/* == sdp->nmedia */
	struct sg_sdp_media_out media[SG_SDP_MAX_MEDIA];
};

/*
 * Write the rewritten body into out: c= (session and media level) and the
 * o= address become rw->addr; each m= gets its port and proto
 * (RTP/AVP <-> RTP/SAVP; other profiles such as RTP/AVPF <-> RTP/SAVPF
 * likewise, UDP/TLS/RTP/SAVP(F) to RTP/AVP(F)); every a=crypto, ICE,
 * DTLS (a=fingerprint, a=setup, a=tls-id), a=key-mgmt and k= line of the
 * input is removed and rw's a=crypto are written
 * after the m= line's other attributes (keys base64 by GnuTLS); a=rtcp
 * gets the new port; all other lines are copied byte for byte, with the
 * input's line ends. Returns the length, or -ENOSPC.
 */
ssize_t sg_sdp_write(const struct sg_sdp *sdp, const char *body, size_t len,
		     const struct sg_sdp_rewrite *rw, char *out,
		     size_t outsz);

#endif /* SIPSGATE_GATEWAY_SDP_H */
