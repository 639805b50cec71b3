/*
 * trailers.c - the trailer field filter (see trailers.h for what and why).
 *
 * Pure functions on bytes the parser has validated: used by the pool proxy
 * (request trailers to a worker, response trailers to an HTTP/1.1 client)
 * and by HTTP/2 streams (trailing HEADERS).  The list follows RFC 9110
 * §6.5.1's kinds of fields that must not be trusted or acted on after the
 * content; h2o and Apache httpd drop much the same set.
 */
#include <string.h>

#include "util.h"
#include "trailers.h"

static const char *const forbidden[] = {
	/* framing and connection-specific (RFC 9112 §7.1.2, RFC 9113 §8.2.2) */
	"content-length", "transfer-encoding", "trailer", "te", "connection",
	"keep-alive", "proxy-connection", "upgrade",
	/* routing and request modifiers (controls, conditionals, range) */
	"host", "cache-control", "expect", "max-forwards", "pragma", "range",
	"if-match", "if-none-match", "if-modified-since", "if-unmodified-since",
	"if-range",
	/* authentication and cookies */
	"authorization", "proxy-authorization", "www-authenticate",
	"proxy-authenticate", "cookie", "set-cookie",
	/* response control data and content handling */
	"age", "date", "expires", "location", "retry-after", "vary", "warning",
	"content-encoding", "content-type", "content-range",
	/* what weir itself tells a worker */
	"forwarded",
};

/* Prefixes of weir's own fields for a worker. */
static const char *const forbidden_prefix[] = { "x-forwarded-", "x-tls-" };

bool
trailers_forbidden(struct hstr name)
{
	if (name.n == 0 || name.p[0] == ':')
		return true;	/* pseudo-fields belong to the header block only */
	for (size_t i = 0; i < nitems(forbidden); i++)
		if (hstr_eq_ci(name, forbidden[i]))
			return true;
	for (size_t i = 0; i < nitems(forbidden_prefix); i++) {
		struct hstr head = { name.p, strlen(forbidden_prefix[i]) };

		if (name.n >= head.n && hstr_eq_ci(head, forbidden_prefix[i]))
			return true;
	}
	return false;
}

static bool
is_ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

size_t
trailers_filter(char *buf, size_t n, unsigned flags)
{
	size_t in = 0, out = 0;

	while (in < n) {
		const char *line = buf + in, *eol, *colon;
		struct hstr name, value;
		size_t len;

		/* 1. the line, without its CRLF (the last may lack one) */
		if ((eol = memchr(line, '\n', n - in)) == NULL)
			break;	/* not a whole line: never from the parser */
		len = (size_t)(eol - line) + 1;
		in += len;
		name.p = line;
		if (len < 2 || eol[-1] != '\r' || (colon = memchr(line, ':', len)) == NULL)
			continue;	/* CRLF lines only: the output is never longer */
		name.n = (size_t)(colon - line);
		value.p = colon + 1;
		value.n = (size_t)(line + len - value.p);
		/* 2. the value without surrounding whitespace and line end */
		value.n -= 2;	/* CRLF */
		while (value.n > 0 && is_ows(value.p[value.n - 1]))
			value.n--;
		while (value.n > 0 && is_ows(value.p[0])) {
			value.p++;
			value.n--;
		}
		/* 3. forwarded or not */
		if (trailers_forbidden(name))
			continue;
		if ((flags & TRAILERS_NO_UNDERSCORE) && memchr(name.p, '_', name.n) != NULL)
			continue;
		/* 4. written lowercase; out never passes the line being read */
		for (size_t k = 0; k < name.n; k++) {
			char ch = name.p[k];

			buf[out++] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
		}
		buf[out++] = ':';
		memmove(buf + out, value.p, value.n);
		out += value.n;
		buf[out++] = '\r';
		buf[out++] = '\n';
	}
	return out;
}

bool
trailers_next(const char **p, const char *end, struct hstr *name, struct hstr *value)
{
	const char *s = *p, *colon, *eol;

	if (s >= end || (colon = memchr(s, ':', (size_t)(end - s))) == NULL ||
	    (eol = memchr(colon, '\r', (size_t)(end - colon))) == NULL)
		return false;
	name->p = s;
	name->n = (size_t)(colon - s);
	value->p = colon + 1;
	value->n = (size_t)(eol - value->p);
	*p = eol + 2 <= end ? eol + 2 : end;
	return true;
}

bool
trailers_te(struct hstr value)
{
	const char *v = value.p, *e = value.p + value.n;
	struct hstr el;

	while (httpparse_list_next(&v, e, &el))
		if (hstr_eq_ci(el, "trailers"))
			return true;
	return false;
}
