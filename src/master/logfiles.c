/*
 * logfiles.c - open the request logs the front end writes, and write the
 * pools' logs.
 *
 * The master opens access.log and httperr.log (it may write where the
 * unprivileged front end may not) and hands the fds over; on SIGUSR1 it
 * reopens them and sends the new fds (logrotate convention), with the pools'
 * logs.  A new or empty W3C file starts with the #Software/#Version/#Date/
 * #Fields directives; a file in the other format is moved aside first.
 *
 * log_dir/pools/NAME.log is the master's alone (poollog.c): its workers'
 * output lines, "TIME [PID] text", and the lines the front end sends about
 * the pool's requests (FastCGI STDERR), "TIME [fe] text", which this file
 * makes safe first.
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

/*
 * A file weir writes in one format must not hold another: a non-empty file
 * whose form (W3C starts with a '#' directive, combined does not) is not
 * the wanted one is renamed to NAME.YYYYmmddTHHMMSSZ first, so that a
 * change of access_log (by a reload or a restart) starts a new file.
 */
static void
move_aside_other_format(int fd, const char *path, bool w3c)
{
	char first, to[4200], ts[32];
	struct tm tm;
	time_t now;
	size_t n;

	if (pread(fd, &first, 1, 0) != 1 || (first == '#') == w3c)
		return;
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	n = (size_t)snprintf(to, sizeof(to), "%s.%s", path, ts);
	/* two changes within a second: a suffix, never overwrite a file */
	for (int i = 2; i < 100 && access(to, F_OK) == 0; i++)
		snprintf(to + n, sizeof(to) - n, ".%d", i);
	if (rename(path, to) == -1)
		log_warn("%s: cannot move the file of the other format aside", path);
	else
		log_info("%s: moved to %s (its lines are in the other format)", path, to);
}

int
logfile_open(const char *dir, const char *name, const char *w3c_fields,
    char *err)
{
	char path[4096], hdr[1024];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (int pass = 0; ; pass++) {
		fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd == -1) {
			snprintf(err, WEIR_ERRLEN, "%s: %s", path, strerror(errno));
			return -1;
		}
		if (pass > 0 || fstat(fd, &st) == -1 || st.st_size == 0)
			break;
		move_aside_other_format(fd, path, w3c_fields != NULL);
		if (access(path, F_OK) == 0)
			break;		/* same format (or it could not move): keep it */
		close(fd);
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
 * Rotate by renaming: path.KEEP-1 -> path.KEEP ... path -> path.1 (the
 * oldest falls off).  The caller opens a new path.
 */
void
logfile_rotate(const char *path, unsigned keep)
{
	char from[4200], to[4200];

	for (unsigned k = keep; k >= 1; k--) {
		snprintf(to, sizeof(to), "%s.%u", path, k);
		if (k == 1)
			snprintf(from, sizeof(from), "%s", path);
		else
			snprintf(from, sizeof(from), "%s.%u", path, k - 1);
		/* a missing older file is normal */
		if (rename(from, to) == -1 && errno != ENOENT)
			log_warn("rotate %s", from);
	}
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
	poollog_line(m->pools[pl->pool], "fe", false, line, n);
	poollog_flush(m->pools[pl->pool]);
}
