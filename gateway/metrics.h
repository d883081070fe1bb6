/* SPDX-License-Identifier: MIT */
/*
 * metrics.h: the optional Prometheus listener (`metrics = HOST:PORT`):
 * GET /metrics answers the counters of every service in the text
 * exposition format, version 0.0.4.
 */
#ifndef SIPSGATE_GATEWAY_METRICS_H
#define SIPSGATE_GATEWAY_METRICS_H

#include <stdio.h>

#include "gw.h"

int sg_metrics_start(struct sg_gw *gw, const char *hostport);
void sg_metrics_stop(void);
/* Write the exposition of every service to f. */
void sg_metrics_write(struct sg_gw *gw, FILE *f);

#endif /* SIPSGATE_GATEWAY_METRICS_H */
