/*
 * cond.c - conditional requests (RFC 9110 §13) and entity tags (§8.8.3).
 *
 * The static-file handler fills a struct cond_input from the request and the
 * file's stat, and asks cond_evaluate() whether to proceed, answer 304 or
 * 412, and whether a Range header may be honoured.  Pure: no I/O.
 */
#include "frontend.h"

#include <string.h>

#define OWS(c)		((c) == ' ' || (c) == '\t')

/* An entity-tag found in a header: its opaque-tag (quotes included). */
struct etag {
	const char	*p;
	size_t		 n;
	bool		 weak;
};

/* etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3) */
static bool
etagc(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

/*
 * entity-tag = [ weak ] opaque-tag, weak = %s"W/", opaque-tag = DQUOTE
 * *etagc DQUOTE, at *p.  Advances *p past it; false when malformed.
 */
static bool
etag_parse(const char **p, const char *end, struct etag *t)
{
	const char	*s = *p;

	t->weak = false;
	if (end - s >= 2 && s[0] == 'W' && s[1] == '/') {
		t->weak = true;
		s += 2;
	}
	if (s == end || *s != '"')
		return false;
	t->p = s++;
	while (s < end && etagc((unsigned char)*s))
		s++;
	if (s == end || *s != '"')
		return false;
	t->n = (size_t)(++s - t->p);
	*p = s;
	return true;
}

/* The representation's own tag, as struct etag (strong, quoted). */
static bool
own_tag(const struct cond_input *in, struct etag *t)
{
	if (in->etag == NULL || in->etag_len < 2)
		return false;
	t->p = in->etag;
	t->n = in->etag_len;
	t->weak = false;
	return true;
}

/*
 * Strong comparison: both tags strong and their opaque-tags identical; weak
 * comparison: opaque-tags identical (RFC 9110 §8.8.3.2).
 */
static bool
tag_eq(const struct etag *a, const struct etag *b, bool strong)
{
	if (strong && (a->weak || b->weak))
		return false;
	return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

/*
 * Does the field value v ("*" / #entity-tag) match the representation?
 * "*" matches any current representation; otherwise any listed tag that
 * compares equal.  Empty list elements and OWS around commas are allowed
 * (RFC 9110 §5.6.1.2).  A malformed value matches nothing, whatever tags
 * came before the error.
 */
static bool
tag_list_match(struct hstr v, const struct cond_input *in, bool strong)
{
	const char	*p = v.p, *end = v.p + v.n;
	struct etag	 t, own;
	bool		 have_own, match = false;

	/* 1. trim OWS, as a field value is (the caller may have done so) */
	while (p < end && OWS(*p))
		p++;
	while (end > p && OWS(end[-1]))
		end--;

	/* 2. "*" alone */
	if (end - p == 1 && *p == '*')
		return true;

	/* 3. 1#entity-tag: OWS "," OWS between elements, empty ones ignored */
	have_own = own_tag(in, &own);
	while (p < end) {
		if (*p != ',') {
			if (!etag_parse(&p, end, &t))
				return false;
			if (have_own && tag_eq(&t, &own, strong))
				match = true;
			while (p < end && OWS(*p))
				p++;
			if (p == end)
				break;
			if (*p != ',')
				return false;
		}
		for (p++; p < end && OWS(*p); p++)
			;
	}
	return match;
}

/* An HTTP-date header value, or false when it is not a valid one. */
static bool
date_value(struct hstr v, time_t *t)
{
	return httpdate_parse(v.p, v.n, t) == 0;
}

/*
 * If-Range = entity-tag / HTTP-date (RFC 9110 §13.1.5): a single tag, which
 * must be strong and match strongly; or a date equal to Last-Modified.
 */
static bool
if_range_match(const struct cond_input *in)
{
	const char	*p = in->if_range.p, *end = p + in->if_range.n;
	struct etag	 t, own;
	time_t		 d;

	/* 1. a DQUOTE in the first three characters: an entity-tag */
	if (in->if_range.n >= 1 && (*p == '"' ||
	    (in->if_range.n >= 3 && p[0] == 'W' && p[1] == '/'))) {
		if (!etag_parse(&p, end, &t) || p != end)
			return false;
		return own_tag(in, &own) && tag_eq(&t, &own, true);
	}
	/* 2. else a date, equal to Last-Modified */
	return date_value(in->if_range, &d) && d == in->mtime;
}

/*
 * Evaluate the preconditions of a request for a static representation whose
 * strong ETag and Last-Modified are in *in, in the order RFC 9110 §13.2.2
 * gives.  Returns 0 to proceed, 304 (Not Modified) or 412 (Precondition
 * Failed).  *use_range says whether a Range header (the caller knows if
 * there is one) may be honoured: only for GET (§14.2), and only when
 * If-Range, if present, matches.
 */
int
cond_evaluate(const struct cond_input *in, bool *use_range)
{
	bool	 get_head = in->method == HTTP_M_GET ||
		    in->method == HTTP_M_HEAD;
	time_t	 d;

	*use_range = false;

	/* 1. If-Match: strong comparison; false -> 412 */
	if (in->if_match.p != NULL) {
		if (!tag_list_match(in->if_match, in, true))
			return 412;
	}
	/* 2. else If-Unmodified-Since: modified after the date -> 412 */
	else if (in->if_unmodified_since.p != NULL &&
	    date_value(in->if_unmodified_since, &d) && in->mtime > d)
		return 412;

	/* 3. If-None-Match: weak comparison; a match -> 304 or 412 */
	if (in->if_none_match.p != NULL) {
		if (tag_list_match(in->if_none_match, in, false))
			return get_head ? 304 : 412;
	}
	/* 4. else If-Modified-Since, GET/HEAD only: not modified -> 304 */
	else if (get_head && in->if_modified_since.p != NULL &&
	    date_value(in->if_modified_since, &d) && in->mtime <= d)
		return 304;

	/* 5. If-Range, for GET only (a Range on another method is ignored) */
	if (in->method == HTTP_M_GET)
		*use_range = in->if_range.p == NULL || if_range_match(in);
	return 0;
}

static size_t
hex(char *p, uint64_t v)
{
	char	 d[16];
	size_t	 i = sizeof(d);

	do {
		d[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v != 0);
	memcpy(p, d + i, sizeof(d) - i);
	return sizeof(d) - i;
}

/*
 * A strong entity-tag for a file from its mtime (seconds and nanoseconds)
 * and size, in hex: "6740a1b2.1a2b3c-400".  Any write through rename or
 * in-place edit changes it, within the file system's timestamp resolution.
 * Writes it NUL-terminated and returns its length (< ETAG_MAX), or 0 when
 * outsz is too small.
 */
size_t
etag_make(char *out, size_t outsz, const struct stat *st)
{
	char	 t[ETAG_MAX];
	size_t	 n = 0;

	t[n++] = '"';
	n += hex(t + n, (uint64_t)st->st_mtim.tv_sec);
	t[n++] = '.';
	n += hex(t + n, (uint32_t)st->st_mtim.tv_nsec);	/* < 10^9 */
	t[n++] = '-';
	n += hex(t + n, (uint64_t)st->st_size);
	t[n++] = '"';
	if (n >= outsz) {
		if (outsz > 0)
			out[0] = '\0';
		return 0;
	}
	memcpy(out, t, n);
	out[n] = '\0';
	return n;
}
