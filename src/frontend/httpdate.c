/*
 * httpdate.c - HTTP-date (RFC 9110 §5.6.7): IMF-fixdate out, the three
 * formats in.
 *
 * Used for Date and Last-Modified, and to read If-Modified-Since,
 * If-Unmodified-Since and If-Range.  No locale, no tz, no gmtime(): the
 * calendar arithmetic is done here (proleptic Gregorian, days counted from
 * 1970-01-01), so it is thread-safe and the same everywhere.
 */
#include "frontend.h"

#include <string.h>

static const char wkday_s[7][4] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const wkday_l[7] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
	"Saturday"
};
static const char month_s[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
	"Nov", "Dec"
};

#define DAY_SECS	86400
#define YEAR_MIN	0
#define YEAR_MAX	9999		/* IMF-fixdate has a 4-digit year */

/*
 * Days from 1970-01-01 to y-m-d (m 1..12), proleptic Gregorian.  Counting
 * years from March puts the leap day last, so one formula serves all
 * months; 400-year eras keep the division exact for negative years.
 */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t	 era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;				/* [0, 399] */
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;	/* [0, 365] */
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;	/* [0, 146096] */
	return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil(). */
static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t	 era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int
weekday(int64_t days)
{
	return (int)(((days % 7) + 11) % 7);
}

static int
mdays(int64_t y, int m)
{
	static const int	 dm[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

static void
put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/*
 * Write t as IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT", NUL-terminated.
 * Times outside years 0000-9999 are clamped to them.
 */
void
httpdate_format(time_t t, char out[HTTPDATE_LEN + 1])
{
	int64_t	 s = (int64_t)t, days, secs, y;
	int64_t	 lo = days_from_civil(YEAR_MIN, 1, 1) * DAY_SECS;
	int64_t	 hi = days_from_civil(YEAR_MAX + 1, 1, 1) * DAY_SECS - 1;
	int	 m, d;

	if (s < lo)
		s = lo;
	if (s > hi)
		s = hi;
	days = s / DAY_SECS;
	secs = s % DAY_SECS;
	if (secs < 0) {
		secs += DAY_SECS;
		days--;
	}
	civil_from_days(days, &y, &m, &d);

	memcpy(out, wkday_s[weekday(days)], 3);
	memcpy(out + 3, ", ", 2);
	put2(out + 5, d);
	out[7] = ' ';
	memcpy(out + 8, month_s[m - 1], 3);
	out[11] = ' ';
	put2(out + 12, (int)(y / 100));
	put2(out + 14, (int)(y % 100));
	out[16] = ' ';
	put2(out + 17, (int)(secs / 3600));
	out[19] = ':';
	put2(out + 20, (int)(secs / 60 % 60));
	out[22] = ':';
	put2(out + 23, (int)(secs % 60));
	memcpy(out + 25, " GMT", 5);		/* with the NUL */
}

/* A cursor over the input; every matcher advances it only on success. */
struct cur {
	const char	*p, *end;
};

static bool
lit(struct cur *c, const char *s)
{
	size_t	 n = strlen(s);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return false;
	c->p += n;
	return true;
}

/* Exactly k digits (k <= 4). */
static bool
digits(struct cur *c, int k, int *v)
{
	int	 i;

	if (c->end - c->p < k)
		return false;
	for (*v = 0, i = 0; i < k; i++) {
		if (c->p[i] < '0' || c->p[i] > '9')
			return false;
		*v = *v * 10 + (c->p[i] - '0');
	}
	c->p += k;
	return true;
}

static bool
month(struct cur *c, int *m)
{
	for (*m = 1; *m <= 12; (*m)++)
		if (lit(c, month_s[*m - 1]))
			return true;
	return false;
}

static bool
dayname(struct cur *c, bool longname, int *wd)
{
	for (*wd = 0; *wd < 7; (*wd)++)
		if (lit(c, longname ? wkday_l[*wd] : wkday_s[*wd]))
			return true;
	return false;
}

/* time-of-day = hour ":" minute ":" second, 00:00:00 - 23:59:60 */
static bool
tod(struct cur *c, int *h, int *mi, int *s)
{
	return digits(c, 2, h) && lit(c, ":") && digits(c, 2, mi) &&
	    lit(c, ":") && digits(c, 2, s) && *h < 24 && *mi < 60 && *s <= 60;
}

/*
 * The year with last two digits yy that is at most 50 years after now's
 * year and the latest such (RFC 9110 §5.6.7).
 */
static int64_t
year2(int yy, time_t now)
{
	int64_t	 days = (int64_t)now / DAY_SECS, base, y;
	int	 m, d;

	if ((int64_t)now % DAY_SECS < 0)
		days--;
	civil_from_days(days, &y, &m, &d);
	base = y + 50;
	return base - (((base - yy) % 100) + 100) % 100;
}

/*
 * httpdate_parse() with the reference time for two-digit years given, so the
 * tests can pin it; NULL means the current time, read only when needed.
 */
static int
httpdate_parse_at(const char *s, size_t n, time_t *t, const time_t *now)
{
	struct cur	 c;
	int64_t		 y = 0, days, v;
	int		 wd = 0, d = 0, m = 0, h = 0, mi = 0, sec = 0, yv = 0;
	bool		 ok;

	/*
	 * 1. IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT,
	 *    date1 = day SP month SP year (2DIGIT, 3ALPHA, 4DIGIT)
	 */
	c.p = s;
	c.end = s + n;
	ok = dayname(&c, false, &wd) && lit(&c, ", ") && digits(&c, 2, &d) &&
	    lit(&c, " ") && month(&c, &m) && lit(&c, " ") &&
	    digits(&c, 4, &yv) && lit(&c, " ") && tod(&c, &h, &mi, &sec) &&
	    lit(&c, " GMT") && c.p == c.end;
	y = yv;

	/*
	 * 2. rfc850-date = day-name-l "," SP date2 SP time-of-day SP GMT,
	 *    date2 = day "-" month "-" 2DIGIT
	 */
	if (!ok) {
		c.p = s;
		ok = dayname(&c, true, &wd) && lit(&c, ", ") &&
		    digits(&c, 2, &d) && lit(&c, "-") && month(&c, &m) &&
		    lit(&c, "-") && digits(&c, 2, &yv) && lit(&c, " ") &&
		    tod(&c, &h, &mi, &sec) && lit(&c, " GMT") && c.p == c.end;
		if (ok)
			y = year2(yv, now != NULL ? *now : time(NULL));
	}

	/*
	 * 3. asctime-date = day-name SP date3 SP time-of-day SP year,
	 *    date3 = month SP ( 2DIGIT / ( SP DIGIT ) )
	 */
	if (!ok) {
		c.p = s;
		ok = dayname(&c, false, &wd) && lit(&c, " ") && month(&c, &m) &&
		    lit(&c, " ") && (lit(&c, " ") ? digits(&c, 1, &d) :
		    digits(&c, 2, &d)) && lit(&c, " ") &&
		    tod(&c, &h, &mi, &sec) && lit(&c, " ") &&
		    digits(&c, 4, &yv) && c.p == c.end;
		y = yv;
	}
	if (!ok)
		return -1;

	/* 4. a real date, and the day name it implies (RFC 5322 §3.3) */
	if (d < 1 || d > mdays(y, m))
		return -1;
	days = days_from_civil(y, m, d);
	if (weekday(days) != wd)
		return -1;

	/* 5. a leap second (:60) counts as the next second, as timegm() does */
	v = days * DAY_SECS + h * 3600 + mi * 60 + sec;
	if ((int64_t)(time_t)v != v)
		return -1;
	*t = (time_t)v;
	return 0;
}

/*
 * Parse an HTTP-date in any of the three formats a recipient must accept
 * (RFC 9110 §5.6.7).  Strict: case-sensitive names, exact spacing, no
 * trailing bytes, real calendar dates, hour < 24; the day name must be the
 * date's.  Two-digit RFC 850 years are read relative to the current time.
 * Returns 0 and sets *t, or -1.
 */
int
httpdate_parse(const char *s, size_t n, time_t *t)
{
	return httpdate_parse_at(s, n, t, NULL);
}
