/*
 * test_acme.c - the pure parts of the ACME client: base64url (RFC 4648 §5
 * vectors, no padding), URL splitting (the port belongs in Host unless it
 * is the scheme's), response parsing (status, the kept headers, chunked
 * bodies; malformed chunking refused), the JWK's member order and its
 * thumbprint, an ES256 signature that verifies as r || s, a CSR and a
 * self-signed certificate for the hosts.
 */
#include <stdlib.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../unit.h"
#include "../../../src/master/acmecrypto.c"
#include "../../../src/master/acmehttp.c"
#include "../../../src/common/util.c"
#include "../../../src/common/log.c"

static void
test_b64url(void)
{
	static const struct { const char *in, *out; } v[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
		{ "\xfb\xff\xbf", "-_-_" },	/* the two url-safe letters */
	};

	for (size_t i = 0; i < nitems(v); i++) {
		char *got = acme_b64url((const unsigned char *)v[i].in, strlen(v[i].in));

		CHECKF(strcmp(got, v[i].out) == 0, "%s: %s, want %s", v[i].in, got, v[i].out);
		free(got);
	}
}

static void
test_url(void)
{
	static const struct {
		const char *url;
		int ok, tls, dflt;
		const char *host, *port, *path;
	} v[] = {
		{ "https://acme-v02.api.letsencrypt.org/directory", 1, 1, 1,
		  "acme-v02.api.letsencrypt.org", "443", "/directory" },
		{ "https://127.0.0.1:14000/dir", 1, 1, 0, "127.0.0.1", "14000", "/dir" },
		{ "http://ca.test", 1, 0, 1, "ca.test", "80", "/" },
		{ "ftp://x/", 0, 0, 0, NULL, NULL, NULL },
		{ "https://:443/", 0, 0, 0, NULL, NULL, NULL },
		{ "https://x:/", 0, 0, 0, NULL, NULL, NULL },
		{ "https://x:123456789/", 0, 0, 0, NULL, NULL, NULL },
	};
	char err[WEIR_ERRLEN];

	for (size_t i = 0; i < nitems(v); i++) {
		struct url u;
		int rc = url_parse(v[i].url, &u, err);

		CHECKF((rc == 0) == v[i].ok, "%s: rc %d", v[i].url, rc);
		if (rc != 0 || !v[i].ok)
			continue;
		CHECKF(u.tls == v[i].tls && u.default_port == v[i].dflt &&
		    strcmp(u.host, v[i].host) == 0 && strcmp(u.port, v[i].port) == 0 &&
		    strcmp(u.path, v[i].path) == 0, "%s: %s %s %s", v[i].url, u.host, u.port, u.path);
	}
}

static void
test_response(void)
{
	char ok[] = "HTTP/1.1 201 Created\r\nReplay-Nonce: abc\r\nLocation: https://ca/acct/1\r\n"
	    "Retry-After: 3\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
	char plain[] = "HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\n"
	    "\r\n{\"type\":\"x\"}";
	char badchunk[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nshort\r\n";
	char nothttp[] = "SSH-2.0-OpenSSH\r\n\r\n";
	char err[WEIR_ERRLEN];
	struct acme_resp r;

	memset(&r, 0, sizeof(r));
	CHECK(parse_response(ok, strlen(ok), &r, err) == 0);
	CHECK(r.status == 201 && r.retry_after == 3);
	CHECK(r.nonce && strcmp(r.nonce, "abc") == 0);
	CHECK(r.location && strcmp(r.location, "https://ca/acct/1") == 0);
	CHECKF(r.len == 7 && strcmp(r.body, "{\"a\":1}") == 0, "body %s", r.body);
	acme_resp_free(&r);
	CHECK(parse_response(plain, strlen(plain), &r, err) == 0);
	CHECK(r.status == 400 && strcmp(r.content_type, "application/problem+json") == 0);
	CHECK(strcmp(r.body, "{\"type\":\"x\"}") == 0 && r.nonce == NULL);
	acme_resp_free(&r);
	CHECK(parse_response(badchunk, strlen(badchunk), &r, err) == -1);
	acme_resp_free(&r);
	CHECK(parse_response(nothttp, strlen(nothttp), &r, err) == -1);
	acme_resp_free(&r);
}

#define JWK_HEAD	"{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\""

/* An ES256 JWS signature is r || s: rebuild the DER and verify it. */
static void
test_sign(void)
{
	char err[WEIR_ERRLEN], *jwk, *th, *sig, *exp;
	EVP_PKEY *k = acme_key_new(err);
	unsigned char raw[64], md[32], *der = NULL;
	unsigned int mdlen;
	const char *msg = "eyJhbGciOiJFUzI1NiJ9.e30";
	ECDSA_SIG *es = ECDSA_SIG_new();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int dl;

	CHECK(k != NULL);
	jwk = acme_jwk(k, err);
	CHECKF(strncmp(jwk, JWK_HEAD, strlen(JWK_HEAD)) == 0 &&
	    strstr(jwk, "\",\"y\":\"") != NULL && strchr(jwk, ' ') == NULL, "jwk %s", jwk);
	th = acme_thumbprint(k, err);
	EVP_Digest(jwk, strlen(jwk), md, &mdlen, EVP_sha256(), NULL);
	exp = acme_b64url(md, mdlen);
	CHECK(th != NULL && strcmp(th, exp) == 0 && strlen(th) == 43);
	sig = acme_sign_es256(k, msg, strlen(msg), err);
	CHECK(sig != NULL && strlen(sig) == 86);	/* 64 bytes */
	{
		/* undo base64url with OpenSSL's decoder (padding and alphabet restored) */
		char b64[128];
		size_t n = strlen(sig);

		for (size_t i = 0; i < n; i++)
			b64[i] = sig[i] == '-' ? '+' : sig[i] == '_' ? '/' : sig[i];
		memcpy(b64 + n, "==", 3);
		CHECK(EVP_DecodeBlock(raw, (unsigned char *)b64, (int)n + 2) == 66);
	}
	ECDSA_SIG_set0(es, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL));
	dl = i2d_ECDSA_SIG(es, &der);
	CHECK(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k) == 1 &&
	    EVP_DigestVerify(ctx, der, (size_t)dl, (const unsigned char *)msg, strlen(msg)) == 1);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(ctx);
	free(jwk);
	free(th);
	free(exp);
	free(sig);
	EVP_PKEY_free(k);
}

static void
test_certs(void)
{
	const char *hosts[] = { "example.com", "www.example.com" };
	char err[WEIR_ERRLEN], *cert, *key, *csr;
	struct acme_cert_info ci;
	EVP_PKEY *k = acme_key_new(err);
	int64_t now = (int64_t)time(NULL);

	csr = acme_csr(k, hosts, 2, err);
	CHECKF(csr != NULL && strchr(csr, '=') == NULL && strlen(csr) > 100, "%s", err);
	CHECK(acme_self_signed(hosts, 2, 7, &cert, &key, err) == 0);
	CHECK(strstr(key, "-----BEGIN PRIVATE KEY-----") != NULL);
	CHECK(acme_cert_info(cert, strlen(cert), &ci, err) == 0);
	CHECK(ci.not_after - now > 7 * 86400 - 60 && ci.not_after - now <= 7 * 86400 + 60);
	CHECK(ci.not_before <= now && strcmp(ci.issuer, "/CN=example.com") == 0 && ci.serial[0]);
	CHECK(acme_cert_info("junk", 4, &ci, err) == -1);
	free(cert);
	free(key);
	free(csr);
	EVP_PKEY_free(k);
}

int
main(void)
{
	test_b64url();
	test_url();
	test_response();
	test_sign();
	test_certs();
	return unit_done("acme");
}
