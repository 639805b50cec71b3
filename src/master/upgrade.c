/*
 * upgrade.c - `weir upgrade`, POST /upgrade and SIGUSR2: the running
 * master replaces its whole generation with a new weir binary, or leaves
 * everything as it is.  This file is the old master's side; handover.c is
 * the new master's.
 *
 * 1. The new install's own `weir verify --json` runs first: a component
 *    that disagrees with its MANIFEST refuses the upgrade (event 1300
 *    naming the files) before anything is started.
 * 2. The new binary is started as our child, `weir run -c CONF
 *    --upgrade-from FD`, FD one end of a socketpair.  Over it go the
 *    listening sockets themselves (the same sockets: the kernel's accept
 *    queues are shared, so no connection is refused while the generations
 *    overlap), the admin socket, the TLS session ticket keys and the name
 *    of the process records file it must not use.
 * 3. It starts its front end and its pools overlapped with ours; its front
 *    end holds the sockets without accepting (fe_start.hold_accept), so a
 *    new generation that fails never answers a request, and no old master
 *    ever works with a new front end.  Once its front end said hello and
 *    every start_mode = always pool is ready it says CTL_UPG_READY; we
 *    answer CTL_UPG_COMMIT (its front end starts accepting, it writes the
 *    pid file and serves the admin API from then on; connections arriving
 *    in between wait in the shared accept queues), tell systemd its pid (MAINPID=),
 *    and stop gracefully: our front end stops accepting, finishes what it
 *    has in flight (keep-alive connections are closed after their current
 *    response), our workers stop, we exit.
 * 4. If it says CTL_UPG_FAILED, exits, or is not ready within the limit
 *    (the longest startup_time_limit of an always pool + UPGRADE_MARGIN_MS),
 *    it is stopped (SIGTERM: it stops its own front end and workers;
 *    SIGKILL after UPGRADE_KILL_MS), reaped, and one event 1342 says what
 *    failed; our generation never stopped serving.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "master.h"

#define UPGRADE_MARGIN_MS	30000	/* beyond startup_time_limit: front end, exec, handshake */
#define UPGRADE_KILL_MS		10000	/* after SIGTERM to a failed new master, SIGKILL */
#define VERIFY_TIME_MS		20000	/* `NEW verify` hashes every component */
#define VERIFY_OUT_MAX		(1024 * 1024)

enum upg_phase {
	UPG_STARTING = 0,	/* the new master is starting */
	UPG_COMMITTED,		/* it serves; we drain and exit */
	UPG_ROLLING_BACK	/* it failed: stopping it */
};

struct upgrade {
	pid_t		 pid;		/* the new master */
	int		 sock;		/* our end of the socketpair */
	struct loop_io	 io;
	struct loop_timer timer;	/* ready limit, then the SIGKILL delay */
	int		 phase;		/* enum upg_phase */
	char		 binary[4096];
	char		 why[2048];	/* what failed (rollback) */
	char		 version[32];	/* what the new master said it is */
	char		 build[64];
	uint64_t	 started;	/* monotonic ms */
};

/*
 * Run `BIN verify --json` and read its verdict.  Returns 0 when it passed,
 * 1 when it found problems (*bad: the components that failed, owned by the
 * caller), -1 when it could not be run (msg says why).
 */
static int
run_verify(const char *bin, json_t **bad, char *msg, size_t msgsz)
{
	char *out = xmalloc(VERIFY_OUT_MAX + 1);
	size_t len = 0;
	int p[2], status = 0, rc = -1;
	uint64_t end = mono_ms() + VERIFY_TIME_MS;
	pid_t pid;
	json_t *j, *c;
	size_t i;

	*bad = NULL;
	if (pipe2(p, O_CLOEXEC) == -1) {
		snprintf(msg, msgsz, "pipe: %s", strerror(errno));
		free(out);
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(msg, msgsz, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		free(out);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(p[1], STDOUT_FILENO) == -1)
			_exit(127);
		execl(bin, bin, "verify", "--json", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	/*
	 * The master's loop waits meanwhile: verify reads a few files and
	 * is bounded by VERIFY_TIME_MS; the front end and the workers serve
	 * on their own.
	 */
	for (;;) {
		struct pollfd pfd = { p[0], POLLIN, 0 };
		uint64_t now = mono_ms();
		ssize_t r;

		if (now >= end || poll(&pfd, 1, (int)(end - now)) == 0) {
			(void)kill(pid, SIGKILL);	/* it is ours and overdue */
			snprintf(msg, msgsz, "%s verify did not finish in %ds", bin,
			    VERIFY_TIME_MS / 1000);
			len = 0;
			break;
		}
		r = read(p[0], out + len, VERIFY_OUT_MAX - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0 || (len += (size_t)r) == VERIFY_OUT_MAX)
			break;
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	out[len] = '\0';
	if (len == 0) {
		if (msg[0] == '\0')
			snprintf(msg, msgsz, "%s verify: no answer (exit %d): not a weir binary?",
			    bin, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		free(out);
		return -1;
	}
	if ((j = json_loads(out, 0, NULL)) == NULL) {
		snprintf(msg, msgsz, "%s verify --json: output is not JSON", bin);
		free(out);
		return -1;
	}
	free(out);
	if (json_is_true(json_object_get(j, "ok")) && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0) {
		json_decref(j);
		return 0;
	}
	*bad = json_array();
	json_array_foreach(json_object_get(j, "components"), i, c)
		if (!json_is_true(json_object_get(c, "ok")))
			json_array_append(*bad, c);
	if (json_array_size(*bad) == 0 && json_object_get(j, "error") != NULL)
		json_array_append_new(*bad, json_pack("{s:O?, s:O?}", "file",
		    json_object_get(j, "manifest"), "problem", json_object_get(j, "error")));
	rc = 1;
	json_decref(j);
	return rc;
}

/* Event 1300 for a new install that disagrees with its MANIFEST. */
static void
refuse(const char *bin, json_t *bad, char *msg, size_t msgsz)
{
	char files[1024] = "";
	size_t n = 0, i;
	json_t *c;

	json_array_foreach(bad, i, c) {
		const char *f = json_string_value(json_object_get(c, "file"));
		const char *p = json_string_value(json_object_get(c, "problem"));

		n += (size_t)snprintf(files + n, n < sizeof(files) ? sizeof(files) - n : 0,
		    "%s%s (%s)", i > 0 ? ", " : "", f != NULL ? f : "?", p != NULL ? p : "?");
		if (n >= sizeof(files))
			break;
	}
	snprintf(msg, msgsz, "upgrade refused: the new install's components do not match its MANIFEST: %s",
	    files);
	events_emit(1300, EV_ERROR, NULL, 0, json_pack("{s:s, s:s, s:o}", "upgrade", "refused",
	    "binary", bin, "components", bad),
	    "Upgrade to %s refused: its components do not match its MANIFEST: %s. Nothing was changed.",
	    bin, files);
}

/* A pool's Rapid-Fail window, back-off and hold, for the new master. */
static void
pool_state_msg(const struct pool *p, uint64_t now, struct ctl_upg_pool *u)
{
	size_t first = p->rf.n > CTL_UPG_FAILS ? p->rf.n - CTL_UPG_FAILS : 0;

	memset(u, 0, sizeof(*u));
	wstrlcpy(u->name, p->name, sizeof(u->name));
	u->state = (uint32_t)p->state;
	u->backoff_ms = p->backoff_ms;
	u->retry_in_ms = p->retry_at > now ? p->retry_at - now : 0;
	wstrlcpy(u->reason, p->reason, sizeof(u->reason));
	wstrlcpy(u->detail, p->detail, sizeof(u->detail));
	for (size_t i = first; i < p->rf.n; i++, u->nfail++) {
		u->fail[u->nfail].when = p->rf.v[i].when;
		u->fail[u->nfail].served = p->rf.v[i].served;
		u->fail[u->nfail].pid = p->rf.v[i].pid;
		wstrlcpy(u->fail[u->nfail].reason, p->rf.v[i].reason,
		    sizeof(u->fail[u->nfail].reason));
	}
}

/* Hand the new master what must survive; it reads these before anything else. */
static int
send_state(struct master *m, int fd, char *err)
{
	struct ctl_upg_state st;
	int afds[2];
	int nafd;

	for (size_t i = 0; i < m->lis.n; i++) {
		struct ctl_upg_listener l;

		memset(&l, 0, sizeof(l));
		l.ss = m->lis.v[i].ss;
		l.sslen = m->lis.v[i].sslen;
		if (ctl_send(fd, CTL_UPG_LISTENER, &l, sizeof(l), m->lis.v[i].fds,
		    (int)m->lis.v[i].nfds) == -1) {
			snprintf(err, WEIR_ERRLEN, "sending the listening sockets: %s", strerror(errno));
			return -1;
		}
	}
	for (size_t i = 0; i < m->npools; i++) {
		struct ctl_upg_pool *pm = xmalloc(sizeof(*pm));
		int r;

		pool_state_msg(m->pools[i], loop_now(m->loop), pm);
		r = ctl_send(fd, CTL_UPG_POOL, pm, sizeof(*pm), NULL, 0);
		free(pm);
		if (r == -1) {
			snprintf(err, WEIR_ERRLEN, "sending the pools' state: %s", strerror(errno));
			return -1;
		}
	}
	memset(&st, 0, sizeof(st));
	st.tls_keys = m->tls_keys;
	/* worker socket names (wID.sock) ours will never reach */
	st.first_worker_id = m->next_worker_id + UPGRADE_ID_GAP;
	wstrlcpy(st.procrec, m->procrec, sizeof(st.procrec));
	if (m->cg.mode == CGROUP_V2 && m->cg.moved)
		wstrlcpy(st.cg_own, m->cg.own[CG_MEMORY][0] ? m->cg.own[CG_MEMORY] :
		    m->cg.own[CG_CPU][0] ? m->cg.own[CG_CPU] : m->cg.own[CG_PIDS],
		    sizeof(st.cg_own));
	nafd = admin_fds(m, afds);
	st.admin_tcp = nafd > 1;
	if (ctl_send(fd, CTL_UPG_STATE, &st, sizeof(st), afds, nafd) == -1) {
		snprintf(err, WEIR_ERRLEN, "sending the state: %s", strerror(errno));
		explicit_bzero(&st, sizeof(st));
		return -1;
	}
	explicit_bzero(&st, sizeof(st));
	return 0;
}

static void	on_msg(void *arg, uint32_t events);
static void	on_timer(void *arg);

/* Fork and exec the new master with its end of the socketpair. */
static pid_t
spawn(struct master *m, const char *bin, int *sock, char *err)
{
	int sp[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		snprintf(err, WEIR_ERRLEN, "socketpair: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, WEIR_ERRLEN, "fork: %s", strerror(errno));
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	if (pid == 0) {
		char fdbuf[16];
		sigset_t none;

		/* the master's signals come through a signalfd: unblock for the new one */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (fcntl(sp[1], F_SETFD, 0) == -1)
			_exit(127);
		systemd_pass_notify();
		snprintf(fdbuf, sizeof(fdbuf), "%d", sp[1]);
		execl(bin, bin, "run", "-c", m->conf_path, "--upgrade-from", fdbuf, (char *)NULL);
		fprintf(stderr, "weir: upgrade: exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	close(sp[1]);
	*sock = sp[0];
	return pid;
}

/* The longest an always-started pool may take, plus the margin. */
static uint64_t
ready_limit(const struct master *m)
{
	uint64_t lim = 0;

	for (size_t i = 0; i < m->conf->npools; i++)
		if (m->conf->pools[i].start_mode == START_ALWAYS &&
		    m->conf->pools[i].startup_time_limit > lim)
			lim = m->conf->pools[i].startup_time_limit;
	return lim + UPGRADE_MARGIN_MS;
}

/*
 * Start an upgrade to `binary` (NULL: the one this master was started
 * from, as it is on disk now).  Returns 202 when the new master was
 * started (the outcome comes through admin_upgrade_done() and events), or
 * an HTTP status with msg saying why nothing changed: 409 one is already
 * under way or weir is stopping, 422 the new install failed its verify,
 * 500 it could not be started.
 */
int
upgrade_start(struct master *m, const char *binary, char *msg, size_t msgsz)
{
	char err[WEIR_ERRLEN], real[4096];
	json_t *bad;
	struct upgrade *u;
	int sock = -1, v;
	pid_t pid;

	msg[0] = '\0';
	if (m->upg != NULL || m->stopping || m->upg_from != -1) {
		snprintf(msg, msgsz, "%s", m->upg != NULL ? "an upgrade is already under way" :
		    m->stopping ? "weir is stopping" :
		    "this master is itself still being upgraded to");
		return 409;
	}
	if (binary == NULL || *binary == '\0')
		binary = m->self_exe;
	if (realpath(binary, real) == NULL) {
		snprintf(msg, msgsz, "%s: %s", binary, strerror(errno));
		return 422;
	}
	if ((v = run_verify(real, &bad, msg, msgsz)) == -1)
		return 422;
	if (v == 1) {
		refuse(real, bad, msg, msgsz);
		return 422;
	}
	if ((pid = spawn(m, real, &sock, err)) == -1) {
		snprintf(msg, msgsz, "%s", err);
		return 500;
	}
	u = xcalloc(1, sizeof(*u));
	u->pid = pid;
	u->sock = sock;
	u->phase = UPG_STARTING;
	u->started = loop_now(m->loop);
	wstrlcpy(u->binary, real, sizeof(u->binary));
	m->upg = u;
	loop_timer_init(&u->timer, on_timer, m);
	if (send_state(m, sock, err) == -1) {
		/* it cannot start without them: it sees EOF and exits; reaping ends it */
		wstrlcpy(u->why, err, sizeof(u->why));
		u->phase = UPG_ROLLING_BACK;
		(void)kill(pid, SIGTERM);	/* our child */
		loop_timer_set(m->loop, &u->timer, UPGRADE_KILL_MS);
	} else if (fd_nonblock(sock) == -1 ||
	    loop_io_add(m->loop, &u->io, sock, LOOP_READ, on_msg, m) == -1) {
		wstrlcpy(u->why, "cannot watch the new master's socket", sizeof(u->why));
		u->phase = UPG_ROLLING_BACK;
		(void)kill(pid, SIGTERM);	/* our child */
		loop_timer_set(m->loop, &u->timer, UPGRADE_KILL_MS);
	} else {
		loop_timer_set(m->loop, &u->timer, ready_limit(m));
	}
	events_emit(1340, EV_INFO, NULL, pid, json_pack("{s:s, s:i}", "binary", real,
	    "old_pid", (int)getpid()),
	    "Upgrade started: the new master (pid %d, %s) starts beside this generation (master pid %d).",
	    (int)pid, real, (int)getpid());
	snprintf(msg, msgsz, "upgrade started: new master pid %d", (int)pid);
	return 202;
}

/* The new master failed: stop it; the event comes when it is reaped. */
static void
roll_back(struct master *m, const char *why)
{
	struct upgrade *u = m->upg;

	if (u->phase != UPG_STARTING)
		return;
	u->phase = UPG_ROLLING_BACK;
	wstrlcpy(u->why, why, sizeof(u->why));
	log_warnx("upgrade: %s: stopping the new master (pid %d)", why, (int)u->pid);
	(void)kill(u->pid, SIGTERM);	/* our child, not reaped yet */
	loop_timer_set(m->loop, &u->timer, UPGRADE_KILL_MS);
}

/* weir is told to stop while a new master starts: it goes too. */
void
upgrade_abort(struct master *m, const char *why)
{
	if (m->upg != NULL)
		roll_back(m, why);
}

static void
commit(struct master *m, const struct ctl_upg_ready *r)
{
	struct upgrade *u = m->upg;
	uint32_t zero = 0;
	char note[64];
	json_t *j;

	wstrlcpy(u->version, r->version, sizeof(u->version));
	wstrlcpy(u->build, r->build, sizeof(u->build));
	if (ctl_send(u->sock, CTL_UPG_COMMIT, &zero, sizeof(zero), NULL, 0) == -1) {
		roll_back(m, "the new master could not be told to take over");
		return;
	}
	u->phase = UPG_COMMITTED;
	loop_timer_cancel(m->loop, &u->timer);
	loop_io_del(m->loop, &u->io);
	close(u->sock);
	u->sock = -1;
	m->handed_over = true;
	/* systemd: the new master is the service's main process now */
	snprintf(note, sizeof(note), "MAINPID=%d", (int)u->pid);
	notify_systemd(note);
	events_emit(1341, EV_INFO, NULL, u->pid, json_pack("{s:s, s:s, s:s, s:i, s:I}",
	    "binary", u->binary, "version", u->version, "build", u->build,
	    "old_pid", (int)getpid(), "ms", (json_int_t)(loop_now(m->loop) - u->started)),
	    "Upgrade completed: weir %s (build %s, master pid %d) serves; the old generation (master pid %d) finishes its requests and exits.",
	    u->version, u->build, (int)u->pid, (int)getpid());
	j = json_pack("{s:s, s:i, s:s, s:s, s:s}", "outcome", "upgraded", "pid", (int)u->pid,
	    "version", u->version, "build", u->build, "binary", u->binary);
	admin_upgrade_done(m, 200, j);
	json_decref(j);
	admin_handover(m);
	master_stop(m);
}

static void
on_msg(void *arg, uint32_t events)
{
	struct master *m = arg;
	struct upgrade *u = m->upg;
	union {
		struct ctl_upg_ready	ready;
		struct ctl_upg_failed	failed;
		char			buf[CTL_MAX_PAYLOAD];
	} p;
	struct ctl_hdr hdr;
	int fds[CTL_MAX_FDS], r;

	(void)events;
	for (;;) {
		r = ctl_recv(u->sock, &hdr, &p, sizeof(p), fds, CTL_MAX_FDS);
		if (r == WEIR_AGAIN)
			return;
		for (int i = 0; r == 1 && i < hdr.nfds; i++)
			close(fds[i]);	/* it has nothing to pass us */
		if (r <= 0) {
			/* it exited (or broke the protocol): reaping says how */
			loop_io_del(m->loop, &u->io);
			if (r == -1 && errno != ECONNRESET)
				roll_back(m, "the new master broke the upgrade protocol");
			return;
		}
		if (hdr.type == CTL_UPG_READY && u->phase == UPG_STARTING) {
			p.ready.version[sizeof(p.ready.version) - 1] = '\0';
			p.ready.build[sizeof(p.ready.build) - 1] = '\0';
			commit(m, &p.ready);
			return;
		}
		if (hdr.type == CTL_UPG_FAILED) {
			p.failed.why[sizeof(p.failed.why) - 1] = '\0';
			roll_back(m, p.failed.why);
			continue;
		}
		roll_back(m, "the new master sent an unexpected message");
		loop_io_del(m->loop, &u->io);
		return;
	}
}

static void
on_timer(void *arg)
{
	struct master *m = arg;
	struct upgrade *u = m->upg;
	char why[128];

	if (u->phase == UPG_STARTING) {
		snprintf(why, sizeof(why), "not ready within %llus (its front end and every start_mode = always pool)",
		    (unsigned long long)(ready_limit(m) / 1000));
		roll_back(m, why);
	} else if (u->phase == UPG_ROLLING_BACK) {
		log_warnx("upgrade: the new master (pid %d) did not stop: killing it", (int)u->pid);
		(void)kill(u->pid, SIGKILL);	/* our child, not reaped yet */
	}
}

static void
upgrade_end(struct master *m)
{
	struct upgrade *u = m->upg;

	if (u == NULL)
		return;
	loop_timer_cancel(m->loop, &u->timer);
	if (u->sock != -1) {
		loop_io_del(m->loop, &u->io);
		close(u->sock);
	}
	free(u);
	m->upg = NULL;
}

/*
 * waitpid() returned pid: ours if it is the new master.  Before it took
 * over, that is the rollback's one event; after, it only ended early.
 */
bool
upgrade_reaped(struct master *m, pid_t pid, int status)
{
	struct upgrade *u = m->upg;
	char how[128], why[2300];
	json_t *j;

	if (u == NULL || pid != u->pid)
		return false;
	wait_status_words(status, how, sizeof(how));
	if (u->phase == UPG_COMMITTED) {
		log_warnx("upgrade: the new master (pid %d) exited (%s) while this generation drains",
		    (int)pid, how);
		upgrade_end(m);
		return true;
	}
	if (u->phase == UPG_STARTING)
		snprintf(why, sizeof(why), "the new master exited at start (%s)", how);
	else
		snprintf(why, sizeof(why), "%s; the new master then exited (%s)", u->why, how);
	events_emit(1342, EV_ERROR, NULL, pid, json_pack("{s:s, s:s, s:s, s:i}",
	    "binary", u->binary, "reason", u->phase == UPG_STARTING ? why : u->why,
	    "exit", how, "old_pid", (int)getpid()),
	    "Upgrade to %s rolled back: %s. This generation (master pid %d) kept serving.",
	    u->binary, why, (int)getpid());
	j = json_pack("{s:s, s:s, s:i}", "outcome", "rolled back", "reason", why,
	    "pid", (int)getpid());
	admin_upgrade_done(m, 500, j);
	json_decref(j);
	upgrade_end(m);
	return true;
}

/* For status: the upgrade under way, or null. */
json_t *
upgrade_json(const struct master *m)
{
	const struct upgrade *u = m->upg;
	static const char *phases[] = { "starting", "committed", "rolling back" };

	if (u == NULL)
		return json_null();
	return json_pack("{s:s, s:i, s:s}", "state", phases[u->phase], "pid", (int)u->pid,
	    "binary", u->binary);
}

/* At exit: a new master still starting is ours to stop (it is reaped by nobody else). */
void
upgrade_free(struct master *m)
{
	struct upgrade *u = m->upg;
	int status;

	if (u == NULL)
		return;
	if (u->phase != UPG_COMMITTED) {
		(void)kill(u->pid, SIGKILL);	/* our child, not reaped yet */
		while (waitpid(u->pid, &status, 0) == -1 && errno == EINTR)
			;
	}
	upgrade_end(m);
}
