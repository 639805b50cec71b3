"""TLS input and output paths (src/frontend/cio.c): what read-ahead and the
gathered writes must keep true.

- Read-ahead: one read(2) can bring several records, or part of one; the
  requests they carry are all answered, in order, whatever the split
  (several records in one segment, a record cut in pieces across segments,
  many requests in one record).
- Gathered output: up to four records go in one write(2), and what the
  socket does not take is held and sent first when it has room: a client
  that reads slowly (a small receive buffer, curl --limit-rate) gets every
  byte of a large file, over HTTP/1.1 and HTTP/2, and the connection goes on
  serving after it.
"""
import hashlib
import os
import socket
import ssl

import pytest

from test_tls import Certs, curl, start_tls, tls_site


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    c = Certs(tmp_path_factory.mktemp("certs"))
    c.a = c.leaf("a-ecdsa", ["a.test"])
    return c


def sha(b):
    return hashlib.sha256(b).hexdigest()


def read_responses(recv, n):
    """n HTTP/1.1 responses with Content-Length from recv() -> [(status, body)]."""
    buf, out = b"", []
    while len(out) < n:
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buf[:head_end].decode()
            length = 0
            for ln in head.split("\r\n")[1:]:
                k, _, v = ln.partition(":")
                if k.lower() == "content-length":
                    length = int(v)
            if len(buf) >= head_end + 4 + length:
                out.append((int(head.split()[1]), buf[head_end + 4:head_end + 4 + length]))
                buf = buf[head_end + 4 + length:]
                continue
        chunk = recv()
        assert chunk, f"connection closed after {len(out)} of {n} responses"
        buf += chunk
    return out


class RawTls:
    """A TLS client whose records go to the socket as the test cuts them
    (ssl.MemoryBIO): several records in one segment, or one record in
    pieces, each piece its own segment (TCP_NODELAY)."""

    def __init__(self, port, ca):
        ctx = ssl.create_default_context(cafile=str(ca))
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_hostname="a.test")
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(self.out.read())
                data = self.sock.recv(65536)
                assert data, "closed during the handshake"
                self.inc.write(data)
        self.sock.sendall(self.out.read())

    def records(self, *plain):
        """The ciphertext of one record per item of plain."""
        for p in plain:
            self.tls.write(p)
        return self.out.read()

    def recv(self):
        while True:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                data = self.sock.recv(65536)
                if not data:
                    return b""
                self.inc.write(data)

    def close(self):
        self.sock.close()


def get(path):
    return f"GET {path} HTTP/1.1\r\nHost: a.test\r\n\r\n".encode()


def test_requests_however_the_records_are_cut(make_weir, site, certs):
    w = start_tls(make_weir, tls_site("a", site, [certs.a], "a.test"))
    want = {"/hello.txt": b"hello, world\n", "/1k.bin": (site / "1k.bin").read_bytes(),
            "/100k.bin": (site / "100k.bin").read_bytes()}
    paths = ["/hello.txt", "/1k.bin", "/100k.bin"] * 4
    t = RawTls(w.tls, certs.ca)
    try:
        # twelve records in one segment: OpenSSL takes them in one read and
        # holds the rest while the first request is answered
        t.sock.sendall(t.records(*[get(p) for p in paths]))
        got = read_responses(t.recv, len(paths))
        assert [(s, sha(b)) for s, b in got] == [(200, sha(want[p])) for p in paths]
        # twelve requests in one record
        t.sock.sendall(t.records(b"".join(get(p) for p in paths)))
        got = read_responses(t.recv, len(paths))
        assert [(s, sha(b)) for s, b in got] == [(200, sha(want[p])) for p in paths]
        # three records cut into pieces across segments: a record's header
        # alone, a record split in its body, the next record's start with it
        wire = t.records(get("/hello.txt"), get("/1k.bin"), get("/hello.txt"))
        for a, b in ((0, 3), (3, 20), (20, 70), (70, len(wire) - 9), (len(wire) - 9, len(wire))):
            t.sock.sendall(wire[a:b])
        got = read_responses(t.recv, 3)
        assert [(s, sha(b)) for s, b in got] == [
            (200, sha(want["/hello.txt"])), (200, sha(want["/1k.bin"])),
            (200, sha(want["/hello.txt"]))]
    finally:
        t.close()


def test_a_slow_reader_gets_every_byte(make_weir, site, certs):
    big = os.urandom(6 * 1024 * 1024 + 777)
    (site / "big.bin").write_bytes(big)
    w = start_tls(make_weir, tls_site("a", site, [certs.a], "a.test"))
    # a client with a small receive buffer, reading 1 KiB at a time: weir's
    # writes of up to four records often go only in part
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", w.tls))
    with ctx.wrap_socket(s, server_hostname="a.test") as t:
        t.sendall(get("/big.bin") + get("/100k.bin"))
        got = read_responses(lambda: t.recv(1024), 2)
        assert [(st, sha(b)) for st, b in got] == [
            (200, sha(big)), (200, sha((site / "100k.bin").read_bytes()))]
    # curl reading at a limited rate, HTTP/1.1 and HTTP/2, then another
    # request on the same connection
    for proto in ("--http1.1", "--http2"):
        r = curl(w, certs, proto, "--limit-rate", "8M", "-w", "%{num_connects} %{http_version}\\n",
                 "-o", "-", "-o", "/dev/null",
                 f"https://a.test:{w.tls}/big.bin", f"https://a.test:{w.tls}/hello.txt")
        assert r.returncode == 0, r.stderr
        body, tail = r.stdout[:len(big)], r.stdout[len(big):].split(b"\n")
        assert sha(body) == sha(big), proto
        assert tail[0].split()[0] == b"1" and tail[1].split()[0] == b"0", (proto, tail)
