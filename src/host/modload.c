/*
 * modload.c - load the pool's modules, refusing a module built for another
 * ABI before any of its code runs.
 *
 * Order for each module, every step before the next:
 *  1. find the file: module_dir/NAME.so, or the path given;
 *  2. read its component record from the file (component_read(): the ELF
 *     section, no loading) and compare its ABI with WEIR_MODULE_ABI: a
 *     mismatch ends here, so neither the module's constructors nor its
 *     init() ever run;
 *  3. dlopen (RTLD_NOW: a missing symbol fails now, not mid-request), read
 *     the descriptor's abi field (data only) and check it agrees;
 *  4. attach its settings.
 * init() hooks run later (modload_init()), once every module passed.
 *
 * Every refusal is one line on stderr, and the host exits 78: the master
 * disables the pool at once with that line as the reason.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir_version.h"
#include "util.h"
#include "host.h"

_Static_assert(WEIR_MODULE_ABI == WEIR_ABI,
    "include/weir/module.h WEIR_MODULE_ABI must equal meson's weir_abi");

static bool
valid_name(const char *s)
{
	if (*s == '\0' || strlen(s) >= COMPONENT_FIELD_MAX)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '_' || *s == '-'))
			return false;
	return true;
}

/* "hello" -> module_dir/hello.so; "/x/y/crash.so" -> name "crash". */
static int
resolve(struct host *h, struct weir_ctx *m, const char *arg)
{
	const char *base = strrchr(arg, '/');
	size_t bl;

	if (base == NULL) {
		if (!valid_name(arg)) {
			dprintf(2, "weir-host: module '%s': a name is [a-z0-9_-]+ "
			    "(or give a path to the .so)\n", arg);
			return -1;
		}
		m->name = xstrdup(arg);
		m->file = xmalloc(strlen(h->module_dir) + strlen(arg) + 5);
		sprintf(m->file, "%s/%s.so", h->module_dir, arg);
		return 0;
	}
	base++;
	bl = strlen(base);
	if (bl > 3 && strcmp(base + bl - 3, ".so") == 0)
		bl -= 3;
	m->name = xstrndup(base, bl);
	m->file = xstrdup(arg);
	if (!valid_name(m->name)) {
		dprintf(2, "weir-host: module file '%s': a module's file is NAME.so "
		    "with NAME [a-z0-9_-]+\n", arg);
		return -1;
	}
	return 0;
}

/* Steps 2 and 3: refuse what this host cannot run, before running any of it. */
static int
load_one(struct weir_ctx *m, bool check_only)
{
	const char *base = strrchr(m->file, '/');
	char err[WEIR_ERRLEN];

	base = base != NULL ? base + 1 : m->file;
	if (component_read(m->file, &m->rec, err) == -1) {
		dprintf(2, "module %s: %s\n", m->name, err);
		return -1;
	}
	if (m->rec.abi != WEIR_MODULE_ABI) {
		dprintf(2, "module %s: built for ABI %d, weir-host has ABI %d "
		    "(%s version %s)\n", m->name, m->rec.abi, WEIR_MODULE_ABI,
		    base, m->rec.version);
		return -1;
	}
	if (strcmp(m->rec.name, m->name) != 0) {
		dprintf(2, "module %s: %s is module '%s', not '%s'\n", m->name,
		    base, m->rec.name, m->name);
		return -1;
	}
	if (check_only)
		return 0;
	if ((m->dl = dlopen(m->file, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		dprintf(2, "module %s: %s\n", m->name, dlerror());
		return -1;
	}
	if ((m->desc = dlsym(m->dl, "weir_module")) == NULL) {
		dprintf(2, "module %s: %s has no weir_module descriptor "
		    "(declare it with WEIR_MODULE())\n", m->name, base);
		return -1;
	}
	/* The record and the descriptor come from the same WEIR_MODULE(). */
	if (m->desc->abi != WEIR_MODULE_ABI) {
		dprintf(2, "module %s: built for ABI %d, weir-host has ABI %d "
		    "(%s version %s)\n", m->name, m->desc->abi, WEIR_MODULE_ABI,
		    base, m->rec.version);
		return -1;
	}
	if (m->desc->size < sizeof(struct weir_module) || m->desc->name == NULL ||
	    strcmp(m->desc->name, m->name) != 0 || m->desc->handle == NULL) {
		dprintf(2, "module %s: %s has a malformed descriptor (name '%s', "
		    "no handle?)\n", m->name, base,
		    m->desc->name != NULL ? m->desc->name : "");
		return -1;
	}
	m->serialize = (m->desc->flags & WEIR_MODULE_NOT_THREAD_SAFE) != 0;
	return 0;
}

/* Step 4: "hello.greeting=Hi" goes to hello as greeting. */
static int
attach_setting(struct host *h, const char *s)
{
	const char *dot = strchr(s, '.'), *eq = strchr(s, '=');

	if (dot == NULL || eq == NULL || dot > eq || dot == s || eq == dot + 1) {
		dprintf(2, "weir-host: --set '%s': expected MODULE.KEY=VALUE\n", s);
		return -1;
	}
	for (size_t i = 0; i < h->nmods; i++) {
		struct weir_ctx *m = &h->mods[i];
		struct host_setting *st;

		if (strlen(m->name) != (size_t)(dot - s) ||
		    strncmp(m->name, s, (size_t)(dot - s)) != 0)
			continue;
		m->settings = xreallocarray(m->settings, m->nsettings + 1,
		    sizeof(*m->settings));
		st = &m->settings[m->nsettings++];
		st->key = xstrndup(dot + 1, (size_t)(eq - dot - 1));
		st->value = xstrdup(eq + 1);
		return 0;
	}
	dprintf(2, "weir-host: --set '%.*s': no module '%.*s' is loaded\n",
	    (int)(eq - s), s, (int)(dot - s), s);
	return -1;
}

/*
 * Load every module named on the command line, in order, and attach the
 * settings.  Returns 0, or -1 after printing the one-line reason.
 * check_only stops after the record checks (weir-host --check).
 */
int
modload_all(struct host *h, char **names, size_t n, char **sets, size_t nsets,
    bool check_only)
{
	h->mods = xcalloc(n, sizeof(*h->mods));
	for (size_t i = 0; i < n; i++) {
		struct weir_ctx *m = &h->mods[i];

		m->h = h;
		pthread_mutex_init(&m->lock, NULL);
		h->nmods = i + 1;
		if (resolve(h, m, names[i]) == -1)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(h->mods[j].name, m->name) == 0) {
				dprintf(2, "weir-host: module %s given twice\n", m->name);
				return -1;
			}
		if (load_one(m, check_only) == -1)
			return -1;
	}
	for (size_t i = 0; i < nsets; i++)
		if (attach_setting(h, sets[i]) == -1)
			return -1;
	return 0;
}

/* Run each module's init() in order; -1 when one fails (it logged why). */
int
modload_init(struct host *h)
{
	for (size_t i = 0; i < h->nmods; i++) {
		struct weir_ctx *m = &h->mods[i];

		m->in_init = true;
		if (m->desc->init != NULL && m->desc->init(m) != 0) {
			/* The last line is the pool's reason: make it say why. */
			dprintf(2, "module %s: init failed%s%s\n", m->name,
			    m->init_err[0] != '\0' ? ": " : "", m->init_err);
			return -1;
		}
		m->in_init = false;
		m->inited = true;
	}
	return 0;
}

/*
 * fini() in reverse order for the modules whose init() succeeded, then free
 * what the host kept.  The shared objects stay mapped: a module may have
 * left a thread or an atexit handler behind, and the process ends anyway.
 */
void
modload_fini(struct host *h)
{
	for (size_t i = h->nmods; i-- > 0;) {
		struct weir_ctx *m = &h->mods[i];

		if (m->inited && m->desc->fini != NULL)
			m->desc->fini(m);
		m->inited = false;
		for (size_t j = 0; j < m->nsettings; j++) {
			free(m->settings[j].key);
			free(m->settings[j].value);
		}
		free(m->settings);
		free(m->name);
		free(m->file);
		pthread_mutex_destroy(&m->lock);
	}
	free(h->mods);
	h->mods = NULL;
	h->nmods = 0;
}
