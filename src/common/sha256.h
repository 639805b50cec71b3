/*
 * sha256.h - SHA-256 (FIPS 180-4), for the component MANIFEST.
 *
 * Small and dependency-free so that `weir verify` and the master's preflight
 * need no crypto library.  Not constant-time and not meant for secrets: it
 * only detects files that differ from what the build produced.
 */
#ifndef WEIR_SHA256_H
#define WEIR_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN	32		/* digest bytes */
#define SHA256_HEXLEN	65		/* hex digest with its NUL */

struct sha256 {
	uint32_t	 h[8];		/* chaining state */
	uint64_t	 total;		/* bytes hashed so far */
	uint8_t		 buf[64];	/* partial block */
	size_t		 nbuf;		/* bytes in buf */
};

void	sha256_init(struct sha256 *s);
void	sha256_update(struct sha256 *s, const void *data, size_t n);
void	sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN]);
/* Lowercase hex of a digest into out (SHA256_HEXLEN bytes). */
void	sha256_hex(const uint8_t d[SHA256_LEN], char out[SHA256_HEXLEN]);
/* Hash a whole file; -1 with err (WEIR_ERRLEN) when it cannot be read. */
int	sha256_file(const char *path, char out[SHA256_HEXLEN], char *err);

#endif
