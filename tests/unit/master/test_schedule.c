/*
 * test_schedule.c - recycle_schedule: the delay to the next daily time.
 */
#include "../unit.h"
#include "../../../src/master/schedule.c"
#include "util.h"

#define MIN	60000ULL
#define HM(h, m)	((h) * 60 + (m))

struct when {
	int		 h, m, s;	/* now, local time */
	uint64_t	 ms;		/* expected delay */
};

static void
check(const char *name, const int *sched, size_t n, const struct when *w, size_t nw)
{
	for (size_t i = 0; i < nw; i++) {
		struct tm tm = { .tm_hour = w[i].h, .tm_min = w[i].m, .tm_sec = w[i].s };
		uint64_t got = schedule_next_ms(sched, n, &tm);

		CHECKF(got == w[i].ms, "%s at %02d:%02d:%02d: %llu ms, want %llu", name,
		    w[i].h, w[i].m, w[i].s, (unsigned long long)got,
		    (unsigned long long)w[i].ms);
	}
}

int
main(void)
{
	static const int one[] = { HM(3, 0) };
	static const struct when w_one[] = {
		{ 2, 0, 0, 60 * MIN },			/* an hour before */
		{ 2, 59, 0, MIN },
		{ 2, 59, 59, 1000 },			/* the last second */
		{ 3, 0, 0, 24 * 60 * MIN },		/* now: it just ran, tomorrow's */
		{ 3, 0, 30, 24 * 60 * MIN - 30000 },
		{ 3, 1, 0, (24 * 60 - 1) * MIN },
		{ 23, 59, 59, 3 * 60 * MIN + 1000 },	/* across midnight */
		{ 0, 0, 0, 3 * 60 * MIN },
	};
	/* several times, in any order: the nearest one ahead */
	static const int three[] = { HM(22, 30), HM(0, 0), HM(12, 15) };
	static const struct when w_three[] = {
		{ 12, 0, 0, 15 * MIN },
		{ 12, 15, 0, (22 * 60 + 30 - (12 * 60 + 15)) * MIN },
		{ 22, 29, 0, MIN },
		{ 22, 30, 0, 90 * MIN },		/* midnight is next */
		{ 23, 59, 1, 59000 },
		{ 0, 0, 0, (12 * 60 + 15) * MIN },
	};
	static const int midnight[] = { HM(0, 0) };
	static const struct when w_midnight[] = {
		{ 0, 0, 0, 24 * 60 * MIN },
		{ 0, 0, 1, 24 * 60 * MIN - 1000 },
		{ 23, 59, 0, MIN },
	};

	check("03:00", one, nitems(one), w_one, nitems(w_one));
	check("22:30, 00:00, 12:15", three, nitems(three), w_three, nitems(w_three));
	check("00:00", midnight, nitems(midnight), w_midnight, nitems(w_midnight));
	{
		struct tm tm = { .tm_hour = 5 };

		CHECK(schedule_next_ms(NULL, 0, &tm) == 0);	/* no times: nothing */
	}
	return unit_done("schedule");
}
