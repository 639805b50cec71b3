/*
 * test_conf.c - unit tests for src/common/conf.c.
 *
 * Table-driven, one case a line:
 *   - the key table itself (names, bounds, defaults, docs);
 *   - the default of every key, read back from the parsed structs, so that a
 *     key added to conf_keys[] fails here until its default is listed;
 *   - every value type and every custom key form;
 *   - every error with its exact "file:line: message", and that a file with
 *     several errors gets all of them, in line order;
 *   - CONF_CHECK_FS and conf_load() against a temporary directory;
 *   - conf_split_command(), conf_duration() and conf_size().
 * Texts are parsed from an exact-size heap copy so that AddressSanitizer
 * catches a read past the end.
 */
#include "../unit.h"
#include "../../../src/common/conf.c"
#include "../../../src/common/util.c"
#include "../../../src/common/arena.c"
#include "../../../src/common/cidr.c"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/un.h>

#define PATH	"t.conf"
#define POOL_P	"[pool p]\ncommand = app\n"
#define SITE_S	"[site s]\napp = / p\n"
#define TAIL	POOL_P SITE_S		/* four valid lines that make a file complete */
#define R2(s)	s, sizeof(s) - 1	/* a literal and its length */

/* --- helpers ---------------------------------------------------------------- */

static struct conf *
parse_flags(const char *path, const char *text, size_t len, unsigned flags,
    struct conf_errors *e)
{
	char *buf = xmalloc(len > 0 ? len : 1);
	struct conf *c;

	memcpy(buf, text, len);
	c = conf_parse_text(path, buf, len, flags, e);
	free(buf);
	return c;
}

/* All messages, each followed by '\n'; malloc'd. */
static char *
joined(const struct conf_errors *e)
{
	size_t n = 1;
	char *s;

	for (size_t i = 0; i < e->n; i++)
		n += strlen(e->msg[i]) + 1;
	s = xmalloc(n);
	s[0] = '\0';
	for (size_t i = 0; i < e->n; i++) {
		strcat(s, e->msg[i]);
		strcat(s, "\n");
	}
	return s;
}

/* Parse a text that must be valid (path /etc/weir/weir.conf); NULL if not. */
static struct conf *
parse_ok_at(int line, const char *text)
{
	struct conf_errors e = { NULL, 0 };
	struct conf *c = parse_flags("/etc/weir/weir.conf", text, strlen(text), 0, &e);
	char *all = joined(&e);

	CHECKF(c != NULL && e.n == 0, "case on line %d: unexpected errors:\n%s", line, all);
	free(all);
	conf_errors_clear(&e);
	return c;
}
#define parse_ok(text)	parse_ok_at(__LINE__, text)

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Parse `text` as PATH and compare every message with `want` ("msg\n" each). */
static void
expect_errors(int line, const char *text, size_t len, unsigned flags, const char *want)
{
	struct conf_errors e = { NULL, 0 };
	struct conf *c = parse_flags(PATH, text, len, flags, &e);
	char *all = joined(&e);

	CHECKF(c == NULL, "case on line %d: parsed although errors were expected", line);
	CHECKF(e.n == count_lines(want), "case on line %d: %zu errors, want %zu",
	    line, e.n, count_lines(want));
	CHECKF(strcmp(all, want) == 0, "case on line %d:\n--- got\n%s--- want\n%s",
	    line, all, want);
	free(all);
	conf_errors_clear(&e);
	conf_free(c);
}

static const struct conf_key *
key(enum conf_section s, const char *name)
{
	size_t idx;

	return find_key(s, name, &idx);
}

/* --- the table -------------------------------------------------------------- */

static void
test_table(void)
{
	CHECK(conf_nkeys == nitems(conf_keys));
	CHECK(conf_nkeys > 50);
	for (size_t i = 0; i < conf_nkeys; i++) {
		const struct conf_key *k = &conf_keys[i];

		CHECKF(k->section == CS_SERVER || k->section == CS_SITE || k->section == CS_POOL,
		    "key %zu", i);
		CHECKF(k->name != NULL && k->name[0] != '\0' && strchr(k->name, '.') == NULL &&
		    strchr(k->name, ' ') == NULL, "key %zu: bad name", i);
		CHECKF(k->doc != NULL && strlen(k->doc) > 10, "%s: no doc line", k->name);
		CHECKF((k->type == CT_CUSTOM) == (k->custom != NULL), "%s: custom parser", k->name);
		CHECKF((k->type == CT_ENUM) == (k->enums != NULL), "%s: enum names", k->name);
		if (k->type == CT_UINT || k->type == CT_DURATION || k->type == CT_SIZE)
			CHECKF(k->min <= k->max && k->max > 0, "%s: bounds %llu..%llu", k->name,
			    (unsigned long long)k->min, (unsigned long long)k->max);
		if (k->type == CT_UINT)
			CHECKF(k->max <= UINT_MAX, "%s: max does not fit an unsigned", k->name);
		CHECKF((k->flags & ~(CK_MULTI | CK_CONT | CK_RELOAD | CK_RESTART)) == 0, "%s: unknown flags", k->name);
		CHECKF(!(k->flags & CK_CONT) || k->type == CT_STRING, "%s: CK_CONT needs a string", k->name);
		/* a key's name is found, and it is this entry: no duplicates */
		CHECKF(key(k->section, k->name) == k, "[%s] %s: listed twice",
		    conf_section_name(k->section), k->name);
	}
	CHECK_STR(conf_section_name(CS_SERVER), "server");
	CHECK_STR(conf_section_name(CS_SITE), "site");
	CHECK_STR(conf_section_name(CS_POOL), "pool");
	CHECK(key(CS_SERVER, "nosuchkey") == NULL);
	CHECK(key(CS_SITE, "processes") == NULL);	/* keys belong to one section */
	/* the enum names are in the order of the enum constants */
	CHECK_STR(key(CS_SERVER, "access_log")->enums[ACCESS_LOG_COMBINED], "combined");
	CHECK_STR(key(CS_SITE, "symlinks")->enums[SYMLINKS_REFUSE], "refuse");
	CHECK_STR(key(CS_POOL, "kind")->enums[POOL_KIND_NATIVE], "native");
	CHECK_STR(key(CS_POOL, "start_mode")->enums[START_ALWAYS], "always");
	CHECK_STR(key(CS_POOL, "rapid_fail_action")->enums[RF_ACTION_ROLLBACK], "rollback");
}

/* --- defaults ---------------------------------------------------------------- */

/*
 * A key's value rendered as text: numbers in their unit (ms, bytes), enums
 * as their index, lists joined with '|', NULL as "(null)".
 */
static void
render(const struct conf_key *k, const void *obj, char *out, size_t outsz)
{
	const char *f = (const char *)obj + k->off;
	const struct strlist *l;

	out[0] = '\0';
	switch (k->type) {
	case CT_UINT:
		snprintf(out, outsz, "%u", *(const unsigned *)(const void *)f);
		return;
	case CT_DURATION:
	case CT_SIZE:
		snprintf(out, outsz, "%llu",
		    (unsigned long long)*(const uint64_t *)(const void *)f);
		return;
	case CT_BOOL:
		snprintf(out, outsz, "%s", *(const bool *)(const void *)f ? "yes" : "no");
		return;
	case CT_ENUM:
		snprintf(out, outsz, "%d", *(const int *)(const void *)f);
		return;
	case CT_STRING:
	case CT_PATH: {
		const char *s = *(char *const *)(const void *)f;

		snprintf(out, outsz, "%s", s ? s : "(null)");
		return;
	}
	case CT_LIST:
		l = (const struct strlist *)(const void *)f;
		goto list;
	case CT_CUSTOM:
		break;
	}
	/* custom keys, by name */
	if (strcmp(k->name, "listen") == 0) {
		const struct conf_listens *ls = k->section == CS_SERVER ?
		    &((const struct conf_server *)obj)->listen :
		    &((const struct conf_site *)obj)->listen;

		for (size_t i = 0; i < ls->n; i++)
			snprintf(out + strlen(out), outsz - strlen(out), "%s%s%s",
			    i ? "|" : "", ls->v[i].spec, ls->v[i].tls ? " tls" :
			    ls->v[i].h2c ? " h2c" : "");
	} else if (strcmp(k->name, "threads") == 0) {
		snprintf(out, outsz, "%u", ((const struct conf_server *)obj)->threads);
	} else if (strcmp(k->name, "hosts") == 0) {
		l = &((const struct conf_site *)obj)->hosts;
		goto list;
	} else if (strcmp(k->name, "certificate") == 0) {
		l = &((const struct conf_site *)obj)->certificate;
		goto list;
	} else if (strcmp(k->name, "certificate_key") == 0) {
		l = &((const struct conf_site *)obj)->certificate_key;
		goto list;
	} else if (strcmp(k->name, "tls_protocols") == 0) {
		l = &((const struct conf_server *)obj)->tls_protocols;
		goto list;
	} else if (strcmp(k->name, "hsts") == 0) {
		const struct conf_hsts *h = &((const struct conf_site *)obj)->hsts;

		snprintf(out, outsz, "%d/%llu/%d/%d", h->on, (unsigned long long)h->max_age,
		    h->subdomains, h->preload);
	} else if (strcmp(k->name, "app") == 0) {
		const struct conf_site *s = obj;

		for (size_t i = 0; i < s->napps; i++)
			snprintf(out + strlen(out), outsz - strlen(out), "%s%s %s%s%s%s",
			    i ? "|" : "", s->apps[i].prefix, s->apps[i].pool,
			    s->apps[i].script ? " " : "", s->apps[i].script ? s->apps[i].script : "",
			    s->apps[i].strip_prefix ? " strip_prefix" : "");
	} else if (strcmp(k->name, "rewrite") == 0 || strcmp(k->name, "return") == 0) {
		const struct conf_site *s = obj;
		bool ret = strcmp(k->name, "return") == 0;

		for (size_t i = 0; i < s->nrewrites; i++)
			if ((s->rewrites[i].flag == RW_RETURN) == ret)
				snprintf(out + strlen(out), outsz - strlen(out), "%s%s %s %d/%d",
				    out[0] ? "|" : "", s->rewrites[i].regex, s->rewrites[i].repl,
				    s->rewrites[i].flag, s->rewrites[i].status);
	} else if (strcmp(k->name, "alias") == 0) {
		const struct conf_site *s = obj;

		for (size_t i = 0; i < s->naliases; i++)
			snprintf(out + strlen(out), outsz - strlen(out), "%s%s %s",
			    i ? "|" : "", s->aliases[i].prefix, s->aliases[i].dir);
	} else if (strcmp(k->name, "script") == 0) {
		const struct conf_site *s = obj;

		for (size_t i = 0; i < s->nscripts; i++)
			snprintf(out + strlen(out), outsz - strlen(out), "%s%s %s",
			    i ? "|" : "", s->scripts[i].ext, s->scripts[i].pool);
	} else if (strcmp(k->name, "rapid_fail") == 0) {
		const struct conf_pool *pl = obj;

		snprintf(out, outsz, "%u/%llu", pl->rapid_fail_count,
		    (unsigned long long)pl->rapid_fail_window);
	} else if (strcmp(k->name, "recycle_schedule") == 0) {
		const struct conf_pool *pl = obj;

		for (size_t i = 0; i < pl->nrecycle_schedule; i++)
			snprintf(out + strlen(out), outsz - strlen(out), "%s%d",
			    i ? "|" : "", pl->recycle_schedule[i]);
	} else if (strcmp(k->name, "env") == 0) {
		l = &((const struct conf_pool *)obj)->env;
		goto list;
	} else if (strcmp(k->name, "trusted_proxies") == 0) {
		const struct conf_server *sv = obj;

		for (size_t i = 0; i < sv->ntrusted_proxies; i++)
			snprintf(out + strlen(out), outsz - strlen(out), "%s%d/%u",
			    i ? "|" : "", sv->trusted_proxies[i].a.family,
			    sv->trusted_proxies[i].bits);
	} else if (strcmp(k->name, "limit_core") == 0) {
		snprintf(out, outsz, "%llu",
		    (unsigned long long)((const struct conf_pool *)obj)->limit_core);
	} else if (strcmp(k->name, "cpu_max") == 0) {
		snprintf(out, outsz, "%u", ((const struct conf_pool *)obj)->cpu_max);
	} else {
		snprintf(out, outsz, "(custom key not known to the test)");
	}
	return;
list:
	for (size_t i = 0; i < l->n; i++)
		snprintf(out + strlen(out), outsz - strlen(out), "%s%s", i ? "|" : "", l->v[i]);
}

/*
 * Every key: the default text the table must hold and the value the parsed
 * struct must then have.  For a file that is just TAIL at /etc/weir/weir.conf
 * (so the pool's command and the site's app are what TAIL gives).
 */
static const struct {
	enum conf_section	 s;
	const char		*name;
	const char		*def;		/* the table's default text */
	const char		*value;		/* render() of the parsed struct */
} defaults[] = {
	{ CS_SERVER, "listen",			"127.0.0.1:8080", "127.0.0.1:8080" },
	{ CS_SERVER, "threads",			"auto",		"0" },
	{ CS_SERVER, "user",			NULL,		"(null)" },
	{ CS_SERVER, "group",			NULL,		"(null)" },
	{ CS_SERVER, "state_dir",		"run",		"/etc/weir/run" },
	{ CS_SERVER, "log_dir",			"log",		"/etc/weir/log" },
	{ CS_SERVER, "access_log",		"w3c",		"0" },
	{ CS_SERVER, "syslog",			"yes",		"yes" },
	{ CS_SERVER, "admin_group",		NULL,		"(null)" },
	{ CS_SERVER, "admin_listen",		NULL,		"(null)" },
	{ CS_SERVER, "admin_token",		NULL,		"(null)" },
	{ CS_SERVER, "events_max_size",		"10M",		"10485760" },
	{ CS_SERVER, "events_keep",		"5",		"5" },
	{ CS_SERVER, "pool_log_max_size",	"10M",		"10485760" },
	{ CS_SERVER, "pool_log_keep",		"5",		"5" },
	{ CS_SERVER, "max_request_line",	"8k",		"8192" },
	{ CS_SERVER, "max_header_size",		"32k",		"32768" },
	{ CS_SERVER, "max_headers",		"100",		"100" },
	{ CS_SERVER, "max_body",		"30M",		"31457280" },
	{ CS_SERVER, "header_timeout",		"30s",		"30000" },
	{ CS_SERVER, "body_timeout",		"60s",		"60000" },
	{ CS_SERVER, "send_timeout",		"60s",		"60000" },
	{ CS_SERVER, "min_request_rate",	"240",		"240" },
	{ CS_SERVER, "min_response_rate",	"240",		"240" },
	{ CS_SERVER, "min_rate_grace",		"10s",		"10000" },
	{ CS_SERVER, "keepalive_timeout",	"120s",		"120000" },
	{ CS_SERVER, "keepalive_requests",	"0",		"0" },
	{ CS_SERVER, "shutdown_timeout",	"30s",		"30000" },
	{ CS_SERVER, "health_path",		NULL,		"(null)" },
	{ CS_SERVER, "drain_time",		"10s",		"10000" },
	{ CS_SERVER, "max_connections",		"0",		"0" },
	{ CS_SERVER, "max_connections_per_ip",	"0",		"0" },
	{ CS_SERVER, "open_file_cache",		"1024",		"1024" },
	{ CS_SERVER, "open_file_cache_valid",	"1s",		"1000" },
	{ CS_SERVER, "trusted_proxies",		NULL,		"" },
	{ CS_SERVER, "underscores_in_headers",	"off",		"no" },
	{ CS_SERVER, "http2_max_concurrent_streams", "100",	"100" },
	{ CS_SERVER, "default_certificate",	NULL,		"(null)" },
	{ CS_SERVER, "tls_protocols",		"TLSv1.2, TLSv1.3", "TLSv1.2|TLSv1.3" },
	{ CS_SERVER, "tls_ciphers",		TLS_CIPHERS_DEFAULT, TLS_CIPHERS_DEFAULT },
	{ CS_SERVER, "handshake_timeout",	"10s",		"10000" },
	{ CS_SERVER, "acme_directory",		ACME_DIRECTORY_DEFAULT, ACME_DIRECTORY_DEFAULT },
	{ CS_SERVER, "acme_email",		NULL,		"(null)" },
	{ CS_SERVER, "acme_ca_file",		NULL,		"(null)" },

	{ CS_SITE, "listen",			NULL,		"127.0.0.1:8080" },	/* the server's */
	{ CS_SITE, "hosts",			NULL,		"" },
	{ CS_SITE, "root",			NULL,		"(null)" },
	{ CS_SITE, "index",			"index.html",	"index.html" },
	{ CS_SITE, "app",			NULL,		"/ p" },
	{ CS_SITE, "script",			NULL,		"" },
	{ CS_SITE, "fallback",			NULL,		"(null)" },
	{ CS_SITE, "rewrite",			NULL,		"" },
	{ CS_SITE, "return",			NULL,		"" },
	{ CS_SITE, "alias",			NULL,		"" },
	{ CS_SITE, "symlinks",			"owner",	"3" },
	{ CS_SITE, "listing",			"no",		"no" },
	{ CS_SITE, "dotfiles",			"deny",		"0" },
	{ CS_SITE, "certificate",		NULL,		"" },
	{ CS_SITE, "certificate_key",		NULL,		"" },
	{ CS_SITE, "client_ca",			NULL,		"(null)" },
	{ CS_SITE, "client_verify",		"off",		"0" },
	{ CS_SITE, "https_redirect",		"no",		"no" },
	{ CS_SITE, "hsts",			"off",		"0/0/0/0" },

	{ CS_POOL, "kind",			"http",		"0" },
	{ CS_POOL, "command",			NULL,		"app" },
	{ CS_POOL, "address",			NULL,		"(null)" },
	{ CS_POOL, "processes",			"1",		"1" },
	{ CS_POOL, "start_mode",		"on-demand",	"0" },
	{ CS_POOL, "queue_length",		"1000",		"1000" },
	{ CS_POOL, "queue_timeout",		"120s",		"120000" },
	{ CS_POOL, "max_conns",			"100",		"100" },
	{ CS_POOL, "rapid_fail",		"5 in 5m",	"5/300000" },
	{ CS_POOL, "rapid_fail_action",		"auto",		"3" },
	{ CS_POOL, "rapid_fail_backoff",	"1m",		"60000" },
	{ CS_POOL, "response_timeout",		"120s",		"120000" },
	{ CS_POOL, "request_buffering",		"on",		"yes" },
	{ CS_POOL, "response_buffer",		"16M",		"16777216" },
	{ CS_POOL, "startup_time_limit",	"90s",		"90000" },
	{ CS_POOL, "shutdown_time_limit",	"90s",		"90000" },
	{ CS_POOL, "ping_interval",		"30s",		"30000" },
	{ CS_POOL, "ping_response_time",	"90s",		"90000" },
	{ CS_POOL, "ping_path",			NULL,		"(null)" },
	{ CS_POOL, "notify",			"no",		"no" },
	{ CS_POOL, "idle_timeout",		"20m",		"1200000" },
	{ CS_POOL, "recycle_time",		"29h",		"104400000" },
	{ CS_POOL, "recycle_requests",		"0",		"0" },
	{ CS_POOL, "recycle_schedule",		NULL,		"" },
	{ CS_POOL, "recycle_memory",		"0",		"0" },
	{ CS_POOL, "overlapped_recycle",	"yes",		"yes" },
	{ CS_POOL, "user",			NULL,		"(null)" },
	{ CS_POOL, "group",			NULL,		"(null)" },
	{ CS_POOL, "env",			NULL,		"" },
	{ CS_POOL, "workdir",			NULL,		"(null)" },
	{ CS_POOL, "private_tmp",		"no",		"no" },
	{ CS_POOL, "protect_system",		"no",		"no" },
	{ CS_POOL, "read_write_paths",		NULL,		"" },
	{ CS_POOL, "limit_nofile",		"0",		"0" },
	{ CS_POOL, "limit_core",		NULL,		"18446744073709551615" },	/* inherit */
	{ CS_POOL, "limit_as",			"0",		"0" },
	{ CS_POOL, "memory_max",		"0",		"0" },
	{ CS_POOL, "cpu_max",			NULL,		"0" },	/* none */
	{ CS_POOL, "tasks_max",			"0",		"0" },
	{ CS_POOL, "modules",			NULL,		"" },
	{ CS_POOL, "host_threads",		"4",		"4" },
};

static void
check_defaults(const char *text, const char *what)
{
	struct conf *c = parse_ok(text);
	char got[512];

	if (c == NULL)
		return;
	CHECK_INT(c->nsites, 1);
	CHECK_INT(c->npools, 1);
	for (size_t i = 0; i < conf_nkeys; i++) {
		const struct conf_key *k = &conf_keys[i];
		const void *obj = k->section == CS_SERVER ? (const void *)&c->server :
		    k->section == CS_SITE ? (const void *)&c->sites[0] :
		    (const void *)&c->pools[0];
		size_t j;

		for (j = 0; j < nitems(defaults); j++)
			if (defaults[j].s == k->section && strcmp(defaults[j].name, k->name) == 0)
				break;
		if (j == nitems(defaults)) {
			CHECKF(0, "[%s] %s: no default case in test_conf.c (add one)",
			    conf_section_name(k->section), k->name);
			continue;
		}
		CHECKF(k->def == NULL ? defaults[j].def == NULL :
		    defaults[j].def != NULL && strcmp(k->def, defaults[j].def) == 0,
		    "[%s] %s: table default \"%s\", test expects \"%s\"",
		    conf_section_name(k->section), k->name, k->def ? k->def : "(none)",
		    defaults[j].def ? defaults[j].def : "(none)");
		render(k, obj, got, sizeof(got));
		CHECKF(strcmp(got, defaults[j].value) == 0, "%s: [%s] %s = \"%s\", want \"%s\"",
		    what, conf_section_name(k->section), k->name, got, defaults[j].value);
	}
	/* ...and every case names a key that exists */
	for (size_t j = 0; j < nitems(defaults); j++)
		CHECKF(key(defaults[j].s, defaults[j].name) != NULL,
		    "default case for [%s] %s: no such key",
		    conf_section_name(defaults[j].s), defaults[j].name);
	/* fields the table does not reach */
	CHECK_INT(c->server.listen.n, 1);
	CHECK_INT(c->server.listen.v[0].ss.ss_family, AF_INET);
	CHECK_INT(c->sites[0].apps[0].pool_idx, 0);
	CHECK_INT(c->pools[0].nmodule_settings, 0);
	CHECK_STR(c->path, "/etc/weir/weir.conf");
	CHECK_STR(c->dir, "/etc/weir");
	conf_free(c);
}

static void
test_defaults(void)
{
	check_defaults(TAIL, "no [server]");
	check_defaults("[server]\n" TAIL, "empty [server]");
	check_defaults(SITE_S "\n; comment\n[server]\n" POOL_P, "sections in another order");
}

/* --- values of every type --------------------------------------------------- */

static void
test_types(void)
{
	struct conf *c;
	const struct conf_pool *pl;
	const struct conf_site *st;
	const struct conf_server *sv;

	/* durations: ms, s, bare seconds, m, h, d, 0 */
	{
		static const struct { const char *v; uint64_t ms; } d[] = {
			{ "250ms", 250 }, { "30s", 30000 }, { "45", 45000 }, { "5m", 300000 },
			{ "29h", 104400000 }, { "1d", 86400000 }, { "0", 0 }, { "0s", 0 },
			{ "365d", 31536000000ULL },
		};

		for (size_t i = 0; i < nitems(d); i++) {
			char text[256];

			snprintf(text, sizeof(text), "[pool p]\ncommand = app\nrecycle_time = %s\n"
			    SITE_S, d[i].v);
			if ((c = parse_ok(text)) == NULL)
				continue;
			CHECKF(c->pools[0].recycle_time == d[i].ms, "recycle_time = %s: %llu",
			    d[i].v, (unsigned long long)c->pools[0].recycle_time);
			conf_free(c);
		}
	}
	/* hsts: a duration in seconds, then flags in any case and order */
	{
		static const struct { const char *v; bool on; uint64_t age; bool sub, pre; } h[] = {
			{ "off", false, 0, false, false },
			{ "0", true, 0, false, false },
			{ "180d", true, 15552000, false, false },
			{ "1h includesubdomains", true, 3600, true, false },
			{ "400d  preload includeSubDomains", true, 34560000, true, true },
		};

		for (size_t i = 0; i < nitems(h); i++) {
			char text[256];

			snprintf(text, sizeof(text), TAIL "hsts = %s\n", h[i].v);
			if ((c = parse_ok(text)) == NULL)
				continue;
			st = &c->sites[0];
			CHECKF(st->hsts.on == h[i].on && st->hsts.max_age == h[i].age &&
			    st->hsts.subdomains == h[i].sub && st->hsts.preload == h[i].pre,
			    "hsts = %s: %d %llu %d %d", h[i].v, st->hsts.on,
			    (unsigned long long)st->hsts.max_age, st->hsts.subdomains, st->hsts.preload);
			conf_free(c);
		}
	}
	/* sizes: bytes, k, M, G, with or without B, either case */
	{
		static const struct { const char *v; uint64_t b; } z[] = {
			{ "512", 512 }, { "64k", 65536 }, { "64K", 65536 }, { "64kb", 65536 },
			{ "16M", 16777216 }, { "16MB", 16777216 }, { "2G", 2147483648ULL },
			{ "2GB", 2147483648ULL }, { "2gb", 2147483648ULL }, { "0", 0 },
			{ "4096G", 4398046511104ULL },
		};

		for (size_t i = 0; i < nitems(z); i++) {
			char text[256];

			snprintf(text, sizeof(text), "[pool p]\ncommand = app\nrecycle_memory = %s\n"
			    SITE_S, z[i].v);
			if ((c = parse_ok(text)) == NULL)
				continue;
			CHECKF(c->pools[0].recycle_memory == z[i].b, "recycle_memory = %s: %llu",
			    z[i].v, (unsigned long long)c->pools[0].recycle_memory);
			conf_free(c);
		}
	}
	/* booleans, any case */
	{
		static const struct { const char *v; bool b; } y[] = {
			{ "yes", true }, { "no", false }, { "on", true }, { "off", false },
			{ "true", true }, { "false", false }, { "1", true }, { "0", false },
			{ "YES", true }, { "Off", false },
		};

		for (size_t i = 0; i < nitems(y); i++) {
			char text[256];

			snprintf(text, sizeof(text), "[pool p]\ncommand = app\nnotify = %s\n"
			    "overlapped_recycle = %s\n" SITE_S, y[i].v, y[i].v);
			if ((c = parse_ok(text)) == NULL)
				continue;
			CHECKF(c->pools[0].notify == y[i].b, "notify = %s", y[i].v);
			CHECKF(c->pools[0].overlapped_recycle == y[i].b, "overlapped_recycle = %s",
			    y[i].v);
			conf_free(c);
		}
	}
	/* enums: every name of every enum key maps to its constant */
	{
		static const struct { const char *k, *v; int want; } en[] = {
			{ "access_log", "w3c", ACCESS_LOG_W3C },
			{ "access_log", "combined", ACCESS_LOG_COMBINED },
			{ "access_log", "off", ACCESS_LOG_OFF },
			{ "symlinks", "within-root", SYMLINKS_WITHIN_ROOT },
			{ "symlinks", "follow", SYMLINKS_FOLLOW },
			{ "symlinks", "refuse", SYMLINKS_REFUSE },
			{ "symlinks", "owner", SYMLINKS_OWNER },
			{ "kind", "http", POOL_KIND_HTTP },
			{ "kind", "fastcgi", POOL_KIND_FASTCGI },
			{ "start_mode", "on-demand", START_ON_DEMAND },
			{ "start_mode", "always", START_ALWAYS },
			{ "rapid_fail_action", "disable", RF_ACTION_DISABLE },
			{ "rapid_fail_action", "backoff", RF_ACTION_BACKOFF },
			{ "rapid_fail_action", "rollback", RF_ACTION_ROLLBACK },
			{ "rapid_fail_action", "auto", RF_ACTION_AUTO },
		};

		for (size_t i = 0; i < nitems(en); i++) {
			char text[256];
			const char *sect = strcmp(en[i].k, "access_log") == 0 ? "[server]\n" :
			    strcmp(en[i].k, "symlinks") == 0 ? "[site t]\nroot = /t\nhosts = t\n" :
			    "[pool q]\ncommand = app\n";
			int got;

			snprintf(text, sizeof(text), TAIL "%s%s = %s\n", sect, en[i].k, en[i].v);
			if ((c = parse_ok(text)) == NULL)
				continue;
			got = strcmp(en[i].k, "access_log") == 0 ? c->server.access_log :
			    strcmp(en[i].k, "symlinks") == 0 ? c->sites[1].symlinks :
			    strcmp(en[i].k, "kind") == 0 ? c->pools[1].kind :
			    strcmp(en[i].k, "start_mode") == 0 ? c->pools[1].start_mode :
			    c->pools[1].rapid_fail_action;
			CHECKF(got == en[i].want, "%s = %s: %d", en[i].k, en[i].v, got);
			conf_free(c);
		}
		/* kind = native needs modules */
		c = parse_ok(TAIL "[pool n]\nkind = native\nmodules = hello\n");
		if (c != NULL) {
			CHECK_INT(c->pools[1].kind, POOL_KIND_NATIVE);
			conf_free(c);
		}
	}

	/* [server]: listen forms, threads, paths */
	c = parse_ok("[server]\n"
	    "listen = 127.0.0.1:8080\n"
	    "listen = [::1]:8081\n"
	    "listen = *:8082\n"
	    "listen = :8083\n"
	    "listen = 8084\n"
	    "listen = localhost:8085\n"
	    "listen = 0.0.0.0:8086\n"
	    "  10.1.2.3:8087\n"			/* continuation of a repeatable key */
	    "threads = 8\n"
	    "user = www-data\n"
	    "group = www-data\n"
	    "state_dir = /var/run/weir\n"
	    "log_dir = ../log\n"
	    "access_log = combined\n"
	    "syslog = no\n"
	    "max_request_line = 1M\n"
	    "max_header_size = 1M\n"
	    "max_headers = 128\n"
	    "max_body = 0\n"
	    "keepalive_timeout = 0\n"
	    "keepalive_requests = 4294967295\n"
	    "open_file_cache = 0\n"
	    "open_file_cache_valid = 0\n"
	    TAIL);
	if (c != NULL) {
		static const struct { int fam; const char *addr; unsigned port; } want[] = {
			{ AF_INET, "127.0.0.1", 8080 }, { AF_INET6, "::1", 8081 },
			{ AF_INET, "0.0.0.0", 8082 }, { AF_INET, "0.0.0.0", 8083 },
			{ AF_INET, "0.0.0.0", 8084 }, { AF_INET, "127.0.0.1", 8085 },
			{ AF_INET, "0.0.0.0", 8086 }, { AF_INET, "10.1.2.3", 8087 },
		};

		sv = &c->server;
		CHECK_INT(sv->listen.n, nitems(want));
		for (size_t i = 0; i < sv->listen.n && i < nitems(want); i++) {
			const struct conf_listen *l = &sv->listen.v[i];
			char a[INET6_ADDRSTRLEN] = "";
			unsigned port = 0;

			CHECKF(l->ss.ss_family == want[i].fam, "listen %zu: family", i);
			if (l->ss.ss_family == AF_INET) {
				const struct sockaddr_in *s4 = (const void *)&l->ss;

				inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
				port = ntohs(s4->sin_port);
				CHECK_INT(l->sslen, sizeof(*s4));
			} else if (l->ss.ss_family == AF_INET6) {
				const struct sockaddr_in6 *s6 = (const void *)&l->ss;

				inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
				port = ntohs(s6->sin6_port);
				CHECK_INT(l->sslen, sizeof(*s6));
			}
			CHECKF(strcmp(a, want[i].addr) == 0 && port == want[i].port,
			    "listen %zu: %s port %u", i, a, port);
			CHECK_INT(l->line, (int)i + 2);
		}
		CHECK_STR(sv->listen.v[2].spec, "*:8082");
		CHECK_INT(sv->threads, 8);
		CHECK_STR(sv->user, "www-data");
		CHECK_STR(sv->group, "www-data");
		CHECK_STR(sv->state_dir, "/var/run/weir");
		CHECK_STR(sv->log_dir, "/etc/weir/../log");
		CHECK_INT(sv->access_log, ACCESS_LOG_COMBINED);
		CHECK(!sv->syslog);
		CHECK_INT(sv->max_request_line, 1048576);
		CHECK_INT(sv->max_headers, 128);
		CHECK_INT(sv->max_body, 0);
		CHECK_INT(sv->keepalive_timeout, 0);
		CHECK_INT(sv->keepalive_requests, 4294967295u);
		CHECK_INT(sv->open_file_cache, 0);
		CHECK_INT(sv->open_file_cache_valid, 0);
		CHECK_INT(sv->line, 1);
		/* a site without listen has the server's */
		CHECK_INT(c->sites[0].listen.n, nitems(want));
		conf_free(c);
	}
	c = parse_ok("[server]\nthreads = auto\n" TAIL);
	if (c != NULL) {
		CHECK_INT(c->server.threads, 0);
		conf_free(c);
	}
	c = parse_ok("[server]\nthreads = 256\n" TAIL);
	if (c != NULL) {
		CHECK_INT(c->server.threads, 256);
		conf_free(c);
	}

	/* [site]: lists with spaces, repeated list lines, hosts, apps, scripts */
	c = parse_ok("[pool p]\ncommand = app\n"
	    "[pool php]\nkind = fastcgi\naddress = unix:/run/php/php-fpm.sock\n"
	    "[site s]\n"
	    "listen = 127.0.0.1:81\n"
	    "listen = [::]:81\n"
	    "hosts = Shop.Example.COM ,  www.shop.example.com,*.shop.example.org\n"
	    "hosts = [::1], [FE80::1]\n"
	    "root = www\n"
	    "index = index.php ,  index.html,default.htm\n"
	    "index = home.html\n"
	    "  main.html, start.html\n"		/* continuation of a list */
	    "app = /api/ p\n"
	    "app = /api/v2 p\n"
	    "app = / p\n"
	    "script = .php php\n"
	    "script = .PHP5 php\n"
	    "symlinks = refuse\n"
	    "listing = yes\n");
	if (c != NULL) {
		st = &c->sites[0];
		CHECK_INT(st->listen.n, 2);
		CHECK_INT(st->listen.v[1].ss.ss_family, AF_INET6);
		CHECK_INT(c->server.listen.n, 1);	/* the server keeps its default */
		CHECK_INT(st->hosts.n, 5);
		CHECK_STR(st->hosts.v[0], "shop.example.com");
		CHECK_STR(st->hosts.v[1], "www.shop.example.com");
		CHECK_STR(st->hosts.v[2], "*.shop.example.org");
		CHECK_STR(st->hosts.v[3], "[::1]");
		CHECK_STR(st->hosts.v[4], "[fe80::1]");
		CHECK_STR(st->root, "/etc/weir/www");
		CHECK_INT(st->index.n, 6);
		CHECK_STR(st->index.v[0], "index.php");
		CHECK_STR(st->index.v[1], "index.html");
		CHECK_STR(st->index.v[2], "default.htm");
		CHECK_STR(st->index.v[3], "home.html");
		CHECK_STR(st->index.v[4], "main.html");
		CHECK_STR(st->index.v[5], "start.html");
		CHECK_INT(st->napps, 3);
		CHECK_STR(st->apps[0].prefix, "/api");	/* trailing '/' dropped */
		CHECK_INT(st->apps[0].prefixlen, 4);
		CHECK_STR(st->apps[0].pool, "p");
		CHECK_INT(st->apps[0].pool_idx, 0);
		CHECK_INT(st->apps[0].line, 15);
		CHECK_STR(st->apps[1].prefix, "/api/v2");
		CHECK_STR(st->apps[2].prefix, "/");
		CHECK_INT(st->apps[2].prefixlen, 1);
		CHECK_INT(st->nscripts, 2);
		CHECK_STR(st->scripts[0].ext, ".php");
		CHECK_INT(st->scripts[0].extlen, 4);
		CHECK_INT(st->scripts[0].pool_idx, 1);
		CHECK_STR(st->scripts[1].ext, ".PHP5");
		CHECK_INT(st->symlinks, SYMLINKS_REFUSE);
		CHECK(st->listing);
		CHECK_INT(st->line, 6);
		pl = &c->pools[1];
		CHECK_INT(pl->address_ss.ss_family, AF_UNIX);
		CHECK_STR(((const struct sockaddr_un *)(const void *)&pl->address_ss)->sun_path,
		    "/run/php/php-fpm.sock");
		CHECK(pl->command == NULL);
		conf_free(c);
	}

	/* [pool]: every key, custom forms, module settings */
	c = parse_ok("[pool p]\n"
	    "kind = http\n"
	    "command = /usr/bin/gunicorn --workers 1 'app:create()'\n"
	    "processes = 4\n"
	    "start_mode = always\n"
	    "queue_length = 10\n"
	    "queue_timeout = 1s\n"
	    "max_conns = 65535\n"
	    "rapid_fail = 10 in 30s\n"
	    "rapid_fail_action = backoff\n"
	    "rapid_fail_backoff = 2m\n"
	    "response_timeout = 0\n"
	    "startup_time_limit = 1s\n"
	    "shutdown_time_limit = 1d\n"
	    "ping_interval = 0\n"
	    "ping_response_time = 5s\n"
	    "ping_path = /healthz\n"
	    "notify = yes\n"
	    "idle_timeout = 30d\n"
	    "recycle_time = 0\n"
	    "recycle_requests = 10000\n"
	    "recycle_schedule = 15:00, 03:00,00:00 , 23:59\n"
	    "recycle_memory = 512M\n"
	    "overlapped_recycle = no\n"
	    "user = app\n"
	    "group = app\n"
	    "env = GREETING=hello world\n"
	    "env = EMPTY=\n"
	    "env = URL=http://x/?a=b;c=d\n"
	    "workdir = /srv/app\n"
	    "limit_nofile = 1048576\n"
	    "limit_core = unlimited\n"
	    "limit_as = 2G\n"
	    "memory_max = 256M\n"
	    "cpu_max = 20%\n"
	    "tasks_max = 32\n"
	    "[pool n]\n"
	    "kind = native\n"
	    "modules = hello, static\n"
	    "hello.greeting = hi there\n"
	    "static.root: /srv\n"			/* ':' separates too */
	    "host_threads = 1024\n"
	    "limit_core = 0\n"
	    "rapid_fail = off\n"
	    "[pool f]\n"
	    "kind = fastcgi\n"
	    "address = 127.0.0.1:9000\n"
	    "limit_core = 1G\n"
	    "workdir = rel\n"
	    SITE_S);
	if (c != NULL) {
		pl = &c->pools[0];
		CHECK_INT(pl->kind, POOL_KIND_HTTP);
		CHECK_STR(pl->command, "/usr/bin/gunicorn --workers 1 'app:create()'");
		CHECK_INT(pl->processes, 4);
		CHECK_INT(pl->start_mode, START_ALWAYS);
		CHECK_INT(pl->queue_length, 10);
		CHECK_INT(pl->queue_timeout, 1000);
		CHECK_INT(pl->max_conns, 65535);
		CHECK_INT(pl->rapid_fail_count, 10);
		CHECK_INT(pl->rapid_fail_window, 30000);
		CHECK_INT(pl->rapid_fail_action, RF_ACTION_BACKOFF);
		CHECK_INT(pl->rapid_fail_backoff, 120000);
		CHECK_INT(pl->response_timeout, 0);
		CHECK_INT(pl->startup_time_limit, 1000);
		CHECK_INT(pl->shutdown_time_limit, 86400000);
		CHECK_INT(pl->ping_interval, 0);
		CHECK_INT(pl->ping_response_time, 5000);
		CHECK_STR(pl->ping_path, "/healthz");
		CHECK(pl->notify);
		CHECK_INT(pl->idle_timeout, 2592000000LL);
		CHECK_INT(pl->recycle_time, 0);
		CHECK_INT(pl->recycle_requests, 10000);
		CHECK_INT(pl->nrecycle_schedule, 4);
		if (pl->nrecycle_schedule == 4) {
			/* sorted, minutes after midnight */
			CHECK_INT(pl->recycle_schedule[0], 0);
			CHECK_INT(pl->recycle_schedule[1], 180);
			CHECK_INT(pl->recycle_schedule[2], 900);
			CHECK_INT(pl->recycle_schedule[3], 1439);
		}
		CHECK_INT(pl->recycle_memory, 536870912);
		CHECK(!pl->overlapped_recycle);
		CHECK_STR(pl->user, "app");
		CHECK_STR(pl->group, "app");
		CHECK_INT(pl->env.n, 3);
		CHECK_STR(pl->env.v[0], "GREETING=hello world");
		CHECK_STR(pl->env.v[1], "EMPTY=");
		CHECK_STR(pl->env.v[2], "URL=http://x/?a=b;c=d");	/* ';' without a blank: no comment */
		CHECK_STR(pl->workdir, "/srv/app");
		CHECK_INT(pl->limit_nofile, 1048576);
		CHECK(pl->limit_core == UINT64_MAX - 1);		/* unlimited */
		CHECK_INT(pl->limit_as, 2147483648LL);
		CHECK_INT(pl->memory_max, 268435456LL);
		CHECK_INT(pl->cpu_max, 20);
		CHECK_INT(pl->tasks_max, 32);
		CHECK_INT(pl->line, 1);
		pl = &c->pools[1];
		CHECK_INT(pl->kind, POOL_KIND_NATIVE);
		CHECK(pl->command == NULL && pl->address == NULL);
		CHECK_INT(pl->modules.n, 2);
		CHECK_STR(pl->modules.v[1], "static");
		CHECK_INT(pl->nmodule_settings, 2);
		if (pl->nmodule_settings == 2) {
			CHECK_STR(pl->module_settings[0].key, "hello.greeting");
			CHECK_STR(pl->module_settings[0].value, "hi there");
			CHECK_INT(pl->module_settings[0].line, 40);
			CHECK_STR(pl->module_settings[1].key, "static.root");
			CHECK_STR(pl->module_settings[1].value, "/srv");
		}
		CHECK_INT(pl->host_threads, 1024);
		CHECK_INT(pl->limit_core, 0);
		CHECK_INT(pl->rapid_fail_count, 0);
		CHECK_INT(pl->rapid_fail_window, 0);
		pl = &c->pools[2];
		CHECK_INT(pl->kind, POOL_KIND_FASTCGI);
		CHECK_INT(pl->address_ss.ss_family, AF_INET);
		CHECK_INT(pl->address_len, sizeof(struct sockaddr_in));
		CHECK_INT(pl->limit_core, 1073741824);
		CHECK_STR(pl->workdir, "/etc/weir/rel");
		CHECK(conf_pool_find(c, "f") == pl);
		CHECK(conf_pool_find(c, "p") == &c->pools[0]);
		CHECK(conf_pool_find(c, "nosuch") == NULL);
		conf_free(c);
	}
}

/* --- the file syntax --------------------------------------------------------- */

static void
test_syntax(void)
{
	struct conf *c;
	char *text, *line;
	struct conf_errors e = { NULL, 0 };

	/* comments, inline comments, CRLF, blank lines, indentation, BOM */
	c = parse_ok("\xEF\xBB\xBF; leading comment after a UTF-8 BOM\r\n"
	    "# hash comment\r\n"
	    "\r\n"
	    "[server] ; a comment after a header\r\n"
	    "  ; an indented comment\r\n"
	    "user = a ; inline comment\r\n"
	    "group = b;c\r\n"				/* no blank before ';': part of the value */
	    "state_dir = /x # not a comment\r\n"
	    "[pool p]\r\n"
	    "   command = app   \r\n"			/* indented, but no key to continue */
	    "[site s]\n"
	    "app = / p");				/* no final newline */
	if (c != NULL) {
		CHECK_STR(c->server.user, "a");
		CHECK_STR(c->server.group, "b;c");
		CHECK_STR(c->server.state_dir, "/x # not a comment");
		CHECK_STR(c->pools[0].command, "app");
		CHECK_INT(c->pools[0].line, 9);
		CHECK_INT(c->sites[0].napps, 1);
		conf_free(c);
	}
	/* "key: value" is the same as "key = value" */
	c = parse_ok("[server]\nuser: a\n" TAIL);
	if (c != NULL) {
		CHECK_STR(c->server.user, "a");
		conf_free(c);
	}
	/* a BOM is only a BOM on line 1 */
	expect_errors(__LINE__, R2("; x\n\xEF\xBB\xBF[server]\n" TAIL), 0,
	    PATH ":2: expected 'key = value'\n");

	/* a line of 198 characters is fine, 199 is too long (inih's limit) */
	text = xmalloc(512);
	line = xmalloc(256);
	memset(line, 'a', 255);
	memcpy(line, "root = /", 8);
	line[198] = '\0';
	snprintf(text, 512, "[site t]\nhosts = t\n%s\n" TAIL, line);
	c = parse_flags(PATH, text, strlen(text), 0, &e);
	CHECKF(c != NULL && e.n == 0, "198-character line: %zu errors", e.n);
	if (c != NULL) {
		CHECK_INT(strlen(c->sites[0].root), 191);
		conf_free(c);
	}
	conf_errors_clear(&e);
	line[198] = 'a';
	line[199] = '\0';
	snprintf(text, 512, "[site t]\nhosts = t\n%s\n" TAIL, line);
	expect_errors(__LINE__, text, strlen(text), 0,
	    PATH ":1: [site t]: needs root or at least one app\n"
	    PATH ":3: line longer than 198 characters\n");
	/* longer still, with CRLF: the '\r' does not count */
	line[198] = '\0';
	snprintf(text, 512, "[site t]\r\nhosts = t\r\n%s\r\n" TAIL, line);
	c = parse_flags(PATH, text, strlen(text), 0, &e);
	CHECKF(c != NULL && e.n == 0, "198-character CRLF line: %zu errors", e.n);
	conf_free(c);
	conf_errors_clear(&e);
	free(line);
	free(text);

	/* a NUL byte is an error of its line, not the end of the file */
	{
		static const char nul[] = "[server]\nuser = a\0b\nthreads = x\n" TAIL;

		expect_errors(__LINE__, nul, sizeof(nul) - 1, 0,
		    PATH ":2: NUL byte in line\n"
		    PATH ":3: threads: 'x' is not auto or a number in 1..256\n");
	}

	/* errors accumulate in the caller's list, after what it held */
	c = parse_flags(PATH, R2("[bogus]\n" TAIL), 0, &e);
	CHECK(c == NULL);
	c = parse_flags(PATH, R2("[site s]\n[server]\nfoo = 1\n"), 0, &e);
	CHECK(c == NULL);
	CHECK_INT(e.n, 3);
	if (e.n == 3) {
		CHECK_STR(e.msg[0], PATH ":1: unknown section [bogus] (expected [server], [site NAME] or [pool NAME])");
		CHECK_STR(e.msg[1], PATH ":1: [site s]: needs root or at least one app");
		CHECK_STR(e.msg[2], PATH ":3: unknown key 'foo' in [server]");
	}
	/* ...and a valid file parses although the list is not empty */
	c = parse_flags(PATH, R2(TAIL), 0, &e);
	CHECK(c != NULL);
	CHECK_INT(e.n, 3);
	conf_free(c);
	conf_errors_clear(&e);
	CHECK_INT(e.n, 0);
	CHECK(e.msg == NULL);

	/* the directory of relative paths */
	c = parse_flags("/weir.conf", R2("[server]\nlog_dir = log\n" TAIL), 0, &e);
	CHECK(c != NULL);
	if (c != NULL) {
		CHECK_STR(c->dir, "/");
		CHECK_STR(c->server.log_dir, "/log");
		CHECK_STR(c->server.state_dir, "/run");
		conf_free(c);
	}
	c = parse_flags("weir.conf", R2(TAIL), 0, &e);
	CHECK(c != NULL);
	if (c != NULL) {
		char cwd[PATH_MAX], want[PATH_MAX + 8];

		CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
		snprintf(want, sizeof(want), "%s/log", cwd);
		CHECK_STR(c->dir, cwd);
		CHECK_STR(c->server.log_dir, want);
		conf_free(c);
	}
	conf_errors_clear(&e);
}

/* --- errors -------------------------------------------------------------------- */

#define E(text, want)	{ __LINE__, text, want }
#define L(n)		PATH ":" #n ": "

static const struct {
	int		 line;
	const char	*text;
	const char	*want;		/* every message, each + '\n' */
} errcases[] = {
	/* sections */
	E("[bogus]\n" TAIL, L(1) "unknown section [bogus] (expected [server], [site NAME] or [pool NAME])\n"),
	E("[Server]\n" TAIL, L(1) "unknown section [Server] (expected [server], [site NAME] or [pool NAME])\n"),
	E("[server x]\n" TAIL, L(1) "[server] takes no name\n"),
	E("[site]\nroot = /x\n" TAIL, L(1) "[site]: name must be 1..64 of A-Z a-z 0-9 _ - .\n"),
	E("[pool]\n" TAIL, L(1) "[pool]: name must be 1..64 of A-Z a-z 0-9 _ - .\n"),
	E("[site a b]\n" TAIL, L(1) "[site a b]: expected [site NAME]\n"),
	E("[pool bad!]\n" TAIL, L(1) "[pool bad!]: name must be 1..64 of A-Z a-z 0-9 _ - .\n"),
	E("[pool\n" TAIL, L(1) "section header '[pool' has no closing ']' (expected [server], [site NAME] or [pool NAME])\n"),
	E("[site shop  ; a comment\n" TAIL, L(1) "section header '[site shop' has no closing ']' (expected [server], [site NAME] or [pool NAME])\n"),
	E("[]\n" TAIL, L(1) "empty section name\n"),
	E("[server] x\n" TAIL, L(1) "text after section header\n"),
	E("[server]\n[server]\n" TAIL, L(2) "[server] given twice (first on line 1)\n"),
	E(TAIL "[pool p]\ncommand = b\n", L(5) "[pool p] given twice (first on line 1)\n"),
	E(TAIL "[site s]\nroot = /b\n", L(5) "[site s] given twice (first on line 3)\n"),
	/* keys */
	E("listen = 127.0.0.1:80\n" TAIL, L(1) "'listen' outside of any section\n"),
	E("[server]\ncolour = red\n" TAIL, L(2) "unknown key 'colour' in [server]\n"),
	E("[server]\ntrusted_proxies = 10.0.0.0/33\n" TAIL, L(2) "trusted_proxies: '10.0.0.0/33': prefix length above 32\n"),
	E("[server]\ntrusted_proxies = ::1/129\n" TAIL, L(2) "trusted_proxies: '::1/129': prefix length above 128\n"),
	E("[server]\ntrusted_proxies = proxy.example\n" TAIL, L(2) "trusted_proxies: 'proxy.example' is not an IPv4 or IPv6 address\n"),
	E("[server]\ntrusted_proxies = 10.0.0.0/\n" TAIL, L(2) "trusted_proxies: '10.0.0.0/': bad prefix length\n"),
	E("[server]\ntrusted_proxies = 10.0.0.0/8,\n" TAIL, L(2) "trusted_proxies: empty element in list '10.0.0.0/8,'\n"),
	E("[site s]\nroot = /x\ndotfiles = hide\n" POOL_P, L(3) "dotfiles: 'hide' is not one of: deny, allow\n"),
	E("[server]\nLISTEN = :80\n" TAIL, L(2) "unknown key 'LISTEN' in [server]\n"),
	E(TAIL "[site t]\nroot = /t\nhosts = t\nprocesses = 2\n", L(8) "unknown key 'processes' in [site]\n"),
	E("[pool p]\ncommand = app\nroot = /x\n" SITE_S, L(3) "unknown key 'root' in [pool]\n"),
	E("[server]\nhello.greeting = x\n" TAIL, L(2) "unknown key 'hello.greeting' in [server]\n"),
	E("[server]\n= x\n" TAIL, L(2) "unknown key '' in [server]\n"),
	E("[server]\nthreads = 2\nthreads = 3\n" TAIL, L(3) "threads: given twice in this section (first on line 2)\n"),
	E("[pool p]\ncommand = a\ncommand = b\n" SITE_S, L(3) "command: given twice in this section (first on line 2)\n"),
	E(TAIL "[site t]\nhosts = t\nroot = /a\nroot = /b\n", L(8) "root: given twice in this section (first on line 7)\n"),
	E("[pool p]\ncommand = a\nrapid_fail = off\nrapid_fail = 5 in 5m\n" SITE_S,
	    L(4) "rapid_fail: given twice in this section (first on line 3)\n"),
	E("[server]\nthreads\n" TAIL, L(2) "expected 'key = value'\n"),
	E("[server]\nthreads ; = 4\n" TAIL, L(2) "expected 'key = value'\n"),
	E("[server]\n  threads\n" TAIL, L(2) "expected 'key = value'\n"),
	E("[server]\nuser = a\n  b\n" TAIL, L(3) "user: continuation lines are only allowed for lists\n"),
	E("[server]\nthreads = 2\n  4\n" TAIL, L(3) "threads: continuation lines are only allowed for lists\n"),
	/* a long string's first line refused: its continuation has nothing to join (it crashed) */
	E("[pool q]\ncommand =\n  more\n" TAIL, L(1) "[pool q]: needs command (a program weir starts) or "
	    "address (an upstream it does not)\n" L(2) "command: empty value\n"),
	/* bad values, by type */
	E("[server]\nmax_headers = 0\n" TAIL, L(2) "max_headers: '0' is out of range 1..128\n"),
	E("[server]\nmax_headers = 129\n" TAIL, L(2) "max_headers: '129' is out of range 1..128\n"),
	E("[server]\nmax_headers = ten\n" TAIL, L(2) "max_headers: 'ten' is out of range 1..128\n"),
	E("[server]\nmax_headers = -1\n" TAIL, L(2) "max_headers: '-1' is out of range 1..128\n"),
	E("[server]\nmax_headers = +5\n" TAIL, L(2) "max_headers: '+5' is out of range 1..128\n"),
	E("[server]\nmax_headers = 1.5\n" TAIL, L(2) "max_headers: '1.5' is out of range 1..128\n"),
	E("[server]\nkeepalive_requests = 4294967296\n" TAIL, L(2) "keepalive_requests: '4294967296' is out of range 0..4294967295\n"),
	E("[server]\nmax_connections = 99999999999999999999999\n" TAIL, L(2) "max_connections: '99999999999999999999999' is out of range 0..10000000\n"),
	E("[pool p]\ncommand = app\nprocesses = 0\n" SITE_S, L(3) "processes: '0' is out of range 1..256\n"),
	E("[pool p]\ncommand = app\nprocesses = 257\n" SITE_S, L(3) "processes: '257' is out of range 1..256\n"),
	E("[pool p]\ncommand = app\nqueue_length = 9\n" SITE_S, L(3) "queue_length: '9' is out of range 10..65535\n"),
	E("[pool p]\ncommand = app\nqueue_length = 65536\n" SITE_S, L(3) "queue_length: '65536' is out of range 10..65535\n"),
	E("[pool p]\ncommand = app\nmax_conns = 0\n" SITE_S, L(3) "max_conns: '0' is out of range 1..65535\n"),
	E("[pool p]\ncommand = app\nhost_threads = 1025\n" SITE_S, L(3) "host_threads: '1025' is out of range 1..1024\n"),
	E("[pool p]\ncommand = app\nlimit_nofile = 1048577\n" SITE_S, L(3) "limit_nofile: '1048577' is out of range 0..1048576\n"),
	E("[server]\nmax_body = 12x\n" TAIL, L(2) "max_body: '12x' is not a size (e.g. 512, 64k, 16M, 2G)\n"),
	E("[server]\nmax_body = 1T\n" TAIL, L(2) "max_body: '1T' is not a size (e.g. 512, 64k, 16M, 2G)\n"),
	E("[server]\nmax_body = 1.5M\n" TAIL, L(2) "max_body: '1.5M' is not a size (e.g. 512, 64k, 16M, 2G)\n"),
	E("[server]\nmax_body = 2GiB\n" TAIL, L(2) "max_body: '2GiB' is not a size (e.g. 512, 64k, 16M, 2G)\n"),
	E("[server]\nmax_body = 16 M\n" TAIL, L(2) "max_body: '16 M' is not a size (e.g. 512, 64k, 16M, 2G)\n"),
	E("[server]\nmax_request_line = 63\n" TAIL, L(2) "max_request_line: '63' is out of range 64..1048576 bytes\n"),
	E("[server]\nmax_request_line = 2M\n" TAIL, L(2) "max_request_line: '2M' is out of range 64..1048576 bytes\n"),
	E("[pool p]\ncommand = app\nrecycle_memory = 8589934592G\n" SITE_S,
	    L(3) "recycle_memory: '8589934592G' is out of range 0..9223372036854775807 bytes\n"),
	E("[server]\nheader_timeout = 0\n" TAIL, L(2) "header_timeout: '0' is out of range 1000ms..86400000ms\n"),
	E("[server]\nheader_timeout = 999ms\n" TAIL, L(2) "header_timeout: '999ms' is out of range 1000ms..86400000ms\n"),
	E("[server]\nheader_timeout = 2d\n" TAIL, L(2) "header_timeout: '2d' is out of range 1000ms..86400000ms\n"),
	E("[server]\nkeepalive_timeout = 1.5s\n" TAIL, L(2) "keepalive_timeout: '1.5s' is not a duration (e.g. 500ms, 30s, 5m, 2h, 1d)\n"),
	E("[server]\nkeepalive_timeout = 5M\n" TAIL, L(2) "keepalive_timeout: '5M' is not a duration (e.g. 500ms, 30s, 5m, 2h, 1d)\n"),
	E("[server]\nkeepalive_timeout = 1w\n" TAIL, L(2) "keepalive_timeout: '1w' is not a duration (e.g. 500ms, 30s, 5m, 2h, 1d)\n"),
	E("[server]\nshutdown_timeout = 2h\n" TAIL, L(2) "shutdown_timeout: '2h' is out of range 0ms..3600000ms\n"),
	E("[pool p]\ncommand = app\nqueue_timeout = 0\n" SITE_S, L(3) "queue_timeout: '0' is out of range 1000ms..86400000ms\n"),
	E("[pool p]\ncommand = app\nidle_timeout = 31d\n" SITE_S, L(3) "idle_timeout: '31d' is out of range 0ms..2592000000ms\n"),
	E("[pool p]\ncommand = app\nrecycle_time = 366d\n" SITE_S, L(3) "recycle_time: '366d' is out of range 0ms..31536000000ms\n"),
	E("[pool p]\ncommand = app\nrapid_fail_backoff = 500ms\n" SITE_S, L(3) "rapid_fail_backoff: '500ms' is out of range 1000ms..86400000ms\n"),
	E("[server]\nsyslog = maybe\n" TAIL, L(2) "syslog: 'maybe' is not yes or no\n"),
	E(TAIL "[site t]\nhosts = t\nroot = /t\nlisting = 2\n", L(8) "listing: '2' is not yes or no\n"),
	E("[server]\naccess_log = json\n" TAIL, L(2) "access_log: 'json' is not one of: w3c, combined, off\n"),
	E("[server]\naccess_log = W3C\n" TAIL, L(2) "access_log: 'W3C' is not one of: w3c, combined, off\n"),
	E(TAIL "[site t]\nhosts = t\nroot = /t\nsymlinks = yes\n", L(8) "symlinks: 'yes' is not one of: within-root, follow, refuse, owner\n"),
	E("[pool p]\ncommand = app\nkind = cgi\n" SITE_S, L(3) "kind: 'cgi' is not one of: http, fastcgi, native\n"),
	E("[pool p]\ncommand = app\nstart_mode = never\n" SITE_S, L(3) "start_mode: 'never' is not one of: on-demand, always\n"),
	E("[pool p]\ncommand = app\nrapid_fail_action = retry\n" SITE_S, L(3) "rapid_fail_action: 'retry' is not one of: disable, backoff, rollback, auto\n"),
	E("[server]\nuser =\n" TAIL, L(2) "user: empty value\n"),
	E("[server]\nstate_dir =\n" TAIL, L(2) "state_dir: empty path\n"),
	E("[server]\nstate_dir = ; just a comment\n" TAIL, L(2) "state_dir: empty path\n"),
	E("[server]\nthreads = 0\n" TAIL, L(2) "threads: '0' is not auto or a number in 1..256\n"),
	E("[server]\nthreads = 257\n" TAIL, L(2) "threads: '257' is not auto or a number in 1..256\n"),
	E("[server]\nthreads = Auto\n" TAIL, L(2) "threads: 'Auto' is not auto or a number in 1..256\n"),
	E("[server]\nlisten = unix:/tmp/x.sock\n" TAIL, L(2) "listen: 'unix:/tmp/x.sock': listen takes an IP address and port\n"),
	E("[server]\nlisten = 1.2.3.4\n" TAIL, L(2) "listen: '1.2.3.4': port must be 1..65535\n"),
	E("[server]\nlisten = 1.2.3.4:0\n" TAIL, L(2) "listen: '1.2.3.4:0': port must be 1..65535\n"),
	E("[server]\nlisten = 1.2.3.4:65536\n" TAIL, L(2) "listen: '1.2.3.4:65536': port must be 1..65535\n"),
	E("[server]\nlisten = example.com:80\n" TAIL, L(2) "listen: 'example.com:80': bad IPv4 address (numeric addresses only)\n"),
	E("[server]\nlisten = [::1]80\n" TAIL, L(2) "listen: '[::1]80': expected [IPv6]:port\n"),
	E("[server]\nlisten = [::g]:80\n" TAIL, L(2) "listen: '[::g]:80': bad IPv6 address\n"),
	E("[server]\nlisten = 1.2.3.4:80, 1.2.3.4:81\n" TAIL, L(2) "listen: '1.2.3.4:80, 1.2.3.4:81': one address per listen line (options follow it after a blank)\n"),
	E("[server]\nlisten = :80\nlisten = 0.0.0.0:80\n" TAIL, L(3) "listen: '0.0.0.0:80' is already listed on line 2\n"),
	E("[server]\nlisten = :80\n  *:80\n" TAIL, L(3) "listen: '*:80' is already listed on line 2\n"),
	E(TAIL "[site t]\nroot = /t\nhosts = a, , b\n", L(7) "hosts: empty element in list 'a, , b'\n"),
	E(TAIL "[site t]\nroot = /t\nhosts = bad_host!\n", L(7) "hosts: 'bad_host!' is not a host name\n"),
	E(TAIL "[site t]\nroot = /t\nhosts = *\n", L(7) "hosts: '*' is not a host name\n"),
	E(TAIL "[site t]\nroot = /t\nhosts = a.*.com\n", L(7) "hosts: 'a.*.com' is not a host name\n"),
	E(TAIL "[site t]\nroot = /t\nhosts = a.com:8080\n",
	    L(7) "hosts: 'a.com:8080' is not a host name (no port: the site's listen addresses say that)\n"),
	E(TAIL "[site t]\nroot = /t\nhosts = [::1]:8080\n",
	    L(7) "hosts: '[::1]:8080' is not a host name (no port: the site's listen addresses say that)\n"),
	E(TAIL "[site t]\nroot = /t\nhosts = [::1\n", L(7) "hosts: '[::1' is not a host name (no port: the site's listen addresses say that)\n"),
	E(TAIL "[site t]\nroot = /t\nhosts = a[b]\n", L(7) "hosts: 'a[b]' is not a host name\n"),
	E(TAIL "[site t]\nroot = /t\nhosts = []\n", L(7) "hosts: '[]' is not a host name\n"),
	E(TAIL "[site t]\nroot = /t\nhosts = t\nindex = ,\n", L(8) "index: empty element in list ','\n"),
	E(TAIL "[site t]\nroot = /t\nhosts = t\nindex = a,\n", L(8) "index: empty element in list 'a,'\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\napp = api p\n", L(5) "app: app prefix 'api' must be a plain absolute path\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\napp = /a/../b p\n", L(5) "app: app prefix '/a/../b' must be a plain absolute path\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\napp = /a//b p\n", L(5) "app: app prefix '/a//b' must be a plain absolute path\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\napp = /a?b p\n", L(5) "app: app prefix '/a?b' must be a plain absolute path\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\napp = /a%20 p\n", L(5) "app: app prefix '/a%20' must be a plain absolute path\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\napp = /x\n", L(5) "app: expected 'app = PREFIX POOL [SCRIPT] [strip_prefix]', got '/x'\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\napp = /x p extra\n", L(5) "app: 'extra' is neither a script path like /index.php nor strip_prefix\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\napp = /x p /i.php /j.php\n", L(5) "app: '/j.php' is neither a script path like /index.php nor strip_prefix\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\napp = /x p /i.php\n", L(5) "app /x: a script needs a kind = fastcgi pool\n"),
	E("[pool p]\ncommand = app\nkind = fastcgi\n[site s]\napp = / p /i.php\n", L(5) "app /: a script needs the site's root\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\nrewrite = ^/(a /b\n", L(5) "rewrite: regex '^/(a': missing closing parenthesis at offset 4\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\nrewrite = ^/a\n", L(5) "rewrite: expected 'rewrite = REGEX REPLACEMENT [last|break|redirect|permanent]', got '^/a'\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\nrewrite = ^/a /b often\n", L(5) "rewrite: unknown flag 'often' (last, break, redirect, permanent)\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\nrewrite = ^/a b\n", L(5) "rewrite: replacement 'b' must begin with '/', '$' or http(s)://\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\nreturn = ^/a 301\n", L(5) "return: 301 is a redirect: it needs a URL\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\nreturn = ^/a 404 /x\n", L(5) "return: a URL goes with a redirect status (301, 302, 303, 307, 308)\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\nreturn = ^/a 99\n", L(5) "return: status '99' is not 200..599\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\nalias = /x\n", L(5) "alias: expected 'alias = PREFIX DIR', got '/x'\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\nalias = / /d\n", L(5) "alias: / is what root is for\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\nalias = /x /d\nalias = /x/ /e\n", L(6) "alias: alias '/x' is already set on line 5\n"),
	E("[pool p]\ncommand = app\nkind = fastcgi\n[site s]\nroot = /s\nfallback = /index.php\n", L(4) "[site s]: fallback /index.php: no script = line maps its extension\n"),
	E("[pool p]\ncommand = app\nkind = fastcgi\n[site s]\nroot = /s\nscript = .php p\nfallback = index.php\n", L(4) "[site s]: fallback 'index.php' must be a script path like /index.php\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\napp = /x bad!name\n", L(5) "app: 'bad!name' is not a valid pool name\n"),
	E("[pool p]\ncommand = app\n[site s]\nroot = /s\napp = /x p\napp = /x/ p\n", L(6) "app: prefix '/x' is already mapped on line 5\n"),
	E("[pool f]\nkind = fastcgi\ncommand = php-cgi\n[site s]\nroot = /s\nscript = php f\n",
	    L(6) "script: 'php' is not an extension like .php\n"),
	E("[pool f]\nkind = fastcgi\ncommand = php-cgi\n[site s]\nroot = /s\nscript = .tar.gz f\n",
	    L(6) "script: '.tar.gz' is not an extension like .php\n"),
	E("[pool f]\nkind = fastcgi\ncommand = php-cgi\n[site s]\nroot = /s\nscript = .php\n",
	    L(6) "script: expected 'script = .EXT POOL', got '.php'\n"),
	E("[pool f]\nkind = fastcgi\ncommand = php-cgi\n[site s]\nroot = /s\nscript = .php f\nscript = .PHP f\n",
	    L(7) "script: '.PHP' is already mapped on line 6\n"),
	E("[pool p]\ncommand = app\nenv = NOEQ\n" SITE_S, L(3) "env: expected 'env = KEY=VALUE', got 'NOEQ'\n"),
	E("[pool p]\ncommand = app\nenv = =x\n" SITE_S, L(3) "env: expected 'env = KEY=VALUE', got '=x'\n"),
	E("[pool p]\ncommand = app\nenv = A-B=1\n" SITE_S, L(3) "env: 'A-B' is not a valid environment variable name\n"),
	E("[pool p]\ncommand = app\nenv = A=1\nenv = A=2\n" SITE_S, L(4) "env: 'A' is set twice\n"),
	E("[pool p]\ncommand = app\nrapid_fail = 5\n" SITE_S, L(3) "rapid_fail: expected 'N in DURATION' (N 1..1000, 1s..1d) or off, got '5'\n"),
	E("[pool p]\ncommand = app\nrapid_fail = 0 in 5m\n" SITE_S, L(3) "rapid_fail: expected 'N in DURATION' (N 1..1000, 1s..1d) or off, got '0 in 5m'\n"),
	E("[pool p]\ncommand = app\nrapid_fail = 1001 in 5m\n" SITE_S, L(3) "rapid_fail: expected 'N in DURATION' (N 1..1000, 1s..1d) or off, got '1001 in 5m'\n"),
	E("[pool p]\ncommand = app\nrapid_fail = 5 in 999ms\n" SITE_S, L(3) "rapid_fail: expected 'N in DURATION' (N 1..1000, 1s..1d) or off, got '5 in 999ms'\n"),
	E("[pool p]\ncommand = app\nrapid_fail = 5 in 2d\n" SITE_S, L(3) "rapid_fail: expected 'N in DURATION' (N 1..1000, 1s..1d) or off, got '5 in 2d'\n"),
	E("[pool p]\ncommand = app\nrapid_fail = -5 in 5m\n" SITE_S, L(3) "rapid_fail: expected 'N in DURATION' (N 1..1000, 1s..1d) or off, got '-5 in 5m'\n"),
	E("[pool p]\ncommand = app\nrapid_fail = 5 in 5m later\n" SITE_S, L(3) "rapid_fail: expected 'N in DURATION' (N 1..1000, 1s..1d) or off, got '5 in 5m later'\n"),
	E("[pool p]\ncommand = app\nrapid_fail = OFF\n" SITE_S, L(3) "rapid_fail: expected 'N in DURATION' (N 1..1000, 1s..1d) or off, got 'OFF'\n"),
	E("[pool p]\ncommand = app\nrecycle_schedule = 3:00\n" SITE_S, L(3) "recycle_schedule: '3:00' is not a time of day HH:MM\n"),
	E("[pool p]\ncommand = app\nrecycle_schedule = 24:00\n" SITE_S, L(3) "recycle_schedule: '24:00' is not a time of day HH:MM\n"),
	E("[pool p]\ncommand = app\nrecycle_schedule = 03:60\n" SITE_S, L(3) "recycle_schedule: '03:60' is not a time of day HH:MM\n"),
	E("[pool p]\ncommand = app\nrecycle_schedule = +3:00\n" SITE_S, L(3) "recycle_schedule: '+3:00' is not a time of day HH:MM\n"),
	E("[pool p]\ncommand = app\nrecycle_schedule = 3: 00\n" SITE_S, L(3) "recycle_schedule: '3: 00' is not a time of day HH:MM\n"),
	E("[pool p]\ncommand = app\nrecycle_schedule = 03:00:00\n" SITE_S, L(3) "recycle_schedule: '03:00:00' is not a time of day HH:MM\n"),
	E("[pool p]\ncommand = app\nrecycle_schedule = 03:00,\n" SITE_S, L(3) "recycle_schedule: empty element in list '03:00,'\n"),
	E("[pool p]\ncommand = app\nrecycle_schedule = 03:00\nrecycle_schedule = 04:00\n" SITE_S,
	    L(4) "recycle_schedule: given twice in this section (first on line 3)\n"),
	E("[pool p]\ncommand = app\nlimit_core = lots\n" SITE_S, L(3) "limit_core: 'lots' is not a size or unlimited\n"),
	E("[pool p]\ncommand = app\nlimit_core = -1\n" SITE_S, L(3) "limit_core: '-1' is not a size or unlimited\n"),
	E("[pool p]\ncommand = app\nlimit_core = 18446744073709551615\n" SITE_S, L(3) "limit_core: '18446744073709551615' is not a size or unlimited\n"),
	E("[pool p]\ncommand = app\ncpu_max = 0%\n" SITE_S, L(3) "cpu_max: '0%' is not a percent of one CPU (1% to 102400%)\n"),
	E("[pool p]\ncommand = app\ncpu_max = 20 %\n" SITE_S, L(3) "cpu_max: '20 %' is not a percent of one CPU (1% to 102400%)\n"),
	E("[pool p]\ncommand = app\ncpu_max = lots\n" SITE_S, L(3) "cpu_max: 'lots' is not a percent of one CPU (1% to 102400%)\n"),
	/* cross-checks: pools */
	E("[pool p]\nprocesses = 2\n" SITE_S, L(1) "[pool p]: needs command (a program weir starts) or address (an upstream it does not)\n"),
	E("[pool p]\ncommand = x\naddress = unix:/run/q.sock\n" SITE_S, L(1) "[pool p]: command and address exclude each other\n"),
	E("[pool p]\ncommand = \"unterminated\n" SITE_S, L(1) "[pool p]: command: unterminated \" quote\n"),
	E("[pool p]\ncommand = 'x\n" SITE_S, L(1) "[pool p]: command: unterminated ' quote\n"),
	E("[pool p]\ncommand = x\\\n" SITE_S, L(1) "[pool p]: command: trailing backslash\n"),
	E("[pool p]\naddress = 10.0.0.1\n" SITE_S, L(1) "[pool p]: address: '10.0.0.1': port must be 1..65535\n"),
	E("[pool p]\naddress = unix:run/php.sock\n" SITE_S,
	    L(1) "[pool p]: address: 'unix:run/php.sock': unix socket path must be absolute and shorter than 108 bytes\n"),
	E("[pool p]\nkind = native\n" SITE_S, L(1) "[pool p]: kind = native needs modules\n"),
	E("[pool p]\ncommand = app\nmodules = hello\n" SITE_S, L(1) "[pool p]: modules is only for kind = native\n"),
	E("[pool p]\nkind = native\nmodules = hello\nother.x = 1\nhello.y = 2\n" SITE_S,
	    L(4) "'other.x': module 'other' is not in this pool's modules\n"),
	E("[pool p]\nkind = native\nmodules = hello\nhell.x = 1\nhelloo.x = 1\n" SITE_S,
	    L(4) "'hell.x': module 'hell' is not in this pool's modules\n"
	    L(5) "'helloo.x': module 'helloo' is not in this pool's modules\n"),
	E("[pool p]\ncommand = app\nhello.greeting = x\n" SITE_S,
	    L(3) "unknown key 'hello.greeting' in [pool] (module settings are for kind = native)\n"),
	E("[pool p]\ncommand = app\nping_path = healthz\n" SITE_S, L(1) "[pool p]: ping_path must start with '/'\n"),
	E("[pool p]\ncommand = app\nread_write_paths = /srv\n" SITE_S,
	    L(1) "[pool p]: read_write_paths needs protect_system = yes\n"),
	E("[pool p]\ncommand = app\nprotect_system = yes\nread_write_paths = /srv, data\n" SITE_S,
	    L(1) "[pool p]: read_write_paths: 'data' is not an absolute path\n"),
	E("[pool p]\naddress = 127.0.0.1:9000\nprivate_tmp = yes\n" SITE_S,
	    L(1) "[pool p]: private_tmp and protect_system are for workers weir starts (not address)\n"),
	/* cross-checks: sites */
	E(POOL_P "[site s]\nroot = /s\napp = /api nopool\n", L(5) "app /api: no [pool nopool]\n"),
	E(POOL_P "[site s]\nroot = /s\nscript = .php p\n", L(5) "script .php: pool p is not kind = fastcgi\n"),
	E(POOL_P "[site s]\nroot = /s\nscript = .php nopool\n", L(5) "script .php: no [pool nopool]\n"),
	E("[pool f]\nkind = fastcgi\ncommand = php-cgi\n[site s]\napp = / f\nscript = .php f\n",
	    L(6) "script .php: the site needs a root\n"),
	E(POOL_P "[site s]\nhosts = s\n", L(3) "[site s]: needs root or at least one app\n"),
	E(POOL_P "[site s]\nroot = /s\nindex = a/b\n", L(3) "[site s]: index 'a/b' must be a file name\n"),
	E(POOL_P "[site s]\nroot = /s\nindex = ..\n", L(3) "[site s]: index '..' must be a file name\n"),
	E("[server]\nlisten = 127.0.0.1:80\n[site a]\nroot = /a\n[site b]\nroot = /b\n",
	    L(5) "[site b]: sites a and b are both the default for the same address (give one of them hosts)\n"),
	E("[site a]\nroot = /a\nlisten = :81\n[site b]\nroot = /b\nlisten = 127.0.0.1:82\n  0.0.0.0:81\n",
	    L(4) "[site b]: sites a and b are both the default for the same address (give one of them hosts)\n"),
	E("[site a]\nroot = /a\nhosts = x.com, Y.com\n[site b]\nroot = /b\nhosts = y.com\n",
	    L(4) "[site b]: host y.com is also served by [site a]\n"),
	E("[site a]\nroot = /a\nhosts = *.x.com\n[site b]\nroot = /b\nhosts = *.X.com\n",
	    L(4) "[site b]: host *.x.com is also served by [site a]\n"),
	/* cross-checks: the admin API */
	E("[server]\nadmin_listen = 127.0.0.1:9000\n" TAIL, L(1) "admin_listen needs admin_token (at least 16 characters)\n"),
	E("[server]\nadmin_listen = 127.0.0.1:9000\nadmin_token = short\n" TAIL,
	    L(1) "admin_listen needs admin_token (at least 16 characters)\n"),
	E("[server]\nadmin_listen = 10.0.0.1:9000\nadmin_token = 0123456789abcdef\n" TAIL,
	    L(1) "admin_listen: 10.0.0.1:9000 is not a loopback address\n"),
	E("[server]\nadmin_listen = [::]:9000\nadmin_token = 0123456789abcdef\n" TAIL,
	    L(1) "admin_listen: [::]:9000 is not a loopback address\n"),
	E("[server]\nadmin_listen = nowhere\nadmin_token = 0123456789abcdef\n" TAIL,
	    L(1) "admin_listen: 'nowhere': port must be 1..65535\n"),
	/* TLS */
#define CERT	"[site s]\napp = / p\ncertificate = /c.pem\ncertificate_key = /k.pem\n"
	E("[server]\nlisten = 127.0.0.1:443 tls http\n" TAIL, L(2) "listen: 'http' is not a listen option (tls, h2c, proxy_protocol, alpn=, health_path=)\n"),
	E("[server]\nlisten = 127.0.0.1:443 tls alpn=h3\n" POOL_P CERT, L(2) "listen: alpn: 'h3' is not h2 or http/1.1, or is listed twice\n"),
	E("[server]\nlisten = 127.0.0.1:443 tls alpn=h2,h2\n" POOL_P CERT, L(2) "listen: alpn: 'h2' is not h2 or http/1.1, or is listed twice\n"),
	E("[server]\nlisten = 127.0.0.1:80 alpn=h2\n" TAIL, L(2) "listen 127.0.0.1:80: alpn= is for tls addresses\n"),
	E("[server]\nlisten = 127.0.0.1:443 tls alpn=http/1.1\n" POOL_P CERT "listen = 127.0.0.1:443 tls\n",
	    L(9) "listen 127.0.0.1:443: options differ from line 2 (an address has the same options wherever it is listed)\n"),
	E("[server]\nlisten = 127.0.0.1:443 tls h2c\n" POOL_P CERT,
	    L(2) "listen 127.0.0.1:443: h2c is HTTP/2 without TLS; on a tls address HTTP/2 is negotiated (ALPN)\n"),
	E("[server]\nlisten = 127.0.0.1:80 h2c\n" POOL_P "[site s]\napp = / p\nlisten = 127.0.0.1:80\n",
	    L(7) "listen 127.0.0.1:80: options differ from line 2 (an address has the same options wherever it is listed)\n"),
	E("[server]\nhttp2_max_concurrent_streams = 0\n" TAIL, L(2) "http2_max_concurrent_streams: '0' is out of range 1..1000\n"),
	/* PROXY protocol, health_path, drain_time */
	E("[server]\nlisten = 127.0.0.1:8081 proxy_protocol\n" POOL_P "[site s]\napp = / p\nlisten = 127.0.0.1:8081\n",
	    L(7) "listen 127.0.0.1:8081: options differ from line 2 (an address has the same options wherever it is listed)\n"),
	E("[server]\nhealth_path = health\n" TAIL, L(1) "health_path: 'health' is not a path (it starts with '/', no query)\n"),
	E("[server]\nhealth_path = /h?x=1\n" TAIL, L(1) "health_path: '/h?x=1' is not a path (it starts with '/', no query)\n"),
	E("[server]\nlisten = 127.0.0.1:8081 health_path=lb\n" TAIL,
	    L(2) "listen: health_path=lb is not a path (it starts with '/', no query)\n"),
	E("[server]\nlisten = 127.0.0.1:8081 health_path=/lb?x\n" TAIL,
	    L(2) "listen: health_path=/lb?x is not a path (it starts with '/', no query)\n"),
	E("[server]\nlisten = 127.0.0.1:8081 health_path=/lb\n" POOL_P "[site s]\napp = / p\nlisten = 127.0.0.1:8081 health_path=/h\n",
	    L(7) "listen 127.0.0.1:8081: options differ from line 2 (an address has the same options wherever it is listed)\n"),
	E("[server]\ndrain_time = 2h\n" TAIL, L(2) "drain_time: '2h' is out of range 0ms..3600000ms\n"),
	E("[server]\nlisten = 127.0.0.1:443 tls\n" TAIL, L(2) "listen 127.0.0.1:443 tls: no site on this address has a certificate\n"),
	E("[server]\nlisten = 127.0.0.1:443 tls\n" POOL_P CERT "listen = 127.0.0.1:443\n",
	    L(9) "listen 127.0.0.1:443: options differ from line 2 (an address has the same options wherever it is listed)\n"),
	E("[server]\ntls_protocols = TLSv1.2, SSLv3\n" TAIL, L(2) "tls_protocols: 'SSLv3' is not one of: TLSv1, TLSv1.1, TLSv1.2, TLSv1.3\n"),
	E("[server]\ntls_protocols = TLSv1.3, TLSv1.3\n" TAIL, L(2) "tls_protocols: TLSv1.3 is listed twice\n"),
	E("[server]\nhandshake_timeout = 0\n" TAIL, L(2) "handshake_timeout: '0' is out of range 1000ms..3600000ms\n"),
	E("[server]\ndefault_certificate = nosuch\n" POOL_P CERT, L(1) "default_certificate: no [site nosuch] (a site name or alert)\n"),
	E("[server]\ndefault_certificate = s\n" TAIL, L(1) "default_certificate: [site s] has no certificate\n"),
	E(POOL_P CERT "certificate = /c2.pem\n", L(7) "certificate /c2.pem has no certificate_key (keys pair with certificates in order)\n"),
	E(POOL_P CERT "certificate_key = /k2.pem\n", L(7) "certificate_key /k2.pem has no certificate (keys pair with certificates in order)\n"),
	E(POOL_P CERT "certificate = /c2.pem\ncertificate = /c3.pem\n", L(7) "certificate /c2.pem has no certificate_key (keys pair with certificates in order)\n"
	    L(8) "certificate: at most 2 certificates a site (an ECDSA and an RSA one)\n"),
	E(POOL_P CERT "certificate = /c.pem\n", L(7) "certificate: /c.pem is already given on line 5\n"),
	E(POOL_P "[site s]\napp = / p\nhosts = a.test\ncertificate = acme\ncertificate_key = /k.pem\n", L(7) "certificate_key: a certificate from acme has no key file\n"),
	E(POOL_P "[site s]\napp = / p\ncertificate = acme\n", L(5) "certificate = acme needs hosts (the names the certificate is for)\n"),
	E(POOL_P "[site s]\napp = / p\nhosts = a.test, *.a.test\ncertificate = acme\n",
	    L(6) "certificate = acme: *.a.test is a wildcard, which HTTP-01 cannot prove; list the names\n"),
	E("[server]\nlisten = 127.0.0.1:443 tls\n" POOL_P "[site s]\napp = / p\nhosts = a.test\ncertificate = acme\n",
	    L(8) "certificate = acme needs a cleartext listen address for the HTTP-01 challenge\n"),
	E(POOL_P CERT "certificate = acme\n", L(7) "certificate: acme and a certificate file exclude each other\n"),
	E(POOL_P CERT "client_verify = required\n", L(3) "[site s]: client_verify needs client_ca (the CAs that vouch for clients)\n"),
	E(POOL_P CERT "client_ca = /ca.pem\n", L(3) "[site s]: client_ca without client_verify = optional or required\n"),
	E(TAIL "client_ca = /ca.pem\nclient_verify = optional\n", L(3) "[site s]: client_ca needs a tls address and a certificate\n"),
	E(TAIL "https_redirect = yes\n", L(3) "[site s]: https_redirect needs a tls address and a certificate\n"),
	E(TAIL "client_verify = sometimes\n", L(5) "client_verify: 'sometimes' is not one of: off, optional, required\n"),
	E(TAIL "hsts = soon\n", L(5) "hsts: 'soon' is not off or a duration (e.g. 365d)\n"),
	E(TAIL "hsts = 365d always\n", L(5) "hsts: 'always' is not includeSubDomains or preload\n"),
	E(TAIL "hsts = 180d includeSubDomains preload\n", L(5) "hsts: preload needs includeSubDomains and at least 365d (the preload list refuses less)\n"),
	E(TAIL "hsts = 365d preload\n", L(5) "hsts: preload needs includeSubDomains and at least 365d (the preload list refuses less)\n"),
	/* the file as a whole */
	E("", PATH ": no [site] sections: nothing to serve\n"),
	E("[server]\n" POOL_P, PATH ": no [site] sections: nothing to serve\n"),
	E("[server]\nmax_request_line = 64k\n" TAIL, L(1) "max_request_line is larger than max_header_size\n"),
};

/* Valid files near the errors above: the checks must not fire on these. */
static const struct {
	int		 line;
	const char	*text;
} okcases[] = {
#define OK(text)	{ __LINE__, text }
	OK("[server] ; comment\n" TAIL),
	OK("[pool My.Pool_2-x]\ncommand = x\n[site s]\napp = / My.Pool_2-x\n"),
	OK("[server]\n  threads = 4\n" TAIL),		/* indented, nothing to continue */
	OK("[site a]\nroot = /a\nlisten = 127.0.0.1:81\n[site b]\nroot = /b\nlisten = 127.0.0.1:82\n"),
	OK("[site a]\nroot = /a\n[site b]\nroot = /b\nhosts = b\n[site c]\nroot = /c\nhosts = c, *.c\n"),
	OK("[site a]\nroot = /a\nhosts = x.com\nlisten = :81\n[site b]\nroot = /b\nhosts = x.com\nlisten = :82\n"),
	OK("[pool f]\nkind = fastcgi\ncommand = php-cgi\n[site s]\nroot = /s\nscript = .php f\n"),
	OK("[pool p]\ncommand = app\nrecycle_schedule = 00:00, 23:59\n" SITE_S),
	OK("[pool p]\ncommand = app\nrapid_fail = 1000 in 1d\n" SITE_S),
	OK("[pool p]\ncommand = app\nrapid_fail = 1 in 1s\n" SITE_S),
	OK("[pool p]\ncommand = app\nlimit_core = 18446744073709551613\n" SITE_S),
	OK("[pool p]\ncommand = app\nenv = A=1\nenv = AB=2\nenv = B=A=1\n" SITE_S),
	OK("[pool p]\ncommand = app\nuser = u\ngroup = g\n" SITE_S),
	OK("[server]\nmax_request_line = 32k\n" TAIL),
	OK("[server]\nmax_headers = 0128\n" TAIL),
	OK("[server]\nshutdown_timeout = 0\n" TAIL),
	OK("[server]\nlisten = 127.0.0.1:8081 proxy_protocol\n" TAIL),
	OK("[server]\nlisten = 127.0.0.1:443 tls proxy_protocol\n" POOL_P CERT),
	OK("[server]\nhealth_path = /-/health\ndrain_time = 0\n" TAIL),
	OK("[server]\nmax_connections = 10000000\n" TAIL),
	OK("[server]\nadmin_listen = 127.0.0.1:9000\nadmin_token = 0123456789abcdef\n" TAIL),
	OK("[server]\nadmin_listen = 127.1.2.3:9000\nadmin_token = 0123456789abcdef\n" TAIL),
	OK("[server]\nadmin_listen = [::1]:9000\nadmin_token = 0123456789abcdef\n" TAIL),
	OK("[server]\nlisten = 127.0.0.1:443 tls\nlisten = 127.0.0.1:80\n" POOL_P CERT),
	OK("[server]\nlisten = 127.0.0.1:8080\nlisten = 127.0.0.1:8081  h2c \n" TAIL),
	OK("[server]\nlisten = 127.0.0.1:443 tls alpn=http/1.1,h2\n" POOL_P CERT),
	OK("[server]\nlisten = 127.0.0.1:443  tls \ndefault_certificate = alert\n" POOL_P CERT),
	OK("[server]\nlisten = 127.0.0.1:443 tls\ndefault_certificate = s\n" POOL_P CERT "listen = 127.0.0.1:443 tls\n"),
	OK("[server]\ntls_protocols = TLSv1.3\n" POOL_P "[site s]\napp = / p\nhosts = a.test\ncertificate = acme\n"),
	OK("[server]\nlisten = 127.0.0.1:443 tls\nlisten = 127.0.0.1:80\nacme_directory = https://ca.test/dir\nacme_email = a@b.test\nacme_ca_file = /ca.pem\n" POOL_P "[site s]\napp = / p\nhosts = a.test, www.a.test\ncertificate = acme\n"),
	OK(POOL_P CERT "certificate = /r.pem\ncertificate_key = /rk.pem\n"),
	OK("[server]\nlisten = 127.0.0.1:443 tls\nlisten = 127.0.0.1:80\n" POOL_P CERT
	    "client_ca = /ca.pem\nclient_verify = optional\nhttps_redirect = yes\nhsts = 365d includeSubDomains preload\n"),
	OK(TAIL "hsts = 0\n"),		/* max-age=0 tells browsers to forget the host */
};

static void
test_errors(void)
{
	for (size_t i = 0; i < nitems(errcases); i++)
		expect_errors(errcases[i].line, errcases[i].text, strlen(errcases[i].text), 0,
		    errcases[i].want);
	for (size_t i = 0; i < nitems(okcases); i++) {
		struct conf *c = parse_ok_at(okcases[i].line, okcases[i].text);

		conf_free(c);
	}
	/* names: 1..64 characters */
	{
		char name[80], text[512], want[512];
		struct conf *c;

		memset(name, 'n', sizeof(name));
		name[64] = '\0';
		snprintf(text, sizeof(text), "[pool %s]\ncommand = x\n[site s]\napp = / %s\n",
		    name, name);
		c = parse_ok(text);
		if (c != NULL)
			CHECK_INT(strlen(c->pools[0].name), 64);
		conf_free(c);
		name[64] = 'n';
		name[65] = '\0';
		snprintf(text, sizeof(text), "[pool %s]\ncommand = x\n" TAIL, name);
		snprintf(want, sizeof(want),
		    L(1) "[pool %s]: name must be 1..64 of A-Z a-z 0-9 _ - .\n", name);
		expect_errors(__LINE__, text, strlen(text), 0, want);
	}
}

/*
 * One file, many errors: every one is reported, in line order, whether it
 * was found while reading (a bad value) or by the cross-checks at the end
 * (reported at its section's line); errors about the whole file come last.
 */
static void
test_all_errors(void)
{
	static const char text[] =
	    "listen = :80\n"				/*  1 outside */
	    "[server]\n"				/*  2 */
	    "threads = many\n"				/*  3 bad value */
	    "colour = red\n"				/*  4 unknown key */
	    "threads = 2\n"				/*  5 twice */
	    "max_request_line = 64k\n"			/*  6 (cross-check at 2) */
	    "[pool a]\n"				/*  7 needs command */
	    "processes = 0\n"				/*  8 range */
	    "ping_path = x\n"				/*  9 (cross-check at 7) */
	    "[pool a]\n"				/* 10 twice */
	    "command = ignored\n"			/* 11 */
	    "[site s]\n"				/* 12 */
	    "app = /api nopool\n"			/* 13 (cross-check) */
	    "just words\n"				/* 14 no '=' */
	    "index = a/b\n"				/* 15 (cross-check at 12) */
	    "[site t]\n"				/* 16 two defaults (cross-check) */
	    "root = /t\n"				/* 17 */
	    "symlinks = sometimes\n";			/* 18 bad enum */

	expect_errors(__LINE__, R2(text), 0,
	    L(1) "'listen' outside of any section\n"
	    L(2) "max_request_line is larger than max_header_size\n"
	    L(3) "threads: 'many' is not auto or a number in 1..256\n"
	    L(4) "unknown key 'colour' in [server]\n"
	    L(5) "threads: given twice in this section (first on line 3)\n"
	    L(7) "[pool a]: needs command (a program weir starts) or address (an upstream it does not)\n"
	    L(7) "[pool a]: ping_path must start with '/'\n"
	    L(8) "processes: '0' is out of range 1..256\n"
	    L(10) "[pool a] given twice (first on line 7)\n"
	    L(12) "[site s]: index 'a/b' must be a file name\n"
	    L(13) "app /api: no [pool nopool]\n"
	    L(14) "expected 'key = value'\n"
	    L(16) "[site t]: sites s and t are both the default for the same address (give one of them hosts)\n"
	    L(18) "symlinks: 'sometimes' is not one of: within-root, follow, refuse, owner\n");

	/* a line with no line number sorts last */
	expect_errors(__LINE__, R2("[server]\nthreads = 0\n[pool p]\n"), 0,
	    L(2) "threads: '0' is not auto or a number in 1..256\n"
	    L(3) "[pool p]: needs command (a program weir starts) or address (an upstream it does not)\n"
	    PATH ": no [site] sections: nothing to serve\n");
}

/* --- CONF_CHECK_FS and conf_load() ----------------------------------------------- */

static void
write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECKF(fd != -1, "open %s", path);
	if (fd == -1)
		return;
	CHECK(write_full(fd, text, strlen(text)) == 0);
	close(fd);
}

static void
test_fs(void)
{
	char dir[] = "/tmp/weir-test-conf.XXXXXX";
	char path[PATH_MAX], text[2048], want[2048];
	struct conf_errors e = { NULL, 0 };
	struct conf *c;

	if (mkdtemp(dir) == NULL) {
		CHECKF(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/www", dir);
	CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/file", dir);
	write_text(path, "x");

	/* an existing root, absolute and relative */
	snprintf(text, sizeof(text), "[site a]\nroot = %s/www\n[site b]\nroot = www\nhosts = b\n", dir);
	snprintf(path, sizeof(path), "%s/weir.conf", dir);
	c = parse_flags(path, text, strlen(text), CONF_CHECK_FS, &e);
	CHECKF(c != NULL && e.n == 0, "existing roots: %s", e.n ? e.msg[0] : "");
	if (c != NULL) {
		snprintf(want, sizeof(want), "%s/www", dir);
		CHECK_STR(c->sites[1].root, want);
		conf_free(c);
	}
	conf_errors_clear(&e);

	/* missing, a file, relative to the config's directory */
	snprintf(text, sizeof(text), "[site a]\nroot = missing\n[site b]\nroot = %s/file\nhosts = b\n"
	    "[site c]\nroot = www/\nhosts = c\n", dir);
	c = parse_flags(path, text, strlen(text), CONF_CHECK_FS, &e);
	snprintf(want, sizeof(want),
	    "%s:1: [site a]: root %s/missing: No such file or directory\n"
	    "%s:3: [site b]: root %s/file is not a directory\n", path, dir, path, dir);
	{
		char *all = joined(&e);

		CHECK(c == NULL);
		CHECKF(strcmp(all, want) == 0, "--- got\n%s--- want\n%s", all, want);
		free(all);
	}
	conf_free(c);
	conf_errors_clear(&e);
	/* without CONF_CHECK_FS the same file is fine */
	c = parse_flags(path, text, strlen(text), 0, &e);
	CHECK(c != NULL && e.n == 0);
	conf_free(c);
	conf_errors_clear(&e);

	/* conf_load: reads the file, resolves paths against its directory */
	write_text(path, "[server]\nlog_dir = logs\n[site a]\nroot = www\n");
	c = conf_load(path, CONF_CHECK_FS, &e);
	CHECKF(c != NULL && e.n == 0, "conf_load: %s", e.n ? e.msg[0] : "");
	if (c != NULL) {
		CHECK_STR(c->path, path);
		CHECK_STR(c->dir, dir);
		snprintf(want, sizeof(want), "%s/logs", dir);
		CHECK_STR(c->server.log_dir, want);
		conf_free(c);
	}
	conf_errors_clear(&e);
	/* conf_load: errors carry the path as given */
	write_text(path, "[site a]\nroot = www\nbogus = 1\n");
	c = conf_load(path, 0, &e);
	CHECK(c == NULL);
	CHECK_INT(e.n, 1);
	if (e.n == 1) {
		snprintf(want, sizeof(want), "%s:3: unknown key 'bogus' in [site]", path);
		CHECK_STR(e.msg[0], want);
	}
	conf_errors_clear(&e);
	/* conf_load: a missing file and a directory are one error each */
	snprintf(path, sizeof(path), "%s/nope.conf", dir);
	c = conf_load(path, 0, &e);
	CHECK(c == NULL);
	CHECK_INT(e.n, 1);
	if (e.n == 1) {
		snprintf(want, sizeof(want), "%s: No such file or directory", path);
		CHECK_STR(e.msg[0], want);
	}
	conf_errors_clear(&e);
	snprintf(path, sizeof(path), "%s/www", dir);
	c = conf_load(path, 0, &e);
	CHECK(c == NULL);
	CHECK_INT(e.n, 1);
	if (e.n == 1) {
		snprintf(want, sizeof(want), "%s: not a regular file", path);
		CHECK_STR(e.msg[0], want);
	}
	conf_errors_clear(&e);

	/* clean up */
	snprintf(path, sizeof(path), "%s/weir.conf", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/file", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/www", dir);
	rmdir(path);
	CHECK(rmdir(dir) == 0);
}

/* --- conf_split_command ------------------------------------------------------------ */

static const struct {
	const char	*cmd;
	const char	*want;		/* words joined by '|', or NULL for an error */
	const char	*err;
} splits[] = {
	{ "app",				"app",			NULL },
	{ "a b  c",				"a|b|c",		NULL },
	{ "  lead\ttab  trail  ",		"lead|tab|trail",	NULL },
	{ "'a b' c",				"a b|c",		NULL },
	{ "\"a b\" c",				"a b|c",		NULL },
	{ "x'y'z\"w\"",				"xyzw",			NULL },
	{ "prog ''",				"prog|",		NULL },	/* an empty argument */
	{ "prog \"\" x",			"prog||x",		NULL },
	{ "a\\ b",				"a b",			NULL },
	{ "\\'a",				"'a",			NULL },
	{ "'it'\\''s'",				"it's",			NULL },
	{ "\"x\\\"y\"",				"x\"y",			NULL },
	{ "\"a\\\\b\"",				"a\\b",			NULL },
	{ "\"a\\nb\"",				"a\\nb",		NULL },	/* other escapes stay */
	{ "'a\\nb'",				"a\\nb",		NULL },	/* nothing escapes in '' */
	{ "\"\\$HOME\" \"\\`id\\`\"",		"$HOME|`id`",		NULL },
	/* no expansion of any kind */
	{ "echo $HOME",				"echo|$HOME",		NULL },
	{ "echo \"$HOME\" '$HOME' ${X}",	"echo|$HOME|$HOME|${X}", NULL },
	{ "ls *.py ~ `id` $(id) a;b a>b a&b",	"ls|*.py|~|`id`|$(id)|a;b|a>b|a&b", NULL },
	{ "python3 -c 'print(\"hi there\")'",	"python3|-c|print(\"hi there\")", NULL },
	{ "",					NULL,	"empty command" },
	{ " \t ",				NULL,	"empty command" },
	{ "'abc",				NULL,	"unterminated ' quote" },
	{ "a \"abc",				NULL,	"unterminated \" quote" },
	{ "\"abc\\\"",				NULL,	"unterminated \" quote" },
	{ "abc\\",				NULL,	"trailing backslash" },
};

static void
test_split(void)
{
	for (size_t i = 0; i < nitems(splits); i++) {
		char err[WEIR_ERRLEN] = "", got[512] = "";
		char **argv = NULL;
		int rc = conf_split_command(splits[i].cmd, &argv, err);

		if (splits[i].want == NULL) {
			CHECKF(rc == -1, "split [%s]: accepted", splits[i].cmd);
			CHECKF(strcmp(err, splits[i].err) == 0, "split [%s]: error \"%s\"",
			    splits[i].cmd, err);
			continue;
		}
		CHECKF(rc == 0, "split [%s]: %s", splits[i].cmd, err);
		if (rc != 0)
			continue;
		for (char **a = argv; *a != NULL; a++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
			    a == argv ? "" : "|", *a);
		CHECKF(strcmp(got, splits[i].want) == 0, "split [%s]: [%s], want [%s]",
		    splits[i].cmd, got, splits[i].want);
		conf_argv_free(argv);
	}
	conf_argv_free(NULL);
}

/* --- conf_duration and conf_size ----------------------------------------------------- */

#define BAD	UINT64_C(0xdeadbeefdeadbeef)	/* expected: rejected */

static const struct { const char *s; uint64_t ms; } durations[] = {
	{ "0", 0 }, { "0ms", 0 }, { "1ms", 1 }, { "250ms", 250 }, { "30s", 30000 },
	{ "45", 45000 }, { "5m", 300000 }, { "29h", 104400000 }, { "1d", 86400000 },
	{ "007s", 7000 },
	{ "18446744073709551615ms", UINT64_MAX },
	{ "18446744073709551s", 18446744073709551000ULL },
	{ "213503982334d", 213503982334ULL * 86400000ULL },
	{ "5124095576030h", 5124095576030ULL * 3600000ULL },
	/* overflow */
	{ "18446744073709551616ms", BAD },
	{ "99999999999999999999999", BAD },
	{ "18446744073709552s", BAD },
	{ "213503982335d", BAD },
	{ "5124095576031h", BAD },
	/* not durations */
	{ "", BAD }, { "s", BAD }, { "ms", BAD }, { "-1s", BAD }, { "+1s", BAD },
	{ "1.5s", BAD }, { "5M", BAD }, { "5S", BAD }, { "5 m", BAD }, { " 5s", BAD },
	{ "5s ", BAD }, { "1w", BAD }, { "1y", BAD }, { "5sec", BAD }, { "1h30m", BAD },
	{ "0x10", BAD }, { "1e3", BAD },
};

static const struct { const char *s; uint64_t b; } sizes[] = {
	{ "0", 0 }, { "512", 512 }, { "64k", 65536 }, { "64K", 65536 }, { "64kb", 65536 },
	{ "64KB", 65536 }, { "16M", 16777216 }, { "16m", 16777216 }, { "16MB", 16777216 },
	{ "2G", 2147483648ULL }, { "2GB", 2147483648ULL }, { "2gB", 2147483648ULL },
	{ "18446744073709551615", UINT64_MAX },
	{ "18014398509481983k", 18014398509481983ULL * 1024 },
	{ "17179869183G", 17179869183ULL << 30 },
	{ "17592186044415M", 17592186044415ULL << 20 },
	/* overflow */
	{ "18446744073709551616", BAD },
	{ "18014398509481984k", BAD },
	{ "17592186044416M", BAD },
	{ "17179869184G", BAD },
	{ "17179869184GB", BAD },
	/* not sizes */
	{ "", BAD }, { "k", BAD }, { "-1", BAD }, { "+1", BAD }, { "1.5M", BAD },
	{ "1T", BAD }, { "1B", BAD }, { "2GiB", BAD }, { "2GBB", BAD }, { "16 M", BAD },
	{ " 16M", BAD }, { "16M ", BAD }, { "1kk", BAD }, { "0x10", BAD },
};

/* CONF_PEEK: the CLI still finds state_dir in a file with errors. */
static void
test_peek(void)
{
	struct conf_errors e = { NULL, 0 };
	const char *t = "[server]\nbogus = 1\nstate_dir = /srv/weir/run\nthreads = lots\n"
	    "[pool p]\ncommand = /bin/true\nprocesses = 0\n";
	struct conf *c = parse_flags("/x/w.conf", t, strlen(t), 0, &e);

	CHECK(c == NULL && e.n == 4);	/* with "no [site] sections" */
	conf_errors_clear(&e);
	c = parse_flags("/x/w.conf", t, strlen(t), CONF_PEEK, &e);
	CHECK(c != NULL && e.n == 4);	/* still listed */
	if (c != NULL)
		CHECK_STR(c->server.state_dir, "/srv/weir/run");
	conf_free(c);
	conf_errors_clear(&e);
	/* a bad state_dir line: unknown, not a guess */
	t = "[server]\nstate_dir =\n[site s]\nroot = /\n";
	c = parse_flags("/x/w.conf", t, strlen(t), CONF_PEEK, &e);
	CHECK(c != NULL && e.n == 1);
	if (c != NULL)
		CHECK(c->server.state_dir == NULL);
	conf_free(c);
	conf_errors_clear(&e);
}

static void
test_numbers(void)
{
	for (size_t i = 0; i < nitems(durations); i++) {
		uint64_t v = BAD;
		int rc = conf_duration(durations[i].s, &v);

		if (durations[i].ms == BAD)
			CHECKF(rc == -1, "conf_duration(\"%s\") accepted: %llu", durations[i].s,
			    (unsigned long long)v);
		else
			CHECKF(rc == 0 && v == durations[i].ms, "conf_duration(\"%s\"): rc %d, %llu",
			    durations[i].s, rc, (unsigned long long)v);
	}
	for (size_t i = 0; i < nitems(sizes); i++) {
		uint64_t v = BAD;
		int rc = conf_size(sizes[i].s, &v);

		if (sizes[i].b == BAD)
			CHECKF(rc == -1, "conf_size(\"%s\") accepted: %llu", sizes[i].s,
			    (unsigned long long)v);
		else
			CHECKF(rc == 0 && v == sizes[i].b, "conf_size(\"%s\"): rc %d, %llu",
			    sizes[i].s, rc, (unsigned long long)v);
	}
}

/*
 * Every [server] key says what a reload does with it: applied (CK_RELOAD)
 * or refused (CK_RESTART), exactly one; other sections' keys say neither.
 * A new [server] key without one fails here.  And conf_value_text() names
 * values so that equal settings give equal texts.
 */
static void
test_reload_flags(void)
{
	struct conf *a, *b;

	for (size_t i = 0; i < conf_nkeys; i++) {
		const struct conf_key *k = &conf_keys[i];
		unsigned f = k->flags & (CK_RELOAD | CK_RESTART);

		if (k->section == CS_SERVER)
			CHECKF(f == CK_RELOAD || f == CK_RESTART,
			    "[server] %s: neither or both of CK_RELOAD and CK_RESTART", k->name);
		else
			CHECKF(f == 0, "%s: CK_RELOAD/CK_RESTART outside [server]", k->name);
	}
	a = parse_ok("[server]\nlisten = 127.0.0.1:1\nlisten = 127.0.0.1:2\n"
	    "threads = 2\nuser = u\n[site s]\nroot = /srv\n");
	b = parse_ok("[server]\nthreads = auto\n[site s]\nroot = /srv\n");
	if (a != NULL && b != NULL) {
		static const struct { const char *key, *a, *b; } want[] = {
			{ "listen", "127.0.0.1:1, 127.0.0.1:2", "127.0.0.1:8080" },
			{ "threads", "2", "auto" },
			{ "user", "u", "(none)" },
			{ "state_dir", "/etc/weir/run", "/etc/weir/run" },
			{ "access_log", "w3c", "w3c" },
			{ "syslog", "yes", "yes" },
			{ "header_timeout", "30000ms", "30000ms" },
			{ "max_body", "31457280", "31457280" },
			{ "max_headers", "100", "100" },
		};

		for (size_t i = 0; i < nitems(want); i++) {
			size_t idx;
			const struct conf_key *k = find_key(CS_SERVER, want[i].key, &idx);
			char ta[256], tb[256];

			CHECK(k != NULL);
			if (k == NULL)
				continue;
			conf_value_text(k, &a->server, ta, sizeof(ta));
			conf_value_text(k, &b->server, tb, sizeof(tb));
			CHECK_STR(ta, want[i].a);
			CHECK_STR(tb, want[i].b);
		}
	}
	conf_free(a);
	conf_free(b);
}

/* The routing keys of a site, parsed: app options, rules in order, aliases. */
static void
test_routing(void)
{
	struct conf *c = parse_ok(
	    "[pool f]\ncommand = php-cgi\nkind = fastcgi\n[pool h]\ncommand = app\n"
	    "[site s]\nroot = /srv/s\nscript = .php f\nfallback = /index.php\n"
	    "app = /shop f /index.php strip_prefix\napp = /api/ h strip_prefix\napp = /b f\n"
	    "rewrite = ^/a/(.*)$ /b/$1 last\nreturn = ^/g 410\nrewrite = ^/c$ /d\n"
	    "return = ^/o/(.*)$ 301 https://x.example/$1\nalias = /static/ static\n");

	if (c == NULL)
		return;
	{
		const struct conf_site *st = &c->sites[0];

		CHECK_INT(st->napps, 3);
		CHECK_STR(st->apps[0].script, "/index.php");
		CHECK(st->apps[0].strip_prefix);
		CHECK_STR(st->apps[1].prefix, "/api");
		CHECK(st->apps[1].script == NULL && st->apps[1].strip_prefix);
		CHECK(st->apps[2].script == NULL && !st->apps[2].strip_prefix);
		CHECK_STR(st->fallback, "/index.php");
		CHECK_INT(st->nrewrites, 4);
		CHECK_INT(st->rewrites[0].flag, RW_LAST);
		CHECK_STR(st->rewrites[0].repl, "/b/$1");
		CHECK(st->rewrites[0].code != NULL);
		CHECK_INT(st->rewrites[1].flag, RW_RETURN);
		CHECK_INT(st->rewrites[1].status, 410);
		CHECK_STR(st->rewrites[1].repl, "");
		CHECK_INT(st->rewrites[2].flag, RW_NEXT);
		CHECK_INT(st->rewrites[3].status, 301);
		CHECK_STR(st->rewrites[3].repl, "https://x.example/$1");
		CHECK_INT(st->naliases, 1);
		CHECK_STR(st->aliases[0].prefix, "/static");
		CHECK_STR(st->aliases[0].dir, "/etc/weir/static");	/* relative to the file's directory */
	}
	conf_free(c);
}

/* listen ... health_path=: the address's own health check, else the server's. */
static void
test_listen_health_path(void)
{
	struct conf *c = parse_ok("[server]\nlisten = 127.0.0.1:8081 health_path=/lb\n"
	    "listen = 127.0.0.1:8082\nhealth_path = /h\n" TAIL);

	if (c != NULL) {
		CHECK_INT(c->server.listen.n, 2);
		CHECK_STR(conf_listen_health_path(c, &c->server.listen.v[0]), "/lb");
		CHECK_STR(conf_listen_health_path(c, &c->server.listen.v[1]), "/h");
		CHECK(conf_has_health_path(c));
	}
	conf_free(c);
	c = parse_ok("[server]\nlisten = 127.0.0.1:8082\n" POOL_P
	    "[site s]\napp = / p\nlisten = 127.0.0.1:8081 health_path=/lb\n");
	if (c != NULL) {
		CHECK(c->server.health_path == NULL);
		CHECK(conf_listen_health_path(c, &c->server.listen.v[0]) == NULL);
		CHECK(conf_has_health_path(c));	/* a site's address has one: a stop drains */
	}
	conf_free(c);
	c = parse_ok("[server]\nlisten = 127.0.0.1:8082\n" TAIL);
	if (c != NULL)
		CHECK(!conf_has_health_path(c));
	conf_free(c);
}

int
main(void)
{
	test_routing();
	test_listen_health_path();
	test_table();
	test_reload_flags();
	test_defaults();
	test_types();
	test_syntax();
	test_errors();
	test_all_errors();
	test_fs();
	test_split();
	test_numbers();
	test_peek();
	{
		/* a long command over continuation lines */
		struct conf_errors e = { NULL, 0 };
		const char *t = "[pool p]\ncommand = /bin/prog --one\n    --two\n\t--three\n"
		    "[site s]\napp = / p\n";
		struct conf *c = conf_parse_text("/x/w.conf", t, strlen(t), 0, &e);

		CHECK(c != NULL);
		if (c != NULL)
			CHECK_STR(c->pools[0].command, "/bin/prog --one --two --three");
		conf_free(c);
		conf_errors_clear(&e);
	}
	return unit_done("test_conf");
}
