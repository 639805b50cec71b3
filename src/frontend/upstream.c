/*
 * upstream.c - connections from the front end to workers, and the
 * per-thread set of idle kept-alive ones.
 *
 * A connection belongs to one thread and, while a request uses it, to that
 * request (owner); afterwards it may wait, idle, for the next request to the
 * same worker: it is then in two lists, the thread's (for housekeeping) and
 * the thread's for that worker (w->idle[thread], where a request finds one
 * in O(1)).  A worker that drains or is gone has its idle connections
 * closed (FE_MSG_WORKERS).
 *
 * Pools whose workers serve one connection at a time (FastCGI: php-cgi,
 * php-fpm children) must not leave a connection idle where another thread,
 * or the master's health check, would wait behind it: their idle
 * connections are counted under the pool lock (w->nidle, w->idle[].held),
 * live at most UPSTREAM_SINGLE_IDLE_MS, and a request that would need a
 * new connection beyond the worker's slots has the threads holding idle
 * ones close them (take_slot() in queue.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"
#include "frontend.h"

/*
 * A kept-alive connection idle this long is checked before reuse (see
 * must_check()); one idle this long is closed, so a burst does not leave
 * the worker holding connections nobody uses.
 */
#define PEEK_AFTER_MS		1000
#define IDLE_MAX_MS		60000

void
upstream_close(struct upconn *up)
{
	int fd = up->io.fd;

	loop_io_del(up->t->loop, &up->io);
	if (fd != -1)
		close(fd);
	queue_worker_put(up->w);
	/* An event for it may still be in this batch: free after it. */
	if (loop_defer(up->t->loop, free, up) == -1)
		log_warnx("cannot defer freeing an upstream connection: leaking it");
}

/* Put an idle connection at the head of the thread's and the worker's lists. */
static void
idle_link(struct fe_thread *t, struct upconn *up)
{
	struct fe_widle *wi = &up->w->idle[t->idx];

	up->prev = NULL;
	up->next = t->idle_up;
	if (t->idle_up != NULL)
		t->idle_up->prev = up;
	t->idle_up = up;
	t->nidle_up++;
	up->wprev = NULL;
	up->wnext = wi->head;
	if (wi->head != NULL)
		wi->head->wprev = up;
	wi->head = up;
	wi->n++;
}

static void
idle_unlink(struct fe_thread *t, struct upconn *up)
{
	struct fe_widle *wi = &up->w->idle[t->idx];

	if (up->prev != NULL)
		up->prev->next = up->next;
	else
		t->idle_up = up->next;
	if (up->next != NULL)
		up->next->prev = up->prev;
	t->nidle_up--;
	if (up->wprev != NULL)
		up->wprev->wnext = up->wnext;
	else
		wi->head = up->wnext;
	if (up->wnext != NULL)
		up->wnext->wprev = up->wprev;
	wi->n--;
	up->prev = up->next = up->wprev = up->wnext = NULL;
}

/*
 * Count an idle connection to a single-connection worker that thread t
 * keeps (+1) or no longer keeps (-1); the pool lock is held.
 */
static void
count_idle_locked(struct fe_thread *t, struct fe_worker *w, int d)
{
	if (!w->pool->single_conn)
		return;
	w->nidle += (unsigned)d;
	w->idle[t->idx].held += (unsigned)d;
	if (d < 0)
		w->drop_idle = false;
}

/* count_idle_locked(), taking the pool lock (only for single_conn pools). */
static void
mark_idle(struct fe_thread *t, struct fe_worker *w, int d)
{
	if (!w->pool->single_conn)
		return;
	pthread_mutex_lock(&w->pool->lock);
	count_idle_locked(t, w, d);
	pthread_mutex_unlock(&w->pool->lock);
}

/* A kept-alive connection the worker closed or wrote to: drop it. */
static void
idle_event(void *arg, uint32_t events)
{
	struct upconn *up = arg;

	(void)events;
	idle_unlink(up->t, up);
	mark_idle(up->t, up->w, -1);
	upstream_close(up);
}

/*
 * Drop idle connections: all of them, or those to workers that drain, are
 * gone, were asked to be released, or that waited too long (a minute; a
 * second for single-connection workers).
 */
void
upstream_drop_idle(struct fe_thread *t, bool all)
{
	uint64_t now = loop_now(t->loop);
	struct upconn *up, *next;

	for (up = t->idle_up; up != NULL; up = next) {
		struct fe_worker *w = up->w;
		bool drop;

		next = up->next;
		pthread_mutex_lock(&w->pool->lock);
		drop = all || w->draining || w->gone || w->dead || w->drop_idle ||
		    now - up->idle_since >= IDLE_MAX_MS ||
		    (w->pool->single_conn && now - up->idle_since >= UPSTREAM_SINGLE_IDLE_MS);
		if (drop)
			count_idle_locked(t, w, -1);
		pthread_mutex_unlock(&w->pool->lock);
		if (!drop)
			continue;
		idle_unlink(t, up);
		upstream_close(up);
	}
}

/*
 * Must a kept-alive connection be checked (recv MSG_PEEK: EOF or stray
 * bytes?) before it is reused?  The worker may have closed it after the
 * event batch being run was fetched, so idle_event() has not seen it yet.
 * Not on a Unix socket that served a request less than a second ago: a
 * send on a connection the worker closed fails at once with EPIPE, before
 * anything was delivered, and the request then takes another connection
 * (upstream_stale(), in proxy.c and fastcgi.c) -- and a second is shorter
 * than the keep-alive timeout of any app server, the usual reason a worker
 * closes one.  A TCP peer that closed still takes our bytes (its reset
 * comes later, and may look like a worker that read the request and
 * died): those are always checked.
 */
static bool
must_check(const struct upconn *up, uint64_t now)
{
	return up->w->addr.ss_family != AF_UNIX || now - up->idle_since >= PEEK_AFTER_MS;
}

static struct upconn *
idle_take(struct fe_thread *t, struct fe_worker *w)
{
	struct fe_widle *wi = &w->idle[t->idx];
	uint64_t now = loop_now(t->loop);
	struct upconn *up;

	while ((up = wi->head) != NULL) {
		char b;
		ssize_t n;

		idle_unlink(t, up);
		mark_idle(t, w, -1);
		if (!must_check(up, now))
			return up;
		/* Closed by the worker since? Then it reads EOF (or junk). */
		n = recv(up->io.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return up;
		upstream_close(up);
	}
	return NULL;
}

static struct upconn *
connect_new(struct fe_thread *t, struct fe_worker *w)
{
	struct upconn *up;
	int fd;

	fd = socket(w->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return NULL;
	if (connect(fd, (struct sockaddr *)&w->addr, w->addrlen) == -1 &&
	    errno != EINPROGRESS) {
		int e = errno;

		close(fd);
		errno = e;
		return NULL;
	}
	if ((up = calloc(1, sizeof(*up))) == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	up->t = t;
	up->w = w;
	pthread_mutex_lock(&w->pool->lock);
	w->refs++;
	pthread_mutex_unlock(&w->pool->lock);
	if (loop_io_add(t->loop, &up->io, fd, LOOP_WRITE, idle_event, up) == -1) {
		int e = errno;

		close(fd);
		up->io.fd = -1;
		upstream_close(up);
		errno = e;
		return NULL;
	}
	return up;
}

/*
 * A connection to w for a request (owner): a kept-alive one of this thread
 * if there is one, else a new one.  NULL with errno set when w cannot be
 * reached (ECONNREFUSED/ENOENT: it is gone).  The connection's events go to
 * cb(owner-connection).
 */
struct upconn *
upstream_get(struct fe_thread *t, struct fe_worker *w, loop_io_cb cb, void *owner)
{
	struct upconn *up;

	if ((up = idle_take(t, w)) == NULL && (up = connect_new(t, w)) == NULL)
		return NULL;
	up->owner = owner;
	up->io.cb = cb;
	up->io.arg = up;
	return up;
}

/*
 * The request is done with it: keep it for the next one, or close it.  A
 * thread keeps up to the pool's max_conns idle connections to a worker, as
 * many as it can have requests in flight there, so a steady load never
 * closes and reopens connections.
 */
void
upstream_put(struct upconn *up, bool reuse)
{
	struct fe_thread *t = up->t;
	struct fe_worker *w = up->w;

	up->owner = NULL;
	/* plain read of max_conns: it changes only on a reload */
	if (reuse && !t->draining && w->idle[t->idx].n < w->pool->max_conns) {
		up->nreq++;
		if (loop_io_mod(t->loop, &up->io, LOOP_READ) == -1) {
			upstream_close(up);
			return;
		}
		up->io.cb = idle_event;
		up->io.arg = up;
		up->idle_since = loop_now(t->loop);
		idle_link(t, up);
		mark_idle(t, w, 1);
		return;
	}
	upstream_close(up);
}

/*
 * A send on up failed with err before any byte of the request went out:
 * was it a kept-alive connection the worker had closed meanwhile (see
 * must_check())?  Then nothing was delivered and nothing is wrong with the
 * worker: the caller takes another connection.
 */
bool
upstream_stale(const struct upconn *up, int err)
{
	return up->nreq > 0 && (err == EPIPE || err == ECONNRESET);
}

void
upstream_set(struct upconn *up, uint32_t events)
{
	if (loop_io_mod(up->t->loop, &up->io, events) == -1)
		log_warn("epoll_ctl (upstream)");
}
