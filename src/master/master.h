/*
 * master.h - the master's one internal header (the WAS role).
 *
 * The master reads and validates the configuration, binds the listening
 * sockets, starts and supervises the front end and the pools' workers, and
 * writes the event log.  It never parses client traffic.  Single-threaded,
 * one event loop.
 */
#ifndef WEIR_MASTER_H
#define WEIR_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>
#include <sys/socket.h>

#include <jansson.h>
#include <openssl/types.h>

#include "rc.h"
#include "conf.h"
#include "ctl.h"
#include "loop.h"
#include "linetail.h"
#include "cgroup.h"

/* A bound listening address: `threads` sockets sharing it (SO_REUSEPORT). */
struct listener_set {
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 spec[128];	/* printable address */
	int			*fds;		/* one per front-end thread */
	unsigned		 nfds;
};

struct listeners {
	struct listener_set	*v;
	size_t			 n;
	unsigned		 threads;	/* sockets per address */
};

/* Worker states (DESIGN.md). */
enum worker_state {
	W_STARTING = 0,
	W_READY,
	W_DRAINING,	/* no new requests; waiting for the front end to finish */
	W_STOPPING,	/* SIGTERM sent */
	W_EXITED
};

#define POOLLOG_PIECE	16384	/* longer output lines are written in marked pieces */

struct pool;
struct probe;

/* One certificate file of a site and when it expires (tlscheck.c, tlsexpiry.c). */
struct tls_expiry {
	char		*site;		/* owned */
	char		*path;		/* owned: the certificate file */
	time_t		 not_after;	/* unix seconds */
	unsigned	 sent;		/* expiry events already emitted (tlsexpiry.c) */
};

/*
 * tlscheck.c: what the checks of the certificates tlsload.c reads found
 * besides errors: warnings ("file:line: warning: ...") and every
 * certificate's notAfter.  Owned by whoever passed it to tlsload_conf().
 */
struct tls_checked {
	struct conf_errors	 warns;
	struct tls_expiry	*exp;
	size_t			 nexp;
};

/*
 * One worker process (and the process group it leads), or for a pool with
 * `address` (an upstream weir does not start) the pseudo worker that
 * stands for the upstream: pid 0, no process, no socket of its own, ready
 * while the upstream answers its probes.
 */
struct worker {
	struct pool	*pool;
	struct worker	*next;
	uint32_t	 id;		/* unique for this master's life */
	uint32_t	 generation;
	uint32_t	 cp_gen;	/* configuration generation of its settings */
	uint32_t	 ver;		/* the pool's deploy version it was started as (rollback.c) */
	pid_t		 pid;		/* also its process group id */
	unsigned long long start_ticks;	/* /proc/PID/stat start time (procrec.c) */
	int		 state;		/* enum worker_state */
	int		 sock;		/* its listening socket (master's copy) */
	char		 path[108];	/* ... and its path; upstream: its address */
	struct sockaddr_storage addr;	/* where health probes connect */
	socklen_t	 addrlen;
	int		 out;		/* read end of its stdout+stderr pipe */
	struct loop_io	 out_io;
	char		 partial[POOLLOG_PIECE];	/* a piece of an output line not yet written */
	size_t		 npartial;
	bool		 line_cont;	/* pieces of the current line were written already */
	struct linering	 tail;		/* its last output lines, for events */
	int		 notify;	/* sd_notify datagram socket, -1 if none */
	struct loop_io	 notify_io;
	char		 notify_path[108];
	uint64_t	 started;	/* monotonic ms */
	uint64_t	 ready_at;
	int64_t		 started_wall;	/* unix seconds, for status */
	uint64_t	 requests;	/* served, from the front end's stats */
	unsigned	 inflight;	/* in flight, as of its last CTL_STATS entry */
	struct loop_timer start_timer;	/* startup_time_limit */
	struct loop_timer stop_timer;	/* shutdown_time_limit */
	struct loop_timer ping_timer;	/* next ping / ping deadline */
	struct loop_timer recycle_timer; /* recycle_time */
	struct loop_timer report_timer;	/* waiting for the front end's report */
	struct loop_timer limit_timer;	/* fastcgi: served recycle_requests, exit overdue */
	struct probe	*ping;		/* health probe in flight */
	uint64_t	 ping_requests;	/* w->requests when that probe was sent */
	struct worker	*replaces;	/* overlapped recycle: the one it replaces */
	int		 recycle_event;	/* event id that recycled it, 0 if none */
	bool		 expect_exit;	/* we told it to stop */
	bool		 failed;	/* a failure was already recorded for it */
	bool		 exit_pending;	/* unexpected end after ready: counted? a request limit? the report decides */
	bool		 fault_seen;	/* upstream: a 1011 was written for this pseudo worker */
	bool		 oom_killed;	/* its pool's memory limit killed it (poolcg.c) */
	char		 fail_reason[200];
	int		 status;	/* waitpid status once exited */
};

/*
 * A pool's output log, log_dir/pools/NAME.log (poollog.c): records are
 * gathered in buf and written once per wake-up; size and write time are
 * bounded, and what could not be written is counted.
 */
struct poollog {
	int		 fd;		/* -1 when it could not be opened */
	char		 path[4096];
	uint64_t	 size;		/* bytes in the current file */
	char		*buf;		/* records not written yet */
	size_t		 len;
	uint64_t	 window_start;	/* monotonic ns: this second's write time ... */
	uint64_t	 window_ns;	/* ... spent so far */
	uint64_t	 dropped;	/* bytes dropped since the last event 1313 */
	uint64_t	 unnoted;	/* ... and since the last "[weir]" line in the log */
	uint64_t	 dropped_total;	/* for status and /metrics */
	char		 drop_why[64];	/* the last reason */
	uint64_t	 reported;	/* monotonic ms of the last 1313, 0 = none */
	struct loop_timer report_timer;	/* writes the next 1313 */
};

/* The front-end process as the master sees it. */
struct fe_proc {
	pid_t		 pid;		/* 0 when not running */
	unsigned long long start_ticks;	/* /proc/PID/stat start time (procrec.c) */
	int		 ctl;		/* master's end of the control socketpair */
	struct loop_io	 io;
	uint64_t	 started;	/* monotonic ms */
	unsigned	 restarts;	/* in a row, fast: for back-off */
	struct loop_timer restart_timer;
	bool		 hello;		/* has said CTL_HELLO since its start */
	unsigned	 start_fails;	/* in a row, within FE_START_FAIL_MS: 1309 at FE_START_FAILS */
	int		 err;		/* read end of its stderr pipe, -1 if none */
	struct loop_io	 err_io;
	struct linetail	 tail;		/* its last stderr lines */
};

/*
 * Who the front end runs as (fecheck.c): when weir is started as root,
 * [server] user (default weir, else an own uid/gid, ident.c) with its groups; otherwise
 * weir's own user, unchanged.
 */
struct fe_ident {
	bool		 drop;		/* started as root: switch to the below */
	uid_t		 uid;
	gid_t		 gid;
	gid_t		*groups;	/* supplementary groups (gid among them), when drop */
	size_t		 ngroups;
	char		 user[64];	/* the user's name, for messages */
};

/* A site whose root the front end reported unavailable (sitefault.c). */
struct site_fault {
	char		*site;
	char		*root;
	int		 err;		/* errno the front end saw */
	uint64_t	 since;		/* monotonic ms */
	char		 since_iso[32];	/* the same, UTC, for status */
};

struct master {
	struct loop	*loop;
	struct conf	*conf;
	char		*conf_path;
	uint32_t	 generation;	/* config generation */
	struct listeners lis;
	struct fe_proc	 fe;
	struct fe_ident	 fe_id;		/* identity the front end drops to */
	int		 access_fd;	/* -1 when access_log = off */
	int		 httperr_fd;
	bool		 stopping;
	bool		 draining;	/* drain.c: a drain is under way, a stop follows */
	uint64_t	 drain_started;	/* loop ms */
	uint64_t	 drain_ends;	/* loop ms: when the stop proper begins */
	struct loop_timer drain_timer;
	uint64_t	 stop_deadline;
	struct loop_timer stop_timer;
	uint64_t	 started_ms;
	struct pool	**pools;	/* index = conf->pools index; objects stay put */
	size_t		 npools;
	struct pool	*retired;	/* removed by a reload, draining their workers */
	struct conf	**old_confs;	/* earlier generations retired pools still use */
	size_t		 nold_confs;
	uint32_t	 next_worker_id;
	struct admin	*admin;
	struct dashboard *dash;	/* dashboard.c: page tokens, history */
	int64_t		 started_wall;	/* unix seconds */
	unsigned	 fe_restarts;
	json_t		*fe_failure;	/* the last 1305's fields, for status; or NULL */
	struct site_fault *site_faults;	/* sites whose root is unavailable */
	size_t		 nsite_faults;
	int		 exit_status;	/* of weir run: 0, or 78 when the front end cannot start */
	bool		 ready_sent;	/* READY=1 told to systemd at start */
	struct loop_timer ready_timer;	/* READY=1 at the latest then */
	pid_t		 warden_pid;	/* warden.c: ends our processes if we die; 0 if none */
	unsigned long long warden_ticks;
	int		 warden_fd;	/* write end of its pipe (only the master holds it), -1 */
	unsigned long long start_ticks;	/* the master's own start time */
	struct cgroup_sys cg;		/* the cgroup hierarchy the pools use (poolcg.c) */
	struct tls_expiry *tls_exp;	/* the certificates in force (tlsexpiry.c) */
	size_t		 ntls_exp;
	struct loop_timer tls_exp_timer;	/* the hourly expiry check */
	char		*tls_pem;	/* every site's certificates and keys (tlsload.c) */
	size_t		 tls_pem_len;
	struct ctl_tls_keys tls_keys;	/* session ticket keys (tlskeys.c) */
	struct loop_timer tls_rotate;	/* their hourly rotation */
	struct acme_site **acme;	/* sites with certificate = acme (acme.c) */
	size_t		 nacme;
	char		 procrec[CTL_UPG_PROCREC_MAX];	/* its process records file (leftover.c) */
	char		 self_exe[4096];	/* the binary it runs, as started: what upgrade defaults to */
	/* upgrade.c: an upgrade this master started */
	struct upgrade	*upg;		/* in flight, or NULL */
	bool		 handed_over;	/* a new master serves: pid file and admin socket are its */
	bool		 wrote_pidfile;	/* state_dir/weir.pid is ours to remove at exit */
	/* handover.c: this master was started by an upgrade */
	int		 upg_from;	/* socket to the old master until it handed over, else -1 */
	struct loop_io	 upg_io;
	bool		 upg_told;	/* READY or FAILED was sent */
	struct listeners upg_lis;	/* listening sockets handed over, until listeners_open() */
	int		 upg_admin[2];	/* admin socket, admin_listen socket handed over; -1 */
	struct ctl_tls_keys upg_keys;	/* session ticket keys handed over */
	char		 upg_cg_own[CGROUP_PATH];	/* cgroup v2: where the old master started (poolcg.c) */
	struct ctl_upg_pool *upg_pools;	/* pools' protection state handed over, until applied */
	size_t		 nupg_pools;
};

/* Admin API (admin.c) state, opaque outside it. */
struct admin;
struct dashboard;

/* Rapid-Fail Protection window (rapidfail.c). */
struct rf_failure {
	uint64_t	 when;		/* monotonic ms */
	pid_t		 pid;
	uint64_t	 served;	/* requests the worker served (degraded window) */
	char		 reason[200];
};

/* A pool's last worker failure, for `weir status` and deploy outcomes (failinfo.c). */
struct last_failure {
	int64_t		 when;		/* unix seconds, 0 if none yet */
	pid_t		 pid;
	uint32_t	 ver;		/* deploy version of the worker */
	bool		 counted;	/* toward Rapid-Fail Protection */
	bool		 was_ready;
	char		 how[160];	/* "exit status 3", "signal 9 (SIGKILL)", "missed a ping" */
	char		 output[300];	/* the cause line of its last output */
};

struct rapidfail {
	struct rf_failure *v;		/* oldest first */
	size_t		 n, cap;
	unsigned	 count;		/* failures that trip; 0 = off */
	uint64_t	 window;	/* ms */
};

/* A pool as the master runs it. */
struct pool {
	struct master	*m;
	int		 idx;		/* index in conf->pools */
	const struct conf_pool *cp;
	char		 name[CONF_NAME_MAX + 1];
	int		 state;		/* enum pool_state (ctl.h) */
	char		 reason[64];	/* why it is disabled */
	char		 detail[512];	/* longer text for status/events */
	struct worker	*workers;
	char		**argv;		/* command split, or NULL */
	uid_t		 uid;
	gid_t		 gid;
	gid_t		*groups;	/* its supplementary groups (none for its own identity) */
	size_t		 ngroups;
	bool		 set_identity;	/* started as root: take the above */
	const char	*identity;	/* "own", "user" or "weir's" (not root), for status */
	struct poollog	 log;		/* log_dir/pools/NAME.log */
	struct rapidfail rf;
	uint64_t	 backoff_ms;	/* next back-off delay */
	uint64_t	 retry_at;	/* monotonic ms of the next re-enable, 0 if none */
	struct loop_timer backoff_timer;
	uint64_t	 last_activity;	/* monotonic ms of the last request seen */
	struct loop_timer idle_timer;
	struct loop_timer schedule_timer;
	struct loop_timer memory_timer;
	uint64_t	 requests;	/* total served */
	unsigned	 failures_total;
	bool		 pending_disable;	/* tripped: disable once the 1009 is out */
	char		 pending_why[512];
	/* counters for /metrics */
	uint64_t	 n_starts;
	uint64_t	 n_exits[3];	/* expected, unexpected, failed (killed by us) */
	uint64_t	 n_recycles[6];	/* time, requests, schedule, memory, admin, config */
	uint64_t	 n_trips;
	bool		 want_workers;	/* keep `processes` workers running */
	bool		 external;	/* address = ...: an upstream weir does not start */
	bool		 outage_reported;	/* upstream, rapid_fail off: 1010 written for this outage */
	uint64_t	 probe_ended;	/* upstream: monotonic ms the last probe ended */
	struct pool	*next_retired;
	unsigned	 inflight;	/* requests in flight, from the front end */
	/* settings versions (rollback.c): generation numbers */
	uint32_t	 cp_gen;	/* of cp */
	const struct conf_pool *good_cp;	/* the last a worker became ready with */
	uint32_t	 good_gen;
	const struct conf_pool *prev_good_cp;	/* the good one before */
	uint32_t	 prev_good_gen;
	uint32_t	 rolled_back_from;	/* generation given up, 0 if none */
	/*
	 * Deploy versions: every change of what the processes are made of
	 * (a reload that changes them, a recycle, which may pick up new code
	 * on disk) is a new version; workers remember theirs (w->ver).
	 */
	uint32_t	 ver;		/* the version new workers start as */
	uint32_t	 next_ver;	/* last number handed out */
	uint32_t	 good_ver;	/* of good_cp */
	uint32_t	 prev_good_ver;
	uint32_t	 failed_ver;	/* the newest version given up (trip, rollback), 0 if none */
	char		 failed_outcome[200];	/* what became of it, in words */
	struct last_failure last_fail;
	/* degraded.c: workers that served and then died */
	struct rapidfail deaths;	/* the degraded window (rapid_fail's shape) */
	uint64_t	 n_served_deaths;	/* for /metrics */
	bool		 degraded;
	char		 degraded_why[300];
	struct loop_timer degraded_timer;	/* clears the flag after a quiet window */
	bool		 held;		/* Rapid-Fail tripped while serving: no new workers until retry_at */
	/* poolcg.c: the pool's cgroup */
	struct cgroup_pool cg;
	struct loop_timer cg_timer;	/* polls the counters for event 1322 */
	struct cgroup_stats cg_seen;	/* counters at the last 1322 (oom_kills: last worker exit) */
	uint64_t	 cg_reported;	/* monotonic ms of the last 1322, 0 = none */
	bool		 inherited_hold;	/* handover.c: disabled or stopped as the old generation had it */
};

/* upgrade.c: the old master's side of `weir upgrade` */
#define UPGRADE_ID_GAP	(1u << 20)	/* worker ids the old master may still use */
struct upgrade;
int	 upgrade_start(struct master *m, const char *binary, char *msg, size_t msgsz);
bool	 upgrade_reaped(struct master *m, pid_t pid, int status);
void	 upgrade_abort(struct master *m, const char *why);
json_t	*upgrade_json(const struct master *m);
void	 upgrade_free(struct master *m);

/* handover.c: the new master's side */
int	 handover_recv(struct master *m, char *err);
void	 handover_close_unused(struct master *m);
void	 handover_apply_pools(struct master *m);
void	 handover_failed(struct master *m, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
int	 handover_watch(struct master *m, char *err);
void	 handover_check_ready(struct master *m);
void	 handover_end(struct master *m);

/* main.c */
int	 cmd_run(int argc, char **argv);
int	 cmd_check(int argc, char **argv);

/* master.c */
int	 master_run(const char *conf_path, int upgrade_fd);
void	 master_write_pidfile(struct master *m);
void	 master_stop(struct master *m);
void	 master_stop_now(struct master *m, int signo);

/* drain.c: health_path goes 503, then a stop */
void	 drain_init(struct master *m);
bool	 drain_wanted(const struct master *m);
int	 drain_begin(struct master *m, const char *by);
void	 drain_tell_fe(struct master *m);
void	 drain_stop_requested(struct master *m, int signo);
json_t	*drain_json(const struct master *m);
void	 master_reopen_logs(struct master *m);

/* schedule.c */
uint64_t schedule_next_ms(const int *sched, size_t n, const struct tm *tm);

/* rollback.c */
void	 rollback_served(struct worker *w);
void	 rollback_same_settings(struct pool *p, const struct conf_pool *cp);
bool	 rollback_uses(const struct pool *p, const struct conf *c);
void	 rollback_converge(struct pool *p);
bool	 rollback_pool(struct pool *p, json_t *failures, bool only_unproven);
void	 rollback_new_version(struct pool *p);
void	 rollback_recycle_version(struct pool *p);

/* failinfo.c */
void	 failinfo_exit_text(int status, char *out, size_t outsz);
void	 failinfo_exit_sentence(int status, char *out, size_t outsz);
void	 failinfo_cause(const char *const *lines, size_t n, char *out, size_t outsz);
void	 failinfo_worker_cause(const struct worker *w, char *out, size_t outsz);
void	 failinfo_note(struct worker *w, const char *how, bool was_ready, bool counted);

/* degraded.c */
void	 degraded_init(struct pool *p);
void	 degraded_configure(struct pool *p);
void	 degraded_death(struct worker *w, uint64_t served, const char *how);
void	 degraded_hold(struct pool *p, json_t *failures);
void	 degraded_free(struct pool *p);
void	 degraded_release(struct pool *p);

/* reload.c */
int	 master_reload(struct master *m, json_t **result);

/* listen.c */
int	 listeners_open(struct listeners *l, const struct conf *c,
	    unsigned threads, const struct listeners *have, struct listeners *inherit,
	    char *err);
void	 listeners_close(struct listeners *l);
int	 listeners_index(const struct listeners *l,
	    const struct sockaddr_storage *ss, socklen_t len);

/* fecheck.c: the front end's identity; paths checked as that user */
int	 fe_ident_resolve(const struct conf *c, struct fe_ident *id, char *err);
void	 fe_ident_free(struct fe_ident *id);
size_t	 fecheck_conf(const struct conf *c, const struct fe_ident *id,
	    struct conf_errors *errs);

/* ident.c: a pool's own uid/gid when it has no user (and the front end's) */
#define IDENT_MIN	65536u
#define IDENT_MAX	99999u
uint32_t ident_hash(const char *prefix, const char *name);
int	 ident_assign(const uint32_t *hashes, size_t n, uint32_t lo, uint32_t hi,
	    bool (*in_use)(uint32_t id, void *arg), void *arg, uint32_t *out);
int	 ident_conf(struct conf *c, char *err);
gid_t	*ident_user_groups(const char *user, gid_t gid, size_t *n);

/* sitefault.c: sites whose root is unavailable (events 1311, 1312) */
void	 sitefault_report(struct master *m, const struct ctl_site_fault *f);
void	 sitefault_prune(struct master *m);
void	 sitefault_free(struct master *m);
json_t	*sitefault_json(const struct master *m);

/* tlsload.c: certificates read by the master, sent to the front end */
struct tls_pems;
int	 tlsload_site(const struct conf *c, const struct conf_site *s,
	    struct tls_pems *out, struct conf_errors *errs, struct tls_checked *chk);
int	 tlsload_conf(const struct conf *c, char **blob, size_t *len,
	    struct conf_errors *errs, struct tls_checked *chk);
void	 tlsload_set(struct master *m, char *blob, size_t len);
int	 tlsload_push(struct master *m);

/* tlskeys.c: session ticket keys */
int	 tlskeys_init(struct master *m);
void	 tlskeys_free(struct master *m);
/* ACME (RFC 8555): what one order works on (acme.c gives it to the helper). */
struct acme_job {
	const char	*directory;	/* the CA's directory URL */
	const char	*email;		/* account contact, or NULL */
	const char	*ca_file;	/* CAs for the directory's HTTPS, NULL = system */
	char		 dir[4096];	/* state_dir/acme: account.key, SITE.pem */
	const char	*site;
	char *const	*hosts;		/* the certificate's names */
	size_t		 nhosts;
};

/* An HTTP response as acmehttp.c keeps it (acme_resp_free() frees the strings). */
struct acme_resp {
	int		 status;
	char		*body;		/* NUL-terminated, dechunked */
	size_t		 len;
	char		*nonce;		/* Replay-Nonce */
	char		*location;
	char		*content_type;
	unsigned	 retry_after;	/* seconds, 0 if none */
};

struct acme_cert_info {
	int64_t		 not_before, not_after;	/* unix seconds */
	char		 serial[80];	/* hex */
	char		 issuer[256];	/* one line */
};

enum acme_state {
	ACME_PENDING = 0,	/* no certificate yet (serving the self-signed one) */
	ACME_ORDERING,		/* a helper runs an order */
	ACME_VALID,		/* issued; renewal scheduled */
	ACME_FAILED		/* the last order failed; retry scheduled */
};

/* A site with certificate = acme, as the master runs it (acme.c). */
struct acme_site {
	struct master	*m;
	char		 name[CONF_NAME_MAX + 1];
	char		**hosts;	/* owned copies of the site's hosts */
	size_t		 nhosts;
	int		 state;		/* enum acme_state */
	char		*cert_pem;	/* what it serves: issued or self-signed chain */
	char		*key_pem;
	bool		 self_signed;
	struct acme_cert_info ci;	/* of cert_pem's leaf */
	struct loop_timer timer;	/* next order: renewal or retry */
	int64_t		 next_at;	/* ... at this unix time */
	uint64_t	 backoff_ms;	/* last back-off delay, 0 after a success */
	unsigned	 failures;	/* in a row */
	char		 last_error[WEIR_ERRLEN + 64];
	int64_t		 last_error_at;
	pid_t		 pid;		/* the order's helper, 0 if none */
	int		 fd;		/* channel to it, -1 */
	struct loop_io	 io;
	int		 outcome;	/* what the helper said: 1 done, -1 failed, 0 nothing */
	char		 fail_detail[WEIR_ERRLEN + 64];
	json_t		*problem;	/* the CA's problem document of a failure */
	char		 token[CTL_ACME_TOKEN_MAX];	/* challenge the front end answers, "" */
	char		*keyauth;	/* ... with this, or NULL */
};

/* acme.c: the master's side */
void	 acme_configure(struct master *m);
void	 acme_free(struct master *m);
struct acme_site *acme_find(struct master *m, const char *site);
bool	 acme_reaped(struct master *m, pid_t pid, int status);
void	 acme_fe_ack(struct master *m, const struct ctl_acme_challenge *ch);
void	 acme_fe_hello(struct master *m);
int	 acme_admin_renew(struct master *m, const char *site, char *msg, size_t msgsz);
json_t	*acme_json(const struct master *m);
int	 acme_pem(const struct conf *c, const struct conf_site *cs, char **cert, char **key,
	    char *err);

/* acmeorder.c: the helper process, one order */
void	 acme_helper_main(const struct acme_job *job, int fd) __attribute__((noreturn));

/* acmehttp.c: the helper's HTTP(S) client */
int	 acme_http(const char *method, const char *url, const char *body, const char *ca_file,
	    struct acme_resp *r, char *err);
void	 acme_resp_free(struct acme_resp *r);

/* acmecrypto.c: keys, JWS, CSR, certificates (OpenSSL EVP) */
char	*acme_b64url(const unsigned char *p, size_t n);
EVP_PKEY *acme_key_new(char *err);
char	*acme_key_pem(EVP_PKEY *k, char *err);
int	 acme_write_file(const char *path, const char *data, size_t n, mode_t mode, char *err);
EVP_PKEY *acme_key_load_or_create(const char *path, char *err);
char	*acme_jwk(EVP_PKEY *k, char *err);
char	*acme_thumbprint(EVP_PKEY *k, char *err);
char	*acme_sign_es256(EVP_PKEY *k, const char *data, size_t n, char *err);
char	*acme_csr(EVP_PKEY *k, const char *const *hosts, size_t n, char *err);
int	 acme_self_signed(const char *const *hosts, size_t n, int days, char **cert_pem,
	    char **key_pem, char *err);
int	 acme_cert_info(const char *pem, size_t n, struct acme_cert_info *ci, char *err);

/* feproc.c */
int	 feproc_start(struct master *m);
void	 feproc_exited(struct master *m, int status);
void	 feproc_shutdown(struct master *m);
void	 feproc_restart_cb(void *arg);
void	 feproc_free(struct master *m);
int	 feproc_send(struct master *m, enum ctl_type type, const void *p,
	    size_t len, const int *fds, int nfds);

/* pool.c: one pool's life */
struct pool *pool_new(struct master *m, int idx, const struct conf_pool *cp);
void	 pool_free(struct pool *p);
void	 pool_start_one(struct pool *p);
void	 pool_retire(struct pool *p);
void	 pool_configure_changed(struct pool *p, const struct conf_pool *cp);
void	 pool_trim(struct pool *p);
void	 pool_demand(struct pool *p);
void	 pool_maintain(struct pool *p);
void	 pool_worker_ready(struct worker *w);
void	 pool_worker_drained(struct worker *w);
void	 pool_drain_worker(struct worker *w);
void	 pool_stats(struct master *m, const struct ctl_stats *st, size_t n);
void	 pool_recycle(struct pool *p, int event, const char *why);
void	 pool_recycle_worker(struct worker *w, int event);
void	 pool_replace_worker(struct worker *w);
void	 pool_trip(struct pool *p, const char *reason);
bool	 pool_has_ready(const struct pool *p);
bool	 pool_serving(const struct pool *p);
bool	 pool_worker_proven(const struct worker *w);
void	 pool_retry_later(struct pool *p);
void	 pool_configure(struct pool *p, const struct conf_pool *cp);
void	 pool_send_state(struct pool *p);
void	 pool_set_state(struct pool *p, int state);
void	 pool_send_worker(struct worker *w, enum ctl_type type);
void	 pool_unlink_worker(struct worker *w);
const char *pool_state_name(int state);
const char *pool_ping_path(const struct conf_pool *cp);

/* poolprotect.c: Rapid-Fail Protection's decisions */
void	 pool_disable(struct pool *p, const char *reason, const char *detail);
void	 pool_backoff_cb(void *arg);

/* poolexit.c: how a worker ended */
void	 pool_worker_exited(struct worker *w);
void	 pool_worker_failed(struct worker *w, int event, const char *reason);
void	 pool_worker_report(struct worker *w, const struct ctl_worker_report *r);
void	 pool_report_timeout(void *arg);

/* pools.c: the set of pools; administrator actions return an HTTP status, fill msg */
void	 pools_init(struct master *m);
void	 pools_free(struct master *m);
void	 pools_start(struct master *m);
void	 pools_shutdown(struct master *m);
bool	 pools_all_stopped(const struct master *m);
void	 pools_fe_hello(struct master *m);
void	 pool_reap_retired(struct master *m);
struct worker *pools_find_worker(struct master *m, pid_t pid);
struct worker *pools_worker_by_id(struct master *m, uint32_t id);
struct pool *pools_by_name(struct master *m, const char *name);
int	 pool_admin(struct pool *p, const char *action, char *msg, size_t msgsz);

/* poolcg.c: the pools' cgroups (files in cgroup.c) */
size_t	 poolcg_check_conf(const struct conf *c, struct conf_errors *errs);
int	 poolcg_setup(struct master *m, char *err);
void	 poolcg_teardown(struct master *m);
int	 poolcg_pool_start(struct pool *p, char *err);
void	 poolcg_pool_free(struct pool *p);
void	 poolcg_worker_exited(struct worker *w);
void	 poolcg_oom_words(const struct worker *w, char *out, size_t outsz);
json_t	*poolcg_sys_json(const struct master *m);
bool	 poolcg_stats(const struct pool *p, struct cgroup_stats *st);
json_t	*poolcg_json(const struct pool *p);

/* worker.c */
struct worker *worker_spawn(struct pool *p, char *err);
void	 worker_signal(struct worker *w, int sig);
void	 worker_cleanup(struct worker *w);
void	 worker_free(struct worker *w);
uint64_t worker_private_memory(const struct worker *w);

/* fsiso.c: private_tmp and protect_system (the child's side: worker.c) */
int	 fsiso_tmp_path(const char *state_dir, const char *pool, const char *sub,
	    char *buf, size_t len);
int	 fsiso_tmp_prepare(struct pool *p, char *err);
void	 fsiso_tmp_remove(struct pool *p);
void	 fsiso_clean(const char *state_dir);
size_t	 fsiso_check_conf(const struct conf *c, struct conf_errors *errs);
bool	 fsiso_path_within(const char *path, const char *dir);
int	 fsiso_mountinfo_line(char *line, char **mountpoint, unsigned long *flags);

/* poollog.c: workers' output into log_dir/pools/NAME.log */
void	 poollog_open(struct pool *p);
void	 poollog_close(struct pool *p);
void	 poollog_reopen(struct pool *p);
void	 poollog_line(struct pool *p, const char *who, bool cont, const char *text,
	    size_t n);
void	 poollog_flush(struct pool *p);
void	 poollog_on_output(void *arg, uint32_t events);
void	 worker_drain_output(struct worker *w);

/* probe.c: one health probe (HTTP ping, FastCGI GET_VALUES, or a connect) */
enum probe_kind {
	PROBE_CONNECT = 0,
	PROBE_HTTP,
	PROBE_FCGI,
	PROBE_ALIVE	/* OPTIONS *: any HTTP status line (http workers without ping_path) */
};
#define PROBE_OK	200	/* PROBE_FCGI answered, PROBE_CONNECT accepted */
#define PROBE_FAILED	(-1)	/* no answer: connect, send or recv failed, or closed */
#define PROBE_BAD	(-2)	/* an answer, but not in the protocol asked */
/* result: an HTTP status (PROBE_HTTP), PROBE_OK, PROBE_FAILED or PROBE_BAD */
typedef void (*probe_cb)(void *arg, int result, const char *why);
struct probe *probe_start(struct loop *l, const struct sockaddr_storage *addr,
	    socklen_t addrlen, enum probe_kind kind, const char *path, probe_cb cb,
	    void *arg, char *err);
void	 probe_cancel(struct probe *pr);
int	 probe_status(const struct probe *pr);

/* health.c */
void	 ping_start(struct worker *w);
void	 ping_cancel(struct worker *w);
enum probe_kind health_probe_kind(const struct conf_pool *cp);
int	 notify_open(struct worker *w, char *err);
void	 health_init_worker(struct worker *w);

/* procrec.c: records of the processes a master started (pure + file I/O) */
#define PROCREC_FILE	"processes"
/* the file of a master started by an upgrade, when its parent uses PROCREC_FILE (and back) */
#define PROCREC_FILE_ALT "processes.upgrade"
#define PROCREC_CMD	200
struct procrec {
	char		 kind[12];	/* master, warden, frontend, worker */
	pid_t		 pid;
	unsigned long long start;	/* /proc/PID/stat field 22, clock ticks after boot */
	char		 pool[CONF_NAME_MAX + 1];	/* "-" when not a worker */
	char		 command[PROCREC_CMD];
};
struct procstat {
	pid_t		 pid, ppid, pgrp, session;
	char		 state;		/* R S D T Z ... */
	unsigned long long start;
};
int	 procrec_parse_stat(const char *buf, size_t n, struct procstat *ps);
int	 procrec_stat(pid_t pid, struct procstat *ps);
unsigned long long procrec_start_ticks(pid_t pid);
bool	 procrec_alive(pid_t pid, unsigned long long start);
int	 procrec_format(const struct procrec *r, char *out, size_t outsz);
int	 procrec_parse_line(const char *line, struct procrec *r);
int	 procrec_boot_id(char *out, size_t outsz);
int	 procrec_write(const char *dir, const char *file, const struct procrec *v, size_t n,
	    char *err);
int	 procrec_read(const char *dir, const char *file, struct procrec **v, size_t *n,
	    char *err);

/* leftover.c: end what a master that died left running */
enum leftover_by {
	LEFTOVER_AT_START = 0,	/* the next master, before it binds anything */
	LEFTOVER_WARDEN		/* the warden, the moment its master died */
};
void	 leftover_record(struct master *m);
void	 leftover_forget(struct master *m);
int	 leftover_end(const char *state_dir, const char *file, enum leftover_by by);

/* warden.c: the process that ends the master's processes if it dies */
int	 warden_start(struct master *m, char *err);
void	 warden_exited(struct master *m, int status);
void	 warden_stop(struct master *m);

/* external.c: pools with `address`, an upstream weir does not start */
void	 external_start(struct pool *p);
void	 external_stop(struct pool *p);
void	 external_demand(struct pool *p);
void	 external_fault(struct worker *w, const char *what);

/* admin.c */
int	 admin_open(struct master *m, char *err);
void	 admin_close(struct master *m);
void	 admin_fe_status(struct master *m, json_t *snapshot);
void	 admin_fe_ask(struct master *m);

/* dashboard.c */
void	 dashboard_init(struct master *m);
void	 dashboard_free(struct master *m);
bool	 dashboard_csrf_ok(struct master *m, const char *p, size_t n);
int	 dashboard_file(struct master *m, const char *name, size_t namelen, char **body,
	    size_t *len, const char **ctype, char *err);
void	 dashboard_snapshot(struct master *m, json_t *fe);
json_t	*dashboard_history(struct master *m);
struct http_request;
struct hstr;
bool	 dashboard_token_eq(const char *token, const char *p, size_t n);
bool	 dashboard_cookie_ok(const struct http_request *h, const char *token);
bool	 dashboard_query_token(const struct http_request *h, struct hstr *out);
bool	 dashboard_host_ok(const struct http_request *h);
int	 dashboard_post_check(struct master *m, const struct http_request *h, const char **why);
bool	 dashboard_cross_site(const struct http_request *h);
int	 admin_fds(const struct master *m, int fds[2]);
void	 admin_upgrade_done(struct master *m, int status, json_t *result);
void	 admin_handover(struct master *m);
void	 admin_resume(struct master *m);

/* status.c */
json_t	*status_json(struct master *m, json_t *fe);
json_t	*status_pool_json(struct pool *p, json_t *fe);
char	*status_metrics(struct master *m, json_t *fe, size_t *len);
const char *worker_state_name(int state);

/* tlscheck.c */
struct x509_st;			/* OpenSSL's X509 and EVP_PKEY, without their headers */
struct evp_pkey_st;
size_t	 tlscheck_cert(const struct conf *c, const struct conf_site *s, size_t i,
	    const char *pem, size_t len, struct conf_errors *errs, struct tls_checked *out);
int	 tlscheck_key_matches(struct x509_st *leaf, struct evp_pkey_st *key, char *err);
void	 tlscheck_checked_free(struct tls_checked *k);

/* tlsexpiry.c */
void	 tlsexpiry_start(struct master *m, struct tls_checked *k);
void	 tlsexpiry_set(struct master *m, struct tls_checked *k);
json_t	*tlsexpiry_json(const struct master *m);
void	 tlsexpiry_free(struct master *m);

/* cli.c */
int	 cmd_status(int argc, char **argv);
int	 cmd_pool(int argc, char **argv);
int	 cmd_acme(int argc, char **argv);
int	 cmd_events(int argc, char **argv);
int	 cmd_reload(int argc, char **argv);
int	 cmd_stop(int argc, char **argv);
int	 cmd_drain(int argc, char **argv);
int	 cmd_dashboard(int argc, char **argv);
int	 cmd_upgrade(int argc, char **argv);

/* verify.c */
int	 cmd_verify(int argc, char **argv);

/* systemd.c */
void	 systemd_init(void);
int	 systemd_listen_fd(const struct sockaddr_storage *ss, socklen_t len);
void	 notify_systemd(const char *msg);
void	 systemd_pass_notify(void);
void	 systemd_ready_start(struct master *m);
void	 systemd_check_ready(struct master *m);

/* reload.c */
void	 conf_keep_old(struct master *m, struct conf *old);
void	 conf_gc_old(struct master *m);

/* rapidfail.c */
void	 rapidfail_init(struct rapidfail *rf, unsigned count, uint64_t window_ms);
void	 rapidfail_free(struct rapidfail *rf);
bool	 rapidfail_record(struct rapidfail *rf, uint64_t now, pid_t pid,
	    const char *reason);
bool	 rapidfail_note(struct rapidfail *rf, uint64_t now, pid_t pid, uint64_t served,
	    const char *reason);
size_t	 rapidfail_current(struct rapidfail *rf, uint64_t now);
bool	 rapidfail_counts(bool was_ready, uint64_t served, unsigned inflight, char *why,
	    size_t whysz);
void	 rapidfail_rate(struct rapidfail *rf, uint64_t now, double *per_min,
	    double *req_per_death);
void	 rapidfail_reset(struct rapidfail *rf);

/* events.c */
enum event_level {
	EV_INFO = 0,
	EV_WARNING,
	EV_ERROR
};
/* A query over the event log (admin API, `weir events`). */
struct ev_filter {
	const char	*pool;		/* NULL: any */
	long		 id;		/* 0: any */
	const char	*level;		/* NULL: any; else that level and worse */
	char		 since[40];	/* ISO time; "" = any */
	size_t		 limit;		/* newest N; 0 = all */
};

int	 events_open(const char *log_dir, bool use_syslog, char *err);
void	 events_configure(uint64_t max_size, unsigned keep);
void	 events_use_syslog(bool on);
void	 events_set_hook(void (*fn)(const char *, size_t, json_t *, void *), void *arg);
const char *events_file(void);
bool	 events_match(const struct ev_filter *f, json_t *ev);
json_t	*events_query(const struct ev_filter *f);
void	 events_close(void);
/*
 * Write one event: `fields` (may be NULL) is a JSON object whose members are
 * added to the record; events_emit() takes ownership of it.
 */
void	 events_emit(int id, enum event_level level, const char *pool, pid_t pid,
	    json_t *fields, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* poison.c: event 1016 for a request that failed two workers */
void	 poison_request(struct master *m, const struct ctl_poison *pz);

/* logfiles.c */
int	 logfile_open(const char *dir, const char *name, const char *w3c_fields,
	    char *err);
void	 logfile_fe_line(struct master *m, const struct ctl_pool_log *pl);
void	 logfile_rotate(const char *path, unsigned keep);

#endif
