/*
 * pool.c - application pools in the master: start, recycle, protect.
 *
 * A pool keeps `processes` workers running while it is wanted (start_mode =
 * always, or a request arrived).  Recycling is overlapped by default: the
 * new worker must be ready before the old one is drained (the front end
 * stops giving it requests, lets the ones in flight finish, says so) and only
 * then gets SIGTERM.  Failures (IIS's list) go into the Rapid-Fail window;
 * when it trips, the pool is disabled with the failures and their reasons in
 * event 1002, and either waits for an administrator (disable) or re-enables
 * itself after a back-off (1 min doubling to 1 h, event 1301).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <grp.h>
#include <pwd.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/wait.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "component.h"
#include "master.h"

#define BACKOFF_MAX_MS		(60 * 60 * 1000ULL)
#define REPORT_WAIT_MS		1000	/* for the front end's in-flight list */
#define MEMORY_CHECK_MS		5000
#define EX_CONFIG		78

static void	spawn(struct pool *p);
static void	maintain(struct pool *p);
static void	start_drain(struct worker *w);
static void	emit_1009(struct worker *w, const struct ctl_worker_report *r);
static void	trip(struct pool *p);
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

static bool
has_ready(const struct pool *p)
{
	for (const struct worker *w = p->workers; w != NULL; w = w->next)
		if (w->state == W_READY)
			return true;
	return false;
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

static void
set_state(struct pool *p, int state)
{
	if (p->state == state)
		return;
	log_info("pool %s: %s -> %s", p->name, pool_state_name(p->state),
	    pool_state_name(state));
	p->state = state;
	pool_send_state(p);
}

static void
send_worker(struct worker *w, enum ctl_type type)
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

static void
on_report_timeout(void *arg)
{
	struct worker *w = arg;

	/* The front end did not answer: write the event with what we have. */
	emit_1009(w, NULL);
}

/* --- spawning ------------------------------------------------------------------ */

static void
disable(struct pool *p, const char *reason, const char *detail)
{
	uint64_t now = loop_now(p->m->loop);

	wstrlcpy(p->reason, reason, sizeof(p->reason));
	wstrlcpy(p->detail, detail, sizeof(p->detail));
	p->want_workers = false;
	p->retry_at = 0;
	if (p->cp->rapid_fail_action == RF_ACTION_BACKOFF &&
	    strcmp(reason, "rapid-fail") == 0) {
		if (p->backoff_ms == 0)
			p->backoff_ms = p->cp->rapid_fail_backoff;
		p->retry_at = now + p->backoff_ms;
		loop_timer_set(p->m->loop, &p->backoff_timer, p->backoff_ms);
	}
	set_state(p, POOL_DISABLED);
	pool_send_state(p);	/* retry_at may have changed */
	for (struct worker *w = p->workers; w != NULL; w = w->next)
		start_drain(w);
}

static void
on_backoff(void *arg)
{
	struct pool *p = arg;
	json_t *f = json_object();

	if (p->state != POOL_DISABLED)
		return;
	json_object_set_new(f, "backoff_s", json_integer((json_int_t)(p->backoff_ms / 1000)));
	events_emit(1301, EV_INFO, p->name, 0, f,
	    "Application pool '%s' was re-enabled after a back-off of %llus.",
	    p->name, (unsigned long long)(p->backoff_ms / 1000));
	p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ?
	    (p->backoff_ms > BACKOFF_MAX_MS ? p->backoff_ms : BACKOFF_MAX_MS) :
	    p->backoff_ms * 2;
	p->retry_at = 0;
	rapidfail_reset(&p->rf);
	p->reason[0] = p->detail[0] = '\0';
	set_state(p, POOL_STARTED);
	if (p->cp->start_mode == START_ALWAYS) {
		p->want_workers = true;
		maintain(p);
	}
}

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
	disable(p, "component-mismatch", detail);
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
		disable(p, "launch-failure", p->detail);
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
		disable(p, "launch-failure", detail);
		return;
	}
	p->n_starts++;
	health_init_worker(w);
	w->start_timer.cb = on_start_timeout;
	w->stop_timer.cb = on_stop_timeout;
	w->recycle_timer.cb = on_recycle_timer;
	w->report_timer.cb = on_report_timeout;
	log_info("pool %s: worker %u started (pid %d)", p->name, w->id, (int)w->pid);
	if (p->state == POOL_STOPPED || (p->state == POOL_STARTED && !has_ready(p)))
		set_state(p, POOL_STARTING);
	loop_timer_set(m->loop, &w->start_timer, cp->startup_time_limit);
	if (pool_ping_path(cp) != NULL && cp->kind != POOL_KIND_FASTCGI)
		ping_start(w);
	else if (!cp->notify)
		pool_worker_ready(w);
}

/* Start workers until the pool has `processes` of them, if it is wanted. */
static void
maintain(struct pool *p)
{
	/* pending_disable: the pool trips as soon as the 1009 is out */
	if (p->external || p->m->stopping || !p->want_workers || p->pending_disable ||
	    (p->state != POOL_STARTED && p->state != POOL_STARTING))
		return;
	while (alive_workers(p) < p->cp->processes && p->state != POOL_DISABLED) {
		unsigned before = alive_workers(p);

		spawn(p);
		if (alive_workers(p) == before)
			break;
	}
}

/* --- stopping ------------------------------------------------------------------- */

/* Stop a worker gracefully: drain in the front end, then SIGTERM. */
static void
start_drain(struct worker *w)
{
	struct loop *l = w->pool->m->loop;

	if (w->state == W_DRAINING || w->state == W_STOPPING || w->state == W_EXITED)
		return;
	w->expect_exit = true;
	ping_cancel(w);
	loop_timer_cancel(l, &w->ping_timer);
	loop_timer_cancel(l, &w->start_timer);
	loop_timer_cancel(l, &w->recycle_timer);
	loop_timer_set(l, &w->stop_timer, w->pool->cp->shutdown_time_limit);
	if (w->state == W_STARTING || w->pool->m->fe.pid == 0 || !w->pool->m->fe.hello) {
		w->state = W_STOPPING;
		send_worker(w, CTL_WORKER_DRAIN);
		worker_signal(w, SIGTERM);
		return;
	}
	w->state = W_DRAINING;
	send_worker(w, CTL_WORKER_DRAIN);
}

void
pool_worker_drained(struct worker *w)
{
	if (w->state != W_DRAINING)
		return;
	w->state = W_STOPPING;
	worker_signal(w, SIGTERM);
}

/* --- events ----------------------------------------------------------------------- */

static void
exit_text(int status, char *out, size_t outsz)
{
	if (WIFEXITED(status))
		snprintf(out, outsz, "exit code %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, outsz, "signal %d (%s)%s", WTERMSIG(status),
		    strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(out, outsz, "status 0x%x", status);
}

/* Where the kernel put the core, when core_pattern is a plain file name. */
static void
core_file(const struct worker *w, char *out, size_t outsz)
{
	char pat[256];
	int fd = open("/proc/sys/kernel/core_pattern", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd == -1 ? -1 : read(fd, pat, sizeof(pat) - 1);

	out[0] = '\0';
	if (fd != -1)
		close(fd);
	if (n <= 0)
		return;
	pat[n] = '\0';
	pat[strcspn(pat, "\n")] = '\0';
	if (pat[0] == '|') {
		snprintf(out, outsz, "piped to %s", pat + 1);
		return;
	}
	if (strcmp(pat, "core") == 0)
		snprintf(out, outsz, "%s/core", w->pool->cp->workdir ? w->pool->cp->workdir : "(worker cwd)");
	else
		snprintf(out, outsz, "%s (core_pattern, pid %d)", pat, (int)w->pid);
}

/*
 * Rapid-Fail Protection tripped (or a worker said retrying will not help):
 * event 1002 with every failure in the window and its reason, then disable.
 */
static void
trip(struct pool *p)
{
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
	json_object_set_new(f, "action", json_string(cp->rapid_fail_action == RF_ACTION_BACKOFF ?
	    "backoff" : cp->rapid_fail_action == RF_ACTION_ROLLBACK ? "rollback" : "disable"));
	events_emit(1002, EV_ERROR, p->name, 0, f,
	    "Application pool '%s' is being automatically disabled due to a series of failures in the process(es) serving that application pool. Last failure: %s.",
	    p->name, p->pending_why);
	disable(p, "rapid-fail", p->pending_why);
}

/*
 * Event 1009, in one record: how it ended, the core, the last output lines,
 * uptime, requests served and what it had in flight (from the front end).
 * Then, if that failure tripped Rapid-Fail Protection, the pool is disabled
 * (1002) — after the 1009, so the log reads in order.
 */
static void
emit_1009(struct worker *w, const struct ctl_worker_report *r)
{
	struct pool *p = w->pool;
	uint64_t now = loop_now(p->m->loop);
	json_t *f = json_object(), *inf = json_array();
	char how[160], core[300];
	int st = w->status;

	loop_timer_cancel(p->m->loop, &w->report_timer);
	exit_text(st, how, sizeof(how));
	if (WIFEXITED(st))
		json_object_set_new(f, "exit_code", json_integer(WEXITSTATUS(st)));
	if (WIFSIGNALED(st)) {
		json_object_set_new(f, "signal", json_integer(WTERMSIG(st)));
		json_object_set_new(f, "signal_name", json_string(strsignal(WTERMSIG(st))));
		json_object_set_new(f, "core_dumped", json_boolean(WCOREDUMP(st)));
		if (WCOREDUMP(st)) {
			core_file(w, core, sizeof(core));
			json_object_set_new(f, "core_file", json_string(core));
		}
	}
	json_object_set_new(f, "exit", json_string(how));
	json_object_set_new(f, "worker", json_integer(w->id));
	json_object_set_new(f, "uptime_ms", json_integer((json_int_t)(now - w->started)));
	json_object_set_new(f, "requests", json_integer((json_int_t)
	    (r != NULL && r->requests > w->requests ? r->requests : w->requests)));
	json_object_set_new(f, "stderr_tail", worker_tail_json(w));
	if (r != NULL) {
		for (uint32_t i = 0; i < r->ninflight && i < CTL_REPORT_MAX; i++) {
			json_t *o = json_object();

			json_object_set_new(o, "method", json_stringn(r->inflight[i].method,
			    strnlen(r->inflight[i].method, sizeof(r->inflight[i].method))));
			json_object_set_new(o, "target", json_stringn(r->inflight[i].target,
			    strnlen(r->inflight[i].target, sizeof(r->inflight[i].target))));
			json_object_set_new(o, "ms", json_integer(r->inflight[i].ms));
			json_array_append_new(inf, o);
		}
		json_object_set_new(f, "inflight_total", json_integer(r->ninflight));
	}
	json_object_set_new(f, "inflight", inf);
	if (WIFSIGNALED(st))
		events_emit(1009, EV_WARNING, p->name, w->pid, f,
		    "A process serving application pool '%s' terminated unexpectedly. The process id was '%d'. The process was terminated by signal %d (%s)%s.",
		    p->name, (int)w->pid, WTERMSIG(st), strsignal(WTERMSIG(st)),
		    WCOREDUMP(st) ? ", core dumped" : "");
	else
		events_emit(1009, EV_WARNING, p->name, w->pid, f,
		    "A process serving application pool '%s' terminated unexpectedly. The process id was '%d'. The process exit code was '0x%x'.",
		    p->name, (int)w->pid, WIFEXITED(st) ? WEXITSTATUS(st) : st);
	if (p->pending_disable)
		trip(p);
	/* Unlink and free. */
	for (struct worker **pp = &p->workers; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	worker_free(w);
}

/* A worker was killed for a failure detected here (ping, startup, protocol). */
void
pool_worker_failed(struct worker *w, int event, const char *reason)
{
	struct pool *p = w->pool;
	json_t *f;

	if (w->failed || w->state == W_EXITED)
		return;
	w->failed = true;
	wstrlcpy(w->fail_reason, reason, sizeof(w->fail_reason));
	p->failures_total++;
	f = json_object();
	json_object_set_new(f, "reason", json_string(reason));
	json_object_set_new(f, "worker", json_integer(w->id));
	json_object_set_new(f, "stderr_tail", worker_tail_json(w));
	switch (event) {
	case 1010:
		events_emit(1010, EV_WARNING, p->name, w->pid, f,
		    "A process serving application pool '%s' failed to respond to a ping. The process id was '%d'.",
		    p->name, (int)w->pid);
		break;
	case 1011:
		events_emit(1011, EV_WARNING, p->name, w->pid, f,
		    "A process serving application pool '%s' suffered a fatal communication error with the front end: %s. The process id was '%d'.",
		    p->name, reason, (int)w->pid);
		break;
	case 1012:
		events_emit(1012, EV_WARNING, p->name, w->pid, f,
		    "A process serving application pool '%s' exceeded time limits during start up. The process id was '%d'.",
		    p->name, (int)w->pid);
		break;
	default:
		events_emit(1009, EV_WARNING, p->name, w->pid, f,
		    "A process serving application pool '%s' reported a failure: %s. The process id was '%d'.",
		    p->name, reason, (int)w->pid);
		break;
	}
	if (rapidfail_record(&p->rf, loop_now(p->m->loop), w->pid, reason)) {
		p->pending_disable = true;
		wstrlcpy(p->pending_why, reason, sizeof(p->pending_why));
	}
	w->expect_exit = true;
	send_worker(w, CTL_WORKER_DRAIN);
	worker_signal(w, SIGKILL);
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
	send_worker(w, CTL_WORKER_READY);
	if (p->state == POOL_STARTING)
		set_state(p, POOL_STARTED);
	if (w->replaces != NULL) {
		struct worker *old = w->replaces;

		w->replaces = NULL;
		start_drain(old);
	}
	if (pool_ping_path(p->cp) != NULL && p->cp->ping_interval > 0 &&
	    p->cp->kind != POOL_KIND_FASTCGI)
		loop_timer_set(l, &w->ping_timer, p->cp->ping_interval);
	/* Counted from readiness: recycling a worker still starting gains nothing. */
	if (p->cp->recycle_time > 0)
		loop_timer_set(l, &w->recycle_timer, p->cp->recycle_time);
}

/* Recycle one worker (overlapped unless the pool says otherwise). */
void
pool_recycle_worker(struct worker *w, int event)
{
	struct pool *p = w->pool;
	const char *text;

	if (w->state != W_READY || p->external)
		return;
	for (struct worker *o = p->workers; o != NULL; o = o->next)
		if (o->replaces == w)
			return;		/* already being replaced */
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
	if (p->cp->overlapped_recycle && p->state == POOL_STARTED) {
		struct worker *nw;

		spawn(p);
		nw = p->workers;
		if (nw != NULL && nw != w && nw->state == W_STARTING && nw->replaces == NULL) {
			nw->replaces = w;
			return;
		}
		if (nw != NULL && nw != w && nw->state == W_READY) {
			/* ready at once (no readiness check): drain the old now */
			start_drain(w);
			return;
		}
		/* could not start a replacement: the old one keeps serving */
		return;
	}
	start_drain(w);
	maintain(p);
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
 * waitpid() said the worker's main process ended.  Clean up its tree, tell
 * the front end, and decide: a stop we asked for, a failure already
 * counted, or an unexpected exit (1009, maybe 1002).
 */
void
pool_worker_exited(struct worker *w)
{
	struct pool *p = w->pool;
	struct master *m = p->m;
	int st = w->status;
	char how[160];

	worker_cleanup(w);
	loop_timer_cancel(m->loop, &w->stop_timer);
	w->state = W_EXITED;
	send_worker(w, CTL_WORKER_GONE);
	exit_text(st, how, sizeof(how));
	for (struct worker *o = p->workers; o != NULL; o = o->next)
		if (o->replaces == w)
			o->replaces = NULL;
	if (w->expect_exit && !w->failed) {
		p->n_exits[0]++;
		log_info("pool %s: worker %u (pid %d) stopped: %s", p->name, w->id,
		    (int)w->pid, how);
		for (struct worker **pp = &p->workers; *pp != NULL; pp = &(*pp)->next)
			if (*pp == w) {
				*pp = w->next;
				break;
			}
		worker_free(w);
		if (p->state == POOL_STOPPING && p->workers == NULL)
			set_state(p, POOL_STOPPED);
		maintain(p);
		return;
	}
	if (w->failed) {
		p->n_exits[2]++;
		/* Event already written when the failure was detected. */
		log_info("pool %s: worker %u (pid %d) killed after: %s", p->name,
		    w->id, (int)w->pid, w->fail_reason);
		for (struct worker **pp = &p->workers; *pp != NULL; pp = &(*pp)->next)
			if (*pp == w) {
				*pp = w->next;
				break;
			}
		worker_free(w);
		if (p->pending_disable)
			trip(p);
		else
			maintain(p);
		return;
	}
	/* Unexpected. */
	p->failures_total++;
	p->n_exits[1]++;
	worker_drain_output(w);
	if (WIFEXITED(st) && WEXITSTATUS(st) == EX_CONFIG) {
		char detail[512] = "";
		const char *last = w->tail[(w->tail_next + WORKER_TAIL - 1) % WORKER_TAIL];

		snprintf(detail, sizeof(detail),
		    "a worker exited with status 78 (EX_CONFIG: retrying will not help): %s",
		    last != NULL ? last : "(no output)");
		p->pending_disable = true;
		wstrlcpy(p->pending_why, detail, sizeof(p->pending_why));
		rapidfail_record(&p->rf, loop_now(m->loop), w->pid, detail);
	} else if (rapidfail_record(&p->rf, loop_now(m->loop), w->pid, how)) {
		p->pending_disable = true;
		snprintf(p->pending_why, sizeof(p->pending_why), "process %d: %s",
		    (int)w->pid, how);
	}
	/* Replace it now (unless the pool is about to be disabled). */
	if (!p->pending_disable)
		maintain(p);
	if (m->fe.pid > 0 && m->fe.hello)
		loop_timer_set(m->loop, &w->report_timer, REPORT_WAIT_MS);
	else
		emit_1009(w, NULL);
}

void
pool_worker_report(struct worker *w, const struct ctl_worker_report *r)
{
	if (w->state == W_EXITED && loop_timer_armed(&w->report_timer))
		emit_1009(w, r);
}

/* The front end's counters: requests served, in flight, queued. */
void
pool_stats(struct master *m, const struct ctl_stats *st, size_t n)
{
	uint64_t now = loop_now(m->loop);

	for (size_t i = 0; i < m->npools; i++)
		m->pools[i]->inflight = 0;
	for (size_t i = 0; i < n; i++) {
		struct worker *w = pools_worker_by_id(m, st->w[i].worker);
		struct pool *p;

		if (w == NULL)
			continue;
		p = w->pool;
		w->requests += st->w[i].requests;
		p->requests += st->w[i].requests;
		p->inflight += st->w[i].inflight;
		if (st->w[i].requests > 0 || st->w[i].inflight > 0 || st->w[i].queued > 0)
			p->last_activity = now;
		if (p->cp->recycle_requests > 0 && w->requests >= p->cp->recycle_requests &&
		    w->state == W_READY && p->cp->kind != POOL_KIND_FASTCGI)
			pool_recycle_worker(w, 1075);
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
			start_drain(w);
	}
	loop_timer_set(p->m->loop, &p->idle_timer, idle);
}

/* ms until the next HH:MM of the schedule (local time). */
static uint64_t
next_schedule_ms(const struct conf_pool *cp)
{
	time_t now = time(NULL);
	struct tm tm;
	int mins, best = -1;

	localtime_r(&now, &tm);
	mins = tm.tm_hour * 60 + tm.tm_min;
	for (size_t i = 0; i < cp->nrecycle_schedule; i++) {
		int d = cp->recycle_schedule[i] - mins;

		if (d <= 0)
			d += 24 * 60;
		if (best == -1 || d < best)
			best = d;
	}
	return (uint64_t)best * 60000 - (uint64_t)tm.tm_sec * 1000;
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

		if (w->state != W_READY)
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

/* --- administrator actions ------------------------------------------------------- */

struct pool *
pools_by_name(struct master *m, const char *name)
{
	for (size_t i = 0; i < m->npools; i++)
		if (strcmp(m->pools[i]->name, name) == 0)
			return m->pools[i];
	return NULL;
}

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
		set_state(p, POOL_STARTED);
		events_emit(1306, EV_INFO, p->name, 0, NULL,
		    "Application pool '%s' was started by an administrator.", p->name);
		if (p->cp->start_mode == START_ALWAYS) {
			p->want_workers = true;
			maintain(p);
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
		wstrlcpy(p->reason, "admin", sizeof(p->reason));
		snprintf(p->detail, sizeof(p->detail), "stopped by an administrator");
		set_state(p, p->workers != NULL ? POOL_STOPPING : POOL_STOPPED);
		events_emit(1307, EV_INFO, p->name, 0, NULL,
		    "Application pool '%s' was stopped by an administrator.", p->name);
		for (struct worker *w = p->workers; w != NULL; w = w->next)
			start_drain(w);
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
		set_state(p, POOL_STARTED);
		events_emit(1308, EV_INFO, p->name, 0, NULL,
		    "Application pool '%s' was enabled by an administrator.", p->name);
		if (p->cp->start_mode == START_ALWAYS) {
			p->want_workers = true;
			maintain(p);
		}
		snprintf(msg, msgsz, "pool %s enabled", p->name);
		return 200;
	}
	snprintf(msg, msgsz, "unknown action '%s' (start, stop, recycle, enable)", action);
	return 404;
}

/* --- the set of pools ------------------------------------------------------------- */

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
 * (Re)derive what a pool needs from its config: argv, identity, external
 * upstream.  Used at start and when a reload changes the pool.  An identity
 * problem disables the pool with event 1057.
 */
static void
pool_configure(struct pool *p, const struct conf_pool *cp)
{
	char err[WEIR_ERRLEN];

	p->cp = cp;
	conf_argv_free(p->argv);
	p->argv = NULL;
	p->set_identity = false;
	p->external = cp->address != NULL;
	rapidfail_free(&p->rf);
	rapidfail_init(&p->rf, cp->rapid_fail_count, cp->rapid_fail_window);
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
	if (cp->user != NULL) {
		const struct passwd *pw = getpwnam(cp->user);

		if (geteuid() != 0) {
			snprintf(err, sizeof(err), "user = %s needs weir to be started as root",
			    cp->user);
			identity_error(p, err);
			return;
		}
		if (pw == NULL) {
			snprintf(err, sizeof(err), "no such user '%s'", cp->user);
			identity_error(p, err);
			return;
		}
		p->uid = pw->pw_uid;
		p->gid = pw->pw_gid;
		if (cp->group != NULL) {
			const struct group *gr = getgrnam(cp->group);

			if (gr == NULL) {
				snprintf(err, sizeof(err), "no such group '%s'", cp->group);
				identity_error(p, err);
				return;
			}
			p->gid = gr->gr_gid;
		}
		p->set_identity = true;
	}
}

/*
 * A reload changed what the pool's processes are made of: new workers with
 * the new settings replace the old ones, overlapped (event 1080).
 */
void
pool_configure_changed(struct pool *p, const struct conf_pool *cp)
{
	pool_configure(p, cp);
	if (p->state == POOL_DISABLED)
		return;		/* enable (or the back-off) starts the new ones */
	/* Still starting with the old settings: stop them, new ones follow. */
	for (struct worker *w = p->workers; w != NULL; w = w->next)
		if (w->state == W_STARTING && w->generation < p->m->generation &&
		    w->replaces == NULL)
			start_drain(w);
	pool_trim(p);
	pool_recycle(p, 1080, "configuration change");
	maintain(p);
}

static bool
being_replaced(const struct pool *p, const struct worker *w)
{
	for (const struct worker *o = p->workers; o != NULL; o = o->next)
		if (o->replaces == w)
			return true;
	return false;
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
		start_drain(victim);
		alive--;
	}
}

struct pool *
pool_new(struct master *m, int idx, const struct conf_pool *cp)
{
	struct pool *p = xcalloc(1, sizeof(*p));
	char path[4096];

	p->m = m;
	p->idx = idx;
	wstrlcpy(p->name, cp->name, sizeof(p->name));
	p->state = POOL_STARTED;
	loop_timer_init(&p->backoff_timer, on_backoff, p);
	loop_timer_init(&p->idle_timer, on_idle_timer, p);
	loop_timer_init(&p->schedule_timer, on_schedule, p);
	loop_timer_init(&p->memory_timer, on_memory, p);
	p->last_activity = loop_now(m->loop);
	snprintf(path, sizeof(path), "%s/pools/%s.log", m->conf->server.log_dir, cp->name);
	p->log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (p->log_fd == -1)
		log_warn("pool %s: %s", cp->name, path);
	pool_configure(p, cp);
	return p;
}

void
pools_init(struct master *m)
{
	m->npools = m->conf->npools;
	m->pools = xcalloc(m->npools ? m->npools : 1, sizeof(*m->pools));
	for (size_t i = 0; i < m->npools; i++)
		m->pools[i] = pool_new(m, (int)i, &m->conf->pools[i]);
}

/* Arm the pool's timers and start its workers if it starts always. */
void
pool_start_one(struct pool *p)
{
	struct master *m = p->m;

	if (p->state == POOL_DISABLED)
		return;
	/* A component mismatch shows at start, not at the first request. */
	if (preflight(p) == -1)
		return;
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
		maintain(p);
	}
}

void
pools_start(struct master *m)
{
	for (size_t i = 0; i < m->npools; i++)
		pool_start_one(m->pools[i]);
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
	p->want_workers = true;
	maintain(p);
}

/* A (re)started front end learns the pools' states and ready workers. */
void
pools_fe_hello(struct master *m)
{
	for (size_t i = 0; i < m->npools; i++) {
		struct pool *p = m->pools[i];

		pool_send_state(p);
		if (p->external) {
			struct ctl_worker cw;

			memset(&cw, 0, sizeof(cw));
			cw.pool = p->idx;
			cw.generation = m->generation;
			cw.worker = 0;
			wstrlcpy(cw.path, p->cp->address, sizeof(cw.path));
			feproc_send(m, CTL_WORKER_READY, &cw, sizeof(cw), NULL, 0);
			continue;
		}
		for (struct worker *w = p->workers; w != NULL; w = w->next)
			if (w->state == W_READY)
				send_worker(w, CTL_WORKER_READY);
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
	for (struct worker *w = p->workers; w != NULL; w = w->next)
		start_drain(w);
	pool_reap_retired(m);
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
	rapidfail_free(&p->rf);
	conf_argv_free(p->argv);
	if (p->log_fd != -1)
		close(p->log_fd);
	free(p);
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
