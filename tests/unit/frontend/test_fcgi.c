/*
 * test_fcgi.c - the FastCGI record encoders, the PARAMS stream, the record
 * decoder (whole, split at every byte, byte by byte), the CGI response
 * parser and the HTTP_* variable names.
 */
#include "../unit.h"
#include "../../../src/frontend/fcgi.c"

#include <stdlib.h>

/* A byte-string literal and its length (NULs included). */
#define B(s)		(s), (sizeof(s) - 1)
/* A record header: type, id (hi, lo), contentLength (hi, lo), padding. */
#define H(t, ih, il, ch, cl, pad) "\1" t ih il ch cl pad "\0"
#define END1	H("\3", "\0", "\1", "\0", "\10", "\0") "\0\0\0\0\0\0\0\0"

static uint8_t	 big[4 * 65536 + 64];	/* scratch output */

/* ---- encoders ---- */

static void
test_encoders(void)
{
	static const struct {
		size_t	 clen, pad;
	} pads[] = {
		{ 0, 0 }, { 1, 7 }, { 7, 1 }, { 8, 0 }, { 9, 7 }, { 15, 1 },
		{ 16, 0 }, { 65528, 0 }, { 65529, 7 }, { 65535, 1 },
	};
	uint8_t		 b[64], h[8];
	size_t		 i;
	ssize_t		 n;

	for (i = 0; i < sizeof(pads) / sizeof(pads[0]); i++) {
		CHECK_INT(fcgi_header(h, FCGI_STDIN, 0x1234, pads[i].clen),
		    pads[i].pad);
		CHECK_INT(h[0], 1);
		CHECK_INT(h[1], FCGI_STDIN);
		CHECK_INT(h[2] << 8 | h[3], 0x1234);
		CHECK_INT(h[4] << 8 | h[5], pads[i].clen);
		CHECK_INT(h[6], pads[i].pad);
		CHECK_INT(h[7], 0);
	}

	n = fcgi_begin_request(b, sizeof(b), 1, FCGI_RESPONDER, true);
	CHECK_INT(n, 16);
	CHECK(memcmp(b, H("\1", "\0", "\1", "\0", "\10", "\0")
	    "\0\1\1\0\0\0\0\0", 16) == 0);
	n = fcgi_begin_request(b, sizeof(b), 0x0102, FCGI_AUTHORIZER, false);
	CHECK_INT(n, 16);
	CHECK(memcmp(b, H("\1", "\1", "\2", "\0", "\10", "\0")
	    "\0\2\0\0\0\0\0\0", 16) == 0);
	CHECK_INT(fcgi_begin_request(b, 15, 1, FCGI_RESPONDER, true), -1);
	CHECK_INT(fcgi_begin_request(b, 16, 0, FCGI_RESPONDER, true), -1);

	n = fcgi_abort_request(b, sizeof(b), 7);
	CHECK_INT(n, 8);
	CHECK(memcmp(b, H("\2", "\0", "\7", "\0", "\0", "\0"), 8) == 0);
	CHECK_INT(fcgi_abort_request(b, 7, 7), -1);
	CHECK_INT(fcgi_abort_request(b, 8, 0), -1);

	n = fcgi_stdin(b, sizeof(b), 1, NULL, 0);
	CHECK_INT(n, 8);
	CHECK(memcmp(b, H("\5", "\0", "\1", "\0", "\0", "\0"), 8) == 0);
	memset(b, 0xee, sizeof(b));
	n = fcgi_stdin(b, sizeof(b), 1, "abc", 3);
	CHECK_INT(n, 16);
	CHECK(memcmp(b, H("\5", "\0", "\1", "\0", "\3", "\5")
	    "abc\0\0\0\0\0", 16) == 0);
	CHECK_INT(fcgi_stdin(b, 15, 1, "abc", 3), -1);
	CHECK_INT(fcgi_stdin(b, sizeof(b), 0, "abc", 3), -1);
	CHECK_INT(fcgi_stdin(b, sizeof(b), 1, NULL, 3), -1);
	memset(big, 'x', 65535);
	n = fcgi_stdin(big + 65536, sizeof(big) - 65536, 9, big, 65535);
	CHECK_INT(n, 65544);
	CHECK_INT(n, FCGI_MAX_RECORD);
	CHECK(memcmp(big + 65536, H("\5", "\0", "\11", "\377", "\377", "\1"),
	    8) == 0);
	CHECK(big[65536 + 8 + 65534] == 'x' && big[65536 + 8 + 65535] == 0);
	CHECK_INT(fcgi_stdin(big + 65536, 65543, 9, big, 65535), -1);
	CHECK_INT(fcgi_stdin(big + 65536, sizeof(big) - 65536, 9, big, 65536),
	    -1);

	n = fcgi_get_values(b, sizeof(b));
	CHECK_INT(n, 56);
	CHECK(memcmp(b, H("\11", "\0", "\0", "\0", "\60", "\0")
	    "\16\0FCGI_MAX_CONNS\15\0FCGI_MAX_REQS\17\0FCGI_MPXS_CONNS",
	    56) == 0);
	CHECK_INT(fcgi_get_values(b, 55), -1);
}

/* ---- the PARAMS stream ---- */

/* One name-value length from s; advances *i. */
static size_t
get_len(const uint8_t *s, size_t *i)
{
	size_t	 n;

	if (s[*i] < 128)
		return s[(*i)++];
	n = (size_t)(s[*i] & 0x7f) << 24 | (size_t)s[*i + 1] << 16 |
	    (size_t)s[*i + 2] << 8 | s[*i + 3];
	*i += 4;
	return n;
}

/*
 * An independent reader of a PARAMS stream, as strict as php-src: checks
 * every record's framing, that content + padding is at most 65535 and that
 * each record holds whole pairs.  Returns the concatenated content, or -1.
 * *nrec counts the records including the terminator, which must be last.
 */
static long
read_params(const uint8_t *b, size_t n, uint16_t id, uint8_t *out,
    size_t *nrec, size_t *maxclen)
{
	size_t	 i = 0, o = 0, cl, pl, k, nl, vl;
	bool	 ended = false;

	*nrec = 0;
	*maxclen = 0;
	while (i < n) {
		if (ended || n - i < 8 || b[i] != 1 || b[i + 1] != FCGI_PARAMS ||
		    (b[i + 2] << 8 | b[i + 3]) != id || b[i + 7] != 0)
			return -1;
		cl = (size_t)(b[i + 4] << 8 | b[i + 5]);
		pl = b[i + 6];
		if ((cl + pl) % 8 != 0 || pl > 7 || cl + pl > 65535 ||
		    n - i - 8 < cl + pl)
			return -1;
		for (k = 0; k < pl; k++)
			if (b[i + 8 + cl + k] != 0)
				return -1;
		for (k = 0; k < cl; k += nl + vl) {
			nl = get_len(b + i + 8, &k);
			vl = get_len(b + i + 8, &k);
			if (k > cl || nl + vl > cl - k)
				return -1;	/* a pair crosses records */
		}
		memcpy(out + o, b + i + 8, cl);
		o += cl;
		if (cl > *maxclen)
			*maxclen = cl;
		ended = cl == 0;
		i += 8 + cl + pl;
		(*nrec)++;
	}
	return ended ? (long)o : -1;
}

static uint8_t	 params_out[4 * 65536];
static uint8_t	 params_content[4 * 65536];
static char	 namebuf[70000], valbuf[262144];

/* The name and value for pair k of a case: lengths nl, vl, varied bytes. */
static void
make_pair(size_t k, size_t nl, size_t vl)
{
	size_t	 i;

	for (i = 0; i < nl; i++)
		namebuf[i] = (char)('A' + (i + k) % 26);
	for (i = 0; i < vl; i++)
		valbuf[i] = (char)(i + k);
}

static void
test_params(void)
{
	/* each case: pairs of (name length, value length), records, 4-byte */
	static const struct {
		size_t	 len[6][2];	/* {0, 0} ends */
		size_t	 nrec;		/* records, terminator included */
		size_t	 lenbytes;	/* length bytes of the whole stream */
	} cases[] = {
		{ { { 1, 0 } }, 2, 2 },
		{ { { 1, 1 } }, 2, 2 },
		{ { { 127, 127 } }, 2, 2 },
		{ { { 128, 127 } }, 2, 5 },
		{ { { 127, 128 } }, 2, 5 },
		{ { { 128, 128 } }, 2, 8 },
		{ { { 15, 300 }, { 200, 2 }, { 3, 3 } }, 2, 5 + 5 + 2 },
		/* the largest pair: 65528 content bytes, no padding */
		{ { { 1, 65528 - 6 } }, 2, 5 },
		{ { { 200, 65528 - 208 } }, 2, 8 },
		/* a pair that does not fit the open record starts a new one */
		{ { { 10, 65000 }, { 10, 1000 } }, 3, 5 + 5 },
		{ { { 10, 65000 }, { 10, 100 }, { 10, 1000 } }, 3, 5 + 2 + 5 },
		{ { { 1, 65522 }, { 1, 65522 }, { 1, 0 } }, 4, 5 + 5 + 2 },
		{ { { 20, 30 }, { 1, 33000 }, { 128, 33000 }, { 2, 2 } },
		    3, 2 + 5 + 8 + 2 },
	};
	struct fcgi_params	 p;
	size_t			 c, k, i, nrec, maxclen, total, lb;
	long			 got;
	ssize_t			 n;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		fcgi_params_init(&p, params_out, sizeof(params_out), 0x0203);
		total = 0;
		for (k = 0; cases[c].len[k][0] != 0; k++) {
			make_pair(k, cases[c].len[k][0], cases[c].len[k][1]);
			CHECK_INT(fcgi_params_add(&p, namebuf, cases[c].len[k][0],
			    valbuf, cases[c].len[k][1]), 0);
			total += cases[c].len[k][0] + cases[c].len[k][1];
		}
		n = fcgi_params_finish(&p, true);
		CHECK(n > 0);
		got = read_params(params_out, (size_t)n, 0x0203, params_content,
		    &nrec, &maxclen);
		CHECKF(got == (long)(total + cases[c].lenbytes),
		    "case %zu: content %ld", c, got);
		CHECKF(nrec == cases[c].nrec, "case %zu: %zu records", c, nrec);
		CHECK(maxclen <= FCGI_PARAMS_MAX);
		if (got < 0)
			continue;
		/* decode the pairs back */
		for (i = 0, k = 0, lb = 0; i < (size_t)got; k++) {
			size_t	 i0 = i, nl, vl;

			nl = get_len(params_content, &i);
			vl = get_len(params_content, &i);
			lb += i - i0;
			CHECKF(nl == cases[c].len[k][0] && vl == cases[c].len[k][1],
			    "case %zu pair %zu: %zu=%zu", c, k, nl, vl);
			make_pair(k, nl, vl);
			CHECKF(memcmp(params_content + i, namebuf, nl) == 0 &&
			    memcmp(params_content + i + nl, valbuf, vl) == 0,
			    "case %zu pair %zu bytes", c, k);
			i += nl + vl;
		}
		CHECK_INT(lb, cases[c].lenbytes);
		CHECK_INT(cases[c].len[k][0], 0);
	}

	/* full records: 65528 content bytes, no padding, exactly */
	fcgi_params_init(&p, params_out, sizeof(params_out), 1);
	for (k = 0; k < 3; k++) {
		make_pair(k, 4, 65528 - 9);
		CHECK_INT(fcgi_params_add(&p, namebuf, 4, valbuf, 65528 - 9), 0);
	}
	n = fcgi_params_finish(&p, true);
	CHECK_INT(n, 3 * (8 + 65528) + 8);
	for (k = 0; k < 3; k++)
		CHECK(memcmp(params_out + k * (8 + 65528), H("\4", "\0", "\1",
		    "\377", "\370", "\0") "\4\200\0\377\357", 13) == 0);
	CHECK(memcmp(params_out + 3 * (8 + 65528), H("\4", "\0", "\1", "\0",
	    "\0", "\0"), 8) == 0);

	/* a buffer of FCGI_MAX_RECORD bytes takes the largest pair */
	fcgi_params_init(&p, params_out, FCGI_MAX_RECORD, 1);
	CHECK_INT(fcgi_params_add(&p, namebuf, 4, valbuf, 65528 - 9), 0);
	CHECK_INT(fcgi_params_finish(&p, true), FCGI_MAX_RECORD);
	fcgi_params_init(&p, params_out, FCGI_MAX_RECORD - 1, 1);
	CHECK_INT(fcgi_params_add(&p, namebuf, 4, valbuf, 65528 - 9),
	    WEIR_AGAIN);

	/* refusals */
	fcgi_params_init(&p, params_out, sizeof(params_out), 1);
	CHECK_INT(fcgi_params_add(&p, "", 0, "v", 1), WEIR_ERROR);
	CHECK_INT(fcgi_params_add(&p, namebuf, 4, valbuf, 65528 - 8),
	    WEIR_ERROR);
	CHECK_INT(fcgi_params_add(&p, namebuf, 1, valbuf, 65528 - 5),
	    WEIR_ERROR);
	CHECK_INT(fcgi_params_add(&p, namebuf, 65529, valbuf, 0), WEIR_ERROR);
	CHECK_INT(fcgi_params_add(&p, namebuf, 1, valbuf, (size_t)1 << 40),
	    WEIR_ERROR);
	CHECK_INT(p.len, 0);
	CHECK_INT(fcgi_params_finish(&p, true), 8);
	fcgi_params_init(&p, params_out, sizeof(params_out), 0);
	CHECK_INT(fcgi_params_add(&p, "n", 1, "v", 1), WEIR_ERROR);
	CHECK_INT(fcgi_params_finish(&p, true), WEIR_ERROR);
	fcgi_params_init(&p, params_out, 7, 1);
	CHECK_INT(fcgi_params_add(&p, "n", 1, "v", 1), WEIR_AGAIN);
	CHECK_INT(fcgi_params_finish(&p, true), WEIR_ERROR);
	fcgi_params_init(&p, params_out, 8, 1);
	CHECK_INT(fcgi_params_finish(&p, true), 8);

	/* a buffer of 64: room is kept for the padding and the terminator */
	fcgi_params_init(&p, params_out, 64, 1);
	CHECK_INT(fcgi_params_add(&p, "NAME", 4, "0123456789", 10), 0);
	CHECK_INT(p.len, 8 + 16);
	CHECK_INT(fcgi_params_add(&p, "N", 1, "012345678901234567890123456789",
	    30), WEIR_AGAIN);
	CHECK_INT(p.len, 8 + 16);
	CHECK_INT(fcgi_params_add(&p, "N", 1, "01234567890123456789012345678",
	    29), 0);
	CHECK_INT(p.len, 8 + 16 + 32);
	CHECK_INT(fcgi_params_add(&p, "X", 1, "", 0), WEIR_AGAIN);
	CHECK_INT(p.len, 8 + 16 + 32);
	n = fcgi_params_finish(&p, true);
	CHECK_INT(n, 64);
	got = read_params(params_out, (size_t)n, 1, params_content, &nrec,
	    &maxclen);
	CHECK_INT(got, 48);
	CHECK(got == 48 && memcmp(params_content, "\4\12NAME0123456789"
	    "\1\35N01234567890123456789012345678", 48) == 0);

	/* streaming through a small buffer: flush on WEIR_AGAIN */
	{
		static uint8_t	 stream[300000], small[1000];
		size_t		 slen = 0, pairs = 0, flushes = 0;

		fcgi_params_init(&p, small, sizeof(small), 5);
		for (k = 0; k < 200; k++) {
			size_t	 vl = (k * 37) % 800;
			int	 rc;

			make_pair(k, 1 + k % 150, vl);
			rc = fcgi_params_add(&p, namebuf, 1 + k % 150, valbuf, vl);
			if (rc == WEIR_AGAIN) {
				n = fcgi_params_finish(&p, false);
				CHECK(n > 0);
				memcpy(stream + slen, small, (size_t)n);
				slen += (size_t)n;
				flushes++;
				fcgi_params_init(&p, small, sizeof(small), 5);
				rc = fcgi_params_add(&p, namebuf, 1 + k % 150,
				    valbuf, vl);
			}
			CHECK_INT(rc, 0);
			pairs++;
		}
		n = fcgi_params_finish(&p, true);
		memcpy(stream + slen, small, (size_t)n);
		slen += (size_t)n;
		got = read_params(stream, slen, 5, params_content, &nrec,
		    &maxclen);
		CHECK(got > 0);
		for (i = 0, k = 0; got > 0 && i < (size_t)got; k++) {
			size_t	 nl, vl;

			nl = get_len(params_content, &i);
			vl = get_len(params_content, &i);
			make_pair(k, nl, vl);
			CHECKF(nl == 1 + k % 150 && vl == (k * 37) % 800 &&
			    memcmp(params_content + i, namebuf, nl) == 0 &&
			    memcmp(params_content + i + nl, valbuf, vl) == 0,
			    "stream pair %zu", k);
			i += nl + vl;
		}
		CHECK_INT(k, pairs);
		CHECK(flushes > 50);
	}
}

/* ---- the decoder ---- */

/*
 * Run the decoder over in[0..n) cut into pieces of `step` bytes (0: whole;
 * or cut once at `at` when step is SIZE_MAX) and describe the events:
 * O[..] stdout, E[..] stderr (adjacent pieces merged), END(app,proto),
 * V(conns,reqs,mpxs), U(type), then !why on error or . for a clean EOF or
 * ~why for an unclean one.
 */
static char	 trace[300000];

static const char *
run_dec(const char *in, size_t n, uint16_t id, size_t step, size_t at)
{
	struct fcgi_dec		 d;
	struct fcgi_event	 ev;
	const char		*why = NULL;
	size_t			 o = 0, off = 0, piece, i, npieces = 0;
	char			*copy, last = 0;
	ssize_t			 r;

	fcgi_dec_init(&d);
	fcgi_dec_expect(&d, id);
	do {
		if (step == SIZE_MAX)
			piece = npieces == 0 ? at : n - off;
		else if (step == 0)
			piece = n;
		else
			piece = n - off < step ? n - off : step;
		npieces++;
		/* an exact-size copy, so ASan sees any overread */
		copy = malloc(piece ? piece : 1);
		memcpy(copy, in + off, piece);
		for (i = 0; ; i += (size_t)r) {
			r = fcgi_dec_next(&d, copy + i, piece - i, &ev, &why);
			if (r < 0) {
				snprintf(trace + o, sizeof(trace) - o, "%s!%s",
				    last ? "]" : "", why);
				free(copy);
				return trace;
			}
			CHECK((size_t)r <= piece - i);
			if (ev.type == FCGI_EV_NONE) {
				CHECK((size_t)r == piece - i);
				break;
			}
			if (ev.type == FCGI_EV_STDOUT ||
			    ev.type == FCGI_EV_STDERR) {
				char	 t = ev.type == FCGI_EV_STDOUT ? 'O' : 'E';

				CHECK(ev.len > 0 && ev.data >= copy + i &&
				    ev.data + ev.len <= copy + i + (size_t)r);
				if (last != t)
					o += (size_t)snprintf(trace + o,
					    sizeof(trace) - o, "%s%c[",
					    last ? "]" : "", t);
				memcpy(trace + o, ev.data, ev.len);
				o += ev.len;
				last = t;
				continue;
			}
			if (last)
				trace[o++] = ']';
			last = 0;
			if (ev.type == FCGI_EV_END_REQUEST)
				o += (size_t)snprintf(trace + o, sizeof(trace) - o,
				    "END(%u,%u)", ev.app_status,
				    ev.protocol_status);
			else if (ev.type == FCGI_EV_VALUES)
				o += (size_t)snprintf(trace + o, sizeof(trace) - o,
				    "V(%ld,%ld,%ld)", ev.values.max_conns,
				    ev.values.max_reqs, ev.values.mpxs_conns);
			else
				o += (size_t)snprintf(trace + o, sizeof(trace) - o,
				    "U(%u)", ev.unknown_type);
		}
		free(copy);
		off += piece;
	} while (off < n);
	if (last)
		trace[o++] = ']';
	if (fcgi_dec_eof(&d, &why) == 0)
		snprintf(trace + o, sizeof(trace) - o, ".");
	else
		snprintf(trace + o, sizeof(trace) - o, "~%s", why);
	return trace;
}

/* Whole, split once at every byte, byte by byte: all must agree. */
static void
check_dec(const char *name, const char *in, size_t n, uint16_t id,
    const char *want)
{
	static char	 whole[300000];
	size_t		 at;

	snprintf(whole, sizeof(whole), "%s", run_dec(in, n, id, 0, 0));
	CHECKF(strcmp(whole, want) == 0, "%s: got %s, want %s", name, whole,
	    want);
	for (at = 0; at <= n; at++) {
		const char	*t = run_dec(in, n, id, SIZE_MAX, at);

		CHECKF(strcmp(t, whole) == 0, "%s split at %zu: %s", name, at,
		    t);
	}
	CHECKF(strcmp(run_dec(in, n, id, 1, 0), whole) == 0,
	    "%s byte by byte: %s", name, trace);
	CHECKF(strcmp(run_dec(in, n, id, 3, 0), whole) == 0,
	    "%s by 3: %s", name, trace);
}

#define STDOUT1(cl, pad)	H("\6", "\0", "\1", "\0", cl, pad)
#define STDERR1(cl, pad)	H("\7", "\0", "\1", "\0", cl, pad)

static const struct {
	const char	*name;
	const char	*in;
	size_t		 n;
	uint16_t	 id;
	const char	*want;
} dec_cases[] = {
	/* what php-cgi sends: STDOUT, END_REQUEST, no empty STDOUT */
	{ "hello", B(STDOUT1("\5", "\3") "hello\0\0\0" END1), 1,
	    "O[hello]END(0,0)." },
	{ "no padding", B(STDOUT1("\5", "\0") "hello" END1), 1,
	    "O[hello]END(0,0)." },
	{ "two records", B(STDOUT1("\2", "\6") "ab\0\0\0\0\0\0"
	    STDOUT1("\1", "\0") "c" END1), 1, "O[abc]END(0,0)." },
	{ "empty stdout ends stream", B(STDOUT1("\2", "\0") "ab"
	    STDOUT1("\0", "\0") END1), 1, "O[ab]END(0,0)." },
	{ "empty with padding", B(STDOUT1("\0", "\10") "\0\0\0\0\0\0\0\0"
	    END1), 1, "END(0,0)." },
	{ "padding 255", B(STDOUT1("\1", "\377") "x"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
	    END1), 1, "O[x]END(0,0)." },
	{ "stderr interleaved", B(STDERR1("\4", "\4") "warn\0\0\0\0"
	    STDOUT1("\2", "\0") "ok" STDERR1("\1", "\0") "!"
	    STDOUT1("\1", "\0") "?" END1), 1, "E[warn]O[ok]E[!]O[?]END(0,0)." },
	{ "app status", B(STDOUT1("\1", "\0") "x"
	    H("\3", "\0", "\1", "\0", "\10", "\0") "\1\2\3\4\0abc"), 1,
	    "O[x]END(16909060,0)." },
	{ "overloaded", B(H("\3", "\0", "\1", "\0", "\10", "\0")
	    "\0\0\0\0\2\0\0\0"), 1, "END(0,2)." },
	{ "unknown role", B(H("\3", "\0", "\1", "\0", "\10", "\0")
	    "\0\0\0\0\3\0\0\0"), 1, "END(0,3)." },
	{ "end with padding", B(H("\3", "\0", "\1", "\0", "\10", "\10")
	    "\0\0\0\0\0\0\0\0" "\0\0\0\0\0\0\0\0"), 1, "END(0,0)." },
	{ "request id 0xffff", B(H("\6", "\377", "\377", "\0", "\1", "\0") "z"
	    H("\3", "\377", "\377", "\0", "\10", "\0") "\0\0\0\0\0\0\0\0"),
	    0xffff, "O[z]END(0,0)." },
	/* management records */
	{ "values", B(H("\12", "\0", "\0", "\0", "\63", "\5")
	    "\17\1FCGI_MPXS_CONNS0\15\1FCGI_MAX_REQS1\16\1FCGI_MAX_CONNS1"
	    "\0\0\0\0\0"), 0, "V(1,1,0)." },
	{ "values empty", B(H("\12", "\0", "\0", "\0", "\0", "\0")), 0,
	    "V(-1,-1,-1)." },
	{ "values unknown names skipped", B(H("\12", "\0", "\0", "\0", "\35",
	    "\3") "\3\2FOOab\16\3FCGI_MAX_CONNS100\1\0X\0\0\0"), 0,
	    "V(100,-1,-1)." },
	{ "values 4-byte lengths", B(H("\12", "\0", "\0", "\0", "\31", "\7")
	    "\200\0\0\15\200\0\0\4FCGI_MAX_REQS1234\0\0\0\0\0\0\0"), 0,
	    "V(-1,1234,-1)." },
	{ "values during a request", B(STDOUT1("\1", "\0") "a"
	    H("\12", "\0", "\0", "\0", "\22", "\6")
	    "\17\1FCGI_MPXS_CONNS1\0\0\0\0\0\0" STDOUT1("\1", "\0") "b" END1),
	    1, "O[a]V(-1,-1,1)O[b]END(0,0)." },
	{ "unknown type reply", B(H("\13", "\0", "\0", "\0", "\10", "\0")
	    "\52\0\0\0\0\0\0\0"), 0, "U(42)." },
	{ "two values records", B(H("\12", "\0", "\0", "\0", "\21", "\7")
	    "\16\1FCGI_MAX_CONNS7\0\0\0\0\0\0\0"
	    H("\12", "\0", "\0", "\0", "\20", "\0")
	    "\15\1FCGI_MAX_REQS8"), 0, "V(7,-1,-1)V(-1,8,-1)." },

	/* malformed */
	{ "empty stream", B(""), 1, "~FastCGI connection closed before "
	    "FCGI_END_REQUEST" },
	{ "empty stream, no request", B(""), 0, "." },
	{ "version 0", B("\0\6\0\1\0\1\0\0x" END1), 1,
	    "!FastCGI record version is not 1" },
	{ "version 2", B(STDOUT1("\1", "\0") "x" "\2\3\0\1\0\10\0\0"
	    "\0\0\0\0\0\0\0\0"), 1, "O[x]!FastCGI record version is not 1" },
	{ "wrong id", B(H("\6", "\0", "\2", "\0", "\1", "\0") "x" END1), 1,
	    "!FastCGI record for another request id" },
	{ "id 0 stdout", B(H("\6", "\0", "\0", "\0", "\1", "\0") "x"), 1,
	    "!FastCGI application record with request id 0" },
	{ "no request", B(STDOUT1("\1", "\0") "x"), 0,
	    "!FastCGI record when no request is in progress" },
	{ "after end", B(STDOUT1("\1", "\0") "x" END1 STDOUT1("\1", "\0")
	    "y"), 1, "O[x]END(0,0)!FastCGI record when no request is in "
	    "progress" },
	{ "second end", B(END1 END1), 1,
	    "END(0,0)!FastCGI record when no request is in progress" },
	{ "values with id", B(H("\12", "\0", "\1", "\0", "\0", "\0")), 1,
	    "!FastCGI management record with a request id" },
	{ "begin from app", B(H("\1", "\0", "\1", "\0", "\10", "\0")
	    "\0\1\0\0\0\0\0\0"), 1,
	    "!FastCGI record type only a web server sends" },
	{ "abort from app", B(H("\2", "\0", "\1", "\0", "\0", "\0")), 1,
	    "!FastCGI record type only a web server sends" },
	{ "params from app", B(H("\4", "\0", "\1", "\0", "\0", "\0")), 1,
	    "!FastCGI record type only a web server sends" },
	{ "stdin from app", B(H("\5", "\0", "\1", "\0", "\0", "\0")), 1,
	    "!FastCGI record type only a web server sends" },
	{ "data from app", B(H("\10", "\0", "\1", "\0", "\0", "\0")), 1,
	    "!FastCGI record type only a web server sends" },
	{ "get values from app", B(H("\11", "\0", "\0", "\0", "\0", "\0")), 1,
	    "!FastCGI record type only a web server sends" },
	{ "type 0", B(H("\0", "\0", "\1", "\0", "\0", "\0")), 1,
	    "!unknown FastCGI record type" },
	{ "type 12", B(H("\14", "\0", "\0", "\0", "\0", "\0")), 1,
	    "!unknown FastCGI record type" },
	{ "type 255", B(H("\377", "\0", "\1", "\0", "\0", "\0")), 1,
	    "!unknown FastCGI record type" },
	{ "end 7 bytes", B(H("\3", "\0", "\1", "\0", "\7", "\1")
	    "\0\0\0\0\0\0\0\0"), 1, "!FCGI_END_REQUEST body is not 8 bytes" },
	{ "end 16 bytes", B(H("\3", "\0", "\1", "\0", "\20", "\0")
	    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"), 1,
	    "!FCGI_END_REQUEST body is not 8 bytes" },
	{ "end bad protocol status", B(H("\3", "\0", "\1", "\0", "\10", "\0")
	    "\0\0\0\0\4\0\0\0"), 1, "!bad protocolStatus in FCGI_END_REQUEST" },
	{ "unknown type 9 bytes", B(H("\13", "\0", "\0", "\0", "\11", "\0")
	    "\52\0\0\0\0\0\0\0\0"), 1, "!FCGI_UNKNOWN_TYPE body is not 8 bytes" },
	{ "values non-numeric", B(H("\12", "\0", "\0", "\0", "\21", "\7")
	    "\16\1FCGI_MAX_CONNSx\0\0\0\0\0\0\0"), 0,
	    "!non-numeric value in FCGI_GET_VALUES_RESULT" },
	{ "values empty value", B(H("\12", "\0", "\0", "\0", "\20", "\0")
	    "\16\0FCGI_MAX_CONNS"), 0, "!empty value in FCGI_GET_VALUES_RESULT" },
	{ "values empty name", B(H("\12", "\0", "\0", "\0", "\3", "\5")
	    "\0\1x\0\0\0\0\0"), 0, "!empty name in FCGI_GET_VALUES_RESULT" },
	{ "values too large", B(H("\12", "\0", "\0", "\0", "\33", "\5")
	    "\16\13FCGI_MAX_CONNS12345678901\0\0\0\0\0"), 0,
	    "!value too large in FCGI_GET_VALUES_RESULT" },
	{ "values pair cut", B(H("\12", "\0", "\0", "\0", "\20", "\0")
	    "\16\2FCGI_MAX_CONNS"), 0, "!name-value pair crosses the end of "
	    "FCGI_GET_VALUES_RESULT" },
	{ "values length cut", B(H("\12", "\0", "\0", "\0", "\3", "\5")
	    "\200\0\0\0\0\0\0\0"), 0, "!name-value pair crosses the end of "
	    "FCGI_GET_VALUES_RESULT" },
	{ "values huge name", B(H("\12", "\0", "\0", "\0", "\11", "\7")
	    "\377\377\377\377\1abcd\0\0\0\0\0\0\0"), 0, "!name-value pair "
	    "crosses the end of FCGI_GET_VALUES_RESULT" },
	/* truncated streams: only fcgi_dec_eof() can tell */
	{ "cut in header", B(STDOUT1("\1", "\0") "x" "\1\3\0"), 1,
	    "O[x]~FastCGI connection closed inside a record" },
	{ "cut in content", B(STDOUT1("\5", "\0") "hel"), 1,
	    "O[hel]~FastCGI connection closed inside a record" },
	{ "cut in padding", B(STDOUT1("\5", "\3") "hello\0"), 1,
	    "O[hello]~FastCGI connection closed inside a record" },
	{ "cut in end body", B(H("\3", "\0", "\1", "\0", "\10", "\0")
	    "\0\0\0"), 1, "~FastCGI connection closed inside a record" },
	{ "no end request", B(STDOUT1("\5", "\3") "hello\0\0\0"), 1,
	    "O[hello]~FastCGI connection closed before FCGI_END_REQUEST" },
	{ "end then cut padding", B(H("\3", "\0", "\1", "\0", "\10", "\10")
	    "\0\0\0\0\0\0\0\0\0\0"), 1,
	    "END(0,0)~FastCGI connection closed inside a record" },
};

static void
test_decoder(void)
{
	size_t		 i;

	for (i = 0; i < sizeof(dec_cases) / sizeof(dec_cases[0]); i++)
		check_dec(dec_cases[i].name, dec_cases[i].in, dec_cases[i].n,
		    dec_cases[i].id, dec_cases[i].want);
}

/* Round trips: records made with fcgi_header(), big and many. */
static void
test_dec_roundtrip(void)
{
	static char	 in[200000], want[200000];
	static const size_t lens[] = { 1, 7, 8, 9, 127, 128, 4096, 65528,
	    65535 };
	struct fcgi_dec		 d;
	struct fcgi_event	 ev;
	const char		*why;
	size_t			 i, n = 0, w = 0, k, off, step;
	ssize_t			 r;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t	 pad = fcgi_header((uint8_t *)in + n, i % 2 ?
		    FCGI_STDERR : FCGI_STDOUT, 77, lens[i]);

		n += 8;
		for (k = 0; k < lens[i]; k++)
			in[n + k] = want[w + k] = (char)('a' + (i + k) % 23);
		n += lens[i];
		w += lens[i];
		memset(in + n, 0xa5, pad);	/* padding is never looked at */
		n += pad;
	}
	fcgi_header((uint8_t *)in + n, FCGI_END_REQUEST, 77, 8);
	memset(in + n + 8, 0, 8);
	n += 16;

	for (step = 1; step <= 70000; step = step * 3 + 1) {
		static char	 got[200000];
		size_t		 g = 0, ends = 0;

		fcgi_dec_init(&d);
		fcgi_dec_expect(&d, 77);
		for (off = 0; off < n; ) {
			size_t	 piece = n - off < step ? n - off : step;

			r = fcgi_dec_next(&d, in + off, piece, &ev, &why);
			CHECK(r >= 0);
			if (r < 0)
				break;
			off += (size_t)r;
			if (ev.type == FCGI_EV_STDOUT ||
			    ev.type == FCGI_EV_STDERR) {
				memcpy(got + g, ev.data, ev.len);
				g += ev.len;
			} else if (ev.type == FCGI_EV_END_REQUEST)
				ends++;
		}
		CHECKF(g == w && memcmp(got, want, w) == 0, "step %zu", step);
		CHECK_INT(ends, 1);
		CHECK_INT(fcgi_dec_eof(&d, &why), 0);
	}

	/* a failed decoder stays failed */
	fcgi_dec_init(&d);
	fcgi_dec_expect(&d, 1);
	CHECK_INT(fcgi_dec_next(&d, "\2\6\0\1\0\0\0\0", 8, &ev, &why), -1);
	why = NULL;
	CHECK_INT(fcgi_dec_next(&d, STDOUT1("\0", "\0"), 8, &ev, &why), -1);
	CHECK_STR(why, "FastCGI record version is not 1");
	CHECK_INT(fcgi_dec_eof(&d, &why), -1);
	/* keep-alive: the next request on the same connection */
	fcgi_dec_init(&d);
	fcgi_dec_expect(&d, 1);
	r = fcgi_dec_next(&d, END1, 16, &ev, &why);
	CHECK(r == 16 && ev.type == FCGI_EV_END_REQUEST);
	CHECK_INT(fcgi_dec_eof(&d, &why), 0);
	fcgi_dec_expect(&d, 2);
	CHECK_INT(fcgi_dec_next(&d, END1, 16, &ev, &why), -1);
	fcgi_dec_init(&d);
	fcgi_dec_expect(&d, 2);
	r = fcgi_dec_next(&d, H("\3", "\0", "\2", "\0", "\10", "\0")
	    "\0\0\0\0\0\0\0\0", 16, &ev, &why);
	CHECK(r == 16 && ev.type == FCGI_EV_END_REQUEST);
	r = fcgi_dec_next(&d, "", 0, &ev, &why);
	CHECK(r == 0 && ev.type == FCGI_EV_NONE);
}

/* ---- the CGI response ---- */

#define HB(s)	(s), (sizeof(s) - 1)

static const struct {
	const char	*in;
	size_t		 n;
	size_t		 cap;		/* 0: 1024 */
	ssize_t		 hlen;		/* header bytes, or WEIR_AGAIN/ERROR */
	int		 kind, status;
	const char	*reason, *ctype, *location;
	const char	*fields;	/* "name=value|..." */
	const char	*why;
} cgi_cases[] = {
	/* php-cgi */
	{ HB("Content-type: text/html; charset=UTF-8\r\n\r\nHello\n"), 0, 42,
	    FCGI_CGI_DOCUMENT, 200, "", "text/html; charset=UTF-8", NULL, "",
	    NULL },
	{ HB("Status: 404 Not Found\r\nContent-type: text/html\r\n\r\nnope"),
	    0, 50, FCGI_CGI_DOCUMENT, 404, "Not Found", "text/html", NULL, "",
	    NULL },
	{ HB("Status: 302 Found\r\nLocation: /elsewhere?y=2\r\n"
	    "Content-type: text/html; charset=UTF-8\r\n\r\n"), 0, 87,
	    FCGI_CGI_CLIENT_REDIRECT, 302, "Found", "text/html; charset=UTF-8",
	    "/elsewhere?y=2", "", NULL },
	{ HB("Status: 299 Custom Thing\r\nX-A: 1\r\nX-A: 2\r\n"
	    "Set-Cookie: a=b\r\nSet-Cookie: c=d\r\nContent-type: text/html\r\n"
	    "\r\nx"), 0, 103, FCGI_CGI_DOCUMENT, 299, "Custom Thing",
	    "text/html", NULL, "X-A=1|X-A=2|Set-Cookie=a=b|Set-Cookie=c=d",
	    NULL },
	/* Status forms */
	{ HB("Status: 200\n\n"), 0, 13, FCGI_CGI_DOCUMENT, 200, "", NULL, NULL,
	    "", NULL },
	{ HB("status:404   Gone  Away \nContent-Type:x\n\nbody"), 0, 41,
	    FCGI_CGI_DOCUMENT, 404, "Gone  Away", "x", NULL, "", NULL },
	{ HB("Status: 100\n\n"), 0, 13, FCGI_CGI_DOCUMENT, 100, "", NULL, NULL,
	    "", NULL },
	{ HB("Status: 999 X\n\n"), 0, 15, FCGI_CGI_DOCUMENT, 999, "X", NULL,
	    NULL, "", NULL },
	{ HB("Status: 201\tCreated\n\n"), 0, 21, FCGI_CGI_DOCUMENT, 201,
	    "Created", NULL, NULL, "", NULL },
	{ HB("Status: 099\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "bad CGI Status" },
	{ HB("Status: 1000\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "bad CGI Status" },
	{ HB("Status: 20\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "bad CGI Status" },
	{ HB("Status: OK\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "bad CGI Status" },
	{ HB("Status:\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "bad CGI Status" },
	{ HB("Status: 2OO\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "bad CGI Status" },
	{ HB("Status: 200\nStatus: 200\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL,
	    NULL, NULL, "duplicate CGI Status" },
	/* defaults and redirects (RFC 3875 §6.2) */
	{ HB("X-Only: 1\n\n"), 0, 11, FCGI_CGI_DOCUMENT, 200, "", NULL, NULL,
	    "X-Only=1", NULL },
	{ HB("\r\nbody"), 0, 2, FCGI_CGI_DOCUMENT, 200, "", NULL, NULL, "",
	    NULL },
	{ HB("\nbody"), 0, 1, FCGI_CGI_DOCUMENT, 200, "", NULL, NULL, "",
	    NULL },
	{ HB("Location: http://example.com/there?x=1\r\n\r\n"), 0, 42,
	    FCGI_CGI_CLIENT_REDIRECT, 302, "", NULL,
	    "http://example.com/there?x=1", "", NULL },
	{ HB("Location: https://e.com/\nContent-Type: text/html\n\n<a>"), 0,
	    50, FCGI_CGI_CLIENT_REDIRECT, 302, "", "text/html",
	    "https://e.com/", "", NULL },
	{ HB("Status: 301 Moved\nLocation: https://e.com/\n\n"), 0, 44,
	    FCGI_CGI_CLIENT_REDIRECT, 301, "Moved", NULL, "https://e.com/", "",
	    NULL },
	{ HB("Location: /local/path?q=1\r\n\r\n"), 0, 29,
	    FCGI_CGI_LOCAL_REDIRECT, 0, "", NULL, "/local/path?q=1", "", NULL },
	{ HB("location:/\n\n"), 0, 12, FCGI_CGI_LOCAL_REDIRECT, 0, "", NULL,
	    "/", "", NULL },
	{ HB("Location: //evil.example/\n\n"), 0, 27, FCGI_CGI_CLIENT_REDIRECT,
	    302, "", NULL, "//evil.example/", "", NULL },
	{ HB("Location: index.php\n\n"), 0, 21, FCGI_CGI_CLIENT_REDIRECT, 302,
	    "", NULL, "index.php", "", NULL },
	{ HB("Location: /x\nX-Other: 1\n\n"), 0, 25, FCGI_CGI_CLIENT_REDIRECT,
	    302, "", NULL, "/x", "X-Other=1", NULL },
	{ HB("Location: /x\nContent-Type: text/plain\n\n"), 0, 39,
	    FCGI_CGI_CLIENT_REDIRECT, 302, "", "text/plain", "/x", "", NULL },
	{ HB("Location: /x\nStatus: 200 OK\n\n"), 0, 29,
	    FCGI_CGI_CLIENT_REDIRECT, 200, "OK", NULL, "/x", "", NULL },
	{ HB("Location: /a\nLocation: /b\n\n"), 0, WEIR_ERROR, 0, 0, NULL,
	    NULL, NULL, NULL, "duplicate CGI Location or Content-Type" },
	{ HB("Location:  \n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "empty CGI Location or Content-Type" },
	{ HB("Content-Type: a\ncontent-type: b\n\n"), 0, WEIR_ERROR, 0, 0,
	    NULL, NULL, NULL, NULL, "duplicate CGI Location or Content-Type" },
	/* line endings, whitespace */
	{ HB("A: 1\r\nB: 2\nC:3\r\n\n"), 0, 17, FCGI_CGI_DOCUMENT, 200, "",
	    NULL, NULL, "A=1|B=2|C=3", NULL },
	{ HB("A: \t 1 \t \r\nB:\r\n\r\n"), 0, 17, FCGI_CGI_DOCUMENT, 200, "",
	    NULL, NULL, "A=1|B=", NULL },
	{ HB("A: x\ty\r\n\r\n\r\nmore"), 0, 10, FCGI_CGI_DOCUMENT, 200, "",
	    NULL, NULL, "A=x\ty", NULL },
	{ HB("A: \x80\xff\r\n\r\n"), 0, 9, FCGI_CGI_DOCUMENT, 200, "", NULL,
	    NULL, "A=\x80\xff", NULL },
	/* bad names and values */
	{ HB("A : 1\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "bad CGI header name" },
	{ HB(": 1\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "bad CGI header name" },
	{ HB("A(b): 1\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "bad CGI header name" },
	{ HB("A\x80: 1\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "bad CGI header name" },
	{ HB("no colon\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "bad CGI header name" },
	{ HB("A: 1\n folded\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL,
	    NULL, "folded CGI header line" },
	{ HB("A: 1\n\tfolded\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL,
	    NULL, "folded CGI header line" },
	{ HB(" A: 1\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "folded CGI header line" },
	{ HB("A: 1\r2\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "control character in CGI header value" },
	{ HB("A: 1\r\r\n\r\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "control character in CGI header value" },
	{ HB("A: 1\0002\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "control character in CGI header value" },
	{ HB("A: \x7f\n\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "control character in CGI header value" },
	{ HB("A: 1\n\r\r\n\r\n"), 0, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "bad CGI header name" },
	/* incomplete, and the limit */
	{ HB("Content-Type: text/html\r\n"), 0, WEIR_AGAIN, 0, 0, NULL, NULL,
	    NULL, NULL, NULL },
	{ HB("Content-Type: text/html\r\n\r"), 0, WEIR_AGAIN, 0, 0, NULL, NULL,
	    NULL, NULL, NULL },
	{ HB(""), 0, WEIR_AGAIN, 0, 0, NULL, NULL, NULL, NULL, NULL },
	{ HB("A: 1\r\n\r\nbody"), 8, 8, FCGI_CGI_DOCUMENT, 200, "", NULL, NULL,
	    "A=1", NULL },
	{ HB("A: 1\r\n\r\nbody"), 7, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "CGI header section over the limit" },
	{ HB("A: 1\r\nB: 2"), 7, WEIR_ERROR, 0, 0, NULL, NULL, NULL, NULL,
	    "CGI header section over the limit" },
	{ HB("A: 1\r\nB: 2"), 10, WEIR_AGAIN, 0, 0, NULL, NULL, NULL, NULL,
	    NULL },
	{ HB("A:1\nB:2\nC:3\nD:4\nE:5\nF:6\nG:7\nH:8\n\n"), 0, 33,
	    FCGI_CGI_DOCUMENT, 200, "", NULL, NULL,
	    "A=1|B=2|C=3|D=4|E=5|F=6|G=7|H=8", NULL },
	{ HB("A:1\nB:2\nC:3\nD:4\nE:5\nF:6\nG:7\nH:8\nI:9\n\n"), 0, WEIR_ERROR,
	    0, 0, NULL, NULL, NULL, NULL, "too many CGI header fields" },
	{ HB("A:1\nB:2\nC:3\nD:4\nE:5\nF:6\nG:7\nH:8\nStatus: 201\n"
	    "Content-Type: a\nLocation: /b\n\n"), 0, 74, FCGI_CGI_CLIENT_REDIRECT,
	    201, "", "a", "/b", "A=1|B=2|C=3|D=4|E=5|F=6|G=7|H=8", NULL },
};

#define MAXFIELDS	8

/* Describe the parser's results as one string. */
static const char *
cgi_describe(const struct fcgi_cgi *c, ssize_t hlen, const char *why,
    char *out, size_t outsz)
{
	size_t	 o, i;

	if (hlen == WEIR_ERROR) {
		snprintf(out, outsz, "ERR %s", why);
		return out;
	}
	if (hlen == WEIR_AGAIN) {
		snprintf(out, outsz, "AGAIN");
		return out;
	}
	o = (size_t)snprintf(out, outsz, "%zd %d %d [%.*s] %s%.*s] %s%.*s] ",
	    hlen, c->kind, c->status, (int)c->reason.n,
	    c->reason.p ? c->reason.p : "",
	    c->content_type.p ? "[" : "null[", (int)c->content_type.n,
	    c->content_type.p ? c->content_type.p : "",
	    c->location.p ? "[" : "null[", (int)c->location.n,
	    c->location.p ? c->location.p : "");
	for (i = 0; i < c->nfields && o < outsz; i++)
		o += (size_t)snprintf(out + o, outsz - o, "%s%.*s=%.*s",
		    i ? "|" : "", (int)c->fields[i].name.n, c->fields[i].name.p,
		    (int)c->fields[i].value.n, c->fields[i].value.p);
	return out;
}

/* Feed in[0..n) in pieces; the header length counts from the start. */
static const char *
cgi_run(const char *in, size_t n, size_t cap, size_t step, size_t at,
    char *out, size_t outsz)
{
	static char		 buf[2048];
	struct http_header	 f[MAXFIELDS];
	struct fcgi_cgi		 c;
	const char		*why = NULL;
	size_t			 off = 0, piece, npieces = 0;
	ssize_t			 r = WEIR_AGAIN, total = WEIR_AGAIN;
	char			*copy;

	fcgi_cgi_init(&c, buf, cap, f, MAXFIELDS);
	do {
		if (step == SIZE_MAX)
			piece = npieces == 0 ? at : n - off;
		else if (step == 0)
			piece = n;
		else
			piece = n - off < step ? n - off : step;
		npieces++;
		copy = malloc(piece ? piece : 1);
		memcpy(copy, in + off, piece);
		r = fcgi_cgi_parse(&c, copy, piece, &why);
		free(copy);
		if (r >= 0 && total == WEIR_AGAIN) {
			CHECK((size_t)r <= piece);
			total = (ssize_t)off + r;
			CHECK_INT(c.len, total);
		} else if (r >= 0)
			CHECK_INT(r, 0);	/* all body after the header */
		if (r == WEIR_ERROR) {
			total = WEIR_ERROR;
			CHECK_INT(fcgi_cgi_parse(&c, "x", 1, &why), WEIR_ERROR);
			break;
		}
		off += piece;
	} while (off < n);
	return cgi_describe(&c, total, why, out, outsz);
}

static void
test_cgi(void)
{
	char		 want[2048], whole[2048], got[2048];
	size_t		 i, at, cap;

	for (i = 0; i < sizeof(cgi_cases) / sizeof(cgi_cases[0]); i++) {
		struct fcgi_cgi		 c;
		struct http_header	 f[MAXFIELDS];
		size_t			 o = 0;

		cap = cgi_cases[i].cap ? cgi_cases[i].cap : 1024;
		/* the expected description */
		memset(&c, 0, sizeof(c));
		c.kind = cgi_cases[i].kind;
		c.status = cgi_cases[i].status;
		if (cgi_cases[i].reason) {
			c.reason.p = cgi_cases[i].reason;
			c.reason.n = strlen(cgi_cases[i].reason);
		}
		if (cgi_cases[i].ctype) {
			c.content_type.p = cgi_cases[i].ctype;
			c.content_type.n = strlen(cgi_cases[i].ctype);
		}
		if (cgi_cases[i].location) {
			c.location.p = cgi_cases[i].location;
			c.location.n = strlen(cgi_cases[i].location);
		}
		c.fields = f;
		if (cgi_cases[i].fields && *cgi_cases[i].fields) {
			const char	*s = cgi_cases[i].fields, *eq, *bar;

			for (;;) {
				eq = strchr(s, '=');
				bar = strchr(eq, '|');
				if (bar == NULL)
					bar = s + strlen(s);
				f[o].name.p = s;
				f[o].name.n = (size_t)(eq - s);
				f[o].value.p = eq + 1;
				f[o].value.n = (size_t)(bar - eq - 1);
				o++;
				if (*bar == '\0')
					break;
				s = bar + 1;
			}
		}
		c.nfields = o;
		cgi_describe(&c, cgi_cases[i].hlen, cgi_cases[i].why, want,
		    sizeof(want));

		cgi_run(cgi_cases[i].in, cgi_cases[i].n, cap, 0, 0, whole,
		    sizeof(whole));
		CHECKF(strcmp(whole, want) == 0, "cgi case %zu:\n got %s\nwant %s",
		    i, whole, want);
		for (at = 0; at <= cgi_cases[i].n; at++) {
			cgi_run(cgi_cases[i].in, cgi_cases[i].n, cap, SIZE_MAX, at,
			    got, sizeof(got));
			CHECKF(strcmp(got, whole) == 0,
			    "cgi case %zu split at %zu: %s", i, at, got);
		}
		cgi_run(cgi_cases[i].in, cgi_cases[i].n, cap, 1, 0, got,
		    sizeof(got));
		CHECKF(strcmp(got, whole) == 0, "cgi case %zu bytewise: %s", i,
		    got);
	}
}

/* ---- CGI/1.1 variable names ---- */

static void
test_env(void)
{
	static const struct {
		const char	*name, *want;	/* want "" for skipped */
	} names[] = {
		{ "Host", "HTTP_HOST" },
		{ "user-agent", "HTTP_USER_AGENT" },
		{ "X-Forwarded-For", "HTTP_X_FORWARDED_FOR" },
		{ "X_Under", "HTTP_X_UNDER" },
		{ "Accept-Encoding", "HTTP_ACCEPT_ENCODING" },
		{ "a1!#$%&'*+.^`|~", "HTTP_A1!#$%&'*+.^`|~" },
		{ "Authorization", "HTTP_AUTHORIZATION" },
		{ "Cookie", "HTTP_COOKIE" },
		{ "Proxy", "" },
		{ "proxy", "" },
		{ "PROXY", "" },
		{ "Proxy-Connection", "HTTP_PROXY_CONNECTION" },
		{ "Content-Type", "" },
		{ "content_type", "" },
		{ "Content-Length", "" },
		{ "Content-Lengthx", "HTTP_CONTENT_LENGTHX" },
		{ "", "" },
		{ "Bad Name", "" },
		{ "Bad:Name", "" },
		{ "Bad=Name", "" },
		{ "Bad\x80", "" },
		{ "Bad(", "" },
		{ "Bad\"", "" },
		{ "Bad/", "" },
	};
	char		 out[64];
	size_t		 i, n;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		memset(out, 0x55, sizeof(out));
		n = fcgi_env_name(out, sizeof(out), names[i].name,
		    strlen(names[i].name));
		CHECKF(n == strlen(names[i].want), "%s: %zu", names[i].name, n);
		if (n > 0)
			CHECK_STR(out, names[i].want);
	}
	/* the buffer must hold "HTTP_", the name and a NUL */
	CHECK_INT(fcgi_env_name(out, 10, "Host", 4), 9);
	CHECK_INT(fcgi_env_name(out, 9, "Host", 4), 0);
	CHECK_INT(fcgi_env_name(out, 0, "Host", 4), 0);
}

static void
test_collisions(void)
{
	static const struct {
		const char	*names;	/* space-separated */
		const char	*want;	/* 1 per colliding header */
	} cases[] = {
		{ "Host Accept", "00" },
		{ "X-User X_User", "11" },
		{ "X-User x_user Host", "110" },
		{ "X-User X-User", "00" },
		{ "x-user X-USER", "00" },
		{ "X-User X-User X_User", "111" },
		{ "X-A-B X_A-B X-A_B", "111" },
		{ "X-A X-B X_C", "000" },
		{ "A-B A_B_ A-B-", "011" },
		{ "Cookie COOKIE cookie", "000" },
		{ "Proxy Proxy", "00" },
		{ "", "" },
	};
	struct http_header	 h[8];
	char			 names[128], got[9];
	size_t			 i, n, k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char	*s, *save = NULL;

		snprintf(names, sizeof(names), "%s", cases[i].names);
		n = 0;
		for (s = strtok_r(names, " ", &save); s != NULL;
		    s = strtok_r(NULL, " ", &save)) {
			h[n].name.p = s;
			h[n].name.n = strlen(s);
			h[n].value.p = "v";
			h[n].value.n = 1;
			n++;
		}
		for (k = 0; k < n; k++)
			got[k] = fcgi_env_collides(h, n, k) ? '1' : '0';
		got[n] = '\0';
		CHECKF(strcmp(got, cases[i].want) == 0, "%s: %s", cases[i].names,
		    got);
	}
}

int
main(void)
{
	test_encoders();
	test_params();
	test_decoder();
	test_dec_roundtrip();
	test_cgi();
	test_env();
	test_collisions();
	return unit_done("test_fcgi");
}
