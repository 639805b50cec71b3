/*
 * marker.c - test module that leaves traces of having run: its ELF
 * constructor writes $WEIR_MARKER.ctor, its init() writes the file named by
 * marker.file.  Built against a module.h with the ABI bumped, weir-host must
 * refuse it before either happens.  Its handler answers .../marker.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weir/module.h"

static void
touch(const char *path, const char *suffix)
{
	char p[4096];
	int fd;

	if (strlen(path) + strlen(suffix) >= sizeof(p))
		return;
	strcpy(p, path);
	strcat(p, suffix);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) != -1)
		close(fd);
}

__attribute__((constructor)) static void
marker_ctor(void)
{
	const char *m = getenv("WEIR_MARKER");

	if (m != NULL)
		touch(m, ".ctor");
}

static int
marker_init(weir_ctx *ctx)
{
	const char *f = weir_setting(ctx, "file");

	if (f != NULL)
		touch(f, "");
	return 0;
}

static int
marker_handle(weir_ctx *ctx, weir_req *req)
{
	const char *p = strrchr(weir_path(req), '/');

	(void)ctx;
	if (p == NULL || strcmp(p, "/marker") != 0)
		return WEIR_MOD_DECLINED;
	return weir_respond(req, 200, "text/plain", "marker\n", 7) == 0 ?
	    WEIR_MOD_OK : WEIR_MOD_ERROR;
}

WEIR_MODULE("marker", "0.0.1", .init = marker_init, .handle = marker_handle);
