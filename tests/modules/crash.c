/*
 * crash.c - test module: GET .../crash kills the host with SIGSEGV, the way
 * a buggy module would.  Everything else is declined (so hello, listed
 * after it, answers).  The handler logs a line first, so tests can find it
 * among "the worker's last stderr lines" of the crash event.
 *
 * With the setting crash.once = FILE it crashes only while FILE does not
 * exist (creating it first), so a retried request succeeds on the next
 * worker: "crashed once" answers 200.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "weir/module.h"

static int
crash_handle(weir_ctx *ctx, weir_req *req)
{
	const char *p = strrchr(weir_path(req), '/');

	const char *once = weir_setting(ctx, "once");

	if (p == NULL || strcmp(p, "/crash") != 0)
		return WEIR_MOD_DECLINED;
	if (once != NULL) {
		int fd = open(once, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

		if (fd == -1)
			return weir_respond(req, 200, "text/plain", "crashed once\n", 13) == 0 ?
			    WEIR_MOD_OK : WEIR_MOD_ERROR;
		close(fd);
	}
	weir_log(ctx, WEIR_LOG_ERROR, "about to crash on %s", weir_path(req));
	/* A real segfault, even under a sanitizer that would catch it. */
	signal(SIGSEGV, SIG_DFL);
	raise(SIGSEGV);
	return WEIR_MOD_ERROR;
}

WEIR_MODULE("crash", "0.0.1", .handle = crash_handle);
