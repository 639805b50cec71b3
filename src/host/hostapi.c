/*
 * hostapi.c - the module API (include/weir/module.h) as weir-host implements
 * it: settings and logging for a module, the request and its streamed body,
 * the response and its framing.
 *
 * Everything about one request lives in the connection's arena and is
 * freed after handle() returns.  These functions run on the handler thread
 * that owns the request, except the weir_ctx ones, which only read data
 * that does not change after init().  Framing is the host's: modules never
 * see chunk sizes or write Transfer-Encoding.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "host.h"

/* --- the module's context ---------------------------------------------------- */

const char *
weir_setting(const weir_ctx *ctx, const char *key)
{
	for (size_t i = ctx->nsettings; i-- > 0;)
		if (strcmp(ctx->settings[i].key, key) == 0)
			return ctx->settings[i].value;
	return NULL;
}

const char *
weir_module_name(const weir_ctx *ctx)
{
	return ctx->name;
}

const char *
weir_pool(const weir_ctx *ctx)
{
	return ctx->h->pool;
}

void
weir_set_data(weir_ctx *ctx, void *data)
{
	ctx->data = data;
}

void *
weir_data(const weir_ctx *ctx)
{
	return ctx->data;
}

void
weir_log(const weir_ctx *ctx, int level, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n;
	int r;

	if (level < WEIR_LOG_ERROR || level > WEIR_LOG_DEBUG)
		level = WEIR_LOG_INFO;
	if (level == WEIR_LOG_DEBUG && getenv("WEIR_DEBUG") == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ weir-host[%ld]: %s: %s: ",
	    ts.tv_nsec / 1000000, (long)getpid(), ctx->name, names[level]);
	if (r > 0)
		n = WEIR_MIN(n + (size_t)r, sizeof(line) - 2);
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* During init() (one thread), keep an error for the exit-78 reason. */
	if (ctx->in_init && level == WEIR_LOG_ERROR) {
		struct weir_ctx *m = (struct weir_ctx *)(uintptr_t)ctx;

		wstrlcpy(m->init_err, line + n, sizeof(m->init_err));
		m->init_err[strcspn(m->init_err, "\n")] = '\0';
	}
	if (r > 0)
		n = WEIR_MIN(n + (size_t)r, sizeof(line) - 2);
	while (n > 0 && line[n - 1] == '\n')
		n--;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

/* --- the request -------------------------------------------------------------- */

static const char *
dup_hstr(struct arena *a, struct hstr s)
{
	return s.p == NULL ? NULL : arena_strndup(a, s.p, s.n);
}

/*
 * Make the weir_req for the head in c->req: copy every string (the buffer
 * is reused for the body) and work out the body's framing.  -1 when out of
 * memory.
 */
int
hostapi_begin(struct hconn *c, struct weir_req **rp)
{
	const struct http_request *q = &c->req;
	struct arena *a = &c->arena;
	struct weir_req *r;

	if ((r = arena_calloc(a, sizeof(*r))) == NULL)
		return -1;
	r->c = c;
	r->method = dup_hstr(a, q->method_str);
	r->target = dup_hstr(a, q->target);
	r->path = dup_hstr(a, q->path);
	r->query = dup_hstr(a, q->query);
	r->protocol = q->minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
	r->nheaders = q->nheaders;
	r->hname = arena_alloc(a, (q->nheaders + 1) * sizeof(char *));
	r->hval = arena_alloc(a, (q->nheaders + 1) * sizeof(char *));
	if (r->method == NULL || r->target == NULL || r->path == NULL ||
	    (q->query.p != NULL && r->query == NULL) || r->hname == NULL ||
	    r->hval == NULL)
		return -1;
	for (size_t i = 0; i < q->nheaders; i++) {
		r->hname[i] = dup_hstr(a, q->headers[i].name);
		r->hval[i] = q->headers[i].value.n == 0 ? "" :
		    dup_hstr(a, q->headers[i].value);
		if (r->hname[i] == NULL || r->hval[i] == NULL)
			return -1;
	}
	r->head_method = q->method == HTTP_M_HEAD;
	if (q->flags & HTTP_F_CHUNKED) {
		r->body = BODY_CHUNKED;
		r->content_length = -1;
		httpparse_chunked_init(&r->dec);
	} else if ((q->flags & HTTP_F_HAS_CL) && q->content_length > 0) {
		r->body = BODY_LENGTH;
		r->content_length = q->content_length;
		r->left = (uint64_t)q->content_length;
	} else {
		r->body = BODY_NONE;
		r->body_done = true;
	}
	r->expect_100 = (q->flags & HTTP_F_EXPECT_100) != 0 && r->body != BODY_NONE;
	r->status = 200;
	c->close = !(q->flags & HTTP_F_KEEPALIVE);
	*rp = r;
	return 0;
}

const char *
weir_method(const weir_req *req)
{
	return req->method;
}

const char *
weir_target(const weir_req *req)
{
	return req->target;
}

const char *
weir_path(const weir_req *req)
{
	return req->path;
}

const char *
weir_query(const weir_req *req)
{
	return req->query;
}

const char *
weir_protocol(const weir_req *req)
{
	return req->protocol;
}

static bool
name_eq(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && ascii_casecmp_n(a, b, n);
}

const char *
weir_header(const weir_req *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (name_eq(req->hname[i], name))
			return req->hval[i];
	return NULL;
}

size_t
weir_header_count(const weir_req *req)
{
	return req->nheaders;
}

int
weir_header_at(const weir_req *req, size_t i, const char **name,
    const char **value)
{
	if (i >= req->nheaders)
		return -1;
	*name = req->hname[i];
	*value = req->hval[i];
	return 0;
}

int64_t
weir_content_length(const weir_req *req)
{
	return req->content_length;
}

void *
weir_alloc(weir_req *req, size_t n)
{
	return arena_alloc(&req->c->arena, n);
}

/* All input consumed: start the buffer over (the head was copied). */
static int
refill(struct weir_req *r)
{
	struct hconn *c = r->c;

	c->rd = c->len = 0;
	r->dpos = r->dend = 0;
	if (hostconn_fill(c) <= 0) {
		r->body_failed = true;
		c->close = true;
		return -1;
	}
	return 0;
}

ssize_t
weir_read_body(weir_req *r, void *buf, size_t n)
{
	struct hconn *c = r->c;

	if (r->body_failed)
		return -1;
	if (n == 0)
		return 0;
	/* 1. the front end may wait for 100 Continue before sending the body */
	if (r->expect_100) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		r->expect_100 = false;
		if (!r->head_sent && hostconn_send(c, cont, sizeof(cont) - 1) == -1) {
			r->body_failed = r->failed = true;
			return -1;
		}
	}
	if (r->body == BODY_LENGTH) {
		size_t take;

		if (r->left == 0)
			return 0;
		if (c->rd == c->len && refill(r) == -1)
			return -1;
		take = WEIR_MIN(n, c->len - c->rd);
		take = (size_t)WEIR_MIN((uint64_t)take, r->left);
		memcpy(buf, c->buf + c->rd, take);
		c->rd += take;
		if ((r->left -= take) == 0)
			r->body_done = true;
		return (ssize_t)take;
	}
	if (r->body != BODY_CHUNKED)
		return 0;
	/* 2. chunked: decoded bytes are kept in place at buf[dpos..dend) */
	for (;;) {
		size_t out = 0, used = 0;
		const char *why = NULL;
		int rc;

		if (r->dpos < r->dend) {
			size_t take = WEIR_MIN(n, r->dend - r->dpos);

			memcpy(buf, c->buf + r->dpos, take);
			r->dpos += take;
			return (ssize_t)take;
		}
		if (r->body_done)
			return 0;
		if (c->rd == c->len && refill(r) == -1)
			return -1;
		rc = httpparse_chunked(&r->dec, c->buf + c->rd, c->len - c->rd,
		    &out, &used, &why);
		if (rc == WEIR_ERROR) {
			log_warnx("pool %s: malformed chunked body from the front end: %s",
			    c->h->pool, why);
			r->body_failed = true;
			c->close = true;
			return -1;
		}
		r->dpos = c->rd;
		r->dend = c->rd + out;
		c->rd += used;
		if (rc == 1)
			r->body_done = true;
	}
}

/* After handle(): discard an unread body so the connection can be reused. */
void
hostapi_drain(struct weir_req *r)
{
	char sink[8192];
	size_t total = 0;

	if (r->c->close || r->body_done)
		return;
	/* Nobody will read it: do not ask the front end for it. */
	if (r->expect_100) {
		r->c->close = true;
		return;
	}
	while (!r->body_done) {
		ssize_t n = weir_read_body(r, sink, sizeof(sink));

		if (n < 0 || (total += (size_t)n) > HOST_DRAIN_MAX) {
			r->c->close = true;
			return;
		}
	}
}

/* --- the response ------------------------------------------------------------- */

static void
out(struct weir_req *r, const void *p, size_t n)
{
	struct hconn *c = r->c;

	if (r->failed)
		return;
	if (c->olen + n > sizeof(c->obuf) && hostconn_flush(c) == -1) {
		r->failed = true;
		return;
	}
	if (n > sizeof(c->obuf)) {
		if (hostconn_send(c, p, n) == -1)
			r->failed = true;
		return;
	}
	memcpy(c->obuf + c->olen, p, n);
	c->olen += n;
}

static void
outs(struct weir_req *r, const char *s)
{
	out(r, s, strlen(s));
}

int
weir_set_status(weir_req *r, int status)
{
	if (r->head_sent || status < 200 || status > 599)
		return -1;
	r->status = status;
	return 0;
}

int
weir_set_content_length(weir_req *r, uint64_t n)
{
	if (r->head_sent)
		return -1;
	r->sized = true;
	r->out_len = n;
	return 0;
}

static bool
is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s) != NULL))
			return false;
	return true;
}

int
weir_add_header(weir_req *r, const char *name, const char *value)
{
	static const char *const hop[] = {
		"Connection", "Keep-Alive", "Transfer-Encoding", "TE", "Trailer",
		"Upgrade", "Proxy-Connection",
	};
	struct arena *a = &r->c->arena;

	if (r->head_sent || name == NULL || value == NULL || !is_token(name))
		return -1;
	for (const char *v = value; *v != '\0'; v++)
		if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
			return -1;
	for (size_t i = 0; i < nitems(hop); i++)
		if (name_eq(name, hop[i]))
			return -1;
	if (name_eq(name, "Content-Length")) {
		char *end;
		unsigned long long n;

		if (*value < '0' || *value > '9')
			return -1;
		n = strtoull(value, &end, 10);
		if (*end != '\0')
			return -1;
		return weir_set_content_length(r, n);
	}
	if (r->nrh == r->caprh) {
		size_t cap = r->caprh ? r->caprh * 2 : 16;
		const char **nn = arena_alloc(a, cap * sizeof(char *));
		const char **nv = arena_alloc(a, cap * sizeof(char *));

		if (nn == NULL || nv == NULL)
			return -1;
		if (r->nrh > 0) {
			memcpy(nn, r->rname, r->nrh * sizeof(char *));
			memcpy(nv, r->rval, r->nrh * sizeof(char *));
		}
		r->rname = nn;
		r->rval = nv;
		r->caprh = cap;
	}
	if ((r->rname[r->nrh] = arena_strdup(a, name)) == NULL ||
	    (r->rval[r->nrh] = arena_strdup(a, value)) == NULL)
		return -1;
	r->nrh++;
	return 0;
}

/*
 * Send the status line and headers, choosing the framing: Content-Length
 * when sized; chunked otherwise (HTTP/1.1); closing the connection for an
 * HTTP/1.0 peer.  HEAD, 204 and 304 carry no body.
 */
static void
send_head(struct weir_req *r)
{
	struct hconn *c = r->c;
	char line[128];

	r->head_sent = true;
	/* A body the front end holds back for 100 Continue will not be asked
	 * for now: the connection cannot be reused, so say so. */
	if (r->expect_100)
		c->close = true;
	r->expect_100 = false;
	r->no_body = r->head_method || r->status == 204 || r->status == 304;
	if (host_stopping(c->h))
		c->close = true;
	if (!r->sized && !r->no_body) {
		if (strcmp(r->protocol, "HTTP/1.0") == 0)
			c->close = true;
		else
			r->chunked = true;
	}
	snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", r->status,
	    http_reason(r->status));
	outs(r, line);
	for (size_t i = 0; i < r->nrh; i++) {
		outs(r, r->rname[i]);
		outs(r, ": ");
		outs(r, r->rval[i]);
		outs(r, "\r\n");
	}
	if (r->sized && r->status != 204 && r->status != 304) {
		snprintf(line, sizeof(line), "Content-Length: %llu\r\n",
		    (unsigned long long)r->out_len);
		outs(r, line);
	}
	if (r->chunked)
		outs(r, "Transfer-Encoding: chunked\r\n");
	if (c->close)
		outs(r, "Connection: close\r\n");
	outs(r, "\r\n");
}

int
weir_write(weir_req *r, const void *buf, size_t n)
{
	if (r->failed)
		return -1;
	if (!r->head_sent)
		send_head(r);
	if (r->sized && (r->written > r->out_len || n > r->out_len - r->written))
		return -1;
	r->written += n;
	if (r->no_body || n == 0)
		return r->failed ? -1 : 0;
	if (r->chunked) {
		char size[24];

		snprintf(size, sizeof(size), "%zx\r\n", n);
		outs(r, size);
		out(r, buf, n);
		out(r, "\r\n", 2);
	} else {
		out(r, buf, n);
	}
	return r->failed ? -1 : 0;
}

int
weir_flush(weir_req *r)
{
	if (r->failed)
		return -1;
	if (!r->head_sent)
		send_head(r);
	if (!r->failed && hostconn_flush(r->c) == -1)
		r->failed = true;
	return r->failed ? -1 : 0;
}

int
weir_respond(weir_req *r, int status, const char *content_type,
    const void *body, size_t n)
{
	if (r->head_sent || weir_set_status(r, status) == -1 ||
	    (content_type != NULL && weir_add_header(r, "Content-Type",
	    content_type) == -1))
		return -1;
	r->sized = true;
	r->out_len = n;
	return weir_write(r, body, n);
}

int
weir_head_sent(const weir_req *r)
{
	return r->head_sent;
}

/*
 * After the modules: complete the response.  A failed handler gets a 500
 * if nothing was sent yet; otherwise the response is cut off (the
 * connection closes without the final chunk, so the front end sees it
 * incomplete).  A sized response short of its length is cut off likewise.
 * Returns 0 when the connection can carry another request.
 */
int
hostapi_finish(struct weir_req *r, int rc)
{
	struct hconn *c = r->c;
	const char *who = r->mod != NULL ? r->mod->name : "weir-host";

	if (rc != WEIR_MOD_OK) {
		log_warnx("pool %s: module %s failed on %s %s%s", c->h->pool, who,
		    r->method, r->path, r->head_sent ? " (response cut off)" : "");
		if (r->head_sent || r->failed) {
			(void)hostconn_flush(c);
			c->close = true;
			return -1;
		}
		r->nrh = 0;
		r->sized = false;
		r->written = 0;
		c->olen = 0;
		(void)weir_respond(r, 500, "text/plain", "Internal Server Error\n", 22);
	}
	if (!r->head_sent) {
		if (!r->sized) {
			r->sized = true;
			r->out_len = 0;
		}
		send_head(r);
	}
	if (r->sized && r->written < r->out_len && !r->no_body) {
		log_warnx("pool %s: module %s wrote %llu of %llu bytes on %s %s "
		    "(response cut off)", c->h->pool, who,
		    (unsigned long long)r->written, (unsigned long long)r->out_len,
		    r->method, r->path);
		(void)hostconn_flush(c);
		c->close = true;
		return -1;
	}
	if (r->chunked)
		out(r, "0\r\n\r\n", 5);
	if (r->failed || hostconn_flush(c) == -1) {
		c->close = true;
		return -1;
	}
	return c->close ? -1 : 0;
}
