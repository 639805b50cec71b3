/*
 * test_logfiles.c - pool log lines: "TIME [who] text", and what the master
 * makes of a line the front end sends (CTL_POOL_LOG): cut at the first NUL
 * or the end of the buffer, line breaks and control characters turned into
 * spaces, dropped when the pool index or generation does not match.
 */
#include "../unit.h"
#include "../../../src/master/logfiles.c"

/* time_iso8601, write_full and the log functions, standalone. */
#include "../../../src/common/util.c"
#include "../../../src/common/log.c"

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

/* Everything the log file holds, NUL-terminated (malloc'd). */
static char *
slurp(int fd)
{
	off_t n = lseek(fd, 0, SEEK_END);
	char *buf = calloc(1, (size_t)n + 1);

	if (buf != NULL && pread(fd, buf, (size_t)n, 0) != n)
		buf[0] = '\0';
	return buf;
}

/* A master with one pool whose log is a fresh temporary file. */
static void
setup(struct master *m, struct pool *p, struct pool **pools)
{
	char path[] = "/tmp/weir-test-logfiles-XXXXXX";

	memset(m, 0, sizeof(*m));
	memset(p, 0, sizeof(*p));
	p->log_fd = mkstemp(path);
	unlink(path);
	pools[0] = p;
	m->pools = pools;
	m->npools = 1;
	m->generation = 7;
}

int
main(void)
{
	struct master m;
	struct pool p, *pools[1];
	struct ctl_pool_log pl;
	char *got;

	log_set_level(LOG_L_WARN);
	for (size_t i = 0; i < nitems(cases); i++) {
		char *tag;

		setup(&m, &p, pools);
		memset(&pl, 0, sizeof(pl));
		pl.pool = 0;
		pl.generation = 7;
		wstrlcpy(pl.line, cases[i].in, sizeof(pl.line));
		logfile_fe_line(&m, &pl);
		got = slurp(p.log_fd);
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
		close(p.log_fd);
	}

	/* a line that fills the buffer with no NUL: cut, never read past */
	setup(&m, &p, pools);
	memset(&pl, 'x', sizeof(pl));
	pl.pool = 0;
	pl.generation = 7;
	logfile_fe_line(&m, &pl);
	got = slurp(p.log_fd);
	/* 1023 bytes of text and the newline */
	CHECK(got != NULL && strstr(got, " [fe] ") != NULL &&
	    strlen(strstr(got, " [fe] ") + 6) == sizeof(pl.line));
	free(got);
	close(p.log_fd);

	/* wrong generation, pool out of range, negative: nothing written */
	{
		const int32_t idx[] = { 0, 1, -1 };
		const uint32_t gen[] = { 6, 7, 7 };

		for (size_t i = 0; i < nitems(idx); i++) {
			setup(&m, &p, pools);
			memset(&pl, 0, sizeof(pl));
			pl.pool = idx[i];
			pl.generation = gen[i];
			wstrlcpy(pl.line, "dropped", sizeof(pl.line));
			logfile_fe_line(&m, &pl);
			CHECKF(lseek(p.log_fd, 0, SEEK_END) == 0, "case %zu: written", i);
			close(p.log_fd);
		}
	}

	/* a worker's line: its pid in the brackets */
	setup(&m, &p, pools);
	logfile_pool_line(p.log_fd, "1234", "hello", 5);
	got = slurp(p.log_fd);
	CHECK(got != NULL && strstr(got, "Z [1234] hello\n") != NULL);
	free(got);
	close(p.log_fd);
	return unit_done("test_logfiles");
}
