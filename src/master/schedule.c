/*
 * schedule.c - recycle_schedule: when is the next of a pool's daily
 * recycle times (HH:MM, local time)?
 */
#include "master.h"

/*
 * Milliseconds from `tm` (local time, to the second) to the next of the
 * day's times in sched[] (minutes after midnight).  A time that is now is
 * tomorrow's: the recycle for it has just run.  A day is taken as 24 hours;
 * on the days clocks change, a time comes an hour early or late.
 */
uint64_t
schedule_next_ms(const int *sched, size_t n, const struct tm *tm)
{
	int mins = tm->tm_hour * 60 + tm->tm_min, best = -1;

	for (size_t i = 0; i < n; i++) {
		int d = sched[i] - mins;

		if (d <= 0)
			d += 24 * 60;
		if (best == -1 || d < best)
			best = d;
	}
	if (best == -1)
		return 0;
	return (uint64_t)best * 60000 - (uint64_t)tm->tm_sec * 1000;
}
