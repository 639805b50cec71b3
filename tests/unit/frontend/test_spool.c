/*
 * test_spool.c - request bodies read whole before queueing (spool.c):
 * Content-Length and chunked bodies taken from a connection's input in
 * pieces, the memory part and the file beyond it, what follows the body
 * left for the next request, max_body (413) and bad chunked framing (400).
 */
#include <stdarg.h>

#include "../unit.h"
#include "../../../src/common/httpparse.c"
#include "../../../src/frontend/spool.c"

/* What spool.c needs from the rest of weir, for spool_take()/spool_get(). */
void log_warn(const char *fmt, ...) { (void)fmt; }
void log_debug(const char *fmt, ...) { (void)fmt; }
int
write_full(int fd, const void *buf, size_t n)
{
	return write(fd, buf, n) == (ssize_t)n ? 0 : -1;
}
void conn_set_deadline(struct conn *c, uint64_t ms) { (void)c; (void)ms; }
void conn_set_events(struct conn *c, uint32_t ev) { (void)c; (void)ev; }
void rate_begin(struct conn *c, enum rate_dir d) { (void)c; (void)d; }
void rate_arm(struct conn *c) { (void)c; }
void rate_end(struct conn *c) { (void)c; }
void poolreq_fail(struct poolreq *pr, int st, const char *t, uint32_t r)
{ (void)pr; (void)st; (void)t; (void)r; }
void http1_client_fault(struct conn *c, int st, const char *t, const char *w)
{ (void)c; (void)st; (void)t; (void)w; }
/* spool_send() and spool_begin() write to the client; not used here */
ssize_t cio_send(struct conn *c, const void *b, size_t n, int f)
{ (void)c; (void)b; (void)f; return (ssize_t)n; }
void http1_send_continue(struct conn *c) { (void)c; }
ssize_t cio_sendfile(struct conn *c, int fd, off_t *off, size_t n)
{ (void)c; (void)fd; (void)off; return (ssize_t)n; }

static struct conf conf;
static struct fe_gen gen;
static char ibuf[FE_BLOCK];

/*
 * Feed `wire` to a spool `piece` bytes at a time, as reads would.  Returns
 * what spool_take() finally said; *rest is what was left in the buffer.
 */
static int
feed(struct spool *sp, const char *wire, size_t len, size_t piece, size_t *rest)
{
	struct conn c;
	const char *why;
	size_t off = 0;
	int st = 0;

	memset(&c, 0, sizeof(c));
	c.gen = &gen;
	c.ibuf = ibuf;
	c.icap = sizeof(ibuf);
	while (off < len && st == 0) {
		size_t n = len - off < piece ? len - off : piece;

		if (c.ilen + n > c.icap)
			n = c.icap - c.ilen;
		memcpy(ibuf + c.ilen, wire + off, n);
		c.ilen += (uint32_t)n;
		off += n;
		st = spool_take(sp, &c, &why);
	}
	*rest = c.ilen - c.ipos + (len - off);
	return st;
}

/* The whole spooled body equals want[0..n). */
static bool
same(const struct spool *sp, const char *want, size_t n)
{
	char buf[1000];
	uint64_t off = 0;

	if (sp->size != n)
		return false;
	while (off < n) {
		const char *p;
		ssize_t k = spool_get(sp, off, buf, sizeof(buf), &p);

		if (k <= 0 || memcmp(p, want + off, (size_t)k) != 0)
			return false;
		off += (uint64_t)k;
	}
	return spool_get(sp, off, buf, sizeof(buf), &(const char *){ NULL }) == 0;
}

static struct http_request
head(int64_t cl, bool chunked)
{
	struct http_request h;

	memset(&h, 0, sizeof(h));
	h.content_length = chunked ? -1 : cl;
	h.flags = chunked ? HTTP_F_CHUNKED : 0;
	return h;
}

int
main(void)
{
	static char body[200 * 1024], wire[220 * 1024];
	struct spool sp;
	struct http_request h;
	size_t rest, wl = 0;

	conf.server.state_dir = "/nonexistent";	/* the file falls back to /tmp */
	conf.server.max_body = 1 << 20;
	gen.conf = &conf;
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)('a' + i % 26);

	/* 1. Content-Length, in odd pieces, then the next request's bytes */
	for (size_t piece = 1; piece <= 4096; piece *= 7) {
		h = head(3000, false);
		spool_init(&sp, &h);
		memcpy(wire, body, 3000);
		memcpy(wire + 3000, "GET / HT", 8);
		CHECKF(feed(&sp, wire, 3008, piece, &rest) == 1, "piece %zu", piece);
		CHECKF(rest == 8 && same(&sp, body, 3000) && sp.fd == -1, "piece %zu", piece);
		spool_free(&sp);
	}

	/* 2. beyond the memory part: a file, read back whole */
	h = head(sizeof(body), false);
	spool_init(&sp, &h);
	CHECK(feed(&sp, body, sizeof(body), 9000, &rest) == 1);
	CHECK(rest == 0 && sp.fd != -1 && sp.memlen == SPOOL_MEM && same(&sp, body, sizeof(body)));
	spool_free(&sp);

	/* 3. chunked, decoded, across pieces, trailer and all */
	for (size_t i = 0; i < 150000; i += 5000) {
		int k = snprintf(wire + wl, 32, "%x;ext=1\r\n", 5000);

		wl += (size_t)k;
		memcpy(wire + wl, body + i, 5000);
		wl += 5000;
		memcpy(wire + wl, "\r\n", 2);
		wl += 2;
	}
	memcpy(wire + wl, "0\r\nX-T: 1\r\n\r\nNEXT", 17);
	wl += 17;
	for (size_t piece = 3; piece <= 20000; piece *= 5) {
		h = head(0, true);
		spool_init(&sp, &h);
		CHECKF(feed(&sp, wire, wl, piece, &rest) == 1, "chunked piece %zu", piece);
		CHECKF(rest == 4 && same(&sp, body, 150000), "chunked piece %zu", piece);
		spool_free(&sp);
	}

	/* 4. incomplete bodies are incomplete */
	h = head(1000, false);
	spool_init(&sp, &h);
	CHECK(feed(&sp, body, 10, 10, &rest) == 0 && !sp.done);
	spool_free(&sp);

	/* 5. max_body: 413, for a chunked body that grows past it */
	conf.server.max_body = 100000;
	h = head(0, true);
	spool_init(&sp, &h);
	CHECK(feed(&sp, wire, wl, 8192, &rest) == 413);
	spool_free(&sp);
	conf.server.max_body = 0;

	/* 6. bad chunked framing: 400 */
	h = head(0, true);
	spool_init(&sp, &h);
	CHECK(feed(&sp, "zz\r\nabc", 7, 7, &rest) == 400);
	spool_free(&sp);
	return unit_done("test_spool");
}
