/*
 * fecheck.c - who the front end runs as, and whether it can open what the
 * configuration asks it to.
 *
 * Started as root, weir runs the front end as [server] user (else `weir`,
 * else a uid and gid of its own, ident.c), and the front
 * end opens paths only after it dropped root: a site's root under a
 * directory of mode 0700 is fine for the master and closed to the front
 * end.  So `weir check`, `weir run` (before it binds anything) and every
 * reload test those paths *as the front end*: a child process takes the
 * front end's identity exactly as frontend.c's drop_privileges() does
 * (supplementary groups, gid, uid) and runs the test the front end itself
 * runs on a root at run time (dir_probe()).  ACLs, security modules and
 * mount options then answer as they will for the front end, which
 * access(2) from root with a borrowed fsuid would not all do.  Not started
 * as root, weir runs the front end as itself: the paths are tested as the
 * current user, in this process.
 *
 * What the front end opens by path: each site's root and alias directories
 * (searched, and read for listings); state_dir, where it connects to the workers' sockets and
 * spools request bodies; the socket of a pool with address = unix:PATH.
 * Log files are opened by the master and handed over.
 *
 * And no pool may run as the front end's user (pool_users()).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "rc.h"
#include "util.h"
#include "master.h"

int
fe_ident_resolve(const struct conf *c, struct fe_ident *id, char *err)
{
	const struct conf_server *s = &c->server;
	const struct passwd *pw;
	const char *user = s->user;

	memset(id, 0, sizeof(*id));
	if (geteuid() != 0) {
		id->uid = geteuid();
		id->gid = getegid();
		if ((pw = getpwuid(id->uid)) != NULL)
			wstrlcpy(id->user, pw->pw_name, sizeof(id->user));
		else
			snprintf(id->user, sizeof(id->user), "%d", (int)id->uid);
		return 0;
	}
	if (user == NULL && getpwnam("weir") != NULL)
		user = "weir";
	if (user == NULL) {
		/* no account: an own identity (ident.c) */
		if (s->fe_own_id == 0) {
			snprintf(err, WEIR_ERRLEN, "no uid for the front end's own identity");
			return -1;
		}
		id->uid = (uid_t)s->fe_own_id;
		id->gid = (gid_t)s->fe_own_id;
		snprintf(id->user, sizeof(id->user), "uid %u", (unsigned)id->uid);
	} else {
		if ((pw = getpwnam(user)) == NULL) {
			snprintf(err, WEIR_ERRLEN, "[server] user %s: no such user", user);
			return -1;
		}
		if (pw->pw_uid == 0) {
			snprintf(err, WEIR_ERRLEN,
			    "[server] user %s is root: the front end must not run as root", user);
			return -1;
		}
		id->uid = pw->pw_uid;
		id->gid = pw->pw_gid;
		wstrlcpy(id->user, pw->pw_name, sizeof(id->user));
	}
	if (s->group != NULL) {
		const struct group *gr = getgrnam(s->group);

		if (gr == NULL) {
			snprintf(err, WEIR_ERRLEN, "[server] group %s: no such group", s->group);
			return -1;
		}
		if (gr->gr_gid == 0) {
			snprintf(err, WEIR_ERRLEN, "[server] group %s is root's group", s->group);
			return -1;
		}
		id->gid = gr->gr_gid;
	}
	id->drop = true;
	/* an own identity has no supplementary groups */
	if (user == NULL)
		return 0;
	/* the groups initgroups() would give the user, with gid among them */
	id->groups = ident_user_groups(id->user, id->gid, &id->ngroups);
	return 0;
}

void
fe_ident_free(struct fe_ident *id)
{
	free(id->groups);
	id->groups = NULL;
	id->ngroups = 0;
}

/* What the front end must be able to do with a path. */
enum fe_need {
	NEED_ROOT = 0,	/* a site's root: open and search */
	NEED_LISTING,	/* ... and read (directory listings) */
	NEED_SEARCH,	/* a directory it works in (made when missing) */
	NEED_CONNECT	/* a Unix socket it connects to (maybe not there yet) */
};

struct fe_path {
	int		 line;
	char		 what[96];	/* "[site shop] root" */
	const char	*path;
	enum fe_need	 need;
};

/*
 * Can this process search `path`, or, where it does not exist yet, the
 * nearest directory above it that does (the rest is made 0755)?  0 or errno.
 */
static int
search_nearest(const char *path)
{
	char buf[4096];
	char *slash;

	if (wstrlcpy(buf, path, sizeof(buf)) >= sizeof(buf))
		return ENAMETOOLONG;
	for (;;) {
		if (access(buf, X_OK) == 0)
			return 0;
		if (errno != ENOENT || strcmp(buf, "/") == 0 ||
		    (slash = strrchr(buf, '/')) == NULL)
			return errno;
		if (slash == buf)
			slash[1] = '\0';	/* "/" */
		else
			*slash = '\0';
	}
}

/* The test of one path, as whoever runs it: 0 or errno. */
static int
probe(const struct fe_path *p)
{
	struct stat st;
	char dir[4096], *slash;
	int fd;

	switch (p->need) {
	case NEED_ROOT:
	case NEED_LISTING:
		if ((fd = dir_probe(p->path, p->need == NEED_LISTING, &st)) == -1)
			return errno;
		close(fd);
		return 0;
	case NEED_SEARCH:
		return search_nearest(p->path);
	case NEED_CONNECT:
		if (access(p->path, W_OK) == 0)
			return 0;
		if (errno != ENOENT)
			return errno;
		/* not there yet (the upstream starts later): its directory */
		wstrlcpy(dir, p->path, sizeof(dir));
		if ((slash = strrchr(dir, '/')) == NULL)
			return 0;
		if (slash == dir)
			slash[1] = '\0';	/* in "/" */
		else
			*slash = '\0';
		return search_nearest(dir);
	}
	return EINVAL;
}

/*
 * Run every probe as the front end's identity in a child; res[i] gets the
 * result of paths[i].  Returns 0, or -1 with err filled when the test
 * itself could not be made.
 */
static int
probe_as(const struct fe_ident *id, const struct fe_path *paths, size_t n,
    int *res, char *err)
{
	int pfd[2], status, e = 0;
	size_t want = (n + 1) * sizeof(int), got = 0;
	int *buf;
	pid_t pid;
	ssize_t r;

	if (!id->drop) {
		for (size_t i = 0; i < n; i++)
			res[i] = probe(&paths[i]);
		return 0;
	}
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		snprintf(err, WEIR_ERRLEN, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, WEIR_ERRLEN, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		/* buf[0]: errno of taking the identity; then one result a path */
		buf = xcalloc(n + 1, sizeof(int));
		close(pfd[0]);
		if (setgroups(id->ngroups, id->groups) == -1 || setgid(id->gid) == -1 ||
		    setuid(id->uid) == -1)
			buf[0] = errno;
		for (size_t i = 0; i < n && buf[0] == 0; i++)
			buf[1 + i] = probe(&paths[i]);
		_exit(write_full(pfd[1], buf, want) == -1 ? 1 : 0);
	}
	close(pfd[1]);
	buf = xcalloc(n + 1, sizeof(int));
	while (got < want) {
		r = read(pfd[0], (char *)buf + got, want - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (got < want)
		snprintf(err, WEIR_ERRLEN, "the test process ended early");
	else if (buf[0] != 0)
		snprintf(err, WEIR_ERRLEN, "cannot take its identity: %s", strerror(buf[0]));
	else
		memcpy(res, buf + 1, n * sizeof(int));
	e = got < want || buf[0] != 0 ? -1 : 0;
	free(buf);
	return e;
}

static const char *
verb(enum fe_need need)
{
	switch (need) {
	case NEED_ROOT:
	case NEED_LISTING:	return "readable";
	case NEED_SEARCH:	return "searchable";
	case NEED_CONNECT:	return "writable";
	}
	return "usable";
}

/*
 * A pool whose user is the front end's could signal it and connect to the
 * other pools' worker sockets, which only the front end may: refused.
 */
static size_t
pool_users(const struct conf *c, const struct fe_ident *id, struct conf_errors *errs)
{
	size_t bad = 0;

	for (size_t i = 0; i < c->npools && id->drop; i++) {
		const struct conf_pool *p = &c->pools[i];
		const struct passwd *pw;

		if (p->user == NULL || (pw = getpwnam(p->user)) == NULL || pw->pw_uid != id->uid)
			continue;
		conf_errors_add(errs, "%s:%d: [pool %s] user %s is the front end's user: a pool "
		    "must not share it (give the pool its own user, or none for its own identity)",
		    c->path, p->line, p->name, p->user);
		bad++;
	}
	return bad;
}

size_t
fecheck_conf(const struct conf *c, const struct fe_ident *id,
    struct conf_errors *errs)
{
	struct fe_path *paths;
	char err[WEIR_ERRLEN];
	size_t n = 0, bad = 0, naliases = 0;
	int *res;

	for (size_t i = 0; i < c->nsites; i++)
		naliases += c->sites[i].naliases;
	paths = xcalloc(c->nsites + naliases + c->npools + 1, sizeof(*paths));
	for (size_t i = 0; i < c->nsites; i++) {
		const struct conf_site *s = &c->sites[i];

		/* an alias directory is opened like a root (router.c) */
		for (size_t j = 0; j < s->naliases; j++) {
			paths[n].line = s->aliases[j].line;
			snprintf(paths[n].what, sizeof(paths[n].what), "[site %s] alias %s",
			    s->name, s->aliases[j].prefix);
			paths[n].path = s->aliases[j].dir;
			paths[n++].need = s->listing ? NEED_LISTING : NEED_ROOT;
		}
		if (s->root == NULL)
			continue;
		paths[n].line = s->line;
		snprintf(paths[n].what, sizeof(paths[n].what), "[site %s] root", s->name);
		paths[n].path = s->root;
		paths[n++].need = s->listing ? NEED_LISTING : NEED_ROOT;
	}
	paths[n].line = c->server.line;
	snprintf(paths[n].what, sizeof(paths[n].what), "[server] state_dir");
	paths[n].path = c->server.state_dir;
	paths[n++].need = NEED_SEARCH;
	for (size_t i = 0; i < c->npools; i++) {
		const struct conf_pool *p = &c->pools[i];

		if (p->address == NULL || p->address_ss.ss_family != AF_UNIX ||
		    ((const struct sockaddr_un *)&p->address_ss)->sun_path[0] == '\0')
			continue;	/* not a path (TCP, or an abstract socket) */
		paths[n].line = p->line;
		snprintf(paths[n].what, sizeof(paths[n].what), "[pool %s] address unix:", p->name);
		paths[n].path = ((const struct sockaddr_un *)&p->address_ss)->sun_path;
		paths[n++].need = NEED_CONNECT;
	}
	res = xcalloc(n, sizeof(int));
	if (probe_as(id, paths, n, res, err) == -1) {
		conf_errors_add(errs, "%s: cannot check paths as user %s (the front end's user): %s",
		    c->path, id->user, err);
		bad = 1;
	} else {
		for (size_t i = 0; i < n; i++) {
			const struct fe_path *p = &paths[i];

			if (res[i] == 0)
				continue;
			bad++;
			snprintf(err, sizeof(err), "%s%s%s: not %s by user %s (the front end's user): %s",
			    p->what, p->need == NEED_CONNECT ? "" : " ", p->path,
			    verb(p->need), id->user, strerror(res[i]));
			if (p->line > 0)
				conf_errors_add(errs, "%s:%d: %s", c->path, p->line, err);
			else
				conf_errors_add(errs, "%s: %s", c->path, err);
		}
	}
	free(res);
	free(paths);
	return bad + pool_users(c, id, errs);
}
