/*
 * h2stream.c - an HTTP/2 stream served as a request of weir's one path.
 *
 * A stream without a request body is served in place first (h2s_native()):
 * its head, written as HTTP/1.1, is parsed and routed on a connection
 * without a socket (conn_new_detached(), http1_serve_detached()) -- the
 * same parser and limits, router, rewrite and alias rules, static handler
 * with its open-file cache, ranges and conditionals, error pages, access
 * log and counters as an HTTP/1.1 request.  Its response head becomes
 * HEADERS and its body (what follows the head in the output buffer, then
 * the request's segments: memory, or file ranges pread from the cache
 * entry's descriptor a frame at a time) DATA, as fast as the client's
 * window lets nghttp2 ask.  A stream that waits on its client for
 * send_timeout, or reads slower than min_response_rate, is reset
 * (native_timer()).
 *
 * A request a pool takes (proxy, FastCGI, native), and any request with a
 * body, runs on a connection of this thread whose socket is the stream
 * itself (h2s_pipe(): conn_new() without a descriptor, c->h2s set):
 * everything an HTTP/1.1 request goes through -- http1.c, the queue, the
 * pool handlers, spool, response_buffer, timeouts and rates, the access
 * log -- with every byte to or from "the client" going through cio.c,
 * which hands a connection with c->h2s to this file instead of a system
 * call (h2s_cio_read(), h2s_cio_writev(), h2s_cio_sendfile()):
 *  - what it reads is the request, written here as HTTP/1.1 (ob): the head,
 *    then the DATA frames' bytes (chunked when no content-length came);
 *    the client's window is given back (nghttp2_session_consume) only as
 *    the request takes them, so a request that does not take its body (a
 *    pool's queue, a spool at its limit) stops the client at one window.
 *  - what it writes is parsed as it comes (ib, one FE_BLOCK): the head
 *    becomes HEADERS, the body (de-chunked in place) DATA, which nghttp2
 *    takes as fast as the client's window lets it.  A full ib is a full
 *    socket to the writer (EAGAIN): a slow reader makes its request's
 *    connection wait exactly as a slow HTTP/1.1 client does (send_timeout,
 *    min_response_rate; a pool's worker is freed once the response fits in
 *    response_buffer), and other streams are not involved.
 * Readiness is what epoll would say of a socket: the connection's wanted
 * events are recorded (conn_set_events(), conn_want_write()), and when it
 * wants input that is here, or room that is here, its I/O callback is
 * called from a deferred kick (h2s_kick()), never from inside nghttp2 or
 * inside the connection's own call, which then also flushes the session.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

#include <nghttp2/nghttp2.h>

#include "log.h"
#include "util.h"
#include "trailers.h"
#include "frontend.h"

struct h2stream {
	struct h2link		 link;		/* first: the connection's streams */
	struct h2conn		*hc;
	struct conn		*c;		/* the client's connection */
	struct fe_thread	*t;		/* its thread: the freelists */
	int32_t			 id;
	/* the request, as it is decoded */
	char			*hb;		/* "name: value\r\n" lines: the head's, then the trailers' */
	size_t			 hblen, hbcap;
	char			 method[32];
	nghttp2_rcbuf		*path;		/* :path, nghttp2's (a reference) */
	nghttp2_rcbuf		*authority;	/* :authority or host, nghttp2's */
	bool			 has_cl;	/* content-length came */
	bool			 chunked;	/* the body goes chunked (no content-length) */
	bool			 is_head;
	/* to the request's connection: what it reads */
	char			*ob;		/* bytes it has not read */
	size_t			 olen, ooff, ocap;
	size_t			 unconsumed;	/* body bytes not yet given back to the window */
	/* from it: the response */
	char			*ib;		/* FE_BLOCK: head, then decoded body [bpos, ilen) */
	size_t			 ilen, bpos;
	bool			 head_done;	/* HEADERS submitted */
	bool			 no_body;
	bool			 resp_chunked;
	int64_t			 left;		/* Content-Length bytes to come; -1: until EOF */
	struct chunked_dec	 cd;		/* keeps the trailer section */
	bool			 done;		/* the whole body is in ib */
	bool			 failed;	/* reset: what the request writes is refused */
	bool			 deferred;	/* the data source waits for bytes */
	bool			 kicked;	/* h2s_kicked() is deferred */
	bool			 gone;		/* freed; memory kept until the loop batch ends */
	/* its request's connection: served in place (h2s_native()), or on the stream */
	struct conn		*nc;		/* detached (h2s_native()), or NULL */
	size_t			 hoff;		/* next body byte in nc->obuf */
	struct conn		*pc;		/* I/O through the stream (h2s_pipe()), or NULL */
};

static int	h2s_native(struct h2stream *st);
static int	h2s_pipe(struct h2stream *st);
static void	h2s_kick(struct h2stream *st);
static void	rcbuf_put(nghttp2_rcbuf **rb);

static struct conn *
client(const struct h2stream *st)
{
	return st->c;
}

/*
 * Room for n more bytes in a growing buffer: an FE_BLOCK of the thread's
 * freelist first (a request head fits: no malloc per stream), malloc'd
 * beyond (cap > FE_BLOCK then).  -1 when memory is out.
 */
static int
buf_room(struct fe_thread *t, char **b, size_t len, size_t *cap, size_t n)
{
	size_t nc;
	char *nb;

	if (len + n <= *cap)
		return 0;
	if (*b == NULL && n <= FE_BLOCK) {
		if ((*b = block_get(t)) == NULL)
			return -1;
		*cap = FE_BLOCK;
		return 0;
	}
	nc = (len + n) * 2 + FE_BLOCK;
	if (*cap == FE_BLOCK) {
		if ((nb = malloc(nc)) == NULL)
			return -1;
		memcpy(nb, *b, len);
		block_put(t, *b);
	} else if ((nb = realloc(*b, nc)) == NULL) {
		return -1;
	}
	*b = nb;
	*cap = nc;
	return 0;
}

/* Give a buffer of buf_room() back. */
static void
buf_put(struct fe_thread *t, char **b, size_t *len, size_t *cap)
{
	if (*cap == FE_BLOCK)
		block_put(t, *b);
	else
		free(*b);
	*b = NULL;
	*len = *cap = 0;
}

/* Append n bytes to a growing buffer.  -1 when memory is out. */
static int
buf_add(struct fe_thread *t, char **b, size_t *len, size_t *cap, const void *p, size_t n)
{
	if (buf_room(t, b, *len, cap, n) == -1)
		return -1;
	memcpy(*b + *len, p, n);
	*len += n;
	return 0;
}

struct h2stream *
h2s_new(struct h2conn *hc, struct conn *c, int32_t id)
{
	struct h2stream *st = objs_get(&c->t->free_streams, sizeof(*st));

	if (st == NULL)
		return NULL;
	st->hc = hc;
	st->c = c;
	st->t = c->t;
	st->id = id;
	st->left = -1;
	h2_link(hc, &st->link);
	return st;
}

static void
h2s_release(void *arg)
{
	struct h2stream *st = arg;

	objs_put(&st->t->free_streams, st);
}

/*
 * The stream is closed (or its connection goes): its request's connection
 * closes, so a request still running sees its client leave, as on HTTP/1.1.
 */
void
h2s_free(struct h2stream *st)
{
	struct fe_thread *t = st->t;

	h2_unlink(st->hc, &st->link);
	st->gone = true;	/* h2s_cio_closed() has nothing to do */
	if (st->nc != NULL)
		conn_close(st->nc);	/* logs a request not finished as dropped */
	if (st->pc != NULL)
		conn_close(st->pc);
	if (st->ib != NULL)
		block_put(t, st->ib);
	buf_put(t, &st->hb, &st->hblen, &st->hbcap);
	buf_put(t, &st->ob, &st->olen, &st->ocap);
	httpparse_chunked_free(&st->cd);
	rcbuf_put(&st->path);
	rcbuf_put(&st->authority);
	/* a deferred kick may still be due in this batch */
	if (loop_defer(t->loop, h2s_release, st) == -1)
		log_warnx("cannot defer freeing a stream: leaking %zu bytes", sizeof(*st));
}
/* --- the request ---------------------------------------------------------------- */

static bool
name_is(nghttp2_vec n, const char *lit)
{
	return strlen(lit) == n.len && memcmp(n.base, lit, n.len) == 0;
}

/* Keep a reference to nghttp2's buffer instead of a copy of its bytes. */
static void
rcbuf_keep(nghttp2_rcbuf **to, nghttp2_rcbuf *rb)
{
	nghttp2_rcbuf_incref(rb);
	if (*to != NULL)
		nghttp2_rcbuf_decref(*to);
	*to = rb;
}

static void
rcbuf_put(nghttp2_rcbuf **rb)
{
	if (*rb != NULL)
		nghttp2_rcbuf_decref(*rb);
	*rb = NULL;
}

/* Append "name: value\r\n" to hb.  -1 when memory is out. */
static int
hb_line(struct h2stream *st, nghttp2_vec name, nghttp2_vec value)
{
	if (buf_room(st->t, &st->hb, st->hblen, &st->hbcap, name.len + value.len + 4) == -1)
		return -1;
	memcpy(st->hb + st->hblen, name.base, name.len);
	st->hblen += name.len;
	memcpy(st->hb + st->hblen, ": ", 2);
	st->hblen += 2;
	memcpy(st->hb + st->hblen, value.base, value.len);
	st->hblen += value.len;
	memcpy(st->hb + st->hblen, "\r\n", 2);
	st->hblen += 2;
	return 0;
}

/*
 * One decoded field (nghttp2 has validated it: lowercase, no
 * connection-specific field, pseudo-fields first and once).  Pseudo-fields
 * make the request line and Host; the rest become field lines, but for
 * expect (100-continue has no meaning here: the body is already coming).
 */
int
h2s_header(struct h2stream *st, nghttp2_rcbuf *nrb, nghttp2_rcbuf *vrb)
{
	nghttp2_vec name = nghttp2_rcbuf_get_buf(nrb), value = nghttp2_rcbuf_get_buf(vrb);

	if (name.len > 0 && name.base[0] == ':') {
		if (name_is(name, ":method")) {
			size_t vlen = value.len;

			if (vlen >= sizeof(st->method))
				vlen = sizeof(st->method) - 1;	/* too long: 400 or 501 there */
			memcpy(st->method, value.base, vlen);
			st->method[vlen] = '\0';
			st->is_head = strcmp(st->method, "HEAD") == 0;
		} else if (name_is(name, ":path")) {
			rcbuf_keep(&st->path, vrb);
		} else if (name_is(name, ":authority")) {
			rcbuf_keep(&st->authority, vrb);
		}
		return 0;	/* :scheme: the listener says which */
	}
	if (name_is(name, "host")) {
		if (st->authority == NULL)
			rcbuf_keep(&st->authority, vrb);
		return 0;
	}
	if (name_is(name, "expect"))
		return 0;
	if (name_is(name, "content-length"))
		st->has_cl = true;
	return hb_line(st, name, value);
}

/*
 * A field of the request's trailing HEADERS: a line of the chunked body's
 * trailer section (h2s_body_end()), which the pool proxy filters for its
 * worker (trailers.c).  A body with content-length has no place for one
 * over HTTP/1.1: dropped then.  A section larger than an HTTP/1.1 one may
 * be resets the stream.
 */
int
h2s_trailer(struct h2stream *st, nghttp2_rcbuf *nrb, nghttp2_rcbuf *vrb)
{
	nghttp2_vec name = nghttp2_rcbuf_get_buf(nrb), value = nghttp2_rcbuf_get_buf(vrb);

	if (!st->chunked || st->pc == NULL)
		return 0;
	/* the decoder counts the final CRLF too */
	if (st->hblen + name.len + value.len + 4 + 2 > HTTPPARSE_MAX_TRAILER)
		return -1;
	return hb_line(st, name, value);
}

/*
 * The header block is complete: write the HTTP/1.1 request head and start
 * its connection.  A body without content-length goes chunked.
 */
int
h2s_headers_done(struct h2stream *st, bool end_stream)
{
	static const nghttp2_vec none = { (uint8_t *)"", 0 };
	nghttp2_vec path = st->path != NULL ? nghttp2_rcbuf_get_buf(st->path) : none;
	nghttp2_vec host = st->authority != NULL ? nghttp2_rcbuf_get_buf(st->authority) : none;
	size_t mlen = strlen(st->method);
	char *p;

	if (mlen == 0)
		return -1;	/* nghttp2 lets no request without :method through */
	/*
	 * Without a priority field (RFC 9218 §4: urgency 3, not incremental)
	 * nghttp2 would send the streams of a connection one after another:
	 * a client that asked for 40 files at once would see the last only
	 * when the 39 before it are done.  They share the connection instead,
	 * as RFC 7540's default did; a priority field the client sent is
	 * applied after this (nghttp2 reads it once the block is done) and
	 * wins.  Fails only for a stream nghttp2 no longer has.
	 */
	(void)nghttp2_session_change_extpri_stream_priority(h2_session(st->hc), st->id,
	    &(nghttp2_extpri){ NGHTTP2_EXTPRI_DEFAULT_URGENCY, 1 }, 0);
	if (strcmp(st->method, "CONNECT") == 0 && st->authority != NULL)
		path = host;
	st->chunked = !end_stream && !st->has_cl;
	/* the head at once: request line, Host, fields, framing */
	if (buf_room(st->t, &st->ob, st->olen, &st->ocap, mlen + path.len + host.len +
	    st->hblen + 64) == -1)
		return -1;
	p = st->ob + st->olen;
	memcpy(p, st->method, mlen);
	p += mlen;
	*p++ = ' ';
	memcpy(p, path.base, path.len);
	p += path.len;
	memcpy(p, " HTTP/1.1\r\n", 11);
	p += 11;
	if (st->authority != NULL) {
		memcpy(p, "Host: ", 6);
		memcpy(p + 6, host.base, host.len);
		memcpy(p + 6 + host.len, "\r\n", 2);
		p += host.len + 8;
	}
	if (st->hblen > 0)
		memcpy(p, st->hb, st->hblen);
	p += st->hblen;
	if (st->chunked) {
		memcpy(p, "Transfer-Encoding: chunked\r\n", 28);
		p += 28;
	}
	memcpy(p, "\r\n", 2);
	st->olen = (size_t)(p + 2 - st->ob);
	buf_put(st->t, &st->hb, &st->hblen, &st->hbcap);
	rcbuf_put(&st->path);
	rcbuf_put(&st->authority);

	/* without a body, served in place unless a pool takes it */
	if (end_stream) {
		int rc = h2s_native(st);

		if (rc != WEIR_DECLINED) {
			/* the request holds its own copy of the head (req_pin()) */
			buf_put(st->t, &st->ob, &st->olen, &st->ocap);
			return rc == WEIR_OK ? 0 : -1;
		}
	}
	return h2s_pipe(st);
}

/*
 * Request body bytes: queued for the request's connection to read.  Once
 * that connection is gone, what still comes is dropped (its window given
 * back) if the response is complete, else the stream is reset.
 */
int
h2s_body(struct h2stream *st, const uint8_t *d, size_t n)
{
	char hex[24];

	if (st->pc == NULL) {
		if (!st->done)
			return -1;
		(void)nghttp2_session_consume(h2_session(st->hc), st->id, n);
		return 0;
	}
	if (st->chunked) {
		int hn = snprintf(hex, sizeof(hex), "%zx\r\n", n);

		if (n == 0)
			return 0;
		if (buf_add(st->t, &st->ob, &st->olen, &st->ocap, hex, (size_t)hn) == -1 ||
		    buf_add(st->t, &st->ob, &st->olen, &st->ocap, d, n) == -1 ||
		    buf_add(st->t, &st->ob, &st->olen, &st->ocap, "\r\n", 2) == -1)
			return -1;
	} else if (buf_add(st->t, &st->ob, &st->olen, &st->ocap, d, n) == -1) {
		return -1;
	}
	st->unconsumed += n;
	h2s_kick(st);
	return 0;
}

/*
 * The request's body ended (END_STREAM on DATA or on trailing HEADERS): a
 * chunked one gets its last chunk and the trailer section (h2s_trailer()).
 */
int
h2s_body_end(struct h2stream *st)
{
	if (st->pc == NULL)
		return st->done ? 0 : -1;
	if (st->chunked && (buf_add(st->t, &st->ob, &st->olen, &st->ocap, "0\r\n", 3) == -1 ||
	    (st->hblen > 0 &&
	    buf_add(st->t, &st->ob, &st->olen, &st->ocap, st->hb, st->hblen) == -1) ||
	    buf_add(st->t, &st->ob, &st->olen, &st->ocap, "\r\n", 2) == -1))
		return -1;
	buf_put(st->t, &st->hb, &st->hblen, &st->hbcap);
	st->chunked = false;
	h2s_kick(st);
	return 0;
}

/* --- the response ---------------------------------------------------------------- */

/*
 * The response's trailer section, which the chunked decoder kept (the pool
 * proxy sent it filtered; filtered again here, names lowercase), as a
 * trailing HEADERS frame with END_STREAM: read_body() calls this at the
 * body's end, where nghttp2 lets it be submitted.  false when there is
 * none, or no memory for it (then the DATA ends the stream, without it).
 */
static bool
submit_trailers(struct h2stream *st)
{
	struct chunked_dec *d = &st->cd;
	const char *p, *end;
	struct hstr name, value;
	nghttp2_nv *nva;
	size_t n = 0;
	int rv;

	if (d->trailers_len == 0)
		return false;
	d->trailers_len = trailers_filter(d->trailers, d->trailers_len, 0);
	end = d->trailers + d->trailers_len;
	for (p = d->trailers; trailers_next(&p, end, &name, &value);)
		n++;
	if (n == 0 || (nva = calloc(n, sizeof(*nva))) == NULL)
		return false;
	n = 0;
	for (p = d->trailers; trailers_next(&p, end, &name, &value);)
		nva[n++] = (nghttp2_nv){ (uint8_t *)(uintptr_t)name.p,
		    (uint8_t *)(uintptr_t)value.p, name.n, value.n, NGHTTP2_NV_FLAG_NONE };
	/* nghttp2 copies the fields */
	rv = nghttp2_submit_trailer(h2_session(st->hc), st->id, nva, n);
	free(nva);
	return rv == 0;
}

static ssize_t
read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
    nghttp2_data_source *src, void *arg)
{
	struct h2stream *st = src->ptr;
	size_t n = st->ilen - st->bpos;

	(void)s;
	(void)id;
	(void)arg;
	if (n > len)
		n = len;
	memcpy(buf, st->ib + st->bpos, n);
	st->bpos += n;
	if (st->bpos == st->ilen) {
		st->bpos = st->ilen = 0;
		if (st->done) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
			if (submit_trailers(st))
				*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			return (ssize_t)n;
		}
	}
	if (n == 0) {
		st->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	/* room again: a request waiting to write goes on */
	if (st->pc != NULL && (st->pc->io.events & LOOP_WRITE))
		h2s_kick(st);
	return (ssize_t)n;
}

/* Fields of an HTTP/1.1 response that HTTP/2 forbids (RFC 9113 §8.2.2). */
static bool
hop_field(struct hstr n)
{
	/* most fields are none of them: their length says so at once */
	if (n.n != 10 && n.n != 7 && n.n != 16 && n.n != 17)
		return false;
	return hstr_eq_ci(n, "connection") || hstr_eq_ci(n, "keep-alive") ||
	    hstr_eq_ci(n, "proxy-connection") || hstr_eq_ci(n, "transfer-encoding") ||
	    hstr_eq_ci(n, "upgrade");
}

/*
 * A response head weir composed itself, whole in b[0..n): "HTTP/1.1 NNN
 * reason", then "Name: value" lines, each ending in CRLF, then CRLF --
 * http1_resp_begin() and the handlers in place, and for a pool's answer
 * proxy.c's and fastcgi.c's client heads, made of fields the worker's head
 * had to pass httpparse_response() for.  Split into res without checking
 * them again: the parser would cost as much as the rest of a small file's
 * stream.  Returns the head's length, or -1 for anything else (chunked, a
 * head not all there yet), which httpparse_response() then judges.
 */
static int
own_head(const char *b, size_t n, struct http_response *res)
{
	const char *p, *e = b + n, *le, *colon;

	if (n < 14 || memcmp(b, "HTTP/1.1 ", 9) != 0 || b[9] < '1' || b[9] > '5' ||
	    b[10] < '0' || b[10] > '9' || b[11] < '0' || b[11] > '9' || b[12] != ' ')
		return -1;
	res->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
	res->flags = 0;
	res->content_length = -1;
	res->nheaders = 0;
	if ((le = memchr(b + 12, '\n', n - 12)) == NULL || le[-1] != '\r')
		return -1;
	for (p = le + 1;; p = le + 1) {
		struct http_header *h;

		if (e - p < 2)
			return -1;
		if (p[0] == '\r' && p[1] == '\n')
			break;
		if ((le = memchr(p, '\n', (size_t)(e - p))) == NULL || le[-1] != '\r' ||
		    (colon = memchr(p, ':', (size_t)(le - p))) == NULL || colon == p ||
		    colon + 2 > le - 1 || colon[1] != ' ' || res->nheaders == HTTPPARSE_MAX_HEADERS)
			return -1;
		h = &res->headers[res->nheaders++];
		h->name = (struct hstr){ p, (size_t)(colon - p) };
		h->value = (struct hstr){ colon + 2, (size_t)(le - 1 - (colon + 2)) };
		if (h->name.n == 17 && hstr_eq_ci(h->name, "transfer-encoding"))
			return -1;
		if (h->name.n == 14 && hstr_eq_ci(h->name, "content-length")) {
			if ((res->flags & HTTP_F_HAS_CL) ||
			    !httpparse_cl_parse(h->value, &res->content_length))
				return -1;
			res->flags |= HTTP_F_HAS_CL;
		}
	}
	return (int)(p + 2 - b);
}

/*
 * An HTTP/1.1 response head at b[0..n), weir's own (own_head()): submit it
 * as HEADERS, its body to come from `read`.  Returns bytes of b it took, 0
 * when more are needed, -1 when the response cannot be framed.
 */
static ssize_t
submit_head(struct h2stream *st, const char *b, size_t n,
    nghttp2_data_source_read_callback read)
{
	static _Thread_local struct http_response res;
	struct httpparse_limits lim = { FE_BLOCK, FE_BLOCK, HTTPPARSE_MAX_HEADERS };
	nghttp2_nv nva[HTTPPARSE_MAX_HEADERS + 1];
	char status[4];
	size_t nv = 0;
	const char *why;
	nghttp2_data_provider prd = { .source.ptr = st, .read_callback = read };
	int r = own_head(b, n, &res);

	if (r < 0)
		r = httpparse_response(b, n, &res, &lim, &why);

	if (r == WEIR_AGAIN)
		return n == FE_BLOCK ? -1 : 0;
	if (r < 0)
		return -1;
	if (res.status < 200 && res.status != 101)
		return r;	/* interim (100, 103): not forwarded */
	/* per response: not worth a printf (100..999, the parser's range) */
	status[0] = (char)('0' + res.status / 100 % 10);
	status[1] = (char)('0' + res.status / 10 % 10);
	status[2] = (char)('0' + res.status % 10);
	status[3] = '\0';
	nva[nv++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)status, 7, 3,
	    NGHTTP2_NV_FLAG_NO_COPY_NAME };
	/*
	 * HTTP/2 field names are lowercase: nghttp2 lowers each name as it
	 * copies it (nghttp2_nv_array_copy()), so the head's names go as they
	 * are written.
	 */
	for (size_t i = 0; i < res.nheaders; i++) {
		const struct http_header *h = &res.headers[i];

		if (hop_field(h->name))
			continue;
		nva[nv++] = (nghttp2_nv){ (uint8_t *)(uintptr_t)h->name.p,
		    (uint8_t *)(uintptr_t)h->value.p, h->name.n, h->value.n, NGHTTP2_NV_FLAG_NONE };
	}
	st->no_body = st->is_head || res.status == 204 || res.status == 304;
	st->resp_chunked = (res.flags & HTTP_F_CHUNKED) != 0;
	st->left = res.content_length;
	if (st->resp_chunked)
		httpparse_chunked_init(&st->cd);
	if (!st->no_body && !st->resp_chunked && st->left == 0)
		st->no_body = true;
	if (st->no_body)
		st->done = true;
	/* nghttp2 copies the fields: ib may be reused right after */
	if (nghttp2_submit_response(h2_session(st->hc), st->id, nva, nv,
	    st->no_body ? NULL : &prd) != 0)
		return -1;
	st->head_done = true;
	return r;
}

/*
 * Does the client hold this stream's response back: its window for the
 * stream spent?  Only then is the stream judged alone (min_response_rate,
 * send_timeout).  A stream that waits on its turn among the connection's
 * streams is not; a client that holds the whole connection (its socket
 * full, or no window left for the connection) is judged as a whole, for
 * all its streams (h2.c).
 */
bool
h2s_client_holds(const struct h2stream *st)
{
	return nghttp2_session_get_stream_remote_window_size(h2_session(st->hc), st->id) <= 0;
}

/* --- served in place -------------------------------------------------------------- */

/* The detached request's body is all handed over: no more segments. */
static bool
native_end(struct h2stream *st)
{
	struct conn *nc = st->nc;
	struct req *r = nc->req;

	while (nc->seg < r->nsegs && r->segs[nc->seg].len == 0)
		nc->seg++;
	return st->hoff == nc->olen && nc->seg == r->nsegs;
}

/* The response is all handed to nghttp2: log it, stop its clocks. */
static void
native_sent(struct h2stream *st)
{
	struct conn *nc = st->nc;

	rate_end(nc);
	loop_timer_cancel(nc->t->loop, &nc->timer);
	http1_detached_done(nc);
}

/*
 * The timer of a stream served in place, while its body waits on the
 * client (its window, or the connection's socket): the stream is reset
 * when the client took nothing for send_timeout or reads slower than
 * min_response_rate, as its request's connection would be on HTTP/1.1.
 */
static void
native_timer(void *arg)
{
	struct h2stream *st = arg;
	struct conn *nc = st->nc;
	uint64_t now = loop_now(nc->t->loop), due;

	(void)rate_stream_waits(nc, st);	/* its turn not come: clocks restarted */
	if (rate_too_slow(nc, now)) {
		stat_add(&nc->t->st_closed[FE_CLOSE_MINRATE], 1);
		nc->req->reason = fe_close_tokens[FE_CLOSE_MINRATE];
	} else if (now < nc->deadline) {
		due = rate_due(nc);
		loop_timer_set(nc->t->loop, &nc->timer,
		    (due < nc->deadline ? (due > now ? due : now) : nc->deadline) - now);
		return;
	}
	/* logged when the stream closes (conn_close(): Connection_Dropped or the rate's) */
	(void)nghttp2_submit_rst_stream(h2_session(st->hc), NGHTTP2_FLAG_NONE, st->id,
	    NGHTTP2_INTERNAL_ERROR);	/* fails only for a stream gone */
	h2_flush(st->hc);
}

/* Body bytes of a stream served in place not yet handed to nghttp2. */
static uint64_t
native_left(const struct h2stream *st)
{
	const struct conn *nc = st->nc;
	const struct req *r = nc->req;
	uint64_t n = nc->olen - st->hoff;

	for (unsigned i = nc->seg; i < r->nsegs; i++)
		n += r->segs[i].len;
	return n;
}

/*
 * DATA of a stream served in place: the body bytes after the head in the
 * output buffer, then the request's segments, memory or file ranges of the
 * open-file cache's entry.  nghttp2 asks how much goes in a frame (this,
 * only as fast as the client's window lets it), and h2s_native_copy()
 * puts the bytes straight into the connection's output
 * (NGHTTP2_DATA_FLAG_NO_COPY): only a frame's worth of a file is ever in
 * memory, and it is copied once.
 */
static ssize_t
read_native(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
    nghttp2_data_source *src, void *arg)
{
	struct h2stream *st = src->ptr;
	uint64_t left = native_left(st);
	size_t n = left < len ? (size_t)left : len;

	(void)s;
	(void)id;
	(void)buf;
	(void)arg;
	*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	if (n == left)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	else
		conn_set_deadline(st->nc, st->nc->gen->conf->server.send_timeout);
	return (ssize_t)n;
}

/* The n bytes read_native() promised, into dst (h2.c: on_send_data()). */
int
h2s_native_copy(struct h2stream *st, char *dst, size_t n)
{
	struct conn *nc = st->nc;
	struct req *r = nc->req;
	size_t done = 0;

	while (done < n) {
		struct sendseg *sg;
		size_t k = n - done;

		if (st->hoff < nc->olen) {
			if (k > nc->olen - st->hoff)
				k = nc->olen - st->hoff;
			memcpy(dst + done, nc->obuf + st->hoff, k);
			st->hoff += k;
			done += k;
			continue;
		}
		if (nc->seg >= r->nsegs)
			return -1;	/* fewer bytes than read_native() counted: cannot be */
		sg = &r->segs[nc->seg];
		if (sg->len == 0) {
			nc->seg++;
			continue;
		}
		if (k > sg->len)
			k = (size_t)sg->len;
		if (sg->p != NULL) {
			memcpy(dst + done, sg->p, k);
			sg->p += k;
		} else {
			ssize_t w = pread(r->fent->fd, dst + done, k, (off_t)sg->off);

			if (w == -1 && errno == EINTR)
				continue;
			if (w <= 0) {
				/* the framing is lost: the stream is reset */
				if (w == 0)
					log_warnx("%s: file shrank while being sent", r->path);
				else
					log_warn("%s: pread", r->path);
				return -1;
			}
			k = (size_t)w;
			sg->off += k;
		}
		sg->len -= k;
		done += k;
	}
	rate_add(nc, n);
	if (native_end(st))
		native_sent(st);
	return 0;
}

/*
 * Serve a stream without a body in place: its request head (st->ob) goes
 * through http1_serve_detached() on a connection without a socket, and its
 * answer -- a static file, a redirect, an error page -- to nghttp2, with
 * no syscall but the pread()s.  WEIR_DECLINED when a pool would take it:
 * h2s_pipe() serves it then, on the same connection (st->nc).
 */
static int
h2s_native(struct h2stream *st)
{
	struct conn *c = client(st), *nc;
	ssize_t h;
	int rc;

	if ((nc = conn_new_detached(c->t, c->addr, &c->peer.sa, sizeof(c->peer))) == NULL)
		return WEIR_ERROR;
	nc->proto = CONN_PROTO_H2;
	if (c->ssl != NULL && SSL_up_ref(c->ssl) == 1)
		nc->stream_tls = c->ssl;
	st->nc = nc;
	rc = http1_serve_detached(nc, st->ob, st->olen);
	if (rc == WEIR_DECLINED)
		return rc;	/* nc goes on to h2s_pipe() */
	if (rc != WEIR_OK) {
		conn_close(nc);		/* a no-op when it closed itself */
		st->nc = NULL;
		return WEIR_ERROR;
	}
	h = submit_head(st, nc->obuf, nc->olen, read_native);
	if (h <= 0)
		return WEIR_ERROR;
	st->hoff = (size_t)h;
	if (st->no_body) {
		/* nothing of a body goes (HEAD, 204, 304): as sent */
		st->hoff = nc->olen;
		nc->req->nsegs = 0;
	}
	/* all of it in the output buffer: queued, as HTTP/1.1 logs it */
	if (native_end(st)) {
		http1_detached_done(nc);
		return WEIR_OK;
	}
	loop_timer_init(&nc->timer, native_timer, st);
	rate_begin(nc, RATE_OUT);
	conn_set_deadline(nc, nc->gen->conf->server.send_timeout);
	rate_arm(nc);
	return WEIR_OK;
}

/* Decode the body bytes in ib[from..ilen) in place (chunked) or count them. */
static int
h2s_body_in(struct h2stream *st, size_t from)
{
	size_t n = st->ilen - from;

	if (st->done) {
		st->ilen = from;	/* bytes after the end: none are expected */
		return 0;
	}
	if (st->resp_chunked) {
		size_t out, used;
		const char *why;
		int r = httpparse_chunked(&st->cd, st->ib + from, n, &out, &used, &why);

		if (r < 0)
			return -1;
		st->ilen = from + out;
		if (r == 1)
			st->done = true;
		return 0;
	}
	if (st->left >= 0) {
		if ((uint64_t)n >= (uint64_t)st->left) {
			st->ilen = from + (size_t)st->left;
			st->left = 0;
			st->done = true;
		} else {
			st->left -= (int64_t)n;
		}
	}
	return 0;
}


/* --- the request's connection on the stream ------------------------------------- */

/* What the request's connection wants (its recorded events) that is ready. */
static uint32_t
pc_ready(const struct h2stream *st)
{
	uint32_t ev = 0;

	if (st->pc == NULL)
		return 0;
	if ((st->pc->io.events & LOOP_READ) && st->ooff < st->olen)
		ev |= LOOP_READ;
	if ((st->pc->io.events & LOOP_WRITE) &&
	    (st->done || st->failed || st->ilen - st->bpos < FE_BLOCK))
		ev |= LOOP_WRITE;
	return ev;
}

/*
 * Deferred (h2s_kick()): call the request's connection for what is ready,
 * let nghttp2 take what came of the response, and frame it.
 */
static void
h2s_kicked(void *arg)
{
	struct h2stream *st = arg;
	uint32_t ev;

	st->kicked = false;
	if (st->gone)
		return;
	if ((ev = pc_ready(st)) != 0)
		st->pc->io.cb(st->pc->io.arg, ev);
	/* its callback never frees the stream: a close only resets it */
	if (st->deferred && (st->bpos < st->ilen || st->done)) {
		st->deferred = false;
		(void)nghttp2_session_resume_data(h2_session(st->hc), st->id);
	}
	h2_flush(st->hc);	/* may free the stream: nothing after */
}

/* Have h2s_kicked() run at the end of this loop batch (once). */
static void
h2s_kick(struct h2stream *st)
{
	if (st->kicked || st->gone)
		return;
	if (loop_defer(client(st)->t->loop, h2s_kicked, st) == -1) {
		log_warnx("cannot defer an HTTP/2 stream's I/O: it waits for the next event");
		return;
	}
	st->kicked = true;
}

/* The stream cannot carry the response: reset it, refuse what is written. */
static void
h2s_fail(struct h2stream *st)
{
	st->failed = true;
	(void)nghttp2_submit_rst_stream(h2_session(st->hc), NGHTTP2_FLAG_NONE, st->id,
	    NGHTTP2_INTERNAL_ERROR);	/* fails only for a stream gone */
	h2s_kick(st);
}

/*
 * The request's connection for a stream a pool may take, or with a body:
 * a connection like an accepted one, of the client's address and TLS
 * session, whose socket is this stream (see the top of the file).
 */
static int
h2s_pipe(struct h2stream *st)
{
	struct conn *c = client(st), *pc = st->nc;
	bool parsed = false;

	if (pc != NULL) {
		/* the detached connection h2s_native() declined with: the same, but I/O */
		st->nc = NULL;
		pc->detached = false;
		parsed = pc->req != NULL && pc->req->parsed;
		if (parsed)	/* served as it is: its head is not read again */
			buf_put(st->t, &st->ob, &st->olen, &st->ocap);
		else
			pc->nreq = 0;	/* what it parsed was not served */
	} else {
		if ((pc = conn_new(c->t, -1, c->addr, &c->peer.sa, sizeof(c->peer))) == NULL)
			return -1;
		pc->internal = true;
		pc->proto = CONN_PROTO_H2;
		if (c->ssl != NULL && SSL_up_ref(c->ssl) == 1)
			pc->stream_tls = c->ssl;
	}
	if (c->ssl != NULL)
		tlsvars_share(c, pc);
	pc->io.cb = http1_on_io;
	pc->io.arg = pc;
	pc->io.events = LOOP_READ;
	pc->h2s = st;
	st->pc = pc;
	if (parsed)
		http1_serve_parsed(pc);	/* may close pc */
	else
		http1_start(pc);	/* reads the head at once; may close pc */
	return 0;
}

ssize_t
h2s_cio_read(struct h2stream *st, void *buf, size_t n)
{
	size_t k = st->olen - st->ooff;

	if (k == 0 || st->gone) {
		errno = EAGAIN;	/* the end of a request is its framing, never EOF */
		return -1;
	}
	if (k > n)
		k = n;
	memcpy(buf, st->ob + st->ooff, k);
	st->ooff += k;
	if (st->ooff == st->olen) {
		st->ooff = st->olen = 0;
		if (st->unconsumed > 0) {
			/* all taken: the client may send as much again */
			(void)nghttp2_session_consume(h2_session(st->hc), st->id,
			    st->unconsumed);	/* fails only for a stream gone */
			st->unconsumed = 0;
			h2s_kick(st);	/* WINDOW_UPDATE goes out */
		}
	}
	return (ssize_t)k;
}

/* Bytes of the response at ib[from..ilen): the head to HEADERS, the body on. */
static int
h2s_took(struct h2stream *st, size_t from)
{
	if (!st->head_done) {
		ssize_t h;

		while (!st->head_done &&
		    (h = submit_head(st, st->ib, st->ilen, read_body)) != 0) {
			if (h < 0)
				return -1;
			memmove(st->ib, st->ib + h, st->ilen - (size_t)h);
			st->ilen -= (size_t)h;
		}
		if (!st->head_done)
			return 0;
		from = 0;
		st->cd.keep_trailers = st->resp_chunked;	/* for submit_trailers() */
	}
	return h2s_body_in(st, from);
}

/*
 * Room in ib for a write of `want` bytes: >0, or -1 with errno (EAGAIN:
 * full until the client takes some; EPIPE: the stream is reset).  0 when
 * the response is complete and what comes after is dropped.
 */
static ssize_t
h2s_room(struct h2stream *st, size_t want)
{
	if (st->gone || st->failed) {
		errno = EPIPE;
		return -1;
	}
	if (st->done)
		return 0;
	if (st->ib == NULL && (st->ib = block_get(client(st)->t)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (st->bpos > 0 && (st->bpos == st->ilen || FE_BLOCK - st->ilen < want)) {
		memmove(st->ib, st->ib + st->bpos, st->ilen - st->bpos);
		st->ilen -= st->bpos;
		st->bpos = 0;
	}
	if (st->ilen == FE_BLOCK) {
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)(FE_BLOCK - st->ilen);
}

/* n bytes were put at ib[from..): parse them, have them framed. */
static ssize_t
h2s_wrote(struct h2stream *st, size_t from, size_t n)
{
	st->ilen = from + n;
	if (h2s_took(st, from) == -1) {
		h2s_fail(st);
		errno = EPIPE;
		return -1;
	}
	h2s_kick(st);
	return (ssize_t)n;
}

ssize_t
h2s_cio_writev(struct h2stream *st, const struct iovec *iov, int cnt)
{
	size_t want = 0, got = 0, from;
	ssize_t room;

	for (int i = 0; i < cnt; i++)
		want += iov[i].iov_len;
	if ((room = h2s_room(st, want)) <= 0)
		return room == 0 ? (ssize_t)want : -1;
	from = st->ilen;
	for (int i = 0; i < cnt && got < (size_t)room; i++) {
		size_t k = iov[i].iov_len;

		if (k > (size_t)room - got)
			k = (size_t)room - got;
		memcpy(st->ib + from + got, iov[i].iov_base, k);
		got += k;
	}
	return h2s_wrote(st, from, got);
}

ssize_t
h2s_cio_sendfile(struct h2stream *st, int fd, off_t *off, size_t n)
{
	ssize_t room = h2s_room(st, n), r;

	if (room <= 0) {
		if (room == 0)
			*off += (off_t)n;
		return room == 0 ? (ssize_t)n : -1;
	}
	do {
		r = pread(fd, st->ib + st->ilen, n < (size_t)room ? n : (size_t)room, *off);
	} while (r == -1 && errno == EINTR);
	if (r <= 0)
		return r;
	*off += r;
	return h2s_wrote(st, st->ilen, (size_t)r);
}

/* The request's connection recorded the events it wants: any ready? */
void
h2s_cio_events(struct h2stream *st)
{
	if (pc_ready(st) != 0)
		h2s_kick(st);
}

/*
 * The request's connection closed (conn_close()).  A response it ended
 * before its framing did is cut: the stream is reset, as on a socket.
 */
void
h2s_cio_closed(struct h2stream *st)
{
	if (st->gone)
		return;
	st->pc = NULL;
	if (!st->done) {
		if (st->head_done && !st->resp_chunked && st->left < 0)
			st->done = true;	/* delimited by the close */
		else
			h2s_fail(st);
	}
	h2s_kick(st);
}
