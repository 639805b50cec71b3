/*
 * fuzz_tlssel.c - libFuzzer target for what TLS selects by name: the front
 * end's SNI -> site and ALPN choice (src/frontend/tlssel.c) and the
 * certificate-name matcher (src/common/certname.c) that `weir check` uses
 * to see that a certificate covers a site's hosts.  Every piece of input
 * goes in as an exact-size heap copy so that AddressSanitizer sees any
 * read past the end.
 *
 * Certificate names: the input is split at a NUL (or in the middle) into a
 * certificate name and a host name.
 * 1. a name covers itself exactly when it is well-formed (1..253 bytes,
 *    no empty label, no NUL), wildcard or not;
 * 2. case does not matter (either side upper- or lower-cased);
 * 3. one trailing dot on either side does not matter;
 * 4. a match without a wildcard is equality ignoring case and the dot;
 * 5. a wildcard match has as many labels on both sides, and the same
 *    labels after the first.
 * SNI: the first piece is the server name, the next pieces (up to four,
 * split at NULs) sites' host lists (comma-separated, lowercased as the
 * configuration parser leaves them).
 * 6. the site chosen matches the name, and no site matches it better;
 *    none is chosen only when none matches;
 * 7. the name's case and one trailing dot do not change the choice.
 * ALPN: the whole input is the client's protocol list.
 * 8. a choice is made only for a well-formed list and points inside it at
 *    a whole element: "h2" whenever the list has it (the default
 *    preference), else "http/1.1".
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common/certname.c"
#include "../src/frontend/tlssel.c"

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

#define NSITES	4
#define NHOSTS	8

/* Up to NSITES host lists from the pieces of p[0..n) split at NULs. */
static size_t
sites_of(const char *p, size_t n, struct strlist *sites, char store[NSITES][NHOSTS][64])
{
	size_t ns = 0;

	while (n > 0 && ns < NSITES) {
		const char *end = memchr(p, '\0', n);
		size_t len = end != NULL ? (size_t)(end - p) : n, k = 0;
		struct strlist *l = &sites[ns];

		l->n = 0;
		while (k < len && l->n < NHOSTS) {
			const char *c = memchr(p + k, ',', len - k);
			size_t hl = (c != NULL ? (size_t)(c - p) : len) - k;
			char *h = store[ns][l->n];

			if (hl > 63)
				hl = 63;
			for (size_t i = 0; i < hl; i++)
				h[i] = ascii_lower(p[k + i]);
			h[hl] = '\0';
			l->v[l->n++] = h;
			k += hl + 1;
			if (c == NULL)
				break;
		}
		ns++;
		p += len + (end != NULL);
		n -= len + (end != NULL);
	}
	return ns;
}

static int
sni(const struct strlist *const *hosts, size_t ns, const char *name, size_t len)
{
	char *c = dup_n(name, len);
	int r = tlssel_sni(hosts, ns, c, len);

	free(c);
	return r;
}

/* 6. - 7. */
static void
check_sni(const char *in, size_t size)
{
	static char store[NSITES][NHOSTS][64];
	char *vecs[NSITES][NHOSTS];
	struct strlist sites[NSITES];
	const struct strlist *hosts[NSITES];
	const char *nul = memchr(in, '\0', size);
	size_t nl = nul != NULL ? (size_t)(nul - in) : size, ns, hl;
	char low[256];
	int r;

	for (size_t i = 0; i < NSITES; i++) {
		sites[i].v = vecs[i];
		hosts[i] = &sites[i];
	}
	ns = nul != NULL ? sites_of(nul + 1, size - nl - 1, sites, store) : 0;
	r = sni(hosts, ns, in, nl);
	ASSERT(r >= -1 && r < (int)ns);
	hl = nl > 0 && in[nl - 1] == '.' ? nl - 1 : nl;
	if (hl == 0 || hl >= sizeof(low)) {
		ASSERT(r == -1);
		return;
	}
	for (size_t i = 0; i < hl; i++)
		low[i] = ascii_lower(in[i]);
	for (size_t i = 0; i < ns; i++) {
		size_t rank = tlssel_host_rank(hosts[i], low, hl);

		if (r == -1)
			ASSERT(rank == 0);
		else
			ASSERT(rank <= tlssel_host_rank(hosts[r], low, hl));
	}
	if (r >= 0)
		ASSERT(tlssel_host_rank(hosts[r], low, hl) > 0);
	/* the lowercased name picks the same site, and so does it with a dot */
	if (hl == nl && nl + 1 < sizeof(low)) {
		ASSERT(sni(hosts, ns, low, hl) == r);
		low[hl] = '.';
		ASSERT(sni(hosts, ns, low, hl + 1) == r);
	}
}

/* 8. */
static void
check_alpn(const uint8_t *data, size_t size)
{
	unsigned char *in = (unsigned char *)dup_n((const char *)data, size);
	const unsigned char *out = NULL;
	unsigned char outlen = 0;
	bool wf = true;
	static const uint8_t prefs[CONF_ALPN_MAX] = { CONF_ALPN_H2, CONF_ALPN_HTTP11 };

	for (size_t i = 0; i < size; i += 1u + in[i])
		if (in[i] == 0 || in[i] > size - i - 1) {
			wf = false;
			break;
		}
	if (size <= UINT_MAX && tlssel_alpn(prefs, in, (unsigned)size, &out, &outlen) == 0) {
		bool element = false, has_h2 = false;

		ASSERT(wf);
		ASSERT(out > in && out + outlen <= in + size);
		for (size_t i = 0; i < size; i += 1u + in[i]) {
			element = element || (in + i + 1 == out && in[i] == outlen);
			has_h2 = has_h2 || (in[i] == 2 && memcmp(in + i + 1, "h2", 2) == 0);
		}
		ASSERT(element);
		if (has_h2)
			ASSERT(outlen == 2 && memcmp(out, "h2", 2) == 0);
		else
			ASSERT(outlen == 8 && memcmp(out, "http/1.1", 8) == 0);
	}
	free(in);
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

	check_sni(in, size);
	check_alpn(data, size);

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
