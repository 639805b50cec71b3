/*
 * test_tlsvars.c - what pools are told about a TLS connection (tlsvars.c),
 * from real handshakes between two OpenSSL endpoints in memory (a BIO
 * pair): the bindings equal what the client computes on its side (the
 * exporter for TLS 1.3; for TLS 1.2 tls-unique, the client's Finished in a
 * full handshake and the server's in a resumed one), tls-server-end-point
 * is the SHA-256 of the certificate, a client certificate's values; and
 * the header form (the PEM percent-encoded) and the reserved names.
 */
#include "../unit.h"
#include "../../../src/common/util.c"
#include "../../../src/common/httpparse.c"
#include "../../../src/frontend/tlsvars.c"

#include <openssl/x509v3.h>

/* A P-256 key and a certificate for it, issued by `issuer` (NULL: self-signed). */
static X509 *
make_cert(const char *cn, EVP_PKEY **key, X509 *issuer, EVP_PKEY *ikey)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	*key = EVP_EC_gen("P-256");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234abcd);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_set_pubkey(x, *key);
	if (issuer == NULL) {
		/* a CA (OpenSSL verifies a chain only through CA:TRUE issuers) */
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints,
		    "critical,CA:TRUE");

		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	X509_sign(x, ikey ? ikey : *key, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

struct pair {
	SSL	*srv, *cli;
};

/* Handshake srv and cli over a BIO pair; 0 when both finished. */
static int
shake(struct pair *p, SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *resume)
{
	BIO *a, *b;

	p->srv = SSL_new(sctx);
	p->cli = SSL_new(cctx);
	BIO_new_bio_pair(&a, 0, &b, 0);
	SSL_set_bio(p->srv, a, a);
	SSL_set_bio(p->cli, b, b);
	SSL_set_accept_state(p->srv);
	SSL_set_connect_state(p->cli);
	SSL_set_tlsext_host_name(p->cli, "a.test");
	if (resume != NULL)
		SSL_set_session(p->cli, resume);
	for (int i = 0; i < 100; i++) {
		int rs = SSL_do_handshake(p->srv), rc = SSL_do_handshake(p->cli);

		if (rs == 1 && rc == 1) {
			/* the client reads what the server sent last (tickets) */
			char c;

			(void)SSL_read(p->cli, &c, 1);
			return 0;
		}
	}
	return -1;
}

/* A clean close, so that the session stays resumable. */
static void
pair_free(struct pair *p)
{
	(void)SSL_shutdown(p->cli);
	(void)SSL_shutdown(p->srv);
	(void)SSL_shutdown(p->cli);
	SSL_free(p->srv);
	SSL_free(p->cli);
}

static const char *
val(const struct tlsvars *tv, enum tlsvar v)
{
	return tv->present[v] ? tv->data + tv->off[v] : NULL;
}

static void
b64(const unsigned char *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

int
main(void)
{
	EVP_PKEY *skey, *cakey, *ckey;
	X509 *scert = make_cert("server", &skey, NULL, NULL);
	X509 *ca = make_cert("clients CA", &cakey, NULL, NULL);
	X509 *ccert = make_cert("alice", &ckey, ca, cakey);
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
	unsigned char buf[64], der_md[32];
	char want[128], hdrs[8192], *end;
	unsigned mdlen;
	struct tlsvars *tv;
	struct pair p;
	SSL_SESSION *sess;
	size_t n;

	SSL_CTX_use_certificate(sctx, scert);
	SSL_CTX_use_PrivateKey(sctx, skey);
	SSL_CTX_set_session_id_context(sctx, (const unsigned char *)"t", 1);
	X509_digest(scert, EVP_sha256(), der_md, &mdlen);

	/* 1. TLS 1.3: the exporter equals the client's; no tls-unique */
	CHECK_INT(shake(&p, sctx, cctx, NULL), 0);
	tv = tlsvars_compute(p.srv);
	CHECK(tv != NULL);
	CHECK_INT(SSL_export_keying_material(p.cli, buf, 32, "EXPORTER-Channel-Binding", 24,
	    NULL, 0, 0), 1);
	b64(buf, 32, want);
	CHECK_STR(val(tv, TV_EXPORTER), want);
	CHECK(val(tv, TV_UNIQUE) == NULL);
	CHECK_STR(val(tv, TV_PROTOCOL), "TLSv1.3");
	CHECK_STR(val(tv, TV_SNI), "a.test");
	CHECK_STR(val(tv, TV_CLIENT_VERIFY), "NONE");
	CHECK(val(tv, TV_CLIENT_S_DN) == NULL);
	b64(der_md, 32, want);
	CHECK_STR(val(tv, TV_END_POINT), want);
	free(tv);
	pair_free(&p);

	/* 2. TLS 1.2, full: tls-unique is the client's Finished; no exporter */
	SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
	CHECK_INT(shake(&p, sctx, cctx, NULL), 0);
	tv = tlsvars_compute(p.srv);
	n = SSL_get_finished(p.cli, buf, sizeof(buf));
	b64(buf, n, want);
	CHECK_STR(val(tv, TV_UNIQUE), want);
	CHECK(val(tv, TV_EXPORTER) == NULL);
	CHECK_STR(val(tv, TV_PROTOCOL), "TLSv1.2");
	sess = SSL_get1_session(p.cli);
	free(tv);
	pair_free(&p);
	/* 3. TLS 1.2, resumed: the server's Finished comes first */
	CHECK_INT(shake(&p, sctx, cctx, sess), 0);
	CHECK(SSL_session_reused(p.srv));
	tv = tlsvars_compute(p.srv);
	n = SSL_get_peer_finished(p.cli, buf, sizeof(buf));
	b64(buf, n, want);
	CHECK_STR(val(tv, TV_UNIQUE), want);
	free(tv);
	pair_free(&p);
	SSL_SESSION_free(sess);

	/* 4. a client certificate the server verifies */
	X509_STORE_add_cert(SSL_CTX_get_cert_store(sctx), ca);
	SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_max_proto_version(cctx, 0);
	SSL_CTX_use_certificate(cctx, ccert);
	SSL_CTX_use_PrivateKey(cctx, ckey);
	CHECK_INT(shake(&p, sctx, cctx, NULL), 0);
	tv = tlsvars_compute(p.srv);
	CHECK_STR(val(tv, TV_CLIENT_VERIFY), "SUCCESS");
	CHECK_STR(val(tv, TV_CLIENT_S_DN), "CN=alice");
	CHECK_STR(val(tv, TV_CLIENT_I_DN), "CN=clients CA");
	CHECK_STR(val(tv, TV_CLIENT_SERIAL), "1234ABCD");
	X509_digest(ccert, EVP_sha256(), der_md, &mdlen);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(want + 2 * i, 3, "%02X", der_md[i]);
	CHECK_STR(val(tv, TV_CLIENT_FINGERPRINT), want);
	CHECK(val(tv, TV_CLIENT_CERT) != NULL &&
	    strncmp(val(tv, TV_CLIENT_CERT), "-----BEGIN CERTIFICATE-----\n", 28) == 0);

	/* 5. the header form: one line per value, the PEM percent-encoded */
	CHECK(tlsvars_headers_size(tv) < sizeof(hdrs));
	end = tlsvars_put_headers(hdrs, tv);
	CHECK((size_t)(end - hdrs) <= tlsvars_headers_size(tv));
	*end = '\0';
	CHECK(strstr(hdrs, "X-TLS-Client-S-DN: CN=alice\r\n") != NULL);
	CHECK(strstr(hdrs, "X-TLS-Client-Cert: -----BEGIN%20CERTIFICATE-----%0A") != NULL);
	n = 0;
	for (const char *q = hdrs; *q != '\0'; q++)
		n += *q == '\n';
	CHECK_INT(n, 11);	/* every value but tls-unique (TLS 1.3) */
	free(tv);
	pair_free(&p);

	/* 6. the names a client may not send */
	CHECK(tlsvars_reserved_header((struct hstr){ "X-TLS-Exporter", 14 }));
	CHECK(tlsvars_reserved_header((struct hstr){ "x-tls-anything", 14 }));
	CHECK(tlsvars_reserved_header((struct hstr){ "X-Tls-", 6 }));
	CHECK(!tlsvars_reserved_header((struct hstr){ "X-TLSX", 6 }));
	CHECK(!tlsvars_reserved_header((struct hstr){ "X-Forwarded-Proto", 17 }));

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	X509_free(scert);
	X509_free(ca);
	X509_free(ccert);
	EVP_PKEY_free(skey);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(ckey);
	return unit_done("test_tlsvars");
}
