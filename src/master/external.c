/*
 * external.c - pools with `address`: an upstream weir does not start (an
 * existing php-fpm, any HTTP service), supervised the way a worker is.
 *
 * The upstream is stood in for by a pseudo worker: pid 0, no process, a
 * worker id of its own, so the front end queues, dispatches, counts and
 * reports for it exactly as for a worker process.  It becomes ready
 * (CTL_WORKER_READY carrying the address) when the upstream answers its
 * first probe: FCGI_GET_VALUES for kind = fastcgi, GET ping_path for
 * kind = http with one, a bare connect otherwise.  Then a probe every
 * ping_interval, with ping_response_time to answer.
 *
 * A probe that fails (refused, no answer in time, a wrong answer) is to an
 * upstream what a crash is to a worker process: event 1010 with the
 * reason, a failure in the Rapid-Fail window, and the pseudo worker is
 * gone (CTL_WORKER_GONE: requests wait in the queue).  A new one (a new
 * id) probes every second until the upstream answers again.  When the
 * failures reach rapid_fail the pool is disabled with reason `unreachable`
 * (1002; the front end answers 503), and with rapid_fail_action = backoff
 * it is probed again after the back-off (1301).  With rapid_fail = off
 * every failed probe still counts in failures_total, but only the first of
 * an outage writes a 1010, so a long outage does not flood the log.
 *
 * The front end brings a probe forward: a request waiting with no ready
 * upstream (CTL_DEMAND_START) or a fault it saw on a connection
 * (CTL_WORKER_FAULT: event 1011, once per pseudo worker; the probe decides
 * whether it is a failure, since weir cannot restart an upstream and a
 * faulty answer to one request says little about the next).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/un.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "master.h"

#define RETRY_MS	1000	/* while the upstream does not answer */
#define MIN_GAP_MS	200	/* between probes the front end asks for */

static void	on_timer(void *arg);
static void	probe_now(struct worker *w);

/* The pool's pseudo worker, or NULL (managed workers draining after a reload are not). */
static struct worker *
pseudo(const struct pool *p)
{
	for (struct worker *w = p->workers; w != NULL; w = w->next)
		if (w->pid == 0 && w->state != W_EXITED)
			return w;
	return NULL;
}

static struct worker *
pseudo_new(struct pool *p)
{
	struct master *m = p->m;
	const struct conf_pool *cp = p->cp;
	struct worker *w = xcalloc(1, sizeof(*w));

	w->pool = p;
	w->id = ++m->next_worker_id;
	w->generation = m->generation;
	w->sock = w->out = w->notify = -1;
	loop_timer_init(&w->start_timer, NULL, w);
	loop_timer_init(&w->stop_timer, NULL, w);
	loop_timer_init(&w->ping_timer, on_timer, w);
	loop_timer_init(&w->recycle_timer, NULL, w);
	loop_timer_init(&w->report_timer, NULL, w);
	loop_timer_init(&w->limit_timer, NULL, w);
	memcpy(&w->addr, &cp->address_ss, sizeof(w->addr));
	w->addrlen = cp->address_len;
	/*
	 * The front end takes "unix:PATH", "HOST:PORT" or a bare absolute
	 * path; a unix: address too long for ctl_worker.path goes bare.
	 */
	if (strlen(cp->address) < sizeof(w->path))
		wstrlcpy(w->path, cp->address, sizeof(w->path));
	else if (cp->address_ss.ss_family == AF_UNIX)
		wstrlcpy(w->path, ((const struct sockaddr_un *)&cp->address_ss)->sun_path,
		    sizeof(w->path));
	w->started = loop_now(m->loop);
	w->started_wall = (int64_t)time(NULL);
	w->state = W_STARTING;
	w->next = p->workers;
	p->workers = w;
	if (p->state == POOL_STARTED)
		pool_set_state(p, POOL_STARTING);
	return w;
}

/* The pseudo worker goes; the front end forgets it if it knew it. */
static void
drop(struct worker *w)
{
	if (w->state == W_READY)
		pool_send_worker(w, CTL_WORKER_GONE);
	w->state = W_EXITED;
	pool_unlink_worker(w);
	worker_cleanup(w);
	worker_free(w);
}

static void
went_ready(struct worker *w)
{
	struct pool *p = w->pool;
	struct loop *l = p->m->loop;

	w->state = W_READY;
	w->ready_at = loop_now(l);
	log_info("pool %s: upstream %s (worker %u) ready in %llums%s", p->name,
	    p->cp->address, w->id, (unsigned long long)(w->ready_at - w->started),
	    p->outage_reported || rapidfail_current(&p->rf, w->ready_at) > 0 ?
	    ": it answers again" : "");
	p->outage_reported = false;
	pool_send_worker(w, CTL_WORKER_READY);
	if (p->state == POOL_STARTING)
		pool_set_state(p, POOL_STARTED);
	if (p->cp->ping_interval > 0)
		loop_timer_set(l, &w->ping_timer, p->cp->ping_interval);
}

/*
 * A probe failed: event 1010, a Rapid-Fail failure; a ready pseudo worker
 * is gone and a new one re-probes every second, unless this failure
 * disables the pool.  w is freed or re-armed: do not use it after.
 */
static void
failed(struct worker *w, const char *why)
{
	struct pool *p = w->pool;
	uint64_t now = loop_now(p->m->loop);
	char reason[256];
	bool tripped;

	snprintf(reason, sizeof(reason), "upstream %s: %s", p->cp->address, why);
	p->failures_total++;
	if (p->rf.count > 0 || !p->outage_reported) {
		json_t *f = json_object();

		json_object_set_new(f, "reason", json_string(why));
		json_object_set_new(f, "address", json_string(p->cp->address));
		json_object_set_new(f, "worker", json_integer(w->id));
		events_emit(1010, EV_WARNING, p->name, 0, f,
		    "The upstream %s serving application pool '%s' failed to respond to a ping: %s.",
		    p->cp->address, p->name, why);
	} else {
		log_info("pool %s: %s", p->name, reason);
	}
	p->outage_reported = true;
	tripped = rapidfail_record(&p->rf, now, 0, reason);
	if (w->state == W_READY) {
		drop(w);
		w = NULL;
	}
	if (tripped) {
		wstrlcpy(p->pending_why, reason, sizeof(p->pending_why));
		pool_trip(p, "unreachable");	/* drops the pseudo worker */
		return;
	}
	if (w == NULL)
		w = pseudo_new(p);
	loop_timer_set(p->m->loop, &w->ping_timer, RETRY_MS);
}

/* The probe's answer (probe.c). */
static void
on_result(void *arg, int result, const char *why)
{
	struct worker *w = arg;
	struct pool *p = w->pool;

	w->ping = NULL;
	loop_timer_cancel(p->m->loop, &w->ping_timer);
	p->probe_ended = loop_now(p->m->loop);
	if (result == PROBE_FAILED || result == PROBE_BAD) {
		failed(w, why);
		return;
	}
	/*
	 * An HTTP upstream is ready once ping_path answers 2xx or 3xx (a
	 * wrong ping_path must show, not pass); after that any answer means
	 * it is alive (an HTTP 500 is not a failure).
	 */
	if (w->state == W_STARTING && health_probe_kind(p->cp) == PROBE_HTTP &&
	    (result < 200 || result >= 400)) {
		char text[256];

		snprintf(text, sizeof(text), "%s answered the ping with HTTP %d",
		    pool_ping_path(p->cp), result);
		failed(w, text);
		return;
	}
	if (w->state == W_STARTING)
		went_ready(w);
	else if (p->cp->ping_interval > 0)
		loop_timer_set(p->m->loop, &w->ping_timer, p->cp->ping_interval);
}

/* Probe now, with ping_response_time to answer. */
static void
probe_now(struct worker *w)
{
	struct pool *p = w->pool;
	struct loop *l = p->m->loop;
	char err[WEIR_ERRLEN];

	if (w->ping != NULL)
		return;
	w->ping = probe_start(l, &w->addr, w->addrlen, health_probe_kind(p->cp),
	    pool_ping_path(p->cp), on_result, w, err);
	if (w->ping == NULL) {
		p->probe_ended = loop_now(l);
		failed(w, err);
		return;
	}
	loop_timer_set(l, &w->ping_timer, p->cp->ping_response_time);
}

/* The probe timer: the next probe, or the deadline of the one in flight. */
static void
on_timer(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;
	char why[128];

	if (w->ping == NULL) {
		probe_now(w);
		return;
	}
	probe_cancel(w->ping);
	w->ping = NULL;
	p->probe_ended = loop_now(p->m->loop);
	snprintf(why, sizeof(why), "no answer within %llus",
	    (unsigned long long)(p->cp->ping_response_time / 1000));
	failed(w, why);
}

/*
 * The pool starts, is enabled or re-enabled, or a reload changed it:
 * probe the upstream (nothing to do if a pseudo worker is already there).
 */
void
external_start(struct pool *p)
{
	if (!p->external || p->m->stopping || p->idx < 0 ||
	    (p->state != POOL_STARTED && p->state != POOL_STARTING) ||
	    pseudo(p) != NULL)
		return;
	p->outage_reported = false;
	probe_now(pseudo_new(p));
}

/* The pool stops, is disabled or removed: no more probes, no upstream. */
void
external_stop(struct pool *p)
{
	struct worker *w;

	while ((w = pseudo(p)) != NULL)
		drop(w);
}

/*
 * A request waits and the front end has no upstream to send it to: if the
 * upstream was ready, check it now (the front end saw it fail); if it is
 * being re-probed already, the next probe is at most a second away.
 */
void
external_demand(struct pool *p)
{
	struct worker *w = pseudo(p);
	uint64_t now = loop_now(p->m->loop), gap;

	if (w == NULL) {
		external_start(p);
		return;
	}
	if (w->state != W_READY || w->ping != NULL)
		return;
	gap = now - p->probe_ended;
	if (gap >= MIN_GAP_MS)
		probe_now(w);
	else
		loop_timer_set(p->m->loop, &w->ping_timer, MIN_GAP_MS - gap);
}

/* The front end saw a protocol violation or a broken connection. */
void
external_fault(struct worker *w, const char *what)
{
	struct pool *p = w->pool;

	if (!w->fault_seen) {
		json_t *f = json_object();

		w->fault_seen = true;
		json_object_set_new(f, "reason", json_string(what));
		json_object_set_new(f, "address", json_string(p->cp->address));
		json_object_set_new(f, "worker", json_integer(w->id));
		events_emit(1011, EV_WARNING, p->name, 0, f,
		    "The upstream %s serving application pool '%s' suffered a fatal communication error with the front end: %s.",
		    p->cp->address, p->name, what);
	}
	external_demand(p);
}
