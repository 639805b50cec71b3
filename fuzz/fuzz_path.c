/*
 * fuzz_path.c - libFuzzer target for src/frontend/path.c and range.c: the
 * request path and the Range field, a client's bytes on their way to a file.
 *
 * The first byte picks what the rest is.  Even: a request path, normalized
 * into a buffer large enough and into a small one (an exact-size heap copy,
 * so AddressSanitizer sees any read past the end).  The status is the same
 * in both unless the small one is too small (414), and a result is
 * canonical: it starts with '/', holds no NUL, control byte, empty, "." or
 * ".." segment, and encoding it (path_encode(), as redirects do) then
 * normalizing that gives it back unchanged.  Odd: the next 8 bytes are a
 * file size (half the time cut to 16 bits), the next the most ranges, the
 * rest a Range value; every range served is within the file, and no two
 * overlap or touch (they would have been coalesced).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/frontend/path.c"
#include "../src/frontend/range.c"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define ASSERT(c)	do { if (!(c)) abort(); } while (0)

static char *
dup_n(const uint8_t *p, size_t n)
{
	char *b = malloc(n ? n : 1);

	if (b == NULL)
		abort();
	if (n)
		memcpy(b, p, n);
	return b;
}

static void
canonical(const char *out, size_t len)
{
	size_t s = 1;

	ASSERT(len > 0 && out[0] == '/' && strlen(out) == len);
	for (size_t i = 1; i <= len; i++) {
		if (i < len && out[i] != '/') {
			ASSERT((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);
			continue;
		}
		/* segment out[s..i): not empty (but a trailing '/'), not "." or ".." */
		ASSERT(i - s > 0 || i == len);
		ASSERT(!(i - s == 1 && out[s] == '.'));
		ASSERT(!(i - s == 2 && out[s] == '.' && out[s + 1] == '.'));
		s = i + 1;
	}
}

static void
fuzz_path(const uint8_t *data, size_t n)
{
	char *raw = dup_n(data, n), small[32];
	size_t bigsz = n * 3 + 2, len = 0, slen = 0, elen;
	char *big = malloc(bigsz), *enc = malloc(bigsz * 3 + 1), *again = malloc(bigsz * 3 + 2);
	int rc, src;

	if (big == NULL || enc == NULL || again == NULL)
		abort();
	rc = path_normalize(raw, n, big, bigsz, &len);
	ASSERT(rc == 0 || rc == 400 || rc == 404);	/* never too long for 3n + 2 */
	src = path_normalize(raw, n, small, sizeof(small), &slen);
	ASSERT(src == rc || (rc == 0 && src == 414));
	if (src == 0)
		ASSERT(slen == len && memcmp(small, big, len + 1) == 0);
	if (rc == 0) {
		size_t alen = 0;

		canonical(big, len);
		(void)path_hidden(big, len);
		elen = path_encode(enc, bigsz * 3, big, len, false);
		ASSERT(elen != (size_t)-1);
		ASSERT(path_normalize(enc, elen, again, bigsz * 3 + 2, &alen) == 0);
		ASSERT(alen == len && memcmp(again, big, len) == 0);
	} else {
		ASSERT(big[0] == '\0');
	}
	free(again);
	free(enc);
	free(big);
	free(raw);
}

static void
fuzz_range(const uint8_t *data, size_t n)
{
	struct byte_range out[RANGE_MAX];
	uint64_t size = 0;
	int max, nr;
	char *v;

	if (n < 9)
		return;
	for (int i = 0; i < 8; i++)
		size = size << 8 | data[i];
	if (size & 1)
		size &= 0xffff;
	max = 1 + data[8] % RANGE_MAX;
	v = dup_n(data + 9, n - 9);
	nr = range_parse(v, n - 9, size, out, max);
	ASSERT(nr >= -1 && nr <= max);
	for (int i = 0; i < nr; i++) {
		ASSERT(out[i].first <= out[i].last && out[i].last < size);
		for (int j = 0; j < i; j++)
			ASSERT(!mergeable(&out[i], &out[j]));
	}
	free(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	if (n == 0)
		return 0;
	if (data[0] & 1)
		fuzz_range(data + 1, n - 1);
	else
		fuzz_path(data + 1, n - 1);
	return 0;
}
