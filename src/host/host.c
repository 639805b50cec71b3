/*
 * host.c - weir-host's main: the command line, the inherited listening
 * socket, signals, and the pool of handler threads.
 *
 * The master starts it for each worker of a `kind = native` pool as
 *
 *	weir-host --pool NAME --module-dir DIR --threads N
 *	          --module M1 [--module M2 ...] [--set M.KEY=VALUE ...]
 *
 * (component_host_argv() builds exactly this; docs/modules.md documents
 * it) with its listening socket on fd 3.  Exit status: 0 after SIGTERM once
 * in-flight requests are done; 78 (EX_CONFIG) with a one-line reason on
 * stderr for anything retrying cannot fix (bad arguments, no socket, a
 * module missing, built for another ABI, or whose init() failed); 1 for an
 * unexpected failure.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "weir_version.h"
#include "weir_build_id.h"
#include "log.h"
#include "util.h"
#include "host.h"

#define HOST_THREADS_MAX	1024

/* weir-host's own component record (see component.h). */
__attribute__((section(".weir_component"), used, aligned(1)))
static const char host_record[] = "WEIRCOMP1 name=weir-host version=" WEIR_VERSION
    " abi=" WEIR_MODULE_STR(WEIR_ABI) " build=" WEIR_BUILD_ID;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: weir-host --module NAME [--module NAME ...] [--set NAME.KEY=VALUE ...]\n"
	    "                 [--pool NAME] [--module-dir DIR] [--threads N] [--check]\n"
	    "\n"
	    "The worker of weir's kind = native pools: started by weir with its listening\n"
	    "socket on fd 3 (LISTEN_FDS=1).  --check only verifies the modules' records\n"
	    "and ABI (no socket needed).  Exit 78 means: fix the configuration or the\n"
	    "installation, retrying will not help.  See docs/modules.md.\n");
}

/* A one-line reason and exit 78: the master disables the pool with it. */
static void __attribute__((noreturn, format(printf, 1, 2)))
config_fail(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
	exit(HOST_EX_CONFIG);
}

/*
 * Take the socket the master passed (systemd's sd_listen_fds() rules):
 * LISTEN_FDS >= 1, LISTEN_PID (when set) is us, and fd 3 is a listening
 * stream socket.  The variables are removed so children (CGI scripts) do
 * not think they were socket-activated.
 */
static int
take_listen_fd(void)
{
	const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID");
	int on = 0;
	socklen_t ol = sizeof(on);
	struct stat st;

	if (fds == NULL || atoi(fds) < 1)
		config_fail("weir-host: no listening socket (LISTEN_FDS is not set): "
		    "weir-host is started by weir for kind = native pools");
	if (pid != NULL && atol(pid) != (long)getpid())
		config_fail("weir-host: LISTEN_PID is %s, not this process (%ld)",
		    pid, (long)getpid());
	if (fstat(3, &st) == -1 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &on, &ol) == -1 || !on)
		config_fail("weir-host: fd 3 is not a listening socket");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	if (fd_nonblock(3) == -1 || fd_cloexec(3) == -1)
		config_fail("weir-host: fd 3: %s", strerror(errno));
	return 3;
}

bool
host_stopping(struct host *h)
{
	return atomic_load(&h->stopping);
}

/* Main thread: give a connection with a complete request head to a thread. */
void
host_queue(struct host *h, struct hconn *c)
{
	c->qnext = NULL;
	c->queued = true;
	h->busy++;
	pthread_mutex_lock(&h->qlock);
	if (h->qtail != NULL)
		h->qtail->qnext = c;
	else
		h->qhead = c;
	h->qtail = c;
	pthread_cond_signal(&h->qcond);
	pthread_mutex_unlock(&h->qlock);
}

/* A handler thread: take a connection, serve its request, hand it back. */
static void *
handler_thread(void *arg)
{
	struct host *h = arg;
	const uint64_t one = 1;

	for (;;) {
		struct hconn *c;

		pthread_mutex_lock(&h->qlock);
		while (h->qhead == NULL && !h->quit)
			pthread_cond_wait(&h->qcond, &h->qlock);
		if ((c = h->qhead) == NULL) {
			pthread_mutex_unlock(&h->qlock);
			return NULL;
		}
		if ((h->qhead = c->qnext) == NULL)
			h->qtail = NULL;
		pthread_mutex_unlock(&h->qlock);

		hostconn_serve(c);

		pthread_mutex_lock(&h->qlock);
		c->qnext = h->done;
		h->done = c;
		pthread_mutex_unlock(&h->qlock);
		/* Cannot fail short of a counter overflow; the loop reads it soon. */
		(void)!write(h->evfd, &one, sizeof(one));
	}
}

/* Main thread: connections handed back by handler threads. */
static void
on_done(void *arg, uint32_t events)
{
	struct host *h = arg;
	struct hconn *list, *next;
	uint64_t v;

	(void)events;
	(void)!read(h->evfd, &v, sizeof(v));
	pthread_mutex_lock(&h->qlock);
	list = h->done;
	h->done = NULL;
	pthread_mutex_unlock(&h->qlock);
	for (; list != NULL; list = next) {
		next = list->qnext;
		list->queued = false;
		h->busy--;
		hostconn_returned(h, list);
	}
	if (host_stopping(h) && h->busy == 0)
		loop_stop(h->loop);
}

/*
 * SIGTERM/SIGINT: stop accepting, close idle connections, let the requests
 * in flight finish (their responses say Connection: close), then exit 0.
 * The master's shutdown_time_limit bounds how long that may take.
 */
static void
on_signal(void *arg, int signo)
{
	struct host *h = arg;

	if (host_stopping(h))
		return;
	log_info("pool %s: signal %d: finishing %u request%s in flight", h->pool,
	    signo, h->busy, h->busy == 1 ? "" : "s");
	atomic_store(&h->stopping, true);
	loop_io_del(h->loop, &h->lio);
	close(h->lfd);
	h->lfd = -1;
	hostconn_close_idle(h);
	if (h->busy == 0)
		loop_stop(h->loop);
}

static void
start_threads(struct host *h)
{
	h->threads = xcalloc(h->nthreads, sizeof(*h->threads));
	for (unsigned i = 0; i < h->nthreads; i++) {
		int e = pthread_create(&h->threads[i], NULL, handler_thread, h);

		if (e != 0) {
			errno = e;
			fatal("pthread_create");
		}
		h->nstarted++;
	}
}

static void
stop_threads(struct host *h)
{
	pthread_mutex_lock(&h->qlock);
	h->quit = true;
	pthread_cond_broadcast(&h->qcond);
	pthread_mutex_unlock(&h->qlock);
	for (unsigned i = 0; i < h->nstarted; i++)
		pthread_join(h->threads[i], NULL);
	free(h->threads);
}

/* Options; returns after filling h and the module and setting lists. */
static void
parse_args(struct host *h, int argc, char **argv, char ***mods, size_t *nmods,
    char ***sets, size_t *nsets, bool *check)
{
	static const struct option longopts[] = {
		{ "pool", required_argument, NULL, 'p' },
		{ "module-dir", required_argument, NULL, 'd' },
		{ "threads", required_argument, NULL, 't' },
		{ "module", required_argument, NULL, 'm' },
		{ "set", required_argument, NULL, 's' },
		{ "check", no_argument, NULL, 'c' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long v;
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			h->pool = optarg;
			break;
		case 'd':
			h->module_dir = optarg;
			break;
		case 't':
			v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 || v > HOST_THREADS_MAX)
				config_fail("weir-host: --threads %s: expected 1..%d",
				    optarg, HOST_THREADS_MAX);
			h->nthreads = (unsigned)v;
			break;
		case 'm':
			*mods = xreallocarray(*mods, *nmods + 1, sizeof(char *));
			(*mods)[(*nmods)++] = optarg;
			break;
		case 's':
			*sets = xreallocarray(*sets, *nsets + 1, sizeof(char *));
			(*sets)[(*nsets)++] = optarg;
			break;
		case 'c':
			*check = true;
			break;
		case 'V':
			printf("weir-host %s (abi %d, build %s)\n", WEIR_VERSION,
			    WEIR_ABI, WEIR_BUILD_ID);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			config_fail("weir-host: bad command line (see above)");
		}
	}
	if (optind < argc)
		config_fail("weir-host: unexpected argument '%s'", argv[optind]);
	if (*nmods == 0)
		config_fail("weir-host: no --module given");
}

/* Default module directory: modules/ in the component directory (beside
 * this executable, in the build tree and installed alike). */
static char *
default_module_dir(void)
{
	struct component_paths p;
	char err[WEIR_ERRLEN];

	if (component_locate(&p, err) == -1)
		config_fail("weir-host: %s", err);
	return xstrdup(p.modules);
}

int
main(int argc, char **argv)
{
	static const int sigs[] = { SIGTERM, SIGINT };
	struct host h;
	char **mods = NULL, **sets = NULL, *dir = NULL, err[WEIR_ERRLEN];
	size_t nmods = 0, nsets = 0;
	bool check = false;

	(void)host_record;
	memset(&h, 0, sizeof(h));
	h.lfd = -1;
	h.evfd = -1;
	h.nthreads = 4;
	h.pool = getenv("WEIR_POOL") != NULL ? getenv("WEIR_POOL") : "native";
	log_init("weir-host", getenv("WEIR_DEBUG") != NULL ? LOG_L_DEBUG : LOG_L_INFO);
	parse_args(&h, argc, argv, &mods, &nmods, &sets, &nsets, &check);
	if (h.module_dir == NULL)
		h.module_dir = dir = default_module_dir();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);

	/* 1. the modules' records and ABI, before anything of theirs runs */
	if (check) {
		if (modload_all(&h, mods, nmods, sets, nsets, true) == -1)
			exit(HOST_EX_CONFIG);
		for (size_t i = 0; i < h.nmods; i++)
			printf("module %s: %s version %s abi %d build %s: ok\n",
			    h.mods[i].name, h.mods[i].file, h.mods[i].rec.version,
			    h.mods[i].rec.abi, h.mods[i].rec.build);
		modload_fini(&h);
		free(mods);
		free(sets);
		free(dir);
		return 0;
	}
	h.lfd = take_listen_fd();
	if (modload_all(&h, mods, nmods, sets, nsets, false) == -1)
		exit(HOST_EX_CONFIG);

	/* 2. signals are blocked before any thread exists, so all inherit it */
	if ((h.loop = loop_new(err)) == NULL ||
	    loop_signals(h.loop, sigs, (int)nitems(sigs), on_signal, &h, err) == -1)
		fatalx("%s", err);
	pthread_mutex_init(&h.qlock, NULL);
	pthread_cond_init(&h.qcond, NULL);

	/* 3. the modules' init(), on this thread */
	if (modload_init(&h) == -1) {
		modload_fini(&h);
		exit(HOST_EX_CONFIG);
	}

	/* 4. threads, then traffic */
	if ((h.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    loop_io_add(h.loop, &h.evio, h.evfd, LOOP_READ, on_done, &h) == -1 ||
	    loop_io_add(h.loop, &h.lio, h.lfd, LOOP_READ, hostconn_accept, &h) == -1)
		fatal("eventfd/epoll");
	start_threads(&h);
	log_info("pool %s: serving with %zu module%s on %u thread%s", h.pool,
	    h.nmods, h.nmods == 1 ? "" : "s", h.nthreads, h.nthreads == 1 ? "" : "s");
	if (loop_run(h.loop) == -1)
		fatal("epoll_wait");

	/* 5. SIGTERM and every request done: threads, modules, exit 0 */
	stop_threads(&h);
	hostconn_close_idle(&h);
	loop_run_deferred(h.loop);
	modload_fini(&h);
	loop_free(h.loop);
	close(h.evfd);
	pthread_mutex_destroy(&h.qlock);
	pthread_cond_destroy(&h.qcond);
	free(mods);
	free(sets);
	free(dir);
	log_info("pool %s: stopped", h.pool);
	return 0;
}
