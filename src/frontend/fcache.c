/*
 * fcache.c - the per-thread open file cache.
 *
 * Maps (root, normalized path) to an open fd, its stat results, validators,
 * type and, for small files, the content itself.  An entry is used as is for
 * open_file_cache_valid, then checked again by opening the path anew: if the
 * file is the same (device, inode, size, mtime) the entry lives on, else it
 * is replaced.  Errors (ENOENT, EACCES, ...) are cached the same way, so a
 * flood of 404s does not become a flood of open(2) calls.
 *
 * Paths are opened with openat2(2) beneath the site's root fd:
 * RESOLVE_BENEATH keeps ".." and symbolic links from leaving the root
 * (symlinks = within-root), RESOLVE_NO_SYMLINKS refuses links altogether
 * (symlinks = refuse).  symlinks = owner (Apache's SymLinksIfOwnerMatch)
 * tries a path without links first and walks one with links a component at
 * a time (open_owner()).  Per thread, so no locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "log.h"
#include "util.h"
#include "frontend.h"

#define FCACHE_SMALL		(12 * 1024)	/* content kept in memory up to this size */
#define FCACHE_DATA_MAX		(8u << 20)	/* per thread */

struct fcache {
	struct fentry	**tab;
	size_t		  mask;
	struct fentry	 *head, *tail;	/* LRU */
	unsigned	  n, max;
	uint64_t	  valid_ms;
	size_t		  data_bytes;
};

/* An empty hash table for up to max entries (at most half full). */
static void
table_init(struct fcache *fc, unsigned max, uint64_t valid_ms)
{
	size_t size = 16;

	while (size < (size_t)max * 2)
		size <<= 1;
	fc->tab = xcalloc(size, sizeof(*fc->tab));
	fc->mask = size - 1;
	fc->max = max;
	fc->valid_ms = valid_ms;
}

struct fcache *
fcache_new(unsigned max, uint64_t valid_ms)
{
	struct fcache *fc = xcalloc(1, sizeof(*fc));

	table_init(fc, max, valid_ms);
	return fc;
}

static uint32_t
hash(int rootfd, const char *p, size_t n)
{
	uint32_t h = 2166136261u ^ (uint32_t)rootfd;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 16777619u;
	}
	return h;
}

/* Drop what an entry holds (fd, content), keeping the struct. */
static void
entry_clear(struct fcache *fc, struct fentry *e)
{
	if (e->fd != -1)
		close(e->fd);
	e->fd = -1;
	if (e->data != NULL) {
		fc->data_bytes -= e->size;
		free(e->data);
		e->data = NULL;
	}
}

static void
entry_free(struct fcache *fc, struct fentry *e)
{
	entry_clear(fc, e);
	free(e->path);
	free(e);
}

static void
lru_unlink(struct fcache *fc, struct fentry *e)
{
	if (e->lprev != NULL)
		e->lprev->lnext = e->lnext;
	else
		fc->head = e->lnext;
	if (e->lnext != NULL)
		e->lnext->lprev = e->lprev;
	else
		fc->tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void
lru_front(struct fcache *fc, struct fentry *e)
{
	e->lprev = NULL;
	e->lnext = fc->head;
	if (fc->head != NULL)
		fc->head->lprev = e;
	fc->head = e;
	if (fc->tail == NULL)
		fc->tail = e;
}

/* Take e out of the table and the LRU; free it now or when released. */
static void
evict(struct fcache *fc, struct fentry *e)
{
	struct fentry **pp = &fc->tab[e->hash & fc->mask];

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp == e)
		*pp = e->hnext;
	lru_unlink(fc, e);
	fc->n--;
	if (e->refs > 0)
		e->dead = true;
	else
		entry_free(fc, e);
}

/*
 * Does fd lie beneath rootfd?  Compares where /proc says they are, so it
 * sees through every symbolic link on the way.
 */
static bool
fd_beneath(int rootfd, int fd)
{
	char root[PATH_MAX], real[PATH_MAX], link[64];
	ssize_t rn, fn;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", rootfd);
	rn = readlink(link, root, sizeof(root) - 1);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	fn = readlink(link, real, sizeof(real) - 1);
	return !(rn <= 0 || fn <= 0 || fn < rn || memcmp(root, real, (size_t)rn) != 0 ||
	    (fn > rn && real[rn] != '/' && !(rn == 1 && root[0] == '/')));
}

/*
 * Fallback for kernels without openat2 (before 5.6): open relative to the
 * root and check where the fd really points.
 */
static int
open_fallback(int rootfd, const char *path, int symlinks)
{
	int fd;

	fd = openat(rootfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY |
	    (symlinks == SYMLINKS_REFUSE ? O_NOFOLLOW : 0));
	if (fd == -1 || symlinks == SYMLINKS_FOLLOW)
		return fd;
	if (!fd_beneath(rootfd, fd)) {
		close(fd);
		errno = EXDEV;
		return -1;
	}
	return fd;
}

/* Reopen an O_PATH descriptor for reading (permissions checked again); closes it. */
static int
reopen_path(int pfd)
{
	char link[64];
	int fd, e;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", pfd);
	fd = open(link, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	e = errno;
	close(pfd);
	errno = e;
	return fd;
}

/*
 * RESOLVE_BENEATH refuses every absolute symbolic link, even one whose
 * target is under the root (root/current -> /srv/www/v2), which
 * symlinks = within-root allows and which the fallback above accepts.
 * Resolve such a path with O_PATH, which opens nothing (a link to a FIFO or
 * a device has no side effect), check where it ended, and only then open
 * it for reading through /proc (permissions are checked again there).
 */
static int
open_abs_link(int rootfd, const char *path)
{
	int pfd;

	if ((pfd = openat(rootfd, path, O_PATH | O_CLOEXEC)) == -1)
		return -1;
	if (!fd_beneath(rootfd, pfd)) {
		close(pfd);
		errno = EXDEV;
		return -1;
	}
	return reopen_path(pfd);
}

/*
 * symlinks = owner, for a path with a link in it: walk it one component
 * at a time with O_PATH (which opens nothing: a link to a FIFO or a device
 * has no side effect).  A link is followed only when the link and what it
 * leads to have the same owner (checked with the descriptor actually
 * opened, so swapping the link in between does not help); otherwise
 * EACCES (403).  A user who can write in the root can then link only to
 * files of their own, never to someone else's (another site's
 * configuration, /etc, a key of the front end's user).  Path components
 * are from a normalized path: no "..", no empty ones but a trailing '/'.
 */
static int
open_owner(int rootfd, const char *path)
{
	char comp[NAME_MAX + 1];
	int dir = rootfd, nfd, e;
	const char *p = path;

	while (*p != '\0') {
		const char *end = strchr(p, '/');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		struct stat lst, tst;

		if (n == 0 || (n == 1 && p[0] == '.')) {
			p += n + (end != NULL);
			continue;
		}
		if (n > NAME_MAX) {
			errno = ENAMETOOLONG;
			goto fail;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n + (end != NULL);
		if (fstatat(dir, comp, &lst, AT_SYMLINK_NOFOLLOW) == -1)
			goto fail;
		if ((nfd = openat(dir, comp, O_PATH | O_CLOEXEC)) == -1)
			goto fail;
		if (S_ISLNK(lst.st_mode) &&
		    (fstat(nfd, &tst) == -1 || tst.st_uid != lst.st_uid)) {
			close(nfd);
			errno = EACCES;
			goto fail;
		}
		if (dir != rootfd)
			close(dir);
		dir = nfd;
	}
	if (dir == rootfd)
		return openat(rootfd, ".", O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	return reopen_path(dir);
fail:
	e = errno;
	if (dir != rootfd)
		close(dir);
	errno = e;
	return -1;
}

static int
open_beneath(int rootfd, const char *path, int symlinks)
{
	static _Thread_local bool no_openat2;
	struct open_how how;
	long fd;

	if (no_openat2)
		return symlinks == SYMLINKS_OWNER ? open_owner(rootfd, path) :
		    open_fallback(rootfd, path, symlinks);
	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	switch (symlinks) {
	case SYMLINKS_FOLLOW:
		how.resolve = RESOLVE_NO_MAGICLINKS;
		break;
	case SYMLINKS_REFUSE:
	case SYMLINKS_OWNER:	/* first without links: the common case, one call */
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
		break;
	default:
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
		break;
	}
	fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd == -1 && errno == ENOSYS) {
		no_openat2 = true;
		return open_beneath(rootfd, path, symlinks);
	}
	if (fd == -1 && errno == ELOOP && symlinks == SYMLINKS_OWNER)
		return open_owner(rootfd, path);
	if (fd == -1 && errno == EXDEV && symlinks == SYMLINKS_WITHIN_ROOT)
		return open_abs_link(rootfd, path);
	return (int)fd;
}

/* Open and describe the file of e->path; sets e->err on failure. */
static void
entry_fill(struct fcache *fc, struct fentry *e, int fd, int err, const struct stat *st,
    uint64_t now)
{
	e->checked = now;
	e->fd = -1;
	e->err = err;
	if (err != 0)
		return;
	e->mode = st->st_mode;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->size = (uint64_t)st->st_size;
	e->mtime = st->st_mtim.tv_sec;
	e->mtime_ns = st->st_mtim.tv_nsec;
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return;
	}
	e->fd = fd;
	e->etaglen = etag_make(e->etag, sizeof(e->etag), st);
	httpdate_format(e->mtime, e->lastmod);
	e->mime = mime_type(e->path, e->pathlen);
	if (e->size > 0 && e->size <= FCACHE_SMALL &&
	    fc->data_bytes + e->size <= FCACHE_DATA_MAX &&
	    (e->data = malloc(e->size)) != NULL) {
		size_t got = 0;

		while (got < e->size) {
			ssize_t r = pread(fd, e->data + got, e->size - got, (off_t)got);

			if (r <= 0) {
				if (r == -1 && errno == EINTR)
					continue;
				/* Changed under us: serve it from the fd instead. */
				free(e->data);
				e->data = NULL;
				return;
			}
			got += (size_t)r;
		}
		fc->data_bytes += e->size;
	}
}

static int
open_stat(int rootfd, const char *path, int symlinks, struct stat *st, int *err)
{
	int fd = open_beneath(rootfd, path, symlinks);

	*err = 0;
	if (fd == -1) {
		*err = errno;
		return -1;
	}
	if (fstat(fd, st) == -1) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

static bool
same_file(const struct fentry *e, int err, const struct stat *st)
{
	if (e->err != 0 || err != 0)
		return e->err == err;
	return e->mode == st->st_mode && e->dev == st->st_dev &&
	    e->ino == st->st_ino && e->size == (uint64_t)st->st_size &&
	    e->mtime == st->st_mtim.tv_sec && e->mtime_ns == st->st_mtim.tv_nsec;
}

/*
 * Look up or open `path` (relative, no leading '/') beneath rootfd.  The
 * returned entry is held (refs + 1) until fcache_release(); check e->err.
 * NULL only when memory runs out.
 */
struct fentry *
fcache_open(struct fcache *fc, uint64_t now, int rootfd, int symlinks,
    const char *path, size_t len)
{
	uint32_t h = hash(rootfd, path, len);
	struct fentry *e;
	struct stat st;
	char pbuf[4096 + 2];
	int fd, err;

	if (len >= sizeof(pbuf))
		return NULL;
	memcpy(pbuf, path, len);
	pbuf[len] = '\0';
	for (e = fc->tab[h & fc->mask]; e != NULL; e = e->hnext)
		if (e->hash == h && e->rootfd == rootfd && e->pathlen == len &&
		    memcmp(e->path, path, len) == 0)
			break;
	if (e != NULL) {
		if (now - e->checked <= fc->valid_ms && fc->valid_ms != 0) {
			lru_unlink(fc, e);
			lru_front(fc, e);
			e->refs++;
			return e;
		}
		fd = open_stat(rootfd, pbuf, symlinks, &st, &err);
		if (same_file(e, err, &st)) {
			if (fd != -1)
				close(fd);
			e->checked = now;
			lru_unlink(fc, e);
			lru_front(fc, e);
			e->refs++;
			return e;
		}
		evict(fc, e);
	} else {
		fd = open_stat(rootfd, pbuf, symlinks, &st, &err);
	}
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->path = malloc(len + 1)) == NULL) {
		free(e);
		if (fd != -1)
			close(fd);
		return NULL;
	}
	memcpy(e->path, pbuf, len + 1);
	e->pathlen = len;
	e->hash = h;
	e->rootfd = rootfd;
	entry_fill(fc, e, fd, err, &st, now);
	e->refs = 1;
	if (fc->max == 0) {
		e->dead = true;		/* cache off: freed on release */
		return e;
	}
	while (fc->n >= fc->max && fc->tail != NULL)
		evict(fc, fc->tail);
	e->hnext = fc->tab[h & fc->mask];
	fc->tab[h & fc->mask] = e;
	lru_front(fc, e);
	fc->n++;
	return e;
}

void
fcache_release(struct fcache *fc, struct fentry *e)
{
	if (e == NULL)
		return;
	if (--e->refs == 0 && e->dead)
		entry_free(fc, e);
}

/*
 * Forget every entry opened beneath rootfd: the thread is about to close
 * it (siteroot.c), and the number may come back for another directory.
 */
void
fcache_forget_root(struct fcache *fc, int rootfd)
{
	struct fentry *e, *next;

	for (e = fc->head; e != NULL; e = next) {
		next = e->lnext;
		if (e->rootfd == rootfd)
			evict(fc, e);
	}
}

/*
 * A reload changed open_file_cache or open_file_cache_valid (the thread
 * takes the new generation): start over with the new limits.  Entries that
 * requests still hold are freed when they are released.
 */
void
fcache_configure(struct fcache *fc, unsigned max, uint64_t valid_ms)
{
	if (max == fc->max && valid_ms == fc->valid_ms)
		return;
	while (fc->tail != NULL)
		evict(fc, fc->tail);
	free(fc->tab);
	table_init(fc, max, valid_ms);
}

void
fcache_free(struct fcache *fc)
{
	if (fc == NULL)
		return;
	while (fc->tail != NULL) {
		struct fentry *e = fc->tail;

		e->refs = 0;
		evict(fc, e);
	}
	free(fc->tab);
	free(fc);
}
