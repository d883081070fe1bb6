/* SPDX-License-Identifier: MIT */
/*
 * pair.c: the server side of `sipsgate pair` and the pairing CA
 * (docs/pairing.md). Codes live in the daemon's memory only. While a code
 * is pending for a service, TLS sessions accepted on its listener also take
 * TLS-PSK with (EC)DHE: a client that offers the code's identity and key
 * gets a pairing session, which never carries SIP; a client that offers
 * certificates gets the usual SIP link. A code is taken off the table at
 * its first use, right or wrong, so it pairs one client or none. The CA
 * (ECDSA P-256, made with the GnuTLS API on first use, key 0600) signs the
 * client's CSR; its CRL is what `pair revoke` extends.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>

#include "log.h"
#include "pair.h"
#include "pair_code.h"

#define PAIR_MAX_OFFERS 16
#define PAIR_MAX_SVC 16
#define PAIR_MAX_REQUEST 16384
#define PAIR_CONN_TIMEOUT_MS 30000
#define PAIR_RATE_BURST 10		/* PSK look-ups at once, per service */
#define PAIR_RATE_REFILL_MS 6000	/* then one more every 6 s */
#define PAIR_CA_DAYS (20 * 365)
#define PAIR_CERT_DAYS (5 * 365)
#define PAIR_CRL_DAYS (10 * 365)
#define PAIR_PSK_PRIORITY ":+ECDHE-PSK:+DHE-PSK"
#define PAIR_PROTO "SIPSGATE-PAIR/1"

struct pair_offer {
	bool used;
	char id[SG_PAIR_ID_LEN + 1];
	uint8_t key[SG_PAIR_KEY_LEN];
	char svc[64];
	char name[64];		/* "": the name the client proposes */
	time_t expires;
};

/* A pairing connection's state (c->pair); owned by the connection. */
struct sg_pair_conn {
	struct pair_offer offer;	/* taken off the table */
	uint64_t started_ms;
	bool ready;			/* PSK handshake done */
	bool answered;
};

struct pair_stats {
	char svc[64];
	uint64_t offers, ok, refused, expired, ratelimited, dropped;
	double tokens;
	uint64_t last_ms;
};

static gnutls_psk_server_credentials_t pair_psk;
static int (*pair_reload)(void);
static struct pair_offer offers[PAIR_MAX_OFFERS];
static struct pair_stats stats[PAIR_MAX_SVC];

static struct pair_stats *stats_of(const char *svc)
{
	unsigned i;

	for (i = 0; i < PAIR_MAX_SVC && stats[i].svc[0]; i++)
		if (strcmp(stats[i].svc, svc) == 0)
			return &stats[i];
	if (i == PAIR_MAX_SVC)
		return &stats[PAIR_MAX_SVC - 1];	/* shared overflow row */
	snprintf(stats[i].svc, sizeof(stats[i].svc), "%s", svc);
	stats[i].tokens = PAIR_RATE_BURST;
	return &stats[i];
}

/* Files ------------------------------------------------------------------ */

int sg_pair_write_file(const char *path, const void *data, size_t len,
		       mode_t mode)
{
	char tmp[PATH_MAX];
	const char *p = data;
	ssize_t n;
	int fd, e;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0)
		return -errno;
	if (fchmod(fd, mode) < 0)
		goto fail;
	while (len > 0) {
		if ((n = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -e;
}

static int mkdir_p(const char *dir, mode_t mode)
{
	char p[PATH_MAX];
	size_t i;

	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	for (i = 1; p[i]; i++) {
		if (p[i] != '/')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		p[i] = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The CA ------------------------------------------------------------------ */

static int rand_serial(uint8_t serial[16])
{
	if (gnutls_rnd(GNUTLS_RND_NONCE, serial, 16) < 0)
		return -EIO;
	serial[0] &= 0x7f;		/* a positive INTEGER */
	serial[0] |= 0x01;		/* and no leading zero octet */
	return 0;
}

static int ca_create(const char *dir, FILE *errf)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t pem = { NULL, 0 };
	char path[PATH_MAX], host[64], cn[128];
	uint8_t serial[16], kid[64];
	size_t kidlen = sizeof(kid);
	time_t now = time(NULL);
	int rc = -EIO;

	if ((rc = mkdir_p(dir, 0700)) < 0) {
		fprintf(errf, "pair-dir %s: cannot create: %s\n", dir,
		    strerror(-rc));
		return rc;
	}
	rc = -EIO;
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(cn, sizeof(cn), "sipsgate pairing CA %s", host);
	if (gnutls_x509_privkey_init(&key) < 0 ||
	    gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
	    gnutls_x509_crt_init(&crt) < 0 || rand_serial(serial) < 0)
		goto out;
	if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, now - 3600) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt,
	    now + (time_t)PAIR_CA_DAYS * 86400) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME,
	    0, "sipsgate", 8) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	    cn, (unsigned)strlen(cn)) < 0 ||
	    gnutls_x509_crt_set_key(crt, key) < 0 ||
	    gnutls_x509_crt_set_basic_constraints(crt, 1, 0) < 0 ||
	    gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN |
	    GNUTLS_KEY_CRL_SIGN) < 0 ||
	    gnutls_x509_crt_get_key_id(crt, 0, kid, &kidlen) < 0 ||
	    gnutls_x509_crt_set_subject_key_id(crt, kid, kidlen) < 0 ||
	    gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0)
		goto out;
	/* The key first: a CA certificate without its key is useless. */
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	if (gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &pem) < 0)
		goto out;
	rc = sg_pair_write_file(path, pem.data, pem.size, 0600);
	gnutls_memset(pem.data, 0, pem.size);
	gnutls_free(pem.data);
	pem.data = NULL;
	if (rc < 0) {
		fprintf(errf, "%s: cannot write: %s\n", path, strerror(-rc));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem) < 0) {
		rc = -EIO;
		goto out;
	}
	if ((rc = sg_pair_write_file(path, pem.data, pem.size, 0644)) < 0) {
		fprintf(errf, "%s: cannot write: %s\n", path, strerror(-rc));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/peers", dir);
	if ((rc = mkdir_p(path, 0700)) < 0)
		goto out;
	log_info("pairing: made the pairing CA '%s' in %s", cn, dir);
	rc = 0;
out:
	gnutls_free(pem.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	if (rc == -EIO)
		fprintf(errf, "pair-dir %s: cannot make the pairing CA\n", dir);
	return rc;
}

static int load_crt(const char *path, gnutls_x509_crt_t *out)
{
	gnutls_datum_t d = { NULL, 0 };
	int r;

	if ((r = gnutls_load_file(path, &d)) < 0)
		return -ENOENT;
	if ((r = gnutls_x509_crt_init(out)) >= 0 &&
	    (r = gnutls_x509_crt_import(*out, &d, GNUTLS_X509_FMT_PEM)) < 0) {
		gnutls_x509_crt_deinit(*out);
		*out = NULL;
	}
	gnutls_free(d.data);
	return r < 0 ? -EINVAL : 0;
}

static int crl_write(const char *dir, gnutls_x509_crt_t ca,
		     gnutls_x509_privkey_t cakey, gnutls_x509_crt_t revoke,
		     FILE *errf);

int sg_pair_ca_open(const char *dir, bool create, gnutls_x509_crt_t *crt,
		    gnutls_x509_privkey_t *key, FILE *errf)
{
	gnutls_datum_t d = { NULL, 0 };
	char path[PATH_MAX];
	struct stat st;
	int rc;

	*crt = NULL;
	*key = NULL;
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	if (stat(path, &st) < 0) {
		if (!create) {
			fprintf(errf, "%s: no pairing CA (`sipsgate pair offer`"
			    " makes it)\n", dir);
			return -ENOENT;
		}
		if ((rc = ca_create(dir, errf)) < 0)
			return rc;
	}
	if ((rc = sg_tls_check_key_file(path, errf)) < 0)
		return rc;
	if (gnutls_load_file(path, &d) < 0 ||
	    gnutls_x509_privkey_init(key) < 0 ||
	    gnutls_x509_privkey_import(*key, &d, GNUTLS_X509_FMT_PEM) < 0) {
		fprintf(errf, "%s: not a PEM private key\n", path);
		rc = -EINVAL;
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	if (load_crt(path, crt) < 0) {
		fprintf(errf, "%s: cannot read the CA certificate\n", path);
		rc = -EINVAL;
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/crl.pem", dir);
	if (stat(path, &st) < 0 &&
	    (rc = crl_write(dir, *crt, *key, NULL, errf)) < 0)
		goto fail;
	if (d.data) {
		gnutls_memset(d.data, 0, d.size);
		gnutls_free(d.data);
	}
	return 0;
fail:
	if (d.data) {
		gnutls_memset(d.data, 0, d.size);
		gnutls_free(d.data);
	}
	gnutls_x509_privkey_deinit(*key);
	gnutls_x509_crt_deinit(*crt);
	*key = NULL;
	*crt = NULL;
	return rc;
}

/*
 * Write dir/crl.pem: every serial of the CRL there now, plus revoke's
 * (if not NULL), signed by the CA, valid PAIR_CRL_DAYS (GnuTLS flags a CRL
 * past its nextUpdate as superseded: it must not lapse between revocations).
 */
static int crl_write(const char *dir, gnutls_x509_crt_t ca,
		     gnutls_x509_privkey_t cakey, gnutls_x509_crt_t revoke,
		     FILE *errf)
{
	gnutls_x509_crl_t old = NULL, crl = NULL;
	gnutls_datum_t d = { NULL, 0 };
	char path[PATH_MAX];
	uint8_t serial[64], number[8], kid[64];
	size_t slen, kidlen = sizeof(kid);
	time_t now = time(NULL), when;
	uint64_t nr = (uint64_t)now;
	int i, n = 0, rc = -EIO;

	snprintf(path, sizeof(path), "%s/crl.pem", dir);
	if (gnutls_x509_crl_init(&crl) < 0)
		return -ENOMEM;
	if (gnutls_load_file(path, &d) >= 0) {
		if (gnutls_x509_crl_init(&old) < 0 ||
		    gnutls_x509_crl_import(old, &d, GNUTLS_X509_FMT_PEM) < 0) {
			fprintf(errf, "%s: not a PEM CRL\n", path);
			goto out;
		}
		n = gnutls_x509_crl_get_crt_count(old);
	}
	if (gnutls_x509_crl_set_version(crl, 2) < 0 ||
	    gnutls_x509_crl_set_this_update(crl, now) < 0 ||
	    gnutls_x509_crl_set_next_update(crl,
	    now + (time_t)PAIR_CRL_DAYS * 86400) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		slen = sizeof(serial);
		if (gnutls_x509_crl_get_crt_serial(old, i, serial, &slen,
		    &when) < 0 ||
		    gnutls_x509_crl_set_crt_serial(crl, serial, slen, when) < 0)
			goto out;
	}
	if (revoke != NULL && gnutls_x509_crl_set_crt(crl, revoke, now) < 0)
		goto out;
	for (i = 0; i < 8; i++)
		number[i] = (uint8_t)(nr >> (56 - 8 * i));
	if (gnutls_x509_crl_set_number(crl, number, sizeof(number)) < 0 ||
	    gnutls_x509_crt_get_subject_key_id(ca, kid, &kidlen, NULL) < 0 ||
	    gnutls_x509_crl_set_authority_key_id(crl, kid, kidlen) < 0 ||
	    gnutls_x509_crl_sign2(crl, ca, cakey, GNUTLS_DIG_SHA256, 0) < 0)
		goto out;
	gnutls_free(d.data);
	d.data = NULL;
	if (gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &d) < 0)
		goto out;
	if ((rc = sg_pair_write_file(path, d.data, d.size, 0644)) < 0)
		fprintf(errf, "%s: cannot write: %s\n", path, strerror(-rc));
out:
	if (rc == -EIO)
		fprintf(errf, "%s: cannot make the CRL\n", path);
	gnutls_free(d.data);
	gnutls_x509_crl_deinit(old);
	gnutls_x509_crl_deinit(crl);
	return rc;
}

int sg_pair_ca_revoke(const char *dir, const char *name, FILE *errf)
{
	gnutls_x509_crt_t ca, crt = NULL;
	gnutls_x509_privkey_t key;
	char path[PATH_MAX], dead[PATH_MAX + 64], hex[80];
	uint8_t serial[64];
	size_t slen = sizeof(serial), i;
	int rc;

	if (!sg_pair_name_is_valid(name)) {
		fprintf(errf, "'%s' is not a paired name\n", name);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/peers/%s.crt", dir, name);
	if (load_crt(path, &crt) < 0) {
		fprintf(errf, "no paired peer '%s' (no %s)\n", name, path);
		return -ENOENT;
	}
	if ((rc = sg_pair_ca_open(dir, false, &ca, &key, errf)) < 0) {
		gnutls_x509_crt_deinit(crt);
		return rc;
	}
	rc = crl_write(dir, ca, key, crt, errf);
	if (rc == 0 && gnutls_x509_crt_get_serial(crt, serial, &slen) >= 0) {
		for (i = 0; i < slen && i * 2 + 2 < sizeof(hex); i++)
			snprintf(hex + i * 2, 3, "%02x", serial[i]);
		snprintf(dead, sizeof(dead), "%s/peers/%s.%s.revoked", dir,
		    name, hex);
		if (rename(path, dead) < 0)
			rc = -errno;
	}
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_privkey_deinit(key);
	return rc;
}

/* Sign a client's CSR for name; *pem gets the certificate. */
static int ca_sign(const char *dir, gnutls_x509_crq_t crq, const char *name,
		   gnutls_datum_t *pem, gnutls_datum_t *capem, FILE *errf)
{
	gnutls_x509_crt_t ca, crt = NULL;
	gnutls_x509_privkey_t key;
	gnutls_pubkey_t pk = NULL;
	char path[PATH_MAX];
	uint8_t serial[16], kid[64];
	size_t kidlen = sizeof(kid);
	time_t now = time(NULL);
	unsigned usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
	int rc = -EIO, algo;

	if ((rc = sg_pair_ca_open(dir, true, &ca, &key, errf)) < 0)
		return rc;
	rc = -EIO;
	if (gnutls_pubkey_init(&pk) < 0 ||
	    gnutls_pubkey_import_x509_crq(pk, crq, 0) < 0 ||
	    gnutls_x509_crt_init(&crt) < 0 || rand_serial(serial) < 0)
		goto out;
	algo = gnutls_pubkey_get_pk_algorithm(pk, NULL);
	if (algo == GNUTLS_PK_RSA)
		usage |= GNUTLS_KEY_KEY_ENCIPHERMENT;
	if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, now - 300) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt,
	    now + (time_t)PAIR_CERT_DAYS * 86400) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME,
	    0, "sipsgate paired peer", 20) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	    name, (unsigned)strlen(name)) < 0 ||
	    gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name,
	    (unsigned)strlen(name), GNUTLS_FSAN_SET) < 0 ||
	    gnutls_x509_crt_set_pubkey(crt, pk) < 0 ||
	    gnutls_x509_crt_set_basic_constraints(crt, 0, -1) < 0 ||
	    gnutls_x509_crt_set_key_usage(crt, usage) < 0 ||
	    /* A client certificate only: it cannot serve TLS as a server
	     * anywhere the pairing CA is trusted. */
	    gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT,
	    1) < 0 ||
	    gnutls_x509_crt_get_key_id(crt, 0, kid, &kidlen) < 0 ||
	    gnutls_x509_crt_set_subject_key_id(crt, kid, kidlen) < 0)
		goto out;
	kidlen = sizeof(kid);
	if (gnutls_x509_crt_get_subject_key_id(ca, kid, &kidlen, NULL) < 0 ||
	    gnutls_x509_crt_set_authority_key_id(crt, kid, kidlen) < 0 ||
	    gnutls_x509_crt_sign2(crt, ca, key, GNUTLS_DIG_SHA256, 0) < 0 ||
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, pem) < 0 ||
	    gnutls_x509_crt_export2(ca, GNUTLS_X509_FMT_PEM, capem) < 0)
		goto out;
	/* The record `pair revoke` finds: written before the answer. */
	snprintf(path, sizeof(path), "%s/peers", dir);
	if ((rc = mkdir_p(path, 0700)) < 0 ||
	    (snprintf(path, sizeof(path), "%s/peers/%s.crt", dir, name),
	    rc = sg_pair_write_file(path, pem->data, pem->size, 0644)) < 0) {
		fprintf(errf, "%s: cannot write: %s\n", path, strerror(-rc));
		goto out;
	}
	rc = 0;
out:
	if (rc < 0) {
		gnutls_free(pem->data);
		gnutls_free(capem->data);
		pem->data = capem->data = NULL;
	}
	gnutls_pubkey_deinit(pk);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_privkey_deinit(key);
	return rc;
}

static bool peer_exists(const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/peers/%s.crt", dir, name);
	return access(path, F_OK) == 0;
}

/* What the server tells a client about itself --------------------------- */

struct server_id {
	char name[256];		/* DNS name of its certificate */
	char pin[64];		/* base64 SHA-256 of its SPKI */
	gnutls_datum_t anchor;	/* PEM of the CA that verifies it, or none */
};

static int spki_pin(gnutls_x509_crt_t crt, char *out, size_t len)
{
	gnutls_pubkey_t pk = NULL;
	gnutls_datum_t der = { NULL, 0 }, h, b64 = { NULL, 0 };
	uint8_t sha[32];
	int rc = -EIO;

	if (gnutls_pubkey_init(&pk) >= 0 &&
	    gnutls_pubkey_import_x509(pk, crt, 0) >= 0 &&
	    gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, &der) >= 0 &&
	    gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, sha) >= 0) {
		h.data = sha;
		h.size = sizeof(sha);
		if (gnutls_base64_encode2(&h, &b64) >= 0 && b64.size < len) {
			memcpy(out, b64.data, b64.size);
			out[b64.size] = '\0';
			rc = 0;
		}
	}
	gnutls_free(b64.data);
	gnutls_free(der.data);
	gnutls_pubkey_deinit(pk);
	return rc;
}

static void crt_name(gnutls_x509_crt_t crt, char *out, size_t len)
{
	size_t n;
	unsigned i, type;
	int r;

	for (i = 0;; i++) {
		n = len;
		r = gnutls_x509_crt_get_subject_alt_name2(crt, i, out, &n,
		    &type, NULL);
		if (r < 0)
			break;
		if (type == GNUTLS_SAN_DNSNAME)
			return;
	}
	n = len;
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	    0, out, &n) < 0)
		out[0] = '\0';
}

/* Does chain verify with anchor as the only trust anchor? */
static bool anchors(gnutls_x509_crt_t *chain, unsigned n,
		    gnutls_x509_crt_t anchor)
{
	gnutls_x509_trust_list_t tl;
	gnutls_x509_crt_t copy;
	gnutls_datum_t der = { NULL, 0 };
	unsigned status = 1;

	if (gnutls_x509_crt_export2(anchor, GNUTLS_X509_FMT_DER, &der) < 0)
		return false;
	if (gnutls_x509_trust_list_init(&tl, 0) < 0) {
		gnutls_free(der.data);
		return false;
	}
	if (gnutls_x509_crt_init(&copy) >= 0) {
		if (gnutls_x509_crt_import(copy, &der, GNUTLS_X509_FMT_DER) < 0 ||
		    gnutls_x509_trust_list_add_cas(tl, &copy, 1, 0) != 1)
			gnutls_x509_crt_deinit(copy);
		else if (gnutls_x509_trust_list_verify_crt(tl, chain, n, 0,
		    &status, NULL) < 0)
			status = 1;
	}
	gnutls_free(der.data);
	gnutls_x509_trust_list_deinit(tl, 1);
	return status == 0;
}

static int import_list(const char *path, gnutls_x509_crt_t **crts,
		       unsigned *n)
{
	gnutls_datum_t d = { NULL, 0 };
	int r;

	*crts = NULL;
	*n = 0;
	if (path[0] == '\0' || gnutls_load_file(path, &d) < 0)
		return -ENOENT;
	r = gnutls_x509_crt_list_import2(crts, n, &d, GNUTLS_X509_FMT_PEM, 0);
	gnutls_free(d.data);
	return r < 0 ? -EINVAL : 0;
}

static void free_list(gnutls_x509_crt_t *crts, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
}

/*
 * The server's name, pin and trust anchor, from its cert file (which may
 * hold its chain) and its ca file: the anchor is the first CA among them
 * that the chain verifies to, so the client can write `ca` as well as
 * `pin-sha256`.
 */
static int server_identity(const struct sg_cfg_service *cfg,
			   struct server_id *id)
{
	gnutls_x509_crt_t *chain = NULL, *cas = NULL, cand = NULL;
	unsigned nchain = 0, nca = 0, i;
	int rc;

	memset(id, 0, sizeof(*id));
	if ((rc = import_list(cfg->cert, &chain, &nchain)) < 0 || nchain == 0)
		return rc < 0 ? rc : -EINVAL;
	crt_name(chain[0], id->name, sizeof(id->name));
	if ((rc = spki_pin(chain[0], id->pin, sizeof(id->pin))) < 0)
		goto out;
	import_list(cfg->ca, &cas, &nca);
	for (i = 0; i < nca + nchain && cand == NULL; i++) {
		/* The ca file first, then the chain from its top down. */
		gnutls_x509_crt_t c = i < nca ? cas[i] :
		    chain[nchain - 1 - (i - nca)];

		if ((gnutls_x509_crt_get_ca_status(c, NULL) > 0 ||
		    gnutls_x509_crt_check_issuer(c, c)) &&
		    anchors(chain, nchain, c))
			cand = c;
	}
	if (cand != NULL)
		gnutls_x509_crt_export2(cand, GNUTLS_X509_FMT_PEM, &id->anchor);
	rc = 0;
out:
	free_list(chain, nchain);
	free_list(cas, nca);
	return rc;
}

/* Daemon: codes ------------------------------------------------------------ */

static struct sg_svc *find_svc(struct sg_gw *gw, const char *name)
{
	unsigned i;

	for (i = 0; i < gw->nsvc; i++)
		if (strcmp(gw->svc[i]->cfg->name, name) == 0)
			return gw->svc[i];
	return NULL;
}

static void offer_drop(struct pair_offer *o)
{
	gnutls_memset(o, 0, sizeof(*o));
}

static void expire_offers(void)
{
	time_t now = time(NULL);
	unsigned i;

	for (i = 0; i < PAIR_MAX_OFFERS; i++) {
		if (!offers[i].used || offers[i].expires > now)
			continue;
		stats_of(offers[i].svc)->expired++;
		log_info("pairing: [%s]: code %s expired unused",
		    offers[i].svc, offers[i].id);
		offer_drop(&offers[i]);
	}
}

static struct sg_conn *conn_of_session(gnutls_session_t s)
{
	struct sg_tls_peer *peer = gnutls_session_get_ptr(s);

	return container_of(peer, struct sg_conn, tlsp);
}

static bool rate_ok(struct pair_stats *st, uint64_t now)
{
	if (st->last_ms == 0)
		st->last_ms = now;
	st->tokens += (double)(now - st->last_ms) / PAIR_RATE_REFILL_MS;
	if (st->tokens > PAIR_RATE_BURST)
		st->tokens = PAIR_RATE_BURST;
	st->last_ms = now;
	if (st->tokens < 1)
		return false;
	st->tokens -= 1;
	return true;
}

/*
 * GnuTLS asks for the key of a PSK identity. The code it names leaves the
 * table now, whatever follows: a wrong key fails the handshake and the code
 * is void (one try). Returning -1 fails the handshake.
 */
static int psk_on_identity(gnutls_session_t s, const gnutls_datum_t *identity,
			   gnutls_datum_t *key)
{
	struct sg_conn *c = conn_of_session(s);
	struct sg_svc *svc = c->svc;
	struct pair_stats *st = stats_of(svc->cfg->name);
	static struct sg_ratelimit rl;
	char id[SG_PAIR_ID_LEN + 1], a[64];
	unsigned i;

	sg_addr_str((struct sockaddr *)&c->peer, a, sizeof(a));
	if (c->pair != NULL) {
		/* Asked again in the same handshake (a TLS 1.3
		 * HelloRetryRequest): the same code, the same key. */
		if (sg_pair_identity_id((const char *)identity->data,
		    identity->size, id) < 0 ||
		    strcmp(id, c->pair->offer.id) != 0 ||
		    (key->data = gnutls_malloc(SG_PAIR_KEY_LEN)) == NULL)
			return -1;
		memcpy(key->data, c->pair->offer.key, SG_PAIR_KEY_LEN);
		key->size = SG_PAIR_KEY_LEN;
		return 0;
	}
	if (!rate_ok(st, uv_now(svc->gw->loop))) {
		st->ratelimited++;
		log_ratelimited(&rl, LOG_WARNING, "pairing: [%s]: refused a"
		    " pairing attempt from %s: more than %d in a minute",
		    svc->cfg->name, a, 60000 / PAIR_RATE_REFILL_MS);
		return -1;
	}
	if (sg_pair_identity_id((const char *)identity->data, identity->size,
	    id) < 0) {
		st->refused++;
		log_ratelimited(&rl, LOG_WARNING, "pairing: [%s]: %s offered"
		    " a PSK identity that is no pairing code", svc->cfg->name,
		    a);
		return -1;
	}
	expire_offers();
	for (i = 0; i < PAIR_MAX_OFFERS; i++)
		if (offers[i].used && strcmp(offers[i].id, id) == 0 &&
		    strcmp(offers[i].svc, svc->cfg->name) == 0)
			break;
	if (i == PAIR_MAX_OFFERS) {
		st->refused++;
		log_ratelimited(&rl, LOG_WARNING, "pairing: [%s]: %s offered"
		    " code %s: unknown, used or expired", svc->cfg->name, a,
		    id);
		return -1;
	}
	if ((c->pair = calloc(1, sizeof(*c->pair))) == NULL ||
	    (key->data = gnutls_malloc(SG_PAIR_KEY_LEN)) == NULL) {
		free(c->pair);
		c->pair = NULL;
		return -1;
	}
	c->pair->offer = offers[i];
	c->pair->started_ms = uv_now(svc->gw->loop);
	offer_drop(&offers[i]);
	memcpy(key->data, c->pair->offer.key, SG_PAIR_KEY_LEN);
	key->size = SG_PAIR_KEY_LEN;
	log_info("pairing: [%s]: %s offered code %s: checking it",
	    svc->cfg->name, a, id);
	return 0;
}

static const struct sg_xport_conn_ops pair_conn_ops = {
	.prepare = sg_pair_session_prepare,
	.is_special = sg_pair_conn_is_pairing,
	.ready = sg_pair_conn_ready,
	.data = sg_pair_conn_data,
	.free = sg_pair_conn_free,
};

void sg_pair_init(struct sg_gw *gw, int (*reload)(void))
{
	gw->conn_ops = &pair_conn_ops;	/* the transport calls these */
	pair_reload = reload;
	if (pair_psk == NULL &&
	    gnutls_psk_allocate_server_credentials(&pair_psk) >= 0)
		gnutls_psk_set_server_credentials_function2(pair_psk,
		    psk_on_identity);
}

int sg_pair_session_prepare(struct sg_conn *c)
{
	const struct sg_cfg_service *cfg = c->svc->cfg;
	char prio[sizeof(cfg->tls_priority) + sizeof(PAIR_PSK_PRIORITY)];
	const char *err = NULL;
	int r;

	/* Always on a pair = yes service, so that every try is counted. */
	if (!cfg->pair || pair_psk == NULL)
		return 0;
	snprintf(prio, sizeof(prio), "%s" PAIR_PSK_PRIORITY,
	    cfg->tls_priority);
	if ((r = gnutls_priority_set_direct(c->tls, prio, &err)) < 0 ||
	    (r = gnutls_credentials_set(c->tls, GNUTLS_CRD_PSK, pair_psk)) < 0) {
		log_warnx("pairing: [%s]: cannot offer TLS-PSK: %s",
		    cfg->name, gnutls_strerror(r));
		return -EPROTO;
	}
	return 0;
}

bool sg_pair_conn_is_pairing(const struct sg_conn *c)
{
	return c->pair != NULL ||
	    (c->tls != NULL && gnutls_auth_get_type(c->tls) == GNUTLS_CRD_PSK);
}

void sg_pair_conn_ready(struct sg_conn *c)
{
	char a[64];

	sg_addr_str((struct sockaddr *)&c->peer, a, sizeof(a));
	if (c->pair == NULL) {	/* a PSK session we did not key: never */
		sg_xport_conn_close(c, "TLS-PSK session without a code");
		return;
	}
	c->pair->ready = true;
	log_info("pairing: [%s]: %s proved code %s (TLS-PSK, %s): waiting for"
	    " its request", c->svc->cfg->name, a, c->pair->offer.id,
	    c->info.suite);
}

/* One "Key: value" header of a request, or "" (and 0) if absent. */
static size_t header(const char *head, const char *name, char *out,
		     size_t len)
{
	size_t nlen = strlen(name);
	const char *p = head;

	out[0] = '\0';
	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			const char *v = p + nlen + 1, *e;

			while (*v == ' ')
				v++;
			e = strstr(v, "\r\n");
			if (e == NULL || (size_t)(e - v) >= len)
				return 0;
			memcpy(out, v, (size_t)(e - v));
			out[e - v] = '\0';
			return (size_t)(e - v);
		}
	}
	return 0;
}

static char *answer_text(int code, const char *reason, size_t *olen)
{
	char *out = NULL;

	if (asprintf(&out, PAIR_PROTO " %d %s\r\nContent-Length: 0\r\n\r\n",
	    code, reason) < 0)
		return NULL;
	*olen = strlen(out);
	return out;
}

ssize_t sg_pair_request_len(const char *p, size_t len)
{
	char head[1024], clen[16];
	const char *end;
	unsigned long n;
	size_t hlen;

	if (len == 0)
		return 0;
	if ((end = memmem(p, len, "\r\n\r\n", 4)) == NULL)
		return len > sizeof(head) ? -EBADMSG : 0;
	hlen = (size_t)(end - p) + 4;
	if (hlen >= sizeof(head))
		return -EBADMSG;
	memcpy(head, p, hlen);
	head[hlen] = '\0';
	if (strncmp(head, PAIR_PROTO " JOIN\r\n", sizeof(PAIR_PROTO) + 6) != 0 ||
	    header(head, "Content-Length", clen, sizeof(clen)) == 0 ||
	    (n = strtoul(clen, NULL, 10)) == 0 || n > PAIR_MAX_REQUEST)
		return -EBADMSG;
	return len < hlen + n ? 0 : (ssize_t)(hlen + n);
}

int sg_pair_answer(const struct sg_cfg_service *cfg, const char *id,
		   const char *offer_name, const char *req, size_t len,
		   char **out, size_t *olen, char *name, size_t namelen,
		   FILE *errf)
{
	gnutls_x509_crq_t crq = NULL;
	gnutls_datum_t d, crt = { NULL, 0 }, ca = { NULL, 0 };
	struct server_id sid;
	char head[1024], proposed[128];
	const char *body, *why;
	size_t hlen, blen;
	FILE *f;
	int code = 500, rc;

	(void)id;
	*out = NULL;
	memset(&sid, 0, sizeof(sid));
	if (sg_pair_request_len(req, len) <= 0) {
		why = "not a pairing request";
		code = 400;
		goto error;
	}
	body = (const char *)memmem(req, len, "\r\n\r\n", 4) + 4;
	hlen = (size_t)(body - req);
	blen = len - hlen;
	memcpy(head, req, hlen);
	head[hlen] = '\0';
	header(head, "Name", proposed, sizeof(proposed));
	code = 400;
	why = "the proposed name is no DNS name";
	if (strlen(offer_name[0] ? offer_name : proposed) >= namelen)
		goto error;
	snprintf(name, namelen, "%s", offer_name[0] ? offer_name : proposed);
	if (name[0] == '\0')
		snprintf(name, namelen, "pair-%s", id);
	for (char *p = name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (!sg_pair_name_is_valid(name))
		goto error;
	if (peer_exists(cfg->pair_dir, name)) {
		code = 409;
		why = "that name is paired already (pair revoke it first)";
		goto error;
	}
	d.data = (unsigned char *)(uintptr_t)body;
	d.size = (unsigned)blen;
	why = "no valid certificate request";
	if (gnutls_x509_crq_init(&crq) < 0 ||
	    gnutls_x509_crq_import(crq, &d, GNUTLS_X509_FMT_PEM) < 0 ||
	    gnutls_x509_crq_verify(crq, 0) < 0)
		goto error;
	code = 500;
	why = "cannot read the server's certificate";
	if (server_identity(cfg, &sid) < 0)
		goto error;
	why = "the pairing CA cannot sign";
	if ((rc = ca_sign(cfg->pair_dir, crq, name, &crt, &ca, errf)) < 0)
		goto error;
	if ((f = open_memstream(out, olen)) != NULL) {
		fprintf(f, PAIR_PROTO " 200 OK\r\nName: %s\r\nService: %s\r\n"
		    "Verify-Name: %s\r\nPin-SHA256: %s\r\nServer-CA: %s\r\n"
		    "Content-Length: %u\r\n\r\n", name, cfg->name, sid.name,
		    sid.pin, sid.anchor.size ? "yes" : "no",
		    crt.size + ca.size + sid.anchor.size);
		fwrite(crt.data, 1, crt.size, f);
		fwrite(ca.data, 1, ca.size, f);
		if (sid.anchor.size)
			fwrite(sid.anchor.data, 1, sid.anchor.size, f);
		fclose(f);
	}
	code = *out ? 200 : 500;
	why = "out of memory";
	if (code == 200)
		goto done;
error:
	fprintf(errf, "%d %s\n", code, why);
	free(*out);
	*out = answer_text(code, why, olen);
done:
	gnutls_x509_crq_deinit(crq);
	gnutls_free(crt.data);
	gnutls_free(ca.data);
	gnutls_free(sid.anchor.data);
	return *out == NULL ? -ENOMEM : code;
}

/* A whole request is in c->in: answer it, sign if it is good. */
static void handle_request(struct sg_conn *c, size_t len)
{
	const struct sg_cfg_service *cfg = c->svc->cfg;
	struct pair_offer *o = &c->pair->offer;
	char name[64], *out = NULL, *errtxt = NULL, a[64];
	size_t olen = 0, errlen = 0;
	FILE *errf;
	int code;

	if ((errf = open_memstream(&errtxt, &errlen)) == NULL)
		return;
	code = sg_pair_answer(cfg, o->id, o->name, c->in.p, len, &out, &olen,
	    name, sizeof(name), errf);
	fclose(errf);
	c->pair->answered = true;
	if (code != 200) {
		stats_of(cfg->name)->refused++;
		log_warnx("pairing: [%s]: code %s: refused: %s", cfg->name,
		    o->id, errtxt ? errtxt : "");
	}
	if (out == NULL || sg_xport_conn_write(c, out, olen) < 0)
		log_warnx("pairing: [%s]: code %s: cannot send the answer",
		    cfg->name, o->id);
	else if (code == 200) {
		stats_of(cfg->name)->ok++;
		log_info("pairing: [%s]: paired '%s' from %s with code %s:"
		    " certificate sent; it is trusted at once", cfg->name,
		    name, sg_addr_str((struct sockaddr *)&c->peer, a,
		    sizeof(a)), o->id);
	}
	free(out);
	free(errtxt);
}

void sg_pair_conn_data(struct sg_conn *c)
{
	ssize_t n;

	if (c->pair == NULL || !c->pair->ready || c->pair->answered) {
		c->in.len = 0;		/* nothing more is read */
		return;
	}
	/* The request: headers up to CRLFCRLF, then Content-Length bytes. */
	if ((n = sg_pair_request_len(c->in.p, c->in.len)) == 0 &&
	    c->in.len <= PAIR_MAX_REQUEST + 1024)
		return;
	handle_request(c, n > 0 ? (size_t)n : c->in.len);
	c->in.len = 0;
}

void sg_pair_conn_free(struct sg_conn *c)
{
	struct sg_pair_conn *pc = c->pair;

	if (pc == NULL)
		return;
	c->pair = NULL;
	if (!pc->ready) {
		/* The key did not match (or the client gave up): void. */
		stats_of(c->svc->cfg->name)->refused++;
		log_warnx("pairing: [%s]: code %s: the TLS-PSK handshake"
		    " failed (a wrong code?): the code is void now",
		    c->svc->cfg->name, pc->offer.id);
	} else if (!pc->answered) {
		log_warnx("pairing: [%s]: code %s: the client left before its"
		    " request: the code is void now", c->svc->cfg->name,
		    pc->offer.id);
	}
	gnutls_memset(pc, 0, sizeof(*pc));
	free(pc);
}

void sg_pair_tick(struct sg_gw *gw)
{
	uint64_t now = uv_now(gw->loop);
	struct sg_conn *c, *next;
	unsigned i;

	expire_offers();
	for (i = 0; i < gw->nsvc; i++) {
		if (!gw->svc[i]->cfg->pair)
			continue;
		for (c = gw->svc[i]->conns; c; c = next) {
			next = c->next;
			if (c->pair && !c->closing &&
			    now - c->pair->started_ms > PAIR_CONN_TIMEOUT_MS)
				sg_xport_conn_close(c, "pairing timed out");
		}
	}
}

void sg_pair_counters(struct sg_svc *svc, sg_counter_fn fn, void *arg)
{
	struct pair_stats *st;
	unsigned i, pending = 0;

	if (!svc->cfg->pair)
		return;
	st = stats_of(svc->cfg->name);
	for (i = 0; i < PAIR_MAX_OFFERS; i++)
		if (offers[i].used && strcmp(offers[i].svc, svc->cfg->name) == 0)
			pending++;
	fn(arg, "pair_pending", "pairing codes waiting for a client", true,
	    pending);
	fn(arg, "pair_offers", "pairing codes made", false, st->offers);
	fn(arg, "pair_ok", "peers paired", false, st->ok);
	fn(arg, "pair_refused", "pairing attempts refused (wrong, unknown"
	    " or used code, bad request)", false, st->refused);
	fn(arg, "pair_expired", "pairing codes that expired unused", false,
	    st->expired);
	fn(arg, "pair_ratelimited", "pairing attempts over the rate limit",
	    false, st->ratelimited);
	fn(arg, "pair_revoked_drops", "live links closed because their"
	    " certificate was revoked", false, st->dropped);
}

int sg_pair_tls_ctx_new(const struct sg_cfg_service *cfg, FILE *errf,
			struct sg_tls_ctx **out)
{
	int rc;

	if ((rc = sg_tls_ctx_new(cfg, errf, out)) < 0)
		return rc;
	if ((rc = sg_pair_tls_setup(cfg, (*out)->cred, errf)) < 0) {
		sg_tls_ctx_free(*out);
		*out = NULL;
	}
	return rc;
}

int sg_pair_tls_setup(const struct sg_cfg_service *cfg,
		      gnutls_certificate_credentials_t cred, FILE *errf)
{
	char path[PATH_MAX];
	int r;

	if (!cfg->pair)
		return 0;
	snprintf(path, sizeof(path), "%s/ca.crt", cfg->pair_dir);
	if (access(path, F_OK) < 0)
		return 0;	/* no CA yet: the first `pair offer` makes it */
	if ((r = gnutls_certificate_set_x509_trust_file(cred, path,
	    GNUTLS_X509_FMT_PEM)) <= 0) {
		fprintf(errf, "pairing CA %s: %s\n", path, r < 0 ?
		    gnutls_strerror(r) : "no certificate");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/crl.pem", cfg->pair_dir);
	if (access(path, F_OK) == 0 &&
	    (r = gnutls_certificate_set_x509_crl_file(cred, path,
	    GNUTLS_X509_FMT_PEM)) < 0) {
		fprintf(errf, "pairing CRL %s: %s\n", path, gnutls_strerror(r));
		return -EINVAL;
	}
	return 0;
}

static int load_crls(const char *path, gnutls_x509_crl_t **crls,
		     unsigned *n)
{
	gnutls_datum_t d = { NULL, 0 };
	int r;

	if (path[0] == '\0' || gnutls_load_file(path, &d) < 0)
		return -ENOENT;
	r = gnutls_x509_crl_list_import2(crls, n, &d, GNUTLS_X509_FMT_PEM, 0);
	gnutls_free(d.data);
	return r < 0 ? -EINVAL : 0;
}

/* Is any certificate of c's peer chain on one of the CRLs? */
static bool conn_is_revoked(struct sg_conn *c, gnutls_x509_crl_t *crls,
			    unsigned ncrl)
{
	const gnutls_datum_t *chain;
	unsigned n = 0, i;
	bool revoked = false;

	chain = gnutls_certificate_get_peers(c->tls, &n);
	for (i = 0; chain && i < n && !revoked; i++) {
		gnutls_x509_crt_t crt;

		if (gnutls_x509_crt_init(&crt) < 0)
			break;
		if (gnutls_x509_crt_import(crt, &chain[i],
		    GNUTLS_X509_FMT_DER) >= 0 &&
		    gnutls_x509_crt_check_revocation(crt, crls, ncrl) == 1)
			revoked = true;
		gnutls_x509_crt_deinit(crt);
	}
	return revoked;
}

void sg_pair_recheck(struct sg_gw *gw)
{
	unsigned i, j, n1, n2;

	for (i = 0; i < gw->nsvc; i++) {
		struct sg_svc *svc = gw->svc[i];
		const struct sg_cfg_service *cfg = svc->cfg;
		gnutls_x509_crl_t *a = NULL, *b = NULL, *all;
		struct sg_conn *c, *next;
		char path[PATH_MAX], addr[64];

		n1 = n2 = 0;
		load_crls(cfg->crl, &a, &n1);
		if (cfg->pair) {
			snprintf(path, sizeof(path), "%s/crl.pem", cfg->pair_dir);
			load_crls(path, &b, &n2);
		}
		if (n1 + n2 > 0 &&
		    (all = calloc(n1 + n2, sizeof(*all))) != NULL) {
			if (n1)
				memcpy(all, a, n1 * sizeof(*all));
			if (n2)
				memcpy(all + n1, b, n2 * sizeof(*all));
			for (c = svc->conns; c; c = next) {
				next = c->next;
				if (c->closing || !c->ready || c->pair ||
				    c->kind != SG_XPORT_TLS ||
				    !conn_is_revoked(c, all, n1 + n2))
					continue;
				if (cfg->pair)
					stats_of(cfg->name)->dropped++;
				log_warnx("%s: tls connection %llu %s %s: peer"
				    " '%s' is revoked now: closing it",
				    cfg->name, (unsigned long long)c->id,
				    c->outbound ? "to" : "from",
				    sg_addr_str((struct sockaddr *)&c->peer,
				    addr, sizeof(addr)), c->info.peer_subject);
				sg_xport_conn_close(c, "certificate revoked");
			}
			free(all);
		}
		for (j = 0; j < n1; j++)
			gnutls_x509_crl_deinit(a[j]);
		for (j = 0; j < n2; j++)
			gnutls_x509_crl_deinit(b[j]);
		gnutls_free(a);
		gnutls_free(b);
	}
}

/* Control socket ----------------------------------------------------------- */

static struct sg_svc *pair_svc(struct sg_gw *gw, const char *name, FILE *out)
{
	struct sg_svc *svc = NULL;
	unsigned i, n = 0;

	if (strcmp(name, "-") != 0) {
		if ((svc = find_svc(gw, name)) == NULL)
			fprintf(out, "error: no running service [%s]\n", name);
		else if (!svc->cfg->pair)
			fprintf(out, "error: [%s] has no 'pair = yes'\n", name);
		return svc && svc->cfg->pair ? svc : NULL;
	}
	for (i = 0; i < gw->nsvc; i++)
		if (gw->svc[i]->cfg->pair) {
			svc = gw->svc[i];
			n++;
		}
	if (n == 0)
		fprintf(out, "error: no service has 'pair = yes' (add it to the"
		    " service whose TLS listener clients join)\n");
	else if (n > 1)
		fprintf(out, "error: several services have 'pair = yes': name"
		    " one with --service\n");
	return n == 1 ? svc : NULL;
}

/* Make the CA if needed and let running services trust it at once. */
static int ensure_ca(struct sg_gw *gw, const char *dir, FILE *out)
{
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
	char path[PATH_MAX];
	bool fresh;
	unsigned i;
	int rc;

	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	fresh = access(path, F_OK) < 0;
	if ((rc = sg_pair_ca_open(dir, true, &crt, &key, out)) < 0)
		return rc;
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	if (!fresh)
		return 0;
	for (i = 0; i < gw->nsvc; i++)
		if (gw->svc[i]->cfg->pair && gw->svc[i]->tls &&
		    sg_pair_tls_setup(gw->svc[i]->cfg, gw->svc[i]->tls->cred,
		    out) < 0)
			return -EINVAL;
	return 0;
}

/* "pair-offer SERVICE|- TTL_SECONDS NAME|-" */
static void ctl_offer(struct sg_gw *gw, const char *args, FILE *out)
{
	char svcname[64], name[64], text[SG_PAIR_CODE_TEXT], url[300];
	struct sg_pair_code code;
	struct pair_offer *o = NULL;
	struct sg_svc *svc;
	struct server_id sid;
	uint8_t rnd[15];
	unsigned ttl, i, try;

	if (sscanf(args, "%63s %u %63s", svcname, &ttl, name) != 3 ||
	    ttl == 0 || ttl > 86400) {
		fprintf(out, "error: usage: pair-offer SERVICE|- SECONDS"
		    " NAME|-\n");
		return;
	}
	if ((svc = pair_svc(gw, svcname, out)) == NULL)
		return;
	if (strcmp(name, "-") == 0)
		name[0] = '\0';
	for (char *p = name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (name[0] && !sg_pair_name_is_valid(name)) {
		fprintf(out, "error: '%s' is no DNS name (letters, digits, '-'"
		    " and dots, at most 63)\n", name);
		return;
	}
	if (name[0] && peer_exists(svc->cfg->pair_dir, name)) {
		fprintf(out, "error: '%s' is paired already: `sipsgate pair"
		    " revoke %s` first\n", name, name);
		return;
	}
	expire_offers();
	for (i = 0; i < PAIR_MAX_OFFERS; i++) {
		if (!offers[i].used && o == NULL)
			o = &offers[i];
		if (offers[i].used && name[0] &&
		    strcmp(offers[i].name, name) == 0) {
			fprintf(out, "error: a code for '%s' is pending"
			    " already\n", name);
			return;
		}
	}
	if (o == NULL) {
		fprintf(out, "error: %d codes are pending: wait for them to"
		    " expire\n", PAIR_MAX_OFFERS);
		return;
	}
	if (ensure_ca(gw, svc->cfg->pair_dir, out) < 0) {
		fprintf(out, "error: no pairing CA (see above)\n");
		return;
	}
	/* A fresh code whose id no pending code has. */
	for (try = 0; try < 8; try++) {
		if (gnutls_rnd(GNUTLS_RND_KEY, rnd, sizeof(rnd)) < 0) {
			fprintf(out, "error: no random numbers\n");
			return;
		}
		sg_pair_code_from_random(&code, rnd);
		for (i = 0; i < PAIR_MAX_OFFERS; i++)
			if (offers[i].used &&
			    strncmp(offers[i].id, code.c, SG_PAIR_ID_LEN) == 0)
				break;
		if (i == PAIR_MAX_OFFERS)
			break;
	}
	gnutls_memset(rnd, 0, sizeof(rnd));
	memset(o, 0, sizeof(*o));
	memcpy(o->id, code.c, SG_PAIR_ID_LEN);
	if (sg_pair_code_key(&code, o->key) < 0) {
		offer_drop(o);
		fprintf(out, "error: cannot derive the key\n");
		return;
	}
	snprintf(o->svc, sizeof(o->svc), "%s", svc->cfg->name);
	snprintf(o->name, sizeof(o->name), "%s", name);
	o->expires = time(NULL) + (time_t)ttl;
	o->used = true;
	stats_of(o->svc)->offers++;
	sg_pair_code_format(&code, text, sizeof(text));
	gnutls_memset(&code, 0, sizeof(code));
	/* Where clients join: the certificate's name, the TLS listener. */
	url[0] = '\0';
	if (server_identity(svc->cfg, &sid) == 0) {
		for (i = 0; i < svc->cfg->naccept; i++)
			if (svc->cfg->accept[i].kind == SG_XPORT_TLS) {
				snprintf(url, sizeof(url), "sips://%s:%u",
				    sid.name[0] ? sid.name :
				    svc->cfg->accept[i].host,
				    svc->cfg->accept[i].port);
				break;
			}
		gnutls_free(sid.anchor.data);
	}
	log_info("pairing: [%s]: code %s made for %s, valid %u s", o->svc,
	    o->id, name[0] ? name : "the name the client proposes", ttl);
	fprintf(out, "ok\ncode: %s\nservice: %s\nname: %s\nexpires: %lld\n"
	    "url: %s\n", text, o->svc, name[0] ? name : "-",
	    (long long)o->expires, url);
	gnutls_memset(text, 0, sizeof(text));
}

static void ctl_revoke(struct sg_gw *gw, const char *args, FILE *out)
{
	char name[64], *errtxt = NULL;
	size_t errlen = 0;
	FILE *errf;
	unsigned i, before = 0, after = 0;
	char path[PATH_MAX];
	int rc;

	if (sscanf(args, "%63s", name) != 1) {
		fprintf(out, "error: usage: pair-revoke NAME\n");
		return;
	}
	if ((errf = open_memstream(&errtxt, &errlen)) == NULL)
		return;
	rc = sg_pair_ca_revoke(gw->cfg->pair_dir, name, errf);
	fclose(errf);
	if (rc < 0) {
		fprintf(out, "error: %s", errtxt ? errtxt : "cannot revoke\n");
		free(errtxt);
		return;
	}
	free(errtxt);
	log_info("pairing: revoked '%s': new CRL in %s", name,
	    gw->cfg->pair_dir);
	for (i = 0; i < gw->nsvc; i++)
		if (gw->svc[i]->cfg->pair)
			before += (unsigned)stats_of(gw->svc[i]->cfg->name)->dropped;
	/*
	 * A reload: new credentials with the new CRL and a new session ticket
	 * key (a resumed TLS session is not verified again: old tickets must
	 * die), then the live links are checked. Should the configuration not
	 * load, the running credentials take the CRL and a new ticket key.
	 */
	if (pair_reload == NULL || pair_reload() < 0) {
		snprintf(path, sizeof(path), "%s/crl.pem", gw->cfg->pair_dir);
		for (i = 0; i < gw->nsvc; i++) {
			struct sg_tls_ctx *ctx = gw->svc[i]->tls;

			if (!gw->svc[i]->cfg->pair || ctx == NULL)
				continue;
			gnutls_certificate_set_x509_crl_file(ctx->cred, path,
			    GNUTLS_X509_FMT_PEM);
			gnutls_memset(ctx->ticket_key.data, 0,
			    ctx->ticket_key.size);
			gnutls_free(ctx->ticket_key.data);
			ctx->ticket_key.data = NULL;
			gnutls_session_ticket_key_generate(&ctx->ticket_key);
		}
		sg_pair_recheck(gw);
	}
	for (i = 0; i < gw->nsvc; i++)
		if (gw->svc[i]->cfg->pair)
			after += (unsigned)stats_of(gw->svc[i]->cfg->name)->dropped;
	fprintf(out, "ok: revoked '%s'; %u live link%s closed\n", name,
	    after - before, after - before == 1 ? "" : "s");
}

static void ctl_list(struct sg_gw *gw, FILE *out)
{
	time_t now = time(NULL);
	unsigned i;

	(void)gw;
	expire_offers();
	for (i = 0; i < PAIR_MAX_OFFERS; i++)
		if (offers[i].used)
			fprintf(out, "pending code %s-... service %s name %s"
			    " expires in %lld s\n", offers[i].id, offers[i].svc,
			    offers[i].name[0] ? offers[i].name : "-",
			    (long long)(offers[i].expires - now));
}

int sg_pair_ctl(struct sg_gw *gw, const char *line, bool privileged,
		FILE *out)
{
	const char *cmds[] = { "pair-offer", "pair-revoke", "pair-list" };
	size_t i, n;

	for (i = 0; i < SG_ARRAY_SIZE(cmds); i++) {
		n = strlen(cmds[i]);
		if (strncmp(line, cmds[i], n) == 0 &&
		    (line[n] == ' ' || line[n] == '\n' || line[n] == '\0'))
			break;
	}
	if (i == SG_ARRAY_SIZE(cmds))
		return -ENOENT;
	if (!privileged) {
		fprintf(out, "error: pairing needs root or the daemon's user\n");
		return 0;
	}
	if (i == 0)
		ctl_offer(gw, line + n, out);
	else if (i == 1)
		ctl_revoke(gw, line + n, out);
	else
		ctl_list(gw, out);
	return 0;
}
