/* SPDX-License-Identifier: MIT */
/*
 * journal.h: logging to journald with structured fields (SIPSGATE_SERVICE,
 * SIPSGATE_CALL_ID, SIPSGATE_PEER) when systemd runs the daemon.
 */
#ifndef SIPSGATE_GATEWAY_JOURNAL_H
#define SIPSGATE_GATEWAY_JOURNAL_H

#include <stdbool.h>

/* Is stderr connected to the journal (JOURNAL_STREAM names it)? */
bool sg_journal_is_stderr(void);
/* Send every log line to journald from now on. */
void sg_journal_install(void);

#endif /* SIPSGATE_GATEWAY_JOURNAL_H */
