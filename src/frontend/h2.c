/*
 * h2.c - HTTP/2 on a client connection (RFC 9113).
 *
 * libnghttp2 does the framing, HPACK and flow control; this file owns the
 * socket, the session's settings, the limits against the known HTTP/2
 * attacks, timers and the connection's end (GOAWAY, lingering close).  It
 * runs on cleartext listeners with `h2c` (prior knowledge) and on TLS ones
 * whose ALPN chose "h2" (tls.c); every byte goes through cio.c.  Each
 * stream becomes a request of weir's one path (h2stream.c): answered in
 * place when no pool takes it, else on a connection of its own, so it goes
 * through the same router, handlers, queues, proxy, FastCGI client and
 * access log as any request.
 *
 * Limits: every flood is counted in one-second windows per connection and
 * ends the connection with GOAWAY ENHANCE_YOUR_CALM when its budget is
 * spent; each is a counter (/metrics) and an httperr.log token.  Malformed
 * requests (RFC 9113 §8.1.1) are refused by nghttp2's HTTP messaging
 * checks with RST_STREAM PROTOCOL_ERROR before a stream becomes a request.
 *
 * Output is batched: nghttp2_session_mem_send() frames are gathered into
 * one buffer and written with one write(2); while the socket is full
 * nothing more is framed and input is not read (a client that does not read
 * cannot make the session queue without bound).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <jansson.h>
#include <nghttp2/nghttp2.h>

#include "log.h"
#include "util.h"
#include "frontend.h"
#include "h2mem.h"

#define H2_READ_CHUNK		16384
#define H2_WRITE_BATCH		65536	/* frame this much before a write */
#define H2_FRAME_HDLEN		9	/* RFC 9113 §4.1 */
#define H2_TICK_MS		1000	/* the connection's timer period */
#define H2_LINGER_MS		2000
#define H2_CONN_WINDOW		(1 << 20)	/* connection receive window */
/* per-second budgets of frames that cost us work but carry no request */
#define H2_SETTINGS_PER_S	50
#define H2_PING_PER_S		50
#define H2_PRIORITY_PER_S	500
#define H2_EMPTY_DATA_PER_S	100
#define H2_CONT_SLACK		4	/* CONTINUATION frames beyond the header size's need */

const char *const h2_limit_tokens[H2_LIMITS] = {
	[H2_RAPID_RESET] = "H2_RapidReset",
	[H2_CONTINUATION] = "H2_ContinuationFlood",
	[H2_HEADER_LIST] = "H2_HeaderListSize",
	[H2_SETTINGS_FLOOD] = "H2_SettingsFlood",
	[H2_PING_FLOOD] = "H2_PingFlood",
	[H2_PRIORITY_FLOOD] = "H2_PriorityFlood",
	[H2_EMPTY_DATA] = "H2_EmptyDataFlood",
	[H2_STREAMS] = "H2_TooManyStreams",
	[H2_MALFORMED] = "H2_Malformed",
	[H2_IDLE] = "H2_Idle",
	[H2_SEND_TIMEOUT] = "Timer_MinBytesPerSecond",
	[H2_PROTOCOL] = "H2_ProtocolError",
};

enum { W_RESET, W_SETTINGS, W_PING, W_PRIORITY, W_EMPTY, W_COUNTS };

struct h2conn {
	nghttp2_session		*s;
	struct conn		*c;
	struct h2link		*streams;	/* open streams (each struct h2stream begins
						 * with its link) */
	unsigned		 nstreams;
	char			*wb;		/* framed output not yet written */
	size_t			 wlen, woff, wcap;
	uint64_t		 blocked_since;	/* ms the socket became full or the window spent; 0: not */
	uint64_t		 idle_since;	/* ms the last stream ended */
	uint64_t		 win_start;	/* ms: start of the counting window */
	unsigned		 win[W_COUNTS];	/* frames counted in the window */
	unsigned		 cont;		/* CONTINUATION frames of this header block */
	size_t			 hsize;		/* decoded size of this header list */
	struct h2link		*hstream;	/* the stream whose request block is being
						 * decoded (its fields come one by one:
						 * no lookup for each), or NULL */
	int32_t			 hstream_id;
	bool			 fatal;		/* a limit ended the session */
	bool			 draining;	/* GOAWAY sent for a shutdown */
	bool			 lingering;	/* output done, dropping input, then close */
};

static const struct conf_server *
srv(const struct h2conn *hc)
{
	return &hc->c->t->gen->conf->server;
}

nghttp2_session *
h2_session(struct h2conn *hc)
{
	return hc->s;
}

/* A stream joins (h2s_new()) or leaves (h2s_free()) the connection's list. */
void
h2_link(struct h2conn *hc, struct h2link *l)
{
	l->prev = NULL;
	l->next = hc->streams;
	if (hc->streams != NULL)
		hc->streams->prev = l;
	hc->streams = l;
}

void
h2_unlink(struct h2conn *hc, struct h2link *l)
{
	if (hc->hstream == l)
		hc->hstream = NULL;
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		hc->streams = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
}

/*
 * A limit was hit: count it, log its token, and (unless it is a stream's
 * own fault) end the session with GOAWAY `code`.  Returns the value a
 * nghttp2 callback returns to stop processing input.
 */
static int
h2_limit(struct h2conn *hc, enum h2_limit which, uint32_t code)
{
	struct conn *c = hc->c;

	stat_add(&c->t->st_h2_limit[which], 1);
	alog_httperr(c, NULL, 0, h2_limit_tokens[which]);
	if (which == H2_MALFORMED)
		return 0;
	if (!hc->fatal) {
		hc->fatal = true;
		(void)nghttp2_session_terminate_session(hc->s, code);	/* only fails on OOM */
	}
	return NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* Count a frame of kind k in the current one-second window: over budget? */
static bool
over_budget(struct h2conn *hc, int k, unsigned budget)
{
	uint64_t now = loop_now(hc->c->t->loop);

	if (now - hc->win_start >= 1000) {
		hc->win_start = now;
		memset(hc->win, 0, sizeof(hc->win));
	}
	return ++hc->win[k] > budget;
}

/* --- nghttp2 callbacks ---------------------------------------------------- */

/* Frames are counted by their header, before their payload costs anything. */
static int
on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *arg)
{
	struct h2conn *hc = arg;
	size_t maxcont = srv(hc)->max_header_size / 16384 + H2_CONT_SLACK;

	(void)s;
	switch (hd->type) {
	case NGHTTP2_HEADERS:
		hc->cont = 0;
		hc->hsize = 0;
		break;
	case NGHTTP2_CONTINUATION:
		if (++hc->cont > maxcont)
			return h2_limit(hc, H2_CONTINUATION, NGHTTP2_ENHANCE_YOUR_CALM);
		break;
	case NGHTTP2_SETTINGS:
		if (!(hd->flags & NGHTTP2_FLAG_ACK) &&
		    over_budget(hc, W_SETTINGS, H2_SETTINGS_PER_S))
			return h2_limit(hc, H2_SETTINGS_FLOOD, NGHTTP2_ENHANCE_YOUR_CALM);
		break;
	case NGHTTP2_PING:
		if (!(hd->flags & NGHTTP2_FLAG_ACK) &&
		    over_budget(hc, W_PING, H2_PING_PER_S))
			return h2_limit(hc, H2_PING_FLOOD, NGHTTP2_ENHANCE_YOUR_CALM);
		break;
	case NGHTTP2_PRIORITY:
		if (over_budget(hc, W_PRIORITY, H2_PRIORITY_PER_S))
			return h2_limit(hc, H2_PRIORITY_FLOOD, NGHTTP2_ENHANCE_YOUR_CALM);
		break;
	case NGHTTP2_DATA:
		if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM) &&
		    over_budget(hc, W_EMPTY, H2_EMPTY_DATA_PER_S))
			return h2_limit(hc, H2_EMPTY_DATA, NGHTTP2_ENHANCE_YOUR_CALM);
		break;
	default:
		break;
	}
	return 0;
}

static int
on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	struct h2conn *hc = arg;
	struct h2stream *st;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (hc->nstreams >= srv(hc)->http2_max_concurrent_streams)
		return h2_limit(hc, H2_STREAMS, NGHTTP2_PROTOCOL_ERROR);
	if ((st = h2s_new(hc, hc->c, f->hd.stream_id)) == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;	/* reset: INTERNAL_ERROR */
	hc->nstreams++;
	if (nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st) != 0) {
		h2s_free(st);
		hc->nstreams--;
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	hc->hstream = (struct h2link *)(void *)st;	/* the link is first */
	hc->hstream_id = f->hd.stream_id;
	return 0;
}

/* A header field, decoded: the list's size is checked before it is kept. */
static int
on_header(nghttp2_session *s, const nghttp2_frame *f, nghttp2_rcbuf *name,
    nghttp2_rcbuf *value, uint8_t flags, void *arg)
{
	struct h2conn *hc = arg;
	struct h2stream *st;
	size_t nlen = nghttp2_rcbuf_get_buf(name).len, vlen = nghttp2_rcbuf_get_buf(value).len;

	(void)flags;
	hc->hsize += nlen + vlen + 32;	/* RFC 9113 §6.5.2's size of an entry */
	if (hc->hsize > srv(hc)->max_header_size)
		return h2_limit(hc, H2_HEADER_LIST, NGHTTP2_ENHANCE_YOUR_CALM);
	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (hc->hstream != NULL && hc->hstream_id == f->hd.stream_id)
		st = (struct h2stream *)(void *)hc->hstream;
	else if ((st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id)) == NULL)
		return 0;
	/* a trailing HEADERS (nghttp2 lets it through only after the head) */
	if (f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return h2s_trailer(st, name, value) == -1 ?
		    NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
	if (h2s_header(st, name, value) == -1)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	return 0;
}

static int
on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	struct h2conn *hc = arg;
	struct h2stream *st = f->hd.stream_id != 0 ?
	    nghttp2_session_get_stream_user_data(s, f->hd.stream_id) : NULL;
	bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	switch (f->hd.type) {
	case NGHTTP2_HEADERS:
		if (st == NULL)
			break;
		if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
			stat_add(&hc->c->t->st_h2_streams, 1);
			if (h2s_headers_done(st, end) == -1)
				(void)nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE,
				    f->hd.stream_id, NGHTTP2_INTERNAL_ERROR);
		} else if (end && h2s_body_end(st) == -1) {
			(void)nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE,
			    f->hd.stream_id, NGHTTP2_INTERNAL_ERROR);
		}
		break;
	case NGHTTP2_DATA:
		if (st != NULL && end && h2s_body_end(st) == -1)
			(void)nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE,
			    f->hd.stream_id, NGHTTP2_INTERNAL_ERROR);
		break;
	case NGHTTP2_RST_STREAM:
		/*
		 * CVE-2023-44487: a stream opened and reset at once costs the
		 * server a request's start and the client nothing.  More
		 * resets in a second than twice the streams it may hold is
		 * not a browser cancelling.
		 */
		if (over_budget(hc, W_RESET, 2 * srv(hc)->http2_max_concurrent_streams))
			return h2_limit(hc, H2_RAPID_RESET, NGHTTP2_ENHANCE_YOUR_CALM);
		break;
	default:
		break;
	}
	return 0;
}

static int
on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d,
    size_t n, void *arg)
{
	struct h2stream *st = nghttp2_session_get_stream_user_data(s, id);

	(void)flags;
	(void)arg;
	if (st == NULL) {
		/* not ours any more: give the window back at once */
		(void)nghttp2_session_consume(s, id, n);
		return 0;
	}
	if (h2s_body(st, d, n) == -1)
		(void)nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id,
		    NGHTTP2_INTERNAL_ERROR);
	return 0;
}

static int
on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
	struct h2conn *hc = arg;
	struct h2stream *st = nghttp2_session_get_stream_user_data(s, id);

	(void)code;
	if (st == NULL)
		return 0;
	h2s_free(st);
	hc->nstreams--;
	if (hc->nstreams == 0)
		hc->idle_since = loop_now(hc->c->t->loop);
	return 0;
}

/*
 * nghttp2's HTTP messaging checks (RFC 9113 §8.1.1: connection-specific or
 * uppercase fields, pseudo-header errors, content-length against DATA) make
 * a malformed request a stream error: it resets the stream with
 * PROTOCOL_ERROR itself, before the stream became a request (or, for a body
 * that does not match its content-length, before the body ended: the
 * request's connection sees its client leave and no pool gets it whole).
 * weir sends that code for nothing else, so this is where they are counted.
 */
/*
 * nghttp2 refused a frame.  A stream over the limit is refused with
 * REFUSED_STREAM until the client acknowledged our SETTINGS, then the
 * connection ends with PROTOCOL_ERROR; both are counted here, and refused
 * streams spend the reset budget (a stream refused costs what a stream
 * reset does).
 */
static int
on_invalid_frame(nghttp2_session *s, const nghttp2_frame *f, int err, void *arg)
{
	struct h2conn *hc = arg;

	(void)s;
	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (err == NGHTTP2_ERR_REFUSED_STREAM) {
		stat_add(&hc->c->t->st_h2_limit[H2_STREAMS], 1);
		if (over_budget(hc, W_RESET, 2 * srv(hc)->http2_max_concurrent_streams))
			return h2_limit(hc, H2_RAPID_RESET, NGHTTP2_ENHANCE_YOUR_CALM);
	} else if (hc->nstreams >= srv(hc)->http2_max_concurrent_streams) {
		/* nghttp2 sends the GOAWAY itself */
		stat_add(&hc->c->t->st_h2_limit[H2_STREAMS], 1);
		alog_httperr(hc->c, NULL, 0, h2_limit_tokens[H2_STREAMS]);
	}
	return 0;
}

static int
on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	struct h2conn *hc = arg;

	if (f->hd.type == NGHTTP2_RST_STREAM && f->rst_stream.error_code == NGHTTP2_PROTOCOL_ERROR)
		(void)h2_limit(hc, H2_MALFORMED, NGHTTP2_PROTOCOL_ERROR);
	/*
	 * The response is complete while the client still sends its request
	 * (an early 413, a pool that answered without reading): RST_STREAM
	 * NO_ERROR tells it to stop (RFC 9113 §8.1); else the stream stays
	 * half-open until the client runs out of window.
	 */
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
	    nghttp2_session_get_stream_remote_close(s, f->hd.stream_id) == 0)
		(void)nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id,
		    NGHTTP2_NO_ERROR);	/* fails only for a stream gone */
	return 0;
}

static int wb_room(struct h2conn *hc, size_t n);

/*
 * A DATA frame whose body nghttp2 did not copy (NGHTTP2_DATA_FLAG_NO_COPY,
 * a stream served in place): its header, then the body straight from the
 * response's buffer or file into the output, one copy fewer than through
 * nghttp2's frame buffer, two fewer than before it is written.
 */
static int
on_send_data(nghttp2_session *s, nghttp2_frame *f, const uint8_t *framehd, size_t len,
    nghttp2_data_source *src, void *arg)
{
	struct h2conn *hc = arg;

	(void)s;
	(void)f;	/* no padding is ever asked for: the frame is header and body */
	if (wb_room(hc, H2_FRAME_HDLEN + len) == -1)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (h2s_native_copy(src->ptr, (char *)hc->wb + hc->wlen + H2_FRAME_HDLEN,
	    len) == -1)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;	/* the stream is reset */
	memcpy(hc->wb + hc->wlen, framehd, H2_FRAME_HDLEN);
	hc->wlen += H2_FRAME_HDLEN + len;
	return 0;
}

static nghttp2_session_callbacks *
callbacks(void)
{
	nghttp2_session_callbacks *cbs;

	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return NULL;
	nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback2(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame);
	nghttp2_session_callbacks_set_send_data_callback(cbs, on_send_data);
	return cbs;
}

/* --- the socket ------------------------------------------------------------- */

static void h2_on_io(void *arg, uint32_t events);
static void h2_on_timer(void *arg);

/* Room for n more bytes of framed output in hc->wb. */
static int
wb_room(struct h2conn *hc, size_t n)
{
	size_t cap;
	char *nb;

	if (hc->wlen + n <= hc->wcap)
		return 0;
	cap = hc->wlen + n + H2_WRITE_BATCH;
	if ((nb = realloc(hc->wb, cap)) == NULL)
		return -1;
	hc->wb = nb;
	hc->wcap = cap;
	return 0;
}

static void
h2_set_events(struct h2conn *hc)
{
	uint32_t ev;

	if (hc->lingering)
		ev = LOOP_READ;
	else if (hc->woff < hc->wlen)
		ev = LOOP_WRITE;	/* nothing is read while output is stuck */
	else
		ev = LOOP_READ;
	if (hc->c->io.events != ev && loop_io_mod(hc->c->t->loop, &hc->c->io, ev) == -1)
		log_warn("epoll_ctl");
}

/*
 * The session has said all it will: shut our side and drop what the
 * client still sends for a moment, so the GOAWAY is read rather than lost
 * to a reset.
 */
static void
h2_linger(struct h2conn *hc)
{
	if (hc->c->ssl != NULL)
		tls_conn_shutdown(hc->c);	/* close_notify before the FIN */
	if (shutdown(hc->c->io.fd, SHUT_WR) == -1) {
		conn_close(hc->c);
		return;
	}
	hc->lingering = true;
	h2_set_events(hc);
	loop_timer_set(hc->c->t->loop, &hc->c->timer, H2_LINGER_MS);
}

/*
 * Frame what the session has to send and write it.  May close the
 * connection (the caller must not touch hc or c afterwards unless it holds
 * the connection by other means; stream callbacks return right after).
 */
void
h2_flush(struct h2conn *hc)
{
	struct conn *c = hc->c;

	if (hc->lingering)
		return;
	/*
	 * A load-balancer drain (CTL_DRAIN, `weir drain`): what keep-alive
	 * gets on HTTP/1.1 (Connection: close after the response) is GOAWAY
	 * here, once the client asked for something (a new connection is
	 * still served while the drain lasts): no new streams, the open ones
	 * finish, then the connection closes.  h2_drain() flushes (this
	 * again, with draining set).
	 */
	if (!hc->draining && nghttp2_session_get_last_proc_stream_id(hc->s) > 0 &&
	    atomic_load_explicit(&c->t->fe->lb_draining, memory_order_relaxed)) {
		h2_drain(c);
		return;
	}
	for (;;) {
		ssize_t n;

		if (hc->woff == hc->wlen)
			hc->woff = hc->wlen = 0;
		/* frame a batch, unless a partly written one must go first */
		while (hc->woff == 0 && hc->wlen < H2_WRITE_BATCH) {
			const uint8_t *p;
			ssize_t m;

			if ((m = nghttp2_session_mem_send(hc->s, &p)) < 0) {
				conn_close(c);
				return;
			}
			if (m == 0)
				break;
			if (wb_room(hc, (size_t)m) == -1) {
				conn_close(c);
				return;
			}
			memcpy(hc->wb + hc->wlen, p, (size_t)m);
			hc->wlen += (size_t)m;
		}
		if (hc->woff == hc->wlen)
			break;
		n = cio_send(c, hc->wb + hc->woff, hc->wlen - hc->woff, 0);
		if (n > 0) {
			rate_add(c, (uint64_t)n);
			hc->woff += (size_t)n;
			hc->blocked_since = 0;
			if (hc->woff == hc->wlen)
				hc->woff = hc->wlen = 0;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (hc->blocked_since == 0)
				hc->blocked_since = loop_now(c->t->loop);
			break;
		}
		conn_close(c);
		return;
	}
	/*
	 * min_response_rate is measured on the connection while the client
	 * holds it: its socket full, or no connection window left for streams
	 * that have something to send.
	 */
	if (hc->woff < hc->wlen) {
		rate_begin(c, RATE_OUT);
	} else if (hc->nstreams > 0 && nghttp2_session_get_remote_window_size(hc->s) <= 0) {
		/*
		 * Its streams wait on the client, not on their turn: send_timeout
		 * runs for the connection too (it ends at the next byte taken),
		 * also when min_response_rate is off.
		 */
		rate_begin(c, RATE_OUT);
		if (hc->blocked_since == 0)
			hc->blocked_since = loop_now(c->t->loop);
	} else {
		rate_end(c);
	}
	if (hc->woff == hc->wlen && (hc->fatal ||
	    (!nghttp2_session_want_read(hc->s) && !nghttp2_session_want_write(hc->s)) ||
	    (hc->draining && hc->nstreams == 0))) {
		h2_linger(hc);
		return;
	}
	h2_set_events(hc);
}

static void
h2_read(struct h2conn *hc)
{
	struct conn *c = hc->c;
	uint8_t buf[H2_READ_CHUNK];

	for (int i = 0; i < 4; i++) {
		ssize_t n = cio_read(c, buf, sizeof(buf)), m;

		if (n == 0) {
			conn_close(c);
			return;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_close(c);
			return;
		}
		if (hc->lingering)
			continue;
		m = nghttp2_session_mem_recv(hc->s, buf, (size_t)n);
		if (m < 0) {
			if (!hc->fatal) {
				/* bad preface or a broken session: nothing more is read */
				(void)h2_limit(hc, H2_PROTOCOL, NGHTTP2_PROTOCOL_ERROR);
			}
			break;
		}
		if (hc->fatal || hc->woff < hc->wlen || cio_drained(c, (size_t)n, sizeof(buf)))
			break;
	}
	h2_flush(hc);
}

static void
h2_on_io(void *arg, uint32_t events)
{
	struct conn *c = arg;
	struct h2conn *hc = c->h2;

	if (events & LOOP_WRITE) {
		h2_flush(hc);
		if (c->state == CONN_CLOSED)
			return;
	}
	if (events & (LOOP_READ | EPOLLHUP | EPOLLERR))
		h2_read(hc);
}

/*
 * Once a second: a client that has not read for send_timeout, or that
 * reads slower than min_response_rate for each of its streams, or a
 * connection without streams for keepalive_timeout, ends.
 */
static void
h2_on_timer(void *arg)
{
	struct conn *c = arg;
	struct h2conn *hc = c->h2;
	const struct conf_server *sv = srv(hc);
	uint64_t now = loop_now(c->t->loop);

	if (hc->lingering) {
		conn_close(c);
		return;
	}
	if (rate_too_slow_n(c, now, hc->nstreams > 0 ? hc->nstreams : 1)) {
		stat_add(&c->t->st_closed[FE_CLOSE_MINRATE], 1);
		alog_httperr(c, NULL, 0, fe_close_tokens[FE_CLOSE_MINRATE]);
		conn_close(c);
		return;
	}
	if (hc->blocked_since != 0 && now - hc->blocked_since >= sv->send_timeout) {
		stat_add(&c->t->st_h2_limit[H2_SEND_TIMEOUT], 1);
		alog_httperr(c, NULL, 0, h2_limit_tokens[H2_SEND_TIMEOUT]);
		conn_close(c);
		return;
	}
	if (hc->nstreams == 0 && now - hc->idle_since >= sv->keepalive_timeout) {
		stat_add(&c->t->st_h2_limit[H2_IDLE], 1);
		hc->draining = true;
		(void)nghttp2_submit_goaway(hc->s, NGHTTP2_FLAG_NONE,
		    nghttp2_session_get_last_proc_stream_id(hc->s), NGHTTP2_NO_ERROR,
		    NULL, 0);
		h2_flush(hc);
		if (c->state == CONN_CLOSED || hc->lingering)
			return;
	}
	loop_timer_set(c->t->loop, &c->timer, H2_TICK_MS);
}

/* --- life ------------------------------------------------------------------------ */

/*
 * An accepted connection on a listener with h2c: the client starts with
 * the connection preface (prior knowledge, RFC 9113 §3.3).
 */
void
h2_start(struct conn *c)
{
	const struct conf_server *sv = &c->gen->conf->server;
	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt = NULL;
	nghttp2_mem mem;
	struct h2conn *hc;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, sv->http2_max_concurrent_streams },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)sv->max_header_size },
		/*
		 * RFC 9218 priorities, not RFC 7540's tree (deprecated by RFC
		 * 9113 §5.3.2): a client signals urgency in a priority field;
		 * nghttp2 then keeps no dependency tree per connection.
		 */
		{ NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1 },
	};
	int rc;

	c->proto = CONN_PROTO_H2;
	c->state = CONN_HANDLER;
	if ((hc = calloc(1, sizeof(*hc))) == NULL) {
		conn_close(c);
		return;
	}
	hc->c = c;
	c->h2 = hc;
	if (nghttp2_option_new(&opt) != 0) {
		conn_close(c);
		return;
	}
	if ((cbs = callbacks()) == NULL) {
		nghttp2_option_del(opt);
		conn_close(c);
		return;
	}
	/* the window opens as request bodies move on to their requests (h2stream.c) */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	h2mem_fill(&mem, c->t);
	rc = nghttp2_session_server_new3(&hc->s, cbs, hc, opt, &mem);	/* copies all three */
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (rc != 0) {
		hc->s = NULL;
		conn_close(c);
		return;
	}
	if (nghttp2_submit_settings(hc->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0 ||
	    nghttp2_session_set_local_window_size(hc->s, NGHTTP2_FLAG_NONE, 0,
	    H2_CONN_WINDOW) != 0) {
		conn_close(c);
		return;
	}
	stat_add(&c->t->st_h2_conns, 1);
	hc->idle_since = hc->win_start = loop_now(c->t->loop);
	c->io.cb = h2_on_io;
	loop_timer_init(&c->timer, h2_on_timer, c);
	loop_timer_set(c->t->loop, &c->timer, H2_TICK_MS);
	h2_read(hc);
}

/* Stop: no new streams (GOAWAY with the last one taken); the open ones finish. */
void
h2_drain(struct conn *c)
{
	struct h2conn *hc = c->h2;

	if (hc->draining || hc->lingering)
		return;
	hc->draining = true;
	(void)nghttp2_submit_goaway(hc->s, NGHTTP2_FLAG_NONE,
	    nghttp2_session_get_last_proc_stream_id(hc->s), NGHTTP2_NO_ERROR, NULL, 0);
	h2_flush(hc);
}

/* conn_close(): the session and every stream go (their requests see EOF). */
void
h2_free(struct conn *c)
{
	struct h2conn *hc = c->h2;

	c->h2 = NULL;
	/* nghttp2_session_del() calls no callback: the streams go first */
	while (hc->streams != NULL)
		h2s_free((struct h2stream *)(void *)hc->streams);	/* the link is first */
	if (hc->s != NULL)
		nghttp2_session_del(hc->s);
	free(hc->wb);
	free(hc);
}

/* Counters for the status snapshot (stats.c). */
json_t *
h2_stats_json(struct frontend *fe)
{
	json_t *o = json_object(), *lim = json_object();
	uint64_t conns = 0, streams = 0, v[H2_LIMITS] = { 0 };

	for (unsigned t = 0; t < fe->nthreads; t++) {
		conns += atomic_load_explicit(&fe->threads[t].st_h2_conns, memory_order_relaxed);
		streams += atomic_load_explicit(&fe->threads[t].st_h2_streams, memory_order_relaxed);
		for (int k = 0; k < H2_LIMITS; k++)
			v[k] += atomic_load_explicit(&fe->threads[t].st_h2_limit[k],
			    memory_order_relaxed);
	}
	for (int k = 0; k < H2_LIMITS; k++)
		json_object_set_new(lim, h2_limit_tokens[k], json_integer((json_int_t)v[k]));
	json_object_set_new(o, "connections", json_integer((json_int_t)conns));
	json_object_set_new(o, "streams", json_integer((json_int_t)streams));
	json_object_set_new(o, "limits", lim);
	return o;
}
