/*
 * loop.h - a small epoll event loop: fds, timers, signals, deferred work.
 *
 * One loop per thread; nothing here is shared between threads.  Owners embed
 * struct loop_io and struct loop_timer in their own objects, so adding an fd
 * or arming a timer never allocates.  Time is monotonic milliseconds, read
 * once per wake-up (loop_now()).  Signals arrive through signalfd as ordinary
 * callbacks.  An object must not be freed while an event for it may still be
 * dispatched in the current batch: free it with loop_defer().
 */
#ifndef WEIR_LOOP_H
#define WEIR_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/epoll.h>

#define LOOP_READ	EPOLLIN
#define LOOP_WRITE	EPOLLOUT

struct loop;

/* Called with the owner's arg and the epoll events (EPOLLERR/HUP included). */
typedef void (*loop_io_cb)(void *arg, uint32_t events);
typedef void (*loop_timer_cb)(void *arg);
typedef void (*loop_signal_cb)(void *arg, int signo);
typedef void (*loop_defer_cb)(void *arg);

struct loop_io {
	int		 fd;		/* -1 when not registered */
	uint32_t	 events;	/* LOOP_READ|LOOP_WRITE currently asked for */
	loop_io_cb	 cb;
	void		*arg;
};

struct loop_timer {
	uint64_t	 when;		/* monotonic ms at which it fires */
	size_t		 idx;		/* position in the heap, SIZE_MAX if not armed */
	loop_timer_cb	 cb;
	void		*arg;
};

struct loop	*loop_new(char *err);
void		 loop_free(struct loop *l);
int		 loop_run(struct loop *l);
void		 loop_stop(struct loop *l);
uint64_t	 loop_now(const struct loop *l);
uint64_t	 loop_now_ns(const struct loop *l);
uint64_t	 loop_update_time(struct loop *l);

int		 loop_io_add(struct loop *l, struct loop_io *io, int fd,
		    uint32_t events, loop_io_cb cb, void *arg);
int		 loop_io_mod(struct loop *l, struct loop_io *io, uint32_t events);
void		 loop_io_del(struct loop *l, struct loop_io *io);

void		 loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *arg);
void		 loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t ms);
void		 loop_timer_cancel(struct loop *l, struct loop_timer *t);
static inline bool
loop_timer_armed(const struct loop_timer *t)
{
	return t->idx != SIZE_MAX;
}

int		 loop_signals(struct loop *l, const int *sigs, int nsigs,
		    loop_signal_cb cb, void *arg, char *err);
int		 loop_defer(struct loop *l, loop_defer_cb cb, void *arg);
void		 loop_run_deferred(struct loop *l);
void		 loop_set_before_sleep(struct loop *l, loop_defer_cb cb, void *arg);

/* Monotonic clock in ms and in ns, outside any loop. */
uint64_t	 mono_ms(void);
uint64_t	 mono_ns(void);

#endif
