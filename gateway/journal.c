/* SPDX-License-Identifier: MIT */
/*
 * journal.c: the journald log sink. systemd sets JOURNAL_STREAM to the
 * device and inode of the stream it connected stderr to; when they match,
 * lines go to sd_journal_send() with their priority and the context
 * fields, so `journalctl SIPSGATE_SERVICE=phones` or
 * `journalctl SIPSGATE_CALL_ID=...` find them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "journal.h"
#include "log.h"
#include "xport.h"

bool sg_journal_is_stderr(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(2, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

static void journal_sink(int prio, const char *msg, const struct log_ctx *ctx)
{
	char f[5][600];
	struct iovec iov[6];
	int n = 0;

	snprintf(f[n], sizeof(f[n]), "MESSAGE=%s", msg);
	n++;
	snprintf(f[n], sizeof(f[n]), "PRIORITY=%d", prio);
	n++;
	if (ctx->service) {
		snprintf(f[n], sizeof(f[n]), "SIPSGATE_SERVICE=%s", ctx->service);
		n++;
	}
	if (ctx->call_id) {
		snprintf(f[n], sizeof(f[n]), "SIPSGATE_CALL_ID=%s", ctx->call_id);
		n++;
	}
	if (ctx->peer) {
		char a[64];

		snprintf(f[n], sizeof(f[n]), "SIPSGATE_PEER=%s",
		    sg_addr_str(ctx->peer, a, sizeof(a)));
		n++;
	}
	for (int i = 0; i < n; i++) {
		iov[i].iov_base = f[i];
		iov[i].iov_len = strlen(f[i]);
	}
	iov[n].iov_base = (char *)"SYSLOG_IDENTIFIER=sipsgate";
	iov[n].iov_len = strlen("SYSLOG_IDENTIFIER=sipsgate");
	sd_journal_sendv(iov, n + 1);
}

void sg_journal_install(void)
{
	log_set_sink(journal_sink);
}
