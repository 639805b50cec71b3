"""bench/pools.py - the application-pool scenarios of bench/run.py.

proxy     weir and nginx in front of the same socket-activated C upstream
          (tests/apps/hello.c), interleaved wrk rounds;
kill      time from a worker's SIGKILL to the next request served, under a
          light keep-alive load (1 worker: the restart; 2 workers: the stall);
disabled  503s from a pool that Rapid-Fail Protection has disabled, under
          wrk load.

See README.md for how to read the tables.  Standard library only.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

from common import (HERE, PINNED, SERVER_CPU, Server, children_running, cpu_own, cpu_split,
                    fmt, proc_stats, rounds, wrk)

SCENARIOS = {
    "proxy": "Reverse proxy to the C hello upstream over a Unix socket, keep-alive, "
             "50 connections",
    "kill": "Worker SIGKILLed under keep-alive load: time to the next request served",
    "disabled": "503 from a pool disabled by Rapid-Fail Protection, keep-alive, 50 connections",
}
DISABLED_CONNS = 50
KILL_CONNS = 4              # client threads, keep-alive, one request at a time each
KILL_POOLS = (("kill1", 1), ("kill2", 2))   # pool, processes
HELLO_BODY = b"hello, world\n"
PROXY_TARGET = 1.3          # issue 4: weir >= 1.3 x nginx requests/s


# ------------------------------------------------------------------ the upstream
class Activated:
    """weir-test-hello started as systemd (or weir) would: a listening socket
    as fd 3, LISTEN_FDS=1, LISTEN_PID = its pid; in its own session, pinned
    to the server's CPU.  Enough of subprocess.Popen for Server: pid, poll(),
    wait(), terminate()."""

    def __init__(self, binary, sock, log):
        self.args, self.returncode = [binary], None
        pid = os.fork()
        if pid == 0:                    # child: no Python beyond this point
            try:
                os.setsid()
                if PINNED:
                    os.sched_setaffinity(0, {int(SERVER_CPU)})
                out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                os.dup2(out, 1)
                os.dup2(out, 2)
                os.dup2(sock.fileno(), 3)
                os.set_inheritable(3, True)     # dup2 onto itself keeps CLOEXEC
                env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()),
                           LISTEN_FDNAMES="hello")
                os.execve(binary, [binary], env)
            finally:
                os._exit(127)
        self.pid = pid

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(0.02)
        return self.returncode

    def terminate(self):
        if self.poll() is None:
            os.kill(self.pid, signal.SIGTERM)

    def stop(self):
        """SIGTERM, SIGKILL after 5 s; reaped."""
        self.terminate()
        try:
            self.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.wait()


def listen_unix(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(1024)
    os.chmod(path, 0o666)       # nginx's worker runs as nobody
    return sock


def unix_get(path, target, timeout=5):
    """GET target on a Unix-socket HTTP server: (status, body)."""
    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
    c = Conn("localhost", timeout=timeout)
    try:
        c.request("GET", target)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def upstream_accepted(paths):
    """Connections the hello upstreams on these sockets have accepted (our
    own /conns connection not counted); None if one does not answer."""
    total = 0
    for p in paths:
        try:
            st, body = unix_get(p, "/conns")
            total += int(body.split()[1]) - 1
        except (OSError, ValueError, IndexError, http.client.HTTPException):
            return None
    return total


# ------------------------------------------------------------------ servers
def weir_front_pid(server):
    """weir's front end: the pid its admin API gives (the master has other
    children running weir, e.g. its warden); else the master's only child
    running weir."""
    try:
        st, body = unix_get(os.path.join(server.dir, "run", "admin.sock"), "/status")
        if st == 200 and json.loads(body)["frontend"]["pid"]:
            return json.loads(body)["frontend"]["pid"]
    except (OSError, ValueError, KeyError, TypeError, http.client.HTTPException):
        pass
    kids = children_running(server.proc.pid, server.binary)
    return kids[0] if len(kids) == 1 else None


class WeirPools(Server):
    """weir with four pools of the C app: hello (proxy), kill1 and kill2
    (kill), dead (disabled: the app exits at start)."""
    name, conf, version_flag = "weir", "weir-pools", "--version"
    argv_fmt = ("{bin}", "run", "-c", "{conf}")
    log_on, log_off = "w3c", "off"
    ready_what = "no 200 'hello, world' for /"
    setup = ("threads = 1; [pool hello] processes = 1, start_mode = always, ping_path = "
             "/healthz (the app gets its Unix socket as fd 3); app = / hello; "
             "access log buffered")

    def is_ready(self):
        return self.get_body("/") == (200, HELLO_BODY)

    def front_pid(self):
        return weir_front_pid(self)

    def status(self):
        st, body = unix_get(os.path.join(self.dir, "run", "admin.sock"), "/status")
        if st != 200:
            raise RuntimeError(f"admin /status answered {st}")
        return json.loads(body)

    def pool(self, name):
        return next(p for p in self.status()["pools"] if p["name"] == name)

    def ready_workers(self, pool):
        return [w for w in self.pool(pool)["workers"] if w["state"] == "ready"]

    def upstream_pids(self, pool="hello"):
        return [w["pid"] for w in self.ready_workers(pool)]

    def upstream_sockets(self, pool="hello"):
        return [os.path.join(self.dir, "run", f"w{w['id']}.sock")
                for w in self.ready_workers(pool)]

    def events(self, eid=None, pool=None):
        try:
            with open(os.path.join(self.dir, "log", "events.jsonl")) as f:
                evs = [json.loads(ln) for ln in f if ln.strip()]
        except OSError:
            return []
        return [e for e in evs if (eid is None or e["id"] == eid) and
                (pool is None or e.get("pool") == pool)]

    def metric(self, name, **labels):
        st, body = unix_get(os.path.join(self.dir, "run", "admin.sock"), "/metrics")
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for ln in body.decode().splitlines():
            if ln.startswith(f"{name}{{{want}}} ") or (not want and ln.startswith(name + " ")):
                return float(ln.split()[-1])
        return None


class WithUpstream(Server):
    """A server proxying to its own hello on a Unix socket that the script
    starts (Activated) before it: nginx here, nginx and h2o in tls.py."""
    ready_what = "no 200 'hello, world' for /"

    def __init__(self, binary, base, www, logs, hello, **subst):
        self.sock = os.path.join(base, f"{self.conf}-hello.sock")
        self.hello, self.upstream = hello, None
        super().__init__(binary, base, www, logs, sock=self.sock, **subst)

    def is_ready(self):
        return self.get_body("/") == (200, HELLO_BODY)

    def start(self):
        with listen_unix(self.sock) as sock:
            self.upstream = Activated(self.hello, sock, os.path.join(self.dir, "hello.log"))
        super().start()

    def stop(self):
        super().stop()
        if self.upstream is not None:
            self.upstream.stop()

    def check(self, notes, why=None):
        if not why and self.upstream is not None and self.upstream.poll() is not None:
            why = f"its upstream (hello) died (status {self.upstream.returncode})"
        return super().check(notes, why)

    def upstream_pids(self, pool=None):
        return [self.upstream.pid] if self.upstream and self.upstream.poll() is None else []

    def upstream_sockets(self, pool=None):
        return [self.sock]


class NginxProxy(WithUpstream):
    """nginx, one worker, proxying to hello on a Unix socket with upstream
    keep-alive; hello is started by us (Activated)."""
    name, exe, conf = "nginx", "nginx", "nginx-proxy"
    argv_fmt = ("{bin}", "-p", "{dir}", "-e", "{dir}/error.log", "-c", "{conf}")
    front_cmd = "worker process"
    user = "user nobody nogroup;"
    log_on = "access_log {dir}/access.log combined buffer=64k flush=1s;"
    log_off = "access_log off;"

    def __init__(self, binary, base, www, logs, hello, keepalive, **subst):
        super().__init__(binary, base, www, logs, hello, keepalive=keepalive, **subst)
        self.setup = (f"worker_processes 1; upstream {{ server unix:…; keepalive {keepalive}; "
                      "keepalive_requests 1000000000 }; proxy_http_version 1.1; "
                      "proxy_set_header Connection \"\"; access_log buffer=64k; hello started "
                      "by the script (same socket activation), pinned with nginx")


class Direct(Server):
    """No proxy: wrk straight to hello on a TCP socket.  What this machine
    and client can do at all: the ceiling for any proxy."""
    name, conf = "direct", "direct"
    ready_what = "no 200 'hello, world' for /"
    setup = "no proxy: wrk straight to hello (socket-activated, TCP), pinned like the servers"

    def __init__(self, base, hello):         # no config file
        self.binary, self.failed, self.proc = hello, None, None
        self.dir = os.path.join(base, "direct")
        os.mkdir(self.dir, 0o755)
        self.out = os.path.join(self.dir, "hello.log")
        self.cmd = f"{hello} (fd 3: 127.0.0.1 TCP)"
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def version(self):
        return "tests/apps/hello.c"

    def is_ready(self):
        return self.get_body("/") == (200, HELLO_BODY)

    def start(self):
        self.sock.listen(1024)
        self.proc = Activated(self.binary, self.sock, self.out)
        self.sock.close()
        deadline = time.monotonic() + 15
        while not self.is_ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.ready_what} in 15 s")
            time.sleep(0.05)

    def stop(self):
        if self.proc is not None:
            self.proc.stop()
        self.sock.close()

    def front_pid(self):
        return None

    def upstream_pids(self, pool=None):
        return [self.proc.pid] if self.proc.poll() is None else []

    def upstream_sockets(self, pool=None):
        return []


def make_servers(a, base, www, logs, weir, hello, notes):
    """The pool scenarios' servers for the selected scenarios and servers."""
    want = [sc for sc in a.scenarios if sc in SCENARIOS]
    names = {c.name for c in a.servers}
    out = []
    if want and "weir" in names and weir:
        out.append(WeirPools(weir, base, www, logs, hello=hello))
    if "proxy" in want and "nginx" in names:
        nginx = shutil.which(NginxProxy.exe)
        if nginx:
            out.append(NginxProxy(nginx, base, www, logs, hello, a.nginx_keepalive))
        else:
            notes.append("nginx: not installed, skipped in the proxy scenario")
    if "proxy" in want and a.direct:
        out.append(Direct(base, hello))
    if want and not any(isinstance(s, WeirPools) for s in out):
        notes.append("the pool scenarios need weir (--servers weir)")
    return out


# ------------------------------------------------------------------ proxy
def measure_proxy(server, seconds, conns, path="/", **wrk_opts):
    """A wrk run through the proxy: CPU of the proxy (weir: its front end;
    nginx: its worker) apart from the upstream's (server.upstream_pids()).
    wrk_opts: more arguments for common.wrk (close, env)."""
    front, ups = server.front_pid(), server.upstream_pids()
    socks = server.upstream_sockets()
    conns0 = upstream_accepted(socks)
    s0, w0, t0 = proc_stats(), os.times(), time.monotonic()
    res = wrk(server.port, path, conns, seconds, scheme=server.scheme, **wrk_opts)
    s1, w1, t1 = proc_stats(), os.times(), time.monotonic()
    conns1 = upstream_accepted(socks)
    wall = t1 - t0
    proxy, up = cpu_own([front] if front else [], s0, s1), cpu_own(ups, s0, s1)
    _, other = cpu_split([server.proc.pid] + ups, s0, s1)
    n = res["requests"] or None
    res.update(
        front_pid=front, upstream_pids=ups,
        cpu_us_per_req=round(proxy * 1e6 / n, 2) if n and front else None,
        upstream_us_per_req=round(up * 1e6 / n, 2) if n else None,
        cpu_pct=round(100 * proxy / wall, 1) if front else None,
        upstream_cpu_pct=round(100 * up / wall, 1),
        wrk_cpu_pct=round(100 * (w1.children_user + w1.children_system
                                 - w0.children_user - w0.children_system) / wall, 1),
        other_cpu_pct=round(100 * other / wall, 1),
        upstream_conns=None if not socks or conns0 is None or conns1 is None
        else conns1 - conns0 - 1)
    res["errors"] = res["socket_errors"] + res["non_2xx"]
    return res


def report_proxy(data, servers, conns):
    lines = [f"## {SCENARIOS['proxy'].replace('50 connections', f'{conns} connections')}", "",
             "| server | req/s | min–max | weir ÷ nginx req/s | proxy CPU µs/req "
             "| weir ÷ nginx CPU/req | upstream CPU µs/req | CPU % proxy / upstream / wrk / others "
             "| upstream conns opened per run | p50 | p99 | errors |", "|---|" + "--:|" * 11]
    w, ng = data.get("weir", {}), data.get("nginx", {})
    for s in servers:
        d = data.get(s.name, {})
        if not d.get("runs"):
            lines.append(f"| {s.name} | {s.failed or 'no data'} |" + " |" * 10)
            continue
        rps = [r["rps"] for r in d["runs"]]
        ratio = cratio = None
        if s.name == "weir" and ng.get("rps"):
            ratio = w["rps"] / ng["rps"]
            if w.get("cpu_us_per_req") and ng.get("cpu_us_per_req"):
                cratio = w["cpu_us_per_req"] / ng["cpu_us_per_req"]
        conns = [r["upstream_conns"] for r in d["runs"] if r["upstream_conns"] is not None]
        label = "direct (no proxy)" if s.name == "direct" else s.name
        lines.append(
            f"| {label} | {d['rps']:,.0f} | {min(rps):,.0f}–{max(rps):,.0f} "
            f"| {fmt(ratio, '.2f')} | {fmt(d['cpu_us_per_req'], '.1f')} | {fmt(cratio, '.2f')} "
            f"| {fmt(d['upstream_us_per_req'], '.1f')} "
            f"| {fmt(d['cpu_pct'], '.0f')} / {d['upstream_cpu_pct']:.0f} / {d['wrk_cpu_pct']:.0f} / "
            f"{d['other_cpu_pct']:.0f} | {fmt(statistics.median(conns) if conns else None, ',.0f')} "
            f"| {fmt(d['p50_ms'], '.2f', ' ms')} | {fmt(d['p99_ms'], '.2f', ' ms')} "
            f"| {d['errors']} |")
    if w.get("rps") and ng.get("rps"):
        r = w["rps"] / ng["rps"]
        lines += ["", f"issue 4 target, weir ≥ {PROXY_TARGET} × nginx requests/s: "
                  f"**{'met' if r >= PROXY_TARGET else 'NOT met'}** ({r:.2f} ×)"]
    dr = data.get("direct", {})
    if dr.get("rps"):
        share = ", ".join(f"{n} {data[n]['rps'] / dr['rps']:.0%}" for n in ("weir", "nginx")
                          if data.get(n, {}).get("rps"))
        lines += ["", f"direct (no proxy): wrk straight to hello over TCP, the most this machine "
                  f"and client do with that upstream; the proxies reach {share} of it."]
    lines += ["", "proxy CPU: weir's front end alone, nginx's worker alone; the upstream's "
              "CPU is apart (both upstreams run on the proxy's CPU). upstream conns opened: "
              "connections the upstream accepted during a run, median (0: every request went "
              "over connections kept alive from before)."]
    return lines


# ------------------------------------------------------------------ kill
class PidLoad:
    """Keep-alive GET PATH (hello's /pid) from n threads, one request at a
    time each; every answer is recorded with its time and the pid."""

    def __init__(self, port, path, n):
        self.port, self.path = port, path
        self.done, self.failed = [], []     # [(sent, answered, pid)] (monotonic), [what]
        self.lock, self.stop = threading.Lock(), threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(n)]

    def run(self):
        c = None
        while not self.stop.is_set():
            try:
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                t0 = time.monotonic()
                c.request("GET", self.path)
                r = c.getresponse()
                body = r.read()
                t = time.monotonic()
                with self.lock:
                    if r.status == 200 and body.strip().isdigit():
                        self.done.append((t0, t, int(body)))
                    else:
                        self.failed.append(f"{r.status} {body[:60]!r}")
                if r.getheader("connection", "").lower() == "close":
                    c.close()
                    c = None
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.failed.append(repr(e))
                if c is not None:
                    c.close()
                c = None
        if c is not None:
            c.close()

    def first_after(self, t0, start, victim):
        """Time of the first answer after t0 not from victim (scanning from
        index start), or None."""
        with self.lock:
            for _, t, pid in self.done[start:]:
                if t > t0 and pid != victim:
                    return t
        return None

    def slowest_across(self, t0, start):
        """The longest request (ms) that was in flight at t0."""
        with self.lock:
            return max([(b - a) * 1000 for a, b, _ in self.done[max(0, start - 20):]
                        if a <= t0 < b] or [0])

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def poll(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.001)


def kill_run(server, pool, processes, kills, spacing):
    """kills SIGKILLs of a worker of pool, spaced; the time from each to the
    next 200 served by another (or the replacement) worker."""
    lat, slow, marks = [], [], []
    r0 = server.metric("weir_pool_retries_total", pool=pool) or 0
    e0 = len(server.events(1009, pool))
    with PidLoad(server.port, f"/{pool}/pid", KILL_CONNS) as load:
        poll(lambda: len(load.done) >= 50 or load.failed, 20, "the load to run")
        for i in range(kills):
            poll(lambda: len(server.ready_workers(pool)) == processes, 30,
                 f"{processes} ready worker(s) in pool {pool}")
            victim = server.ready_workers(pool)[0]["pid"]
            start = len(load.done)
            t0 = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            t1 = poll(lambda: load.first_after(t0, start, victim), 30,
                      f"a request served after kill {i + 1}")
            lat.append((t1 - t0) * 1000)
            marks.append((t0, start))
            print(f"bench: kill     {pool} ({processes} worker{'s' * (processes > 1)}) "
                  f"kill {i + 1}/{kills}: next 200 after {lat[-1]:.1f} ms", file=sys.stderr)
            while time.monotonic() < t0 + spacing:
                time.sleep(0.01)
        poll(lambda: len(server.ready_workers(pool)) == processes, 30,
             f"{processes} ready worker(s) in pool {pool}")     # every request ended
        load.stop.set()
        slow = [load.slowest_across(t0, start) for t0, start in marks]
        served, failed = len(load.done), list(load.failed)
    poll(lambda: len(server.events(1009, pool)) - e0 >= kills, 10, "the 1009 events")
    return {"pool": pool, "processes": processes, "kills": kills, "latency_ms": lat,
            "median_ms": statistics.median(lat), "max_ms": max(lat), "min_ms": min(lat),
            "slowest_ms": slow, "slowest_median_ms": statistics.median(slow),
            "slowest_max_ms": max(slow),
            "errors": len(failed), "failures": failed[:10], "served": served,
            "events_1009": len(server.events(1009, pool)) - e0,
            "retries": (server.metric("weir_pool_retries_total", pool=pool) or 0) - r0}


def report_kill(data, kills, spacing):
    lines = [f"## {SCENARIOS['kill']}", "",
             f"{kills} SIGKILLs per pool, at least {spacing} s apart, each once the pool has all "
             f"its workers ready; load: {KILL_CONNS} keep-alive client threads (Python, one "
             "request at a time each) on `/POOL/pid`. **kill → next 200**: from `kill(2)` to "
             "the first complete 200 answered by a process other than the one killed; "
             "**slowest request across a kill**: the longest of the requests in flight at the "
             "kill (what one client waited at most).", "",
             "| pool | workers | kill → next 200: median | max | min "
             "| slowest request across a kill: median | max | client errors "
             "| 1009 events | retried requests | requests served |", "|---|" + "--:|" * 10]
    for d in data:
        if "error" in d:
            lines.append(f"| {d['pool']} | {d['processes']} | {d['error']} |" + " |" * 8)
            continue
        lines.append(f"| {d['pool']} | {d['processes']} | {d['median_ms']:.1f} ms "
                     f"| {d['max_ms']:.1f} ms | {d['min_ms']:.1f} ms "
                     f"| {d['slowest_median_ms']:.1f} ms | {d['slowest_max_ms']:.1f} ms "
                     f"| {d['errors']} "
                     f"| {d['events_1009']} / {d['kills']} | {d['retries']:.0f} "
                     f"| {d['served']:,} |")
    lines += ["", "1 worker: the client waits for weir to notice the exit, start a new "
              "worker and see it answer its readiness ping (`ping_path`); the requests in "
              "flight at the kill are retried on it. 2 workers: the other worker takes over "
              "at once."]
    for d in data:
        if d.get("failures"):
            lines.append(f"- {d['pool']}: first failures: {d['failures']}")
    return lines


# ------------------------------------------------------------------ disabled
def disable(server, pool="dead"):
    """Ask the failing pool until Rapid-Fail Protection disables it; the
    503 it then answers: (headers dict, event 1002)."""
    deadline = time.monotonic() + 120
    while not server.events(1002, pool):
        if time.monotonic() > deadline:
            raise RuntimeError(f"pool {pool} was not disabled in 120 s")
        try:
            server.get_body(f"/{pool}/x", timeout=60)
        except OSError:
            pass
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        c.request("GET", f"/{pool}/x")
        r = c.getresponse()
        r.read()
        h = {k.lower(): v for k, v in r.getheaders()}
        h[":status"] = r.status
    finally:
        c.close()
    return h, server.events(1002, pool)[0]


def measure_disabled(server, seconds, warmup=False):
    front = server.front_pid()
    s0, w0, t0 = proc_stats(), os.times(), time.monotonic()
    res = wrk(server.port, "/dead/x", DISABLED_CONNS, seconds)
    s1, w1, t1 = proc_stats(), os.times(), time.monotonic()
    wall, cpu = t1 - t0, cpu_own([front], s0, s1)
    _, other = cpu_split(server.proc.pid, s0, s1)
    n = res["requests"] or None
    res.update(cpu_us_per_req=round(cpu * 1e6 / n, 2) if n else None,
               cpu_pct=round(100 * cpu / wall, 1),
               wrk_cpu_pct=round(100 * (w1.children_user + w1.children_system
                                        - w0.children_user - w0.children_system) / wall, 1),
               other_cpu_pct=round(100 * other / wall, 1))
    # every answer must be an error status (the 503s): a 2xx is an error here
    res["errors"] = res["socket_errors"] + res["requests"] - res["non_2xx"]
    return res


def report_disabled(d, probe, ev):
    lines = [f"## {SCENARIOS['disabled']}", ""]
    if "error" in d:
        return lines + [f"failed: {d['error']}"]
    rps = [r["rps"] for r in d["runs"]]
    lines += [f"Pool `dead` runs `weir-test-hello --exit-at-start 1`: disabled after "
              f"{len(ev.get('failures', []))} failures (event 1002: {ev.get('message', '?')!r}). "
              f"Its 503: `Retry-After: {probe.get('retry-after', 'MISSING')}`, "
              f"`Connection: {probe.get('connection', '(none: kept alive)')}`.", "",
              "| server | req/s | min–max | p50 | p99 | front-end CPU µs/req "
              "| CPU % front end / wrk / others | errors |", "|---|" + "--:|" * 7,
              f"| weir | {d['rps']:,.0f} | {min(rps):,.0f}–{max(rps):,.0f} "
              f"| {fmt(d['p50_ms'], '.2f', ' ms')} | {fmt(d['p99_ms'], '.2f', ' ms')} "
              f"| {fmt(d['cpu_us_per_req'], '.1f')} | {d['cpu_pct']:.0f} / "
              f"{d['wrk_cpu_pct']:.0f} / {d['other_cpu_pct']:.0f} | {d['errors']} |", "",
              "errors: socket errors plus answers that were not an error status "
              "(a disabled pool must answer every request with 503)."]
    return lines


# ------------------------------------------------------------------ driver
def run(sc, servers, a, notes):
    """One pool scenario over the started pool servers; its report lines and
    raw data."""
    live = [s for s in servers if not s.failed]
    weir = next((s for s in live if isinstance(s, WeirPools)), None)
    if sc == "proxy":
        data = rounds(sc, live, a, notes, lambda s, secs, _: measure_proxy(s, secs, a.proxy_conns),
                      ("rps", "cpu_us_per_req", "upstream_us_per_req", "cpu_pct",
                       "upstream_cpu_pct", "wrk_cpu_pct", "other_cpu_pct", "p50_ms", "p99_ms"))
        return report_proxy(data, servers, a.proxy_conns), data
    if weir is None:
        return [f"## {SCENARIOS[sc]}", "", "weir is not running: skipped"], {}
    if sc == "kill":
        data = []
        for pool, n in KILL_POOLS:
            try:
                data.append(kill_run(weir, pool, n, a.kills, a.kill_spacing))
            except (RuntimeError, OSError) as e:
                data.append({"pool": pool, "processes": n, "error": str(e)})
                weir.check(notes)
        return report_kill(data, a.kills, a.kill_spacing), data
    try:
        probe, ev = disable(weir)
    except (RuntimeError, OSError) as e:
        weir.check(notes)
        return report_disabled({"error": str(e)}, {}, {}), {"error": str(e)}
    res = rounds(sc, [weir], a, notes, measure_disabled,
                 ("rps", "cpu_us_per_req", "cpu_pct", "wrk_cpu_pct", "other_cpu_pct",
                  "p50_ms", "p99_ms"))["weir"]
    if not res.get("runs"):
        res = {"error": weir.failed or "no data"}
    return report_disabled(res, probe, ev), {"data": res, "probe": probe, "event": ev}


def hello_binary(a, base, notes):
    """The C app: --hello, else the one built next to --weir, else compiled
    here from tests/apps/hello.c.  A copy in base either way."""
    src = os.path.join(HERE, "..", "tests", "apps", "hello.c")
    cand = a.hello or os.path.join(os.path.dirname(os.path.abspath(a.weir)),
                                   "tests", "apps", "weir-test-hello")
    dst = os.path.join(base, "hello.bin")
    if os.access(cand, os.X_OK):
        shutil.copy2(cand, dst)
        return dst
    if a.hello:
        raise RuntimeError(f"--hello {a.hello}: not an executable")
    r = subprocess.run(["cc", "-std=c11", "-O2", "-D_GNU_SOURCE", "-o", dst, src],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"cannot build {src}: {r.stderr.strip()}")
    notes.append(f"the C app was not built ({cand}): compiled {os.path.relpath(src)} "
                 "with cc -O2 for this run")
    return dst
