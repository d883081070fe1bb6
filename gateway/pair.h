/* SPDX-License-Identifier: MIT */
/*
 * pair.h: `sipsgate pair` (docs/pairing.md). A server gateway with
 * `pair = yes` hands out one-time codes (`pair offer`, through the control
 * socket); a client gateway joins with one (`pair join`): a TLS-PSK session
 * (ECDHE-PSK, the code's key) on the server's own TLS listener carries the
 * client's CSR to the server's pairing CA and the signed certificate, the
 * CA and the server's pin back. `pair revoke` puts a certificate on the
 * pairing CA's CRL and drops the live link of that peer.
 */
#ifndef SIPSGATE_GATEWAY_PAIR_H
#define SIPSGATE_GATEWAY_PAIR_H

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <sys/types.h>

#include "cfg.h"
#include "gw.h"

/* Daemon side -------------------------------------------------------- */

/*
 * Once at start, before services accept. reload is what a revocation runs
 * (main.c: the SIGHUP reload, which checks the live links afterwards).
 */
void sg_pair_init(struct sg_gw *gw, int (*reload)(void));
/*
 * A TLS server session is being set up on c: while codes are pending for
 * its service, the session also takes TLS-PSK (ECDHE-PSK/DHE-PSK only).
 */
int sg_pair_session_prepare(struct sg_conn *c);
/* After its handshake: is c a pairing session (never SIP)? */
bool sg_pair_conn_is_pairing(const struct sg_conn *c);
/* c's pairing handshake is done: it now speaks the pairing exchange. */
void sg_pair_conn_ready(struct sg_conn *c);
/* Plaintext arrived in c->in of a pairing connection. */
void sg_pair_conn_data(struct sg_conn *c);
/* c is being freed: release its pairing state (counts a failed try). */
void sg_pair_conn_free(struct sg_conn *c);
/* Once a second: expire codes, close pairing connections that linger. */
void sg_pair_tick(struct sg_gw *gw);
/* The pairing counters of a service with pair = yes. */
void sg_pair_counters(struct sg_svc *svc, sg_counter_fn fn, void *arg);
/*
 * A control socket line ("pair-offer ...", "pair-revoke NAME",
 * "pair-list"): the answer goes to out. privileged: the client is root or
 * the daemon's user. Returns -ENOENT when line is no pairing command.
 */
int sg_pair_ctl(struct sg_gw *gw, const char *line, bool privileged,
		FILE *out);
/*
 * A service's TLS context (sg_tls_ctx_new) with, for pair = yes, the
 * pairing CA and its CRL among its trusted certificates: what every
 * caller uses, so that tls.c knows nothing of pairing.
 */
int sg_pair_tls_ctx_new(const struct sg_cfg_service *cfg, FILE *errf,
			struct sg_tls_ctx **out);
/* Add the pairing CA and its CRL to a service's credentials. */
int sg_pair_tls_setup(const struct sg_cfg_service *cfg,
		      gnutls_certificate_credentials_t cred, FILE *errf);
/*
 * Check every live TLS link against the CRLs in force (the service's crl
 * and its pairing CRL) and close those whose peer is revoked. Called after
 * a reload and a revocation.
 */
void sg_pair_recheck(struct sg_gw *gw);

/* The pairing CA (pair.c), shared by the daemon and the command line. -- */

/* Load dir/ca.{crt,key}, creating them (and an empty CRL) if missing. */
int sg_pair_ca_open(const char *dir, bool create, gnutls_x509_crt_t *crt,
		    gnutls_x509_privkey_t *key, FILE *errf);
/* Revoke dir/peers/NAME.crt: new CRL, the record renamed. */
int sg_pair_ca_revoke(const char *dir, const char *name, FILE *errf);
/*
 * The length of the whole pairing request at p, 0 while incomplete,
 * -EBADMSG if it is none.
 */
ssize_t sg_pair_request_len(const char *p, size_t len);
/*
 * Answer a pairing request (req, len) for the code id on service cfg:
 * sign its CSR with the pairing CA for offer_name (or the proposed name)
 * and make the answer, or an error answer. *out (malloc'd, *olen bytes) is
 * what to send; name gets the name granted; problems go to errf. Returns
 * the status (200 when a certificate was issued) or -ENOMEM.
 */
int sg_pair_answer(const struct sg_cfg_service *cfg, const char *id,
		   const char *offer_name, const char *req, size_t len,
		   char **out, size_t *olen, char *name, size_t namelen,
		   FILE *errf);
/* Write data to path atomically (temporary file, rename) with mode. */
int sg_pair_write_file(const char *path, const void *data, size_t len,
		       mode_t mode);

/* Command line (pair_cli.c) ------------------------------------------ */

/* `sipsgate [-c FILE] pair offer|join|revoke|list ...`: exit status. */
int sg_pair_main(const char *config_file, int argc, char **argv);

#endif /* SIPSGATE_GATEWAY_PAIR_H */
