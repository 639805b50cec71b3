/*
 * test_logfiles.c - the pool log (poollog.c) and what the master makes of a
 * line the front end sends (logfiles.c, CTL_POOL_LOG):
 *   - "TIME [who] text" records; a front-end line is cut at the first NUL or
 *     the end of the buffer, line breaks and control characters become
 *     spaces, and it is dropped when the pool index or generation is wrong;
 *   - a worker's output cut into lines, a long line into pieces marked with
 *     '+' (never an empty continuation for a line that fills a piece);
 *   - rotation: every file within pool_log_max_size, pool_log_keep kept;
 *   - output that cannot be written is counted and reported in the log.
 */
#include "../unit.h"
#include "../../../src/master/logfiles.c"
#include "../../../src/master/poollog.c"
#include "../../../src/master/events.c"

/* time_iso8601, write_full, the loop and the log functions, standalone. */
#include "../../../src/common/util.c"
#include "../../../src/common/linetail.c"
#include "../../../src/common/log.c"
#include "../../../src/common/loop.c"

#include <stdlib.h>

struct lcase {
	const char	*name;
	const char	*in;		/* payload line (NUL-terminated here) */
	const char	*want;		/* what follows "[fe] ", without the newline */
};

static const struct lcase cases[] = {
	{ "plain",	"GET /index.php: PHP Warning: x", "GET /index.php: PHP Warning: x" },
	{ "trailing newline", "line\n", "line" },
	{ "trailing CRLF", "line\r\n", "line" },
	{ "inner newline", "a\nb", "a b" },
	{ "forged entry", "x\n2026-01-01T00:00:00Z [1] y", "x 2026-01-01T00:00:00Z [1] y" },
	{ "escape and DEL", "a\033[31mb\177c", "a [31mb c" },
	{ "tab", "a\tb", "a b" },
	{ "utf-8 kept", "caf\xc3\xa9", "caf\xc3\xa9" },
	{ "empty", "", "" },
};

static char dir[] = "/tmp/weir-test-logfiles-XXXXXX";
static struct conf conf;

/* A file's content, NUL-terminated (malloc'd), or NULL if it does not exist. */
static char *
slurp_path(const char *path, size_t *len)
{
	char err[WEIR_ERRLEN];

	return read_file(path, 1 << 26, len, err);
}

static char *
slurp_log(struct pool *p)
{
	size_t len;

	poollog_flush(p);
	return slurp_path(p->log.path, &len);
}

/* A master with one pool "t" whose log is log_dir/pools/t.log, new. */
static void
setup(struct master *m, struct pool *p, struct pool **pools)
{
	char path[4200];

	memset(p, 0, sizeof(*p));
	pools[0] = p;
	m->pools = pools;
	m->npools = 1;
	m->generation = 7;
	m->conf = &conf;
	p->m = m;
	wstrlcpy(p->name, "t", sizeof(p->name));
	for (unsigned k = 0; k <= 5; k++) {
		snprintf(path, sizeof(path), "%s/pools/t.log%s%.0u", dir, k ? "." : "", k);
		(void)unlink(path);
	}
	poollog_open(p);
}

static void
teardown(struct pool *p)
{
	poollog_close(p);
}

/* Count the records of a log text whose prefix is "[who] " or "[who]+ ". */
static void
count_records(const char *text, const char *who, size_t *first, size_t *cont,
    size_t *bytes)
{
	char tag[32], ctag[32];
	const char *s = text;

	snprintf(tag, sizeof(tag), " [%s] ", who);
	snprintf(ctag, sizeof(ctag), " [%s]+ ", who);
	*first = *cont = *bytes = 0;
	while (s != NULL && *s != '\0') {
		const char *e = strchr(s, '\n'), *t;

		if (e == NULL)
			break;
		if ((t = strstr(s, tag)) != NULL && t < e) {
			(*first)++;
			*bytes += (size_t)(e - (t + strlen(tag)));
		} else if ((t = strstr(s, ctag)) != NULL && t < e) {
			(*cont)++;
			*bytes += (size_t)(e - (t + strlen(ctag)));
		}
		s = e + 1;
	}
}

static void
test_fe_lines(struct master *m, struct pool *p, struct pool **pools)
{
	struct ctl_pool_log pl;
	char *got;

	for (size_t i = 0; i < nitems(cases); i++) {
		char *tag;

		setup(m, p, pools);
		memset(&pl, 0, sizeof(pl));
		pl.pool = 0;
		pl.generation = 7;
		wstrlcpy(pl.line, cases[i].in, sizeof(pl.line));
		logfile_fe_line(m, &pl);
		got = slurp_log(p);
		tag = got != NULL ? (char *)strstr(got, " [fe] ") : NULL;
		CHECKF(tag != NULL && got[0] == '2', "%s: prefix in '%s'", cases[i].name, got);
		if (tag != NULL) {
			size_t n = strlen(tag + 6);

			CHECKF(n > 0 && tag[6 + n - 1] == '\n' && strchr(tag + 6, '\n') == tag + 6 + n - 1,
			    "%s: one line", cases[i].name);
			tag[6 + n - 1] = '\0';
			CHECKF(strcmp(tag + 6, cases[i].want) == 0, "%s: got '%s'", cases[i].name, tag + 6);
		}
		free(got);
		teardown(p);
	}

	/* a line that fills the buffer with no NUL: cut, never read past */
	setup(m, p, pools);
	memset(&pl, 'x', sizeof(pl));
	pl.pool = 0;
	pl.generation = 7;
	logfile_fe_line(m, &pl);
	got = slurp_log(p);
	/* 1023 bytes of text and the newline */
	CHECK(got != NULL && strstr(got, " [fe] ") != NULL &&
	    strlen(strstr(got, " [fe] ") + 6) == sizeof(pl.line));
	free(got);
	teardown(p);

	/* wrong generation, pool out of range, negative: nothing written */
	{
		const int32_t idx[] = { 0, 1, -1 };
		const uint32_t gen[] = { 6, 7, 7 };

		for (size_t i = 0; i < nitems(idx); i++) {
			setup(m, p, pools);
			memset(&pl, 0, sizeof(pl));
			pl.pool = idx[i];
			pl.generation = gen[i];
			wstrlcpy(pl.line, "dropped", sizeof(pl.line));
			logfile_fe_line(m, &pl);
			poollog_flush(p);
			CHECKF(p->log.size == 0, "case %zu: written", i);
			teardown(p);
		}
	}
}

/* Feed a worker's output in chunks of `chunk` bytes. */
static void
feed(struct worker *w, const char *s, size_t n, size_t chunk)
{
	for (size_t off = 0; off < n; off += chunk)
		take(w, s + off, WEIR_MIN(chunk, n - off));
}

static void
test_worker_lines(struct master *m, struct pool *p, struct pool **pools)
{
	const size_t piece = POOLLOG_PIECE, chunks[] = { 1, 4096, 100000 };

	for (size_t c = 0; c < nitems(chunks); c++) {
		struct worker w;
		size_t n = 2 * piece + 1000, first, cont, bytes;
		char *out = malloc(n + 64), *got;

		/* a long line, a line of exactly one piece, a short one */
		memset(out, 'x', n);
		memcpy(out + n, "\n", 1);
		setup(m, p, pools);
		memset(&w, 0, sizeof(w));
		w.pool = p;
		w.pid = 1234;
		feed(&w, out, n + 1, chunks[c]);
		memset(out, 'y', piece);
		out[piece] = '\n';
		feed(&w, out, piece + 1, chunks[c]);
		feed(&w, "END\r\n", 5, chunks[c]);
		got = slurp_log(p);
		count_records(got, "1234", &first, &cont, &bytes);
		CHECKF(first == 3 && cont == 2, "chunk %zu: %zu lines, %zu continuations",
		    chunks[c], first, cont);
		CHECKF(bytes == n + piece + 3, "chunk %zu: %zu bytes of text", chunks[c], bytes);
		CHECKF(strstr(got, "[1234] END\n") != NULL, "chunk %zu: CR dropped", chunks[c]);
		/* the tail has the first piece of each line, cut to 1 KiB */
		CHECK(w.tail.line[0] != NULL && strlen(w.tail.line[0]) == LINETAIL_LINE);
		CHECK(w.tail.line[2] != NULL && strcmp(w.tail.line[2], "END") == 0 &&
		    w.tail.line[3] == NULL);
		linering_clear(&w.tail);
		free(got);
		free(out);
		teardown(p);
	}
}

static void
test_rotation(struct master *m, struct pool *p, struct pool **pools)
{
	char line[200], path[4200];
	struct stat st;

	conf.server.pool_log_max_size = 64 * 1024;
	conf.server.pool_log_keep = 2;
	setup(m, p, pools);
	memset(line, 'r', sizeof(line));
	for (int i = 0; i < 2000; i++) {
		poollog_line(p, "99", false, line, sizeof(line));
		if (i % 7 == 0)
			poollog_flush(p);
	}
	poollog_flush(p);
	for (unsigned k = 0; k <= 3; k++) {
		snprintf(path, sizeof(path), "%s%s%.0u", p->log.path, k ? "." : "", k);
		if (k == 3) {
			CHECKF(stat(path, &st) == -1, "%s kept beyond pool_log_keep", path);
			continue;
		}
		CHECKF(stat(path, &st) == 0, "%s missing", path);
		CHECKF(st.st_size <= 64 * 1024 && st.st_size > 0, "%s: %lld bytes",
		    path, (long long)st.st_size);
		/* whole records only: a file ends with a line end */
		if (st.st_size > 0) {
			size_t len;
			char *t = slurp_path(path, &len);

			CHECK(t != NULL && t[len - 1] == '\n');
			free(t);
		}
	}
	teardown(p);
	conf.server.pool_log_max_size = 10 * 1024 * 1024;
	conf.server.pool_log_keep = 5;
}

/*
 * A log that cannot be written: the bytes are counted, event 1313 (the
 * timer, armed by the drop) says so, and so does the log once it works.
 */
static int ev_count;
static json_t *ev_last;

static void
ev_hook(const char *line, size_t n, json_t *ev, void *arg)
{
	(void)line;
	(void)n;
	(void)arg;
	ev_count++;
	json_decref(ev_last);
	ev_last = json_incref(ev);
}

static void
test_drops(struct master *m, struct pool *p, struct pool **pools)
{
	char *got;

	events_set_hook(ev_hook, NULL);
	setup(m, p, pools);
	close(p->log.fd);
	p->log.fd = -1;
	poollog_line(p, "5", false, "lost", 4);
	poollog_flush(p);
	CHECK(p->log.dropped_total > 0 && p->log.dropped == p->log.dropped_total &&
	    p->log.unnoted == p->log.dropped);
	CHECK(p->log.report_timer.idx != SIZE_MAX);	/* the event is on its way */
	report_cb(p);
	CHECK(ev_count == 1 && ev_last != NULL &&
	    json_integer_value(json_object_get(ev_last, "id")) == 1313 &&
	    (uint64_t)json_integer_value(json_object_get(ev_last, "dropped_bytes")) ==
	    p->log.dropped_total &&
	    strcmp(json_string_value(json_object_get(ev_last, "reason")),
	    "the log file could not be opened") == 0);
	CHECK(p->log.dropped == 0 && p->log.unnoted > 0);
	report_cb(p);		/* nothing new: no event */
	CHECK(ev_count == 1);
	/* the file is back (SIGUSR1): the next flush notes what was lost */
	poollog_reopen(p);
	poollog_line(p, "5", false, "kept", 4);
	poollog_flush(p);
	got = slurp_log(p);
	CHECK(got != NULL && strstr(got, "[5] kept\n") != NULL && strstr(got, "lost") == NULL);
	CHECKF(got != NULL && strstr(got, "[weir] ") != NULL &&
	    strstr(got, " bytes of output dropped: the log file could not be opened\n") != NULL,
	    "no drop note in '%s'", got);
	CHECK(p->log.unnoted == 0 && p->log.dropped_total > 0);
	free(got);
	teardown(p);

	/* this second's write time used up: dropped, the next second writes */
	setup(m, p, pools);
	p->log.window_start = mono_ns();
	p->log.window_ns = POOLLOG_WRITE_MS * 1000000ULL;
	poollog_line(p, "6", false, "too fast", 8);
	poollog_flush(p);
	CHECK(p->log.size == 0 && p->log.unnoted > 0 &&
	    strcmp(p->log.drop_why, "the disk did not keep up") == 0);
	p->log.window_start -= 1000000000ULL;
	poollog_line(p, "6", false, "later", 5);
	poollog_flush(p);
	got = slurp_log(p);
	CHECK(got != NULL && strstr(got, "[6] later\n") != NULL &&
	    strstr(got, " bytes of output dropped: the disk did not keep up\n") != NULL &&
	    strstr(got, "too fast") == NULL);
	free(got);
	teardown(p);
	json_decref(ev_last);
	ev_last = NULL;
	events_set_hook(NULL, NULL);
}

int
main(void)
{
	struct master m;
	struct pool p, *pools[1];
	char err[WEIR_ERRLEN], path[4200];

	log_set_level(LOG_L_WARN);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/pools", dir);
	if (mkdir(path, 0700) == -1)
		return 1;
	memset(&m, 0, sizeof(m));
	if ((m.loop = loop_new(err)) == NULL)
		return 1;
	conf.server.log_dir = dir;
	conf.server.pool_log_max_size = 10 * 1024 * 1024;
	conf.server.pool_log_keep = 5;
	test_fe_lines(&m, &p, pools);
	test_worker_lines(&m, &p, pools);
	test_rotation(&m, &p, pools);
	test_drops(&m, &p, pools);
	loop_free(m.loop);
	for (unsigned k = 0; k <= 5; k++) {
		snprintf(path, sizeof(path), "%s/pools/t.log%s%.0u", dir, k ? "." : "", k);
		(void)unlink(path);
	}
	snprintf(path, sizeof(path), "%s/pools", dir);
	(void)rmdir(path);
	(void)rmdir(dir);
	return unit_done("test_logfiles");
}
