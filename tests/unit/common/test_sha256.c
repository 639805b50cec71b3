/*
 * test_sha256.c - unit tests for src/common/sha256.c: the FIPS 180-2
 * examples (one block, two blocks, a million 'a'), the empty message, every
 * split of a message across update() calls, and sha256_file().
 */
#include "../unit.h"
#include "../../../src/common/sha256.c"

#include <stdlib.h>

static const struct {
	int		 line;
	const char	*msg;
	size_t		 repeat;	/* msg repeated this many times */
	const char	*hex;
} cases[] = {
	{ __LINE__, "", 1,
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ __LINE__, "abc", 1,		/* FIPS 180-2 B.1 */
	  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ __LINE__, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,	/* B.2 */
	  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	{ __LINE__, "a", 1000000,	/* B.3 */
	  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0" },
	{ __LINE__, "The quick brown fox jumps over the lazy dog", 1,
	  "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592" },
	/* 55, 56 and 64 bytes: the padding edge cases */
	{ __LINE__, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1,
	  "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
	{ __LINE__, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1,
	  "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
	{ __LINE__, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1,
	  "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
};

static void
digest(const char *msg, size_t repeat, char hex[SHA256_HEXLEN])
{
	struct sha256 s;
	uint8_t d[SHA256_LEN];
	size_t n = strlen(msg);

	sha256_init(&s);
	for (size_t i = 0; i < repeat; i++)
		sha256_update(&s, msg, n);
	sha256_final(&s, d);
	sha256_hex(d, hex);
}

int
main(void)
{
	char hex[SHA256_HEXLEN], err[WEIR_ERRLEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		digest(cases[i].msg, cases[i].repeat, hex);
		CHECKF(strcmp(hex, cases[i].hex) == 0, "line %d: got %s", cases[i].line, hex);
	}
	/* Every split point of a 3-block message gives the same digest. */
	{
		char msg[200], want[SHA256_HEXLEN];

		for (size_t i = 0; i < sizeof(msg) - 1; i++)
			msg[i] = (char)('A' + i % 53);
		msg[sizeof(msg) - 1] = '\0';
		digest(msg, 1, want);
		for (size_t k = 0; k <= strlen(msg); k++) {
			struct sha256 s;
			uint8_t d[SHA256_LEN];

			sha256_init(&s);
			sha256_update(&s, msg, k);
			sha256_update(&s, msg + k, strlen(msg) - k);
			sha256_final(&s, d);
			sha256_hex(d, hex);
			CHECKF(strcmp(hex, want) == 0, "split at %zu", k);
		}
	}
	/* sha256_file(): a file with the B.1 message, and a missing file. */
	{
		char path[] = "/tmp/weir-test-sha256-XXXXXX";
		int fd = mkstemp(path);

		CHECK(fd != -1);
		CHECK(write(fd, "abc", 3) == 3);
		close(fd);
		CHECK_INT(sha256_file(path, hex, err), 0);
		CHECK_STR(hex, cases[1].hex);
		unlink(path);
		CHECK_INT(sha256_file(path, hex, err), -1);
		CHECK(strstr(err, "No such file") != NULL);
	}
	return unit_done("test_sha256");
}
