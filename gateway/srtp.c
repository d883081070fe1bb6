/* SPDX-License-Identifier: MIT */
/*
 * srtp.c: the libsrtp2 wrapper (RFC 3711; RFC 6188 for AES-256-CM; RFC 7714
 * for AEAD). The only file that includes <srtp2/srtp.h>: libsrtp's positive
 * srtp_err_status_t is turned into a negative errno code here and nowhere
 * else. Contexts are created and freed on the control plane (srtp_create
 * allocates); protect/unprotect work in place and never allocate, lock or log.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include <srtp2/srtp.h>

#include "srtp.h"

static_assert(SG_SRTP_MAX_TRAILER >= SRTP_MAX_TRAILER_LEN + 4,
	      "SG_SRTP_MAX_TRAILER must hold the SRTCP index and the trailer");

#define RTP_HDR_MIN	12	/* RFC 3550 5.1 fixed header */
#define RTCP_HDR_MIN	8	/* RFC 3550 6.4.1 up to the SSRC */
#define REPLAY_WINDOW	1024	/* RFC 3711 3.3.2: at least 64 */

struct suite {
	const char *name;			/* SDES name */
	size_t key_len;			/* master key + master salt */
	size_t rtp_overhead;			/* auth or AEAD tag */
	void (*rtp)(srtp_crypto_policy_t *p);
	void (*rtcp)(srtp_crypto_policy_t *p);
};

/*
 * RFC 4568 6.2.1/6.2.2: AES_CM_128_HMAC_SHA1_32 shortens only the SRTP tag;
 * SRTCP keeps the 80-bit tag (libsrtp: "intended for use in SRTP, but not
 * in SRTCP"). RFC 7714 12: the AEAD suites use a 96-bit salt and a 16-octet
 * tag for both. RFC 6188 7.1: AES_256_CM_HMAC_SHA1_80.
 */
static const struct suite suites[SG_SRTP_SUITE_COUNT] = {
	[SG_SRTP_AES_CM_128_HMAC_SHA1_80] = {
		"AES_CM_128_HMAC_SHA1_80", SRTP_AES_ICM_128_KEY_LEN_WSALT, 10,
		srtp_crypto_policy_set_rtp_default,
		srtp_crypto_policy_set_rtcp_default,
	},
	[SG_SRTP_AES_CM_128_HMAC_SHA1_32] = {
		"AES_CM_128_HMAC_SHA1_32", SRTP_AES_ICM_128_KEY_LEN_WSALT, 4,
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32,
		srtp_crypto_policy_set_rtcp_default,
	},
	[SG_SRTP_AEAD_AES_128_GCM] = {
		"AEAD_AES_128_GCM", SRTP_AES_GCM_128_KEY_LEN_WSALT, 16,
		srtp_crypto_policy_set_aes_gcm_128_16_auth,
		srtp_crypto_policy_set_aes_gcm_128_16_auth,
	},
	[SG_SRTP_AEAD_AES_256_GCM] = {
		"AEAD_AES_256_GCM", SRTP_AES_GCM_256_KEY_LEN_WSALT, 16,
		srtp_crypto_policy_set_aes_gcm_256_16_auth,
		srtp_crypto_policy_set_aes_gcm_256_16_auth,
	},
	[SG_SRTP_AES_256_CM_HMAC_SHA1_80] = {
		"AES_256_CM_HMAC_SHA1_80", SRTP_AES_ICM_256_KEY_LEN_WSALT, 10,
		srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80,
		srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80,
	},
};

static_assert(SRTP_AES_ICM_256_KEY_LEN_WSALT <= SG_SRTP_MAX_KEY &&
	      SRTP_AES_GCM_256_KEY_LEN_WSALT <= SG_SRTP_MAX_KEY,
	      "SG_SRTP_MAX_KEY too small");

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static srtp_err_status_t init_status;

/* Per suite: 0 not probed yet, 1 available, -1 not in this build. */
static int suite_avail[SG_SRTP_SUITE_COUNT];

/* Control-plane errors: srtp_create and friends. */
static int ctl_errno(srtp_err_status_t st)
{
	switch (st) {
	case srtp_err_status_ok:
		return 0;
	case srtp_err_status_alloc_fail:
		return -ENOMEM;
	default:
		return -EINVAL;
	}
}

/* Packet errors: what the relay counts and drops. */
static inline int pkt_errno(srtp_err_status_t st)
{
	switch (st) {
	case srtp_err_status_ok:
		return 0;
	case srtp_err_status_auth_fail:
		return -EBADMSG;
	case srtp_err_status_replay_fail:
	case srtp_err_status_replay_old:
		return -EALREADY;
	default:
		return -EINVAL;
	}
}

static void global_init_once(void)
{
	init_status = srtp_init();
}

/*
 * Initialise libsrtp once per process; later calls return the first
 * call's result. Returns 0 or a negative errno code.
 */
static srtp_t keeper;		/* see sg_srtp_suite_is_available() */

int sg_srtp_global_init(void)
{
	pthread_once(&init_once, global_init_once);
	return ctl_errno(init_status);
}

/*
 * The suite whose SDES name is @name (RFC 4568 6.2, RFC 6188 7.1,
 * RFC 7714 12), or -ENOENT. ABNF literals are case-insensitive
 * (RFC 5234 2.3), so "aes_cm_128_hmac_sha1_80" matches too.
 */
int sg_srtp_suite_by_name(struct sg_str name)
{
	for (size_t i = 0; i < SG_ARRAY_SIZE(suites); i++) {
		size_t n = strlen(suites[i].name);

		if (name.p != NULL && name.len == n &&
		    strncasecmp(name.p, suites[i].name, n) == 0)
			return (int)i;
	}
	return -ENOENT;
}

/* The SDES name of @s, or NULL when @s is not a suite. */
const char *sg_srtp_suite_name(enum sg_srtp_suite s)
{
	if ((unsigned)s >= SG_SRTP_SUITE_COUNT)
		return NULL;
	return suites[s].name;
}

/* Master key + salt length in bytes, 0 when @s is not a suite. */
size_t sg_srtp_key_len(enum sg_srtp_suite s)
{
	if ((unsigned)s >= SG_SRTP_SUITE_COUNT)
		return 0;
	return suites[s].key_len;
}

/* Bytes sg_srtp_protect() adds to an RTP packet, 0 for a bad @s. */
size_t sg_srtp_rtp_overhead(enum sg_srtp_suite s)
{
	if ((unsigned)s >= SG_SRTP_SUITE_COUNT)
		return 0;
	return suites[s].rtp_overhead;
}

/*
 * Create a libsrtp session for @suite with one wildcard-SSRC policy. The
 * key is copied, so @key may be const; libsrtp derives the session keys
 * in srtp_create() and keeps no pointer to the copy, which is wiped.
 */
static srtp_err_status_t ctx_create(srtp_t *ctx, enum sg_srtp_suite suite,
				    const uint8_t *key, bool outbound,
				    bool rtcp_plain)
{
	unsigned char k[SG_SRTP_MAX_KEY];
	srtp_policy_t pol;
	srtp_err_status_t st;

	memset(&pol, 0, sizeof(pol));
	suites[suite].rtp(&pol.rtp);
	suites[suite].rtcp(&pol.rtcp);
	/* RFC 4568 §6.3.2 UNENCRYPTED_SRTCP: authenticated, not encrypted. */
	if (rtcp_plain)
		pol.rtcp.sec_serv = sec_serv_auth;
	pol.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
	memcpy(k, key, suites[suite].key_len);
	pol.key = k;
	pol.window_size = REPLAY_WINDOW;
	/* A relay may legitimately send the same packet again. */
	pol.allow_repeat_tx = outbound ? 1 : 0;
	pol.next = NULL;
	*ctx = NULL;
	st = srtp_create(ctx, &pol);
	explicit_bzero(k, sizeof(k));
	if (st != srtp_err_status_ok)
		*ctx = NULL;
	return st;
}

/*
 * Can this libsrtp2 build do @s? The first call per suite creates and
 * frees a throw-away context (control plane only) and caches the answer;
 * an allocation failure is not cached.
 */
bool sg_srtp_suite_is_available(enum sg_srtp_suite s)
{
	static const uint8_t zero[SG_SRTP_MAX_KEY];
	srtp_err_status_t st;
	srtp_t ctx;

	if ((unsigned)s >= SG_SRTP_SUITE_COUNT || sg_srtp_global_init() < 0)
		return false;
	if (suite_avail[s] != 0)
		return suite_avail[s] > 0;
	st = ctx_create(&ctx, s, zero, true, false);
	if (st == srtp_err_status_ok) {
		/*
		 * Keep the first one for the life of the process: Debian's
		 * libsrtp2 uses NSS, which shuts down (and dlopen()s its
		 * libraries again) whenever no context is left; that cost
		 * about 2 ms per call. The others are freed.
		 */
		if (keeper == NULL)
			keeper = ctx;
		else
			srtp_dealloc(ctx);
		suite_avail[s] = 1;
	} else if (st != srtp_err_status_alloc_fail) {
		suite_avail[s] = -1;
	}
	return st == srtp_err_status_ok;
}

/*
 * Create the context of one direction of one stream, for any SSRC, with a
 * replay window of 1024. @key is master key || master salt, exactly
 * sg_srtp_key_len(@suite) bytes; it is not kept. On success @s owns a
 * libsrtp context; release it with sg_srtp_close(). Returns 0, -EINVAL
 * (bad argument), -EOPNOTSUPP (suite not in this libsrtp build) or
 * -ENOMEM; on failure @s is zeroed.
 */
int sg_srtp_init(struct sg_srtp *s, enum sg_srtp_suite suite,
		 const uint8_t *key, size_t keylen, bool outbound)
{
	return sg_srtp_init_ex(s, suite, key, keylen, outbound, false);
}

/* The same, with SRTCP authenticated but not encrypted when rtcp_plain. */
int sg_srtp_init_ex(struct sg_srtp *s, enum sg_srtp_suite suite,
		    const uint8_t *key, size_t keylen, bool outbound,
		    bool rtcp_plain)
{
	srtp_t ctx;
	int rc;

	if (s == NULL)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	if ((unsigned)suite >= SG_SRTP_SUITE_COUNT || key == NULL ||
	    keylen != suites[suite].key_len)
		return -EINVAL;
	if ((rc = sg_srtp_global_init()) < 0)
		return rc;
	if (!sg_srtp_suite_is_available(suite))
		return -EOPNOTSUPP;
	if ((rc = ctl_errno(ctx_create(&ctx, suite, key, outbound,
	    rtcp_plain))) < 0)
		return rc;
	s->ctx = ctx;
	s->suite = suite;
	s->outbound = outbound;
	s->rtcp_plain = rtcp_plain;
	return 0;
}

/* Free the context and zero @s. A no-op on a zeroed struct or NULL. */
void sg_srtp_close(struct sg_srtp *s)
{
	if (s == NULL)
		return;
	if (s->ctx != NULL)
		srtp_dealloc(s->ctx);
	memset(s, 0, sizeof(*s));
}

/*
 * Install a new master key for the same suite and direction. Nothing of
 * the old state survives: every SSRC starts again with ROC 0 and an empty
 * replay window, as a new key from a new offer/answer must (RFC 4568
 * 7.1.4). The new context is created before the old one is freed, so on
 * failure (-EINVAL, -ENOMEM) @s is unchanged and still usable. rtcp_plain
 * is the caller's and is kept.
 */
int sg_srtp_rekey(struct sg_srtp *s, const uint8_t *key, size_t keylen)
{
	srtp_t ctx;
	int rc;

	if (s == NULL || s->ctx == NULL || key == NULL ||
	    (unsigned)s->suite >= SG_SRTP_SUITE_COUNT ||
	    keylen != suites[s->suite].key_len)
		return -EINVAL;
	if ((rc = ctl_errno(ctx_create(&ctx, s->suite, key, s->outbound,
	    s->rtcp_plain))) < 0)
		return rc;
	srtp_dealloc(s->ctx);
	s->ctx = ctx;
	return 0;
}

/*
 * The packet functions below run on the hot path: in place, no allocation,
 * no lock, no log. @pkt must be 32-bit aligned with SG_SRTP_MAX_TRAILER
 * writable bytes after *@len. They return 0 (and the new *@len), -EBADMSG
 * when authentication fails, -EALREADY for a replayed or too old packet,
 * and -EINVAL otherwise (wrong direction, short or malformed packet).
 */
int sg_srtp_protect(struct sg_srtp *s, void *pkt, int *len)
{
	if (s->ctx == NULL || !s->outbound || *len < RTP_HDR_MIN)
		return -EINVAL;
	return pkt_errno(srtp_protect(s->ctx, pkt, len));
}

int sg_srtp_unprotect(struct sg_srtp *s, void *pkt, int *len)
{
	if (s->ctx == NULL || s->outbound || *len < RTP_HDR_MIN)
		return -EINVAL;
	return pkt_errno(srtp_unprotect(s->ctx, pkt, len));
}

int sg_srtp_protect_rtcp(struct sg_srtp *s, void *pkt, int *len)
{
	if (s->ctx == NULL || !s->outbound || *len < RTCP_HDR_MIN)
		return -EINVAL;
	return pkt_errno(srtp_protect_rtcp(s->ctx, pkt, len));
}

int sg_srtp_unprotect_rtcp(struct sg_srtp *s, void *pkt, int *len)
{
	if (s->ctx == NULL || s->outbound || *len < RTCP_HDR_MIN)
		return -EINVAL;
	return pkt_errno(srtp_unprotect_rtcp(s->ctx, pkt, len));
}
