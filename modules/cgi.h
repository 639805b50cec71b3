/*
 * cgi.h - the cgi module's shared parts: its settings, and mapping a request
 * to a script with its RFC 3875 environment (cgi_map.c).  cgi.c runs it.
 */
#ifndef WEIR_MODULE_CGI_H
#define WEIR_MODULE_CGI_H

#include <stddef.h>

#include "weir/module.h"

/* The module's settings, worked out by init() and read-only afterwards. */
struct cgi {
	char		*root;		/* realpath of cgi.root */
	size_t		 rootlen;
	char		*prefix;	/* without a trailing '/'; "" for "/" */
	size_t		 prefixlen;
	long long	 timeout_ms;
	long long	 max_body;
};

/* The script a request maps to; strings in the request's memory. */
struct script {
	char		*file;		/* ROOT/a/b.sh */
	char		*dir;		/* ROOT/a */
	char		*script_name;	/* PREFIX/a/b.sh (decoded) */
	char		*path_info;	/* /x/y (decoded), or NULL */
};

/*
 * Find the script for rest (the request path after the prefix).  Returns 0
 * with *s filled, WEIR_MOD_DECLINED when there is no script there, or an
 * HTTP status to answer (400, 403, 500).
 */
int	 cgi_map_script(weir_req *req, const struct cgi *c, const char *rest,
	    struct script *s);

/*
 * The script's environment (RFC 3875 §4.1), NULL-terminated, in the
 * request's memory; content_length -1 when there is no body.  NULL when out
 * of memory.
 */
char	**cgi_make_env(weir_req *req, const struct cgi *c, const struct script *s,
	    long long content_length);

#endif
