/*
 * fuzz_httpparse.c - libFuzzer target for src/common/httpparse.c.
 *
 * The input is parsed as a request (default and small limits) and as a
 * response, and fed to the chunked decoder; every invariant the header
 * promises is checked with abort(): the return value, slices inside the
 * input, consistent flags, and the same result for a message fed whole, in
 * prefixes, in two pieces or byte by byte.  Every parse reads an exact-size
 * heap copy so that AddressSanitizer sees any read past the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common/httpparse.c"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define ASSERT(c)	do { if (!(c)) abort(); } while (0)

static const struct httpparse_limits small = { 24, 64, 4 };

static char *
dupn(const void *p, size_t n)
{
	char	*b;

	if ((b = malloc(n ? n : 1)) == NULL)
		abort();
	if (n)
		memcpy(b, p, n);
	return b;
}

static void
inside(struct hstr s, const char *b, size_t n)
{
	ASSERT(s.p == NULL || (s.p >= b && s.n <= n && s.p <= b + n - s.n));
}

static void
headers_inside(const struct http_header *h, size_t nh, const char *b,
    size_t n)
{
	size_t	 i;

	ASSERT(nh <= HTTPPARSE_MAX_HEADERS);
	for (i = 0; i < nh; i++) {
		ASSERT(h[i].name.p != NULL && h[i].name.n > 0);
		ASSERT(h[i].value.p != NULL);
		inside(h[i].name, b, n);
		inside(h[i].value, b, n);
	}
}

/* A few cut points: all of them for short inputs. */
static size_t
cuts(size_t len, int rc, size_t *k)
{
	size_t	 n = 0, i;

	if (len <= 48) {
		for (i = 0; i <= len; i++)
			k[n++] = i;
		return n;
	}
	k[n++] = 0;
	k[n++] = 1;
	k[n++] = len / 3;
	k[n++] = len / 2;
	k[n++] = len - 1;
	if (rc > 0) {
		k[n++] = (size_t)rc - 1;
		k[n++] = (size_t)rc;
	}
	return n;
}

static void
check_request(const uint8_t *data, size_t len,
    const struct httpparse_limits *lim)
{
	struct http_request	 req;
	const char		*why = NULL, *w2;
	char			*b;
	size_t			 k[64], nk, i;
	int			 rc, r, st = 0, s2;

	b = dupn(data, len);
	rc = httpparse_request(b, len, &req, lim, &st, &why);
	ASSERT(rc == WEIR_AGAIN || rc == WEIR_ERROR ||
	    (rc > 0 && (size_t)rc <= len));
	if (rc == WEIR_ERROR)
		ASSERT(why != NULL && (st == 400 || st == 414 || st == 417 ||
		    st == 431 || st == 501 || st == 505));
	if (rc > 0) {
		ASSERT(req.header_len == (size_t)rc);
		inside(req.method_str, b, (size_t)rc);
		inside(req.target, b, (size_t)rc);
		inside(req.path, b, (size_t)rc);
		inside(req.query, b, (size_t)rc);
		inside(req.host, b, (size_t)rc);
		headers_inside(req.headers, req.nheaders, b, (size_t)rc);
		ASSERT(req.method > HTTP_M_UNKNOWN &&
		    req.method < HTTP_M__COUNT);
		ASSERT(req.minor == 0 || req.minor == 1);
		ASSERT(!(req.flags & HTTP_F_CHUNKED) ||
		    req.content_length == -1);
		ASSERT(!(req.flags & HTTP_F_HAS_CL) == (req.content_length ==
		    -1));
		ASSERT(req.minor == 1 || !(req.flags & (HTTP_F_CHUNKED |
		    HTTP_F_EXPECT_100)));
		ASSERT(req.minor == 0 || req.host.p != NULL);
		ASSERT(req.path.p != NULL ||
		    req.target_form == HTTP_TARGET_AUTHORITY);
		if (b[0] != '\r')
			ASSERT(httpparse_header_end(b, len, 0) == (size_t)rc);
	}
	if (httpparse_header_end(b, len, 0) == 0)
		ASSERT(rc <= 0);
	free(b);

	/* every prefix: WEIR_AGAIN or the very same result */
	nk = cuts(len, rc, k);
	for (i = 0; i < nk; i++) {
		b = dupn(data, k[i]);
		s2 = 0;
		w2 = NULL;
		r = httpparse_request(b, k[i], &req, lim, &s2, &w2);
		free(b);
		if (rc > 0 && k[i] >= (size_t)rc)
			ASSERT(r == rc);
		else if (r != WEIR_AGAIN)
			ASSERT(r == WEIR_ERROR && rc == WEIR_ERROR && s2 == st &&
			    strcmp(w2, why) == 0);
	}
}

static void
check_response(const uint8_t *data, size_t len,
    const struct httpparse_limits *lim)
{
	struct http_response	 res;
	const char		*why = NULL, *w2;
	char			*b;
	size_t			 k[64], nk, i;
	int			 rc, r;

	b = dupn(data, len);
	rc = httpparse_response(b, len, &res, lim, &why);
	ASSERT(rc == WEIR_AGAIN || rc == WEIR_ERROR ||
	    (rc > 0 && (size_t)rc <= len));
	if (rc == WEIR_ERROR)
		ASSERT(why != NULL);
	if (rc > 0) {
		ASSERT(res.header_len == (size_t)rc);
		ASSERT(res.status >= 100 && res.status <= 999);
		ASSERT(res.minor == 0 || res.minor == 1);
		inside(res.reason, b, (size_t)rc);
		headers_inside(res.headers, res.nheaders, b, (size_t)rc);
		ASSERT(!(res.flags & HTTP_F_CHUNKED) ||
		    res.content_length == -1);
		ASSERT(!(res.flags & HTTP_F_HAS_CL) == (res.content_length ==
		    -1));
	}
	free(b);
	nk = cuts(len, rc, k);
	for (i = 0; i < nk; i++) {
		b = dupn(data, k[i]);
		w2 = NULL;
		r = httpparse_response(b, k[i], &res, lim, &w2);
		free(b);
		if (rc > 0 && k[i] >= (size_t)rc)
			ASSERT(r == rc);
		else if (r != WEIR_AGAIN)
			ASSERT(r == WEIR_ERROR && rc == WEIR_ERROR &&
			    strcmp(w2, why) == 0);
	}
}

/* Decode data in pieces of `step` bytes (0: two pieces cut at `cut`). */
static int
decode(const uint8_t *data, size_t len, size_t step, size_t cut,
    size_t maxl, char *body, size_t *blen, size_t *end, const char **why)
{
	struct chunked_dec	 d;
	size_t			 off = 0, n, out, used;
	char			*b;
	int			 rc = 0;

	httpparse_chunked_init(&d);
	if (maxl) {
		d.max_line = maxl;
		d.max_trailer = maxl * 2;
	}
	*blen = 0;
	*why = NULL;
	while (off < len) {
		if (step)
			n = len - off < step ? len - off : step;
		else
			n = off < cut ? cut - off : len - off;
		b = dupn(data + off, n);
		rc = httpparse_chunked(&d, b, n, &out, &used, why);
		ASSERT(out <= used && used <= n);
		ASSERT(rc == 1 || rc == 0 || rc == WEIR_ERROR);
		ASSERT(rc != 0 || used == n);
		memcpy(body + *blen, b, out);
		*blen += out;
		free(b);
		off += used;
		if (rc != 0)
			break;
	}
	*end = off;
	return rc;
}

static void
check_chunked(const uint8_t *data, size_t len, size_t maxl)
{
	const char	*w1, *w2;
	char		*b1, *b2;
	size_t		 l1, l2, e1, e2, cut;
	int		 r1, r2, pass;

	if ((b1 = malloc(len + 1)) == NULL || (b2 = malloc(len + 1)) == NULL)
		abort();
	r1 = decode(data, len, 0, 0, maxl, b1, &l1, &e1, &w1);
	ASSERT(l1 <= e1 && e1 <= len);
	for (pass = 0; pass < 3; pass++) {
		cut = pass == 0 ? len / 2 : pass == 1 ? len / 3 : 0;
		r2 = decode(data, len, pass == 2, cut, maxl, b2, &l2, &e2, &w2);
		ASSERT(r1 == r2 && e1 == e2);
		if (r1 == WEIR_ERROR)
			ASSERT(w1 != NULL && w2 != NULL && strcmp(w1, w2) == 0);
		else
			ASSERT(l1 == l2 && memcmp(b1, b2, l1) == 0);
	}
	free(b1);
	free(b2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct http_request	 req;
	const char		*why;
	char			*b;
	int			 rc, st;

	check_request(data, len, NULL);
	check_request(data, len, &small);
	check_response(data, len, NULL);
	check_response(data, len, &small);
	check_chunked(data, len, 0);
	check_chunked(data, len, 12);

	/* the body after a request's header section, as a server sees it */
	b = dupn(data, len);
	rc = httpparse_request(b, len, &req, NULL, &st, &why);
	free(b);
	if (rc > 0)
		check_chunked(data + rc, len - (size_t)rc, 0);
	return 0;
}
