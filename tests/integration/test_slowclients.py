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
import multiprocessing
import os
import selectors
import socket
import subprocess
import threading
import time

from conftest import SRC, WEIR, free_port, read_response, wait_for

PY = "/usr/bin/python3"
APP = f"{PY} {SRC}/tests/apps/app.py"
# (not "gunicorn --workers 1 ...": another test file finds its gunicorns by that name)
GUNICORN = f"{PY} -m gunicorn --chdir {SRC}/tests/apps --workers 1 wsgi_app:app"
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
            self.report()
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

    def report(self):
        pass

    def statuses(self):
        return [v[1].split(" ")[1] if v[1].startswith("HTTP/") else v[1]
                for v in self.done.values()]

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.t.join(30)


class SlowClientsProcess(SlowClients):
    """SlowClients driven from a child process: hundreds of sockets and a
    measuring client in one Python process would share its one lock, and
    the measurement would say more about Python than about weir."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.ctx = multiprocessing.get_context("fork")
        self.parent_end, self.child_end = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=self.child, daemon=True)

    def child(self):
        self.last_report = 0.0
        self.run()
        self.child_end.send((self.opened, dict(self.done)))

    def report(self):
        if time.monotonic() - self.last_report >= 0.2:
            self.last_report = time.monotonic()
            self.child_end.send((self.opened, dict(self.done)))

    def poll(self):
        while self.parent_end.poll():
            self.opened, self.done = self.parent_end.recv()
        return self

    def __enter__(self):
        self.proc.start()
        return self

    def __exit__(self, *a):
        self.proc.join(self.limit + 10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.poll()


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


def pool_inflight(w):
    return status(w)["pools"][0]["inflight"]


def slow_read(w, check):
    """Read /app/big?mb=10 at 10 bytes a second until weir closes the
    connection (bounded); call check() each second.  Returns when it
    closed, in seconds.  The close is a reset, seen in the socket's TCP
    state before the data queued ahead of it."""
    with socket.create_connection(("127.0.0.1", w.port)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /app/big?mb=10 HTTP/1.1\r\nHost: x\r\n\r\n")
        start = time.monotonic()
        s.settimeout(1.0)
        got = 0
        while time.monotonic() - start < 4 * GRACE:
            if s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] in (TCP_CLOSE, TCP_CLOSE_WAIT):
                break
            try:
                d = s.recv(10)
            except socket.timeout:
                continue
            except ConnectionResetError:
                break
            if not d:
                break
            got += len(d)
            check()
            time.sleep(1.0)
        else:
            raise AssertionError("never closed")
        assert got < 10 << 20
        return time.monotonic() - start


def test_slow_response_reader_is_closed_and_never_holds_a_worker(make_weir):
    """A client reads a 10 MB response at 10 bytes/s.  The response is
    buffered for it (response_buffer), so the worker is free within a
    moment; the client is closed once the grace period shows it slower
    than min_response_rate; others are served all along."""
    w = make_weir(pool() + sitesec())
    other = http.client.HTTPConnection("127.0.0.1", w.port, timeout=5)
    seen = {"served": 0, "free_at": None}
    start = time.monotonic()

    def check():
        other.request("GET", "/app/hello")
        r = other.getresponse()
        assert r.status == 200 and r.read().startswith(b"hello from")
        seen["served"] += 1
        if seen["free_at"] is None and pool_inflight(w) == 0:
            seen["free_at"] = time.monotonic() - start

    closed_at = slow_read(w, check)
    other.close()
    assert GRACE - 1 <= closed_at <= 2 * GRACE + 5, closed_at
    assert seen["served"] >= 5
    # the worker was given back long before the client was closed
    assert seen["free_at"] is not None and seen["free_at"] < closed_at - 3, (seen, closed_at)
    # counted, logged once with the status that was sent
    rows = wait_for(lambda: httperr_rows(w, "Timer_MinBytesPerSecond"), what="httperr line")
    assert len(rows) == 1 and rows[0]["sc-status"] == "200" and rows[0]["cs-uri"] == "/app/big?mb=10"
    assert closed_count(w, "Timer_MinBytesPerSecond") == 1
    lines = wait_for(lambda: [ln for ln in w.access_log().splitlines() if "/app/big" in ln],
                     what="access line")
    assert len(lines) == 1 and " 200 " in lines[0], lines


def test_slow_response_reader_without_a_response_buffer_holds_its_worker_until_closed(make_weir):
    """response_buffer = 0: the worker waits for the slow reader, until
    min_response_rate closes it; then it is released."""
    w = make_weir(pool(response_buffer=0) + sitesec())
    held = []
    closed_at = slow_read(w, lambda: held.append(pool_inflight(w)))
    assert GRACE - 1 <= closed_at <= 2 * GRACE + 5, closed_at
    assert len(held) >= 5 and all(n == 1 for n in held[2:]), held
    wait_for(lambda: pool_inflight(w) == 0, timeout=10, what="the worker released")
    assert closed_count(w, "Timer_MinBytesPerSecond") == 1


# --- the slow-body attack --------------------------------------------------------------

def rate_of(port, seconds, waits=None):
    """Requests per second one keep-alive client gets from /g/x, and its
    failures; each request's time is appended to `waits` if given."""
    ok, failed = 0, []
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            c.request("GET", "/g/x")
            r = c.getresponse()
            body = r.read()
            if waits is not None:
                waits.append(time.monotonic() - t0)
            if r.status == 200 and body.startswith(b"hello from"):
                ok += 1
            else:
                failed.append(r.status)
        except (OSError, http.client.HTTPException) as e:
            failed.append(repr(e))
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.close()
    # over the time it really took: the last request may have waited long
    return ok / (time.monotonic() - end + seconds), failed


def gunicorn_weir(make_weir, **keys):
    w = make_weir(pool("g", GUNICORN, processes=2, ping_path="/healthz", start_mode="always",
                       **keys) + sitesec((("/g", "g"),)))
    wait_for(lambda: w.log().count("ready in") >= 2, timeout=30, what="gunicorn workers")
    return w


SLICE = 1.5     # seconds per measurement


def median(v):
    return sorted(v)[len(v) // 2]


def attack(w, n, slices=3, waits=None):
    """n slow uploads (100 KB at 1 byte/s) to the pool's upload handler;
    the normal client's rate in `slices` measurements while they run (all
    within the grace period), and its failures."""
    head, body = slow_post("/g/upload")
    rates, failed = [], []
    with SlowClientsProcess(w.port, n, head, body, limit=GRACE + 30) as sc:
        wait_for(lambda: sc.poll().opened == n or len(sc.done) > 0, timeout=30,
                 what="slow clients")
        for _ in range(slices):
            r, f = rate_of(w.port, SLICE, waits)
            rates.append(r)
            failed += f
        wait_for(lambda: len(sc.poll().done) == n, timeout=GRACE + 25, what="slow clients closed")
    return rates, failed, sc


def baseline(w, slices=2):
    rates, failed = [], []
    for _ in range(slices):
        r, f = rate_of(w.port, SLICE)
        rates.append(r)
        failed += f
    return rates, failed


def uploads_logged(w):
    return [ln for ln in w.access_log().splitlines() if "/g/upload" in ln]


def test_slow_body_attack_does_not_reach_the_pool(make_weir):
    """4, then 500 clients upload 100 KB at 1 byte/s to a pool of 2 gunicorn
    workers (defaults: buffered bodies, 240 bytes/s after 10 s): a normal
    client of that pool keeps its rate, and the slow ones get 408."""
    w = gunicorn_weir(make_weir)
    rate_of(w.port, 2.0)    # warm up
    # measurements interleaved with the attacks (the shared machine's load
    # drifts); medians compared
    base, failed = baseline(w)
    during, waits = {}, {}
    for n in (4, 500):
        waits[n] = []
        during[n], f, sc = attack(w, n, waits=waits[n])
        failed += f
        b, f = baseline(w)
        base += b
        failed += f
        st = sc.statuses()
        assert st.count("408") == n, {s: st.count(s) for s in set(st)}
        assert all(GRACE - 1 <= t <= GRACE + 20 for t, _ in sc.done.values())
    print("normal client alone: %s req/s (median %.0f); with 4 slow uploads: %s (median %.0f); "
          "with 500: %s (median %.0f); longest request during the attacks %.3f s" % (
              [round(r) for r in base], median(base), [round(r) for r in during[4]],
              median(during[4]), [round(r) for r in during[500]], median(during[500]),
              max(max(waits[4]), max(waits[500]))))
    assert failed == [], failed[:5]
    # Uploads that held the workers would stop the normal client outright:
    # its requests would wait for min_request_rate to free a worker (seconds),
    # and its rate fall to near nothing (the request_buffering = off test
    # below).  The bounds tell that apart from the load of a shared 2-core
    # machine, which moves the rate 3x between two slices of one run (the
    # issue's goal is 10 %; the figures are in the test output).
    for n in (4, 500):
        assert max(waits[n]) < 2.0, (n, max(waits[n]))
        assert median(during[n]) >= 0.3 * median(base), (n, base, during[n])
    wait_for(lambda: closed_count(w, "Timer_MinBytesPerSecond") == 504, timeout=10,
             what="504 closes counted")
    # none of the slow uploads reached a worker: each one's only line is its 408
    uploads = wait_for(lambda: len(uploads_logged(w)) >= 504 and uploads_logged(w),
                       what="504 access lines")
    assert len(uploads) == 504 and all(" 408 " in ln for ln in uploads), uploads[:3]


def test_slow_body_attack_with_request_buffering_off_holds_the_workers(make_weir):
    """The same 4 slow uploads with request_buffering = off: the bodies
    stream to the workers, which are held by them until min_request_rate
    closes the clients -- the normal client gets (almost) nothing meanwhile."""
    w = gunicorn_weir(make_weir, request_buffering="off")
    rate_of(w.port, 2.0)
    base, f0 = baseline(w)
    # one measurement: a request stuck behind the uploads ends it only when
    # min_request_rate frees the workers
    during, _, sc4 = attack(w, 4, slices=1)
    print("request_buffering = off: normal client alone %s req/s, with 4 slow uploads %s" % (
        [round(r) for r in base], [round(r, 1) for r in during]))
    assert f0 == []
    assert during[0] < 0.2 * median(base), (base, during)
    # min_request_rate still ends the attack, and the pool serves again
    assert sc4.statuses().count("408") == 4, (sc4.done, (w.log_dir / "pools" / "g.log").read_text()[-3000:])
    wait_for(lambda: rate_of(w.port, 0.5)[0] > 0, timeout=30, what="the pool serving again")


# --- workers that hang up ----------------------------------------------------------------

class Upstream:
    """An HTTP upstream weir does not start (address = 127.0.0.1:PORT) that
    misbehaves on purpose, by path:
      /cut-body     reads the head and 1000 body bytes, then closes
      /cut-length   answers Content-Length: 100000 with 10 bytes, then closes
      /cut-chunked  answers one chunk, then closes (no last chunk)
    anything else: 200 "ok".  Records when it closed a cut connection."""

    def __init__(self):
        self.port = free_port()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", self.port))
        self.ls.listen(64)
        self.ls.settimeout(0.2)
        self.closed_at = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            try:
                s, _ = self.ls.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, s):
        s.settimeout(10)
        try:
            while True:
                data = b""
                while b"\r\n\r\n" not in data:
                    d = s.recv(65536)
                    if not d:
                        return
                    data += d
                head, rest = data.split(b"\r\n\r\n", 1)
                path = head.split(b" ")[1]
                if path == b"/up/cut-body":
                    while len(rest) < 1000:
                        rest += s.recv(65536)
                    self.closed_at.append(time.monotonic())
                    return
                if path == b"/up/cut-length":
                    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789")
                    self.closed_at.append(time.monotonic())
                    return
                if path == b"/up/cut-chunked":
                    s.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"a\r\n0123456789\r\n")
                    self.closed_at.append(time.monotonic())
                    return
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except OSError:
            return
        finally:
            s.close()

    def close(self):
        self.stop.set()
        self.t.join(5)
        self.ls.close()


def upstream_weir(make_weir, up, **keys):
    lines = ["[pool up]", f"address = 127.0.0.1:{up.port}"] + [f"{k} = {v}" for k, v in keys.items()]
    w = make_weir("\n".join(lines) + "\n" + sitesec((("/up", "up"),)))
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=10)
    wait_for(lambda: (c.request("GET", "/up/ok"), c.getresponse().read())[1] == b"ok",
             timeout=20, what="upstream reachable")
    c.close()
    return w


def test_upstream_closing_mid_body_is_a_prompt_502(make_weir):
    """request_buffering = off: the body streams, and the worker hangs up
    after 1000 bytes of it -- the client gets 502 at once, not a 504 a
    minute later.  With buffering on, the same hang-up while weir writes
    the buffered body is a prompt 502 too."""
    up = Upstream()
    try:
        for mode in ("off", "on"):
            w = upstream_weir(make_weir, up, request_buffering=mode)
            before = len(up.closed_at)
            with socket.create_connection(("127.0.0.1", w.port), timeout=10) as s:
                s.sendall(b"POST /up/cut-body HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n"
                          + b"b" * (100000 if mode == "off" else 200000))
                st, _, _ = read_response(s)
                got = time.monotonic()
            assert st == 502, (mode, st)
            wait_for(lambda: len(up.closed_at) > before, what="the upstream's close")
            took = got - up.closed_at[-1]
            print(f"request_buffering = {mode}: 502 {took * 1000:.1f} ms after the upstream closed")
            assert took < 0.1, (mode, took)
            # a hang-up is not a protocol violation: no event 1011
            assert not [e for e in w.events() if e["id"] == 1011]
    finally:
        up.close()


def test_upstream_closing_mid_response_never_completes_the_response(make_weir):
    up = Upstream()
    try:
        w = upstream_weir(make_weir, up)
        for path in (b"/up/cut-length", b"/up/cut-chunked"):
            with socket.create_connection(("127.0.0.1", w.port), timeout=10) as s:
                s.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
                data = b""
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    data += d
            head, _, body = data.partition(b"\r\n\r\n")
            if path == b"/up/cut-length":
                # the head was sent with the length it promised: the body falls short
                assert b" 200 " in head.split(b"\r\n")[0] and len(body) < 100000, data[:200]
            else:
                assert b" 200 " in head.split(b"\r\n")[0], data[:200]
                assert not body.endswith(b"0\r\n\r\n"), body
    finally:
        up.close()


# --- connections per address -------------------------------------------------------------

def test_max_connections_per_ip(make_weir, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "a.txt").write_text("a\n")
    os.chmod(tmp_path, 0o755)
    w = make_weir(f"[site main]\nroot = {root}\n", server_extra="max_connections_per_ip = 3")

    def served(s):
        s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            return read_response(s)[0] == 200
        except (AssertionError, OSError):
            return False

    held = [socket.create_connection(("127.0.0.1", w.port), timeout=5) for _ in range(3)]
    try:
        assert all(served(s) for s in held)
        with socket.create_connection(("127.0.0.1", w.port), timeout=5) as s:
            assert not served(s)    # the fourth is closed unanswered
        assert closed_count(w, "ConnLimit") == 1
        held.pop().close()
        # the address has room again once weir has seen the close

        def fresh():
            with socket.create_connection(("127.0.0.1", w.port), timeout=5) as s:
                return served(s)
        wait_for(fresh, what="a new connection served")
        assert all(served(s) for s in held)
    finally:
        for s in held:
            s.close()
