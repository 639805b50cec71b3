"""HTTP/1.1 clients that do everything at once: seeded random batches of
pipelined requests, in the clear or over TLS -- static files with ranges
and validators, HEAD, an HTTP pool's and a PHP (FastCGI) pool's answers,
bodies by content-length or chunked (with trailers), Expect: 100-continue,
HTTP/1.0, a request weir must refuse -- written in random pieces, read back
in order, and connections dropped at any point, against one weir with the
default settings, then one that streams bodies and answers
(request_buffering = off, a small response_buffer).

Whatever a client does, weir must not crash, leak or corrupt: every answer
comes in the order of its request with the right bytes (by SHA-256); a
plain request after each connection is answered; the front end is the same
process at the end and weir exits 0 (under ASan, `make asan`, with no
report).  The same again while `weir reload`s follow one another, each
recycling the HTTP pool and adding or removing a route, and while ready
workers of both pools are SIGKILLed (then a GET is still answered, and only
a POST whose worker died may get 502 or be cut).  WEIR_MONKEY_SEEDS
(default 40) and WEIR_MONKEY_BASE run more or other sequences.
"""
import contextlib
import os
import random
import signal
import socket
import time

import pytest

from conftest import Chaos, Reloads, free_port, traversable
from test_http2 import APP, certs, h2conf, sha, tls_ctx  # noqa: F401  (certs: the fixture)
from test_rapidfail import status as weir_status

PHP = "/usr/bin/php-cgi"

SEEDS = int(os.environ.get("WEIR_MONKEY_SEEDS", "40"))
BASE = int(os.environ.get("WEIR_MONKEY_BASE", "0"))


def monkey_site(tmp_path, config):
    """Files of random bytes and PHP scripts under a document root, and the
    configuration body of a site with them, an HTTP pool (/app) and a PHP
    pool: weir's defaults, or ("streaming") bodies and answers streamed
    (request_buffering = off, a small response_buffer).  (body, files)."""
    www = tmp_path / "www"
    www.mkdir()
    files = {}
    for name, size in (("1k.bin", 1024), ("100k.bin", 100 << 10), ("1m.bin", 1 << 20)):
        data = os.urandom(size)
        (www / name).write_bytes(data)
        files["/" + name] = data
    (www / "echo.php").write_text("<?php header('Content-Type: application/octet-stream');\n"
                                  "echo file_get_contents('php://input');\n")
    (www / "hi.php").write_text("<?php echo 'php ', getmypid();\n")
    traversable(www)
    keys = "request_buffering = off\nresponse_buffer = 16k\n" if config == "streaming" else ""
    return (f"[pool app]\ncommand = {APP}\n{keys}"
            f"[pool php]\nkind = fastcgi\ncommand = {PHP} -d post_max_size=64M\n{keys}"
            f"[site main]\nroot = {www}\napp = /app app\nscript = .php php\n"), files


@pytest.fixture(params=["defaults", "streaming"])
def monkey_weir(make_weir, tmp_path, certs, request):
    """A weir on monkey_site(): HTTP/1.1 (w.port), h2c (w.h2port) and TLS
    (w.tls; w.ctx offers h2 by ALPN, w.ctx1 HTTP/1.1 only) listeners."""
    body, files = monkey_site(tmp_path, request.param)
    port, tls = free_port(), free_port()
    cert, key = certs.a
    body += f"certificate = {cert}\ncertificate_key = {key}\n"
    c = h2conf(port, f"listen = 127.0.0.1:{tls} tls\n", body)
    w = make_weir(c["conf_body"], server_extra=c["server_extra"])
    w.h2port, w.tls = port, tls
    w.ctx, w.ctx1 = tls_ctx(certs), tls_ctx(certs, ("http/1.1",))
    w.files = files
    return w


class Reader:
    """HTTP/1.1 responses off a socket, one after another."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def more(self):
        d = self.sock.recv(1 << 16)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self.more()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def take(self, n):
        while len(self.buf) < n:
            self.more()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def response(self, head_only):
        """(status, fields, body), interim answers skipped."""
        while True:
            status = int(self.line().split(b" ", 2)[1])
            fields = {}
            while True:
                ln = self.line()
                if not ln:
                    break
                k, v = ln.split(b":", 1)
                fields[k.strip().lower().decode()] = v.strip().decode()
            if status >= 200:
                break
        if head_only or status in (204, 304):
            return status, fields, b""
        if fields.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                n = int(self.line().split(b";")[0], 16)
                if n == 0:
                    while self.line():
                        pass    # the trailer section
                    return status, fields, body
                body += self.take(n)
                assert self.take(2) == b"\r\n"
        if "content-length" in fields:
            return status, fields, self.take(int(fields["content-length"]))
        body = self.buf     # delimited by the connection's close
        self.buf = b""
        while True:
            try:
                d = self.sock.recv(1 << 16)
            except ConnectionResetError:
                d = b""
            if not d:
                return status, fields, body
            body += d


def request(rng, files):
    """(bytes to send, what to check of its answer)."""
    r = rng.random()
    if r < 0.4:
        path = rng.choice(list(files) + ["/missing", "/"])
        method = rng.choice(["GET", "GET", "GET", "HEAD"])
        extra = ""
        want = {"path": path, "method": method}
        if rng.random() < 0.15:
            # (ranges are GET's only, RFC 9110 §14.2: HEAD gets the whole)
            extra += "Range: bytes=10-2000\r\n"
            want["range"] = method == "GET"
        if rng.random() < 0.1:
            extra += "If-None-Match: *\r\n"
            want["inm"] = True
        return (f"{method} {path} HTTP/1.1\r\nHost: a.test\r\n{extra}\r\n").encode(), want
    if r < 0.6:
        path = rng.choice(["/app/x", "/app/stream?n=40&size=9000", "/app/big?mb=2",
                           "/app/slow?ms=30", "/app/status?code=500", "/app/oddheaders",
                           "/app/missing/", "/hi.php", "/nothere.php"])
        return (f"GET {path} HTTP/1.1\r\nHost: a.test\r\n\r\n").encode(), \
            {"path": path, "method": "GET"}
    if r < 0.65:
        # HTTP/1.0: the connection ends after it unless kept alive
        path = rng.choice(["/1k.bin", "/app/x", "/hi.php"])
        ka = rng.random() < 0.5
        return (f"GET {path} HTTP/1.0\r\n" + ("Connection: keep-alive\r\n" if ka else "") +
                "\r\n").encode(), {"path": path, "method": "GET", "last": not ka}
    if r < 0.68:
        # refused: the connection ends after the 4xx
        bad = rng.choice([b"GET /x HTTP/1.1\r\n\r\n",                 # no Host
                          b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                          b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
                          b"POST /app/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                          b"G\x01T / HTTP/1.1\r\nHost: a\r\n\r\n"])
        return bad, {"path": None, "method": "GET", "bad": True, "last": True}
    body = os.urandom(rng.choice([0, 1, 1000, 70000, 300000]))
    path = rng.choice(["/app/echo", "/app/echostream", "/echo.php"])
    head = f"POST {path} HTTP/1.1\r\nHost: a.test\r\n"
    if rng.random() < 0.1:
        head += "Expect: 100-continue\r\n"
    if rng.random() < 0.6:
        data = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    else:
        data = (head + "Transfer-Encoding: chunked\r\n\r\n").encode()
        pos = 0
        while pos < len(body):
            n = min(rng.choice([1, 100, 5000, 70000]), len(body) - pos)
            data += b"%x\r\n" % n + body[pos:pos + n] + b"\r\n"
            pos += n
        data += b"0\r\n" + (b"X-Check: 1\r\n" if rng.random() < 0.3 else b"") + b"\r\n"
    return data, {"path": path, "method": "POST", "body": body}


def check(want, status, fields, body, files, killing=False):
    """What an answer must be.  While workers are killed, a body sent to one
    that dies is lost (502: a POST is not retried); a GET is retried."""
    p, m = want["path"], want["method"]
    if want.get("bad"):
        assert 400 <= status < 500 and fields.get("connection") == "close", (status, fields)
    elif p in files:
        data = files[p]
        if want.get("inm"):
            assert status == 304, (p, status)
        elif want.get("range"):
            assert status == 206, (p, status)
            if m == "GET":
                assert body == data[10:2001], p
        else:
            assert status == 200, (p, status)
            if m == "GET":
                assert sha(body) == sha(data), (p, len(body))
        if m == "HEAD":
            assert body == b""
    elif p in ("/app/echo", "/app/echostream", "/echo.php"):
        assert status == 200 or (killing and status == 502), (p, status)
        if status == 200:
            assert sha(body) == sha(want["body"]), (p, len(body), len(want["body"]))
    elif p == "/app/x":
        assert status == 200 and body.startswith(b"hello from"), (p, status)
    elif p == "/app/status?code=500":
        assert status == 500, status
    elif p in ("/missing", "/nothere.php"):
        assert status == 404, status
    elif p == "/hi.php":
        assert status == 200 and body.startswith(b"php "), (p, status)


def one_connection(w, rng):
    """A connection (plain or TLS) of pipelined batches, answers read and
    checked in order, now and then dropped in the middle of one."""
    if rng.random() < 0.5:
        s = socket.create_connection(("127.0.0.1", w.port), timeout=30)
    else:
        s = w.ctx1.wrap_socket(socket.create_connection(("127.0.0.1", w.tls), timeout=30),
                               server_hostname="a.test")
    rd = Reader(s)
    try:
        for _ in range(rng.randint(1, 8)):
            batch = []
            for _ in range(rng.randint(1, 5)):
                batch.append(request(rng, w.files))
                if batch[-1][1].get("last"):
                    break       # nothing is read after a request that ends it
            data = b"".join(b for b, _ in batch)
            drop = rng.random() < 0.1
            if drop:
                data = data[:rng.randint(0, len(data))]
            # in random pieces, now and then a moment apart
            pos = 0
            while pos < len(data):
                n = rng.choice([1, 7, 100, 4096, 65536, len(data)])
                s.sendall(data[pos:pos + n])
                pos += n
                if rng.random() < 0.05:
                    time.sleep(0.002)
            if drop:
                return
            for _, want in batch:
                try:
                    status, fields, body = rd.response(want["method"] == "HEAD")
                except (EOFError, ConnectionResetError):
                    if w.killing:
                        return          # a pool's answer cut by its worker's death
                    raise
                check(want, status, fields, body, w.files, w.killing)
                if fields.get("connection", "").lower() == "close" or want.get("last"):
                    return
    finally:
        s.close()


class Kills(Chaos):
    """A ready worker of the HTTP or the PHP pool that has served SIGKILLed
    every 0.3 s (what the OOM killer does; with the default settings such
    deaths never disable a pool); pids from this weir's status.  w.killing
    tells the checks."""

    every = 0.3

    def __enter__(self):
        self.w.killing = True
        return super().__enter__()

    def step(self):
        ready = [x["pid"] for p in weir_status(self.w)["pools"] if p["name"] in ("app", "php")
                 for x in p["workers"] if x["state"] == "ready" and x["requests"] > 0]
        if ready:
            try:
                os.kill(random.choice(ready), signal.SIGKILL)
                self.done.append(1)
            except ProcessLookupError:
                pass

    def check(self):
        self.w.killing = False
        assert self.done, "no worker was killed"


CHAOS = {
    "steady": contextlib.nullcontext,
    # each reload recycles the HTTP pool and adds or takes away a route
    "reloads": lambda w: Reloads(w, "app", route="app = /app2 app"),
    "kills": Kills,
}


def run_monkeys(w, one, chaos):
    """one(w, rng) for every seed, under CHAOS[chaos], each followed by a
    plain request; the front end is never restarted, the pools are never
    disabled, and weir exits 0 (under ASan: with no report)."""
    fe = w.frontend_pid()
    w.killing = False
    with CHAOS[chaos](w):
        for seed in range(SEEDS):
            try:
                one(w, random.Random(BASE + seed))
            except AssertionError as e:
                raise AssertionError(f"seed {BASE + seed}: {e}") from None
            s = socket.create_connection(("127.0.0.1", w.port), timeout=30)
            s.sendall(b"GET /1k.bin HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            code, _, body = Reader(s).response(False)
            s.close()
            assert code == 200 and sha(body) == sha(w.files["/1k.bin"]), (BASE + seed, code)
    assert w.frontend_pid() == fe, "the front end was restarted"
    pools = weir_status(w)["pools"]
    assert all(p["state"] == "started" for p in pools), pools
    assert w.stop() == 0


@pytest.mark.parametrize("chaos", list(CHAOS))
def test_random_pipelined_clients(monkey_weir, chaos):
    run_monkeys(monkey_weir, one_connection, chaos)
