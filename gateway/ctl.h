/* SPDX-License-Identifier: MIT */
/*
 * ctl.h: the local control socket. `sipsgate status` connects to it and
 * prints what it answers: per-service counters and the live connections.
 */
#ifndef SIPSGATE_GATEWAY_CTL_H
#define SIPSGATE_GATEWAY_CTL_H

#include <stdio.h>

#include "gw.h"

int sg_ctl_start(struct sg_gw *gw, const char *path);
void sg_ctl_stop(void);
/* Visit every counter of one service. */
void sg_svc_counters(struct sg_svc *svc, sg_counter_fn fn, void *arg);
/* Write the status report of every service to f. */
void sg_ctl_status(struct sg_gw *gw, FILE *f);
/* What the "reload" command runs (main.c: the SIGHUP reload). */
void sg_ctl_set_reload(int (*fn)(void));
/* Client side: ask the daemon at path and copy its answer to stdout. */
int sg_ctl_query(const char *path, const char *cmd);

#endif /* SIPSGATE_GATEWAY_CTL_H */
