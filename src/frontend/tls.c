/*
 * tls.c - TLS in the front end: contexts, certificate choice, session
 * tickets, the handshake.
 *
 * A struct tls_set is what new handshakes use: one SSL_CTX per site with
 * certificates (its ECDSA and RSA pair in one context, so OpenSSL picks by
 * the client's signature algorithms), and per listening address the
 * context SSL_new() starts from and the sites SNI may select (tlssel.c).
 * It is built by thread 0 from the configuration and the PEM text the
 * master sent (the front end never opens a key file), immutable, and
 * replaced whole on reload or when the master pushes new certificates;
 * each thread holds the set it uses (t->tls), taken with the generation.
 * A connection's SSL holds references to its contexts, so it keeps its
 * certificate across any replacement.
 *
 * Session resumption: TLS 1.2 session IDs are cached in the address's
 * base context (OpenSSL's cache, shared by the threads); tickets (TLS 1.2
 * and 1.3) are encrypted with the master's keys (ctl_tls_keys), the same
 * for every thread and for a front end the master restarted.
 *
 * The handshake is a connection state of its own (CONN_TLS, with its own
 * I/O and timer callbacks) before HTTP starts: non-blocking, bounded by
 * handshake_timeout.  Its first byte is peeked: a TLS handshake record
 * starts with 0x16, anything else is a cleartext request, answered 400.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "log.h"
#include "util.h"
#include "tlspem.h"
#include "frontend.h"

#define TLS_GROUPS		"X25519:P-256"
#define TLS_SESSION_TIMEOUT	3600	/* s: sessions and tickets (keys rotate hourly) */
#define TLS_RECORD_TYPE_HANDSHAKE 0x16

struct tls_site {
	char		*name;
	SSL_CTX		*ctx;
	struct strlist	 hosts;		/* copied from the configuration */
};

struct tls_addr {
	SSL_CTX		*base;		/* what SSL_new() takes; NULL: cleartext address */
	const struct strlist **hosts;	/* [nsites]: host names of the sites below */
	size_t		*sites;		/* their indices in set->sites, file order */
	size_t		 nsites;
	int		 def;		/* site for no or an unknown name; -1: alert */
};

struct tls_set {
	atomic_uint	 refs;
	struct tls_site	*sites;
	size_t		 nsites;
	struct tls_addr	*addrs;		/* index = listen address index */
	size_t		 naddrs;
	SSL_CTX		*nocert;	/* base of the addresses with default_certificate = alert */
};

/* The protocols and ciphers for a new context; -1 with err when unusable. */
static int
ctx_protocols(SSL_CTX *ctx, const struct conf_server *s, char *err)
{
	static const struct { const char *name; int v; uint64_t no; } vers[] = {
		{ "TLSv1", TLS1_VERSION, SSL_OP_NO_TLSv1 },
		{ "TLSv1.1", TLS1_1_VERSION, SSL_OP_NO_TLSv1_1 },
		{ "TLSv1.2", TLS1_2_VERSION, SSL_OP_NO_TLSv1_2 },
		{ "TLSv1.3", TLS1_3_VERSION, SSL_OP_NO_TLSv1_3 },
	};
	int lo = 0, hi = 0;
	uint64_t no = 0;

	for (size_t i = 0; i < nitems(vers); i++) {
		bool on = false;

		for (size_t j = 0; j < s->tls_protocols.n; j++)
			on = on || strcmp(s->tls_protocols.v[j], vers[i].name) == 0;
		if (!on) {
			no |= vers[i].no;	/* a gap between lo and hi */
			continue;
		}
		if (lo == 0)
			lo = vers[i].v;
		hi = vers[i].v;
	}
	if (lo == 0 || SSL_CTX_set_min_proto_version(ctx, lo) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, hi) != 1) {
		snprintf(err, WEIR_ERRLEN, "tls_protocols: no usable version");
		return -1;
	}
	SSL_CTX_set_options(ctx, no);
	if (SSL_CTX_set_cipher_list(ctx, s->tls_ciphers) != 1) {
		snprintf(err, WEIR_ERRLEN, "tls_ciphers: OpenSSL accepts none of '%s'",
		    s->tls_ciphers);
		return -1;
	}
	if (SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
		snprintf(err, WEIR_ERRLEN, "groups %s not available", TLS_GROUPS);
		return -1;
	}
	return 0;
}

static int	sni_cb(SSL *ssl, int *al, void *arg);
static int	alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		    const unsigned char *in, unsigned inlen, void *arg);
static int	ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
		    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc);

/*
 * A context with weir's defaults: the configured versions and TLS 1.2
 * ciphers, groups X25519 and P-256, the client's cipher order (every
 * allowed suite is strong), no renegotiation, tickets with the master's
 * keys, a session cache for TLS 1.2, small idle connections
 * (RELEASE_BUFFERS), kTLS when the kernel has it, and read-ahead: one
 * read(2) per record rather than one for its 5-byte header and one for its
 * body (cio.c repumps what OpenSSL then holds).
 */
static SSL_CTX *
ctx_new(const struct conf_server *s, char *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		snprintf(err, WEIR_ERRLEN, "SSL_CTX_new failed");
		return NULL;
	}
	if (ctx_protocols(ctx, s, err) == -1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_ENABLE_KTLS |
	    SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(ctx, 1);
	/* the same id everywhere: a session resumes whichever context SNI picked */
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"weir", 4);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_timeout(ctx, TLS_SESSION_TIMEOUT);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
	return ctx;
}

/* Load a pair (certificate + chain, key) into ctx; -1 with err. */
static int
ctx_use_pair(SSL_CTX *ctx, const struct tls_pair *p, char *err)
{
	BIO *cb = BIO_new_mem_buf(p->cert, (int)p->certlen);
	BIO *kb = BIO_new_mem_buf(p->key, (int)p->keylen);
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;
	int rc = -1;

	if (cb == NULL || kb == NULL ||
	    (x = PEM_read_bio_X509(cb, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_certificate(ctx, x) != 1) {
		snprintf(err, WEIR_ERRLEN, "certificate not usable");
		goto out;
	}
	/* the chain of the certificate just set (each key type has its own) */
	for (X509 *ch; (ch = PEM_read_bio_X509(cb, NULL, NULL, NULL)) != NULL;) {
		if (SSL_CTX_add0_chain_cert(ctx, ch) != 1) {
			X509_free(ch);
			snprintf(err, WEIR_ERRLEN, "chain certificate not usable");
			goto out;
		}
	}
	ERR_clear_error();	/* the end of the chain is an error to PEM_read */
	if ((pk = PEM_read_bio_PrivateKey(kb, NULL, NULL, (void *)"")) == NULL ||
	    SSL_CTX_use_PrivateKey(ctx, pk) != 1) {
		snprintf(err, WEIR_ERRLEN, "key not usable");
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	EVP_PKEY_free(pk);
	X509_free(x);
	BIO_free(cb);
	BIO_free(kb);
	return rc;
}

static void
set_free(struct tls_set *set)
{
	for (size_t i = 0; i < set->nsites; i++) {
		SSL_CTX_free(set->sites[i].ctx);
		free(set->sites[i].name);
		for (size_t j = 0; j < set->sites[i].hosts.n; j++)
			free(set->sites[i].hosts.v[j]);
		free(set->sites[i].hosts.v);
	}
	for (size_t a = 0; a < set->naddrs; a++) {
		free(set->addrs[a].sites);
		free(set->addrs[a].hosts);
	}
	SSL_CTX_free(set->nocert);
	free(set->sites);
	free(set->addrs);
	free(set);
}

void
tls_set_release(struct tls_set *set)
{
	if (set != NULL && atomic_fetch_sub(&set->refs, 1) == 1)
		set_free(set);
}

struct tls_set *
tls_set_acquire(struct frontend *fe)
{
	struct tls_set *set = atomic_load(&fe->tls);

	if (set != NULL)
		atomic_fetch_add(&set->refs, 1);
	return set;
}

static bool
site_on(const struct conf_site *cs, const struct fe_laddr *la)
{
	for (size_t j = 0; j < cs->listen.n; j++)
		if (cs->listen.v[j].sslen == la->sslen &&
		    memcmp(&cs->listen.v[j].ss, &la->ss, la->sslen) == 0)
			return true;
	return false;
}

/* The site contexts: one per site that has certificates in the PEM text. */
static void
build_sites(struct frontend *fe, struct tls_set *set, const struct conf *c)
{
	char err[WEIR_ERRLEN];

	set->sites = xcalloc(c->nsites ? c->nsites : 1, sizeof(*set->sites));
	for (size_t i = 0; i < c->nsites; i++) {
		const struct conf_site *cs = &c->sites[i];
		const struct tls_site_pem *sp = tlspem_find(&fe->tls_pems, cs->name);
		struct tls_site *ts = &set->sites[set->nsites];
		SSL_CTX *ctx;
		size_t j;

		if (sp == NULL || sp->npairs == 0)
			continue;
		if ((ctx = ctx_new(&c->server, err)) == NULL) {
			log_warnx("[site %s]: TLS: %s", cs->name, err);
			continue;
		}
		for (j = 0; j < sp->npairs; j++)
			if (ctx_use_pair(ctx, &sp->pair[j], err) == -1)
				break;
		/* then its name and client certificates (tlsclient.c) */
		if (j < sp->npairs || tlsclient_ctx(ctx, cs, sp, err) == -1) {
			log_warnx("[site %s]: TLS: %s", cs->name, err);
			SSL_CTX_free(ctx);
			continue;
		}
		ts->ctx = ctx;
		ts->name = xstrdup(cs->name);
		ts->hosts.v = xcalloc(cs->hosts.n ? cs->hosts.n : 1, sizeof(char *));
		for (j = 0; j < cs->hosts.n; j++)
			ts->hosts.v[j] = xstrdup(cs->hosts.v[j]);
		ts->hosts.n = cs->hosts.n;
		set->nsites++;
	}
}

static int
site_index(const struct tls_set *set, const char *name)
{
	for (size_t i = 0; i < set->nsites; i++)
		if (strcmp(set->sites[i].name, name) == 0)
			return (int)i;
	return -1;
}

/*
 * Per TLS address: its sites with certificates (file order), the default
 * (default_certificate, else the first of them) and the base context.
 */
static void
build_addrs(struct frontend *fe, struct tls_set *set, const struct conf *c)
{
	const char *dc = c->server.default_certificate;
	bool alert = dc != NULL && strcmp(dc, "alert") == 0;
	char err[WEIR_ERRLEN];

	set->naddrs = atomic_load(&fe->naddrs);
	set->addrs = xcalloc(set->naddrs ? set->naddrs : 1, sizeof(*set->addrs));
	for (size_t a = 0; a < set->naddrs; a++) {
		const struct fe_laddr *la = &fe->addrs[a];
		struct tls_addr *ta = &set->addrs[a];

		ta->def = -1;
		if (!atomic_load(&la->alive) || !conf_listen_tls(c, &la->ss, la->sslen))
			continue;
		ta->sites = xcalloc(c->nsites ? c->nsites : 1, sizeof(*ta->sites));
		ta->hosts = xcalloc(c->nsites ? c->nsites : 1, sizeof(*ta->hosts));
		for (size_t i = 0; i < c->nsites; i++) {
			int k = site_index(set, c->sites[i].name);

			if (k < 0 || !site_on(&c->sites[i], la))
				continue;
			ta->hosts[ta->nsites] = &set->sites[k].hosts;
			ta->sites[ta->nsites++] = (size_t)k;
		}
		if (!alert && dc != NULL)
			ta->def = site_index(set, dc);
		if (!alert && ta->def < 0 && ta->nsites > 0)
			ta->def = (int)ta->sites[0];
		if (ta->def >= 0) {
			ta->base = set->sites[ta->def].ctx;
			continue;
		}
		/* alert (or nothing loaded): a context without certificate */
		if (set->nocert == NULL && (set->nocert = ctx_new(&c->server, err)) == NULL)
			log_warnx("TLS: %s", err);
		ta->base = set->nocert;
	}
}

/*
 * Build the set for configuration c and the PEM text the front end holds,
 * and make it the one new connections use (threads take it with
 * FE_MSG_GEN).  Thread 0 only.
 */
void
tls_rebuild(struct frontend *fe, const struct conf *c)
{
	struct tls_set *set = NULL, *old;
	bool any = false;

	for (size_t i = 0; i < c->nsites && !any; i++)
		for (size_t j = 0; j < c->sites[i].listen.n && !any; j++)
			any = c->sites[i].listen.v[j].tls;
	for (size_t j = 0; j < c->server.listen.n && !any; j++)
		any = c->server.listen.v[j].tls;
	if (any) {
		set = xcalloc(1, sizeof(*set));
		atomic_init(&set->refs, 1);
		build_sites(fe, set, c);
		build_addrs(fe, set, c);
	}
	old = atomic_exchange(&fe->tls, set);
	tls_set_release(old);
}

/* --- session tickets ------------------------------------------------------------- */

/*
 * OpenSSL asks for a key to encrypt a new ticket (enc = 1) or to decrypt
 * one a client showed (enc = 0, by the name it carries).  Returns 1 (go
 * on), 2 (issue a fresh ticket: decrypted with the previous key, or TLS
 * 1.3), 0 (not ours or too old: full handshake), -1 (error).  In TLS 1.3,
 * 1 makes OpenSSL send no new ticket after the resumption, and a client
 * must not show a ticket twice (RFC 8446 C.4; OpenSSL's does not): its next
 * connection would be a full handshake, every other one.
 */
static int
ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *cctx,
    EVP_MAC_CTX *hctx, int enc)
{
	struct frontend *fe = fe_self->fe;
	const uint8_t *k = NULL;
	OSSL_PARAM params[3];
	int rc = -1;

	pthread_rwlock_rdlock(&fe->tls_keys_lock);
	if (enc) {
		if (fe->tls_keys.n > 0 && RAND_bytes(iv, EVP_MAX_IV_LENGTH) == 1) {
			k = fe->tls_keys.key[0];
			memcpy(name, k, 16);
			rc = 1;
		}
	} else {
		rc = 0;
		for (uint32_t i = 0; i < fe->tls_keys.n && i < 2; i++) {
			if (memcmp(name, fe->tls_keys.key[i], 16) == 0) {
				k = fe->tls_keys.key[i];
				rc = i == 0 && SSL_version(ssl) < TLS1_3_VERSION ? 1 : 2;
				break;
			}
		}
	}
	if (k != NULL) {
		params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
		    (void *)(uintptr_t)(k + 48), 32);
		params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
		    (char *)(uintptr_t)"SHA256", 0);
		params[2] = OSSL_PARAM_construct_end();
		if ((enc ? EVP_EncryptInit_ex(cctx, fe->tls_aes, NULL, k + 16, iv) :
		    EVP_DecryptInit_ex(cctx, fe->tls_aes, NULL, k + 16, iv)) != 1 ||
		    EVP_MAC_CTX_set_params(hctx, params) != 1)
			rc = -1;
	}
	pthread_rwlock_unlock(&fe->tls_keys_lock);
	return rc;
}

/* CTL_TLS_KEYS: the master rotated the ticket keys. */
void
tls_set_keys(struct frontend *fe, const struct ctl_tls_keys *k)
{
	pthread_rwlock_wrlock(&fe->tls_keys_lock);
	fe->tls_keys = *k;
	pthread_rwlock_unlock(&fe->tls_keys_lock);
}

/* --- selection callbacks ------------------------------------------------------------- */

/*
 * ClientHello's server name (or none): switch the connection to the
 * context of the site it names (its own address's sites only), else to
 * the default certificate, else refuse with unrecognized_name.  Uses the
 * thread's current set: its address table has every address the one the
 * connection started with had.
 */
static int
sni_cb(SSL *ssl, int *al, void *arg)
{
	struct conn *c = SSL_get_app_data(ssl);
	const struct tls_set *set = c->t->tls;
	const struct tls_addr *ta;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	int i, site;

	(void)arg;
	if (set == NULL || c->addr >= set->naddrs || set->addrs[c->addr].base == NULL) {
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	ta = &set->addrs[c->addr];
	i = name != NULL ? tlssel_sni(ta->hosts, ta->nsites, name, strlen(name)) : -1;
	site = i >= 0 ? (int)ta->sites[i] : ta->def;
	if (site < 0) {
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	if (SSL_get_SSL_CTX(ssl) != set->sites[site].ctx &&
	    SSL_set_SSL_CTX(ssl, set->sites[site].ctx) == NULL) {
		*al = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	tlsclient_select(ssl, set->sites[site].ctx);	/* the mode is not the context's */
	return SSL_TLSEXT_ERR_OK;
}

/*
 * ALPN: the first of the address's protocols (listen ... alpn=, by default
 * h2 then http/1.1) the client offers, or no_application_protocol (RFC 7301
 * §3.2).  The handshake's end starts HTTP/2 or HTTP/1.1 by it (tls_on_io()).
 */
static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned inlen, void *arg)
{
	struct conn *c = SSL_get_app_data(ssl);

	(void)arg;
	return tlssel_alpn(c->gen->addrs[c->addr].alpn, in, inlen, out, outlen) == 0 ?
	    SSL_TLSEXT_ERR_OK :
	    SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* --- the handshake ---------------------------------------------------------------- */

static void	tls_on_io(void *arg, uint32_t events);
static void	tls_on_timer(void *arg);

/* Is listen address `addr` a TLS one in this thread's set? */
bool
tls_addr_on(const struct fe_thread *t, unsigned addr)
{
	return t->tls != NULL && addr < t->tls->naddrs && t->tls->addrs[addr].base != NULL;
}

/*
 * A connection accepted on a TLS address (registered with the loop for
 * input): its handshake starts.  Returns -1 when it had to be closed.
 */
int
tls_conn_start(struct conn *c)
{
	SSL *ssl = SSL_new(c->t->tls->addrs[c->addr].base);

	c->io.cb = tls_on_io;
	loop_timer_init(&c->timer, tls_on_timer, c);
	if (ssl == NULL || SSL_set_fd(ssl, c->io.fd) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		conn_close(c);
		return -1;
	}
	SSL_set_accept_state(ssl);
	SSL_set_app_data(ssl, c);
	c->ssl = ssl;
	c->state = CONN_TLS;
	conn_set_deadline(c, c->gen->conf->server.handshake_timeout);
	tls_on_io(c, LOOP_READ);
	return c->state == CONN_CLOSED ? -1 : 0;
}

/* Hand the connection to HTTP/1.1 (after a handshake, or to answer 400). */
static void
to_http(struct conn *c)
{
	loop_timer_cancel(c->t->loop, &c->timer);
	loop_timer_init(&c->timer, http1_on_timer, c);
	c->io.cb = http1_on_io;
	if (c->flags & CF_WANT_WRITE)
		conn_want_write(c, false);
}

static void
handshake_failed(struct conn *c, enum fe_close_reason why)
{
	stat_add(&c->t->st_closed[why], 1);
	SSL_set_quiet_shutdown(c->ssl, 1);	/* no close_notify after a failure */
	ERR_clear_error();
	conn_close(c);
}

static void
tls_on_io(void *arg, uint32_t events)
{
	struct conn *c = arg;
	int r;

	(void)events;
	if (SSL_in_before(c->ssl)) {
		unsigned char b;
		ssize_t n = recv(c->io.fd, &b, 1, MSG_PEEK);

		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		if (b != TLS_RECORD_TYPE_HANDSHAKE) {
			/* a cleartext request on the TLS port: say so in cleartext */
			SSL_free(c->ssl);
			c->ssl = NULL;
			to_http(c);
			c->state = CONN_HEAD;
			http1_abort(c, 400, HTTP1_PLAIN_ON_TLS,
			    "plain HTTP request sent to an HTTPS port");
			return;
		}
	}
	ERR_clear_error();
	if ((r = SSL_do_handshake(c->ssl)) == 1) {
		const unsigned char *proto;
		unsigned plen;

		stat_add(&c->t->st_tls_handshakes, 1);
		cio_tls_attach(c);	/* records gathered per write from now on */
		to_http(c);
		SSL_get0_alpn_selected(c->ssl, &proto, &plen);
		if (plen == 2 && memcmp(proto, "h2", 2) == 0)
			h2_start(c);
		else
			http1_start(c);
		return;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		conn_want_write(c, false);
		return;
	case SSL_ERROR_WANT_WRITE:
		conn_want_write(c, true);
		return;
	default:
		handshake_failed(c, FE_CLOSE_TLS_FAILED);
		return;
	}
}

static void
tls_on_timer(void *arg)
{
	struct conn *c = arg;
	uint64_t now = loop_now(c->t->loop);

	if (now < c->deadline) {
		loop_timer_set(c->t->loop, &c->timer, c->deadline - now);
		return;
	}
	handshake_failed(c, FE_CLOSE_TLS_TIMEOUT);
}

/* Closing: close_notify (unless the session failed), then free the SSL. */
void
tls_conn_close(struct conn *c)
{
	cio_tls_shutdown(c, true);	/* best effort: the socket closes next */
	SSL_free(c->ssl);
	c->ssl = NULL;
}

/* A lingering close: close_notify before the FIN. */
void
tls_conn_shutdown(struct conn *c)
{
	cio_tls_shutdown(c, false);
}

/* --- life of the front end's TLS state ---------------------------------------------- */

/* At start: the master's PEM text and ticket keys, then the first set. */
int
tls_init(struct frontend *fe, const struct conf *c)
{
	char err[WEIR_ERRLEN];

	pthread_rwlock_init(&fe->tls_keys_lock, NULL);
	if (cio_init() == -1)
		log_warnx("TLS: no BIO of weir's own: one write(2) per TLS record");
	if (fe->st->tls_keys != NULL)
		fe->tls_keys = *fe->st->tls_keys;
	if ((fe->tls_aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)) == NULL) {
		log_warnx("TLS: AES-256-CBC not available");
		return -1;
	}
	if (fe->st->tls_pem != NULL &&
	    tlspem_decode(fe->st->tls_pem, fe->st->tls_pem_len, &fe->tls_pems, err) == -1) {
		log_warnx("TLS: %s", err);
		return -1;
	}
	tls_rebuild(fe, c);
	return 0;
}

/*
 * CTL_TLS_CERTS: new PEM text from the master (a reload sends it before
 * the configuration; an ACME renewal alone).  New handshakes use it once
 * the threads took the new set.
 */
void
tls_certs(struct frontend *fe, int fd, const struct conf *c)
{
	struct tls_pems fresh = { NULL, 0 };
	char err[WEIR_ERRLEN], *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t r;

	if (lseek(fd, 0, SEEK_SET) == -1)
		log_warn("certificates: lseek");
	for (;;) {
		if (len + 8192 > cap) {
			cap = cap ? cap * 2 : 65536;
			buf = xreallocarray(buf, cap, 1);
		}
		r = read(fd, buf + len, cap - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	if (r == -1) {
		log_warn("certificates: read");
	} else if (tlspem_decode(buf, len, &fresh, err) == -1) {
		log_warnx("%s: keeping the certificates in use", err);
	} else {
		tlspem_free(&fe->tls_pems);
		fe->tls_pems = fresh;
		tls_rebuild(fe, c);
	}
	tlspem_free_blob(buf, cap);
}

void
tls_fini(struct frontend *fe)
{
	tls_set_release(atomic_exchange(&fe->tls, NULL));
	tlspem_free(&fe->tls_pems);
	EVP_CIPHER_free(fe->tls_aes);
	cio_fini();
	explicit_bzero(&fe->tls_keys, sizeof(fe->tls_keys));
	pthread_rwlock_destroy(&fe->tls_keys_lock);
}
