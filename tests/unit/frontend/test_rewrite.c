/*
 * test_rewrite.c - the rewrite engine (rewrite_run): captures and their
 * encoding, each flag, the query rules, return, the loop bound, results
 * that are no valid path, buffer limits; and path_encode().
 */
#include "../unit.h"
#include "../../../src/frontend/path.c"
#include "../../../src/frontend/rewrite.c"

#include <stdlib.h>

#include "util.h"

#define MAXRULES 4

/* A rule as written: "REGEX REPLACEMENT [FLAG]" or "return REGEX STATUS [URL]". */
static const struct {
	int		 line;
	const char	*rules[MAXRULES];
	const char	*path;		/* normalized request path */
	const char	*query;		/* NULL: none */
	int		 rc;		/* enum rewrite_result */
	const char	*want_path;	/* RWR_PATH */
	const char	*want_target;	/* RWR_PATH, RWR_ANSWER (Location; "" none) */
	int		 status;	/* RWR_ANSWER */
} cases[] = {
	/* no match: nothing changes */
	{ __LINE__, { "^/a$ /b" }, "/c", NULL, RWR_NONE, NULL, NULL, 0 },
	/* a plain rewrite, query kept */
	{ __LINE__, { "^/a$ /b" }, "/a", "x=1", RWR_PATH, "/b", "/b?x=1", 0 },
	/* captures, percent-encoded: decoded '?', '%', ' ' stay data */
	{ __LINE__, { "^/p/(.*)$ /q/$1" }, "/p/a b?c%d", NULL, RWR_PATH, "/q/a b?c%d",
	  "/q/a%20b%3Fc%25d", 0 },
	/* in the query, '&', '=' and '+' of a capture are encoded too */
	{ __LINE__, { "^/t/(.*)$ /i.php?tag=$1" }, "/t/a&b=c+d", NULL, RWR_PATH, "/i.php",
	  "/i.php?tag=a%26b%3Dc%2Bd", 0 },
	/* the replacement's query, then the request's after '&' */
	{ __LINE__, { "^/(\\w+)$ /i.php?q=$1" }, "/post", "p=2", RWR_PATH, "/i.php",
	  "/i.php?q=post&p=2", 0 },
	/* "?" at the end: no query at all */
	{ __LINE__, { "^/a$ /b?" }, "/a", "x=1", RWR_PATH, "/b", "/b", 0 },
	/* $0, groups that did not take part, $9 beyond the groups: empty */
	{ __LINE__, { "^/(x)?(y)$ /z$1-$2-$9$0" }, "/y", NULL, RWR_PATH, "/z-y-/y",
	  "/z-y-/y", 0 },
	/* no flag: the next rule sees the new path */
	{ __LINE__, { "^/a$ /b", "^/b$ /c" }, "/a", NULL, RWR_PATH, "/c", "/c", 0 },
	/* break stops */
	{ __LINE__, { "^/a$ /b break", "^/b$ /c" }, "/a", NULL, RWR_PATH, "/b", "/b", 0 },
	/* last runs the rules again from the top */
	{ __LINE__, { "^/b$ /c", "^/a$ /b last" }, "/a", NULL, RWR_PATH, "/c", "/c", 0 },
	/* ...a rule that matches its result: more than REWRITE_MAX rewrites */
	{ __LINE__, { "^/l/(.*)$ /l/$1 last" }, "/l/x", NULL, RWR_LOOP, NULL, NULL, 0 },
	/* no flag does not loop: each rule once per pass */
	{ __LINE__, { "^/l/(.*)$ /l/$1" }, "/l/x", NULL, RWR_PATH, "/l/x", "/l/x", 0 },
	/* redirect, permanent, an absolute URL; the query goes along */
	{ __LINE__, { "^/go/(.*)$ /new/$1 redirect" }, "/go/p", "q=1", RWR_ANSWER, NULL,
	  "/new/p?q=1", 302 },
	{ __LINE__, { "^/m/(.*)$ /n/$1 permanent" }, "/m/p", NULL, RWR_ANSWER, NULL, "/n/p", 301 },
	{ __LINE__, { "^/e/(.*)$ https://ex.com/$1" }, "/e/x", NULL, RWR_ANSWER, NULL,
	  "https://ex.com/x", 302 },
	/* return: its status, its URL with captures; a rewrite before it counts */
	{ __LINE__, { "return ^/gone/ 410" }, "/gone/x", NULL, RWR_ANSWER, NULL, "", 410 },
	{ __LINE__, { "^/old$ /gone/old", "return ^/gone/(.*)$ 301 /archive/$1" }, "/old", NULL,
	  RWR_ANSWER, NULL, "/archive/old", 301 },
	/* the result is normalized: dot segments go, climbing above '/' is a 400 */
	{ __LINE__, { "^/a/(.*)$ /b/../c/$1" }, "/a/x", NULL, RWR_PATH, "/c/x", "/b/../c/x", 0 },
	{ __LINE__, { "^/a$ /../x" }, "/a", NULL, RWR_ANSWER, NULL, "", 400 },
	/* a result that is no absolute path */
	{ __LINE__, { "^/(.*)$ $1" }, "/a", NULL, RWR_ANSWER, NULL, "", 500 },
};

static void
compile(struct conf_rewrite *rw, const char *spec)
{
	char buf[256], *w[4] = { 0 };
	int n = 0, ec;
	PCRE2_SIZE off;
	bool ret = strncmp(spec, "return ", 7) == 0;

	snprintf(buf, sizeof(buf), "%s", ret ? spec + 7 : spec);
	for (char *t = strtok(buf, " "); t != NULL && n < 4; t = strtok(NULL, " "))
		w[n++] = t;
	memset(rw, 0, sizeof(*rw));
	rw->code = pcre2_compile((PCRE2_SPTR)w[0], PCRE2_ZERO_TERMINATED, 0, &ec, &off, NULL);
	if (rw->code == NULL) {
		fprintf(stderr, "bad regex in test: %s\n", w[0]);
		exit(1);
	}
	(void)pcre2_jit_compile(rw->code, PCRE2_JIT_COMPLETE);
	if (ret) {
		rw->flag = RW_RETURN;
		rw->status = atoi(w[1]);
		rw->repl = strdup(w[2] != NULL ? w[2] : "");
		return;
	}
	rw->repl = strdup(w[1]);
	rw->flag = w[2] == NULL ? RW_NEXT : strcmp(w[2], "last") == 0 ? RW_LAST :
	    strcmp(w[2], "break") == 0 ? RW_BREAK : strcmp(w[2], "redirect") == 0 ?
	    RW_REDIRECT : RW_PERMANENT;
}

static void
test_cases(void *md)
{
	for (size_t i = 0; i < nitems(cases); i++) {
		struct conf_rewrite rw[MAXRULES];
		size_t n = 0, pathlen, tlen = 0;
		char path[4098], target[4096];
		struct hstr q = { cases[i].query, cases[i].query ? strlen(cases[i].query) : 0 };
		int st = 0, rc;

		while (n < MAXRULES && cases[i].rules[n] != NULL) {
			compile(&rw[n], cases[i].rules[n]);
			n++;
		}
		snprintf(path, sizeof(path), "%s", cases[i].path);
		pathlen = strlen(path);
		rc = rewrite_run(rw, n, md, path, sizeof(path), &pathlen, q, target,
		    sizeof(target), &tlen, &st);
		CHECKF(rc == cases[i].rc, "line %d: rc %d, want %d", cases[i].line, rc, cases[i].rc);
		if (rc == RWR_PATH && cases[i].rc == RWR_PATH) {
			CHECKF(pathlen == strlen(path) && strcmp(path, cases[i].want_path) == 0,
			    "line %d: path '%s', want '%s'", cases[i].line, path, cases[i].want_path);
			CHECKF(tlen == strlen(cases[i].want_target) &&
			    memcmp(target, cases[i].want_target, tlen) == 0,
			    "line %d: target '%.*s', want '%s'", cases[i].line, (int)tlen, target,
			    cases[i].want_target);
		}
		if (rc == RWR_ANSWER && cases[i].rc == RWR_ANSWER) {
			CHECKF(st == cases[i].status, "line %d: status %d, want %d", cases[i].line,
			    st, cases[i].status);
			CHECKF(tlen == strlen(cases[i].want_target) &&
			    memcmp(target, cases[i].want_target, tlen) == 0,
			    "line %d: Location '%.*s', want '%s'", cases[i].line, (int)tlen, target,
			    cases[i].want_target);
		}
		if (rc == RWR_NONE)
			CHECKF(strcmp(path, cases[i].path) == 0, "line %d: path changed", cases[i].line);
		for (size_t j = 0; j < n; j++) {
			pcre2_code_free(rw[j].code);
			free(rw[j].repl);
		}
	}
}

/* Limits: a result larger than the target buffer is a 414, never an overflow. */
static void
test_limits(void *md)
{
	struct conf_rewrite rw;
	char path[4098], target[64];
	size_t pathlen, tlen = 0;
	struct hstr q = { NULL, 0 };
	int st = 0;

	compile(&rw, "^/(.*)$ /$1$1$1$1");
	memset(path, 'a', 40);
	path[0] = '/';
	path[40] = '\0';
	pathlen = 40;
	CHECK_INT(rewrite_run(&rw, 1, md, path, sizeof(path), &pathlen, q, target,
	    sizeof(target), &tlen, &st), RWR_ANSWER);
	CHECK_INT(st, 414);
	pcre2_code_free(rw.code);
	free(rw.repl);
	/* the request's query does not fit after the result */
	compile(&rw, "^/a$ /b");
	snprintf(path, sizeof(path), "/a");
	pathlen = 2;
	q.p = "0123456789012345678901234567890123456789012345678901234567890123456789";
	q.n = strlen(q.p);
	st = 0;
	CHECK_INT(rewrite_run(&rw, 1, md, path, sizeof(path), &pathlen, q, target,
	    sizeof(target), &tlen, &st), RWR_ANSWER);
	CHECK_INT(st, 414);
	pcre2_code_free(rw.code);
	free(rw.repl);
}

static void
test_encode(void)
{
	char out[64];
	size_t n;

	n = path_encode(out, sizeof(out), "/a b/é?#%", strlen("/a b/é?#%"), false);
	CHECK_INT(n, strlen("/a%20b/%C3%A9%3F%23%25"));
	CHECK(memcmp(out, "/a%20b/%C3%A9%3F%23%25", n) == 0);
	n = path_encode(out, sizeof(out), "a&b=c+d", 7, false);
	CHECK(n == 7 && memcmp(out, "a&b=c+d", 7) == 0);
	n = path_encode(out, sizeof(out), "a&b=c+d", 7, true);
	CHECK(n == 13 && memcmp(out, "a%26b%3Dc%2Bd", 13) == 0);
	n = path_encode(out, sizeof(out), "a\0b", 3, false);
	CHECK(n == 5 && memcmp(out, "a%00b", 5) == 0);
	CHECK(path_encode(out, 2, "abc", 3, false) == (size_t)-1);
	CHECK(path_encode(out, 3, "a b", 3, false) == (size_t)-1);
}

int
main(void)
{
	void *md = rewrite_match_data();

	CHECK(md != NULL);
	test_cases(md);
	test_limits(md);
	test_encode();
	rewrite_match_data_free(md);
	return unit_done("test_rewrite");
}
