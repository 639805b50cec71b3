/*
 * rc.h - the one return-code vocabulary of weir.
 *
 * Functions return 0 on success and -1 on failure by default, filling a
 * caller's `char err[WEIR_ERRLEN]` when the caller needs a message (common/
 * never logs).  Parsers return the number of bytes consumed, WEIR_AGAIN when
 * the input is incomplete and WEIR_ERROR when it is malformed.  Handlers may
 * return WEIR_DECLINED to pass a request on.  Functions that decide a response
 * return the HTTP status; errno is mapped to a status in one place
 * (rc_errno_status()).
 */
#ifndef WEIR_RC_H
#define WEIR_RC_H

#include <errno.h>

#define WEIR_OK        0
#define WEIR_ERROR    -1
#define WEIR_AGAIN    -2   /* incomplete input or would block: call again */
#define WEIR_DECLINED -5   /* not mine: let the next handler have it */
#define WEIR_DONE     -4   /* finished, nothing more to do (e.g. conn closed) */

#define WEIR_ERRLEN   256  /* size of every caller-supplied error buffer */

/* errno from open()/stat() on a request path -> HTTP status. */
static inline int
rc_errno_status(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
	case ENAMETOOLONG:
	case ELOOP:
	case EXDEV:		/* openat2 RESOLVE_BENEATH escape attempt */
		return 404;
	case EACCES:
	case EPERM:
		return 403;
	default:
		return 500;
	}
}

#endif
