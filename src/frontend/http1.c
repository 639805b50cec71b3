/*
 * http1.c - HTTP/1.1 on a client connection (RFC 9112).
 *
 * Reads, parses (httpparse.c), routes to a handler, writes the response and
 * decides the connection's fate: keep-alive, close, or lingering close when
 * the client may still be sending.  Pipelined requests are answered in order;
 * small responses to them are batched into one write.
 *
 * Per request on a warm keep-alive connection serving a cached small file:
 * one read(2), one write(2), no allocation, no epoll_ctl.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"
#include "frontend.h"

#define LINGER_MS		2000	/* read-and-drop time before the final close */
#define OBUF_RESERVE		2048	/* room a response's headers may need */
#define SENDFILE_MAX		(1 << 20)
#define BODY_DISCARD_CHUNK	FE_BLOCK

static void	process_input(struct conn *c);
static int	flush(struct conn *c);
static void	after_output(struct conn *c);
static int	post_dispatch(struct conn *c, struct req *r);
static void	http1_deadline(struct conn *c);

static inline const struct conf_server *
srv(const struct conn *c)
{
	return &c->gen->conf->server;
}

/* --- formatting helpers --------------------------------------------------- */

size_t
fmt_u64(char *out, uint64_t v)
{
	char tmp[24];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

/*
 * An IP address as text (at most INET6_ADDRSTRLEN - 1 bytes, not
 * terminated); 0 for a family that has none.  IPv4 is done here: it is on
 * every proxied request and every log line, and inet_ntop() formats it with
 * sprintf.
 */
size_t
fmt_ip(char *out, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
		const unsigned char *b = (const unsigned char *)&s4->sin_addr;
		size_t n = 0;

		for (int i = 0; i < 4; i++) {
			if (i > 0)
				out[n++] = '.';
			n += fmt_u64(out + n, b[i]);
		}
		return n;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
		char a[INET6_ADDRSTRLEN];

		if (inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a)) == NULL)
			return 0;
		memcpy(out, a, strlen(a));
		return strlen(a);
	}
	return 0;
}

void
fe_update_date(struct fe_thread *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec != t->date_t) {
		t->date_t = ts.tv_sec;
		httpdate_format(ts.tv_sec, t->date);
	}
}



/* --- output ------------------------------------------------------------------- */

static bool
output_pending(const struct conn *c)
{
	return c->ooff < c->olen || (c->req != NULL && c->seg < c->req->nsegs);
}

/*
 * Start a response in the output buffer: status line, Server, Date and the
 * Connection header the keep-alive decision (CF_CLOSE) calls for.  Returns
 * where the caller continues and sets *avail to the room left; the caller
 * ends the header section with CRLF and calls http1_resp_commit().
 * NULL if no buffer can be had (the caller fails the request).
 */
char *
http1_resp_begin(struct conn *c, struct req *r, int status, size_t *avail)
{
	struct fe_thread *t = c->t;
	const char *reason = http_reason(status);
	char *p;

	if (c->obuf == NULL) {
		if ((c->obuf = block_get(t)) == NULL)
			return NULL;
		c->ooff = c->olen = 0;
	}
	if (FE_BLOCK - c->olen < OBUF_RESERVE)
		return NULL;
	r->status = status;
	/*
	 * A client that asked for 100-continue may never send the body once
	 * it has a final answer: the rest of the stream cannot be framed, so
	 * close after answering (RFC 9110 §10.1.1) unless a handler read it.
	 */
	if ((r->h.flags & HTTP_F_EXPECT_100) && !r->body_taken &&
	    ((r->h.flags & HTTP_F_CHUNKED) || r->h.content_length > 0))
		c->flags |= CF_CLOSE | CF_LINGER;
	fe_update_date(t);
	p = c->obuf + c->olen;
	p = PUTS(p, "HTTP/1.1 ");
	p += fmt_u64(p, (uint64_t)status);
	*p++ = ' ';
	p = put(p, reason, strlen(reason));
	p = PUTS(p, "\r\nServer: weir\r\nDate: ");
	p = put(p, t->date, HTTPDATE_LEN);
	p = PUTS(p, "\r\n");
	p = https_put_hsts(p, c, r->site);
	if (c->flags & CF_CLOSE)
		p = PUTS(p, "Connection: close\r\n");
	else if (r->h.minor == 0)
		p = PUTS(p, "Connection: keep-alive\r\n");
	*avail = (size_t)(c->obuf + FE_BLOCK - p);
	return p;
}

void
http1_resp_commit(struct conn *c, struct req *r, char *end)
{
	uint32_t n = (uint32_t)(end - c->obuf);

	r->bytes += n - c->olen;
	c->olen = n;
}

/*
 * A complete error (or other bodiless-by-design) response: a short HTML page
 * that never echoes request bytes, always with Content-Length so it is
 * self-delimiting.  HEAD gets the headers only.
 */
int
http1_error(struct conn *c, struct req *r, int status, const char *token)
{
	char body[256], *p;
	size_t avail;
	int blen;

	if (token != NULL)
		r->reason = token;
	blen = snprintf(body, sizeof(body),
	    "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>"
	    "<body><h1>%d %s</h1>%s</body></html>\n",
	    status, http_reason(status), status, http_reason(status),
	    token != NULL && strcmp(token, HTTP1_PLAIN_ON_TLS) == 0 ?
	    "<p>The plain HTTP request was sent to an HTTPS port.</p>" : "");
	if ((p = http1_resp_begin(c, r, status, &avail)) == NULL) {
		conn_close(c);
		return WEIR_ERROR;
	}
	if (status == 405 || status == 501)
		p = PUTS(p, "Allow: GET, HEAD, OPTIONS\r\n");
	if (status == 503) {
		p = PUTS(p, "Retry-After: ");
		p += fmt_u64(p, r->retry_after ? r->retry_after : 5);
		p = PUTS(p, "\r\n");
	}
	p = PUTS(p, "Content-Type: text/html; charset=utf-8\r\nContent-Length: ");
	p += fmt_u64(p, (uint64_t)blen);
	p = PUTS(p, "\r\n\r\n");
	if (r->h.method != HTTP_M_HEAD) {
		p = put(p, body, (size_t)blen);
	}
	http1_resp_commit(c, r, p);
	return WEIR_OK;
}

/* --- request completion ------------------------------------------------------- */

/*
 * Write the request's lines: access.log, the counters, and httperr.log when
 * the front end answered with an error of its own.  Whatever path ends a
 * request (answered, aborted, failed by its pool, client gone), this runs
 * once for it: r->logged makes any later call a no-op.
 */
static void
req_log(struct conn *c, struct req *r)
{
	if (r->logged)
		return;
	r->logged = true;
	alog_request(c, r);
	stats_request(c, r);
	if (r->reason != NULL)
		alog_httperr(c, r, r->status, r->reason);
}

/*
 * The connection is being closed (conn_close(), before its fd goes): a
 * parsed request that has no log line yet ends here.  Its line says what
 * the client got: the status of a response of which bytes were sent, else
 * 499 (the client closed before an answer; nginx's code, a W3C sc-status
 * like any other), and httperr.log says Connection_Dropped as HTTP.sys does
 * -- unless whoever closed gave a reason and status of its own (a timer).
 */
void
http1_log_gone(struct conn *c)
{
	struct req *r = c->req;

	if (r == NULL || !r->parsed || r->logged)
		return;
	if (r->reason == NULL) {
		r->reason = "Connection_Dropped";
		if (r->bytes == 0)
			r->status = 0;
	}
	if (r->status == 0)
		r->status = 499;
	req_log(c, r);
}

/* The response for the current request is fully queued or sent: log it. */
static void
req_finish(struct conn *c, struct req *r)
{
	req_log(c, r);
	if (r->fent != NULL) {
		fcache_release(c->t->fcache, r->fent);
		r->fent = NULL;
	}
	free(r->owned);
	r->owned = NULL;
	r->nsegs = 0;
	c->seg = 0;
}

static void
req_reset(struct req *r)
{
	free(r->head);
	r->head = NULL;
	r->parsed = false;
	r->logged = false;
	r->start_ns = 0;
	r->site = NULL;
	r->status = 0;
	r->bytes = 0;
	r->reason = NULL;
	r->queue = NULL;
	r->poolp = NULL;
	r->owned = NULL;
	r->retry_after = 0;
	r->body_taken = false;
	r->logged = false;
	r->nsegs = 0;
	r->fent = NULL;
	r->pathlen = 0;
	r->target = NULL;
	r->targetlen = 0;
	r->pinned = 0;
	r->scratchlen = 0;
	r->h.method = HTTP_M_UNKNOWN;
	r->h.method_str.p = NULL;
	r->h.target.p = NULL;
	r->h.path.p = NULL;
	r->h.query.p = NULL;
	r->h.host.p = NULL;
	r->h.minor = 1;
	r->h.flags = 0;
	r->h.nheaders = 0;
}

/* A fresh request block for c (NULL when memory is short). */
static struct req *
req_new(struct conn *c)
{
	struct req *r = block_get(c->t);

	if (r == NULL)
		return NULL;
	r->head = NULL;
	req_reset(r);
	return r;
}

/* Give a request block back, with everything the request still holds. */
void
http1_req_put(struct fe_thread *t, struct req *r)
{
	if (r->fent != NULL)
		fcache_release(t->fcache, r->fent);
	free(r->owned);
	free(r->head);
	block_put(t, r);
}

/* Point a slice that lies in src[0..n) at the same bytes in dst. */
static void
rebase(struct hstr *s, const char *src, size_t n, char *dst)
{
	uintptr_t p = (uintptr_t)s->p, b = (uintptr_t)src;

	if (s->p != NULL && p >= b && p <= b + n)
		s->p = dst + (p - b);
}

/*
 * Give a parsed request its own copy of its header section src[0..n) and
 * point every slice of r->h into it.  The connection's input buffer is
 * reused for the body (read into, compacted, grown, released) while the
 * request lives, so nothing read later -- its log line above all, or its
 * head rebuilt for a retry -- may point there: a body that begins like a
 * request line would forge the log.  The copy goes into the pin room of the
 * request's block (no allocation for a common head), a larger one is
 * malloc'd.  Returns -1 when memory is short.
 */
static int
req_pin(struct req *r, const char *src, size_t n)
{
	char *dst = (char *)(r + 1);
	struct http_request *h = &r->h;

	r->pinned = n;
	if (n > REQ_PIN_ROOM) {
		if ((r->head = malloc(n)) == NULL)
			return -1;
		dst = r->head;
		r->pinned = 0;	/* the pin room is free for a rewritten target */
	}
	memcpy(dst, src, n);
	rebase(&h->method_str, src, n, dst);
	rebase(&h->target, src, n, dst);
	rebase(&h->path, src, n, dst);
	rebase(&h->query, src, n, dst);
	rebase(&h->host, src, n, dst);
	for (size_t i = 0; i < h->nheaders; i++) {
		rebase(&h->headers[i].name, src, n, dst);
		rebase(&h->headers[i].value, src, n, dst);
	}
	r->parsed = true;
	return 0;
}

static void
go_idle(struct conn *c)
{
	c->state = CONN_IDLE;
	rate_end(c);
	if (c->req != NULL && !output_pending(c)) {
		http1_req_put(c->t, c->req);
		c->req = NULL;
	}
	conn_release_buffers(c);
	/* an upgrade's drain answers its next request, with close (shutdown_all()) */
	if (c->t->draining && !c->t->fe->handover) {
		conn_close(c);
		return;
	}
	conn_set_deadline(c, srv(c)->keepalive_timeout);
}

static void
start_linger(struct conn *c)
{
	/* Tell the client we are done; if it fails the peer is gone anyway. */
	if (c->ssl != NULL)
		tls_conn_shutdown(c);
	if (shutdown(c->io.fd, SHUT_WR) == -1) {
		conn_close(c);
		return;
	}
	c->state = CONN_LINGER;
	rate_end(c);
	c->ipos = c->ilen = 0;
	conn_want_write(c, false);
	conn_set_deadline(c, LINGER_MS);
}

/*
 * Fail the connection: send `status` with Connection: close, log it to
 * httperr.log with the IIS reason token, and close after a linger so the
 * client can read the answer even if it is still sending.  The request
 * framing can no longer be trusted, so nothing after this is parsed.
 */
void
http1_abort(struct conn *c, int status, const char *token, const char *why)
{
	struct req *r = c->req;

	/* A request still in its pool ends here: its worker's answer is moot. */
	if (c->pr != NULL) {
		bool sent = c->pr->client_sent;

		poolreq_abort(c);
		if (sent) {
			/* part of another answer is out: this one cannot follow */
			if (r != NULL && !r->logged)
				r->reason = token;
			conn_close(c);
			return;
		}
	}
	if (r == NULL) {
		if ((r = c->req = req_new(c)) == NULL) {
			conn_close(c);
			return;
		}
	} else if (r->logged) {
		req_reset(r);	/* the block held the last request: this is another */
	}
	if (r->start_ns == 0)
		r->start_ns = mono_ns();
	log_debug("client error %d (%s): %s", status, token, why);
	c->flags |= CF_CLOSE | CF_LINGER;
	c->flags &= (uint8_t)~CF_KEEPALIVE;
	if (r->h.method_str.p == NULL)
		r->h.minor = 1;
	c->ipos = c->ilen;	/* nothing more is parsed */
	if (http1_error(c, r, status, token) != WEIR_OK)
		return;
	req_finish(c, r);
	c->state = CONN_HEAD;
	if (flush(c) == 1)
		after_output(c);
}

/* --- bodies nobody reads ------------------------------------------------------ */

/*
 * The body being dropped cannot be framed (bad chunked syntax) or passed
 * max_body.  The answer to its request may still be waiting in the output
 * buffer, and a plain close with unread input would reset the connection
 * and lose it: send what is queued, then close with a linger.
 */
static int
discard_fail(struct conn *c)
{
	free(c->chunk);
	c->chunk = NULL;
	c->body_left = 0;
	c->ipos = c->ilen;
	c->state = CONN_HEAD;
	c->flags |= CF_CLOSE | CF_LINGER;
	c->flags &= (uint8_t)~CF_KEEPALIVE;
	if (!output_pending(c))
		start_linger(c);
	return -1;
}

/*
 * Drop request body bytes from the input buffer.  Returns 1 when the body
 * is complete, 0 when more is needed, -1 when the connection is ending
 * (queued output is still sent).
 */
static int
discard_body(struct conn *c)
{
	size_t avail = c->ilen - c->ipos;

	if (c->chunk == NULL) {
		uint64_t n = avail < c->body_left ? avail : c->body_left;

		c->ipos += (uint32_t)n;
		c->body_left -= n;
		if (c->body_left > 0) {
			conn_set_deadline(c, srv(c)->body_timeout);
			return 0;
		}
		return 1;
	} else {
		size_t out, used;
		const char *why;
		int r = httpparse_chunked(c->chunk, c->ibuf + c->ipos, avail, &out,
		    &used, &why);

		if (r == WEIR_ERROR)
			return discard_fail(c);	/* already answered */
		c->ipos += (uint32_t)used;
		c->body_left += out;
		if (srv(c)->max_body != 0 && c->body_left > srv(c)->max_body)
			return discard_fail(c);
		if (r == 0) {
			conn_set_deadline(c, srv(c)->body_timeout);
			return 0;
		}
		free(c->chunk);
		c->chunk = NULL;
		c->body_left = 0;
		return 1;
	}
}

/* --- dispatch ------------------------------------------------------------------- */

static void
options_star(struct conn *c, struct req *r)
{
	char *p;
	size_t avail;

	if ((p = http1_resp_begin(c, r, 204, &avail)) == NULL) {
		conn_close(c);
		return;
	}
	p = PUTS(p, "Allow: GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH\r\n\r\n");
	http1_resp_commit(c, r, p);
}

static const char *
token_for(int status)
{
	switch (status) {
	case 408: return "Timer_HeaderWait";
	case 413: return "EntityTooLarge";
	case 414: return "URL_Length";
	case 417: return "BadRequest";
	case 431: return "RequestLength";
	case 501: return "N/I";
	case 505: return "Version_N/S";
	default:  return "BadRequest";
	}
}

/*
 * Under a site's root, with scripts: the script the path names, the
 * site's fallback, or WEIR_DECLINED for the static handler.  Returns
 * WEIR_OK or WEIR_DONE when the request is taken (or answered), else the
 * error status to send.
 */
static int
dispatch_scripts(struct conn *c, struct req *r)
{
	const struct conf_script *sc = NULL;
	size_t sn = 0;
	int st = fastcgi_resolve(c, r, &sc, &sn);

	if (st == 1) {
		struct fe_pool *pool = NULL;

		for (size_t i = 0; i < r->site->nscripts; i++)
			if (strcmp(r->site->scripts[i].ext, sc->ext) == 0)
				pool = r->site->scripts[i].pool;
		return fastcgi_request(c, r, pool, sn, false);
	}
	if (r->site->cs->fallback != NULL && (st == 0 || st == 404))
		return fastcgi_fallback(c, r, st);
	return st == 0 ? WEIR_DECLINED : st;
}

/*
 * Route a parsed request to its site and handler.  Returns false, having
 * answered nothing, when a pool would take the request but c is detached
 * (an HTTP/2 stream served in place): the caller serves it another way.
 */
static bool
dispatch(struct conn *c, struct req *r)
{
	struct http_request *h = &r->h;
	const struct fe_route *route;
	const struct fe_alias *alias;
	int st;

	if (h->target_form == HTTP_TARGET_ASTERISK) {
		options_star(c, r);
		return true;
	}
	if (lbhealth_answer(c, r))
		return true;
	if ((r->site = router_site(c->gen, c->addr, h->host)) == NULL) {
		http1_error(c, r, 421, "Hostname");
		return true;
	}
	if (acmechal_answer(c, r))	/* HTTP-01: before the site's own paths */
		return true;
	if (h->target_form == HTTP_TARGET_AUTHORITY) {
		http1_error(c, r, 405, NULL);	/* CONNECT: not a proxy */
		return true;
	}
	if (https_redirects(c, r)) {
		https_redirect(c, r);
		return true;
	}
	if ((st = tlsclient_check(c, r->site->cs)) != 0) {
		http1_error(c, r, st, st == 421 ? "Misdirected_Request" : "Client_Certificate");
		return true;
	}
	st = path_normalize(h->path.p, h->path.n, r->path, sizeof(r->path),
	    &r->pathlen);
	if (st != 0) {
		http1_error(c, r, st, st == 400 ? "URL" : NULL);
		return true;
	}
	if (r->site->cs->nrewrites > 0 && router_rewrite(c, r) != 0)
		return true;	/* answered: a redirect, a return, a loop */
	route = router_route(r->site, r->path, r->pathlen);
	/* an alias and an app route: the longer prefix wins, the alias on a tie */
	alias = router_alias(r->site, r->path, r->pathlen);
	if (alias != NULL && route != NULL && route->len > alias->len)
		alias = NULL;
	if (alias != NULL)
		route = NULL;
	/*
	 * Files under root (static and scripts) may be hidden; what an app
	 * answers under a dotted path is the app's business.
	 */
	if (route == NULL && r->site->cs->dotfiles == DOTFILES_DENY &&
	    path_hidden(r->path, r->pathlen)) {
		http1_error(c, r, 404, NULL);
		return true;
	}
	if (alias != NULL) {
		st = alias->site.static_h->on_request(alias->site.static_h, c, r);
	} else if (route != NULL) {
		if (route->h == NULL) {
			http1_error(c, r, 503, "AppOffline");
			return true;
		}
		if (c->detached)
			return false;
		st = route->h->on_request(route->h, c, r);
	} else if (r->site->nscripts > 0 && c->detached) {
		return false;	/* a script (a pool) or a file: fastcgi_resolve() knows */
	} else if (r->site->nscripts > 0 &&
	    (st = dispatch_scripts(c, r)) != WEIR_DECLINED) {
		/* taken, or an error to answer */
	} else if (r->site->static_h != NULL) {
		st = r->site->static_h->on_request(r->site->static_h, c, r);
	} else {
		st = 404;
	}
	if (st > 0)
		http1_error(c, r, st, st == 414 ? "URL_Length" : st >= 500 ? "Internal" : NULL);
	return true;
}

/*
 * Serve the request whose complete head is head[0..n) on a detached
 * connection (conn_new_detached(): an HTTP/2 stream's, h2stream.c): the
 * same parser and limits, router and handlers as a request read from a
 * socket, but nothing is written: the response head is left in c->obuf,
 * its body after it there and in c->req->segs, for the caller to send
 * and then to call http1_detached_done().  Returns WEIR_OK when answered,
 * WEIR_DECLINED when a pool would take the request (nothing answered;
 * c->req still parsed for http1_serve_parsed(), or cleared when no site
 * took it), WEIR_ERROR when c was closed (memory is short).
 */
int
http1_serve_detached(struct conn *c, const char *head, size_t n)
{
	const struct conf_server *s = srv(c);
	struct httpparse_limits lim = {
		.max_request_line = s->max_request_line,
		.max_header_bytes = s->max_header_size,
		.max_headers = s->max_headers
	};
	struct req *r;
	int st, status = 400;
	const char *why = "incomplete head";
	bool answered;

	if (c->req == NULL && (c->req = req_new(c)) == NULL) {
		conn_close(c);
		return WEIR_ERROR;
	}
	r = c->req;
	req_reset(r);
	/* the stream's head came whole in this wake-up (HTTP/2) */
	r->start_ns = loop_now_ns(c->t->loop);
	st = httpparse_request(head, n, &r->h, &lim, &status, &why);
	if (st == WEIR_AGAIN)
		st = WEIR_ERROR;	/* the head is whole: what is missing never comes */
	if (st < 0 || req_pin(r, head, st < 0 ? 0 : (size_t)st) == -1) {
		if (st >= 0) {
			status = 500;
			why = "no memory to hold the request head";
		}
		log_debug("client error %d (%s): %s", status, token_for(status), why);
		/* what a failed parse left points into head: the log must not */
		req_reset(r);
		r->start_ns = loop_now_ns(c->t->loop);
		r->parsed = true;
		return http1_error(c, r, status, token_for(status)) == WEIR_OK ?
		    WEIR_OK : WEIR_ERROR;
	}
	c->nreq++;
	c->flags |= CF_INPROC;
	answered = dispatch(c, r);
	c->flags &= (uint8_t)~CF_INPROC;
	if (c->state == CONN_CLOSED)
		return WEIR_ERROR;
	if (!answered) {
		/*
		 * Kept parsed for http1_serve_parsed(), which routes it again
		 * from its head as it came (rewrite rules run on the path
		 * normalized from the head, not on what they made of it here).
		 */
		if (r->site == NULL)
			req_reset(r);
		return WEIR_DECLINED;
	}
	return WEIR_OK;
}

/* A detached connection's response is all handed over: log it, let go. */
void
http1_detached_done(struct conn *c)
{
	if (c->req != NULL && c->req->parsed && !c->req->logged)
		req_finish(c, c->req);
}

/*
 * After a request was answered (its response queued): drop the body nobody
 * reads, log the request when its response is complete.  Returns -1 if the
 * connection was closed.
 */
static int
post_dispatch(struct conn *c, struct req *r)
{
	bool has_body = (r->h.flags & HTTP_F_CHUNKED) || r->h.content_length > 0;

	if (has_body && !r->body_taken && !(c->flags & CF_LINGER)) {
		c->state = CONN_BODY_DISCARD;
		if (r->h.flags & HTTP_F_CHUNKED) {
			if ((c->chunk = malloc(sizeof(*c->chunk))) == NULL) {
				conn_close(c);
				return -1;
			}
			httpparse_chunked_init(c->chunk);
			c->body_left = 0;
		} else {
			c->body_left = (uint64_t)r->h.content_length;
		}
	}
	if (c->state == CONN_HEAD)
		c->state = CONN_IDLE;	/* the next request starts its own clock */
	if (r->nsegs == 0 && !r->logged)	/* http1_abort() from a handler logged it */
		req_finish(c, r);
	return 0;
}

/*
 * The client broke the rules of the request before any of a response was
 * sent (a bad or too large body, too slow): the pool request, if any, is
 * dropped, and the client gets `status` and a lingering close.
 */
void
http1_client_fault(struct conn *c, int status, const char *token, const char *why)
{
	poolreq_abort(c);
	c->state = CONN_HEAD;
	conn_set_events(c, LOOP_READ);
	http1_abort(c, status, token, why);
}

/*
 * Close a connection that cannot be answered any more (the client left in
 * the middle of its request, or reads too slowly): the request gets its
 * one access-log line (with `status` when none was sent) and an httperr
 * line with the reason, and is counted.
 */
void
http1_drop(struct conn *c, int status, enum fe_close_reason why)
{
	struct req *r = c->req;

	stat_add(&c->t->st_closed[why], 1);
	poolreq_abort(c);
	if (r != NULL && r->start_ns != 0 && !r->logged) {
		if (r->status == 0)
			r->status = status;
		r->reason = fe_close_tokens[why];
		req_finish(c, r);
	} else {
		alog_httperr(c, NULL, r != NULL && r->status != 0 ? r->status : status,
		    fe_close_tokens[why]);
	}
	if (why == FE_CLOSE_MINRATE) {
		/*
		 * A reset, not a FIN queued behind what the client does not
		 * read: the kernel drops the unsent data at once instead of
		 * keeping it (and the socket) for a client that may never
		 * take it.
		 */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		(void)!setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	conn_close(c);
}

/*
 * A handler that went asynchronous (state CONN_HANDLER) ends with an error
 * it answers itself (503 from the queue, 502 from a dead worker, ...).
 */
void
http1_handler_error(struct conn *c, int status, const char *token)
{
	struct req *r = c->req;

	c->state = CONN_HEAD;
	conn_set_events(c, LOOP_READ);
	if (http1_error(c, r, status, token) != WEIR_OK)
		return;
	if (c->flags & CF_INPROC)
		return;		/* process_input() goes on from here */
	if (post_dispatch(c, r) == -1)
		return;
	if (flush(c) == 1)
		after_output(c);
}

/*
 * A FastCGI local redirect (RFC 3875 §6.2.2) to a path that is not a
 * script: answer with what the site serves there, as for a GET.
 */
void
http1_redispatch_static(struct conn *c)
{
	struct req *r = c->req;
	int st = 404;

	c->state = CONN_HEAD;
	conn_set_events(c, LOOP_READ);
	if (r->h.method != HTTP_M_HEAD)
		r->h.method = HTTP_M_GET;
	r->status = 0;
	if (r->site->static_h != NULL)
		st = r->site->static_h->on_request(r->site->static_h, c, r);
	if (st > 0 && http1_error(c, r, st, st >= 500 ? "Internal" : NULL) != WEIR_OK)
		return;
	if (c->flags & CF_INPROC)
		return;
	if (post_dispatch(c, r) == -1)
		return;
	if (output_pending(c)) {
		if (flush(c) == 1)
			after_output(c);
	} else {
		after_output(c);
	}
}

/*
 * A handler that went asynchronous sent its whole response itself; it set
 * r->body_taken to say whether a body is still to be dropped.
 */
void
http1_request_done(struct conn *c)
{
	struct req *r = c->req;

	c->state = CONN_HEAD;
	conn_set_events(c, LOOP_READ);
	if (c->flags & CF_INPROC)
		return;
	if (post_dispatch(c, r) == -1)
		return;
	after_output(c);
}

/* Set the client's event interest; asking for input again ends CF_NOREAD. */
void
conn_set_events(struct conn *c, uint32_t events)
{
	if (loop_io_mod(c->t->loop, &c->io, events) == -1)
		log_warn("epoll_ctl");
	if (c->h2s != NULL) {
		c->io.events = events;	/* no descriptor: the stream says when */
		h2s_cio_events(c->h2s);
	}
	if (events & LOOP_WRITE)
		c->flags |= CF_WANT_WRITE;
	else
		c->flags &= (uint8_t)~CF_WANT_WRITE;
	if (events & LOOP_READ) {
		c->flags &= (uint8_t)~CF_NOREAD;
		if (c->ssl != NULL)
			cio_check_pending(c);	/* input OpenSSL holds: epoll cannot tell */
	}
}

/*
 * A request parsed and pinned on c (its head consumed): may the connection
 * persist after it, then its answer.  Returns -1 when c was closed or a
 * handler works on it, 1 when what is queued goes out before the next
 * request, 0 to go on with the next.
 */
static int
serve_parsed(struct conn *c, struct req *r)
{
	const struct conf_server *s = srv(c);

	if (c->rate_dir == RATE_IN)
		rate_end(c);	/* the head is in: a body starts its own window */
	if (s->max_body != 0 && r->h.content_length > 0 &&
	    (uint64_t)r->h.content_length > s->max_body) {
		http1_abort(c, 413, "EntityTooLarge", "body larger than max_body");
		return -1;
	}
	/* 1. May the connection persist after this response? */
	c->flags &= (uint8_t)~(CF_CLOSE | CF_LINGER);
	if (!(r->h.flags & HTTP_F_KEEPALIVE) || s->keepalive_timeout == 0 ||
	    c->t->draining || atomic_load_explicit(&c->t->fe->lb_draining,
	    memory_order_relaxed) ||
	    (s->keepalive_requests != 0 && c->nreq >= s->keepalive_requests))
		c->flags |= CF_CLOSE;
	/* 2. Answer. */
	c->flags |= CF_INPROC;
	(void)dispatch(c, r);	/* not detached: always answered or taken */
	c->flags &= (uint8_t)~CF_INPROC;
	/*
	 * Taken by a pool: the answers batched before it go now, not with its
	 * answer; what a full socket leaves goes before that answer's first
	 * byte (poolreq_client_writev()).  A client gone shows there too.
	 */
	if (c->state == CONN_HANDLER)
		(void)http1_send_queued(c);
	if (c->state == CONN_CLOSED || c->state == CONN_HANDLER)
		return -1;
	if (post_dispatch(c, r) == -1)
		return -1;
	if (r->nsegs != 0)
		return 1;	/* file data to send before the next answer */
	return (c->flags & CF_CLOSE) ? 1 : 0;
}

/*
 * Parse and answer as many complete requests as the input holds, batching
 * small responses, until the input runs out, a response must be sent before
 * going on, or the connection ends.
 */
static void
process_input(struct conn *c)
{
	const struct conf_server *s = srv(c);
	struct httpparse_limits lim;

	lim.max_request_line = s->max_request_line;
	lim.max_header_bytes = s->max_header_size;
	lim.max_headers = s->max_headers;

	for (;;) {
		struct req *r;
		size_t avail, end;
		int n, status;
		const char *why;

		if (c->state == CONN_BODY_DISCARD) {
			int d = discard_body(c);

			if (d <= 0)
				break;
			/*
			 * Between requests: the next one starts its own header
			 * clock, not the remains of the body's.
			 */
			c->state = CONN_IDLE;
			if (c->flags & CF_CLOSE)
				break;
			continue;
		}
		if (c->state != CONN_IDLE && c->state != CONN_HEAD)
			break;
		if (output_pending(c) && (c->flags & CF_CLOSE))
			break;
		if (c->ipos == c->ilen) {
			if (!output_pending(c))
				go_idle(c);
			break;
		}
		if (c->state == CONN_IDLE) {
			/* A new request uses the newest configuration. */
			if (c->gen != c->t->gen) {
				fe_gen_release(c->gen);
				c->gen = c->t->gen;
				atomic_fetch_add(&c->gen->refs, 1);
				s = srv(c);
				lim.max_request_line = s->max_request_line;
				lim.max_header_bytes = s->max_header_size;
				lim.max_headers = s->max_headers;
			}
			c->state = CONN_HEAD;
			c->scan = 0;
			conn_set_deadline(c, s->header_timeout);
			rate_begin(c, RATE_IN);
			rate_add(c, c->ilen - c->ipos);
		}
		/* A response that needs more than the buffer: send first. */
		if (c->obuf != NULL && FE_BLOCK - c->olen < OBUF_RESERVE)
			break;
		if (c->req != NULL && c->seg < c->req->nsegs)
			break;
		avail = c->ilen - c->ipos;
		end = httpparse_header_end(c->ibuf + c->ipos, avail, c->scan);
		/*
		 * No end yet: wait for more, unless a line was completed.  The
		 * parser may then reject what is there already (a bare LF, a bad
		 * request line); waiting would turn that 400 into a 408 half a
		 * minute later.  Lines are few (max_headers), so parsing once
		 * per line stays linear enough for slow senders.
		 */
		if (end == 0 && avail < s->max_header_size &&
		    memchr(c->ibuf + c->ipos + c->scan, '\n', avail - c->scan) == NULL) {
			c->scan = avail >= 3 ? (uint32_t)avail - 3 : 0;
			rate_arm(c);
			break;
		}
		if (c->req == NULL && (c->req = req_new(c)) == NULL) {
			conn_close(c);
			return;
		}
		r = c->req;
		req_reset(r);
		r->start_ns = mono_ns();
		n = httpparse_request(c->ibuf + c->ipos, avail, &r->h, &lim,
		    &status, &why);
		if (n == WEIR_AGAIN) {
			c->scan = avail >= 3 ? (uint32_t)avail - 3 : 0;
			rate_arm(c);
			break;
		}
		if (n == WEIR_ERROR) {
			http1_abort(c, status, token_for(status), why);
			return;
		}
		c->nreq++;
		/* 2. The request owns its head from now on. */
		if (req_pin(r, c->ibuf + c->ipos, (size_t)n) == -1) {
			http1_abort(c, 500, "Internal", "no memory to hold the request head");
			return;
		}
		c->ipos += (uint32_t)n;
		c->scan = 0;
		if ((n = serve_parsed(c, r)) == -1)
			return;		/* closed, or a handler works on it */
		if (n == 1)
			break;
	}
	if (output_pending(c)) {
		if (flush(c) == 1)
			after_output(c);
	} else if ((c->flags & CF_CLOSE) &&
	    (c->state == CONN_IDLE || c->state == CONN_HEAD)) {
		/*
		 * A pool handler finished inside dispatch() and wrote its
		 * response itself: nothing is pending, but the close is due.
		 */
		after_output(c);
	}
}

/*
 * Over TLS, a response head followed by its body, in memory or a file, goes
 * out in the same records and write (cio_writev() packs them,
 * cio_sendfile_head() reads the file's first chunk after the head): half
 * the records and write calls of sending them apart.  Moves the segment by
 * the body's part of what was sent; returns the head's part, or -1 as
 * cio_writev() does.
 */
static ssize_t
tls_head_and_body(struct conn *c, struct sendseg *sg)
{
	struct iovec iov[2] = {
		{ c->obuf + c->ooff, c->olen - c->ooff },
		{ (void *)(uintptr_t)sg->p, sg->len }
	};
	size_t head = iov[0].iov_len;
	ssize_t w;

	if (sg->p != NULL) {
		w = cio_writev(c, iov, 2);
	} else {
		off_t off = (off_t)sg->off;

		w = cio_sendfile_head(c, iov[0].iov_base, head, c->req->fent->fd, &off,
		    sg->len > SENDFILE_MAX ? SENDFILE_MAX : sg->len);
	}
	if (w > (ssize_t)head) {
		if (sg->p != NULL)
			sg->p += (size_t)w - head;
		else
			sg->off += (size_t)w - head;
		sg->len -= (size_t)w - head;
		rate_add(c, (uint64_t)w - head);
		return (ssize_t)head;	/* the caller counts the head's part */
	}
	return w;
}

/*
 * Send what is queued: the output buffer, then the request's segments
 * (memory or file ranges via sendfile).  Returns 1 when all is sent, 0 when
 * the socket is full (LOOP_WRITE is then asked for), -1 when the connection
 * was closed.
 */
static int
flush(struct conn *c)
{
	struct req *r = c->req;

	while (c->ooff < c->olen) {
		/*
		 * MSG_MORE only when memory follows: merging the header into
		 * sendfile's packets costs more CPU than the extra small
		 * packet saves (measured, bench/README.md).
		 */
		bool more = r != NULL && c->seg < r->nsegs && r->segs[c->seg].p != NULL;
		ssize_t w;

		if (c->ssl != NULL && r != NULL && c->seg < r->nsegs) {
			/* TLS: the head and the body in one write, not two */
			w = tls_head_and_body(c, &r->segs[c->seg]);
		} else {
			w = cio_send(c, c->obuf + c->ooff, c->olen - c->ooff,
			    more ? MSG_MORE : 0);
		}
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				goto blocked;
			conn_close(c);
			return -1;
		}
		c->ooff += (uint32_t)w;
		rate_add(c, (uint64_t)w);
	}
	c->ooff = c->olen = 0;
	while (r != NULL && c->seg < r->nsegs) {
		struct sendseg *sg = &r->segs[c->seg];
		ssize_t w;

		if (sg->len == 0) {
			c->seg++;
			continue;
		}
		if (sg->p != NULL) {
			w = cio_send(c, sg->p, sg->len,
			    c->seg + 1 < r->nsegs && r->segs[c->seg + 1].p != NULL ?
			    MSG_MORE : 0);
			if (w > 0)
				sg->p += w;
		} else {
			off_t off = (off_t)sg->off;

			w = cio_sendfile(c, r->fent->fd, &off,
			    sg->len > SENDFILE_MAX ? SENDFILE_MAX : sg->len);
			if (w > 0)
				sg->off = (uint64_t)off;
			else if (w == 0) {
				/* The file shrank under us: the framing is lost. */
				log_warnx("%s: file shrank while being sent", r->path);
				conn_close(c);
				return -1;
			}
		}
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				goto blocked;
			conn_close(c);
			return -1;
		}
		sg->len -= (uint64_t)w;
		rate_add(c, (uint64_t)w);
	}
	if (c->flags & CF_WANT_WRITE)
		conn_want_write(c, false);
	if (c->rate_dir == RATE_OUT)
		rate_end(c);
	return 1;
blocked:
	conn_want_write(c, true);
	conn_set_deadline(c, srv(c)->send_timeout);
	rate_begin(c, RATE_OUT);
	rate_arm(c);
	return 0;
}

/*
 * Answers to earlier pipelined requests, still in the output buffer when a
 * handler that writes its own answer (a pool's) takes the next request:
 * they go first, so that answers keep the order of their requests (RFC
 * 9112 §9.3.2).  1 when none is left, 0 when the client is full, -1 (errno
 * set) when it is gone.
 */
int
http1_send_queued(struct conn *c)
{
	while (c->ooff < c->olen) {
		ssize_t w = cio_send(c, c->obuf + c->ooff, c->olen - c->ooff, 0);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		}
		c->ooff += (uint32_t)w;
	}
	c->ooff = c->olen = 0;
	return 1;
}

/*
 * Tell a client that asked for 100-continue to send its body, after the
 * answers queued before its request.  Best effort: a full socket buffer
 * right now is unheard of, and a client that hears nothing sends its body
 * after a wait of its own (RFC 9110 §10.1.1).
 */
void
http1_send_continue(struct conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (http1_send_queued(c) == 1)
		(void)!cio_send(c, cont, sizeof(cont) - 1, 0);
}

/* Everything queued has been sent: finish the request, then go on. */
static void
after_output(struct conn *c)
{
	if (c->req != NULL && c->req->nsegs > 0)
		req_finish(c, c->req);
	if (c->flags & CF_CLOSE) {
		if ((c->flags & CF_LINGER) || c->ipos != c->ilen ||
		    c->state == CONN_BODY_DISCARD)
			start_linger(c);
		else
			conn_close(c);
		return;
	}
	process_input(c);
}

/* --- reading ---------------------------------------------------------------------- */

static void
on_readable(struct conn *c)
{
	for (;;) {
		ssize_t n;

		if (conn_ibuf(c) == -1) {
			conn_close(c);
			return;
		}
		if (c->state == CONN_LINGER || c->state == CONN_BODY_DISCARD) {
			/* only the newest bytes matter */
			if (c->ipos == c->ilen)
				c->ipos = c->ilen = 0;
		}
		if (c->ilen == c->icap) {
			if (c->ipos > 0) {
				memmove(c->ibuf, c->ibuf + c->ipos, c->ilen - c->ipos);
				c->ilen -= c->ipos;
				c->ipos = 0;
			} else if (c->icap < srv(c)->max_header_size + 4) {
				size_t cap = srv(c)->max_header_size + 4;
				char *nb = malloc(cap);

				if (nb == NULL) {
					conn_close(c);
					return;
				}
				memcpy(nb, c->ibuf, c->ilen);
				if (c->icap == FE_BLOCK)
					block_put(c->t, c->ibuf);
				else
					free(c->ibuf);
				c->ibuf = nb;
				c->icap = (uint32_t)cap;
			} else {
				/* the parser reports 431 before this can happen */
				conn_close(c);
				return;
			}
		}
		n = cio_read(c, c->ibuf + c->ilen, c->icap - c->ilen);
		if (n > 0) {
			if (c->state == CONN_LINGER) {
				c->ipos = c->ilen = 0;
				continue;
			}
			c->ilen += (uint32_t)n;
			if (c->rate_dir == RATE_IN)
				rate_add(c, (uint64_t)n);
			process_input(c);
			return;
		}
		if (n == 0) {
			/* Peer closed (or half-closed) its side: nothing more will come. */
			conn_close(c);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (c->state == CONN_IDLE)
				conn_release_buffers(c);
			return;
		}
		conn_close(c);
		return;
	}
}

void
http1_on_io(void *arg, uint32_t events)
{
	struct conn *c = arg;

	if (c->state == CONN_HANDLER && c->pr != NULL) {
		poolreq_client_event(c, events);
		return;
	}
	if (events & EPOLLOUT) {
		int r = flush(c);

		if (r == -1)
			return;
		if (r == 1) {
			after_output(c);
			return;
		}
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (c->flags & CF_WANT_WRITE) {
			/* Output blocked: read only to drop body bytes. */
			if (c->state != CONN_BODY_DISCARD && c->state != CONN_LINGER) {
				if (events & (EPOLLHUP | EPOLLERR))
					conn_close(c);
				return;
			}
		}
		on_readable(c);
	}
}

/*
 * The request an HTTP/2 stream's detached connection declined with, still
 * parsed (http1_serve_detached()), served on the same connection now that
 * its I/O is the stream (h2stream.c: h2s_pipe()): its head is neither
 * written out nor read and parsed again.
 */
void
http1_serve_parsed(struct conn *c)
{
	c->state = CONN_HEAD;
	conn_set_deadline(c, srv(c)->header_timeout);
	if (serve_parsed(c, c->req) == -1)
		return;
	process_input(c);	/* what it queued goes out; then the next request */
}

void
http1_start(struct conn *c)
{
	c->state = CONN_IDLE;
	conn_set_deadline(c, srv(c)->header_timeout);
	/* With TCP_DEFER_ACCEPT the request is usually here already. */
	on_readable(c);
}

/*
 * The client moved fewer bytes than min_request_rate / min_response_rate
 * over the last window (rate.c): 408 while nothing of a response was sent,
 * otherwise the connection is just closed.
 */
static void
rate_violation(struct conn *c)
{
	bool in = c->rate_dir == RATE_IN;

	rate_end(c);
	if (in && (c->pr == NULL || !c->pr->client_sent) &&
	    (c->state == CONN_HEAD || c->state == CONN_HANDLER) &&
	    !(c->flags & CF_WANT_WRITE)) {
		stat_add(&c->t->st_closed[FE_CLOSE_MINRATE], 1);
		http1_client_fault(c, 408, fe_close_tokens[FE_CLOSE_MINRATE], in ?
		    "client slower than min_request_rate" : "client slower than min_response_rate");
		return;
	}
	http1_drop(c, 0, FE_CLOSE_MINRATE);
}

void
http1_on_timer(void *arg)
{
	struct conn *c = arg;
	uint64_t now = loop_now(c->t->loop);

	if (rate_too_slow(c, now)) {
		rate_violation(c);
		return;
	}
	if (now < c->deadline) {
		uint64_t due = rate_due(c);

		loop_timer_set(c->t->loop, &c->timer,
		    (due < c->deadline ? (due > now ? due : now) : c->deadline) - now);
		return;
	}
	http1_deadline(c);
	/* a handler may have set a later deadline: the rate window still ends on time */
	if (c->state != CONN_CLOSED)
		rate_arm(c);
}

/* The connection's deadline passed: what it means depends on what it waits for. */
static void
http1_deadline(struct conn *c)
{
	switch (c->state) {
	case CONN_HANDLER:
		if (c->pr != NULL) {
			poolreq_client_timeout(c);
			break;
		}
		conn_close(c);
		break;
	case CONN_HEAD:
		if (c->flags & CF_WANT_WRITE) {
			/* client not reading its response */
			conn_close(c);
		} else if (c->ipos < c->ilen) {
			/*
			 * Slices a partial parse left point into the input
			 * buffer as it was then; it has been read into (and
			 * perhaps moved) since.
			 */
			if (c->req != NULL && !c->req->parsed)
				req_reset(c->req);
			http1_abort(c, 408, "Timer_HeaderWait",
			    "request header not received in time");
		} else {
			conn_close(c);
		}
		break;
	case CONN_BODY_DISCARD:
		if (c->req != NULL) {
			/* answered and logged: its body is what timed out */
			c->req->reason = "Timer_EntityBody";
			alog_httperr(c, c->req, 408, "Timer_EntityBody");
		}
		conn_close(c);
		break;
	default:
		conn_close(c);
		break;
	}
}
