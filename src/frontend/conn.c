/*
 * conn.c - client connections: accept, memory, timers, closing.
 *
 * Memory per idle keep-alive connection is just struct conn: input and
 * output buffers and the request state are FE_BLOCK blocks taken from a
 * per-thread freelist when there is something to hold and given back as soon
 * as there is not.  That is what lets one front end hold tens of thousands
 * of idle connections in a few MB.
 *
 * Timers are lazy: a connection has one timer and a deadline; moving the
 * deadline later (every request) costs an assignment, and the timer re-arms
 * itself for the remainder when it fires early.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"
#include "frontend.h"

#define ACCEPT_BATCH		64
#define ACCEPT_PAUSE_MS		100	/* after EMFILE */
#define FREE_BLOCKS_MIN		8	/* kept however long they sit unused */
#define TRIM_BLOCKS		64	/* blocks released (1 MiB) that call for a trim */
#define TRIM_CONNS		256	/* connections gone since the peak that may too */
#define FREE_OBJS_KEEP		256	/* objects of one size (or blocks) kept per thread */

/* An FE_BLOCK from the thread's freelist, else from malloc (not zeroed). */
void *
block_get(struct fe_thread *t)
{
	void *b = objs_take(&t->free_blocks);

	return b != NULL ? b : malloc(FE_BLOCK);
}

/* An object from o as it was left, or NULL when o is empty. */
void *
objs_take(struct fe_objs *o)
{
	void *p = o->head;

	if (p == NULL)
		return NULL;
	o->head = *(void **)p;
	if (--o->n < o->low)
		o->low = o->n;
	return p;
}

/* A zeroed object of `size` from o, else from calloc.  NULL when memory is out. */
void *
objs_get(struct fe_objs *o, size_t size)
{
	void *p = objs_take(o);

	if (p == NULL)
		return calloc(1, size);
	memset(p, 0, size);
	return p;
}

/* Keep p for reuse, or free it when o holds enough. */
void
objs_put(struct fe_objs *o, void *p)
{
	if (p == NULL)
		return;
	if (o->n >= FREE_OBJS_KEEP) {
		free(p);
		return;
	}
	*(void **)p = o->head;
	o->head = p;
	o->n++;
}

/*
 * Free what sat in o unused since the last call (its low-water mark: a
 * steady load dips into it and keeps it) beyond `keep`, or all of it.
 * Returns how many were freed.
 */
size_t
objs_trim(struct fe_objs *o, bool all, size_t keep)
{
	size_t unused = all ? o->n : o->low > keep ? o->low - keep : 0;
	size_t freed = 0;

	for (; freed < unused && o->head != NULL; freed++) {
		void *p = o->head;

		o->head = *(void **)p;
		o->n--;
		free(p);
	}
	o->low = o->n;
	return freed;
}

/*
 * Once a second (the thread's tick): give memory back after a burst.  A
 * wave of connections (slowloris: each holds an input block while its head
 * trickles in) leaves the freelist full and the heap fragmented, and the
 * front end kept tens of MB it no longer used.  Blocks that sat in the
 * freelist for the whole last second (its low-water mark) are freed, down
 * to a few; when that released a MiB or more, or most connections of a
 * burst went away (hundreds, and half of the peak), malloc_trim(0) returns
 * the free pages of every arena to the kernel (free() alone only shrinks a
 * heap from its top).  A steady load keeps its blocks (it dips into the
 * freelist every second) and is not trimmed while its count only wavers.
 */
void
conn_trim(struct fe_thread *t)
{
	size_t released = objs_trim(&t->free_blocks, false, FREE_BLOCKS_MIN);

	objs_trim(&t->free_conns, false, 0);
	objs_trim(&t->free_streams, false, 0);
	h2mem_trim(t, false);
	if (released >= TRIM_BLOCKS ||
	    (t->conns_peak >= t->nconns + TRIM_CONNS && t->nconns <= t->conns_peak / 2)) {
#ifdef __GLIBC__
		(void)malloc_trim(0);	/* returns whether it released anything */
#endif
		t->conns_peak = t->nconns;
	}
}

void
block_put(struct fe_thread *t, void *b)
{
	objs_put(&t->free_blocks, b);
}

/*
 * Set when the current wait (idle, header, body, send, linger) ends.  Only
 * touches the timer heap when the timer would fire too late.
 */
void
conn_set_deadline(struct conn *c, uint64_t ms)
{
	struct loop *l = c->t->loop;

	c->deadline = loop_now(l) + ms;
	if (!loop_timer_armed(&c->timer) || c->timer.when > c->deadline)
		loop_timer_set(l, &c->timer, ms);
}

void
conn_want_write(struct conn *c, bool on)
{
	uint32_t ev = on ? LOOP_WRITE : LOOP_READ;

	if (on == !!(c->flags & CF_WANT_WRITE))
		return;
	if (c->h2s != NULL) {
		c->io.events = ev;	/* no descriptor: the stream says when */
		h2s_cio_events(c->h2s);
	}
	if (loop_io_mod(c->t->loop, &c->io, ev) == -1)
		log_warn("epoll_ctl");
	if (on) {
		c->flags |= CF_WANT_WRITE;
	} else {
		c->flags &= (uint8_t)~CF_WANT_WRITE;
		if (c->ssl != NULL)
			cio_check_pending(c);	/* input OpenSSL holds: epoll cannot tell */
	}
}

/*
 * Make sure c has an input buffer (an FE_BLOCK) to read into.  Returns 0,
 * or -1 when no memory can be had (the caller closes the connection).
 */
int
conn_ibuf(struct conn *c)
{
	if (c->ibuf != NULL)
		return 0;
	if ((c->ibuf = block_get(c->t)) == NULL)
		return -1;
	c->icap = FE_BLOCK;
	c->ipos = c->ilen = c->scan = 0;
	return 0;
}

/* Give back the buffers a connection does not need while it waits. */
void
conn_release_buffers(struct conn *c)
{
	struct fe_thread *t = c->t;

	if (c->ibuf != NULL && c->ipos == c->ilen) {
		if (c->icap == FE_BLOCK)
			block_put(t, c->ibuf);
		else
			free(c->ibuf);
		c->ibuf = NULL;
		c->ipos = c->ilen = c->icap = c->scan = 0;
	}
	if (c->obuf != NULL && c->ooff == c->olen) {
		block_put(t, c->obuf);
		c->obuf = NULL;
		c->ooff = c->olen = 0;
	}
}

static void
conn_free(void *arg)
{
	struct conn *c = arg;

	objs_put(&c->t->free_conns, c);
}

void
conn_close(struct conn *c)
{
	struct fe_thread *t = c->t;
	int fd = c->io.fd;

	if (c->state == CONN_CLOSED)
		return;
	http1_log_gone(c);
	if (c->pr != NULL)
		poolreq_abort(c);
	if (c->h2 != NULL)
		h2_free(c);
	c->state = CONN_CLOSED;
	if (c->h2s != NULL)
		h2s_cio_closed(c->h2s);	/* its stream's end: a hang-up */
	loop_io_del(t->loop, &c->io);
	loop_timer_cancel(t->loop, &c->timer);
	if (c->ssl != NULL)
		tls_conn_close(c);
	SSL_free(c->stream_tls);	/* a stream's reference; NULL is fine */
	c->stream_tls = NULL;
	if (fd != -1)
		close(fd);
	perip_release(c);
	if (c->req != NULL) {
		http1_req_put(t, c->req);
		c->req = NULL;
	}
	free(c->chunk);
	c->chunk = NULL;
	tlsvars_put(c->tlsv);
	c->tlsv = NULL;
	c->ipos = c->ilen;
	c->ooff = c->olen;
	conn_release_buffers(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	t->nconns--;
	if (!c->internal)
		stat_add(&t->st_conns, (uint64_t)-1);
	/* Events for it may still be in this batch: free after it. */
	fe_gen_release(c->gen);
	c->gen = NULL;
	if (loop_defer(t->loop, conn_free, c) == -1)
		log_warnx("cannot defer freeing a connection: leaking %zu bytes",
		    sizeof(*c));
}

void
conn_resume_accept(void *arg)
{
	struct fe_thread *t = arg;

	if (t->draining || atomic_load(&t->fe->hold))
		return;
	for (size_t i = 0; i < t->nls; i++)
		if (loop_io_mod(t->loop, &t->ls[i].io, LOOP_READ) == -1)
			log_warn("epoll_ctl");
	t->accepting = true;
}

static void
pause_accept(struct fe_thread *t)
{
	for (size_t i = 0; i < t->nls; i++)
		if (loop_io_mod(t->loop, &t->ls[i].io, 0) == -1)
			log_warn("epoll_ctl");
	t->accepting = false;
	loop_timer_set(t->loop, &t->accept_timer, ACCEPT_PAUSE_MS);
}

/*
 * Out of file descriptors: accept the oldest pending connection with the fd
 * kept in reserve and close it at once (the client sees a close rather than
 * a hang), then stop accepting for a moment so the loop does not spin.
 */
static void
accept_emfile(struct fe_thread *t, int lfd)
{
	int fd;

	if (t->reserve_fd != -1) {
		close(t->reserve_fd);
		t->reserve_fd = -1;
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) != -1)
			close(fd);
		t->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	log_warnx("out of file descriptors (%zu connections on this thread): pausing accept",
	    t->nconns);
	pause_accept(t);
}

void
conn_accept(void *arg, uint32_t events)
{
	struct fe_listener *l = arg;
	struct fe_thread *t = l->t;
	/* the thread's newest generation: a reload applies to new connections */
	unsigned maxc = t->gen->conf->server.max_connections;

	(void)events;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct conn *c;
		union {
			struct sockaddr		sa;
			struct sockaddr_in6	in6;
			struct sockaddr_storage	ss;
		} peer;
		socklen_t plen = sizeof(peer);
		bool proxied;
		int fd;

		fd = accept4(l->fd, &peer.sa, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				accept_emfile(t, l->fd);
				return;
			}
			log_warn("accept");
			return;
		}
		if (maxc != 0 && t->nconns * t->fe->nthreads >= maxc) {
			/* Over the configured limit: refuse politely by closing. */
			close(fd);
			continue;
		}
		if ((c = conn_new(t, fd, l->addr, &peer.sa, plen)) == NULL)
			continue;
		proxied = c->gen->addrs[c->addr].proxy_protocol;
		/* behind a proxy the client is known after its header (proxyin.c) */
		if (!proxied && !perip_admit(c, c->gen->conf->server.max_connections_per_ip)) {
			/* over its address's share: closed unanswered, counted */
			stat_add(&t->st_closed[FE_CLOSE_PERIP], 1);
			c->internal = true;	/* not counted as open yet */
			conn_close(c);
			continue;
		}
		stat_add(&t->st_conns, 1);
		stat_add(&t->st_accepted, 1);
		if (proxied)
			proxyin_start(c);
		else
			conn_established(c);
	}
}

/*
 * A connection for fd (non-blocking; -1: none: conn_new_detached(), or an
 * HTTP/2 stream's whose I/O is the stream, h2stream.c: h2s_pipe()), on
 * listen address `addr`, from peer:
 * on the thread's list, its events going to HTTP/1.1, not started.  NULL
 * (fd closed) when it cannot be had.  Used by accept and by HTTP/2 for a
 * stream's request (h2stream.c), which is an HTTP/1.1 connection of its own.
 */
struct conn *
conn_new(struct fe_thread *t, int fd, unsigned addr, const struct sockaddr *peer,
    socklen_t plen)
{
	struct conn *c;

	if ((c = objs_get(&t->free_conns, sizeof(*c))) == NULL) {
		if (fd != -1)
			close(fd);
		return NULL;
	}
	c->t = t;
	c->gen = t->gen;
	atomic_fetch_add(&c->gen->refs, 1);
	c->addr = (uint16_t)addr;
	memcpy(&c->peer, peer, plen < sizeof(c->peer) ? plen : sizeof(c->peer));
	loop_timer_init(&c->timer, http1_on_timer, c);
	if (fd == -1) {
		c->io.fd = -1;	/* conn_new_detached() */
	} else if (loop_io_add(t->loop, &c->io, fd, LOOP_READ, http1_on_io, c) == -1) {
		log_warn("epoll_ctl");
		fe_gen_release(c->gen);
		close(fd);
		objs_put(&t->free_conns, c);
		return NULL;
	}
	c->next = t->conns;
	if (t->conns != NULL)
		t->conns->prev = c;
	t->conns = c;
	if (++t->nconns > t->conns_peak)
		t->conns_peak = t->nconns;
	return c;
}

/*
 * The connection's transport is established: what runs before it (the
 * PROXY header on a proxy_protocol address, proxyin.c) is done, and its
 * protocol begins: a TLS handshake on a tls address (tls.c, which hands
 * over to HTTP/1.1 or HTTP/2 by ALPN itself), else HTTP/2 on an `h2c`
 * address, else HTTP/1.1.  Takes over the connection's
 * event and timer callbacks (the timer must not be armed).
 */
void
conn_established(struct conn *c)
{
	if (tls_addr_on(c->t, c->addr)) {
		(void)tls_conn_start(c);	/* closes c when it cannot */
		return;
	}
	c->io.cb = http1_on_io;
	c->timer.cb = http1_on_timer;
	if (c->gen->addrs[c->addr].h2c)
		h2_start(c);
	else
		http1_start(c);
}

/*
 * A connection without a socket for one HTTP/2 stream's request, served in
 * place (h2stream.c: http1_serve_detached()): internal, busy (CONN_HANDLER,
 * so a drain leaves it to its stream), on the thread's list so that
 * conn_close() and the shutdown paths treat it as any other.  NULL when
 * memory is short.
 */
struct conn *
conn_new_detached(struct fe_thread *t, unsigned addr, const struct sockaddr *peer,
    socklen_t plen)
{
	struct conn *c = conn_new(t, -1, addr, peer, plen);

	if (c != NULL) {
		c->internal = true;
		c->detached = true;
		c->state = CONN_HANDLER;
	}
	return c;
}

/* Shutdown: close every connection that is between requests. */
void
conn_drain_idle(struct fe_thread *t, bool keep_idle)
{
	struct conn *c, *next;

	for (c = t->conns; c != NULL; c = next) {
		next = c->next;
		if (c->h2 != NULL)
			h2_drain(c);	/* GOAWAY; closes once its streams are done */
		/* between requests, or before the first: no request to finish */
		else if (!keep_idle &&
		    ((c->state == CONN_IDLE && c->ipos == c->ilen) || c->state == CONN_TLS ||
		    c->state == CONN_PROXY))
			conn_close(c);
	}
}
