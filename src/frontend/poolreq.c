/*
 * poolreq.c - the life of a pool request, whatever the protocol spoken to
 * the worker (proxy.c: HTTP/1.1; fastcgi.c: FastCGI).
 *
 * The client connection belongs to the front end, never to a worker.  A
 * request waits in its pool's bounded queue (queue.c) for a worker slot,
 * gets an upstream connection (upstream.c) and hands over to its protocol
 * through the callbacks in struct poolreq_ops.  When the worker fails it,
 * the rules here decide what the client sees: a request the worker never
 * took goes to another worker; one it may have processed is retried once if
 * it is idempotent and its body can be sent again; anything else is a 502,
 * and once a byte of the response reached the client the connection is
 * closed, since the response cannot be completed.  Waiting too long in the
 * queue is a 503, a worker too slow to answer a 504.
 *
 * The one retry runs alone on its worker (queue.c keeps one free for it):
 * when a worker dies, every request it had in flight is a suspect, and only
 * a retry that has the worker to itself tells the guilty from the
 * bystanders.  A retry that fails too is a poison request: 502
 * (Poison_Request), never a third worker, and event 1016 (poison.c in the
 * master) names it; the bystanders' retries, each alone, succeed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"
#include "frontend.h"

#define MAX_ATTEMPTS	8	/* workers tried for one request */

static void	pr_start(struct poolreq *pr);
static void	pr_retry(struct poolreq *pr, struct fe_worker *lost, bool counts);
static void	poisoned(struct poolreq *pr, const struct fe_worker *lost);

/* RFC 9110 §9.2.2, and the WebDAV methods that are safe. */
static bool
idempotent(enum http_method m)
{
	switch (m) {
	case HTTP_M_GET:
	case HTTP_M_HEAD:
	case HTTP_M_OPTIONS:
	case HTTP_M_TRACE:
	case HTTP_M_PUT:
	case HTTP_M_DELETE:
	case HTTP_M_PROPFIND:
	case HTTP_M_SEARCH:
	case HTTP_M_REPORT:
		return true;
	default:
		return false;
	}
}

void
poolreq_init(struct poolreq *pr, const struct poolreq_ops *ops, struct conn *c,
    struct req *r, struct fe_pool *pool)
{
	size_t n;

	pr->ops = ops;
	pr->c = c;
	pr->r = r;
	pr->t = c->t;
	pr->pool = pool;
	pr->start_ns = r->start_ns;
	pr->phase = PR_WAIT;
	pr->idempotent = idempotent(r->h.method);
	pr->q.alone = false;
	pr->first_worker = 0;
	pr->first_pid = 0;
	r->queue = pool->name;
	r->poolp = pool;
	wstrlcpy(pr->method, httpparse_method_name(r->h.method), sizeof(pr->method));
	n = WEIR_MIN(r->h.target.n, sizeof(pr->target) - 1);
	memcpy(pr->target, r->h.target.p, n);
	pr->target[n] = '\0';
}

/* 0 in the config means no limit: a day stands in for "forever". */
uint64_t
poolreq_response_timeout(const struct poolreq *pr)
{
	uint64_t t = pr->pool->response_timeout;	/* plain read: changes only on reload */

	return t != 0 ? t : 24ULL * 3600 * 1000;
}

static void
drop_up(struct poolreq *pr, bool reuse)
{
	struct upconn *up = pr->up;

	if (up == NULL)
		return;
	pr->up = NULL;
	upstream_put(up, reuse);
}

static void
up_event(void *arg, uint32_t events)
{
	struct upconn *up = arg;
	struct poolreq *pr = up->owner;

	pr->up_events = events;
	pr->ops->pump(pr);
	/* pr may be gone: nothing after the pump */
}

/* Ask the queue for a worker slot, avoiding `avoid` when there is a choice. */
static void
acquire(struct poolreq *pr, struct fe_worker *avoid)
{
	int rc;

	pr->phase = PR_WAIT;
	rc = queue_acquire(pr->pool, &pr->q, pr->t, avoid);
	if (rc == 0) {
		pr_start(pr);
		return;
	}
	if (rc == WEIR_AGAIN) {
		conn_set_deadline(pr->c, queue_wait_ms(pr->pool, &pr->q));
		pr->ops->events(pr);
		return;
	}
	poolreq_fail(pr, rc, pr->q.fail_token, pr->q.retry_after);
}

void
poolreq_enqueue(struct poolreq *pr)
{
	acquire(pr, NULL);
}

/*
 * A connection to the worker whose slot pr holds: a kept-alive one or a new
 * one.  Returns 0, or -1 when the request went elsewhere or failed.
 */
static int
connect_up(struct poolreq *pr)
{
	struct fe_worker *w = pr->q.w;

	if ((pr->up = upstream_get(pr->t, w, up_event, pr)) != NULL)
		return 0;
	/*
	 * Refused or no socket file: the worker is gone and nothing was
	 * delivered, so any request may go elsewhere (not "the" retry).
	 */
	if (errno == ECONNREFUSED || errno == ENOENT) {
		queue_worker_dead(w);
		pr_retry(pr, w, false);
		return -1;
	}
	poolreq_failed(pr, "cannot connect to the worker", UF_UNDELIVERED);
	return -1;
}

/*
 * The kept-alive connection the request was being sent on had been closed
 * by the worker (upstream_stale()): nothing was delivered and the worker is
 * fine, so the request just takes another connection to it -- no retry is
 * counted and the worker is not suspected.  Returns 0, or -1 as
 * connect_up().
 */
int
poolreq_reconnect(struct poolreq *pr)
{
	log_debug("pool %s: worker %u: a kept-alive connection was closed by the worker; "
	    "taking another", pr->pool->name, pr->q.w->id);
	drop_up(pr, false);
	return connect_up(pr);
}

/* A worker slot is ours: connect (or reuse a connection) and start. */
static void
pr_start(struct poolreq *pr)
{
	struct conn *c = pr->c;

	if (pr->attempts == 0 && !pr->retried)
		stats_hist(&pr->pool->pc[pr->t->idx].wait, (mono_ns() - pr->start_ns) / 1000);
	pr->q.qstate = PW_ACTIVE;
	if (connect_up(pr) == -1)
		return;
	pr->phase = PR_SEND;
	/* The client may send the body now (RFC 9110 §10.1.1). */
	if (pr->want_continue && !pr->body_started && c->ipos == c->ilen) {
		pr->want_continue = false;
		http1_send_continue(c);
	}
	conn_set_deadline(c, poolreq_response_timeout(pr));
	/* A body that streams to the worker (request_buffering = off) is the client's to keep up */
	if (pr->ops->body(pr) != PRB_TAKEN) {
		rate_begin(c, RATE_IN);
		rate_arm(c);
	}
	if (pr->ops->start != NULL)
		pr->ops->start(pr);
	pr->ops->pump(pr);
}

/* The queue answered: a slot on a worker, or a failure (thread of the conn). */
void
poolreq_assigned(struct pwait *pw)
{
	struct poolreq *pr = (struct poolreq *)pw;

	if (pw->fail != 0) {
		pw->qstate = PW_NONE;
		poolreq_fail(pr, pw->fail, pw->fail_token, pw->retry_after);
		return;
	}
	pr_start(pr);
}

/* The request as the master's in-flight report lists it (queue.c). */
void
poolreq_describe(const struct pwait *pw, struct ctl_inflight *f, uint64_t now_ns)
{
	const struct poolreq *pr = (const struct poolreq *)pw;

	memset(f, 0, sizeof(*f));
	wstrlcpy(f->method, pr->method, sizeof(f->method));
	wstrlcpy(f->target, pr->target, sizeof(f->target));
	f->ms = (uint32_t)((now_ns - pr->start_ns) / 1000000);
	/* the retry runs alone: a worker dying under it is its second */
	f->retry = pw->alone;
}

/*
 * What HTTP/1 must do with the client's body once the request leaves the
 * pool: nothing, drop it, or close the connection after the answer.  A
 * worker may answer before it has read the whole body (a FastCGI script
 * that never reads its input): the rest must not be taken for the next
 * request on the connection.
 */
static void
settle_body(struct poolreq *pr)
{
	switch (pr->ops->body(pr)) {
	case PRB_TAKEN:
		pr->r->body_taken = true;
		break;
	case PRB_UNREAD:
		pr->r->body_taken = false;	/* HTTP/1 reads and drops it */
		break;
	case PRB_PARTIAL:
		pr->r->body_taken = true;
		pr->c->flags |= CF_CLOSE | CF_LINGER;
		break;
	}
}

/*
 * The worker has sent the whole response, which waits in the front end for
 * a slow client (proxy.c's response buffer): the worker and its connection
 * go back now, the request goes on until the client has it all.
 */
void
poolreq_release_worker(struct poolreq *pr, bool reuse)
{
	if (pr->released)
		return;
	stats_hist(&pr->pool->pc[pr->t->idx].upstream, (mono_ns() - pr->start_ns) / 1000);
	drop_up(pr, reuse);
	queue_release(pr->pool, &pr->q, true);
	pr->released = true;
}

/* The response is complete: give everything back and let HTTP/1 go on. */
void
poolreq_done(struct poolreq *pr, bool reuse)
{
	struct conn *c = pr->c;

	settle_body(pr);
	poolreq_release_worker(pr, reuse);
	c->pr = NULL;
	pr->ops->free(pr);
	http1_request_done(c);
}

/*
 * Answer the client ourselves (503 from the queue, 502/504 from a failed
 * worker) when nothing of a response has reached it yet.
 */
void
poolreq_fail(struct poolreq *pr, int status, const char *token, uint32_t retry)
{
	struct conn *c = pr->c;
	struct req *r = pr->r;

	log_debug("pool %s: %s %s: answering %d (%s) after %u failed attempt(s)",
	    pr->pool->name, pr->method, pr->target, status, token, pr->attempts);
	drop_up(pr, false);
	if (pr->q.qstate != PW_NONE)
		queue_cancel(pr->pool, &pr->q);
	r->retry_after = retry;
	settle_body(pr);
	c->pr = NULL;
	pr->ops->free(pr);
	http1_handler_error(c, status, token);
}

/*
 * The request leaves its pool without the worker's answer being sent (a
 * FastCGI local redirect to a static file): the caller takes the connection.
 */
struct conn *
poolreq_leave(struct poolreq *pr, bool reuse)
{
	struct conn *c = pr->c;

	settle_body(pr);
	drop_up(pr, reuse);
	queue_release(pr->pool, &pr->q, true);
	c->pr = NULL;
	pr->ops->free(pr);
	return c;
}

/*
 * Run the request again from the start on the pool's next free worker (a
 * FastCGI local redirect to another script).  Not a retry: nothing failed.
 */
void
poolreq_restart(struct poolreq *pr, bool reuse)
{
	drop_up(pr, reuse);
	queue_release(pr->pool, &pr->q, true);
	if (pr->ops->rewind(pr) == -1) {
		poolreq_fail(pr, 500, "Internal", 0);
		return;
	}
	acquire(pr, NULL);
}

/* The client went away, or the connection is being closed. */
void
poolreq_abort(struct conn *c)
{
	struct poolreq *pr = c->pr;

	if (pr == NULL)
		return;
	c->pr = NULL;
	if (pr->up != NULL && pr->ops->abort != NULL)
		pr->ops->abort(pr);
	drop_up(pr, false);
	if (pr->q.qstate != PW_NONE)
		queue_cancel(pr->pool, &pr->q);
	pr->ops->free(pr);
}

/*
 * The worker failed us (connection refused, reset, closed early, garbage).
 * A malformed response is also reported to the master as a protocol
 * violation (a failure, event 1011).
 */
void
poolreq_failed(struct poolreq *pr, const char *why, enum upfail how)
{
	struct fe_worker *lost = pr->q.w;
	bool replay;

	log_debug("pool %s: worker %u: %s", pr->pool->name, lost ? lost->id : 0, why);
	if (lost != NULL)
		queue_worker_lost(lost, &pr->q);
	if (how == UF_PROTOCOL && lost != NULL) {
		struct ctl_worker_fault f;

		memset(&f, 0, sizeof(f));
		f.pool = pr->pool->idx;
		f.worker = lost->id;
		snprintf(f.what, sizeof(f.what), "%s", why);
		if (ctl_send(pr->t->fe->ctl, CTL_WORKER_FAULT, &f, sizeof(f), NULL, 0) == -1)
			log_warn("control channel");
	}
	if (pr->client_sent) {
		/* Part of the response is out: it cannot be completed. */
		pr->r->reason = "Connection_Abandoned_By_AppPool";	/* for the log */
		conn_close(pr->c);
		return;
	}
	drop_up(pr, false);
	replay = pr->ops->replayable(pr);
	/* Never taken by the worker: any request whose body is intact may go on. */
	if (how == UF_UNDELIVERED && replay) {
		pr_retry(pr, lost, true);
		return;
	}
	if (how == UF_DELIVERED && replay && pr->idempotent && !pr->retried) {
		pr->retried = true;
		/*
		 * A worker weir started: the retry runs alone (see the top).
		 * An upstream weir does not start (pid 0) is one process for
		 * the whole pool; its retry just goes on.
		 */
		if (lost != NULL && lost->pid != 0) {
			pr->q.alone = true;
			pr->first_worker = lost->id;
			pr->first_pid = lost->pid;
		}
		pr_retry(pr, lost, true);
		return;
	}
	if (how == UF_DELIVERED && pr->q.alone && lost != NULL) {
		poisoned(pr, lost);
		return;
	}
	poolreq_fail(pr, 502, "Connection_Abandoned_By_AppPool", 0);
}

/*
 * The retry, alone on its worker, failed too: the request itself is what
 * kills workers.  The master writes event 1016; the client gets 502.
 */
static void
poisoned(struct poolreq *pr, const struct fe_worker *lost)
{
	struct ctl_poison pz;

	memset(&pz, 0, sizeof(pz));
	wstrlcpy(pz.pool, pr->pool->name, sizeof(pz.pool));
	pz.worker[0] = pr->first_worker;
	pz.pid[0] = pr->first_pid;
	pz.worker[1] = lost->id;
	pz.pid[1] = lost->pid;
	wstrlcpy(pz.method, pr->method, sizeof(pz.method));
	wstrlcpy(pz.target, pr->target, sizeof(pz.target));
	stat_add(&pr->pool->pc[pr->t->idx].poison, 1);
	if (ctl_send(pr->t->fe->ctl, CTL_POISON_REQUEST, &pz, sizeof(pz), NULL, 0) == -1)
		log_warn("control channel: POISON_REQUEST");
	poolreq_fail(pr, 502, "Poison_Request", 0);
}

/*
 * Try another worker: give the slot back and ask the queue again, avoiding
 * the one that just failed (a refused connect marks it dead, so this cannot
 * loop; MAX_ATTEMPTS bounds the rest).
 */
static void
pr_retry(struct poolreq *pr, struct fe_worker *lost, bool counts)
{
	stat_add(&pr->pool->pc[pr->t->idx].retries, 1);
	if (counts && ++pr->attempts >= MAX_ATTEMPTS) {
		poolreq_fail(pr, 502, "Connection_Abandoned_By_AppPool", 0);
		return;
	}
	if (lost != NULL && counts)
		queue_worker_suspect(lost);
	queue_release(pr->pool, &pr->q, false);
	if (pr->ops->rewind(pr) == -1) {
		poolreq_fail(pr, 500, "Internal", 0);
		return;
	}
	acquire(pr, lost);
}

/* --- the client's side while the request runs ------------------------------------- */

/*
 * Write response bytes to the client: after the answers to earlier
 * pipelined requests still queued on the connection (http1_send_queued()),
 * which count as a full socket (EAGAIN) until they are all out.  What
 * cio_writev() returns.
 */
ssize_t
poolreq_client_writev(struct poolreq *pr, const struct iovec *iov, int n)
{
	switch (http1_send_queued(pr->c)) {
	case 1:
		return cio_writev(pr->c, iov, n);
	case 0:
		errno = EAGAIN;
		return -1;
	default:
		return -1;
	}
}

/*
 * Response output to the client, whatever the protocol: w bytes went out;
 * the client's socket is full (send_timeout and min_response_rate run);
 * everything queued is out (the rate no longer runs: waiting for the
 * worker is not the client's fault).
 */
void
poolreq_client_wrote(struct poolreq *pr, size_t w)
{
	pr->client_sent = true;
	pr->client_blocked = false;
	pr->r->bytes += (uint64_t)w;
	rate_add(pr->c, (uint64_t)w);
}

void
poolreq_client_blocked(struct poolreq *pr)
{
	pr->client_blocked = true;
	conn_set_deadline(pr->c, pr->c->gen->conf->server.send_timeout);
	rate_begin(pr->c, RATE_OUT);
	rate_arm(pr->c);
}

void
poolreq_client_flushed(struct poolreq *pr)
{
	pr->client_blocked = false;
	if (pr->c->rate_dir == RATE_OUT)
		rate_end(pr->c);
}

/*
 * Take what the client sent into the connection's input buffer.  Returns 1,
 * 0 when the buffer is full (the handler has not used what is there yet),
 * -1 when the client closed or failed.
 */
static int
client_read(struct conn *c)
{
	ssize_t n;

	if (c->ipos == c->ilen)
		c->ipos = c->ilen = 0;
	if (c->ibuf == NULL) {
		if ((c->ibuf = block_get(c->t)) == NULL)
			return -1;
		c->icap = FE_BLOCK;
	}
	if (c->ilen == c->icap)
		return 0;
	n = cio_read(c, c->ibuf + c->ilen, c->icap - c->ilen);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (n > 0) {
		c->ilen += (uint32_t)n;
		rate_add(c, (uint64_t)n);
		conn_set_deadline(c, c->gen->conf->server.body_timeout);
	}
	return 1;
}

/*
 * The client closed or failed.  If it left in the middle of sending its
 * body (a truncated upload), the request gets its one access-log line (400)
 * and a Connection_Dropped line in httperr.log; with the body buffered, the
 * application never saw any of it.
 */
static void
client_gone(struct conn *c)
{
	struct poolreq *pr = c->pr;

	if (pr->phase == PR_SPOOL || (!pr->client_sent && pr->ops->body(pr) != PRB_TAKEN)) {
		http1_drop(c, 400, FE_CLOSE_DROPPED);
		return;
	}
	conn_close(c);
}

/*
 * An event on the client's socket while its request is in the pool.  A
 * protocol may leave EPOLLIN on when it does not need input (proxy.c does,
 * to spare an epoll_ctl per request); input that then comes and cannot be
 * taken -- the next pipelined request, or EOF -- sets CF_NOREAD, and the
 * protocol's events() turns EPOLLIN off (EPOLLRDHUP still reports a close)
 * until it asks for input again or the request ends.
 */
/*
 * The client's read interest while pr runs (the protocol adds LOOP_WRITE).
 * Input is asked for while body bytes are wanted and there is room for
 * them, and refused (EPOLLRDHUP only, which still reports a close) while
 * they cannot be taken.  Otherwise the socket keeps LOOP_READ, which it has
 * between requests anyway, so a request costs no epoll_ctl; if input comes
 * then (the next pipelined request, or EOF), poolreq_client_event() sets
 * CF_NOREAD and it is refused until the request ends.
 */
uint32_t
poolreq_client_read(const struct poolreq *pr, bool body, bool room)
{
	if (body && room)
		return LOOP_READ;
	if (body || (pr->c->flags & CF_NOREAD))
		return EPOLLRDHUP;
	return LOOP_READ;
}

void
poolreq_client_event(struct conn *c, uint32_t events)
{
	struct poolreq *pr = c->pr;
	bool reading = pr->phase == PR_SPOOL || pr->phase == PR_SEND || pr->body_open;

	/*
	 * The client is gone, or half-closed: nobody to answer.  A half-close
	 * with data still to read is only noticed once the body is in.
	 */
	if ((events & (EPOLLHUP | EPOLLERR)) ||
	    ((events & EPOLLRDHUP) && (!(events & EPOLLIN) || !reading))) {
		client_gone(c);
		return;
	}
	if (events & EPOLLIN) {
		int r = reading ? client_read(c) : 0;

		if (r == -1) {
			client_gone(c);
			return;
		}
		if (r == 0)
			c->flags |= CF_NOREAD;
	}
	if (pr->phase == PR_WAIT)
		pr->ops->events(pr);
	else
		pr->ops->pump(pr);
}

void
poolreq_client_timeout(struct conn *c)
{
	struct poolreq *pr = c->pr;

	switch (pr->phase) {
	case PR_SPOOL:
		/* nothing was sent yet: the client gets its 408 */
		http1_client_fault(c, 408, "Timer_EntityBody", "request body stalled");
		return;
	case PR_WAIT:
		switch (queue_waited(pr->pool, &pr->q)) {
		case -1:
			poolreq_fail(pr, 503, "AppPoolTimer", pr->pool->retry_after);
			return;
		case 0:
			conn_set_deadline(c, queue_wait_ms(pr->pool, &pr->q));
			return;
		default:
			/* it was given a worker meanwhile: its thread runs it soon */
			conn_set_deadline(c, 1000);
			return;
		}
	default:
		/* an HTTP/2 stream waiting its turn: not its client's fault */
		if (pr->client_blocked && rate_stream_waits(c, c->h2s))
			return;
		if (!pr->client_sent) {
			poolreq_fail(pr, 504, "Timer_Response", 0);
			return;
		}
		c->req->reason = "Timer_Response";	/* for the log: weir closed */
		conn_close(c);
		return;
	}
}
