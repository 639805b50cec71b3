/*
 * health.c - is a worker ready, is it still alive?
 *
 * Every worker of a pool with a command is probed (probe.c): kind =
 * fastcgi with FCGI_GET_VALUES; with ping_path (or a native pool, which
 * has weir-host's /.weir/ping) GET ping_path; an http worker without
 * ping_path with `OPTIONS *`, where any HTTP status line is an answer.
 *
 * Readiness: the first probe answered (2xx or 3xx for ping_path, any
 * status for OPTIONS *, any FastCGI answer).  Probes are sent as soon as
 * the worker starts: the connection waits in the socket's backlog until
 * the app accepts, so it is answered the moment the app is up, and until
 * then the front end keeps requests in the pool's queue (with its timeout
 * and 503) rather than in the backlog of a process that may never answer.
 * With notify = yes and no ping_path, READY=1 on the worker's
 * NOTIFY_SOCKET (sd_notify) decides instead.
 *
 * Liveness: every ping_interval (0 = never) the master probes again on a
 * fresh connection; any answer within ping_response_time counts (an app
 * answering 500 is alive: an HTTP 500 is not a failure).  Only an answer
 * counts (a status line, a FastCGI record), never the connect: the kernel
 * accepts into the backlog of a stopped or deadlocked process.  No answer: event 1010, the
 * worker is killed (it can finish nothing: the front end retries its
 * idempotent requests elsewhere and answers 502 for the others) and
 * replaced at once; it counts as a failure.  A FastCGI worker such as
 * php-cgi accepts one connection at a time and the front end keeps its
 * connection open, so under load the probe can wait behind it for a long
 * time: a worker the front end saw complete requests while the probe
 * waited is alive, and only a worker that made no progress fails.  (An
 * HTTP worker that serves one connection at a time, a gunicorn sync
 * worker, closes each one: the probe waits its turn in the backlog, no
 * more.)  The front end's counts come every 500 ms, so that excuse is
 * kept to FastCGI: elsewhere a hang is found within ping_interval +
 * ping_response_time, never one round later.
 *
 * The probes themselves are probe.c; pools with `address` (no process) are
 * probed by external.c.
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

#define READY_RETRY_MS	200	/* readiness probe not answered as hoped: again */

static void	ping_timer_cb(void *arg);

/*
 * What a pool's probe asks: FCGI_GET_VALUES for kind = fastcgi (even with
 * a ping_path: the FastCGI answer is what the front end relies on), GET
 * ping_path for http and native, a bare connect for an upstream
 * (`address`) with neither, and OPTIONS * for a worker with neither.
 */
enum probe_kind
health_probe_kind(const struct conf_pool *cp)
{
	if (cp->kind == POOL_KIND_FASTCGI)
		return PROBE_FCGI;
	if (pool_ping_path(cp) != NULL)
		return PROBE_HTTP;
	return cp->address != NULL ? PROBE_CONNECT : PROBE_ALIVE;
}

/* Does the answer `result` to a readiness probe make the worker ready? */
static bool
ready_answer(enum probe_kind kind, int result)
{
	if (kind == PROBE_ALIVE)
		return result >= 100;
	return result >= 200 && result < 400;
}

void
ping_cancel(struct worker *w)
{
	probe_cancel(w->ping);
	w->ping = NULL;
}

/* The probe ended: ready, alive, or a failure. */
static void
on_ping_result(void *arg, int result, const char *why)
{
	struct worker *w = arg;
	struct loop *l = w->pool->m->loop;
	const struct conf_pool *cp = w->pool->cp;

	w->ping = NULL;
	if (result == PROBE_BAD) {
		/* The app does not speak the protocol we asked in. */
		pool_worker_failed(w, 1011, why);
		return;
	}
	if (w->state == W_STARTING) {
		if (ready_answer(health_probe_kind(cp), result)) {
			pool_worker_ready(w);
			return;
		}
		/* Up but not healthy yet (or a wrong ping_path): try again. */
		if (result > 0)
			log_debug("pool %s: worker %d answered the readiness ping with %d",
			    w->pool->name, (int)w->pid, result);
		loop_timer_set(l, &w->ping_timer, READY_RETRY_MS);
		return;
	}
	if (result < 0) {
		char text[256];

		snprintf(text, sizeof(text), "the connection for the ping failed (%s)", why);
		pool_worker_failed(w, 1010, text);
		return;
	}
	if (cp->ping_interval > 0)
		loop_timer_set(l, &w->ping_timer, cp->ping_interval);
	else
		loop_timer_cancel(l, &w->ping_timer);
}

/*
 * Send a probe now.  During startup it is the readiness probe (the startup
 * time limit is its deadline); afterwards a liveness check with
 * ping_response_time to answer.
 */
void
ping_start(struct worker *w)
{
	struct master *m = w->pool->m;
	const struct conf_pool *cp = w->pool->cp;
	char err[WEIR_ERRLEN];
	enum probe_kind kind = health_probe_kind(cp);

	if (w->ping != NULL)
		return;
	/* notify = yes without ping_path: READY=1 says when it is ready. */
	if (w->state == W_STARTING && cp->notify && kind == PROBE_ALIVE)
		return;
	w->ping_requests = w->requests;
	w->ping = probe_start(m->loop, &w->addr, w->addrlen, kind,
	    pool_ping_path(cp), on_ping_result, w, err);
	if (w->ping == NULL) {
		char why[WEIR_ERRLEN + 64];

		if (w->state == W_STARTING) {
			loop_timer_set(m->loop, &w->ping_timer, READY_RETRY_MS);
			return;
		}
		snprintf(why, sizeof(why), "could not connect to send a ping: %s", err);
		pool_worker_failed(w, 1010, why);
		return;
	}
	if (w->state != W_STARTING)
		loop_timer_set(m->loop, &w->ping_timer, cp->ping_response_time);
	else
		loop_timer_cancel(m->loop, &w->ping_timer);
}

/* The ping timer: time for the next ping, or the deadline of one in flight. */
static void
ping_timer_cb(void *arg)
{
	struct worker *w = arg;
	const struct conf_pool *cp = w->pool->cp;

	if (w->ping != NULL && w->state != W_STARTING) {
		char why[128];
		int answered = probe_status(w->ping);

		ping_cancel(w);
		if (answered > 0 ||
		    (cp->kind == POOL_KIND_FASTCGI && w->requests > w->ping_requests)) {
			/*
			 * It answered and kept the connection open; or a FastCGI
			 * worker busy on the front end's connection, and serving.
			 * Alive.
			 */
			log_debug("pool %s: worker %d alive: %s", w->pool->name, (int)w->pid,
			    answered > 0 ? "answered its ping without closing" :
			    "its ping waited behind requests it served");
			if (cp->ping_interval > 0)
				loop_timer_set(w->pool->m->loop, &w->ping_timer, cp->ping_interval);
			return;
		}
		snprintf(why, sizeof(why), "did not answer a ping within %llus",
		    (unsigned long long)(cp->ping_response_time / 1000));
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
