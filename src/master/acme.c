/*
 * acme.c - certificates from an ACME CA for sites with `certificate = acme`,
 * as the master runs them.
 *
 * For each such site the master keeps: the certificate it serves (the
 * one issued, from state_dir/acme/SITE.pem, or until the first one
 * arrives a self-signed one it made), when to renew it (two thirds into
 * its lifetime), and when an order failed, the back-off (1m doubling to
 * 1d, with jitter so many sites do not retry in step) and the CA's
 * problem.  The orders themselves run in a helper process forked per
 * order (acmeorder.c): the network is slow and blocking there, never in
 * the master's loop.  The helper asks the master to publish each HTTP-01
 * key authorization; the master hands it to the front end
 * (CTL_ACME_CHALLENGE) and tells the helper to go on once the front end
 * has acknowledged it, so the CA never validates before the answer is
 * there.  An issued or renewed certificate is event 1330 / 1331, a failed
 * order 1332 with the CA's problem document; the site keeps serving what
 * it had.  `weir acme renew SITE` (POST /acme/SITE/renew) starts an order
 * now.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "master.h"

#define ACME_BACKOFF_FIRST_MS	(60 * 1000ull)
#define ACME_BACKOFF_MAX_MS	(24 * 3600 * 1000ull)
#define ACME_ORDER_TIMEOUT_S	300	/* the helper is killed by its alarm after that */
#define ACME_SELF_SIGNED_DAYS	7

static bool
site_wants_acme(const struct conf_site *cs)
{
	for (size_t i = 0; i < cs->certificate.n; i++)
		if (strcmp(cs->certificate.v[i], "acme") == 0)
			return true;
	return false;
}

static void
acme_dir(const struct master *m, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/acme", m->conf->server.state_dir);
}

static void
iso(int64_t t, char *out, size_t outsz)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Arm the site's timer for unix time `at` (now if past). */
static void
schedule_at(struct acme_site *s, int64_t at)
{
	int64_t now = (int64_t)time(NULL);

	s->next_at = at < now ? now : at;
	loop_timer_set(s->m->loop, &s->timer, (uint64_t)(s->next_at - now) * 1000);
}

/*
 * A certificate chain and its key from one PEM file (chain first, then the
 * key), as the helper writes them.  Fills *cert and *key (malloc'd) and
 * the leaf's validity.
 */
static int
read_pair(const char *path, char **cert, char **key, struct acme_cert_info *ci, char *err)
{
	char *text, *k;
	size_t n;

	err[0] = '\0';
	if ((text = read_file(path, 1024 * 1024, &n, err)) == NULL)
		return -1;
	if ((k = strstr(text, "-----BEGIN PRIVATE KEY-----")) == NULL ||
	    acme_cert_info(text, (size_t)(k - text), ci, err) == -1) {
		if (k == NULL)
			snprintf(err, WEIR_ERRLEN, "%s: no certificate and key", path);
		free(text);
		return -1;
	}
	*key = xstrdup(k);
	*k = '\0';
	*cert = text;
	return 0;
}

static void
pem_path(const char *state_dir, const char *site, const char *suffix, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/acme/%s%s.pem", state_dir, site, suffix);
}

/*
 * What a site with `certificate = acme` serves (for loading the sites'
 * certificates, tlsload.c): the issued certificate, else the temporary
 * self-signed one the master keeps beside it, else (`weir check`, before
 * the master made one) a self-signed one made now.  Malloc'd PEM texts.
 */
int
acme_pem(const struct conf *c, const struct conf_site *cs, char **cert, char **key, char *err)
{
	struct acme_cert_info ci;
	char path[4200];

	pem_path(c->server.state_dir, cs->name, "", path, sizeof(path));
	if (read_pair(path, cert, key, &ci, err) == 0)
		return 0;
	pem_path(c->server.state_dir, cs->name, ".self", path, sizeof(path));
	if (read_pair(path, cert, key, &ci, err) == 0)
		return 0;
	return acme_self_signed((const char *const *)cs->hosts.v, cs->hosts.n,
	    ACME_SELF_SIGNED_DAYS, cert, key, err);
}

/*
 * The certificate the site serves from now: the file's, if it holds a
 * certificate and key (a broken file is reported by the caller and
 * ignored, so the site keeps what it had).  Returns 0 when it was taken.
 */
static int
load_file(struct acme_site *s, char *err)
{
	struct acme_cert_info ci;
	char path[4200], *cert, *key;

	pem_path(s->m->conf->server.state_dir, s->name, "", path, sizeof(path));
	if (read_pair(path, &cert, &key, &ci, err) == -1)
		return -1;
	free(s->cert_pem);
	free(s->key_pem);
	s->cert_pem = cert;
	s->key_pem = key;
	s->ci = ci;
	s->self_signed = false;
	return 0;
}

/*
 * The site's certificate changed (issued, renewed, a new temporary one):
 * load every site's certificates again and hand them to the running front
 * end, which uses them for new handshakes; open connections keep theirs.
 */
static void
certs_changed(struct master *m)
{
	struct conf_errors errs = { NULL, 0 };
	struct tls_checked chk = { { NULL, 0 }, NULL, 0 };
	char *blob;
	size_t len;

	if (tlsload_conf(m->conf, &blob, &len, &errs, &chk) > 0) {
		for (size_t i = 0; i < errs.n; i++)
			log_warnx("certificates not reloaded: %s", errs.msg[i]);
		conf_errors_clear(&errs);
		tlscheck_checked_free(&chk);
		return;
	}
	/* the files' certificates are the same ones: what was said of them stays */
	tlsexpiry_set(m, &chk);
	tlscheck_checked_free(&chk);
	tlsload_set(m, blob, len);
	/* -1: no front end now; the next one starts with these */
	(void)tlsload_push(m);
}

static int64_t
renew_time(const struct acme_cert_info *ci)
{
	return ci->not_before + (ci->not_after - ci->not_before) * 2 / 3;
}

/*
 * The stand-in certificate until the first one is issued, kept beside the
 * issued one (SITE.self.pem) so that every load of the sites'
 * certificates serves the same one.  With `reuse`, the one kept there
 * from before (a restart) is taken while it has a day left.
 */
static void
make_self_signed(struct acme_site *s, bool reuse)
{
	char err[WEIR_ERRLEN], path[4200], *both;
	size_t n;

	free(s->cert_pem);
	free(s->key_pem);
	s->cert_pem = s->key_pem = NULL;
	pem_path(s->m->conf->server.state_dir, s->name, ".self", path, sizeof(path));
	if (reuse && read_pair(path, &s->cert_pem, &s->key_pem, &s->ci, err) == 0) {
		s->self_signed = true;
		if (s->ci.not_after > (int64_t)time(NULL) + 86400)
			return;
		free(s->cert_pem);
		free(s->key_pem);
		s->cert_pem = s->key_pem = NULL;
	}
	if (acme_self_signed((const char *const *)s->hosts, s->nhosts, ACME_SELF_SIGNED_DAYS,
	    &s->cert_pem, &s->key_pem, err) == -1 ||
	    acme_cert_info(s->cert_pem, strlen(s->cert_pem), &s->ci, err) == -1) {
		log_warnx("site %s: temporary certificate: %s", s->name, err);
		return;
	}
	s->self_signed = true;
	n = strlen(s->cert_pem) + strlen(s->key_pem) + 1;
	both = xmalloc(n);
	snprintf(both, n, "%s%s", s->cert_pem, s->key_pem);
	if (acme_write_file(path, both, n - 1, 0600, err) == -1)
		log_warnx("site %s: temporary certificate: %s", s->name, err);
	free(both);
}

/* Tell the front end to answer (or, keyauth NULL, stop answering) the site's token. */
static void
send_challenge(struct acme_site *s, const char *keyauth)
{
	struct ctl_acme_challenge ch;

	if (s->m->fe.pid == 0 || s->token[0] == '\0')
		return;
	memset(&ch, 0, sizeof(ch));
	wstrlcpy(ch.site, s->name, sizeof(ch.site));
	wstrlcpy(ch.token, s->token, sizeof(ch.token));
	if (keyauth != NULL)
		wstrlcpy(ch.keyauth, keyauth, sizeof(ch.keyauth));
	feproc_send(s->m, CTL_ACME_CHALLENGE, &ch, sizeof(ch), NULL, 0);
}

static void
reply_helper(struct acme_site *s)
{
	static const char ok[] = "{\"ok\":true}";

	if (s->fd != -1 && send(s->fd, ok, sizeof(ok) - 1, MSG_NOSIGNAL) == -1)
		log_warn("site %s: to the ACME helper", s->name);
}

/* The order ended: withdraw its token, close the channel. */
static void
order_ended(struct acme_site *s)
{
	send_challenge(s, NULL);
	s->token[0] = '\0';
	free(s->keyauth);
	s->keyauth = NULL;
	if (s->fd != -1) {
		loop_io_del(s->m->loop, &s->io);
		close(s->fd);
		s->fd = -1;
	}
}

static void
succeeded(struct acme_site *s)
{
	char err[WEIR_ERRLEN] = "", na[32], ra[32], prev[sizeof(s->ci.serial)];
	bool renewal = !s->self_signed && s->cert_pem != NULL;
	json_t *f;

	wstrlcpy(prev, renewal ? s->ci.serial : "", sizeof(prev));
	if (load_file(s, err) == -1) {
		log_warnx("site %s: the ACME helper said done, but %s", s->name, err);
		return;
	}
	s->failures = 0;
	s->backoff_ms = 0;
	s->last_error[0] = '\0';
	s->state = ACME_VALID;
	iso(s->ci.not_after, na, sizeof(na));
	iso(renew_time(&s->ci), ra, sizeof(ra));
	f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "site", s->name, "serial", s->ci.serial,
	    "issuer", s->ci.issuer, "not_after", na, "renew_at", ra,
	    "directory", s->m->conf->server.acme_directory);
	if (renewal) {
		json_object_set_new(f, "previous_serial", json_string(prev));
		events_emit(1331, EV_INFO, NULL, 0, f,
		    "The certificate of site '%s' was renewed by the ACME CA (serial %s, valid until %s).",
		    s->name, s->ci.serial, na);
	} else {
		events_emit(1330, EV_INFO, NULL, 0, f,
		    "The certificate of site '%s' was issued by the ACME CA (serial %s, valid until %s).",
		    s->name, s->ci.serial, na);
	}
	schedule_at(s, renew_time(&s->ci));
	certs_changed(s->m);
}

/*
 * The order failed: event 1332 with the CA's problem, and the next
 * attempt after the back-off (1m doubling to 1d, +-10% jitter); the site
 * keeps serving what it had.
 */
static void
failed(struct acme_site *s, const char *detail, json_t *problem)
{
	char nx[32];
	uint64_t d;
	json_t *f;

	s->backoff_ms = s->backoff_ms == 0 ? ACME_BACKOFF_FIRST_MS :
	    s->backoff_ms * 2 > ACME_BACKOFF_MAX_MS ? ACME_BACKOFF_MAX_MS : s->backoff_ms * 2;
	d = s->backoff_ms / 10 * 9 + arc4random_uniform((uint32_t)(s->backoff_ms / 5 + 1));
	s->failures++;
	s->state = ACME_FAILED;
	if (s->self_signed && s->ci.not_after < (int64_t)time(NULL) + 86400) {
		/* still no certificate: a fresh temporary one before this one expires */
		make_self_signed(s, false);
		certs_changed(s->m);
	}
	wstrlcpy(s->last_error, detail, sizeof(s->last_error));
	s->last_error_at = (int64_t)time(NULL);
	schedule_at(s, s->last_error_at + (int64_t)((d + 999) / 1000));
	iso(s->next_at, nx, sizeof(nx));
	f = json_pack("{s:s, s:s, s:O?, s:i, s:s, s:I, s:s}", "site", s->name, "detail", detail,
	    "problem", problem, "failures", (int)s->failures, "next_attempt", nx,
	    "retry_in_s", (json_int_t)(s->next_at - s->last_error_at),
	    "serving", s->self_signed ? "self-signed" : s->cert_pem ? "previous certificate" : "none");
	events_emit(1332, s->self_signed ? EV_ERROR : EV_WARNING, NULL, 0, f,
	    "The ACME order for site '%s' failed: %s. Next attempt at %s; the site keeps its %s certificate.",
	    s->name, detail, nx, s->self_signed ? "temporary self-signed" : "current");
}

/* One message from the helper. */
static void
helper_msg(struct acme_site *s, const char *buf, size_t n)
{
	json_t *j = json_loadb(buf, n, 0, NULL), *v;

	if ((v = json_object_get(j, "challenge")) != NULL) {
		const char *tok = json_string_value(json_object_get(v, "token"));
		const char *ka = json_string_value(json_object_get(v, "keyauth"));

		if (tok != NULL && ka != NULL && strlen(tok) < sizeof(s->token)) {
			send_challenge(s, NULL);	/* the previous host's, if any */
			wstrlcpy(s->token, tok, sizeof(s->token));
			free(s->keyauth);
			s->keyauth = xstrdup(ka);
			send_challenge(s, ka);	/* acknowledged: acme_fe_ack() */
		}
	} else if (json_object_get(j, "done") != NULL) {
		s->outcome = 1;
	} else if ((v = json_object_get(j, "failed")) != NULL) {
		s->outcome = -1;
		const char *d = json_string_value(json_object_get(v, "detail"));

		wstrlcpy(s->fail_detail, d != NULL ? d : "?", sizeof(s->fail_detail));
		json_decref(s->problem);
		s->problem = json_incref(json_object_get(v, "problem"));
	} else {
		log_warnx("site %s: unexpected message from the ACME helper", s->name);
	}
	json_decref(j);
}

static void
on_helper(void *arg, uint32_t events)
{
	struct acme_site *s = arg;
	char buf[8192];
	ssize_t n;

	(void)events;
	while ((n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		helper_msg(s, buf, (size_t)n);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		loop_io_del(s->m->loop, &s->io);
		close(s->fd);
		s->fd = -1;
	}
}

/* Fork the helper for one order of the site. */
static void
start_order(struct acme_site *s)
{
	struct master *m = s->m;
	struct acme_job job;
	char err[WEIR_ERRLEN];
	sigset_t none;
	int sv[2];
	pid_t pid;

	if (s->pid != 0)
		return;
	memset(&job, 0, sizeof(job));
	job.directory = m->conf->server.acme_directory;
	job.email = m->conf->server.acme_email;
	job.ca_file = m->conf->server.acme_ca_file;
	acme_dir(m, job.dir, sizeof(job.dir));
	job.site = s->name;
	job.hosts = s->hosts;
	job.nhosts = s->nhosts;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		snprintf(err, sizeof(err), "socketpair: %s", strerror(errno));
		failed(s, err, NULL);
		return;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, sizeof(err), "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		failed(s, err, NULL);
		return;
	}
	if (pid == 0) {
		/* the master's sockets and signals are not the helper's */
		if (dup2(sv[1], 3) == -1)
			_exit(1);
		close_range(4, ~0u, 0);
		sigemptyset(&none);
		signal(SIGPIPE, SIG_IGN);
		sigprocmask(SIG_SETMASK, &none, NULL);
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);	/* never outlives the master */
		if (getppid() == 1)
			_exit(1);
		alarm(ACME_ORDER_TIMEOUT_S);
		acme_helper_main(&job, 3);
	}
	close(sv[1]);
	s->pid = pid;
	s->fd = sv[0];
	s->outcome = 0;
	s->fail_detail[0] = '\0';
	s->state = ACME_ORDERING;
	if (fd_nonblock(s->fd) == -1 ||
	    loop_io_add(m->loop, &s->io, s->fd, LOOP_READ, on_helper, s) == -1)
		log_warn("site %s: ACME helper channel", s->name);
	log_info("site %s: ACME order started (helper pid %d, %s)", s->name, (int)pid,
	    job.directory);
}

static void
on_timer(void *arg)
{
	start_order(arg);
}

static struct acme_site *
site_new(struct master *m, const struct conf_site *cs, bool reuse)
{
	struct acme_site *s = xcalloc(1, sizeof(*s));
	char err[WEIR_ERRLEN] = "";

	s->m = m;
	wstrlcpy(s->name, cs->name, sizeof(s->name));
	s->fd = -1;
	s->io.fd = -1;
	loop_timer_init(&s->timer, on_timer, s);
	s->hosts = xcalloc(cs->hosts.n + 1, sizeof(char *));
	for (size_t i = 0; i < cs->hosts.n; i++)
		s->hosts[i] = xstrdup(cs->hosts.v[i]);
	s->nhosts = cs->hosts.n;
	if (load_file(s, err) == 0) {
		s->state = ACME_VALID;
		schedule_at(s, renew_time(&s->ci));
	} else {
		char path[4200];

		pem_path(m->conf->server.state_dir, s->name, "", path, sizeof(path));
		if (access(path, F_OK) == 0)	/* there, but not usable */
			log_warnx("site %s: %s; ordering a new certificate", s->name, err);
		s->state = ACME_PENDING;
		make_self_signed(s, reuse);
		schedule_at(s, 0);
	}
	return s;
}

static void
site_free(struct acme_site *s)
{
	loop_timer_cancel(s->m->loop, &s->timer);
	order_ended(s);
	if (s->pid > 0) {
		/* the order is abandoned: the helper's file write is atomic */
		kill(s->pid, SIGKILL);
		while (waitpid(s->pid, NULL, 0) == -1 && errno == EINTR)
			;
	}
	for (size_t i = 0; i < s->nhosts; i++)
		free(s->hosts[i]);
	free(s->hosts);
	free(s->cert_pem);
	free(s->key_pem);
	free(s->keyauth);
	json_decref(s->problem);
	free(s);
}

/*
 * Make the set of ACME sites match the configuration (at start and after
 * a reload): new sites start, removed ones end their order, a site whose
 * hosts changed orders a certificate for the new names.
 */
void
acme_configure(struct master *m)
{
	struct acme_site **v = xcalloc(m->conf->nsites + 1, sizeof(*v));
	char dir[4096];
	size_t n = 0;
	bool changed = false;

	acme_dir(m, dir, sizeof(dir));
	for (size_t i = 0; i < m->conf->nsites; i++) {
		const struct conf_site *cs = &m->conf->sites[i];
		struct acme_site *s = NULL;

		if (!site_wants_acme(cs))
			continue;
		if (n == 0 && mkdir(dir, 0700) == -1 && errno != EEXIST)
			log_warn("%s", dir);
		for (size_t j = 0; j < m->nacme; j++) {
			if (m->acme[j] != NULL && strcmp(m->acme[j]->name, cs->name) == 0) {
				s = m->acme[j];
				m->acme[j] = NULL;
			}
		}
		if (s != NULL) {
			bool same = s->nhosts == cs->hosts.n;

			for (size_t h = 0; same && h < s->nhosts; h++)
				same = strcmp(s->hosts[h], cs->hosts.v[h]) == 0;
			if (!same) {
				/* new names: a new certificate (and temporary one) for them */
				site_free(s);
				v[n++] = site_new(m, cs, false);
				changed = true;
				continue;
			}
		}
		if (s == NULL)
			changed = true;
		v[n++] = s != NULL ? s : site_new(m, cs, true);
	}
	for (size_t j = 0; j < m->nacme; j++)
		if (m->acme[j] != NULL)
			site_free(m->acme[j]);
	free(m->acme);
	m->acme = v;
	m->nacme = n;
	if (changed)	/* the certificates loaded before may be other temporary ones */
		certs_changed(m);
}

void
acme_free(struct master *m)
{
	for (size_t j = 0; j < m->nacme; j++)
		site_free(m->acme[j]);
	free(m->acme);
	m->acme = NULL;
	m->nacme = 0;
}

struct acme_site *
acme_find(struct master *m, const char *site)
{
	for (size_t i = 0; i < m->nacme; i++)
		if (strcmp(m->acme[i]->name, site) == 0)
			return m->acme[i];
	return NULL;
}

/* waitpid() reaped `pid`: if it was a helper, settle its order.  */
bool
acme_reaped(struct master *m, pid_t pid, int status)
{
	for (size_t i = 0; i < m->nacme; i++) {
		struct acme_site *s = m->acme[i];
		char how[128], detail[WEIR_ERRLEN + 64];

		if (s->pid != pid)
			continue;
		s->pid = 0;
		if (s->fd != -1)
			on_helper(s, 0);	/* what it said before it ended */
		order_ended(s);
		if (m->stopping && s->outcome != 1) {
			/* weir stops: the order is abandoned, not failed (next start orders) */
		} else if (s->outcome == 1) {
			succeeded(s);
		} else if (s->outcome == -1) {
			failed(s, s->fail_detail, s->problem);
		} else {
			wait_status_words(status, how, sizeof(how));
			snprintf(detail, sizeof(detail), "the ACME helper ended (%s)%s", how,
			    WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ?
			    ": the order took too long" : "");
			failed(s, detail, NULL);
		}
		json_decref(s->problem);
		s->problem = NULL;
		return true;
	}
	return false;
}

/* The front end answers the token now: the helper may have the CA validate. */
void
acme_fe_ack(struct master *m, const struct ctl_acme_challenge *ch)
{
	char site[sizeof(ch->site)], token[sizeof(ch->token)];
	struct acme_site *s;

	memcpy(site, ch->site, sizeof(site));
	site[sizeof(site) - 1] = '\0';
	memcpy(token, ch->token, sizeof(token));
	token[sizeof(token) - 1] = '\0';
	if (ch->keyauth[0] != '\0' && (s = acme_find(m, site)) != NULL &&
	    strcmp(s->token, token) == 0)
		reply_helper(s);
}

/* A new front end knows no tokens: hand it those of the orders in flight. */
void
acme_fe_hello(struct master *m)
{
	for (size_t i = 0; i < m->nacme; i++)
		if (m->acme[i]->keyauth != NULL)
			send_challenge(m->acme[i], m->acme[i]->keyauth);
}

/* POST /acme/SITE/renew: an order now, whatever the schedule says. */
int
acme_admin_renew(struct master *m, const char *site, char *msg, size_t msgsz)
{
	struct acme_site *s = acme_find(m, site);

	if (s == NULL) {
		snprintf(msg, msgsz, "site '%s' has no certificate = acme", site);
		return 404;
	}
	if (s->pid != 0) {
		snprintf(msg, msgsz, "an order for site '%s' is already running", site);
		return 409;
	}
	loop_timer_cancel(m->loop, &s->timer);
	start_order(s);
	snprintf(msg, msgsz, "order for site '%s' started", site);
	return 202;
}

static const char *
state_name(int st)
{
	switch (st) {
	case ACME_PENDING:	return "pending";
	case ACME_ORDERING:	return "ordering";
	case ACME_VALID:	return "valid";
	default:		return "failed";
	}
}

/* The ACME sites for `weir status`. */
json_t *
acme_json(const struct master *m)
{
	json_t *a = json_array();
	char t[32];

	for (size_t i = 0; i < m->nacme; i++) {
		const struct acme_site *s = m->acme[i];
		json_t *o = json_object(), *hosts = json_array();

		for (size_t h = 0; h < s->nhosts; h++)
			json_array_append_new(hosts, json_string(s->hosts[h]));
		json_object_set_new(o, "site", json_string(s->name));
		json_object_set_new(o, "hosts", hosts);
		json_object_set_new(o, "state", json_string(state_name(s->state)));
		json_object_set_new(o, "self_signed", json_boolean(s->self_signed));
		json_object_set_new(o, "serial", json_string(s->ci.serial));
		json_object_set_new(o, "issuer", json_string(s->ci.issuer));
		iso(s->ci.not_after, t, sizeof(t));
		json_object_set_new(o, "not_after", json_string(t));
		iso(s->next_at, t, sizeof(t));
		json_object_set_new(o, "next_attempt", s->pid != 0 ? json_null() : json_string(t));
		json_object_set_new(o, "helper_pid", s->pid != 0 ? json_integer(s->pid) : json_null());
		json_object_set_new(o, "failures", json_integer(s->failures));
		json_object_set_new(o, "last_error", s->last_error[0] ? json_string(s->last_error) :
		    json_null());
		json_array_append_new(a, o);
	}
	return a;
}
