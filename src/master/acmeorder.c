/*
 * acmeorder.c - one ACME order (RFC 8555), start to finish, in the ACME
 * helper process.
 *
 * The master forks a helper per order (acme.c) so the CA's slow network
 * never blocks its loop.  The helper runs the protocol in plain blocking
 * steps: directory, nonce, account (newAccount with the account key,
 * which finds the existing account as well), newOrder for the site's
 * hosts, per authorization the HTTP-01 challenge, finalize with a CSR for
 * a new ECDSA P-256 key, polling with Retry-After, and the certificate
 * chain.  It talks to the master over a SOCK_SEQPACKET socket, one JSON
 * object per packet:
 *
 *   helper -> master  {"challenge": {"token": T, "keyauth": K}}
 *   master -> helper  {"ok": true}          (the front end answers it now)
 *   helper -> master  {"done": true}        (certificate file written)
 *   helper -> master  {"failed": {"detail": D, "problem": P|null}}
 *
 * The certificate and its key go to one file, state_dir/acme/SITE.pem
 * (chain, then key; 0600), replaced atomically, so the pair always
 * matches.  A request signed with a nonce the CA rejects (badNonce) is
 * sent again with the nonce of the rejection, up to ACME_NONCE_RETRIES.
 * The whole order is bounded by an alarm (acme.c), so nothing here waits
 * forever.
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

#include <openssl/evp.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "master.h"

#define ACME_NONCE_RETRIES	10	/* a CA may reject any nonce (RFC 8555 §6.5): cheap to retry */
#define ACME_POLLS		60	/* status polls per object */

struct client {
	const struct acme_job *job;
	int		 fd;		/* to the master */
	EVP_PKEY	*acct;
	char		*jwk;
	char		*thumb;
	char		*kid;		/* account URL, once known */
	char		*nonce;
	json_t		*dir;
	json_t		*problem;	/* the CA's problem document of the failure */
};

static const char *
dir_url(struct client *c, const char *name, char *err)
{
	const char *u = json_string_value(json_object_get(c->dir, name));

	if (u == NULL)
		snprintf(err, WEIR_ERRLEN, "the directory has no %s", name);
	return u;
}

static int
fetch_nonce(struct client *c, char *err)
{
	struct acme_resp r;
	const char *u = dir_url(c, "newNonce", err);

	if (u == NULL || acme_http("HEAD", u, NULL, c->job->ca_file, &r, err) == -1)
		return -1;
	free(c->nonce);
	c->nonce = r.nonce;
	r.nonce = NULL;
	acme_resp_free(&r);
	if (c->nonce == NULL) {
		snprintf(err, WEIR_ERRLEN, "newNonce gave no Replay-Nonce");
		return -1;
	}
	return 0;
}

/* The JWS of one request (RFC 8555 §6.2), malloc'd. */
static char *
jws(struct client *c, const char *url, const char *payload, char *err)
{
	json_t *prot = json_object(), *body;
	char *ptxt, *p64, *pl64, *sig = NULL, *signing, *out = NULL;
	size_t n;

	json_object_set_new(prot, "alg", json_string("ES256"));
	json_object_set_new(prot, "nonce", json_string(c->nonce));
	json_object_set_new(prot, "url", json_string(url));
	if (c->kid != NULL)
		json_object_set_new(prot, "kid", json_string(c->kid));
	else
		json_object_set_new(prot, "jwk", json_loads(c->jwk, 0, NULL));
	ptxt = json_dumps(prot, JSON_COMPACT);
	json_decref(prot);
	p64 = acme_b64url((const unsigned char *)ptxt, strlen(ptxt));
	pl64 = acme_b64url((const unsigned char *)payload, strlen(payload));
	n = strlen(p64) + strlen(pl64) + 2;
	signing = xmalloc(n);
	snprintf(signing, n, "%s.%s", p64, pl64);
	if ((sig = acme_sign_es256(c->acct, signing, strlen(signing), err)) != NULL) {
		body = json_pack("{s:s, s:s, s:s}", "protected", p64, "payload", pl64,
		    "signature", sig);
		out = json_dumps(body, JSON_COMPACT);
		json_decref(body);
	}
	free(ptxt);
	free(p64);
	free(pl64);
	free(signing);
	free(sig);
	return out;
}

/* "type: detail" of a problem document, into err; keeps the document. */
static void
problem(struct client *c, const struct acme_resp *r, const char *what, char *err)
{
	json_t *p = json_loadb(r->body ? r->body : "", r->len, 0, NULL);
	const char *type = json_string_value(json_object_get(p, "type"));
	const char *detail = json_string_value(json_object_get(p, "detail"));

	int dl = detail != NULL ? (int)strlen(detail) : 0;

	while (dl > 0 && (detail[dl - 1] == '\n' || detail[dl - 1] == ' '))
		dl--;	/* a CA's detail may end in a newline; the event's message is one line */
	snprintf(err, WEIR_ERRLEN, "%s: HTTP %d%s%s%s%.*s", what, r->status,
	    type ? " " : "", type ? type : "", detail ? ": " : "", dl, detail ? detail : "");
	if (p != NULL) {
		json_decref(c->problem);
		c->problem = p;
	}
}

/*
 * POST a signed `payload` ("" = POST-as-GET) to `url`; fills *r.  Returns
 * 0 for a 2xx answer, -1 otherwise (err says what the CA said).
 */
static int
post(struct client *c, const char *url, const char *payload, struct acme_resp *r,
    const char *what, char *err)
{
	memset(r, 0, sizeof(*r));
	for (int attempt = 0; attempt < ACME_NONCE_RETRIES; attempt++) {
		char *body;
		int rc;

		if (c->nonce == NULL && fetch_nonce(c, err) == -1)
			return -1;
		if ((body = jws(c, url, payload, err)) == NULL)
			return -1;
		free(c->nonce);
		c->nonce = NULL;
		rc = acme_http("POST", url, body, c->job->ca_file, r, err);
		free(body);
		if (rc == -1)
			return -1;
		c->nonce = r->nonce;	/* the next request's */
		r->nonce = NULL;
		if (r->status >= 200 && r->status < 300)
			return 0;
		if (r->status == 400 && r->body != NULL &&
		    strstr(r->body, "urn:ietf:params:acme:error:badNonce") != NULL &&
		    attempt + 1 < ACME_NONCE_RETRIES) {
			acme_resp_free(r);
			continue;
		}
		break;
	}
	problem(c, r, what, err);
	return -1;
}

/* POST and parse the JSON answer. */
static json_t *
post_json(struct client *c, const char *url, const char *payload, char **location,
    unsigned *retry_after, const char *what, char *err)
{
	struct acme_resp r;
	json_error_t je;
	json_t *j = NULL;

	if (post(c, url, payload, &r, what, err) == 0) {
		if ((j = json_loadb(r.body, r.len, 0, &je)) == NULL)
			snprintf(err, WEIR_ERRLEN, "%s: bad JSON: %s", what, je.text);
		if (location != NULL) {
			*location = r.location;
			r.location = NULL;
		}
		if (retry_after != NULL)
			*retry_after = r.retry_after;
	}
	acme_resp_free(&r);
	return j;
}

/* A JSON string member, or "" (never NULL). */
static const char *
jstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v != NULL ? v : "";
}

static void
pause_s(unsigned s)
{
	struct timespec ts = { s < 1 ? 1 : s > 10 ? 10 : (time_t)s, 0 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
send_msg(struct client *c, json_t *msg)
{
	char *t = json_dumps(msg, JSON_COMPACT);
	int rc = send(c->fd, t, strlen(t), 0) == -1 ? -1 : 0;

	free(t);
	json_decref(msg);
	return rc;
}

/* Have the front end answer the challenge; wait for the master's word. */
static int
publish(struct client *c, const char *token, const char *keyauth, char *err)
{
	char buf[256];
	ssize_t n;

	if (send_msg(c, json_pack("{s:{s:s, s:s}}", "challenge", "token", token,
	    "keyauth", keyauth)) == -1) {
		snprintf(err, WEIR_ERRLEN, "to the master: %s", strerror(errno));
		return -1;
	}
	while ((n = recv(c->fd, buf, sizeof(buf) - 1, 0)) == -1 && errno == EINTR)
		;
	if (n <= 0 || memmem(buf, (size_t)n, "\"ok\"", 4) == NULL) {
		snprintf(err, WEIR_ERRLEN, "the master did not publish the challenge");
		return -1;
	}
	return 0;
}

/* Poll `url` until its status is not one of the waiting ones. */
static json_t *
poll_until(struct client *c, const char *url, const char *what, char *err)
{
	for (int i = 0; i < ACME_POLLS; i++) {
		unsigned ra = 0;
		json_t *j = post_json(c, url, "", NULL, &ra, what, err);
		const char *st = json_string_value(json_object_get(j, "status"));

		if (j == NULL)
			return NULL;
		if (st == NULL || (strcmp(st, "pending") && strcmp(st, "processing")))
			return j;
		json_decref(j);
		pause_s(ra);
	}
	snprintf(err, WEIR_ERRLEN, "%s: still pending after %d polls", what, ACME_POLLS);
	return NULL;
}

/* One authorization: answer its http-01 challenge and wait for the verdict. */
static int
authorize(struct client *c, const char *url, char *err)
{
	json_t *a = post_json(c, url, "", NULL, NULL, "authorization", err), *ch, *v;
	const char *token = NULL, *curl = NULL, *st;
	char *keyauth;
	size_t i, n;
	int rc = -1;

	if (a == NULL)
		return -1;
	if ((st = json_string_value(json_object_get(a, "status"))) != NULL &&
	    strcmp(st, "valid") == 0) {
		json_decref(a);
		return 0;
	}
	json_array_foreach(json_object_get(a, "challenges"), i, ch) {
		if (strcmp(jstr(ch, "type"), "http-01") == 0) {
			token = json_string_value(json_object_get(ch, "token"));
			curl = json_string_value(json_object_get(ch, "url"));
		}
	}
	if (token == NULL || curl == NULL || strspn(token,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(token)) {
		snprintf(err, WEIR_ERRLEN, "authorization for %s offers no usable http-01 challenge",
		    jstr(json_object_get(a, "identifier"), "value"));
		json_decref(a);
		return -1;
	}
	n = strlen(token) + strlen(c->thumb) + 2;
	keyauth = xmalloc(n);
	snprintf(keyauth, n, "%s.%s", token, c->thumb);
	if (publish(c, token, keyauth, err) == 0 &&
	    (v = post_json(c, curl, "{}", NULL, NULL, "challenge", err)) != NULL) {
		json_decref(v);
		if ((v = poll_until(c, url, "authorization", err)) != NULL) {
			st = json_string_value(json_object_get(v, "status"));
			if (st != NULL && strcmp(st, "valid") == 0) {
				rc = 0;
			} else {
				json_t *e = NULL;

				json_array_foreach(json_object_get(v, "challenges"), i, ch)
					if (json_object_get(ch, "error") != NULL)
						e = json_object_get(ch, "error");
				snprintf(err, WEIR_ERRLEN, "authorization %s: %s", st ? st : "?",
				    e != NULL ? jstr(e, "detail") : "no detail");
				if (e != NULL) {
					json_decref(c->problem);
					c->problem = json_incref(e);
				}
			}
			json_decref(v);
		}
	}
	free(keyauth);
	json_decref(a);
	return rc;
}

/* Finalize with a CSR for a new key; poll; download; store.  */
static int
finalize(struct client *c, json_t *order, const char *order_url, char *err)
{
	const char *fin = json_string_value(json_object_get(order, "finalize"));
	const char *st, *cu;
	EVP_PKEY *key = acme_key_new(err);
	char *csr = NULL, *payload = NULL, *kpem = NULL, *file = NULL, path[4096];
	struct acme_resp r;
	json_t *o = NULL, *v = NULL;
	int rc = -1;
	size_t n;

	memset(&r, 0, sizeof(r));
	if (key == NULL || fin == NULL ||
	    (csr = acme_csr(key, (const char *const *)c->job->hosts, c->job->nhosts, err)) == NULL)
		goto out;
	o = json_pack("{s:s}", "csr", csr);
	payload = json_dumps(o, JSON_COMPACT);
	if ((v = post_json(c, fin, payload, NULL, NULL, "finalize", err)) == NULL)
		goto out;
	json_decref(v);
	if ((v = poll_until(c, order_url, "order", err)) == NULL)
		goto out;
	st = json_string_value(json_object_get(v, "status"));
	if (st == NULL || strcmp(st, "valid") != 0 ||
	    (cu = json_string_value(json_object_get(v, "certificate"))) == NULL) {
		snprintf(err, WEIR_ERRLEN, "order is %s after finalize", st ? st : "?");
		goto out;
	}
	if (post(c, cu, "", &r, "certificate", err) == -1 || (kpem = acme_key_pem(key, err)) == NULL)
		goto out;
	if (r.len == 0 || strstr(r.body, "-----BEGIN CERTIFICATE-----") == NULL) {
		snprintf(err, WEIR_ERRLEN, "certificate download is not PEM");
		goto out;
	}
	n = r.len + strlen(kpem) + 2;
	file = xmalloc(n);
	snprintf(file, n, "%s%s%s", r.body, r.body[r.len - 1] == '\n' ? "" : "\n", kpem);
	snprintf(path, sizeof(path), "%s/%s.pem", c->job->dir, c->job->site);
	rc = acme_write_file(path, file, strlen(file), 0600, err);
out:
	acme_resp_free(&r);
	free(file);
	free(kpem);
	free(payload);
	free(csr);
	json_decref(o);
	json_decref(v);
	EVP_PKEY_free(key);
	return rc;
}

static int
run(struct client *c, char *err)
{
	struct acme_resp r;
	json_t *acc, *order, *ids, *a;
	char path[4096], *order_url = NULL, *payload;
	size_t i;
	int rc = -1;

	if (acme_http("GET", c->job->directory, NULL, c->job->ca_file, &r, err) == -1)
		return -1;
	if (r.status != 200 || (c->dir = json_loadb(r.body, r.len, 0, NULL)) == NULL) {
		snprintf(err, WEIR_ERRLEN, "directory %s: HTTP %d, not a directory",
		    c->job->directory, r.status);
		acme_resp_free(&r);
		return -1;
	}
	acme_resp_free(&r);
	snprintf(path, sizeof(path), "%s/account.key", c->job->dir);
	if ((c->acct = acme_key_load_or_create(path, err)) == NULL ||
	    (c->jwk = acme_jwk(c->acct, err)) == NULL ||
	    (c->thumb = acme_thumbprint(c->acct, err)) == NULL)
		return -1;
	/* 1. the account: newAccount also finds the one this key already has */
	acc = json_pack("{s:b}", "termsOfServiceAgreed", 1);
	if (c->job->email != NULL) {
		char mail[300];

		snprintf(mail, sizeof(mail), "mailto:%s", c->job->email);
		json_object_set_new(acc, "contact", json_pack("[s]", mail));
	}
	payload = json_dumps(acc, JSON_COMPACT);
	json_decref(acc);
	a = dir_url(c, "newAccount", err) ? post_json(c, dir_url(c, "newAccount", err),
	    payload, &c->kid, NULL, "newAccount", err) : NULL;
	free(payload);
	if (a == NULL)
		return -1;
	json_decref(a);
	if (c->kid == NULL) {
		snprintf(err, WEIR_ERRLEN, "newAccount gave no account URL");
		return -1;
	}
	/* 2. the order for the site's hosts */
	ids = json_array();
	for (i = 0; i < c->job->nhosts; i++)
		json_array_append_new(ids, json_pack("{s:s, s:s}", "type", "dns", "value",
		    c->job->hosts[i]));
	acc = json_pack("{s:o}", "identifiers", ids);
	payload = json_dumps(acc, JSON_COMPACT);
	json_decref(acc);
	order = dir_url(c, "newOrder", err) ? post_json(c, dir_url(c, "newOrder", err),
	    payload, &order_url, NULL, "newOrder", err) : NULL;
	free(payload);
	if (order == NULL)
		goto out;
	if (order_url == NULL) {
		snprintf(err, WEIR_ERRLEN, "newOrder gave no order URL");
		goto out;
	}
	/* 3. every authorization, then finalize and download */
	json_array_foreach(json_object_get(order, "authorizations"), i, a) {
		if (!json_is_string(a) || authorize(c, json_string_value(a), err) == -1)
			goto out;
	}
	rc = finalize(c, order, order_url, err);
out:
	json_decref(order);
	free(order_url);
	return rc;
}

/*
 * The helper's body, in the forked child: run one order, tell the master
 * how it ended, exit.  Never returns.
 */
void
acme_helper_main(const struct acme_job *job, int fd)
{
	struct client c;
	char err[WEIR_ERRLEN] = "";
	int rc;

	memset(&c, 0, sizeof(c));
	c.job = job;
	c.fd = fd;
	(void)prctl(PR_SET_NAME, "weir-acme");	/* only a name for ps */
	log_set_ident("weir-acme");
	rc = run(&c, err);
	if (rc == 0)
		rc = send_msg(&c, json_pack("{s:b}", "done", 1));
	else
		rc = send_msg(&c, json_pack("{s:{s:s, s:O*}}", "failed", "detail", err,
		    "problem", c.problem)) == 0 ? 1 : -1;
	json_decref(c.problem);
	json_decref(c.dir);
	EVP_PKEY_free(c.acct);
	free(c.jwk);
	free(c.thumb);
	free(c.kid);
	free(c.nonce);
	_exit(rc == 0 ? 0 : 1);
}
