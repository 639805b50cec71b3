/*
 * fsiso.c - optional filesystem isolation of a pool's workers, the master's
 * side: private_tmp directories, the check of the keys, and the pure
 * helpers the worker child uses to read /proc/self/mountinfo.
 *
 * Each worker child of a pool with private_tmp or protect_system unshares
 * its own mount namespace (worker.c: worker_isolate_fs(), before it drops
 * the master's privileges).  What the workers of one pool must share is
 * made here, in the master's namespace: private_tmp is one directory per
 * pool, <state_dir>/private/<pool>/{tmp,var-tmp}, owned by the pool's
 * identity, which each worker binds over /tmp and /var/tmp.  Its parent
 * directories are root's and 0700, so nobody else reaches it by path.  It
 * is removed when the pool stops (state stopped, removed by a reload, weir
 * stops) and, for what a master that died left, when weir starts.
 *
 * The removal walks a tree an untrusted worker wrote: every step is
 * relative to a directory fd, opened with O_NOFOLLOW, and never leaves the
 * filesystem it started on, so a symlink or a mount point planted there
 * cannot turn it into a removal elsewhere.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "master.h"

#define FSISO_DIR	"private"
#define FSISO_DEPTH	64	/* deeper trees are left for the next start */

/*
 * <state_dir>/private/<pool>[/sub] into buf.  Returns 0, or -1 when it
 * does not fit.  Pure: the worker child calls it too.
 */
int
fsiso_tmp_path(const char *state_dir, const char *pool, const char *sub,
    char *buf, size_t len)
{
	int n;

	if (pool == NULL)
		n = snprintf(buf, len, "%s/%s", state_dir, FSISO_DIR);
	else if (sub == NULL)
		n = snprintf(buf, len, "%s/%s/%s", state_dir, FSISO_DIR, pool);
	else
		n = snprintf(buf, len, "%s/%s/%s/%s", state_dir, FSISO_DIR, pool, sub);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* mkdir that accepts an existing directory, then the mode and owner wanted. */
static int
make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid, char *err)
{
	struct stat st;

	if (mkdir(path, mode) == -1 && errno != EEXIST)
		goto fail;
	if (lstat(path, &st) == -1)
		goto fail;
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, WEIR_ERRLEN, "private_tmp: %s is not a directory", path);
		return -1;
	}
	/* chmod after chown: chown clears the sticky and set-id bits */
	if (chown(path, uid, gid) == -1 || chmod(path, mode) == -1)
		goto fail;
	return 0;
fail:
	snprintf(err, WEIR_ERRLEN, "private_tmp: %s: %s", path, strerror(errno));
	return -1;
}

/*
 * Before a worker of a private_tmp pool starts: make sure the pool's
 * directories exist (the first worker makes them, the others share them).
 * /tmp and /var/tmp inside are the pool's and 1777 like the real ones
 * (programs that check /tmp expect the sticky bit).  Returns 0, or -1 with
 * err (the launch fails: event 1059).
 */
int
fsiso_tmp_prepare(struct pool *p, char *err)
{
	const char *sd = p->m->conf->server.state_dir;
	uid_t uid = p->set_identity ? p->uid : geteuid();
	gid_t gid = p->set_identity ? p->gid : getegid();
	char path[PATH_MAX];

	err[0] = '\0';
	if (fsiso_tmp_path(sd, NULL, NULL, path, sizeof(path)) == -1 ||
	    make_dir(path, 0700, geteuid(), getegid(), err) == -1)
		goto toolong;
	if (fsiso_tmp_path(sd, p->name, NULL, path, sizeof(path)) == -1 ||
	    make_dir(path, 0700, geteuid(), getegid(), err) == -1)
		goto toolong;
	if (fsiso_tmp_path(sd, p->name, "tmp", path, sizeof(path)) == -1 ||
	    make_dir(path, 01777, uid, gid, err) == -1)
		goto toolong;
	if (fsiso_tmp_path(sd, p->name, "var-tmp", path, sizeof(path)) == -1 ||
	    make_dir(path, 01777, uid, gid, err) == -1)
		goto toolong;
	return 0;
toolong:
	if (err[0] == '\0')
		snprintf(err, WEIR_ERRLEN, "private_tmp: path under %s too long", sd);
	return -1;
}

/*
 * Remove dfd/name and everything below it, on device dev only, without
 * following a symlink.  Errors are ignored on purpose: what is left is
 * removed by the next start (fsiso_clean()).
 */
static void
remove_at(int dfd, const char *name, dev_t dev, int depth)
{
	struct stat st;
	int fd;

	if (unlinkat(dfd, name, 0) == 0 || errno != EISDIR)
		return;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return;
	if (fstat(fd, &st) == -1 || st.st_dev != dev || depth > FSISO_DEPTH) {
		close(fd);
		return;
	}
	for (;;) {
		struct dirent *de;
		bool removed = false;
		int dup_fd = dup(fd);
		DIR *d;

		if (dup_fd == -1 || (d = fdopendir(dup_fd)) == NULL) {
			if (dup_fd != -1)
				close(dup_fd);
			break;
		}
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			remove_at(fd, de->d_name, dev, depth + 1);
			removed = true;
		}
		closedir(d);
		/* entries removed while reading may hide others: read again */
		if (!removed || unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno != ENOTEMPTY)
			break;
	}
	close(fd);
	(void)unlinkat(dfd, name, AT_REMOVEDIR);
}

/* Remove a path's tree (its last component under its parent directory). */
static void
remove_tree(const char *path)
{
	char parent[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;
	int dfd;

	if (slash == NULL || (size_t)(slash - path) >= sizeof(parent))
		return;
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = '\0';
	if ((dfd = open(parent[0] ? parent : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;		/* nothing there: nothing to remove */
	if (fstat(dfd, &st) == 0)
		remove_at(dfd, slash + 1, st.st_dev, 0);
	close(dfd);
}

/* The pool stopped: its private /tmp and /var/tmp go. */
void
fsiso_tmp_remove(struct pool *p)
{
	char path[PATH_MAX];

	if (fsiso_tmp_path(p->m->conf->server.state_dir, p->name, NULL, path,
	    sizeof(path)) == -1)
		return;
	if (access(path, F_OK) == 0)
		log_info("pool %s: removing its private /tmp", p->name);
	remove_tree(path);
}

/* At start: what an earlier master left under <state_dir>/private goes. */
void
fsiso_clean(const char *state_dir)
{
	char path[PATH_MAX];

	if (fsiso_tmp_path(state_dir, NULL, NULL, path, sizeof(path)) == 0)
		remove_tree(path);
}

/*
 * Can this process give a child a mount namespace?  Tried once in a child
 * (unshare, then / made a slave so nothing propagates back), the answer
 * kept.  Returns 0, or the errno that refused it.
 */
static int
probe_mount_ns(void)
{
	static int known = -1;
	int status;
	pid_t pid;

	if (known != -1)
		return known;
	if ((pid = fork()) == -1)
		return errno;
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) == -1 ||
		    mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) == -1)
			_exit(errno > 0 && errno < 126 ? errno : 125);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return errno;
	known = WIFEXITED(status) ? WEXITSTATUS(status) : EINVAL;
	return known;
}

/*
 * `weir check`, `weir run` and reloads: private_tmp and protect_system need
 * weir to run as root (decided here: the check runs as the user it is run
 * by, which is the one weir will run as) and a kernel that allows a mount
 * namespace (tried).  notify = yes with private_tmp needs the notify socket
 * (a path under state_dir) outside the /tmp the workers no longer see.
 * Returns the number of errors added.
 */
size_t
fsiso_check_conf(const struct conf *c, struct conf_errors *errs)
{
	const char *sd = c->server.state_dir;
	size_t bad = 0;
	int e = 0;

	for (size_t i = 0; i < c->npools; i++) {
		const struct conf_pool *cp = &c->pools[i];
		const char *what = cp->private_tmp && cp->protect_system ?
		    "private_tmp and protect_system" : cp->private_tmp ? "private_tmp" :
		    "protect_system";

		if (!cp->private_tmp && !cp->protect_system)
			continue;
		if (geteuid() != 0) {
			conf_errors_add(errs, "%s:%d: [pool %s]: %s needs weir to run as root (each worker gets its own mount namespace); this runs as uid %d",
			    c->path, cp->line, cp->name, what, (int)geteuid());
			bad++;
			continue;
		}
		if (e == 0)
			e = probe_mount_ns();
		if (e != 0) {
			conf_errors_add(errs, "%s:%d: [pool %s]: %s: the kernel refused a mount namespace (unshare(CLONE_NEWNS): %s)",
			    c->path, cp->line, cp->name, what, strerror(e));
			bad++;
			continue;
		}
		if (cp->private_tmp && cp->notify &&
		    (fsiso_path_within(sd, "/tmp") || fsiso_path_within(sd, "/var/tmp"))) {
			conf_errors_add(errs, "%s:%d: [pool %s]: notify = yes with private_tmp needs [server] state_dir outside /tmp and /var/tmp (the workers' NOTIFY_SOCKET is there, and their /tmp is their own)",
			    c->path, cp->line, cp->name);
			bad++;
		}
	}
	return bad;
}

/* --- pure helpers (also for the worker child; unit-tested) ---------------- */

/* Is path dir itself or below it?  ("/a/b" is within "/a" and "/a/", not "/ab") */
bool
fsiso_path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 0 && dir[n - 1] == '/')
		n--;
	if (n == 0)
		return path[0] == '/';
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Undo mountinfo's octal escapes (\040 for a space, ...) in place. */
static void
unescape(char *s)
{
	char *o = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/*
 * One line of /proc/self/mountinfo ("36 35 98:0 /mnt1 /mnt2 rw,noatime
 * master:1 - ext3 /dev/root rw"), split in place: the mount point
 * (unescaped) and the mount's own options as MS_* flags, the ones a bind
 * remount must repeat or lose (nosuid, nodev, noexec, the atime mode).
 * Returns 0, or -1 for a line that is not one.
 */
int
fsiso_mountinfo_line(char *line, char **mountpoint, unsigned long *flags)
{
	char *field[6], *save = NULL, *tok, *opt;
	unsigned long f = 0;
	bool atime = false;
	int n = 0;

	for (tok = strtok_r(line, " \n", &save); tok != NULL && n < 6;
	    tok = strtok_r(NULL, " \n", &save))
		field[n++] = tok;
	if (n < 6 || field[4][0] != '/')
		return -1;
	unescape(field[4]);
	*mountpoint = field[4];
	for (opt = strtok_r(field[5], ",", &save); opt != NULL; opt = strtok_r(NULL, ",", &save)) {
		if (strcmp(opt, "ro") == 0)
			f |= MS_RDONLY;
		else if (strcmp(opt, "nosuid") == 0)
			f |= MS_NOSUID;
		else if (strcmp(opt, "nodev") == 0)
			f |= MS_NODEV;
		else if (strcmp(opt, "noexec") == 0)
			f |= MS_NOEXEC;
		else if (strcmp(opt, "noatime") == 0)
			f |= MS_NOATIME, atime = true;
		else if (strcmp(opt, "nodiratime") == 0)
			f |= MS_NODIRATIME;
		else if (strcmp(opt, "relatime") == 0)
			f |= MS_RELATIME, atime = true;
	}
	/* neither: strict atime (the kernel would otherwise make it relatime) */
	if (!atime)
		f |= MS_STRICTATIME;
	*flags = f;
	return 0;
}
