/*
 * spool.c - a request body read whole by the front end before its request
 * is queued for a worker (request_buffering = on, and chunked bodies to
 * FastCGI, whose CONTENT_LENGTH must be exact).
 *
 * A slow or hostile client then holds its own connection and a little
 * memory, never a worker: the request reaches a pool only when its body is
 * complete, and a body that never completes never reaches the application.
 * The first SPOOL_MEM bytes stay in memory; the rest goes to a nameless
 * file (O_TMPFILE) under state_dir/spool, gone when its fd is closed.  A
 * spooled body can be sent again, so a worker that fails the request does
 * not lose it.
 *
 * The request's head was copied out of the connection's input buffer when
 * it was parsed (http1.c: req_pin()), so no body byte read into that buffer
 * can overwrite the method, target or headers a handler or the access log
 * reads later.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"
#include "frontend.h"

#define SPOOL_MEM	(64 * 1024)	/* body bytes kept in memory; beyond: a file */

void
spool_init(struct spool *sp, const struct http_request *h)
{
	memset(sp, 0, sizeof(*sp));
	sp->fd = -1;
	sp->chunked = (h->flags & HTTP_F_CHUNKED) != 0;
	if (sp->chunked)
		httpparse_chunked_init(&sp->chunk);
	else
		sp->left = h->content_length > 0 ? (uint64_t)h->content_length : 0;
}

void
spool_free(struct spool *sp)
{
	free(sp->mem);
	sp->mem = NULL;
	httpparse_chunked_free(&sp->chunk);
	if (sp->fd != -1)
		close(sp->fd);
	sp->fd = -1;
}

/* Where a body outgrows memory: a nameless file (/tmp if state_dir has none). */
static int
spool_open(struct spool *sp, const char *state_dir)
{
	char dir[4200];

	snprintf(dir, sizeof(dir), "%s/spool", state_dir);
	sp->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (sp->fd == -1)
		sp->fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	return sp->fd == -1 ? -1 : 0;
}

/* Keep n more bytes: memory first, then the file.  -1: out of memory or disk. */
int
spool_append(struct spool *sp, const char *d, size_t n, const char *state_dir)
{
	size_t mem = sp->fd == -1 && sp->size < SPOOL_MEM ? SPOOL_MEM - (size_t)sp->size : 0;

	if (mem > n)
		mem = n;
	if (mem > 0) {
		if (sp->memcap < sp->size + mem) {
			/* grow by doubling from one block: small bodies stay small */
			size_t cap = sp->memcap ? sp->memcap : FE_BLOCK;
			char *m;

			while (cap < sp->size + mem)
				cap *= 2;
			if (cap > SPOOL_MEM)
				cap = SPOOL_MEM;
			if ((m = realloc(sp->mem, cap)) == NULL)
				return -1;
			sp->mem = m;
			sp->memcap = cap;
		}
		memcpy(sp->mem + sp->size, d, mem);
		sp->size += mem;
		sp->memlen = (size_t)sp->size;
	}
	if (n > mem) {
		if (sp->fd == -1 && spool_open(sp, state_dir) == -1) {
			log_warn("cannot create a spool file");
			return -1;
		}
		if (write_full(sp->fd, d + mem, n - mem) == -1) {
			log_warn("spool write");
			return -1;
		}
		sp->size += n - mem;
	}
	return 0;
}

/*
 * Take the body bytes in c's input buffer.  Returns 1 when the body is
 * complete, 0 when more is needed, or the HTTP status that ends the
 * request: 400 (bad chunked framing), 413 (larger than max_body), 500.
 * *why says what went wrong.
 */
int
spool_take(struct spool *sp, struct conn *c, const char **why)
{
	const struct conf_server *s = &c->gen->conf->server;

	*why = NULL;
	while (c->ipos < c->ilen && !sp->done) {
		char *d = c->ibuf + c->ipos;
		size_t avail = c->ilen - c->ipos, out, used;
		int r = 0;

		if (sp->chunked) {
			r = httpparse_chunked(&sp->chunk, d, avail, &out, &used, why);
			if (r == WEIR_ERROR)
				return 400;
		} else {
			out = used = avail < sp->left ? avail : (size_t)sp->left;
			sp->left -= out;
			r = sp->left == 0;
		}
		if (s->max_body != 0 && sp->size + out > s->max_body) {
			*why = "body larger than max_body";
			return 413;
		}
		if (out > 0 && spool_append(sp, d, out, s->state_dir) == -1) {
			*why = "cannot spool the body";
			return 500;
		}
		c->ipos += (uint32_t)used;
		if (r == 1)
			sp->done = true;
	}
	if (c->ipos == c->ilen)
		c->ipos = c->ilen = 0;
	return sp->done ? 1 : 0;
}

/*
 * Up to n body bytes from offset off: a pointer into memory, or into buf
 * (n bytes) after a read from the file.  Returns the length (0 at the
 * end), or -1 when the file cannot be read.
 */
ssize_t
spool_get(const struct spool *sp, uint64_t off, char *buf, size_t n, const char **p)
{
	ssize_t r;

	*p = buf;	/* at the end too: the caller may copy its 0 bytes from *p */
	if (off >= sp->size)
		return 0;
	if (n > sp->size - off)
		n = (size_t)(sp->size - off);
	if (off < sp->memlen) {
		if (n > sp->memlen - off)
			n = sp->memlen - (size_t)off;
		*p = sp->mem + off;
		return (ssize_t)n;
	}
	do {
		r = pread(sp->fd, buf, n, (off_t)(off - sp->memlen));
	} while (r == -1 && errno == EINTR);
	if (r <= 0) {
		log_warn("spool read");
		return -1;
	}
	return r;
}

/*
 * Send what the spool holds from offset off to client c: memory with
 * cio_send(), the file with cio_sendfile().  Returns what they return.
 */
ssize_t
spool_send(const struct spool *sp, uint64_t off, struct conn *c)
{
	if (off < sp->memlen)
		return cio_send(c, sp->mem + off, sp->memlen - (size_t)off, 0);
	{
		off_t foff = (off_t)(off - sp->memlen);
		uint64_t n = sp->size - off;

		return cio_sendfile(c, sp->fd, &foff, n > (1 << 20) ? (1 << 20) : (size_t)n);
	}
}

/*
 * pr starts reading its client's body (phase PR_SPOOL): a client that asked for 100-continue is told to send, and the minimum
 * request rate is measured from now.  Returns what spool_pump() returns.
 */
int
spool_begin(struct poolreq *pr, struct spool *sp)
{
	struct conn *c = pr->c;

	pr->phase = PR_SPOOL;
	conn_set_deadline(c, c->gen->conf->server.body_timeout);
	if ((pr->r->h.flags & HTTP_F_EXPECT_100) && c->ipos == c->ilen)
		http1_send_continue(c);
	pr->want_continue = false;
	rate_begin(c, RATE_IN);
	rate_add(c, c->ilen - c->ipos);
	return spool_pump(pr, sp);
}

/*
 * Spool what the client sent.  Returns 1 when the body is complete (the
 * caller queues the request), 0 while more is awaited (the client is read),
 * -1 when the request ended (answered 400/413/500).
 */
int
spool_pump(struct poolreq *pr, struct spool *sp)
{
	struct conn *c = pr->c;
	const char *why;
	int st = spool_take(sp, c, &why);

	if (st == 1) {
		pr->body_started = true;
		rate_end(c);
		return 1;
	}
	if (st == 0) {
		conn_set_events(c, LOOP_READ);
		rate_arm(c);
		return 0;
	}
	if (st == 500) {
		poolreq_fail(pr, 500, "Internal", 0);
		return -1;
	}
	http1_client_fault(c, st, st == 413 ? "EntityTooLarge" : "BadRequest", why);
	return -1;
}
