/*
 * h2mem.c - the memory of HTTP/2 sessions: small sizes from per-thread
 * freelists.
 *
 * nghttp2 mallocs and frees several small objects per stream (its stream,
 * the outbound HEADERS and DATA items, the response's field array, header
 * buffers); with the rest of a static stream served from weir's freelists
 * these were most of its mallocs.  A session runs on its connection's
 * thread only, so it is given an allocator (nghttp2_mem) that serves sizes
 * up to H2MEM_MAX from that thread's freelists by size class, bounded and
 * trimmed each tick like the other object freelists (objs_put(),
 * objs_trim(), conn.c), and falls back to malloc for anything larger.
 *
 * nghttp2's free() does not say the size, so every allocation carries a
 * header in front naming its class (and a large one's size, for realloc);
 * the header is max_align_t aligned so what the caller gets is aligned as
 * malloc's is.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "frontend.h"
#include "h2mem.h"

#define H2MEM_MIN	64			/* the smallest class */
#define H2MEM_LARGE	H2MEM_CLASSES		/* class of a plain malloc */

_Static_assert((H2MEM_MIN << (H2MEM_CLASSES - 1)) == H2MEM_MAX, "H2MEM_MAX is the top class");

struct h2mem_hdr {
	alignas(max_align_t) size_t size;	/* asked for, of a large one */
	unsigned	 cls;
};

/* The smallest class that holds n bytes after the header, or H2MEM_LARGE. */
static unsigned
h2mem_class(size_t n)
{
	size_t sz = H2MEM_MIN;
	unsigned cls = 0;

	n += sizeof(struct h2mem_hdr);
	while (cls < H2MEM_CLASSES && sz < n) {
		sz <<= 1;
		cls++;
	}
	return cls;
}

static size_t
h2mem_class_size(unsigned cls)
{
	return (size_t)H2MEM_MIN << cls;
}

/* n bytes, zeroed when asked; NULL when memory is out. */
static void *
h2mem_get(struct fe_thread *t, size_t n, bool zero)
{
	unsigned cls = h2mem_class(n);
	struct h2mem_hdr *h;

	if (cls == H2MEM_LARGE) {
		if ((h = zero ? calloc(1, sizeof(*h) + n) : malloc(sizeof(*h) + n)) == NULL)
			return NULL;
		h->size = n;
	} else if ((h = objs_take(&t->h2mem[cls])) == NULL) {
		if ((h = malloc(h2mem_class_size(cls))) == NULL)
			return NULL;
	}
	if (zero && cls != H2MEM_LARGE)
		memset(h + 1, 0, n);
	h->cls = cls;
	return h + 1;
}

static void *
h2mem_malloc(size_t n, void *arg)
{
	return h2mem_get(arg, n, false);
}

static void *
h2mem_calloc(size_t nmemb, size_t size, void *arg)
{
	if (size != 0 && nmemb > (SIZE_MAX - sizeof(struct h2mem_hdr)) / size)
		return NULL;
	return h2mem_get(arg, nmemb * size, true);
}

static void
h2mem_free(void *p, void *arg)
{
	struct fe_thread *t = arg;
	struct h2mem_hdr *h;

	if (p == NULL)
		return;
	h = (struct h2mem_hdr *)p - 1;
	if (h->cls == H2MEM_LARGE)
		free(h);
	else
		objs_put(&t->h2mem[h->cls], h);
}

/* Grown or shrunk: kept in place while its class still fits, else moved. */
static void *
h2mem_realloc(void *p, size_t n, void *arg)
{
	struct h2mem_hdr *h;
	size_t had;
	void *q;

	if (p == NULL)
		return h2mem_get(arg, n, false);
	h = (struct h2mem_hdr *)p - 1;
	if (h->cls == H2MEM_LARGE) {
		had = h->size;
	} else {
		had = h2mem_class_size(h->cls) - sizeof(*h);
		if (n <= had)
			return p;
	}
	if ((q = h2mem_get(arg, n, false)) == NULL)
		return NULL;	/* p is kept, as realloc's */
	memcpy(q, p, had < n ? had : n);
	h2mem_free(p, arg);
	return q;
}

/* The allocator of a session on thread t (nghttp2 copies it). */
void
h2mem_fill(nghttp2_mem *m, struct fe_thread *t)
{
	m->mem_user_data = t;
	m->malloc = h2mem_malloc;
	m->free = h2mem_free;
	m->calloc = h2mem_calloc;
	m->realloc = h2mem_realloc;
}

/* Each tick (conn_trim()): what sat unused goes; at the thread's end, all. */
void
h2mem_trim(struct fe_thread *t, bool all)
{
	for (unsigned i = 0; i < H2MEM_CLASSES; i++)
		objs_trim(&t->h2mem[i], all, 0);
}
