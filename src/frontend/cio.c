/*
 * cio.c - every byte to or from a client goes through here.
 *
 * A cleartext connection (c->ssl == NULL) gets the plain system call, one
 * branch away: read(2), send(2), writev(2), sendfile(2), nothing added.  A
 * TLS connection gets SSL_read/SSL_write with the same contract as the
 * system calls: bytes moved, 0 at the end of the input, or -1 with errno
 * EAGAIN (the loop will say when to try again) or another errno (the
 * connection is lost).
 *
 * Two things TLS adds:
 * - OpenSSL may hold input epoll cannot see: decrypted bytes the caller
 *   had no room for (a record is decrypted whole), and, with read-ahead
 *   (tls.c: one read(2) takes a record's header and body, and whatever
 *   else the client sent, instead of one for the header and one for the
 *   body), records not yet decrypted.  So a read that leaves some behind
 *   defers a call of the connection's I/O callback to the end of the
 *   batch, as if the socket were readable (repump()); the same happens
 *   when a connection asks for input again.  What is held may be only part
 *   of a record: the repumped read then finds the socket empty and says
 *   EAGAIN (once: only a read that got bytes, or asking again, defers), and
 *   epoll reports the rest of the record when it comes.
 * - A write that could not finish (SSL_ERROR_WANT_WRITE) must be retried
 *   with at least the same bytes: callers always offer the unsent stream
 *   from where it stopped, and gathered writes are packed into one
 *   thread-local buffer of at most one record from the start of that
 *   stream, so a retry always covers what OpenSSL kept.
 * Static files go by SSL_sendfile() when the kernel does the encryption
 * (kTLS); otherwise a record's worth is read (pread) into the same buffer
 * and written, so memory per connection stays bounded.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "log.h"
#include "frontend.h"

#define CIO_RECORD	16384	/* TLS record payload: what one write packs */

/* Packs gathered writes and file chunks into one record (see above). */
static _Thread_local unsigned char cio_buf[CIO_RECORD];

/* Deferred: read what OpenSSL holds, if the connection wants input now. */
static void
repump(void *arg)
{
	struct conn *c = arg;

	c->flags &= (uint8_t)~CF_TLS_PENDING;
	if (c->state == CONN_CLOSED || c->ssl == NULL || !SSL_has_pending(c->ssl))
		return;
	if (c->io.events & LOOP_READ)
		c->io.cb(c->io.arg, LOOP_READ);
}

/*
 * Decrypted input may be waiting in OpenSSL where epoll cannot see it:
 * have it read at the end of this batch.  Called after a read and when a
 * connection asks for input again.
 */
void
cio_check_pending(struct conn *c)
{
	if (c->ssl == NULL || (c->flags & CF_TLS_PENDING) || c->state == CONN_CLOSED ||
	    !SSL_has_pending(c->ssl))
		return;
	if (loop_defer(c->t->loop, repump, c) == -1) {
		log_warnx("cannot defer a TLS read: the connection waits for more input");
		return;
	}
	c->flags |= CF_TLS_PENDING;
}

/*
 * SSL_get_error() needs an empty error queue before each call.  It is
 * empty nearly always (tls_fail() and tls.c clear what they leave), and
 * looking costs far less than ERR_clear_error()'s sweep of every slot.
 */
static inline void
err_clear(void)
{
	if (ERR_peek_error() != 0)
		ERR_clear_error();
}

/* An SSL_read/SSL_write that returned r <= 0, as a system call would say it. */
static ssize_t
tls_fail(struct conn *c, int r, bool writing)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		/* close_notify (or EOF: SSL_OP_IGNORE_UNEXPECTED_EOF) */
		if (!writing)
			return 0;
		errno = EPIPE;
		return -1;
	case SSL_ERROR_SYSCALL:
		/* errno says why; no close_notify may follow a fatal error */
		SSL_set_quiet_shutdown(c->ssl, 1);
		if (errno == 0 || errno == EAGAIN)
			errno = ECONNRESET;
		return -1;
	default:
		SSL_set_quiet_shutdown(c->ssl, 1);
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

ssize_t
cio_read(struct conn *c, void *buf, size_t n)
{
	int r;

	if (c->ssl == NULL)
		return read(c->io.fd, buf, n);
	err_clear();
	r = SSL_read(c->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
	if (r > 0) {
		cio_check_pending(c);
		return r;
	}
	return tls_fail(c, r, false);
}

static ssize_t
tls_write(struct conn *c, const void *buf, size_t n)
{
	int r;

	if (n == 0)
		return 0;
	err_clear();
	r = SSL_write(c->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
	return r > 0 ? r : tls_fail(c, r, true);
}

/* flags: MSG_MORE or 0 (MSG_NOSIGNAL is always added; TLS ignores both). */
ssize_t
cio_send(struct conn *c, const void *buf, size_t n, int flags)
{
	if (c->ssl == NULL)
		return send(c->io.fd, buf, n, MSG_NOSIGNAL | flags);
	return tls_write(c, buf, n);
}

ssize_t
cio_writev(struct conn *c, const struct iovec *iov, int cnt)
{
	size_t want = 0, got = 0;

	if (c->ssl == NULL)
		return writev(c->io.fd, iov, cnt);
	/* one piece that covers a record: straight from the caller's memory */
	for (int i = 0; i < cnt && want < CIO_RECORD; i++)
		want += iov[i].iov_len;
	if (want > CIO_RECORD)
		want = CIO_RECORD;
	if (cnt > 0 && iov[0].iov_len >= want)
		return tls_write(c, iov[0].iov_base, iov[0].iov_len);
	for (int i = 0; i < cnt && got < want; i++) {
		size_t k = iov[i].iov_len < want - got ? iov[i].iov_len : want - got;

		memcpy(cio_buf + got, iov[i].iov_base, k);
		got += k;
	}
	return tls_write(c, cio_buf, got);
}

/*
 * Send n bytes of file fd from *off; *off moves by what was sent.  0 means
 * the file ended before n bytes (it shrank under us).
 */
ssize_t
cio_sendfile(struct conn *c, int fd, off_t *off, size_t n)
{
	ssize_t r, w;

	if (c->ssl == NULL)
		return sendfile(c->io.fd, fd, off, n);
	if (BIO_get_ktls_send(SSL_get_wbio(c->ssl))) {
		err_clear();
		w = SSL_sendfile(c->ssl, fd, *off, n, 0);
		if (w < 0)
			return tls_fail(c, (int)w, true);
		*off += w;
		return w;
	}
	do {
		r = pread(fd, cio_buf, n < CIO_RECORD ? n : CIO_RECORD, *off);
	} while (r == -1 && errno == EINTR);
	if (r <= 0)
		return r;
	if ((w = tls_write(c, cio_buf, (size_t)r)) > 0)
		*off += w;
	return w;
}
