/*
 * slow.c - test module: GET .../slow?ms=N sleeps N milliseconds (default
 * slow.ms, else 100), then answers "slept N ms\n".  Built twice: as "slow"
 * (thread-safe: requests sleep in parallel on the host's threads) and, with
 * -DSLOW_SERIAL, as "serial", flagged WEIR_MODULE_NOT_THREAD_SAFE (the host
 * runs its requests one at a time).  Everything else is declined.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weir/module.h"

#ifdef SLOW_SERIAL
#define NAME	"serial"
#define FLAGS	WEIR_MODULE_NOT_THREAD_SAFE
#define SEG	"/serial"
#else
#define NAME	"slow"
#define FLAGS	0
#define SEG	"/slow"
#endif

static int
slow_handle(weir_ctx *ctx, weir_req *req)
{
	const char *p = strrchr(weir_path(req), '/'), *q = weir_query(req);
	const char *def = weir_setting(ctx, "ms");
	long ms = def != NULL ? atol(def) : 100;
	struct timespec ts;
	char body[64];
	int n;

	if (p == NULL || strcmp(p, SEG) != 0)
		return WEIR_MOD_DECLINED;
	if (q != NULL && strncmp(q, "ms=", 3) == 0)
		ms = atol(q + 3);
	weir_log(ctx, WEIR_LOG_INFO, "sleeping %ld ms", ms);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1)
		;
	n = snprintf(body, sizeof(body), "slept %ld ms\n", ms);
	return weir_respond(req, 200, "text/plain", body, (size_t)n) == 0 ?
	    WEIR_MOD_OK : WEIR_MOD_ERROR;
}

WEIR_MODULE(NAME, "0.0.1", .flags = FLAGS, .handle = slow_handle);
