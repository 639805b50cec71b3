"""Static files: exact bytes and headers, index files, redirects, listings,
conditional requests, ranges, path safety, symbolic links, cache freshness,
large files, permissions and the access log.

Every request goes over a raw socket so that what the server sent -- every
header line and every body byte -- is what gets checked; nothing normalizes
paths or headers on the way.
"""
import email.utils
import hashlib
import os
import re
import socket
import time

import pytest

from conftest import raw, wait_for

ETAG_RE = re.compile(r'^"[0-9a-f]+\.[0-9a-f]+-[0-9a-f]+"$')


# --- helpers -------------------------------------------------------------------

class Resp:
    def __init__(self, status, reason, lines, body, wire):
        self.status = status
        self.reason = reason
        self.lines = lines          # [(name, value)] in order, names as sent
        self.body = body
        self.wire = wire            # every byte received
        self.headers = {}
        for k, v in lines:
            self.headers.setdefault(k.lower(), v)

    def all(self, name):
        return [v for k, v in self.lines if k.lower() == name.lower()]

    def __repr__(self):
        return f"<Resp {self.status} {self.lines!r} body={self.body[:200]!r}>"


def parse_one(data, method="GET"):
    """Parse exactly one response that the server ended with a close.
    Fails on a malformed head, a body that is not exactly Content-Length
    bytes, or anything after it."""
    assert b"\r\n\r\n" in data, f"no complete header section: {data!r}"
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"^HTTP/1\.1 (\d{3}) (.*)$", lines[0])
    assert m, f"bad status line {lines[0]!r}"
    status = int(m.group(1))
    hl = []
    for ln in lines[1:]:
        assert ":" in ln and not ln[0].isspace(), f"bad header line {ln!r}"
        k, v = ln.split(":", 1)
        assert k == k.strip(), f"whitespace in header name {ln!r}"
        hl.append((k, v.strip()))
    r = Resp(status, m.group(2), hl, b"", data)
    cls = r.all("content-length")
    assert len(cls) <= 1, f"several Content-Length: {cls}"
    assert "transfer-encoding" not in r.headers
    if method == "HEAD" or status == 304 or status == 204 or status < 200:
        assert rest == b"", f"body on a bodiless response: {rest[:100]!r}"
    else:
        assert cls, f"no Content-Length on {status}"
        n = int(cls[0])
        assert len(rest) == n, f"body is {len(rest)} bytes, Content-Length {n}"
        r.body = rest
    return r


def request(port, target, method="GET", headers=(), host="www.example",
            version="HTTP/1.1", timeout=10.0):
    """One request with Connection: close; returns the parsed response."""
    h = f"{method} {target} {version}\r\n"
    if host is not None:
        h += f"Host: {host}\r\n"
    for k, v in (headers.items() if isinstance(headers, dict) else headers):
        h += f"{k}: {v}\r\n"
    h += "Connection: close\r\n\r\n"
    data = raw(port, h.encode("latin-1"), timeout=timeout)
    r = parse_one(data, method)
    assert r.headers.get("connection") == "close"
    return r


def get(w, target, **kw):
    return request(w.port, target, **kw)


def httpdate(t):
    return email.utils.formatdate(t, usegmt=True)


def serve(make_weir, root, site="", server=""):
    return make_weir(f"[site main]\nroot = {root}\n{site}\n", server_extra=server)


def parse_multipart(body, boundary, size):
    """Strict multipart/byteranges parser (RFC 9110 §14.6, RFC 2046 §5.1):
    returns [(first, last, content_type, data)].  Each part is framed by its
    Content-Range and must be followed by a delimiter."""
    delim = b"\r\n--" + boundary.encode()
    assert body.startswith(delim + b"\r\n"), body[:80]
    pos = len(delim)
    parts = []
    while True:
        if body[pos:pos + 2] == b"--":
            assert body[pos + 2:] == b"\r\n", f"junk after close delimiter {body[pos:]!r}"
            break
        assert body[pos:pos + 2] == b"\r\n", body[pos:pos + 40]
        pos += 2
        hend = body.index(b"\r\n\r\n", pos)
        hdrs = {}
        for ln in body[pos:hend].decode("latin-1").split("\r\n"):
            k, v = ln.split(":", 1)
            assert k.lower() not in hdrs
            hdrs[k.lower()] = v.strip()
        pos = hend + 4
        m = re.match(r"^bytes (\d+)-(\d+)/(\d+)$", hdrs["content-range"])
        assert m, hdrs
        first, last, total = map(int, m.groups())
        assert total == size and first <= last < size
        data = body[pos:pos + last - first + 1]
        assert len(data) == last - first + 1
        pos += len(data)
        assert body[pos:pos + len(delim)] == delim, body[pos:pos + 80]
        pos += len(delim)
        parts.append((first, last, hdrs.get("content-type"), data))
    return parts


# --- plain GET and HEAD ------------------------------------------------------------

TYPES = {
    "hello.txt": "text/plain; charset=utf-8",
    "index.html": "text/html; charset=utf-8",
    "1k.bin": "application/octet-stream",
    "100k.bin": "application/octet-stream",
}


@pytest.mark.parametrize("name", sorted(TYPES))
def test_get_exact_bytes_and_headers(make_weir, site, name):
    w = serve(make_weir, site)
    data = (site / name).read_bytes()
    st = os.stat(site / name)
    r = get(w, "/" + name)
    assert r.status == 200 and r.reason == "OK"
    assert r.body == data
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["content-type"] == TYPES[name]
    assert r.headers["last-modified"] == httpdate(st.st_mtime)
    assert ETAG_RE.match(r.headers["etag"]), r.headers["etag"]
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["server"] == "weir"
    # Date is a valid IMF-fixdate close to now
    d = email.utils.parsedate_to_datetime(r.headers["date"]).timestamp()
    assert abs(d - time.time()) < 5
    for k in ("etag", "last-modified", "date", "content-type", "server"):
        assert len(r.all(k)) == 1, k


def test_content_type_by_extension(make_weir, site):
    cases = {
        "a.css": "text/css; charset=utf-8",
        "a.js": "application/javascript; charset=utf-8",
        "a.json": "application/json; charset=utf-8",
        "a.png": "image/png",
        "a.svg": "image/svg+xml; charset=utf-8",
        "a.wasm": "application/wasm",
        "UPPER.HTML": "text/html; charset=utf-8",
        "archive.tar.gz": "application/gzip",
        "noext": "application/octet-stream",
        "a.unknownext": "application/octet-stream",
        ".hiddenrc": "application/octet-stream",
    }
    for n in cases:
        (site / n).write_bytes(b"x")
    # a dot file is served only when the site allows them (dotfiles = deny by default)
    w = serve(make_weir, site, site="dotfiles = allow")
    for n, t in cases.items():
        r = get(w, "/" + n)
        assert r.status == 200, n
        assert r.headers["content-type"] == t, n


def test_head_has_get_headers_and_no_body(make_weir, site):
    w = serve(make_weir, site)
    for name in ("hello.txt", "100k.bin"):
        g = get(w, "/" + name)
        h = get(w, "/" + name, method="HEAD")   # parse_one: no byte after the head
        assert h.status == 200
        assert h.body == b""
        for k in ("content-length", "content-type", "etag", "last-modified",
                  "accept-ranges"):
            assert h.headers[k] == g.headers[k], k


def test_empty_file(make_weir, site):
    (site / "empty.txt").write_bytes(b"")
    w = serve(make_weir, site)
    r = get(w, "/empty.txt")
    assert r.status == 200 and r.body == b"" and r.headers["content-length"] == "0"


def test_not_found(make_weir, site):
    w = serve(make_weir, site)
    for t in ("/nope.txt", "/sub/nope", "/nope/", "/hello.txt/", "/hello.txt/x",
              "/index.html/"):
        r = get(w, t)
        assert r.status == 404, t
        assert r.headers["content-type"].startswith("text/html")
        assert b"404" in r.body
    h = get(w, "/nope.txt", method="HEAD")
    assert h.status == 404 and int(h.headers["content-length"]) > 0


def test_query_string_is_not_part_of_the_file_name(make_weir, site):
    w = serve(make_weir, site)
    r = get(w, "/hello.txt?x=1&y=/../../etc/passwd")
    assert r.status == 200 and r.body == b"hello, world\n"


def test_percent_encoded_names(make_weir, site):
    (site / "a b&c.txt").write_bytes(b"spaced\n")
    (site / "caf\u00e9.txt").write_bytes(b"utf8\n")
    w = serve(make_weir, site)
    assert get(w, "/a%20b%26c.txt").body == b"spaced\n"
    assert get(w, "/a%20b&c.txt").body == b"spaced\n"
    assert get(w, "/caf%C3%A9.txt").body == b"utf8\n"
    assert get(w, "/%68ello.txt").body == b"hello, world\n"


# --- directories -----------------------------------------------------------------

def test_root_and_subdir_index(make_weir, site):
    w = serve(make_weir, site)
    r = get(w, "/")
    assert r.status == 200 and r.body == b"<h1>home</h1>\n"
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    r = get(w, "/sub/")
    assert r.status == 200 and r.body == b"<h1>sub</h1>\n"
    # the index is a real file: validators and ranges work on it too
    assert ETAG_RE.match(r.headers["etag"])
    r = get(w, "/sub/", headers={"Range": "bytes=1-2"})
    assert r.status == 206 and r.body == b"h1"


def test_index_order(make_weir, site):
    (site / "both").mkdir()
    (site / "both" / "default.htm").write_text("default\n")
    (site / "both" / "index.html").write_text("index\n")
    (site / "second").mkdir()
    (site / "second" / "index.html").write_text("second\n")
    (site / "dirindex").mkdir()
    (site / "dirindex" / "default.htm").mkdir()     # not a file: skipped
    (site / "dirindex" / "index.html").write_text("after dir\n")
    w = serve(make_weir, site, site="index = default.htm, index.html")
    assert get(w, "/both/").body == b"default\n"
    assert get(w, "/second/").body == b"second\n"
    assert get(w, "/dirindex/").body == b"after dir\n"
    assert get(w, "/").body == b"<h1>home</h1>\n"
    assert get(w, "/empty/").status == 403


def test_directory_without_slash_redirects_keeping_query(make_weir, site):
    w = serve(make_weir, site)
    for target, loc in (("/sub", "/sub/"), ("/empty", "/empty/"),
                        ("/sub?a=1&b=%20x", "/sub/?a=1&b=%20x"),
                        ("/sub?", "/sub/?")):
        r = get(w, target)
        assert r.status == 301, target
        assert r.headers["location"] == loc, target
        assert r.body == b""
    h = get(w, "/sub?q=1", method="HEAD")
    assert h.status == 301 and h.headers["location"] == "/sub/?q=1"


def test_redirect_location_never_has_dot_segments_or_double_slash(make_weir, site):
    # "//evil.example" as a Location would send the browser to another host
    w = serve(make_weir, site)
    for target in ("//sub", "/./sub", "/empty/../sub", "///sub?x=1"):
        r = get(w, target)
        assert r.status == 301, target
        loc = r.headers["location"]
        assert not loc.startswith("//"), (target, loc)
        assert "/./" not in loc and "/../" not in loc, (target, loc)
        assert loc.split("?")[0] == "/sub/", (target, loc)


def test_directory_without_index_is_403(make_weir, site):
    w = serve(make_weir, site)
    r = get(w, "/empty/")
    assert r.status == 403
    assert b"403" in r.body


def test_listing(make_weir, site):
    d = site / "files"
    d.mkdir()
    (d / '<b>&"x.txt').write_bytes(b"tricky\n")
    (d / "plain.txt").write_bytes(b"p\n")
    (d / ".hidden").write_bytes(b"h\n")
    (d / "zdir").mkdir()
    w = serve(make_weir, site, site="listing = yes")
    r = get(w, "/files/")
    assert r.status == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    html = r.body.decode()
    assert "<b>" not in html and '&"x' not in html
    assert "&lt;b&gt;&amp;&quot;x.txt" in html
    assert 'href="%3Cb%3E%26%22x.txt"' in html
    assert 'href="plain.txt"' in html
    assert ".hidden" not in html
    assert 'href="../"' in html
    # sorted by name
    assert html.index("%3Cb%3E") < html.index("plain.txt") < html.index("zdir")
    # the escaped href leads to the file
    assert get(w, "/files/%3Cb%3E%26%22x.txt").body == b"tricky\n"
    # a directory with an index file still gets the index
    assert get(w, "/sub/").body == b"<h1>sub</h1>\n"
    # HEAD: same length, no body
    h = get(w, "/files/", method="HEAD")
    assert h.status == 200 and h.headers["content-length"] == str(len(r.body))
    # root listing has no parent link
    (site / "index.html").unlink()
    rr = get(w, "/")
    assert rr.status == 200 and 'href="../"' not in rr.body.decode()


def test_listing_of_empty_and_deep_escaped_directories(make_weir, site):
    # an empty directory, and a path whose escaped form is far longer than
    # any one name: both in the title and the heading
    w = serve(make_weir, site, site="listing = yes")
    r = get(w, "/empty/")
    assert r.status == 200 and "<li>" in r.body.decode()   # just "../"
    name = '"&<>' * 60                                      # 240 bytes, 1260 escaped
    d = site
    for _ in range(6):
        d = d / name
        d.mkdir()
    (d / "leaf.txt").write_bytes(b"leaf\n")
    target = ("/" + "%22%26%3C%3E" * 60) * 6 + "/"
    r = get(w, target)
    assert r.status == 200
    html = r.body.decode()
    esc = "&quot;&amp;&lt;&gt;" * 60
    assert html.count(("/" + esc) * 6 + "/") == 2
    assert 'href="leaf.txt"' in html
    assert "<>" not in html


def test_listing_off_by_default(make_weir, site):
    (site / "files").mkdir()
    (site / "files" / "a.txt").write_bytes(b"a")
    w = serve(make_weir, site)
    r = get(w, "/files/")
    assert r.status == 403 and b"a.txt" not in r.body


# --- conditional requests -----------------------------------------------------------

def test_if_none_match(make_weir, site):
    w = serve(make_weir, site)
    r = get(w, "/hello.txt")
    etag = r.headers["etag"]
    lm = r.headers["last-modified"]
    for v in (etag, f'"nope", {etag}', f'"a",,{etag} , "b"', "*", "W/" + etag):
        c = get(w, "/hello.txt", headers={"If-None-Match": v})
        assert c.status == 304, v
        assert c.headers["etag"] == etag
        assert c.headers["last-modified"] == lm
        assert c.body == b""           # parse_one also checked no byte followed
    for v in ('"nope"', 'W/"nope"', etag[:-2] + '"', "garbage"):
        c = get(w, "/hello.txt", headers={"If-None-Match": v})
        assert c.status == 200 and c.body == b"hello, world\n", v
    # HEAD gets 304 too
    c = get(w, "/hello.txt", method="HEAD", headers={"If-None-Match": etag})
    assert c.status == 304
    # a precondition comes before Range
    c = get(w, "/hello.txt", headers={"If-None-Match": etag, "Range": "bytes=0-1"})
    assert c.status == 304 and "content-range" not in c.headers


def test_if_modified_since(make_weir, site):
    w = serve(make_weir, site)
    mtime = os.stat(site / "hello.txt").st_mtime
    lm = get(w, "/hello.txt").headers["last-modified"]
    assert get(w, "/hello.txt", headers={"If-Modified-Since": lm}).status == 304
    later = httpdate(mtime + 3600)
    assert get(w, "/hello.txt", headers={"If-Modified-Since": later}).status == 304
    earlier = httpdate(mtime - 1)
    r = get(w, "/hello.txt", headers={"If-Modified-Since": earlier})
    assert r.status == 200 and r.body == b"hello, world\n"
    # obsolete formats are dates too (RFC 9110 §5.6.7)
    t = time.gmtime(mtime + 60)
    rfc850 = time.strftime("%A, %d-%b-%y %H:%M:%S GMT", t)
    asctime = time.strftime("%a %b %e %H:%M:%S %Y", t)
    for d in (rfc850, asctime):
        assert get(w, "/hello.txt", headers={"If-Modified-Since": d}).status == 304, d
    # an invalid date is ignored
    assert get(w, "/hello.txt", headers={"If-Modified-Since": "yesterday"}).status == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2)
    r = get(w, "/hello.txt", headers={"If-None-Match": '"other"', "If-Modified-Since": lm})
    assert r.status == 200


def test_if_match_and_if_unmodified_since(make_weir, site):
    w = serve(make_weir, site)
    r = get(w, "/hello.txt")
    etag, lm = r.headers["etag"], r.headers["last-modified"]
    mtime = os.stat(site / "hello.txt").st_mtime
    c = get(w, "/hello.txt", headers={"If-Match": '"nope"'})
    assert c.status == 412 and b"hello" not in c.body
    # weak tags never match If-Match (strong comparison)
    assert get(w, "/hello.txt", headers={"If-Match": "W/" + etag}).status == 412
    assert get(w, "/hello.txt", headers={"If-Match": etag}).status == 200
    assert get(w, "/hello.txt", headers={"If-Match": f'"x", {etag}'}).status == 200
    assert get(w, "/hello.txt", headers={"If-Match": "*"}).status == 200
    c = get(w, "/hello.txt", headers={"If-Unmodified-Since": httpdate(mtime - 10)})
    assert c.status == 412
    assert get(w, "/hello.txt", headers={"If-Unmodified-Since": lm}).status == 200
    # If-Match takes precedence over If-Unmodified-Since
    c = get(w, "/hello.txt", headers={"If-Match": etag,
                                      "If-Unmodified-Since": httpdate(mtime - 10)})
    assert c.status == 200


# --- ranges ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["1k.bin", "100k.bin"])
def test_single_ranges(make_weir, site, name):
    w = serve(make_weir, site)
    data = (site / name).read_bytes()
    n = len(data)
    for spec, a, b in (("0-9", 0, 9), ("-10", n - 10, n - 1), ("100-", 100, n - 1),
                       ("5-5", 5, 5), (f"{n - 1}-{n + 100}", n - 1, n - 1),
                       (f"-{n * 2}", 0, n - 1), ("0-", 0, n - 1)):
        r = get(w, "/" + name, headers={"Range": "bytes=" + spec})
        assert r.status == 206, spec
        assert r.headers["content-range"] == f"bytes {a}-{b}/{n}", spec
        assert r.headers["content-length"] == str(b - a + 1)
        assert r.body == data[a:b + 1], spec
        assert r.headers["content-type"] == "application/octet-stream"
        assert "etag" in r.headers


@pytest.mark.parametrize("name", ["1k.bin", "100k.bin"])
def test_multiple_ranges(make_weir, site, name):
    w = serve(make_weir, site)
    data = (site / name).read_bytes()
    n = len(data)
    r = get(w, "/" + name, headers={"Range": "bytes=0-9, 20-29,-5,100-199"})
    assert r.status == 206
    assert "content-range" not in r.headers
    m = re.match(r"^multipart/byteranges; boundary=(\S+)$", r.headers["content-type"])
    assert m, r.headers["content-type"]
    parts = parse_multipart(r.body, m.group(1), n)
    assert [(a, b) for a, b, _, _ in parts] == [(0, 9), (20, 29), (n - 5, n - 1), (100, 199)]
    for a, b, ct, d in parts:
        assert ct == "application/octet-stream"
        assert d == data[a:b + 1]
    # overlapping ranges are coalesced
    r = get(w, "/" + name, headers={"Range": "bytes=0-10,5-20,500-600"})
    parts = parse_multipart(r.body, r.headers["content-type"].split("=", 1)[1], n)
    assert [(a, b) for a, b, _, _ in parts] == [(0, 20), (500, 600)]
    assert all(d == data[a:b + 1] for a, b, _, d in parts)
    # unsatisfiable parts are dropped, a single remaining one is a plain 206
    r = get(w, "/" + name, headers={"Range": f"bytes=0-3,{n + 10}-{n + 20}"})
    assert r.status == 206 and r.headers["content-range"] == f"bytes 0-3/{n}"
    assert r.body == data[:4]


def test_multiple_ranges_of_text_keep_charset(make_weir, site):
    w = serve(make_weir, site)
    r = get(w, "/hello.txt", headers={"Range": "bytes=0-1,3-4"})
    assert r.status == 206
    parts = parse_multipart(r.body, r.headers["content-type"].split("=", 1)[1], 13)
    assert [(d, ct) for _, _, ct, d in parts] == [(b"he", "text/plain; charset=utf-8"),
                                                  (b"lo", "text/plain; charset=utf-8")]


def test_unsatisfiable_range(make_weir, site):
    w = serve(make_weir, site)
    for spec in ("bytes=5000-6000", "bytes=1024-", "bytes=-0", "bytes=2000-3000,4000-"):
        r = get(w, "/1k.bin", headers={"Range": spec})
        assert r.status == 416, spec
        assert r.headers["content-range"] == "bytes */1024"
        assert r.body == b""
    # an empty file has no satisfiable range
    (site / "empty.txt").write_bytes(b"")
    assert get(w, "/empty.txt", headers={"Range": "bytes=0-"}).status == 416


def test_invalid_range_is_ignored(make_weir, site):
    w = serve(make_weir, site)
    data = (site / "1k.bin").read_bytes()
    for spec in ("bytes=abc", "bytes=9-1", "items=0-1", "bytes=", "bytes=1-2;",
                 "bytes 0-1", "bytes=--1"):
        r = get(w, "/1k.bin", headers={"Range": spec})
        assert r.status == 200 and r.body == data, spec


def test_if_range(make_weir, site):
    w = serve(make_weir, site)
    data = (site / "1k.bin").read_bytes()
    full = get(w, "/1k.bin")
    etag, lm = full.headers["etag"], full.headers["last-modified"]
    mtime = os.stat(site / "1k.bin").st_mtime
    r = get(w, "/1k.bin", headers={"Range": "bytes=0-9", "If-Range": etag})
    assert r.status == 206 and r.body == data[:10]
    r = get(w, "/1k.bin", headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert r.status == 200 and r.body == data
    # a weak tag never matches If-Range
    r = get(w, "/1k.bin", headers={"Range": "bytes=0-9", "If-Range": "W/" + etag})
    assert r.status == 200 and r.body == data
    r = get(w, "/1k.bin", headers={"Range": "bytes=0-9", "If-Range": lm})
    assert r.status == 206 and r.body == data[:10]
    r = get(w, "/1k.bin", headers={"Range": "bytes=0-9",
                                   "If-Range": httpdate(mtime - 100)})
    assert r.status == 200 and r.body == data


def test_range_on_head_is_ignored(make_weir, site):
    w = serve(make_weir, site)
    r = get(w, "/1k.bin", method="HEAD", headers={"Range": "bytes=0-9"})
    assert r.status == 200
    assert r.headers["content-length"] == "1024"
    assert "content-range" not in r.headers
    r = get(w, "/1k.bin", method="HEAD", headers={"Range": "bytes=0-9,20-30"})
    assert r.status == 200 and r.headers["content-length"] == "1024"


def test_many_ranges(make_weir, site):
    # more ranges than weir serves separately: coalesced or the whole file,
    # never an amplified response
    w = serve(make_weir, site)
    data = (site / "100k.bin").read_bytes()
    spec = ",".join(f"{i * 100}-{i * 100 + 9}" for i in range(40))
    r = get(w, "/100k.bin", headers={"Range": "bytes=" + spec})
    assert r.status in (200, 206)
    if r.status == 200:
        assert r.body == data
    spec = ",".join(["0-"] * 200)
    r = get(w, "/100k.bin", headers={"Range": "bytes=" + spec})
    assert r.status == 206 and r.body == data
    assert r.headers["content-range"] == f"bytes 0-{len(data) - 1}/{len(data)}"


# --- path safety ------------------------------------------------------------------

@pytest.fixture
def secret(tmp_path):
    p = tmp_path / "secret.txt"
    p.write_bytes(b"SECRET outside the root\n")
    return p


@pytest.mark.parametrize("target,status", [
    ("/../secret.txt", 400),
    ("/%2e%2e/secret.txt", 400),
    ("/%2E%2E/secret.txt", 400),
    ("/.%2e/secret.txt", 400),
    ("/sub/../../secret.txt", 400),
    ("/sub/%2e%2e/%2e%2e/secret.txt", 400),
    ("/..%2fsecret.txt", 404),
    ("/..%2Fsecret.txt", 404),
    ("/sub%2F..%2F..%2Fsecret.txt", 404),
    ("/sub%2Findex.html", 404),
    ("/hello.txt%00", 400),
    ("/hello.txt%00.html", 400),
    ("/%00", 400),
    ("/hello%0a.txt", 400),
    ("/%zz", 400),
    ("/a%2", 400),
    ("/..\\secret.txt", None),        # backslash: not a separator; 400 or 404
    ("/%5c..%5csecret.txt", 404),
])
def test_traversal_and_bad_escapes(make_weir, site, secret, target, status):
    w = serve(make_weir, site)
    data = raw(w.port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert b"SECRET" not in data
    r = parse_one(data)
    if status is None:
        assert r.status in (400, 404)
    else:
        assert r.status == status, target


def test_dot_segments_inside_the_root_are_resolved(make_weir, site):
    w = serve(make_weir, site)
    for t in ("/sub/../hello.txt", "/./hello.txt", "//hello.txt", "/sub/./../hello.txt",
              "/sub/%2e%2e/hello.txt", "/sub//..//hello.txt"):
        r = get(w, t)
        assert r.status == 200 and r.body == b"hello, world\n", t


def test_absolute_form_targets(make_weir, site, secret):
    w = serve(make_weir, site)
    r = get(w, f"http://127.0.0.1:{w.port}/hello.txt", host="ignored.example")
    assert r.status == 200 and r.body == b"hello, world\n"
    r = get(w, "HTTP://www.example/hello.txt?x=1")
    assert r.status == 200 and r.body == b"hello, world\n"
    r = get(w, "http://www.example")            # empty path is "/"
    assert r.status == 200 and r.body == b"<h1>home</h1>\n"
    r = get(w, "http://www.example?x")
    assert r.status == 200 and r.body == b"<h1>home</h1>\n"
    for t in ("http://x/../secret.txt", "http://x/%2e%2e/secret.txt"):
        data = raw(w.port, f"GET {t} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        assert b"SECRET" not in data and parse_one(data).status == 400


def test_absolute_form_authority_picks_the_site(make_weir, site, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "hello.txt").write_bytes(b"other site\n")
    w = make_weir(f"[site main]\nroot = {site}\n\n"
                  f"[site other]\nhosts = other.example\nroot = {other}\n")
    assert get(w, "/hello.txt", host="other.example").body == b"other site\n"
    assert get(w, "/hello.txt", host="OTHER.example:80").body == b"other site\n"
    assert get(w, "/hello.txt", host="main.example").body == b"hello, world\n"
    # RFC 9112 §3.2.2: the absolute-form authority wins over Host
    r = get(w, "http://other.example/hello.txt", host="main.example")
    assert r.body == b"other site\n"
    r = get(w, "http://main.example/hello.txt", host="other.example")
    assert r.body == b"hello, world\n"


def test_symlinks_within_root(make_weir, site, secret):
    os.symlink("hello.txt", site / "link_rel.txt")
    os.symlink("../hello.txt", site / "sub" / "up.txt")
    os.symlink(str(site / "hello.txt"), site / "link_abs.txt")
    os.symlink("sub", site / "linkdir")
    os.symlink(str(secret), site / "out_abs.txt")
    os.symlink("../secret.txt", site / "out_rel.txt")
    os.symlink("..", site / "updir")
    os.symlink("/etc", site / "etc")
    w = serve(make_weir, site, site="symlinks = within-root")   # the default is owner (test_routes)
    for t in ("/link_rel.txt", "/sub/up.txt", "/link_abs.txt"):
        r = get(w, t)
        assert r.status == 200 and r.body == b"hello, world\n", t
    assert get(w, "/linkdir/index.html").body == b"<h1>sub</h1>\n"
    assert get(w, "/linkdir/").body == b"<h1>sub</h1>\n"
    for t in ("/out_abs.txt", "/out_rel.txt", "/updir/secret.txt", "/etc/passwd",
              "/etc/hostname"):
        r = get(w, t)
        assert r.status == 404, t
        assert b"SECRET" not in r.wire and b"root:" not in r.wire


def test_symlinks_within_root_when_root_is_a_link(make_weir, site, tmp_path, secret):
    # a deploy: root = .../current -> www; absolute links name the real
    # directory or the link, both are inside
    current = tmp_path / "current"
    os.symlink(str(site), current)
    os.symlink(str(site / "sub"), site / "abs_dir")
    os.symlink(str(current / "hello.txt"), site / "via_current.txt")
    os.symlink(str(secret), site / "out_abs.txt")
    w = serve(make_weir, current, site="symlinks = within-root")
    assert get(w, "/hello.txt").body == b"hello, world\n"
    assert get(w, "/abs_dir/index.html").body == b"<h1>sub</h1>\n"
    assert get(w, "/abs_dir/").body == b"<h1>sub</h1>\n"
    assert get(w, "/abs_dir").status == 301
    assert get(w, "/via_current.txt").body == b"hello, world\n"
    r = get(w, "/out_abs.txt")
    assert r.status == 404 and b"SECRET" not in r.wire


def test_symlinks_refuse(make_weir, site, secret):
    os.symlink("hello.txt", site / "link_rel.txt")
    os.symlink("sub", site / "linkdir")
    os.symlink(str(secret), site / "out_abs.txt")
    w = serve(make_weir, site, site="symlinks = refuse")
    for t in ("/link_rel.txt", "/linkdir/index.html", "/linkdir/", "/out_abs.txt"):
        r = get(w, t)
        assert r.status == 404, t
        assert b"SECRET" not in r.wire and b"hello, world" not in r.wire
    assert get(w, "/hello.txt").status == 200


def test_symlinks_follow(make_weir, site, secret):
    os.symlink(str(secret), site / "out_abs.txt")
    os.symlink("../secret.txt", site / "out_rel.txt")
    w = serve(make_weir, site, site="symlinks = follow")
    for t in ("/out_abs.txt", "/out_rel.txt"):
        r = get(w, t)
        assert r.status == 200 and r.body == secret.read_bytes(), t
    # "follow" is about links only: ".." in the request still cannot climb
    data = raw(w.port, b"GET /../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"SECRET" not in data and parse_one(data).status == 400


def test_special_files_are_not_served(make_weir, site):
    os.mkfifo(site / "fifo")
    w = serve(make_weir, site)
    r = get(w, "/fifo", timeout=5)
    assert r.status in (403, 404)


# --- permissions -------------------------------------------------------------------

def test_unreadable_file_is_403(make_weir, site):
    # The tests run as root; the front end drops to an unprivileged user
    # before it opens anything, so mode 000 means "not readable" for it.
    p = site / "locked.txt"
    p.write_bytes(b"locked\n")
    os.chmod(p, 0)
    (site / "lockeddir").mkdir()
    (site / "lockeddir" / "f.txt").write_bytes(b"f\n")
    os.chmod(site / "lockeddir", 0)
    try:
        w = serve(make_weir, site)
        r = get(w, "/locked.txt")
        assert r.status == 403 and b"locked" not in r.body
        assert get(w, "/lockeddir/f.txt").status == 403
        assert get(w, "/hello.txt").status == 200
    finally:
        os.chmod(site / "lockeddir", 0o755)


# --- freshness ---------------------------------------------------------------------

def test_modified_file_served_fresh_without_cache_validity(make_weir, site):
    w = serve(make_weir, site, server="open_file_cache_valid = 0")
    p = site / "hello.txt"
    r1 = get(w, "/hello.txt")
    assert r1.body == b"hello, world\n"
    # in place, different size
    p.write_bytes(b"changed content\n")
    r2 = get(w, "/hello.txt")
    assert r2.body == b"changed content\n"
    assert r2.headers["etag"] != r1.headers["etag"]
    # in place, same size (only mtime and content differ)
    os.utime(p, ns=(0, os.stat(p).st_mtime_ns + 1_000_000_000))
    st = os.stat(p)
    p.write_bytes(b"CHANGED CONTENT\n")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    r3 = get(w, "/hello.txt")
    assert r3.body == b"CHANGED CONTENT\n"
    assert r3.headers["etag"] != r2.headers["etag"]
    # replaced by rename (a deploy)
    tmp = site / ".hello.tmp"
    tmp.write_bytes(b"renamed in\n")
    os.rename(tmp, p)
    assert get(w, "/hello.txt").body == b"renamed in\n"
    # a big file replaced by rename
    big = os.urandom(200 * 1024)
    tmp.write_bytes(big)
    get(w, "/100k.bin")
    os.rename(tmp, site / "100k.bin")
    assert get(w, "/100k.bin").body == big
    # removed, then created again
    p.unlink()
    assert get(w, "/hello.txt").status == 404
    p.write_bytes(b"back\n")
    assert get(w, "/hello.txt").body == b"back\n"
    # a new file where there was a 404
    assert get(w, "/new.txt").status == 404
    (site / "new.txt").write_bytes(b"new\n")
    assert get(w, "/new.txt").body == b"new\n"


def test_modified_file_served_fresh_after_default_validity(make_weir, site):
    w = serve(make_weir, site)      # open_file_cache_valid = 1s
    p = site / "hello.txt"
    assert get(w, "/hello.txt").body == b"hello, world\n"
    assert get(w, "/gone-soon.txt").status == 404
    t0 = time.monotonic()
    p.write_bytes(b"a longer, changed hello\n")
    (site / "gone-soon.txt").write_bytes(b"here now\n")

    seen = []

    def fresh():
        r = get(w, "/hello.txt")
        # whatever is served is one consistent version
        assert r.body in (b"hello, world\n", b"a longer, changed hello\n")
        seen.append(r.body)
        return r.body == b"a longer, changed hello\n"

    wait_for(fresh, timeout=5, interval=0.05, what="the new content")
    assert time.monotonic() - t0 < 4
    wait_for(lambda: get(w, "/gone-soon.txt").status == 200, timeout=5,
             interval=0.05, what="the new file")
    # and it stays fresh
    assert get(w, "/hello.txt").body == b"a longer, changed hello\n"


# --- the open file cache ---------------------------------------------------------

def _pipeline(w, targets, extra=()):
    """Pipeline GETs for targets on one connection (the last closes it);
    returns the responses in order."""
    reqs = b""
    for i, t in enumerate(targets):
        h = dict(extra[i]) if extra else {}
        if i == len(targets) - 1:
            h["Connection"] = "close"
        reqs += (f"GET {t} HTTP/1.1\r\nHost: x\r\n" +
                 "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n").encode()
    data = raw(w.port, reqs, timeout=20)
    out = []
    while data:
        head, rest = data.split(b"\r\n\r\n", 1)
        n = int(re.search(rb"\r\nContent-Length: (\d+)", head).group(1))
        out.append((int(head[9:12]), head.decode("latin-1"), rest[:n]))
        data = rest[n:]
    return out


@pytest.mark.parametrize("cache", ["open_file_cache = 0", "open_file_cache = 2"])
def test_cache_off_and_eviction_while_in_flight(make_weir, site, cache):
    # With no cache every entry dies when its response is done; with room
    # for two, entries are evicted while responses that use them are still
    # queued or being sent.  Bodies must be intact either way.
    files = {}
    for i in range(6):
        d = os.urandom(1000 + i * 40000)       # small (in memory) and large
        (site / f"c{i}.bin").write_bytes(d)
        files[f"/c{i}.bin"] = d
    w = serve(make_weir, site, server=cache)
    targets = [f"/c{i % 6}.bin" for i in range(30)]
    extra = [{"Range": "bytes=0-9,500-599,-3"} if i % 5 == 4 else {} for i in range(30)]
    got = _pipeline(w, targets, extra)
    assert len(got) == 30
    for t, x, (status, head, body) in zip(targets, extra, got):
        d = files[t]
        if x:
            assert status == 206
            b = re.search(r"boundary=(\S+)", head).group(1)
            parts = parse_multipart(body, b, len(d))
            assert [p[3] for p in parts] == [d[:10], d[500:600], d[-3:]]
        else:
            assert status == 200 and body == d, t


def test_no_site_for_host_is_421(make_weir, site):
    w = make_weir(f"[site only]\nhosts = a.example, *.b.example\nroot = {site}\n")
    assert get(w, "/hello.txt", host="a.example").status == 200
    assert get(w, "/hello.txt", host="A.EXAMPLE.").status == 200
    assert get(w, "/hello.txt", host="x.b.example").status == 200
    assert get(w, "/hello.txt", host="b.example").status == 421
    r = get(w, "/hello.txt", host="c.example")
    assert r.status == 421 and b"hello" not in r.body
    # the absolute-form authority counts, not Host
    assert get(w, "http://a.example/hello.txt", host="c.example").status == 200
    assert get(w, "http://c.example/hello.txt", host="a.example").status == 421
    wait_for(lambda: " 421 " in w.httperr_log(), timeout=5, what="httperr 421")


# --- large files ---------------------------------------------------------------------

def test_large_file_via_sendfile(make_weir, site):
    big = os.urandom(5 * 1024 * 1024 + 123)
    (site / "big.bin").write_bytes(big)
    w = serve(make_weir, site)
    r = get(w, "/big.bin", timeout=30)
    assert r.status == 200
    assert r.headers["content-length"] == str(len(big))
    assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(big).hexdigest()
    # a range deep inside it
    r = get(w, "/big.bin", headers={"Range": "bytes=3000000-3999999"})
    assert r.status == 206 and r.body == big[3000000:4000000]
    # multipart over it
    r = get(w, "/big.bin", headers={"Range": "bytes=0-99,4000000-4999999,-7"})
    parts = parse_multipart(r.body, r.headers["content-type"].split("=", 1)[1], len(big))
    assert [d for _, _, _, d in parts] == [big[:100], big[4000000:5000000], big[-7:]]


def test_large_file_to_a_slow_reader(make_weir, site):
    # More than the socket buffers hold: sendfile meets EAGAIN and the rest
    # goes out as the client reads; a pipelined request waits its turn.
    big = os.urandom(8 * 1024 * 1024)
    (site / "big.bin").write_bytes(big)
    w = serve(make_weir, site)
    with socket.create_connection(("127.0.0.1", w.port), timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = bytearray()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    out = bytes(out)
    i = out.index(b"\r\n\r\n") + 4
    head = out[:i]
    assert b"200 OK" in head and f"Content-Length: {len(big)}".encode() in head
    assert hashlib.sha256(out[i:i + len(big)]).digest() == hashlib.sha256(big).digest()
    second = parse_one(out[i + len(big):])
    assert second.status == 200 and second.body == b"hello, world\n"


# --- access log -----------------------------------------------------------------------

W3C_FIELDS = ("date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username "
              "c-ip cs-version cs(User-Agent) cs(Referer) cs-host sc-status "
              "sc-substatus sc-win32-status sc-bytes time-taken").split()


def request_lines(w):
    return [ln for ln in w.access_log().splitlines() if ln and not ln.startswith("#")]


def test_access_log_w3c(make_weir, site):
    w = serve(make_weir, site)
    log = w.access_log()
    assert log.startswith("#Software: weir ")
    directives = [ln for ln in log.splitlines() if ln.startswith("#")]
    assert any(ln.startswith("#Version: 1.0") for ln in directives)
    assert any(re.match(r"^#Date: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", ln) for ln in directives)
    fields = [ln for ln in directives if ln.startswith("#Fields: ")]
    assert fields and fields[0].split()[1:] == W3C_FIELDS

    ua = 'Mozilla/5.0 (X11; Linux) "quoted" back\\slash +plus'
    sent = []
    sent.append(raw(w.port, (
        "GET /hello.txt?a=1&b=x+y HTTP/1.1\r\nHost: www.example:8080\r\n"
        f"User-Agent: {ua}\r\nReferer: http://ref.example/p q\r\n"
        "Connection: close\r\n\r\n").encode()))
    sent.append(raw(w.port, b"HEAD /nope.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"))
    sent.append(raw(w.port, b"GET /1k.bin HTTP/1.0\r\nRange: bytes=0-9\r\n\r\n"))
    sent.append(raw(w.port, b"GET /caf%C3%A9 HTTP/1.1\r\nHost: h\r\n"
                            b"User-Agent: \xff\x80\tx\r\nConnection: close\r\n\r\n"))
    lines = wait_for(lambda: len(request_lines(w)) >= 4 and request_lines(w),
                     timeout=5, what="access log lines")
    assert len(lines) == 4, lines
    rows = [ln.split(" ") for ln in lines]
    for row in rows:
        # every field is one token: spaces and controls in values are escaped
        assert len(row) == len(W3C_FIELDS), row
        f = dict(zip(W3C_FIELDS, row))
        assert re.match(r"^\d{4}-\d\d-\d\d$", f["date"]) and re.match(r"^\d\d:\d\d:\d\d$", f["time"])
        assert f["s-ip"] == "127.0.0.1" and f["c-ip"] == "127.0.0.1"
        assert f["s-port"] == str(w.port)
        assert f["cs-username"] == "-"
        assert f["sc-substatus"] == "0" and f["sc-win32-status"] == "0"
        assert f["time-taken"].isdigit()
    f = [dict(zip(W3C_FIELDS, row)) for row in rows]
    assert (f[0]["cs-method"], f[0]["cs-uri-stem"], f[0]["cs-uri-query"]) == ("GET", "/hello.txt", "a=1&b=x%2By")
    assert f[0]["cs-version"] == "HTTP/1.1"
    assert f[0]["cs(User-Agent)"] == "Mozilla/5.0+(X11;+Linux)+%22quoted%22+back%5Cslash+%2Bplus"
    assert f[0]["cs(Referer)"] == "http://ref.example/p+q"
    assert f[0]["cs-host"] == "www.example:8080"
    assert f[0]["sc-status"] == "200"
    assert f[0]["sc-bytes"] == str(len(sent[0]))
    assert (f[1]["cs-method"], f[1]["cs-uri-stem"], f[1]["cs-uri-query"], f[1]["sc-status"]) == ("HEAD", "/nope.txt", "-", "404")
    assert f[1]["sc-bytes"] == str(len(sent[1]))
    assert f[1]["cs(User-Agent)"] == "-" and f[1]["cs(Referer)"] == "-"
    assert (f[2]["cs-version"], f[2]["sc-status"], f[2]["cs-host"]) == ("HTTP/1.0", "206", "-")
    assert f[2]["sc-bytes"] == str(len(sent[2]))
    assert f[3]["cs-uri-stem"] == "/caf%C3%A9" and f[3]["sc-status"] == "404"
    assert f[3]["cs(User-Agent)"] == "%FF%80%09x"


def test_access_log_combined(make_weir, site):
    w = serve(make_weir, site, server="access_log = combined")
    r1 = raw(w.port, b"GET /hello.txt?q=1 HTTP/1.1\r\nHost: h\r\nReferer: http://r.example/\r\n"
                     b"User-Agent: curl/8.0 (x)\r\nConnection: close\r\n\r\n")
    r2 = raw(w.port, b"GET /nope HTTP/1.0\r\n\r\n")
    lines = wait_for(lambda: len(request_lines(w)) >= 2 and request_lines(w), timeout=5,
                     what="access log lines")
    assert not w.access_log().startswith("#")
    assert len(lines) == 2, lines
    rx = re.compile(r'^(\S+) - - \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
                    r'"([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)"$')
    m = rx.match(lines[0])
    assert m, lines[0]
    assert m.group(1) == "127.0.0.1"
    assert m.group(3) == "GET /hello.txt?q=1 HTTP/1.1"
    assert (m.group(4), m.group(5)) == ("200", str(len(r1)))
    assert m.group(6) == "http://r.example/"
    assert m.group(7) == "curl/8.0%20(x)"
    m = rx.match(lines[1])
    assert m, lines[1]
    assert (m.group(3), m.group(4), m.group(5)) == ("GET /nope HTTP/1.0", "404", str(len(r2)))
    assert (m.group(6), m.group(7)) == ("-", "-")


def test_access_log_off(make_weir, site):
    w = serve(make_weir, site, server="access_log = off")
    for _ in range(3):
        assert get(w, "/hello.txt").status == 200
    assert get(w, "/nope").status == 404
    # a front-end error goes to httperr.log through the same flush: once it
    # is there, any access line would be too
    raw(w.port, b"GET / HTTP/1.1\r\n\r\n")      # no Host: 400
    wait_for(lambda: " 400 " in w.httperr_log(), timeout=5, what="httperr line")
    assert request_lines(w) == []
    assert w.stop() == 0
    assert request_lines(w) == []
