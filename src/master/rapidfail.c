/*
 * rapidfail.c - Rapid-Fail Protection's sliding window.
 *
 * Each failure of a pool's worker (IIS's list: unexpected exit, missed ping,
 * startup or shutdown time limit, a fatal error it reported, a protocol
 * violation) is recorded with its time and reason.  Failures older than the
 * window fall out; when `count` remain, the pool trips.  Pure logic: the
 * caller supplies the time, so the unit test drives it directly.
 *
 * Which exits are failures is decided by rapidfail_counts(): weir counts
 * crash loops, not bad luck.  A worker that never became ready counts; so
 * does one that became ready and died having completed no request with
 * none in flight (a crash loop that passes the readiness check).  A worker
 * that served, or died with a request in flight (that request is the
 * suspect), does not count: it is replaced at once and its death goes into
 * a second window of the same shape that says whether the pool is
 * degraded (degraded.c), with the requests it served so that the rate can
 * be told (rapidfail_rate()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "master.h"

void
rapidfail_init(struct rapidfail *rf, unsigned count, uint64_t window_ms)
{
	memset(rf, 0, sizeof(*rf));
	rf->count = count;
	rf->window = window_ms;
}

void
rapidfail_free(struct rapidfail *rf)
{
	free(rf->v);
	rf->v = NULL;
	rf->n = rf->cap = 0;
}

/* Drop failures that are no longer inside the window ending at `now`. */
static void
prune(struct rapidfail *rf, uint64_t now)
{
	size_t keep = 0;

	for (size_t i = 0; i < rf->n; i++)
		if (now - rf->v[i].when < rf->window)
			rf->v[keep++] = rf->v[i];
	rf->n = keep;
}

/*
 * Record a failure at `now`; returns true when the pool must now be
 * disabled (the window holds `count` failures).  With count == 0
 * (rapid_fail = off) failures are kept for status but never trip.
 */
bool
rapidfail_record(struct rapidfail *rf, uint64_t now, pid_t pid,
    const char *reason)
{
	return rapidfail_note(rf, now, pid, 0, reason);
}

/* rapidfail_record() of a death after `served` requests. */
bool
rapidfail_note(struct rapidfail *rf, uint64_t now, pid_t pid, uint64_t served,
    const char *reason)
{
	struct rf_failure *f;

	prune(rf, now);
	if (rf->n == rf->cap) {
		/* Never keep more than needed to decide (and a few for status). */
		size_t limit = rf->count ? rf->count : 16;

		if (rf->n >= limit) {
			memmove(rf->v, rf->v + 1, (rf->n - 1) * sizeof(*rf->v));
			rf->n--;
		} else {
			rf->cap = rf->cap ? rf->cap * 2 : 8;
			rf->v = xreallocarray(rf->v, rf->cap, sizeof(*rf->v));
		}
	}
	f = &rf->v[rf->n++];
	f->when = now;
	f->pid = pid;
	f->served = served;
	wstrlcpy(f->reason, reason, sizeof(f->reason));
	return rf->count != 0 && rf->n >= rf->count;
}

/* Failures currently inside the window. */
size_t
rapidfail_current(struct rapidfail *rf, uint64_t now)
{
	prune(rf, now);
	return rf->n;
}

void
rapidfail_reset(struct rapidfail *rf)
{
	rf->n = 0;
}

/*
 * Does an unexpected end count toward the window?  `was_ready`: the worker
 * became ready; `served`: requests it completed; `inflight`: requests it
 * had when it died (0 when the front end did not say).  Fills `why` with
 * the reason in words for event 1009's `counted_why`.
 */
bool
rapidfail_counts(bool was_ready, uint64_t served, unsigned inflight, char *why,
    size_t whysz)
{
	if (!was_ready) {
		snprintf(why, whysz, "it never became ready");
		return true;
	}
	if (inflight > 0) {
		snprintf(why, whysz, "it died with %u request%s in flight (the suspect%s), after serving %llu",
		    inflight, inflight == 1 ? "" : "s", inflight == 1 ? "" : "s",
		    (unsigned long long)served);
		return false;
	}
	if (served > 0) {
		snprintf(why, whysz, "it served %llu request%s before it died",
		    (unsigned long long)served, served == 1 ? "" : "s");
		return false;
	}
	snprintf(why, whysz, "it became ready but died before completing a request");
	return true;
}

/*
 * The rate of the deaths in the window ending at `now`: deaths per minute
 * (over the window, or over the time since the first of them when that is
 * shorter, at least one second) and requests served per death.
 */
void
rapidfail_rate(struct rapidfail *rf, uint64_t now, double *per_min,
    double *req_per_death)
{
	uint64_t span, served = 0;

	prune(rf, now);
	*per_min = *req_per_death = 0;
	if (rf->n == 0)
		return;
	span = now - rf->v[0].when;
	if (span > rf->window)
		span = rf->window;
	if (span < 1000)
		span = 1000;
	for (size_t i = 0; i < rf->n; i++)
		served += rf->v[i].served;
	*per_min = (double)rf->n * 60000.0 / (double)span;
	*req_per_death = (double)served / (double)rf->n;
}
