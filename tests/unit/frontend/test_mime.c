/*
 * test_mime.c - mime_type(): extension extraction, case, the table's order
 * and the charset rule.
 */
#include "../unit.h"
#include "../../../src/frontend/mime.c"

#define OCTET	"application/octet-stream"
#define UTF8	"; charset=utf-8"

static const struct {
	const char	*name;
	const char	*want;
} cases[] = {
	/* text types get a charset */
	{ "index.html",		"text/html" UTF8 },
	{ "a.htm",		"text/html" UTF8 },
	{ "style.css",		"text/css" UTF8 },
	{ "app.js",		"application/javascript" UTF8 },
	{ "mod.mjs",		"application/javascript" UTF8 },
	{ "data.json",		"application/json" UTF8 },
	{ "app.js.map",		"application/json" UTF8 },
	{ "feed.xml",		"application/xml" UTF8 },
	{ "notes.txt",		"text/plain" UTF8 },
	{ "t.csv",		"text/csv" UTF8 },
	{ "README.md",		"text/markdown" UTF8 },
	{ "logo.svg",		"image/svg+xml" UTF8 },
	{ "site.webmanifest",	"application/manifest+json" UTF8 },
	{ "cal.ics",		"text/calendar" UTF8 },
	{ "card.vcf",		"text/vcard" UTF8 },
	/* binary types do not */
	{ "a.png",		"image/png" },
	{ "a.jpg",		"image/jpeg" },
	{ "a.jpeg",		"image/jpeg" },
	{ "a.gif",		"image/gif" },
	{ "a.webp",		"image/webp" },
	{ "a.avif",		"image/avif" },
	{ "favicon.ico",	"image/x-icon" },
	{ "a.bmp",		"image/bmp" },
	{ "a.tif",		"image/tiff" },
	{ "a.tiff",		"image/tiff" },
	{ "f.woff",		"font/woff" },
	{ "f.woff2",		"font/woff2" },
	{ "f.ttf",		"font/ttf" },
	{ "f.otf",		"font/otf" },
	{ "f.eot",		"application/vnd.ms-fontobject" },
	{ "doc.pdf",		"application/pdf" },
	{ "a.zip",		"application/zip" },
	{ "a.tar.gz",		"application/gzip" },
	{ "a.tgz",		"application/gzip" },
	{ "a.bz2",		"application/x-bzip2" },
	{ "a.xz",		"application/x-xz" },
	{ "a.zst",		"application/zstd" },
	{ "a.7z",		"application/x-7z-compressed" },
	{ "a.tar",		"application/x-tar" },
	{ "m.wasm",		"application/wasm" },
	{ "s.mp3",		"audio/mpeg" },
	{ "v.mp4",		"video/mp4" },
	{ "s.m4a",		"audio/x-m4a" },
	{ "s.ogg",		"audio/ogg" },
	{ "s.oga",		"audio/ogg" },
	{ "v.ogv",		"video/ogg" },
	{ "v.webm",		"video/webm" },
	{ "s.wav",		"audio/wav" },
	{ "s.flac",		"audio/flac" },
	{ "v.mov",		"video/quicktime" },
	{ "v.avi",		"video/x-msvideo" },
	{ "v.mkv",		"video/x-matroska" },
	{ "a.apk",		"application/vnd.android.package-archive" },
	{ "a.jar",		"application/java-archive" },
	{ "setup.exe",		OCTET },
	{ "a.iso",		OCTET },
	{ "a.dmg",		OCTET },
	{ "feed.rss",		"application/rss+xml" },
	{ "feed.atom",		"application/atom+xml" },
	{ "b.epub",		"application/epub+zip" },
	{ "a.doc",		"application/msword" },
	{ "a.docx",		"application/vnd.openxmlformats-officedocument."
				    "wordprocessingml.document" },
	{ "a.xls",		"application/vnd.ms-excel" },
	{ "a.xlsx",		"application/vnd.openxmlformats-officedocument."
				    "spreadsheetml.sheet" },
	{ "a.ppt",		"application/vnd.ms-powerpoint" },
	{ "a.pptx",		"application/vnd.openxmlformats-officedocument."
				    "presentationml.presentation" },
	{ "a.odt",		"application/vnd.oasis.opendocument.text" },
	{ "a.ods",		"application/vnd.oasis.opendocument."
				    "spreadsheet" },
	{ "a.rtf",		"application/rtf" },
	{ "a.swf",		"application/x-shockwave-flash" },
	{ "a.wml",		"text/vnd.wap.wml" UTF8 },
	{ "a.kml",		"application/vnd.google-earth.kml+xml" },
	{ "a.kmz",		"application/vnd.google-earth.kmz" },
	/* case-insensitive */
	{ "INDEX.HTML",		"text/html" UTF8 },
	{ "Photo.JpG",		"image/jpeg" },
	{ "a.WOFF2",		"font/woff2" },
	{ "a.7Z",		"application/x-7z-compressed" },
	/* the last '.' of the last segment */
	{ "/a/b/index.html",	"text/html" UTF8 },
	{ "/css.d/style",	OCTET },
	{ "/x.png/y",		OCTET },
	{ "/x.png/y.css",	"text/css" UTF8 },
	{ "dir.tar/file.gz",	"application/gzip" },
	{ "a.css.png",		"image/png" },
	{ "a.png.",		OCTET },
	{ "/a/b.",		OCTET },
	/* hidden files: a leading '.' is not an extension */
	{ ".htaccess",		OCTET },
	{ "/a/.html",		OCTET },
	{ "/a/..html",		"text/html" UTF8 },
	{ ".a.js",		"application/javascript" UTF8 },
	/* no or unknown extension */
	{ "",			OCTET },
	{ "/",			OCTET },
	{ ".",			OCTET },
	{ "..",			OCTET },
	{ "Makefile",		OCTET },
	{ "a.unknown",		OCTET },
	{ "a.htmlx",		OCTET },
	{ "a.ht",		OCTET },
	{ "a.h",		OCTET },
	{ "a.0",		OCTET },
	{ "a.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",	OCTET },
	{ "a.webmanifestwebmanifest",	OCTET },
	{ "a.\xc3\xa9",		OCTET },
	{ "a.ht ml",		OCTET },
	{ "a.html ",		OCTET },
	{ "a.\xff",		OCTET },
};

static void
test_table(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECKF(strcmp(mime_type(cases[i].name, strlen(cases[i].name)),
		    cases[i].want) == 0, "\"%s\": \"%s\", want \"%s\"",
		    cases[i].name, mime_type(cases[i].name,
		    strlen(cases[i].name)), cases[i].want);
}

/* n, not the NUL, ends the name. */
static void
test_lengths(void)
{
	CHECK_STR(mime_type("a.html.png", 6), "text/html" UTF8);
	CHECK_STR(mime_type("a.htmlx", 6), "text/html" UTF8);
	CHECK_STR(mime_type("a.ht\0ml", 7), OCTET);
	CHECK_STR(mime_type("a.png", 0), OCTET);
}

static bool
is_text(const char *t)
{
	static const char *const text[] = {
		"application/javascript", "application/json",
		"application/xml", "image/svg+xml",
		"application/manifest+json",
	};
	size_t	 i, n = strcspn(t, ";");

	if (strncmp(t, "text/", 5) == 0)
		return true;
	for (i = 0; i < sizeof(text) / sizeof(text[0]); i++)
		if (strlen(text[i]) == n && strncmp(t, text[i], n) == 0)
			return true;
	return false;
}

/* The table is sorted, lower case, and follows the charset rule. */
static void
test_mimes(void)
{
	size_t		 i, j, n, nt = sizeof(mimes) / sizeof(mimes[0]);
	const char	*e, *t, *cs;
	char		 name[64];
	bool		 lower, charset;

	CHECK(nt >= 100);
	for (i = 0; i < nt; i++) {
		e = mimes[i].ext;
		t = mimes[i].type;
		if (i > 0)
			CHECKF(strcmp(mimes[i - 1].ext, e) < 0, "\"%s\" before "
			    "\"%s\"", mimes[i - 1].ext, e);
		lower = strlen(e) > 0 && strlen(e) <= EXT_MAX;
		for (j = 0; e[j] != '\0'; j++)
			if (!((e[j] >= 'a' && e[j] <= 'z') ||
			    (e[j] >= '0' && e[j] <= '9')))
				lower = false;
		CHECKF(lower, "\"%s\"", e);
		cs = strchr(t, ';');
		charset = cs != NULL && strcmp(cs, UTF8) == 0;
		CHECKF(charset == is_text(t) && (cs == NULL || charset),
		    "%s: \"%s\"", e, t);
		/* every entry is found, in either case */
		n = (size_t)snprintf(name, sizeof(name), "/d.x/f.%s", e);
		CHECK_STR(mime_type(name, n), t);
		for (j = 0; j < n; j++)
			if (name[j] >= 'a' && name[j] <= 'z')
				name[j] = (char)(name[j] - 'a' + 'A');
		CHECK_STR(mime_type(name, n), t);
	}
}

int
main(void)
{
	test_table();
	test_lengths();
	test_mimes();
	return unit_done("mime");
}
