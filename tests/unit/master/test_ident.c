/*
 * test_ident.c - the rule that gives a pool without `user` its own uid/gid
 * (ident.c): hash, range, collisions, skipping taken ids, order.
 */
#include <pwd.h>
#include <grp.h>

#include "../unit.h"
#include "../../../src/master/ident.c"
#include "../../../src/common/util.c"

/* a fake user/group database: the ids in `taken` exist */
struct fakedb {
	const uint32_t	*taken;
	size_t		 n;
};

static bool
fake_in_use(uint32_t id, void *arg)
{
	const struct fakedb *db = arg;

	for (size_t i = 0; i < db->n; i++)
		if (db->taken[i] == id)
			return true;
	return false;
}

struct acase {
	const char	*name;
	uint32_t	 hashes[4];
	size_t		 n;
	uint32_t	 lo, hi;
	uint32_t	 taken[4];
	size_t		 ntaken;
	int		 rc;
	uint32_t	 want[4];
};

static const struct acase acases[] = {
	{ "one, free",		{ 7 }, 1, 100, 109, { 0 }, 0, 0, { 107 } },
	{ "hash wraps",		{ 23 }, 1, 100, 109, { 0 }, 0, 0, { 103 } },
	{ "taken: next",	{ 7 }, 1, 100, 109, { 107, 108 }, 2, 0, { 109 } },
	{ "taken at top: wraps", { 9 }, 1, 100, 109, { 109 }, 1, 0, { 100 } },
	{ "collision: 1st keeps", { 7, 17 }, 2, 100, 109, { 0 }, 0, 0, { 107, 108 } },
	{ "collision + db",	{ 7, 17 }, 2, 100, 109, { 108 }, 1, 0, { 107, 109 } },
	{ "three apart",	{ 1, 2, 3 }, 3, 100, 109, { 0 }, 0, 0, { 101, 102, 103 } },
	{ "range full",		{ 0, 0 }, 2, 100, 101, { 100 }, 1, -1, { 0 } },
	{ "exactly full",	{ 0, 0 }, 2, 100, 101, { 0 }, 0, 0, { 100, 101 } },
};

static void
conf_with(struct conf *c, struct conf_pool *pools, const char *const *names, size_t n)
{
	memset(c, 0, sizeof(*c));
	memset(pools, 0, n * sizeof(*pools));
	for (size_t i = 0; i < n; i++)
		pools[i].name = (char *)names[i];
	c->pools = pools;
	c->npools = n;
	c->server.user = (char *)"root";	/* the front end has an account */
}

static uint32_t
own_id_of(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->npools; i++)
		if (strcmp(c->pools[i].name, name) == 0)
			return c->pools[i].own_id;
	return 0;
}

int
main(void)
{
	char err[WEIR_ERRLEN];

	/* FNV-1a 32 reference values: "" and "a" */
	CHECK_INT(ident_hash("", ""), 2166136261u);
	CHECK_INT(ident_hash("a", ""), 0xe40c292cu);
	CHECK_INT(ident_hash("", "a"), 0xe40c292cu);
	CHECK(ident_hash("pool:", "shop") == ident_hash("pool:sh", "op"));
	CHECK(ident_hash("pool:", "shop") != ident_hash("pool:", "blog"));

	for (size_t i = 0; i < sizeof(acases) / sizeof(acases[0]); i++) {
		const struct acase *t = &acases[i];
		struct fakedb db = { t->taken, t->ntaken };
		uint32_t out[4] = { 0 };
		int rc = ident_assign(t->hashes, t->n, t->lo, t->hi, fake_in_use, &db, out);

		CHECKF(rc == t->rc, "%s: rc %d, want %d", t->name, rc, t->rc);
		for (size_t k = 0; rc == 0 && k < t->n; k++)
			CHECKF(out[k] == t->want[k], "%s: claimant %zu got %u, want %u",
			    t->name, k, out[k], t->want[k]);
	}

	/*
	 * ident_conf on this system's databases: in range, distinct, free in
	 * both databases, the same whatever the order of the pools in the
	 * file, the same on every call, and a pool with `user` gets none.
	 */
	{
		static const char *const ab[] = { "shop", "blog", "api" };
		static const char *const ba[] = { "api", "shop", "blog" };
		struct conf c1, c2;
		struct conf_pool p1[3], p2[3];

		conf_with(&c1, p1, ab, 3);
		conf_with(&c2, p2, ba, 3);
		p1[2].user = (char *)"nobody";
		p2[0].user = (char *)"nobody";
		CHECK_INT(ident_conf(&c1, err), 0);
		CHECK_INT(ident_conf(&c2, err), 0);
		CHECK_INT(c1.server.fe_own_id, 0);
		CHECK_INT(own_id_of(&c1, "api"), 0);
		for (size_t i = 0; i < 2; i++) {
			uint32_t id = own_id_of(&c1, ab[i]);

			CHECKF(id >= IDENT_MIN && id <= IDENT_MAX, "%s: %u out of range", ab[i], id);
			CHECKF(getpwuid(id) == NULL && getgrgid(id) == NULL, "%s: %u exists", ab[i], id);
			CHECKF(own_id_of(&c2, ab[i]) == id, "%s: order changed its id", ab[i]);
		}
		CHECK(own_id_of(&c1, "shop") != own_id_of(&c1, "blog"));
		/* a second call, a pool added: the others keep theirs (no collision here) */
		{
			static const char *const more[] = { "shop", "blog", "api", "zeta" };
			struct conf c3;
			struct conf_pool p3[4];

			conf_with(&c3, p3, more, 4);
			p3[2].user = (char *)"nobody";
			CHECK_INT(ident_conf(&c3, err), 0);
			CHECK_INT(own_id_of(&c3, "shop"), own_id_of(&c1, "shop"));
			CHECK_INT(own_id_of(&c3, "blog"), own_id_of(&c1, "blog"));
		}
		/* the front end without an account claims first */
		if (getpwnam("weir") == NULL) {
			c1.server.user = NULL;
			CHECK_INT(ident_conf(&c1, err), 0);
			CHECK(c1.server.fe_own_id >= IDENT_MIN && c1.server.fe_own_id <= IDENT_MAX);
			CHECK(c1.server.fe_own_id != own_id_of(&c1, "shop"));
			CHECK(c1.server.fe_own_id != own_id_of(&c1, "blog"));
		}
	}
	return unit_done("ident");
}
