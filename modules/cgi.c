/*
 * cgi.c - run CGI scripts (RFC 3875) from a weir native pool.
 *
 *	[pool cgi]
 *	kind = native
 *	modules = cgi
 *	cgi.root = /srv/cgi-bin		; directory of scripts (required)
 *	cgi.prefix = /cgi-bin		; URL path mapped to root (default /)
 *	cgi.timeout = 30s		; whole run, then the script is killed
 *	cgi.max_body = 16M		; chunked request bodies are spooled up to this
 *
 * A request for PREFIX/a/b.sh/x/y runs ROOT/a/b.sh with PATH_INFO=/x/y.  The
 * script is executed directly (execve, no shell: it needs its #! line and
 * the execute bit), in its own directory and process group, with a clean
 * RFC 3875 environment.  The request body is streamed to its stdin (a
 * chunked body is spooled first, because CGI needs CONTENT_LENGTH); its
 * stdout is parsed for the CGI header block (Status, Location, Content-Type
 * and other fields) and the rest streamed to the client; its stderr goes to
 * the pool's log.  Path segments are percent-decoded and "." / ".." /
 * hidden names / encoded slashes are refused with 403, and the script's real
 * path must stay under the real root.  A script that outlives cgi.timeout is
 * killed with its whole process group (504 if nothing was sent yet).
 *
 * Paths outside PREFIX and names that are not scripts are declined, so
 * another module of the pool may answer them (else the host says 404).
 * Local redirects (a Location starting with "/", RFC 3875 §6.2.2) are sent
 * to the client as 302 instead of being followed inside the server.
 *
 * Files: cgi.c (settings, running the script, its output), cgi_map.c (the
 * script for a path, its environment), cgi.h.  Build outside weir's tree:
 *	cc -shared -fPIC -I include -o cgi.so modules/cgi.c modules/cgi_map.c
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cgi.h"

#ifndef WEIR_VERSION
#define WEIR_VERSION	"0.1.0"
#endif

#define CGI_HEAD_MAX	65536		/* the script's header block */

/* --- settings -------------------------------------------------------------- */

/* "30", "30s", "500ms", "2m", "1h" -> ms; -1 when malformed. */
static long long
parse_ms(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (end == s || v < 0)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		return v * 1000;
	if (strcmp(end, "ms") == 0)
		return v;
	if (strcmp(end, "m") == 0)
		return v * 60000;
	if (strcmp(end, "h") == 0)
		return v * 3600000;
	return -1;
}

/* "512", "64k", "16M", "1G" -> bytes; -1 when malformed. */
static long long
parse_size(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (end == s || v < 0)
		return -1;
	switch (*end) {
	case '\0': return v;
	case 'k': case 'K': v *= 1024; break;
	case 'm': case 'M': v *= 1024 * 1024; break;
	case 'g': case 'G': v *= 1024 * 1024 * 1024; break;
	default: return -1;
	}
	return end[1] == '\0' ? v : -1;
}

static int
cgi_init(weir_ctx *ctx)
{
	const char *root = weir_setting(ctx, "root");
	const char *prefix = weir_setting(ctx, "prefix");
	const char *timeout = weir_setting(ctx, "timeout");
	const char *max_body = weir_setting(ctx, "max_body");
	char real[PATH_MAX];
	struct stat st;
	struct cgi *c;

	if (root == NULL) {
		weir_log(ctx, WEIR_LOG_ERROR, "cgi.root is not set");
		return -1;
	}
	if (realpath(root, real) == NULL || stat(real, &st) == -1 ||
	    !S_ISDIR(st.st_mode)) {
		weir_log(ctx, WEIR_LOG_ERROR, "cgi.root %s: %s", root,
		    errno != 0 ? strerror(errno) : "not a directory");
		return -1;
	}
	if (prefix == NULL)
		prefix = "/";
	if (prefix[0] != '/') {
		weir_log(ctx, WEIR_LOG_ERROR, "cgi.prefix %s: must start with /", prefix);
		return -1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	c->root = strdup(real);
	c->rootlen = strlen(real);
	c->prefix = strdup(prefix);
	if (c->root == NULL || c->prefix == NULL)
		goto fail;
	c->prefixlen = strlen(c->prefix);
	while (c->prefixlen > 0 && c->prefix[c->prefixlen - 1] == '/')
		c->prefix[--c->prefixlen] = '\0';
	c->timeout_ms = timeout != NULL ? parse_ms(timeout) : 30000;
	c->max_body = max_body != NULL ? parse_size(max_body) : 16 * 1024 * 1024;
	if (c->timeout_ms <= 0 || c->max_body < 0) {
		weir_log(ctx, WEIR_LOG_ERROR, "cgi.timeout or cgi.max_body malformed "
		    "(e.g. 30s, 16M)");
		goto fail;
	}
	weir_set_data(ctx, c);
	return 0;
fail:
	free(c->root);
	free(c->prefix);
	free(c);
	return -1;
}

static void
cgi_fini(weir_ctx *ctx)
{
	struct cgi *c = weir_data(ctx);

	if (c != NULL) {
		free(c->root);
		free(c->prefix);
		free(c);
	}
}

/* --- running the script ------------------------------------------------------- */

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A chunked body: spool it so that CONTENT_LENGTH can be given.  -1/413. */
static int
spool_body(weir_ctx *ctx, weir_req *req, const struct cgi *c, int *fdp,
    long long *len)
{
	char buf[16384];
	ssize_t n;
	int fd = memfd_create("weir-cgi-body", MFD_CLOEXEC);

	*len = 0;
	if (fd == -1) {
		weir_log(ctx, WEIR_LOG_ERROR, "memfd_create: %s", strerror(errno));
		return -1;
	}
	while ((n = weir_read_body(req, buf, sizeof(buf))) > 0) {
		if ((*len += n) > c->max_body) {
			close(fd);
			return 413;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w == -1) {
				close(fd);
				return -1;
			}
			off += w;
		}
	}
	if (n < 0 || lseek(fd, 0, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	*fdp = fd;
	return 0;
}

/* posix_spawn the script: stdin, stdout given; new process group; clean state. */
static pid_t
spawn(weir_ctx *ctx, const struct script *s, char **envp, int in, int out)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, defs;
	char *argv[2];
	pid_t pid = -1;
	int e;

	argv[0] = s->file;
	argv[1] = NULL;
	sigemptyset(&none);
	sigemptyset(&defs);
	sigaddset(&defs, SIGPIPE);
	sigaddset(&defs, SIGTERM);
	sigaddset(&defs, SIGINT);
	sigaddset(&defs, SIGHUP);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_addchdir_np(&fa, s->dir);
	/* The host blocks and ignores signals; the script gets the defaults. */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &defs);
	if ((e = posix_spawn(&pid, s->file, &fa, &at, argv, envp)) != 0) {
		weir_log(ctx, WEIR_LOG_ERROR, "%s: %s", s->file, strerror(e));
		pid = -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return pid;
}

/*
 * The script's header block (RFC 3875 §6.3), NUL-terminated, lines ending
 * in LF or CRLF.  Checked whole first, then applied, so that a malformed
 * block leaves the response untouched for the 502.
 */
static int
apply_headers(weir_ctx *ctx, weir_req *req, char *head)
{
	char *name[256], *value[256], *line, *next;
	size_t n = 0;
	long status = 0;
	bool ctype = false, location = false;

	/* 1. split and check */
	for (line = head; line != NULL && *line != '\0'; line = next) {
		char *colon, *v;
		size_t len;

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		len = strlen(line);
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len == 0)
			break;
		if ((colon = strchr(line, ':')) == NULL || colon == line ||
		    n == sizeof(name) / sizeof(name[0])) {
			weir_log(ctx, WEIR_LOG_WARN, "script sent a malformed header line");
			return -1;
		}
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (strcasecmp(line, "Status") == 0) {
			char *end;

			status = strtol(v, &end, 10);
			if (end - v != 3 || status < 200 || status > 599 ||
			    (*end != '\0' && *end != ' ')) {
				weir_log(ctx, WEIR_LOG_WARN, "script sent Status: %s", v);
				return -1;
			}
			continue;
		}
		location |= strcasecmp(line, "Location") == 0;
		ctype |= strcasecmp(line, "Content-Type") == 0;
		name[n] = line;
		value[n++] = v;
	}
	if (status == 0 && !ctype && !location) {
		weir_log(ctx, WEIR_LOG_WARN, "script sent neither Content-Type, "
		    "Location nor Status");
		return -1;
	}
	/* 2. apply: a Location without Status is a redirect (§6.2.3, §6.2.2) */
	weir_set_status(req, status != 0 ? (int)status : location ? 302 : 200);
	for (size_t i = 0; i < n; i++)
		/* Hop-by-hop fields are the host's business: refused, dropped. */
		(void)weir_add_header(req, name[i], value[i]);
	return 0;
}

struct run {
	weir_ctx	*ctx;
	weir_req	*req;
	int		 in;		/* write end of the script's stdin, or -1 */
	int		 out;		/* read end of its stdout, or -1 */
	char		*head;		/* header block so far */
	size_t		 headlen;
	size_t		 linestart;	/* where its current line starts */
	bool		 head_done;
	char		 ibuf[16384];	/* body bytes waiting for stdin */
	size_t		 ioff, ilen;
	bool		 body_eof;
};

/*
 * Script output: the header block first (until an empty line), then the
 * body straight through.  The head goes out as soon as the block is
 * complete, so a script that streams is seen to stream.  Returns 0, -2 for
 * a malformed header block (502), -1 when the client connection failed.
 */
static int
on_output(struct run *r, const char *p, size_t n)
{
	if (r->head_done)
		return weir_write(r->req, p, n);
	for (size_t i = 0; i < n; i++) {
		size_t ll;

		if (r->headlen == CGI_HEAD_MAX) {
			weir_log(r->ctx, WEIR_LOG_WARN, "script header block over %d bytes",
			    CGI_HEAD_MAX);
			return -2;
		}
		r->head[r->headlen++] = p[i];
		if (p[i] != '\n')
			continue;
		ll = r->headlen - r->linestart;		/* this line with its LF */
		r->linestart = r->headlen;
		if (ll > 2 || (ll == 2 && r->head[r->headlen - 2] != '\r'))
			continue;
		r->head[r->headlen] = '\0';
		r->head_done = true;
		if (apply_headers(r->ctx, r->req, r->head) == -1)
			return -2;
		if (weir_flush(r->req) == -1)
			return -1;
		return i + 1 < n ? weir_write(r->req, p + i + 1, n - i - 1) : 0;
	}
	return 0;
}

/* Feed stdin (when it can take more) and read stdout until EOF or deadline. */
static int
pump(struct run *r, long long deadline)
{
	char buf[16384];

	while (r->out != -1) {
		struct pollfd p[2];
		long long left = deadline - now_ms();
		nfds_t np = 0;
		int n;

		if (left <= 0)
			return 504;
		/* Refill from the request body when the buffer is empty. */
		if (r->in != -1 && r->ioff == r->ilen && !r->body_eof) {
			ssize_t got = weir_read_body(r->req, r->ibuf, sizeof(r->ibuf));

			if (got < 0)
				return -1;
			r->ioff = 0;
			r->ilen = (size_t)got;
			r->body_eof = got == 0;
		}
		if (r->in != -1 && r->body_eof) {
			close(r->in);
			r->in = -1;
		}
		p[np].fd = r->out;
		p[np++].events = POLLIN;
		if (r->in != -1) {
			p[np].fd = r->in;
			p[np++].events = POLLOUT;
		}
		n = poll(p, np, (int)(left > 1000 ? 1000 : left));
		if (n == -1 && errno != EINTR)
			return -1;
		if (n <= 0)
			continue;
		if (np == 2 && p[1].revents != 0) {
			ssize_t w = write(r->in, r->ibuf + r->ioff, r->ilen - r->ioff);

			if (w == -1 && errno != EAGAIN && errno != EINTR) {
				/* The script does not read its stdin: fine. */
				close(r->in);
				r->in = -1;
			} else if (w > 0) {
				r->ioff += (size_t)w;
			}
		}
		if (p[0].revents != 0) {
			ssize_t got = read(r->out, buf, sizeof(buf));

			if (got == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (got <= 0) {
				close(r->out);
				r->out = -1;
			} else if ((n = on_output(r, buf, (size_t)got)) != 0) {
				return n == -2 ? 502 : -1;
			}
		}
	}
	if (!r->head_done) {
		weir_log(r->ctx, WEIR_LOG_WARN, "script output ended before its "
		    "header block did (%zu bytes)", r->headlen);
		return 502;
	}
	return 0;
}

/* Reap the script, killing its process group at the deadline. */
static int
reap(pid_t pid, long long deadline, bool kill_now)
{
	int status = 0;

	if (kill_now)
		kill(-pid, SIGKILL);
	for (;;) {
		pid_t w = waitpid(pid, &status, kill_now ? 0 : WNOHANG);

		if (w == pid || (w == -1 && errno != EINTR))
			break;
		if (w == 0 && now_ms() >= deadline) {
			kill(-pid, SIGKILL);
			kill_now = true;
		} else if (w == 0) {
			poll(NULL, 0, 5);
		}
	}
	return status;
}

/* Answer an error ourselves, or cut the response off if it was started. */
static int
fail(weir_req *req, int status)
{
	const char *msg = status == 400 ? "Bad Request\n" :
	    status == 403 ? "Forbidden\n" : status == 413 ? "Content Too Large\n" :
	    status == 502 ? "Bad Gateway: the script's response was malformed\n" :
	    status == 504 ? "Gateway Timeout: the script ran too long\n" :
	    "Internal Server Error\n";

	if (weir_head_sent(req))
		return WEIR_MOD_ERROR;
	return weir_respond(req, status, "text/plain", msg, strlen(msg)) == 0 ?
	    WEIR_MOD_OK : WEIR_MOD_ERROR;
}

static int
cgi_handle(weir_ctx *ctx, weir_req *req)
{
	const struct cgi *c = weir_data(ctx);
	const char *path = weir_path(req);
	long long clen = weir_content_length(req), deadline;
	struct script s;
	struct run r;
	char **envp;
	int inp[2] = { -1, -1 }, outp[2] = { -1, -1 }, body_fd = -1, rc, st;
	pid_t pid;

	/* 1. ours? PREFIX itself or below it */
	if (strncmp(path, c->prefix, c->prefixlen) != 0 ||
	    (path[c->prefixlen] != '/' && path[c->prefixlen] != '\0'))
		return WEIR_MOD_DECLINED;
	if ((rc = cgi_map_script(req, c, path + c->prefixlen, &s)) != 0)
		return rc == WEIR_MOD_DECLINED ? rc : fail(req, rc);
	/* 2. stdin: the streamed body, a spooled chunked body, or nothing */
	if (clen < 0) {
		if ((rc = spool_body(ctx, req, c, &body_fd, &clen)) != 0)
			return rc > 0 ? fail(req, rc) : WEIR_MOD_ERROR;
	}
	if ((envp = cgi_make_env(req, c, &s, clen > 0 || body_fd != -1 ? clen : -1)) == NULL)
		goto error;
	if (pipe2(outp, O_CLOEXEC) == -1 ||
	    (body_fd == -1 && pipe2(inp, O_CLOEXEC) == -1))
		goto error;
	pid = spawn(ctx, &s, envp, body_fd != -1 ? body_fd : inp[0], outp[1]);
	close(outp[1]);
	outp[1] = -1;
	if (inp[0] != -1) {
		close(inp[0]);
		inp[0] = -1;
	}
	if (body_fd != -1) {
		close(body_fd);
		body_fd = -1;
	}
	if (pid == -1)
		goto error;
	/* 3. feed and read until the script closes its stdout or time is up */
	memset(&r, 0, sizeof(r));
	r.ctx = ctx;
	r.req = req;
	r.in = inp[1];
	r.out = outp[0];
	r.body_eof = clen <= 0 || inp[1] == -1;
	r.head = weir_alloc(req, CGI_HEAD_MAX + 1);
	if (r.in != -1)
		fcntl(r.in, F_SETFL, O_NONBLOCK);
	deadline = now_ms() + c->timeout_ms;
	rc = r.head != NULL ? pump(&r, deadline) : -1;
	if (r.in != -1)
		close(r.in);
	if (r.out != -1)
		close(r.out);
	st = reap(pid, deadline, rc != 0);
	if (rc == 504)
		weir_log(ctx, WEIR_LOG_WARN, "%s: killed after %lld ms (cgi.timeout)",
		    s.file, c->timeout_ms);
	else if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		weir_log(ctx, WEIR_LOG_WARN, "%s: exited with status %d", s.file,
		    WEXITSTATUS(st));
	else if (WIFSIGNALED(st) && rc == 0)
		weir_log(ctx, WEIR_LOG_WARN, "%s: killed by signal %d", s.file,
		    WTERMSIG(st));
	if (rc == 0)
		return WEIR_MOD_OK;
	return rc > 0 ? fail(req, rc) : WEIR_MOD_ERROR;
error:
	for (int i = 0; i < 2; i++) {
		if (inp[i] != -1)
			close(inp[i]);
		if (outp[i] != -1)
			close(outp[i]);
	}
	if (body_fd != -1)
		close(body_fd);
	return WEIR_MOD_ERROR;
}

WEIR_MODULE("cgi", WEIR_VERSION,
    .init = cgi_init,
    .handle = cgi_handle,
    .fini = cgi_fini);
