/*
 * verify.c - `weir verify [--json] [--manifest FILE]`: check every installed
 * component against the MANIFEST and against this weir, like a KB's
 * file-version table.  No running server is needed.
 *
 * For each MANIFEST line: the file exists, its SHA-256 is the listed one,
 * its embedded record names the listed component with the listed version,
 * and its ABI (and the line's) is this weir's WEIR_ABI.  Modules found in
 * modules/ but not listed are shown and checked for their record and ABI.
 * Exit 0 when everything matches, 1 when anything does not (each named),
 * 2 for a usage error.
 *
 * This file also carries the weir binary's own component record: it is
 * linked into weir and nothing else.
 */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir_version.h"
#include "weir_build_id.h"
#include "component.h"
#include "log.h"
#include "util.h"
#include "master.h"

#define VERIFY_STR_(x)	#x
#define VERIFY_STR(x)	VERIFY_STR_(x)

/* The weir binary's component record (see component.h). */
__attribute__((section(".weir_component"), used, aligned(1)))
static const char weir_record[] = "WEIRCOMP1 name=weir version=" WEIR_VERSION
    " abi=" VERIFY_STR(WEIR_ABI) " build=" WEIR_BUILD_ID;

/* One row of the table. */
struct row {
	char			 path[COMPONENT_PATH_MAX];	/* as listed, or modules/x.so */
	struct component_check	 c;
};

struct rows {
	struct row	*v;
	size_t		 n;
};

static struct row *
row_add(struct rows *r)
{
	r->v = xreallocarray(r->v, r->n + 1, sizeof(*r->v));
	memset(&r->v[r->n], 0, sizeof(r->v[r->n]));
	return &r->v[r->n++];
}

/* Modules in DIR/modules that the MANIFEST does not list. */
static void
add_unlisted(struct rows *rows, const struct manifest *m, const char *mdir)
{
	char dir[COMPONENT_PATH_MAX];
	struct dirent **ents = NULL;
	int n;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/modules", mdir) >= sizeof(dir) ||
	    (n = scandir(dir, &ents, NULL, alphasort)) < 0)
		return;
	for (int i = 0; i < n; i++) {
		const char *d = ents[i]->d_name;
		size_t l = strlen(d);
		char name[COMPONENT_FIELD_MAX], file[COMPONENT_PATH_MAX];
		bool listed = false;

		if (l > 3 && l - 3 < sizeof(name) && strcmp(d + l - 3, ".so") == 0 &&
		    (size_t)snprintf(file, sizeof(file), "%s/%s", dir, d) < sizeof(file)) {
			memcpy(name, d, l - 3);
			name[l - 3] = '\0';
			for (size_t j = 0; j < m->n; j++)
				if (strcmp(m->v[j].name, name) == 0)
					listed = true;
			if (!listed) {
				struct row *r = row_add(rows);

				snprintf(r->path, sizeof(r->path), "modules/%s", d);
				component_check(name, file, NULL, WEIR_ABI, &r->c);
			}
		}
		free(ents[i]);
	}
	free(ents);
}

static void
fmt_expected(const struct component_check *c, char *out, size_t n)
{
	if (c->want != NULL)
		snprintf(out, n, "%s / ABI %d", c->want->version, c->want->abi);
	else
		snprintf(out, n, "- / ABI %d", c->abi);
}

static void
fmt_found(const struct component_check *c, char *out, size_t n)
{
	if (c->flags & CHK_MISSING)
		snprintf(out, n, "missing");
	else if (c->flags & CHK_NORECORD)
		snprintf(out, n, "no record");
	else
		snprintf(out, n, "%s / ABI %d", c->found.version, c->found.abi);
}

static const char *
fmt_sha(const struct component_check *c)
{
	if (c->want == NULL || c->sha256[0] == '\0')
		return "-";
	return (c->flags & CHK_SHA) ? "DIFFERS" : "ok";
}

static void
print_table(const struct manifest *m, const struct rows *rows, size_t problems)
{
	size_t w[4] = { strlen("COMPONENT"), strlen("PATH"), strlen("EXPECTED"),
	    strlen("FOUND") };
	char exp[128], found[128], status[512];

	for (size_t i = 0; i < rows->n; i++) {
		const struct row *r = &rows->v[i];

		fmt_expected(&r->c, exp, sizeof(exp));
		fmt_found(&r->c, found, sizeof(found));
		w[0] = WEIR_MAX(w[0], strlen(r->c.name));
		w[1] = WEIR_MAX(w[1], strlen(r->path));
		w[2] = WEIR_MAX(w[2], strlen(exp));
		w[3] = WEIR_MAX(w[3], strlen(found));
	}
	printf("weir %s (ABI %d, build %s) -- MANIFEST %s (build %s)\n\n",
	    WEIR_VERSION, WEIR_ABI, WEIR_BUILD_ID, m->path,
	    m->build != NULL ? m->build : "unknown");
	printf("%-*s  %-*s  %-*s  %-*s  %-7s  %s\n", (int)w[0], "COMPONENT",
	    (int)w[1], "PATH", (int)w[2], "EXPECTED", (int)w[3], "FOUND",
	    "SHA-256", "STATUS");
	for (size_t i = 0; i < rows->n; i++) {
		const struct row *r = &rows->v[i];

		fmt_expected(&r->c, exp, sizeof(exp));
		fmt_found(&r->c, found, sizeof(found));
		component_check_status(&r->c, status, sizeof(status));
		printf("%-*s  %-*s  %-*s  %-*s  %-7s  %s\n", (int)w[0], r->c.name,
		    (int)w[1], r->path, (int)w[2], exp, (int)w[3], found,
		    fmt_sha(&r->c), status);
	}
	printf("\n");
	if (problems == 0) {
		printf("weir verify: %zu component%s ok\n", rows->n,
		    rows->n == 1 ? "" : "s");
		return;
	}
	printf("weir verify: %zu problem%s:\n", problems, problems == 1 ? "" : "s");
	for (size_t i = 0; i < rows->n; i++) {
		const struct row *r = &rows->v[i];

		if (!(r->c.flags & CHK_PROBLEMS))
			continue;
		component_check_status(&r->c, status, sizeof(status));
		printf("  %s (%s): %s\n", r->c.file, r->c.name, status);
	}
}

static void
print_json(const struct manifest *m, const struct rows *rows, size_t problems)
{
	json_t *arr = json_array(), *o;
	char *s;

	for (size_t i = 0; i < rows->n; i++) {
		json_t *c = component_check_json(&rows->v[i].c);

		json_object_set_new(c, "path", json_string(rows->v[i].path));
		json_object_set_new(c, "listed", json_boolean(rows->v[i].c.want != NULL));
		json_object_set_new(c, "sha256", rows->v[i].c.sha256[0] != '\0' ?
		    json_string(rows->v[i].c.sha256) : json_null());
		json_array_append_new(arr, c);
	}
	o = json_pack("{s:s, s:s?, s:{s:s, s:i, s:s}, s:b, s:i, s:o}",
	    "manifest", m->path,
	    "build", m->build,
	    "weir", "version", WEIR_VERSION, "abi", WEIR_ABI, "build", WEIR_BUILD_ID,
	    "ok", problems == 0,
	    "problems", (json_int_t)problems,
	    "components", arr);
	s = json_dumps(o, JSON_INDENT(2));
	printf("%s\n", s != NULL ? s : "{}");
	free(s);
	json_decref(o);
}

int
cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "manifest", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct component_paths paths;
	struct manifest m;
	struct rows rows = { NULL, 0 };
	const char *mpath = NULL;
	char err[WEIR_ERRLEN], *mdir, *slash;
	bool json = false;
	size_t problems = 0;
	int ch;

	(void)weir_record;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "hjm:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = true;
			break;
		case 'm':
			mpath = optarg;
			break;
		case 'h':
			printf("usage: weir verify [--json] [--manifest FILE]\n\n"
			    "Check weir, weir-host and the modules against the MANIFEST beside\n"
			    "this binary (or FILE): present, SHA-256, version and ABI.\n"
			    "Exit status 0 when all match, 1 otherwise.\n");
			return 0;
		default:
			fprintf(stderr, "usage: weir verify [--json] [--manifest FILE]\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "weir verify: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (mpath == NULL) {
		if (component_locate(&paths, err) == -1) {
			fprintf(stderr, "weir verify: %s\n", err);
			return 1;
		}
		mpath = paths.manifest;
	}
	if (manifest_load(mpath, &m, err) == -1) {
		if (json) {
			json_t *o = json_pack("{s:s, s:b, s:s}", "manifest", mpath,
			    "ok", 0, "error", err);
			char *s = json_dumps(o, JSON_INDENT(2));

			printf("%s\n", s != NULL ? s : "{}");
			free(s);
			json_decref(o);
		}
		fprintf(stderr, "weir verify: %s\n", err);
		return 1;
	}
	/* 1. every listed component */
	for (size_t i = 0; i < m.n; i++) {
		struct row *r = row_add(&rows);

		wstrlcpy(r->path, m.v[i].path, sizeof(r->path));
		if (!component_check(m.v[i].name, m.v[i].file, &m.v[i], WEIR_ABI, &r->c))
			problems++;
	}
	/* 2. the core must be listed at all */
	for (size_t k = 0; k < 2; k++) {
		const char *core = k == 0 ? "weir" : "weir-host";

		if (manifest_find(&m, core) == NULL) {
			fprintf(stderr, "weir verify: %s: %s is not listed\n", m.path, core);
			problems++;
		}
	}
	/* 3. modules present but not listed */
	mdir = xstrdup(m.path);
	if ((slash = strrchr(mdir, '/')) != NULL)
		*slash = '\0';
	else
		strcpy(mdir, ".");
	add_unlisted(&rows, &m, mdir);
	free(mdir);
	for (size_t i = m.n; i < rows.n; i++)
		if (rows.v[i].c.flags & CHK_PROBLEMS)
			problems++;
	if (json)
		print_json(&m, &rows, problems);
	else
		print_table(&m, &rows, problems);
	free(rows.v);
	manifest_free(&m);
	return problems == 0 ? 0 : 1;
}
