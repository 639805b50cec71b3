/*
 * cio.c - every byte to or from a client goes through here.
 *
 * A cleartext connection (c->ssl == NULL) gets the plain system call, one
 * branch away: read(2), send(2), writev(2), sendfile(2), nothing added.
 * An HTTP/2 stream's request (c->h2s) has no socket: its bytes go to and
 * come from the stream (h2stream.c), with the same contract.  A
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
 * - A write that could not finish must be retried with at least the same
 *   bytes (OpenSSL keeps a record it could not write; weir keeps records
 *   the socket took only in part, see "TLS output" below): callers always
 *   offer the unsent stream from where it stopped, and gathered writes are
 *   packed into one thread-local buffer of at most one record from the
 *   start of that stream, so a retry always covers what was kept.
 * Up to four records go with one write(2) (TLS output, below).  Static
 * files go by SSL_sendfile() when the kernel does the encryption (kTLS);
 * otherwise four records' worth is read (pread) into a thread-local buffer
 * and written, so memory per connection stays bounded.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
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

/*
 * One BIO per thread, shared by its connections (each SSL holds a
 * reference): a BIO each would cost every idle connection another ~600
 * bytes.  Which connection it writes for is cio_cur, set around each call
 * into OpenSSL that may write; none (NULL) fails the write.
 */
static _Thread_local BIO *cio_bio;
static _Thread_local struct conn *cio_cur;

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

/*
 * Did a read of `got` bytes out of `asked` take all there was?  Then a
 * caller that loops need not read again only to hear EAGAIN: epoll
 * (level-triggered) reports what comes later.  Short of the buffer, the
 * socket had no more; over TLS, also nothing may be left in OpenSSL (the
 * repump of cio_check_pending() covers it, but the caller may as well go on).
 */
bool
cio_drained(struct conn *c, size_t got, size_t asked)
{
	return got < asked && (c->ssl == NULL || !SSL_has_pending(c->ssl));
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
		return c->h2s == NULL ? read(c->io.fd, buf, n) : h2s_cio_read(c->h2s, buf, n);
	err_clear();
	cio_cur = c;	/* an alert or a KeyUpdate may be written */
	r = SSL_read(c->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
	cio_cur = NULL;
	if (r > 0) {
		cio_check_pending(c);
		return r;
	}
	return tls_fail(c, r, false);
}

/* --- TLS output: records gathered into one write(2) ------------------------------- */

/*
 * After the handshake (unless the kernel does the encryption: kTLS),
 * OpenSSL's records go to a BIO of ours instead of the socket.  While cio
 * writes for a connection, each record is appended to a thread-local stage;
 * up to CIO_STAGE_RECORDS records (one SSL_write() each) then go with one
 * write(2): on loopback or a NIC with segmentation offload one 64 KiB
 * write costs the kernel far less than four of 16 KiB.  The socket may take
 * less than the stage: the rest (struct cio_out) is this connection's until
 * it is sent, and the plaintext of the records it holds is not reported
 * sent -- the caller offers those bytes again (it must: OpenSSL asks the
 * same of a retried SSL_write) and the held ciphertext goes first, then
 * they are reported.  Outside cio's writes (close_notify, an answer to a
 * KeyUpdate), a record goes straight to the socket, after what is held.
 */
#define CIO_STAGE_RECORDS	4
#define CIO_RECORD_MAX		(CIO_RECORD + SSL3_RT_HEADER_LENGTH + \
				 SSL3_RT_MAX_ENCRYPTED_OVERHEAD)

struct cio_out {
	size_t		 len, off;	/* buf[off..len): not yet taken by the socket */
	size_t		 plain;		/* plaintext of those records: reported once sent */
	unsigned char	 buf[];
};

static _Thread_local struct {
	struct conn	*c;		/* whose records are staged now; NULL: none */
	size_t		 len;
	unsigned char	 buf[CIO_STAGE_RECORDS * CIO_RECORD_MAX];
} stage;

/* A file's chunk for one stage (cio_sendfile()). */
static _Thread_local unsigned char cio_file[CIO_STAGE_RECORDS * CIO_RECORD];

static BIO_METHOD *cio_method;

/* The socket: conn_close() takes it off the loop before close_notify goes. */
static int
out_fd(struct conn *c)
{
	return c->io.fd != -1 ? c->io.fd : SSL_get_rfd(c->ssl);
}

/*
 * Send what the connection holds.  Returns the plaintext bytes it carried
 * (now sent), or -1 with errno (EAGAIN: the socket is still full).
 */
static ssize_t
out_flush(struct conn *c)
{
	struct cio_out *o = c->tls_out;
	size_t plain;

	while (o->off < o->len) {
		ssize_t w = send(out_fd(c), o->buf + o->off, o->len - o->off, MSG_NOSIGNAL);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		o->off += (size_t)w;
	}
	plain = o->plain;
	free(o);
	c->tls_out = NULL;
	return (ssize_t)plain;
}

static int
bio_write(BIO *b, const char *p, int n)
{
	struct conn *c = cio_cur;
	ssize_t w;

	BIO_clear_retry_flags(b);
	if (c == NULL || n < 0) {
		errno = EPIPE;
		return -1;
	}
	if (stage.c == c) {
		if (sizeof(stage.buf) - stage.len < (size_t)n) {
			/* cannot happen (cio checks room first); OpenSSL keeps the record */
			BIO_set_retry_write(b);
			return -1;
		}
		memcpy(stage.buf + stage.len, p, (size_t)n);
		stage.len += (size_t)n;
		return n;
	}
	if (c->tls_out != NULL && out_flush(c) == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_write(b);
		return -1;
	}
	do {
		w = send(out_fd(c), p, (size_t)n, MSG_NOSIGNAL);
	} while (w == -1 && errno == EINTR);
	if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_write(b);
	return (int)w;
}

static long
bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;	/* nothing is buffered in the BIO */
}

static int
bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

/*
 * The last SSL let the BIO go.  A thread's connections close on it, but
 * at the front end's end thread 0 closes every thread's (thread_fini()):
 * then this thread's pointer is not the one freed and stays.
 */
static int
bio_destroy(BIO *b)
{
	if (cio_bio == b)
		cio_bio = NULL;
	return 1;
}

/* The BIO type, once per front end (tls_init()). */
int
cio_init(void)
{
	if (cio_method != NULL)
		return 0;
	if ((cio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "weir cio")) == NULL ||
	    BIO_meth_set_write(cio_method, bio_write) != 1 ||
	    BIO_meth_set_ctrl(cio_method, bio_ctrl) != 1 ||
	    BIO_meth_set_create(cio_method, bio_create) != 1 ||
	    BIO_meth_set_destroy(cio_method, bio_destroy) != 1) {
		BIO_meth_free(cio_method);
		cio_method = NULL;
		ERR_clear_error();
		return -1;
	}
	return 0;
}

void
cio_fini(void)
{
	BIO_meth_free(cio_method);
	cio_method = NULL;
}

/*
 * The handshake is done: records go through our BIO from now on, unless
 * the kernel encrypts (kTLS: SSL_sendfile()) or the BIO cannot be had
 * (then the socket BIO stays: one write per record, as OpenSSL does).
 */
void
cio_tls_attach(struct conn *c)
{
	if (cio_method == NULL || BIO_get_ktls_send(SSL_get_wbio(c->ssl)))
		return;
	if (cio_bio == NULL) {
		/* the first SSL's reference is the one BIO_new() gives */
		if ((cio_bio = BIO_new(cio_method)) == NULL) {
			ERR_clear_error();
			return;
		}
	} else if (BIO_up_ref(cio_bio) != 1) {
		ERR_clear_error();
		return;
	}
	SSL_set0_wbio(c->ssl, cio_bio);	/* frees our reference to the socket BIO */
}

/*
 * The connection closes: close_notify (unless the session failed), what it
 * holds is dropped; the caller frees the SSL.
 */
void
cio_tls_shutdown(struct conn *c, bool drop)
{
	cio_cur = c;
	if (!SSL_in_init(c->ssl))
		(void)SSL_shutdown(c->ssl);	/* best effort */
	cio_cur = NULL;
	ERR_clear_error();
	if (drop) {
		free(c->tls_out);
		c->tls_out = NULL;
	}
}

/*
 * Stage records from iov (packed into cio_buf where pieces are small) and
 * write them at once.  Returns plaintext bytes sent, or -1 with errno.
 */
static ssize_t
tls_writev(struct conn *c, const struct iovec *iov, int cnt)
{
	size_t sent[CIO_STAGE_RECORDS], end[CIO_STAGE_RECORDS], total = 0, off = 0;
	int i = 0, nrec = 0, r = 1;
	ssize_t w;

	if (c->tls_out != NULL)
		return out_flush(c);
	stage.c = cio_cur = c;
	stage.len = 0;
	while (nrec < CIO_STAGE_RECORDS) {
		const void *p;
		size_t n;

		while (i < cnt && off == iov[i].iov_len) {
			i++;
			off = 0;
		}
		if (i == cnt)
			break;
		if (iov[i].iov_len - off >= CIO_RECORD) {
			/* a piece that covers a record: straight from the caller's memory */
			p = (const char *)iov[i].iov_base + off;
			n = CIO_RECORD;
		} else if (i == cnt - 1) {
			/* the last piece, smaller: straight too (an HTTP/2 flush is one) */
			p = (const char *)iov[i].iov_base + off;
			n = iov[i].iov_len - off;
		} else {
			/* small pieces: packed, the same bytes again if this is retried */
			int j = i;
			size_t o = off;

			for (n = 0; j < cnt && n < CIO_RECORD; j++, o = 0) {
				size_t k = iov[j].iov_len - o;

				if (k > CIO_RECORD - n)
					k = CIO_RECORD - n;
				memcpy(cio_buf + n, (const char *)iov[j].iov_base + o, k);
				n += k;
			}
			p = cio_buf;
		}
		err_clear();
		if ((r = SSL_write(c->ssl, p, (int)n)) <= 0)
			break;
		sent[nrec] = (size_t)r;
		end[nrec++] = stage.len;
		total += (size_t)r;
		/* move on by r bytes over the pieces */
		for (size_t left = (size_t)r; left > 0;) {
			size_t k = iov[i].iov_len - off < left ? iov[i].iov_len - off : left;

			off += k;
			left -= k;
			if (off == iov[i].iov_len && left > 0) {
				i++;
				off = 0;
			}
		}
	}
	stage.c = cio_cur = NULL;
	if (nrec == 0)
		return r <= 0 ? tls_fail(c, r, true) : 0;
	err_clear();	/* a failed SSL_write after some went: reported next time */
	if (stage.len == 0)
		return (ssize_t)total;	/* not our BIO (it could not be had): already written */
	do {
		w = send(c->io.fd, stage.buf, stage.len, MSG_NOSIGNAL);
	} while (w == -1 && errno == EINTR);
	if (w == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
		return -1;
	if (w == -1)
		w = 0;
	if ((size_t)w < stage.len) {
		/* the records the socket took whole are sent; the rest is held */
		struct cio_out *o = malloc(sizeof(*o) + stage.len - (size_t)w);
		size_t done = 0;

		if (o == NULL) {
			errno = ENOMEM;
			return -1;
		}
		for (int k = 0; k < nrec && end[k] <= (size_t)w; k++)
			done += sent[k];
		o->len = stage.len - (size_t)w;
		o->off = 0;
		o->plain = total - done;
		memcpy(o->buf, stage.buf + w, o->len);
		c->tls_out = o;
		if (done == 0) {
			errno = EAGAIN;
			return -1;
		}
		return (ssize_t)done;
	}
	return (ssize_t)total;
}

/* flags: MSG_MORE or 0 (MSG_NOSIGNAL is always added; TLS ignores both). */
ssize_t
cio_send(struct conn *c, const void *buf, size_t n, int flags)
{
	struct iovec iov = { (void *)(uintptr_t)buf, n };

	if (c->ssl == NULL && c->h2s != NULL)
		return h2s_cio_writev(c->h2s, &iov, 1);
	if (c->ssl == NULL)
		return send(c->io.fd, buf, n, MSG_NOSIGNAL | flags);
	return n == 0 ? 0 : tls_writev(c, &iov, 1);
}

ssize_t
cio_writev(struct conn *c, const struct iovec *iov, int cnt)
{
	if (c->ssl == NULL)
		return c->h2s == NULL ? writev(c->io.fd, iov, cnt) : h2s_cio_writev(c->h2s, iov, cnt);
	return tls_writev(c, iov, cnt);
}

/*
 * TLS: a response head, then up to n bytes of file fd from *off, in the
 * same records and write (not the head in a write of its own).  Returns
 * the bytes sent of the two together, *off moved by the file's part; only
 * the head goes when the file has nothing at *off (the caller's next
 * cio_sendfile() says it shrank).  Over kTLS, the head alone.
 */
ssize_t
cio_sendfile_head(struct conn *c, const void *head, size_t hlen, int fd, off_t *off,
    size_t n)
{
	struct iovec iov[2] = { { (void *)(uintptr_t)head, hlen }, { cio_file, 0 } };
	ssize_t r = 0, w;

	if (BIO_get_ktls_send(SSL_get_wbio(c->ssl)))
		return cio_send(c, head, hlen, 0);
	if (c->tls_out == NULL && hlen < sizeof(cio_file)) {
		if (n > sizeof(cio_file) - hlen)
			n = sizeof(cio_file) - hlen;
		do {
			r = pread(fd, cio_file, n, *off);
		} while (r == -1 && errno == EINTR);
		if (r == -1)
			return -1;
	}
	/* held records are sent first: they are these bytes again */
	iov[1].iov_len = (size_t)r;
	w = tls_writev(c, iov, 2);
	if (w > (ssize_t)hlen)
		*off += w - (ssize_t)hlen;
	return w;
}

/*
 * Send n bytes of file fd from *off; *off moves by what was sent.  0 means
 * the file ended before n bytes (it shrank under us).
 */
ssize_t
cio_sendfile(struct conn *c, int fd, off_t *off, size_t n)
{
	struct iovec iov = { cio_file, 0 };
	ssize_t r, w;

	if (c->ssl == NULL)
		return c->h2s == NULL ? sendfile(c->io.fd, fd, off, n) :
		    h2s_cio_sendfile(c->h2s, fd, off, n);
	if (BIO_get_ktls_send(SSL_get_wbio(c->ssl))) {
		err_clear();
		w = SSL_sendfile(c->ssl, fd, *off, n, 0);
		if (w < 0)
			return tls_fail(c, (int)w, true);
		*off += w;
		return w;
	}
	if (c->tls_out != NULL) {
		/* the held records are these bytes of the file: sent, not read again */
		if ((w = out_flush(c)) > 0)
			*off += w;
		return w;
	}
	do {
		r = pread(fd, cio_file, n < sizeof(cio_file) ? n : sizeof(cio_file), *off);
	} while (r == -1 && errno == EINTR);
	if (r <= 0)
		return r;
	iov.iov_len = (size_t)r;
	if ((w = tls_writev(c, &iov, 1)) > 0)
		*off += w;
	return w;
}
