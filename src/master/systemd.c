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
