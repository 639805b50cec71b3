/*
 * httpparse.c - weir's strict HTTP/1.1 message parser (see httpparse.h).
 *
 * One forward pass over the buffer.  Every decision is taken at a fixed byte
 * position and depends only on the bytes before it, and running out of input
 * is checked before anything looks at the missing byte.  That is what makes
 * the result for a prefix either WEIR_AGAIN or the very error of the whole
 * message.  Size limits work the same way: the parser only ever looks at the
 * bytes below the limit, and needing the byte at the limit is the limit
 * error rather than WEIR_AGAIN.
 *
 * A NULL `lim`, or a zero member of it, means the default below; max_headers
 * is clamped to HTTPPARSE_MAX_HEADERS.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "httpparse.h"

#define DEF_REQUEST_LINE	8192
#define DEF_HEADER_BYTES	32768
#define DEF_HEADERS		100
#define DEF_CHUNK_LINE		4096
#define DEF_TRAILER		HTTPPARSE_MAX_TRAILER
#define MAX_EMPTY_LINES		8

/* Character classes (RFC 9110 §5.6, RFC 3986 §2-3), one lookup per byte. */
#define C_TCHAR		0x01	/* token */
#define C_FVAL		0x02	/* field-value: VCHAR, obs-text, SP, HTAB */
#define C_PATH		0x04	/* pchar and "/", without "%" */
#define C_QUERY		0x08	/* C_PATH and "?" */
#define C_HEX		0x10	/* HEXDIG */
#define C_REG		0x20	/* unreserved and sub-delims (reg-name) */
#define C_AUTH		0x40	/* C_REG, ":", "%", "[", "]", "@" (authority) */
#define C_QDTEXT	0x80	/* qdtext of a quoted-string */

static const uint8_t ctab[256] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x82, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x82, 0xef, 0x02, 0x83, 0xef, 0xc3, 0xef, 0xef, 0xee, 0xee, 0xef, 0xef, 0xee, 0xef, 0xef, 0x8e,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xce, 0xee, 0x82, 0xee, 0x82, 0x8a,
	0xce, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef,
	0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xc2, 0x02, 0xc2, 0x83, 0xef,
	0x83, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef,
	0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0xef, 0x82, 0x83, 0x82, 0xef, 0x00,
	0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82,
	0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82,
	0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82,
	0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82,
	0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82,
	0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82,
	0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82,
	0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82, 0x82,
};

#define CT(ch)		(ctab[(unsigned char)(ch)])
#define IS_OWS(ch)	((ch) == ' ' || (ch) == '\t')
#define IS_DIGIT(ch)	((ch) >= '0' && (ch) <= '9')

static const char *const mnames[HTTP_M__COUNT] = {
	"", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS",
	"TRACE", "PATCH", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE",
	"LOCK", "UNLOCK", "SEARCH", "REPORT"
};

/* Where the parser may look, and what it failed with. */
struct pctx {
	const char	*stop;		/* first byte not to look at */
	bool		 atlimit;	/* stop is a size limit, not the input's end */
	int		 lstatus;	/* status and reason for passing that limit */
	const char	*lwhy;
	int		 status;	/* the error, once WEIR_ERROR is returned */
	const char	*why;
};

/* Message-level facts gathered from the field lines. */
struct facts {
	int		 nhost;
	int		 nchunked;	/* "chunked" codings seen in TE */
	bool		 te;		/* Transfer-Encoding present */
	bool		 te_last;	/* the last coding seen was chunked */
	bool		 te_other;	/* a coding other than chunked was seen */
	bool		 expect_bad;	/* an expectation other than 100-continue */
};

/* Effective limits, defaults applied. */
struct lims {
	size_t		 line;
	size_t		 hdr;
	size_t		 nhdr;
};

static void
getlims(struct lims *l, const struct httpparse_limits *lim)
{
	l->line = lim && lim->max_request_line ? lim->max_request_line :
	    DEF_REQUEST_LINE;
	l->hdr = lim && lim->max_header_bytes ? lim->max_header_bytes :
	    DEF_HEADER_BYTES;
	l->nhdr = lim && lim->max_headers ? lim->max_headers : DEF_HEADERS;
	if (l->nhdr > HTTPPARSE_MAX_HEADERS)
		l->nhdr = HTTPPARSE_MAX_HEADERS;
	if (l->hdr > INT_MAX)		/* the length is returned as an int */
		l->hdr = INT_MAX;
}

/*
 * Let the parser look at buf[0..min(len, limit)).  When len >= limit, asking
 * for the byte at the limit means the message is too large, whatever follows.
 */
static void
bound(struct pctx *c, const char *buf, size_t len, size_t limit, int st,
    const char *why)
{
	c->atlimit = len >= limit;
	c->stop = buf + (c->atlimit ? limit : len);
	c->lstatus = st;
	c->lwhy = why;
}

static int
fail(struct pctx *c, int status, const char *why)
{
	c->status = status;
	c->why = why;
	return WEIR_ERROR;
}

/* Out of bytes at c->stop: either wait for more or the limit is passed. */
static int
more(struct pctx *c)
{
	if (c->atlimit)
		return fail(c, c->lstatus, c->lwhy);
	return WEIR_AGAIN;
}

/* Make sure n bytes at p may be looked at, else return from the caller. */
#define NEED(c, p, n) do {						\
	if ((c)->stop - (p) < (ptrdiff_t)(n))				\
		return more(c);						\
} while (0)

static int
hexval(unsigned char ch)
{
	return ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
}

/* Compare a field name with a lowercase literal of the same length. */
static bool
name_is(struct hstr n, const char *lit)
{
	size_t	 i;

	for (i = 0; i < n.n; i++)
		if ((n.p[i] | 0x20) != lit[i])
			return false;
	return true;
}

static bool
is_token(struct hstr s)
{
	size_t	 i;

	for (i = 0; i < s.n; i++)
		if (!(CT(s.p[i]) & C_TCHAR))
			return false;
	return s.n > 0;
}

/*
 * Next element of a #list (RFC 9110 §5.6.1) in [*pp, e), OWS trimmed.  Empty
 * elements are skipped as the RFC asks.  Returns false at the end.
 */
bool
httpparse_list_next(const char **pp, const char *e, struct hstr *el)
{
	const char	*p = *pp, *s, *t;

	while (p < e && (*p == ',' || IS_OWS(*p)))
		p++;
	if (p == e)
		return false;
	for (s = p; p < e && *p != ','; p++)
		;
	for (t = p; IS_OWS(t[-1]); t--)
		;
	el->p = s;
	el->n = (size_t)(t - s);
	*pp = p;
	return true;
}

/* dec-octet "." dec-octet "." dec-octet "." dec-octet, no leading zeros. */
static bool
ipv4_ok(const char *p, const char *e)
{
	int	 i, n, v;

	for (i = 0; i < 4; i++) {
		if (i > 0) {
			if (p == e || *p != '.')
				return false;
			p++;
		}
		for (n = 0, v = 0; p < e && IS_DIGIT(*p) && n < 4; n++, p++)
			v = v * 10 + (*p - '0');
		if (n == 0 || n > 3 || v > 255 || (n > 1 && p[-n] == '0'))
			return false;
	}
	return p == e;
}

/* IPv6address (RFC 3986 §3.2.2): 8 groups, one "::", optional IPv4 tail. */
static bool
ipv6_ok(const char *p, const char *e)
{
	const char	*g;
	int		 groups = 0;
	bool		 dcolon = false;

	if (e - p >= 2 && p[0] == ':' && p[1] == ':') {
		dcolon = true;
		p += 2;
		if (p == e)
			return true;
	}
	for (;;) {
		for (g = p; p < e && (CT(*p) & C_HEX); p++)
			;
		if (p < e && *p == '.') {
			if (!ipv4_ok(g, e))
				return false;
			groups += 2;
			break;
		}
		if (p == g || p - g > 4 || ++groups > 8)
			return false;
		if (p == e)
			break;
		if (*p++ != ':' || p == e)
			return false;
		if (*p == ':') {
			if (dcolon)
				return false;
			dcolon = true;
			if (++p == e)
				break;
		}
	}
	return dcolon ? groups <= 7 : groups == 8;
}

/* IP-literal = "[" ( IPv6address / IPvFuture ) "]", brackets stripped. */
static bool
ipliteral_ok(const char *p, const char *e)
{
	if (p < e && (*p | 0x20) == 'v') {
		/* IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
		for (p++; p < e && (CT(*p) & C_HEX); p++)
			;
		if (p == e || *p != '.' || !(CT(p[-1]) & C_HEX))
			return false;
		if (++p == e)
			return false;
		for (; p < e; p++)
			if (!(CT(*p) & C_REG) && *p != ':')
				return false;
		return true;
	}
	return ipv6_ok(p, e);
}

/*
 * uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2).  IPv4 addresses are
 * reg-names syntactically.  The host must not be empty (RFC 9110 §4.2.1);
 * the port is at most 65535 and required for CONNECT.  Userinfo is an error.
 */
static bool
host_ok(const char *s, size_t n, bool need_port)
{
	const char	*p = s, *e = s + n, *q;
	long		 port;

	if (p < e && *p == '[') {
		if ((q = memchr(p, ']', n)) == NULL || !ipliteral_ok(p + 1, q))
			return false;
		p = q + 1;
	} else {
		while (p < e && *p != ':') {
			if (CT(*p) & C_REG)
				p++;
			else if (*p == '%' && e - p >= 3 && (CT(p[1]) & C_HEX) &&
			    (CT(p[2]) & C_HEX))
				p += 3;
			else
				return false;
		}
		if (p == s)
			return false;
	}
	if (p == e)
		return !need_port;
	if (*p++ != ':')
		return false;
	if (p == e)
		return !need_port;
	for (port = 0; p < e && IS_DIGIT(*p) && port <= 65535; p++)
		port = port * 10 + (*p - '0');
	return p == e && port <= 65535;
}

/* Content-Length = 1*DIGIT, in int63. */
bool
httpparse_cl_parse(struct hstr v, int64_t *out)
{
	int64_t	 n = 0;
	size_t	 i;
	int	 d;

	if (v.n == 0)
		return false;
	for (i = 0; i < v.n; i++) {
		if (!IS_DIGIT(v.p[i]))
			return false;
		d = v.p[i] - '0';
		if (n > (INT64_MAX - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*out = n;
	return true;
}

/* Add the codings of one Transfer-Encoding line to what is known. */
static bool
te_add(struct facts *f, struct hstr v)
{
	const char	*p = v.p, *e = v.p + v.n;
	struct hstr	 el;

	f->te = true;
	while (httpparse_list_next(&p, e, &el)) {
		if (!is_token(el))
			return false;
		f->te_last = el.n == 7 && name_is(el, "chunked");
		if (f->te_last)
			f->nchunked++;
		else
			f->te_other = true;
	}
	return true;
}

/* Set HTTP_F_CONN_* from one Connection line; false on a non-token. */
static bool
conn_add(unsigned *flags, struct hstr v)
{
	const char	*p = v.p, *e = v.p + v.n;
	struct hstr	 el;

	while (httpparse_list_next(&p, e, &el)) {
		if (!is_token(el))
			return false;
		if (el.n == 5 && name_is(el, "close"))
			*flags |= HTTP_F_CONN_CLOSE;
		else if (el.n == 10 && name_is(el, "keep-alive"))
			*flags |= HTTP_F_CONN_KEEP;
		else if (el.n == 7 && name_is(el, "upgrade"))
			*flags |= HTTP_F_CONN_UPGRADE;
	}
	return true;
}

/* RFC 9112 §9.3: persistence from the version and Connection. */
static unsigned
keepalive(unsigned flags, int minor)
{
	if (flags & HTTP_F_CONN_CLOSE)
		return 0;
	if (minor >= 1 || (flags & HTTP_F_CONN_KEEP))
		return HTTP_F_KEEPALIVE;
	return 0;
}

/*
 * "HTTP/" DIGIT "." DIGIT at p, case-sensitive (RFC 9112 §2.3).  Returns 0
 * with the digits in *major, *minor, or WEIR_AGAIN / WEIR_ERROR.
 */
static int
version(struct pctx *c, const char *p, int *major, int *minor)
{
	static const char	 pat[] = "HTTP/#.#";
	int			 i;

	for (i = 0; i < 8; i++) {
		NEED(c, p, i + 1);
		if (pat[i] == '#' ? !IS_DIGIT(p[i]) : p[i] != pat[i])
			return fail(c, 400, "bad HTTP version");
	}
	*major = p[5] - '0';
	*minor = p[7] - '0' > 0;
	return 0;
}

/* CRLF at p, else a bare CR or a stray byte. */
static int
crlf(struct pctx *c, const char *p, const char *stray)
{
	NEED(c, p, 1);
	if (p[0] != '\r')
		return fail(c, 400, p[0] == '\n' ? "bare LF" : stray);
	NEED(c, p, 2);
	if (p[1] != '\n')
		return fail(c, 400, "bare CR");
	return 0;
}

/*
 * One field line (RFC 9112 §5) at *pp, for requests, responses and nothing
 * else (trailers go through the chunked decoder).  Returns 1 with *h filled
 * and *pp past its CRLF, 0 at the empty line that ends the section (*pp past
 * it), WEIR_AGAIN or WEIR_ERROR.  nh fields have been seen so far.
 */
static int
field_line(struct pctx *c, const char **pp, struct http_header *h, size_t nh,
    size_t maxh)
{
	const char	*p = *pp, *v, *e;

	/* 1. the empty line ends the section */
	NEED(c, p, 1);
	if (*p == '\r') {
		NEED(c, p, 2);
		if (p[1] != '\n')
			return fail(c, 400, "bare CR");
		*pp = p + 2;
		return 0;
	}
	if (*p == '\n')
		return fail(c, 400, "bare LF");
	if (nh >= maxh)
		return fail(c, 431, "too many header fields");
	/* 2. obs-fold (RFC 9112 §5.2), or whitespace after the start-line (§2.2) */
	if (IS_OWS(*p))
		return fail(c, 400, "obs-fold or whitespace at start of field line");
	/* 3. field-name = token, ":" right after it (RFC 9112 §5.1) */
	h->name.p = p;
	while (c->stop - p >= 4 && (CT(p[0]) & CT(p[1]) & CT(p[2]) & CT(p[3]) &
	    C_TCHAR))
		p += 4;
	while (p < c->stop && (CT(*p) & C_TCHAR))
		p++;
	NEED(c, p, 1);
	if (*p != ':') {
		if (IS_OWS(*p))
			return fail(c, 400, "whitespace before colon");
		if (*p == '\n')
			return fail(c, 400, "bare LF");
		if (*p == '\r')
			return fail(c, 400, "field line without colon");
		return fail(c, 400, "bad character in field name");
	}
	if (p == h->name.p)
		return fail(c, 400, "empty field name");
	h->name.n = (size_t)(p - h->name.p);
	/* 4. OWS field-value OWS: no CTL but HTAB, obs-text allowed */
	for (p++; p < c->stop && IS_OWS(*p); p++)
		;
	v = p;
	while (c->stop - p >= 4 && (CT(p[0]) & CT(p[1]) & CT(p[2]) & CT(p[3]) &
	    C_FVAL))
		p += 4;
	while (p < c->stop && (CT(*p) & C_FVAL))
		p++;
	NEED(c, p, 1);
	if (*p != '\r')
		return fail(c, 400, *p == '\n' ? "bare LF" :
		    "control character in field value");
	NEED(c, p, 2);
	if (p[1] != '\n')
		return fail(c, 400, "bare CR");
	for (e = p; e > v && IS_OWS(e[-1]); e--)
		;
	h->value.p = v;
	h->value.n = (size_t)(e - v);
	*pp = p + 2;
	return 1;
}

/*
 * Scan bytes of class cls and "%" HEXDIG HEXDIG from *pp, up to any other
 * byte.  Each hex digit is judged as soon as it is there.
 */
static int
uri_run(struct pctx *c, const char **pp, uint8_t cls)
{
	const char	*p = *pp;
	int		 i;

	for (;;) {
		while (c->stop - p >= 4 && (CT(p[0]) & CT(p[1]) & CT(p[2]) &
		    CT(p[3]) & cls))
			p += 4;
		while (p < c->stop && (CT(*p) & cls))
			p++;
		NEED(c, p, 1);
		if (*p != '%')
			break;
		for (i = 1; i < 3; i++) {
			NEED(c, p, i + 1);
			if (!(CT(p[i]) & C_HEX))
				return fail(c, 400,
				    "bad percent-encoding in request target");
		}
		p += 3;
	}
	*pp = p;
	return 0;
}

/*
 * The request-target (RFC 9112 §3.2) at *pp, up to and past the SP after it.
 * Its form follows from the method and the first bytes, so each byte is
 * looked at once.  req->method is known.
 */
static int
rq_target(struct pctx *c, const char **pp, struct http_request *req)
{
	static const char	 scheme[] = "http://";
	const char		*p = *pp, *a;
	int			 i, rc;

	req->target.p = p;
	NEED(c, p, 1);
	if (req->method == HTTP_M_CONNECT) {
		/* 1. authority-form, which CONNECT must use (RFC 9110 §9.3.6) */
		req->target_form = HTTP_TARGET_AUTHORITY;
		for (a = p; p < c->stop && (CT(*p) & C_AUTH); p++)
			;
		NEED(c, p, 1);
		if (*p != ' ' || !host_ok(a, (size_t)(p - a), true))
			return fail(c, 400, "bad authority-form target");
		goto done;
	}
	if (*p == '*') {
		/* 2. asterisk-form, for OPTIONS only */
		if (req->method != HTTP_M_OPTIONS)
			return fail(c, 400, "asterisk-form is only for OPTIONS");
		NEED(c, p, 2);
		if (p[1] != ' ')
			return fail(c, 400, "bad asterisk-form target");
		req->target_form = HTTP_TARGET_ASTERISK;
		req->path.p = p++;
		req->path.n = 1;
		goto done;
	}
	if (*p != '/') {
		/* 3. absolute-form: http or https, "://", a non-empty authority */
		for (i = 0; i < 7; i++, p++) {
			NEED(c, p, 1);
			if (i == 4 && (*p | 0x20) == 's') {
				p++;
				NEED(c, p, 1);
			}
			if ((i < 4 ? *p | 0x20 : *p) != scheme[i])
				return fail(c, 400, "bad request target");
		}
		req->target_form = HTTP_TARGET_ABSOLUTE;
		for (a = p; p < c->stop && (CT(*p) & C_AUTH); p++)
			;
		NEED(c, p, 1);
		if (*p != '/' && *p != '?' && *p != ' ')
			return fail(c, 400, "bad character in request target");
		if (!host_ok(a, (size_t)(p - a), false))
			return fail(c, 400, "bad authority in request target");
		req->host.p = a;
		req->host.n = (size_t)(p - a);
		/* an empty path is "/": the one that ends "://" will do */
		req->path.p = a - 1;
		req->path.n = 1;
	}
	/* 4. path, then "?" query; "#", CTL, SP, DEL, >= 0x80 stop it */
	if (*p == '/') {
		req->path.p = p;
		if ((rc = uri_run(c, &p, C_PATH)) != 0)
			return rc;
		req->path.n = (size_t)(p - req->path.p);
	}
	if (*p == '?') {
		req->query.p = ++p;
		if ((rc = uri_run(c, &p, C_QUERY)) != 0)
			return rc;
		req->query.n = (size_t)(p - req->query.p);
	}
	if (*p != ' ')
		return fail(c, 400, *p == '\r' || *p == '\n' ?
		    "missing HTTP version" : "bad character in request target");
 done:
	req->target.n = (size_t)(p - req->target.p);
	*pp = p + 1;
	return 0;
}

/* Known methods by length, then bytes (case-sensitive, RFC 9110 §9.1). */
static enum http_method
method_lookup(const char *p, size_t n)
{
	static const uint8_t	 bylen[][6] = {
		[3] = { HTTP_M_GET, HTTP_M_PUT },
		[4] = { HTTP_M_HEAD, HTTP_M_POST, HTTP_M_COPY, HTTP_M_MOVE,
		    HTTP_M_LOCK },
		[5] = { HTTP_M_TRACE, HTTP_M_PATCH, HTTP_M_MKCOL },
		[6] = { HTTP_M_DELETE, HTTP_M_UNLOCK, HTTP_M_SEARCH,
		    HTTP_M_REPORT },
		[7] = { HTTP_M_CONNECT, HTTP_M_OPTIONS },
		[8] = { HTTP_M_PROPFIND },
		[9] = { HTTP_M_PROPPATCH },
	};
	const uint8_t		*m;

	if (n < 3 || n > 9)
		return HTTP_M_UNKNOWN;
	for (m = bylen[n]; *m != HTTP_M_UNKNOWN; m++)
		if (memcmp(p, mnames[*m], n) == 0)
			return (enum http_method)*m;
	return HTTP_M_UNKNOWN;
}

/* The request-line (RFC 9112 §3) at *pp, after any leading empty lines. */
static int
rq_line(struct pctx *c, const char **pp, struct http_request *req)
{
	const char	*p = *pp;
	int		 major, minor, rc;

	/* 1. method = token, then exactly one SP */
	req->method_str.p = p;
	while (p < c->stop && (CT(*p) & C_TCHAR))
		p++;
	NEED(c, p, 1);
	if (*p != ' ' || p == req->method_str.p)
		return fail(c, 400, "bad method");
	req->method_str.n = (size_t)(p - req->method_str.p);
	req->method = method_lookup(req->method_str.p, req->method_str.n);
	p++;
	/* 2. request-target, then exactly one SP */
	if ((rc = rq_target(c, &p, req)) != 0)
		return rc;
	/* 3. HTTP-version CRLF */
	if ((rc = version(c, p, &major, &minor)) != 0)
		return rc;
	if ((rc = crlf(c, p + 8, "bad HTTP version")) != 0)
		return rc;
	*pp = p + 10;
	/* 4. only now, with the line whole: version, then method */
	if (major != 1)
		return fail(c, 505, "HTTP version not supported");
	if (req->method == HTTP_M_UNKNOWN)
		return fail(c, 501, "method not implemented");
	req->minor = minor;
	return 0;
}

/*
 * The fields that frame a message (RFC 9112 §6): Connection, Content-Length
 * and Transfer-Encoding, alike for requests and responses but for one thing:
 * a response may repeat an identical Content-Length (RFC 9110 §8.6), a
 * request may not (rule 7).  Other fields are left alone.
 */
static int
frame_field(struct pctx *c, const struct http_header *h, int minor,
    unsigned *flags, int64_t *cl, struct facts *f, bool rq)
{
	const char	*p = h->value.p, *e = p + h->value.n;
	struct hstr	 el;
	int64_t		 v;
	int		 n;

	if (h->name.n == 10 && name_is(h->name, "connection")) {
		if (!conn_add(flags, h->value))
			return fail(c, 400, "bad Connection");
	} else if (h->name.n == 14 && name_is(h->name, "content-length")) {
		if (rq && (*flags & HTTP_F_HAS_CL))
			return fail(c, 400, "duplicate Content-Length");
		for (n = 0; rq ? n == 0 : httpparse_list_next(&p, e, &el); n++) {
			if (!httpparse_cl_parse(rq ? h->value : el, &v))
				return fail(c, 400, "bad Content-Length");
			if ((*flags & HTTP_F_HAS_CL) && v != *cl)
				return fail(c, 400,
				    "differing Content-Length values");
			*cl = v;
			*flags |= HTTP_F_HAS_CL;
		}
		if (n == 0)
			return fail(c, 400, "bad Content-Length");
	} else if (h->name.n == 17 && name_is(h->name, "transfer-encoding")) {
		if (minor == 0)
			return fail(c, 400, "Transfer-Encoding in HTTP/1.0");
		if (!te_add(f, h->value))
			return fail(c, 400, "bad Transfer-Encoding");
	}
	return 0;
}

/* Apply one field line of a request to req and f (rules 6-10). */
static int
rq_field(struct pctx *c, struct http_request *req, struct facts *f,
    const struct http_header *h)
{
	const char	*p = h->value.p, *e = p + h->value.n;
	struct hstr	 el;

	if (h->name.n == 4 && name_is(h->name, "host")) {
		if (++f->nhost > 1)
			return fail(c, 400, "duplicate Host");
		if (h->value.n == 0 ? req->minor >= 1 :
		    !host_ok(h->value.p, h->value.n, false))
			return fail(c, 400, "bad Host");
		if (req->target_form != HTTP_TARGET_ABSOLUTE)
			req->host = h->value;
	} else if (h->name.n == 6 && name_is(h->name, "expect")) {
		while (httpparse_list_next(&p, e, &el)) {
			if (el.n == 12 && hstr_eq_ci(el, "100-continue"))
				req->flags |= req->minor ? HTTP_F_EXPECT_100 : 0;
			else
				f->expect_bad = true;
		}
	}
	return frame_field(c, h, req->minor, &req->flags,
	    &req->content_length, f, true);
}

/* httpparse_request() proper; an error is left in c for it to report. */
static int
rq_parse(struct pctx *c, const char *buf, size_t len, struct http_request *req,
    const struct httpparse_limits *lim)
{
	struct lims	 l;
	struct facts	 f;
	const char	*p = buf;
	size_t		 rl;
	int		 n, rc;

	memset(req, 0, offsetof(struct http_request, headers));
	req->content_length = -1;
	memset(&f, 0, sizeof(f));
	getlims(&l, lim);
	bound(c, buf, len, l.hdr, 431, "header section too large");

	/* 1. skip up to 8 empty lines (RFC 9112 §2.2) */
	for (n = 0;; n++) {
		NEED(c, p, 1);
		if (*p == '\n')
			return fail(c, 400, "bare LF");
		if (*p != '\r')
			break;
		if (n == MAX_EMPTY_LINES)
			return fail(c, 400, "too many empty lines before request");
		if ((rc = crlf(c, p, "bare CR")) != 0)
			return rc;
		p += 2;
	}

	/* 2. request-line, 414 past max_request_line unless 431 comes first */
	rl = (size_t)(p - buf);
	rl = l.line > SIZE_MAX - rl ? SIZE_MAX : rl + l.line;
	if (rl <= l.hdr)
		bound(c, buf, len, rl, 414, "request line too long");
	if ((rc = rq_line(c, &p, req)) != 0)
		return rc;
	bound(c, buf, len, l.hdr, 431, "header section too large");

	/* 3. field lines, applying rules 6-10 to each */
	while ((rc = field_line(c, &p, &req->headers[req->nheaders],
	    req->nheaders, l.nhdr)) == 1) {
		if ((rc = rq_field(c, req, &f, &req->headers[req->nheaders++]))
		    != 0)
			return rc;
	}
	if (rc != 0)
		return rc;

	/* 4. what needs the whole section: Host, framing, expectations */
	if (f.nhost == 0 && req->minor >= 1)
		return fail(c, 400, "missing Host");
	if (f.te) {
		if (req->flags & HTTP_F_HAS_CL)
			return fail(c, 400,
			    "Transfer-Encoding with Content-Length");
		if (f.nchunked > 1)
			return fail(c, 400, "chunked applied twice");
		if (f.nchunked == 1 && !f.te_last)
			return fail(c, 400, "chunked is not the final coding");
		if (!f.te_other && f.nchunked == 0)
			return fail(c, 400, "empty Transfer-Encoding");
		if (f.te_other)
			return fail(c, 501, "transfer coding not implemented");
		req->flags |= HTTP_F_CHUNKED;
	}
	if (f.expect_bad)
		return fail(c, 417, "unsupported expectation");
	req->flags |= keepalive(req->flags, req->minor);
	req->header_len = (size_t)(p - buf);
	return (int)req->header_len;
}

int
httpparse_request(const char *buf, size_t len, struct http_request *req,
    const struct httpparse_limits *lim, int *status, const char **why)
{
	struct pctx	 c;
	int		 rc;

	rc = rq_parse(&c, buf, len, req, lim);
	if (rc == WEIR_ERROR) {
		*status = c.status;
		*why = c.why;
	}
	return rc;
}

size_t
httpparse_header_end(const char *buf, size_t len, size_t from)
{
	const char	*p = buf + (from < len ? from : len), *e = buf + len;
	const char	*q;

	while (e - p >= 4 && (q = memchr(p + 3, '\n', (size_t)(e - p - 3)))) {
		if (q[-1] == '\r' && q[-2] == '\n' && q[-3] == '\r')
			return (size_t)(q + 1 - buf);
		p = q - 2;
	}
	return 0;
}

/* httpparse_response() proper, like rq_parse(). */
static int
rs_parse(struct pctx *c, const char *buf, size_t len,
    struct http_response *res, const struct httpparse_limits *lim)
{
	struct lims	 l;
	struct facts	 f;
	const char	*p = buf;
	int		 major, rc;

	memset(res, 0, offsetof(struct http_response, headers));
	res->content_length = -1;
	memset(&f, 0, sizeof(f));
	getlims(&l, lim);
	bound(c, buf, len, l.line < l.hdr ? l.line : l.hdr, 400,
	    "status line too long");

	/* 1. status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] CRLF */
	if ((rc = version(c, p, &major, &res->minor)) != 0)
		return rc;
	p += 8;
	NEED(c, p, 1);
	if (*p++ != ' ')
		return fail(c, 400, "bad status line");
	for (res->status = 0; p - buf < 12; p++) {
		NEED(c, p, 1);
		if (!IS_DIGIT(*p) || (p - buf == 9 && *p == '0'))
			return fail(c, 400, "bad status code");
		res->status = res->status * 10 + (*p - '0');
	}
	/* the SP before an empty reason is often left out: allow that */
	NEED(c, p, 1);
	if (*p == ' ') {
		res->reason.p = ++p;
		while (p < c->stop && (CT(*p) & C_FVAL))
			p++;
		res->reason.n = (size_t)(p - res->reason.p);
	}
	if ((rc = crlf(c, p, "bad status line")) != 0)
		return rc;
	p += 2;
	if (major != 1)
		return fail(c, 400, "HTTP version not supported");
	bound(c, buf, len, l.hdr, 400, "header section too large");

	/* 2. field lines */
	while ((rc = field_line(c, &p, &res->headers[res->nheaders],
	    res->nheaders, l.nhdr)) == 1) {
		if ((rc = frame_field(c, &res->headers[res->nheaders++],
		    res->minor, &res->flags, &res->content_length, &f, false))
		    != 0)
			return rc;
	}
	if (rc != 0)
		return rc;

	/*
	 * 3. framing: chunked if final, else read until close.  Without either
	 * header, whether a body follows depends on the status and on the
	 * request method (RFC 9112 §6.3): the caller knows and decides.
	 */
	res->flags |= keepalive(res->flags, res->minor);
	if (f.te) {
		if (res->flags & HTTP_F_HAS_CL)
			return fail(c, 400,
			    "Transfer-Encoding with Content-Length");
		if (f.nchunked > 1)
			return fail(c, 400, "chunked applied twice");
		if (f.nchunked == 1 && f.te_last)
			res->flags |= HTTP_F_CHUNKED;
		else
			res->flags &= ~(unsigned)HTTP_F_KEEPALIVE;
	}
	res->header_len = (size_t)(p - buf);
	return (int)res->header_len;
}

int
httpparse_response(const char *buf, size_t len, struct http_response *res,
    const struct httpparse_limits *lim, const char **why)
{
	struct pctx	 c;
	int		 rc;

	rc = rs_parse(&c, buf, len, res, lim);
	if (rc == WEIR_ERROR)
		*why = c.why;
	return rc;
}

/*
 * Chunked decoder states, in grammar order (RFC 9112 §7.1): the chunk-size
 * line states come first so that one comparison tells them apart.
 */
enum {
	CS_SIZE = 0,	/* HEXDIG of chunk-size */
	CS_BWS_SEMI,	/* BWS that must lead to ";" */
	CS_EXT_NAME0,	/* BWS, then the first byte of an ext name */
	CS_EXT_NAME,	/* ext name; "=", ";", BWS or CR may follow */
	CS_BWS_EQ,	/* BWS after a name: "=" or ";" */
	CS_EXT_VAL0,	/* BWS, then a token or a quoted-string */
	CS_EXT_TOK,	/* token value */
	CS_EXT_QS,	/* inside a quoted-string */
	CS_EXT_QP,	/* after "\" in a quoted-string */
	CS_EXT_QEND,	/* after the closing DQUOTE */
	CS_SIZE_LF,	/* CR seen, LF must follow */
	CS_DATA,	/* chunk-data, d->left bytes to go */
	CS_DATA_CR,	/* CRLF after chunk-data */
	CS_DATA_LF,
	CS_TR_START,	/* start of a trailer line, or the final CRLF */
	CS_TR_NAME,	/* trailer field name */
	CS_TR_VAL,	/* trailer field value */
	CS_TR_LF,	/* CR seen in a trailer line */
	CS_END_LF,	/* CR of the final empty line seen */
	CS_DONE,
	CS_ERROR
};

/* The state after an ext name, token or quoted-string, given byte ch. */
static int
ext_next(unsigned char ch)
{
	if (ch == '\r')
		return CS_SIZE_LF;
	if (ch == ';')
		return CS_EXT_NAME0;
	if (IS_OWS(ch))
		return CS_BWS_SEMI;
	return CS_ERROR;
}

/*
 * One byte of the chunk-size line or of the trailer section: returns the
 * next state, or CS_ERROR with *why set (*why may be set in any case).
 */
static int
cs_byte(struct chunked_dec *d, unsigned char ch, const char **why)
{
	int	 st = d->state;

	if (ch == '\n' && st != CS_SIZE_LF && st != CS_TR_LF && st != CS_END_LF) {
		*why = "bare LF in chunked body";
		return CS_ERROR;
	}
	*why = st >= CS_TR_START ? "bad trailer field" : "bad chunk extension";
	switch (st) {
	case CS_SIZE:
		if (CT(ch) & C_HEX) {
			if (d->ndigits == 16) {
				*why = "chunk-size too long";
				return CS_ERROR;
			}
			if (d->left > (uint64_t)INT64_MAX >> 4) {
				*why = "chunk-size overflow";
				return CS_ERROR;
			}
			d->left = d->left << 4 | (uint64_t)hexval(ch);
			d->ndigits++;
			return CS_SIZE;
		}
		if (d->ndigits == 0) {
			*why = "bad chunk-size";
			return CS_ERROR;
		}
		return ext_next(ch);
	case CS_BWS_SEMI:
		return IS_OWS(ch) ? st : ch == ';' ? CS_EXT_NAME0 : CS_ERROR;
	case CS_EXT_NAME0:
		return IS_OWS(ch) ? st : CT(ch) & C_TCHAR ? CS_EXT_NAME :
		    CS_ERROR;
	case CS_EXT_NAME:
		if (CT(ch) & C_TCHAR)
			return st;
		if (ch == '=')
			return CS_EXT_VAL0;
		return IS_OWS(ch) ? CS_BWS_EQ : ext_next(ch);
	case CS_BWS_EQ:
		if (IS_OWS(ch))
			return st;
		return ch == '=' ? CS_EXT_VAL0 : ch == ';' ? CS_EXT_NAME0 :
		    CS_ERROR;
	case CS_EXT_VAL0:
		if (IS_OWS(ch))
			return st;
		return ch == '"' ? CS_EXT_QS : CT(ch) & C_TCHAR ? CS_EXT_TOK :
		    CS_ERROR;
	case CS_EXT_TOK:
		return CT(ch) & C_TCHAR ? st : ext_next(ch);
	case CS_EXT_QS:
		if (ch == '"')
			return CS_EXT_QEND;
		if (ch == '\\')
			return CS_EXT_QP;
		return CT(ch) & C_QDTEXT ? st : CS_ERROR;
	case CS_EXT_QP:
		return CT(ch) & C_FVAL ? CS_EXT_QS : CS_ERROR;
	case CS_EXT_QEND:
		return ext_next(ch);
	case CS_SIZE_LF:
	case CS_TR_LF:
	case CS_END_LF:
		if (ch != '\n') {
			*why = "bare CR in chunked body";
			return CS_ERROR;
		}
		if (st == CS_TR_LF)
			return CS_TR_START;
		if (st == CS_END_LF)
			return CS_DONE;
		d->line = 0;
		return d->left ? CS_DATA : CS_TR_START;
	case CS_TR_START:
		if (ch == '\r')
			return CS_END_LF;
		if (IS_OWS(ch))
			*why = "obs-fold in trailer section";
		return CT(ch) & C_TCHAR ? CS_TR_NAME : CS_ERROR;
	case CS_TR_NAME:
		return CT(ch) & C_TCHAR ? st : ch == ':' ? CS_TR_VAL : CS_ERROR;
	case CS_TR_VAL:
		return CT(ch) & C_FVAL ? st : ch == '\r' ? CS_TR_LF : CS_ERROR;
	}
	return CS_ERROR;
}

/*
 * Copy a byte of a trailer line.  The buffer holds the whole section's limit
 * (maxt), which trailer_bytes has already been checked against.
 */
static int
keep_byte(struct chunked_dec *d, char ch, size_t maxt)
{
	if (d->trailers == NULL && (d->trailers = malloc(maxt)) == NULL)
		return -1;
	d->trailers[d->trailers_len++] = ch;
	return 0;
}

int
httpparse_chunked(struct chunked_dec *d, char *buf, size_t len,
    size_t *out, size_t *consumed, const char **why)
{
	size_t		 i = 0, o = 0, n;
	size_t		 maxl = d->max_line ? d->max_line : DEF_CHUNK_LINE;
	size_t		 maxt = d->max_trailer ? d->max_trailer : DEF_TRAILER;
	const char	*err;
	unsigned char	 ch;
	int		 st;

	if (d->state == CS_DONE) {
		*out = *consumed = 0;
		return 1;
	}
	if (d->state == CS_ERROR) {
		*out = *consumed = 0;
		*why = "chunked decoder already failed";
		return WEIR_ERROR;
	}
	while (i < len) {
		switch (d->state) {
		case CS_DATA:
			/* 1. chunk-data moves down over what has been decoded */
			n = len - i;
			if (n > d->left)
				n = (size_t)d->left;
			if (o != i)
				memmove(buf + o, buf + i, n);
			o += n;
			i += n;
			if ((d->left -= n) == 0)
				d->state = CS_DATA_CR;
			continue;
		case CS_DATA_CR:
		case CS_DATA_LF:
			/* 2. the CRLF that must end chunk-data */
			if (buf[i++] != (d->state == CS_DATA_CR ? '\r' : '\n')) {
				*why = "missing CRLF after chunk data";
				goto bad;
			}
			if (d->state++ == CS_DATA_LF) {
				d->state = CS_SIZE;
				d->ndigits = 0;
			}
			continue;
		}
		/* 3. a byte of a chunk-size line or of the trailer section */
		ch = (unsigned char)buf[i++];
		if (d->state < CS_DATA && ++d->line > maxl) {
			*why = "chunk-size line too long";
			goto bad;
		}
		if (d->state >= CS_TR_START && ++d->trailer_bytes > maxt) {
			*why = "trailer section too large";
			goto bad;
		}
		if ((st = cs_byte(d, ch, &err)) == CS_ERROR) {
			*why = err;
			goto bad;
		}
		/* 4. a trailer line's byte, kept when asked (not the final CRLF) */
		if (d->keep_trailers && d->state >= CS_TR_START && d->state <= CS_TR_LF &&
		    st != CS_END_LF && keep_byte(d, (char)ch, maxt) == -1) {
			*why = "out of memory";
			goto bad;
		}
		d->state = (uint8_t)st;
		if (st == CS_DONE)
			break;
	}
	*out = o;
	*consumed = i;
	return d->state == CS_DONE;
 bad:
	d->state = CS_ERROR;
	*out = o;
	*consumed = i;
	return WEIR_ERROR;
}

void
httpparse_chunked_init(struct chunked_dec *d)
{
	memset(d, 0, sizeof(*d));
	d->max_line = DEF_CHUNK_LINE;
	d->max_trailer = DEF_TRAILER;
}

void
httpparse_chunked_free(struct chunked_dec *d)
{
	free(d->trailers);
	d->trailers = NULL;
	d->trailers_len = 0;
}


/*
 * Most bytes compared are equal as they are (names come as the literal
 * is spelled, or lowercase): only a byte that differs is looked at again,
 * and it matches only as the other case of the same letter.
 */
bool
hstr_eq_ci(struct hstr s, const char *lit)
{
	size_t	 i;

	for (i = 0; i < s.n; i++) {
		unsigned char a = (unsigned char)s.p[i], b = (unsigned char)lit[i];

		if (a != b && (b == '\0' || (a | 0x20) != (b | 0x20) ||
		    (unsigned char)((a | 0x20) - 'a') > 'z' - 'a'))
			return false;
	}
	return lit[i] == '\0';
}

const struct http_header *
httpparse_find(const struct http_header *h, size_t n, const char *name)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (hstr_eq_ci(h[i].name, name))
			return &h[i];
	return NULL;
}

const char *
httpparse_method_name(enum http_method m)
{
	if ((unsigned)m >= HTTP_M__COUNT)
		return "";
	return mnames[m];
}

/* The reason phrase for a status line (RFC 9110 §15); a class name otherwise. */
const char *
http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default:
		break;
	}
	return status < 200 ? "Informational" : status < 300 ? "Success" :
	    status < 400 ? "Redirection" : status < 500 ? "Client Error" :
	    "Server Error";
}
