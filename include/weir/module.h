/*
 * weir/module.h - the public API for weir handler modules (the ISAPI of weir).
 *
 * A module is a shared object that weir-host loads in a `kind = native`
 * pool.  It exports one descriptor, made with WEIR_MODULE(), and talks to
 * the host only through the functions below.  It builds from its source and
 * this header alone:
 *
 *	cc -shared -fPIC -I include -o hello.so modules/hello.c
 *	cc -shared -fPIC $(pkg-config --cflags weir-module) -o hello.so hello.c
 *
 * Lifetimes, in one place:
 *  - weir_ctx: one per loaded module, from before init() until after fini().
 *    Everything it returns (settings, pool name) lives as long.
 *  - weir_req: one per request, valid only during the handle() call it is
 *    passed to.  Every string it returns, and every weir_alloc() block, is
 *    freed when handle() returns.  Never keep a pointer past that.
 *  - Threads: handle() runs on one of the host's `host_threads` threads, so
 *    several requests of one module may run at once unless the module sets
 *    WEIR_MODULE_NOT_THREAD_SAFE.  A weir_req is used by one thread at a
 *    time; a weir_ctx may be read from many (the module's own data behind
 *    weir_data() is the module's to protect).
 *  - init() and fini() run once each, on the host's main thread, before any
 *    request and after the last one.
 *
 * Handlers may block (read a database, run a script): that is what the
 * thread pool is for.
 *
 * ABI rule: WEIR_MODULE_ABI is bumped on every incompatible change of this
 * header (a field moved or removed, a function's meaning or signature
 * changed) or of the front end <-> weir-host protocol.  Adding a function is
 * compatible and does not bump it.  weir-host reads the ABI a module was
 * built for from the file before loading it (no module code runs, not even
 * constructors) and refuses a module built for another ABI: it prints
 * "module NAME: built for ABI X, weir-host has ABI Y (FILE version V)" and
 * exits with status 78, which makes the master disable the pool with that
 * reason instead of restarting it.  `weir verify` and the master's preflight
 * find the same mismatch before any worker starts.  Rebuild modules against
 * the new header when the ABI changes; nothing else is needed.
 */
#ifndef WEIR_MODULE_H
#define WEIR_MODULE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The module ABI this header describes (see the ABI rule above).  2: the
 * front end <-> weir-host protocol carries the TLS connection's values
 * (weir_tls()); a module that reads them must not load in a host that
 * cannot give them. */
#define WEIR_MODULE_ABI		2

/* ---- return values of handle() and of the API functions --------------- */

/** handle(): the request was answered (or the answer was started). */
#define WEIR_MOD_OK		0
/** handle(): not mine; the host offers the request to the next module. */
#define WEIR_MOD_DECLINED	(-5)
/** Any failure.  From handle(): the host answers 500, or aborts the response
 * if part of it was already sent. */
#define WEIR_MOD_ERROR		(-1)

/* ---- descriptor flags -------------------------------------------------- */

/** handle() must not run on two threads at once: the host serializes the
 * module's requests with a mutex (other modules still run in parallel). */
#define WEIR_MODULE_NOT_THREAD_SAFE	0x0001u

/** Opaque: a loaded module (its settings, its data, its log). */
typedef struct weir_ctx weir_ctx;
/** Opaque: one request and its response. */
typedef struct weir_req weir_req;

/**
 * The descriptor a module exports (use WEIR_MODULE(), never write one by
 * hand).  It is constant data owned by the module; the host reads it after
 * checking the ABI and never writes it.
 */
struct weir_module {
	/** WEIR_MODULE_ABI the module was built for.  First, and never moved,
	 * so that any host can read it. */
	int		  abi;
	/** Size of this struct in the module's build (for compatible growth). */
	unsigned	  size;
	/** Module name: [a-z0-9_-]+, equal to the file name without ".so" and
	 * to the prefix of its settings ("hello" for hello.greeting). */
	const char	 *name;
	/** The module's own version, e.g. "1.2.0" (shown by `weir verify`). */
	const char	 *version;
	/** The component record string (set by WEIR_MODULE()). */
	const char	 *record;
	/** WEIR_MODULE_* flags. */
	unsigned	  flags;
	/**
	 * Called once before the first request, on the main thread.  Read
	 * settings with weir_setting(), keep state with weir_set_data().
	 * Return 0, or -1 after weir_log()ging why: the host then exits with
	 * status 78 ("retrying will not help") and the pool is disabled with
	 * that reason.  May be NULL.
	 */
	int		(*init)(weir_ctx *ctx);
	/**
	 * Called for each request, on a handler thread.  Return WEIR_MOD_OK
	 * when the request was answered, WEIR_MOD_DECLINED to pass it to the
	 * next module (only before anything was written), WEIR_MOD_ERROR on
	 * failure.  When it returns, the host finishes the response (the final
	 * chunk, or Content-Length: 0 if nothing was written) and frees req.
	 */
	int		(*handle)(weir_ctx *ctx, weir_req *req);
	/** Called once after the last request, on the main thread, also when
	 * the host stops on SIGTERM.  Free what init() made.  May be NULL. */
	void		(*fini)(weir_ctx *ctx);
};

/* ---- declaring a module -------------------------------------------------- */

#define WEIR_MODULE_STR_(x)	#x
#define WEIR_MODULE_STR(x)	WEIR_MODULE_STR_(x)

/* The build id the record carries: weir's own build of its modules includes
 * weir_build_id.h first; a module may also define WEIR_MODULE_BUILD itself;
 * otherwise "none". */
#ifndef WEIR_MODULE_BUILD
#ifdef WEIR_BUILD_ID
#define WEIR_MODULE_BUILD	WEIR_BUILD_ID
#else
#define WEIR_MODULE_BUILD	"none"
#endif
#endif

#if defined(__GNUC__) || defined(__clang__)
#define WEIR_MODULE_RECORD_ATTR \
	__attribute__((section(".weir_component"), used, aligned(1)))
#define WEIR_MODULE_EXPORT	__attribute__((visibility("default")))
#define WEIR_MODULE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
/* Without ELF section attributes there is no component record, and
 * weir-host refuses the module ("no component record"): use GCC or Clang. */
#define WEIR_MODULE_RECORD_ATTR
#define WEIR_MODULE_EXPORT
#define WEIR_MODULE_PRINTF(f, a)
#endif

/**
 * Declare the module: name and version as string literals, then the other
 * descriptor fields as designated initializers.  It embeds the component
 * record in the ELF section .weir_component (read by weir-host and
 * `weir verify` without loading the file) and exports the descriptor as the
 * symbol `weir_module`.
 *
 *	WEIR_MODULE("hello", "0.1.0",
 *	    .init = hello_init,
 *	    .handle = hello_handle);
 */
#define WEIR_MODULE(name_, version_, ...)					\
	WEIR_MODULE_RECORD_ATTR static const char weir_module_record[] =	\
	    "WEIRCOMP1 name=" name_ " version=" version_			\
	    " abi=" WEIR_MODULE_STR(WEIR_MODULE_ABI)				\
	    " build=" WEIR_MODULE_BUILD;					\
	WEIR_MODULE_EXPORT const struct weir_module weir_module = {		\
		.abi = WEIR_MODULE_ABI,						\
		.size = (unsigned)sizeof(struct weir_module),			\
		.name = name_,							\
		.version = version_,						\
		.record = weir_module_record,					\
		__VA_ARGS__							\
	}

/* ---- the module's context --------------------------------------------------- */

/**
 * A setting of this module: for `hello.greeting = Hi` in the pool section,
 * weir_setting(ctx, "greeting") returns "Hi".  NULL when not set.  The
 * string lives as long as ctx.  The last of repeated settings wins.
 */
const char	*weir_setting(const weir_ctx *ctx, const char *key);

/** The module's name ("hello"); lives as long as ctx. */
const char	*weir_module_name(const weir_ctx *ctx);

/** The name of the pool this host serves; lives as long as ctx. */
const char	*weir_pool(const weir_ctx *ctx);

/** Keep a pointer for the module (set in init(), read anywhere).  The host
 * never touches it; the module frees it in fini(). */
void		 weir_set_data(weir_ctx *ctx, void *data);
/** The pointer given to weir_set_data(), or NULL. */
void		*weir_data(const weir_ctx *ctx);

/** Log levels for weir_log(). */
enum weir_log_level {
	WEIR_LOG_ERROR = 0,
	WEIR_LOG_WARN,
	WEIR_LOG_INFO,
	WEIR_LOG_DEBUG
};

/**
 * Write one line to the worker's stderr (the master keeps it in
 * log/pools/POOL.log and quotes the last lines in crash events), prefixed
 * with the time, the host's pid, the module's name and the level.  Safe from
 * any thread; a line is written with one write(2).  Lines longer than 2 KiB
 * are cut.
 */
void		 weir_log(const weir_ctx *ctx, int level, const char *fmt, ...)
		    WEIR_MODULE_PRINTF(3, 4);

/* ---- the request ---------------------------------------------------------------- */

/** The method as sent ("GET", "POST", ...). */
const char	*weir_method(const weir_req *req);
/** The request-target as sent ("/a/b?x=1"), percent-encoding kept. */
const char	*weir_target(const weir_req *req);
/** The path part of the target, before '?', percent-encoding kept. */
const char	*weir_path(const weir_req *req);
/** The query after '?', without it; NULL when the target has no '?'. */
const char	*weir_query(const weir_req *req);
/** "HTTP/1.1" or "HTTP/1.0". */
const char	*weir_protocol(const weir_req *req);

/**
 * The value of a request header (name case-insensitive), or NULL.  Repeated
 * fields: the first one (use weir_header_at() to see them all).  The front
 * end adds X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host.
 */
const char	*weir_header(const weir_req *req, const char *name);
/** Number of request header fields. */
size_t		 weir_header_count(const weir_req *req);
/**
 * The i-th field (0-based, in the order received): *name and *value are set
 * and 0 returned, or -1 when i is out of range.
 */
int		 weir_header_at(const weir_req *req, size_t i, const char **name,
		    const char **value);

/**
 * What the front end knows about the TLS connection a request came on: what
 * an application needs to bind its authentication to the channel (RFC 5929,
 * RFC 9266) and to know the client's certificate.  docs/tls.md, "Channel
 * binding for applications", says how to use each.  Owned by the request:
 * the struct and its strings live until handle() returns.  A member is NULL
 * when it does not apply (tls_exporter on TLS 1.2, the client_* ones without
 * a client certificate but client_verify).
 */
struct weir_tls {
	/** "TLSv1.3" or "TLSv1.2". */
	const char	*protocol;
	/** The cipher suite, OpenSSL's name ("TLS_AES_128_GCM_SHA256"). */
	const char	*cipher;
	/** The server name the client sent (SNI), or NULL. */
	const char	*sni;
	/** tls-exporter (RFC 9266), base64 of 32 bytes: TLS 1.3 only. */
	const char	*tls_exporter;
	/** tls-unique (RFC 5929 §3), base64: TLS 1.2 only. */
	const char	*tls_unique;
	/** tls-server-end-point (RFC 5929 §4), base64 of the hash of weir's
	 * certificate. */
	const char	*tls_server_end_point;
	/** "NONE" (no client certificate), "SUCCESS", or "FAILED:reason". */
	const char	*client_verify;
	/** The client certificate's subject and issuer (RFC 2253), serial (hex),
	 * SHA-256 fingerprint of its DER (hex) and PEM; NULL without one. */
	const char	*client_s_dn;
	const char	*client_i_dn;
	const char	*client_serial;
	const char	*client_fingerprint;
	const char	*client_cert;
};

/**
 * The TLS connection of the request, or NULL when it came over cleartext.
 * Built on the first call from the X-TLS-* fields the front end adds (which
 * weir_header() shows too; a client's own X-TLS-* never reach the host).
 * NULL also when out of memory.
 */
const struct weir_tls *weir_tls(weir_req *req);

/** The request body's length from Content-Length, or -1 when it is chunked
 * (unknown until read); 0 when there is no body. */
int64_t		 weir_content_length(const weir_req *req);

/**
 * Read up to n bytes of the request body into buf, blocking until some
 * arrive.  Returns the number of bytes read, 0 at the end of the body, or -1
 * when the body is malformed, too slow (60 s without a byte) or the
 * connection failed (then return WEIR_MOD_ERROR).  Chunked bodies arrive
 * decoded.  Unread body bytes are discarded by the host after handle().
 */
ssize_t		 weir_read_body(weir_req *req, void *buf, size_t n);

/**
 * Memory that lives until handle() returns (freed by the host in one go).
 * NULL when out of memory.
 */
void		*weir_alloc(weir_req *req, size_t n);

/* ---- the response ------------------------------------------------------------------ */

/**
 * Set the status (100..599 except 1xx: 200..599; default 200).  -1 when the
 * head was already sent or the status is invalid.
 */
int		 weir_set_status(weir_req *req, int status);

/**
 * Add a response header (copied).  Name must be a token, value must not
 * contain CR, LF or NUL.  Content-Length is taken as
 * weir_set_content_length(); Transfer-Encoding, Connection and other
 * hop-by-hop fields are the host's and are refused.  -1 when refused or when
 * the head was already sent.
 */
int		 weir_add_header(weir_req *req, const char *name,
		    const char *value);

/**
 * Announce the body's exact length: the response is sent with
 * Content-Length instead of chunked.  Writing more is an error (-1 from
 * weir_write()); writing less aborts the response.  -1 after the head was
 * sent.
 */
int		 weir_set_content_length(weir_req *req, uint64_t n);

/**
 * Write body bytes (copied before return).  The first write sends the head
 * (status and headers); without weir_set_content_length() the body is sent
 * chunked.  Small writes are buffered; the buffer is sent when full, on
 * weir_flush() and when handle() returns.  Blocks while the front end is
 * not reading.  Returns 0, or -1 when the connection failed or the length is
 * exceeded (then return WEIR_MOD_ERROR).  For HEAD requests and 204/304
 * responses the bytes are dropped.
 */
int		 weir_write(weir_req *req, const void *buf, size_t n);

/** Send what is buffered now (for streaming: progress, server-sent events).
 * Sends the head if it was not sent yet.  0 or -1. */
int		 weir_flush(weir_req *req);

/**
 * Answer in one call: status, Content-Type (may be NULL), the whole body
 * (may be NULL when n is 0), sized.  0 or -1.
 */
int		 weir_respond(weir_req *req, int status, const char *content_type,
		    const void *body, size_t n);

/** Whether the head (status line and headers) was sent already. */
int		 weir_head_sent(const weir_req *req);

#ifdef __cplusplus
}
#endif

#endif
