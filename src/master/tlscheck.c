/*
 * tlscheck.c - what weir checks in a site's certificate files before it
 * serves them.  tlsload.c, which reads them for the front end (in `weir
 * check`, at start and on every reload), calls these checks on the text it
 * read, so a certificate that fails refuses the start or the reload, and
 * the running configuration keeps serving.
 *
 * For each `certificate = FILE` with its `certificate_key = FILE`:
 * 1. the file holds PEM certificates, the leaf first (the loader reads the
 *    key: a PEM private key without a passphrase);
 * 2. the key is the leaf's: tlscheck_key_matches(), which the loader calls
 *    (the one place keys are compared);
 * 3. the chain is complete and in order: every certificate in the file is
 *    issued (and signed) by the next one; a file may stop short of a root,
 *    but the leaf's own issuer must be in it unless the leaf is self-signed
 *    or its issuer is a root of the system's trust store (a leaf issued by
 *    a root directly);
 * 4. its subjectAltName DNS names (IP addresses for IP hosts) cover each of
 *    the site's `hosts` (certname.c, RFC 6125);
 * 5. it is not expired (error) and does not expire within 14 days
 *    (a warning: `weir check` exits 0 and the master emits event 1316).
 * Every message is "file:line: ..." with the line of the `certificate`
 * key (the loader's about the key file name the `certificate_key` line),
 * and every problem of every certificate is listed at once.
 *
 * The notAfter of every certificate read goes back to the caller (the
 * master's tlsexpiry.c shows it in status and /metrics).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "certname.h"
#include "master.h"

#define EXPIRY_WARN_S	(14 * 86400)	/* warn when a certificate expires sooner */

/* Where messages about one certificate go, and what to prefix them with. */
struct ck {
	const struct conf	*c;
	const struct conf_site	*s;
	const char		*cert;		/* its path */
	int			 line;		/* of the certificate key */
	struct conf_errors	*errs;
	struct conf_errors	*warns;
	size_t			 nerr;
};

static void ck_error(struct ck *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "file:line: [site S] certificate PATH: what" into errors. */
static void
ck_error(struct ck *k, const char *fmt, ...)
{
	char what[WEIR_ERRLEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	conf_errors_add(k->errs, "%s:%d: [site %s] certificate %s: %s", k->c->path,
	    k->line, k->s->name, k->cert, what);
	k->nerr++;
}

/*
 * 1. The certificates of PEM text (len bytes), in order, or NULL with err.
 */
static STACK_OF(X509) *
read_chain(const char *pem, size_t len, char *err)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x;
	const char *why;

	if (b == NULL || sk == NULL)
		fatal("out of memory");
	ERR_clear_error();
	/* no passphrase callback and a non-NULL u: a PEM password is "", never asked */
	while ((x = PEM_read_bio_X509(b, NULL, NULL, (void *)"")) != NULL)
		if (sk_X509_push(sk, x) == 0)
			fatal("out of memory");
	/* the loop ends at the end of the text (no more PEM) or at garbage */
	if (ERR_peek_last_error() != 0 &&
	    ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		why = ERR_reason_error_string(ERR_peek_last_error());
		snprintf(err, WEIR_ERRLEN, "certificate %d in the file is not a PEM certificate (%s)",
		    sk_X509_num(sk) + 1, why != NULL ? why : "unreadable");
		sk_X509_pop_free(sk, X509_free);
		sk = NULL;
	} else if (sk_X509_num(sk) == 0) {
		snprintf(err, WEIR_ERRLEN, "the file holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
		sk_X509_free(sk);
		sk = NULL;
	}
	ERR_clear_error();
	BIO_free(b);
	return sk;
}

/*
 * 2. Is key the private key of leaf's public key?  0, or -1 with err.
 * The loader of the front end's keys and `weir check` both ask this.
 */
int
tlscheck_key_matches(X509 *leaf, EVP_PKEY *key, char *err)
{
	EVP_PKEY *pub = X509_get0_pubkey(leaf);

	if (pub != NULL && EVP_PKEY_eq(pub, key) == 1)
		return 0;
	if (pub == NULL)
		snprintf(err, WEIR_ERRLEN, "the certificate's public key cannot be read");
	else if (EVP_PKEY_get_id(pub) != EVP_PKEY_get_id(key))
		snprintf(err, WEIR_ERRLEN, "it is an %s key, the certificate's is %s",
		    EVP_PKEY_get0_type_name(key), EVP_PKEY_get0_type_name(pub));
	else
		snprintf(err, WEIR_ERRLEN, "it is another %s key than the certificate's",
		    EVP_PKEY_get0_type_name(key));
	ERR_clear_error();
	return -1;
}

/* A certificate's subject as one line, for messages. */
static const char *
subject(X509 *x, char *buf, size_t bufsz)
{
	X509_NAME_oneline(X509_get_subject_name(x), buf, (int)bufsz);
	return buf;
}

static const char *
issuer(X509 *x, char *buf, size_t bufsz)
{
	X509_NAME_oneline(X509_get_issuer_name(x), buf, (int)bufsz);
	return buf;
}

/* Is the issuer of x a certificate of the system's trust store? */
static bool
issuer_trusted(X509 *x)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509 *found = NULL;
	bool ok = false;

	if (st != NULL && ctx != NULL && X509_STORE_set_default_paths(st) == 1 &&
	    X509_STORE_CTX_init(ctx, st, x, NULL) == 1 &&
	    X509_STORE_CTX_get1_issuer(&found, ctx, x) == 1 && found != NULL) {
		ok = X509_verify(x, X509_get0_pubkey(found)) == 1;
		X509_free(found);
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	ERR_clear_error();
	return ok;
}

/* 3. Each certificate issued and signed by the next; the leaf's issuer there. */
static void
check_chain(struct ck *k, STACK_OF(X509) *sk)
{
	int n = sk_X509_num(sk);
	char a[256], b[256];
	X509 *leaf = sk_X509_value(sk, 0);

	for (int i = 0; i + 1 < n; i++) {
		X509 *x = sk_X509_value(sk, i), *up = sk_X509_value(sk, i + 1);

		if (X509_check_issued(up, x) != X509_V_OK ||
		    X509_verify(x, X509_get0_pubkey(up)) != 1)
			ck_error(k, "certificate %d in the file (%s) is not issued by the next one (%s): the chain must be in order, the certificate first, then each issuer",
			    i + 1, subject(x, a, sizeof(a)), subject(up, b, sizeof(b)));
	}
	ERR_clear_error();
	if (n == 1 && X509_self_signed(leaf, 1) != 1 && !issuer_trusted(leaf))
		ck_error(k, "the chain is incomplete: the certificate's issuer (%s) is not in the file; append the intermediate certificate(s) after it",
		    issuer(leaf, a, sizeof(a)));
	ERR_clear_error();
}

/* Does a SAN IP address equal the IP host h ("1.2.3.4" or "[::1]")? */
static bool
ip_covers(const ASN1_OCTET_STRING *ip, const char *h)
{
	unsigned char bin[16];
	char buf[64];
	size_t n = strlen(h);
	int len = ASN1_STRING_length(ip);

	if (n > 2 && h[0] == '[' && h[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, h + 1, n - 2);
		buf[n - 2] = '\0';
		return len == 16 && inet_pton(AF_INET6, buf, bin) == 1 &&
		    memcmp(bin, ASN1_STRING_get0_data(ip), 16) == 0;
	}
	return len == 4 && inet_pton(AF_INET, h, bin) == 1 &&
	    memcmp(bin, ASN1_STRING_get0_data(ip), 4) == 0;
}

/* 4. The leaf's names cover each of the site's hosts. */
static void
check_names(struct ck *k, X509 *leaf)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	char missing[WEIR_ERRLEN] = "", names[WEIR_ERRLEN] = "";
	int ng = gens != NULL ? sk_GENERAL_NAME_num(gens) : 0;

	for (int g = 0; g < ng; g++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, g);

		if (gn->type == GEN_DNS)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%.*s",
			    names[0] ? ", " : "", ASN1_STRING_length(gn->d.dNSName),
			    (const char *)ASN1_STRING_get0_data(gn->d.dNSName));
		else if (gn->type == GEN_IPADD)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%sIP address",
			    names[0] ? ", " : "");
	}
	for (size_t h = 0; h < k->s->hosts.n; h++) {
		const char *host = k->s->hosts.v[h];
		bool ok = false;

		for (int g = 0; g < ng && !ok; g++) {
			const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, g);

			if (gn->type == GEN_DNS)
				ok = certname_match((const char *)ASN1_STRING_get0_data(gn->d.dNSName),
				    (size_t)ASN1_STRING_length(gn->d.dNSName), host, strlen(host));
			else if (gn->type == GEN_IPADD)
				ok = ip_covers(gn->d.iPAddress, host);
		}
		if (!ok)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
			    "%s%s", missing[0] ? ", " : "", host);
	}
	if (missing[0] != '\0')
		ck_error(k, "its names do not cover the site's host%s %s (the certificate's subjectAltName: %s)",
		    strchr(missing, ',') != NULL ? "s" : "", missing,
		    names[0] ? names : "none; the subject's CN is not used (RFC 6125)");
	GENERAL_NAMES_free(gens);
}

/* An ASN1_TIME as unix seconds; -1 when it cannot be read. */
static time_t
asn1_unix(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return (time_t)-1;
	return timegm(&tm);
}

static const char *
date_text(time_t t, char *buf, size_t bufsz)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, bufsz, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return buf;
}

/* 5. Expired: error; within 14 days or not valid yet: a warning. */
static void
check_dates(struct ck *k, X509 *leaf, time_t now, time_t *not_after)
{
	time_t na = asn1_unix(X509_get0_notAfter(leaf));
	time_t nb = asn1_unix(X509_get0_notBefore(leaf));
	char d[64];

	*not_after = na;
	if (na == (time_t)-1) {
		ck_error(k, "its notAfter date cannot be read");
		return;
	}
	if (na <= now)
		ck_error(k, "it expired on %s", date_text(na, d, sizeof(d)));
	else if (na - now < EXPIRY_WARN_S)
		conf_errors_add(k->warns, "%s:%d: warning: [site %s] certificate %s: it expires on %s (in %lld day%s)",
		    k->c->path, k->line, k->s->name, k->cert, date_text(na, d, sizeof(d)),
		    (long long)((na - now) / 86400), (na - now) / 86400 == 1 ? "" : "s");
	if (nb != (time_t)-1 && nb > now)
		conf_errors_add(k->warns, "%s:%d: warning: [site %s] certificate %s: it is not valid before %s (is the clock right?)",
		    k->c->path, k->line, k->s->name, k->cert, date_text(nb, d, sizeof(d)));
}

/*
 * Check certificate i of site s, whose file the loader read as pem (len
 * bytes) and whose key it compared with tlscheck_key_matches(): the chain,
 * the names, the dates.  Errors to errs, warnings and the notAfter to out.
 * Returns the number of errors added.
 */
size_t
tlscheck_cert(const struct conf *c, const struct conf_site *s, size_t i,
    const char *pem, size_t len, struct conf_errors *errs, struct tls_checked *out)
{
	struct ck k = { c, s, s->certificate.v[i], s->certificate_line[i], errs, &out->warns, 0 };
	STACK_OF(X509) *sk;
	char err[WEIR_ERRLEN];
	time_t na;

	if ((sk = read_chain(pem, len, err)) == NULL) {
		ck_error(&k, "%s", err);
		return k.nerr;
	}
	check_chain(&k, sk);
	check_names(&k, sk_X509_value(sk, 0));
	check_dates(&k, sk_X509_value(sk, 0), time(NULL), &na);
	sk_X509_pop_free(sk, X509_free);
	ERR_clear_error();
	if (na != (time_t)-1) {
		struct tls_expiry *e;

		out->exp = xreallocarray(out->exp, out->nexp + 1, sizeof(*out->exp));
		e = &out->exp[out->nexp++];
		memset(e, 0, sizeof(*e));
		e->site = xstrdup(s->name);
		e->path = xstrdup(s->certificate.v[i]);
		e->not_after = na;
	}
	return k.nerr;
}

void
tlscheck_checked_free(struct tls_checked *k)
{
	conf_errors_clear(&k->warns);
	for (size_t i = 0; i < k->nexp; i++) {
		free(k->exp[i].site);
		free(k->exp[i].path);
	}
	free(k->exp);
	k->exp = NULL;
	k->nexp = 0;
}
