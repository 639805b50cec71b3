/*
 * test_httpdate.c - httpdate_format() and httpdate_parse(), checked against
 * the C library (gmtime_r, strftime, timegm) in the test only.
 */
#include "../unit.h"
#include "../../../src/frontend/httpdate.c"

#include <limits.h>
#include <locale.h>

static const time_t now2024 = 1717243200;	/* Sat, 01 Jun 2024 12:00 */

static const struct {
	long long	 t;
	const char	*s;
} fmt_cases[] = {
	{ 0,			"Thu, 01 Jan 1970 00:00:00 GMT" },
	{ 784111777,		"Sun, 06 Nov 1994 08:49:37 GMT" },
	{ 951782400,		"Tue, 29 Feb 2000 00:00:00 GMT" },
	{ 951868799,		"Tue, 29 Feb 2000 23:59:59 GMT" },
	{ 951868800,		"Wed, 01 Mar 2000 00:00:00 GMT" },
	{ 2147483647,		"Tue, 19 Jan 2038 03:14:07 GMT" },
	{ 2147483648LL,		"Tue, 19 Jan 2038 03:14:08 GMT" },
	{ 4102444800LL,		"Fri, 01 Jan 2100 00:00:00 GMT" },
	{ 4107542400LL,		"Mon, 01 Mar 2100 00:00:00 GMT" },
	{ 253402300799LL,	"Fri, 31 Dec 9999 23:59:59 GMT" },
	{ -1,			"Wed, 31 Dec 1969 23:59:59 GMT" },
	{ -86400,		"Wed, 31 Dec 1969 00:00:00 GMT" },
	{ -86401,		"Tue, 30 Dec 1969 23:59:59 GMT" },
	{ -2208988800LL,	"Mon, 01 Jan 1900 00:00:00 GMT" },
	{ -62167219200LL,	"Sat, 01 Jan 0000 00:00:00 GMT" },
	/* clamped to years 0000-9999 */
	{ 253402300800LL,	"Fri, 31 Dec 9999 23:59:59 GMT" },
	{ 9223372036854775807LL, "Fri, 31 Dec 9999 23:59:59 GMT" },
	{ -62167219201LL,	"Sat, 01 Jan 0000 00:00:00 GMT" },
	{ -9223372036854775807LL - 1, "Sat, 01 Jan 0000 00:00:00 GMT" },
};

/* t == LLONG_MIN: must be rejected. */
static const struct {
	const char	*s;
	long long	 t;
} parse_cases[] = {
	/* the three formats (RFC 9110 §5.6.7) */
	{ "Sun, 06 Nov 1994 08:49:37 GMT",	784111777 },
	{ "Sunday, 06-Nov-94 08:49:37 GMT",	784111777 },
	{ "Sun Nov  6 08:49:37 1994",		784111777 },
	{ "Sun Nov 06 08:49:37 1994",		784111777 },
	{ "Thu, 01 Jan 1970 00:00:00 GMT",	0 },
	{ "Thursday, 01-Jan-70 00:00:00 GMT",	LLONG_MIN },	/* 2070 */
	{ "Wednesday, 01-Jan-70 00:00:00 GMT",	3155760000LL },
	{ "Thu Jan  1 00:00:00 1970",		0 },
	{ "Wed, 31 Dec 1969 23:59:59 GMT",	-1 },
	{ "Tue, 29 Feb 2000 00:00:00 GMT",	951782400 },
	{ "Tue Feb 29 00:00:00 2000",		951782400 },
	{ "Tuesday, 29-Feb-00 00:00:00 GMT",	951782400 },
	{ "Thu, 29 Feb 2024 12:00:00 GMT",	1709208000 },
	{ "Tue, 19 Jan 2038 03:14:08 GMT",	2147483648LL },
	{ "Fri, 31 Dec 9999 23:59:59 GMT",	253402300799LL },
	{ "Sat, 01 Jan 0000 00:00:00 GMT",	-62167219200LL },
	/* a leap second is the next second, as with timegm() */
	{ "Sat, 31 Dec 2016 23:59:60 GMT",	1483228800 },
	{ "Sun, 16 Nov 1994 08:49:37 GMT",	LLONG_MIN },	/* a Wed */
	/* RFC 850 two-digit years, now = 2024: at most 50 years ahead */
	{ "Friday, 31-Dec-99 23:59:59 GMT",	946684799 },
	{ "Saturday, 01-Jan-00 00:00:00 GMT",	946684800 },
	{ "Monday, 01-Jan-74 00:00:00 GMT",	3281990400LL },	/* 2074 */
	{ "Tuesday, 01-Jan-74 00:00:00 GMT",	LLONG_MIN },	/* not 1974 */
	{ "Wednesday, 01-Jan-75 00:00:00 GMT",	157766400 },	/* 1975 */
	/* bad day and month names, case */
	{ "Sux, 06 Nov 1994 08:49:37 GMT",	LLONG_MIN },
	{ "sun, 06 Nov 1994 08:49:37 GMT",	LLONG_MIN },
	{ "SUN, 06 Nov 1994 08:49:37 GMT",	LLONG_MIN },
	{ "Sun, 06 nov 1994 08:49:37 GMT",	LLONG_MIN },
	{ "Sun, 06 Nob 1994 08:49:37 GMT",	LLONG_MIN },
	{ "Sun, 06 November 1994 08:49:37 GMT", LLONG_MIN },
	{ "Sunday, 06 Nov 1994 08:49:37 GMT",	LLONG_MIN },
	{ "Sun, 06-Nov-94 08:49:37 GMT",	LLONG_MIN },
	{ "Sunday Nov  6 08:49:37 1994",	LLONG_MIN },
	{ "Mon, 06 Nov 1994 08:49:37 GMT",	LLONG_MIN },
	{ "Mon Nov  6 08:49:37 1994",		LLONG_MIN },
	/* impossible dates and times */
	{ "Tue, 31 Apr 2001 00:00:00 GMT",	LLONG_MIN },
	{ "Thu, 29 Feb 2001 00:00:00 GMT",	LLONG_MIN },
	{ "Thu, 01 Mar 2001 00:00:00 GMT",	983404800 },
	{ "Thu, 29 Feb 1900 00:00:00 GMT",	LLONG_MIN },
	{ "Wed, 30 Feb 2000 00:00:00 GMT",	LLONG_MIN },
	{ "Sun, 32 Jan 2012 00:00:00 GMT",	LLONG_MIN },
	{ "Sat, 00 Jan 2000 00:00:00 GMT",	LLONG_MIN },
	{ "Sun, 06 Nov 1994 24:00:00 GMT",	LLONG_MIN },
	{ "Sun, 06 Nov 1994 23:60:00 GMT",	LLONG_MIN },
	{ "Sun, 06 Nov 1994 23:59:61 GMT",	LLONG_MIN },
	{ "Sun, 06 Nov 1994 99:99:99 GMT",	LLONG_MIN },
	/* syntax */
	{ "Sun, 06 Nov 1994 08:49:37 GMT ",	LLONG_MIN },
	{ " Sun, 06 Nov 1994 08:49:37 GMT",	LLONG_MIN },
	{ "Sun, 06 Nov 1994 08:49:37 GMTx",	LLONG_MIN },
	{ "Sun, 06 Nov 1994 08:49:37 UTC",	LLONG_MIN },
	{ "Sun, 06 Nov 1994 08:49:37 gmt",	LLONG_MIN },
	{ "Sun, 06 Nov 1994 08:49:37",		LLONG_MIN },
	{ "Sun, 06 Nov 1994 08:49:37 +0000",	LLONG_MIN },
	{ "Sun, 6 Nov 1994 08:49:37 GMT",	LLONG_MIN },
	{ "Sun,  6 Nov 1994 08:49:37 GMT",	LLONG_MIN },
	{ "Sun,06 Nov 1994 08:49:37 GMT",	LLONG_MIN },
	{ "Sun, 06 Nov 94 08:49:37 GMT",	LLONG_MIN },
	{ "Sun, 06 Nov 01994 08:49:37 GMT",	LLONG_MIN },
	{ "Sun, 06 Nov 1994 8:49:37 GMT",	LLONG_MIN },
	{ "Sun, 06 Nov 1994 08:49 GMT",		LLONG_MIN },
	{ "Sun, 06 Nov 1994 08.49.37 GMT",	LLONG_MIN },
	{ "Sun, 06  Nov 1994 08:49:37 GMT",	LLONG_MIN },
	{ "Sun, 06 Nov 1994 08:49:37  GMT",	LLONG_MIN },
	{ "Sun, -6 Nov 1994 08:49:37 GMT",	LLONG_MIN },
	{ "Sun, 06 Nov 1994 08:49:3x GMT",	LLONG_MIN },
	{ "Sunday, 06-Nov-1994 08:49:37 GMT",	LLONG_MIN },
	{ "Sunday, 06-Nov-9x 08:49:37 GMT",	LLONG_MIN },
	{ "Sunday, 06-Nov-94 08:49:37",		LLONG_MIN },
	{ "Sunday, 6-Nov-94 08:49:37 GMT",	LLONG_MIN },
	{ "Sun Nov 6 08:49:37 1994",		LLONG_MIN },
	{ "Sun Nov   6 08:49:37 1994",		LLONG_MIN },
	{ "Sun Nov  6 08:49:37 1994 ",		LLONG_MIN },
	{ "Sun Nov  6 08:49:37 94",		LLONG_MIN },
	{ "Sun Nov  6 08:49:37 GMT 1994",	LLONG_MIN },
	{ "Sun Nov  06 08:49:37 1994",		LLONG_MIN },
	{ "",					LLONG_MIN },
	{ "Sun",				LLONG_MIN },
	{ "1994-11-06T08:49:37Z",		LLONG_MIN },
	{ "784111777",				LLONG_MIN },
};

static void
test_format(void)
{
	char	 out[HTTPDATE_LEN + 1];
	size_t	 i;

	for (i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		httpdate_format((time_t)fmt_cases[i].t, out);
		CHECKF(strcmp(out, fmt_cases[i].s) == 0, "%lld: \"%.30s\", "
		    "want \"%s\"", fmt_cases[i].t, out, fmt_cases[i].s);
	}
}

static void
test_parse(void)
{
	time_t	 t;
	size_t	 i;
	int	 rc;

	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		t = 12345;
		rc = httpdate_parse_at(parse_cases[i].s,
		    strlen(parse_cases[i].s), &t, &now2024);
		if (parse_cases[i].t == LLONG_MIN) {
			CHECKF(rc == -1, "\"%s\" accepted as %lld",
			    parse_cases[i].s, (long long)t);
			CHECKF(t == 12345, "\"%s\": *t changed",
			    parse_cases[i].s);
		} else
			CHECKF(rc == 0 && (long long)t == parse_cases[i].t,
			    "\"%s\": rc %d t %lld, want %lld",
			    parse_cases[i].s, rc, (long long)t,
			    parse_cases[i].t);
	}

	/* n is honoured */
	CHECK_INT(httpdate_parse("Sun, 06 Nov 1994 08:49:37 GMTxyz", 29, &t),
	    0);
	CHECK_INT(t, 784111777);
	CHECK_INT(httpdate_parse("Sun, 06 Nov 1994 08:49:37 GMT", 28, &t), -1);
	CHECK_INT(httpdate_parse("Sun, 06 Nov 1994 08:49:37 GMT\0", 30, &t),
	    -1);
}

/* Two-digit years move with "now" (RFC 9110 §5.6.7). */
static void
test_year2(void)
{
	static const struct {
		long long	 now;
		int		 yy;
		int		 want;
	} yc[] = {
		{ 1717243200,	74,	2074 },	/* 2024: 2074 is 50 years on */
		{ 1717243200,	75,	1975 },
		{ 1717243200,	24,	2024 },
		{ 1717243200,	0,	2000 },
		{ 1717243200,	99,	1999 },
		{ 0,		20,	2020 },	/* 1970 */
		{ 0,		21,	1921 },
		{ 0,		70,	1970 },
		{ 4070908800LL,	0,	2100 },	/* 2099 */
		{ 4070908800LL,	49,	2149 },
		{ 4070908800LL,	50,	2050 },
		{ -1,		19,	2019 },	/* 1969 */
		{ -1,		20,	1920 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(yc) / sizeof(yc[0]); i++)
		CHECKF(year2(yc[i].yy, (time_t)yc[i].now) == yc[i].want,
		    "now %lld yy %d: %lld, want %d", yc[i].now, yc[i].yy,
		    (long long)year2(yc[i].yy, (time_t)yc[i].now), yc[i].want);
}

/*
 * Many timestamps, 0000-9999: format agrees with gmtime_r()+strftime() in
 * the C locale, and all three formats parse back to the same time, which
 * timegm() agrees with.
 */
static void
test_roundtrip(void)
{
	char		 out[HTTPDATE_LEN + 1], a[64], b[64], imf[160];
	char		 asc[160], r850[160];
	struct tm	 tm;
	long long	 lt;
	time_t		 t, back;
	unsigned	 bad = 0, n = 0, i;
	int		 y;

	setlocale(LC_ALL, "C");
	for (lt = -62167219200LL; lt <= 253402300799LL; lt += 7919LL * 3593) {
		for (i = 0; i < 3; i++) {
			t = (time_t)(lt + (long long)i * 86399);
			n++;
			httpdate_format(t, out);
			if (gmtime_r(&t, &tm) == NULL) {
				bad++;
				continue;
			}
			/* %Y does not pad years < 1000, so print it apart */
			y = tm.tm_year + 1900;
			strftime(a, sizeof(a), "%a, %d %b ", &tm);
			strftime(b, sizeof(b), " %H:%M:%S GMT", &tm);
			snprintf(imf, sizeof(imf), "%s%04d%s", a, y, b);
			strftime(a, sizeof(a), "%a %b %e %H:%M:%S ", &tm);
			snprintf(asc, sizeof(asc), "%s%04d", a, y);
			strftime(a, sizeof(a), "%A, %d-%b-", &tm);
			snprintf(r850, sizeof(r850), "%s%02d%s", a, y % 100, b);
			if (strcmp(out, imf) != 0 || timegm(&tm) != t ||
			    httpdate_parse(out, strlen(out), &back) != 0 ||
			    back != t ||
			    httpdate_parse(asc, strlen(asc), &back) != 0 ||
			    back != t ||
			    /* "now" in the same year */
			    httpdate_parse_at(r850, strlen(r850), &back,
			    &t) != 0 ||
			    back != t) {
				if (bad++ < 5)
					CHECKF(0, "%lld: \"%s\" vs \"%s\" / "
					    "\"%s\" / \"%s\"", (long long)t,
					    out, imf, asc, r850);
			}
		}
	}
	CHECKF(bad == 0, "%u of %u timestamps failed", bad, n);
	CHECK(n > 30000);

	/* every second around a leap day */
	for (lt = 951782400 - 3600; lt < 951782400 + 90000; lt++) {
		t = (time_t)lt;
		httpdate_format(t, out);
		if (httpdate_parse(out, HTTPDATE_LEN, &back) != 0 || back != t)
			bad++;
	}
	CHECK_INT(bad, 0);
}

int
main(void)
{
	test_format();
	test_parse();
	test_year2();
	test_roundtrip();
	return unit_done("httpdate");
}
