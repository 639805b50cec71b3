/*
 * hosttls.c - weir_tls(): a module's view of the TLS connection a request
 * came on, read back from the X-TLS-* fields the front end adds to the
 * request it sends weir-host (tlsnames.h names them for both sides).
 *
 * Those fields are weir's word: the front end drops a client's own X-TLS-*
 * headers before it adds its own, so a request that has X-TLS-Protocol came
 * over TLS.  The certificate's PEM travels percent-encoded (a header has no
 * line breaks) and is decoded here; the other values arrive as they are.
 */
#include <stddef.h>
#include <string.h>

#include "tlsnames.h"
#include "host.h"

/* Where each header's value goes in struct weir_tls. */
#define TV_FIELD(e, h, cgi, m)	{ h, offsetof(struct weir_tls, m) },
static const struct {
	const char	*header;
	size_t		 off;
} fields[] = {
	TLS_VALUES(TV_FIELD)
};
#undef TV_FIELD

/* A digit of the front end's escapes (uppercase, tlsvars.c), or -1. */
static int
hexval(char c)
{
	static const char digits[] = "0123456789ABCDEF";
	const char *d = c != '\0' ? strchr(digits, c) : NULL;

	return d != NULL ? (int)(d - digits) : -1;
}

/* Percent-decode s in place (the front end encodes only what must be). */
static void
unescape(char *s)
{
	char *o = s;

	for (; *s != '\0'; s++) {
		int hi, lo;

		if (*s == '%' && (hi = hexval(s[1])) >= 0 && (lo = hexval(s[2])) >= 0) {
			*o++ = (char)(hi << 4 | lo);
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

const struct weir_tls *
weir_tls(weir_req *req)
{
	struct weir_tls *t;

	if (req->tls_done)
		return req->tls;
	req->tls_done = true;
	if (weir_header(req, fields[0].header) == NULL)
		return NULL;	/* cleartext: no X-TLS-Protocol */
	if ((t = weir_alloc(req, sizeof(*t))) == NULL)
		return NULL;
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *v = weir_header(req, fields[i].header);
		char *copy;

		if (v == NULL)
			continue;
		if (strcmp(fields[i].header, "X-TLS-Client-Cert") == 0) {
			if ((copy = weir_alloc(req, strlen(v) + 1)) == NULL)
				return NULL;
			memcpy(copy, v, strlen(v) + 1);
			unescape(copy);
			v = copy;
		}
		memcpy((char *)t + fields[i].off, &v, sizeof(v));
	}
	req->tls = t;
	return t;
}
