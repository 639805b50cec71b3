/*
 * tlspem.c - encode and decode the certificate blob (see tlspem.h).
 *
 * The decoder trusts nothing about lengths: every length is checked against
 * what is left before anything is copied, so a short or garbled memfd is an
 * error, never a read past the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc.h"
#include "util.h"
#include "tlspem.h"

#define TLSPEM_MAGIC	"WTLS1\n"

/* free() after overwriting: key text must not linger in freed memory. */
static void
wipe_free(char *p, size_t n)
{
	if (p == NULL)
		return;
	explicit_bzero(p, n);
	free(p);
}

static char *
dup_text(const char *s, size_t n)
{
	char *d = xmalloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

void
tlspem_add(struct tls_pems *p, const char *site, const char *cert, size_t certlen,
    const char *key, size_t keylen)
{
	struct tls_site_pem *s = (struct tls_site_pem *)tlspem_find(p, site);
	struct tls_pair *pr;

	if (s == NULL) {
		p->v = xreallocarray(p->v, p->n + 1, sizeof(*p->v));
		s = &p->v[p->n++];
		memset(s, 0, sizeof(*s));
		s->site = xstrdup(site);
	}
	if (s->npairs == CONF_CERT_MAX)
		return;		/* the configuration allows no more */
	pr = &s->pair[s->npairs++];
	pr->cert = dup_text(cert, certlen);
	pr->certlen = certlen;
	pr->key = dup_text(key, keylen);
	pr->keylen = keylen;
}

const struct tls_site_pem *
tlspem_find(const struct tls_pems *p, const char *site)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].site, site) == 0)
			return &p->v[i];
	return NULL;
}

static char *
put_u32(char *o, size_t n)
{
	uint32_t v = (uint32_t)n;
	unsigned char le[4] = {
		(unsigned char)v, (unsigned char)(v >> 8),
		(unsigned char)(v >> 16), (unsigned char)(v >> 24)
	};

	memcpy(o, le, 4);
	return o + 4;
}

static char *
put_bytes(char *o, const void *s, size_t n)
{
	o = put_u32(o, n);
	memcpy(o, s, n);
	return o + n;
}

char *
tlspem_encode(const struct tls_pems *p, size_t *len)
{
	size_t n = sizeof(TLSPEM_MAGIC) - 1;
	char *buf, *o;

	for (size_t i = 0; i < p->n; i++) {
		n += 8 + strlen(p->v[i].site);
		for (size_t j = 0; j < p->v[i].npairs; j++)
			n += 8 + p->v[i].pair[j].certlen + p->v[i].pair[j].keylen;
	}
	o = buf = xmalloc(n);
	memcpy(o, TLSPEM_MAGIC, sizeof(TLSPEM_MAGIC) - 1);
	o += sizeof(TLSPEM_MAGIC) - 1;
	for (size_t i = 0; i < p->n; i++) {
		const struct tls_site_pem *s = &p->v[i];

		o = put_bytes(o, s->site, strlen(s->site));
		o = put_u32(o, s->npairs);
		for (size_t j = 0; j < s->npairs; j++) {
			o = put_bytes(o, s->pair[j].cert, s->pair[j].certlen);
			o = put_bytes(o, s->pair[j].key, s->pair[j].keylen);
		}
	}
	*len = n;
	return buf;
}

/* Read a u32 at *pos; -1 when fewer than 4 bytes are left. */
static int
get_u32(const char *buf, size_t len, size_t *pos, uint32_t *v)
{
	const unsigned char *b = (const unsigned char *)buf + *pos;

	if (len - *pos < 4)
		return -1;
	*v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 24;
	*pos += 4;
	return 0;
}

/* A length-prefixed text at *pos, copied; NULL when it does not fit. */
static char *
get_text(const char *buf, size_t len, size_t *pos, size_t *n)
{
	uint32_t v;
	char *s;

	if (get_u32(buf, len, pos, &v) == -1 || len - *pos < v)
		return NULL;
	s = dup_text(buf + *pos, v);
	*pos += v;
	*n = v;
	return s;
}

int
tlspem_decode(const char *buf, size_t len, struct tls_pems *p, char *err)
{
	size_t pos = sizeof(TLSPEM_MAGIC) - 1;

	tlspem_free(p);
	if (len < pos || memcmp(buf, TLSPEM_MAGIC, pos) != 0) {
		snprintf(err, WEIR_ERRLEN, "certificate message: bad header");
		return -1;
	}
	while (pos < len) {
		struct tls_site_pem *s;
		size_t n;
		uint32_t np;
		char *name = get_text(buf, len, &pos, &n);

		if (name == NULL || get_u32(buf, len, &pos, &np) == -1 || np > CONF_CERT_MAX) {
			free(name);
			goto bad;
		}
		p->v = xreallocarray(p->v, p->n + 1, sizeof(*p->v));
		s = &p->v[p->n++];
		memset(s, 0, sizeof(*s));
		s->site = name;
		for (uint32_t j = 0; j < np; j++) {
			struct tls_pair *pr = &s->pair[s->npairs];

			if ((pr->cert = get_text(buf, len, &pos, &pr->certlen)) == NULL)
				goto bad;
			if ((pr->key = get_text(buf, len, &pos, &pr->keylen)) == NULL) {
				free(pr->cert);
				goto bad;
			}
			s->npairs++;
		}
	}
	return 0;
bad:
	tlspem_free(p);
	snprintf(err, WEIR_ERRLEN, "certificate message: truncated or malformed");
	return -1;
}

void
tlspem_free(struct tls_pems *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct tls_site_pem *s = &p->v[i];

		free(s->site);
		for (size_t j = 0; j < s->npairs; j++) {
			free(s->pair[j].cert);
			wipe_free(s->pair[j].key, s->pair[j].keylen);
		}
	}
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

void
tlspem_free_blob(char *blob, size_t len)
{
	wipe_free(blob, len);
}
