/*
 * static.c - the static file handler: GET and HEAD for files under a
 * site's root.
 *
 * The path was percent-decoded and dot-segment-normalized before it got
 * here (path.c); opening goes through fcache.c, which resolves it beneath
 * the root with openat2(2) so neither ".." nor a symbolic link can leave it
 * (unless the site says symlinks = follow).  Conditional requests (304/412)
 * and ranges (206/416, multipart/byteranges) follow RFC 9110.  Small files
 * are answered from memory with one write; others with sendfile(2).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "log.h"
#include "util.h"
#include "frontend.h"

struct static_handler {
	struct handler	 super;
	struct fe_site	*site;		/* the root (a site's, or an alias's) */
	size_t		 skip;		/* alias: the URL prefix before the file's path */
};


/* The request headers this handler cares about, found in one pass. */
struct sel_headers {
	struct hstr	range, if_match, if_none_match, if_modified_since,
			if_unmodified_since, if_range;
};

static void
select_headers(const struct http_request *h, struct sel_headers *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < h->nheaders; i++) {
		const struct hstr *n = &h->headers[i].name;
		const struct hstr *v = &h->headers[i].value;

		switch (n->n) {
		case 5:
			if (hstr_eq_ci(*n, "range"))
				s->range = *v;
			break;
		case 8:
			if (hstr_eq_ci(*n, "if-match"))
				s->if_match = *v;
			else if (hstr_eq_ci(*n, "if-range"))
				s->if_range = *v;
			break;
		case 13:
			if (hstr_eq_ci(*n, "if-none-match"))
				s->if_none_match = *v;
			break;
		case 17:
			if (hstr_eq_ci(*n, "if-modified-since"))
				s->if_modified_since = *v;
			break;
		case 19:
			if (hstr_eq_ci(*n, "if-unmodified-since"))
				s->if_unmodified_since = *v;
			break;
		default:
			break;
		}
	}
}

/* Validators and type, common to 200, 206 and 304. */
static char *
put_validators(char *p, const struct fentry *e)
{
	p = PUTS(p, "Last-Modified: ");
	p = put(p, e->lastmod, HTTPDATE_LEN);
	p = PUTS(p, "\r\nETag: ");
	p = put(p, e->etag, e->etaglen);
	p = PUTS(p, "\r\n");
	return p;
}

static int
send_304(struct conn *c, struct req *r, struct fentry *e)
{
	size_t avail;
	char *p = http1_resp_begin(c, r, 304, &avail);

	if (p == NULL) {
		fcache_release(c->t->fcache, e);	/* every exit lets go of e */
		return 500;
	}
	p = put_validators(p, e);
	p = PUTS(p, "\r\n");
	http1_resp_commit(c, r, p);
	fcache_release(c->t->fcache, e);
	return WEIR_OK;
}

static int
send_416(struct conn *c, struct req *r, struct fentry *e)
{
	size_t avail;
	char *p = http1_resp_begin(c, r, 416, &avail);

	if (p == NULL) {
		fcache_release(c->t->fcache, e);
		return 500;
	}
	p = PUTS(p, "Content-Range: bytes */");
	p += fmt_u64(p, e->size);
	p = PUTS(p, "\r\nContent-Length: 0\r\n\r\n");
	http1_resp_commit(c, r, p);
	fcache_release(c->t->fcache, e);
	return WEIR_OK;
}

/* Body bytes [off, off+len) of e: from memory when cached, else the file. */
static void
add_body_seg(struct req *r, const struct fentry *e, uint64_t off, uint64_t len)
{
	struct sendseg *sg = &r->segs[r->nsegs++];

	sg->p = e->data != NULL ? e->data + off : NULL;
	sg->off = off;
	sg->len = len;
}

static int
send_multipart(struct conn *c, struct req *r, struct fentry *e,
    const struct byte_range *rs, int nr)
{
	static _Thread_local unsigned counter;
	size_t avail, n, hlen[RANGE_MAX];
	uint64_t total;
	const char *sp;
	char *p;

	snprintf(r->boundary, sizeof(r->boundary), "weir%08x%08x",
	    (unsigned)(mono_ns() & 0xffffffffu), ++counter);
	/* Every part header must fit in scratch; otherwise serve it whole. */
	r->scratchlen = 0;
	for (int i = 0; i < nr; i++) {
		n = range_part_header(r->scratch + r->scratchlen,
		    sizeof(r->scratch) - r->scratchlen, r->boundary, e->mime,
		    &rs[i], e->size);
		if (n == 0)
			return 0;
		hlen[i] = n;
		r->scratchlen += n;
	}
	n = range_multipart_trailer(r->scratch + r->scratchlen,
	    sizeof(r->scratch) - r->scratchlen, r->boundary);
	if (n == 0)
		return 0;
	total = range_multipart_length(r->boundary, e->mime, rs, nr, e->size);
	if ((p = http1_resp_begin(c, r, 206, &avail)) == NULL) {
		fcache_release(c->t->fcache, e);
		return 500;
	}
	p = put_validators(p, e);
	p = PUTS(p, "Accept-Ranges: bytes\r\nContent-Type: multipart/byteranges; boundary=");
	p = put(p, r->boundary, strlen(r->boundary));
	p = PUTS(p, "\r\nContent-Length: ");
	p += fmt_u64(p, total);
	p = PUTS(p, "\r\n\r\n");
	http1_resp_commit(c, r, p);
	if (r->h.method == HTTP_M_HEAD) {
		fcache_release(c->t->fcache, e);
		return WEIR_OK;
	}
	/* Segments: part header, data, ..., trailer (all headers in scratch). */
	sp = r->scratch;
	for (int i = 0; i < nr; i++) {
		r->segs[r->nsegs].p = sp;
		r->segs[r->nsegs].off = 0;
		r->segs[r->nsegs].len = hlen[i];
		r->nsegs++;
		sp += hlen[i];
		add_body_seg(r, e, rs[i].first, rs[i].last - rs[i].first + 1);
	}
	r->segs[r->nsegs].p = sp;
	r->segs[r->nsegs].off = 0;
	r->segs[r->nsegs].len = n;
	r->nsegs++;
	r->bytes += total;
	r->fent = e;
	return WEIR_OK;
}

static int
send_file(struct conn *c, struct req *r, struct fentry *e)
{
	struct sel_headers sh;
	struct cond_input ci;
	struct byte_range rs[RANGE_MAX];
	bool use_range = true;
	int st, nr = 0;
	uint64_t first = 0, len = e->size;
	size_t avail;
	char *p;

	select_headers(&r->h, &sh);
	memset(&ci, 0, sizeof(ci));
	ci.method = r->h.method;
	ci.if_match = sh.if_match;
	ci.if_none_match = sh.if_none_match;
	ci.if_modified_since = sh.if_modified_since;
	ci.if_unmodified_since = sh.if_unmodified_since;
	ci.if_range = sh.if_range;
	ci.etag = e->etag;
	ci.etag_len = e->etaglen;
	ci.mtime = e->mtime;
	if ((st = cond_evaluate(&ci, &use_range)) == 304)
		return send_304(c, r, e);
	if (st != 0) {
		fcache_release(c->t->fcache, e);
		return st;
	}
	/* Range applies to GET only (RFC 9110 §14.2). */
	if (sh.range.p != NULL && use_range && r->h.method == HTTP_M_GET) {
		nr = range_parse(sh.range.p, sh.range.n, e->size, rs, RANGE_MAX);
		if (nr < 0)
			return send_416(c, r, e);
		if (nr > 1) {
			st = send_multipart(c, r, e, rs, nr);
			if (st != 0 || r->status != 0)
				return st;
			nr = 0;		/* part headers did not fit: whole file */
		}
		if (nr == 1) {
			first = rs[0].first;
			len = rs[0].last - rs[0].first + 1;
		}
	}
	if ((p = http1_resp_begin(c, r, nr == 1 ? 206 : 200, &avail)) == NULL) {
		fcache_release(c->t->fcache, e);
		return 500;
	}
	p = put_validators(p, e);
	p = PUTS(p, "Accept-Ranges: bytes\r\nContent-Type: ");
	p = put(p, e->mime, strlen(e->mime));
	if (nr == 1) {
		p = PUTS(p, "\r\nContent-Range: bytes ");
		p += fmt_u64(p, first);
		*p++ = '-';
		p += fmt_u64(p, first + len - 1);
		*p++ = '/';
		p += fmt_u64(p, e->size);
	}
	p = PUTS(p, "\r\nContent-Length: ");
	p += fmt_u64(p, len);
	p = PUTS(p, "\r\n\r\n");
	avail = (size_t)(c->obuf + FE_BLOCK - p);
	if (r->h.method == HTTP_M_HEAD || len == 0) {
		http1_resp_commit(c, r, p);
		fcache_release(c->t->fcache, e);
		return WEIR_OK;
	}
	if (e->data != NULL && len <= avail) {
		/* Small and cached: the body goes out in the same write. */
		p = put(p, e->data + first, len);
		http1_resp_commit(c, r, p);
		fcache_release(c->t->fcache, e);
		return WEIR_OK;
	}
	http1_resp_commit(c, r, p);
	add_body_seg(r, e, first, len);
	r->bytes += len;
	r->fent = e;
	return WEIR_OK;
}

static size_t	url_escape(char *, const char *, bool);

/*
 * 301 to the same path with a '/' appended (and the query kept).  The
 * Location is built from the normalized path, re-encoded, not from the
 * request's bytes: "//sub" must not become "//sub/", which a browser reads
 * as a network-path reference to the host "sub" (an open redirect), and
 * dot segments or odd escapes have no business in it either.
 */
static int
redirect_slash(struct conn *c, struct req *r)
{
	const struct http_request *h = &r->h;
	size_t avail;
	char *p;

	if ((p = http1_resp_begin(c, r, 301, &avail)) == NULL)
		return 500;
	if (3 * r->pathlen + h->query.n + 64 > avail)
		return 414;
	p = PUTS(p, "Location: ");
	p += url_escape(p, r->path, true);
	*p++ = '/';
	if (h->query.p != NULL) {
		*p++ = '?';
		p = put(p, h->query.p, h->query.n);
	}
	p = PUTS(p, "\r\nContent-Length: 0\r\n\r\n");
	http1_resp_commit(c, r, p);
	return WEIR_OK;
}

/* Minimal HTML escaping for names in a listing. */
static size_t
html_escape(char *out, const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		switch (*s) {
		case '<': memcpy(out + n, "&lt;", 4); n += 4; break;
		case '>': memcpy(out + n, "&gt;", 4); n += 4; break;
		case '&': memcpy(out + n, "&amp;", 5); n += 5; break;
		case '"': memcpy(out + n, "&quot;", 6); n += 6; break;
		default: out[n++] = *s;
		}
	}
	out[n] = '\0';
	return n;
}

/*
 * Percent-encode s for use in a URL: everything but unreserved characters
 * (and '/' when `slash`, for whole paths) is escaped.  out needs 3 *
 * strlen(s) + 1 bytes; returns the length written (a NUL follows).
 */
static size_t
url_escape(char *out, const char *s, bool slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL ||
		    (slash && ch == '/')) {
			out[n++] = (char)ch;
		} else {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		}
	}
	out[n] = '\0';
	return n;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * A directory listing (listing = yes): names sorted, hidden files left out,
 * every name escaped for both the href and the text.
 */
static int
send_listing(struct conn *c, struct req *r, int rootfd, const char *fp, size_t fl)
{
	char **names = NULL, *buf, *p, *pesc, esc[6 * 256 + 1];
	size_t n = 0, cap = 0, size;
	struct dirent *de;
	DIR *d;
	int fd;
	size_t avail;
	char *hp;

	fd = openat(rootfd, fl > 1 ? fp + 1 : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return rc_errno_status(errno);
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 500;
	}
	while ((de = readdir(d)) != NULL && n < 10000) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap ? cap * 2 : 64) * sizeof(*nn));

			if (nn == NULL)
				break;
			names = nn;
			cap = cap ? cap * 2 : 64;
		}
		if ((names[n] = strdup(de->d_name)) == NULL)
			break;
		n++;
	}
	closedir(d);
	if (n > 1)	/* names is NULL when there are none */
		qsort(names, n, sizeof(*names), name_cmp);
	/*
	 * The path (up to 4 KB, each byte up to 6 escaped) is too long for
	 * esc, which is sized for one file name, and goes in twice.
	 */
	size = 512 + 2 * 6 * r->pathlen + n * (2 * sizeof(esc) + 32);
	if ((buf = p = malloc(size)) == NULL ||
	    (pesc = malloc(6 * r->pathlen + 1)) == NULL) {
		free(buf);
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return 500;
	}
	html_escape(pesc, r->path);
	p += sprintf(p, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of %s</title></head>\n"
	    "<body><h1>Index of %s</h1><ul>\n", pesc, pesc);
	free(pesc);
	if (r->pathlen > 1)
		p += sprintf(p, "<li><a href=\"../\">../</a></li>\n");
	for (size_t i = 0; i < n; i++) {
		char href[3 * 256 + 1];

		url_escape(href, names[i], false);
		html_escape(esc, names[i]);
		p += sprintf(p, "<li><a href=\"%s\">%s</a></li>\n", href, esc);
		free(names[i]);
	}
	free(names);
	p += sprintf(p, "</ul></body></html>\n");
	if ((hp = http1_resp_begin(c, r, 200, &avail)) == NULL) {
		free(buf);
		return 500;
	}
	hp = PUTS(hp, "Content-Type: text/html; charset=utf-8\r\nContent-Length: ");
	hp += fmt_u64(hp, (uint64_t)(p - buf));
	hp = PUTS(hp, "\r\nCache-Control: no-cache\r\n\r\n");
	http1_resp_commit(c, r, hp);
	if (r->h.method == HTTP_M_HEAD) {
		free(buf);
		return WEIR_OK;
	}
	r->owned = buf;
	r->segs[0].p = buf;
	r->segs[0].off = 0;
	r->segs[0].len = (uint64_t)(p - buf);
	r->nsegs = 1;
	r->bytes += r->segs[0].len;
	return WEIR_OK;
}

/*
 * A file whose name ends in an extension mapped to a FastCGI pool is a
 * script: its source is never sent as a static file, whatever happens.
 */
static bool
is_script(const struct conf_site *cs, const char *path, size_t len)
{
	const char *seg = memrchr(path, '/', len);
	size_t n;

	seg = seg == NULL ? path : seg + 1;
	n = len - (size_t)(seg - path);
	for (size_t i = 0; i < cs->nscripts; i++)
		if (n > cs->scripts[i].extlen &&
		    memcmp(seg + n - cs->scripts[i].extlen, cs->scripts[i].ext,
		    cs->scripts[i].extlen) == 0)
			return true;
	return false;
}

static int
static_on_request(struct handler *h, struct conn *c, struct req *r)
{
	struct static_handler *sh = (struct static_handler *)h;
	const struct conf_site *cs = sh->site->cs;
	struct fcache *fc = c->t->fcache;
	uint64_t now = loop_now(c->t->loop);
	bool dir_req = r->path[r->pathlen - 1] == '/';
	/* the file's path under the root: an alias's prefix is not part of it */
	const char *fp = r->path + sh->skip;
	size_t fl = r->pathlen - sh->skip;
	struct fentry *e;
	int err, rootfd;

	if (r->h.method != HTTP_M_GET && r->h.method != HTTP_M_HEAD) {
		if (r->h.method == HTTP_M_OPTIONS) {
			size_t avail;
			char *p = http1_resp_begin(c, r, 204, &avail);

			if (p == NULL)
				return 500;
			p = PUTS(p, "Allow: GET, HEAD, OPTIONS\r\n\r\n");
			http1_resp_commit(c, r, p);
			return WEIR_OK;
		}
		return 405;
	}
	if ((rootfd = siteroot_fd(c, sh->site)) == -1)
		return siteroot_unavailable(c, r);
	if (cs->nscripts > 0 && is_script(cs, r->path, r->pathlen))
		return 404;
	if (fl == 0)
		return redirect_slash(c, r);	/* "/static" of alias /static */
	e = fcache_open(fc, now, rootfd, cs->symlinks,
	    fl > 1 ? fp + 1 : ".", fl > 1 ? fl - 1 : 1);
	if (e == NULL)
		return 500;
	if ((err = e->err) != 0) {
		fcache_release(fc, e);
		return siteroot_errno_status(c, r, sh->site, err);
	}
	if (S_ISREG(e->mode)) {
		if (dir_req) {
			fcache_release(fc, e);
			return 404;
		}
		return send_file(c, r, e);
	}
	if (!S_ISDIR(e->mode)) {
		fcache_release(fc, e);
		return 403;
	}
	fcache_release(fc, e);
	if (!dir_req)
		return redirect_slash(c, r);
	/* A directory: its index file, a listing, or 403. */
	for (size_t i = 0; i < cs->index.n; i++) {
		const char *idx = cs->index.v[i];
		size_t il = strlen(idx);

		if (cs->nscripts > 0 && is_script(cs, idx, il))
			continue;	/* fastcgi_resolve() decided about it */
		if (r->pathlen + il >= sizeof(r->path))
			return 414;
		memcpy(r->path + r->pathlen, idx, il + 1);
		e = fcache_open(fc, now, rootfd, cs->symlinks, fp + 1, fl - 1 + il);
		r->path[r->pathlen] = '\0';
		if (e == NULL)
			return 500;
		if (e->err == 0 && S_ISREG(e->mode))
			return send_file(c, r, e);
		err = e->err;
		fcache_release(fc, e);
		if (err != 0 && err != ENOENT && err != ENOTDIR)
			return rc_errno_status(err);
	}
	if (cs->listing)
		return send_listing(c, r, rootfd, fp, fl);
	return 403;
}

static void
static_dispose(struct handler *h)
{
	free(h);
}

struct handler *
static_new(struct fe_site *s, size_t skip)
{
	struct static_handler *sh = xcalloc(1, sizeof(*sh));

	sh->super.name = "static";
	sh->super.on_request = static_on_request;
	sh->super.dispose = static_dispose;
	sh->site = s;
	sh->skip = skip;
	return &sh->super;
}
