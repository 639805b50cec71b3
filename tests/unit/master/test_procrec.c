/*
 * test_procrec.c - the process records under state_dir: /proc/PID/stat
 * parsed (comm may hold spaces and ')'), one record a line (formatted and
 * parsed back, malformed lines refused), and the file written atomically
 * and read back, dropped when it comes from another boot.
 */
#include "../unit.h"
#include "../../../src/master/procrec.c"

/* wstrlcpy, xmalloc, write_full ... standalone. */
#include "../../../src/common/util.c"
#include "../../../src/common/log.c"

#include <stdlib.h>

struct scase {
	const char	*name;
	const char	*in;
	int		 rc;
	pid_t		 pid, ppid, pgrp, session;
	char		 state;
	unsigned long long start;
};

#define TAIL	" 0 -1 4194560 1203 0 0 0 7 3 0 0 20 0 1 0 "
static const struct scase scases[] = {
	{ "plain", "1234 (python3) S 1 1234 1234" TAIL "987654 1000 200 18446744073709551615\n",
	    0, 1234, 1, 1234, 1234, 'S', 987654 },
	{ "comm with spaces and parens", "77 (a) b (c)) T 5 6 7" TAIL "42 1 2\n",
	    0, 77, 5, 6, 7, 'T', 42 },
	{ "zombie", "9 (x) Z 1 9 9" TAIL "5\n", 0, 9, 1, 9, 9, 'Z', 5 },
	{ "no newline at the end", "9 (x) R 1 2 3" TAIL "6", 0, 9, 1, 2, 3, 'R', 6 },
	{ "cut before starttime", "9 (x) R 1 2 3 0 -1 4194560", -1, 0, 0, 0, 0, 0, 0 },
	{ "no parenthesis", "9 x R 1 2 3" TAIL "6", -1, 0, 0, 0, 0, 0, 0 },
	{ "not a pid", "x (x) R 1 2 3" TAIL "6", -1, 0, 0, 0, 0, 0, 0 },
	{ "letters in a number", "9 (x) R 1 2a 3" TAIL "6", -1, 0, 0, 0, 0, 0, 0 },
	{ "empty", "", -1, 0, 0, 0, 0, 0, 0 },
};

struct lcase {
	const char	*name;
	const char	*line;
	int		 rc;
	const char	*kind;
	pid_t		 pid;
	unsigned long long start;
	const char	*pool, *command;
};

static const struct lcase lcases[] = {
	{ "worker", "worker 1250 987800 shop gunicorn --workers 1 app:app\n", 0,
	    "worker", 1250, 987800, "shop", "gunicorn --workers 1 app:app" },
	{ "front end", "frontend 1240 987700 - weir", 0, "frontend", 1240, 987700, "", "weir" },
	{ "no command", "worker 1 2 p", -1, NULL, 0, 0, NULL, NULL },
	{ "pid 0", "worker 0 2 p cmd", -1, NULL, 0, 0, NULL, NULL },
	{ "start 0", "worker 5 0 p cmd", -1, NULL, 0, 0, NULL, NULL },
	{ "negative pid", "worker -5 9 p cmd", -1, NULL, 0, 0, NULL, NULL },
	{ "garbage", "weir-processes 1 x", -1, NULL, 0, 0, NULL, NULL },
};

static void
test_stat(void)
{
	for (size_t i = 0; i < nitems(scases); i++) {
		const struct scase *c = &scases[i];
		struct procstat ps;
		int rc = procrec_parse_stat(c->in, strlen(c->in), &ps);

		CHECKF(rc == c->rc, "%s: rc %d", c->name, rc);
		if (rc != 0 || c->rc != 0)
			continue;
		CHECKF(ps.pid == c->pid && ps.ppid == c->ppid && ps.pgrp == c->pgrp &&
		    ps.session == c->session && ps.state == c->state && ps.start == c->start,
		    "%s: pid %d ppid %d pgrp %d sid %d state %c start %llu", c->name,
		    (int)ps.pid, (int)ps.ppid, (int)ps.pgrp, (int)ps.session, ps.state, ps.start);
	}
	/* our own, from /proc: alive, and not with another start time */
	{
		unsigned long long me = procrec_start_ticks(getpid());

		CHECK(me > 0);
		CHECK(procrec_alive(getpid(), me));
		CHECK(!procrec_alive(getpid(), me + 1));
	}
}

static void
test_lines(void)
{
	for (size_t i = 0; i < nitems(lcases); i++) {
		const struct lcase *c = &lcases[i];
		struct procrec r;
		int rc = procrec_parse_line(c->line, &r);

		CHECKF(rc == c->rc, "%s: rc %d", c->name, rc);
		if (rc != 0 || c->rc != 0)
			continue;
		CHECK_STR(r.kind, c->kind);
		CHECK_INT(r.pid, c->pid);
		CHECK_INT(r.start, c->start);
		CHECK_STR(r.pool, c->pool);
		CHECK_STR(r.command, c->command);
	}
	/* formatted and parsed back; a newline in a command cannot split it */
	{
		struct procrec r = { "worker", 42, 4242, "api", "sh -c 'a\nb'" }, back;
		char line[512];
		int n = procrec_format(&r, line, sizeof(line));

		CHECK(n > 0 && line[n - 1] == '\n' && strchr(line, '\n') == line + n - 1);
		CHECK_STR(line, "worker 42 4242 api sh -c 'a b'\n");
		CHECK(procrec_parse_line(line, &back) == 0);
		CHECK_STR(back.command, "sh -c 'a b'");
		CHECK(procrec_format(&r, line, 10) == -1);	/* does not fit */
	}
}

static void
test_file(void)
{
	char dir[] = "/tmp/weir-test-procrec-XXXXXX", path[256], err[WEIR_ERRLEN];
	struct procrec in[2] = {
		{ "master", 10, 100, "", "weir" },
		{ "worker", 11, 110, "shop", "gunicorn app:app" },
	}, *out;
	size_t n;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/%s", dir, PROCREC_FILE);
	/* no file: no records */
	CHECK(procrec_read(dir, PROCREC_FILE, &out, &n, err) == 0 && n == 0 && out == NULL);
	CHECK(procrec_write(dir, PROCREC_FILE, in, 2, err) == 0);
	CHECK(procrec_read(dir, PROCREC_FILE, &out, &n, err) == 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(out[0].kind, "master");
		CHECK_STR(out[0].pool, "");
		CHECK_INT(out[1].pid, 11);
		CHECK_INT(out[1].start, 110);
		CHECK_STR(out[1].pool, "shop");
		CHECK_STR(out[1].command, "gunicorn app:app");
	}
	free(out);
	/* records of another boot are worth nothing */
	CHECK((f = fopen(path, "w")) != NULL);
	if (f != NULL) {
		fputs("weir-processes 1 00000000-0000-0000-0000-000000000000\nworker 11 110 shop x\n", f);
		fclose(f);
	}
	CHECK(procrec_read(dir, PROCREC_FILE, &out, &n, err) == 0 && n == 0);
	free(out);
	/* none: the file goes */
	CHECK(procrec_write(dir, PROCREC_FILE, NULL, 0, err) == 0);
	CHECK(access(path, F_OK) == -1 && errno == ENOENT);
	CHECK(procrec_write(dir, PROCREC_FILE, NULL, 0, err) == 0);	/* already gone: fine */
	rmdir(dir);
}

int
main(void)
{
	test_stat();
	test_lines();
	test_file();
	return unit_done("procrec");
}
