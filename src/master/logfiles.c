/*
 * logfiles.c - open the request logs the front end writes.
 *
 * The master opens access.log and httperr.log (it may write where the
 * unprivileged front end may not) and hands the fds over; on SIGUSR1 it
 * reopens them and sends the new fds (logrotate convention).  A new or empty
 * W3C file starts with the #Software/#Version/#Date/#Fields directives.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "rc.h"
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
