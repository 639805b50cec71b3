/*
 * feproc.c - start, watch and restart the front-end process.
 *
 * The front end is forked (not exec'd) from the master, so it starts with
 * the parsed config and the listening sockets in memory.  If it dies, the
 * master records why (event 1305) and starts a new one at once: the
 * listening sockets stay open here, so clients wait in the backlog instead of
 * being refused.  A front end that keeps dying right after its start is
 * restarted with a short, growing delay so the machine is not spun; one
 * that dies within FE_START_FAIL_MS of its start FE_START_FAILS times in a
 * row cannot start at all (a cause that survived the configuration's
 * checks, e.g. a resource limit): the master says why (event 1309) and
 * stops with status 78, instead of restarting it for ever with every site
 * down.
 *
 * The front end's stderr is a pipe to the master, which passes every byte
 * on to its own stderr (where it always went) and keeps the last lines for
 * the event that reports the front end's death.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <stddef.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "master.h"

#define FE_FAST_DEATH_MS	2000	/* died sooner than this after start: fast */
#define FE_START_FAIL_MS	1000	/* died sooner than this: it did not start */
#define FE_START_FAILS		5	/* ... that many times in a row: give up (1309) */

static void	on_ctl(void *arg, uint32_t events);

int
feproc_send(struct master *m, enum ctl_type type, const void *p, size_t len,
    const int *fds, int nfds)
{
	if (m->fe.pid == 0 || m->fe.ctl == -1)
		return -1;
	if (ctl_send(m->fe.ctl, type, p, len, fds, nfds) == -1) {
		log_warn("front end: send %s", ctl_type_name(type));
		return -1;
	}
	return 0;
}

void
feproc_restart_cb(void *arg)
{
	struct master *m = arg;

	if (!m->stopping && m->fe.pid == 0)
		feproc_start(m);
}

/* Pass on what the front end wrote; keep its last lines. */
static void
on_stderr(void *arg, uint32_t events)
{
	struct master *m = arg;
	char buf[8192];
	ssize_t r;

	(void)events;
	for (;;) {
		r = read(m->fe.err, buf, sizeof(buf));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		/* Nothing sensible to do if the master's own stderr is gone. */
		(void)!write_full(STDERR_FILENO, buf, (size_t)r);
		linetail_feed(&m->fe.tail, buf, (size_t)r);
	}
	if (r == 0) {		/* it exited: every writer is gone */
		loop_io_del(m->loop, &m->fe.err_io);
		close(m->fe.err);
		m->fe.err = -1;
	}
}

/*
 * The front end is forked, not exec'd: it would hold every descriptor the
 * master had open at that moment -- admin connections (a client reading a
 * response to its end then waits for the front end to exit: `weir status`
 * hung after a front-end restart), the admin listener, the pools' sockets.
 * It keeps what struct fe_start hands it and stdio; the rest is closed.
 */
static void
keep_only_its_fds(const struct fe_start *st)
{
	size_t nl = st->naddrs * st->threads, n = 0;
	int *keep = xcalloc(nl + 6, sizeof(int));

	keep[n++] = STDIN_FILENO;
	keep[n++] = STDOUT_FILENO;
	keep[n++] = STDERR_FILENO;
	keep[n++] = st->ctl;
	keep[n++] = st->access_fd;
	keep[n++] = st->httperr_fd;
	for (size_t i = 0; i < nl; i++)
		keep[n++] = st->listen_fds[i];
	/* close_range(2) is in every kernel weir runs on (>= 5.9) */
	if (fd_close_all_but(keep, n) == -1)
		_exit(1);
	free(keep);
}

/* In the child: drop what belongs to the master, then become the front end. */
static void __attribute__((noreturn))
child(struct master *m, int ctl, int errfd, pid_t parent)
{
	struct fe_start st;
	sigset_t all;
	int *fds;
	struct sockaddr_storage *addrs;
	socklen_t *lens;
	char **down;

	/*
	 * Die with the master: an orphaned front end would hold the ports.
	 * frontend_main() sets it again after dropping privileges (the kernel
	 * clears it when the credentials change).
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
		_exit(1);
	if (errfd != -1 && errfd != STDERR_FILENO) {
		if (dup2(errfd, STDERR_FILENO) == -1)
			_exit(1);
		close(errfd);
	}
	if (m->fe.err != -1)
		close(m->fe.err);	/* the master's end */
	/* Only the master may hold the warden's pipe: its EOF is our death. */
	if (m->warden_fd != -1)
		close(m->warden_fd);
	/* ... and an upgrade's socket: the other master watches it for ours */
	if (m->upg_from != -1)
		close(m->upg_from);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	loop_free(m->loop);
	events_close();

	fds = xcalloc(m->lis.n * m->lis.threads, sizeof(int));
	addrs = xcalloc(m->lis.n, sizeof(*addrs));
	lens = xcalloc(m->lis.n, sizeof(*lens));
	for (size_t i = 0; i < m->lis.n; i++) {
		addrs[i] = m->lis.v[i].ss;
		lens[i] = m->lis.v[i].sslen;
		for (unsigned t = 0; t < m->lis.threads; t++)
			fds[i * m->lis.threads + t] = m->lis.v[i].fds[t];
	}
	memset(&st, 0, sizeof(st));
	st.conf = m->conf;
	st.generation = m->generation;
	st.threads = m->lis.threads;
	st.naddrs = m->lis.n;
	st.listen_fds = fds;
	st.addrs = addrs;
	st.addrlens = lens;
	st.ctl = ctl;
	st.access_fd = m->access_fd;
	st.httperr_fd = m->httperr_fd;
	st.drop_privs = m->fe_id.drop;
	st.uid = m->fe_id.uid;
	st.gid = m->fe_id.gid;
	st.groups = m->fe_id.groups;
	st.ngroups = m->fe_id.ngroups;
	down = xcalloc(m->nsite_faults + 1, sizeof(char *));
	for (size_t i = 0; i < m->nsite_faults; i++)
		down[i] = m->site_faults[i].site;
	st.down_sites = down;
	st.ndown_sites = m->nsite_faults;
	st.master = parent;
	st.tls_pem = m->tls_pem;
	st.tls_pem_len = m->tls_pem_len;
	st.tls_keys = &m->tls_keys;
	st.hold_accept = m->upg_from != -1;	/* an upgrade not handed over yet */
	log_set_ident("weir-frontend");
	keep_only_its_fds(&st);
	_exit(frontend_main(&st));
}

int
feproc_start(struct master *m)
{
	int sv[2], ep[2] = { -1, -1 };
	pid_t pid, self = getpid();

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("front end: socketpair");
		goto retry;
	}
	/* without the pipe it runs on with the master's stderr, untailed */
	if (pipe2(ep, O_CLOEXEC) == -1)
		log_warn("front end: stderr pipe");
	m->fe.err = ep[0];
	if ((pid = fork()) == -1) {
		log_warn("front end: fork");
		close(sv[0]);
		close(sv[1]);
		for (int i = 0; i < 2; i++)
			if (ep[i] != -1)
				close(ep[i]);
		m->fe.err = -1;
		goto retry;
	}
	if (pid == 0) {
		close(sv[0]);
		child(m, sv[1], ep[1], self);
	}
	close(sv[1]);
	if (ep[1] != -1)
		close(ep[1]);
	linetail_clear(&m->fe.tail);
	if (m->fe.err != -1 && (fd_nonblock(m->fe.err) == -1 ||
	    loop_io_add(m->loop, &m->fe.err_io, m->fe.err, LOOP_READ, on_stderr, m) == -1)) {
		log_warn("front end: stderr pipe");
		close(m->fe.err);
		m->fe.err = -1;
	}
	if (fd_nonblock(sv[0]) == -1)
		log_warn("front end: control socket O_NONBLOCK");
	m->fe.pid = pid;
	m->fe.start_ticks = procrec_start_ticks(pid);
	leftover_record(m);
	m->fe.ctl = sv[0];
	m->fe.hello = false;
	m->fe.started = loop_now(m->loop);
	if (loop_io_add(m->loop, &m->fe.io, sv[0], LOOP_READ, on_ctl, m) == -1)
		fatal("front end: epoll_ctl");
	log_info("front end started (pid %d, %u thread%s)", (int)pid,
	    m->lis.threads, m->lis.threads == 1 ? "" : "s");
	return 0;
retry:
	loop_timer_set(m->loop, &m->fe.restart_timer, 1000);
	return -1;
}

static void
close_ctl(struct master *m)
{
	if (m->fe.ctl != -1) {
		loop_io_del(m->loop, &m->fe.io);
		close(m->fe.ctl);
		m->fe.ctl = -1;
	}
}

/* Read what is left of its output (it has exited), then close the pipe. */
static void
drain_stderr(struct master *m)
{
	if (m->fe.err != -1)
		on_stderr(m, 0);
	if (m->fe.err != -1) {	/* something else holds the pipe open */
		loop_io_del(m->loop, &m->fe.err_io);
		close(m->fe.err);
		m->fe.err = -1;
	}
	linetail_flush(&m->fe.tail);
}

/*
 * It died within FE_START_FAIL_MS of its start, FE_START_FAILS times in a
 * row: restarting it again will not help.  Say why once (1309, and on
 * stderr, where systemd's journal shows it) and stop with status 78
 * (EX_CONFIG), which the unit does not restart.
 */
static void
cannot_start(struct master *m, const char *how)
{
	const char *last = linering_last(&m->fe.tail.ring), *p;
	json_t *f = json_object();

	/* its own log lines: the text after "TIME weir-frontend[PID]: " */
	if (last != NULL && (p = strstr(last, "]: ")) != NULL)
		last = p + 3;

	json_object_set_new(f, "exit", json_string(how));
	json_object_set_new(f, "attempts", json_integer(m->fe.start_fails));
	json_object_set_new(f, "within_ms", json_integer(FE_START_FAIL_MS));
	json_object_set_new(f, "stderr_tail", linering_json(&m->fe.tail.ring));
	events_emit(1309, EV_ERROR, NULL, 0, f,
	    "The front end process cannot start: it exited %u times in a row within %ds of its start (last: %s%s%s). weir stops (exit status 78); fix the cause and start it again.",
	    m->fe.start_fails, FE_START_FAIL_MS / 1000, how,
	    last != NULL ? ": " : "", last != NULL ? last : "");
	fprintf(stderr, "weir: the front end cannot start (%s%s%s): stopping with exit status 78\n",
	    how, last != NULL ? ": " : "", last != NULL ? last : "");
	m->exit_status = 78;
	master_stop(m);
}

/*
 * The front end exited with `status` (from waitpid).  While stopping this
 * is the end of the run; otherwise it is a crash: say so (1305, with its
 * last output lines) and start another, unless it cannot start at all.
 */
void
feproc_exited(struct master *m, int status)
{
	char how[128], ts[32];
	uint64_t lived = loop_now(m->loop) - m->fe.started;
	pid_t pid = m->fe.pid;
	json_t *f;

	m->fe.pid = 0;
	m->fe.start_ticks = 0;
	leftover_record(m);
	close_ctl(m);
	drain_stderr(m);
	wait_status_words(status, how, sizeof(how));
	if (m->upg_from != -1 && !m->upg_told && !m->stopping) {
		/* a new generation whose front end cannot run is not restarted: the old one serves */
		const char *last = linering_last(&m->fe.tail.ring);

		log_warnx("front end (pid %d) exited during an upgrade: %s", (int)pid, how);
		handover_failed(m, "its front end (pid %d) exited (%s)%s%s", (int)pid, how,
		    last != NULL ? ": " : "", last != NULL ? last : "");
		return;
	}
	if (m->stopping) {
		log_info("front end (pid %d) exited: %s", (int)pid, how);
		pools_shutdown(m);
		if (pools_all_stopped(m))
			loop_stop(m->loop);
		return;
	}
	m->fe_restarts++;
	f = json_object();
	json_object_set_new(f, "exit", json_string(how));
	json_object_set_new(f, "uptime_ms", json_integer((json_int_t)lived));
	json_object_set_new(f, "stderr_tail", linering_json(&m->fe.tail.ring));
	/* status keeps these fields, with when and which process */
	json_decref(m->fe_failure);
	m->fe_failure = json_deep_copy(f);
	time_iso8601(ts, sizeof(ts));
	json_object_set_new(m->fe_failure, "time", json_string(ts));
	json_object_set_new(m->fe_failure, "pid", json_integer(pid));
	m->fe.start_fails = lived < FE_START_FAIL_MS ? m->fe.start_fails + 1 : 0;
	if (m->fe.start_fails >= FE_START_FAILS) {
		events_emit(1305, EV_ERROR, NULL, pid, f,
		    "The front end process terminated unexpectedly (%s). It is not restarted: it cannot start.",
		    how);
		cannot_start(m, how);
		return;
	}
	events_emit(1305, EV_ERROR, NULL, pid, f,
	    "The front end process terminated unexpectedly (%s). It is restarted; the listening sockets stayed open.",
	    how);
	if (lived < FE_FAST_DEATH_MS) {
		uint64_t delay;

		m->fe.restarts++;
		/* 200 ms, 400 ms ... up to 5 s while it keeps dying at once */
		delay = m->fe.restarts >= 5 ? 5000 : (100ULL << m->fe.restarts);
		if (m->fe.restarts > 1) {
			loop_timer_set(m->loop, &m->fe.restart_timer, delay);
			return;
		}
	} else {
		m->fe.restarts = 0;
	}
	feproc_start(m);
}

/* When weir ends: what the master kept about the front end. */
void
feproc_free(struct master *m)
{
	if (m->fe.err != -1) {
		if (m->loop != NULL)
			loop_io_del(m->loop, &m->fe.err_io);
		close(m->fe.err);
		m->fe.err = -1;
	}
	linetail_clear(&m->fe.tail);
	json_decref(m->fe_failure);
	m->fe_failure = NULL;
}

/* Ask the front end to stop accepting and finish what it has. */
void
feproc_shutdown(struct master *m)
{
	struct ctl_shutdown s;

	memset(&s, 0, sizeof(s));
	s.deadline_ms = m->conf->server.shutdown_timeout;
	s.handover = m->handed_over;
	if (feproc_send(m, CTL_SHUTDOWN, &s, sizeof(s), NULL, 0) == -1 &&
	    m->fe.pid > 0)
		kill(m->fe.pid, SIGTERM);	/* it drains on SIGTERM too */
}

static void
on_ctl(void *arg, uint32_t events)
{
	struct master *m = arg;
	union {
		struct ctl_hello	hello;
		struct ctl_pool_ref	ref;
		struct ctl_worker	w;
		struct ctl_worker_fault	fault;
		struct ctl_worker_report report;
		struct ctl_stats	stats;
		struct ctl_result	result;
		struct ctl_pool_log	log;
		struct ctl_poison	poison;
		struct ctl_site_fault	site;
		struct ctl_acme_challenge acme;
		char			buf[CTL_MAX_PAYLOAD];
	} u;
	struct worker *w;
	struct ctl_hdr hdr;
	int fds[CTL_MAX_FDS], r;

	(void)events;
	while ((r = ctl_recv(m->fe.ctl, &hdr, &u, sizeof(u), fds, CTL_MAX_FDS)) == 1) {
		switch (hdr.type) {
		case CTL_HELLO:
			m->fe.hello = true;
			log_info("front end ready: %u thread%s serving generation %u",
			    u.hello.threads, u.hello.threads == 1 ? "" : "s",
			    u.hello.generation);
			pools_fe_hello(m);
			acme_fe_hello(m);
			drain_tell_fe(m);
			systemd_check_ready(m);
			break;
		case CTL_STATUS: {
			json_t *snap = NULL;

			if (hdr.nfds == 1) {
				FILE *f = fdopen(fds[0], "r");

				if (f != NULL) {
					json_error_t je;

					rewind(f);
					snap = json_loadf(f, 0, &je);
					fclose(f);
				} else {
					close(fds[0]);
				}
				hdr.nfds = 0;
			}
			admin_fe_status(m, snap);
			json_decref(snap);
			break;
		}
		case CTL_RELOAD_RESULT:
			if (!u.result.ok) {
				u.result.msg[sizeof(u.result.msg) - 1] = '\0';
				log_warnx("front end could not apply generation %u: %s; restarting it",
				    u.result.generation, u.result.msg);
				kill(m->fe.pid, SIGKILL);
			} else {
				log_info("front end serves generation %u", u.result.generation);
			}
			break;
		case CTL_DEMAND_START:
			if (u.ref.pool >= 0 && (size_t)u.ref.pool < m->npools &&
			    u.ref.generation == m->generation)
				pool_demand(m->pools[u.ref.pool]);
			break;
		case CTL_WORKER_DRAINED:
			if ((w = pools_worker_by_id(m, u.w.worker)) != NULL)
				pool_worker_drained(w);
			break;
		case CTL_WORKER_FAULT:
			u.fault.what[sizeof(u.fault.what) - 1] = '\0';
			if ((w = pools_worker_by_id(m, u.fault.worker)) == NULL ||
			    w->state == W_EXITED)
				break;
			if (w->pid == 0)
				external_fault(w, u.fault.what);	/* an upstream */
			else
				pool_worker_failed(w, 1011, u.fault.what);
			break;
		case CTL_POOL_LOG:
			logfile_fe_line(m, &u.log);
			break;
		case CTL_POISON_REQUEST:
			poison_request(m, &u.poison);
			break;
		case CTL_WORKER_REPORT:
			if ((w = pools_worker_by_id(m, u.report.worker)) != NULL)
				pool_worker_report(w, &u.report);
			break;
		case CTL_SITE_FAULT:
			sitefault_report(m, &u.site);
			break;
		case CTL_ACME_CHALLENGE_ACK:
			acme_fe_ack(m, &u.acme);
			break;
		case CTL_STATS:
			if (hdr.len >= offsetof(struct ctl_stats, w) &&
			    u.stats.n <= nitems(u.stats.w) &&
			    hdr.len >= offsetof(struct ctl_stats, w) +
			    u.stats.n * sizeof(u.stats.w[0]))
				pool_stats(m, &u.stats, u.stats.n);
			else
				log_warnx("front end: malformed STATS message; dropped");
			break;
		default:
			log_warnx("front end: unexpected message %s; dropping it",
			    ctl_type_name((enum ctl_type)hdr.type));
			break;
		}
		for (int i = 0; i < hdr.nfds; i++)
			close(fds[i]);	/* any the message did not use */
	}
	if (r == 0 || r == -1) {
		if (r == -1)
			log_warn("front end: control channel");
		/* It is exiting or broken; SIGCHLD will tell the rest. */
		close_ctl(m);
		if (r == -1 && m->fe.pid > 0)
			kill(m->fe.pid, SIGKILL);
	}
}
