/*
 * status.c - what `weir status`, GET /status, GET /pools/NAME and GET
 * /metrics show: the master's own view (pools, workers, failures) joined
 * with the front end's live snapshot (queues, connections, responses).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "weir_version.h"
#include "weir_build_id.h"
#include "master.h"

const char *
worker_state_name(int state)
{
	static const char *names[] = { "starting", "ready", "draining", "stopping",
	    "exited" };

	return state >= 0 && state <= W_EXITED ? names[state] : "?";
}

static void
iso_time(int64_t t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* VmRSS of one process in bytes, 0 if unknown. */
static uint64_t
rss_bytes(pid_t pid)
{
	char path[64], line[256];
	uint64_t kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %lu kB", (unsigned long *)&kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

/* A pool's last worker failure, or null. */
static json_t *
last_failure_json(const struct pool *p)
{
	const struct last_failure *lf = &p->last_fail;
	json_t *o;
	char ts[32];

	if (lf->when == 0)
		return json_null();
	o = json_object();
	iso_time(lf->when, ts, sizeof(ts));
	json_object_set_new(o, "time", json_string(ts));
	json_object_set_new(o, "pid", json_integer(lf->pid));
	json_object_set_new(o, "version", json_integer(lf->ver));
	json_object_set_new(o, "how", json_string(lf->how));
	json_object_set_new(o, "was_ready", json_boolean(lf->was_ready));
	json_object_set_new(o, "counted", json_boolean(lf->counted));
	json_object_set_new(o, "output", json_string(lf->output));
	return o;
}

/*
 * Where the latest deploy (a reload that changed the pool, a recycle)
 * stands: its version, the version that last served, the one given up,
 * and the workers of the new version and of older ones (`weir reload` and
 * `weir pool recycle` wait on these).
 */
static json_t *
deploy_json(const struct pool *p)
{
	json_t *o = json_object();
	unsigned fresh = 0, old = 0, starting = 0;

	for (const struct worker *w = p->workers; w != NULL; w = w->next) {
		if (w->state == W_STARTING)
			starting++;
		else if (w->state == W_READY && w->ver == p->ver && w->recycle_event == 0)
			fresh++;
		else if (w->state == W_READY)
			old++;
	}
	json_object_set_new(o, "version", json_integer(p->ver));
	json_object_set_new(o, "good_version", json_integer(p->good_ver));
	json_object_set_new(o, "failed_version", json_integer(p->failed_ver));
	json_object_set_new(o, "outcome", p->failed_outcome[0] ?
	    json_string(p->failed_outcome) : json_null());
	json_object_set_new(o, "ready", json_integer(fresh));
	json_object_set_new(o, "old_ready", json_integer(old));
	json_object_set_new(o, "starting", json_integer(starting));
	return o;
}

/*
 * A worker's requests as the front end counts them now: the master's own
 * count (CTL_STATS) lags by up to a report interval, the snapshot does not.
 */
static uint64_t
live_requests(const struct worker *w, json_t *fp)
{
	size_t i;
	json_t *fw;

	json_array_foreach(json_object_get(fp, "workers"), i, fw) {
		if (json_integer_value(json_object_get(fw, "worker")) == (json_int_t)w->id) {
			json_int_t n = json_integer_value(json_object_get(fw, "requests"));

			return n > 0 && (uint64_t)n > w->requests ? (uint64_t)n : w->requests;
		}
	}
	return w->requests;
}

json_t *
status_pool_json(struct pool *p, json_t *fe)
{
	struct master *m = p->m;
	uint64_t now = loop_now(m->loop);
	json_t *o = json_object(), *ws = json_array(), *fails = json_array();
	json_t *fp = fe != NULL ? json_object_get(json_object_get(fe, "pools"), p->name) : NULL;
	static const char *kinds[] = { "http", "fastcgi", "native" };
	const struct conf_pool *cp = p->cp;

	json_object_set_new(o, "name", json_string(p->name));
	json_object_set_new(o, "kind", json_string(kinds[cp->kind]));
	json_object_set_new(o, "state", json_string(pool_state_name(p->state)));
	json_object_set_new(o, "reason", p->reason[0] ? json_string(p->reason) : json_null());
	json_object_set_new(o, "detail", p->detail[0] ? json_string(p->detail) : json_null());
	json_object_set_new(o, "start_mode", json_string(cp->start_mode == START_ALWAYS ?
	    "always" : "on-demand"));
	json_object_set_new(o, "processes", json_integer(cp->processes));
	/* who its workers run as: "own" (ident.c), "user", or "weir's" (not root) */
	json_object_set_new(o, "identity", p->identity != NULL ? json_string(p->identity) :
	    json_null());
	json_object_set_new(o, "uid", p->identity == NULL ? json_null() :
	    json_integer(p->set_identity ? (json_int_t)p->uid : (json_int_t)geteuid()));
	json_object_set_new(o, "gid", p->identity == NULL ? json_null() :
	    json_integer(p->set_identity ? (json_int_t)p->gid : (json_int_t)getegid()));
	json_object_set_new(o, "queue", fp != NULL ? json_incref(json_object_get(fp, "queue")) :
	    json_null());
	{
		/* served, with what the front end has not reported yet */
		uint64_t live = p->requests;

		for (const struct worker *w = p->workers; w != NULL; w = w->next)
			if (w->state != W_EXITED)
				live += live_requests(w, fp) - w->requests;
		json_object_set_new(o, "requests", json_integer((json_int_t)live));
	}
	json_object_set_new(o, "inflight", json_integer(p->inflight));
	json_object_set_new(o, "cgroup", poolcg_json(p));
	for (size_t i = 0; i < rapidfail_current(&p->rf, now); i++) {
		json_t *f = json_object();

		json_object_set_new(f, "pid", json_integer(p->rf.v[i].pid));
		json_object_set_new(f, "reason", json_string(p->rf.v[i].reason));
		json_object_set_new(f, "ago_s", json_integer((json_int_t)((now - p->rf.v[i].when) / 1000)));
		json_array_append_new(fails, f);
	}
	json_object_set_new(o, "failures", fails);
	json_object_set_new(o, "rapid_fail", cp->rapid_fail_count ?
	    json_sprintf("%u in %llus", cp->rapid_fail_count,
	    (unsigned long long)(cp->rapid_fail_window / 1000)) : json_string("off"));
	json_object_set_new(o, "failures_total", json_integer(p->failures_total));
	/* output the pool log could not keep (poollog.c) */
	json_object_set_new(o, "log_dropped_bytes", json_integer((json_int_t)p->log.dropped_total));
	json_object_set_new(o, "retry_in_s", p->retry_at > now ?
	    json_integer((json_int_t)((p->retry_at - now + 999) / 1000)) : json_null());
	/* which configuration generation the processes' settings come from */
	json_object_set_new(o, "settings_generation", json_integer(p->cp_gen));
	json_object_set_new(o, "rolled_back_from", p->rolled_back_from != 0 ?
	    json_integer(p->rolled_back_from) : json_null());
	json_object_set_new(o, "degraded", json_boolean(p->degraded));
	json_object_set_new(o, "degraded_reason", p->degraded ?
	    json_string(p->degraded_why) : json_null());
	json_object_set_new(o, "served_deaths_total", json_integer((json_int_t)p->n_served_deaths));
	json_object_set_new(o, "last_failure", last_failure_json(p));
	json_object_set_new(o, "deploy", deploy_json(p));
	for (struct worker *w = p->workers; w != NULL; w = w->next) {
		json_t *wo = json_object();
		char ts[32];

		if (w->state == W_EXITED) {
			json_decref(wo);
			continue;
		}
		iso_time(w->started_wall, ts, sizeof(ts));
		json_object_set_new(wo, "id", json_integer(w->id));
		json_object_set_new(wo, "pid", json_integer(w->pid));
		json_object_set_new(wo, "state", json_string(worker_state_name(w->state)));
		json_object_set_new(wo, "generation", json_integer(w->generation));
		json_object_set_new(wo, "version", json_integer(w->ver));
		json_object_set_new(wo, "started", json_string(ts));
		json_object_set_new(wo, "uptime_s", json_integer((json_int_t)((now - w->started) / 1000)));
		json_object_set_new(wo, "requests", json_integer((json_int_t)live_requests(w, fp)));
		if (w->pid > 0) {
			json_object_set_new(wo, "rss", json_integer((json_int_t)rss_bytes(w->pid)));
			json_object_set_new(wo, "private",
			    json_integer((json_int_t)worker_private_memory(w)));
		} else {
			/* an upstream's pseudo worker: no process, an address */
			json_object_set_new(wo, "address", json_string(cp->address));
			json_object_set_new(wo, "rss", json_integer(0));
			json_object_set_new(wo, "private", json_integer(0));
		}
		json_array_append_new(ws, wo);
	}
	json_object_set_new(o, "workers", ws);
	if (p->external)
		json_object_set_new(o, "address", json_string(cp->address));
	return o;
}

json_t *
status_json(struct master *m, json_t *fe)
{
	json_t *o = json_object(), *fo = json_object(), *pools = json_array();
	uint64_t now = loop_now(m->loop);
	char ts[32];

	json_object_set_new(o, "version", json_string(WEIR_VERSION));
	json_object_set_new(o, "abi", json_integer(WEIR_ABI));
	json_object_set_new(o, "build", json_string(WEIR_BUILD_ID));
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "binary", json_string(m->self_exe));
	json_object_set_new(o, "upgrade", upgrade_json(m));
	iso_time(m->started_wall, ts, sizeof(ts));
	json_object_set_new(o, "started", json_string(ts));
	json_object_set_new(o, "uptime_s", json_integer((json_int_t)((now - m->started_ms) / 1000)));
	json_object_set_new(o, "config", json_string(m->conf_path));
	json_object_set_new(o, "generation", json_integer(m->generation));
	json_object_set_new(o, "cgroups", poolcg_sys_json(m));
	json_object_set_new(o, "state", json_string(m->stopping ? "stopping" :
	    m->draining ? "draining" : "serving"));
	json_object_set_new(o, "drain", drain_json(m));
	json_object_set_new(fo, "pid", m->fe.pid ? json_integer(m->fe.pid) : json_null());
	/* forked from this master, never exec'd: its build is the master's */
	json_object_set_new(fo, "version", json_string(WEIR_VERSION));
	json_object_set_new(fo, "build", json_string(WEIR_BUILD_ID));
	json_object_set_new(fo, "threads", json_integer(m->lis.threads));
	json_object_set_new(fo, "restarts", json_integer(m->fe_restarts));
	json_object_set_new(fo, "connections", fe != NULL ?
	    json_incref(json_object_get(fe, "connections")) : json_null());
	json_object_set_new(fo, "accepted", fe != NULL ?
	    json_incref(json_object_get(fe, "accepted")) : json_null());
	json_object_set_new(fo, "tls_handshakes", fe != NULL && json_object_get(fe, "tls_handshakes") != NULL ?
	    json_incref(json_object_get(fe, "tls_handshakes")) : json_null());
	json_object_set_new(fo, "closed", fe != NULL && json_object_get(fe, "closed") != NULL ?
	    json_incref(json_object_get(fe, "closed")) : json_null());
	json_object_set_new(fo, "requests", fe != NULL && json_object_get(fe, "requests") != NULL ?
	    json_incref(json_object_get(fe, "requests")) : json_null());
	json_object_set_new(fo, "http2", fe != NULL && json_object_get(fe, "http2") != NULL ?
	    json_incref(json_object_get(fe, "http2")) : json_null());
	{
		json_t *ls = json_array();

		for (size_t i = 0; i < m->lis.n; i++)
			json_array_append_new(ls, json_string(m->lis.v[i].spec));
		json_object_set_new(fo, "listen", ls);
	}
	json_object_set_new(fo, "last_failure", m->fe_failure != NULL ?
	    json_incref(m->fe_failure) : json_null());
	json_object_set_new(o, "frontend", fo);
	json_object_set_new(o, "sites_unavailable", sitefault_json(m));
	json_object_set_new(o, "tls_certificates", tlsexpiry_json(m));
	json_object_set_new(o, "acme", acme_json(m));
	for (size_t i = 0; i < m->npools; i++)
		json_array_append_new(pools, status_pool_json(m->pools[i], fe));
	json_object_set_new(o, "pools", pools);
	return o;
}

/* --- Prometheus text exposition (format 0.0.4) ------------------------------------ */

struct buf {
	char	*p;
	size_t	 len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (n > 0 ? (size_t)n : 0) + 1024;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
}

/* A label value with \, " and newline escaped. */
static const char *
lv(const char *s, char *out, size_t outsz)
{
	size_t n = 0;

	for (; *s && n + 2 < outsz; s++) {
		if (*s == '\\' || *s == '"') {
			out[n++] = '\\';
			out[n++] = *s;
		} else if (*s == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else {
			out[n++] = *s;
		}
	}
	out[n] = '\0';
	return out;
}

static void
metric_head(struct buf *b, const char *name, const char *type, const char *help)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
histogram(struct buf *b, const char *name, const char *pool, json_t *h)
{
	json_t *bk = json_object_get(h, "buckets");
	char pl[200];
	size_t i;
	json_t *pair;

	lv(pool, pl, sizeof(pl));
	json_array_foreach(bk, i, pair) {
		bprintf(b, "%s_bucket{pool=\"%s\",le=\"%g\"} %lld\n", name, pl,
		    json_real_value(json_array_get(pair, 0)),
		    (long long)json_integer_value(json_array_get(pair, 1)));
	}
	bprintf(b, "%s_bucket{pool=\"%s\",le=\"+Inf\"} %lld\n", name, pl,
	    (long long)json_integer_value(json_object_get(h, "count")));
	bprintf(b, "%s_sum{pool=\"%s\"} %.6f\n", name, pl,
	    json_real_value(json_object_get(h, "sum")));
	bprintf(b, "%s_count{pool=\"%s\"} %lld\n", name, pl,
	    (long long)json_integer_value(json_object_get(h, "count")));
}

/* The pools' cgroup counters (poolcg.c): the whole pool, forked children included. */
static void
cgroup_metrics(struct buf *b, struct master *m)
{
	static const struct {
		const char *name, *type, *help;
	} defs[] = {
		{ "weir_pool_cpu_seconds_total", "counter",
		    "CPU time used by the whole pool (its cgroup), user and system." },
		{ "weir_pool_memory_bytes", "gauge", "Memory charged to the whole pool (its cgroup)." },
		{ "weir_pool_tasks", "gauge", "Processes and threads in the pool's cgroup." },
		{ "weir_pool_cpu_throttled_seconds_total", "counter",
		    "Time the pool was stopped by its cpu_max quota." },
		{ "weir_pool_cpu_throttled_periods_total", "counter",
		    "Scheduler periods in which cpu_max stopped the pool." },
		{ "weir_pool_pids_max_failures_total", "counter",
		    "Forks and thread creations refused at tasks_max." },
		{ "weir_pool_oom_kills_total", "counter",
		    "Processes of the pool killed by the OOM killer at memory_max." },
	};
	char l1[200];

	for (size_t d = 0; d < nitems(defs); d++) {
		metric_head(b, defs[d].name, defs[d].type, defs[d].help);
		for (size_t i = 0; i < m->npools; i++) {
			struct cgroup_stats st;
			double v[] = { 0, 0, 0, 0, 0, 0, 0 };

			if (!poolcg_stats(m->pools[i], &st))
				continue;
			v[0] = (double)st.cpu_usec / 1e6;
			v[1] = (double)st.memory;
			v[2] = (double)st.pids;
			v[3] = (double)st.throttled_usec / 1e6;
			v[4] = (double)st.nr_throttled;
			v[5] = (double)st.pids_max;
			v[6] = (double)st.oom_kills;
			bprintf(b, "%s{pool=\"%s\"} %.17g\n", defs[d].name,
			    lv(m->pools[i]->name, l1, sizeof(l1)), v[d]);
		}
	}
}

/* Seconds each site's certificate has left (negative once expired). */
static void
tls_metrics(struct buf *b, struct master *m)
{
	char l1[200], l2[600];
	time_t now = time(NULL);

	if (m->ntls_exp == 0)
		return;
	metric_head(b, "weir_tls_certificate_expiry_seconds", "gauge",
	    "Seconds until the certificate's notAfter (negative once it expired).");
	for (size_t i = 0; i < m->ntls_exp; i++)
		bprintf(b, "weir_tls_certificate_expiry_seconds{site=\"%s\",certificate=\"%s\"} %lld\n",
		    lv(m->tls_exp[i].site, l1, sizeof(l1)), lv(m->tls_exp[i].path, l2, sizeof(l2)),
		    (long long)(m->tls_exp[i].not_after - now));
}

char *
status_metrics(struct master *m, json_t *fe, size_t *len)
{
	static const char *classes[] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
	static const char *states[] = { "stopped", "starting", "started", "stopping", "disabled" };
	static const char *exits[] = { "expected", "unexpected", "failed" };
	static const char *recycles[] = { "time", "requests", "schedule", "memory", "admin", "config" };
	struct buf b = { NULL, 0, 0 };
	json_t *sites = fe ? json_object_get(fe, "sites") : NULL;
	json_t *fpools = fe ? json_object_get(fe, "pools") : NULL;
	const char *key;
	json_t *val;
	char l1[200];

	b.cap = 8192;
	b.p = xmalloc(b.cap);
	metric_head(&b, "weir_build_info", "gauge", "Version of the running weir.");
	bprintf(&b, "weir_build_info{version=\"%s\",abi=\"%d\",build=\"%s\"} 1\n",
	    WEIR_VERSION, WEIR_ABI, lv(WEIR_BUILD_ID, l1, sizeof(l1)));
	metric_head(&b, "weir_uptime_seconds", "gauge", "Seconds since the master started.");
	bprintf(&b, "weir_uptime_seconds %llu\n",
	    (unsigned long long)((loop_now(m->loop) - m->started_ms) / 1000));
	metric_head(&b, "weir_frontend_restarts_total", "counter",
	    "Front-end processes that died and were restarted.");
	bprintf(&b, "weir_frontend_restarts_total %u\n", m->fe_restarts);
	if (fe != NULL) {
		metric_head(&b, "weir_frontend_connections", "gauge", "Open client connections.");
		bprintf(&b, "weir_frontend_connections %lld\n",
		    (long long)json_integer_value(json_object_get(fe, "connections")));
		metric_head(&b, "weir_frontend_connections_accepted_total", "counter",
		    "Client connections accepted.");
		bprintf(&b, "weir_frontend_connections_accepted_total %lld\n",
		    (long long)json_integer_value(json_object_get(fe, "accepted")));
		metric_head(&b, "weir_frontend_tls_handshakes_total", "counter",
		    "TLS handshakes completed (full and resumed).");
		bprintf(&b, "weir_frontend_tls_handshakes_total %lld\n",
		    (long long)json_integer_value(json_object_get(fe, "tls_handshakes")));
		metric_head(&b, "weir_frontend_connections_closed_total", "counter",
		    "Client connections weir closed, by reason (httperr.log token).");
		json_object_foreach(json_object_get(fe, "closed"), key, val)
			bprintf(&b, "weir_frontend_connections_closed_total{reason=\"%s\"} %lld\n",
			    lv(key, l1, sizeof(l1)), (long long)json_integer_value(val));
		metric_head(&b, "weir_frontend_requests_total", "counter",
		    "Requests, by the protocol the client spoke.");
		json_object_foreach(json_object_get(fe, "requests"), key, val)
			bprintf(&b, "weir_frontend_requests_total{protocol=\"%s\"} %lld\n",
			    lv(key, l1, sizeof(l1)), (long long)json_integer_value(val));
		metric_head(&b, "weir_http2_connections_total", "counter",
		    "HTTP/2 client connections.");
		bprintf(&b, "weir_http2_connections_total %lld\n", (long long)json_integer_value(
		    json_object_get(json_object_get(fe, "http2"), "connections")));
		metric_head(&b, "weir_http2_streams_total", "counter",
		    "HTTP/2 streams that became requests.");
		bprintf(&b, "weir_http2_streams_total %lld\n", (long long)json_integer_value(
		    json_object_get(json_object_get(fe, "http2"), "streams")));
		metric_head(&b, "weir_http2_limits_total", "counter",
		    "HTTP/2 limits hit, by httperr.log token (docs/http2.md).");
		json_object_foreach(json_object_get(json_object_get(fe, "http2"), "limits"), key, val)
			bprintf(&b, "weir_http2_limits_total{reason=\"%s\"} %lld\n",
			    lv(key, l1, sizeof(l1)), (long long)json_integer_value(val));
		metric_head(&b, "weir_site_responses_total", "counter",
		    "Responses by site and status class.");
		json_object_foreach(sites, key, val) {
			for (int i = 0; i < 5; i++)
				bprintf(&b, "weir_site_responses_total{site=\"%s\",code=\"%s\"} %lld\n",
				    lv(key, l1, sizeof(l1)), classes[i],
				    (long long)json_integer_value(json_object_get(val, classes[i])));
		}
		metric_head(&b, "weir_pool_responses_total", "counter",
		    "Responses for requests routed to a pool, by status class.");
		json_object_foreach(fpools, key, val) {
			json_t *r = json_object_get(val, "responses");

			for (int i = 0; i < 5; i++)
				bprintf(&b, "weir_pool_responses_total{pool=\"%s\",code=\"%s\"} %lld\n",
				    lv(key, l1, sizeof(l1)), classes[i],
				    (long long)json_integer_value(json_object_get(r, classes[i])));
		}
		metric_head(&b, "weir_pool_queue_depth", "gauge", "Requests waiting in a pool's queue.");
		json_object_foreach(fpools, key, val)
			bprintf(&b, "weir_pool_queue_depth{pool=\"%s\"} %lld\n", lv(key, l1, sizeof(l1)),
			    (long long)json_integer_value(json_object_get(val, "queue")));
		metric_head(&b, "weir_pool_retries_total", "counter",
		    "Requests sent to another worker after theirs failed.");
		json_object_foreach(fpools, key, val)
			bprintf(&b, "weir_pool_retries_total{pool=\"%s\"} %lld\n", lv(key, l1, sizeof(l1)),
			    (long long)json_integer_value(json_object_get(val, "retries")));
		metric_head(&b, "weir_pool_poison_requests_total", "counter",
		    "Requests answered 502 after they failed two workers (event 1016).");
		json_object_foreach(fpools, key, val)
			bprintf(&b, "weir_pool_poison_requests_total{pool=\"%s\"} %lld\n",
			    lv(key, l1, sizeof(l1)),
			    (long long)json_integer_value(json_object_get(val, "poison_requests")));
		metric_head(&b, "weir_pool_queue_wait_seconds", "histogram",
		    "Time from request start until a worker was assigned.");
		json_object_foreach(fpools, key, val)
			histogram(&b, "weir_pool_queue_wait_seconds", key, json_object_get(val, "queue_wait"));
		metric_head(&b, "weir_pool_upstream_seconds", "histogram",
		    "Time from request start until the worker's response was complete.");
		json_object_foreach(fpools, key, val)
			histogram(&b, "weir_pool_upstream_seconds", key, json_object_get(val, "upstream"));
	}
	metric_head(&b, "weir_pool_state", "gauge", "1 for the pool's current state.");
	for (size_t i = 0; i < m->npools; i++)
		for (int s = 0; s < 5; s++)
			bprintf(&b, "weir_pool_state{pool=\"%s\",state=\"%s\"} %d\n",
			    lv(m->pools[i]->name, l1, sizeof(l1)), states[s], m->pools[i]->state == s);
	metric_head(&b, "weir_pool_degraded", "gauge",
	    "1 while the pool serves but its workers keep dying (or new ones are held after a trip).");
	for (size_t i = 0; i < m->npools; i++)
		bprintf(&b, "weir_pool_degraded{pool=\"%s\"} %d\n",
		    lv(m->pools[i]->name, l1, sizeof(l1)), m->pools[i]->degraded);
	metric_head(&b, "weir_pool_workers", "gauge", "Workers of the pool by state.");
	for (size_t i = 0; i < m->npools; i++) {
		unsigned n[W_EXITED] = { 0 };

		for (struct worker *w = m->pools[i]->workers; w != NULL; w = w->next)
			if (w->state < W_EXITED)
				n[w->state]++;
		for (int s = 0; s < W_EXITED; s++)
			bprintf(&b, "weir_pool_workers{pool=\"%s\",state=\"%s\"} %u\n",
			    lv(m->pools[i]->name, l1, sizeof(l1)), worker_state_name(s), n[s]);
	}
	metric_head(&b, "weir_worker_starts_total", "counter", "Worker processes started.");
	for (size_t i = 0; i < m->npools; i++)
		bprintf(&b, "weir_worker_starts_total{pool=\"%s\"} %llu\n",
		    lv(m->pools[i]->name, l1, sizeof(l1)), (unsigned long long)m->pools[i]->n_starts);
	metric_head(&b, "weir_worker_exits_total", "counter",
	    "Worker exits: expected (stopped), unexpected (crashed), failed (killed for a failure).");
	for (size_t i = 0; i < m->npools; i++)
		for (int k = 0; k < 3; k++)
			bprintf(&b, "weir_worker_exits_total{pool=\"%s\",reason=\"%s\"} %llu\n",
			    lv(m->pools[i]->name, l1, sizeof(l1)), exits[k],
			    (unsigned long long)m->pools[i]->n_exits[k]);
	metric_head(&b, "weir_worker_recycles_total", "counter", "Worker recycles by reason.");
	for (size_t i = 0; i < m->npools; i++)
		for (int k = 0; k < 6; k++)
			bprintf(&b, "weir_worker_recycles_total{pool=\"%s\",reason=\"%s\"} %llu\n",
			    lv(m->pools[i]->name, l1, sizeof(l1)), recycles[k],
			    (unsigned long long)m->pools[i]->n_recycles[k]);
	metric_head(&b, "weir_pool_served_total", "counter", "Requests the pool's workers answered.");
	for (size_t i = 0; i < m->npools; i++)
		bprintf(&b, "weir_pool_served_total{pool=\"%s\"} %llu\n",
		    lv(m->pools[i]->name, l1, sizeof(l1)), (unsigned long long)m->pools[i]->requests);
	metric_head(&b, "weir_worker_served_deaths_total", "counter",
	    "Workers that died after serving (not counted by Rapid-Fail Protection).");
	for (size_t i = 0; i < m->npools; i++)
		bprintf(&b, "weir_worker_served_deaths_total{pool=\"%s\"} %llu\n",
		    lv(m->pools[i]->name, l1, sizeof(l1)),
		    (unsigned long long)m->pools[i]->n_served_deaths);
	metric_head(&b, "weir_rapid_fail_trips_total", "counter",
	    "Times Rapid-Fail Protection tripped (the pool rolled back, held its new workers or was disabled).");
	for (size_t i = 0; i < m->npools; i++)
		bprintf(&b, "weir_rapid_fail_trips_total{pool=\"%s\"} %llu\n",
		    lv(m->pools[i]->name, l1, sizeof(l1)), (unsigned long long)m->pools[i]->n_trips);
	metric_head(&b, "weir_pool_log_dropped_bytes_total", "counter",
	    "Bytes of the workers' output not written to the pool log (disk full or too slow).");
	for (size_t i = 0; i < m->npools; i++)
		bprintf(&b, "weir_pool_log_dropped_bytes_total{pool=\"%s\"} %llu\n",
		    lv(m->pools[i]->name, l1, sizeof(l1)),
		    (unsigned long long)m->pools[i]->log.dropped_total);
	cgroup_metrics(&b, m);
	tls_metrics(&b, m);
	*len = b.len;
	return b.p;
}
