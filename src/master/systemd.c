/*
 * systemd.c - the two systemd protocols the master speaks without
 * libsystemd: sd_notify (READY=1, RELOADING=1, STOPPING=1, STATUS=...) on
 * $NOTIFY_SOCKET for Type=notify units, and socket activation ($LISTEN_FDS)
 * for the listen addresses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "log.h"
#include "util.h"
#include "master.h"

#define SD_LISTEN_FDS_START	3

static char	notify_path[108];
static size_t	notify_len;		/* 0: not under systemd */
static int	sd_fds[64];
static struct sockaddr_storage sd_addrs[64];
static socklen_t sd_lens[64];
static bool	sd_used[64];
static int	nsd;

/*
 * Take what systemd handed us, once, at start: the notify socket and the
 * listening sockets.  Both variables are removed from the environment so
 * the front end and the workers do not inherit them.
 */
void
systemd_init(void)
{
	const char *ns = getenv("NOTIFY_SOCKET");
	const char *pid = getenv("LISTEN_PID");
	const char *fds = getenv("LISTEN_FDS");

	if (ns != NULL && (ns[0] == '/' || ns[0] == '@') && strlen(ns) < sizeof(notify_path)) {
		notify_len = strlen(ns);
		memcpy(notify_path, ns, notify_len);
		if (notify_path[0] == '@')
			notify_path[0] = '\0';	/* abstract namespace */
	}
	unsetenv("NOTIFY_SOCKET");
	if (pid != NULL && fds != NULL && atol(pid) == (long)getpid()) {
		int n = atoi(fds);

		for (int i = 0; i < n && nsd < (int)nitems(sd_fds); i++) {
			int fd = SD_LISTEN_FDS_START + i;

			sd_lens[nsd] = sizeof(sd_addrs[nsd]);
			if (getsockname(fd, (struct sockaddr *)&sd_addrs[nsd], &sd_lens[nsd]) == -1)
				continue;
			if (fd_cloexec(fd) == -1 || fd_nonblock(fd) == -1)
				log_warn("systemd socket %d", fd);
			sd_fds[nsd++] = fd;
		}
		log_info("systemd passed %d listening socket%s", nsd, nsd == 1 ? "" : "s");
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

/* A socket systemd passed for this address, or -1. */
int
systemd_listen_fd(const struct sockaddr_storage *ss, socklen_t len)
{
	for (int i = 0; i < nsd; i++) {
		if (sd_lens[i] == len && memcmp(&sd_addrs[i], ss, len) == 0) {
			sd_used[i] = true;
			return sd_fds[i];
		}
	}
	return -1;
}

void
notify_systemd(const char *msg)
{
	struct sockaddr_un sun;
	int fd;

	if (notify_len == 0)
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, notify_path, notify_len);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("sd_notify: socket");
		return;
	}
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + notify_len)) == -1)
		log_warn("sd_notify %s", msg);
	close(fd);
}

/*
 * In a new master an upgrade starts (upgrade.c, after fork, before exec):
 * the notify socket systemd gave us, so that it can say STOPPING=1 and
 * the like once it is the service's main process (MAINPID=).
 */
void
systemd_pass_notify(void)
{
	char buf[sizeof(notify_path) + 1];

	if (notify_len == 0)
		return;
	memcpy(buf, notify_path, notify_len);
	buf[notify_len] = '\0';
	if (buf[0] == '\0')
		buf[0] = '@';	/* abstract namespace, as systemd writes it */
	(void)setenv("NOTIFY_SOCKET", buf, 1);	/* without it: no notifications, no harm */
}

/*
 * Start-up is over for systemd (READY=1) once the front end serves and
 * every `start_mode = always` pool has a ready worker or has been given up
 * on (disabled, stopped): `systemctl start` returns when weir really
 * serves.  A pool still starting after READY_MAX_MS does not hold it back
 * longer, so a slow application cannot make systemd kill the whole server
 * (TimeoutStartSec is 90 s by default).
 */
#define READY_MAX_MS	(60 * 1000)

static void
ready_now(struct master *m, const char *why)
{
	if (m->ready_sent || m->stopping)
		return;
	m->ready_sent = true;
	loop_timer_cancel(m->loop, &m->ready_timer);
	log_info("ready: %s", why);
	notify_systemd("READY=1\nSTATUS=serving");
}

static void
on_ready_timeout(void *arg)
{
	struct master *m = arg;

	ready_now(m, "pools still starting after 60s; serving the others");
}

void
systemd_ready_start(struct master *m)
{
	loop_timer_init(&m->ready_timer, on_ready_timeout, m);
	loop_timer_set(m->loop, &m->ready_timer, READY_MAX_MS);
}

void
systemd_check_ready(struct master *m)
{
	handover_check_ready(m);	/* the same moment, told to an old master */
	if (m->ready_sent || !m->fe.hello || m->stopping)
		return;
	for (size_t i = 0; i < m->npools; i++) {
		const struct pool *p = m->pools[i];

		if (p != NULL && p->cp->start_mode == START_ALWAYS &&
		    p->state == POOL_STARTING)
			return;
	}
	ready_now(m, "the front end and every always-started pool are up");
}
