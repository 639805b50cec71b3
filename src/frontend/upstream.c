/*
 * upstream.c - connections from the front end to workers, and the
 * per-thread set of idle kept-alive ones.
 *
 * A connection belongs to one thread and, while a request uses it, to that
 * request (owner); afterwards it may wait in the thread's idle list for the
 * next request to the same worker.  A worker that drains or is gone has its
 * idle connections closed (FE_MSG_WORKERS).
 *
 * Pools whose workers serve one connection at a time (FastCGI: php-cgi,
 * php-fpm children) must not leave a connection idle where another thread,
 * or the master's health check, would wait behind it: their idle
 * connections live at most UPSTREAM_SINGLE_IDLE_MS, and a thread that takes
 * such a worker while another thread holds an idle connection to it asks
 * that thread to close it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"
#include "frontend.h"

#define IDLE_UP_MAX		64	/* idle upstream connections per thread */

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

static void
idle_unlink(struct fe_thread *t, struct upconn *up)
{
	for (struct upconn **pp = &t->idle_up; *pp != NULL; pp = &(*pp)->next)
		if (*pp == up) {
			*pp = up->next;
			t->nidle_up--;
			break;
		}
	up->next = NULL;
}

/* Note (pool lock) which thread, if any, holds an idle connection to w. */
static void
mark_idle(struct fe_worker *w, int thread)
{
	pthread_mutex_lock(&w->pool->lock);
	w->idle_thread = thread;
	if (thread < 0)
		w->drop_idle = false;
	pthread_mutex_unlock(&w->pool->lock);
}

/* A kept-alive connection the worker closed or wrote to: drop it. */
static void
idle_event(void *arg, uint32_t events)
{
	struct upconn *up = arg;

	(void)events;
	idle_unlink(up->t, up);
	if (up->w->pool->single_conn)
		mark_idle(up->w, -1);
	upstream_close(up);
}

/*
 * Drop idle connections: all of them, or those to workers that drain, are
 * gone, were asked to be released, or (single-connection pools) waited too
 * long.
 */
void
upstream_drop_idle(struct fe_thread *t, bool all)
{
	uint64_t now = loop_now(t->loop);
	struct upconn *up, *next, **pp = &t->idle_up;

	for (up = t->idle_up; up != NULL; up = next) {
		struct fe_worker *w = up->w;
		bool drop;

		next = up->next;
		pthread_mutex_lock(&w->pool->lock);
		drop = all || w->draining || w->gone || w->dead || w->drop_idle ||
		    (w->pool->single_conn && now - up->idle_since >= UPSTREAM_SINGLE_IDLE_MS);
		if (drop && w->pool->single_conn) {
			w->idle_thread = -1;
			w->drop_idle = false;
		}
		pthread_mutex_unlock(&w->pool->lock);
		if (!drop) {
			pp = &up->next;
			continue;
		}
		*pp = next;
		t->nidle_up--;
		upstream_close(up);
	}
}

static struct upconn *
idle_take(struct fe_thread *t, struct fe_worker *w)
{
	struct upconn *up, *next;

	for (up = t->idle_up; up != NULL; up = next) {
		char b;
		ssize_t n;

		next = up->next;
		if (up->w != w)
			continue;
		idle_unlink(t, up);
		if (w->pool->single_conn)
			mark_idle(w, -1);
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

/* The request is done with it: keep it for the next one, or close it. */
void
upstream_put(struct upconn *up, bool reuse)
{
	struct fe_thread *t = up->t;

	up->owner = NULL;
	if (reuse && t->nidle_up < IDLE_UP_MAX && !t->draining) {
		up->nreq++;
		if (loop_io_mod(t->loop, &up->io, LOOP_READ) == -1) {
			upstream_close(up);
			return;
		}
		up->io.cb = idle_event;
		up->io.arg = up;
		up->idle_since = loop_now(t->loop);
		up->next = t->idle_up;
		t->idle_up = up;
		t->nidle_up++;
		if (up->w->pool->single_conn)
			mark_idle(up->w, (int)t->idx);
		return;
	}
	upstream_close(up);
}

void
upstream_set(struct upconn *up, uint32_t events)
{
	if (loop_io_mod(up->t->loop, &up->io, events) == -1)
		log_warn("epoll_ctl (upstream)");
}
