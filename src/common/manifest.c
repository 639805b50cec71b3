/*
 * manifest.c - read the MANIFEST the build writes (scripts/gen-manifest).
 *
 * Format (component.h): comment lines start with '#'; "# build ID" names the
 * build; every other non-empty line is "NAME PATH VERSION ABI SHA256" with
 * blanks between fields.  PATH is relative to the MANIFEST's directory (an
 * absolute PATH is taken as is).  Anything else is an error naming the line:
 * a MANIFEST that cannot be trusted must not be half-used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "component.h"

#define MANIFEST_MAX	(1 << 20)

static bool
is_hex64(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 64;
}

/* Split a line into up to max blank-separated words (in place). */
static size_t
split(char *s, char **w, size_t max)
{
	size_t n = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			return n;
		if (n == max)
			return max + 1;
		w[n++] = s;
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
		if (*s != '\0')
			*s++ = '\0';
	}
}

static int
parse_line(struct manifest *m, char *line, int lineno, const char *dir,
    char *err)
{
	struct manifest_entry *e;
	char *w[5], *end;
	long abi;

	if (split(line, w, 5) != 5) {
		snprintf(err, WEIR_ERRLEN, "%s:%d: expected NAME PATH VERSION ABI SHA256",
		    m->path, lineno);
		return -1;
	}
	abi = strtol(w[3], &end, 10);
	if (strlen(w[0]) >= COMPONENT_FIELD_MAX || strlen(w[2]) >= COMPONENT_FIELD_MAX ||
	    *end != '\0' || end == w[3] || abi < 0 || abi > 999999 || !is_hex64(w[4])) {
		snprintf(err, WEIR_ERRLEN, "%s:%d: malformed entry", m->path, lineno);
		return -1;
	}
	if (manifest_find(m, w[0]) != NULL) {
		snprintf(err, WEIR_ERRLEN, "%s:%d: %s listed twice", m->path, lineno, w[0]);
		return -1;
	}
	m->v = xreallocarray(m->v, m->n + 1, sizeof(*m->v));
	e = &m->v[m->n++];
	memset(e, 0, sizeof(*e));
	wstrlcpy(e->name, w[0], sizeof(e->name));
	e->path = xstrdup(w[1]);
	if (w[1][0] == '/') {
		e->file = xstrdup(w[1]);
	} else {
		e->file = xmalloc(strlen(dir) + strlen(w[1]) + 2);
		sprintf(e->file, "%s/%s", dir, w[1]);
	}
	wstrlcpy(e->version, w[2], sizeof(e->version));
	e->abi = (int)abi;
	memcpy(e->sha256, w[4], SHA256_HEXLEN);
	e->line = lineno;
	return 0;
}

int
manifest_load(const char *path, struct manifest *m, char *err)
{
	char *text, *line, *next, *dir, *slash;
	size_t len;
	int lineno = 0, rc = 0;

	memset(m, 0, sizeof(*m));
	if ((text = read_file(path, MANIFEST_MAX, &len, err)) == NULL)
		return -1;
	if (strlen(text) != len) {
		snprintf(err, WEIR_ERRLEN, "%s: contains NUL bytes", path);
		free(text);
		return -1;
	}
	m->path = xstrdup(path);
	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else
		strcpy(dir, ".");
	for (line = text; line != NULL && rc == 0; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		lineno++;
		line = str_trim(line);
		if (line[0] == '\0')
			continue;
		if (line[0] == '#') {
			if (strncmp(line, "# build ", 8) == 0 && m->build == NULL)
				m->build = xstrdup(str_trim(line + 8));
			continue;
		}
		rc = parse_line(m, line, lineno, dir, err);
	}
	free(dir);
	free(text);
	if (rc == 0 && m->n == 0) {
		snprintf(err, WEIR_ERRLEN, "%s: lists no components", path);
		rc = -1;
	}
	if (rc == -1)
		manifest_free(m);
	return rc;
}

void
manifest_free(struct manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].path);
		free(m->v[i].file);
	}
	free(m->v);
	free(m->path);
	free(m->build);
	memset(m, 0, sizeof(*m));
}

const struct manifest_entry *
manifest_find(const struct manifest *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i].name, name) == 0)
			return &m->v[i];
	return NULL;
}
