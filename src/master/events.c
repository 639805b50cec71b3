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
#include <sys/stat.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "master.h"

static int	events_fd = -1;
static bool	events_syslog;
static char	events_path[4096];
static uint64_t	events_size;		/* bytes in the current file */
static uint64_t	events_max = 10 * 1024 * 1024;
static unsigned	events_keep = 5;
static void	(*events_hook)(const char *line, size_t n, json_t *ev, void *arg);
static void	*events_hook_arg;

/* Rotation limits (events_max_size, events_keep). */
void
events_configure(uint64_t max_size, unsigned keep)
{
	events_max = max_size;
	events_keep = keep;
}

/* Every new event also goes to this callback (the admin API's followers). */
void
events_set_hook(void (*fn)(const char *, size_t, json_t *, void *), void *arg)
{
	events_hook = fn;
	events_hook_arg = arg;
}

const char *
events_file(void)
{
	return events_path;
}

int
events_open(const char *log_dir, bool use_syslog, char *err)
{
	struct stat st;
	int fd;

	snprintf(events_path, sizeof(events_path), "%s/events.jsonl", log_dir);
	fd = open(events_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		snprintf(err, WEIR_ERRLEN, "%s: %s", events_path, strerror(errno));
		return -1;
	}
	if (events_fd != -1)
		close(events_fd);
	events_fd = fd;
	events_size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	events_use_syslog(use_syslog);
	return 0;
}

/* [server] syslog, at start and on reload: open or close the connection. */
void
events_use_syslog(bool on)
{
	if (on && !events_syslog)
		openlog("weir", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!on && events_syslog)
		closelog();
	events_syslog = on;
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

/*
 * Rotate before a write would pass the limit: events.jsonl -> .1 -> .2 ...
 * Only the master writes the file, between whole lines, so no line is lost
 * or split.
 */
static void
rotate(void)
{
	int fd;

	logfile_rotate(events_path, events_keep);
	fd = open(events_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		log_warn("%s", events_path);
		return;		/* keep writing to the renamed file */
	}
	close(events_fd);
	events_fd = fd;
	events_size = 0;
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
	if (line == NULL) {
		log_warnx("event %d: cannot encode", id);
		json_decref(o);
		return;
	}
	n = strlen(line);
	line[n] = '\n';		/* json_dumps' NUL: one write for the whole line */
	if (events_fd != -1 && events_size + n + 1 > events_max && events_size > 0)
		rotate();
	if (events_fd != -1) {
		if (write_full(events_fd, line, n + 1) == -1)
			log_warn("events.jsonl: write");
		else
			events_size += n + 1;
	}
	if (events_hook != NULL)
		events_hook(line, n + 1, o, events_hook_arg);
	line[n] = '\0';
	if (events_syslog)
		syslog(level == EV_ERROR ? LOG_ERR : level == EV_WARNING ?
		    LOG_WARNING : LOG_INFO, "event %d%s%s: %s", id,
		    pool ? " pool " : "", pool ? pool : "", msg);
	/* The operator running in the foreground sees it too. */
	log_info("event %d%s%s: %s", id, pool ? " pool " : "", pool ? pool : "",
	    msg);
	json_decref(o);
	free(line);
}

/* Does an event (parsed) pass a query's filter? */
bool
events_match(const struct ev_filter *f, json_t *ev)
{
	const char *s;

	if (f->pool != NULL && ((s = json_string_value(json_object_get(ev, "pool"))) == NULL ||
	    strcmp(s, f->pool) != 0))
		return false;
	if (f->id != 0 && json_integer_value(json_object_get(ev, "id")) != f->id)
		return false;
	if (f->level != NULL) {
		static const char *order[] = { "info", "warning", "error" };
		int want = -1, have = -1;

		s = json_string_value(json_object_get(ev, "level"));
		for (int i = 0; i < 3; i++) {
			if (strcmp(order[i], f->level) == 0)
				want = i;
			if (s != NULL && strcmp(order[i], s) == 0)
				have = i;
		}
		/* level=warning means warning and worse, like Event Viewer's filter */
		if (have < want)
			return false;
	}
	if (f->since[0] != '\0') {
		s = json_string_value(json_object_get(ev, "time"));
		/* ISO 8601 UTC strings of one format order like the times */
		if (s == NULL || strcmp(s, f->since) < 0)
			return false;
	}
	return true;
}

static void
scan_file(const char *path, const struct ev_filter *f, json_t *out)
{
	FILE *fp = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (fp == NULL)
		return;
	while ((n = getline(&line, &cap, fp)) > 0) {
		json_error_t je;
		json_t *ev = json_loadb(line, (size_t)n, 0, &je);

		if (ev == NULL)
			continue;	/* a torn or foreign line: skip it */
		if (events_match(f, ev))
			json_array_append(out, ev);
		json_decref(ev);
		/* keep memory bounded: only the newest `limit` are wanted */
		if (f->limit > 0 && json_array_size(out) > 2 * f->limit) {
			size_t drop = json_array_size(out) - f->limit;

			for (size_t i = 0; i < drop; i++)
				json_array_remove(out, 0);
		}
	}
	free(line);
	fclose(fp);
}

/*
 * The stored events that pass the filter, oldest first, at most f->limit
 * (the newest ones), from the rotated files and the current one.
 */
json_t *
events_query(const struct ev_filter *f)
{
	json_t *out = json_array();
	char path[4200];

	for (unsigned k = events_keep; k >= 1; k--) {
		snprintf(path, sizeof(path), "%s.%u", events_path, k);
		scan_file(path, f, out);
	}
	scan_file(events_path, f, out);
	if (f->limit > 0)
		while (json_array_size(out) > f->limit)
			json_array_remove(out, 0);
	return out;
}
