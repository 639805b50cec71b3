/*
 * warden.c - a small process that ends the master's processes if the
 * master dies without doing it.
 *
 * The parent-death signal (worker.c, feproc.c) reaches only the master's
 * own children: the workers' main processes get SIGKILL, the front end
 * SIGTERM.  What a worker started itself (gunicorn's forked workers, a
 * shell's children) gets nothing and would live on, holding the pool's
 * socket and identity.  The warden is forked by the master at start,
 * before anything else runs, and blocks reading a pipe whose only write
 * end the master holds (close-on-exec, closed by the front end's child).
 * EOF on it is the master's exit, however it came: then the warden ends
 * every recorded process group (leftover.c, event 1310) and exits.  On a
 * clean stop the master removes the records first, so the warden finds
 * nothing to do.
 *
 * It ignores the signals an operator sends to the master's whole process
 * group (^C in a terminal): its life is tied to the master's by the pipe.
 * If the warden itself dies, the master says so and runs on; what it
 * leaves is then ended at the next start only (leftover.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "master.h"

static void __attribute__((noreturn))
run(const char *state_dir, const char *file, int fd, pid_t master)
{
	static const int ignored[] = {
		SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE
	};
	const int keep[] = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, fd };
	sigset_t none;
	ssize_t n;
	char c;

	/*
	 * Forked, not exec'd: what the master had open is not ours (its
	 * listening sockets would stay bound after it died, for as long as
	 * we take).  A failure leaves them: watching matters more.
	 */
	(void)fd_close_all_but(keep, nitems(keep));
	for (size_t i = 0; i < nitems(ignored); i++)
		signal(ignored[i], SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	(void)prctl(PR_SET_NAME, "weir-warden");	/* only a name for ps */
	log_set_ident("weir-warden");
	/* The master may already be gone (we were reparented): act now. */
	while (getppid() == master) {
		n = read(fd, &c, 1);
		if (n == -1 && errno == EINTR)
			continue;
		break;	/* EOF: the master exited; an error: cannot watch, act */
	}
	(void)leftover_end(state_dir, file, LEFTOVER_WARDEN);
	_exit(0);
}

/* Fork the warden; the master keeps the pipe's write end in m->warden_fd. */
int
warden_start(struct master *m, char *err)
{
	pid_t pid, self = getpid();
	int p[2];

	if (pipe2(p, O_CLOEXEC) == -1) {
		snprintf(err, WEIR_ERRLEN, "warden: pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, WEIR_ERRLEN, "warden: fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[1]);
		/*
		 * run() keeps only its pipe: an upgrade's new master has the
		 * handed-over sockets already, and the warden holds none of
		 * them, nor the socket the old master watches for the new
		 * one's end.
		 */
		run(m->conf->server.state_dir, m->procrec, p[0], self);
	}
	close(p[0]);
	m->warden_pid = pid;
	m->warden_ticks = procrec_start_ticks(pid);
	m->warden_fd = p[1];
	return 0;
}

/* waitpid() said the warden ended while the master runs. */
void
warden_exited(struct master *m, int status)
{
	log_warnx("the warden (pid %d) exited (status 0x%x): if this master dies, what its workers started is ended only when weir starts again",
	    (int)m->warden_pid, status);
	m->warden_pid = 0;
	m->warden_ticks = 0;
	if (m->warden_fd != -1) {
		close(m->warden_fd);
		m->warden_fd = -1;
	}
	leftover_record(m);
}

/* A clean exit (records already removed): let the warden go, reap it. */
void
warden_stop(struct master *m)
{
	pid_t pid = m->warden_pid;

	if (m->warden_fd != -1) {
		close(m->warden_fd);
		m->warden_fd = -1;
	}
	if (pid <= 0)
		return;
	m->warden_pid = 0;
	/* It finds no records and exits at once. */
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
}
