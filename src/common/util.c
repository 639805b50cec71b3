/*
 * util.c - allocation wrappers, fd and address helpers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rc.h"
#include "util.h"

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	return p;
}

void *
xcalloc(size_t nmemb, size_t n)
{
	void *p = calloc(nmemb ? nmemb : 1, n ? n : 1);

	if (p == NULL)
		abort();
	return p;
}

void *
xreallocarray(void *p, size_t nmemb, size_t n)
{
	void *q;

	if (n && nmemb > SIZE_MAX / n)
		abort();
	if ((q = realloc(p, nmemb * n != 0 ? nmemb * n : 1)) == NULL)
		abort();
	return q;
}

/* Zeroed memory aligned to `align` (a power of two): per-thread counters. */
void *
xcalloc_aligned(size_t nmemb, size_t n, size_t align)
{
	size_t total;
	void *p;

	if (n && nmemb > SIZE_MAX / n)
		abort();
	total = nmemb * n != 0 ? nmemb * n : align;
	total = (total + align - 1) & ~(align - 1);
	if ((p = aligned_alloc(align, total)) == NULL)
		abort();
	memset(p, 0, total);
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		abort();
	return p;
}

size_t
wstrlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size > 0) {
		size_t c = n < size - 1 ? n : size - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

int
fd_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int
fd_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl == -1)
		return -1;
	return fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

static int
int_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

int
fd_close_all_but(const int *keep, size_t n)
{
	int *k = xcalloc(n + 1, sizeof(int));
	unsigned lo = 0;
	int rc = 0;

	memcpy(k, keep, n * sizeof(int));
	qsort(k, n, sizeof(int), int_cmp);
	/* the gaps between the kept ones, then everything above the last */
	for (size_t i = 0; i <= n && rc == 0; i++) {
		unsigned hi = i < n ? (unsigned)k[i] : ~0U;

		if (i < n && k[i] < 0)
			continue;		/* -1: nothing to keep */
		if (hi > lo && close_range(lo, hi - 1, 0) == -1)
			rc = -1;
		if (i < n)
			lo = hi + 1;
	}
	free(k);
	return rc;
}

int
write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

char *
read_file(const char *path, size_t max, size_t *len, char *err)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, WEIR_ERRLEN, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, WEIR_ERRLEN, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if ((size_t)st.st_size > max) {
		snprintf(err, WEIR_ERRLEN, "%s: larger than %zu bytes", path, max);
		close(fd);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, WEIR_ERRLEN, "%s: read: %s", path,
			    r == 0 ? "unexpected end of file" : strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
}

/*
 * Parse a listen address: "127.0.0.1:8080", "[::1]:8080", "*:8080",
 * ":8080", "8080" (all IPv4 interfaces), "localhost:8080" (127.0.0.1), or
 * "unix:/path".  Numeric only: a server must not depend on DNS to start.
 */
int
sockaddr_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *len,
    char *err)
{
	char host[256];
	const char *port, *p;
	char *end;
	unsigned long pn;

	memset(ss, 0, sizeof(*ss));
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)ss;

		if (spec[5] != '/' || strlen(spec + 5) >= sizeof(sun->sun_path)) {
			snprintf(err, WEIR_ERRLEN, "'%s': unix socket path must be absolute and shorter than %zu bytes",
			    spec, sizeof(sun->sun_path));
			return -1;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, spec + 5, strlen(spec + 5) + 1);
		*len = (socklen_t)sizeof(*sun);
		return 0;
	}
	if (spec[0] == '[') {
		if ((p = strchr(spec, ']')) == NULL || p[1] != ':') {
			snprintf(err, WEIR_ERRLEN, "'%s': expected [IPv6]:port", spec);
			return -1;
		}
		if ((size_t)(p - spec - 1) >= sizeof(host)) {
			snprintf(err, WEIR_ERRLEN, "'%s': address too long", spec);
			return -1;
		}
		memcpy(host, spec + 1, (size_t)(p - spec - 1));
		host[p - spec - 1] = '\0';
		port = p + 2;
	} else if ((p = strrchr(spec, ':')) != NULL) {
		if ((size_t)(p - spec) >= sizeof(host)) {
			snprintf(err, WEIR_ERRLEN, "'%s': address too long", spec);
			return -1;
		}
		memcpy(host, spec, (size_t)(p - spec));
		host[p - spec] = '\0';
		port = p + 1;
	} else {
		host[0] = '\0';
		port = spec;
	}
	errno = 0;
	pn = strtoul(port, &end, 10);
	if (*port == '\0' || *end != '\0' || errno || pn == 0 || pn > 65535 ||
	    port[0] == '+' || port[0] == '-') {
		snprintf(err, WEIR_ERRLEN, "'%s': port must be 1..65535", spec);
		return -1;
	}
	if (spec[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)pn);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
			snprintf(err, WEIR_ERRLEN, "'%s': bad IPv6 address", spec);
			return -1;
		}
		*len = (socklen_t)sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)pn);
		if (host[0] == '\0' || strcmp(host, "*") == 0)
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (strcmp(host, "localhost") == 0)
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
			snprintf(err, WEIR_ERRLEN, "'%s': bad IPv4 address (numeric addresses only)", spec);
			return -1;
		}
		*len = (socklen_t)sizeof(*s4);
	}
	return 0;
}

void
sockaddr_format(const struct sockaddr *sa, char *out, size_t outsz)
{
	char a[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(out, outsz, "%s:%u", a, ntohs(s4->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(out, outsz, "[%s]:%u", a, ntohs(s6->sin6_port));
		break;
	}
	case AF_UNIX:
		snprintf(out, outsz, "unix:%s",
		    ((const struct sockaddr_un *)sa)->sun_path);
		break;
	default:
		snprintf(out, outsz, "(family %d)", sa->sa_family);
	}
}

bool
ascii_casecmp_n(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return false;
	return true;
}

char *
str_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

void
time_iso8601(char *out, size_t outsz)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, outsz, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, outsz - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

const char *
util_signame(int sig)
{
	static _Thread_local char buf[24];
	const char *abbrev;

	if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
		snprintf(buf, sizeof(buf), "SIGRTMIN+%d", sig - SIGRTMIN);
		return sig == SIGRTMIN ? "SIGRTMIN" : buf;
	}
	/* glibc 2.32+: "KILL" for SIGKILL, NULL for no signal */
	if ((abbrev = sigabbrev_np(sig)) == NULL)
		return "SIG?";
	snprintf(buf, sizeof(buf), "SIG%s", abbrev);
	return buf;
}

int
dir_probe(const char *path, bool readable, struct stat *st)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC), e;

	if (fd == -1)
		return -1;
	/* "." is looked up inside the directory: that needs search (x) on it */
	if (fstat(fd, st) == -1 ||
	    faccessat(fd, ".", X_OK | (readable ? R_OK : 0), 0) == -1) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

void
wait_status_words(int status, char *out, size_t outsz)
{
	if (WIFEXITED(status)) {
		snprintf(out, outsz, "exit status %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		snprintf(out, outsz, "signal %d (%s)%s", WTERMSIG(status),
		    util_signame(WTERMSIG(status)),
		    WCOREDUMP(status) ? ", core dumped" : "");
	} else {
		snprintf(out, outsz, "wait status 0x%x", (unsigned)status);
	}
}

static int
hexdigit(int ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 :
	    ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/*
 * The value of `name` in the query string q[0..qlen) ("a=1&name=v%2Fx"),
 * percent-decoded ('+' is a space) into out.  -1 when it is absent, its
 * escapes are malformed, it decodes to a NUL, or it does not fit.
 */
int
util_query_param(const char *q, size_t qlen, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name), i = 0, o = 0;

	while (q != NULL && i < qlen) {
		size_t end = i;

		while (end < qlen && q[end] != '&')
			end++;
		if (end - i > nl && memcmp(q + i, name, nl) == 0 && q[i + nl] == '=') {
			for (size_t k = i + nl + 1; k < end; k++) {
				int ch = (unsigned char)q[k];

				if (ch == '%') {
					int hi = k + 2 < end ? hexdigit((unsigned char)q[k + 1]) : -1;
					int lo = hi >= 0 ? hexdigit((unsigned char)q[k + 2]) : -1;

					if (lo < 0)
						return -1;
					ch = hi * 16 + lo;
					k += 2;
				} else if (ch == '+') {
					ch = ' ';
				}
				if (ch == '\0' || o + 1 >= outsz)
					return -1;
				out[o++] = (char)ch;
			}
			if (outsz == 0)
				return -1;
			out[o] = '\0';
			return 0;
		}
		i = end + 1;
	}
	return -1;
}
