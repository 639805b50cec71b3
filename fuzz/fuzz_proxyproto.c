/*
 * fuzz_proxyproto.c - libFuzzer target for src/frontend/proxyproto.c.
 *
 * The input is what arrives first on a proxy_protocol listener.  It is
 * parsed whole (an exact-size heap copy, so AddressSanitizer sees any read
 * past the end) and the verdict must keep the promises proxyin.c relies on:
 * a header length is within the input and at most the v1 or v2 limit; a
 * non-local result carries an IPv4 or IPv6 client; every proper prefix of
 * a header is incomplete, never refused (so consuming it is safe); a
 * prefix of a refused input is incomplete or refused, and once refused,
 * every longer input is refused too (a refusal never waits for bytes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/frontend/proxyproto.c"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define ASSERT(c)	do { if (!(c)) abort(); } while (0)

static ssize_t
parse_copy(const uint8_t *data, size_t n, struct proxyproto *pp)
{
	uint8_t *b = malloc(n ? n : 1);
	const char *why;
	ssize_t rc;

	if (b == NULL)
		abort();
	if (n)
		memcpy(b, data, n);
	rc = proxyproto_parse(b, n, pp, &why);
	ASSERT((rc == WEIR_ERROR) == (why != NULL));
	free(b);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxyproto pp;
	ssize_t rc = parse_copy(data, size, &pp);
	size_t first_err = SIZE_MAX;

	ASSERT(rc == WEIR_ERROR || rc == WEIR_AGAIN || rc > 0);
	if (rc > 0) {
		ASSERT((size_t)rc <= size);
		ASSERT(pp.version == 1 || pp.version == 2);
		ASSERT(pp.version == 2 || rc <= 107);
		ASSERT(rc <= 16 + 65535);
		if (!pp.local)
			ASSERT(pp.src.ss_family == AF_INET || pp.src.ss_family == AF_INET6);
	}
	/* prefixes: a bounded number, so long inputs stay fast */
	for (size_t k = 0; k < size && k < 256; k++) {
		struct proxyproto q;
		ssize_t r = parse_copy(data, k, &q);

		if (rc > 0 && k < (size_t)rc)
			ASSERT(r == WEIR_AGAIN);
		if (r == WEIR_ERROR && first_err == SIZE_MAX)
			first_err = k;
		if (first_err != SIZE_MAX)
			ASSERT(r == WEIR_ERROR);
		if (r > 0)
			ASSERT(rc == r);	/* a header, once whole, stays that header */
	}
	if (first_err != SIZE_MAX)
		ASSERT(rc == WEIR_ERROR);
	return 0;
}
