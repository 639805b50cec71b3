/*
 * test_range.c - range_parse() (syntax, satisfiability, coalescing, attacks)
 * and the multipart/byteranges framing helpers.
 */
#include "../unit.h"
#include "../../../src/frontend/range.c"

#include <stdlib.h>

#define BIG	"99999999999999999999999"	/* > UINT64_MAX */
#define U64MAX	"18446744073709551615"

/*
 * want: the expected ranges as "first-last first-last ..." for rc > 0.
 * size 1000 and max RANGE_MAX unless stated.
 */
static const struct {
	const char	*v;
	uint64_t	 size;
	int		 max;
	int		 rc;
	const char	*want;
} cases[] = {
	/* the basic forms (RFC 9110 §14.1.2 examples) */
	{ "bytes=0-499",		1000, 16,  1, "0-499" },
	{ "bytes=500-999",		1000, 16,  1, "500-999" },
	{ "bytes=-500",			1000, 16,  1, "500-999" },
	{ "bytes=500-",			1000, 16,  1, "500-999" },
	{ "bytes=0-0,-1",		1000, 16,  2, "0-0 999-999" },
	{ "bytes=0-",			1000, 16,  1, "0-999" },
	{ "bytes=999-",			1000, 16,  1, "999-999" },
	{ "bytes=0-0",			1,    16,  1, "0-0" },
	/* clamping to size - 1 */
	{ "bytes=0-5000",		1000, 16,  1, "0-999" },
	{ "bytes=-5000",		1000, 16,  1, "0-999" },
	{ "bytes=-1000",		1000, 16,  1, "0-999" },
	{ "bytes=0-" U64MAX,		1000, 16,  1, "0-999" },
	{ "bytes=0-" BIG,		1000, 16,  1, "0-999" },
	{ "bytes=-" BIG,		1000, 16,  1, "0-999" },
	{ "bytes=0000000000000000000000000001-2", 1000, 16, 1, "1-2" },
	/* unsatisfiable: -1 (416) */
	{ "bytes=1000-",		1000, 16, -1, NULL },
	{ "bytes=9500-",		1000, 16, -1, NULL },
	{ "bytes=1000-2000",		1000, 16, -1, NULL },
	{ "bytes=-0",			1000, 16, -1, NULL },
	{ "bytes=-000",			1000, 16, -1, NULL },
	{ "bytes=" BIG "-",		1000, 16, -1, NULL },
	{ "bytes=" U64MAX "-" U64MAX,	1000, 16, -1, NULL },
	{ "bytes=" BIG "-" BIG,		1000, 16, -1, NULL },
	{ "bytes=2000-3000,-0",		1000, 16, -1, NULL },
	{ "bytes=0-",			0,    16, -1, NULL },
	{ "bytes=0-0",			0,    16, -1, NULL },
	{ "bytes=-1",			0,    16, -1, NULL },
	{ "bytes=-0",			0,    16, -1, NULL },
	/* unsatisfiable ranges are dropped from a satisfiable set */
	{ "bytes=2000-3000,0-1",	1000, 16,  1, "0-1" },
	{ "bytes=-0,5-6,1000-",		1000, 16,  1, "5-6" },
	/* unit: "bytes" only, case-insensitive */
	{ "BYTES=0-1",			1000, 16,  1, "0-1" },
	{ "Bytes=0-1",			1000, 16,  1, "0-1" },
	{ "items=0-1",			1000, 16,  0, NULL },
	{ "byte=0-1",			1000, 16,  0, NULL },
	{ "bytesx=0-1",			1000, 16,  0, NULL },
	{ "bytes =0-1",			1000, 16,  0, NULL },
	{ " bytes=0-1",			1000, 16,  0, NULL },
	{ "bytes",			1000, 16,  0, NULL },
	{ "=0-1",			1000, 16,  0, NULL },
	{ "",				1000, 16,  0, NULL },
	/* list syntax: OWS around commas, empty elements ignored */
	{ "bytes=0-1,3-4",		1000, 16,  2, "0-1 3-4" },
	{ "bytes=0-1 , 3-4",		1000, 16,  2, "0-1 3-4" },
	{ "bytes=0-1,\t3-4",		1000, 16,  2, "0-1 3-4" },
	{ "bytes=0-1 \t,\t 3-4 ",	1000, 16,  2, "0-1 3-4" },
	{ "bytes=0-1,,3-4",		1000, 16,  2, "0-1 3-4" },
	{ "bytes=0-1, ,3-4",		1000, 16,  2, "0-1 3-4" },
	{ "bytes=,0-1",			1000, 16,  1, "0-1" },
	{ "bytes=, 0-1",		1000, 16,  1, "0-1" },
	{ "bytes=0-1,",			1000, 16,  1, "0-1" },
	{ "bytes=0-1, ",		1000, 16,  1, "0-1" },
	/* syntax errors: 0 (ignore the header) */
	{ "bytes=",			1000, 16,  0, NULL },
	{ "bytes=,",			1000, 16,  0, NULL },
	{ "bytes=, ,",			1000, 16,  0, NULL },
	{ "bytes= 0-1",			1000, 16,  0, NULL },
	{ "bytes=0 -1",			1000, 16,  0, NULL },
	{ "bytes=0- 1",			1000, 16,  0, NULL },
	{ "bytes=- 1",			1000, 16,  0, NULL },
	{ "bytes=5-1",			1000, 16,  0, NULL },
	{ "bytes=0-1,5-1",		1000, 16,  0, NULL },
	{ "bytes=" BIG "1-" BIG,	1000, 16,  0, NULL },
	{ "bytes=1" U64MAX "-" U64MAX,	1000, 16,  0, NULL },
	{ "bytes=-",			1000, 16,  0, NULL },
	{ "bytes=--1",			1000, 16,  0, NULL },
	{ "bytes=0--1",			1000, 16,  0, NULL },
	{ "bytes=1-2-3",		1000, 16,  0, NULL },
	{ "bytes=0",			1000, 16,  0, NULL },
	{ "bytes=+1-2",			1000, 16,  0, NULL },
	{ "bytes=0x10-20",		1000, 16,  0, NULL },
	{ "bytes=a-b",			1000, 16,  0, NULL },
	{ "bytes=0-1x",			1000, 16,  0, NULL },
	{ "bytes=0-1;3-4",		1000, 16,  0, NULL },
	{ "bytes=0-1 3-4",		1000, 16,  0, NULL },
	{ "bytes=0-1\r\n",		1000, 16,  0, NULL },
	{ "bytes==0-1",			1000, 16,  0, NULL },
	{ "bytes=1.5-2",		1000, 16,  0, NULL },
	{ "bytes=-0,x",			1000, 16,  0, NULL },
	{ "bytes=5-1",			0,    16,  0, NULL },
	/* request order kept while nothing overlaps */
	{ "bytes=500-599,0-99",		1000, 16,  2, "500-599 0-99" },
	{ "bytes=-1,0-0,500-500",	1000, 16,  3, "999-999 0-0 500-500" },
	/* coalescing: ascending once needed */
	{ "bytes=500-599,0-99,550-650",	1000, 16,  2, "0-99 500-650" },
	{ "bytes=500-600,601-999",	1000, 16,  1, "500-999" },
	{ "bytes=601-999,500-600",	1000, 16,  1, "500-999" },
	{ "bytes=500-700,601-999",	1000, 16,  1, "500-999" },
	{ "bytes=10-20,12-15",		1000, 16,  1, "10-20" },
	{ "bytes=12-15,10-20",		1000, 16,  1, "10-20" },
	{ "bytes=900-999,0-99,50-950",	1000, 16,  1, "0-999" },
	{ "bytes=-500,0-",		1000, 16,  1, "0-999" },
	{ "bytes=0-0,0-0,0-0",		1000, 16,  1, "0-0" },
	{ "bytes=0-1,2-3,4-5,6-7",	1000, 16,  1, "0-7" },
	{ "bytes=6-7,4-5,2-3,0-1",	1000, 16,  1, "0-7" },
	{ "bytes=0-0,4-4,8-8,2-6",	1000, 16,  3, "0-0 2-6 8-8" },
	{ "bytes=0-0,4-4,8-8,2-7",	1000, 16,  2, "0-0 2-8" },
	{ "bytes=0-0,4-4,8-8,1-7",	1000, 16,  1, "0-8" },
	{ "bytes=30-39,0-9,20-29,50-59", 1000, 16, 3, "0-9 20-39 50-59" },
	{ "bytes=0-9,100-109,5-104",	1000, 16,  1, "0-109" },
	/* max */
	{ "bytes=0-0,5-5",		1000, 1,   0, NULL },
	{ "bytes=0-0,1-1",		1000, 1,   1, "0-1" },
	{ "bytes=0-0,5-5",		1000, 2,   2, "0-0 5-5" },
	{ "bytes=0-0,2-2,4-4",		1000, 2,   0, NULL },
	/* decided as ranges arrive: a late bridge does not rescue the set */
	{ "bytes=0-0,2-2,4-4,0-10",	1000, 2,   0, NULL },
	{ "bytes=0-0,2-2,0-10,4-4",	1000, 2,   1, "0-10" },
	{ "bytes=0-1",			1000, 0,   0, NULL },
	{ "bytes=0-1",			1000, -1,  0, NULL },
};

/* Format out[0..n) like the table's want column. */
static void
fmt(char *s, size_t sz, const struct byte_range *r, int n)
{
	size_t	 o = 0;
	int	 i;

	s[0] = '\0';
	for (i = 0; i < n && o < sz; i++)
		o += (size_t)snprintf(s + o, sz - o, "%s%llu-%llu",
		    i ? " " : "", (unsigned long long)r[i].first,
		    (unsigned long long)r[i].last);
}

static void
test_table(void)
{
	struct byte_range	 out[RANGE_MAX + 1];
	char			 got[512];
	size_t			 i;
	int			 rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 0xa5, sizeof(out));
		rc = range_parse(cases[i].v, strlen(cases[i].v), cases[i].size,
		    out, cases[i].max);
		CHECKF(rc == cases[i].rc, "\"%s\" size %llu max %d: rc %d, "
		    "want %d", cases[i].v, (unsigned long long)cases[i].size,
		    cases[i].max, rc, cases[i].rc);
		if (rc <= 0 || rc != cases[i].rc)
			continue;
		fmt(got, sizeof(got), out, rc);
		CHECKF(strcmp(got, cases[i].want) == 0, "\"%s\": \"%s\", want "
		    "\"%s\"", cases[i].v, got, cases[i].want);
		/* nothing written past max */
		if (cases[i].max >= 0 && cases[i].max < RANGE_MAX + 1)
			CHECK(out[cases[i].max].first == 0xa5a5a5a5a5a5a5a5ull);
	}
}

/* Amplification and many-range attacks, and a header cut short by n. */
static void
test_attacks(void)
{
	enum { N = 64 * 1024 };
	struct byte_range	 out[RANGE_MAX];
	char			*v;
	size_t			 o;
	int			 i;

	if ((v = malloc(N)) == NULL)
		abort();

	/* bytes=0-0,0-0,... and bytes=0-,0-,...: one range */
	o = (size_t)snprintf(v, N, "bytes=0-0");
	while (o + 4 < N)
		o += (size_t)snprintf(v + o, N - o, ",0-0");
	CHECK_INT(range_parse(v, o, 1000, out, RANGE_MAX), 1);
	CHECK(out[0].first == 0 && out[0].last == 0);
	o = (size_t)snprintf(v, N, "bytes=0-");
	while (o + 3 < N)
		o += (size_t)snprintf(v + o, N - o, ",0-");
	CHECK_INT(range_parse(v, o, 1u << 30, out, RANGE_MAX), 1);
	CHECK(out[0].first == 0 && out[0].last == (1u << 30) - 1);

	/* many overlapping suffixes: one range */
	o = (size_t)snprintf(v, N, "bytes=-1");
	for (i = 2; o + 12 < N; i++)
		o += (size_t)snprintf(v + o, N - o, ",-%d", i);
	CHECK_INT(range_parse(v, o, 1000000, out, RANGE_MAX), 1);
	CHECK(out[0].last == 999999);

	/* many small disjoint ranges: ignored */
	o = (size_t)snprintf(v, N, "bytes=0-0");
	for (i = 1; o + 16 < N; i++)
		o += (size_t)snprintf(v + o, N - o, ",%d-%d", 2 * i, 2 * i);
	CHECK_INT(range_parse(v, o, 1000000, out, RANGE_MAX), 0);

	/* RANGE_MAX disjoint ranges, one more that coalesces, one that not */
	o = (size_t)snprintf(v, N, "bytes=0-0");
	for (i = 1; i < RANGE_MAX; i++)
		o += (size_t)snprintf(v + o, N - o, ",%d-%d", 2 * i, 2 * i);
	CHECK_INT(range_parse(v, o, 1000, out, RANGE_MAX), RANGE_MAX);
	CHECK(out[RANGE_MAX - 1].first == 2 * (RANGE_MAX - 1));
	o += (size_t)snprintf(v + o, N - o, ",%d-%d", 2 * i - 1, 2 * i - 1);
	CHECK_INT(range_parse(v, o, 1000, out, RANGE_MAX), RANGE_MAX);
	CHECK(out[RANGE_MAX - 1].first == 2 * (RANGE_MAX - 1) &&
	    out[RANGE_MAX - 1].last == 2 * RANGE_MAX - 1);
	o += (size_t)snprintf(v + o, N - o, ",%d-%d", 2 * i + 1, 2 * i + 1);
	CHECK_INT(range_parse(v, o, 1000, out, RANGE_MAX), 0);

	/* RANGE_MAX disjoint ones in reverse, then a bridge: sorted, merged */
	o = (size_t)snprintf(v, N, "bytes=");
	for (i = RANGE_MAX - 1; i >= 0; i--)
		o += (size_t)snprintf(v + o, N - o, "%d-%d,", 10 * i, 10 * i);
	o += (size_t)snprintf(v + o, N - o, "0-20");
	CHECK_INT(range_parse(v, o, 1000, out, RANGE_MAX), RANGE_MAX - 2);
	CHECK(out[0].first == 0 && out[0].last == 20);
	CHECK(out[1].first == 30 && out[RANGE_MAX - 3].first ==
	    10 * (RANGE_MAX - 1));

	/* n is honoured: the bytes after it are not looked at */
	CHECK_INT(range_parse("bytes=0-1x", 9, 1000, out, RANGE_MAX), 1);
	CHECK_INT(range_parse("bytes=0-1,5-1", 9, 1000, out, RANGE_MAX), 1);
	CHECK_INT(range_parse("bytes=0-1", 5, 1000, out, RANGE_MAX), 0);

	free(v);
}

static void
test_multipart(void)
{
	static const struct byte_range r1[] = { { 0, 0 } },
	    r2[] = { { 0, 499 }, { 900, 999 } },
	    r3[] = { { 5, 5 }, { 17, 1234567 }, { 0, 0 } };
	static const struct {
		const struct byte_range	*r;
		int			 nr;
		uint64_t		 size;
		const char		*ctype;
		const char		*boundary;
	} mc[] = {
		{ r1, 1, 1, "text/plain", "b" },
		{ r2, 2, 1000, "text/html; charset=utf-8", "0000000042" },
		{ r3, 3, 99999999999ull, NULL, "xyz" },
		{ r3, 3, 1234568, "application/octet-stream", "weir-boundary" },
	};
	struct byte_range	 big = { 18446744073709551613ull,
				     18446744073709551614ull };
	char			 buf[512];
	uint64_t		 sum;
	size_t			 i, len;
	int			 j;

	len = range_part_header(buf, sizeof(buf), "BND", "text/plain", &r2[1],
	    1000);
	CHECK_STR(buf, "\r\n--BND\r\nContent-Type: text/plain\r\n"
	    "Content-Range: bytes 900-999/1000\r\n\r\n");
	CHECK_INT(len, strlen(buf));
	len = range_part_header(buf, sizeof(buf), "BND", NULL, &r1[0], 1);
	CHECK_STR(buf, "\r\n--BND\r\nContent-Range: bytes 0-0/1\r\n\r\n");
	CHECK_INT(len, strlen(buf));
	len = range_part_header(buf, sizeof(buf), "B", "x/y", &big,
	    UINT64_MAX);
	CHECK_STR(buf, "\r\n--B\r\nContent-Type: x/y\r\nContent-Range: bytes "
	    "18446744073709551613-18446744073709551614/18446744073709551615"
	    "\r\n\r\n");
	CHECK_INT(len, strlen(buf));

	len = range_multipart_trailer(buf, sizeof(buf), "BND");
	CHECK_STR(buf, "\r\n--BND--\r\n");
	CHECK_INT(len, 11);

	/* exact fit needs room for the NUL; one byte less fails cleanly */
	len = strlen("\r\n--BND\r\nContent-Range: bytes 0-0/1\r\n\r\n");
	CHECK_INT(range_part_header(buf, len + 1, "BND", NULL, &r1[0], 1), len);
	CHECK_INT(range_part_header(buf, len, "BND", NULL, &r1[0], 1), 0);
	CHECK_STR(buf, "");
	CHECK_INT(range_part_header(buf, 0, "BND", NULL, &r1[0], 1), 0);
	CHECK_INT(range_part_header(NULL, 100, "BND", NULL, &r1[0], 1), 0);
	CHECK_INT(range_multipart_trailer(buf, 12, "BND"), 11);
	CHECK_INT(range_multipart_trailer(buf, 11, "BND"), 0);
	CHECK_INT(range_multipart_trailer(buf, 0, "BND"), 0);

	/* the announced length is what the parts add up to */
	for (i = 0; i < sizeof(mc) / sizeof(mc[0]); i++) {
		sum = 0;
		for (j = 0; j < mc[i].nr; j++) {
			len = range_part_header(buf, sizeof(buf),
			    mc[i].boundary, mc[i].ctype, &mc[i].r[j],
			    mc[i].size);
			CHECK(len > 0);
			sum += len + mc[i].r[j].last - mc[i].r[j].first + 1;
		}
		len = range_multipart_trailer(buf, sizeof(buf), mc[i].boundary);
		CHECK(len > 0);
		sum += len;
		CHECKF(range_multipart_length(mc[i].boundary, mc[i].ctype,
		    mc[i].r, mc[i].nr, mc[i].size) == sum, "multipart %zu", i);
	}
	/* a hand-counted one: 2 parts of 500 and 100 bytes */
	CHECK_INT(range_multipart_length("BND", "text/plain", r2, 2, 1000),
	    (long long)strlen("\r\n--BND\r\nContent-Type: text/plain\r\n"
	    "Content-Range: bytes 0-499/1000\r\n\r\n") + 500 +
	    (long long)strlen("\r\n--BND\r\nContent-Type: text/plain\r\n"
	    "Content-Range: bytes 900-999/1000\r\n\r\n") + 100 + 11);
	CHECK_INT(range_multipart_length("BND", "text/plain", r2, 0, 1000),
	    11);
}

/*
 * Random sets of up to 8 ranges over small files, checked against a bitmap:
 * the result covers exactly the satisfiable bytes with maximal ranges, in
 * request order when no two touched, ascending otherwise.
 */
static void
test_random(void)
{
	struct byte_range	 out[RANGE_MAX], req[8];
	char			 v[256];
	unsigned char		 cov[70], got[70];
	unsigned		 seed = 1, iter, k, nreq, a, b, form;
	uint64_t		 size, x;
	size_t			 o;
	int			 rc, want, i, j;
	bool			 touch, bad = false;

#define RND()	((seed = seed * 1103515245u + 12345u) >> 16)
	for (iter = 0; iter < 100000 && !bad; iter++) {
		size = RND() % 66;
		nreq = 1 + RND() % 8;
		memset(cov, 0, sizeof(cov));
		o = (size_t)snprintf(v, sizeof(v), "bytes=");
		for (k = 0, j = 0; k < nreq; k++) {
			a = RND() % 70;
			b = a + RND() % 20;
			form = RND() % 3;
			if (form == 0)
				o += (size_t)snprintf(v + o, sizeof(v) - o,
				    "%s%u-%u", k ? "," : "", a, b);
			else if (form == 1)
				o += (size_t)snprintf(v + o, sizeof(v) - o,
				    "%s%u-", k ? "," : "", a);
			else
				o += (size_t)snprintf(v + o, sizeof(v) - o,
				    "%s-%u", k ? "," : "", b % 70);
			if (form == 2) {
				if (size == 0 || b % 70 == 0)
					continue;
				req[j].first = b % 70 >= size ? 0 :
				    size - b % 70;
				req[j].last = size - 1;
			} else {
				if (a >= size)
					continue;
				req[j].first = a;
				req[j].last = form == 1 || b >= size ?
				    size - 1 : b;
			}
			j++;
		}
		touch = false;
		for (i = 0; i < j; i++) {
			for (x = req[i].first; x <= req[i].last; x++)
				cov[x] = 1;
			for (k = 0; k < (unsigned)i; k++)
				touch |= mergeable(&req[k], &req[i]);
		}
		want = 0;
		for (x = 0; x < size; x++)
			want += cov[x] && (x == 0 || !cov[x - 1]);
		rc = range_parse(v, o, size, out, RANGE_MAX);
		if (rc != (want ? want : -1)) {
			CHECKF(0, "\"%s\" size %llu: rc %d, want %d", v,
			    (unsigned long long)size, rc, want);
			break;
		}
		memset(got, 0, sizeof(got));
		for (i = 0; i < rc; i++) {
			for (x = out[i].first; x <= out[i].last; x++)
				got[x] = 1;
			if (i > 0 && mergeable(&out[i - 1], &out[i]))
				bad = true;
			if (i > 0 && touch && out[i - 1].first > out[i].first)
				bad = true;
			if (!touch && (out[i].first != req[i].first ||
			    out[i].last != req[i].last))
				bad = true;
		}
		if (memcmp(got, cov, sizeof(cov)) != 0)
			bad = true;
		if (bad)
			CHECKF(0, "\"%s\" size %llu", v,
			    (unsigned long long)size);
	}
#undef RND
	CHECK(iter == 100000);
}

int
main(void)
{
	test_table();
	test_attacks();
	test_random();
	test_multipart();
	return unit_done("range");
}
