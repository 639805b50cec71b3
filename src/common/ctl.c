/*
 * ctl.c - send and receive control messages with fds (SCM_RIGHTS).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "rc.h"
#include "ctl.h"

int
ctl_send(int fd, enum ctl_type type, const void *payload, size_t len,
    const int *fds, int nfds)
{
	struct ctl_hdr hdr;
	struct iovec iov[2];
	struct msghdr msg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
	} cm;
	ssize_t n;

	if (len > CTL_MAX_PAYLOAD || nfds < 0 || nfds > CTL_MAX_FDS) {
		errno = EMSGSIZE;
		return -1;
	}
	hdr.type = (uint16_t)type;
	hdr.nfds = (uint16_t)nfds;
	hdr.len = (uint32_t)len;
	iov[0].iov_base = &hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)payload;
	iov[1].iov_len = len;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = len ? 2 : 1;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	do {
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	return n == -1 ? -1 : 0;
}

int
ctl_recv(int fd, struct ctl_hdr *hdr, void *payload, size_t max, int *fds,
    int maxfds)
{
	char buf[sizeof(struct ctl_hdr) + CTL_MAX_PAYLOAD];
	struct iovec iov;
	struct msghdr msg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
	} cm;
	struct cmsghdr *c;
	int nfds = 0;
	ssize_t n;

	iov.iov_base = buf;
	iov.iov_len = sizeof(buf);
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	do {
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? WEIR_AGAIN : -1;
	if (n == 0)
		return 0;
	/* Collect fds first so none leaks even when the message is bad. */
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *in = (int *)(void *)CMSG_DATA(c);

		for (size_t i = 0; i < k; i++) {
			if (nfds < maxfds)
				fds[nfds++] = in[i];
			else
				close(in[i]);
		}
	}
	if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    (size_t)n < sizeof(*hdr))
		goto bad;
	memcpy(hdr, buf, sizeof(*hdr));
	if (hdr->len != (size_t)n - sizeof(*hdr) || hdr->len > max ||
	    hdr->type == 0 || hdr->type >= CTL__MAX)
		goto bad;
	if (ctl_payload_size((enum ctl_type)hdr->type) >= 0 &&
	    (size_t)ctl_payload_size((enum ctl_type)hdr->type) != hdr->len)
		goto bad;
	memcpy(payload, buf + sizeof(*hdr), hdr->len);
	hdr->nfds = (uint16_t)nfds;
	return 1;
bad:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	errno = EPROTO;
	return -1;
}

long
ctl_payload_size(enum ctl_type type)
{
	switch (type) {
	case CTL_HELLO:			return sizeof(struct ctl_hello);
	case CTL_SHUTDOWN:		return sizeof(struct ctl_shutdown);
	case CTL_LOG_REOPEN:		return sizeof(struct ctl_log_reopen);
	case CTL_RELOAD:		return sizeof(uint32_t);
	case CTL_RELOAD_RESULT:		return sizeof(struct ctl_result);
	case CTL_POOL_STATE:		return sizeof(struct ctl_pool_state);
	case CTL_WORKER_READY:
	case CTL_WORKER_DRAIN:
	case CTL_WORKER_GONE:
	case CTL_WORKER_DRAINED:	return sizeof(struct ctl_worker);
	case CTL_DEMAND_START:		return sizeof(struct ctl_pool_ref);
	case CTL_WORKER_FAULT:		return sizeof(struct ctl_worker_fault);
	case CTL_WORKER_REPORT:		return sizeof(struct ctl_worker_report);
	case CTL_STATS:			return -1;	/* header + n entries */
	case CTL_STATUS_REQ:		return sizeof(struct ctl_pool_ref);
	case CTL_STATUS:		return sizeof(uint32_t);	/* + fds[0]: memfd with JSON */
	case CTL_POOL_LOG:		return sizeof(struct ctl_pool_log);
	case CTL_POISON_REQUEST:	return sizeof(struct ctl_poison);
	case CTL_SITE_FAULT:		return sizeof(struct ctl_site_fault);
	case CTL_DRAIN:			return 0;
	case CTL_TLS_CERTS:		return sizeof(uint32_t);	/* + fds[0]: memfd with the blob */
	case CTL_TLS_KEYS:		return sizeof(struct ctl_tls_keys);
	case CTL_ACME_CHALLENGE:
	case CTL_ACME_CHALLENGE_ACK:	return sizeof(struct ctl_acme_challenge);
	case CTL_ACCEPT:		return sizeof(uint32_t);
	case CTL_UPG_LISTENER:		return sizeof(struct ctl_upg_listener);
	case CTL_UPG_POOL:		return sizeof(struct ctl_upg_pool);
	case CTL_UPG_STATE:		return sizeof(struct ctl_upg_state);
	case CTL_UPG_READY:		return sizeof(struct ctl_upg_ready);
	case CTL_UPG_FAILED:		return sizeof(struct ctl_upg_failed);
	case CTL_UPG_COMMIT:		return sizeof(uint32_t);
	case CTL__MAX:			break;
	}
	return -1;
}

const char *
ctl_type_name(enum ctl_type type)
{
	static const char *names[] = {
		"?", "HELLO", "SHUTDOWN", "LOG_REOPEN", "RELOAD", "RELOAD_RESULT",
		"POOL_STATE", "WORKER_READY", "WORKER_DRAIN", "WORKER_GONE",
		"DEMAND_START", "WORKER_DRAINED", "WORKER_FAULT", "WORKER_REPORT",
		"STATS", "STATUS_REQ", "STATUS", "POOL_LOG", "POISON_REQUEST",
		"SITE_FAULT", "DRAIN", "TLS_CERTS", "TLS_KEYS", "ACME_CHALLENGE", "ACME_CHALLENGE_ACK", "ACCEPT",
		"UPG_LISTENER", "UPG_POOL", "UPG_STATE", "UPG_READY", "UPG_FAILED", "UPG_COMMIT",
	};

	return (unsigned)type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}
