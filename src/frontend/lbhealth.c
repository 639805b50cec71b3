/*
 * lbhealth.c - `health_path`: the answer a load balancer's health check
 * gets from the front end itself.
 *
 * 200 while weir serves, 503 from the moment a drain begins (`weir drain`,
 * or the first step of a stop: CTL_DRAIN sets fe->lb_draining), so the
 * balancer takes the host out of rotation while it still serves every
 * request it gets.  It is answered before any site is chosen (a check may
 * carry no Host, or the balancer's own) and never reaches a pool: it says
 * whether this weir takes traffic, not whether one application is well
 * (that is what each pool's readiness and the 503s of a disabled pool say).
 * A liveness probe must not use it: it goes 503 on purpose.  The path is
 * the address's own (`listen = ADDR health_path=/PATH`, for a balancer on
 * one address only) or else the server's `health_path`.
 */
#include <string.h>

#include "util.h"
#include "frontend.h"

/*
 * Answer r when its path is health_path: returns true when it was answered
 * (the response is queued, or the connection was closed for want of a
 * buffer), false to route it as usual.
 */
bool
lbhealth_answer(struct conn *c, struct req *r)
{
	const char *hp = c->gen->addrs[c->addr].health_path;
	bool draining = atomic_load_explicit(&c->t->fe->lb_draining, memory_order_relaxed);
	static const char ok[] = "serving\n", dr[] = "draining\n";
	const char *body = draining ? dr : ok;
	size_t blen = draining ? sizeof(dr) - 1 : sizeof(ok) - 1, avail;
	char *p;

	if (hp == NULL || r->h.path.n != strlen(hp) || memcmp(r->h.path.p, hp, r->h.path.n) != 0)
		return false;
	if (r->h.method != HTTP_M_GET && r->h.method != HTTP_M_HEAD) {
		http1_error(c, r, 405, NULL);
		return true;
	}
	if ((p = http1_resp_begin(c, r, draining ? 503 : 200, &avail)) == NULL) {
		conn_close(c);
		return true;
	}
	p = PUTS(p, "Content-Type: text/plain\r\nCache-Control: no-store\r\nContent-Length: ");
	p += fmt_u64(p, blen);
	p = PUTS(p, "\r\n\r\n");
	if (r->h.method != HTTP_M_HEAD)
		p = put(p, body, blen);
	http1_resp_commit(c, r, p);
	return true;
}
