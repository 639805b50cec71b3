/*
 * test_forward.c - trusted_proxies: addresses and CIDR blocks as text
 * (cidr.c), matching (IPv4, IPv6, IPv4-mapped), and the X-Forwarded-For
 * walk that finds the client behind trusted proxies (forward.c).
 */
#include "../unit.h"
#include "../../../src/common/cidr.c"
#include "../../../src/common/httpparse.c"
#include "../../../src/frontend/forward.c"

#include <stdlib.h>

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- addresses ---- */

static const struct {
	const char	*in;
	int		 rc;
	const char	*canon;		/* inet_ntop of the result */
} addrs[] = {
	{ "192.0.2.1",			0,	"192.0.2.1" },
	{ "192.0.2.1:4711",		0,	"192.0.2.1" },
	{ "2001:db8::1",		0,	"2001:db8::1" },
	{ "[2001:db8::1]",		0,	"2001:db8::1" },
	{ "[2001:db8::1]:443",		0,	"2001:db8::1" },
	{ "::ffff:192.0.2.1",		0,	"::ffff:192.0.2.1" },
	{ "::1",			0,	"::1" },
	{ "",				-1,	NULL },
	{ "unknown",			-1,	NULL },
	{ "192.0.2",			-1,	NULL },
	{ "192.0.2.256",		-1,	NULL },
	{ "192.0.2.1 ",			-1,	NULL },
	{ "192.0.2.1:",			-1,	NULL },
	{ "192.0.2.1:65536",		-1,	NULL },
	{ "192.0.2.1:12a",		-1,	NULL },
	{ "[192.0.2.1]",		-1,	NULL },
	{ "[2001:db8::1",		-1,	NULL },
	{ "[2001:db8::1]443",		-1,	NULL },
	{ "[2001:db8::1]:",		-1,	NULL },
	{ "2001:db8::g",		-1,	NULL },
	{ "_hidden",			-1,	NULL },	/* RFC 7239 obfuscated identifier */
};

static void
test_addrs(void)
{
	for (size_t i = 0; i < nitems(addrs); i++) {
		struct ipaddr a;
		char txt[INET6_ADDRSTRLEN];
		int rc = ipaddr_parse(addrs[i].in, strlen(addrs[i].in), &a);

		CHECKF(rc == addrs[i].rc, "\"%s\": rc %d, want %d", addrs[i].in, rc,
		    addrs[i].rc);
		if (rc != 0 || addrs[i].rc != 0)
			continue;
		inet_ntop(a.family, a.b, txt, sizeof(txt));
		CHECKF(strcmp(txt, addrs[i].canon) == 0, "\"%s\": got %s, want %s",
		    addrs[i].in, txt, addrs[i].canon);
	}
}

/* ---- blocks ---- */

static const struct {
	const char	*in;
	int		 rc;
	unsigned	 bits;
} blocks[] = {
	{ "10.0.0.0/8",		0,	8 },
	{ "127.0.0.1",		0,	32 },
	{ "127.0.0.1/32",	0,	32 },
	{ "0.0.0.0/0",		0,	0 },
	{ "::1",		0,	128 },
	{ "fd00::/8",		0,	8 },
	{ "::/0",		0,	0 },
	{ "2001:db8::/32",	0,	32 },
	{ "10.0.0.1/8",		0,	8 },	/* host bits dropped */
	{ "fd00::1/8",		0,	8 },
	{ "10.0.0.0/33",	-1,	0 },
	{ "::1/129",		-1,	0 },
	{ "10.0.0.0/",		-1,	0 },
	{ "10.0.0.0/08a",	-1,	0 },
	{ "10.0.0.0/0008",	-1,	0 },
	{ "10.0.0.0/-1",	-1,	0 },
	{ "10.0.0.0:80",	-1,	0 },	/* a port is no block */
	{ "[::1]",		-1,	0 },
	{ "localhost",		-1,	0 },
};

static void
test_blocks(void)
{
	for (size_t i = 0; i < nitems(blocks); i++) {
		struct cidr c;
		char err[WEIR_ERRLEN] = "";
		int rc = cidr_parse(blocks[i].in, strlen(blocks[i].in), &c, err);

		CHECKF(rc == blocks[i].rc, "\"%s\": rc %d, want %d (%s)", blocks[i].in,
		    rc, blocks[i].rc, err);
		if (rc == 0 && blocks[i].rc == 0)
			CHECKF(c.bits == blocks[i].bits, "\"%s\": bits %u", blocks[i].in,
			    c.bits);
		if (rc != 0)
			CHECKF(err[0] != '\0', "\"%s\": no message", blocks[i].in);
	}
}

/* Parse a list "a, b, c" of blocks into v; returns how many. */
static size_t
list(const char *s, struct cidr *v, size_t max)
{
	size_t n = 0;
	char err[WEIR_ERRLEN];

	while (*s != '\0' && n < max) {
		const char *e = strchr(s, ',');
		size_t len = e ? (size_t)(e - s) : strlen(s);

		while (*s == ' ') {
			s++;
			len--;
		}
		if (cidr_parse(s, len, &v[n], err) != 0) {
			CHECKF(0, "bad test block \"%.*s\": %s", (int)len, s, err);
			return n;
		}
		n++;
		s = e ? e + 1 : s + len;
	}
	return n;
}

static const struct {
	const char	*blocks;
	const char	*addr;
	bool		 match;
} matches[] = {
	{ "10.0.0.0/8",			"10.1.2.3",		true },
	{ "10.0.0.0/8",			"11.0.0.0",		false },
	{ "10.0.0.0/8",			"9.255.255.255",	false },
	{ "127.0.0.1/8",		"127.200.0.1",		true },	/* host bits dropped */
	{ "127.0.0.1/8",		"128.0.0.1",		false },
	{ "10.1.2.3/31",		"10.1.2.2",		true },
	{ "fd00::1/8",			"fdff::",		true },
	{ "192.168.1.0/25",		"192.168.1.127",	true },
	{ "192.168.1.0/25",		"192.168.1.128",	false },
	{ "127.0.0.1",			"127.0.0.1",		true },
	{ "127.0.0.1",			"127.0.0.2",		false },
	{ "127.0.0.0/8",		"::ffff:127.0.0.9",	true },	/* mapped */
	{ "127.0.0.0/8",		"::1",			false },
	{ "::1",			"::1",			true },
	{ "::1",			"127.0.0.1",		false },
	{ "fd00::/8",			"fdab:1::2",		true },
	{ "fd00::/8",			"fe80::1",		false },
	{ "2001:db8::/33",		"2001:db8:7fff::1",	true },
	{ "2001:db8::/33",		"2001:db8:8000::1",	false },
	{ "0.0.0.0/0",			"203.0.113.5",		true },
	{ "0.0.0.0/0",			"2001:db8::1",		false },	/* families differ */
	{ "::/0",			"2001:db8::1",		true },
	{ "10.0.0.0/8, ::1, 192.0.2.7",	"192.0.2.7",		true },
	{ "10.0.0.0/8, ::1, 192.0.2.7",	"192.0.2.8",		false },
	{ "",				"10.0.0.1",		false },	/* none trusted */
};

static void
test_match(void)
{
	for (size_t i = 0; i < nitems(matches); i++) {
		struct cidr v[8];
		struct ipaddr a;
		size_t n = list(matches[i].blocks, v, nitems(v));

		if (ipaddr_parse(matches[i].addr, strlen(matches[i].addr), &a) != 0) {
			CHECKF(0, "bad test address %s", matches[i].addr);
			continue;
		}
		CHECKF(cidr_match(v, n, &a) == matches[i].match, "%s in {%s}: want %d",
		    matches[i].addr, matches[i].blocks, matches[i].match);
	}
}

/* ---- the X-Forwarded-For walk ---- */

#define TRUST	"10.0.0.0/8, 127.0.0.1, fd00::/8"

static const struct {
	const char	*xff[3];	/* field lines, in order (NULL ends) */
	const char	*client;	/* the client the walk finds */
} walks[] = {
	/* no header: the peer */
	{ { NULL },					"127.0.0.1" },
	/* the right-most untrusted entry */
	{ { "6.6.6.6", NULL },				"6.6.6.6" },
	{ { "6.6.6.6, 10.0.0.2", NULL },		"6.6.6.6" },
	{ { "1.1.1.1, 6.6.6.6, 10.0.0.2", NULL },	"6.6.6.6" },	/* 1.1.1.1 is 6.6.6.6's word */
	{ { "1.1.1.1, 10.0.0.3, 10.0.0.2", NULL },	"1.1.1.1" },
	/* every entry trusted: the left-most */
	{ { "10.0.0.3, 10.0.0.2", NULL },		"10.0.0.3" },
	/* several field lines are one list */
	{ { "1.1.1.1", "6.6.6.6", "10.0.0.2" },		"6.6.6.6" },
	{ { "1.1.1.1", "10.0.0.2", NULL },		"1.1.1.1" },
	{ { "1.1.1.1, 6.6.6.6", "10.0.0.2", NULL },	"6.6.6.6" },
	/* blanks and empty elements */
	{ { "  6.6.6.6 ,,10.0.0.2 , ", NULL },		"6.6.6.6" },
	{ { ",", NULL },				"127.0.0.1" },
	/* ports and IPv6 */
	{ { "6.6.6.6:5555, [fd00::1]:80", NULL },	"6.6.6.6" },
	{ { "2001:db8::9, fd00::2", NULL },		"2001:db8::9" },
	{ { "::ffff:10.1.1.1, 2001:db8::9", NULL },	"2001:db8::9" },
	{ { "2001:db8::9, ::ffff:10.1.1.1", NULL },	"2001:db8::9" },	/* mapped: trusted */
	/* garbage stops the walk at the last good address to its right */
	{ { "6.6.6.6, unknown, 10.0.0.2", NULL },	"10.0.0.2" },
	{ { "unknown", NULL },				"127.0.0.1" },
	{ { "6.6.6.6, 10.0.0.2, garbage", NULL },	"127.0.0.1" },
	{ { "_hidden, 10.0.0.2", NULL },		"10.0.0.2" },
};

static void
test_walk(void)
{
	struct cidr tr[8];
	size_t ntr = list(TRUST, tr, nitems(tr));
	struct ipaddr peer;

	CHECK(ipaddr_parse("127.0.0.1", 9, &peer) == 0);
	for (size_t i = 0; i < nitems(walks); i++) {
		struct http_header hs[8];
		size_t n = 0;
		struct ipaddr client;
		char txt[INET6_ADDRSTRLEN];

		/* other fields around them do not count */
		hs[n].name = (struct hstr){ "Host", 4 };
		hs[n++].value = (struct hstr){ "example", 7 };
		for (size_t j = 0; j < 3 && walks[i].xff[j] != NULL; j++) {
			hs[n].name = (struct hstr){ j == 1 ? "x-forwarded-FOR" : "X-Forwarded-For", 15 };
			hs[n++].value = (struct hstr){ walks[i].xff[j], strlen(walks[i].xff[j]) };
			hs[n].name = (struct hstr){ "X-Forwarded-By", 14 };
			hs[n++].value = (struct hstr){ "9.9.9.9", 7 };
		}
		forward_client(hs, n, tr, ntr, &peer, &client);
		inet_ntop(client.family, client.b, txt, sizeof(txt));
		CHECKF(strcmp(txt, walks[i].client) == 0, "case %zu (%s): got %s, want %s",
		    i, walks[i].xff[0] ? walks[i].xff[0] : "-", txt, walks[i].client);
	}
}

/* A random chain: the walk's answer equals a naive right-to-left scan. */
static void
test_walk_random(void)
{
	static const char *pool[] = { "10.0.0.1", "10.9.9.9", "127.0.0.1", "6.6.6.6",
	    "1.2.3.4", "fd00::7", "2001:db8::1", "bad" };
	struct cidr tr[8];
	size_t ntr = list(TRUST, tr, nitems(tr));
	struct ipaddr peer;

	srandom(11);
	ipaddr_parse("10.0.0.5", 8, &peer);
	for (int iter = 0; iter < 20000; iter++) {
		char buf[256] = "";
		int k = (int)(random() % 6);
		const char *ent[6];
		struct http_header h;
		struct ipaddr got, want = peer;

		for (int i = 0; i < k; i++) {
			ent[i] = pool[random() % nitems(pool)];
			strcat(buf, i ? ", " : "");
			strcat(buf, ent[i]);
		}
		for (int i = k - 1; i >= 0; i--) {
			struct ipaddr a;

			if (ipaddr_parse(ent[i], strlen(ent[i]), &a) != 0)
				break;
			want = a;
			if (!cidr_match(tr, ntr, &a))
				break;
		}
		h.name = (struct hstr){ "X-Forwarded-For", 15 };
		h.value = (struct hstr){ buf, strlen(buf) };
		forward_client(&h, k > 0 ? 1 : 0, tr, ntr, &peer, &got);
		CHECKF(memcmp(&got, &want, sizeof(got)) == 0, "\"%s\"", buf);
	}
}

int
main(void)
{
	test_addrs();
	test_blocks();
	test_match();
	test_walk();
	test_walk_random();
	return unit_done("test_forward");
}
