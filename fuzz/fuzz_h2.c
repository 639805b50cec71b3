/*
 * fuzz_h2.c - libFuzzer target for src/frontend/h2.c, the HTTP/2 connection.
 *
 * The input is what a client sends after the connection preface: frames
 * (nghttp2 parses them; h2.c's callbacks count floods, check the header
 * list, open and close streams and end the session).  It is fed to a real
 * session through the connection's own read path (h2_on_io()), in pieces
 * whose sizes the input's first byte chooses, with the default limits;
 * every stream that completes its header block is answered with a small
 * response, so the output side (framing, flow control, GOAWAY, the
 * lingering close) runs too.  The front end around the connection -- the
 * event loop, the socket, the stream's HTTP/1.1 request -- is replaced by
 * the stand-ins below (the session's allocator, h2mem.c, is the real one);
 * AddressSanitizer and LeakSanitizer judge the rest
 * (a stream or session that outlives its connection is a leak).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/frontend/h2.c"
#include "../src/frontend/h2mem.c"
#include "../src/frontend/rate.c"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* --- the input, as the socket --------------------------------------------------- */

static const uint8_t	*in_p;
static size_t		 in_n, in_chunk;
static uint64_t		 now_ms;

ssize_t
cio_read(struct conn *c, void *buf, size_t n)
{
	(void)c;
	if (in_n == 0) {
		errno = EAGAIN;
		return -1;
	}
	if (n > in_chunk)
		n = in_chunk;
	if (n > in_n)
		n = in_n;
	memcpy(buf, in_p, n);
	in_p += n;
	in_n -= n;
	return (ssize_t)n;
}

/* The socket had no more: nothing of the input is left. */
bool
cio_drained(struct conn *c, size_t got, size_t asked)
{
	(void)c;
	(void)got;
	(void)asked;
	return in_n == 0;
}

ssize_t
cio_send(struct conn *c, const void *buf, size_t n, int flags)
{
	(void)c;
	(void)buf;
	(void)flags;
	return (ssize_t)n;	/* a client that reads everything */
}

void
tls_conn_shutdown(struct conn *c)
{
	(void)c;
}

/*
 * The thread's freelists (conn.c): none, so every block of the session's
 * allocator (h2mem.c) is a malloc of its own and its frees are seen.
 */
void *
objs_take(struct fe_objs *o)
{
	(void)o;
	return NULL;
}

void
objs_put(struct fe_objs *o, void *p)
{
	(void)o;
	free(p);
}

size_t
objs_trim(struct fe_objs *o, bool all, size_t keep)
{
	(void)o;
	(void)all;
	(void)keep;
	return 0;
}

/* --- streams: answered at once, 200 and 100 bytes sent without a copy ---------- */

struct h2stream {
	struct h2link	 link;		/* first, as in h2stream.c */
	struct h2conn	*hc;
	int32_t		 id;
	size_t		 left;		/* body bytes not yet framed */
};

struct h2stream *
h2s_new(struct h2conn *hc, struct conn *c, int32_t id)
{
	struct h2stream *st = calloc(1, sizeof(*st));

	(void)c;
	if (st == NULL)
		return NULL;
	st->hc = hc;
	st->id = id;
	h2_link(hc, &st->link);
	return st;
}

void
h2s_free(struct h2stream *st)
{
	h2_unlink(st->hc, &st->link);
	free(st);
}

bool
h2s_client_holds(const struct h2stream *st)
{
	(void)st;
	return false;
}

int
h2s_header(struct h2stream *st, nghttp2_rcbuf *name, nghttp2_rcbuf *value)
{
	(void)st;
	(void)name;
	(void)value;
	return 0;
}

/* As h2stream.c's read_native(): how much goes in the frame, copied later */
static ssize_t
fz_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
    nghttp2_data_source *src, void *arg)
{
	struct h2stream *st = src->ptr;
	size_t n = st->left < len ? st->left : len;

	(void)s;
	(void)id;
	(void)buf;
	(void)arg;
	*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	if (n == st->left)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

int
h2s_native_copy(struct h2stream *st, char *dst, size_t n)
{
	if (n > st->left)
		abort();	/* more than fz_read() promised */
	memset(dst, 'x', n);
	st->left -= n;
	return 0;
}

int
h2s_headers_done(struct h2stream *st, bool end_stream)
{
	nghttp2_nv nv = { (uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE };
	nghttp2_data_provider prd = { .source.ptr = st, .read_callback = fz_read };

	(void)end_stream;
	st->left = 100;
	return nghttp2_submit_response(h2_session(st->hc), st->id, &nv, 1, &prd) == 0 ? 0 : -1;
}

int
h2s_body(struct h2stream *st, const uint8_t *d, size_t n)
{
	(void)d;
	/* the body moved on: its window is given back, as h2stream.c does */
	return nghttp2_session_consume(h2_session(st->hc), st->id, n) == 0 ? 0 : -1;
}

int
h2s_body_end(struct h2stream *st)
{
	(void)st;
	return 0;
}

int
h2s_trailer(struct h2stream *st, nghttp2_rcbuf *name, nghttp2_rcbuf *value)
{
	return h2s_header(st, name, value);	/* the fuzzer keeps no fields */
}

/* --- the front end around one connection --------------------------------------------- */

void
conn_close(struct conn *c)
{
	if (c->state == CONN_CLOSED)
		return;
	if (c->h2 != NULL)
		h2_free(c);
	c->state = CONN_CLOSED;
}

/* stats.c's table, for the one token h2.c logs (a connection slower than the rate) */
const char *const fe_close_tokens[FE_CLOSE_REASONS] = {
	[FE_CLOSE_MINRATE] = "Timer_MinBytesPerSecond",
};

void
alog_httperr(struct conn *c, struct req *r, int status, const char *reason)
{
	(void)c;
	(void)r;
	(void)status;
	(void)reason;
}

uint64_t
loop_now(const struct loop *l)
{
	(void)l;
	return now_ms;
}

int
loop_io_mod(struct loop *l, struct loop_io *io, uint32_t events)
{
	(void)l;
	io->events = events;
	return 0;
}

void
loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *arg)
{
	t->cb = cb;
	t->arg = arg;
}

void
loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t ms)
{
	(void)l;
	t->when = now_ms + ms;
}

/* rate.c's, for a stream's connection: the fuzzer's connection is none */
void
conn_set_deadline(struct conn *c, uint64_t ms)
{
	c->deadline = now_ms + ms;
}

void
log_warn(const char *fmt, ...)
{
	(void)fmt;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	static struct conf cf;
	static struct fe_gen gen;
	static struct fe_thread t;
	static struct frontend fe;	/* not draining */
	struct conn c;
	uint8_t *buf;

	if (size == 0)
		return 0;
	cf.server.max_header_size = 32 * 1024;
	cf.server.http2_max_concurrent_streams = 100;
	cf.server.send_timeout = 60000;
	cf.server.min_response_rate = 240;
	cf.server.min_rate_grace = 10000;
	cf.server.keepalive_timeout = 120000;
	gen.conf = &cf;
	t.gen = &gen;
	t.fe = &fe;
	memset(&c, 0, sizeof(c));
	c.t = &t;
	c.gen = &gen;
	c.io.fd = -1;
	/* the preface, then the frames, in pieces of 1..256 bytes */
	in_chunk = (size_t)data[0] + 1;
	if ((buf = malloc(sizeof(preface) - 1 + size - 1)) == NULL)
		return 0;
	memcpy(buf, preface, sizeof(preface) - 1);
	memcpy(buf + sizeof(preface) - 1, data + 1, size - 1);
	in_p = buf;
	in_n = sizeof(preface) - 1 + size - 1;
	now_ms = 1000;
	h2_start(&c);
	while (c.state != CONN_CLOSED && in_n > 0 && !c.h2->lingering) {
		now_ms += 7;	/* the floods' windows see time pass */
		h2_on_io(&c, LOOP_READ);
	}
	/* a drain (GOAWAY) and the timer, then the connection goes */
	if (c.state != CONN_CLOSED)
		h2_drain(&c);
	if (c.state != CONN_CLOSED) {
		now_ms += 200000;
		h2_on_timer(&c);
	}
	conn_close(&c);
	free(buf);
	return 0;
}
