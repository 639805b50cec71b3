/*
 * queue.c - application pools as the front end sees them: their state, their
 * ready workers, and the bounded queue of requests waiting for a worker
 * (the HTTP.sys request queue).
 *
 * Shared by all threads, guarded by one mutex per pool, held only for a few
 * pointer operations.  A request takes a slot on the least-busy ready worker
 * (at most max_conns per worker); when none is free it waits in the pool's
 * FIFO (at most queue_length, at most queue_timeout).  A freed slot or a new
 * worker goes to the head of the queue; the waiting request is then handed
 * to its own thread through that thread's ready list and eventfd, so every
 * connection is only ever touched by the thread that owns it.
 *
 * Thread 0 applies the master's messages (pool state, worker ready, drain,
 * gone) and reports counters and in-flight requests back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/un.h>

#include "log.h"
#include "util.h"
#include "frontend.h"

/*
 * Ask the master again after this while requests wait and no worker lives:
 * a demand sent with a generation the master has just left behind (a
 * reload crossing it) is dropped there, since a pool's index means
 * something only in its generation.
 */
#define DEMAND_REPEAT_MS	1000

static void	fail_queued_locked(struct fe_pool *p);

static struct fe_pool *
pool_create(struct frontend *fe, const char *name)
{
	struct fe_pool *p = xcalloc(1, sizeof(*p));

	pthread_mutex_init(&p->lock, NULL);
	wstrlcpy(p->name, name, sizeof(p->name));
	/* Until the master says otherwise, requests wait for workers. */
	p->state = POOL_STARTED;
	p->retry_after = 60;
	p->pc = xcalloc_aligned(fe->nthreads ? fe->nthreads : 1, sizeof(*p->pc), 64);
	return p;
}

struct fe_pool *
queue_pool_by_name(struct frontend *fe, const char *name)
{
	for (size_t i = 0; i < fe->npools; i++)
		if (strcmp(fe->pools[i]->name, name) == 0)
			return fe->pools[i];
	return NULL;
}

/*
 * Make the pool objects match configuration c (at start and on reload, on
 * thread 0): the same object for the same name, so queues and workers live
 * on; new names get new objects; pools no longer configured are retired
 * (their queued requests get 503) but kept, since requests may still hold
 * them.
 */
void
queue_apply_conf(struct frontend *fe, const struct conf *c)
{
	struct fe_pool **np = xcalloc(c->npools ? c->npools : 1, sizeof(*np));

	for (size_t i = 0; i < c->npools; i++) {
		const struct conf_pool *cp = &c->pools[i];
		struct fe_pool *p = queue_pool_by_name(fe, cp->name);

		if (p == NULL) {
			/* back from retirement? */
			for (struct fe_pool **rp = &fe->retired_pools; *rp != NULL;
			    rp = &(*rp)->next_retired) {
				if (strcmp((*rp)->name, cp->name) == 0) {
					p = *rp;
					*rp = p->next_retired;
					p->next_retired = NULL;
					pthread_mutex_lock(&p->lock);
					p->state = POOL_STARTED;
					pthread_mutex_unlock(&p->lock);
					break;
				}
			}
		}
		if (p == NULL)
			p = pool_create(fe, cp->name);
		pthread_mutex_lock(&p->lock);
		p->idx = (int)i;
		p->max_conns = cp->max_conns;
		p->queue_length = cp->queue_length;
		p->queue_timeout = cp->queue_timeout;
		p->response_timeout = cp->response_timeout;
		p->recycle_requests = cp->recycle_requests;
		p->fastcgi = cp->kind == POOL_KIND_FASTCGI;
		p->single_conn = p->fastcgi;
		p->buffering = cp->request_buffering;
		p->resp_buffer = cp->response_buffer;
		pthread_mutex_unlock(&p->lock);
		np[i] = p;
	}
	for (size_t i = 0; i < fe->npools; i++) {
		struct fe_pool *p = fe->pools[i];
		bool kept = false;

		for (size_t j = 0; j < c->npools && !kept; j++)
			kept = np[j] == p;
		if (kept)
			continue;
		pthread_mutex_lock(&p->lock);
		p->idx = -1;
		p->state = POOL_STOPPED;
		wstrlcpy(p->reason, "removed", sizeof(p->reason));
		fail_queued_locked(p);
		pthread_mutex_unlock(&p->lock);
		p->next_retired = fe->retired_pools;
		fe->retired_pools = p;
	}
	free(fe->pools);
	fe->pools = np;
	fe->npools = c->npools;
}

void
queue_init(struct frontend *fe)
{
	queue_apply_conf(fe, fe->st->conf);
}

static void
worker_free_locked(struct fe_worker *w)
{
	free(w->idle);
	free(w);
}

static void
pool_destroy(struct fe_pool *p)
{
	while (p->workers != NULL) {
		struct fe_worker *w = p->workers;

		p->workers = w->next;
		worker_free_locked(w);
	}
	pthread_mutex_destroy(&p->lock);
	free(p->pc);
	free(p);
}

void
queue_free(struct frontend *fe)
{
	for (size_t i = 0; i < fe->npools; i++)
		pool_destroy(fe->pools[i]);
	while (fe->retired_pools != NULL) {
		struct fe_pool *p = fe->retired_pools;

		fe->retired_pools = p->next_retired;
		pool_destroy(p);
	}
	free(fe->pools);
	fe->pools = NULL;
}

static struct frontend *
pool_fe(const struct fe_thread *t)
{
	return t->fe;
}

static void
send_ctl(struct frontend *fe, enum ctl_type type, const void *p, size_t len)
{
	/* sendmsg on a SEQPACKET socket is atomic: any thread may send. */
	if (ctl_send(fe->ctl, type, p, len, NULL, 0) == -1)
		log_warn("control channel: %s", ctl_type_name(type));
}

#define SUSPECT_MS	1000	/* see queue_worker_suspect() */

static bool
usable(const struct fe_worker *w)
{
	return !w->draining && !w->gone && !w->dead;
}

/*
 * The least busy worker that takes requests and has a free slot.  A request
 * that must run alone (`alone`: a retry after a worker failed it, see
 * poolreq.c) needs a worker with nothing in flight, and keeps it to itself;
 * a worker reserved for such a request takes no other.
 */
static struct fe_worker *
pick(struct fe_pool *p, const struct fe_worker *avoid, bool alone)
{
	struct fe_worker *best = NULL;
	uint64_t now = 0;

	for (struct fe_worker *w = p->workers; w != NULL; w = w->next) {
		if (avoid != NULL && w == avoid)
			continue;
		if (w->suspect_until != 0) {
			if (now == 0)
				now = mono_ms();
			if (now < w->suspect_until)
				continue;
			w->suspect_until = 0;
		}
		if (!usable(w) || w->inflight >= worker_slots(w) || w->alone ||
		    (alone ? w->inflight > 0 : w->reserved))
			continue;
		/* php-cgi exits after PHP_FCGI_MAX_REQUESTS: give it no more */
		if (p->fastcgi && p->recycle_requests != 0 &&
		    w->assigned >= p->recycle_requests)
			continue;
		if (best == NULL || w->inflight < best->inflight ||
		    (w->inflight == best->inflight && w->assigned < best->assigned))
			best = w;
	}
	return best;
}

static bool
has_live_worker(const struct fe_pool *p)
{
	for (const struct fe_worker *w = p->workers; w != NULL; w = w->next)
		if (usable(w))
			return true;
	return false;
}

/*
 * A request that must run alone waits: keep the least busy worker free for
 * it (no new requests), so that it drains, unless one is kept already (pool
 * lock held).  Requests that need not run alone go to the other workers
 * meanwhile, or wait.
 */
static void
reserve(struct fe_pool *p)
{
	struct fe_worker *best = NULL;
	uint64_t now = mono_ms();

	for (struct fe_worker *w = p->workers; w != NULL; w = w->next) {
		/* not one that just failed a request: it is likely dying */
		if (!usable(w) || w->alone || w->suspect_until > now)
			continue;
		if (w->reserved)
			return;
		if (best == NULL || w->inflight < best->inflight)
			best = w;
	}
	if (best != NULL)
		best->reserved = true;
}

/* No request waits to run alone any more: free the kept workers (lock held). */
static void
unreserve(struct fe_pool *p)
{
	for (struct fe_worker *w = p->workers; w != NULL; w = w->next)
		w->reserved = false;
}

/* Take a slot on w for pw (pool lock held). */
static void	wake_thread_msg(struct fe_thread *t, unsigned msg);

static void
take_slot(struct fe_worker *w, struct pwait *pw)
{
	/*
	 * Workers that serve a connection at a time (a php-cgi process, the
	 * children of a php-fpm): a connection kept idle holds one of them.
	 * If this request needs a new connection (its thread has no idle one)
	 * and the busy and idle ones already take every slot, the new one
	 * would wait behind an idle one: the threads holding idle connections
	 * must close them.
	 */
	if (w->pool->single_conn && w->idle[pw->t->idx].held == 0 &&
	    w->inflight + 1 + w->nidle > worker_slots(w) && !w->drop_idle) {
		struct frontend *fe = pw->t->fe;

		w->drop_idle = true;
		for (unsigned i = 0; i < fe->nthreads; i++)
			if (w->idle[i].held > 0)
				wake_thread_msg(&fe->threads[i], FE_MSG_WORKERS);
	}
	w->inflight++;
	w->assigned++;
	w->refs++;
	if (pw->alone) {
		w->alone = true;
		w->reserved = false;
	}
	pw->w = w;
	pw->aprev = NULL;
	pw->anext = w->active;
	if (w->active != NULL)
		w->active->aprev = pw;
	w->active = pw;
}

static void
wake_thread_msg(struct fe_thread *t, unsigned msg)
{
	uint64_t one = 1;

	atomic_fetch_or(&t->pending, msg);
	/* A full counter still wakes the thread. */
	(void)!write(t->wake_fd, &one, sizeof(one));
}

static void
wake_thread(struct fe_thread *t)
{
	wake_thread_msg(t, FE_MSG_READY);
}

/* Hand a request whose wait ended to its thread (pool lock held). */
static void
hand_over(struct pwait *pw)
{
	struct fe_thread *t = pw->t;

	pw->qstate = PW_READY;
	pthread_mutex_lock(&t->ready_lock);
	pw->rnext = t->ready_head;
	t->ready_head = pw;
	pthread_mutex_unlock(&t->ready_lock);
	/*
	 * A slot freed by a request of the same thread (the usual case when
	 * requests queue for a few workers): the thread runs it before it
	 * sleeps again (before_sleep()), no eventfd round trip.
	 */
	if (t == fe_self)
		atomic_store_explicit(&t->ready_local, true, memory_order_relaxed);
	else
		wake_thread(t);
}

static void
unqueue(struct fe_pool *p, struct pwait *pw)
{
	if (pw->qprev != NULL)
		pw->qprev->qnext = pw->qnext;
	else
		p->qhead = pw->qnext;
	if (pw->qnext != NULL)
		pw->qnext->qprev = pw->qprev;
	else
		p->qtail = pw->qprev;
	pw->qprev = pw->qnext = NULL;
	p->qlen--;
	if (pw->alone && --p->nalone == 0)
		unreserve(p);
}

/*
 * Give free slots to the longest-waiting requests (pool lock held).  Once
 * one finds no worker, those behind it find none either -- except requests
 * that run alone, which need an idle worker instead: they are looked for
 * further down the queue, and keep a worker for themselves (reserve()).
 */
static void
dispatch_queued(struct fe_pool *p)
{
	struct pwait *pw = p->qhead, *next;
	struct fe_worker *w;
	bool full = false;

	for (; pw != NULL && (!full || p->nalone > 0); pw = next) {
		next = pw->qnext;
		if (full && !pw->alone)
			continue;
		if ((w = pick(p, NULL, pw->alone)) == NULL) {
			if (pw->alone)
				reserve(p);
			else
				full = true;
			continue;
		}
		unqueue(p, pw);
		take_slot(w, pw);
		hand_over(pw);
	}
}

/* Fail every queued request with `status` (pool lock held). */
static void
fail_queued(struct fe_pool *p, int status, const char *token)
{
	while (p->qhead != NULL) {
		struct pwait *pw = p->qhead;

		unqueue(p, pw);
		pw->fail = status;
		pw->fail_token = token;
		pw->retry_after = p->retry_after;
		hand_over(pw);
	}
}

static const char *offline_token(const struct fe_pool *p);

/* A pool removed by a reload: its waiting requests get 503 (lock held). */
static void
fail_queued_locked(struct fe_pool *p)
{
	fail_queued(p, 503, offline_token(p));
}

static const char *
offline_token(const struct fe_pool *p)
{
	/* IIS: AppOffline when errors took it offline, Disabled by an admin. */
	return strcmp(p->reason, "admin") == 0 || p->state == POOL_STOPPED ?
	    "Disabled" : "AppOffline";
}

/*
 * Is a demand for workers due (p locked): requests wait, no worker lives,
 * and none was asked for lately.  It counts as sent.
 */
static bool
demand_due_locked(struct fe_pool *p, uint64_t now)
{
	if (p->qhead == NULL || has_live_worker(p) ||
	    (p->demand_sent && now - p->demand_at < DEMAND_REPEAT_MS))
		return false;
	p->demand_sent = true;
	p->demand_at = now;
	return true;
}

/* Ask the master to start p's workers, in the generation t serves. */
static void
send_demand(const struct fe_pool *p, struct fe_thread *t)
{
	struct ctl_pool_ref ref;

	ref.pool = p->idx;
	ref.generation = t->gen->generation;
	send_ctl(pool_fe(t), CTL_DEMAND_START, &ref, sizeof(ref));
}

/*
 * A request for pool p.  Returns 0 with pw->w set (a slot is taken),
 * WEIR_AGAIN when it waits in the queue (its thread hears back through
 * poolreq_assigned()), or 503 with pw->fail_token and pw->retry_after set.
 * `avoid` is a worker not to use (the one a retried request just lost).
 */
int
queue_acquire(struct fe_pool *p, struct pwait *pw, struct fe_thread *t,
    struct fe_worker *avoid)
{
	struct fe_worker *w;
	uint64_t now = loop_now(t->loop);
	bool demand;

	pw->t = t;
	pw->w = NULL;
	pw->fail = 0;
	pthread_mutex_lock(&p->lock);
	if (p->state == POOL_DISABLED || p->state == POOL_STOPPED ||
	    p->state == POOL_STOPPING) {
		pw->fail = 503;
		pw->fail_token = offline_token(p);
		pw->retry_after = p->retry_after;
		pthread_mutex_unlock(&p->lock);
		return 503;
	}
	if ((w = pick(p, avoid, pw->alone)) != NULL && p->qhead == NULL) {
		take_slot(w, pw);
		pw->qstate = PW_ACTIVE;
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	if (p->qlen >= p->queue_length) {
		pw->fail = 503;
		pw->fail_token = "QueueFull";
		pw->retry_after = 1;
		pthread_mutex_unlock(&p->lock);
		return 503;
	}
	pw->qstate = PW_QUEUED;
	pw->enq_ms = now;
	pw->qnext = NULL;
	pw->qprev = p->qtail;
	if (p->qtail != NULL)
		p->qtail->qnext = pw;
	else
		p->qhead = pw;
	p->qtail = pw;
	p->qlen++;
	if (pw->alone)
		p->nalone++;
	demand = demand_due_locked(p, now);
	/* A slot may be free after all (e.g. only `avoid` had one). */
	dispatch_queued(p);
	pthread_mutex_unlock(&p->lock);
	if (demand)
		send_demand(p, t);
	return WEIR_AGAIN;
}

/* Milliseconds until the first suspect worker of p may be used again, or 0. */
static uint64_t
suspect_left(const struct fe_pool *p, uint64_t now)
{
	uint64_t left = 0;

	for (const struct fe_worker *w = p->workers; w != NULL; w = w->next)
		if (w->suspect_until > now && (left == 0 || w->suspect_until - now < left))
			left = w->suspect_until - now;
	return left;
}

/*
 * How long a request just queued (or still queued) may wait before its
 * thread should look again: the rest of queue_timeout, or less when a
 * suspect worker comes back into use before that, or when the master is to
 * be asked again for workers (queue_waited()).
 */
uint64_t
queue_wait_ms(struct fe_pool *p, const struct pwait *pw)
{
	uint64_t now = mono_ms(), waited, left, sus;

	pthread_mutex_lock(&p->lock);
	waited = now > pw->enq_ms ? now - pw->enq_ms : 0;
	left = waited < p->queue_timeout ? p->queue_timeout - waited : 0;
	sus = suspect_left(p, now);
	if (!has_live_worker(p) && left > DEMAND_REPEAT_MS)
		left = DEMAND_REPEAT_MS;
	pthread_mutex_unlock(&p->lock);
	return sus != 0 && sus + 1 < left ? sus + 1 : left;
}

/*
 * A queued request's deadline came (thread of its conn).  Returns 1 when it
 * is queued no more (it has a worker, or is on its way to one), 0 to wait
 * more (queue_wait_ms()), -1 when queue_timeout has passed.
 */
int
queue_waited(struct fe_pool *p, struct pwait *pw)
{
	uint64_t now = mono_ms();
	bool demand = false;
	int rc;

	pthread_mutex_lock(&p->lock);
	if (pw->qstate == PW_QUEUED)
		dispatch_queued(p);	/* a suspect worker may be usable again */
	if (pw->qstate != PW_QUEUED)
		rc = 1;
	else if (now - pw->enq_ms >= p->queue_timeout)
		rc = -1;
	else {
		rc = 0;
		demand = demand_due_locked(p, now);
	}
	pthread_mutex_unlock(&p->lock);
	if (demand)
		send_demand(p, pw->t);
	return rc;
}

/* Drop a reference to a worker; free it once gone and unreferenced. */
static void
worker_put_locked(struct fe_pool *p, struct fe_worker *w)
{
	if (--w->refs > 0 || !w->gone)
		return;
	for (struct fe_worker **pp = &p->workers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	worker_free_locked(w);
}

/*
 * A connect to w was refused: its process is gone even if the master has
 * not said so yet.  No request is sent there any more.
 */
void
queue_worker_dead(struct fe_worker *w)
{
	pthread_mutex_lock(&w->pool->lock);
	w->dead = true;
	pthread_mutex_unlock(&w->pool->lock);
}

/* Take pw off w's list of requests in flight, if it is on it (lock held). */
static void
active_unlink(struct fe_worker *w, struct pwait *pw)
{
	if (pw->aprev != NULL)
		pw->aprev->anext = pw->anext;
	else if (w->active == pw)
		w->active = pw->anext;
	else
		return;		/* not on it (queue_worker_lost() took it off) */
	if (pw->anext != NULL)
		pw->anext->aprev = pw->aprev;
	pw->aprev = pw->anext = NULL;
}

/*
 * pw lost its worker (the connection failed): remember the request for the
 * master's event 1009, which asks once the worker is reaped.  It leaves the
 * worker's in-flight list at once, so that a report made before its slot is
 * given back does not list it twice.
 */
void
queue_worker_lost(struct fe_worker *w, struct pwait *pw)
{
	pthread_mutex_lock(&w->pool->lock);
	if (w->nlost < CTL_REPORT_MAX)
		poolreq_describe(pw, &w->lost[w->nlost], mono_ns());
	w->nlost++;
	active_unlink(w, pw);
	pthread_mutex_unlock(&w->pool->lock);
}

/*
 * A request just failed on w (its connection broke): it is probably dying
 * (its listening socket, which the master holds too, may still accept).
 * No new request goes there for SUSPECT_MS; the master's verdict (gone, or
 * nothing) arrives meanwhile.  A retry waiting in the queue is not handed
 * straight back to it, but once the time is up (queue_waited()) it may be:
 * a pool with one worker, or one upstream, must not stall.
 */
void
queue_worker_suspect(struct fe_worker *w)
{
	pthread_mutex_lock(&w->pool->lock);
	w->suspect_until = mono_ms() + SUSPECT_MS;
	pthread_mutex_unlock(&w->pool->lock);
}

void
queue_worker_put(struct fe_worker *w)
{
	struct fe_pool *p = w->pool;

	pthread_mutex_lock(&p->lock);
	worker_put_locked(p, w);
	pthread_mutex_unlock(&p->lock);
}

/*
 * Under p->lock: w's unreported requests as a CTL_STATS of its own, for
 * the master before it hears that w is drained (then stopped, and unknown
 * to the next periodic report, which skips it).
 */
static void
stats_one(struct fe_worker *w, struct ctl_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->n = 1;
	st->w[0].worker = w->id;
	st->w[0].requests = w->unreported;
	st->w[0].inflight = w->inflight;
	w->inflight_sent = w->inflight;	/* the master keeps it until told otherwise */
	w->unreported = 0;
}

/*
 * A request gives its slot back (`served`: it got a complete response).
 * The slot goes to the head of the queue; a draining worker with nothing
 * left in flight is reported to the master.
 */
void
queue_release(struct fe_pool *p, struct pwait *pw, bool served)
{
	struct fe_worker *w = pw->w;
	struct ctl_worker cw;
	struct ctl_stats st;
	bool drained = false, urgent = false;
	struct frontend *fe = pool_fe(pw->t);

	if (w == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	active_unlink(w, pw);
	if (pw->alone)
		w->alone = false;
	w->inflight--;
	if (served) {
		w->requests++;
		w->unreported++;
		p->stats_dirty = true;
		urgent = p->recycle_requests != 0 &&
		    w->requests == p->recycle_requests;
	}
	if (w->draining && !w->gone && w->inflight == 0 && !w->drained_sent) {
		w->drained_sent = true;
		drained = true;
		memset(&cw, 0, sizeof(cw));
		cw.pool = p->idx;
		cw.worker = w->id;
		cw.pid = w->pid;
	}
	/* a drained worker is stopped next: its count must reach the master first */
	if (urgent || (drained && w->unreported > 0)) {
		urgent = true;
		stats_one(w, &st);
	}
	pw->w = NULL;
	pw->qstate = PW_NONE;
	worker_put_locked(p, w);
	dispatch_queued(p);
	pthread_mutex_unlock(&p->lock);
	if (urgent)
		send_ctl(fe, CTL_STATS, &st, offsetof(struct ctl_stats, w) + sizeof(st.w[0]));
	if (drained)
		send_ctl(fe, CTL_WORKER_DRAINED, &cw, sizeof(cw));
}

/*
 * The owner gives up on a request (client gone, shutdown): out of the
 * queue, off its thread's ready list, slot released.
 */
void
queue_cancel(struct fe_pool *p, struct pwait *pw)
{
	struct fe_thread *t = pw->t;

	pthread_mutex_lock(&p->lock);
	if (pw->qstate == PW_QUEUED) {
		unqueue(p, pw);
		pw->qstate = PW_NONE;
	} else if (pw->qstate == PW_READY) {
		pthread_mutex_lock(&t->ready_lock);
		for (struct pwait **pp = &t->ready_head; *pp != NULL; pp = &(*pp)->rnext)
			if (*pp == pw) {
				*pp = pw->rnext;
				break;
			}
		pthread_mutex_unlock(&t->ready_lock);
		pw->qstate = pw->w != NULL ? PW_ACTIVE : PW_NONE;
	}
	pthread_mutex_unlock(&p->lock);
	if (pw->qstate == PW_ACTIVE)
		queue_release(p, pw, false);
}

/* Run the requests whose wait ended (FE_MSG_READY). */
void
queue_run_ready(struct fe_thread *t)
{
	struct pwait *list, *next;

	pthread_mutex_lock(&t->ready_lock);
	list = t->ready_head;
	t->ready_head = NULL;
	pthread_mutex_unlock(&t->ready_lock);
	/* The list is newest first; serve oldest first. */
	{
		struct pwait *rev = NULL;

		for (; list != NULL; list = next) {
			next = list->rnext;
			list->rnext = rev;
			rev = list;
		}
		list = rev;
	}
	for (; list != NULL; list = next) {
		next = list->rnext;
		list->rnext = NULL;
		poolreq_assigned(list);
	}
}

/* --- messages from the master (thread 0) ------------------------------------ */

static struct fe_worker *
find_worker(struct fe_pool *p, uint32_t id)
{
	for (struct fe_worker *w = p->workers; w != NULL; w = w->next)
		if (w->id == id && !w->gone)
			return w;
	return NULL;
}

static void
wake_all(struct frontend *fe, unsigned msg)
{
	uint64_t one = 1;

	for (unsigned i = 0; i < fe->nthreads; i++) {
		atomic_fetch_or(&fe->threads[i].pending, msg);
		(void)!write(fe->threads[i].wake_fd, &one, sizeof(one));
	}
}

static void
worker_ready(struct frontend *fe, struct fe_pool *p, const struct ctl_worker *cw)
{
	struct fe_worker *w;
	char err[WEIR_ERRLEN], spec[sizeof(cw->path) + 8];

	pthread_mutex_lock(&p->lock);
	if (find_worker(p, cw->worker) != NULL) {
		pthread_mutex_unlock(&p->lock);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->pool = p;
	w->id = cw->worker;
	w->pid = cw->pid;
	w->idle = xcalloc_aligned(fe->nthreads ? fe->nthreads : 1, sizeof(*w->idle), 64);
	if (cw->path[0] == '/')
		snprintf(spec, sizeof(spec), "unix:%.*s", (int)sizeof(cw->path), cw->path);
	else
		snprintf(spec, sizeof(spec), "%.*s", (int)sizeof(cw->path), cw->path);
	if (sockaddr_parse(spec, &w->addr, &w->addrlen, err) == -1) {
		pthread_mutex_unlock(&p->lock);
		log_warnx("pool %s: worker %u: %s", p->name, cw->worker, err);
		worker_free_locked(w);
		return;
	}
	w->next = p->workers;
	p->workers = w;
	p->demand_sent = false;
	dispatch_queued(p);
	pthread_mutex_unlock(&p->lock);
}

static void
worker_drain(struct frontend *fe, struct fe_pool *p, const struct ctl_worker *cw)
{
	struct fe_worker *w;
	struct ctl_worker out = *cw;
	struct ctl_stats st;
	bool drained = false, counts = false;

	pthread_mutex_lock(&p->lock);
	if ((w = find_worker(p, cw->worker)) != NULL && !w->draining) {
		w->draining = true;
		if (w->inflight == 0 && !w->drained_sent) {
			w->drained_sent = true;
			drained = true;
			if (w->unreported > 0) {
				counts = true;
				stats_one(w, &st);
			}
		}
	} else if (w == NULL) {
		drained = true;	/* never knew it (still starting): nothing in flight */
	}
	pthread_mutex_unlock(&p->lock);
	if (counts)
		send_ctl(fe, CTL_STATS, &st, offsetof(struct ctl_stats, w) + sizeof(st.w[0]));
	if (drained)
		send_ctl(fe, CTL_WORKER_DRAINED, &out, sizeof(out));
	wake_all(fe, FE_MSG_WORKERS);
}

/*
 * The worker exited.  Report what it had in flight (for event 1009); its
 * requests notice by themselves (the upstream connection fails) and are
 * retried or answered 502.
 */
static void
worker_gone(struct frontend *fe, struct fe_pool *p, const struct ctl_worker *cw)
{
	struct ctl_worker_report rep;
	struct fe_worker *w;
	uint64_t now = mono_ns();

	memset(&rep, 0, sizeof(rep));
	rep.pool = cw->pool;
	rep.generation = cw->generation;
	rep.worker = cw->worker;
	pthread_mutex_lock(&p->lock);
	if ((w = find_worker(p, cw->worker)) != NULL) {
		rep.requests = w->requests;
		/* requests that already noticed (and went elsewhere or got 502) */
		for (uint32_t i = 0; i < w->nlost && i < CTL_REPORT_MAX; i++)
			rep.inflight[rep.ninflight++] = w->lost[i];
		rep.ninflight = w->nlost;
		for (struct pwait *pw = w->active; pw != NULL; pw = pw->anext) {
			if (rep.ninflight < CTL_REPORT_MAX)
				poolreq_describe(pw, &rep.inflight[rep.ninflight], now);
			rep.ninflight++;
		}
		w->gone = true;
		w->draining = true;
		if (w->refs == 0) {
			w->refs = 1;
			worker_put_locked(p, w);
		}
	}
	pthread_mutex_unlock(&p->lock);
	send_ctl(fe, CTL_WORKER_REPORT, &rep, sizeof(rep));
	wake_all(fe, FE_MSG_WORKERS);
}

static void
pool_state(struct fe_pool *p, const struct ctl_pool_state *ps)
{
	pthread_mutex_lock(&p->lock);
	p->state = ps->state;
	p->retry_after = ps->retry_after_s ? ps->retry_after_s : 60;
	memcpy(p->reason, ps->reason, sizeof(p->reason));
	p->reason[sizeof(p->reason) - 1] = '\0';
	if (p->state == POOL_DISABLED || p->state == POOL_STOPPED ||
	    p->state == POOL_STOPPING) {
		fail_queued(p, 503, offline_token(p));
		p->demand_sent = false;
	}
	pthread_mutex_unlock(&p->lock);
}

void
queue_ctl(struct frontend *fe, const struct ctl_hdr *hdr, const void *payload)
{
	const struct ctl_pool_state *ps = payload;
	const struct ctl_worker *cw = payload;
	int idx = hdr->type == CTL_POOL_STATE ? ps->pool : cw->pool;
	struct fe_pool *p;

	if (idx >= 0 && (size_t)idx < fe->npools) {
		p = fe->pools[idx];
	} else if (hdr->type == CTL_WORKER_DRAIN || hdr->type == CTL_WORKER_GONE) {
		/* a worker of a pool a reload removed: find it by its id */
		p = NULL;
		for (struct fe_pool *r = fe->retired_pools; r != NULL && p == NULL;
		    r = r->next_retired) {
			pthread_mutex_lock(&r->lock);
			if (find_worker(r, cw->worker) != NULL)
				p = r;
			pthread_mutex_unlock(&r->lock);
		}
		if (p == NULL) {
			if (hdr->type == CTL_WORKER_DRAIN) {
				struct ctl_worker out = *cw;

				send_ctl(fe, CTL_WORKER_DRAINED, &out, sizeof(out));
			}
			return;
		}
	} else {
		log_warnx("master: %s for unknown pool %d", ctl_type_name((enum ctl_type)hdr->type), idx);
		return;
	}
	switch (hdr->type) {
	case CTL_POOL_STATE:
		pool_state(p, ps);
		break;
	case CTL_WORKER_READY:
		worker_ready(fe, p, cw);
		break;
	case CTL_WORKER_DRAIN:
		worker_drain(fe, p, cw);
		break;
	case CTL_WORKER_GONE:
		worker_gone(fe, p, cw);
		break;
	default:
		break;
	}
}

/* Counters for the master: served, in flight, queued, per worker. */
void
queue_send_stats(struct frontend *fe)
{
	struct ctl_stats st;

	memset(&st, 0, sizeof(st));
	for (size_t i = 0; i < fe->npools; i++) {
		struct fe_pool *p = fe->pools[i];

		pthread_mutex_lock(&p->lock);
		for (struct fe_worker *w = p->workers; w != NULL; w = w->next) {
			/* a worker whose last request was aborted must say it is idle again */
			if (w->gone || (w->unreported == 0 && w->inflight == 0 &&
			    w->inflight_sent == 0 && p->qlen == 0))
				continue;
			if (st.n == nitems(st.w)) {
				send_ctl(fe, CTL_STATS, &st, offsetof(struct ctl_stats, w) +
				    st.n * sizeof(st.w[0]));
				st.n = 0;
			}
			st.w[st.n].worker = w->id;
			st.w[st.n].requests = w->unreported;
			st.w[st.n].inflight = w->inflight;
			w->inflight_sent = w->inflight;
			st.w[st.n].queued = p->qlen;
			w->unreported = 0;
			st.n++;
		}
		pthread_mutex_unlock(&p->lock);
	}
	if (st.n > 0)
		send_ctl(fe, CTL_STATS, &st, offsetof(struct ctl_stats, w) +
		    st.n * sizeof(st.w[0]));
}
