/*
 * poison.c - event 1016: a poison request.
 *
 * The front end retries an idempotent request once when its worker fails
 * it after delivery (dies or drops the connection before answering), and
 * runs that retry alone on a worker, so that a second failure is the
 * request's own doing and not a neighbour's (frontend/poolreq.c).  When the
 * retry fails too, the client gets 502, the request is not tried on a third
 * worker, and the front end says so (CTL_POISON_REQUEST): the operator
 * learns which request it was.  The deaths themselves are 1009s, written
 * when each worker is reaped, with the request in their in-flight lists.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "master.h"

void
poison_request(struct master *m, const struct ctl_poison *pz)
{
	char pool[sizeof(pz->pool)], method[sizeof(pz->method) + 1];
	char target[sizeof(pz->target) + 1];
	json_t *f, *pids, *workers;
	const struct pool *p;

	/* Fixed-size fields that the front end may have filled to the last byte. */
	snprintf(pool, sizeof(pool), "%.*s", (int)sizeof(pz->pool) - 1, pz->pool);
	if ((p = pools_by_name(m, pool)) == NULL) {
		log_debug("front end: poison request for unknown pool '%s' dropped", pool);
		return;
	}
	snprintf(method, sizeof(method), "%.*s", (int)sizeof(pz->method), pz->method);
	snprintf(target, sizeof(target), "%.*s", (int)sizeof(pz->target), pz->target);
	pids = json_array();
	workers = json_array();
	for (int i = 0; i < 2; i++) {
		json_array_append_new(pids, json_integer(pz->pid[i]));
		json_array_append_new(workers, json_integer(pz->worker[i]));
	}
	f = json_object();
	json_object_set_new(f, "method", json_string(method));
	json_object_set_new(f, "target", json_string(target));
	json_object_set_new(f, "pids", pids);
	json_object_set_new(f, "workers", workers);
	json_object_set_new(f, "status", json_integer(502));
	events_emit(1016, EV_WARNING, p->name, 0, f,
	    "A request to application pool '%s' failed two processes serving it: "
	    "'%s %s' was being handled by process id '%d', then by process id '%d', "
	    "and each terminated or dropped the connection before answering. "
	    "It was answered 502 and is not tried again.",
	    p->name, method, target, (int)pz->pid[0], (int)pz->pid[1]);
}
