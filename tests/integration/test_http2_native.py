"""HTTP/2 streams answered in place (h2stream.c: h2s_native()): a stream
without a request body that no pool takes -- a static file, a range, a
304, a redirect, an error page -- runs through the same parser, router and
static handler as an HTTP/1.1 request on a connection without a socket,
and its response goes straight to nghttp2 (DATA read from the open-file
cache's descriptor as the client's window allows).  A pool's stream runs
on a connection whose socket is the stream itself (h2s_pipe()): no
socketpair either (test_http2_pool.py checks its behaviour).

What is checked: the answers (bytes by sha256, status, fields), that a
static stream costs the front end no file descriptor and a pool stream
no more than its worker connection, the access log and the counters, and that a stream
whose client gives no window is reset after send_timeout while the others
on its connection are served.
"""
import os
import time

import pytest

from conftest import free_port, wait_for

h2 = pytest.importorskip("h2")
import h2.settings  # noqa: E402
from test_http2 import Client, certs, sha, start, status, tls_ctx  # noqa: E402,F401


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_static_streams_take_no_descriptor_pool_streams_one_at_most(make_weir, site):
    """20 static streams held open by a zero window cost the front end no
    fd; 4 pool streams held the same way cost at most their worker
    connections (1 each: no socketpair); every body is right once the
    window opens."""
    big = site / "1m.bin"
    big.write_bytes(os.urandom(1 << 20))
    w = start(make_weir, root=site, pool=True)
    pid = wait_for(w.frontend_pid, what="front end pid")
    c = Client(w.h2port, window=0)
    c.auto_ack = False
    # one request first: the connection and its buffers are there before counting
    c.get("/hello.txt")
    wait_for(lambda: status(w)["frontend"]["requests"]["HTTP/2.0"] >= 1, what="counted")
    before = nfds(pid)
    static = [c.request("/1m.bin") for _ in range(20)]
    c.wait(lambda: all(c.streams[s]["headers"] is not None for s in static))
    assert all(c.streams[s]["headers"][":status"] == "200" for s in static)
    assert all(len(c.streams[s]["data"]) == 0 for s in static)
    during_static = nfds(pid)
    print(f"front-end fds: {before} before, {during_static} with 20 static streams open")
    assert during_static <= before + 1, (before, during_static)
    pool = [c.request("/app/hello") for _ in range(4)]
    c.wait(lambda: all(c.streams[s]["headers"] is not None for s in pool))
    during_pool = nfds(pid)
    print(f"front-end fds: {during_pool} with 4 pool streams open too")
    assert during_pool <= during_static + 4, (during_static, during_pool)
    c.auto_ack = True
    c.c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
    c.flush()
    assert c.wait(lambda: all(c.done(s) for s in static + pool), timeout=60)
    want = sha(big.read_bytes())
    assert all(sha(c.streams[s]["data"]) == want for s in static)
    assert all(bytes(c.streams[s]["data"]).startswith(b"hello from ") for s in pool)
    c.close()


def test_static_answers_and_their_log_lines(make_weir, site):
    w = start(make_weir, root=site)
    data = (site / "100k.bin").read_bytes()
    c = Client(w.h2port)
    r = c.get("/100k.bin")
    assert r["headers"][":status"] == "200" and r["headers"]["content-length"] == "102400"
    assert sha(r["data"]) == sha(data)
    assert "connection" not in r["headers"]
    # one range, several ranges (multipart), an unsatisfiable one
    r = c.get("/100k.bin", headers=[("range", "bytes=100-199")])
    assert r["headers"][":status"] == "206" and bytes(r["data"]) == data[100:200]
    assert r["headers"]["content-range"] == "bytes 100-199/102400"
    r = c.get("/100k.bin", headers=[("range", "bytes=0-9,50000-50009")])
    assert r["headers"][":status"] == "206"
    ctype = r["headers"]["content-type"]
    assert ctype.startswith("multipart/byteranges; boundary=")
    body = bytes(r["data"])
    assert int(r["headers"]["content-length"]) == len(body)
    assert data[0:10] in body and data[50000:50010] in body
    r = c.get("/100k.bin", headers=[("range", "bytes=200000-")])
    assert r["headers"][":status"] == "416"
    # conditional: 304 without a body; If-Range with another validator: whole file
    etag = c.get("/hello.txt")["headers"]["etag"]
    r = c.get("/hello.txt", headers=[("if-none-match", etag)])
    assert r["headers"][":status"] == "304" and r["data"] == b""
    r = c.get("/100k.bin", headers=[("range", "bytes=0-0"), ("if-range", '"other"')])
    assert r["headers"][":status"] == "200" and len(r["data"]) == len(data)
    # HEAD: the length, no body
    r = c.get("/100k.bin", method="HEAD")
    assert r["headers"][":status"] == "200" and r["headers"]["content-length"] == "102400"
    assert r["data"] == b""
    # a directory without its slash: a redirect; an index; a miss; a bad path
    r = c.get("/sub")
    assert r["headers"][":status"] == "301" and r["headers"]["location"].endswith("/sub/")
    r = c.get("/sub/")
    assert r["headers"][":status"] == "200" and bytes(r["data"]) == b"<h1>sub</h1>\n"
    r = c.get("/nope")
    assert r["headers"][":status"] == "404" and b"404" in r["data"]
    r = c.get("/a/../../etc/passwd")
    assert r["headers"][":status"] == "400"
    # a method the static handler does not serve
    r = c.get("/hello.txt", method="DELETE")
    assert r["headers"][":status"] == "405"
    c.close()
    # each stream's line, in order: method, path, version, status
    want = [("GET", "/100k.bin", "200"), ("GET", "/100k.bin", "206"),
            ("GET", "/100k.bin", "206"), ("GET", "/100k.bin", "416"),
            ("GET", "/hello.txt", "200"), ("GET", "/hello.txt", "304"),
            ("GET", "/100k.bin", "200"), ("HEAD", "/100k.bin", "200"),
            ("GET", "/sub", "301"), ("GET", "/sub/", "200"), ("GET", "/nope", "404"),
            ("GET", "/a/../../etc/passwd", "400"), ("DELETE", "/hello.txt", "405")]

    def lines():
        out = []
        for ln in w.access_log().splitlines():
            if ln.startswith("#"):
                continue
            f = ln.split()
            assert f[9] == "HTTP/2.0", ln
            out.append((f[3], f[4], f[13]))
        return out
    wait_for(lambda: len(lines()) >= len(want), what="every stream in access.log")
    assert lines() == want
    # the 200 of the whole file counts its body
    assert int(w.access_log().splitlines()[4].split()[16]) > 102400
    fe = wait_for(lambda: (s := status(w)["frontend"])["requests"]["HTTP/2.0"] >= len(want) and s,
                  what="the streams counted as HTTP/2 requests")
    assert fe["requests"]["HTTP/1.1"] == 0


def test_stream_without_window_reset_after_send_timeout(make_weir, site):
    """A static stream the client gives no window is reset after
    send_timeout (the setting under test: 2s) and logged; another stream on
    the same connection is answered meanwhile and after."""
    big = site / "1m.bin"
    big.write_bytes(os.urandom(1 << 20))
    w = start(make_weir, root=site, extra="send_timeout = 2s\n")
    c = Client(w.h2port, window=1000)
    c.auto_ack = False
    slow = c.request("/1m.bin")
    c.wait(lambda: len(c.streams[slow]["data"]) >= 1000)
    t0 = time.monotonic()
    fast = c.request("/hello.txt")
    c.wait(lambda: c.done(fast))
    assert bytes(c.streams[fast]["data"]) == b"hello, world\n"
    assert c.wait(lambda: c.done(slow), timeout=30)
    took = time.monotonic() - t0
    assert c.streams[slow]["reset"] is not None and not c.streams[slow]["ended"], took
    assert 1.0 <= took < 20, took
    # the connection goes on
    c.auto_ack = True
    r = c.get("/hello.txt")
    assert r["headers"][":status"] == "200"
    c.close()
    wait_for(lambda: "/1m.bin" in w.access_log() and "Connection_Dropped" in w.httperr_log(),
             what="the reset stream logged")


def test_router_rules_in_place(make_weir, site, tmp_path):
    """Aliases and rewrite and return rules are the router's, whatever the
    protocol: a stream answered in place goes through them."""
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "a.css").write_text("body{}\n")
    os.chmod(assets, 0o755)
    port = free_port()
    make_weir(f"[site main]\nroot = {site}\nalias = /static {assets}\n"
              "rewrite = ^/old/(.*)$ /sub/$1 last\n"
              "rewrite = ^/moved$ /hello.txt permanent\n"
              "return = ^/gone$ 410\n",
              server_extra=f"listen = 127.0.0.1:{port} h2c\n")
    c = Client(port)
    r = c.get("/static/a.css")
    assert r["headers"][":status"] == "200" and bytes(r["data"]) == b"body{}\n"
    r = c.get("/old/index.html")
    assert r["headers"][":status"] == "200" and bytes(r["data"]) == b"<h1>sub</h1>\n"
    r = c.get("/moved")
    assert r["headers"][":status"] == "301"
    assert r["headers"]["location"].endswith("/hello.txt")
    r = c.get("/gone")
    assert r["headers"][":status"] == "410"
    c.close()


def test_tls_stream_in_place_gets_hsts(make_weir, site, certs):
    """Over TLS, a static stream answered in place is an HTTPS response:
    hsts applies to it as to HTTP/1.1 over TLS."""
    cert, key = certs.a
    port = free_port()
    w = make_weir(f"[site a]\nroot = {site}\nhosts = a.test\ncertificate = {cert}\n"
                  f"certificate_key = {key}\nhsts = 1d\n",
                  server_extra=f"listen = 127.0.0.1:{port} tls\n")
    c = Client(port, tls=tls_ctx(certs))
    r = c.get("/100k.bin")
    assert r["headers"][":status"] == "200"
    assert sha(r["data"]) == sha((site / "100k.bin").read_bytes())
    assert r["headers"]["strict-transport-security"] == "max-age=86400"
    c.close()
    wait_for(lambda: " /100k.bin " in w.access_log(), what="the stream logged")
