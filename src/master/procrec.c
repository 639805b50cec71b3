/*
 * procrec.c - the records of the processes a master started, kept under
 * state_dir, so that what a master leaves running when it dies (SIGKILL,
 * the OOM killer) can be found and ended by its warden or by the next
 * master (leftover.c).
 *
 * <state_dir>/processes is rewritten whole (a temporary file renamed over
 * it) whenever one of them starts or ends:
 *
 *	weir-processes 1 BOOT_ID
 *	master PID START - weir
 *	warden PID START - weir
 *	frontend PID START - weir
 *	worker PID START POOL COMMAND...
 *
 * START is field 22 of /proc/PID/stat, the process's start time in clock
 * ticks after boot: a pid that was reused since has another start time, so
 * it is never taken for ours.  BOOT_ID (/proc/sys/kernel/random/boot_id)
 * tells records from before a reboot, whose start times mean nothing now.
 * A worker's pid is also its process group and session (worker.c).
 *
 * Everything here is pure or plain file I/O (tests/unit/master/
 * test_procrec.c); what goes in the records is leftover.c's business.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rc.h"
#include "util.h"
#include "master.h"

#define PROCREC_MAGIC	"weir-processes 1 "

/*
 * Parse the text of /proc/PID/stat.  comm (field 2) is in parentheses and
 * may itself hold spaces and ')': the fields after it start after the
 * last ')'.  Returns 0, or -1 when the text is not such a line.
 */
int
procrec_parse_stat(const char *buf, size_t n, struct procstat *ps)
{
	char text[1024], *rp, *end;
	unsigned long long v[20];
	long pid;

	if (n == 0 || n >= sizeof(text))
		return -1;
	memcpy(text, buf, n);
	text[n] = '\0';
	errno = 0;
	pid = strtol(text, &end, 10);
	if (errno != 0 || end == text || pid <= 0 || *end != ' ' || end[1] != '(')
		return -1;
	if ((rp = strrchr(text, ')')) == NULL || rp[1] != ' ' || rp[2] == '\0' ||
	    rp[3] != ' ')
		return -1;
	memset(ps, 0, sizeof(*ps));
	ps->pid = (pid_t)pid;
	ps->state = rp[2];
	/* fields 4 (ppid) ... 22 (starttime): 19 numbers after the state */
	end = rp + 3;
	for (int i = 0; i < 19; i++) {
		char *num = end;
		long long sv;

		while (*num == ' ')
			num++;
		errno = 0;
		sv = strtoll(num, &end, 10);
		if (errno != 0 || end == num || (*end != ' ' && *end != '\n' && *end != '\0'))
			return -1;
		/* only ppid, pgrp, session and starttime are used; none negative */
		v[i] = sv < 0 ? 0 : (unsigned long long)sv;
	}
	ps->ppid = (pid_t)v[0];
	ps->pgrp = (pid_t)v[1];
	ps->session = (pid_t)v[2];
	ps->start = v[18];
	return 0;
}

/* /proc/PID/stat of a live (or zombie) process; -1 if there is none. */
int
procrec_stat(pid_t pid, struct procstat *ps)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	do {
		n = read(fd, buf, sizeof(buf) - 1);
	} while (n == -1 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return -1;
	return procrec_parse_stat(buf, (size_t)n, ps);
}

/* The start time of pid, 0 if it cannot be read (then it is not recorded). */
unsigned long long
procrec_start_ticks(pid_t pid)
{
	struct procstat ps;

	return procrec_stat(pid, &ps) == 0 ? ps.start : 0;
}

/* Is pid still the process that started at `start`, and not a zombie? */
bool
procrec_alive(pid_t pid, unsigned long long start)
{
	struct procstat ps;

	return pid > 0 && procrec_stat(pid, &ps) == 0 && ps.start == start &&
	    ps.state != 'Z' && ps.state != 'X';
}

/* One record as a line (with its '\n'); returns its length, or -1. */
int
procrec_format(const struct procrec *r, char *out, size_t outsz)
{
	char cmd[PROCREC_CMD];
	size_t i;
	int n;

	/* a line per record: no newline inside, and never an empty field */
	for (i = 0; i < sizeof(cmd) - 1 && r->command[i] != '\0'; i++)
		cmd[i] = r->command[i] == '\n' || r->command[i] == '\r' ? ' ' : r->command[i];
	cmd[i] = '\0';
	if (r->kind[0] == '\0' || strchr(r->kind, ' ') != NULL ||
	    strchr(r->pool, ' ') != NULL || strchr(r->pool, '\n') != NULL)
		return -1;
	n = snprintf(out, outsz, "%s %d %llu %s %s\n", r->kind, (int)r->pid, r->start,
	    r->pool[0] != '\0' ? r->pool : "-", cmd[0] != '\0' ? cmd : "-");
	return n < 0 || (size_t)n >= outsz ? -1 : n;
}

/* Parse one record line (without or with its '\n'); 0 or -1. */
int
procrec_parse_line(const char *line, struct procrec *r)
{
	char kind[sizeof(r->kind)], pool[sizeof(r->pool)];
	int pid, off = 0;
	unsigned long long start;
	size_t n;

	memset(r, 0, sizeof(*r));
	if (sscanf(line, "%11s %d %llu %64s %n", kind, &pid, &start, pool, &off) != 4 ||
	    off == 0 || pid <= 0 || start == 0)
		return -1;
	wstrlcpy(r->kind, kind, sizeof(r->kind));
	r->pid = (pid_t)pid;
	r->start = start;
	if (strcmp(pool, "-") != 0)
		wstrlcpy(r->pool, pool, sizeof(r->pool));
	wstrlcpy(r->command, line + off, sizeof(r->command));
	n = strcspn(r->command, "\r\n");
	r->command[n] = '\0';
	return n > 0 ? 0 : -1;	/* procrec_format() writes "-" for none */
}

/* This boot's id, without its newline. */
int
procrec_boot_id(char *out, size_t outsz)
{
	ssize_t n;
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);

	out[0] = '\0';
	if (fd == -1)
		return -1;
	n = read(fd, out, outsz - 1);
	close(fd);
	if (n <= 0) {
		out[0] = '\0';
		return -1;
	}
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

static int
path_of(const char *dir, const char *name, char *out, size_t outsz, char *err)
{
	int n = snprintf(out, outsz, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= outsz) {
		snprintf(err, WEIR_ERRLEN, "%s/%s: path too long", dir, name);
		return -1;
	}
	return 0;
}

/*
 * Write the records (n of them; none: the file is removed), atomically: a
 * reader sees the old set or the new one, never half of either.
 */
int
procrec_write(const char *dir, const char *file, const struct procrec *v, size_t n,
    char *err)
{
	char path[4096], tmp[4096], boot[64], line[512], tmpname[64];
	size_t len = 0, cap = 512;
	char *buf;
	int fd, k;

	snprintf(tmpname, sizeof(tmpname), "%s.new", file);
	if (path_of(dir, file, path, sizeof(path), err) == -1 ||
	    path_of(dir, tmpname, tmp, sizeof(tmp), err) == -1)
		return -1;
	if (n == 0) {
		if (unlink(path) == -1 && errno != ENOENT) {
			snprintf(err, WEIR_ERRLEN, "%s: %s", path, strerror(errno));
			return -1;
		}
		return 0;
	}
	(void)procrec_boot_id(boot, sizeof(boot));
	buf = xmalloc(cap);
	len = (size_t)snprintf(buf, cap, PROCREC_MAGIC "%s\n", boot[0] ? boot : "-");
	for (size_t i = 0; i < n; i++) {
		if ((k = procrec_format(&v[i], line, sizeof(line))) < 0)
			continue;
		if (len + (size_t)k + 1 > cap) {
			cap = (len + (size_t)k + 1) * 2;
			buf = xreallocarray(buf, cap, 1);
		}
		memcpy(buf + len, line, (size_t)k);
		len += (size_t)k;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1 || write_full(fd, buf, len) == -1) {
		snprintf(err, WEIR_ERRLEN, "%s: %s", tmp, strerror(errno));
		if (fd != -1)
			close(fd);
		(void)unlink(tmp);	/* half a file is worth nothing */
		free(buf);
		return -1;
	}
	free(buf);
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		snprintf(err, WEIR_ERRLEN, "%s: %s", path, strerror(errno));
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

/*
 * Read the records under dir into *v (the caller frees it), *n of them.
 * No file: 0 records.  Records of another boot are dropped (their start
 * times are from another clock).  Lines that do not parse are skipped.
 */
int
procrec_read(const char *dir, const char *file, struct procrec **v, size_t *n, char *err)
{
	char path[4096], line[1024], boot[64];
	size_t cap = 0;
	FILE *f;

	*v = NULL;
	*n = 0;
	if (path_of(dir, file, path, sizeof(path), err) == -1)
		return -1;
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, WEIR_ERRLEN, "%s: %s", path, strerror(errno));
		return -1;
	}
	(void)procrec_boot_id(boot, sizeof(boot));
	if (fgets(line, sizeof(line), f) == NULL ||
	    strncmp(line, PROCREC_MAGIC, strlen(PROCREC_MAGIC)) != 0 ||
	    (line[strcspn(line, "\n")] = '\0',
	    strcmp(line + strlen(PROCREC_MAGIC), boot[0] ? boot : "-") != 0)) {
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		struct procrec r;

		if (procrec_parse_line(line, &r) == -1)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*v = xreallocarray(*v, cap, sizeof(**v));
		}
		(*v)[(*n)++] = r;
	}
	fclose(f);
	return 0;
}
