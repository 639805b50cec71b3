/*
 * mime.c - Content-Type of a static file, by its extension.
 *
 * A built-in table modelled on the usual web server defaults (nginx's
 * mime.types plus newer formats), sorted for binary search.  Textual types
 * carry "; charset=utf-8" so browsers do not guess.  Sites that need more
 * will get a config key; this is the fallback.
 */
#include "frontend.h"

#include <string.h>

#define EXT_MAX		16	/* longer extensions are unknown */

/* Sorted by ext (lower case, byte order); a unit test checks it. */
static const struct mime {
	const char	*ext;
	const char	*type;
} mimes[] = {
	{ "3gp",         "video/3gpp" },
	{ "3gpp",        "video/3gpp" },
	{ "7z",          "application/x-7z-compressed" },
	{ "aac",         "audio/aac" },
	{ "ai",          "application/postscript" },
	{ "apk",         "application/vnd.android.package-archive" },
	{ "apng",        "image/apng" },
	{ "asf",         "video/x-ms-asf" },
	{ "asx",         "video/x-ms-asf" },
	{ "atom",        "application/atom+xml" },
	{ "avi",         "video/x-msvideo" },
	{ "avif",        "image/avif" },
	{ "bin",         "application/octet-stream" },
	{ "bmp",         "image/bmp" },
	{ "bz2",         "application/x-bzip2" },
	{ "conf",        "text/plain; charset=utf-8" },
	{ "crt",         "application/x-x509-ca-cert" },
	{ "css",         "text/css; charset=utf-8" },
	{ "csv",         "text/csv; charset=utf-8" },
	{ "cur",         "image/x-icon" },
	{ "deb",         "application/octet-stream" },
	{ "der",         "application/x-x509-ca-cert" },
	{ "dll",         "application/octet-stream" },
	{ "dmg",         "application/octet-stream" },
	{ "doc",         "application/msword" },
	{ "docx",
	    "application/vnd.openxmlformats-officedocument."
	    "wordprocessingml.document" },
	{ "ear",         "application/java-archive" },
	{ "eot",         "application/vnd.ms-fontobject" },
	{ "eps",         "application/postscript" },
	{ "epub",        "application/epub+zip" },
	{ "exe",         "application/octet-stream" },
	{ "flac",        "audio/flac" },
	{ "flv",         "video/x-flv" },
	{ "gif",         "image/gif" },
	{ "gz",          "application/gzip" },
	{ "heic",        "image/heic" },
	{ "hqx",         "application/mac-binhex40" },
	{ "htc",         "text/x-component; charset=utf-8" },
	{ "htm",         "text/html; charset=utf-8" },
	{ "html",        "text/html; charset=utf-8" },
	{ "ico",         "image/x-icon" },
	{ "ics",         "text/calendar; charset=utf-8" },
	{ "img",         "application/octet-stream" },
	{ "ini",         "text/plain; charset=utf-8" },
	{ "iso",         "application/octet-stream" },
	{ "jad",         "text/vnd.sun.j2me.app-descriptor; charset=utf-8" },
	{ "jar",         "application/java-archive" },
	{ "jfif",        "image/jpeg" },
	{ "jng",         "image/x-jng" },
	{ "jpeg",        "image/jpeg" },
	{ "jpg",         "image/jpeg" },
	{ "js",          "application/javascript; charset=utf-8" },
	{ "json",        "application/json; charset=utf-8" },
	{ "jsonld",      "application/ld+json" },
	{ "jxl",         "image/jxl" },
	{ "kar",         "audio/midi" },
	{ "kml",         "application/vnd.google-earth.kml+xml" },
	{ "kmz",         "application/vnd.google-earth.kmz" },
	{ "log",         "text/plain; charset=utf-8" },
	{ "m3u8",        "application/vnd.apple.mpegurl" },
	{ "m4a",         "audio/x-m4a" },
	{ "m4v",         "video/x-m4v" },
	{ "map",         "application/json; charset=utf-8" },
	{ "markdown",    "text/markdown; charset=utf-8" },
	{ "md",          "text/markdown; charset=utf-8" },
	{ "mid",         "audio/midi" },
	{ "midi",        "audio/midi" },
	{ "mjs",         "application/javascript; charset=utf-8" },
	{ "mkv",         "video/x-matroska" },
	{ "mml",         "text/mathml; charset=utf-8" },
	{ "mng",         "video/x-mng" },
	{ "mov",         "video/quicktime" },
	{ "mp3",         "audio/mpeg" },
	{ "mp4",         "video/mp4" },
	{ "mpeg",        "video/mpeg" },
	{ "mpg",         "video/mpeg" },
	{ "msi",         "application/octet-stream" },
	{ "odg",         "application/vnd.oasis.opendocument.graphics" },
	{ "odp",         "application/vnd.oasis.opendocument.presentation" },
	{ "ods",         "application/vnd.oasis.opendocument.spreadsheet" },
	{ "odt",         "application/vnd.oasis.opendocument.text" },
	{ "oga",         "audio/ogg" },
	{ "ogg",         "audio/ogg" },
	{ "ogv",         "video/ogg" },
	{ "opus",        "audio/ogg" },
	{ "otf",         "font/otf" },
	{ "pdf",         "application/pdf" },
	{ "pem",         "application/x-x509-ca-cert" },
	{ "png",         "image/png" },
	{ "ppt",         "application/vnd.ms-powerpoint" },
	{ "pptx",
	    "application/vnd.openxmlformats-officedocument."
	    "presentationml.presentation" },
	{ "ps",          "application/postscript" },
	{ "ra",          "audio/x-realaudio" },
	{ "rar",         "application/x-rar-compressed" },
	{ "rpm",         "application/x-redhat-package-manager" },
	{ "rss",         "application/rss+xml" },
	{ "rtf",         "application/rtf" },
	{ "shtml",       "text/html; charset=utf-8" },
	{ "svg",         "image/svg+xml; charset=utf-8" },
	{ "svgz",        "image/svg+xml; charset=utf-8" },
	{ "swf",         "application/x-shockwave-flash" },
	{ "tar",         "application/x-tar" },
	{ "text",        "text/plain; charset=utf-8" },
	{ "tgz",         "application/gzip" },
	{ "tif",         "image/tiff" },
	{ "tiff",        "image/tiff" },
	{ "ts",          "video/mp2t" },
	{ "tsv",         "text/tab-separated-values; charset=utf-8" },
	{ "ttf",         "font/ttf" },
	{ "txt",         "text/plain; charset=utf-8" },
	{ "vcf",         "text/vcard; charset=utf-8" },
	{ "vtt",         "text/vtt; charset=utf-8" },
	{ "war",         "application/java-archive" },
	{ "wasm",        "application/wasm" },
	{ "wav",         "audio/wav" },
	{ "wbmp",        "image/vnd.wap.wbmp" },
	{ "weba",        "audio/webm" },
	{ "webm",        "video/webm" },
	{ "webmanifest", "application/manifest+json; charset=utf-8" },
	{ "webp",        "image/webp" },
	{ "wml",         "text/vnd.wap.wml; charset=utf-8" },
	{ "wmlc",        "application/vnd.wap.wmlc" },
	{ "wmv",         "video/x-ms-wmv" },
	{ "woff",        "font/woff" },
	{ "woff2",       "font/woff2" },
	{ "xhtml",       "application/xhtml+xml" },
	{ "xls",         "application/vnd.ms-excel" },
	{ "xlsx",
	    "application/vnd.openxmlformats-officedocument."
	    "spreadsheetml.sheet" },
	{ "xml",         "application/xml; charset=utf-8" },
	{ "xpi",         "application/x-xpinstall" },
	{ "xsl",         "application/xml; charset=utf-8" },
	{ "xspf",        "application/xspf+xml" },
	{ "xz",          "application/x-xz" },
	{ "zip",         "application/zip" },
	{ "zst",         "application/zstd" },
};

static const char octet[] = "application/octet-stream";

/*
 * Content-Type for the file name name[0..n) (a bare name or a path): by the
 * extension after the last '.' of the last path segment, case-insensitive.
 * A name whose only '.' starts it (".htaccess") has no extension.  Unknown or
 * no extension: "application/octet-stream".  Returns a static string.
 */
const char *
mime_type(const char *name, size_t n)
{
	char		 ext[EXT_MAX + 1];
	size_t		 i, seg = 0, dot = 0, len, lo, hi, mid;
	int		 c;

	/* 1. the last segment, and the last '.' in it (not its first byte) */
	for (i = 0; i < n; i++) {
		if (name[i] == '/') {
			seg = i + 1;
			dot = 0;
		} else if (name[i] == '.' && i > seg)
			dot = i + 1;
	}
	if (dot == 0 || (len = n - dot) == 0 || len > EXT_MAX)
		return octet;

	/* 2. fold to lower case (ASCII only: the table is ASCII) */
	for (i = 0; i < len; i++) {
		c = (unsigned char)name[dot + i];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		else if (c == '\0')
			return octet;
		ext[i] = (char)c;
	}
	ext[len] = '\0';

	/* 3. binary search */
	lo = 0;
	hi = sizeof(mimes) / sizeof(mimes[0]);
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(ext, mimes[mid].ext);
		if (c == 0)
			return mimes[mid].type;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return octet;
}
