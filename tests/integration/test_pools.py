"""Application pools: the master starts, pings, recycles and protects
workers; the front end queues and proxies to them.

Real workers: tests/apps/app.py (a socket-activated stdlib HTTP app) and
gunicorn from Debian (python3-gunicorn) on fd 3.  Every wait polls a
condition with a deadline.
"""
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import conftest
from conftest import SRC, free_port, raw, read_response, wait_for

PY = "/usr/bin/python3"
APP = f"{PY} {SRC}/tests/apps/app.py"
GUNICORN = f"{PY} -m gunicorn -w 1 --chdir {SRC}/tests/apps wsgi_app:app"


def pool(name="app", command=APP, **keys):
    lines = [f"[pool {name}]", f"command = {command}"]
    lines += [f"{k} = {v}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def sitesec(name="main", root=None, apps=(("/app", "app"),), extra=""):
    lines = [f"[site {name}]"]
    if root:
        lines.append(f"root = {root}")
    lines += [f"app = {p} {pl}" for p, pl in apps]
    return "\n".join(lines) + "\n" + extra + "\n"


def get(w, path, headers=None, timeout=30, method="GET", body=None):
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


def events(w, eid=None):
    return [e for e in w.events() if eid is None or e["id"] == eid]


def wait_event(w, eid, n=1, timeout=20):
    return wait_for(lambda: len(events(w, eid)) >= n and events(w, eid),
                    timeout=timeout, what=f"{n} event(s) {eid}")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


class Load(conftest.Load):
    """conftest.Load of the Python test app: every answer says "hello from"."""

    def __init__(self, port, path, conns=4):
        super().__init__(port, path, conns, expect=lambda body: body.startswith(b"hello from"))


# --- proxying ---------------------------------------------------------------

def test_proxy_forwards_and_strips_hop_by_hop(make_weir):
    w = make_weir(pool() + sitesec())
    st, h, body = get(w, "/app/headers", headers={
        "Connection": "keep-alive, X-Secret",
        "X-Secret": "must-not-pass",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "10.9.8.7",
        "X-Custom": "passes",
    })
    assert st == 200
    got = json.loads(body)
    hdrs = {k.lower(): v for k, v in got["headers"]}
    assert got["path"] == "/app/headers"
    assert hdrs["host"] == f"127.0.0.1:{w.port}"
    assert hdrs["x-custom"] == "passes"
    for hop in ("x-secret", "keep-alive"):
        assert hop not in hdrs, hop
    # TE: trailers is weir's own hop too (the worker may send trailers), with
    # its Connection option; nothing of the client's Connection passes
    assert hdrs["te"] == "trailers" and hdrs["connection"] == "TE", hdrs
    # a client's X-Forwarded-For is replaced (no trusted_proxies by default)
    assert hdrs["x-forwarded-for"] == "127.0.0.1"
    assert hdrs["x-forwarded-proto"] == "http"
    assert hdrs["x-forwarded-host"] == f"127.0.0.1:{w.port}"
    assert hdrs["forwarded"] == f'for=127.0.0.1;proto=http;host="127.0.0.1:{w.port}"'
    # the response's own hop-by-hop headers do not reach the client
    assert "keep-alive" not in h


def test_proxy_request_bodies(make_weir):
    w = make_weir(pool() + sitesec())
    data = os.urandom(3 * 1024 * 1024 + 17)
    st, h, body = get(w, "/app/echo", method="POST", body=data,
                      headers={"Content-Type": "application/octet-stream"})
    assert st == 200
    assert h["x-sha256"] == hashlib.sha256(data).hexdigest()
    assert body == data
    # chunked request body, raw, split into odd pieces
    chunks = [os.urandom(n) for n in (1, 1000, 70000, 3)]
    wire = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", w.port), timeout=20)
    s.sendall(b"POST /app/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for i in range(0, len(wire), 4093):
        s.sendall(wire[i:i + 4093])
    st, h, body = read_response(s)
    assert st == 200
    assert body == b"".join(chunks)
    # the connection is still usable
    s.sendall(b"GET /app/hello HTTP/1.1\r\nHost: x\r\n\r\n")
    st, h, body = read_response(s)
    assert st == 200 and body.startswith(b"hello from")
    s.close()


def test_proxy_expect_100_continue(make_weir):
    w = make_weir(pool() + sitesec())
    get(w, "/app/hello")  # worker up
    s = socket.create_connection(("127.0.0.1", w.port), timeout=20)
    s.sendall(b"POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
              b"Expect: 100-continue\r\n\r\n")
    first = s.recv(100)
    assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    s.sendall(b"hello")
    st, h, body = read_response(s)
    assert st == 200 and body == b"hello"
    s.close()


def test_proxy_response_framing(make_weir):
    w = make_weir(pool() + sitesec())
    # chunked from the worker -> chunked to an HTTP/1.1 client
    out = raw(w.port, b"GET /app/stream?n=50&size=1000 HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n", timeout=20)
    head, rest = out.split(b"\r\n\r\n", 1)
    assert b"200" in head.split(b"\r\n")[0]
    assert b"transfer-encoding: chunked" in head.lower()
    body, data = rest, b""
    while True:
        line, body = body.split(b"\r\n", 1)
        n = int(line, 16)
        if n == 0:
            break
        data += body[:n]
        body = body[n + 2:]
    assert data == b"x" * 50000
    # ... and close-delimited to an HTTP/1.0 client
    out = raw(w.port, b"GET /app/stream?n=5&size=100 HTTP/1.0\r\n\r\n", timeout=20)
    head, rest = out.split(b"\r\n\r\n", 1)
    assert b"chunked" not in head.lower() and rest == b"x" * 500
    # a body delimited by close from the worker keeps the client connection
    s = socket.create_connection(("127.0.0.1", w.port), timeout=20)
    s.sendall(b"GET /app/close HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = b""
    while not buf.endswith(b"0\r\n\r\n"):
        chunk = s.recv(65536)
        assert chunk, "connection closed"
        buf += chunk
    assert b"delimited by close" in buf
    s.sendall(b"GET /app/hello HTTP/1.1\r\nHost: x\r\n\r\n")
    st, h, body = read_response(s)
    assert st == 200
    s.close()
    # HEAD: headers only
    st, h, body = get(w, "/app/hello", method="HEAD")
    assert st == 200 and body == b""
    # a large response streams through intact
    st, h, body = get(w, "/app/big?mb=20", timeout=60)
    assert st == 200 and len(body) == 20 << 20 and body == b"y" * (20 << 20)


def test_socket_activation_environment(make_weir):
    w = make_weir(pool(env="GREETING=hi there") + sitesec())
    assert get(w, "/app/env?name=LISTEN_FDNAMES")[2] == b"app"
    assert get(w, "/app/env?name=LISTEN_FDS")[2] == b"1"
    assert get(w, "/app/env?name=GREETING")[2] == b"hi there"
    assert get(w, "/app/env?name=WEIR_POOL")[2] == b"app"
    # stdout and stderr of the worker go to log_dir/pools/app.log
    wait_for(lambda: "serving" in (w.log_dir / "pools" / "app.log").read_text(),
             what="worker output in the pool log")


# --- lifecycle ----------------------------------------------------------------

def test_on_demand_start(make_weir):
    w = make_weir(pool(start_mode="on-demand") + sitesec())
    assert "worker 1 started" not in w.log()
    assert get(w, "/app/hello")[0] == 200
    assert "worker 1 started" in w.log()


def test_always_start(make_weir):
    w = make_weir(pool(start_mode="always", processes=2, ping_path="/healthz") + sitesec())
    wait_for(lambda: w.log().count("ready in") >= 2, what="two ready workers")
    pids = set()
    for _ in range(20):
        pids.add(get(w, "/app/pid")[2])
    assert len(pids) == 2, "a web garden of two spreads requests"


def test_worker_crash_gives_1009_and_replacement(make_weir):
    w = make_weir(pool(ping_path="/healthz") + sitesec())
    pid = int(get(w, "/app/pid")[2])
    assert get(w, "/app/hello")[0] == 200
    os.kill(pid, signal.SIGKILL)
    ev = wait_event(w, 1009)[0]
    assert ev["pool"] == "app" and ev["pid"] == pid
    assert ev["signal"] == 9 and ev["core_dumped"] is False
    assert "terminated unexpectedly" in ev["message"]
    assert ev["requests"] >= 2
    assert any("serving" in ln for ln in ev["stderr_tail"])
    assert ev["uptime_ms"] > 0
    newpid = int(wait_for(lambda: get(w, "/app/pid")[2], what="replacement"))
    assert newpid != pid


def test_1009_lists_inflight_and_idempotent_request_is_retried(make_weir):
    w = make_weir(pool(processes=1) + sitesec())
    pid = int(get(w, "/app/pid")[2])
    result = {}

    def slow():
        result["r"] = get(w, "/app/slow?ms=1500", timeout=60)

    t = threading.Thread(target=slow)
    t.start()
    wait_for(lambda: "slow start" in (w.log_dir / "pools" / "app.log").read_text(),
             timeout=10, what="slow request in flight")
    os.kill(pid, signal.SIGKILL)
    ev = wait_event(w, 1009)[0]
    assert ev["inflight"], ev
    assert ev["inflight"][0]["method"] == "GET"
    assert ev["inflight"][0]["target"] == "/app/slow?ms=1500"
    t.join(60)
    st, h, body = result["r"]
    assert st == 200 and body.startswith(b"slow ")
    assert int(body.split()[1]) != pid, "answered by the replacement"


def test_non_idempotent_request_gets_502_and_keeps_connection(make_weir):
    w = make_weir(pool() + sitesec())
    get(w, "/app/hello")
    s = socket.create_connection(("127.0.0.1", w.port), timeout=20)
    s.sendall(b"POST /app/exit?code=3 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
    st, h, body = read_response(s)
    assert st == 502
    s.sendall(b"GET /app/hello HTTP/1.1\r\nHost: x\r\n\r\n")
    st, h, body = read_response(s)
    assert st == 200, "the client connection survives the worker"
    s.close()
    wait_for(lambda: "Connection_Abandoned_By_AppPool" in w.httperr_log(),
             what="httperr line")


def test_rapid_fail_disables_pool_others_keep_serving(make_weir, site):
    conf = (pool("bad", f"{APP} --exit-at-start 1") + pool("good") +
            site_conf("main", site, (("/bad", "bad"), ("/good", "good"))))
    w = make_weir(conf)
    st, h, body = get(w, "/bad/x", timeout=60)
    assert st == 503
    assert "retry-after" in h
    e1002 = wait_event(w, 1002)
    assert len(events(w, 1009)) == 5
    failures = e1002[0]["failures"]
    assert len(failures) == 5 and all("exit status 1" in f["reason"] for f in failures)
    assert len(events(w, 1002)) == 1
    # disabled: 503 at once, with Retry-After, and no new worker
    st, h, body = get(w, "/bad/x")
    assert st == 503 and int(h["retry-after"]) > 0
    assert len(events(w, 1009)) == 5
    # the other pool and the static site are untouched
    assert get(w, "/good/hello")[0] == 200
    assert get(w, "/hello.txt")[0] == 200
    wait_for(lambda: "AppOffline" in w.httperr_log(), what="AppOffline in httperr")


def site_conf(name, root, apps):
    return sitesec(name, root=root, apps=apps)


def test_exit_78_disables_at_once_with_stderr(make_weir):
    w = make_weir(pool("app", f"{APP} --exit-at-start 78") + sitesec())
    st, h, body = get(w, "/app/x", timeout=30)
    assert st == 503
    e = wait_event(w, 1002)[0]
    assert "configuration error" in e["message"], e
    assert len(events(w, 1009)) == 1


def test_backoff_reenables(make_weir):
    w = make_weir(pool("app", f"{APP} --exit-at-start 1", rapid_fail="2 in 1m",
                       rapid_fail_action="backoff", rapid_fail_backoff="2s") + sitesec())
    assert get(w, "/app/x", timeout=30)[0] == 503
    wait_event(w, 1002)
    e = wait_event(w, 1301, timeout=20)[0]
    assert e["backoff_s"] == 2
    # it fails again and backs off for twice as long
    get(w, "/app/x", timeout=30)
    wait_event(w, 1002, n=2)


def test_launch_failure_1059(make_weir):
    w = make_weir(pool("app", "/nonexistent/program --flag") + sitesec())
    st, h, body = get(w, "/app/x")
    assert st == 503
    e = wait_event(w, 1059)[0]
    assert "No such file or directory" in e["message"]
    assert len(events(w, 1009)) == 0


def test_startup_time_limit_1012(make_weir):
    w = make_weir(pool(command=f"{APP} --start-delay 5000", ping_path="/healthz",
                       startup_time_limit="1s") + sitesec())
    threading.Thread(target=lambda: get(w, "/app/x", timeout=30), daemon=True).start()
    e = wait_event(w, 1012)[0]
    assert "exceeded time limits during start up" in e["message"]


def test_missed_ping_1010(make_weir):
    w = make_weir(pool(ping_path="/healthz", ping_interval="1s", ping_response_time="1s") + sitesec())
    pid = int(get(w, "/app/pid")[2])
    os.kill(pid, signal.SIGSTOP)
    try:
        e = wait_event(w, 1010)[0]
        assert e["pid"] == pid
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGCONT)
    wait_for(lambda: not pid_alive(pid), what="the hung worker to be killed")
    assert int(get(w, "/app/pid")[2]) != pid


def test_notify_readiness(make_weir):
    w = make_weir(pool(command=f"{APP} --notify", notify="yes") + sitesec())
    assert get(w, "/app/hello")[0] == 200
    assert "ready in" in w.log()


def test_notify_never_ready_hits_startup_limit(make_weir):
    w = make_weir(pool(notify="yes", startup_time_limit="1s") + sitesec())
    threading.Thread(target=lambda: get(w, "/app/x", timeout=30), daemon=True).start()
    wait_event(w, 1012)


def test_recycle_requests_1075(make_weir):
    w = make_weir(pool(recycle_requests=5, ping_path="/healthz") + sitesec())
    first = get(w, "/app/pid")[2]
    for _ in range(10):
        assert get(w, "/app/pid")[0] == 200
    e = wait_event(w, 1075)[0]
    assert "processing request limit" in e["message"]
    assert e["pid"] == int(first)
    wait_for(lambda: get(w, "/app/pid")[2] != first, what="the replacement to serve")


def test_requests_of_recycled_and_killed_workers_stay_counted(make_weir):
    """A pool's `requests` keeps what its gone workers served.  The front end
    reports counts every 500 ms and skips a worker once it is gone: a worker
    recycled or killed right after serving took its last count with it (the
    four-application test, its WordPress pool recycled every 2 s, showed 2
    requests for 30 served)."""
    w = make_weir(pool("g", start_mode="always") + sitesec(apps=(("/", "g"),)))

    def st():
        out = subprocess.run([conftest.WEIR, "status", "--json", "-c", str(w.conf_path)],
                             capture_output=True, text=True, timeout=30).stdout
        return next(p for p in json.loads(out)["pools"] if p["name"] == "g")

    def only_ready():
        ws = st()["workers"]
        return ws[0]["pid"] if len(ws) == 1 and ws[0]["state"] == "ready" else None

    old = wait_for(only_ready, what="a ready worker")
    for _ in range(5):
        assert get(w, "/x")[0] == 200
    r = subprocess.run([conftest.WEIR, "pool", "recycle", "g", "-c", str(w.conf_path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    new = wait_for(lambda: (pid := only_ready()) not in (None, old) and pid,
                   what="the old worker gone, a new one ready")
    assert st()["requests"] == 5
    for _ in range(3):
        assert get(w, "/x")[0] == 200
    os.kill(new, signal.SIGKILL)
    e = wait_event(w, 1009)[0]
    assert e["pid"] == new
    assert st()["requests"] == 8


def test_inflight_of_a_pool_outlives_another_pools_drain(make_weir):
    """A pool's `inflight` is its workers' sum as last reported: the front
    end's report of one drained worker (sent alone, before it is stopped)
    does not wipe another pool's figure until the next periodic report."""
    w = make_weir(pool("a", start_mode="always") + pool("b", start_mode="always")
                  + sitesec(apps=(("/a", "a"), ("/b", "b"))))

    def st(name):
        out = subprocess.run([conftest.WEIR, "status", "--json", "-c", str(w.conf_path)],
                             capture_output=True, text=True, timeout=30).stdout
        return next(p for p in json.loads(out)["pools"] if p["name"] == name)

    wait_for(lambda: all(st(n)["workers"] and st(n)["workers"][0]["state"] == "ready"
                         for n in ("a", "b")), what="both pools ready")
    slow = threading.Thread(target=lambda: get(w, "/a/slow?ms=6000", timeout=60))
    slow.start()
    try:
        wait_for(lambda: st("a")["inflight"] == 1, what="a's request in flight")
        for _ in range(3):
            old = st("b")["workers"][0]["pid"]
            assert get(w, "/b/x")[0] == 200
            r = subprocess.run([conftest.WEIR, "pool", "recycle", "b", "-c", str(w.conf_path)],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            wait_for(lambda: all(x["pid"] != old for x in st("b")["workers"]),
                     what="b's old worker gone")
            assert st("a")["inflight"] == 1
    finally:
        slow.join(60)


def test_recycle_time_1074(make_weir):
    w = make_weir(pool(recycle_time="1s", ping_path="/healthz") + sitesec())
    pid = get(w, "/app/pid")[2]
    wait_event(w, 1074)
    wait_for(lambda: get(w, "/app/pid")[2] != pid, what="a new worker")


def test_idle_timeout_1186(make_weir):
    w = make_weir(pool(idle_timeout="1s") + sitesec())
    pid = int(get(w, "/app/pid")[2])
    wait_event(w, 1186, timeout=15)
    wait_for(lambda: not pid_alive(pid), what="idle worker to exit")
    newpid = int(get(w, "/app/pid")[2])
    assert newpid != pid


def test_queue_full_503(make_weir):
    w = make_weir(pool(processes=1, max_conns=1, queue_length=10) + sitesec())
    get(w, "/app/hello")
    results = []
    lock = threading.Lock()

    def one():
        r = get(w, "/app/slow?ms=1500", timeout=60)
        with lock:
            results.append(r[0])

    ts = [threading.Thread(target=one) for _ in range(14)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert results.count(503) >= 3, results
    assert results.count(200) >= 1
    wait_for(lambda: "QueueFull" in w.httperr_log(), what="QueueFull in httperr")


def test_queue_timeout_503(make_weir):
    w = make_weir(pool(processes=1, max_conns=1, queue_timeout="1s") + sitesec())
    get(w, "/app/hello")
    results = []
    ts = [threading.Thread(target=lambda: results.append(get(w, "/app/slow?ms=3000", timeout=60)[0]))
          for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert sorted(results) == [200, 503]
    wait_for(lambda: "AppPoolTimer" in w.httperr_log(), what="AppPoolTimer in httperr")


def test_worker_process_tree_is_killed(make_weir):
    w = make_weir(pool() + sitesec())
    pid = int(get(w, "/app/pid")[2])
    orphan = int(get(w, "/app/fork-orphan")[2])
    assert pid_alive(orphan)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(orphan), what="the worker's child to be killed")


def test_worker_identity(make_weir):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    w = make_weir(pool(user="nobody") + sitesec())
    pid = int(get(w, "/app/pid")[2])
    with open(f"/proc/{pid}/status") as f:
        uid = [ln.split()[1] for ln in f if ln.startswith("Uid:")][0]
    import pwd
    assert int(uid) == pwd.getpwnam("nobody").pw_uid


def test_recycle_memory_1117(make_weir):
    w = make_weir(pool(recycle_memory="40M", ping_path="/healthz") + sitesec())
    pid = int(get(w, "/app/pid")[2])
    assert get(w, "/app/alloc?mb=60")[0] == 200
    e = wait_event(w, 1117, timeout=20)[0]
    assert e["pid"] == pid and "memory limit" in e["message"]
    wait_for(lambda: int(get(w, "/app/pid")[2]) != pid, what="the replacement")


def test_workdir_and_limits(make_weir, tmp_path):
    wd = tmp_path / "wd"
    wd.mkdir()
    os.chmod(tmp_path, 0o755)
    w = make_weir(pool(workdir=str(wd), limit_nofile=321) + sitesec())
    assert get(w, "/app/cwd")[2] == str(wd).encode()
    assert get(w, "/app/rlimit?name=NOFILE")[2] == b"321 321"


def test_identity_needs_root(make_weir, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to run weir as another user")
    w = make_weir(pool(user="root") + sitesec(), start=False)
    for d in (w.dir, tmp_path):
        os.chmod(d, 0o777)
    for d in (w.state_dir, w.log_dir, w.log_dir / "pools"):
        d.mkdir()
        os.chmod(d, 0o777)
    w.stderr = open(w.stderr_path, "wb")
    w.proc = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                               "--", os.environ.get("WEIR_BIN", f"{SRC}/build/weir"), "run",
                               "-c", str(w.conf_path)],
                              stdout=w.stderr, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: "front end ready" in w.log(), what="weir as nobody")
    e = wait_event(w, 1057)[0]
    assert "needs weir to be started as root" in e["message"]
    assert get(w, "/app/x")[0] == 503


def test_graceful_stop_stops_workers(make_weir):
    w = make_weir(pool(processes=2, start_mode="always") + sitesec())
    wait_for(lambda: w.log().count("ready in") >= 2, what="workers")
    pids = [x["pid"] for x in json.loads(subprocess.run(
        [conftest.WEIR, "status", "--json", "-c", str(w.conf_path)], capture_output=True,
        text=True, timeout=30).stdout)["pools"][0]["workers"]]
    assert len(pids) == 2
    assert w.stop() == 0
    for p in pids:
        wait_for(lambda: not pid_alive(p), what=f"worker {p} gone")


# --- chaos ---------------------------------------------------------------------

# (a ready worker SIGKILLed every half second, with the default settings:
# test_rapidfail.py)


def test_chaos_overlapped_recycle_every_second(make_weir):
    w = make_weir(pool("g", GUNICORN, processes=2, ping_path="/healthz", recycle_time="1s",
                       start_mode="always") + sitesec(apps=(("/", "g"),)))
    wait_for(lambda: w.log().count("ready in") >= 2, timeout=30, what="gunicorn workers")
    with Load(w.port, "/x", conns=4) as load:
        wait_for(lambda: len(events(w, 1074)) >= 6, timeout=30, what="several recycles")
    assert load.failed == [], load.failed[:5]
    assert load.ok > 100
    assert events(w, 1009) == [] and events(w, 1002) == []
