/*
 * cli.c - the operator commands: status, pool, events, reload, stop, dashboard.
 *
 * Each is a small HTTP/1.1 client of the admin API on the Unix socket
 * (found from -c FILE's state_dir, or given with -s SOCKET).  Options may
 * come before or after arguments; every command has --help; a server that
 * is not running, a pool that does not exist or a rejected action gives a
 * one-line reason and a non-zero exit status.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <jansson.h>

#include "rc.h"
#include "util.h"
#include "master.h"

#define DEFAULT_CONF	"/etc/weir/weir.conf"

struct cli {
	const char	*cmd;
	const char	*conf;
	const char	*sock;
	char		 sockbuf[4200];
	bool		 json;
	bool		 follow;
	const char	*pool;
	long		 id;
	const char	*level;
	const char	*since;
	long		 limit;
	int		 wait_s;
	bool		 no_wait;	/* reload, pool recycle: return at once */
	bool		 bad_wait;	/* --wait with an invalid duration */
};

static int
fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "weir %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* Where is the admin socket?  -s wins; else state_dir of -c (or the default). */
static int
find_socket(struct cli *o)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *c;

	if (o->sock != NULL)
		return 0;
	if (o->conf == NULL) {
		const char *e = getenv("WEIR_CONF");

		o->conf = e != NULL && *e ? e : DEFAULT_CONF;
	}
	/*
	 * Errors elsewhere in the file do not hide where the server is: a
	 * reload must reach it to report them (and keep the old config).
	 */
	if ((c = conf_load(o->conf, CONF_PEEK, &errs)) == NULL) {
		fail(o->cmd, "cannot read %s to find the admin socket: %s (use -s SOCKET)",
		    o->conf, errs.n > 0 ? errs.msg[0] : "invalid");
		conf_errors_clear(&errs);
		return -1;
	}
	conf_errors_clear(&errs);
	if (c->server.state_dir == NULL) {	/* its own line is the broken one */
		fail(o->cmd, "%s: state_dir is not valid (use -s SOCKET)", o->conf);
		conf_free(c);
		return -1;
	}
	snprintf(o->sockbuf, sizeof(o->sockbuf), "%s/admin.sock", c->server.state_dir);
	o->sock = o->sockbuf;
	conf_free(c);
	return 0;
}

static int
connect_admin(struct cli *o)
{
	struct sockaddr_un sun;
	int fd;

	if (strlen(o->sock) >= sizeof(sun.sun_path)) {
		fail(o->cmd, "%s: path too long", o->sock);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, o->sock, strlen(o->sock) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;

		if (fd != -1)
			close(fd);
		fail(o->cmd, "cannot connect to %s: %s%s", o->sock, strerror(e),
		    e == ENOENT || e == ECONNREFUSED ? " (is weir running?)" :
		    e == EACCES ? " (root, weir's user or admin_group only)" : "");
		return -1;
	}
	return fd;
}

/*
 * One request; the whole response body into *body (NUL-terminated).
 * Returns the HTTP status, or -1 after printing why.
 */
static int
request(struct cli *o, const char *method, const char *path, char **body)
{
	char req[1024], *buf = NULL, *hdr_end;
	size_t len = 0, cap = 0;
	int fd, status = -1, n;

	if ((fd = connect_admin(o)) == -1)
		return -1;
	n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: weir\r\n"
	    "User-Agent: weir-cli\r\nConnection: close\r\n\r\n", method, path);
	if (write_full(fd, req, (size_t)n) == -1) {
		close(fd);
		return fail(o->cmd, "write: %s", strerror(errno)), -1;
	}
	for (;;) {
		ssize_t r;

		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 16384;
			buf = xreallocarray(buf, cap, 1);
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (buf == NULL) {
		fail(o->cmd, "no answer from %s", o->sock);
		return -1;
	}
	buf[len] = '\0';
	if (sscanf(buf, "HTTP/1.1 %d", &status) != 1 ||
	    (hdr_end = strstr(buf, "\r\n\r\n")) == NULL) {
		free(buf);
		fail(o->cmd, "malformed answer from %s", o->sock);
		return -1;
	}
	*body = xstrdup(hdr_end + 4);
	free(buf);
	return status;
}

/* Print the API's error message (JSON {"error": ...}) and return 1. */
static int
api_error(struct cli *o, int status, const char *body)
{
	json_error_t je;
	json_t *j = json_loads(body, 0, &je);
	const char *msg = j != NULL ? json_string_value(json_object_get(j, "error")) : NULL;
	int rc = fail(o->cmd, "%s (HTTP %d)", msg != NULL ? msg : body, status);

	json_decref(j);
	return rc;
}

/* An error answer (body, which it frees) reported; returns the exit status. */
static int
answer_error(struct cli *o, int st, char *body)
{
	st = api_error(o, st, body);
	free(body);
	return st;
}

/* --json: the answer (body, which it frees) printed as it is; returns rc. */
static int
answer_raw(char *body, int rc)
{
	fputs(body, stdout);
	free(body);
	return rc;
}

/*
 * What a command does with the server's answer (body, which it frees): an
 * error status is reported (its exit status returned), --json prints the
 * body as it is (0); otherwise the JSON is parsed into *out and -1 says
 * "go on with it".
 */
static int
answer_json(struct cli *o, const char *cmd, int st, char *body, json_t **out)
{
	json_error_t je;

	if (st >= 400)
		return answer_error(o, st, body);
	if (o->json)
		return answer_raw(body, 0);
	*out = json_loads(body, 0, &je);
	free(body);
	if (*out == NULL)
		return fail(cmd, "bad JSON from the server");
	return -1;
}

/*
 * The same for commands whose every answer is JSON to show, failures too
 * (reload's errors, upgrade's rollback): --json prints the body whatever the
 * status (exit status 1 unless it is 200); a body that is not JSON is
 * reported as an error; otherwise *out is the parsed body, whatever the
 * status, and -1 says "go on with it".
 */
static int
answer_json_any(struct cli *o, int st, char *body, json_t **out)
{
	if (o->json)
		return answer_raw(body, st == 200 ? 0 : 1);
	if ((*out = json_loads(body, 0, NULL)) == NULL)
		return answer_error(o, st, body);
	free(body);
	return -1;
}

/* --- option parsing shared by all commands ---------------------------------------- */

enum { OPT_JSON = 256, OPT_FOLLOW, OPT_POOL, OPT_ID, OPT_LEVEL, OPT_SINCE, OPT_LIMIT,
	OPT_WAIT, OPT_NO_WAIT };

static int
parse(struct cli *o, int argc, char **argv, const char *usage, char **args, int *nargs,
    int maxargs)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ "pool", required_argument, NULL, OPT_POOL },
		{ "id", required_argument, NULL, OPT_ID },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "wait", required_argument, NULL, OPT_WAIT },
		{ "no-wait", no_argument, NULL, OPT_NO_WAIT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 1;
	*nargs = 0;
	o->limit = -1;
	o->wait_s = 60;
	while ((ch = getopt_long(argc, argv, "c:s:fh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': o->conf = optarg; break;
		case 's': o->sock = optarg; break;
		case OPT_JSON: o->json = true; break;
		case 'f':
		case OPT_FOLLOW: o->follow = true; break;
		case OPT_POOL: o->pool = optarg; break;
		case OPT_ID: o->id = atol(optarg); break;
		case OPT_LEVEL: o->level = optarg; break;
		case OPT_SINCE: o->since = optarg; break;
		case OPT_LIMIT: o->limit = atol(optarg); break;
		case OPT_WAIT: {
			/* a duration (60s, 2m) or plain seconds */
			uint64_t ms;
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end == '\0' && v > 0 && v <= 86400)
				o->wait_s = (int)v;
			else if (conf_duration(optarg, &ms) == 0 && ms >= 1000 && ms <= 86400000)
				o->wait_s = (int)(ms / 1000);
			else
				o->bad_wait = true;
			break;
		}
		case OPT_NO_WAIT: o->no_wait = true; break;
		case 'h':
			printf("usage: weir %s %s\n", o->cmd, usage);
			exit(0);
		default:
			fprintf(stderr, "usage: weir %s %s\n", o->cmd, usage);
			return 2;
		}
	}
	if (o->bad_wait) {
		fprintf(stderr, "weir %s: --wait takes a duration of 1s to 1d (e.g. 60s, 2m)\n", o->cmd);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		if (*nargs == maxargs) {
			fprintf(stderr, "weir %s: unexpected argument '%s'\nusage: weir %s %s\n",
			    o->cmd, argv[i], o->cmd, usage);
			return 2;
		}
		args[(*nargs)++] = argv[i];
	}
	return 0;
}

/* --- status ------------------------------------------------------------------------- */

static void
fmt_dur(long long s, char *out, size_t n)
{
	if (s < 60)
		snprintf(out, n, "%llds", s);
	else if (s < 3600)
		snprintf(out, n, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, n, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
	else
		snprintf(out, n, "%lldd%02lldh", s / 86400, (s % 86400) / 3600);
}

static void
fmt_bytes(long long b, char *out, size_t n)
{
	if (b <= 0)
		snprintf(out, n, "-");
	else if (b < 1 << 20)
		snprintf(out, n, "%.1f KB", (double)b / 1024);
	else if (b < 1LL << 30)
		snprintf(out, n, "%.1f MB", (double)b / (1 << 20));
	else
		snprintf(out, n, "%.2f GB", (double)b / (1 << 30));
}

static const char *
jstr(json_t *o, const char *k, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : dflt;
}

static long long
jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static void
print_pool(json_t *p, bool detail)
{
	json_t *ws = json_object_get(p, "workers"), *fails = json_object_get(p, "failures");
	size_t i, nready = 0;
	json_t *w;
	char last[160] = "-", q[16];

	json_array_foreach(ws, i, w)
		if (strcmp(jstr(w, "state", ""), "ready") == 0)
			nready++;
	if (json_array_size(fails) > 0)
		snprintf(last, sizeof(last), "%s", jstr(json_array_get(fails,
		    json_array_size(fails) - 1), "reason", "-"));
	if (json_is_integer(json_object_get(p, "queue")))
		snprintf(q, sizeof(q), "%lld", jint(p, "queue"));
	else
		snprintf(q, sizeof(q), "-");
	printf("%-16s %-9s %3zu/%-3lld %6s %10lld %4zu/%-8s %s%s%s%s\n",
	    jstr(p, "name", "?"), json_is_true(json_object_get(p, "degraded")) &&
	    strcmp(jstr(p, "state", ""), "started") == 0 ? "degraded" : jstr(p, "state", "?"),
	    nready, jint(p, "processes"), q,
	    jint(p, "requests"), json_array_size(fails), jstr(p, "rapid_fail", ""), last,
	    json_is_string(json_object_get(p, "reason")) ? " [" : "",
	    jstr(p, "reason", ""),
	    json_is_string(json_object_get(p, "reason")) ? "]" : "");
	if (json_is_string(json_object_get(p, "detail")) && detail)
		printf("    reason: %s\n", jstr(p, "detail", ""));
	if (json_is_true(json_object_get(p, "degraded")))
		printf("    degraded: %s\n", jstr(p, "degraded_reason", "?"));
	if (json_is_integer(json_object_get(p, "retry_in_s")))
		printf("    %s in %llds (back-off)\n", strcmp(jstr(p, "state", ""), "disabled") == 0 ?
		    "re-enabled" : "new workers again", jint(p, "retry_in_s"));
	if (json_is_object(json_object_get(p, "last_failure"))) {
		json_t *lf = json_object_get(p, "last_failure");

		printf("    last failure: %s pid %lld %s%s%s (%s)\n", jstr(lf, "time", "?"),
		    jint(lf, "pid"), jstr(lf, "how", "?"), *jstr(lf, "output", "") ? ": " : "",
		    jstr(lf, "output", ""), json_is_true(json_object_get(lf, "counted")) ?
		    "counted by Rapid-Fail Protection" : "not counted: it had served");
	}
	if (json_is_object(json_object_get(p, "cgroup"))) {
		json_t *cg = json_object_get(p, "cgroup");
		char mem[32], lim[64] = "";

		fmt_bytes(jint(cg, "memory_bytes"), mem, sizeof(mem));
		if (jint(cg, "memory_max") > 0) {
			char mx[32];

			fmt_bytes(jint(cg, "memory_max"), mx, sizeof(mx));
			snprintf(lim, sizeof(lim), " of %s", mx);
		}
		printf("    cgroup: cpu %.1fs, memory %s%s, %lld tasks, throttled %.1fs, %lld forks refused, %lld OOM kills\n",
		    (double)jint(cg, "cpu_usec") / 1e6, mem, lim, jint(cg, "tasks"),
		    (double)jint(cg, "throttled_usec") / 1e6, jint(cg, "forks_refused"),
		    jint(cg, "oom_kills"));
	}
	if (json_is_integer(json_object_get(p, "rolled_back_from")))
		printf("    rolled back: the settings of generation %lld failed; running those of generation %lld\n",
		    jint(p, "rolled_back_from"), jint(p, "settings_generation"));
	json_array_foreach(ws, i, w) {
		char up[32], mem[32];

		fmt_dur(jint(w, "uptime_s"), up, sizeof(up));
		fmt_bytes(jint(w, "private") ? jint(w, "private") : jint(w, "rss"), mem, sizeof(mem));
		if (json_is_string(json_object_get(w, "address")))
			printf("    upstream %s %-9s gen %-3lld up %-8s %8lld req\n",
			    jstr(w, "address", "?"), jstr(w, "state", "?"), jint(w, "generation"),
			    up, jint(w, "requests"));
		else
			printf("    pid %-8lld %-9s gen %-3lld up %-8s %8lld req  %s\n", jint(w, "pid"),
			    jstr(w, "state", "?"), jint(w, "generation"), up, jint(w, "requests"), mem);
	}
}

/* The cgroup hierarchy the pools use, or why there is none. */
static void
print_cgroups(json_t *j)
{
	json_t *cg = json_object_get(j, "cgroups"), *c;
	size_t i;

	if (!json_is_object(cg))
		return;
	printf("cgroups: %s", jstr(cg, "hierarchy", "?"));
	json_array_foreach(json_object_get(cg, "controllers"), i, c)
		printf("%s%s", i == 0 ? " (" : ", ", json_string_value(c));
	if (json_array_size(json_object_get(cg, "controllers")) > 0)
		printf(")");
	if (json_is_string(json_object_get(cg, "why")))
		printf(": %s", jstr(cg, "why", ""));
	printf("\n");
}

/*
 * The front end's last failure (1305) and the sites whose root it cannot
 * use (1311), under the front end's line.
 */
static void
print_fe_faults(json_t *j)
{
	json_t *lf = json_object_get(json_object_get(j, "frontend"), "last_failure");
	json_t *tail = json_object_get(lf, "stderr_tail"), *s;
	size_t i;

	if (json_is_object(lf)) {
		size_t n = json_array_size(tail);
		const char *last = n > 0 ?
		    json_string_value(json_array_get(tail, n - 1)) : NULL;

		printf("front end last failure: %s, pid %lld, %s after %lldms%s%s\n",
		    jstr(lf, "time", "?"), jint(lf, "pid"), jstr(lf, "exit", "?"),
		    jint(lf, "uptime_ms"), last != NULL ? ": " : "",
		    last != NULL ? last : "");
	}
	json_array_foreach(json_object_get(j, "sites_unavailable"), i, s)
		printf("site %s: root %s unavailable since %s: %s (503 until it is back)\n",
		    jstr(s, "site", "?"), jstr(s, "root", "?"), jstr(s, "since", "?"),
		    jstr(s, "error", "?"));
}

/* Each site's certificate and the time it has left. */
static void
print_certificates(json_t *j)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(j, "tls_certificates"), i, c) {
		long long left = jint(c, "expires_in_s");
		char d[32];

		fmt_dur(left > 0 ? left : -left, d, sizeof(d));
		printf("site %s: certificate %s %s %s (%s%s%s)\n", jstr(c, "site", "?"),
		    jstr(c, "certificate", "?"), left > 0 ? "expires" : "expired",
		    jstr(c, "not_after", "?"), left > 0 ? "in " : "", d, left > 0 ? "" : " ago");
	}
}

static void print_acme(json_t *j);

int
cmd_status(int argc, char **argv)
{
	struct cli o = { .cmd = "status" };
	char *args[1], *body = NULL, up[32];
	int n, st;
	json_error_t je;
	json_t *j, *fe, *p;
	size_t i;

	if ((st = parse(&o, argc, argv, "[-c FILE | -s SOCKET] [--json]\n\n"
	    "Show the server, the front end and every pool with its workers.",
	    args, &n, 0)) != 0)
		return st;
	if (find_socket(&o) == -1 || (st = request(&o, "GET", "/status", &body)) == -1)
		return 1;
	if (st != 200)
		return answer_error(&o, st, body);
	if (o.json)
		return answer_raw(body, 0);
	if ((j = json_loads(body, 0, &je)) == NULL) {
		free(body);
		return fail("status", "bad JSON from the server: %s", je.text);
	}
	free(body);
	fe = json_object_get(j, "frontend");
	fmt_dur(jint(j, "uptime_s"), up, sizeof(up));
	printf("weir %s (abi %lld, build %s), master pid %lld, up %s, config %s (generation %lld)\n",
	    jstr(j, "version", "?"), jint(j, "abi"), jstr(j, "build", "?"), jint(j, "pid"), up,
	    jstr(j, "config", "?"), jint(j, "generation"));
	printf("binary %s\n", jstr(j, "binary", "?"));
	if (json_is_object(json_object_get(j, "upgrade")))
		printf("upgrade %s: new master pid %lld, %s\n",
		    jstr(json_object_get(j, "upgrade"), "state", "?"),
		    jint(json_object_get(j, "upgrade"), "pid"),
		    jstr(json_object_get(j, "upgrade"), "binary", "?"));
	printf("front end pid %lld (build %s), %lld thread%s, %lld connection%s, restarts %lld, listening on",
	    jint(fe, "pid"), jstr(fe, "build", "?"), jint(fe, "threads"),
	    jint(fe, "threads") == 1 ? "" : "s",
	    jint(fe, "connections"), jint(fe, "connections") == 1 ? "" : "s",
	    jint(fe, "restarts"));
	json_array_foreach(json_object_get(fe, "listen"), i, p)
		printf(" %s", json_string_value(p));
	printf("\n");
	if (json_is_object(json_object_get(fe, "requests")))
		printf("requests: %lld HTTP/1.1, %lld HTTP/2.0 (%lld HTTP/2 connections)\n",
		    jint(json_object_get(fe, "requests"), "HTTP/1.1"),
		    jint(json_object_get(fe, "requests"), "HTTP/2.0"),
		    jint(json_object_get(fe, "http2"), "connections"));
	if (json_is_object(json_object_get(j, "drain")))
		printf("draining: health_path answers 503, %lld ms until it stops\n",
		    jint(json_object_get(j, "drain"), "remaining_ms"));
	else if (strcmp(jstr(j, "state", ""), "stopping") == 0)
		printf("stopping\n");
	print_fe_faults(j);
	print_certificates(j);
	print_cgroups(j);
	print_acme(j);
	printf("\n%-16s %-9s %-7s %6s %10s %-13s %s\n", "POOL", "STATE", "WORKERS",
	    "QUEUE", "REQUESTS", "FAILURES", "LAST FAILURE");
	json_array_foreach(json_object_get(j, "pools"), i, p)
		print_pool(p, true);
	json_decref(j);
	return 0;
}

/* --- waiting for a deploy (reload, recycle) --------------------------------------------- */

/*
 * Where one pool's deploy to version `ver` stands (GET /pools/NAME):
 * 1 settled well, -1 failed, 0 not yet; `out` says it in words.
 */
static int
deploy_outcome(json_t *p, long long ver, char *out, size_t outsz)
{
	json_t *d = json_object_get(p, "deploy"), *lf = json_object_get(p, "last_failure");
	const char *name = jstr(p, "name", "?"), *cause = "";
	long long ready = jint(d, "ready"), old = jint(d, "old_ready"), starting = jint(d, "starting");

	if (json_is_object(lf) && jint(lf, "version") >= ver)
		cause = *jstr(lf, "output", "") ? jstr(lf, "output", "") : jstr(lf, "how", "?");
	if (jint(d, "failed_version") >= ver || strcmp(jstr(p, "state", ""), "disabled") == 0) {
		snprintf(out, outsz, "pool %s: new worker failed%s%s; %s", name, *cause ? ": " : "",
		    cause, jint(d, "failed_version") >= ver ? jstr(d, "outcome", "failed") :
		    "pool disabled");
		return -1;
	}
	if (jint(d, "good_version") >= ver && old == 0 && starting == 0) {
		snprintf(out, outsz, "pool %s: %lld new worker%s ready", name, ready,
		    ready == 1 ? "" : "s");
		return 1;
	}
	if (ready == 0 && old == 0 && starting == 0 &&
	    strcmp(jstr(p, "state", ""), "starting") != 0) {
		snprintf(out, outsz, "pool %s: no workers running; the next request starts the new version",
		    name);
		return 1;
	}
	snprintf(out, outsz, "pool %s: not settled: %lld new worker%s ready, %lld starting, %lld old serving%s%s",
	    name, ready, ready == 1 ? "" : "s", starting, old, *cause ? "; last failure: " : "", cause);
	return 0;
}

/*
 * Poll each pool of `versions` ({name: version}) until its deploy settled
 * or o->wait_s passed; print one line per pool.  Returns 0 when every one
 * settled well, else 1.
 */
static int
wait_deploys(struct cli *o, json_t *versions)
{
	time_t deadline = time(NULL) + o->wait_s;
	const char *name;
	json_t *v;
	int rc = 0;

	json_object_foreach(versions, name, v) {
		char path[256], line[1024] = "";
		int r = 0;

		snprintf(path, sizeof(path), "/pools/%s", name);
		for (;;) {
			char *body = NULL;
			json_t *p;
			int st = request(o, "GET", path, &body);

			if (st == -1)
				return 1;
			p = st == 200 ? json_loads(body, 0, NULL) : NULL;
			free(body);
			if (p == NULL) {
				snprintf(line, sizeof(line), "pool %s: no answer about it (HTTP %d)", name, st);
				r = -1;
				break;
			}
			r = deploy_outcome(p, json_integer_value(v), line, sizeof(line));
			json_decref(p);
			if (r != 0 || time(NULL) >= deadline)
				break;
			usleep(100 * 1000);	/* polling with a deadline */
		}
		if (r == 0)
			printf("%s (after %ds; see weir status)\n", line, o->wait_s);
		else
			printf("%s\n", line);
		if (r != 1)
			rc = 1;
	}
	fflush(stdout);
	return rc;
}

/* --- pool ACTION NAME ----------------------------------------------------------------- */

int
cmd_pool(int argc, char **argv)
{
	struct cli o = { .cmd = "pool" };
	char *args[2], *body = NULL, path[256];
	int n, st;
	json_t *j;

	if ((st = parse(&o, argc, argv, "start|stop|recycle|enable|show NAME [-c FILE | -s SOCKET] [--json]\n"
	    "       [--wait DURATION | --no-wait]\n\n"
	    "start    start a stopped pool\n"
	    "stop     stop a pool: its workers drain and exit; requests get 503\n"
	    "recycle  replace every worker (overlapped; event 1079), then wait (--wait, default\n"
	    "         60s) until the new workers are ready or have failed and print the outcome\n"
	    "enable   re-enable a disabled pool (after Rapid-Fail Protection or a fix)\n"
	    "show     show one pool", args, &n, 2)) != 0)
		return st;
	if (n != 2) {
		fprintf(stderr, "usage: weir pool start|stop|recycle|enable|show NAME\n");
		return 2;
	}
	if (strcmp(args[0], "start") && strcmp(args[0], "stop") && strcmp(args[0], "recycle") &&
	    strcmp(args[0], "enable") && strcmp(args[0], "show"))
		return fail("pool", "unknown action '%s' (start, stop, recycle, enable, show)", args[0]);
	if (strlen(args[1]) > CONF_NAME_MAX || strpbrk(args[1], "/?#% ") != NULL)
		return fail("pool", "'%s' is not a pool name", args[1]);
	if (find_socket(&o) == -1)
		return 1;
	if (strcmp(args[0], "show") == 0) {
		snprintf(path, sizeof(path), "/pools/%s", args[1]);
		st = request(&o, "GET", path, &body);
	} else {
		snprintf(path, sizeof(path), "/pools/%s/%s", args[1], args[0]);
		st = request(&o, "POST", path, &body);
	}
	if (st == -1)
		return 1;
	if ((st = answer_json(&o, "pool", st, body, &j)) != -1)
		return st;
	if (strcmp(args[0], "show") == 0) {
		printf("%-16s %-9s %-7s %6s %10s %-13s %s\n", "POOL", "STATE", "WORKERS",
		    "QUEUE", "REQUESTS", "FAILURES", "LAST FAILURE");
		print_pool(j, true);
		if (json_is_integer(json_object_get(j, "uid")))
			printf("identity: %s, uid %lld, gid %lld\n", jstr(j, "identity", "?"),
			    json_integer_value(json_object_get(j, "uid")),
			    json_integer_value(json_object_get(j, "gid")));
	} else {
		printf("%s (state: %s)\n", jstr(j, "message", "done"), jstr(j, "state", "?"));
		if (strcmp(args[0], "recycle") == 0 && !o.no_wait &&
		    json_is_integer(json_object_get(j, "version"))) {
			json_t *vers = json_object();

			fflush(stdout);
			json_object_set(vers, args[1], json_object_get(j, "version"));
			st = wait_deploys(&o, vers);
			json_decref(vers);
			json_decref(j);
			return st;
		}
	}
	json_decref(j);
	return 0;
}

/* --- acme ------------------------------------------------------------------------------ */

/* The sites with certificate = acme, one line each (weir status). */
static void
print_acme(json_t *j)
{
	json_t *a = json_object_get(j, "acme"), *s;
	size_t i;

	if (json_array_size(a) == 0)
		return;
	printf("\n%-16s %-9s %-24s %-21s %s\n", "ACME SITE", "STATE", "SERIAL", "EXPIRES",
	    "NEXT ATTEMPT");
	json_array_foreach(a, i, s) {
		const char *serial = jstr(s, "serial", "-");

		printf("%-16s %-9s %-24.24s %-21s %s%s\n", jstr(s, "site", "?"), jstr(s, "state", "?"),
		    json_is_true(json_object_get(s, "self_signed")) ? "(self-signed)" : serial,
		    jstr(s, "not_after", "-"), jstr(s, "next_attempt", "now (ordering)"),
		    jint(s, "failures") > 0 ? " (back-off)" : "");
		if (json_is_string(json_object_get(s, "last_error")))
			printf("  last error: %s\n", jstr(s, "last_error", ""));
	}
}

int
cmd_acme(int argc, char **argv)
{
	struct cli o = { .cmd = "acme" };
	char *args[2], *body = NULL, path[256];
	int n, st;
	json_t *j;

	if ((st = parse(&o, argc, argv, "renew SITE [-c FILE | -s SOCKET] [--json]\n\n"
	    "renew    order a new certificate for a site with certificate = acme now\n"
	    "         (the site serves its current one until the new one arrives;\n"
	    "         the outcome is event 1331 or 1332, and in weir status)",
	    args, &n, 2)) != 0)
		return st;
	if (n != 2 || strcmp(args[0], "renew") != 0) {
		fprintf(stderr, "usage: weir acme renew SITE\n");
		return 2;
	}
	if (strlen(args[1]) > CONF_NAME_MAX || strpbrk(args[1], "/?#% ") != NULL)
		return fail("acme", "'%s' is not a site name", args[1]);
	if (find_socket(&o) == -1)
		return 1;
	snprintf(path, sizeof(path), "/acme/%s/renew", args[1]);
	if ((st = request(&o, "POST", path, &body)) == -1)
		return 1;
	if ((st = answer_json(&o, "acme", st, body, &j)) != -1)
		return st;
	printf("%s\n", jstr(j, "message", "started"));
	json_decref(j);
	return 0;
}

/* --- events ---------------------------------------------------------------------------- */

#define EV_INDENT	"                         "	/* under the message's column */

/*
 * What a process's end event (1009, 1305) says about how it ended, in
 * decimal with its meaning: "exit status 3", "signal 9 (SIGKILL), core
 * dumped"; nothing for an event without exit fields, or whose message
 * already says it in those words.
 */
static void
print_exit(json_t *e)
{
	json_t *code = json_object_get(e, "exit_code"), *sig = json_object_get(e, "signal");
	const char *msg = jstr(e, "message", "");
	char how[64];

	if (json_is_integer(code)) {
		snprintf(how, sizeof(how), "exit status %lld", json_integer_value(code));
	} else if (json_is_integer(sig)) {
		int n = (int)json_integer_value(sig);

		snprintf(how, sizeof(how), "signal %d (%s)%s", n, util_signame(n),
		    json_is_true(json_object_get(e, "core_dumped")) ? ", core dumped" : "");
	} else {
		return;
	}
	if (strstr(msg, how) == NULL)
		printf(EV_INDENT "%s\n", how);
}

/* Its in-flight requests and last output lines, indented under it. */
static void
print_details(json_t *e)
{
	json_t *v, *tail = json_object_get(e, "stderr_tail");
	size_t i;

	print_exit(e);
	json_array_foreach(json_object_get(e, "inflight"), i, v)
		printf(EV_INDENT "in flight: %s %s%s\n", jstr(v, "method", "?"),
		    jstr(v, "target", "?"), json_is_true(json_object_get(v, "retry")) ?
		    " (its retry)" : "");
	if (json_array_size(tail) > 0)
		printf(EV_INDENT "last output:\n");
	json_array_foreach(tail, i, v)
		printf(EV_INDENT "  %s\n", json_string_value(v) ? json_string_value(v) : "");
}

/*
 * One event as Event Viewer shows it: time, level, id, pool, message; then
 * the details of a process's end (exit status or signal, in-flight
 * requests, last output lines), indented.
 */
static void
print_event(const char *line, bool json)
{
	json_error_t je;
	json_t *e;
	char t[32];
	const char *tm;

	if (json) {
		fputs(line, stdout);
		if (line[0] && line[strlen(line) - 1] != '\n')
			fputc('\n', stdout);
		fflush(stdout);
		return;
	}
	if ((e = json_loads(line, 0, &je)) == NULL)
		return;
	tm = jstr(e, "time", "");
	snprintf(t, sizeof(t), "%.10s %.12s", tm, strlen(tm) > 11 ? tm + 11 : "");
	printf("%-23s  %-7s  %4lld  %-12s  %s\n", t, jstr(e, "level", ""), jint(e, "id"),
	    jstr(e, "pool", "-"), jstr(e, "message", ""));
	print_details(e);
	fflush(stdout);
	json_decref(e);
}

/* Read a chunked follow stream, printing each JSON line as it comes. */
static int
follow(struct cli *o, int fd)
{
	char buf[65536], line[65536];
	size_t len = 0, ll = 0;
	bool head = true;
	long left = -1;		/* bytes left in the current chunk; -1: size line next */

	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - len);
		size_t i = 0;

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return fail(o->cmd, "the server closed the stream");
		len += (size_t)r;
		if (head) {
			char *e = memmem(buf, len, "\r\n\r\n", 4);
			int st = 0;

			if (e == NULL)
				continue;
			if (sscanf(buf, "HTTP/1.1 %d", &st) != 1 || st != 200) {
				buf[len < sizeof(buf) ? len : sizeof(buf) - 1] = '\0';
				return api_error(o, st, e + 4);
			}
			head = false;
			i = (size_t)(e + 4 - buf);
		}
		while (i < len) {
			if (left < 0) {
				char *nl = memchr(buf + i, '\n', len - i);

				if (nl == NULL)
					break;
				left = strtol(buf + i, NULL, 16);
				i = (size_t)(nl + 1 - buf);
				if (left == 0)
					return 0;
				continue;
			}
			while (left > 0 && i < len) {
				char ch = buf[i++];

				left--;
				if (ll < sizeof(line) - 1)
					line[ll++] = ch;
				if (ch == '\n') {
					line[ll] = '\0';
					print_event(line, o->json);
					ll = 0;
				}
			}
			if (left == 0) {
				/* the chunk's CRLF */
				if (len - i < 2)
					break;
				i += 2;
				left = -1;
			}
		}
		memmove(buf, buf + i, len - i);
		len -= i;
	}
}

int
cmd_events(int argc, char **argv)
{
	struct cli o = { .cmd = "events" };
	char *args[1], *body = NULL, path[512];
	int n, st, k;
	json_error_t je;
	json_t *arr, *e;
	size_t i;

	if ((st = parse(&o, argc, argv, "[-c FILE | -s SOCKET] [--pool P] [--id N] [--level L] "
	    "[--since DURATION] [--limit N] [--follow] [--json]\n\n"
	    "Show the event log (newest last): time, level, id, pool, message.\n"
	    "--level warning shows warnings and errors; --since 10m the last ten minutes;\n"
	    "--follow keeps printing new events; --json prints the stored JSON lines.",
	    args, &n, 0)) != 0)
		return st;
	k = snprintf(path, sizeof(path), "/events?limit=%ld", o.limit >= 0 ? o.limit :
	    (o.follow ? 10 : 100));
	if (o.pool != NULL)
		k += snprintf(path + k, sizeof(path) - (size_t)k, "&pool=%s", o.pool);
	if (o.id > 0)
		k += snprintf(path + k, sizeof(path) - (size_t)k, "&id=%ld", o.id);
	if (o.level != NULL)
		k += snprintf(path + k, sizeof(path) - (size_t)k, "&level=%s", o.level);
	if (o.since != NULL)
		k += snprintf(path + k, sizeof(path) - (size_t)k, "&since=%s", o.since);
	if (strpbrk(path, " #\r\n") != NULL)
		return fail("events", "bad option value");
	if (find_socket(&o) == -1)
		return 1;
	if (o.follow) {
		char req[700];
		int fd = connect_admin(&o);

		if (fd == -1)
			return 1;
		snprintf(path + k, sizeof(path) - (size_t)k, "&follow=1");
		k = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: weir\r\n\r\n", path);
		if (write_full(fd, req, (size_t)k) == -1) {
			close(fd);
			return fail("events", "write: %s", strerror(errno));
		}
		st = follow(&o, fd);
		close(fd);
		return st;
	}
	if ((st = request(&o, "GET", path, &body)) == -1)
		return 1;
	if (st != 200)
		return answer_error(&o, st, body);
	arr = json_loads(body, 0, &je);
	free(body);
	if (!json_is_array(arr)) {
		json_decref(arr);
		return fail("events", "bad JSON from the server");
	}
	json_array_foreach(arr, i, e) {
		char *s = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);

		if (s != NULL)
			print_event(s, o.json);
		free(s);
	}
	json_decref(arr);
	return 0;
}

/* --- reload, stop ------------------------------------------------------------------------ */

int
cmd_reload(int argc, char **argv)
{
	struct cli o = { .cmd = "reload" };
	char *args[1], *body = NULL;
	int n, st, rc;
	json_t *j, *x;
	size_t i;

	if ((st = parse(&o, argc, argv, "[-c FILE | -s SOCKET] [--json] [--wait DURATION | --no-wait]\n\n"
	    "Re-read the configuration.  If it is invalid, the running one is kept\n"
	    "and every error is printed as file:line: message (exit status 1).\n"
	    "Then wait (at most --wait, default 60s) until the new workers of every\n"
	    "changed pool are ready or have failed, and print each pool's outcome\n"
	    "(exit status 1 when one failed or did not settle in time).",
	    args, &n, 0)) != 0)
		return st;
	if (find_socket(&o) == -1 || (st = request(&o, "POST", "/reload", &body)) == -1)
		return 1;
	if ((rc = answer_json_any(&o, st, body, &j)) != -1)
		return rc;
	if (st != 200) {
		json_t *errs = json_object_get(j, "errors");

		if (!json_is_array(errs)) {
			fail("reload", "%s (HTTP %d)", jstr(j, "error", "failed"), st);
		} else {
			json_array_foreach(errs, i, x)
				fprintf(stderr, "%s\n", json_string_value(x));
			fprintf(stderr, "weir reload: rejected; still serving generation %lld\n",
			    jint(j, "generation"));
		}
		json_decref(j);
		return 1;
	}
	printf("weir reload: ok, generation %lld", jint(j, "generation"));
	{
		static const char *keys[] = { "pools_added", "pools_removed", "pools_changed",
		    "listen_added", "listen_removed" };

		for (size_t k = 0; k < nitems(keys); k++) {
			json_t *a = json_object_get(j, keys[k]);

			if (json_array_size(a) == 0)
				continue;
			printf("; %s:", keys[k]);
			json_array_foreach(a, i, x)
				printf(" %s", json_string_value(x));
		}
	}
	printf("\n");
	st = 0;
	if (!o.no_wait && json_object_size(json_object_get(j, "versions")) > 0) {
		fflush(stdout);
		st = wait_deploys(&o, json_object_get(j, "versions"));
	}
	json_decref(j);
	return st;
}

/* --- upgrade ------------------------------------------------------------------------------ */

/* Percent-encode a path for the query string. */
static void
query_escape(const char *s, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0' && o + 4 < outsz; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("/-._~", ch) != NULL) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

int
cmd_upgrade(int argc, char **argv)
{
	struct cli o = { .cmd = "upgrade" };
	char *args[1], *body = NULL, **rest, real[4096], path[1024 + 3 * 4096];
	const char *binary = NULL;
	int n, st, rc, nrest = 0;
	json_t *j;

	/* --binary is upgrade's own option; the others are shared */
	rest = xcalloc((size_t)argc + 1, sizeof(char *));
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--binary") == 0 && i + 1 < argc)
			binary = argv[++i];
		else if (strncmp(argv[i], "--binary=", 9) == 0)
			binary = argv[i] + 9;
		else
			rest[nrest++] = argv[i];
	}
	st = parse(&o, nrest, rest, "[-c FILE | -s SOCKET] [--json] [--binary PATH]\n\n"
	    "Replace the running weir with a new binary (default: the one it was\n"
	    "started from, as it is on disk now) without refusing a connection: the\n"
	    "new install is verified, its master started with the listening sockets,\n"
	    "and the old generation stops once the new one serves; if the new one\n"
	    "fails, it is removed and the old one serves on.  Waits for the outcome:\n"
	    "exit status 0 upgraded, 1 refused or rolled back.",
	    args, &n, 0);
	free(rest);
	if (st != 0)
		return st;
	strcpy(path, "/upgrade");
	if (binary != NULL) {
		char esc[3 * 4096];

		if (realpath(binary, real) == NULL)
			return fail("upgrade", "%s: %s", binary, strerror(errno));
		query_escape(real, esc, sizeof(esc));
		snprintf(path, sizeof(path), "/upgrade?binary=%s", esc);
	}
	if (find_socket(&o) == -1 || (st = request(&o, "POST", path, &body)) == -1)
		return 1;
	if ((rc = answer_json_any(&o, st, body, &j)) != -1)
		return rc;
	if (st == 200) {
		printf("weir upgrade: upgraded: weir %s (build %s), master pid %lld\n",
		    jstr(j, "version", "?"), jstr(j, "build", "?"), jint(j, "pid"));
		json_decref(j);
		return 0;
	}
	if (json_object_get(j, "reason") != NULL)
		fprintf(stderr, "weir upgrade: rolled back: %s; still serving (master pid %lld)\n",
		    jstr(j, "reason", "?"), jint(j, "pid"));
	else
		fprintf(stderr, "weir upgrade: %s: %s\n", jstr(j, "outcome", "failed"),
		    jstr(j, "error", "?"));
	json_decref(j);
	return 1;
}

/* Wait until weir is gone: its admin socket no longer answers. */
static int
wait_gone(const struct cli *o, const char *cmd)
{
	time_t deadline = time(NULL) + o->wait_s;

	while (time(NULL) < deadline) {
		struct sockaddr_un sun;
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool up;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, o->sock, strlen(o->sock) + 1);
		up = fd != -1 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
		if (fd != -1)
			close(fd);
		if (!up) {
			printf("weir stopped\n");
			return 0;
		}
		usleep(100 * 1000);	/* polling with a deadline */
	}
	return fail(cmd, "weir is still running after %ds", o->wait_s);
}

/* POST path (/stop, /drain), expecting 202; *body gets the answer. */
static int
post_accepted(struct cli *o, const char *path, char **body)
{
	int st;

	if (find_socket(o) == -1 || (st = request(o, "POST", path, body)) == -1)
		return 1;
	if (st != 202) {
		st = answer_error(o, st, *body);
		*body = NULL;
		return st;
	}
	return 0;
}

int
cmd_stop(int argc, char **argv)
{
	struct cli o = { .cmd = "stop" };
	char *args[1], *body = NULL;
	int n, st;

	if ((st = parse(&o, argc, argv, "[-c FILE | -s SOCKET] [--wait SECONDS]\n\n"
	    "Stop gracefully: no new connections, in-flight requests finish, workers\n"
	    "stop.  With health_path set, a drain comes first (see weir drain).  Waits\n"
	    "until weir is gone (at most --wait seconds, default 60).",
	    args, &n, 0)) != 0)
		return st;
	if ((st = post_accepted(&o, "/stop", &body)) != 0)
		return st;
	free(body);
	return wait_gone(&o, "stop");
}

int
cmd_drain(int argc, char **argv)
{
	struct cli o = { .cmd = "drain" };
	char *args[1], *body = NULL;
	json_t *j;
	int n, st;

	if ((st = parse(&o, argc, argv, "[-c FILE | -s SOCKET] [--wait SECONDS | --no-wait]\n\n"
	    "Take this server out of a load balancer's rotation, then stop: health_path\n"
	    "answers 503, keep-alive connections close after their current response,\n"
	    "new connections are served for drain_time, then weir stops as with weir\n"
	    "stop.  Waits until weir is gone (at most --wait seconds, default 60)\n"
	    "unless --no-wait.",
	    args, &n, 0)) != 0)
		return st;
	if ((st = post_accepted(&o, "/drain", &body)) != 0)
		return st;
	j = json_loads(body, 0, NULL);
	free(body);
	printf("weir draining: new connections served for %lld ms, then it stops\n",
	    jint(j, "drain_time_ms"));
	json_decref(j);
	if (o.no_wait)
		return 0;
	fflush(stdout);
	return wait_gone(&o, "drain");
}

/* --- dashboard ----------------------------------------------------------------------- */

/*
 * How to reach the dashboard: it is served on the admin listener only, so
 * from another machine through an SSH tunnel to the admin socket, or the
 * TCP admin listener with its token.  Also checks that this weir serves it.
 */
int
cmd_dashboard(int argc, char **argv)
{
	struct cli o = { .cmd = "dashboard" };
	struct conf_errors errs = { NULL, 0 };
	char *args[1], *body = NULL, sock[PATH_MAX];
	struct conf *c = NULL;
	int n, st;

	if ((st = parse(&o, argc, argv, "[-c FILE | -s SOCKET]\n\n"
	    "Print how to open weir's dashboard (a web page on the admin listener:\n"
	    "pools, workers, charts, the live event log, pool actions) and check\n"
	    "that this weir serves it.", args, &n, 0)) != 0)
		return st;
	if (find_socket(&o) == -1)
		return 1;
	if (realpath(o.sock, sock) == NULL)
		wstrlcpy(sock, o.sock, sizeof(sock));	/* not there yet: as written */
	if (o.conf != NULL)
		c = conf_load(o.conf, CONF_PEEK, &errs);
	conf_errors_clear(&errs);
	printf("weir's dashboard is served on the admin listener only, at /dashboard.\n\n"
	    "On this machine, through the admin socket:\n"
	    "  curl --unix-socket %s http://weir/dashboard\n"
	    "From your workstation, through an SSH tunnel to the socket (the SSH user\n"
	    "must be root, weir's user or in admin_group):\n"
	    "  ssh -N -L 8099:%s HOST\n"
	    "  then open http://localhost:8099/dashboard\n", sock, sock);
	if (c != NULL && c->server.admin_listen != NULL)
		printf("Through the TCP admin listener (%s), with its admin_token:\n"
		    "  open http://%s/dashboard?token=ADMIN_TOKEN\n"
		    "  (the token becomes the page's cookie; from elsewhere tunnel to it:\n"
		    "  ssh -N -L 8099:%s HOST, then http://localhost:8099/dashboard?token=ADMIN_TOKEN)\n",
		    c->server.admin_listen, c->server.admin_listen, c->server.admin_listen);
	conf_free(c);
	/* the page's files are installed and weir answers */
	if ((st = request(&o, "GET", "/dashboard", &body)) == -1)
		return 1;
	if (st != 200)
		return answer_error(&o, st, body);
	free(body);
	printf("\nweir is running and serves the dashboard (%s).\n", sock);
	return 0;
}
