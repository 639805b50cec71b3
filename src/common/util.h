/*
 * util.h - small helpers shared by every component.
 *
 * The x*alloc() family aborts on failure and is for startup and for
 * long-lived control-plane objects only; the request path uses arenas and
 * turns a failed allocation into a 500.
 */
#ifndef WEIR_UTIL_H
#define WEIR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#define container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))
#define WEIR_MIN(a, b)	((a) < (b) ? (a) : (b))
#define WEIR_MAX(a, b)	((a) > (b) ? (a) : (b))

void	*xmalloc(size_t n);
void	*xcalloc(size_t nmemb, size_t n);
void	*xreallocarray(void *p, size_t nmemb, size_t n);
void	*xcalloc_aligned(size_t nmemb, size_t n, size_t align);
char	*xstrdup(const char *s);
char	*xstrndup(const char *s, size_t n);

/* Copy with truncation; returns strlen(src) like OpenBSD strlcpy. */
size_t	 wstrlcpy(char *dst, const char *src, size_t size);

/*
 * A signal's abbreviation as kill(1) and signal(7) write it: "SIGKILL",
 * "SIGRTMIN+3"; "SIG?" for a number that names no signal.  The string may
 * be a thread-local buffer that the thread's next call overwrites.
 */
const char *util_signame(int sig);
/* A query string's parameter NAME, percent-decoded into out: 0, or -1 when absent or malformed. */
int	 util_query_param(const char *q, size_t qlen, const char *name, char *out,
	    size_t outsz);

/* File descriptors. */
int	 fd_nonblock(int fd);
int	 fd_cloexec(int fd);
/*
 * Close every descriptor of this process but the n in keep (a forked
 * child that does not exec: what it inherited but does not use would keep
 * the parent's sockets open).  -1 with errno if one could not be closed.
 */
int	 fd_close_all_but(const int *keep, size_t n);
/* Write all of buf to a blocking fd (control-plane only). */
int	 write_full(int fd, const void *buf, size_t n);
/* Read a whole (small) file into a malloc'd NUL-terminated buffer. */
char	*read_file(const char *path, size_t max, size_t *len, char *err);

/*
 * Open a directory O_PATH and check that this process may search it (and
 * list it when `readable`): what the front end needs of a site's root.
 * Returns the fd and fills *st, or -1 with errno set.  The same test
 * serves the front end at run time and the master's check of a
 * configuration as the front end's user (a child with its identity).
 */
int	 dir_probe(const char *path, bool readable, struct stat *st);

/*
 * How a process ended, from a waitpid() status, in words: "exit status 1",
 * "signal 9 (SIGKILL)", "signal 11 (SIGSEGV), core dumped".
 */
void	 wait_status_words(int status, char *out, size_t outsz);

/* Socket addresses. */
int	 sockaddr_parse(const char *spec, struct sockaddr_storage *ss,
	    socklen_t *len, char *err);
void	 sockaddr_format(const struct sockaddr *sa, char *out, size_t outsz);

/* ASCII helpers (locale-independent). */
static inline char
ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}
bool	 ascii_casecmp_n(const char *a, const char *b, size_t n);
/* Trim leading/trailing spaces and tabs in place; returns s. */
char	*str_trim(char *s);

/*
 * Append n bytes at p and return the end: for building heads in buffers the
 * caller sized beforehand.  s may be NULL when n is 0 (an absent part).
 */
static inline char *
put(char *p, const char *s, size_t n)
{
	if (n > 0)
		memcpy(p, s, n);
	return p + n;
}
#define PUTS(p, lit)	put((p), (lit), sizeof(lit) - 1)

/* "2026-11-25T10:55:01.123Z" from the realtime clock; out >= 32 bytes. */
void	 time_iso8601(char *out, size_t outsz);

#endif
