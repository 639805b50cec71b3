/*
 * range.c - Range requests (RFC 9110 §14): parse a Range header against the
 * representation's size, and the framing of multipart/byteranges bodies.
 *
 * Pure: no I/O, no allocation.  The static-file handler calls range_parse()
 * for a GET with a Range header once cond_evaluate() said ranges apply, then
 * either sends one part as a plain 206, or for several parts interleaves
 * range_part_header(), the file data and range_multipart_trailer(), having
 * announced range_multipart_length() as the Content-Length.
 */
#include "frontend.h"

#include <string.h>
#include <strings.h>

#define OWS(c)		((c) == ' ' || (c) == '\t')
#define ISDIGIT(c)	((c) >= '0' && (c) <= '9')

/* A parsed number: its value saturated at UINT64_MAX, and its digits. */
struct num {
	uint64_t	 v;
	const char	*d;
	size_t		 nd;
};

/* 1*DIGIT at *p; saturates instead of overflowing.  0 or -1 (no digit). */
static int
num_parse(const char **p, const char *end, struct num *x)
{
	const char	*s = *p;
	unsigned	 dv;

	x->v = 0;
	for (; *p < end && ISDIGIT(**p); (*p)++) {
		dv = (unsigned)(**p - '0');
		if (x->v > (UINT64_MAX - dv) / 10)
			x->v = UINT64_MAX;
		else
			x->v = x->v * 10 + dv;
	}
	x->d = s;
	x->nd = (size_t)(*p - s);
	return x->nd > 0 ? 0 : -1;
}

/* a > b, exactly, even when both saturated. */
static bool
num_gt(const struct num *a, const struct num *b)
{
	const char	*ad = a->d, *bd = b->d;
	size_t		 an = a->nd, bn = b->nd;
	int		 c;

	if (a->v != UINT64_MAX || b->v != UINT64_MAX)
		return a->v > b->v;
	for (; an > 1 && *ad == '0'; ad++, an--)
		;
	for (; bn > 1 && *bd == '0'; bd++, bn--)
		;
	if (an != bn)
		return an > bn;
	c = memcmp(ad, bd, an);
	return c > 0;
}

/* a and b overlap or touch (a.last + 1 == b.first); both end below size. */
static bool
mergeable(const struct byte_range *a, const struct byte_range *b)
{
	return a->first <= b->last + 1 && b->first <= a->last + 1;
}

/* Insertion sort by first byte; out[] never holds more than max ranges. */
static void
sort_ranges(struct byte_range *r, int n)
{
	struct byte_range	 t;
	int			 i, j;

	for (i = 1; i < n; i++) {
		t = r[i];
		for (j = i; j > 0 && r[j - 1].first > t.first; j--)
			r[j] = r[j - 1];
		r[j] = t;
	}
}

/*
 * Add one satisfiable range to out[0..*nr).  While no two ranges overlap or
 * touch, request order is kept; the first time one does, the set is sorted
 * and from then on kept ascending and coalesced (RFC 9110 §14.2 allows both;
 * coalescing defeats "bytes=0-,0-,0-..." amplification).  Returns -1 when
 * the set would need more than max ranges.  That is decided as ranges
 * arrive, so a later range that would bridge earlier ones does not rescue a
 * set that went past max: the header is then ignored, which is always
 * allowed.
 */
static int
add_range(struct byte_range *out, int *nr, int max, bool *sorted,
    struct byte_range r)
{
	int	 i, j, k;

	if (!*sorted) {
		for (i = 0; i < *nr && !mergeable(&out[i], &r); i++)
			;
		if (i == *nr) {
			if (*nr == max)
				return -1;
			out[(*nr)++] = r;
			return 0;
		}
		sort_ranges(out, *nr);
		*sorted = true;
	}

	/* out[i..j) are the ranges r absorbs */
	for (i = 0; i < *nr && out[i].last + 1 < r.first; i++)
		;
	for (j = i; j < *nr && out[j].first <= r.last + 1; j++) {
		if (out[j].first < r.first)
			r.first = out[j].first;
		if (out[j].last > r.last)
			r.last = out[j].last;
	}
	if (i == j) {
		if (*nr == max)
			return -1;
		memmove(&out[i + 1], &out[i], (size_t)(*nr - i) * sizeof(*out));
		(*nr)++;
	} else if (j > i + 1) {
		k = j - i - 1;
		memmove(&out[i + 1], &out[j], (size_t)(*nr - j) * sizeof(*out));
		*nr -= k;
	}
	out[i] = r;
	return 0;
}

/*
 * Parse a Range field value v[0..n) for a representation of `size` bytes.
 *
 * Returns the number of satisfiable ranges written to out[0..max) (> 0):
 * serve 206.  Returns 0 when the header must be ignored -- another unit, a
 * syntax error anywhere, or more than max ranges even after coalescing --
 * serve 200.  Returns -1 when it is valid but no range is satisfiable --
 * serve 416 with an unsatisfied-range Content-Range (§14.4).  Numbers too
 * big for 64 bits are valid: they saturate, which is past any size.
 */
int
range_parse(const char *v, size_t n, uint64_t size, struct byte_range *out,
    int max)
{
	const char		*p = v, *end = v + n;
	struct num		 a, b;
	struct byte_range	 r = { 0, 0 };
	int			 nr = 0, nelem = 0;
	bool			 sorted = false, sat;

	if (max < 1)
		return 0;

	/* 1. range-unit "=": only "bytes", case-insensitive (§14.1) */
	if (n < 6 || strncasecmp(v, "bytes=", 6) != 0)
		return 0;
	p += 6;

	/*
	 * 2. range-set = 1#range-spec: OWS only around commas, empty list
	 * elements ignored (RFC 9110 §5.6.1.2)
	 */
	while (p < end) {
		if (*p == ',') {
			for (p++; p < end && OWS(*p); p++)
				;
			continue;
		}
		if (*p == '-') {
			/* 3. suffix-range = "-" suffix-length (§14.1.1) */
			p++;
			if (num_parse(&p, end, &b) == -1)
				return 0;
			sat = size > 0 && b.v > 0;
			if (sat) {
				r.first = b.v >= size ? 0 : size - b.v;
				r.last = size - 1;
			}
		} else {
			/* 4. int-range = first-pos "-" [ last-pos ] */
			if (num_parse(&p, end, &a) == -1 || p == end ||
			    *p++ != '-')
				return 0;
			if (p < end && ISDIGIT(*p)) {
				(void)num_parse(&p, end, &b);
				/* last < first makes the header invalid */
				if (num_gt(&a, &b))
					return 0;
			} else
				b.v = UINT64_MAX;
			sat = a.v < size;
			if (sat) {
				r.first = a.v;
				r.last = b.v >= size ? size - 1 : b.v;
			}
		}
		nelem++;
		/* 5. only satisfiable ranges are served (§14.1.1) */
		if (sat && add_range(out, &nr, max, &sorted, r) == -1)
			return 0;

		/* 6. OWS "," or the end */
		for (; p < end && OWS(*p); p++)
			;
		if (p < end && *p != ',')
			return 0;
	}
	if (nelem == 0)
		return 0;
	return nr > 0 ? nr : -1;
}

/* A bounded appender: the buffer, its size, the length so far. */
struct buf {
	char	*p;
	size_t	 sz, len;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	if (b->p != NULL && b->len + n < b->sz)
		memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
put_str(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void
put_u64(struct buf *b, uint64_t v)
{
	char	 d[20];
	size_t	 i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	put(b, d + i, sizeof(d) - i);
}

/*
 * Finish b: NUL-terminate and return the length, or 0 when it did not fit.
 * With b->p == NULL it only measures.
 */
static size_t
finish(struct buf *b)
{
	if (b->p == NULL)
		return b->len;
	if (b->len >= b->sz) {
		if (b->sz > 0)
			b->p[0] = '\0';
		return 0;
	}
	b->p[b->len] = '\0';
	return b->len;
}

static size_t
part_header(char *out, size_t outsz, const char *boundary, const char *ctype,
    const struct byte_range *r, uint64_t size)
{
	struct buf	 b = { out, outsz, 0 };

	put_str(&b, "\r\n--");
	put_str(&b, boundary);
	if (ctype != NULL) {
		put_str(&b, "\r\nContent-Type: ");
		put_str(&b, ctype);
	}
	put_str(&b, "\r\nContent-Range: bytes ");
	put_u64(&b, r->first);
	put_str(&b, "-");
	put_u64(&b, r->last);
	put_str(&b, "/");
	put_u64(&b, size);
	put_str(&b, "\r\n\r\n");
	return finish(&b);
}

static size_t
trailer(char *out, size_t outsz, const char *boundary)
{
	struct buf	 b = { out, outsz, 0 };

	put_str(&b, "\r\n--");
	put_str(&b, boundary);
	put_str(&b, "--\r\n");
	return finish(&b);
}

/*
 * The header of one part of a multipart/byteranges body (RFC 9110 §14.6):
 * "\r\n--BOUNDARY\r\nContent-Type: CT\r\nContent-Range: bytes F-L/SIZE\r\n\r\n"
 * (no Content-Type line when ctype is NULL).  The leading CRLF belongs to the
 * delimiter (RFC 2046 §5.1.1), so the first part may start the body.
 * Returns the length, not counting the NUL written after it, or 0 when that
 * does not fit in outsz.
 */
size_t
range_part_header(char *out, size_t outsz, const char *boundary,
    const char *ctype, const struct byte_range *r, uint64_t size)
{
	if (out == NULL)
		return 0;
	return part_header(out, outsz, boundary, ctype, r, size);
}

/* The close delimiter "\r\n--BOUNDARY--\r\n"; same convention. */
size_t
range_multipart_trailer(char *out, size_t outsz, const char *boundary)
{
	if (out == NULL)
		return 0;
	return trailer(out, outsz, boundary);
}

/*
 * The exact Content-Length of the multipart/byteranges body made of the nr
 * ranges r: every part header, the data, and the close delimiter.  It is
 * measured with the very code that writes them, so they cannot disagree.
 */
uint64_t
range_multipart_length(const char *boundary, const char *ctype,
    const struct byte_range *r, int nr, uint64_t size)
{
	uint64_t	 total = 0;
	int		 i;

	for (i = 0; i < nr; i++) {
		total += part_header(NULL, 0, boundary, ctype, &r[i], size);
		total += r[i].last - r[i].first + 1;
	}
	return total + trailer(NULL, 0, boundary);
}
