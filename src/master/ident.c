/*
 * ident.c - the identity of a pool that has no `user` (and of a front end
 * without an account of its own) when weir runs as root: weir's analogue of
 * IIS's ApplicationPoolIdentity.
 *
 * The rule (docs/config.md, "Pool identity"): every claimant gets one number
 * used as both its uid and its gid, in IDENT_MIN..IDENT_MAX (65536..99999:
 * above the 16-bit ids that systems and systemd hand out - DynamicUser takes
 * 61184..65519 - and below 100000, where useradd starts the subordinate id
 * ranges of rootless containers).  A claimant starts at
 * IDENT_MIN + FNV-1a-32(key) mod span, and walks up (wrapping) past every
 * number that exists in the user or group database (getpwuid, getgrgid) or
 * that a claimant before it took.  Claimants go in a fixed order: the front
 * end first (key "frontend:"), then the pools without `user` by name (key
 * "pool:NAME").  Nothing is stored: the same name on the same system gets
 * the same number after a restart, a reload or a reboot; only a pool whose
 * hash meets another claimant's number (about 1 in 34,000 per pair) moves,
 * and then by name order, which adding a pool that sorts first can change.
 */
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "rc.h"
#include "util.h"
#include "master.h"

/* FNV-1a, 32 bits: small, stable across builds and platforms. */
uint32_t
ident_hash(const char *prefix, const char *name)
{
	uint32_t h = 2166136261u;

	for (const char *s = prefix; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	for (const char *s = name; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/*
 * Give each of n claimants (hashes in priority order) a number in lo..hi
 * that in_use() does not reject and no claimant before it holds.  out[i]
 * gets claimant i's number.  Returns 0, or -1 when the range is full.
 */
int
ident_assign(const uint32_t *hashes, size_t n, uint32_t lo, uint32_t hi,
    bool (*in_use)(uint32_t id, void *arg), void *arg, uint32_t *out)
{
	uint32_t span = hi - lo + 1;

	for (size_t i = 0; i < n; i++) {
		uint32_t start = hashes[i] % span, j;

		for (j = 0; j < span; j++) {
			uint32_t cand = lo + (start + j) % span;
			bool taken = in_use(cand, arg);

			for (size_t k = 0; k < i && !taken; k++)
				taken = out[k] == cand;
			if (!taken)
				break;
		}
		if (j == span)
			return -1;
		out[i] = lo + (start + j) % span;
	}
	return 0;
}

/* In the user or the group database: some account or group has it. */
static bool
in_db(uint32_t id, void *arg)
{
	(void)arg;
	return getpwuid((uid_t)id) != NULL || getgrgid((gid_t)id) != NULL;
}

static int
by_name(const void *a, const void *b)
{
	const struct conf_pool *const *pa = a, *const *pb = b;

	return strcmp((*pa)->name, (*pb)->name);
}

/*
 * Fill c->server.fe_own_id (when the front end has no account: no [server]
 * user and no `weir` user) and each user-less pool's own_id; 0 where the
 * rule does not apply.  Returns 0, or -1 with err when the range is full.
 */
int
ident_conf(struct conf *c, char *err)
{
	struct conf_pool **pools = xcalloc(c->npools + 1, sizeof(*pools));
	uint32_t *hashes = xcalloc(c->npools + 1, sizeof(uint32_t));
	uint32_t *ids = xcalloc(c->npools + 1, sizeof(uint32_t));
	size_t n = 0, np = 0;
	bool fe = c->server.user == NULL && getpwnam("weir") == NULL;
	int rc = 0;

	c->server.fe_own_id = 0;
	for (size_t i = 0; i < c->npools; i++) {
		c->pools[i].own_id = 0;
		if (c->pools[i].user == NULL)
			pools[np++] = &c->pools[i];
	}
	qsort(pools, np, sizeof(*pools), by_name);
	if (fe)
		hashes[n++] = ident_hash("frontend:", "");
	for (size_t i = 0; i < np; i++)
		hashes[n++] = ident_hash("pool:", pools[i]->name);
	if (ident_assign(hashes, n, IDENT_MIN, IDENT_MAX, in_db, NULL, ids) == -1) {
		snprintf(err, WEIR_ERRLEN, "no free uid left in %u..%u for the pools' own identities",
		    IDENT_MIN, IDENT_MAX);
		rc = -1;
	} else {
		if (fe)
			c->server.fe_own_id = ids[0];
		for (size_t i = 0; i < np; i++)
			pools[i]->own_id = ids[i + (fe ? 1 : 0)];
	}
	free(pools);
	free(hashes);
	free(ids);
	return rc;
}

/*
 * The supplementary groups initgroups(user, gid) would give, gid among
 * them (an allocated array, *n its length; at least gid alone).
 */
gid_t *
ident_user_groups(const char *user, gid_t gid, size_t *n)
{
	gid_t *groups = NULL;
	int cnt = 0;

	if (getgrouplist(user, gid, NULL, &cnt) == -1 && cnt > 0) {
		groups = xcalloc((size_t)cnt, sizeof(gid_t));
		if (getgrouplist(user, gid, groups, &cnt) == -1)
			cnt = 0;
	}
	if (cnt <= 0) {
		free(groups);
		groups = xcalloc(1, sizeof(gid_t));
		groups[0] = gid;
		cnt = 1;
	}
	*n = (size_t)cnt;
	return groups;
}
