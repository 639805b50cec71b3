/*
 * cgroup.h - per-pool control groups (cgroup.c): which hierarchy weir uses,
 * the directories it made, the limits it writes and the counters it reads.
 * Kept apart from master.h so the unit test can include cgroup.c alone.
 */
#ifndef WEIR_CGROUP_H
#define WEIR_CGROUP_H

#include <stdbool.h>
#include <stdint.h>

#define CGROUP_PATH	512

enum cgroup_mode {
	CGROUP_NONE = 0,	/* no usable hierarchy: why says it */
	CGROUP_V1,		/* one hierarchy per controller */
	CGROUP_V2		/* the unified hierarchy */
};

/* Controllers weir uses; in v2 all of them share dir[CG_MEMORY]'s directory. */
enum cgroup_ctl {
	CG_MEMORY = 0,
	CG_CPU,
	CG_CPUACCT,	/* v1 only: CPU time used (v2 has it in cpu.stat) */
	CG_PIDS,
	CG_NCTL
};

/* The hierarchy chosen at start and weir's own directories in it. */
struct cgroup_sys {
	int		 mode;			/* enum cgroup_mode */
	char		 why[256];		/* CGROUP_NONE: the reason, for weir check */
	bool		 have[CG_NCTL];		/* controller usable */
	char		 own[CG_NCTL][CGROUP_PATH];	/* the cgroup we were started in */
	char		 base[CG_NCTL][CGROUP_PATH];	/* weir's: own/weir-PID */
	bool		 moved;			/* v2: the master moved into base/master */
};

/* Limits of one pool; 0 = none. */
struct cgroup_limits {
	uint64_t	 memory;		/* bytes, memory_max */
	unsigned	 cpu_pct;		/* percent of one CPU, cpu_max */
	unsigned	 tasks;			/* processes + threads, tasks_max */
};

/* A pool's cgroup: one directory per controller (v2: the same one). */
struct cgroup_pool {
	bool		 on;			/* created */
	char		 dir[CG_NCTL][CGROUP_PATH];	/* "" where the controller is missing */
};

/* Counters of a pool's cgroup; a field that could not be read stays 0. */
struct cgroup_stats {
	uint64_t	 memory;		/* bytes charged now (whole pool) */
	uint64_t	 cpu_usec;		/* CPU time used, user + system */
	uint64_t	 nr_throttled;		/* periods the quota stopped it */
	uint64_t	 throttled_usec;	/* time it spent stopped */
	uint64_t	 pids_max;		/* forks refused at tasks_max */
	uint64_t	 pids;			/* tasks now */
	uint64_t	 oom_kills;		/* processes the pool's OOM killer ended */
};

const char *cgroup_mode_name(int mode);
const char *cgroup_ctl_name(int ctl);
int	 cgroup_self_path(const char *self, const char *ctl, char *out, size_t outsz);
int	 cgroup_mount_point(const char *mounts, const char *ctl, char *out, size_t outsz);
void	 cgroup_detect(struct cgroup_sys *s, const char *self, const char *mounts);
void	 cgroup_detect_host(struct cgroup_sys *s);
int	 cgroup_probe(const struct cgroup_sys *s, const struct cgroup_limits *need,
	    char *err);
int	 cgroup_setup(struct cgroup_sys *s, const char *name, char *err);
void	 cgroup_teardown(struct cgroup_sys *s, int tries);
void	 cgroup_reap_stale(const struct cgroup_sys *s);
int	 cgroup_pool_create(const struct cgroup_sys *s, struct cgroup_pool *cg,
	    const char *pool, char *err);
int	 cgroup_pool_limits(const struct cgroup_sys *s, const struct cgroup_pool *cg,
	    const struct cgroup_limits *l, char *err);
int	 cgroup_pool_remove(struct cgroup_pool *cg);
int	 cgroup_enter(const struct cgroup_pool *cg);
void	 cgroup_pool_read(const struct cgroup_sys *s, const struct cgroup_pool *cg,
	    struct cgroup_stats *st);
uint64_t cgroup_stat_field(const char *text, const char *key);
const char *cgroup_limit_missing(const struct cgroup_sys *s,
	    const struct cgroup_limits *l);

#endif
