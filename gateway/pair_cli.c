/* SPDX-License-Identifier: MIT */
/*
 * pair_cli.c: the `sipsgate pair` commands (docs/pairing.md).
 *   offer   asks the running daemon for a one-time code;
 *   join    on the client: makes a key here (it never leaves), sends a CSR
 *           over a TLS-PSK session keyed by the code, writes the signed
 *           certificate and a conf.d service, and reloads its daemon;
 *   revoke  through the daemon (or on the files when none runs);
 *   list    pending codes and paired peers.
 * Blocking I/O: this is a command, not the daemon's loop. Nothing is
 * written before the server's answer is complete and checked, and what was
 * written is removed again if the new configuration does not load.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "cfg.h"
#include "pair.h"
#include "pair_code.h"
#include "tls.h"
#include "xport.h"

#define PAIR_PROTO "SIPSGATE-PAIR/1"
#define JOIN_TIMEOUT_S 15
#define JOIN_MAX_ANSWER 65536
/* A pairing client offers nothing but TLS-PSK with (EC)DHE. */
#define JOIN_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:" \
	"+ECDHE-PSK:+DHE-PSK"
#define MAX_OPT 8
#define JPATH (PATH_MAX + 96)
#define PAIR_MAX_REQUEST_CLI 16384	/* a directory and a file name */

static void pair_usage(void)
{
	fprintf(stderr,
	    "usage: sipsgate [-c FILE] pair offer [--service S] [--name NAME]"
	    " [--ttl 15m]\n"
	    "       sipsgate [-c FILE] pair join sips://HOST[:PORT] CODE"
	    " --accept udp:ADDR[:PORT]...\n"
	    "            [--connect udp:PBX[:PORT]] [--trusted NETS]..."
	    " [--name NAME] [--service S]\n"
	    "            [--set 'KEY = VALUE']... [--conf-dir DIR]"
	    " [--force]\n"
	    "       sipsgate [-c FILE] pair revoke NAME\n"
	    "       sipsgate [-c FILE] pair list\n"
	    "See docs/pairing.md.\n");
}

/*
 * One command over the control socket; the answer (NUL-terminated, cut at
 * len - 1) goes to out. Returns 0, or -errno when no daemon answers.
 */
static int ctl_call(const char *path, const char *cmd, char *out, size_t len)
{
	struct sockaddr_un sun;
	size_t off = 0;
	ssize_t n;
	int fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    write(fd, cmd, strlen(cmd)) < 0 || write(fd, "\n", 1) < 0) {
		e = errno;
		close(fd);
		return -e;
	}
	while (off + 1 < len && (n = read(fd, out + off, len - 1 - off)) > 0)
		off += (size_t)n;
	out[off] = '\0';
	close(fd);
	return 0;
}

/* The value of "key: value" in a control answer, or NULL. */
static const char *answer_value(const char *ans, const char *key, char *out,
				size_t len)
{
	size_t klen = strlen(key);
	const char *p = ans;

	while (p && *p) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
			const char *v = p + klen + 1, *e;

			while (*v == ' ')
				v++;
			e = strchr(v, '\n');
			snprintf(out, len, "%.*s", (int)(e ? e - v :
			    (long)strlen(v)), v);
			return out;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* offer ----------------------------------------------------------------- */

/* The standalone server of `pair offer` when no daemon runs. */
struct solo {
	char id[SG_PAIR_ID_LEN + 1];
	uint8_t key[SG_PAIR_KEY_LEN];
	bool tried;		/* a handshake named the code: one try */
};

static int solo_on_identity(gnutls_session_t s, const gnutls_datum_t *identity,
			    gnutls_datum_t *key)
{
	struct solo *so = gnutls_session_get_ptr(s);
	char id[SG_PAIR_ID_LEN + 1];

	if (sg_pair_identity_id((const char *)identity->data, identity->size,
	    id) < 0 || strcmp(id, so->id) != 0 ||
	    (key->data = gnutls_malloc(SG_PAIR_KEY_LEN)) == NULL)
		return -1;
	so->tried = true;
	memcpy(key->data, so->key, SG_PAIR_KEY_LEN);
	key->size = SG_PAIR_KEY_LEN;
	return 0;
}

/*
 * One connection to the standalone server: 1 when it paired, 0 when it
 * was not about our code (go on), -1 when the code is spent in vain.
 */
static int solo_serve(const struct sg_cfg_service *svc, struct solo *so,
		      gnutls_psk_server_credentials_t psk, int fd,
		      const char *name)
{
	gnutls_session_t s = NULL;
	struct timeval tv = { JOIN_TIMEOUT_S, 0 };
	char *req = NULL, *out = NULL, granted[64], tmp[512];
	size_t len = 0, olen = 0;
	ssize_t n, need = 0;
	int r, rc = so->tried ? -1 : 0, code;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (gnutls_init(&s, GNUTLS_SERVER) < 0 ||
	    gnutls_priority_set_direct(s, JOIN_PRIORITY, NULL) < 0 ||
	    gnutls_credentials_set(s, GNUTLS_CRD_PSK, psk) < 0)
		goto out;
	gnutls_session_set_ptr(s, so);
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, JOIN_TIMEOUT_S * 1000);
	do {
		r = gnutls_handshake(s);
	} while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		if (so->tried) {
			fprintf(stderr, "pair offer: the TLS-PSK handshake"
			    " failed (%s): a wrong code; the code is void\n",
			    gnutls_strerror(r));
			rc = -1;
		}
		goto out;
	}
	rc = -1;		/* the code is spent, whatever follows */
	if ((req = malloc(PAIR_MAX_REQUEST_CLI + 1)) == NULL)
		goto out;
	while (len < PAIR_MAX_REQUEST_CLI &&
	    (need = sg_pair_request_len(req, len)) == 0) {
		n = gnutls_record_recv(s, req + len, PAIR_MAX_REQUEST_CLI - len);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	code = sg_pair_answer(svc, so->id, name, req, need > 0 ?
	    (size_t)need : len, &out, &olen, granted, sizeof(granted), stderr);
	for (size_t off = 0; out && off < olen; off += (size_t)n) {
		n = gnutls_record_send(s, out + off, olen - off);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			n = 0;
			continue;
		}
		if (n < 0)
			break;
	}
	/* Until the client has read it and closes. */
	while ((n = gnutls_record_recv(s, tmp, sizeof(tmp))) > 0 ||
	    n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
		;
	if (code == 200) {
		printf("Paired '%s': certificate sent. Start the daemon: it"
		    " trusts it.\n", granted);
		rc = 1;
	}
out:
	free(req);
	free(out);
	if (s)
		gnutls_deinit(s);
	return rc;
}

/*
 * `pair offer` without a daemon: make the code here, listen on the
 * service's TLS address, serve one pairing, exit (0 if it paired).
 */
static int offer_standalone(struct sg_cfg *cfg, const char *svcname,
			    const char *name, unsigned ttl)
{
	const struct sg_cfg_service *svc = NULL;
	const struct sg_cfg_endpoint *ep = NULL;
	gnutls_psk_server_credentials_t psk = NULL;
	gnutls_x509_crt_t ca;
	gnutls_x509_privkey_t cakey;
	struct sockaddr_storage sa;
	struct sg_pair_code code;
	struct solo so;
	char text[SG_PAIR_CODE_TEXT], path[JPATH], when[64];
	uint8_t rnd[15];
	time_t exp = time(NULL) + (time_t)ttl;
	struct tm tm;
	unsigned i, n = 0;
	int fd = -1, one = 1, rc = 1, r;

	for (i = 0; i < cfg->nservices; i++)
		if (cfg->services[i].pair && (strcmp(svcname, "-") == 0 ||
		    strcmp(svcname, cfg->services[i].name) == 0)) {
			svc = &cfg->services[i];
			n++;
		}
	if (n != 1) {
		fprintf(stderr, "pair offer: %s\n", n == 0 ? "no service with"
		    " 'pair = yes' (by that name)" : "several services have"
		    " 'pair = yes': name one with --service");
		return 1;
	}
	for (i = 0; i < svc->naccept && ep == NULL; i++)
		if (svc->accept[i].kind == SG_XPORT_TLS)
			ep = &svc->accept[i];
	snprintf(path, sizeof(path), "%s/peers/%s.crt", svc->pair_dir, name);
	if (strcmp(name, "-") != 0 && (!sg_pair_name_is_valid(name) ||
	    access(path, F_OK) == 0)) {
		fprintf(stderr, "pair offer: '%s': no DNS name, or paired"
		    " already\n", name);
		return 1;
	}
	if (sg_pair_ca_open(svc->pair_dir, true, &ca, &cakey, stderr) < 0)
		return 1;
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_privkey_deinit(cakey);
	if (sg_addr_parse(ep->host, ep->port, &sa) < 0 ||
	    (fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sa.ss_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) < 0 ||
	    listen(fd, 4) < 0) {
		fprintf(stderr, "pair offer: cannot listen on %s:%u: %s\n",
		    ep->host, ep->port, strerror(errno));
		goto out;
	}
	memset(&so, 0, sizeof(so));
	if (gnutls_rnd(GNUTLS_RND_KEY, rnd, sizeof(rnd)) < 0)
		goto out;
	sg_pair_code_from_random(&code, rnd);
	gnutls_memset(rnd, 0, sizeof(rnd));
	memcpy(so.id, code.c, SG_PAIR_ID_LEN);
	if (sg_pair_code_key(&code, so.key) < 0 ||
	    gnutls_psk_allocate_server_credentials(&psk) < 0)
		goto out;
	gnutls_psk_set_server_credentials_function2(psk, solo_on_identity);
	sg_pair_code_format(&code, text, sizeof(text));
	gnutls_memset(&code, 0, sizeof(code));
	gmtime_r(&exp, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("No daemon answers at %s: serving one pairing here, on"
	    " %s:%u (service [%s]).\nPairing code for %s, valid until %s,"
	    " one use:\n\n    %s\n\n", cfg->control, ep->host, ep->port,
	    svc->name, strcmp(name, "-") ? name : "the client gateway", when,
	    text);
	fflush(stdout);
	gnutls_memset(text, 0, sizeof(text));
	while (time(NULL) < exp) {
		struct timeval tv = { 1, 0 };
		fd_set rf;
		int c;

		FD_ZERO(&rf);
		FD_SET(fd, &rf);
		if (select(fd + 1, &rf, NULL, NULL, &tv) <= 0)
			continue;
		if ((c = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		r = solo_serve(svc, &so, psk, c, name[0] == '-' ? "" : name);
		close(c);
		if (r != 0) {
			rc = r > 0 ? 0 : 1;
			goto out;
		}
		sleep(1);	/* one try a second for strangers */
	}
	fprintf(stderr, "pair offer: the code expired unused\n");
out:
	gnutls_memset(&so, 0, sizeof(so));
	if (psk)
		gnutls_psk_free_server_credentials(psk);
	if (fd >= 0)
		close(fd);
	return rc;
}


static int cmd_offer(struct sg_cfg *cfg, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "ttl", required_argument, NULL, 't' },
		{ "service", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = "-", *svc = "-";
	char cmd[256], ans[2048], code[64], v[300], when[64];
	unsigned ttl = 15 * 60;
	time_t exp;
	struct tm tm;
	int ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "+n:t:s:", lo, NULL)) != -1) {
		switch (ch) {
		case 'n': name = optarg; break;
		case 's': svc = optarg; break;
		case 't':
			if (sg_pair_parse_ttl(optarg, &ttl) < 0) {
				fprintf(stderr, "pair offer: --ttl '%s': give"
				    " 30s, 15m or 2h (1 s to 24 h)\n", optarg);
				return 2;
			}
			break;
		default: pair_usage(); return 2;
		}
	}
	if (optind != argc) {
		pair_usage();
		return 2;
	}
	snprintf(cmd, sizeof(cmd), "pair-offer %s %u %s", svc, ttl, name);
	if ((rc = ctl_call(cfg->control, cmd, ans, sizeof(ans))) < 0)
		return offer_standalone(cfg, svc, name, ttl);
	if (strncmp(ans, "ok\n", 3) != 0 ||
	    answer_value(ans, "code", code, sizeof(code)) == NULL) {
		fprintf(stderr, "pair offer: %s", ans);
		return 1;
	}
	exp = (time_t)strtoll(answer_value(ans, "expires", v, sizeof(v)) ?
	    v : "0", NULL, 10);
	gmtime_r(&exp, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	answer_value(ans, "name", v, sizeof(v));
	printf("Pairing code for %s, valid for %u s (until %s), one use:\n\n"
	    "    %s\n\n", strcmp(v, "-") ? v : "the client gateway", ttl, when,
	    code);
	answer_value(ans, "url", v, sizeof(v));
	printf("On the client gateway:\n    sipsgate pair join %s %s"
	    " --accept udp:INSIDE-ADDRESS:5060 --trusted PHONE-NETWORK\n",
	    v[0] ? v : "sips://THIS-GATEWAY:5061", code);
	gnutls_memset(ans, 0, sizeof(ans));
	gnutls_memset(code, 0, sizeof(code));
	return 0;
}

/* revoke, list ------------------------------------------------------------ */

static int cmd_revoke(struct sg_cfg *cfg, int argc, char **argv)
{
	char cmd[128], ans[1024];
	int rc;

	if (argc != 2) {
		pair_usage();
		return 2;
	}
	snprintf(cmd, sizeof(cmd), "pair-revoke %.63s", argv[1]);
	if ((rc = ctl_call(cfg->control, cmd, ans, sizeof(ans))) == 0) {
		fputs(ans, strncmp(ans, "ok", 2) == 0 ? stdout : stderr);
		return strncmp(ans, "ok", 2) == 0 ? 0 : 1;
	}
	/* No daemon: the files alone; it reads the CRL when it starts. */
	if (sg_pair_ca_revoke(cfg->pair_dir, argv[1], stderr) < 0)
		return 1;
	printf("ok: revoked '%s' in %s (no daemon answers at %s: it reads the"
	    " new CRL when it starts)\n", argv[1], cfg->pair_dir, cfg->control);
	return 0;
}

static int cmd_list(struct sg_cfg *cfg)
{
	char path[PATH_MAX], ans[4096];
	struct dirent *de;
	DIR *d;

	if (ctl_call(cfg->control, "pair-list", ans, sizeof(ans)) == 0)
		fputs(ans, stdout);
	snprintf(path, sizeof(path), "%s/peers", cfg->pair_dir);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (n > 4 && strcmp(de->d_name + n - 4, ".crt") == 0)
			printf("paired %.*s\n", (int)(n - 4), de->d_name);
		else if (n > 8 && strcmp(de->d_name + n - 8, ".revoked") == 0)
			printf("revoked %.*s\n", (int)(n - 8), de->d_name);
	}
	closedir(d);
	return 0;
}

/* join ------------------------------------------------------------------- */

struct join {
	const char *config_file;
	struct sg_cfg *cfg;
	struct sg_cfg_endpoint server;	/* from the URL */
	struct sg_pair_code code;
	char name[64];			/* proposed */
	char service[64];
	char conf_dir[PATH_MAX];
	const char *accept[MAX_OPT], *connect, *trusted[MAX_OPT];
	const char *set[MAX_OPT];
	unsigned naccept, ntrusted, nset;
	bool force;
	/* The answer. */
	char granted[64], svc_remote[64], verify_name[256], pin[64];
	gnutls_datum_t crt, pairing_ca, server_ca;
	/* Files written, removed again on failure. */
	char written[4][JPATH];
	unsigned nwritten;
};

static int parse_url(const char *url, struct sg_cfg_endpoint *ep)
{
	char buf[300];
	size_t n;

	if (strncasecmp(url, "sips://", 7) != 0)
		return -EINVAL;
	snprintf(buf, sizeof(buf), "tls:%s", url + 7);
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '/')
		buf[n - 1] = '\0';
	return sg_cfg_parse_endpoint(buf, ep);
}

/* A blocking TCP connection with timeouts, to host:port. */
static int tcp_connect(const char *host, uint16_t port)
{
	struct addrinfo hints, *res, *ai;
	struct timeval tv = { JOIN_TIMEOUT_S, 0 };
	char ps[8];
	int fd = -1, r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(ps, sizeof(ps), "%u", port);
	if ((r = getaddrinfo(host, ps, &hints, &res)) != 0) {
		fprintf(stderr, "pair join: %s: %s\n", host, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol)) < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		r = errno;
		close(fd);
		fd = -1;
		errno = r;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "pair join: cannot connect to %s:%u: %s\n", host,
		    port, strerror(errno));
	return fd < 0 ? -ECONNREFUSED : fd;
}

/* Our key and a CSR for it. */
static int make_csr(const char *name, gnutls_x509_privkey_t *key,
		    gnutls_datum_t *csr)
{
	gnutls_x509_crq_t crq;
	int rc = -EIO;

	if (gnutls_x509_privkey_init(key) < 0)
		return -ENOMEM;
	if (gnutls_x509_crq_init(&crq) < 0)
		return -ENOMEM;
	if (gnutls_x509_privkey_generate(*key, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) >= 0 &&
	    gnutls_x509_crq_set_version(crq, 1) >= 0 &&
	    gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0,
	    name, (unsigned)strlen(name)) >= 0 &&
	    gnutls_x509_crq_set_key(crq, *key) >= 0 &&
	    gnutls_x509_crq_sign2(crq, *key, GNUTLS_DIG_SHA256, 0) >= 0 &&
	    gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, csr) >= 0)
		rc = 0;
	gnutls_x509_crq_deinit(crq);
	return rc;
}

/* The value of a "Key: value" header of the answer's head. */
static bool head_value(const char *head, const char *key, char *out,
		       size_t len)
{
	size_t klen = strlen(key);
	const char *p = head;

	out[0] = '\0';
	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, key, klen) == 0 && p[klen] == ':') {
			const char *v = p + klen + 1, *e = strstr(v, "\r\n");

			while (*v == ' ')
				v++;
			if (e == NULL || e < v || (size_t)(e - v) >= len)
				return false;
			memcpy(out, v, (size_t)(e - v));
			out[e - v] = '\0';
			return true;
		}
	}
	return false;
}

/* The n-th PEM certificate block of body (0-based), copied to out. */
static int pem_block(const char *body, unsigned n, gnutls_datum_t *out)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	static const char end[] = "-----END CERTIFICATE-----";
	const char *p = body, *e;
	unsigned i;

	for (i = 0;; i++) {
		if ((p = strstr(p, begin)) == NULL ||
		    (e = strstr(p, end)) == NULL)
			return -ENOENT;
		e += sizeof(end) - 1;
		if (i == n)
			break;
		p = e;
	}
	if ((out->data = gnutls_malloc((size_t)(e - p) + 2)) == NULL)
		return -ENOMEM;
	memcpy(out->data, p, (size_t)(e - p));
	out->data[e - p] = '\n';
	out->data[e - p + 1] = '\0';
	out->size = (unsigned)(e - p) + 1;
	return 0;
}

/*
 * The pairing exchange: TLS-PSK handshake with the code's identity and
 * key, our CSR up, the answer back, checked: the certificate is for our
 * key and signed by the pairing CA that came with it.
 */
static int join_exchange(struct join *j, const gnutls_datum_t *csr,
			 gnutls_x509_privkey_t key)
{
	gnutls_psk_client_credentials_t psk = NULL;
	gnutls_session_t s = NULL;
	gnutls_datum_t k;
	gnutls_x509_crt_t crt = NULL, ca = NULL;
	char identity[SG_PAIR_IDENTITY_MAX], *ans = NULL, *head, *body, v[32];
	uint8_t keybuf[SG_PAIR_KEY_LEN], id1[64], id2[64];
	size_t alen = 0, l1 = sizeof(id1), l2 = sizeof(id2);
	unsigned status = 0;
	char *req = NULL;
	size_t reqlen = 0;
	FILE *f;
	ssize_t n;
	int fd, r, rc = -EPROTO;
	unsigned long clen;

	sg_pair_code_identity(&j->code, identity, sizeof(identity));
	if (sg_pair_code_key(&j->code, keybuf) < 0)
		return -EIO;
	k.data = keybuf;
	k.size = sizeof(keybuf);
	if ((fd = tcp_connect(j->server.host, j->server.port)) < 0) {
		gnutls_memset(keybuf, 0, sizeof(keybuf));
		return fd;
	}
	if (gnutls_psk_allocate_client_credentials(&psk) < 0 ||
	    gnutls_psk_set_client_credentials(psk, identity, &k,
	    GNUTLS_PSK_KEY_RAW) < 0 ||
	    gnutls_init(&s, GNUTLS_CLIENT) < 0 ||
	    gnutls_priority_set_direct(s, JOIN_PRIORITY, NULL) < 0 ||
	    gnutls_credentials_set(s, GNUTLS_CRD_PSK, psk) < 0) {
		rc = -EIO;
		goto out;
	}
	gnutls_memset(keybuf, 0, sizeof(keybuf));
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, JOIN_TIMEOUT_S * 1000);
	do {
		r = gnutls_handshake(s);
	} while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		fprintf(stderr, "pair join: %s:%u refused the code (TLS-PSK"
		    " handshake: %s): it is wrong, used or expired, or this is"
		    " not the gateway that made it. Nothing was written.\n",
		    j->server.host, j->server.port, gnutls_strerror(r));
		goto out;
	}
	if ((f = open_memstream(&req, &reqlen)) == NULL)
		goto out;
	fprintf(f, PAIR_PROTO " JOIN\r\n");
	if (j->name[0])
		fprintf(f, "Name: %s\r\n", j->name);
	fprintf(f, "Content-Length: %u\r\n\r\n", csr->size);
	fwrite(csr->data, 1, csr->size, f);
	fclose(f);
	if (req == NULL)
		goto out;
	for (size_t off = 0; off < reqlen; off += (size_t)n) {
		n = gnutls_record_send(s, req + off, reqlen - off);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			n = 0;
			continue;
		}
		if (n < 0) {
			fprintf(stderr, "pair join: send: %s\n",
			    gnutls_strerror((int)n));
			goto out;
		}
	}
	/* The answer: head, then Content-Length bytes (or up to EOF). */
	if ((ans = malloc(JOIN_MAX_ANSWER + 1)) == NULL)
		goto out;
	for (;;) {
		n = gnutls_record_recv(s, ans + alen, JOIN_MAX_ANSWER - alen);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n <= 0)
			break;
		alen += (size_t)n;
		ans[alen] = '\0';
		if ((body = strstr(ans, "\r\n\r\n")) != NULL &&
		    head_value(ans, "Content-Length", v, sizeof(v)) &&
		    alen >= (size_t)(body + 4 - ans) +
		    strtoul(v, NULL, 10))
			break;
		if (alen == JOIN_MAX_ANSWER)
			break;
	}
	ans[alen] = '\0';
	gnutls_bye(s, GNUTLS_SHUT_WR);
	if ((body = strstr(ans, "\r\n\r\n")) == NULL ||
	    strncmp(ans, PAIR_PROTO " ", sizeof(PAIR_PROTO)) != 0) {
		fprintf(stderr, "pair join: %s:%u sent no pairing answer."
		    " Nothing was written.\n", j->server.host, j->server.port);
		goto out;
	}
	body[2] = '\0';		/* the head keeps its last CRLF */
	body += 4;
	head = ans;
	if (strncmp(head + sizeof(PAIR_PROTO), "200 ", 4) != 0) {
		fprintf(stderr, "pair join: the server refused: %.*s. Nothing"
		    " was written.\n", (int)strcspn(head + sizeof(PAIR_PROTO),
		    "\r\n"), head + sizeof(PAIR_PROTO));
		goto out;
	}
	if (!head_value(head, "Content-Length", v, sizeof(v)) ||
	    (clen = strtoul(v, NULL, 10)) != strlen(body) ||
	    !head_value(head, "Name", j->granted, sizeof(j->granted)) ||
	    !head_value(head, "Service", j->svc_remote,
	    sizeof(j->svc_remote)) ||
	    !head_value(head, "Pin-SHA256", j->pin, sizeof(j->pin)) ||
	    pem_block(body, 0, &j->crt) < 0 ||
	    pem_block(body, 1, &j->pairing_ca) < 0) {
		fprintf(stderr, "pair join: incomplete answer. Nothing was"
		    " written.\n");
		goto out;
	}
	head_value(head, "Verify-Name", j->verify_name, sizeof(j->verify_name));
	if (head_value(head, "Server-CA", v, sizeof(v)) &&
	    strcmp(v, "yes") == 0 && pem_block(body, 2, &j->server_ca) < 0) {
		fprintf(stderr, "pair join: the server's CA is missing. Nothing"
		    " was written.\n");
		goto out;
	}
	/* The certificate must carry our key and come from that CA. */
	if (gnutls_x509_crt_init(&crt) < 0 || gnutls_x509_crt_init(&ca) < 0 ||
	    gnutls_x509_crt_import(crt, &j->crt, GNUTLS_X509_FMT_PEM) < 0 ||
	    gnutls_x509_crt_import(ca, &j->pairing_ca, GNUTLS_X509_FMT_PEM) < 0 ||
	    gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, id1,
	    &l1) < 0 ||
	    gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, id2,
	    &l2) < 0 || l1 != l2 || memcmp(id1, id2, l1) != 0 ||
	    gnutls_x509_crt_verify(crt, &ca, 1, 0, &status) < 0 ||
	    status != 0) {
		fprintf(stderr, "pair join: the certificate sent is not for"
		    " our key or not signed by the pairing CA. Nothing was"
		    " written.\n");
		goto out;
	}
	rc = 0;
out:
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca);
	free(req);
	free(ans);
	if (s)
		gnutls_deinit(s);
	if (psk)
		gnutls_psk_free_client_credentials(psk);
	close(fd);
	return rc;
}

static void join_undo(struct join *j)
{
	while (j->nwritten > 0)
		unlink(j->written[--j->nwritten]);
}

static int join_write(struct join *j, const char *path, const void *data,
		      size_t len, mode_t mode, uid_t uid, gid_t gid)
{
	int rc;

	if ((rc = sg_pair_write_file(path, data, len, mode)) < 0) {
		fprintf(stderr, "pair join: %s: %s\n", path, strerror(-rc));
		return rc;
	}
	snprintf(j->written[j->nwritten++], JPATH, "%s", path);
	if (uid != (uid_t)-1 && chown(path, uid, gid) < 0) {
		fprintf(stderr, "pair join: chown %s: %s\n", path,
		    strerror(errno));
		return -errno;
	}
	return 0;
}

/* The new configuration must load, and the new service's TLS set up. */
static int join_check(struct join *j)
{
	struct sg_cfg *cfg;
	struct sg_tls_ctx *ctx;
	unsigned i;
	int rc = -EINVAL;

	if (sg_cfg_load(j->config_file, stderr, &cfg) < 0) {
		fprintf(stderr, "pair join: %s does not load with the new"
		    " service\n", j->config_file);
		return -EINVAL;
	}
	for (i = 0; i < cfg->nservices; i++) {
		if (strcmp(cfg->services[i].name, j->service) != 0)
			continue;
		if (sg_pair_tls_ctx_new(&cfg->services[i], stderr, &ctx) == 0) {
			sg_tls_ctx_free(ctx);
			rc = 0;
		}
		break;
	}
	if (i == cfg->nservices)
		fprintf(stderr, "pair join: %s does not include %s: add"
		    " 'include = %s' to it\n", j->config_file, j->conf_dir,
		    j->conf_dir);
	sg_cfg_free(cfg);
	return rc;
}

static int join_files(struct join *j, gnutls_x509_privkey_t key)
{
	char dir[PATH_MAX], real[PATH_MAX], path[JPATH], when[64];
	char cert[JPATH], keyp[JPATH], cap[JPATH];
	gnutls_datum_t pem = { NULL, 0 };
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	struct passwd *pw;
	time_t now = time(NULL);
	struct tm tm;
	char *conf = NULL;
	size_t clen = 0;
	unsigned i;
	FILE *f;
	int rc;

	/*
	 * Key files belong to the user the daemon runs as: `user` of the
	 * configuration, or else the owner of the nearest existing directory
	 * above them (under systemd, StateDirectory= makes /var/lib/sipsgate
	 * the daemon's).
	 */
	snprintf(dir, sizeof(dir), "%s/links", j->cfg->pair_dir);
	if (geteuid() == 0 && j->cfg->user[0] &&
	    (pw = getpwnam(j->cfg->user)) != NULL) {
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	} else if (geteuid() == 0) {
		char up[PATH_MAX], *sl;
		struct stat st;

		snprintf(up, sizeof(up), "%s", dir);
		while (stat(up, &st) < 0 && (sl = strrchr(up, '/')) != NULL &&
		    sl != up)
			*sl = '\0';
		if (stat(up, &st) == 0 && st.st_uid != 0) {
			uid = st.st_uid;
			gid = st.st_gid;
		}
	}
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) == 0 && uid != (uid_t)-1 &&
		    chown(dir, uid, gid) < 0)
			fprintf(stderr, "pair join: chown %s: %s\n", dir,
			    strerror(errno));
		*p = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "pair join: %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	if (uid != (uid_t)-1 && chown(dir, uid, gid) < 0)
		return -errno;
	if (realpath(dir, real) == NULL)
		return -errno;
	snprintf(keyp, sizeof(keyp), "%s/%s.key", real, j->service);
	snprintf(cert, sizeof(cert), "%s/%s.crt", real, j->service);
	snprintf(cap, sizeof(cap), "%s/%s-server-ca.crt", real, j->service);
	if (gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &pem) < 0)
		return -EIO;
	rc = join_write(j, keyp, pem.data, pem.size, 0600, uid, gid);
	gnutls_memset(pem.data, 0, pem.size);
	gnutls_free(pem.data);
	if (rc < 0 || (rc = join_write(j, cert, j->crt.data, j->crt.size,
	    0644, uid, gid)) < 0)
		return rc;
	if (j->server_ca.size > 0 && (rc = join_write(j, cap,
	    j->server_ca.data, j->server_ca.size, 0644, uid, gid)) < 0)
		return rc;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	if ((f = open_memstream(&conf, &clen)) == NULL)
		return -ENOMEM;
	fprintf(f, "; Written by `sipsgate pair join` on %s: the link to %s"
	    " (its service [%s]),\n; this gateway paired as '%s'. The key was"
	    " made here and never left;\n; the server is verified by its"
	    " pin%s. Undo: `sipsgate pair revoke %s`\n; on the server, then"
	    " remove this file and %s/%s.*\n[%s]\n", when,
	    j->verify_name[0] ? j->verify_name : j->server.host, j->svc_remote,
	    j->granted, j->server_ca.size ? " and its CA" : "", j->granted,
	    real, j->service, j->service);
	for (i = 0; i < j->naccept; i++)
		fprintf(f, "accept = %s\n", j->accept[i]);
	if (j->connect)
		fprintf(f, "connect = %s\n", j->connect);
	for (i = 0; i < j->ntrusted; i++)
		fprintf(f, "trusted = %s\n", j->trusted[i]);
	if (strchr(j->server.host, ':'))
		fprintf(f, "connect = tls:[%s]:%u\n", j->server.host,
		    j->server.port);
	else
		fprintf(f, "connect = tls:%s:%u\n", j->server.host,
		    j->server.port);
	fprintf(f, "cert = %s\nkey = %s\n", cert, keyp);
	if (j->server_ca.size > 0)
		fprintf(f, "ca = %s\n", cap);
	fprintf(f, "verify = require\n");
	if (j->verify_name[0])
		fprintf(f, "verify-name = %s\n", j->verify_name);
	fprintf(f, "pin-sha256 = %s\n", j->pin);
	for (i = 0; i < j->nset; i++)
		fprintf(f, "%s\n", j->set[i]);
	fclose(f);
	if (conf == NULL)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/%s.conf", j->conf_dir, j->service);
	rc = join_write(j, path, conf, clen, 0644, (uid_t)-1, (gid_t)-1);
	free(conf);
	return rc;
}

static int cmd_join(const char *config_file, struct sg_cfg *cfg, int argc,
		    char **argv)
{
	static const struct option lo[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "service", required_argument, NULL, 's' },
		{ "accept", required_argument, NULL, 'a' },
		{ "connect", required_argument, NULL, 'C' },
		{ "trusted", required_argument, NULL, 'T' },
		{ "set", required_argument, NULL, 'S' },
		{ "conf-dir", required_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct join *j;
	struct sg_cfg_endpoint ep;
	gnutls_x509_privkey_t key = NULL;
	gnutls_datum_t csr = { NULL, 0 };
	char path[JPATH], ans[512], *slash;
	struct stat st;
	unsigned i;
	int ch, rc, status = 1;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return 1;
	j->config_file = config_file;
	j->cfg = cfg;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "n:s:a:C:T:S:d:f", lo,
	    NULL)) != -1) {
		switch (ch) {
		case 'n': snprintf(j->name, sizeof(j->name), "%s", optarg);
			break;
		case 's': snprintf(j->service, sizeof(j->service), "%s", optarg);
			break;
		case 'a':
			if (j->naccept == MAX_OPT)
				goto usage;
			j->accept[j->naccept++] = optarg;
			break;
		case 'C': j->connect = optarg; break;
		case 'T':
			if (j->ntrusted == MAX_OPT)
				goto usage;
			j->trusted[j->ntrusted++] = optarg;
			break;
		case 'S':
			if (j->nset == MAX_OPT)
				goto usage;
			j->set[j->nset++] = optarg;
			break;
		case 'd': snprintf(j->conf_dir, sizeof(j->conf_dir), "%s",
			    optarg);
			break;
		case 'f': j->force = true; break;
		default: goto usage;
		}
	}
	if (argc - optind != 2)
		goto usage;
	/* Everything that can be checked before the code is spent. */
	if (parse_url(argv[optind], &j->server) < 0) {
		fprintf(stderr, "pair join: '%s': give sips://HOST[:PORT]\n",
		    argv[optind]);
		goto out;
	}
	if ((rc = sg_pair_code_parse(argv[optind + 1], &j->code)) < 0) {
		fprintf(stderr, "pair join: '%s': %s\n", argv[optind + 1],
		    rc == -EBADMSG ? "a character is mistyped (the check"
		    " character does not match)" : "not a pairing code (24"
		    " characters: 0-9 and A-Z without I, L, O, U)");
		goto out;
	}
	for (i = 0; i < j->naccept; i++)
		if (sg_cfg_parse_endpoint(j->accept[i], &ep) < 0 ||
		    ep.kind == SG_XPORT_TLS) {
			fprintf(stderr, "pair join: --accept %s: give the"
			    " inside, udp:ADDR[:PORT] or tcp:ADDR[:PORT] (the"
			    " paired certificate is a client certificate)\n",
			    j->accept[i]);
			goto out;
		}
	if (j->connect && (sg_cfg_parse_endpoint(j->connect, &ep) < 0 ||
	    ep.kind == SG_XPORT_TLS)) {
		fprintf(stderr, "pair join: --connect %s: give the inside next"
		    " hop, udp:HOST[:PORT] or tcp:HOST[:PORT]\n", j->connect);
		goto out;
	}
	if (j->naccept == 0 && j->connect == NULL) {
		fprintf(stderr, "pair join: the new service needs an inside:"
		    " --accept udp:ADDR:5060 (where phones or the PBX send) or"
		    " --connect udp:PBX:5060\n");
		goto out;
	}
	if (j->name[0] == '\0' && gethostname(j->name, sizeof(j->name)) < 0)
		j->name[0] = '\0';
	j->name[sizeof(j->name) - 1] = '\0';
	lower(j->name);
	if (!sg_pair_name_is_valid(j->name))
		j->name[0] = '\0';	/* the server names us */
	if (j->service[0] == '\0')
		snprintf(j->service, sizeof(j->service), "pair-%.58s",
		    j->server.host);
	for (char *p = j->service; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_.-", *p))
			*p = '-';
	for (i = 0; i < cfg->nservices; i++)
		if (strcmp(cfg->services[i].name, j->service) == 0 &&
		    !j->force) {
			fprintf(stderr, "pair join: service [%s] exists already"
			    " (%s): give --service NAME, or --force to replace"
			    " it\n", j->service, cfg->services[i].file);
			goto out;
		}
	if (j->conf_dir[0] == '\0') {
		snprintf(j->conf_dir, sizeof(j->conf_dir), "%s", config_file);
		slash = strrchr(j->conf_dir, '/');
		if (slash)
			snprintf(slash, sizeof(j->conf_dir) -
			    (size_t)(slash - j->conf_dir), "/conf.d");
		else
			snprintf(j->conf_dir, sizeof(j->conf_dir), "conf.d");
	}
	if (stat(j->conf_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "pair join: %s is no directory (give"
		    " --conf-dir DIR, a directory %s includes)\n", j->conf_dir,
		    config_file);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s.conf", j->conf_dir, j->service);
	if (access(path, F_OK) == 0 && !j->force) {
		fprintf(stderr, "pair join: %s exists: give --service NAME, or"
		    " --force to replace it\n", path);
		goto out;
	}
	if (make_csr(j->name[0] ? j->name : "sipsgate", &key, &csr) < 0) {
		fprintf(stderr, "pair join: cannot make a key and a CSR\n");
		goto out;
	}
	if (join_exchange(j, &csr, key) < 0)
		goto out;
	if (join_files(j, key) < 0 || join_check(j) < 0) {
		join_undo(j);
		fprintf(stderr, "pair join: nothing was kept (the code is used:"
		    " ask for a new one)\n");
		goto out;
	}
	printf("Paired with %s as '%s': wrote %s (service [%s]) and its key"
	    " and certificate.\n", j->verify_name[0] ? j->verify_name :
	    j->server.host, j->granted, path, j->service);
	status = 0;
	if ((rc = ctl_call(cfg->control, "reload", ans, sizeof(ans))) < 0) {
		printf("No sipsgate daemon answers at %s: it takes the new"
		    " service when it starts.\n", cfg->control);
	} else if (strncmp(ans, "ok", 2) == 0) {
		char *sts = malloc(65536), want[80];

		/* A reload that cannot start a service still reloads. */
		snprintf(want, sizeof(want), "service %s\n", j->service);
		if (sts && ctl_call(cfg->control, "status", sts, 65536) == 0 &&
		    strncmp(sts, want, strlen(want)) != 0 &&
		    strstr(sts, want) == NULL) {
			fprintf(stderr, "pair join: the daemon reloaded, but"
			    " service [%s] did not start: see its log (an"
			    " address in use?)\n", j->service);
			status = 1;
		} else {
			printf("The daemon reloaded: the link to %s comes up"
			    " now.\n", j->server.host);
		}
		free(sts);
	} else {
		fprintf(stderr, "pair join: the daemon did not reload: %s", ans);
		status = 1;
	}
	goto out;
usage:
	pair_usage();
	status = 2;
out:
	gnutls_memset(&j->code, 0, sizeof(j->code));
	gnutls_free(csr.data);
	gnutls_x509_privkey_deinit(key);
	gnutls_free(j->crt.data);
	gnutls_free(j->pairing_ca.data);
	gnutls_free(j->server_ca.data);
	free(j);
	return status;
}

int sg_pair_main(const char *config_file, int argc, char **argv)
{
	struct sg_cfg *cfg;
	int rc;

	if (argc < 1 || strcmp(argv[0], "help") == 0 ||
	    strcmp(argv[0], "--help") == 0) {
		pair_usage();
		return argc < 1 ? 2 : 0;
	}
	if (sg_cfg_load(config_file, stderr, &cfg) < 0) {
		fprintf(stderr, "%s: configuration has errors\n", config_file);
		return 1;
	}
	if (strcmp(argv[0], "offer") == 0)
		rc = cmd_offer(cfg, argc, argv);
	else if (strcmp(argv[0], "join") == 0)
		rc = cmd_join(config_file, cfg, argc, argv);
	else if (strcmp(argv[0], "revoke") == 0)
		rc = cmd_revoke(cfg, argc, argv);
	else if (strcmp(argv[0], "list") == 0)
		rc = cmd_list(cfg);
	else {
		pair_usage();
		rc = 2;
	}
	sg_cfg_free(cfg);
	return rc;
}
