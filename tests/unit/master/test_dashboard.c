/*
 * test_dashboard.c - the dashboard's history (requests/s and p99 between
 * two front-end snapshots, the ring of samples), its CSRF tokens, the
 * page's token placeholder, and the checks on who may ask (dashboard.c):
 * the token cookie, ?token=, Host, a POST's token and Origin, requests that
 * other pages make.
 */
#include <stdlib.h>
#include <sys/stat.h>

#include "../unit.h"
#include "../../../src/master/dashboard.c"
#include "../../../src/common/util.c"
#include "../../../src/common/httpparse.c"

/* What dashboard.c uses from the rest of the master: a clock the test moves. */
static uint64_t now_ms = 1000;
static int asked;
static char exe_dir[256];

uint64_t loop_now(const struct loop *l) { (void)l; return now_ms; }
void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *arg)
{ t->cb = cb; t->arg = arg; t->idx = SIZE_MAX; }
void loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t ms) { (void)l; (void)ms; t->idx = 0; }
void loop_timer_cancel(struct loop *l, struct loop_timer *t) { (void)l; t->idx = SIZE_MAX; }
void admin_fe_ask(struct master *m) { (void)m; asked++; }
int
component_locate(struct component_paths *p, char *err)
{
	(void)err;
	memset(p, 0, sizeof(*p));
	snprintf(p->exe, sizeof(p->exe), "%s/weir", exe_dir);
	return 0;
}

/* A front-end snapshot: one pool with TOTAL 2xx responses and upstream buckets. */
static json_t *
snap(const char *pool, long total, const long cum[10])
{
	static const double bounds[] = { .001, .005, .01, .025, .05, .1, .25, 1, 5, 30 };
	json_t *b = json_array();

	for (int i = 0; i < 10; i++)
		json_array_append_new(b, json_pack("[f, I]", bounds[i], (json_int_t)cum[i]));
	return json_pack("{s:{s:{s:{s:I}, s:{s:o, s:I}}}}", "pools", pool,
	    "responses", "2xx", (json_int_t)total, "upstream", "buckets", b,
	    "count", (json_int_t)cum[9]);
}

/* dashboard_snapshot() borrows the snapshot, as admin.c's caller owns it */
static void
feed(struct master *m, json_t *fe)
{
	dashboard_snapshot(m, fe);
	json_decref(fe);
}

static void
test_history(struct master *m)
{
	static const long c0[10] = { 0 };
	static const long c1[10] = { 50, 90, 99, 100, 100, 100, 100, 100, 100, 100 };	/* p99 10 ms */
	static const long c2[10] = { 50, 90, 99, 100, 100, 100, 100, 150, 200, 200 };	/* then p99 5000 ms */
	json_t *h, *s;

	feed(m, snap("app", 0, c0));	/* the first: a base, no sample */
	h = dashboard_history(m);
	CHECK(json_array_size(json_object_get(h, "samples")) == 0);
	json_decref(h);
	now_ms += 5000;
	feed(m, snap("app", 100, c1));
	now_ms += 1000;			/* a page's poll: too soon for a sample */
	feed(m, snap("app", 120, c1));
	now_ms += 4000;
	feed(m, snap("app", 200, c2));
	now_ms += 5000;
	feed(m, snap("app", 200, c2));	/* idle */
	h = dashboard_history(m);
	CHECK(json_integer_value(json_object_get(h, "interval_s")) == 5);
	s = json_object_get(h, "samples");
	CHECK_INT((long)json_array_size(s), 3L);
	s = json_object_get(json_object_get(json_array_get(s, 0), "pools"), "app");
	CHECK(json_real_value(json_object_get(s, "rps")) == 20.0);
	CHECK(json_real_value(json_object_get(s, "p99_ms")) == 10.0);
	s = json_object_get(json_object_get(json_array_get(json_object_get(h, "samples"), 1),
	    "pools"), "app");
	CHECK(json_real_value(json_object_get(s, "rps")) == 20.0);	/* 100 in 5 s */
	CHECK(json_real_value(json_object_get(s, "p99_ms")) == 5000.0);
	s = json_object_get(json_object_get(json_array_get(json_object_get(h, "samples"), 2),
	    "pools"), "app");
	CHECK(json_real_value(json_object_get(s, "rps")) == 0.0);
	CHECK(json_is_null(json_object_get(s, "p99_ms")));
	json_decref(h);
	/* the ring keeps the last DASH_SAMPLES */
	for (int i = 0; i < 100; i++) {
		now_ms += 5000;
		feed(m, snap("app", 200 + i, c2));
	}
	h = dashboard_history(m);
	CHECK_INT((long)json_array_size(json_object_get(h, "samples")), (long)DASH_SAMPLES);
	json_decref(h);
}

static void
test_tokens_and_page(struct master *m)
{
	char dir[300], path[340], err[WEIR_ERRLEN], *body = NULL;
	size_t len;
	const char *ctype;
	FILE *f;

	snprintf(exe_dir, sizeof(exe_dir), "/tmp/weir-unit-dash.%d", (int)getpid());
	snprintf(dir, sizeof(dir), "%s/share", exe_dir);
	CHECK(mkdir(exe_dir, 0700) == 0 && mkdir(dir, 0700) == 0);
	snprintf(dir, sizeof(dir), "%s/share/dashboard", exe_dir);
	CHECK(mkdir(dir, 0700) == 0);
	snprintf(path, sizeof(path), "%s/index.html", dir);
	CHECK((f = fopen(path, "w")) != NULL);
	fputs("<meta content=\"{{CSRF}}\">", f);
	fclose(f);

	CHECK(!dashboard_csrf_ok(m, "00000000000000000000000000000000", 32));
	CHECK_INT(dashboard_file(m, "index.html", 10, &body, &len, &ctype, err), 200L);
	CHECK(strncmp(ctype, "text/html", 9) == 0);
	CHECK_INT((long)len, (long)strlen("<meta content=\"\">") + 32);
	CHECK(body != NULL && strncmp(body, "<meta content=\"", 15) == 0 && body[47] == '"');
	CHECK(dashboard_csrf_ok(m, body + 15, 32));
	CHECK(!dashboard_csrf_ok(m, body + 15, 31));
	free(body);
	CHECK_INT(dashboard_file(m, "../MANIFEST", 11, &body, &len, &ctype, err), 404L);
	CHECK_INT(dashboard_file(m, "dashboard.js", 12, &body, &len, &ctype, err), 500L);	/* not there */
	/* after DASH_TOKENS more pages the first token is forgotten */
	CHECK_INT(dashboard_file(m, "index.html", 10, &body, &len, &ctype, err), 200L);
	{
		char first[33];

		memcpy(first, body + 15, 32);
		free(body);
		for (int i = 0; i < DASH_TOKENS; i++) {
			CHECK(dashboard_file(m, "index.html", 10, &body, &len, &ctype, err) == 200);
			free(body);
		}
		CHECK(!dashboard_csrf_ok(m, first, 32));
	}
	unlink(path);
	rmdir(dir);
	snprintf(dir, sizeof(dir), "%s/share", exe_dir);
	rmdir(dir);
	rmdir(exe_dir);
}

/* Parse REQ (request line and headers, CRLF added) into *h: its bytes stay in buf. */
static struct http_request *
req(const char *text, char *buf, size_t bufsz)
{
	static struct http_request h;
	struct httpparse_limits lim = { 8192, 65536, 100 };
	const char *why = NULL;
	int st;

	size_t n = 0;

	/* '|' separates the lines */
	for (const char *t = text; *t != '\0' && n + 5 < bufsz; t++) {
		if (*t == '|') {
			buf[n++] = '\r';
			buf[n++] = '\n';
		} else
			buf[n++] = *t;
	}
	memcpy(buf + n, "\r\n\r\n", 5);
	CHECKF(httpparse_request(buf, strlen(buf), &h, &lim, &st, &why) > 0, "%s: %s", text,
	    why ? why : "incomplete");
	return &h;
}

static void
test_checks(struct master *m)
{
	static const char tok[] = "s3cret-0123456789";
	static const struct {
		const char	*req;
		bool		 cookie, host, cross;
	} cases[] = {
		{ "GET /dashboard HTTP/1.1|Host: 127.0.0.1:9090", false, true, false },
		{ "GET /dashboard HTTP/1.1|Host: localhost:8099|Cookie: a=b; weir_admin=s3cret-0123456789",
		  true, true, false },
		{ "GET /dashboard HTTP/1.1|Host: weir|Cookie: weir_admin=s3cret-012345678", false, true, false },
		{ "GET /dashboard HTTP/1.1|Host: weir|Cookie: weir_admin=s3cret-0123456789x", false, true, false },
		{ "GET /dashboard HTTP/1.1|Host: [::1]:9090|Cookie: xweir_admin=s3cret-0123456789", false, true, false },
		{ "GET /dashboard HTTP/1.1|Host: evil.example:8099", false, false, false },
		{ "GET /dashboard HTTP/1.1|Host: 127.0.0.1.evil.example", false, false, false },
		{ "GET /dashboard HTTP/1.1|Host: weir|Sec-Fetch-Site: none", false, true, false },
		{ "GET /dashboard HTTP/1.1|Host: weir|Sec-Fetch-Site: same-origin", false, true, false },
		{ "GET /status HTTP/1.1|Host: weir|Sec-Fetch-Site: cross-site", false, true, true },
		{ "GET /status HTTP/1.1|Host: weir|Sec-Fetch-Site: same-site", false, true, true },
		{ "POST /pools/a/stop HTTP/1.1|Host: weir|Origin: null", false, true, true },
	};
	char buf[1024], csrf[33];
	struct http_request *h;
	struct hstr q;
	const char *why;

	for (size_t i = 0; i < nitems(cases); i++) {
		h = req(cases[i].req, buf, sizeof(buf));
		CHECKF(dashboard_cookie_ok(h, tok) == cases[i].cookie, "cookie: %s", cases[i].req);
		CHECKF(dashboard_host_ok(h) == cases[i].host, "host: %s", cases[i].req);
		CHECKF(dashboard_cross_site(h) == cases[i].cross, "cross: %s", cases[i].req);
	}
	CHECK(!dashboard_cookie_ok(req(cases[1].req, buf, sizeof(buf)), NULL));	/* no token set */
	CHECK(dashboard_token_eq(tok, "s3cret-0123456789", 17));
	CHECK(!dashboard_token_eq(tok, "s3cret-0123456780", 17));
	CHECK(!dashboard_token_eq(NULL, "", 0));
	/* ?token= */
	CHECK(!dashboard_query_token(req("GET /dashboard HTTP/1.1|Host: weir", buf, sizeof(buf)), &q));
	CHECK(dashboard_query_token(req("GET /dashboard?a=1&token=xy HTTP/1.1|Host: weir", buf,
	    sizeof(buf)), &q) && q.n == 2 && memcmp(q.p, "xy", 2) == 0);
	CHECK(!dashboard_query_token(req("GET /dashboard?xtoken=xy HTTP/1.1|Host: weir", buf,
	    sizeof(buf)), &q));
	/* a POST: the page's token, and Origin = http:// + Host */
	memcpy(csrf, token_new(m->dash), 33);
	{
		char r[512];

		snprintf(r, sizeof(r), "POST /dashboard/reload HTTP/1.1|Host: 127.0.0.1:9090|"
		    "Origin: http://127.0.0.1:9090|X-Weir-CSRF: %s", csrf);
		CHECK_INT(dashboard_post_check(m, req(r, buf, sizeof(buf)), &why), 0L);
		snprintf(r, sizeof(r), "POST /dashboard/reload HTTP/1.1|Host: 127.0.0.1:9090|"
		    "Origin: http://127.0.0.1:9091|X-Weir-CSRF: %s", csrf);
		CHECK_INT(dashboard_post_check(m, req(r, buf, sizeof(buf)), &why), 403L);
		CHECK(strstr(why, "Origin") != NULL);
		snprintf(r, sizeof(r), "POST /dashboard/reload HTTP/1.1|Host: 127.0.0.1:9090|"
		    "X-Weir-CSRF: %s", csrf);
		CHECK_INT(dashboard_post_check(m, req(r, buf, sizeof(buf)), &why), 403L);
		snprintf(r, sizeof(r), "POST /dashboard/reload HTTP/1.1|Host: 127.0.0.1:9090|"
		    "Origin: http://127.0.0.1:9090");
		CHECK_INT(dashboard_post_check(m, req(r, buf, sizeof(buf)), &why), 403L);
		CHECK(strstr(why, "CSRF") != NULL);
	}
}

int
main(void)
{
	struct master m;

	memset(&m, 0, sizeof(m));
	dashboard_init(&m);
	test_history(&m);
	test_tokens_and_page(&m);
	test_checks(&m);
	m.dash->timer.cb(m.dash->timer.arg);
	CHECK(asked == 1);
	dashboard_free(&m);
	CHECK(m.dash == NULL);
	return unit_done("dashboard");
}
