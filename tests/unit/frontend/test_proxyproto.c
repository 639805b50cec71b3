/*
 * test_proxyproto.c - the PROXY protocol header parser (proxyproto.c):
 * v1 and v2 headers whole, every prefix of each (incomplete, never
 * refused: a caller consumes them), and the malformed ones refused.
 */
#include "../unit.h"
#include "../../../src/frontend/proxyproto.c"

#include <arpa/inet.h>

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define SIG	"\r\n\r\n\0\r\nQUIT\n"

static const struct {
	const char	*in;
	size_t		 len;		/* 0: strlen(in) */
	ssize_t		 rc;		/* header length, WEIR_ERROR or WEIR_AGAIN */
	int		 local;
	const char	*src;		/* "addr port" of the client, when !local */
} cases[] = {
	/* v1 */
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET", 0, 45, 0, "192.0.2.1 56324" },
	{ "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n", 0, 44, 0, "2001:db8::1 1" },
	{ "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", 0, 56, 0, "255.255.255.255 65535" },
	{ "PROXY UNKNOWN\r\n", 0, 15, 1, NULL },
	{ "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nGET", 0, 35, 1, NULL },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 0\r\n", 0, 43, 0, "192.0.2.1 56324" },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443", 0, WEIR_AGAIN, 0, NULL },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r", 0, WEIR_AGAIN, 0, NULL },
	{ "PROX", 0, WEIR_AGAIN, 0, NULL },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n", 0, WEIR_ERROR, 0, NULL },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\rX", 0, WEIR_ERROR, 0, NULL },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 \r\n", 0, WEIR_ERROR, 0, NULL },
	{ "PROXY TCP4  192.0.2.1 198.51.100.2 56324 443\r\n", 0, WEIR_ERROR, 0, NULL },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n", 0, WEIR_ERROR, 0, NULL },
	{ "PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n", 0, WEIR_ERROR, 0, NULL },
	{ "PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n", 0, WEIR_ERROR, 0, NULL },
	{ "PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n", 0, WEIR_ERROR, 0, NULL },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 01 2\r\n", 0, WEIR_ERROR, 0, NULL },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n", 0, WEIR_ERROR, 0, NULL },
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 -1 2\r\n", 0, WEIR_ERROR, 0, NULL },
	{ "PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n", 0, WEIR_ERROR, 0, NULL },
	{ "PROXY tcp4 192.0.2.1 198.51.100.2 1 2\r\n", 0, WEIR_ERROR, 0, NULL },
	{ "PROXY\r\n", 0, WEIR_ERROR, 0, NULL },
	{ "PROXY \r\n", 0, WEIR_ERROR, 0, NULL },
	{ "GET / HTTP/1.1\r\n", 0, WEIR_ERROR, 0, NULL },
	{ "proxy TCP4", 0, WEIR_ERROR, 0, NULL },
	{ "PROXY UNKNOWN 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123", 0,
	  WEIR_ERROR, 0, NULL },
	/* the longest line is 107 bytes with its CRLF (found by fuzz_proxyproto: 108 was taken) */
	{ "PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", 0, 107, 1, NULL },
	{ "PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", 0, WEIR_ERROR, 0, NULL },
	{ "PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r", 0, WEIR_ERROR, 0, NULL },
	/* v2: TCP over IPv4, IPv6; LOCAL; UNSPEC; UNIX; TLVs after the addresses */
	{ SIG "\x21\x11\x00\x0c" "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xdc\x04\x01\xbb" "GET", 28, 28, 0, "192.0.2.1 56324" },
	{ SIG "\x21\x21\x00\x24" "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
	  "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02" "\x00\x01\x00\x02", 52, 52, 0, "2001:db8::1 1" },
	{ SIG "\x20\x00\x00\x00", 16, 16, 1, NULL },
	{ SIG "\x20\x11\x00\x0c" "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xdc\x04\x01\xbb", 28, 28, 1, NULL },
	{ SIG "\x21\x00\x00\x00", 16, 16, 1, NULL },
	{ SIG "\x21\x11\x00\x0f" "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xdc\x04\x01\xbb" "\x04\x00\x00", 31, 31, 0, "192.0.2.1 56324" },
	{ SIG "\x21\x12\x00\x0c" "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xdc\x04\x01\xbb", 28, 28, 0, "192.0.2.1 56324" },
	{ SIG "\x21\x11\x00\x0c" "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xdc\x04\x01", 27, WEIR_AGAIN, 0, NULL },
	{ SIG "\x21\x11", 14, WEIR_AGAIN, 0, NULL },
	{ SIG "\x21\x11\x00\x08" "\xc0\x00\x02\x01" "\xc6\x33\x64\x02", 24, WEIR_ERROR, 0, NULL },
	{ SIG "\x21\x21\x00\x0c", 16, WEIR_ERROR, 0, NULL },
	{ SIG "\x11\x11\x00\x0c", 16, WEIR_ERROR, 0, NULL },
	{ SIG "\x22\x11\x00\x0c", 16, WEIR_ERROR, 0, NULL },
	{ SIG "\x21\x41\x00\x0c", 16, WEIR_ERROR, 0, NULL },
	{ SIG "\x21\x13\x00\x0c", 16, WEIR_ERROR, 0, NULL },
	{ "\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x00", 16, WEIR_ERROR, 0, NULL },
	{ "\r\n\r\n\0", 5, WEIR_AGAIN, 0, NULL },
	{ "\r\nGET", 5, WEIR_ERROR, 0, NULL },
};

static void
check_src(const struct proxyproto *pp, const char *want, size_t i)
{
	char a[INET6_ADDRSTRLEN], got[80];
	unsigned port;

	if (pp->src.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&pp->src;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		port = ntohs(s->sin_port);
	} else if (pp->src.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&pp->src;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		port = ntohs(s->sin6_port);
	} else {
		snprintf(a, sizeof(a), "family %d", pp->src.ss_family);
		port = 0;
	}
	snprintf(got, sizeof(got), "%s %u", a, port);
	CHECKF(strcmp(got, want) == 0, "case %zu: client %s, want %s", i, got, want);
}

int
main(void)
{
	for (size_t i = 0; i < nitems(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		struct proxyproto pp;
		const char *why;
		ssize_t rc = proxyproto_parse(cases[i].in, len, &pp, &why);

		CHECKF(rc == cases[i].rc, "case %zu: rc %zd, want %zd (%s)", i, rc,
		    cases[i].rc, why ? why : "");
		CHECKF((rc == WEIR_ERROR) == (why != NULL), "case %zu: why", i);
		if (rc > 0) {
			CHECKF(pp.local == (bool)cases[i].local, "case %zu: local", i);
			if (cases[i].src != NULL)
				check_src(&pp, cases[i].src, i);
		}
		/*
		 * Every proper prefix of a header is incomplete, never
		 * refused: the caller may consume it.
		 */
		if (rc > 0)
			for (size_t k = 0; k < (size_t)rc; k++)
				CHECKF(proxyproto_parse(cases[i].in, k, &pp, &why) == WEIR_AGAIN,
				    "case %zu: prefix %zu", i, k);
	}
	return unit_done("test_proxyproto");
}
