/*
 * arena.c - a chunked bump allocator with cleanups.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

struct arena_chunk {
	struct arena_chunk	*next;
	size_t			 size;	/* usable bytes in data[] */
	size_t			 used;
	max_align_t		 data[];
};

struct arena_cleanup {
	struct arena_cleanup	*next;
	void			(*fn)(void *);
	void			*arg;
};

void
arena_init(struct arena *a, size_t chunk_size)
{
	a->head = a->first = NULL;
	a->cleanups = NULL;
	a->chunk_size = chunk_size < 256 ? 256 : chunk_size;
}

static struct arena_chunk *
chunk_new(size_t size)
{
	struct arena_chunk *c;

	if (size > SIZE_MAX - sizeof(*c))
		return NULL;
	if ((c = malloc(sizeof(*c) + size)) == NULL)
		return NULL;
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

void *
arena_alloc(struct arena *a, size_t n)
{
	const size_t align = sizeof(max_align_t);
	struct arena_chunk *c = a->head;
	size_t need;

	if (n > SIZE_MAX - align)
		return NULL;
	need = (n + align - 1) & ~(align - 1);
	if (need == 0)
		need = align;
	if (c == NULL || c->size - c->used < need) {
		/* Big requests get a chunk of their own. */
		size_t size = need > a->chunk_size ? need : a->chunk_size;

		if ((c = chunk_new(size)) == NULL)
			return NULL;
		c->next = a->head;
		a->head = c;
		if (a->first == NULL)
			a->first = c;
	}
	c->used += need;
	return (char *)c->data + c->used - need;
}

void *
arena_calloc(struct arena *a, size_t n)
{
	void *p = arena_alloc(a, n);

	if (p != NULL)
		memset(p, 0, n);
	return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

int
arena_cleanup_add(struct arena *a, void (*fn)(void *), void *arg)
{
	struct arena_cleanup *c = arena_alloc(a, sizeof(*c));

	if (c == NULL)
		return -1;
	c->fn = fn;
	c->arg = arg;
	c->next = a->cleanups;
	a->cleanups = c;
	return 0;
}

static void
run_cleanups(struct arena *a)
{
	struct arena_cleanup *c = a->cleanups;

	a->cleanups = NULL;
	for (; c != NULL; c = c->next)
		c->fn(c->arg);
}

/*
 * Drop every allocation but keep the oldest chunk, so a connection serving
 * many small requests reuses one block of memory.
 */
void
arena_reset(struct arena *a)
{
	struct arena_chunk *c, *next;

	run_cleanups(a);
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		if (c != a->first)
			free(c);
	}
	a->head = a->first;
	if (a->first != NULL) {
		a->first->next = NULL;
		a->first->used = 0;
	}
}

void
arena_free(struct arena *a)
{
	struct arena_chunk *c, *next;

	run_cleanups(a);
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->head = a->first = NULL;
}
