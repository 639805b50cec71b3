/*
 * test_linetail.c - unit tests for src/common/linetail.c: output cut into
 * chunks anywhere still gives whole lines; only the last LINETAIL_MAX are
 * kept, oldest first; an unended line counts once flushed; a line longer
 * than LINETAIL_LINE is cut there, the rest becoming the next line.
 */
#include "../unit.h"
#include "../../../src/common/util.c"
#include "../../../src/common/linetail.c"

#include <stdlib.h>

static const struct {
	int		 line;
	const char	*out;		/* what the process wrote */
	size_t		 chunk;		/* fed in pieces of this size (0: whole) */
	const char	*want;		/* the kept lines, '|'-joined, oldest first */
} cases[] = {
	{ __LINE__, "", 0, "" },
	{ __LINE__, "one\n", 0, "one" },
	{ __LINE__, "one\ntwo\n", 1, "one|two" },
	{ __LINE__, "one\r\ntwo", 3, "one|two" },		/* flushed at the end */
	{ __LINE__, "a\n\nb\n", 2, "a||b" },			/* an empty line is a line */
	{ __LINE__, "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20\n21\n22\n", 5,
	  "3|4|5|6|7|8|9|10|11|12|13|14|15|16|17|18|19|20|21|22" },
};

static void
joined(const struct linetail *lt, char *out, size_t n)
{
	json_t *a = linering_json(&lt->ring), *v;
	size_t i;

	out[0] = '\0';
	json_array_foreach(a, i, v) {
		if (i > 0)
			strncat(out, "|", n - strlen(out) - 1);
		strncat(out, json_string_value(v), n - strlen(out) - 1);
	}
	json_decref(a);
}

int
main(void)
{
	char got[4096], *big;
	struct linetail lt;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *p = cases[i].out;
		size_t n = strlen(p), step = cases[i].chunk ? cases[i].chunk : n;

		memset(&lt, 0, sizeof(lt));
		for (size_t off = 0; off < n; off += step)
			linetail_feed(&lt, p + off, WEIR_MIN(step, n - off));
		linetail_flush(&lt);
		joined(&lt, got, sizeof(got));
		CHECKF(strcmp(got, cases[i].want) == 0, "line %d: got '%s'", cases[i].line, got);
		linetail_clear(&lt);
	}

	/* a line of 2.5 * LINETAIL_LINE bytes: three pieces, none lost */
	big = malloc(LINETAIL_LINE * 5 / 2 + 2);
	memset(big, 'x', LINETAIL_LINE * 5 / 2);
	strcpy(big + LINETAIL_LINE * 5 / 2, "\n");
	memset(&lt, 0, sizeof(lt));
	linetail_feed(&lt, big, strlen(big));
	CHECK(lt.ring.line[0] != NULL && strlen(lt.ring.line[0]) == LINETAIL_LINE);
	CHECK(lt.ring.line[1] != NULL && strlen(lt.ring.line[1]) == LINETAIL_LINE);
	CHECK(lt.ring.line[2] != NULL && strlen(lt.ring.line[2]) == LINETAIL_LINE / 2);
	CHECK(strcmp(linering_last(&lt.ring), lt.ring.line[2]) == 0);
	linetail_clear(&lt);
	CHECK(linering_last(&lt.ring) == NULL);
	free(big);
	return unit_done("linetail");
}
