/*
 * digest.h - SHA-256 of a file, for the component MANIFEST.
 *
 * A thin wrapper over OpenSSL's EVP digest interface: weir carries no
 * cryptographic code of its own (libcrypto is in the build for TLS), and
 * `weir verify` and the master's preflight hash with the same library the
 * front end trusts with its keys.  It only detects files that differ from
 * what the build produced.
 */
#ifndef WEIR_DIGEST_H
#define WEIR_DIGEST_H

#define DIGEST_SHA256_LEN	32	/* digest bytes */
#define SHA256_HEXLEN		65	/* hex digest with its NUL */

/*
 * Hash the whole file at path into out (lowercase hex); -1 with err
 * (WEIR_ERRLEN) when it cannot be read or the digest fails.
 */
int	digest_sha256_file(const char *path, char out[SHA256_HEXLEN], char *err);

#endif
