/*
 * pools.c - the set of pools: start them all, tell a (re)started front end
 * where they stand, find a worker by pid or id, stop everything, free; and
 * what an administrator does to one pool (weir pool start|stop|recycle|enable).
 *
 * One pool's life is pool.c; how its workers end, poolexit.c.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "master.h"

void
pools_init(struct master *m)
{
	m->npools = m->conf->npools;
	m->pools = xcalloc(m->npools ? m->npools : 1, sizeof(*m->pools));
	for (size_t i = 0; i < m->npools; i++)
		m->pools[i] = pool_new(m, (int)i, &m->conf->pools[i]);
}

void
pools_start(struct master *m)
{
	for (size_t i = 0; i < m->npools; i++)
		if (!m->pools[i]->inherited_hold)	/* stopped as the old generation had it */
			pool_start_one(m->pools[i]);
}

/* A (re)started front end learns the pools' states and ready workers. */
void
pools_fe_hello(struct master *m)
{
	for (size_t i = 0; i < m->npools; i++) {
		struct pool *p = m->pools[i];

		pool_send_state(p);
		/* an upstream's pseudo worker too, when it answers its probes */
		for (struct worker *w = p->workers; w != NULL; w = w->next)
			if (w->state == W_READY)
				pool_send_worker(w, CTL_WORKER_READY);
	}
}

/* Every pool, configured or retired by a reload: i from 0, then NULL. */
static struct pool *
pool_iter(struct master *m, size_t *i, struct pool **r)
{
	if (*i < m->npools)
		return m->pools[(*i)++];
	*r = *i == m->npools ? m->retired : (*r != NULL ? (*r)->next_retired : NULL);
	(*i) = m->npools + 1;
	return *r;
}

struct worker *
pools_find_worker(struct master *m, pid_t pid)
{
	size_t i = 0;
	struct pool *r = NULL, *p;

	while ((p = pool_iter(m, &i, &r)) != NULL)
		for (struct worker *w = p->workers; w != NULL; w = w->next)
			if (w->pid == pid && w->state != W_EXITED)
				return w;
	return NULL;
}

struct worker *
pools_worker_by_id(struct master *m, uint32_t id)
{
	size_t i = 0;
	struct pool *r = NULL, *p;

	while ((p = pool_iter(m, &i, &r)) != NULL)
		for (struct worker *w = p->workers; w != NULL; w = w->next)
			if (w->id == id)
				return w;
	return NULL;
}

/* Master stopping, front end gone: stop every worker. */
void
pools_shutdown(struct master *m)
{
	size_t i = 0;
	struct pool *r = NULL, *p;

	while ((p = pool_iter(m, &i, &r)) != NULL) {
		p->want_workers = false;
		if (p->external)
			external_stop(p);
		for (struct worker *w = p->workers; w != NULL; w = w->next) {
			if (w->state == W_EXITED)
				continue;
			if (w->state != W_STOPPING) {
				w->expect_exit = true;
				w->state = W_STOPPING;
				ping_cancel(w);
				loop_timer_cancel(m->loop, &w->ping_timer);
				loop_timer_cancel(m->loop, &w->start_timer);
				loop_timer_set(m->loop, &w->stop_timer, p->cp->shutdown_time_limit);
				worker_signal(w, SIGTERM);
			}
		}
	}
}

bool
pools_all_stopped(const struct master *m)
{
	size_t i = 0;
	struct pool *r = NULL, *p;

	while ((p = pool_iter((struct master *)m, &i, &r)) != NULL)
		for (const struct worker *w = p->workers; w != NULL; w = w->next)
			if (w->state != W_EXITED)
				return false;
	return true;
}

/* Free retired pools whose workers are all gone. */
void
pool_reap_retired(struct master *m)
{
	for (struct pool **pp = &m->retired; *pp != NULL;) {
		struct pool *p = *pp;

		if (p->workers == NULL) {
			*pp = p->next_retired;
			log_info("pool %s: removed", p->name);
			pool_free(p);
		} else {
			pp = &p->next_retired;
		}
	}
}

void
pools_free(struct master *m)
{
	for (size_t i = 0; i < m->npools; i++)
		pool_free(m->pools[i]);
	while (m->retired != NULL) {
		struct pool *p = m->retired;

		m->retired = p->next_retired;
		pool_free(p);
	}
	free(m->pools);
	m->pools = NULL;
	m->npools = 0;
}

struct pool *
pools_by_name(struct master *m, const char *name)
{
	for (size_t i = 0; i < m->npools; i++)
		if (strcmp(m->pools[i]->name, name) == 0)
			return m->pools[i];
	return NULL;
}

/* --- administrator actions ------------------------------------------------------- */

/*
 * start, stop, recycle, enable (weir pool ACTION NAME / POST
 * /pools/NAME/ACTION).  Returns the HTTP status for the answer and a
 * one-line message; each action that changes something writes its event.
 */
int
pool_admin(struct pool *p, const char *action, char *msg, size_t msgsz)
{
	struct loop *l = p->m->loop;

	if (strcmp(action, "start") == 0) {
		if (p->state == POOL_DISABLED) {
			snprintf(msg, msgsz, "pool %s is disabled (%s): use 'weir pool enable %s'",
			    p->name, p->reason, p->name);
			return 409;
		}
		if (p->state != POOL_STOPPED && p->state != POOL_STOPPING) {
			snprintf(msg, msgsz, "pool %s is already %s", p->name,
			    pool_state_name(p->state));
			return 200;
		}
		p->reason[0] = p->detail[0] = '\0';
		pool_set_state(p, POOL_STARTED);
		events_emit(1306, EV_INFO, p->name, 0, NULL,
		    "Application pool '%s' was started by an administrator.", p->name);
		if (p->external) {
			external_start(p);
		} else if (p->cp->start_mode == START_ALWAYS) {
			p->want_workers = true;
			pool_maintain(p);
		}
		snprintf(msg, msgsz, "pool %s started", p->name);
		return 200;
	}
	if (strcmp(action, "stop") == 0) {
		if (p->state == POOL_STOPPED) {
			snprintf(msg, msgsz, "pool %s is already stopped", p->name);
			return 200;
		}
		p->want_workers = false;
		loop_timer_cancel(l, &p->backoff_timer);
		p->retry_at = 0;
		if (p->held)
			degraded_release(p);
		if (p->external)
			external_stop(p);
		wstrlcpy(p->reason, "admin", sizeof(p->reason));
		snprintf(p->detail, sizeof(p->detail), "stopped by an administrator");
		pool_set_state(p, p->workers != NULL ? POOL_STOPPING : POOL_STOPPED);
		events_emit(1307, EV_INFO, p->name, 0, NULL,
		    "Application pool '%s' was stopped by an administrator.", p->name);
		for (struct worker *w = p->workers; w != NULL; w = w->next)
			pool_drain_worker(w);
		snprintf(msg, msgsz, "pool %s stopping", p->name);
		return 200;
	}
	if (strcmp(action, "recycle") == 0) {
		unsigned n = 0;

		if (p->state == POOL_DISABLED || p->state == POOL_STOPPED) {
			snprintf(msg, msgsz, "pool %s is %s: nothing to recycle", p->name,
			    pool_state_name(p->state));
			return 409;
		}
		if (p->external) {
			snprintf(msg, msgsz, "pool %s is an upstream weir does not start (%s): nothing to recycle",
			    p->name, p->cp->address);
			return 409;
		}
		for (struct worker *w = p->workers; w != NULL; w = w->next)
			if (w->state == W_READY)
				n++;
		pool_recycle(p, 1079, "administrator");
		snprintf(msg, msgsz, "pool %s: recycling %u worker%s", p->name, n,
		    n == 1 ? "" : "s");
		return 200;
	}
	if (strcmp(action, "enable") == 0) {
		if (p->state != POOL_DISABLED) {
			snprintf(msg, msgsz, "pool %s is not disabled (%s)", p->name,
			    pool_state_name(p->state));
			return 200;
		}
		loop_timer_cancel(l, &p->backoff_timer);
		p->retry_at = 0;
		p->backoff_ms = 0;
		rapidfail_reset(&p->rf);
		p->reason[0] = p->detail[0] = '\0';
		pool_set_state(p, POOL_STARTED);
		events_emit(1308, EV_INFO, p->name, 0, NULL,
		    "Application pool '%s' was enabled by an administrator.", p->name);
		if (p->external) {
			external_start(p);
		} else if (p->cp->start_mode == START_ALWAYS) {
			p->want_workers = true;
			pool_maintain(p);
		}
		snprintf(msg, msgsz, "pool %s enabled", p->name);
		return 200;
	}
	snprintf(msg, msgsz, "unknown action '%s' (start, stop, recycle, enable)", action);
	return 404;
}
