/*
 * fuzz_tlssel.c - libFuzzer target for src/frontend/tlssel.c: the SNI
 * site choice (with the host-name rule the router shares) and ALPN.
 *
 * The input is lines: every line but the last is one site's host names
 * (comma-separated patterns: exact names and "*." wildcards), the last line
 * is the server name a client sent.  tlssel_sni() must agree with a plain
 * reference written here from the documented rule (an exact name wins,
 * else the longest matching wildcard, else none; the name is compared in
 * lowercase without a final dot).  The whole input is also an ALPN list:
 * tlssel_alpn() must refuse a malformed one and, when it picks, point at a
 * whole element of the list that is "http/1.1".  Every piece is an
 * exact-size heap copy so that AddressSanitizer sees any read past the end.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/frontend/tlssel.c"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define ASSERT(c)	do { if (!(c)) abort(); } while (0)
#define MAXSITES	8
#define MAXHOSTS	8

/* The rule, written the simple way: score every site, keep the best. */
static int
reference(char *const *const *hosts, const size_t *nh, size_t ns, const char *name,
    size_t len)
{
	char h[256];
	int best = -1;
	size_t bestscore = 0;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len >= sizeof(h))
		return -1;
	for (size_t i = 0; i < len; i++)
		h[i] = (char)tolower((unsigned char)name[i]);
	for (size_t s = 0; s < ns; s++) {
		for (size_t j = 0; j < nh[s]; j++) {
			const char *p = hosts[s][j];
			size_t pl = strlen(p), score = 0;

			if (pl == len && memcmp(p, h, len) == 0)
				score = SIZE_MAX;
			else if (pl >= 2 && p[0] == '*' && p[1] == '.' && len > pl - 1 &&
			    memcmp(h + len - (pl - 1), p + 1, pl - 1) == 0)
				score = pl;
			if (score > bestscore) {
				bestscore = score;
				best = (int)s;
			}
		}
	}
	return best;
}

static char *
dupn(const uint8_t *p, size_t n)
{
	char *b = malloc(n + 1);

	if (b == NULL)
		abort();
	memcpy(b, p, n);
	b[n] = '\0';
	return b;
}

static void
sni(const uint8_t *data, size_t size)
{
	char **h[MAXSITES] = { 0 };
	size_t nh[MAXSITES] = { 0 }, ns = 0, start = 0, last = 0;
	struct strlist lists[MAXSITES] = { { NULL, 0 } };
	const struct strlist *lp[MAXSITES] = { NULL };
	char *name;

	/* the last line is the name; the lines before are sites */
	for (size_t i = 0; i < size; i++)
		if (data[i] == '\n')
			last = i + 1;
	for (size_t i = 0; i < last && ns < MAXSITES; i++) {
		if (data[i] != '\n')
			continue;
		if ((h[ns] = calloc(MAXHOSTS, sizeof(char *))) == NULL)
			abort();
		for (size_t a = start; a <= i && nh[ns] < MAXHOSTS;) {
			size_t e = a;

			while (e < i && data[e] != ',')
				e++;
			/* patterns as the config has them: lowercase, no NUL */
			h[ns][nh[ns]] = dupn(data + a, e - a);
			for (char *c = h[ns][nh[ns]]; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			if (strlen(h[ns][nh[ns]]) == e - a)
				nh[ns]++;
			else
				free(h[ns][nh[ns]]);
			a = e + 1;
		}
		lists[ns].v = h[ns];
		lists[ns].n = nh[ns];
		lp[ns] = &lists[ns];
		ns++;
		start = i + 1;
	}
	name = dupn(data + last, size - last);
	ASSERT(tlssel_sni(lp, ns, name, size - last) ==
	    reference((char *const *const *)h, nh, ns, name, size - last));
	free(name);
	for (size_t s = 0; s < ns; s++) {
		for (size_t j = 0; j < nh[s]; j++)
			free(h[s][j]);
		free(h[s]);
	}
}

static void
alpn(const uint8_t *data, size_t size)
{
	unsigned char *in = (unsigned char *)dupn(data, size);
	const unsigned char *out = NULL;
	unsigned char outlen = 0;
	bool wellformed = true;

	for (size_t i = 0; i < size; i += 1u + in[i])
		if (in[i] == 0 || in[i] > size - i - 1)
			wellformed = false;
	if (tlssel_alpn(in, (unsigned)size, &out, &outlen) == 0) {
		bool element = false;

		ASSERT(wellformed);
		ASSERT(out > in && out + outlen <= in + size);
		ASSERT(outlen == 8 && memcmp(out, "http/1.1", 8) == 0);
		for (size_t i = 0; i < size; i += 1u + in[i])
			element = element || (in + i + 1 == out && in[i] == outlen);
		ASSERT(element);
	}
	free(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	sni(data, size);
	alpn(data, size);
	return 0;
}
