/*
 * handover.c - the new master's side of an upgrade (`weir run
 * --upgrade-from FD`; upgrade.c is the old master's).
 *
 * Before anything is bound it reads what the old master hands over: the
 * listening sockets (listeners_open() takes them instead of binding), the
 * admin socket (admin.c accepts on it only once we serve alone), the TLS
 * session ticket keys, the first worker id to use (socket names the old
 * generation never reaches) and the old master's process records file (we
 * keep ours in the other one, so neither warden ends the other's
 * processes).  It then starts like any master, except that it does not
 * tell systemd READY=1 (the old master tells it our MAINPID) nor write
 * the pid file: both wait for CTL_UPG_COMMIT.  Whatever stops it from
 * serving before then is said once in CTL_UPG_FAILED; the old master
 * then stops us with SIGTERM and writes the rollback event.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "weir_version.h"
#include "weir_build_id.h"
#include "master.h"

#define HANDOVER_READ_MS	10000	/* the old master sends everything at once */

static void
add_set(struct listeners *l, const struct ctl_upg_listener *h, const int *fds, int n)
{
	struct listener_set *s;

	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	s = &l->v[l->n++];
	memset(s, 0, sizeof(*s));
	memcpy(&s->ss, &h->ss, sizeof(s->ss));
	s->sslen = h->sslen <= sizeof(s->ss) ? (socklen_t)h->sslen : (socklen_t)sizeof(s->ss);
	sockaddr_format((const struct sockaddr *)&s->ss, s->spec, sizeof(s->spec));
	s->fds = xcalloc(n > 0 ? (size_t)n : 1, sizeof(int));
	for (int i = 0; i < n; i++)
		s->fds[s->nfds++] = fds[i];
}

/*
 * Read the old master's state (blocking, bounded): listeners into
 * m->upg_lis, the rest into m.  -1 with err when it did not come whole.
 */
int
handover_recv(struct master *m, char *err)
{
	union {
		struct ctl_upg_listener	l;
		struct ctl_upg_state	st;
		struct ctl_upg_pool	pool;
		char			buf[CTL_MAX_PAYLOAD];
	} p;
	struct ctl_hdr hdr;
	int fds[CTL_MAX_FDS], r;

	for (;;) {
		struct pollfd pfd = { m->upg_from, POLLIN, 0 };

		if (poll(&pfd, 1, HANDOVER_READ_MS) == 0) {
			snprintf(err, WEIR_ERRLEN, "upgrade: the old master sent nothing for %ds",
			    HANDOVER_READ_MS / 1000);
			return -1;
		}
		r = ctl_recv(m->upg_from, &hdr, &p, sizeof(p), fds, CTL_MAX_FDS);
		if (r == WEIR_AGAIN || (r == -1 && errno == EINTR))
			continue;
		if (r <= 0) {
			snprintf(err, WEIR_ERRLEN, "upgrade: reading the old master's state: %s",
			    r == 0 ? "it closed the connection" : strerror(errno));
			return -1;
		}
		if (hdr.type == CTL_UPG_LISTENER) {
			add_set(&m->upg_lis, &p.l, fds, hdr.nfds);
			continue;
		}
		if (hdr.type == CTL_UPG_POOL && hdr.nfds == 0) {
			m->upg_pools = xreallocarray(m->upg_pools, m->nupg_pools + 1,
			    sizeof(*m->upg_pools));
			m->upg_pools[m->nupg_pools++] = p.pool;
			continue;
		}
		if (hdr.type != CTL_UPG_STATE) {
			for (int i = 0; i < hdr.nfds; i++)
				close(fds[i]);
			snprintf(err, WEIR_ERRLEN, "upgrade: unexpected message %s",
			    ctl_type_name((enum ctl_type)hdr.type));
			return -1;
		}
		break;
	}
	m->upg_keys = p.st.tls_keys;
	m->next_worker_id = p.st.first_worker_id;
	p.st.procrec[sizeof(p.st.procrec) - 1] = '\0';
	p.st.cg_own[sizeof(p.st.cg_own) - 1] = '\0';
	wstrlcpy(m->upg_cg_own, p.st.cg_own, sizeof(m->upg_cg_own));
	wstrlcpy(m->procrec, strcmp(p.st.procrec, PROCREC_FILE) == 0 ? PROCREC_FILE_ALT :
	    PROCREC_FILE, sizeof(m->procrec));
	m->upg_admin[0] = hdr.nfds > 0 ? fds[0] : -1;
	m->upg_admin[1] = p.st.admin_tcp && hdr.nfds > 1 ? fds[1] : -1;
	for (int i = m->upg_admin[1] != -1 ? 2 : 1; i < hdr.nfds; i++)
		close(fds[i]);
	explicit_bzero(&p, sizeof(p));
	return 0;
}

/*
 * After pools_init(): each pool the old generation had by that name keeps
 * its Rapid-Fail window and back-off; one disabled by Rapid-Fail stays
 * disabled until the rest of its back-off, one an administrator stopped
 * stays stopped.  Other reasons (component mismatch, identity, launch
 * failure) are decided afresh: the new install may have fixed them.
 */
void
handover_apply_pools(struct master *m)
{
	uint64_t now = loop_now(m->loop);

	for (size_t k = 0; k < m->nupg_pools; k++) {
		struct ctl_upg_pool *u = &m->upg_pools[k];
		struct pool *p;

		u->name[sizeof(u->name) - 1] = '\0';
		u->reason[sizeof(u->reason) - 1] = '\0';
		u->detail[sizeof(u->detail) - 1] = '\0';
		if ((p = pools_by_name(m, u->name)) == NULL)
			continue;
		for (uint32_t i = 0; i < u->nfail && i < CTL_UPG_FAILS; i++) {
			u->fail[i].reason[sizeof(u->fail[i].reason) - 1] = '\0';
			(void)rapidfail_note(&p->rf, u->fail[i].when, u->fail[i].pid,
			    u->fail[i].served, u->fail[i].reason);
		}
		p->backoff_ms = u->backoff_ms;
		if (u->state == POOL_DISABLED && u->retry_in_ms > 0 &&
		    (strcmp(u->reason, "rapid-fail") == 0 || strcmp(u->reason, "unreachable") == 0)) {
			wstrlcpy(p->reason, u->reason, sizeof(p->reason));
			wstrlcpy(p->detail, u->detail, sizeof(p->detail));
			p->want_workers = false;
			p->inherited_hold = true;
			pool_set_state(p, POOL_DISABLED);
			p->retry_at = now + u->retry_in_ms;
			loop_timer_set(m->loop, &p->backoff_timer, u->retry_in_ms);
		} else if ((u->state == POOL_STOPPED || u->state == POOL_STOPPING) &&
		    strcmp(u->reason, "admin") == 0) {
			wstrlcpy(p->reason, u->reason, sizeof(p->reason));
			wstrlcpy(p->detail, u->detail, sizeof(p->detail));
			p->want_workers = false;
			p->inherited_hold = true;
			pool_set_state(p, POOL_STOPPED);
		}
	}
	free(m->upg_pools);
	m->upg_pools = NULL;
	m->nupg_pools = 0;
}

/* The sockets listeners_open() did not take (addresses no longer configured). */
void
handover_close_unused(struct master *m)
{
	listeners_close(&m->upg_lis);
}

/* Say once, to the old master, why this generation cannot serve. */
void
handover_failed(struct master *m, const char *fmt, ...)
{
	struct ctl_upg_failed f;
	va_list ap;

	if (m->upg_from == -1 || m->upg_told)
		return;
	memset(&f, 0, sizeof(f));
	va_start(ap, fmt);
	vsnprintf(f.why, sizeof(f.why), fmt, ap);
	va_end(ap);
	m->upg_told = true;
	if (ctl_send(m->upg_from, CTL_UPG_FAILED, &f, sizeof(f), NULL, 0) == -1)
		log_warn("upgrade: telling the old master");
	/*
	 * What the old master sent and we did not read yet goes: closing a
	 * socket with unread data resets the connection, and the old master
	 * could see the reset before our message.
	 */
	for (;;) {
		struct ctl_hdr hdr;
		char buf[CTL_MAX_PAYLOAD];
		int fds[CTL_MAX_FDS], r;

		r = ctl_recv(m->upg_from, &hdr, buf, sizeof(buf), fds, CTL_MAX_FDS);
		if (r != 1)
			break;
		for (int i = 0; i < hdr.nfds; i++)
			close(fds[i]);
	}
}

static void
on_old(void *arg, uint32_t events)
{
	struct master *m = arg;
	struct ctl_hdr hdr;
	char buf[CTL_MAX_PAYLOAD];
	int fds[CTL_MAX_FDS], r;

	(void)events;
	r = ctl_recv(m->upg_from, &hdr, buf, sizeof(buf), fds, CTL_MAX_FDS);
	if (r == WEIR_AGAIN)
		return;
	for (int i = 0; r == 1 && i < hdr.nfds; i++)
		close(fds[i]);
	if (r == 1 && hdr.type == CTL_UPG_COMMIT) {
		log_info("upgrade: the old generation stops; this master (pid %d) serves alone",
		    (int)getpid());
		handover_end(m);
		/* the connections the old front end leaves wait in the shared queues */
		if (feproc_send(m, CTL_ACCEPT, &(uint32_t){ 0 }, sizeof(uint32_t), NULL, 0) == -1)
			log_warnx("upgrade: the front end could not be told to accept");
		master_write_pidfile(m);
		admin_resume(m);
		return;
	}
	/*
	 * EOF or anything else before the commit: the old master gave us up
	 * (or died; its warden ends its processes).  It is in charge of the
	 * outcome: stop rather than serve beside a generation we cannot see.
	 */
	log_warnx("upgrade: the old master %s before handing over: stopping",
	    r == 0 ? "went away" : "sent something unexpected");
	handover_end(m);
	master_stop(m);
}

/* Watch the old master's socket once the loop runs. */
int
handover_watch(struct master *m, char *err)
{
	if (fd_nonblock(m->upg_from) == -1 ||
	    loop_io_add(m->loop, &m->upg_io, m->upg_from, LOOP_READ, on_old, m) == -1) {
		snprintf(err, WEIR_ERRLEN, "upgrade: watching the old master: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Called where systemd's readiness is decided (systemd_check_ready): the
 * front end said hello and no always-started pool is still starting.  A
 * pool that was given up on (disabled) fails the upgrade instead: the old
 * generation serves it.
 */
void
handover_check_ready(struct master *m)
{
	struct ctl_upg_ready r;

	if (m->upg_from == -1 || m->upg_told || !m->fe.hello || m->stopping)
		return;
	for (size_t i = 0; i < m->npools; i++) {
		const struct pool *p = m->pools[i];

		if (p == NULL || p->cp->start_mode != START_ALWAYS || p->inherited_hold)
			continue;
		if (p->state == POOL_DISABLED) {
			handover_failed(m, "pool '%s' is disabled in the new generation (%s%s%s)",
			    p->name, p->reason, p->detail[0] ? ": " : "", p->detail);
			return;
		}
		if (p->state != POOL_STARTED)
			return;
	}
	memset(&r, 0, sizeof(r));
	r.pid = (int32_t)getpid();
	wstrlcpy(r.version, WEIR_VERSION, sizeof(r.version));
	wstrlcpy(r.build, WEIR_BUILD_ID, sizeof(r.build));
	m->upg_told = true;
	if (ctl_send(m->upg_from, CTL_UPG_READY, &r, sizeof(r), NULL, 0) == -1)
		log_warn("upgrade: telling the old master we are ready");
	else
		log_info("upgrade: ready; waiting for the old generation to hand over");
}

/* The upgrade is over for this master (committed, or given up). */
void
handover_end(struct master *m)
{
	if (m->upg_from == -1)
		return;
	if (m->upg_io.fd != -1)
		loop_io_del(m->loop, &m->upg_io);
	close(m->upg_from);
	m->upg_from = -1;
}
