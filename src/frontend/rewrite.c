/*
 * rewrite.c - a site's `rewrite =` and `return =` rules: the ordered list
 * the front end runs on a request's normalized path before routing it.
 *
 * The semantics are nginx's rewrite module inside one location: rules run
 * in file order on the decoded, normalized path; a rule without a flag
 * changes the path and the next rules see the new one; `break` stops;
 * `last` stops and runs the list again from the top on the new path (the
 * way nginx searches locations again), so a rule that matches its own
 * result loops: after REWRITE_MAX rewrites the request is a 500
 * (Rewrite_Loop).  `redirect` / `permanent` (and a result that begins with
 * http:// or https://) answer 302 / 301; `return` answers its status.
 *
 * A replacement is URI text: its literal characters are copied as written
 * and $1..$9 are the regex's captures, percent-encoded (path_encode()) since
 * they come from the decoded path, so "%3F" in a request stays data and
 * never becomes a query.  The query: a replacement with '?' sets it, and the
 * request's own is appended after '&' unless the replacement ends with '?'
 * (nginx's rule); without '?' the request's query is kept.  The new target
 * is normalized again (path_normalize()): a rewrite cannot climb above '/'.
 *
 * Pure: the regexes were compiled with the configuration (conf.c), and the
 * match data is the calling thread's (one per thread, made once); nothing
 * here allocates.
 */
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "frontend.h"

#define RW_GROUPS	10	/* $0 .. $9 */
#define RW_TMP		(4096 + 64)

/* One thread's match data; NULL when memory is short (rules then do not run). */
void *
rewrite_match_data(void)
{
	return pcre2_match_data_create(RW_GROUPS, NULL);
}

void
rewrite_match_data_free(void *md)
{
	pcre2_match_data_free(md);
}

/*
 * Expand repl with the captures of subj (ovector ov, npairs pairs) into
 * out[0..cap).  Returns the length, or (size_t)-1 when it does not fit.
 */
static size_t
expand(const char *repl, const char *subj, const PCRE2_SIZE *ov, uint32_t npairs,
    char *out, size_t cap)
{
	size_t len = 0;
	bool query = false;

	for (const char *p = repl; *p != '\0'; p++) {
		if (p[0] == '$' && p[1] >= '0' && p[1] <= '9') {
			uint32_t g = (uint32_t)(p[1] - '0');
			size_t n;

			p++;
			if (g >= npairs || ov[2 * g] == PCRE2_UNSET)
				continue;	/* a group that took no part: empty */
			n = path_encode(out + len, cap - len, subj + ov[2 * g],
			    ov[2 * g + 1] - ov[2 * g], query);
			if (n == (size_t)-1)
				return (size_t)-1;
			len += n;
			continue;
		}
		if (*p == '?')
			query = true;
		if (len == cap)
			return (size_t)-1;
		out[len++] = *p;
	}
	return len;
}

/*
 * Give the expanded replacement t[0..n) (buffer cap) its query: a '?' in t
 * sets it (the request's appended after '&' unless t ends with '?'); none
 * keeps the request's.  query never points into t.  Returns the new length,
 * or (size_t)-1 when it does not fit.
 */
static size_t
with_query(char *t, size_t n, size_t cap, struct hstr query)
{
	const char *q = memchr(t, '?', n);

	if (q != NULL && q == t + n - 1)
		return n - 1;			/* "...?": no query at all */
	if (query.p == NULL || query.n == 0)
		return n;
	if (n + 1 + query.n > cap)
		return (size_t)-1;
	t[n++] = q != NULL ? '&' : '?';
	memcpy(t + n, query.p, query.n);
	return n + query.n;
}

static bool
absolute_url(const char *t, size_t n)
{
	return (n >= 7 && memcmp(t, "http://", 7) == 0) ||
	    (n >= 8 && memcmp(t, "https://", 8) == 0);
}

/*
 * Run the rules rw[0..n) on the normalized path path[0..*pathlen) (buffer
 * pathsz) with the request's query.  Returns:
 *  RWR_NONE    nothing matched that changes the request;
 *  RWR_PATH    path (length *pathlen) is the new normalized path and
 *              target[0..*tlen) the new request target (path?query);
 *  RWR_ANSWER  answer *status; for a redirect target[0..*tlen) is the
 *              Location (a return without URL: *tlen 0); a rewrite whose
 *              result is no valid path answers that (400, 404, 414);
 *  RWR_LOOP    more than REWRITE_MAX rewrites.
 * md is the thread's match data (rewrite_match_data()).
 */
int
rewrite_run(const struct conf_rewrite *rw, size_t n, void *md, char *path,
    size_t pathsz, size_t *pathlen, struct hstr query, char *target, size_t tcap,
    size_t *tlen, int *status)
{
	char tmp[RW_TMP];
	unsigned done = 0;
	bool changed = false;
	size_t i = 0;

	while (i < n) {
		const struct conf_rewrite *r = &rw[i++];
		const PCRE2_SIZE *ov;
		uint32_t npairs;
		size_t len, qoff;
		int rc, st;

		rc = pcre2_match(r->code, (PCRE2_SPTR)path, *pathlen, 0, 0, md, NULL);
		if (rc == PCRE2_ERROR_NOMATCH)
			continue;
		if (rc < 0) {
			*status = 500;	/* a match or depth limit: the rule is unusable */
			*tlen = 0;
			return RWR_ANSWER;
		}
		ov = pcre2_get_ovector_pointer(md);
		npairs = rc == 0 ? pcre2_get_ovector_count(md) : (uint32_t)rc;
		len = expand(r->repl, path, ov, npairs, tmp, sizeof(tmp));
		if (len == (size_t)-1) {
			*status = 414;
			*tlen = 0;
			return RWR_ANSWER;
		}
		if (r->flag == RW_RETURN) {
			*status = r->status;
			if (len > tcap)
				len = 0;	/* cannot happen: a URL of the config's line */
			memcpy(target, tmp, len);
			*tlen = len;
			return RWR_ANSWER;
		}
		if (++done > REWRITE_MAX)
			return RWR_LOOP;
		len = with_query(tmp, len, sizeof(tmp), query);
		if (len == (size_t)-1 || len > tcap) {
			*status = 414;
			*tlen = 0;
			return RWR_ANSWER;
		}
		memcpy(target, tmp, len);
		*tlen = len;
		if (r->flag == RW_REDIRECT || r->flag == RW_PERMANENT || absolute_url(target, len)) {
			*status = r->flag == RW_PERMANENT ? 301 : 302;
			return RWR_ANSWER;
		}
		/* the new path, normalized like a request's; its query is the new query */
		{
			const char *q = memchr(target, '?', len);

			qoff = q != NULL ? (size_t)(q - target) : len;
			query.p = q != NULL ? q + 1 : NULL;
			query.n = q != NULL ? len - qoff - 1 : 0;
		}
		if (qoff == 0 || target[0] != '/') {
			*status = 500;	/* "$1" that captured no leading '/' */
			*tlen = 0;
			return RWR_ANSWER;
		}
		st = path_normalize(target, qoff, path, pathsz, pathlen);
		if (st != 0) {
			*status = st;
			*tlen = 0;
			return RWR_ANSWER;
		}
		changed = true;
		if (r->flag == RW_BREAK)
			break;
		if (r->flag == RW_LAST)
			i = 0;
	}
	return changed ? RWR_PATH : RWR_NONE;
}
