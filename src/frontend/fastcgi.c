/*
 * fastcgi.c - the FastCGI pool handler: scripts under a site's root (and
 * app prefixes) answered by a pool's FastCGI workers (php-cgi, php-fpm).
 *
 * Before anything reaches a pool the front end resolves the script itself
 * (fastcgi_resolve): the longest leading path that names an existing regular
 * file with a mapped extension is SCRIPT_NAME, the rest PATH_INFO.  A name
 * that looks like a script but is not one is a 404 from the front end, so
 * "/uploads/evil.jpg/x.php" never runs anything.  A site's `fallback` (a
 * front controller, nginx's try_files ... /index.php) answers a path that
 * names no file or directory, and an app route's script every path under
 * its prefix (fastcgi_front): SCRIPT_NAME is that script, REQUEST_URI the
 * client's.
 *
 * Per request: FCGI_BEGIN_REQUEST (responder, FCGI_KEEP_CONN), the CGI/1.1
 * environment as FCGI_PARAMS, the body as FCGI_STDIN (read whole first by
 * the front end, spool.c, unless request_buffering is off; a chunked one is
 * always, so CONTENT_LENGTH is exact), then FCGI_STDOUT parsed as a
 * CGI response (Status, Location, Content-Type, other fields) and streamed
 * to the client, FCGI_STDERR lines to the pool's log, FCGI_END_REQUEST.
 * Failures follow the rules of every pool request (poolreq.c): a request
 * the worker never took goes elsewhere; an idempotent one is retried once;
 * otherwise 502, and a malformed record stream is reported to the master
 * (1011).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "log.h"
#include "util.h"
#include "weir_version.h"
#include "frontend.h"

#define FX_IN		(64 * 1024 + 64)	/* records from the worker */
#define FX_OUT_HIGH	(256 * 1024)		/* client output that stops reading */
#define FX_OB_INIT	(80 * 1024)		/* records to the worker */
#define FX_STDIN_CHUNK	(32 * 1024)
#define CGI_HEAD_MAX	(32 * 1024)
#define CGI_FIELDS	100
#define MAX_REDIRECTS	10
#define REQ_ID		1

enum fx_body {
	BODY_NONE = 0,
	BODY_STREAM,	/* Content-Length, request_buffering off: forwarded as it arrives */
	BODY_SPOOL	/* spooled (spool.c), then sent */
};

enum fx_frame {
	FR_NONE = 0,
	FR_LENGTH,
	FR_CHUNKED,
	FR_CLOSE
};

struct fx {
	struct poolreq		 pr;		/* first: the life of a pool request */
	const struct fe_site	*site;
	unsigned		 redirects;
	/* the script: path = script_name + path_info */
	char			 path[4096 + 2];
	size_t			 sn_len;	/* SCRIPT_NAME is path[0..sn_len) */
	const char		*file;		/* the script under root when it is not
						 * SCRIPT_NAME (a front controller), or NULL */
	bool			 via_app;	/* app = PREFIX POOL, not script = */
	bool			 get_only;	/* after a local redirect: GET, no body */
	char			*loc;		/* that redirect's path and query */
	size_t			 loclen;
	int			 body_fate;	/* enum pr_body of the client's body then */
	/* to the worker */
	uint8_t			*ob;
	size_t			 oblen, oboff, obcap;
	int			 body;		/* enum fx_body */
	uint64_t		 body_left;	/* BODY_STREAM: bytes still to read */
	bool			 stdin_done;	/* the empty STDIN record is queued */
	bool			 sent;		/* some of the request went to this connection */
	struct spool		 sp;		/* BODY_SPOOL: the body */
	uint64_t		 spool_off;	/* next byte to send */
	/* from the worker */
	char			*in;
	size_t			 inlen;
	struct fcgi_dec		 dec;
	struct fcgi_cgi		 cgi;
	char			*cgibuf;
	struct http_header	*fields;
	bool			 head_done, ended;
	int			 frame;		/* enum fx_frame, to the client */
	uint64_t		 res_left;
	char			 errline[900];	/* STDERR line being gathered */
	size_t			 errlen;
	/* to the client */
	char			*out;
	size_t			 outlen, outoff, outcap;
};

struct fastcgi_handler {
	struct handler		 super;
	struct frontend		*fe;
	struct fe_pool		*pool;
	const struct conf_app	*app;		/* its route: prefix, script, strip_prefix */
};

static void	enqueue(struct fx *x);
static enum pr_body fx_body(const struct poolreq *pr);

/* --- script resolution ------------------------------------------------------------ */

static const struct conf_script *
mapped(const struct conf_site *cs, const char *seg, size_t n)
{
	for (size_t i = 0; i < cs->nscripts; i++) {
		const struct conf_script *sc = &cs->scripts[i];

		/* "x.php", not ".php" alone: a name must precede the extension */
		if (n > sc->extlen && memcmp(seg + n - sc->extlen, sc->ext, sc->extlen) == 0)
			return sc;
	}
	return NULL;
}

static bool
is_file(struct conn *c, const struct fe_site *s, const char *path, size_t len)
{
	struct fentry *e;
	bool ok;
	int rootfd;

	if (len <= 1 || (rootfd = siteroot_fd(c, s)) == -1)
		return false;
	e = fcache_open(c->t->fcache, loop_now(c->t->loop), rootfd,
	    s->cs->symlinks, path + 1, len - 1);
	if (e == NULL)
		return false;
	ok = e->err == 0 && S_ISREG(e->mode);
	fcache_release(c->t->fcache, e);
	return ok;
}

/*
 * Is r->path a script of this site?  Returns 0 (not a script: static
 * files handle it), 1 with *sc and *sn_len set (SCRIPT_NAME is
 * r->path[0..*sn_len)), or 404 when a leading path ends in a mapped
 * extension but no such regular file exists.  A directory request tries the
 * site's index names in order: the first that exists decides.
 */
struct split_ctx {
	struct conn		*c;
	const struct fe_site	*s;
	const struct conf_script *found;	/* mapping of the last mapped() hit */
};

static bool
split_mapped(const char *seg, size_t n, void *arg)
{
	struct split_ctx *sx = arg;

	return (sx->found = mapped(sx->s->cs, seg, n)) != NULL;
}

static bool
split_exists(const char *prefix, size_t n, void *arg)
{
	struct split_ctx *sx = arg;

	return is_file(sx->c, sx->s, prefix, n);
}

int
fastcgi_resolve(struct conn *c, struct req *r, const struct conf_script **sc,
    size_t *sn_len)
{
	const struct fe_site *s = r->site;
	const struct conf_site *cs = s->cs;
	const char *p = r->path;
	size_t len = r->pathlen;

	/* no root, or it is unavailable: static.c answers (503) */
	if (cs->nscripts == 0 || s->roots == NULL || siteroot_fd(c, s) == -1)
		return 0;
	if (p[len - 1] == '/') {
		for (size_t i = 0; i < cs->index.n; i++) {
			const char *idx = cs->index.v[i];
			size_t il = strlen(idx);
			const struct conf_script *m = mapped(cs, idx, il);

			if (len + il >= sizeof(r->path))
				return 414;
			memcpy(r->path + len, idx, il + 1);
			if (is_file(c, s, r->path, len + il)) {
				if (m == NULL) {
					r->path[len] = '\0';
					return 0;	/* a static index: static.c serves it */
				}
				r->pathlen = len + il;
				*sc = m;
				*sn_len = len + il;
				return 1;
			}
			r->path[len] = '\0';
		}
		return 0;
	}
	{
		struct split_ctx sx = { c, s, NULL };
		int st = fcgi_script_split(p, len, split_mapped, split_exists, &sx, sn_len);

		if (st == 1)
			*sc = sx.found;
		return st;
	}
}

/* --- the CGI environment ---------------------------------------------------------- */

static int
param(struct fx *x, struct fcgi_params *fp, const char *name, const char *v, size_t vn)
{
	int r;

	for (int tries = 0; tries < 2; tries++) {
		r = fcgi_params_add(fp, name, strlen(name), v, vn);
		if (r != WEIR_AGAIN)
			return r;
		/* buffer full: close this record, grow, open the next */
		{
			ssize_t n = fcgi_params_finish(fp, false);
			size_t cap;

			if (n < 0)
				return WEIR_ERROR;
			x->oblen = (size_t)n + (size_t)(fp->buf - x->ob);
			cap = x->obcap * 2;
			x->ob = xreallocarray(x->ob, cap, 1);
			x->obcap = cap;
			fcgi_params_init(fp, x->ob + x->oblen, x->obcap - x->oblen, REQ_ID);
		}
	}
	return r;
}

static int
params(struct fx *x, struct fcgi_params *fp, const char *name, const char *v)
{
	return param(x, fp, name, v, v != NULL ? strlen(v) : 0);
}

static void
addr_text(const struct sockaddr *sa, char *ip, size_t ipn, char *port, size_t pn)
{
	snprintf(ip, ipn, "-");
	snprintf(port, pn, "0");
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)ipn);
		snprintf(port, pn, "%u", ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)ipn);
		snprintf(port, pn, "%u", ntohs(s6->sin6_port));
	}
}

/*
 * REMOTE_ADDR when the peer is a trusted proxy: the client forward.c finds
 * in X-Forwarded-For, in ip; its port is unknown, so port becomes "" (no
 * REMOTE_PORT).  Both are left alone when the client is the peer itself.
 */
static void
behind_proxy(const struct fx *x, char *ip, size_t ipn, char *port)
{
	const struct http_request *h = &x->pr.r->h;
	const struct conf_server *s = &x->pr.c->gen->conf->server;
	struct ipaddr peer, client;

	if (ipaddr_from_sockaddr(&x->pr.c->peer.sa, &peer) == -1)
		return;
	forward_client(h->headers, h->nheaders, s->trusted_proxies,
	    s->ntrusted_proxies, &peer, &client);
	if (memcmp(&client, &peer, sizeof(peer)) == 0 ||
	    inet_ntop(client.family, client.b, ip, (socklen_t)ipn) == NULL)
		return;
	port[0] = '\0';
}

/* The variables of the forwarding headers, which only a trusted proxy may set. */
static bool
forwarding_var(const char *name)
{
	return strcmp(name, "HTTP_X_FORWARDED_FOR") == 0 ||
	    strcmp(name, "HTTP_X_FORWARDED_PROTO") == 0 ||
	    strcmp(name, "HTTP_X_FORWARDED_HOST") == 0 ||
	    strcmp(name, "HTTP_FORWARDED") == 0;
}

/*
 * A request over TLS: HTTPS=on, REQUEST_SCHEME and mod_ssl's SSL_*
 * variables (tlsvars.c), which PHP and other CGI code already read.  A
 * client cannot set these (its headers become HTTP_*), and its X-TLS-*
 * headers are dropped like the HTTP pools' are.  -1 when the values
 * cannot be had or do not fit.
 */
static int
tls_params(struct fx *x, struct fcgi_params *fp)
{
	const struct tlsvars *tv;

	if (tlsvars_get(x->pr.c, &tv) == -1)
		return -1;
	if (tv == NULL)
		return params(x, fp, "REQUEST_SCHEME", "http") < 0 ? -1 : 0;
	if (params(x, fp, "HTTPS", "on") < 0 || params(x, fp, "REQUEST_SCHEME", "https") < 0)
		return -1;
	for (int i = 0; i < TV_N; i++)
		if (tv->present[i] && param(x, fp, tlsvars_cgi_name((enum tlsvar)i),
		    tv->data + tv->off[i], tv->len[i]) < 0)
			return -1;
	return 0;
}

/*
 * BEGIN_REQUEST and the CGI/1.1 environment (RFC 3875 §4.1), what PHP
 * expects besides, and every request header as HTTP_* — but never Proxy
 * (httpoxy) and never two names that map to the same variable.  The
 * forwarding headers follow the HTTP pools' rule (forward.c): from a client
 * they are dropped; from a trusted proxy they pass and REMOTE_ADDR is the
 * client it names.  HTTP_X_FORWARDED_FOR ends with the peer either way.
 */
static int
build_request(struct fx *x)
{
	const struct http_request *h = &x->pr.r->h;
	const struct conf_site *cs = x->site->cs;
	const struct fe_addr *fa = &x->pr.c->gen->addrs[x->pr.c->addr];
	struct fcgi_params fp;
	struct sockaddr_storage local = fa->ss;
	socklen_t ll = sizeof(local);
	char ip[64], port[8], lip[64], lport[8], host[256], num[32], pip[64], *v;
	bool trusted = forward_trusted(&x->pr.c->gen->conf->server, &x->pr.c->peer.sa);
	bool xff_sent = false;
	const char *root = cs->root != NULL ? cs->root : "";
	size_t hn = 0, rl = strlen(root);
	ssize_t n;
	char *tmp;

	x->oblen = x->oboff = 0;
	n = fcgi_begin_request(x->ob, x->obcap, REQ_ID, FCGI_RESPONDER, true);
	if (n < 0)
		return -1;
	x->oblen = (size_t)n;
	fcgi_params_init(&fp, x->ob + x->oblen, x->obcap - x->oblen, REQ_ID);
	addr_text(&x->pr.c->peer.sa, ip, sizeof(ip), port, sizeof(port));
	memcpy(pip, ip, sizeof(pip));
	if (trusted)
		behind_proxy(x, ip, sizeof(ip), port);
	/* the listen address, unless a wildcard: no syscall per request */
	if (fa->wildcard &&
	    getsockname(x->pr.c->io.fd, (struct sockaddr *)&local, &ll) == -1)
		local.ss_family = AF_UNSPEC;
	addr_text((struct sockaddr *)&local, lip, sizeof(lip), lport, sizeof(lport));
	/* SERVER_NAME: the host without port (or an IPv6 literal whole) */
	for (size_t i = 0; i < h->host.n && hn < sizeof(host) - 1; i++) {
		if (h->host.p[i] == ':' && (hn == 0 || host[0] != '['))
			break;
		host[hn++] = h->host.p[i];
	}
	host[hn] = '\0';
	if ((tmp = malloc(rl + sizeof(x->path) + 2)) == NULL)
		return -1;
	if (params(x, &fp, "GATEWAY_INTERFACE", "CGI/1.1") < 0 ||
	    params(x, &fp, "SERVER_SOFTWARE", "weir/" WEIR_VERSION) < 0 ||
	    params(x, &fp, "SERVER_NAME", hn ? host : lip) < 0 ||
	    params(x, &fp, "SERVER_PORT", lport) < 0 ||
	    params(x, &fp, "SERVER_ADDR", lip) < 0 ||
	    params(x, &fp, "SERVER_PROTOCOL", h->minor == 0 ? "HTTP/1.0" : "HTTP/1.1") < 0 ||
	    params(x, &fp, "REMOTE_ADDR", ip) < 0 ||
	    (port[0] != '\0' && params(x, &fp, "REMOTE_PORT", port) < 0) ||
	    params(x, &fp, "REQUEST_METHOD", x->get_only ? "GET" : x->pr.method) < 0 ||
	    params(x, &fp, "REDIRECT_STATUS", "200") < 0 ||
	    params(x, &fp, "DOCUMENT_ROOT", root) < 0)
		goto fail;
	/* REQUEST_URI: as the client sent it (origin-form); after a local redirect, the new one */
	if (x->get_only) {
		const char *q = memchr(x->loc, '?', x->loclen);
		size_t qn = q != NULL ? (size_t)(x->loc + x->loclen - q - 1) : 0;

		if (param(x, &fp, "REQUEST_URI", x->loc, x->loclen) < 0 ||
		    param(x, &fp, "QUERY_STRING", q != NULL ? q + 1 : "", qn) < 0)
			goto fail;
	} else if (h->target_form == HTTP_TARGET_ABSOLUTE) {
		size_t k = h->path.n + (h->query.p ? h->query.n + 1 : 0);
		struct hstr q = router_query(x->pr.r);

		memcpy(tmp, h->path.p, h->path.n);
		if (h->query.p != NULL) {
			tmp[h->path.n] = '?';
			memcpy(tmp + h->path.n + 1, h->query.p, h->query.n);
		}
		if (param(x, &fp, "REQUEST_URI", tmp, k) < 0 ||
		    param(x, &fp, "QUERY_STRING", q.p ? q.p : "", q.n) < 0)
			goto fail;
	} else {
		struct hstr q = router_query(x->pr.r);	/* a rewrite's */

		if (param(x, &fp, "REQUEST_URI", h->target.p, h->target.n) < 0 ||
		    param(x, &fp, "QUERY_STRING", q.p ? q.p : "", q.n) < 0)
			goto fail;
	}
	if (param(x, &fp, "SCRIPT_NAME", x->path, x->sn_len) < 0 ||
	    params(x, &fp, "PATH_INFO", x->path + x->sn_len) < 0)
		goto fail;
	memcpy(tmp, root, rl);
	if (x->file != NULL) {
		size_t fl = strlen(x->file);

		memcpy(tmp + rl, x->file, fl);
		if (param(x, &fp, "SCRIPT_FILENAME", tmp, rl + fl) < 0)
			goto fail;
	} else {
		memcpy(tmp + rl, x->path, x->sn_len);
		if (param(x, &fp, "SCRIPT_FILENAME", tmp, rl + x->sn_len) < 0)
			goto fail;
	}
	if (x->path[x->sn_len] != '\0') {
		size_t pl = strlen(x->path + x->sn_len);

		memcpy(tmp + rl, x->path + x->sn_len, pl);
		if (param(x, &fp, "PATH_TRANSLATED", tmp, rl + pl) < 0)
			goto fail;
	}
	/* the body */
	if (!x->get_only) {
		const struct http_header *ct = httpparse_find(h->headers, h->nheaders, "content-type");

		if (ct != NULL && param(x, &fp, "CONTENT_TYPE", ct->value.p, ct->value.n) < 0)
			goto fail;
		if (x->body != BODY_NONE) {
			snprintf(num, sizeof(num), "%llu", (unsigned long long)(x->body == BODY_SPOOL ?
			    x->sp.size : (uint64_t)h->content_length));
			if (params(x, &fp, "CONTENT_LENGTH", num) < 0)
				goto fail;
		}
	}
	if (tls_params(x, &fp) == -1)
		goto fail;
	/* request headers as HTTP_*; repeats joined, collisions dropped */
	for (size_t i = 0; i < h->nheaders; i++) {
		const struct http_header *f = &h->headers[i];
		char name[300];
		size_t nn = fcgi_env_name(name, sizeof(name), f->name.p, f->name.n);
		bool seen = false, cookie;
		size_t vl = 0;

		if (nn == 0 || fcgi_env_collides(h->headers, h->nheaders, i) ||
		    (!trusted && forwarding_var(name)) || tlsvars_reserved_header(f->name))
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = f->name.n == h->headers[j].name.n &&
			    ascii_casecmp_n(f->name.p, h->headers[j].name.p, f->name.n);
		if (seen)
			continue;
		cookie = hstr_eq_ci(f->name, "cookie");
		for (size_t j = i; j < h->nheaders; j++)
			if (f->name.n == h->headers[j].name.n &&
			    ascii_casecmp_n(f->name.p, h->headers[j].name.p, f->name.n))
				vl += h->headers[j].value.n + 2;
		/* room for ", " and the peer's address after an X-Forwarded-For */
		if ((v = malloc(vl + 2 + sizeof(pip))) == NULL)
			goto fail;
		vl = 0;
		for (size_t j = i; j < h->nheaders; j++) {
			if (f->name.n != h->headers[j].name.n ||
			    !ascii_casecmp_n(f->name.p, h->headers[j].name.p, f->name.n))
				continue;
			if (vl > 0) {
				memcpy(v + vl, cookie ? "; " : ", ", 2);
				vl += 2;
			}
			memcpy(v + vl, h->headers[j].value.p, h->headers[j].value.n);
			vl += h->headers[j].value.n;
		}
		if (strcmp(name, "HTTP_X_FORWARDED_FOR") == 0) {
			memcpy(v + vl, ", ", 2);
			memcpy(v + vl + 2, pip, strlen(pip));
			vl += 2 + strlen(pip);
			xff_sent = true;
		}
		n = param(x, &fp, name, v, vl);
		free(v);
		if (n < 0) {
			/* one header no record can carry: leave it out */
			log_debug("fastcgi: header %s too large for FastCGI, dropped", name);
		}
	}
	if (!xff_sent && params(x, &fp, "HTTP_X_FORWARDED_FOR", pip) < 0)
		goto fail;
	n = fcgi_params_finish(&fp, true);
	if (n < 0)
		goto fail;
	x->oblen = (size_t)(fp.buf - x->ob) + (size_t)n;
	free(tmp);
	return 0;
fail:
	free(tmp);
	return -1;
}

/* --- the request body --------------------------------------------------------------- */

static void
ob_room(struct fx *x, size_t need)
{
	if (x->oboff == x->oblen)
		x->oboff = x->oblen = 0;
	if (x->obcap - x->oblen < need) {
		if (x->oboff > 0) {
			memmove(x->ob, x->ob + x->oboff, x->oblen - x->oboff);
			x->oblen -= x->oboff;
			x->oboff = 0;
		}
		if (x->obcap - x->oblen < need) {
			x->obcap = x->oblen + need;
			x->ob = xreallocarray(x->ob, x->obcap, 1);
		}
	}
}

static void
queue_stdin(struct fx *x, const void *data, size_t len)
{
	ssize_t n;

	ob_room(x, len + FCGI_HEADER_LEN + 8);
	n = fcgi_stdin(x->ob + x->oblen, x->obcap - x->oblen, REQ_ID, data, len);
	if (n > 0)
		x->oblen += (size_t)n;
	if (len == 0)
		x->stdin_done = true;
}

/*
 * Top up the outgoing records with body bytes: from the client (sized
 * body) or the spool.  Returns -1 after failing the request.
 */
static int
fill_stdin(struct fx *x)
{
	struct conn *c = x->pr.c;

	if (x->stdin_done || x->oblen - x->oboff > FX_STDIN_CHUNK)
		return 0;
	switch (x->body) {
	case BODY_NONE:
		queue_stdin(x, NULL, 0);
		return 0;
	case BODY_STREAM: {
		size_t avail = c->ilen - c->ipos, n;

		if (x->body_left == 0) {
			queue_stdin(x, NULL, 0);
			return 0;
		}
		n = avail < x->body_left ? avail : (size_t)x->body_left;
		if (n > FCGI_MAX_CONTENT)
			n = FCGI_MAX_CONTENT;
		if (n == 0)
			return 0;
		x->pr.body_started = true;
		queue_stdin(x, c->ibuf + c->ipos, n);
		c->ipos += (uint32_t)n;
		if (c->ipos == c->ilen)
			c->ipos = c->ilen = 0;
		x->body_left -= n;
		if (x->body_left == 0) {
			queue_stdin(x, NULL, 0);
			if (c->rate_dir == RATE_IN)
				rate_end(c);
		}
		return 0;
	}
	case BODY_SPOOL: {
		char buf[FCGI_MAX_CONTENT];
		const char *p;
		ssize_t n = spool_get(&x->sp, x->spool_off, buf, sizeof(buf), &p);

		if (n < 0) {
			poolreq_fail(&x->pr, 500, "Internal", 0);
			return -1;
		}
		if (n == 0) {
			queue_stdin(x, NULL, 0);
			return 0;
		}
		queue_stdin(x, p, (size_t)n);
		x->spool_off += (uint64_t)n;
		return 0;
	}
	}
	return 0;
}

/* --- client output --------------------------------------------------------------------- */

static void
out_reserve(struct fx *x, size_t n)
{
	if (x->outoff == x->outlen)
		x->outoff = x->outlen = 0;
	if (x->outlen + n > x->outcap) {
		size_t cap = x->outcap ? x->outcap : 16384;

		while (cap < x->outlen + n)
			cap *= 2;
		x->out = xreallocarray(x->out, cap, 1);
		x->outcap = cap;
	}
}

static void
client_body(struct fx *x, const char *data, size_t len)
{
	if (len == 0 || x->frame == FR_NONE)
		return;
	if (x->frame == FR_LENGTH) {
		if (len > x->res_left)
			len = (size_t)x->res_left;	/* more than announced: cut */
		x->res_left -= len;
	}
	out_reserve(x, len + 32);
	if (x->frame == FR_CHUNKED)
		x->outlen += (size_t)snprintf(x->out + x->outlen, 20, "%zx\r\n", len);
	memcpy(x->out + x->outlen, data, len);
	x->outlen += len;
	if (x->frame == FR_CHUNKED) {
		memcpy(x->out + x->outlen, "\r\n", 2);
		x->outlen += 2;
	}
}

/* 1 all sent, 0 client full, -1 client gone. */
static int
client_flush(struct fx *x)
{
	while (x->outoff < x->outlen) {
		struct iovec iov = { x->out + x->outoff, x->outlen - x->outoff };
		ssize_t w = poolreq_client_writev(&x->pr, &iov, 1);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				poolreq_client_blocked(&x->pr);
				return 0;
			}
			return -1;
		}
		poolreq_client_wrote(&x->pr, (size_t)w);
		x->outoff += (size_t)w;
	}
	x->outoff = x->outlen = 0;
	poolreq_client_flushed(&x->pr);
	return 1;
}

/* The CGI header section is complete: the client's status line and fields. */
static int
client_head(struct fx *x)
{
	struct fcgi_cgi *g = &x->cgi;
	struct conn *c = x->pr.c;
	bool head = x->pr.r->h.method == HTTP_M_HEAD;
	int status = g->status;
	const struct hstr *cl = NULL;
	char *p;

	if (status < 200 || status > 599) {
		poolreq_failed(&x->pr, "the script answered a status weir cannot forward", UF_PROTOCOL);
		return -1;
	}
	for (size_t i = 0; i < g->nfields; i++)
		if (hstr_eq_ci(g->fields[i].name, "content-length"))
			cl = &g->fields[i].value;
	x->frame = FR_CHUNKED;
	if (head || status == 204 || status == 304) {
		x->frame = FR_NONE;
	} else if (cl != NULL) {
		int64_t v;

		/* 1*DIGIT, as for a worker's head, and at most 18 digits */
		if (cl->n >= 19 || !httpparse_cl_parse(*cl, &v)) {
			poolreq_failed(&x->pr, "the script sent a bad Content-Length", UF_PROTOCOL);
			return -1;
		}
		x->frame = FR_LENGTH;
		x->res_left = (uint64_t)v;
	}
	if (x->frame == FR_CHUNKED && x->pr.r->h.minor == 0) {
		x->frame = FR_CLOSE;
		c->flags |= CF_CLOSE;
	}
	out_reserve(x, g->len + 512);
	p = x->out + x->outlen;
	p = PUTS(p, "HTTP/1.1 ");
	p += fmt_u64(p, (uint64_t)status);
	*p++ = ' ';
	if (g->reason.n > 0)
		p = put(p, g->reason.p, g->reason.n);
	else {
		const char *rs = http_reason(status);

		p = put(p, rs, strlen(rs));
	}
	p = PUTS(p, "\r\nServer: weir\r\nDate: ");
	fe_update_date(c->t);
	p = put(p, c->t->date, HTTPDATE_LEN);
	p = PUTS(p, "\r\n");
	p = https_put_hsts(p, c, x->pr.r->site);
	if (g->content_type.p != NULL) {
		p = PUTS(p, "Content-Type: ");
		p = put(p, g->content_type.p, g->content_type.n);
		p = PUTS(p, "\r\n");
	}
	if (g->location.p != NULL) {
		p = PUTS(p, "Location: ");
		p = put(p, g->location.p, g->location.n);
		p = PUTS(p, "\r\n");
	}
	for (size_t i = 0; i < g->nfields; i++) {
		const struct http_header *f = &g->fields[i];

		/* framing and hop-by-hop fields are ours to set */
		if (hstr_eq_ci(f->name, "content-length") || hstr_eq_ci(f->name, "connection") ||
		    hstr_eq_ci(f->name, "transfer-encoding") || hstr_eq_ci(f->name, "keep-alive") ||
		    hstr_eq_ci(f->name, "upgrade") || hstr_eq_ci(f->name, "trailer") ||
		    hstr_eq_ci(f->name, "server") || hstr_eq_ci(f->name, "date") ||
		    https_replaces(f->name, c, x->pr.r->site))
			continue;
		p = put(p, f->name.p, f->name.n);
		p = PUTS(p, ": ");
		p = put(p, f->value.p, f->value.n);
		p = PUTS(p, "\r\n");
	}
	if (x->frame == FR_LENGTH || (cl != NULL && head)) {
		p = PUTS(p, "Content-Length: ");
		p = put(p, cl->p, cl->n);
		p = PUTS(p, "\r\n");
	} else if (x->frame == FR_CHUNKED) {
		p = PUTS(p, "Transfer-Encoding: chunked\r\n");
	}
	if (c->flags & CF_CLOSE)
		p = PUTS(p, "Connection: close\r\n");
	else if (x->pr.r->h.minor == 0)
		p = PUTS(p, "Connection: keep-alive\r\n");
	p = PUTS(p, "\r\n");
	x->outlen = (size_t)(p - x->out);
	x->pr.r->status = status;
	x->head_done = true;
	return 0;
}

/* --- finishing -------------------------------------------------------------------------- */

static void
fx_free(struct poolreq *pr)
{
	struct fx *x = (struct fx *)pr;

	free(x->ob);
	free(x->in);
	free(x->out);
	free(x->cgibuf);
	free(x->fields);
	spool_free(&x->sp);
	free(x->loc);
	free(x);
}

/*
 * Is the connection to the worker clean for the next request?  Not when
 * anything is left over either way: records after FCGI_END_REQUEST, or
 * input the worker ended without (its STDIN stream unfinished, maybe in the
 * middle of a record).
 */
static bool
reusable(struct fx *x)
{
	const char *why;

	return fcgi_dec_eof(&x->dec, &why) == 0 && x->inlen == 0 &&
	    x->stdin_done && x->oboff == x->oblen;
}

/* A line of FCGI_STDERR for the pool's log, with the request it came from. */
static void
stderr_line(struct fx *x)
{
	struct ctl_pool_log pl;

	if (x->errlen == 0)
		return;
	memset(&pl, 0, sizeof(pl));
	{
		/* the pool index belongs to the newest generation */
		struct fe_gen *g = fe_gen_acquire(x->pr.t->fe);

		pl.pool = x->pr.pool->idx;
		pl.generation = g->generation;
		fe_gen_release(g);
	}
	snprintf(pl.line, sizeof(pl.line), "%s %s: %.*s", x->pr.method, x->pr.target,
	    (int)x->errlen, x->errline);
	if (ctl_send(x->pr.t->fe->ctl, CTL_POOL_LOG, &pl, sizeof(pl), NULL, 0) == -1)
		log_warn("control channel: pool log");
	x->errlen = 0;
}

static void
on_stderr(struct fx *x, const char *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (d[i] == '\n' || x->errlen == sizeof(x->errline)) {
			stderr_line(x);
			if (d[i] == '\n')
				continue;
		}
		if (d[i] != '\r')
			x->errline[x->errlen++] = d[i];
	}
}

/* Local redirect (only "Location: /path"): run that script instead. */
static int
local_redirect(struct fx *x)
{
	struct req *r = x->pr.r;
	const struct conf_script *sc;
	size_t sn;
	int st;
	const struct hstr *loc = &x->cgi.location;
	const char *q;
	size_t plen;

	if (++x->redirects > MAX_REDIRECTS) {
		poolreq_fail(&x->pr, 500, "Internal", 0);
		return -1;
	}
	q = memchr(loc->p, '?', loc->n);
	plen = q != NULL ? (size_t)(q - loc->p) : loc->n;
	st = path_normalize(loc->p, plen, r->path, sizeof(r->path), &r->pathlen);
	if (st == 0)
		st = fastcgi_resolve(x->pr.c, r, &sc, &sn);
	if (st == 0) {
		/* not a script: whatever the site serves at that path */
		http1_redispatch_static(poolreq_leave(&x->pr, reusable(x)));
		return -1;
	}
	if (st != 1) {
		poolreq_fail(&x->pr, st, NULL, 0);
		return -1;
	}
	free(x->loc);
	if ((x->loc = malloc(loc->n + 1)) == NULL) {
		poolreq_fail(&x->pr, 500, "Internal", 0);
		return -1;
	}
	memcpy(x->loc, loc->p, loc->n);
	x->loc[loc->n] = '\0';
	x->loclen = loc->n;
	memcpy(x->path, r->path, r->pathlen + 1);
	x->sn_len = sn;
	x->file = NULL;
	/* The client's body stays where it is; the new script runs without it. */
	x->body_fate = fx_body(&x->pr);
	x->get_only = true;
	x->body = BODY_NONE;
	return 0;
}

/* Handle decoded records from x->in.  Returns -1 when the request ended. */
static int
consume(struct fx *x)
{
	size_t off = 0;

	while (off < x->inlen) {
		struct fcgi_event ev;
		const char *why;
		ssize_t n = fcgi_dec_next(&x->dec, x->in + off, x->inlen - off, &ev, &why);

		if (n < 0) {
			char what[200];

			snprintf(what, sizeof(what), "malformed FastCGI records: %s", why);
			poolreq_failed(&x->pr, what, UF_PROTOCOL);
			return -1;
		}
		off += (size_t)n;
		switch (ev.type) {
		case FCGI_EV_STDOUT:
			if (!x->head_done) {
				ssize_t h = fcgi_cgi_parse(&x->cgi, ev.data, ev.len, &why);

				if (h == WEIR_AGAIN)
					break;
				if (h < 0) {
					char what[200];

					snprintf(what, sizeof(what), "malformed CGI response: %s", why);
					poolreq_failed(&x->pr, what, UF_PROTOCOL);
					return -1;
				}
				if (x->cgi.kind == FCGI_CGI_LOCAL_REDIRECT) {
					/* drop this response; the rest of its records too */
					x->head_done = true;
					x->frame = FR_NONE;
					x->pr.r->status = -1;
					break;
				}
				if (client_head(x) == -1)
					return -1;
				client_body(x, ev.data + h, ev.len - (size_t)h);
			} else {
				client_body(x, ev.data, ev.len);
			}
			break;
		case FCGI_EV_STDERR:
			on_stderr(x, ev.data, ev.len);
			break;
		case FCGI_EV_END_REQUEST:
			stderr_line(x);
			x->ended = true;
			x->inlen = x->inlen - off;	/* anything after it */
			if (x->inlen > 0)
				memmove(x->in, x->in + off, x->inlen);
			if (ev.protocol_status != FCGI_REQUEST_COMPLETE) {
				poolreq_failed(&x->pr, ev.protocol_status == FCGI_OVERLOADED ?
				    "the worker is overloaded" : "the worker refused the request",
				    ev.protocol_status == FCGI_OVERLOADED ? UF_UNDELIVERED : UF_PROTOCOL);
				return -1;
			}
			if (!x->head_done) {
				poolreq_failed(&x->pr, "the script ended without a response", UF_PROTOCOL);
				return -1;
			}
			if (x->cgi.kind == FCGI_CGI_LOCAL_REDIRECT) {
				if (local_redirect(x) == -1)
					return -1;
				poolreq_restart(&x->pr, reusable(x));
				return -1;
			}
			if (x->frame == FR_CHUNKED) {
				out_reserve(x, 8);
				memcpy(x->out + x->outlen, "0\r\n\r\n", 5);
				x->outlen += 5;
			} else if (x->frame == FR_LENGTH && x->res_left > 0) {
				/* shorter than announced: the client cannot be told otherwise */
				x->pr.c->flags |= CF_CLOSE;
			}
			return 0;
		case FCGI_EV_UNKNOWN_TYPE:
		case FCGI_EV_VALUES:
		case FCGI_EV_NONE:
			break;
		}
	}
	x->inlen = 0;
	return 0;
}

/* --- the pump -------------------------------------------------------------------------- */

/*
 * The client's event interest (poolreq_client_read(); spooling always
 * reads) and the worker's.
 */
static void
set_events(struct fx *x)
{
	struct conn *c = x->pr.c;
	uint32_t cev, uev = 0;

	if (x->pr.phase == PR_SPOOL)
		cev = LOOP_READ;
	else
		cev = poolreq_client_read(&x->pr, x->body == BODY_STREAM && x->body_left > 0 &&
		    x->pr.phase == PR_SEND, c->ipos == c->ilen);
	if (x->outoff < x->outlen)
		cev |= LOOP_WRITE;
	conn_set_events(c, cev);
	if (x->pr.up == NULL)
		return;
	if (x->oboff < x->oblen)
		uev |= LOOP_WRITE;
	if (x->pr.phase == PR_SEND || x->pr.phase == PR_RECV)
		if (x->outlen - x->outoff < FX_OUT_HIGH)
			uev |= LOOP_READ;
	upstream_set(x->pr.up, uev);
}

static void
fx_pump(struct poolreq *pr)
{
	struct fx *x = (struct fx *)pr;
	int fd;

	if (x->pr.phase == PR_SPOOL) {
		if (spool_pump(&x->pr, &x->sp) == 1)
			enqueue(x);
		return;
	}

	/*
	 * Once recv() found nothing, it is not asked again in this call: the
	 * worker cannot have answered since (one EAGAIN per wake-up, not two).
	 */
	bool dry = false;

	for (;;) {
		bool progress = false;

		if (x->pr.phase != PR_SEND && x->pr.phase != PR_RECV)
			break;
		fd = x->pr.up->io.fd;
		/* 1. records to the worker */
		if (fill_stdin(x) == -1)
			return;
		while (x->oboff < x->oblen) {
			ssize_t w = send(fd, x->ob + x->oboff, x->oblen - x->oboff, MSG_NOSIGNAL);

			if (w == -1) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				/*
				 * A kept-alive connection the worker closed while it
				 * was idle (php-fpm's pm.max_requests): nothing was
				 * delivered, so take another (upstream_stale()).
				 */
				if (!x->sent && upstream_stale(x->pr.up, errno)) {
					if (poolreq_reconnect(&x->pr) == -1)
						return;
					fd = x->pr.up->io.fd;
					continue;
				}
				/* php-cgi after PHP_FCGI_MAX_REQUESTS: nothing taken */
				poolreq_failed(&x->pr, "cannot send the request to the worker",
				    x->inlen == 0 && !x->head_done ? UF_UNDELIVERED : UF_DELIVERED);
				return;
			}
			x->oboff += (size_t)w;
			x->sent = true;
			progress = true;
			if (fill_stdin(x) == -1)
				return;
		}
		if (x->stdin_done && x->oboff == x->oblen && x->pr.phase == PR_SEND)
			x->pr.phase = PR_RECV;
		/* 2. the response, while the client keeps up */
		if (x->outlen - x->outoff < FX_OUT_HIGH && !x->ended && !dry) {
			ssize_t n = recv(fd, x->in + x->inlen, FX_IN - x->inlen, 0);

			if (n > 0) {
				x->inlen += (size_t)n;
				conn_set_deadline(x->pr.c, poolreq_response_timeout(&x->pr));
				if (consume(x) == -1)
					return;
				progress = true;
			} else if (n == 0) {
				poolreq_failed(&x->pr, x->head_done ? "the worker closed the connection mid-response" :
				    "the worker closed the connection without a response",
				    x->head_done || x->inlen > 0 ? UF_DELIVERED :
				    (x->pr.phase == PR_SEND ? UF_UNDELIVERED : UF_DELIVERED));
				return;
			} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
				dry = true;
			} else if (errno != EINTR) {
				poolreq_failed(&x->pr, "connection to the worker failed",
				    errno == ECONNRESET && !x->head_done && x->pr.phase == PR_SEND ?
				    UF_UNDELIVERED : UF_DELIVERED);
				return;
			}
		}
		/* 3. to the client */
		if (x->outoff < x->outlen) {
			int r = client_flush(x);

			if (r == -1) {
				conn_close(x->pr.c);
				return;
			}
			if (r == 1)
				progress = true;
		}
		if (x->ended && x->outoff == x->outlen) {
			poolreq_done(&x->pr, reusable(x));
			return;
		}
		if (!progress)
			break;
	}
	set_events(x);
}

/* --- callbacks for poolreq.c ------------------------------------------------------------ */

static void
fx_start(struct poolreq *pr)
{
	struct fx *x = (struct fx *)pr;

	x->sent = false;
	fcgi_dec_init(&x->dec);
	fcgi_dec_expect(&x->dec, REQ_ID);
	fcgi_cgi_init(&x->cgi, x->cgibuf, CGI_HEAD_MAX, x->fields, CGI_FIELDS);
}

static void
fx_events(struct poolreq *pr)
{
	set_events((struct fx *)pr);
}

static int
fx_rewind(struct poolreq *pr)
{
	struct fx *x = (struct fx *)pr;

	x->inlen = 0;
	x->outlen = x->outoff = 0;
	x->head_done = false;
	x->ended = false;
	x->spool_off = 0;
	x->stdin_done = false;
	return build_request(x);
}

/* A spooled body can be sent again; a streamed one only if none went yet. */
static bool
fx_replayable(const struct poolreq *pr)
{
	const struct fx *x = (const struct fx *)pr;

	return x->body != BODY_STREAM || !x->pr.body_started;
}

static enum pr_body
fx_body(const struct poolreq *pr)
{
	const struct fx *x = (const struct fx *)pr;

	if (x->get_only)
		return x->body_fate;
	switch (x->body) {
	case BODY_SPOOL:
		/* while spooling, part of the body is read */
		return x->pr.phase == PR_SPOOL ? PRB_PARTIAL : PRB_TAKEN;
	case BODY_STREAM:
		if (x->body_left == 0)
			return PRB_TAKEN;
		return x->pr.body_started ? PRB_PARTIAL : PRB_UNREAD;
	default:
		return PRB_TAKEN;
	}
}

/* The client is gone: stop the script (closing is what stops php). */
static void
fx_abort(struct poolreq *pr)
{
	uint8_t rec[FCGI_HEADER_LEN + 8];
	ssize_t n = fcgi_abort_request(rec, sizeof(rec), REQ_ID);

	/* best effort before the close, which is what really counts */
	if (n > 0)
		(void)!send(pr->up->io.fd, rec, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static const struct poolreq_ops fx_ops = {
	.start = fx_start,
	.pump = fx_pump,
	.events = fx_events,
	.rewind = fx_rewind,
	.replayable = fx_replayable,
	.body = fx_body,
	.abort = fx_abort,
	.free = fx_free,
};

static void
enqueue(struct fx *x)
{
	if (build_request(x) == -1) {
		poolreq_fail(&x->pr, 500, "Internal", 0);
		return;
	}
	poolreq_enqueue(&x->pr);
}

/* --- the handler -------------------------------------------------------------------------- */

/*
 * A FastCGI request for the script path[0..sn_len) (the rest of path is
 * PATH_INFO; file, when not NULL, the script under root).
 */
static int
start(struct conn *c, struct req *r, struct fe_pool *pool, const char *path,
    size_t pathlen, size_t sn_len, const char *file, bool via_app)
{
	struct fx *x;

	if (pool == NULL)
		return 503;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return 500;
	poolreq_init(&x->pr, &fx_ops, c, r, pool);
	x->site = r->site;
	x->sp.fd = -1;
	x->via_app = via_app;
	memcpy(x->path, path, pathlen);
	x->path[pathlen] = '\0';
	x->sn_len = sn_len;
	x->file = file;
	if ((r->h.flags & HTTP_F_CHUNKED) || (r->h.content_length > 0 && pool->buffering)) {
		x->body = BODY_SPOOL;
		spool_init(&x->sp, &r->h);
	} else if (r->h.content_length > 0) {
		x->body = BODY_STREAM;
		x->body_left = (uint64_t)r->h.content_length;
	}
	x->pr.want_continue = (r->h.flags & HTTP_F_EXPECT_100) && x->body == BODY_STREAM;
	x->obcap = FX_OB_INIT;
	x->ob = malloc(x->obcap);
	x->in = malloc(FX_IN);
	x->cgibuf = malloc(CGI_HEAD_MAX);
	x->fields = calloc(CGI_FIELDS, sizeof(*x->fields));
	if (x->ob == NULL || x->in == NULL || x->cgibuf == NULL || x->fields == NULL) {
		fx_free(&x->pr);
		return 500;
	}
	c->pr = &x->pr;
	c->state = CONN_HANDLER;
	r->body_taken = true;
	if (x->body == BODY_SPOOL && spool_begin(&x->pr, &x->sp) != 1)
		return WEIR_OK;	/* queued once the body is in, or answered */
	enqueue(x);
	return WEIR_OK;
}

/*
 * A FastCGI request: the script is r->path[0..sn_len).  Called from
 * dispatch (script = ...) or through an app route's handler.
 */
int
fastcgi_request(struct conn *c, struct req *r, struct fe_pool *pool, size_t sn_len,
    bool via_app)
{
	return start(c, r, pool, r->path, r->pathlen, sn_len, NULL, via_app);
}

/*
 * A front controller: the script file (a config string, under root) runs
 * for r->path.  SCRIPT_NAME is the script, PATH_INFO empty; with a mount
 * prefix to strip (its length, 0 for none) SCRIPT_NAME is prefix + script
 * and PATH_INFO the path below the prefix, so the application finds its
 * base URL (Symfony, Laravel: SCRIPT_NAME's directory within REQUEST_URI).
 */
int
fastcgi_front(struct conn *c, struct req *r, struct fe_pool *pool,
    const char *file, const char *prefix, size_t plen)
{
	size_t fl = strlen(file), pil = plen > 0 ? r->pathlen - plen : 0;
	char path[sizeof(((struct fx *)NULL)->path)];

	if (plen + fl + pil + 1 > sizeof(path))
		return 414;
	memcpy(path, prefix, plen);
	memcpy(path + plen, file, fl);
	memcpy(path + plen + fl, r->path + plen, pil);
	return start(c, r, pool, path, plen + fl + pil, plen + fl, file, true);
}

/*
 * The site's fallback for a path fastcgi_resolve() did not make a script
 * of (resolved: 0, or 404 for a missing one): WEIR_DECLINED when the path
 * names an existing file or directory (static.c serves it, nginx's
 * try_files $uri $uri/), else the fallback script runs (404 when it does
 * not exist either).
 */
int
fastcgi_fallback(struct conn *c, struct req *r, int resolved)
{
	const struct fe_site *s = r->site;
	const char *fb = s->cs->fallback;
	const struct conf_script *sc = mapped(s->cs, fb, strlen(fb));
	struct fentry *e;
	int rootfd;
	bool exists;

	if ((rootfd = siteroot_fd(c, s)) == -1)
		return WEIR_DECLINED;	/* static.c answers 503 */
	if (resolved == 0) {
		e = fcache_open(c->t->fcache, loop_now(c->t->loop), rootfd, s->cs->symlinks,
		    r->pathlen > 1 ? r->path + 1 : ".", r->pathlen > 1 ? r->pathlen - 1 : 1);
		if (e == NULL)
			return 500;
		exists = e->err == 0 && (S_ISREG(e->mode) || S_ISDIR(e->mode));
		fcache_release(c->t->fcache, e);
		if (exists)
			return WEIR_DECLINED;
	}
	if (sc == NULL || !is_file(c, s, fb, strlen(fb)))
		return 404;
	for (size_t i = 0; i < s->nscripts; i++)
		if (strcmp(s->scripts[i].ext, sc->ext) == 0)
			return fastcgi_front(c, r, s->scripts[i].pool, fb, "", 0);
	return 404;
}

static int
fastcgi_app_request(struct handler *h, struct conn *c, struct req *r)
{
	struct fastcgi_handler *fh = (struct fastcgi_handler *)h;
	const struct conf_app *a = fh->app;
	const char *script = a->script != NULL ? a->script : r->site->cs->fallback;
	size_t plen = a->strip_prefix && a->prefixlen > 1 ? a->prefixlen : 0;

	if (script != NULL)
		return fastcgi_front(c, r, fh->pool, script, a->prefix, plen);
	/* app = PREFIX POOL: the prefix is the script, the rest PATH_INFO */
	return fastcgi_request(c, r, fh->pool, a->prefixlen <= r->pathlen ?
	    (a->prefixlen == 1 ? 0 : a->prefixlen) : r->pathlen, true);
}

static void
fastcgi_dispose(struct handler *h)
{
	free(h);
}

struct handler *
fastcgi_new(struct frontend *fe, struct fe_pool *pool, const struct conf_app *app)
{
	struct fastcgi_handler *fh = xcalloc(1, sizeof(*fh));

	fh->super.name = "fastcgi";
	fh->super.on_request = fastcgi_app_request;
	fh->super.dispose = fastcgi_dispose;
	fh->fe = fe;
	fh->pool = pool;
	fh->app = app;
	return &fh->super;
}
