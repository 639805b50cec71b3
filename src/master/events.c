/*
 * events.c - the event log: one JSON object per line in
 * <log_dir>/events.jsonl, and syslog.
 *
 * Events are the operator's record of what the master did and why, with IDs
 * that follow IIS 6 (W3SVC) where the meaning is the same (docs/events.md).
 * Each record is written with one write(2) on an O_APPEND fd, so a reader
 * tailing the file never sees half a line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "master.h"

static int	events_fd = -1;
static bool	events_syslog;

int
events_open(const char *log_dir, bool use_syslog, char *err)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/events.jsonl", log_dir);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		snprintf(err, WEIR_ERRLEN, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (events_fd != -1)
		close(events_fd);
	events_fd = fd;
	if (use_syslog && !events_syslog)
		openlog("weir", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	events_syslog = use_syslog;
	return 0;
}

void
events_close(void)
{
	if (events_fd != -1)
		close(events_fd);
	events_fd = -1;
	if (events_syslog)
		closelog();
	events_syslog = false;
}

static const char *
level_name(enum event_level l)
{
	switch (l) {
	case EV_INFO:		return "info";
	case EV_WARNING:	return "warning";
	case EV_ERROR:		return "error";
	}
	return "info";
}

void
events_emit(int id, enum event_level level, const char *pool, pid_t pid,
    json_t *fields, const char *fmt, ...)
{
	char ts[40], msg[2048];
	json_t *o;
	char *line;
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	time_iso8601(ts, sizeof(ts));

	o = json_object();
	json_object_set_new(o, "time", json_string(ts));
	json_object_set_new(o, "id", json_integer(id));
	json_object_set_new(o, "level", json_string(level_name(level)));
	if (pool != NULL)
		json_object_set_new(o, "pool", json_string(pool));
	if (pid > 0)
		json_object_set_new(o, "pid", json_integer(pid));
	json_object_set_new(o, "message", json_string(msg));
	if (fields != NULL) {
		/* The fixed members above win over a field of the same name. */
		json_object_update_missing(o, fields);
		json_decref(fields);
	}
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(o);
	if (line == NULL) {
		log_warnx("event %d: cannot encode", id);
		return;
	}
	n = strlen(line);
	line[n] = '\n';		/* json_dumps' NUL: one write for the whole line */
	if (events_fd != -1 && write_full(events_fd, line, n + 1) == -1)
		log_warn("events.jsonl: write");
	line[n] = '\0';
	if (events_syslog)
		syslog(level == EV_ERROR ? LOG_ERR : level == EV_WARNING ?
		    LOG_WARNING : LOG_INFO, "event %d%s%s: %s", id,
		    pool ? " pool " : "", pool ? pool : "", msg);
	/* The operator running in the foreground sees it too. */
	log_info("event %d%s%s: %s", id, pool ? " pool " : "", pool ? pool : "",
	    msg);
	free(line);
}
