"""HTTP/1.1 on the wire (RFC 9112): every parser rejection as the client
sees it, persistence and pipelining, bodies nobody reads, timeouts,
httperr.log, and many clients at once.  Raw sockets only, so every byte the
server sends is checked.
"""
import concurrent.futures
import re
import socket
import threading
import time

import pytest

from conftest import wait_for
from test_pools import APP


# --- helpers ---------------------------------------------------------------------

class Sock(socket.socket):
    """A socket that can carry the bytes read past one response."""
    _extra = b""


def connect(w, timeout=10.0, nodelay=False):
    s = Sock(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", w.port))
    if nodelay:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_close(s, timeout=10.0):
    """Everything the server sends until it closes.  Returns (bytes, closed);
    closed is False when the deadline passed first."""
    out = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(out), False
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return bytes(out), False
        except ConnectionResetError:
            return bytes(out), True
        if not chunk:
            return bytes(out), True
        out += chunk


def exchange(w, data, timeout=10.0, shut=False):
    """Send data on a new connection, return (bytes, closed)."""
    with connect(w, timeout) as s:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        return read_until_close(s, timeout)


class Resp:
    def __init__(self, status, lines, body):
        self.status = status
        self.lines = lines
        self.body = body
        self.headers = {}
        for k, v in lines:
            self.headers.setdefault(k.lower(), v)

    def all(self, name):
        return [v for k, v in self.lines if k.lower() == name]

    def __repr__(self):
        return f"<Resp {self.status} {self.lines} {self.body[:120]!r}>"


def split_responses(data, head_only=()):
    """Split a byte stream into responses, strictly: every response has a
    valid status line and is framed by Content-Length (or has no body by
    status); bytes after the last one fail.  head_only: indexes of HEAD
    responses."""
    out = []
    while data:
        assert b"\r\n\r\n" in data, f"trailing bytes {data[:200]!r}"
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"^HTTP/1\.1 (\d{3}) [^\r\n]*$", lines[0])
        assert m, f"bad status line {lines[0]!r}"
        status = int(m.group(1))
        hl = []
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            hl.append((k, v.strip()))
        r = Resp(status, hl, b"")
        assert len(r.all("content-length")) <= 1
        if len(out) in head_only or status in (204, 304) or status < 200:
            n = 0
        else:
            assert "content-length" in r.headers, f"unframed {status}"
            n = int(r.headers["content-length"])
        assert len(rest) >= n, "short body"
        r.body = rest[:n]
        out.append(r)
        data = rest[n:]
    return out


def read_one(s, head=False, timeout=10.0):
    """Read exactly one Content-Length-framed response from s; bytes after
    it are kept in s._extra for the next call."""
    buf = s._extra
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buf:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = s.recv(65536)
        assert chunk, f"closed mid-header: {buf!r}"
        buf += chunk
    head_b, rest = buf.split(b"\r\n\r\n", 1)
    r = split_responses(head_b + b"\r\n\r\n", head_only=(0,))[0]
    n = 0 if head or r.status in (204, 304) else int(r.headers.get("content-length", 0))
    while len(rest) < n:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = s.recv(65536)
        assert chunk, "closed mid-body"
        rest += chunk
    r.body = rest[:n]
    s._extra = rest[n:]
    return r


def assert_nothing_more(s, timeout=0.3):
    """No unsolicited bytes: a short read deadline, not a sleep."""
    assert s._extra == b""
    s.settimeout(timeout)
    try:
        d = s.recv(1)
        assert d == b"", f"unexpected bytes {d!r}"
        raise AssertionError("connection closed unexpectedly")
    except socket.timeout:
        pass


def GET(path="/hello.txt", host="x", extra="", version="HTTP/1.1"):
    return f"GET {path} {version}\r\nHost: {host}\r\n{extra}\r\n".encode()


@pytest.fixture
def w(make_weir, site):
    for i in range(10):
        (site / f"f{i}.txt").write_bytes(f"file number {i}\n".encode())
    return make_weir(f"[site main]\nroot = {site}\n")


# --- parser rejections ---------------------------------------------------------------

H = "Host: x\r\n"
REJECTS = [
    # request line
    ("double space", f"GET  /hello.txt HTTP/1.1\r\n{H}\r\n", 400),
    ("space before version", f"GET /hello.txt  HTTP/1.1\r\n{H}\r\n", 400),
    ("leading space", f" GET /hello.txt HTTP/1.1\r\n{H}\r\n", 400),
    ("tab separator", f"GET\t/hello.txt HTTP/1.1\r\n{H}\r\n", 400),
    ("no version", f"GET /hello.txt\r\n{H}\r\n", 400),
    ("lowercase version", f"GET /hello.txt http/1.1\r\n{H}\r\n", 400),
    ("bad version", f"GET /hello.txt HTTP/1.x\r\n{H}\r\n", 400),
    ("version trailing space", f"GET /hello.txt HTTP/1.1 \r\n{H}\r\n", 400),
    ("version too long", f"GET /hello.txt HTTP/1.11\r\n{H}\r\n", 400),
    ("bad method char", f"G(T /hello.txt HTTP/1.1\r\n{H}\r\n", 400),
    ("fragment", f"GET /hello.txt#x HTTP/1.1\r\n{H}\r\n", 400),
    ("space in target", f"GET /hello .txt HTTP/1.1\r\n{H}\r\n", 400),
    ("high byte in target", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("DEL in target", f"GET /a\x7f HTTP/1.1\r\n{H}\r\n", 400),
    ("bad escape in target", f"GET /a%zz HTTP/1.1\r\n{H}\r\n", 400),
    ("backslash in target", f"GET /a\\b HTTP/1.1\r\n{H}\r\n", 400),
    ("asterisk with GET", f"GET * HTTP/1.1\r\n{H}\r\n", 400),
    ("relative target", f"GET hello.txt HTTP/1.1\r\n{H}\r\n", 400),
    ("other scheme", f"GET ftp://x/hello.txt HTTP/1.1\r\n{H}\r\n", 400),
    ("userinfo in absolute-form", f"GET http://u@x/hello.txt HTTP/1.1\r\n{H}\r\n", 400),
    ("authority-form with GET", f"GET x:80 HTTP/1.1\r\n{H}\r\n", 400),
    ("bare LF after request line", f"GET /hello.txt HTTP/1.1\n{H}\r\n", 400),
    ("bare CR in request line", f"GET /hello.txt HTTP/1.1\r{H}\r\n", 400),
    ("too many empty lines", "\r\n" * 9 + f"GET /hello.txt HTTP/1.1\r\n{H}\r\n", 400),
    ("bare LF before request", f"\nGET /hello.txt HTTP/1.1\r\n{H}\r\n", 400),
    # field lines
    ("obs-fold", f"GET /hello.txt HTTP/1.1\r\n{H}X-A: a\r\n b\r\n\r\n", 400),
    ("obs-fold tab", f"GET /hello.txt HTTP/1.1\r\n{H}X-A: a\r\n\tb\r\n\r\n", 400),
    ("space after request line", f"GET /hello.txt HTTP/1.1\r\n {H}\r\n", 400),
    ("whitespace before colon", "GET /hello.txt HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    ("tab before colon", f"GET /hello.txt HTTP/1.1\r\n{H}X-A\t: a\r\n\r\n", 400),
    ("NUL in value", f"GET /hello.txt HTTP/1.1\r\n{H}X-A: a\x00b\r\n\r\n", 400),
    ("NUL in name", f"GET /hello.txt HTTP/1.1\r\n{H}X\x00A: b\r\n\r\n", 400),
    ("control in value", f"GET /hello.txt HTTP/1.1\r\n{H}X-A: a\x01b\r\n\r\n", 400),
    ("DEL in value", f"GET /hello.txt HTTP/1.1\r\n{H}X-A: a\x7fb\r\n\r\n", 400),
    ("bare LF in field", f"GET /hello.txt HTTP/1.1\r\n{H}X-A: a\nX-B: b\r\n\r\n", 400),
    ("bare CR in field", f"GET /hello.txt HTTP/1.1\r\n{H}X-A: a\rb\r\n\r\n", 400),
    ("bare LF ends headers", f"GET /hello.txt HTTP/1.1\r\n{H}\n", 400),
    ("no colon", f"GET /hello.txt HTTP/1.1\r\n{H}X-A\r\n\r\n", 400),
    ("empty name", f"GET /hello.txt HTTP/1.1\r\n{H}: a\r\n\r\n", 400),
    ("bad name char", f"GET /hello.txt HTTP/1.1\r\n{H}X(A): a\r\n\r\n", 400),
    # Host
    ("missing Host", "GET /hello.txt HTTP/1.1\r\nX-A: a\r\n\r\n", 400),
    ("duplicate Host", f"GET /hello.txt HTTP/1.1\r\n{H}{H}\r\n", 400),
    ("duplicate Host differing", f"GET /hello.txt HTTP/1.1\r\n{H}Host: y\r\n\r\n", 400),
    ("duplicate Host 1.0", f"GET /hello.txt HTTP/1.0\r\n{H}{H}\r\n", 400),
    ("empty Host", "GET /hello.txt HTTP/1.1\r\nHost:\r\n\r\n", 400),
    ("Host with space", "GET /hello.txt HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("Host with slash", "GET /hello.txt HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    ("Host with userinfo", "GET /hello.txt HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
    ("Host bad port", "GET /hello.txt HTTP/1.1\r\nHost: a:99999\r\n\r\n", 400),
    ("Host port not digits", "GET /hello.txt HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400),
    ("Host unclosed IPv6", "GET /hello.txt HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
    ("Host bad IPv6", "GET /hello.txt HTTP/1.1\r\nHost: [1:2:3]\r\n\r\n", 400),
    # framing
    ("CL and TE", f"POST /hello.txt HTTP/1.1\r\n{H}Content-Length: 5\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("TE and CL", f"POST /hello.txt HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n"
                  "Content-Length: 5\r\n\r\n0\r\n\r\n", 400),
    ("bad CL", f"POST /hello.txt HTTP/1.1\r\n{H}Content-Length: abc\r\n\r\n", 400),
    ("negative CL", f"POST /hello.txt HTTP/1.1\r\n{H}Content-Length: -1\r\n\r\n", 400),
    ("plus CL", f"POST /hello.txt HTTP/1.1\r\n{H}Content-Length: +1\r\n\r\n", 400),
    ("empty CL", f"POST /hello.txt HTTP/1.1\r\n{H}Content-Length:\r\n\r\n", 400),
    ("CL list", f"POST /hello.txt HTTP/1.1\r\n{H}Content-Length: 1,1\r\n\r\nx", 400),
    ("CL with space", f"POST /hello.txt HTTP/1.1\r\n{H}Content-Length: 1 1\r\n\r\nx", 400),
    ("CL overflow", f"POST /hello.txt HTTP/1.1\r\n{H}Content-Length: 99999999999999999999\r\n\r\n", 400),
    ("duplicate CL", f"POST /hello.txt HTTP/1.1\r\n{H}Content-Length: 1\r\n"
                     "Content-Length: 1\r\n\r\nx", 400),
    ("differing CL", f"POST /hello.txt HTTP/1.1\r\n{H}Content-Length: 1\r\n"
                     "Content-Length: 2\r\n\r\nxx", 400),
    ("chunked twice", f"POST /hello.txt HTTP/1.1\r\n{H}Transfer-Encoding: chunked, chunked\r\n\r\n", 400),
    ("chunked not last", f"POST /hello.txt HTTP/1.1\r\n{H}Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ("TE in 1.0", "POST /hello.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("bad Connection", f"GET /hello.txt HTTP/1.1\r\n{H}Connection: a b\r\n\r\n", 400),
    # 501, 505, 417
    ("unknown method", f"BREW /hello.txt HTTP/1.1\r\n{H}\r\n", 501),
    ("lowercase method", f"get /hello.txt HTTP/1.1\r\n{H}\r\n", 501),
    ("unknown coding", f"POST /hello.txt HTTP/1.1\r\n{H}Transfer-Encoding: gzip\r\n\r\n", 501),
    ("coding before chunked", f"POST /hello.txt HTTP/1.1\r\n{H}Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    ("identity coding", f"POST /hello.txt HTTP/1.1\r\n{H}Transfer-Encoding: identity\r\n\r\n", 501),
    ("HTTP/2.0", f"GET /hello.txt HTTP/2.0\r\n{H}\r\n", 505),
    ("HTTP/0.9", f"GET /hello.txt HTTP/0.9\r\n{H}\r\n", 505),
    ("HTTP/3.1", f"GET /hello.txt HTTP/3.1\r\n{H}\r\n", 505),
    ("unknown expectation", f"GET /hello.txt HTTP/1.1\r\n{H}Expect: teapot\r\n\r\n", 417),
    # limits
    ("long target", "GET /" + "a" * 9000 + f" HTTP/1.1\r\n{H}\r\n", 414),
    ("target longer than the header limit", "GET /" + "a" * 40000 + f" HTTP/1.1\r\n{H}\r\n", 414),
    ("long query", "GET /?" + "q" * 9000 + f" HTTP/1.1\r\n{H}\r\n", 414),
    ("huge header", f"GET /hello.txt HTTP/1.1\r\n{H}X-Big: " + "b" * 40000 + "\r\n\r\n", 431),
    ("many headers", f"GET /hello.txt HTTP/1.1\r\n{H}" +
     "".join(f"X-{i}: v\r\n" for i in range(120)) + "\r\n", 431),
    ("many small headers over size", f"GET /hello.txt HTTP/1.1\r\n{H}" +
     "".join(f"X-{i}: " + "v" * 400 + "\r\n" for i in range(90)) + "\r\n", 431),
]


@pytest.mark.parametrize("why,req,status", REJECTS, ids=[r[0] for r in REJECTS])
def test_parser_rejection(w, why, req, status):
    data = req if isinstance(req, bytes) else req.encode("latin-1")
    out, closed = exchange(w, data)
    assert closed, f"server did not close after {status}: {out!r}"
    rs = split_responses(out)
    assert len(rs) == 1, rs
    r = rs[0]
    assert r.status == status, (why, r)
    assert r.headers.get("connection") == "close"
    assert r.headers["content-length"] == str(len(r.body)) and r.body
    assert r.headers["content-type"].startswith("text/html")
    assert str(status).encode() in r.body
    if status == 501:
        assert "allow" in r.headers
    # nothing of the file leaked
    assert b"hello, world" not in out


ACCEPTS = [
    ("plain", f"GET /hello.txt HTTP/1.1\r\n{H}\r\n"),
    ("HTTP/1.0 without Host", "GET /hello.txt HTTP/1.0\r\n\r\n"),
    ("HTTP/1.0 empty Host", "GET /hello.txt HTTP/1.0\r\nHost:\r\n\r\n"),
    ("HTTP/1.9 is 1.1", f"GET /hello.txt HTTP/1.9\r\n{H}\r\n"),
    ("8 empty lines first", "\r\n" * 8 + f"GET /hello.txt HTTP/1.1\r\n{H}\r\n"),
    ("Host with port", "GET /hello.txt HTTP/1.1\r\nHost: x:8080\r\n\r\n"),
    ("Host empty port", "GET /hello.txt HTTP/1.1\r\nHost: x:\r\n\r\n"),
    ("Host IPv4", "GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("Host IPv6", "GET /hello.txt HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"),
    ("Host OWS", "GET /hello.txt HTTP/1.1\r\nHost: \t x \t\r\n\r\n"),
    ("Host case", "GET /hello.txt HTTP/1.1\r\nhOsT: x\r\n\r\n"),
    ("obs-text in value", b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-A: caf\xc3\xa9 \xff\r\n\r\n"),
    ("HTAB in value", f"GET /hello.txt HTTP/1.1\r\n{H}X-A: a\tb\r\n\r\n"),
    ("empty value", f"GET /hello.txt HTTP/1.1\r\n{H}X-A:\r\n\r\n"),
    ("all tchars in name", f"GET /hello.txt HTTP/1.1\r\n{H}!#$%&'*+-.^_`|~09az: v\r\n\r\n"),
    ("CL zero", f"GET /hello.txt HTTP/1.1\r\n{H}Content-Length: 0\r\n\r\n"),
    ("CL leading zeros", f"GET /hello.txt HTTP/1.1\r\n{H}Content-Length: 007\r\n\r\n1234567"),
    ("TE case and empty elements", f"GET /hello.txt HTTP/1.1\r\n{H}Transfer-Encoding: , Chunked\r\n\r\n0\r\n\r\n"),
    ("Connection list", f"GET /hello.txt HTTP/1.1\r\n{H}Connection: keep-alive, Upgrade, x-foo\r\n\r\n"),
    ("Expect on 1.0 ignored", "GET /hello.txt HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"),
    ("query with odd chars", f"GET /hello.txt?a=/b?c:@!$&'()*+,;=%20 HTTP/1.1\r\n{H}\r\n"),
    ("max headers", f"GET /hello.txt HTTP/1.1\r\n{H}" + "".join(f"X-{i}: v\r\n" for i in range(99)) + "\r\n"),
]


@pytest.mark.parametrize("why,req", ACCEPTS, ids=[a[0] for a in ACCEPTS])
def test_parser_accepts(w, why, req):
    data = req if isinstance(req, bytes) else req.encode("latin-1")
    with connect(w) as s:
        s.sendall(data)
        r = read_one(s)
        assert r.status == 200 and r.body == b"hello, world\n", (why, r)
        if b"HTTP/1.0" not in data:
            # the connection is still good
            s.sendall(GET("/f1.txt"))
            assert read_one(s).body == b"file number 1\n"


MORE_REJECTS = [
    ("TE chunked on two lines", f"POST / HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("TE chunked then gzip lines", f"POST / HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n"
                                   "Transfer-Encoding: gzip\r\n\r\n", 400),
    ("TE gzip then chunked lines", f"POST / HTTP/1.1\r\n{H}Transfer-Encoding: gzip\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n", 501),
    ("empty TE", f"POST / HTTP/1.1\r\n{H}Transfer-Encoding:\r\n\r\n", 400),
    ("TE with CL 0", f"POST / HTTP/1.1\r\n{H}Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("Expect list with other", f"GET / HTTP/1.1\r\n{H}Expect: 100-continue, foo\r\n\r\n", 417),
    ("Expect other on 1.0", "GET / HTTP/1.0\r\nExpect: foo\r\n\r\n", 417),
    ("Host in absolute-form only", "GET http://x/hello.txt HTTP/1.1\r\n\r\n", 400),
]


@pytest.mark.parametrize("why,req,status", MORE_REJECTS, ids=[r[0] for r in MORE_REJECTS])
def test_parser_rejection_framing(w, why, req, status):
    out, closed = exchange(w, req.encode("latin-1"))
    assert closed
    rs = split_responses(out)
    assert [r.status for r in rs] == [status], (why, rs)
    assert rs[0].headers["connection"] == "close"


def test_empty_lines_between_pipelined_requests(w):
    # a client that ends a body with an extra CRLF (RFC 9112 §2.2)
    with connect(w) as s:
        s.sendall(b"POST /f1.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab\r\n"
                  + GET("/f2.txt") + b"\r\n\r\n" + GET("/f3.txt"))
        assert read_one(s).status == 405
        assert read_one(s).body == b"file number 2\n"
        assert read_one(s).body == b"file number 3\n"
        assert_nothing_more(s)


def test_rejection_after_pipelined_good_request(w):
    out, closed = exchange(w, GET("/f1.txt") + b"GET /f2.txt HTTP/1.1\r\nHost : x\r\n\r\n"
                           + GET("/f3.txt"))
    assert closed
    rs = split_responses(out)
    assert [r.status for r in rs] == [200, 400]
    assert rs[0].body == b"file number 1\n"
    assert "connection" not in rs[0].headers
    assert rs[1].headers["connection"] == "close"


def test_body_over_max_body(make_weir, site):
    w = make_weir(f"[site main]\nroot = {site}\n", server_extra="max_body = 1k")
    out, closed = exchange(w, b"POST /hello.txt HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Length: 1025\r\n\r\n" + b"x" * 1025)
    assert closed
    rs = split_responses(out)
    assert [r.status for r in rs] == [413]
    assert rs[0].headers["connection"] == "close"
    # the limit itself is fine: the body is read and dropped, the
    # connection stays usable
    with connect(w) as s:
        s.sendall(b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n"
                  + b"x" * 1024 + GET())
        assert read_one(s).status == 405
        r = read_one(s)
        assert r.status == 200 and r.body == b"hello, world\n"


def test_413_before_the_body_arrives(make_weir, site):
    # the client learns at once, without sending the body
    w = make_weir(f"[site main]\nroot = {site}\n", server_extra="max_body = 1k")
    with connect(w) as s:
        s.sendall(b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        r = read_one(s)
        assert r.status == 413 and r.headers["connection"] == "close"
        _, closed = read_until_close(s, 5)
        assert closed


def test_error_responses_never_echo_request_bytes(w):
    for req in (b"GET /<script>alert(1)</script> HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /%3Cscript%3Ealert(1)%3C/script%3E HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"<script> / HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: <script>\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: x\r\nX-<script>: 1\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: x\r\nExpect: <script>\r\n\r\n",
                b"SCRIPT /<script> HTTP/1.1\r\nHost: x\r\n\r\n"):
        out, closed = exchange(w, req)
        assert closed
        assert b"script" not in out.lower(), out
        assert split_responses(out)[0].status in (400, 404, 417, 501)


# --- persistence -----------------------------------------------------------------

def test_keepalive_two_requests(w):
    with connect(w) as s:
        s.sendall(GET("/f1.txt"))
        r = read_one(s)
        assert r.status == 200 and r.body == b"file number 1\n"
        assert "connection" not in r.headers
        s.sendall(GET("/f2.txt"))
        r = read_one(s)
        assert r.body == b"file number 2\n"
        assert_nothing_more(s)


def test_connection_close(w):
    with connect(w) as s:
        s.sendall(GET(extra="Connection: close\r\n"))
        r = read_one(s)
        assert r.status == 200 and r.headers["connection"] == "close"
        rest, closed = read_until_close(s, 5)
        assert closed and rest == b"" and s._extra == b""
    # "close" among other options counts too
    out, closed = exchange(w, GET(extra="Connection: foo, Close\r\n"))
    assert closed and split_responses(out)[0].headers["connection"] == "close"


def test_http10(w):
    # without keep-alive: answered, then closed
    out, closed = exchange(w, b"GET /hello.txt HTTP/1.0\r\n\r\n")
    assert closed
    rs = split_responses(out)
    assert len(rs) == 1 and rs[0].status == 200 and rs[0].body == b"hello, world\n"
    assert rs[0].headers.get("connection") != "keep-alive"
    # with keep-alive: the response says so, and the connection persists
    with connect(w) as s:
        s.sendall(b"GET /f1.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = read_one(s)
        assert r.status == 200 and r.headers["connection"] == "keep-alive"
        assert r.body == b"file number 1\n"
        s.sendall(b"GET /f2.txt HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        r = read_one(s)
        assert r.headers["connection"] == "keep-alive" and r.body == b"file number 2\n"
        # errors keep it too when the framing is fine
        s.sendall(b"GET /nope HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = read_one(s)
        assert r.status == 404 and r.headers["connection"] == "keep-alive"
        s.sendall(b"GET /f3.txt HTTP/1.0\r\n\r\n")
        r = read_one(s)
        assert r.body == b"file number 3\n"
        _, closed = read_until_close(s, 5)
        assert closed


def test_pipelining(w):
    reqs = b"".join(GET(f"/f{i}.txt") for i in range(10))
    with connect(w) as s:
        s.sendall(reqs)
        for i in range(10):
            r = read_one(s)
            assert r.status == 200 and r.body == f"file number {i}\n".encode()
        assert_nothing_more(s)
    # mixed: HEAD, 404, big file, redirect, then close
    reqs = (b"HEAD /f1.txt HTTP/1.1\r\nHost: x\r\n\r\n" + GET("/nope") + GET("/100k.bin")
            + GET("/sub") + GET("/f2.txt", extra="Connection: close\r\n") + GET("/f3.txt"))
    out, closed = exchange(w, reqs)
    assert closed
    rs = split_responses(out, head_only=(0,))
    assert [r.status for r in rs] == [200, 404, 200, 301, 200]
    assert rs[0].headers["content-length"] == "14" and rs[0].body == b""
    assert len(rs[2].body) == 100 * 1024
    assert rs[4].body == b"file number 2\n"


def test_pipelining_many_small_responses(w):
    # more responses than one output buffer holds
    n = 300
    out, closed = exchange(w, GET("/f7.txt") * (n - 1) + GET("/f8.txt", extra="Connection: close\r\n"))
    assert closed
    rs = split_responses(out)
    assert len(rs) == n
    assert all(r.body == b"file number 7\n" for r in rs[:-1])
    assert rs[-1].body == b"file number 8\n"


def test_large_headers_and_long_pipelines(w):
    # a header section bigger than one input block (the buffer grows), and
    # pipelines longer than it (the unread rest moves to the front)
    big = GET("/f1.txt", extra="X-Big: " + "b" * 20000 + "\r\n")
    with connect(w) as s:
        s.sendall(big + GET("/f2.txt") + big)
        assert read_one(s).body == b"file number 1\n"
        assert read_one(s).body == b"file number 2\n"
        assert read_one(s).body == b"file number 1\n"
        reqs = b"".join(GET(f"/f{i % 10}.txt", extra="X-Pad: " + "p" * (i % 97) + "\r\n")
                        for i in range(1000))
        s.sendall(reqs)
        for i in range(1000):
            r = read_one(s)
            assert r.status == 200 and r.body == f"file number {i % 10}\n".encode(), i
        assert_nothing_more(s)
    # a header section at the limit is still fine, one byte more is 431
    head = b"GET /f3.txt HTTP/1.1\r\nHost: x\r\nX-Fill: "
    fill = 32 * 1024 - len(head) - 4
    out, closed = exchange(w, head + b"f" * fill + b"\r\n\r\n" + GET("/f4.txt", extra="Connection: close\r\n"))
    assert closed and [r.body for r in split_responses(out)] == [b"file number 3\n", b"file number 4\n"]
    out, closed = exchange(w, head + b"f" * (fill + 1) + b"\r\n\r\n")
    assert closed and split_responses(out)[0].status == 431


def test_pipelined_request_split_across_sends(w):
    with connect(w, nodelay=True) as s:
        third = GET("/f3.txt")
        s.sendall(GET("/f1.txt") + GET("/f2.txt") + third[:11])
        assert read_one(s).body == b"file number 1\n"
        assert read_one(s).body == b"file number 2\n"
        s.sendall(third[11:20])
        s.sendall(third[20:] + GET("/f4.txt")[:5])
        assert read_one(s).body == b"file number 3\n"
        s.sendall(GET("/f4.txt")[5:])
        assert read_one(s).body == b"file number 4\n"
        assert_nothing_more(s)


def test_pipelined_answers_keep_their_order_around_a_pools(make_weir, site):
    """Answers weir makes itself are batched in the output buffer while the
    next pipelined request is parsed; one a pool takes must not overtake
    them (RFC 9112 §9.3.2), nor may its 100 Continue.  (It did: the pool's
    answer went out first, the batched ones after it.)"""
    (site / "f.txt").write_bytes(b"file\n")
    w = make_weir(f"[pool app]\ncommand = {APP}\n[site main]\nroot = {site}\napp = /app app\n")
    out, closed = exchange(w, GET("/nope") + GET("/f.txt") + GET("/app/x") + GET("/nope") +
                           GET("/app/x") + GET("/f.txt", extra="Connection: close\r\n"))
    assert closed
    rs = split_responses(out)
    assert [r.status for r in rs] == [404, 200, 200, 404, 200, 200]
    assert rs[1].body == rs[5].body == b"file\n"
    assert rs[2].body.startswith(b"hello from") and rs[4].body.startswith(b"hello from")
    # 100 Continue to a pipelined request goes after the answers before it
    body = b"x" * 1000
    with connect(w) as s:
        s.sendall(GET("/nope") + b"POST /app/echo HTTP/1.1\r\nHost: x\r\n"
                  b"Expect: 100-continue\r\nContent-Length: 1000\r\n\r\n")
        assert read_one(s).status == 404
        assert read_one(s).status == 100
        s.sendall(body)
        r = read_one(s)
        assert r.status == 200 and r.body == body


def test_one_byte_at_a_time(w):
    req = (b"\r\nGET /f5.txt?q=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n"
           b"If-None-Match: \"nope\"\r\n\r\n")
    with connect(w, nodelay=True) as s:
        for i in range(len(req)):
            s.sendall(req[i:i + 1])
        r = read_one(s)
        assert r.status == 200 and r.body == b"file number 5\n"
        assert_nothing_more(s)
        # and again on the same connection, including a body
        req2 = (b"POST /f6.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                + GET("/f6.txt"))
        for i in range(len(req2)):
            s.sendall(req2[i:i + 1])
        assert read_one(s).status == 405
        assert read_one(s).body == b"file number 6\n"
        assert_nothing_more(s)


def test_split_at_every_byte_boundary(w):
    req = GET("/f9.txt", extra="Accept: */*\r\n")
    with connect(w, nodelay=True) as s:
        for i in range(1, len(req)):
            s.sendall(req[:i])
            s.sendall(req[i:])
            r = read_one(s)
            assert r.status == 200 and r.body == b"file number 9\n", i
        assert_nothing_more(s)


def test_bodies_are_discarded(w):
    with connect(w, nodelay=True) as s:
        # Content-Length body on a GET, then the next request
        s.sendall(b"GET /f1.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde" + GET("/f2.txt"))
        assert read_one(s).body == b"file number 1\n"
        assert read_one(s).body == b"file number 2\n"
        # a body that looks like a request is not one
        smuggled = GET("/f9.txt")
        s.sendall(b"GET /f1.txt HTTP/1.1\r\nHost: x\r\nContent-Length: "
                  + str(len(smuggled)).encode() + b"\r\n\r\n" + smuggled + GET("/f3.txt"))
        assert read_one(s).body == b"file number 1\n"
        assert read_one(s).body == b"file number 3\n"
        # chunked, with extensions and trailers, in pieces
        s.sendall(b"GET /f4.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert read_one(s).body == b"file number 4\n"
        s.sendall(b"5;ext=1\r\nhello\r\n")
        s.sendall(b"6\r\n world\r\n0\r\nX-Trailer: t\r\n")
        s.sendall(b"\r\n" + GET("/f5.txt"))
        assert read_one(s).body == b"file number 5\n"
        # a chunked body that contains a request
        s.sendall(b"POST /f6.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  + b"%x\r\n" % len(smuggled) + smuggled + b"\r\n0\r\n\r\n" + GET("/f7.txt"))
        r = read_one(s)
        assert r.status == 405 and "GET" in r.headers["allow"]
        assert read_one(s).body == b"file number 7\n"
        # a body larger than the input buffer, sent after the response
        s.sendall(b"GET /f8.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n")
        assert read_one(s).body == b"file number 8\n"
        s.sendall(b"z" * 200000 + GET("/f0.txt"))
        assert read_one(s).body == b"file number 0\n"
        assert_nothing_more(s)


def test_bad_chunked_body_closes(w):
    with connect(w) as s:
        s.sendall(b"POST /f1.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"zz\r\nhello\r\n0\r\n\r\n" + GET("/f2.txt"))
        r = read_one(s)
        assert r.status == 405
        rest, closed = read_until_close(s, 5)
        assert closed and rest == b"" and s._extra == b""


def test_chunked_body_over_max_body(make_weir, site):
    # The response was sent before the body came; once the body passes
    # max_body the connection ends, but the response must not be lost to
    # a reset.
    w = make_weir(f"[site main]\nroot = {site}\n", server_extra="max_body = 1k")
    chunk = b"%x\r\n" % 65536 + b"c" * 65536 + b"\r\n"
    with connect(w) as s:
        s.sendall(b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(32):
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = read_one(s)
        assert r.status == 405
        _, closed = read_until_close(s, 5)
        assert closed


def test_expect_100_continue(w):
    # a static path answers at once with its final status and closes:
    # the body may never come, so the stream cannot be framed after it
    for req, status in ((b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                         b"Expect: 100-continue\r\n\r\n", 405),
                        (b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                         b"Expect: 100-Continue\r\n\r\n", 200),
                        (b"PUT /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         b"Expect: 100-continue\r\n\r\n", 405)):
        with connect(w) as s:
            s.sendall(req)
            out, closed = read_until_close(s, 5)
        assert closed, out
        rs = split_responses(out)
        assert [r.status for r in rs] == [status]
        assert rs[0].headers["connection"] == "close"
    # without a body, Expect changes nothing
    with connect(w) as s:
        s.sendall(GET(extra="Expect: 100-continue\r\n"))
        r = read_one(s)
        assert r.status == 200 and "connection" not in r.headers
        assert_nothing_more(s)


def test_options_connect_post(w):
    with connect(w) as s:
        s.sendall(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
        r = read_one(s)
        assert r.status == 204 and "GET" in r.headers["allow"]
        assert r.body == b""
        s.sendall(b"OPTIONS /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        r = read_one(s)
        assert r.status == 204 and r.headers["allow"] == "GET, HEAD, OPTIONS"
        s.sendall(b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab")
        r = read_one(s)
        assert r.status == 405
        assert set(a.strip() for a in r.headers["allow"].split(",")) >= {"GET", "HEAD"}
        assert "POST" not in r.headers["allow"]
        for m in (b"PUT", b"DELETE", b"PATCH", b"PROPFIND", b"TRACE"):
            s.sendall(m + b" /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            r = read_one(s)
            assert r.status == 405, m
        s.sendall(GET())
        assert read_one(s).body == b"hello, world\n"
        assert_nothing_more(s)
    out, closed = exchange(w, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
                              b"Connection: close\r\n\r\n")
    rs = split_responses(out)
    assert rs[0].status == 405 and "allow" in rs[0].headers
    # CONNECT needs the authority form
    out, closed = exchange(w, b"CONNECT /x HTTP/1.1\r\nHost: x\r\n\r\n")
    assert closed and split_responses(out)[0].status == 400


# --- timeouts and limits -----------------------------------------------------------

def test_header_timeout(make_weir, site):
    w = make_weir(f"[site main]\nroot = {site}\n", server_extra="header_timeout = 1s")
    with connect(w) as s:
        t0 = time.monotonic()
        s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n")
        out, closed = read_until_close(s, 10)
        took = time.monotonic() - t0
    assert closed
    rs = split_responses(out)
    assert [r.status for r in rs] == [408] and rs[0].headers["connection"] == "close"
    assert 0.8 <= took < 5, took
    # a slow sender that keeps sending is still cut off: the limit is for
    # the whole header section
    with connect(w, nodelay=True) as s:
        t0 = time.monotonic()
        s.sendall(b"GET /hello.txt HTTP/1.1\r\n")
        closed = False
        out = b""
        while time.monotonic() - t0 < 8:
            try:
                s.sendall(b"X-A: b\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            s.settimeout(0.2)
            try:
                d = s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                closed = True
                break
            out += d
            if not d:
                closed = True
                break
        assert closed or b" 408 " in out
        assert time.monotonic() - t0 < 5
    wait_for(lambda: "Timer_HeaderWait" in w.httperr_log(), timeout=5, what="httperr 408")


def test_header_timeout_after_a_discarded_body(make_weir, site):
    # the request after a dropped body gets its own header clock, not what
    # is left of the body's
    w = make_weir(f"[site main]\nroot = {site}\n",
                  server_extra="header_timeout = 1s\nbody_timeout = 30s")
    with connect(w, nodelay=True) as s:
        s.sendall(b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
        assert read_one(s).status == 405
        t0 = time.monotonic()
        s.sendall(b"abcde" + b"GET /hello.txt HTTP/1.1\r\n")
        out, closed = read_until_close(s, 10)
        took = time.monotonic() - t0
    assert closed, "not closed within 10 s"
    assert [r.status for r in split_responses(out)] == [408]
    assert took < 5, took


def test_idle_connection_says_nothing_on_header_timeout(make_weir, site):
    # an idle connection (no byte of a request) is closed without a 408
    w = make_weir(f"[site main]\nroot = {site}\n",
                  server_extra="header_timeout = 1s\nkeepalive_timeout = 1s")
    with connect(w) as s:
        out, closed = read_until_close(s, 10)
    assert closed and out == b""


def test_keepalive_timeout(make_weir, site):
    w = make_weir(f"[site main]\nroot = {site}\n", server_extra="keepalive_timeout = 1s")
    with connect(w) as s:
        s.sendall(GET())
        assert read_one(s).status == 200
        t0 = time.monotonic()
        out, closed = read_until_close(s, 10)
        took = time.monotonic() - t0
    assert closed and out == b"" and s._extra == b""
    assert 0.8 <= took < 5, took


def test_keepalive_timeout_zero_disables_keepalive(make_weir, site):
    w = make_weir(f"[site main]\nroot = {site}\n", server_extra="keepalive_timeout = 0")
    out, closed = exchange(w, GET() + GET())
    assert closed
    rs = split_responses(out)
    assert len(rs) == 1 and rs[0].headers["connection"] == "close"


def test_keepalive_requests(make_weir, site):
    for i in range(1, 5):
        (site / f"f{i}.txt").write_bytes(f"file number {i}\n".encode())
    w = make_weir(f"[site main]\nroot = {site}\n", server_extra="keepalive_requests = 3")
    with connect(w) as s:
        for i in range(3):
            s.sendall(GET())
            r = read_one(s)
            assert r.status == 200
            if i < 2:
                assert "connection" not in r.headers
            else:
                assert r.headers["connection"] == "close"
        rest, closed = read_until_close(s, 5)
        assert closed and rest == b"" and s._extra == b""
    # pipelined: the 4th is not answered
    out, closed = exchange(w, GET("/f1.txt") + GET("/f2.txt") + GET("/f3.txt") + GET("/f4.txt"))
    assert closed
    rs = split_responses(out)
    assert [r.body for r in rs] == [b"file number 1\n", b"file number 2\n", b"file number 3\n"]
    assert rs[2].headers["connection"] == "close"


# --- httperr.log ----------------------------------------------------------------------

HTTPERR_FIELDS = ("date time c-ip c-port s-ip s-port cs-version cs-method cs-uri "
                  "sc-status s-siteid s-reason s-queuename").split()


def test_httperr_log(make_weir, site):
    w = make_weir(f"[site main]\nroot = {site}\n", server_extra="header_timeout = 1s")
    exchange(w, b"GET /hello.txt HTTP/1.1\r\nHost : x\r\n\r\n")
    exchange(w, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    exchange(w, b"GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 40000 + b"\r\n\r\n")
    exchange(w, b"GET /slow HTTP/1.1\r\nHost: x\r\n")
    exchange(w, b"GET /a%20b?x=y HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n")
    ok, _ = exchange(w, GET(extra="Connection: close\r\n"))
    assert b" 200 " in ok

    def lines():
        return [ln for ln in w.httperr_log().splitlines() if ln and not ln.startswith("#")]

    got = wait_for(lambda: len(lines()) >= 5 and lines(), timeout=5, what="httperr lines")
    assert w.httperr_log().startswith("#Software: weir ")
    fl = [ln for ln in w.httperr_log().splitlines() if ln.startswith("#Fields: ")]
    assert fl and fl[0].split()[1:] == HTTPERR_FIELDS
    assert len(got) == 5, got       # the 200 is not an error
    rows = [dict(zip(HTTPERR_FIELDS, ln.split(" "))) for ln in got]
    for ln in got:
        assert len(ln.split(" ")) == len(HTTPERR_FIELDS), ln
    for r in rows:
        assert r["c-ip"] == "127.0.0.1" and r["s-ip"] == "127.0.0.1"
        assert r["s-port"] == str(w.port) and r["c-port"].isdigit()
    got_pairs = [(r["sc-status"], r["s-reason"]) for r in rows]
    assert got_pairs == [("400", "BadRequest"), ("414", "URL_Length"),
                         ("431", "RequestLength"), ("408", "Timer_HeaderWait"),
                         ("400", "BadRequest")]
    assert rows[2]["cs-method"] == "GET" and rows[2]["cs-uri"] == "/big"
    assert rows[0]["cs-method"] == "GET" and rows[0]["cs-uri"] == "/hello.txt"
    assert rows[0]["cs-version"] == "HTTP/1.1"
    assert rows[4]["cs-uri"] == "/a%20b?x=y"
    # the request line is never more than a bounded excerpt
    assert len(got[1]) < 4096


def test_body_timeout_logged_with_its_own_request(make_weir, site):
    w = make_weir(f"[site main]\nroot = {site}\n", server_extra="body_timeout = 1s")
    with connect(w, nodelay=True) as s:
        s.sendall(b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        assert read_one(s).status == 405
        s.sendall(b"Q" * 40)
        _, closed = read_until_close(s, 10)
        assert closed
    line = wait_for(lambda: [ln for ln in w.httperr_log().splitlines()
                             if "Timer_EntityBody" in ln], timeout=5, what="408 line")[0]
    f = dict(zip(HTTPERR_FIELDS, line.split(" ")))
    assert f["sc-status"] == "408"
    assert "Q" not in line, line
    assert f["cs-uri"] in ("/hello.txt", "-"), line
    assert f["s-siteid"] == "1"


# --- many clients ------------------------------------------------------------------

def test_many_concurrent_keepalive_connections(make_weir, site):
    for i in range(10):
        (site / f"f{i}.txt").write_bytes(f"file number {i}\n".encode())
    w = make_weir(f"[site main]\nroot = {site}\n", threads=2)
    nconn, nreq = 200, 20
    barrier = threading.Barrier(nconn, timeout=30)

    def client(k):
        with connect(w, timeout=30) as s:
            barrier.wait()      # all 200 are open at once
            for j in range(nreq):
                i = (k + j) % 10
                s.sendall(GET(f"/f{i}.txt"))
                r = read_one(s, timeout=30)
                assert r.status == 200 and r.body == f"file number {i}\n".encode()
            s.sendall(GET("/1k.bin", extra="Connection: close\r\n"))
            r = read_one(s, timeout=30)
            assert len(r.body) == 1024
        return True

    with concurrent.futures.ThreadPoolExecutor(max_workers=nconn) as ex:
        futs = [ex.submit(client, k) for k in range(nconn)]
        done, pending = concurrent.futures.wait(futs, timeout=90)
        assert not pending
        for f in done:
            assert f.result() is True


def test_half_closed_client_gets_full_response(w, site):
    import hashlib
    big = bytes(range(256)) * 4096 * 4      # 4 MiB: more than the socket buffers
    (site / "big.bin").write_bytes(big)
    out, closed = exchange(w, GET(), shut=True)
    assert closed
    rs = split_responses(out)
    assert len(rs) == 1 and rs[0].body == b"hello, world\n"
    out, closed = exchange(w, GET("/f1.txt") + GET("/big.bin") + GET("/f2.txt"), shut=True,
                           timeout=30)
    assert closed
    rs = split_responses(out)
    assert [r.status for r in rs] == [200, 200, 200]
    assert hashlib.sha256(rs[1].body).digest() == hashlib.sha256(big).digest()
    assert rs[2].body == b"file number 2\n"
    # half-closed in the middle of a header: nothing to answer, just closed
    out, closed = exchange(w, b"GET /hello.txt HTTP/1.1\r\nHo", shut=True)
    assert closed and out in (b"",) or split_responses(out)[0].status == 400


def test_client_reset_does_not_hurt_others(w):
    # a client that vanishes mid-request, and one that resets while a big
    # response is in flight; the server keeps serving
    import struct
    for req in (b"GET /hello.txt HTTP/1.1\r\nHo", GET("/100k.bin") * 20):
        s = connect(w)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.sendall(req)
        s.close()       # RST
    with connect(w) as s:
        s.sendall(GET())
        assert read_one(s).body == b"hello, world\n"
