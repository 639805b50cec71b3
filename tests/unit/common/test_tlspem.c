/*
 * test_tlspem.c - the certificate blob the master sends the front end
 * (tlspem.c): what is encoded decodes to the same, and every truncation or
 * corruption of it is an error, never a read past the end (each is parsed
 * from an exact-size heap copy).
 */
#include "../unit.h"
#include "../../../src/common/tlspem.c"
#include "../../../src/common/util.c"

static int
decode_copy(const char *b, size_t n, struct tls_pems *p)
{
	char err[WEIR_ERRLEN], *c = xmalloc(n ? n : 1);
	int r;

	memcpy(c, b, n);
	r = tlspem_decode(c, n, p, err);
	free(c);
	return r;
}

int
main(void)
{
	struct tls_pems p = { NULL, 0 }, q = { NULL, 0 };
	char *blob;
	size_t len;

	tlspem_add(&p, "a", "CERT-A-EC", 9, "KEY-A-EC", 8);
	tlspem_add(&p, "b", "CERT-B", 6, "KEY-B", 5);
	tlspem_add(&p, "a", "CERT-A-RSA", 10, "KEY-A-RSA", 9);
	tlspem_add(&p, "a", "third", 5, "ignored", 7);	/* at most CONF_CERT_MAX */
	CHECK_INT(p.n, 2);
	CHECK_INT(tlspem_find(&p, "a")->npairs, 2);
	CHECK(tlspem_find(&p, "c") == NULL);
	blob = tlspem_encode(&p, &len);
	CHECK_INT(decode_copy(blob, len, &q), 0);
	CHECK_INT(q.n, 2);
	CHECK_STR(q.v[0].site, "a");
	CHECK_INT(q.v[0].npairs, 2);
	CHECK_STR(q.v[0].pair[1].cert, "CERT-A-RSA");
	CHECK_STR(q.v[0].pair[1].key, "KEY-A-RSA");
	CHECK_STR(q.v[1].pair[0].key, "KEY-B");
	/*
	 * Every cut short of the whole is malformed, but where a site's
	 * record ends: after the magic (6) and after site a (name 4 + 1,
	 * count 4, its pairs 4 + 9, 4 + 8, 4 + 10, 4 + 9).
	 */
	for (size_t n = 0; n < len; n++) {
		int r = decode_copy(blob, n, &q);
		bool boundary = n == 6 || n == 6 + 5 + 4 + 13 + 12 + 14 + 13;

		CHECKF(boundary ? r == 0 : r == -1, "cut at %zu", n);
		CHECKF(r == 0 || q.n == 0, "cut at %zu leaves nothing", n);
	}
	/* a pair count above the maximum */
	blob[6 + 4 + 1] = 3;
	CHECK_INT(decode_copy(blob, len, &q), -1);
	blob[0] = 'X';
	CHECK_INT(decode_copy(blob, len, &q), -1);
	tlspem_free_blob(blob, len);
	/* the empty set */
	tlspem_free(&p);
	blob = tlspem_encode(&p, &len);
	CHECK_INT(decode_copy(blob, len, &q), 0);
	CHECK_INT(q.n, 0);
	tlspem_free_blob(blob, len);
	tlspem_free(&q);
	return unit_done("test_tlspem");
}
