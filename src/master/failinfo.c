/*
 * failinfo.c - how a worker ended, in words a person reads: the exit
 * status in decimal or the signal with its name ("exit status 3",
 * "signal 9 (SIGKILL)"), and the line of its last output that most likely
 * says why (a Python traceback's "SyntaxError: ..." rather than gunicorn's
 * "Reason: Worker failed to boot." printed after it).
 *
 * Pure functions over a status and a ring of lines: event 1009, `weir
 * status` (a pool's last failure) and the deploy outcome printed by `weir
 * reload` / `weir pool recycle` all use them, and the unit test drives
 * them directly.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "util.h"
#include "master.h"

/*
 * How a wait status ended, as words for a field ("exit status 3", "signal 9
 * (SIGKILL), core dumped": util.c's wait_status_words(), shared with the
 * front end's 1305) or as the sentence of a 1009 ("It exited with status
 * 3.", "It was killed by signal 9 (SIGKILL).").
 */
void
failinfo_exit_text(int status, char *out, size_t outsz)
{
	wait_status_words(status, out, outsz);
}

void
failinfo_exit_sentence(int status, char *out, size_t outsz)
{
	if (WIFEXITED(status))
		snprintf(out, outsz, "It exited with status %d.", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, outsz, "It was killed by signal %d (%s)%s.", WTERMSIG(status),
		    util_signame(WTERMSIG(status)), WCOREDUMP(status) ? " and dumped core" : "");
	else
		snprintf(out, outsz, "It ended with wait status 0x%x.", (unsigned)status);
}

static bool
says_error(const char *l)
{
	static const char *words[] = { "Error:", "Exception:", "error:", "ERROR:",
	    "Fatal", "fatal", "FATAL", "Traceback", "panic:" };

	/* gunicorn's "[ERROR] Exception in worker process" only announces it */
	if (strstr(l, "Exception in worker") != NULL || strstr(l, "Traceback (most") != NULL)
		return false;
	for (size_t i = 0; i < nitems(words); i++)
		if (strstr(l, words[i]) != NULL)
			return true;
	return false;
}

/*
 * The cause among `lines` (oldest first, NULLs skipped): the newest line
 * that says error, else the newest line; "" when there is none.  A Python
 * exception line gets the place it names (`  File "/x/app.py", line 1`
 * just before it) appended: "SyntaxError: ... (app.py, line 1)".
 */
void
failinfo_cause(const char *const *lines, size_t n, char *out, size_t outsz)
{
	size_t pick = n, last = n;

	out[0] = '\0';
	for (size_t i = n; i-- > 0;) {
		if (lines[i] == NULL || lines[i][0] == '\0')
			continue;
		if (last == n)
			last = i;
		if (says_error(lines[i])) {
			pick = i;
			break;
		}
	}
	if (pick == n)
		pick = last;
	if (pick == n)
		return;
	wstrlcpy(out, lines[pick], outsz);
	for (size_t i = pick; i-- > 0;) {
		const char *f, *q, *ln;
		int lineno;

		if (lines[i] == NULL || (f = strstr(lines[i], "File \"")) == NULL)
			continue;
		f += 6;
		if ((q = strchr(f, '"')) == NULL || (ln = strstr(q, ", line ")) == NULL ||
		    sscanf(ln, ", line %d", &lineno) != 1)
			break;
		{
			const char *base = f;
			size_t used = strlen(out);

			for (const char *s = f; s < q; s++)
				if (*s == '/')
					base = s + 1;
			snprintf(out + used, outsz - used, " (%.*s, line %d)", (int)(q - base),
			    base, lineno);
		}
		break;
	}
}

/* The cause from a worker's ring of last output lines. */
void
failinfo_worker_cause(const struct worker *w, char *out, size_t outsz)
{
	const char *lines[LINETAIL_MAX];

	for (unsigned i = 0; i < LINETAIL_MAX; i++)
		lines[i] = linering_get(&w->tail, i);
	failinfo_cause(lines, LINETAIL_MAX, out, outsz);
}

/*
 * Remember a pool's last failure for `weir status` and the deploy outcome:
 * when (wall clock), the worker's pid, how it ended in words, whether it
 * had proved it runs (was_ready) and counted toward Rapid-Fail Protection,
 * and its cause line.
 */
void
failinfo_note(struct worker *w, const char *how, bool was_ready, bool counted)
{
	struct pool *p = w->pool;

	p->last_fail.when = time(NULL);
	p->last_fail.pid = w->pid;
	p->last_fail.ver = w->ver;
	p->last_fail.counted = counted;
	p->last_fail.was_ready = was_ready;
	wstrlcpy(p->last_fail.how, how, sizeof(p->last_fail.how));
	failinfo_worker_cause(w, p->last_fail.output, sizeof(p->last_fail.output));
}
