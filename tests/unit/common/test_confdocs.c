/*
 * test_confdocs.c - docs/config.md documents every key of conf_keys[].
 *
 * The reference has one section per config section, found by its heading
 * ("## `[server]`", "## `[site NAME]`", "## `[pool NAME]`"); it lasts until
 * the next heading of the same or a higher level.  In it, every table row
 * whose first cell is a key in backticks ("| `listen` | ...") documents that
 * key.  Checked:
 *   - each of the three headings is there, once;
 *   - every key of the table has a row in its section's tables, once, and
 *     the rows are in the order of conf_keys[];
 *   - a key with a default has it, in backticks, in the row's third cell;
 *   - no row names a key that does not exist (in that section);
 *   - a [server] row's fifth cell (the "reload" column) is "applied" or
 *     "restart", as the key's CK_RELOAD / CK_RESTART flag says.
 * Adding a key to conf_keys[] without documenting it fails here.
 *
 * Usage: test_confdocs PATH/TO/docs/config.md
 */
#include "../unit.h"
#include "../../../src/common/conf.c"
#include "../../../src/common/util.c"
#include "../../../src/common/arena.c"
#include "../../../src/common/cidr.c"

#define NONE	(-1)

struct row {
	int		 line;
	int		 sect;		/* enum conf_section */
	char		 key[64];
	char		 def[256];	/* the third cell, trimmed */
	char		 reload[32];	/* the fifth cell ([server]: applied or restart) */
};

static const char *const headings[] = {
	[CS_SERVER] = "[server]",
	[CS_SITE] = "[site NAME]",
	[CS_POOL] = "[pool NAME]",
};

/* Copy cell number `n` (0 = the first after the leading '|') of a table row. */
static bool
cell(const char *line, size_t len, int n, char *out, size_t outsz)
{
	const char *p = line + 1, *end = line + len, *bar;
	size_t k;

	for (int i = 0; i < n; i++) {
		if ((bar = memchr(p, '|', (size_t)(end - p))) == NULL)
			return false;
		p = bar + 1;
	}
	if ((bar = memchr(p, '|', (size_t)(end - p))) == NULL)
		return false;
	while (p < bar && (*p == ' ' || *p == '\t'))
		p++;
	while (bar > p && (bar[-1] == ' ' || bar[-1] == '\t'))
		bar--;
	k = (size_t)(bar - p);
	if (k >= outsz)
		k = outsz - 1;
	memcpy(out, p, k);
	out[k] = '\0';
	return true;
}

/*
 * Collect the key rows of the three sections.  Returns the number of rows;
 * found[s] counts the headings of each section.
 */
static size_t
scan(const char *text, size_t len, struct row *rows, size_t maxrows, int found[3])
{
	const char *s = text, *end = text + len;
	int sect = NONE, sect_level = 0, lineno = 0;
	size_t n = 0;

	while (s < end) {
		const char *e = memchr(s, '\n', (size_t)(end - s));
		size_t ll = e ? (size_t)(e - s) : (size_t)(end - s);
		char first[128];

		lineno++;
		if (ll > 0 && s[0] == '#') {
			int level = 0;
			char head[512];

			while ((size_t)level < ll && s[level] == '#')
				level++;
			snprintf(head, sizeof(head), "%.*s", (int)ll, s);
			if (sect != NONE && level <= sect_level)
				sect = NONE;
			for (int i = 0; i < 3; i++) {
				if (strstr(head, headings[i]) != NULL) {
					sect = i;
					sect_level = level;
					found[i]++;
				}
			}
		} else if (sect != NONE && ll > 1 && s[0] == '|' &&
		    cell(s, ll, 0, first, sizeof(first)) && first[0] == '`') {
			size_t fl = strlen(first);

			CHECKF(fl > 2 && first[fl - 1] == '`' && strchr(first + 1, '`') == first + fl - 1 &&
			    strchr(first, ' ') == NULL,
			    "config.md:%d: first cell %s is not one key in backticks", lineno, first);
			if (n < maxrows && fl > 2) {
				struct row *r = &rows[n++];

				r->line = lineno;
				r->sect = sect;
				snprintf(r->key, sizeof(r->key), "%.*s", (int)(fl - 2), first + 1);
				if (!cell(s, ll, 2, r->def, sizeof(r->def)))
					r->def[0] = '\0';
				if (!cell(s, ll, 4, r->reload, sizeof(r->reload)))
					r->reload[0] = '\0';
			}
		}
		s = e ? e + 1 : end;
	}
	return n;
}

int
main(int argc, char **argv)
{
	char err[WEIR_ERRLEN], *text;
	size_t len, nrows;
	struct row *rows;
	int found[3] = { 0, 0, 0 };

	if (argc != 2) {
		fprintf(stderr, "usage: test_confdocs docs/config.md\n");
		return 2;
	}
	if ((text = read_file(argv[1], 1 << 22, &len, err)) == NULL) {
		fprintf(stderr, "test_confdocs: %s\n", err);
		return 1;
	}
	rows = xcalloc(4096, sizeof(*rows));
	nrows = scan(text, len, rows, 4096, found);
	for (int i = 0; i < 3; i++)
		CHECKF(found[i] == 1, "config.md: heading with %s found %d times, want once",
		    headings[i], found[i]);

	/* every row names a key of its section, in table order, once */
	{
		size_t last[3] = { 0, 0, 0 };
		bool any[3] = { false, false, false };

		for (size_t i = 0; i < nrows; i++) {
			const struct row *r = &rows[i];
			size_t idx;
			const struct conf_key *k = find_key((enum conf_section)r->sect, r->key, &idx);

			CHECKF(k != NULL, "config.md:%d: `%s` is not a key of %s", r->line,
			    r->key, headings[r->sect]);
			if (k == NULL)
				continue;
			CHECKF(!any[r->sect] || idx > last[r->sect],
			    "config.md:%d: `%s` is out of the order of conf_keys[] (or listed twice)",
			    r->line, r->key);
			any[r->sect] = true;
			last[r->sect] = idx;
			if (k->section == CS_SERVER) {
				const char *want = (k->flags & CK_RESTART) ? "restart" : "applied";

				CHECKF(strcmp(r->reload, want) == 0,
				    "config.md:%d: `%s`: reload cell \"%s\", want %s", r->line, r->key,
				    r->reload, want);
			}
			if (k->def != NULL) {
				char want[256];

				snprintf(want, sizeof(want), "`%s`", k->def);
				CHECKF(strstr(r->def, want) != NULL,
				    "config.md:%d: `%s`: default cell \"%s\" does not say %s",
				    r->line, r->key, r->def, want);
			}
		}
	}

	/* every key of the table has its row */
	for (size_t i = 0; i < conf_nkeys; i++) {
		const struct conf_key *k = &conf_keys[i];
		int n = 0;

		for (size_t j = 0; j < nrows; j++)
			if (rows[j].sect == (int)k->section && strcmp(rows[j].key, k->name) == 0)
				n++;
		CHECKF(n == 1, "config.md: key `%s` of %s has %d rows in its section's tables, want 1",
		    k->name, headings[k->section], n);
	}
	CHECK(nrows >= conf_nkeys);
	free(rows);
	free(text);
	return unit_done("test_confdocs");
}
