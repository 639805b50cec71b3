/*
 * fuzz_tlssel.c - libFuzzer target for the TLS name selection: the
 * certificate-name matcher (src/common/certname.c) that `weir check` uses
 * to see that a certificate covers a site's hosts.
 *
 * The input is split at a NUL (or in the middle) into a certificate name
 * and a host name; each goes in as an exact-size heap copy so that
 * AddressSanitizer sees any read past the end.  Properties checked:
 * 1. a name covers itself exactly when it is well-formed (1..253 bytes,
 *    no empty label, no NUL), wildcard or not;
 * 2. case does not matter (either side upper- or lower-cased);
 * 3. one trailing dot on either side does not matter;
 * 4. a match without a wildcard is equality ignoring case and the dot;
 * 5. a wildcard match has as many labels on both sides, and the same
 *    labels after the first.
 * (The front end's SNI -> site and ALPN selection joins this target when
 * it lands: see the report of the tls-certs branch.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common/certname.c"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define ASSERT(c)	do { if (!(c)) abort(); } while (0)

static char *
dup_n(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	memcpy(p, s, n);
	return p;
}

static char *
cased(const char *s, size_t n, int up)
{
	char *p = dup_n(s, n);

	for (size_t i = 0; i < n; i++) {
		if (up && p[i] >= 'a' && p[i] <= 'z')
			p[i] = (char)(p[i] - 'a' + 'A');
		else if (!up && p[i] >= 'A' && p[i] <= 'Z')
			p[i] = (char)(p[i] - 'A' + 'a');
	}
	return p;
}

static bool
well_formed(const char *s, size_t n)
{
	size_t m = n;

	return trim(s, &m);
}

static bool
match(const char *p, size_t pn, const char *h, size_t hn)
{
	char *pc = dup_n(p, pn), *hc = dup_n(h, hn);
	bool r = certname_match(pc, pn, hc, hn);

	free(pc);
	free(hc);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nul = memchr(in, '\0', size);
	size_t pn = nul != NULL ? (size_t)(nul - in) : size / 2;
	const char *h = in + pn + (nul != NULL);
	size_t hn = size - pn - (nul != NULL);
	bool r = match(in, pn, h, hn);

	/* 1. */
	ASSERT(match(in, pn, in, pn) == well_formed(in, pn));
	ASSERT(match(h, hn, h, hn) == well_formed(h, hn));
	/* 2. */
	for (int up = 0; up < 2; up++) {
		char *pc = cased(in, pn, up), *hc = cased(h, hn, !up);

		ASSERT(certname_match(pc, pn, h, hn) == r);
		ASSERT(certname_match(in, pn, hc, hn) == r);
		free(pc);
		free(hc);
	}
	/* 3. */
	if (hn > 0 && h[hn - 1] != '.') {
		char *hd = malloc(hn + 1);

		if (hd == NULL)
			abort();
		memcpy(hd, h, hn);
		hd[hn] = '.';
		ASSERT(certname_match(in, pn, hd, hn + 1) == r);
		free(hd);
	}
	if (!r)
		return 0;
	{
		size_t a = pn, b = hn;

		ASSERT(trim(in, &a) && trim(h, &b));
		if (memchr(in, '*', a) == NULL || (a == b && eq_nocase(in, h, a))) {
			/* 4. */
			ASSERT(a == b && eq_nocase(in, h, a));
		} else {
			/* 5. */
			const char *hd = memchr(h, '.', b);

			ASSERT(in[0] == '*' && in[1] == '.');
			ASSERT(count_dots(in, a) == count_dots(h, b));
			ASSERT(hd != NULL && (size_t)(h + b - hd) == a - 1 &&
			    eq_nocase(hd, in + 1, a - 1));
		}
	}
	return 0;
}
