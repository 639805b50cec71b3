/*
 * tlspem.h - the certificates and keys the master hands the front end.
 *
 * The master (root) reads every site's certificate and key files, checks
 * them, and sends their PEM text to the front end, which never opens them:
 * in memory at start (struct fe_start) and in a memfd on CTL_TLS_CERTS.
 * This is that message's format, one flat blob:
 *
 *   "WTLS1\n", then per site: u32 name length, name, u32 pair count, and per
 *   pair: u32 certificate length, certificate PEM (leaf then chain),
 *   u32 key length, key PEM.  Integers little-endian.
 *
 * A struct tls_pems owns everything it points to; tlspem_free() wipes the
 * key text before freeing it.
 */
#ifndef WEIR_TLSPEM_H
#define WEIR_TLSPEM_H

#include <stddef.h>

#include "conf.h"

struct tls_pair {
	char		*cert;		/* PEM: leaf, then its chain; NUL-terminated */
	size_t		 certlen;
	char		*key;		/* PEM private key; NUL-terminated */
	size_t		 keylen;
};

/* One site's certificates: at most an ECDSA and an RSA one. */
struct tls_site_pem {
	char		*site;
	struct tls_pair	 pair[CONF_CERT_MAX];
	size_t		 npairs;
};

struct tls_pems {
	struct tls_site_pem *v;
	size_t		 n;
};

/* Add a pair to site's entry (created on first use); copies the texts. */
void		 tlspem_add(struct tls_pems *p, const char *site, const char *cert,
		    size_t certlen, const char *key, size_t keylen);
const struct tls_site_pem *tlspem_find(const struct tls_pems *p, const char *site);
/* The blob (malloc'd) of p. */
char		*tlspem_encode(const struct tls_pems *p, size_t *len);
/* Parse a blob into p (emptied first); -1 with err filled when malformed. */
int		 tlspem_decode(const char *buf, size_t len, struct tls_pems *p, char *err);
void		 tlspem_free(struct tls_pems *p);
/* Wipe and free a blob. */
void		 tlspem_free_blob(char *blob, size_t len);

#endif
