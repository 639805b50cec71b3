/*
 * cgroup.c - per-pool control groups: the hierarchy, the directories, the
 * limits written and the counters read (no events, no timers: poolcg.c).
 *
 * At start the master picks one hierarchy from /proc/self/cgroup and
 * /proc/mounts (cgroup_detect(), pure over the two texts; the roots it
 * finds are plain paths, so the unit test points them at a temporary
 * directory):
 *   - the unified hierarchy (cgroup v2) when our own cgroup there offers
 *     memory, cpu or pids in cgroup.controllers;
 *   - else the v1 controllers memory, cpu (+ cpuacct for CPU time) and
 *     pids, each in its own mount, each with our own path in it.
 * weir's cgroups go under the cgroup it was started in, in each hierarchy:
 * OWN/weir-PID/pool-NAME.  Under systemd that is the unit's cgroup, which
 * `Delegate=yes` hands to us.  In v2 a cgroup that holds processes cannot
 * give controllers to its children ("no internal processes"), so when
 * enabling them at OWN says EBUSY the master moves itself into
 * OWN/weir-PID/master first, as systemd asks of delegated services.
 *
 * A worker joins its pool's cgroup in the forked child, before it drops
 * its identity and execs (cgroup_enter()): everything it starts, forked
 * children and threads, is then counted and limited with the pool.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "rc.h"
#include "util.h"
#include "cgroup.h"

#define CPU_PERIOD_US	100000	/* cpu_max's quota is a share of this */

static const char *const ctl_names[CG_NCTL] = { "memory", "cpu", "cpuacct", "pids" };

const char *
cgroup_mode_name(int mode)
{
	switch (mode) {
	case CGROUP_V1:	return "v1";
	case CGROUP_V2:	return "v2";
	default:	return "none";
	}
}

const char *
cgroup_ctl_name(int ctl)
{
	return ctl >= 0 && ctl < CG_NCTL ? ctl_names[ctl] : "?";
}

/* Is `word` one of the comma-separated items of list[0..n)? */
static bool
in_list(const char *list, size_t n, const char *word)
{
	size_t wl = strlen(word);

	while (n > 0) {
		const char *c = memchr(list, ',', n);
		size_t il = c != NULL ? (size_t)(c - list) : n;

		if (il == wl && memcmp(list, word, wl) == 0)
			return true;
		if (c == NULL)
			break;
		n -= il + 1;
		list = c + 1;
	}
	return false;
}

/*
 * Our cgroup path for controller `ctl` from /proc/self/cgroup text
 * ("ID:CONTROLLERS:PATH" lines); ctl NULL: the unified one ("0::PATH").
 * Returns 0, or -1 when there is no such line.
 */
int
cgroup_self_path(const char *self, const char *ctl, char *out, size_t outsz)
{
	for (const char *l = self; l != NULL && *l != '\0';) {
		const char *nl = strchr(l, '\n'), *end = nl != NULL ? nl : l + strlen(l);
		const char *c1 = memchr(l, ':', (size_t)(end - l));
		const char *c2 = c1 != NULL ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;

		if (c2 != NULL) {
			bool hit = ctl == NULL ?
			    (c1 - l == 1 && l[0] == '0' && c2 == c1 + 1) :
			    in_list(c1 + 1, (size_t)(c2 - c1 - 1), ctl);

			if (hit && (size_t)(end - c2 - 1) < outsz) {
				memcpy(out, c2 + 1, (size_t)(end - c2 - 1));
				out[end - c2 - 1] = '\0';
				return 0;
			}
		}
		l = nl != NULL ? nl + 1 : NULL;
	}
	return -1;
}

/*
 * Where a hierarchy is mounted, from /proc/mounts text ("DEV DIR TYPE OPTS
 * ..."): ctl NULL: the cgroup2 mount; else the cgroup (v1) mount whose
 * options name ctl.  Returns 0, or -1 when it is not mounted.
 */
int
cgroup_mount_point(const char *mounts, const char *ctl, char *out, size_t outsz)
{
	for (const char *l = mounts; l != NULL && *l != '\0';) {
		const char *nl = strchr(l, '\n'), *start = l;
		char dev[64], dir[CGROUP_PATH], type[32], opts[512];
		char line[1024];
		size_t n = nl != NULL ? (size_t)(nl - l) : strlen(l);

		l = nl != NULL ? nl + 1 : NULL;
		if (n >= sizeof(line))
			continue;
		memcpy(line, start, n);
		line[n] = '\0';
		if (sscanf(line, "%63s %511s %31s %511s", dev, dir, type, opts) != 4)
			continue;
		if (ctl == NULL ? strcmp(type, "cgroup2") != 0 :
		    (strcmp(type, "cgroup") != 0 || !in_list(opts, strlen(opts), ctl)))
			continue;
		if (wstrlcpy(out, dir, outsz) >= outsz)
			continue;
		return 0;
	}
	return -1;
}

/* mount + path, without a doubled '/' for the root cgroup "/". */
static int
join(char *out, size_t outsz, const char *a, const char *b)
{
	int n;

	while (*b == '/')
		b++;
	n = snprintf(out, outsz, *b != '\0' ? "%s/%s" : "%s", a, b);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/*
 * Read a file into buf to its end or until buf is full (NUL-terminated):
 * /proc and cgroup files say size 0, so read until read() says EOF.
 * Returns 0, or -1 with errno.
 */
static int
read_small(const char *path, char *buf, size_t bufsz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd == -1)
		return -1;
	while (got < bufsz - 1) {
		ssize_t n = read(fd, buf + got, bufsz - 1 - got);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int e = errno;

			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return 0;
}

/* Write s to an existing file: one write(), as the kernel wants; -1 with errno. */
static int
write_str(const char *dir, const char *file, const char *s)
{
	char path[CGROUP_PATH + 64];
	int fd, e;
	ssize_t n;

	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC)) == -1)
		return -1;
	n = write(fd, s, strlen(s));
	e = errno;
	close(fd);
	if (n != (ssize_t)strlen(s)) {
		errno = n < 0 ? e : EIO;
		return -1;
	}
	return 0;
}

static uint64_t
read_u64(const char *dir, const char *file)
{
	char path[CGROUP_PATH + 64], buf[64];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (read_small(path, buf, sizeof(buf)) == -1)
		return 0;
	return strtoull(buf, NULL, 10);
}

/* The value of "KEY VALUE" in a flat-keyed file (cpu.stat, memory.events); 0 if absent. */
uint64_t
cgroup_stat_field(const char *text, const char *key)
{
	size_t kl = strlen(key);

	for (const char *l = text; l != NULL && *l != '\0';) {
		if (strncmp(l, key, kl) == 0 && l[kl] == ' ')
			return strtoull(l + kl + 1, NULL, 10);
		l = strchr(l, '\n');
		if (l != NULL)
			l++;
	}
	return 0;
}

static bool
has_field(const char *text, const char *key)
{
	size_t kl = strlen(key);

	for (const char *l = text; l != NULL && *l != '\0';) {
		if (strncmp(l, key, kl) == 0 && l[kl] == ' ')
			return true;
		l = strchr(l, '\n');
		if (l != NULL)
			l++;
	}
	return false;
}

static uint64_t
read_field(const char *dir, const char *file, const char *key, bool *found)
{
	char path[CGROUP_PATH + 64], buf[1024];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (read_small(path, buf, sizeof(buf)) == -1) {
		if (found != NULL)
			*found = false;
		return 0;
	}
	if (found != NULL)
		*found = has_field(buf, key);
	return cgroup_stat_field(buf, key);
}

/* The unified hierarchy, when our cgroup there offers any controller we use. */
static bool
detect_v2(struct cgroup_sys *s, const char *self, const char *mounts, char *offers,
    size_t offsz)
{
	char mnt[CGROUP_PATH], path[CGROUP_PATH], dir[CGROUP_PATH], file[CGROUP_PATH + 32];
	char ctls[256];
	bool any = false;

	offers[0] = '\0';
	if (cgroup_mount_point(mounts, NULL, mnt, sizeof(mnt)) == -1 ||
	    cgroup_self_path(self, NULL, path, sizeof(path)) == -1 ||
	    join(dir, sizeof(dir), mnt, path) == -1)
		return false;
	snprintf(file, sizeof(file), "%s/cgroup.controllers", dir);
	if (read_small(file, ctls, sizeof(ctls)) == -1)
		return false;
	ctls[strcspn(ctls, "\n")] = '\0';
	snprintf(offers, offsz, "%s offers '%s'", dir, ctls);
	for (size_t i = 0; i < strlen(ctls);) {
		size_t w = strcspn(ctls + i, " ");

		for (int c = 0; c < CG_NCTL; c++)
			if (c != CG_CPUACCT && strlen(ctl_names[c]) == w &&
			    memcmp(ctls + i, ctl_names[c], w) == 0) {
				s->have[c] = true;
				wstrlcpy(s->own[c], dir, sizeof(s->own[c]));
				any = true;
			}
		i += w + (ctls[i + w] == ' ');
	}
	/* CPU time is in cpu.stat, which v2 always has */
	if (any)
		wstrlcpy(s->own[CG_CPUACCT], dir, sizeof(s->own[CG_CPUACCT]));
	return any;
}

/*
 * Choose the hierarchy from the text of /proc/self/cgroup and /proc/mounts:
 * v2 when it offers memory, cpu or pids, else the v1 controllers that are
 * mounted and hold our cgroup's directory.  s->why says why neither.
 */
void
cgroup_detect(struct cgroup_sys *s, const char *self, const char *mounts)
{
	char offers[CGROUP_PATH + 300];
	bool any = false;

	memset(s, 0, sizeof(*s));
	if (detect_v2(s, self, mounts, offers, sizeof(offers))) {
		s->mode = CGROUP_V2;
		return;
	}
	for (int c = 0; c < CG_NCTL; c++) {
		char mnt[CGROUP_PATH], path[CGROUP_PATH];
		struct stat st;

		if (cgroup_mount_point(mounts, ctl_names[c], mnt, sizeof(mnt)) == -1 ||
		    cgroup_self_path(self, ctl_names[c], path, sizeof(path)) == -1 ||
		    join(s->own[c], sizeof(s->own[c]), mnt, path) == -1 ||
		    stat(s->own[c], &st) == -1 || !S_ISDIR(st.st_mode)) {
			s->own[c][0] = '\0';
			continue;
		}
		s->have[c] = true;
		any = any || c != CG_CPUACCT;
	}
	if (any) {
		s->mode = CGROUP_V1;
		return;
	}
	memset(s->have, 0, sizeof(s->have));
	s->mode = CGROUP_NONE;
	snprintf(s->why, sizeof(s->why),
	    "no cgroup hierarchy with the memory, cpu or pids controller: %s; no cgroup v1 memory, cpu or pids mount holds this process",
	    offers[0] != '\0' ? offers : "no cgroup2 mount");
}

/* cgroup_detect() over this process's /proc files. */
void
cgroup_detect_host(struct cgroup_sys *s)
{
	size_t selfsz = 1 << 16, mountsz = 1 << 20;
	char *self = xmalloc(selfsz), *mounts = xmalloc(mountsz);
	int e = 0;

	if (read_small("/proc/self/cgroup", self, selfsz) == -1) {
		e = errno;
		self[0] = '\0';
	}
	if (read_small("/proc/mounts", mounts, mountsz) == -1) {
		e = errno;
		mounts[0] = '\0';
	}
	cgroup_detect(s, self, mounts);
	if (e != 0 && s->mode == CGROUP_NONE)
		snprintf(s->why, sizeof(s->why), "/proc/self/cgroup or /proc/mounts: %s",
		    strerror(e));
	free(self);
	free(mounts);
}

/* The first limit in l whose controller is not there, by key name; NULL if none. */
const char *
cgroup_limit_missing(const struct cgroup_sys *s, const struct cgroup_limits *l)
{
	if (l->memory > 0 && !s->have[CG_MEMORY])
		return "memory_max";
	if (l->cpu_pct > 0 && !s->have[CG_CPU])
		return "cpu_max";
	if (l->tasks > 0 && !s->have[CG_PIDS])
		return "tasks_max";
	return NULL;
}

/*
 * Can weir make cgroups for these limits?  Creates and removes a directory
 * in each controller needed (weir check; nothing stays behind).
 */
int
cgroup_probe(const struct cgroup_sys *s, const struct cgroup_limits *need, char *err)
{
	const char *key;
	char dir[CGROUP_PATH];

	if (s->mode == CGROUP_NONE) {
		snprintf(err, WEIR_ERRLEN, "%s", s->why);
		return -1;
	}
	if ((key = cgroup_limit_missing(s, need)) != NULL) {
		snprintf(err, WEIR_ERRLEN, "the cgroup %s hierarchy has no %s controller",
		    cgroup_mode_name(s->mode), key[0] == 'm' ? "memory" :
		    key[0] == 'c' ? "cpu" : "pids");
		return -1;
	}
	for (int c = 0; c < CG_NCTL; c++) {
		if (!s->have[c] || (c > 0 && strcmp(s->own[c], s->own[0]) == 0))
			continue;
		if (snprintf(dir, sizeof(dir), "%s/weir-check-%d", s->own[c],
		    (int)getpid()) >= (int)sizeof(dir) ||
		    (mkdir(dir, 0755) == -1 && errno != EEXIST)) {
			snprintf(err, WEIR_ERRLEN, "cannot create a cgroup in %s: %s",
			    s->own[c], strerror(errno));
			return -1;
		}
		(void)rmdir(dir);	/* an empty probe: nothing can hold it */
	}
	return 0;
}

/* v2: "+memory +cpu +pids" for the controllers we have. */
static void
enable_line(const struct cgroup_sys *s, char *out, size_t outsz)
{
	out[0] = '\0';
	for (int c = 0; c < CG_NCTL; c++)
		if (c != CG_CPUACCT && s->have[c])
			snprintf(out + strlen(out), outsz - strlen(out), "%s+%s",
			    out[0] != '\0' ? " " : "", ctl_names[c]);
}

static int
mkdir_ok(const char *dir)
{
	return mkdir(dir, 0755) == -1 && errno != EEXIST ? -1 : 0;
}

/*
 * v2: give weir's cgroup the controllers.  OWN must pass them down; when
 * it holds processes (ours) it cannot, so the master moves into
 * base/master and tries again.
 */
static int
setup_v2(struct cgroup_sys *s, char *err)
{
	const char *own = s->own[CG_MEMORY][0] != '\0' ? s->own[CG_MEMORY] :
	    s->own[CG_CPU][0] != '\0' ? s->own[CG_CPU] : s->own[CG_PIDS];
	char line[64], leaf[CGROUP_PATH + 8];

	enable_line(s, line, sizeof(line));
	if (write_str(own, "cgroup.subtree_control", line) == -1) {
		if (errno != EBUSY)
			goto fail;
		snprintf(leaf, sizeof(leaf), "%s/master", s->base[CG_MEMORY]);
		if (mkdir_ok(leaf) == -1 || write_str(leaf, "cgroup.procs", "0") == -1) {
			snprintf(err, WEIR_ERRLEN, "cannot move the master into %s: %s",
			    leaf, strerror(errno));
			return -1;
		}
		s->moved = true;
		if (write_str(own, "cgroup.subtree_control", line) == -1)
			goto fail;
	}
	if (write_str(s->base[CG_MEMORY], "cgroup.subtree_control", line) == -1) {
		own = s->base[CG_MEMORY];
		goto fail;
	}
	return 0;
fail:
	snprintf(err, WEIR_ERRLEN, "cannot enable %s in %s/cgroup.subtree_control: %s",
	    line, own, strerror(errno));
	return -1;
}

/*
 * Make weir's own cgroup, OWN/name, in each hierarchy we have.  Returns 0,
 * or -1 with err (the caller decides whether that stops weir: it does when
 * a pool has limits).
 */
int
cgroup_setup(struct cgroup_sys *s, const char *name, char *err)
{
	if (s->mode == CGROUP_NONE) {
		snprintf(err, WEIR_ERRLEN, "%s", s->why);
		return -1;
	}
	for (int c = 0; c < CG_NCTL; c++) {
		if (!s->have[c] && !(s->mode == CGROUP_V2 && c == CG_CPUACCT &&
		    s->own[c][0] != '\0'))
			continue;
		if (join(s->base[c], sizeof(s->base[c]), s->own[c], name) == -1 ||
		    mkdir_ok(s->base[c]) == -1) {
			snprintf(err, WEIR_ERRLEN, "cannot create the cgroup %s/%s: %s",
			    s->own[c], name, strerror(errno));
			return -1;
		}
	}
	if (s->mode == CGROUP_V2) {
		/* one directory for all: setup_v2 uses base[CG_MEMORY] */
		for (int c = 0; c < CG_NCTL; c++)
			if (s->base[c][0] != '\0' && s->base[CG_MEMORY][0] == '\0')
				wstrlcpy(s->base[CG_MEMORY], s->base[c], sizeof(s->base[0]));
		return setup_v2(s, err);
	}
	return 0;
}

/* Remove the empty pool-* and master directories in dir, then dir. */
static void
remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	const struct dirent *de;
	char sub[CGROUP_PATH + 300];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "pool-", 5) != 0 && strcmp(de->d_name, "master") != 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		(void)rmdir(sub);	/* still holds processes: left alone */
	}
	closedir(d);
	(void)rmdir(dir);
}

/*
 * Remove weir's cgroups at exit, pools' included.  A worker killed a
 * moment ago may still be leaving its cgroup: up to `tries` attempts 20 ms
 * apart.  In v2 the master's own leaf stays while it is in it: the next
 * start removes it (cgroup_reap_stale()).
 */
void
cgroup_teardown(struct cgroup_sys *s, int tries)
{
	for (int c = 0; c < CG_NCTL; c++) {
		struct stat st;

		if (s->base[c][0] == '\0')
			continue;
		for (int t = 0; t < tries; t++) {
			remove_tree(s->base[c]);
			if (stat(s->base[c], &st) == -1 || (s->moved && t > 0))
				break;
			(void)usleep(20 * 1000);
		}
		s->base[c][0] = '\0';
	}
}

/*
 * The cgroups of weir masters that are gone (weir-PID whose PID no longer
 * runs), left by a crash or by v2's master leaf: removed when empty.
 */
void
cgroup_reap_stale(const struct cgroup_sys *s)
{
	for (int c = 0; c < CG_NCTL; c++) {
		DIR *d;
		const struct dirent *de;

		if (s->own[c][0] == '\0' || (d = opendir(s->own[c])) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			char *end, dir[CGROUP_PATH + 300];
			long pid;

			if (strncmp(de->d_name, "weir-", 5) != 0)
				continue;
			pid = strtol(de->d_name + 5, &end, 10);
			if (*end != '\0' || pid <= 0 || pid == (long)getpid() ||
			    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
				continue;
			snprintf(dir, sizeof(dir), "%s/%s", s->own[c], de->d_name);
			remove_tree(dir);
		}
		closedir(d);
	}
}

/* Make base/pool-NAME in each hierarchy. */
int
cgroup_pool_create(const struct cgroup_sys *s, struct cgroup_pool *cg, const char *pool,
    char *err)
{
	char name[300];

	memset(cg->dir, 0, sizeof(cg->dir));
	snprintf(name, sizeof(name), "pool-%s", pool);
	for (int c = 0; c < CG_NCTL; c++) {
		if (s->base[c][0] == '\0')
			continue;
		if (join(cg->dir[c], sizeof(cg->dir[c]), s->base[c], name) == -1 ||
		    mkdir_ok(cg->dir[c]) == -1) {
			snprintf(err, WEIR_ERRLEN, "cannot create the cgroup %s/%s: %s",
			    s->base[c], name, strerror(errno));
			cgroup_pool_remove(cg);
			return -1;
		}
	}
	cg->on = true;
	return 0;
}

static int
limit_fail(char *err, const char *dir, const char *file, const char *val)
{
	snprintf(err, WEIR_ERRLEN, "cannot write %s to %s/%s: %s", val, dir, file,
	    strerror(errno));
	return -1;
}

/*
 * Write the pool's limits (0 = none: the maximum is written back, so a
 * reload that removes a key removes the limit).  The memory limit is hard
 * and takes swap with it: a pool past memory_max is OOM-killed, not
 * swapped out.
 */
int
cgroup_pool_limits(const struct cgroup_sys *s, const struct cgroup_pool *cg,
    const struct cgroup_limits *l, char *err)
{
	const char *md = s->have[CG_MEMORY] ? cg->dir[CG_MEMORY] : "";
	const char *cd = s->have[CG_CPU] ? cg->dir[CG_CPU] : "";
	const char *pd = s->have[CG_PIDS] ? cg->dir[CG_PIDS] : "";
	char v[64], q[64];
	const char *key;

	if ((key = cgroup_limit_missing(s, l)) != NULL) {
		snprintf(err, WEIR_ERRLEN, "%s: no such controller in this cgroup hierarchy",
		    key);
		return -1;
	}
	if (s->mode == CGROUP_V2) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)l->memory);
		if (md[0] != '\0' && write_str(md, "memory.max", l->memory ? v : "max") == -1)
			return limit_fail(err, md, "memory.max", v);
		/* without swap accounting the file is missing: nothing to do */
		if (md[0] != '\0')
			(void)write_str(md, "memory.swap.max", l->memory ? "0" : "max");
		snprintf(q, sizeof(q), "%llu %d", (unsigned long long)l->cpu_pct *
		    CPU_PERIOD_US / 100, CPU_PERIOD_US);
		if (!l->cpu_pct)
			snprintf(q, sizeof(q), "max %d", CPU_PERIOD_US);
		if (cd[0] != '\0' && write_str(cd, "cpu.max", q) == -1)
			return limit_fail(err, cd, "cpu.max", q);
	} else {
		snprintf(v, sizeof(v), "%lld", l->memory ? (long long)l->memory : -1LL);
		if (md[0] != '\0') {
			/* memsw (memory+swap) may not be below the memory limit */
			(void)write_str(md, "memory.memsw.limit_in_bytes", "-1");
			if (write_str(md, "memory.limit_in_bytes", v) == -1)
				return limit_fail(err, md, "memory.limit_in_bytes", v);
			/* missing without swap accounting: the limit above holds */
			(void)write_str(md, "memory.memsw.limit_in_bytes", v);
		}
		snprintf(q, sizeof(q), "%lld", l->cpu_pct ?
		    (long long)l->cpu_pct * CPU_PERIOD_US / 100 : -1LL);
		if (cd[0] != '\0') {
			snprintf(v, sizeof(v), "%d", CPU_PERIOD_US);
			if (write_str(cd, "cpu.cfs_period_us", v) == -1)
				return limit_fail(err, cd, "cpu.cfs_period_us", v);
			if (write_str(cd, "cpu.cfs_quota_us", q) == -1)
				return limit_fail(err, cd, "cpu.cfs_quota_us", q);
		}
	}
	snprintf(v, sizeof(v), "%u", l->tasks);
	if (pd[0] != '\0' && write_str(pd, "pids.max", l->tasks ? v : "max") == -1)
		return limit_fail(err, pd, "pids.max", v);
	return 0;
}

/*
 * Remove the pool's directories.  Returns 0, or -1 when one still holds
 * processes (EBUSY: a child that left the worker's process group).
 */
int
cgroup_pool_remove(struct cgroup_pool *cg)
{
	int rc = 0;

	for (int c = 0; c < CG_NCTL; c++) {
		if (cg->dir[c][0] == '\0')
			continue;
		if (rmdir(cg->dir[c]) == -1 && errno != ENOENT)
			rc = -1;
		else
			cg->dir[c][0] = '\0';
	}
	cg->on = rc == -1;
	return rc;
}

/*
 * The calling process joins the pool's cgroup in every hierarchy ("0" is
 * the writer).  Called in the forked child before exec: no allocation.
 * Returns 0, or -1 with errno.
 */
int
cgroup_enter(const struct cgroup_pool *cg)
{
	if (!cg->on)
		return 0;
	for (int c = 0; c < CG_NCTL; c++) {
		bool done = false;

		if (cg->dir[c][0] == '\0')
			continue;
		for (int d = 0; d < c; d++)
			done = done || strcmp(cg->dir[d], cg->dir[c]) == 0;
		if (!done && write_str(cg->dir[c], "cgroup.procs", "0") == -1)
			return -1;
	}
	return 0;
}

/* The pool's counters now, from the files of the chosen hierarchy. */
void
cgroup_pool_read(const struct cgroup_sys *s, const struct cgroup_pool *cg,
    struct cgroup_stats *st)
{
	const char *md = s->have[CG_MEMORY] ? cg->dir[CG_MEMORY] : "";
	const char *cd = s->have[CG_CPU] ? cg->dir[CG_CPU] : "";
	const char *ad = cg->dir[CG_CPUACCT], *pd = s->have[CG_PIDS] ? cg->dir[CG_PIDS] : "";
	bool found;

	memset(st, 0, sizeof(*st));
	if (!cg->on)
		return;
	if (pd[0] != '\0') {
		st->pids = read_u64(pd, "pids.current");
		st->pids_max = read_field(pd, "pids.events", "max", NULL);
	}
	if (s->mode == CGROUP_V2) {
		const char *any = ad;	/* the pool's one directory */

		if (md[0] != '\0') {
			st->memory = read_u64(md, "memory.current");
			st->oom_kills = read_field(md, "memory.events", "oom_kill", NULL);
		}
		/* cpu.stat's usage is there even without the cpu controller */
		st->cpu_usec = read_field(any, "cpu.stat", "usage_usec", NULL);
		st->nr_throttled = read_field(any, "cpu.stat", "nr_throttled", NULL);
		st->throttled_usec = read_field(any, "cpu.stat", "throttled_usec", NULL);
		return;
	}
	if (md[0] != '\0') {
		st->memory = read_u64(md, "memory.usage_in_bytes");
		st->oom_kills = read_field(md, "memory.oom_control", "oom_kill", &found);
		/* kernels before 4.13 do not count kills: times the limit was hit */
		if (!found)
			st->oom_kills = read_u64(md, "memory.failcnt");
	}
	if (ad[0] != '\0')
		st->cpu_usec = read_u64(ad, "cpuacct.usage") / 1000;
	if (cd[0] != '\0') {
		st->nr_throttled = read_field(cd, "cpu.stat", "nr_throttled", NULL);
		st->throttled_usec = read_field(cd, "cpu.stat", "throttled_time", NULL) / 1000;
	}
}
