/*
 * rollback.c - which settings a pool's workers run, and going back to the
 * last ones that served (rapid_fail_action = rollback).
 *
 * A pool's settings for its processes (command, env, modules, identity, ...)
 * change only by a reload, named by the configuration generation that
 * brought them (p->cp_gen, w->cp_gen).  What a worker runs can change
 * without them: a recycle starts the code that is on disk now.  So every
 * reload that changes the settings, and every recycle once the current
 * version has served, is a new deploy version (p->ver; every worker
 * remembers its own, w->ver).  A worker of older settings, or one being
 * recycled, is replaced, overlapped, until none is left: if its
 * replacement fails, the old one keeps serving and is tried again, each
 * failure counted by Rapid-Fail Protection (so a bad update cannot go on
 * failing quietly behind a pool that looks healthy).
 *
 * The version a worker last became ready with is the good one; the good one
 * before it is kept too.  When the pool trips with rapid_fail_action =
 * auto (the default) and the failing version never served, or with
 * rapid_fail_action = rollback, it goes back to the good version (rollback
 * only: when the failing version is itself the last good one, to the good
 * settings before), event 1302: the old workers that are still serving
 * simply go on (a recycle they were waiting for is abandoned), the failing
 * ones are stopped, and nothing goes dark.  The front end's settings (limits,
 * queue) stay those of the current generation: only what the processes
 * are made of rolls back.  A pool with no earlier good version, or an
 * upstream weir does not start (`address`), is disabled as usual.
 */
#include <string.h>

#include "log.h"
#include "util.h"
#include "master.h"

/* A worker became ready: its version has served. */
void
rollback_served(struct worker *w)
{
	struct pool *p = w->pool;

	if (w->ver != p->ver && w->ver > p->good_ver && w->cp_gen == p->cp_gen) {
		/* an earlier version of the same settings (before a recycle) served */
		p->good_cp = p->cp;
		p->good_gen = p->cp_gen;
		p->good_ver = w->ver;
		return;
	}
	if (w->ver != p->ver || p->good_ver == p->ver)
		return;
	/* the one before is kept only when its settings differ (rollback) */
	if (p->good_cp != NULL && p->good_gen != p->cp_gen) {
		p->prev_good_cp = p->good_cp;
		p->prev_good_gen = p->good_gen;
		p->prev_good_ver = p->good_ver;
	}
	p->good_cp = p->cp;
	p->good_gen = p->cp_gen;
	p->good_ver = p->ver;
}

/* A reload changed the processes' settings, or a recycle began: a new version. */
void
rollback_new_version(struct pool *p)
{
	p->ver = ++p->next_ver;
}

/*
 * A recycle begins: a new version, unless replacements of the current one
 * are still on their way (a recycle in progress, which this one joins).
 */
void
rollback_recycle_version(struct pool *p)
{
	for (const struct worker *w = p->workers; w != NULL; w = w->next)
		if (w->ver == p->ver && w->replaces != NULL)
			return;
	rollback_new_version(p);
}

/*
 * A reload moved the pool to another conf_pool with the same settings for
 * its processes: follow it, so the old configuration can be freed.
 */
void
rollback_same_settings(struct pool *p, const struct conf_pool *cp)
{
	if (p->good_cp == p->cp)
		p->good_cp = cp;
	if (p->prev_good_cp == p->cp)
		p->prev_good_cp = cp;
	p->cp = cp;
}

/* Does any settings version of the pool live in configuration c? */
bool
rollback_uses(const struct pool *p, const struct conf *c)
{
	const struct conf_pool *v[] = { p->cp, p->good_cp, p->prev_good_cp };

	for (size_t i = 0; i < nitems(v); i++)
		if (v[i] != NULL && v[i] >= c->pools && v[i] < c->pools + c->npools)
			return true;
	return false;
}

/*
 * Replace the ready workers of older settings, and those whose recycle is
 * not done (not already being replaced): after a reload or a recycle, and
 * again after a replacement failed.
 */
void
rollback_converge(struct pool *p)
{
	struct worker *list[512];
	size_t n = 0;

	if (p->state != POOL_STARTED || p->pending_disable || p->m->stopping || p->external)
		return;
	for (struct worker *w = p->workers; w != NULL && n < nitems(list); w = w->next)
		if (w->state == W_READY && (w->cp_gen != p->cp_gen || w->recycle_event != 0))
			list[n++] = w;
	/* (those already being replaced are skipped) */
	for (size_t i = 0; i < n; i++) {
		if (list[i]->recycle_event == 0)
			pool_recycle_worker(list[i], 1080);
		else
			pool_replace_worker(list[i]);
	}
}

/*
 * Rapid-Fail Protection tripped with rapid_fail_action = rollback.  Returns
 * true when the pool went back to earlier settings (event 1302), false when
 * there is nothing to go back to (the caller disables it).
 */
bool
rollback_pool(struct pool *p, json_t *failures, bool only_unproven)
{
	const struct conf_pool *to;
	uint32_t to_gen, to_ver, from_gen = p->cp_gen;
	json_t *f;
	unsigned ready = 0;

	if (p->external)
		return false;
	if (p->good_cp != NULL && p->good_ver != p->ver) {
		to = p->good_cp;
		to_gen = p->good_gen;
		to_ver = p->good_ver;
	} else if (!only_unproven && p->prev_good_cp != NULL && p->prev_good_gen != p->cp_gen) {
		to = p->prev_good_cp;
		to_gen = p->prev_good_gen;
		to_ver = p->prev_good_ver;
	} else {
		return false;
	}
	f = json_object();
	json_object_set_new(f, "failed_generation", json_integer(from_gen));
	json_object_set_new(f, "restored_generation", json_integer(to_gen));
	json_object_set_new(f, "failed_version", json_integer(p->ver));
	json_object_set_new(f, "restored_version", json_integer(to_ver));
	json_object_set_new(f, "failures", json_deep_copy(failures));
	json_object_set_new(f, "last_failure", json_string(p->pending_why));
	json_object_set_new(f, "command", to->command != NULL ? json_string(to->command) :
	    json_null());
	if (from_gen == to_gen)
		events_emit(1302, EV_ERROR, p->name, 0, f,
		    "The new workers of application pool '%s' (a recycle, which starts the code now on disk) failed (last failure: %s); the recycle was abandoned and the workers that served serve on.",
		    p->name, p->pending_why);
	else
		events_emit(1302, EV_ERROR, p->name, 0, f,
		    "The settings of application pool '%s' from configuration generation %u failed (last failure: %s); the pool went back to those of generation %u, which served.",
		    p->name, from_gen, p->pending_why, to_gen);
	p->pending_disable = false;
	if (from_gen != to_gen)
		p->rolled_back_from = from_gen;
	pool_configure(p, to);		/* argv, identity; a fresh failure window */
	p->cp_gen = to_gen;
	p->ver = to_ver;
	p->good_cp = to;
	p->good_gen = to_gen;
	p->good_ver = to_ver;
	p->prev_good_cp = NULL;
	p->prev_good_gen = 0;
	p->prev_good_ver = 0;
	if (p->state == POOL_DISABLED)
		return true;		/* the restored identity is gone too (1057) */
	/* Workers of the failed version go; the others serve on, recycled no more. */
	for (struct worker *w = p->workers; w != NULL; w = w->next) {
		if (w->state == W_EXITED || w->state == W_STOPPING || w->state == W_DRAINING)
			continue;
		if (w->ver != to_ver && w->state == W_STARTING)
			pool_drain_worker(w);
		else if (w->state == W_READY) {
			if (w->ver == to_ver)
				w->recycle_event = 0;
			ready++;
		}
	}
	log_info("pool %s: rolled back from generation %u to %u (%u worker%s still serving)",
	    p->name, from_gen, to_gen, ready, ready == 1 ? "" : "s");
	pool_set_state(p, ready > 0 ? POOL_STARTED : POOL_STARTING);
	p->want_workers = p->want_workers || ready > 0 || p->cp->start_mode == START_ALWAYS;
	pool_maintain(p);
	return true;
}
