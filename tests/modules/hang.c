/*
 * hang.c - test module: GET .../hang never returns (a handler stuck on a
 * lock or a dead backend).  Everything else is declined.
 */
#include <string.h>
#include <unistd.h>

#include "weir/module.h"

static int
hang_handle(weir_ctx *ctx, weir_req *req)
{
	const char *p = strrchr(weir_path(req), '/');

	if (p == NULL || strcmp(p, "/hang") != 0)
		return WEIR_MOD_DECLINED;
	weir_log(ctx, WEIR_LOG_WARN, "hanging on %s", weir_path(req));
	for (;;)
		pause();
	return WEIR_MOD_ERROR;
}

WEIR_MODULE("hang", "0.0.1", .handle = hang_handle);
