/*
 * fcgi.c - the FastCGI 1.0 record protocol as a web server speaks it, the CGI
 * response header section (RFC 3875 §6) that travels on FCGI_STDOUT, and the
 * CGI/1.1 HTTP_* variable names (RFC 3875 §4.1.18).
 *
 * Pure: no I/O, no logging, no allocation.  Every buffer is the caller's and
 * every error is a static string in *why.  The FastCGI handler encodes
 * BEGIN_REQUEST, PARAMS and STDIN records with the encoders, feeds what the
 * application sends to fcgi_dec_next() chunk by chunk, and the STDOUT bytes
 * to fcgi_cgi_parse() until the header section is complete; the rest of the
 * STDOUT stream is the body.
 *
 * Record layout (FastCGI 1.0 §3.3): version, type, requestId (16 bits, big
 * endian), contentLength (16), paddingLength (8), reserved, then content and
 * padding.  The fields' widths are the limits: 65535 content and 255 padding
 * bytes can not be exceeded on the wire.  Padding and reserved bytes are
 * never checked: php-cgi leaves them uninitialised.
 *
 * php-cgi 8.2, measured: it ends a request with FCGI_END_REQUEST alone (no
 * empty STDOUT record), sends "Status:" only for a status other than 200,
 * honours FCGI_KEEP_CONN, answers FCGI_GET_VALUES with FCGI_MAX_CONNS 1,
 * FCGI_MAX_REQS 1, FCGI_MPXS_CONNS 0, and closes the connection without a
 * reply on an unknown role or record type.
 */
#include "frontend.h"

#include <string.h>

/* RFC 9110 §5.6.2 tchar */
static bool
tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static unsigned char
upper(unsigned char c)
{
	return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

/* a[0..n) equals the literal lit, ignoring ASCII case. */
static bool
eq_ci(const char *a, size_t n, const char *lit)
{
	size_t	 i;

	if (n != strlen(lit))
		return false;
	for (i = 0; i < n; i++)
		if (upper((unsigned char)a[i]) != upper((unsigned char)lit[i]))
			return false;
	return true;
}

/* ---- encoders ---- */

/*
 * Write the header of a record with clen content bytes and return the
 * padding that brings content + padding to a multiple of 8.  The padding is
 * sent as zero bytes right after the content.
 */
size_t
fcgi_header(uint8_t out[FCGI_HEADER_LEN], enum fcgi_type type, uint16_t id,
    size_t clen)
{
	size_t	 pad = (8 - (clen & 7)) & 7;

	out[0] = 1;			/* FCGI_VERSION_1 */
	out[1] = (uint8_t)type;
	out[2] = (uint8_t)(id >> 8);
	out[3] = (uint8_t)id;
	out[4] = (uint8_t)(clen >> 8);
	out[5] = (uint8_t)clen;
	out[6] = (uint8_t)pad;
	out[7] = 0;
	return pad;
}

/* One whole record of clen bytes from data (NULL for zeros) into buf. */
static ssize_t
record(void *buf, size_t cap, enum fcgi_type type, uint16_t id,
    const void *data, size_t clen)
{
	uint8_t	*b = buf;
	size_t	 pad;

	if (clen > FCGI_MAX_CONTENT ||
	    cap < FCGI_HEADER_LEN + clen + ((8 - (clen & 7)) & 7))
		return WEIR_ERROR;
	pad = fcgi_header(b, type, id, clen);
	if (clen > 0) {
		if (data != NULL)
			memcpy(b + FCGI_HEADER_LEN, data, clen);
		else
			memset(b + FCGI_HEADER_LEN, 0, clen);
	}
	memset(b + FCGI_HEADER_LEN + clen, 0, pad);
	return (ssize_t)(FCGI_HEADER_LEN + clen + pad);
}

/*
 * FCGI_BEGIN_REQUEST for request id (1..65535) in role (FCGI_RESPONDER);
 * keep_conn asks the application to keep the connection open after
 * FCGI_END_REQUEST.  16 bytes.
 */
ssize_t
fcgi_begin_request(void *buf, size_t cap, uint16_t id, uint16_t role,
    bool keep_conn)
{
	uint8_t	 body[8] = { (uint8_t)(role >> 8), (uint8_t)role,
		    keep_conn ? 1 : 0, 0, 0, 0, 0, 0 };

	if (id == 0)
		return WEIR_ERROR;
	return record(buf, cap, FCGI_BEGIN_REQUEST, id, body, sizeof(body));
}

/*
 * FCGI_ABORT_REQUEST for request id: sent when the client went away.  The
 * application still ends the request with FCGI_END_REQUEST.  8 bytes.
 */
ssize_t
fcgi_abort_request(void *buf, size_t cap, uint16_t id)
{
	if (id == 0)
		return WEIR_ERROR;
	return record(buf, cap, FCGI_ABORT_REQUEST, id, NULL, 0);
}

/*
 * One FCGI_STDIN record carrying data[0..len), len <= 65535 (the data is
 * copied; for no copy, use fcgi_header() and writev).  len 0 writes the
 * empty record that ends the stream, which every request needs, with or
 * without a body.
 */
ssize_t
fcgi_stdin(void *buf, size_t cap, uint16_t id, const void *data, size_t len)
{
	if (id == 0 || (data == NULL && len > 0))
		return WEIR_ERROR;
	return record(buf, cap, FCGI_STDIN, id, data, len);
}

/*
 * FCGI_GET_VALUES (request id 0) asking for FCGI_MAX_CONNS, FCGI_MAX_REQS
 * and FCGI_MPXS_CONNS: the health check.  The answer is an FCGI_EV_VALUES
 * event.  56 bytes.
 */
ssize_t
fcgi_get_values(void *buf, size_t cap)
{
	static const char q[] =
	    "\016\000FCGI_MAX_CONNS"
	    "\015\000FCGI_MAX_REQS"
	    "\017\000FCGI_MPXS_CONNS";

	return record(buf, cap, FCGI_GET_VALUES, 0, q, sizeof(q) - 1);
}

/* ---- the FCGI_PARAMS stream ---- */

#define PAD(n)		((8 - ((n) & 7)) & 7)

/*
 * Start a PARAMS stream for request id in buf[0..cap).  To send the stream
 * in several pieces: when add() says WEIR_AGAIN, finish(p, false), send the
 * bytes, init again (the same buffer, once sent) and add the pair again.
 * A buffer of FCGI_MAX_RECORD bytes takes any pair add() accepts.
 */
void
fcgi_params_init(struct fcgi_params *p, void *buf, size_t cap, uint16_t id)
{
	memset(p, 0, sizeof(*p));
	p->buf = buf;
	p->cap = cap;
	p->id = id;
}

/* Write the open record's header and padding. */
static void
params_close(struct fcgi_params *p)
{
	size_t	 pad;

	pad = fcgi_header(p->buf + p->rec, FCGI_PARAMS, p->id, p->clen);
	memset(p->buf + p->len, 0, pad);
	p->len += pad;
	p->open = false;
}

/* FastCGI name-value length: 1 byte below 128, else 4 with the top bit. */
static size_t
nvlen_put(uint8_t *b, size_t n)
{
	if (n < 128) {
		b[0] = (uint8_t)n;
		return 1;
	}
	b[0] = (uint8_t)(n >> 24 | 0x80);
	b[1] = (uint8_t)(n >> 16);
	b[2] = (uint8_t)(n >> 8);
	b[3] = (uint8_t)n;
	return 4;
}

/*
 * Add the pair name[0..nlen) = value[0..vlen).  Returns 0; WEIR_AGAIN when
 * the buffer has no room for it (nothing written: flush, see init); or
 * WEIR_ERROR when nlen is 0 or the pair with its 2..8 length bytes is over
 * FCGI_PARAMS_MAX, which no record can carry (a 431 for a header).
 *
 * Every record holds whole pairs and at most FCGI_PARAMS_MAX content bytes,
 * because php-src (main/fastcgi.c, php-cgi and php-fpm alike) parses each
 * PARAMS record on its own and drops the connection when a pair crosses a
 * record or when contentLength + paddingLength is over 65535.  add() keeps
 * room for the padding and the terminator, so finish() never fails.
 */
int
fcgi_params_add(struct fcgi_params *p, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
	uint8_t	 lens[8];
	size_t	 n, pair, need;
	bool	 fresh;

	if (nlen == 0 || nlen > FCGI_PARAMS_MAX || vlen > FCGI_PARAMS_MAX ||
	    p->id == 0)
		return WEIR_ERROR;
	n = nvlen_put(lens, nlen);
	n += nvlen_put(lens + n, vlen);
	if ((pair = n + nlen + vlen) > FCGI_PARAMS_MAX)
		return WEIR_ERROR;

	/* 1. room: a new record if the pair does not fit in the open one */
	fresh = !p->open || p->clen + pair > FCGI_PARAMS_MAX;
	need = pair + PAD(fresh ? pair : p->clen + pair) + FCGI_HEADER_LEN;
	if (fresh)
		need += FCGI_HEADER_LEN + (p->open ? PAD(p->clen) : 0);
	if (p->cap < p->len || p->cap - p->len < need)
		return WEIR_AGAIN;

	/* 2. the pair */
	if (fresh) {
		if (p->open)
			params_close(p);
		p->rec = p->len;
		p->len += FCGI_HEADER_LEN;
		p->clen = 0;
		p->open = true;
	}
	memcpy(p->buf + p->len, lens, n);
	memcpy(p->buf + p->len + n, name, nlen);
	if (vlen > 0)
		memcpy(p->buf + p->len + n + nlen, value, vlen);
	p->len += pair;
	p->clen += pair;
	return 0;
}

/*
 * Close the open record and, when last, append the empty PARAMS record that
 * ends the stream.  Returns the number of bytes to send from buf[0], or
 * WEIR_ERROR when cap is too small for the terminator (cap < 8).
 */
ssize_t
fcgi_params_finish(struct fcgi_params *p, bool last)
{
	if (p->open)
		params_close(p);
	if (last) {
		if (p->cap - p->len < FCGI_HEADER_LEN || p->id == 0)
			return WEIR_ERROR;
		fcgi_header(p->buf + p->len, FCGI_PARAMS, p->id, 0);
		p->len += FCGI_HEADER_LEN;
	}
	return (ssize_t)p->len;
}

/* ---- the record decoder ---- */

/* GET_VALUES_RESULT pair parser states */
enum { NV_NLEN, NV_VLEN, NV_NAME, NV_VALUE };

#define VALUE_MAX	1000000000L	/* larger FCGI_MAX_* values are bogus */

void
fcgi_dec_init(struct fcgi_dec *d)
{
	memset(d, 0, sizeof(*d));
}

/*
 * A request with this id was begun on the connection: its STDOUT, STDERR
 * and END_REQUEST records are expected.  After FCGI_END_REQUEST no request
 * is in progress until the next call, and records for any request id are a
 * protocol error (a stale or a multiplexed reply).
 */
void
fcgi_dec_expect(struct fcgi_dec *d, uint16_t id)
{
	d->expect = id;
}

static ssize_t
dec_fail(struct fcgi_dec *d, const char *why, const char **whyp)
{
	d->err = why;
	*whyp = why;
	return WEIR_ERROR;
}

/* 1. check a complete header; NULL or why it is refused */
static const char *
dec_header(struct fcgi_dec *d)
{
	uint16_t	 id = (uint16_t)(d->hdr[2] << 8 | d->hdr[3]);

	if (d->hdr[0] != 1)
		return "FastCGI record version is not 1";
	d->type = d->hdr[1];
	d->clen = (uint32_t)(d->hdr[4] << 8 | d->hdr[5]);
	d->plen = d->hdr[6];
	d->blen = 0;
	switch (d->type) {
	case FCGI_STDOUT:
	case FCGI_STDERR:
	case FCGI_END_REQUEST:
		if (id == 0)
			return "FastCGI application record with request id 0";
		if (d->expect == 0)
			return "FastCGI record when no request is in progress";
		if (id != d->expect)
			return "FastCGI record for another request id";
		if (d->type == FCGI_END_REQUEST && d->clen != 8)
			return "FCGI_END_REQUEST body is not 8 bytes";
		return NULL;
	case FCGI_GET_VALUES_RESULT:
	case FCGI_UNKNOWN_TYPE:
		if (id != 0)
			return "FastCGI management record with a request id";
		if (d->type == FCGI_UNKNOWN_TYPE && d->clen != 8)
			return "FCGI_UNKNOWN_TYPE body is not 8 bytes";
		d->nvstate = NV_NLEN;
		d->nvlgot = 0;
		d->vals.max_conns = d->vals.max_reqs = d->vals.mpxs_conns = -1;
		return NULL;
	case FCGI_BEGIN_REQUEST:
	case FCGI_ABORT_REQUEST:
	case FCGI_PARAMS:
	case FCGI_STDIN:
	case FCGI_DATA:
	case FCGI_GET_VALUES:
		return "FastCGI record type only a web server sends";
	default:
		return "unknown FastCGI record type";
	}
}

/* The value a GET_VALUES_RESULT name sets, or NULL for one we ignore. */
static long *
nv_slot(struct fcgi_dec *d)
{
	const char	*n = d->nvname;
	size_t		 len = d->nvlen[0];

	if (len == 14 && memcmp(n, "FCGI_MAX_CONNS", 14) == 0)
		return &d->vals.max_conns;
	if (len == 13 && memcmp(n, "FCGI_MAX_REQS", 13) == 0)
		return &d->vals.max_reqs;
	if (len == 15 && memcmp(n, "FCGI_MPXS_CONNS", 15) == 0)
		return &d->vals.mpxs_conns;
	return NULL;
}

/* Set the value of the finished pair, NULL or why it is refused. */
static const char *
nv_done(struct fcgi_dec *d)
{
	long	*slot;

	d->nvstate = NV_NLEN;
	d->nvlgot = 0;
	if (!d->nvknown)
		return NULL;
	if (d->nvlen[1] == 0)
		return "empty value in FCGI_GET_VALUES_RESULT";
	slot = nv_slot(d);
	*slot = d->nvacc;
	return NULL;
}

/*
 * 2. one content byte of a GET_VALUES_RESULT: lengths (1 or 4 bytes each),
 * name, value.  Known names take a decimal value; others are skipped.
 */
static const char *
nv_byte(struct fcgi_dec *d, uint8_t c)
{
	uint32_t	*l;

	switch (d->nvstate) {
	case NV_NLEN:
	case NV_VLEN:
		l = &d->nvlen[d->nvstate == NV_VLEN];
		if (d->nvlgot == 0) {
			*l = c & 0x7f;
			d->nvlgot = c & 0x80 ? 1 : 4;
		} else {
			*l = *l << 8 | c;
			d->nvlgot++;
		}
		if (d->nvlgot < 4)
			return NULL;
		d->nvlgot = 0;
		if (d->nvstate == NV_VLEN) {
			d->nvstate = NV_NAME;
			d->nvgot = 0;
			d->nvknown = false;
			if (d->nvlen[0] == 0)
				return "empty name in FCGI_GET_VALUES_RESULT";
		} else
			d->nvstate = NV_VLEN;
		return NULL;
	case NV_NAME:
		if (d->nvgot < sizeof(d->nvname))
			d->nvname[d->nvgot] = (char)c;
		if (++d->nvgot < d->nvlen[0])
			return NULL;
		d->nvstate = NV_VALUE;
		d->nvgot = 0;
		d->nvacc = 0;
		d->nvknown = nv_slot(d) != NULL;
		if (d->nvlen[1] == 0)
			return nv_done(d);
		return NULL;
	default:	/* NV_VALUE */
		if (d->nvknown) {
			if (c < '0' || c > '9')
				return "non-numeric value in "
				    "FCGI_GET_VALUES_RESULT";
			d->nvacc = d->nvacc * 10 + (c - '0');
			if (d->nvacc > VALUE_MAX)
				return "value too large in "
				    "FCGI_GET_VALUES_RESULT";
		}
		if (++d->nvgot < d->nvlen[1])
			return NULL;
		return nv_done(d);
	}
}

/*
 * Feed buf[0..len), any piece of the byte stream from the application.
 * Returns the number of bytes consumed and sets ev: when ev->type is
 * FCGI_EV_NONE all len bytes were consumed; otherwise call again with the
 * rest.  STDOUT and STDERR data point into buf and are split wherever the
 * chunks and records are; empty stream records (end of stream) are not
 * reported: FCGI_EV_END_REQUEST ends a request.  WEIR_ERROR with *why for a
 * protocol error; the decoder then stays failed.
 */
ssize_t
fcgi_dec_next(struct fcgi_dec *d, const void *buf, size_t len,
    struct fcgi_event *ev, const char **why)
{
	const char	*p = buf, *end, *e;
	size_t		 n;

	memset(ev, 0, sizeof(*ev));
	if (d->err != NULL) {
		*why = d->err;
		return WEIR_ERROR;
	}
	if (len == 0)
		return 0;
	end = p + len;
	while (p < end) {
		if (d->hlen < FCGI_HEADER_LEN) {
			/* 1. the header, gathered across chunks */
			n = FCGI_HEADER_LEN - d->hlen;
			if (n > (size_t)(end - p))
				n = (size_t)(end - p);
			memcpy(d->hdr + d->hlen, p, n);
			d->hlen += (uint8_t)n;
			p += n;
			if (d->hlen < FCGI_HEADER_LEN)
				break;
			if ((e = dec_header(d)) != NULL)
				return dec_fail(d, e, why);
			if (d->clen == 0 && d->type == FCGI_GET_VALUES_RESULT) {
				ev->type = FCGI_EV_VALUES;
				ev->values = d->vals;
			}
		} else if (d->clen > 0) {
			n = d->clen;
			if (n > (size_t)(end - p))
				n = (size_t)(end - p);
			d->clen -= (uint32_t)n;
			switch (d->type) {
			case FCGI_STDOUT:
			case FCGI_STDERR:
				/* 2. stream data, handed out in place */
				ev->type = d->type == FCGI_STDOUT ?
				    FCGI_EV_STDOUT : FCGI_EV_STDERR;
				ev->data = p;
				ev->len = n;
				p += n;
				break;
			case FCGI_GET_VALUES_RESULT:
				/* 3. pairs, parsed byte by byte */
				for (; n > 0; n--, p++)
					if ((e = nv_byte(d,
					    (uint8_t)*p)) != NULL)
						return dec_fail(d, e, why);
				if (d->clen > 0)
					break;
				if (d->nvstate != NV_NLEN || d->nvlgot != 0)
					return dec_fail(d, "name-value pair "
					    "crosses the end of "
					    "FCGI_GET_VALUES_RESULT", why);
				ev->type = FCGI_EV_VALUES;
				ev->values = d->vals;
				break;
			default:
				/* 4. END_REQUEST, UNKNOWN_TYPE: 8-byte bodies */
				memcpy(d->body + d->blen, p, n);
				d->blen += (uint8_t)n;
				p += n;
				if (d->clen > 0)
					break;
				if (d->type == FCGI_UNKNOWN_TYPE) {
					ev->type = FCGI_EV_UNKNOWN_TYPE;
					ev->unknown_type = d->body[0];
					break;
				}
				if (d->body[4] > FCGI_UNKNOWN_ROLE)
					return dec_fail(d, "bad protocolStatus "
					    "in FCGI_END_REQUEST", why);
				ev->type = FCGI_EV_END_REQUEST;
				ev->app_status = (uint32_t)d->body[0] << 24 |
				    (uint32_t)d->body[1] << 16 |
				    (uint32_t)d->body[2] << 8 | d->body[3];
				ev->protocol_status = d->body[4];
				d->expect = 0;
				break;
			}
		} else {
			/* 5. padding, never looked at */
			n = d->plen;
			if (n > (size_t)(end - p))
				n = (size_t)(end - p);
			d->plen -= (uint32_t)n;
			p += n;
		}
		if (d->hlen == FCGI_HEADER_LEN && d->clen == 0 && d->plen == 0)
			d->hlen = 0;
		if (ev->type != FCGI_EV_NONE)
			break;
	}
	return p - (const char *)buf;
}

/*
 * The application closed the connection: 0 when that is clean (between
 * records and no request in progress), else WEIR_ERROR and *why (a
 * truncated record, or no FCGI_END_REQUEST: a crashed application).
 */
int
fcgi_dec_eof(const struct fcgi_dec *d, const char **why)
{
	if (d->err != NULL)
		*why = d->err;
	else if (d->hlen != 0)
		*why = "FastCGI connection closed inside a record";
	else if (d->expect != 0)
		*why = "FastCGI connection closed before FCGI_END_REQUEST";
	else
		return 0;
	return WEIR_ERROR;
}

/* ---- the CGI response (RFC 3875 §6) ---- */

/*
 * Parse STDOUT into caller-owned buffers: the header section is copied to
 * buf (cap bytes, the section's limit, blank line included) and the fields
 * other than Status, Location and Content-Type go to fields[0..maxfields).
 * Results are slices of buf, valid while it is.
 */
void
fcgi_cgi_init(struct fcgi_cgi *c, char *buf, size_t cap,
    struct http_header *fields, size_t maxfields)
{
	memset(c, 0, sizeof(*c));
	c->buf = buf;
	c->cap = cap;
	c->fields = fields;
	c->maxfields = maxfields;
}

static void
trim(const char **b, const char **e)
{
	while (*b < *e && (**b == ' ' || **b == '\t'))
		(*b)++;
	while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

/* "NNN" or "NNN reason" (RFC 3875 §6.3.3), 100..999. */
static const char *
cgi_status(struct fcgi_cgi *c, const char *v, const char *e)
{
	const char	*r;

	if (e - v < 3 || v[0] < '1' || v[0] > '9' || v[1] < '0' ||
	    v[1] > '9' || v[2] < '0' || v[2] > '9' ||
	    (e - v > 3 && v[3] != ' ' && v[3] != '\t'))
		return "bad CGI Status";
	c->status = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
	r = v + 3;
	trim(&r, &e);
	c->reason.p = r;
	c->reason.n = (size_t)(e - r);
	return NULL;
}

/*
 * Parse the complete section in buf[0..len), which ends with its blank line.
 * Every line ends with LF, optionally preceded by CR.
 */
static const char *
cgi_section(struct fcgi_cgi *c)
{
	const char	*p = c->buf, *end = c->buf + c->len;
	const char	*eol, *le, *q, *v, *ve, *err;
	bool		 have_status = false, local;
	struct hstr	*h;

	for (;; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		le = eol;
		if (le > p && le[-1] == '\r')
			le--;
		if (le == p)
			break;
		/* 1. no obs-fold (RFC 9112 §5.2) */
		if (*p == ' ' || *p == '\t')
			return "folded CGI header line";
		/* 2. field-name = token, ":" right after it */
		for (q = p; q < le && tchar((unsigned char)*q); q++)
			;
		if (q == p || q == le || *q != ':')
			return "bad CGI header name";
		/* 3. field-value: no CTL but HTAB (a CR here is bare) */
		v = q + 1;
		ve = le;
		trim(&v, &ve);
		for (err = v; err < ve; err++)
			if (((unsigned char)*err < 0x20 && *err != '\t') ||
			    *err == 0x7f)
				return "control character in CGI header value";
		/* 4. the three CGI fields, each at most once */
		if (eq_ci(p, (size_t)(q - p), "Status")) {
			if (have_status)
				return "duplicate CGI Status";
			have_status = true;
			if ((err = cgi_status(c, v, ve)) != NULL)
				return err;
			continue;
		}
		if (eq_ci(p, (size_t)(q - p), "Location"))
			h = &c->location;
		else if (eq_ci(p, (size_t)(q - p), "Content-Type"))
			h = &c->content_type;
		else {
			if (c->nfields == c->maxfields)
				return "too many CGI header fields";
			c->fields[c->nfields].name.p = p;
			c->fields[c->nfields].name.n = (size_t)(q - p);
			c->fields[c->nfields].value.p = v;
			c->fields[c->nfields].value.n = (size_t)(ve - v);
			c->nfields++;
			continue;
		}
		if (h->p != NULL)
			return "duplicate CGI Location or Content-Type";
		if (v == ve)
			return "empty CGI Location or Content-Type";
		h->p = v;
		h->n = (size_t)(ve - v);
	}

	/* 5. the kind of response (RFC 3875 §6.2) and its status */
	if (c->location.p == NULL) {
		c->kind = FCGI_CGI_DOCUMENT;
		if (!have_status)
			c->status = 200;
		return NULL;
	}
	local = c->location.p[0] == '/' &&
	    (c->location.n == 1 || c->location.p[1] != '/');
	if (local && !have_status && c->content_type.p == NULL &&
	    c->nfields == 0) {
		c->kind = FCGI_CGI_LOCAL_REDIRECT;
		c->status = 0;
		return NULL;
	}
	c->kind = FCGI_CGI_CLIENT_REDIRECT;
	if (!have_status)
		c->status = 302;
	return NULL;
}

/*
 * Feed data[0..len), the next bytes of the STDOUT stream, split anywhere.
 * Returns WEIR_AGAIN when all of it belongs to a header section that is not
 * complete yet; once the blank line that ends it arrives, the number of
 * bytes of data that were header (data[n..len) is the first body) with the
 * results filled in; 0 for every call after that (all body).  WEIR_ERROR
 * with *why when the section is malformed or longer than cap; a STDOUT
 * stream that ends before the section is complete is malformed too.
 *
 * Decisions: no Location: Status or 200 (document).  Location with an
 * abs-path ("/x", not "//x") and no other field at all: a local redirect
 * the front end re-dispatches (the response has no body by definition:
 * any is to be discarded).  Any other Location (absolute URI, or the
 * relative references PHP applications send): Status or 302, Location
 * passed through.
 */
ssize_t
fcgi_cgi_parse(struct fcgi_cgi *c, const char *data, size_t len,
    const char **why)
{
	const char	*p = data, *end, *lf;
	size_t		 n, ll;

	if (c->err != NULL) {
		*why = c->err;
		return WEIR_ERROR;
	}
	if (c->done)
		return 0;
	if (len == 0)
		return WEIR_AGAIN;
	end = data + len;
	while (p < end) {
		lf = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((lf != NULL ? lf + 1 : end) - p);
		if (n > c->cap - c->len) {
			c->err = *why = "CGI header section over the limit";
			return WEIR_ERROR;
		}
		memcpy(c->buf + c->len, p, n);
		c->len += n;
		p += n;
		if (lf == NULL)
			break;
		ll = c->len - 1 - c->line;
		if (ll == 0 || (ll == 1 && c->buf[c->line] == '\r')) {
			if ((c->err = cgi_section(c)) != NULL) {
				*why = c->err;
				return WEIR_ERROR;
			}
			c->done = true;
			return p - data;
		}
		c->line = c->len;
	}
	return WEIR_AGAIN;
}

/* ---- CGI/1.1 environment (RFC 3875 §4.1.18) ---- */

/* The HTTP_* spelling of one name byte. */
static unsigned char
env_char(unsigned char c)
{
	return c == '-' ? '_' : upper(c);
}

/*
 * Write the CGI variable for request header name[0..nlen) to out: "HTTP_",
 * then the name upper-cased with '-' as '_', NUL-terminated.  Returns its
 * length, or 0 when the header must not be passed: a name that is not a
 * token, Proxy (httpoxy: HTTP_PROXY is read as a proxy setting), and
 * Content-Type and Content-Length (the handler sends CONTENT_TYPE and the
 * exact CONTENT_LENGTH instead, RFC 3875 §4.1.18); 0 also when out is
 * shorter than nlen + 6.
 */
size_t
fcgi_env_name(char *out, size_t cap, const char *name, size_t nlen)
{
	size_t	 i;

	if (nlen == 0 || cap < nlen + 6)
		return 0;
	memcpy(out, "HTTP_", 5);
	for (i = 0; i < nlen; i++) {
		if (!tchar((unsigned char)name[i]))
			return 0;
		out[5 + i] = (char)env_char((unsigned char)name[i]);
	}
	out[5 + nlen] = '\0';
	if (strcmp(out, "HTTP_PROXY") == 0 ||
	    strcmp(out, "HTTP_CONTENT_TYPE") == 0 ||
	    strcmp(out, "HTTP_CONTENT_LENGTH") == 0)
		return 0;
	return 5 + nlen;
}

/*
 * Whether header h[i] collides with another: two different names (ignoring
 * case) that map to the same HTTP_* variable, "X-User" and "X_User".  One of
 * them may be a client spoofing a header a proxy in front of weir set, and
 * which is genuine can not be told, so the handler drops both.  The same
 * name repeated is no collision: the handler joins the values (", ", or
 * "; " for Cookie) as RFC 3875 §4.1.18 asks.
 */
bool
fcgi_env_collides(const struct http_header *h, size_t n, size_t i)
{
	const struct hstr	*a = &h[i].name, *b;
	size_t			 j, k;
	bool			 differ;

	for (j = 0; j < n; j++) {
		b = &h[j].name;
		if (j == i || b->n != a->n)
			continue;
		differ = false;
		for (k = 0; k < a->n; k++) {
			if (env_char((unsigned char)a->p[k]) !=
			    env_char((unsigned char)b->p[k]))
				break;
			if (a->p[k] != b->p[k] && (a->p[k] == '-' ||
			    b->p[k] == '-'))
				differ = true;
		}
		if (k == a->n && differ)
			return true;
	}
	return false;
}

/*
 * Split a normalized request path (starting with '/', not ending in '/')
 * into SCRIPT_NAME and PATH_INFO: the longest leading path, on a segment
 * boundary, whose last segment ends in a mapped extension (mapped()) and
 * that names an existing regular file (exists()).  Returns 1 with *sn_len
 * (SCRIPT_NAME is p[0..*sn_len), PATH_INFO the rest), 0 when no leading path
 * ends in a mapped extension (not a script), or 404 when some do but none
 * exists: "/uploads/evil.jpg/x.php" is a 404, never "/uploads/evil.jpg"
 * run as a script.
 */
int
fcgi_script_split(const char *p, size_t len,
    bool (*mapped)(const char *seg, size_t n, void *arg),
    bool (*exists)(const char *prefix, size_t n, void *arg), void *arg,
    size_t *sn_len)
{
	bool any = false;

	for (size_t i = len; i > 0; i--) {
		size_t seg;

		if (i != len && p[i] != '/')
			continue;
		if (p[i - 1] == '/')
			continue;
		for (seg = i; seg > 0 && p[seg - 1] != '/'; seg--)
			;
		if (!mapped(p + seg, i - seg, arg))
			continue;
		any = true;
		if (exists(p, i, arg)) {
			*sn_len = i;
			return 1;
		}
	}
	return any ? 404 : 0;
}
