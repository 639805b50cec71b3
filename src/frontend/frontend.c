/*
 * frontend.c - the front-end process: identity, threads, control channel,
 * graceful shutdown.
 *
 * Thread 0 runs the control channel to the master and the signals; every
 * thread (0 included) runs its own event loop over its own listening sockets
 * (SO_REUSEPORT, bound by the master) and its own connections.  Threads share
 * nothing on the request path but the immutable configuration generation.
 * Thread 0 tells the others what to do by setting bits in their `pending`
 * word and writing their eventfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

#include "log.h"
#include "util.h"
#include "frontend.h"

#define TICK_MS		1000
#define STATS_MS	500	/* counters to the master */

struct fe_gen *
fe_gen_acquire(struct frontend *fe)
{
	struct fe_gen *g = atomic_load(&fe->gen);

	atomic_fetch_add(&g->refs, 1);
	return g;
}

void
fe_gen_release(struct fe_gen *g)
{
	if (g != NULL && atomic_fetch_sub(&g->refs, 1) == 1)
		router_free(g);
}

/* Drop root for good, before touching any client byte. */
static int
drop_privileges(const struct fe_start *st)
{
	if (!st->drop_privs)
		return 0;
	if (setgroups(1, &st->gid) == -1 || setgid(st->gid) == -1 ||
	    setuid(st->uid) == -1) {
		log_warn("cannot drop privileges to uid %d", (int)st->uid);
		return -1;
	}
	if (setuid(0) != -1 || geteuid() == 0) {
		log_warnx("could regain root after dropping privileges: refusing to run");
		return -1;
	}
	return 0;
}

static void
wake(struct fe_thread *t, unsigned msg)
{
	uint64_t one = 1;

	atomic_fetch_or(&t->pending, msg);
	/* A full eventfd counter still wakes the thread: nothing to do on error. */
	(void)!write(t->wake_fd, &one, sizeof(one));
}

static void
stop_listening(struct fe_thread *t)
{
	for (size_t i = 0; i < t->nls; i++) {
		if (t->ls[i].fd == -1)
			continue;
		loop_io_del(t->loop, &t->ls[i].io);
		close(t->ls[i].fd);	/* the master keeps its copy open */
		t->ls[i].fd = -1;
	}
	t->accepting = false;
}

static void
drain_deadline(void *arg)
{
	struct fe_thread *t = arg;
	struct conn *c, *next;

	if (t->nconns > 0)
		log_warnx("shutdown deadline: closing %zu connection%s with requests in flight",
		    t->nconns, t->nconns == 1 ? "" : "s");
	for (c = t->conns; c != NULL; c = next) {
		next = c->next;
		conn_close(c);
	}
	loop_stop(t->loop);
}

static void
begin_drain(struct fe_thread *t)
{
	if (t->draining)
		return;
	t->draining = true;
	stop_listening(t);
	conn_drain_idle(t);
	loop_timer_set(t->loop, &t->drain_timer, t->fe->shutdown_ms);
}

static void
on_wake(void *arg, uint32_t events)
{
	struct fe_thread *t = arg;
	uint64_t v;
	unsigned msg;

	(void)events;
	/* Reset the counter; EAGAIN only means someone else already did. */
	(void)!read(t->wake_fd, &v, sizeof(v));
	msg = atomic_exchange(&t->pending, 0);
	if (msg & FE_MSG_READY)
		queue_run_ready(t);
	if (msg & FE_MSG_WORKERS)
		proxy_drop_idle(t, false);
	if (msg & FE_MSG_DRAIN)
		begin_drain(t);
}

static void
before_sleep(void *arg)
{
	struct fe_thread *t = arg;

	logbuf_flush(t, false);
	if (t->draining && t->nconns == 0)
		loop_stop(t->loop);
}

static void
on_tick(void *arg)
{
	struct fe_thread *t = arg;

	logbuf_flush(t, false);
	loop_timer_set(t->loop, &t->tick, TICK_MS);
}

static void
on_stats(void *arg)
{
	struct frontend *fe = arg;

	queue_send_stats(fe);
	loop_timer_set(fe->threads[0].loop, &fe->stats_timer, STATS_MS);
}

static void
shutdown_all(struct frontend *fe, uint64_t ms)
{
	if (fe->shutting_down)
		return;
	fe->shutting_down = true;
	fe->shutdown_ms = ms;
	log_info("stopping: no new connections, %llums for requests in flight",
	    (unsigned long long)ms);
	for (unsigned i = 0; i < fe->nthreads; i++)
		wake(&fe->threads[i], FE_MSG_DRAIN);
}

static void
on_signal(void *arg, int signo)
{
	struct frontend *fe = arg;

	if (signo == SIGTERM || signo == SIGINT)
		shutdown_all(fe, fe->st->conf->server.shutdown_timeout);
}

/* Replace the log fds in place: threads keep using the same numbers. */
static void
log_reopen(struct frontend *fe, const int *fds, int nfds)
{
	atomic_int *slots[2] = { &fe->access_fd, &fe->httperr_fd };

	for (int i = 0; i < nfds && i < 2; i++) {
		int old = atomic_load(slots[i]);

		if (fds[i] == -1)
			continue;
		if (old == -1)
			atomic_store(slots[i], fds[i]);
		else {
			if (dup2(fds[i], old) == -1)
				log_warn("reopen log: dup2");
			close(fds[i]);
		}
	}
	for (int i = 2; i < nfds; i++)
		close(fds[i]);
}

static void
on_ctl(void *arg, uint32_t events)
{
	struct frontend *fe = arg;
	union {
		struct ctl_shutdown	sd;
		char			buf[CTL_MAX_PAYLOAD];
	} u;
	struct ctl_hdr hdr;
	int fds[CTL_MAX_FDS], r;

	(void)events;
	while ((r = ctl_recv(fe->ctl, &hdr, &u, sizeof(u), fds, CTL_MAX_FDS)) == 1) {
		switch (hdr.type) {
		case CTL_SHUTDOWN:
			shutdown_all(fe, u.sd.deadline_ms);
			break;
		case CTL_LOG_REOPEN:
			log_reopen(fe, fds, hdr.nfds);
			hdr.nfds = 0;
			break;
		case CTL_POOL_STATE:
		case CTL_WORKER_READY:
		case CTL_WORKER_DRAIN:
		case CTL_WORKER_GONE:
			queue_ctl(fe, &hdr, &u);
			break;
		default:
			log_warnx("master: unexpected message %s",
			    ctl_type_name((enum ctl_type)hdr.type));
			break;
		}
		for (int i = 0; i < hdr.nfds; i++)
			close(fds[i]);
	}
	if (r == 0 || r == -1) {
		/* The master is gone or talking nonsense: finish up and leave. */
		if (r == -1)
			log_warn("control channel");
		loop_io_del(fe->threads[0].loop, &fe->ctl_io);
		shutdown_all(fe, fe->st->conf->server.shutdown_timeout);
	}
}

static int
thread_init(struct frontend *fe, struct fe_thread *t, unsigned idx, char *err)
{
	const struct fe_start *st = fe->st;
	const struct conf_server *s = &st->conf->server;

	t->fe = fe;
	t->idx = idx;
	pthread_mutex_init(&t->ready_lock, NULL);
	t->gen = atomic_load(&fe->gen);
	t->reserve_fd = -1;
	if ((t->loop = loop_new(err)) == NULL)
		return -1;
	if ((t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    loop_io_add(t->loop, &t->wake_io, t->wake_fd, LOOP_READ, on_wake, t) == -1) {
		snprintf(err, WEIR_ERRLEN, "eventfd: %s", strerror(errno));
		return -1;
	}
	t->fcache = fcache_new(s->open_file_cache, s->open_file_cache_valid);
	t->nls = st->naddrs;
	t->ls = xcalloc(st->naddrs, sizeof(*t->ls));
	for (size_t a = 0; a < st->naddrs; a++) {
		struct fe_listener *l = &t->ls[a];

		l->t = t;
		l->addr = (unsigned)a;
		l->fd = st->listen_fds[a * st->threads + idx];
		if (loop_io_add(t->loop, &l->io, l->fd, LOOP_READ, conn_accept, l) == -1) {
			snprintf(err, WEIR_ERRLEN, "epoll_ctl: %s", strerror(errno));
			return -1;
		}
	}
	t->accepting = true;
	t->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	loop_timer_init(&t->accept_timer, conn_resume_accept, t);
	loop_timer_init(&t->tick, on_tick, t);
	loop_timer_init(&t->drain_timer, drain_deadline, t);
	loop_timer_set(t->loop, &t->tick, TICK_MS);
	loop_set_before_sleep(t->loop, before_sleep, t);
	return 0;
}

static void
thread_fini(struct fe_thread *t)
{
	struct conn *c, *next;

	for (c = t->conns; c != NULL; c = next) {
		next = c->next;
		conn_close(c);
	}
	proxy_drop_idle(t, true);
	logbuf_flush(t, true);
	stop_listening(t);
	if (t->loop != NULL) {
		/* run the deferred frees of the connections closed above */
		loop_stop(t->loop);
		loop_run(t->loop);
	}
	fcache_free(t->fcache);
	free(t->alog.buf);
	free(t->elog.buf);
	while (t->free_blocks != NULL) {
		void *b = t->free_blocks;

		t->free_blocks = *(void **)b;
		free(b);
	}
	if (t->reserve_fd != -1)
		close(t->reserve_fd);
	if (t->wake_fd != -1)
		close(t->wake_fd);
	loop_free(t->loop);
	free(t->ls);
	pthread_mutex_destroy(&t->ready_lock);
}

static void *
thread_main(void *arg)
{
	struct fe_thread *t = arg;

	if (loop_run(t->loop) == -1)
		log_warn("thread %u: event loop", t->idx);
	return NULL;
}

int
frontend_main(const struct fe_start *st)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE };
	struct frontend fe;
	struct fe_gen *g;
	struct ctl_hello hello;
	char err[WEIR_ERRLEN];
	int rc = 0;

	memset(&fe, 0, sizeof(fe));
	fe.st = st;
	fe.ctl = st->ctl;
	fe.shutdown_ms = st->conf->server.shutdown_timeout;
	atomic_init(&fe.access_fd, st->access_fd);
	atomic_init(&fe.httperr_fd, st->httperr_fd);
	if (drop_privileges(st) == -1)
		return 1;
	queue_init(&fe);
	if ((g = router_build(&fe, (struct conf *)st->conf, false, st->generation, err)) == NULL) {
		log_warnx("%s", err);
		return 1;
	}
	atomic_init(&fe.gen, g);
	fe.nthreads = st->threads;
	fe.threads = xcalloc(fe.nthreads, sizeof(*fe.threads));
	for (unsigned i = 0; i < fe.nthreads; i++)
		fe.threads[i].wake_fd = -1;
	for (unsigned i = 0; i < fe.nthreads; i++) {
		if (thread_init(&fe, &fe.threads[i], i, err) == -1) {
			log_warnx("thread %u: %s", i, err);
			return 1;
		}
	}
	/* Signals go to thread 0's signalfd; block them before threads exist. */
	if (loop_signals(fe.threads[0].loop, sigs, (int)nitems(sigs), on_signal,
	    &fe, err) == -1) {
		log_warnx("%s", err);
		return 1;
	}
	if (fd_nonblock(fe.ctl) == -1 ||
	    loop_io_add(fe.threads[0].loop, &fe.ctl_io, fe.ctl, LOOP_READ, on_ctl, &fe) == -1) {
		log_warn("control channel");
		return 1;
	}
	for (unsigned i = 1; i < fe.nthreads; i++) {
		int e = pthread_create(&fe.threads[i].tid, NULL, thread_main,
		    &fe.threads[i]);

		if (e != 0) {
			errno = e;
			log_warn("pthread_create");
			return 1;
		}
	}
	loop_timer_init(&fe.stats_timer, on_stats, &fe);
	loop_timer_set(fe.threads[0].loop, &fe.stats_timer, STATS_MS);
	hello.threads = fe.nthreads;
	hello.generation = g->generation;
	if (ctl_send(fe.ctl, CTL_HELLO, &hello, sizeof(hello), NULL, 0) == -1)
		log_warn("control channel: hello");
	if (loop_run(fe.threads[0].loop) == -1) {
		log_warn("thread 0: event loop");
		rc = 1;
	}
	shutdown_all(&fe, 0);
	for (unsigned i = 1; i < fe.nthreads; i++)
		pthread_join(fe.threads[i].tid, NULL);
	for (unsigned i = 0; i < fe.nthreads; i++)
		thread_fini(&fe.threads[i]);
	free(fe.threads);
	fe_gen_release(atomic_load(&fe.gen));
	queue_free(&fe);
	log_info("front end stopped");
	return rc;
}
