/*
 * test_util.c - unit tests for src/common/util.c: util_signame() for the
 * common signals, the real-time ones and numbers that name no signal.
 */
#include "../unit.h"
#include "../../../src/common/util.c"

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
	return unit_done("test_util");
}
