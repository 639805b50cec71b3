/*
 * test_util.c - unit tests for src/common/util.c: util_signame() for the
 * common signals, the real-time ones and numbers that name no signal;
 * util_query_param() (POST /upgrade?binary=PATH).
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
