/*
 * conf.c - parse and validate weir.conf (INI, via inih).
 *
 * inih splits "key = value" and strips comments; this file does the rest.
 * inih does not report line numbers, so the reader we give it counts lines,
 * handles section headers itself (so an empty "[pool x]" still exists and a
 * duplicate section is caught at its own line), and flags lines inih would
 * silently drop or split (no '=', longer than inih's line limit).  Every
 * error is collected as "file:line: message"; the caller prints all of them.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ini.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "rc.h"
#include "util.h"
#include "conf.h"

/* inih's compiled-in line limit (INI_MAX_LINE), including the NUL. */
#define CONF_INI_MAX_LINE	200

struct conf_parse {
	struct conf		*c;
	struct conf_errors	*errs;
	unsigned		 flags;
	const char		*text;		/* the whole file */
	size_t			 len;
	size_t			 pos;		/* reader position */
	int			 line;		/* line the reader returned last */
	int			 section_line;
	enum conf_section	 sect;
	void			*obj;		/* current section's struct, NULL after a bad header */
	int			*keyline;	/* first line of each key in this section */
	bool			 server_seen;
	bool			 continuation;	/* the line read is an indented continuation */
	bool			 prev_key;	/* inih has a key to continue (a key line since the header) */
	int			*errlines;	/* line of each error this parse added (0 = none) */
	size_t			 err0;		/* errs->n when the parse began */
};

static const char *const access_log_names[] = { "w3c", "combined", "off", NULL };
static const char *const symlinks_names[] = { "within-root", "follow", "refuse", "owner", NULL };
static const char *const kind_names[] = { "http", "fastcgi", "native", NULL };
static const char *const start_mode_names[] = { "on-demand", "always", NULL };
static const char *const rf_action_names[] = { "disable", "backoff", "rollback", "auto", NULL };
static const char *const dotfiles_names[] = { "deny", "allow", NULL };
static const char *const client_verify_names[] = { "off", "optional", "required", NULL };

static int	custom_listen(struct conf_parse *, void *, const char *, char *);
static int	custom_threads(struct conf_parse *, void *, const char *, char *);
static int	custom_rewrite(struct conf_parse *, void *, const char *, char *);
static int	custom_return(struct conf_parse *, void *, const char *, char *);
static int	custom_alias(struct conf_parse *, void *, const char *, char *);
static int	custom_app(struct conf_parse *, void *, const char *, char *);
static int	custom_script(struct conf_parse *, void *, const char *, char *);
static int	custom_env(struct conf_parse *, void *, const char *, char *);
static int	custom_rapid_fail(struct conf_parse *, void *, const char *, char *);
static int	custom_schedule(struct conf_parse *, void *, const char *, char *);
static int	custom_limit_core(struct conf_parse *, void *, const char *, char *);
static int	custom_cpu_max(struct conf_parse *, void *, const char *, char *);
static int	custom_hosts(struct conf_parse *, void *, const char *, char *);
static int	custom_trusted(struct conf_parse *, void *, const char *, char *);
static int	custom_tls_protocols(struct conf_parse *, void *, const char *, char *);
static int	custom_certificate(struct conf_parse *, void *, const char *, char *);
static int	custom_certificate_key(struct conf_parse *, void *, const char *, char *);
static int	custom_hsts(struct conf_parse *, void *, const char *, char *);

/*
 * Options of `listen = ADDR:PORT [OPTION ...]`: a word and the bool it sets
 * in struct conf_listen.  A new option is a row here, a field there and a
 * line in docs/config.md.
 */
static const struct {
	const char	*name;
	size_t		 off;		/* of a bool in struct conf_listen */
} listen_opts[] = {
	{ "tls", offsetof(struct conf_listen, tls) },
	{ "h2c", offsetof(struct conf_listen, h2c) },
	{ "proxy_protocol", offsetof(struct conf_listen, proxy_protocol) },
};

/* Do two listings of an address set the same options? */
static bool
listen_opts_equal(const struct conf_listen *a, const struct conf_listen *b)
{
	for (size_t i = 0; i < nitems(listen_opts); i++)
		if (*(const bool *)(const void *)((const char *)a + listen_opts[i].off) !=
		    *(const bool *)(const void *)((const char *)b + listen_opts[i].off))
			return false;
	if ((a->health_path == NULL) != (b->health_path == NULL) ||
	    (a->health_path != NULL && strcmp(a->health_path, b->health_path) != 0))
		return false;
	return memcmp(a->alpn, b->alpn, sizeof(a->alpn)) == 0;
}

/* TLS versions tls_protocols accepts (OpenSSL's names). */
static const char *const tls_protocol_names[] = {
	"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", NULL
};

/*
 * Mozilla's "intermediate" TLS 1.2 suites (guidelines 6.0): ECDHE only, so
 * every connection has forward secrecy and no DH parameters are needed;
 * AEAD only.  TLS 1.3 suites are OpenSSL's defaults (all three are fine).
 */
#define TLS_CIPHERS_DEFAULT \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

#define SRV(f)	offsetof(struct conf_server, f)
#define SITE(f)	offsetof(struct conf_site, f)
#define POOL(f)	offsetof(struct conf_pool, f)
#define KB	1024ULL
#define MB	(1024ULL * KB)
#define GB	(1024ULL * MB)
#define SEC	1000ULL
#define MIN	(60 * SEC)
#define HOUR	(60 * MIN)
#define DAY	(24 * HOUR)

/*
 * The table.  Order within a section is the order of docs/config.md.
 * Defaults are text, parsed exactly like a value from the file.
 */
const struct conf_key conf_keys[] = {
	/* [server] */
	{ CS_SERVER, "listen", CT_CUSTOM, 0, 0, 0, "127.0.0.1:8080", CK_MULTI | CK_RELOAD, NULL, custom_listen,
	  "address to accept HTTP on (IPv4:port, [IPv6]:port, *:port), then options (tls, h2c, alpn=, proxy_protocol, health_path=); repeatable" },
	{ CS_SERVER, "threads", CT_CUSTOM, SRV(threads), 0, 0, "auto", CK_RESTART, NULL, custom_threads,
	  "front-end event loops: auto (one per core) or 1..256" },
	{ CS_SERVER, "user", CT_STRING, SRV(user), 0, 0, NULL, CK_RESTART, NULL, NULL,
	  "front end's identity when started as root (default: weir if it exists, else nobody)" },
	{ CS_SERVER, "group", CT_STRING, SRV(group), 0, 0, NULL, CK_RESTART, NULL, NULL,
	  "front end's group when started as root (default: the user's primary group)" },
	{ CS_SERVER, "state_dir", CT_PATH, SRV(state_dir), 0, 0, "run", CK_RESTART, NULL, NULL,
	  "sockets, pid file and admin socket" },
	{ CS_SERVER, "log_dir", CT_PATH, SRV(log_dir), 0, 0, "log", CK_RESTART, NULL, NULL,
	  "events.jsonl, access.log, httperr.log, pools/NAME.log" },
	{ CS_SERVER, "access_log", CT_ENUM, SRV(access_log), 0, 0, "w3c", CK_RELOAD, access_log_names, NULL,
	  "access log format: w3c (IIS default), combined, off" },
	{ CS_SERVER, "syslog", CT_BOOL, SRV(syslog), 0, 0, "yes", CK_RELOAD, NULL, NULL,
	  "also send events to syslog" },
	{ CS_SERVER, "admin_group", CT_STRING, SRV(admin_group), 0, 0, NULL, CK_RESTART, NULL, NULL,
	  "group allowed to use the admin socket besides root" },
	{ CS_SERVER, "admin_listen", CT_STRING, SRV(admin_listen), 0, 0, NULL, CK_RESTART, NULL, NULL,
	  "also serve the admin API on this loopback address (needs admin_token)" },
	{ CS_SERVER, "admin_token", CT_STRING, SRV(admin_token), 0, 0, NULL, CK_RELOAD, NULL, NULL,
	  "bearer token the admin API requires on admin_listen" },
	{ CS_SERVER, "events_max_size", CT_SIZE, SRV(events_max_size), 4096, UINT64_MAX / 2, "10M", CK_RELOAD, NULL, NULL,
	  "rotate events.jsonl when it grows beyond this" },
	{ CS_SERVER, "events_keep", CT_UINT, SRV(events_keep), 1, 100, "5", CK_RELOAD, NULL, NULL,
	  "rotated event logs kept (events.jsonl.1 ... .N)" },
	{ CS_SERVER, "pool_log_max_size", CT_SIZE, SRV(pool_log_max_size), 64 * KB, UINT64_MAX / 2, "10M", CK_RELOAD, NULL, NULL,
	  "rotate a pool's log (log_dir/pools/NAME.log) when it grows beyond this" },
	{ CS_SERVER, "pool_log_keep", CT_UINT, SRV(pool_log_keep), 1, 100, "5", CK_RELOAD, NULL, NULL,
	  "rotated pool logs kept (NAME.log.1 ... .N)" },
	{ CS_SERVER, "max_request_line", CT_SIZE, SRV(max_request_line), 64, 1 * MB, "8k", CK_RELOAD, NULL, NULL,
	  "longest request line (414 beyond)" },
	{ CS_SERVER, "max_header_size", CT_SIZE, SRV(max_header_size), 256, 1 * MB, "32k", CK_RELOAD, NULL, NULL,
	  "largest request header section (431 beyond)" },
	{ CS_SERVER, "max_headers", CT_UINT, SRV(max_headers), 1, 128, "100", CK_RELOAD, NULL, NULL,
	  "most header fields in a request (431 beyond)" },
	{ CS_SERVER, "max_body", CT_SIZE, SRV(max_body), 0, UINT64_MAX / 2, "30M", CK_RELOAD, NULL, NULL,
	  "largest request body (413 beyond); 0 = no limit" },
	{ CS_SERVER, "header_timeout", CT_DURATION, SRV(header_timeout), 1 * SEC, DAY, "30s", CK_RELOAD, NULL, NULL,
	  "time to receive a whole header section once it has begun (408)" },
	{ CS_SERVER, "body_timeout", CT_DURATION, SRV(body_timeout), 1 * SEC, DAY, "60s", CK_RELOAD, NULL, NULL,
	  "longest pause while receiving a request body (408)" },
	{ CS_SERVER, "send_timeout", CT_DURATION, SRV(send_timeout), 1 * SEC, DAY, "60s", CK_RELOAD, NULL, NULL,
	  "longest pause of a client that does not read its response (connection closed)" },
	{ CS_SERVER, "min_request_rate", CT_SIZE, SRV(min_request_rate), 0, 1 * GB, "240", CK_RELOAD, NULL, NULL,
	  "bytes/s a client must send a request head or body at, after min_rate_grace (408); 0 = off" },
	{ CS_SERVER, "min_response_rate", CT_SIZE, SRV(min_response_rate), 0, 1 * GB, "240", CK_RELOAD, NULL, NULL,
	  "bytes/s a client must read a response at, after min_rate_grace (closed); 0 = off" },
	{ CS_SERVER, "min_rate_grace", CT_DURATION, SRV(min_rate_grace), 1 * SEC, HOUR, "10s", CK_RELOAD, NULL, NULL,
	  "window over which the minimum rates are measured; the first is the grace period" },
	{ CS_SERVER, "keepalive_timeout", CT_DURATION, SRV(keepalive_timeout), 0, DAY, "120s", CK_RELOAD, NULL, NULL,
	  "idle time allowed between requests on a connection; 0 = no keep-alive" },
	{ CS_SERVER, "keepalive_requests", CT_UINT, SRV(keepalive_requests), 0, UINT_MAX, "0", CK_RELOAD, NULL, NULL,
	  "requests per connection before it is closed; 0 = unlimited" },
	{ CS_SERVER, "shutdown_timeout", CT_DURATION, SRV(shutdown_timeout), 0, HOUR, "30s", CK_RELOAD, NULL, NULL,
	  "on stop, how long in-flight requests may finish" },
	{ CS_SERVER, "health_path", CT_STRING, SRV(health_path), 0, 0, NULL, CK_RELOAD, NULL, NULL,
	  "path the front end answers itself for load balancers: 200 serving, 503 draining" },
	{ CS_SERVER, "drain_time", CT_DURATION, SRV(drain_time), 0, HOUR, "10s", CK_RELOAD, NULL, NULL,
	  "on drain (and stop with health_path), how long new connections are still served; 0 = skip" },
	{ CS_SERVER, "max_connections", CT_UINT, SRV(max_connections), 0, 10000000, "0", CK_RELOAD, NULL, NULL,
	  "client connections per front end; 0 = as many as the fd limit allows" },
	{ CS_SERVER, "max_connections_per_ip", CT_UINT, SRV(max_connections_per_ip), 0, 10000000, "0", CK_RELOAD, NULL, NULL,
	  "client connections one IP address may hold at once; 0 = no limit" },
	{ CS_SERVER, "open_file_cache", CT_UINT, SRV(open_file_cache), 0, 1000000, "1024", CK_RELOAD, NULL, NULL,
	  "open files cached per front-end thread; 0 = off" },
	{ CS_SERVER, "open_file_cache_valid", CT_DURATION, SRV(open_file_cache_valid), 0, HOUR, "1s", CK_RELOAD, NULL, NULL,
	  "how long a cached file is used before it is checked again" },
	{ CS_SERVER, "trusted_proxies", CT_CUSTOM, 0, 0, 0, NULL, CK_MULTI | CK_RELOAD, NULL, custom_trusted,
	  "CIDR, ...: proxies whose X-Forwarded-* and Forwarded are believed; repeatable" },
	{ CS_SERVER, "underscores_in_headers", CT_BOOL, SRV(underscores_in_headers), 0, 0, "off", CK_RELOAD, NULL, NULL,
	  "pass request headers whose names contain '_' to HTTP pools" },
	{ CS_SERVER, "default_certificate", CT_STRING, SRV(default_certificate), 0, 0, NULL, CK_RELOAD, NULL, NULL,
	  "SITE whose certificate TLS clients without SNI or with an unknown name get, or alert (refuse them)" },
	{ CS_SERVER, "tls_protocols", CT_CUSTOM, 0, 0, 0, "TLSv1.2, TLSv1.3", CK_RELOAD, NULL, custom_tls_protocols,
	  "TLS versions offered: TLSv1.2, TLSv1.3 (TLSv1, TLSv1.1 also accepted)" },
	{ CS_SERVER, "tls_ciphers", CT_STRING, SRV(tls_ciphers), 0, 0, TLS_CIPHERS_DEFAULT, CK_RELOAD, NULL, NULL,
	  "OpenSSL cipher list for TLS 1.2 (TLS 1.3 uses OpenSSL's suites)" },
	{ CS_SERVER, "handshake_timeout", CT_DURATION, SRV(handshake_timeout), 1 * SEC, HOUR, "10s", CK_RELOAD, NULL, NULL,
	  "time a client has to finish the TLS handshake (then closed)" },
	{ CS_SERVER, "acme_directory", CT_STRING, SRV(acme_directory), 0, 0, ACME_DIRECTORY_DEFAULT, CK_RELOAD, NULL, NULL,
	  "directory URL of the ACME CA that issues certificate = acme (the next order uses a new value)" },
	{ CS_SERVER, "acme_email", CT_STRING, SRV(acme_email), 0, 0, NULL, CK_RELOAD, NULL, NULL,
	  "contact address of the ACME account (optional)" },
	{ CS_SERVER, "acme_ca_file", CT_PATH, SRV(acme_ca_file), 0, 0, NULL, CK_RELOAD, NULL, NULL,
	  "PEM CA certificates trusted for the ACME directory's HTTPS (default: the system store)" },
	{ CS_SERVER, "http2_max_concurrent_streams", CT_UINT, SRV(http2_max_concurrent_streams), 1, 1000, "100", CK_RELOAD, NULL, NULL,
	  "streams a client may have open at once on one HTTP/2 connection" },

	/* [site NAME] */
	{ CS_SITE, "listen", CT_CUSTOM, SITE(listen), 0, 0, NULL, CK_MULTI, NULL, custom_listen,
	  "addresses of this site (default: the server's); repeatable" },
	{ CS_SITE, "hosts", CT_CUSTOM, SITE(hosts), 0, 0, NULL, CK_MULTI, NULL, custom_hosts,
	  "host names (exact or *.domain); a site without hosts is the default for its addresses" },
	{ CS_SITE, "root", CT_PATH, SITE(root), 0, 0, NULL, 0, NULL, NULL,
	  "directory of static files for paths not mapped to an app" },
	{ CS_SITE, "index", CT_LIST, SITE(index), 0, 0, "index.html", 0, NULL, NULL,
	  "directory index files, in order" },
	{ CS_SITE, "app", CT_CUSTOM, 0, 0, 0, NULL, CK_MULTI, NULL, custom_app,
	  "PREFIX POOL [SCRIPT] [strip_prefix]: requests under PREFIX go to POOL (longest prefix wins); repeatable" },
	{ CS_SITE, "fallback", CT_STRING, SITE(fallback), 0, 0, NULL, 0, NULL, NULL,
	  "script (e.g. /index.php) that answers paths naming no file or directory under root" },
	{ CS_SITE, "rewrite", CT_CUSTOM, 0, 0, 0, NULL, CK_MULTI, NULL, custom_rewrite,
	  "REGEX REPLACEMENT [last|break|redirect|permanent]: change the path before routing; repeatable, in order" },
	{ CS_SITE, "return", CT_CUSTOM, 0, 0, 0, NULL, CK_MULTI, NULL, custom_return,
	  "REGEX STATUS [URL]: answer matching paths with STATUS (3xx: to URL); repeatable, in order with rewrite" },
	{ CS_SITE, "alias", CT_CUSTOM, 0, 0, 0, NULL, CK_MULTI, NULL, custom_alias,
	  "PREFIX DIR: static files under PREFIX come from DIR instead of root; repeatable" },
	{ CS_SITE, "script", CT_CUSTOM, 0, 0, 0, NULL, CK_MULTI, NULL, custom_script,
	  ".EXT POOL: files with that extension under root go to a FastCGI pool; repeatable" },
	{ CS_SITE, "symlinks", CT_ENUM, SITE(symlinks), 0, 0, "owner", 0, symlinks_names, NULL,
	  "symbolic links under root: owner (the link's owner owns the target), within-root, follow, refuse" },
	{ CS_SITE, "listing", CT_BOOL, SITE(listing), 0, 0, "no", 0, NULL, NULL,
	  "list directories that have no index file (otherwise 403)" },
	{ CS_SITE, "dotfiles", CT_ENUM, SITE(dotfiles), 0, 0, "deny", 0, dotfiles_names, NULL,
	  "files and directories whose name begins with '.': deny (404) or allow" },
	{ CS_SITE, "certificate", CT_CUSTOM, 0, 0, 0, NULL, CK_MULTI, NULL, custom_certificate,
	  "PEM file (certificate, then its chain) or acme; at most two (an ECDSA and an RSA one); repeatable" },
	{ CS_SITE, "certificate_key", CT_CUSTOM, 0, 0, 0, NULL, CK_MULTI, NULL, custom_certificate_key,
	  "private key (PEM) of the certificate in the same position; none for acme; repeatable" },
	{ CS_SITE, "client_ca", CT_PATH, SITE(client_ca), 0, 0, NULL, 0, NULL, NULL,
	  "PEM file of the CAs whose client certificates the site's TLS handshakes accept (with client_verify)" },
	{ CS_SITE, "client_verify", CT_ENUM, SITE(client_verify), 0, 0, "off", 0, client_verify_names, NULL,
	  "client certificates on TLS: off, optional (asked for, verified if sent) or required" },
	{ CS_SITE, "https_redirect", CT_BOOL, SITE(https_redirect), 0, 0, "no", 0, NULL, NULL,
	  "answer cleartext requests with 308 to the same URL over https (the site's TLS port)" },
	{ CS_SITE, "hsts", CT_CUSTOM, SITE(hsts), 0, 0, "off", 0, NULL, custom_hsts,
	  "off, or DURATION [includeSubDomains] [preload]: Strict-Transport-Security on TLS responses" },

	/* [pool NAME] */
	{ CS_POOL, "kind", CT_ENUM, POOL(kind), 0, 0, "http", 0, kind_names, NULL,
	  "http, fastcgi or native" },
	{ CS_POOL, "command", CT_STRING, POOL(command), 0, 0, NULL, CK_CONT, NULL, NULL,
	  "program and arguments (shell-like quoting, no shell); indented lines continue it" },
	{ CS_POOL, "address", CT_STRING, POOL(address), 0, 0, NULL, 0, NULL, NULL,
	  "instead of command: an upstream weir does not start (unix:PATH or HOST:PORT)" },
	{ CS_POOL, "processes", CT_UINT, POOL(processes), 1, 256, "1", 0, NULL, NULL,
	  "workers (web garden)" },
	{ CS_POOL, "start_mode", CT_ENUM, POOL(start_mode), 0, 0, "on-demand", 0, start_mode_names, NULL,
	  "on-demand or always" },
	{ CS_POOL, "queue_length", CT_UINT, POOL(queue_length), 10, 65535, "1000", 0, NULL, NULL,
	  "requests queued in the front end before 503 QueueFull" },
	{ CS_POOL, "queue_timeout", CT_DURATION, POOL(queue_timeout), 1 * SEC, DAY, "120s", 0, NULL, NULL,
	  "longest wait in the queue before 503 AppPoolTimer" },
	{ CS_POOL, "max_conns", CT_UINT, POOL(max_conns), 1, 65535, "100", 0, NULL, NULL,
	  "requests in flight to one worker at once; more wait in the queue" },
	{ CS_POOL, "rapid_fail", CT_CUSTOM, 0, 0, 0, "5 in 5m", 0, NULL, custom_rapid_fail,
	  "N in DURATION: failures that disable the pool; off" },
	{ CS_POOL, "rapid_fail_action", CT_ENUM, POOL(rapid_fail_action), 0, 0, "auto", 0, rf_action_names, NULL,
	  "auto (rollback a failed deploy, else backoff; never darken a serving pool), rollback, backoff or disable" },
	{ CS_POOL, "rapid_fail_backoff", CT_DURATION, POOL(rapid_fail_backoff), 1 * SEC, DAY, "1m", 0, NULL, NULL,
	  "rapid_fail_action = auto or backoff: first delay before trying again (doubles up to 1h)" },
	{ CS_POOL, "response_timeout", CT_DURATION, POOL(response_timeout), 0, DAY, "120s", 0, NULL, NULL,
	  "longest silence of a worker while a request waits for its response (504); 0 = none" },
	{ CS_POOL, "request_buffering", CT_BOOL, POOL(request_buffering), 0, 0, "on", 0, NULL, NULL,
	  "read a request body whole (memory, then state_dir/spool) before the request is queued" },
	{ CS_POOL, "response_buffer", CT_SIZE, POOL(response_buffer), 0, 1 * GB, "16M", 0, NULL, NULL,
	  "response bytes kept for a client slower than the worker, so the worker is free sooner; 0 = off" },
	{ CS_POOL, "startup_time_limit", CT_DURATION, POOL(startup_time_limit), 1 * SEC, DAY, "90s", 0, NULL, NULL,
	  "not ready by then: killed, counts as a failure" },
	{ CS_POOL, "shutdown_time_limit", CT_DURATION, POOL(shutdown_time_limit), 1 * SEC, DAY, "90s", 0, NULL, NULL,
	  "not exited by then after SIGTERM: SIGKILL, counts as a failure" },
	{ CS_POOL, "ping_interval", CT_DURATION, POOL(ping_interval), 0, DAY, "30s", 0, NULL, NULL,
	  "time between health pings; 0 = no pings" },
	{ CS_POOL, "ping_response_time", CT_DURATION, POOL(ping_response_time), 1 * SEC, DAY, "90s", 0, NULL, NULL,
	  "no answer to a ping by then: killed, counts as a failure" },
	{ CS_POOL, "ping_path", CT_STRING, POOL(ping_path), 0, 0, NULL, 0, NULL, NULL,
	  "path the health ping requests (kind = http); readiness waits for its first success" },
	{ CS_POOL, "notify", CT_BOOL, POOL(notify), 0, 0, "no", 0, NULL, NULL,
	  "worker signals readiness with READY=1 on NOTIFY_SOCKET (sd_notify)" },
	{ CS_POOL, "idle_timeout", CT_DURATION, POOL(idle_timeout), 0, 30 * DAY, "20m", 0, NULL, NULL,
	  "no requests for that long: workers stopped; 0 = never" },
	{ CS_POOL, "recycle_time", CT_DURATION, POOL(recycle_time), 0, 365 * DAY, "29h", 0, NULL, NULL,
	  "periodic overlapped recycle; 0 = off" },
	{ CS_POOL, "recycle_requests", CT_UINT, POOL(recycle_requests), 0, UINT_MAX, "0", 0, NULL, NULL,
	  "recycle a worker after N requests; 0 = off" },
	{ CS_POOL, "recycle_schedule", CT_CUSTOM, 0, 0, 0, NULL, 0, NULL, custom_schedule,
	  "times of day to recycle, e.g. 03:00, 15:00" },
	{ CS_POOL, "recycle_memory", CT_SIZE, POOL(recycle_memory), 0, UINT64_MAX / 2, "0", 0, NULL, NULL,
	  "recycle when a worker's resident private memory exceeds it; 0 = off" },
	{ CS_POOL, "overlapped_recycle", CT_BOOL, POOL(overlapped_recycle), 0, 0, "yes", 0, NULL, NULL,
	  "new worker ready before the old one stops taking requests" },
	{ CS_POOL, "user", CT_STRING, POOL(user), 0, 0, NULL, 0, NULL, NULL,
	  "workers' identity (needs root)" },
	{ CS_POOL, "group", CT_STRING, POOL(group), 0, 0, NULL, 0, NULL, NULL,
	  "workers' group (needs root; default: the user's primary group)" },
	{ CS_POOL, "env", CT_CUSTOM, 0, 0, 0, NULL, CK_MULTI, NULL, custom_env,
	  "KEY=VALUE in the workers' environment; repeatable" },
	{ CS_POOL, "workdir", CT_PATH, POOL(workdir), 0, 0, NULL, 0, NULL, NULL,
	  "workers' working directory" },
	{ CS_POOL, "private_tmp", CT_BOOL, POOL(private_tmp), 0, 0, "no", 0, NULL, NULL,
	  "workers get their own /tmp and /var/tmp, shared by the pool's workers and removed when the pool stops (needs root)" },
	{ CS_POOL, "protect_system", CT_BOOL, POOL(protect_system), 0, 0, "no", 0, NULL, NULL,
	  "the whole filesystem is read-only for the workers except read_write_paths and a private_tmp (needs root)" },
	{ CS_POOL, "read_write_paths", CT_LIST, POOL(read_write_paths), 0, 0, NULL, 0, NULL, NULL,
	  "protect_system: absolute paths that stay writable (if the pool's identity may write them)" },
	{ CS_POOL, "limit_nofile", CT_UINT, POOL(limit_nofile), 0, 1048576, "0", 0, NULL, NULL,
	  "workers' open-file limit (RLIMIT_NOFILE); 0 = inherit" },
	{ CS_POOL, "limit_core", CT_CUSTOM, 0, 0, 0, NULL, 0, NULL, custom_limit_core,
	  "workers' core file size limit (RLIMIT_CORE): a size or unlimited; default inherit" },
	{ CS_POOL, "limit_as", CT_SIZE, POOL(limit_as), 0, UINT64_MAX / 2, "0", 0, NULL, NULL,
	  "workers' address-space limit (RLIMIT_AS); 0 = inherit" },
	{ CS_POOL, "memory_max", CT_SIZE, POOL(memory_max), 0, UINT64_MAX / 2, "0", 0, NULL, NULL,
	  "hard memory limit of the whole pool (its cgroup; past it the OOM killer ends a process of the pool); 0 = none" },
	{ CS_POOL, "cpu_max", CT_CUSTOM, 0, 0, 0, NULL, 0, NULL, custom_cpu_max,
	  "CPU the whole pool may use, in percent of one CPU, e.g. 20% (its cgroup throttles it); default none" },
	{ CS_POOL, "tasks_max", CT_UINT, POOL(tasks_max), 0, 4194304, "0", 0, NULL, NULL,
	  "processes and threads of the whole pool (its cgroup refuses more forks); 0 = none" },
	{ CS_POOL, "modules", CT_LIST, POOL(modules), 0, 0, NULL, 0, NULL, NULL,
	  "kind = native: modules weir-host loads, in order" },
	{ CS_POOL, "host_threads", CT_UINT, POOL(host_threads), 1, 1024, "4", 0, NULL, NULL,
	  "kind = native: handler threads in each weir-host" },
};
const size_t conf_nkeys = nitems(conf_keys);

const char *
conf_section_name(enum conf_section s)
{
	switch (s) {
	case CS_SERVER:	return "server";
	case CS_SITE:	return "site";
	case CS_POOL:	return "pool";
	}
	return "?";
}

/* --- errors ------------------------------------------------------------- */

static void conf_error(struct conf_parse *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
conf_error(struct conf_parse *p, int line, const char *fmt, ...)
{
	char msg[WEIR_ERRLEN], *full;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		n = asprintf(&full, "%s:%d: %s", p->c->path, line, msg);
	else
		n = asprintf(&full, "%s: %s", p->c->path, msg);
	if (n < 0)
		abort();
	p->errs->msg = xreallocarray(p->errs->msg, p->errs->n + 1,
	    sizeof(char *));
	p->errs->msg[p->errs->n++] = full;
	p->errlines = xreallocarray(p->errlines, p->errs->n - p->err0, sizeof(int));
	p->errlines[p->errs->n - p->err0 - 1] = line;
}

struct errpos {
	int	 line;		/* INT_MAX for errors about the whole file */
	size_t	 seq;
	char	*msg;
};

static int
cmp_errpos(const void *a, const void *b)
{
	const struct errpos *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Put the errors in line order.  Cross-checks (validate()) run after the
 * whole file was read, so their errors, reported at a section's line, would
 * otherwise follow every per-line error.  Errors without a line go last.
 */
static void
sort_errors(struct conf_parse *p)
{
	size_t n = p->errs->n - p->err0;
	struct errpos *v;

	if (n < 2)
		return;
	v = xreallocarray(NULL, n, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		v[i].line = p->errlines[i] > 0 ? p->errlines[i] : INT_MAX;
		v[i].seq = i;
		v[i].msg = p->errs->msg[p->err0 + i];
	}
	qsort(v, n, sizeof(*v), cmp_errpos);
	for (size_t i = 0; i < n; i++)
		p->errs->msg[p->err0 + i] = v[i].msg;
	free(v);
}

/*
 * Does a key line have its '=' or ':' before any inline comment (';' after
 * a blank)?  inih skips such a line without calling the handler, so it must
 * be reported here.  Same scan as inih's find_chars_or_comment().
 */
static bool
has_separator(const char *s)
{
	bool was_space = false;

	for (; *s != '\0'; s++) {
		if (*s == '=' || *s == ':')
			return true;
		if (was_space && *s == ';')
			return false;
		was_space = isspace((unsigned char)*s);
	}
	return false;
}

void
conf_errors_add(struct conf_errors *e, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	e->msg = xreallocarray(e->msg, e->n + 1, sizeof(char *));
	e->msg[e->n++] = msg;
}

void
conf_errors_clear(struct conf_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msg[i]);
	free(e->msg);
	e->msg = NULL;
	e->n = 0;
}

/* --- value parsers -------------------------------------------------------- */

/* Parse an unsigned decimal that fills the whole string. */
static int
parse_u64(const char *s, uint64_t *v, const char **rest)
{
	uint64_t n = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*v = n;
	if (rest != NULL)
		*rest = p;
	else if (*p != '\0')
		return -1;
	return 0;
}

int
conf_duration(const char *s, uint64_t *ms)
{
	static const struct { const char *u; uint64_t mult; } units[] = {
		{ "ms", 1 }, { "s", SEC }, { "", SEC }, { "m", MIN },
		{ "h", HOUR }, { "d", DAY },
	};
	const char *rest;
	uint64_t n;

	if (parse_u64(s, &n, &rest) == -1)
		return -1;
	for (size_t i = 0; i < nitems(units); i++) {
		if (strcmp(rest, units[i].u) != 0)
			continue;
		if (n > UINT64_MAX / units[i].mult)
			return -1;
		*ms = n * units[i].mult;
		return 0;
	}
	return -1;
}

int
conf_size(const char *s, uint64_t *bytes)
{
	const char *rest;
	uint64_t n, mult;

	if (parse_u64(s, &n, &rest) == -1)
		return -1;
	switch (*rest) {
	case '\0':		mult = 1; break;
	case 'k': case 'K':	mult = KB; break;
	case 'm': case 'M':	mult = MB; break;
	case 'g': case 'G':	mult = GB; break;
	default:		return -1;
	}
	if (*rest != '\0' && rest[1] != '\0' &&
	    !((rest[1] == 'B' || rest[1] == 'b') && rest[2] == '\0'))
		return -1;
	if (n > UINT64_MAX / mult)
		return -1;
	*bytes = n * mult;
	return 0;
}

static int
parse_bool(const char *s, bool *b)
{
	static const char *yes[] = { "yes", "on", "true", "1" };
	static const char *no[] = { "no", "off", "false", "0" };

	for (size_t i = 0; i < nitems(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*b = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*b = false;
			return 0;
		}
	}
	return -1;
}

/* Grow an arena-owned array by one element; returns the new element. */
static void *
arr_push(struct arena *a, void **arr, size_t *n, size_t elsize)
{
	char *nv = arena_alloc(a, (*n + 1) * elsize);

	if (nv == NULL)
		abort();
	if (*n > 0)
		memcpy(nv, *arr, *n * elsize);
	memset(nv + *n * elsize, 0, elsize);
	*arr = nv;
	return nv + (*n)++ * elsize;
}

static void
strlist_add(struct arena *a, struct strlist *l, const char *s, size_t n)
{
	char **slot = arr_push(a, (void **)&l->v, &l->n, sizeof(char *));

	if ((*slot = arena_strndup(a, s, n)) == NULL)
		abort();
}

/* Split a comma-separated list, trimming each element; empty elements are errors. */
static int
parse_list(struct conf_parse *p, struct strlist *l, const char *val, char *err)
{
	const char *s = val;

	for (;;) {
		const char *e = strchr(s, ',');
		size_t n = e ? (size_t)(e - s) : strlen(s);

		while (n > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			n--;
		}
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n == 0) {
			snprintf(err, WEIR_ERRLEN, "empty element in list '%s'", val);
			return -1;
		}
		strlist_add(&p->c->arena, l, s, n);
		if (e == NULL)
			return 0;
		s = e + 1;
	}
}

static char *
resolve_path(struct conf_parse *p, const char *val)
{
	char *out;

	if (val[0] == '/' || p->c->dir == NULL)
		return arena_strdup(&p->c->arena, val);
	if ((out = arena_alloc(&p->c->arena, strlen(p->c->dir) + strlen(val) + 2)) == NULL)
		abort();
	/* the directory is "/" for a config file at the root: no "//" */
	sprintf(out, "%s/%s", strcmp(p->c->dir, "/") == 0 ? "" : p->c->dir, val);
	return out;
}

static bool
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONF_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

/* --- custom keys ------------------------------------------------------------ */

/* What a TLS address offers without alpn=: HTTP/2, then HTTP/1.1. */
static const uint8_t alpn_default[CONF_ALPN_MAX] = { CONF_ALPN_H2, CONF_ALPN_HTTP11 };

const uint8_t *
conf_listen_alpn(const struct conf_listen *l)
{
	return l->alpn[0] != CONF_ALPN_NONE ? l->alpn : alpn_default;
}

/*
 * `alpn=h2,http/1.1` (the n bytes at w, after "alpn="): the protocols a TLS
 * address offers, in weir's order of preference, each once.
 */
static int
listen_alpn(struct conf_listen *l, const char *w, size_t n, char *err)
{
	size_t k = 0;

	while (n > 0) {
		size_t m = 0;
		int a;

		while (m < n && w[m] != ',')
			m++;
		for (a = 1; a <= CONF_ALPN_MAX; a++)
			if (strlen(conf_alpn_name((unsigned)a)) == m &&
			    strncmp(conf_alpn_name((unsigned)a), w, m) == 0)
				break;
		if (a > CONF_ALPN_MAX || memchr(l->alpn, a, k) != NULL) {
			snprintf(err, WEIR_ERRLEN, "alpn: '%.*s' is not h2 or http/1.1, or is listed twice",
			    (int)m, w);
			return -1;
		}
		l->alpn[k++] = (uint8_t)a;
		w += m;
		n -= m;
		if (n > 0) {
			w++;
			n--;
		}
	}
	if (k == 0) {
		snprintf(err, WEIR_ERRLEN, "alpn= needs h2, http/1.1 or both");
		return -1;
	}
	return 0;
}

/* A health_path (the key's or a listen option's): a path, no query. */
static bool
health_path_ok(const char *s)
{
	return s[0] == '/' && strcspn(s, "?# \t") == strlen(s);
}

/* Set the listen option named by the n bytes at w; -1 if there is none. */
static int
listen_option(struct conf_listen *l, const char *w, size_t n)
{
	for (size_t i = 0; i < nitems(listen_opts); i++) {
		if (strlen(listen_opts[i].name) == n &&
		    strncmp(listen_opts[i].name, w, n) == 0) {
			*(bool *)(void *)((char *)l + listen_opts[i].off) = true;
			return 0;
		}
	}
	return -1;
}

/* `listen = ADDR:PORT [OPTION ...]` */
static int
custom_listen(struct conf_parse *p, void *obj, const char *val, char *err)
{
	struct conf_listens *ls = p->sect == CS_SERVER ?
	    &((struct conf_server *)obj)->listen : &((struct conf_site *)obj)->listen;
	struct conf_listen *l, one;
	size_t alen = strcspn(val, " \t");
	char *addr = arena_strndup(&p->c->arena, val, alen);
	const char *w = val + alen;

	memset(&one, 0, sizeof(one));
	if (strchr(addr, ',') != NULL) {
		snprintf(err, WEIR_ERRLEN, "'%s': one address per listen line (options follow it after a blank)",
		    val);
		return -1;
	}
	if (sockaddr_parse(addr, &one.ss, &one.sslen, err) == -1)
		return -1;
	if (one.ss.ss_family == AF_UNIX) {
		snprintf(err, WEIR_ERRLEN, "'%s': listen takes an IP address and port", addr);
		return -1;
	}
	for (;;) {
		size_t n;

		w += strspn(w, " \t");
		if (*w == '\0')
			break;
		n = strcspn(w, " \t");
		if (n > 5 && strncmp(w, "alpn=", 5) == 0) {
			if (listen_alpn(&one, w + 5, n - 5, err) == -1)
				return -1;
		} else if (n > 12 && strncmp(w, "health_path=", 12) == 0) {
			one.health_path = arena_strndup(&p->c->arena, w + 12, n - 12);
			if (!health_path_ok(one.health_path)) {
				snprintf(err, WEIR_ERRLEN, "health_path=%s is not a path (it starts with '/', no query)",
				    one.health_path);
				return -1;
			}
		} else if (listen_option(&one, w, n) == -1) {
			char list[128] = "";

			for (size_t i = 0; i < nitems(listen_opts); i++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list),
				    "%s%s", i ? ", " : "", listen_opts[i].name);
			snprintf(err, WEIR_ERRLEN, "'%.*s' is not a listen option (%s, alpn=, health_path=)",
			    (int)n, w, list);
			return -1;
		}
		w += n;
	}
	for (size_t i = 0; i < ls->n; i++) {
		if (ls->v[i].sslen == one.sslen && memcmp(&ls->v[i].ss, &one.ss, one.sslen) == 0) {
			snprintf(err, WEIR_ERRLEN, "'%s' is already listed on line %d",
			    addr, ls->v[i].line);
			return -1;
		}
	}
	l = arr_push(&p->c->arena, (void **)&ls->v, &ls->n, sizeof(*l));
	*l = one;
	l->spec = addr;
	l->line = p->line;
	return 0;
}

/* "ADDR opt opt": a listen line as text, for reload's comparison. */
static void
listen_text(const struct conf_listens *ls, char *buf, size_t bufsz)
{
	buf[0] = '\0';
	for (size_t i = 0; i < ls->n; i++) {
		const struct conf_listen *l = &ls->v[i];

		snprintf(buf + strlen(buf), bufsz - strlen(buf), "%s%s", i ? ", " : "", l->spec);
		for (size_t j = 0; j < nitems(listen_opts); j++)
			if (*(const bool *)(const void *)((const char *)l + listen_opts[j].off))
				snprintf(buf + strlen(buf), bufsz - strlen(buf), " %s",
				    listen_opts[j].name);
		for (size_t j = 0; j < CONF_ALPN_MAX && l->alpn[j] != CONF_ALPN_NONE; j++)
			snprintf(buf + strlen(buf), bufsz - strlen(buf), "%s%s",
			    j ? "," : " alpn=", conf_alpn_name(l->alpn[j]));
		if (l->health_path != NULL)
			snprintf(buf + strlen(buf), bufsz - strlen(buf), " health_path=%s",
			    l->health_path);
	}
	if (ls->n == 0)
		snprintf(buf, bufsz, "(none)");
}

/* `tls_protocols = TLSv1.2, TLSv1.3`: OpenSSL's names, each once. */
static int
custom_tls_protocols(struct conf_parse *p, void *obj, const char *val, char *err)
{
	struct conf_server *s = obj;
	struct strlist l = { NULL, 0 };

	if (parse_list(p, &l, val, err) == -1)
		return -1;
	for (size_t i = 0; i < l.n; i++) {
		size_t k;

		for (k = 0; tls_protocol_names[k] != NULL; k++)
			if (strcmp(l.v[i], tls_protocol_names[k]) == 0)
				break;
		if (tls_protocol_names[k] == NULL) {
			snprintf(err, WEIR_ERRLEN, "'%s' is not one of: TLSv1, TLSv1.1, TLSv1.2, TLSv1.3",
			    l.v[i]);
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(l.v[i], l.v[j]) == 0) {
				snprintf(err, WEIR_ERRLEN, "%s is listed twice", l.v[i]);
				return -1;
			}
		}
	}
	s->tls_protocols = l;
	return 0;
}

/*
 * Add v (written on the current line) to a site's certificates or keys:
 * at most CONF_CERT_MAX, each once.
 */
static int
cert_add(struct conf_parse *p, struct strlist *l, int *lines, const char *what,
    const char *v, char *err)
{
	if (l->n == CONF_CERT_MAX) {
		snprintf(err, WEIR_ERRLEN, "at most %d %s a site (an ECDSA and an RSA one)",
		    CONF_CERT_MAX, what);
		return -1;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i], v) == 0) {
			snprintf(err, WEIR_ERRLEN, "%s is already given on line %d", v, lines[i]);
			return -1;
		}
	}
	lines[l->n] = p->line;
	strlist_add(&p->c->arena, l, v, strlen(v));
	return 0;
}

/* `certificate = PATH | acme` */
static int
custom_certificate(struct conf_parse *p, void *obj, const char *val, char *err)
{
	struct conf_site *s = obj;

	return cert_add(p, &s->certificate, s->certificate_line, "certificates",
	    strcmp(val, "acme") == 0 ? val : resolve_path(p, val), err);
}

/* `certificate_key = PATH`: the key of the certificate in the same position. */
static int
custom_certificate_key(struct conf_parse *p, void *obj, const char *val, char *err)
{
	struct conf_site *s = obj;

	return cert_add(p, &s->certificate_key, s->certificate_key_line, "keys",
	    resolve_path(p, val), err);
}

/*
 * `hsts = off | DURATION [includeSubDomains] [preload]` (RFC 6797).  preload
 * asks browsers' preload lists to take the domain, whose rules
 * (hstspreload.org) want includeSubDomains and at least a year: without
 * them the list refuses the domain, so the mistake is caught here.
 */
static int
custom_hsts(struct conf_parse *p, void *obj, const char *val, char *err)
{
	struct conf_hsts *h = &((struct conf_site *)obj)->hsts;
	char buf[256], *save = NULL, *w;
	uint64_t ms;

	memset(h, 0, sizeof(*h));
	h->line = p->line;
	if (strcmp(val, "off") == 0)
		return 0;
	if (strlen(val) >= sizeof(buf)) {
		snprintf(err, WEIR_ERRLEN, "value too long");
		return -1;
	}
	strcpy(buf, val);
	w = strtok_r(buf, " \t", &save);
	if (w == NULL || conf_duration(w, &ms) == -1) {
		snprintf(err, WEIR_ERRLEN, "'%s' is not off or a duration (e.g. 365d)", val);
		return -1;
	}
	h->on = true;
	h->max_age = ms / 1000;
	while ((w = strtok_r(NULL, " \t", &save)) != NULL) {
		bool *flag = strcasecmp(w, "includeSubDomains") == 0 ? &h->subdomains :
		    strcasecmp(w, "preload") == 0 ? &h->preload : NULL;

		if (flag == NULL) {
			snprintf(err, WEIR_ERRLEN, "'%s' is not includeSubDomains or preload", w);
			return -1;
		}
		*flag = true;
	}
	if (h->preload && (!h->subdomains || h->max_age < 365ULL * 86400)) {
		snprintf(err, WEIR_ERRLEN, "preload needs includeSubDomains and at least 365d (the preload list refuses less)");
		return -1;
	}
	return 0;
}

static int
custom_threads(struct conf_parse *p, void *obj, const char *val, char *err)
{
	struct conf_server *s = obj;
	uint64_t n;

	(void)p;
	if (strcmp(val, "auto") == 0) {
		s->threads = 0;
		return 0;
	}
	if (parse_u64(val, &n, NULL) == -1 || n < 1 || n > 256) {
		snprintf(err, WEIR_ERRLEN, "'%s' is not auto or a number in 1..256", val);
		return -1;
	}
	s->threads = (unsigned)n;
	return 0;
}

/* `trusted_proxies = 10.0.0.0/8, ::1`: appended to the server's list. */
static int
custom_trusted(struct conf_parse *p, void *obj, const char *val, char *err)
{
	struct conf_server *s = obj;
	struct strlist l = { NULL, 0 };

	if (parse_list(p, &l, val, err) == -1)
		return -1;
	for (size_t i = 0; i < l.n; i++) {
		struct cidr *v = arr_push(&p->c->arena, (void **)&s->trusted_proxies,
		    &s->ntrusted_proxies, sizeof(*v));

		if (cidr_parse(l.v[i], strlen(l.v[i]), v, err) == -1) {
			s->ntrusted_proxies--;
			return -1;
		}
	}
	return 0;
}

static int
custom_hosts(struct conf_parse *p, void *obj, const char *val, char *err)
{
	struct conf_site *s = obj;
	size_t first = s->hosts.n;

	if (parse_list(p, &s->hosts, val, err) == -1)
		return -1;
	for (size_t i = first; i < s->hosts.n; i++) {
		char *h = s->hosts.v[i];
		const char *q = h;
		size_t hl = strlen(h);
		/*
		 * ':' only inside an IPv6 literal "[...]": the router compares
		 * the Host without its port, so "name:port" could never match.
		 */
		bool lit = hl > 2 && h[0] == '[' && h[hl - 1] == ']';

		if (q[0] == '*' && q[1] == '.' && q[2] != '\0')
			q += 2;
		for (; *q; q++) {
			if (!isalnum((unsigned char)*q) && *q != '-' && *q != '.' &&
			    !(lit && (*q == ':' || q == h || q == h + hl - 1))) {
				snprintf(err, WEIR_ERRLEN, "'%s' is not a host name%s", h,
				    strchr(h, ':') != NULL && !lit ?
				    " (no port: the site's listen addresses say that)" : "");
				return -1;
			}
		}
		for (char *c = h; *c; c++)
			*c = ascii_lower(*c);
	}
	return 0;
}

/*
 * Split val into at most max blank-separated words (copied into buf, which
 * has room for val).  Returns the number of words, or max + 1 when there are
 * more.
 */
static int
split_words(const char *val, char *buf, char **w, int max)
{
	int n = 0;

	strcpy(buf, val);
	for (char *t = strtok(buf, " \t"); t != NULL; t = strtok(NULL, " \t")) {
		if (n == max)
			return max + 1;
		w[n++] = t;
	}
	return n;
}

/* A route or alias prefix: a plain absolute path, trailing '/' dropped. */
static int
check_prefix(char *prefix, const char *what, char *err)
{
	size_t n;

	if (prefix[0] != '/' || strstr(prefix, "//") || strstr(prefix, "/./") ||
	    strstr(prefix, "/../") || strchr(prefix, '?') || strchr(prefix, '%') ||
	    strchr(prefix, '#')) {
		snprintf(err, WEIR_ERRLEN, "%s prefix '%s' must be a plain absolute path", what, prefix);
		return -1;
	}
	n = strlen(prefix);
	while (n > 1 && prefix[n - 1] == '/')
		prefix[--n] = '\0';
	return 0;
}

/* A script path (app SCRIPT, fallback): a file under root, as a URL path. */
static bool
plain_script(const char *s)
{
	return s[0] == '/' && s[1] != '\0' && s[strlen(s) - 1] != '/' &&
	    strstr(s, "/.") == NULL && strstr(s, "//") == NULL &&
	    strpbrk(s, "?#%") == NULL;
}

/* app = PREFIX POOL [SCRIPT] [strip_prefix] */
static int
custom_app(struct conf_parse *p, void *obj, const char *val, char *err)
{
	struct conf_site *s = obj;
	struct conf_app *a;
	char buf[CONF_INI_MAX_LINE], *w[5], *script = NULL;
	bool strip = false;
	int n = split_words(val, buf, w, 4);

	if (n < 2 || n > 4) {
		snprintf(err, WEIR_ERRLEN, "expected 'app = PREFIX POOL [SCRIPT] [strip_prefix]', got '%s'", val);
		return -1;
	}
	for (int i = 2; i < n; i++) {
		if (strcmp(w[i], "strip_prefix") == 0 && !strip)
			strip = true;
		else if (plain_script(w[i]) && script == NULL && !strip)
			script = w[i];
		else {
			snprintf(err, WEIR_ERRLEN, "'%s' is neither a script path like /index.php nor strip_prefix", w[i]);
			return -1;
		}
	}
	if (check_prefix(w[0], "app", err) == -1)
		return -1;
	if (!valid_name(w[1])) {
		snprintf(err, WEIR_ERRLEN, "'%s' is not a valid pool name", w[1]);
		return -1;
	}
	for (size_t i = 0; i < s->napps; i++) {
		if (strcmp(s->apps[i].prefix, w[0]) == 0) {
			snprintf(err, WEIR_ERRLEN, "prefix '%s' is already mapped on line %d",
			    w[0], s->apps[i].line);
			return -1;
		}
	}
	a = arr_push(&p->c->arena, (void **)&s->apps, &s->napps, sizeof(*a));
	a->prefix = arena_strdup(&p->c->arena, w[0]);
	a->prefixlen = strlen(w[0]);
	a->pool = arena_strdup(&p->c->arena, w[1]);
	a->pool_idx = -1;
	a->script = script != NULL ? arena_strdup(&p->c->arena, script) : NULL;
	a->strip_prefix = strip;
	a->line = p->line;
	return 0;
}

/* alias = PREFIX DIR */
static int
custom_alias(struct conf_parse *p, void *obj, const char *val, char *err)
{
	struct conf_site *s = obj;
	struct conf_alias *a;
	char buf[CONF_INI_MAX_LINE], *w[3];

	if (split_words(val, buf, w, 2) != 2) {
		snprintf(err, WEIR_ERRLEN, "expected 'alias = PREFIX DIR', got '%s'", val);
		return -1;
	}
	if (check_prefix(w[0], "alias", err) == -1)
		return -1;
	if (strcmp(w[0], "/") == 0) {
		snprintf(err, WEIR_ERRLEN, "/ is what root is for");
		return -1;
	}
	for (size_t i = 0; i < s->naliases; i++) {
		if (strcmp(s->aliases[i].prefix, w[0]) == 0) {
			snprintf(err, WEIR_ERRLEN, "alias '%s' is already set on line %d",
			    w[0], s->aliases[i].line);
			return -1;
		}
	}
	a = arr_push(&p->c->arena, (void **)&s->aliases, &s->naliases, sizeof(*a));
	a->prefix = arena_strdup(&p->c->arena, w[0]);
	a->prefixlen = strlen(w[0]);
	a->dir = resolve_path(p, w[1]);
	a->line = p->line;
	return 0;
}

static void
free_code(void *code)
{
	pcre2_code_free(code);
}

/*
 * Compile a rule's regex (owned by the configuration's arena from then on)
 * and add the rule to the site's list.
 */
static int
add_rule(struct conf_parse *p, struct conf_site *s, const char *re, const char *repl,
    int flag, int status, char *err)
{
	struct conf_rewrite *rw;
	pcre2_code *code;
	PCRE2_SIZE off;
	int ec;

	code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &ec, &off, NULL);
	if (code == NULL) {
		PCRE2_UCHAR msg[160];

		pcre2_get_error_message(ec, msg, sizeof(msg));
		snprintf(err, WEIR_ERRLEN, "regex '%s': %s at offset %zu", re, (char *)msg, (size_t)off);
		return -1;
	}
	if (arena_cleanup_add(&p->c->arena, free_code, code) == -1) {
		pcre2_code_free(code);
		snprintf(err, WEIR_ERRLEN, "out of memory");
		return -1;
	}
	/* no JIT on this CPU (or no executable memory): the interpreter matches the same */
	(void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
	rw = arr_push(&p->c->arena, (void **)&s->rewrites, &s->nrewrites, sizeof(*rw));
	rw->regex = arena_strdup(&p->c->arena, re);
	rw->code = code;
	rw->repl = arena_strdup(&p->c->arena, repl);
	rw->flag = flag;
	rw->status = status;
	rw->line = p->line;
	return 0;
}

/* rewrite = REGEX REPLACEMENT [last|break|redirect|permanent] */
static int
custom_rewrite(struct conf_parse *p, void *obj, const char *val, char *err)
{
	static const char *const flags[] = { "", "last", "break", "redirect", "permanent" };
	char buf[CONF_INI_MAX_LINE], *w[4];
	int n = split_words(val, buf, w, 3), flag = -1;

	if (n < 2 || n > 3) {
		snprintf(err, WEIR_ERRLEN, "expected 'rewrite = REGEX REPLACEMENT [last|break|redirect|permanent]', got '%s'", val);
		return -1;
	}
	for (int i = 1; i < (int)nitems(flags); i++)
		if (n == 3 && strcmp(w[2], flags[i]) == 0)
			flag = i;
	if (n == 2)
		flag = RW_NEXT;
	if (flag == -1) {
		snprintf(err, WEIR_ERRLEN, "unknown flag '%s' (last, break, redirect, permanent)", w[2]);
		return -1;
	}
	if (w[1][0] != '/' && strncmp(w[1], "http://", 7) != 0 &&
	    strncmp(w[1], "https://", 8) != 0 && w[1][0] != '$') {
		snprintf(err, WEIR_ERRLEN, "replacement '%s' must begin with '/', '$' or http(s)://", w[1]);
		return -1;
	}
	return add_rule(p, obj, w[0], w[1], flag, 0, err);
}

/* return = REGEX STATUS [URL] */
static int
custom_return(struct conf_parse *p, void *obj, const char *val, char *err)
{
	char buf[CONF_INI_MAX_LINE], *w[4], *end;
	int n = split_words(val, buf, w, 3);
	long st;

	if (n < 2 || n > 3) {
		snprintf(err, WEIR_ERRLEN, "expected 'return = REGEX STATUS [URL]', got '%s'", val);
		return -1;
	}
	st = strtol(w[1], &end, 10);
	if (*end != '\0' || st < 200 || st > 599) {
		snprintf(err, WEIR_ERRLEN, "status '%s' is not 200..599", w[1]);
		return -1;
	}
	if ((st >= 300 && st < 400 && st != 304) != (n == 3)) {
		snprintf(err, WEIR_ERRLEN, n == 3 ? "a URL goes with a redirect status (301, 302, 303, 307, 308)" :
		    "%ld is a redirect: it needs a URL", st);
		return -1;
	}
	return add_rule(p, obj, w[0], n == 3 ? w[2] : "", RW_RETURN, (int)st, err);
}

/* script = .EXT POOL */
static int
custom_script(struct conf_parse *p, void *obj, const char *val, char *err)
{
	struct conf_site *s = obj;
	struct conf_script *sc;
	char ext[64], pool[CONF_NAME_MAX + 2];
	int used = 0;

	if (sscanf(val, "%63s %65s%n", ext, pool, &used) != 2 || val[used] != '\0') {
		snprintf(err, WEIR_ERRLEN, "expected 'script = .EXT POOL', got '%s'", val);
		return -1;
	}
	if (ext[0] != '.' || ext[1] == '\0' || strchr(ext + 1, '.') || strchr(ext, '/')) {
		snprintf(err, WEIR_ERRLEN, "'%s' is not an extension like .php", ext);
		return -1;
	}
	if (!valid_name(pool)) {
		snprintf(err, WEIR_ERRLEN, "'%s' is not a valid pool name", pool);
		return -1;
	}
	for (size_t i = 0; i < s->nscripts; i++) {
		if (strcasecmp(s->scripts[i].ext, ext) == 0) {
			snprintf(err, WEIR_ERRLEN, "'%s' is already mapped on line %d",
			    ext, s->scripts[i].line);
			return -1;
		}
	}
	sc = arr_push(&p->c->arena, (void **)&s->scripts, &s->nscripts, sizeof(*sc));
	sc->ext = arena_strdup(&p->c->arena, ext);
	sc->extlen = strlen(ext);
	sc->pool = arena_strdup(&p->c->arena, pool);
	sc->pool_idx = -1;
	sc->line = p->line;
	return 0;
}

static int
custom_env(struct conf_parse *p, void *obj, const char *val, char *err)
{
	struct conf_pool *pl = obj;
	const char *eq = strchr(val, '=');

	if (eq == NULL || eq == val) {
		snprintf(err, WEIR_ERRLEN, "expected 'env = KEY=VALUE', got '%s'", val);
		return -1;
	}
	for (const char *q = val; q < eq; q++) {
		if (!isalnum((unsigned char)*q) && *q != '_') {
			snprintf(err, WEIR_ERRLEN, "'%.*s' is not a valid environment variable name",
			    (int)(eq - val), val);
			return -1;
		}
	}
	for (size_t i = 0; i < pl->env.n; i++) {
		if (strncmp(pl->env.v[i], val, (size_t)(eq - val) + 1) == 0) {
			snprintf(err, WEIR_ERRLEN, "'%.*s' is set twice", (int)(eq - val), val);
			return -1;
		}
	}
	strlist_add(&p->c->arena, &pl->env, val, strlen(val));
	return 0;
}

/* rapid_fail = N in DURATION | off */
static int
custom_rapid_fail(struct conf_parse *p, void *obj, const char *val, char *err)
{
	struct conf_pool *pl = obj;
	char dur[64];
	unsigned n;
	int used = 0;

	(void)p;
	if (strcmp(val, "off") == 0) {
		pl->rapid_fail_count = 0;
		pl->rapid_fail_window = 0;
		return 0;
	}
	if (sscanf(val, "%u in %63s%n", &n, dur, &used) != 2 ||
	    val[used] != '\0' || !isdigit((unsigned char)val[0]) ||
	    conf_duration(dur, &pl->rapid_fail_window) == -1 ||
	    n < 1 || n > 1000 || pl->rapid_fail_window < SEC ||
	    pl->rapid_fail_window > DAY) {
		snprintf(err, WEIR_ERRLEN,
		    "expected 'N in DURATION' (N 1..1000, 1s..1d) or off, got '%s'", val);
		return -1;
	}
	pl->rapid_fail_count = n;
	return 0;
}

static int
cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* recycle_schedule = HH:MM[, HH:MM ...] */
static int
custom_schedule(struct conf_parse *p, void *obj, const char *val, char *err)
{
	struct conf_pool *pl = obj;
	struct strlist l = { NULL, 0 };

	if (parse_list(p, &l, val, err) == -1)
		return -1;
	pl->recycle_schedule = arena_alloc(&p->c->arena, l.n * sizeof(int));
	if (pl->recycle_schedule == NULL)
		abort();
	for (size_t i = 0; i < l.n; i++) {
		const char *t = l.v[i];
		unsigned h, m;

		/* exactly two digits each: sscanf alone would take "+3:00" or "3: 00" */
		if (strlen(t) != 5 || !isdigit((unsigned char)t[0]) ||
		    !isdigit((unsigned char)t[1]) || t[2] != ':' ||
		    !isdigit((unsigned char)t[3]) || !isdigit((unsigned char)t[4]) ||
		    sscanf(t, "%2u:%2u", &h, &m) != 2 || h > 23 || m > 59) {
			snprintf(err, WEIR_ERRLEN, "'%s' is not a time of day HH:MM", l.v[i]);
			return -1;
		}
		pl->recycle_schedule[i] = (int)(h * 60 + m);
	}
	pl->nrecycle_schedule = l.n;
	qsort(pl->recycle_schedule, l.n, sizeof(int), cmp_int);
	return 0;
}

static int
custom_limit_core(struct conf_parse *p, void *obj, const char *val, char *err)
{
	struct conf_pool *pl = obj;

	(void)p;
	if (strcmp(val, "unlimited") == 0) {
		pl->limit_core = UINT64_MAX - 1;
		return 0;
	}
	if (conf_size(val, &pl->limit_core) == -1 || pl->limit_core >= UINT64_MAX - 1) {
		snprintf(err, WEIR_ERRLEN, "'%s' is not a size or unlimited", val);
		return -1;
	}
	return 0;
}

/* cpu_max: "20%" or "20", percent of one CPU, 1 to 100 per CPU up to 1024 CPUs. */
static int
custom_cpu_max(struct conf_parse *p, void *obj, const char *val, char *err)
{
	struct conf_pool *pl = obj;
	char *end;
	unsigned long v;

	(void)p;
	errno = 0;
	v = strtoul(val, &end, 10);
	if (end != val && *end == '%')
		end++;
	if (errno != 0 || end == val || *end != '\0' || v < 1 || v > 102400) {
		snprintf(err, WEIR_ERRLEN, "'%s' is not a percent of one CPU (1%% to 102400%%)",
		    val);
		return -1;
	}
	pl->cpu_max = (unsigned)v;
	return 0;
}

/* --- applying one key ------------------------------------------------------ */

static int
apply_key(struct conf_parse *p, const struct conf_key *k, void *obj,
    const char *val, char *err)
{
	char *field = (char *)obj + k->off;
	uint64_t v;

	switch (k->type) {
	case CT_UINT:
		if (parse_u64(val, &v, NULL) == -1 || v < k->min || v > k->max) {
			snprintf(err, WEIR_ERRLEN, "'%s' is out of range %llu..%llu",
			    val, (unsigned long long)k->min, (unsigned long long)k->max);
			return -1;
		}
		*(unsigned *)(void *)field = (unsigned)v;
		return 0;
	case CT_DURATION:
		if (conf_duration(val, &v) == -1) {
			snprintf(err, WEIR_ERRLEN, "'%s' is not a duration (e.g. 500ms, 30s, 5m, 2h, 1d)", val);
			return -1;
		}
		if ((v != 0 || k->min != 0) && (v < k->min || v > k->max)) {
			snprintf(err, WEIR_ERRLEN, "'%s' is out of range %llums..%llums",
			    val, (unsigned long long)k->min, (unsigned long long)k->max);
			return -1;
		}
		*(uint64_t *)(void *)field = v;
		return 0;
	case CT_SIZE:
		if (conf_size(val, &v) == -1) {
			snprintf(err, WEIR_ERRLEN, "'%s' is not a size (e.g. 512, 64k, 16M, 2G)", val);
			return -1;
		}
		if (v < k->min || v > k->max) {
			snprintf(err, WEIR_ERRLEN, "'%s' is out of range %llu..%llu bytes",
			    val, (unsigned long long)k->min, (unsigned long long)k->max);
			return -1;
		}
		*(uint64_t *)(void *)field = v;
		return 0;
	case CT_BOOL:
		if (parse_bool(val, (bool *)(void *)field) == -1) {
			snprintf(err, WEIR_ERRLEN, "'%s' is not yes or no", val);
			return -1;
		}
		return 0;
	case CT_STRING:
		if (*val == '\0') {
			snprintf(err, WEIR_ERRLEN, "empty value");
			return -1;
		}
		*(char **)(void *)field = arena_strdup(&p->c->arena, val);
		return 0;
	case CT_PATH:
		if (*val == '\0') {
			snprintf(err, WEIR_ERRLEN, "empty path");
			return -1;
		}
		*(char **)(void *)field = resolve_path(p, val);
		return 0;
	case CT_ENUM:
		for (int i = 0; k->enums[i] != NULL; i++) {
			if (strcmp(val, k->enums[i]) == 0) {
				*(int *)(void *)field = i;
				return 0;
			}
		}
		{
			char list[128] = "";

			for (int i = 0; k->enums[i] != NULL; i++) {
				if (i)
					strncat(list, ", ", sizeof(list) - strlen(list) - 1);
				strncat(list, k->enums[i], sizeof(list) - strlen(list) - 1);
			}
			snprintf(err, WEIR_ERRLEN, "'%s' is not one of: %s", val, list);
		}
		return -1;
	case CT_LIST:
		return parse_list(p, (struct strlist *)(void *)field, val, err);
	case CT_CUSTOM:
		return k->custom(p, obj, val, err);
	}
	return -1;
}

static const struct conf_key *
find_key(enum conf_section s, const char *name, size_t *idx)
{
	for (size_t i = 0; i < conf_nkeys; i++) {
		if (conf_keys[i].section == s && strcmp(conf_keys[i].name, name) == 0) {
			*idx = i;
			return &conf_keys[i];
		}
	}
	return NULL;
}

/* Append "a, b, c" (the elements of a list) to buf. */
static void
text_join(char *buf, size_t bufsz, const char *const *v, size_t n, size_t stride)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && len < bufsz; i++) {
		const char *e = *(const char *const *)(const void *)((const char *)v + i * stride);
		int w = snprintf(buf + len, bufsz - len, "%s%s", i ? ", " : "", e);

		if (w < 0)
			break;
		len += (size_t)w;
	}
	if (n == 0)
		snprintf(buf, bufsz, "(none)");
}

/*
 * The value of key k in its section's struct obj, as text a person can
 * compare ("auto", "30000ms", "10485760", "(none)"): reload.c names what
 * changed with it, and two values are the same setting exactly when their
 * texts are equal.
 */
void
conf_value_text(const struct conf_key *k, const void *obj, char *buf, size_t bufsz)
{
	const char *field = (const char *)obj + k->off;

	switch (k->type) {
	case CT_UINT:
		snprintf(buf, bufsz, "%u", *(const unsigned *)(const void *)field);
		return;
	case CT_DURATION:
		snprintf(buf, bufsz, "%llums",
		    (unsigned long long)*(const uint64_t *)(const void *)field);
		return;
	case CT_SIZE:
		snprintf(buf, bufsz, "%llu",
		    (unsigned long long)*(const uint64_t *)(const void *)field);
		return;
	case CT_BOOL:
		snprintf(buf, bufsz, "%s", *(const bool *)(const void *)field ? "yes" : "no");
		return;
	case CT_STRING:
	case CT_PATH: {
		const char *v = *(const char *const *)(const void *)field;

		snprintf(buf, bufsz, "%s", v != NULL ? v : "(none)");
		return;
	}
	case CT_ENUM:
		snprintf(buf, bufsz, "%s", k->enums[*(const int *)(const void *)field]);
		return;
	case CT_LIST: {
		const struct strlist *l = (const void *)field;

		text_join(buf, bufsz, (const char *const *)l->v, l->n, sizeof(char *));
		return;
	}
	case CT_CUSTOM:
		break;
	}
	if (k->custom == custom_threads) {
		unsigned n = ((const struct conf_server *)obj)->threads;

		if (n == 0)
			snprintf(buf, bufsz, "auto");
		else
			snprintf(buf, bufsz, "%u", n);
	} else if (k->custom == custom_listen) {
		listen_text(k->section == CS_SERVER ?
		    &((const struct conf_server *)obj)->listen :
		    &((const struct conf_site *)obj)->listen, buf, bufsz);
	} else if (k->custom == custom_tls_protocols) {
		const struct strlist *l = &((const struct conf_server *)obj)->tls_protocols;

		text_join(buf, bufsz, (const char *const *)l->v, l->n, sizeof(char *));
	} else if (k->custom == custom_cpu_max) {
		unsigned v = ((const struct conf_pool *)obj)->cpu_max;

		snprintf(buf, bufsz, v ? "%u%%" : "none", v);
	} else if (k->custom == custom_hsts) {
		const struct conf_hsts *h = &((const struct conf_site *)obj)->hsts;

		if (!h->on)
			snprintf(buf, bufsz, "off");
		else
			snprintf(buf, bufsz, "%llus%s%s", (unsigned long long)h->max_age,
			    h->subdomains ? " includeSubDomains" : "", h->preload ? " preload" : "");
	} else {
		snprintf(buf, bufsz, "(set)");
	}
}

static void
apply_defaults(struct conf_parse *p, enum conf_section s, void *obj)
{
	char err[WEIR_ERRLEN];

	for (size_t i = 0; i < conf_nkeys; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->section != s || p->keyline[i] != 0)
			continue;
		if (k->def == NULL)
			continue;
		/* server listen default applies only if no site listens itself:
		 * decided in validate(); see there. */
		if (s == CS_SERVER && strcmp(k->name, "listen") == 0)
			continue;
		if (apply_key(p, k, obj, k->def, err) == -1)
			abort();	/* a bad default is a bug in the table */
	}
}

/* --- sections ------------------------------------------------------------- */

static void
end_section(struct conf_parse *p)
{
	if (p->obj != NULL)
		apply_defaults(p, p->sect, p->obj);
	p->obj = NULL;
	memset(p->keyline, 0, conf_nkeys * sizeof(int));
}

/* Handle a "[...]" line; `s` points at '['. */
static void
begin_section(struct conf_parse *p, const char *s)
{
	char kind[16], name[CONF_NAME_MAX + 8];
	const char *close = strchr(s, ']');
	size_t n;
	char buf[256];

	end_section(p);
	p->section_line = p->line;
	if (close == NULL) {
		int shown = (int)strcspn(s, "\r\n;#");

		while (shown > 1 && (s[shown - 1] == ' ' || s[shown - 1] == '\t'))
			shown--;
		conf_error(p, p->line, "section header '%.*s' has no closing ']' (expected [server], [site NAME] or [pool NAME])",
		    shown > 40 ? 40 : shown, s);
		return;
	}
	if ((n = (size_t)(close - s - 1)) >= sizeof(buf)) {
		conf_error(p, p->line, "section header longer than %zu characters (names are at most %d)",
		    sizeof(buf) - 1, CONF_NAME_MAX);
		return;
	}
	{
		const char *t = close + 1;

		while (*t == ' ' || *t == '\t')
			t++;
		if (*t != '\0' && *t != ';' && *t != '#' && *t != '\r' && *t != '\n') {
			conf_error(p, p->line, "text after section header");
			return;
		}
	}
	memcpy(buf, s + 1, n);
	buf[n] = '\0';
	name[0] = '\0';
	if (sscanf(buf, "%15s %71s", kind, name) < 1) {
		conf_error(p, p->line, "empty section name");
		return;
	}
	if (strcmp(kind, "server") == 0) {
		if (name[0] != '\0') {
			conf_error(p, p->line, "[server] takes no name");
			return;
		}
		if (p->server_seen) {
			conf_error(p, p->line, "[server] given twice (first on line %d)",
			    p->c->server.line);
			return;
		}
		p->server_seen = true;
		p->c->server.line = p->line;
		p->sect = CS_SERVER;
		p->obj = &p->c->server;
		return;
	}
	if (strcmp(kind, "site") != 0 && strcmp(kind, "pool") != 0) {
		conf_error(p, p->line, "unknown section [%s] (expected [server], [site NAME] or [pool NAME])", buf);
		return;
	}
	if (!valid_name(name)) {
		conf_error(p, p->line, "[%s]: name must be 1..%d of A-Z a-z 0-9 _ - .",
		    buf, CONF_NAME_MAX);
		return;
	}
	{
		/* nothing after the name */
		char extra[8];

		if (sscanf(buf, "%*s %*s %7s", extra) == 1) {
			conf_error(p, p->line, "[%s]: expected [%s NAME]", buf, kind);
			return;
		}
	}
	if (kind[1] == 'i') {
		struct conf_site *st;

		for (size_t i = 0; i < p->c->nsites; i++) {
			if (strcmp(p->c->sites[i].name, name) == 0) {
				conf_error(p, p->line, "[site %s] given twice (first on line %d)",
				    name, p->c->sites[i].line);
				return;
			}
		}
		st = arr_push(&p->c->arena, (void **)&p->c->sites, &p->c->nsites, sizeof(*st));
		st->name = arena_strdup(&p->c->arena, name);
		st->line = p->line;
		p->sect = CS_SITE;
		p->obj = st;
	} else {
		struct conf_pool *pl;

		for (size_t i = 0; i < p->c->npools; i++) {
			if (strcmp(p->c->pools[i].name, name) == 0) {
				conf_error(p, p->line, "[pool %s] given twice (first on line %d)",
				    name, p->c->pools[i].line);
				return;
			}
		}
		pl = arr_push(&p->c->arena, (void **)&p->c->pools, &p->c->npools, sizeof(*pl));
		pl->name = arena_strdup(&p->c->arena, name);
		pl->line = p->line;
		pl->limit_core = UINT64_MAX;
		p->sect = CS_POOL;
		p->obj = pl;
	}
}

/*
 * The arrays of sites and pools move while they grow (arr_push), so p->obj
 * must be re-derived: it always points at the last element of its kind.
 */
static void *
current_obj(struct conf_parse *p)
{
	if (p->obj == NULL)
		return NULL;
	switch (p->sect) {
	case CS_SERVER:
		return &p->c->server;
	case CS_SITE:
		return &p->c->sites[p->c->nsites - 1];
	case CS_POOL:
		return &p->c->pools[p->c->npools - 1];
	}
	return NULL;
}

/*
 * inih's reader: hand out one line at a time from the in-memory text, count
 * lines, and catch what inih would not tell us about.
 */
static char *
reader(char *str, int num, void *stream)
{
	struct conf_parse *p = stream;
	const char *s, *e, *t, *b;
	size_t n;

	if (p->pos >= p->len)
		return NULL;
	s = p->text + p->pos;
	e = memchr(s, '\n', p->len - p->pos);
	n = e ? (size_t)(e - s) : p->len - p->pos;
	p->pos += n + (e ? 1 : 0);
	p->line++;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (memchr(s, '\0', n) != NULL) {
		conf_error(p, p->line, "NUL byte in line");
		n = 0;
	}
	if (n >= (size_t)num - 1) {
		conf_error(p, p->line, "line longer than %d characters", num - 2);
		n = 0;
	}
	memcpy(str, s, n);
	str[n] = '\n';
	str[n + 1] = '\0';

	/*
	 * What kind of line is it?  Decide as inih (ini.c) will: it skips a
	 * UTF-8 BOM on line 1, and an indented line continues the previous
	 * key only if there is one since the section header; otherwise it is
	 * a key line of its own.
	 */
	p->continuation = false;
	b = str;
	if (p->line == 1 && strncmp(b, "\xEF\xBB\xBF", 3) == 0)
		b += 3;
	t = b;
	while (*t == ' ' || *t == '\t')
		t++;
	if (*t == '\n' || *t == ';' || *t == '#')
		return str;
	if (*t == '[') {
		p->prev_key = false;
		begin_section(p, t);
		/* inih tracks the section too; give it the line unchanged */
		return str;
	}
	if (t != b && p->prev_key)
		p->continuation = true;
	else if (!has_separator(t))
		conf_error(p, p->line, "expected 'key = value'");
	else
		p->prev_key = true;
	return str;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct conf_parse *p = user;
	const struct conf_key *k;
	char err[WEIR_ERRLEN], *val;
	size_t idx;
	void *obj;

	(void)section;
	obj = current_obj(p);
	if (obj == NULL) {
		if (p->section_line == 0)
			conf_error(p, p->line, "'%s' outside of any section", name);
		return 1;	/* the section header was already reported */
	}
	val = xstrdup(value);
	{
		char *v = str_trim(val);

		memmove(val, v, strlen(v) + 1);
	}
	/* Per-module settings in native pools: "module.key = value". */
	if (p->sect == CS_POOL && strchr(name, '.') != NULL) {
		struct conf_pool *pl = obj;
		struct conf_kv *kv;

		for (size_t i = 0; i < pl->nmodule_settings; i++) {
			if (strcmp(pl->module_settings[i].key, name) == 0) {
				conf_error(p, p->line, "%s: given twice in this section (first on line %d)",
				    name, pl->module_settings[i].line);
				free(val);
				return 1;
			}
		}
		kv = arr_push(&p->c->arena, (void **)&pl->module_settings,
		    &pl->nmodule_settings, sizeof(*kv));

		kv->key = arena_strdup(&p->c->arena, name);
		kv->value = arena_strdup(&p->c->arena, val);
		kv->line = p->line;
		free(val);
		return 1;
	}
	if ((k = find_key(p->sect, name, &idx)) == NULL) {
		conf_error(p, p->line, "unknown key '%s' in [%s]", name,
		    conf_section_name(p->sect));
		free(val);
		return 1;
	}
	if (p->continuation && (k->flags & CK_CONT) && p->keyline[idx] != 0 &&
	    k->type == CT_STRING) {
		/* a long value over several lines, joined with a space */
		char **field = (char **)(void *)((char *)obj + k->off);
		size_t a, b;
		char *joined;

		if (*field == NULL) {
			/* its first line was refused, and said so: nothing to join */
			free(val);
			return 1;
		}
		a = strlen(*field);
		b = strlen(val);
		if ((joined = arena_alloc(&p->c->arena, a + b + 2)) == NULL)
			abort();
		memcpy(joined, *field, a);
		joined[a] = ' ';
		memcpy(joined + a + 1, val, b + 1);
		*field = joined;
		free(val);
		return 1;
	}
	if (p->continuation && k->type != CT_LIST && !(k->flags & CK_MULTI)) {
		conf_error(p, p->line, "%s: continuation lines are only allowed for lists", name);
		free(val);
		return 1;
	}
	if (p->keyline[idx] != 0 && !(k->flags & CK_MULTI) && k->type != CT_LIST &&
	    !p->continuation) {
		conf_error(p, p->line, "%s: given twice in this section (first on line %d)",
		    name, p->keyline[idx]);
		free(val);
		return 1;
	}
	if (p->keyline[idx] == 0)
		p->keyline[idx] = p->line;
	if (apply_key(p, k, obj, val, err) == -1)
		conf_error(p, p->line, "%s: %s", name, err);
	free(val);
	return 1;
}

/* --- cross-checks ------------------------------------------------------------ */

static int
pool_index(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->npools; i++)
		if (strcmp(c->pools[i].name, name) == 0)
			return (int)i;
	return -1;
}

const struct conf_pool *
conf_pool_find(const struct conf *c, const char *name)
{
	int i = pool_index(c, name);

	return i < 0 ? NULL : &c->pools[i];
}

static bool
listens_overlap(const struct conf_listens *a, const struct conf_listens *b)
{
	for (size_t i = 0; i < a->n; i++)
		for (size_t j = 0; j < b->n; j++)
			if (a->v[i].sslen == b->v[j].sslen &&
			    memcmp(&a->v[i].ss, &b->v[j].ss, a->v[i].sslen) == 0)
				return true;
	return false;
}

static void
validate_pool(struct conf_parse *p, struct conf_pool *pl)
{
	char err[WEIR_ERRLEN];
	char **argv;

	if (pl->command != NULL && pl->address != NULL)
		conf_error(p, pl->line, "[pool %s]: command and address exclude each other", pl->name);
	if (pl->kind != POOL_KIND_NATIVE && pl->command == NULL && pl->address == NULL)
		conf_error(p, pl->line, "[pool %s]: needs command (a program weir starts) or address (an upstream it does not)",
		    pl->name);
	if (pl->kind == POOL_KIND_NATIVE && pl->modules.n == 0)
		conf_error(p, pl->line, "[pool %s]: kind = native needs modules", pl->name);
	if (pl->kind != POOL_KIND_NATIVE && pl->modules.n > 0)
		conf_error(p, pl->line, "[pool %s]: modules is only for kind = native", pl->name);
	if (pl->command != NULL) {
		if (conf_split_command(pl->command, &argv, err) == -1)
			conf_error(p, pl->line, "[pool %s]: command: %s", pl->name, err);
		else
			conf_argv_free(argv);
	}
	if (pl->address != NULL &&
	    sockaddr_parse(pl->address, &pl->address_ss, &pl->address_len, err) == -1)
		conf_error(p, pl->line, "[pool %s]: address: %s", pl->name, err);
	if (pl->ping_path != NULL && pl->ping_path[0] != '/')
		conf_error(p, pl->line, "[pool %s]: ping_path must start with '/'", pl->name);
	if (pl->read_write_paths.n > 0 && !pl->protect_system)
		conf_error(p, pl->line, "[pool %s]: read_write_paths needs protect_system = yes", pl->name);
	for (size_t i = 0; i < pl->read_write_paths.n; i++) {
		const char *rw = pl->read_write_paths.v[i];
		struct stat st;

		if (rw[0] != '/')
			conf_error(p, pl->line, "[pool %s]: read_write_paths: '%s' is not an absolute path",
			    pl->name, rw);
		else if ((p->flags & CONF_CHECK_FS) && stat(rw, &st) == -1)
			conf_error(p, pl->line, "[pool %s]: read_write_paths: %s: %s", pl->name, rw,
			    strerror(errno));
	}
	if ((pl->private_tmp || pl->protect_system) && pl->address != NULL)
		conf_error(p, pl->line, "[pool %s]: private_tmp and protect_system are for workers weir starts (not address)",
		    pl->name);
	for (size_t i = 0; i < pl->nmodule_settings; i++) {
		const struct conf_kv *kv = &pl->module_settings[i];
		size_t ml = (size_t)(strchr(kv->key, '.') - kv->key);
		bool found = false;

		if (pl->kind != POOL_KIND_NATIVE) {
			conf_error(p, kv->line, "unknown key '%s' in [pool] (module settings are for kind = native)",
			    kv->key);
			continue;
		}
		for (size_t j = 0; j < pl->modules.n; j++) {
			/* "dir/crash.so" is the module "crash" */
			const char *mn = pl->modules.v[j], *sl = strrchr(mn, '/');
			size_t mnl;

			if (sl != NULL)
				mn = sl + 1;
			mnl = strlen(mn);
			if (sl != NULL && mnl > 3 && strcmp(mn + mnl - 3, ".so") == 0)
				mnl -= 3;
			if (mnl == ml && strncmp(mn, kv->key, ml) == 0)
				found = true;
		}
		if (!found)
			conf_error(p, kv->line, "'%s': module '%.*s' is not in this pool's modules",
			    kv->key, (int)ml, kv->key);
	}
}

static void
validate_site(struct conf_parse *p, struct conf_site *s)
{
	struct stat st;

	if (s->root == NULL && s->napps == 0)
		conf_error(p, s->line, "[site %s]: needs root or at least one app", s->name);
	if (s->root != NULL && (p->flags & CONF_CHECK_FS)) {
		if (stat(s->root, &st) == -1)
			conf_error(p, s->line, "[site %s]: root %s: %s", s->name, s->root,
			    strerror(errno));
		else if (!S_ISDIR(st.st_mode))
			conf_error(p, s->line, "[site %s]: root %s is not a directory", s->name, s->root);
	}
	for (size_t i = 0; i < s->napps; i++) {
		struct conf_app *a = &s->apps[i];

		if ((a->pool_idx = pool_index(p->c, a->pool)) < 0)
			conf_error(p, a->line, "app %s: no [pool %s]", a->prefix, a->pool);
		else if (a->script != NULL &&
		    p->c->pools[a->pool_idx].kind != POOL_KIND_FASTCGI)
			conf_error(p, a->line, "app %s: a script needs a kind = fastcgi pool", a->prefix);
		else if (a->script != NULL && s->root == NULL)
			conf_error(p, a->line, "app %s: a script needs the site's root", a->prefix);
	}
	if (s->fallback != NULL) {
		const char *dot = strrchr(s->fallback, '.');
		bool mapped = false;

		for (size_t i = 0; dot != NULL && i < s->nscripts; i++)
			mapped = mapped || strcasecmp(dot, s->scripts[i].ext) == 0;
		if (!plain_script(s->fallback))
			conf_error(p, s->line, "[site %s]: fallback '%s' must be a script path like /index.php",
			    s->name, s->fallback);
		else if (!mapped)
			conf_error(p, s->line, "[site %s]: fallback %s: no script = line maps its extension",
			    s->name, s->fallback);
	}
	for (size_t i = 0; i < s->naliases; i++) {
		const struct conf_alias *a = &s->aliases[i];

		if ((p->flags & CONF_CHECK_FS) && (stat(a->dir, &st) == -1 || !S_ISDIR(st.st_mode)))
			conf_error(p, a->line, "alias %s: %s is not a directory", a->prefix, a->dir);
	}
	for (size_t i = 0; i < s->nscripts; i++) {
		struct conf_script *sc = &s->scripts[i];

		if ((sc->pool_idx = pool_index(p->c, sc->pool)) < 0)
			conf_error(p, sc->line, "script %s: no [pool %s]", sc->ext, sc->pool);
		else if (p->c->pools[sc->pool_idx].kind != POOL_KIND_FASTCGI)
			conf_error(p, sc->line, "script %s: pool %s is not kind = fastcgi",
			    sc->ext, sc->pool);
		if (s->root == NULL)
			conf_error(p, sc->line, "script %s: the site needs a root", sc->ext);
	}
	for (size_t i = 0; i < s->index.n; i++)
		if (strchr(s->index.v[i], '/') != NULL || strcmp(s->index.v[i], "..") == 0 ||
		    strcmp(s->index.v[i], ".") == 0)
			conf_error(p, s->line, "[site %s]: index '%s' must be a file name",
			    s->name, s->index.v[i]);
}

bool
conf_site_has_certificate(const struct conf_site *s)
{
	return s->certificate.n > 0;
}

/* The listen addresses of [server] (i = 0) or of site i - 1. */
static const struct conf_listens *
listens_of(const struct conf *c, size_t i)
{
	return i == 0 ? &c->server.listen : &c->sites[i - 1].listen;
}

/*
 * The listen entry of address ss (any occurrence: every one has the same
 * options, validate_tls()), or NULL when no section lists it.
 */
const struct conf_listen *
conf_listen_find(const struct conf *c, const struct sockaddr_storage *ss, socklen_t len)
{
	for (size_t s = 0; s <= c->nsites; s++) {
		const struct conf_listens *ls = listens_of(c, s);

		for (size_t i = 0; i < ls->n; i++)
			if (ls->v[i].sslen == len && memcmp(&ls->v[i].ss, ss, len) == 0)
				return &ls->v[i];
	}
	return NULL;
}

/* The health check path on address l: its own health_path=, else the server's. */
const char *
conf_listen_health_path(const struct conf *c, const struct conf_listen *l)
{
	return l != NULL && l->health_path != NULL ? l->health_path : c->server.health_path;
}

/* Is there a health check anywhere, i.e. a balancer that may watch a drain? */
bool
conf_has_health_path(const struct conf *c)
{
	if (c->server.health_path != NULL)
		return true;
	for (size_t s = 0; s <= c->nsites; s++) {
		const struct conf_listens *ls = listens_of(c, s);

		for (size_t i = 0; i < ls->n; i++)
			if (ls->v[i].health_path != NULL)
				return true;
	}
	return false;
}

/* Is ss a TLS address? */
bool
conf_listen_tls(const struct conf *c, const struct sockaddr_storage *ss, socklen_t len)
{
	const struct conf_listen *l = conf_listen_find(c, ss, len);

	return l != NULL && l->tls;
}

/*
 * certificate = acme: the CA proves the site's names with HTTP-01, which
 * needs names (a default site has none), cannot prove a wildcard, and is
 * answered on a cleartext listener of the site.
 */
static void
validate_acme(struct conf_parse *p, const struct conf_site *s)
{
	const struct conf_listens *ls = s->listen.n > 0 ? &s->listen : &p->c->server.listen;
	bool clear = false;

	if (s->hosts.n == 0)
		conf_error(p, s->certificate_line[0],
		    "certificate = acme needs hosts (the names the certificate is for)");
	for (size_t i = 0; i < s->hosts.n; i++)
		if (strncmp(s->hosts.v[i], "*.", 2) == 0)
			conf_error(p, s->certificate_line[0],
			    "certificate = acme: %s is a wildcard, which HTTP-01 cannot prove; list the names",
			    s->hosts.v[i]);
	for (size_t i = 0; i < ls->n; i++)
		clear |= !ls->v[i].tls;
	if (!clear)
		conf_error(p, s->certificate_line[0],
		    "certificate = acme needs a cleartext listen address for the HTTP-01 challenge");
}

/* A site's certificates pair with their keys in order; acme stands alone. */
static void
validate_certificates(struct conf_parse *p, const struct conf_site *s)
{
	size_t files = 0, acme = 0;

	for (size_t i = 0; i < s->certificate.n; i++) {
		if (strcmp(s->certificate.v[i], "acme") == 0)
			acme++;
		else
			files++;
	}
	if (acme > 0 && files > 0) {
		conf_error(p, s->certificate_line[1], "certificate: acme and a certificate file exclude each other");
		return;
	}
	if (acme > 0) {
		if (s->certificate_key.n > 0)
			conf_error(p, s->certificate_key_line[0],
			    "certificate_key: a certificate from acme has no key file");
		validate_acme(p, s);
		return;
	}
	if (s->certificate_key.n < files)
		conf_error(p, s->certificate_line[s->certificate_key.n],
		    "certificate %s has no certificate_key (keys pair with certificates in order)",
		    s->certificate.v[s->certificate_key.n]);
	else if (s->certificate_key.n > files)
		conf_error(p, s->certificate_key_line[files],
		    "certificate_key %s has no certificate (keys pair with certificates in order)",
		    s->certificate_key.v[files]);
}

/* Is any of site s's addresses a TLS one? */
static bool
site_has_tls(const struct conf *c, const struct conf_site *s)
{
	const struct conf_listens *ls = s->listen.n > 0 ? &s->listen : &c->server.listen;

	for (size_t i = 0; i < ls->n; i++)
		if (ls->v[i].tls)
			return true;
	return false;
}

/*
 * The site's TLS policy keys need TLS on the site: client certificates are
 * asked for in its handshakes (and client_ca and client_verify go
 * together), https_redirect needs an https address to send clients to.
 */
static void
validate_site_tls(struct conf_parse *p, const struct conf *c, const struct conf_site *s)
{
	bool tls = site_has_tls(c, s) && conf_site_has_certificate(s);

	if (s->client_verify != CLIENT_VERIFY_OFF && s->client_ca == NULL)
		conf_error(p, s->line, "[site %s]: client_verify needs client_ca (the CAs that vouch for clients)",
		    s->name);
	else if (s->client_ca != NULL && s->client_verify == CLIENT_VERIFY_OFF)
		conf_error(p, s->line, "[site %s]: client_ca without client_verify = optional or required",
		    s->name);
	else if (s->client_ca != NULL && !tls)
		conf_error(p, s->line, "[site %s]: client_ca needs a tls address and a certificate",
		    s->name);
	if (s->https_redirect && !tls)
		conf_error(p, s->line, "[site %s]: https_redirect needs a tls address and a certificate",
		    s->name);
}

/* Does any site on address l have a certificate? */
static bool
address_has_certificate(const struct conf *c, const struct conf_listen *l)
{
	for (size_t i = 0; i < c->nsites; i++) {
		const struct conf_listens *ls = &c->sites[i].listen;

		if (!conf_site_has_certificate(&c->sites[i]))
			continue;
		for (size_t j = 0; j < ls->n; j++)
			if (ls->v[j].sslen == l->sslen && memcmp(&ls->v[j].ss, &l->ss, l->sslen) == 0)
				return true;
	}
	return false;
}

/*
 * TLS cross-checks: an address has the same options wherever it is listed
 * (the front end has one socket per address); a TLS address needs a site
 * with a certificate on it; default_certificate names such a site.
 */
static void
validate_tls(struct conf_parse *p)
{
	struct conf *c = p->c;
	const struct conf_listen *seen = NULL;

	for (size_t s = 0; s <= c->nsites; s++) {
		const struct conf_listens *ls = listens_of(c, s);

		/* a site without listen shares the server's array: checked once */
		if (s > 0 && ls->v == c->server.listen.v)
			continue;
		for (size_t i = 0; i < ls->n; i++) {
			const struct conf_listen *l = &ls->v[i];

			seen = NULL;
			for (size_t t = 0; t <= s && seen == NULL; t++) {
				const struct conf_listens *o = listens_of(c, t);
				size_t end = t == s ? i : o->n;

				for (size_t j = 0; j < end; j++)
					if (o->v[j].sslen == l->sslen &&
					    memcmp(&o->v[j].ss, &l->ss, l->sslen) == 0) {
						seen = &o->v[j];
						break;
					}
			}
			if (seen != NULL) {
				if (!listen_opts_equal(seen, l))
					conf_error(p, l->line, "listen %s: options differ from line %d (an address has the same options wherever it is listed)",
					    l->spec, seen->line);
				continue;
			}
			if (!l->tls && l->alpn[0] != CONF_ALPN_NONE)
				conf_error(p, l->line > 0 ? l->line : c->server.line,
				    "listen %s: alpn= is for tls addresses", l->spec);
			if (l->tls && l->h2c)
				conf_error(p, l->line > 0 ? l->line : c->server.line,
				    "listen %s: h2c is HTTP/2 without TLS; on a tls address HTTP/2 is negotiated (ALPN)",
				    l->spec);
			if (l->tls && !address_has_certificate(c, l))
				conf_error(p, l->line > 0 ? l->line : c->server.line,
				    "listen %s tls: no site on this address has a certificate", l->spec);
		}
	}
	for (size_t i = 0; i < c->nsites; i++) {
		validate_certificates(p, &c->sites[i]);
		validate_site_tls(p, c, &c->sites[i]);
	}
	if (c->server.default_certificate != NULL &&
	    strcmp(c->server.default_certificate, "alert") != 0) {
		const struct conf_site *d = NULL;

		for (size_t i = 0; i < c->nsites; i++)
			if (strcmp(c->sites[i].name, c->server.default_certificate) == 0)
				d = &c->sites[i];
		if (d == NULL)
			conf_error(p, c->server.line, "default_certificate: no [site %s] (a site name or alert)",
			    c->server.default_certificate);
		else if (!conf_site_has_certificate(d))
			conf_error(p, c->server.line, "default_certificate: [site %s] has no certificate",
			    d->name);
	}
}

static void
validate(struct conf_parse *p)
{
	struct conf *c = p->c;
	char err[WEIR_ERRLEN];

	/* The server's listen default applies when it has none of its own. */
	if (c->server.listen.n == 0) {
		int saved = p->line;
		enum conf_section ss = p->sect;

		p->line = 0;
		p->sect = CS_SERVER;
		if (custom_listen(p, &c->server, "127.0.0.1:8080", err) == -1)
			abort();
		p->line = saved;
		p->sect = ss;
	}
	for (size_t i = 0; i < c->npools; i++)
		validate_pool(p, &c->pools[i]);
	for (size_t i = 0; i < c->nsites; i++) {
		struct conf_site *s = &c->sites[i];

		if (s->listen.n == 0)
			s->listen = c->server.listen;
		validate_site(p, s);
	}
	/* Per address: at most one default site, and no host twice. */
	for (size_t i = 0; i < c->nsites; i++) {
		for (size_t j = i + 1; j < c->nsites; j++) {
			const struct conf_site *a = &c->sites[i], *b = &c->sites[j];

			if (!listens_overlap(&a->listen, &b->listen))
				continue;
			if (a->hosts.n == 0 && b->hosts.n == 0)
				conf_error(p, b->line, "[site %s]: sites %s and %s are both the default for the same address (give one of them hosts)",
				    b->name, a->name, b->name);
			for (size_t x = 0; x < a->hosts.n; x++)
				for (size_t y = 0; y < b->hosts.n; y++)
					if (strcmp(a->hosts.v[x], b->hosts.v[y]) == 0)
						conf_error(p, b->line, "[site %s]: host %s is also served by [site %s]",
						    b->name, b->hosts.v[y], a->name);
		}
	}
	validate_tls(p);
	if (c->nsites == 0)
		conf_error(p, 0, "no [site] sections: nothing to serve");
	if (c->server.health_path != NULL && !health_path_ok(c->server.health_path))
		conf_error(p, c->server.line, "health_path: '%s' is not a path (it starts with '/', no query)",
		    c->server.health_path);
	if (c->server.admin_listen != NULL) {
		struct sockaddr_storage ss;
		socklen_t len;
		bool loop = false, parsed;

		/* an address that does not parse is one error, not two */
		if (!(parsed = sockaddr_parse(c->server.admin_listen, &ss, &len, err) == 0))
			conf_error(p, c->server.line, "admin_listen: %s", err);
		else if (ss.ss_family == AF_INET)
			loop = (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
		else if (ss.ss_family == AF_INET6)
			loop = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr);
		if (parsed && !loop && ss.ss_family != AF_UNIX)
			conf_error(p, c->server.line, "admin_listen: %s is not a loopback address",
			    c->server.admin_listen);
		if (c->server.admin_token == NULL || strlen(c->server.admin_token) < 16)
			conf_error(p, c->server.line, "admin_listen needs admin_token (at least 16 characters)");
	}
	if (c->server.max_request_line > c->server.max_header_size)
		conf_error(p, c->server.line, "max_request_line is larger than max_header_size");
}

/* --- entry points ------------------------------------------------------------- */

struct conf *
conf_parse_text(const char *path, const char *text, size_t len, unsigned flags,
    struct conf_errors *errs)
{
	struct conf_parse p;
	struct conf *c = xcalloc(1, sizeof(*c));
	const char *slash;
	char cwd[PATH_MAX];

	arena_init(&c->arena, 16384);
	c->path = arena_strdup(&c->arena, path);
	if ((slash = strrchr(path, '/')) != NULL)
		c->dir = arena_strndup(&c->arena, path, slash == path ? 1 : (size_t)(slash - path));
	else
		c->dir = arena_strdup(&c->arena, ".");
	/* Make the base directory absolute: workers and the front end may chdir. */
	if (c->dir[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL) {
		char *abs = arena_alloc(&c->arena, strlen(cwd) + strlen(c->dir) + 2);

		if (abs == NULL)
			abort();
		if (strcmp(c->dir, ".") == 0)
			strcpy(abs, cwd);
		else
			sprintf(abs, "%s/%s", cwd, c->dir);
		c->dir = abs;
	}

	memset(&p, 0, sizeof(p));
	p.c = c;
	p.errs = errs;
	p.flags = flags;
	p.text = text;
	p.len = len;
	p.keyline = xcalloc(conf_nkeys, sizeof(int));
	p.err0 = errs->n;
	/* [server] may be absent: its defaults still apply. */
	ini_parse_stream(reader, &p, handler, &p);
	end_section(&p);
	if (!p.server_seen) {
		p.sect = CS_SERVER;
		p.obj = &c->server;
		end_section(&p);
	}
	validate(&p);
	sort_errors(&p);
	free(p.keyline);
	free(p.errlines);
	if (errs->n > p.err0 && !(flags & CONF_PEEK)) {	/* only this parse's errors count */
		conf_free(c);
		return NULL;
	}
	return c;
}

struct conf *
conf_load(const char *path, unsigned flags, struct conf_errors *errs)
{
	char err[WEIR_ERRLEN], *text, *full;
	struct conf *c;
	size_t len;

	if ((text = read_file(path, 4 * MB, &len, err)) == NULL) {
		if (asprintf(&full, "%s", err) < 0)
			abort();
		errs->msg = xreallocarray(errs->msg, errs->n + 1, sizeof(char *));
		errs->msg[errs->n++] = full;
		return NULL;
	}
	c = conf_parse_text(path, text, len, flags, errs);
	free(text);
	return c;
}

void
conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	arena_free(&c->arena);
	free(c);
}

/* --- command lines --------------------------------------------------------------- */

/*
 * Split a command line with shell-like quoting but no shell: words separated
 * by blanks; '...' is literal; "..." allows \" \\ \$ \`; a backslash outside
 * quotes escapes the next character.  No expansion of any kind: a '$' or '*'
 * is just a character.  The argv and its strings are malloc'd; free with
 * conf_argv_free().
 */
int
conf_split_command(const char *cmd, char ***argvp, char *err)
{
	char **argv = NULL, *word;
	size_t argc = 0, wn;
	const char *s = cmd;

	word = xmalloc(strlen(cmd) + 1);
	for (;;) {
		bool inword = false;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		wn = 0;
		while (*s != '\0' && *s != ' ' && *s != '\t') {
			inword = true;
			if (*s == '\'') {
				const char *e = strchr(s + 1, '\'');

				if (e == NULL) {
					snprintf(err, WEIR_ERRLEN, "unterminated ' quote");
					goto fail;
				}
				memcpy(word + wn, s + 1, (size_t)(e - s - 1));
				wn += (size_t)(e - s - 1);
				s = e + 1;
			} else if (*s == '"') {
				s++;
				while (*s != '"') {
					if (*s == '\0') {
						snprintf(err, WEIR_ERRLEN, "unterminated \" quote");
						goto fail;
					}
					if (*s == '\\' && s[1] != '\0' && strchr("\"\\$`", s[1]))
						s++;
					word[wn++] = *s++;
				}
				s++;
			} else if (*s == '\\') {
				if (s[1] == '\0') {
					snprintf(err, WEIR_ERRLEN, "trailing backslash");
					goto fail;
				}
				word[wn++] = s[1];
				s += 2;
			} else {
				word[wn++] = *s++;
			}
		}
		if (inword) {
			argv = xreallocarray(argv, argc + 2, sizeof(char *));
			argv[argc++] = xstrndup(word, wn);
			argv[argc] = NULL;
		}
	}
	free(word);
	if (argc == 0) {
		snprintf(err, WEIR_ERRLEN, "empty command");
		free(argv);
		return -1;
	}
	*argvp = argv;
	return 0;
fail:
	free(word);
	if (argv != NULL) {
		argv[argc] = NULL;
		conf_argv_free(argv);
	}
	return -1;
}

void
conf_argv_free(char **argv)
{
	if (argv == NULL)
		return;
	for (char **a = argv; *a != NULL; a++)
		free(*a);
	free(argv);
}
