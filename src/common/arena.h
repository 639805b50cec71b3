/*
 * arena.h - bump allocator for everything that lives as long as a request,
 * a connection or a configuration generation.
 *
 * Allocations are never freed one by one: arena_reset() drops everything
 * (keeping the first chunk for reuse) and runs the registered cleanups in
 * reverse order, e.g. to close fds the request opened.  A failed allocation
 * returns NULL; on the request path that becomes a 500, not a crash.
 */
#ifndef WEIR_ARENA_H
#define WEIR_ARENA_H

#include <stddef.h>

struct arena_chunk;
struct arena_cleanup;

struct arena {
	struct arena_chunk	*head;		/* current chunk (allocations come from here) */
	struct arena_chunk	*first;		/* kept across resets */
	struct arena_cleanup	*cleanups;	/* run by reset/free, newest first */
	size_t			 chunk_size;	/* size of new chunks */
};

void	 arena_init(struct arena *a, size_t chunk_size);
void	*arena_alloc(struct arena *a, size_t n);
void	*arena_calloc(struct arena *a, size_t n);
char	*arena_strndup(struct arena *a, const char *s, size_t n);
char	*arena_strdup(struct arena *a, const char *s);
int	 arena_cleanup_add(struct arena *a, void (*fn)(void *), void *arg);
void	 arena_reset(struct arena *a);
void	 arena_free(struct arena *a);

#endif
