/*
 * pool.c - application pools in the master: start, recycle, protect.
 *
 * A pool keeps `processes` workers running while it is wanted (start_mode =
 * always, or a request arrived).  Recycling is overlapped by default: the
 * new worker must be ready before the old one is drained (the front end
 * stops giving it requests, lets the ones in flight finish, says so) and only
 * then gets SIGTERM.  Failures (IIS's list, narrowed by rapidfail_counts()
 * to crash loops) go into the Rapid-Fail window; when it trips, what
 * happens depends on rapid_fail_action (pool_trip()): by default (auto) a
 * failed deploy is rolled back, a pool that still has ready workers keeps
 * them serving and starts no new ones until a back-off passed, and only a
 * pool with nothing serving is disabled (1002) until the back-off
 * re-enables it (1 min doubling to 1 h, event 1301); `disable` waits for
 * an administrator (IIS).
 *
 * A pool with `address` has no processes: external.c stands a pseudo worker
 * in for the upstream and the same states, events and protection apply.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <grp.h>
#include <pwd.h>
#include <fcntl.h>
#include <unistd.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "component.h"
#include "master.h"

#define MEMORY_CHECK_MS		5000
#define LIMIT_GRACE_MS		2000	/* fastcgi: time to exit after the last request */

static void	spawn(struct pool *p);
static int	preflight(struct pool *p);

/* The health-check path: ping_path, or weir-host's own for native pools. */
const char *
pool_ping_path(const struct conf_pool *cp)
{
	if (cp->ping_path != NULL)
		return cp->ping_path;
	if (cp->kind == POOL_KIND_NATIVE && cp->command == NULL)
		return "/.weir/ping";
	return NULL;
}

const char *
pool_state_name(int state)
{
	static const char *names[] = { "stopped", "starting", "started",
	    "stopping", "disabled" };

	return state >= 0 && state <= POOL_DISABLED ? names[state] : "?";
}

static unsigned
alive_workers(const struct pool *p)
{
	unsigned n = 0;

	for (const struct worker *w = p->workers; w != NULL; w = w->next)
		if (w->state == W_STARTING || w->state == W_READY)
			n++;
	return n;
}

void
pool_send_state(struct pool *p)
{
	struct ctl_pool_state st;
	uint64_t now = loop_now(p->m->loop);

	if (p->idx < 0)
		return;		/* removed by a reload: the front end retired it */
	memset(&st, 0, sizeof(st));
	st.pool = p->idx;
	st.generation = p->m->generation;
	st.state = p->state;
	st.retry_after_s = p->retry_at > now ? (uint32_t)((p->retry_at - now + 999) / 1000) : 60;
	wstrlcpy(st.reason, p->reason, sizeof(st.reason));
	feproc_send(p->m, CTL_POOL_STATE, &st, sizeof(st), NULL, 0);
}

void
pool_set_state(struct pool *p, int state)
{
	if (p->state == state)
		return;
	log_info("pool %s: %s -> %s", p->name, pool_state_name(p->state),
	    pool_state_name(state));
	p->state = state;
	if (state == POOL_STOPPED)
		fsiso_tmp_remove(p);
	pool_send_state(p);
	systemd_check_ready(p->m);
}

void
pool_send_worker(struct worker *w, enum ctl_type type)
{
	struct ctl_worker cw;

	memset(&cw, 0, sizeof(cw));
	cw.pool = w->pool->idx;
	cw.generation = w->generation;
	cw.worker = w->id;
	cw.pid = w->pid;
	wstrlcpy(cw.path, w->path, sizeof(cw.path));
	feproc_send(w->pool->m, type, &cw, sizeof(cw), NULL, 0);
}

/* --- timers ------------------------------------------------------------------ */

static void
on_start_timeout(void *arg)
{
	struct worker *w = arg;
	char why[128];

	snprintf(why, sizeof(why), "was not ready within the startup time limit of %llus",
	    (unsigned long long)(w->pool->cp->startup_time_limit / 1000));
	pool_worker_failed(w, 1012, why);
}

static void
on_stop_timeout(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;
	json_t *f = json_object();
	char why[160];

	snprintf(why, sizeof(why), "did not stop within the shutdown time limit of %llus",
	    (unsigned long long)(p->cp->shutdown_time_limit / 1000));
	json_object_set_new(f, "reason", json_string(why));
	events_emit(1013, EV_WARNING, p->name, w->pid, f,
	    "A process serving application pool '%s' exceeded time limits during shut down. The process id was '%d'.",
	    p->name, (int)w->pid);
	worker_signal(w, SIGKILL);
	if (!w->failed && p->state != POOL_DISABLED && !p->m->stopping) {
		w->failed = true;
		wstrlcpy(w->fail_reason, why, sizeof(w->fail_reason));
		p->failures_total++;
		failinfo_note(w, why, pool_worker_proven(w), true);
		if (rapidfail_record(&p->rf, loop_now(p->m->loop), w->pid, why)) {
			p->pending_disable = true;
			snprintf(p->pending_why, sizeof(p->pending_why), "%s", why);
		}
	}
}

static void
on_recycle_timer(void *arg)
{
	struct worker *w = arg;

	if (w->state == W_READY) {
		w->recycle_event = 1074;
		pool_recycle_worker(w, 1074);
	}
}

/*
 * A FastCGI worker served recycle_requests and the front end sends it no
 * more, but it did not exit by itself (an app that ignores
 * PHP_FCGI_MAX_REQUESTS, or an env that sets it higher): recycle it, so
 * it does not hold a place in the web garden doing nothing.
 */
static void
on_limit_timeout(void *arg)
{
	struct worker *w = arg;

	if (w->state != W_READY || w->recycle_event != 0)
		return;
	log_info("pool %s: worker %u (pid %d) served %llu requests and did not exit by itself",
	    w->pool->name, w->id, (int)w->pid, (unsigned long long)w->requests);
	pool_recycle_worker(w, 1075);
}

/* --- spawning ------------------------------------------------------------------ */

/*
 * Native pools: check weir-host and the pool's modules against the MANIFEST
 * and each other before anything runs.  A mismatch holds the pool (event
 * 1300 naming every file with expected and found versions) instead of
 * letting workers crash in a loop.  Returns 0 when the pool may start.
 */
static int
preflight(struct pool *p)
{
	const struct conf_pool *cp = p->cp;
	struct component_paths cpaths;
	json_t *problems = NULL, *f;
	char err[WEIR_ERRLEN], detail[512];
	size_t i;
	json_t *x;
	int r;

	if (cp->kind != POOL_KIND_NATIVE || cp->command != NULL)
		return 0;
	if (component_locate(&cpaths, err) == -1)
		r = -1;
	else
		r = component_preflight(cpaths.host, cpaths.modules, cp->modules.v,
		    cp->modules.n, &problems, err);
	if (r == 0)
		return 0;
	f = json_object();
	if (r == -1) {
		problems = json_array();
		json_array_append_new(problems, json_pack("{s:s}", "problem", err));
	}
	detail[0] = '\0';
	json_array_foreach(problems, i, x) {
		size_t n = strlen(detail);

		snprintf(detail + n, sizeof(detail) - n, "%s%s: %s", i ? "; " : "",
		    json_string_value(json_object_get(x, "file")) ?
		    json_string_value(json_object_get(x, "file")) : "?",
		    json_string_value(json_object_get(x, "problem")) ?
		    json_string_value(json_object_get(x, "problem")) : "mismatch");
	}
	json_object_set_new(f, "files", problems);
	events_emit(1300, EV_ERROR, p->name, 0, f,
	    "Application pool '%s' was not started: its components do not match (%s). No worker was launched; the other pools keep serving.",
	    p->name, detail);
	pool_disable(p, "component-mismatch", detail);
	return -1;
}

static void
spawn(struct pool *p)
{
	struct master *m = p->m;
	char err[WEIR_ERRLEN];
	struct worker *w;
	const struct conf_pool *cp = p->cp;

	if (preflight(p) == -1)
		return;
	if (p->argv == NULL) {
		json_t *f = json_object();

		json_object_set_new(f, "error", json_string(p->detail));
		events_emit(1059, EV_ERROR, p->name, 0, f,
		    "A worker process for application pool '%s' could not be launched (%s). The application pool is disabled.",
		    p->name, p->detail);
		pool_disable(p, "launch-failure", p->detail);
		return;
	}
	if ((w = worker_spawn(p, err)) == NULL) {
		json_t *f = json_object();
		char detail[512];

		json_object_set_new(f, "error", json_string(err));
		json_object_set_new(f, "command", json_string(cp->command ? cp->command : ""));
		events_emit(1059, EV_ERROR, p->name, 0, f,
		    "A worker process for application pool '%s' could not be launched (%s). The application pool is disabled.",
		    p->name, err);
		snprintf(detail, sizeof(detail), "could not launch '%s': %s",
		    cp->command ? cp->command : "", err);
		pool_disable(p, "launch-failure", detail);
		return;
	}
	p->n_starts++;
	health_init_worker(w);
	w->start_timer.cb = on_start_timeout;
	w->stop_timer.cb = on_stop_timeout;
	w->recycle_timer.cb = on_recycle_timer;
	w->report_timer.cb = pool_report_timeout;
	w->limit_timer.cb = on_limit_timeout;
	log_info("pool %s: worker %u started (pid %d)", p->name, w->id, (int)w->pid);
	if (p->state == POOL_STOPPED || (p->state == POOL_STARTED && !pool_has_ready(p)))
		pool_set_state(p, POOL_STARTING);
	loop_timer_set(m->loop, &w->start_timer, cp->startup_time_limit);
	/* Ready when its first probe is answered, or at READY=1 (health.c). */
	ping_start(w);
}

/* Start workers until the pool has `processes` of them, if it is wanted. */
void
pool_maintain(struct pool *p)
{
	/* pending_disable: the pool trips as soon as the 1009 is out */
	if (p->external || p->m->stopping || !p->want_workers || p->pending_disable ||
	    (p->state != POOL_STARTED && p->state != POOL_STARTING))
		return;
	/* Held after a trip: the ready ones serve, none starts until the back-off. */
	if (p->held && pool_serving(p))
		return;
	while (alive_workers(p) < p->cp->processes && p->state != POOL_DISABLED) {
		unsigned before = alive_workers(p);

		spawn(p);
		if (alive_workers(p) == before)
			break;
	}
	/* Workers still on older settings: try their replacement (again). */
	rollback_converge(p);
}

/* --- stopping ------------------------------------------------------------------- */

/* Stop a worker gracefully: drain in the front end, then SIGTERM. */
void
pool_drain_worker(struct worker *w)
{
	struct loop *l = w->pool->m->loop;

	if (w->state == W_DRAINING || w->state == W_STOPPING || w->state == W_EXITED)
		return;
	w->expect_exit = true;
	/* a replacement that is stopped (a rollback, a trim) replaces nothing */
	w->replaces = NULL;
	ping_cancel(w);
	loop_timer_cancel(l, &w->ping_timer);
	loop_timer_cancel(l, &w->start_timer);
	loop_timer_cancel(l, &w->recycle_timer);
	loop_timer_set(l, &w->stop_timer, w->pool->cp->shutdown_time_limit);
	if (w->state == W_STARTING || w->pool->m->fe.pid == 0 || !w->pool->m->fe.hello) {
		w->state = W_STOPPING;
		pool_send_worker(w, CTL_WORKER_DRAIN);
		worker_signal(w, SIGTERM);
		return;
	}
	w->state = W_DRAINING;
	pool_send_worker(w, CTL_WORKER_DRAIN);
}

void
pool_worker_drained(struct worker *w)
{
	if (w->state != W_DRAINING)
		return;
	w->state = W_STOPPING;
	worker_signal(w, SIGTERM);
}

/* Take a worker out of its pool's list (before worker_free). */
void
pool_unlink_worker(struct worker *w)
{
	for (struct worker **pp = &w->pool->workers; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			return;
		}
	}
}

/* --- lifecycle callbacks ------------------------------------------------------------ */

void
pool_worker_ready(struct worker *w)
{
	struct pool *p = w->pool;
	struct loop *l = p->m->loop;

	if (w->state != W_STARTING)
		return;
	loop_timer_cancel(l, &w->start_timer);
	w->state = W_READY;
	w->ready_at = loop_now(l);
	log_info("pool %s: worker %u (pid %d) ready in %llums", p->name, w->id,
	    (int)w->pid, (unsigned long long)(w->ready_at - w->started));
	pool_send_worker(w, CTL_WORKER_READY);
	if (p->state == POOL_STARTING)
		pool_set_state(p, POOL_STARTED);
	/*
	 * Its readiness check proved it runs: its version has served
	 * (rollback.c), and the worker it replaces may stop now, not before
	 * (a recycle or a reload never drains the old worker for a new one
	 * that crashes at once).
	 */
	rollback_served(w);
	if (w->replaces != NULL) {
		struct worker *old = w->replaces;

		w->replaces = NULL;
		pool_drain_worker(old);
	}
	if (p->cp->ping_interval > 0)
		loop_timer_set(l, &w->ping_timer, p->cp->ping_interval);
	/* Counted from readiness: recycling a worker still starting gains nothing. */
	if (p->cp->recycle_time > 0)
		loop_timer_set(l, &w->recycle_timer, p->cp->recycle_time);
}

/* Is a starting worker about to take w's place? */
static bool
being_replaced(const struct pool *p, const struct worker *w)
{
	for (const struct worker *o = p->workers; o != NULL; o = o->next)
		if (o->replaces == w)
			return true;
	return false;
}

/*
 * Recycle one worker (overlapped unless the pool says otherwise); nothing
 * if it is not ready or a replacement is already starting.
 */
void
pool_recycle_worker(struct worker *w, int event)
{
	struct pool *p = w->pool;
	const char *text;

	if (w->state != W_READY || p->external || being_replaced(p, w))
		return;
	switch (event) {
	case 1074: text = "the worker process reached its allowed processing time limit"; break;
	case 1075: text = "the worker process reached its allowed processing request limit"; break;
	case 1076: text = "the worker process reached its scheduled recycle time"; break;
	case 1117: text = "the worker process reached its private memory limit"; break;
	case 1080: text = "the configuration of the application pool changed"; break;
	default:   text = "an administrator requested it"; break;
	}
	if (event != 1079 && event != 1080) {
		json_t *f = json_object();

		json_object_set_new(f, "worker", json_integer(w->id));
		json_object_set_new(f, "requests", json_integer((json_int_t)w->requests));
		events_emit(event, EV_INFO, p->name, w->pid, f,
		    "A worker process with process id of '%d' serving application pool '%s' has requested a recycle because %s.",
		    (int)w->pid, p->name, text);
	}
	w->recycle_event = event;
	switch (event) {
	case 1074: p->n_recycles[0]++; break;
	case 1075: p->n_recycles[1]++; break;
	case 1076: p->n_recycles[2]++; break;
	case 1117: p->n_recycles[3]++; break;
	case 1079: p->n_recycles[4]++; break;
	default:   p->n_recycles[5]++; break;
	}
	/*
	 * A recycle is a deploy: its replacement may run new code from disk.
	 * It is a new version (unless one is on its way already), so that a
	 * failing replacement is tried again (rollback_converge()) until
	 * Rapid-Fail Protection decides, and rolling back abandons it.
	 */
	if (event != 1080)
		rollback_recycle_version(p);
	pool_replace_worker(w);
}

/*
 * Start the replacement of a worker being recycled (overlapped: it is
 * drained once the new one is ready), or drain it now when the pool does
 * not overlap.  Also used to try again after a replacement failed.
 */
void
pool_replace_worker(struct worker *w)
{
	struct pool *p = w->pool;

	if (w->state != W_READY || being_replaced(p, w) || p->held)
		return;
	if (p->cp->overlapped_recycle && p->state == POOL_STARTED) {
		struct worker *nw;

		spawn(p);
		nw = p->workers;
		if (nw != NULL && nw != w && nw->state == W_STARTING && nw->replaces == NULL) {
			/* the old one is drained once the new one is ready */
			nw->replaces = w;
			return;
		}
		/* could not start a replacement: the old one keeps serving */
		return;
	}
	pool_drain_worker(w);
	pool_maintain(p);
}

/* Recycle every ready worker of the pool (administrator, schedule, config). */
void
pool_recycle(struct pool *p, int event, const char *why)
{
	struct worker *list[512];
	size_t n = 0;

	if (event == 1079 || event == 1080) {
		json_t *f = json_object();

		json_object_set_new(f, "reason", json_string(why));
		events_emit(event, EV_INFO, p->name, 0, f, event == 1079 ?
		    "An administrator has requested a recycle of all worker processes in application pool '%s'." :
		    "Worker processes serving application pool '%s' are being recycled due to configuration changes.",
		    p->name);
	}
	for (struct worker *w = p->workers; w != NULL && n < nitems(list); w = w->next)
		if (w->state == W_READY)
			list[n++] = w;
	for (size_t i = 0; i < n; i++)
		pool_recycle_worker(list[i], event);
}

/*
 * The front end's counters: requests served, in flight, queued.  A message
 * names only some workers (those with news, at most 64; one alone when it
 * is drained or at its request limit): the others keep what they had, and
 * a pool's in-flight figure is its workers' sum.
 */
void
pool_stats(struct master *m, const struct ctl_stats *st, size_t n)
{
	uint64_t now = loop_now(m->loop);

	for (size_t i = 0; i < n; i++) {
		struct worker *w = pools_worker_by_id(m, st->w[i].worker);
		struct pool *p;

		if (w == NULL)
			continue;
		p = w->pool;
		w->requests += st->w[i].requests;
		p->requests += st->w[i].requests;
		w->inflight = st->w[i].inflight;
		if (st->w[i].requests > 0 || st->w[i].inflight > 0 || st->w[i].queued > 0)
			p->last_activity = now;
		if (p->cp->recycle_requests == 0 || w->requests < p->cp->recycle_requests ||
		    w->state != W_READY || p->external)
			continue;
		/* php-cgi exits by itself at its limit; others are recycled */
		if (p->cp->kind != POOL_KIND_FASTCGI)
			pool_recycle_worker(w, 1075);
		else if (!loop_timer_armed(&w->limit_timer) && w->recycle_event == 0)
			loop_timer_set(m->loop, &w->limit_timer, LIMIT_GRACE_MS);
	}
	for (size_t i = 0; i < m->npools; i++) {
		struct pool *p = m->pools[i];

		p->inflight = 0;
		for (const struct worker *w = p->workers; w != NULL; w = w->next)
			if (w->state != W_EXITED)
				p->inflight += w->inflight;
	}
}

/* --- idle, schedule, memory ----------------------------------------------------------- */

static void
on_idle_timer(void *arg)
{
	struct pool *p = arg;
	uint64_t now = loop_now(p->m->loop);
	uint64_t idle = p->cp->idle_timeout;
	unsigned n = 0;

	if (now - p->last_activity < idle) {
		loop_timer_set(p->m->loop, &p->idle_timer, idle - (now - p->last_activity));
		return;
	}
	for (struct worker *w = p->workers; w != NULL; w = w->next)
		if (w->state == W_READY || w->state == W_STARTING)
			n++;
	if (n > 0 && p->inflight == 0 && !p->external) {
		events_emit(1186, EV_INFO, p->name, 0, NULL,
		    "The worker processes serving application pool '%s' were shut down after being idle for %llus.",
		    p->name, (unsigned long long)(idle / 1000));
		p->want_workers = false;
		for (struct worker *w = p->workers; w != NULL; w = w->next)
			pool_drain_worker(w);
	}
	loop_timer_set(p->m->loop, &p->idle_timer, idle);
}

/* ms until the next HH:MM of the schedule (local time). */
static uint64_t
next_schedule_ms(const struct conf_pool *cp)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	return schedule_next_ms(cp->recycle_schedule, cp->nrecycle_schedule, &tm);
}

static void
on_schedule(void *arg)
{
	struct pool *p = arg;

	pool_recycle(p, 1076, "schedule");
	loop_timer_set(p->m->loop, &p->schedule_timer, next_schedule_ms(p->cp) + 1000);
}

static void
on_memory(void *arg)
{
	struct pool *p = arg;

	for (struct worker *w = p->workers; w != NULL; w = w->next) {
		uint64_t mem;

		if (w->state != W_READY || w->pid <= 0)
			continue;
		mem = worker_private_memory(w);
		if (mem > p->cp->recycle_memory) {
			log_info("pool %s: worker %d uses %llu bytes of private memory (limit %llu)",
			    p->name, (int)w->pid, (unsigned long long)mem,
			    (unsigned long long)p->cp->recycle_memory);
			pool_recycle_worker(w, 1117);
		}
	}
	loop_timer_set(p->m->loop, &p->memory_timer, MEMORY_CHECK_MS);
}

/* --- configuration ---------------------------------------------------------------- */

static void
identity_error(struct pool *p, const char *why)
{
	json_t *f = json_object();

	json_object_set_new(f, "error", json_string(why));
	events_emit(1057, EV_ERROR, p->name, 0, f,
	    "The identity of application pool '%s' is invalid (%s), so the World Wide Web Publishing Service can not create a worker process to serve the application pool. Therefore, the application pool has been disabled.",
	    p->name, why);
	wstrlcpy(p->reason, "identity", sizeof(p->reason));
	wstrlcpy(p->detail, why, sizeof(p->detail));
	p->state = POOL_DISABLED;
}

/*
 * Who the pool's workers run as.  Not started as root: weir's own user,
 * unchanged (a user = is refused, 1057).  As root: `user` with its groups
 * from the group database (`group` its primary group), or else the pool's
 * own uid and gid (ident.c) with no supplementary groups (`group` then its
 * gid).  An explicit root is allowed, with event 1320 at every start.
 */
static void
pool_identity(struct pool *p, const struct conf_pool *cp)
{
	const struct passwd *pw = NULL;
	char err[WEIR_ERRLEN];

	free(p->groups);
	p->groups = NULL;
	p->ngroups = 0;
	p->identity = "weir's";
	if (geteuid() != 0) {
		if (cp->user == NULL)
			return;
		snprintf(err, sizeof(err), "user = %s needs weir to be started as root", cp->user);
		identity_error(p, err);
		return;
	}
	if (cp->user != NULL) {
		if ((pw = getpwnam(cp->user)) == NULL) {
			snprintf(err, sizeof(err), "no such user '%s'", cp->user);
			identity_error(p, err);
			return;
		}
		p->uid = pw->pw_uid;
		p->gid = pw->pw_gid;
		p->identity = "user";
	} else {
		if (cp->own_id == 0) {
			identity_error(p, "no own uid could be given to the pool");
			return;
		}
		p->uid = (uid_t)cp->own_id;
		p->gid = (gid_t)cp->own_id;
		p->identity = "own";
	}
	if (cp->group != NULL) {
		const struct group *gr = getgrnam(cp->group);

		if (gr == NULL) {
			snprintf(err, sizeof(err), "no such group '%s'", cp->group);
			identity_error(p, err);
			return;
		}
		p->gid = gr->gr_gid;
	}
	if (pw != NULL)
		p->groups = ident_user_groups(cp->user, p->gid, &p->ngroups);
	p->set_identity = true;
	if (p->uid == 0) {
		json_t *f = json_object();

		json_object_set_new(f, "user", json_string(cp->user));
		log_warnx("pool %s: runs as root (user = %s)", p->name, cp->user);
		events_emit(1320, EV_WARNING, p->name, 0, f,
		    "Application pool '%s' runs as root (user = %s): its worker processes own every file that belongs to root (all of /etc and /usr), even without capabilities. Without a user, the pool gets an identity of its own.",
		    p->name, cp->user);
	}
}

/*
 * (Re)derive what a pool needs from its config: argv, identity, external
 * upstream.  Used at start and when a reload changes the pool.  An identity
 * problem disables the pool with event 1057.
 */
void
pool_configure(struct pool *p, const struct conf_pool *cp)
{
	char err[WEIR_ERRLEN];

	p->cp = cp;
	conf_argv_free(p->argv);
	p->argv = NULL;
	p->set_identity = false;
	p->identity = NULL;
	p->external = cp->address != NULL;
	rapidfail_free(&p->rf);
	rapidfail_init(&p->rf, cp->rapid_fail_count, cp->rapid_fail_window);
	degraded_configure(p);
	if (p->external)
		return;
	if (cp->kind == POOL_KIND_NATIVE && cp->command == NULL) {
		struct component_paths cpaths;

		if (component_locate(&cpaths, err) == -1) {
			snprintf(p->detail, sizeof(p->detail), "cannot find weir-host: %s", err);
			log_warnx("pool %s: %s", p->name, p->detail);
		} else {
			p->argv = component_host_argv(cp, cpaths.host, cpaths.modules);
		}
	} else if (cp->command != NULL && conf_split_command(cp->command, &p->argv, err) == -1) {
		/* validated already; only memory could fail here */
		fatalx("pool %s: %s", cp->name, err);
	}
	pool_identity(p, cp);
}

/*
 * A reload changed what the pool's processes are made of: new workers with
 * the new settings replace the old ones, overlapped (event 1080).
 */
void
pool_configure_changed(struct pool *p, const struct conf_pool *cp)
{
	bool was_external = p->external;

	/*
	 * New settings for a disabled pool are a new attempt: a fresh failure
	 * window, no stale reason; pool_start_one() after the reload starts
	 * it (or the next request does).
	 */
	if (p->state == POOL_DISABLED) {
		loop_timer_cancel(p->m->loop, &p->backoff_timer);
		p->retry_at = 0;
		p->backoff_ms = 0;
		p->reason[0] = p->detail[0] = '\0';
		log_info("pool %s: new settings, trying the disabled pool again", p->name);
		pool_set_state(p, POOL_STARTED);
	}
	if (p->held) {		/* a new attempt, not the back-off's */
		loop_timer_cancel(p->m->loop, &p->backoff_timer);
		p->retry_at = 0;
		degraded_release(p);
	}
	pool_configure(p, cp);
	p->cp_gen = p->m->generation;
	rollback_new_version(p);
	p->rolled_back_from = 0;
	if (p->state == POOL_DISABLED)
		return;		/* the new identity is invalid too (1057) */
	if (was_external || p->external) {
		/*
		 * A new address (or kind, or ping_path), or a switch between
		 * command and address: the old pseudo worker or processes go,
		 * and pool_start_one() after the reload probes the upstream or
		 * starts processes the usual way.
		 */
		if (was_external)
			external_stop(p);
		pool_recycle(p, 1080, "configuration change");
		if (p->external) {
			for (struct worker *w = p->workers; w != NULL; w = w->next)
				pool_drain_worker(w);
			return;
		}
		if (p->state == POOL_STARTING)
			pool_set_state(p, POOL_STARTED);
		return;
	}
	/* Still starting with the old settings: stop them, new ones follow. */
	for (struct worker *w = p->workers; w != NULL; w = w->next)
		if (w->state == W_STARTING && w->generation < p->m->generation &&
		    w->replaces == NULL)
			pool_drain_worker(w);
	pool_trim(p);
	pool_recycle(p, 1080, "configuration change");
	pool_maintain(p);
}

/*
 * More workers than `processes` (after a reload lowered it): stop the
 * oldest.  A worker starting to replace another takes that one's place, so
 * the pair counts once.
 */
void
pool_trim(struct pool *p)
{
	unsigned alive = 0;

	for (struct worker *w = p->workers; w != NULL; w = w->next)
		if ((w->state == W_READY || w->state == W_STARTING) && w->replaces == NULL)
			alive++;
	while (alive > p->cp->processes) {
		struct worker *victim = NULL;

		/* the list is newest first: the last match is the oldest */
		for (struct worker *w = p->workers; w != NULL; w = w->next)
			if ((w->state == W_READY || w->state == W_STARTING) &&
			    w->replaces == NULL && !being_replaced(p, w))
				victim = w;
		if (victim == NULL)
			break;
		pool_drain_worker(victim);
		alive--;
	}
}

struct pool *
pool_new(struct master *m, int idx, const struct conf_pool *cp)
{
	struct pool *p = xcalloc(1, sizeof(*p));

	p->m = m;
	p->idx = idx;
	wstrlcpy(p->name, cp->name, sizeof(p->name));
	p->state = POOL_STARTED;
	loop_timer_init(&p->backoff_timer, pool_backoff_cb, p);
	loop_timer_init(&p->idle_timer, on_idle_timer, p);
	loop_timer_init(&p->schedule_timer, on_schedule, p);
	loop_timer_init(&p->memory_timer, on_memory, p);
	degraded_init(p);
	p->last_activity = loop_now(m->loop);
	poollog_open(p);
	pool_configure(p, cp);
	p->cp_gen = m->generation;
	p->ver = p->next_ver = 1;
	return p;
}

/* Arm the pool's timers and start its workers if it starts always. */
void
pool_start_one(struct pool *p)
{
	struct master *m = p->m;
	char err[WEIR_ERRLEN];

	if (p->state == POOL_DISABLED)
		return;
	if (p->external) {
		/* No processes: no idle, schedule or memory recycling either. */
		loop_timer_cancel(m->loop, &p->idle_timer);
		loop_timer_cancel(m->loop, &p->schedule_timer);
		loop_timer_cancel(m->loop, &p->memory_timer);
		external_start(p);
		return;
	}
	/* A component mismatch shows at start, not at the first request. */
	if (preflight(p) == -1)
		return;
	if (poolcg_pool_start(p, err) == -1) {
		json_t *f = json_object();

		json_object_set_new(f, "error", json_string(err));
		json_object_set_new(f, "command", p->cp->command != NULL ?
		    json_string(p->cp->command) : json_null());
		events_emit(1059, EV_ERROR, p->name, 0, f,
		    "A worker process for application pool '%s' could not be launched (cgroup limits: %s). The application pool is disabled.",
		    p->name, err);
		pool_disable(p, "launch-failure", err);
		return;
	}
	if (p->cp->idle_timeout > 0)
		loop_timer_set(m->loop, &p->idle_timer, p->cp->idle_timeout);
	else
		loop_timer_cancel(m->loop, &p->idle_timer);
	if (p->cp->nrecycle_schedule > 0)
		loop_timer_set(m->loop, &p->schedule_timer, next_schedule_ms(p->cp));
	else
		loop_timer_cancel(m->loop, &p->schedule_timer);
	if (p->cp->recycle_memory > 0)
		loop_timer_set(m->loop, &p->memory_timer, MEMORY_CHECK_MS);
	else
		loop_timer_cancel(m->loop, &p->memory_timer);
	if (p->cp->start_mode == START_ALWAYS) {
		p->want_workers = true;
		pool_maintain(p);
	}
}

/* A request waits for a pool with no worker. */
void
pool_demand(struct pool *p)
{
	p->last_activity = loop_now(p->m->loop);
	if (p->state == POOL_DISABLED || p->state == POOL_STOPPED ||
	    p->state == POOL_STOPPING) {
		pool_send_state(p);	/* the front end answers 503 */
		return;
	}
	if (p->external) {
		external_demand(p);
		return;
	}
	p->want_workers = true;
	pool_maintain(p);
}

/*
 * A reload removed the pool: no new requests reach it (the front end
 * answers 503 for its old routes), its workers drain and stop, and the pool
 * is freed once the last one is gone.
 */
void
pool_retire(struct pool *p)
{
	struct master *m = p->m;

	p->idx = -1;
	p->want_workers = false;
	loop_timer_cancel(m->loop, &p->backoff_timer);
	loop_timer_cancel(m->loop, &p->idle_timer);
	loop_timer_cancel(m->loop, &p->schedule_timer);
	loop_timer_cancel(m->loop, &p->memory_timer);
	p->state = POOL_STOPPING;
	wstrlcpy(p->reason, "removed", sizeof(p->reason));
	p->next_retired = m->retired;
	m->retired = p;
	if (p->external)
		external_stop(p);
	for (struct worker *w = p->workers; w != NULL; w = w->next)
		pool_drain_worker(w);
	pool_reap_retired(m);
}

void
pool_free(struct pool *p)
{
	struct master *m = p->m;

	while (p->workers != NULL) {
		struct worker *w = p->workers;

		p->workers = w->next;
		worker_cleanup(w);
		worker_free(w);
	}
	loop_timer_cancel(m->loop, &p->backoff_timer);
	loop_timer_cancel(m->loop, &p->idle_timer);
	loop_timer_cancel(m->loop, &p->schedule_timer);
	loop_timer_cancel(m->loop, &p->memory_timer);
	/* removed by a reload, or weir stops: its workers are gone */
	fsiso_tmp_remove(p);
	rapidfail_free(&p->rf);
	degraded_free(p);
	poolcg_pool_free(p);
	conf_argv_free(p->argv);
	free(p->groups);
	poollog_close(p);
	free(p);
}
