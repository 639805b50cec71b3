/*
 * frontend.h - the front end's one internal header (the HTTP.sys role).
 *
 * The front end accepts client connections on sockets the master bound,
 * parses requests strictly, routes them to a site, serves static files itself
 * and (later) queues and proxies application requests to pool workers.  It
 * runs unprivileged, one event loop per thread.
 *
 * This header is a map of the component: shared types first, then one
 * prototype block per file.
 */
#ifndef WEIR_FRONTEND_H
#define WEIR_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>
#include <sys/stat.h>

#include <pthread.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <openssl/types.h>

#include <openssl/ssl.h>

#include "rc.h"
#include "httpparse.h"
#include "conf.h"
#include "ctl.h"
#include "tlsnames.h"
#include "loop.h"
#include "tlspem.h"

/* path.c: request path -> file-system-safe path */
int		 path_normalize(const char *raw, size_t n, char *out, size_t outsz,
		    size_t *outlen);
bool		 path_hidden(const char *path, size_t len);
size_t		 path_encode(char *out, size_t cap, const char *p, size_t n, bool query);

/* range.c: Range requests (RFC 9110 §14) */
struct byte_range {
	uint64_t	 first;		/* first byte, inclusive */
	uint64_t	 last;		/* last byte, inclusive */
};
#define RANGE_MAX	16	/* more ranges than this are coalesced or ignored */
int		 range_parse(const char *v, size_t n, uint64_t size,
		    struct byte_range *out, int max);
size_t		 range_part_header(char *out, size_t outsz, const char *boundary,
		    const char *ctype, const struct byte_range *r, uint64_t size);
size_t		 range_multipart_trailer(char *out, size_t outsz,
		    const char *boundary);
uint64_t	 range_multipart_length(const char *boundary, const char *ctype,
		    const struct byte_range *r, int nr, uint64_t size);

/* httpdate.c: HTTP-date (RFC 9110 §5.6.7) */
#define HTTPDATE_LEN	29	/* "Sun, 06 Nov 1994 08:49:37 GMT" */
void		 httpdate_format(time_t t, char out[HTTPDATE_LEN + 1]);
int		 httpdate_parse(const char *s, size_t n, time_t *t);

/* cond.c: conditional requests (RFC 9110 §13) and entity tags */
struct cond_input {
	enum http_method method;
	struct hstr	 if_match;		/* header values; p == NULL when absent */
	struct hstr	 if_none_match;
	struct hstr	 if_modified_since;
	struct hstr	 if_unmodified_since;
	struct hstr	 if_range;
	const char	*etag;			/* the representation's strong ETag, quoted */
	size_t		 etag_len;
	time_t		 mtime;			/* Last-Modified, seconds */
};
#define ETAG_MAX	48
int		 cond_evaluate(const struct cond_input *in, bool *use_range);
size_t		 etag_make(char *out, size_t outsz, const struct stat *st);

/* mime.c: Content-Type by file extension */
const char	*mime_type(const char *name, size_t n);


struct conn;
struct cio_out;
struct req;
struct fe_thread;
struct fentry;
struct poolreq;
struct upconn;
struct fe_pool;
struct fe_worker;
struct fe_widle;
struct pwait;

/* Every block of the per-thread pool has this size (buffers, request state). */
#define FE_BLOCK	16384

/*
 * A handler answers requests for part of a site: static files, a pool proxy,
 * FastCGI, ...  Concrete handlers embed this first (H2O style).
 * on_request() either produces the whole response (queued on the
 * connection) and returns WEIR_OK, returns WEIR_DECLINED to let the next
 * handler try, or returns an HTTP status for the caller to send as an error.
 */
struct handler {
	const char	*name;
	int		(*on_request)(struct handler *h, struct conn *c, struct req *r);
	void		(*dispose)(struct handler *h);
};

/*
 * Counters for /metrics.  Each thread writes only its own slot (relaxed
 * atomic load + store, no lock prefix on the hot path); thread 0 sums the
 * slots for a snapshot.  64-byte aligned so threads do not share lines.
 */
#define STAT_BUCKETS	10	/* latency histogram upper bounds, see stats.c */

typedef _Atomic uint64_t stat_t;

struct hist {
	stat_t		 b[STAT_BUCKETS];	/* cumulative on output, per bucket here */
	stat_t		 count;
	stat_t		 sum_us;
};

struct site_counters {
	_Alignas(64) stat_t	 classes[5];	/* responses by status class 1xx..5xx */
};

/*
 * A site's counters, by name, for the life of the front end: a reload
 * builds new fe_site objects, but a site that keeps its name keeps its
 * counts (as pools do), so weir_site_responses_total never goes back.
 */
struct site_stats {
	struct site_stats	*next;
	char			*name;
	struct site_counters	*sc;		/* [nthreads] */
	atomic_int		 down;		/* errno the master was told its root
						 * failed with; 0: available (siteroot.c) */
};

/*
 * One thread's view of a site's root (siteroot.c): each thread opens,
 * checks and replaces its own, so the request path takes no lock.
 */
struct fe_root {
	_Alignas(64) int	 fd;		/* O_PATH of the root; -1 while not open */
	int			 err;		/* 0: available; else errno of the last check */
	dev_t			 dev;		/* the directory fd refers to */
	ino_t			 ino;
	uint64_t		 checked;	/* monotonic ms of the last check; 0: never */
};

struct pool_counters {
	_Alignas(64) stat_t	 classes[5];
	struct hist		 wait;		/* time in the queue */
	struct hist		 upstream;	/* request start to response complete */
	stat_t			 retries;
	stat_t			 poison;	/* requests that failed two workers (502) */
};

static inline void
stat_add(stat_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
	    memory_order_relaxed);
}

/* A site of one configuration generation, ready to serve. */
struct fe_route {
	const char	*prefix;	/* "/api" */
	size_t		 len;
	struct handler	*h;
	struct fe_pool	*pool;
	const struct conf_app *app;	/* its line: script, strip_prefix */
};

struct fe_alias;

struct fe_script {
	const char	*ext;
	size_t		 extlen;
	struct fe_pool	*pool;
};

struct fe_site {
	const struct conf_site	*cs;
	struct fe_script	*scripts;	/* script = .EXT POOL */
	size_t			 nscripts;
	unsigned		 idx;		/* s-siteid in logs: 1-based */
	struct fe_root		*roots;		/* [nroots]: one per thread if it has a root */
	unsigned		 nroots;
	struct site_stats	*stats;		/* owned by fe->site_stats */
	struct handler		*static_h;
	struct fe_route		*routes;	/* longest prefix first */
	size_t			 nroutes;
	struct fe_alias		*aliases;	/* alias = PREFIX DIR, longest prefix first */
	size_t			 naliases;
	struct site_counters	*sc;		/* [nthreads], owned by fe->site_stats */
};

/*
 * alias = PREFIX DIR: a directory served like a root (a site of its own
 * for siteroot.c, named "SITE:PREFIX" in its events), whose static handler
 * skips PREFIX.  cs is the site's settings with DIR as root.
 */
struct fe_alias {
	const char		*prefix;
	size_t			 len;
	struct conf_site	 cs;
	struct fe_site		 site;
	char			*name;		/* "SITE:PREFIX", owned */
};

/*
 * A listening address of the front end.  The table only grows (a reload
 * appends new addresses and marks removed ones dead), so an address index
 * means the same in every generation.
 */
#define FE_MAX_ADDRS	256

struct fe_laddr {
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	int			*fds;		/* one per thread; taken by the thread */
	atomic_bool		 alive;
};

/* Sites reachable on one listening address. */
struct fe_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	uint16_t		 port;
	bool			 wildcard;	/* bound to 0.0.0.0 / :: */
	bool			 h2c;		/* HTTP/2 with prior knowledge (listen ... h2c) */
	uint8_t			 alpn[CONF_ALPN_MAX];	/* TLS: protocols offered (enum conf_alpn) */
	bool			 proxy_protocol; /* connections start with a PROXY header */
	const char		*health_path;	/* answered by lbhealth.c, or NULL */
	struct fe_site		**sites;	/* sites with hosts */
	size_t			 nsites;
	struct fe_site		*def;		/* site without hosts, or NULL */
};

/* One configuration generation: immutable once built, shared by threads. */
struct fe_gen {
	struct conf		*conf;		/* owned (conf_free on release) unless borrowed */
	bool			 conf_owned;
	uint32_t		 generation;
	struct fe_site		*sites;
	size_t			 nsites;
	struct fe_addr		*addrs;		/* index = listen address index */
	size_t			 naddrs;
	atomic_uint		 refs;
};

/* A listening socket of one thread. */
struct fe_listener {
	struct loop_io		 io;
	struct fe_thread	*t;
	int			 fd;
	unsigned		 addr;		/* index in fe_gen.addrs */
};

/* Buffered, non-blocking-enough log writer: one per thread and log. */
struct logbuf {
	char			*buf;
	size_t			 len, cap;
	uint64_t		 first;		/* ms of the oldest unflushed line */
	int			 format;	/* access log: enum access_log_format of its lines */
};

/* Per-thread open file cache (fcache.c). */
struct fcache;

struct frontend;

/* Why weir closed a client connection, counted for /status and /metrics. */
enum fe_close_reason {
	FE_CLOSE_MINRATE = 0,	/* Timer_MinBytesPerSecond: slower than min_*_rate */
	FE_CLOSE_DROPPED,	/* Connection_Dropped: the client left mid-request */
	FE_CLOSE_PERIP,		/* ConnLimit: over max_connections_per_ip */
	FE_CLOSE_PROXY_UNTRUSTED, /* Proxy_Untrusted: a proxy_protocol listener's peer
				 * is not in trusted_proxies */
	FE_CLOSE_PROXY_HEADER,	/* Proxy_Header: its PROXY header was malformed, cut
				 * short or late */
	FE_CLOSE_TLS_TIMEOUT,	/* Timer_TlsHandshake: no handshake within handshake_timeout */
	FE_CLOSE_TLS_FAILED,	/* TLS_Handshake_Failed: refused or broken handshake */
	FE_CLOSE_REASONS
};
extern const char *const fe_close_tokens[FE_CLOSE_REASONS];

/* HTTP/2 limits (h2.c): each counted and logged to httperr.log by its token. */
enum h2_limit {
	H2_RAPID_RESET = 0,	/* streams reset by the client faster than served */
	H2_CONTINUATION,	/* CONTINUATION frames beyond a header block's share */
	H2_HEADER_LIST,		/* decoded header list > max_header_size (HPACK bomb) */
	H2_SETTINGS_FLOOD,
	H2_PING_FLOOD,
	H2_PRIORITY_FLOOD,
	H2_EMPTY_DATA,		/* DATA frames without data or END_STREAM */
	H2_STREAMS,		/* over http2_max_concurrent_streams */
	H2_MALFORMED,		/* RFC 9113 §8.1.1: a stream error, never a request */
	H2_IDLE,		/* no stream for keepalive_timeout */
	H2_SEND_TIMEOUT,	/* the client did not read for send_timeout */
	H2_PROTOCOL,		/* any other connection error (bad preface, framing) */
	H2_LIMITS
};
extern const char *const h2_limit_tokens[H2_LIMITS];

/* The protocol the client speaks on a connection (c->proto). */
enum conn_proto {
	CONN_PROTO_H1 = 0,	/* HTTP/1.x */
	CONN_PROTO_H2,		/* HTTP/2: the client's connection, or a stream's */
	CONN_PROTOS
};

/*
 * A thread's freelist of objects of one size (FE_BLOCK buffers, connections,
 * HTTP/2 streams): one of each per stream came from malloc and went back to free; reused,
 * bounded (FREE_OBJS_KEEP), and what sat unused for a tick is freed
 * (conn_trim()).  conn.c: objs_get(), objs_put().
 */
/* h2mem.c: size classes 64 B .. H2MEM_MAX, a freelist each */
#define H2MEM_CLASSES	6
#define H2MEM_MAX	2048

struct fe_objs {
	void			*head;
	size_t			 n;
	size_t			 low;		/* fewest free since the last tick */
};

struct fe_thread {
	struct frontend		*fe;
	unsigned		 idx;
	pthread_t		 tid;
	struct loop		*loop;
	struct fe_listener	*ls;
	size_t			 nls;
	bool			 accepting;
	struct loop_timer	 accept_timer;	/* resumes accept after EMFILE */
	int			 reserve_fd;	/* closed to accept-and-drop on EMFILE */
	struct fe_objs		 free_blocks;	/* FE_BLOCK */
	struct fe_objs		 free_conns;	/* struct conn */
	struct fe_objs		 free_streams;	/* struct h2stream (h2stream.c) */
	struct fe_objs		 h2mem[H2MEM_CLASSES];	/* nghttp2's small allocations (h2mem.c) */
	struct conn		*conns;		/* every connection of this thread */
	size_t			 nconns;
	size_t			 conns_peak;	/* most connections since the last trim */
	struct fcache		*fcache;
	struct logbuf		 alog, elog;
	char			 date[HTTPDATE_LEN + 1];	/* Date: for this second */
	time_t			 date_t;
	char			 w3cdate[24];	/* "2026-11-25 10:55:01" for logs */
	char			 clfdate[32];	/* "25/Nov/2026:10:55:01 +0000" */
	time_t			 logdate_t;
	struct fe_gen		*gen;		/* generation new requests use */
	void			*rw_md;		/* pcre2_match_data of rewrite rules ($0..$9) */
	bool			 draining;
	uint64_t		 drain_deadline;
	int			 wake_fd;	/* eventfd: messages from thread 0 */
	struct loop_io		 wake_io;
	atomic_uint		 pending;	/* FE_MSG_* bits set by thread 0 */
	pthread_mutex_t		 ready_lock;	/* guards ready_head */
	struct pwait		*ready_head;	/* requests whose queue wait ended */
	atomic_bool		 ready_local;	/* ... some put there by this thread itself */
	struct upconn		*idle_up;	/* kept-alive upstream connections, all workers */
	size_t			 nidle_up;
	stat_t			 st_conns;	/* open client connections */
	stat_t			 st_accepted;	/* accepted, total */
	stat_t			 st_closed[FE_CLOSE_REASONS];	/* closed by weir, by reason */
	stat_t			 st_requests[CONN_PROTOS];	/* requests, by protocol */
	stat_t			 st_h2_conns;	/* HTTP/2 connections, total */
	stat_t			 st_h2_streams;	/* HTTP/2 streams that became requests */
	stat_t			 st_h2_limit[H2_LIMITS];	/* HTTP/2 limits hit (h2.c) */
	stat_t			 st_tls_handshakes;	/* TLS handshakes completed */
	struct tls_set		*tls;		/* TLS contexts new connections use (held) */
	struct loop_timer	 tick;		/* 1 s housekeeping: log flush */
	struct loop_timer	 drain_timer;	/* shutdown deadline */
};

#define FE_MSG_DRAIN	0x1	/* stop accepting, finish, exit */
#define FE_MSG_GEN	0x2	/* a new configuration generation */
#define FE_MSG_READY	0x4	/* queued requests were given a worker (or failed) */
#define FE_MSG_WORKERS	0x8	/* a worker drains or is gone: drop idle upstreams */
#define FE_MSG_ACCEPT	0x10	/* start accepting (CTL_ACCEPT) */

struct frontend {
	const struct fe_start	*st;
	atomic_bool		 hold;		/* not accepting until CTL_ACCEPT (fe_start.hold_accept) */
	struct fe_thread	*threads;
	unsigned		 nthreads;
	_Atomic(struct fe_gen *) gen;
	struct fe_laddr		 addrs[FE_MAX_ADDRS];
	atomic_size_t		 naddrs;
	struct loop_io		 ctl_io;
	int			 ctl;
	/*
	 * The access log: one fd per format (W3C, combined), each replaced in
	 * place by dup2() on reopen and never closed while running, and the
	 * format new lines take (ACCESS_LOG_OFF: none).  A thread's buffered
	 * lines go to the fd of their own format, so a reload that changes
	 * access_log never puts lines of one format in the other's file.
	 */
	atomic_int		 access_fds[2];
	atomic_int		 access_format;
	atomic_int		 httperr_fd;
	atomic_uint		 threads_done;
	struct fe_pool		**pools;	/* index = current conf pool index (thread 0) */
	size_t			 npools;
	struct fe_pool		*retired_pools;	/* removed by reloads (kept: requests may hold them) */
	struct site_stats	*site_stats;	/* every site name ever configured */
	/* TLS (tls.c): written by thread 0 only, but the ticket keys */
	_Atomic(struct tls_set *) tls;		/* contexts for new handshakes, or NULL */
	struct tls_pems		 tls_pems;	/* certificates and keys the master sent */
	pthread_rwlock_t	 tls_keys_lock;	/* guards tls_keys (read per ticket) */
	struct ctl_tls_keys	 tls_keys;	/* session ticket keys from the master */
	EVP_CIPHER		*tls_aes;	/* tickets' cipher, fetched once */
	struct loop_timer	 stats_timer;	/* thread 0: counters to the master */
	bool			 shutting_down;
	uint64_t		 shutdown_ms;
	atomic_bool		 lb_draining;	/* a drain began (CTL_DRAIN): health_path
						 * says 503, no connection is kept alive */
	bool			 handover;	/* stopping for an upgrade (struct ctl_shutdown) */
};

/* Connection states. */
enum conn_state {
	CONN_IDLE = 0,		/* keep-alive, waiting for a request */
	CONN_PROXY,		/* reading the PROXY protocol header (proxyin.c): the
				 * first state on a proxy_protocol listener */
	CONN_HEAD,		/* receiving a header section */
	CONN_BODY_DISCARD,	/* reading and dropping a body nobody wants */
	CONN_HANDLER,		/* a handler is working (async) */
	CONN_SEND,		/* output blocked on a full socket buffer */
	CONN_LINGER,		/* closing: draining input so the reply is not reset */
	CONN_TLS,		/* TLS handshake (tls.c), before the first request */
	CONN_CLOSED
};

#define CF_KEEPALIVE	0x01	/* this request's connection may persist */
#define CF_WANT_WRITE	0x02	/* LOOP_WRITE is asked for */
#define CF_CLOSE	0x04	/* close once the output is sent */
#define CF_LINGER	0x08	/* ... and linger (input may still come) */
#define CF_INPROC	0x10	/* inside process_input(): handlers must not re-enter */
#define CF_NOREAD	0x20	/* pool request: input it cannot take now came (pipelined
				 * request, EOF): EPOLLIN is off until it asks again */
#define CF_PERIP	0x40	/* counted in max_connections_per_ip (perip.c) */
#define CF_TLS_PENDING	0x80	/* a read of what OpenSSL holds is deferred (cio.c) */

/* A piece of response body still to send: memory or a file range. */
struct sendseg {
	const char	*p;		/* memory, or NULL for a file range */
	uint64_t	 off;		/* file offset (file ranges) */
	uint64_t	 len;
};

#define CONN_MAX_SEGS	(2 * RANGE_MAX + 2)

/* The state of the request being served (one FE_BLOCK). */
struct req {
	struct http_request	 h;
	uint64_t		 start_ns;
	struct fe_site		*site;
	int			 status;	/* response status, for the log */
	uint64_t		 bytes;		/* response bytes queued (headers + body) */
	const char		*reason;	/* httperr reason token, or NULL */
	const char		*queue;		/* pool name for httperr, or NULL */
	struct fe_pool		*poolp;		/* pool when proxied, else NULL */
	uint32_t		 retry_after;	/* Retry-After for a 503, seconds */
	bool			 body_taken;	/* a handler reads the body (else it is discarded) */
	struct sendseg		 segs[CONN_MAX_SEGS];
	unsigned		 nsegs;
	struct fentry		*fent;		/* file the segs refer to (held) */
	char			 path[4096 + 2];	/* normalized path (NUL-terminated); longer -> 414 */
	size_t			 pathlen;
	char			 scratch[3072];	/* part headers for multipart ranges */
	size_t			 scratchlen;
	char			 boundary[24];
	char			*owned;		/* malloc'd body (listings), freed at the end */
	const char		*target;	/* the target a pool sees when a rewrite changed
						 * it (encoded path and query, in the pin room);
						 * NULL: the client's */
	size_t			 targetlen;
	size_t			 pinned;	/* pin room bytes the header section uses */
	char			*head;		/* malloc'd copy of a header section too large
						 * for the block's pin room, or NULL */
	bool			 parsed;	/* h is a whole parsed request, pinned: every
						 * slice points into the pin room or `head` */
	bool			 logged;	/* its access-log line is written (once) */
};

/* Which way a connection's data rate is measured (rate.c). */
enum rate_dir {
	RATE_NONE = 0,
	RATE_IN,	/* a request head or body from the client: min_request_rate */
	RATE_OUT	/* a response the client is slow to read: min_response_rate */
};

/*
 * A request block is one FE_BLOCK: struct req, then the pin room, where the
 * request's header section is copied when it is parsed (http1.c: req_pin()),
 * so that nothing read later (the log line, a retried request's head) points
 * into the connection's input buffer, which the body reuses.
 */
#define REQ_PIN_ROOM	(FE_BLOCK - sizeof(struct req))
_Static_assert(sizeof(struct req) + 2048 <= FE_BLOCK,
    "a request block keeps room to pin a common header section");

struct conn {
	struct loop_io		 io;
	struct loop_timer	 timer;
	uint64_t		 deadline;	/* monotonic ms: when the current wait ends */
	struct fe_thread	*t;
	struct fe_gen		*gen;		/* configuration its current request uses (held) */
	struct conn		*prev, *next;	/* thread's list */
	uint8_t			 state;		/* enum conn_state */
	uint8_t			 flags;		/* CF_* */
	uint8_t			 proto;		/* enum conn_proto */
	bool			 internal;	/* not a client's socket: an HTTP/2 stream's
						 * request (h2stream.c); not counted as a
						 * connection */
	bool			 detached;	/* no socket at all: an HTTP/2 stream's request
						 * answered in place (http1_serve_detached()),
						 * never given to a pool */
	uint16_t		 addr;		/* listen address index */
	uint32_t		 nreq;		/* requests served on it */
	char			*ibuf;		/* input: ibuf[ipos..ilen) unread */
	uint32_t		 ipos, ilen, icap, scan;
	char			*obuf;		/* output: obuf[ooff..olen) unsent */
	uint32_t		 ooff, olen;
	struct req		*req;
	struct poolreq		*pr;		/* pool request in progress, or NULL */
	unsigned		 seg;		/* next of req->segs to send */
	uint64_t		 body_left;	/* body bytes to discard (CL) */
	struct chunked_dec	*chunk;		/* decoder when discarding chunked */
	SSL			*ssl;		/* TLS session, or NULL for cleartext */
	struct cio_out		*tls_out;	/* ciphertext the socket has not taken (cio.c) */
	/*
	 * An HTTP/2 stream's request (internal): the TLS session of the
	 * client's connection it came on, a reference of its own (SSL_up_ref)
	 * so it stays valid however long the request outlives that
	 * connection.  Its I/O is cleartext (ssl is NULL): only what the
	 * request is told about TLS comes from here (conn_tls()).
	 */
	SSL			*stream_tls;
	struct tlsvars		*tlsv;		/* what pools are told about it (tlsvars.c), or NULL */
	uint8_t			 rate_dir;	/* enum rate_dir: what is measured now */
	uint64_t		 rate_since;	/* ms: start of the current rate window */
	uint64_t		 rate_bytes;	/* bytes moved in that window */
	struct h2conn		*h2;		/* HTTP/2 session (h2.c), or NULL */
	/* an HTTP/2 stream's request: its I/O goes to the stream (h2stream.c), or NULL */
	struct h2stream		*h2s;
	union {
		struct sockaddr		sa;
		struct sockaddr_in	in;
		struct sockaddr_in6	in6;
	}			 peer;
};

/*
 * The TLS session a request on c arrived over: the connection's own, or
 * for an HTTP/2 stream its client connection's; NULL for cleartext.  For
 * what a request is told and checked (redirects, HSTS, client
 * certificates, pools' TLS values), never for I/O (that is c->ssl).
 */
static inline SSL *
conn_tls(const struct conn *c)
{
	return c->ssl != NULL ? c->ssl : c->stream_tls;
}

/* frontend.c */
struct fe_gen	*fe_gen_acquire(struct frontend *fe);
void		 fe_gen_release(struct fe_gen *g);
void		 fe_thread_sync_gen(struct fe_thread *t);

/*
 * router.c: generations and site lookup.  Building a generation cannot
 * fail: a site whose root is unavailable is built too, and answers 503.
 */
struct fe_gen	*router_build(struct frontend *fe, struct conf *c, bool owned,
		    uint32_t generation);
int		 router_addr_index(struct frontend *fe, const struct sockaddr_storage *ss,
		    socklen_t len);
void		 router_free(struct fe_gen *g);
void		 router_free_stats(struct frontend *fe);
struct fe_site	*router_site(const struct fe_gen *g, unsigned addr,
		    struct hstr host);
const struct fe_route *router_route(const struct fe_site *s, const char *path,
		    size_t len);
const struct fe_alias *router_alias(const struct fe_site *s, const char *path,
		    size_t len);
int		 router_rewrite(struct conn *c, struct req *r);
struct hstr	 router_query(const struct req *r);

/*
 * cio.c: every client read and write (TLS or not), with the system calls'
 * contract: bytes, 0 at EOF, -1 with errno (EAGAIN: wait for the loop).
 */
ssize_t		 cio_read(struct conn *c, void *buf, size_t n);
ssize_t		 cio_send(struct conn *c, const void *buf, size_t n, int flags);
ssize_t		 cio_writev(struct conn *c, const struct iovec *iov, int cnt);
ssize_t		 cio_sendfile(struct conn *c, int fd, off_t *off, size_t n);
ssize_t		 cio_sendfile_head(struct conn *c, const void *head, size_t hlen, int fd,
		    off_t *off, size_t n);
void		 cio_check_pending(struct conn *c);
bool		 cio_drained(struct conn *c, size_t got, size_t asked);
int		 cio_init(void);
void		 cio_fini(void);
void		 cio_tls_attach(struct conn *c);
void		 cio_tls_shutdown(struct conn *c, bool drop);

/* tls.c: contexts, certificate choice, tickets, the handshake */
struct tls_set;
int		 tls_init(struct frontend *fe, const struct conf *c);
void		 tls_fini(struct frontend *fe);
void		 tls_rebuild(struct frontend *fe, const struct conf *c);
void		 tls_certs(struct frontend *fe, int fd, const struct conf *c);
void		 tls_set_keys(struct frontend *fe, const struct ctl_tls_keys *k);
struct tls_set	*tls_set_acquire(struct frontend *fe);
void		 tls_set_release(struct tls_set *set);
bool		 tls_addr_on(const struct fe_thread *t, unsigned addr);
int		 tls_conn_start(struct conn *c);
void		 tls_conn_shutdown(struct conn *c);
void		 tls_conn_close(struct conn *c);

/* tlssel.c: SNI and ALPN selection (pure; the router shares the host rule) */
#define TLSSEL_EXACT	SIZE_MAX
size_t		 tlssel_host_rank(const struct strlist *hosts, const char *h, size_t n);
int		 tlssel_sni(const struct strlist *const *hosts, size_t n, const char *name,
		    size_t len);
int		 tlssel_alpn(const uint8_t prefs[CONF_ALPN_MAX], const unsigned char *in,
		    unsigned inlen,
		    const unsigned char **out, unsigned char *outlen);

/* conn.c: connections, buffers, timers */
void		 conn_accept(void *arg, uint32_t events);
void		 conn_resume_accept(void *arg);
void		*block_get(struct fe_thread *t);
void		 block_put(struct fe_thread *t, void *b);
void		*objs_take(struct fe_objs *o);
void		*objs_get(struct fe_objs *o, size_t size);
void		 objs_put(struct fe_objs *o, void *p);
size_t		 objs_trim(struct fe_objs *o, bool all, size_t keep);
void		 conn_set_deadline(struct conn *c, uint64_t ms);
void		 conn_close(struct conn *c);
void		 conn_want_write(struct conn *c, bool on);
void		 conn_release_buffers(struct conn *c);
int		 conn_ibuf(struct conn *c);
void		 conn_drain_idle(struct fe_thread *t, bool keep_idle);
void		 conn_established(struct conn *c);
void		 conn_trim(struct fe_thread *t);

struct conn	*conn_new(struct fe_thread *t, int fd, unsigned addr,
		    const struct sockaddr *peer, socklen_t plen);
struct conn	*conn_new_detached(struct fe_thread *t, unsigned addr,
		    const struct sockaddr *peer, socklen_t plen);

/* h2.c: HTTP/2 on a client connection (RFC 9113), framing by libnghttp2 */
struct h2conn;
struct h2stream;
struct nghttp2_session;
struct nghttp2_rcbuf;
/* First member of struct h2stream: the connection's list of its streams. */
struct h2link {
	struct h2link	*prev, *next;
};
void		 h2_start(struct conn *c);
struct nghttp2_session *h2_session(struct h2conn *hc);
void		 h2_link(struct h2conn *hc, struct h2link *l);
void		 h2_unlink(struct h2conn *hc, struct h2link *l);
void		 h2_free(struct conn *c);
void		 h2_drain(struct conn *c);
void		 h2_flush(struct h2conn *hc);
struct json_t;
struct json_t	*h2_stats_json(struct frontend *fe);

/* h2mem.c: nghttp2's allocator (h2mem_fill() in h2mem.h: nghttp2's type) */
void		 h2mem_trim(struct fe_thread *t, bool all);

/* h2stream.c: an HTTP/2 stream as a request: in place, or on a connection of its own */
struct h2stream	*h2s_new(struct h2conn *hc, struct conn *c, int32_t id);
void		 h2s_free(struct h2stream *st);
bool		 h2s_client_holds(const struct h2stream *st);
int		 h2s_native_copy(struct h2stream *st, char *dst, size_t n);
int		 h2s_header(struct h2stream *st, struct nghttp2_rcbuf *name,
		    struct nghttp2_rcbuf *value);
int		 h2s_headers_done(struct h2stream *st, bool end_stream);
int		 h2s_body(struct h2stream *st, const uint8_t *d, size_t n);
int		 h2s_body_end(struct h2stream *st);
int		 h2s_trailer(struct h2stream *st, struct nghttp2_rcbuf *name,
		    struct nghttp2_rcbuf *value);
/* the I/O of a connection with c->h2s (cio.c, conn.c): as the system calls' */
struct iovec;
ssize_t		 h2s_cio_read(struct h2stream *st, void *buf, size_t n);
ssize_t		 h2s_cio_writev(struct h2stream *st, const struct iovec *iov, int cnt);
ssize_t		 h2s_cio_sendfile(struct h2stream *st, int fd, off_t *off, size_t n);
void		 h2s_cio_events(struct h2stream *st);
void		 h2s_cio_closed(struct h2stream *st);

/* perip.c: max_connections_per_ip */
bool		 perip_admit(struct conn *c, unsigned max);
void		 perip_release(struct conn *c);

/* rate.c: minimum data rates (min_request_rate, min_response_rate) */
void		 rate_begin(struct conn *c, enum rate_dir dir);
void		 rate_arm(struct conn *c);
void		 rate_end(struct conn *c);
bool		 rate_too_slow(struct conn *c, uint64_t now);
bool		 rate_too_slow_n(struct conn *c, uint64_t now, unsigned times);
bool		 rate_stream_waits(struct conn *c, const struct h2stream *st);
uint64_t	 rate_due(const struct conn *c);
static inline void
rate_add(struct conn *c, uint64_t n)
{
	c->rate_bytes += n;
}

/*
 * tlsvars.c: what pools are told about a TLS connection, computed once per
 * connection (c->tlsv) on its first pool request.  A value is present when
 * present[v]; its text is data + off[v], len[v] bytes, NUL-terminated.
 */
/* TV_PROTOCOL, ...: one per value of tlsnames.h (meanings: struct weir_tls) */
#define TV_ENUM(e, h, cgi, m)	TV_##e,
enum tlsvar {
	TLS_VALUES(TV_ENUM)
	TV_N
};
#undef TV_ENUM
struct tlsvars {
	unsigned		 refs;		/* the connection, and its HTTP/2 streams' */
	bool			 present[TV_N];
	uint32_t		 off[TV_N];
	uint32_t		 len[TV_N];
	char			 data[];
};
struct tlsvars	*tlsvars_compute(SSL *ssl);
int		 tlsvars_get(struct conn *c, const struct tlsvars **out);
void		 tlsvars_share(struct conn *c, struct conn *stream);
void		 tlsvars_put(struct tlsvars *tv);
bool		 tlsvars_reserved_header(struct hstr name);
const char	*tlsvars_header_name(enum tlsvar v);
const char	*tlsvars_cgi_name(enum tlsvar v);
size_t		 tlsvars_headers_size(const struct tlsvars *tv);
char		*tlsvars_put_headers(char *p, const struct tlsvars *tv);

/* tlsclient.c: client certificates (client_ca, client_verify) */
int		 tlsclient_ctx(SSL_CTX *ctx, const struct conf_site *cs,
		    const struct tls_site_pem *sp, char *err);
void		 tlsclient_select(SSL *ssl, SSL_CTX *ctx);
int		 tlsclient_check(const struct conn *c, const struct conf_site *cs);

/* https.c: https_redirect and hsts */
bool		 https_redirects(const struct conn *c, const struct req *r);
int		 https_redirect(struct conn *c, struct req *r);
char		*https_put_hsts(char *p, const struct conn *c, const struct fe_site *site);
bool		 https_replaces(struct hstr name, const struct conn *c, const struct fe_site *site);

/* http1.c: requests and responses on a connection */
#define HTTP1_PLAIN_ON_TLS	"Plain_HTTP_To_HTTPS"	/* httperr token, and the 400's text */
void		 http1_on_io(void *arg, uint32_t events);
void		 http1_on_timer(void *arg);
void		 http1_start(struct conn *c);
void		 http1_serve_parsed(struct conn *c);
void		 http1_abort(struct conn *c, int status, const char *token,
		    const char *why);
int		 http1_error(struct conn *c, struct req *r, int status,
		    const char *token);
char		*http1_resp_begin(struct conn *c, struct req *r, int status,
		    size_t *avail);
void		 http1_resp_commit(struct conn *c, struct req *r, char *end);
void		 http1_request_done(struct conn *c);
int		 http1_send_queued(struct conn *c);
void		 http1_send_continue(struct conn *c);
void		 http1_handler_error(struct conn *c, int status, const char *token);
void		 http1_client_fault(struct conn *c, int status, const char *token,
		    const char *why);
void		 http1_drop(struct conn *c, int status, enum fe_close_reason why);
void		 http1_redispatch_static(struct conn *c);
void		 http1_req_put(struct fe_thread *t, struct req *r);
int		 http1_serve_detached(struct conn *c, const char *head, size_t n);
void		 http1_detached_done(struct conn *c);
void		 http1_log_gone(struct conn *c);
void		 conn_set_events(struct conn *c, uint32_t events);
size_t		 fmt_u64(char *out, uint64_t v);
size_t		 fmt_ip(char *out, const struct sockaddr *sa);
void		 fe_update_date(struct fe_thread *t);

/* The thread running this code (set before its loop runs). */
extern _Thread_local struct fe_thread *fe_self;

/* queue.c: pools in the front end: state, workers, the bounded queue */
struct fe_worker {
	struct fe_worker	*next;
	struct fe_pool		*pool;
	uint32_t		 id;		/* master's worker id (0: external upstream) */
	pid_t			 pid;
	struct sockaddr_storage	 addr;		/* its socket (unix) or address (tcp) */
	socklen_t		 addrlen;
	unsigned		 inflight;	/* requests on it now (pool lock) */
	unsigned		 refs;		/* proxies and idle upstreams holding it */
	bool			 draining;	/* no new requests */
	bool			 gone;		/* exited */
	bool			 dead;		/* its socket refuses connections: skip it */
	bool			 drained_sent;	/* CTL_WORKER_DRAINED already sent */
	uint64_t		 requests;	/* served, total */
	uint32_t		 unreported;	/* served since the last CTL_STATS */
	uint32_t		 inflight_sent;	/* inflight in the last CTL_STATS */
	struct pwait		*active;	/* requests in flight on it (pool lock) */
	uint64_t		 assigned;	/* requests given to it: ties go to the least used */
	struct ctl_inflight	 lost[CTL_REPORT_MAX];	/* requests it failed, for the report */
	uint32_t		 nlost;
	uint64_t		 suspect_until;	/* mono ms: a request just failed on it; skip it */
	bool			 reserved;	/* kept free for a retry that runs alone */
	bool			 alone;		/* runs such a retry: gets no other request */
	unsigned		 nidle;		/* single_conn: idle connections, all threads (pool lock) */
	bool			 drop_idle;	/* single_conn: threads holding one must close them */
	struct fe_widle		*idle;		/* [nthreads]: kept-alive connections to it */
};

/*
 * The queue's view of a pool request; the first member of struct poolreq.
 * Links and states change under the pool lock; once a request leaves the
 * queue (given a worker or failed) it is handed to its own thread through
 * that thread's ready list.
 */
enum pwait_state {
	PW_NONE = 0,
	PW_QUEUED,	/* in the pool's queue */
	PW_READY,	/* out of the queue, on its thread's ready list */
	PW_ACTIVE	/* holding a worker slot */
};

struct pwait {
	struct pwait		*qprev, *qnext;	/* pool queue */
	struct pwait		*rnext;		/* thread ready list */
	struct pwait		*aprev, *anext;	/* worker's active list */
	struct fe_thread	*t;
	struct fe_worker	*w;		/* assigned worker */
	uint64_t		 enq_ms;
	int			 qstate;	/* enum pwait_state */
	int			 fail;		/* status when the wait failed, else 0 */
	const char		*fail_token;	/* httperr reason for it */
	uint32_t		 retry_after;
	bool			 alone;		/* runs alone on its worker (a retry, see poolreq.c) */
};

struct fe_pool {
	pthread_mutex_t		 lock;
	int			 idx;		/* in the current generation; -1 when removed */
	char			 name[CONF_NAME_MAX + 1];
	/* the settings the front end uses, copied under the lock on (re)load */
	unsigned		 max_conns;
	unsigned		 queue_length;
	uint64_t		 queue_timeout;
	uint64_t		 response_timeout;
	unsigned		 recycle_requests;
	bool			 single_conn;	/* workers serve one connection at a time (FastCGI) */
	bool			 fastcgi;
	bool			 buffering;	/* request_buffering: bodies read whole first */
	uint64_t		 resp_buffer;	/* response_buffer: bytes kept for a slow client */
	struct fe_pool		*next_retired;
	int			 state;		/* enum pool_state */
	uint32_t		 retry_after;	/* s, for 503 when disabled */
	char			 reason[64];
	struct fe_worker	*workers;
	struct pwait		*qhead, *qtail;	/* FIFO of waiting requests */
	unsigned		 nalone;	/* of them, those that must run alone */
	unsigned		 qlen;
	bool			 demand_sent;	/* asked the master for workers */
	uint64_t		 demand_at;
	bool			 stats_dirty;
	struct pool_counters	*pc;		/* [nthreads] */
};

void		 queue_init(struct frontend *fe);
void		 queue_free(struct frontend *fe);
void		 queue_apply_conf(struct frontend *fe, const struct conf *c);
struct fe_pool	*queue_pool_by_name(struct frontend *fe, const char *name);
void		 queue_ctl(struct frontend *fe, const struct ctl_hdr *hdr,
		    const void *payload);
int		 queue_acquire(struct fe_pool *p, struct pwait *pw, struct fe_thread *t,
		    struct fe_worker *avoid);
uint64_t	 queue_wait_ms(struct fe_pool *p, const struct pwait *pw);
int		 queue_waited(struct fe_pool *p, struct pwait *pw);
void		 queue_release(struct fe_pool *p, struct pwait *pw, bool served);
void		 queue_cancel(struct fe_pool *p, struct pwait *pw);
void		 queue_worker_put(struct fe_worker *w);
void		 queue_worker_dead(struct fe_worker *w);
void		 queue_worker_lost(struct fe_worker *w, struct pwait *pw);
void		 queue_worker_suspect(struct fe_worker *w);
void		 queue_send_stats(struct frontend *fe);
void		 queue_run_ready(struct fe_thread *t);

/* upstream.c: connections to workers, kept alive per thread */
#define UPSTREAM_SINGLE_IDLE_MS	1000	/* idle life for single-connection workers */

struct upconn {
	struct loop_io		 io;
	struct fe_thread	*t;
	struct fe_worker	*w;		/* holds a reference */
	struct upconn		*prev, *next;	/* thread's idle list */
	struct upconn		*wprev, *wnext;	/* idle list of this thread to w */
	void			*owner;		/* request using it, NULL when idle */
	unsigned		 nreq;		/* requests it finished (0: new) */
	uint64_t		 idle_since;	/* ms, while idle */
};

/*
 * Requests w takes at once (pool lock): max_conns; a FastCGI worker process
 * (php-cgi) serves one connection at a time, while an upstream weir does not
 * start (php-fpm: pid 0) takes max_conns connections, one request each.
 */
static inline unsigned
worker_slots(const struct fe_worker *w)
{
	return w->pool->single_conn && w->pid != 0 ? 1 : w->pool->max_conns;
}

/*
 * One thread's idle connections to one worker, most recently used first:
 * touched only by that thread, so no lock; a cache line each so threads do
 * not share one.
 */
struct fe_widle {
	_Alignas(64) struct upconn *head;
	unsigned		 n;
	unsigned		 held;		/* single_conn: n, under the pool lock */
};

struct upconn	*upstream_get(struct fe_thread *t, struct fe_worker *w, loop_io_cb cb,
		    void *owner);
void		 upstream_put(struct upconn *up, bool reuse);
void		 upstream_close(struct upconn *up);
void		 upstream_drop_idle(struct fe_thread *t, bool all);
void		 upstream_set(struct upconn *up, uint32_t events);
bool		 upstream_stale(const struct upconn *up, int err);

/*
 * poolreq.c - what every pool request shares, whatever the protocol to the
 * worker: the queue wait, the worker slot and its upstream connection, the
 * client's side while the request runs, and the rules for a failed worker
 * (retry elsewhere or answer 502/503/504).  A protocol handler (proxy.c:
 * HTTP; fastcgi.c: FastCGI) embeds struct poolreq first and supplies the
 * callbacks.
 */
enum pr_phase {
	PR_SPOOL = 0,	/* reading the client's body before queueing (spool.c) */
	PR_WAIT,	/* in the pool's queue */
	PR_SEND,	/* sending the request to the worker */
	PR_RECV,	/* reading the response (head) */
	PR_BODY		/* streaming the response body to the client */
};

/* How a worker failed a request, which decides whether it may go elsewhere. */
enum upfail {
	UF_UNDELIVERED,	/* the worker never took the request (reset, refused) */
	UF_DELIVERED,	/* it may have processed it: only idempotent ones retry, once */
	UF_PROTOCOL	/* it answered something malformed: 502, event 1011 */
};

/* What became of the client's request body when the request ends early. */
enum pr_body {
	PRB_TAKEN = 0,	/* none, or all of it was read: the connection may go on */
	PRB_UNREAD,	/* not touched: HTTP/1 discards it as usual */
	PRB_PARTIAL	/* partly read: the stream is lost, close after the answer */
};

struct poolreq_ops {
	/* The upstream is connected (or reused): start a new exchange (may be NULL). */
	void		(*start)(struct poolreq *pr);
	/* Move bytes every way they can move; called on any event. */
	void		(*pump)(struct poolreq *pr);
	/* Set the client's event interest (while waiting in the queue). */
	void		(*events)(struct poolreq *pr);
	/* Before a retry: forget the attempt.  -1: the request cannot be rebuilt. */
	int		(*rewind)(struct poolreq *pr);
	/* May the request be sent again (its body is not lost)? */
	bool		(*replayable)(const struct poolreq *pr);
	enum pr_body	(*body)(const struct poolreq *pr);
	/* The client is gone while the worker has the request (may be NULL). */
	void		(*abort)(struct poolreq *pr);
	/* Free everything, the struct included. */
	void		(*free)(struct poolreq *pr);
};

struct poolreq {
	struct pwait		 q;		/* first: the queue's view */
	const struct poolreq_ops *ops;
	struct conn		*c;
	struct req		*r;
	struct fe_pool		*pool;
	struct fe_thread	*t;
	struct upconn		*up;		/* while a worker is assigned */
	int			 phase;		/* enum pr_phase */
	bool			 idempotent;	/* may be retried after delivery */
	bool			 retried;	/* that one retry was used */
	bool			 client_sent;	/* response bytes reached the client */
	bool			 client_blocked; /* output waits on the client (send_timeout) */
	bool			 body_started;	/* some of the body was taken from the client */
	bool			 want_continue;	/* send 100 Continue once a worker has it */
	bool			 body_open;	/* body still read while the answer comes (proxy.c) */
	unsigned		 attempts;	/* workers that failed it */
	uint32_t		 first_worker;	/* the worker that failed it first, after delivery */
	pid_t			 first_pid;
	uint32_t		 up_events;	/* the upstream's events of the current pump */
	bool			 released;	/* the worker is given back; the client is still served */
	char			 method[16];	/* for the master's in-flight report */
	char			 target[200];
	uint64_t		 start_ns;
};

void		 poolreq_init(struct poolreq *pr, const struct poolreq_ops *ops,
		    struct conn *c, struct req *r, struct fe_pool *pool);
void		 poolreq_enqueue(struct poolreq *pr);
void		 poolreq_assigned(struct pwait *pw);
void		 poolreq_describe(const struct pwait *pw, struct ctl_inflight *f,
		    uint64_t now_ns);
void		 poolreq_done(struct poolreq *pr, bool reuse);
void		 poolreq_release_worker(struct poolreq *pr, bool reuse);
void		 poolreq_fail(struct poolreq *pr, int status, const char *token,
		    uint32_t retry);
void		 poolreq_failed(struct poolreq *pr, const char *why, enum upfail how);
int		 poolreq_reconnect(struct poolreq *pr);
struct conn	*poolreq_leave(struct poolreq *pr, bool reuse);
void		 poolreq_restart(struct poolreq *pr, bool reuse);
uint64_t	 poolreq_response_timeout(const struct poolreq *pr);
void		 poolreq_client_event(struct conn *c, uint32_t events);
uint32_t	 poolreq_client_read(const struct poolreq *pr, bool body, bool room);
void		 poolreq_client_timeout(struct conn *c);
ssize_t		 poolreq_client_writev(struct poolreq *pr, const struct iovec *iov, int n);
void		 poolreq_client_wrote(struct poolreq *pr, size_t w);
void		 poolreq_client_blocked(struct poolreq *pr);
void		 poolreq_client_flushed(struct poolreq *pr);
void		 poolreq_abort(struct conn *c);

/* forward.c: the client's address behind trusted proxies */
bool		 forward_trusted(const struct conf_server *s, const struct sockaddr *peer);
void		 forward_client(const struct http_header *hs, size_t n,
		    const struct cidr *tr, size_t ntr, const struct ipaddr *peer,
		    struct ipaddr *client);
/*
 * proxyproto.c: the PROXY protocol header, v1 and v2 (pure).  Returns the
 * header's length, WEIR_AGAIN while buf[0..n) can still become a header
 * (so all of it may be consumed), or WEIR_ERROR with *why.
 */
struct proxyproto {
	int			 version;	/* 1 or 2 */
	bool			 local;		/* v2 LOCAL, v1 UNKNOWN, v2 UNSPEC or AF_UNIX:
						 * the connection's own addresses stand */
	struct sockaddr_storage	 src;		/* !local: the client (AF_INET/AF_INET6, port) */
	struct sockaddr_storage	 dst;		/* !local: the address it connected to */
};
ssize_t		 proxyproto_parse(const void *buf, size_t n, struct proxyproto *pp,
		    const char **why);

/* lbhealth.c: health_path, answered by the front end itself */
bool		 lbhealth_answer(struct conn *c, struct req *r);

/* proxyin.c: the first stage of a connection on a proxy_protocol listener */
void		 proxyin_start(struct conn *c);

/* spool.c: request bodies read whole before the request is queued */
struct spool {
	char		*mem;		/* the first bytes (up to SPOOL_MEM) */
	size_t		 memlen, memcap;
	int		 fd;		/* the rest: a nameless file, -1 when none */
	uint64_t	 size;		/* body bytes held */
	uint64_t	 left;		/* Content-Length: bytes still to come */
	bool		 chunked;
	bool		 done;		/* the whole body is here */
	struct chunked_dec chunk;
};
void		 spool_init(struct spool *sp, const struct http_request *h);
void		 spool_free(struct spool *sp);
int		 spool_take(struct spool *sp, struct conn *c, const char **why);
int		 spool_append(struct spool *sp, const char *d, size_t n, const char *state_dir);
ssize_t		 spool_send(const struct spool *sp, uint64_t off, struct conn *c);
ssize_t		 spool_get(const struct spool *sp, uint64_t off, char *buf, size_t n,
		    const char **p);
int		 spool_begin(struct poolreq *pr, struct spool *sp);
int		 spool_pump(struct poolreq *pr, struct spool *sp);

/* proxy.c: the pool handler: requests to workers over HTTP/1.1 */
struct handler	*proxy_new(struct frontend *fe, struct fe_pool *pool,
		    const struct conf_app *app);

/* rewrite.c: rewrite = and return = rules, before routing */
enum rewrite_result {
	RWR_NONE = 0,	/* no rule changed the request */
	RWR_PATH,	/* path and target are the rewritten request */
	RWR_ANSWER,	/* answer *status (a 3xx to the target) */
	RWR_LOOP	/* more than REWRITE_MAX rewrites: 500 */
};
#define REWRITE_MAX	10
int		 rewrite_run(const struct conf_rewrite *rw, size_t n, void *md,
		    char *path, size_t pathsz, size_t *pathlen, struct hstr query,
		    char *target, size_t tcap, size_t *tlen, int *status);
void		*rewrite_match_data(void);
void		 rewrite_match_data_free(void *md);

/* acmechal.c: ACME HTTP-01 tokens the front end answers */
int		 acmechal_set(const struct ctl_acme_challenge *msg);
int		 acmechal_answer(struct conn *c, struct req *r);

/* stats.c: counters and the snapshot for the master */
void		 stats_request(struct conn *c, struct req *r);
void		 stats_hist(struct hist *h, uint64_t us);
int		 stats_snapshot(struct frontend *fe);

/* fastcgi.c: the FastCGI pool handler and script resolution */
int		 fastcgi_resolve(struct conn *c, struct req *r,
		    const struct conf_script **sc, size_t *sn_len);
int		 fastcgi_request(struct conn *c, struct req *r, struct fe_pool *pool,
		    size_t sn_len, bool via_app);
int		 fastcgi_front(struct conn *c, struct req *r, struct fe_pool *pool,
		    const char *file, const char *prefix, size_t plen);
int		 fastcgi_fallback(struct conn *c, struct req *r, int resolved);
struct handler	*fastcgi_new(struct frontend *fe, struct fe_pool *pool,
		    const struct conf_app *app);

/* static.c */
struct handler	*static_new(struct fe_site *s, size_t skip);

/* siteroot.c: a site's root, per thread; its outages told to the master */
void		 siteroot_init(struct frontend *fe, struct fe_site *s);
void		 siteroot_free(struct fe_site *s);
int		 siteroot_fd(struct conn *c, const struct fe_site *s);
int		 siteroot_unavailable(struct conn *c, struct req *r);
int		 siteroot_errno_status(struct conn *c, struct req *r,
		    const struct fe_site *s, int err);
void		 siteroot_tick(struct fe_thread *t);

/* fcache.c */
struct fentry {
	struct fentry	*hnext;		/* hash chain */
	struct fentry	*lprev, *lnext;	/* LRU, most recent first */
	uint32_t	 hash;
	int		 rootfd;
	char		*path;		/* relative to root, no leading '/' */
	size_t		 pathlen;
	int		 fd;		/* -1 for directories and errors */
	int		 err;		/* errno of the open, 0 if ok */
	mode_t		 mode;
	dev_t		 dev;
	ino_t		 ino;
	uint64_t	 size;
	time_t		 mtime;
	long		 mtime_ns;
	char		 etag[ETAG_MAX];
	size_t		 etaglen;
	char		 lastmod[HTTPDATE_LEN + 1];
	const char	*mime;
	char		*data;		/* whole content for small files, or NULL */
	uint64_t	 checked;	/* ms of the last check */
	unsigned	 refs;		/* held by responses in flight */
	bool		 dead;		/* evicted while held: freed on release */
};
struct fcache	*fcache_new(unsigned max, uint64_t valid_ms);
void		 fcache_free(struct fcache *fc);
void		 fcache_configure(struct fcache *fc, unsigned max, uint64_t valid_ms);
struct fentry	*fcache_open(struct fcache *fc, uint64_t now, int rootfd,
		    int symlinks, const char *path, size_t len);
void		 fcache_release(struct fcache *fc, struct fentry *e);
void		 fcache_forget_root(struct fcache *fc, int rootfd);

/* accesslog.c */
void		 alog_request(struct conn *c, struct req *r);
void		 alog_httperr(struct conn *c, struct req *r, int status,
		    const char *reason);
void		 logbuf_flush(struct fe_thread *t, bool force);

/* fcgi.c: FastCGI 1.0 records and the CGI response (RFC 3875 §6) */
#define FCGI_HEADER_LEN		8	/* every record starts with this */
#define FCGI_MAX_CONTENT	65535	/* contentLength is 16 bits */
#define FCGI_MAX_RECORD		(FCGI_HEADER_LEN + FCGI_MAX_CONTENT + 1)
					/* largest record the encoders write; a
					 * PARAMS buffer this big takes any pair */
enum fcgi_type {			/* record types (FastCGI 1.0 §8) */
	FCGI_BEGIN_REQUEST = 1,
	FCGI_ABORT_REQUEST = 2,
	FCGI_END_REQUEST = 3,
	FCGI_PARAMS = 4,
	FCGI_STDIN = 5,
	FCGI_STDOUT = 6,
	FCGI_STDERR = 7,
	FCGI_DATA = 8,
	FCGI_GET_VALUES = 9,
	FCGI_GET_VALUES_RESULT = 10,
	FCGI_UNKNOWN_TYPE = 11
};
#define FCGI_RESPONDER		1	/* FCGI_BEGIN_REQUEST role */
#define FCGI_AUTHORIZER		2
#define FCGI_FILTER		3
#define FCGI_REQUEST_COMPLETE	0	/* FCGI_END_REQUEST protocolStatus */
#define FCGI_CANT_MPX_CONN	1
#define FCGI_OVERLOADED		2
#define FCGI_UNKNOWN_ROLE	3

/*
 * Encoders: each writes whole records into buf[0..cap) and returns their
 * length, or WEIR_ERROR (nothing usable written) when cap is too small or an
 * argument is out of range (request id 0, len > FCGI_MAX_CONTENT).  Records
 * are padded to a multiple of 8 bytes.  fcgi_header() is for writev(): it
 * writes only the 8-byte header of a record with clen (<= 65535) content
 * bytes and returns the number of zero padding bytes to send after them.
 */
size_t		 fcgi_header(uint8_t out[FCGI_HEADER_LEN], enum fcgi_type type,
		    uint16_t id, size_t clen);
ssize_t		 fcgi_begin_request(void *buf, size_t cap, uint16_t id,
		    uint16_t role, bool keep_conn);
ssize_t		 fcgi_abort_request(void *buf, size_t cap, uint16_t id);
ssize_t		 fcgi_stdin(void *buf, size_t cap, uint16_t id, const void *data,
		    size_t len);	/* len 0: the empty end-of-stream record */
ssize_t		 fcgi_get_values(void *buf, size_t cap);

/*
 * The FCGI_PARAMS stream, built pair by pair into a caller's buffer: whole
 * pairs in records of at most FCGI_PARAMS_MAX content bytes (what php-cgi
 * and php-fpm accept).  add() returns 0, WEIR_AGAIN (buffer full: finish,
 * send, init, add again) or WEIR_ERROR (a pair no record can carry).
 */
#define FCGI_PARAMS_MAX		65528	/* content + padding <= 65535 */
struct fcgi_params {
	uint8_t		*buf;		/* caller's, cap bytes; records from 0 */
	size_t		 cap;
	size_t		 len;		/* bytes written so far */
	size_t		 rec;		/* offset of the open record's header */
	size_t		 clen;		/* content bytes in the open record */
	bool		 open;		/* a record is open (header not written) */
	uint16_t	 id;		/* request id of every record */
};
void		 fcgi_params_init(struct fcgi_params *p, void *buf, size_t cap,
		    uint16_t id);
int		 fcgi_params_add(struct fcgi_params *p, const char *name,
		    size_t nlen, const char *value, size_t vlen);
ssize_t		 fcgi_params_finish(struct fcgi_params *p, bool last);

/* What the decoder found; data points into the chunk given to it. */
enum fcgi_ev_type {
	FCGI_EV_NONE = 0,	/* the whole chunk was consumed, nothing to say */
	FCGI_EV_STDOUT,		/* data, len: response bytes (never len 0) */
	FCGI_EV_STDERR,		/* data, len: error-stream bytes (never len 0) */
	FCGI_EV_END_REQUEST,	/* app_status, protocol_status: request over */
	FCGI_EV_VALUES,		/* values: an FCGI_GET_VALUES_RESULT */
	FCGI_EV_UNKNOWN_TYPE	/* unknown_type: the app did not know a type */
};
struct fcgi_values {		/* each -1 when the application omitted it */
	long		 max_conns;	/* FCGI_MAX_CONNS */
	long		 max_reqs;	/* FCGI_MAX_REQS */
	long		 mpxs_conns;	/* FCGI_MPXS_CONNS (1: multiplexes) */
};
struct fcgi_event {
	enum fcgi_ev_type type;
	const char	*data;		/* STDOUT, STDERR: inside the caller's chunk */
	size_t		 len;
	uint32_t	 app_status;	/* END_REQUEST */
	uint8_t		 protocol_status; /* END_REQUEST: FCGI_REQUEST_COMPLETE.. */
	uint8_t		 unknown_type;	/* UNKNOWN_TYPE */
	struct fcgi_values values;	/* VALUES */
};

/* The incremental record decoder: plain data, no allocation, no limits. */
struct fcgi_dec {
	const char	*err;		/* sticky: every later call fails with it */
	uint8_t		 hdr[FCGI_HEADER_LEN]; /* header being gathered */
	uint8_t		 hlen;		/* bytes in hdr; 0 between records */
	uint8_t		 type;		/* current record's type */
	uint16_t	 expect;	/* request in progress, 0 when none */
	uint32_t	 clen;		/* content bytes left in the record */
	uint32_t	 plen;		/* padding bytes left */
	uint8_t		 body[8];	/* END_REQUEST / UNKNOWN_TYPE body */
	uint8_t		 blen;
	uint8_t		 nvstate;	/* GET_VALUES_RESULT pair parser: */
	uint8_t		 nvlgot;	/*   length bytes gathered */
	uint32_t	 nvlen[2];	/*   name, value length */
	uint32_t	 nvgot;		/*   bytes of name or value seen */
	char		 nvname[16];	/*   name prefix */
	bool		 nvknown;	/*   the name is one of the three */
	long		 nvacc;		/*   value so far */
	struct fcgi_values vals;	/*   result so far */
};
void		 fcgi_dec_init(struct fcgi_dec *d);
void		 fcgi_dec_expect(struct fcgi_dec *d, uint16_t id);
ssize_t		 fcgi_dec_next(struct fcgi_dec *d, const void *buf, size_t len,
		    struct fcgi_event *ev, const char **why);
int		 fcgi_dec_eof(const struct fcgi_dec *d, const char **why);

/* The CGI response header section (RFC 3875 §6.2, §6.3) on FCGI_STDOUT. */
enum fcgi_cgi_kind {
	FCGI_CGI_DOCUMENT = 0,		/* no Location: status 200 or Status */
	FCGI_CGI_LOCAL_REDIRECT,	/* only "Location: /abs-path": re-dispatch */
	FCGI_CGI_CLIENT_REDIRECT	/* Location otherwise: 302 or Status */
};
struct fcgi_cgi {
	char		*buf;		/* caller's: the header section is copied */
	size_t		 cap;		/*   here; cap is the section's limit */
	size_t		 len;		/* bytes in buf */
	size_t		 line;		/* offset of the current line in buf */
	struct http_header *fields;	/* caller's array for the other fields */
	size_t		 maxfields;
	const char	*err;		/* sticky error */
	bool		 done;		/* the section is complete and parsed */
	/* results, valid once fcgi_cgi_parse() returned >= 0; slices of buf */
	enum fcgi_cgi_kind kind;
	int		 status;	/* 100..999; 0 for a local redirect */
	struct hstr	 reason;	/* Status reason phrase; n 0 when none */
	struct hstr	 content_type;	/* p NULL when absent */
	struct hstr	 location;	/* p NULL when absent */
	size_t		 nfields;	/* fields[0..nfields): everything else */
};
void		 fcgi_cgi_init(struct fcgi_cgi *c, char *buf, size_t cap,
		    struct http_header *fields, size_t maxfields);
ssize_t		 fcgi_cgi_parse(struct fcgi_cgi *c, const char *data, size_t len,
		    const char **why);

/* CGI/1.1 environment helpers (RFC 3875 §4.1.18) */
size_t		 fcgi_env_name(char *out, size_t cap, const char *name,
		    size_t nlen);
bool		 fcgi_env_collides(const struct http_header *h, size_t n,
		    size_t i);
int		 fcgi_script_split(const char *p, size_t len,
		    bool (*mapped)(const char *seg, size_t n, void *arg),
		    bool (*exists)(const char *prefix, size_t n, void *arg), void *arg,
		    size_t *sn_len);

#endif
