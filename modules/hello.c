/*
 * hello.c - the example weir module: every document points here.
 *
 * Build it from this file and the public header alone:
 *
 *	cc -shared -fPIC -I include -o hello.so modules/hello.c
 *
 * and load it in a pool:
 *
 *	[pool hello]
 *	kind = native
 *	modules = hello
 *	hello.greeting = Hi
 *
 * What it answers (the last path segment decides, so it works under any
 * prefix the site maps to the pool):
 *	.../info	the request as the module sees it: method, target, path,
 *			query, protocol, every header, the body's length
 *	.../echo	the request body streamed back (chunked), any method
 *	anything else	"<greeting>\n" (sized; "Hello" without the setting)
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir/module.h"

#ifndef WEIR_VERSION
#define WEIR_VERSION	"0.1.0"		/* built outside weir's tree */
#endif

/* What init() works out once; read-only afterwards, so threads may share it. */
struct hello {
	char		*greeting;	/* body of the plain answer, with "\n" */
	size_t		 len;
};

/*
 * init(): read the setting and keep the answer.  Runs once on the host's
 * main thread before any request; failing here (return -1) would make the
 * host exit 78 and the pool be disabled with our log line as the reason.
 */
static int
hello_init(weir_ctx *ctx)
{
	const char *g = weir_setting(ctx, "greeting");
	struct hello *h;

	if (g == NULL)
		g = "Hello";
	if ((h = malloc(sizeof(*h))) == NULL ||
	    (h->greeting = malloc(strlen(g) + 2)) == NULL) {
		free(h);
		weir_log(ctx, WEIR_LOG_ERROR, "out of memory");
		return -1;
	}
	h->len = (size_t)sprintf(h->greeting, "%s\n", g);
	weir_set_data(ctx, h);
	weir_log(ctx, WEIR_LOG_INFO, "greeting is \"%s\" in pool %s", g,
	    weir_pool(ctx));
	return 0;
}

static void
hello_fini(weir_ctx *ctx)
{
	struct hello *h = weir_data(ctx);

	if (h != NULL) {
		free(h->greeting);
		free(h);
	}
}

/* Does the last segment of path equal seg? */
static int
last_segment_is(const char *path, const char *seg)
{
	const char *s = strrchr(path, '/');

	return s != NULL && strcmp(s + 1, seg) == 0;
}

/* Formatted output into the response (small lines only). */
static int
say(weir_req *req, const char *fmt, ...) WEIR_MODULE_PRINTF(2, 3);

static int
say(weir_req *req, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	return weir_write(req, line, (size_t)n);
}

/* .../info: everything the API tells about the request. */
static int
info(weir_ctx *ctx, weir_req *req)
{
	struct hello *h = weir_data(ctx);
	const char *name, *value, *q = weir_query(req);
	char buf[8192];
	long long body = 0;
	ssize_t n;

	/* Read the body first: its length is part of the answer. */
	while ((n = weir_read_body(req, buf, sizeof(buf))) > 0)
		body += n;
	if (n < 0)
		return WEIR_MOD_ERROR;
	weir_add_header(req, "Content-Type", "text/plain; charset=utf-8");
	if (weir_write(req, h->greeting, h->len) == -1 ||
	    say(req, "pool: %s\nmodule: %s\nmethod: %s\ntarget: %s\npath: %s\n",
	    weir_pool(ctx), weir_module_name(ctx), weir_method(req),
	    weir_target(req), weir_path(req)) == -1 ||
	    say(req, "query: %s\nprotocol: %s\nbody: %lld bytes\n",
	    q != NULL ? q : "(none)", weir_protocol(req), body) == -1)
		return WEIR_MOD_ERROR;
	for (size_t i = 0; weir_header_at(req, i, &name, &value) == 0; i++)
		if (say(req, "header: %s: %s\n", name, value) == -1)
			return WEIR_MOD_ERROR;
	return WEIR_MOD_OK;
}

/* .../echo: the body back as it arrives, chunked: nothing is buffered whole. */
static int
echo(weir_req *req)
{
	const char *type = weir_header(req, "Content-Type");
	char buf[16384];
	ssize_t n;

	weir_add_header(req, "Content-Type",
	    type != NULL ? type : "application/octet-stream");
	while ((n = weir_read_body(req, buf, sizeof(buf))) > 0)
		if (weir_write(req, buf, (size_t)n) == -1)
			return WEIR_MOD_ERROR;
	return n == 0 ? WEIR_MOD_OK : WEIR_MOD_ERROR;
}

/*
 * handle(): runs on one of the host's threads, maybe on several at once
 * (this module is thread-safe: it only reads its struct hello).
 */
static int
hello_handle(weir_ctx *ctx, weir_req *req)
{
	struct hello *h = weir_data(ctx);
	const char *path = weir_path(req);

	if (last_segment_is(path, "info"))
		return info(ctx, req);
	if (last_segment_is(path, "echo"))
		return echo(req);
	return weir_respond(req, 200, "text/plain; charset=utf-8", h->greeting,
	    h->len) == 0 ? WEIR_MOD_OK : WEIR_MOD_ERROR;
}

WEIR_MODULE("hello", WEIR_VERSION,
    .init = hello_init,
    .handle = hello_handle,
    .fini = hello_fini);
