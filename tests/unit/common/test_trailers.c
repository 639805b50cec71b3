/*
 * test_trailers.c - unit tests for src/common/trailers.c: which trailer
 * fields are forwarded, the filter's output, the iterator, TE's member.
 * Table-driven, one case a line; inputs are exact-size heap copies.
 */
#include "../unit.h"
#include "../../../src/common/httpparse.c"
#include "../../../src/common/trailers.c"

#include <stdlib.h>

static struct hstr
hs(const char *s)
{
	return (struct hstr){ s, strlen(s) };
}

static const struct { const char *name; bool forbidden; } names[] = {
	{ "x-checksum", false },
	{ "grpc-status", false },
	{ "Grpc-Message", false },
	{ "server-timing", false },
	{ "digest", false },
	{ "X-Forwarded", false },
	{ "content-length", true },
	{ "Content-Length", true },
	{ "TRANSFER-ENCODING", true },
	{ "trailer", true },
	{ "te", true },
	{ "connection", true },
	{ "keep-alive", true },
	{ "upgrade", true },
	{ "host", true },
	{ "Authorization", true },
	{ "proxy-authorization", true },
	{ "set-cookie", true },
	{ "cookie", true },
	{ "www-authenticate", true },
	{ "cache-control", true },
	{ "if-none-match", true },
	{ "range", true },
	{ "content-type", true },
	{ "content-encoding", true },
	{ "location", true },
	{ "forwarded", true },
	{ "x-forwarded-for", true },
	{ "X-Forwarded-Proto", true },
	{ "x-tls-client-cert", true },
	{ ":status", true },
	{ "", true },
};

static const struct { int line; const char *in, *out; unsigned flags; } filters[] = {
	{ __LINE__, "", "", 0 },
	{ __LINE__, "X-Checksum: abc\r\n", "x-checksum:abc\r\n", 0 },
	{ __LINE__, "A:b\r\nC:  d e \t\r\n", "a:b\r\nc:d e\r\n", 0 },
	{ __LINE__, "Empty:\r\nE2: \t \r\n", "empty:\r\ne2:\r\n", 0 },
	{ __LINE__, "Content-Length: 5\r\nX: 1\r\nHost: h\r\nY: 2\r\n", "x:1\r\ny:2\r\n", 0 },
	{ __LINE__, "Set-Cookie: a=b\r\nAuthorization: x\r\n", "", 0 },
	{ __LINE__, "x_a: 1\r\nx-b: 2\r\n", "x_a:1\r\nx-b:2\r\n", 0 },
	{ __LINE__, "x_a: 1\r\nx-b: 2\r\n", "x-b:2\r\n", TRAILERS_NO_UNDERSCORE },
	{ __LINE__, "x-forwarded-for: 1\r\nforwarded: for=x\r\nok: 1\r\n", "ok:1\r\n", 0 },
	/* never from the parser, but never past the input either */
	{ __LINE__, "nocolon\r\nA: 1\r\n", "a:1\r\n", 0 },
	{ __LINE__, "A: 1\nB: 2\r\n", "b:2\r\n", 0 },
	{ __LINE__, "A: 1\r\nB: 2", "a:1\r\n", 0 },
	{ __LINE__, "a:v:w\r\n", "a:v:w\r\n", 0 },
};

static const struct { const char *value; bool yes; } tes[] = {
	{ "trailers", true },
	{ "Trailers", true },
	{ "gzip, trailers", true },
	{ "trailers ,deflate;q=0.5", true },
	{ " \ttrailers\t ", true },
	{ ",,trailers,,", true },
	{ "", false },
	{ "gzip", false },
	{ "trailer", false },
	{ "trailerss", false },
	{ "trailers;q=1", false },
	{ "x-trailers", false },
};

/* Filter, then read back with trailers_next(): the same lines. */
static void
filter_case(int line, const char *in, const char *want, unsigned flags)
{
	size_t n = strlen(in), got;
	char *b = malloc(n + 1), back[512];
	const char *p, *end;
	struct hstr name, value;
	size_t bl = 0;

	if (b == NULL)
		abort();
	memcpy(b, in, n);
	got = trailers_filter(b, n, flags);
	CHECKF(got == strlen(want) && memcmp(b, want, got) == 0,
	    "line %d: got %.*s", line, (int)got, b);
	for (p = b, end = b + got; trailers_next(&p, end, &name, &value);) {
		memcpy(back + bl, name.p, name.n);
		back[bl + name.n] = ':';
		memcpy(back + bl + name.n + 1, value.p, value.n);
		bl += name.n + 1 + value.n;
		memcpy(back + bl, "\r\n", 2);
		bl += 2;
	}
	CHECKF(p == end, "line %d: iterator stopped early", line);
	CHECKF(bl == got && memcmp(back, b, got) == 0, "line %d: iterated back", line);
	/* filtering again changes nothing */
	CHECKF(trailers_filter(b, got, flags) == got, "line %d: not idempotent", line);
	free(b);
}

int
main(void)
{
	for (size_t i = 0; i < nitems(names); i++)
		CHECKF(trailers_forbidden(hs(names[i].name)) == names[i].forbidden,
		    "%s", names[i].name);
	for (size_t i = 0; i < nitems(filters); i++)
		filter_case(filters[i].line, filters[i].in, filters[i].out, filters[i].flags);
	for (size_t i = 0; i < nitems(tes); i++)
		CHECKF(trailers_te(hs(tes[i].value)) == tes[i].yes, "TE: %s", tes[i].value);
	return unit_done("trailers");
}
