"""Full duplex through a pool: the request body goes on to the worker while
its answer comes back (proxy.c; RFC 9112 lets a server answer before the
request is complete).

A worker that echoes a body as it reads it (weir-host's /echo in
modules/hello.c, tests/apps/app.py's /echostream, a FastCGI responder
written here that answers each FCGI_STDIN record with an FCGI_STDOUT one)
writes its answer while it still reads: a proxy that stopped sending the
body once the answer started stalled both once the socket buffers were
full (a 1 MiB echo stopped at 425,676 bytes).  Each echo here is checked
by SHA-256, over HTTP/1.1 with request_buffering on (the default) and off,
and over HTTP/2 streams, which go through the same path.  The client
sends from one thread and reads from another, as a real one does.

A worker that answers 413 after a few bytes and closes: the client gets
the 413 whole; its connection is closed when the rest of its body was
never read (request_buffering off), as nginx does, and kept when the front
end had read the body whole first (the default).
"""
import hashlib
import os
import socket
import socketserver
import struct
import threading

import pytest

from conftest import free_port, wait_for
from test_fastcgi_master import fcgi_record as record, ready_workers
from test_fastcgi_responder import fcgi_records

PY = "/usr/bin/python3"
SRC = os.environ.get("WEIR_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
APP = f"{PY} {SRC}/tests/apps/app.py"
MIB = 1 << 20
SIZES = [1 * MIB, 20 * MIB]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def pools(buffering):
    """A native pool (/n), an HTTP pool (/app) with this request_buffering."""
    rb = "" if buffering == "default" else f"request_buffering = {buffering}\n"
    return (f"[pool native]\nkind = native\nmodules = hello\n{rb}"
            f"[pool app]\ncommand = {APP}\n{rb}"
            "[site main]\napp = /n native\napp = /app app\n")


class Reader:
    """The response side of one connection: heads and bodies, read as they come."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        d = self.sock.recv(1 << 18)
        if not d:
            raise EOFError
        self.buf += d

    def until(self, mark):
        while mark not in self.buf:
            self.fill()
        i = self.buf.index(mark) + len(mark)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self):
        """(status, headers, body) of the next response."""
        lines = self.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip()
                   for k, v in (ln.split(":", 1) for ln in lines[1:] if ln)}
        h = hashlib.sha256()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                n = int(self.until(b"\r\n").split(b";")[0], 16)
                if n == 0:
                    self.until(b"\r\n")
                    break
                h.update(self.take(n))
                self.take(2)
        else:
            left = int(headers.get("content-length", "0"))
            while left > 0:
                d = self.take(min(left, 1 << 18))
                h.update(d)
                left -= len(d)
        return status, headers, h.hexdigest()

    def closed(self):
        """True when the peer closed (EOF or reset) with nothing more sent."""
        try:
            self.fill()
        except (EOFError, ConnectionResetError):
            return True
        return False


def post(sock, path, data, chunked=False):
    """Send a POST from a thread (the answer is read meanwhile); returns the
    thread, and a list that holds the exception that ended it, if any."""
    err = []

    def send():
        try:
            if chunked:
                sock.sendall(f"POST {path} HTTP/1.1\r\nHost: a\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n".encode())
                for i in range(0, len(data), 100000):
                    part = data[i:i + 100000]
                    sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
                sock.sendall(b"0\r\n\r\n")
            else:
                sock.sendall(f"POST {path} HTTP/1.1\r\nHost: a\r\n"
                             f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    return t, err


def echo(port, path, data, chunked=False):
    """A duplex echo on a new connection, then a GET on the same one (the
    connection is kept after a body read whole).  Returns the echo's
    (status, sha256 of its body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        rd = Reader(s)
        t, err = post(s, path, data, chunked)
        status, _, digest = rd.response()
        t.join(60)
        assert not t.is_alive() and not err, err
        s.sendall(b"GET /n/x HTTP/1.1\r\nHost: a\r\n\r\n")
        again = rd.response()
        assert again[0] == 200, again
        return status, digest


@pytest.mark.parametrize("buffering", ["default", "off"])
@pytest.mark.parametrize("size", SIZES, ids=["1MiB", "20MiB"])
def test_echo_native_and_http_pools_http1(make_weir, buffering, size):
    w = make_weir(pools(buffering))
    data = os.urandom(size)
    for path in ("/n/echo", "/app/echostream"):
        assert echo(w.port, path, data) == (200, sha(data)), path
    # a chunked body, streamed to the worker chunked when not buffered
    assert echo(w.port, "/app/echostream", data, chunked=True) == (200, sha(data))


def frontend_cpu(w):
    """Seconds of CPU the front end used so far."""
    with open(f"/proc/{w.frontend_pid()}/stat") as f:
        v = f.read().rsplit(") ", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("path", ["/n/echo", "/app/echostream"])
def test_a_client_that_stops_reading_stops_its_upload(make_weir, path):
    """Back-pressure both ways, no busy loop: with no response buffer and
    the body streamed, a client that does not read its echo fills the
    buffers on the way and then cannot send more (20 MiB never all go),
    while the front end waits without spinning; once it reads, the echo
    completes."""
    conf = pools("off").replace("\n[pool app]", "\nresponse_buffer = 0\n[pool app]")
    w = make_weir(conf.replace("\n[site", "\nresponse_buffer = 0\n[site"))
    data = os.urandom(20 * MIB)
    with socket.create_connection(("127.0.0.1", w.port), timeout=60) as s:
        cpu = frontend_cpu(w)
        t, err = post(s, path, data)
        # proving a negative takes a window: an unbounded proxy would take
        # the 20 MiB in well under a second
        with pytest.raises(AssertionError):
            wait_for(lambda: not t.is_alive(), timeout=3, what="the upload to end")
        assert frontend_cpu(w) - cpu < 1.0
        status, _, digest = Reader(s).response()
        t.join(60)
        assert not t.is_alive() and not err, err
        assert (status, digest) == (200, sha(data))


def test_early_413_closes_when_the_body_was_not_read(make_weir):
    """request_buffering off: the worker reads 10 bytes of 4 MiB, answers
    413 and closes.  The client gets the 413, then the close."""
    w = make_weir(pools("off"))
    with socket.create_connection(("127.0.0.1", w.port), timeout=30) as s:
        rd = Reader(s)
        t, _ = post(s, "/app/early413?n=10", os.urandom(4 * MIB))
        status, headers, _ = rd.response()
        assert status == 413, headers
        # the head may have left before weir knew the body would stay
        # unread (so no "Connection: close" is promised): the close says it
        assert rd.closed()
        t.join(30)   # the sender ends: reset, or all sent before the close
        assert not t.is_alive()
    # the pool's next request is served
    with socket.create_connection(("127.0.0.1", w.port), timeout=30) as s:
        s.sendall(b"GET /app/hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert Reader(s).response()[0] == 200


def test_early_413_keeps_the_connection_when_the_body_was_buffered(make_weir):
    """The default: the front end had the whole body before the worker did,
    so the connection goes on after the 413."""
    w = make_weir(pools("default"))
    with socket.create_connection(("127.0.0.1", w.port), timeout=30) as s:
        rd = Reader(s)
        t, err = post(s, "/app/early413?n=10", os.urandom(4 * MIB))
        status, headers, _ = rd.response()
        assert status == 413, headers
        t.join(30)
        assert not t.is_alive() and not err
        s.sendall(b"GET /app/hello HTTP/1.1\r\nHost: a\r\n\r\n")
        assert rd.response()[0] == 200


# --- FastCGI ----------------------------------------------------------------------

BEGIN, PARAMS, STDIN, STDOUT, END = 1, 4, 5, 6, 3
GET_VALUES, GET_VALUES_RESULT = 9, 10


class EchoResponder(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A FastCGI responder that sends every FCGI_STDIN record back at once."""
    daemon_threads = True


class EchoConn(socketserver.BaseRequestHandler):
    def handle(self):
        for rtype, rid, body in fcgi_records(self.request):
            if rtype == GET_VALUES:
                # weir's probe: one connection, one request at a time
                self.request.sendall(record(GET_VALUES_RESULT, 0, b"".join(
                    bytes([len(k), len(v)]) + k + v for k, v in
                    ((b"FCGI_MAX_CONNS", b"16"), (b"FCGI_MAX_REQS", b"16"),
                     (b"FCGI_MPXS_CONNS", b"0")))))
            elif rtype == PARAMS and not body:
                # the answer starts before any input is read
                self.request.sendall(record(
                    STDOUT, rid, b"Content-Type: application/octet-stream\r\n\r\n"))
            elif rtype == STDIN and body:
                self.request.sendall(record(STDOUT, rid, body))
            elif rtype == STDIN:
                self.request.sendall(record(STDOUT, rid) + record(
                    END, rid, struct.pack(">IB3x", 0, 0)))


@pytest.mark.parametrize("buffering", ["default", "off"])
@pytest.mark.parametrize("size", SIZES, ids=["1MiB", "20MiB"])
def test_echo_fastcgi_pool(make_weir, tmp_path, buffering, size):
    sock = tmp_path / "fx.sock"
    srv = EchoResponder(str(sock), EchoConn)
    sock.chmod(0o666)     # the front end connects as an unprivileged user
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        root = tmp_path / "www"
        root.mkdir()
        (root / "echo.fx").write_text("run by the responder\n")
        (root / "x").write_text("static\n")   # echo()'s GET after the POST
        (root / "n").mkdir()
        (root / "n" / "x").write_text("static\n")
        for p in (tmp_path, root, root / "n"):
            p.chmod(0o755)
        rb = "" if buffering == "default" else f"request_buffering = {buffering}\n"
        w = make_weir(f"[pool fx]\nkind = fastcgi\naddress = unix:{sock}\n{rb}"
                      f"[site main]\nroot = {root}\nscript = .fx fx\n")
        wait_for(lambda: len(ready_workers(w, "fx")) == 1, what="the responder ready")
        data = os.urandom(size)
        assert echo(w.port, "/echo.fx", data) == (200, sha(data))
    finally:
        srv.shutdown()
        srv.server_close()


# --- HTTP/2 -----------------------------------------------------------------------

@pytest.mark.parametrize("buffering", ["default", "off"])
@pytest.mark.parametrize("size", SIZES, ids=["1MiB", "20MiB"])
def test_echo_on_http2_streams(make_weir, buffering, size):
    pytest.importorskip("h2")
    from test_http2 import Client, h2conf
    port = free_port()
    c = h2conf(port, "", pools(buffering))
    w = make_weir(c["conf_body"], server_extra=c["server_extra"])
    cl = Client(port, timeout=60)
    data = os.urandom(size)
    sids = [cl.request(p, method="POST", body=data) for p in ("/n/echo", "/app/echostream")]
    assert cl.wait(lambda: all(cl.done(s) for s in sids), timeout=120)
    for s in sids:
        st = cl.streams[s]
        assert st["reset"] is None and st["headers"][":status"] == "200", st["headers"]
        assert sha(bytes(st["data"])) == sha(data)
    cl.close()
    assert w.proc.poll() is None
