/*
 * fuzz_conf.c - libFuzzer target for src/common/conf.c.
 *
 * The input is a configuration file's text.  Whatever it holds, parsing
 * must not crash or leak, and its verdict must keep the promise of
 * docs/config.md: a configuration comes back exactly when no error was
 * reported, and every error names the file, then the line it is about
 * ("file:line: what is wrong", the line one of the input's) or nothing
 * more for one about the whole file ("file: what is wrong").  The file
 * system is not consulted (no CONF_CHECK_FS), as `weir run` does for a
 * reload's first pass.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common/conf.c"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define ASSERT(c)	do { if (!(c)) abort(); } while (0)

static const char name[] = "fuzz.conf";

static void
check_error(const char *msg, long lines)
{
	const char *p = msg + sizeof(name) - 1;
	char *end;
	long line;

	ASSERT(strncmp(msg, name, sizeof(name) - 1) == 0 && *p == ':');
	p++;
	if (*p == ' ') {
		ASSERT(p[1] != '\0');	/* about the whole file, and says what */
		return;
	}
	line = strtol(p, &end, 10);
	ASSERT(end != p && line >= 1 && line <= lines);
	ASSERT(end[0] == ':' && end[1] == ' ' && end[2] != '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *c;
	char *text = malloc(n ? n : 1);	/* exact size: ASan sees a read past it */
	long lines = 1;

	if (text == NULL)
		abort();
	if (n)
		memcpy(text, data, n);
	for (size_t i = 0; i < n; i++)
		lines += text[i] == '\n';
	c = conf_parse_text(name, text, n, 0, &errs);
	ASSERT((c == NULL) == (errs.n > 0));
	for (size_t i = 0; i < errs.n; i++)
		check_error(errs.msg[i], lines);
	conf_free(c);
	conf_errors_clear(&errs);
	free(text);
	return 0;
}
