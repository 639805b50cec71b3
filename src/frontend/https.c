/*
 * https.c - moving a site's clients to HTTPS: `https_redirect = yes` answers
 * a cleartext request with 308 to the same URL over https, and `hsts =`
 * adds Strict-Transport-Security to every response sent over TLS (never
 * over cleartext: RFC 6797 §7.2, a man in the middle could set it there).
 *
 * 308, not 301: a POST stays a POST with its body (RFC 9110 §15.4.9).  The
 * ACME HTTP-01 challenge path is never redirected: the CA fetches it over
 * cleartext and a site that moves to https must still be able to renew.
 */
#include <string.h>
#include <arpa/inet.h>

#include "util.h"
#include "frontend.h"

#define ACME_PREFIX	"/.well-known/acme-challenge/"

/*
 * Does this request get the redirect?  Only on cleartext, never for ACME,
 * and not when a trusted proxy in front of weir says it took the request
 * over https (it terminated TLS: redirecting would loop).
 */
bool
https_redirects(const struct conn *c, const struct req *r)
{
	const struct http_request *h = &r->h;
	const struct http_header *xfp;

	if (conn_tls(c) != NULL || !r->site->cs->https_redirect)
		return false;
	if (h->path.n >= sizeof(ACME_PREFIX) - 1 &&
	    memcmp(h->path.p, ACME_PREFIX, sizeof(ACME_PREFIX) - 1) == 0)
		return false;
	xfp = httpparse_find(h->headers, h->nheaders, "x-forwarded-proto");
	return !(xfp != NULL && hstr_eq_ci(xfp->value, "https") &&
	    forward_trusted(&c->gen->conf->server, &c->peer.sa));
}

/* The port of the site's first TLS address (validation made sure it has one). */
static unsigned
tls_port(const struct conf *cf, const struct conf_site *cs)
{
	const struct conf_listens *ls = cs->listen.n > 0 ? &cs->listen : &cf->server.listen;

	for (size_t i = 0; i < ls->n; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&ls->v[i].ss;

		if (!ls->v[i].tls)
			continue;
		if (sa->sa_family == AF_INET6)
			return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	}
	return 443;
}

/*
 * 308 to https://HOST[:PORT]/path?query: the Host the client sent without
 * its port (an IPv6 literal kept whole), the site's TLS port unless 443,
 * and the request-target's path and query as sent.  The Host was checked
 * by the parser (no CR, LF, quotes or blanks), so it is safe in Location.
 */
int
https_redirect(struct conn *c, struct req *r)
{
	const struct http_request *h = &r->h;
	unsigned port = tls_port(c->gen->conf, r->site->cs);
	size_t hn = 0, avail;
	char *p;

	if (h->host.n == 0)
		return http1_error(c, r, 400, "Hostname");	/* HTTP/1.0: no name to send it to */
	while (hn < h->host.n && !(h->host.p[hn] == ':' && h->host.p[0] != '['))
		hn++;
	if (h->host.p[0] == '[')
		while (hn > 0 && h->host.p[hn - 1] != ']')
			hn--;
	if ((p = http1_resp_begin(c, r, 308, &avail)) == NULL) {
		conn_close(c);
		return WEIR_ERROR;
	}
	if (avail < hn + h->path.n + h->query.n + 64) {
		/* a target this long cannot go in the head: say so plainly */
		return http1_error(c, r, 414, "URL_Length");
	}
	p = PUTS(p, "Location: https://");
	p = put(p, h->host.p, hn);
	if (port != 443) {
		*p++ = ':';
		p += fmt_u64(p, port);
	}
	p = put(p, h->path.p, h->path.n);
	if (h->query.p != NULL) {
		*p++ = '?';
		p = put(p, h->query.p, h->query.n);
	}
	p = PUTS(p, "\r\nContent-Length: 0\r\n\r\n");
	http1_resp_commit(c, r, p);
	return WEIR_OK;
}

/* Has the site's hsts on this connection? */
static const struct conf_hsts *
hsts_of(const struct conn *c, const struct fe_site *site)
{
	if (conn_tls(c) == NULL || site == NULL || !site->cs->hsts.on)
		return NULL;
	return &site->cs->hsts;
}

/*
 * An application's own Strict-Transport-Security gives way to the site's
 * when the site sets one (one header, the configured policy); without
 * `hsts` the application's passes as it is.
 */
bool
https_replaces(struct hstr name, const struct conn *c, const struct fe_site *site)
{
	return hsts_of(c, site) != NULL && hstr_eq_ci(name, "strict-transport-security");
}

/*
 * Strict-Transport-Security for a response on c to a request of site (NULL
 * before routing: no header, the site's policy is unknown).  It writes at
 * most ~90 bytes, which the callers' head reserves cover.
 */
char *
https_put_hsts(char *p, const struct conn *c, const struct fe_site *site)
{
	const struct conf_hsts *hs = hsts_of(c, site);

	if (hs == NULL)
		return p;
	p = PUTS(p, "Strict-Transport-Security: max-age=");
	p += fmt_u64(p, hs->max_age);
	if (hs->subdomains)
		p = PUTS(p, "; includeSubDomains");
	if (hs->preload)
		p = PUTS(p, "; preload");
	return PUTS(p, "\r\n");
}
