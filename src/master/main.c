/*
 * main.c - the `weir` command: dispatch to run, check and the operator
 * commands.  Every command takes -c FILE (default /etc/weir/weir.conf, or
 * $WEIR_CONF) and --help, and options may come before or after arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rc.h"
#include "weir_version.h"
#include "weir_build_id.h"
#include "log.h"
#include "util.h"
#include "component.h"
#include "tlspem.h"
#include "master.h"

#define DEFAULT_CONF	"/etc/weir/weir.conf"

static const char *
default_conf(void)
{
	const char *e = getenv("WEIR_CONF");

	return e != NULL && *e != '\0' ? e : DEFAULT_CONF;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: weir COMMAND [options]\n"
	    "\n"
	    "commands:\n"
	    "  run     [-c FILE]                      start the server in the foreground\n"
	    "  check   [-c FILE]                      validate the configuration and exit\n"
	    "  status  [--json]                       pools, workers, failures\n"
	    "  pool    start|stop|recycle|enable|show NAME\n"
	    "  acme    renew SITE                     order a site's ACME certificate now\n"
	    "  events  [--pool P] [--id N] [--level L] [--since DUR] [--follow] [--json]\n"
	    "  reload                                 re-read the configuration\n"
	    "  stop                                   stop gracefully\n"
	    "  drain   [--no-wait]                    health_path 503, serve drain_time, stop\n"
	    "  dashboard                              how to open the web dashboard\n"
	    "  upgrade [--binary PATH]                replace the running weir with a new binary\n"
	    "  verify  [--json] [--manifest FILE]     check components against the MANIFEST\n"
	    "  version                                print the version\n"
	    "\n"
	    "Every command takes -c FILE (default $WEIR_CONF or /etc/weir/weir.conf);\n"
	    "the operator commands also take -s SOCKET (the admin socket).\n"
	    "\n"
	    "Run 'weir COMMAND --help' for a command's options.\n");
}

/*
 * Parse the options every command shares.  Returns the config path, or NULL
 * after printing help (exit 0) or an error (exit 2) as *rc says.
 */
static const char *
common_opts(const char *cmd, const char *synopsis, int argc, char **argv, int *rc)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = default_conf();
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			printf("usage: weir %s %s\n", cmd, synopsis);
			*rc = 0;
			return NULL;
		default:
			fprintf(stderr, "usage: weir %s %s\n", cmd, synopsis);
			*rc = 2;
			return NULL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "weir %s: unexpected argument '%s'\n", cmd, argv[optind]);
		*rc = 2;
		return NULL;
	}
	return path;
}

int
cmd_check(int argc, char **argv)
{
	struct conf_errors errs = { NULL, 0 };
	struct tls_checked chk = { { NULL, 0 }, NULL, 0 };
	struct fe_ident id;
	struct conf *c;
	const char *path;
	char err[WEIR_ERRLEN];
	int rc = 0;

	if ((path = common_opts("check", "[-c FILE]\n\n"
	    "Validate the configuration: every error is printed as file:line: message.\n"
	    "Paths the front end opens are checked as its user (run it as root to check\n"
	    "them as [server] user).  private_tmp and protect_system need it run as\n"
	    "root, as weir will be.  Exit status 0 when valid, 1 otherwise.",
	    argc, argv, &rc)) == NULL)
		return rc;
	memset(&id, 0, sizeof(id));
	c = conf_load(path, CONF_CHECK_FS, &errs);
	if (c != NULL) {
		if (ident_conf(c, err) == -1 || fe_ident_resolve(c, &id, err) == -1)
			conf_errors_add(&errs, "%s: %s", path, err);
		else
			fecheck_conf(c, &id, &errs);
		fe_ident_free(&id);
		component_check_conf(c, &errs);
		fsiso_check_conf(c, &errs);
		poolcg_check_conf(c, &errs);
		{
			char *blob;
			size_t len;

			if (tlsload_conf(c, &blob, &len, &errs, &chk) == 0)
				tlspem_free_blob(blob, len);
		}
	}
	/* warnings (a certificate close to expiry) do not fail the check */
	for (size_t i = 0; i < chk.warns.n; i++)
		fprintf(stderr, "%s\n", chk.warns.msg[i]);
	tlscheck_checked_free(&chk);
	if (errs.n > 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		fprintf(stderr, "weir check: %s: %zu error%s\n", path, errs.n,
		    errs.n == 1 ? "" : "s");
		conf_errors_clear(&errs);
		conf_free(c);
		return 1;
	}
	printf("weir check: %s: ok (%zu site%s, %zu pool%s)\n", path,
	    c->nsites, c->nsites == 1 ? "" : "s", c->npools,
	    c->npools == 1 ? "" : "s");
	conf_free(c);
	return 0;
}

int
cmd_run(int argc, char **argv)
{
	const char *path;
	int rc = 0, upgrade_fd = -1, n = 0;
	char **args = xcalloc((size_t)argc + 1, sizeof(char *));

	/*
	 * --upgrade-from FD is how an upgrading master starts its successor
	 * (upgrade.c); it is not for operators, so usage does not show it.
	 */
	for (int i = 0; i < argc; i++) {
		char *end;

		if (strcmp(argv[i], "--upgrade-from") == 0 && i + 1 < argc) {
			long fd = strtol(argv[++i], &end, 10);

			if (*end != '\0' || fd < 3 || fd > 65535) {
				fprintf(stderr, "weir run: --upgrade-from: not a descriptor\n");
				free(args);
				return 2;
			}
			upgrade_fd = (int)fd;
			continue;
		}
		args[n++] = argv[i];
	}
	if ((path = common_opts("run", "[-c FILE]\n\n"
	    "Start the master, the front end and the pools in the foreground.\n"
	    "SIGTERM or SIGINT stops gracefully; SIGHUP reloads; SIGUSR1 reopens logs;\n"
	    "SIGUSR2 upgrades to the binary on disk (see weir upgrade).",
	    n, args, &rc)) == NULL) {
		free(args);
		return rc;
	}
	if (upgrade_fd != -1 && fd_cloexec(upgrade_fd) == -1) {
		fprintf(stderr, "weir run: --upgrade-from %d: %s\n", upgrade_fd, strerror(errno));
		free(args);
		return 2;
	}
	rc = master_run(path, upgrade_fd);
	free(args);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *cmd;

	log_init("weir", getenv("WEIR_DEBUG") != NULL ? LOG_L_DEBUG : LOG_L_INFO);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(argc - 1, argv + 1);
	if (strcmp(cmd, "pool") == 0)
		return cmd_pool(argc - 1, argv + 1);
	if (strcmp(cmd, "acme") == 0)
		return cmd_acme(argc - 1, argv + 1);
	if (strcmp(cmd, "events") == 0)
		return cmd_events(argc - 1, argv + 1);
	if (strcmp(cmd, "reload") == 0)
		return cmd_reload(argc - 1, argv + 1);
	if (strcmp(cmd, "stop") == 0)
		return cmd_stop(argc - 1, argv + 1);
	if (strcmp(cmd, "drain") == 0)
		return cmd_drain(argc - 1, argv + 1);
	if (strcmp(cmd, "dashboard") == 0)
		return cmd_dashboard(argc - 1, argv + 1);
	if (strcmp(cmd, "upgrade") == 0)
		return cmd_upgrade(argc - 1, argv + 1);
	if (strcmp(cmd, "verify") == 0)
		return cmd_verify(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("weir %s (abi %d, build %s)\n", WEIR_VERSION, WEIR_ABI,
		    WEIR_BUILD_ID);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "weir: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
