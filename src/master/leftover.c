/*
 * leftover.c - end what a master that died left running.
 *
 * The master keeps <state_dir>/processes (procrec.c) up to date: itself,
 * its warden, the front end and every worker, each with its start time.
 * When the master dies without stopping them (SIGKILL, the OOM killer),
 * the records say what was its own:
 *
 *  - its warden (warden.c) ends them the moment the master dies;
 *  - the next master that starts with the same state_dir ends what is
 *    still there, before it binds anything, so nothing of the old run
 *    holds a port, a socket path or a pool's identity any more.
 *
 * A recorded process is ended only while its start time still matches,
 * so a pid the kernel gave to another process since is never touched.  A
 * worker leads its own process group (worker.c), so everything it started
 * is ended with it: SIGTERM to the group, SIGKILL to what is left after
 * LEFTOVER_GRACE_MS.  When the worker itself is gone but its group is not
 * (gunicorn's arbiter got the parent-death SIGKILL, its forked workers
 * did not), the warden ends the group's members: the group number cannot
 * have been reused while its members lived, and the warden acts at once.
 * The next master does not, because by then it cannot tell those members
 * from a new session leader's that got the same number: it names them in
 * the log instead.  Every process ended is named in event 1310.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "master.h"

#define LEFTOVER_GRACE_MS	2000	/* after SIGTERM, before SIGKILL */
#define LEFTOVER_GONE_MS	2000	/* after SIGKILL, for the exits */
#define WARDEN_WAIT_MS		5000	/* a warden still at work: let it finish */

/* One recorded process (and for a worker, its group) being ended. */
struct target {
	const struct procrec *r;
	bool		 group;		/* signal the process group (leader verified) */
	struct procstat	*members;	/* the processes to end, with their start */
	size_t		 n;
	const char	*signal;	/* the last signal it took */
};

static void
add_record(struct procrec **v, size_t *n, size_t *cap, const char *kind, pid_t pid,
    unsigned long long start, const char *pool, const char *command)
{
	struct procrec *r;

	if (pid <= 0 || start == 0)
		return;
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xreallocarray(*v, *cap, sizeof(**v));
	}
	r = &(*v)[(*n)++];
	memset(r, 0, sizeof(*r));
	wstrlcpy(r->kind, kind, sizeof(r->kind));
	r->pid = pid;
	r->start = start;
	wstrlcpy(r->pool, pool != NULL ? pool : "", sizeof(r->pool));
	wstrlcpy(r->command, command, sizeof(r->command));
}

static void
add_workers(struct procrec **v, size_t *n, size_t *cap, const struct pool *p)
{
	for (const struct worker *w = p->workers; w != NULL; w = w->next)
		add_record(v, n, cap, "worker", w->pid, w->start_ticks, p->name,
		    p->cp->command != NULL ? p->cp->command :
		    p->argv != NULL && p->argv[0] != NULL ? p->argv[0] : "-");
}

/*
 * Rewrite the records from what the master runs now.  Called whenever a
 * process starts or ends; a failure is logged once (the run goes on, only
 * the clean-up after a crash is weaker).
 */
void
leftover_record(struct master *m)
{
	static bool warned;
	struct procrec *v = NULL;
	size_t n = 0, cap = 0;
	char err[WEIR_ERRLEN];

	if (m->start_ticks == 0)
		return;
	add_record(&v, &n, &cap, "master", getpid(), m->start_ticks, NULL, "weir");
	add_record(&v, &n, &cap, "warden", m->warden_pid, m->warden_ticks, NULL, "weir");
	add_record(&v, &n, &cap, "frontend", m->fe.pid, m->fe.start_ticks, NULL, "weir");
	for (size_t i = 0; i < m->npools; i++)
		if (m->pools[i] != NULL)
			add_workers(&v, &n, &cap, m->pools[i]);
	for (const struct pool *p = m->retired; p != NULL; p = p->next_retired)
		add_workers(&v, &n, &cap, p);
	if (procrec_write(m->conf->server.state_dir, m->procrec, v, n, err) == -1 && !warned) {
		warned = true;
		log_warnx("process records: %s (a crash of this master may leave workers running)",
		    err);
	}
	free(v);
}

/* A clean exit: nothing of ours is left to end. */
void
leftover_forget(struct master *m)
{
	char err[WEIR_ERRLEN];

	if (procrec_write(m->conf->server.state_dir, m->procrec, NULL, 0, err) == -1)
		log_warnx("process records: %s", err);
	m->start_ticks = 0;	/* and none are written any more */
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
nap(void)
{
	struct timespec ts = { 0, 20 * 1000000L };

	(void)nanosleep(&ts, NULL);	/* EINTR: only sooner */
}

/* Every process now, from /proc. */
static struct procstat *
scan_proc(size_t *np)
{
	struct procstat *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*np = 0;
	if ((d = opendir("/proc")) == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		struct procstat ps;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		if (procrec_stat((pid_t)atoi(de->d_name), &ps) == -1 || ps.state == 'Z')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[n++] = ps;
	}
	closedir(d);
	*np = n;
	return v;
}

/* Add to t the members of group g (session g as well unless `any`). */
static void
group_members(struct target *t, const struct procstat *all, size_t n, pid_t g, bool any)
{
	for (size_t i = 0; i < n; i++) {
		if (all[i].pgrp != g || (!any && all[i].session != g))
			continue;
		t->members = xreallocarray(t->members, t->n + 1, sizeof(*t->members));
		t->members[t->n++] = all[i];
	}
}

/* Decide what of record r is ours to end; false: nothing. */
static bool
find_target(struct target *t, const struct procrec *r, const struct procstat *all,
    size_t n, enum leftover_by by)
{
	memset(t, 0, sizeof(*t));
	t->r = r;
	if (procrec_alive(r->pid, r->start)) {
		if (strcmp(r->kind, "worker") == 0) {
			t->group = true;	/* its group is its tree */
			group_members(t, all, n, r->pid, true);
		} else {
			t->members = xmalloc(sizeof(*t->members));
			if (procrec_stat(r->pid, &t->members[0]) == 0)
				t->n = 1;	/* else it went meanwhile */
		}
		return t->n > 0;
	}
	if (strcmp(r->kind, "worker") != 0)
		return false;
	group_members(t, all, n, r->pid, false);
	if (t->n > 0 && by == LEFTOVER_AT_START) {
		char pids[256] = "";

		for (size_t i = 0; i < t->n; i++) {
			size_t k = strlen(pids);

			snprintf(pids + k, sizeof(pids) - k, "%s%d", i ? ", " : "",
			    (int)t->members[i].pid);
		}
		log_warnx("pool %s: worker %d of an earlier master is gone, but processes of its group are not (%s): left alone, their group number may have been reused",
		    r->pool, (int)r->pid, pids);
		free(t->members);
		t->members = NULL;
		t->n = 0;
	}
	return t->n > 0;
}

static void
signal_target(struct target *t, int sig, const char *name)
{
	bool sent = false;

	if (t->group && kill(-t->r->pid, sig) == 0)
		sent = true;
	for (size_t i = 0; i < t->n && !sent; i++) {
		/* ESRCH: it went by itself meanwhile */
		if (procrec_alive(t->members[i].pid, t->members[i].start))
			(void)kill(t->members[i].pid, sig);
	}
	t->signal = name;
}

static bool
target_gone(const struct target *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (procrec_alive(t->members[i].pid, t->members[i].start))
			return false;
	return true;
}

static bool
all_gone(const struct target *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!target_gone(&v[i]))
			return false;
	return true;
}

static void
wait_gone(const struct target *v, size_t n, uint64_t ms)
{
	uint64_t end = now_ms() + ms;

	while (!all_gone(v, n) && now_ms() < end)
		nap();
}

static void
emit_1310(const struct target *t, enum leftover_by by)
{
	const struct procrec *r = t->r;
	json_t *f = json_object(), *pids = json_array();
	const char *how = by == LEFTOVER_WARDEN ? "by its warden when the master died" :
	    "when weir started again";
	bool worker = strcmp(r->kind, "worker") == 0;

	for (size_t i = 0; i < t->n; i++)
		json_array_append_new(pids, json_integer(t->members[i].pid));
	json_object_set_new(f, "kind", json_string(r->kind));
	json_object_set_new(f, "command", json_string(r->command));
	json_object_set_new(f, "ended", pids);
	json_object_set_new(f, "signal", json_string(t->signal));
	json_object_set_new(f, "by", json_string(by == LEFTOVER_WARDEN ? "warden" : "start"));
	if (worker) {
		/* false: the worker was gone, its group's processes were not */
		json_object_set_new(f, "leader_alive", json_boolean(t->group));
		events_emit(1310, EV_WARNING, r->pool, r->pid, f,
		    "A worker process of application pool '%s' that a weir master left running when it ended without stopping it was ended %s (%s). The process id was '%d', the command '%s', %zu process%s ended.",
		    r->pool, how, t->signal, (int)r->pid, r->command, t->n, t->n == 1 ? "" : "es");
	} else {
		events_emit(1310, EV_WARNING, NULL, r->pid, f,
		    "The %s process that a weir master left running when it ended without stopping it was ended %s (%s). The process id was '%d'.",
		    strcmp(r->kind, "frontend") == 0 ? "front end" : r->kind, how, t->signal,
		    (int)r->pid);
	}
}

/* Wait (bounded) for a warden of the dead master that is still ending things. */
static void
wait_warden(const struct procrec *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t end = now_ms() + WARDEN_WAIT_MS;

		if (strcmp(v[i].kind, "warden") != 0 || v[i].pid == getpid())
			continue;
		while (procrec_alive(v[i].pid, v[i].start) && now_ms() < end)
			nap();
	}
}

/*
 * End what the records under state_dir say a dead master left running,
 * and remove the records.  Returns how many recorded processes were
 * ended (each with event 1310), 0 when nothing was left, -1 when the
 * records belong to a master that is still running (left alone).
 */
int
leftover_end(const char *state_dir, const char *file, enum leftover_by by)
{
	struct procrec *v;
	struct procstat *all = NULL;
	struct target *t = NULL;
	size_t n, nall = 0, nt = 0;
	char err[WEIR_ERRLEN];
	int ended = 0;

	if (procrec_read(state_dir, file, &v, &n, err) == -1) {
		log_warnx("process records: %s", err);
		return 0;
	}
	for (size_t i = 0; i < n && by == LEFTOVER_AT_START; i++) {
		if (strcmp(v[i].kind, "master") == 0 && procrec_alive(v[i].pid, v[i].start)) {
			log_warnx("%s/%s: the master that wrote it (pid %d) is running: its processes are left alone",
			    state_dir, file, (int)v[i].pid);
			free(v);
			return -1;
		}
	}
	if (by == LEFTOVER_AT_START && n > 0) {
		wait_warden(v, n);
		free(v);
		/* it removes the records once done: whatever is left is ours */
		if (procrec_read(state_dir, file, &v, &n, err) == -1)
			n = 0;
	}
	if (n > 0) {
		all = scan_proc(&nall);
		t = xcalloc(n, sizeof(*t));
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].kind, "worker") != 0 && strcmp(v[i].kind, "frontend") != 0)
			continue;
		if (find_target(&t[nt], &v[i], all, nall, by))
			signal_target(&t[nt++], SIGTERM, "SIGTERM");
		else
			free(t[nt].members);	/* nothing of it left */
	}
	if (nt > 0) {
		wait_gone(t, nt, LEFTOVER_GRACE_MS);
		for (size_t i = 0; i < nt; i++)
			if (!target_gone(&t[i]))
				signal_target(&t[i], SIGKILL, "SIGKILL");
		wait_gone(t, nt, LEFTOVER_GONE_MS);
	}
	for (size_t i = 0; i < nt; i++) {
		emit_1310(&t[i], by);
		free(t[i].members);
		ended++;
	}
	if (n > 0 && procrec_write(state_dir, file, NULL, 0, err) == -1)
		log_warnx("process records: %s", err);
	free(t);
	free(all);
	free(v);
	return ended;
}
