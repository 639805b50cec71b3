/*
 * linetail.h - the last lines of a process's output.
 *
 * Output arrives in chunks that do not respect lines; linetail splits it
 * and keeps the last LINETAIL_MAX complete lines (a line longer than
 * LINETAIL_LINE is cut there and the rest starts a new one), for the event
 * that reports how the process ended.  The owner frees it with
 * linetail_clear().
 */
#ifndef WEIR_LINETAIL_H
#define WEIR_LINETAIL_H

#include <stddef.h>

#include <jansson.h>

#define LINETAIL_MAX	20
#define LINETAIL_LINE	1024

struct linetail {
	char		*line[LINETAIL_MAX];	/* a ring; NULL where unused */
	unsigned	 next;			/* where the next line goes */
	char		 partial[LINETAIL_LINE];	/* a line not yet ended */
	size_t		 npartial;
};

void		 linetail_feed(struct linetail *lt, const char *buf, size_t n);
void		 linetail_flush(struct linetail *lt);	/* keep an unended line too */
void		 linetail_clear(struct linetail *lt);
json_t		*linetail_json(const struct linetail *lt);	/* oldest first */
const char	*linetail_last(const struct linetail *lt);	/* NULL when empty */

#endif
