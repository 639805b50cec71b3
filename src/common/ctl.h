/*
 * ctl.h - typed messages between the master and the front end.
 *
 * One SOCK_SEQPACKET socketpair; one message per packet: a fixed header, a
 * fixed-size payload struct per type, and optionally fds (SCM_RIGHTS).  The
 * receiver checks the payload size for the type before copying anything; an
 * unknown type or a wrong size is a protocol error: log it once and drop the
 * peer (OpenBSD imsg style).
 */
#ifndef WEIR_CTL_H
#define WEIR_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/socket.h>

enum ctl_type {
	CTL_HELLO = 1,		/* FE -> M: up and serving (struct ctl_hello) */
	CTL_SHUTDOWN,		/* M -> FE: stop accepting, drain, exit (struct ctl_shutdown) */
	CTL_LOG_REOPEN,		/* M -> FE: struct ctl_log_reopen; fds[0] httperr log, fds[1] access log (unless off) */
	CTL_RELOAD,		/* M -> FE: fds[0] memfd with the config text, then listeners */
	CTL_RELOAD_RESULT,	/* FE -> M: struct ctl_result */
	CTL_POOL_STATE,		/* M -> FE: struct ctl_pool_state */
	CTL_WORKER_READY,	/* M -> FE: struct ctl_worker */
	CTL_WORKER_DRAIN,	/* M -> FE: struct ctl_worker: no new requests, report when idle */
	CTL_WORKER_GONE,	/* M -> FE: struct ctl_worker: exited; FE answers CTL_WORKER_REPORT */
	CTL_DEMAND_START,	/* FE -> M: struct ctl_pool_ref: a request waits for a pool with no worker */
	CTL_WORKER_DRAINED,	/* FE -> M: struct ctl_worker: nothing in flight any more */
	CTL_WORKER_FAULT,	/* FE -> M: struct ctl_worker_fault: protocol violation / comm error */
	CTL_WORKER_REPORT,	/* FE -> M: struct ctl_worker_report: what it had in flight */
	CTL_STATS,		/* FE -> M: struct ctl_stats: counters since the last report */
	CTL_STATUS_REQ,		/* M -> FE: struct ctl_pool_ref (pool -1 = all): ask for live figures */
	CTL_STATUS,		/* FE -> M: struct ctl_status */
	CTL_POOL_LOG,		/* FE -> M: struct ctl_pool_log: a line for the pool's log */
	CTL_POISON_REQUEST,	/* FE -> M: struct ctl_poison: a request failed two workers (1016) */
	CTL_SITE_FAULT,		/* FE -> M: struct ctl_site_fault: a site's root went away or came back */
	CTL_DRAIN,		/* M -> FE: no payload: a drain began (health_path answers 503,
				 * keep-alive connections close after their response) */
	CTL_TLS_CERTS,		/* M -> FE: u32 0; fds[0] memfd with every site's PEM (tlspem.h) */
	CTL_TLS_KEYS,		/* M -> FE: struct ctl_tls_keys: session ticket keys */
	CTL_ACME_CHALLENGE,	/* M -> FE: struct ctl_acme_challenge: answer (or stop answering) an HTTP-01 token */
	CTL_ACME_CHALLENGE_ACK,	/* FE -> M: struct ctl_acme_challenge: it is answered now */
	CTL_ACCEPT,		/* M -> FE: u32 0: start accepting (it was started with hold_accept) */
	/* between an old master and the new one it started (upgrade.c) */
	CTL_UPG_LISTENER,	/* old -> new: struct ctl_upg_listener; fds: its sockets, one per thread */
	CTL_UPG_POOL,		/* old -> new: struct ctl_upg_pool: a pool's protection state */
	CTL_UPG_STATE,		/* old -> new: struct ctl_upg_state; fds: admin socket(s); the last */
	CTL_UPG_READY,		/* new -> old: struct ctl_upg_ready: front end up, always pools ready */
	CTL_UPG_FAILED,		/* new -> old: struct ctl_upg_failed: it cannot serve, and why */
	CTL_UPG_COMMIT,		/* old -> new: u32 0: the old generation stops; serve alone */
	CTL__MAX
};

#define CTL_MAX_PAYLOAD	8192
#define CTL_MAX_FDS	64

struct ctl_hdr {
	uint16_t	type;		/* enum ctl_type */
	uint16_t	nfds;		/* fds that came with it */
	uint32_t	len;		/* payload bytes that follow */
};

struct ctl_hello {
	uint32_t	threads;	/* event loops running */
	uint32_t	generation;	/* config generation it serves */
};

struct ctl_shutdown {
	uint64_t	deadline_ms;	/* time in-flight requests get */
	uint32_t	handover;	/* 1: a new generation serves (upgrade): keep idle
					   keep-alive connections until their next request,
					   answered with Connection: close */
	uint32_t	pad;
};

/*
 * CTL_LOG_REOPEN: the access log's format comes with its file, so a line is
 * always written in the format of the file it goes to (a reload that
 * changes access_log starts a new file).
 */
struct ctl_log_reopen {
	int32_t		access_format;	/* enum access_log_format */
};

struct ctl_result {
	int32_t		ok;		/* 1 applied, 0 rejected */
	uint32_t	generation;
	char		msg[512];
};

struct ctl_pool_ref {
	int32_t		pool;		/* index in the config's pools */
	uint32_t	generation;	/* config generation the index refers to */
};

/* Pool states (shared by master, front end, admin API). */
enum pool_state {
	POOL_STOPPED = 0,
	POOL_STARTING,
	POOL_STARTED,
	POOL_STOPPING,
	POOL_DISABLED
};

struct ctl_pool_state {
	int32_t		pool;
	uint32_t	generation;
	int32_t		state;		/* enum pool_state */
	uint32_t	retry_after_s;	/* for 503 Retry-After when disabled */
	char		reason[64];	/* rapid-fail, component-mismatch, ... */
};

struct ctl_worker {
	int32_t		pool;
	uint32_t	generation;
	uint32_t	worker;		/* master-assigned worker id, unique for the run */
	int32_t		pid;
	char		path[108];	/* worker's listening socket (sun_path) */
};

struct ctl_worker_fault {
	int32_t		pool;
	uint32_t	generation;
	uint32_t	worker;
	char		what[256];
};

#define CTL_REPORT_MAX	16

/*
 * A request the worker had in flight.  `retry` is 1 when this worker was the
 * request's second: the first failed it after it was delivered (it died or
 * dropped the connection), so it was retried here, alone (see poolreq.c).
 * A worker that dies with a retry in flight is the request's second victim.
 */
struct ctl_inflight {
	char		method[16];
	char		target[200];
	uint32_t	ms;		/* time in request when the worker died */
	uint8_t		retry;		/* 1: the request's retry (see above) */
	uint8_t		pad[3];
};

struct ctl_worker_report {
	int32_t		pool;
	uint32_t	generation;
	uint32_t	worker;
	uint32_t	ninflight;	/* may exceed CTL_REPORT_MAX; only that many are listed */
	uint64_t	requests;	/* requests it served */
	struct ctl_inflight inflight[CTL_REPORT_MAX];
};

/*
 * A poison request: delivered to worker[0], which failed it (died or dropped
 * the connection before answering), retried alone on worker[1], which failed
 * it too.  The client got 502; the master writes event 1016.
 */
struct ctl_poison {
	char		pool[72];	/* its name (NUL-terminated; names are at most 64) */
	uint32_t	worker[2];	/* master's worker ids, first and second */
	int32_t		pid[2];
	char		method[16];
	char		target[200];
};

/* A line for log_dir/pools/NAME.log (e.g. FastCGI STDERR), NUL-terminated. */
struct ctl_pool_log {
	int32_t		pool;
	uint32_t	generation;
	char		line[1024];
};

/*
 * A site's root became unavailable to the front end (err != 0: the errno
 * of opening or searching it) or available again (err == 0).  Sent once
 * per change, whichever thread saw it first.  Strings NUL-terminated.
 */
struct ctl_site_fault {
	int32_t		err;
	char		site[72];	/* CONF_NAME_MAX + 1, rounded up */
	char		root[1024];	/* cut if longer */
};

/*
 * An ACME HTTP-01 challenge (acme.c): the front end answers
 * GET /.well-known/acme-challenge/TOKEN on its cleartext listeners, for
 * requests routed to `site`, with `keyauth` (RFC 8555 §8.3).  An empty
 * keyauth withdraws the token.  The front end echoes the message back as
 * CTL_ACME_CHALLENGE_ACK once every thread sees it, so the CA is told to
 * validate only then.  Strings NUL-terminated.
 */
#define CTL_ACME_TOKEN_MAX	128
struct ctl_acme_challenge {
	char		site[72];	/* CONF_NAME_MAX + 1, rounded up */
	char		token[CTL_ACME_TOKEN_MAX];	/* base64url */
	char		keyauth[256];	/* token "." thumbprint; "" = withdraw */
};

struct ctl_stats_worker {
	uint32_t	worker;
	uint32_t	requests;	/* completed since last report */
	uint32_t	inflight;	/* in flight now */
	uint32_t	queued;		/* requests waiting in its pool's queue (same for a pool's workers) */
};

struct ctl_stats {
	uint32_t	generation;
	uint32_t	n;
	struct ctl_stats_worker w[64];
};

/*
 * Session ticket keys, made by the master (RAND_bytes) and kept there, so
 * that every front-end thread, and a front end the master restarted, can
 * decrypt the tickets issued before.  key[0] encrypts new tickets; key[1],
 * the previous one, is still accepted (the ticket is then renewed).  Each
 * key: 16 bytes name, 32 bytes AES-256 key, 32 bytes HMAC-SHA256 key.
 */
#define CTL_TLS_KEY_LEN	80
struct ctl_tls_keys {
	uint32_t	n;		/* keys in use: 1 or 2 */
	uint8_t		key[2][CTL_TLS_KEY_LEN];
};

/*
 * Upgrade (upgrade.c): what an old master hands the new master it started.
 * Each listening address comes as one CTL_UPG_LISTENER with its sockets
 * (the same open sockets, so the kernel's accept queues are shared), then
 * one CTL_UPG_STATE with what else must survive and the admin socket.
 */
struct ctl_upg_listener {
	struct sockaddr_storage ss;
	uint32_t	sslen;
};

#define CTL_UPG_PROCREC_MAX	32
struct ctl_upg_state {
	struct ctl_tls_keys tls_keys;	/* so tickets issued before keep resuming */
	uint32_t	first_worker_id;	/* worker socket names the old master never uses */
	uint32_t	admin_tcp;	/* 1: fds[1] is the admin_listen socket */
	char		procrec[CTL_UPG_PROCREC_MAX];	/* process records file the old master uses */
	char		cg_own[512];	/* cgroup v2: the cgroup the old master was started
					   in, when it moved into a leaf of its own (which
					   the new one starts in); "" otherwise */
};

/*
 * A pool's Rapid-Fail window and back-off, so an upgrade neither forgets
 * failures nor re-enables early a pool that is held: failure times are
 * CLOCK_MONOTONIC ms, which both masters share.  Only the newest
 * CTL_UPG_FAILS failures travel (more than any window needs by default).
 */
#define CTL_UPG_FAILS	24
struct ctl_upg_pool {
	char		name[72];	/* CONF_NAME_MAX + 1, rounded up */
	uint32_t	state;		/* enum pool_state */
	uint32_t	nfail;
	uint64_t	backoff_ms;	/* the next back-off */
	uint64_t	retry_in_ms;	/* disabled: re-enabled in that long; 0 = not */
	char		reason[64];	/* why it is disabled or stopped */
	char		detail[512];
	struct {
		uint64_t	when;	/* monotonic ms */
		uint64_t	served;
		int32_t		pid;
		uint32_t	pad;
		char		reason[200];
	} fail[CTL_UPG_FAILS];
};

struct ctl_upg_ready {
	int32_t		pid;
	char		version[32];
	char		build[64];
};

struct ctl_upg_failed {
	char		why[2048];
};

/*
 * What the master hands a new front-end process (it is forked, not exec'd,
 * so this lives in its memory): the config, the listening sockets
 * (fds[addr * threads + thread]), its end of the control socket, the log fds
 * and the identity to drop to.
 */
struct conf;
struct fe_start {
	const struct conf *conf;
	uint32_t	 generation;
	unsigned	 threads;
	size_t		 naddrs;
	const int	*listen_fds;		/* naddrs * threads */
	const struct sockaddr_storage *addrs;	/* naddrs */
	const socklen_t	*addrlens;
	int		 ctl;
	int		 access_fd;		/* -1: off */
	int		 httperr_fd;
	bool		 drop_privs;
	uid_t		 uid;
	gid_t		 gid;
	const gid_t	*groups;		/* supplementary groups of uid (drop_privs) */
	size_t		 ngroups;
	char *const	*down_sites;		/* sites the master knows are unavailable */
	size_t		 ndown_sites;
	pid_t		 master;		/* its parent: dies with it */
	const char	*tls_pem;		/* certificates and keys (tlspem.h blob) */
	size_t		 tls_pem_len;
	const struct ctl_tls_keys *tls_keys;	/* session ticket keys */
	bool		 hold_accept;		/* an upgrade's new generation: accept only
						   from CTL_ACCEPT on (the old one serves) */
};

/* frontend.c: the front end's main(); returns the process exit status. */
int	frontend_main(const struct fe_start *st);

int	ctl_send(int fd, enum ctl_type type, const void *payload, size_t len,
	    const int *fds, int nfds);
/*
 * Receive one message.  Returns 1 with *hdr filled, payload copied (at most
 * `max` bytes; a larger message is an error) and fds stored (the caller owns
 * them); 0 on EOF; WEIR_AGAIN when nothing is pending; -1 on error.
 */
int	ctl_recv(int fd, struct ctl_hdr *hdr, void *payload, size_t max,
	    int *fds, int maxfds);
/* Expected payload size of a type, or -1 for variable / unknown types. */
long	ctl_payload_size(enum ctl_type type);
const char *ctl_type_name(enum ctl_type type);

#endif
