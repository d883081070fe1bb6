/* SPDX-License-Identifier: MIT */
/*
 * cfg.c: load sipsgate.conf and what it includes (DESIGN §6) into an
 * immutable struct sg_cfg. inih splits lines into key and value; every key
 * is looked up in one sorted table (relayd parse.y style) and handed to its
 * own setter. Each problem is reported as "FILE:LINE: key 'K': ..." and
 * parsing goes on, so one run shows all of them. Never opens sockets,
 * certificates or keys: only configuration files and include directories.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>

#include <gnutls/gnutls.h>

#include "cfg.h"

#define CFG_MAX_DEPTH 8		/* include nesting */
#define CFG_MAX_KEYS 64		/* >= SG_ARRAY_SIZE(keywords) */
#define DEFAULT_CONTROL "/run/sipsgate/control.sock"
#define DEFAULT_PAIR_DIR "/var/lib/sipsgate/pair"
#define DEFAULT_PRIORITY SG_TLS_DEFAULT_PRIORITY
#define DEFAULT_SUITE "AES_CM_128_HMAC_SHA1_80"
#define ENDPOINT_VALID \
	"udp:HOST[:PORT], tcp:HOST[:PORT], tls:HOST[:PORT]; " \
	"IPv6 as [ADDR]:PORT"

enum key_scope { SCOPE_GLOBAL, SCOPE_SERVICE };

/* Where a key was set, to refuse a second value for a single-valued key. */
struct seen {
	const char *file;
	unsigned line;
};

struct svc_meta {
	struct seen key[CFG_MAX_KEYS];
};

/* A file read, by identity: a second include of it is refused. */
struct file_id {
	dev_t dev;
	ino_t ino;
};

/* State of one sg_cfg_load() call. */
struct ctx {
	struct sg_cfg *cfg;
	FILE *errf;		/* may be NULL: errors are only counted */
	unsigned nerrors;
	bool oom;
	const char *file;	/* file being read; owned by files[] */
	unsigned line;		/* line being read */
	int svc;		/* index into cfg->services, or SVC_* */
	unsigned depth;
	unsigned cap;		/* allocated services and meta */
	struct svc_meta *meta;	/* parallel to cfg->services */
	struct seen gseen[CFG_MAX_KEYS];
	char **files;		/* every file name read, for error texts */
	struct file_id *ids;	/* parallel to files: each is read once */
	unsigned nfiles;
	struct sg_cfg_service scratch;	/* keys of a refused section */
	struct svc_meta scratch_meta;
	char why[192];		/* detail set by a setter that failed */
};

#define SVC_GLOBAL (-1)		/* before the first section of a file */
#define SVC_SCRATCH (-2)	/* in a section that was refused */

/* A setter returns 0, -1 (caller reports "not valid" with c->why), or
 * -2 (the setter reported the problem itself). */
struct keyword {
	const char *name;
	enum key_scope scope;
	bool repeatable;
	int (*set)(struct ctx *c, const char *v);
	const char *valid;
};

struct named {
	const char *name;
	int value;
};

static const struct named log_levels[] = {
	{ "error", LOG_ERR }, { "warning", LOG_WARNING },
	{ "info", LOG_INFO }, { "debug", LOG_DEBUG },
};
static const struct named protocols[] = {
	{ "sip", SG_PROTO_SIP }, { "raw", SG_PROTO_RAW },
};
static const struct named verifies[] = {
	{ "none", SG_VERIFY_NONE }, { "optional", SG_VERIFY_OPTIONAL },
	{ "require", SG_VERIFY_REQUIRE },
};
static const struct named medias[] = {
	{ "srtp", SG_MEDIA_SRTP }, { "srtp-optional", SG_MEDIA_SRTP_OPTIONAL },
	{ "relay", SG_MEDIA_RELAY },
};
static const struct named latches[] = {
	{ "strict", SG_LATCH_STRICT }, { "sdp-ip", SG_LATCH_SDP_IP },
	{ "first", SG_LATCH_FIRST },
};
static const struct named kinds[] = {
	{ "udp", SG_XPORT_UDP }, { "tcp", SG_XPORT_TCP },
	{ "tls", SG_XPORT_TLS },
};
static const struct named yesno[] = {
	{ "yes", 1 }, { "no", 0 },
};
static const char *const suite_names[] = {
	"AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32",
	"AEAD_AES_128_GCM", "AEAD_AES_256_GCM", "AES_256_CM_HMAC_SHA1_80",
};

/* Reporting ------------------------------------------------------------ */

static void cfg_verr(struct ctx *c, const char *file, unsigned line,
		     const char *fmt, va_list ap)
{
	c->nerrors++;
	if (c->errf == NULL)
		return;
	if (line > 0)
		fprintf(c->errf, "%s:%u: ", file, line);
	else
		fprintf(c->errf, "%s: ", file);
	vfprintf(c->errf, fmt, ap);
	fputc('\n', c->errf);
}

/* Report a problem at the line being read. */
static void cfg_err(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_verr(c, c->file, c->line, fmt, ap);
	va_end(ap);
}

/* Report a problem at a given place (a service's section header). */
static void cfg_err_at(struct ctx *c, const char *file, unsigned line,
		       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_verr(c, file, line, fmt, ap);
	va_end(ap);
}

static int why(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* Small parsers --------------------------------------------------------- */

static bool lookup(const struct named *t, size_t n, const char *v, int *out)
{
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(t[i].name, v) == 0) {
			*out = t[i].value;
			return true;
		}
	}
	return false;
}

/* Parse a whole decimal number in [min, max]. */
static int parse_uint(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0' || strlen(s) > 10)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static bool is_ip_literal(const char *s)
{
	struct in6_addr a;

	return inet_pton(AF_INET, s, &a) == 1 || inet_pton(AF_INET6, s, &a) == 1;
}

/* A DNS name or an IPv4 literal (not checked further: the resolver will). */
static bool is_hostname(const char *s)
{
	bool all_digits = true;
	struct in_addr a;
	size_t len = strlen(s);

	if (len == 0 || len > 253 || s[0] == '.' || s[0] == '-')
		return false;
	for (const char *p = s; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' &&
		    *p != '_')
			return false;
		if (!isdigit((unsigned char)*p) && *p != '.')
			all_digits = false;
	}
	return !all_digits || inet_pton(AF_INET, s, &a) == 1;
}

/*
 * Parse "HOST[:PORT]" or "[V6]:PORT" into host (without brackets) and
 * port. defport 0 makes the port mandatory. Returns NULL or the reason.
 */
static const char *parse_hostport(const char *s, char *host, size_t hostsz,
				  uint16_t *port, uint16_t defport)
{
	const char *h, *colon, *ps = NULL;
	struct in6_addr a6;
	unsigned long v;
	size_t hlen;

	if (*s == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL)
			return "missing ']' after the IPv6 address";
		h = s + 1;
		hlen = (size_t)(end - h);
		if (end[1] == ':')
			ps = end + 2;
		else if (end[1] != '\0')
			return "unexpected text after ']'";
	} else {
		h = s;
		colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			return "an IPv6 address needs brackets, as in "
			       "[2001:db8::1]:5061";
		hlen = colon != NULL ? (size_t)(colon - s) : strlen(s);
		if (colon != NULL)
			ps = colon + 1;
	}
	if (hlen == 0)
		return "the host is missing";
	if (hlen >= hostsz)
		return "the host name is too long";
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (*s == '[') {
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return "not an IPv6 address between [ and ]";
	} else if (!is_hostname(host)) {
		return "the host is neither an address nor a DNS name";
	}
	if (ps == NULL) {
		if (defport == 0)
			return "the port is missing";
		*port = defport;
		return NULL;
	}
	if (parse_uint(ps, 1, 65535, &v) < 0)
		return "the port must be a number from 1 to 65535";
	*port = (uint16_t)v;
	return NULL;
}

/* Parse "kind:host[:port]"; returns NULL or the reason. */
static const char *parse_endpoint(const char *s, struct sg_cfg_endpoint *ep)
{
	const char *colon = strchr(s, ':');
	char kind[8];
	size_t klen;
	int k;

	if (colon == NULL)
		return "the transport is missing (udp:, tcp: or tls:)";
	klen = (size_t)(colon - s);
	if (klen >= sizeof(kind))
		return "unknown transport (use udp:, tcp: or tls:)";
	memcpy(kind, s, klen);
	kind[klen] = '\0';
	if (!lookup(kinds, SG_ARRAY_SIZE(kinds), kind, &k))
		return "unknown transport (use udp:, tcp: or tls:)";
	memset(ep, 0, sizeof(*ep));
	ep->kind = (enum sg_xport_kind)k;
	/* RFC 3263 §4.2: a port written out means no NAPTR/SRV lookup. */
	ep->port_given = colon[1] == '[' ? strstr(colon + 1, "]:") != NULL :
	    strchr(colon + 1, ':') != NULL;
	return parse_hostport(colon + 1, ep->host, sizeof(ep->host), &ep->port,
			      ep->kind == SG_XPORT_TLS ? 5061 : 5060);
}

/* Parse "ADDR" or "ADDR/LEN" into a network with host bits cleared. */
static const char *parse_net(const char *s, struct sg_cfg_net *net)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned long prefix;
	unsigned max;

	if (alen == 0 || alen >= sizeof(addr))
		return "not an address";
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	memset(net, 0, sizeof(*net));
	if (inet_pton(AF_INET, addr, net->addr) == 1) {
		net->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, net->addr) == 1) {
		net->family = AF_INET6;
		max = 128;
	} else {
		return "not an IPv4 or IPv6 address";
	}
	prefix = max;
	if (slash != NULL && parse_uint(slash + 1, 0, max, &prefix) < 0)
		return net->family == AF_INET ? "the prefix length must be 0..32"
					      : "the prefix length must be 0..128";
	net->prefix = (unsigned)prefix;
	for (unsigned i = 0; i < 16; i++) {
		unsigned bit = i * 8;

		if (bit >= prefix)
			net->addr[i] = 0;
		else if (prefix - bit < 8)
			net->addr[i] &= (uint8_t)(0xff << (8 - (prefix - bit)));
	}
	return NULL;
}

/* Setters ---------------------------------------------------------------- */

static struct sg_cfg_service *cur_svc(struct ctx *c)
{
	return c->svc >= 0 ? &c->cfg->services[c->svc] : &c->scratch;
}

static int set_str(struct ctx *c, char *dst, size_t size, const char *v)
{
	if (strlen(v) >= size)
		return why(c, ": longer than %zu characters", size - 1);
	strcpy(dst, v);
	return 0;
}

/* A file name; relative ones are taken from the directory of c->file. */
static int set_path(struct ctx *c, char *dst, size_t size, const char *v)
{
	const char *slash = strrchr(c->file, '/');
	int n;

	if (v[0] == '/' || slash == NULL)
		return set_str(c, dst, size, v);
	n = snprintf(dst, size, "%.*s/%s", (int)(slash - c->file), c->file, v);
	if (n < 0 || (size_t)n >= size)
		return why(c, ": longer than %zu characters with its directory",
			   size - 1);
	return 0;
}

static int set_name(struct ctx *c, char *dst, size_t size, const char *v)
{
	if (v[0] == '-')
		return why(c, ": a name cannot start with '-'");
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
			return why(c, ": a name has letters, digits, '_', "
				   "'.' and '-' only");
	return set_str(c, dst, size, v);
}

static int set_enum(struct ctx *c, const struct named *t, size_t n,
		    const char *v, int *out)
{
	(void)c;
	return lookup(t, n, v, out) ? 0 : -1;
}

static int set_user(struct ctx *c, const char *v)
{
	return set_name(c, c->cfg->user, sizeof(c->cfg->user), v);
}

static int set_group(struct ctx *c, const char *v)
{
	return set_name(c, c->cfg->group, sizeof(c->cfg->group), v);
}

static int set_control(struct ctx *c, const char *v)
{
	if (v[0] != '/')
		return why(c, ": give an absolute path");
	return set_str(c, c->cfg->control, sizeof(c->cfg->control), v);
}

static int set_metrics(struct ctx *c, const char *v)
{
	char host[256];
	uint16_t port;
	const char *r = parse_hostport(v, host, sizeof(host), &port, 0);

	if (r != NULL)
		return why(c, ": %s", r);
	return set_str(c, c->cfg->metrics, sizeof(c->cfg->metrics), v);
}

static int set_log_level(struct ctx *c, const char *v)
{
	return set_enum(c, log_levels, SG_ARRAY_SIZE(log_levels), v,
			&c->cfg->log_level);
}

static int set_token_key(struct ctx *c, const char *v)
{
	return set_path(c, c->cfg->token_key, sizeof(c->cfg->token_key), v);
}

static int parse_file(struct ctx *c, const char *path);

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_conf(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return d->d_name[0] != '.' && len > 5 &&
	    strcmp(d->d_name + len - 5, ".conf") == 0;
}

/* Report what parse_file() returned for an include of path. */
static void include_err(struct ctx *c, const char *path, int rc)
{
	if (rc == -ELOOP)
		cfg_err(c, "key 'include': '%s': already read (each file is "
			"read once: does it include itself, or is it included "
			"twice?)", path);
	else
		cfg_err(c, "key 'include': '%s': cannot open: %s", path,
			strerror(-rc));
}

/*
 * include = DIR reads every DIR/ *.conf (not hidden ones) in byte order of
 * their names; include = FILE reads that file. Relative to the including
 * file's directory. Every file is read once per load: without that, a
 * file including itself (or "include = .") would be read again at every
 * level of nesting, k^8 times for k such lines. Only regular files and
 * directories: a FIFO or a device would block or never end.
 */
static int set_include(struct ctx *c, const char *v)
{
	char path[PATH_MAX], sub[PATH_MAX + 256];
	struct dirent **list;
	struct stat st;
	int n, rc;

	if (set_path(c, path, sizeof(path), v) < 0)
		return -1;
	if (c->depth >= CFG_MAX_DEPTH) {
		cfg_err(c, "key 'include': '%s': nested more than %d deep "
			"(does it include itself?)", path, CFG_MAX_DEPTH);
		return -2;
	}
	if (stat(path, &st) < 0) {
		cfg_err(c, "key 'include': '%s': cannot open: %s", path,
			strerror(errno));
		return -2;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		cfg_err(c, "key 'include': '%s': neither a file nor a "
			"directory", path);
		return -2;
	}
	if (!S_ISDIR(st.st_mode)) {
		if ((rc = parse_file(c, path)) < 0)
			include_err(c, path, rc);
		return rc < 0 ? -2 : 0;
	}
	if ((n = scandir(path, &list, is_conf, name_cmp)) < 0) {
		cfg_err(c, "key 'include': '%s': cannot read directory: %s",
			path, strerror(errno));
		return -2;
	}
	for (int i = 0; i < n; i++) {
		snprintf(sub, sizeof(sub), "%s/%s", path, list[i]->d_name);
		if (stat(sub, &st) == 0 && S_ISREG(st.st_mode) &&
		    (rc = parse_file(c, sub)) < 0)
			include_err(c, sub, rc);
		free(list[i]);
	}
	free(list);
	return 0;
}

static int add_endpoint(struct ctx *c, const char *v, bool is_accept)
{
	struct sg_cfg_service *s = cur_svc(c);
	struct sg_cfg_endpoint ep, *arr = is_accept ? s->accept : s->connect;
	unsigned *n = is_accept ? &s->naccept : &s->nconnect;
	const char *key = is_accept ? "accept" : "connect";
	const char *r = parse_endpoint(v, &ep);

	if (r != NULL)
		return why(c, ": %s", r);
	if (is_accept && !is_ip_literal(ep.host))
		return why(c, ": accept binds a local address: give an IP "
			   "literal such as 0.0.0.0 or [::]");
	ep.line = c->line;
	for (unsigned i = 0; i < *n; i++) {
		bool tls = arr[i].kind == SG_XPORT_TLS;

		if (is_accept && arr[i].kind == ep.kind &&
		    arr[i].port == ep.port && strcmp(arr[i].host, ep.host) == 0) {
			cfg_err(c, "key 'accept': '%s' is already configured "
				"at line %u", v, arr[i].line);
			return -2;
		}
		if (!is_accept && tls == (ep.kind == SG_XPORT_TLS)) {
			cfg_err(c, "key 'connect': '%s': a second %s connect "
				"(the first is at line %u); a service has at "
				"most one tls: connect (outside) and one "
				"udp:/tcp: connect (inside)", v,
				tls ? "tls:" : "udp:/tcp:", arr[i].line);
			return -2;
		}
	}
	if (*n >= SG_CFG_MAX_ENDPOINTS) {
		cfg_err(c, "key '%s': too many (at most %d per service)", key,
			SG_CFG_MAX_ENDPOINTS);
		return -2;
	}
	arr[(*n)++] = ep;
	return 0;
}

static int set_accept(struct ctx *c, const char *v)
{
	return add_endpoint(c, v, true);
}

static int set_connect(struct ctx *c, const char *v)
{
	return add_endpoint(c, v, false);
}

static int set_protocol(struct ctx *c, const char *v)
{
	int p;

	if (set_enum(c, protocols, SG_ARRAY_SIZE(protocols), v, &p) < 0)
		return -1;
	cur_svc(c)->protocol = (enum sg_proto)p;
	return 0;
}

/* trusted = 192.0.2.0/24, 2001:db8::/32, 198.51.100.7 (repeatable). */
static int set_trusted(struct ctx *c, const char *v)
{
	struct sg_cfg_service *s = cur_svc(c);
	char item[128];
	const char *p = v, *r;

	for (;;) {
		const char *end = strchr(p, ',');
		struct sg_str t = sg_str_trim(sg_str_make(p,
		    end != NULL ? (size_t)(end - p) : strlen(p)));

		if (t.len == 0)
			return why(c, ": an empty entry in the list");
		if (t.len >= sizeof(item))
			return why(c, ": an entry is too long");
		memcpy(item, t.p, t.len);
		item[t.len] = '\0';
		if (s->ntrusted >= SG_CFG_MAX_NETS)
			return why(c, ": more than %d networks", SG_CFG_MAX_NETS);
		if ((r = parse_net(item, &s->trusted[s->ntrusted])) != NULL)
			return why(c, ": '%s': %s", item, r);
		s->ntrusted++;
		if (end == NULL)
			return 0;
		p = end + 1;
	}
}

static int set_cert(struct ctx *c, const char *v)
{
	return set_path(c, cur_svc(c)->cert, sizeof(cur_svc(c)->cert), v);
}

static int set_key(struct ctx *c, const char *v)
{
	return set_path(c, cur_svc(c)->key, sizeof(cur_svc(c)->key), v);
}

static int set_ca(struct ctx *c, const char *v)
{
	return set_path(c, cur_svc(c)->ca, sizeof(cur_svc(c)->ca), v);
}

static int set_crl(struct ctx *c, const char *v)
{
	return set_path(c, cur_svc(c)->crl, sizeof(cur_svc(c)->crl), v);
}

static int set_verify(struct ctx *c, const char *v)
{
	int x;

	if (set_enum(c, verifies, SG_ARRAY_SIZE(verifies), v, &x) < 0)
		return -1;
	cur_svc(c)->verify = (enum sg_verify)x;
	return 0;
}

static int set_verify_name(struct ctx *c, const char *v)
{
	struct sg_cfg_service *s = cur_svc(c);

	if (!is_hostname(v) && !is_ip_literal(v))
		return why(c, ": not a DNS name or an address");
	return set_str(c, s->verify_name, sizeof(s->verify_name), v);
}

/* The base64 SHA-256 of a SubjectPublicKeyInfo, as in RFC 7469 pin-sha256. */
static int set_pin(struct ctx *c, const char *v)
{
	struct sg_cfg_service *s = cur_svc(c);
	gnutls_datum_t in, out = { NULL, 0 };
	int rc;

	in.data = (unsigned char *)(uintptr_t)v;
	in.size = (unsigned)strlen(v);
	if ((rc = gnutls_base64_decode2(&in, &out)) < 0)
		return why(c, ": not base64 (%s)", gnutls_strerror(rc));
	if (out.size != 32) {
		gnutls_free(out.data);
		return why(c, ": decodes to %u bytes, a SHA-256 has 32",
			   out.size);
	}
	if (s->npins >= SG_CFG_MAX_PINS) {
		gnutls_free(out.data);
		return why(c, ": more than %d pins", SG_CFG_MAX_PINS);
	}
	memcpy(s->pins[s->npins++], out.data, 32);
	gnutls_free(out.data);
	return 0;
}

static int set_tls_priority(struct ctx *c, const char *v)
{
	struct sg_cfg_service *s = cur_svc(c);
	gnutls_priority_t prio;
	const char *errpos = NULL;
	int rc;

	if ((rc = gnutls_priority_init(&prio, v, &errpos)) < 0) {
		if (errpos != NULL)
			return why(c, ": GnuTLS refuses it at '%s'", errpos);
		return why(c, ": %s", gnutls_strerror(rc));
	}
	gnutls_priority_deinit(prio);
	return set_str(c, s->tls_priority, sizeof(s->tls_priority), v);
}

static int set_keepalive(struct ctx *c, const char *v)
{
	unsigned long x;

	if (parse_uint(v, 0, 3600, &x) < 0)
		return -1;
	cur_svc(c)->keepalive = (unsigned)x;
	return 0;
}

static int set_tls_handshake_timeout(struct ctx *c, const char *v)
{
	unsigned long x;

	if (parse_uint(v, 1, 300, &x) < 0)
		return -1;
	cur_svc(c)->tls_handshake_timeout = (unsigned)x;
	return 0;
}

static int set_tls_idle_timeout(struct ctx *c, const char *v)
{
	unsigned long x;

	if (parse_uint(v, 0, 86400, &x) < 0 || (x > 0 && x < 2))
		return -1;
	cur_svc(c)->tls_idle_timeout = (unsigned)x;
	return 0;
}

static int set_tls_max_handshakes(struct ctx *c, const char *v)
{
	unsigned long x;

	if (parse_uint(v, 1, 100000, &x) < 0)
		return -1;
	cur_svc(c)->tls_max_handshakes = (unsigned)x;
	return 0;
}

static int set_tls_max_handshakes_src(struct ctx *c, const char *v)
{
	unsigned long x;

	if (parse_uint(v, 1, 100000, &x) < 0)
		return -1;
	cur_svc(c)->tls_max_handshakes_src = (unsigned)x;
	return 0;
}

static int set_flow_timeout(struct ctx *c, const char *v)
{
	unsigned long x;

	if (parse_uint(v, 10, 86400, &x) < 0)
		return -1;
	cur_svc(c)->flow_timeout = (unsigned)x;
	return 0;
}

static int set_media_timeout(struct ctx *c, const char *v)
{
	unsigned long x;

	if (parse_uint(v, 1, 86400, &x) < 0)
		return -1;
	cur_svc(c)->media_timeout = (unsigned)x;
	return 0;
}

static int set_transactions(struct ctx *c, const char *v)
{
	int x;

	if (set_enum(c, yesno, SG_ARRAY_SIZE(yesno), v, &x) < 0)
		return -1;
	cur_svc(c)->transactions = x != 0;
	return 0;
}

static int set_max_transactions(struct ctx *c, const char *v)
{
	unsigned long x;

	if (parse_uint(v, 16, 10000000, &x) < 0)
		return -1;
	cur_svc(c)->max_transactions = (unsigned)x;
	return 0;
}

static int set_timer(struct ctx *c, const char *v, unsigned *dst)
{
	unsigned long x;

	(void)c;
	if (parse_uint(v, 10, 60000, &x) < 0)
		return -1;
	*dst = (unsigned)x;
	return 0;
}

static int set_timer_t1(struct ctx *c, const char *v)
{
	return set_timer(c, v, &cur_svc(c)->timer_t1);
}

static int set_timer_t2(struct ctx *c, const char *v)
{
	return set_timer(c, v, &cur_svc(c)->timer_t2);
}

static int set_timer_t4(struct ctx *c, const char *v)
{
	return set_timer(c, v, &cur_svc(c)->timer_t4);
}

static int set_media(struct ctx *c, const char *v)
{
	int x;

	if (set_enum(c, medias, SG_ARRAY_SIZE(medias), v, &x) < 0)
		return -1;
	cur_svc(c)->media = (enum sg_media_policy)x;
	return 0;
}

static int set_media_latch(struct ctx *c, const char *v)
{
	int x;

	if (set_enum(c, latches, SG_ARRAY_SIZE(latches), v, &x) < 0)
		return -1;
	cur_svc(c)->media_latch = (enum sg_latch_mode)x;
	return 0;
}

/* srtp-suites = NAME NAME ...: replaces the default list, order kept. */
static int set_srtp_suites(struct ctx *c, const char *v)
{
	struct sg_cfg_service *s = cur_svc(c);
	const char *p = v;
	unsigned n = 0;
	char names[SG_CFG_MAX_SUITES][32];

	while (*p) {
		size_t len = strcspn(p, " \t,");
		bool known = false;

		if (len == 0) {
			p++;
			continue;
		}
		for (size_t i = 0; i < SG_ARRAY_SIZE(suite_names); i++)
			if (strlen(suite_names[i]) == len &&
			    strncmp(suite_names[i], p, len) == 0)
				known = true;
		if (!known)
			return why(c, ": unknown suite '%.*s'", (int)len, p);
		for (unsigned i = 0; i < n; i++)
			if (strlen(names[i]) == len &&
			    strncmp(names[i], p, len) == 0)
				return why(c, ": '%.*s' is listed twice",
					   (int)len, p);
		if (n >= SG_CFG_MAX_SUITES)
			return why(c, ": more than %d suites", SG_CFG_MAX_SUITES);
		memcpy(names[n], p, len);
		names[n++][len] = '\0';
		p += len;
	}
	if (n == 0)
		return -1;
	memcpy(s->suites, names, sizeof(names));
	s->nsuites = n;
	return 0;
}

static int set_rtp_ports(struct ctx *c, const char *v)
{
	struct sg_cfg_service *s = cur_svc(c);
	const char *dash = strchr(v, '-');
	char lo[8];
	unsigned long min, max;

	if (dash == NULL || (size_t)(dash - v) >= sizeof(lo))
		return -1;
	memcpy(lo, v, (size_t)(dash - v));
	lo[dash - v] = '\0';
	if (parse_uint(lo, 1024, 65535, &min) < 0 ||
	    parse_uint(dash + 1, 1024, 65535, &max) < 0)
		return why(c, ": both ports must be 1024..65535");
	if (min % 2 != 0)
		return why(c, ": the first port must be even (RTP, then RTCP)");
	/* A stream takes an RTP/RTCP pair on each side (session.c). */
	if (max < min + 3)
		return why(c, ": the range must hold at least two RTP/RTCP "
			   "pairs (a stream takes one on each side)");
	s->rtp_min = (uint16_t)min;
	s->rtp_max = (uint16_t)max;
	return 0;
}

static int set_media_addr(struct ctx *c, char *dst, size_t size,
			  const char *v)
{
	if (!is_ip_literal(v))
		return why(c, ": not an IPv4 or IPv6 address (no brackets)");
	return set_str(c, dst, size, v);
}

static int set_media_inside(struct ctx *c, const char *v)
{
	struct sg_cfg_service *s = cur_svc(c);

	return set_media_addr(c, s->media_inside, sizeof(s->media_inside), v);
}

static int set_media_outside(struct ctx *c, const char *v)
{
	struct sg_cfg_service *s = cur_svc(c);

	return set_media_addr(c, s->media_outside, sizeof(s->media_outside), v);
}

/* An address or a DNS name; an IPv6 address is stored without brackets. */
static int set_sip_addr(struct ctx *c, char *dst, size_t size, const char *v)
{
	size_t len = strlen(v);
	struct in6_addr a;
	char tmp[INET6_ADDRSTRLEN];

	if (v[0] == '[' && len > 2 && v[len - 1] == ']' &&
	    len - 2 < sizeof(tmp)) {
		memcpy(tmp, v + 1, len - 2);
		tmp[len - 2] = '\0';
		if (inet_pton(AF_INET6, tmp, &a) == 1)
			return set_str(c, dst, size, tmp);
	}
	if (!is_hostname(v) && !is_ip_literal(v))
		return why(c, ": not an address or a DNS name");
	return set_str(c, dst, size, v);
}

static int set_sip_inside(struct ctx *c, const char *v)
{
	struct sg_cfg_service *s = cur_svc(c);

	return set_sip_addr(c, s->sip_inside, sizeof(s->sip_inside), v);
}

static int set_sip_outside(struct ctx *c, const char *v)
{
	struct sg_cfg_service *s = cur_svc(c);

	return set_sip_addr(c, s->sip_outside, sizeof(s->sip_outside), v);
}

static int set_sips_rewrite(struct ctx *c, const char *v)
{
	int x;

	if (set_enum(c, yesno, SG_ARRAY_SIZE(yesno), v, &x) < 0)
		return -1;
	cur_svc(c)->sips_rewrite = x != 0;
	return 0;
}

static int set_tls_trace(struct ctx *c, const char *v)
{
	int x;

	if (set_enum(c, yesno, SG_ARRAY_SIZE(yesno), v, &x) < 0)
		return -1;
	cur_svc(c)->tls_trace = x != 0;
	return 0;
}

/* pair = yes: this service's TLS listener takes `sipsgate pair` joins
 * and trusts the certificates its pairing CA signed (docs/pairing.md). */
static int set_pair(struct ctx *c, const char *v)
{
	int x;

	if (set_enum(c, yesno, SG_ARRAY_SIZE(yesno), v, &x) < 0)
		return -1;
	cur_svc(c)->pair = x != 0;
	return 0;
}

static int set_pair_dir(struct ctx *c, const char *v)
{
	return set_path(c, c->cfg->pair_dir, sizeof(c->cfg->pair_dir), v);
}

#define G SCOPE_GLOBAL
#define S SCOPE_SERVICE
/* Sorted by name (strcmp): looked up with bsearch(). */
static const struct keyword keywords[] = {
	{ "accept", S, true, set_accept, ENDPOINT_VALID },
	{ "ca", S, false, set_ca, "a PEM file of CA certificates" },
	{ "cert", S, false, set_cert, "a PEM certificate (chain) file" },
	{ "connect", S, true, set_connect, ENDPOINT_VALID },
	{ "control", G, false, set_control, "an absolute path of a socket" },
	{ "crl", S, false, set_crl, "a PEM CRL file" },
	{ "flow-timeout", S, false, set_flow_timeout, "10..86400 seconds" },
	{ "group", G, false, set_group, "a group name" },
	{ "include", G, true, set_include, "a directory or a file" },
	{ "keepalive", S, false, set_keepalive, "0..3600 seconds, 0 = off" },
	{ "key", S, false, set_key, "a PEM private key file" },
	{ "log-level", G, false, set_log_level,
	  "error, warning, info, debug" },
	{ "max-transactions", S, false, set_max_transactions,
	  "16..10000000" },
	{ "media", S, false, set_media, "srtp, srtp-optional, relay" },
	{ "media-inside", S, false, set_media_inside, "an IP address" },
	{ "media-latch", S, false, set_media_latch, "strict, sdp-ip, first" },
	{ "media-outside", S, false, set_media_outside, "an IP address" },
	{ "media-timeout", S, false, set_media_timeout, "1..86400 seconds" },
	{ "metrics", G, false, set_metrics, "HOST:PORT or [ADDR]:PORT" },
	{ "pair", S, false, set_pair, "yes, no" },
	{ "pair-dir", G, false, set_pair_dir, "a directory" },
	{ "pin-sha256", S, true, set_pin,
	  "base64 of the SHA-256 of a public key (44 characters)" },
	{ "protocol", S, false, set_protocol, "sip, raw" },
	{ "rtp-ports", S, false, set_rtp_ports,
	  "MIN-MAX, even MIN, 1024..65535, at least 4 ports" },
	{ "sip-inside", S, false, set_sip_inside, "an address or a DNS name" },
	{ "sip-outside", S, false, set_sip_outside,
	  "an address or a DNS name" },
	{ "sips-rewrite", S, false, set_sips_rewrite, "yes, no" },
	{ "srtp-suites", S, false, set_srtp_suites,
	  "AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32, "
	  "AEAD_AES_128_GCM, AEAD_AES_256_GCM, AES_256_CM_HMAC_SHA1_80; "
	  "space-separated" },
	{ "timer-t1", S, false, set_timer_t1, "10..60000 milliseconds" },
	{ "timer-t2", S, false, set_timer_t2, "10..60000 milliseconds" },
	{ "timer-t4", S, false, set_timer_t4, "10..60000 milliseconds" },
	{ "tls-handshake-timeout", S, false, set_tls_handshake_timeout,
	  "1..300 seconds" },
	{ "tls-idle-timeout", S, false, set_tls_idle_timeout,
	  "0 (off) or 2..86400 seconds" },
	{ "tls-max-handshakes", S, false, set_tls_max_handshakes,
	  "1..100000 connections" },
	{ "tls-max-handshakes-per-source", S, false,
	  set_tls_max_handshakes_src, "1..100000 connections" },
	{ "tls-priority", S, false, set_tls_priority,
	  "a GnuTLS priority string" },
	{ "tls-trace", S, false, set_tls_trace, "yes, no" },
	{ "token-key", G, false, set_token_key, "a file name" },
	{ "transactions", S, false, set_transactions, "yes, no" },
	{ "trusted", S, true, set_trusted,
	  "comma-separated addresses or CIDRs, IPv4 or IPv6" },
	{ "user", G, false, set_user, "a user name" },
	{ "verify", S, false, set_verify, "none, optional, require" },
	{ "verify-name", S, false, set_verify_name, "a DNS name or address" },
};
#undef G
#undef S

_Static_assert(SG_ARRAY_SIZE(keywords) <= CFG_MAX_KEYS,
	       "raise CFG_MAX_KEYS");

static int keyword_cmp(const void *k, const void *e)
{
	return strcasecmp(k, ((const struct keyword *)e)->name);
}

/* Reading files ---------------------------------------------------------- */

static void unknown_key(struct ctx *c, const char *name, enum key_scope scope)
{
	char list[512];
	size_t off = 0;

	list[0] = '\0';
	for (size_t i = 0; i < SG_ARRAY_SIZE(keywords); i++) {
		if (keywords[i].scope != scope)
			continue;
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
					off ? ", " : "", keywords[i].name);
		if (off >= sizeof(list))
			break;
	}
	cfg_err(c, "key '%s': unknown key (valid%s: %s)", name,
		scope == SCOPE_GLOBAL ? " before the first [section]" :
		" in a [service]", list);
}

/* inih calls this for every key = value line, repeated keys included. */
static int on_key(void *user, const char *section, const char *name,
		  const char *value)
{
	struct ctx *c = user;
	const struct keyword *kw;
	enum key_scope scope = c->svc == SVC_GLOBAL ? SCOPE_GLOBAL :
	    SCOPE_SERVICE;
	struct seen *seen;
	int rc;

	(void)section;	/* sections are tracked by the reader, see below */
	kw = bsearch(name, keywords, SG_ARRAY_SIZE(keywords),
		     sizeof(keywords[0]), keyword_cmp);
	if (kw == NULL) {
		unknown_key(c, name, scope);
		return 1;
	}
	if (kw->scope != scope) {
		cfg_err(c, "key '%s': %s", kw->name, kw->scope == SCOPE_GLOBAL ?
			"a global key: only valid before the first [section]" :
			"a service key: only valid inside a [service] section");
		return 1;
	}
	if (*value == '\0') {
		cfg_err(c, "key '%s': the value is empty (valid: %s)",
			kw->name, kw->valid);
		return 1;
	}
	seen = kw->scope == SCOPE_GLOBAL ? &c->gseen[kw - keywords] :
	    c->svc >= 0 ? &c->meta[c->svc].key[kw - keywords] :
	    &c->scratch_meta.key[kw - keywords];
	if (!kw->repeatable && seen->line != 0) {
		cfg_err(c, "key '%s': set twice (first at %s:%u); only one "
			"value is allowed", kw->name, seen->file, seen->line);
		return 1;
	}
	seen->file = c->file;
	seen->line = c->line;
	c->why[0] = '\0';
	if ((rc = kw->set(c, value)) == -1)
		cfg_err(c, "key '%s': '%s' is not valid%s (valid: %s)",
			kw->name, value, c->why, kw->valid);
	return 1;
}

static void svc_defaults(struct sg_cfg_service *s)
{
	memset(s, 0, sizeof(*s));
	s->protocol = SG_PROTO_SIP;
	s->verify = SG_VERIFY_REQUIRE;
	strcpy(s->tls_priority, DEFAULT_PRIORITY);
	s->keepalive = 30;
	s->tls_handshake_timeout = 10;
	s->tls_idle_timeout = 120;	/* 4 x keepalive */
	s->tls_max_handshakes = 256;
	s->tls_max_handshakes_src = 32;
	s->media = SG_MEDIA_SRTP;
	s->nsuites = 1;
	strcpy(s->suites[0], DEFAULT_SUITE);
	s->rtp_min = 20000;
	s->rtp_max = 29999;
	s->flow_timeout = 3600;
	s->media_timeout = 120;
	s->transactions = true;
	s->max_transactions = 100000;
	s->timer_t1 = 500;
	s->timer_t2 = 4000;
	s->timer_t4 = 5000;
}

static bool is_section_name(const char *s, size_t max)
{
	if (*s == '\0' || strlen(s) > max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
			return false;
	return true;
}

/* "[name]": start a new service, or a scratch one if it is refused. */
static void on_section(struct ctx *c, const char *line)
{
	const char *end = strchr(line, ']');
	struct sg_cfg *cfg = c->cfg;
	struct sg_cfg_service *s;
	char name[128];
	struct sg_str n;

	c->svc = SVC_SCRATCH;
	svc_defaults(&c->scratch);
	memset(&c->scratch_meta, 0, sizeof(c->scratch_meta));
	if (end == NULL) {
		cfg_err(c, "'%s': a section header needs a closing ']'", line);
		return;
	}
	n = sg_str_trim(sg_str_make(line + 1, (size_t)(end - line - 1)));
	snprintf(name, sizeof(name), "%.*s", SG_STR_FMT(n));
	for (end++; *end == ' ' || *end == '\t'; end++)
		;
	if (*end != '\0' && *end != ';' && *end != '#') {
		cfg_err(c, "'%s': unexpected text after ']'", line);
		return;
	}
	if (!is_section_name(name, sizeof(s->name) - 1) ||
	    n.len >= sizeof(name)) {
		cfg_err(c, "[%s]: not a valid service name (1..%zu letters, "
			"digits, '_', '.' or '-')", name,
			sizeof(s->name) - 1);
		return;
	}
	for (unsigned i = 0; i < cfg->nservices; i++) {
		if (strcmp(cfg->services[i].name, name) == 0) {
			cfg_err(c, "[%s]: service defined twice (first at "
				"%s:%u)", name, cfg->services[i].file,
				cfg->services[i].line);
			return;
		}
	}
	if (cfg->nservices == c->cap) {
		unsigned cap = c->cap ? c->cap * 2 : 4;
		struct sg_cfg_service *ns;
		struct svc_meta *nm;

		ns = realloc(cfg->services, cap * sizeof(*ns));
		if (ns != NULL)
			cfg->services = ns;
		nm = realloc(c->meta, cap * sizeof(*nm));
		if (nm != NULL)
			c->meta = nm;
		if (ns == NULL || nm == NULL) {
			c->oom = true;
			return;
		}
		c->cap = cap;
	}
	s = &cfg->services[cfg->nservices];
	svc_defaults(s);
	strcpy(s->name, name);
	snprintf(s->file, sizeof(s->file), "%s", c->file);
	s->line = c->line;
	memset(&c->meta[cfg->nservices], 0, sizeof(c->meta[0]));
	c->svc = (int)cfg->nservices++;
}

/* Where inih would split "key = value": '=' or ':' before any comment. */
static char *find_sep(char *s)
{
	for (char *p = s; *p; p++) {
		if (*p == ';' && p > s && isspace((unsigned char)p[-1]))
			return NULL;
		if (*p == '=' || *p == ':')
			return p;
	}
	return NULL;
}

/*
 * A line longer than inih's fixed buffer (200 bytes in Debian's build)
 * would be cut into pieces. Split it here with inih's rules instead: name
 * before the first '=' or ':', value after it, ';' after whitespace starts
 * a comment, and hand it to on_key() directly.
 */
static void long_line(struct ctx *c, char *s)
{
	char *sep = find_sep(s), *v, *e;

	for (e = sep; e > s && isspace((unsigned char)e[-1]); e--)
		;
	*e = '\0';
	for (v = sep + 1; isspace((unsigned char)*v); v++)
		;
	for (e = v; *e; e++)
		if (*e == ';' && e > v && isspace((unsigned char)e[-1]))
			break;
	*e = '\0';
	while (e > v && isspace((unsigned char)e[-1]))
		*--e = '\0';
	on_key(c, "", s, v);
}

struct reader {
	FILE *f;
	struct ctx *c;
	char *buf;
	size_t cap;
	unsigned lineno;
};

/*
 * inih's fgets-style reader. Handler callbacks do not get the line number
 * in Debian's inih 55 (INI_HANDLER_LINENO is 0), so lines are counted here:
 * inih calls on_key() for a line before it asks for the next one. Also
 * strips leading blanks (so an indented line is never taken as a
 * continuation of the previous value: every accept = reaches on_key()),
 * starts services at "[name]" lines, and reports lines inih would reject
 * silently.
 */
static char *read_line(char *str, int num, void *stream)
{
	struct reader *r = stream;
	struct ctx *c = r->c;
	ssize_t n;
	size_t len;
	char *s;
	bool nul;

	if ((n = getline(&r->buf, &r->cap, r->f)) < 0)
		return NULL;
	c->line = ++r->lineno;
	s = r->buf;
	len = (size_t)n;
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		s[--len] = '\0';
	nul = strlen(s) != len;
	if (r->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	while (*s == ' ' || *s == '\t')
		s++;
	str[0] = '\0';
	if (nul) {
		cfg_err(c, "the line contains a NUL byte");
	} else if (*s == '\0' || *s == ';' || *s == '#') {
		/* Blank or comment. */
	} else if (*s == '[') {
		on_section(c, s);
	} else if (find_sep(s) == NULL) {
		cfg_err(c, "'%s': expected 'key = value', '[name]' or a "
			"comment", s);
	} else if (strlen(s) + 2 > (size_t)num) {
		long_line(c, s);
	} else {
		snprintf(str, (size_t)num, "%s\n", s);
	}
	return str;
}

/*
 * Read one file; -errno if it cannot be opened, -ELOOP if it was read
 * before in this load (the caller reports).
 */
static int parse_file(struct ctx *c, const char *path)
{
	struct reader r = { .c = c };
	const char *saved_file = c->file;
	unsigned saved_line = c->line;
	int saved_svc = c->svc;
	struct stat st;
	struct file_id *ni;
	char **nf, *copy;

	if ((r.f = fopen(path, "r")) == NULL)
		return -errno;
	if (fstat(fileno(r.f), &st) < 0) {
		fclose(r.f);
		return -errno;
	}
	if (S_ISDIR(st.st_mode)) {
		fclose(r.f);
		return -EISDIR;
	}
	for (unsigned i = 0; i < c->nfiles; i++) {
		if (c->ids[i].dev == st.st_dev && c->ids[i].ino == st.st_ino) {
			fclose(r.f);
			return -ELOOP;
		}
	}
	nf = realloc(c->files, (c->nfiles + 1) * sizeof(*nf));
	if (nf != NULL)
		c->files = nf;
	ni = realloc(c->ids, (c->nfiles + 1) * sizeof(*ni));
	if (ni != NULL)
		c->ids = ni;
	copy = strdup(path);
	if (nf == NULL || ni == NULL || copy == NULL) {
		free(copy);
		fclose(r.f);
		c->oom = true;
		return 0;
	}
	c->ids[c->nfiles].dev = st.st_dev;
	c->ids[c->nfiles].ino = st.st_ino;
	c->files[c->nfiles++] = copy;
	c->file = copy;
	c->svc = SVC_GLOBAL;
	c->depth++;
	if (ini_parse_stream(read_line, &r, on_key, c) == -2)
		c->oom = true;
	c->depth--;
	free(r.buf);
	fclose(r.f);
	c->file = saved_file;
	c->line = saved_line;
	c->svc = saved_svc;
	return 0;
}

/* Whole-service checks ----------------------------------------------------- */

static bool is_wildcard_host(const char *h)
{
	return strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0;
}

/*
 * Can the daemon know the SIP address of the inside (for Via, Record-Route
 * and Contact)? From sip-inside, a specific udp:/tcp: accept address, or
 * an inside connect to route toward (sip_proxy.c sg_proxy_check()).
 */
static bool inside_known(const struct sg_cfg_service *s)
{
	if (s->sip_inside[0] != '\0')
		return true;
	for (unsigned i = 0; i < s->naccept; i++)
		if (s->accept[i].kind != SG_XPORT_TLS &&
		    !is_wildcard_host(s->accept[i].host))
			return true;
	for (unsigned i = 0; i < s->nconnect; i++)
		if (s->connect[i].kind != SG_XPORT_TLS)
			return true;
	return false;
}

static bool has_tls_accept(const struct sg_cfg_service *s)
{
	for (unsigned i = 0; i < s->naccept; i++)
		if (s->accept[i].kind == SG_XPORT_TLS)
			return true;
	return false;
}

static void check_service(struct ctx *c, const struct sg_cfg_service *s)
{
	bool tls = false, inside = false, raw = s->protocol == SG_PROTO_RAW;
	const struct sg_cfg_endpoint *eps[2] = { s->accept, s->connect };
	unsigned ns[2] = { s->naccept, s->nconnect };

#define SVC_ERR(...) cfg_err_at(c, s->file, s->line, __VA_ARGS__)
	for (int j = 0; j < 2; j++) {
		for (unsigned i = 0; i < ns[j]; i++) {
			const struct sg_cfg_endpoint *e = &eps[j][i];

			if (e->kind == SG_XPORT_TLS)
				tls = true;
			else
				inside = true;
			if (raw && e->kind == SG_XPORT_UDP)
				cfg_err_at(c, s->file, e->line, "key '%s': "
					   "protocol = raw carries a byte "
					   "stream: use tcp: or tls:, not udp:",
					   j == 0 ? "accept" : "connect");
		}
	}
	if (s->naccept == 0)
		SVC_ERR("[%s]: key 'accept' missing: a service needs at least "
			"one accept (where it listens)", s->name);
	if (raw && (s->naccept != 1 || s->nconnect != 1))
		SVC_ERR("[%s]: protocol = raw needs exactly one accept and one "
			"connect (it has %u and %u)", s->name, s->naccept,
			s->nconnect);
	if (!tls)
		SVC_ERR("[%s]: no outside: add accept = tls:ADDR:5061 or "
			"connect = tls:HOST:5061", s->name);
	if (!inside)
		SVC_ERR("[%s]: no inside: add accept = udp:ADDR:5060 (or tcp:) "
			"or connect = udp:HOST:5060 (or tcp:)", s->name);
	if (tls && s->cert[0] == '\0')
		SVC_ERR("[%s]: key 'cert' missing: required with a tls: "
			"endpoint (the pair authenticates both ways)", s->name);
	if (tls && s->key[0] == '\0')
		SVC_ERR("[%s]: key 'key' missing: required with a tls: "
			"endpoint (the private key of cert)", s->name);
	if (tls && s->verify != SG_VERIFY_NONE && s->ca[0] == '\0' &&
	    s->npins == 0 && !s->pair)
		SVC_ERR("[%s]: key 'ca' missing: verify = %s needs ca (or "
			"pin-sha256, or pair = yes), or set verify = none",
			s->name, verifies[s->verify].name);
	if (!raw && inside && !inside_known(s))
		SVC_ERR("[%s]: the inside accepts on a wildcard address and "
			"nothing says which address phones reach: set "
			"sip-inside = ADDRESS", s->name);
	if (s->timer_t2 < s->timer_t1)
		SVC_ERR("[%s]: key 'timer-t2' (%u ms) is below timer-t1 (%u ms):"
			" T2 caps the retransmission interval, so T2 >= T1",
			s->name, s->timer_t2, s->timer_t1);
	if (s->pair && !has_tls_accept(s))
		SVC_ERR("[%s]: key 'pair': pairing needs a TLS listener: add "
			"accept = tls:ADDR:5061", s->name);
#undef SVC_ERR
}

/* API ------------------------------------------------------------------- */

/*
 * Load FILE and what it includes. Every problem is written to errf (if not
 * NULL) as one line; reading goes on after errors so all are reported.
 * Returns 0 with *out owning the configuration, -EINVAL after any
 * configuration error, -ENOMEM, or -errno when FILE cannot be opened.
 */
int sg_cfg_load(const char *file, FILE *errf, struct sg_cfg **out)
{
	struct ctx *c;
	struct sg_cfg *cfg;
	int rc;

	for (size_t i = 1; i < SG_ARRAY_SIZE(keywords); i++)
		assert(strcmp(keywords[i - 1].name, keywords[i].name) < 0);
	*out = NULL;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return -ENOMEM;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		free(cfg);
		return -ENOMEM;
	}
	strcpy(cfg->control, DEFAULT_CONTROL);
	strcpy(cfg->pair_dir, DEFAULT_PAIR_DIR);
	cfg->log_level = LOG_INFO;
	c->cfg = cfg;
	c->errf = errf;
	c->file = file;
	c->svc = SVC_GLOBAL;
	if ((rc = parse_file(c, file)) < 0) {
		cfg_err_at(c, file, 0, "cannot open: %s", strerror(-rc));
	} else {
		for (unsigned i = 0; i < cfg->nservices && !c->oom; i++) {
			check_service(c, &cfg->services[i]);
			if (cfg->services[i].pair)
				strcpy(cfg->services[i].pair_dir, cfg->pair_dir);
		}
		rc = c->oom ? -ENOMEM : c->nerrors > 0 ? -EINVAL : 0;
	}
	for (unsigned i = 0; i < c->nfiles; i++)
		free(c->files[i]);
	free(c->files);
	free(c->ids);
	free(c->meta);
	free(c);
	if (rc < 0) {
		sg_cfg_free(cfg);
		return rc;
	}
	cfg->refs = 1;
	for (unsigned i = 0; i < cfg->nservices; i++)
		cfg->services[i].root = cfg;
	*out = cfg;
	return 0;
}

void sg_cfg_free(struct sg_cfg *cfg)
{
	if (cfg == NULL)
		return;
	if (cfg->refs > 1) {
		cfg->refs--;	/* still held */
		return;
	}
	free(cfg->services);
	free(cfg);
}

struct sg_cfg *sg_cfg_hold(const struct sg_cfg_service *s)
{
	if (s->root)
		s->root->refs++;
	return s->root;
}

int sg_cfg_parse_endpoint(const char *s, struct sg_cfg_endpoint *ep)
{
	return parse_endpoint(s, ep) == NULL ? 0 : -EINVAL;
}

static bool prefix_match(const uint8_t *a, const uint8_t *net,
			 unsigned prefix)
{
	unsigned bytes = prefix / 8, bits = prefix % 8;
	uint8_t mask;

	if (memcmp(a, net, bytes) != 0)
		return false;
	if (bits == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - bits));
	return (a[bytes] & mask) == (net[bytes] & mask);
}

/*
 * True when addr is in one of the service's trusted networks, or when it
 * has none. An IPv4-mapped IPv6 address (::ffff:192.0.2.1, from a dual-stack
 * socket) is matched against the IPv4 networks as well.
 */
bool sg_cfg_is_trusted(const struct sg_cfg_service *svc,
		       const struct sockaddr *addr)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					    0xff, 0xff };
	uint8_t v4[4], v6[16];
	bool has4 = false, has6 = false;

	if (svc->ntrusted == 0)
		return true;
	if (addr == NULL)
		return false;
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)addr;

		memcpy(v4, &sin->sin_addr, 4);
		memcpy(v6, mapped, 12);
		memcpy(v6 + 12, v4, 4);
		has4 = has6 = true;
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)addr;

		memcpy(v6, &sin6->sin6_addr, 16);
		has6 = true;
		if (memcmp(v6, mapped, 12) == 0) {
			memcpy(v4, v6 + 12, 4);
			has4 = true;
		}
	}
	for (unsigned i = 0; i < svc->ntrusted; i++) {
		const struct sg_cfg_net *n = &svc->trusted[i];

		if (n->family == AF_INET && has4 &&
		    prefix_match(v4, n->addr, n->prefix))
			return true;
		if (n->family == AF_INET6 && has6 &&
		    prefix_match(v6, n->addr, n->prefix))
			return true;
	}
	return false;
}

/* Does the service have a TLS side (an outside)? */
bool sg_cfg_service_has_tls(const struct sg_cfg_service *s)
{
	unsigned i;

	for (i = 0; i < s->naccept; i++)
		if (s->accept[i].kind == SG_XPORT_TLS)
			return true;
	for (i = 0; i < s->nconnect; i++)
		if (s->connect[i].kind == SG_XPORT_TLS)
			return true;
	return false;
}
