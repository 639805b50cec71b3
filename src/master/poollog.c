/*
 * poollog.c - a pool's output: the workers' stdout+stderr pipes, cut into
 * lines, into log_dir/pools/NAME.log, bounded in size and in the master's
 * time.
 *
 * The master is single-threaded and a worker may print without end (a debug
 * loop, a 100 MB line), so each step has a bound:
 *   - reading: at most POOLLOG_READ_MAX bytes from a pipe per wake-up; the
 *     loop is level-triggered and comes back for the rest after the other
 *     fds had their turn.  The pipe is always read, whatever happens to the
 *     bytes afterwards, so a worker never blocks on its output for ever.
 *   - lines: a line longer than POOLLOG_PIECE is written in pieces, each a
 *     record of its own; every piece after the first is marked with '+'
 *     after the pid ("TIME [PID]+ text"), so a reader can tell a cut line
 *     from two lines and join it again.  Nothing is cut off unmarked.
 *   - the file: records are gathered in a buffer and written in one write(2)
 *     per wake-up (and whenever the buffer fills).  Before a record would
 *     make the file larger than pool_log_max_size, NAME.log becomes
 *     NAME.log.1 (older ones shift up to pool_log_keep) and a new file is
 *     started, between records, so every file stays within the cap.
 *   - the disk: writing one pool's log may take POOLLOG_WRITE_MS of every
 *     second.  Output beyond that (a disk slower than the worker prints), or
 *     that a write refuses (disk full), is counted, not kept; the count goes
 *     into the log as a "[weir]" line as soon as a write succeeds again,
 *     into event 1313 (at most every POOLLOG_REPORT_MS, disk full or not),
 *     and into status and /metrics (log_dropped_bytes).
 * SIGUSR1 reopens the file (logrotate's convention), like the other logs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "master.h"

#define POOLLOG_BUF		(64 * 1024)	/* records gathered per write */
#define POOLLOG_READ_MAX	(256 * 1024)	/* bytes read from one pipe per wake-up */
#define POOLLOG_DRAIN_MAX	(1024 * 1024)	/* read from a dead worker's pipe at most */
#define POOLLOG_WRITE_MS	200		/* write time per second for one pool */
#define POOLLOG_REPORT_MS	10000		/* drops reported at most this often */

static void	report_cb(void *arg);

static void
open_file(struct pool *p)
{
	struct poollog *pl = &p->log;
	struct stat st;
	int fd;

	fd = open(pl->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		log_warn("pool %s: %s", p->name, pl->path);
		return;		/* keep writing to the old file, if any */
	}
	if (pl->fd != -1)
		close(pl->fd);
	pl->fd = fd;
	pl->size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Open log_dir/pools/NAME.log for a new pool (errors are logged; the pool runs). */
void
poollog_open(struct pool *p)
{
	struct poollog *pl = &p->log;

	pl->fd = -1;
	snprintf(pl->path, sizeof(pl->path), "%s/pools/%s.log",
	    p->m->conf->server.log_dir, p->name);
	pl->buf = xcalloc(1, POOLLOG_BUF);
	loop_timer_init(&pl->report_timer, report_cb, p);
	open_file(p);
}

/*
 * Bytes that could not be written: counted for the log's note (written
 * with the next write that works) and for event 1313, which a timer writes
 * at most every POOLLOG_REPORT_MS, whether or not the disk works again.
 */
static void
count_drop(struct pool *p, size_t n, const char *why)
{
	struct poollog *pl = &p->log;
	struct loop *l = p->m->loop;
	uint64_t now = loop_now(l), since = now - pl->reported;

	pl->dropped += n;
	pl->unnoted += n;
	pl->dropped_total += n;
	wstrlcpy(pl->drop_why, why, sizeof(pl->drop_why));
	if (pl->report_timer.idx == SIZE_MAX)	/* not armed yet */
		loop_timer_set(l, &pl->report_timer, pl->reported == 0 ||
		    since >= POOLLOG_REPORT_MS ? 0 : POOLLOG_REPORT_MS - since);
}

/*
 * Write the gathered records, or count them as dropped when the file is not
 * open, the write fails, or this second's write time is used up.  Returns
 * true when something was written and nothing failed.
 */
static bool
write_out(struct pool *p)
{
	struct poollog *pl = &p->log;
	uint64_t t0;
	size_t off = 0;
	bool ok = true;

	if (pl->len == 0)
		return true;
	t0 = mono_ns();
	if (t0 - pl->window_start >= 1000000000ULL) {
		pl->window_start = t0;
		pl->window_ns = 0;
	}
	if (pl->fd == -1) {
		count_drop(p, pl->len, "the log file could not be opened");
		pl->len = 0;
		return false;
	}
	if (pl->window_ns >= POOLLOG_WRITE_MS * 1000000ULL) {
		count_drop(p, pl->len, "the disk did not keep up");
		pl->len = 0;
		return false;
	}
	while (off < pl->len) {
		ssize_t w = write(pl->fd, pl->buf + off, pl->len - off);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1) {
			/* ENOSPC, EDQUOT, EIO: the worker must go on; count it */
			count_drop(p, pl->len - off, strerror(errno));
			ok = false;
			break;
		}
		off += (size_t)w;
		pl->size += (uint64_t)w;
	}
	pl->window_ns += mono_ns() - t0;
	pl->len = 0;
	return ok;
}

/* Rename NAME.log to NAME.log.1 (older ones up to .KEEP) and start anew. */
static void
next_file(struct pool *p)
{
	struct poollog *pl = &p->log;

	logfile_rotate(pl->path, p->m->conf->server.pool_log_keep);
	open_file(p);
	/* a file that could not be created: the renamed one is still open */
	pl->size = 0;
}

/* "TIME [who]+ " into out; returns its length. */
static size_t
prefix(char *out, size_t outsz, const char *who, bool cont)
{
	char ts[40];
	int n;

	time_iso8601(ts, sizeof(ts));
	n = snprintf(out, outsz, "%s [%s]%s ", ts, who, cont ? "+" : "");
	return n < 0 ? 0 : WEIR_MIN((size_t)n, outsz - 1);
}


/* The timer: event 1313 with what was dropped since the last one. */
static void
report_cb(void *arg)
{
	struct pool *p = arg;
	struct poollog *pl = &p->log;
	json_t *f;

	if (pl->dropped == 0)
		return;
	pl->reported = loop_now(p->m->loop);
	f = json_object();
	json_object_set_new(f, "dropped_bytes", json_integer((json_int_t)pl->dropped));
	json_object_set_new(f, "dropped_bytes_total", json_integer((json_int_t)pl->dropped_total));
	json_object_set_new(f, "reason", json_string(pl->drop_why));
	events_emit(1313, EV_WARNING, p->name, 0, f,
	    "%llu bytes of the output of application pool '%s' were not written to %s: %s.",
	    (unsigned long long)pl->dropped, p->name, pl->path, pl->drop_why);
	pl->dropped = 0;
}

/*
 * Write what is gathered.  When that works and output was dropped before,
 * a "[weir]" line says how much, where it was lost.
 */
void
poollog_flush(struct pool *p)
{
	struct poollog *pl = &p->log;
	char line[256];
	int n;

	if (!write_out(p) || pl->unnoted == 0)
		return;
	n = snprintf(line, sizeof(line), "%llu bytes of output dropped: %s",
	    (unsigned long long)pl->unnoted, pl->drop_why);
	pl->unnoted = 0;
	poollog_line(p, "weir", false, line, (size_t)WEIR_MIN((size_t)n, sizeof(line) - 1));
	/* should this write fail, its bytes are counted like any other */
	write_out(p);
}

/*
 * One record for the pool's log: who is the worker's pid, "fe" (the front
 * end) or "weir"; cont marks a piece that continues the line before it.
 * It is gathered and written at the next poollog_flush() (the end of this
 * wake-up); when it would make the file pass pool_log_max_size, the file
 * is rotated first.
 */
void
poollog_line(struct pool *p, const char *who, bool cont, const char *text, size_t n)
{
	struct poollog *pl = &p->log;
	const struct conf_server *s = &p->m->conf->server;
	char pre[96];
	size_t pn = prefix(pre, sizeof(pre), who, cont);
	size_t rec = pn + n + 1;

	if (rec > POOLLOG_BUF) {
		/* only a caller's error could do this: pieces are smaller */
		n = POOLLOG_BUF - pn - 1;
		rec = POOLLOG_BUF;
	}
	if (pl->len + rec > POOLLOG_BUF)
		write_out(p);
	if (pl->fd != -1 && pl->size + pl->len + rec > s->pool_log_max_size) {
		write_out(p);
		next_file(p);
	}
	memcpy(pl->buf + pl->len, pre, pn);
	memcpy(pl->buf + pl->len + pn, text, n);
	pl->buf[pl->len + pn + n] = '\n';
	pl->len += rec;
}

/* SIGUSR1: write what is gathered, then start on a new NAME.log. */
void
poollog_reopen(struct pool *p)
{
	write_out(p);
	open_file(p);
	poollog_flush(p);	/* notes drops the old file could not take */
}

void
poollog_close(struct pool *p)
{
	struct poollog *pl = &p->log;

	poollog_flush(p);
	loop_timer_cancel(p->m->loop, &pl->report_timer);
	if (pl->fd != -1)
		close(pl->fd);
	pl->fd = -1;
	free(pl->buf);
	pl->buf = NULL;
}

/* --- a worker's output --------------------------------------------------- */

/*
 * The worker's pending piece (w->partial) into the log: `end` when the line
 * ends with it.  The first piece of a line also goes into the tail (the
 * last lines events carry).
 */
static void
out_piece(struct worker *w, bool end)
{
	size_t n = w->npartial;
	char who[16];

	if (end)
		while (n > 0 && (w->partial[n - 1] == '\r' || w->partial[n - 1] == '\n'))
			n--;
	if (!w->line_cont)
		linering_add(&w->tail, w->partial, n);
	snprintf(who, sizeof(who), "%d", (int)w->pid);
	poollog_line(w->pool, who, w->line_cont, w->partial, n);
	w->line_cont = !end;
	w->npartial = 0;
}

/*
 * Cut bytes read from the pipe into lines.  A full piece is written only
 * when more of its line follows, so a line of exactly POOLLOG_PIECE bytes
 * is one record, not a record and an empty continuation.
 */
static void
take(struct worker *w, const char *p, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t k = nl != NULL ? (size_t)(nl - p) : n;

		while (k > 0) {
			size_t room = sizeof(w->partial) - w->npartial, c;

			if (room == 0) {
				out_piece(w, false);
				room = sizeof(w->partial);
			}
			c = WEIR_MIN(k, room);
			memcpy(w->partial + w->npartial, p, c);
			w->npartial += c;
			p += c;
			n -= c;
			k -= c;
		}
		if (nl != NULL) {
			out_piece(w, true);
			p++;
			n--;
		}
	}
}

/* Read up to max bytes; true when the pipe is at its end (every writer closed it). */
static bool
read_some(struct worker *w, size_t max)
{
	char buf[16384];
	size_t got = 0;
	ssize_t r;

	while (got < max) {
		r = read(w->out, buf, sizeof(buf));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == 0)
			return true;
		if (r < 0)
			break;		/* EAGAIN: the rest when the loop comes back */
		take(w, buf, (size_t)r);
		got += (size_t)r;
	}
	return false;
}

static void
out_close(struct worker *w)
{
	loop_io_del(w->pool->m->loop, &w->out_io);
	close(w->out);
	w->out = -1;
}

/* The loop's callback for a worker's output pipe. */
void
poollog_on_output(void *arg, uint32_t events)
{
	struct worker *w = arg;

	(void)events;
	if (read_some(w, POOLLOG_READ_MAX)) {
		if (w->npartial > 0 || w->line_cont)
			out_piece(w, true);
		out_close(w);
	}
	poollog_flush(w->pool);
}

/*
 * Read what is left in the pipe now (the worker has exited).  Bounded: a
 * process the worker left behind may still hold the pipe and write.
 */
void
worker_drain_output(struct worker *w)
{
	if (w->out != -1 && read_some(w, POOLLOG_DRAIN_MAX))
		out_close(w);
	if (w->npartial > 0 || w->line_cont)
		out_piece(w, true);
	poollog_flush(w->pool);
}
