/*
 * poolcg.c - the pools' cgroups as the master runs them: the hierarchy set
 * up at start (cgroup.c does the files), one cgroup per pool made when the
 * pool starts and removed when it is freed, the limits of the pool's
 * memory_max, cpu_max and tasks_max, and what the counters say:
 *   - a worker that ended by SIGKILL while the pool's OOM-kill counter
 *     rose since the last worker exit was killed by the pool's memory limit
 *     (event 1009 says so, poolexit.c);
 *   - CPU throttling and forks refused at tasks_max are polled every
 *     POLL_MS and reported by event 1322, at most once a minute per pool;
 *   - `weir status` and /metrics show the whole pool's CPU time and memory.
 * Pools without these keys get a cgroup too when a hierarchy is usable (for
 * the pool's CPU time and memory); without one they run as before, and a
 * pool with a key is refused by weir check and weir run.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "master.h"

#define POLL_MS		2000		/* counters read for event 1322 */
#define REPORT_MS	(60 * 1000)	/* at most one 1322 per pool in that */
#define TEARDOWN_TRIES	50		/* 20 ms apart: killed workers leave */

static void
limits_of(const struct conf_pool *cp, struct cgroup_limits *l)
{
	l->memory = cp->memory_max;
	l->cpu_pct = cp->cpu_max;
	l->tasks = cp->tasks_max;
}

static bool
has_limits(const struct conf_pool *cp)
{
	return cp->memory_max > 0 || cp->cpu_max > 0 || cp->tasks_max > 0;
}

/* "64M", "1.5G": a size as the configuration writes it. */
static void
size_words(uint64_t v, char *out, size_t outsz)
{
	static const char units[] = "KMGT";
	int u = -1;
	double d = (double)v;

	while (d >= 1024 && u < 3) {
		d /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(out, outsz, "%llu", (unsigned long long)v);
	else
		snprintf(out, outsz, d == (double)(uint64_t)d ? "%.0f%c" : "%.1f%c", d, units[u]);
}

/*
 * Every pool of c with a limit must be enforceable here: the hierarchy is
 * detected and a cgroup made and removed in each controller it needs.
 * Errors are "file:line: [pool NAME] KEY: ...".  Returns their count.
 */
size_t
poolcg_check_conf(const struct conf *c, struct conf_errors *errs)
{
	struct cgroup_sys s;
	bool detected = false;
	size_t n = 0;

	for (size_t i = 0; i < c->npools; i++) {
		const struct conf_pool *cp = &c->pools[i];
		struct cgroup_limits l;
		char err[WEIR_ERRLEN];
		const char *key;

		if (!has_limits(cp))
			continue;
		if (cp->address != NULL) {
			/* weir starts no process there: nothing to limit */
			conf_errors_add(errs, "%s:%d: [pool %s] memory_max, cpu_max and tasks_max need a command: with address weir starts no process to limit",
			    c->path, cp->line, cp->name);
			n++;
			continue;
		}
		if (!detected) {
			cgroup_detect_host(&s);
			detected = true;
		}
		limits_of(cp, &l);
		if (cgroup_probe(&s, &l, err) == 0)
			continue;
		key = cgroup_limit_missing(&s, &l);
		if (key == NULL)
			key = cp->memory_max ? "memory_max" : cp->cpu_max ? "cpu_max" : "tasks_max";
		conf_errors_add(errs, "%s:%d: [pool %s] %s cannot be enforced: %s", c->path,
		    cp->line, cp->name, key, err);
		n++;
	}
	return n;
}

/*
 * At start, before any process is forked: pick the hierarchy, remove what
 * dead masters left, make weir's cgroup.  Returns -1 with err when that
 * fails and a pool has limits (weir check said the same); without limits
 * the pools simply run without cgroups.
 */
int
poolcg_setup(struct master *m, char *err)
{
	char name[32];
	bool needed = false;

	for (size_t i = 0; i < m->conf->npools; i++)
		needed = needed || has_limits(&m->conf->pools[i]);
	cgroup_detect_host(&m->cg);
	/*
	 * Started by an upgrade from a v2 master that moved into its leaf
	 * (OWN/weir-OLD/master): weir's cgroups go next to the old ones, in
	 * OWN, not inside the old master's, which goes when it exits.
	 */
	if (m->cg.mode == CGROUP_V2 && m->upg_cg_own[0] != '\0')
		for (int c = 0; c < CG_NCTL; c++)
			if (m->cg.own[c][0] != '\0')
				wstrlcpy(m->cg.own[c], m->upg_cg_own, sizeof(m->cg.own[c]));
	if (m->cg.mode == CGROUP_NONE) {
		if (needed) {
			snprintf(err, WEIR_ERRLEN, "%s", m->cg.why);
			return -1;
		}
		log_info("no per-pool cgroups: %s", m->cg.why);
		return 0;
	}
	cgroup_reap_stale(&m->cg);
	snprintf(name, sizeof(name), "weir-%d", (int)getpid());
	if (cgroup_setup(&m->cg, name, err) == -1) {
		cgroup_teardown(&m->cg, 1);
		if (needed)
			return -1;
		log_warnx("no per-pool cgroups: %s", err);
		snprintf(m->cg.why, sizeof(m->cg.why), "%s", err);
		m->cg.mode = CGROUP_NONE;
		return 0;
	}
	log_info("per-pool cgroups: %s under %s", cgroup_mode_name(m->cg.mode),
	    m->cg.base[CG_MEMORY][0] ? m->cg.base[CG_MEMORY] : m->cg.base[CG_CPU]);
	return 0;
}

/* At exit: weir's cgroups go (workers killed a moment ago get up to a second to leave). */
void
poolcg_teardown(struct master *m)
{
	cgroup_teardown(&m->cg, TEARDOWN_TRIES);
}

/* Event 1322: what bit since the last report, in one sentence. */
static void
report(struct pool *p, const struct cgroup_stats *st)
{
	const struct conf_pool *cp = p->cp;
	uint64_t thr = st->nr_throttled - p->cg_seen.nr_throttled;
	uint64_t thr_us = st->throttled_usec - p->cg_seen.throttled_usec;
	uint64_t forks = st->pids_max - p->cg_seen.pids_max;
	json_t *f = json_object();
	char cpu[160] = "", tasks[160] = "";

	json_object_set_new(f, "throttled_periods", json_integer((json_int_t)thr));
	json_object_set_new(f, "throttled_ms", json_integer((json_int_t)(thr_us / 1000)));
	json_object_set_new(f, "forks_refused", json_integer((json_int_t)forks));
	json_object_set_new(f, "cpu_max", cp->cpu_max ? json_integer(cp->cpu_max) : json_null());
	json_object_set_new(f, "tasks_max", cp->tasks_max ? json_integer(cp->tasks_max) :
	    json_null());
	json_object_set_new(f, "tasks", json_integer((json_int_t)st->pids));
	if (thr > 0)
		snprintf(cpu, sizeof(cpu), " Its CPU was throttled in %llu periods (%.1fs) at cpu_max %u%%.",
		    (unsigned long long)thr, (double)thr_us / 1e6, cp->cpu_max);
	if (forks > 0)
		snprintf(tasks, sizeof(tasks), " %llu fork%s refused at tasks_max %u.",
		    (unsigned long long)forks, forks == 1 ? " was" : "s were", cp->tasks_max);
	events_emit(1322, EV_WARNING, p->name, 0, f,
	    "Application pool '%s' reached its resource limits.%s%s", p->name, cpu, tasks);
	p->cg_seen.nr_throttled = st->nr_throttled;
	p->cg_seen.throttled_usec = st->throttled_usec;
	p->cg_seen.pids_max = st->pids_max;
	p->cg_reported = loop_now(p->m->loop);
}

/* Every POLL_MS: a limit that bit since the last 1322, once the minute is over, is reported. */
static void
on_poll(void *arg)
{
	struct pool *p = arg;
	struct cgroup_stats st;
	uint64_t now = loop_now(p->m->loop);

	cgroup_pool_read(&p->m->cg, &p->cg, &st);
	if ((st.nr_throttled > p->cg_seen.nr_throttled || st.pids_max > p->cg_seen.pids_max) &&
	    (p->cg_reported == 0 || now - p->cg_reported >= REPORT_MS))
		report(p, &st);
	loop_timer_set(p->m->loop, &p->cg_timer, POLL_MS);
}

/*
 * The pool starts (or a reload may have changed its limits): make its
 * cgroup if it has none, write the limits, start polling.  Returns -1 with
 * err when the pool has limits and they cannot be applied: it must not run
 * without them.
 */
int
poolcg_pool_start(struct pool *p, char *err)
{
	struct master *m = p->m;
	struct cgroup_limits l;
	struct cgroup_stats st;

	limits_of(p->cp, &l);
	if (m->cg.mode == CGROUP_NONE) {
		if (!has_limits(p->cp))
			return 0;
		snprintf(err, WEIR_ERRLEN, "%s", m->cg.why);
		return -1;
	}
	if (!p->cg.on) {
		if (cgroup_pool_create(&m->cg, &p->cg, p->name, err) == -1)
			goto fail;
		cgroup_pool_read(&m->cg, &p->cg, &st);
		p->cg_seen = st;
		loop_timer_init(&p->cg_timer, on_poll, p);
		loop_timer_set(m->loop, &p->cg_timer, POLL_MS);
	}
	if (cgroup_pool_limits(&m->cg, &p->cg, &l, err) == -1)
		goto fail;
	return 0;
fail:
	if (!has_limits(p->cp)) {
		log_warnx("pool %s: no cgroup: %s", p->name, err);
		return 0;
	}
	return -1;
}

/* The pool is freed: its cgroup goes (or stays, busy, for the next start to remove). */
void
poolcg_pool_free(struct pool *p)
{
	if (!p->cg.on)
		return;
	loop_timer_cancel(p->m->loop, &p->cg_timer);
	if (cgroup_pool_remove(&p->cg) == -1 && p->m->stopping == false)
		log_warn("pool %s: cgroup not removed", p->name);
}

/*
 * A worker's main process ended: was it the pool's OOM killer?  It was
 * when it died of SIGKILL and the cgroup's OOM-kill counter rose since the
 * last look (the kernel counts before the signal is delivered).  The count
 * is taken at every worker exit, so each kill is matched once.
 */
void
poolcg_worker_exited(struct worker *w)
{
	struct pool *p = w->pool;
	struct cgroup_stats st;

	if (!p->cg.on || w->pid <= 0)
		return;
	cgroup_pool_read(&p->m->cg, &p->cg, &st);
	if (st.oom_kills > p->cg_seen.oom_kills && WIFSIGNALED(w->status) &&
	    WTERMSIG(w->status) == SIGKILL)
		w->oom_killed = true;
	p->cg_seen.oom_kills = st.oom_kills;
}

/*
 * "killed by the OOM killer of pool shop: memory_max 256M reached"; the
 * counter also counts kills of a machine-wide OOM, said so for a pool
 * without memory_max.
 */
void
poolcg_oom_words(const struct worker *w, char *out, size_t outsz)
{
	char sz[32];

	size_words(w->pool->cp->memory_max, sz, sizeof(sz));
	if (w->pool->cp->memory_max > 0)
		snprintf(out, outsz, "killed by the OOM killer of pool %s: memory_max %s reached",
		    w->pool->name, sz);
	else	/* no limit of its own: the machine ran out of memory */
		snprintf(out, outsz, "killed by the kernel's OOM killer (pool %s has no memory_max)",
		    w->pool->name);
}

/* The hierarchy for `weir status`: which, where, or why none. */
json_t *
poolcg_sys_json(const struct master *m)
{
	json_t *o = json_object(), *ctl = json_array();

	json_object_set_new(o, "hierarchy", json_string(cgroup_mode_name(m->cg.mode)));
	for (int c = 0; c < CG_NCTL; c++)
		if (m->cg.have[c])
			json_array_append_new(ctl, json_string(cgroup_ctl_name(c)));
	json_object_set_new(o, "controllers", ctl);
	if (m->cg.mode == CGROUP_NONE) {
		json_object_set_new(o, "why", json_string(m->cg.why));
	} else {
		json_t *b = json_object();

		for (int c = 0; c < CG_NCTL; c++)
			if (m->cg.base[c][0] != '\0')
				json_object_set_new(b, cgroup_ctl_name(c), json_string(m->cg.base[c]));
		json_object_set_new(o, "path", b);
	}
	return o;
}

/* The pool's counters, when it has a cgroup. */
bool
poolcg_stats(const struct pool *p, struct cgroup_stats *st)
{
	if (!p->cg.on)
		return false;
	cgroup_pool_read(&p->m->cg, &p->cg, st);
	return true;
}

/* A pool's cgroup for `weir status`: the whole pool's use and its limits; null if none. */
json_t *
poolcg_json(const struct pool *p)
{
	struct cgroup_stats st;
	json_t *o;

	if (!poolcg_stats(p, &st))
		return json_null();
	o = json_object();
	json_object_set_new(o, "path", json_string(p->cg.dir[CG_MEMORY][0] ?
	    p->cg.dir[CG_MEMORY] : p->cg.dir[CG_CPU]));
	json_object_set_new(o, "memory_bytes", json_integer((json_int_t)st.memory));
	json_object_set_new(o, "cpu_usec", json_integer((json_int_t)st.cpu_usec));
	json_object_set_new(o, "tasks", json_integer((json_int_t)st.pids));
	json_object_set_new(o, "throttled_periods", json_integer((json_int_t)st.nr_throttled));
	json_object_set_new(o, "throttled_usec", json_integer((json_int_t)st.throttled_usec));
	json_object_set_new(o, "forks_refused", json_integer((json_int_t)st.pids_max));
	json_object_set_new(o, "oom_kills", json_integer((json_int_t)st.oom_kills));
	json_object_set_new(o, "memory_max", json_integer((json_int_t)p->cp->memory_max));
	json_object_set_new(o, "cpu_max", json_integer(p->cp->cpu_max));
	json_object_set_new(o, "tasks_max", json_integer(p->cp->tasks_max));
	return o;
}
