#!/usr/bin/python3
"""bench/run.py - compare weir with nginx, h2o and lighttpd on one machine.

One worker each, the same files, a generated config, its own temp dir and
loopback port; wrk makes the load, /proc gives the CPU time.  See README.md.
"""
import argparse
import json
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
CPUS = sorted(os.sched_getaffinity(0))
PINNED = len(CPUS) >= 2 and shutil.which("taskset") is not None
SERVER_CPU, CLIENT_CPU = map(str, CPUS[:2] if PINNED else (0, 0))  # server; wrk and us
IDLE_TIMEOUT = 600                  # keep-alive idle timeout given to every server (s)
IDLE_INFLIGHT = 100                 # idle test: connections being set up at once
NOBODY = 65534                      # servers started as root drop to nobody/nogroup

SCENARIOS = {   # name: (title, path, connections, Connection: close?)
    "1k": ("1 KiB file, keep-alive, 50 connections", "/1k.bin", 50, False),
    "100k": ("100 KiB file, keep-alive, 50 connections", "/100k.bin", 50, False),
    "404": ("404 (missing file), keep-alive, 50 connections", "/missing.bin", 50, False),
    "conn": ("1 KiB file, Connection: close (new connection per request), 50", "/1k.bin", 50, True),
    "idle": ("Idle keep-alive connections: resident memory", "/1k.bin", None, False),
}


# ------------------------------------------------------------------ /proc
def proc_stats():
    """{pid: (ppid, utime+stime, cutime+cstime)} in clock ticks, every process."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    v = f.read().rsplit(")", 1)[1].split()
                out[int(d)] = (int(v[1]), int(v[11]) + int(v[12]), int(v[13]) + int(v[14]))
            except (OSError, IndexError):
                pass        # exited meanwhile
    return out


def tree(root, stats=None):
    """root and its live descendants."""
    stats = stats or proc_stats()
    pids, todo = [], [root]
    while todo:
        p = todo.pop()
        if p in stats:
            pids.append(p)
            todo += [c for c, st in stats.items() if st[0] == p]
    return pids


def cpu_split(root, before, after):
    """CPU seconds between two proc_stats(): of root's tree, reaped children
    included, and of all other processes but us (own time: init reaps orphans)."""
    ours, mine, other = set(tree(root, after)), 0, 0
    for p, (_, own, kids) in after.items():
        b = before.get(p, (0, 0, 0))
        if p in ours:
            mine += own + kids - b[1] - b[2]
        elif p != os.getpid():
            other += own - b[1]
    return mine / CLK_TCK, other / CLK_TCK


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None


def first_line(argv):
    """First line a command prints (stdout or stderr), '' on failure."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return ""


# ------------------------------------------------------------------ servers
class Server:
    """A server under test: config from bench/conf/NAME.conf, start, stop."""
    name = exe = None
    argv_fmt = ()           # command line; {bin} {conf} {dir} are filled in
    version_flag = "-v"
    front_cmd = None        # the front end is the child whose cmdline has this
    user = ""               # config line(s) to drop to nobody when run as root
    log_on = log_off = ""   # config line(s) for access logs on/off
    can_buffer_log = True   # can it keep access log lines in memory?
    setup = ""              # how it is configured, for the report

    def __init__(self, binary, base, www, logs):
        self.binary, self.logs = binary, logs
        self.dir = os.path.join(base, self.name)
        os.mkdir(self.dir, 0o755)
        if os.geteuid() == 0:   # it may write pid/log files after dropping to nobody
            os.chown(self.dir, NOBODY, NOBODY)
        with socket.socket() as s:      # a free loopback port
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        with open(os.path.join(HERE, "conf", self.name + ".conf")) as f:
            text = string.Template(f.read()).substitute(
                port=self.port, www=www, dir=self.dir, idle=IDLE_TIMEOUT,
                user=self.user if os.geteuid() == 0 else "",
                log=(self.log_on if logs else self.log_off).format(dir=self.dir))
        conf = os.path.join(self.dir, self.name + ".conf")
        with open(conf, "w") as f:
            f.write(text)
        self.argv = [x.format(bin=binary, conf=conf, dir=self.dir) for x in self.argv_fmt]
        self.cmd = " ".join(self.argv)
        self.proc, self.failed = None, None
        self.out = os.path.join(self.dir, "server.out")

    def version(self):
        return first_line([self.binary, self.version_flag])

    def front_pid(self):
        """The process that holds the client connections."""
        for c, st in proc_stats().items() if self.front_cmd else ():
            try:
                with open(f"/proc/{c}/cmdline", "rb") as f:
                    if st[0] == self.proc.pid and self.front_cmd.encode() in f.read():
                        return c
            except OSError:
                pass
        return self.proc.pid

    def start(self):
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                (["taskset", "-c", SERVER_CPU] if PINNED else []) + self.argv, cwd=self.dir,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)     # own process group: stop() kills it all
        deadline = time.monotonic() + 15
        while self.proc.poll() is None:
            try:
                if self.get("/1k.bin") == (200, 1024) and self.get("/missing.bin")[0] == 404:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("no 200 for /1k.bin and 404 for /missing.bin in 15 s")
            time.sleep(0.1)
        raise RuntimeError(f"exited with status {self.proc.returncode}")

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, len(r.read())
        except urllib.error.HTTPError as e:
            return e.code, 0

    def check(self, notes, why=None):
        """Take the server out of the benchmark, with a note and its last
        output, if it has died (or for why); False if it is out."""
        why = why or (self.proc.poll() is not None and f"died (status {self.proc.returncode})")
        if why:
            self.failed = why
            with open(self.out, errors="replace") as f:
                tail = "".join(f.readlines()[-15:])
            notes.append(f"{self.name}: {why}\n  command: {self.cmd}\n{tail}")
        return not why

    def stop(self):
        """SIGTERM the leader, then SIGKILL the whole group after 5 s; reap."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)    # stragglers, if any
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()


class Weir(Server):
    name, version_flag, front_cmd = "weir", "--version", "weir"
    argv_fmt = ("{bin}", "run", "-c", "{conf}")
    log_on, log_off = "w3c", "off"
    setup = ("threads = 1; access log buffered (one write per 64 KiB or 1 s); small files "
             "from memory, others sendfile; open_file_cache 1024")


class Nginx(Server):
    name = exe = "nginx"
    argv_fmt = ("{bin}", "-p", "{dir}", "-e", "{dir}/error.log", "-c", "{conf}")
    front_cmd = "worker process"
    user = "user nobody nogroup;"
    log_on = "access_log {dir}/access.log combined buffer=64k flush=1s;"
    log_off = "access_log off;"
    setup = ("worker_processes 1; access_log buffer=64k flush=1s; sendfile on; "
             "open_file_cache max=1024 valid=1s; log_not_found off")


class H2o(Server):
    name = exe = "h2o"
    argv_fmt = ("{bin}", "-c", "{conf}")
    version_flag = "--version"
    user = "user: nobody"
    log_on = "access-log: {dir}/access.log"
    can_buffer_log = False
    setup = ("num-threads: 1; access log unbuffered (one write per request, it has no "
             "option to buffer); no sendfile (h2o reads files with pread)")


class Lighttpd(Server):
    name = exe = "lighttpd"
    argv_fmt = ("{bin}", "-D", "-f", "{conf}")
    user = 'server.username = "nobody"\nserver.groupname = "nogroup"'
    log_on = 'server.modules += ("mod_accesslog")\naccesslog.filename = "{dir}/access.log"'
    setup = ("single process; access log lines buffered in memory; sendfile; stat cache; "
             "at most 65535 requests per connection (its maximum)")


# ------------------------------------------------------------------ load
def wrk(server, scenario, seconds):
    """One wrk run; the numbers from its --latency output."""
    _, path, conns, close = SCENARIOS[scenario]
    argv = (["taskset", "-c", CLIENT_CPU] if PINNED else []) + [
        "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    argv += ["-H", "Connection: close"] if close else []
    argv.append(f"http://127.0.0.1:{server.port}{path}")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    if "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed: {' '.join(argv)}\n{out}")

    def num(pattern):
        m = re.search(pattern, out)
        return float(m.group(1)) if m else 0
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"requests": int(num(r"(\d+) requests in")),
            "rps": num(r"Requests/sec:\s+([\d.]+)"),
            "p99_ms": float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]
            if m else None,
            "non_2xx": int(num(r"Non-2xx or 3xx responses: (\d+)")),
            "socket_errors": sum(map(int, errs.groups())) if errs else 0}


def measure(server, scenario, seconds):
    """A wrk run, with the CPU time of the server, of wrk and of the rest."""
    s0, w0, t0 = proc_stats(), os.times(), time.monotonic()
    res = wrk(server, scenario, seconds)       # wrk's CPU time: our reaped children's
    s1, w1, t1 = proc_stats(), os.times(), time.monotonic()
    cpu, other = cpu_split(server.proc.pid, s0, s1)
    res.update(cpu_s=round(cpu, 3), cpu_pct=round(100 * cpu / (t1 - t0), 1),
               wrk_cpu_pct=round(100 * (w1.children_user + w1.children_system
                                        - w0.children_user - w0.children_system) / (t1 - t0), 1),
               other_cpu_pct=round(100 * other / (t1 - t0), 1),
               cpu_us_per_req=round(cpu * 1e6 / res["requests"], 2) if res["requests"] else None)
    # any status but the expected one (200, or 404 for "404") is an error
    bad = res["requests"] - res["non_2xx"] if scenario == "404" else res["non_2xx"]
    res["errors"] = res["socket_errors"] + bad
    return res


def open_idle(port, n, path):
    """n connections, each after one complete request and response."""
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    sel, pending, done = selectors.DefaultSelector(), {}, []
    deadline = time.monotonic() + 180
    try:
        while len(done) < n:
            while len(done) + len(pending) < n and len(pending) < IDLE_INFLIGHT:
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                sel.register(s, selectors.EVENT_WRITE)
                pending[s] = b""
            for key, ev in sel.select(timeout=1):
                s = key.fileobj
                if ev & selectors.EVENT_WRITE:      # connected (or failed)
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    s.send(req)                     # tiny: fits in the socket buffer
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                data = s.recv(65536)
                if not data:
                    raise ConnectionError("server closed a connection during setup")
                buf = pending[s] = pending[s] + data
                end = buf.find(b"\r\n\r\n")
                m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", buf[:end]) if end > 0 else None
                if end > 0 and (not buf.startswith(b"HTTP/1.1 200") or not m):
                    raise ConnectionError(f"unexpected response {buf[:60]!r}")
                if m and len(buf) >= end + 4 + int(m.group(1)):
                    sel.unregister(s)
                    del pending[s]
                    done.append(s)
            if time.monotonic() > deadline:
                raise TimeoutError("timed out")
        return done
    except Exception as e:
        raise RuntimeError(f"{e} (after {len(done)} connections)") from e
    finally:
        sel.close()
        if len(done) < n:       # failed or interrupted
            close_all(done + list(pending))


def close_all(socks):
    """Close with RST (SO_LINGER 0) so no TIME_WAIT piles up."""
    for s in socks:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        except OSError:
            pass
        s.close()


def still_open(socks):
    """How many connections the server has not closed (none should be readable)."""
    with selectors.DefaultSelector() as sel:
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        return len(socks) - len(sel.select(0))


def idle_test(server, n):
    front = server.front_pid()
    before, t0 = rss_kib(front), time.monotonic()
    socks = open_idle(server.port, n, SCENARIOS["idle"][1])
    try:
        res = {"connections": n, "setup_s": round(time.monotonic() - t0, 1)}
        time.sleep(2)           # let the server settle
        res.update(front_pid=front, front_rss_before_kib=before, front_rss_kib=rss_kib(front),
                   front_fds=len(os.listdir(f"/proc/{front}/fd")),
                   tree_rss_kib=sum(rss_kib(p) or 0 for p in tree(server.proc.pid)),
                   still_open=still_open(socks))
        if front != server.proc.pid:
            res["master_rss_kib"] = rss_kib(server.proc.pid)
        res["kib_per_conn"] = round((res["front_rss_kib"] - before) / n, 2)
        return res
    finally:
        close_all(socks)


# ------------------------------------------------------------------ report
def fmt(x, spec, unit=""):
    return "—" if x is None else format(x, spec) + unit


def header(meta, servers):
    pin = (f"server pinned to CPU {SERVER_CPU}; wrk (1 thread) and this script to CPU "
           f"{CLIENT_CPU} (taskset)" if PINNED else "no CPU pinning (1 CPU or no taskset)")
    lines = [f"# weir benchmark {meta['time']}", "",
             f"- machine: {meta['cpus']} CPUs ({meta['cpu_model']}), Linux {meta['kernel']}, "
             f"loopback; load average at start {meta['loadavg']}",
             f"- client: {meta['wrk']}; {pin}",
             f"- {meta['rounds']} rounds × {meta['seconds']} s per server and scenario, servers "
             f"in a rotated order each round, {meta['warmup']} s warm-up first; medians shown",
             f"- {meta['log_note']}",
             "- every server: one worker, keep-alive without request limit, "
             f"{IDLE_TIMEOUT} s idle timeout, fd limit ≥ 20000",
             "- CPU µs/req: server process tree's utime+stime ÷ requests. CPU %: CPU time ÷ "
             "wall time (100 = one CPU); wrk ≈ 100 = client-bound: compare CPU µs/req there",
             "", "| server | version | setup |", "|---|---|---|"]
    lines += [f"| {s.name} | {meta['servers'][s.name]['version']} | {s.setup} |"
              for s in servers]
    return lines


def report_scenario(name, data, servers):
    lines = [f"## {SCENARIOS[name][0]}", "",
             "| server | req/s | min–max | weir ÷ peer req/s | CPU µs/req | weir ÷ peer CPU/req "
             "| CPU % server / wrk / others | p99 | errors |", "|---|" + "--:|" * 8]
    w = data.get("weir", {})
    for s in servers:
        d = data.get(s.name, {})
        if not d.get("runs"):
            lines.append(f"| {s.name} | {s.failed or 'no data'} |" + " |" * 7)
            continue
        rps = [r["rps"] for r in d["runs"]]
        ratio = cratio = None
        if s.name != "weir" and w.get("rps") and d["rps"]:
            ratio = w["rps"] / d["rps"]
            if w["cpu_us_per_req"] and d["cpu_us_per_req"]:
                cratio = w["cpu_us_per_req"] / d["cpu_us_per_req"]
        lines.append(
            f"| {s.name} | {d['rps']:,.0f} | {min(rps):,.0f}–{max(rps):,.0f} "
            f"| {fmt(ratio, '.2f')} | {fmt(d['cpu_us_per_req'], '.1f')} | {fmt(cratio, '.2f')} "
            f"| {d['cpu_pct']:.0f} / {d['wrk_cpu_pct']:.0f} / {d['other_cpu_pct']:.0f} "
            f"| {fmt(d['p99_ms'], '.2f', ' ms')} | {d['errors']} |")
    return lines


def report_idle(data, servers, n):
    mib = lambda k: fmt(k and k / 1024, ".1f", " MiB")  # noqa: E731
    lines = [f"## {n:,} idle keep-alive connections (after one request each): resident memory",
             "", "| server | front-end RSS | before | KiB/conn | master RSS | whole tree RSS "
             "| fds open | still open | set up in |", "|---|" + "--:|" * 8]
    for s in servers:
        d = data.get(s.name) or {"error": s.failed or "no data"}
        if "error" in d:
            lines.append(f"| {s.name} | {d['error']} |" + " |" * 7)
            continue
        lines.append(f"| {s.name} | {mib(d['front_rss_kib'])} | {mib(d['front_rss_before_kib'])} "
                     f"| {d['kib_per_conn']:.2f} | {mib(d.get('master_rss_kib'))} "
                     f"| {mib(d['tree_rss_kib'])} | {d['front_fds']:,} | {d['still_open']:,} "
                     f"| {d['setup_s']} s |")
    w = data.get("weir", {})
    if "front_rss_kib" in w:
        ok = w["front_rss_kib"] * 1024 <= 30e6 and w["still_open"] == n
        lines += ["", f"weir target, front end ≤ 30 MB with {n:,} idle connections: "
                  f"**{'met' if ok else 'NOT met'}** ({mib(w['front_rss_kib'])})"]
    return lines


# ------------------------------------------------------------------ main
def setup_files(base):
    """The document root every server serves: 1 KiB and 100 KiB random files."""
    www = os.path.join(base, "www")
    os.mkdir(www)
    for name, size in (("1k.bin", 1024), ("100k.bin", 100 * 1024)):
        with open(os.path.join(www, name), "wb") as f:
            f.write(os.urandom(size))
    for p in [base, www] + [os.path.join(www, x) for x in os.listdir(www)]:
        os.chmod(p, 0o755 if os.path.isdir(p) else 0o644)
    return www


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weir", default=os.path.join(HERE, "..", "build", "weir"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5, help="per run")
    ap.add_argument("--warmup", type=int, default=1, help="seconds per server and scenario")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--servers", default="weir,nginx,h2o,lighttpd")
    ap.add_argument("--idle-conns", type=int, default=10000)
    ap.add_argument("--logs", choices=("auto", "on", "off"), default="auto",
                    help="access logs; auto: on if every server can buffer them, else off")
    ap.add_argument("--quick", action="store_true", help="2 rounds × 2 s: a smoke test")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.seconds = 2, 2
    known = {c.name: c for c in (Weir, Nginx, H2o, Lighttpd)}
    for opt, table in (("scenarios", SCENARIOS), ("servers", known)):
        names = [x for x in getattr(a, opt).split(",") if x]
        if set(names) - set(table):
            ap.error(f"--{opt}: unknown {', '.join(set(names) - set(table))} "
                     f"(known: {', '.join(table)})")
        setattr(a, opt, [table[x] if opt == "servers" else x for x in names])
    return a


def throughput(sc, servers, a, notes):
    """Interleaved rounds of one scenario; medians per server."""
    data = {s.name: {"runs": []} for s in servers}
    for r in range(a.rounds if servers else 0):
        k = r % len(servers)
        for s in servers[k:] + servers[:k]:         # round r: rotated by r
            if s.failed:
                continue
            try:
                if r == 0 and a.warmup > 0:
                    wrk(s, sc, a.warmup)
                res = measure(s, sc, a.seconds)
            except (RuntimeError, subprocess.SubprocessError) as e:
                if s.check(notes):      # alive, but the run failed
                    s.check(notes, f"[{sc}] {e}")
                continue
            if s.check(notes):
                data[s.name]["runs"].append(res)
            print(f"bench: {sc:4} round {r + 1}/{a.rounds} {s.name:8} {res['rps']:>9,.0f} req/s "
                  "{cpu_us_per_req:>6} µs/req, CPU % server {cpu_pct} wrk {wrk_cpu_pct} others "
                  "{other_cpu_pct}".format(**res), file=sys.stderr)
    for d in (d for d in data.values() if d["runs"]):
        for k in ("rps", "cpu_us_per_req", "cpu_pct", "wrk_cpu_pct", "other_cpu_pct", "p99_ms"):
            d[k] = statistics.median([x[k] for x in d["runs"] if x[k] is not None] or [None])
        d["errors"] = sum(x["errors"] for x in d["runs"])
    busy = [n for n, d in data.items() if d.get("other_cpu_pct", 0) > 10]
    if busy:
        notes.append(f"[{sc}] other processes used > 10% of a CPU while {', '.join(busy)} "
                     "ran: the machine was not quiet; rerun before drawing conclusions")
    return data


def main():
    a = parse_args()
    if shutil.which("wrk") is None and set(a.scenarios) - {"idle"}:
        sys.exit("bench: wrk is not installed (scripts/install-deps bench)")
    for sig in (signal.SIGTERM, signal.SIGHUP):     # exit through the finally: below
        signal.signal(sig, lambda n, _: sys.exit(f"bench: signal {n}, stopping the servers"))
    # the idle test needs fds here and in the servers, who inherit the limit
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if PINNED:
        os.sched_setaffinity(0, {int(CLIENT_CPU)})

    notes, wanted = [], []
    for c in a.servers:
        binary = os.path.abspath(a.weir) if c is Weir else shutil.which(c.exe)
        if binary and os.access(binary, os.X_OK):
            wanted.append((c, binary))
        else:
            notes.append(f"{c.name}: not installed ({binary or c.exe}), skipped")
    can = all(c.can_buffer_log for c, _ in wanted)
    logs = a.logs == "on" or (a.logs == "auto" and can)
    log_note = ("access logs ON, buffered by every server that can" if logs else
                "access logs OFF for every server") + ("" if can else (
                    " (h2o 2.2 cannot buffer its access log: one write(2) per request)"))
    if "idle" in a.scenarios and hard < a.idle_conns + 100:
        notes.append(f"RLIMIT_NOFILE hard limit {hard} is too low for {a.idle_conns} connections")

    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = tempfile.mkdtemp(prefix="weir-bench-")
    servers, results = [], {"scenarios": {}, "idle": {}, "notes": notes}
    try:
        www = setup_files(base)
        # test a copy of weir: a rebuild during the run must not change what runs
        wanted = [(c, shutil.copy2(b, os.path.join(base, "weir.bin")) if c is Weir else b)
                  for c, b in wanted]
        for c, binary in wanted:
            s = c(binary, base, www, logs)
            servers.append(s)
            try:
                s.start()
            except (RuntimeError, OSError) as e:
                s.check(notes, f"failed to start: {e}")
                s.stop()
        with open("/proc/cpuinfo") as f:
            model = re.search(r"model name\s*: (.*)", f.read())
        results["meta"] = meta = {
            "time": stamp, "cpus": os.cpu_count(), "cpu_model": model and model.group(1),
            "kernel": os.uname().release, "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "rounds": a.rounds, "seconds": a.seconds, "warmup": a.warmup, "pinned": PINNED,
            "access_logs": logs, "log_note": log_note, "wrk": first_line(["wrk", "-v"]),
            "servers": {s.name: {"version": s.version(), "setup": s.setup, "command": s.cmd}
                        for s in servers}}
        print(f"bench: temp dir {base}", file=sys.stderr)
        for sc in a.scenarios:
            if sc != "idle":
                results["scenarios"][sc] = throughput(sc, servers, a, notes)
                continue
            for s in servers:
                if not s.failed:
                    print(f"bench: idle {s.name}", file=sys.stderr)
                    try:
                        results["idle"][s.name] = idle_test(s, a.idle_conns)
                    except RuntimeError as e:
                        results["idle"][s.name] = {"error": str(e)}
                    s.check(notes)
    finally:
        for s in servers:
            s.stop()
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)

    out = header(meta, servers) + [""]
    for sc in a.scenarios:
        out += (report_idle(results["idle"], servers, a.idle_conns) if sc == "idle" else
                report_scenario(sc, results["scenarios"][sc], servers)) + [""]
    if notes:
        out += ["## Notes", ""] + [f"- {n.rstrip()}" for n in notes] + [""]
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", f"{stamp}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print("\n".join(out + [f"Raw data: {os.path.relpath(path)}"]))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("bench: interrupted; servers stopped")
