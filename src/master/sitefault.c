/*
 * sitefault.c - sites whose root the front end cannot use, as the master
 * knows them.
 *
 * The front end finds out (siteroot.c) and says so once per change with
 * CTL_SITE_FAULT; here that becomes event 1311 (the root is unavailable:
 * the site answers 503) or 1312 (it is back), and a list `weir status`
 * shows.  The list is also what a new front end starts from (feproc.c
 * hands it over), so a front end restarted during an outage does not
 * write a second 1311, and reports 1312 when it finds the root back.  A
 * site is in the list once, by name: a repeated report only updates it.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "master.h"

static struct site_fault *
find(struct master *m, const char *site)
{
	for (size_t i = 0; i < m->nsite_faults; i++)
		if (strcmp(m->site_faults[i].site, site) == 0)
			return &m->site_faults[i];
	return NULL;
}

static void
forget(struct master *m, struct site_fault *f)
{
	free(f->site);
	free(f->root);
	*f = m->site_faults[--m->nsite_faults];
}

void
sitefault_report(struct master *m, const struct ctl_site_fault *msg)
{
	char site[sizeof(msg->site)], root[sizeof(msg->root)];
	struct site_fault *f;
	json_t *ev;

	wstrlcpy(site, msg->site, sizeof(site));
	wstrlcpy(root, msg->root, sizeof(root));
	f = find(m, site);
	if (msg->err != 0) {
		if (f != NULL) {
			f->err = msg->err;	/* still down (a new front end saw it) */
			return;
		}
		m->site_faults = xreallocarray(m->site_faults, m->nsite_faults + 1,
		    sizeof(*m->site_faults));
		f = &m->site_faults[m->nsite_faults++];
		f->site = xstrdup(site);
		f->root = xstrdup(root);
		f->err = msg->err;
		f->since = loop_now(m->loop);
		time_iso8601(f->since_iso, sizeof(f->since_iso));
		ev = json_object();
		json_object_set_new(ev, "site", json_string(site));
		json_object_set_new(ev, "root", json_string(root));
		json_object_set_new(ev, "errno", json_integer(msg->err));
		json_object_set_new(ev, "error", json_string(strerror(msg->err)));
		json_object_set_new(ev, "user", json_string(m->fe_id.user));
		events_emit(1311, EV_ERROR, NULL, 0, ev,
		    "The root %s of site '%s' is unavailable to the front end (user %s): %s. The site answers 503 until it is back; the other sites are not affected.",
		    root, site, m->fe_id.user, strerror(msg->err));
		return;
	}
	if (f == NULL)
		return;		/* it was never reported down */
	ev = json_object();
	json_object_set_new(ev, "site", json_string(site));
	json_object_set_new(ev, "root", json_string(root));
	json_object_set_new(ev, "unavailable_ms",
	    json_integer((json_int_t)(loop_now(m->loop) - f->since)));
	events_emit(1312, EV_INFO, NULL, 0, ev,
	    "The root %s of site '%s' is available again; the site serves.", root, site);
	forget(m, f);
}

/* Is name the site s, or one of its aliases ("SITE:PREFIX", router.c)? */
static bool
names_site(const struct conf_site *s, const char *name)
{
	size_t n = strlen(s->name);

	if (strcmp(s->name, name) == 0)
		return true;
	if (strncmp(s->name, name, n) != 0 || name[n] != ':')
		return false;
	for (size_t i = 0; i < s->naliases; i++)
		if (strcmp(s->aliases[i].prefix, name + n + 1) == 0)
			return true;
	return false;
}

/* After a reload: sites (and aliases) that are gone are not down any more, just gone. */
void
sitefault_prune(struct master *m)
{
	for (size_t i = 0; i < m->nsite_faults;) {
		bool kept = false;

		for (size_t j = 0; j < m->conf->nsites && !kept; j++)
			kept = names_site(&m->conf->sites[j], m->site_faults[i].site);
		if (kept) {
			i++;
		} else {
			log_info("site %s was removed while its root was unavailable",
			    m->site_faults[i].site);
			forget(m, &m->site_faults[i]);
		}
	}
}

void
sitefault_free(struct master *m)
{
	while (m->nsite_faults > 0)
		forget(m, &m->site_faults[m->nsite_faults - 1]);
	free(m->site_faults);
	m->site_faults = NULL;
}

/* For status: [{"site", "root", "error", "errno", "since"}, ...] */
json_t *
sitefault_json(const struct master *m)
{
	json_t *a = json_array();

	for (size_t i = 0; i < m->nsite_faults; i++) {
		const struct site_fault *f = &m->site_faults[i];
		json_t *o = json_object();

		json_object_set_new(o, "site", json_string(f->site));
		json_object_set_new(o, "root", json_string(f->root));
		json_object_set_new(o, "error", json_string(strerror(f->err)));
		json_object_set_new(o, "errno", json_integer(f->err));
		json_object_set_new(o, "since", json_string(f->since_iso));
		json_array_append_new(a, o);
	}
	return a;
}
