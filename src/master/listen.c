/*
 * listen.c - bind every listening address, once per front-end thread.
 *
 * The master owns these sockets for its whole life, so a restarted front end
 * finds connections waiting in the backlog instead of refused.  Each address
 * gets one socket per front-end thread with SO_REUSEPORT: the kernel spreads
 * connections over the threads without any lock in user space.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "rc.h"
#include "util.h"
#include "master.h"

#define LISTEN_BACKLOG	4096

int
listeners_index(const struct listeners *l, const struct sockaddr_storage *ss,
    socklen_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].sslen == len && memcmp(&l->v[i].ss, ss, len) == 0)
			return (int)i;
	return -1;
}

static void
add_unique(struct listeners *l, const struct conf_listen *cl)
{
	struct listener_set *s;

	if (listeners_index(l, &cl->ss, cl->sslen) >= 0)
		return;
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	s = &l->v[l->n++];
	memset(s, 0, sizeof(*s));
	s->ss = cl->ss;
	s->sslen = cl->sslen;
	sockaddr_format((const struct sockaddr *)&cl->ss, s->spec, sizeof(s->spec));
}

static int
open_one(const struct listener_set *s, char *err)
{
	int fd, on = 1, defer = 1;

	fd = socket(s->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, WEIR_ERRLEN, "listen %s: socket: %s", s->spec, strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1) {
		snprintf(err, WEIR_ERRLEN, "listen %s: setsockopt: %s", s->spec, strerror(errno));
		close(fd);
		return -1;
	}
	if (s->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1) {
		snprintf(err, WEIR_ERRLEN, "listen %s: IPV6_V6ONLY: %s", s->spec, strerror(errno));
		close(fd);
		return -1;
	}
	/*
	 * Accepted sockets inherit these on Linux: no Nagle delay for our
	 * whole-response writes, and accept() only once the request's first
	 * bytes have arrived (one wake-up less per connection).  Both are
	 * optimisations: failure is not fatal.
	 */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
	if (bind(fd, (const struct sockaddr *)&s->ss, s->sslen) == -1) {
		snprintf(err, WEIR_ERRLEN, "listen %s: bind: %s", s->spec, strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, LISTEN_BACKLOG) == -1) {
		snprintf(err, WEIR_ERRLEN, "listen %s: %s", s->spec, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Is anyone listening on the address already?  Our own sockets join an
 * SO_REUSEPORT group, and a group takes in any socket with the option from
 * the same user: a second weir (or another server using the option) would
 * quietly share the port and its connections.  A probe without
 * SO_REUSEPORT cannot join a group, so its bind fails on any listener.
 */
static int
probe_free(const struct listener_set *s, char *err)
{
	int fd, on = 1, rc = 0;

	if (s->ss.ss_family != AF_INET && s->ss.ss_family != AF_INET6)
		return 0;
	if ((fd = socket(s->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;	/* the real socket() will say why */
	/* SO_REUSEADDR: connections in TIME_WAIT do not count. */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (s->ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (const struct sockaddr *)&s->ss, s->sslen) == -1 && errno == EADDRINUSE) {
		snprintf(err, WEIR_ERRLEN, "listen %s: bind: %s (another server, or another weir, listens there)",
		    s->spec, strerror(EADDRINUSE));
		rc = -1;
	}
	close(fd);
	return rc;
}

/*
 * An address an old master handed over (upgrade): take its sockets, the
 * very ones the old front end accepts on, so the accept queue is shared
 * and nothing is refused.  A different thread count reuses them in turn.
 */
static int
take_inherited(struct listener_set *s, unsigned threads, struct listeners *inh, char *err)
{
	int k = inh != NULL ? listeners_index(inh, &s->ss, s->sslen) : -1;
	struct listener_set *from;

	if (k < 0 || inh->v[k].nfds == 0)
		return 0;
	from = &inh->v[k];
	for (unsigned t = 0; t < threads; t++) {
		if (t < from->nfds) {
			s->fds[t] = from->fds[t];
			from->fds[t] = -1;	/* ours now */
		} else if ((s->fds[t] = fcntl(s->fds[t % from->nfds], F_DUPFD_CLOEXEC, 3)) == -1) {
			snprintf(err, WEIR_ERRLEN, "listen %s: dup: %s", s->spec, strerror(errno));
			return -1;
		}
		s->nfds++;
	}
	return 1;
}

/*
 * Bind the union of the server's and the sites' addresses, `threads` sockets
 * each (or take those `inherit`, an old master's, has for it).  On failure
 * everything opened so far is closed and err says which address failed and
 * why.
 */
int
listeners_open(struct listeners *l, const struct conf *c, unsigned threads,
    const struct listeners *have, struct listeners *inherit, char *err)
{
	memset(l, 0, sizeof(*l));
	l->threads = threads;
	for (size_t i = 0; i < c->server.listen.n; i++)
		add_unique(l, &c->server.listen.v[i]);
	for (size_t i = 0; i < c->nsites; i++)
		for (size_t j = 0; j < c->sites[i].listen.n; j++)
			add_unique(l, &c->sites[i].listen.v[j]);
	for (size_t i = 0; i < l->n; i++) {
		struct listener_set *s = &l->v[i];

		int sd;

		s->fds = xcalloc(threads, sizeof(int));
		for (unsigned t = 0; t < threads; t++)
			s->fds[t] = -1;
		/*
		 * Already open (reload): binding again would add a socket to
		 * the SO_REUSEPORT group, which could take connections and then
		 * drop them when closed.  The caller keeps the ones it has.
		 */
		if (have != NULL && listeners_index(have, &s->ss, s->sslen) >= 0)
			continue;
		switch (take_inherited(s, threads, inherit, err)) {
		case -1:
			listeners_close(l);
			return -1;
		case 1:
			continue;
		default:
			break;
		}
		/*
		 * A socket systemd passed is shared by all threads (one socket,
		 * no SO_REUSEPORT group): each thread gets a dup of it.
		 */
		if ((sd = systemd_listen_fd(&s->ss, s->sslen)) != -1) {
			for (unsigned t = 0; t < threads; t++) {
				if ((s->fds[t] = fcntl(sd, F_DUPFD_CLOEXEC, 3)) == -1) {
					snprintf(err, WEIR_ERRLEN, "listen %s: dup: %s", s->spec,
					    strerror(errno));
					listeners_close(l);
					return -1;
				}
				s->nfds++;
			}
			continue;
		}
		if (probe_free(s, err) == -1) {
			listeners_close(l);
			return -1;
		}
		for (unsigned t = 0; t < threads; t++) {
			if ((s->fds[t] = open_one(s, err)) == -1) {
				listeners_close(l);
				return -1;
			}
			s->nfds++;
		}
	}
	return 0;
}

void
listeners_close(struct listeners *l)
{
	for (size_t i = 0; i < l->n; i++) {
		for (unsigned t = 0; t < l->v[i].nfds; t++)
			if (l->v[i].fds[t] != -1)
				close(l->v[i].fds[t]);
		free(l->v[i].fds);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
