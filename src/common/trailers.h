/*
 * trailers.h - which trailer fields weir forwards, and in what form.
 *
 * A trailer section (RFC 9110 §6.5) arrives as field lines at the end of a
 * chunked body (httpparse_chunked() keeps them when asked) or as an HTTP/2
 * trailing HEADERS frame, and goes on to a pool's worker (request) or to
 * the client (response).  Fields that carry framing, routing, request
 * modifiers, authentication, response control data or content handling
 * (RFC 9110 §6.5.1), and connection-specific fields (RFC 9113 §8.2.2),
 * are never forwarded: a recipient that merged them into the header
 * section (as some servers do) would act on what the sender could not
 * say in the headers.  Neither are the fields weir writes itself for a
 * worker (Forwarded, X-Forwarded-*, X-TLS-*).
 */
#ifndef WEIR_TRAILERS_H
#define WEIR_TRAILERS_H

#include <stdbool.h>
#include <stddef.h>

#include "httpparse.h"

#define TRAILERS_NO_UNDERSCORE	0x1	/* drop names with '_' (underscores_in_headers off) */

/* Is this field never forwarded in a trailer section?  Case-insensitive. */
bool	 trailers_forbidden(struct hstr name);

/*
 * Filter trailer field lines ("name: value\r\n" as received, validated)
 * in place at buf[0..n): forbidden fields (and, with TRAILERS_NO_UNDERSCORE,
 * names with '_') are removed, names lowercased (HTTP/2 needs them so, and
 * HTTP/1.1 does not care), values stripped of surrounding whitespace,
 * written "name:value\r\n" (never longer than what came).  A line without
 * ':' or CRLF is dropped.  Returns the new length.
 */
size_t	 trailers_filter(char *buf, size_t n, unsigned flags);

/*
 * The next field of a filtered section at *p (before end): name and value,
 * *p moved past its line.  false when there is none.
 */
bool	 trailers_next(const char **p, const char *end, struct hstr *name,
	    struct hstr *value);

/* Does a TE field value list the "trailers" member (RFC 9110 §10.1.4)? */
bool	 trailers_te(struct hstr value);

#endif
