/*
 * linetail.c - keep the last lines of a process's output (linetail.h).
 */
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "linetail.h"

static void
keep(struct linetail *lt, const char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	free(lt->line[lt->next]);
	lt->line[lt->next] = xstrndup(s, n);
	lt->next = (lt->next + 1) % LINETAIL_MAX;
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
	for (unsigned i = 0; i < LINETAIL_MAX; i++) {
		free(lt->line[i]);
		lt->line[i] = NULL;
	}
	lt->next = 0;
	lt->npartial = 0;
}

json_t *
linetail_json(const struct linetail *lt)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < LINETAIL_MAX; i++) {
		const char *l = lt->line[(lt->next + i) % LINETAIL_MAX];

		if (l != NULL)
			json_array_append_new(a, json_string(l));
	}
	return a;
}

const char *
linetail_last(const struct linetail *lt)
{
	return lt->line[(lt->next + LINETAIL_MAX - 1) % LINETAIL_MAX];
}
