/*
 * tlskeys.c - TLS session ticket keys, made and kept by the master.
 *
 * A ticket is the session's state encrypted by the server with a key of its
 * own; a client that shows it skips the full handshake.  The keys are made
 * here (RAND_bytes) rather than in the front end so that every front-end
 * thread uses the same ones and a front end that died and was started
 * again still accepts the tickets issued before.  Every TLSKEYS_ROTATE_MS
 * a new key takes over encryption; the one before it is still accepted for
 * decryption (such a ticket is then renewed), so a ticket is good for
 * between one and two rotation periods.
 */
#include <string.h>

#include <openssl/rand.h>

#include "log.h"
#include "master.h"

#define TLSKEYS_ROTATE_MS	(60 * 60 * 1000)	/* hourly */

/* A fresh key at key[0]; the current one, if any, becomes the previous. */
static int
make_key(struct ctl_tls_keys *k)
{
	uint8_t fresh[CTL_TLS_KEY_LEN];

	if (RAND_bytes(fresh, sizeof(fresh)) != 1)
		return -1;
	if (k->n > 0) {
		memcpy(k->key[1], k->key[0], CTL_TLS_KEY_LEN);
		k->n = 2;
	} else {
		k->n = 1;
	}
	memcpy(k->key[0], fresh, CTL_TLS_KEY_LEN);
	explicit_bzero(fresh, sizeof(fresh));
	return 0;
}

static void
rotate(void *arg)
{
	struct master *m = arg;

	if (make_key(&m->tls_keys) == -1) {
		/* keep the current key one more period rather than none */
		log_warnx("session ticket keys: RAND_bytes failed; keeping the current key");
	} else if (m->fe.pid > 0 && m->fe.ctl != -1) {
		/* a front end that cannot be told now gets them when started again */
		(void)feproc_send(m, CTL_TLS_KEYS, &m->tls_keys, sizeof(m->tls_keys), NULL, 0);
	}
	loop_timer_set(m->loop, &m->tls_rotate, TLSKEYS_ROTATE_MS);
}

/* The first key and the rotation timer; -1 when no random bytes can be had. */
int
tlskeys_init(struct master *m)
{
	memset(&m->tls_keys, 0, sizeof(m->tls_keys));
	if (make_key(&m->tls_keys) == -1)
		return -1;
	loop_timer_init(&m->tls_rotate, rotate, m);
	loop_timer_set(m->loop, &m->tls_rotate, TLSKEYS_ROTATE_MS);
	return 0;
}

void
tlskeys_free(struct master *m)
{
	explicit_bzero(&m->tls_keys, sizeof(m->tls_keys));
}
