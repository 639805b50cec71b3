/*
 * tlsexpiry.c - how long each site's certificate has left, and the events
 * that say so before it is too late.
 *
 * The master reads every certificate at start and on each reload
 * (tlsload.c, whose checks in tlscheck.c read the notAfter) and keeps their notAfter here: `weir status` and /metrics
 * (weir_tls_certificate_expiry_seconds) show the seconds left, and once
 * an hour (and at start and reload) a certificate that has 14 days or less
 * left gets event 1316 and one with 3 days or less (or already expired)
 * event 1317.  Each is emitted once per certificate: the flags survive a
 * reload as long as the same site has the same file with the same
 * notAfter, so an hourly check or a reload does not repeat them, and a
 * renewed certificate (a new notAfter) starts afresh.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"
#include "master.h"

#define WARN_14D_S	(14 * 86400)
#define WARN_3D_S	(3 * 86400)
#define CHECK_EVERY_MS	(3600 * 1000)

#define SENT_14D	0x1
#define SENT_3D		0x2

/* Free the array of certificates in force. */
static void
expiry_free(struct tls_expiry *v, size_t n)
{
	struct tls_checked k = { { NULL, 0 }, v, n };

	tlscheck_checked_free(&k);
}

static void
iso(time_t t, char *buf, size_t bufsz)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, bufsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Emit what is due for one certificate and remember it. */
static void
check_one(struct tls_expiry *e, time_t now)
{
	long long left = (long long)(e->not_after - now);
	char when[32];
	json_t *f;

	if (left > WARN_14D_S || (e->sent & SENT_3D) ||
	    (left > WARN_3D_S && (e->sent & SENT_14D)))
		return;
	iso(e->not_after, when, sizeof(when));
	f = json_pack("{s:s, s:s, s:s, s:I}", "site", e->site, "certificate", e->path,
	    "not_after", when, "expires_in_s", (json_int_t)left);
	if (left <= 0) {
		events_emit(1317, EV_ERROR, NULL, 0, f,
		    "The certificate %s of site '%s' expired on %s.", e->path, e->site, when);
	} else if (left <= WARN_3D_S) {
		events_emit(1317, EV_ERROR, NULL, 0, f,
		    "The certificate %s of site '%s' expires on %s (in %lld hours).",
		    e->path, e->site, when, left / 3600);
	} else {
		events_emit(1316, EV_WARNING, NULL, 0, f,
		    "The certificate %s of site '%s' expires on %s (in %lld days).",
		    e->path, e->site, when, left / 86400);
	}
	/* within 3 days the 14-day warning is said by the 3-day one */
	e->sent |= left <= WARN_3D_S ? SENT_3D | SENT_14D : SENT_14D;
}

static void
check_all(struct master *m)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < m->ntls_exp; i++)
		check_one(&m->tls_exp[i], now);
}

static void
on_timer(void *arg)
{
	struct master *m = arg;

	check_all(m);
	loop_timer_set(m->loop, &m->tls_exp_timer, CHECK_EVERY_MS);
}

/*
 * Take the certificates of the configuration now in force (k's, from
 * tlsload_conf(); they move here and k keeps its warnings), keep what was
 * already said about the unchanged ones, and check them now.
 */
void
tlsexpiry_set(struct master *m, struct tls_checked *k)
{
	struct tls_expiry *v = k->exp;
	size_t n = k->nexp;

	k->exp = NULL;
	k->nexp = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < m->ntls_exp; j++)
			if (strcmp(v[i].site, m->tls_exp[j].site) == 0 &&
			    strcmp(v[i].path, m->tls_exp[j].path) == 0 &&
			    v[i].not_after == m->tls_exp[j].not_after)
				v[i].sent = m->tls_exp[j].sent;
	expiry_free(m->tls_exp, m->ntls_exp);
	m->tls_exp = v;
	m->ntls_exp = n;
	check_all(m);
}

/* At start, once the event log and the loop exist: tlsexpiry_set() and the hourly check. */
void
tlsexpiry_start(struct master *m, struct tls_checked *k)
{
	loop_timer_init(&m->tls_exp_timer, on_timer, m);
	loop_timer_set(m->loop, &m->tls_exp_timer, CHECK_EVERY_MS);
	tlsexpiry_set(m, k);
}

/* For status: [{"site", "certificate", "not_after", "expires_in_s"}]. */
json_t *
tlsexpiry_json(const struct master *m)
{
	json_t *a = json_array();
	time_t now = time(NULL);
	char when[32];

	for (size_t i = 0; i < m->ntls_exp; i++) {
		const struct tls_expiry *e = &m->tls_exp[i];

		iso(e->not_after, when, sizeof(when));
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I}", "site", e->site,
		    "certificate", e->path, "not_after", when,
		    "expires_in_s", (json_int_t)(e->not_after - now)));
	}
	return a;
}

/* At exit, after the loop (and with it the hourly timer) is gone. */
void
tlsexpiry_free(struct master *m)
{
	expiry_free(m->tls_exp, m->ntls_exp);
	m->tls_exp = NULL;
	m->ntls_exp = 0;
}
