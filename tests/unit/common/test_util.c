/*
 * test_util.c - unit tests for src/common/util.c: util_signame() for the
 * common signals, the real-time ones and numbers that name no signal;
 * util_query_param() (POST /upgrade?binary=PATH);
 * fd_close_all_but() in a child (it closes the process's descriptors).
 */
#include "../unit.h"
#include "../../../src/common/util.c"

/* In a child: open 6 descriptors, keep 2 of them (and stdio, and a -1). */
static void
close_all_but(void)
{
	pid_t pid = fork();
	int st = -1;

	if (pid == 0) {
		int fd[6], keep[5];

		for (int i = 0; i < 6; i++)
			if ((fd[i] = open("/dev/null", O_RDONLY)) == -1)
				_exit(2);
		keep[0] = 2;
		keep[1] = fd[4];
		keep[2] = -1;
		keep[3] = fd[1];
		keep[4] = fd[1];	/* listed twice */
		if (fd_close_all_but(keep, 5) == -1)
			_exit(3);
		for (int i = 0; i < 6; i++)
			if ((fcntl(fd[i], F_GETFD) != -1) != (i == 1 || i == 4))
				_exit(10 + i);
		_exit(fcntl(2, F_GETFD) != -1 && fcntl(0, F_GETFD) == -1 ? 0 : 4);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
}

int
main(void)
{
	static const struct {
		int		 line;
		int		 sig;
		const char	*name;
	} cases[] = {
		{ __LINE__, SIGHUP, "SIGHUP" },
		{ __LINE__, SIGINT, "SIGINT" },
		{ __LINE__, SIGKILL, "SIGKILL" },
		{ __LINE__, SIGSEGV, "SIGSEGV" },
		{ __LINE__, SIGTERM, "SIGTERM" },
		{ __LINE__, SIGABRT, "SIGABRT" },
		{ __LINE__, SIGBUS, "SIGBUS" },
		{ __LINE__, SIGXCPU, "SIGXCPU" },
		{ __LINE__, 0, "SIG?" },
		{ __LINE__, -1, "SIG?" },
		{ __LINE__, 1000, "SIG?" },
	};
	char want[32];

	for (size_t i = 0; i < nitems(cases); i++)
		CHECKF(strcmp(util_signame(cases[i].sig), cases[i].name) == 0,
		    "line %d: signal %d: got %s", cases[i].line, cases[i].sig,
		    util_signame(cases[i].sig));
	CHECK(strcmp(util_signame(SIGRTMIN), "SIGRTMIN") == 0);
	snprintf(want, sizeof(want), "SIGRTMIN+%d", 3);
	CHECK(strcmp(util_signame(SIGRTMIN + 3), want) == 0);
	CHECK(strcmp(util_signame(SIGRTMAX), "SIG?") != 0);
	close_all_but();
	{
		static const struct {
			int		 line;
			const char	*q;
			const char	*name;
			const char	*want;	/* NULL: -1 */
		} qs[] = {
			{ __LINE__, "binary=%2Fopt%2Fweir", "binary", "/opt/weir" },
			{ __LINE__, "a=1&binary=/x/y&b=2", "binary", "/x/y" },
			{ __LINE__, "binary=a+b%20c", "binary", "a b c" },
			{ __LINE__, "binary=", "binary", "" },
			{ __LINE__, "binaryx=1", "binary", NULL },
			{ __LINE__, "xbinary=1", "binary", NULL },
			{ __LINE__, "binary", "binary", NULL },
			{ __LINE__, "binary=%2", "binary", NULL },
			{ __LINE__, "binary=%zz", "binary", NULL },
			{ __LINE__, "binary=a%00b", "binary", NULL },
			{ __LINE__, "", "binary", NULL },
			{ __LINE__, "binary=0123456789abcdef", "binary", NULL },	/* too long for out */
		};
		char out[16];

		for (size_t i = 0; i < nitems(qs); i++) {
			int r = util_query_param(qs[i].q, strlen(qs[i].q), qs[i].name, out,
			    sizeof(out));

			CHECKF(qs[i].want == NULL ? r == -1 : r == 0 && strcmp(out, qs[i].want) == 0,
			    "line %d: %s: got %d '%s'", qs[i].line, qs[i].q, r, r == 0 ? out : "");
		}
	}
	return unit_done("test_util");
}
