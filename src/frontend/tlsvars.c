/*
 * tlsvars.c - what a pool is told about the TLS connection a request came
 * on: HTTPS, protocol, cipher, SNI name, the channel bindings an
 * application ties its authentication to (RFC 5929, RFC 9266), and the
 * client certificate when the site asks for one.
 *
 * The values are computed once per connection, on its first request that
 * goes to a pool (static files never need them), and kept in one
 * allocation owned by the connection (c->tlsv, freed by conn_close()): a
 * keep-alive connection's later requests copy them.  Every TLS value is
 * fixed once the handshake is done (weir never renegotiates), so they
 * cannot go stale.
 *
 * One table names each value for the three kinds of pool: the request
 * header an HTTP pool (and weir-host, which gives native modules a struct
 * weir_tls) gets, and mod_ssl's CGI variable a FastCGI pool gets.  A
 * client's own headers with those names are dropped before any of this
 * (tlsvars_reserved_header()), on cleartext connections too, so an
 * application can believe any X-TLS-* it sees.
 *
 * Which binding: tls-exporter (RFC 9266) for TLS 1.3, where tls-unique is
 * undefined; tls-unique (RFC 5929 §3) for TLS 1.2, whose exporter without
 * extended master secret is not unique to the connection (RFC 9266 §3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "util.h"
#include "frontend.h"

#define EXPORTER_LABEL	"EXPORTER-Channel-Binding"	/* RFC 9266 §2 */
#define EXPORTER_LEN	32
#define FINISHED_MAX	64		/* a Finished message is 12 bytes in TLS 1.2 */

/* Header and CGI names, indexed by enum tlsvar (tlsnames.h) */
#define TV_NAMES(e, h, cgi, m)	[TV_##e] = { h, cgi },
static const struct {
	const char	*header;
	const char	*cgi;
} names[TV_N] = {
	TLS_VALUES(TV_NAMES)
};
#undef TV_NAMES

const char *
tlsvars_header_name(enum tlsvar v)
{
	return names[v].header;
}

const char *
tlsvars_cgi_name(enum tlsvar v)
{
	return names[v].cgi;
}

/*
 * A client's header that would speak for weir: every X-TLS-* name (the
 * table's and any future one), so that no value an application reads
 * under that prefix ever came from the client.
 */
bool
tlsvars_reserved_header(struct hstr name)
{
	return name.n >= sizeof(TLS_HEADER_PREFIX) - 1 &&
	    ascii_casecmp_n(name.p, TLS_HEADER_PREFIX, sizeof(TLS_HEADER_PREFIX) - 1);
}

/* --- computing ------------------------------------------------------------------ */

/* The values as they are gathered: texts owned by the builder until packed. */
struct build {
	char		*v[TV_N];
	size_t		 n[TV_N];
};

static int
set_copy(struct build *b, enum tlsvar v, const void *s, size_t n)
{
	if ((b->v[v] = malloc(n + 1)) == NULL)
		return -1;
	memcpy(b->v[v], s, n);
	b->v[v][n] = '\0';
	b->n[v] = n;
	return 0;
}

static int
set_b64(struct build *b, enum tlsvar v, const unsigned char *bin, size_t n)
{
	if ((b->v[v] = malloc(4 * ((n + 2) / 3) + 1)) == NULL)
		return -1;
	b->n[v] = (size_t)EVP_EncodeBlock((unsigned char *)b->v[v], bin, (int)n);
	return 0;
}

static int
set_hex(struct build *b, enum tlsvar v, const unsigned char *bin, size_t n)
{
	static const char hx[] = "0123456789ABCDEF";

	if ((b->v[v] = malloc(2 * n + 1)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		b->v[v][2 * i] = hx[bin[i] >> 4];
		b->v[v][2 * i + 1] = hx[bin[i] & 15];
	}
	b->v[v][2 * n] = '\0';
	b->n[v] = 2 * n;
	return 0;
}

/* A BIO's contents (a memory BIO just written) as value v. */
static int
set_bio(struct build *b, enum tlsvar v, BIO *bio)
{
	char *p;
	long n = BIO_get_mem_data(bio, &p);

	return n < 0 ? -1 : set_copy(b, v, p, (size_t)n);
}

/*
 * tls-server-end-point (RFC 5929 §4.1): the hash of the server's
 * certificate with its signature's hash function, SHA-256 when that is MD5
 * or SHA-1 (or there is none, as with Ed25519).
 */
static int
end_point(struct build *b, SSL *ssl)
{
	X509 *cert = SSL_get_certificate(ssl);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	const EVP_MD *type = EVP_sha256();
	int mdnid = NID_undef;

	if (cert == NULL)
		return 0;	/* no certificate, no binding to it */
	if (X509_get_signature_info(cert, &mdnid, NULL, NULL, NULL) == 1 &&
	    mdnid != NID_undef && mdnid != NID_md5 && mdnid != NID_sha1) {
		const EVP_MD *m = EVP_get_digestbynid(mdnid);

		if (m != NULL)
			type = m;
	}
	if (X509_digest(cert, type, md, &mdlen) != 1)
		return -1;
	return set_b64(b, TV_END_POINT, md, mdlen);
}

/*
 * The connection's own binding: the exporter for TLS 1.3; for TLS 1.2 the
 * first Finished message of the handshake, which is the client's in a full
 * handshake and the server's in an abbreviated (resumed) one (RFC 5929 §3.1).
 */
static int
channel(struct build *b, SSL *ssl)
{
	unsigned char buf[FINISHED_MAX > EXPORTER_LEN ? FINISHED_MAX : EXPORTER_LEN];
	size_t n;

	if (SSL_version(ssl) >= TLS1_3_VERSION) {
		if (SSL_export_keying_material(ssl, buf, EXPORTER_LEN, EXPORTER_LABEL,
		    sizeof(EXPORTER_LABEL) - 1, NULL, 0, 0) != 1)
			return -1;
		return set_b64(b, TV_EXPORTER, buf, EXPORTER_LEN);
	}
	n = SSL_session_reused(ssl) ? SSL_get_finished(ssl, buf, sizeof(buf)) :
	    SSL_get_peer_finished(ssl, buf, sizeof(buf));
	if (n == 0 || n > sizeof(buf))
		return 0;	/* no handshake finished: nothing to bind to */
	return set_b64(b, TV_UNIQUE, buf, n);
}

/* The client certificate's values (mod_ssl's forms: RFC 2253 names, hex serial). */
static int
client(struct build *b, SSL *ssl)
{
	X509 *peer = SSL_get1_peer_certificate(ssl);
	long vr = SSL_get_verify_result(ssl);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	BIO *bio = NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL, verify[160];
	int rc = -1;

	if (peer == NULL)
		return set_copy(b, TV_CLIENT_VERIFY, "NONE", 4);
	if (vr == X509_V_OK)
		snprintf(verify, sizeof(verify), "SUCCESS");
	else
		snprintf(verify, sizeof(verify), "FAILED:%s", X509_verify_cert_error_string(vr));
	if (set_copy(b, TV_CLIENT_VERIFY, verify, strlen(verify)) == -1)
		goto out;
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) < 0 ||
	    set_bio(b, TV_CLIENT_S_DN, bio) == -1 || BIO_reset(bio) != 1 ||
	    X509_NAME_print_ex(bio, X509_get_issuer_name(peer), 0, XN_FLAG_RFC2253) < 0 ||
	    set_bio(b, TV_CLIENT_I_DN, bio) == -1 || BIO_reset(bio) != 1 ||
	    PEM_write_bio_X509(bio, peer) != 1 || set_bio(b, TV_CLIENT_CERT, bio) == -1)
		goto out;
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL ||
	    set_copy(b, TV_CLIENT_SERIAL, hex, strlen(hex)) == -1)
		goto out;
	if (X509_digest(peer, EVP_sha256(), md, &mdlen) != 1 ||
	    set_hex(b, TV_CLIENT_FINGERPRINT, md, mdlen) == -1)
		goto out;
	rc = 0;
out:
	OPENSSL_free(hex);
	BN_free(bn);
	BIO_free(bio);
	X509_free(peer);
	return rc;
}

/* One allocation: the offsets, then every value NUL-terminated. */
static struct tlsvars *
pack(const struct build *b)
{
	size_t total = 0, at = 0;
	struct tlsvars *tv;

	for (int i = 0; i < TV_N; i++)
		total += b->v[i] != NULL ? b->n[i] + 1 : 0;
	if ((tv = malloc(sizeof(*tv) + total)) == NULL)
		return NULL;
	tv->refs = 1;
	for (int i = 0; i < TV_N; i++) {
		tv->present[i] = b->v[i] != NULL;
		tv->off[i] = (uint32_t)at;
		tv->len[i] = (uint32_t)b->n[i];
		if (b->v[i] != NULL) {
			memcpy(tv->data + at, b->v[i], b->n[i] + 1);
			at += b->n[i] + 1;
		}
	}
	return tv;
}

/*
 * The values of a connection whose handshake is done.  NULL when out of
 * memory or when OpenSSL cannot say (the caller fails the request: an
 * application must never get a TLS request without its binding).
 */
struct tlsvars *
tlsvars_compute(SSL *ssl)
{
	struct build b;
	struct tlsvars *tv = NULL;
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	const char *cipher = SSL_get_cipher_name(ssl);
	const char *proto = SSL_get_version(ssl);

	memset(&b, 0, sizeof(b));
	if (set_copy(&b, TV_PROTOCOL, proto, strlen(proto)) == -1 ||
	    (cipher != NULL && set_copy(&b, TV_CIPHER, cipher, strlen(cipher)) == -1) ||
	    (sni != NULL && set_copy(&b, TV_SNI, sni, strlen(sni)) == -1) ||
	    channel(&b, ssl) == -1 || end_point(&b, ssl) == -1 || client(&b, ssl) == -1)
		goto out;
	tv = pack(&b);
out:
	for (int i = 0; i < TV_N; i++)
		free(b.v[i]);
	return tv;
}

/*
 * The connection's values, computed on the first call.  0 with *out NULL
 * for a cleartext connection; -1 when they cannot be had (a 500).
 */
int
tlsvars_get(struct conn *c, const struct tlsvars **out)
{
	*out = NULL;
	if (conn_tls(c) == NULL)
		return 0;
	if (c->tlsv == NULL && (c->tlsv = tlsvars_compute(conn_tls(c))) == NULL)
		return -1;
	*out = c->tlsv;
	return 0;
}

/*
 * An HTTP/2 stream's connection (stream) on the TLS connection c takes c's
 * values, computed once for all its streams: computing them (the
 * certificate's digests and names) cost a third of a pool stream's front-end
 * time.  When they cannot be had now, the stream computes its own
 * (tlsvars_get()), and fails its request if that fails too.
 */
void
tlsvars_share(struct conn *c, struct conn *stream)
{
	const struct tlsvars *tv;

	if (stream->tlsv != NULL || tlsvars_get(c, &tv) == -1 || c->tlsv == NULL)
		return;
	c->tlsv->refs++;	/* one thread owns c and its streams */
	stream->tlsv = c->tlsv;
}

/* A connection lets go of its values (the last one frees them). */
void
tlsvars_put(struct tlsvars *tv)
{
	if (tv != NULL && --tv->refs == 0)
		free(tv);
}

/* --- HTTP pools: request headers ------------------------------------------------------ */

/*
 * In a header the certificate's line breaks cannot stand: the PEM goes
 * percent-encoded (as nginx's $ssl_client_escaped_cert and Envoy do), which
 * urllib.parse.unquote() and rawurldecode() undo.  The other values are
 * header-safe as they are: names, base64, hex, and RFC 2253 names, in
 * which OpenSSL escapes control and non-ASCII bytes (XN_FLAG_RFC2253).
 */
static bool
escaped(enum tlsvar v, unsigned char ch)
{
	return v == TV_CLIENT_CERT && (ch < 0x21 || ch > 0x7e || ch == '%' || ch == '+');
}

/* Bytes tlsvars_put_headers() writes at most. */
size_t
tlsvars_headers_size(const struct tlsvars *tv)
{
	size_t n = 0;

	for (int i = 0; i < TV_N; i++)
		if (tv->present[i])
			n += strlen(names[i].header) + 4 + 3 * (size_t)tv->len[i];
	return n;
}

char *
tlsvars_put_headers(char *p, const struct tlsvars *tv)
{
	static const char hx[] = "0123456789ABCDEF";

	for (int i = 0; i < TV_N; i++) {
		const char *v = tv->data + tv->off[i];

		if (!tv->present[i])
			continue;
		p = put(p, names[i].header, strlen(names[i].header));
		p = PUTS(p, ": ");
		for (uint32_t k = 0; k < tv->len[i]; k++) {
			unsigned char ch = (unsigned char)v[k];

			if (escaped((enum tlsvar)i, ch)) {
				*p++ = '%';
				*p++ = hx[ch >> 4];
				*p++ = hx[ch & 15];
			} else {
				*p++ = (char)ch;
			}
		}
		p = PUTS(p, "\r\n");
	}
	return p;
}
