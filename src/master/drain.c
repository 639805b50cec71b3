/*
 * drain.c - taking this weir out of a load balancer's rotation without a
 * failed request: `weir drain` (POST /drain), and the first step of a stop
 * when health_path is set (a balancer is watching it).
 *
 * A drain tells the front end (CTL_DRAIN): health_path answers 503 from
 * then on, and every response closes its keep-alive connection, so clients
 * and the balancer open new connections, which still get served for
 * drain_time while the balancer's health checks see the 503 and stop
 * sending.  Then the stop proceeds as it always did (the listeners close,
 * in-flight requests get shutdown_timeout).  Events 1314 (begun) and 1315
 * (ended) bracket it; `weir status` says "draining" meanwhile.
 */
#include <signal.h>

#include <jansson.h>

#include "log.h"
#include "master.h"

/* Does a stop begin with a drain?  Only when a balancer can see it. */
bool
drain_wanted(const struct master *m)
{
	return conf_has_health_path(m->conf) && m->conf->server.drain_time > 0;
}

/* drain_time passed (or it was cut short): on to the stop proper. */
static void
drain_end(struct master *m, const char *how)
{
	uint64_t ms = loop_now(m->loop) - m->drain_started;

	loop_timer_cancel(m->loop, &m->drain_timer);
	/* over: a signal from now on is one to a stopping weir (a third ^C kills) */
	m->draining = false;
	events_emit(1315, EV_INFO, NULL, 0,
	    json_pack("{s:I, s:s}", "drained_ms", (json_int_t)ms, "how", how),
	    "The drain of this server ended (%s) after %llu ms; it is stopping.", how,
	    (unsigned long long)ms);
	master_stop_now(m, SIGTERM);
}

static void
on_drain_timer(void *arg)
{
	drain_end(arg, "drain_time passed");
}

void
drain_init(struct master *m)
{
	loop_timer_init(&m->drain_timer, on_drain_timer, m);
}

/*
 * Begin a drain (`by` says who asked, for the event).  Returns 0, or -1
 * when weir is already stopping (a drain then has nothing to add).  A
 * second drain is a no-op.
 */
int
drain_begin(struct master *m, const char *by)
{
	uint64_t dt = m->conf->server.drain_time;

	if (m->stopping)
		return -1;
	if (m->draining)
		return 0;
	m->draining = true;
	m->drain_started = loop_now(m->loop);
	m->drain_ends = m->drain_started + dt;
	events_emit(1314, EV_INFO, NULL, 0,
	    json_pack("{s:s, s:I, s:s?}", "by", by, "drain_time_ms", (json_int_t)dt,
	    "health_path", m->conf->server.health_path),
	    "This server began draining (%s): health checks get 503, new connections are served for %llu ms more, then it stops.",
	    by, (unsigned long long)dt);
	drain_tell_fe(m);
	if (dt == 0)
		drain_end(m, "drain_time is 0");
	else
		loop_timer_set(m->loop, &m->drain_timer, dt);
	return 0;
}

/* The front end (a new one too, after a restart) must know. */
void
drain_tell_fe(struct master *m)
{
	if (m->draining && m->fe.pid > 0 &&
	    feproc_send(m, CTL_DRAIN, NULL, 0, NULL, 0) == -1)
		log_warnx("cannot tell the front end to drain: health_path still says 200");
}

/*
 * A stop asked for while draining: SIGINT (an impatient operator) or
 * SIGQUIT cuts the drain short; anything else waits for it, since the
 * drain ends in a stop.
 */
void
drain_stop_requested(struct master *m, int signo)
{
	if (signo == SIGINT)
		drain_end(m, "cut short by SIGINT");
	else if (signo == SIGQUIT)
		drain_end(m, "cut short by SIGQUIT");
}

/* For /status: null, or how long the drain has to go. */
json_t *
drain_json(const struct master *m)
{
	uint64_t now = loop_now(m->loop);

	if (!m->draining)
		return json_null();
	return json_pack("{s:I, s:I}", "elapsed_ms", (json_int_t)(now - m->drain_started),
	    "remaining_ms", (json_int_t)(m->drain_ends > now ? m->drain_ends - now : 0));
}
