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

#include "privs.h"
#include "log.h"
#include "util.h"
#include "frontend.h"

#define TICK_MS		1000
#define STATS_MS	500	/* counters to the master */

_Thread_local struct fe_thread *fe_self;

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

/* Drop root and every capability for good, before touching any client byte. */
static int
drop_privileges(const struct fe_start *st)
{
	struct privs pv = {
		.change_id = st->drop_privs, .uid = st->uid, .gid = st->gid,
		.groups = st->groups, .ngroups = st->ngroups
	};
	char err[WEIR_ERRLEN];

	/* the user's supplementary groups too (access is checked with them) */
	if (privs_drop(&pv, err) == -1) {
		log_warnx("cannot drop privileges to uid %d: %s", (int)st->uid, err);
		return -1;
	}
	if (!st->drop_privs)
		return 0;
	/*
	 * The kernel cleared the parent-death signal the master's fork set
	 * (credentials changed): set it again, then make sure the master did
	 * not die in between (we would have been reparented).
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != st->master) {
		log_warnx("the master is gone or cannot be followed: not starting");
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
	conn_drain_idle(t, t->fe->handover);
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
	if (msg & FE_MSG_GEN)
		fe_thread_sync_gen(t);
	if (msg & FE_MSG_READY)
		queue_run_ready(t);
	if (msg & FE_MSG_WORKERS)
		upstream_drop_idle(t, false);
	if (msg & FE_MSG_ACCEPT)
		conn_resume_accept(t);
	if (msg & FE_MSG_DRAIN)
		begin_drain(t);
}

static void
before_sleep(void *arg)
{
	struct fe_thread *t = arg;

	/* requests this thread handed to itself (queue.c hand_over()) */
	while (atomic_load_explicit(&t->ready_local, memory_order_relaxed)) {
		atomic_store_explicit(&t->ready_local, false, memory_order_relaxed);
		queue_run_ready(t);
	}
	logbuf_flush(t, false);
	if (t->draining && t->nconns == 0)
		loop_stop(t->loop);
}

static void
on_tick(void *arg)
{
	struct fe_thread *t = arg;

	logbuf_flush(t, false);
	conn_trim(t);
	if (t->idx == 0)
		siteroot_tick(t);
	/* single-connection workers must not wait behind an idle connection */
	if (t->nidle_up > 0)
		upstream_drop_idle(t, false);
	loop_timer_set(t->loop, &t->tick, TICK_MS);
}

static void
on_stats(void *arg)
{
	struct frontend *fe = arg;

	queue_send_stats(fe);
	loop_timer_set(fe->threads[0].loop, &fe->stats_timer, STATS_MS);
}

/*
 * Stop: no new connections, ms for what is in flight.  For an upgrade
 * (handover) the new generation accepts on the same sockets, and a
 * keep-alive connection closed while idle races with the client's next
 * request on it (which then fails): idle connections are kept until that
 * request comes, which is answered with Connection: close, or until the
 * deadline.
 */
static void
shutdown_all(struct frontend *fe, uint64_t ms, bool handover)
{
	if (fe->shutting_down)
		return;
	fe->shutting_down = true;
	fe->shutdown_ms = ms;
	fe->handover = handover;
	log_info("stopping%s: no new connections, %llums for requests in flight",
	    handover ? " (a new generation serves)" : "", (unsigned long long)ms);
	for (unsigned i = 0; i < fe->nthreads; i++)
		wake(&fe->threads[i], FE_MSG_DRAIN);
}

static void
on_signal(void *arg, int signo)
{
	struct frontend *fe = arg;

	/* thread 0 swaps fe->gen, so it may read it as is */
	if (signo == SIGTERM || signo == SIGINT)
		shutdown_all(fe, atomic_load(&fe->gen)->conf->server.shutdown_timeout, false);
}

/*
 * CTL_LOG_REOPEN: fds[0] the httperr log, fds[1] the access log (unless
 * off).  The fds are put in place with dup2(), so threads keep using the
 * same numbers and never see a closed one; the access log's slot is the
 * one of its format (see struct frontend).
 */
static void
log_reopen(struct frontend *fe, const struct ctl_log_reopen *lr, const int *fds, int nfds)
{
	int format = lr->access_format;
	atomic_int *slots[2] = { &fe->httperr_fd, NULL };

	if (format == ACCESS_LOG_W3C || format == ACCESS_LOG_COMBINED)
		slots[1] = &fe->access_fds[format];
	for (int i = 0; i < nfds; i++) {
		int old;

		if (i >= 2 || slots[i] == NULL) {
			close(fds[i]);
			continue;
		}
		old = atomic_load(slots[i]);
		if (old == -1) {
			atomic_store(slots[i], fds[i]);
			continue;
		}
		if (dup2(fds[i], old) == -1)
			log_warn("reopen log: dup2");
		close(fds[i]);
	}
	if (slots[1] != NULL ? nfds >= 2 : format == ACCESS_LOG_OFF)
		atomic_store(&fe->access_format, format);
}

static void
reload_result(struct frontend *fe, bool ok, uint32_t generation, const char *msg)
{
	struct ctl_result r;

	memset(&r, 0, sizeof(r));
	r.ok = ok;
	r.generation = generation;
	wstrlcpy(r.msg, msg, sizeof(r.msg));
	if (ctl_send(fe->ctl, CTL_RELOAD_RESULT, &r, sizeof(r), NULL, 0) == -1)
		log_warn("control channel: reload result");
}

/* Add an address with its sockets (one per thread) to the table. */
static bool
addr_add(struct frontend *fe, const struct conf_listen *cl, const int *fds, int nfds,
    int *used)
{
	size_t n = atomic_load(&fe->naddrs);
	struct fe_laddr *a;

	if (n == FE_MAX_ADDRS || *used + (int)fe->nthreads > nfds)
		return false;
	a = &fe->addrs[n];
	a->ss = cl->ss;
	a->sslen = cl->sslen;
	a->fds = xcalloc(fe->nthreads, sizeof(int));
	for (unsigned t = 0; t < fe->nthreads; t++)
		a->fds[t] = fds[(*used)++];
	atomic_store(&a->alive, true);
	atomic_store(&fe->naddrs, n + 1);
	return true;
}

static bool
conf_has_addr(const struct conf *c, const struct fe_laddr *a)
{
	for (size_t i = 0; i < c->server.listen.n; i++)
		if (c->server.listen.v[i].sslen == a->sslen &&
		    memcmp(&c->server.listen.v[i].ss, &a->ss, a->sslen) == 0)
			return true;
	for (size_t s = 0; s < c->nsites; s++)
		for (size_t i = 0; i < c->sites[s].listen.n; i++)
			if (c->sites[s].listen.v[i].sslen == a->sslen &&
			    memcmp(&c->sites[s].listen.v[i].ss, &a->ss, a->sslen) == 0)
				return true;
	return false;
}

static void
addr_consider(struct frontend *fe, const struct conf_listen *cl, const int *fds,
    int nfds, int *used, bool *ok)
{
	int i = router_addr_index(fe, &cl->ss, cl->sslen);

	if (i >= 0 && atomic_load(&fe->addrs[i].alive))
		return;
	if (i >= 0) {
		/* came back: fresh sockets from the master */
		struct fe_laddr *a = &fe->addrs[i];

		if (*used + (int)fe->nthreads > nfds) {
			*ok = false;
			return;
		}
		for (unsigned t = 0; t < fe->nthreads; t++) {
			if (a->fds[t] != -1)
				close(a->fds[t]);
			a->fds[t] = fds[(*used)++];
		}
		atomic_store(&a->alive, true);
		/* the threads' old listener slots were closed; let them retake */
		for (unsigned t = 0; t < fe->nthreads; t++)
			fe->threads[t].ls[i].t = NULL;
		return;
	}
	if (!addr_add(fe, cl, fds, nfds, used))
		*ok = false;
}

/*
 * CTL_RELOAD: parse the new text (already validated by the master), take
 * the sockets of new addresses, retire removed ones, re-map pools by name,
 * build the new generation and let every thread switch to it.  Requests in
 * progress finish on the generation they started with.
 */
static void
reload(struct frontend *fe, int *fds, int nfds, uint32_t generation)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *nc;
	struct fe_gen *g, *old;
	char err[WEIR_ERRLEN], *buf = NULL, *text;
	size_t len = 0, cap = 0;
	int used = 1;
	bool ok = true;
	ssize_t r;

	if (fds == NULL || nfds < 1) {
		reload_result(fe, false, generation, "no configuration received");
		return;
	}
	/* 1. the text: "path\0config" in a memfd */
	if (lseek(fds[0], 0, SEEK_SET) == -1)
		log_warn("reload: lseek");
	for (;;) {
		if (len + 8192 > cap) {
			cap = cap ? cap * 2 : 65536;
			buf = xreallocarray(buf, cap, 1);
		}
		r = read(fds[0], buf + len, cap - len - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fds[0]);
	if (buf == NULL || (text = memchr(buf, '\0', len)) == NULL) {
		for (int i = 1; i < nfds; i++)
			close(fds[i]);
		free(buf);
		reload_result(fe, false, generation, "malformed configuration message");
		return;
	}
	text++;
	nc = conf_parse_text(buf, text, len - (size_t)(text - buf), 0, &errs);
	free(buf);
	if (nc == NULL) {
		snprintf(err, sizeof(err), "%s", errs.n ? errs.msg[0] : "invalid");
		conf_errors_clear(&errs);
		for (int i = 1; i < nfds; i++)
			close(fds[i]);
		reload_result(fe, false, generation, err);
		return;
	}
	/* 2. addresses: new ones in the master's order (server, then sites) */
	for (size_t i = 0; i < nc->server.listen.n; i++)
		addr_consider(fe, &nc->server.listen.v[i], fds, nfds, &used, &ok);
	for (size_t s = 0; s < nc->nsites; s++)
		for (size_t i = 0; i < nc->sites[s].listen.n; i++)
			addr_consider(fe, &nc->sites[s].listen.v[i], fds, nfds, &used, &ok);
	for (int i = used; i < nfds; i++)
		close(fds[i]);
	if (!ok) {
		conf_free(nc);
		reload_result(fe, false, generation, "listening sockets do not match the configuration");
		return;
	}
	for (size_t a = 0; a < atomic_load(&fe->naddrs); a++)
		if (atomic_load(&fe->addrs[a].alive) && !conf_has_addr(nc, &fe->addrs[a]))
			atomic_store(&fe->addrs[a].alive, false);
	/* 3. pools, then the generation that routes to them */
	queue_apply_conf(fe, nc);
	g = router_build(fe, nc, true, generation);
	tls_rebuild(fe, nc);
	old = atomic_exchange(&fe->gen, g);
	fe_gen_release(old);
	for (unsigned i = 0; i < fe->nthreads; i++)
		wake(&fe->threads[i], FE_MSG_GEN);
	log_info("serving generation %u", generation);
	reload_result(fe, true, generation, "ok");
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
			shutdown_all(fe, u.sd.deadline_ms, u.sd.handover != 0);
			break;
		case CTL_LOG_REOPEN:
			log_reopen(fe, (const struct ctl_log_reopen *)(void *)u.buf, fds, hdr.nfds);
			hdr.nfds = 0;
			break;
		case CTL_RELOAD:
			reload(fe, hdr.nfds > 0 ? fds : NULL, hdr.nfds, *(uint32_t *)(void *)u.buf);
			hdr.nfds = 0;
			break;
		case CTL_TLS_CERTS:
			if (hdr.nfds > 0)
				tls_certs(fe, fds[0], atomic_load(&fe->gen)->conf);
			/*
			 * Threads take the new contexts with a generation; a
			 * certificate pushed without a reload (ACME) must reach
			 * them too: the same generation again, new contexts.
			 */
			for (unsigned i = 0; i < fe->nthreads; i++)
				wake(&fe->threads[i], FE_MSG_GEN);
			break;
		case CTL_TLS_KEYS:
			tls_set_keys(fe, (const struct ctl_tls_keys *)(void *)u.buf);
			break;
		case CTL_ACCEPT:
			/*
			 * An upgrade's new generation takes over: until now the
			 * connections waited in the shared accept queues for
			 * the old front end.
			 */
			log_info("accepting connections: the old generation stops");
			atomic_store(&fe->hold, false);
			for (unsigned i = 0; i < fe->nthreads; i++)
				wake(&fe->threads[i], FE_MSG_ACCEPT);
			break;
		case CTL_ACME_CHALLENGE:
			/* the table is shared: every thread answers it from now on */
			if (acmechal_set((const struct ctl_acme_challenge *)(void *)u.buf) == -1)
				log_warnx("ACME challenge table full: token not answered");
			else if (ctl_send(fe->ctl, CTL_ACME_CHALLENGE_ACK, u.buf,
			    sizeof(struct ctl_acme_challenge), NULL, 0) == -1)
				log_warn("control channel: ACME challenge acknowledgement");
			break;
		case CTL_STATUS_REQ:
			if (stats_snapshot(fe) == -1)
				log_warn("status snapshot");
			break;
		case CTL_POOL_STATE:
		case CTL_WORKER_READY:
		case CTL_WORKER_DRAIN:
		case CTL_WORKER_GONE:
			queue_ctl(fe, &hdr, &u);
			break;
		case CTL_DRAIN:
			/* read by every thread on each request: no wake-up needed */
			atomic_store(&fe->lb_draining, true);
			log_info("draining: health_path answers 503, keep-alive ends after each response");
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
		shutdown_all(fe, atomic_load(&fe->gen)->conf->server.shutdown_timeout, false);
	}
}

/*
 * Make this thread's listening sockets match the address table: take the
 * sockets of addresses added since (this thread's own fd of each), close
 * those of addresses a reload removed.
 */
static int
sync_listeners(struct fe_thread *t)
{
	struct frontend *fe = t->fe;
	size_t n = atomic_load(&fe->naddrs);

	for (size_t a = 0; a < n; a++) {
		struct fe_listener *l = &t->ls[a];
		bool alive = atomic_load(&fe->addrs[a].alive);

		if (l->t == NULL && alive) {
			l->t = t;
			l->addr = (unsigned)a;
			l->fd = fe->addrs[a].fds[t->idx];
			fe->addrs[a].fds[t->idx] = -1;	/* the thread owns it now */
			if (t->draining) {
				close(l->fd);
				l->fd = -1;
				continue;
			}
			if (loop_io_add(t->loop, &l->io, l->fd, !atomic_load(&fe->hold) &&
			    (t->accepting || t->nls == 0) ? LOOP_READ : 0, conn_accept, l) == -1)
				return -1;
		} else if (l->t != NULL && !alive && l->fd != -1) {
			loop_io_del(t->loop, &l->io);
			close(l->fd);
			l->fd = -1;
		}
	}
	t->nls = n;
	return 0;
}

/* FE_MSG_GEN: take the newest configuration and its listening sockets. */
void
fe_thread_sync_gen(struct fe_thread *t)
{
	struct fe_gen *old = t->gen;
	struct tls_set *oldtls = t->tls;

	t->gen = fe_gen_acquire(t->fe);
	fe_gen_release(old);
	t->tls = tls_set_acquire(t->fe);
	tls_set_release(oldtls);
	fcache_configure(t->fcache, t->gen->conf->server.open_file_cache,
	    t->gen->conf->server.open_file_cache_valid);
	if (sync_listeners(t) == -1)
		log_warn("thread %u: listening sockets", t->idx);
}

static int
thread_init(struct frontend *fe, struct fe_thread *t, unsigned idx, char *err)
{
	const struct fe_start *st = fe->st;
	const struct conf_server *s = &st->conf->server;

	t->fe = fe;
	t->idx = idx;
	pthread_mutex_init(&t->ready_lock, NULL);
	t->gen = fe_gen_acquire(fe);
	t->tls = tls_set_acquire(fe);
	t->reserve_fd = -1;
	if ((t->loop = loop_new(err)) == NULL)
		return -1;
	if ((t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    loop_io_add(t->loop, &t->wake_io, t->wake_fd, LOOP_READ, on_wake, t) == -1) {
		snprintf(err, WEIR_ERRLEN, "eventfd: %s", strerror(errno));
		return -1;
	}
	t->fcache = fcache_new(s->open_file_cache, s->open_file_cache_valid);
	/* NULL: short of memory; a site's rewrite rules then answer 500 */
	t->rw_md = rewrite_match_data();
	t->ls = xcalloc(FE_MAX_ADDRS, sizeof(*t->ls));
	for (size_t a = 0; a < FE_MAX_ADDRS; a++)
		t->ls[a].fd = -1;
	t->nls = 0;
	if (sync_listeners(t) == -1) {
		snprintf(err, WEIR_ERRLEN, "epoll_ctl: %s", strerror(errno));
		return -1;
	}
	t->accepting = !atomic_load(&fe->hold);
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
	upstream_drop_idle(t, true);
	logbuf_flush(t, true);
	stop_listening(t);
	if (t->loop != NULL)
		loop_run_deferred(t->loop);	/* frees of what was closed above */
	fcache_free(t->fcache);
	if (t->rw_md != NULL)
		rewrite_match_data_free(t->rw_md);
	free(t->alog.buf);
	free(t->elog.buf);
	objs_trim(&t->free_conns, true, 0);
	objs_trim(&t->free_streams, true, 0);
	objs_trim(&t->free_blocks, true, 0);
	h2mem_trim(t, true);
	if (t->reserve_fd != -1)
		close(t->reserve_fd);
	if (t->wake_fd != -1)
		close(t->wake_fd);
	loop_free(t->loop);
	free(t->ls);
	fe_gen_release(t->gen);
	tls_set_release(t->tls);
	pthread_mutex_destroy(&t->ready_lock);
}

static void *
thread_main(void *arg)
{
	struct fe_thread *t = arg;

	fe_self = t;
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
	atomic_init(&fe.hold, st->hold_accept);
	fe.ctl = st->ctl;
	fe.shutdown_ms = st->conf->server.shutdown_timeout;
	atomic_init(&fe.access_fds[ACCESS_LOG_W3C], -1);
	atomic_init(&fe.access_fds[ACCESS_LOG_COMBINED], -1);
	atomic_init(&fe.access_format, st->access_fd != -1 ?
	    st->conf->server.access_log : ACCESS_LOG_OFF);
	if (st->access_fd != -1 && st->conf->server.access_log != ACCESS_LOG_OFF)
		atomic_store(&fe.access_fds[st->conf->server.access_log], st->access_fd);
	atomic_init(&fe.httperr_fd, st->httperr_fd);
	if (drop_privileges(st) == -1)
		return 1;
	fe.nthreads = st->threads;
	for (size_t a = 0; a < st->naddrs && a < FE_MAX_ADDRS; a++) {
		fe.addrs[a].ss = st->addrs[a];
		fe.addrs[a].sslen = st->addrlens[a];
		fe.addrs[a].fds = xcalloc(st->threads, sizeof(int));
		for (unsigned t = 0; t < st->threads; t++)
			fe.addrs[a].fds[t] = st->listen_fds[a * st->threads + t];
		atomic_init(&fe.addrs[a].alive, true);
	}
	atomic_init(&fe.naddrs, st->naddrs < FE_MAX_ADDRS ? st->naddrs : FE_MAX_ADDRS);
	queue_init(&fe);
	g = router_build(&fe, (struct conf *)st->conf, false, st->generation);
	atomic_init(&fe.gen, g);
	if (tls_init(&fe, st->conf) == -1)
		return 1;
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
			log_warnx("cannot start thread %u of %u: pthread_create: %s%s", i + 1,
			    fe.nthreads, strerror(e), e == EAGAIN ?
			    " (is the process limit of its user, RLIMIT_NPROC, too low?)" : "");
			return 1;
		}
	}
	loop_timer_init(&fe.stats_timer, on_stats, &fe);
	loop_timer_set(fe.threads[0].loop, &fe.stats_timer, STATS_MS);
	hello.threads = fe.nthreads;
	hello.generation = g->generation;
	if (ctl_send(fe.ctl, CTL_HELLO, &hello, sizeof(hello), NULL, 0) == -1)
		log_warn("control channel: hello");
	fe_self = &fe.threads[0];
	if (loop_run(fe.threads[0].loop) == -1) {
		log_warn("thread 0: event loop");
		rc = 1;
	}
	shutdown_all(&fe, 0, false);
	for (unsigned i = 1; i < fe.nthreads; i++)
		pthread_join(fe.threads[i].tid, NULL);
	for (unsigned i = 0; i < fe.nthreads; i++)
		thread_fini(&fe.threads[i]);
	free(fe.threads);
	fe_gen_release(atomic_load(&fe.gen));
	tls_fini(&fe);
	queue_free(&fe);
	router_free_stats(&fe);
	for (size_t a = 0; a < atomic_load(&fe.naddrs); a++) {
		for (unsigned t = 0; t < fe.nthreads; t++)
			if (fe.addrs[a].fds[t] != -1)
				close(fe.addrs[a].fds[t]);
		free(fe.addrs[a].fds);
	}
	log_info("front end stopped");
	return rc;
}
