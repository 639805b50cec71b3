/*
 * hostconn.c - weir-host's connections: accepting, reading request heads and
 * answering health pings on the main thread; serving one request on a
 * handler thread; the blocking I/O handler threads use.
 *
 * A connection is in one of two places: in the main loop (idle, or reading a
 * head) or with the thread pool (queued or being served; not in epoll).  The
 * input buffer holds the head, then body bytes, then possibly the next
 * pipelined request; after each request the unconsumed rest moves to the
 * front.  The head's strings are copied into the request arena before the
 * handler runs, so reading the body may reuse the whole buffer.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"
#include "host.h"

/* The front end enforces the client-facing limits; these only bound memory. */
static const struct httpparse_limits limits = {
	HOST_MAX_HEAD, HOST_MAX_HEAD, HTTPPARSE_MAX_HEADERS
};

/* --- main thread ------------------------------------------------------------- */

static void on_readable(void *arg, uint32_t events);
static void on_head_timeout(void *arg);

static void
conn_release(void *arg)
{
	struct hconn *c = arg;

	arena_free(&c->arena);
	free(c->buf);
	free(c);
}

/*
 * Close a connection owned by the main loop.  The memory goes after the
 * current batch of events (loop_defer), which may still name it.
 */
static void
conn_free(struct hconn *c)
{
	struct host *h = c->h;

	loop_io_del(h->loop, &c->io);
	loop_timer_cancel(h->loop, &c->timer);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	close(c->fd);
	c->fd = -1;
	if (loop_defer(h->loop, conn_release, c) == -1)
		conn_release(c);	/* out of memory: free now, the lesser evil */
}

void
hostconn_accept(void *arg, uint32_t events)
{
	struct host *h = arg;

	(void)events;
	for (;;) {
		struct hconn *c;
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL || (c->buf = malloc(HOST_BUF_INIT)) == NULL) {
			log_warnx("accept: out of memory");
			free(c);
			close(fd);
			return;
		}
		c->h = h;
		c->fd = fd;
		c->cap = HOST_BUF_INIT;
		c->io.fd = -1;
		arena_init(&c->arena, 8192);
		loop_timer_init(&c->timer, on_head_timeout, c);
		if ((c->next = h->conns) != NULL)
			c->next->prev = c;
		h->conns = c;
		if (loop_io_add(h->loop, &c->io, fd, LOOP_READ, on_readable, c) == -1) {
			log_warn("epoll_ctl");
			conn_free(c);
		}
	}
}

/* Best effort for the small answers the main thread gives itself. */
static void
send_now(struct hconn *c, const char *p, size_t n)
{
	ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (w < 0 || (size_t)w != n)
		c->close = true;
}

/* A request the parser refused: the front end sent something malformed. */
static void
answer_error(struct hconn *c, int status, const char *why)
{
	char out[256];
	const char *reason = http_reason(status);
	int n;

	log_warnx("pool %s: bad request from the front end: %d %s", c->h->pool,
	    status, why);
	n = snprintf(out, sizeof(out), "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n", status, reason,
	    strlen(reason) + 1, reason);
	send_now(c, out, (size_t)n);
}

/* GET or HEAD /.weir/ping without a body: the host answers it itself. */
static bool
is_ping(const struct http_request *q)
{
	return (q->method == HTTP_M_GET || q->method == HTTP_M_HEAD) &&
	    !(q->flags & HTTP_F_CHUNKED) && q->content_length <= 0 &&
	    q->path.n == strlen(HOST_PING_PATH) &&
	    memcmp(q->path.p, HOST_PING_PATH, q->path.n) == 0;
}

static void
answer_ping(struct hconn *c)
{
	char out[160];
	bool keep = (c->req.flags & HTTP_F_KEEPALIVE) && !host_stopping(c->h);
	int n;

	n = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 3\r\n%s\r\n%s", keep ? "" : "Connection: close\r\n",
	    c->req.method == HTTP_M_HEAD ? "" : "ok\n");
	if (!keep)
		c->close = true;
	send_now(c, out, (size_t)n);
}

static void
consume(struct hconn *c)
{
	memmove(c->buf, c->buf + c->rd, c->len - c->rd);
	c->len -= c->rd;
	c->rd = 0;
}

/*
 * Look at the buffered input: a complete head goes to the thread pool (or
 * is a ping, answered here), a partial one waits (with a deadline), a
 * malformed one is answered and the connection closed.  Called after each
 * read and when a connection comes back with pipelined bytes.
 */
static void
next_request(struct hconn *c)
{
	struct host *h = c->h;

	while (c->len > 0) {
		const char *why = NULL;
		int status = 0, rc;

		rc = httpparse_request(c->buf, c->len, &c->req, &limits, &status, &why);
		if (rc == WEIR_AGAIN) {
			if (!loop_timer_armed(&c->timer))
				loop_timer_set(h->loop, &c->timer, HOST_HEAD_TIMEOUT);
			return;
		}
		loop_timer_cancel(h->loop, &c->timer);
		if (rc == WEIR_ERROR) {
			answer_error(c, status, why);
			conn_free(c);
			return;
		}
		c->rd = (size_t)rc;
		if (!is_ping(&c->req)) {
			loop_io_del(h->loop, &c->io);
			host_queue(h, c);
			return;
		}
		answer_ping(c);
		consume(c);
		if (c->close) {
			conn_free(c);
			return;
		}
	}
	loop_timer_cancel(h->loop, &c->timer);
}

static void
on_readable(void *arg, uint32_t events)
{
	struct hconn *c = arg;
	ssize_t n;

	(void)events;
	if (c->len == c->cap) {
		size_t ncap = WEIR_MIN(c->cap * 2, (size_t)HOST_MAX_HEAD);
		char *nb = ncap > c->cap ? realloc(c->buf, ncap) : NULL;

		if (nb == NULL) {
			answer_error(c, 431, "request head too large");
			conn_free(c);
			return;
		}
		c->buf = nb;
		c->cap = ncap;
	}
	n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(c);
		return;
	}
	c->len += (size_t)n;
	next_request(c);
}

static void
on_head_timeout(void *arg)
{
	struct hconn *c = arg;

	answer_error(c, 408, "request head not completed in time");
	conn_free(c);
}

/* A handler thread is done with c: next request, wait, or close. */
void
hostconn_returned(struct host *h, struct hconn *c)
{
	if (c->close || host_stopping(h)) {
		conn_free(c);
		return;
	}
	if (loop_io_add(h->loop, &c->io, c->fd, LOOP_READ, on_readable, c) == -1) {
		conn_free(c);
		return;
	}
	next_request(c);
}

/* Shutdown: close every connection that is not with a handler thread. */
void
hostconn_close_idle(struct host *h)
{
	struct hconn *c, *next;

	for (c = h->conns; c != NULL; c = next) {
		next = c->next;
		if (!c->queued)
			conn_free(c);
	}
}

/* --- handler threads: blocking I/O with deadlines -------------------------------- */

static int
wait_fd(int fd, short what)
{
	struct pollfd p = { .fd = fd, .events = what, .revents = 0 };
	int n;

	while ((n = poll(&p, 1, HOST_IO_TIMEOUT)) == -1 && errno == EINTR)
		;
	return n == 1 ? 0 : -1;
}

/* Send all of p; -1 (and c->close) when the peer is gone or stalls. */
int
hostconn_send(struct hconn *c, const void *p, size_t n)
{
	const char *s = p;

	while (n > 0) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
			    wait_fd(c->fd, POLLOUT) == 0)
				continue;
			c->close = true;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int
hostconn_flush(struct hconn *c)
{
	int rc = 0;

	if (c->olen > 0)
		rc = hostconn_send(c, c->obuf, c->olen);
	c->olen = 0;
	return rc;
}

/*
 * Read more input after buf[len] (the caller made room).  Returns the bytes
 * read, 0 when the peer closed, -1 on error or HOST_IO_TIMEOUT of silence.
 */
int
hostconn_fill(struct hconn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);

		if (n >= 0) {
			c->len += (size_t)n;
			return (int)n;
		}
		if (errno == EINTR)
			continue;
		if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
		    wait_fd(c->fd, POLLIN) == 0)
			continue;
		return -1;
	}
}

/* Whole fixed answers from the host itself (out of memory). */
static void
answer_500(struct hconn *c)
{
	static const char out[] = "HTTP/1.1 500 Internal Server Error\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 22\r\nConnection: close\r\n"
	    "\r\nInternal Server Error\n";

	c->close = true;
	(void)hostconn_send(c, out, sizeof(out) - 1);
}

/*
 * On a handler thread: run the request at the head of c through the modules
 * in order until one does not decline, finish the response, discard what is
 * left of the body, and leave the next request's bytes at the buffer start.
 */
void
hostconn_serve(struct hconn *c)
{
	struct host *h = c->h;
	struct weir_req *r;
	int rc = WEIR_MOD_DECLINED;

	arena_reset(&c->arena);
	c->olen = 0;
	if (hostapi_begin(c, &r) == -1) {
		answer_500(c);
		return;
	}
	for (size_t i = 0; i < h->nmods && rc == WEIR_MOD_DECLINED; i++) {
		struct weir_ctx *m = &h->mods[i];

		r->mod = m;
		if (m->serialize)
			pthread_mutex_lock(&m->lock);
		rc = m->desc->handle(m, r);
		if (m->serialize)
			pthread_mutex_unlock(&m->lock);
		if (rc == WEIR_MOD_DECLINED && (r->head_sent || r->written > 0)) {
			log_warnx("pool %s: module %s declined %s %s after answering it",
			    h->pool, m->name, r->method, r->path);
			rc = WEIR_MOD_OK;
		}
	}
	if (rc == WEIR_MOD_DECLINED) {
		r->mod = NULL;
		rc = weir_respond(r, 404, "text/plain", "Not Found\n", 10) == 0 ?
		    WEIR_MOD_OK : WEIR_MOD_ERROR;
	}
	if (hostapi_finish(r, rc) == 0)
		hostapi_drain(r);
	if (host_stopping(h))
		c->close = true;
	if (!c->close)
		consume(c);
	arena_reset(&c->arena);
}
