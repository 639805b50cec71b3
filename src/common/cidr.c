/*
 * cidr.c - IP addresses and CIDR blocks for `trusted_proxies` (cidr.h).
 *
 * inet_pton() does the address syntax (it is strict: no leading zeros
 * games, no trailing bytes); this file adds the brackets and ports that
 * X-Forwarded-For entries carry, the "/BITS" of a block, and prefix
 * comparison.  No allocation, no logging.
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "rc.h"
#include "cidr.h"

/* Port digits after ':' (1..5 digits, at most 65535). */
static bool
valid_port(const char *s, size_t n)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v <= 65535;
}

/* inet_pton() of s[0..n) in the family the text says (':' means IPv6). */
static int
pton(const char *s, size_t n, struct ipaddr *out)
{
	char tmp[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	memset(out, 0, sizeof(*out));
	out->family = memchr(s, ':', n) != NULL ? AF_INET6 : AF_INET;
	return inet_pton(out->family, tmp, out->b) == 1 ? 0 : -1;
}

int
ipaddr_parse(const char *s, size_t n, struct ipaddr *out)
{
	const char *colon;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		size_t rest;

		if (close == NULL)
			return -1;
		rest = n - (size_t)(close + 1 - s);
		if (rest != 0 && (close[1] != ':' || !valid_port(close + 2, rest - 1)))
			return -1;
		if (pton(s + 1, (size_t)(close - s - 1), out) == -1 || out->family != AF_INET6)
			return -1;
		return 0;
	}
	/* one ':' is an IPv4 address with a port; more are IPv6 */
	colon = memchr(s, ':', n);
	if (colon != NULL && memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)) == NULL) {
		if (!valid_port(colon + 1, n - (size_t)(colon + 1 - s)))
			return -1;
		n = (size_t)(colon - s);
		return pton(s, n, out) == 0 && out->family == AF_INET ? 0 : -1;
	}
	return pton(s, n, out);
}

int
ipaddr_from_sockaddr(const struct sockaddr *sa, struct ipaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;

		out->family = AF_INET;
		memcpy(out->b, &s4->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;

		out->family = AF_INET6;
		memcpy(out->b, &s6->sin6_addr, 16);
		return 0;
	}
	return -1;
}

/* Whether the first `bits` bits of a and b are the same. */
static bool
prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int
cidr_parse(const char *s, size_t n, struct cidr *out, char *err)
{
	const char *slash = memchr(s, '/', n);
	size_t alen = slash != NULL ? (size_t)(slash - s) : n;
	unsigned max, bits = 0;

	if (pton(s, alen, &out->a) == -1) {
		snprintf(err, WEIR_ERRLEN, "'%.*s' is not an IPv4 or IPv6 address",
		    (int)alen, s);
		return -1;
	}
	max = out->a.family == AF_INET ? 32 : 128;
	if (slash == NULL) {
		bits = max;
	} else {
		size_t dn = n - alen - 1;

		if (dn == 0 || dn > 3) {
			snprintf(err, WEIR_ERRLEN, "'%.*s': bad prefix length", (int)n, s);
			return -1;
		}
		for (size_t i = 0; i < dn; i++) {
			if (slash[1 + i] < '0' || slash[1 + i] > '9') {
				snprintf(err, WEIR_ERRLEN, "'%.*s': bad prefix length", (int)n, s);
				return -1;
			}
			bits = bits * 10 + (unsigned)(slash[1 + i] - '0');
		}
		if (bits > max) {
			snprintf(err, WEIR_ERRLEN, "'%.*s': prefix length above %u",
			    (int)n, s, max);
			return -1;
		}
	}
	out->bits = bits;
	/*
	 * Bits past the prefix are dropped: "127.0.0.1/8" is 127.0.0.0/8,
	 * as nginx's set_real_ip_from and most ACLs read it.
	 */
	if (bits % 8)
		out->a.b[bits / 8] &= (uint8_t)(0xff << (8 - bits % 8));
	memset(out->a.b + (bits + 7) / 8, 0, sizeof(out->a.b) - (bits + 7) / 8);
	return 0;
}

bool
cidr_match(const struct cidr *v, size_t n, const struct ipaddr *a)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct ipaddr v4;

	/* ::ffff:a.b.c.d is a.b.c.d */
	if (a->family == AF_INET6 && memcmp(a->b, mapped, 12) == 0) {
		memset(&v4, 0, sizeof(v4));
		v4.family = AF_INET;
		memcpy(v4.b, a->b + 12, 4);
		a = &v4;
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].a.family == a->family && prefix_eq(v[i].a.b, a->b, v[i].bits))
			return true;
	return false;
}
