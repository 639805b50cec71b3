#!/usr/bin/python3
"""A socket-activated HTTP/1.1 upstream for test_trailers.py (stdlib only).

Takes its listening socket from fd 3 (LISTEN_FDS=1), like app.py.  Endpoints:
  /trailers?size=N  200, N bytes of a fixed pattern, chunked, ending with a
                    trailer section: x-checksum (the body's sha256),
                    grpc-status, X-Mixed-Case, and fields weir must never
                    forward (content-length, set-cookie, host, ...).  The head
                    says which TE it got (X-Saw-TE).
  /echo             the request as JSON: its body's sha256 and length, whether
                    it came chunked, its trailer fields in order, the TE and
                    Trailer fields of its head.  Content-Length framed.
"""
import hashlib
import json
import os
import socket
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ALLOWED = [("x-checksum", None), ("grpc-status", "0"), ("X-Mixed-Case", "Yes")]
FORBIDDEN = [("Content-Length", "5"), ("Transfer-Encoding", "gzip"), ("Set-Cookie", "s=1"),
             ("Host", "evil.example"), ("Authorization", "Basic eA=="),
             ("Connection", "close"), ("TE", "trailers"), ("Content-Type", "text/evil"),
             ("X-Forwarded-For", "6.6.6.6"), ("Trailer", "x-more")]


def pattern(n):
    """n bytes, not all alike (a shifted slice would show in the hash)."""
    unit = bytes(range(256))
    return (unit * (n // 256 + 1))[:n]


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def read_chunked(self):
        """The body and the trailer field lines of a chunked request."""
        body = bytearray()
        while True:
            line = self.rfile.readline(65537)
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                break
            body += self.rfile.read(size)
            self.rfile.readline(3)
        trailers = []
        while True:
            line = self.rfile.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            k, v = line.decode("latin-1").rstrip("\r\n").split(":", 1)
            trailers.append([k, v.strip()])
        return bytes(body), trailers

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path != "/echo":
            self.send_error(404)
            return
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if chunked:
            body, trailers = self.read_chunked()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            trailers = []
        out = json.dumps({"sha": hashlib.sha256(body).hexdigest(), "len": len(body),
                          "chunked": chunked, "trailers": trailers,
                          "te": self.headers.get("TE"),
                          "trailer": self.headers.get("Trailer")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_PUT = do_POST

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path == "/healthz":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            return
        if u.path != "/trailers":
            self.send_error(404)
            return
        body = pattern(int(q.get("size", ["1000"])[0]))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Trailer", "x-checksum, grpc-status, X-Mixed-Case")
        self.send_header("X-Saw-TE", self.headers.get("TE", "-"))
        self.end_headers()
        for i in range(0, len(body), 7000):
            piece = body[i:i + 7000]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        lines = [(k, v if v is not None else hashlib.sha256(body).hexdigest())
                 for k, v in ALLOWED] + FORBIDDEN
        self.wfile.write(b"0\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in lines)
                         + b"\r\n")
        self.wfile.flush()


def main():
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
        sys.stderr.write("trailers_app: not socket-activated\n")
        sys.exit(78)
    sock = socket.socket(fileno=3)
    srv = ThreadingHTTPServer(sock.getsockname(), H, bind_and_activate=False)
    srv.socket = sock
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()
