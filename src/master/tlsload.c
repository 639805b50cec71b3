/*
 * tlsload.c - the sites' certificates: read by the master, checked, handed
 * to the front end.
 *
 * The front end runs unprivileged and never opens a key file: the master
 * (root) reads every [site] certificate and certificate_key, checks them
 * with OpenSSL (a certificate, then its chain; an unencrypted private key
 * that matches it; at most one ECDSA and one RSA certificate per site) and
 * sends their PEM text (tlspem.h): in memory to a front end it forks, and
 * in a memfd (CTL_TLS_CERTS) to the running one on reload or whenever a
 * certificate changes without a configuration change (tlsload_push()).
 * A certificate that cannot be loaded is a `file:line:` error of `weir
 * check`, `weir run` and `weir reload` (which keeps the old one serving).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "tlspem.h"
#include "master.h"

#define TLS_FILE_MAX	(1 << 20)	/* a PEM file larger than this is not a certificate */

/* The first OpenSSL error as text (the queue is cleared). */
static const char *
ossl_err(char *buf, size_t n)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, n, "no details");
	else
		ERR_error_string_n(e, buf, n);
	ERR_clear_error();
	return buf;
}

/*
 * Check one certificate file (leaf, then any chain) and its key; *type is
 * the key's type (EVP_PKEY_EC or EVP_PKEY_RSA).  On error fills err with
 * the reason (which file, what is wrong) and returns -1.
 */
static int
check_pair(const char *cert, size_t certlen, const char *certpath, const char *key,
    size_t keylen, const char *keypath, int *type, char *err)
{
	BIO *cb = BIO_new_mem_buf(cert, (int)certlen), *kb = BIO_new_mem_buf(key, (int)keylen);
	X509 *leaf = NULL, *x;
	EVP_PKEY *pk = NULL;
	char e[256];
	int rc = -1;

	if (cb == NULL || kb == NULL) {
		snprintf(err, WEIR_ERRLEN, "out of memory");
		goto out;
	}
	if ((leaf = PEM_read_bio_X509(cb, NULL, NULL, NULL)) == NULL) {
		snprintf(err, WEIR_ERRLEN, "certificate %s: no PEM certificate in it (%s)",
		    certpath, ossl_err(e, sizeof(e)));
		goto out;
	}
	while ((x = PEM_read_bio_X509(cb, NULL, NULL, NULL)) != NULL)
		X509_free(x);
	ERR_clear_error();	/* the end of the chain is an error to PEM_read */
	/* no passphrase callback: an encrypted key fails here, as it should */
	if ((pk = PEM_read_bio_PrivateKey(kb, NULL, NULL, (void *)"")) == NULL) {
		snprintf(err, WEIR_ERRLEN, "certificate_key %s: not an unencrypted PEM private key (%s)",
		    keypath, ossl_err(e, sizeof(e)));
		goto out;
	}
	*type = EVP_PKEY_get_base_id(pk);
	if (*type != EVP_PKEY_EC && *type != EVP_PKEY_RSA) {
		snprintf(err, WEIR_ERRLEN, "certificate_key %s: a %s key (ECDSA or RSA only)",
		    keypath, OBJ_nid2sn(*type));
		goto out;
	}
	if (X509_check_private_key(leaf, pk) != 1) {
		ERR_clear_error();
		snprintf(err, WEIR_ERRLEN, "certificate_key %s does not match certificate %s",
		    keypath, certpath);
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(pk);
	X509_free(leaf);
	BIO_free(cb);
	BIO_free(kb);
	return rc;
}

/*
 * Resolve site s's certificates into PEM text in out: every certificate
 * file with its key, read and checked.  Errors go to errs as "file:line:"
 * at the line of the key that names the file; returns how many.
 * `certificate = acme` is not resolved here yet (an error says so).
 */
int
tlsload_site(const struct conf *c, const struct conf_site *s, struct tls_pems *out,
    struct conf_errors *errs)
{
	char err[WEIR_ERRLEN];
	size_t before = errs->n;
	int types[CONF_CERT_MAX] = { 0 };

	for (size_t i = 0; i < s->certificate.n; i++) {
		const char *cp = s->certificate.v[i], *kp;
		char *cert = NULL, *key = NULL;
		size_t certlen, keylen;
		int line = s->certificate_line[i];

		if (strcmp(cp, "acme") == 0) {
			conf_errors_add(errs, "%s:%d: certificate = acme: not supported by this build",
			    c->path, line);
			continue;
		}
		if (i >= s->certificate_key.n)
			continue;	/* the parser reported the unpaired certificate */
		kp = s->certificate_key.v[i];
		if ((cert = read_file(cp, TLS_FILE_MAX, &certlen, err)) == NULL) {
			conf_errors_add(errs, "%s:%d: certificate %s", c->path, line, err);
			continue;
		}
		if ((key = read_file(kp, TLS_FILE_MAX, &keylen, err)) == NULL) {
			conf_errors_add(errs, "%s:%d: certificate_key %s", c->path,
			    s->certificate_key_line[i], err);
			free(cert);
			continue;
		}
		if (check_pair(cert, certlen, cp, key, keylen, kp, &types[i], err) == -1)
			conf_errors_add(errs, "%s:%d: %s", c->path,
			    strstr(err, "certificate_key") == err ? s->certificate_key_line[i] : line,
			    err);
		else if (i == 1 && types[0] == types[1])
			conf_errors_add(errs, "%s:%d: certificate %s: a second %s certificate (a site has at most one ECDSA and one RSA)",
			    c->path, line, cp, types[1] == EVP_PKEY_EC ? "ECDSA" : "RSA");
		else
			tlspem_add(out, s->name, cert, certlen, key, keylen);
		free(cert);
		explicit_bzero(key, keylen);
		free(key);
	}
	return (int)(errs->n - before);
}

/* tls_ciphers is OpenSSL's syntax: only OpenSSL can say whether it selects anything. */
static int
check_ciphers(const struct conf *c, struct conf_errors *errs)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int bad;

	if (ctx == NULL) {
		conf_errors_add(errs, "%s: TLS: OpenSSL cannot make a context", c->path);
		return 1;
	}
	bad = SSL_CTX_set_cipher_list(ctx, c->server.tls_ciphers) != 1;
	ERR_clear_error();
	SSL_CTX_free(ctx);
	if (bad)
		conf_errors_add(errs, "%s:%d: tls_ciphers: OpenSSL accepts none of '%s'",
		    c->path, c->server.line, c->server.tls_ciphers);
	return bad;
}

/*
 * Every site's certificates as one blob for the front end (*blob, malloc'd,
 * wipe with tlspem_free_blob()).  Returns the number of errors added to
 * errs; *blob is set only when there are none.
 */
int
tlsload_conf(const struct conf *c, char **blob, size_t *len, struct conf_errors *errs)
{
	struct tls_pems p = { NULL, 0 };
	int n = 0;

	*blob = NULL;
	*len = 0;
	n += check_ciphers(c, errs);
	for (size_t i = 0; i < c->nsites; i++)
		n += tlsload_site(c, &c->sites[i], &p, errs);
	if (n == 0)
		*blob = tlspem_encode(&p, len);
	tlspem_free(&p);
	return n;
}

/* The master's certificates are now blob (taken over); the old ones are wiped. */
void
tlsload_set(struct master *m, char *blob, size_t len)
{
	tlspem_free_blob(m->tls_pem, m->tls_pem_len);
	m->tls_pem = blob;
	m->tls_pem_len = len;
}

/*
 * Send the running front end the master's certificates (CTL_TLS_CERTS):
 * it builds new TLS contexts for new handshakes; connections keep the
 * certificate they were made with.  A reload pushes before it sends the new
 * configuration; anything that replaces a certificate without a
 * configuration change (tlsload_set(), then this) does the same.
 * Returns -1 when the front end cannot be told (it gets them when it is
 * started again).
 */
int
tlsload_push(struct master *m)
{
	uint32_t zero = 0;
	int fd, rc;

	if (m->fe.pid == 0 || m->fe.ctl == -1)
		return -1;
	if ((fd = memfd_create("weir-tls", MFD_CLOEXEC)) == -1) {
		log_warn("certificates: memfd_create");
		return -1;
	}
	if (write_full(fd, m->tls_pem, m->tls_pem_len) == -1) {
		log_warn("certificates: memfd");
		close(fd);
		return -1;
	}
	rc = feproc_send(m, CTL_TLS_CERTS, &zero, sizeof(zero), &fd, 1);
	close(fd);
	return rc;
}
