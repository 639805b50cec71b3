/*
 * perip.c - max_connections_per_ip: client connections one address may
 * hold at once (off by default).
 *
 * One table for the whole front end, since a client's connections land on
 * every thread (SO_REUSEPORT).  A lock is taken only when the limit is on,
 * once per accept and once per close.  An address is counted from its
 * first open connection to its last; the table holds only addresses with
 * open connections, so its size follows the connections, not history.
 */
#include <stdlib.h>
#include <string.h>

#include "frontend.h"

#define PERIP_BUCKETS	4096

struct perip_entry {
	struct perip_entry	*next;
	uint8_t			 addr[16];	/* IPv4 as ::ffff:a.b.c.d */
	uint32_t		 n;		/* open connections */
};

static pthread_mutex_t perip_lock = PTHREAD_MUTEX_INITIALIZER;
static struct perip_entry *perip_tab[PERIP_BUCKETS];

static void
key_of(const struct conn *c, uint8_t k[16])
{
	memset(k, 0, 16);
	if (c->peer.sa.sa_family == AF_INET6) {
		memcpy(k, &c->peer.in6.sin6_addr, 16);
	} else {
		k[10] = k[11] = 0xff;
		memcpy(k + 12, &c->peer.in.sin_addr, 4);
	}
}

static unsigned
bucket(const uint8_t k[16])
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (int i = 0; i < 16; i++)
		h = (h ^ k[i]) * 16777619u;
	return h % PERIP_BUCKETS;
}

/*
 * A connection from c's address was accepted: may it stay?  Counts it
 * (CF_PERIP) when it may.  Always true when the limit is off or no memory
 * can be had for the count (a limit is never a reason to refuse because of
 * our own trouble).
 */
bool
perip_admit(struct conn *c, unsigned max)
{
	uint8_t k[16];
	struct perip_entry *e, **b;
	bool ok = true;

	if (max == 0 || (c->peer.sa.sa_family != AF_INET && c->peer.sa.sa_family != AF_INET6))
		return true;
	key_of(c, k);
	b = &perip_tab[bucket(k)];
	pthread_mutex_lock(&perip_lock);
	for (e = *b; e != NULL; e = e->next)
		if (memcmp(e->addr, k, 16) == 0)
			break;
	if (e == NULL && (e = calloc(1, sizeof(*e))) != NULL) {
		memcpy(e->addr, k, 16);
		e->next = *b;
		*b = e;
	}
	if (e != NULL) {
		if (e->n >= max)
			ok = false;
		else {
			e->n++;
			c->flags |= CF_PERIP;
		}
	}
	pthread_mutex_unlock(&perip_lock);
	return ok;
}

/* A counted connection closes. */
void
perip_release(struct conn *c)
{
	uint8_t k[16];
	struct perip_entry *e, **pp;

	if (!(c->flags & CF_PERIP))
		return;
	c->flags &= (uint8_t)~CF_PERIP;
	key_of(c, k);
	pthread_mutex_lock(&perip_lock);
	for (pp = &perip_tab[bucket(k)]; (e = *pp) != NULL; pp = &e->next) {
		if (memcmp(e->addr, k, 16) != 0)
			continue;
		if (--e->n == 0) {
			*pp = e->next;
			free(e);
		}
		break;
	}
	pthread_mutex_unlock(&perip_lock);
}
