/*
 * siteroot.c - a site's root directory as the front end sees it: open or
 * not, available or not, and what the master is told about it.
 *
 * A site's root is a path in the configuration; files are served beneath
 * an O_PATH descriptor of it (openat2 RESOLVE_BENEATH, fcache.c).  What the
 * path names can change while weir runs: a deploy moves a symlink (root ->
 * releases/42), a release directory is deleted or renamed away, a disk is
 * unmounted, someone runs chmod 0700.  So every thread holds its own
 * descriptor per site and checks the path again when the site gets
 * requests: at most once a second while it is available (ROOT_CHECK_MS),
 * at most every ROOT_RECHECK_MS while it is unavailable or when a lookup
 * beneath it failed in a way a lost root explains (EACCES, ENOENT, ...),
 * and at once when another thread saw a change this one has not (so the
 * threads agree within a request of each other).  A check opens the path, compares the directory with the
 * one held (another one replaces it, and the thread forgets its cached
 * files of the old one) and tests that the front end's user may search it
 * (and read it, for listings) -- dir_probe(), the same test the master
 * runs on a configuration as the front end's user.
 *
 * While its root is unavailable, a site's static files and scripts get 503
 * (httperr.log reason Site_Unavailable); its app routes and the other
 * sites are not affected.  The first thread that sees a change tells the
 * master (CTL_SITE_FAULT; events 1311, then 1312 when the root is back),
 * once per outage: the threads share one atomic per site name (struct
 * site_stats), which outlives configuration generations.  Thread 0 checks
 * the roots that are down every second, so a site comes back (and 1312 is
 * written) even when no request comes.
 *
 * Nothing here is fatal: a root that cannot be opened at start or at a
 * reload is one site answering 503, never a front end that exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "log.h"
#include "util.h"
#include "frontend.h"

#define ROOT_CHECK_MS	1000	/* an available root is checked this often */
#define ROOT_RECHECK_MS	100	/* ... one in doubt (or down) at most this often */

/* Tell the master when the site's state changes, once for all threads. */
static void
report(struct frontend *fe, const struct fe_site *s, int err)
{
	atomic_int *down = &s->stats->down;
	int was = atomic_load(down);
	struct ctl_site_fault f;

	if ((was != 0) == (err != 0))
		return;
	if (!atomic_compare_exchange_strong(down, &was, err))
		return;		/* another thread told the master first */
	memset(&f, 0, sizeof(f));
	f.err = err;
	wstrlcpy(f.site, s->cs->name, sizeof(f.site));
	wstrlcpy(f.root, s->cs->root, sizeof(f.root));
	if (ctl_send(fe->ctl, CTL_SITE_FAULT, &f, sizeof(f), NULL, 0) == -1)
		log_warn("control channel: site %s fault report", s->cs->name);
}

/* Let go of a thread's descriptor and of the files it cached beneath it. */
static void
drop(struct fcache *fc, struct fe_root *rt)
{
	if (rt->fd == -1)
		return;
	if (fc != NULL)
		fcache_forget_root(fc, rt->fd);
	close(rt->fd);
	rt->fd = -1;
}

/*
 * Check the root's path for one thread's entry; fc is that thread's file
 * cache (NULL before the threads exist: nothing is cached yet).
 */
static void
check(struct frontend *fe, struct fcache *fc, const struct fe_site *s,
    struct fe_root *rt, uint64_t now)
{
	struct stat st;
	int fd = dir_probe(s->cs->root, s->cs->listing, &st);

	rt->checked = now;
	if (fd == -1) {
		rt->err = errno != 0 ? errno : EIO;
		drop(fc, rt);
	} else if (rt->fd != -1 && rt->dev == st.st_dev && rt->ino == st.st_ino) {
		close(fd);	/* the same directory: keep what the cache is keyed on */
		rt->err = 0;
	} else {
		drop(fc, rt);
		/*
		 * The number may have named another root of this thread's
		 * (one of a generation since freed): its entries are not ours.
		 */
		if (fc != NULL)
			fcache_forget_root(fc, fd);
		rt->fd = fd;
		rt->dev = st.st_dev;
		rt->ino = st.st_ino;
		rt->err = 0;
	}
	report(fe, s, rt->err);
}

/*
 * When a generation is built (on thread 0, before it is used): one entry
 * per thread, and thread 0's checked now, so an outage is known (and told)
 * from the start.  At start the threads (and their caches) do not exist
 * yet; at a reload thread 0's cache is the one to keep right.
 */
void
siteroot_init(struct frontend *fe, struct fe_site *s)
{
	unsigned n = fe->nthreads ? fe->nthreads : 1;

	s->nroots = n;
	s->roots = xcalloc_aligned(n, sizeof(*s->roots), 64);
	for (unsigned i = 0; i < n; i++)
		s->roots[i].fd = -1;
	check(fe, fe->threads != NULL ? fe->threads[0].fcache : NULL, s,
	    &s->roots[0], mono_ms());
}

/* When the generation is freed: every thread's descriptor. */
void
siteroot_free(struct fe_site *s)
{
	for (unsigned i = 0; i < s->nroots; i++)
		if (s->roots[i].fd != -1)
			close(s->roots[i].fd);
	free(s->roots);
	s->roots = NULL;
	s->nroots = 0;
}

/*
 * The calling thread's descriptor of the site's root, checked again when
 * its time has come; -1 while the root is unavailable (the caller answers
 * with siteroot_unavailable()).
 */
int
siteroot_fd(struct conn *c, const struct fe_site *s)
{
	struct fe_thread *t = c->t;
	struct fe_root *rt = &s->roots[t->idx];
	uint64_t now = loop_now(t->loop);
	bool down = atomic_load_explicit(&s->stats->down, memory_order_relaxed) != 0;

	/* another thread saw a change this one has not: look now */
	if (rt->checked == 0 || (rt->err != 0) != down ||
	    now - rt->checked >= (rt->err != 0 ? ROOT_RECHECK_MS : ROOT_CHECK_MS))
		check(t->fe, t->fcache, s, rt, now);
	return rt->err == 0 ? rt->fd : -1;
}

/* 503 for a request to a site whose root is unavailable. */
int
siteroot_unavailable(struct conn *c, struct req *r)
{
	return http1_error(c, r, 503, "Site_Unavailable");
}

/*
 * A lookup beneath s's root (the site's or an alias's) failed with err: a missing or forbidden file
 * (404, 403 ...), or the root itself gone?  Checks the root (rate-limited)
 * when err could mean that.  Returns the status for the caller to send, or
 * the result of answering 503 itself.
 */
int
siteroot_errno_status(struct conn *c, struct req *r, const struct fe_site *s, int err)
{
	struct fe_root *rt = &s->roots[c->t->idx];
	uint64_t now = loop_now(c->t->loop);

	switch (err) {
	case ENOENT:
	case ENOTDIR:
	case EACCES:
	case ESTALE:
	case EIO:
	case ENODEV:
	case ENXIO:
		if (now - rt->checked >= ROOT_RECHECK_MS)
			check(c->t->fe, c->t->fcache, s, rt, now);
		if (rt->err != 0)
			return siteroot_unavailable(c, r);
		break;
	default:
		break;
	}
	return rc_errno_status(err);
}

/*
 * Thread 0, every second: check the roots the master was told are down,
 * so their sites come back without waiting for a request.
 */
void
siteroot_tick(struct fe_thread *t)
{
	const struct fe_gen *g = t->gen;
	uint64_t now = loop_now(t->loop);

	for (size_t i = 0; i < g->nsites; i++) {
		const struct fe_site *s = &g->sites[i];

		if (s->roots != NULL && atomic_load(&s->stats->down) != 0 &&
		    now - s->roots[t->idx].checked >= ROOT_CHECK_MS)
			check(t->fe, t->fcache, s, &s->roots[t->idx], now);
		for (size_t j = 0; j < s->naliases; j++) {
			const struct fe_site *as = &s->aliases[j].site;

			if (atomic_load(&as->stats->down) != 0 &&
			    now - as->roots[t->idx].checked >= ROOT_CHECK_MS)
				check(t->fe, t->fcache, as, &as->roots[t->idx], now);
		}
	}
}
