/*
 * httpparse.h - weir's strict HTTP/1.1 message parser (RFC 9110, RFC 9112).
 *
 * Used by the front end (client requests), by weir-host and by the master's
 * admin API (requests), and by the front end's upstream client (responses).
 * Pure functions over caller-owned bytes: nothing here allocates, logs or
 * does I/O.  All returned strings point into the caller's buffer.
 *
 * Incremental use: a header section is parsed whole, from the beginning of
 * the buffer, each time the caller has more bytes (picohttpparser style).
 * The result for a message split at any byte boundary is the same as for the
 * whole message: every call on a prefix returns either WEIR_AGAIN or the very
 * same error (status and reason) that the whole message gives.  To avoid
 * quadratic work on slow senders, callers may use httpparse_header_end() to
 * look for the end of the header section in the new bytes only and call the
 * parser when it is found or when the buffer reaches the limit.
 *
 * Bodies: httpparse_chunked() is a true incremental decoder (state carried in
 * struct chunked_dec) that decodes in place.
 */
#ifndef WEIR_HTTPPARSE_H
#define WEIR_HTTPPARSE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#include "rc.h"

/* A slice of the caller's buffer; p is NULL when the part is absent. */
struct hstr {
	const char	*p;
	size_t		 n;
};

/* Methods weir knows.  A syntactically valid method that is not here is 501. */
enum http_method {
	HTTP_M_UNKNOWN = 0,
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_POST,
	HTTP_M_PUT,
	HTTP_M_DELETE,
	HTTP_M_CONNECT,
	HTTP_M_OPTIONS,
	HTTP_M_TRACE,
	HTTP_M_PATCH,
	/* WebDAV (RFC 4918) and friends, so applications behind pools get them. */
	HTTP_M_PROPFIND,
	HTTP_M_PROPPATCH,
	HTTP_M_MKCOL,
	HTTP_M_COPY,
	HTTP_M_MOVE,
	HTTP_M_LOCK,
	HTTP_M_UNLOCK,
	HTTP_M_SEARCH,
	HTTP_M_REPORT,
	HTTP_M__COUNT
};

/* RFC 9112 §3.2 request-target forms. */
enum http_target_form {
	HTTP_TARGET_ORIGIN = 0,		/* /path?query */
	HTTP_TARGET_ABSOLUTE,		/* http://authority/path?query */
	HTTP_TARGET_AUTHORITY,		/* host:port (CONNECT only) */
	HTTP_TARGET_ASTERISK		/* * (OPTIONS only) */
};

struct http_header {
	struct hstr	 name;		/* as received (case preserved) */
	struct hstr	 value;		/* leading/trailing OWS stripped */
};

/* Limits the parser enforces; each has the status RFC 9110 gives it. */
struct httpparse_limits {
	size_t		 max_request_line;	/* request line incl. CRLF -> 414 */
	size_t		 max_header_bytes;	/* whole header section incl. request line -> 431 */
	size_t		 max_headers;		/* number of fields -> 431; <= HTTPPARSE_MAX_HEADERS */
};

#define HTTPPARSE_MAX_HEADERS 128
#define HTTPPARSE_MAX_TRAILER 8192	/* default limit of a chunked trailer section */

/* Bit flags for http_request.flags / http_response.flags. */
#define HTTP_F_KEEPALIVE	0x0001	/* connection persists after this message */
#define HTTP_F_CHUNKED		0x0002	/* Transfer-Encoding: chunked (final) */
#define HTTP_F_EXPECT_100	0x0004	/* Expect: 100-continue */
#define HTTP_F_CONN_CLOSE	0x0008	/* "close" listed in Connection */
#define HTTP_F_CONN_KEEP	0x0010	/* "keep-alive" listed in Connection */
#define HTTP_F_CONN_UPGRADE	0x0020	/* "upgrade" listed in Connection */
#define HTTP_F_HAS_CL		0x0040	/* Content-Length present (content_length valid) */

struct http_request {
	enum http_method	 method;
	struct hstr		 method_str;	/* the method token as received */
	enum http_target_form	 target_form;
	struct hstr		 target;	/* the raw request-target */
	struct hstr		 path;		/* raw path (origin or from absolute-form), before '?'; "*" for asterisk */
	struct hstr		 query;		/* after '?', without it; p == NULL when there is no '?' */
	struct hstr		 host;		/* authority used for routing: absolute-form authority, else Host (RFC 9112 §3.2.2) */
	int			 minor;		/* 0 or 1 (HTTP/1.x with x > 1 is treated as 1.1) */
	unsigned		 flags;		/* HTTP_F_* */
	int64_t			 content_length; /* -1 when absent or chunked */
	size_t			 header_len;	/* bytes of the header section incl. the final CRLF and any leading empty lines */
	size_t			 nheaders;
	struct http_header	 headers[HTTPPARSE_MAX_HEADERS];
};

/*
 * Parse a request header section at the start of buf[0..len).
 *
 * Returns the number of bytes consumed (== req->header_len) when a whole
 * header section is present and valid, WEIR_AGAIN when more bytes are needed,
 * or WEIR_ERROR with *status set to the response status (400, 414, 431, 501,
 * 505) and *why to a fixed, static, human-readable reason that never contains
 * request bytes.  *status and *why are untouched unless WEIR_ERROR is
 * returned.
 *
 * Rules (each rejection is 400 unless stated):
 *  1. Up to 8 leading empty lines (CRLF) before the request line are skipped
 *     (RFC 9112 §2.2); a bare LF or a bare CR anywhere in the header section
 *     is rejected.
 *  2. request-line = method SP request-target SP HTTP-version CRLF with
 *     exactly one SP between parts.  method = token; a valid token that is not
 *     a known method -> 501.  HTTP-version = "HTTP/" DIGIT "." DIGIT
 *     (case-sensitive); major != 1 -> 505; 1.x with x >= 2 is parsed as 1.1.
 *     A request line longer than max_request_line -> 414 (reported as soon as
 *     the limit is passed, even before CRLF arrives, unless an earlier byte
 *     was already invalid).
 *  3. request-target: origin-form ("/" ...), absolute-form (scheme "http" or
 *     "https", case-insensitive, "://" authority path-abempty [ "?" query ];
 *     empty path becomes "/"), authority-form (only with CONNECT, and CONNECT
 *     only with it), asterisk-form (only with OPTIONS).  Only characters
 *     allowed in a URI (RFC 3986: unreserved, sub-delims, ":", "@", "/", "?",
 *     "%" followed by two hex digits) are accepted; "#", space, CTL, DEL and
 *     bytes >= 0x80 are rejected.
 *  4. field-line = field-name ":" OWS field-value OWS CRLF.  field-name is a
 *     non-empty token; whitespace before the colon, obs-fold (a line starting
 *     with SP/HTAB), NUL, CR, LF or any CTL other than HTAB in a value are
 *     rejected.  obs-text (0x80-0xFF) in values is allowed.
 *  5. More than max_headers fields, or a header section longer than
 *     max_header_bytes -> 431.
 *  6. Host: exactly one on HTTP/1.1 (missing or duplicate -> 400), at most one
 *     on 1.0; its value must be a valid uri-host [":" port] (reg-name,
 *     IPv4 or "[" IPv6/IPvFuture "]") and may be empty only for 1.0.
 *  7. Content-Length: 1*DIGIT, fits in int63; a list, a repeat (even with the
 *     same value), a sign or any other byte -> 400.
 *  8. Transfer-Encoding: only for HTTP/1.1 (in 1.0 -> 400); the list must end
 *     with "chunked" and contain it once (chunked not final, or twice -> 400);
 *     any other coding (gzip, identity, ...) -> 501.  Repeated TE header
 *     lines are combined as a list.  Transfer-Encoding together with
 *     Content-Length -> 400 (no smuggling through CL.TE / TE.CL).
 *  9. Connection: a comma-separated list of tokens; "close", "keep-alive",
 *     "upgrade" set the HTTP_F_CONN_* flags.  HTTP_F_KEEPALIVE is set for 1.1
 *     unless "close", and for 1.0 only with "keep-alive" and not "close".
 * 10. Expect: "100-continue" (case-insensitive) sets HTTP_F_EXPECT_100 on
 *     1.1 (ignored on 1.0); any other expectation -> 417.
 */
int httpparse_request(const char *buf, size_t len, struct http_request *req,
    const struct httpparse_limits *lim, int *status, const char **why);

/*
 * Look for the end of a header section ("\r\n\r\n") in buf[0..len), starting
 * at offset `from` (callers pass the previous length minus 3, clamped at 0).
 * Returns the offset just past it, or 0 when not found.
 */
size_t httpparse_header_end(const char *buf, size_t len, size_t from);

/* Response parsing, for the upstream side of the front end. */
struct http_response {
	int			 status;	/* 100..999 */
	int			 minor;
	struct hstr		 reason;
	unsigned		 flags;		/* HTTP_F_KEEPALIVE, HTTP_F_CHUNKED, HTTP_F_HAS_CL, HTTP_F_CONN_* */
	int64_t			 content_length; /* -1 when absent */
	size_t			 header_len;
	size_t			 nheaders;
	struct http_header	 headers[HTTPPARSE_MAX_HEADERS];
};

/* A Content-Length value: 1*DIGIT, in int63.  false for anything else. */
bool	httpparse_cl_parse(struct hstr v, int64_t *out);

/*
 * Next element of a #list (RFC 9110 §5.6.1) in [*pp, e), OWS trimmed, empty
 * elements skipped.  Returns false at the end.
 */
bool	httpparse_list_next(const char **pp, const char *e, struct hstr *el);

/*
 * Parse a response header section (status-line and fields) from an upstream.
 * Same return convention as httpparse_request() (no *status: any error is a
 * protocol violation by the upstream; *why says what).  Framing rules follow
 * RFC 9112 §6.3: TE + CL -> error, multiple differing CL -> error, TE not
 * ending in chunked -> the body is read until close (flags without
 * HTTP_F_CHUNKED and content_length == -1).
 */
int httpparse_response(const char *buf, size_t len, struct http_response *res,
    const struct httpparse_limits *lim, const char **why);

/* Incremental chunked transfer-coding decoder (RFC 9112 §7.1). */
struct chunked_dec {
	uint8_t		 state;		/* internal: position in the grammar */
	uint8_t		 ndigits;	/* hex digits seen in the current chunk-size */
	uint64_t	 left;		/* data bytes left in the current chunk */
	size_t		 line;		/* bytes in the current chunk-size/ext or trailer line */
	size_t		 trailer_bytes;	/* bytes of trailer section so far */
	size_t		 max_line;	/* limit for a chunk-size line incl. extensions (0 = 4096) */
	size_t		 max_trailer;	/* limit for the whole trailer section (0 = 8192) */
	bool		 keep_trailers;	/* set by the caller: copy the trailer section */
	char		*trailers;	/* its field lines, CRLF-ended (malloc'd, max_trailer
					 * bytes, once one starts; httpparse_chunked_free()) */
	size_t		 trailers_len;
};

/*
 * Decode chunked data in place.  On entry buf[0..*len) holds received bytes
 * that follow whatever was consumed before.  On return the decoded body bytes
 * have been moved to buf[0..*out) (they are never more than the input), and
 * *consumed says how many input bytes were used (always all of them unless
 * the message ended: bytes after the end belong to the next message and are
 * left, unmoved, at buf[*consumed..*len)).  Returns 1 when the last chunk and
 * the trailer section are complete, 0 when more input is needed, WEIR_ERROR
 * with *why on malformed input (bad or overflowing chunk-size, missing CRLF
 * after data, bad chunk-ext syntax, bad trailer field, limits exceeded).
 * chunk-ext = *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
 * is validated and ignored; trailer fields are validated like header fields
 * and dropped, unless d->keep_trailers asks for their lines, as received, in
 * d->trailers[0..trailers_len) (without the final empty line; the copy
 * needs memory once: none is a WEIR_ERROR, "out of memory").
 */
int httpparse_chunked(struct chunked_dec *d, char *buf, size_t len,
    size_t *out, size_t *consumed, const char **why);

/* Initialize a decoder (zeroes it and applies default limits; free first). */
void httpparse_chunked_init(struct chunked_dec *d);

/* Free the trailer lines a decoder kept (a zeroed decoder is fine too). */
void httpparse_chunked_free(struct chunked_dec *d);

/* Case-insensitive comparison of a slice with a NUL-terminated ASCII literal. */
bool hstr_eq_ci(struct hstr s, const char *lit);

/* Find a header by name (case-insensitive); returns NULL if absent. */
const struct http_header *httpparse_find(const struct http_header *h, size_t n,
    const char *name);

/* Static name of a method, "" for HTTP_M_UNKNOWN. */
const char *httpparse_method_name(enum http_method m);

/* Reason phrase for a status code, never NULL. */
const char *http_reason(int status);

#endif
