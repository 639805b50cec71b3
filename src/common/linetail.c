/*
 * linetail.c - keep the last lines of a process's output (linetail.h).
 */
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "linetail.h"

/* Keep a line (its first LINETAIL_LINE bytes), dropping the oldest. */
void
linering_add(struct linering *r, const char *s, size_t n)
{
	free(r->line[r->next]);
	r->line[r->next] = xstrndup(s, WEIR_MIN(n, (size_t)LINETAIL_LINE));
	r->next = (r->next + 1) % LINETAIL_MAX;
}

void
linering_clear(struct linering *r)
{
	for (unsigned i = 0; i < LINETAIL_MAX; i++) {
		free(r->line[i]);
		r->line[i] = NULL;
	}
	r->next = 0;
}

const char *
linering_get(const struct linering *r, unsigned i)
{
	return i < LINETAIL_MAX ? r->line[(r->next + i) % LINETAIL_MAX] : NULL;
}

const char *
linering_last(const struct linering *r)
{
	return linering_get(r, LINETAIL_MAX - 1);
}

json_t *
linering_json(const struct linering *r)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < LINETAIL_MAX; i++) {
		const char *l = linering_get(r, i);

		if (l != NULL)
			json_array_append_new(a, json_string(l));
	}
	return a;
}

/* A complete line into the ring, without its line ending. */
static void
keep(struct linetail *lt, const char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	linering_add(&lt->ring, s, n);
}

/* Append to the unended line; a full one is kept as it is. */
static void
extend(struct linetail *lt, const char *s, size_t n)
{
	while (n > 0) {
		size_t k = WEIR_MIN(n, sizeof(lt->partial) - lt->npartial);

		memcpy(lt->partial + lt->npartial, s, k);
		lt->npartial += k;
		s += k;
		n -= k;
		if (lt->npartial == sizeof(lt->partial))
			linetail_flush(lt);
	}
}

void
linetail_feed(struct linetail *lt, const char *buf, size_t n)
{
	const char *nl;

	while (n > 0 && (nl = memchr(buf, '\n', n)) != NULL) {
		size_t k = (size_t)(nl - buf);

		extend(lt, buf, k);
		/* an empty line is kept; one that just filled a piece is already */
		if (lt->npartial > 0 || k == 0) {
			keep(lt, lt->partial, lt->npartial);
			lt->npartial = 0;
		}
		buf = nl + 1;
		n -= k + 1;
	}
	extend(lt, buf, n);
}

void
linetail_flush(struct linetail *lt)
{
	if (lt->npartial == 0)
		return;
	keep(lt, lt->partial, lt->npartial);
	lt->npartial = 0;
}

void
linetail_clear(struct linetail *lt)
{
	linering_clear(&lt->ring);
	lt->npartial = 0;
}
