/*
 * proxyproto.c - the PROXY protocol header (HAProxy's proxy-protocol.txt,
 * versions 1 and 2), which a load balancer in front of weir sends first on
 * each connection to say whose connection it relays.
 *
 * Pure: bytes in, a verdict out, no I/O, no allocation.  The caller
 * (proxyin.c) feeds what it has gathered so far and gets back the header's
 * length, WEIR_AGAIN, or WEIR_ERROR.  "Incomplete" is only said while every
 * byte seen can still be the start of a valid header, so a caller may
 * consume those bytes from the socket without ever taking a byte of what
 * follows the header (the HTTP request, or a TLS ClientHello), and anything
 * else (a plain HTTP client on the wrong port) is refused at its first
 * wrong byte, not at a timeout.
 */
#include <string.h>
#include <arpa/inet.h>

#include "frontend.h"

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

#define V1_MAX		107	/* the longest line the spec allows, CRLF included */
#define V2_HDR		16	/* signature, ver_cmd, fam, len */

/* A decimal port: 0..65535, no leading zero (spec §2.1: not octal-looking). */
static int
v1_port(const char *s, size_t n, uint16_t *out)
{
	unsigned v = 0;

	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/*
 * One address of family af into ss with the port set later.  inet_pton()
 * is strict where the spec is: four decimal parts without leading zeros
 * for IPv4, 128 bits for IPv6.
 */
static int
v1_addr(int af, const char *s, size_t n, struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)af;
	if (af == AF_INET)
		return inet_pton(AF_INET, buf, &((struct sockaddr_in *)ss)->sin_addr) == 1 ? 0 : -1;
	return inet_pton(AF_INET6, buf, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1 ? 0 : -1;
}

static void
set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/*
 * "PROXY TCP4 SRC DST SPORT DPORT\r\n", "PROXY TCP6 ...", "PROXY UNKNOWN
 * ...\r\n".  line[0..n) is the whole line without its CRLF.
 */
static int
v1_line(const char *line, size_t n, struct proxyproto *pp, const char **why)
{
	const char *f[6];
	size_t fl[6], nf = 0, i = 0;
	int af;
	uint16_t sport, dport;

	/* 1. fields separated by exactly one space */
	for (;;) {
		size_t st = i;

		while (i < n && line[i] != ' ')
			i++;
		f[nf] = line + st;
		fl[nf++] = i - st;
		if (i == n)
			break;
		if (nf == 6) {
			*why = "PROXY v1: more than six fields";
			return -1;
		}
		i++;
		if (nf == 2 && fl[1] == 7 && memcmp(f[1], "UNKNOWN", 7) == 0)
			break;	/* the rest is ignored (spec §2.1) */
	}
	/* 2. UNKNOWN: the connection's own addresses */
	if (nf >= 2 && fl[1] == 7 && memcmp(f[1], "UNKNOWN", 7) == 0) {
		pp->local = true;
		return 0;
	}
	if (nf != 6) {
		*why = "PROXY v1: fewer than six fields";
		return -1;
	}
	if (fl[1] == 4 && memcmp(f[1], "TCP4", 4) == 0)
		af = AF_INET;
	else if (fl[1] == 4 && memcmp(f[1], "TCP6", 4) == 0)
		af = AF_INET6;
	else {
		*why = "PROXY v1: protocol is not TCP4, TCP6 or UNKNOWN";
		return -1;
	}
	/* 3. addresses of that family, then ports */
	if (v1_addr(af, f[2], fl[2], &pp->src) == -1 ||
	    v1_addr(af, f[3], fl[3], &pp->dst) == -1) {
		*why = "PROXY v1: bad address";
		return -1;
	}
	if (v1_port(f[4], fl[4], &sport) == -1 || v1_port(f[5], fl[5], &dport) == -1) {
		*why = "PROXY v1: bad port";
		return -1;
	}
	set_port(&pp->src, sport);
	set_port(&pp->dst, dport);
	pp->local = false;
	return 0;
}

static ssize_t
v1_parse(const uint8_t *p, size_t n, struct proxyproto *pp, const char **why)
{
	size_t lim = n < V1_MAX ? n : V1_MAX;

	pp->version = 1;
	/* A lone CR or LF does not end the line, and is not allowed in it. */
	for (size_t i = 0; i < lim; i++) {
		if (p[i] == '\r') {
			/* the CRLF too must be within the 107 bytes */
			if (i + 2 > V1_MAX) {
				*why = "PROXY v1: no CRLF in the first 107 bytes";
				return WEIR_ERROR;
			}
			if (i + 1 == n)
				return WEIR_AGAIN;
			if (p[i + 1] != '\n') {
				*why = "PROXY v1: CR without LF";
				return WEIR_ERROR;
			}
			if (v1_line((const char *)p, i, pp, why) == -1)
				return WEIR_ERROR;
			return (ssize_t)(i + 2);
		}
		if (p[i] == '\n' || p[i] == '\0') {
			*why = "PROXY v1: bad character in the line";
			return WEIR_ERROR;
		}
	}
	if (n >= V1_MAX) {
		*why = "PROXY v1: no CRLF in the first 107 bytes";
		return WEIR_ERROR;
	}
	return WEIR_AGAIN;
}

static ssize_t
v2_parse(const uint8_t *p, size_t n, struct proxyproto *pp, const char **why)
{
	unsigned ver = p[12] >> 4, cmd = p[12] & 0xf, fam = p[13] >> 4,
	    proto = p[13] & 0xf;
	size_t len = (size_t)p[14] << 8 | p[15];

	pp->version = 2;
	/* 1. what the spec says receivers must reject, as soon as it is seen */
	if (ver != 2) {
		*why = "PROXY v2: version is not 2";
		return WEIR_ERROR;
	}
	if (cmd > 1) {
		*why = "PROXY v2: unknown command";
		return WEIR_ERROR;
	}
	if (fam > 3 || proto > 2) {
		*why = "PROXY v2: unknown family or protocol";
		return WEIR_ERROR;
	}
	if ((fam == 1 && len < 12) || (fam == 2 && len < 36) || (fam == 3 && len < 216)) {
		*why = "PROXY v2: address block shorter than its family";
		return WEIR_ERROR;
	}
	if (n < V2_HDR + len)
		return WEIR_AGAIN;
	/*
	 * 2. LOCAL (a health check of the proxy's own), an unspecified family
	 * or protocol, and AF_UNIX: the connection's own addresses.  Whatever
	 * follows the addresses (TLVs) is skipped: nothing weir uses.
	 */
	pp->local = cmd == 0 || proto == 0 || fam == 0 || fam == 3;
	if (!pp->local) {
		const uint8_t *a = p + V2_HDR;

		memset(&pp->src, 0, sizeof(pp->src));
		memset(&pp->dst, 0, sizeof(pp->dst));
		if (fam == 1) {
			struct sockaddr_in *s = (struct sockaddr_in *)&pp->src,
			    *d = (struct sockaddr_in *)&pp->dst;

			s->sin_family = d->sin_family = AF_INET;
			memcpy(&s->sin_addr, a, 4);
			memcpy(&d->sin_addr, a + 4, 4);
			memcpy(&s->sin_port, a + 8, 2);
			memcpy(&d->sin_port, a + 10, 2);
		} else {
			struct sockaddr_in6 *s = (struct sockaddr_in6 *)&pp->src,
			    *d = (struct sockaddr_in6 *)&pp->dst;

			s->sin6_family = d->sin6_family = AF_INET6;
			memcpy(&s->sin6_addr, a, 16);
			memcpy(&d->sin6_addr, a + 16, 16);
			memcpy(&s->sin6_port, a + 32, 2);
			memcpy(&d->sin6_port, a + 34, 2);
		}
	}
	return (ssize_t)(V2_HDR + len);
}

ssize_t
proxyproto_parse(const void *buf, size_t n, struct proxyproto *pp, const char **why)
{
	const uint8_t *p = buf;
	size_t k;

	memset(pp, 0, sizeof(*pp));
	*why = NULL;
	if (n == 0)
		return WEIR_AGAIN;
	/* 1. which version: the v2 signature, or "PROXY " */
	if (p[0] == v2_sig[0]) {
		k = n < sizeof(v2_sig) ? n : sizeof(v2_sig);
		if (memcmp(p, v2_sig, k) != 0) {
			*why = "PROXY v2: bad signature";
			return WEIR_ERROR;
		}
		if (n < V2_HDR)
			return WEIR_AGAIN;
		return v2_parse(p, n, pp, why);
	}
	k = n < 6 ? n : 6;
	if (memcmp(p, "PROXY ", k) != 0) {
		*why = "no PROXY protocol header";
		return WEIR_ERROR;
	}
	return v1_parse(p, n, pp, why);
}
