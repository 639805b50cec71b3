/*
 * worker.c - start a worker process the systemd socket-activation way, and
 * end its whole process tree (its output is poollog.c's).
 *
 * For each worker the master creates a listening Unix socket under
 * state_dir, forks, and in the child: starts a new session (so the worker
 * leads its own process group and everything it starts can be killed as
 * one), puts the socket on fd 3 (kind = http, with LISTEN_FDS=1, LISTEN_PID,
 * LISTEN_FDNAMES) or fd 0 (kind = fastcgi), sends stdout and stderr into a
 * pipe the master reads, joins the pool's cgroup (poolcg.c), applies
 * limits, filesystem isolation (its own mount namespace:
 * worker_isolate_fs()) and working directory, takes the pool's identity and
 * gives up every privilege (worker_drop_privileges()), closes every other
 * fd and execs the command (no shell).  An exec failure comes back through
 * a close-on-exec pipe, so it is reported as such (event 1059) instead of
 * looking like a crash.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "rc.h"
#include "log.h"
#include "privs.h"
#include "util.h"
#include "master.h"

#define WORKER_BACKLOG	1024

extern char **environ;

/* Create, bind and listen on the worker's socket; the front end connects. */
static int
make_socket(struct worker *w, char *err)
{
	struct master *m = w->pool->m;
	struct sockaddr_un sun;
	int fd, n;

	n = snprintf(w->path, sizeof(w->path), "%s/w%u.sock",
	    m->conf->server.state_dir, w->id);
	if (n < 0 || (size_t)n >= sizeof(w->path)) {
		snprintf(err, WEIR_ERRLEN, "socket path under %s is longer than %zu bytes",
		    m->conf->server.state_dir, sizeof(w->path) - 1);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, w->path, (size_t)n + 1);
	/* health probes connect here, as the front end does */
	memcpy(&w->addr, &sun, sizeof(sun));
	w->addrlen = (socklen_t)sizeof(sun);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, WEIR_ERRLEN, "socket: %s", strerror(errno));
		return -1;
	}
	/* A stale file from an earlier run would make bind fail. */
	(void)unlink(w->path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, WORKER_BACKLOG) == -1) {
		snprintf(err, WEIR_ERRLEN, "%s: %s", w->path, strerror(errno));
		close(fd);
		return -1;
	}
	/* Only the front end (and root) may connect to a worker directly. */
	if (chmod(w->path, 0600) == -1 ||
	    (m->fe_id.drop && chown(w->path, m->fe_id.uid, m->fe_id.gid) == -1)) {
		snprintf(err, WEIR_ERRLEN, "%s: %s", w->path, strerror(errno));
		close(fd);
		(void)unlink(w->path);
		return -1;
	}
	return fd;
}

static void
set_limit(int res, uint64_t v)
{
	struct rlimit rl;

	rl.rlim_cur = rl.rlim_max = v == UINT64_MAX - 1 ? RLIM_INFINITY : (rlim_t)v;
	/* The worker still runs if a limit cannot be set; the parent logs nothing
	 * here (we are in the child), so be strict only about lowering. */
	if (setrlimit(res, &rl) == -1) {
		rl.rlim_max = RLIM_INFINITY;
		if (getrlimit(res, &rl) == 0) {
			rl.rlim_cur = (rlim_t)v < rl.rlim_max ? (rlim_t)v : rl.rlim_max;
			(void)setrlimit(res, &rl);
		}
	}
}

/* Close every fd above `keep` (close_range, or /proc/self/fd as fallback). */
static void
close_from(int first)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) == 0)
		return;
#endif
	for (int fd = first; fd < 65536; fd++)
		(void)close(fd);
}

/*
 * Filesystem isolation of the worker (private_tmp, protect_system), in the
 * child before it changes identity: mounts need the master's privileges.
 * The child unshares its own mount namespace (each worker has one; what
 * the pool's workers share, the private /tmp, is a directory fsiso.c made)
 * and, in order:
 *  1. makes every mount a slave, so nothing done here reaches the host;
 *  2. binds each read_write_path onto itself (with its submounts): its own
 *     mount, which step 4 leaves writable;
 *  3. private_tmp: binds the pool's directories over /tmp and /var/tmp
 *     (nosuid, nodev), without what was mounted below the real ones;
 *  4. protect_system: remounts every mount read-only (bind remount, the
 *     mount's own nosuid/nodev/noexec/atime kept), walking mountinfo for
 *     the submounts, except those of steps 2-3 and the API filesystems
 *     /proc, /sys and /dev (as systemd's ProtectSystem=strict does);
 *  5. enters its working directory again, through the new mounts.
 * Returns 0, or -1 with msg saying which step failed and why: the launch
 * fails (event 1059) rather than run a worker less isolated than asked.
 */
static int
worker_isolate_fs(const struct worker *w, char *msg, size_t len)
{
	const struct conf_pool *cp = w->pool->cp;
	const char *sd = w->pool->m->conf->server.state_dir;
	static const char *const api[] = { "/proc", "/sys", "/dev" };
	static const char *const tmps[2][2] = { { "tmp", "/tmp" }, { "var-tmp", "/var/tmp" } };
	/*
	 * What stays writable, as mountinfo will name it: mount(2) follows
	 * symlinks, so a path given as /var/run is mounted at /run.
	 */
	size_t nkeep = 0, nrw = cp->protect_system ? cp->read_write_paths.n : 0;
	char **keep = xcalloc(nrw + nitems(tmps), sizeof(char *));
	char path[PATH_MAX], *line = NULL;
	int tfd[2] = { -1, -1 }, rc = -1;
	size_t cap = 0;
	FILE *f = NULL;

	if (!cp->private_tmp && !cp->protect_system) {
		free(keep);
		return 0;
	}
	/* 1 */
	if (unshare(CLONE_NEWNS) == -1) {
		snprintf(msg, len, "private_tmp/protect_system: unshare(CLONE_NEWNS): %s (a mount namespace needs weir to run as root on a kernel that allows it)",
		    strerror(errno));
		goto out;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) == -1) {
		snprintf(msg, len, "private_tmp/protect_system: make / a slave mount: %s",
		    strerror(errno));
		goto out;
	}
	/* 2 */
	for (size_t i = 0; i < nrw; i++) {
		const char *rw = cp->read_write_paths.v[i];

		if ((keep[nkeep] = realpath(rw, NULL)) == NULL ||
		    mount(keep[nkeep], keep[nkeep], NULL, MS_BIND | MS_REC, NULL) == -1) {
			snprintf(msg, len, "protect_system: read_write_paths %s: %s", rw,
			    strerror(errno));
			goto out;
		}
		nkeep++;
	}
	/*
	 * 3: both directories opened first, bound through their fds: the
	 * first bind may hide the path of the second (a state_dir under /tmp)
	 */
	for (size_t i = 0; cp->private_tmp && i < nitems(tmps); i++) {
		if (fsiso_tmp_path(sd, w->pool->name, tmps[i][0], path, sizeof(path)) == -1 ||
		    (tfd[i] = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
			snprintf(msg, len, "private_tmp: %s: %s", path, strerror(errno));
			goto out;
		}
	}
	for (size_t i = 0; cp->private_tmp && i < nitems(tmps); i++) {
		if ((keep[nkeep] = realpath(tmps[i][1], NULL)) == NULL && errno == ENOENT)
			continue;	/* no /var/tmp here: nothing to hide */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", tfd[i]);
		if (keep[nkeep] == NULL ||
		    mount(path, keep[nkeep], NULL, MS_BIND, NULL) == -1 ||
		    mount(NULL, keep[nkeep], NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV,
		    NULL) == -1) {
			snprintf(msg, len, "private_tmp: bind the pool's %s over %s: %s",
			    tmps[i][0], tmps[i][1], strerror(errno));
			goto out;
		}
		nkeep++;
	}
	/* 4 */
	if (cp->protect_system) {
		if ((f = fopen("/proc/self/mountinfo", "re")) == NULL) {
			snprintf(msg, len, "protect_system: /proc/self/mountinfo: %s",
			    strerror(errno));
			goto out;
		}
		while (getline(&line, &cap, f) != -1) {
			unsigned long flags;
			bool skip = false;
			char *mp;

			if (fsiso_mountinfo_line(line, &mp, &flags) == -1)
				continue;
			for (size_t i = 0; i < nitems(api); i++)
				skip |= fsiso_path_within(mp, api[i]);
			for (size_t i = 0; i < nkeep; i++)
				skip |= fsiso_path_within(mp, keep[i]);
			if (skip || (flags & MS_RDONLY))
				continue;
			if (mount(NULL, mp, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | flags,
			    NULL) == -1 && errno != ENOENT) {
				/* ENOENT: a mount point deleted since ("/x\040(deleted)") */
				snprintf(msg, len, "protect_system: remount %s read-only: %s", mp,
				    strerror(errno));
				goto out;
			}
		}
	}
	/* 5: the old cwd still points into the mounts as they were */
	if (getcwd(path, sizeof(path)) != NULL && chdir(path) == -1) {
		/* the old cwd is as good as this one: ignored */
	}
	rc = 0;
out:
	/* the fds are close-on-exec; the child execs or exits soon after */
	for (size_t i = 0; i < nitems(tfd); i++)
		if (tfd[i] != -1)
			(void)close(tfd[i]);
	if (f != NULL)
		fclose(f);
	free(line);
	for (size_t i = 0; i < nkeep; i++)
		free(keep[i]);
	free(keep);
	return rc;
}

/*
 * In the child: the pool's identity (pool.c's pool_identity()), no
 * capabilities, no way to gain any (NO_NEW_PRIVS: a setuid binary the
 * worker runs stays the worker's uid).  Not started as root, the uid stays
 * weir's and only what an unprivileged process can drop goes.  Fills err.
 */
static int
worker_drop_privileges(const struct pool *p, char *err)
{
	struct privs pv = {
		.change_id = p->set_identity, .uid = p->uid, .gid = p->gid,
		.groups = p->groups, .ngroups = p->ngroups
	};

	return privs_drop(&pv, err);
}

/*
 * In the child, after fork: never returns.  Any failure is reported through
 * errpipe as "step: errno" and the child exits 127.
 */
static void __attribute__((noreturn))
child(struct worker *w, pid_t master, int outw, int errpipe, int nullfd)
{
	const struct conf_pool *cp = w->pool->cp;
	struct pool *p = w->pool;
	char buf[64], msg[256];
	const char *step;
	sigset_t none;
	int target = cp->kind == POOL_KIND_FASTCGI ? 0 : 3;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	step = "setsid";
	if (setsid() == -1)
		goto fail;

	/*
	 * fds: 0 stdin (/dev/null, or the socket for FastCGI), 1 and 2 the
	 * output pipe, 3 the socket (http), 4 the exec-status pipe (cloexec).
	 * Move everything high first so no dup2 overwrites a source.
	 */
	step = "fcntl";
	{
		int s = fcntl(w->sock, F_DUPFD_CLOEXEC, 10);
		int o = fcntl(outw, F_DUPFD_CLOEXEC, 10);
		int z = fcntl(nullfd, F_DUPFD_CLOEXEC, 10);
		int e = fcntl(errpipe, F_DUPFD_CLOEXEC, 10);

		if (s == -1 || o == -1 || z == -1 || e == -1)
			goto fail;
		errpipe = e;
		step = "dup2";
		if (dup2(target == 3 ? z : s, 0) == -1 || dup2(o, 1) == -1 ||
		    dup2(o, 2) == -1 || (target == 3 && dup2(s, 3) == -1))
			goto fail;
		if (target != 3 && dup2(z, 3) == -1)
			goto fail;
		if (dup2(e, 4) == -1 || fcntl(4, F_SETFD, FD_CLOEXEC) == -1)
			goto fail;
		errpipe = 4;
		close_from(5);
		if (target != 3)
			(void)close(3);
	}
	if (w->notify != -1 && w->notify_path[0] != '\0')
		setenv("NOTIFY_SOCKET", w->notify_path, 1);
	else
		unsetenv("NOTIFY_SOCKET");

	/* the pool's cgroup: its limits and counters take in all it starts */
	step = "cgroup (joining the pool's)";
	if (cgroup_enter(&p->cg) == -1)
		goto fail;
	if (cp->limit_nofile)
		set_limit(RLIMIT_NOFILE, cp->limit_nofile);
	if (cp->limit_core != UINT64_MAX)
		set_limit(RLIMIT_CORE, cp->limit_core);
	if (cp->limit_as)
		set_limit(RLIMIT_AS, cp->limit_as);
	if (worker_isolate_fs(w, msg, sizeof(msg)) == -1) {
		(void)!write(errpipe, msg, strlen(msg));
		_exit(127);
	}
	step = "chdir (workdir)";
	if (cp->workdir != NULL && chdir(cp->workdir) == -1)
		goto fail;
	if (worker_drop_privileges(p, msg) == -1) {
		(void)!write(errpipe, msg, strlen(msg));
		_exit(127);
	}
	/*
	 * If the master dies, its worker goes with it.  Only now: the kernel
	 * clears the parent-death signal when the credentials change.  A
	 * master that died before this line is seen by getppid() (the child
	 * was reparented): nobody would supervise this worker, so it does not
	 * start.  The worker's own children get nothing from this; the
	 * warden (warden.c) ends its process group.
	 */
	step = "prctl(PR_SET_PDEATHSIG)";
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		goto fail;
	if (getppid() != master)
		_exit(127);
	for (size_t i = 0; i < cp->env.n; i++) {
		step = "putenv";
		if (putenv(cp->env.v[i]) != 0)
			goto fail;
	}
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	if (target == 3) {
		snprintf(buf, sizeof(buf), "%d", (int)getpid());
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_PID", buf, 1);
		setenv("LISTEN_FDNAMES", p->name, 1);
	}
	setenv("WEIR_POOL", p->name, 1);
	snprintf(buf, sizeof(buf), "%u", w->id);
	setenv("WEIR_WORKER", buf, 1);
	if (cp->kind == POOL_KIND_FASTCGI && cp->recycle_requests > 0 &&
	    getenv("PHP_FCGI_MAX_REQUESTS") == NULL) {
		snprintf(buf, sizeof(buf), "%u", cp->recycle_requests);
		setenv("PHP_FCGI_MAX_REQUESTS", buf, 1);
	} else if (cp->kind == POOL_KIND_FASTCGI &&
	    getenv("PHP_FCGI_MAX_REQUESTS") == NULL) {
		setenv("PHP_FCGI_MAX_REQUESTS", "0", 1);
	}
	step = "exec";
	execvp(p->argv[0], p->argv);
fail:
	{
		int e = errno;
		int n = snprintf(msg, sizeof(msg), "%s: %s", step, strerror(e));

		(void)!write(errpipe, msg, (size_t)n);
	}
	_exit(127);
}

/*
 * Start a worker for pool p.  Returns it (state W_STARTING, in the pool's
 * list) or NULL with err saying why; an exec failure is reported as
 * "exec: ..." so the caller can raise event 1059.
 */
struct worker *
worker_spawn(struct pool *p, char *err)
{
	struct master *m = p->m;
	struct worker *w = xcalloc(1, sizeof(*w));
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, nullfd = -1;
	char msg[256];
	ssize_t n;
	pid_t pid, self = getpid();

	w->pool = p;
	w->id = ++m->next_worker_id;
	w->generation = m->generation;
	w->cp_gen = p->cp_gen;
	w->ver = p->ver;
	w->sock = w->out = w->notify = -1;
	loop_timer_init(&w->start_timer, NULL, w);
	loop_timer_init(&w->stop_timer, NULL, w);
	loop_timer_init(&w->ping_timer, NULL, w);
	loop_timer_init(&w->recycle_timer, NULL, w);
	loop_timer_init(&w->report_timer, NULL, w);
	loop_timer_init(&w->limit_timer, NULL, w);
	if ((w->sock = make_socket(w, err)) == -1)
		goto fail;
	if (p->cp->notify && notify_open(w, err) == -1)
		goto fail;
	if (p->cp->private_tmp && fsiso_tmp_prepare(p, err) == -1)
		goto fail;
	if (pipe2(outp, O_CLOEXEC) == -1 || pipe2(errp, O_CLOEXEC) == -1 ||
	    (nullfd = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1) {
		snprintf(err, WEIR_ERRLEN, "pipe: %s", strerror(errno));
		goto fail;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, WEIR_ERRLEN, "fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0)
		child(w, self, outp[1], errp[1], nullfd);
	/*
	 * Recorded before it execs, so a master that dies from here on
	 * leaves a record the warden or the next master can act on.
	 */
	w->pid = pid;
	w->start_ticks = procrec_start_ticks(pid);
	w->next = p->workers;
	p->workers = w;
	leftover_record(m);
	close(outp[1]);
	close(errp[1]);
	close(nullfd);
	nullfd = -1;
	w->out = outp[0];
	outp[0] = outp[1] = errp[1] = -1;
	/* Wait for exec (EOF) or a failure message: the child does little. */
	do {
		n = read(errp[0], msg, sizeof(msg) - 1);
	} while (n == -1 && errno == EINTR);
	close(errp[0]);
	errp[0] = -1;
	w->started = loop_update_time(m->loop);
	w->started_wall = (int64_t)time(NULL);
	if (fd_nonblock(w->out) == -1 ||
	    loop_io_add(m->loop, &w->out_io, w->out, LOOP_READ, poollog_on_output, w) == -1)
		log_warn("pool %s: worker output", p->name);
	if (n > 0) {
		msg[n] = '\0';
		snprintf(err, WEIR_ERRLEN, "%s", msg);
		/* The child exits 127; SIGCHLD reaps it as an expected exit. */
		w->expect_exit = true;
		w->failed = true;
		w->state = W_STOPPING;
		return NULL;
	}
	w->state = W_STARTING;
	return w;
fail:
	for (int i = 0; i < 2; i++) {
		if (outp[i] != -1)
			close(outp[i]);
		if (errp[i] != -1)
			close(errp[i]);
	}
	if (nullfd != -1)
		close(nullfd);
	worker_cleanup(w);
	worker_free(w);
	return NULL;
}

/* Signal the worker's whole process group. */
void
worker_signal(struct worker *w, int sig)
{
	if (w->pid <= 0)
		return;
	if (kill(-w->pid, sig) == -1 && errno == ESRCH)
		(void)kill(w->pid, sig);	/* not (yet) a group leader */
}

/*
 * The worker is gone or never started: kill whatever of its tree is left,
 * close its socket (connections waiting in its backlog are reset and the
 * front end retries them) and its other fds, stop its timers.
 */
void
worker_cleanup(struct worker *w)
{
	struct loop *l = w->pool->m->loop;

	if (w->pid > 0) {
		(void)kill(-w->pid, SIGKILL);
		if (w->start_ticks != 0) {
			/* its tree is gone (or going): no longer a record to act on */
			w->start_ticks = 0;
			leftover_record(w->pool->m);
		}
	}
	ping_cancel(w);
	loop_timer_cancel(l, &w->start_timer);
	loop_timer_cancel(l, &w->stop_timer);
	loop_timer_cancel(l, &w->ping_timer);
	loop_timer_cancel(l, &w->recycle_timer);
	loop_timer_cancel(l, &w->limit_timer);
	if (w->sock != -1) {
		close(w->sock);
		w->sock = -1;
		(void)unlink(w->path);
	}
	if (w->notify != -1) {
		loop_io_del(l, &w->notify_io);
		close(w->notify);
		w->notify = -1;
		(void)unlink(w->notify_path);
	}
	worker_drain_output(w);
	if (w->out != -1) {
		loop_io_del(l, &w->out_io);
		close(w->out);
		w->out = -1;
	}
}

static void
free_cb(void *arg)
{
	struct worker *w = arg;

	linering_clear(&w->tail);
	free(w);
}

/*
 * Free a worker that is out of its pool's list and cleaned up.  The memory
 * waits for the end of the loop's batch: a SIGCHLD and its output pipe
 * (whose loop_io lives in the worker) can be in the same batch.
 */
void
worker_free(struct worker *w)
{
	struct loop *l = w->pool->m->loop;

	loop_timer_cancel(l, &w->report_timer);
	loop_timer_cancel(l, &w->limit_timer);
	if (loop_defer(l, free_cb, w) == -1)
		free_cb(w);
}

/*
 * Resident private memory of the worker's process tree (every process in
 * its process group): Private_Clean + Private_Dirty from smaps_rollup.
 */
uint64_t
worker_private_memory(const struct worker *w)
{
	uint64_t total = 0;
	struct dirent *de;
	DIR *d;

	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[300], line[256];
		long pgrp = -1;
		FILE *f;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(line, sizeof(line), f) != NULL) {
			/* pgrp is the 3rd field after the parenthesised comm */
			const char *rp = strrchr(line, ')');

			if (rp != NULL)
				sscanf(rp + 2, "%*c %*d %ld", &pgrp);
		}
		fclose(f);
		if (pgrp != w->pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/smaps_rollup", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL) {
			unsigned long long kb;

			if (sscanf(line, "Private_Clean: %llu kB", &kb) == 1 ||
			    sscanf(line, "Private_Dirty: %llu kB", &kb) == 1)
				total += kb * 1024;
		}
		fclose(f);
	}
	closedir(d);
	return total;
}
