/*
 * cidr.h - IP addresses and CIDR blocks (IPv4 and IPv6), for
 * `trusted_proxies`: parsed from the configuration and from
 * X-Forwarded-For, matched against a client's address.  Pure functions.
 */
#ifndef WEIR_CIDR_H
#define WEIR_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An address: family AF_INET (b[0..4)) or AF_INET6 (b[0..16)). */
struct ipaddr {
	int		 family;
	uint8_t		 b[16];
};

/* A block: the addresses whose first `bits` bits are those of `a`. */
struct cidr {
	struct ipaddr	 a;		/* bits past `bits` are zero */
	unsigned	 bits;		/* 0..32 or 0..128 */
};

/*
 * An address as text: "192.0.2.1", "2001:db8::1", also "[2001:db8::1]",
 * and either with ":PORT" after it ("192.0.2.1:4711", "[::1]:4711"), as
 * some proxies write X-Forwarded-For.  Returns 0, or -1 when s[0..n) is not
 * an address.
 */
int	 ipaddr_parse(const char *s, size_t n, struct ipaddr *out);

/* The address of a socket (AF_INET, AF_INET6); -1 for another family. */
int	 ipaddr_from_sockaddr(const struct sockaddr *sa, struct ipaddr *out);

/*
 * A block as text: an address, optionally "/BITS" ("10.0.0.0/8",
 * "::1/128", "fd00::/8"); without "/BITS" the single address.  Bits set
 * past the prefix are dropped ("127.0.0.1/8" is 127.0.0.0/8).  Returns 0,
 * or -1 with err (WEIR_ERRLEN) saying why.
 */
int	 cidr_parse(const char *s, size_t n, struct cidr *out, char *err);

/*
 * Whether a is in one of the blocks v[0..n).  An IPv4-mapped IPv6 address
 * (::ffff:192.0.2.1, what an IPv6 socket shows for an IPv4 client) is
 * matched as the IPv4 address it is.
 */
bool	 cidr_match(const struct cidr *v, size_t n, const struct ipaddr *a);

#endif
