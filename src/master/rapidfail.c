/*
 * rapidfail.c - Rapid-Fail Protection's sliding window.
 *
 * Each failure of a pool's worker (IIS's list: unexpected exit, missed ping,
 * startup or shutdown time limit, a fatal error it reported, a protocol
 * violation) is recorded with its time and reason.  Failures older than the
 * window fall out; when `count` remain, the pool trips.  Pure logic: the
 * caller supplies the time, so the unit test drives it directly.
 */
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
