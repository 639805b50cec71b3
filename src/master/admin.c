/*
 * admin.c - the admin API: HTTP/1.1 + JSON on state_dir/admin.sock (and,
 * optionally, a loopback TCP address with a bearer token), served by the
 * master's own event loop with the front end's strict parser.
 *
 *   GET  /status                 server, front end and every pool
 *   GET  /pools, /pools/NAME     pools
 *   POST /pools/NAME/ACTION      start, stop, recycle, enable
 *   GET  /events?pool=&id=&since=&level=&limit=&follow=1
 *   GET  /metrics                Prometheus text format 0.0.4
 *   POST /reload                 re-read the configuration
 *   POST /stop                   graceful stop (a drain first with health_path)
 *   POST /drain                  health_path 503, serve drain_time, then stop
 *   GET  /dashboard              the web page (dashboard.c), its files,
 *        /dashboard/data         status with live figures + history,
 *        /dashboard/events       the event log as server-sent events;
 *   POST /dashboard/pools/NAME/ACTION, /dashboard/reload   its buttons
 *
 * Who may ask: on the Unix socket (mode 0660, owner root, group
 * admin_group) the peer's credentials are checked again (SO_PEERCRED): root,
 * the master's own user, or a member of admin_group.  On TCP every request
 * needs "Authorization: Bearer <admin_token>".  Errors are JSON
 * {"error": "..."} with the right status.
 *
 * A browser cannot send that header: GET /dashboard?token=T (TCP) answers
 * with the token as an HttpOnly SameSite=Strict cookie, honoured under
 * /dashboard only.  Because a browser sends the cookie (and reaches the
 * Unix socket through a tunnel) whichever page asks, every POST under
 * /dashboard needs the page's own CSRF token (X-Weir-CSRF) and an Origin
 * that is the admin listener's own; the API outside /dashboard refuses
 * requests that a browser made from another page (Origin, Sec-Fetch-Site),
 * and /dashboard answers only to a Host that is an address, localhost or
 * weir (no DNS rebinding).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "httpparse.h"
#include "master.h"

#define ADMIN_IN_MAX		(64 * 1024)
#define ADMIN_IDLE_MS		30000
#define ADMIN_FE_WAIT_MS	1000	/* longest wait for the front end's snapshot */
#define FOLLOW_OUT_MAX		(1024 * 1024)	/* a follower that falls this far behind is dropped */

enum wait_kind {
	WAIT_NONE = 0,
	WAIT_STATUS,
	WAIT_POOL,
	WAIT_POOLS,
	WAIT_METRICS,
	WAIT_DASH,
	WAIT_UPGRADE	/* POST /upgrade: answered with the outcome (upgrade.c) */
};

struct aconn {
	struct aconn	*next;
	struct admin	*a;
	struct loop_io	 io;
	struct loop_timer timer;
	bool		 tcp;
	bool		 allowed;	/* unix peer passed the credential check */
	char		*in;
	size_t		 inlen;
	char		*out;
	size_t		 outlen, outoff, outcap;
	bool		 close_after;	/* close once out is sent */
	bool		 follow;
	bool		 sse;		/* follow as server-sent events (the dashboard) */
	struct ev_filter filter;
	char		 fpool[CONF_NAME_MAX + 1];
	char		 flevel[16];
	int		 wait;		/* enum wait_kind */
	char		 wpool[CONF_NAME_MAX + 1];
};

struct admin {
	struct master	*m;
	int		 ufd, tfd;
	struct loop_io	 uio, tio;
	char		 path[108];
	struct aconn	*conns;
	bool		 fe_asked;	/* a CTL_STATUS_REQ is outstanding */
	struct loop_timer fe_timer;
	gid_t		 group;
	bool		 has_group;
	bool		 paused;	/* handed over by an upgrade, not accepting (yet) */
};

static void	aconn_close(struct aconn *c);
static void	aconn_flush(struct aconn *c);
static void	on_unix(void *arg, uint32_t events);
static void	on_tcp(void *arg, uint32_t events);

/* --- output ---------------------------------------------------------------------- */

static void
out_append(struct aconn *c, const char *p, size_t n)
{
	if (c->outlen + n > c->outcap) {
		size_t cap = c->outcap ? c->outcap : 4096;

		while (cap < c->outlen + n)
			cap *= 2;
		c->out = xreallocarray(c->out, cap, 1);
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
}

/* Answer and close; extra: more header lines, each ending in CRLF. */
static void
respond_h(struct aconn *c, int status, const char *ctype, const char *extra,
    const char *body, size_t len)
{
	char head[1024];
	int n;

	n = snprintf(head, sizeof(head),
	    "HTTP/1.1 %d %s\r\nServer: weir\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\nCache-Control: no-store\r\n%s\r\n",
	    status, status == 200 ? "OK" : status == 202 ? "Accepted" :
	    status == 303 ? "See Other" :
	    status == 400 ? "Bad Request" : status == 401 ? "Unauthorized" :
	    status == 403 ? "Forbidden" : status == 404 ? "Not Found" :
	    status == 405 ? "Method Not Allowed" : status == 409 ? "Conflict" :
	    status == 422 ? "Unprocessable Content" : status == 503 ?
	    "Service Unavailable" : "Internal Server Error", ctype, len, extra);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		aconn_close(c);
		return;
	}
	out_append(c, head, (size_t)n);
	out_append(c, body, len);
	c->close_after = true;
	aconn_flush(c);
}

static void
respond(struct aconn *c, int status, const char *ctype, const char *body, size_t len)
{
	respond_h(c, status, ctype, "", body, len);
}

/* Answer with JSON (takes the reference). */
static void
respond_json(struct aconn *c, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(j);
	if (s == NULL) {
		respond(c, 500, "application/json", "{\"error\":\"encoding\"}\n", 21);
		return;
	}
	{
		size_t n = strlen(s);
		char *t = xmalloc(n + 2);

		memcpy(t, s, n);
		t[n] = '\n';
		respond(c, status, "application/json", t, n + 1);
		free(t);
	}
	free(s);
}

static void
respond_error(struct aconn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
respond_error(struct aconn *c, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *j = json_object();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_set_new(j, "error", json_string(msg));
	json_object_set_new(j, "status", json_integer(status));
	respond_json(c, status, j);
}

/* --- the front end's snapshot ---------------------------------------------------- */

static void
complete_wait(struct aconn *c, json_t *fe)
{
	struct master *m = c->a->m;
	int kind = c->wait;

	c->wait = WAIT_NONE;
	loop_timer_cancel(m->loop, &c->timer);
	switch (kind) {
	case WAIT_STATUS:
		respond_json(c, 200, status_json(m, fe));
		break;
	case WAIT_POOLS: {
		json_t *arr = json_array();

		for (size_t i = 0; i < m->npools; i++)
			json_array_append_new(arr, status_pool_json(m->pools[i], fe));
		respond_json(c, 200, arr);
		break;
	}
	case WAIT_POOL: {
		struct pool *p = pools_by_name(m, c->wpool);

		if (p == NULL)
			respond_error(c, 404, "no pool '%s'", c->wpool);
		else
			respond_json(c, 200, status_pool_json(p, fe));
		break;
	}
	case WAIT_METRICS: {
		size_t len;
		char *text = status_metrics(m, fe, &len);

		respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
		free(text);
		break;
	}
	case WAIT_DASH: {
		json_t *o = json_object();

		json_object_set_new(o, "live", json_boolean(fe != NULL));
		json_object_set_new(o, "status", status_json(m, fe));
		json_object_set_new(o, "history", dashboard_history(m));
		respond_json(c, 200, o);
		break;
	}
	default:
		break;
	}
}

/* The snapshot arrived (or did not: fe == NULL): answer everyone waiting. */
void
admin_fe_status(struct master *m, json_t *fe)
{
	struct admin *a = m->admin;
	struct aconn *c, *next;

	if (a == NULL)
		return;
	a->fe_asked = false;
	loop_timer_cancel(m->loop, &a->fe_timer);
	dashboard_snapshot(m, fe);
	for (c = a->conns; c != NULL; c = next) {
		next = c->next;
		if (c->wait != WAIT_NONE && c->wait != WAIT_UPGRADE)
			complete_wait(c, fe);
	}
}

static void
fe_timeout(void *arg)
{
	struct admin *a = arg;

	log_warnx("front end did not answer a status request in time");
	admin_fe_status(a->m, NULL);
}

/*
 * Ask the front end for its live figures unless a request is out already;
 * the answer comes to admin_fe_status().  Returns -1 if it cannot be asked.
 */
static int
ask_fe(struct admin *a)
{
	struct master *m = a->m;
	struct ctl_pool_ref ref;

	if (a->fe_asked)
		return 0;
	memset(&ref, 0, sizeof(ref));
	ref.pool = -1;
	ref.generation = m->generation;
	if (!m->fe.hello || feproc_send(m, CTL_STATUS_REQ, &ref, sizeof(ref), NULL, 0) == -1)
		return -1;
	a->fe_asked = true;
	loop_timer_set(m->loop, &a->fe_timer, ADMIN_FE_WAIT_MS);
	return 0;
}

/* The dashboard's history sampler (dashboard.c). */
void
admin_fe_ask(struct master *m)
{
	if (m->admin != NULL)
		(void)ask_fe(m->admin);	/* no front end now: no sample this time */
}

static void
wait_fe(struct aconn *c, int kind)
{
	c->wait = kind;
	if (ask_fe(c->a) == -1)
		complete_wait(c, NULL);
}

/* --- events and followers --------------------------------------------------------- */

static void
chunk(struct aconn *c, const char *p, size_t n)
{
	char h[24];
	int k = snprintf(h, sizeof(h), "%zx\r\n", n);

	out_append(c, h, (size_t)k);
	out_append(c, p, n);
	out_append(c, "\r\n", 2);
}

/* One event line to a follower: a chunk, or an SSE message (no newline in it). */
static void
follow_write(struct aconn *c, const char *line, size_t n)
{
	if (!c->sse) {
		chunk(c, line, n);
		return;
	}
	if (n > 0 && line[n - 1] == '\n')
		n--;
	out_append(c, "data: ", 6);
	out_append(c, line, n);
	out_append(c, "\n\n", 2);
}

/* events.c calls this for every new event: feed the followers. */
static void
on_event(const char *line, size_t n, json_t *ev, void *arg)
{
	struct admin *a = arg;
	struct aconn *c, *next;

	for (c = a->conns; c != NULL; c = next) {
		next = c->next;
		if (!c->follow || !events_match(&c->filter, ev))
			continue;
		if (c->outlen - c->outoff > FOLLOW_OUT_MAX) {
			aconn_close(c);		/* too slow a reader */
			continue;
		}
		follow_write(c, line, n);
		aconn_flush(c);
	}
}

static int
parse_query(struct aconn *c, struct hstr q, bool *follow, char *err, size_t errsz)
{
	char buf[1024];
	char *save = NULL, *kv;

	memset(&c->filter, 0, sizeof(c->filter));
	c->filter.limit = 100;
	*follow = false;
	if (q.p == NULL)
		return 0;
	if (q.n >= sizeof(buf)) {
		snprintf(err, errsz, "query too long");
		return -1;
	}
	memcpy(buf, q.p, q.n);
	buf[q.n] = '\0';
	for (kv = strtok_r(buf, "&", &save); kv != NULL; kv = strtok_r(NULL, "&", &save)) {
		char *v = strchr(kv, '=');

		if (v == NULL) {
			snprintf(err, errsz, "bad query parameter '%s'", kv);
			return -1;
		}
		*v++ = '\0';
		if (strcmp(kv, "pool") == 0 && *v) {
			wstrlcpy(c->fpool, v, sizeof(c->fpool));
			c->filter.pool = c->fpool;
		} else if (strcmp(kv, "id") == 0 && *v) {
			char *end;

			c->filter.id = strtol(v, &end, 10);
			if (*end != '\0' || c->filter.id <= 0) {
				snprintf(err, errsz, "id must be a positive number");
				return -1;
			}
		} else if (strcmp(kv, "level") == 0 && *v) {
			if (strcmp(v, "info") && strcmp(v, "warning") && strcmp(v, "error")) {
				snprintf(err, errsz, "level must be info, warning or error");
				return -1;
			}
			wstrlcpy(c->flevel, v, sizeof(c->flevel));
			c->filter.level = c->flevel;
		} else if (strcmp(kv, "since") == 0 && *v) {
			uint64_t ms;
			time_t t;
			struct tm tm;

			if (conf_duration(v, &ms) == -1) {
				snprintf(err, errsz, "since must be a duration like 10m or 2h");
				return -1;
			}
			t = time(NULL) - (time_t)(ms / 1000);
			gmtime_r(&t, &tm);
			strftime(c->filter.since, sizeof(c->filter.since), "%Y-%m-%dT%H:%M:%S", &tm);
		} else if (strcmp(kv, "limit") == 0 && *v) {
			char *end;
			long l = strtol(v, &end, 10);

			if (*end != '\0' || l < 0 || l > 100000) {
				snprintf(err, errsz, "limit must be 0..100000");
				return -1;
			}
			c->filter.limit = (size_t)l;
		} else if (strcmp(kv, "follow") == 0) {
			*follow = strcmp(v, "1") == 0 || strcmp(v, "true") == 0 ||
			    strcmp(v, "yes") == 0;
		} else if (*v) {
			snprintf(err, errsz, "unknown query parameter '%s'", kv);
			return -1;
		}
	}
	return 0;
}

static void
get_events(struct aconn *c, struct hstr query, bool sse)
{
	char err[128];
	bool follow;
	json_t *arr;

	if (parse_query(c, query, &follow, err, sizeof(err)) == -1) {
		respond_error(c, 400, "%s", err);
		return;
	}
	arr = events_query(&c->filter);
	if (!follow && !sse) {
		respond_json(c, 200, arr);
		return;
	}
	/*
	 * Follow: the stored matches, then every new one, as JSON lines or
	 * (the dashboard's EventSource) as server-sent events on a body that
	 * ends when the connection does.
	 */
	{
		static const char head[] = "HTTP/1.1 200 OK\r\nServer: weir\r\n"
		    "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n"
		    "Cache-Control: no-store\r\n\r\n";
		static const char shead[] = "HTTP/1.1 200 OK\r\nServer: weir\r\n"
		    "Content-Type: text/event-stream\r\nConnection: close\r\n"
		    "Cache-Control: no-store\r\n\r\n"
		    ": weir events\n\n";	/* the stream is open: a comment */
		size_t i;
		json_t *ev;

		c->sse = sse;
		if (sse)
			out_append(c, shead, sizeof(shead) - 1);
		else
			out_append(c, head, sizeof(head) - 1);
		json_array_foreach(arr, i, ev) {
			char *s = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);

			if (s != NULL) {
				size_t n = strlen(s);

				s[n] = '\n';
				follow_write(c, s, n + 1);
				free(s);
			}
		}
		json_decref(arr);
		c->follow = true;
		loop_timer_cancel(c->a->m->loop, &c->timer);
		aconn_flush(c);
	}
}

/* --- routing ------------------------------------------------------------------------ */

/* POST /acme/SITE/renew: an ACME order for the site now (acme.c). */
static void
acme_request(struct aconn *c, const struct http_request *h, const char *rest, size_t n)
{
	char site[CONF_NAME_MAX + 1], msg[256];
	const char *slash = memchr(rest, '/', n);
	size_t nl = slash ? (size_t)(slash - rest) : n;
	json_t *j;
	int st;

	if (slash == NULL || nl == 0 || nl > CONF_NAME_MAX ||
	    n - nl - 1 != 5 || memcmp(slash + 1, "renew", 5) != 0) {
		respond_error(c, 404, "no such resource (POST /acme/SITE/renew)");
		return;
	}
	if (h->method != HTTP_M_POST) {
		respond_error(c, 405, "use POST");
		return;
	}
	memcpy(site, rest, nl);
	site[nl] = '\0';
	if ((st = acme_admin_renew(c->a->m, site, msg, sizeof(msg))) >= 400) {
		respond_error(c, st, "%s", msg);
		return;
	}
	j = json_pack("{s:s, s:s}", "site", site, "message", msg);
	respond_json(c, st, j);
}

/* --- upgrade ------------------------------------------------------------------------ */

/* POST /upgrade[?binary=PATH]: answered when the upgrade has an outcome. */
static void
upgrade_request(struct aconn *c, const struct http_request *h)
{
	char bin[4096], msg[2048];
	int st;

	if (h->method != HTTP_M_POST) {
		respond_error(c, 405, "use POST");
		return;
	}
	if (util_query_param(h->query.p, h->query.n, "binary", bin, sizeof(bin)) == -1) {
		if (h->query.n > 0 && memmem(h->query.p, h->query.n, "binary=", 7) != NULL) {
			respond_error(c, 400, "binary: not a valid path");
			return;
		}
		bin[0] = '\0';
	}
	st = upgrade_start(c->a->m, bin, msg, sizeof(msg));
	if (st != 202) {
		json_t *j = json_pack("{s:s, s:s}", "outcome", st == 422 ? "refused" : "not started",
		    "error", msg);

		respond_json(c, st, j);
		return;
	}
	/* the new generation may take its pools' startup_time_limit: no idle timeout */
	loop_timer_cancel(c->a->m->loop, &c->timer);
	c->wait = WAIT_UPGRADE;
}

/* The outcome of an upgrade: to everyone waiting for it (result is borrowed). */
void
admin_upgrade_done(struct master *m, int status, json_t *result)
{
	struct admin *a = m->admin;
	struct aconn *c, *next;

	if (a == NULL)
		return;
	for (c = a->conns; c != NULL; c = next) {
		next = c->next;
		if (c->wait == WAIT_UPGRADE) {
			c->wait = WAIT_NONE;
			respond_json(c, status, json_incref(result));
		}
	}
}

/* What an upgrade hands the new master: the admin socket, then admin_listen's. */
int
admin_fds(const struct master *m, int fds[2])
{
	const struct admin *a = m->admin;
	int n = 0;

	if (a == NULL || a->ufd == -1)
		return 0;
	fds[n++] = a->ufd;
	if (a->tfd != -1)
		fds[n++] = a->tfd;
	return n;
}

/*
 * The new master serves the admin API now (on the same sockets): stop
 * accepting, and leave the path alone when we exit.  Connections already
 * accepted are answered.
 */
void
admin_handover(struct master *m)
{
	struct admin *a = m->admin;

	if (a == NULL || a->paused)
		return;
	a->paused = true;
	if (a->ufd != -1)
		loop_io_del(m->loop, &a->uio);
	if (a->tfd != -1)
		loop_io_del(m->loop, &a->tio);
}

/* A new master after the old one handed over: accept on the sockets it passed. */
void
admin_resume(struct master *m)
{
	struct admin *a = m->admin;

	if (a == NULL || !a->paused)
		return;
	if ((a->ufd != -1 && loop_io_add(m->loop, &a->uio, a->ufd, LOOP_READ, on_unix, a) == -1) ||
	    (a->tfd != -1 && loop_io_add(m->loop, &a->tio, a->tfd, LOOP_READ, on_tcp, a) == -1))
		log_warn("admin socket: cannot accept; the admin API is unavailable");
	a->paused = false;
}

static bool
path_is(struct hstr p, const char *lit)
{
	return p.n == strlen(lit) && memcmp(p.p, lit, p.n) == 0;
}

/* The API proper, on PATH (the request's, or what follows /dashboard). */
static void
api(struct aconn *c, struct http_request *h, struct hstr path)
{
	struct master *m = c->a->m;
	bool get = h->method == HTTP_M_GET || h->method == HTTP_M_HEAD;
	bool post = h->method == HTTP_M_POST;

	if (path_is(path, "/status")) {
		if (!get)
			respond_error(c, 405, "use GET");
		else
			wait_fe(c, WAIT_STATUS);
		return;
	}
	if (path_is(path, "/metrics")) {
		if (!get)
			respond_error(c, 405, "use GET");
		else
			wait_fe(c, WAIT_METRICS);
		return;
	}
	if (path_is(path, "/events")) {
		if (!get)
			respond_error(c, 405, "use GET");
		else
			get_events(c, h->query, false);
		return;
	}
	if (path_is(path, "/pools")) {
		if (!get)
			respond_error(c, 405, "use GET");
		else
			wait_fe(c, WAIT_POOLS);
		return;
	}
	if (path.n > 7 && memcmp(path.p, "/pools/", 7) == 0) {
		const char *name = path.p + 7, *slash;
		size_t nl;
		char pname[CONF_NAME_MAX + 1], action[32];
		struct pool *p;

		slash = memchr(name, '/', path.n - 7);
		nl = slash ? (size_t)(slash - name) : path.n - 7;
		if (nl == 0 || nl > CONF_NAME_MAX) {
			respond_error(c, 404, "no such pool");
			return;
		}
		memcpy(pname, name, nl);
		pname[nl] = '\0';
		if ((p = pools_by_name(m, pname)) == NULL) {
			respond_error(c, 404, "no pool '%s'", pname);
			return;
		}
		if (slash == NULL) {
			if (!get) {
				respond_error(c, 405, "use GET");
				return;
			}
			wstrlcpy(c->wpool, pname, sizeof(c->wpool));
			wait_fe(c, WAIT_POOL);
			return;
		}
		{
			size_t al = path.n - 7 - nl - 1;
			char msg[256];
			int st;
			json_t *j;

			if (al == 0 || al >= sizeof(action)) {
				respond_error(c, 404, "no such action");
				return;
			}
			memcpy(action, slash + 1, al);
			action[al] = '\0';
			if (!post) {
				respond_error(c, 405, "use POST");
				return;
			}
			st = pool_admin(p, action, msg, sizeof(msg));
			if (st >= 400) {
				respond_error(c, st, "%s", msg);
				return;
			}
			j = json_object();
			json_object_set_new(j, "pool", json_string(p->name));
			json_object_set_new(j, "action", json_string(action));
			json_object_set_new(j, "state", json_string(pool_state_name(p->state)));
			json_object_set_new(j, "message", json_string(msg));
			/* the deploy version a recycle moved to (weir pool recycle waits on it) */
			json_object_set_new(j, "version", json_integer(p->ver));
			respond_json(c, st, j);
			return;
		}
	}
	if (path.n > 6 && memcmp(path.p, "/acme/", 6) == 0) {
		acme_request(c, h, path.p + 6, path.n - 6);
		return;
	}
	if (path_is(path, "/reload")) {
		json_t *res;
		int st;

		if (!post) {
			respond_error(c, 405, "use POST");
			return;
		}
		st = master_reload(m, &res);
		respond_json(c, st, res);
		return;
	}
	if (path_is(path, "/drain")) {
		json_t *j;

		if (!post) {
			respond_error(c, 405, "use POST");
			return;
		}
		if (drain_begin(m, "an administrator") == -1) {
			respond_error(c, 409, "weir is already stopping");
			return;
		}
		j = json_pack("{s:s, s:I}", "message", "draining",
		    "drain_time_ms", (json_int_t)m->conf->server.drain_time);
		respond_json(c, 202, j);
		return;
	}
	if (path_is(path, "/upgrade")) {
		upgrade_request(c, h);
		return;
	}
	if (path_is(path, "/stop")) {
		json_t *j;

		if (!post) {
			respond_error(c, 405, "use POST");
			return;
		}
		j = json_object();
		json_object_set_new(j, "message", json_string("stopping"));
		respond_json(c, 202, j);
		master_stop(m);
		return;
	}
	respond_error(c, 404, "no such resource (see docs/api.md)");
}

/* Is P (N bytes) the admin token? */
static bool
is_token(struct aconn *c, const char *p, size_t n)
{
	return dashboard_token_eq(c->a->m->conf->server.admin_token, p, n);
}

/* GET /dashboard?token=T on TCP: the token becomes the page's cookie. */
static void
dashboard_login(struct aconn *c, struct hstr tok)
{
	char extra[600];

	if (!is_token(c, tok.p, tok.n)) {
		respond_error(c, 401, "wrong token");
		return;
	}
	snprintf(extra, sizeof(extra), "Location: /dashboard\r\nSet-Cookie: weir_admin=%.*s; "
	    "Path=/dashboard; HttpOnly; SameSite=Strict\r\n", (int)tok.n, tok.p);
	respond_h(c, 303, "text/plain", extra, "", 0);
}

/* Everything under /dashboard (REST: what follows it). */
static void
dashboard(struct aconn *c, struct http_request *h, struct hstr rest)
{
	static const char page_headers[] =
	    "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'\r\n"
	    "X-Frame-Options: DENY\r\nX-Content-Type-Options: nosniff\r\n"
	    "Referrer-Policy: no-referrer\r\n";
	bool get = h->method == HTTP_M_GET || h->method == HTTP_M_HEAD;
	char err[WEIR_ERRLEN];

	if (!dashboard_host_ok(h)) {
		respond_error(c, 403, "Host must be an address, localhost or weir");
		return;
	}
	if (h->method == HTTP_M_POST) {
		const char *why;
		int st = dashboard_post_check(c->a->m, h, &why);

		if (st != 0)
			respond_error(c, st, "%s", why);
		else if ((rest.n > 7 && memcmp(rest.p, "/pools/", 7) == 0 &&
		    memchr(rest.p + 7, '/', rest.n - 7) != NULL) || path_is(rest, "/reload"))
			api(c, h, rest);
		else
			respond_error(c, 404, "no such action");
		return;
	}
	if (!get) {
		respond_error(c, 405, "use GET or POST");
		return;
	}
	if (path_is(rest, "/data")) {
		wait_fe(c, WAIT_DASH);
		return;
	}
	if (path_is(rest, "/events")) {
		get_events(c, h->query, true);
		return;
	}
	if (rest.n <= 1 || (rest.n > 1 && memchr(rest.p + 1, '/', rest.n - 1) == NULL)) {
		const char *name = rest.n <= 1 ? "index.html" : rest.p + 1;
		size_t nl = rest.n <= 1 ? 10 : rest.n - 1;
		char *body = NULL;
		size_t len;
		const char *ctype;
		int st = dashboard_file(c->a->m, name, nl, &body, &len, &ctype, err);

		if (st == 200)
			respond_h(c, 200, ctype, page_headers, body, len);
		else if (st == 404)
			respond_error(c, 404, "no such file in the dashboard");
		else
			respond_error(c, 500, "%s", err);
		free(body);
		return;
	}
	respond_error(c, 404, "no such file in the dashboard");
}

static bool
under_dashboard(struct hstr path)
{
	return path_is(path, "/dashboard") ||
	    (path.n > 10 && memcmp(path.p, "/dashboard/", 11) == 0);
}

static void
dispatch(struct aconn *c, struct http_request *h)
{
	struct hstr rest;

	if (under_dashboard(h->path)) {
		rest.p = h->path.p + 10;
		rest.n = h->path.n - 10;
		dashboard(c, h, rest);
		return;
	}
	if (dashboard_cross_site(h)) {
		respond_error(c, 403, "not from a web page: the dashboard is at /dashboard");
		return;
	}
	api(c, h, h->path);
}

/*
 * May this TCP request go on?  The bearer token (constant-time compare); or,
 * under /dashboard only, the page's cookie; or GET /dashboard?token=, which
 * dashboard_login() checks and turns into the cookie.
 */
static bool
token_ok(struct aconn *c, const struct http_request *h)
{
	const struct http_header *a = httpparse_find(h->headers, h->nheaders, "authorization");
	struct hstr q;

	if (a != NULL && a->value.n > 7 && memcmp(a->value.p, "Bearer ", 7) == 0 &&
	    is_token(c, a->value.p + 7, a->value.n - 7))
		return true;
	if (!under_dashboard(h->path))
		return false;
	return dashboard_cookie_ok(h, c->a->m->conf->server.admin_token) ||
	    (path_is(h->path, "/dashboard") && dashboard_query_token(h, &q));
}

static void
on_request(struct aconn *c)
{
	struct http_request *h;
	struct httpparse_limits lim = { 8192, ADMIN_IN_MAX, 100 };
	int n, status;
	const char *why;

	if ((h = malloc(sizeof(*h))) == NULL) {
		aconn_close(c);
		return;
	}
	n = httpparse_request(c->in, c->inlen, h, &lim, &status, &why);
	if (n == WEIR_AGAIN) {
		free(h);
		if (c->inlen == ADMIN_IN_MAX)
			respond_error(c, 431, "request too large");
		return;
	}
	if (n == WEIR_ERROR) {
		free(h);
		respond_error(c, status, "%s", why);
		return;
	}
	/* The admin API takes no request bodies. */
	if ((h->flags & HTTP_F_CHUNKED) || h->content_length > 0) {
		free(h);
		respond_error(c, 413, "the admin API takes no request body");
		return;
	}
	if (c->tcp && !token_ok(c, h)) {
		free(h);
		respond_error(c, 401, "missing or wrong bearer token");
		return;
	}
	if (!c->tcp && !c->allowed) {
		free(h);
		respond_error(c, 403, "not allowed: root, weir's own user or admin_group only");
		return;
	}
	c->inlen = 0;		/* one request per connection */
	if (loop_io_mod(c->a->m->loop, &c->io, 0) == -1)
		log_warn("epoll_ctl");
	{
		struct hstr q;

		if (c->tcp && path_is(h->path, "/dashboard") && dashboard_query_token(h, &q) &&
		    h->method == HTTP_M_GET) {
			dashboard_login(c, q);
			free(h);
			return;
		}
	}
	dispatch(c, h);
	free(h);
}

/* --- connections --------------------------------------------------------------------- */

static void
aconn_free(void *arg)
{
	struct aconn *c = arg;

	free(c->in);
	free(c->out);
	free(c);
}

static void
aconn_close(struct aconn *c)
{
	struct admin *a = c->a;
	int fd = c->io.fd;

	for (struct aconn **pp = &a->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	loop_io_del(a->m->loop, &c->io);
	loop_timer_cancel(a->m->loop, &c->timer);
	if (fd != -1)
		close(fd);
	if (loop_defer(a->m->loop, aconn_free, c) == -1)
		log_warnx("admin: cannot defer a free; leaking a connection");
}

static void
aconn_flush(struct aconn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t w = send(c->io.fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (loop_io_mod(c->a->m->loop, &c->io, LOOP_WRITE) == -1)
					aconn_close(c);
				return;
			}
			aconn_close(c);
			return;
		}
		c->outoff += (size_t)w;
	}
	c->outoff = c->outlen = 0;
	if (c->close_after) {
		aconn_close(c);
		return;
	}
	/* Followers: watch for the peer going away. */
	if (loop_io_mod(c->a->m->loop, &c->io, c->follow ? LOOP_READ : 0) == -1)
		aconn_close(c);
}

static void
aconn_io(void *arg, uint32_t events)
{
	struct aconn *c = arg;
	ssize_t n;

	if (events & EPOLLOUT) {
		aconn_flush(c);
		return;
	}
	if (c->follow) {
		char sink[256];

		/* Anything from a follower (or EOF) ends the follow. */
		n = recv(c->io.fd, sink, sizeof(sink), 0);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			aconn_close(c);
		return;
	}
	n = recv(c->io.fd, c->in + c->inlen, ADMIN_IN_MAX - c->inlen, 0);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		aconn_close(c);
		return;
	}
	if (n > 0) {
		c->inlen += (size_t)n;
		on_request(c);
	}
}

static void
aconn_timeout(void *arg)
{
	aconn_close(arg);
}

/* Is this Unix peer root, our own user, or in admin_group? */
static bool
peer_allowed(struct admin *a, int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	const struct passwd *pw;
	gid_t groups[256];
	int ng = (int)nitems(groups);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1)
		return false;
	if (cr.uid == 0 || cr.uid == geteuid())
		return true;
	if (!a->has_group)
		return false;
	if (cr.gid == a->group)
		return true;
	if ((pw = getpwuid(cr.uid)) == NULL ||
	    getgrouplist(pw->pw_name, pw->pw_gid, groups, &ng) == -1)
		return false;
	for (int i = 0; i < ng; i++)
		if (groups[i] == a->group)
			return true;
	return false;
}

static void
accept_on(struct admin *a, int lfd, bool tcp)
{
	for (int i = 0; i < 16; i++) {
		struct aconn *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("admin: accept");
			return;
		}
		c = xcalloc(1, sizeof(*c));
		c->a = a;
		c->tcp = tcp;
		c->in = xmalloc(ADMIN_IN_MAX);
		c->allowed = tcp ? false : peer_allowed(a, fd);
		loop_timer_init(&c->timer, aconn_timeout, c);
		if (loop_io_add(a->m->loop, &c->io, fd, LOOP_READ, aconn_io, c) == -1) {
			close(fd);
			aconn_free(c);
			continue;
		}
		loop_timer_set(a->m->loop, &c->timer, ADMIN_IDLE_MS);
		c->next = a->conns;
		a->conns = c;
	}
}

static void
on_unix(void *arg, uint32_t events)
{
	struct admin *a = arg;

	(void)events;
	accept_on(a, a->ufd, false);
}

static void
on_tcp(void *arg, uint32_t events)
{
	struct admin *a = arg;

	(void)events;
	accept_on(a, a->tfd, true);
}

int
admin_open(struct master *m, char *err)
{
	const struct conf_server *s = &m->conf->server;
	struct admin *a = xcalloc(1, sizeof(*a));
	struct sockaddr_un sun;
	int n;

	a->m = m;
	a->ufd = a->tfd = -1;
	a->uio.fd = a->tio.fd = -1;
	loop_timer_init(&a->fe_timer, fe_timeout, a);
	if (s->admin_group != NULL) {
		const struct group *gr = getgrnam(s->admin_group);

		if (gr == NULL) {
			snprintf(err, WEIR_ERRLEN, "admin_group %s: no such group", s->admin_group);
			free(a);
			return -1;
		}
		a->group = gr->gr_gid;
		a->has_group = true;
	}
	n = snprintf(a->path, sizeof(a->path), "%s/admin.sock", s->state_dir);
	if (n < 0 || (size_t)n >= sizeof(a->path)) {
		snprintf(err, WEIR_ERRLEN, "%s/admin.sock: path too long", s->state_dir);
		free(a);
		return -1;
	}
	if (m->upg_admin[0] != -1) {
		/*
		 * An upgrade handed us the old master's sockets: the path keeps
		 * answering throughout, and we accept once it handed over
		 * (admin_resume()).
		 */
		a->ufd = m->upg_admin[0];
		a->tfd = m->upg_admin[1];
		m->upg_admin[0] = m->upg_admin[1] = -1;
		a->paused = true;
		m->admin = a;
		events_set_hook(on_event, a);
		return 0;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, a->path, (size_t)n + 1);
	/* A stale socket from a crashed run would make bind fail. */
	(void)unlink(a->path);
	if ((a->ufd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(a->ufd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(a->path, 0660) == -1 ||
	    (a->has_group && chown(a->path, 0, a->group) == -1 && geteuid() == 0) ||
	    listen(a->ufd, 64) == -1 ||
	    loop_io_add(m->loop, &a->uio, a->ufd, LOOP_READ, on_unix, a) == -1) {
		snprintf(err, WEIR_ERRLEN, "admin socket %s: %s", a->path, strerror(errno));
		if (a->ufd != -1)
			close(a->ufd);
		free(a);
		return -1;
	}
	m->admin = a;
	if (s->admin_listen != NULL) {
		struct sockaddr_storage ss;
		socklen_t len;
		int on = 1;

		if (sockaddr_parse(s->admin_listen, &ss, &len, err) == -1 ||
		    (a->tfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1 ||
		    setsockopt(a->tfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
		    bind(a->tfd, (struct sockaddr *)&ss, len) == -1 ||
		    listen(a->tfd, 64) == -1 ||
		    loop_io_add(m->loop, &a->tio, a->tfd, LOOP_READ, on_tcp, a) == -1) {
			snprintf(err, WEIR_ERRLEN, "admin_listen %s: %s", s->admin_listen,
			    strerror(errno));
			if (a->tfd != -1 && a->tio.fd == -1)
				close(a->tfd);
			if (a->tio.fd == -1)
				a->tfd = -1;
			admin_close(m);
			return -1;
		}
	}
	events_set_hook(on_event, a);
	dashboard_init(m);
	return 0;
}

void
admin_close(struct master *m)
{
	struct admin *a = m->admin;

	if (a == NULL)
		return;
	events_set_hook(NULL, NULL);
	dashboard_free(m);
	while (a->conns != NULL)
		aconn_close(a->conns);
	loop_timer_cancel(m->loop, &a->fe_timer);
	if (a->ufd != -1) {
		loop_io_del(m->loop, &a->uio);
		close(a->ufd);
		/*
		 * Paused: handed over to a new master, or handed to us by an
		 * old one that still serves on it; either way the path is the
		 * other master's.
		 */
		if (!a->paused)
			(void)unlink(a->path);
	}
	if (a->tfd != -1) {
		loop_io_del(m->loop, &a->tio);
		close(a->tfd);
	}
	free(a);
	m->admin = NULL;
}
