/*
 * reload.c - `weir reload`, SIGHUP, POST /reload: apply a new configuration
 * without dropping a connection or a queued request.
 *
 * 1. Parse and validate the file, and check what the front end would open
 *    as its user (fecheck.c).  Invalid: keep serving the old one, event
 *    1304 with every file:line error, and say so to the caller.
 * 2. Bind the listen addresses that are new (a failure rejects the reload
 *    the same way); addresses that went away are closed after the front end
 *    switched.
 * 3. Hand the front end the sites' certificates (tlsload.c: read and
 *    checked in step 1, so a key that does not match rejects the reload),
 *    then the new text (a memfd) and the new sockets; it builds a new
 *    generation and switches between requests.
 * 4. Pools, matched by name: new ones start, removed ones drain and stop,
 *    changed ones recycle overlapped (event 1080), the rest just take the
 *    new settings.  Event 1303 lists what changed.
 *
 * Every [server] key is applied or, when a reload cannot apply it (threads,
 * user, group, state_dir, log_dir, admin_group, admin_listen: CK_RESTART in
 * the key table), its change rejects the reload whole, naming the key,
 * rather than half-apply or keep the old value in silence.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "rc.h"
#include "log.h"
#include "util.h"
#include "component.h"
#include "tlspem.h"
#include "master.h"

static bool
str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
list_eq(const struct strlist *a, const struct strlist *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

/*
 * Does the change need new worker processes?  Only what is baked into a
 * running worker counts; supervision settings (timeouts, recycling
 * thresholds, queue) apply to the running ones.
 */
static bool
needs_new_workers(const struct conf_pool *a, const struct conf_pool *b)
{
	if (a->kind != b->kind || !str_eq(a->command, b->command) ||
	    !str_eq(a->address, b->address) || !str_eq(a->user, b->user) ||
	    !str_eq(a->group, b->group) || a->own_id != b->own_id ||
	    !str_eq(a->workdir, b->workdir) ||
	    !list_eq(&a->env, &b->env) || !list_eq(&a->modules, &b->modules) ||
	    a->limit_nofile != b->limit_nofile || a->limit_core != b->limit_core ||
	    a->limit_as != b->limit_as || a->notify != b->notify ||
	    a->host_threads != b->host_threads || !str_eq(a->ping_path, b->ping_path) ||
	    (a->kind == POOL_KIND_FASTCGI && a->recycle_requests != b->recycle_requests) ||
	    a->nmodule_settings != b->nmodule_settings ||
	    a->private_tmp != b->private_tmp || a->protect_system != b->protect_system ||
	    !list_eq(&a->read_write_paths, &b->read_write_paths))
		return true;
	for (size_t i = 0; i < a->nmodule_settings; i++)
		if (strcmp(a->module_settings[i].key, b->module_settings[i].key) != 0 ||
		    strcmp(a->module_settings[i].value, b->module_settings[i].value) != 0)
			return true;
	return false;
}

static void
reject(struct master *m, json_t *errors, json_t **result)
{
	json_t *f = json_object();
	size_t i;
	json_t *e;

	json_object_set(f, "errors", errors);
	events_emit(1304, EV_ERROR, NULL, 0, f,
	    "The configuration %s was not reloaded (%zu error%s); the running configuration (generation %u) is kept.",
	    m->conf_path, json_array_size(errors), json_array_size(errors) == 1 ? "" : "s",
	    m->generation);
	json_array_foreach(errors, i, e)
		log_warnx("reload: %s", json_string_value(e));
	*result = json_object();
	json_object_set_new(*result, "ok", json_false());
	json_object_set_new(*result, "generation", json_integer(m->generation));
	json_object_set_new(*result, "errors", errors);
}

/*
 * The [server] keys a reload cannot apply (CK_RESTART in the key table):
 * a change refuses the whole reload, naming each key with its old and new
 * value.  Every other [server] key is applied (CK_RELOAD): by the front
 * end, which builds its new generation from the same text, and by
 * apply_server() below for what the master does itself.
 */
static void
check_restart_keys(const struct conf *o, const struct conf *n, json_t *errors)
{
	for (size_t i = 0; i < conf_nkeys; i++) {
		const struct conf_key *k = &conf_keys[i];
		char a[512], b[512];

		if (k->section != CS_SERVER || !(k->flags & CK_RESTART))
			continue;
		conf_value_text(k, &o->server, a, sizeof(a));
		conf_value_text(k, &n->server, b, sizeof(b));
		if (strcmp(a, b) != 0)
			json_array_append_new(errors, json_sprintf(
			    "[server] %s: changed from %s to %s; needs a restart",
			    k->name, a, b));
	}
}

/*
 * The master's share of the [server] keys a reload applies: the event
 * log's rotation and syslog, and the access log, whose file changes with
 * its format (master_reopen_logs() moves a file of the other format
 * aside and hands the front end the new one).  Pool logs read their
 * limits when they write, and shutdown_timeout when weir stops.
 */
static void
apply_server(struct master *m, const struct conf_server *old)
{
	const struct conf_server *s = &m->conf->server;

	events_configure(s->events_max_size, s->events_keep);
	events_use_syslog(s->syslog);
	if (s->access_log != old->access_log)
		master_reopen_logs(m);
}

/*
 * Send the front end the new configuration: payload = generation; fds =
 * [memfd "path\0text"] + the sockets of every new address (threads each, in
 * address order).  The front end matches addresses by value.
 */
static int
send_reload(struct master *m, const char *text, size_t len,
    const struct listeners *fresh)
{
	int fds[CTL_MAX_FDS], nfds = 0, memfd;
	uint32_t gen = m->generation;
	int rc;

	if ((memfd = memfd_create("weir-conf", MFD_CLOEXEC)) == -1)
		return -1;
	if (write_full(memfd, m->conf_path, strlen(m->conf_path) + 1) == -1 ||
	    write_full(memfd, text, len) == -1) {
		close(memfd);
		return -1;
	}
	fds[nfds++] = memfd;
	for (size_t i = 0; i < fresh->n; i++)
		for (unsigned t = 0; t < fresh->v[i].nfds; t++)
			fds[nfds++] = fresh->v[i].fds[t];
	rc = feproc_send(m, CTL_RELOAD, &gen, sizeof(gen), fds, nfds);
	close(memfd);
	return rc;
}

int
master_reload(struct master *m, json_t **result)
{
	struct conf_errors errs = { NULL, 0 };
	struct conf *nc, *oc = m->conf;
	struct tls_checked chk = { { NULL, 0 }, NULL, 0 };	/* certificates' warnings, expiry */
	json_t *errors = json_array(), *added = json_array(), *removed = json_array(),
	    *changed = json_array(), *ladded = json_array(), *lremoved = json_array();
	struct listeners fresh;
	struct pool **np;
	char err[WEIR_ERRLEN], *text, *pem = NULL;
	size_t len, nfresh_fds = 0, pemlen = 0;

	log_info("reloading %s", m->conf_path);
	notify_systemd("RELOADING=1");
	/* 1. parse and validate */
	if ((text = read_file(m->conf_path, 4 << 20, &len, err)) == NULL) {
		json_array_append_new(errors, json_string(err));
		goto rejected;
	}
	nc = conf_parse_text(m->conf_path, text, len, CONF_CHECK_FS, &errs);
	if (nc != NULL && ident_conf(nc, err) == -1)
		conf_errors_add(&errs, "%s: %s", m->conf_path, err);
	/* every check runs: every error is listed at once */
	if (nc != NULL && (errs.n > 0 || (component_check_conf(nc, &errs) +
	    fsiso_check_conf(nc, &errs) + poolcg_check_conf(nc, &errs) +
	    tlsload_conf(nc, &pem, &pemlen, &errs, &chk)) > 0)) {
		conf_free(nc);
		nc = NULL;
	}
	if (nc == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			json_array_append_new(errors, json_string(errs.msg[i]));
		conf_errors_clear(&errs);
		free(text);
		goto rejected;
	}
	/* what the front end would open, as its user (a root it cannot read) */
	if (fecheck_conf(nc, &m->fe_id, &errs) > 0) {
		for (size_t i = 0; i < errs.n; i++)
			json_array_append_new(errors, json_string(errs.msg[i]));
		conf_errors_clear(&errs);
	}
	check_restart_keys(oc, nc, errors);
	if (json_array_size(errors) > 0) {
		conf_free(nc);
		free(text);
		goto rejected;
	}
	/* 2. sockets: bind what is new; keep the rest */
	if (listeners_open(&fresh, nc, m->lis.threads, &m->lis, NULL, err) == -1) {
		json_array_append_new(errors, json_string(err));
		conf_free(nc);
		free(text);
		goto rejected;
	}
	/* fresh has sockets only for the addresses that are new */
	for (size_t i = 0; i < fresh.n; i++) {
		struct listener_set *s = &fresh.v[i];

		if (s->nfds > 0) {
			nfresh_fds += s->nfds;
			json_array_append_new(ladded, json_string(s->spec));
		}
	}
	if (1 + nfresh_fds > CTL_MAX_FDS) {
		json_array_append_new(errors, json_sprintf(
		    "too many new listening sockets for one reload (%zu): restart weir", nfresh_fds));
		listeners_close(&fresh);
		conf_free(nc);
		free(text);
		goto rejected;
	}
	/* 3. the front end switches: certificates first, then the configuration */
	m->generation++;
	tlsload_set(m, pem, pemlen);
	pem = NULL;
	if (m->fe.pid > 0 && m->fe.hello) {
		if (tlsload_push(m) == -1)
			log_warnx("reload: the front end did not get the certificates");
		struct listeners onlynew = fresh;
		struct listener_set *v = xcalloc(fresh.n ? fresh.n : 1, sizeof(*v));
		size_t k = 0;

		for (size_t i = 0; i < fresh.n; i++)
			if (fresh.v[i].nfds > 0)
				v[k++] = fresh.v[i];
		onlynew.v = v;
		onlynew.n = k;
		if (send_reload(m, text, len, &onlynew) == -1) {
			log_warn("reload: cannot reach the front end; restarting it");
			kill(m->fe.pid, SIGKILL);
		}
		free(v);
	}
	free(text);
	/* the master's sockets: old ones still wanted + new ones, in nc's order */
	for (size_t i = 0; i < m->lis.n; i++) {
		struct listener_set *s = &m->lis.v[i];
		int j = listeners_index(&fresh, &s->ss, s->sslen);

		if (j >= 0) {
			free(fresh.v[j].fds);
			fresh.v[j].fds = s->fds;
			fresh.v[j].nfds = s->nfds;
			s->fds = NULL;
			s->nfds = 0;
		} else {
			json_array_append_new(lremoved, json_string(s->spec));
		}
	}
	listeners_close(&m->lis);
	m->lis = fresh;
	/* 4. pools by name */
	np = xcalloc(nc->npools ? nc->npools : 1, sizeof(*np));
	for (size_t i = 0; i < nc->npools; i++) {
		const struct conf_pool *cp = &nc->pools[i];
		struct pool *p = pools_by_name(m, cp->name);

		if (p == NULL) {
			np[i] = pool_new(m, (int)i, cp);
			json_array_append_new(added, json_string(cp->name));
			continue;
		}
		np[i] = p;
		p->idx = (int)i;
		if (needs_new_workers(p->cp, cp)) {
			json_array_append_new(changed, json_string(cp->name));
			pool_configure_changed(p, cp);
		} else {
			rollback_same_settings(p, cp);
			p->rf.count = cp->rapid_fail_count;
			p->rf.window = cp->rapid_fail_window;
			degraded_configure(p);
		}
	}
	for (size_t i = 0; i < m->npools; i++) {
		bool kept = false;

		for (size_t j = 0; j < nc->npools; j++)
			kept = kept || np[j] == m->pools[i];
		if (!kept) {
			json_array_append_new(removed, json_string(m->pools[i]->name));
			pool_retire(m->pools[i]);
		}
	}
	free(m->pools);
	m->pools = np;
	m->npools = nc->npools;
	m->conf = nc;
	sitefault_prune(m);
	acme_configure(m);
	apply_server(m, &oc->server);
	for (size_t i = 0; i < m->npools; i++) {
		pool_send_state(m->pools[i]);
		pool_trim(m->pools[i]);
		pool_start_one(m->pools[i]);
	}
	/*
	 * The old configuration: nothing points into it any more (retired
	 * pools keep their cp until they are gone: they use it only for
	 * shutdown_time_limit, copied below).
	 */
	conf_keep_old(m, oc);
	{
		json_t *f = json_object();

		json_object_set_new(f, "generation", json_integer(m->generation));
		json_object_set(f, "pools_added", added);
		json_object_set(f, "pools_removed", removed);
		json_object_set(f, "pools_changed", changed);
		json_object_set(f, "listen_added", ladded);
		json_object_set(f, "listen_removed", lremoved);
		events_emit(1303, EV_INFO, NULL, 0, f,
		    "The configuration %s was reloaded (generation %u).", m->conf_path,
		    m->generation);
	}
	/* a certificate close to expiry is said by its event (1316, 1317) */
	tlsexpiry_set(m, &chk);
	tlscheck_checked_free(&chk);
	*result = json_object();
	json_object_set_new(*result, "ok", json_true());
	json_object_set_new(*result, "generation", json_integer(m->generation));
	json_object_set_new(*result, "pools_added", added);
	json_object_set_new(*result, "pools_removed", removed);
	json_object_set_new(*result, "pools_changed", changed);
	{
		/* the deploy version each changed pool moved to (weir reload waits on it) */
		json_t *vers = json_object();

		for (size_t i = 0; i < json_array_size(changed); i++) {
			const char *name = json_string_value(json_array_get(changed, i));
			struct pool *p = pools_by_name(m, name);

			/* an upstream weir does not start has no workers to wait for */
			if (p != NULL && !p->external)
				json_object_set_new(vers, name, json_integer(p->ver));
		}
		json_object_set_new(*result, "versions", vers);
	}
	json_object_set_new(*result, "listen_added", ladded);
	json_object_set_new(*result, "listen_removed", lremoved);
	json_decref(errors);
	notify_systemd("READY=1");
	return 200;
rejected:
	tlspem_free_blob(pem, pemlen);
	tlscheck_checked_free(&chk);
	json_decref(added);
	json_decref(removed);
	json_decref(changed);
	json_decref(ladded);
	json_decref(lremoved);
	reject(m, errors, result);
	notify_systemd("READY=1");
	return 422;
}

/* Keep an earlier configuration while a retired pool still points into it. */
void
conf_keep_old(struct master *m, struct conf *old)
{
	m->old_confs = xreallocarray(m->old_confs, m->nold_confs + 1, sizeof(*m->old_confs));
	m->old_confs[m->nold_confs++] = old;
	conf_gc_old(m);
}

static bool
conf_in_use(const struct master *m, const struct conf *c)
{
	for (const struct pool *p = m->retired; p != NULL; p = p->next_retired)
		if (rollback_uses(p, c))
			return true;
	for (size_t i = 0; i < m->npools; i++)
		if (m->pools[i] != NULL && rollback_uses(m->pools[i], c))
			return true;
	return false;
}

/* Free earlier configurations nothing uses any more. */
void
conf_gc_old(struct master *m)
{
	size_t keep = 0;

	for (size_t i = 0; i < m->nold_confs; i++) {
		if (conf_in_use(m, m->old_confs[i]))
			m->old_confs[keep++] = m->old_confs[i];
		else
			conf_free(m->old_confs[i]);
	}
	m->nold_confs = keep;
	if (keep == 0) {
		free(m->old_confs);
		m->old_confs = NULL;
	}
}
