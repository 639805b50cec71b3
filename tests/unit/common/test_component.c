/*
 * test_component.c - unit tests for src/common/component.c and manifest.c:
 * the ABI of module.h equals meson's, records parse (table), a record made
 * by WEIR_MODULE() is found in this very executable without loading it,
 * damaged ELF files are refused without crashing, MANIFEST parsing, the
 * per-file check, preflight, and weir-host's command line.
 */
#include "../unit.h"
#include "../../../src/common/component.c"
#include "../../../src/common/manifest.c"

#include <stdlib.h>
#include <sys/stat.h>

#include "weir/module.h"

/* This executable is a "module" for the record tests. */
static int
unit_handle(weir_ctx *ctx, weir_req *req)
{
	(void)ctx;
	(void)req;
	return WEIR_MOD_DECLINED;
}

WEIR_MODULE("unittest", "9.8.7", .handle = unit_handle);

static char tmpdir[] = "/tmp/weir-test-component-XXXXXX";

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK(fwrite(p, 1, n, f) == n);
	fclose(f);
}

static char *
slurp(const char *path, size_t *n)
{
	char err[WEIR_ERRLEN], *p = read_file(path, 64 << 20, n, err);

	CHECKF(p != NULL, "%s", err);
	return p;
}

static void
test_abi(void)
{
	/* include/weir/module.h and meson's weir_abi must agree. */
	CHECK_INT(WEIR_MODULE_ABI, WEIR_ABI);
	CHECK_INT(weir_module.abi, WEIR_ABI);
	CHECK_STR(weir_module.name, "unittest");
	CHECK(weir_module.handle == unit_handle);
	CHECK_INT(weir_module.size, sizeof(struct weir_module));
}

static void
test_parse(void)
{
	static const struct {
		int		 line;
		const char	*rec;
		int		 rc;
		const char	*name, *version, *build;
		int		 abi;
	} t[] = {
		{ __LINE__, "WEIRCOMP1 name=hello version=0.1.0 abi=1 build=abc", 0, "hello", "0.1.0", "abc", 1 },
		{ __LINE__, "WEIRCOMP1 name=hello version=0.1.0 abi=12", 0, "hello", "0.1.0", "none", 12 },
		{ __LINE__, "WEIRCOMP1  abi=2   name=x version=1 later=yes\n", 0, "x", "1", "none", 2 },
		{ __LINE__, "WEIRCOMP1 name=hello version=0.1.0", -1, NULL, NULL, NULL, 0 },
		{ __LINE__, "WEIRCOMP1 name=hello abi=1", -1, NULL, NULL, NULL, 0 },
		{ __LINE__, "WEIRCOMP1 version=1 abi=1", -1, NULL, NULL, NULL, 0 },
		{ __LINE__, "WEIRCOMP2 name=a version=1 abi=1", -1, NULL, NULL, NULL, 0 },
		{ __LINE__, "WEIRCOMP1", -1, NULL, NULL, NULL, 0 },
		{ __LINE__, "WEIRCOMP1name=a version=1 abi=1", -1, NULL, NULL, NULL, 0 },
		{ __LINE__, "WEIRCOMP1 name=a version=1 abi=-1", -1, NULL, NULL, NULL, 0 },
		{ __LINE__, "WEIRCOMP1 name=a version=1 abi=1x", -1, NULL, NULL, NULL, 0 },
		{ __LINE__, "WEIRCOMP1 name=a version=1 abi=", -1, NULL, NULL, NULL, 0 },
		{ __LINE__, "WEIRCOMP1 name=a version=1 abi=1234567", -1, NULL, NULL, NULL, 0 },
		{ __LINE__, "WEIRCOMP1 name= version=1 abi=1", -1, NULL, NULL, NULL, 0 },
		{ __LINE__, "WEIRCOMP1 name=a version=1 abi=1 junk", -1, NULL, NULL, NULL, 0 },
		{ __LINE__, "WEIRCOMP1 name=a\x01 version=1 abi=1", -1, NULL, NULL, NULL, 0 },
		{ __LINE__, "WEIRCOMP1 name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa version=1 abi=1",
		  -1, NULL, NULL, NULL, 0 },
	};
	struct component c;
	char err[WEIR_ERRLEN];

	for (size_t i = 0; i < nitems(t); i++) {
		int rc = component_parse(t[i].rec, strlen(t[i].rec), &c, err);

		CHECKF(rc == t[i].rc, "line %d: rc %d (%s)", t[i].line, rc,
		    rc == -1 ? err : "");
		if (rc != 0 || t[i].rc != 0)
			continue;
		CHECKF(strcmp(c.name, t[i].name) == 0, "line %d: name %s", t[i].line, c.name);
		CHECKF(strcmp(c.version, t[i].version) == 0, "line %d", t[i].line);
		CHECKF(strcmp(c.build, t[i].build) == 0, "line %d: build %s", t[i].line, c.build);
		CHECKF(c.abi == t[i].abi, "line %d: abi %d", t[i].line, c.abi);
	}
	/* The record stops at the first NUL, even inside n. */
	CHECK_INT(component_parse("WEIRCOMP1 name=a version=1 abi=1\0 name=b", 40, &c, err), 0);
	CHECK_STR(c.name, "a");
}

static void
test_read(void)
{
	struct component c;
	char err[WEIR_ERRLEN], path[512];
	size_t n;
	char *self;

	/* 1. this executable carries the record WEIR_MODULE() made */
	CHECKF(component_read("/proc/self/exe", &c, err) == 0, "%s", err);
	CHECK_STR(c.name, "unittest");
	CHECK_STR(c.version, "9.8.7");
	CHECK_INT(c.abi, WEIR_MODULE_ABI);
	CHECK_STR(c.build, "none");

	/* 2. files that are not components */
	CHECK_INT(component_read("/nonexistent/x.so", &c, err), -1);
	CHECK(strstr(err, "No such file") != NULL);
	snprintf(path, sizeof(path), "%s/text", tmpdir);
	write_file(path, "hello, world\n", 13);
	CHECK_INT(component_read(path, &c, err), -1);
	CHECK(strstr(err, "not an ELF file") != NULL);
	CHECK_INT(component_read(tmpdir, &c, err), -1);
	CHECK(strstr(err, "not a regular file") != NULL);
	if (access("/bin/sh", R_OK) == 0) {
		CHECK_INT(component_read("/bin/sh", &c, err), -1);
		CHECKF(strstr(err, "no component record") != NULL, "%s", err);
	}

	/* 3. damaged copies: refused, never a crash (ASan watches) */
	self = slurp("/proc/self/exe", &n);
	if (self == NULL)
		return;
	snprintf(path, sizeof(path), "%s/damaged", tmpdir);
	for (size_t cut = 0; cut < 256; cut += 7) {
		write_file(path, self, cut);
		CHECKF(component_read(path, &c, err) == -1, "cut at %zu", cut);
	}
	write_file(path, self, n / 2);
	(void)component_read(path, &c, err);
	srand(6);
	for (int i = 0; i < 300; i++) {
		char *copy = malloc(n);
		size_t off;

		memcpy(copy, self, n);
		/* Damage the ELF header and the section header table. */
		for (int k = 0; k < 4; k++) {
			off = (size_t)rand() % 64;
			if (k % 2 == 1 && ((Elf64_Ehdr *)(void *)self)->e_shoff < n)
				off = (size_t)((Elf64_Ehdr *)(void *)self)->e_shoff +
				    (size_t)rand() % (n - (size_t)((Elf64_Ehdr *)(void *)self)->e_shoff);
			copy[off] = (char)rand();
		}
		write_file(path, copy, n);
		(void)component_read(path, &c, err);
		free(copy);
	}
	free(self);
}

static void
test_manifest(void)
{
	static const struct {
		int		 line;
		const char	*text;
		int		 rc;
		size_t		 n;
		const char	*err;
	} t[] = {
		{ __LINE__, "# build abc\nweir weir 0.1.0 1 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n", 0, 1, NULL },
		{ __LINE__, "\n  # c\nweir\tweir\t0.1.0\t1\te3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
		  "hello modules/hello.so 1.0 1 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0, 2, NULL },
		{ __LINE__, "", -1, 0, "lists no components" },
		{ __LINE__, "# only\n", -1, 0, "lists no components" },
		{ __LINE__, "weir weir 0.1.0 1\n", -1, 0, ":1: expected" },
		{ __LINE__, "\nweir weir 0.1.0 1 abc\n", -1, 0, ":2: malformed" },
		{ __LINE__, "weir weir 0.1.0 x e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n", -1, 0, "malformed" },
		{ __LINE__, "weir weir 0.1.0 1 E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\n", -1, 0, "malformed" },
		{ __LINE__, "weir weir 0.1.0 1 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 extra\n", -1, 0, "expected" },
		{ __LINE__, "a x 1 1 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
		  "a y 1 1 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n", -1, 0, "listed twice" },
	};
	struct manifest m;
	char path[512], err[WEIR_ERRLEN], want[600];

	snprintf(path, sizeof(path), "%s/MANIFEST", tmpdir);
	for (size_t i = 0; i < nitems(t); i++) {
		int rc;

		write_file(path, t[i].text, strlen(t[i].text));
		rc = manifest_load(path, &m, err);
		CHECKF(rc == t[i].rc, "line %d: rc %d (%s)", t[i].line, rc, rc ? err : "");
		if (rc == 0) {
			CHECKF(m.n == t[i].n, "line %d: %zu entries", t[i].line, m.n);
			manifest_free(&m);
		} else if (t[i].err != NULL) {
			CHECKF(strstr(err, t[i].err) != NULL, "line %d: %s", t[i].line, err);
		}
	}
	write_file(path, t[1].text, strlen(t[1].text));
	if (manifest_load(path, &m, err) == 0) {
		const struct manifest_entry *e = manifest_find(&m, "hello");

		CHECK(e != NULL);
		if (e != NULL) {
			snprintf(want, sizeof(want), "%s/modules/hello.so", tmpdir);
			CHECK_STR(e->file, want);
			CHECK_STR(e->path, "modules/hello.so");
			CHECK_STR(e->version, "1.0");
			CHECK_INT(e->line, 4);
		}
		CHECK(manifest_find(&m, "cgi") == NULL);
		CHECK(m.build == NULL);
		manifest_free(&m);
	}
	write_file(path, t[0].text, strlen(t[0].text));
	if (manifest_load(path, &m, err) == 0) {
		CHECK_STR(m.build, "abc");
		manifest_free(&m);
	}
}

/* A MANIFEST in tmpdir listing this executable as `name` with version v. */
static void
write_self_manifest(const char *name, const char *version, int abi,
    const char *sha)
{
	char path[512], text[1024], real[COMPONENT_PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", real, sizeof(real) - 1);

	real[n > 0 ? n : 0] = '\0';
	snprintf(text, sizeof(text), "# build t\n%s %s %s %d %s\n", name, real,
	    version, abi, sha);
	snprintf(path, sizeof(path), "%s/MANIFEST", tmpdir);
	write_file(path, text, strlen(text));
}

static void
test_check(void)
{
	struct component_check c;
	struct manifest m;
	char sha[SHA256_HEXLEN], err[WEIR_ERRLEN], path[512], status[512];

	CHECK_INT(digest_sha256_file("/proc/self/exe", sha, err), 0);
	snprintf(path, sizeof(path), "%s/MANIFEST", tmpdir);

	/* 1. all good */
	write_self_manifest("unittest", "9.8.7", WEIR_ABI, sha);
	if (manifest_load(path, &m, err) != 0)
		return;
	CHECK(component_check("unittest", m.v[0].file, &m.v[0], WEIR_ABI, &c));
	component_check_status(&c, status, sizeof(status));
	CHECK_STR(status, "ok");
	/* 2. another weir's ABI: the file is wrong for it */
	CHECK(!component_check("unittest", m.v[0].file, &m.v[0], WEIR_ABI + 1, &c));
	CHECK_INT(c.flags & CHK_PROBLEMS, CHK_ABI | CHK_MABI);
	component_check_status(&c, status, sizeof(status));
	{
		char want[64];

		snprintf(want, sizeof(want), "ABI mismatch (expected %d, found %d)",
		    WEIR_ABI + 1, WEIR_ABI);
		CHECKF(strstr(status, want) != NULL, "%s", status);
	}
	/* 3. named as another component */
	CHECK(!component_check("hello", m.v[0].file, &m.v[0], WEIR_ABI, &c));
	CHECK_INT(c.flags & CHK_PROBLEMS, CHK_NAME);
	/* 4. unlisted: record and ABI only */
	CHECK(component_check("unittest", m.v[0].file, NULL, WEIR_ABI, &c));
	component_check_status(&c, status, sizeof(status));
	CHECK_STR(status, "ok (not in MANIFEST)");
	/* 5. missing */
	CHECK(!component_check("unittest", "/nonexistent/u.so", &m.v[0], WEIR_ABI, &c));
	CHECK_INT(c.flags & CHK_PROBLEMS, CHK_MISSING);
	component_check_status(&c, status, sizeof(status));
	CHECKF(strstr(status, "missing (No such file") == status, "%s", status);
	{
		json_t *o = component_check_json(&c);

		CHECK_STR(json_string_value(json_object_get(o, "found")), "missing");
		CHECK(json_is_false(json_object_get(o, "ok")));
		json_decref(o);
	}
	manifest_free(&m);

	/* 6. version and SHA-256 differ from the MANIFEST's */
	write_self_manifest("unittest", "9.8.6", WEIR_ABI,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	if (manifest_load(path, &m, err) != 0)
		return;
	CHECK(!component_check("unittest", m.v[0].file, &m.v[0], WEIR_ABI, &c));
	CHECK_INT(c.flags & CHK_PROBLEMS, CHK_VERSION | CHK_SHA);
	component_check_status(&c, status, sizeof(status));
	CHECK_STR(status, "version mismatch (expected 9.8.6, found 9.8.7); "
	    "SHA-256 differs from MANIFEST");
	{
		json_t *o = component_check_json(&c);
		char want[32];


		snprintf(want, sizeof(want), "9.8.6 (ABI %d)", WEIR_ABI);
		CHECK_STR(json_string_value(json_object_get(o, "expected")), want);
		snprintf(want, sizeof(want), "9.8.7 (ABI %d)", WEIR_ABI);
		CHECK_STR(json_string_value(json_object_get(o, "found")), want);
		CHECK(json_is_false(json_object_get(o, "sha256_ok")));
		json_decref(o);
	}
	manifest_free(&m);
}

static void
test_preflight(void)
{
	char path[512], sha[SHA256_HEXLEN], err[WEIR_ERRLEN];
	char *mods[] = { "unittest", NULL };
	json_t *p = NULL;

	CHECK_INT(digest_sha256_file("/proc/self/exe", sha, err), 0);
	snprintf(path, sizeof(path), "%s/MANIFEST", tmpdir);

	/* 1. no MANIFEST: one problem naming it, and the unlisted checks still run */
	unlink(path);
	CHECK_INT(component_preflight_with(path, "/proc/self/exe", tmpdir, mods, 0, &p), 1);
	CHECK(json_array_size(p) == 2);		/* MANIFEST, weir-host's name */
	CHECK_STR(json_string_value(json_object_get(json_array_get(p, 0), "component")),
	    "MANIFEST");
	json_decref(p);

	/* 2. a module given as a path, listed and right; the "host" misnamed */
	write_self_manifest("unittest", "9.8.7", WEIR_ABI, sha);
	mods[0] = "/proc/self/exe";
	CHECK_INT(component_preflight_with(path, "/proc/self/exe", tmpdir, mods, 1, &p), 1);
	/* exe is not named unittest.so, so the module is "exe": misnamed too */
	CHECK_INT(json_array_size(p), 2);
	json_decref(p);

	/* 3. a module in module_dir that is missing */
	mods[0] = "nosuch";
	CHECK_INT(component_preflight_with(path, "/proc/self/exe", tmpdir, mods, 1, &p), 1);
	CHECK_INT(json_array_size(p), 2);
	CHECK_STR(json_string_value(json_object_get(json_array_get(p, 1), "found")),
	    "missing");
	json_decref(p);

	/* 4. bad module names */
	mods[0] = "";
	CHECK_INT(component_preflight_with(path, "/proc/self/exe", tmpdir, mods, 1, &p), 1);
	json_decref(p);
}

static void
test_host_argv(void)
{
	static const char *want[] = {
		"/x/weir-host", "--pool", "shop", "--module-dir", "/x/modules",
		"--threads", "8", "--module", "hello", "--module", "cgi",
		"--set", "hello.greeting=Hi there", "--set", "cgi.root=/srv/a=b", NULL,
	};
	char *mods[] = { "hello", "cgi" };
	struct conf_kv kv[] = {
		{ "hello.greeting", "Hi there", 3 },
		{ "cgi.root", "/srv/a=b", 4 },
	};
	struct conf_pool cp;
	char **argv;
	size_t i;

	memset(&cp, 0, sizeof(cp));
	cp.name = "shop";
	cp.modules.v = mods;
	cp.modules.n = 2;
	cp.module_settings = kv;
	cp.nmodule_settings = 2;
	cp.host_threads = 8;
	argv = component_host_argv(&cp, "/x/weir-host", "/x/modules");
	for (i = 0; want[i] != NULL; i++) {
		CHECKF(argv[i] != NULL && strcmp(argv[i], want[i]) == 0, "argv[%zu] = %s",
		    i, argv[i] != NULL ? argv[i] : "(null)");
		if (argv[i] == NULL)
			break;
	}
	CHECK(argv[i] == NULL);
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

int
main(void)
{
	char path[512];

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_abi();
	test_parse();
	test_read();
	test_manifest();
	test_check();
	test_preflight();
	test_host_argv();
	snprintf(path, sizeof(path), "rm -rf '%s'", tmpdir);
	CHECK(system(path) == 0);
	return unit_done("test_component");
}
