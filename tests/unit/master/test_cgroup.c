/*
 * test_cgroup.c - the pools' cgroups without a kernel: /proc/self/cgroup
 * and /proc/mounts parsed from text, the hierarchy chosen (v2 when it
 * offers controllers, else v1, else none with the reason), and the files
 * written and read under a fake cgroup root in a temporary directory, for
 * both cgroup v2 and v1.  A real cgroupfs makes a new cgroup's files
 * itself; here the tree is laid out first (mkdir of an existing cgroup is
 * accepted by the code, as it must be across restarts).
 */
#include "../unit.h"
#include "../../../src/master/cgroup.c"

#include "../../../src/common/util.c"
#include "../../../src/common/log.c"

#include <stdlib.h>
#include <sys/wait.h>

struct pcase {
	const char	*name;
	const char	*self;
	const char	*ctl;		/* NULL: the unified line */
	int		 rc;
	const char	*path;
};

static const char SELF_HERE[] =
    "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/9d91\n2:cpuacct:/\n1:cpu:/\n0::/\n";

static const struct pcase pcases[] = {
	{ "v1 nested memory path", SELF_HERE, "memory", 0, "/process_api/9d91" },
	{ "v1 pids at the root", SELF_HERE, "pids", 0, "/" },
	{ "unified line", SELF_HERE, NULL, 0, "/" },
	{ "co-mounted cpu,cpuacct", "3:cpu,cpuacct:/a/b\n", "cpuacct", 0, "/a/b" },
	{ "no such controller", "3:cpu,cpuacct:/a/b\n", "memory", -1, NULL },
	{ "name= is not a controller", "9:name=systemd:/x\n", "systemd", -1, NULL },
	{ "v2 only, no newline at the end", "0::/system.slice/weir.service", NULL, 0,
	    "/system.slice/weir.service" },
	{ "v2 line missing", "4:memory:/x\n", NULL, -1, NULL },
	{ "empty", "", "memory", -1, NULL },
};

struct mcase {
	const char	*name;
	const char	*ctl;
	int		 rc;
	const char	*dir;
};

static const char MOUNTS_HERE[] =
    "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
    "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
    "cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0\n"
    "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
    "cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0\n"
    "cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0\n"
    "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n";

static const struct mcase mcases[] = {
	{ "v1 memory", "memory", 0, "/sys/fs/cgroup/memory" },
	{ "v1 cpu is not cpuacct", "cpu", 0, "/sys/fs/cgroup/cpu" },
	{ "v1 cpuacct", "cpuacct", 0, "/sys/fs/cgroup/cpuacct" },
	{ "cgroup2", NULL, 0, "/sys/fs/cgroup/unified" },
	{ "not mounted", "blkio", -1, NULL },
	{ "name=systemd is no controller", "systemd", -1, NULL },
};

static char root[256];

static void
putf(const char *rel, const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
}

static void
dir(const char *rel)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (mkdir(path, 0755) == -1 && errno != EEXIST) {
		perror(path);
		exit(2);
	}
}

/* The content of root/rel, without a final newline; "" if missing. */
static const char *
got(const char *rel)
{
	static char buf[1024];
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (read_small(path, buf, sizeof(buf)) == -1)
		return "";
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

#define CHECK_FILE(rel, want) CHECKF(strcmp(got(rel), (want)) == 0, \
	    "%s: got '%s', want '%s'", (rel), got(rel), (want))

static void
test_parse(void)
{
	char out[CGROUP_PATH];

	for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
		const struct pcase *c = &pcases[i];
		int rc = cgroup_self_path(c->self, c->ctl, out, sizeof(out));

		CHECKF(rc == c->rc, "%s: rc %d", c->name, rc);
		if (rc == 0 && c->path != NULL)
			CHECKF(strcmp(out, c->path) == 0, "%s: '%s'", c->name, out);
	}
	for (size_t i = 0; i < sizeof(mcases) / sizeof(mcases[0]); i++) {
		const struct mcase *c = &mcases[i];
		int rc = cgroup_mount_point(MOUNTS_HERE, c->ctl, out, sizeof(out));

		CHECKF(rc == c->rc, "%s: rc %d", c->name, rc);
		if (rc == 0 && c->dir != NULL)
			CHECKF(strcmp(out, c->dir) == 0, "%s: '%s'", c->name, out);
	}
	CHECK(cgroup_stat_field("usage_usec 12\nnr_throttled 3\n", "nr_throttled") == 3);
	CHECK(cgroup_stat_field("nr_throttled_x 9\n", "nr_throttled") == 0);
	CHECK(cgroup_stat_field("", "max") == 0);
}

/* A unified hierarchy under root/v2 offering memory, cpu and pids at /svc. */
static void
test_v2(void)
{
	struct cgroup_sys s;
	struct cgroup_pool cg;
	struct cgroup_stats st;
	struct cgroup_limits l = { 64ULL << 20, 20, 32 }, none = { 0, 0, 0 };
	char mounts[512], err[WEIR_ERRLEN];

	dir("v2");
	dir("v2/svc");
	dir("v2/svc/weir-1");
	dir("v2/svc/weir-1/pool-shop");
	putf("v2/svc/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
	putf("v2/svc/cgroup.subtree_control", "");
	putf("v2/svc/weir-1/cgroup.subtree_control", "");
	putf("v2/svc/weir-1/pool-shop/cgroup.procs", "");
	putf("v2/svc/weir-1/pool-shop/memory.max", "max\n");
	putf("v2/svc/weir-1/pool-shop/memory.swap.max", "max\n");
	putf("v2/svc/weir-1/pool-shop/cpu.max", "max 100000\n");
	putf("v2/svc/weir-1/pool-shop/pids.max", "max\n");
	snprintf(mounts, sizeof(mounts),
	    "cgroup2 %s/v2 cgroup2 rw,nosuid 0 0\ncgroup %s/none cgroup rw,memory 0 0\n",
	    root, root);

	cgroup_detect(&s, "0::/svc\n4:memory:/elsewhere\n", mounts);
	CHECK_INT(s.mode, CGROUP_V2);
	CHECK(s.have[CG_MEMORY] && s.have[CG_CPU] && s.have[CG_PIDS]);
	CHECK(cgroup_limit_missing(&s, &l) == NULL);
	CHECKF(cgroup_setup(&s, "weir-1", err) == 0, "setup: %s", err);
	CHECK_FILE("v2/svc/cgroup.subtree_control", "+memory +cpu +pids");
	CHECK_FILE("v2/svc/weir-1/cgroup.subtree_control", "+memory +cpu +pids");
	CHECK(!s.moved);

	CHECKF(cgroup_pool_create(&s, &cg, "shop", err) == 0, "create: %s", err);
	CHECKF(cgroup_pool_limits(&s, &cg, &l, err) == 0, "limits: %s", err);
	CHECK_FILE("v2/svc/weir-1/pool-shop/memory.max", "67108864");
	CHECK_FILE("v2/svc/weir-1/pool-shop/memory.swap.max", "0");
	CHECK_FILE("v2/svc/weir-1/pool-shop/cpu.max", "20000 100000");
	CHECK_FILE("v2/svc/weir-1/pool-shop/pids.max", "32");
	/* a reload that removes the keys removes the limits */
	CHECKF(cgroup_pool_limits(&s, &cg, &none, err) == 0, "limits: %s", err);
	CHECK_FILE("v2/svc/weir-1/pool-shop/memory.max", "max");
	CHECK_FILE("v2/svc/weir-1/pool-shop/cpu.max", "max 100000");
	CHECK_FILE("v2/svc/weir-1/pool-shop/pids.max", "max");
	/* 150% of one CPU: one and a half periods of quota */
	l.cpu_pct = 150;
	CHECKF(cgroup_pool_limits(&s, &cg, &l, err) == 0, "limits: %s", err);
	CHECK_FILE("v2/svc/weir-1/pool-shop/cpu.max", "150000 100000");

	CHECK(cgroup_enter(&cg) == 0);
	CHECK_FILE("v2/svc/weir-1/pool-shop/cgroup.procs", "0");

	putf("v2/svc/weir-1/pool-shop/memory.current", "52428800\n");
	putf("v2/svc/weir-1/pool-shop/memory.events", "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\n");
	putf("v2/svc/weir-1/pool-shop/cpu.stat",
	    "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n"
	    "nr_periods 40\nnr_throttled 7\nthrottled_usec 250000\n");
	putf("v2/svc/weir-1/pool-shop/pids.current", "5\n");
	putf("v2/svc/weir-1/pool-shop/pids.events", "max 170\n");
	cgroup_pool_read(&s, &cg, &st);
	CHECK(st.memory == 52428800);
	CHECK(st.oom_kills == 2);
	CHECK(st.cpu_usec == 1500000);
	CHECK(st.nr_throttled == 7);
	CHECK(st.throttled_usec == 250000);
	CHECK(st.pids == 5);
	CHECK(st.pids_max == 170);
}

/* v1: one mount per controller, our memory cgroup nested as on this machine. */
static void
test_v1(void)
{
	struct cgroup_sys s;
	struct cgroup_pool cg;
	struct cgroup_stats st;
	struct cgroup_limits l = { 64ULL << 20, 20, 32 };
	char mounts[1024], err[WEIR_ERRLEN];
	static const char *const dirs[] = {
		"v1", "v1/memory", "v1/memory/api", "v1/memory/api/x", "v1/memory/api/x/weir-2",
		"v1/memory/api/x/weir-2/pool-shop", "v1/cpu", "v1/cpu/weir-2",
		"v1/cpu/weir-2/pool-shop", "v1/cpuacct", "v1/cpuacct/weir-2",
		"v1/cpuacct/weir-2/pool-shop", "v1/pids", "v1/pids/weir-2",
		"v1/pids/weir-2/pool-shop", "v1/unified",
	};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		dir(dirs[i]);
	putf("v1/unified/cgroup.controllers", "hugetlb\n");
	putf("v1/memory/api/x/weir-2/pool-shop/cgroup.procs", "");
	putf("v1/memory/api/x/weir-2/pool-shop/memory.limit_in_bytes", "9223372036854771712\n");
	putf("v1/memory/api/x/weir-2/pool-shop/memory.memsw.limit_in_bytes", "9223372036854771712\n");
	putf("v1/cpu/weir-2/pool-shop/cgroup.procs", "");
	putf("v1/cpu/weir-2/pool-shop/cpu.cfs_period_us", "100000\n");
	putf("v1/cpu/weir-2/pool-shop/cpu.cfs_quota_us", "-1\n");
	putf("v1/cpuacct/weir-2/pool-shop/cgroup.procs", "");
	putf("v1/pids/weir-2/pool-shop/cgroup.procs", "");
	putf("v1/pids/weir-2/pool-shop/pids.max", "max\n");
	snprintf(mounts, sizeof(mounts),
	    "tmpfs %s/v1 tmpfs rw 0 0\n"
	    "cgroup %s/v1/cpu cgroup rw,relatime,cpu 0 0\n"
	    "cgroup %s/v1/cpuacct cgroup rw,relatime,cpuacct 0 0\n"
	    "cgroup %s/v1/memory cgroup rw,relatime,memory 0 0\n"
	    "cgroup %s/v1/pids cgroup rw,relatime,pids 0 0\n"
	    "cgroup2 %s/v1/unified cgroup2 rw,relatime 0 0\n", root, root, root, root, root, root);

	/* the unified hierarchy offers only hugetlb: v1 it is */
	cgroup_detect(&s, "8:pids:/\n4:memory:/api/x\n2:cpuacct:/\n1:cpu:/\n0::/\n", mounts);
	CHECK_INT(s.mode, CGROUP_V1);
	CHECK(s.have[CG_MEMORY] && s.have[CG_CPU] && s.have[CG_CPUACCT] && s.have[CG_PIDS]);
	CHECKF(cgroup_setup(&s, "weir-2", err) == 0, "setup: %s", err);
	CHECKF(cgroup_pool_create(&s, &cg, "shop", err) == 0, "create: %s", err);
	CHECKF(cgroup_pool_limits(&s, &cg, &l, err) == 0, "limits: %s", err);
	CHECK_FILE("v1/memory/api/x/weir-2/pool-shop/memory.limit_in_bytes", "67108864");
	CHECK_FILE("v1/memory/api/x/weir-2/pool-shop/memory.memsw.limit_in_bytes", "67108864");
	CHECK_FILE("v1/cpu/weir-2/pool-shop/cpu.cfs_period_us", "100000");
	CHECK_FILE("v1/cpu/weir-2/pool-shop/cpu.cfs_quota_us", "20000");
	CHECK_FILE("v1/pids/weir-2/pool-shop/pids.max", "32");

	CHECK(cgroup_enter(&cg) == 0);
	CHECK_FILE("v1/memory/api/x/weir-2/pool-shop/cgroup.procs", "0");
	CHECK_FILE("v1/cpu/weir-2/pool-shop/cgroup.procs", "0");
	CHECK_FILE("v1/cpuacct/weir-2/pool-shop/cgroup.procs", "0");
	CHECK_FILE("v1/pids/weir-2/pool-shop/cgroup.procs", "0");

	putf("v1/memory/api/x/weir-2/pool-shop/memory.usage_in_bytes", "1048576\n");
	putf("v1/memory/api/x/weir-2/pool-shop/memory.oom_control",
	    "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
	putf("v1/memory/api/x/weir-2/pool-shop/memory.failcnt", "99\n");
	putf("v1/cpuacct/weir-2/pool-shop/cpuacct.usage", "2000000000\n");
	putf("v1/cpu/weir-2/pool-shop/cpu.stat",
	    "nr_periods 50\nnr_throttled 9\nthrottled_time 400000000\n");
	putf("v1/pids/weir-2/pool-shop/pids.events", "max 4\n");
	cgroup_pool_read(&s, &cg, &st);
	CHECK(st.memory == 1048576);
	CHECK(st.oom_kills == 3);
	CHECK(st.cpu_usec == 2000000);
	CHECK(st.nr_throttled == 9);
	CHECK(st.throttled_usec == 400000);
	CHECK(st.pids_max == 4);
	/* an older kernel without the oom_kill line: times the limit was hit */
	putf("v1/memory/api/x/weir-2/pool-shop/memory.oom_control",
	    "oom_kill_disable 0\nunder_oom 0\n");
	cgroup_pool_read(&s, &cg, &st);
	CHECK(st.oom_kills == 99);
}

/* Neither: the reason names what the unified hierarchy offers. */
static void
test_none(void)
{
	struct cgroup_sys s;
	struct cgroup_limits l = { 0, 0, 32 };
	char mounts[512], err[WEIR_ERRLEN];

	dir("bare");
	putf("bare/cgroup.controllers", "hugetlb\n");
	snprintf(mounts, sizeof(mounts), "cgroup2 %s/bare cgroup2 rw 0 0\n", root);
	cgroup_detect(&s, "0::/\n4:memory:/x\n", mounts);
	CHECK_INT(s.mode, CGROUP_NONE);
	CHECKF(strstr(s.why, "offers 'hugetlb'") != NULL, "why: %s", s.why);
	CHECK(cgroup_probe(&s, &l, err) == -1);
	CHECK(strstr(err, "no cgroup hierarchy") != NULL);
	cgroup_detect(&s, "", "");
	CHECK_INT(s.mode, CGROUP_NONE);
	CHECKF(strstr(s.why, "no cgroup2 mount") != NULL, "why: %s", s.why);

	/* a hierarchy with memory only: tasks_max is the key it cannot take */
	dir("memonly");
	putf("memonly/cgroup.controllers", "memory\n");
	snprintf(mounts, sizeof(mounts), "cgroup2 %s/memonly cgroup2 rw 0 0\n", root);
	cgroup_detect(&s, "0::/\n", mounts);
	CHECK_INT(s.mode, CGROUP_V2);
	CHECK(cgroup_limit_missing(&s, &l) != NULL &&
	    strcmp(cgroup_limit_missing(&s, &l), "tasks_max") == 0);
}

/* weir-PID of a master that is gone goes, with its empty pools; ours stays. */
static void
test_reap(void)
{
	struct cgroup_sys s;
	char mine[64], gone[64], sub[96];
	pid_t pid = fork();
	struct stat st;

	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);	/* now a pid nobody has */
	memset(&s, 0, sizeof(s));
	s.mode = CGROUP_V1;
	s.have[CG_PIDS] = true;
	dir("reap");
	snprintf(s.own[CG_PIDS], sizeof(s.own[CG_PIDS]), "%s/reap", root);
	snprintf(mine, sizeof(mine), "reap/weir-%d", (int)getpid());
	snprintf(gone, sizeof(gone), "reap/weir-%d", (int)pid);
	dir(mine);
	dir(gone);
	snprintf(sub, sizeof(sub), "%s/pool-a", gone);
	dir(sub);
	dir("reap/weir-notapid");
	cgroup_reap_stale(&s);
	snprintf(sub, sizeof(sub), "%s/%s", root, gone);
	CHECK(stat(sub, &st) == -1);
	snprintf(sub, sizeof(sub), "%s/%s", root, mine);
	CHECK(stat(sub, &st) == 0);
	snprintf(sub, sizeof(sub), "%s/reap/weir-notapid", root);
	CHECK(stat(sub, &st) == 0);
}

int
main(void)
{
	char cmd[300];

	snprintf(root, sizeof(root), "/tmp/weir-test-cgroup-XXXXXX");
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_parse();
	test_v2();
	test_v1();
	test_none();
	test_reap();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return unit_done("cgroup");
}
