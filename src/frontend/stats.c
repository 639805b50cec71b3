/*
 * stats.c - the front end's counters, and the snapshot the master asks for
 * (GET /status, GET /metrics).
 *
 * Counting costs a plain load and store per counter: each thread owns its
 * slot.  The snapshot sums the slots and is sent to the master as JSON in a
 * memfd (no size limit, one message), so the master never touches the front
 * end's memory and the front end never blocks on the master.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <jansson.h>

#include "log.h"
#include "util.h"
#include "frontend.h"

/* httperr.log reason tokens of enum fe_close_reason (HTTP.sys's names). */
const char *const fe_close_tokens[FE_CLOSE_REASONS] = {
	[FE_CLOSE_MINRATE] = "Timer_MinBytesPerSecond",
	[FE_CLOSE_DROPPED] = "Connection_Dropped",
	[FE_CLOSE_PERIP] = "ConnLimit",
	[FE_CLOSE_PROXY_UNTRUSTED] = "Proxy_Untrusted",
	[FE_CLOSE_PROXY_HEADER] = "Proxy_Header",
	[FE_CLOSE_TLS_TIMEOUT] = "Timer_TlsHandshake",
	[FE_CLOSE_TLS_FAILED] = "TLS_Handshake_Failed",
};

/* Upper bounds of the histogram buckets, in microseconds. */
static const uint64_t bounds_us[STAT_BUCKETS] = {
	1000, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 5000000, 30000000
};

void
stats_hist(struct hist *h, uint64_t us)
{
	for (int i = 0; i < STAT_BUCKETS; i++) {
		if (us <= bounds_us[i]) {
			stat_add(&h->b[i], 1);
			break;
		}
	}
	stat_add(&h->count, 1);
	stat_add(&h->sum_us, us);
}

/* A finished request: by site and (when proxied) pool, by status class. */
void
stats_request(struct conn *c, struct req *r)
{
	struct fe_thread *t = c->t;
	int cls = r->status / 100 - 1;

	stat_add(&t->st_requests[c->proto], 1);
	if (cls < 0 || cls > 4)
		return;
	if (r->site != NULL)
		stat_add(&r->site->sc[t->idx].classes[cls], 1);
	if (r->poolp != NULL)
		stat_add(&r->poolp->pc[t->idx].classes[cls], 1);
}

static uint64_t
ld(stat_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static json_t *
classes_json(uint64_t v[5])
{
	json_t *o = json_object();
	static const char *names[] = { "1xx", "2xx", "3xx", "4xx", "5xx" };

	for (int i = 0; i < 5; i++)
		json_object_set_new(o, names[i], json_integer((json_int_t)v[i]));
	return o;
}

static json_t *
hist_json(struct frontend *fe, struct fe_pool *p, bool upstream)
{
	json_t *o = json_object(), *b = json_array();
	uint64_t sum[STAT_BUCKETS] = { 0 }, count = 0, total_us = 0, cum = 0;

	for (unsigned t = 0; t < fe->nthreads; t++) {
		struct hist *h = upstream ? &p->pc[t].upstream : &p->pc[t].wait;

		for (int i = 0; i < STAT_BUCKETS; i++)
			sum[i] += ld(&h->b[i]);
		count += ld(&h->count);
		total_us += ld(&h->sum_us);
	}
	for (int i = 0; i < STAT_BUCKETS; i++) {
		json_t *pair = json_array();

		cum += sum[i];
		json_array_append_new(pair, json_real((double)bounds_us[i] / 1e6));
		json_array_append_new(pair, json_integer((json_int_t)cum));
		json_array_append_new(b, pair);
	}
	json_object_set_new(o, "buckets", b);
	json_object_set_new(o, "count", json_integer((json_int_t)count));
	json_object_set_new(o, "sum", json_real((double)total_us / 1e6));
	return o;
}

/* Requests by the protocol the client spoke. */
static json_t *
proto_json(struct frontend *fe)
{
	json_t *o = json_object();
	uint64_t v[CONN_PROTOS] = { 0 };

	for (unsigned t = 0; t < fe->nthreads; t++)
		for (int k = 0; k < CONN_PROTOS; k++)
			v[k] += ld(&fe->threads[t].st_requests[k]);
	json_object_set_new(o, "HTTP/1.1", json_integer((json_int_t)v[CONN_PROTO_H1]));
	json_object_set_new(o, "HTTP/2.0", json_integer((json_int_t)v[CONN_PROTO_H2]));
	return o;
}

/*
 * Build the snapshot and send it: CTL_STATUS with a memfd holding JSON.
 * Called on thread 0 when the master sends CTL_STATUS_REQ.
 */
int
stats_snapshot(struct frontend *fe)
{
	struct fe_gen *g = fe_gen_acquire(fe);
	json_t *root = json_object(), *sites = json_object(), *pools = json_object();
	uint64_t conns = 0, accepted = 0, handshakes = 0, closed[FE_CLOSE_REASONS] = { 0 };
	json_t *co = json_object();
	char *text;
	size_t len;
	uint32_t zero = 0;
	int fd, rc = -1;

	for (unsigned t = 0; t < fe->nthreads; t++) {
		conns += ld(&fe->threads[t].st_conns);
		accepted += ld(&fe->threads[t].st_accepted);
		handshakes += ld(&fe->threads[t].st_tls_handshakes);
		for (int k = 0; k < FE_CLOSE_REASONS; k++)
			closed[k] += ld(&fe->threads[t].st_closed[k]);
	}
	for (int k = 0; k < FE_CLOSE_REASONS; k++)
		json_object_set_new(co, fe_close_tokens[k], json_integer((json_int_t)closed[k]));
	json_object_set_new(root, "pid", json_integer(getpid()));
	json_object_set_new(root, "threads", json_integer(fe->nthreads));
	json_object_set_new(root, "generation", json_integer(g->generation));
	json_object_set_new(root, "connections", json_integer((json_int_t)conns));
	json_object_set_new(root, "accepted", json_integer((json_int_t)accepted));
	json_object_set_new(root, "closed", co);
	json_object_set_new(root, "tls_handshakes", json_integer((json_int_t)handshakes));
	json_object_set_new(root, "requests", proto_json(fe));
	json_object_set_new(root, "http2", h2_stats_json(fe));
	for (size_t i = 0; i < g->nsites; i++) {
		uint64_t v[5] = { 0 };

		for (unsigned t = 0; t < fe->nthreads; t++)
			for (int k = 0; k < 5; k++)
				v[k] += ld(&g->sites[i].sc[t].classes[k]);
		json_object_set_new(sites, g->sites[i].cs->name, classes_json(v));
	}
	for (size_t i = 0; i < fe->npools; i++) {
		struct fe_pool *p = fe->pools[i];
		json_t *o = json_object(), *ws = json_array();
		uint64_t v[5] = { 0 }, retries = 0, poison = 0;

		for (unsigned t = 0; t < fe->nthreads; t++) {
			for (int k = 0; k < 5; k++)
				v[k] += ld(&p->pc[t].classes[k]);
			retries += ld(&p->pc[t].retries);
			poison += ld(&p->pc[t].poison);
		}
		json_object_set_new(o, "responses", classes_json(v));
		json_object_set_new(o, "retries", json_integer((json_int_t)retries));
		json_object_set_new(o, "poison_requests", json_integer((json_int_t)poison));
		json_object_set_new(o, "queue_wait", hist_json(fe, p, false));
		json_object_set_new(o, "upstream", hist_json(fe, p, true));
		pthread_mutex_lock(&p->lock);
		json_object_set_new(o, "queue", json_integer(p->qlen));
		for (struct fe_worker *w = p->workers; w != NULL; w = w->next) {
			json_t *wo;

			if (w->gone)
				continue;
			wo = json_object();
			json_object_set_new(wo, "worker", json_integer(w->id));
			json_object_set_new(wo, "inflight", json_integer(w->inflight));
			json_object_set_new(wo, "requests", json_integer((json_int_t)w->requests));
			json_object_set_new(wo, "draining", json_boolean(w->draining));
			json_array_append_new(ws, wo);
		}
		pthread_mutex_unlock(&p->lock);
		json_object_set_new(o, "workers", ws);
		json_object_set_new(pools, p->name, o);
	}
	json_object_set_new(root, "sites", sites);
	json_object_set_new(root, "pools", pools);
	fe_gen_release(g);
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (text == NULL)
		return -1;
	len = strlen(text);
	if ((fd = memfd_create("weir-status", MFD_CLOEXEC)) != -1 &&
	    write_full(fd, text, len) == 0 &&
	    ctl_send(fe->ctl, CTL_STATUS, &zero, sizeof(zero), &fd, 1) == 0)
		rc = 0;
	if (fd != -1)
		close(fd);
	free(text);
	return rc;
}
