/*
 * proxy.c - the pool handler: a request goes to a worker of its pool over
 * HTTP/1.1 on a kept-alive Unix-socket connection, and the response comes
 * back, both bodies streamed with backpressure (no whole-body buffering).
 *
 * The client connection belongs to the front end, never to a worker: if the
 * worker dies before any byte of the response reached the client, an
 * idempotent request without a body is retried once (on another worker, or
 * queued for the replacement); otherwise the client gets 502 and keeps its
 * connection.  Hop-by-hop headers are dropped both ways (RFC 9110 §7.6.1) and
 * Forwarded / X-Forwarded-* are set.  The worker's response framing is
 * re-done for the client: Content-Length passes through, anything else is
 * chunked for HTTP/1.1 and close-delimited for HTTP/1.0.
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
#include "frontend.h"

#define PX_INBUF		(64 * 1024)	/* upstream input (head and body) */
#define PX_BODYBUF		(64 * 1024)	/* request body staging */
#define MAX_ATTEMPTS		8	/* workers tried for one request */

enum px_phase {
	PX_WAIT = 0,	/* in the queue */
	PX_SEND,	/* sending head and body to the worker */
	PX_HEAD,	/* reading the response head */
	PX_BODY,	/* streaming the response body */
};

enum framing {
	FR_NONE = 0,
	FR_LENGTH,
	FR_CHUNKED,
	FR_CLOSE
};

struct proxy {
	struct pwait		 q;		/* first: the queue's view */
	struct conn		*c;
	struct req		*r;
	struct fe_pool		*pool;
	struct fe_thread	*t;
	struct upconn		*up;
	int			 phase;
	bool			 retried;	/* the one retry after a delivered request was used */
	unsigned		 attempts;	/* workers tried */
	bool			 head_held;	/* head parsed, held until the small body is in */
	bool			 idempotent;
	bool			 client_sent;	/* response bytes reached the client */
	bool			 up_reusable;
	char			 method[16];	/* for the master's in-flight report */
	char			 target[200];
	uint64_t		 start_ns;
	/* request: head for the worker, then the body from the client */
	char			*head;
	size_t			 headlen, headoff;
	int			 reqbody;	/* enum framing */
	uint64_t		 req_left;	/* FR_LENGTH: body bytes still to forward */
	struct chunked_dec	 req_chunk;
	bool			 req_done;	/* whole body forwarded */
	bool			 body_started;	/* some of it was taken from the client */
	char			*body;		/* staging to the worker */
	size_t			 bodylen, bodyoff;
	/* response */
	char			*in;		/* upstream input */
	size_t			 inlen;
	size_t			 dataoff, dataend;	/* body bytes in `in` for the client */
	int			 resbody;	/* enum framing from the worker */
	uint64_t		 res_left;
	struct chunked_dec	 res_chunk;
	bool			 client_chunked;
	bool			 res_done;
	int			 status;
	char			*out;		/* head and chunk framing to the client */
	size_t			 outlen, outoff, outcap;
};

struct proxy_handler {
	struct handler		 super;
	struct frontend		*fe;
	struct fe_pool		*pool;
};

static void	up_event(void *arg, uint32_t events);
static void	px_start(struct proxy *px);
static void	px_fail(struct proxy *px, int status, const char *token, uint32_t retry);
/* How a worker failed a request, which decides whether it may go elsewhere. */
enum upfail {
	UF_UNDELIVERED,	/* the worker never took the request (reset, refused) */
	UF_DELIVERED,	/* it may have processed it: only idempotent ones retry, once */
	UF_PROTOCOL	/* it answered something that is not HTTP: 502, event 1011 */
};

static void	px_upstream_failed(struct proxy *px, const char *why, enum upfail how);
static void	px_retry(struct proxy *px, struct fe_worker *lost, bool counts);
static void	px_pump(struct proxy *px);

/* 0 in the config means no limit: a day stands in for "forever". */
static uint64_t
response_timeout(const struct proxy *px)
{
	uint64_t t = px->pool->response_timeout;	/* plain read: changes only on reload */

	return t != 0 ? t : 24ULL * 3600 * 1000;
}

static void
up_set(struct proxy *px, uint32_t ev)
{
	if (px->up != NULL)
		upstream_set(px->up, ev);
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

		conn = &h->headers[i];
		if (!hstr_eq_ci(conn->name, "connection"))
			continue;
		v = conn->value.p;
		e = v + conn->value.n;
		while (v < e) {
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

static char *
put(char *p, const char *s, size_t n)
{
	if (n > 0)		/* s may be NULL for an absent, empty part */
		memcpy(p, s, n);
	return p + n;
}
#define PUTS(p, lit)	put((p), (lit), sizeof(lit) - 1)

static void
peer_ip(const struct conn *c, char *out, size_t outsz, bool forwarded)
{
	char a[INET6_ADDRSTRLEN] = "unknown";

	if (c->peer.sa.sa_family == AF_INET)
		inet_ntop(AF_INET, &c->peer.in.sin_addr, a, sizeof(a));
	else if (c->peer.sa.sa_family == AF_INET6)
		inet_ntop(AF_INET6, &c->peer.in6.sin6_addr, a, sizeof(a));
	if (forwarded && c->peer.sa.sa_family == AF_INET6)
		snprintf(out, outsz, "\"[%s]\"", a);
	else
		snprintf(out, outsz, "%s", a);
}

/*
 * The head the worker gets: origin-form target, the client's fields minus
 * hop-by-hop ones, Host, framing of our own, and where the request came from.
 */
static int
build_head(struct proxy *px)
{
	const struct http_request *h = &px->r->h;
	const struct http_header *xff = NULL, *fwd = NULL;
	char ip[INET6_ADDRSTRLEN + 8], fip[INET6_ADDRSTRLEN + 8];
	size_t cap = h->header_len + 1024 + 2 * h->host.n;
	char *p;

	if ((px->head = malloc(cap)) == NULL)
		return -1;
	p = px->head;
	p = put(p, h->method_str.p, h->method_str.n);
	*p++ = ' ';
	if (h->target_form == HTTP_TARGET_ABSOLUTE) {
		p = put(p, h->path.p, h->path.n);
		if (h->query.p != NULL) {
			*p++ = '?';
			p = put(p, h->query.p, h->query.n);
		}
	} else {
		p = put(p, h->target.p, h->target.n);
	}
	p = PUTS(p, " HTTP/1.1\r\nHost: ");
	p = put(p, h->host.p, h->host.n);
	p = PUTS(p, "\r\n");
	for (size_t i = 0; i < h->nheaders; i++) {
		const struct http_header *f = &h->headers[i];

		if (hstr_eq_ci(f->name, "x-forwarded-for"))
			xff = f;
		else if (hstr_eq_ci(f->name, "forwarded"))
			fwd = f;
		if (is_hop_by_hop(f->name, h))
			continue;
		p = put(p, f->name.p, f->name.n);
		p = PUTS(p, ": ");
		p = put(p, f->value.p, f->value.n);
		p = PUTS(p, "\r\n");
	}
	peer_ip(px->c, ip, sizeof(ip), false);
	peer_ip(px->c, fip, sizeof(fip), true);
	p = PUTS(p, "X-Forwarded-For: ");
	if (xff != NULL) {
		p = put(p, xff->value.p, xff->value.n);
		p = PUTS(p, ", ");
	}
	p = put(p, ip, strlen(ip));
	p = PUTS(p, "\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: ");
	p = put(p, h->host.p, h->host.n);
	p = PUTS(p, "\r\nForwarded: ");
	if (fwd != NULL) {
		p = put(p, fwd->value.p, fwd->value.n);
		p = PUTS(p, ", ");
	}
	p = PUTS(p, "for=");
	p = put(p, fip, strlen(fip));
	p = PUTS(p, ";proto=http;host=\"");
	for (size_t i = 0; i < h->host.n; i++) {
		/* quoted-string: the parser already refused " and \ in Host */
		*p++ = h->host.p[i];
	}
	p = PUTS(p, "\"\r\n");
	if (px->reqbody == FR_LENGTH) {
		p = PUTS(p, "Content-Length: ");
		p += fmt_u64(p, (uint64_t)h->content_length);
		p = PUTS(p, "\r\n");
	} else if (px->reqbody == FR_CHUNKED) {
		p = PUTS(p, "Transfer-Encoding: chunked\r\n");
	}
	p = PUTS(p, "\r\n");
	px->headlen = (size_t)(p - px->head);
	return 0;
}

/* --- the client side ------------------------------------------------------------- */

static void
client_events(struct proxy *px)
{
	uint32_t ev = EPOLLRDHUP;
	struct conn *c = px->c;

	if (px->outoff < px->outlen || px->dataoff < px->dataend)
		ev |= LOOP_WRITE;
	if (px->phase == PX_SEND && !px->req_done && px->bodylen == px->bodyoff &&
	    c->ipos == c->ilen)
		ev |= LOOP_READ;
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
	int fd = px->c->io.fd;

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
		w = writev(fd, iov, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				conn_set_deadline(px->c, px->c->gen->conf->server.send_timeout);
				return 0;
			}
			return -1;
		}
		px->client_sent = true;
		px->r->bytes += (uint64_t)w;
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
	return 1;
}

static int
out_reserve(struct proxy *px, size_t n)
{
	if (px->outlen + n <= px->outcap)
		return 0;
	{
		size_t cap = px->outcap ? px->outcap : 4096;
		char *o;

		while (cap < px->outlen + n)
			cap *= 2;
		if ((o = realloc(px->out, cap)) == NULL)
			return -1;
		px->out = o;
		px->outcap = cap;
	}
	return 0;
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

/* --- finishing ------------------------------------------------------------------ */

static void
px_free(struct proxy *px)
{
	free(px->head);
	free(px->body);
	free(px->in);
	free(px->out);
	free(px);
}

/* Detach from the upstream: keep it for the next request or close it. */
static void
px_drop_up(struct proxy *px, bool reuse)
{
	struct upconn *up = px->up;

	if (up == NULL)
		return;
	px->up = NULL;
	upstream_put(up, reuse);
}

/* The response is complete: give everything back and let HTTP/1 go on. */
static void
px_done(struct proxy *px)
{
	struct conn *c = px->c;

	stats_hist(&px->pool->pc[px->t->idx].upstream, (mono_ns() - px->start_ns) / 1000);

	px_drop_up(px, px->up_reusable);
	queue_release(px->pool, &px->q, true);
	px->r->status = px->status;
	c->px = NULL;
	px_free(px);
	http1_request_done(c);
}

/*
 * Answer the client ourselves (503 from the queue, 502/504 from a failed
 * worker) when nothing of a response has reached it yet.
 */
static void
px_fail(struct proxy *px, int status, const char *token, uint32_t retry)
{
	struct conn *c = px->c;
	struct req *r = px->r;

	log_debug("pool %s: %s %s: answering %d (%s) after %u attempt(s)",
	    px->pool->name, px->method, px->target, status, token, px->attempts + 1);
	px_drop_up(px, false);
	if (px->q.qstate == PW_ACTIVE || px->q.qstate == PW_QUEUED ||
	    px->q.qstate == PW_READY)
		queue_cancel(px->pool, &px->q);
	r->retry_after = retry;
	/* The body: untouched, HTTP/1 drops it; half read, the stream is lost. */
	if (px->reqbody == FR_NONE || px->req_done)
		r->body_taken = true;
	else if (!px->body_started)
		r->body_taken = false;
	else
		c->flags |= CF_CLOSE | CF_LINGER;
	c->px = NULL;
	px_free(px);
	http1_handler_error(c, status, token);
}

/* The client went away, or the connection is being closed. */
void
proxy_abort(struct conn *c)
{
	struct proxy *px = c->px;

	if (px == NULL)
		return;
	c->px = NULL;
	px_drop_up(px, false);
	if (px->q.qstate != PW_NONE)
		queue_cancel(px->pool, &px->q);
	px_free(px);
}

/*
 * The worker failed us (connection refused, reset, closed early).  Before
 * the client saw anything, an idempotent request without a body gets one
 * more try; otherwise 502.  A malformed response is also reported to the
 * master as a protocol violation (a failure, event 1011).
 */
static void
px_upstream_failed(struct proxy *px, const char *why, enum upfail how)
{
	struct fe_worker *lost = px->q.w;
	bool protocol = how == UF_PROTOCOL;

	log_debug("pool %s: worker %u: %s", px->pool->name, lost ? lost->id : 0, why);
	if (lost != NULL)
		queue_worker_lost(lost, &px->q);
	if (protocol && lost != NULL) {
		struct ctl_worker_fault f;

		memset(&f, 0, sizeof(f));
		f.pool = px->pool->idx;
		f.worker = lost->id;
		snprintf(f.what, sizeof(f.what), "%s", why);
		if (ctl_send(px->t->fe->ctl, CTL_WORKER_FAULT, &f, sizeof(f), NULL, 0) == -1)
			log_warn("control channel");
	}
	if (px->client_sent) {
		/* Part of the response is out: it cannot be completed. */
		conn_close(px->c);
		return;
	}
	px_drop_up(px, false);
	/* Never taken by the worker: any request without a body may go on. */
	if (how == UF_UNDELIVERED && px->reqbody == FR_NONE) {
		px_retry(px, lost, true);
		return;
	}
	if (px->idempotent && !px->retried && !protocol) {
		px->retried = true;
		px_retry(px, lost, true);
		return;
	}
	px_fail(px, 502, "Connection_Abandoned_By_AppPool", 0);
}

/*
 * Try another worker: give the slot back and ask the queue again, avoiding
 * the one that just failed.
 */
static void
px_retry(struct proxy *px, struct fe_worker *lost, bool counts)
{
	int rc;

	/* A refused connect marks the worker dead, so it cannot loop. */
	stat_add(&px->pool->pc[px->t->idx].retries, 1);
	if (counts && ++px->attempts >= MAX_ATTEMPTS) {
		px_fail(px, 502, "Connection_Abandoned_By_AppPool", 0);
		return;
	}
	if (lost != NULL && counts)
		queue_worker_suspect(lost);
	queue_release(px->pool, &px->q, false);
	px->phase = PX_WAIT;
	px->headoff = 0;
	px->inlen = 0;
	px->outlen = px->outoff = 0;
	px->head_held = false;
	rc = queue_acquire(px->pool, &px->q, px->t, lost);
	if (rc == 0) {
		px_start(px);
		return;
	}
	if (rc == WEIR_AGAIN) {
		conn_set_deadline(px->c, px->pool->queue_timeout);
		client_events(px);
		return;
	}
	px_fail(px, rc, px->q.fail_token, px->q.retry_after);
}

/* --- response head ------------------------------------------------------------------ */

static bool
response_hop(struct hstr name, const struct http_response *res)
{
	static const char *hop[] = { "connection", "keep-alive", "proxy-connection",
	    "te", "trailer", "transfer-encoding", "upgrade", "content-length" };

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
	struct conn *c = px->c;
	bool head = px->r->h.method == HTTP_M_HEAD;
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
	px->up_reusable = (res->flags & HTTP_F_KEEPALIVE) && px->resbody != FR_CLOSE &&
	    px->req_done;
	/* 2. framing for the client */
	if (px->resbody == FR_CHUNKED || px->resbody == FR_CLOSE) {
		if (px->r->h.minor >= 1)
			px->client_chunked = true;
		else
			c->flags |= CF_CLOSE;	/* HTTP/1.0: the close ends the body */
	}
	if (out_reserve(px, res->header_len + 512) == -1)
		return -1;
	p = px->out + px->outlen;
	p = PUTS(p, "HTTP/1.1 ");
	p += fmt_u64(p, (uint64_t)res->status);
	*p++ = ' ';
	if (res->reason.n > 0)
		p = put(p, res->reason.p, res->reason.n);
	else {
		const char *rs = http1_reason(res->status);

		p = put(p, rs, strlen(rs));
	}
	p = PUTS(p, "\r\n");
	for (size_t i = 0; i < res->nheaders; i++) {
		const struct http_header *f = &res->headers[i];

		if (response_hop(f->name, res))
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
	if (c->flags & CF_CLOSE)
		p = PUTS(p, "Connection: close\r\n");
	else if (px->r->h.minor == 0)
		p = PUTS(p, "Connection: keep-alive\r\n");
	p = PUTS(p, "\r\n");
	px->outlen = (size_t)(p - px->out);
	px->status = res->status;
	px->r->status = res->status;
	return 0;
}

/* --- the pump: move bytes while they can move ------------------------------------- */

/* Read the client's body into the staging buffer, framed for the worker. */
static int
stage_request_body(struct proxy *px)
{
	struct conn *c = px->c;
	size_t avail = c->ilen - c->ipos;

	if (px->req_done || px->bodyoff < px->bodylen || avail == 0)
		return 0;
	px->body_started = true;
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
			memcpy(px->body + px->bodylen, "0\r\n\r\n", 5);
			px->bodylen += 5;
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
	return 0;
}

/* Send head and body to the worker.  Returns -1 after failing the request. */
static int
pump_send(struct proxy *px)
{
	int fd = px->up->io.fd;

	while (px->headoff < px->headlen) {
		ssize_t w = send(fd, px->head + px->headoff, px->headlen - px->headoff,
		    MSG_NOSIGNAL);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN)
				return 0;
			px_upstream_failed(px, "cannot send the request to the worker", UF_UNDELIVERED);
			return -1;
		}
		px->headoff += (size_t)w;
	}
	for (;;) {
		int s = stage_request_body(px);

		if (s == -1) {
			/* the client's chunked framing is broken: nothing to salvage */
			http1_abort(px->c, 400, "BadRequest", "bad chunked body");
			return -1;
		}
		if (s == -2) {
			http1_abort(px->c, 413, "EntityTooLarge", "body larger than max_body");
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
				px_upstream_failed(px, "the worker closed while receiving the request body", UF_DELIVERED);
				return -1;
			}
			px->bodyoff += (size_t)w;
		}
	}
	if (px->req_done || px->reqbody == FR_NONE) {
		px->req_done = true;
		px->phase = PX_HEAD;
	}
	return 0;
}

/* Read and parse the response head.  Returns -1 after failing/finishing. */
static int
pump_head(struct proxy *px)
{
	struct http_response *res;
	struct httpparse_limits lim;
	const struct conf_server *s = &px->c->gen->conf->server;
	ssize_t n;
	int hl;
	const char *why;

	/*
	 * A small response is held until its whole body is in: if the worker
	 * dies meanwhile, the client has seen nothing and the request can
	 * still go to another worker.
	 */
	while (px->head_held) {
		n = recv(px->up->io.fd, px->in + px->inlen, PX_INBUF - px->inlen, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			px_upstream_failed(px, "connection to the worker failed mid-response", UF_DELIVERED);
			return -1;
		}
		if (n == 0) {
			px_upstream_failed(px, "the worker closed the connection mid-response", UF_DELIVERED);
			return -1;
		}
		px->inlen += (size_t)n;
		conn_set_deadline(px->c, response_timeout(px));
		if (px->inlen >= px->res_left) {
			px->head_held = false;
			px->phase = PX_BODY;
			return 1;
		}
	}
	for (;;) {
		if (px->inlen == PX_INBUF) {
			px_upstream_failed(px, "response header section too large", UF_PROTOCOL);
			return -1;
		}
		n = recv(px->up->io.fd, px->in + px->inlen, PX_INBUF - px->inlen, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			/*
			 * A reset with nothing received: the request was still
			 * unread in the worker (its socket closed with our bytes
			 * queued), so it was never processed.
			 */
			px_upstream_failed(px, "connection to the worker failed",
			    errno == ECONNRESET && px->inlen == 0 ? UF_UNDELIVERED : UF_DELIVERED);
			return -1;
		}
		if (n == 0) {
			px_upstream_failed(px, px->inlen ? "the worker closed mid-response header" :
			    "the worker closed the connection without a response",
			    px->inlen > 0 ? UF_PROTOCOL : UF_DELIVERED);
			return -1;
		}
		px->inlen += (size_t)n;
		conn_set_deadline(px->c, response_timeout(px));
		if ((res = malloc(sizeof(*res))) == NULL) {
			px_fail(px, 500, "Internal", 0);
			return -1;
		}
		lim.max_request_line = s->max_header_size;
		lim.max_header_bytes = PX_INBUF;
		lim.max_headers = HTTPPARSE_MAX_HEADERS;
		hl = httpparse_response(px->in, px->inlen, res, &lim, &why);
		if (hl == WEIR_AGAIN) {
			free(res);
			continue;
		}
		if (hl == WEIR_ERROR) {
			char what[200];

			free(res);
			snprintf(what, sizeof(what), "malformed response: %s", why);
			px_upstream_failed(px, what, UF_PROTOCOL);
			return -1;
		}
		if (res->status < 200) {
			/* Interim (103 and the like): not forwarded. */
			bool upgrade = res->status == 101;

			free(res);
			if (upgrade) {
				px_upstream_failed(px, "101 Switching Protocols is not supported", UF_PROTOCOL);
				return -1;
			}
			memmove(px->in, px->in + hl, px->inlen - (size_t)hl);
			px->inlen -= (size_t)hl;
			continue;
		}
		if (client_head(px, res) == -1) {
			free(res);
			px_fail(px, 500, "Internal", 0);
			return -1;
		}
		free(res);
		/* Whatever follows the head is body. */
		memmove(px->in, px->in + hl, px->inlen - (size_t)hl);
		px->inlen -= (size_t)hl;
		if (px->resbody == FR_LENGTH && px->res_left <= PX_INBUF &&
		    px->inlen < px->res_left) {
			px->head_held = true;
			return pump_head(px);
		}
		px->phase = PX_BODY;
		if (px->resbody == FR_CHUNKED)
			httpparse_chunked_init(&px->res_chunk);
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
			px_upstream_failed(px, what, UF_PROTOCOL);
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
		if (out_reserve(px, 8) == 0) {
			memcpy(px->out + px->outlen, "0\r\n\r\n", 5);
			px->outlen += 5;
		}
	}
	px->res_done = true;
}

/*
 * Move bytes in every direction that can move now; set the interest of both
 * sockets for what is left.  Every path that ends the request returns at once.
 */
static void
px_pump(struct proxy *px)
{
	int r;

	for (;;) {
		if (px->phase == PX_SEND) {
			if (pump_send(px) == -1)
				return;
			if (px->phase == PX_SEND)
				break;
		}
		if (px->phase == PX_HEAD) {
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
		if (px->phase != PX_BODY)
			break;
		/* flush to the client */
		r = client_flush(px);
		if (r == -1) {
			conn_close(px->c);
			return;
		}
		if (r == 0)
			break;
		if (px->res_done) {
			px_done(px);
			return;
		}
		/* more from the worker */
		{
			ssize_t n = recv(px->up->io.fd, px->in, PX_INBUF, 0);

			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				px_upstream_failed(px, "connection to the worker failed mid-response", UF_DELIVERED);
				return;
			}
			if (n == 0) {
				if (px->resbody == FR_CLOSE) {
					finish_body(px);
					continue;
				}
				px_upstream_failed(px, "the worker closed the connection mid-response", UF_DELIVERED);
				return;
			}
			px->inlen = (size_t)n;
			conn_set_deadline(px->c, response_timeout(px));
			if ((r = consume_body(px)) == -1)
				return;
			if (r == 1)
				finish_body(px);
		}
	}
	/* Interest: what are we waiting for? */
	if (px->phase == PX_SEND) {
		up_set(px, (px->headoff < px->headlen || px->bodyoff < px->bodylen) ?
		    LOOP_WRITE : 0);
	} else if (px->phase == PX_HEAD) {
		up_set(px, LOOP_READ);
	} else {
		bool client_full = px->outoff < px->outlen || px->dataoff < px->dataend;

		up_set(px, client_full ? 0 : LOOP_READ);
	}
	client_events(px);
}

static void
up_event(void *arg, uint32_t events)
{
	struct upconn *up = arg;

	(void)events;
	px_pump(up->owner);
}

/* --- starting ------------------------------------------------------------------------- */

/* A worker slot is ours: connect (or reuse a connection) and send. */
static void
px_start(struct proxy *px)
{
	struct fe_worker *w = px->q.w;
	struct conn *c = px->c;

	if (px->attempts == 0 && !px->retried)
		stats_hist(&px->pool->pc[px->t->idx].wait, (mono_ns() - px->start_ns) / 1000);

	px->q.qstate = PW_ACTIVE;
	if ((px->up = upstream_get(px->t, w, up_event, px)) == NULL) {
		/*
		 * Refused or no socket file: the worker is gone and nothing was
		 * delivered, so any request may go elsewhere (not "the" retry).
		 */
		if (errno == ECONNREFUSED || errno == ENOENT) {
			queue_worker_dead(w);
			px_retry(px, w, false);
			return;
		}
		px_upstream_failed(px, "cannot connect to the worker", UF_UNDELIVERED);
		return;
	}
	px->phase = PX_SEND;
	/* The client may send the body now (RFC 9110 §10.1.1). */
	if ((px->r->h.flags & HTTP_F_EXPECT_100) && px->reqbody != FR_NONE &&
	    c->ipos == c->ilen) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		/* Best effort: a full socket buffer right now is unheard of. */
		(void)!send(c->io.fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL);
	}
	conn_set_deadline(c, response_timeout(px));
	px_pump(px);
}

/* The queue answered: a slot on a worker, or a failure (thread of the conn). */
void
proxy_assigned(struct pwait *pw)
{
	struct proxy *px = (struct proxy *)pw;

	if (pw->fail != 0) {
		pw->qstate = PW_NONE;
		px_fail(px, pw->fail, pw->fail_token, pw->retry_after);
		return;
	}
	px_start(px);
}

void
proxy_describe(const struct pwait *pw, char *method, size_t mlen, char *target,
    size_t tlen, uint64_t *started_ns)
{
	const struct proxy *px = (const struct proxy *)pw;

	wstrlcpy(method, px->method, mlen);
	wstrlcpy(target, px->target, tlen);
	*started_ns = px->start_ns;
}

/* --- client events while a pool request runs ---------------------------------------- */

void
proxy_client_event(struct conn *c, uint32_t events)
{
	struct proxy *px = c->px;

	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		/* The client is gone (or half-closed): nobody to answer. */
		if (!(events & EPOLLIN) || (events & (EPOLLHUP | EPOLLERR)) ||
		    px->phase != PX_SEND) {
			conn_close(c);
			return;
		}
	}
	if ((events & EPOLLIN) && px->phase == PX_SEND) {
		ssize_t n;

		if (c->ipos == c->ilen)
			c->ipos = c->ilen = 0;
		if (c->ibuf == NULL) {
			if ((c->ibuf = block_get(c->t)) == NULL) {
				conn_close(c);
				return;
			}
			c->icap = FE_BLOCK;
		}
		n = read(c->io.fd, c->ibuf + c->ilen, c->icap - c->ilen);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
			conn_close(c);
			return;
		}
		if (n > 0) {
			c->ilen += (uint32_t)n;
			conn_set_deadline(c, c->gen->conf->server.body_timeout);
		}
	}
	if (px->phase == PX_WAIT) {
		client_events(px);
		return;
	}
	px_pump(px);
}

void
proxy_client_timeout(struct conn *c)
{
	struct proxy *px = c->px;

	switch (px->phase) {
	case PX_WAIT: {
		bool timed_out;

		pthread_mutex_lock(&px->pool->lock);
		timed_out = px->q.qstate == PW_QUEUED;
		pthread_mutex_unlock(&px->pool->lock);
		if (timed_out) {
			px_fail(px, 503, "AppPoolTimer", px->pool->retry_after);
			return;
		}
		/* it was given a worker meanwhile: let it run */
		conn_set_deadline(c, 1000);
		return;
	}
	case PX_SEND:
	case PX_HEAD:
		if (!px->client_sent) {
			px_fail(px, 504, "Timer_Response", 0);
			return;
		}
		conn_close(c);
		return;
	default:
		conn_close(c);
		return;
	}
}

/* --- the handler ---------------------------------------------------------------------- */

static int
proxy_on_request(struct handler *h, struct conn *c, struct req *r)
{
	struct proxy_handler *ph = (struct proxy_handler *)h;
	struct fe_pool *pool = ph->pool;
	struct proxy *px;
	int rc;

	if ((px = calloc(1, sizeof(*px))) == NULL)
		return 500;
	px->q.kind = PW_KIND_PROXY;
	px->c = c;
	px->r = r;
	px->t = c->t;
	px->pool = pool;
	px->start_ns = r->start_ns;
	r->queue = pool->name;
	r->poolp = pool;
	if (r->h.flags & HTTP_F_CHUNKED) {
		px->reqbody = FR_CHUNKED;
		httpparse_chunked_init(&px->req_chunk);
	} else if (r->h.content_length > 0) {
		px->reqbody = FR_LENGTH;
		px->req_left = (uint64_t)r->h.content_length;
	} else {
		px->req_done = true;
	}
	switch (r->h.method) {
	case HTTP_M_GET:
	case HTTP_M_HEAD:
	case HTTP_M_OPTIONS:
	case HTTP_M_TRACE:
	case HTTP_M_PUT:
	case HTTP_M_DELETE:
	case HTTP_M_PROPFIND:
	case HTTP_M_SEARCH:
	case HTTP_M_REPORT:
		px->idempotent = px->reqbody == FR_NONE;
		break;
	default:
		break;
	}
	wstrlcpy(px->method, httpparse_method_name(r->h.method), sizeof(px->method));
	{
		size_t n = r->h.target.n < sizeof(px->target) - 1 ?
		    r->h.target.n : sizeof(px->target) - 1;

		memcpy(px->target, r->h.target.p, n);
		px->target[n] = '\0';
	}
	if (build_head(px) == -1 ||
	    (px->in = malloc(PX_INBUF)) == NULL ||
	    (px->reqbody != FR_NONE && (px->body = malloc(PX_BODYBUF)) == NULL)) {
		px_free(px);
		return 500;
	}
	c->px = px;
	c->state = CONN_HANDLER;
	r->body_taken = true;
	rc = queue_acquire(pool, &px->q, c->t, NULL);
	if (rc == 0) {
		px_start(px);
		return WEIR_OK;
	}
	if (rc == WEIR_AGAIN) {
		px->phase = PX_WAIT;
		conn_set_deadline(c, pool->queue_timeout);
		client_events(px);
		return WEIR_OK;
	}
	px_fail(px, rc, px->q.fail_token, px->q.retry_after);
	return WEIR_OK;
}

static void
proxy_dispose(struct handler *h)
{
	free(h);
}

struct handler *
proxy_new(struct frontend *fe, struct fe_pool *pool)
{
	struct proxy_handler *ph = xcalloc(1, sizeof(*ph));

	ph->super.name = "pool";
	ph->super.on_request = proxy_on_request;
	ph->super.dispose = proxy_dispose;
	ph->fe = fe;
	ph->pool = pool;
	return &ph->super;
}
