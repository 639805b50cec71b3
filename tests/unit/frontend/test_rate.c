/*
 * test_rate.c - minimum data rates (rate.c): windows of min_rate_grace, the
 * first one a grace period, bytes before the client fell behind never
 * flattering it, 0 = off.  The clock and the timer are fakes.
 */
#include "../unit.h"
#include "../../../src/frontend/rate.c"

static uint64_t fake_now;
static uint64_t timer_at;	/* when the fake timer was last set to fire */
static bool client_holds;	/* what the fake h2s_client_holds() says */

/* An HTTP/2 stream: does its client hold the response back, or weir's turns? */
bool
h2s_client_holds(const struct h2stream *st)
{
	(void)st;
	return client_holds;
}

/* send_timeout moved: when it now ends */
void
conn_set_deadline(struct conn *c, uint64_t ms)
{
	c->deadline = fake_now + ms;
}

uint64_t
loop_now(const struct loop *l)
{
	(void)l;
	return fake_now;
}

void
loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t ms)
{
	(void)l;
	t->when = fake_now + ms;
	t->idx = 0;
	timer_at = t->when;
}

/* A connection of a thread and a generation with conf, all zero. */
static void
fake_conn(struct conn *c, struct fe_gen *gen, struct fe_thread *t, struct conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	memset(gen, 0, sizeof(*gen));
	memset(t, 0, sizeof(*t));
	memset(c, 0, sizeof(*c));
	gen->conf = conf;
	c->gen = gen;
	c->t = t;
}

/*
 * A client measured from t = 0: `rate` bytes per second for the first
 * `fast` seconds (socket buffers filling), then `slow` bytes per second.
 * The window is checked whenever it is due, as http1_on_timer() does;
 * returns the second at which the client is found too slow, or 0.
 */
static unsigned
simulate(uint64_t min, uint64_t fast_rate, unsigned fast, uint64_t slow, unsigned horizon,
    enum rate_dir dir, struct h2stream *h2s)
{
	struct conf conf;
	struct fe_gen gen;
	struct fe_thread t;
	struct conn c;

	fake_conn(&c, &gen, &t, &conf);
	conf.server.min_request_rate = min;
	conf.server.min_response_rate = min;
	conf.server.min_rate_grace = 10000;
	c.timer.idx = SIZE_MAX;
	c.h2s = h2s;
	fake_now = 1000000;
	timer_at = 0;
	rate_begin(&c, dir);
	rate_arm(&c);
	if (min != 0)
		CHECK_INT(timer_at, 1000000 + 10000);
	for (unsigned s = 1; s <= horizon; s++) {
		fake_now = 1000000 + (uint64_t)s * 1000;
		rate_add(&c, s <= fast ? fast_rate : slow);
		if (rate_too_slow(&c, fake_now))
			return s;
	}
	return 0;
}

static const struct {
	const char	*name;
	uint64_t	 min, fast_rate;
	unsigned	 fast;
	uint64_t	 slow;
	unsigned	 closed_at;	/* 0: never within 60 s */
} cases[] = {
	{ "a byte a second",			240, 0, 0, 1, 10 },
	{ "exactly the rate",			240, 0, 0, 240, 0 },
	{ "just under the rate",		240, 0, 0, 239, 10 },
	{ "fast",				240, 0, 0, 100000, 0 },
	{ "buffers filled, then a trickle",	240, 1 << 20, 2, 10, 20 },
	{ "a burst per window is enough",	240, 2400, 1, 0, 20 },
	{ "off",				0, 0, 0, 0, 0 },
};

int
main(void)
{
	for (size_t i = 0; i < nitems(cases); i++) {
		unsigned got = simulate(cases[i].min, cases[i].fast_rate, cases[i].fast,
		    cases[i].slow, 60, RATE_IN, NULL);

		CHECKF(got == cases[i].closed_at, "%s: closed at %u s, want %u s",
		    cases[i].name, got, cases[i].closed_at);
	}
	/*
	 * An HTTP/2 stream that gets nothing because the connection's other
	 * streams go first is not slow; once its client holds it (window
	 * spent, socket full), it is judged as any other.
	 */
	struct h2stream *st = (struct h2stream *)(uintptr_t)1;	/* never read */

	client_holds = false;
	CHECK_INT(simulate(240, 0, 0, 0, 60, RATE_OUT, st), 0);
	client_holds = true;
	CHECK_INT(simulate(240, 0, 0, 0, 60, RATE_OUT, st), 10);
	/* a request body the client does not send is the client's, whatever the streams */
	client_holds = false;
	CHECK_INT(simulate(240, 0, 0, 0, 60, RATE_IN, st), 10);
	/* rate_stream_waits(): what the timers of a stream ask first */
	{
		struct conf conf;
		struct fe_gen gen;
		struct fe_thread t;
		struct conn c;

		fake_conn(&c, &gen, &t, &conf);
		conf.server.min_response_rate = 240;
		conf.server.send_timeout = 60000;
		fake_now = 5000;
		rate_begin(&c, RATE_OUT);
		rate_add(&c, 100);
		fake_now = 9000;
		client_holds = false;
		CHECK(!rate_stream_waits(&c, NULL));		/* no stream: HTTP/1.1 */
		CHECK_INT(c.rate_since, 5000);
		client_holds = true;
		CHECK(!rate_stream_waits(&c, st));		/* its client holds it */
		CHECK_INT(c.rate_since, 5000);
		client_holds = false;
		CHECK_INT(c.deadline, 0);
		CHECK(rate_stream_waits(&c, st));		/* it waits its turn */
		CHECK_INT(c.rate_since, 9000);
		CHECK_INT(c.rate_bytes, 0);
		CHECK_INT(c.deadline, 9000 + 60000);		/* send_timeout from now */
		/* min_response_rate = 0 measures nothing; the stream still waits (send_timeout) */
		conf.server.min_response_rate = 0;
		rate_end(&c);
		rate_begin(&c, RATE_OUT);
		CHECK(rate_stream_waits(&c, st));
		CHECK_INT(c.rate_dir, RATE_NONE);
	}
	return unit_done("test_rate");
}
