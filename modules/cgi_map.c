/*
 * cgi_map.c - the cgi module's mapping of a request path to a script under
 * cgi.root (refusing traversal), and the script's RFC 3875 environment.
 * Everything is allocated in the request's memory (weir_alloc()).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cgi.h"

#ifndef WEIR_VERSION
#define WEIR_VERSION	"0.1.0"
#endif

#define CGI_SEGS_MAX	64		/* path segments */

/* --- mapping the URL to a script ------------------------------------------- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) into out (n + 1 bytes); -1 on bad escapes or NUL. */
static int
decode(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= n || (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return -1;
			out[o] = (char)(hi << 4 | lo);
			if (out[o] == '\0')
				return -1;
			o++;
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return 0;
}

/*
 * Find the script for rest (the path after the prefix).  Returns 0 with *s
 * filled, WEIR_MOD_DECLINED when there is no script there, or an HTTP
 * status (400, 403) to answer.
 */
int
cgi_map_script(weir_req *req, const struct cgi *c, const char *rest,
    struct script *s)
{
	char *segs[CGI_SEGS_MAX], *cur, real[PATH_MAX];
	size_t nsegs = 0, curlen;
	const char *p = rest;
	struct stat st;

	/* 1. split and decode; refuse what could leave the root or hide */
	while (*p != '\0') {
		const char *e;

		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		e = strchr(p, '/');
		if (e == NULL)
			e = p + strlen(p);
		if (nsegs == CGI_SEGS_MAX)
			return 400;
		if ((segs[nsegs] = weir_alloc(req, (size_t)(e - p) + 1)) == NULL ||
		    decode(p, (size_t)(e - p), segs[nsegs]) == -1)
			return 400;
		if (segs[nsegs][0] == '.' || strchr(segs[nsegs], '/') != NULL)
			return 403;
		nsegs++;
		p = e;
	}
	/* 2. walk down from the root to the first regular file */
	if ((cur = weir_alloc(req, c->rootlen + strlen(rest) + 2)) == NULL)
		return 500;
	memcpy(cur, c->root, c->rootlen + 1);
	curlen = c->rootlen;
	for (size_t i = 0; i < nsegs; i++) {
		size_t sl = strlen(segs[i]);

		cur[curlen] = '/';
		memcpy(cur + curlen + 1, segs[i], sl + 1);
		if (stat(cur, &st) == -1)
			return errno == EACCES ? 403 : WEIR_MOD_DECLINED;
		if (S_ISDIR(st.st_mode)) {
			curlen += sl + 1;
			continue;
		}
		if (!S_ISREG(st.st_mode))
			return 403;
		/* 3. the real file must be under the real root (symlinks) */
		if (realpath(cur, real) == NULL ||
		    strncmp(real, c->root, c->rootlen) != 0 || real[c->rootlen] != '/')
			return 403;
		if (access(real, X_OK) == -1)
			return 403;
		s->file = weir_alloc(req, strlen(real) + 1);
		s->dir = weir_alloc(req, strlen(real) + 1);
		s->script_name = weir_alloc(req, c->prefixlen + strlen(rest) + 2);
		s->path_info = NULL;
		if (s->file == NULL || s->dir == NULL || s->script_name == NULL)
			return 500;
		strcpy(s->file, real);
		strcpy(s->dir, real);
		*strrchr(s->dir, '/') = '\0';
		strcpy(s->script_name, c->prefix);
		for (size_t j = 0; j <= i; j++) {
			strcat(s->script_name, "/");
			strcat(s->script_name, segs[j]);
		}
		if (i + 1 < nsegs) {
			if ((s->path_info = weir_alloc(req, strlen(rest) + 1)) == NULL)
				return 500;
			s->path_info[0] = '\0';
			for (size_t j = i + 1; j < nsegs; j++) {
				strcat(s->path_info, "/");
				strcat(s->path_info, segs[j]);
			}
		}
		return 0;
	}
	return WEIR_MOD_DECLINED;
}

/* --- the environment (RFC 3875 §4.1) ------------------------------------------ */

struct env {
	char		**v;
	size_t		  n, cap;
};

static int
env_add(weir_req *req, struct env *e, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	char *s;

	if (e->n + 2 > e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 64;
		char **v = weir_alloc(req, cap * sizeof(char *));

		if (v == NULL)
			return -1;
		if (e->n > 0)
			memcpy(v, e->v, e->n * sizeof(char *));
		e->v = v;
		e->cap = cap;
	}
	if ((s = weir_alloc(req, nl + vl + 2)) == NULL)
		return -1;
	memcpy(s, name, nl);
	s[nl] = '=';
	memcpy(s + nl + 1, value, vl + 1);
	e->v[e->n++] = s;
	e->v[e->n] = NULL;
	return 0;
}

/* Is there already HTTP_<name>?  Then append ", value" (repeated fields). */
static int
env_http(weir_req *req, struct env *e, const char *hname, const char *value)
{
	char name[256];
	size_t n = 5;

	memcpy(name, "HTTP_", 5);
	for (const char *p = hname; *p != '\0'; p++) {
		/* '_' would let "X_Forwarded_For" pose as X-Forwarded-For */
		if (*p == '_' || n + 1 >= sizeof(name))
			return 0;
		name[n++] = *p == '-' ? '_' :
		    (*p >= 'a' && *p <= 'z') ? (char)(*p - 32) : *p;
	}
	name[n] = '\0';
	for (size_t i = 0; i < e->n; i++)
		if (strncmp(e->v[i], name, n) == 0 && e->v[i][n] == '=') {
			size_t ol = strlen(e->v[i]), vl = strlen(value);
			char *s = weir_alloc(req, ol + vl + 3);

			if (s == NULL)
				return -1;
			memcpy(s, e->v[i], ol);
			memcpy(s + ol, ", ", 2);
			memcpy(s + ol + 2, value, vl + 1);
			e->v[i] = s;
			return 0;
		}
	return env_add(req, e, name, value);
}

static bool
hname_is(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

/* SERVER_NAME and SERVER_PORT from the Host the client sent. */
static int
env_server(weir_req *req, struct env *e)
{
	const char *host = weir_header(req, "X-Forwarded-Host");
	const char *proto = weir_header(req, "X-Forwarded-Proto");
	const char *port = proto != NULL && strcmp(proto, "https") == 0 ? "443" : "80";
	char name[256];
	const char *colon;
	size_t hl;

	if (host == NULL)
		host = weir_header(req, "Host");
	if (host == NULL)
		host = "localhost";
	colon = host[0] == '[' ? strchr(host, ']') : host;
	colon = colon != NULL ? strchr(colon, ':') : NULL;
	hl = colon != NULL ? (size_t)(colon - host) : strlen(host);
	if (hl >= sizeof(name))
		hl = sizeof(name) - 1;
	memcpy(name, host, hl);
	name[hl] = '\0';
	if (colon != NULL && colon[1] != '\0')
		port = colon + 1;
	if (proto != NULL && strcmp(proto, "https") == 0 &&
	    env_add(req, e, "HTTPS", "on") == -1)
		return -1;
	return env_add(req, e, "SERVER_NAME", name) == -1 ||
	    env_add(req, e, "SERVER_PORT", port) == -1 ? -1 : 0;
}

/* REMOTE_ADDR: the last hop of X-Forwarded-For, which the front end added. */
static int
env_remote(weir_req *req, struct env *e)
{
	const char *xff = weir_header(req, "X-Forwarded-For");
	char addr[64] = "127.0.0.1";

	if (xff != NULL) {
		const char *last = strrchr(xff, ',');
		size_t n;

		last = last != NULL ? last + 1 : xff;
		while (*last == ' ' || *last == '\t')
			last++;
		n = strcspn(last, " \t");
		if (n > 0 && n < sizeof(addr)) {
			memcpy(addr, last, n);
			addr[n] = '\0';
		}
	}
	return env_add(req, e, "REMOTE_ADDR", addr) == -1 ||
	    env_add(req, e, "REMOTE_HOST", addr) == -1 ? -1 : 0;
}

/*
 * HTTPS and mod_ssl's SSL_* variables for a request that came over TLS
 * (weir_tls()), the names FastCGI pools get from the front end too; the
 * X-TLS-* fields they come from are not passed again as HTTP_X_TLS_*.
 */
static int
env_tls(weir_req *req, struct env *e)
{
	const struct weir_tls *t = weir_tls(req);
	const struct { const char *name, *value; } v[] = {
		{ "SSL_PROTOCOL", t ? t->protocol : NULL },
		{ "SSL_CIPHER", t ? t->cipher : NULL },
		{ "SSL_TLS_SNI", t ? t->sni : NULL },
		{ "SSL_TLS_EXPORTER", t ? t->tls_exporter : NULL },
		{ "SSL_TLS_UNIQUE", t ? t->tls_unique : NULL },
		{ "SSL_TLS_SERVER_END_POINT", t ? t->tls_server_end_point : NULL },
		{ "SSL_CLIENT_VERIFY", t ? t->client_verify : NULL },
		{ "SSL_CLIENT_S_DN", t ? t->client_s_dn : NULL },
		{ "SSL_CLIENT_I_DN", t ? t->client_i_dn : NULL },
		{ "SSL_CLIENT_M_SERIAL", t ? t->client_serial : NULL },
		{ "SSL_CLIENT_FINGERPRINT", t ? t->client_fingerprint : NULL },
		{ "SSL_CLIENT_CERT", t ? t->client_cert : NULL },
	};

	if (t == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (v[i].value != NULL && env_add(req, e, v[i].name, v[i].value) == -1)
			return -1;
	return 0;
}

char **
cgi_make_env(weir_req *req, const struct cgi *c, const struct script *s,
    long long content_length)
{
	struct env e = { NULL, 0, 0 };
	const char *q = weir_query(req), *name, *value;
	char num[32];

	if (env_add(req, &e, "GATEWAY_INTERFACE", "CGI/1.1") == -1 ||
	    env_add(req, &e, "SERVER_SOFTWARE", "weir/" WEIR_VERSION) == -1 ||
	    env_add(req, &e, "SERVER_PROTOCOL", weir_protocol(req)) == -1 ||
	    env_add(req, &e, "REQUEST_METHOD", weir_method(req)) == -1 ||
	    env_add(req, &e, "REQUEST_URI", weir_target(req)) == -1 ||
	    env_add(req, &e, "QUERY_STRING", q != NULL ? q : "") == -1 ||
	    env_add(req, &e, "SCRIPT_NAME", s->script_name) == -1 ||
	    env_add(req, &e, "SCRIPT_FILENAME", s->file) == -1 ||
	    env_add(req, &e, "DOCUMENT_ROOT", c->root) == -1 ||
	    env_add(req, &e, "PATH", "/usr/local/bin:/usr/bin:/bin") == -1 ||
	    env_server(req, &e) == -1 || env_remote(req, &e) == -1 ||
	    env_tls(req, &e) == -1)
		return NULL;
	if (s->path_info != NULL &&
	    env_add(req, &e, "PATH_INFO", s->path_info) == -1)
		return NULL;
	if (content_length >= 0) {
		snprintf(num, sizeof(num), "%lld", content_length);
		if (env_add(req, &e, "CONTENT_LENGTH", num) == -1)
			return NULL;
	}
	for (size_t i = 0; weir_header_at(req, i, &name, &value) == 0; i++) {
		int rc = 0;

		if (hname_is(name, "Content-Type"))
			rc = env_add(req, &e, "CONTENT_TYPE", value);
		else if (hname_is(name, "Authorization")) {
			char scheme[32];
			size_t n = strcspn(value, " ");

			if (n > 0 && n < sizeof(scheme)) {
				memcpy(scheme, value, n);
				scheme[n] = '\0';
				rc = env_add(req, &e, "AUTH_TYPE", scheme);
			}
		} else if (!hname_is(name, "Content-Length") &&
		    strncasecmp(name, "X-TLS-", 6) != 0 &&	/* env_tls()'s */
		    !hname_is(name, "Proxy") &&		/* httpoxy */
		    !hname_is(name, "Proxy-Authorization"))
			rc = env_http(req, &e, name, value);
		if (rc == -1)
			return NULL;
	}
	return e.v;
}

