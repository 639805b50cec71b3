/*
 * certname.h - does a name in a certificate cover a host name?
 *
 * The RFC 6125 (section 6.4.3) matching of a subjectAltName dNSName
 * against a reference name, as a pure function: `weir check` uses it to
 * see that a site's certificate covers every name in its `hosts`, and the
 * fuzz target drives it.
 */
#ifndef WEIR_CERTNAME_H
#define WEIR_CERTNAME_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Does the certificate name pat (patlen bytes, as found in a dNSName, not
 * NUL-terminated, may hold any byte) cover the host name host (hostlen
 * bytes)?  Comparison is ASCII case-insensitive.  A wildcard is honoured
 * only as the whole left-most label ("*.example.com") with at least two
 * labels after it, and covers exactly one label; "f*.example.com",
 * "*.*.example.com" and "*.com" cover nothing beyond their literal text.
 * host may itself be a wildcard site name ("*.example.com"): it is
 * covered only by the same wildcard, never by one name.  One trailing dot
 * on either side is ignored; empty labels, NUL bytes and names longer than
 * 253 bytes never match.
 */
bool	certname_match(const char *pat, size_t patlen, const char *host, size_t hostlen);

#endif
