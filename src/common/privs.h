/*
 * privs.h - a process gives up every privilege before it runs anything
 * on behalf of a pool or of the network (workers, the front end).
 */
#ifndef WEIR_PRIVS_H
#define WEIR_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The identity to take; change_id false keeps the current one (not root). */
struct privs {
	bool		 change_id;
	uid_t		 uid;
	gid_t		 gid;
	const gid_t	*groups;	/* exactly these supplementary groups */
	size_t		 ngroups;	/* 0: none */
};

int	privs_drop(const struct privs *pv, char *err);

#endif
