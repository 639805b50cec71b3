/*
 * test_cond.c - cond_evaluate() (RFC 9110 §13.2.2 precedence, entity-tag
 * lists, If-Range) and etag_make().  cond.c reads dates with httpdate.c.
 */
#include "../unit.h"
#include "../../../src/frontend/httpdate.c"
#include "../../../src/frontend/cond.c"

#define ETAG	"\"abc\""
#define MTIME	784111777			/* the D0 date */
#define D0	"Sun, 06 Nov 1994 08:49:37 GMT"
#define DM1	"Sun, 06 Nov 1994 08:49:36 GMT"
#define DP1	"Sun, 06 Nov 1994 08:49:38 GMT"
#define D850	"Sunday, 06-Nov-94 08:49:37 GMT"
#define DASC	"Sun Nov  6 08:49:37 1994"
#define BAD	"yesterday"

#define G	HTTP_M_GET
#define H	HTTP_M_HEAD
#define P	HTTP_M_POST
#define U	HTTP_M_PUT
#define D	HTTP_M_DELETE

/* NULL: the header is absent.  ur: *use_range (1) or not (0). */
static const struct {
	enum http_method m;
	const char	*im, *inm, *ims, *ius, *ir;
	int		 rc, ur;
} cases[] = {
	/* no preconditions */
	{ G, NULL, NULL, NULL, NULL, NULL,		0,   1 },
	{ H, NULL, NULL, NULL, NULL, NULL,		0,   0 },
	{ P, NULL, NULL, NULL, NULL, NULL,		0,   0 },
	/* 1. If-Match: strong comparison, "*", lists */
	{ G, ETAG, NULL, NULL, NULL, NULL,		0,   1 },
	{ G, "\"xyz\"", NULL, NULL, NULL, NULL,		412, 0 },
	{ G, "*", NULL, NULL, NULL, NULL,		0,   1 },
	{ G, " * ", NULL, NULL, NULL, NULL,		0,   1 },
	{ G, "W/" ETAG, NULL, NULL, NULL, NULL,		412, 0 },
	{ G, "\"xyz\", " ETAG, NULL, NULL, NULL, NULL,	0,   1 },
	{ G, "\"xyz\" ," ETAG, NULL, NULL, NULL, NULL,	0,   1 },
	{ G, "\"xyz\",\t" ETAG, NULL, NULL, NULL, NULL,	0,   1 },
	{ G, "\"xyz\",," ETAG ",", NULL, NULL, NULL, NULL, 0, 1 },
	{ G, ", " ETAG, NULL, NULL, NULL, NULL,		0,   1 },
	{ G, "W/\"xyz\", W/" ETAG, NULL, NULL, NULL, NULL, 412, 0 },
	{ G, "\"ABC\"", NULL, NULL, NULL, NULL,		412, 0 },
	{ G, "\"abc \"", NULL, NULL, NULL, NULL,	412, 0 },
	{ G, "abc", NULL, NULL, NULL, NULL,		412, 0 },
	{ G, "\"abc", NULL, NULL, NULL, NULL,		412, 0 },
	{ G, "abc\"", NULL, NULL, NULL, NULL,		412, 0 },
	{ G, "\"a\"bc\"", NULL, NULL, NULL, NULL,	412, 0 },
	{ G, ETAG " " ETAG, NULL, NULL, NULL, NULL,	412, 0 },
	{ G, ETAG ETAG, NULL, NULL, NULL, NULL,		412, 0 },
	{ G, ETAG ", xyz", NULL, NULL, NULL, NULL,	412, 0 },
	{ G, "*, " ETAG, NULL, NULL, NULL, NULL,	412, 0 },
	{ G, "**", NULL, NULL, NULL, NULL,		412, 0 },
	{ G, "w/" ETAG, NULL, NULL, NULL, NULL,		412, 0 },
	{ G, "", NULL, NULL, NULL, NULL,		412, 0 },
	{ G, ",", NULL, NULL, NULL, NULL,		412, 0 },
	{ P, ETAG, NULL, NULL, NULL, NULL,		0,   0 },
	{ U, "\"xyz\"", NULL, NULL, NULL, NULL,		412, 0 },
	{ D, "*", NULL, NULL, NULL, NULL,		0,   0 },
	/* 2. If-Unmodified-Since, only without If-Match */
	{ G, NULL, NULL, NULL, D0, NULL,		0,   1 },
	{ G, NULL, NULL, NULL, DP1, NULL,		0,   1 },
	{ G, NULL, NULL, NULL, DM1, NULL,		412, 0 },
	{ P, NULL, NULL, NULL, DM1, NULL,		412, 0 },
	{ G, NULL, NULL, NULL, BAD, NULL,		0,   1 },
	{ G, NULL, NULL, NULL, D0 " ", NULL,		0,   1 },
	{ G, NULL, NULL, NULL, D850, NULL,		0,   1 },
	{ G, NULL, NULL, NULL, DASC, NULL,		0,   1 },
	{ G, ETAG, NULL, NULL, DM1, NULL,		0,   1 },
	{ G, "\"xyz\"", NULL, NULL, DP1, NULL,		412, 0 },
	/* 3. If-None-Match: weak comparison; 304 for GET/HEAD, else 412 */
	{ G, NULL, ETAG, NULL, NULL, NULL,		304, 0 },
	{ H, NULL, ETAG, NULL, NULL, NULL,		304, 0 },
	{ P, NULL, ETAG, NULL, NULL, NULL,		412, 0 },
	{ U, NULL, "*", NULL, NULL, NULL,		412, 0 },
	{ G, NULL, "*", NULL, NULL, NULL,		304, 0 },
	{ G, NULL, "W/" ETAG, NULL, NULL, NULL,		304, 0 },
	{ G, NULL, "\"xyz\", W/" ETAG, NULL, NULL, NULL, 304, 0 },
	{ G, NULL, "\"xyz\"", NULL, NULL, NULL,		0,   1 },
	{ P, NULL, "\"xyz\"", NULL, NULL, NULL,		0,   0 },
	{ G, NULL, "abc", NULL, NULL, NULL,		0,   1 },
	{ G, NULL, ETAG " junk", NULL, NULL, NULL,	0,   1 },
	{ G, NULL, ETAG ", W/", NULL, NULL, NULL,	0,   1 },
	{ G, NULL, "", NULL, NULL, NULL,		0,   1 },
	{ G, NULL, "W/\"abc", NULL, NULL, NULL,		0,   1 },
	/* 4. If-Modified-Since: GET/HEAD only, only without If-None-Match */
	{ G, NULL, NULL, D0, NULL, NULL,		304, 0 },
	{ H, NULL, NULL, D0, NULL, NULL,		304, 0 },
	{ G, NULL, NULL, DP1, NULL, NULL,		304, 0 },
	{ G, NULL, NULL, DM1, NULL, NULL,		0,   1 },
	{ G, NULL, NULL, D850, NULL, NULL,		304, 0 },
	{ G, NULL, NULL, DASC, NULL, NULL,		304, 0 },
	{ G, NULL, NULL, BAD, NULL, NULL,		0,   1 },
	{ G, NULL, NULL, "Mon, 06 Nov 1994 08:49:37 GMT", NULL, NULL, 0, 1 },
	{ G, NULL, NULL, "Sun, 06 Nov 1994 24:49:37 GMT", NULL, NULL, 0, 1 },
	{ G, NULL, NULL, "", NULL, NULL,		0,   1 },
	{ P, NULL, NULL, D0, NULL, NULL,		0,   0 },
	{ U, NULL, NULL, DP1, NULL, NULL,		0,   0 },
	{ G, NULL, "\"xyz\"", D0, NULL, NULL,		0,   1 },
	{ G, NULL, "abc", D0, NULL, NULL,		0,   1 },
	/* the order between them */
	{ G, "\"xyz\"", ETAG, NULL, NULL, NULL,		412, 0 },
	{ G, ETAG, ETAG, NULL, NULL, NULL,		304, 0 },
	{ P, ETAG, ETAG, NULL, NULL, NULL,		412, 0 },
	{ G, NULL, ETAG, NULL, DM1, NULL,		412, 0 },
	{ G, NULL, ETAG, NULL, D0, NULL,		304, 0 },
	{ G, "\"xyz\"", NULL, D0, NULL, NULL,		412, 0 },
	{ G, NULL, NULL, D0, DM1, NULL,			412, 0 },
	{ G, ETAG, NULL, D0, DM1, NULL,			304, 0 },
	{ G, ETAG, "\"xyz\"", DP1, D0, ETAG,		0,   1 },
	/* 5. If-Range: strong tag, or a date equal to Last-Modified */
	{ G, NULL, NULL, NULL, NULL, ETAG,		0,   1 },
	{ G, NULL, NULL, NULL, NULL, "\"xyz\"",		0,   0 },
	{ G, NULL, NULL, NULL, NULL, "W/" ETAG,		0,   0 },
	{ G, NULL, NULL, NULL, NULL, ETAG ", " ETAG,	0,   0 },
	{ G, NULL, NULL, NULL, NULL, ETAG " ",		0,   0 },
	{ G, NULL, NULL, NULL, NULL, "*",		0,   0 },
	{ G, NULL, NULL, NULL, NULL, "abc",		0,   0 },
	{ G, NULL, NULL, NULL, NULL, "",		0,   0 },
	{ G, NULL, NULL, NULL, NULL, D0,		0,   1 },
	{ G, NULL, NULL, NULL, NULL, D850,		0,   1 },
	{ G, NULL, NULL, NULL, NULL, DASC,		0,   1 },
	{ G, NULL, NULL, NULL, NULL, DM1,		0,   0 },
	{ G, NULL, NULL, NULL, NULL, DP1,		0,   0 },
	{ G, NULL, NULL, NULL, NULL, BAD,		0,   0 },
	{ G, NULL, NULL, DM1, NULL, D0,			0,   1 },
	{ G, NULL, "\"xyz\"", NULL, NULL, "\"xyz\"",	0,   0 },
	{ G, NULL, NULL, NULL, NULL, "Wed, 09 Nov 1994 08:49:37 GMT", 0, 0 },
	{ H, NULL, NULL, NULL, NULL, ETAG,		0,   0 },
	{ P, NULL, NULL, NULL, NULL, ETAG,		0,   0 },
	{ G, NULL, ETAG, NULL, NULL, ETAG,		304, 0 },
};

static struct hstr
hs(const char *s)
{
	struct hstr	 h = { s, s != NULL ? strlen(s) : 0 };

	return h;
}

static void
test_table(void)
{
	struct cond_input	 in;
	size_t			 i;
	bool			 ur;
	int			 rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&in, 0, sizeof(in));
		in.method = cases[i].m;
		in.if_match = hs(cases[i].im);
		in.if_none_match = hs(cases[i].inm);
		in.if_modified_since = hs(cases[i].ims);
		in.if_unmodified_since = hs(cases[i].ius);
		in.if_range = hs(cases[i].ir);
		in.etag = ETAG;
		in.etag_len = strlen(ETAG);
		in.mtime = MTIME;
		ur = !cases[i].ur;
		rc = cond_evaluate(&in, &ur);
		CHECKF(rc == cases[i].rc && ur == (cases[i].ur != 0),
		    "case %zu: rc %d use_range %d, want %d %d", i, rc, ur,
		    cases[i].rc, cases[i].ur);
	}
}

/* Tags with obs-text, no own tag, and value lengths that cut a string. */
static void
test_edges(void)
{
	struct cond_input	 in;
	bool			 ur;

	memset(&in, 0, sizeof(in));
	in.method = HTTP_M_GET;
	in.mtime = MTIME;
	in.etag = "\"\xc3\xa9!#~\"";
	in.etag_len = strlen(in.etag);
	in.if_match = hs("\"\xc3\xa9!#~\"");
	CHECK_INT(cond_evaluate(&in, &ur), 0);
	in.if_match = hs("\"\x7f\"");
	CHECK_INT(cond_evaluate(&in, &ur), 412);
	in.if_match = hs("\"\x01\"");
	CHECK_INT(cond_evaluate(&in, &ur), 412);

	/* no ETag of our own: only "*" matches */
	in.etag = NULL;
	in.etag_len = 0;
	in.if_match = hs("\"\"");
	CHECK_INT(cond_evaluate(&in, &ur), 412);
	in.if_match = hs("*");
	CHECK_INT(cond_evaluate(&in, &ur), 0);
	in.if_match = hs(NULL);
	in.if_range = hs("\"\"");
	CHECK_INT(cond_evaluate(&in, &ur), 0);
	CHECK(!ur);

	/* the slice length is honoured */
	in.etag = ETAG;
	in.etag_len = strlen(ETAG);
	in.if_range = hs(NULL);
	in.if_match.p = ETAG "xyz";
	in.if_match.n = strlen(ETAG);
	CHECK_INT(cond_evaluate(&in, &ur), 0);
	in.if_match.n = strlen(ETAG) - 1;
	CHECK_INT(cond_evaluate(&in, &ur), 412);
	in.if_match = hs(NULL);
	in.if_modified_since.p = D0 "garbage";
	in.if_modified_since.n = strlen(D0);
	CHECK_INT(cond_evaluate(&in, &ur), 304);
	/* present but empty is not absent */
	in.if_modified_since = hs(NULL);
	in.if_match.p = ETAG;
	in.if_match.n = 0;
	CHECK_INT(cond_evaluate(&in, &ur), 412);
}

static void
test_etag(void)
{
	static const struct {
		long long	 sec;
		long		 nsec;
		long long	 size;
		const char	*want;
	} ec[] = {
		{ 0x6740a1b2, 0x1a2b3c, 0x400, "\"6740a1b2.1a2b3c-400\"" },
		{ 0, 0, 0, "\"0.0-0\"" },
		{ 1, 999999999, 1, "\"1.3b9ac9ff-1\"" },
		{ 0x7fffffffffffffffLL, 999999999, 0x7fffffffffffffffLL,
		    "\"7fffffffffffffff.3b9ac9ff-7fffffffffffffff\"" },
		{ -1, 0, 10, "\"ffffffffffffffff.0-a\"" },
	};
	struct stat	 st;
	char		 out[ETAG_MAX], small[8];
	size_t		 i, n;

	for (i = 0; i < sizeof(ec) / sizeof(ec[0]); i++) {
		memset(&st, 0, sizeof(st));
		st.st_mtim.tv_sec = (time_t)ec[i].sec;
		st.st_mtim.tv_nsec = ec[i].nsec;
		st.st_size = (off_t)ec[i].size;
		n = etag_make(out, sizeof(out), &st);
		CHECK_STR(out, ec[i].want);
		CHECK_INT(n, strlen(ec[i].want));
		CHECK(n < ETAG_MAX);
	}

	/* the exact fit, one byte less */
	memset(&st, 0, sizeof(st));
	st.st_size = 0x1;
	CHECK_INT(etag_make(small, sizeof(small), &st), 7);
	CHECK_STR(small, "\"0.0-1\"");
	st.st_size = 0x12;
	CHECK_INT(etag_make(small, sizeof(small), &st), 0);
	CHECK_STR(small, "");
	CHECK_INT(etag_make(small, 0, &st), 0);

	/* what etag_make() writes is what cond_evaluate() matches */
	{
		struct cond_input	 in;
		bool			 ur;

		st.st_mtim.tv_sec = MTIME;
		st.st_mtim.tv_nsec = 123456789;
		memset(&in, 0, sizeof(in));
		in.method = HTTP_M_GET;
		in.etag = out;
		in.etag_len = etag_make(out, sizeof(out), &st);
		in.mtime = MTIME;
		in.if_none_match = hs(out);
		CHECK_INT(cond_evaluate(&in, &ur), 304);
		in.if_none_match = hs(NULL);
		in.if_range = hs(out);
		CHECK_INT(cond_evaluate(&in, &ur), 0);
		CHECK(ur);
	}
}

int
main(void)
{
	test_table();
	test_edges();
	test_etag();
	return unit_done("cond");
}
