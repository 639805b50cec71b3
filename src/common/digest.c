/*
 * digest.c - SHA-256 of a file through OpenSSL's EVP interface (digest.h).
 *
 * The file is read in 64 KiB pieces into one EVP_MD_CTX; a failure of the
 * library (which for SHA-256 in the default provider means no memory) is
 * reported like a read error, so the caller's "cannot hash" path covers it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "rc.h"
#include "digest.h"

int
digest_sha256_file(const char *path, char out[SHA256_HEXLEN], char *err)
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char buf[65536], d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	EVP_MD_CTX *ctx;
	ssize_t n;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, WEIR_ERRLEN, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		snprintf(err, WEIR_ERRLEN, "%s: SHA-256: the digest cannot start", path);
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, WEIR_ERRLEN, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			snprintf(err, WEIR_ERRLEN, "%s: SHA-256: the digest failed", path);
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(ctx, d, &dlen) != 1 || dlen != DIGEST_SHA256_LEN) {
		snprintf(err, WEIR_ERRLEN, "%s: SHA-256: the digest failed", path);
		goto out;
	}
	for (unsigned int i = 0; i < dlen; i++) {
		out[2 * i] = hexd[d[i] >> 4];
		out[2 * i + 1] = hexd[d[i] & 0xf];
	}
	out[2 * dlen] = '\0';
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	close(fd);	/* read-only: nothing a failed close could lose */
	return rc;
}
