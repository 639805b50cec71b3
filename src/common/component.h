/*
 * component.h - versioned components: the record every weir component embeds,
 * the MANIFEST the build writes, where the components live, and the checks
 * built on them (`weir verify`, the master's preflight, weir-host's ABI
 * check).
 *
 * The record is a NUL-terminated string in the ELF section .weir_component
 * of each component (weir, weir-host, every module .so):
 *
 *	WEIRCOMP1 name=hello version=0.1.0 abi=1 build=5b55214-dirty
 *
 * component_read() finds it by reading the file's section headers: it never
 * loads or runs the file, so a module built for another ABI is refused
 * before any of its code (constructors included) can run.
 *
 * The MANIFEST (written by scripts/gen-manifest at build and install time)
 * has one line per component, fields separated by blanks, paths relative to
 * the MANIFEST's directory:
 *
 *	# weir MANIFEST 1
 *	weir      weir              0.1.0  1  <sha256>
 *	weir-host weir-host         0.1.0  1  <sha256>
 *	hello     modules/hello.so  0.1.0  1  <sha256>
 *
 * Nothing here logs: errors go to the caller's err[WEIR_ERRLEN].
 */
#ifndef WEIR_COMPONENT_H
#define WEIR_COMPONENT_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "rc.h"
#include "digest.h"

#define COMPONENT_SECTION	".weir_component"
#define COMPONENT_MAGIC		"WEIRCOMP1"
#define COMPONENT_FIELD_MAX	64	/* name, version and build, with NUL */
#define COMPONENT_PATH_MAX	4096

/* The record of one component. */
struct component {
	char	 name[COMPONENT_FIELD_MAX];	/* "weir", "weir-host", "hello" */
	char	 version[COMPONENT_FIELD_MAX];	/* "0.1.0" */
	int	 abi;				/* WEIR_ABI it was built for */
	char	 build[COMPONENT_FIELD_MAX];	/* build id, "none" outside the tree */
};

/*
 * Parse a record string (the section's bytes, up to the first NUL or n).
 * Fields after the magic are key=value words; name, version and abi are
 * required, build is optional ("none"); unknown keys are ignored so that
 * later versions can add some.
 */
int	component_parse(const char *rec, size_t n, struct component *out,
	    char *err);

/*
 * Read the record of the ELF file at path without loading it: exactly one
 * record must be in its .weir_component section.  -1 with err when the file
 * cannot be read, is not ELF, has no record ("no component record: not a
 * weir component, or built without WEIR_MODULE()") or a malformed one.
 */
int	component_read(const char *path, struct component *out, char *err);

/* --- where the components live ------------------------------------------ */

/*
 * The component directory holds MANIFEST, weir-host and modules/.  In the
 * build tree it is the directory of the weir binary (build/); installed it
 * is <libdir>/weir (found relative to the binary, then at the configured
 * absolute path).  A directory containing weir-host is taken as is, so a
 * flat copy of the build tree works too.
 */
struct component_paths {
	char	 dir[COMPONENT_PATH_MAX];	/* the component directory */
	char	 exe[COMPONENT_PATH_MAX];	/* this executable */
	char	 manifest[COMPONENT_PATH_MAX];	/* dir/MANIFEST */
	char	 host[COMPONENT_PATH_MAX];	/* dir/weir-host */
	char	 modules[COMPONENT_PATH_MAX];	/* dir/modules */
};

int	component_locate(struct component_paths *p, char *err);

/* --- MANIFEST ------------------------------------------------------------- */

struct manifest_entry {
	char	 name[COMPONENT_FIELD_MAX];
	char	*path;			/* as written: relative to the MANIFEST */
	char	*file;			/* resolved: dir of the MANIFEST + path */
	char	 version[COMPONENT_FIELD_MAX];
	int	 abi;
	char	 sha256[SHA256_HEXLEN];
	int	 line;
};

struct manifest {
	char			*path;		/* the MANIFEST file */
	char			*build;		/* "# build ID" line, or NULL */
	struct manifest_entry	*v;
	size_t			 n;
};

/* Load and validate a MANIFEST; errors are "path:line: what". */
int	manifest_load(const char *path, struct manifest *m, char *err);
void	manifest_free(struct manifest *m);
const struct manifest_entry *manifest_find(const struct manifest *m,
	    const char *name);

/* What checking one file found (see component_check()). */
enum {
	CHK_MISSING	= 0x01,		/* cannot be read */
	CHK_NORECORD	= 0x02,		/* no or bad record */
	CHK_NAME	= 0x04,		/* record names another component */
	CHK_VERSION	= 0x08,		/* version differs from the MANIFEST's */
	CHK_ABI		= 0x10,		/* ABI differs from the expected one */
	CHK_SHA		= 0x20,		/* SHA-256 differs from the MANIFEST's */
	CHK_UNLISTED	= 0x40,		/* not in the MANIFEST (not a problem alone) */
	CHK_MABI	= 0x80		/* the MANIFEST's ABI is not this weir's */
};

struct component_check {
	char		 name[COMPONENT_FIELD_MAX];	/* component expected */
	char		 file[COMPONENT_PATH_MAX];	/* file examined */
	const struct manifest_entry *want;		/* its MANIFEST line, or NULL */
	int		 abi;				/* ABI every component must have (weir's) */
	struct component found;				/* valid unless MISSING/NORECORD */
	char		 sha256[SHA256_HEXLEN];		/* "" when not computed */
	unsigned	 flags;				/* CHK_* */
	char		 detail[WEIR_ERRLEN];		/* read error, if any */
};

#define CHK_PROBLEMS	(CHK_MISSING | CHK_NORECORD | CHK_NAME | CHK_VERSION | \
			 CHK_ABI | CHK_SHA | CHK_MABI)

/*
 * Check one file: readable, its record names `name`, its ABI is `abi` (the
 * checking weir's WEIR_ABI), and, when `want` (its MANIFEST line) is given,
 * version and SHA-256 match it and the line's ABI is `abi` too.
 * Fills *c; returns true when nothing is wrong.
 */
bool	component_check(const char *name, const char *file,
	    const struct manifest_entry *want, int abi, struct component_check *c);

/* "ABI mismatch (expected 1, found 2); SHA-256 differs" or "ok". */
void	component_check_status(const struct component_check *c, char *out,
	    size_t outsz);

/* { file, component, expected, found, problem, ... } for events and JSON. */
json_t	*component_check_json(const struct component_check *c);

/*
 * Preflight for a native pool, run by the master before it starts one: check
 * weir-host at host_path and each module against the MANIFEST beside this
 * executable and against this binary's WEIR_ABI.  A module name containing
 * '/' is a path to its .so; otherwise it is module_dir/NAME.so.  Modules not
 * in the MANIFEST (third-party) are checked for their record and ABI only.
 *
 * Returns 0 when everything matches (*problems = NULL), 1 when something
 * does not (*problems = a new JSON array, one object per file, owned by the
 * caller), -1 when the check itself could not run (err says why; *problems
 * NULL).  A missing or unreadable MANIFEST is a problem (1), not an error.
 */
int	component_preflight(const char *host_path, const char *module_dir,
	    char **modules, size_t n, json_t **problems, char *err);

/* The same against a given MANIFEST (tests; tools); returns 0 or 1. */
int	component_preflight_with(const char *manifest, const char *host_path,
	    const char *module_dir, char **modules, size_t n, json_t **problems);

/* --- the weir-host command line --------------------------------------------- */

struct conf;
struct conf_pool;
struct conf_errors;

/*
 * The preflight of every native pool of c (component_preflight()), offline:
 * `weir check`, the master's start and a reload refuse what would only fail
 * at run time (event 1300).  Each problem is appended to errs as
 * "FILE:LINE: [pool NAME] module 'M': MODULE_FILE: PROBLEM" (weir-host and
 * the MANIFEST by name and file), LINE being the pool's section.  Returns
 * the number of problems appended.
 */
size_t	component_check_conf(const struct conf *c, struct conf_errors *errs);

/*
 * The argv the master execs for a worker of a kind = native pool:
 *
 *	HOST --pool NAME --module-dir DIR --threads N
 *	     --module M1 [--module M2 ...] [--set M.KEY=VALUE ...]
 *
 * malloc'd, NULL-terminated; free with conf_argv_free().
 */
char	**component_host_argv(const struct conf_pool *cp, const char *host_path,
	    const char *module_dir);

#endif
