/*
 * dashboard.c - what the admin listener's web page (GET /dashboard) needs
 * from the master: its files, the per-page CSRF tokens its POSTs must
 * carry, and a short history of each pool's requests/s and p99.
 *
 * The page itself is plain HTML, CSS and JS installed with weir
 * (<datadir>/weir/dashboard; in the build tree build/share/dashboard), read
 * at each request so an update needs no restart.  admin.c does the HTTP
 * (routing, server-sent events) with the checks made here: the token as a
 * cookie, the Host a browser sends, a POST's CSRF token and Origin, and
 * requests other pages make to the API.
 *
 * The history: every DASH_SAMPLE_MS the master asks the front end for its
 * snapshot (the same CTL_STATUS_REQ as `weir status`); each pool's
 * responses and upstream-time histogram are compared with the previous
 * sample, giving the requests/s over the interval and the bucket bound under
 * which 99% of the interval's responses fell.  DASH_SAMPLES samples are kept
 * (5 minutes), so the charts have a past when the page is opened.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "component.h"
#include "httpparse.h"
#include "weir_paths.h"
#include "master.h"

#define DASH_SAMPLE_MS	5000
#define DASH_SAMPLES	60		/* 5 minutes at 5 s */
#define DASH_TOKENS	32		/* pages whose token is still honoured */
#define DASH_TOKEN_HEX	32
#define DASH_FILE_MAX	(1024 * 1024)

struct dashboard {
	struct master	*m;
	struct loop_timer timer;	/* asks for a snapshot every DASH_SAMPLE_MS */
	/* tokens handed out with the page, newest replacing the oldest */
	char		 tokens[DASH_TOKENS][DASH_TOKEN_HEX + 1];
	unsigned	 next_token;
	/* the previous snapshot's counters: pool -> {total, count, buckets[]} */
	json_t		*prev;
	uint64_t	 prev_ms;	/* monotonic time of prev, 0 if none */
	/* ring of samples {t, pools: {name: {rps, p99_ms}}}, oldest first */
	json_t		*ring[DASH_SAMPLES];
	unsigned	 nring, ring_head;
};

/* The files the page is made of, and their types; nothing else is served. */
static const struct {
	const char	*name;
	const char	*ctype;
} dash_files[] = {
	{ "index.html", "text/html; charset=utf-8" },
	{ "dashboard.js", "text/javascript; charset=utf-8" },
	{ "dashboard.css", "text/css; charset=utf-8" },
	{ "favicon.svg", "image/svg+xml" },
};

static void
on_sample_timer(void *arg)
{
	struct dashboard *d = arg;

	admin_fe_ask(d->m);
	loop_timer_set(d->m->loop, &d->timer, DASH_SAMPLE_MS);
}

void
dashboard_init(struct master *m)
{
	struct dashboard *d = xcalloc(1, sizeof(*d));

	d->m = m;
	loop_timer_init(&d->timer, on_sample_timer, d);
	loop_timer_set(m->loop, &d->timer, DASH_SAMPLE_MS);
	m->dash = d;
}

void
dashboard_free(struct master *m)
{
	struct dashboard *d = m->dash;

	if (d == NULL)
		return;
	loop_timer_cancel(m->loop, &d->timer);
	json_decref(d->prev);
	for (unsigned i = 0; i < DASH_SAMPLES; i++)
		json_decref(d->ring[i]);
	free(d);
	m->dash = NULL;
}

/*
 * Where the page's files are: beside the binary in the build tree
 * (build/share/dashboard), else relative to the installed binary (a moved
 * prefix works), else the configured data directory.
 */
static int
locate(char *out, size_t outsz, char *err)
{
	struct component_paths cp;
	char *slash;
	int n;

	if (component_locate(&cp, err) == -1)
		return -1;
	if ((slash = strrchr(cp.exe, '/')) != NULL)
		*slash = '\0';
	n = snprintf(out, outsz, "%s/share/dashboard/index.html", cp.exe);
	if (n > 0 && (size_t)n < outsz && access(out, R_OK) == 0)
		goto found;
	n = snprintf(out, outsz, "%s/%s/index.html", cp.exe, WEIR_DASHBOARD_REL);
	if (n > 0 && (size_t)n < outsz && access(out, R_OK) == 0)
		goto found;
	n = snprintf(out, outsz, "%s/index.html", WEIR_DASHBOARDDIR);
	if (n > 0 && (size_t)n < outsz && access(out, R_OK) == 0)
		goto found;
	snprintf(err, WEIR_ERRLEN, "the dashboard's files are not installed (%s)",
	    WEIR_DASHBOARDDIR);
	return -1;
found:
	out[strlen(out) - strlen("/index.html")] = '\0';
	return 0;
}

/* A fresh token for a page being served; it replaces the oldest one. */
static const char *
token_new(struct dashboard *d)
{
	unsigned char raw[DASH_TOKEN_HEX / 2];
	char *t = d->tokens[d->next_token];

	/* getrandom(2) without flags blocks only before the pool is seeded */
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return NULL;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(t + 2 * i, 3, "%02x", raw[i]);
	d->next_token = (d->next_token + 1) % DASH_TOKENS;
	return t;
}

/* Is this one of the tokens handed out?  (Constant time per token.) */
bool
dashboard_csrf_ok(struct master *m, const char *p, size_t n)
{
	struct dashboard *d = m->dash;
	bool ok = false;

	if (d == NULL || n != DASH_TOKEN_HEX)
		return false;
	for (unsigned i = 0; i < DASH_TOKENS; i++) {
		unsigned char diff = 0;

		if (d->tokens[i][0] == '\0')
			continue;
		for (size_t k = 0; k < DASH_TOKEN_HEX; k++)
			diff |= (unsigned char)(d->tokens[i][k] ^ p[k]);
		ok |= diff == 0;
	}
	return ok;
}

/*
 * Read one of the page's files into *body (the caller frees it).  In
 * index.html the placeholder {{CSRF}} becomes a fresh token.  Returns the
 * HTTP status: 200, 404 (not one of the files), 500 (with err).
 */
int
dashboard_file(struct master *m, const char *name, size_t namelen, char **body,
    size_t *len, const char **ctype, char *err)
{
	static const char mark[] = "{{CSRF}}";
	char dir[COMPONENT_PATH_MAX], path[COMPONENT_PATH_MAX + 32];
	size_t i;
	char *text, *at;
	const char *tok;

	for (i = 0; i < nitems(dash_files); i++)
		if (strlen(dash_files[i].name) == namelen &&
		    memcmp(dash_files[i].name, name, namelen) == 0)
			break;
	if (i == nitems(dash_files))
		return 404;
	if (locate(dir, sizeof(dir), err) == -1)
		return 500;
	snprintf(path, sizeof(path), "%s/%s", dir, dash_files[i].name);
	if ((text = read_file(path, DASH_FILE_MAX, len, err)) == NULL)
		return 500;
	*ctype = dash_files[i].ctype;
	*body = text;
	if (i != 0 || (at = strstr(text, mark)) == NULL)
		return 200;
	if ((tok = token_new(m->dash)) == NULL) {
		snprintf(err, WEIR_ERRLEN, "getrandom: %s", strerror(errno));
		free(text);
		return 500;
	}
	/* the token is as long as the mark plus DASH_TOKEN_HEX - 8 */
	*body = xmalloc(*len + DASH_TOKEN_HEX + 1);
	memcpy(*body, text, (size_t)(at - text));
	memcpy(*body + (at - text), tok, DASH_TOKEN_HEX);
	memcpy(*body + (at - text) + DASH_TOKEN_HEX, at + sizeof(mark) - 1,
	    *len - (size_t)(at - text) - (sizeof(mark) - 1));
	*len += DASH_TOKEN_HEX - (sizeof(mark) - 1);
	free(text);
	return 200;
}

/* --- who may ask: the checks admin.c applies under /dashboard ---------------------- */

static const struct http_header *
header(const struct http_request *h, const char *name)
{
	return httpparse_find(h->headers, h->nheaders, name);
}

static bool
hstr_is(const struct http_header *hd, const char *lit)
{
	return hd != NULL && hd->value.n == strlen(lit) && memcmp(hd->value.p, lit, hd->value.n) == 0;
}

static bool
const_eq(const char *a, const char *b, size_t n)
{
	unsigned char diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* Is P (N bytes) TOKEN (the admin token, NULL when none is set)? */
bool
dashboard_token_eq(const char *token, const char *p, size_t n)
{
	return token != NULL && n == strlen(token) && const_eq(p, token, n);
}

/* The dashboard's cookie (weir_admin=TOKEN) among the request's cookies. */
bool
dashboard_cookie_ok(const struct http_request *h, const char *token)
{
	for (size_t i = 0; i < h->nheaders; i++) {
		const char *p, *end;

		if (h->headers[i].name.n != 6 || strncasecmp(h->headers[i].name.p, "cookie", 6))
			continue;
		p = h->headers[i].value.p;
		end = p + h->headers[i].value.n;
		while (p < end) {
			const char *semi = memchr(p, ';', (size_t)(end - p)), *e = semi ? semi : end;

			while (p < e && *p == ' ')
				p++;
			if ((size_t)(e - p) > 11 && memcmp(p, "weir_admin=", 11) == 0 &&
			    dashboard_token_eq(token, p + 11, (size_t)(e - p - 11)))
				return true;
			p = e + 1;
		}
	}
	return false;
}

/* The value of ?token= in the query, if any. */
bool
dashboard_query_token(const struct http_request *h, struct hstr *out)
{
	const char *p = h->query.p, *end;

	if (p == NULL)
		return false;
	end = p + h->query.n;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *e = amp ? amp : end;

		if ((size_t)(e - p) >= 6 && memcmp(p, "token=", 6) == 0) {
			out->p = p + 6;
			out->n = (size_t)(e - p - 6);
			return true;
		}
		p = e + 1;
	}
	return false;
}

/*
 * Host is what a browser that reached the admin listener on purpose sends:
 * an address, localhost, or weir (the CLI's and the docs' curl).  A page
 * whose name was made to resolve to 127.0.0.1 (DNS rebinding) sends its own
 * name and is refused.
 */
bool
dashboard_host_ok(const struct http_request *h)
{
	const struct http_header *hd = header(h, "host");
	char name[256];
	size_t n;

	if (hd == NULL || hd->value.n == 0 || hd->value.n >= sizeof(name))
		return false;
	memcpy(name, hd->value.p, hd->value.n);
	name[hd->value.n] = '\0';
	if (name[0] == '[')
		return strchr(name, ']') != NULL;	/* an IPv6 literal */
	n = strcspn(name, ":");
	name[n] = '\0';
	if (strcmp(name, "localhost") == 0 || strcmp(name, "weir") == 0)
		return true;
	return n > 0 && strspn(name, "0123456789.") == n;
}

/*
 * A POST from the page: its CSRF token, and an Origin that is this listener
 * ("http://" + Host).  Returns 0, or the status to refuse with.
 */
int
dashboard_post_check(struct master *m, const struct http_request *h, const char **why)
{
	const struct http_header *tok = header(h, "x-weir-csrf");
	const struct http_header *origin = header(h, "origin"), *host = header(h, "host");

	if (tok == NULL || !dashboard_csrf_ok(m, tok->value.p, tok->value.n)) {
		*why = "missing or stale CSRF token (reload the page)";
		return 403;
	}
	if (origin == NULL || host == NULL || origin->value.n != host->value.n + 7 ||
	    memcmp(origin->value.p, "http://", 7) != 0 ||
	    strncasecmp(origin->value.p + 7, host->value.p, host->value.n) != 0) {
		*why = "Origin is not this admin listener";
		return 403;
	}
	return 0;
}

/* Did a browser send this from another page (a cross-site form or fetch)? */
bool
dashboard_cross_site(const struct http_request *h)
{
	const struct http_header *site = header(h, "sec-fetch-site");

	return header(h, "origin") != NULL ||
	    (site != NULL && !hstr_is(site, "none") && !hstr_is(site, "same-origin"));
}

/* --- history ---------------------------------------------------------------------- */

static uint64_t
responses_total(json_t *fp)
{
	json_t *cls = json_object_get(fp, "responses"), *v;
	const char *k;
	uint64_t n = 0;

	json_object_foreach(cls, k, v)
		n += (uint64_t)json_integer_value(v);
	return n;
}

/*
 * p99 of the responses between two cumulative histograms (the front end's
 * "upstream": time from dispatch to the response's end), in ms: the upper
 * bound of the first bucket that holds 99% of them; null when none ended.
 */
static json_t *
p99_between(json_t *now, json_t *before)
{
	json_t *bn = json_object_get(now, "buckets"), *bb = json_object_get(before, "buckets");
	uint64_t count = (uint64_t)json_integer_value(json_object_get(now, "count")) -
	    (uint64_t)json_integer_value(json_object_get(before, "count"));
	size_t i;
	json_t *pair;

	if (count == 0)
		return json_null();
	json_array_foreach(bn, i, pair) {
		uint64_t c = (uint64_t)json_integer_value(json_array_get(pair, 1)) -
		    (uint64_t)json_integer_value(json_array_get(json_array_get(bb, i), 1));

		if (c * 100 >= count * 99)
			return json_real(json_real_value(json_array_get(pair, 0)) * 1000.0);
	}
	return json_real(30000.0);	/* beyond the last bound */
}

/*
 * A front-end snapshot arrived (admin.c): keep a sample if the last one is
 * at least most of an interval old, so page polls do not crowd the ring.
 */
void
dashboard_snapshot(struct master *m, json_t *fe)
{
	struct dashboard *d = m->dash;
	uint64_t now = loop_now(m->loop);
	json_t *fpools, *fp, *cur, *sample, *sp;
	const char *name;

	if (d == NULL || fe == NULL || (fpools = json_object_get(fe, "pools")) == NULL)
		return;
	if (d->prev_ms != 0 && now - d->prev_ms < DASH_SAMPLE_MS * 9 / 10)
		return;
	cur = json_object();
	sample = json_object();
	sp = json_object();
	json_object_foreach(fpools, name, fp) {
		json_t *c = json_object(), *pv = json_object_get(d->prev, name);

		json_object_set_new(c, "total", json_integer((json_int_t)responses_total(fp)));
		json_object_set(c, "upstream", json_object_get(fp, "upstream"));
		if (pv != NULL && d->prev_ms != 0) {
			json_t *s = json_object();
			double secs = (double)(now - d->prev_ms) / 1000.0;
			uint64_t dn = responses_total(fp) -
			    (uint64_t)json_integer_value(json_object_get(pv, "total"));

			json_object_set_new(s, "rps", json_real((double)dn / secs));
			json_object_set_new(s, "p99_ms", p99_between(json_object_get(fp, "upstream"),
			    json_object_get(pv, "upstream")));
			json_object_set_new(sp, name, s);
		}
		json_object_set_new(cur, name, c);
	}
	if (d->prev_ms != 0) {
		json_object_set_new(sample, "t", json_integer((json_int_t)time(NULL)));
		json_object_set_new(sample, "pools", sp);
		json_decref(d->ring[d->ring_head]);
		d->ring[d->ring_head] = sample;
		d->ring_head = (d->ring_head + 1) % DASH_SAMPLES;
		if (d->nring < DASH_SAMPLES)
			d->nring++;
	} else {
		json_decref(sp);
		json_decref(sample);
	}
	json_decref(d->prev);
	d->prev = cur;
	d->prev_ms = now;
}

/* The samples, oldest first, and the interval. */
json_t *
dashboard_history(struct master *m)
{
	struct dashboard *d = m->dash;
	json_t *o = json_object(), *arr = json_array();

	json_object_set_new(o, "interval_s", json_integer(DASH_SAMPLE_MS / 1000));
	if (d != NULL)
		for (unsigned i = 0; i < d->nring; i++) {
			unsigned k = (d->ring_head + DASH_SAMPLES - d->nring + i) % DASH_SAMPLES;

			json_array_append(arr, d->ring[k]);
		}
	json_object_set_new(o, "samples", arr);
	return o;
}
