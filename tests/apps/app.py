#!/usr/bin/python3
"""A small socket-activated HTTP/1.1 app for weir's tests (stdlib only).

Takes its listening socket from fd 3 (LISTEN_FDS=1, LISTEN_PID = our pid),
like gunicorn or uvicorn under systemd.  Threaded, keep-alive.  Endpoints:
  /healthz          200 "ok"
  /hello            200 "hello from <pid>"
  /pid              our pid
  /echo             the request body back (POST/PUT), with its sha256
  /echostream       the request body back as it is read (chunked, full duplex:
                    the answer starts before the body is in)
  /early413?n=N     read N bytes of the body, answer 413 and close
  /headers          the request headers as JSON
  /oddheaders       a response head written by hand: an empty value, runs of
                    spaces and a tab around values, Set-Cookie twice,
                    Connection and Keep-Alive (which HTTP/2 forbids)
  /env?name=X       an environment variable
  /slow?ms=N        answer after N ms
  /stream?n=N&size=S  N chunks of S bytes, chunked, no Content-Length
  /big?mb=N         N MiB with Content-Length
  /close            a body delimited by closing the connection (HTTP/1.0 style)
  /status?code=N    that status
  /exit?code=N      exit at once with that code (no response)
  /kill             SIGKILL ourselves (no response)
  /fork-orphan      start a child that lingers (process tree test), print its pid
  /fs-write?path=P&data=D, /fs-read?path=P   write or read a file (only with
                    --fs-endpoints): 200, or 500 with the errno's name (EROFS)
  /alloc?mb=N       hold N MiB more of touched private memory
  /forks?n=N&ms=M   try N forks (children sleep M ms, then exit); "forked A failed B"
  /spin?ms=N        burn CPU for N ms of wall time, then answer
Options: --exit-at-start CODE (exit immediately, writing a line to stderr),
--start-delay MS, --notify (send READY=1 to NOTIFY_SOCKET when listening),
--die-every N (exit with status 3 right after answering every Nth request),
--no-parent-death-signal (clear the parent-death signal weir set, as an app
that manages its own life may: it then outlives a master that is killed),
--fs-endpoints (enable /fs-write and /fs-read: never on by default),
--allow-run (enable /run: POST a JSON argv, get {"rc", "out", "err"} of that
program run as this worker; for isolation tests, never on by default).
"""
import errno
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def args():
    a = sys.argv[1:]
    opts = {"exit": None, "delay": 0, "notify": False, "die_every": 0, "nopdeath": False,
            "fs": False, "run": False}
    while a:
        x = a.pop(0)
        if x == "--exit-at-start":
            opts["exit"] = int(a.pop(0))
        elif x == "--start-delay":
            opts["delay"] = int(a.pop(0))
        elif x == "--notify":
            opts["notify"] = True
        elif x == "--die-every":
            opts["die_every"] = int(a.pop(0))
        elif x == "--no-parent-death-signal":
            opts["nopdeath"] = True
        elif x == "--fs-endpoints":
            opts["fs"] = True
        elif x == "--allow-run":
            opts["run"] = True
    return opts


HELD = []
SERVED = {"n": 0, "die_every": 0, "fs": False, "run": False}


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_one_request(self):
        super().handle_one_request()
        if SERVED["die_every"] and getattr(self, "raw_requestline", b""):
            SERVED["n"] += 1
            if SERVED["n"] % SERVED["die_every"] == 0:
                self.wfile.flush()
                sys.stderr.write("app %d: dying after %d requests\n" % (os.getpid(), SERVED["n"]))
                sys.stderr.flush()
                os._exit(3)

    def log_message(self, fmt, *a):
        sys.stderr.write("app %d: %s\n" % (os.getpid(), fmt % a))

    def send(self, code, body, ctype="text/plain", extra=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                line = self.rfile.readline().strip()
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(n) if n else b""

    def pieces(self):
        """The request body piece by piece, as it arrives."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return
                while size > 0:
                    d = self.rfile.read1(min(size, 65536))
                    if not d:
                        return
                    size -= len(d)
                    yield d
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0") or 0)
        while n > 0:
            d = self.rfile.read1(min(n, 65536))
            if not d:
                return
            n -= len(d)
            yield d

    def echostream(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for d in self.pieces():
            self.wfile.write(b"%x\r\n%s\r\n" % (len(d), d))
        self.wfile.write(b"0\r\n\r\n")

    def route(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        # Mounted under any prefix (/app/echo, /echo): route on the last segment.
        p = "/" + u.path.rstrip("/").rsplit("/", 1)[-1]
        if p == "/healthz":
            return self.send(200, "ok")
        if p in ("/", "/hello", "/x", "/y", "/app"):
            return self.send(200, "hello from %d\n" % os.getpid())
        if p == "/pid":
            return self.send(200, str(os.getpid()))
        if p == "/echo":
            b = self.body()
            return self.send(200, b, "application/octet-stream",
                             {"X-Sha256": hashlib.sha256(b).hexdigest(),
                              "X-Length": str(len(b))})
        if p == "/echostream":
            return self.echostream()
        if p == "/early413":
            self.rfile.read(int(q.get("n", "1")))
            self.close_connection = True
            return self.send(413, "too large\n", extra={"Connection": "close"})
        if p == "/headers":
            return self.send(200, json.dumps(
                {"method": self.command, "path": self.path,
                 "headers": [[k, v] for k, v in self.headers.items()]}),
                "application/json")
        if p == "/oddheaders":
            self.wfile.write(b"HTTP/1.1 200 Fine Thanks\r\nX-Empty:\r\nX-Spaces:   a  b   \r\n"
                             b"X-Tab:\tv\t\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
                             b"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
                             b"content-type: text/plain\r\nContent-Length: 2\r\n\r\nok")
            return
        if p == "/env":
            return self.send(200, os.environ.get(q.get("name", ""), ""))
        if p == "/slow":
            sys.stderr.write("app %d: slow start\n" % os.getpid())
            sys.stderr.flush()
            time.sleep(int(q.get("ms", "100")) / 1000.0)
            return self.send(200, "slow %d\n" % os.getpid())
        if p == "/stream":
            n, size = int(q.get("n", "10")), int(q.get("size", "1000"))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * size
            for _ in range(n):
                self.wfile.write(b"%x\r\n%s\r\n" % (size, chunk))
            self.wfile.write(b"0\r\n\r\n")
            return
        if p == "/big":
            mb = int(q.get("mb", "1"))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(mb << 20))
            self.end_headers()
            block = b"y" * (1 << 20)
            for _ in range(mb):
                self.wfile.write(block)
            return
        if p == "/close":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"delimited by close\n")
            self.close_connection = True
            return
        if p == "/status":
            return self.send(int(q.get("code", "200")), "status\n")
        if p == "/exit":
            sys.stderr.write("app %d: exiting with %s on request\n" % (os.getpid(), q.get("code", "1")))
            sys.stderr.flush()
            os._exit(int(q.get("code", "1")))
        if p == "/kill":
            sys.stderr.write("app %d: killing myself\n" % os.getpid())
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        if p == "/alloc":
            # hold N MiB of private, touched memory until the process ends
            HELD.append(bytearray(os.urandom(1)) * (int(q.get("mb", "1")) << 20))
            return self.send(200, "holding %d MiB\n" % (sum(len(b) for b in HELD) >> 20))
        if p == "/forks":
            # a bounded fork bomb: every child is reaped before we answer
            kids, failed = [], 0
            for _ in range(int(q.get("n", "200"))):
                try:
                    pid = os.fork()
                except OSError:
                    failed += 1
                    continue
                if pid == 0:
                    time.sleep(int(q.get("ms", "500")) / 1000.0)
                    os._exit(0)
                kids.append(pid)
            for pid in kids:
                os.waitpid(pid, 0)
            sys.stderr.write("app %d: forked %d, %d failed\n" % (os.getpid(), len(kids), failed))
            sys.stderr.flush()
            return self.send(200, "forked %d failed %d\n" % (len(kids), failed))
        if p == "/spin":
            end, n = time.monotonic() + int(q.get("ms", "100")) / 1000.0, 0
            while time.monotonic() < end:
                n += 1
            return self.send(200, "spun %d\n" % n)
        if p == "/cwd":
            return self.send(200, os.getcwd())
        if p == "/rlimit":
            import resource
            soft, hard = resource.getrlimit(getattr(resource, "RLIMIT_" + q.get("name", "NOFILE")))
            return self.send(200, "%d %d" % (soft, hard))
        if p in ("/fs-write", "/fs-read") and SERVED["fs"]:
            try:
                if p == "/fs-write":
                    with open(q["path"], "w") as f:
                        f.write(q.get("data", "x"))
                    return self.send(200, "written\n")
                with open(q["path"]) as f:
                    return self.send(200, f.read())
            except OSError as e:
                return self.send(500, errno.errorcode.get(e.errno, str(e.errno)))
        if p == "/fork-orphan":
            c = subprocess.Popen(["sleep", "300"])
            return self.send(200, str(c.pid))
        if p == "/run" and SERVED["run"]:
            r = subprocess.run(json.loads(self.body()), capture_output=True, text=True,
                               timeout=20)
            return self.send(200, json.dumps({"rc": r.returncode, "out": r.stdout,
                                              "err": r.stderr}), "application/json")
        return self.send(404, "no such path\n")

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = route


def main():
    o = args()
    if o["exit"] is not None:
        sys.stderr.write("app: configuration error: cannot start (exit %d)\n" % o["exit"])
        sys.exit(o["exit"])
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
        sys.stderr.write("app: not socket-activated\n")
        sys.exit(78)
    SERVED["die_every"] = o["die_every"]
    SERVED["fs"] = o["fs"]
    SERVED["run"] = o["run"]
    if o["nopdeath"]:
        import ctypes
        PR_SET_PDEATHSIG = 1
        if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) != 0:
            sys.stderr.write("app: prctl failed\n")
            sys.exit(1)
    if o["delay"]:
        time.sleep(o["delay"] / 1000.0)
    sock = socket.socket(fileno=3)
    srv = ThreadingHTTPServer(sock.getsockname(), H, bind_and_activate=False)
    srv.socket = sock
    srv.daemon_threads = True
    if o["notify"] and os.environ.get("NOTIFY_SOCKET"):
        n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        n.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
        n.close()
    signal.signal(signal.SIGTERM, lambda *a: (srv.shutdown(), sys.exit(0)) if False else os._exit(0))
    sys.stderr.write("app %d: serving\n" % os.getpid())
    sys.stderr.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
