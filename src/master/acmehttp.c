/*
 * acmehttp.c - the ACME helper's HTTP client: one request per connection,
 * HTTPS through an OpenSSL BIO chain (or cleartext for an http:// URL),
 * blocking with deadlines.
 *
 * It runs only in the ACME helper process (acmeorder.c), never in the
 * master's loop, so blocking is fine there; every connect, read and write
 * is bounded by ACME_HTTP_TIMEOUT_S so a CA that stops answering ends the
 * attempt instead of hanging it.  The server certificate is verified
 * against acme_ca_file (or the system store) and the URL's host name.
 * The response is read whole (Content-Length, chunked, or until close) up
 * to ACME_HTTP_MAX bytes; the headers an ACME client needs are kept.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "master.h"

#define ACME_HTTP_TIMEOUT_S	15
#define ACME_HTTP_MAX		(1024 * 1024)

struct url {
	bool	tls;
	bool	default_port;	/* no port in the URL */
	char	host[256];
	char	port[8];
	char	path[2048];
};

static int
url_parse(const char *u, struct url *out, char *err)
{
	const char *h, *slash, *colon;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (strncmp(u, "https://", 8) == 0) {
		out->tls = true;
		h = u + 8;
		wstrlcpy(out->port, "443", sizeof(out->port));
	} else if (strncmp(u, "http://", 7) == 0) {
		h = u + 7;
		wstrlcpy(out->port, "80", sizeof(out->port));
	} else {
		snprintf(err, WEIR_ERRLEN, "%s: not an http(s) URL", u);
		return -1;
	}
	slash = strchr(h, '/');
	hl = slash ? (size_t)(slash - h) : strlen(h);
	colon = memchr(h, ':', hl);
	out->default_port = colon == NULL;
	if (colon != NULL) {
		size_t pl = hl - (size_t)(colon - h) - 1;

		if (pl == 0 || pl >= sizeof(out->port)) {
			snprintf(err, WEIR_ERRLEN, "%s: bad port", u);
			return -1;
		}
		memcpy(out->port, colon + 1, pl);
		out->port[pl] = '\0';
		hl = (size_t)(colon - h);
	}
	if (hl == 0 || hl >= sizeof(out->host) ||
	    wstrlcpy(out->path, slash ? slash : "/", sizeof(out->path)) >= sizeof(out->path)) {
		snprintf(err, WEIR_ERRLEN, "%s: bad URL", u);
		return -1;
	}
	memcpy(out->host, h, hl);
	out->host[hl] = '\0';
	return 0;
}

/* A TCP connection to host:port within the timeout (SO_*TIMEO bound each I/O). */
static int
tcp_connect(const struct url *u, char *err)
{
	struct addrinfo hints, *res, *ai;
	struct timeval tv = { ACME_HTTP_TIMEOUT_S, 0 };
	int fd = -1, e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(u->host, u->port, &hints, &res)) != 0) {
		snprintf(err, WEIR_ERRLEN, "%s: %s", u->host, gai_strerror(e));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0)) == -1)
			continue;
		/* a failed setsockopt only loses the bound, not the request */
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
		errno = e;
	}
	if (fd == -1)
		snprintf(err, WEIR_ERRLEN, "connect %s:%s: %s", u->host, u->port, strerror(errno));
	freeaddrinfo(res);
	return fd;
}

/* A BIO that speaks to the server: TLS over the socket, verified, or the bare socket. */
static BIO *
open_bio(const struct url *u, const char *ca_file, SSL_CTX **ctxp, char *err)
{
	SSL_CTX *ctx = NULL;
	BIO *sock, *ssl_bio;
	SSL *ssl;
	int fd;

	*ctxp = NULL;
	if ((fd = tcp_connect(u, err)) == -1)
		return NULL;
	if ((sock = BIO_new_socket(fd, BIO_CLOSE)) == NULL) {
		close(fd);
		snprintf(err, WEIR_ERRLEN, "BIO_new_socket failed");
		return NULL;
	}
	if (!u->tls)
		return sock;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !(ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) :
	    SSL_CTX_set_default_verify_paths(ctx)) ||
	    (SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL), (ssl_bio = BIO_new_ssl(ctx, 1)) == NULL)) {
		snprintf(err, WEIR_ERRLEN, "TLS setup%s%s: %s", ca_file ? " with " : "",
		    ca_file ? ca_file : "", ERR_reason_error_string(ERR_get_error()));
		SSL_CTX_free(ctx);
		BIO_free_all(sock);
		return NULL;
	}
	BIO_get_ssl(ssl_bio, &ssl);
	SSL_set_tlsext_host_name(ssl, u->host);
	SSL_set1_host(ssl, u->host);
	BIO_push(ssl_bio, sock);
	if (BIO_do_handshake(ssl_bio) != 1) {
		long v = SSL_get_verify_result(ssl);

		snprintf(err, WEIR_ERRLEN, "TLS with %s:%s: %s", u->host, u->port,
		    v != X509_V_OK ? X509_verify_cert_error_string(v) :
		    ERR_reason_error_string(ERR_get_error()) ? ERR_reason_error_string(ERR_get_error()) :
		    "handshake failed");
		ERR_clear_error();
		BIO_free_all(ssl_bio);
		SSL_CTX_free(ctx);
		return NULL;
	}
	*ctxp = ctx;
	return ssl_bio;
}

/* Keep the headers an ACME client reads. */
static void
keep_header(struct acme_resp *r, const char *name, size_t nl, const char *v, size_t vl)
{
	char **dst = NULL;

	if (nl == 12 && strncasecmp(name, "replay-nonce", 12) == 0)
		dst = &r->nonce;
	else if (nl == 8 && strncasecmp(name, "location", 8) == 0)
		dst = &r->location;
	else if (nl == 12 && strncasecmp(name, "content-type", 12) == 0)
		dst = &r->content_type;
	else if (nl == 11 && strncasecmp(name, "retry-after", 11) == 0)
		r->retry_after = (unsigned)strtoul(v, NULL, 10);	/* seconds form only */
	if (dst != NULL) {
		free(*dst);
		*dst = xstrndup(v, vl);
	}
}

/* Undo chunked framing in place; -1 if malformed. */
static int
dechunk(char *b, size_t n, size_t *out)
{
	size_t r = 0, w = 0;

	for (;;) {
		char *end;
		unsigned long sz = strtoul(b + r, &end, 16);
		char *crlf = memmem(b + r, n - r, "\r\n", 2);

		if (crlf == NULL || end == b + r)
			return -1;
		r = (size_t)(crlf - b) + 2;
		if (sz == 0)
			break;
		if (sz > n - r)
			return -1;
		memmove(b + w, b + r, sz);
		w += sz;
		r += sz + 2;
		if (r > n)
			return -1;
	}
	b[w] = '\0';
	*out = w;
	return 0;
}

/* Split the raw response into status, kept headers and body. */
static int
parse_response(char *buf, size_t n, struct acme_resp *r, char *err)
{
	char *hend = memmem(buf, n, "\r\n\r\n", 4), *line, *next;
	bool chunked = false;
	size_t blen;

	if (hend == NULL || n < 12 || strncmp(buf, "HTTP/1.", 7) != 0) {
		snprintf(err, WEIR_ERRLEN, "not an HTTP response");
		return -1;
	}
	*hend = '\0';
	r->status = atoi(buf + 9);
	for (line = strstr(buf, "\r\n"); line != NULL; line = next) {
		char *colon, *v;

		line += 2;
		next = strstr(line, "\r\n");
		if (next != NULL)
			*next = '\0';
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if ((size_t)(colon - line) == 17 && strncasecmp(line, "transfer-encoding", 17) == 0 &&
		    strcasestr(v, "chunked") != NULL)
			chunked = true;
		keep_header(r, line, (size_t)(colon - line), v, strlen(v));
		if (next != NULL)
			*next = '\r';
	}
	blen = n - (size_t)(hend + 4 - buf);
	r->body = xmalloc(blen + 1);
	memcpy(r->body, hend + 4, blen);
	r->body[blen] = '\0';
	r->len = blen;
	if (chunked && dechunk(r->body, blen, &r->len) == -1) {
		snprintf(err, WEIR_ERRLEN, "bad chunked body");
		return -1;
	}
	return 0;
}

/*
 * One request: `method` to `url` with `body` (NULL: none) of type
 * application/jose+json.  Fills *r (acme_resp_free() it).  The connection
 * is closed after the response, so the body ends at EOF if nothing else.
 */
int
acme_http(const char *method, const char *url, const char *body, const char *ca_file,
    struct acme_resp *r, char *err)
{
	struct url u;
	SSL_CTX *ctx;
	BIO *b;
	char *req, *buf;
	size_t cap = 16384, n = 0, blen = body ? strlen(body) : 0, rl;
	int rc = -1, k;

	memset(r, 0, sizeof(*r));
	log_debug("ACME: %s %s", method, url);
	if (url_parse(url, &u, err) == -1 || (b = open_bio(&u, ca_file, &ctx, err)) == NULL)
		return -1;
	rl = strlen(u.path) + strlen(u.host) + 256;
	req = xmalloc(rl + blen);
	/* the port is part of Host unless it is the scheme's (a CA builds its URLs from it) */
	k = snprintf(req, rl, "%s %s HTTP/1.1\r\nHost: %s%s%s\r\nUser-Agent: weir-acme\r\n"
	    "Accept: application/json\r\nConnection: close\r\n", method, u.path, u.host,
	    u.default_port ? "" : ":", u.default_port ? "" : u.port);
	if (body != NULL)
		k += snprintf(req + k, rl - (size_t)k,
		    "Content-Type: application/jose+json\r\nContent-Length: %zu\r\n", blen);
	k += snprintf(req + k, rl - (size_t)k, "\r\n");
	memcpy(req + k, body ? body : "", blen);
	if (BIO_write(b, req, k + (int)blen) != k + (int)blen || BIO_flush(b) != 1) {
		snprintf(err, WEIR_ERRLEN, "send to %s: %s", u.host, strerror(errno));
		goto out;
	}
	buf = xmalloc(cap);
	for (;;) {
		if (n + 1 >= cap) {
			if (cap >= ACME_HTTP_MAX) {
				snprintf(err, WEIR_ERRLEN, "response from %s too large", u.host);
				free(buf);
				goto out;
			}
			cap *= 2;
			buf = xreallocarray(buf, cap, 1);
		}
		k = BIO_read(b, buf + n, (int)(cap - n - 1));
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	buf[n] = '\0';
	if (n == 0)
		snprintf(err, WEIR_ERRLEN, "no response from %s:%s", u.host, u.port);
	else
		rc = parse_response(buf, n, r, err);
	free(buf);
out:
	free(req);
	BIO_free_all(b);
	SSL_CTX_free(ctx);
	return rc;
}

void
acme_resp_free(struct acme_resp *r)
{
	free(r->body);
	free(r->nonce);
	free(r->location);
	free(r->content_type);
	memset(r, 0, sizeof(*r));
}
