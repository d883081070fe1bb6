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
#define DEFAULT_PRIORITY SG_TLS_DEFAULT_PRIORITY
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

struct named {
	const char *name;
	int value;
};

/* How a key's value is read (struct keyword). */
enum key_type {
	K_FUNC,		/* its own setter */
	K_UINT,		/* a decimal in [min, max] into an unsigned field */
	K_BOOL,		/* yes | no into a bool field */
	K_ENUM,		/* one of names[] into an enum field */
	K_REMOVED,	/* no longer a key: valid says what to do instead */
};

/*
 * One row per key: the only place its scope, type, bounds, default and
 * meaning of "valid" live. The typed kinds write field off of the scope's
 * struct (struct sg_cfg or struct sg_cfg_service); set then, if given,
 * checks more (K_UINT) or does all the work (K_FUNC). A setter returns 0,
 * -1 (caller reports "not valid" with c->why), or -2 (the setter reported
 * the problem itself). def is the default as an operator would write it,
 * applied through the same code before a file's keys; NULL: empty/none.
 */
struct keyword {
	const char *name;
	enum key_scope scope;
	enum key_type type;
	bool repeatable;
	size_t off;
	unsigned long min, max;
	const struct named *names;
	size_t nnames;
	int (*set)(struct ctx *c, const char *v);
	const char *def;
	const char *valid;	/* K_UINT: the unit; else the whole text */
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
			      sg_xport_default_port(ep->kind));
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



/* After K_UINT: 1 s would close a connection before its first ping. */
static int check_tls_idle_timeout(struct ctx *c, const char *v)
{
	(void)v;
	return cur_svc(c)->tls_idle_timeout == 1 ? -1 : 0;
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




static int set_pair_dir(struct ctx *c, const char *v)
{
	return set_path(c, c->cfg->pair_dir, sizeof(c->cfg->pair_dir), v);
}

/* Field sizes are checked where a row names them. */
#define FIELD(type, f, want) (offsetof(type, f) + 0 * sizeof(char[ \
	sizeof(((type *)0)->f) == sizeof(want) ? 1 : -1]))
#define SF(f, want) FIELD(struct sg_cfg_service, f, want)
#define GF(f, want) FIELD(struct sg_cfg, f, want)
#define G SCOPE_GLOBAL
#define S SCOPE_SERVICE
#define FUNC(n, sc, rep, fn, d, v) \
	{ n, sc, K_FUNC, rep, 0, 0, 0, NULL, 0, fn, d, v }
#define UINT(n, f, lo, hi, d, unit) \
	{ n, S, K_UINT, false, SF(f, unsigned), lo, hi, NULL, 0, NULL, d, unit }
#define BOOL(n, f, d) \
	{ n, S, K_BOOL, false, SF(f, bool), 0, 0, NULL, 0, NULL, d, NULL }
#define ENUM(n, sc, off, t, d) \
	{ n, sc, K_ENUM, false, off, 0, 0, t, SG_ARRAY_SIZE(t), NULL, d, NULL }
#define REMOVED(n, sc, why) \
	{ n, sc, K_REMOVED, false, 0, 0, 0, NULL, 0, NULL, NULL, why }
/* Sorted by name (strcmp): looked up with bsearch(). */
static const struct keyword keywords[] = {
	FUNC("accept", S, true, set_accept, NULL, ENDPOINT_VALID),
	FUNC("ca", S, false, set_ca, NULL, "a PEM file of CA certificates"),
	FUNC("cert", S, false, set_cert, NULL,
	     "a PEM certificate (chain) file"),
	FUNC("connect", S, true, set_connect, NULL, ENDPOINT_VALID),
	FUNC("control", G, false, set_control, "/run/sipsgate/control.sock",
	     "an absolute path of a socket"),
	FUNC("crl", S, false, set_crl, NULL, "a PEM CRL file"),
	REMOVED("flow-timeout", S, "flow tokens do not expire, so the key "
		"did nothing (a time in the token would give the phone a new "
		"Contact at each re-registration, and the registrar a new "
		"binding each time); the registrar's expiry ends stale "
		"bindings. Delete the line"),
	FUNC("group", G, false, set_group, NULL, "a group name"),
	FUNC("include", G, true, set_include, NULL, "a directory or a file"),
	UINT("keepalive", keepalive, 0, 3600, "30", "seconds (0: off)"),
	FUNC("key", S, false, set_key, NULL, "a PEM private key file"),
	ENUM("log-level", G, GF(log_level, int), log_levels, "info"),
	UINT("max-transactions", max_transactions, 16, 10000000, "100000",
	     "transactions"),
	ENUM("media", S, SF(media, int), medias, "srtp"),
	FUNC("media-inside", S, false, set_media_inside, NULL,
	     "an IP address"),
	ENUM("media-latch", S, SF(media_latch, int), latches, "strict"),
	FUNC("media-outside", S, false, set_media_outside, NULL,
	     "an IP address"),
	UINT("media-timeout", media_timeout, 1, 86400, "120", "seconds"),
	FUNC("metrics", G, false, set_metrics, NULL,
	     "HOST:PORT or [ADDR]:PORT"),
	BOOL("pair", pair, "no"),
	FUNC("pair-dir", G, false, set_pair_dir, "/var/lib/sipsgate/pair",
	     "a directory"),
	FUNC("pin-sha256", S, true, set_pin, NULL,
	     "base64 of the SHA-256 of a public key (44 characters)"),
	ENUM("protocol", S, SF(protocol, int), protocols, "sip"),
	FUNC("rtp-ports", S, false, set_rtp_ports, "20000-29999",
	     "MIN-MAX, even MIN, 1024..65535, at least 4 ports"),
	FUNC("sip-inside", S, false, set_sip_inside, NULL,
	     "an address or a DNS name"),
	FUNC("sip-outside", S, false, set_sip_outside, NULL,
	     "an address or a DNS name"),
	BOOL("sips-rewrite", sips_rewrite, "no"),
	FUNC("srtp-suites", S, false, set_srtp_suites,
	     "AES_CM_128_HMAC_SHA1_80",
	     "AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32, "
	     "AEAD_AES_128_GCM, AEAD_AES_256_GCM, AES_256_CM_HMAC_SHA1_80; "
	     "space-separated"),
	UINT("timer-t1", timer_t1, 10, 60000, "500", "milliseconds"),
	UINT("timer-t2", timer_t2, 10, 60000, "4000", "milliseconds"),
	UINT("timer-t4", timer_t4, 10, 60000, "5000", "milliseconds"),
	UINT("tls-handshake-timeout", tls_handshake_timeout, 1, 300, "10",
	     "seconds"),
	{ "tls-idle-timeout", S, K_UINT, false, SF(tls_idle_timeout, unsigned),
	  0, 86400, NULL, 0, check_tls_idle_timeout, "120",
	  "0 (off) or 2..86400 seconds" },
	UINT("tls-max-handshakes", tls_max_handshakes, 1, 100000, "256",
	     "connections"),
	UINT("tls-max-handshakes-per-source", tls_max_handshakes_src, 1,
	     100000, "32", "connections"),
	FUNC("tls-priority", S, false, set_tls_priority, DEFAULT_PRIORITY,
	     "a GnuTLS priority string"),
	BOOL("tls-trace", tls_trace, "no"),
	FUNC("token-key", G, false, set_token_key, NULL, "a file name"),
	BOOL("transactions", transactions, "yes"),
	FUNC("trusted", S, true, set_trusted, NULL,
	     "comma-separated addresses or CIDRs, IPv4 or IPv6"),
	FUNC("user", G, false, set_user, NULL, "a user name"),
	ENUM("verify", S, SF(verify, int), verifies, "require"),
	FUNC("verify-name", S, false, set_verify_name, NULL,
	     "a DNS name or address"),
};
#undef G
#undef S
#undef FUNC
#undef UINT
#undef BOOL
#undef ENUM
#undef REMOVED
#undef SF
#undef GF
#undef FIELD

_Static_assert(SG_ARRAY_SIZE(keywords) <= CFG_MAX_KEYS,
	       "raise CFG_MAX_KEYS");
_Static_assert(sizeof(enum sg_proto) == sizeof(int) &&
	       sizeof(enum sg_verify) == sizeof(int) &&
	       sizeof(enum sg_media_policy) == sizeof(int) &&
	       sizeof(enum sg_latch_mode) == sizeof(int),
	       "K_ENUM fields are written as int");

static int keyword_cmp(const void *k, const void *e)
{
	return strcasecmp(k, ((const struct keyword *)e)->name);
}

static const struct keyword *keyword_find(const char *name)
{
	return bsearch(name, keywords, SG_ARRAY_SIZE(keywords),
		       sizeof(keywords[0]), keyword_cmp);
}

/* What is valid for kw, for error messages. */
static const char *key_valid(const struct keyword *kw, char *buf, size_t len)
{
	size_t off = 0;

	switch (kw->type) {
	case K_UINT:
		if (kw->set != NULL)	/* more than bounds: the whole text */
			return kw->valid;
		snprintf(buf, len, "%lu..%lu %s", kw->min, kw->max, kw->valid);
		return buf;
	case K_BOOL:
		return "yes, no";
	case K_ENUM:
		buf[0] = '\0';
		for (size_t i = 0; i < kw->nnames && off < len; i++)
			off += (size_t)snprintf(buf + off, len - off, "%s%s",
			    i ? ", " : "", kw->names[i].name);
		return buf;
	default:
		return kw->valid;
	}
}

/*
 * Parse v for kw and store it in the current scope (the file's globals or
 * the section's service): the one code path for a file's keys and for the
 * defaults. Returns as a setter does.
 */
static int key_apply(struct ctx *c, const struct keyword *kw, const char *v)
{
	char *base = kw->scope == SCOPE_GLOBAL ? (char *)c->cfg :
	    (char *)cur_svc(c);
	unsigned long x;
	int e;

	switch (kw->type) {
	case K_UINT:
		if (parse_uint(v, kw->min, kw->max, &x) < 0)
			return -1;
		*(unsigned *)(void *)(base + kw->off) = (unsigned)x;
		return kw->set ? kw->set(c, v) : 0;
	case K_BOOL:
		if (!lookup(yesno, SG_ARRAY_SIZE(yesno), v, &e))
			return -1;
		*(bool *)(void *)(base + kw->off) = e != 0;
		return 0;
	case K_ENUM:
		if (!lookup(kw->names, kw->nnames, v, &e))
			return -1;
		memcpy(base + kw->off, &e, sizeof(e));
		return 0;
	case K_REMOVED:
		cfg_err(c, "key '%s': no longer a key: %s", kw->name, kw->valid);
		return -2;
	default:
		return kw->set(c, v);
	}
}

/* Every default of a scope, before its keys (c->svc names the service). */
static void key_defaults(struct ctx *c, enum key_scope scope)
{
	for (size_t i = 0; i < SG_ARRAY_SIZE(keywords); i++) {
		int rc;

		if (keywords[i].scope != scope || keywords[i].def == NULL)
			continue;
		rc = key_apply(c, &keywords[i], keywords[i].def);
		assert(rc == 0);	/* a default the table refuses: a bug */
		(void)rc;
	}
}

const char *sg_cfg_key_default(const char *name)
{
	const struct keyword *kw = keyword_find(name);

	return kw ? kw->def : NULL;
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
	char vbuf[256];
	int rc;

	(void)section;	/* sections are tracked by the reader, see below */
	kw = keyword_find(name);
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
	if (*value == '\0' && kw->type != K_REMOVED) {
		cfg_err(c, "key '%s': the value is empty (valid: %s)",
			kw->name, key_valid(kw, vbuf, sizeof(vbuf)));
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
	if ((rc = key_apply(c, kw, value)) == -1)
		cfg_err(c, "key '%s': '%s' is not valid%s (valid: %s)",
			kw->name, value, c->why, key_valid(kw, vbuf, sizeof(vbuf)));
	return 1;
}

/* A new service (c->svc set to it): zero, then the table's defaults. */
static void svc_defaults(struct ctx *c, struct sg_cfg_service *s)
{
	memset(s, 0, sizeof(*s));
	key_defaults(c, SCOPE_SERVICE);
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
	svc_defaults(c, &c->scratch);
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
	c->svc = (int)cfg->nservices++;
	svc_defaults(c, s);
	strcpy(s->name, name);
	snprintf(s->file, sizeof(s->file), "%s", c->file);
	s->line = c->line;
	memset(&c->meta[c->svc], 0, sizeof(c->meta[0]));
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
 * an inside connect to route toward (xport.c; the one place this is decided).
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

/*
 * The host the daemon will write into SIP on a side (xport.c): sip-inside
 * or sip-outside, else the first accept of that side on a specific
 * address; NULL when it comes from the side's connect (the local address
 * toward it, or once its name is resolved) or from nowhere.
 */
static const char *sip_host(const struct sg_cfg_service *s, bool outside)
{
	const char *set = outside ? s->sip_outside : s->sip_inside;

	if (set[0] != '\0')
		return set;
	for (unsigned i = 0; i < s->naccept; i++)
		if ((s->accept[i].kind == SG_XPORT_TLS) == outside &&
		    !is_wildcard_host(s->accept[i].host))
			return s->accept[i].host;
	return NULL;
}

static bool has_connect(const struct sg_cfg_service *s, bool outside)
{
	for (unsigned i = 0; i < s->nconnect; i++)
		if ((s->connect[i].kind == SG_XPORT_TLS) == outside)
			return true;
	return false;
}

/*
 * Media on a side binds to, and SDP names, an address: media-inside or
 * media-outside, else the side's SIP host when it is an IP address, else
 * the local address toward (or the resolved address of) its connect.
 */
static bool media_addr_known(const struct sg_cfg_service *s, bool outside)
{
	const char *host = sip_host(s, outside);

	if ((outside ? s->media_outside : s->media_inside)[0] != '\0')
		return true;
	return host != NULL ? is_ip_literal(host) : has_connect(s, outside);
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
	for (int out = 0; out < 2 && !raw && inside && tls; out++)
		if ((out || inside_known(s)) && !media_addr_known(s, out))
			SVC_ERR("[%s]: media on the %s needs an address: set "
				"media-%s = ADDRESS (%s)", s->name,
				out ? "outside" : "inside",
				out ? "outside" : "inside", sip_host(s, out) ?
				"the SIP host is a name" : "no specific accept "
				"address and no connect on that side");
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
	c->cfg = cfg;
	c->errf = errf;
	c->file = file;
	c->svc = SVC_GLOBAL;
	key_defaults(c, SCOPE_GLOBAL);
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
