/*
 * test_path.c - path_normalize(): decoding, dot segments, traversal attacks,
 * buffer limits, and a randomized comparison with a naive reference.
 */
#include "../unit.h"
#include "../../../src/frontend/path.c"

#include <stdlib.h>

static const struct {
	const char	*in;
	int		 rc;
	const char	*want;		/* when rc == 0 */
} cases[] = {
	/* plain paths */
	{ "/",				0,	"/" },
	{ "/index.html",		0,	"/index.html" },
	{ "/a/b/c.txt",			0,	"/a/b/c.txt" },
	{ "/a/b/",			0,	"/a/b/" },
	/* repeated '/' */
	{ "//",				0,	"/" },
	{ "//a///b",			0,	"/a/b" },
	{ "/a//",			0,	"/a/" },
	/* dot segments (RFC 3986 §5.2.4), trailing '/' kept */
	{ "/.",				0,	"/" },
	{ "/./",			0,	"/" },
	{ "/a/./b",			0,	"/a/b" },
	{ "/a/b/.",			0,	"/a/b/" },
	{ "/a/b/..",			0,	"/a/" },
	{ "/a/b/../",			0,	"/a/" },
	{ "/a/b/../c",			0,	"/a/c" },
	{ "/a/../b/../c",		0,	"/c" },
	{ "/a/./.",			0,	"/a/" },
	{ "/a/..",			0,	"/" },
	{ "/a//../b",			0,	"/b" },
	{ "/a/b/c/../../d",		0,	"/a/d" },
	{ "/.hidden/../x",		0,	"/x" },
	/* names that only look like dot segments */
	{ "/...",			0,	"/..." },
	{ "/..../",			0,	"/..../" },
	{ "/.a",			0,	"/.a" },
	{ "/a.",			0,	"/a." },
	{ "/a..",			0,	"/a.." },
	{ "/..a/b",			0,	"/..a/b" },
	/* percent-decoding */
	{ "/%41%62c",			0,	"/Abc" },
	{ "/%c3%A9t%C3%a9",		0,	"/\xc3\xa9t\xc3\xa9" },
	{ "/%20",			0,	"/ " },
	{ "/%25",			0,	"/%" },
	{ "/%252e%252e/",		0,	"/%2e%2e/" },	/* once */
	{ "/%2E",			0,	"/" },
	{ "/a/.%2e",			0,	"/" },
	{ "/a/%2e%2E/b",		0,	"/b" },
	{ "/%2e%2e%2e",			0,	"/..." },
	{ "/a?b",			0,	"/a?b" },
	{ "/a\\..\\b",			0,	"/a\\..\\b" },	/* not a '/' */
	{ "/\x80\xff",			0,	"/\x80\xff" },
	/* climbing above '/' is refused, not clamped */
	{ "/..",			400,	NULL },
	{ "/../",			400,	NULL },
	{ "/../a",			400,	NULL },
	{ "/a/../..",			400,	NULL },
	{ "/a/../../b",			400,	NULL },
	{ "/a/b/../../..",		400,	NULL },
	{ "/./../x",			400,	NULL },
	{ "//../x",			400,	NULL },
	{ "/%2e%2e/etc/passwd",		400,	NULL },
	{ "/%2E%2E/etc/passwd",		400,	NULL },
	{ "/.%2e/",			400,	NULL },
	{ "/%2e./",			400,	NULL },
	{ "/a/%2e%2E/../../x",		400,	NULL },
	{ "/a/b/%2e%2e/%2e%2e/%2e%2e/etc",	400,	NULL },
	/* encoded '/': no file name contains it */
	{ "/..%2fetc",			404,	NULL },
	{ "/..%2Fetc",			404,	NULL },
	{ "/a%2fb",			404,	NULL },
	{ "/%2e%2e%2f",			404,	NULL },
	{ "/%2F",			404,	NULL },
	/* malformed escapes */
	{ "/%zz",			400,	NULL },
	{ "/%",				400,	NULL },
	{ "/%2",			400,	NULL },
	{ "/a%",			400,	NULL },
	{ "/%g0",			400,	NULL },
	{ "/%0g",			400,	NULL },
	{ "/%%41",			400,	NULL },
	{ "/%-1",			400,	NULL },
	/* NUL and controls, encoded or raw */
	{ "/%00",			400,	NULL },
	{ "/a%00.html",			400,	NULL },
	{ "/%01",			400,	NULL },
	{ "/%0a",			400,	NULL },
	{ "/%0D%0A",			400,	NULL },
	{ "/%1f",			400,	NULL },
	{ "/%1F",			400,	NULL },
	{ "/%7f",			400,	NULL },
	{ "/%7F",			400,	NULL },
	{ "/a\tb",			400,	NULL },
	{ "/a\x7f",			400,	NULL },
	{ "/a\nb",			400,	NULL },
	/* the first error wins */
	{ "/%2f%zz",			404,	NULL },
	{ "/%zz%2f",			400,	NULL },
	{ "/../%2f",			400,	NULL },
	/* not a path */
	{ "",				400,	NULL },
	{ "a/b",			400,	NULL },
	{ "%2fa",			400,	NULL },
	{ "*",				400,	NULL },
};

static void
test_table(void)
{
	char	 out[256];
	size_t	 i, len;
	int	 rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = 12345;
		rc = path_normalize(cases[i].in, strlen(cases[i].in), out,
		    sizeof(out), &len);
		CHECKF(rc == cases[i].rc, "\"%s\": rc %d, want %d",
		    cases[i].in, rc, cases[i].rc);
		if (cases[i].rc != 0 || rc != 0)
			continue;
		CHECKF(strcmp(out, cases[i].want) == 0, "\"%s\": \"%s\", want "
		    "\"%s\"", cases[i].in, out, cases[i].want);
		CHECKF(len == strlen(cases[i].want), "\"%s\": len %zu",
		    cases[i].in, len);
	}
}

/* Embedded NUL bytes and n shorter than the string. */
static void
test_lengths(void)
{
	char	 out[64];
	size_t	 len;

	CHECK_INT(path_normalize("/a\0b", 4, out, sizeof(out), &len), 400);
	CHECK_INT(path_normalize("/\0", 2, out, sizeof(out), &len), 400);
	CHECK_INT(path_normalize("/abc/../../etc", 4, out, sizeof(out), &len),
	    0);
	CHECK_STR(out, "/abc");
	CHECK_INT(path_normalize("/a%41", 3, out, sizeof(out), &len), 400);
	CHECK_INT(path_normalize("/a%41xyz", 5, out, sizeof(out), &len), 0);
	CHECK_STR(out, "/aA");
	CHECK_INT(path_normalize("/", 0, out, sizeof(out), &len), 400);
}

/* 414: only the result must fit, not the input or any intermediate form. */
static void
test_outsz(void)
{
	char	 out[8];
	size_t	 len = 0;

	CHECK_INT(path_normalize("/abc", 4, out, 5, &len), 0);
	CHECK_STR(out, "/abc");
	CHECK_INT(len, 4);
	CHECK_INT(path_normalize("/abc", 4, out, 4, &len), 414);
	CHECK_STR(out, "");
	CHECK_INT(path_normalize("/abc/", 5, out, 5, &len), 414);
	CHECK_INT(path_normalize("/abc/", 5, out, 6, &len), 0);
	CHECK_STR(out, "/abc/");
	CHECK_INT(path_normalize("/", 1, out, 2, &len), 0);
	CHECK_STR(out, "/");
	CHECK_INT(path_normalize("/", 1, out, 1, &len), 414);
	CHECK_INT(path_normalize("/", 1, NULL, 0, &len), 414);
	CHECK_INT(path_normalize("/%41%42%43", 10, out, 5, &len), 0);
	CHECK_STR(out, "/ABC");
	CHECK_INT(path_normalize("/aaaaaaaaaa/../b", 16, out, 3, &len), 0);
	CHECK_STR(out, "/b");
	CHECK_INT(path_normalize("/aaaaaaaaaa/../b/", 17, out, 3, &len), 414);
	CHECK_INT(path_normalize("/aaaaaaaaaa/..", 14, out, 2, &len), 0);
	CHECK_STR(out, "/");
	/* 400 and 404 do not depend on the buffer size */
	CHECK_INT(path_normalize("/aaaaaaaaaa/%zz", 15, out, 3, &len), 400);
	CHECK_INT(path_normalize("/aaaaaaaaaa/%2f", 15, out, 3, &len), 404);
	CHECK_INT(path_normalize("/aaaaaaaaaa/../..", 17, out, 3, &len), 400);
}

/* Very long inputs stay linear and correct. */
static void
test_long(void)
{
	enum { N = 1 << 20 };
	char	*in, *out;
	size_t	 i, len;

	in = malloc(N + 1);
	out = malloc(N + 1);
	if (in == NULL || out == NULL)
		abort();

	memset(in, 'a', N);
	in[0] = '/';
	CHECK_INT(path_normalize(in, N, out, 4096, &len), 414);
	CHECK_INT(path_normalize(in, N, out, N + 1, &len), 0);
	CHECK_INT(len, N);

	/* "/x/.." a great many times */
	for (i = 0; i + 5 <= N; i += 5)
		memcpy(in + i, "/x/..", 5);
	CHECK_INT(path_normalize(in, i, out, 2, &len), 0);
	CHECK_STR(out, "/");

	/* deep, then exactly as many "..", then one more */
	for (i = 0; i < N / 4; i += 2)
		memcpy(in + i, "/d", 2);
	for (; i < N / 4 + N / 8 * 3; i += 3)
		memcpy(in + i, "/..", 3);
	CHECK_INT(path_normalize(in, i, out, 2, &len), 0);
	CHECK_STR(out, "/");
	memcpy(in + i, "/..", 3);
	CHECK_INT(path_normalize(in, i + 3, out, N + 1, &len), 400);

	/* a long run of '/' and of "%2e%2e/" */
	memset(in, '/', N);
	CHECK_INT(path_normalize(in, N, out, 2, &len), 0);
	CHECK_STR(out, "/");
	in[0] = '/';
	for (i = 1; i + 7 <= N; i += 7)
		memcpy(in + i, "%2e%2e/", 7);
	CHECK_INT(path_normalize(in, i, out, N + 1, &len), 400);

	free(in);
	free(out);
}

/*
 * Reference: decode the whole path, split on '/', apply RFC 3986 §5.2.4 with
 * a stack of segments.  Only used on inputs that decode cleanly.
 */
static int
ref_normalize(const char *in, size_t n, char *out)
{
	char		 dec[512];
	const char	*seg[256] = { NULL };
	size_t		 segn[256] = { 0 }, nd = 0, ns = 0, i, s, o;
	int		 trailing = 0;

	for (i = 0; i < n; i++) {
		if (in[i] == '%') {
			dec[nd++] = (char)(hexval((unsigned char)in[i + 1]) <<
			    4 | hexval((unsigned char)in[i + 2]));
			i += 2;
		} else
			dec[nd++] = in[i];
	}
	for (i = 1, s = 1; i <= nd; i++) {
		if (i < nd && dec[i] != '/')
			continue;
		trailing = 0;
		if (i - s == 0 || (i - s == 1 && dec[s] == '.'))
			trailing = 1;
		else if (i - s == 2 && dec[s] == '.' && dec[s + 1] == '.') {
			if (ns == 0)
				return 400;
			ns--;
			trailing = 1;
		} else {
			seg[ns] = dec + s;
			segn[ns++] = i - s;
		}
		s = i + 1;
	}
	o = 0;
	for (i = 0; i < ns; i++) {
		out[o++] = '/';
		memcpy(out + o, seg[i], segn[i]);
		o += segn[i];
	}
	if (trailing || o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return 0;
}

static void
test_random(void)
{
	static const char *const tok[] = {
		"/", "/", "/", ".", ".", "a", "b", "%2e", "%2E", "%41", "..",
		"x.y", "%62",
	};
	char		 in[200], out[512], want[512];
	size_t		 n, len;
	unsigned	 seed = 12345, iter, k, t;
	int		 rc, wrc;

	for (iter = 0; iter < 200000; iter++) {
		in[0] = '/';
		n = 1;
		k = (seed = seed * 1103515245u + 12345u) >> 16 & 15;
		while (k-- > 0) {
			seed = seed * 1103515245u + 12345u;
			t = (seed >> 16) % (sizeof(tok) / sizeof(tok[0]));
			memcpy(in + n, tok[t], strlen(tok[t]));
			n += strlen(tok[t]);
		}
		in[n] = '\0';
		wrc = ref_normalize(in, n, want);
		rc = path_normalize(in, n, out, sizeof(out), &len);
		if (rc != wrc || (rc == 0 && (strcmp(out, want) != 0 ||
		    len != strlen(want)))) {
			CHECKF(0, "\"%s\": rc %d \"%s\", want %d \"%s\"", in,
			    rc, out, wrc, wrc == 0 ? want : "");
			break;
		}
		/* the exact fit works, one byte less is 414 */
		if (rc == 0) {
			if (path_normalize(in, n, out, len + 1, &len) != 0 ||
			    path_normalize(in, n, out, len, &len) != 414) {
				CHECKF(0, "\"%s\": exact fit", in);
				break;
			}
		}
	}
	CHECK(iter == 200000);
}

/* path_hidden() on normalized paths (and on raw ones, through path_normalize) */
static const struct {
	const char	*in;		/* a request path, normalized first */
	bool		 hidden;
} hidden[] = {
	{ "/",					false },
	{ "/index.html",			false },
	{ "/a/b.c/d",				false },
	{ "/a./b",				false },
	{ "/.git/config",			true },
	{ "/.env",				true },
	{ "/a/.secret/x",			true },
	{ "/a/.secret/",			true },
	{ "/a/b/.htaccess",			true },
	{ "/...",				true },
	{ "/%2egit/config",			true },		/* decoded first */
	{ "/a/%2Eenv",				true },
	{ "/.hidden/../x",			false },	/* normalized away */
	{ "/a/./b",				false },
	{ "/.well-known/acme-challenge/t",	false },	/* RFC 8615 */
	{ "/.well-known/",			false },
	{ "/.well-known",			false },
	{ "/%2ewell-known/security.txt",	false },
	{ "/.well-known/.secret",		true },
	{ "/.well-known/a/.b/c",		true },
	{ "/.well-knownx/a",			true },
	{ "/.well-know/a",			true },
	{ "/a/.well-known/x",			true },		/* only at the root */
};

static void
test_hidden(void)
{
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		char out[256];
		size_t len;

		if (path_normalize(hidden[i].in, strlen(hidden[i].in), out, sizeof(out),
		    &len) != 0) {
			CHECKF(0, "\"%s\" does not normalize", hidden[i].in);
			continue;
		}
		CHECKF(path_hidden(out, len) == hidden[i].hidden, "\"%s\" (%s): want %d",
		    hidden[i].in, out, hidden[i].hidden);
	}
}

int
main(void)
{
	test_hidden();
	test_table();
	test_lengths();
	test_outsz();
	test_long();
	test_random();
	return unit_done("path");
}
