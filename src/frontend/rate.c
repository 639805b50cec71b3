/*
 * rate.c - minimum data rates: a client that sends its request, or reads
 * its response, slower than min_request_rate / min_response_rate bytes per
 * second is closed (HTTP.sys's minBytesPerSecond; Kestrel's MinDataRate).
 *
 * A rate is measured only while weir waits on the client: from the first
 * byte of a head until it is parsed, while a body is read, while output is
 * blocked on the client's socket.  Time spent waiting for a worker never
 * counts against the client.  The rate is taken over windows of
 * min_rate_grace (10 s by default): at the end of each window the bytes
 * moved in it must reach rate * window, and a new window starts.  Windows,
 * not the average since the start, because a slow reader's first window
 * is flattered by the socket buffers (megabytes accepted at once); the
 * second one shows what the client really reads.  The first window is the
 * grace period: a client is never closed before it ends.
 *
 * Checks ride on the connection's one timer (http1_on_timer()), which
 * fires at the end of each window while a rate is measured.
 */
#include "util.h"
#include "frontend.h"

static uint64_t
min_rate(const struct conn *c, enum rate_dir dir)
{
	const struct conf_server *s = &c->gen->conf->server;

	return dir == RATE_IN ? s->min_request_rate : s->min_response_rate;
}

/*
 * Start measuring dir (a no-op when it is measured already, or its minimum
 * is 0).  It costs no timer operation: a head that comes whole in one read
 * never needs one.  rate_arm() is for when weir starts to wait.
 */
void
rate_begin(struct conn *c, enum rate_dir dir)
{
	if (c->rate_dir == dir || min_rate(c, dir) == 0)
		return;
	c->rate_dir = (uint8_t)dir;
	c->rate_since = loop_now(c->t->loop);
	c->rate_bytes = 0;
}

/* Weir waits on the client: make the timer fire when the window ends. */
void
rate_arm(struct conn *c)
{
	uint64_t due = rate_due(c), now;

	if (c->rate_dir == RATE_NONE ||
	    (loop_timer_armed(&c->timer) && c->timer.when <= due))
		return;
	now = loop_now(c->t->loop);
	loop_timer_set(c->t->loop, &c->timer, due > now ? due - now : 0);
}

/* Weir no longer waits on the client. */
void
rate_end(struct conn *c)
{
	c->rate_dir = RATE_NONE;
}

/* When the current window ends (UINT64_MAX when nothing is measured). */
uint64_t
rate_due(const struct conn *c)
{
	if (c->rate_dir == RATE_NONE)
		return UINT64_MAX;
	return c->rate_since + c->gen->conf->server.min_rate_grace;
}

/*
 * At a timer tick: was the window that just ended too slow?  If not, the
 * next window starts now.
 */
bool
rate_too_slow(struct conn *c, uint64_t now)
{
	return rate_too_slow_n(c, now, 1);
}

/*
 * On HTTP/2 the client may not be what holds a stream's response: a stream
 * that waits its turn among its connection's streams (h2s_client_holds()
 * says the client leaves it window) is not late.  Both its clocks start
 * again: the rate window, and send_timeout; the connection is judged as a
 * whole meanwhile (h2.c).  st: the stream c serves, NULL for none.
 */
bool
rate_stream_waits(struct conn *c, const struct h2stream *st)
{
	if (st == NULL || h2s_client_holds(st))
		return false;
	if (c->rate_dir == RATE_OUT) {
		c->rate_since = loop_now(c->t->loop);
		c->rate_bytes = 0;
	}
	conn_set_deadline(c, c->gen->conf->server.send_timeout);
	return true;
}

/*
 * The same for a connection that carries `times` responses at once (an
 * HTTP/2 connection's streams): each must get the rate, so the connection
 * needs `times` as much.
 */
bool
rate_too_slow_n(struct conn *c, uint64_t now, unsigned times)
{
	uint64_t span;

	if (c->rate_dir == RATE_NONE || now < rate_due(c))
		return false;
	if (c->rate_dir == RATE_OUT && rate_stream_waits(c, c->h2s))
		return false;
	span = now - c->rate_since;
	if (c->rate_bytes * 1000 < min_rate(c, (enum rate_dir)c->rate_dir) * times * span)
		return true;
	c->rate_since = now;
	c->rate_bytes = 0;
	return false;
}
