"""bench/common.py - what run.py and pools.py share: /proc readings, the
Server base class (config from bench/conf, start, stop), wrk runs and the
interleaved-rounds driver.  Standard library only."""
import os
import re
import selectors
import shutil
import signal
import socket
import ssl
import statistics
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
CPUS = sorted(os.sched_getaffinity(0))
PINNED = len(CPUS) >= 2 and shutil.which("taskset") is not None
SERVER_CPU, CLIENT_CPU = map(str, CPUS[:2] if PINNED else (0, 0))  # server; wrk and us
IDLE_TIMEOUT = 600                  # keep-alive idle timeout given to every server (s)
NOBODY = 65534                      # servers started as root drop to nobody/nogroup


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


def cpu_split(roots, before, after):
    """CPU seconds between two proc_stats(): of the trees of roots (a pid or
    a list), reaped children included, and of all other processes but us
    (own time: init reaps orphans)."""
    ours = set()
    for r in roots if isinstance(roots, (list, tuple, set)) else [roots]:
        ours.update(tree(r, after))
    mine, other = 0, 0
    for p, (_, own, kids) in after.items():
        b = before.get(p, (0, 0, 0))
        if p in ours:
            mine += own + kids - b[1] - b[2]
        elif p != os.getpid():
            other += own - b[1]
    return mine / CLK_TCK, other / CLK_TCK


def cpu_own(pids, before, after):
    """CPU seconds of exactly these processes (no descendants) between two
    proc_stats(); a process that is gone from `after` counts for nothing."""
    total = 0
    for p in pids:
        if p in after:
            total += after[p][1] - before.get(p, (0, 0, 0))[1]
    return total / CLK_TCK


def children_running(parent, exe, stats=None):
    """Children of parent whose executable is the file exe."""
    try:
        want = os.stat(exe)
    except OSError:
        return []
    out = []
    for c, st in (stats or proc_stats()).items():
        if st[0] != parent:
            continue
        try:
            s = os.stat(f"/proc/{c}/exe")
        except OSError:
            continue
        if (s.st_dev, s.st_ino) == (want.st_dev, want.st_ino):
            out.append(c)
    return out


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


def client_tls():
    """A client TLS context that does not verify (the bench's self-signed
    certificate)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return ctx


def fmt(x, spec, unit=""):
    return "—" if x is None else format(x, spec) + unit


# ------------------------------------------------------------------ idle connections
IDLE_INFLIGHT = 100                 # idle test: connections being set up at once


def open_idle(port, n, client, timeout=300):
    """n connections, each after one complete request and response, made
    IDLE_INFLIGHT at a time on non-blocking sockets.  client.start(sock)
    is called once a socket is connected and returns its state;
    client.feed(sock, state, data) with what the socket then reads, True
    once the response is whole."""
    sel, pending, done = selectors.DefaultSelector(), {}, []
    deadline = time.monotonic() + timeout
    try:
        while len(done) < n:
            while len(done) + len(pending) < n and len(pending) < IDLE_INFLIGHT:
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                sel.register(s, selectors.EVENT_WRITE)
                pending[s] = None
            for key, ev in sel.select(timeout=1):
                s = key.fileobj
                if ev & selectors.EVENT_WRITE:      # connected (or failed)
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    sel.modify(s, selectors.EVENT_READ)
                    pending[s] = client.start(s)
                    continue
                data = s.recv(65536)
                if not data:
                    raise ConnectionError("server closed a connection during setup")
                if client.feed(s, pending[s], data):
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


def response_complete(buf):
    """Is buf a whole 200 response with a Content-Length?  Raises if it is
    anything else."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", buf[:end])
    if not buf.startswith(b"HTTP/1.1 200") or not m:
        raise ConnectionError(f"unexpected response {buf[:60]!r}")
    return len(buf) >= end + 4 + int(m.group(1))


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


def idle_test(server, n, opener):
    """The front end's memory with n idle connections, opened by opener()
    (a list of sockets, each after one complete request and response)."""
    front = server.front_pid()
    before, t0 = rss_kib(front), time.monotonic()
    socks = opener()
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



def report_idle(data, servers, n, what="keep-alive", target_mb=30):
    """The idle table (idle_test()'s results) and weir's target line: a
    front end of at most target_mb MB with n idle connections."""
    mib = lambda k: fmt(k and k / 1024, ".1f", " MiB")  # noqa: E731
    lines = [f"## {n:,} idle {what} connections (after one request each): resident memory",
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
        ok = w["front_rss_kib"] * 1024 <= target_mb * 1e6 and w["still_open"] == n
        lines += ["", f"weir target, front end ≤ {target_mb} MB with {n:,} idle {what} "
                  f"connections: **{'met' if ok else 'NOT met'}** ({mib(w['front_rss_kib'])})"]
    return lines


# ------------------------------------------------------------------ servers
class Server:
    """A server under test: config from bench/conf/CONF.conf, start, stop."""
    name = exe = None
    conf = None             # config template and directory name (default: name)
    template = None         # the template, if not the same as conf
    argv_fmt = ()           # command line; {bin} {conf} {dir} are filled in
    version_flag = "-v"
    front_cmd = None        # the front end is the child whose cmdline has this
    user = ""               # config line(s) to drop to nobody when run as root
    log_on = log_off = ""   # config line(s) for access logs on/off
    can_buffer_log = True   # can it keep access log lines in memory?
    setup = ""              # how it is configured, for the report
    cpu_quota = 0           # % of a CPU the server may use (cgroup v1 cpu), 0: no limit
    scheme = "http"         # https: it listens with TLS (bench/tls.py)

    def __init__(self, binary, base, www, logs, **subst):
        self.binary, self.logs = binary, logs
        tag = self.conf or self.name
        self.dir = os.path.join(base, tag)
        os.mkdir(self.dir, 0o755)
        if os.geteuid() == 0:   # it may write pid/log files after dropping to nobody
            os.chown(self.dir, NOBODY, NOBODY)
        with socket.socket() as s:      # a free loopback port
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        with open(os.path.join(HERE, "conf", (self.template or tag) + ".conf")) as f:
            text = string.Template(f.read()).substitute(
                port=self.port, www=www, dir=self.dir, idle=IDLE_TIMEOUT,
                user=self.user if os.geteuid() == 0 else "",
                log=(self.log_on if logs else self.log_off).format(dir=self.dir), **subst)
        conf = os.path.join(self.dir, tag + ".conf")
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

    def is_ready(self):
        """Does it serve what the benchmark asks of it?"""
        return self.get("/1k.bin") == (200, 1024) and self.get("/missing.bin")[0] == 404

    ready_what = "no 200 for /1k.bin and 404 for /missing.bin"

    def start(self):
        join = None
        if self.cpu_quota:
            self.cgroup = cgroup_create(f"weir-bench-{self.port}", self.cpu_quota)
            procs = os.path.join(self.cgroup, "cgroup.procs")

            def join():     # in the child, before exec: its whole tree is limited
                with open(procs, "w") as f:
                    f.write(str(os.getpid()))
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                (["taskset", "-c", SERVER_CPU] if PINNED else []) + self.argv, cwd=self.dir,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,     # own process group: stop() kills it all
                preexec_fn=join)
        deadline = time.monotonic() + 15
        while self.proc.poll() is None:
            try:
                if self.is_ready():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.ready_what} in 15 s")
            time.sleep(0.1)
        raise RuntimeError(f"exited with status {self.proc.returncode}")

    def get(self, path, timeout=2):
        """(status, body length) of a GET; body() has the body itself."""
        st, body = self.get_body(path, timeout)
        return st, len(body)

    def get_body(self, path, timeout=2):
        # https: the bench's self-signed certificate, not verified
        ctx = client_tls() if self.scheme == "https" else None
        try:
            with urllib.request.urlopen(f"{self.scheme}://127.0.0.1:{self.port}{path}",
                                        timeout=timeout, context=ctx) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, b""

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
        if getattr(self, "cgroup", None):
            cgroup_remove(self.cgroup)
            self.cgroup = None


CGROUP_CPU = "/sys/fs/cgroup/cpu"       # cgroup v1; v2 has cpu.max in the unified tree
CGROUP_PERIOD_US = 10000                # short, so throttling does not add 100 ms stalls


def cgroup_usable():
    """Can this script limit a server's CPU (--cpu-quota)?  Why not, or None."""
    if os.geteuid() != 0:
        return "needs root"
    if os.path.exists(os.path.join(CGROUP_CPU, "cpu.cfs_quota_us")):
        return None
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "cgroup v2 only: not supported by this script"
    return f"no {CGROUP_CPU}/cpu.cfs_quota_us"


def cgroup_create(name, pct):
    """A cgroup whose processes share pct % of one CPU."""
    path = os.path.join(CGROUP_CPU, name)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
        f.write(str(CGROUP_PERIOD_US))
    with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
        f.write(str(CGROUP_PERIOD_US * pct // 100))
    return path


def cgroup_remove(path):
    """rmdir once the (killed, reaped) processes have left it."""
    deadline = time.monotonic() + 5
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                return      # left behind: empty cgroups cost nothing
            time.sleep(0.05)


# ------------------------------------------------------------------ load
def wrk(port, path, conns, seconds, close=False, scheme="http", env=None):
    """One wrk run (1 thread, --latency); the numbers from its output.
    env: its environment (bench/tls.py preloads its TLS shim with it)."""
    argv = (["taskset", "-c", CLIENT_CPU] if PINNED else []) + [
        "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    argv += ["-H", "Connection: close"] if close else []
    argv.append(f"{scheme}://127.0.0.1:{port}{path}")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60,
                         env=env).stdout
    if "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed: {' '.join(argv)}\n{out}")

    def num(pattern):
        m = re.search(pattern, out)
        return float(m.group(1)) if m else 0

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out)
        return float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)] if m else None
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"requests": int(num(r"(\d+) requests in")),
            "rps": num(r"Requests/sec:\s+([\d.]+)"),
            "p50_ms": pct(50), "p99_ms": pct(99),
            "non_2xx": int(num(r"Non-2xx or 3xx responses: (\d+)")),
            "socket_errors": sum(map(int, errs.groups())) if errs else 0}


def rounds(sc, servers, a, notes, measure, keys):
    """Interleaved rounds of one scenario: round r runs every server once, in
    the order rotated by r; a warm-up run before the first.  measure(server,
    seconds, warmup) -> dict; the medians of keys per server, errors summed."""
    data = {s.name: {"runs": []} for s in servers}
    for r in range(a.rounds if servers else 0):
        k = r % len(servers)
        for s in servers[k:] + servers[:k]:
            if s.failed:
                continue
            try:
                if r == 0 and a.warmup > 0:
                    measure(s, a.warmup, True)
                res = measure(s, a.seconds, False)
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                if s.check(notes):      # alive, but the run failed
                    s.check(notes, f"[{sc}] {e}")
                continue
            if s.check(notes):
                data[s.name]["runs"].append(res)
            print(f"bench: {sc:8} round {r + 1}/{a.rounds} {s.name:8} {res['rps']:>9,.0f} req/s "
                  f"{fmt(res['cpu_us_per_req'], '>6')} µs/req, CPU % server "
                  f"{fmt(res['cpu_pct'], '')} wrk {res['wrk_cpu_pct']} others "
                  f"{res['other_cpu_pct']}", file=sys.stderr)
    for d in (d for d in data.values() if d["runs"]):
        for k in keys:
            d[k] = statistics.median([x[k] for x in d["runs"] if x.get(k) is not None] or [None])
        d["errors"] = sum(x["errors"] for x in d["runs"])
    busy = [n for n, d in data.items() if (d.get("other_cpu_pct") or 0) > 10]
    if busy:
        notes.append(f"[{sc}] other processes used > 10% of a CPU while {', '.join(busy)} "
                     "ran: the machine was not quiet; rerun before drawing conclusions")
    return data


# ------------------------------------------------------------------ split-CPU tables
SPLIT_KEYS = ("rps", "cpu_us_per_req", "upstream_us_per_req", "cpu_pct", "upstream_cpu_pct",
              "wrk_cpu_pct", "other_cpu_pct", "p50_ms", "p99_ms")     # their medians
SPLIT_COLUMNS = ("req/s | min–max | ÷ {ref} req/s | front-end CPU µs/req | ÷ {ref} CPU/req "
                 "| {up} CPU µs/req | CPU % front end / {up} / wrk / others | p50 | p99 | errors")


def split_row(label, d, ref=None, failed=None):
    """A table row ("| label | ... |") of a run measured with the front end's
    CPU and its upstream's apart (pools.measure_proxy): the medians of d,
    and the ratios to ref (another such dict) if given."""
    if not d.get("runs"):
        return f"| {label} | {failed or 'no data'} |" + " |" * 9
    rps = [r["rps"] for r in d["runs"]]
    ratio = cratio = None
    if ref and ref.get("rps") and d.get("rps"):
        ratio = d["rps"] / ref["rps"]
        if d.get("cpu_us_per_req") and ref.get("cpu_us_per_req"):
            cratio = d["cpu_us_per_req"] / ref["cpu_us_per_req"]
    return (f"| {label} | {d['rps']:,.0f} | {min(rps):,.0f}–{max(rps):,.0f} "
            f"| {fmt(ratio, '.2f')} | {fmt(d.get('cpu_us_per_req'), '.1f')} "
            f"| {fmt(cratio, '.2f')} | {fmt(d.get('upstream_us_per_req'), '.1f')} "
            f"| {fmt(d.get('cpu_pct'), '.0f')} / {fmt(d.get('upstream_cpu_pct'), '.0f')} / "
            f"{d['wrk_cpu_pct']:.0f} / {d['other_cpu_pct']:.0f} "
            f"| {fmt(d.get('p50_ms'), '.2f', ' ms')} | {fmt(d.get('p99_ms'), '.2f', ' ms')} "
            f"| {d['errors']} |")


def targets(what, w, peer, rps_min, cpu_max, peer_name="nginx"):
    """Lines saying whether w meets req/s >= rps_min x peer's and front-end
    CPU/req <= cpu_max x peer's (medians from split measurements)."""
    if not (w.get("rps") and peer.get("rps")):
        return [f"- {what}: no data to compare"]
    r = w["rps"] / peer["rps"]
    c = (w["cpu_us_per_req"] / peer["cpu_us_per_req"]
         if w.get("cpu_us_per_req") and peer.get("cpu_us_per_req") else None)
    ok = lambda b: "met" if b else "NOT met"    # noqa: E731
    return [f"- {what}: req/s ≥ {rps_min} × {peer_name}: **{ok(r >= rps_min)}** ({r:.2f} ×); "
            f"front-end CPU/req ≤ {cpu_max} × {peer_name}: "
            f"**{ok(c is not None and c <= cpu_max)}** ({fmt(c, '.2f')} ×)"]
