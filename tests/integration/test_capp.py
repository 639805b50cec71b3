"""weir's pools with a C upstream: tests/apps/hello.c (weir-test-hello), a
single-threaded epoll HTTP/1.1 server that takes its socket as fd 3
(LISTEN_FDS/LISTEN_PID).

Covers upstream keep-alive (connections to workers are reused), a worker
SIGKILLed under keep-alive load (no client-visible failure, event 1009),
queueing with max_conns = 1 (queue_length, QueueFull, queue_timeout) and
SIGTERM of weir letting a request in flight finish.  Loopback only, every
wait polls a condition with a deadline.
"""
import http.client
import os
import signal
import socket
import threading
import time

import pytest

import conftest
from conftest import WEIR, read_response, wait_for

HELLO = os.environ.get("WEIR_TEST_HELLO") or os.path.join(
    os.path.dirname(WEIR), "tests", "apps", "weir-test-hello")

pytestmark = pytest.mark.skipif(
    not os.access(HELLO, os.X_OK),
    reason=f"the C test app is not built ({HELLO}): add subdir('apps') to "
           "tests/meson.build and run ninja, or set WEIR_TEST_HELLO")

HELLO_BODY = b"hello, world\n"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def conf(pool="c", site_prefix="/", **keys):
    lines = [f"[pool {pool}]", f"command = {HELLO}"]
    lines += [f"{k} = {v}" for k, v in keys.items()]
    return "\n".join(lines) + f"\n\n[site main]\napp = {site_prefix} {pool}\n"


@pytest.fixture
def capp(make_weir):
    """make_weir for C-app pools; afterwards, no worker may have left a
    sanitizer report in its pool log (sanitizer builds of the app)."""
    started = []

    def factory(body, **kw):
        w = make_weir(body, **kw)
        started.append(w)
        return w

    yield factory
    for w in started:
        logs = w.log_dir / "pools"
        for p in (logs.iterdir() if logs.exists() else ()):
            text = p.read_text(errors="replace")
            for m in SANITIZER_MARKERS:
                assert m not in text, f"sanitizer report in {p}:\n{text[-8000:]}"


def status(w):
    """The master's /status (admin API on state_dir/admin.sock)."""
    import json

    class UnixConn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(10)
            self.sock.connect(str(w.state_dir / "admin.sock"))

    c = UnixConn("weir")
    try:
        c.request("GET", "/status")
        r = c.getresponse()
        assert r.status == 200
        return json.loads(r.read())
    finally:
        c.close()


def pool_status(w, name="c"):
    return next(p for p in status(w)["pools"] if p["name"] == name)


def ready_pids(w, name="c"):
    return sorted(x["pid"] for x in pool_status(w, name)["workers"] if x["state"] == "ready")


def get(w, path, timeout=30, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def events(w, eid):
    return [e for e in w.events() if e["id"] == eid]


class Load(conftest.Load):
    """conftest.Load of the C test app: every answer is "hello, world"."""

    def __init__(self, port, conns=4, path="/"):
        super().__init__(port, path, conns, expect=lambda body: body == HELLO_BODY)


def start_two(capp):
    w = capp(conf(processes=2, ping_path="/healthz", start_mode="always"))
    wait_for(lambda: len(ready_pids(w)) == 2, timeout=20, what="two ready C workers")
    return w


# --- keep-alive to the workers ----------------------------------------------------------

def test_keepalive_get_reuses_upstream_connections(capp):
    w = start_two(capp)
    pids = ready_pids(w)
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=30)
    try:
        for i in range(100):
            c.request("GET", f"/any/path?i={i}")
            r = c.getresponse()
            assert (r.status, r.read()) == (200, HELLO_BODY), i
        # "PID N": connections each worker accepted so far (readiness pings
        # included).  Sequential requests alternate between idle workers;
        # ask until both have answered.
        seen = {}
        for _ in range(40):
            c.request("GET", "/conns")
            r = c.getresponse()
            assert r.status == 200
            pid, n = map(int, r.read().split())
            seen[pid] = n
            if len(seen) == 2:
                break
    finally:
        c.close()
    assert sorted(seen) == pids, "both workers served"
    # per worker: its readiness ping, plus the front end's kept-alive
    # connection; 100 requests must not have opened 100 connections
    assert sum(seen.values()) <= 4, f"upstream connections not reused: {seen}"


def test_pipelining_close_and_http10_through_weir(capp):
    # weir and its worker on one CPU (inherited from us): sending the request
    # to the worker then usually lets it run and answer before the front end
    # reads again, so the front end finds the whole response at once -- the
    # path where a "Connection: close" was once not acted on.
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        w = capp(conf(ping_path="/healthz"))
    finally:
        os.sched_setaffinity(0, cpus)
    s = socket.create_connection(("127.0.0.1", w.port), timeout=20)
    s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_response(s)[::2] == (200, HELLO_BODY)
    assert read_response(s)[::2] == (200, b"ok\n")
    s.close()
    st, h, body = get(w, "/echo")
    assert (st, body) == (200, b"")
    # Repeat, so that a close missed on that path shows every time.
    for i in range(20):
        for req in (b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    b"GET /pid HTTP/1.0\r\n\r\n"):
            s = socket.create_connection(("127.0.0.1", w.port), timeout=5)
            s.sendall(req)
            st, h, body = read_response(s)
            assert st == 200 and h.get("connection") == "close", (req, h)
            try:
                assert s.recv(100) == b"", "no data after the response"
            except socket.timeout:
                pytest.fail(f"weir did not close after {req!r} (try {i}): it answered "
                            "'Connection: close' and kept the connection open")
            s.close()


def test_more_than_64_concurrent_requests_keep_their_upstream_connections(capp):
    # The front end keeps up to max_conns (100 by default) idle connections
    # per worker: a second burst as wide as the first opens none (it used
    # to keep 64 per thread and reconnect the rest every time).
    w = capp(conf(ping_path="/healthz"))
    assert get(w, "/")[0] == 200
    width = 80

    def burst():
        gate, out = threading.Barrier(width), []

        def one():
            c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=30)
            try:
                gate.wait(30)
                # long enough for all of them to be at the worker at once
                c.request("GET", "/sleep?ms=700")
                r = c.getresponse()
                out.append((r.status, r.read()))
            finally:
                c.close()

        threads = [threading.Thread(target=one) for _ in range(width)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert out == [(200, b"slept 700 ms\n")] * width

    def accepted():
        st, h, body = get(w, "/conns")
        assert st == 200
        return int(body.split()[1])

    burst()
    after_first = accepted()
    burst()
    assert accepted() == after_first, "upstream connections were closed and reopened"


def fe_cpu_s(w):
    """CPU seconds the front end has used."""
    with open(f"/proc/{w.frontend_pid()}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_client_input_during_a_pool_request(capp):
    # While a request is at the worker the client socket stays readable:
    # the next pipelined request arriving then, or the client's EOF, must
    # neither be lost nor make the front end spin on it.
    w = capp(conf(ping_path="/healthz"))
    assert get(w, "/")[0] == 200
    s = socket.create_connection(("127.0.0.1", w.port), timeout=20)
    try:
        s.sendall(b"GET /sleep?ms=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_inflight(w, 1)
        cpu0, t0 = fe_cpu_s(w), time.monotonic()
        s.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(s)[::2] == (200, b"slept 1000 ms\n")
        st, h, body = read_response(s)
        assert st == 200 and body.strip().isdigit()
        cpu, took = fe_cpu_s(w) - cpu0, time.monotonic() - t0
        assert cpu < 0.5 * took, f"front end busy while waiting: {cpu:.2f} s CPU in {took:.2f} s"
    finally:
        s.close()
    # EOF while the request is at the worker: the connection is closed, the
    # front end goes on serving
    s = socket.create_connection(("127.0.0.1", w.port), timeout=20)
    try:
        s.sendall(b"GET /sleep?ms=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_inflight(w, 1)
        cpu0, t0 = fe_cpu_s(w), time.monotonic()
        s.shutdown(socket.SHUT_WR)
        assert s.recv(100) == b"", "a half-closed client gets its connection closed"
        cpu, took = fe_cpu_s(w) - cpu0, time.monotonic() - t0
        assert cpu < 0.5 * took + 0.05, f"front end busy: {cpu:.2f} s CPU in {took:.2f} s"
    finally:
        s.close()
    assert get(w, "/")[0] == 200


class ClosingUpstream:
    """An HTTP/1.1 upstream on a Unix socket (an external `address`) that
    keeps connections alive until close_idle() shuts down the idle ones
    that served the app (not the master's health checks), without any
    "Connection: close" -- as an app server's keep-alive timeout or request
    limit does.  Answers "got BODY"; records every request."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.idle, self.requests, self.accepted = set(), [], 0
        self.app = set()        # connections that served something but /healthz
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(path)
        os.chmod(path, 0o666)   # the front end connects as an unprivileged user
        self.lsock.listen(64)
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, s):
        buf = b""
        try:
            while True:
                with self.lock:
                    self.idle.add(s)
                while b"\r\n\r\n" not in buf:
                    chunk = s.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                with self.lock:
                    self.idle.discard(s)
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                n = sum(int(ln.split(":", 1)[1]) for ln in lines[1:]
                        if ln.lower().startswith("content-length:"))
                while len(buf) < n:
                    chunk = s.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                body, buf = buf[:n], buf[n:]
                with self.lock:
                    self.requests.append((method, path, body))
                    if not path.endswith("/healthz"):
                        self.app.add(s)
                out = b"ok\n" if path.endswith("/healthz") else b"got " + body
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(out) + out)
                if lines[0].endswith("HTTP/1.0") or any(
                        ln.lower().replace(" ", "") == "connection:close" for ln in lines[1:]):
                    return      # the master's health checks ask for it
        except OSError:
            pass
        finally:
            with self.lock:
                self.idle.discard(s)
            s.close()

    def idle_app(self):
        with self.lock:
            return [s for s in self.idle if s in self.app]

    def close_idle(self):
        idle = self.idle_app()
        for s in idle:
            s.shutdown(socket.SHUT_RDWR)
        return len(idle)

    def close(self):
        self.lsock.close()


def test_worker_closing_a_kept_alive_connection_is_transparent(make_weir, tmp_path):
    # The front end reuses a connection idle for less than a second without
    # checking it first.  If the worker closed it meanwhile, the send fails
    # (EPIPE) before anything was delivered: the request, with or without a
    # body, goes over a new connection -- no 502, no retry, not twice.
    sock = tmp_path / "up.sock"
    up = ClosingUpstream(str(sock))
    try:
        w = make_weir(f"[pool up]\nkind = http\naddress = unix:{sock}\nping_path = /healthz\n"
                      "\n[site main]\napp = / up\n", start=False)
        w.start(env={"WEIR_DEBUG": "1"})
        wait_for(lambda: pool_status(w, "up")["workers"]
                 and pool_status(w, "up")["workers"][0]["state"] == "ready",
                 timeout=20, what="the upstream ready")
        fe = w.frontend_pid()
        c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=20)
        try:
            c.request("GET", "/first")
            r = c.getresponse()
            assert (r.status, r.read()) == (200, b"got ")
            for i, (method, body) in enumerate((("GET", None), ("POST", b"x" * 3000),
                                                ("PUT", b"y" * 10))):
                # The request reaches the front end, and then the worker
                # closes the idle connection, both while the front end is
                # stopped: it runs the request first and takes that
                # connection (it went idle a moment ago).
                wait_for(up.idle_app, what="the connection idle at the upstream")
                os.kill(fe, signal.SIGSTOP)
                try:
                    c.request(method, f"/r{i}", body=body)
                    assert up.close_idle() >= 1
                finally:
                    os.kill(fe, signal.SIGCONT)
                r = c.getresponse()
                assert (r.status, r.read()) == (200, b"got " + (body or b"")), method
        finally:
            c.close()
        sent = [(m, p, b) for m, p, b in up.requests if p.startswith("/r")]
        assert sent == [("GET", "/r0", b""), ("POST", "/r1", b"x" * 3000),
                        ("PUT", "/r2", b"y" * 10)], "each request once, whole"
        # Which way each close was seen -- the idle connection's EOF first, or
        # the failed send -- depends on the order of one batch of events;
        # both must be invisible to the client, and a send is never retried
        # on a connection that took part of it.
        assert w.log().count("a kept-alive connection was closed by the worker") <= 3
        assert events(w, 1011) == [] and "Connection_Abandoned" not in w.httperr_log()
    finally:
        up.close()


# --- a worker killed under load --------------------------------------------------------

def test_sigkill_under_keepalive_load(capp):
    w = start_two(capp)
    victim = ready_pids(w)[0]
    with Load(w.port, conns=4) as load:
        wait_for(lambda: load.ok >= 200 or load.failed, timeout=20, what="load running")
        os.kill(victim, signal.SIGKILL)
        killed_at, ok_at_kill = time.monotonic(), load.ok
        wait_for(lambda: events(w, 1009), timeout=20, what="event 1009")
        wait_for(lambda: len(ready_pids(w)) == 2 and victim not in ready_pids(w),
                 timeout=20, what="a replacement worker")
        # keep the load on for 3 s in all, and past the replacement
        wait_for(lambda: time.monotonic() - killed_at >= 3 and load.ok > ok_at_kill + 200,
                 timeout=30, what="3 s of load")
    assert load.failed == [], f"client-visible failures: {load.failed[:5]}"
    assert load.ok > ok_at_kill, "requests were served after the kill"
    ev = events(w, 1009)
    assert len(ev) == 1 and ev[0]["pid"] == victim and ev[0]["signal"] == 9, ev


# --- queueing with max_conns = 1 ---------------------------------------------------------

def wait_inflight(w, n, queue=None):
    def cond():
        p = pool_status(w)
        return p["inflight"] >= n and (queue is None or p["queue"] >= queue)
    wait_for(cond, timeout=20, what=f"{n} request(s) in flight")


def test_max_conns_1_queues_in_order_and_queue_full_503(capp):
    w = capp(conf(ping_path="/healthz", max_conns=1, queue_length=10))
    assert get(w, "/")[0] == 200        # worker up
    results, lock = {}, threading.Lock()

    def req(i, path):
        t0 = time.monotonic()
        r = get(w, path, timeout=60)
        with lock:
            results[i] = (r, time.monotonic() - t0, time.monotonic())

    first = threading.Thread(target=req, args=("first", "/sleep?ms=1500"))
    first.start()
    wait_inflight(w, 1)
    # the only slot is taken: 10 wait in the queue, 3 more find it full
    threads = [threading.Thread(target=req, args=(i, "/sleep?ms=20")) for i in range(13)]
    for t in threads:
        t.start()
    for t in threads + [first]:
        t.join(60)
    (st, h, body), _, first_done = results.pop("first")
    assert (st, body) == (200, b"slept 1500 ms\n")
    codes = sorted(r[0][0] for r in results.values())
    assert codes == [200] * 10 + [503] * 3, codes
    for (st, h, body), took, done in results.values():
        if st == 503:
            assert int(h["retry-after"]) >= 1
            assert done < first_done, "QueueFull answers at once, without waiting"
        else:
            assert body == b"slept 20 ms\n"
            assert done >= first_done, "queued requests waited for the slot"
    wait_for(lambda: "QueueFull" in w.httperr_log(), what="QueueFull in httperr.log")


def test_queue_timeout_503(capp):
    w = capp(conf(ping_path="/healthz", max_conns=1, queue_timeout="1s"))
    assert get(w, "/")[0] == 200
    out = {}
    t = threading.Thread(target=lambda: out.update(r=get(w, "/sleep?ms=4000", timeout=60)))
    t.start()
    wait_inflight(w, 1)
    t0 = time.monotonic()
    st, h, body = get(w, "/waits", timeout=30)
    waited = time.monotonic() - t0
    assert st == 503 and 0.8 <= waited < 3.5, (st, waited)
    t.join(60)
    assert out["r"][0] == 200
    wait_for(lambda: "AppPoolTimer" in w.httperr_log(), what="AppPoolTimer in httperr.log")
    assert get(w, "/")[0] == 200, "the slot is free again"


# --- SIGTERM of weir ----------------------------------------------------------------------

def test_sigterm_finishes_request_in_flight(capp):
    w = capp(conf(ping_path="/healthz"))
    assert get(w, "/")[0] == 200
    out = {}

    def slow():
        t0 = time.monotonic()
        out["r"] = get(w, "/sleep?ms=1000", timeout=30)
        out["took"] = time.monotonic() - t0

    t = threading.Thread(target=slow)
    t.start()
    wait_inflight(w, 1)
    w.proc.send_signal(signal.SIGTERM)
    t.join(30)
    st, h, body = out["r"]
    assert (st, body) == (200, b"slept 1000 ms\n")
    assert w.proc.wait(timeout=20) == 0, w.log()[-2000:]
