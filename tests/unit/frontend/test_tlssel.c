/*
 * test_tlssel.c - what a TLS handshake selects (tlssel.c): the site by SNI
 * with the router's host rule, and the ALPN protocol.
 */
#include "../unit.h"
#include "../../../src/frontend/tlssel.c"

/* The sites on one address, as host lists. */
static char *h_a[] = { "a.test", "www.a.test" };
static char *h_w[] = { "*.w.test" };
static char *h_ww[] = { "*.x.w.test" };
static char *h_b[] = { "b.test", "*.b.test" };
static const struct strlist l_a = { h_a, 2 }, l_w = { h_w, 1 }, l_ww = { h_ww, 1 },
    l_b = { h_b, 2 }, l_none = { NULL, 0 };
static const struct strlist *const sites[] = { &l_a, &l_w, &l_ww, &l_b, &l_none };

static const struct {
	const char	*name;
	int		 want;		/* index in sites[], -1: none */
} snis[] = {
	{ "a.test",		0 },
	{ "A.Test",		0 },		/* any case */
	{ "a.test.",		0 },		/* a final dot */
	{ "www.a.test",		0 },
	{ "x.w.test",		1 },
	{ "deep.y.w.test",	1 },		/* a wildcard matches at any depth */
	{ "y.x.w.test",		2 },		/* the longest wildcard wins */
	{ "x.w.test.",		1 },
	{ "w.test",		-1 },		/* not the wildcard's own name */
	{ "b.test",		3 },
	{ "z.b.test",		3 },
	{ "a.test.b.test",	3 },
	{ "nobody.test",	-1 },
	{ "",			-1 },
	{ ".",			-1 },
	{ "test",		-1 },
	{ "xa.test",		-1 },
};

static void
test_sni(void)
{
	char longname[300];

	for (size_t i = 0; i < nitems(snis); i++)
		CHECKF(tlssel_sni(sites, nitems(sites), snis[i].name, strlen(snis[i].name)) ==
		    snis[i].want, "sni %s", snis[i].name);
	/* exact beats a wildcard whatever the order */
	{
		static char *ex[] = { "x.w.test" };
		static const struct strlist l_ex = { ex, 1 };
		const struct strlist *const two[] = { &l_w, &l_ex };

		CHECK_INT(tlssel_sni(two, 2, "x.w.test", 8), 1);
		CHECK_INT(tlssel_sni(two, 2, "y.w.test", 8), 0);
	}
	memset(longname, 'a', sizeof(longname));
	CHECK_INT(tlssel_sni(sites, nitems(sites), longname, sizeof(longname)), -1);
	CHECK_INT(tlssel_sni(sites, 0, "a.test", 6), -1);
	CHECK(tlssel_host_rank(&l_a, "a.test", 6) == TLSSEL_EXACT);
	CHECK_INT(tlssel_host_rank(&l_w, "x.w.test", 8), 8);
	CHECK_INT(tlssel_host_rank(&l_w, "w.test", 6), 0);
}

#define P(s)	(const unsigned char *)(s), (unsigned)(sizeof(s) - 1)

static const struct {
	const unsigned char	*in;
	unsigned		 len;
	const char		*want;		/* NULL: refused */
} alpns[] = {
	{ P("\x08http/1.1"),			"http/1.1" },
	{ P("\x02h2\x08http/1.1"),		"http/1.1" },	/* weir's choice, not the order */
	{ P("\x08http/1.1\x02h2"),		"http/1.1" },
	{ P("\x02h2"),				NULL },
	{ P("\x08http/1.0"),			NULL },
	{ P("\x08http/1.1\x00"),		NULL },		/* an empty name: malformed */
	{ P("\x09http/1.1"),			NULL },		/* runs past the end */
	{ P("\x02h2\x09http/1.1"),		NULL },
	{ P("\x07http/1."),			NULL },
	{ (const unsigned char *)"", 0,		NULL },
};

static void
test_alpn(void)
{
	for (size_t i = 0; i < nitems(alpns); i++) {
		const unsigned char *out = NULL;
		unsigned char outlen = 0;
		int r = tlssel_alpn(alpns[i].in, alpns[i].len, &out, &outlen);

		if (alpns[i].want == NULL) {
			CHECKF(r == -1, "alpn case %zu refused", i);
			continue;
		}
		CHECKF(r == 0, "alpn case %zu chosen", i);
		if (r == 0) {
			CHECK_MEM((const char *)out, outlen, alpns[i].want);
			CHECK(out >= alpns[i].in && out + outlen <= alpns[i].in + alpns[i].len);
		}
	}
}

int
main(void)
{
	test_sni();
	test_alpn();
	return unit_done("test_tlssel");
}
