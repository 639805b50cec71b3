/*
 * test_rapidfail.c - the Rapid-Fail Protection window.
 */
#include "../unit.h"
#include "../../../src/master/rapidfail.c"

/* xreallocarray and wstrlcpy come from util.c; keep the test standalone. */
#include "../../../src/common/util.c"

#define S	1000ULL
#define M	(60 * S)

struct step {
	uint64_t	 t;		/* ms */
	bool		 tripped;	/* expected result of recording at t */
	size_t		 current;	/* failures in the window after it */
};

static void
run(const char *name, unsigned count, uint64_t window, const struct step *st,
    size_t n)
{
	struct rapidfail rf;

	rapidfail_init(&rf, count, window);
	for (size_t i = 0; i < n; i++) {
		bool tr = rapidfail_record(&rf, st[i].t, (pid_t)(100 + i), "unexpected exit");

		CHECKF(tr == st[i].tripped, "%s step %zu: tripped %d", name, i, tr);
		CHECKF(rapidfail_current(&rf, st[i].t) == st[i].current,
		    "%s step %zu: current %zu want %zu", name, i,
		    rapidfail_current(&rf, st[i].t), st[i].current);
	}
	rapidfail_free(&rf);
}

int
main(void)
{
	/* IIS default: 5 in 5 minutes. */
	static const struct step iis[] = {
		{ 0,         false, 1 },
		{ 10 * S,    false, 2 },
		{ 20 * S,    false, 3 },
		{ 30 * S,    false, 4 },
		{ 40 * S,    true,  5 },
	};
	/* Spread out: the oldest falls out of the window before the 5th. */
	static const struct step spread[] = {
		{ 0,          false, 1 },
		{ 1 * M,      false, 2 },
		{ 2 * M,      false, 3 },
		{ 3 * M,      false, 4 },
		{ 5 * M,      false, 4 },	/* the one at 0 is exactly 5m old: out */
		{ 6 * M + 1,  false, 4 },	/* 1m is out too: 2m, 3m, 5m, 6m+1 */
		{ 6 * M + 2,  true,  5 },	/* the fifth inside 5 minutes */
	};
	/* Off: never trips, keeps a bounded history. */
	static const struct step off[] = {
		{ 0, false, 1 }, { 1, false, 2 }, { 2, false, 3 }, { 3, false, 4 },
		{ 4, false, 5 }, { 5, false, 6 },
	};
	/* 1 in 1s: every failure trips. */
	static const struct step one[] = {
		{ 0, true, 1 }, { 5000, true, 1 },
	};
	struct rapidfail rf;

	run("iis", 5, 5 * M, iis, nitems(iis));
	run("spread", 5, 5 * M, spread, nitems(spread));
	run("off", 0, 5 * M, off, nitems(off));
	run("one", 1, 1 * S, one, nitems(one));

	/* Reasons are kept (truncated, never overflowing) in order. */
	rapidfail_init(&rf, 3, 10 * S);
	rapidfail_record(&rf, 1, 1, "exit code 1");
	rapidfail_record(&rf, 2, 2, "signal 9 (Killed)");
	CHECK_STR(rf.v[0].reason, "exit code 1");
	CHECK_STR(rf.v[1].reason, "signal 9 (Killed)");
	CHECK_INT(rf.v[1].pid, 2);
	{
		char longr[1000];

		memset(longr, 'x', sizeof(longr) - 1);
		longr[sizeof(longr) - 1] = '\0';
		CHECK(rapidfail_record(&rf, 3, 3, longr));
		CHECK_INT(strlen(rf.v[2].reason), sizeof(rf.v[2].reason) - 1);
	}
	rapidfail_reset(&rf);
	CHECK_INT(rapidfail_current(&rf, 4), 0);
	/* Off keeps at most 16 for status. */
	rapidfail_free(&rf);
	rapidfail_init(&rf, 0, 10 * M);
	for (int i = 0; i < 100; i++)
		CHECK(!rapidfail_record(&rf, (uint64_t)i, i, "x"));
	CHECK_INT(rapidfail_current(&rf, 100), 16);
	rapidfail_free(&rf);
	return unit_done("rapidfail");
}
