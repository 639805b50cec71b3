/*
 * degraded.c - a pool that serves while its workers keep dying.
 *
 * Rapid-Fail Protection (rapidfail.c) counts crash loops: workers that never
 * became ready, or became ready and died without completing a request.  A
 * worker that served and then died is replaced at once and not counted:
 * the pool is serving, and disabling it would turn a fault the size of one
 * process into an outage.  Those deaths are not ignored either: they go
 * into a window of the pool's `rapid_fail` shape (N in DURATION; 5 in 5m
 * when rapid_fail = off), and when it holds N the pool is `degraded`: a
 * flag on a started pool, shown by `weir status` and `/metrics`, with
 * event 1014 giving the rate (deaths per minute, requests per death).  A
 * whole window without such a death clears it (event 1015).
 *
 * A pool is degraded too while Rapid-Fail Protection tripped but the pool
 * still had ready workers and rapid_fail_action (auto, backoff) let them
 * serve on: no new workers are started until the back-off passed
 * (degraded_hold(); pool.c's back-off timer tries again).
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "master.h"

#define DEFAULT_COUNT	5
#define DEFAULT_WINDOW	(5 * 60 * 1000ULL)

static unsigned
window_count(const struct pool *p)
{
	return p->cp->rapid_fail_count ? p->cp->rapid_fail_count : DEFAULT_COUNT;
}

static uint64_t
window_ms(const struct pool *p)
{
	return p->cp->rapid_fail_count ? p->cp->rapid_fail_window : DEFAULT_WINDOW;
}

/* The flag goes when a whole window passed without a death and no hold is on. */
static void
check_clear(struct pool *p)
{
	uint64_t now = loop_now(p->m->loop);
	json_t *f;

	if (!p->degraded || p->held)
		return;
	if (rapidfail_current(&p->deaths, now) > 0) {
		uint64_t last = p->deaths.v[p->deaths.n - 1].when;

		loop_timer_set(p->m->loop, &p->degraded_timer, last + p->deaths.window - now);
		return;
	}
	p->degraded = false;
	p->degraded_why[0] = '\0';
	f = json_object();
	json_object_set_new(f, "window_ms", json_integer((json_int_t)p->deaths.window));
	events_emit(1015, EV_INFO, p->name, 0, f,
	    "Application pool '%s' is no longer degraded: none of its workers died for %llus.",
	    p->name, (unsigned long long)(p->deaths.window / 1000));
}

static void
on_quiet(void *arg)
{
	check_clear(arg);
}

/* Before the pool's first degraded_configure(). */
void
degraded_init(struct pool *p)
{
	loop_timer_init(&p->degraded_timer, on_quiet, p);
	rapidfail_init(&p->deaths, DEFAULT_COUNT, DEFAULT_WINDOW);
}

/* The pool's settings (re)applied: the window takes rapid_fail's shape, keeps its deaths. */
void
degraded_configure(struct pool *p)
{
	p->deaths.count = window_count(p);
	p->deaths.window = window_ms(p);
}

void
degraded_free(struct pool *p)
{
	loop_timer_cancel(p->m->loop, &p->degraded_timer);
	rapidfail_free(&p->deaths);
}

/*
 * A worker that served `served` requests (or died with one in flight)
 * died: into the window; the pool becomes degraded (1014) when the window
 * holds rapid_fail's count of them.
 */
void
degraded_death(struct worker *w, uint64_t served, const char *how)
{
	struct pool *p = w->pool;
	uint64_t now = loop_now(p->m->loop);
	double per_min, per_death;
	json_t *f;

	p->n_served_deaths++;
	if (!rapidfail_note(&p->deaths, now, w->pid, served, how)) {
		if (p->degraded)
			loop_timer_set(p->m->loop, &p->degraded_timer, p->deaths.window);
		return;
	}
	loop_timer_set(p->m->loop, &p->degraded_timer, p->deaths.window);
	rapidfail_rate(&p->deaths, now, &per_min, &per_death);
	snprintf(p->degraded_why, sizeof(p->degraded_why),
	    "workers die after serving: the last %zu within %llus (%.1f a minute, %.0f requests per death); last: %s",
	    p->deaths.n, (unsigned long long)(p->deaths.window / 1000), per_min, per_death, how);
	if (p->degraded)
		return;
	p->degraded = true;
	f = json_object();
	json_object_set_new(f, "reason", json_string("deaths"));
	json_object_set_new(f, "deaths", json_integer((json_int_t)p->deaths.n));
	json_object_set_new(f, "window_ms", json_integer((json_int_t)p->deaths.window));
	json_object_set_new(f, "deaths_per_minute", json_real(per_min));
	json_object_set_new(f, "requests_per_death", json_real(per_death));
	json_object_set_new(f, "last", json_string(how));
	events_emit(1014, EV_WARNING, p->name, w->pid, f,
	    "Application pool '%s' is degraded: %zu of its workers died after serving within %llus (%.1f a minute, %.0f requests per death). It keeps serving; each is replaced at once.",
	    p->name, p->deaths.n, (unsigned long long)(p->deaths.window / 1000), per_min,
	    per_death);
}

/*
 * Rapid-Fail Protection tripped while the pool still has ready workers and
 * the action lets it back off: they serve on, no new worker is started
 * until the back-off passed (retry_at; pool.c's back-off timer), event 1014
 * with the failures.
 */
void
degraded_hold(struct pool *p, json_t *failures)
{
	uint64_t now = loop_now(p->m->loop);
	unsigned ready = 0;
	json_t *f = json_object();

	for (struct worker *w = p->workers; w != NULL; w = w->next)
		if (w->state == W_READY)
			ready++;
	pool_retry_later(p);
	p->held = true;
	p->degraded = true;
	loop_timer_cancel(p->m->loop, &p->degraded_timer);
	snprintf(p->degraded_why, sizeof(p->degraded_why),
	    "rapid-fail: new workers keep failing (last: %s); %u ready worker%s serve%s on, next try in %llus",
	    p->pending_why, ready, ready == 1 ? "" : "s", ready == 1 ? "s" : "",
	    (unsigned long long)((p->retry_at - now) / 1000));
	json_object_set_new(f, "reason", json_string("rapid-fail"));
	json_object_set_new(f, "failures", json_deep_copy(failures));
	json_object_set_new(f, "ready_workers", json_integer(ready));
	json_object_set_new(f, "retry_in_s", json_integer((json_int_t)((p->retry_at - now) / 1000)));
	json_object_set_new(f, "last_failure", json_string(p->pending_why));
	events_emit(1014, EV_WARNING, p->name, 0, f,
	    "Application pool '%s' is degraded: Rapid-Fail Protection tripped (last failure: %s), but %u worker%s still serve%s, so the pool is not disabled; no new worker is started for %llus.",
	    p->name, p->pending_why, ready, ready == 1 ? "" : "s", ready == 1 ? "s" : "",
	    (unsigned long long)((p->retry_at - now) / 1000));
	log_info("pool %s: %s", p->name, p->degraded_why);
}

/* The hold's back-off passed: new workers may start again. */
void
degraded_release(struct pool *p)
{
	p->held = false;
	p->degraded_why[0] = '\0';
	check_clear(p);
	if (p->degraded && p->degraded_why[0] == '\0')
		snprintf(p->degraded_why, sizeof(p->degraded_why),
		    "workers died after serving: %zu in the last %llus", p->deaths.n,
		    (unsigned long long)(p->deaths.window / 1000));
}
