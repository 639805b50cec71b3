/*
 * unit.h - the whole unit-test framework: a failure counter and a few checks.
 *
 * A unit test is one executable that #includes the .c file it tests (so it
 * can reach its statics), runs table-driven cases, and exits with
 * unit_done(): 0 when every check passed, 1 otherwise.  Each failed check
 * prints file:line and what differed.
 */
#ifndef WEIR_UNIT_H
#define WEIR_UNIT_H

#include <stdio.h>
#include <string.h>
#include <stdint.h>

static int unit_checks;
static int unit_failures;

#define CHECK(cond) do {						\
	unit_checks++;							\
	if (!(cond)) {							\
		unit_failures++;					\
		fprintf(stderr, "%s:%d: CHECK(%s) failed\n",		\
		    __FILE__, __LINE__, #cond);				\
	}								\
} while (0)

/* Like CHECK, with a printf-style note naming the case. */
#define CHECKF(cond, ...) do {						\
	unit_checks++;							\
	if (!(cond)) {							\
		unit_failures++;					\
		fprintf(stderr, "%s:%d: CHECK(%s) failed: ",		\
		    __FILE__, __LINE__, #cond);				\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
	}								\
} while (0)

#define CHECK_INT(got, want) do {					\
	long long g_ = (long long)(got), w_ = (long long)(want);	\
	unit_checks++;							\
	if (g_ != w_) {							\
		unit_failures++;					\
		fprintf(stderr, "%s:%d: %s == %lld, want %lld\n",	\
		    __FILE__, __LINE__, #got, g_, w_);			\
	}								\
} while (0)

#define CHECK_STR(got, want) do {					\
	const char *g_ = (got), *w_ = (want);				\
	unit_checks++;							\
	if (g_ == NULL || w_ == NULL ? g_ != w_ : strcmp(g_, w_) != 0) {\
		unit_failures++;					\
		fprintf(stderr, "%s:%d: %s == \"%s\", want \"%s\"\n",	\
		    __FILE__, __LINE__, #got, g_ ? g_ : "(null)",	\
		    w_ ? w_ : "(null)");				\
	}								\
} while (0)

/* Compare a (pointer, length) slice with a C string. */
#define CHECK_MEM(p, n, want) do {					\
	const char *w_ = (want);					\
	size_t n_ = (n);						\
	unit_checks++;							\
	if (((p) == NULL && w_ != NULL) || ((p) != NULL && w_ == NULL) ||\
	    (w_ != NULL && (n_ != strlen(w_) || memcmp((p), w_, n_) != 0))) {\
		unit_failures++;					\
		fprintf(stderr, "%s:%d: %s == \"%.*s\", want \"%s\"\n",	\
		    __FILE__, __LINE__, #p, (p) ? (int)n_ : 6,		\
		    (p) ? (const char *)(p) : "(null)", w_ ? w_ : "(null)");\
	}								\
} while (0)

static inline int
unit_done(const char *name)
{
	fprintf(stderr, "%s: %d checks, %d failed\n", name, unit_checks,
	    unit_failures);
	return unit_failures ? 1 : 0;
}

#endif
