/*
 * test_rapidfail.c - the Rapid-Fail Protection window, which exits count
 * (rapidfail_counts()), the rate of the degraded window, and the words for
 * how a worker ended (failinfo.c).
 */
#include <signal.h>
#include <sys/wait.h>

#include "../unit.h"
#include "../../../src/master/rapidfail.c"
#include "../../../src/master/failinfo.c"

/* xreallocarray and wstrlcpy come from util.c; keep the test standalone. */
#include "../../../src/common/util.c"
#include "../../../src/common/linetail.c"

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

	/* Which ends count: crash loops, not bad luck. */
	{
		static const struct {
			bool	 ready;
			uint64_t served;
			unsigned inflight;
			bool	 counts;
			const char *why;
		} c[] = {
			{ false, 0, 0, true, "never became ready" },
			{ false, 0, 1, true, "never became ready" },	/* handed a request at start */
			{ true,  0, 0, true, "before completing a request" },
			{ true,  0, 1, false, "in flight" },
			{ true,  7, 0, false, "served 7 requests" },
			{ true,  1, 0, false, "served 1 request " },
			{ true,  9, 2, false, "2 requests in flight" },
		};
		char why[200];

		for (size_t i = 0; i < nitems(c); i++) {
			bool got = rapidfail_counts(c[i].ready, c[i].served, c[i].inflight, why,
			    sizeof(why));

			CHECKF(got == c[i].counts, "counts case %zu: %d", i, got);
			CHECKF(strstr(why, c[i].why) != NULL, "counts case %zu: why '%s'", i, why);
		}
	}
	/* The degraded window's rate: deaths a minute, requests per death. */
	{
		double pm, rpd;

		rapidfail_init(&rf, 5, 5 * M);
		rapidfail_rate(&rf, 0, &pm, &rpd);
		CHECK(pm == 0 && rpd == 0);
		rapidfail_note(&rf, 0, 1, 10, "x");
		rapidfail_note(&rf, 30 * S, 2, 20, "x");
		rapidfail_note(&rf, 60 * S, 3, 30, "x");
		rapidfail_rate(&rf, 60 * S, &pm, &rpd);
		CHECKF(pm > 2.99 && pm < 3.01, "3 in a minute: %f", pm);
		CHECKF(rpd > 19.99 && rpd < 20.01, "20 per death: %f", rpd);
		/* later: the window (5m) bounds the span, old ones fall out */
		rapidfail_rate(&rf, 5 * M + 30 * S, &pm, &rpd);
		CHECKF(rf.n == 1 && rpd > 29.99 && rpd < 30.01, "one left: %zu %f", rf.n, rpd);
		rapidfail_free(&rf);
	}
	/* How it ended, in decimal with the signal's name. */
	{
		char out[160];

		failinfo_exit_text(3 << 8, out, sizeof(out));
		CHECK_STR(out, "exit status 3");
		failinfo_exit_text(SIGKILL, out, sizeof(out));
		CHECK_STR(out, "signal 9 (SIGKILL)");
		failinfo_exit_text(SIGSEGV | 0x80, out, sizeof(out));
		CHECK_STR(out, "signal 11 (SIGSEGV), core dumped");
		failinfo_exit_sentence(255 << 8, out, sizeof(out));
		CHECK_STR(out, "It exited with status 255.");
		failinfo_exit_sentence(SIGKILL, out, sizeof(out));
		CHECK_STR(out, "It was killed by signal 9 (SIGKILL).");
	}
	/* The cause line of a worker's last output. */
	{
		static const char *gunicorn[] = {
			"[INFO] Booting worker with pid: 20355",
			"[ERROR] Exception in worker process",
			"Traceback (most recent call last):",
			"  File \"/usr/lib/python3/dist-packages/gunicorn/util.py\", line 384, in import_app",
			"  File \"/srv/api/app.py\", line 1",
			"    def broken(",
			"SyntaxError: '(' was never closed",
			"[INFO] Worker exiting (pid: 20355)",
			"[INFO] Reason: Worker failed to boot.",
		};
		static const char *plain[] = { NULL, "starting", "listening on :80", NULL };
		static const char *none[] = { NULL, NULL };
		static const char *php[] = { "PHP Fatal error:  Uncaught Error: x in /a.php:3", "done" };
		char out[300];

		failinfo_cause(gunicorn, nitems(gunicorn), out, sizeof(out));
		CHECK_STR(out, "SyntaxError: '(' was never closed (app.py, line 1)");
		failinfo_cause(plain, nitems(plain), out, sizeof(out));
		CHECK_STR(out, "listening on :80");
		failinfo_cause(none, nitems(none), out, sizeof(out));
		CHECK_STR(out, "");
		failinfo_cause(php, nitems(php), out, sizeof(out));
		CHECK_STR(out, "PHP Fatal error:  Uncaught Error: x in /a.php:3");
		failinfo_cause(gunicorn, nitems(gunicorn), out, 10);
		CHECK_INT(strlen(out), 9);
	}
	return unit_done("rapidfail");
}
