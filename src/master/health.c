/*
 * health.c - is a worker ready, is it still alive?
 *
 * Readiness: with ping_path, the first ping answered 2xx or 3xx (sent as
 * soon as the worker starts: the request waits in the socket's backlog until
 * the app accepts, so it is answered the moment the app is up); with
 * notify = yes, READY=1 on the worker's NOTIFY_SOCKET (sd_notify); with
 * neither, as soon as it runs (the socket already queues connections).
 *
 * Liveness: every ping_interval the master sends GET ping_path; any HTTP
 * answer within ping_response_time counts (an app answering 500 is alive:
 * an HTTP 500 is not a failure).  No answer: event 1010, the worker is killed
 * and it counts as a failure.  Pools without ping_path are not pinged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "master.h"

#define READY_RETRY_MS	200	/* readiness ping answered but not 2xx/3xx */

struct ping {
	struct worker	*w;
	int		 fd;
	struct loop_io	 io;
	char		 req[512];
	size_t		 reqlen, sent;
	char		 buf[256];
	size_t		 len;
	bool		 readiness;	/* part of startup, not a liveness check */
	int		 status;	/* status of the answer, once its line is in */
};

static void	ping_timer_cb(void *arg);

void
ping_cancel(struct worker *w)
{
	struct ping *pg = w->ping;

	if (pg == NULL)
		return;
	loop_io_del(w->pool->m->loop, &pg->io);
	close(pg->fd);
	free(pg);
	w->ping = NULL;
}

static void
ping_done(struct worker *w, int status)
{
	struct loop *l = w->pool->m->loop;
	const struct conf_pool *cp = w->pool->cp;
	bool readiness = w->ping->readiness;

	ping_cancel(w);
	if (readiness) {
		if (status >= 200 && status < 400) {
			pool_worker_ready(w);
			return;
		}
		/* Up but not healthy yet (or a wrong ping_path): try again. */
		if (status > 0)
			log_debug("pool %s: worker %d answered the readiness ping with %d",
			    w->pool->name, (int)w->pid, status);
		loop_timer_set(l, &w->ping_timer, READY_RETRY_MS);
		return;
	}
	if (status <= 0) {
		pool_worker_failed(w, 1010, "the connection for the ping failed");
		return;
	}
	if (cp->ping_interval > 0)
		loop_timer_set(l, &w->ping_timer, cp->ping_interval);
}

static void
on_ping_io(void *arg, uint32_t events)
{
	struct ping *pg = arg;
	struct worker *w = pg->w;
	ssize_t n;

	if (pg->sent < pg->reqlen && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		n = send(pg->fd, pg->req + pg->sent, pg->reqlen - pg->sent, MSG_NOSIGNAL);
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			ping_done(w, -1);
			return;
		}
		if (n > 0)
			pg->sent += (size_t)n;
		if (pg->sent == pg->reqlen &&
		    loop_io_mod(w->pool->m->loop, &pg->io, LOOP_READ) == -1) {
			ping_done(w, -1);
			return;
		}
		return;
	}
	/*
	 * The status line decides; the rest of the answer is read and dropped
	 * until the app closes (we asked for Connection: close), so it never
	 * sees a reset while writing.
	 */
	for (;;) {
		char sink[4096];
		char *dst = pg->status ? sink : pg->buf + pg->len;
		size_t room = pg->status ? sizeof(sink) : sizeof(pg->buf) - 1 - pg->len;

		n = recv(pg->fd, dst, room, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			ping_done(w, pg->status ? pg->status : -1);
			return;
		}
		if (pg->status)
			continue;
		pg->len += (size_t)n;
		pg->buf[pg->len] = '\0';
		if (strstr(pg->buf, "\r\n") != NULL || pg->len == sizeof(pg->buf) - 1) {
			int status = 0;

			if (sscanf(pg->buf, "HTTP/1.%*1d %3d", &status) != 1 ||
			    status < 100 || status > 999) {
				/* Not HTTP at all: the app does not speak our protocol. */
				ping_cancel(w);
				pool_worker_failed(w, 1011, "the answer to a ping was not HTTP");
				return;
			}
			pg->status = status;
		}
	}
}

/*
 * Send a ping now.  During startup it is the readiness probe; afterwards a
 * liveness check with ping_response_time to answer.
 */
void
ping_start(struct worker *w)
{
	struct master *m = w->pool->m;
	const struct conf_pool *cp = w->pool->cp;
	struct sockaddr_un sun;
	struct ping *pg;

	if (pool_ping_path(cp) == NULL || w->ping != NULL)
		return;
	pg = xcalloc(1, sizeof(*pg));
	pg->w = w;
	pg->readiness = w->state == W_STARTING;
	pg->reqlen = (size_t)snprintf(pg->req, sizeof(pg->req),
	    "GET %s HTTP/1.1\r\nHost: weir-ping\r\nUser-Agent: weir-ping\r\n"
	    "Connection: close\r\n\r\n", pool_ping_path(cp));
	if (pg->reqlen >= sizeof(pg->req))
		pg->reqlen = sizeof(pg->req) - 1;
	pg->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	wstrlcpy(sun.sun_path, w->path, sizeof(sun.sun_path));
	if (pg->fd == -1 ||
	    (connect(pg->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 &&
	    errno != EINPROGRESS && errno != EAGAIN) ||
	    loop_io_add(m->loop, &pg->io, pg->fd, LOOP_WRITE, on_ping_io, pg) == -1) {
		if (pg->fd != -1)
			close(pg->fd);
		free(pg);
		if (w->state == W_STARTING)
			loop_timer_set(m->loop, &w->ping_timer, READY_RETRY_MS);
		else
			pool_worker_failed(w, 1010, "could not connect to send a ping");
		return;
	}
	w->ping = pg;
	if (!pg->readiness)
		loop_timer_set(m->loop, &w->ping_timer, cp->ping_response_time);
}

/* The ping timer: time for the next ping, or the deadline of one in flight. */
static void
ping_timer_cb(void *arg)
{
	struct worker *w = arg;

	if (w->ping != NULL && !w->ping->readiness) {
		char why[128];

		snprintf(why, sizeof(why), "did not answer a ping within %llus",
		    (unsigned long long)(w->pool->cp->ping_response_time / 1000));
		ping_cancel(w);
		pool_worker_failed(w, 1010, why);
		return;
	}
	if (w->ping == NULL && (w->state == W_STARTING || w->state == W_READY))
		ping_start(w);
}

/* --- sd_notify -------------------------------------------------------------- */

static void
on_notify(void *arg, uint32_t events)
{
	struct worker *w = arg;
	char buf[4096];
	ssize_t n;

	(void)events;
	while ((n = recv(w->notify, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		char *line, *save = NULL;

		buf[n] = '\0';
		for (line = strtok_r(buf, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			if (strcmp(line, "READY=1") == 0 && w->state == W_STARTING) {
				pool_worker_ready(w);
			} else if (strncmp(line, "ERRNO=", 6) == 0) {
				char why[160];
				int e = atoi(line + 6);

				snprintf(why, sizeof(why), "the worker reported a fatal error: %s (errno %d)",
				    strerror(e), e);
				pool_worker_failed(w, 1009, why);
				return;
			}
		}
	}
}

/* Create the worker's NOTIFY_SOCKET (a datagram socket under state_dir). */
int
notify_open(struct worker *w, char *err)
{
	struct master *m = w->pool->m;
	struct sockaddr_un sun;
	int n;

	n = snprintf(w->notify_path, sizeof(w->notify_path), "%s/n%u.sock",
	    m->conf->server.state_dir, w->id);
	if (n < 0 || (size_t)n >= sizeof(w->notify_path)) {
		snprintf(err, WEIR_ERRLEN, "notify socket path too long");
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, w->notify_path, (size_t)n + 1);
	w->notify = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	(void)unlink(w->notify_path);
	if (w->notify == -1 ||
	    bind(w->notify, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    (w->pool->set_identity &&
	    chown(w->notify_path, w->pool->uid, w->pool->gid) == -1) ||
	    loop_io_add(m->loop, &w->notify_io, w->notify, LOOP_READ, on_notify, w) == -1) {
		snprintf(err, WEIR_ERRLEN, "%s: %s", w->notify_path, strerror(errno));
		if (w->notify != -1)
			close(w->notify);
		w->notify = -1;
		return -1;
	}
	return 0;
}

/* Hook the ping timer up; called once per worker after spawn. */
void
health_init_worker(struct worker *w)
{
	w->ping_timer.cb = ping_timer_cb;
	w->ping_timer.arg = w;
}
