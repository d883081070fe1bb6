/* SPDX-License-Identifier: MIT */
/*
 * service.h: the life of services: start, stop, and reload of the whole
 * configuration on SIGHUP without dropping calls or registrations.
 */
#ifndef SIPSGATE_GATEWAY_SERVICE_H
#define SIPSGATE_GATEWAY_SERVICE_H

#include <stdio.h>

#include "gw.h"

/*
 * The one validity check, after sg_cfg_load(), for `sipsgate -t`, the
 * start and a reload: TLS credentials and token key. 0, or
 * -EINVAL with every problem on errf.
 */
int sg_gw_check(const struct sg_cfg *cfg, FILE *errf);
/* The flow-token key of cfg into key (random without token-key). */
int sg_gw_token_key(const struct sg_cfg *cfg, struct sg_token_key *key,
		    FILE *errf);
/* Start one service of cfg; NULL (reasons on errf) when it cannot. */
struct sg_svc *sg_service_start(struct sg_gw *gw,
				const struct sg_cfg_service *s, FILE *errf);
/* Close its calls, transactions, connections and sockets (shutdown). */
void sg_service_close(struct sg_svc *svc);
/* sg_service_close(), then sg_gw_sweep() frees it once nothing is left. */
void sg_service_stop(struct sg_gw *gw, struct sg_svc *svc);
/* Free the stopped services nothing points at any more (once a second);
 * returns how many. */
unsigned sg_gw_sweep(struct sg_gw *gw);
/*
 * Load file again and apply it: services whose endpoints are unchanged
 * take the new settings in place (certificates, verification, media
 * policy and suites, trust...), new ones start, removed ones stop,
 * changed endpoints restart that service. A configuration that does not
 * load, or a service whose TLS set-up fails, changes nothing at all.
 * Returns 0 or a negative errno code.
 */
int sg_gw_reload(struct sg_gw *gw, const char *file);
/* Free everything once the loop has ended. */
void sg_gw_free(struct sg_gw *gw);

#endif /* SIPSGATE_GATEWAY_SERVICE_H */
