/*
 * test_httpparse.c - unit tests for src/common/httpparse.c.
 *
 * Table-driven, one case a line.  Every request and response case is also
 * replayed at every prefix length (each prefix must give WEIR_AGAIN or the
 * very result of the whole input) and as the first of a pipelined pair.
 * Every chunked case is fed whole, split in two at every byte and one byte
 * at a time.  Inputs are always parsed from an exact-size heap copy so that
 * AddressSanitizer catches a read past the end.
 */
#include "../unit.h"
#include "../../../src/common/httpparse.c"

#include <stdlib.h>

#define R(s)		s, sizeof(s) - 1
#define ALL		(-100)		/* expected return: the whole input */
#define KA		HTTP_F_KEEPALIVE
#define CH		HTTP_F_CHUNKED
#define EX		HTTP_F_EXPECT_100
#define CLOSE		HTTP_F_CONN_CLOSE
#define KEEP		HTTP_F_CONN_KEEP
#define UPG		HTTP_F_CONN_UPGRADE
#define HCL		HTTP_F_HAS_CL
#define H11		"HTTP/1.1\r\nHost: a\r\n\r\n"

/* Limits for the limit cases: 32-byte request line, 96-byte section, 3 fields. */
static const struct httpparse_limits small = { 32, 96, 3 };

struct rq {
	int			 line;
	const char		*raw;
	size_t			 len;
	const struct httpparse_limits *lim;
	int			 ret;		/* ALL, bytes, WEIR_AGAIN, WEIR_ERROR */
	int			 status;
	const char		*why;
	enum http_method	 m;
	const char		*path, *query, *host;
	int			 minor;
	unsigned		 flags;
	long long		 cl;
};

#define OK(raw, m, path, query, host, minor, flags, cl) \
	{ __LINE__, R(raw), NULL, ALL, 0, NULL, m, path, query, host, minor, flags, cl }
#define OKN(n, raw, m, path, query, host, minor, flags, cl) \
	{ __LINE__, R(raw), NULL, n, 0, NULL, m, path, query, host, minor, flags, cl }
#define OKL(lim, raw, m, path, host) \
	{ __LINE__, R(raw), lim, ALL, 0, NULL, m, path, NULL, host, 1, KA, -1 }
#define ERR(st, why, raw)	{ __LINE__, R(raw), NULL, WEIR_ERROR, st, why, 0, 0, 0, 0, 0, 0, 0 }
#define ERRL(lim, st, why, raw)	{ __LINE__, R(raw), lim, WEIR_ERROR, st, why, 0, 0, 0, 0, 0, 0, 0 }
#define MORE(raw)		{ __LINE__, R(raw), NULL, WEIR_AGAIN, 0, NULL, 0, 0, 0, 0, 0, 0, 0 }
#define MOREL(lim, raw)		{ __LINE__, R(raw), lim, WEIR_AGAIN, 0, NULL, 0, 0, 0, 0, 0, 0, 0 }

static const struct rq rqs[] = {
	/* valid requests and what they say */
	OK("GET / " H11, HTTP_M_GET, "/", NULL, "a", 1, KA, -1),
	OK("GET /p/a%20b?x=1&y=%2F/? HTTP/1.1\r\nHost: ex.com:8080\r\n\r\n", HTTP_M_GET, "/p/a%20b", "x=1&y=%2F/?", "ex.com:8080", 1, KA, -1),
	OK("GET /? " H11, HTTP_M_GET, "/", "", "a", 1, KA, -1),
	OK("GET /a-._~!$&'()*+,;=:@%aF " H11, HTTP_M_GET, "/a-._~!$&'()*+,;=:@%aF", NULL, "a", 1, KA, -1),
	OK("\r\nGET / " H11, HTTP_M_GET, "/", NULL, "a", 1, KA, -1),
	OK("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / " H11, HTTP_M_GET, "/", NULL, "a", 1, KA, -1),
	OK("GET / HTTP/1.0\r\n\r\n", HTTP_M_GET, "/", NULL, NULL, 0, 0, -1),
	OK("GET / HTTP/1.0\r\nHost:\r\n\r\n", HTTP_M_GET, "/", NULL, "", 0, 0, -1),
	OK("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", HTTP_M_GET, "/", NULL, NULL, 0, KA | KEEP, -1),
	OK("GET / HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n", HTTP_M_GET, "/", NULL, NULL, 0, KEEP | CLOSE, -1),
	OK("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", HTTP_M_GET, "/", NULL, "a", 1, CLOSE, -1),
	OK("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, keep-alive\r\n\r\n", HTTP_M_GET, "/", NULL, "a", 1, KA | UPG | KEEP, -1),
	OK("GET / HTTP/1.1\r\nHost: a\r\nConnection: ,, x ,\t,CLOSE\r\n\r\n", HTTP_M_GET, "/", NULL, "a", 1, CLOSE, -1),
	OK("GET / HTTP/1.1\r\nHost: a\r\nConnection:\r\n\r\n", HTTP_M_GET, "/", NULL, "a", 1, KA, -1),
	OK("GET / HTTP/1.2\r\nHost: a\r\n\r\n", HTTP_M_GET, "/", NULL, "a", 1, KA, -1),
	OK("GET / HTTP/1.9\r\nHost: a\r\n\r\n", HTTP_M_GET, "/", NULL, "a", 1, KA, -1),
	OKN(48, "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", HTTP_M_POST, "/f", NULL, "a", 1, KA | HCL, 5),
	OK("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", HTTP_M_POST, "/", NULL, "a", 1, KA | HCL, 0),
	OK("POST / HTTP/1.1\r\nHost: a\r\ncontent-length:  007 \r\n\r\n", HTTP_M_POST, "/", NULL, "a", 1, KA | HCL, 7),
	OK("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", HTTP_M_POST, "/", NULL, "a", 1, KA | HCL, INT64_MAX),
	OK("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 00000000000000000000000000001\r\n\r\n", HTTP_M_POST, "/", NULL, "a", 1, KA | HCL, 1),
	OK("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n", HTTP_M_POST, "/", NULL, NULL, 0, HCL, 3),
	OK("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_M_POST, "/", NULL, "a", 1, KA | CH, -1),
	OK("POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: CHUNKED\r\n\r\n", HTTP_M_POST, "/", NULL, "a", 1, KA | CH, -1),
	OK("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\nTransfer-Encoding: , chunked,\r\n\r\n", HTTP_M_POST, "/", NULL, "a", 1, KA | CH, -1),
	OK("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", HTTP_M_PUT, "/", NULL, "a", 1, KA | EX | HCL, 1),
	OK("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n", HTTP_M_PUT, "/", NULL, "a", 1, KA | EX, -1),
	OK("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", HTTP_M_PUT, "/", NULL, NULL, 0, 0, -1),
	OK("GET http://a.example/x?y HTTP/1.1\r\nHost: b.example\r\n\r\n", HTTP_M_GET, "/x", "y", "a.example", 1, KA, -1),
	OK("GET HTTPS://a.example HTTP/1.1\r\nHost: b\r\n\r\n", HTTP_M_GET, "/", NULL, "a.example", 1, KA, -1),
	OK("GET hTtP://a:80?q HTTP/1.1\r\nHost: b\r\n\r\n", HTTP_M_GET, "/", "q", "a:80", 1, KA, -1),
	OK("GET http://[::1]:8080/ HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", HTTP_M_GET, "/", NULL, "[::1]:8080", 1, KA, -1),
	OK("GET http://a/ HTTP/1.0\r\n\r\n", HTTP_M_GET, "/", NULL, "a", 0, 0, -1),
	OK("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", HTTP_M_CONNECT, NULL, NULL, "a.example:443", 1, KA, -1),
	OK("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_M_CONNECT, NULL, NULL, "x", 1, KA, -1),
	OK("OPTIONS * " H11, HTTP_M_OPTIONS, "*", NULL, "a", 1, KA, -1),
	OK("OPTIONS / " H11, HTTP_M_OPTIONS, "/", NULL, "a", 1, KA, -1),
	OK("PROPFIND /d/ " H11, HTTP_M_PROPFIND, "/d/", NULL, "a", 1, KA, -1),
	OK("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", HTTP_M_GET, "/", NULL, "127.0.0.1", 1, KA, -1),
	OK("GET / HTTP/1.1\r\nHost: [::ffff:1.2.3.4]:80\r\n\r\n", HTTP_M_GET, "/", NULL, "[::ffff:1.2.3.4]:80", 1, KA, -1),
	OK("GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7:8]\r\n\r\n", HTTP_M_GET, "/", NULL, "[1:2:3:4:5:6:7:8]", 1, KA, -1),
	OK("GET / HTTP/1.1\r\nHost: [::]\r\n\r\n", HTTP_M_GET, "/", NULL, "[::]", 1, KA, -1),
	OK("GET / HTTP/1.1\r\nHosx: b\r\nHost: a\r\nExpecx: a\r\nContent-Lengtx: a\r\n\r\n", HTTP_M_GET, "/", NULL, "a", 1, KA, -1),
	OK("GET / HTTP/1.1\r\nHost: [1::]\r\n\r\n", HTTP_M_GET, "/", NULL, "[1::]", 1, KA, -1),
	OK("GET / HTTP/1.1\r\nHost: [v1.fe:x]\r\n\r\n", HTTP_M_GET, "/", NULL, "[v1.fe:x]", 1, KA, -1),
	OK("GET / HTTP/1.1\r\nHost: a%41b.c-d_e~\r\n\r\n", HTTP_M_GET, "/", NULL, "a%41b.c-d_e~", 1, KA, -1),
	OK("GET / HTTP/1.1\r\nHost: a,b;c=$\r\n\r\n", HTTP_M_GET, "/", NULL, "a,b;c=$", 1, KA, -1),
	OK("GET / HTTP/1.1\r\nHost: x:\r\n\r\n", HTTP_M_GET, "/", NULL, "x:", 1, KA, -1),
	OK("GET / HTTP/1.1\r\nHost: x:65535\r\n\r\n", HTTP_M_GET, "/", NULL, "x:65535", 1, KA, -1),
	OK("GET / HTTP/1.1\r\nHost: \t a \t \r\n\r\n", HTTP_M_GET, "/", NULL, "a", 1, KA, -1),
	OK("GET / HTTP/1.1\r\nX: \x80\xff v\tw\r\nY:\r\nHost: a\r\n\r\n", HTTP_M_GET, "/", NULL, "a", 1, KA, -1),
	OK("GET / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n", HTTP_M_GET, "/", NULL, "a", 1, KA, -1),
	OKL(&small, "GET /1234567890123456 HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_M_GET, "/1234567890123456", "a"),
	OKL(&small, "GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 2\r\n\r\n", HTTP_M_GET, "/", "a"),
	OKL(&small, "GET / HTTP/1.1\r\nHost: a\r\nB: 1234567890123456789012345678901234567890123456789012345678901234\r\n\r\n", HTTP_M_GET, "/", "a"),

	/* incomplete */
	MORE(""),
	MORE("GET"),
	MORE("GET / HTTP/1.1\r\nHost: a\r\n"),
	MORE("GET / HTTP/1.1\r\nHost: a\r\n\r"),
	MORE("\r\n\r\n"),
	MORE("GET /%4"),
	MORE("GET http"),
	MOREL(&small, "GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 2\r\n"),
	MOREL(&small, "GET /123456789012345678 HTTP/1."),

	/* 1. leading empty lines, bare LF and bare CR */
	ERR(400, "too many empty lines before request", "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / " H11),
	ERR(400, "bare LF", "\nGET / " H11),
	ERR(400, "bare CR", "\rGET / " H11),
	ERR(400, "bare CR", "\r\r\nGET / " H11),
	ERR(400, "bare LF", "GET / HTTP/1.1\nHost: a\r\n\r\n"),
	ERR(400, "bare CR", "GET / HTTP/1.1\rHost: a\r\n\r\n"),
	ERR(400, "bare LF", "GET / HTTP/1.1\r\nHost: a\n\r\n"),
	ERR(400, "bare CR", "GET / HTTP/1.1\r\nHost: a\r\r\n"),
	ERR(400, "bare LF", "GET / HTTP/1.1\r\nHost: a\r\n\n"),
	ERR(400, "bare CR", "GET / HTTP/1.1\r\nHost: a\r\n\rX"),
	ERR(400, "bare CR", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"),
	ERR(400, "bare LF", "GET / HTTP/1.1\r\nHost: a\r\nX\n\r\n"),
	/* 2. request-line */
	ERR(400, "bad method", " GET / " H11),
	ERR(400, "bad method", "GET\t/ " H11),
	ERR(400, "bad method", "G(T / " H11),
	ERR(400, "bad method", "GET\r\n"),
	ERR(400, "bad request target", "GET  / " H11),
	ERR(400, "bad HTTP version", "GET /  " H11),
	ERR(400, "bad HTTP version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n"),
	ERR(400, "bad HTTP version", "GET / http/1.1\r\nHost: a\r\n\r\n"),
	ERR(400, "bad HTTP version", "GET / HTTP/1.10\r\nHost: a\r\n\r\n"),
	ERR(400, "bad HTTP version", "GET / HTTP/11\r\nHost: a\r\n\r\n"),
	ERR(400, "bad HTTP version", "GET / HTTP/a.1\r\nHost: a\r\n\r\n"),
	ERR(400, "bad HTTP version", "GET / HTTP/1.1 x\r\n"),
	ERR(400, "missing HTTP version", "GET /\r\n\r\n"),
	ERR(400, "bare LF", "GET / HTTP/1.1\n\n"),
	ERR(501, "method not implemented", "FOO / " H11),
	ERR(501, "method not implemented", "get / " H11),
	ERR(501, "method not implemented", "GETS / " H11),
	ERR(501, "method not implemented", "PROPFINDX / " H11),
	ERR(501, "method not implemented", "PROPPATCHX / " H11),
	ERR(501, "method not implemented", "GO / " H11),
	ERR(505, "HTTP version not supported", "GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
	ERR(505, "HTTP version not supported", "GET / HTTP/0.9\r\n"),
	ERR(505, "HTTP version not supported", "FOO / HTTP/3.1\r\n"),
	/* 3. request-target */
	ERR(400, "bad request target", "GET example.com:80 " H11),
	ERR(400, "bad request target", "GET ftp://a/ " H11),
	ERR(400, "bad request target", "GET http:/a/ " H11),
	ERR(400, "bad request target", "GET httpx://a/ " H11),
	ERR(400, "bad request target", "GET httpss://a/ " H11),
	ERR(400, "bad authority in request target", "GET http:///x " H11),
	ERR(400, "bad authority in request target", "GET http://?x " H11),
	ERR(400, "bad authority in request target", "GET http://u@a/ " H11),
	ERR(400, "bad authority in request target", "GET http://a:80:80/ " H11),
	ERR(400, "bad authority in request target", "GET http://[::1/ " H11),
	ERR(400, "bad character in request target", "GET http://a#/ " H11),
	ERR(400, "bad authority-form target", "CONNECT / " H11),
	ERR(400, "bad authority-form target", "CONNECT a.example " H11),
	ERR(400, "bad authority-form target", "CONNECT a.example: " H11),
	ERR(400, "bad authority-form target", "CONNECT http://a:1/ " H11),
	ERR(400, "bad authority-form target", "CONNECT a:1#x " H11),
	ERR(400, "asterisk-form is only for OPTIONS", "GET * " H11),
	ERR(400, "asterisk-form is only for OPTIONS", "FOO * " H11),
	ERR(400, "bad asterisk-form target", "OPTIONS *x " H11),
	ERR(400, "bad asterisk-form target", "OPTIONS */ " H11),
	ERR(400, "bad character in request target", "GET /a#b " H11),
	ERR(400, "bad character in request target", "GET /\x80 " H11),
	ERR(400, "bad character in request target", "GET /?\xff " H11),
	ERR(400, "bad character in request target", "GET /a\x7f " H11),
	ERR(400, "bad character in request target", "GET /a\tb " H11),
	ERR(400, "bad character in request target", "GET /a\0b " H11),
	ERR(400, "bad character in request target", "GET /[x] " H11),
	ERR(400, "bad character in request target", "GET /a\"b " H11),
	ERR(400, "bad character in request target", "GET /a{b " H11),
	ERR(400, "bad character in request target", "GET /a\\b " H11),
	ERR(400, "bad character in request target", "GET /a^b " H11),
	ERR(400, "bad character in request target", "GET /a|b " H11),
	ERR(400, "bad character in request target", "GET /a`b " H11),
	ERR(400, "bad character in request target", "GET /a<b " H11),
	ERR(400, "bad percent-encoding in request target", "GET /a%2 " H11),
	ERR(400, "bad percent-encoding in request target", "GET /a%g0 " H11),
	ERR(400, "bad percent-encoding in request target", "GET /a?%0g " H11),
	/* 4. field lines */
	ERR(400, "whitespace before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
	ERR(400, "whitespace before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"),
	ERR(400, "whitespace before colon", "GET / HTTP/1.1\r\nX Y: a\r\n\r\n"),
	ERR(400, "obs-fold or whitespace at start of field line", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"),
	ERR(400, "obs-fold or whitespace at start of field line", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n"),
	ERR(400, "obs-fold or whitespace at start of field line", "GET / HTTP/1.1\r\n Host: a\r\n\r\n"),
	ERR(400, "control character in field value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"),
	ERR(400, "control character in field value", "GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n"),
	ERR(400, "control character in field value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"),
	ERR(400, "control character in field value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x1b[0m\r\n\r\n"),
	ERR(400, "bare LF", "GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n"),
	ERR(400, "empty field name", "GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n"),
	ERR(400, "bad character in field name", "GET / HTTP/1.1\r\nX(: a\r\nHost: a\r\n\r\n"),
	ERR(400, "bad character in field name", "GET / HTTP/1.1\r\nX\x80: a\r\nHost: a\r\n\r\n"),
	ERR(400, "bad character in field name", "GET / HTTP/1.1\r\nX/Y: a\r\nHost: a\r\n\r\n"),
	ERR(400, "bad character in field name", "GET / HTTP/1.1\r\n\"X\": a\r\nHost: a\r\n\r\n"),
	ERR(400, "bad character in field name", "GET / HTTP/1.1\r\nX\0: a\r\nHost: a\r\n\r\n"),
	ERR(400, "field line without colon", "GET / HTTP/1.1\r\nHost\r\n\r\n"),
	/* 5. limits, with complete and incomplete input */
	ERRL(&small, 431, "too many header fields", "GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 2\r\nD: 3\r\n\r\n"),
	ERRL(&small, 431, "too many header fields", "GET / HTTP/1.1\r\nHost: a\r\nB: 1\r\nC: 2\r\nD"),
	ERRL(&small, 431, "header section too large", "GET / HTTP/1.1\r\nHost: a\r\nB: 12345678901234567890123456789012345678901234567890123456789012345\r\n\r\n"),
	ERRL(&small, 431, "header section too large", "GET / HTTP/1.1\r\nHost: a\r\nB: 12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
	ERRL(&small, 414, "request line too long", "GET /12345678901234567 HTTP/1.1\r\nHost: a\r\n\r\n"),
	ERRL(&small, 414, "request line too long", "GET /123456789012345678901234567890"),
	ERRL(&small, 414, "request line too long", "\r\n\r\nGET /123456789012345678901234567890"),
	ERRL(&small, 400, "bad character in request target", "GET /\x01" "123456789012345678901234567890"),
	ERRL(&small, 400, "bad HTTP version", "GET /12345678901234567 HTTPX"),
	/* 6. Host */
	ERR(400, "missing Host", "GET / HTTP/1.1\r\n\r\n"),
	ERR(400, "missing Host", "GET http://a/ HTTP/1.1\r\n\r\n"),
	ERR(400, "duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
	ERR(400, "duplicate Host", "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: a%4\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: \x80\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: [:::1]\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: [1::2::3]\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7:8:9]\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: [1:2:3:4:5:6:7]\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: [12345::1]\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: [1:]\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: [::1.2.3.256]\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: [::01.2.3.4]\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: [::1.2.3]\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: []\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: [v.x]\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: [v1.]\r\n\r\n"),
	ERR(400, "bad Host", "GET / HTTP/1.1\r\nHost: [v1.a/b]\r\n\r\n"),
	/* 7. Content-Length */
	ERR(400, "bad Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"),
	ERR(400, "bad Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"),
	ERR(400, "bad Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
	ERR(400, "bad Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n"),
	ERR(400, "bad Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n"),
	ERR(400, "bad Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"),
	ERR(400, "bad Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n"),
	ERR(400, "bad Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"),
	ERR(400, "duplicate Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-length: 5\r\n\r\n"),
	ERR(400, "duplicate Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
	/* 8. Transfer-Encoding */
	ERR(400, "Transfer-Encoding with Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
	ERR(400, "Transfer-Encoding with Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
	ERR(400, "Transfer-Encoding with Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\n"),
	ERR(400, "Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
	ERR(400, "chunked is not the final coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
	ERR(400, "chunked is not the final coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"),
	ERR(400, "chunked applied twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
	ERR(400, "chunked applied twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
	ERR(501, "transfer coding not implemented", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
	ERR(501, "transfer coding not implemented", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
	ERR(501, "transfer coding not implemented", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n"),
	ERR(400, "bad Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"),
	ERR(400, "bad Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chun ked\r\n\r\n"),
	ERR(400, "empty Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n"),
	ERR(400, "empty Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n"),
	/* 9. Connection */
	ERR(400, "bad Connection", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close, \"x\"\r\n\r\n"),
	ERR(400, "bad Connection", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep alive\r\n\r\n"),
	/* 10. Expect */
	ERR(417, "unsupported expectation", "PUT / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\n\r\n"),
	ERR(417, "unsupported expectation", "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, foo\r\n\r\n"),
	ERR(417, "unsupported expectation", "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue=1\r\n\r\n"),
	ERR(417, "unsupported expectation", "PUT / HTTP/1.0\r\nExpect: 200-ok\r\n\r\n"),
	/* order: syntax before the section-level checks */
	ERR(400, "bad Host", "PUT / HTTP/1.1\r\nExpect: foo\r\nHost: \r\n\r\n"),
	ERR(400, "missing Host", "PUT / HTTP/1.1\r\nExpect: foo\r\nTransfer-Encoding: gzip\r\n\r\n"),
};

static const char next_rq[] = "GET /next HTTP/1.1\r\nHost: n\r\n\r\n";

static char *
xdup(const char *p, size_t n)
{
	char	*b;

	if ((b = malloc(n ? n : 1)) == NULL)
		abort();
	if (n)
		memcpy(b, p, n);
	return b;
}

static bool
eqs(struct hstr s, const char *want)
{
	if (want == NULL || s.p == NULL)
		return want == NULL && s.p == NULL;
	return s.n == strlen(want) && memcmp(s.p, want, s.n) == 0;
}

static bool
inside(struct hstr s, const char *b, size_t n)
{
	return s.p == NULL || (s.p >= b && s.p + s.n <= b + n);
}

static const char *
nz(const char *s)
{
	return s ? s : "(none)";
}

/*
 * Parse every prefix of raw[0..len) and check each gives WEIR_AGAIN or the
 * result of the whole (rc, st, why).
 */
static void
rq_replay(int line, const char *raw, size_t len,
    const struct httpparse_limits *lim, int rc, int st, const char *why)
{
	struct http_request	 req;
	const char		*w2;
	char			*b;
	size_t			 k;
	int			 r, s2;

	for (k = 0; k <= len; k++) {
		b = xdup(raw, k);
		s2 = 0;
		w2 = NULL;
		r = httpparse_request(b, k, &req, lim, &s2, &w2);
		free(b);
		if (rc >= 0 && (size_t)rc <= k)
			CHECKF(r == rc && req.header_len == (size_t)rc,
			    "line %d prefix %zu: %d, want %d", line, k, r, rc);
		else if (rc >= 0 || r == WEIR_AGAIN)
			CHECKF(r == WEIR_AGAIN, "line %d prefix %zu: %d (%s)",
			    line, k, r, nz(w2));
		else
			CHECKF(r == rc && s2 == st && strcmp(nz(w2), why) == 0,
			    "line %d prefix %zu: %d %d %s, want %d %s", line,
			    k, r, s2, nz(w2), st, why);
	}
}

static void
rq_run(const struct rq *t)
{
	struct http_request	 req;
	const char		*why = NULL;
	char			*b;
	size_t			 n2, i;
	int			 rc, st = -7, want;

	want = t->ret == ALL ? (int)t->len : t->ret;
	b = xdup(t->raw, t->len);
	rc = httpparse_request(b, t->len, &req, t->lim, &st, &why);
	CHECKF(rc == want, "line %d: returned %d, want %d (%d %s)", t->line,
	    rc, want, st, nz(why));
	if (rc == WEIR_ERROR)
		CHECKF(st == t->status && strcmp(nz(why), nz(t->why)) == 0,
		    "line %d: %d %s, want %d %s", t->line, st, nz(why),
		    t->status, t->why);
	else
		CHECKF(st == -7 && why == NULL, "line %d: status set", t->line);
	if (rc > 0 && rc == want) {
		CHECKF(req.header_len == (size_t)rc, "line %d", t->line);
		CHECKF(req.method == t->m, "line %d: method %d", t->line,
		    req.method);
		CHECKF(eqs(req.method_str, httpparse_method_name(t->m)),
		    "line %d: method_str", t->line);
		CHECKF(eqs(req.path, t->path), "line %d: path %.*s", t->line,
		    (int)req.path.n, nz(req.path.p));
		CHECKF(eqs(req.query, t->query), "line %d: query %.*s",
		    t->line, (int)req.query.n, nz(req.query.p));
		CHECKF(eqs(req.host, t->host), "line %d: host %.*s", t->line,
		    (int)req.host.n, nz(req.host.p));
		CHECKF(req.minor == t->minor, "line %d: minor", t->line);
		CHECKF(req.flags == t->flags, "line %d: flags %#x, want %#x",
		    t->line, req.flags, t->flags);
		CHECKF(req.content_length == t->cl, "line %d: cl %lld",
		    t->line, (long long)req.content_length);
		CHECKF(inside(req.method_str, b, t->len) &&
		    inside(req.target, b, t->len) && inside(req.path, b, t->len)
		    && inside(req.query, b, t->len) &&
		    inside(req.host, b, t->len), "line %d: outside", t->line);
		for (i = 0; i < req.nheaders; i++)
			CHECKF(inside(req.headers[i].name, b, (size_t)rc) &&
			    inside(req.headers[i].value, b, (size_t)rc),
			    "line %d: header %zu outside", t->line, i);
	}
	free(b);
	rq_replay(t->line, t->raw, t->len, t->lim, rc, st, nz(why));
	if (rc == WEIR_AGAIN)
		return;

	/* the same as the first of a pipelined pair */
	n2 = t->len + sizeof(next_rq) - 1;
	b = malloc(n2);
	if (b == NULL)
		abort();
	memcpy(b, t->raw, t->len);
	memcpy(b + t->len, next_rq, sizeof(next_rq) - 1);
	st = -7;
	why = NULL;
	CHECKF(httpparse_request(b, n2, &req, t->lim, &st, &why) == rc &&
	    (rc != WEIR_ERROR || (st == t->status &&
	    strcmp(nz(why), t->why) == 0)), "line %d: pipelined", t->line);
	rq_replay(t->line, b, n2, t->lim, rc, st, nz(why));
	if (t->ret == ALL && rc > 0) {
		CHECKF(httpparse_request(b + rc, n2 - (size_t)rc, &req, t->lim,
		    &st, &why) == (int)sizeof(next_rq) - 1 &&
		    eqs(req.path, "/next"), "line %d: second", t->line);
	}
	free(b);
}

/* Details the table does not show: fields, forms, helpers. */
static void
rq_details(void)
{
	static const char	 raw[] = "GET /x?y HTTP/1.1\r\nHost: a\r\n"
	    "X-Long-Name:  v  1 \r\nEmpty:\r\n\r\n";
	struct http_request	 req;
	const struct http_header *h;
	const char		*why;
	char			 buf[64];
	int			 st, m, n;

	CHECK_INT(httpparse_request(raw, sizeof(raw) - 1, &req, NULL, &st,
	    &why), sizeof(raw) - 1);
	CHECK_INT(req.nheaders, 3);
	CHECK_INT(req.target_form, HTTP_TARGET_ORIGIN);
	CHECK_MEM(req.target.p, req.target.n, "/x?y");
	CHECK_MEM(req.headers[1].name.p, req.headers[1].name.n, "X-Long-Name");
	CHECK_MEM(req.headers[1].value.p, req.headers[1].value.n, "v  1");
	CHECK_MEM(req.headers[2].value.p, req.headers[2].value.n, "");
	h = httpparse_find(req.headers, req.nheaders, "x-long-name");
	CHECK(h == &req.headers[1]);
	CHECK(httpparse_find(req.headers, req.nheaders, "x-long") == NULL);
	CHECK(httpparse_find(req.headers, req.nheaders, "x-long-namex") == NULL);
	CHECK(hstr_eq_ci(req.headers[0].name, "HOST"));
	CHECK(!hstr_eq_ci(req.headers[0].name, "hos"));
	/* only letters match their other case: '@' is not '`', '[' is not '{' */
	CHECK(hstr_eq_ci((struct hstr){ "Content-LENGTH", 14 }, "content-length"));
	CHECK(hstr_eq_ci((struct hstr){ "x-a@[z", 6 }, "X-A@[Z"));
	CHECK(!hstr_eq_ci((struct hstr){ "x@", 2 }, "x`"));
	CHECK(!hstr_eq_ci((struct hstr){ "x[", 2 }, "x{"));
	CHECK(!hstr_eq_ci((struct hstr){ "x-", 2 }, "x\r"));
	CHECK(!hstr_eq_ci((struct hstr){ "ab", 2 }, "abc"));
	CHECK(!hstr_eq_ci((struct hstr){ "abc", 3 }, "ab"));
	CHECK(!hstr_eq_ci((struct hstr){ "a\x80", 2 }, "a\xa0"));
	CHECK(hstr_eq_ci((struct hstr){ "", 0 }, ""));

	n = snprintf(buf, sizeof(buf), "GET http://h:1/p?q HTTP/1.1\r\n"
	    "Host: o\r\n\r\n");
	CHECK_INT(httpparse_request(buf, (size_t)n, &req, NULL, &st, &why), n);
	CHECK_INT(req.target_form, HTTP_TARGET_ABSOLUTE);
	CHECK_MEM(req.target.p, req.target.n, "http://h:1/p?q");
	n = snprintf(buf, sizeof(buf), "CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n");
	CHECK_INT(httpparse_request(buf, (size_t)n, &req, NULL, &st, &why), n);
	CHECK_INT(req.target_form, HTTP_TARGET_AUTHORITY);
	CHECK_MEM(req.target.p, req.target.n, "h:1");
	CHECK(req.path.p == NULL && req.query.p == NULL);
	n = snprintf(buf, sizeof(buf), "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
	CHECK_INT(httpparse_request(buf, (size_t)n, &req, NULL, &st, &why), n);
	CHECK_INT(req.target_form, HTTP_TARGET_ASTERISK);

	/* every known method, by name */
	for (m = HTTP_M_GET; m < HTTP_M__COUNT; m++) {
		n = snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nHost: h\r\n\r\n",
		    httpparse_method_name(m), m == HTTP_M_CONNECT ? "h:1" : "/");
		CHECKF(httpparse_request(buf, (size_t)n, &req, NULL, &st,
		    &why) == n && (int)req.method == m, "method %d", m);
	}
	CHECK_STR(httpparse_method_name(HTTP_M_UNKNOWN), "");
	CHECK_STR(httpparse_method_name(HTTP_M__COUNT), "");
	CHECK_STR(httpparse_method_name(HTTP_M_PROPPATCH), "PROPPATCH");

	/* huge limits are clamped so that the length fits the int returned */
	{
		struct httpparse_limits	 l = { SIZE_MAX, SIZE_MAX, SIZE_MAX };

		CHECK_INT(httpparse_request(raw, sizeof(raw) - 1, &req, &l, &st,
		    &why), sizeof(raw) - 1);
		CHECK_INT(httpparse_request(raw, 5, &req, &l, &st, &why),
		    WEIR_AGAIN);
	}

	/* the limit on the number of fields is clamped to the array */
	{
		static char		 big[8192];
		struct httpparse_limits	 l = { 8192, 8192, 1000 };
		int			 i;

		n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: h\r\n");
		for (i = 1; i < HTTPPARSE_MAX_HEADERS; i++)
			n += snprintf(big + n, sizeof(big) - (size_t)n,
			    "X: %d\r\n", i);
		n += snprintf(big + n, sizeof(big) - (size_t)n, "\r\n");
		CHECK_INT(httpparse_request(big, (size_t)n, &req, &l, &st,
		    &why), n);
		CHECK_INT(req.nheaders, HTTPPARSE_MAX_HEADERS);
		memcpy(big + n - 2, "Y: 1\r\n\r\n", 8);
		CHECK_INT(httpparse_request(big, (size_t)n + 6, &req, &l, &st,
		    &why), WEIR_ERROR);
		CHECK_INT(st, 431);
	}
}

static void
header_end_tests(void)
{
	static const char	 m[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET";
	size_t			 n = sizeof(m) - 1, k, prev, got;

	CHECK_INT(httpparse_header_end(m, n, 0), 27);
	CHECK_INT(httpparse_header_end(m, 26, 0), 0);
	CHECK_INT(httpparse_header_end(m, 27, 23), 27);
	CHECK_INT(httpparse_header_end(m, 27, 24), 0);
	CHECK_INT(httpparse_header_end(m, n, 100), 0);
	CHECK_INT(httpparse_header_end("\r\n\r", 3, 0), 0);
	CHECK_INT(httpparse_header_end("\r\n\r\n", 4, 0), 4);
	CHECK_INT(httpparse_header_end("\n\r\n\r\n", 5, 0), 5);
	CHECK_INT(httpparse_header_end("", 0, 0), 0);
	/* as a caller uses it, one byte more each time */
	for (prev = 0, got = 0, k = 1; k <= n && got == 0; k++) {
		got = httpparse_header_end(m, k, prev > 3 ? prev - 3 : 0);
		prev = k;
	}
	CHECK_INT(got, 27);
}

struct rs {
	int		 line;
	const char	*raw;
	size_t		 len;
	int		 ret;
	const char	*why;
	int		 status, minor;
	const char	*reason;
	unsigned	 flags;
	long long	 cl;
};

#define ROK(raw, st, minor, reason, flags, cl) \
	{ __LINE__, R(raw), ALL, NULL, st, minor, reason, flags, cl }
#define ROKN(n, raw, st, minor, reason, flags, cl) \
	{ __LINE__, R(raw), n, NULL, st, minor, reason, flags, cl }
#define RERR(why, raw)	{ __LINE__, R(raw), WEIR_ERROR, why, 0, 0, NULL, 0, 0 }
#define RMORE(raw)	{ __LINE__, R(raw), WEIR_AGAIN, NULL, 0, 0, NULL, 0, 0 }

static const struct rs rss[] = {
	ROKN(38, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, 1, "OK", KA | HCL, 5),
	ROK("HTTP/1.1 204 No Content\r\n\r\n", 204, 1, "No Content", KA, -1),
	ROK("HTTP/1.0 200 OK\r\n\r\n", 200, 0, "OK", 0, -1),
	ROK("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 200, 0, "OK", KA | KEEP | HCL, 0),
	ROK("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", 200, 1, "OK", CLOSE, -1),
	ROK("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 200, 1, "OK", KA | CH, -1),
	ROK("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 200, 1, "OK", KA | CH, -1),
	ROK("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 200, 1, "OK", 0, -1),
	ROK("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 200, 1, "OK", 0, -1),
	ROK("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", 200, 1, "OK", KA | HCL, 5),
	ROK("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", 200, 1, "OK", KA | HCL, 5),
	ROK("HTTP/1.1 200\r\n\r\n", 200, 1, NULL, KA, -1),
	ROK("HTTP/1.1 404 \r\n\r\n", 404, 1, "", KA, -1),
	ROK("HTTP/1.1 999 x\x80\ty\r\n\r\n", 999, 1, "x\x80\ty", KA, -1),
	ROK("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", 101, 1, "Switching Protocols", KA | UPG, -1),
	ROK("HTTP/1.2 200 OK\r\n\r\n", 200, 1, "OK", KA, -1),
	RMORE("HTTP/1.1 200 OK\r\n"),
	RMORE("HTTP/1.1 2"),
	RERR("Transfer-Encoding with Content-Length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
	RERR("differing Content-Length values", "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n"),
	RERR("differing Content-Length values", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
	RERR("bad Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n"),
	RERR("bad Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: ,\r\n\r\n"),
	RERR("bad Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n"),
	RERR("Transfer-Encoding in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
	RERR("chunked applied twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
	RERR("bad Transfer-Encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: a b\r\n\r\n"),
	RERR("bad Connection", "HTTP/1.1 200 OK\r\nConnection: a b\r\n\r\n"),
	RERR("HTTP version not supported", "HTTP/2.0 200 OK\r\n\r\n"),
	RERR("bad HTTP version", "http/1.1 200 OK\r\n\r\n"),
	RERR("bad status line", "HTTP/1.1x200 OK\r\n\r\n"),
	RERR("bad status code", "HTTP/1.1  200 OK\r\n\r\n"),
	RERR("bad status code", "HTTP/1.1 20 OK\r\n\r\n"),
	RERR("bad status code", "HTTP/1.1 099 OK\r\n\r\n"),
	RERR("bad status line", "HTTP/1.1 2000 OK\r\n\r\n"),
	RERR("bad status line", "HTTP/1.1 200 O\x01K\r\n\r\n"),
	RERR("bare LF", "HTTP/1.1 200 OK\n\r\n"),
	RERR("bare CR", "HTTP/1.1 200 OK\rX"),
	RERR("obs-fold or whitespace at start of field line", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n"),
	RERR("whitespace before colon", "HTTP/1.1 200 OK\r\nA : b\r\n\r\n"),
	RERR("control character in field value", "HTTP/1.1 200 OK\r\nA: \x01\r\n\r\n"),
};

static void
rs_replay(int line, const char *raw, size_t len, int rc, const char *why)
{
	struct http_response	 res;
	const char		*w2;
	char			*b;
	size_t			 k;
	int			 r;

	for (k = 0; k <= len; k++) {
		b = xdup(raw, k);
		w2 = NULL;
		r = httpparse_response(b, k, &res, NULL, &w2);
		free(b);
		if (rc >= 0 && (size_t)rc <= k)
			CHECKF(r == rc, "line %d prefix %zu", line, k);
		else if (rc >= 0 || r == WEIR_AGAIN)
			CHECKF(r == WEIR_AGAIN, "line %d prefix %zu: %d %s",
			    line, k, r, nz(w2));
		else
			CHECKF(r == rc && strcmp(nz(w2), why) == 0,
			    "line %d prefix %zu: %s", line, k, nz(w2));
	}
}

static void
rs_run(const struct rs *t)
{
	struct http_response	 res;
	const char		*why = NULL;
	char			*b;
	size_t			 i;
	int			 rc, want;

	want = t->ret == ALL ? (int)t->len : t->ret;
	b = xdup(t->raw, t->len);
	rc = httpparse_response(b, t->len, &res, NULL, &why);
	CHECKF(rc == want, "line %d: returned %d, want %d (%s)", t->line, rc,
	    want, nz(why));
	if (rc == WEIR_ERROR)
		CHECKF(strcmp(nz(why), t->why) == 0, "line %d: %s, want %s",
		    t->line, nz(why), t->why);
	if (rc > 0 && rc == want) {
		CHECKF(res.header_len == (size_t)rc && res.status == t->status &&
		    res.minor == t->minor, "line %d: status line", t->line);
		CHECKF(eqs(res.reason, t->reason), "line %d: reason", t->line);
		CHECKF(res.flags == t->flags, "line %d: flags %#x, want %#x",
		    t->line, res.flags, t->flags);
		CHECKF(res.content_length == t->cl, "line %d: cl %lld", t->line,
		    (long long)res.content_length);
		for (i = 0; i < res.nheaders; i++)
			CHECKF(inside(res.headers[i].name, b, (size_t)rc) &&
			    inside(res.headers[i].value, b, (size_t)rc),
			    "line %d: header %zu", t->line, i);
	}
	free(b);
	rs_replay(t->line, t->raw, t->len, rc, nz(why));
}

struct ck {
	int		 line;
	const char	*raw;
	size_t		 len;
	int		 ret;		/* 1 done, 0 more, WEIR_ERROR */
	const char	*body;
	const char	*why;
	size_t		 max_line, max_trailer;
	const char	*trailers;	/* the lines kept (keep_trailers), NULL: "" */
};

#define CK(raw, body)		{ __LINE__, R(raw), 1, body, NULL, 0, 0, NULL }
#define CKT(raw, body, tr)	{ __LINE__, R(raw), 1, body, NULL, 0, 0, tr }
#define CKMORE(raw, body)	{ __LINE__, R(raw), 0, body, NULL, 0, 0, NULL }
#define CKERR(why, raw)		{ __LINE__, R(raw), WEIR_ERROR, NULL, why, 0, 0, NULL }
#define CKERRL(ml, mt, why, raw) { __LINE__, R(raw), WEIR_ERROR, NULL, why, ml, mt, NULL }

static const struct ck cks[] = {
	CK("5\r\nhello\r\n0\r\n\r\n", "hello"),
	CK("0\r\n\r\n", ""),
	CK("1\r\nx\r\n2\r\nyz\r\n0\r\n\r\n", "xyz"),
	CK("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij"),
	CK("000005\r\nhello\r\n0000\r\n\r\n", "hello"),
	CK("0000000000000005\r\nhello\r\n0\r\n\r\n", "hello"),
	CK("5;ext\r\nhello\r\n0;last\r\n\r\n", "hello"),
	CK("5;a=b;c=\"q d\\\"\\\\\"\r\nhello\r\n0\r\n\r\n", "hello"),
	CK("5 ; a = b ;c\t;d=\"\"  ;e\r\nhello\r\n0\r\n\r\n", "hello"),
	CK("5;a  \t=  b;c  ;d\r\nhello\r\n0\r\n\r\n", "hello"),
	CK("1;a=\"\x80\t\"\r\nx\r\n0\r\n\r\n", "x"),
	CKT("0\r\nX-T: v\r\nY:\r\nZ: a b\x80\r\n\r\n", "", "X-T: v\r\nY:\r\nZ: a b\x80\r\n"),
	CKT("3\r\n\r\n\r\r\n0\r\nX: 1\r\n\r\n", "\r\n\r", "X: 1\r\n"),
	CKT("5;e\r\nhello\r\n0;x=1\r\nGrpc-Status:\t0 \r\nB:c\r\n\r\n", "hello", "Grpc-Status:\t0 \r\nB:c\r\n"),
	CKMORE("5\r\nhel", "hel"),
	CKMORE("5\r\nhello\r\n0\r\nX: 1\r\n", "hello"),
	CKMORE("", ""),
	CKERR("bad chunk-size", "x\r\n"),
	CKERR("bad chunk-size", "\r\n"),
	CKERR("bad chunk-size", "-1\r\n"),
	CKERR("bad chunk-size", " 5\r\nhello\r\n0\r\n\r\n"),
	CKERR("bad chunk-size", ";a\r\n"),
	CKERR("bad chunk extension", "5 \r\nhello\r\n0\r\n\r\n"),
	CKERR("bad chunk extension", "5x\r\n"),
	CKERR("chunk-size too long", "00000000000000005\r\nhello\r\n0\r\n\r\n"),
	CKERR("chunk-size overflow", "8000000000000000\r\n"),
	CKERR("chunk-size overflow", "FFFFFFFFFFFFFFFFF\r\n"),
	CKERR("missing CRLF after chunk data", "5\r\nhelloX\r\n0\r\n\r\n"),
	CKERR("missing CRLF after chunk data", "5\r\nhello\rX"),
	CKERR("missing CRLF after chunk data", "5\r\nhello\n0\r\n\r\n"),
	CKERR("bare LF in chunked body", "5\nhello\r\n0\r\n\r\n"),
	CKERR("bare CR in chunked body", "5\rhello\r\n0\r\n\r\n"),
	CKERR("bare LF in chunked body", "5;a\nhello"),
	CKERR("bad chunk extension", "5;\r\nhello\r\n0\r\n\r\n"),
	CKERR("bad chunk extension", "5;a=\r\nhello\r\n0\r\n\r\n"),
	CKERR("bad chunk extension", "5;a=\"x\r\nhello\r\n0\r\n\r\n"),
	CKERR("bad chunk extension", "5;a b\r\n"),
	CKERR("bad chunk extension", "5;=b\r\n"),
	CKERR("bad chunk extension", "5;a=b c\r\n"),
	CKERR("bad chunk extension", "5;a=\"x\"y\r\n"),
	CKERR("bad chunk extension", "5;a=\"\\\x01\"\r\n"),
	CKERR("bad chunk extension", "5;a=(\r\n"),
	CKERR("bad chunk extension", "5;a;;\r\n"),
	CKERR("bad trailer field", "0\r\nX : v\r\n\r\n"),
	CKERR("bad trailer field", "0\r\nX: a\x01\r\n\r\n"),
	CKERR("bad trailer field", "0\r\nX\r\n\r\n"),
	CKERR("bad trailer field", "0\r\n: v\r\n\r\n"),
	CKERR("obs-fold in trailer section", "0\r\nX: v\r\n w\r\n\r\n"),
	CKERR("bare LF in chunked body", "0\r\nX: v\n\r\n"),
	CKERR("bare LF in chunked body", "0\r\n\n"),
	CKERR("bare CR in chunked body", "0\r\n\rX"),
	CKERR("bare CR in chunked body", "0\r\nX: v\rX"),
	CKERRL(8, 0, "chunk-size line too long", "5;aaaaaaaaaa=b\r\nhello\r\n0\r\n\r\n"),
	CKERRL(8, 0, "chunk-size line too long", "0000000005\r\n"),
	CKERRL(8, 0, "chunk-size line too long", "5;abcd\r\nhello\r\n5;abcdefgh"),
	CKERRL(0, 10, "trailer section too large", "0\r\nX-Long: value\r\n\r\n"),
	CKERRL(0, 10, "trailer section too large", "5\r\nhello\r\n0\r\nX: 1\r\nY: 2\r\n\r\n"),
};

static const char next_ck[] = "GET / HTTP/1.1\r\n";

/*
 * Decode raw[0..len) in pieces: two pieces cut at `split` when step is 0,
 * else pieces of `step` bytes, each from an exact-size heap copy.  The
 * decoded bytes go to body; *end is the number of bytes consumed.
 */
static int
ck_feed(const struct ck *t, const char *raw, size_t len, size_t split,
    size_t step, char *body, size_t *blen, size_t *end, const char **why)
{
	struct chunked_dec	 d;
	size_t			 off = 0, n, out, used;
	char			*b;
	int			 rc = 0;
	const char		*tr = t->trailers != NULL ? t->trailers : "";

	httpparse_chunked_init(&d);
	d.keep_trailers = true;	/* kept in every case: what is kept is checked below */
	if (t->max_line)
		d.max_line = t->max_line;
	if (t->max_trailer)
		d.max_trailer = t->max_trailer;
	*blen = 0;
	while (off < len) {
		if (step)
			n = len - off < step ? len - off : step;
		else
			n = off < split ? split - off : len - off;
		b = xdup(raw + off, n);
		rc = httpparse_chunked(&d, b, n, &out, &used, why);
		CHECKF(out <= used && used <= n, "line %d: out %zu used %zu",
		    t->line, out, used);
		memcpy(body + *blen, b, out);
		*blen += out;
		free(b);
		off += used;
		if (rc != 0)
			break;
		CHECKF(used == n, "line %d: not all used", t->line);
	}
	*end = off;
	/* the trailer lines kept, as received, without the final CRLF */
	if (rc == 1)
		CHECKF(d.trailers_len == strlen(tr) &&
		    (d.trailers_len == 0 || memcmp(d.trailers, tr, d.trailers_len) == 0),
		    "line %d: kept trailers %.*s", t->line, (int)d.trailers_len,
		    d.trailers != NULL ? d.trailers : "");
	httpparse_chunked_free(&d);
	CHECK(d.trailers == NULL && d.trailers_len == 0);
	return rc;
}

static void
ck_check(const struct ck *t, const char *how, size_t at, int rc,
    const char *body, size_t blen, size_t end, const char *why, size_t len)
{
	CHECKF(rc == t->ret, "line %d %s %zu: rc %d (%s)", t->line, how, at,
	    rc, rc == WEIR_ERROR ? nz(why) : "");
	if (rc == WEIR_ERROR && t->ret == WEIR_ERROR)
		CHECKF(strcmp(nz(why), t->why) == 0, "line %d %s %zu: %s",
		    t->line, how, at, nz(why));
	if (t->ret >= 0 && rc == t->ret) {
		CHECKF(blen == strlen(t->body) && memcmp(body, t->body,
		    blen) == 0, "line %d %s %zu: body %.*s", t->line, how, at,
		    (int)blen, body);
		CHECKF(end == (t->ret == 1 ? t->len : len),
		    "line %d %s %zu: end %zu", t->line, how, at, end);
	}
}

static void
ck_run(const struct ck *t)
{
	char		 body[256], *raw;
	const char	*why;
	size_t		 blen, end, k, len;
	int		 rc, pass;

	/* pass 0: as is; pass 1: followed by the next message */
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1 && t->ret != 1)
			break;
		len = t->len + (pass ? sizeof(next_ck) - 1 : 0);
		if ((raw = malloc(len + 1)) == NULL)
			abort();
		memcpy(raw, t->raw, t->len);
		memcpy(raw + t->len, next_ck, len - t->len);
		why = NULL;
		rc = ck_feed(t, raw, len, 0, 0, body, &blen, &end, &why);
		ck_check(t, "whole", 0, rc, body, blen, end, why, len);
		for (k = 0; k <= len; k++) {
			why = NULL;
			rc = ck_feed(t, raw, len, k, 0, body, &blen, &end, &why);
			ck_check(t, "split", k, rc, body, blen, end, why, len);
		}
		why = NULL;
		rc = ck_feed(t, raw, len, 0, 1, body, &blen, &end, &why);
		ck_check(t, "bytewise", 0, rc, body, blen, end, why, len);
		free(raw);
	}
}

static void
ck_details(void)
{
	struct chunked_dec	 d;
	char			 b[] = "0\r\n\r\nXY", e[] = "Z\r\n";
	const char		*why = NULL;
	size_t			 out, used;

	httpparse_chunked_init(&d);
	CHECK_INT(d.max_line, 4096);
	CHECK_INT(d.max_trailer, 8192);
	CHECK_INT(httpparse_chunked(&d, b, 0, &out, &used, &why), 0);
	CHECK_INT(used, 0);
	CHECK_INT(httpparse_chunked(&d, b, 7, &out, &used, &why), 1);
	CHECK_INT(used, 5);
	CHECK_INT(out, 0);
	/* done stays done */
	CHECK_INT(httpparse_chunked(&d, b + 5, 2, &out, &used, &why), 1);
	CHECK_INT(used, 0);
	/* and an error stays an error */
	httpparse_chunked_init(&d);
	CHECK_INT(httpparse_chunked(&d, e, 3, &out, &used, &why), WEIR_ERROR);
	CHECK_STR(why, "bad chunk-size");
	why = NULL;
	CHECK_INT(httpparse_chunked(&d, e, 3, &out, &used, &why), WEIR_ERROR);
	CHECK(why != NULL);
	/* a chunk of INT64_MAX bytes is accepted, its data streams through */
	httpparse_chunked_init(&d);
	{
		char	 big[] = "7fffffffffffffff\r\nabc";

		CHECK_INT(httpparse_chunked(&d, big, sizeof(big) - 1, &out,
		    &used, &why), 0);
		CHECK_INT(out, 3);
		CHECK(out == 3 && memcmp(big, "abc", 3) == 0);
		CHECK(d.left == (uint64_t)INT64_MAX - 3);
	}
}

int
main(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(rqs) / sizeof(rqs[0]); i++)
		rq_run(&rqs[i]);
	rq_details();
	header_end_tests();
	for (i = 0; i < sizeof(rss) / sizeof(rss[0]); i++)
		rs_run(&rss[i]);
	for (i = 0; i < sizeof(cks) / sizeof(cks[0]); i++)
		ck_run(&cks[i]);
	ck_details();
	return unit_done("test_httpparse");
}
