"""Slow and hostile clients: request bodies buffered before a request is
queued (request_buffering), minimum data rates (min_request_rate,
min_response_rate), truncated uploads, and workers that hang up in the
middle of a request.

A slow client must hold its own connection, never a worker: every test runs
with weir's defaults unless it is about a setting.  Waits poll conditions
with deadlines; the slow clients are driven from one selector loop, bounded
in count and time.
"""
import hashlib
import http.client
import json
import os
import selectors
import socket
import subprocess
import threading
import time

from conftest import SRC, WEIR, free_port, read_response, wait_for

PY = "/usr/bin/python3"
APP = f"{PY} {SRC}/tests/apps/app.py"
GUNICORN = f"{PY} -m gunicorn --workers 1 --chdir {SRC}/tests/apps wsgi_app:app"
HTTPERR_FIELDS = ["date", "time", "c-ip", "c-port", "s-ip", "s-port", "cs-version",
                  "cs-method", "cs-uri", "sc-status", "s-siteid", "s-reason", "s-queuename"]
GRACE = 10.0    # min_rate_grace's default
TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8    # tcp_info.tcpi_state


def pool(name="app", command=APP, **keys):
    lines = [f"[pool {name}]", f"command = {command}"]
    lines += [f"{k} = {v}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def sitesec(apps=(("/app", "app"),), root=None):
    lines = ["[site main]"] + ([f"root = {root}"] if root else [])
    lines += [f"app = {p} {pl}" for p, pl in apps]
    return "\n".join(lines) + "\n"


def status(w):
    out = subprocess.run([WEIR, "status", "--json", "-s", str(w.state_dir / "admin.sock")],
                         capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout)


def closed_count(w, reason):
    c = status(w)["frontend"].get("closed") or {}
    return c.get(reason, 0)


def httperr_rows(w, reason):
    rows = [dict(zip(HTTPERR_FIELDS, ln.split(" "))) for ln in w.httperr_log().splitlines()
            if not ln.startswith("#")]
    return [r for r in rows if r.get("s-reason") == reason]


def post(w, path, body, headers=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=timeout)
    try:
        chunked = (headers or {}).get("Transfer-Encoding") == "chunked"
        c.request("POST", path, body=body, headers=headers or {}, encode_chunked=chunked)
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


def chunks(data, size=7000):
    for i in range(0, len(data), size):
        yield data[i:i + size]


# --- buffering ------------------------------------------------------------------------

def test_buffered_bodies_reach_the_app_whole_with_content_length(make_weir):
    w = make_weir(pool() + sitesec())
    big = os.urandom(300 * 1024)    # beyond the memory part: spooled to a file
    st, h, body = post(w, "/app/echo", big)
    assert st == 200 and body == big
    assert h["x-sha256"] == hashlib.sha256(big).hexdigest()
    # chunked from the client: the worker gets the buffered body with Content-Length
    st, h, body = post(w, "/app/echo", chunks(big), {"Transfer-Encoding": "chunked"})
    assert st == 200 and h["x-length"] == str(len(big)) and body == big
    st, _, body = post(w, "/app/headers", chunks(b"abc" * 1000, 100),
                       {"Transfer-Encoding": "chunked"})
    names = {k.lower(): v for k, v in json.loads(body)["headers"]}
    assert st == 200 and names["content-length"] == "3000"
    assert "transfer-encoding" not in names
    # a body over max_body is refused before anything reaches the app
    st, _, _ = post(w, "/app/echo", chunks(b"x" * (31 << 20), 1 << 20),
                    {"Transfer-Encoding": "chunked"})
    assert st == 413


def test_truncated_upload_never_reaches_the_app(make_weir):
    w = make_weir(pool() + sitesec())
    assert post(w, "/app/echo?n=1", b"first")[0] == 200
    with socket.create_connection(("127.0.0.1", w.port)) as s:
        s.sendall(b"POST /app/echo?n=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
                  + b"0123456789")
        # the front end has the head and 10 bytes; the client goes away
        wait_for(lambda: status(w)["frontend"]["connections"] >= 1, what="connection held")
    assert post(w, "/app/echo?n=3", b"third")[0] == 200
    rows = wait_for(lambda: httperr_rows(w, "Connection_Dropped"), what="httperr line")
    assert len(rows) == 1
    assert rows[0]["cs-method"] == "POST" and rows[0]["cs-uri"] == "/app/echo?n=2"
    assert rows[0]["sc-status"] == "400" and rows[0]["s-queuename"] == "app"
    wait_for(lambda: w.access_log().count("/app/echo") >= 3, what="access lines")
    lines = [ln for ln in w.access_log().splitlines() if "/app/echo" in ln]
    assert len(lines) == 3, lines
    assert [ln for ln in lines if " n=2 " in ln and " 400 " in ln], lines
    # the application's own log: n=1 and n=3, never n=2
    applog = lambda: (w.log_dir / "pools" / "app.log").read_text(errors="replace")
    wait_for(lambda: "n=3" in applog(), what="the app's log line for n=3")
    assert "n=1" in applog() and "n=2" not in applog()
    assert closed_count(w, "Connection_Dropped") == 1


# --- minimum rates ---------------------------------------------------------------------

class SlowClients:
    """n connections that each send `head`, then `body` one byte per
    `every` seconds, from one selector loop in a thread.  Records, per
    client, the time the server answered or closed, and the status line."""

    def __init__(self, port, n, head, body, every=1.0, limit=60.0):
        self.port, self.n, self.head, self.body = port, n, head, body
        self.every, self.limit = every, limit
        self.done = {}      # index -> (seconds after start, first line or "")
        self.opened = 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        sel = selectors.DefaultSelector()
        socks, sent, got = [], [], []
        self.start = time.monotonic()
        for i in range(self.n):
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                s.sendall(self.head)
                s.setblocking(False)
            except OSError:
                self.done[i] = (0.0, "connect failed")
                socks.append(None)
                sent.append(0)
                got.append(b"")
                continue
            socks.append(s)
            sent.append(0)
            got.append(b"")
            sel.register(s, selectors.EVENT_READ, i)
            self.opened += 1
        next_byte = time.monotonic() + self.every
        while not self.stop.is_set() and len(self.done) < self.n and \
                time.monotonic() - self.start < self.limit:
            for key, _ in sel.select(timeout=0.1):
                i = key.data
                try:
                    d = socks[i].recv(4096)
                except OSError:
                    d = b""
                if d:
                    got[i] += d
                if not d or b"\r\n" in got[i]:
                    self.done[i] = (time.monotonic() - self.start,
                                    got[i].split(b"\r\n")[0].decode(errors="replace"))
                    sel.unregister(socks[i])
            if time.monotonic() >= next_byte:
                next_byte += self.every
                for i, s in enumerate(socks):
                    if s is None or i in self.done or sent[i] >= len(self.body):
                        continue
                    try:
                        s.send(self.body[sent[i]:sent[i] + 1])
                        sent[i] += 1
                    except OSError:
                        pass
        for s in socks:
            if s is not None:
                s.close()
        sel.close()

    def statuses(self):
        return [v[1].split(" ")[1] if v[1].startswith("HTTP/") else v[1]
                for v in self.done.values()]

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.t.join(30)


def slow_post(path, length=100 * 1024):
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()
    return head, b"a" * length


def test_slow_head_and_slow_body_get_408_after_the_grace_period(make_weir):
    w = make_weir(pool() + sitesec())
    head, body = slow_post("/app/echo")
    with SlowClients(w.port, 1, b"GET /app/hello HTTP/1.1\r\n", b"Host: x\r\n" * 100) as hc, \
            SlowClients(w.port, 1, head, body) as bc:
        # meanwhile others are served
        for _ in range(20):
            assert post(w, "/app/echo", b"quick")[0] == 200
        wait_for(lambda: len(hc.done) == 1 and len(bc.done) == 1, timeout=GRACE + 15,
                 what="slow clients closed")
    for c in (hc, bc):
        t, line = list(c.done.values())[0]
        assert line.startswith("HTTP/1.1 408 "), line
        assert GRACE - 1 <= t <= GRACE + 5, t
    rows = wait_for(lambda: len(httperr_rows(w, "Timer_MinBytesPerSecond")) >= 2 and
                    httperr_rows(w, "Timer_MinBytesPerSecond"), what="httperr lines")
    assert sorted(r["cs-method"] for r in rows) == ["GET", "POST"], rows
    assert all(r["sc-status"] == "408" for r in rows), rows
    assert closed_count(w, "Timer_MinBytesPerSecond") == 2
    # the app saw the 20 quick bodies, never the slow one
    applog = (w.log_dir / "pools" / "app.log").read_text()
    assert applog.count("POST /app/echo") == 20, applog[-2000:]


def test_slow_response_reader_is_closed_and_releases_its_worker(make_weir):
    w = make_weir(pool(max_conns=1) + sitesec())
    with socket.create_connection(("127.0.0.1", w.port)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /app/big?mb=10 HTTP/1.1\r\nHost: x\r\n\r\n")
        start = time.monotonic()
        got, closed_at = 0, None
        # read 10 bytes per second until weir closes (bounded); the close is
        # a reset, seen in the socket's TCP state before the data queued ahead of it
        s.settimeout(1.0)
        while time.monotonic() - start < 4 * GRACE:
            if s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] in (TCP_CLOSE, TCP_CLOSE_WAIT):
                closed_at = time.monotonic() - start
                break
            try:
                d = s.recv(10)
            except socket.timeout:
                continue
            except ConnectionResetError:
                d = b""
            if not d:
                closed_at = time.monotonic() - start
                break
            got += len(d)
            time.sleep(1.0)
        assert closed_at is not None, "never closed"
        assert GRACE - 1 <= closed_at <= 2 * GRACE + 5, closed_at
        assert got < 10 << 20
    # counted, logged once with the status that was sent, and the worker is free again
    rows = wait_for(lambda: httperr_rows(w, "Timer_MinBytesPerSecond"), what="httperr line")
    assert len(rows) == 1 and rows[0]["sc-status"] == "200" and rows[0]["cs-uri"] == "/app/big?mb=10"
    assert closed_count(w, "Timer_MinBytesPerSecond") == 1
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=10)
    c.request("GET", "/app/hello")
    assert c.getresponse().status == 200
    c.close()
