/*
 * loop.c - the event loop: epoll (level-triggered), a binary min-heap of
 * timers, signalfd, and a list of work deferred to the end of a batch.
 *
 * Level-triggered epoll keeps the callers simple: a callback that did not
 * drain its fd is simply called again.  Callers ask for LOOP_WRITE only while
 * they have output stuck in a full socket buffer, so the steady state of a
 * keep-alive connection costs no epoll_ctl calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>

#include "rc.h"
#include "loop.h"

#define LOOP_MAX_EVENTS	256

struct deferred {
	loop_defer_cb	 cb;
	void		*arg;
};

struct loop {
	int		  epfd;
	bool		  stopped;
	uint64_t	  now;		/* cached monotonic ms */
	uint64_t	  now_ns;	/* the same instant, in ns */
	struct loop_timer **heap;	/* min-heap on ->when */
	size_t		  nheap, heapcap;
	struct deferred	 *defer;	/* run after each batch of events */
	size_t		  ndefer, defercap;
	loop_defer_cb	  before_sleep;
	void		 *before_sleep_arg;
	/* signalfd */
	struct loop_io	  sigio;
	loop_signal_cb	  sigcb;
	void		 *sigarg;
};

uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
mono_ms(void)
{
	return mono_ns() / 1000000u;
}

struct loop *
loop_new(char *err)
{
	struct loop *l;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, WEIR_ERRLEN, "out of memory");
		return NULL;
	}
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		snprintf(err, WEIR_ERRLEN, "epoll_create1: %s", strerror(errno));
		free(l);
		return NULL;
	}
	l->sigio.fd = -1;
	l->now_ns = mono_ns();
	l->now = l->now_ns / 1000000u;
	return l;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	if (l->sigio.fd != -1)
		close(l->sigio.fd);
	close(l->epfd);
	free(l->heap);
	free(l->defer);
	free(l);
}

uint64_t
loop_now(const struct loop *l)
{
	return l->now;
}

/*
 * The cached instant in ns: what arrived in one wake-up arrived then, so
 * a request's clock can start there without a clock_gettime() of its own.
 */
uint64_t
loop_now_ns(const struct loop *l)
{
	return l->now_ns;
}

uint64_t
loop_update_time(struct loop *l)
{
	l->now_ns = mono_ns();
	l->now = l->now_ns / 1000000u;
	return l->now;
}

void
loop_stop(struct loop *l)
{
	l->stopped = true;
}

int
loop_io_add(struct loop *l, struct loop_io *io, int fd, uint32_t events,
    loop_io_cb cb, void *arg)
{
	struct epoll_event ev;

	io->fd = fd;
	io->events = events;
	io->cb = cb;
	io->arg = arg;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = io;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		io->fd = -1;
		return -1;
	}
	return 0;
}

int
loop_io_mod(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev;

	if (io->fd == -1 || io->events == events)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = io;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) == -1)
		return -1;
	io->events = events;
	return 0;
}

/*
 * Stop watching io->fd.  The caller still owns and closes the fd.  Any event
 * for it already fetched in this batch is dropped by the dispatcher because
 * io->fd is -1 (the memory must stay valid until the batch ends: free it with
 * loop_defer()).
 */
void
loop_io_del(struct loop *l, struct loop_io *io)
{
	if (io->fd == -1)
		return;
	/* Fails only if the fd was already closed; nothing to undo then. */
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->fd = -1;
}

/* --- timers: binary min-heap ------------------------------------------- */

static void
heap_swap(struct loop *l, size_t a, size_t b)
{
	struct loop_timer *t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->idx = a;
	l->heap[b]->idx = b;
}

static void
heap_up(struct loop *l, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (l->heap[p]->when <= l->heap[i]->when)
			break;
		heap_swap(l, i, p);
		i = p;
	}
}

static void
heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1, m = i;

		if (c < l->nheap && l->heap[c]->when < l->heap[m]->when)
			m = c;
		if (c + 1 < l->nheap && l->heap[c + 1]->when < l->heap[m]->when)
			m = c + 1;
		if (m == i)
			break;
		heap_swap(l, i, m);
		i = m;
	}
}

void
loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *arg)
{
	t->when = 0;
	t->idx = SIZE_MAX;
	t->cb = cb;
	t->arg = arg;
}

void
loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	size_t i = t->idx;

	if (i == SIZE_MAX)
		return;
	t->idx = SIZE_MAX;
	l->nheap--;
	if (i == l->nheap)
		return;
	l->heap[i] = l->heap[l->nheap];
	l->heap[i]->idx = i;
	heap_up(l, i);
	heap_down(l, l->heap[i]->idx);
}

/*
 * Arm (or re-arm) t to fire `ms` milliseconds from the loop's cached now.
 * Re-arming an armed timer moves it; the heap only grows, so after warm-up
 * this never allocates.  Allocation failure is a broken invariant for a
 * server that cannot time anything out: abort.
 */
void
loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t ms)
{
	uint64_t when = l->now + ms;

	if (t->idx != SIZE_MAX) {
		uint64_t old = t->when;

		t->when = when;
		if (when < old)
			heap_up(l, t->idx);
		else if (when > old)
			heap_down(l, t->idx);
		return;
	}
	if (l->nheap == l->heapcap) {
		size_t cap = l->heapcap ? l->heapcap * 2 : 64;
		struct loop_timer **h = realloc(l->heap, cap * sizeof(*h));

		if (h == NULL)
			abort();
		l->heap = h;
		l->heapcap = cap;
	}
	t->when = when;
	t->idx = l->nheap;
	l->heap[l->nheap++] = t;
	heap_up(l, t->idx);
}

static void
run_timers(struct loop *l)
{
	while (l->nheap > 0 && l->heap[0]->when <= l->now) {
		struct loop_timer *t = l->heap[0];

		loop_timer_cancel(l, t);
		t->cb(t->arg);
	}
}

/* --- deferred work and signals ----------------------------------------- */

int
loop_defer(struct loop *l, loop_defer_cb cb, void *arg)
{
	if (l->ndefer == l->defercap) {
		size_t cap = l->defercap ? l->defercap * 2 : 32;
		struct deferred *d = realloc(l->defer, cap * sizeof(*d));

		if (d == NULL)
			return -1;
		l->defer = d;
		l->defercap = cap;
	}
	l->defer[l->ndefer].cb = cb;
	l->defer[l->ndefer].arg = arg;
	l->ndefer++;
	return 0;
}

static void
run_deferred(struct loop *l)
{
	/* Deferred callbacks may defer more; run until none are left. */
	for (size_t i = 0; i < l->ndefer; i++)
		l->defer[i].cb(l->defer[i].arg);
	l->ndefer = 0;
}

/* Run what was deferred now (for shutdown, after the loop stopped). */
void
loop_run_deferred(struct loop *l)
{
	run_deferred(l);
}

void
loop_set_before_sleep(struct loop *l, loop_defer_cb cb, void *arg)
{
	l->before_sleep = cb;
	l->before_sleep_arg = arg;
}

static void
on_signalfd(void *arg, uint32_t events)
{
	struct loop *l = arg;
	struct signalfd_siginfo si[16];
	ssize_t n;

	(void)events;
	while ((n = read(l->sigio.fd, si, sizeof(si))) > 0) {
		for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++)
			l->sigcb(l->sigarg, (int)si[i].ssi_signo);
	}
	/* EAGAIN: drained.  Anything else cannot be acted upon here. */
}

/*
 * Deliver `sigs` through a signalfd watched by this loop.  The signals are
 * blocked in the calling thread; threads created afterwards inherit the mask,
 * so call this before creating any.
 */
int
loop_signals(struct loop *l, const int *sigs, int nsigs, loop_signal_cb cb,
    void *arg, char *err)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	for (int i = 0; i < nsigs; i++)
		sigaddset(&set, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1) {
		snprintf(err, WEIR_ERRLEN, "sigprocmask: %s", strerror(errno));
		return -1;
	}
	if ((fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
		snprintf(err, WEIR_ERRLEN, "signalfd: %s", strerror(errno));
		return -1;
	}
	l->sigcb = cb;
	l->sigarg = arg;
	if (loop_io_add(l, &l->sigio, fd, LOOP_READ, on_signalfd, l) == -1) {
		snprintf(err, WEIR_ERRLEN, "epoll_ctl: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return 0;
}

/* --- the loop ------------------------------------------------------------ */

int
loop_run(struct loop *l)
{
	struct epoll_event ev[LOOP_MAX_EVENTS];

	l->stopped = false;
	while (!l->stopped) {
		int n, timeout = -1;

		if (l->before_sleep)
			l->before_sleep(l->before_sleep_arg);
		run_deferred(l);
		if (l->stopped)
			break;
		if (l->nheap > 0) {
			uint64_t now = loop_update_time(l);

			timeout = l->heap[0]->when <= now ? 0 :
			    (int)(l->heap[0]->when - now > 3600000 ? 3600000 :
			    l->heap[0]->when - now);
		}
		n = epoll_wait(l->epfd, ev, LOOP_MAX_EVENTS, timeout);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		loop_update_time(l);
		for (int i = 0; i < n; i++) {
			struct loop_io *io = ev[i].data.ptr;

			/* Deleted by an earlier callback of this batch. */
			if (io->fd == -1)
				continue;
			io->cb(io->arg, ev[i].events);
		}
		run_deferred(l);
		run_timers(l);
		run_deferred(l);
	}
	return 0;
}
