/* SPDX-License-Identifier: MIT */
/*
 * main.c: command line, configuration check (-t), start-up of every
 * service, privilege drop after binding, signals, and the main loop.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "cfg.h"
#include "ctl.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "pair.h"
#include "session.h"
#include "service.h"
#include "sip_proxy.h"
#include "tls.h"
#include "xport.h"

#define DEFAULT_CONFIG "/etc/sipsgate/sipsgate.conf"

static struct sg_gw gw;
static const char *config_file = DEFAULT_CONFIG;
static uv_signal_t sig_int, sig_term, sig_hup;

static void usage(void)
{
	fprintf(stderr,
	    "usage: sipsgate [-c FILE] [-t] [-v]     run, or check (-t) FILE\n"
	    "       sipsgate [-c FILE] [-s SOCKET] status\n"
	    "       sipsgate [-c FILE] pair offer|join|revoke|list ...  (see"
	    " sipsgate pair help)\n"
	    "  -c FILE   configuration (default " DEFAULT_CONFIG ")\n"
	    "  -t        check the configuration and certificates, then exit\n"
	    "  -v        log at debug level\n"
	    "  -S        log to syslog (default: stderr, or journald under"
	    " systemd)\n"
	    "  -s SOCKET control socket for status (default: from FILE)\n");
	exit(2);
}

/*
 * Four sockets per media stream: raise the soft limit on open files to
 * the hard one (1024 would stop at about 250 calls). Under systemd the
 * unit sets LimitNOFILE= and forbids setrlimit; that is fine too.
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * Keep a quarter of the file descriptors (at least 64) out of reach of
 * the TLS listeners: an accepted TLS connection that lands at or above
 * the watermark is closed at once (xport.c), so inside SIP, media relays
 * and the control socket still find descriptors during a flood.
 */
static void reserve_fds(void)
{
	struct rlimit rl;
	rlim_t reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > INT32_MAX)
		return;
	reserve = rl.rlim_cur / 4 < 64 ? 64 : rl.rlim_cur / 4;
	if (reserve > rl.rlim_cur / 2)
		reserve = rl.rlim_cur / 2;
	gw.fd_watermark = (int)(rl.rlim_cur - reserve);
	log_info("file descriptors: %llu; TLS connections accepted on the"
	    " outside use only those below %d", (unsigned long long)
	    rl.rlim_cur, gw.fd_watermark);
}

static void on_tick(uv_timer_t *t)
{
	uint64_t now = uv_now(t->loop);
	unsigned i;

	for (i = 0; i < gw.nsvc; i++) {
		sg_xport_tick(gw.svc[i], now);
		if (gw.svc[i]->sess)
			sg_session_tick(gw.svc[i]->sess, now);
	}
	sg_gw_sweep(&gw);	/* stopped services nothing points at */
	sg_pair_tick(&gw);
	sd_notify(0, "WATCHDOG=1");
}

/*
 * SIGHUP and the control socket's "reload": the configuration again, then
 * every live TLS link checked against the CRLs now in force.
 */
static int do_reload(void)
{
	int rc;

	sd_notify(0, "RELOADING=1");
	rc = sg_gw_reload(&gw, config_file);
	sg_pair_recheck(&gw);
	sd_notify(0, "READY=1");
	return rc;
}

static void on_flush(uv_check_t *h)
{
	(void)h;
	sg_xport_flush(&gw);
}

static void on_signal(uv_signal_t *h, int signum)
{
	unsigned i;

	if (signum == SIGHUP) {
		do_reload();
		return;
	}
	log_info("signal %d: shutting down", signum);
	sd_notify(0, "STOPPING=1");
	for (i = 0; i < gw.nsvc; i++)
		sg_service_close(gw.svc[i]);
	sg_ctl_stop();
	sg_metrics_stop();
	sg_resolver_free(gw.resolver);
	gw.resolver = NULL;
	sg_xport_flush(&gw);
	gw.flush_ready = false;
	uv_check_stop(&gw.flush);
	uv_close((uv_handle_t *)&gw.flush, NULL);
	uv_timer_stop(&gw.tick);
	uv_close((uv_handle_t *)&gw.tick, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)h == (uv_handle_t *)&sig_hup ? NULL :
	    (uv_handle_t *)&sig_hup, NULL);
}

static void drop_privileges(const struct sg_cfg *cfg)
{
	struct passwd *pw = NULL;
	struct group *gr = NULL;

	if (getuid() != 0 || cfg->user[0] == '\0')
		return;
	if ((pw = getpwnam(cfg->user)) == NULL)
		fatalx("user '%s' does not exist (create it, or remove 'user'"
		    " from the configuration)", cfg->user);
	if (cfg->group[0] && (gr = getgrnam(cfg->group)) == NULL)
		fatalx("group '%s' does not exist", cfg->group);
	if (setgroups(0, NULL) < 0 ||
	    setgid(gr ? gr->gr_gid : pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0)
		fatal("cannot drop privileges to %s", cfg->user);
	log_info("running as user %s", cfg->user);
}

int main(int argc, char **argv)
{
	const char *file = DEFAULT_CONFIG, *sock = NULL;
	bool check = false, debug = false, to_syslog = false;
	struct sg_cfg *cfg;
	unsigned i;
	int ch, rc;

	/* '+': options end at the command (pair has options of its own). */
	while ((ch = getopt(argc, argv, "+c:s:tvSh")) != -1) {
		switch (ch) {
		case 'c': file = config_file = optarg; break;
		case 's': sock = optarg; break;
		case 't': check = true; break;
		case 'v': debug = true; break;
		case 'S': to_syslog = true; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc >= 1 && strcmp(argv[0], "pair") == 0)
		return sg_pair_main(file, argc - 1, argv + 1);
	if (argc > 1 || (argc == 1 && strcmp(argv[0], "status") != 0))
		usage();
	if (argc == 1 && sock == NULL) {
		if (sg_cfg_load(file, stderr, &cfg) < 0)
			return 1;
		rc = sg_ctl_query(cfg->control, "status");
		sg_cfg_free(cfg);
		return rc < 0 ? 1 : 0;
	}
	if (argc == 1)
		return sg_ctl_query(sock, "status") < 0 ? 1 : 0;

	/* The same check for -t and for the start (service.c). */
	if (sg_cfg_load(file, stderr, &cfg) < 0 ||
	    sg_gw_check(cfg, stderr) < 0) {
		fprintf(stderr, "%s: configuration has errors\n", file);
		if (cfg)
			sg_cfg_free(cfg);
		return 1;
	}
	if (check) {
		printf("%s: configuration OK (%u service%s)\n", file,
		    cfg->nservices, cfg->nservices == 1 ? "" : "s");
		sg_cfg_free(cfg);
		return 0;
	}
	raise_nofile();
	log_init(debug ? LOG_DEBUG : cfg->log_level, !to_syslog);
	if (!to_syslog && sg_journal_is_stderr())
		sg_journal_install();	/* run by systemd */
	signal(SIGPIPE, SIG_IGN);
	reserve_fds();
	gw.loop = uv_default_loop();
	gw.cfg = cfg;
	if (cfg->token_key[0] == '\0')
		log_info("no token-key: flow tokens last until the next start;"
		    " phones must register again after a restart (set"
		    " token-key = FILE to keep them)");
	if (sg_gw_token_key(cfg, &gw.token_key, stderr) < 0)
		fatalx("cannot set up the flow-token key");
	if (sg_resolver_new(gw.loop, NULL, &gw.resolver) < 0)
		fatalx("cannot set up the DNS resolver (c-ares)");
	if ((gw.svc = calloc(cfg->nservices + 1, sizeof(*gw.svc))) == NULL)
		fatal("calloc");
	sg_pair_init(&gw, do_reload);
	for (i = 0; i < cfg->nservices; i++) {
		struct sg_svc *svc = sg_service_start(&gw, &cfg->services[i],
		    stderr);

		if (svc == NULL)
			fatalx("%s: cannot start (see above)",
			    cfg->services[i].name);
		gw.svc[gw.nsvc++] = svc;
	}
	sg_ctl_set_reload(do_reload);
	if (cfg->control[0] && sg_ctl_start(&gw, cfg->control) < 0)
		log_warnx("no control socket: 'sipsgate status' will not work");
	gw.started_ms = uv_now(gw.loop);
	if (cfg->metrics[0] && sg_metrics_start(&gw, cfg->metrics) < 0)
		fatalx("cannot listen for metrics on %s", cfg->metrics);
	drop_privileges(cfg);
	uv_check_init(gw.loop, &gw.flush);
	uv_check_start(&gw.flush, on_flush);
	gw.flush_ready = true;
	uv_timer_init(gw.loop, &gw.tick);
	uv_timer_start(&gw.tick, on_tick, 0, 1000);
	uv_signal_init(gw.loop, &sig_int);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_signal_init(gw.loop, &sig_term);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_init(gw.loop, &sig_hup);
	uv_signal_start(&sig_hup, on_signal, SIGHUP);
	log_info("sipsgate %s ready: %u service%s", "0.1.0", gw.nsvc,
	    gw.nsvc == 1 ? "" : "s");
	sd_notify(0, "READY=1");
	uv_run(gw.loop, UV_RUN_DEFAULT);
	uv_loop_close(gw.loop);
	sg_gw_free(&gw);
	return 0;
}
