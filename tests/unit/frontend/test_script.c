/*
 * test_script.c - SCRIPT_NAME / PATH_INFO resolution (fcgi_script_split):
 * the longest leading path that is an existing file with a mapped
 * extension; a mapped name that does not exist is a 404, never a script.
 */
#include "../unit.h"
#include "../../../src/frontend/fcgi.c"

/* The "file system" of a case: existing files, space separated. */
struct fs {
	const char	*files;
	const char	*exts;	/* mapped extensions, space separated */
};

static bool
has_word(const char *list, const char *w, size_t n)
{
	const char *p = list;

	while (*p) {
		const char *e = strchr(p, ' ');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == n && memcmp(p, w, n) == 0)
			return true;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return false;
}

static bool
t_mapped(const char *seg, size_t n, void *arg)
{
	const struct fs *fs = arg;
	const char *p = fs->exts;

	while (*p) {
		const char *e = strchr(p, ' ');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (n > l && memcmp(seg + n - l, p, l) == 0)
			return true;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return false;
}

static bool
t_exists(const char *prefix, size_t n, void *arg)
{
	const struct fs *fs = arg;

	return has_word(fs->files, prefix, n);
}

static const struct {
	const char	*files;
	const char	*path;
	int		 want;
	const char	*script;	/* SCRIPT_NAME when want == 1 */
} cases[] = {
	{ "/index.php", "/index.php", 1, "/index.php" },
	{ "/index.php", "/index.php/blog/1", 1, "/index.php" },
	{ "/index.php", "/index.php/", 1, "/index.php" },
	{ "/a/b.php /a/b.php/c.php", "/a/b.php/c.php/x", 1, "/a/b.php/c.php" },	/* longest */
	{ "/a/b.php", "/a/b.php/c.php/x", 1, "/a/b.php" },
	{ "/uploads/evil.jpg", "/uploads/evil.jpg/x.php", 404, NULL },
	{ "/uploads/evil.jpg", "/uploads/evil.jpg", 0, NULL },
	{ "", "/missing.php", 404, NULL },
	{ "", "/missing.php/extra", 404, NULL },
	{ "/x.php", "/dir/x.php", 404, NULL },
	{ "/style.css", "/style.css", 0, NULL },
	{ "", "/.php", 0, NULL },				/* no name before the extension */
	{ "/a.php", "/a.phpx", 0, NULL },			/* extension must end the segment */
	{ "/a.php", "/a.php.txt", 0, NULL },
	{ "/a.PHP", "/a.PHP", 0, NULL },			/* case-sensitive, like the file system */
	{ "/v/app.php", "/v/app.php/a/b.php/c", 1, "/v/app.php" },	/* b.php missing: shorter wins */
	{ "/w.phtml", "/w.phtml/z", 1, "/w.phtml" },
	{ "/", "/", 0, NULL },
};

int
main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fs fs = { cases[i].files, ".php .phtml" };
		size_t sn = 12345;
		int r = fcgi_script_split(cases[i].path, strlen(cases[i].path), t_mapped,
		    t_exists, &fs, &sn);

		CHECKF(r == cases[i].want, "case %zu (%s): got %d want %d", i,
		    cases[i].path, r, cases[i].want);
		if (r == 1 && cases[i].want == 1)
			CHECKF(sn == strlen(cases[i].script) &&
			    memcmp(cases[i].path, cases[i].script, sn) == 0,
			    "case %zu: SCRIPT_NAME %.*s want %s", i, (int)sn,
			    cases[i].path, cases[i].script);
	}
	return unit_done("script");
}
