/*
 * host.h - weir-host, the worker of `kind = native` pools: the map of the
 * component.
 *
 * weir-host takes its listening Unix socket on fd 3 (LISTEN_FDS=1, the
 * systemd convention, like every weir worker), loads the pool's modules
 * (checking each one's ABI from the file before any of its code runs),
 * speaks HTTP/1.1 to the front end and runs the modules' handlers on a fixed
 * pool of threads.
 *
 * Threads: the main thread runs the event loop (accept, read request heads,
 * answer health pings, take connections back from handler threads, signals).
 * A connection with a complete request head leaves the loop and is queued;
 * one of `threads` handler threads takes it, runs the request with blocking
 * I/O (poll with timeouts), and hands it back through an eventfd.  So a
 * connection belongs to exactly one thread at a time and needs no lock; the
 * queue and the done list are under host.qlock.
 *
 * Files: host.c (main, arguments, signals, the thread pool), modload.c
 * (loading and the ABI check), hostconn.c (connections, request heads,
 * serving one request), hostapi.c (the module API of include/weir/module.h:
 * request, body, response).
 */
#ifndef WEIR_HOST_H
#define WEIR_HOST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weir/module.h"
#include "arena.h"
#include "component.h"
#include "httpparse.h"
#include "loop.h"

#define HOST_EX_CONFIG		78	/* EX_CONFIG: the master disables the pool */
#define HOST_PING_PATH		"/.weir/ping"
#define HOST_BUF_INIT		16384		/* connection input buffer, grows */
#define HOST_MAX_HEAD		(1024 * 1024 + 16384)	/* front end's max + its own fields */
#define HOST_OBUF		16384		/* response buffer */
#define HOST_IO_TIMEOUT		60000		/* ms without progress reading a body / writing */
#define HOST_HEAD_TIMEOUT	60000		/* ms to complete a started request head */
#define HOST_DRAIN_MAX		(1024 * 1024)	/* unread body discarded to keep a connection */

/* One `--set module.key=value`. */
struct host_setting {
	char		*key;		/* without the module's prefix */
	char		*value;
};

/* A loaded module: the weir_ctx of the public API. */
struct weir_ctx {
	struct host		*h;
	char			*name;		/* from --module: "hello" */
	char			*file;		/* the .so */
	void			*dl;		/* dlopen handle */
	const struct weir_module *desc;		/* the module's descriptor */
	struct component	 rec;		/* its component record */
	struct host_setting	*settings;
	size_t			 nsettings;
	void			*data;		/* weir_set_data() */
	bool			 inited;	/* init() succeeded: fini() is due */
	bool			 in_init;	/* init() is running (main thread, no handlers yet) */
	char			 init_err[256];	/* last error weir_log()ged during init() */
	bool			 serialize;	/* WEIR_MODULE_NOT_THREAD_SAFE */
	pthread_mutex_t		 lock;		/* held around handle() when serialize */
};

struct host {
	const char		*pool;		/* --pool or $WEIR_POOL */
	const char		*module_dir;
	unsigned		 nthreads;
	struct weir_ctx		*mods;		/* in request order */
	size_t			 nmods;
	struct loop		*loop;
	int			 lfd;		/* listening socket (fd 3) */
	struct loop_io		 lio;
	int			 evfd;		/* handler threads -> main: conns done */
	struct loop_io		 evio;
	atomic_bool		 stopping;	/* SIGTERM: finish in-flight, then exit */
	unsigned		 busy;		/* conns owned by handler threads (main only) */
	struct hconn		*conns;		/* every open conn (main's list) */
	/* the thread pool */
	pthread_t		*threads;
	unsigned		 nstarted;
	pthread_mutex_t		 qlock;
	pthread_cond_t		 qcond;
	struct hconn		*qhead, *qtail;	/* waiting for a thread */
	struct hconn		*done;		/* handed back, for the main thread */
	bool			 quit;		/* threads: exit when the queue is empty */
};

/* One connection from the front end (or the master's pinger). */
struct hconn {
	struct host		*h;
	int			 fd;
	struct loop_io		 io;
	struct loop_timer	 timer;		/* head timeout */
	struct hconn		*qnext;		/* queue / done list */
	struct hconn		*prev, *next;	/* host.conns */
	char			*buf;		/* input: head, body, next requests */
	size_t			 len, cap;
	size_t			 rd;		/* next unconsumed input byte */
	struct http_request	 req;		/* the parsed head (points into buf) */
	bool			 close;		/* close after this request */
	bool			 queued;	/* owned by the thread pool */
	char			 obuf[HOST_OBUF];	/* output not yet sent */
	size_t			 olen;
	struct arena		 arena;		/* per request: the weir_req and its strings */
};

enum body_kind {
	BODY_NONE = 0,
	BODY_LENGTH,
	BODY_CHUNKED
};

/* One request: the weir_req of the public API; lives in hconn.arena. */
struct weir_req {
	struct hconn		*c;
	struct weir_ctx		*mod;		/* module running it, for logs */
	const char		*method, *target, *path, *query, *protocol;
	const char		**hname, **hval;
	size_t			 nheaders;
	int64_t			 content_length;	/* -1: chunked */
	bool			 head_method;	/* HEAD: no body goes out */
	/* request body */
	int			 body;		/* enum body_kind */
	uint64_t		 left;		/* BODY_LENGTH: bytes not yet read */
	struct chunked_dec	 dec;
	size_t			 dpos, dend;	/* decoded, unread chunked bytes in buf */
	bool			 body_done;
	bool			 body_failed;
	bool			 expect_100;	/* send 100 Continue before reading */
	/* response */
	int			 status;
	const char		**rname, **rval;
	size_t			 nrh, caprh;
	bool			 head_sent;
	bool			 sized;		/* Content-Length given */
	uint64_t		 out_len;	/* its value */
	uint64_t		 written;	/* body bytes accepted */
	bool			 chunked;	/* body sent chunked */
	bool			 no_body;	/* HEAD, 1xx, 204, 304 */
	bool			 failed;	/* the connection failed: stop */
	/* TLS values (hosttls.c), built on the first weir_tls() call */
	struct weir_tls		*tls;
	bool			 tls_done;
};

/* host.c */
void	 host_queue(struct host *h, struct hconn *c);
bool	 host_stopping(struct host *h);

/* modload.c */
int	 modload_all(struct host *h, char **names, size_t n, char **sets,
	    size_t nsets, bool check_only);
int	 modload_init(struct host *h);
void	 modload_fini(struct host *h);

/* hostconn.c */
void	 hostconn_accept(void *arg, uint32_t events);
void	 hostconn_returned(struct host *h, struct hconn *c);
void	 hostconn_close_idle(struct host *h);
void	 hostconn_serve(struct hconn *c);
int	 hostconn_send(struct hconn *c, const void *p, size_t n);
int	 hostconn_flush(struct hconn *c);
int	 hostconn_fill(struct hconn *c);

/* hostapi.c */
int	 hostapi_begin(struct hconn *c, struct weir_req **rp);
int	 hostapi_finish(struct weir_req *r, int rc);
void	 hostapi_drain(struct weir_req *r);

#endif
