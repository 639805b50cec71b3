/*
 * router.c - configuration generations and request routing.
 *
 * A generation turns a struct conf into what the hot path needs: per listen
 * address, the sites with their host names and the default site; per site,
 * its root (siteroot.c), its aliases (each a root of its own) and the app
 * prefixes sorted longest first.  It is immutable once built and shared by
 * every thread; a reload builds a new one and threads switch between
 * requests.  Before a request is routed, the site's rewrite rules run on
 * its path (router_rewrite(), rewrite.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>

#include "log.h"
#include "util.h"
#include "frontend.h"

static int
route_cmp(const void *a, const void *b)
{
	const struct fe_route *x = a, *y = b;

	return x->len < y->len ? 1 : x->len > y->len ? -1 : 0;
}

static int
alias_cmp(const void *a, const void *b)
{
	const struct fe_alias *x = a, *y = b;

	return x->len < y->len ? 1 : x->len > y->len ? -1 : 0;
}

static uint16_t
ss_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

static bool
ss_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (ss->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr,
		    &in6addr_any, sizeof(in6addr_any)) == 0;
	return false;
}

int
router_addr_index(struct frontend *fe, const struct sockaddr_storage *ss, socklen_t len)
{
	size_t n = atomic_load(&fe->naddrs);

	for (size_t i = 0; i < n; i++)
		if (fe->addrs[i].sslen == len && memcmp(&fe->addrs[i].ss, ss, len) == 0)
			return (int)i;
	return -1;
}

/* Did the master say, when it started this front end, that the site is down? */
static int
down_at_start(const struct frontend *fe, const char *name)
{
	for (size_t i = 0; i < fe->st->ndown_sites; i++)
		if (strcmp(fe->st->down_sites[i], name) == 0)
			return EIO;	/* any errno: what counts is "down" */
	return 0;
}

/*
 * The counters and root state of the site called name, created on first
 * use.  Only the thread building a generation calls this (start, reload),
 * so the list needs no lock; the counters themselves are per thread.
 */
static struct site_stats *
site_stats(struct frontend *fe, const char *name)
{
	struct site_stats *ss;

	for (ss = fe->site_stats; ss != NULL; ss = ss->next)
		if (strcmp(ss->name, name) == 0)
			return ss;
	ss = xcalloc(1, sizeof(*ss));
	ss->name = xstrdup(name);
	ss->sc = xcalloc_aligned(fe->nthreads ? fe->nthreads : 1, sizeof(*ss->sc), 64);
	atomic_init(&ss->down, down_at_start(fe, name));
	ss->next = fe->site_stats;
	fe->site_stats = ss;
	return ss;
}

void
router_free_stats(struct frontend *fe)
{
	while (fe->site_stats != NULL) {
		struct site_stats *ss = fe->site_stats;

		fe->site_stats = ss->next;
		free(ss->sc);
		free(ss->name);
		free(ss);
	}
}

/*
 * A site's aliases: each directory is a root like the site's own (checked
 * per thread, its outages told to the master as site "SITE:PREFIX"), with
 * the site's settings (symlinks, index, listing, scripts never sent as
 * source) and a static handler that skips the prefix.
 */
static void
build_aliases(struct frontend *fe, struct fe_site *s)
{
	const struct conf_site *cs = s->cs;

	s->naliases = cs->naliases;
	s->aliases = xcalloc(cs->naliases ? cs->naliases : 1, sizeof(*s->aliases));
	for (size_t j = 0; j < cs->naliases; j++) {
		struct fe_alias *a = &s->aliases[j];
		const struct conf_alias *ca = &cs->aliases[j];

		a->prefix = ca->prefix;
		a->len = ca->prefixlen;
		if (asprintf(&a->name, "%s:%s", cs->name, ca->prefix) < 0)
			fatal("out of memory");
	}
	/* sorted before the sites point into the array */
	qsort(s->aliases, s->naliases, sizeof(*s->aliases), alias_cmp);
	for (size_t j = 0; j < s->naliases; j++) {
		struct fe_alias *a = &s->aliases[j];

		a->cs = *cs;
		a->cs.name = a->name;
		for (size_t k = 0; k < cs->naliases; k++)
			if (cs->aliases[k].prefix == a->prefix)
				a->cs.root = cs->aliases[k].dir;
		a->cs.naliases = 0;
		a->site.cs = &a->cs;
		a->site.idx = s->idx;
		a->site.stats = site_stats(fe, a->name);
		a->site.sc = a->site.stats->sc;
		siteroot_init(fe, &a->site);
		a->site.static_h = static_new(&a->site, a->len);
	}
}

static void
free_aliases(struct fe_site *s)
{
	for (size_t j = 0; j < s->naliases; j++) {
		siteroot_free(&s->aliases[j].site);
		s->aliases[j].site.static_h->dispose(s->aliases[j].site.static_h);
		free(s->aliases[j].name);
	}
	free(s->aliases);
}

struct fe_gen *
router_build(struct frontend *fe, struct conf *c, bool owned,
    uint32_t generation)
{
	struct fe_gen *g = xcalloc(1, sizeof(*g));

	g->conf = c;
	g->conf_owned = owned;
	g->generation = generation;
	atomic_init(&g->refs, 1);
	g->nsites = c->nsites;
	g->sites = xcalloc(c->nsites, sizeof(*g->sites));
	for (size_t i = 0; i < c->nsites; i++) {
		struct fe_site *s = &g->sites[i];
		const struct conf_site *cs = &c->sites[i];

		s->cs = cs;
		s->idx = (unsigned)i + 1;
		s->stats = site_stats(fe, cs->name);
		s->sc = s->stats->sc;
		if (cs->root != NULL) {
			/* unavailable: that site answers 503, the others serve */
			siteroot_init(fe, s);
			s->static_h = static_new(s, 0);
		}
		build_aliases(fe, s);
		s->nroutes = cs->napps;
		s->routes = xcalloc(cs->napps, sizeof(*s->routes));
		for (size_t j = 0; j < cs->napps; j++) {
			s->routes[j].prefix = cs->apps[j].prefix;
			s->routes[j].len = cs->apps[j].prefixlen;
			s->routes[j].app = &cs->apps[j];
			s->routes[j].pool = queue_pool_by_name(fe, cs->apps[j].pool);
			if (c->pools[cs->apps[j].pool_idx].kind == POOL_KIND_FASTCGI)
				s->routes[j].h = fastcgi_new(fe, s->routes[j].pool, &cs->apps[j]);
			else
				s->routes[j].h = proxy_new(fe, s->routes[j].pool, &cs->apps[j]);
		}
		qsort(s->routes, s->nroutes, sizeof(*s->routes), route_cmp);
		s->nscripts = cs->nscripts;
		s->scripts = xcalloc(cs->nscripts ? cs->nscripts : 1, sizeof(*s->scripts));
		for (size_t j = 0; j < cs->nscripts; j++) {
			s->scripts[j].ext = cs->scripts[j].ext;
			s->scripts[j].extlen = cs->scripts[j].extlen;
			s->scripts[j].pool = queue_pool_by_name(fe, cs->scripts[j].pool);
		}
	}
	g->naddrs = atomic_load(&fe->naddrs);
	g->addrs = xcalloc(g->naddrs ? g->naddrs : 1, sizeof(*g->addrs));
	for (size_t a = 0; a < g->naddrs; a++) {
		struct fe_addr *fa = &g->addrs[a];

		fa->ss = fe->addrs[a].ss;
		fa->sslen = fe->addrs[a].sslen;
		if (!atomic_load(&fe->addrs[a].alive))
			continue;	/* removed by a reload: no site listens there */
		fa->port = ss_port(&fa->ss);
		fa->wildcard = ss_wildcard(&fa->ss);
		{
			const struct conf_listen *cl = conf_listen_find(c, &fa->ss, fa->sslen);

			/* validation made every listing of an address agree: one decides */
			fa->h2c = cl != NULL && cl->h2c;
			fa->proxy_protocol = cl != NULL && cl->proxy_protocol;
			fa->health_path = conf_listen_health_path(c, cl);
			if (cl != NULL)
				memcpy(fa->alpn, conf_listen_alpn(cl), sizeof(fa->alpn));
		}
		for (size_t i = 0; i < c->nsites; i++) {
			const struct conf_site *cs = &c->sites[i];
			bool on = false;

			for (size_t j = 0; j < cs->listen.n && !on; j++)
				on = cs->listen.v[j].sslen == fa->sslen &&
				    memcmp(&cs->listen.v[j].ss, &fa->ss, fa->sslen) == 0;
			if (!on)
				continue;
			if (cs->hosts.n == 0) {
				fa->def = &g->sites[i];
			} else {
				fa->sites = xreallocarray(fa->sites, fa->nsites + 1,
				    sizeof(*fa->sites));
				fa->sites[fa->nsites++] = &g->sites[i];
			}
		}
	}
	return g;
}

void
router_free(struct fe_gen *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->nsites; i++) {
		struct fe_site *s = &g->sites[i];

		siteroot_free(s);
		free_aliases(s);
		if (s->static_h != NULL)
			s->static_h->dispose(s->static_h);
		for (size_t j = 0; j < s->nroutes; j++)
			if (s->routes[j].h != NULL && s->routes[j].h->dispose != NULL)
				s->routes[j].h->dispose(s->routes[j].h);
		free(s->routes);
		free(s->scripts);
	}
	for (size_t a = 0; a < g->naddrs; a++)
		free(g->addrs[a].sites);
	free(g->addrs);
	free(g->sites);
	if (g->conf_owned)
		conf_free(g->conf);
	free(g);
}

/*
 * The site for a request that came in on listen address `addr` with the
 * given Host (or absolute-form authority).  NULL when no site has that host
 * and the address has no default site (the caller answers 421).
 */
struct fe_site *
router_site(const struct fe_gen *g, unsigned addr, struct hstr host)
{
	const struct fe_addr *fa;
	char h[256];
	size_t n = 0;

	if (addr >= g->naddrs)
		return NULL;
	fa = &g->addrs[addr];
	if (fa->nsites == 0 || host.p == NULL)
		return fa->def;
	/* lowercase, strip the port (not inside an IPv6 literal) and a final dot */
	for (size_t i = 0; i < host.n && n < sizeof(h) - 1; i++) {
		char ch = host.p[i];

		if (ch == ':' && (n == 0 || h[0] != '['))
			break;
		if (ch == ']' && h[0] == '[') {
			h[n++] = ch;
			break;
		}
		h[n++] = ascii_lower(ch);
	}
	if (n > 0 && h[n - 1] == '.')
		n--;
	h[n] = '\0';
	/* An exact name wins over any wildcard; among wildcards the longest (tlssel.c). */
	{
		struct fe_site *best = NULL;
		size_t bestrank = 0;

		for (size_t i = 0; i < fa->nsites; i++) {
			size_t r = tlssel_host_rank(&fa->sites[i]->cs->hosts, h, n);

			if (r == TLSSEL_EXACT)
				return fa->sites[i];
			if (r > bestrank) {
				best = fa->sites[i];
				bestrank = r;
			}
		}
		if (best != NULL)
			return best;
	}
	return fa->def;
}

/*
 * The app route for a normalized path: the longest prefix that matches on a
 * segment boundary ("/api" matches "/api" and "/api/x", not "/apix").
 */
const struct fe_route *
router_route(const struct fe_site *s, const char *path, size_t len)
{
	for (size_t i = 0; i < s->nroutes; i++) {
		const struct fe_route *r = &s->routes[i];

		if (r->len == 1 && r->prefix[0] == '/')
			return r;
		if (len >= r->len && memcmp(path, r->prefix, r->len) == 0 &&
		    (len == r->len || path[r->len] == '/' || path[r->len] == '?'))
			return r;
	}
	return NULL;
}

/* The alias whose prefix the normalized path is under, or NULL (as for routes). */
const struct fe_alias *
router_alias(const struct fe_site *s, const char *path, size_t len)
{
	for (size_t i = 0; i < s->naliases; i++) {
		const struct fe_alias *a = &s->aliases[i];

		if (len >= a->len && memcmp(path, a->prefix, a->len) == 0 &&
		    (len == a->len || path[a->len] == '/'))
			return a;
	}
	return NULL;
}

/* The request's query as a pool sees it: the rewritten one, else the client's. */
struct hstr
router_query(const struct req *r)
{
	struct hstr q = r->h.query;

	if (r->target != NULL) {
		const char *p = memchr(r->target, '?', r->targetlen);

		q.p = p != NULL ? p + 1 : NULL;
		q.n = p != NULL ? r->targetlen - (size_t)(p + 1 - r->target) : 0;
	}
	return q;
}

/*
 * Run the site's rewrite rules on r->path (normalized).  Returns 0 to go on
 * routing (r->path, and r->target when it changed), or WEIR_DONE when the
 * request was answered here: a redirect, a return, a loop (500
 * Rewrite_Loop).  The new target is kept in the request block's pin room,
 * after the header section; a request whose head leaves no room for it is a
 * 414.
 */
int
router_rewrite(struct conn *c, struct req *r)
{
	const struct conf_site *cs = r->site->cs;
	char *target = (char *)(r + 1) + r->pinned;
	size_t room = REQ_PIN_ROOM - r->pinned, tlen = 0, avail;
	int st = 0, rc;
	char *p;

	if (c->t->rw_md == NULL) {
		http1_error(c, r, 500, "Internal");
		return WEIR_DONE;
	}
	rc = rewrite_run(cs->rewrites, cs->nrewrites, c->t->rw_md, r->path,
	    sizeof(r->path), &r->pathlen, r->h.query, target, room, &tlen, &st);
	switch (rc) {
	case RWR_NONE:
		return 0;
	case RWR_PATH:
		r->target = target;
		r->targetlen = tlen;
		return 0;
	case RWR_LOOP:
		http1_error(c, r, 500, "Rewrite_Loop");
		return WEIR_DONE;
	default:
		break;
	}
	if (tlen == 0 || st < 300 || st > 399) {
		http1_error(c, r, st, st >= 500 ? "Internal" : NULL);
		return WEIR_DONE;
	}
	if ((p = http1_resp_begin(c, r, st, &avail)) == NULL) {
		conn_close(c);
		return WEIR_DONE;
	}
	if (tlen + 64 > avail) {
		http1_error(c, r, 414, "URL_Length");
		return WEIR_DONE;
	}
	p = PUTS(p, "Location: ");
	p = put(p, target, tlen);
	p = PUTS(p, "\r\nContent-Length: 0\r\n\r\n");
	http1_resp_commit(c, r, p);
	return WEIR_DONE;
}
