/*
 * accesslog.c - the access log (W3C extended, IIS's default, or combined)
 * and the HTTPERR-style log of errors the front end generated itself.
 *
 * Lines are built in a per-thread buffer and written with one write(2) on an
 * O_APPEND fd when the buffer is half full or a second has passed (checked
 * before the loop sleeps), so logging costs no syscall per request.  The fds
 * come from the master; on SIGUSR1 it sends new ones and thread 0 dup2()s
 * them over the old numbers, so the other threads never see a closed fd.
 * The format is the access log file's, not the configuration generation's:
 * a reload that changes access_log comes with a new file (frontend.c
 * log_reopen()), and each line is written in the format of its file.
 * Every request-controlled field is escaped: no log injection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"
#include "frontend.h"

#define LOGBUF_CAP	(128 * 1024)
#define LOGBUF_MAXAGE	1000	/* ms a line may wait in the buffer */
#define LINE_MAX_BYTES	(24 * 1024)	/* longest possible escaped line */

static void
update_logdate(struct fe_thread *t)
{
	static const char *mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec == t->logdate_t)
		return;
	t->logdate_t = ts.tv_sec;
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(t->w3cdate, sizeof(t->w3cdate), "%04d-%02d-%02d %02d:%02d:%02d",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
	snprintf(t->clfdate, sizeof(t->clfdate), "%02d/%s/%04d:%02d:%02d:%02d +0000",
	    tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
}

static void
lb_write(struct logbuf *lb, int fd)
{
	size_t off = 0;

	while (off < lb->len) {
		ssize_t w = write(fd, lb->buf + off, lb->len - off);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			/* Disk full or the like: drop the batch, say so once per batch. */
			log_warn("request log write (%zu bytes dropped)", lb->len - off);
			break;
		}
		off += (size_t)w;
	}
	lb->len = 0;
}

void
logbuf_flush(struct fe_thread *t, bool force)
{
	uint64_t now = loop_now(t->loop);
	struct logbuf *lbs[2] = { &t->alog, &t->elog };
	int fds[2] = { atomic_load(&t->fe->access_fds[t->alog.format]),
	    atomic_load(&t->fe->httperr_fd) };

	for (int i = 0; i < 2; i++) {
		struct logbuf *lb = lbs[i];

		if (lb->len == 0)
			continue;
		if (force || lb->len >= LOGBUF_CAP / 2 || now - lb->first >= LOGBUF_MAXAGE) {
			if (fds[i] == -1)
				lb->len = 0;
			else
				lb_write(lb, fds[i]);
		}
	}
}

/* Room for one more line; NULL if the log is off or memory is short. */
static char *
lb_reserve(struct fe_thread *t, struct logbuf *lb, int fd)
{
	if (fd == -1)
		return NULL;
	if (lb->buf == NULL) {
		if ((lb->buf = malloc(LOGBUF_CAP)) == NULL)
			return NULL;
		lb->cap = LOGBUF_CAP;
	}
	if (lb->cap - lb->len < LINE_MAX_BYTES)
		lb_write(lb, fd);
	if (lb->len == 0)
		lb->first = loop_now(t->loop);
	return lb->buf + lb->len;
}

/*
 * Append a request-controlled field: '-' when absent; bytes outside
 * printable ASCII, and the separators of the format, as %XX.  `w3c` turns
 * spaces into '+' like IIS.  At most `max` input bytes.
 */
static char *
put_field(char *p, const char *s, size_t n, bool w3c, size_t max)
{
	static const char hex[] = "0123456789ABCDEF";

	if (s == NULL || n == 0) {
		*p++ = '-';
		return p;
	}
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (w3c && ch == ' ') {
			*p++ = '+';
		} else if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\' ||
		    (w3c && ch == '+')) {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		} else {
			*p++ = (char)ch;
		}
	}
	return p;
}

static char *
put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static char *
put_u64(char *p, uint64_t v)
{
	return p + fmt_u64(p, v);
}

static char *
put_ip(char *p, const struct sockaddr *sa, bool port, char sep)
{
	size_t n = fmt_ip(p, sa);
	unsigned pn = 0;

	if (sa->sa_family == AF_INET)
		pn = ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	else if (sa->sa_family == AF_INET6)
		pn = ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	if (n == 0)
		*p++ = '-';
	else
		p += n;
	if (port) {
		*p++ = sep;
		p = put_u64(p, pn);
	}
	return p;
}

/* The server address a connection came in on (getsockname for wildcards). */
static void
local_addr(const struct conn *c, struct sockaddr_storage *ss)
{
	const struct fe_addr *fa = &c->gen->addrs[c->addr];
	socklen_t len = sizeof(*ss);

	*ss = fa->ss;
	/* a stream's connection (HTTP/2) has no socket of its own: its listener's address */
	if (fa->wildcard && c->io.fd != -1 && !c->internal &&
	    getsockname(c->io.fd, (struct sockaddr *)ss, &len) == -1)
		*ss = fa->ss;
}

/* The protocol the client spoke: a stream's connection says HTTP/2.0. */
static const char *
proto_name(const struct conn *c, const struct req *r)
{
	if (c->proto == CONN_PROTO_H2)
		return "HTTP/2.0";
	return r->h.minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
}

static struct hstr
header(const struct req *r, const char *name)
{
	const struct http_header *h = httpparse_find(r->h.headers, r->h.nheaders, name);
	struct hstr none = { NULL, 0 };

	return h != NULL ? h->value : none;
}

void
alog_request(struct conn *c, struct req *r)
{
	struct fe_thread *t = c->t;
	int format = atomic_load(&t->fe->access_format), fd;
	uint64_t ms = (mono_ns() - r->start_ns) / 1000000;
	struct sockaddr_storage local;
	struct hstr ua, ref;
	char *p, *start;
	const char *ver = proto_name(c, r);

	if (format == ACCESS_LOG_OFF)
		return;
	/* lines of the format before a reload go to that format's file */
	if (t->alog.format != format && t->alog.len > 0)
		lb_write(&t->alog, atomic_load(&t->fe->access_fds[t->alog.format]));
	t->alog.format = format;
	fd = atomic_load(&t->fe->access_fds[format]);
	if ((start = p = lb_reserve(t, &t->alog, fd)) == NULL)
		return;
	update_logdate(t);
	ua = header(r, "user-agent");
	ref = header(r, "referer");
	if (format == ACCESS_LOG_W3C) {
		local_addr(c, &local);
		p = put_str(p, t->w3cdate);
		*p++ = ' ';
		p = put_ip(p, (struct sockaddr *)&local, false, 0);
		*p++ = ' ';
		p = put_field(p, r->h.method_str.p, r->h.method_str.n, true, 32);
		*p++ = ' ';
		p = put_field(p, r->h.path.p, r->h.path.n, true, 2048);
		*p++ = ' ';
		p = put_field(p, r->h.query.p, r->h.query.n, true, 2048);
		*p++ = ' ';
		p = put_u64(p, c->gen->addrs[c->addr].port);
		p = put_str(p, " - ");
		p = put_ip(p, &c->peer.sa, false, 0);
		*p++ = ' ';
		p = put_str(p, r->h.method_str.p != NULL ? ver : "-");
		*p++ = ' ';
		p = put_field(p, ua.p, ua.n, true, 512);
		*p++ = ' ';
		p = put_field(p, ref.p, ref.n, true, 1024);
		*p++ = ' ';
		p = put_field(p, r->h.host.p, r->h.host.n, true, 256);
		*p++ = ' ';
		p = put_u64(p, (uint64_t)r->status);
		p = put_str(p, " 0 0 ");
		p = put_u64(p, r->bytes);
		*p++ = ' ';
		p = put_u64(p, ms);
	} else {
		p = put_ip(p, &c->peer.sa, false, 0);
		p = put_str(p, " - - [");
		p = put_str(p, t->clfdate);
		p = put_str(p, "] \"");
		if (r->h.method_str.p != NULL) {
			p = put_field(p, r->h.method_str.p, r->h.method_str.n, false, 32);
			*p++ = ' ';
			p = put_field(p, r->h.target.p, r->h.target.n, false, 4096);
			*p++ = ' ';
			p = put_str(p, ver);
		} else {
			*p++ = '-';
		}
		p = put_str(p, "\" ");
		p = put_u64(p, (uint64_t)r->status);
		*p++ = ' ';
		p = put_u64(p, r->bytes);
		p = put_str(p, " \"");
		p = put_field(p, ref.p, ref.n, false, 1024);
		p = put_str(p, "\" \"");
		p = put_field(p, ua.p, ua.n, false, 512);
		*p++ = '"';
	}
	*p++ = '\n';
	t->alog.len += (size_t)(p - start);
}

void
alog_httperr(struct conn *c, struct req *r, int status, const char *reason)
{
	struct fe_thread *t = c->t;
	int fd = atomic_load(&t->fe->httperr_fd);
	struct sockaddr_storage local;
	char *p, *start;

	if ((start = p = lb_reserve(t, &t->elog, fd)) == NULL)
		return;
	update_logdate(t);
	local_addr(c, &local);
	p = put_str(p, t->w3cdate);
	*p++ = ' ';
	p = put_ip(p, &c->peer.sa, true, ' ');
	*p++ = ' ';
	p = put_ip(p, (struct sockaddr *)&local, true, ' ');
	*p++ = ' ';
	if (r != NULL && r->h.method_str.p != NULL) {
		p = put_str(p, proto_name(c, r));
		*p++ = ' ';
		p = put_field(p, r->h.method_str.p, r->h.method_str.n, true, 32);
		*p++ = ' ';
		p = put_field(p, r->h.target.p, r->h.target.n, true, 2048);
	} else {
		p = put_str(p, "- - -");
	}
	*p++ = ' ';
	if (status != 0)
		p = put_u64(p, (uint64_t)status);
	else
		*p++ = '-';	/* about a connection (HTTP/2 limits), not a response */
	*p++ = ' ';
	if (r != NULL && r->site != NULL)
		p = put_u64(p, r->site->idx);
	else
		*p++ = '-';
	*p++ = ' ';
	p = put_field(p, reason, strlen(reason), true, 64);
	*p++ = ' ';
	/* s-queuename: the pool, when the error concerned one */
	if (r != NULL && r->queue != NULL)
		p = put_field(p, r->queue, strlen(r->queue), true, 64);
	else
		*p++ = '-';
	*p++ = '\n';
	t->elog.len += (size_t)(p - start);
}
