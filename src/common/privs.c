/*
 * privs.c - drop every privilege a process does not need, in the order
 * the kernel allows it:
 *
 *   1. PR_SET_NO_NEW_PRIVS: nothing this process execs (a setuid binary,
 *      file capabilities) can gain what it does not have;
 *   2. empty the capability bounding set (PR_CAPBSET_DROP needs CAP_SETPCAP,
 *      so before the uid changes) and the ambient set;
 *   3. supplementary groups, gid, uid;
 *   4. empty effective, permitted and inheritable sets (capset: setuid from
 *      root to another uid clears the first two already; this also covers
 *      an explicit `user = root` and a weir not started as root);
 *   5. check that root cannot be regained.
 *
 * Not started as root, the process has no CAP_SETPCAP and the bounding set
 * stays as it was (NO_NEW_PRIVS makes it unreachable anyway).  Called in a
 * child after fork, so it never logs: it fills err ("step: reason").
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "rc.h"
#include "privs.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT			47
#define PR_CAP_AMBIENT_CLEAR_ALL	4
#endif

static int
fail(char *err, const char *step)
{
	snprintf(err, WEIR_ERRLEN, "%s: %s", step, strerror(errno));
	return -1;
}

int
privs_drop(const struct privs *pv, char *err)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	bool can_setpcap = prctl(PR_CAPBSET_READ, CAP_SETPCAP) == 1 && geteuid() == 0;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return fail(err, "prctl(PR_SET_NO_NEW_PRIVS)");
	/* PR_CAPBSET_READ fails with EINVAL past the kernel's last capability */
	for (int cap = 0; can_setpcap && prctl(PR_CAPBSET_READ, cap) >= 0; cap++) {
		if (cap == CAP_SETPCAP)
			continue;	/* dropped last: it is what allows the others */
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1)
			return fail(err, "prctl(PR_CAPBSET_DROP)");
	}
	if (can_setpcap && prctl(PR_CAPBSET_DROP, CAP_SETPCAP, 0, 0, 0) == -1)
		return fail(err, "prctl(PR_CAPBSET_DROP)");
	/* EINVAL: a kernel before 4.3 has no ambient set to clear */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 && errno != EINVAL)
		return fail(err, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
	if (pv->change_id) {
		if (setgroups(pv->ngroups, pv->ngroups > 0 ? pv->groups : NULL) == -1)
			return fail(err, "setgroups");
		if (setgid(pv->gid) == -1)
			return fail(err, "setgid");
		if (setuid(pv->uid) == -1)
			return fail(err, "setuid");
	}
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) == -1)
		return fail(err, "capset");
	if (getuid() != 0 && (setuid(0) != -1 || geteuid() == 0)) {
		snprintf(err, WEIR_ERRLEN, "could regain root after dropping privileges");
		return -1;
	}
	return 0;
}
