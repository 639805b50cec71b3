/*
 * probe.c - one health probe: connect to a worker or an upstream, ask,
 * read the answer, judge it, close.
 *
 * Four kinds of question:
 *  - PROBE_HTTP: GET ping_path with Connection: close.  Any status line is
 *    an answer (the caller decides which statuses count); the rest of the
 *    answer is read and dropped until the app closes, so it never sees a
 *    reset while writing.
 *  - PROBE_ALIVE: the same with `OPTIONS * HTTP/1.1`, for an HTTP worker
 *    without ping_path: any status line (404, 405, 500 ...) proves the
 *    process reads and answers.  A bare connect would not: the kernel
 *    accepts a Unix connection into the backlog of a worker that is
 *    stopped or deadlocked, so only the first byte of an answer counts.
 *    `OPTIONS *` asks nothing of the application (no page is rendered).
 *  - PROBE_FCGI: an FCGI_GET_VALUES round trip, the FastCGI health check.
 *    The connection is closed the moment FCGI_GET_VALUES_RESULT (or
 *    FCGI_UNKNOWN_TYPE: an app that does not implement the management
 *    records still answered in FastCGI) is in: php-cgi serves one
 *    connection at a time and keeps reading this one after answering, so
 *    holding it would hold the worker.
 *  - PROBE_CONNECT: the connection is accepted (an upstream with nothing
 *    better to ask).
 *
 * The caller owns the deadline: it cancels the probe when its own timer
 * fires first.  The result always comes from the event loop, never from
 * inside probe_start(), and the probe is freed before the callback runs,
 * so the callback may do anything (forget its pointer first).
 *
 * The FastCGI records are the front end's pure codec (src/frontend/fcgi.c,
 * linked into the same binary); only its fcgi block of frontend.h is used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "rc.h"
#include "util.h"
#include "master.h"
#include "../frontend/frontend.h"

struct probe {
	struct loop	*loop;
	int		 fd;
	struct loop_io	 io;
	enum probe_kind	 kind;
	probe_cb	 cb;
	void		*arg;
	char		 req[512];	/* the question, sent from req[sent] */
	size_t		 reqlen, sent;
	char		 buf[256];	/* PROBE_HTTP: the status line gathered */
	size_t		 len;
	int		 status;	/* PROBE_HTTP, PROBE_ALIVE: once its status line is in */
	bool		 checked;	/* the connect's outcome was looked at */
	struct fcgi_dec	 dec;		/* PROBE_FCGI: the answer's records */
};

static void
probe_free_cb(void *arg)
{
	free(arg);
}

/* Close and free; the memory waits for the end of the loop's batch. */
static void
release(struct probe *pr)
{
	loop_io_del(pr->loop, &pr->io);
	if (pr->fd != -1)
		close(pr->fd);
	pr->fd = -1;
	if (loop_defer(pr->loop, probe_free_cb, pr) == -1)
		free(pr);	/* no event can be pending: io is off epoll */
}

/*
 * The HTTP status the probe has read so far, 0 if none: an answer whose
 * status line came but whose connection the app keeps open (it ignored
 * Connection: close) still proves the app answers.
 */
int
probe_status(const struct probe *pr)
{
	return pr != NULL ? pr->status : 0;
}

void
probe_cancel(struct probe *pr)
{
	if (pr != NULL)
		release(pr);
}

/* The end: free the probe, then tell the caller. */
static void
finish(struct probe *pr, int result, const char *why)
{
	probe_cb cb = pr->cb;
	void *arg = pr->arg;
	char text[200];

	wstrlcpy(text, why != NULL ? why : "", sizeof(text));
	release(pr);
	cb(arg, result, text);
}

/* Connected?  A refused or unreachable TCP connect shows in SO_ERROR. */
static int
connect_error(struct probe *pr)
{
	int e = 0;
	socklen_t elen = sizeof(e);

	pr->checked = true;
	if (getsockopt(pr->fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1)
		return errno;
	return e;
}

/* PROBE_FCGI: feed what came; returns true when the probe is over. */
static bool
fcgi_answer(struct probe *pr, const char *buf, size_t n)
{
	struct fcgi_event ev;
	const char *why = NULL;
	size_t off = 0;

	while (off < n) {
		ssize_t k = fcgi_dec_next(&pr->dec, buf + off, n - off, &ev, &why);

		if (k < 0) {
			finish(pr, PROBE_BAD, why);
			return true;
		}
		off += (size_t)k;
		switch (ev.type) {
		case FCGI_EV_NONE:
			break;
		case FCGI_EV_VALUES:
		case FCGI_EV_UNKNOWN_TYPE:
			finish(pr, PROBE_OK, NULL);
			return true;
		default:
			finish(pr, PROBE_BAD, "a FastCGI stream record in answer to FCGI_GET_VALUES");
			return true;
		}
	}
	return false;
}

/* PROBE_HTTP: gather the status line, then drop the rest. */
static bool
http_answer(struct probe *pr, const char *buf, size_t n)
{
	size_t room;
	int status = 0;

	if (pr->status)
		return false;
	room = sizeof(pr->buf) - 1 - pr->len;
	if (n > room)
		n = room;
	memcpy(pr->buf + pr->len, buf, n);
	pr->len += n;
	pr->buf[pr->len] = '\0';
	if (strstr(pr->buf, "\r\n") == NULL && pr->len < sizeof(pr->buf) - 1)
		return false;
	if (sscanf(pr->buf, "HTTP/1.%*1d %3d", &status) != 1 ||
	    status < 100 || status > 999) {
		finish(pr, PROBE_BAD, "the answer to a ping was not HTTP");
		return true;
	}
	pr->status = status;
	return false;
}

static void
on_io(void *arg, uint32_t events)
{
	struct probe *pr = arg;
	char buf[4096], why[160];
	ssize_t n;

	if (!pr->checked && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int e = connect_error(pr);

		if (e != 0) {
			snprintf(why, sizeof(why), "connect: %s", strerror(e));
			finish(pr, PROBE_FAILED, why);
			return;
		}
		if (pr->kind == PROBE_CONNECT) {
			finish(pr, PROBE_OK, NULL);
			return;
		}
	}
	if (pr->sent < pr->reqlen) {
		n = send(pr->fd, pr->req + pr->sent, pr->reqlen - pr->sent, MSG_NOSIGNAL);
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			snprintf(why, sizeof(why), "send: %s", strerror(errno));
			finish(pr, PROBE_FAILED, why);
			return;
		}
		if (n > 0)
			pr->sent += (size_t)n;
		if (pr->sent == pr->reqlen &&
		    loop_io_mod(pr->loop, &pr->io, LOOP_READ) == -1) {
			finish(pr, PROBE_FAILED, "epoll_ctl failed");
			return;
		}
		return;
	}
	for (;;) {
		n = recv(pr->fd, buf, sizeof(buf), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == -1) {
			snprintf(why, sizeof(why), "recv: %s", strerror(errno));
			finish(pr, PROBE_FAILED, why);
			return;
		}
		if (n == 0) {
			if (pr->status)
				finish(pr, pr->status, NULL);
			else
				finish(pr, PROBE_FAILED, "the connection was closed without an answer");
			return;
		}
		if (pr->kind == PROBE_FCGI ? fcgi_answer(pr, buf, (size_t)n) :
		    http_answer(pr, buf, (size_t)n))
			return;
	}
}

/*
 * Start a probe of `kind` at addr (`path`: the PROBE_HTTP request target).
 * Returns it, or NULL with err when the connection cannot even be tried
 * (refused at once, no such socket file): no callback follows then.
 * Otherwise cb(arg, result, why) comes exactly once unless the probe is
 * cancelled first: result >= 100 is the HTTP status (PROBE_HTTP), PROBE_OK
 * a FastCGI answer or an accepted connection, PROBE_FAILED no answer,
 * PROBE_BAD an answer in the wrong protocol.
 */
struct probe *
probe_start(struct loop *l, const struct sockaddr_storage *addr, socklen_t addrlen,
    enum probe_kind kind, const char *path, probe_cb cb, void *arg, char *err)
{
	struct probe *pr = xcalloc(1, sizeof(*pr));
	ssize_t q;

	pr->loop = l;
	pr->kind = kind;
	pr->cb = cb;
	pr->arg = arg;
	pr->io.fd = -1;
	fcgi_dec_init(&pr->dec);
	if (kind == PROBE_HTTP || kind == PROBE_ALIVE) {
		int n = snprintf(pr->req, sizeof(pr->req),
		    "%s %s HTTP/1.1\r\nHost: weir-ping\r\nUser-Agent: weir-ping\r\n"
		    "Connection: close\r\n\r\n", kind == PROBE_HTTP ? "GET" : "OPTIONS",
		    kind == PROBE_ALIVE ? "*" : path != NULL ? path : "/");

		pr->reqlen = n < 0 ? 0 : WEIR_MIN((size_t)n, sizeof(pr->req) - 1);
	} else if (kind == PROBE_FCGI) {
		if ((q = fcgi_get_values(pr->req, sizeof(pr->req))) < 0) {
			snprintf(err, WEIR_ERRLEN, "cannot encode FCGI_GET_VALUES");
			free(pr);
			return NULL;
		}
		pr->reqlen = (size_t)q;
	}
	/*
	 * A Unix socket connects at once or fails at once (ECONNREFUSED,
	 * ENOENT; EAGAIN: its backlog is full, nobody accepts); TCP is
	 * EINPROGRESS and its outcome shows in SO_ERROR once writable.
	 */
	pr->fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pr->fd == -1 ||
	    (connect(pr->fd, (const struct sockaddr *)addr, addrlen) == -1 &&
	    errno != EINPROGRESS)) {
		snprintf(err, WEIR_ERRLEN, "%s: %s", pr->fd == -1 ? "socket" : "connect",
		    strerror(errno));
		if (pr->fd != -1)
			close(pr->fd);
		free(pr);
		return NULL;
	}
	/* Writable once connected: the question goes out from on_io(). */
	if (loop_io_add(l, &pr->io, pr->fd, LOOP_WRITE, on_io, pr) == -1) {
		snprintf(err, WEIR_ERRLEN, "epoll_ctl: %s", strerror(errno));
		close(pr->fd);
		free(pr);
		return NULL;
	}
	return pr;
}
