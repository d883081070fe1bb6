/* SPDX-License-Identifier: MIT */
/*
 * fuzz_cfg.c: libFuzzer target for the configuration loader
 * (gateway/cfg.c, inih underneath). Configuration files come from
 * operators and from tools, so they are untrusted input too: loading must
 * never crash or leak, every error must name its file, and a
 * configuration that loads must pass what `sipsgate -t` and the start of
 * the daemon check without reading a certificate (checked here again,
 * independently of cfg.c).
 *
 * The input is one or more files separated by a line "---": the first is
 * DIR/sipsgate.conf, the next DIR/conf.d/1.conf, 2.conf, ... so that
 * include (a file, a directory, itself) is exercised. DIR is a private
 * directory (under /dev/shm when there is one); an include that could
 * leave it (an absolute path, "..") makes the input uninteresting.
 * Built with -fsanitize=fuzzer,address,undefined, or linked with replay.c.
 */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"

#define MAX_FILES 5
#define SEP "\n---\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];
static char main_file[300];

/* Remove the files and the directory d made by setup(). */
static void remove_dir(const char *d)
{
	char path[600];
	int i;

	for (i = 1; i < MAX_FILES; i++) {
		snprintf(path, sizeof(path), "%s/conf.d/%d.conf", d, i);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/sipsgate.conf", d);
	unlink(path);
	snprintf(path, sizeof(path), "%s/conf.d", d);
	rmdir(path);
	rmdir(d);
}

static void cleanup(void)
{
	remove_dir(dir);
}

/*
 * Make dir, BASE/sg-fuzz-cfg-PID. libFuzzer ends with _Exit(), so atexit()
 * does not always run: directories of processes that are gone are removed
 * here first.
 */
static void setup(void)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" :
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char sub[600];
	struct dirent *de;
	DIR *d;
	long pid;
	char *end;

	if ((d = opendir(base)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, "sg-fuzz-cfg-", 12) != 0)
				continue;
			pid = strtol(de->d_name + 12, &end, 10);
			if (*end != '\0' || pid <= 0 ||
			    (kill((pid_t)pid, 0) < 0 && errno == ESRCH)) {
				snprintf(sub, sizeof(sub), "%s/%s", base,
				    de->d_name);
				remove_dir(sub);
			}
		}
		closedir(d);
	}
	snprintf(dir, sizeof(dir), "%s/sg-fuzz-cfg-%ld", base, (long)getpid());
	remove_dir(dir);
	snprintf(sub, sizeof(sub), "%s/conf.d", dir);
	if (mkdir(dir, 0700) < 0 || mkdir(sub, 0700) < 0)
		abort();
	snprintf(main_file, sizeof(main_file), "%s/sipsgate.conf", dir);
}

/*
 * Could a line include something outside dir? Conservative: a line that
 * mentions "include" and holds "..", or whose value (after the first '='
 * or ':') starts with '/'.
 */
static bool escapes(const char *p, size_t n)
{
	const char *sep = NULL;
	size_t i;
	bool inc = false;

	for (i = 0; i + 7 <= n; i++)
		if (strncasecmp(p + i, "include", 7) == 0)
			inc = true;
	if (!inc)
		return false;
	for (i = 0; i + 1 < n; i++)
		if (p[i] == '.' && p[i + 1] == '.')
			return true;
	for (i = 0; i < n && sep == NULL; i++)
		if (p[i] == '=' || p[i] == ':')
			sep = p + i;
	if (sep == NULL)
		return false;
	for (sep++; sep < p + n && (*sep == ' ' || *sep == '\t'); sep++)
		;
	return sep < p + n && *sep == '/';
}

static bool input_escapes(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (escapes(p, nl ? (size_t)(nl - p) : (size_t)(end - p)))
			return true;
		p = nl ? nl + 1 : end;
	}
	return false;
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		abort();
	if (n > 0 && fwrite(p, 1, n, f) != n)
		abort();
	fclose(f);
}

/* Split the input at "\n---\n" into the files; returns how many. */
static int write_files(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size, *sep;
	char path[320];
	int n = 0;

	for (n = 0; n < MAX_FILES; n++) {
		if (n == 0)
			snprintf(path, sizeof(path), "%s", main_file);
		else
			snprintf(path, sizeof(path), "%s/conf.d/%d.conf", dir,
			    n);
		sep = n + 1 < MAX_FILES ? memmem(p, (size_t)(end - p), SEP,
		    sizeof(SEP) - 1) : NULL;
		write_file(path, p, sep ? (size_t)(sep - p) + 1 :
		    (size_t)(end - p));
		if (sep == NULL) {
			n++;
			break;
		}
		p = sep + sizeof(SEP) - 1;
	}
	for (int i = n; i < MAX_FILES; i++) {
		snprintf(path, sizeof(path), "%s/conf.d/%d.conf", dir, i);
		unlink(path);
	}
	return n;
}

/* Every line of errors names a file of dir: "DIR/...: ...". */
static void check_errors(const char *text, size_t len)
{
	const char *p = text, *end = text + len, *nl;
	size_t dl = strlen(dir);

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			abort();	/* every error is a whole line */
		if ((size_t)(nl - p) < dl + 2 || memcmp(p, dir, dl) != 0 ||
		    p[dl] != '/' || memchr(p, ':', (size_t)(nl - p)) == NULL)
			abort();
		p = nl + 1;
	}
}

static bool is_wildcard(const char *h)
{
	return strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0;
}

static bool is_literal(const char *h)
{
	unsigned char a[16];

	return inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1;
}

/* An endpoint written back out parses to the same endpoint. */
static void check_endpoint(const struct sg_cfg_endpoint *ep)
{
	static const char *const kinds[] = { "udp", "tcp", "tls" };
	struct sg_cfg_endpoint back;
	char s[300];
	bool v6 = strchr(ep->host, ':') != NULL;

	if (ep->host[0] == '\0' || ep->port == 0 || ep->kind > SG_XPORT_TLS)
		abort();
	snprintf(s, sizeof(s), "%s:%s%s%s:%u", kinds[ep->kind], v6 ? "[" : "",
	    ep->host, v6 ? "]" : "", ep->port);
	if (sg_cfg_parse_endpoint(s, &back) != 0 || back.kind != ep->kind ||
	    back.port != ep->port || strcmp(back.host, ep->host) != 0)
		abort();
}

/*
 * What `sipsgate -t` (main.c check_tls(), without the files it opens) and
 * the start of a service (tls.c, xport.c, session.c) refuse, checked on a
 * configuration sg_cfg_load() accepted.
 */
static void check_service(const struct sg_cfg_service *s,
			  const struct sg_cfg *cfg)
{
	unsigned i, tls = 0, inside = 0, ctls = 0, cplain = 0;
	bool known_inside = s->sip_inside[0] != '\0';
	gnutls_priority_t prio;

	if (s->name[0] == '\0' || s->naccept == 0 ||
	    s->naccept > SG_CFG_MAX_ENDPOINTS ||
	    s->nconnect > SG_CFG_MAX_ENDPOINTS)
		abort();
	for (i = 0; i < cfg->nservices; i++)
		if (&cfg->services[i] != s &&
		    strcmp(cfg->services[i].name, s->name) == 0)
			abort();
	for (i = 0; i < s->naccept; i++) {
		check_endpoint(&s->accept[i]);
		if (!is_literal(s->accept[i].host))
			abort();
		if (s->accept[i].kind == SG_XPORT_TLS) {
			tls++;
		} else {
			inside++;
			if (!is_wildcard(s->accept[i].host))
				known_inside = true;
		}
	}
	for (i = 0; i < s->nconnect; i++) {
		check_endpoint(&s->connect[i]);
		if (s->connect[i].kind == SG_XPORT_TLS) {
			tls++;
			ctls++;
		} else {
			inside++;
			cplain++;
			known_inside = true;
		}
	}
	if (tls == 0 || inside == 0 || ctls > 1 || cplain > 1)
		abort();
	if (s->cert[0] == '\0' || s->key[0] == '\0')
		abort();
	if (s->verify != SG_VERIFY_NONE && s->ca[0] == '\0' && s->npins == 0)
		abort();
	if (s->protocol == SG_PROTO_RAW) {
		if (s->naccept != 1 || s->nconnect != 1)
			abort();
		if (s->accept[0].kind == SG_XPORT_UDP ||
		    s->connect[0].kind == SG_XPORT_UDP)
			abort();
	} else if (!known_inside) {
		abort();	/* main.c check_addresses(), sg_proxy_check() */
	}
	/* session.c sg_session_configure(): a pair on each side. */
	if (s->rtp_min % 2 != 0 || s->rtp_min < 1024 ||
	    s->rtp_max < s->rtp_min + 3)
		abort();
	if (s->nsuites == 0 || s->nsuites > SG_CFG_MAX_SUITES)
		abort();
	if (s->npins > SG_CFG_MAX_PINS || s->ntrusted > SG_CFG_MAX_NETS)
		abort();
	/* tls.c sg_tls_ctx_new(). */
	if (gnutls_priority_init2(&prio, s->tls_priority, NULL, 0) < 0)
		abort();
	gnutls_priority_deinit(prio);
	if (s->media_timeout == 0 || s->keepalive > 3600)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct sg_cfg *cfg = NULL;
	char *text = NULL;
	size_t tlen = 0;
	FILE *errf;
	unsigned i;
	int rc;

	if (!ready) {
		setup();
		atexit(cleanup);
		ready = true;
	}
	if (size > 16384 || input_escapes(data, size))
		return 0;
	write_files(data, size);
	if ((errf = open_memstream(&text, &tlen)) == NULL)
		abort();
	rc = sg_cfg_load(main_file, errf, &cfg);
	fclose(errf);
	check_errors(text, tlen);
	if (rc == 0) {
		if (cfg == NULL || tlen != 0)
			abort();
		for (i = 0; i < cfg->nservices; i++)
			check_service(&cfg->services[i], cfg);
		sg_cfg_free(cfg);
	} else if (cfg != NULL || (rc != -EINVAL && rc != -ENOMEM) ||
	    (rc == -EINVAL && tlen == 0)) {
		abort();	/* a refusal always says why */
	}
	free(text);
	return 0;
}
