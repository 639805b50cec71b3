/*
 * logfiles.c - open the request logs the front end writes, and write the
 * pools' logs.
 *
 * The master opens access.log and httperr.log (it may write where the
 * unprivileged front end may not) and hands the fds over; on SIGUSR1 it
 * reopens them and sends the new fds (logrotate convention).  A new or empty
 * W3C file starts with the #Software/#Version/#Date/#Fields directives.
 *
 * log_dir/pools/NAME.log is the master's alone: its workers' output lines,
 * "TIME [PID] text", and the lines the front end sends about the pool's
 * requests (FastCGI STDERR), "TIME [fe] text".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "weir_version.h"
#include "master.h"

int
logfile_open(const char *dir, const char *name, const char *w3c_fields,
    char *err)
{
	char path[4096], hdr[1024];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		snprintf(err, WEIR_ERRLEN, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (w3c_fields != NULL && fstat(fd, &st) == 0 && st.st_size == 0) {
		time_t now = time(NULL);
		struct tm tm;
		char date[32];
		int n;

		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
		n = snprintf(hdr, sizeof(hdr),
		    "#Software: weir %s\n#Version: 1.0\n#Date: %s\n#Fields: %s\n",
		    WEIR_VERSION, date, w3c_fields);
		if (n > 0 && write_full(fd, hdr, (size_t)n) == -1) {
			snprintf(err, WEIR_ERRLEN, "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

/*
 * Append "TIME [who] line" to a pool log in one writev, so lines from the
 * workers and the front end never interleave.  A full disk must not stop
 * the pool: errors are ignored (the worker's tail still has its lines).
 */
void
logfile_pool_line(int fd, const char *who, const char *line, size_t n)
{
	char prefix[96], ts[40];
	struct iovec iov[3];
	int pn;

	if (fd == -1)
		return;
	time_iso8601(ts, sizeof(ts));
	pn = snprintf(prefix, sizeof(prefix), "%s [%s] ", ts, who);
	if (pn < 0)
		return;
	iov[0].iov_base = prefix;
	iov[0].iov_len = WEIR_MIN((size_t)pn, sizeof(prefix) - 1);
	iov[1].iov_base = (void *)(uintptr_t)line;
	iov[1].iov_len = n;
	iov[2].iov_base = "\n";
	iov[2].iov_len = 1;
	(void)!writev(fd, iov, 3);
}

/*
 * CTL_POOL_LOG: a line the front end has for a pool's log (a FastCGI
 * STDERR line with its request).  The front end is unprivileged and the
 * text comes from the application: it is cut at the first NUL, line breaks
 * and other control characters become spaces so one message is one line
 * that cannot pose as another, and it goes nowhere but the log.  The pool
 * index is the one of the generation the front end names; a line for an
 * older generation (a request that spanned a reload) cannot be placed
 * safely and is dropped.
 */
void
logfile_fe_line(struct master *m, const struct ctl_pool_log *pl)
{
	char line[sizeof(pl->line)];
	size_t n;

	if (pl->pool < 0 || (size_t)pl->pool >= m->npools ||
	    pl->generation != m->generation) {
		log_debug("front end: pool log line for pool %d of generation %u dropped",
		    (int)pl->pool, pl->generation);
		return;
	}
	n = strnlen(pl->line, sizeof(pl->line) - 1);
	memcpy(line, pl->line, n);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	logfile_pool_line(m->pools[pl->pool]->log_fd, "fe", line, n);
}
