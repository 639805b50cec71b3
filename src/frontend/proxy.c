/*
 * proxy.c - the pool handler: a request goes to a worker of its pool over
 * HTTP/1.1 on a kept-alive Unix-socket connection, and the response comes
 * back, both bodies streamed with backpressure (no whole-body buffering).
 *
 * With request_buffering (the default) a request body is read whole by the
 * front end first (spool.c) and sent with Content-Length, even if it came
 * chunked; with it off the body streams to the worker as it arrives.
 *
 * The client connection belongs to the front end, never to a worker: if the
 * worker dies before any byte of the response reached the client, an
 * idempotent request whose body is not lost (none, or a buffered one) is
 * retried once (on another worker, or queued for the replacement);
 * otherwise the client gets 502 and keeps its connection.  A worker that
 * closes while the body is still being sent is noticed at once (502), not
 * when the next body byte cannot be written.  Hop-by-hop headers are dropped both ways (RFC 9110 §7.6.1) and
 * Forwarded / X-Forwarded-* are set.  The worker's response framing is
 * re-done for the client: Content-Length passes through, anything else is
 * chunked for HTTP/1.1 and close-delimited for HTTP/1.0.
 *
 * The two directions run at the same time (full duplex: HTTP/1.1 lets a
 * server answer before the request is complete): the body goes on
 * to the worker while its answer comes back, each with its own bounded
 * buffer, so a worker that echoes a body as it reads it (a streaming
 * upload, a gRPC-like echo, a script that flushes early) does not stall.
 * A worker that answers and stops reading (an early 413 and a close) is
 * sent nothing more and its answer goes to the client whole; as nginx
 * does, the client's connection is then closed (after a linger) unless
 * its body was read whole or none of it was taken (poolreq.c's
 * settle_body()), since the rest cannot be told from the next request.
 *
 * A client slower than its worker does not hold the worker: once the
 * client's socket is full, the rest of the response is read on into a
 * response buffer (memory, then a nameless file under state_dir/spool, up
 * to the pool's response_buffer), and the worker is given back as soon as
 * it has sent everything (nginx's proxy_buffering).  Beyond the bound the
 * worker waits for the client as before.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "log.h"
#include "util.h"
#include "trailers.h"
#include "frontend.h"

/*
 * Buffers.  Upstream input starts as one FE_BLOCK of the thread's pool and
 * grows to PX_INBUF for a response that needs it (a large header section,
 * a body to hold or to stream); the request head and the client output
 * start as pool blocks too.  A small request then costs no malloc: a fresh
 * 64 KiB buffer per request also made glibc trim and grow its heap (brk,
 * page faults) every time.
 */
#define PX_INBUF		(64 * 1024)	/* upstream input (head and body), at most */
#define PX_BODYBUF		(64 * 1024)	/* request body staging */
/* its allocation: a chunk of PX_BODYBUF, then the last chunk's trailer section */
#define PX_BODYALLOC		(PX_BODYBUF + HTTPPARSE_MAX_TRAILER + 64)

enum framing {
	FR_NONE = 0,
	FR_LENGTH,
	FR_CHUNKED,
	FR_CLOSE
};

struct proxy {
	struct poolreq		 pr;		/* first: the life of a pool request */
	bool			 head_held;	/* head parsed, held until the small body is in */
	const struct conf_app	*app;		/* the route: strip_prefix */
	bool			 up_reusable;
	bool			 te_trailers;	/* the client's TE lists "trailers" */
	bool			 fwd_trailers;	/* the worker's trailer section goes to the client */
	/* request: head for the worker, then the body from the client */
	char			*head;		/* a pool block if head_block, else malloc'd */
	bool			 head_block;
	size_t			 headlen, headoff;
	int			 reqbody;	/* enum framing */
	uint64_t		 req_left;	/* FR_LENGTH: body bytes still to forward */
	bool			 buffered;	/* the body is read whole first, into sp */
	struct spool		 sp;
	uint64_t		 sp_off;	/* next spooled byte to stage */
	struct chunked_dec	 req_chunk;
	bool			 req_done;	/* whole body forwarded */
	bool			 req_stop;	/* the worker takes no more of it (answered and closed) */
	char			*body;		/* staging to the worker */
	size_t			 bodylen, bodyoff;
	/* response */
	char			*in;		/* upstream input: a pool block or PX_INBUF malloc'd */
	size_t			 inlen, incap;
	size_t			 dataoff, dataend;	/* body bytes in `in` for the client */
	int			 resbody;	/* enum framing from the worker */
	uint64_t		 res_left;
	struct chunked_dec	 res_chunk;
	bool			 client_chunked;
	bool			 res_done;
	int			 status;
	char			*out;		/* head and chunk framing to the client */
	size_t			 outlen, outoff, outcap;
	bool			 out_block;	/* out is a pool block */
	/* the response buffer: what a slow client has not taken yet */
	bool			 rs_on;		/* client output goes through rs */
	struct spool		 rs;
	uint64_t		 rs_off;	/* next byte of rs for the client */
};

struct proxy_handler {
	struct handler		 super;
	struct frontend		*fe;
	struct fe_pool		*pool;
	const struct conf_app	*app;		/* its route (strip_prefix) */
};

static void	spooled(struct proxy *px);

static void
up_set(struct proxy *px, uint32_t ev)
{
	if (px->pr.up != NULL)
		upstream_set(px->pr.up, ev);
}

/* --- request head ------------------------------------------------------------- */

static bool
is_hop_by_hop(struct hstr name, const struct http_request *h)
{
	static const char *hop[] = { "connection", "keep-alive", "proxy-connection",
	    "te", "trailer", "transfer-encoding", "upgrade", "expect", "host",
	    "content-length", "x-forwarded-proto", "x-forwarded-host",
	    "x-forwarded-for", "forwarded", "proxy" };
	const struct http_header *conn;

	for (size_t i = 0; i < nitems(hop); i++)
		if (hstr_eq_ci(name, hop[i]))
			return true;
	/* Headers the client named in Connection are hop-by-hop too. */
	for (size_t i = 0; i < h->nheaders; i++) {
		const char *v, *e;
		struct hstr el;

		conn = &h->headers[i];
		if (!hstr_eq_ci(conn->name, "connection"))
			continue;
		v = conn->value.p;
		e = v + conn->value.n;
		while (httpparse_list_next(&v, e, &el))
			if (el.n == name.n && ascii_casecmp_n(el.p, name.p, el.n))
				return true;
	}
	return false;
}


/* The client's address; for Forwarded (RFC 7239 §6) IPv6 is "[quoted]". */
static char *
put_peer(char *p, const struct conn *c, bool forwarded)
{
	char a[INET6_ADDRSTRLEN];
	size_t n = fmt_ip(a, &c->peer.sa);
	bool v6 = forwarded && c->peer.sa.sa_family == AF_INET6;

	if (n == 0)
		return PUTS(p, "unknown");
	if (v6)
		p = PUTS(p, "\"[");
	p = put(p, a, n);
	if (v6)
		p = PUTS(p, "]\"");
	return p;
}

/*
 * The values of every field line named `name`, joined with ", " (one list,
 * RFC 9110 §5.3).  Returns p unchanged when there is none.
 */
static char *
put_list(char *p, const struct http_request *h, const char *name)
{
	char *start = p;

	for (size_t i = 0; i < h->nheaders; i++) {
		const struct http_header *f = &h->headers[i];

		if (!hstr_eq_ci(f->name, name))
			continue;
		if (p != start)
			p = PUTS(p, ", ");
		p = put(p, f->value.p, f->value.n);
	}
	return p;
}

/*
 * The head the worker gets: origin-form target, the client's fields minus
 * hop-by-hop ones (and, unless underscores_in_headers, names with '_',
 * which WSGI, CGI and PHP would merge with their '-' twins), Host, framing
 * of our own, and where the request came from (forward.c): X-Forwarded-*
 * and Forwarded are weir's own, unless the peer is a trusted proxy, whose
 * values are kept and to which weir appends its hop.  The target is the
 * client's, or a rewrite's; a route with strip_prefix sends the path below
 * its prefix (re-encoded from the normalized path) and the prefix as
 * X-Forwarded-Prefix.  A request that came over TLS says so (proto https)
 * and carries the connection's X-TLS-* values (tlsvars.c); a client's own
 * X-TLS-* fields never pass.
 */
static char *
put_target(char *p, const struct proxy *px)
{
	const struct req *r = px->pr.r;
	const struct http_request *h = &r->h;
	const struct conf_app *a = px->app;

	if (a != NULL && a->strip_prefix && a->prefixlen > 1) {
		struct hstr q = router_query(r);
		size_t rest = r->pathlen - a->prefixlen;

		if (rest == 0)
			*p++ = '/';
		else
			p += path_encode(p, 3 * rest, r->path + a->prefixlen, rest, false);
		if (q.p != NULL) {
			*p++ = '?';
			p = put(p, q.p, q.n);
		}
		return p;
	}
	if (r->target != NULL)
		return put(p, r->target, r->targetlen);
	if (h->target_form == HTTP_TARGET_ABSOLUTE) {
		p = put(p, h->path.p, h->path.n);
		if (h->query.p != NULL) {
			*p++ = '?';
			p = put(p, h->query.p, h->query.n);
		}
		return p;
	}
	return put(p, h->target.p, h->target.n);
}

/*
 * The client's Trailer field (the names it announces), for a body that
 * goes chunked to the worker and so may end with them.
 */
static char *
put_trailer_field(char *p, const struct http_request *h)
{
	char *q = PUTS(p, "Trailer: "), *e = put_list(q, h, "trailer");

	return e == q ? p : PUTS(e, "\r\n");
}

static int
build_head(struct proxy *px)
{
	const struct req *r = px->pr.r;
	const struct http_request *h = &r->h;
	const struct conf_server *srv = &px->pr.c->gen->conf->server;
	bool trusted = forward_trusted(srv, &px->pr.c->peer.sa);
	bool strip = px->app != NULL && px->app->strip_prefix && px->app->prefixlen > 1;
	size_t cap = h->header_len + 1024 + 2 * h->host.n + 3 * r->pathlen +
	    r->targetlen + (strip ? px->app->prefixlen + 32 : 0);
	const struct tlsvars *tv;
	const char *proto;
	char *p, *q;

	if (tlsvars_get(px->pr.c, &tv) == -1)
		return -1;
	proto = tv != NULL ? "https" : "http";
	if (tv != NULL)
		cap += tlsvars_headers_size(tv);

	px->head_block = cap <= FE_BLOCK;
	if ((px->head = px->head_block ? block_get(px->pr.t) : malloc(cap)) == NULL)
		return -1;
	p = px->head;
	p = put(p, h->method_str.p, h->method_str.n);
	*p++ = ' ';
	p = put_target(p, px);
	p = PUTS(p, " HTTP/1.1\r\nHost: ");
	p = put(p, h->host.p, h->host.n);
	p = PUTS(p, "\r\n");
	for (size_t i = 0; i < h->nheaders; i++) {
		const struct http_header *f = &h->headers[i];

		if (is_hop_by_hop(f->name, h) || tlsvars_reserved_header(f->name))
			continue;
		if (!srv->underscores_in_headers && memchr(f->name.p, '_', f->name.n) != NULL)
			continue;
		if (strip && hstr_eq_ci(f->name, "x-forwarded-prefix"))
			continue;	/* weir's own, below */
		p = put(p, f->name.p, f->name.n);
		p = PUTS(p, ": ");
		p = put(p, f->value.p, f->value.n);
		p = PUTS(p, "\r\n");
	}
	/* 1. the chain a trusted proxy sent, then the address weir saw */
	p = PUTS(p, "X-Forwarded-For: ");
	if (trusted && (q = put_list(p, h, "x-forwarded-for")) != p)
		p = PUTS(q, ", ");
	p = put_peer(p, px->pr.c, false);
	/* 2. scheme and host: a trusted proxy's word, else what weir saw */
	p = PUTS(p, "\r\nX-Forwarded-Proto: ");
	if (!trusted || (q = put_list(p, h, "x-forwarded-proto")) == p)
		q = put(p, proto, strlen(proto));
	p = PUTS(q, "\r\nX-Forwarded-Host: ");
	if (!trusted || (q = put_list(p, h, "x-forwarded-host")) == p)
		q = put(p, h->host.p, h->host.n);
	p = PUTS(q, "\r\nForwarded: ");
	if (trusted && (q = put_list(p, h, "forwarded")) != p)
		p = PUTS(q, ", ");
	p = PUTS(p, "for=");
	p = put_peer(p, px->pr.c, true);
	p = PUTS(p, ";proto=");
	p = put(p, proto, strlen(proto));
	p = PUTS(p, ";host=\"");
	for (size_t i = 0; i < h->host.n; i++) {
		/* quoted-string: the parser already refused " and \ in Host */
		*p++ = h->host.p[i];
	}
	p = PUTS(p, "\"\r\n");
	if (strip) {
		p = PUTS(p, "X-Forwarded-Prefix: ");
		p = put(p, px->app->prefix, px->app->prefixlen);
		p = PUTS(p, "\r\n");
	}
	if (tv != NULL)
		p = tlsvars_put_headers(p, tv);
	if (px->reqbody == FR_LENGTH) {
		p = PUTS(p, "Content-Length: ");
		p += fmt_u64(p, px->req_left);
		p = PUTS(p, "\r\n");
	} else if (px->reqbody == FR_CHUNKED) {
		p = PUTS(p, "Transfer-Encoding: chunked\r\n");
		p = put_trailer_field(p, h);
	}
	/* only the member weir honours; a sender of TE says so in Connection */
	if (px->te_trailers)
		p = PUTS(p, "TE: trailers\r\nConnection: TE\r\n");
	p = PUTS(p, "\r\n");
	px->headlen = (size_t)(p - px->head);
	return 0;
}

/* --- the client side ------------------------------------------------------------- */

/*
 * Does the request still go to the worker?  Also while its answer comes
 * (full duplex), until the body is all sent, the worker stops taking it,
 * or its whole answer is in (then the rest is moot).
 */
static bool
sending(const struct proxy *px)
{
	if (px->pr.up == NULL || px->pr.phase < PR_SEND || px->res_done || px->req_stop)
		return false;
	return px->headoff < px->headlen || px->bodyoff < px->bodylen || !px->req_done;
}

/* Body bytes are wanted from the client (streamed: request_buffering off). */
static bool
client_body_wanted(const struct proxy *px)
{
	return !px->buffered && !px->req_done && sending(px);
}

/* May the worker's connection serve another request?  Not with a body half sent. */
static bool
reusable(const struct proxy *px)
{
	return px->up_reusable && px->req_done && !px->req_stop &&
	    px->headoff == px->headlen && px->bodyoff == px->bodylen;
}

/* The client's event interest while the request runs (poolreq_client_read()). */
static void
client_events(struct proxy *px)
{
	struct conn *c = px->pr.c;
	uint32_t ev;

	px->pr.body_open = client_body_wanted(px);
	ev = poolreq_client_read(&px->pr, px->pr.body_open,
	    px->bodylen == px->bodyoff && c->ipos == c->ilen);

	if (px->outoff < px->outlen || px->dataoff < px->dataend ||
	    (px->rs_on && px->rs_off < px->rs.size))
		ev |= LOOP_WRITE;
	conn_set_events(c, ev);
}

/*
 * Send what is pending to the client: the out buffer (head, chunk framing),
 * then body bytes straight from the upstream buffer.  Returns 1 when all is
 * sent, 0 when the client is full, -1 when it is gone (the caller stops).
 */
static int
client_flush(struct proxy *px)
{
	while (px->outoff < px->outlen || px->dataoff < px->dataend) {
		struct iovec iov[2];
		int n = 0;
		ssize_t w;

		if (px->outoff < px->outlen) {
			iov[n].iov_base = px->out + px->outoff;
			iov[n++].iov_len = px->outlen - px->outoff;
		}
		if (px->dataoff < px->dataend && !px->client_chunked) {
			iov[n].iov_base = px->in + px->dataoff;
			iov[n++].iov_len = px->dataend - px->dataoff;
		}
		if (n == 0)
			break;
		w = poolreq_client_writev(&px->pr, iov, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				poolreq_client_blocked(&px->pr);
				return 0;
			}
			return -1;
		}
		poolreq_client_wrote(&px->pr, (size_t)w);
		if (px->outoff < px->outlen) {
			size_t k = px->outlen - px->outoff;

			if ((size_t)w < k) {
				px->outoff += (size_t)w;
				continue;
			}
			w -= (ssize_t)k;
			px->outoff = px->outlen = 0;
		}
		px->dataoff += (size_t)w;
	}
	if (px->client_chunked)
		px->dataoff = px->dataend;
	px->outoff = px->outlen = 0;
	px->dataoff = px->dataend = 0;
	poolreq_client_flushed(&px->pr);
	return 1;
}

/* Room for n more bytes in out: a pool block first, malloc'd beyond. */
static int
out_reserve(struct proxy *px, size_t n)
{
	size_t cap;
	char *o;

	if (px->outlen + n <= px->outcap)
		return 0;
	if (px->out == NULL && n <= FE_BLOCK) {
		if ((px->out = block_get(px->pr.t)) == NULL)
			return -1;
		px->out_block = true;
		px->outcap = FE_BLOCK;
		return 0;
	}
	cap = px->outcap ? px->outcap : FE_BLOCK;
	while (cap < px->outlen + n)
		cap *= 2;
	if ((o = malloc(cap)) == NULL)
		return -1;
	if (px->outlen > 0)
		memcpy(o, px->out, px->outlen);
	if (px->out_block)
		block_put(px->pr.t, px->out);
	else
		free(px->out);
	px->out = o;
	px->outcap = cap;
	px->out_block = false;
	return 0;
}

/*
 * Make the upstream input buffer PX_INBUF bytes (it starts as one pool
 * block): for a header section or a held body that does not fit, and to
 * stream a body in large reads.
 */
static int
in_grow(struct proxy *px)
{
	char *b;

	if (px->incap == PX_INBUF)
		return 0;
	if ((b = malloc(PX_INBUF)) == NULL)
		return -1;
	memcpy(b, px->in, px->inlen);
	block_put(px->pr.t, px->in);
	px->in = b;
	px->incap = PX_INBUF;
	return 0;
}

/*
 * The last chunk and the trailer section a decoder kept, filtered
 * (trailers.c; filtering again is a no-op): what ends a chunked body for
 * the worker or the client.  p has room for d->trailers_len + 5 bytes.
 */
static char *
put_last_chunk(char *p, struct chunked_dec *d, unsigned flags)
{
	p = PUTS(p, "0\r\n");
	if (d->trailers_len > 0) {
		d->trailers_len = trailers_filter(d->trailers, d->trailers_len, flags);
		p = put(p, d->trailers, d->trailers_len);
	}
	return PUTS(p, "\r\n");
}

/* Names with '_' in request trailers pass as they do in its headers. */
static unsigned
req_trailer_flags(const struct proxy *px)
{
	return px->pr.c->gen->conf->server.underscores_in_headers ? 0 : TRAILERS_NO_UNDERSCORE;
}

/* Queue body bytes for the client, framed the way the client needs. */
static int
client_body(struct proxy *px, size_t off, size_t len)
{
	if (len == 0)
		return 0;
	if (!px->client_chunked) {
		px->dataoff = off;
		px->dataend = off + len;
		return 0;
	}
	if (out_reserve(px, len + 32) == -1)
		return -1;
	px->outlen += (size_t)snprintf(px->out + px->outlen, 20, "%zx\r\n", len);
	memcpy(px->out + px->outlen, px->in + off, len);
	px->outlen += len;
	memcpy(px->out + px->outlen, "\r\n", 2);
	px->outlen += 2;
	return 0;
}

/* --- the response buffer -------------------------------------------------------- */

/* May more of the response be read ahead of the client? */
static bool
rs_room(const struct proxy *px)
{
	return px->rs.size < px->pr.pool->resp_buffer;	/* plain read: changes on reload */
}

/* Empty the buffer: client output goes straight out again. */
static void
rs_reset(struct proxy *px)
{
	spool_free(&px->rs);
	memset(&px->rs, 0, sizeof(px->rs));
	px->rs.fd = -1;
	px->rs_off = 0;
	px->rs_on = false;
}

/* Move the client output waiting in out and in (framed) to the buffer's end. */
static int
rs_append(struct proxy *px)
{
	const char *sd = px->pr.c->gen->conf->server.state_dir;

	if (px->outoff < px->outlen &&
	    spool_append(&px->rs, px->out + px->outoff, px->outlen - px->outoff, sd) == -1)
		return -1;
	if (px->dataoff < px->dataend && !px->client_chunked &&
	    spool_append(&px->rs, px->in + px->dataoff, px->dataend - px->dataoff, sd) == -1)
		return -1;
	px->outoff = px->outlen = 0;
	px->dataoff = px->dataend = 0;
	return 0;
}

/*
 * Send what the buffer holds.  Returns 1 when the client has it all (the
 * buffer is emptied: output goes straight out again), 0 when the client
 * is full, -1 when it is gone.
 */
static int
rs_flush(struct proxy *px)
{
	while (px->rs_off < px->rs.size) {
		ssize_t w = spool_send(&px->rs, px->rs_off, px->pr.c);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				poolreq_client_blocked(&px->pr);
				return 0;
			}
			return -1;
		}
		poolreq_client_wrote(&px->pr, (size_t)w);
		px->rs_off += (uint64_t)w;
	}
	rs_reset(px);
	poolreq_client_flushed(&px->pr);
	return 1;
}

/*
 * Send the client what is ready for it.  When its socket is full and the
 * pool keeps a response buffer, the output goes there and the worker is
 * read on.  Returns 1 (all sent), 0 (the client is full), -1 (gone, or the
 * buffer failed: the response cannot be completed).
 */
static int
client_send(struct proxy *px)
{
	if (!px->rs_on) {
		int r = client_flush(px);

		if (r != 0 || px->pr.pool->resp_buffer == 0)
			return r;
		px->rs_on = true;
		/* what the client will get is decided: no retry may replace it */
		px->pr.client_sent = true;
	}
	if (rs_append(px) == -1) {
		log_warn("pool %s: cannot buffer the response", px->pr.pool->name);
		return -1;
	}
	return rs_flush(px);
}

/* --- finishing ------------------------------------------------------------------ */

static void	spooled(struct proxy *px);

static void
px_free(struct poolreq *pr)
{
	struct proxy *px = (struct proxy *)pr;
	struct fe_thread *t = px->pr.t;

	if (px->head_block)
		block_put(t, px->head);
	else
		free(px->head);
	if (px->incap == FE_BLOCK)
		block_put(t, px->in);
	else
		free(px->in);
	if (px->out_block)
		block_put(t, px->out);
	else
		free(px->out);
	free(px->body);
	httpparse_chunked_free(&px->req_chunk);
	httpparse_chunked_free(&px->res_chunk);
	spool_free(&px->sp);
	spool_free(&px->rs);
	free(px);
}

/* The response is complete. */
static void
px_done(struct proxy *px)
{
	px->pr.r->status = px->status;
	poolreq_done(&px->pr, reusable(px));
}

/* --- response head ------------------------------------------------------------------ */

static bool
response_hop(struct hstr name, const struct http_response *res, bool trailers)
{
	static const char *hop[] = { "connection", "keep-alive", "proxy-connection",
	    "te", "transfer-encoding", "upgrade", "content-length" };

	/* Trailer announces a trailer section: only where one may come */
	if (hstr_eq_ci(name, "trailer"))
		return !trailers;
	for (size_t i = 0; i < nitems(hop); i++)
		if (hstr_eq_ci(name, hop[i]))
			return true;
	for (size_t i = 0; i < res->nheaders; i++) {
		const struct http_header *f = &res->headers[i];
		const char *v, *e;

		if (!hstr_eq_ci(f->name, "connection"))
			continue;
		for (v = f->value.p, e = v + f->value.n; v < e;) {
			const char *t = v;
			size_t n;

			while (t < e && *t != ',')
				t++;
			n = (size_t)(t - v);
			while (n > 0 && (*v == ' ' || *v == '\t')) {
				v++;
				n--;
			}
			while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
				n--;
			if (n == name.n && ascii_casecmp_n(v, name.p, n))
				return true;
			v = t + 1;
		}
	}
	return false;
}

/* Turn the worker's response head into the client's. */
static int
client_head(struct proxy *px, const struct http_response *res)
{
	struct conn *c = px->pr.c;
	bool head = px->pr.r->h.method == HTTP_M_HEAD;
	bool nobody = head || res->status == 204 || res->status == 304;
	bool has_date = false, has_server = false;
	char *p;

	/* 1. framing from the worker (RFC 9112 §6.3) */
	if (nobody)
		px->resbody = FR_NONE;
	else if (res->flags & HTTP_F_CHUNKED)
		px->resbody = FR_CHUNKED;
	else if (res->content_length >= 0)
		px->resbody = res->content_length > 0 ? FR_LENGTH : FR_NONE;
	else
		px->resbody = FR_CLOSE;
	px->res_left = res->content_length > 0 ? (uint64_t)res->content_length : 0;
	/* and the body must be all sent by the end (reusable()) */
	px->up_reusable = (res->flags & HTTP_F_KEEPALIVE) && px->resbody != FR_CLOSE;
	/* 2. framing for the client */
	if (px->resbody == FR_CHUNKED || px->resbody == FR_CLOSE) {
		if (px->pr.r->h.minor >= 1)
			px->client_chunked = true;
		else
			c->flags |= CF_CLOSE;	/* HTTP/1.0: the close ends the body */
	}
	/*
	 * 3. trailers: to a client that said it takes them (TE: trailers), or
	 * to an HTTP/2 stream (trailing HEADERS need no TE), when the body is
	 * chunked both ways; else dropped, as RFC 9110 §6.5.1 allows.
	 */
	px->fwd_trailers = px->resbody == FR_CHUNKED && px->client_chunked &&
	    (px->te_trailers || c->proto == CONN_PROTO_H2);
	if (out_reserve(px, res->header_len + 512) == -1)
		return -1;
	p = px->out + px->outlen;
	p = PUTS(p, "HTTP/1.1 ");
	p += fmt_u64(p, (uint64_t)res->status);
	*p++ = ' ';
	if (res->reason.n > 0)
		p = put(p, res->reason.p, res->reason.n);
	else {
		const char *rs = http_reason(res->status);

		p = put(p, rs, strlen(rs));
	}
	p = PUTS(p, "\r\n");
	for (size_t i = 0; i < res->nheaders; i++) {
		const struct http_header *f = &res->headers[i];

		if (response_hop(f->name, res, px->fwd_trailers) ||
		    https_replaces(f->name, c, px->pr.r->site))
			continue;
		if (hstr_eq_ci(f->name, "date"))
			has_date = true;
		else if (hstr_eq_ci(f->name, "server"))
			has_server = true;
		p = put(p, f->name.p, f->name.n);
		p = PUTS(p, ": ");
		p = put(p, f->value.p, f->value.n);
		p = PUTS(p, "\r\n");
	}
	if (!has_server)
		p = PUTS(p, "Server: weir\r\n");
	if (!has_date) {
		fe_update_date(c->t);
		p = PUTS(p, "Date: ");
		p = put(p, c->t->date, HTTPDATE_LEN);
		p = PUTS(p, "\r\n");
	}
	if (res->content_length >= 0 && !(res->flags & HTTP_F_CHUNKED) &&
	    res->status != 204 && !(res->status == 304 && res->content_length == 0)) {
		p = PUTS(p, "Content-Length: ");
		p += fmt_u64(p, (uint64_t)res->content_length);
		p = PUTS(p, "\r\n");
	} else if (px->client_chunked && !nobody) {
		p = PUTS(p, "Transfer-Encoding: chunked\r\n");
	}
	p = https_put_hsts(p, c, px->pr.r->site);
	if (c->flags & CF_CLOSE)
		p = PUTS(p, "Connection: close\r\n");
	else if (px->pr.r->h.minor == 0)
		p = PUTS(p, "Connection: keep-alive\r\n");
	p = PUTS(p, "\r\n");
	px->outlen = (size_t)(p - px->out);
	px->status = res->status;
	px->pr.r->status = res->status;
	return 0;
}

/* --- the pump: move bytes while they can move ------------------------------------- */

/*
 * The next piece of a buffered body: as it is, or one chunk of it when it
 * goes chunked (it had trailers), with the last chunk and the trailer
 * section after its end.  -3: the spool cannot be read.
 */
static int
stage_spooled(struct proxy *px)
{
	bool chunked = px->reqbody == FR_CHUNKED;
	char *d = px->body + (chunked ? 24 : 0);	/* room for a chunk-size line */
	const char *p;
	ssize_t n = spool_get(&px->sp, px->sp_off, d, chunked ? PX_BODYBUF - 32 : PX_BODYBUF, &p);

	if (n < 0)
		return -3;
	if (p != d)
		memcpy(d, p, (size_t)n);
	px->bodyoff = 0;
	px->bodylen = (size_t)n;
	if (chunked) {
		char hex[24];
		int k = snprintf(hex, sizeof(hex), "%zx\r\n", (size_t)n);

		px->bodyoff = px->bodylen = 24;
		if (n > 0) {
			px->bodyoff -= (size_t)k;
			memcpy(px->body + px->bodyoff, hex, (size_t)k);
			memcpy(d + n, "\r\n", 2);
			px->bodylen += (size_t)n + 2;
		}
	}
	px->sp_off += (uint64_t)n;
	if (px->sp_off == px->sp.size) {
		if (chunked)
			px->bodylen = (size_t)(put_last_chunk(px->body + px->bodylen,
			    &px->sp.chunk, req_trailer_flags(px)) - px->body);
		px->req_done = true;
	}
	return 0;
}

/* Read the client's body into the staging buffer, framed for the worker. */
static int
stage_request_body(struct proxy *px)
{
	struct conn *c = px->pr.c;
	size_t avail = c->ilen - c->ipos;

	if (px->req_done || px->bodyoff < px->bodylen)
		return 0;
	if (px->buffered)
		return stage_spooled(px);
	if (avail == 0)
		return 0;
	px->pr.body_started = true;
	px->bodyoff = px->bodylen = 0;
	if (px->reqbody == FR_LENGTH) {
		size_t n = avail < px->req_left ? avail : (size_t)px->req_left;

		if (n > PX_BODYBUF)
			n = PX_BODYBUF;
		memcpy(px->body, c->ibuf + c->ipos, n);
		px->bodylen = n;
		c->ipos += (uint32_t)n;
		px->req_left -= n;
		if (px->req_left == 0)
			px->req_done = true;
	} else {
		size_t out, used, take = avail > PX_BODYBUF - 32 ? PX_BODYBUF - 32 : avail;
		const char *why;
		int r = httpparse_chunked(&px->req_chunk, c->ibuf + c->ipos, take,
		    &out, &used, &why);

		if (r == WEIR_ERROR)
			return -1;
		if (out > 0) {
			int k = snprintf(px->body, 20, "%zx\r\n", out);

			memcpy(px->body + k, c->ibuf + c->ipos, out);
			memcpy(px->body + k + out, "\r\n", 2);
			px->bodylen = (size_t)k + out + 2;
		}
		c->ipos += (uint32_t)used;
		if (r == 1) {
			px->bodylen = (size_t)(put_last_chunk(px->body + px->bodylen,
			    &px->req_chunk, req_trailer_flags(px)) - px->body);
			px->req_done = true;
		}
		{
			uint64_t max = c->gen->conf->server.max_body;

			px->req_left += out;	/* counts bytes seen, for max_body */
			if (max != 0 && px->req_left > max)
				return -2;
		}
	}
	if (c->ipos == c->ilen)
		c->ipos = c->ilen = 0;
	if (px->req_done && c->rate_dir == RATE_IN)
		rate_end(c);
	return 0;
}

/*
 * Send head and body to the worker, as far as it takes them (also while
 * its answer comes).  Returns -1 after failing the request.
 */
static int
pump_send(struct proxy *px)
{
	int fd = px->pr.up->io.fd;

	while (px->headoff < px->headlen) {
		ssize_t w = send(fd, px->head + px->headoff, px->headlen - px->headoff,
		    MSG_NOSIGNAL);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN)
				return 0;
			if (px->headoff == 0 && upstream_stale(px->pr.up, errno)) {
				if (poolreq_reconnect(&px->pr) == -1)
					return -1;
				fd = px->pr.up->io.fd;
				continue;
			}
			poolreq_failed(&px->pr, "cannot send the request to the worker", UF_UNDELIVERED);
			return -1;
		}
		px->headoff += (size_t)w;
	}
	for (;;) {
		int s = stage_request_body(px);

		if (s == -1) {
			/* the client's chunked framing is broken: nothing to salvage */
			http1_abort(px->pr.c, 400, "BadRequest", "bad chunked body");
			return -1;
		}
		if (s == -2) {
			http1_abort(px->pr.c, 413, "EntityTooLarge", "body larger than max_body");
			return -1;
		}
		if (s == -3) {
			poolreq_fail(&px->pr, 500, "Internal", 0);
			return -1;
		}
		if (px->bodyoff == px->bodylen)
			break;
		while (px->bodyoff < px->bodylen) {
			ssize_t w = send(fd, px->body + px->bodyoff,
			    px->bodylen - px->bodyoff, MSG_NOSIGNAL);

			if (w == -1) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return 0;
				/*
				 * The worker takes no more: it answered early (a
				 * 413) and closed, or it died.  Its answer, or
				 * its EOF, says which (pump_head()).
				 */
				px->req_stop = true;
				if (px->pr.phase == PR_SEND)
					px->pr.phase = PR_RECV;
				return 0;
			}
			px->bodyoff += (size_t)w;
		}
	}
	if (px->req_done || px->reqbody == FR_NONE) {
		px->req_done = true;
		if (px->pr.phase == PR_SEND)
			px->pr.phase = PR_RECV;
	}
	return 0;
}

/* Read and parse the response head.  Returns -1 after failing/finishing. */
static int
pump_head(struct proxy *px)
{
	struct http_response resbuf, *res = &resbuf;	/* ~4 KiB: the stack is fine */
	struct httpparse_limits lim;
	const struct conf_server *s = &px->pr.c->gen->conf->server;
	ssize_t n;
	int hl;
	const char *why;

	/*
	 * A small response is held until its whole body is in: if the worker
	 * dies meanwhile, the client has seen nothing and the request can
	 * still go to another worker.
	 */
	while (px->head_held) {
		n = recv(px->pr.up->io.fd, px->in + px->inlen, px->incap - px->inlen, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			poolreq_failed(&px->pr, "connection to the worker failed mid-response", UF_DELIVERED);
			return -1;
		}
		if (n == 0) {
			poolreq_failed(&px->pr, "the worker closed the connection mid-response", UF_DELIVERED);
			return -1;
		}
		px->inlen += (size_t)n;
		conn_set_deadline(px->pr.c, poolreq_response_timeout(&px->pr));
		if (px->inlen >= px->res_left) {
			px->head_held = false;
			px->pr.phase = PR_BODY;
			return 1;
		}
	}
	for (;;) {
		if (px->inlen == PX_INBUF) {
			poolreq_failed(&px->pr, "response header section too large", UF_PROTOCOL);
			return -1;
		}
		if (px->inlen == px->incap && in_grow(px) == -1) {
			poolreq_fail(&px->pr, 500, "Internal", 0);
			return -1;
		}
		n = recv(px->pr.up->io.fd, px->in + px->inlen, px->incap - px->inlen, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			/*
			 * A reset with nothing received: the worker closed with
			 * our bytes unread.  Without a body those bytes were its
			 * head, so it never acted on the request; with one it may
			 * have read the head, acted, and left the body unread (an
			 * app that exits on a POST), so only an idempotent request
			 * may be tried again (RFC 9110, 9.2.2).
			 */
			poolreq_failed(&px->pr, "connection to the worker failed",
			    errno == ECONNRESET && px->inlen == 0 && px->reqbody == FR_NONE ?
			    UF_UNDELIVERED : UF_DELIVERED);
			return -1;
		}
		if (n == 0) {
			poolreq_failed(&px->pr, px->inlen ? "the worker closed mid-response header" :
			    px->req_stop ? "the worker closed while receiving the request body" :
			    "the worker closed the connection without a response",
			    px->inlen > 0 ? UF_PROTOCOL : UF_DELIVERED);
			return -1;
		}
		px->inlen += (size_t)n;
		conn_set_deadline(px->pr.c, poolreq_response_timeout(&px->pr));
		lim.max_request_line = s->max_header_size;
		lim.max_header_bytes = PX_INBUF;
		lim.max_headers = HTTPPARSE_MAX_HEADERS;
		hl = httpparse_response(px->in, px->inlen, res, &lim, &why);
		if (hl == WEIR_AGAIN)
			continue;
		if (hl == WEIR_ERROR) {
			char what[200];

			snprintf(what, sizeof(what), "malformed response: %s", why);
			poolreq_failed(&px->pr, what, UF_PROTOCOL);
			return -1;
		}
		if (res->status < 200) {
			/* Interim (103 and the like): not forwarded. */
			if (res->status == 101) {
				poolreq_failed(&px->pr, "101 Switching Protocols is not supported", UF_PROTOCOL);
				return -1;
			}
			memmove(px->in, px->in + hl, px->inlen - (size_t)hl);
			px->inlen -= (size_t)hl;
			continue;
		}
		if (client_head(px, res) == -1) {
			poolreq_fail(&px->pr, 500, "Internal", 0);
			return -1;
		}
		/* Whatever follows the head is body. */
		memmove(px->in, px->in + hl, px->inlen - (size_t)hl);
		px->inlen -= (size_t)hl;
		if (px->resbody == FR_LENGTH && px->res_left <= PX_INBUF &&
		    px->inlen < px->res_left) {
			if (px->res_left > px->incap && in_grow(px) == -1) {
				poolreq_fail(&px->pr, 500, "Internal", 0);
				return -1;
			}
			px->head_held = true;
			return pump_head(px);
		}
		px->pr.phase = PR_BODY;
		if (px->resbody == FR_CHUNKED) {
			httpparse_chunked_free(&px->res_chunk);	/* a retry's */
			httpparse_chunked_init(&px->res_chunk);
			px->res_chunk.keep_trailers = px->fwd_trailers;
		}
		return 1;
	}
}

/*
 * Turn what is in `in` into client output.  Returns 1 when the body is
 * complete, 0 when more is needed, -1 after failing.
 */
static int
consume_body(struct proxy *px)
{
	size_t n = px->inlen;

	px->inlen = 0;
	switch (px->resbody) {
	case FR_NONE:
		if (n > 0)
			px->up_reusable = false;	/* unexpected bytes */
		return 1;
	case FR_LENGTH:
		if (n > px->res_left) {
			px->up_reusable = false;
			n = (size_t)px->res_left;
		}
		px->res_left -= n;
		if (client_body(px, 0, n) == -1)
			return -1;
		return px->res_left == 0;
	case FR_CHUNKED: {
		size_t out, used;
		const char *why;
		int r = httpparse_chunked(&px->res_chunk, px->in, n, &out, &used, &why);

		if (r == WEIR_ERROR) {
			char what[200];

			snprintf(what, sizeof(what), "bad chunked response body: %s", why);
			poolreq_failed(&px->pr, what, UF_PROTOCOL);
			return -1;
		}
		if (client_body(px, 0, out) == -1)
			return -1;
		if (r == 1 && used < n)
			px->up_reusable = false;
		return r == 1;
	}
	case FR_CLOSE:
		if (client_body(px, 0, n) == -1)
			return -1;
		return 0;
	}
	return -1;
}

static void
finish_body(struct proxy *px)
{
	if (px->client_chunked) {
		if (out_reserve(px, 8 + px->res_chunk.trailers_len) == 0)
			px->outlen = (size_t)(put_last_chunk(px->out + px->outlen,
			    &px->res_chunk, 0) - px->out);
	}
	px->res_done = true;
}

/*
 * Move bytes in every direction that can move now; set the interest of both
 * sockets for what is left.  Every path that ends the request returns at once.
 */
static void
px_pump(struct poolreq *pr)
{
	struct proxy *px = (struct proxy *)pr;
	uint32_t upev, want;
	int r;

	if (px->pr.phase == PR_SPOOL) {
		if (spool_pump(&px->pr, &px->sp) == 1)
			spooled(px);
		return;
	}
	upev = px->pr.up_events;
	px->pr.up_events = 0;
	for (;;) {
		/* the request, in every phase while the worker takes it (full duplex) */
		if (sending(px)) {
			bool was_send = px->pr.phase == PR_SEND;

			if (pump_send(px) == -1)
				return;
			/*
			 * Not all sent, or all just sent: the answer is for the
			 * upstream's EPOLLIN to say (a recv now would often find
			 * nothing yet).  But the worker answers or hangs up
			 * before it has the whole body: read what it says now
			 * (a 502 at once when it closed, not when the next body
			 * byte cannot be sent), and send the rest alongside.
			 */
			if (was_send && !px->req_stop && !(upev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				break;
			if (px->pr.phase == PR_SEND)
				px->pr.phase = PR_RECV;
			upev = 0;
		}
		if (px->pr.phase == PR_RECV) {
			r = pump_head(px);
			if (r == -1)
				return;
			if (r == 0)
				break;
			/* head parsed: body bytes may already be in `in` */
			if ((r = consume_body(px)) == -1)
				return;
			if (r == 1)
				finish_body(px);
		}
		if (px->pr.phase != PR_BODY)
			break;
		/* to the client, or into the response buffer */
		r = client_send(px);
		if (r == -1) {
			conn_close(px->pr.c);
			return;
		}
		if (px->res_done) {
			if (r == 1) {
				px_done(px);
				return;
			}
			/* the rest is buffered: the worker is free, the client takes its time */
			poolreq_release_worker(&px->pr, reusable(px));
			break;
		}
		if (r == 0 && !(px->rs_on && rs_room(px)))
			break;
		/* more from the worker */
		{
			ssize_t n;

			/*
			 * A body that did not come with the head: read it in
			 * large pieces.  Out of memory now, with the head sent,
			 * the response cannot be completed.
			 */
			if (in_grow(px) == -1) {
				conn_close(px->pr.c);
				return;
			}
			n = recv(px->pr.up->io.fd, px->in, px->incap, 0);

			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				poolreq_failed(&px->pr, "connection to the worker failed mid-response", UF_DELIVERED);
				return;
			}
			if (n == 0) {
				if (px->resbody == FR_CLOSE) {
					finish_body(px);
					continue;
				}
				poolreq_failed(&px->pr, "the worker closed the connection mid-response", UF_DELIVERED);
				return;
			}
			px->inlen = (size_t)n;
			conn_set_deadline(px->pr.c, poolreq_response_timeout(&px->pr));
			if ((r = consume_body(px)) == -1)
				return;
			if (r == 1)
				finish_body(px);
		}
	}
	/*
	 * Interest: what are we waiting for?  The answer while the client keeps
	 * up; room at the worker for what is staged for it, whatever the phase.
	 */
	if (px->pr.phase == PR_SEND || px->pr.phase == PR_RECV) {
		want = LOOP_READ;
	} else {
		bool client_full = px->rs_on ? !rs_room(px) :
		    px->outoff < px->outlen || px->dataoff < px->dataend;

		want = client_full ? 0 : LOOP_READ;
	}
	if (sending(px) && (px->headoff < px->headlen || px->bodyoff < px->bodylen))
		want |= LOOP_WRITE;
	up_set(px, want);
	client_events(px);
}

/* --- callbacks for poolreq.c ---------------------------------------------------------- */

static void
px_events(struct poolreq *pr)
{
	client_events((struct proxy *)pr);
}

static int
px_rewind(struct poolreq *pr)
{
	struct proxy *px = (struct proxy *)pr;

	px->headoff = 0;
	px->req_stop = false;
	px->inlen = 0;
	px->outlen = px->outoff = 0;
	px->head_held = false;
	rs_reset(px);
	if (px->buffered) {
		px->sp_off = 0;
		px->bodyoff = px->bodylen = 0;
		px->req_done = px->sp.size == 0 && px->reqbody != FR_CHUNKED;
	}
	return 0;
}

/*
 * The body is streamed to the worker as it arrives: the request can be sent
 * again as long as none of it was taken from the client.
 */
static bool
px_replayable(const struct poolreq *pr)
{
	const struct proxy *px = (const struct proxy *)pr;

	return px->reqbody == FR_NONE || px->buffered || !px->pr.body_started;
}

static enum pr_body
px_body(const struct poolreq *pr)
{
	const struct proxy *px = (const struct proxy *)pr;

	if (px->buffered)
		return px->pr.phase == PR_SPOOL ? PRB_PARTIAL : PRB_TAKEN;
	if (px->reqbody == FR_NONE || px->req_done)
		return PRB_TAKEN;
	return px->pr.body_started ? PRB_PARTIAL : PRB_UNREAD;
}

static const struct poolreq_ops px_ops = {
	.start = NULL,		/* the head is built once; a retry rewinds it */
	.pump = px_pump,
	.events = px_events,
	.rewind = px_rewind,
	.replayable = px_replayable,
	.body = px_body,
	.abort = NULL,
	.free = px_free,
};

/* --- the handler ---------------------------------------------------------------------- */

/*
 * The buffered body is complete: the worker gets it with Content-Length
 * (also when it came chunked), and the request joins the queue.  A chunked
 * body that ended with trailer fields weir forwards goes on chunked, with
 * them: Content-Length has no place for them, and a client that sends
 * trailers means them to arrive.
 */
static void
spooled(struct proxy *px)
{
	struct chunked_dec *d = &px->sp.chunk;

	d->trailers_len = trailers_filter(d->trailers, d->trailers_len,
	    req_trailer_flags(px));
	px->reqbody = px->sp.chunked && d->trailers_len > 0 ? FR_CHUNKED : FR_LENGTH;
	px->req_left = px->sp.size;
	px->req_done = px->sp.size == 0 && px->reqbody != FR_CHUNKED;
	if (build_head(px) == -1) {
		poolreq_fail(&px->pr, 500, "Internal", 0);
		return;
	}
	poolreq_enqueue(&px->pr);
}

static int
proxy_on_request(struct handler *h, struct conn *c, struct req *r)
{
	struct proxy_handler *ph = (struct proxy_handler *)h;
	struct fe_pool *pool = ph->pool;
	struct proxy *px;

	if ((px = calloc(1, sizeof(*px))) == NULL)
		return 500;
	poolreq_init(&px->pr, &px_ops, c, r, pool);
	px->app = ph->app;
	if (r->h.flags & HTTP_F_CHUNKED) {
		px->reqbody = FR_CHUNKED;
		httpparse_chunked_init(&px->req_chunk);
		px->req_chunk.keep_trailers = true;
	} else if (r->h.content_length > 0) {
		px->reqbody = FR_LENGTH;
		px->req_left = (uint64_t)r->h.content_length;
	} else {
		px->req_done = true;
	}
	px->sp.fd = -1;
	px->rs.fd = -1;
	px->buffered = px->reqbody != FR_NONE && pool->buffering;
	/* A streamed body goes to the worker as it arrives: none is left to send again. */
	if (px->reqbody != FR_NONE && !px->buffered)
		px->pr.idempotent = false;
	px->pr.want_continue = (r->h.flags & HTTP_F_EXPECT_100) && px->reqbody != FR_NONE;
	for (size_t i = 0; i < r->h.nheaders; i++)
		if (hstr_eq_ci(r->h.headers[i].name, "te") && trailers_te(r->h.headers[i].value))
			px->te_trailers = true;
	px->incap = FE_BLOCK;
	if ((!px->buffered && build_head(px) == -1) ||
	    (px->in = block_get(c->t)) == NULL ||
	    (px->reqbody != FR_NONE && (px->body = malloc(PX_BODYALLOC)) == NULL)) {
		px_free(&px->pr);
		return 500;
	}
	c->pr = &px->pr;
	c->state = CONN_HANDLER;
	r->body_taken = true;
	if (px->buffered) {
		spool_init(&px->sp, &r->h);
		px->sp.chunk.keep_trailers = true;
		if (spool_begin(&px->pr, &px->sp) == 1)
			spooled(px);
		return WEIR_OK;
	}
	poolreq_enqueue(&px->pr);
	return WEIR_OK;
}

static void
proxy_dispose(struct handler *h)
{
	free(h);
}

struct handler *
proxy_new(struct frontend *fe, struct fe_pool *pool, const struct conf_app *app)
{
	struct proxy_handler *ph = xcalloc(1, sizeof(*ph));

	ph->super.name = "pool";
	ph->super.on_request = proxy_on_request;
	ph->super.dispose = proxy_dispose;
	ph->fe = fe;
	ph->pool = pool;
	ph->app = app;
	return &ph->super;
}
