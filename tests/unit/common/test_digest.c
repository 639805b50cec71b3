/*
 * test_digest.c - unit tests for src/common/digest.c, the EVP wrapper that
 * hashes component files: the FIPS 180-2 examples (one block, two blocks,
 * a million 'a'), the empty file, the padding edge cases, a file larger
 * than the read buffer, and a missing file.
 */
#include "../unit.h"
#include "../../../src/common/digest.c"

#include <stdbool.h>
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
	{ __LINE__, "a", 1000000,	/* B.3: many read()s of the 64 KiB buffer */
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

int
main(void)
{
	char hex[SHA256_HEXLEN], err[WEIR_ERRLEN];
	char path[] = "/tmp/weir-test-digest-XXXXXX";
	int fd = mkstemp(path);

	CHECK(fd != -1);
	for (size_t i = 0; fd != -1 && i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].msg);
		bool ok = ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0;

		for (size_t r = 0; ok && r < cases[i].repeat; r++)
			ok = write(fd, cases[i].msg, n) == (ssize_t)n;
		CHECKF(ok, "line %d: cannot write %s", cases[i].line, path);
		CHECK_INT(digest_sha256_file(path, hex, err), 0);
		CHECKF(strcmp(hex, cases[i].hex) == 0, "line %d: got %s", cases[i].line, hex);
	}
	if (fd != -1)
		close(fd);
	unlink(path);
	CHECK_INT(digest_sha256_file(path, hex, err), -1);
	CHECK(strstr(err, "No such file") != NULL);
	/* a directory opens but cannot be read: an error, not a digest */
	CHECK_INT(digest_sha256_file("/", hex, err), -1);
	CHECK(strstr(err, "Is a directory") != NULL);
	return unit_done("test_digest");
}
