/*
 * test_certname.c - unit tests for src/common/certname.c: RFC 6125 matching
 * of certificate names against host names, one case a line.
 */
#include "../unit.h"
#include "../../../src/common/certname.c"

static const struct {
	const char	*pat;
	const char	*host;
	bool		 match;
} cases[] = {
	/* literal names, any case, one trailing dot ignored */
	{ "example.com",		"example.com",		true },
	{ "Example.COM",		"example.com",		true },
	{ "example.com.",		"example.com",		true },
	{ "example.com",		"example.com.",		true },
	{ "example.com",		"www.example.com",	false },
	{ "www.example.com",	"example.com",		false },
	{ "example.com",		"example.org",		false },
	{ "example.com",		"example.co",		false },
	/* the wildcard covers exactly one whole left-most label */
	{ "*.example.com",		"www.example.com",	true },
	{ "*.EXAMPLE.com",		"WWW.example.COM",	true },
	{ "*.example.com",		"example.com",		false },
	{ "*.example.com",		"a.b.example.com",	false },
	{ "*.example.com",		".example.com",		false },
	{ "*.example.com",		"wwwexample.com",	false },
	{ "*.example.com",		"www.example.org",	false },
	/* partial and misplaced wildcards are not wildcards */
	{ "w*.example.com",		"www.example.com",	false },
	{ "*w.example.com",		"www.example.com",	false },
	{ "www.*.example.com",	"www.a.example.com",	false },
	{ "*.*.example.com",	"a.b.example.com",	false },
	{ "**.example.com",		"a.example.com",	false },
	{ "*",			"localhost",		false },
	/* a wildcard needs two labels after it (no "*.com") */
	{ "*.com",			"example.com",		false },
	{ "*.localhost",		"a.localhost",		false },
	/* a wildcard site name: only the same wildcard covers it */
	{ "*.example.com",		"*.example.com",	true },
	{ "*.Example.com",		"*.example.COM",	true },
	{ "www.example.com",	"*.example.com",	false },
	{ "*.example.org",		"*.example.com",	false },
	{ "*.com",			"*.example.com",	false },
	/* malformed names never match, not even themselves */
	{ "",			"",			false },
	{ ".",			".",			false },
	{ "a..b",			"a..b",			false },
	{ ".example.com",		".example.com",		false },
	{ "*..example.com",		"a..example.com",	false },
};

int
main(void)
{
	char big[300];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECKF(certname_match(cases[i].pat, strlen(cases[i].pat), cases[i].host,
		    strlen(cases[i].host)) == cases[i].match, "'%s' vs '%s'",
		    cases[i].pat, cases[i].host);
	/* a NUL inside a dNSName ("example.com\0.evil") is no match */
	CHECK(!certname_match("example.com\0.evil.com", 21, "example.com", 11));
	CHECK(!certname_match("*.example.com", 13, "a\0b.example.com", 15));
	/* the length counts, not a NUL: a prefix of the pattern does not match */
	CHECK(certname_match("example.comXX", 11, "example.com", 11));
	CHECK(!certname_match("example.com", 11, "example.co", 11 - 1));
	/* 253 bytes is the longest name */
	memset(big, 'a', sizeof(big));
	for (size_t i = 63; i < sizeof(big); i += 64)
		big[i] = '.';
	CHECK(certname_match(big, 253, big, 253));
	CHECK(!certname_match(big, 254, big, 254));
	return unit_done("test_certname");
}
