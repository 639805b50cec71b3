/*
 * log.h - diagnostics for the operator (stderr, or syslog when detached).
 *
 * Only the layer that understands an error reports it, once.  log_warn()
 * appends strerror(errno); log_warnx() does not.  fatal()/fatalx() exit and
 * are for startup failures and broken invariants only.  Every line is one
 * write(2), so lines from several threads or processes never interleave.
 *
 * These are the daemon's own diagnostics; the structured event log
 * (events.jsonl) is the master's events.c.
 */
#ifndef WEIR_LOG_H
#define WEIR_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_L_ERROR = 0,
	LOG_L_WARN,
	LOG_L_INFO,
	LOG_L_DEBUG
};

#define WEIR_PRINTF(f, a) __attribute__((format(printf, f, a)))

void	log_init(const char *ident, enum log_level level);
void	log_set_ident(const char *ident);
void	log_set_level(enum log_level level);
void	log_warn(const char *fmt, ...) WEIR_PRINTF(1, 2);
void	log_warnx(const char *fmt, ...) WEIR_PRINTF(1, 2);
void	log_info(const char *fmt, ...) WEIR_PRINTF(1, 2);
void	log_debug(const char *fmt, ...) WEIR_PRINTF(1, 2);
void	fatal(const char *fmt, ...) WEIR_PRINTF(1, 2) __attribute__((noreturn));
void	fatalx(const char *fmt, ...) WEIR_PRINTF(1, 2) __attribute__((noreturn));

#endif
