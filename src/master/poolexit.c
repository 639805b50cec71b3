/*
 * poolexit.c - a worker ended: a stop we asked for, a failure we detected
 * and already reported, a FastCGI worker at its request limit (a recycle,
 * event 1075), or an unexpected exit (event 1009 with the exit status or
 * signal, the core, its last output lines and what it had in flight,
 * maybe followed by 1002 when Rapid-Fail Protection trips).
 *
 * The front end knows what the worker had in flight and how many requests
 * it served; the master asks (CTL_WORKER_GONE) and waits up to a second for
 * the answer (CTL_WORKER_REPORT) before it writes the event.  The
 * replacement starts at once, not after the report.
 *
 * Whether an unexpected end counts toward Rapid-Fail Protection is
 * rapidfail_counts()'s rule: a worker that never became ready counts at
 * once; for one that became ready the report decides (served something or
 * had a request in flight: not counted, a death for the degraded window;
 * served nothing: a crash loop that passes the readiness check, counted).
 * Without a report in time, the served count from the front end's stats
 * decides and nothing is taken to have been in flight.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "master.h"

#define REPORT_WAIT_MS		1000	/* for the front end's in-flight list */
#define EX_CONFIG		78

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
 * Event 1009, in one record: how it ended, the core, the last output lines,
 * uptime, requests served, what it had in flight (from the front end) and
 * whether it counts toward Rapid-Fail Protection.  Then, if that failure
 * tripped it, pool_trip() acts (1302, 1014 or 1002) — after the 1009, so
 * the log reads in order.
 */
static void
emit_1009(struct worker *w, const struct ctl_worker_report *r, bool counted,
    const char *why)
{
	struct pool *p = w->pool;
	uint64_t now = loop_now(p->m->loop);
	json_t *f = json_object(), *inf = json_array();
	char how[300], core[300], sentence[300], tail[400];
	uint64_t served = r != NULL && r->requests > w->requests ? r->requests : w->requests;
	int st = w->status;

	loop_timer_cancel(p->m->loop, &w->report_timer);
	failinfo_exit_text(st, how, sizeof(how));
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
	if (w->oom_killed) {
		/* not a bare SIGKILL: the pool's memory limit (poolcg.c) */
		char oom[200];

		poolcg_oom_words(w, oom, sizeof(oom));
		json_object_set_new(f, "oom_kill", json_true());
		json_object_set_new(f, "memory_max", json_integer((json_int_t)p->cp->memory_max));
		json_object_set_new(f, "cause", json_string(oom));
		snprintf(how + strlen(how), sizeof(how) - strlen(how), ", %s", oom);
	}
	json_object_set_new(f, "exit", json_string(how));
	json_object_set_new(f, "worker", json_integer(w->id));
	json_object_set_new(f, "uptime_ms", json_integer((json_int_t)(now - w->started)));
	json_object_set_new(f, "requests", json_integer((json_int_t)served));
	json_object_set_new(f, "was_ready", json_boolean(pool_worker_proven(w)));
	json_object_set_new(f, "counted", json_boolean(counted));
	json_object_set_new(f, "counted_why", json_string(why));
	json_object_set_new(f, "stderr_tail", linering_json(&w->tail));
	if (r != NULL) {
		for (uint32_t i = 0; i < r->ninflight && i < CTL_REPORT_MAX; i++) {
			json_t *o = json_object();

			json_object_set_new(o, "method", json_stringn(r->inflight[i].method,
			    strnlen(r->inflight[i].method, sizeof(r->inflight[i].method))));
			json_object_set_new(o, "target", json_stringn(r->inflight[i].target,
			    strnlen(r->inflight[i].target, sizeof(r->inflight[i].target))));
			json_object_set_new(o, "ms", json_integer(r->inflight[i].ms));
			if (r->inflight[i].retry)
				json_object_set_new(o, "retry", json_true());
			json_array_append_new(inf, o);
		}
		json_object_set_new(f, "inflight_total", json_integer(r->ninflight));
	}
	json_object_set_new(f, "inflight", inf);
	failinfo_exit_sentence(st, sentence, sizeof(sentence));
	if (w->oom_killed) {
		char oom[200];

		poolcg_oom_words(w, oom, sizeof(oom));
		snprintf(sentence, sizeof(sentence), "It was %s (signal 9, SIGKILL).", oom);
	}
	if (counted)
		snprintf(tail, sizeof(tail), "It counts toward Rapid-Fail Protection (%s): %zu of %u.",
		    why, p->rf.n, p->rf.count);
	else
		snprintf(tail, sizeof(tail), "It does not count toward Rapid-Fail Protection: %s; it was replaced at once.",
		    why);
	events_emit(1009, EV_WARNING, p->name, w->pid, f,
	    "A process serving application pool '%s' terminated unexpectedly. The process id was '%d'. %s It ran %.1fs and served %llu request%s. %s",
	    p->name, (int)w->pid, sentence, (double)(now - w->started) / 1000.0,
	    (unsigned long long)served, served == 1 ? "" : "s", tail);
	failinfo_note(w, how, pool_worker_proven(w), counted);
	if (p->pending_disable)
		pool_trip(p, "rapid-fail");
	pool_unlink_worker(w);
	worker_free(w);
}

/* A worker was killed for a failure detected here (ping, startup, protocol). */
void
pool_worker_failed(struct worker *w, int event, const char *reason)
{
	struct pool *p = w->pool;
	json_t *f;
	bool counted;
	char why[200];

	if (w->failed || w->state == W_EXITED)
		return;
	w->failed = true;
	wstrlcpy(w->fail_reason, reason, sizeof(w->fail_reason));
	p->failures_total++;
	/* what it had in flight is unknown here: its served count decides */
	counted = rapidfail_counts(pool_worker_proven(w), w->requests, 0, why,
	    sizeof(why));
	f = json_object();
	json_object_set_new(f, "reason", json_string(reason));
	json_object_set_new(f, "worker", json_integer(w->id));
	json_object_set_new(f, "stderr_tail", linering_json(&w->tail));
	json_object_set_new(f, "requests", json_integer((json_int_t)w->requests));
	json_object_set_new(f, "counted", json_boolean(counted));
	json_object_set_new(f, "counted_why", json_string(why));
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
	failinfo_note(w, reason, pool_worker_proven(w), counted);
	if (!counted)
		degraded_death(w, w->requests, reason);
	else if (rapidfail_record(&p->rf, loop_now(p->m->loop), w->pid, reason)) {
		p->pending_disable = true;
		wstrlcpy(p->pending_why, reason, sizeof(p->pending_why));
	}
	w->expect_exit = true;
	pool_send_worker(w, CTL_WORKER_DRAIN);
	worker_signal(w, SIGKILL);
}

/*
 * An unexpected exit is a failure: into the Rapid-Fail window (status 78,
 * EX_CONFIG, trips at once).  pending_disable then holds the pool until
 * the 1009 is written.
 */
static void
count_failure(struct worker *w)
{
	struct pool *p = w->pool;
	uint64_t now = loop_now(p->m->loop);
	int st = w->status;
	char how[160];

	failinfo_exit_text(st, how, sizeof(how));
	if (WIFEXITED(st) && WEXITSTATUS(st) == EX_CONFIG) {
		char detail[512] = "";
		const char *last = linering_last(&w->tail);

		snprintf(detail, sizeof(detail),
		    "a worker exited with status 78 (EX_CONFIG: retrying will not help): %s",
		    last != NULL ? last : "(no output)");
		p->pending_disable = true;
		wstrlcpy(p->pending_why, detail, sizeof(p->pending_why));
		rapidfail_record(&p->rf, now, w->pid, detail);
	} else if (rapidfail_record(&p->rf, now, w->pid, how)) {
		p->pending_disable = true;
		snprintf(p->pending_why, sizeof(p->pending_why), "process %d: %s",
		    (int)w->pid, how);
	}
}

/*
 * php-cgi leaves by itself, with status 0, after PHP_FCGI_MAX_REQUESTS
 * requests (weir sets it from recycle_requests).  Such an exit may be that
 * recycle; whether it is depends on what the worker served, which only the
 * front end's report says.  A worker that never became ready served
 * nothing: its exit is never a recycle (no restart loop escapes Rapid-Fail
 * Protection that way).
 */
static bool
maybe_request_limit(const struct worker *w)
{
	const struct conf_pool *cp = w->pool->cp;

	return cp->kind == POOL_KIND_FASTCGI && cp->recycle_requests > 0 &&
	    w->ready_at != 0 && WIFEXITED(w->status) && WEXITSTATUS(w->status) == 0;
}

/*
 * The exit of a worker that may have left at its request limit, decided:
 * it served recycle_requests - 1 or more (the front end stops sending at
 * recycle_requests; one lost in the race still counts) — a recycle, event
 * 1075, no failure.  Returns false when it is an unexpected exit after all.
 */
static bool
request_limit_exit(struct worker *w, uint64_t served)
{
	struct pool *p = w->pool;
	json_t *f;

	if (served + 1 < p->cp->recycle_requests)
		return false;
	p->n_exits[0]++;
	p->n_recycles[1]++;
	f = json_object();
	json_object_set_new(f, "worker", json_integer(w->id));
	json_object_set_new(f, "requests", json_integer((json_int_t)served));
	json_object_set_new(f, "exit", json_string("exit code 0"));
	json_object_set_new(f, "limit", json_string("PHP_FCGI_MAX_REQUESTS"));
	events_emit(1075, EV_INFO, p->name, w->pid, f,
	    "A worker process with process id of '%d' serving application pool '%s' has requested a recycle because the worker process reached its allowed processing request limit.",
	    (int)w->pid, p->name);
	log_info("pool %s: worker %u (pid %d) exited after its request limit (%llu requests)",
	    p->name, w->id, (int)w->pid, (unsigned long long)served);
	return true;
}

/*
 * The front end reported what an exited worker had in flight (r), or did
 * not in time (NULL).  Decide a pending request-limit exit, then whether
 * the end of a worker that had become ready counts (rapidfail_counts()),
 * then write the 1009.
 */
static void
exit_reported(struct worker *w, const struct ctl_worker_report *r)
{
	struct pool *p = w->pool;
	uint64_t served = r != NULL && r->requests > w->requests ? r->requests : w->requests;
	unsigned inflight = r != NULL ? r->ninflight : 0;
	char why[200], how[160];
	bool counted;

	loop_timer_cancel(p->m->loop, &w->report_timer);
	/* what it served since the front end's last CTL_STATS, which skips it now */
	p->requests += served - w->requests;
	w->requests = served;
	counted = rapidfail_counts(pool_worker_proven(w), served, inflight, why,
	    sizeof(why));
	if (w->exit_pending) {
		w->exit_pending = false;
		if (maybe_request_limit(w) && request_limit_exit(w, served)) {
			pool_unlink_worker(w);
			worker_free(w);
			pool_maintain(p);
			return;
		}
		p->failures_total++;
		p->n_exits[1]++;
		if (counted) {
			count_failure(w);
		} else {
			failinfo_exit_text(w->status, how, sizeof(how));
			degraded_death(w, served, how);
		}
		if (!p->pending_disable)
			pool_maintain(p);
	}
	emit_1009(w, r, counted, why);
}

/*
 * waitpid() said the worker's main process ended.  Clean up its tree, tell
 * the front end, and decide: a stop we asked for, a failure already
 * counted, a FastCGI worker at its request limit, or an unexpected exit
 * (1009, maybe 1002).
 */
void
pool_worker_exited(struct worker *w)
{
	struct pool *p = w->pool;
	struct master *m = p->m;
	int st = w->status;
	char how[160];

	poolcg_worker_exited(w);
	worker_cleanup(w);
	loop_timer_cancel(m->loop, &w->stop_timer);
	w->state = W_EXITED;
	pool_send_worker(w, CTL_WORKER_GONE);
	failinfo_exit_text(st, how, sizeof(how));
	for (struct worker *o = p->workers; o != NULL; o = o->next)
		if (o->replaces == w)
			o->replaces = NULL;
	/*
	 * A replacement that died no longer replaces anything: the old worker
	 * is free to be replaced again now (pool_maintain() below), not only
	 * once this one's report is in and it is freed.
	 */
	w->replaces = NULL;
	/* A FastCGI worker we were recycling for its request count left by itself. */
	if (w->recycle_event == 1075 && maybe_request_limit(w))
		w->expect_exit = true;
	if (w->expect_exit && !w->failed) {
		p->n_exits[0]++;
		log_info("pool %s: worker %u (pid %d) stopped: %s", p->name, w->id,
		    (int)w->pid, how);
		pool_unlink_worker(w);
		worker_free(w);
		if (p->state == POOL_STOPPING && p->workers == NULL)
			pool_set_state(p, POOL_STOPPED);
		pool_maintain(p);
		return;
	}
	if (w->failed) {
		p->n_exits[2]++;
		/* Event already written when the failure was detected. */
		log_info("pool %s: worker %u (pid %d) killed after: %s", p->name,
		    w->id, (int)w->pid, w->fail_reason);
		pool_unlink_worker(w);
		worker_free(w);
		if (p->pending_disable)
			pool_trip(p, "rapid-fail");
		else
			pool_maintain(p);
		return;
	}
	/*
	 * Unexpected.  A worker that never became ready counts now; for one
	 * that did, the report decides (and whether it was a request limit).
	 */
	worker_drain_output(w);
	if (w->ready_at != 0) {
		w->exit_pending = true;
	} else {
		p->failures_total++;
		p->n_exits[1]++;
		count_failure(w);
	}
	/* Replace it now, unless the pool is about to be disabled. */
	if (!p->pending_disable)
		pool_maintain(p);
	if (m->fe.pid > 0 && m->fe.hello)
		loop_timer_set(m->loop, &w->report_timer, REPORT_WAIT_MS);
	else
		exit_reported(w, NULL);
}

void
pool_worker_report(struct worker *w, const struct ctl_worker_report *r)
{
	if (w->state == W_EXITED && loop_timer_armed(&w->report_timer))
		exit_reported(w, r);
}

void
pool_report_timeout(void *arg)
{
	struct worker *w = arg;

	/* The front end did not answer: decide with what we have. */
	exit_reported(w, NULL);
}
