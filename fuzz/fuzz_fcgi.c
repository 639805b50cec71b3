/*
 * fuzz_fcgi.c - libFuzzer target for src/frontend/fcgi.c.
 *
 * The input is what a FastCGI application sends: it is fed to the record
 * decoder whole, cut once at a few points, in three pieces and byte by
 * byte, and the event streams (STDOUT/STDERR data merged, other events,
 * the error, the end-of-stream verdict) must be identical.  The request id
 * expected is the one in the first record header.  The STDOUT bytes, and
 * the raw input too, go to the CGI response parser, whole and split, with a
 * large and a tiny limit; its results must agree and keep every promise of
 * frontend.h.  Finally the input drives the PARAMS encoder (pairs read back
 * by an independent reader) and the HTTP_* name helpers.  Every piece is an
 * exact-size heap copy so that AddressSanitizer sees any read past the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/frontend/fcgi.c"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define ASSERT(c)	do { if (!(c)) abort(); } while (0)

static void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n ? n : 1)) == NULL)
		abort();
	return p;
}

static char *
dupn(const void *p, size_t n)
{
	char	*b = xmalloc(n);

	if (n)
		memcpy(b, p, n);
	return b;
}

/* ---- the record decoder ---- */

/*
 * What a run of the decoder produced: segments of data (tag 'O' or 'E',
 * adjacent pieces merged) or of serialized events, in order.
 */
struct seg {
	char		 tag;
	size_t		 off, len;	/* in trace.data */
};
struct trace {
	char		*data;
	size_t		 dlen, dcap;
	struct seg	*segs;
	size_t		 nseg, scap;
	const char	*why;		/* the error, or NULL */
	int		 eof;		/* fcgi_dec_eof() */
	const char	*eofwhy;
};

static void
tr_add(struct trace *t, char tag, const void *p, size_t n)
{
	if (t->dlen + n > t->dcap) {
		t->dcap = (t->dlen + n) * 2 + 64;
		if ((t->data = realloc(t->data, t->dcap)) == NULL)
			abort();
	}
	if (t->nseg == 0 || t->segs[t->nseg - 1].tag != tag ||
	    (tag != 'O' && tag != 'E')) {
		if (t->nseg == t->scap) {
			t->scap = t->scap * 2 + 16;
			if ((t->segs = realloc(t->segs, t->scap *
			    sizeof(*t->segs))) == NULL)
				abort();
		}
		t->segs[t->nseg].tag = tag;
		t->segs[t->nseg].off = t->dlen;
		t->segs[t->nseg].len = 0;
		t->nseg++;
	}
	memcpy(t->data + t->dlen, p, n);
	t->dlen += n;
	t->segs[t->nseg - 1].len += n;
}

static void
tr_free(struct trace *t)
{
	free(t->data);
	free(t->segs);
}

/* Feed in[0..n) in pieces ending at cuts[0..ncut) then at n. */
static void
run_dec(const uint8_t *in, size_t n, uint16_t id, const size_t *cuts,
    size_t ncut, struct trace *t)
{
	struct fcgi_dec		 d;
	struct fcgi_event	 ev;
	const char		*why;
	size_t			 off = 0, end, i, k;
	ssize_t			 r;
	char			*b;

	memset(t, 0, sizeof(*t));
	fcgi_dec_init(&d);
	fcgi_dec_expect(&d, id);
	for (k = 0; k <= ncut && t->why == NULL; k++) {
		end = k < ncut ? cuts[k] : n;
		if (end < off)
			continue;
		b = dupn(in + off, end - off);
		for (i = 0; i < end - off; i += (size_t)r) {
			why = NULL;
			r = fcgi_dec_next(&d, b + i, end - off - i, &ev, &why);
			if (r < 0) {
				ASSERT(r == WEIR_ERROR && why != NULL);
				t->why = why;
				/* sticky */
				ASSERT(fcgi_dec_next(&d, b, end - off, &ev,
				    &why) == WEIR_ERROR && why == t->why);
				break;
			}
			ASSERT((size_t)r <= end - off - i);
			switch (ev.type) {
			case FCGI_EV_NONE:
				ASSERT((size_t)r == end - off - i);
				break;
			case FCGI_EV_STDOUT:
			case FCGI_EV_STDERR:
				ASSERT(ev.len > 0 && ev.data >= b + i &&
				    ev.data + ev.len <= b + i + r);
				tr_add(t, ev.type == FCGI_EV_STDOUT ? 'O' : 'E',
				    ev.data, ev.len);
				break;
			case FCGI_EV_END_REQUEST:
				ASSERT(ev.protocol_status <= FCGI_UNKNOWN_ROLE);
				ASSERT(d.expect == 0);
				tr_add(t, 'X', &ev.app_status,
				    sizeof(ev.app_status));
				tr_add(t, 'P', &ev.protocol_status, 1);
				break;
			case FCGI_EV_VALUES:
				ASSERT(ev.values.max_conns >= -1 &&
				    ev.values.max_conns <= VALUE_MAX);
				ASSERT(ev.values.max_reqs >= -1 &&
				    ev.values.max_reqs <= VALUE_MAX);
				ASSERT(ev.values.mpxs_conns >= -1 &&
				    ev.values.mpxs_conns <= VALUE_MAX);
				tr_add(t, 'V', &ev.values, sizeof(ev.values));
				break;
			case FCGI_EV_UNKNOWN_TYPE:
				tr_add(t, 'U', &ev.unknown_type, 1);
				break;
			default:
				abort();
			}
			if (ev.type == FCGI_EV_NONE)
				break;
		}
		free(b);
		off = end;
	}
	t->eofwhy = NULL;
	t->eof = fcgi_dec_eof(&d, &t->eofwhy);
	ASSERT(t->eof == 0 || (t->eof == WEIR_ERROR && t->eofwhy != NULL));
	ASSERT(t->why == NULL || t->eof == WEIR_ERROR);
}

static void
tr_same(const struct trace *a, const struct trace *b)
{
	size_t	 i;

	ASSERT(a->why == b->why && a->eof == b->eof && a->eofwhy == b->eofwhy);
	ASSERT(a->nseg == b->nseg && a->dlen == b->dlen);
	ASSERT(a->dlen == 0 || memcmp(a->data, b->data, a->dlen) == 0);
	for (i = 0; i < a->nseg; i++)
		ASSERT(a->segs[i].tag == b->segs[i].tag &&
		    a->segs[i].len == b->segs[i].len);
}

/* ---- the CGI response parser ---- */

#define MAXF	16

struct cgires {
	ssize_t			 hlen;	/* header bytes, AGAIN or ERROR */
	const char		*why;
	struct fcgi_cgi		 c;
	struct http_header	 f[MAXF];
	char			*buf;
};

static void
slice_ok(struct hstr s, const struct fcgi_cgi *c)
{
	ASSERT(s.p == NULL || (s.p >= c->buf && s.p + s.n <= c->buf + c->len));
}

static void
run_cgi(const char *in, size_t n, size_t cap, size_t maxf, size_t step,
    size_t cut, struct cgires *res)
{
	size_t	 off = 0, piece, npieces = 0, i;
	ssize_t	 r;
	char	*b;

	res->buf = xmalloc(cap);
	res->why = NULL;
	res->hlen = WEIR_AGAIN;
	fcgi_cgi_init(&res->c, res->buf, cap, res->f, maxf);
	do {
		if (step == 0)
			piece = npieces == 0 ? cut : n - off;
		else
			piece = n - off < step ? n - off : step;
		npieces++;
		b = dupn(in + off, piece);
		r = fcgi_cgi_parse(&res->c, b, piece, &res->why);
		free(b);
		ASSERT(r == WEIR_AGAIN || r == WEIR_ERROR ||
		    (r >= 0 && (size_t)r <= piece));
		if (r == WEIR_ERROR) {
			ASSERT(res->why != NULL);
			res->hlen = WEIR_ERROR;
			break;
		}
		if (r >= 0 && res->hlen == WEIR_AGAIN) {
			ASSERT(r > 0);
			res->hlen = (ssize_t)off + r;
		} else if (r >= 0)
			ASSERT(r == 0);
		else
			ASSERT(res->hlen == WEIR_AGAIN && r == WEIR_AGAIN);
		off += piece;
	} while (off < n);

	if (res->hlen < 0)
		return;
	/* the promises */
	ASSERT(res->c.done && res->c.len == (size_t)res->hlen &&
	    res->c.len <= cap);
	ASSERT(memcmp(res->c.buf, in, res->c.len) == 0);
	ASSERT(res->c.buf[res->c.len - 1] == '\n');
	ASSERT(res->c.nfields <= maxf);
	slice_ok(res->c.reason, &res->c);
	slice_ok(res->c.content_type, &res->c);
	slice_ok(res->c.location, &res->c);
	ASSERT(res->c.content_type.p == NULL || res->c.content_type.n > 0);
	ASSERT(res->c.location.p == NULL || res->c.location.n > 0);
	switch (res->c.kind) {
	case FCGI_CGI_DOCUMENT:
		ASSERT(res->c.location.p == NULL);
		ASSERT(res->c.status >= 100 && res->c.status <= 999);
		break;
	case FCGI_CGI_LOCAL_REDIRECT:
		ASSERT(res->c.status == 0 && res->c.location.p[0] == '/' &&
		    (res->c.location.n == 1 || res->c.location.p[1] != '/'));
		ASSERT(res->c.nfields == 0 && res->c.content_type.p == NULL);
		break;
	case FCGI_CGI_CLIENT_REDIRECT:
		ASSERT(res->c.location.p != NULL);
		ASSERT(res->c.status >= 100 && res->c.status <= 999);
		break;
	default:
		abort();
	}
	for (i = 0; i < res->c.nfields; i++) {
		const struct http_header *h = &res->c.fields[i];
		size_t	 k;

		slice_ok(h->name, &res->c);
		slice_ok(h->value, &res->c);
		ASSERT(h->name.n > 0);
		for (k = 0; k < h->name.n; k++)
			ASSERT(tchar((unsigned char)h->name.p[k]));
		ASSERT(!eq_ci(h->name.p, h->name.n, "Status") &&
		    !eq_ci(h->name.p, h->name.n, "Location") &&
		    !eq_ci(h->name.p, h->name.n, "Content-Type"));
		for (k = 0; k < h->value.n; k++)
			ASSERT((unsigned char)h->value.p[k] >= 0x20 ?
			    h->value.p[k] != 0x7f : h->value.p[k] == '\t');
		ASSERT(h->value.n == 0 || (h->value.p[0] != ' ' &&
		    h->value.p[0] != '\t' && h->value.p[h->value.n - 1] != ' ' &&
		    h->value.p[h->value.n - 1] != '\t'));
	}
}

static void
hstr_same(struct hstr a, const char *ab, struct hstr b, const char *bb)
{
	ASSERT((a.p == NULL) == (b.p == NULL) && a.n == b.n);
	ASSERT(a.p == NULL || a.p - ab == b.p - bb);
}

static void
cgi_same(const struct cgires *a, const struct cgires *b)
{
	size_t	 i;

	ASSERT(a->hlen == b->hlen);
	if (a->hlen == WEIR_ERROR)
		ASSERT(a->why == b->why);
	if (a->hlen < 0)
		return;
	ASSERT(a->c.kind == b->c.kind && a->c.status == b->c.status &&
	    a->c.nfields == b->c.nfields);
	hstr_same(a->c.reason, a->buf, b->c.reason, b->buf);
	hstr_same(a->c.content_type, a->buf, b->c.content_type, b->buf);
	hstr_same(a->c.location, a->buf, b->c.location, b->buf);
	for (i = 0; i < a->c.nfields; i++) {
		hstr_same(a->c.fields[i].name, a->buf, b->c.fields[i].name,
		    b->buf);
		hstr_same(a->c.fields[i].value, a->buf, b->c.fields[i].value,
		    b->buf);
	}
}

static void
check_cgi(const char *in, size_t n, size_t cap, size_t maxf)
{
	struct cgires	 whole, other;
	size_t		 cuts[5], i;

	run_cgi(in, n, cap, maxf, 0, n, &whole);
	cuts[0] = 1;
	cuts[1] = n / 2;
	cuts[2] = n > 0 ? n - 1 : 0;
	cuts[3] = whole.hlen > 0 ? (size_t)whole.hlen - 1 : n / 3;
	cuts[4] = whole.hlen > 1 ? (size_t)whole.hlen - 2 : n / 5;
	for (i = 0; i < 5; i++) {
		if (cuts[i] > n)
			continue;
		run_cgi(in, n, cap, maxf, 0, cuts[i], &other);
		cgi_same(&whole, &other);
		free(other.buf);
	}
	if (n <= 4096) {
		run_cgi(in, n, cap, maxf, 1, 0, &other);
		cgi_same(&whole, &other);
		free(other.buf);
	}
	run_cgi(in, n, cap, maxf, 7, 0, &other);
	cgi_same(&whole, &other);
	free(other.buf);
	free(whole.buf);
}

/* ---- the PARAMS encoder and the HTTP_* names ---- */

/* One name-value length at s[*i], short or long form. */
static size_t
get_len(const uint8_t *s, size_t *i)
{
	size_t	 l;

	if (s[*i] < 128)
		return s[(*i)++];
	l = (size_t)(s[*i] & 0x7f) << 24 | (size_t)s[*i + 1] << 16 |
	    (size_t)s[*i + 2] << 8 | s[*i + 3];
	ASSERT(l >= 128);	/* the shortest form */
	*i += 4;
	return l;
}

/*
 * Pairs derived from the input, encoded through a buffer of an input-chosen
 * size (flushed on WEIR_AGAIN), and read back as strictly as php-src does:
 * records of whole pairs, content + padding <= 65535.
 */
static void
check_params(const uint8_t *in, size_t n)
{
	static uint8_t		 stream[1 << 20];
	static char		 name[70000], value[70000];
	struct fcgi_params	 p;
	size_t			 cap, slen = 0, i, k, nl, vl, j, cl, pl, pb, e;
	size_t			 plens[64][2], np = 0, sum = 0;
	uint8_t			*buf;
	ssize_t			 r;
	int			 rc;

	if (n < 2)
		return;
	cap = 24 + (size_t)in[0] * 300;	/* 24 .. 76524 */
	buf = xmalloc(cap);
	fcgi_params_init(&p, buf, cap, 1);
	for (i = 1; i + 1 < n && np < 64; i += 2) {
		nl = 1 + (in[i] & 0x7f) + (in[i] & 0x80 ? 100 : 0);
		if (in[i + 1] == 0xff)		/* the largest pair, or one more */
			vl = FCGI_PARAMS_MAX - nl - (nl < 128 ? 1 : 4) - 4 +
			    (in[i] & 1);
		else
			vl = (size_t)in[i + 1] * 3;
		for (k = 0; k < nl; k++)
			name[k] = (char)in[(i + k) % n];
		for (k = 0; k < vl; k += j) {
			j = vl - k < n - i ? vl - k : n - i;
			memcpy(value + k, in + i, j);
		}
		pb = nl + vl + (nl < 128 ? 1 : 4) + (vl < 128 ? 1 : 4);
		rc = fcgi_params_add(&p, name, nl, value, vl);
		if (rc == WEIR_AGAIN) {
			r = fcgi_params_finish(&p, false);
			ASSERT(r >= 0 && (size_t)r <= cap);
			memcpy(stream + slen, buf, (size_t)r);
			slen += (size_t)r;
			fcgi_params_init(&p, buf, cap, 1);
			rc = fcgi_params_add(&p, name, nl, value, vl);
			/* an empty buffer refuses only what it can not hold */
			ASSERT(rc != WEIR_AGAIN ||
			    FCGI_HEADER_LEN + pb + PAD(pb) + 8 > cap);
		}
		ASSERT(rc == 0 || rc == WEIR_AGAIN || rc == WEIR_ERROR);
		ASSERT((rc == WEIR_ERROR) == (pb > FCGI_PARAMS_MAX));
		if (rc != 0)
			continue;
		plens[np][0] = nl;
		plens[np][1] = vl;
		np++;
		if ((sum += nl + vl) > 150000)
			break;
	}
	r = fcgi_params_finish(&p, true);
	ASSERT(r >= 8 && (size_t)r <= cap);
	memcpy(stream + slen, buf, (size_t)r);
	slen += (size_t)r;
	free(buf);

	/* the independent reader */
	for (i = 0, k = 0; i < slen; i += 8 + cl + pl) {
		ASSERT(slen - i >= 8 && stream[i] == 1 &&
		    stream[i + 1] == FCGI_PARAMS && stream[i + 2] == 0 &&
		    stream[i + 3] == 1);
		cl = (size_t)(stream[i + 4] << 8 | stream[i + 5]);
		pl = stream[i + 6];
		ASSERT((cl + pl) % 8 == 0 && pl < 8 && cl + pl <= 65535 &&
		    slen - i - 8 >= cl + pl);
		ASSERT(cl > 0 || i + 8 + pl == slen);	/* empty is last */
		for (j = i + 8, e = i + 8 + cl; j < e; k++) {
			ASSERT(k < np);
			ASSERT(get_len(stream, &j) == plens[k][0]);
			ASSERT(get_len(stream, &j) == plens[k][1]);
			j += plens[k][0] + plens[k][1];
			ASSERT(j <= e);		/* whole pairs in a record */
		}
	}
	ASSERT(k == np);
}

static void
check_env(const uint8_t *in, size_t n)
{
	struct http_header	 h[16];
	char			 out[128];
	size_t			 nh = 0, i, s = 0, l, k;

	for (i = 0; i <= n && nh < 16; i++) {
		if (i < n && in[i] != '\n')
			continue;
		h[nh].name.p = (const char *)in + s;
		h[nh].name.n = i - s;
		h[nh].value.p = "";
		h[nh].value.n = 0;
		nh++;
		s = i + 1;
	}
	for (i = 0; i < nh; i++) {
		l = fcgi_env_name(out, sizeof(out), h[i].name.p, h[i].name.n);
		ASSERT(l == 0 || (l == h[i].name.n + 5 && out[l] == '\0' &&
		    memcmp(out, "HTTP_", 5) == 0));
		for (k = 5; k < l; k++)
			ASSERT(tchar((unsigned char)out[k]) && out[k] != '-' &&
			    !(out[k] >= 'a' && out[k] <= 'z'));
		ASSERT(l == 0 || (strcmp(out, "HTTP_PROXY") != 0 &&
		    strcmp(out, "HTTP_CONTENT_TYPE") != 0 &&
		    strcmp(out, "HTTP_CONTENT_LENGTH") != 0));
		(void)fcgi_env_collides(h, nh, i);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct trace	 whole, t;
	size_t		 cuts[8], one[1], i, k, so = 0;
	uint16_t	 id = len >= 4 ? (uint16_t)(data[2] << 8 | data[3]) : 1;
	char		*stdout_bytes;

	/* 1. the decoder: whole, cut once, three pieces, byte by byte */
	run_dec(data, len, id, NULL, 0, &whole);
	cuts[0] = 1;
	cuts[1] = 4;
	cuts[2] = 8;
	cuts[3] = 9;
	cuts[4] = len / 2;
	cuts[5] = len > 0 ? len - 1 : 0;
	cuts[6] = len > 1 ? len - 2 : 0;
	cuts[7] = 17;
	for (i = 0; i < 8; i++) {
		if (cuts[i] > len)
			continue;
		one[0] = cuts[i];
		run_dec(data, len, id, one, 1, &t);
		tr_same(&whole, &t);
		tr_free(&t);
	}
	cuts[0] = len / 3;
	cuts[1] = 2 * len / 3;
	run_dec(data, len, id, cuts, 2, &t);
	tr_same(&whole, &t);
	tr_free(&t);
	if (len <= 8192) {
		size_t	*every = xmalloc(len * sizeof(*every));

		for (i = 0; i < len; i++)
			every[i] = i + 1;
		run_dec(data, len, id, every, len, &t);
		tr_same(&whole, &t);
		tr_free(&t);
		free(every);
	}

	/* 2. the STDOUT stream and the raw input as CGI responses */
	stdout_bytes = xmalloc(whole.dlen);
	for (k = 0; k < whole.nseg; k++)
		if (whole.segs[k].tag == 'O') {
			memcpy(stdout_bytes + so, whole.data + whole.segs[k].off,
			    whole.segs[k].len);
			so += whole.segs[k].len;
		}
	tr_free(&whole);
	check_cgi(stdout_bytes, so, 8192, MAXF);
	check_cgi(stdout_bytes, so, 40, 2);
	free(stdout_bytes);
	check_cgi((const char *)data, len, 8192, MAXF);
	check_cgi((const char *)data, len, 24, 1);

	/* 3. the encoder and the environment names */
	check_params(data, len);
	check_env(data, len);
	return 0;
}
