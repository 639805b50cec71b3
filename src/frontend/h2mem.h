/*
 * h2mem.h - the allocator of HTTP/2 sessions (h2mem.c); apart from
 * frontend.h because nghttp2_mem has no struct tag to declare.
 */
#ifndef WEIR_H2MEM_H
#define WEIR_H2MEM_H

#include <nghttp2/nghttp2.h>

struct fe_thread;

void	h2mem_fill(nghttp2_mem *m, struct fe_thread *t);

#endif
