/*
 * tlssel.c - what a TLS handshake selects: the site by server name (SNI)
 * and the application protocol (ALPN).
 *
 * Pure functions over plain data, so that a fuzz target can drive them and
 * the router shares the host-name rule: an exact name wins over any
 * wildcard, and among wildcards ("*" ".example.com" matches a name that
 * ends in ".example.com", at any depth) the longest pattern wins.
 */
#include <string.h>

#include "util.h"
#include "frontend.h"

/*
 * How well host h[0..n) (lowercase, no port, no final dot) matches a
 * site's host names: 0 not at all, TLSSEL_EXACT for an exact name, else
 * the length of the longest wildcard pattern that matches.
 */
size_t
tlssel_host_rank(const struct strlist *hosts, const char *h, size_t n)
{
	size_t best = 0;

	for (size_t j = 0; j < hosts->n; j++) {
		const char *pat = hosts->v[j];
		size_t pl = strlen(pat);

		if (pat[0] == '*' && pat[1] == '.') {
			if (n > pl - 1 && memcmp(h + n - (pl - 1), pat + 1, pl - 1) == 0 &&
			    pl > best)
				best = pl;
		} else if (pl == n && memcmp(pat, h, n) == 0) {
			return TLSSEL_EXACT;
		}
	}
	return best;
}

/*
 * The site for server name `name` (as the client sent it: any case, maybe
 * a final dot) among n sites' host lists: its index, or -1 when none
 * matches (or the name is empty or too long to be a host name).
 */
int
tlssel_sni(const struct strlist *const *hosts, size_t n, const char *name, size_t len)
{
	char h[256];
	size_t best = 0;
	int found = -1;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len >= sizeof(h))
		return -1;
	for (size_t i = 0; i < len; i++)
		h[i] = ascii_lower(name[i]);
	for (size_t i = 0; i < n; i++) {
		size_t r = tlssel_host_rank(hosts[i], h, len);

		if (r > best) {
			best = r;
			found = (int)i;
			if (r == TLSSEL_EXACT)
				break;
		}
	}
	return found;
}

/* The protocols weir speaks over TLS, in its order of preference. */
static const struct {
	const char	*name;
	unsigned char	 len;
} alpn_protos[] = {
	{ "http/1.1", 8 },
};

/*
 * ALPN (RFC 7301): pick weir's most preferred protocol from the client's
 * list in[0..inlen) (length-prefixed names).  Returns 0 with *out and *outlen
 * pointing into `in`, or -1 when the list is malformed or has nothing weir
 * speaks.
 */
int
tlssel_alpn(const unsigned char *in, unsigned inlen, const unsigned char **out,
    unsigned char *outlen)
{
	/* the whole list must be well-formed before anything is chosen */
	for (unsigned i = 0; i < inlen; i += 1u + in[i])
		if (in[i] == 0 || in[i] > inlen - i - 1)
			return -1;
	for (size_t p = 0; p < nitems(alpn_protos); p++) {
		for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
			if (in[i] == alpn_protos[p].len &&
			    memcmp(in + i + 1, alpn_protos[p].name, in[i]) == 0) {
				*out = in + i + 1;
				*outlen = in[i];
				return 0;
			}
		}
	}
	return -1;
}
