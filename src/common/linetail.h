/*
 * linetail.h - the last lines of a process's output.
 *
 * A linering keeps the last LINETAIL_MAX lines (each cut to LINETAIL_LINE
 * bytes) for the event that reports how a process ended: the workers' (fed
 * line by line by poollog.c, which splits their output for the pool log)
 * and the front end's.  Output arrives in chunks that do not respect
 * lines; a linetail splits it into its ring (a line longer than
 * LINETAIL_LINE is cut there and the rest starts a new one).  The owner
 * frees them with linering_clear() / linetail_clear().
 */
#ifndef WEIR_LINETAIL_H
#define WEIR_LINETAIL_H

#include <stddef.h>

#include <jansson.h>

#define LINETAIL_MAX	20
#define LINETAIL_LINE	1024

struct linering {
	char		*line[LINETAIL_MAX];	/* NULL where unused */
	unsigned	 next;			/* where the next line goes */
};

void		 linering_add(struct linering *r, const char *s, size_t n);
void		 linering_clear(struct linering *r);
const char	*linering_get(const struct linering *r, unsigned i);	/* i-th oldest, or NULL */
const char	*linering_last(const struct linering *r);	/* NULL when empty */
json_t		*linering_json(const struct linering *r);	/* oldest first */

struct linetail {
	struct linering	 ring;
	char		 partial[LINETAIL_LINE];	/* a line not yet ended */
	size_t		 npartial;
};

void		 linetail_feed(struct linetail *lt, const char *buf, size_t n);
void		 linetail_flush(struct linetail *lt);	/* keep an unended line too */
void		 linetail_clear(struct linetail *lt);

#endif
