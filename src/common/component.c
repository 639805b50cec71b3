/*
 * component.c - component records (read from ELF files without loading
 * them), where the components live, the per-file check shared by
 * `weir verify` and the master's preflight, and weir-host's command line.
 *
 * See component.h for the record and MANIFEST formats.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "weir_version.h"
#include "weir_paths.h"
#include "conf.h"
#include "util.h"
#include "component.h"

#define SECTION_MAX	65536		/* a record section is a few dozen bytes */
#define SHSTRTAB_MAX	(1 << 20)

/* --- records -------------------------------------------------------------- */

static int
copy_field(char *dst, const char *v, size_t n, const char *key, char *err)
{
	if (n == 0 || n >= COMPONENT_FIELD_MAX) {
		snprintf(err, WEIR_ERRLEN, "component record: bad %s", key);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= ' ' || (unsigned char)v[i] >= 0x7f) {
			snprintf(err, WEIR_ERRLEN, "component record: bad %s", key);
			return -1;
		}
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

int
component_parse(const char *rec, size_t n, struct component *out, char *err)
{
	const char *p, *end;
	size_t ml = strlen(COMPONENT_MAGIC);
	bool have_abi = false;

	memset(out, 0, sizeof(*out));
	if ((end = memchr(rec, '\0', n)) == NULL)
		end = rec + n;
	/* 1. the magic, then a blank: a later format gets a new magic */
	if ((size_t)(end - rec) <= ml || memcmp(rec, COMPONENT_MAGIC, ml) != 0 ||
	    rec[ml] != ' ') {
		snprintf(err, WEIR_ERRLEN, "component record: not a %s record",
		    COMPONENT_MAGIC);
		return -1;
	}
	/* 2. key=value words separated by single or repeated blanks */
	for (p = rec + ml; p < end;) {
		const char *w, *eq;
		size_t wl;

		while (p < end && (*p == ' ' || *p == '\n'))
			p++;
		if (p == end)
			break;
		w = p;
		while (p < end && *p != ' ' && *p != '\n')
			p++;
		wl = (size_t)(p - w);
		if ((eq = memchr(w, '=', wl)) == NULL) {
			snprintf(err, WEIR_ERRLEN, "component record: word without '='");
			return -1;
		}
		{
			size_t kl = (size_t)(eq - w), vl = wl - kl - 1;
			const char *v = eq + 1;

			if (kl == 4 && memcmp(w, "name", 4) == 0) {
				if (copy_field(out->name, v, vl, "name", err) == -1)
					return -1;
			} else if (kl == 7 && memcmp(w, "version", 7) == 0) {
				if (copy_field(out->version, v, vl, "version", err) == -1)
					return -1;
			} else if (kl == 5 && memcmp(w, "build", 5) == 0) {
				if (copy_field(out->build, v, vl, "build", err) == -1)
					return -1;
			} else if (kl == 3 && memcmp(w, "abi", 3) == 0) {
				long abi = 0;

				if (vl == 0 || vl > 6) {
					snprintf(err, WEIR_ERRLEN, "component record: bad abi");
					return -1;
				}
				for (size_t i = 0; i < vl; i++) {
					if (v[i] < '0' || v[i] > '9') {
						snprintf(err, WEIR_ERRLEN, "component record: bad abi");
						return -1;
					}
					abi = abi * 10 + (v[i] - '0');
				}
				out->abi = (int)abi;
				have_abi = true;
			}
			/* 3. unknown keys are for later versions: ignored */
		}
	}
	if (out->name[0] == '\0' || out->version[0] == '\0' || !have_abi) {
		snprintf(err, WEIR_ERRLEN, "component record: needs name, version and abi");
		return -1;
	}
	if (out->build[0] == '\0')
		memcpy(out->build, "none", 5);
	return 0;
}

static int
pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = pread(fd, p, n, (off_t)off);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* A section header, whatever the ELF class. */
struct shdr {
	uint32_t	 name;
	uint32_t	 type;
	uint32_t	 link;
	uint64_t	 offset;
	uint64_t	 size;
};

struct elf {
	int		 fd;
	uint64_t	 fsize;
	bool		 is64;
	uint64_t	 shoff;
	uint64_t	 shentsize;
	uint64_t	 shnum;
	uint64_t	 shstrndx;
};

static int
elf_shdr(const struct elf *e, uint64_t i, struct shdr *s)
{
	uint64_t off = e->shoff + i * e->shentsize;

	if (e->is64) {
		Elf64_Shdr h;

		if (pread_full(e->fd, &h, sizeof(h), off) == -1)
			return -1;
		s->name = h.sh_name;
		s->type = h.sh_type;
		s->link = h.sh_link;
		s->offset = h.sh_offset;
		s->size = h.sh_size;
	} else {
		Elf32_Shdr h;

		if (pread_full(e->fd, &h, sizeof(h), off) == -1)
			return -1;
		s->name = h.sh_name;
		s->type = h.sh_type;
		s->link = h.sh_link;
		s->offset = h.sh_offset;
		s->size = h.sh_size;
	}
	/* The contents must lie inside the file. */
	if (s->type != SHT_NOBITS &&
	    (s->offset > e->fsize || s->size > e->fsize - s->offset))
		return -1;
	return 0;
}

/*
 * Read the ELF and section headers (native byte order only: a component for
 * another machine is not one this weir can use anyway).
 */
static int
elf_open(struct elf *e, const char *path, char *err)
{
	unsigned char id[EI_NIDENT];
	static const uint16_t one = 1;
	int native = *(const unsigned char *)&one == 1 ? ELFDATA2LSB : ELFDATA2MSB;

	if (pread_full(e->fd, id, sizeof(id), 0) == -1 ||
	    memcmp(id, ELFMAG, SELFMAG) != 0) {
		snprintf(err, WEIR_ERRLEN, "%s: not an ELF file", path);
		return -1;
	}
	if ((id[EI_CLASS] != ELFCLASS64 && id[EI_CLASS] != ELFCLASS32) ||
	    id[EI_DATA] != native) {
		snprintf(err, WEIR_ERRLEN, "%s: ELF file for another machine", path);
		return -1;
	}
	e->is64 = id[EI_CLASS] == ELFCLASS64;
	if (e->is64) {
		Elf64_Ehdr h;

		if (pread_full(e->fd, &h, sizeof(h), 0) == -1)
			goto bad;
		e->shoff = h.e_shoff;
		e->shentsize = h.e_shentsize;
		e->shnum = h.e_shnum;
		e->shstrndx = h.e_shstrndx;
	} else {
		Elf32_Ehdr h;

		if (pread_full(e->fd, &h, sizeof(h), 0) == -1)
			goto bad;
		e->shoff = h.e_shoff;
		e->shentsize = h.e_shentsize;
		e->shnum = h.e_shnum;
		e->shstrndx = h.e_shstrndx;
	}
	if (e->shoff == 0 || e->shentsize < (e->is64 ? sizeof(Elf64_Shdr) :
	    sizeof(Elf32_Shdr)))
		goto bad;
	/* Many sections: the real count and string table index are in section 0. */
	if (e->shnum == 0 || e->shstrndx == SHN_XINDEX) {
		struct shdr s0;

		e->shnum = e->shnum == 0 ? 1 : e->shnum;
		if (elf_shdr(e, 0, &s0) == -1)
			goto bad;
		if (e->shnum == 1 && s0.size != 0)
			e->shnum = s0.size;
		if (e->shstrndx == SHN_XINDEX)
			e->shstrndx = s0.link;
	}
	if (e->shoff > e->fsize || e->shnum > (e->fsize - e->shoff) / e->shentsize ||
	    e->shstrndx >= e->shnum)
		goto bad;
	return 0;
bad:
	snprintf(err, WEIR_ERRLEN, "%s: malformed ELF headers", path);
	return -1;
}

/* Find the record section and parse the one record in it. */
static int
elf_record(struct elf *e, const char *path, struct component *out, char *err)
{
	struct shdr strs, s;
	char *names = NULL, *data = NULL;
	size_t nl = strlen(COMPONENT_SECTION);
	int rc = -1;

	if (elf_shdr(e, e->shstrndx, &strs) == -1 || strs.type != SHT_STRTAB ||
	    strs.size > SHSTRTAB_MAX) {
		snprintf(err, WEIR_ERRLEN, "%s: malformed ELF section names", path);
		return -1;
	}
	names = xmalloc((size_t)strs.size + 1);
	if (pread_full(e->fd, names, (size_t)strs.size, strs.offset) == -1) {
		snprintf(err, WEIR_ERRLEN, "%s: malformed ELF section names", path);
		goto out;
	}
	names[strs.size] = '\0';
	for (uint64_t i = 1; i < e->shnum; i++) {
		size_t nrec = 0;

		if (elf_shdr(e, i, &s) == -1) {
			snprintf(err, WEIR_ERRLEN, "%s: malformed ELF section header", path);
			goto out;
		}
		if (s.name >= strs.size || strs.size - s.name < nl + 1 ||
		    memcmp(names + s.name, COMPONENT_SECTION, nl + 1) != 0)
			continue;
		if (s.type == SHT_NOBITS || s.size == 0 || s.size > SECTION_MAX) {
			snprintf(err, WEIR_ERRLEN, "%s: malformed %s section", path,
			    COMPONENT_SECTION);
			goto out;
		}
		data = xmalloc((size_t)s.size);
		if (pread_full(e->fd, data, (size_t)s.size, s.offset) == -1) {
			snprintf(err, WEIR_ERRLEN, "%s: cannot read %s", path,
			    COMPONENT_SECTION);
			goto out;
		}
		/* Records are NUL-terminated; alignment may add NULs between them. */
		for (size_t off = 0; off < s.size;) {
			size_t len = strnlen(data + off, (size_t)s.size - off);

			if (len == 0) {
				off++;
				continue;
			}
			if (++nrec > 1) {
				snprintf(err, WEIR_ERRLEN, "%s: more than one component record",
				    path);
				goto out;
			}
			if (component_parse(data + off, len, out, err) == -1) {
				char why[WEIR_ERRLEN];

				wstrlcpy(why, err, sizeof(why));
				snprintf(err, WEIR_ERRLEN, "%s: %s", path, why);
				goto out;
			}
			off += len;
		}
		if (nrec == 0)
			break;
		rc = 0;
		goto out;
	}
	snprintf(err, WEIR_ERRLEN, "%s: no component record (not a weir component, "
	    "or built without WEIR_MODULE())", path);
out:
	free(names);
	free(data);
	return rc;
}

/* Like component_read(); *missing tells "cannot open" from "not valid". */
static int
read_record(const char *path, struct component *out, char *err, bool *missing)
{
	struct elf e;
	struct stat st;
	int rc;

	memset(&e, 0, sizeof(e));
	memset(out, 0, sizeof(*out));
	*missing = false;
	if ((e.fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, WEIR_ERRLEN, "%s: %s", path, strerror(errno));
		*missing = true;
		return -1;
	}
	if (fstat(e.fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, WEIR_ERRLEN, "%s: not a regular file", path);
		close(e.fd);
		return -1;
	}
	e.fsize = (uint64_t)st.st_size;
	rc = elf_open(&e, path, err);
	if (rc == 0)
		rc = elf_record(&e, path, out, err);
	close(e.fd);
	return rc;
}

int
component_read(const char *path, struct component *out, char *err)
{
	bool missing;

	return read_record(path, out, err, &missing);
}

/* --- where the components live ------------------------------------------ */

static bool
is_file(const char *dir, const char *name)
{
	char p[COMPONENT_PATH_MAX];
	struct stat st;
	int n = snprintf(p, sizeof(p), "%s/%s", dir, name);

	return n > 0 && (size_t)n < sizeof(p) && stat(p, &st) == 0 &&
	    S_ISREG(st.st_mode);
}

int
component_locate(struct component_paths *p, char *err)
{
	char cand[COMPONENT_PATH_MAX], *slash;
	ssize_t n;

	memset(p, 0, sizeof(*p));
	if ((n = readlink("/proc/self/exe", p->exe, sizeof(p->exe) - 1)) <= 0 ||
	    (size_t)n >= sizeof(p->exe) - 1) {
		snprintf(err, WEIR_ERRLEN, "/proc/self/exe: %s",
		    n <= 0 ? strerror(errno) : "path too long");
		return -1;
	}
	p->exe[n] = '\0';
	wstrlcpy(p->dir, p->exe, sizeof(p->dir));
	if ((slash = strrchr(p->dir, '/')) != NULL)
		*(slash == p->dir ? slash + 1 : slash) = '\0';
	/* 1. build tree, or a flat copy of it: weir-host beside the binary */
	if (!is_file(p->dir, "weir-host") && !is_file(p->dir, "MANIFEST")) {
		/* 2. installed, relative to the binary (a moved prefix works) */
		n = snprintf(cand, sizeof(cand), "%s/%s", p->dir, WEIR_PKGLIB_REL);
		if (n > 0 && (size_t)n < sizeof(cand) &&
		    (is_file(cand, "MANIFEST") || is_file(cand, "weir-host"))) {
			if (realpath(cand, p->dir) == NULL)
				wstrlcpy(p->dir, cand, sizeof(p->dir));
		} else {
			/* 3. installed, at the configured place */
			wstrlcpy(p->dir, WEIR_PKGLIBDIR, sizeof(p->dir));
		}
	}
	if ((size_t)snprintf(p->manifest, sizeof(p->manifest), "%s/MANIFEST",
	    p->dir) >= sizeof(p->manifest) ||
	    (size_t)snprintf(p->host, sizeof(p->host), "%s/weir-host",
	    p->dir) >= sizeof(p->host) ||
	    (size_t)snprintf(p->modules, sizeof(p->modules), "%s/modules",
	    p->dir) >= sizeof(p->modules)) {
		snprintf(err, WEIR_ERRLEN, "%s: path too long", p->dir);
		return -1;
	}
	return 0;
}

/* --- checking one file ---------------------------------------------------- */

bool
component_check(const char *name, const char *file,
    const struct manifest_entry *want, int abi, struct component_check *c)
{
	bool missing;

	memset(c, 0, sizeof(*c));
	wstrlcpy(c->name, name, sizeof(c->name));
	wstrlcpy(c->file, file, sizeof(c->file));
	c->want = want;
	c->abi = abi;
	if (want == NULL)
		c->flags |= CHK_UNLISTED;
	else if (want->abi != abi)
		c->flags |= CHK_MABI;
	if (read_record(file, &c->found, c->detail, &missing) == -1) {
		c->flags |= missing ? CHK_MISSING : CHK_NORECORD;
		if (missing)
			return false;
	} else {
		if (strcmp(c->found.name, name) != 0)
			c->flags |= CHK_NAME;
		/* Every component must have this weir's ABI. */
		if (c->found.abi != abi)
			c->flags |= CHK_ABI;
		if (want != NULL && strcmp(c->found.version, want->version) != 0)
			c->flags |= CHK_VERSION;
	}
	if (want != NULL) {
		char err[WEIR_ERRLEN];

		if (digest_sha256_file(file, c->sha256, err) == -1) {
			c->flags |= CHK_MISSING;
			wstrlcpy(c->detail, err, sizeof(c->detail));
		} else if (strcmp(c->sha256, want->sha256) != 0) {
			c->flags |= CHK_SHA;
		}
	}
	return (c->flags & CHK_PROBLEMS) == 0;
}

static void
append(char *out, size_t outsz, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
append(char *out, size_t outsz, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len >= outsz)
		return;
	if (*len > 0 && *len + 2 < outsz) {
		memcpy(out + *len, "; ", 3);
		*len += 2;
	}
	va_start(ap, fmt);
	n = vsnprintf(out + *len, outsz - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len = WEIR_MIN(*len + (size_t)n, outsz - 1);
}

void
component_check_status(const struct component_check *c, char *out,
    size_t outsz)
{
	size_t len = 0;

	out[0] = '\0';
	if (c->flags & CHK_MISSING) {
		const char *why = strrchr(c->detail, ':');

		append(out, outsz, &len, "missing (%s)", why != NULL ? why + 2 :
		    c->detail);
		return;
	}
	if (c->flags & CHK_NORECORD)
		append(out, outsz, &len, "no component record");
	if (c->flags & CHK_NAME)
		append(out, outsz, &len, "is component '%s', not '%s'",
		    c->found.name, c->name);
	if (c->flags & CHK_VERSION)
		append(out, outsz, &len, "version mismatch (expected %s, found %s)",
		    c->want->version, c->found.version);
	if (c->flags & CHK_ABI)
		append(out, outsz, &len, "ABI mismatch (expected %d, found %d)",
		    c->abi, c->found.abi);
	if (c->flags & CHK_MABI)
		append(out, outsz, &len, "MANIFEST lists ABI %d, this weir has ABI %d",
		    c->want->abi, c->abi);
	if (c->flags & CHK_SHA)
		append(out, outsz, &len, "SHA-256 differs from MANIFEST");
	if (len == 0)
		append(out, outsz, &len, (c->flags & CHK_UNLISTED) ?
		    "ok (not in MANIFEST)" : "ok");
}

json_t *
component_check_json(const struct component_check *c)
{
	char status[512], exp[128], found[128];
	bool rec = (c->flags & (CHK_MISSING | CHK_NORECORD)) == 0;
	json_t *o;

	component_check_status(c, status, sizeof(status));
	if (c->want != NULL)
		snprintf(exp, sizeof(exp), "%s (ABI %d)", c->want->version, c->abi);
	else
		snprintf(exp, sizeof(exp), "any version (ABI %d)", c->abi);
	if (c->flags & CHK_MISSING)
		snprintf(found, sizeof(found), "missing");
	else if (!rec)
		snprintf(found, sizeof(found), "no component record");
	else
		snprintf(found, sizeof(found), "%s (ABI %d)", c->found.version,
		    c->found.abi);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:i, s:o, s:o, s:o, s:b}",
	    "component", c->name,
	    "file", c->file,
	    "expected", exp,
	    "found", found,
	    "problem", status,
	    "expected_version", c->want != NULL ? json_string(c->want->version) :
	    json_null(),
	    "expected_abi", c->abi,
	    "found_version", rec ? json_string(c->found.version) : json_null(),
	    "found_abi", rec ? json_integer(c->found.abi) : json_null(),
	    "sha256_ok", c->want == NULL || c->sha256[0] == '\0' ? json_null() :
	    json_boolean((c->flags & CHK_SHA) == 0),
	    "ok", (c->flags & CHK_PROBLEMS) == 0);
	return o;
}

/* --- preflight ------------------------------------------------------------- */

static void
problem(json_t **problems, json_t *o)
{
	if (*problems == NULL)
		*problems = json_array();
	json_array_append_new(*problems, o);
}

/* "hello" -> (module_dir/hello.so, "hello"); "/x/crash.so" -> (itself, "crash"). */
static int
module_file(const char *module_dir, const char *m, char *file, size_t filesz,
    char *name, size_t namesz, char *err)
{
	const char *base = strrchr(m, '/');
	size_t bl;
	int n;

	if (base != NULL) {
		base++;
		bl = strlen(base);
		if (bl > 3 && strcmp(base + bl - 3, ".so") == 0)
			bl -= 3;
		if (bl == 0 || bl >= namesz) {
			snprintf(err, WEIR_ERRLEN, "module %s: bad file name", m);
			return -1;
		}
		memcpy(name, base, bl);
		name[bl] = '\0';
		n = snprintf(file, filesz, "%s", m);
	} else {
		if (m[0] == '\0' || strlen(m) >= namesz) {
			snprintf(err, WEIR_ERRLEN, "module '%s': bad name", m);
			return -1;
		}
		wstrlcpy(name, m, namesz);
		n = snprintf(file, filesz, "%s/%s.so", module_dir, m);
	}
	if (n < 0 || (size_t)n >= filesz) {
		snprintf(err, WEIR_ERRLEN, "module %s: path too long", m);
		return -1;
	}
	return 0;
}

int
component_preflight(const char *host_path, const char *module_dir,
    char **modules, size_t n, json_t **problems, char *err)
{
	struct component_paths paths;

	*problems = NULL;
	if (component_locate(&paths, err) == -1)
		return -1;
	return component_preflight_with(paths.manifest, host_path, module_dir,
	    modules, n, problems);
}

int
component_preflight_with(const char *manifest, const char *host_path,
    const char *module_dir, char **modules, size_t n, json_t **problems)
{
	struct component_check c;
	struct manifest m;
	bool have_manifest;
	char merr[WEIR_ERRLEN];

	*problems = NULL;
	/* 1. the MANIFEST: without it nothing can be compared, which is a problem */
	have_manifest = manifest_load(manifest, &m, merr) == 0;
	if (!have_manifest)
		problem(problems, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}",
		    "component", "MANIFEST", "file", manifest,
		    "expected", "a MANIFEST from the build", "found", merr,
		    "problem", "MANIFEST missing or unreadable", "ok", 0));
	/* 2. weir-host: must be listed, match its line and this weir's ABI */
	component_check("weir-host", host_path,
	    have_manifest ? manifest_find(&m, "weir-host") : NULL, WEIR_ABI, &c);
	if ((c.flags & CHK_PROBLEMS) || (have_manifest && c.want == NULL)) {
		json_t *o = component_check_json(&c);

		if (!(c.flags & CHK_PROBLEMS))
			json_object_set_new(o, "problem",
			    json_string("weir-host is not in the MANIFEST"));
		json_object_set_new(o, "ok", json_false());
		problem(problems, o);
	}
	/* 3. each module: its MANIFEST line if listed, else its record alone */
	for (size_t i = 0; i < n; i++) {
		char file[COMPONENT_PATH_MAX], name[COMPONENT_FIELD_MAX];

		if (module_file(module_dir, modules[i], file, sizeof(file), name,
		    sizeof(name), merr) == -1) {
			problem(problems, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}",
			    "component", modules[i], "file", modules[i],
			    "expected", "a module name or path", "found", modules[i],
			    "problem", merr, "ok", 0));
			continue;
		}
		if (!component_check(name, file, have_manifest ?
		    manifest_find(&m, name) : NULL, WEIR_ABI, &c))
			problem(problems, component_check_json(&c));
	}
	if (have_manifest)
		manifest_free(&m);
	return *problems == NULL ? 0 : 1;
}

/* --- the configuration's native pools, offline ------------------------------ */

static void	add_error(struct conf_errors *errs, const char *path, int line,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
add_error(struct conf_errors *errs, const char *path, int line, const char *fmt, ...)
{
	char msg[WEIR_ERRLEN], *full;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (asprintf(&full, "%s:%d: %s", path, line, msg) < 0)
		abort();
	errs->msg = xreallocarray(errs->msg, errs->n + 1, sizeof(char *));
	errs->msg[errs->n++] = full;
}

static const char *
jstr_or(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : dflt;
}

size_t
component_check_conf(const struct conf *c, struct conf_errors *errs)
{
	struct component_paths paths;
	char err[WEIR_ERRLEN];
	size_t before = errs->n;
	int located = 0;	/* 1 found, -1 not found, 0 not looked for yet */

	for (size_t i = 0; i < c->npools; i++) {
		const struct conf_pool *cp = &c->pools[i];
		json_t *problems = NULL, *x;
		size_t j;

		if (cp->kind != POOL_KIND_NATIVE || cp->command != NULL)
			continue;
		if (located == 0)
			located = component_locate(&paths, err) == 0 ? 1 : -1;
		if (located == -1) {
			add_error(errs, c->path, cp->line, "[pool %s] %s", cp->name, err);
			continue;
		}
		(void)component_preflight_with(paths.manifest, paths.host, paths.modules,
		    cp->modules.v, cp->modules.n, &problems);
		json_array_foreach(problems, j, x) {
			const char *comp = jstr_or(x, "component", "?");
			const char *file = jstr_or(x, "file", "?");
			const char *what = jstr_or(x, "problem", "does not match");

			if (strcmp(comp, "weir-host") == 0 || strcmp(comp, "MANIFEST") == 0)
				add_error(errs, c->path, cp->line, "[pool %s] %s %s: %s",
				    cp->name, comp, file, what);
			else
				add_error(errs, c->path, cp->line, "[pool %s] module '%s': %s: %s",
				    cp->name, comp, file, what);
		}
		json_decref(problems);
	}
	return errs->n - before;
}

/* --- weir-host's command line ---------------------------------------------- */

char **
component_host_argv(const struct conf_pool *cp, const char *host_path,
    const char *module_dir)
{
	size_t argc = 0, max = 8 + 2 * cp->modules.n + 2 * cp->nmodule_settings;
	char **argv = xcalloc(max + 1, sizeof(char *));
	char num[16];

	argv[argc++] = xstrdup(host_path);
	argv[argc++] = xstrdup("--pool");
	argv[argc++] = xstrdup(cp->name);
	argv[argc++] = xstrdup("--module-dir");
	argv[argc++] = xstrdup(module_dir);
	snprintf(num, sizeof(num), "%u", cp->host_threads > 0 ? cp->host_threads : 4);
	argv[argc++] = xstrdup("--threads");
	argv[argc++] = xstrdup(num);
	for (size_t i = 0; i < cp->modules.n; i++) {
		argv[argc++] = xstrdup("--module");
		argv[argc++] = xstrdup(cp->modules.v[i]);
	}
	for (size_t i = 0; i < cp->nmodule_settings; i++) {
		const struct conf_kv *kv = &cp->module_settings[i];
		size_t kl = strlen(kv->key), vl = strlen(kv->value);
		char *s = xmalloc(kl + vl + 2);

		memcpy(s, kv->key, kl);
		s[kl] = '=';
		memcpy(s + kl + 1, kv->value, vl + 1);
		argv[argc++] = xstrdup("--set");
		argv[argc++] = s;
	}
	argv[argc] = NULL;
	return argv;
}
