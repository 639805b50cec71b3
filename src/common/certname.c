/*
 * certname.c - the RFC 6125 matching of certificate names (certname.h).
 *
 * Kept apart from the OpenSSL code that reads certificates so that it is a
 * pure function of two byte strings: the unit test tables and the fuzz
 * target call it directly.  OpenSSL's X509_check_host() does a similar
 * job, but it has no notion of a *site* name that is itself a wildcard
 * (`hosts = *.example.com`), which weir's hosts allow.
 *
 * 1. Both names are cut to their length without one trailing dot, and must
 *    be well-formed: 1..253 bytes, no empty label, no NUL.
 * 2. Equal ignoring ASCII case: covered (this is also how a wildcard site
 *    name is covered by the same wildcard in the certificate).
 * 3. Otherwise the pattern may be a wildcard: exactly "*" as the left-most
 *    label, no other '*', at least two labels after it.  It covers a host
 *    whose left-most label is one non-empty label (not "*": a wildcard
 *    site needs a wildcard certificate) and whose remaining labels equal
 *    the pattern's.
 */
#include <string.h>

#include "certname.h"

#define NAME_MAX_LEN	253	/* RFC 1035 2.3.4, without the trailing dot */

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool
eq_nocase(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

/* 1. Drop one trailing dot; reject what cannot be a name. */
static bool
trim(const char *s, size_t *n)
{
	if (*n > 0 && s[*n - 1] == '.')
		(*n)--;
	if (*n == 0 || *n > NAME_MAX_LEN || memchr(s, '\0', *n) != NULL)
		return false;
	if (s[0] == '.')
		return false;
	for (size_t i = 1; i < *n; i++)
		if (s[i] == '.' && s[i - 1] == '.')
			return false;
	return true;
}

static size_t
count_dots(const char *s, size_t n)
{
	size_t d = 0;

	for (size_t i = 0; i < n; i++)
		d += s[i] == '.';
	return d;
}

bool
certname_match(const char *pat, size_t patlen, const char *host, size_t hostlen)
{
	const char *hdot;
	size_t rest;

	if (!trim(pat, &patlen) || !trim(host, &hostlen))
		return false;
	/* 2. literal */
	if (patlen == hostlen && eq_nocase(pat, host, patlen))
		return true;
	/* 3. "*.a.b": the wildcard as the whole first label, two labels after */
	if (patlen < 2 || pat[0] != '*' || pat[1] != '.' ||
	    memchr(pat + 1, '*', patlen - 1) != NULL ||
	    count_dots(pat, patlen) < 2)
		return false;
	if ((hdot = memchr(host, '.', hostlen)) == NULL)
		return false;
	/* the host's first label: one label, not itself a wildcard */
	if (hdot == host || memchr(host, '*', (size_t)(hdot - host)) != NULL)
		return false;
	rest = hostlen - (size_t)(hdot - host);		/* ".a.b" */
	return rest == patlen - 1 && eq_nocase(hdot, pat + 1, rest);
}
