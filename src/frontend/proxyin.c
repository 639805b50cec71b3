/*
 * proxyin.c - the first stage of a connection on a `proxy_protocol`
 * listener: who is the client?
 *
 * A load balancer that relays TCP (HAProxy `send-proxy-v2`, cloud LBs)
 * writes a PROXY header before the client's bytes.  The stage runs right
 * after accept, before any other, and hands a connection whose peer is the
 * client to conn_established() (conn.c), where the rest begins (HTTP; a
 * TLS handshake first on a tls listener):
 *
 *  1. the peer must be in trusted_proxies, or the connection is refused
 *     (closed, counted as Proxy_Untrusted, one httperr.log line): a header
 *     is only believed from a proxy, as X-Forwarded-For is (forward.c);
 *  2. the header is read without taking a byte of what follows it: the
 *     socket is peeked, whole headers are consumed by their exact length,
 *     and a part of one only when all of it can still be header
 *     (proxyproto.c says which).  What follows is then the next stage's,
 *     still in the socket, as if the header had never been there;
 *  3. a malformed, truncated or late header (header_timeout) closes the
 *     connection, counted as Proxy_Header and nothing logged: no request
 *     was made;
 *  4. the address in it becomes c->peer, so the access log, REMOTE_ADDR,
 *     X-Forwarded-For, Forwarded and max_connections_per_ip all see the
 *     client.  A LOCAL header (the proxy's health check) or UNKNOWN keeps
 *     the proxy's own address.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "frontend.h"

static void	on_io(void *arg, uint32_t events);
static void	on_timer(void *arg);

/* Bad header, cut short or late: the connection ends, counted, not logged. */
static void
bad_header(struct conn *c, const char *why)
{
	log_debug("PROXY header refused: %s", why);
	stat_add(&c->t->st_closed[FE_CLOSE_PROXY_HEADER], 1);
	conn_close(c);
}

/* The header is in: the client is known, and the connection goes on to HTTP. */
static void
header_done(struct conn *c, const struct proxyproto *pp)
{
	if (!pp->local) {
		memset(&c->peer, 0, sizeof(c->peer));
		memcpy(&c->peer, &pp->src, pp->src.ss_family == AF_INET ?
		    sizeof(c->peer.in) : sizeof(c->peer.in6));
	}
	/* the input block held only the header: nothing of it is left */
	c->ipos = c->ilen = 0;
	conn_release_buffers(c);
	/* the per-address limit counts clients, not the proxy (conn_accept) */
	if (!perip_admit(c, c->gen->conf->server.max_connections_per_ip)) {
		stat_add(&c->t->st_closed[FE_CLOSE_PERIP], 1);
		conn_close(c);
		return;
	}
	loop_timer_cancel(c->t->loop, &c->timer);
	conn_established(c);
}

/*
 * Read what there is of the header.  Peeking and then consuming never
 * takes more than the header, whose end is only known once it is seen.
 */
static void
on_io(void *arg, uint32_t events)
{
	struct conn *c = arg;

	(void)events;
	for (;;) {
		struct proxyproto pp;
		const char *why;
		ssize_t n, h;
		size_t take;

		if (conn_ibuf(c) == -1) {
			conn_close(c);
			return;
		}
		if (c->ilen == c->icap) {
			bad_header(c, "longer than the 16 KiB weir reads");
			return;
		}
		n = recv(c->io.fd, c->ibuf + c->ilen, c->icap - c->ilen, MSG_PEEK);
		if (n == 0) {
			bad_header(c, c->ilen == 0 ? "closed before a header" : "truncated");
			return;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(c);
			return;
		}
		h = proxyproto_parse(c->ibuf, c->ilen + (size_t)n, &pp, &why);
		if (h == WEIR_ERROR) {
			bad_header(c, why);
			return;
		}
		/* all that was peeked, or the rest of the header */
		take = h == WEIR_AGAIN ? (size_t)n : (size_t)h - c->ilen;
		if (recv(c->io.fd, c->ibuf + c->ilen, take, 0) != (ssize_t)take) {
			/* the bytes were there a moment ago: the socket broke */
			conn_close(c);
			return;
		}
		c->ilen += (uint32_t)take;
		if (h != WEIR_AGAIN) {
			header_done(c, &pp);
			return;
		}
	}
}

/* header_timeout passed without a whole header (the deadline is lazy: conn.c). */
static void
on_timer(void *arg)
{
	struct conn *c = arg;
	uint64_t now = loop_now(c->t->loop);

	if (now < c->deadline) {
		loop_timer_set(c->t->loop, &c->timer, c->deadline - now);
		return;
	}
	bad_header(c, "not received within header_timeout");
}

/*
 * A connection was accepted on a proxy_protocol listener (conn_accept):
 * refuse a peer that is not a trusted proxy, else wait for its header.
 */
void
proxyin_start(struct conn *c)
{
	if (!forward_trusted(&c->gen->conf->server, &c->peer.sa)) {
		stat_add(&c->t->st_closed[FE_CLOSE_PROXY_UNTRUSTED], 1);
		alog_httperr(c, NULL, 0, fe_close_tokens[FE_CLOSE_PROXY_UNTRUSTED]);
		conn_close(c);
		return;
	}
	c->state = CONN_PROXY;
	c->io.cb = on_io;
	c->timer.cb = on_timer;
	conn_set_deadline(c, c->gen->conf->server.header_timeout);
	/* with TCP_DEFER_ACCEPT the header is usually here already */
	on_io(c, 0);
}
