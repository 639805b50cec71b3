/*
 * weir-test-hello: a small, fast, socket-activated HTTP/1.1 upstream for
 * weir's integration tests and benchmarks.
 *
 * It takes its listening socket the systemd way: fd 3, LISTEN_FDS=1 and
 * LISTEN_PID equal to its own pid; anything else is refused with exit 78
 * (EX_CONFIG, "retrying will not help") and a one-line reason on stderr.
 *
 * One thread, epoll, non-blocking sockets.  Keep-alive (HTTP/1.1 by default,
 * HTTP/1.0 with "Connection: keep-alive"), "Connection: close" honoured,
 * pipelined requests answered in order, request bodies framed by
 * Content-Length or chunked (read and discarded, or echoed by /echo).
 * Every buffer is bounded: a request head larger than 16 KiB gets 431,
 * anything malformed gets 400 and the connection is closed.
 *
 *   /healthz        200 "ok"
 *   /pid            200 our pid
 *   /conns          200 "PID N": our pid, connections accepted since start
 *   /requests       200 requests answered since start (this one included)
 *   /echo           200 the request body (streamed back, same framing)
 *   /sleep?ms=N     200 "slept N ms" after N ms (a timer, not sleep(3))
 *   /exit?code=N    exit(N) at once, no response
 *   /kill           SIGKILL ourselves, no response
 *   anything else   200 "hello, world\n"
 *
 * The endpoints are matched on the last segment of the path, so they work
 * under any prefix (weir passes "/app/pid" on to a pool mounted at /app).
 *
 * Options: --exit-at-start CODE  write one line to stderr and exit with CODE
 *                                before looking at the socket (a worker that
 *                                can never start, for Rapid-Fail tests).
 *
 * SIGTERM or SIGINT: stop accepting, close idle connections, finish the
 * requests in progress (their responses carry "Connection: close"), exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define EX_CONFIG	78
#define IN_CAP		16384		/* request head limit and read buffer */
#define OUT_HIGH	65536		/* stop taking input above this backlog */
#define OUT_MAX		(OUT_HIGH + 2 * IN_CAP)	/* hard cap of the output buffer */
#define LINE_MAX_	1024		/* chunk-size and trailer lines */
#define SLEEP_MAX_MS	600000
#define MAX_EVENTS	128

enum state {
	ST_HEAD,	/* waiting for / parsing a request head */
	ST_BODY,	/* reading the request body */
	ST_SLEEP,	/* /sleep: waiting for the timer */
};

enum chunk_state {
	CH_SIZE,	/* reading "HEX[;ext]\r\n" */
	CH_DATA,	/* reading chunk data */
	CH_DATA_END,	/* reading the CRLF after the data */
	CH_TRAILER,	/* reading trailer lines up to an empty one */
};

enum route { R_HELLO, R_HEALTHZ, R_PID, R_CONNS, R_REQUESTS, R_ECHO, R_SLEEP };

struct conn {
	int		 fd;
	enum state	 state;
	bool		 keep_alive;	/* of the current request */
	bool		 http10;	/* ...which is HTTP/1.0 */
	bool		 head_method;	/* HEAD: no response body */
	bool		 closing;	/* close once the output is flushed */
	bool		 peer_eof;	/* the client shut down its side */
	uint32_t	 events;	/* what epoll watches for */
	/* request body */
	bool		 chunked;
	bool		 echo;		/* copy the body to the output */
	bool		 echo_chunked;	/* ...with chunk framing */
	enum chunk_state cstate;
	uint64_t	 body_left;	/* Content-Length or current chunk */
	enum route	 route;
	long		 sleep_ms;
	int64_t		 wake_ms;	/* ST_SLEEP: when to answer */
	struct conn	*sprev, *snext;	/* list of sleeping connections */
	struct conn	*prev, *next;	/* list of all connections */
	/* buffers */
	size_t		 in_off, in_len;
	char		*out;
	size_t		 out_off, out_len, out_cap;
	char		 in[IN_CAP];
};

static int	 epfd = -1;
static int	 lfd = 3;
static int	 sigfd = -1;
static bool	 draining;
static bool	 accept_paused;
static unsigned	 nconns;
static uint64_t	 accepted, answered;
static struct conn *sleepers;
static struct conn *conns;
/* epoll tags for the two non-connection descriptors */
static char	 tag_listen, tag_signal;

static void	conn_close(struct conn *);
static void	conn_process(struct conn *);

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
die(int code, const char *msg)
{
	fprintf(stderr, "weir-test-hello: %s\n", msg);
	exit(code);
}

/* --- output ------------------------------------------------------------- */

static bool
out_append(struct conn *c, const void *p, size_t n)
{
	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + n > c->out_cap) {
		if (c->out_off > 0) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		if (c->out_len + n > c->out_cap) {
			size_t cap = c->out_cap ? c->out_cap : 4096;
			char *nb;

			while (cap < c->out_len + n)
				cap *= 2;
			if (cap > OUT_MAX)
				return false;
			if ((nb = realloc(c->out, cap)) == NULL)
				return false;
			c->out = nb;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return true;
}

static bool
out_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool
out_printf(struct conn *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return false;
	return out_append(c, buf, (size_t)n);
}

static size_t
out_pending(const struct conn *c)
{
	return c->out_len - c->out_off;
}

/*
 * Output blocked: wait until writable (and read nothing meanwhile: that is
 * the backpressure).  Otherwise read, unless the client has shut down its
 * side or the input buffer is full (a request waiting on /sleep).
 */
static void
update_events(struct conn *c)
{
	struct epoll_event ev = { .data.ptr = c };

	if (out_pending(c) > 0)
		ev.events = EPOLLOUT;
	else if (c->peer_eof || c->in_len == IN_CAP)
		ev.events = 0;
	else
		ev.events = EPOLLIN;
	if (ev.events == c->events)
		return;
	c->events = ev.events;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == -1)
		conn_close(c);
}

/* Write what we can.  false: the connection was closed. */
static bool
conn_flush(struct conn *c)
{
	while (out_pending(c) > 0) {
		ssize_t n = send(c->fd, c->out + c->out_off, out_pending(c), MSG_NOSIGNAL);

		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			update_events(c);
			return true;
		}
		conn_close(c);		/* EPIPE, ECONNRESET, ... */
		return false;
	}
	c->out_off = c->out_len = 0;
	if (c->closing) {
		conn_close(c);
		return false;
	}
	update_events(c);
	return true;
}

/* --- responses ------------------------------------------------------------ */

static const char *
reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default:  return "Unknown";
	}
}

/* The Connection field a response needs, if any. */
static const char *
conn_header(const struct conn *c)
{
	if (!c->keep_alive)
		return "Connection: close\r\n";
	return c->http10 ? "Connection: keep-alive\r\n" : "";
}

/* A whole response with a text body. */
static void
respond(struct conn *c, int status, const char *body)
{
	size_t n = strlen(body);

	if (draining)
		c->keep_alive = false;
	if (!c->keep_alive)
		c->closing = true;
	if (!out_printf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\n%s\r\n", status, reason(status), n,
	    conn_header(c)) ||
	    (!c->head_method && !out_append(c, body, n)))
		c->closing = true;	/* cannot happen: the backlog is bounded */
	answered++;
}

/* An error that ends the connection: whatever follows is not trusted. */
static void
respond_error(struct conn *c, int status)
{
	char body[64];

	if (c->state == ST_BODY && c->route == R_ECHO) {
		c->closing = true;	/* a 200 has begun: just cut it off */
		return;
	}
	c->keep_alive = false;
	c->head_method = false;
	snprintf(body, sizeof(body), "%d %s\n", status, reason(status));
	respond(c, status, body);
	c->state = ST_HEAD;
}

static void
sleeper_add(struct conn *c)
{
	c->sprev = NULL;
	c->snext = sleepers;
	if (sleepers != NULL)
		sleepers->sprev = c;
	sleepers = c;
}

static void
sleeper_del(struct conn *c)
{
	if (c->sprev != NULL)
		c->sprev->snext = c->snext;
	else if (sleepers == c)
		sleepers = c->snext;
	if (c->snext != NULL)
		c->snext->sprev = c->sprev;
	c->sprev = c->snext = NULL;
}

/* The request (head and body) is complete: answer it. */
static void
request_done(struct conn *c)
{
	char buf[64];

	c->state = ST_HEAD;
	switch (c->route) {
	case R_ECHO:
		if (c->echo_chunked && !out_append(c, "0\r\n\r\n", 5))
			c->closing = true;
		if (!c->keep_alive)
			c->closing = true;
		answered++;
		return;
	case R_SLEEP:
		c->state = ST_SLEEP;
		c->wake_ms = now_ms() + c->sleep_ms;
		sleeper_add(c);
		return;
	case R_HEALTHZ:
		respond(c, 200, "ok\n");
		return;
	case R_PID:
		snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
		break;
	case R_CONNS:
		snprintf(buf, sizeof(buf), "%ld %" PRIu64 "\n", (long)getpid(), accepted);
		break;
	case R_REQUESTS:
		snprintf(buf, sizeof(buf), "%" PRIu64 "\n", answered + 1);
		break;
	case R_HELLO:
	default:
		respond(c, 200, "hello, world\n");
		return;
	}
	respond(c, 200, buf);
}

/* --- request parsing --------------------------------------------------------- */

static bool
is_tchar(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= 'A' && ch <= 'Z') || (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static bool
ieq(const char *a, size_t an, const char *b)
{
	size_t bn = strlen(b);

	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

/* Does a comma-separated header value contain the token tok? */
static bool
has_token(const char *v, size_t n, const char *tok)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && ieq(v + s, e - s, tok))
			return true;
	}
	return false;
}

/* A decimal number of at most 15 digits (and nothing else); -1 if not. */
static int64_t
parse_decimal(const char *p, size_t n)
{
	int64_t v = 0;

	if (n == 0 || n > 15)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* The value of query parameter name in q[0..n) as a number, or def. */
static long
query_num(const char *q, size_t n, const char *name, long def, long max)
{
	size_t nl = strlen(name), i = 0;

	while (i < n) {
		size_t s = i, e;

		while (i < n && q[i] != '&')
			i++;
		e = i++;
		if (e - s > nl && memcmp(q + s, name, nl) == 0 && q[s + nl] == '=') {
			int64_t v = parse_decimal(q + s + nl + 1, e - s - nl - 1);

			if (v < 0)
				return def;
			return v > max ? max : (long)v;
		}
	}
	return def;
}

/* Is the last segment of the path p[0..n) want ("/pid" matches "/pid" and
 * "/app/pid": weir passes the path with its pool's prefix)? */
static bool
path_is(const char *p, size_t n, const char *want)
{
	size_t w = strlen(want);

	return n >= w && memcmp(p + n - w, want, w) == 0;
}

/*
 * Parse one request head in h[0..n) (n includes the final CRLF CRLF) and
 * set the connection up for it.  Returns 0, or an HTTP status to fail with.
 * -1: /exit or /kill acted (never returns for those).
 */
static int
parse_head(struct conn *c, const char *h, size_t n)
{
	const char *p = h, *end = h + n - 2;	/* end: at the final CRLF */
	const char *line_end, *sp1, *sp2, *target, *q;
	size_t tlen, plen;
	int64_t clen = -1;
	bool http10, te_chunked = false, te_other = false, conn_close_tok = false;
	bool conn_keep = false, expect_continue = false;

	/* request line: METHOD SP TARGET SP HTTP/1.x CRLF */
	if ((line_end = memchr(p, '\r', (size_t)(end - p))) == NULL || line_end[1] != '\n')
		return 400;
	if ((sp1 = memchr(p, ' ', (size_t)(line_end - p))) == NULL || sp1 == p)
		return 400;
	for (const char *m = p; m < sp1; m++)
		if (!is_tchar((unsigned char)*m))
			return 400;
	target = sp1 + 1;
	if ((sp2 = memchr(target, ' ', (size_t)(line_end - target))) == NULL || sp2 == target)
		return 400;
	tlen = (size_t)(sp2 - target);
	for (size_t i = 0; i < tlen; i++)
		if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
			return 400;
	if (target[0] != '/' && !(tlen == 1 && target[0] == '*'))
		return 400;
	if (line_end - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return 400;
	http10 = sp2[8] == '0';
	c->head_method = (size_t)(sp1 - p) == 4 && memcmp(p, "HEAD", 4) == 0;

	/* header fields: NAME ":" OWS VALUE OWS CRLF */
	for (p = line_end + 2; p < end; p = line_end + 2) {
		const char *colon, *v, *ve;

		if ((line_end = memchr(p, '\r', (size_t)(end + 2 - p))) == NULL ||
		    line_end[1] != '\n')
			return 400;
		if ((colon = memchr(p, ':', (size_t)(line_end - p))) == NULL || colon == p)
			return 400;	/* no name; also catches obs-fold lines */
		for (const char *m = p; m < colon; m++)
			if (!is_tchar((unsigned char)*m))
				return 400;
		for (v = colon + 1; v < line_end && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = line_end; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		for (const char *m = v; m < ve; m++)
			if (((unsigned char)*m < 0x20 && *m != '\t') || *m == 0x7f)
				return 400;
		if (ieq(p, (size_t)(colon - p), "content-length")) {
			int64_t cl = parse_decimal(v, (size_t)(ve - v));

			if (cl < 0 || (clen >= 0 && cl != clen))
				return 400;
			clen = cl;
		} else if (ieq(p, (size_t)(colon - p), "transfer-encoding")) {
			if (te_chunked || !ieq(v, (size_t)(ve - v), "chunked"))
				te_other = true;
			te_chunked = true;
		} else if (ieq(p, (size_t)(colon - p), "connection")) {
			conn_close_tok |= has_token(v, (size_t)(ve - v), "close");
			conn_keep |= has_token(v, (size_t)(ve - v), "keep-alive");
		} else if (ieq(p, (size_t)(colon - p), "expect")) {
			expect_continue = ieq(v, (size_t)(ve - v), "100-continue");
		}
	}
	if (te_chunked && clen >= 0)
		return 400;	/* RFC 9112 §6.3: a smuggling attempt */
	if (te_other || (te_chunked && http10))
		return 501;

	c->keep_alive = !conn_close_tok && (!http10 || conn_keep);
	c->http10 = http10;
	c->chunked = te_chunked;
	c->body_left = clen > 0 ? (uint64_t)clen : 0;
	c->cstate = CH_SIZE;

	/* route on the path; the query is after '?' */
	q = memchr(target, '?', tlen);
	plen = q != NULL ? (size_t)(q - target) : tlen;
	q = q != NULL ? q + 1 : target + tlen;
	c->route = R_HELLO;
	c->echo = false;
	if (path_is(target, plen, "/healthz")) {
		c->route = R_HEALTHZ;
	} else if (path_is(target, plen, "/pid")) {
		c->route = R_PID;
	} else if (path_is(target, plen, "/conns")) {
		c->route = R_CONNS;
	} else if (path_is(target, plen, "/requests")) {
		c->route = R_REQUESTS;
	} else if (path_is(target, plen, "/echo")) {
		c->route = R_ECHO;
	} else if (path_is(target, plen, "/sleep")) {
		c->route = R_SLEEP;
		c->sleep_ms = query_num(q, (size_t)(target + tlen - q), "ms", 0, SLEEP_MAX_MS);
	} else if (path_is(target, plen, "/exit")) {
		fflush(NULL);
		_exit((int)query_num(q, (size_t)(target + tlen - q), "code", 0, 255));
	} else if (path_is(target, plen, "/kill")) {
		raise(SIGKILL);
		return -1;
	}

	if (expect_continue && !http10 && (c->chunked || c->body_left > 0) &&
	    !out_append(c, "HTTP/1.1 100 Continue\r\n\r\n", 25))
		return 400;
	if (c->route == R_ECHO) {
		if (draining)
			c->keep_alive = false;
		c->echo = !c->head_method;
		c->echo_chunked = c->chunked && c->echo;	/* HTTP/1.1 only */
		if (c->chunked)
			out_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
			    "Transfer-Encoding: chunked\r\n%s\r\n",
			    conn_header(c));
		else
			out_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
			    "Content-Length: %" PRIu64 "\r\n%s\r\n", c->body_left,
			    conn_header(c));
	}
	c->state = ST_BODY;
	return 0;
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Body bytes: pass them to the output (echo) or drop them. */
static void
body_data(struct conn *c, const char *p, size_t n)
{
	if (!c->echo || n == 0)
		return;
	if (c->echo_chunked && !out_printf(c, "%zx\r\n", n))
		c->closing = true;
	if (!out_append(c, p, n) || (c->echo_chunked && !out_append(c, "\r\n", 2)))
		c->closing = true;
}

/*
 * Consume request body from the input.  Returns 1 when the body is
 * complete, 0 when more input is needed, -1 on a framing error.
 */
static int
body_step(struct conn *c)
{
	while (c->in_off < c->in_len) {
		const char *p = c->in + c->in_off, *nl;
		size_t avail = c->in_len - c->in_off, take;

		if (!c->chunked || c->cstate == CH_DATA) {
			take = avail < c->body_left ? avail : (size_t)c->body_left;
			body_data(c, p, take);
			c->in_off += take;
			c->body_left -= take;
			if (c->body_left > 0)
				return 0;
			if (!c->chunked)
				return 1;
			c->cstate = CH_DATA_END;
			continue;
		}
		if ((nl = memchr(p, '\n', avail)) == NULL)
			return avail > LINE_MAX_ ? -1 : 0;
		if (nl == p || nl[-1] != '\r' || nl - p > LINE_MAX_)
			return -1;
		c->in_off += (size_t)(nl - p) + 1;
		switch (c->cstate) {
		case CH_SIZE: {
			uint64_t v = 0;
			const char *s = p;
			int d;

			for (; (d = hexval(*s)) >= 0; s++) {
				if (v > (UINT64_MAX >> 8))
					return -1;
				v = v * 16 + (uint64_t)d;
			}
			if (s == p || (*s != ';' && *s != '\r' && *s != ' ' && *s != '\t'))
				return -1;
			c->body_left = v;
			c->cstate = v == 0 ? CH_TRAILER : CH_DATA;
			break;
		}
		case CH_DATA_END:
			if (nl != p + 1)
				return -1;	/* data longer than its size */
			c->cstate = CH_SIZE;
			break;
		case CH_TRAILER:
			if (nl == p + 1)
				return 1;	/* the empty line: done */
			break;
		case CH_DATA:
			break;
		}
	}
	if (!c->chunked && c->body_left == 0)
		return 1;
	return 0;
}

/*
 * The end of the request head in [p, p+n): its length including the final
 * CRLF CRLF, or 0 if it is not all there yet.  A head that ends with bare
 * LFs is not waited for: *bad is set.
 */
static size_t
head_len(const char *p, size_t n, bool *bad)
{
	const char *nl = p;

	*bad = false;
	while ((nl = memchr(nl, '\n', (size_t)(p + n - nl))) != NULL) {
		if (nl - p >= 3 && nl[-1] == '\r' && nl[-2] == '\n' && nl[-3] == '\r')
			return (size_t)(nl - p) + 1;
		if (nl - p >= 1 && nl[-1] == '\n') {
			*bad = true;		/* LF LF */
			return (size_t)(nl - p) + 1;
		}
		if (nl - p >= 2 && nl[-1] == '\r' && nl[-2] == '\n') {
			*bad = true;		/* LF CR LF */
			return (size_t)(nl - p) + 1;
		}
		nl++;
	}
	return 0;
}

/* Answer everything that is complete in the input, in order. */
static void
conn_process(struct conn *c)
{
	while (!c->closing && c->state != ST_SLEEP && out_pending(c) < OUT_HIGH) {
		if (c->state == ST_BODY) {
			int r = body_step(c);

			if (r < 0) {
				respond_error(c, 400);
				break;
			}
			if (r == 0)
				break;
			request_done(c);
			continue;
		}
		/* ST_HEAD */
		if (c->in_off == c->in_len) {
			c->in_off = c->in_len = 0;
			if (draining)
				c->closing = true;	/* idle: done */
			break;
		}
		bool bad;
		size_t n = head_len(c->in + c->in_off, c->in_len - c->in_off, &bad);

		if (bad) {
			respond_error(c, 400);
			break;
		}
		if (n == 0) {
			if (c->in_off == 0 && c->in_len == IN_CAP)
				respond_error(c, 431);
			break;	/* need more */
		}
		int st = parse_head(c, c->in + c->in_off, n);

		c->in_off += n;
		if (st > 0) {
			respond_error(c, st);
			break;
		}
	}
	if (c->in_off > 0 && c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	if (c->in_off > 0 && c->in_len == IN_CAP) {	/* make room */
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	/* the client shut down its side and every request it sent is answered
	 * (the loop did not stop on backpressure): nothing more will come */
	if (c->peer_eof && c->state != ST_SLEEP && out_pending(c) < OUT_HIGH)
		c->closing = true;
	conn_flush(c);
}

/* --- connections --------------------------------------------------------------- */

static void
conn_close(struct conn *c)
{
	if (c->state == ST_SLEEP)
		sleeper_del(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->out);
	free(c);
	nconns--;
	if (accept_paused && !draining) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &tag_listen };

		if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) == 0)
			accept_paused = false;
	}
}

static void
conn_readable(struct conn *c)
{
	for (;;) {
		ssize_t n;

		if (c->in_len == IN_CAP)
			break;		/* full: process first */
		n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
		if (n > 0) {
			c->in_len += (size_t)n;
			if (c->in_len < IN_CAP)
				break;	/* most likely drained; epoll says if not */
			continue;
		}
		if (n == 0) {
			c->peer_eof = true;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		conn_close(c);
		return;
	}
	conn_process(c);
}

static void
do_accept(void)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev;
		struct conn *c;
		int one = 1;

		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM ||
			    errno == ENOBUFS) {
				/* resume when a connection closes */
				if (nconns > 0 && epoll_ctl(epfd, EPOLL_CTL_DEL, lfd, NULL) == 0)
					accept_paused = true;
			}
			return;		/* EAGAIN, or an error we wait out */
		}
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* TCP only */
		c->fd = fd;
		c->state = ST_HEAD;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			close(fd);
			free(c);
			continue;
		}
		c->events = EPOLLIN;
		c->next = conns;
		if (conns != NULL)
			conns->prev = c;
		conns = c;
		nconns++;
		accepted++;
	}
}

/*
 * SIGTERM/SIGINT: stop accepting, close every connection that is idle (no
 * request begun, nothing to send); the others are closed after their
 * response.
 */
static void
start_drain(void)
{
	struct conn *c, *next;

	if (draining)
		return;
	draining = true;
	if (!accept_paused)
		epoll_ctl(epfd, EPOLL_CTL_DEL, lfd, NULL);
	close(lfd);
	lfd = -1;
	for (c = conns; c != NULL; c = next) {
		next = c->next;
		if (c->state == ST_HEAD && c->in_off == c->in_len && out_pending(c) == 0)
			conn_process(c);	/* closes c, and only c */
	}
}

static void
wake_sleepers(void)
{
	int64_t now = now_ms();
	struct conn *c, *next;

	for (c = sleepers; c != NULL; c = next) {
		char buf[64];

		next = c->snext;
		if (c->wake_ms > now)
			continue;
		sleeper_del(c);
		c->state = ST_HEAD;
		snprintf(buf, sizeof(buf), "slept %ld ms\n", c->sleep_ms);
		respond(c, 200, buf);
		conn_process(c);	/* may close c; next is kept */
	}
}

static int
next_timeout(void)
{
	int64_t now = now_ms(), best = -1;

	for (struct conn *c = sleepers; c != NULL; c = c->snext) {
		int64_t d = c->wake_ms > now ? c->wake_ms - now : 0;

		if (best < 0 || d < best)
			best = d;
	}
	return best < 0 ? -1 : (int)best;
}

static void
check_socket(void)
{
	const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID");
	char want[32];
	int type, acc;
	socklen_t len = sizeof(int);

	if (fds == NULL || pid == NULL)
		die(EX_CONFIG, "not socket-activated: LISTEN_FDS and LISTEN_PID are not set "
		    "(the listening socket must be fd 3)");
	snprintf(want, sizeof(want), "%ld", (long)getpid());
	if (strcmp(pid, want) != 0)
		die(EX_CONFIG, "LISTEN_PID is not our pid: the socket was meant for another process");
	if (strcmp(fds, "1") != 0)
		die(EX_CONFIG, "LISTEN_FDS must be 1 (exactly one listening socket, fd 3)");
	if (getsockopt(lfd, SOL_SOCKET, SO_TYPE, &type, &len) == -1) {
		char msg[128];

		snprintf(msg, sizeof(msg), "fd 3 is not a socket: %s", strerror(errno));
		die(EX_CONFIG, msg);
	}
	if (type != SOCK_STREAM)
		die(EX_CONFIG, "fd 3 is not a stream socket");
	len = sizeof(int);
	if (getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == -1 || !acc)
		die(EX_CONFIG, "fd 3 is not a listening socket");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
}

int
main(int argc, char **argv)
{
	struct epoll_event ev, evs[MAX_EVENTS];
	sigset_t mask;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--exit-at-start") == 0 && i + 1 < argc) {
			int code = atoi(argv[i + 1]);

			fprintf(stderr, "weir-test-hello: exiting at start with status %d "
			    "(--exit-at-start)\n", code);
			return code;
		}
		fprintf(stderr, "weir-test-hello: unknown argument '%s' "
		    "(usage: weir-test-hello [--exit-at-start CODE])\n", argv[i]);
		return EX_CONFIG;
	}
	check_socket();

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		die(1, "signalfd failed");
	if (fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK) == -1 ||
	    fcntl(lfd, F_SETFD, FD_CLOEXEC) == -1)
		die(1, "cannot make fd 3 non-blocking");
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die(1, "epoll_create1 failed");
	ev.events = EPOLLIN;
	ev.data.ptr = &tag_listen;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) == -1)
		die(1, "epoll_ctl on fd 3 failed");
	ev.data.ptr = &tag_signal;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &ev) == -1)
		die(1, "epoll_ctl on the signalfd failed");
	fprintf(stderr, "weir-test-hello: pid %ld serving\n", (long)getpid());

	while (!draining || nconns > 0) {
		bool term = false;
		int n = epoll_wait(epfd, evs, MAX_EVENTS, next_timeout());

		if (n == -1) {
			if (errno == EINTR)
				continue;
			die(1, "epoll_wait failed");
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &tag_listen) {
				if (!draining)
					do_accept();
			} else if (p == &tag_signal) {
				struct signalfd_siginfo si;

				while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
					term = true;
			} else {
				struct conn *c = p;

				/* Only c itself can be closed while handling its event,
				 * so the other pointers in evs stay valid. */
				if (evs[i].events & (EPOLLERR | EPOLLHUP) &&
				    !(evs[i].events & EPOLLIN))
					conn_close(c);	/* cannot send either */
				else if (evs[i].events & EPOLLOUT) {
					if (conn_flush(c))
						conn_process(c);
				} else {
					conn_readable(c);
				}
			}
		}
		if (term)
			start_drain();	/* after the batch: it closes other connections */
		if (sleepers != NULL)
			wake_sleepers();
	}
	fprintf(stderr, "weir-test-hello: pid %ld exiting (%" PRIu64 " connections, %"
	    PRIu64 " requests)\n", (long)getpid(), accepted, answered);
	return 0;
}
