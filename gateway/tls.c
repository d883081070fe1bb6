/* SPDX-License-Identifier: MIT */
/*
 * tls.c: GnuTLS credentials, checks and per-handshake verification for the
 * outside side (RFC 3261 §26, RFC 5922 name checks, DESIGN §6 verify
 * matrix, SPKI SHA-256 pins). Never lets an unverified peer through when
 * verify = require; never logs key material.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>
#include <gnutls/crypto.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "tls.h"

static void fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/*
 * A private key must be readable by its owner only: anyone else who can
 * read it can impersonate the gateway. Say exactly how to fix it.
 */
int sg_tls_check_key_file(const char *path, FILE *errf)
{
	struct passwd *pw = getpwuid(geteuid());
	const char *me = pw ? pw->pw_name : "root";
	struct stat st;
	int fd;

	if (stat(path, &st) < 0) {
		fprintf(errf, "key %s: cannot read: %s\n", path,
		    strerror(errno));
		return -errno;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		fprintf(errf, "key %s: readable by group or others (mode %04o);"
		    " refusing to use it. Fix: chmod 600 %s && chown %s %s\n",
		    path, (unsigned)(st.st_mode & 07777), path, me, path);
		return -EPERM;
	}
	/* Readable by the user we run as (after a privilege drop, too)? */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		int e = errno;

		fprintf(errf, "key %s: %s for user %s (owner uid %u). Fix:"
		    " chown %s %s\n", path, strerror(e), me,
		    (unsigned)st.st_uid, me, path);
		return -e;
	}
	close(fd);
	return 0;
}

/* Report a certificate outside its validity period with both dates. */
int sg_tls_check_cert_file(const char *path, FILE *errf)
{
	gnutls_x509_crt_t *crts = NULL;
	unsigned ncrt = 0, i;
	gnutls_datum_t d = { NULL, 0 };
	char a[40], b[40], n[40];
	time_t now = time(NULL);
	int rc = 0, r;

	if ((r = gnutls_load_file(path, &d)) < 0) {
		fprintf(errf, "certificate %s: cannot read: %s\n", path,
		    gnutls_strerror(r));
		return -ENOENT;
	}
	r = gnutls_x509_crt_list_import2(&crts, &ncrt, &d, GNUTLS_X509_FMT_PEM,
	    0);
	gnutls_free(d.data);
	if (r < 0 || ncrt == 0) {
		fprintf(errf, "certificate %s: not a PEM certificate: %s\n",
		    path, gnutls_strerror(r));
		return -EINVAL;
	}
	/* The leaf decides whether we can serve at all. */
	{
		time_t act = gnutls_x509_crt_get_activation_time(crts[0]);
		time_t exp = gnutls_x509_crt_get_expiration_time(crts[0]);

		fmt_time(act, a, sizeof(a));
		fmt_time(exp, b, sizeof(b));
		fmt_time(now, n, sizeof(n));
		if (now < act) {
			fprintf(errf, "certificate %s: not yet valid: valid from"
			    " %s until %s, local clock is %s (check NTP)\n",
			    path, a, b, n);
			rc = -EKEYREJECTED;
		} else if (now > exp) {
			fprintf(errf, "certificate %s: expired: valid from %s"
			    " until %s, local clock is %s\n", path, a, b, n);
			rc = -EKEYEXPIRED;
		}
	}
	for (i = 0; i < ncrt; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	return rc;
}

/* SHA-256 over the DER SubjectPublicKeyInfo (the HPKP/stunnel pin). */
static int spki_sha256(const gnutls_datum_t *der, uint8_t out[32])
{
	gnutls_x509_crt_t crt;
	gnutls_pubkey_t pk;
	gnutls_datum_t spki = { NULL, 0 };
	int rc = -EINVAL;

	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	if (gnutls_pubkey_init(&pk) < 0) {
		gnutls_x509_crt_deinit(crt);
		return -ENOMEM;
	}
	if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) >= 0 &&
	    gnutls_pubkey_import_x509(pk, crt, 0) >= 0 &&
	    gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, &spki) >= 0 &&
	    gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, out) >= 0)
		rc = 0;
	gnutls_free(spki.data);
	gnutls_pubkey_deinit(pk);
	gnutls_x509_crt_deinit(crt);
	return rc;
}

static void peer_subject(const gnutls_datum_t *der, char *buf, size_t len)
{
	gnutls_x509_crt_t crt;
	size_t n = len;

	buf[0] = '\0';
	if (gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_get_dn(crt, buf, &n) < 0)
		buf[0] = '\0';
	gnutls_x509_crt_deinit(crt);
}

/*
 * A client that sends no certificate where one is required: TLS 1.3 has
 * certificate_required (RFC 8446 §4.4.2.4); TLS 1.2 answers with
 * handshake_failure (RFC 5246 §7.4.6).
 */
static int no_cert_alert(gnutls_session_t s)
{
	return gnutls_protocol_get_version(s) >= GNUTLS_TLS1_3 ?
	    GNUTLS_A_CERTIFICATE_REQUIRED : GNUTLS_A_HANDSHAKE_FAILURE;
}

/* The alert that says why a peer's certificate did not verify. */
static int status_alert(unsigned status)
{
	if (status & GNUTLS_CERT_REVOKED)
		return GNUTLS_A_CERTIFICATE_REVOKED;
	if (status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
		return GNUTLS_A_CERTIFICATE_EXPIRED;
	if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND |
	    GNUTLS_CERT_SIGNER_NOT_CA))
		return GNUTLS_A_UNKNOWN_CA;
	if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
		return GNUTLS_A_UNSUPPORTED_CERTIFICATE;
	return GNUTLS_A_BAD_CERTIFICATE;
}

/*
 * Watch the records a peer sends during the handshake for a plaintext
 * alert (type 21, length 2): GnuTLS cannot tell us about those. A TLS 1.3
 * client that rejects our certificate before it has keys sends one, which
 * GnuTLS then reports as a decryption failure; under TLS 1.2 GnuTLS turns
 * an alert in place of the client's Certificate into "no certificate".
 * Encrypted alerts are left to GnuTLS (GNUTLS_E_FATAL_ALERT_RECEIVED).
 */
void sg_tls_sniff(struct sg_tls_peer *peer, const void *buf, size_t n)
{
	struct sg_tls_sniff *st = &peer->sniff;
	const uint8_t *p = buf;

	while (n > 0) {
		if (st->hdr_got < 5) {		/* type, version, length */
			st->hdr[st->hdr_got++] = *p++;
			n--;
			if (st->hdr_got == 5) {
				st->left = (size_t)st->hdr[3] << 8 | st->hdr[4];
				st->is_alert = st->hdr[0] == 21 && st->left == 2;
				st->alert_got = 0;
				if (st->left == 0)
					st->hdr_got = 0;
			}
			continue;
		}
		if (st->is_alert) {		/* level, description */
			st->alert[st->alert_got++] = *p;
			if (st->alert_got == 2)
				peer->alert_rx = st->alert[1];
		}
		p++;
		n--;
		if (--st->left == 0)
			st->hdr_got = 0;
	}
}

/* "unknown_ca": the RFC's name of an alert, from GnuTLS's. */
const char *sg_tls_alert_name(int d, char *buf, size_t len)
{
	const char *n = gnutls_alert_get_strname((gnutls_alert_description_t)d);
	size_t i;

	if (n == NULL)
		n = "unknown";
	if (strncmp(n, "GNUTLS_A_", 9) == 0)
		n += 9;
	for (i = 0; n[i] && i + 1 < len; i++)
		buf[i] = (char)tolower((unsigned char)n[i]);
	buf[i] = '\0';
	return buf;
}

void sg_tls_handshake_failed(gnutls_session_t s, struct sg_tls_peer *peer,
			     int r, char *why, size_t len)
{
	char name[48];
	int alert = -1;

	if (peer->alert_rx >= 0 || r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		int d = peer->alert_rx >= 0 ? peer->alert_rx :
		    (int)gnutls_alert_get(s);

		/* GnuTLS reports an alert in place of the client's
		 * certificate as "no certificate": the alert is the truth. */
		snprintf(why, len, "peer sent alert %s (%d)%s%s",
		    sg_tls_alert_name(d, name, sizeof(name)), d,
		    peer->fail[0] ? "; " : "", peer->fail);
		return;
	}
	if (peer->fail[0] != '\0') {
		snprintf(why, len, "%s", peer->fail);
		alert = peer->alert_tx;
	} else if (r == GNUTLS_E_CERTIFICATE_REQUIRED ||
	    r == GNUTLS_E_NO_CERTIFICATE_FOUND) {
		snprintf(why, len, "peer presented no certificate (verify ="
		    " require)");
		alert = no_cert_alert(s);
	} else {
		snprintf(why, len, "%s", gnutls_strerror(r));
	}
	if (alert >= 0)
		gnutls_alert_send(s, GNUTLS_AL_FATAL,
		    (gnutls_alert_description_t)alert);
	else
		gnutls_alert_send_appropriate(s, r);
}

/*
 * Called by GnuTLS inside the handshake, after the peer's certificate
 * message. Returning non-zero aborts the handshake with an alert.
 */
static int verify_cb(gnutls_session_t s)
{
	struct sg_tls_peer *peer = gnutls_session_get_ptr(s);
	struct sg_tls_ctx *ctx = peer->ctx;
	const struct sg_cfg_service *cfg = ctx->cfg;
	const gnutls_datum_t *chain;
	unsigned nchain = 0, status = 0, i;
	gnutls_typed_vdata_st vdata[2];
	unsigned nvdata = 0;
	gnutls_datum_t txt = { NULL, 0 };
	uint8_t pin[32];
	char subj[200];
	int r;

	if (cfg->verify == SG_VERIFY_NONE && cfg->npins == 0)
		return 0;		/* encryption only */
	chain = gnutls_certificate_get_peers(s, &nchain);
	if (chain == NULL || nchain == 0) {
		if (peer->server && cfg->verify != SG_VERIFY_REQUIRE &&
		    cfg->npins == 0)
			return 0;	/* nothing presented, none required */
		snprintf(peer->fail, sizeof(peer->fail),
		    "peer presented no certificate (verify = %s)",
		    cfg->verify == SG_VERIFY_REQUIRE ? "require" : "optional");
		peer->alert_tx = no_cert_alert(s);
		return -1;
	}
	peer_subject(&chain[0], subj, sizeof(subj));
	if (cfg->npins > 0) {
		if (spki_sha256(&chain[0], pin) < 0) {
			snprintf(peer->fail, sizeof(peer->fail),
			    "cannot hash the public key of '%s'", subj);
			peer->alert_tx = GNUTLS_A_BAD_CERTIFICATE;
			return -1;
		}
		for (i = 0; i < cfg->npins; i++)
			if (memcmp(pin, cfg->pins[i], 32) == 0)
				break;
		if (i == cfg->npins) {
			snprintf(peer->fail, sizeof(peer->fail),
			    "certificate '%s' matches no pin-sha256", subj);
			peer->alert_tx = GNUTLS_A_BAD_CERTIFICATE;
			return -1;
		}
		if (cfg->ca[0] == '\0')
			return 0;	/* pinned instead of a CA */
	}
	if (cfg->verify == SG_VERIFY_NONE)
		return 0;
	/* RFC 5922 §7: the client checks the server's name. */
	if (!peer->server && ctx->verify_name[0] != '\0') {
		vdata[nvdata].type = GNUTLS_DT_DNS_HOSTNAME;
		vdata[nvdata].data = (unsigned char *)ctx->verify_name;
		vdata[nvdata].size = 0;
		nvdata++;
	} else if (peer->server && cfg->verify_name[0] != '\0') {
		vdata[nvdata].type = GNUTLS_DT_DNS_HOSTNAME;
		vdata[nvdata].data = (unsigned char *)(uintptr_t)cfg->verify_name;
		vdata[nvdata].size = 0;
		nvdata++;
	}
	vdata[nvdata].type = GNUTLS_DT_KEY_PURPOSE_OID;
	vdata[nvdata].data = (unsigned char *)(uintptr_t)(peer->server ?
	    GNUTLS_KP_TLS_WWW_CLIENT : GNUTLS_KP_TLS_WWW_SERVER);
	vdata[nvdata].size = 0;
	nvdata++;
	r = gnutls_certificate_verify_peers(s, vdata, nvdata, &status);
	if (r < 0) {
		snprintf(peer->fail, sizeof(peer->fail),
		    "cannot verify '%s': %s", subj, gnutls_strerror(r));
		peer->alert_tx = GNUTLS_A_BAD_CERTIFICATE;
		return -1;
	}
	if (status != 0) {
		gnutls_certificate_verification_status_print(status,
		    GNUTLS_CRT_X509, &txt, 0);
		snprintf(peer->fail, sizeof(peer->fail), "certificate '%s': %s%s%s%s",
		    subj, txt.data ? (char *)txt.data : "not trusted",
		    (status & GNUTLS_CERT_UNEXPECTED_OWNER) ? " (expected '" : "",
		    (status & GNUTLS_CERT_UNEXPECTED_OWNER) ?
		    (const char *)vdata[0].data : "",
		    (status & GNUTLS_CERT_UNEXPECTED_OWNER) ? "')" : "");
		gnutls_free(txt.data);
		peer->alert_tx = status_alert(status);
		return -1;
	}
	return 0;
}

/* tls-trace = yes: one debug line per handshake message, both ways. */
static int trace_hook(gnutls_session_t s, unsigned htype, unsigned when,
		      unsigned incoming, const gnutls_datum_t *msg)
{
	struct sg_tls_peer *peer = gnutls_session_get_ptr(s);

	(void)when;
	log_trace("%s: tls trace (%s): %s %s, %u bytes",
	    peer->ctx->cfg->name, peer->server ? "server" : "client",
	    incoming ? "<-" : "->",
	    gnutls_handshake_description_get_name(
	    (gnutls_handshake_description_t)htype), msg ? msg->size : 0);
	return 0;
}

static int load_err(FILE *errf, const char *what, const char *path, int r)
{
	fprintf(errf, "%s %s: %s\n", what, path, gnutls_strerror(r));
	return -EINVAL;
}

int sg_tls_ctx_new(const struct sg_cfg_service *cfg, FILE *errf,
		   struct sg_tls_ctx **out)
{
	struct sg_tls_ctx *ctx;
	const char *errpos = NULL;
	unsigned i;
	int r, rc = 0;

	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return -ENOMEM;
	ctx->cfg = cfg;
	sg_cfg_hold(cfg);	/* ctx->cfg is read at each handshake */
	ctx->refs = 1;
	if (cfg->verify_name[0] != '\0') {
		snprintf(ctx->verify_name, sizeof(ctx->verify_name), "%s",
		    cfg->verify_name);
	} else {
		for (i = 0; i < cfg->nconnect; i++)
			if (cfg->connect[i].kind == SG_XPORT_TLS)
				snprintf(ctx->verify_name,
				    sizeof(ctx->verify_name), "%s",
				    cfg->connect[i].host);
	}
	if ((r = gnutls_certificate_allocate_credentials(&ctx->cred)) < 0) {
		rc = -ENOMEM;
		goto fail;
	}
	if (cfg->cert[0] != '\0' && cfg->key[0] != '\0') {
		if ((rc = sg_tls_check_key_file(cfg->key, errf)) < 0 ||
		    (rc = sg_tls_check_cert_file(cfg->cert, errf)) < 0)
			goto fail;
		r = gnutls_certificate_set_x509_key_file(ctx->cred, cfg->cert,
		    cfg->key, GNUTLS_X509_FMT_PEM);
		if (r < 0) {
			rc = load_err(errf, "certificate/key", cfg->cert, r);
			goto fail;
		}
	}
	if (cfg->ca[0] != '\0') {
		r = gnutls_certificate_set_x509_trust_file(ctx->cred, cfg->ca,
		    GNUTLS_X509_FMT_PEM);
		if (r <= 0) {
			rc = load_err(errf, "ca", cfg->ca, r < 0 ? r :
			    GNUTLS_E_NO_CERTIFICATE_FOUND);
			goto fail;
		}
	}
	if (cfg->crl[0] != '\0') {
		r = gnutls_certificate_set_x509_crl_file(ctx->cred, cfg->crl,
		    GNUTLS_X509_FMT_PEM);
		if (r < 0) {
			rc = load_err(errf, "crl", cfg->crl, r);
			goto fail;
		}
	}
	gnutls_certificate_set_verify_function(ctx->cred, verify_cb);
	r = gnutls_priority_init2(&ctx->prio, cfg->tls_priority[0] ?
	    cfg->tls_priority : SG_TLS_DEFAULT_PRIORITY, &errpos, 0);
	if (r < 0) {
		fprintf(errf, "tls-priority '%s': %s near '%s'\n",
		    cfg->tls_priority, gnutls_strerror(r),
		    errpos ? errpos : "");
		rc = -EINVAL;
		goto fail;
	}
	if (gnutls_session_ticket_key_generate(&ctx->ticket_key) < 0) {
		rc = -EIO;
		goto fail;
	}
	*out = ctx;
	return 0;
fail:
	sg_tls_ctx_free(ctx);
	return rc;
}

struct sg_tls_ctx *sg_tls_ctx_get(struct sg_tls_ctx *ctx)
{
	ctx->refs++;
	return ctx;
}

void sg_tls_ctx_put(struct sg_tls_ctx *ctx)
{
	sg_tls_ctx_free(ctx);
}

void sg_tls_ctx_free(struct sg_tls_ctx *ctx)
{
	if (ctx == NULL || --ctx->refs > 0)
		return;
	if (ctx->cred)
		gnutls_certificate_free_credentials(ctx->cred);
	if (ctx->prio)
		gnutls_priority_deinit(ctx->prio);
	if (ctx->ticket_key.data) {
		gnutls_memset(ctx->ticket_key.data, 0, ctx->ticket_key.size);
		gnutls_free(ctx->ticket_key.data);
	}
	gnutls_free(ctx->resume.data);
	sg_cfg_free(ctx->cfg->root);	/* the reference taken in _new */
	free(ctx);
}

int sg_tls_session_new(struct sg_tls_ctx *ctx, bool server,
		       struct sg_tls_peer *peer, gnutls_session_t *out)
{
	const struct sg_cfg_service *cfg = ctx->cfg;
	gnutls_session_t s;
	int r;

	peer->ctx = ctx;
	peer->server = server;
	peer->alert_rx = -1;
	peer->alert_tx = -1;
	memset(&peer->sniff, 0, sizeof(peer->sniff));
	peer->fail[0] = '\0';
	r = gnutls_init(&s, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) |
	    GNUTLS_NONBLOCK);
	if (r < 0)
		return -ENOMEM;
	if ((r = gnutls_priority_set(s, ctx->prio)) < 0 ||
	    (r = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE,
	    ctx->cred)) < 0)
		goto fail;
	gnutls_session_set_ptr(s, peer);
	if (server) {
		gnutls_certificate_server_set_request(s,
		    cfg->verify == SG_VERIFY_REQUIRE ? GNUTLS_CERT_REQUIRE :
		    cfg->verify == SG_VERIFY_OPTIONAL || cfg->npins > 0 ?
		    GNUTLS_CERT_REQUEST : GNUTLS_CERT_IGNORE);
		gnutls_session_ticket_enable_server(s, &ctx->ticket_key);
	} else {
		if (ctx->verify_name[0] != '\0')
			gnutls_server_name_set(s, GNUTLS_NAME_DNS,
			    ctx->verify_name, strlen(ctx->verify_name));
		if (ctx->resume.data != NULL)
			gnutls_session_set_data(s, ctx->resume.data,
			    ctx->resume.size);
	}
	gnutls_handshake_set_timeout(s, cfg->tls_handshake_timeout * 1000);
	if (cfg->tls_trace)
		gnutls_handshake_set_hook_function(s, GNUTLS_HANDSHAKE_ANY,
		    GNUTLS_HOOK_POST, trace_hook);
	*out = s;
	return 0;
fail:
	log_warnx("tls session: %s", gnutls_strerror(r));
	gnutls_deinit(s);
	return -EPROTO;
}

void sg_tls_save_resume(struct sg_tls_ctx *ctx, gnutls_session_t s)
{
	gnutls_datum_t d = { NULL, 0 };

	if (gnutls_session_get_data2(s, &d) < 0)
		return;
	gnutls_free(ctx->resume.data);
	ctx->resume = d;
}

void sg_tls_session_info(gnutls_session_t s, struct sg_tls_info *info)
{
	const gnutls_datum_t *chain;
	unsigned n = 0;
	const char *v = gnutls_protocol_get_name(gnutls_protocol_get_version(s));
	char *d = gnutls_session_get_desc(s);

	memset(info, 0, sizeof(*info));
	snprintf(info->version, sizeof(info->version), "%s", v ? v : "?");
	snprintf(info->suite, sizeof(info->suite), "%s", d ? d : "?");
	gnutls_free(d);
	chain = gnutls_certificate_get_peers(s, &n);
	if (chain && n > 0) {
		peer_subject(&chain[0], info->peer_subject,
		    sizeof(info->peer_subject));
		info->has_peer_id = spki_sha256(&chain[0], info->peer_id) == 0;
	}
	info->resumed = gnutls_session_is_resumed(s) != 0;
}

/* Session I/O: the transport's callbacks, behind GnuTLS's. */

static ssize_t io_push(gnutls_transport_ptr_t ptr, const void *p, size_t len)
{
	struct sg_tls_peer *peer = ptr;
	gnutls_session_t s = peer->session;

	if (peer->io->push(peer->io_arg, p, len) < 0) {
		gnutls_transport_set_errno(s, EPIPE);
		return -1;
	}
	return (ssize_t)len;
}

static ssize_t io_pull(gnutls_transport_ptr_t ptr, void *dst, size_t len)
{
	struct sg_tls_peer *peer = ptr;
	ssize_t n = peer->io->pull(peer->io_arg, dst, len);

	if (n == -EAGAIN) {
		gnutls_transport_set_errno(peer->session, EAGAIN);
		return -1;
	}
	if (n < 0) {
		gnutls_transport_set_errno(peer->session, EIO);
		return -1;
	}
	peer->pulled += (size_t)n;
	return n;
}

/*
 * GnuTLS may wait for data with a timeout (TLS 1.3 tickets, for one): we
 * never block, so answer at once whether buffered ciphertext is there.
 */
static int io_pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms)
{
	struct sg_tls_peer *peer = ptr;

	(void)ms;
	return peer->io->pending(peer->io_arg) ? 1 : 0;
}

void sg_tls_session_set_io(gnutls_session_t s, struct sg_tls_peer *peer,
			   const struct sg_tls_io *io, void *arg)
{
	peer->io = io;
	peer->io_arg = arg;
	peer->session = s;
	gnutls_transport_set_ptr(s, peer);
	gnutls_transport_set_push_function(s, io_push);
	gnutls_transport_set_pull_function(s, io_pull);
	gnutls_transport_set_pull_timeout_function(s, io_pull_timeout);
}

void sg_tls_session_free(gnutls_session_t s)
{
	if (s != NULL)
		gnutls_deinit(s);
}

int sg_tls_handshake(gnutls_session_t s, struct sg_tls_peer *peer, char *why,
		     size_t len)
{
	size_t before;
	int r;

	do {
		before = peer->pulled;
		r = gnutls_handshake(s);
		/* Go on while it reads and the transport holds more. */
	} while ((r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) &&
	    peer->pulled > before && peer->io &&
	    peer->io->pending(peer->io_arg));
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
		return -EAGAIN;
	if (r == 0)
		return 0;
	/* Logs the peer's alert, or sends ours. */
	sg_tls_handshake_failed(s, peer, r, why, len);
	if (peer->alert_rx >= 0 || r == GNUTLS_E_FATAL_ALERT_RECEIVED)
		return -ECONNRESET;
	return -EPROTO;
}

ssize_t sg_tls_recv(gnutls_session_t s, void *buf, size_t len, char *why,
		    size_t whylen)
{
	ssize_t n = gnutls_record_recv(s, buf, len);

	if (n >= 0)
		return n;
	if (n == GNUTLS_E_AGAIN)
		return -EAGAIN;
	if (n == GNUTLS_E_INTERRUPTED)
		return -EINTR;
	if (n == GNUTLS_E_REHANDSHAKE) {
		/*
		 * A ClientHello on an established connection (or a
		 * HelloRequest to us): SIP never needs renegotiation, and a
		 * client that asks for it again and again costs a handshake
		 * each time. Say no_renegotiation; the caller decides.
		 */
		gnutls_alert_send(s, GNUTLS_AL_WARNING,
		    GNUTLS_A_NO_RENEGOTIATION);
		return -EPERM;
	}
	if (!gnutls_error_is_fatal((int)n))
		return -EINTR;
	if (n == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		int d = (int)gnutls_alert_get(s);
		char name[48];

		snprintf(why, whylen, "peer sent alert %s (%d)",
		    sg_tls_alert_name(d, name, sizeof(name)), d);
		return -ECONNABORTED;
	}
	snprintf(why, whylen, "%s", gnutls_strerror((int)n));
	return -ECONNRESET;
}

int sg_tls_send(gnutls_session_t s, const void *p, size_t len)
{
	const char *b = p;
	ssize_t n;

	while (len > 0) {
		n = gnutls_record_send(s, b, len);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0)
			return -EPROTO;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

void sg_tls_cork(gnutls_session_t s)
{
	gnutls_record_cork(s);
}

int sg_tls_uncork(gnutls_session_t s)
{
	int r;

	do {
		r = gnutls_record_uncork(s, 0);
	} while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
	return r < 0 ? -EPROTO : 0;
}

void sg_tls_bye(gnutls_session_t s)
{
	gnutls_bye(s, GNUTLS_SHUT_WR);
}

bool sg_tls_is_tls13(gnutls_session_t s)
{
	return gnutls_protocol_get_version(s) >= GNUTLS_TLS1_3;
}

bool sg_tls_has_ticket(gnutls_session_t s)
{
	return (gnutls_session_get_flags(s) & GNUTLS_SFLAGS_SESSION_TICKET) != 0;
}

void sg_tls_ctx_own_names(const struct sg_tls_ctx *ctx,
			  void (*add)(void *arg, const char *name, size_t len),
			  void *arg)
{
	gnutls_datum_t der = { NULL, 0 };
	gnutls_x509_crt_t crt;
	char name[256];
	size_t len;
	unsigned i;
	int type;

	if (ctx == NULL || gnutls_certificate_get_crt_raw(ctx->cred, 0, 0,
	    &der) < 0)
		return;
	if (gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(crt);
		return;
	}
	for (i = 0;; i++) {
		len = sizeof(name);
		type = gnutls_x509_crt_get_subject_alt_name(crt, i, name, &len,
		    NULL);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type == GNUTLS_SAN_DNSNAME)
			add(arg, name, strnlen(name, len));
		else if (type < 0 && type != GNUTLS_E_SHORT_MEMORY_BUFFER)
			break;
	}
	len = sizeof(name);
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	    0, name, &len) == 0)
		add(arg, name, strnlen(name, len));
	gnutls_x509_crt_deinit(crt);
}
