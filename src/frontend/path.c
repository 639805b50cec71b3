/*
 * path.c - turn a request path into a canonical, file-system-safe path.
 *
 * The static-file handler resolves the result beneath the site's document
 * root, so this is the first line of defence against directory traversal
 * (the second is openat2(RESOLVE_BENEATH)).  Pure: no I/O, no allocation.
 */
#include "frontend.h"

#include <string.h>

/* Value of one hex digit, or -1. */
static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Decode one segment raw[0..n) (no raw '/' in it; escapes already checked
 * by validate()) into dst, which may be NULL to only measure it.  Returns the
 * decoded length.
 */
static size_t
seg_decode(const char *raw, size_t n, char *dst)
{
	size_t	 i, len = 0;
	int	 c;

	for (i = 0; i < n; i++, len++) {
		c = (unsigned char)raw[i];
		if (c == '%') {
			c = hexval((unsigned char)raw[i + 1]) << 4 |
			    hexval((unsigned char)raw[i + 2]);
			i += 2;
		}
		if (dst != NULL)
			dst[len] = (char)c;
	}
	return len;
}

/* What a decoded segment is, for dot-segment removal. */
enum seg_kind { SEG_EMPTY, SEG_DOT, SEG_DOTDOT, SEG_NAME };

static enum seg_kind
seg_classify(const char *raw, size_t n, size_t *dlen)
{
	char	 d[2];

	*dlen = seg_decode(raw, n, NULL);
	if (*dlen == 0)
		return SEG_EMPTY;
	if (*dlen > 2)
		return SEG_NAME;
	(void)seg_decode(raw, n, d);
	if (d[0] != '.' || (*dlen == 2 && d[1] != '.'))
		return SEG_NAME;
	return *dlen == 1 ? SEG_DOT : SEG_DOTDOT;
}

/*
 * Pass 1, left to right: every check that can fail with 400 or 404, so the
 * status does not depend on the buffer size and the first error in the
 * request wins.  Climbing above '/' is found with a depth counter: a name
 * segment goes down one level, ".." up one, "." and empty segments stay.
 */
static int
validate(const char *raw, size_t n)
{
	size_t		 i, seglen = 0, depth = 0;
	bool		 dots = true;	/* the segment so far is only '.' */
	int		 hi, lo;
	unsigned char	 c;

	for (i = 1; i <= n; i++) {
		/*
		 * 1. a raw '/' (or the end) ends a segment; empty ones
		 * (repeated '/') merge, dot segments are counted after
		 * decoding (RFC 3986 §5.2.4), so "%2e%2e" is a ".."
		 */
		if (i == n || raw[i] == '/') {
			if (dots && seglen == 2) {
				/* 2. ".." above the root is an attack: 400 */
				if (depth == 0)
					return 400;
				depth--;
			} else if (!dots || seglen > 2)
				depth++;
			seglen = 0;
			dots = true;
			continue;
		}
		c = (unsigned char)raw[i];
		/* 3. percent-decoding (RFC 3986 §2.1) */
		if (c == '%') {
			if (n - i < 3 ||
			    (hi = hexval((unsigned char)raw[i + 1])) < 0 ||
			    (lo = hexval((unsigned char)raw[i + 2])) < 0)
				return 400;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
			/* no file name contains '/': no such file exists */
			if (c == '/')
				return 404;
		}
		/* 4. NUL and other controls, raw or decoded: 400 */
		if (c < 0x20 || c == 0x7f)
			return 400;
		if (c != '.')
			dots = false;
		seglen++;
	}
	return 0;
}

/*
 * Normalize the request path raw[0..n) (it starts with '/', query removed)
 * into out, NUL-terminated, and store its length in *outlen.
 *
 * Steps 1-4 (validate()): merge repeated '/', remove dot segments after
 * decoding (RFC 3986 §5.2.4) so "%2e%2e" is a "..", refuse to climb above
 * '/' instead of clamping, percent-decode, reject NUL and controls.  Steps
 * 5-7 build the result.  A trailing '/' is kept when the input ends in '/'
 * or in a "." or ".." segment ("/a/b/.." -> "/a/").
 *
 * Returns 0, 400 (malformed escape, NUL, control byte, climbing above '/'),
 * 404 (encoded '/') or 414 (the result plus its NUL does not fit in outsz).
 * Two passes, O(n): validate() left to right, then the result is built right
 * to left at the end of out -- ".." skips the next name to its left -- and
 * moved to the front, so the intermediate form never needs more room than
 * the result.  On error out holds an empty string when outsz > 0.
 */
int
path_normalize(const char *raw, size_t n, char *out, size_t outsz,
    size_t *outlen)
{
	size_t		 s, e, dlen, p = outsz, skip = 0, len;
	enum seg_kind	 k;
	int		 rc;

	if (outsz > 0)
		out[0] = '\0';
	if (n == 0 || raw[0] != '/')
		return 400;
	if ((rc = validate(raw, n)) != 0)
		return rc;

	/*
	 * 5. build from the right.  Segment raw[s..e) follows the '/' at
	 * raw[s - 1]; raw[0] is '/', so the backward scan always stops.
	 */
	for (e = n; e > 0; e = s - 1) {
		for (s = e; raw[s - 1] != '/'; s--)
			;
		k = seg_classify(raw + s, e - s, &dlen);
		if (e == n && k != SEG_NAME) {
			/* the trailing '/' (RFC 3986 keeps it) */
			if (p == 0)
				goto toolong;
			out[--p] = '/';
		}
		if (k == SEG_DOTDOT)
			skip++;
		else if (k == SEG_NAME) {
			if (skip > 0) {
				skip--;
				continue;
			}
			if (p < dlen + 1)
				goto toolong;
			p -= dlen;
			(void)seg_decode(raw + s, e - s, out + p);
			out[--p] = '/';
		}
	}

	/* 6. "/" alone when nothing was kept (cannot happen: defensive) */
	if (p == outsz) {
		if (p == 0)
			goto toolong;
		out[--p] = '/';
	}
	/* 7. room for the NUL, then move to the front */
	if (p == 0)
		goto toolong;
	len = outsz - p;
	memmove(out, out + p, len);
	out[len] = '\0';
	*outlen = len;
	return 0;

toolong:
	if (outsz > 0)
		out[0] = '\0';
	return 414;
}

/*
 * Whether a normalized path (path_normalize()'s result) names a hidden file
 * or goes through a hidden directory: a segment beginning with '.'
 * ("/.git/config", "/.env", "/a/.secret/x").  Such files are a site's
 * secrets far more often than its content, so `dotfiles = deny` answers
 * them 404.  The first segment ".well-known" is not hidden: RFC 8615 puts
 * well-known URIs there (ACME challenges, security.txt); dotted segments
 * under it still are.
 */
bool
path_hidden(const char *path, size_t len)
{
	static const char wk[] = "/.well-known";
	size_t i = 0;

	if (len >= sizeof(wk) - 1 && memcmp(path, wk, sizeof(wk) - 1) == 0 &&
	    (len == sizeof(wk) - 1 || path[sizeof(wk) - 1] == '/'))
		i = sizeof(wk) - 1;
	for (; i + 1 < len; i++)
		if (path[i] == '/' && path[i + 1] == '.')
			return true;
	return false;
}

/*
 * Percent-encode the decoded bytes p[0..n) for a request target: the
 * inverse of path_normalize()'s decoding, used where weir itself builds the
 * target a pool sees (a rewrite's captures, a path without its mount
 * prefix).  Unreserved characters, sub-delims, ':', '@' and '/' stay; in a
 * query (`query`), '&', '+' and '=' are encoded too, so a captured value
 * stays one value.  Returns the length written (no NUL), or (size_t)-1 when
 * out[0..cap) is too small.
 */
size_t
path_encode(char *out, size_t cap, const char *p, size_t n, bool query)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~!$'()*,;:@/", c) != NULL ||
		    (!query && (c == '&' || c == '+' || c == '='));

		if (c == '\0')
			keep = false;	/* strchr() finds the terminator */
		if (len + (keep ? 1 : 3) > cap)
			return (size_t)-1;
		if (keep) {
			out[len++] = (char)c;
		} else {
			out[len++] = '%';
			out[len++] = hex[c >> 4];
			out[len++] = hex[c & 15];
		}
	}
	return len;
}
