/*
 * tlsclient.c - client certificates (mutual TLS): `client_ca` and
 * `client_verify` of a site.
 *
 * A site's context trusts its client_ca (the PEM text the master read and
 * sent with the certificates: the front end opens no file) and asks for a
 * certificate: `required` fails a handshake without one, `optional` asks
 * and lets the application decide.  A certificate that is sent and does
 * not verify fails the handshake in both modes (mod_ssl's `optional`).
 *
 * OpenSSL's rules this file follows: SSL_new() copies the verify mode of
 * the address's base context, and SSL_set_SSL_CTX() in the SNI callback
 * swaps the certificate and the trust store but not the mode, so the SNI
 * callback sets the selected site's mode on the SSL itself
 * (tlsclient_select()).  The CA names the CertificateRequest lists come
 * from the selected context.
 *
 * Then HTTP: the site a request is routed to (by Host) may not be the one
 * whose context the handshake chose (by SNI), and a resumed session skips
 * the certificate request.  So each request to a site with client_verify
 * is checked (tlsclient_check()): a handshake made for another site is 421
 * Misdirected Request (RFC 9110 §15.5.20, the client may retry on a new
 * connection), and `required` without a verified certificate is 403.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "util.h"
#include "frontend.h"

#define CLIENT_VERIFY_DEPTH	9	/* intermediate CAs allowed above the client's certificate */

static int		site_idx = -1;	/* ex_data of a site context: its name (malloc'd) */
static pthread_once_t	site_once = PTHREAD_ONCE_INIT;

static void
free_name(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void
make_index(void)
{
	site_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_name);
}

/* The trust store and the CA names of the CertificateRequest, from PEM text. */
static int
load_cas(SSL_CTX *ctx, const char *pem, size_t len, char *err)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x;
	int n = 0;

	if (names == NULL || b == NULL) {
		snprintf(err, WEIR_ERRLEN, "client_ca: out of memory");
		goto fail;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(x));
		int ok = X509_STORE_add_cert(store, x) == 1 && nm != NULL &&
		    sk_X509_NAME_push(names, nm) > 0;

		X509_free(x);
		if (!ok) {
			X509_NAME_free(nm);
			snprintf(err, WEIR_ERRLEN, "client_ca: certificate not usable");
			goto fail;
		}
		n++;
	}
	ERR_clear_error();	/* the end of the text is an error to PEM_read */
	BIO_free(b);
	if (n == 0) {
		sk_X509_NAME_pop_free(names, X509_NAME_free);
		snprintf(err, WEIR_ERRLEN, "client_ca: no certificate");
		return -1;
	}
	SSL_CTX_set_client_CA_list(ctx, names);		/* takes names */
	return 0;
fail:
	ERR_clear_error();
	BIO_free(b);
	sk_X509_NAME_pop_free(names, X509_NAME_free);
	return -1;
}

/*
 * Make ctx site cs's: its name for tlsclient_check(), and with
 * client_verify its CAs and verify mode.  -1 with err when unusable (the
 * caller logs it and leaves the site without a context).
 */
int
tlsclient_ctx(SSL_CTX *ctx, const struct conf_site *cs, const struct tls_site_pem *sp,
    char *err)
{
	char *name;

	pthread_once(&site_once, make_index);
	if (site_idx < 0 || (name = strdup(cs->name)) == NULL) {
		snprintf(err, WEIR_ERRLEN, "out of memory");
		return -1;
	}
	if (SSL_CTX_set_ex_data(ctx, site_idx, name) != 1) {
		free(name);
		snprintf(err, WEIR_ERRLEN, "out of memory");
		return -1;
	}
	if (cs->client_verify == CLIENT_VERIFY_OFF)
		return 0;
	if (sp->client_ca == NULL) {
		snprintf(err, WEIR_ERRLEN, "client_ca: not received from the master");
		return -1;
	}
	if (load_cas(ctx, sp->client_ca, sp->client_calen, err) == -1)
		return -1;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (cs->client_verify == CLIENT_VERIFY_REQUIRED ?
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
	SSL_CTX_set_verify_depth(ctx, CLIENT_VERIFY_DEPTH);
	return 0;
}

/* The SNI callback chose ctx for ssl: take its verify mode too. */
void
tlsclient_select(SSL *ssl, SSL_CTX *ctx)
{
	SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), NULL);
	SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
}

/*
 * May this connection's request go to site cs?  0 when it may (and always
 * for a site without client_verify), 421 when the handshake was made for
 * another site, 403 when cs requires a certificate the connection does not
 * have (cleartext, or a session that did not verify one).
 */
int
tlsclient_check(const struct conn *c, const struct conf_site *cs)
{
	const char *name;
	X509 *peer;
	bool verified;

	if (cs->client_verify == CLIENT_VERIFY_OFF)
		return 0;
	if (conn_tls(c) == NULL)
		return cs->client_verify == CLIENT_VERIFY_REQUIRED ? 403 : 0;
	name = site_idx < 0 ? NULL : SSL_CTX_get_ex_data(SSL_get_SSL_CTX(conn_tls(c)), site_idx);
	if (name == NULL || strcmp(name, cs->name) != 0)
		return 421;
	if (cs->client_verify != CLIENT_VERIFY_REQUIRED)
		return 0;
	peer = SSL_get1_peer_certificate(conn_tls(c));
	verified = peer != NULL && SSL_get_verify_result(conn_tls(c)) == X509_V_OK;
	X509_free(peer);
	return verified ? 0 : 403;
}
