/*
 * conf.h - weir's configuration: the parsed form of weir.conf.
 *
 * One table (conf.c: conf_keys[]) names every key with its type, bounds,
 * default and meaning.  The same table parses, validates, applies defaults,
 * backs `weir check`, and feeds the test that docs/config.md lists every key.
 *
 * A struct conf owns everything it points to (one arena); conf_free() drops
 * it.  The master parses from the file; the front end re-parses the same text
 * on reload (the master sends it), so both sides always agree.
 */
#ifndef WEIR_CONF_H
#define WEIR_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "arena.h"
#include "cidr.h"

#define CONF_NAME_MAX	64	/* pool and site names */
#define CONF_CERT_MAX	2	/* certificates per site: an ECDSA and an RSA one */
#define ACME_DIRECTORY_DEFAULT	"https://acme-v02.api.letsencrypt.org/directory"

enum conf_section {
	CS_SERVER = 0,
	CS_SITE,
	CS_POOL
};

struct strlist {
	char		**v;
	size_t		  n;
};

/* Application protocols a TLS address offers (ALPN, RFC 7301). */
enum conf_alpn {
	CONF_ALPN_NONE = 0,
	CONF_ALPN_H2,		/* "h2" */
	CONF_ALPN_HTTP11,	/* "http/1.1" */
	CONF_ALPN_MAX = CONF_ALPN_HTTP11
};
/* The protocol's name on the wire ("h2", "http/1.1"); NULL for none. */
static inline const char *
conf_alpn_name(unsigned a)
{
	return a == CONF_ALPN_H2 ? "h2" : a == CONF_ALPN_HTTP11 ? "http/1.1" : NULL;
}

/*
 * `listen = ADDR:PORT [OPTION ...]`.  The options are rows of one table in
 * conf.c (listen_opts[]): each is a word that sets a bool here.  An address
 * has the same options wherever it is listed (validation checks that), so
 * the front end can take them from any occurrence.
 */
struct conf_listen {
	char			*spec;		/* the address as written, e.g. "127.0.0.1:8080" */
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	bool			 tls;		/* option `tls`: HTTPS on this address */
	bool			 h2c;		/* `h2c`: HTTP/2 with prior knowledge, cleartext */
	uint8_t			 alpn[CONF_ALPN_MAX];	/* `alpn=h2,http/1.1`: enum conf_alpn in
						 * the order offered, 0-terminated;
						 * all 0: the default (conf_listen_alpn()) */
	bool			 proxy_protocol;	/* option `proxy_protocol`: a PROXY header first */
	char			*health_path;	/* `health_path=/PATH`: this address's health check,
						 * instead of [server] health_path; NULL: that one */
	int			 line;
};

struct conf_listens {
	struct conf_listen	*v;
	size_t			 n;
};

/*
 * `app = PREFIX POOL [SCRIPT] [strip_prefix]`: requests under PREFIX go to
 * the pool.  SCRIPT (FastCGI pools) is the front controller every path runs;
 * strip_prefix takes PREFIX off the path the pool sees and announces it
 * (X-Forwarded-Prefix to HTTP pools, SCRIPT_NAME to FastCGI ones).
 */
struct conf_app {
	char		*prefix;	/* starts with '/', no trailing '/' unless "/" */
	size_t		 prefixlen;
	char		*pool;
	int		 pool_idx;	/* index in conf->pools, resolved by validation */
	char		*script;	/* "/index.php", or NULL */
	bool		 strip_prefix;
	int		 line;
};

/*
 * `rewrite = REGEX REPLACEMENT [FLAG]` and `return = REGEX STATUS [URL]`,
 * one ordered list per site (src/frontend/rewrite.c runs it).  The regex
 * is compiled (PCRE2, JIT when the CPU has it) when the configuration is
 * parsed, so a bad one is a `file:line:` error and every generation
 * compiles its rules once; the code is freed with the configuration.
 */
enum rewrite_flag {
	RW_NEXT = 0,		/* no flag: go on with the next rule */
	RW_LAST,		/* stop, and run the rules again on the new path */
	RW_BREAK,		/* stop here */
	RW_REDIRECT,		/* 302 to the result */
	RW_PERMANENT,		/* 301 to the result */
	RW_RETURN		/* return =: answer `status` (with the URL for 3xx) */
};

struct conf_rewrite {
	char		*regex;
	void		*code;		/* pcre2_code_8 *, owned (arena cleanup) */
	char		*repl;		/* replacement or return URL ("" for none) */
	int		 flag;		/* enum rewrite_flag */
	int		 status;	/* RW_RETURN: 200..599 */
	int		 line;
};

/* `alias = PREFIX DIR`: files under PREFIX come from DIR, not from root. */
struct conf_alias {
	char		*prefix;	/* like an app prefix */
	size_t		 prefixlen;
	char		*dir;		/* absolute */
	int		 line;
};

/* `script = .EXT POOL`: files with that extension under root go to the pool. */
struct conf_script {
	char		*ext;		/* with the dot, e.g. ".php" */
	size_t		 extlen;
	char		*pool;
	int		 pool_idx;
	int		 line;
};

struct conf_kv {
	char		*key;
	char		*value;
	int		 line;
};

enum symlinks_mode {
	SYMLINKS_WITHIN_ROOT = 0,	/* follow only links that stay under root */
	SYMLINKS_FOLLOW,		/* follow any link */
	SYMLINKS_REFUSE,		/* never follow a link */
	SYMLINKS_OWNER			/* follow a link whose owner owns its target */
};

enum dotfiles_mode {
	DOTFILES_DENY = 0,		/* a path segment beginning with '.': 404 */
	DOTFILES_ALLOW
};

/* client_verify: whether a site's TLS handshake asks for a client certificate */
enum client_verify_mode {
	CLIENT_VERIFY_OFF = 0,		/* no certificate requested */
	CLIENT_VERIFY_OPTIONAL,		/* requested; verified if sent; none is fine */
	CLIENT_VERIFY_REQUIRED		/* a certificate client_ca vouches for, or no handshake */
};

/* hsts = off | DURATION [includeSubDomains] [preload] */
struct conf_hsts {
	bool			 on;
	uint64_t		 max_age;	/* seconds (max-age=) */
	bool			 subdomains;	/* includeSubDomains */
	bool			 preload;
	int			 line;
};

enum access_log_format {
	ACCESS_LOG_W3C = 0,
	ACCESS_LOG_COMBINED,
	ACCESS_LOG_OFF
};

enum pool_kind {
	POOL_KIND_HTTP = 0,
	POOL_KIND_FASTCGI,
	POOL_KIND_NATIVE
};

enum pool_start_mode {
	START_ON_DEMAND = 0,
	START_ALWAYS
};

enum rapid_fail_action {
	RF_ACTION_DISABLE = 0,
	RF_ACTION_BACKOFF,
	RF_ACTION_ROLLBACK,
	RF_ACTION_AUTO		/* rollback when a deploy failed, else backoff */
};

struct conf_server {
	struct conf_listens	 listen;
	unsigned		 threads;		/* 0 = auto (one per core) */
	char			*user;
	char			*group;
	uint32_t		 fe_own_id;		/* the front end's own uid = gid (ident.c), 0 if none */
	char			*state_dir;		/* absolute after validation */
	char			*log_dir;		/* absolute after validation */
	int			 access_log;		/* enum access_log_format */
	bool			 syslog;
	char			*admin_group;
	char			*admin_listen;		/* loopback TCP address for the admin API, or NULL */
	char			*admin_token;		/* bearer token required on admin_listen */
	uint64_t		 events_max_size;	/* rotate events.jsonl beyond this */
	unsigned		 events_keep;		/* rotated files kept */
	uint64_t		 pool_log_max_size;	/* rotate pools/NAME.log beyond this */
	unsigned		 pool_log_keep;		/* rotated pool logs kept */
	/* request limits and timeouts (ms / bytes) */
	uint64_t		 max_request_line;
	uint64_t		 max_header_size;
	unsigned		 max_headers;
	uint64_t		 max_body;
	uint64_t		 header_timeout;
	uint64_t		 body_timeout;
	uint64_t		 send_timeout;
	uint64_t		 min_request_rate;	/* bytes/s; 0 = off */
	uint64_t		 min_response_rate;	/* bytes/s; 0 = off */
	uint64_t		 min_rate_grace;	/* ms: window (and grace) of the rates */
	uint64_t		 keepalive_timeout;
	unsigned		 keepalive_requests;	/* 0 = unlimited */
	uint64_t		 shutdown_timeout;
	char			*health_path;		/* answered by the front end, or NULL */
	uint64_t		 drain_time;		/* ms new connections are served on drain */
	unsigned		 max_connections;	/* per front end, 0 = fd limit */
	unsigned		 max_connections_per_ip;	/* 0 = no limit */
	unsigned		 open_file_cache;	/* entries per thread, 0 = off */
	uint64_t		 open_file_cache_valid;
	struct cidr		*trusted_proxies;	/* whose forwarding headers count */
	size_t			 ntrusted_proxies;
	bool			 underscores_in_headers;	/* pass "X_Y" names to HTTP pools */
	unsigned		 http2_max_concurrent_streams;	/* per HTTP/2 connection */
	/* TLS (see docs/tls.md) */
	char			*default_certificate;	/* site name, "alert", or NULL: the first site with one */
	struct strlist		 tls_protocols;		/* "TLSv1.2", "TLSv1.3" (validated names) */
	char			*tls_ciphers;		/* OpenSSL cipher list for TLS <= 1.2 */
	uint64_t		 handshake_timeout;	/* ms */
	/* ACME (certificate = acme; master's acme.c) */
	char			*acme_directory;	/* directory URL */
	char			*acme_email;		/* account contact, or NULL */
	char			*acme_ca_file;		/* CAs for the directory's HTTPS, NULL = system */
	int			 line;
};

struct conf_site {
	char			*name;
	struct conf_listens	 listen;	/* empty: the server's */
	struct strlist		 hosts;		/* lowercase; empty: default site */
	char			*root;		/* absolute, or NULL */
	struct strlist		 index;
	struct conf_app		*apps;
	size_t			 napps;
	struct conf_script	*scripts;
	size_t			 nscripts;
	char			*fallback;	/* script for paths that name nothing, or NULL */
	struct conf_rewrite	*rewrites;	/* rewrite = / return =, in file order */
	size_t			 nrewrites;
	struct conf_alias	*aliases;
	size_t			 naliases;
	int			 symlinks;	/* enum symlinks_mode */
	bool			 listing;	/* directory listings */
	int			 dotfiles;	/* enum dotfiles_mode */
	/*
	 * Certificates: each entry is a PEM file (leaf then chain, absolute
	 * path) or the word "acme"; at most two (an ECDSA and an RSA one).
	 * certificate_key[i] is the key of certificate[i] (files only: acme
	 * entries have none).  The lines are where each was written, for
	 * errors the master finds when it loads them.
	 */
	struct strlist		 certificate;
	struct strlist		 certificate_key;
	int			 certificate_line[CONF_CERT_MAX];
	int			 certificate_key_line[CONF_CERT_MAX];
	/* channel binding and client certificates (docs/tls.md) */
	char			*client_ca;	/* PEM of the CAs client certificates chain to (master reads it) */
	int			 client_verify;	/* enum client_verify_mode */
	bool			 https_redirect;	/* cleartext requests: 308 to https:// */
	struct conf_hsts	 hsts;		/* Strict-Transport-Security on TLS responses */
	int			 line;
};

struct conf_pool {
	char			*name;
	int			 kind;		/* enum pool_kind */
	char			*command;
	char			*address;
	struct sockaddr_storage	 address_ss;	/* parsed address */
	socklen_t		 address_len;
	unsigned		 processes;
	int			 start_mode;
	unsigned		 queue_length;
	uint64_t		 queue_timeout;
	unsigned		 max_conns;	/* concurrent requests per worker */
	unsigned		 rapid_fail_count;	/* 0 = off */
	uint64_t		 rapid_fail_window;
	int			 rapid_fail_action;
	uint64_t		 rapid_fail_backoff;	/* first back-off delay */
	uint64_t		 response_timeout;	/* worker silent that long: 504 */
	bool			 request_buffering;	/* bodies read whole before queueing */
	uint64_t		 response_buffer;	/* response bytes kept for a slow client; 0 = off */
	uint64_t		 startup_time_limit;
	uint64_t		 shutdown_time_limit;
	uint64_t		 ping_interval;
	uint64_t		 ping_response_time;
	char			*ping_path;
	bool			 notify;
	uint64_t		 idle_timeout;
	uint64_t		 recycle_time;
	unsigned		 recycle_requests;
	int			*recycle_schedule;	/* minutes after midnight, sorted */
	size_t			 nrecycle_schedule;
	uint64_t		 recycle_memory;
	bool			 overlapped_recycle;
	char			*user;
	char			*group;
	uint32_t		 own_id;	/* its own uid = gid without user (master's ident.c), 0 if none */
	struct strlist		 env;
	char			*workdir;
	bool			 private_tmp;	/* own /tmp and /var/tmp (mount namespace) */
	bool			 protect_system;	/* filesystem read-only but read_write_paths */
	struct strlist		 read_write_paths;	/* absolute */
	unsigned		 limit_nofile;	/* 0 = inherit */
	uint64_t		 limit_core;	/* UINT64_MAX = inherit */
	uint64_t		 limit_as;	/* 0 = inherit */
	uint64_t		 memory_max;	/* pool's cgroup memory limit, 0 = none */
	unsigned		 cpu_max;	/* pool's cgroup CPU limit, % of one CPU, 0 = none */
	unsigned		 tasks_max;	/* pool's cgroup task limit, 0 = none */
	struct strlist		 modules;
	struct conf_kv		*module_settings;	/* "mod.key = value" lines */
	size_t			 nmodule_settings;
	unsigned		 host_threads;
	int			 line;
};

struct conf {
	struct arena		 arena;		/* owns everything below */
	char			*path;		/* file it came from */
	char			*dir;		/* its directory: base of relative paths */
	struct conf_server	 server;
	struct conf_site	*sites;
	size_t			 nsites;
	struct conf_pool	*pools;
	size_t			 npools;
};

/* Every error found, as "file:line: message" lines. */
struct conf_errors {
	char		**msg;
	size_t		  n;
};

/* One key of the table. */
enum conf_type {
	CT_UINT,	/* unsigned, bounds min..max */
	CT_DURATION,	/* "250ms", "30s", "5m", "29h", "1d"; bare number = seconds; stored in ms */
	CT_SIZE,	/* "512", "64k", "512M", "2G"; stored in bytes */
	CT_BOOL,	/* yes/no, on/off, true/false, 1/0 */
	CT_STRING,
	CT_PATH,	/* relative paths are relative to the config file's directory */
	CT_ENUM,
	CT_LIST,	/* comma-separated; repeatable lines append */
	CT_CUSTOM
};

struct conf_parse;

struct conf_key {
	enum conf_section	 section;
	const char		*name;
	enum conf_type		 type;
	size_t			 off;		/* offset in the section's struct */
	uint64_t		 min, max;	/* CT_UINT / CT_DURATION / CT_SIZE bounds */
	const char		*def;		/* default, parsed like a value; NULL = none */
	unsigned		 flags;		/* CK_* */
	const char *const	*enums;		/* CT_ENUM names, NULL-terminated */
	int			(*custom)(struct conf_parse *, void *obj,
				    const char *val, char *err);
	const char		*doc;		/* one-line meaning */
};

#define CK_MULTI	0x1	/* may be given more than once */
#define CK_CONT		0x2	/* indented continuation lines append (long commands) */
/*
 * [server] keys say what a reload does with a change (every one says one):
 * CK_RELOAD applies it (the front end or the master takes the new value),
 * CK_RESTART refuses the reload (1304 naming the key) and keeps the running
 * configuration whole.  A unit test checks that every [server] key has
 * exactly one, and docs/config.md's "reload" column says the same.
 */
#define CK_RELOAD	0x4
#define CK_RESTART	0x8

extern const struct conf_key	conf_keys[];
extern const size_t		conf_nkeys;

/* Parse flags. */
#define CONF_CHECK_FS	0x1	/* check that roots exist (master, `weir check`) */
/*
 * Return the configuration even when it has errors (they are still listed):
 * what was valid, defaults for the rest.  Only for finding [server] paths
 * (the CLI looking for the admin socket of a server whose file was just
 * broken by an edit); never to run anything.
 */
#define CONF_PEEK	0x2

struct conf	*conf_load(const char *path, unsigned flags, struct conf_errors *errs);
struct conf	*conf_parse_text(const char *path, const char *text, size_t len,
		    unsigned flags, struct conf_errors *errs);
void		 conf_free(struct conf *c);
void		 conf_errors_clear(struct conf_errors *e);
/* Add an error found outside the parser (a whole "file:line: message"). */
void		 conf_errors_add(struct conf_errors *e, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
const char	*conf_section_name(enum conf_section s);

/* Helpers also used elsewhere. */
int		 conf_duration(const char *s, uint64_t *ms);
int		 conf_size(const char *s, uint64_t *bytes);
int		 conf_split_command(const char *cmd, char ***argv, char *err);
void		 conf_argv_free(char **argv);
const struct conf_pool *conf_pool_find(const struct conf *c, const char *name);
bool		 conf_site_has_certificate(const struct conf_site *s);
const struct conf_listen *conf_listen_find(const struct conf *c,
		    const struct sockaddr_storage *ss, socklen_t len);
const uint8_t	*conf_listen_alpn(const struct conf_listen *l);
const char	*conf_listen_health_path(const struct conf *c, const struct conf_listen *l);
bool		 conf_has_health_path(const struct conf *c);
bool		 conf_listen_tls(const struct conf *c, const struct sockaddr_storage *ss,
		    socklen_t len);
void		 conf_value_text(const struct conf_key *k, const void *obj, char *buf,
		    size_t bufsz);

#endif
