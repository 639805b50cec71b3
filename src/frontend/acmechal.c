/*
 * acmechal.c - the front end's side of ACME HTTP-01 (RFC 8555 §8.3).
 *
 * The master's ACME helper gets a token from the CA; the master hands the
 * front end the token and its key authorization (CTL_ACME_CHALLENGE) and
 * the front end answers GET /.well-known/acme-challenge/TOKEN for requests
 * routed to that site with the key authorization, as text/plain.  The
 * front end never reads state_dir: what it answers comes only over the
 * control channel.  The table is shared by the threads (the control
 * channel is read by thread 0), guarded by one mutex; it holds a handful
 * of entries at a time and is consulted only for paths under the
 * well-known prefix, so the lock is never on the path of ordinary requests.
 * A token not in the table falls through to the site as any other path.
 */
#include <pthread.h>
#include <string.h>

#include "rc.h"
#include "util.h"
#include "frontend.h"

#define ACMECHAL_MAX	64	/* tokens answered at once (sites x hosts in flight) */
#define WELL_KNOWN	"/.well-known/acme-challenge/"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctl_acme_challenge tab[ACMECHAL_MAX];
static size_t ntab;

/*
 * Add, replace or (empty keyauth) withdraw a token.  Returns -1 when the
 * table is full (the master's order then fails at the CA and is retried).
 */
int
acmechal_set(const struct ctl_acme_challenge *msg)
{
	struct ctl_acme_challenge ch = *msg;
	size_t i;
	int rc = 0;

	ch.site[sizeof(ch.site) - 1] = ch.token[sizeof(ch.token) - 1] = '\0';
	ch.keyauth[sizeof(ch.keyauth) - 1] = '\0';
	pthread_mutex_lock(&lock);
	for (i = 0; i < ntab; i++)
		if (strcmp(tab[i].token, ch.token) == 0)
			break;
	if (ch.keyauth[0] == '\0') {
		if (i < ntab)
			tab[i] = tab[--ntab];
	} else if (i < ntab) {
		tab[i] = ch;
	} else if (ntab < ACMECHAL_MAX) {
		tab[ntab++] = ch;
	} else {
		rc = -1;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

/*
 * A request for the well-known path of a token the site has: answer it
 * (200, the key authorization) and return 1; otherwise 0 and the request
 * goes on as any other.
 */
int
acmechal_answer(struct conn *c, struct req *r)
{
	const struct hstr *path = &r->h.path;
	const size_t wl = sizeof(WELL_KNOWN) - 1;
	char keyauth[sizeof(tab[0].keyauth)], *p;
	size_t avail, kl;
	bool found = false;

	/* HTTP-01 is plain http:// (RFC 8555 §8.3); over TLS it is the site's path */
	if (conn_tls(c) != NULL || path->n <= wl || memcmp(path->p, WELL_KNOWN, wl) != 0)
		return 0;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < ntab && !found; i++) {
		if (strlen(tab[i].token) == path->n - wl &&
		    memcmp(tab[i].token, path->p + wl, path->n - wl) == 0 &&
		    strcmp(tab[i].site, r->site->cs->name) == 0) {
			wstrlcpy(keyauth, tab[i].keyauth, sizeof(keyauth));
			found = true;
		}
	}
	pthread_mutex_unlock(&lock);
	if (!found)
		return 0;
	kl = strlen(keyauth);
	if ((p = http1_resp_begin(c, r, 200, &avail)) == NULL || avail < kl + 128) {
		conn_close(c);
		return 1;
	}
	p = PUTS(p, "Content-Type: text/plain\r\nCache-Control: no-store\r\nContent-Length: ");
	p += fmt_u64(p, (uint64_t)kl);
	p = PUTS(p, "\r\n\r\n");
	if (r->h.method != HTTP_M_HEAD)
		p = put(p, keyauth, kl);
	http1_resp_commit(c, r, p);
	return 1;
}
