/*
 * acmecrypto.c - the cryptography an ACME client needs, on OpenSSL's EVP
 * interface: ECDSA P-256 keys (made, stored as PEM, loaded), the account
 * key as a JWK and its thumbprint (RFC 7638), JWS signatures with ES256
 * (RFC 7515/7518: r || s, not DER), the CSR of an order, a temporary
 * self-signed certificate for a site whose first certificate has not come
 * yet, and the validity of a PEM certificate.
 *
 * Pure functions over memory and files; errors go to the caller's `err`.
 * Used by the ACME helper (acmeorder.c) and by the master (acme.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "rc.h"
#include "util.h"
#include "master.h"

static void
ossl_err(char *err, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[200];

	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, WEIR_ERRLEN, "%s: %s", what, e ? buf : "failed");
	ERR_clear_error();
}

/* base64url without padding (RFC 7515 §2); returns a malloc'd string. */
char *
acme_b64url(const unsigned char *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = xmalloc((n + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = tab[v >> 6 & 63];
		*o++ = tab[v & 63];
	}
	if (n - i == 1) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[(p[i] & 3) << 4];
	} else if (n - i == 2) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[(p[i] & 3) << 4 | p[i + 1] >> 4];
		*o++ = tab[(p[i + 1] & 15) << 2];
	}
	*o = '\0';
	return out;
}

/* A new ECDSA P-256 key, or NULL with err filled. */
EVP_PKEY *
acme_key_new(char *err)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	if (k == NULL)
		ossl_err(err, "ECDSA P-256 key");
	return k;
}

/* The key as PEM (PKCS#8), malloc'd and NUL-terminated; NULL on error. */
char *
acme_key_pem(EVP_PKEY *k, char *err)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;

	if (b == NULL || !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) {
		ossl_err(err, "write key");
	} else {
		n = BIO_get_mem_data(b, &data);
		out = xstrndup(data, (size_t)n);
	}
	BIO_free(b);
	return out;
}

/*
 * Write `data` to `path` atomically (a temporary file renamed over it), with
 * `mode`: a reader never sees half a certificate or key.
 */
int
acme_write_file(const char *path, const char *data, size_t n, mode_t mode, char *err)
{
	char tmp[4096];
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		snprintf(err, WEIR_ERRLEN, "%s: path too long", path);
		return -1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)) == -1 ||
	    write_full(fd, data, n) == -1 || fsync(fd) == -1) {
		snprintf(err, WEIR_ERRLEN, "%s: %s", tmp, strerror(errno));
		if (fd != -1) {
			close(fd);
			(void)unlink(tmp);	/* best effort: the old file stays in place */
		}
		return -1;
	}
	close(fd);
	if (rename(tmp, path) == -1) {
		snprintf(err, WEIR_ERRLEN, "rename %s: %s", path, strerror(errno));
		(void)unlink(tmp);	/* as above */
		return -1;
	}
	return 0;
}

/*
 * The key stored at `path`, made and stored (0600) first if the file does
 * not exist: the account key is created once and kept.
 */
EVP_PKEY *
acme_key_load_or_create(const char *path, char *err)
{
	EVP_PKEY *k = NULL;
	char *pem;
	FILE *f;

	if ((f = fopen(path, "re")) != NULL) {
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
		if (k == NULL)
			ossl_err(err, path);
		return k;
	}
	if (errno != ENOENT) {
		snprintf(err, WEIR_ERRLEN, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((k = acme_key_new(err)) == NULL)
		return NULL;
	if ((pem = acme_key_pem(k, err)) == NULL ||
	    acme_write_file(path, pem, strlen(pem), 0600, err) == -1) {
		free(pem);
		EVP_PKEY_free(k);
		return NULL;
	}
	free(pem);
	return k;
}

/* The public point's coordinates, 32 bytes each. */
static int
ec_xy(EVP_PKEY *k, unsigned char x[32], unsigned char y[32], char *err)
{
	BIGNUM *bx = NULL, *by = NULL;
	int rc = -1;

	if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bx) &&
	    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &by) &&
	    BN_bn2binpad(bx, x, 32) == 32 && BN_bn2binpad(by, y, 32) == 32)
		rc = 0;
	else
		ossl_err(err, "EC public key");
	BN_free(bx);
	BN_free(by);
	return rc;
}

/*
 * The account key's public JWK: members in lexical order, no spaces, which
 * is also the form its thumbprint hashes (RFC 7638 §3).  Malloc'd.
 */
char *
acme_jwk(EVP_PKEY *k, char *err)
{
	unsigned char x[32], y[32];
	char *bx, *by, *out;
	size_t n;

	if (ec_xy(k, x, y, err) == -1)
		return NULL;
	bx = acme_b64url(x, 32);
	by = acme_b64url(y, 32);
	n = strlen(bx) + strlen(by) + 64;
	out = xmalloc(n);
	snprintf(out, n, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", bx, by);
	free(bx);
	free(by);
	return out;
}

/* RFC 7638 thumbprint of the JWK (SHA-256, base64url).  Malloc'd. */
char *
acme_thumbprint(EVP_PKEY *k, char *err)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char *jwk = acme_jwk(k, err), *out = NULL;

	if (jwk == NULL)
		return NULL;
	if (EVP_Digest(jwk, strlen(jwk), md, &mdlen, EVP_sha256(), NULL))
		out = acme_b64url(md, mdlen);
	else
		ossl_err(err, "SHA-256");
	free(jwk);
	return out;
}

/*
 * ES256 signature of `data`: EVP gives DER (SEQUENCE of r, s); JWS wants
 * the two numbers as 32 bytes each, concatenated (RFC 7518 §3.4).
 * Returns the base64url text, malloc'd.
 */
char *
acme_sign_es256(EVP_PKEY *k, const char *data, size_t n, char *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char der[128], raw[64];
	const unsigned char *dp = der;
	size_t dlen = sizeof(der);
	ECDSA_SIG *sig = NULL;
	char *out = NULL;

	if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k) != 1 ||
	    EVP_DigestSign(ctx, der, &dlen, (const unsigned char *)data, n) != 1 ||
	    (sig = d2i_ECDSA_SIG(NULL, &dp, (long)dlen)) == NULL ||
	    BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) != 32 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) != 32)
		ossl_err(err, "ES256 signature");
	else
		out = acme_b64url(raw, sizeof(raw));
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(ctx);
	return out;
}

/* "DNS:a,DNS:b" for a subjectAltName extension; malloc'd. */
static char *
san_list(const char *const *hosts, size_t n)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < n; i++)
		len += strlen(hosts[i]) + 5;
	s = xmalloc(len);
	s[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strcat(s, ",");
		strcat(s, "DNS:");
		strcat(s, hosts[i]);
	}
	return s;
}

/* Add subjectAltName and CN (the first host) to a request or certificate. */
static int
set_names(X509_NAME *name, STACK_OF(X509_EXTENSION) *exts, X509 *cert,
    const char *const *hosts, size_t n, char *err)
{
	char *san = san_list(hosts, n);
	X509_EXTENSION *ext;
	X509V3_CTX ctx;
	int rc = -1;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)hosts[0], -1, -1, 0) ||
	    (ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san)) == NULL) {
		ossl_err(err, "subjectAltName");
	} else if (cert != NULL) {
		rc = X509_add_ext(cert, ext, -1) ? 0 : -1;
		X509_EXTENSION_free(ext);
	} else {
		rc = sk_X509_EXTENSION_push(exts, ext) > 0 ? 0 : -1;
		if (rc == -1)
			X509_EXTENSION_free(ext);
	}
	if (rc == -1 && err[0] == '\0')
		ossl_err(err, "subjectAltName");
	free(san);
	return rc;
}

/*
 * The CSR for an order (RFC 8555 §7.4): the certificate's key, its names
 * as subjectAltName, DER, base64url.  Malloc'd.
 */
char *
acme_csr(EVP_PKEY *k, const char *const *hosts, size_t n, char *err)
{
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	unsigned char *der = NULL;
	char *out = NULL;
	int len;

	err[0] = '\0';
	if (req == NULL || exts == NULL || !X509_REQ_set_version(req, 0) ||
	    set_names(X509_REQ_get_subject_name(req), exts, NULL, hosts, n, err) == -1 ||
	    !X509_REQ_add_extensions(req, exts) || !X509_REQ_set_pubkey(req, k) ||
	    !X509_REQ_sign(req, k, EVP_sha256()) || (len = i2d_X509_REQ(req, &der)) <= 0) {
		if (err[0] == '\0')
			ossl_err(err, "CSR");
	} else {
		out = acme_b64url(der, (size_t)len);
	}
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return out;
}

/*
 * A self-signed certificate for `hosts`, valid for `days`, with a new key:
 * what a site with `certificate = acme` is served with until its first
 * certificate arrives.  Fills *cert_pem and *key_pem (malloc'd).
 */
int
acme_self_signed(const char *const *hosts, size_t n, int days, char **cert_pem,
    char **key_pem, char *err)
{
	EVP_PKEY *k = acme_key_new(err);
	X509 *x = X509_new();
	BIO *b = BIO_new(BIO_s_mem());
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	char *data;
	long len;
	int rc = -1;

	err[0] = '\0';
	*cert_pem = *key_pem = NULL;
	if (k == NULL || x == NULL || b == NULL || !RAND_bytes(serial, sizeof(serial)) ||
	    (bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    !X509_set_version(x, 2) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) ||
	    set_names(X509_get_subject_name(x), NULL, x, hosts, n, err) == -1 ||
	    !X509_set_issuer_name(x, X509_get_subject_name(x)) ||
	    !X509_set_pubkey(x, k) || !X509_sign(x, k, EVP_sha256()) ||
	    !PEM_write_bio_X509(b, x)) {
		if (err[0] == '\0')
			ossl_err(err, "self-signed certificate");
	} else if ((*key_pem = acme_key_pem(k, err)) != NULL) {
		len = BIO_get_mem_data(b, &data);
		*cert_pem = xstrndup(data, (size_t)len);
		rc = 0;
	}
	BN_free(bn);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

static int64_t
asn1_unix(const ASN1_TIME *t)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(t, &tm))
		return 0;
	return (int64_t)timegm(&tm);
}

/*
 * The first certificate of a PEM text: its validity (unix seconds), serial
 * (hex) and issuer (one line).  For scheduling the renewal and for status.
 */
int
acme_cert_info(const char *pem, size_t n, struct acme_cert_info *ci, char *err)
{
	BIO *b = BIO_new_mem_buf(pem, (int)n);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL;

	memset(ci, 0, sizeof(*ci));
	if (x == NULL) {
		ossl_err(err, "certificate");
		BIO_free(b);
		return -1;
	}
	ci->not_before = asn1_unix(X509_get0_notBefore(x));
	ci->not_after = asn1_unix(X509_get0_notAfter(x));
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) != NULL &&
	    (hex = BN_bn2hex(bn)) != NULL)
		wstrlcpy(ci->serial, hex, sizeof(ci->serial));
	X509_NAME_oneline(X509_get_issuer_name(x), ci->issuer, sizeof(ci->issuer));
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
	BIO_free(b);
	return 0;
}
