/*
 * master.c - `weir run`: set up, then supervise until told to stop.
 *
 * Order matters: validate the whole config before touching anything; bind
 * every address before starting anything, so a port conflict is reported
 * once and nothing is left half-started; open the logs before dropping the
 * front end's privileges, so it never needs write access to log_dir.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "logfmt.h"
#include "weir_version.h"
#include "component.h"
#include "master.h"

#define STOP_GRACE_MS	5000	/* beyond shutdown_timeout before SIGKILL */

/* mkdir -p, mode for the last component only. */
static int
mkdirs(const char *path, mode_t mode, char *err)
{
	char buf[4096];
	size_t n = wstrlcpy(buf, path, sizeof(buf));

	if (n >= sizeof(buf)) {
		snprintf(err, WEIR_ERRLEN, "%s: path too long", path);
		return -1;
	}
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST) {
			snprintf(err, WEIR_ERRLEN, "mkdir %s: %s", buf, strerror(errno));
			return -1;
		}
		*p = '/';
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST) {
		snprintf(err, WEIR_ERRLEN, "mkdir %s: %s", buf, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * <state_dir>/spool: where the front end keeps the bodies of chunked
 * requests to FastCGI pools until their length is known (CONTENT_LENGTH
 * must be exact).  It opens them O_TMPFILE, so a crash leaves nothing; a
 * named file here is from something else (an older weir, a debugging
 * session) and is removed at start.  0700 and owned by the front end's
 * identity: it writes there unprivileged, and neither workers nor other
 * users can read the bodies of other people's requests.  The chown and
 * chmod go through a descriptor opened O_DIRECTORY | O_NOFOLLOW, so a
 * planted symlink cannot turn them on something else.
 */
static int
spool_prepare(struct master *m, char *err)
{
	char path[4096];
	struct dirent *de;
	DIR *d;
	int fd, n = snprintf(path, sizeof(path), "%s/spool", m->conf->server.state_dir);

	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, WEIR_ERRLEN, "%s/spool: path too long", m->conf->server.state_dir);
		return -1;
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		goto fail;
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		goto fail;
	if ((m->fe_id.drop && fchown(fd, m->fe_id.uid, m->fe_id.gid) == -1) ||
	    fchmod(fd, 0700) == -1) {
		close(fd);
		goto fail;
	}
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		goto fail;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == -1)
			log_warn("%s/%s: stale spool entry not removed", path, de->d_name);
	}
	closedir(d);
	return 0;
fail:
	snprintf(err, WEIR_ERRLEN, "%s: %s", path, strerror(errno));
	return -1;
}

/* Let the front end hold as many connections and cached files as allowed. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit(RLIMIT_NOFILE)");
	}
}

static unsigned
fe_threads(const struct conf *c)
{
	long n;

	if (c->server.threads > 0)
		return c->server.threads;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
}

/*
 * state_dir/weir.pid: this master's pid.  A master started by an upgrade
 * writes it once the old one handed over (handover.c), replacing the old
 * master's; the old one then leaves the file alone, and a new master that
 * was rolled back before it wrote it leaves the old one's alone.
 */
void
master_write_pidfile(struct master *m)
{
	char path[4096], buf[32];
	int fd, n;

	snprintf(path, sizeof(path), "%s/weir.pid", m->conf->server.state_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		log_warn("%s", path);
		return;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write_full(fd, buf, (size_t)n) == -1)
		log_warn("%s", path);
	m->wrote_pidfile = true;	/* even half-written, it is no longer the old one's */
	close(fd);
}

static void
remove_pidfile(const struct master *m)
{
	char path[4096];

	/*
	 * Handed over: the new master's now.  Never written: an upgrade's new
	 * master rolled back, and the file is the old master's, who serves on.
	 */
	if (m->handed_over || !m->wrote_pidfile)
		return;
	snprintf(path, sizeof(path), "%s/weir.pid", m->conf->server.state_dir);
	/* Nothing to do if it is already gone. */
	(void)unlink(path);
}

static void
reap_children(struct master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct worker *w;

		if (pid == m->fe.pid) {
			feproc_exited(m, status);
		} else if (upgrade_reaped(m, pid, status)) {
			/* the new master an upgrade started: upgrade.c settled it */
		} else if (pid == m->warden_pid) {
			warden_exited(m, status);
		} else if (acme_reaped(m, pid, status)) {
			/* an ACME order's helper: acme.c settled the order */
		} else if ((w = pools_find_worker(m, pid)) != NULL) {
			w->status = status;
			pool_worker_exited(w);
			pool_reap_retired(m);
		} else {
			log_debug("reaped process %d", (int)pid);
		}
	}
	if (m->stopping && m->fe.pid == 0 && pools_all_stopped(m))
		loop_stop(m->loop);
}

static void
stop_timeout(void *arg)
{
	struct master *m = arg;

	if (m->fe.pid > 0) {
		log_warnx("front end did not stop in time: killing it");
		kill(m->fe.pid, SIGKILL);
	} else if (pools_all_stopped(m)) {
		loop_stop(m->loop);
	}
}

/*
 * Stop: no new connections, in-flight requests finish, workers stop.  The
 * drain, when one applies, came first (begin_stop(), drain.c).
 */
void
master_stop_now(struct master *m, int signo)
{
	if (m->stopping) {
		/* A second ^C: the operator does not want to wait. */
		if (signo == SIGINT && m->fe.pid > 0)
			kill(m->fe.pid, SIGKILL);
		return;
	}
	m->stopping = true;
	/* after an upgrade the service goes on: the new master is its main process */
	if (!m->handed_over)
		notify_systemd("STOPPING=1");
	handover_failed(m, "it was told to stop (%s) before it served", strsignal(signo));
	upgrade_abort(m, "weir was told to stop");
	log_info("%s: stopping (in-flight requests get up to %llums)",
	    strsignal(signo), (unsigned long long)m->conf->server.shutdown_timeout);
	if (m->fe.pid == 0) {
		pools_shutdown(m);
		if (pools_all_stopped(m))
			loop_stop(m->loop);
		return;
	}
	feproc_shutdown(m);
	loop_timer_set(m->loop, &m->stop_timer,
	    m->conf->server.shutdown_timeout + STOP_GRACE_MS);
}

/*
 * SIGTERM, SIGINT, SIGQUIT, POST /stop: with health_path set a balancer is
 * watching, so the stop begins with a drain (drain.c), which ends in
 * master_stop_now().  SIGQUIT never waits for one.
 */
static void
begin_stop(struct master *m, int signo)
{
	if (m->draining) {
		drain_stop_requested(m, signo);
		return;
	}
	if (!m->stopping && signo != SIGQUIT && drain_wanted(m)) {
		drain_begin(m, signo == 0 ? "weir stop" : signo == SIGINT ? "SIGINT" : "SIGTERM");
		return;
	}
	master_stop_now(m, signo == 0 ? SIGTERM : signo);
}

/* The admin API's POST /stop and `weir stop`. */
void
master_stop(struct master *m)
{
	begin_stop(m, 0);
}

/*
 * SIGUSR1 (logrotate's convention), and a reload that changed access_log:
 * open access.log (unless off) and httperr.log anew and hand them to the
 * front end with the access log's format; reopen every pool's log.  When a
 * file cannot be opened the old ones are kept, and the front end keeps
 * writing where it did.
 */
void
master_reopen_logs(struct master *m)
{
	const struct conf_server *s = &m->conf->server;
	struct ctl_log_reopen lr;
	char err[WEIR_ERRLEN];
	int fds[2] = { -1, -1 };

	fds[0] = logfile_open(s->log_dir, "httperr.log", HTTPERR_FIELDS, err);
	if (fds[0] != -1 && s->access_log != ACCESS_LOG_OFF &&
	    (fds[1] = logfile_open(s->log_dir, "access.log", s->access_log == ACCESS_LOG_W3C ?
	    ACCESS_W3C_FIELDS : NULL, err)) == -1) {
		close(fds[0]);
		fds[0] = -1;
	}
	if (fds[0] == -1) {
		log_warnx("reopen: %s", err);
	} else {
		if (m->httperr_fd != -1)
			close(m->httperr_fd);
		if (m->access_fd != -1)
			close(m->access_fd);
		m->httperr_fd = fds[0];
		m->access_fd = fds[1];
		memset(&lr, 0, sizeof(lr));
		lr.access_format = s->access_log;
		if (m->fe.pid > 0)
			feproc_send(m, CTL_LOG_REOPEN, &lr, sizeof(lr), fds,
			    fds[1] != -1 ? 2 : 1);
	}
	for (size_t i = 0; i < m->npools; i++)
		poollog_reopen(m->pools[i]);
	for (struct pool *p = m->retired; p != NULL; p = p->next_retired)
		poollog_reopen(p);
	log_info("logs reopened");
}

static void
on_signal(void *arg, int signo)
{
	struct master *m = arg;

	switch (signo) {
	case SIGCHLD:
		reap_children(m);
		break;
	case SIGTERM:
	case SIGINT:
	case SIGQUIT:
		begin_stop(m, signo);
		break;
	case SIGUSR1:
		master_reopen_logs(m);
		break;
	case SIGUSR2: {		/* nginx's convention: upgrade to the binary on disk */
		char msg[2048];

		if (upgrade_start(m, NULL, msg, sizeof(msg)) != 202)
			log_warnx("SIGUSR2: %s", msg);
		break;
	}
	case SIGHUP: {
		json_t *res = NULL;

		master_reload(m, &res);
		json_decref(res);
		break;
	}
	default:
		break;
	}
}

/* The binary this master runs, as named when it started (upgrade's default). */
static void
note_self(struct master *m)
{
	ssize_t n = readlink("/proc/self/exe", m->self_exe, sizeof(m->self_exe) - 1);

	m->self_exe[n > 0 ? (size_t)n : 0] = '\0';
}

/* A master an upgrade started says why it could not start, once. */
static void
start_failed(struct master *m, const struct conf_errors *errs, const char *err)
{
	char buf[2048];
	size_t len = 0;

	if (m->upg_from == -1)
		return;
	buf[0] = '\0';
	for (size_t i = 0; errs != NULL && i < errs->n && len < sizeof(buf); i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i > 0 ? "; " : "",
		    errs->msg[i]);
	handover_failed(m, "the new master could not start: %s", len > 0 ? buf : err);
}

int
master_run(const char *conf_path, int upgrade_fd)
{
	static const int sigs[] = {
		SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE
	};
	struct conf_errors errs = { NULL, 0 };
	struct tls_checked chk = { { NULL, 0 }, NULL, 0 };	/* for tlsexpiry.c */
	struct master m;
	char err[WEIR_ERRLEN], path[4096];
	int rc = 1;

	memset(&m, 0, sizeof(m));
	err[0] = '\0';
	systemd_init();
	m.access_fd = m.httperr_fd = -1;
	m.fe.ctl = m.fe.err = -1;
	m.warden_fd = -1;
	m.upg_from = upgrade_fd;
	m.upg_io.fd = -1;
	m.upg_admin[0] = m.upg_admin[1] = -1;
	wstrlcpy(m.procrec, PROCREC_FILE, sizeof(m.procrec));
	note_self(&m);
	m.generation = 1;
	m.conf_path = xstrdup(conf_path);
	/*
	 * An invalid configuration, paths included that the front end's user
	 * cannot open and native modules that are missing or fail their
	 * checks, exits 78 (EX_CONFIG): starting again will not help (systemd).
	 */
	if ((m.conf = conf_load(conf_path, CONF_CHECK_FS, &errs)) == NULL ||
	    ident_conf(m.conf, err) == -1 ||
	    fe_ident_resolve(m.conf, &m.fe_id, err) == -1 ||
	    fecheck_conf(m.conf, &m.fe_id, &errs) > 0 ||
	    component_check_conf(m.conf, &errs) > 0 ||
	    fsiso_check_conf(m.conf, &errs) > 0 ||
	    poolcg_check_conf(m.conf, &errs) > 0 ||
	    tlsload_conf(m.conf, &m.tls_pem, &m.tls_pem_len, &errs, &chk) > 0) {
		if (m.conf != NULL && errs.n == 0)
			conf_errors_add(&errs, "%s: %s", conf_path, err);
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		fprintf(stderr, "weir: %s: configuration not valid, not started\n",
		    conf_path);
		start_failed(&m, &errs, "configuration not valid");
		handover_end(&m);
		conf_errors_clear(&errs);
		tlscheck_checked_free(&chk);
		fe_ident_free(&m.fe_id);
		conf_free(m.conf);
		free(m.conf_path);
		return 78;
	}
	/* said again as events 1316/1317 once the event log is open */
	for (size_t i = 0; i < chk.warns.n; i++)
		log_warnx("%s", chk.warns.msg[i]);
	if (!m.fe_id.drop && m.conf->server.user != NULL)
		log_warnx("[server] user = %s ignored: not started as root",
		    m.conf->server.user);
	signal(SIGPIPE, SIG_IGN);
	umask(022);
	raise_nofile();
	if (mkdirs(m.conf->server.state_dir, 0755, err) == -1 ||
	    mkdirs(m.conf->server.log_dir, 0755, err) == -1) {
		fprintf(stderr, "weir: %s\n", err);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/pools", m.conf->server.log_dir);
	if (mkdirs(path, 0755, err) == -1 ||
	    spool_prepare(&m, err) == -1 ||
	    events_open(m.conf->server.log_dir, m.conf->server.syslog, err) == -1) {
		fprintf(stderr, "weir: %s\n", err);
		goto out;
	}
	/*
	 * What a master that died left running goes first, before anything
	 * is bound: it may hold the ports, the socket paths, the pools'
	 * identities.  Then the warden, forked before any other process and
	 * before the listening sockets exist, so it holds none of them.  A
	 * master an upgrade started takes over a running generation instead:
	 * nothing of it is left over, and its pools' private /tmp are in use.
	 */
	if (m.upg_from != -1) {
		if (handover_recv(&m, err) == -1) {
			fprintf(stderr, "weir: %s\n", err);
			goto out;
		}
		m.ready_sent = true;	/* systemd hears MAINPID= from the old master */
	} else if (leftover_end(m.conf->server.state_dir, PROCREC_FILE, LEFTOVER_AT_START) == -1 ||
	    leftover_end(m.conf->server.state_dir, PROCREC_FILE_ALT, LEFTOVER_AT_START) == -1) {
		fprintf(stderr, "weir: another weir runs with state_dir %s\n",
		    m.conf->server.state_dir);
		goto out;
	} else {
		/* their processes are gone: so are the private /tmp of their pools */
		fsiso_clean(m.conf->server.state_dir);
	}
	/* before any fork: in cgroup v2 the master may move into a leaf of its own */
	if (poolcg_setup(&m, err) == -1) {
		fprintf(stderr, "weir: cgroups for memory_max, cpu_max, tasks_max: %s\n", err);
		rc = 78;
		goto out;
	}
	m.start_ticks = procrec_start_ticks(getpid());
	if (warden_start(&m, err) == -1)
		log_warnx("%s: if this master dies, what its workers started is ended only when weir starts again",
		    err);
	leftover_record(&m);
	if (listeners_open(&m.lis, m.conf, fe_threads(m.conf), NULL, &m.upg_lis, err) == -1) {
		fprintf(stderr, "weir: %s\n", err);
		goto out;
	}
	handover_close_unused(&m);
	if (m.conf->server.access_log != ACCESS_LOG_OFF &&
	    (m.access_fd = logfile_open(m.conf->server.log_dir, "access.log",
	    m.conf->server.access_log == ACCESS_LOG_W3C ? ACCESS_W3C_FIELDS : NULL,
	    err)) == -1) {
		fprintf(stderr, "weir: %s\n", err);
		goto out;
	}
	if ((m.httperr_fd = logfile_open(m.conf->server.log_dir, "httperr.log",
	    HTTPERR_FIELDS, err)) == -1) {
		fprintf(stderr, "weir: %s\n", err);
		goto out;
	}
	if ((m.loop = loop_new(err)) == NULL ||
	    loop_signals(m.loop, sigs, (int)nitems(sigs), on_signal, &m, err) == -1) {
		fprintf(stderr, "weir: %s\n", err);
		goto out;
	}
	loop_timer_init(&m.stop_timer, stop_timeout, &m);
	drain_init(&m);
	loop_timer_init(&m.fe.restart_timer, feproc_restart_cb, &m);
	if (tlskeys_init(&m) == -1) {
		snprintf(err, WEIR_ERRLEN, "session ticket keys: no random bytes");
		fprintf(stderr, "weir: %s\n", err);
		goto out;
	}
	if (m.upg_from != -1) {
		/* tickets the old generation issued keep resuming */
		m.tls_keys = m.upg_keys;
		explicit_bzero(&m.upg_keys, sizeof(m.upg_keys));
		if (handover_watch(&m, err) == -1) {
			fprintf(stderr, "weir: %s\n", err);
			goto out;
		}
	}
	m.started_ms = loop_now(m.loop);
	pools_init(&m);
	handover_apply_pools(&m);	/* an upgrade's: what the old pools went through */
	events_configure(m.conf->server.events_max_size, m.conf->server.events_keep);
	m.started_wall = (int64_t)time(NULL);
	if (admin_open(&m, err) == -1) {
		fprintf(stderr, "weir: %s\n", err);
		goto out;
	}
	tlsexpiry_start(&m, &chk);
	if (m.upg_from == -1)
		master_write_pidfile(&m);
	for (size_t i = 0; i < m.lis.n; i++)
		log_info("listening on %s", m.lis.v[i].spec);
	log_info("weir %s starting (config %s, master pid %d)", WEIR_VERSION,
	    m.conf->path, (int)getpid());
	systemd_ready_start(&m);
	acme_configure(&m);	/* before the front end: it serves their certificates */
	feproc_start(&m);
	pools_start(&m);
	if (loop_run(m.loop) == -1)
		log_warn("event loop");
	rc = m.exit_status;
	remove_pidfile(&m);
	log_info("stopped");
out:
	if (rc != 0 && m.upg_from != -1)
		start_failed(&m, NULL, err);
	handover_end(&m);
	listeners_close(&m.upg_lis);
	free(m.upg_pools);	/* not applied: it did not get that far */
	for (int i = 0; i < 2; i++)
		if (m.upg_admin[i] != -1)
			close(m.upg_admin[i]);
	upgrade_free(&m);
	admin_close(&m);
	acme_free(&m);	/* ends an order in flight */
	if (m.loop != NULL)
		loop_run_deferred(m.loop);
	/*
	 * Everything of ours has stopped, or gets SIGKILL from pools_free()
	 * now: no records any more, and none rewritten while pools are freed.
	 */
	if (m.start_ticks != 0)
		leftover_forget(&m);
	if (m.pools != NULL)
		pools_free(&m);
	if (m.loop != NULL) {
		loop_run_deferred(m.loop);	/* the workers pools_free() let go */
		loop_free(m.loop);
	}
	poolcg_teardown(&m);
	listeners_close(&m.lis);
	warden_stop(&m);
	if (m.access_fd != -1)
		close(m.access_fd);
	if (m.httperr_fd != -1)
		close(m.httperr_fd);
	feproc_free(&m);
	sitefault_free(&m);
	tlsexpiry_free(&m);
	tlscheck_checked_free(&chk);
	tlsload_set(&m, NULL, 0);
	tlskeys_free(&m);
	fe_ident_free(&m.fe_id);
	events_close();
	conf_free(m.conf);
	for (size_t i = 0; i < m.nold_confs; i++)
		conf_free(m.old_confs[i]);
	free(m.old_confs);
	free(m.conf_path);
	return rc;
}
