/*
 * forward.c - who the client is, for requests weir passes to its pools.
 *
 * X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and Forwarded are
 * the word of whoever sent them.  From a client they are a lie waiting to
 * be believed (an app that reads the left-most X-Forwarded-For entry trusts
 * the client's own claim), so weir replaces them with what it saw, unless
 * the connection comes from an address in `trusted_proxies`: then they
 * were set by a proxy in front of weir, are kept, and weir appends its hop.
 * The client is then the right-most address of the X-Forwarded-For chain
 * that is not itself a trusted proxy (each proxy appends the address it
 * saw, so only the entries to the right of the first untrusted one were
 * written by proxies we trust).  Pure: no I/O, no allocation.
 */
#include <string.h>

#include "frontend.h"

bool
forward_trusted(const struct conf_server *s, const struct sockaddr *peer)
{
	struct ipaddr a;

	if (s->ntrusted_proxies == 0 || ipaddr_from_sockaddr(peer, &a) == -1)
		return false;
	return cidr_match(s->trusted_proxies, s->ntrusted_proxies, &a);
}

/* Trim blanks (OWS) around s[0..*n); returns the new start. */
static const char *
trim(const char *s, size_t *n)
{
	while (*n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		(*n)--;
	}
	while (*n > 0 && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
		(*n)--;
	return s;
}

/*
 * Walk one X-Forwarded-For value from its right end.  Returns 1 when the
 * walk ends in it (an untrusted address, now in *client, or an entry that
 * is no address, which ends it with *client unchanged), 0 to go on to the
 * field line before it.
 */
static int
walk_value(struct hstr v, const struct cidr *tr, size_t ntr, struct ipaddr *client)
{
	size_t end = v.n;

	for (;;) {
		size_t start = end, n;
		const char *e;
		struct ipaddr a;

		while (start > 0 && v.p[start - 1] != ',')
			start--;
		n = end - start;
		e = trim(v.p + start, &n);
		/* empty list elements are allowed (RFC 9110 §5.6.1) */
		if (n > 0) {
			if (ipaddr_parse(e, n, &a) == -1)
				return 1;
			*client = a;
			if (!cidr_match(tr, ntr, &a))
				return 1;
		}
		if (start == 0)
			return 0;
		end = start - 1;
	}
}

/*
 * The client's address for a request that came from a trusted proxy
 * `peer`: X-Forwarded-For (all its field lines, one list) walked from the
 * right, skipping trusted addresses; the first untrusted one is the client.
 * When every entry is trusted the left-most is; an entry that is not an
 * address stops the walk at the last good one to its right; without the
 * header the client is the peer.
 */
void
forward_client(const struct http_header *hs, size_t n, const struct cidr *tr,
    size_t ntr, const struct ipaddr *peer, struct ipaddr *client)
{
	*client = *peer;
	for (size_t i = n; i-- > 0;) {
		if (!hstr_eq_ci(hs[i].name, "x-forwarded-for"))
			continue;
		if (walk_value(hs[i].value, tr, ntr, client) == 1)
			return;
	}
}
