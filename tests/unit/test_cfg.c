/* SPDX-License-Identifier: MIT */
/* test_cfg.c: the configuration loader (gateway/cfg.c), through its API. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"

#ifndef SG_SOURCE_DIR
#define SG_SOURCE_DIR "."
#endif

/* A service that loads: tls outside, udp inside, cert, key, ca. */
#define SVC_OK \
	"accept = udp:192.0.2.1:5060\n" \
	"connect = tls:pbx.example.net\n" \
	"cert = /etc/sipsgate/certs/gw.crt\n" \
	"key = /etc/sipsgate/certs/gw.key\n" \
	"ca = /etc/sipsgate/certs/ca.crt\n"

#define PIN "LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE="

static char tmpdir[256];
static unsigned nfile;

/* Write text to DIR/name (name NULL: a fresh name) and return its path. */
static const char *write_file(const char *name, const char *text)
{
	static char path[8][PATH_MAX];
	static unsigned slot;
	char *p = path[slot++ % 8];
	FILE *f;

	if (name != NULL)
		snprintf(p, PATH_MAX, "%s/%s", tmpdir, name);
	else
		snprintf(p, PATH_MAX, "%s/t%u.conf", tmpdir, ++nfile);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

/* Load path; errors land in *errs (caller frees). */
static int load(const char *path, struct sg_cfg **cfg, char **errs)
{
	size_t len;
	FILE *ef = open_memstream(errs, &len);
	int rc;

	assert_non_null(ef);
	rc = sg_cfg_load(path, ef, cfg);
	fclose(ef);
	return rc;
}

/* Load text that must fail, and check the error text contains want. */
static void expect_error(const char *text, unsigned line, const char *want)
{
	const char *path = write_file(NULL, text);
	struct sg_cfg *cfg = (struct sg_cfg *)1;
	char *errs = NULL, *exp;

	assert_int_equal(load(path, &cfg, &errs), -EINVAL);
	assert_null(cfg);
	assert_non_null(errs);
	assert_true(asprintf(&exp, "%s:%u: %s", path, line, want) > 0);
	if (strstr(errs, exp) == NULL)
		fail_msg("expected \"%s\" in:\n%s", exp, errs);
	free(exp);
	free(errs);
}

static struct sg_cfg *expect_ok(const char *text)
{
	const char *path = write_file(NULL, text);
	struct sg_cfg *cfg = NULL;
	char *errs = NULL;
	int rc = load(path, &cfg, &errs);

	if (rc != 0)
		fail_msg("load failed (%d):\n%s", rc, errs);
	assert_string_equal(errs, "");
	free(errs);
	assert_non_null(cfg);
	return cfg;
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_cfg.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_cfg_good_file_loads(void **state)
{
	struct sg_cfg *cfg;
	const struct sg_cfg_service *s;

	(void)state;
	cfg = expect_ok(
	    "; global\n"
	    "user = sipsgate\n"
	    "group = sipsgate\n"
	    "control = /run/sg.sock\n"
	    "metrics = 127.0.0.1:9363\n"
	    "log-level = debug\n"
	    "token-key = /etc/sipsgate/token.key\n"
	    "\n"
	    "[phones]   ; the phones\n"
	    "protocol = sip\n"
	    "accept = udp:0.0.0.0:5060\n"
	    "accept = tcp:0.0.0.0\n"
	    "connect = tls:pbx.example.net:5062\n"
	    "trusted = 192.0.2.0/24, 2001:db8::/32\n"
	    "cert = /etc/sipsgate/certs/gw.crt\n"
	    "key = /etc/sipsgate/certs/gw.key\n"
	    "ca = /etc/sipsgate/certs/ca.crt\n"
	    "crl = /etc/sipsgate/certs/ca.crl\n"
	    "verify = optional\n"
	    "verify-name = pbx.example.net\n"
	    "pin-sha256 = " PIN "\n"
	    "tls-priority = NORMAL:-VERS-ALL:+VERS-TLS1.3\n"
	    "keepalive = 0\n"
	    "media = srtp-optional\n"
	    "media-latch = sdp-ip\n"
	    "srtp-suites = AEAD_AES_128_GCM AES_CM_128_HMAC_SHA1_80\n"
	    "rtp-ports = 30000-30999\n"
	    "media-inside = 192.0.2.1\n"
	    "media-outside = 2001:db8::5\n"
	    "sip-inside = 192.0.2.1\n"
	    "sip-outside = [2001:db8::5]\n"
	    "sips-rewrite = yes\n");
	assert_string_equal(cfg->user, "sipsgate");
	assert_string_equal(cfg->group, "sipsgate");
	assert_string_equal(cfg->control, "/run/sg.sock");
	assert_string_equal(cfg->metrics, "127.0.0.1:9363");
	assert_int_equal(cfg->log_level, LOG_DEBUG);
	assert_string_equal(cfg->token_key, "/etc/sipsgate/token.key");
	assert_int_equal(cfg->nservices, 1);
	s = &cfg->services[0];
	assert_string_equal(s->name, "phones");
	assert_int_equal(s->line, 9);
	assert_int_equal(s->protocol, SG_PROTO_SIP);
	assert_int_equal(s->naccept, 2);
	assert_int_equal(s->accept[0].kind, SG_XPORT_UDP);
	assert_string_equal(s->accept[0].host, "0.0.0.0");
	assert_int_equal(s->accept[0].port, 5060);
	assert_int_equal(s->accept[0].line, 11);
	assert_int_equal(s->accept[1].kind, SG_XPORT_TCP);
	assert_int_equal(s->accept[1].port, 5060);
	assert_int_equal(s->nconnect, 1);
	assert_int_equal(s->connect[0].kind, SG_XPORT_TLS);
	assert_string_equal(s->connect[0].host, "pbx.example.net");
	assert_int_equal(s->connect[0].port, 5062);
	assert_int_equal(s->ntrusted, 2);
	assert_int_equal(s->trusted[0].family, AF_INET);
	assert_int_equal(s->trusted[0].prefix, 24);
	assert_int_equal(s->trusted[1].family, AF_INET6);
	assert_int_equal(s->trusted[1].prefix, 32);
	assert_string_equal(s->cert, "/etc/sipsgate/certs/gw.crt");
	assert_string_equal(s->key, "/etc/sipsgate/certs/gw.key");
	assert_string_equal(s->ca, "/etc/sipsgate/certs/ca.crt");
	assert_string_equal(s->crl, "/etc/sipsgate/certs/ca.crl");
	assert_int_equal(s->verify, SG_VERIFY_OPTIONAL);
	assert_string_equal(s->verify_name, "pbx.example.net");
	assert_int_equal(s->npins, 1);
	assert_string_equal(s->tls_priority, "NORMAL:-VERS-ALL:+VERS-TLS1.3");
	assert_int_equal(s->keepalive, 0);
	assert_int_equal(s->media, SG_MEDIA_SRTP_OPTIONAL);
	assert_int_equal(s->media_latch, SG_LATCH_SDP_IP);
	assert_ptr_equal(s->root, cfg);
	assert_int_equal(s->nsuites, 2);
	assert_string_equal(s->suites[0], "AEAD_AES_128_GCM");
	assert_string_equal(s->suites[1], "AES_CM_128_HMAC_SHA1_80");
	assert_int_equal(s->rtp_min, 30000);
	assert_int_equal(s->rtp_max, 30999);
	assert_string_equal(s->media_inside, "192.0.2.1");
	assert_string_equal(s->media_outside, "2001:db8::5");
	assert_string_equal(s->sip_inside, "192.0.2.1");
	assert_string_equal(s->sip_outside, "2001:db8::5");
	assert_true(s->sips_rewrite);
	sg_cfg_free(cfg);
}

/* Each holder keeps the configuration; the last one frees it (reload). */
static void test_cfg_refcount(void **state)
{
	struct sg_cfg *cfg;
	const struct sg_cfg_service *s;

	(void)state;
	cfg = expect_ok("[a]\n" SVC_OK);
	s = &cfg->services[0];
	assert_int_equal(cfg->refs, 1);
	assert_ptr_equal(sg_cfg_hold(s), cfg);
	assert_ptr_equal(sg_cfg_hold(s), cfg);
	sg_cfg_free(cfg);
	sg_cfg_free(cfg);
	assert_int_equal(cfg->refs, 1);		/* still held: readable */
	assert_string_equal(s->name, "a");
	sg_cfg_free(cfg);			/* the last: LeakSanitizer checks */
}

static void test_cfg_defaults(void **state)
{
	struct sg_cfg *cfg;
	const struct sg_cfg_service *s;

	(void)state;
	cfg = expect_ok("[a]\n" SVC_OK);
	assert_string_equal(cfg->control, "/run/sipsgate/control.sock");
	assert_string_equal(cfg->metrics, "");
	assert_int_equal(cfg->log_level, LOG_INFO);
	s = &cfg->services[0];
	assert_int_equal(s->protocol, SG_PROTO_SIP);
	assert_int_equal(s->verify, SG_VERIFY_REQUIRE);
	assert_string_equal(s->tls_priority, SG_TLS_DEFAULT_PRIORITY);
	assert_int_equal(s->keepalive, 30);
	assert_int_equal(s->tls_handshake_timeout, 10);
	assert_int_equal(s->tls_idle_timeout, 120);
	assert_int_equal(s->tls_max_handshakes, 256);
	assert_int_equal(s->tls_max_handshakes_src, 32);
	assert_int_equal(s->media, SG_MEDIA_SRTP);
	assert_int_equal(s->media_latch, SG_LATCH_STRICT);
	assert_int_equal(s->nsuites, 1);
	assert_string_equal(s->suites[0], "AES_CM_128_HMAC_SHA1_80");
	assert_int_equal(s->rtp_min, 20000);
	assert_int_equal(s->rtp_max, 29999);
	assert_false(s->sips_rewrite);
	assert_string_equal(s->sip_inside, "");
	assert_string_equal(s->verify_name, "");
	assert_int_equal(s->connect[0].port, 5061);
	assert_int_equal(s->ntrusted, 0);
	sg_cfg_free(cfg);
}

static void test_cfg_unknown_key_reported(void **state)
{
	(void)state;
	expect_error("[a]\n" SVC_OK "foo = 1\n", 7,
		     "key 'foo': unknown key (valid in a [service]: accept, ca,");
	expect_error("bar = 1\n[a]\n" SVC_OK, 1,
		     "key 'bar': unknown key (valid before the first "
		     "[section]: control, group, include,");
}

static void test_cfg_bad_value_reported(void **state)
{
	(void)state;
	expect_error("[a]\n" SVC_OK "verify = maybe\n", 7,
		     "key 'verify': 'maybe' is not valid "
		     "(valid: none, optional, require)");
	expect_error("log-level = loud\n", 1,
		     "key 'log-level': 'loud' is not valid (valid: error, "
		     "warning, info, debug)");
	expect_error("[a]\n" SVC_OK "keepalive = 3601\n", 7,
		     "key 'keepalive': '3601' is not valid");
	expect_error("[a]\n" SVC_OK "media-latch = any\n", 7,
		     "key 'media-latch': 'any' is not valid (valid: strict, "
		     "sdp-ip, first)");
	expect_error("[a]\n" SVC_OK "media = sdes\n", 7,
		     "key 'media': 'sdes' is not valid (valid: srtp, "
		     "srtp-optional, relay)");
	expect_error("[a]\n" SVC_OK "rtp-ports = 20001-29999\n", 7,
		     "key 'rtp-ports': '20001-29999' is not valid: the first "
		     "port must be even");
	expect_error("[a]\n" SVC_OK "rtp-ports = 80-29999\n", 7,
		     "key 'rtp-ports': '80-29999' is not valid");
	expect_error("[a]\n" SVC_OK "srtp-suites = AES_CM_128_HMAC_SHA1_80 "
		     "NULL\n", 7, "key 'srtp-suites': "
		     "'AES_CM_128_HMAC_SHA1_80 NULL' is not valid: unknown "
		     "suite 'NULL'");
	expect_error("[a]\n" SVC_OK "media-inside = gw.example.net\n", 7,
		     "key 'media-inside': 'gw.example.net' is not valid");
	expect_error("[a]\n" SVC_OK "sips-rewrite = maybe\n", 7,
		     "key 'sips-rewrite': 'maybe' is not valid (valid: yes, "
		     "no)");
	expect_error("[a]\n" SVC_OK "tls-handshake-timeout = 0\n", 7,
		     "key 'tls-handshake-timeout': '0' is not valid (valid: "
		     "1..300 seconds)");
	expect_error("[a]\n" SVC_OK "tls-idle-timeout = 1\n", 7,
		     "key 'tls-idle-timeout': '1' is not valid (valid: 0 (off)"
		     " or 2..86400 seconds)");
	expect_error("[a]\n" SVC_OK "tls-max-handshakes-per-source = x\n",
		     7, "key 'tls-max-handshakes-per-source': 'x' is not "
		     "valid");
	expect_error("[a]\n" SVC_OK "tls-priority = NORMAL:+BOGUS\n", 7,
		     "key 'tls-priority': 'NORMAL:+BOGUS' is not valid");
	expect_error("[a]\n" SVC_OK "trusted = 192.0.2.0/33\n", 7,
		     "key 'trusted': '192.0.2.0/33' is not valid");
	expect_error("[a]\n" SVC_OK "cert =\n", 7,
		     "key 'cert': the value is empty");
	expect_error("control = run/sg.sock\n", 1,
		     "key 'control': 'run/sg.sock' is not valid: give an "
		     "absolute path");
	expect_error("metrics = 127.0.0.1\n", 1,
		     "key 'metrics': '127.0.0.1' is not valid: the port is "
		     "missing");
}

static void test_cfg_all_errors_reported(void **state)
{
	const char *path;
	struct sg_cfg *cfg;
	char *errs = NULL, *exp;

	(void)state;
	path = write_file(NULL, "log-level = loud\n"
			  "[a]\n" SVC_OK
			  "verify = maybe\n"
			  "this line is nonsense\n"
			  "keepalive = x\n");
	assert_int_equal(load(path, &cfg, &errs), -EINVAL);
	assert_null(cfg);
	assert_true(asprintf(&exp, "%s:1: key 'log-level'", path) > 0);
	assert_non_null(strstr(errs, exp));
	free(exp);
	assert_true(asprintf(&exp, "%s:8: key 'verify'", path) > 0);
	assert_non_null(strstr(errs, exp));
	free(exp);
	assert_true(asprintf(&exp, "%s:9: 'this line is nonsense': expected",
			     path) > 0);
	assert_non_null(strstr(errs, exp));
	free(exp);
	assert_true(asprintf(&exp, "%s:10: key 'keepalive'", path) > 0);
	assert_non_null(strstr(errs, exp));
	free(exp);
	free(errs);
}

static void test_cfg_key_scope_and_repeats(void **state)
{
	(void)state;
	expect_error("[a]\n" SVC_OK "user = root\n", 7,
		     "key 'user': a global key: only valid before the first "
		     "[section]");
	expect_error("accept = udp:0.0.0.0\n", 1,
		     "key 'accept': a service key: only valid inside a "
		     "[service] section");
	expect_error("[a]\n" SVC_OK "cert = /x.crt\n", 7,
		     "key 'cert': set twice (first at ");
	expect_error("[a]\n" SVC_OK "connect = tcp:192.0.2.9\n"
		     "connect = udp:192.0.2.10\n", 8,
		     "key 'connect': 'udp:192.0.2.10': a second udp:/tcp: "
		     "connect (the first is at line 7)");
	expect_error("[a]\n" SVC_OK "connect = tls:other.example.net\n", 7,
		     "key 'connect': 'tls:other.example.net': a second tls: "
		     "connect (the first is at line 3)");
	expect_error("[a]\n" SVC_OK "accept = udp:192.0.2.1\n", 7,
		     "key 'accept': 'udp:192.0.2.1' is already configured at "
		     "line 2");
	expect_error("[a]\n" SVC_OK "accept = tls:gw.example.net\n", 7,
		     "key 'accept': 'tls:gw.example.net' is not valid: accept "
		     "binds a local address");
}

static void test_cfg_service_checks(void **state)
{
	(void)state;
	expect_error("\n[a]\nconnect = tls:pbx.example.net\n"
		     "cert = /c\nkey = /k\nca = /ca\n", 2,
		     "[a]: key 'accept' missing");
	expect_error("[a]\naccept = udp:0.0.0.0\nconnect = udp:192.0.2.9\n",
		     1, "[a]: no outside: add accept = tls:");
	expect_error("[a]\naccept = tls:0.0.0.0\ncert = /c\nkey = /k\n"
		     "ca = /ca\n", 1, "[a]: no inside: add accept = udp:");
	expect_error("[a]\naccept = udp:0.0.0.0\nconnect = tls:pbx\n"
		     "key = /k\nca = /ca\n", 1, "[a]: key 'cert' missing");
	expect_error("[a]\naccept = udp:0.0.0.0\nconnect = tls:pbx\n"
		     "cert = /c\nca = /ca\n", 1, "[a]: key 'key' missing");
	expect_error("[a]\naccept = udp:0.0.0.0\nconnect = tls:pbx\n"
		     "cert = /c\nkey = /k\n", 1, "[a]: key 'ca' missing");
}

static void test_cfg_ca_not_needed(void **state)
{
	struct sg_cfg *cfg;

	(void)state;
	cfg = expect_ok("[a]\naccept = udp:192.0.2.1\nconnect = tls:pbx\n"
			"cert = /c\nkey = /k\nverify = none\n");
	sg_cfg_free(cfg);
	cfg = expect_ok("[a]\naccept = udp:192.0.2.1\nconnect = tls:pbx\n"
			"cert = /c\nkey = /k\npin-sha256 = " PIN "\n");
	sg_cfg_free(cfg);
}

/* pair = yes: a TLS listener needed, ca optional, pair-dir copied in. */
static void test_cfg_pair(void **state)
{
	struct sg_cfg *cfg;
	char want[PATH_MAX + 16];

	(void)state;
	cfg = expect_ok("[a]\naccept = udp:192.0.2.1\nconnect = tls:pbx\n"
			"cert = /c\nkey = /k\nca = /ca\n");
	assert_false(cfg->services[0].pair);
	assert_string_equal(cfg->pair_dir, "/var/lib/sipsgate/pair");
	assert_string_equal(cfg->services[0].pair_dir, "");
	sg_cfg_free(cfg);
	cfg = expect_ok("pair-dir = state/pair\n[a]\naccept = udp:192.0.2.1\n"
			"accept = tls:0.0.0.0:5061\nconnect = udp:pbx\n"
			"media-outside = 198.51.100.1\n"
			"cert = /c\nkey = /k\npair = yes\n");
	assert_true(cfg->services[0].pair);
	snprintf(want, sizeof(want), "%s/state/pair", tmpdir);
	assert_string_equal(cfg->pair_dir, want);
	assert_string_equal(cfg->services[0].pair_dir, want);
	sg_cfg_free(cfg);
	expect_error("[a]\naccept = udp:192.0.2.1\nconnect = tls:pbx\n"
		     "cert = /c\nkey = /k\npair = yes\n", 1,
		     "[a]: key 'pair': pairing needs a TLS listener");
	expect_error("[a]\naccept = udp:192.0.2.1\naccept = tls:0.0.0.0\n"
		     "cert = /c\nkey = /k\npair = maybe\n", 6,
		     "key 'pair': 'maybe' is not valid (valid: yes, no)");
	expect_error("[a]\npair-dir = /x\n", 2, "key 'pair-dir': a global key");
}

static void test_cfg_raw_rules(void **state)
{
	struct sg_cfg *cfg;

	(void)state;
	cfg = expect_ok("[ldap]\nprotocol = raw\naccept = tcp:127.0.0.1:389\n"
			"connect = tls:ldap.example.net:636\n"
			"cert = /c\nkey = /k\nca = /ca\n");
	assert_int_equal(cfg->services[0].protocol, SG_PROTO_RAW);
	sg_cfg_free(cfg);
	expect_error("[r]\nprotocol = raw\naccept = udp:127.0.0.1\n"
		     "connect = tls:x.example.net\ncert = /c\nkey = /k\n"
		     "ca = /ca\n", 3, "key 'accept': protocol = raw carries");
	expect_error("[r]\nprotocol = raw\naccept = tcp:127.0.0.1\n"
		     "accept = tcp:127.0.0.2\n"
		     "connect = tls:x.example.net\ncert = /c\nkey = /k\n"
		     "ca = /ca\n", 1, "[r]: protocol = raw needs exactly one "
		     "accept and one connect");
}

static void test_cfg_duplicate_service(void **state)
{
	const char *a, *b;
	struct sg_cfg *cfg;
	char *errs = NULL, *exp;
	char text[1024];

	(void)state;
	a = write_file("dup-a.conf", "[a]\n" SVC_OK);
	snprintf(text, sizeof(text), "include = dup-a.conf\n\n[a]\n" SVC_OK);
	b = write_file("dup-b.conf", text);
	assert_int_equal(load(b, &cfg, &errs), -EINVAL);
	assert_true(asprintf(&exp, "%s:3: [a]: service defined twice (first "
			     "at %s:1)", b, a) > 0);
	if (strstr(errs, exp) == NULL)
		fail_msg("expected \"%s\" in:\n%s", exp, errs);
	free(exp);
	free(errs);
}

static void test_cfg_cannot_open(void **state)
{
	struct sg_cfg *cfg;
	char *errs = NULL, path[PATH_MAX + 16], *exp;

	(void)state;
	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	assert_int_equal(load(path, &cfg, &errs), -ENOENT);
	assert_null(cfg);
	assert_true(asprintf(&exp, "%s: cannot open: %s\n", path,
			     strerror(ENOENT)) > 0);
	assert_string_equal(errs, exp);
	free(exp);
	free(errs);
	expect_error("include = nowhere.d\n", 1, "key 'include': '");
}

static void test_cfg_include_dir_in_name_order(void **state)
{
	char dir[PATH_MAX + 16], text[PATH_MAX + 64];
	const char *main_path;
	struct sg_cfg *cfg = NULL;
	char *errs = NULL;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/inc.d", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	write_file("inc.d/20-b.conf", "[b]\n" SVC_OK);
	write_file("inc.d/10-a.conf", "[a]\n" SVC_OK);
	write_file("inc.d/30-c.conf", "[c]\n" SVC_OK);
	write_file("inc.d/notes.txt", "garbage\n");
	write_file("inc.d/.hidden.conf", "garbage\n");
	write_file("single.conf", "[z]\n" SVC_OK);
	/* Relative paths are taken from the including file's directory. */
	snprintf(text, sizeof(text), "log-level = warning\ninclude = inc.d\n"
		 "include = single.conf\n");
	main_path = write_file("main.conf", text);
	assert_int_equal(load(main_path, &cfg, &errs), 0);
	assert_string_equal(errs, "");
	assert_int_equal(cfg->log_level, LOG_WARNING);
	assert_int_equal(cfg->nservices, 4);
	assert_string_equal(cfg->services[0].name, "a");
	assert_string_equal(cfg->services[1].name, "b");
	assert_string_equal(cfg->services[2].name, "c");
	assert_string_equal(cfg->services[3].name, "z");
	assert_non_null(strstr(cfg->services[0].file, "inc.d/10-a.conf"));
	sg_cfg_free(cfg);
	free(errs);

	/* An error in an included file names that file. */
	write_file("inc.d/40-bad.conf", "[d]\n" SVC_OK "verify = maybe\n");
	errs = NULL;
	assert_int_equal(load(main_path, &cfg, &errs), -EINVAL);
	assert_non_null(strstr(errs, "inc.d/40-bad.conf:7: key 'verify'"));
	free(errs);
}

static void test_cfg_include_loop(void **state)
{
	char *errs = NULL;
	struct sg_cfg *cfg;
	const char *p;

	(void)state;
	p = write_file("loop.conf", "include = loop.conf\n");
	assert_int_equal(load(p, &cfg, &errs), -EINVAL);
	assert_non_null(strstr(errs, "key 'include'"));
	assert_non_null(strstr(errs, "already read"));
	free(errs);
	/* Still nine levels of distinct files are too deep. */
	for (int i = 0; i < 9; i++) {
		char name[32], text[64];

		snprintf(name, sizeof(name), "deep%d.conf", i);
		snprintf(text, sizeof(text), "include = deep%d.conf\n", i + 1);
		p = write_file(name, text);
	}
	write_file("deep9.conf", "");
	p = write_file(NULL, "include = deep0.conf\n");
	assert_int_equal(load(p, &cfg, &errs), -EINVAL);
	assert_non_null(strstr(errs, "nested more than 8 deep"));
	free(errs);
}

/*
 * Each file is read once per load (fuzz_cfg found "include = ." lines
 * making the loader read its own file k^8 times: minutes and gigabytes).
 * Twelve such lines now cost twelve error lines and nothing else; a file
 * included twice is refused the second time; a FIFO is not opened (it
 * would block the loader, and the daemon with it at reload).
 */
static void test_cfg_include_each_file_once(void **state)
{
	char *errs = NULL, fifo[PATH_MAX];
	struct sg_cfg *cfg;
	const char *p;
	unsigned lines = 0;
	char text[512] = "";
	struct timespec t0, t1;

	(void)state;
	for (int i = 0; i < 12; i++)
		strcat(text, "include = .\n");
	strcat(text, "[a]\n" SVC_OK);
	snprintf(fifo, sizeof(fifo), "%s/self", tmpdir);
	assert_int_equal(mkdir(fifo, 0700), 0);
	p = write_file("self/self.conf", text);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(load(p, &cfg, &errs), -EINVAL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (const char *e = errs; (e = strchr(e, '\n')) != NULL; e++)
		lines++;
	if (lines != 12)
		fail_msg("%u error lines:\n%s", lines, errs);
	assert_non_null(strstr(errs, "/./self.conf': already read"));
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	free(errs);

	write_file("once.conf", "[once]\n" SVC_OK);
	p = write_file(NULL, "include = once.conf\ninclude = once.conf\n");
	assert_int_equal(load(p, &cfg, &errs), -EINVAL);
	assert_non_null(strstr(errs, ":2: key 'include': "));
	assert_non_null(strstr(errs, "once.conf': already read"));
	assert_null(strstr(errs, "defined twice"));
	free(errs);

	snprintf(fifo, sizeof(fifo), "%s/fifo.conf", tmpdir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	p = write_file(NULL, "include = fifo.conf\n");
	assert_int_equal(load(p, &cfg, &errs), -EINVAL);
	assert_non_null(strstr(errs, "fifo.conf': neither a file nor a "
	    "directory"));
	free(errs);
	unlink(fifo);
}

/*
 * What the daemon refuses at start must not load (fuzz_cfg's check):
 * a stream takes an RTP/RTCP pair on each side, so rtp-ports needs four
 * ports (session.c); the SIP address of the inside must be knowable
 * (sip_proxy.c), which `sipsgate -t` checked but a reload did not.
 */
static void test_cfg_refuses_what_start_refuses(void **state)
{
	struct sg_cfg *cfg;

	(void)state;
	expect_error("[a]\n" SVC_OK "rtp-ports = 20000-20001\n", 7,
		     "key 'rtp-ports': '20000-20001' is not valid: the range "
		     "must hold at least two RTP/RTCP pairs");
	expect_error("[a]\n" SVC_OK "rtp-ports = 20000-20002\n", 7,
		     "key 'rtp-ports'");
	cfg = expect_ok("[a]\n" SVC_OK "rtp-ports = 20000-20003\n");
	assert_int_equal(cfg->services[0].rtp_max, 20003);
	sg_cfg_free(cfg);

	expect_error("[a]\naccept = udp:0.0.0.0\naccept = tcp:[::]\n"
		     "accept = tls:0.0.0.0\ncert = /c\nkey = /k\nca = /ca\n", 1,
		     "[a]: the inside accepts on a wildcard address");
	cfg = expect_ok("[a]\naccept = udp:0.0.0.0\naccept = tls:0.0.0.0\n"
			"sip-inside = 192.0.2.1\nmedia-outside = 198.51.100.1\n"
			"cert = /c\nkey = /k\nca = /ca\n");
	sg_cfg_free(cfg);
	cfg = expect_ok("[a]\naccept = udp:0.0.0.0\naccept = tls:0.0.0.0\n"
			"connect = udp:192.0.2.9\nmedia-outside = 198.51.100.1\n"
			"cert = /c\nkey = /k\nca = /ca\n");
	sg_cfg_free(cfg);
	/* Media needs an address on each side (the start refused these
	 * while -t passed them). */
	expect_error("[a]\naccept = udp:0.0.0.0\naccept = tls:0.0.0.0\n"
		     "sip-inside = 192.0.2.1\ncert = /c\nkey = /k\nca = /ca\n",
		     1, "[a]: media on the outside needs an address: set "
		     "media-outside = ADDRESS");
	expect_error("[a]\naccept = udp:0.0.0.0\nsip-inside = pbx.example.net"
		     "\n" "connect = tls:198.51.100.9\ncert = /c\nkey = /k\n"
		     "ca = /ca\n", 1, "[a]: media on the inside needs an "
		     "address: set media-inside = ADDRESS (the SIP host is a "
		     "name)");
	cfg = expect_ok("[a]\naccept = udp:0.0.0.0\nsip-inside = pbx.example.net"
			"\nmedia-inside = 192.0.2.1\n"
			"connect = tls:198.51.100.9\ncert = /c\nkey = /k\n"
			"ca = /ca\n");
	sg_cfg_free(cfg);
	cfg = expect_ok("[a]\nprotocol = raw\naccept = tcp:0.0.0.0:389\n"
			"connect = tls:ldap.example.net:636\n"
			"cert = /c\nkey = /k\nca = /ca\n");
	sg_cfg_free(cfg);
}

/*
 * flow-timeout is no longer a key: refused, saying why and what to do,
 * wherever it stands.
 */
static void test_cfg_flow_timeout_removed(void **state)
{
	(void)state;
	expect_error("[a]\n" SVC_OK "flow-timeout = 3600\n", 7,
		     "key 'flow-timeout': no longer a key: flow tokens do not "
		     "expire");
	expect_error("[a]\n" SVC_OK "flow-timeout = 3600\n", 7,
		     "key 'flow-timeout': no longer a key: flow tokens do not "
		     "expire, so the key did nothing");
}

/* Bounds and defaults come from one table; the messages show them. */
static void test_cfg_typed_table(void **state)
{
	struct sg_cfg *cfg;

	(void)state;
	expect_error("[a]\n" SVC_OK "keepalive = 3601\n", 7,
		     "key 'keepalive': '3601' is not valid (valid: 0..3600 "
		     "seconds (0: off))");
	expect_error("[a]\n" SVC_OK "tls-idle-timeout = 1\n", 7,
		     "key 'tls-idle-timeout': '1' is not valid (valid: 0 (off)"
		     " or 2..86400 seconds)");
	expect_error("[a]\n" SVC_OK "media = srtp-maybe\n", 7,
		     "key 'media': 'srtp-maybe' is not valid (valid: srtp, "
		     "srtp-optional, relay)");
	expect_error("[a]\n" SVC_OK "transactions = sometimes\n", 7,
		     "key 'transactions': 'sometimes' is not valid (valid: "
		     "yes, no)");
	expect_error("log-level = chatty\n[a]\n" SVC_OK, 1,
		     "key 'log-level': 'chatty' is not valid (valid: error, "
		     "warning, info, debug)");
	cfg = expect_ok("[a]\n" SVC_OK "keepalive = 0\ntls-idle-timeout = 0\n"
			"media = RELAY\ntransactions = no\n");
	assert_int_equal(cfg->services[0].keepalive, 0);
	assert_int_equal(cfg->services[0].tls_idle_timeout, 0);
	assert_int_equal(cfg->services[0].media, SG_MEDIA_RELAY);
	assert_false(cfg->services[0].transactions);
	sg_cfg_free(cfg);
	assert_string_equal(sg_cfg_key_default("rtp-ports"), "20000-29999");
	assert_string_equal(sg_cfg_key_default("media-timeout"), "120");
	assert_null(sg_cfg_key_default("cert"));
	assert_null(sg_cfg_key_default("no-such-key"));
}

/*
 * docs/configuration.md states every default; each must be the table's
 * (a default changed in one place only fails here).
 */
static void test_cfg_docs_defaults(void **state)
{
	FILE *f = fopen(SG_SOURCE_DIR "/docs/configuration.md", "r");
	char line[4096];
	unsigned n = 0;

	(void)state;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char key[64], def[256];
		const char *want;

		/* "| `key` | `default` | ..." rows; others say "(none)". */
		if (sscanf(line, "| `%63[^`]` | `%255[^`]` |", key, def) != 2)
			continue;
		want = sg_cfg_key_default(key);
		if (want == NULL || strcmp(want, def) != 0)
			fail_msg("docs/configuration.md: %s defaults to '%s',"
				 " the key table to '%s'", key, def,
				 want ? want : "(none)");
		n++;
	}
	fclose(f);
	assert_true(n >= 20);
}

/* sg_cfg_is_trusted() for an address given as text. */
static bool TRUSTED(const struct sg_cfg_service *s, const char *addr)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
	}
	return sg_cfg_is_trusted(s, (const struct sockaddr *)&ss);
}

static void test_cfg_trusted_cidr_v4_v6(void **state)
{
	struct sg_cfg *cfg;
	const struct sg_cfg_service *s;

	(void)state;
	cfg = expect_ok("[a]\n" SVC_OK
			"trusted = 192.0.2.0/24, 198.51.100.7\n"
			"trusted = 2001:db8:1::/48,10.1.2.3/12\n"
			"[open]\n" SVC_OK);
	s = &cfg->services[0];
	assert_int_equal(s->ntrusted, 4);
	assert_true(TRUSTED(s, "192.0.2.0"));
	assert_true(TRUSTED(s, "192.0.2.255"));
	assert_false(TRUSTED(s, "192.0.3.1"));
	assert_true(TRUSTED(s, "198.51.100.7"));
	assert_false(TRUSTED(s, "198.51.100.8"));
	/* 10.1.2.3/12 is stored as 10.0.0.0/12. */
	assert_true(TRUSTED(s, "10.15.255.255"));
	assert_false(TRUSTED(s, "10.16.0.0"));
	assert_true(TRUSTED(s, "2001:db8:1:ffff::1"));
	assert_false(TRUSTED(s, "2001:db8:2::1"));
	/* IPv4-mapped addresses from a dual-stack socket. */
	assert_true(TRUSTED(s, "::ffff:192.0.2.9"));
	assert_false(TRUSTED(s, "::ffff:203.0.113.1"));
	assert_false(sg_cfg_is_trusted(s, NULL));
	/* No list: everyone. */
	assert_true(TRUSTED(&cfg->services[1], "203.0.113.1"));
	assert_true(TRUSTED(&cfg->services[1], "2001:db8::1"));
	sg_cfg_free(cfg);

	cfg = expect_ok("[all]\n" SVC_OK "trusted = 0.0.0.0/0, ::/0\n");
	assert_true(TRUSTED(&cfg->services[0], "203.0.113.1"));
	assert_true(TRUSTED(&cfg->services[0], "2001:db8::1"));
	sg_cfg_free(cfg);
}

static void test_cfg_endpoint_parsing(void **state)
{
	struct sg_cfg_endpoint ep;

	(void)state;
	assert_int_equal(sg_cfg_parse_endpoint("udp:192.0.2.1:5070", &ep), 0);
	assert_int_equal(ep.kind, SG_XPORT_UDP);
	assert_string_equal(ep.host, "192.0.2.1");
	assert_int_equal(ep.port, 5070);
	assert_int_equal(sg_cfg_parse_endpoint("tcp:192.0.2.1", &ep), 0);
	assert_int_equal(ep.kind, SG_XPORT_TCP);
	assert_int_equal(ep.port, 5060);
	assert_int_equal(sg_cfg_parse_endpoint("tls:pbx.example.net", &ep), 0);
	assert_int_equal(ep.kind, SG_XPORT_TLS);
	assert_string_equal(ep.host, "pbx.example.net");
	assert_int_equal(ep.port, 5061);
	assert_int_equal(sg_cfg_parse_endpoint("tls:[2001:db8::1]:5071", &ep),
			 0);
	assert_string_equal(ep.host, "2001:db8::1");
	assert_int_equal(ep.port, 5071);
	assert_int_equal(sg_cfg_parse_endpoint("udp:[::]", &ep), 0);
	assert_string_equal(ep.host, "::");
	assert_int_equal(ep.port, 5060);

	assert_int_equal(sg_cfg_parse_endpoint("udp:2001:db8::1:5060", &ep),
			 -EINVAL);
	assert_int_equal(sg_cfg_parse_endpoint("udp:[2001:db8::1", &ep),
			 -EINVAL);
	assert_int_equal(sg_cfg_parse_endpoint("udp:[pbx]:5060", &ep),
			 -EINVAL);
	assert_int_equal(sg_cfg_parse_endpoint("sctp:192.0.2.1", &ep),
			 -EINVAL);
	assert_int_equal(sg_cfg_parse_endpoint("192.0.2.1:5060", &ep),
			 -EINVAL);
	assert_int_equal(sg_cfg_parse_endpoint("udp:192.0.2.1:0", &ep),
			 -EINVAL);
	assert_int_equal(sg_cfg_parse_endpoint("udp:192.0.2.1:65536", &ep),
			 -EINVAL);
	assert_int_equal(sg_cfg_parse_endpoint("udp:192.0.2.1:", &ep),
			 -EINVAL);
	assert_int_equal(sg_cfg_parse_endpoint("udp:", &ep), -EINVAL);
	assert_int_equal(sg_cfg_parse_endpoint("udp:999.0.2.1", &ep), -EINVAL);
	assert_int_equal(sg_cfg_parse_endpoint("udp:pbx example", &ep),
			 -EINVAL);

	expect_error("[a]\n" SVC_OK "accept = tcp:2001:db8::1:5060\n", 7,
		     "key 'accept': 'tcp:2001:db8::1:5060' is not valid: an "
		     "IPv6 address needs brackets");
}

static void test_cfg_repeated_accept(void **state)
{
	struct sg_cfg *cfg;
	const struct sg_cfg_service *s;

	(void)state;
	/* The indented line must not be taken as a continuation. */
	cfg = expect_ok("[a]\n"
			"accept = udp:192.0.2.1\n"
			"  accept = tcp:192.0.2.1\n"
			"accept = tls:[2001:db8::1]\n"
			"accept:tls:203.0.113.5:5062\n"
			"connect = tls:pbx\n"
			"cert = /c\nkey = /k\nca = /ca\n");
	s = &cfg->services[0];
	assert_int_equal(s->naccept, 4);
	assert_int_equal(s->accept[1].kind, SG_XPORT_TCP);
	assert_int_equal(s->accept[1].line, 3);
	assert_string_equal(s->accept[2].host, "2001:db8::1");
	assert_int_equal(s->accept[2].port, 5061);
	assert_string_equal(s->accept[3].host, "203.0.113.5");
	assert_int_equal(s->accept[3].port, 5062);
	sg_cfg_free(cfg);
}

static void test_cfg_pins_base64(void **state)
{
	struct sg_cfg *cfg;
	const struct sg_cfg_service *s;
	static const uint8_t first[4] = { 0x2d, 0x71, 0x16, 0x42 };

	(void)state;
	cfg = expect_ok("[a]\n" SVC_OK "pin-sha256 = " PIN "\n"
			"pin-sha256 = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
	s = &cfg->services[0];
	assert_int_equal(s->npins, 2);
	assert_memory_equal(s->pins[0], first, 4);
	assert_int_equal(s->pins[1][0], 0);
	sg_cfg_free(cfg);
	expect_error("[a]\n" SVC_OK "pin-sha256 = AAAA\n", 7,
		     "key 'pin-sha256': 'AAAA' is not valid: decodes to 3 "
		     "bytes, a SHA-256 has 32");
	expect_error("[a]\n" SVC_OK "pin-sha256 = not*base64!\n", 7,
		     "key 'pin-sha256': 'not*base64!' is not valid: not base64");
}

static void test_cfg_long_line(void **state)
{
	char text[2048], prio[600];
	struct sg_cfg *cfg;

	(void)state;
	/* Longer than inih's 200-byte line buffer. */
	snprintf(prio, sizeof(prio), "NORMAL:-VERS-ALL:+VERS-TLS1.3:"
		 "+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"
		 "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-GROUP-ALL:+GROUP-X25519:"
		 "+GROUP-SECP256R1:+GROUP-SECP384R1:-SIGN-ALL:+SIGN-ECDSA-SHA256:"
		 "+SIGN-RSA-PSS-RSAE-SHA256:+SIGN-RSA-SHA256");
	assert_true(strlen(prio) > 200);
	snprintf(text, sizeof(text), "[a]\n" SVC_OK "tls-priority = %s   "
		 "; a comment\n", prio);
	cfg = expect_ok(text);
	assert_string_equal(cfg->services[0].tls_priority, prio);
	sg_cfg_free(cfg);
}

static void test_cfg_relative_paths(void **state)
{
	struct sg_cfg *cfg;
	char want[PATH_MAX + 32];

	(void)state;
	cfg = expect_ok("token-key = tok.key\n[a]\n"
			"accept = udp:192.0.2.1\nconnect = tls:pbx\n"
			"cert = certs/gw.crt\nkey = /k\nca = /ca\n");
	snprintf(want, sizeof(want), "%s/certs/gw.crt", tmpdir);
	assert_string_equal(cfg->services[0].cert, want);
	snprintf(want, sizeof(want), "%s/tok.key", tmpdir);
	assert_string_equal(cfg->token_key, want);
	sg_cfg_free(cfg);
}

static void test_cfg_bad_sections(void **state)
{
	(void)state;
	expect_error("[a\n", 1, "'[a': a section header needs a closing ']'");
	expect_error("[a b]\n", 1, "[a b]: not a valid service name");
	/* Keys of a refused section are still checked. */
	expect_error("[a b]\nverify = maybe\n", 2, "key 'verify'");
}

static void test_cfg_examples_load(void **state)
{
	glob_t g;
	char *errs;
	struct sg_cfg *cfg;

	(void)state;
	assert_int_equal(glob(SG_SOURCE_DIR "/conf.d/*.conf", 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 4);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		errs = NULL;
		cfg = NULL;
		if (load(g.gl_pathv[i], &cfg, &errs) != 0)
			fail_msg("%s does not load:\n%s", g.gl_pathv[i], errs);
		assert_non_null(cfg);
		sg_cfg_free(cfg);
		free(errs);
	}
	globfree(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cfg_good_file_loads),
		cmocka_unit_test(test_cfg_defaults),
		cmocka_unit_test(test_cfg_refcount),
		cmocka_unit_test(test_cfg_unknown_key_reported),
		cmocka_unit_test(test_cfg_bad_value_reported),
		cmocka_unit_test(test_cfg_all_errors_reported),
		cmocka_unit_test(test_cfg_key_scope_and_repeats),
		cmocka_unit_test(test_cfg_service_checks),
		cmocka_unit_test(test_cfg_ca_not_needed),
		cmocka_unit_test(test_cfg_pair),
		cmocka_unit_test(test_cfg_raw_rules),
		cmocka_unit_test(test_cfg_duplicate_service),
		cmocka_unit_test(test_cfg_cannot_open),
		cmocka_unit_test(test_cfg_include_dir_in_name_order),
		cmocka_unit_test(test_cfg_include_loop),
		cmocka_unit_test(test_cfg_include_each_file_once),
		cmocka_unit_test(test_cfg_refuses_what_start_refuses),
		cmocka_unit_test(test_cfg_flow_timeout_removed),
		cmocka_unit_test(test_cfg_typed_table),
		cmocka_unit_test(test_cfg_docs_defaults),
		cmocka_unit_test(test_cfg_trusted_cidr_v4_v6),
		cmocka_unit_test(test_cfg_endpoint_parsing),
		cmocka_unit_test(test_cfg_repeated_accept),
		cmocka_unit_test(test_cfg_pins_base64),
		cmocka_unit_test(test_cfg_long_line),
		cmocka_unit_test(test_cfg_relative_paths),
		cmocka_unit_test(test_cfg_bad_sections),
		cmocka_unit_test(test_cfg_examples_load),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
