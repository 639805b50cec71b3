/*
 * test_fsiso.c - the pure parts of filesystem isolation: a mountinfo line
 * split into the mount point (octal escapes undone) and the flags a bind
 * remount must repeat; "is this path within that directory"; the private
 * tmp paths; and the removal of a tree a worker wrote, which must remove a
 * symlink and never what it points to.
 */
#include <stdlib.h>
#include <sys/mount.h>

#include "../unit.h"
#include "../../../src/master/fsiso.c"

/* wstrlcpy, xmalloc ... and the log functions, standalone. */
#include "../../../src/common/util.c"
#include "../../../src/common/log.c"

/* conf.c's, which needs inih: the test counts what would be added. */
static size_t added;

void
conf_errors_add(struct conf_errors *e, const char *fmt, ...)
{
	(void)e;
	(void)fmt;
	added++;
}

struct mcase {
	const char	*line;
	int		 rc;
	const char	*mp;
	unsigned long	 flags;
};

static const struct mcase mcases[] = {
	{ "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard", 0, "/", MS_RELATIME },
	{ "28 27 0:25 / /mnt/x ro,nosuid,nodev,relatime - tmpfs t ro,size=4k", 0, "/mnt/x",
	    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_RELATIME },
	{ "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw", 0, "/mnt2",
	    MS_NOATIME },
	{ "40 27 0:40 / /srv/my\\040data rw,nosuid,noexec shared:7 - nfs s:/x rw", 0,
	    "/srv/my data", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME },
	{ "41 27 0:41 / /a\\134b rw,nodiratime,relatime - ext4 x rw", 0, "/a\\b",
	    MS_NODIRATIME | MS_RELATIME },
	{ "42 27 0:42 / /gone\\040(deleted) rw - ext4 x rw", 0, "/gone (deleted)",
	    MS_STRICTATIME },
	{ "27 1 254:0 /", -1, NULL, 0 },
	{ "", -1, NULL, 0 },
	{ "27 1 254:0 / relative rw - ext4 x rw", -1, NULL, 0 },
};

static void
test_mountinfo(void)
{
	for (size_t i = 0; i < nitems(mcases); i++) {
		const struct mcase *c = &mcases[i];
		char buf[256], *mp = NULL;
		unsigned long flags = 0;
		int rc;

		snprintf(buf, sizeof(buf), "%s\n", c->line);
		rc = fsiso_mountinfo_line(buf, &mp, &flags);
		CHECKF(rc == c->rc, "%s: rc %d", c->line, rc);
		if (rc != 0 || c->rc != 0)
			continue;
		CHECK_STR(mp, c->mp);
		CHECKF(flags == c->flags, "%s: flags %#lx, want %#lx", c->line, flags, c->flags);
	}
}

static void
test_within(void)
{
	static const struct { const char *path, *dir; bool within; } v[] = {
		{ "/tmp", "/tmp", true },
		{ "/tmp/x", "/tmp", true },
		{ "/tmp/x", "/tmp/", true },
		{ "/tmpx", "/tmp", false },
		{ "/var/tmp", "/tmp", false },
		{ "/", "/", true },
		{ "/anything", "/", true },
		{ "/proc/sys/fs/binfmt_misc", "/proc", true },
		{ "/srv", "/srv/data", false },
	};

	for (size_t i = 0; i < nitems(v); i++)
		CHECKF(fsiso_path_within(v[i].path, v[i].dir) == v[i].within, "%s in %s",
		    v[i].path, v[i].dir);
}

static void
test_paths(void)
{
	char buf[64];

	CHECK(fsiso_tmp_path("/run/weir", NULL, NULL, buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "/run/weir/private");
	CHECK(fsiso_tmp_path("/run/weir", "shop", NULL, buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "/run/weir/private/shop");
	CHECK(fsiso_tmp_path("/run/weir", "shop", "var-tmp", buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "/run/weir/private/shop/var-tmp");
	CHECK(fsiso_tmp_path("/run/weir", "shop", "var-tmp", buf, 20) == -1);
}

/* A tree with a symlink to a file and one to a directory outside it. */
static void
test_remove(void)
{
	char base[] = "/tmp/weir-unit-fsiso-XXXXXX", p[512], q[512];
	struct stat st;
	FILE *f;

	CHECK(mkdtemp(base) != NULL);
	snprintf(p, sizeof(p), "%s/outside", base);
	CHECK(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/outside/keep", base);
	CHECK((f = fopen(p, "w")) != NULL && fclose(f) == 0);
	snprintf(p, sizeof(p), "%s/private", base);
	CHECK(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/private/pool", base);
	CHECK(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/private/pool/tmp", base);
	CHECK(mkdir(p, 01777) == 0);
	for (int i = 0; i < 50; i++) {
		snprintf(p, sizeof(p), "%s/private/pool/tmp/f%d", base, i);
		CHECK((f = fopen(p, "w")) != NULL && fclose(f) == 0);
	}
	snprintf(p, sizeof(p), "%s/private/pool/tmp/a", base);
	CHECK(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/private/pool/tmp/a/b", base);
	CHECK(mkdir(p, 0700) == 0);
	snprintf(q, sizeof(q), "%s/outside", base);
	snprintf(p, sizeof(p), "%s/private/pool/tmp/a/dirlink", base);
	CHECK(symlink(q, p) == 0);
	snprintf(q, sizeof(q), "%s/outside/keep", base);
	snprintf(p, sizeof(p), "%s/private/pool/tmp/filelink", base);
	CHECK(symlink(q, p) == 0);

	fsiso_clean(base);
	snprintf(p, sizeof(p), "%s/private", base);
	CHECK(lstat(p, &st) == -1 && errno == ENOENT);
	snprintf(p, sizeof(p), "%s/outside/keep", base);
	CHECK(lstat(p, &st) == 0);
	/* nothing there: nothing to do */
	fsiso_clean(base);
	CHECK(unlink(p) == 0);
	snprintf(p, sizeof(p), "%s/outside", base);
	CHECK(rmdir(p) == 0);
	CHECK(rmdir(base) == 0);
	CHECK(added == 0);
}

int
main(void)
{
	test_mountinfo();
	test_within();
	test_paths();
	test_remove();
	return unit_done("fsiso");
}
