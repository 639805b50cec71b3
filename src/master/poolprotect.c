/*
 * poolprotect.c - Rapid-Fail Protection's decisions for a pool: which ready
 * worker proved it runs, what a trip does (roll back, hold the serving
 * workers, disable), the back-off and trying again.
 *
 * Which failures count is rapidfail_counts()'s rule (rapidfail.c), applied
 * where a worker ends (poolexit.c).  When the window trips, pool_trip()
 * acts on rapid_fail_action: a failed deploy goes back to what served
 * (rollback.c, 1302); a pool that still has workers proven to run is never
 * darkened by `auto` or `backoff` (degraded.c holds new workers back until
 * the back-off passed, 1014); only a pool with nothing serving is disabled
 * (1002, 503 with Retry-After) and, except with `disable`, re-enabled after
 * the back-off (1301).  A worker is proven by its readiness check (every
 * worker has one): until then it replaces nobody and its version has not
 * served.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "master.h"

#define BACKOFF_MAX_MS		(60 * 60 * 1000ULL)
/*
 * Did the worker become ready, which proves it runs?  Every worker has a
 * readiness check (health.c: its first probe answered, FastCGI's
 * GET_VALUES, or READY=1), so readiness means the application itself
 * answered, not merely that the process was started.
 */
bool
pool_worker_proven(const struct worker *w)
{
	return w->ready_at != 0;
}

/* Does a ready worker that proved it runs serve the pool? */
bool
pool_serving(const struct pool *p)
{
	for (const struct worker *w = p->workers; w != NULL; w = w->next)
		if (w->state == W_READY && pool_worker_proven(w))
			return true;
	return false;
}

bool
pool_has_ready(const struct pool *p)
{
	for (const struct worker *w = p->workers; w != NULL; w = w->next)
		if (w->state == W_READY)
			return true;
	return false;
}

/*
 * Disable the pool: the front end answers 503 with the reason, the workers
 * drain and stop.  After Rapid-Fail Protection tripped (reason rapid-fail,
 * or unreachable for an upstream) with rapid_fail_action = backoff, the
 * pool re-enables itself after the back-off.
 */
void
pool_disable(struct pool *p, const char *reason, const char *detail)
{
	wstrlcpy(p->reason, reason, sizeof(p->reason));
	wstrlcpy(p->detail, detail, sizeof(p->detail));
	p->want_workers = false;
	p->retry_at = 0;
	p->held = false;
	loop_timer_cancel(p->m->loop, &p->backoff_timer);
	if ((p->cp->rapid_fail_action == RF_ACTION_BACKOFF ||
	    p->cp->rapid_fail_action == RF_ACTION_AUTO) &&
	    (strcmp(reason, "rapid-fail") == 0 || strcmp(reason, "unreachable") == 0))
		pool_retry_later(p);
	pool_set_state(p, POOL_DISABLED);
	pool_send_state(p);	/* retry_at may have changed */
	if (p->external)
		external_stop(p);
	for (struct worker *w = p->workers; w != NULL; w = w->next)
		pool_drain_worker(w);
}

/*
 * Try again after the back-off (rapid_fail_backoff, doubling at each trip
 * up to an hour): arm the timer and say when (retry_at, Retry-After).
 */
void
pool_retry_later(struct pool *p)
{
	if (p->backoff_ms == 0)
		p->backoff_ms = p->cp->rapid_fail_backoff;
	p->retry_at = loop_now(p->m->loop) + p->backoff_ms;
	loop_timer_set(p->m->loop, &p->backoff_timer, p->backoff_ms);
}

void
pool_backoff_cb(void *arg)
{
	struct pool *p = arg;
	json_t *f;

	if (p->state != POOL_DISABLED && !p->held)
		return;
	f = json_object();
	json_object_set_new(f, "backoff_s", json_integer((json_int_t)(p->backoff_ms / 1000)));
	json_object_set_new(f, "was_serving", json_boolean(p->held));
	if (p->held)
		events_emit(1301, EV_INFO, p->name, 0, f,
		    "Application pool '%s' starts new workers again after a back-off of %llus.",
		    p->name, (unsigned long long)(p->backoff_ms / 1000));
	else
		events_emit(1301, EV_INFO, p->name, 0, f,
		    "Application pool '%s' was re-enabled after a back-off of %llus.",
		    p->name, (unsigned long long)(p->backoff_ms / 1000));
	p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ?
	    (p->backoff_ms > BACKOFF_MAX_MS ? p->backoff_ms : BACKOFF_MAX_MS) :
	    p->backoff_ms * 2;
	p->retry_at = 0;
	rapidfail_reset(&p->rf);
	if (p->held) {
		degraded_release(p);
		pool_maintain(p);
		return;
	}
	p->reason[0] = p->detail[0] = '\0';
	pool_set_state(p, POOL_STARTED);
	if (p->external) {
		external_start(p);
	} else if (p->cp->start_mode == START_ALWAYS) {
		p->want_workers = true;
		pool_maintain(p);
	}
}

/*
 * Rapid-Fail Protection tripped (or a worker said retrying will not help):
 * event 1002 with every failure in the window and its reason, then disable
 * with `reason` (rapid-fail; unreachable for an upstream).
 */
void
pool_trip(struct pool *p, const char *reason)
{
	static const char *action_names[] = { "disable", "backoff", "rollback", "auto" };
	uint64_t now = loop_now(p->m->loop);
	json_t *f = json_object(), *arr = json_array();
	const struct conf_pool *cp = p->cp;

	p->pending_disable = false;
	p->n_trips++;
	for (size_t i = 0; i < p->rf.n; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "pid", json_integer(p->rf.v[i].pid));
		json_object_set_new(o, "reason", json_string(p->rf.v[i].reason));
		json_object_set_new(o, "ago_ms", json_integer((json_int_t)(now - p->rf.v[i].when)));
		json_array_append_new(arr, o);
	}
	json_object_set_new(f, "failures", arr);
	json_object_set_new(f, "rapid_fail", json_integer(cp->rapid_fail_count));
	json_object_set_new(f, "window_ms", json_integer((json_int_t)cp->rapid_fail_window));
	json_object_set_new(f, "action", json_string(action_names[cp->rapid_fail_action]));
	json_object_set_new(f, "reason", json_string(reason));
	if (p->external)
		json_object_set_new(f, "address", json_string(cp->address));
	p->failed_ver = p->ver;
	/* 1. a failed deploy goes back to what served (auto: only to that) */
	if ((cp->rapid_fail_action == RF_ACTION_ROLLBACK ||
	    cp->rapid_fail_action == RF_ACTION_AUTO) &&
	    rollback_pool(p, arr, cp->rapid_fail_action == RF_ACTION_AUTO)) {
		wstrlcpy(p->failed_outcome, "rolled back, old workers serving",
		    sizeof(p->failed_outcome));
		json_decref(f);
		return;
	}
	/* 2. never darken a pool that serves, unless IIS's way was asked for */
	if (cp->rapid_fail_action != RF_ACTION_DISABLE && !p->external && pool_serving(p)) {
		degraded_hold(p, arr);
		snprintf(p->failed_outcome, sizeof(p->failed_outcome),
		    "old workers serving; trying again in %llus",
		    (unsigned long long)(p->backoff_ms / 1000));
		json_decref(f);
		return;
	}
	events_emit(1002, EV_ERROR, p->name, 0, f,
	    "Application pool '%s' is being automatically disabled due to a series of failures in the process(es) serving that application pool. Last failure: %s.",
	    p->name, p->pending_why);
	pool_disable(p, reason, p->pending_why);
	if (p->retry_at != 0)
		snprintf(p->failed_outcome, sizeof(p->failed_outcome),
		    "pool disabled (%s), re-enabled in %llus", reason,
		    (unsigned long long)(p->backoff_ms / 1000));
	else
		snprintf(p->failed_outcome, sizeof(p->failed_outcome),
		    "pool disabled (%s) until 'weir pool enable %s'", reason, p->name);
}
