"""Per-pool resource limits with cgroups: memory_max, cpu_max, tasks_max.

Runs as root against the real kernel: each pool gets its own cgroup under
the one weir was started in (v1 controllers on this build machine, the
unified hierarchy where it offers controllers).  The tests skip only when
no cgroup hierarchy is writable here, which weir check itself reports.
Figures measured (p99 latency of the other pool, CPU share, requests/s)
are printed and recorded as JUnit properties.
"""
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import SRC, WEIR, Load, wait_for

PY = "/usr/bin/python3"
APP = f"{PY} {SRC}/tests/apps/app.py"
V2_SKIP = "cgroup v2 with controllers not available here: "

# A CPU hog's load: 3 threads GET /hog/spin?ms=200 until the process is
# terminated; a non-200 answer ends it with status 1.
HOG_CLIENT = """
import http.client, os, sys, threading
def run():
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
    while True:
        c.request("GET", "/hog/spin?ms=200")
        r = c.getresponse()
        r.read()
        if r.status != 200:
            sys.stderr.write("hog got %d\\n" % r.status)
            os._exit(1)
for _ in range(3):
    threading.Thread(target=run, daemon=True).start()
threading.Event().wait()
"""


def pool(name, **keys):
    lines = [f"[pool {name}]", f"command = {APP}"]
    lines += [f"{k} = {v}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def site(*pools):
    return "[site main]\n" + "".join(f"app = /{p} {p}\n" for p in pools)


def get(w, path, timeout=30):
    try:
        with urllib.request.urlopen(w.url(path), timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def status(w):
    out = subprocess.run([WEIR, "status", "--json", "-c", str(w.conf_path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def pool_status(w, name):
    return next(p for p in status(w)["pools"] if p["name"] == name)


def events(w, eid):
    return [e for e in w.events() if e["id"] == eid]


def metric(w, name, pool_name):
    out = subprocess.run(["curl", "-s", "--unix-socket", str(w.state_dir / "admin.sock"),
                          "http://weir/metrics"], capture_output=True, text=True, timeout=30)
    for ln in out.stdout.splitlines():
        if ln.startswith(f'{name}{{pool="{pool_name}"}} '):
            return float(ln.split()[-1])
    return None


def cgroups_usable(tmp_path):
    """None when weir can make cgroups with limits here, else weir check's reason."""
    conf = tmp_path / "probe.conf"
    conf.write_text("[server]\nlisten = 127.0.0.1:1\nsyslog = no\n" +
                    pool("p", memory_max="64M", cpu_max="20%", tasks_max=32) + site("p"))
    out = subprocess.run([WEIR, "check", "-c", str(conf)], capture_output=True, text=True,
                         timeout=30)
    if out.returncode == 0:
        return None
    # anything but the cgroup refusal is this probe's own mistake
    assert "cannot be enforced" in out.stderr, out.stderr
    return out.stderr.strip()


@pytest.fixture
def cg(tmp_path):
    why = cgroups_usable(tmp_path)
    if why is not None:
        pytest.skip("no writable cgroup hierarchy: " + why)


class Latency:
    """Sequential GETs of one path until stopped, each one's time kept."""

    def __init__(self, w, path):
        self.w, self.path = w, path
        self.times, self.failed = [], []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                st, _ = get(self.w, self.path)
                if st == 200:
                    self.times.append(time.monotonic() - t0)
                else:
                    self.failed.append(st)
            except Exception as e:  # a client-visible failure
                self.failed.append(repr(e))

    def p(self, q):
        s = sorted(self.times)
        return s[min(len(s) - 1, int(q * len(s)))] if s else None

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.t.join(60)


class Answers(Load):
    """conftest's Load, keeping the time each good answer arrived
    (answered(t0, t1) counts them)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.times = []

    def counted(self, r, body):
        super().counted(r, body)
        if r.status == 200:
            self.times.append(time.monotonic())

    def answered(self, t0, t1):
        return sum(1 for t in self.times if t0 <= t < t1)


def test_hierarchy_shown_and_limits_written(make_weir, cg):
    w = make_weir(pool("lim", memory_max="64M", cpu_max="20%", tasks_max=32,
                       start_mode="always") + pool("plain", start_mode="always") +
                  site("lim", "plain"))
    wait_for(lambda: get(w, "/lim/hello")[0] == 200 and get(w, "/plain/hello")[0] == 200,
             what="both pools serving")
    s = status(w)
    h = s["cgroups"]["hierarchy"]
    assert h in ("v1", "v2"), s["cgroups"]
    text = subprocess.run([WEIR, "status", "-c", str(w.conf_path)], capture_output=True,
                          text=True, timeout=30).stdout
    assert f"cgroups: {h} (" in text, text
    lim = pool_status(w, "lim")["cgroup"]
    assert lim["memory_max"] == 64 << 20 and lim["cpu_max"] == 20 and lim["tasks_max"] == 32
    assert lim["tasks"] >= 1 and lim["memory_bytes"] > 0
    # the worker is in its pool's cgroup, the files hold the limits
    pid = pool_status(w, "lim")["workers"][0]["pid"]
    own = open(f"/proc/{pid}/cgroup").read()
    if h == "v1":
        memdir = s["cgroups"]["path"]["memory"] + "/pool-lim"
        assert open(memdir + "/memory.limit_in_bytes").read().strip() == str(64 << 20)
        cpudir = s["cgroups"]["path"]["cpu"] + "/pool-lim"
        assert open(cpudir + "/cpu.cfs_quota_us").read().strip() == "20000"
        piddir = s["cgroups"]["path"]["pids"] + "/pool-lim"
        assert open(piddir + "/pids.max").read().strip() == "32"
        assert str(pid) in open(memdir + "/cgroup.procs").read().split()
        assert f"/weir-{s['pid']}/pool-lim" in own
    else:
        d = lim["path"]
        assert open(d + "/memory.max").read().strip() == str(64 << 20)
        assert open(d + "/cpu.max").read().split() == ["20000", "100000"]
        assert open(d + "/pids.max").read().strip() == "32"
        assert f"/weir-{s['pid']}/pool-lim" in own
    # a pool without limits has a cgroup too (its CPU time and memory), without limits
    plain = pool_status(w, "plain")["cgroup"]
    assert plain["memory_max"] == 0 and plain["tasks"] >= 1
    assert metric(w, "weir_pool_memory_bytes", "lim") > 0
    assert metric(w, "weir_pool_cpu_seconds_total", "plain") is not None
    # at stop weir's cgroups go
    base = s["cgroups"]["path"]
    w.stop()
    for d in base.values():
        assert not os.path.exists(d), d


def test_memory_max_oom_kill_named_in_1009(make_weir, cg, record_property):
    w = make_weir(pool("hog", memory_max="64M", start_mode="always") +
                  pool("other", start_mode="always") + site("hog", "other"))
    wait_for(lambda: get(w, "/hog/hello")[0] == 200 and get(w, "/other/hello")[0] == 200,
             what="both pools serving")
    other_pid = pool_status(w, "other")["workers"][0]["pid"]
    with Latency(w, "/other/hello") as lat:
        st, _ = get(w, "/hog/alloc?mb=200", timeout=60)
        # killed, retried once on the replacement, killed again: a poison request
        assert st == 502
        wait_for(lambda: any(e.get("oom_kill") for e in events(w, 1009)), timeout=20,
                 what="1009 for the OOM kill")
        wait_for(lambda: get(w, "/hog/hello")[0] == 200, timeout=30, what="hog serving again")
    ev = next(e for e in events(w, 1009) if e.get("oom_kill"))
    assert "killed by the OOM killer of pool hog: memory_max 64M reached" in ev["message"], ev
    assert ev["signal"] == 9 and ev["memory_max"] == 64 << 20
    assert pool_status(w, "hog")["cgroup"]["oom_kills"] >= 1
    assert metric(w, "weir_pool_oom_kills_total", "hog") >= 1
    # the other pool: same worker, every request answered
    assert pool_status(w, "other")["workers"][0]["pid"] == other_pid
    assert not lat.failed, lat.failed
    assert len(lat.times) >= 5
    p99 = lat.p(0.99)
    print(f"other pool during the OOM kill: {len(lat.times)} requests, "
          f"p50 {lat.p(0.5) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    record_property("other_p99_ms", round(p99 * 1000, 1))
    assert p99 < 2.0


def test_tasks_max_contains_a_fork_bomb(make_weir, cg):
    w = make_weir(pool("forky", tasks_max=32, start_mode="always") +
                  pool("other", start_mode="always") + site("forky", "other"))
    wait_for(lambda: get(w, "/forky/hello")[0] == 200 and get(w, "/other/hello")[0] == 200,
             what="both pools serving")
    with Latency(w, "/other/hello") as lat:
        st, body = get(w, "/forky/forks?n=200&ms=300", timeout=60)
    assert st == 200, body
    forked, failed = int(body.split()[1]), int(body.split()[3])
    print(f"fork bomb: {forked} forked, {failed} failed")
    assert failed > 0 and forked < 32
    assert not lat.failed, lat.failed
    assert get(w, "/forky/hello")[0] == 200
    wait_for(lambda: any(e["pool"] == "forky" and e["forks_refused"] > 0
                         for e in events(w, 1322)), timeout=15, what="event 1322")
    ev = next(e for e in events(w, 1322) if e["pool"] == "forky")
    assert "refused at tasks_max 32" in ev["message"], ev
    assert ev["level"] == "warning"
    assert pool_status(w, "forky")["cgroup"]["forks_refused"] >= failed
    assert metric(w, "weir_pool_pids_max_failures_total", "forky") >= failed


def test_reload_applies_limits_to_running_workers(make_weir, cg):
    w = make_weir(pool("p", start_mode="always") + site("p"))
    wait_for(lambda: get(w, "/p/hello")[0] == 200, what="pool serving")
    pid = pool_status(w, "p")["workers"][0]["pid"]
    assert pool_status(w, "p")["cgroup"]["tasks_max"] == 0
    text = w.conf_path.read_text().replace("[pool p]\n", "[pool p]\ntasks_max = 16\n")
    w.conf_path.write_text(text)
    out = subprocess.run([WEIR, "reload", "-c", str(w.conf_path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    cg = pool_status(w, "p")["cgroup"]
    assert cg["tasks_max"] == 16
    # the limit is the running worker's: no restart needed
    assert pool_status(w, "p")["workers"][0]["pid"] == pid
    st, body = get(w, "/p/forks?n=40&ms=300", timeout=60)
    assert st == 200 and int(body.split()[3]) > 0, body
    # a key with a value weir check refuses is a rejected reload, limits unchanged
    w.conf_path.write_text(text.replace("tasks_max = 16", "cpu_max = 0%"))
    out = subprocess.run([WEIR, "reload", "-c", str(w.conf_path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0
    assert pool_status(w, "p")["cgroup"]["tasks_max"] == 16


def cpu_share(w, name, seconds):
    """The pool's CPU use over `seconds`, in percent of one CPU, from its cgroup."""
    a = pool_status(w, name)["cgroup"]["cpu_usec"]
    t0 = time.monotonic()
    time.sleep(seconds)  # the measurement window itself, not a wait for a condition
    b = pool_status(w, name)["cgroup"]["cpu_usec"]
    return (b - a) / 1e6 / (time.monotonic() - t0) * 100


def test_cpu_max_throttles_the_pool(make_weir, cg, record_property):
    """A pool at cpu_max = 20% spinning as fast as its clients ask takes 15
    to 25% of one CPU, and another pool's clients, CPU-bound, keep most of
    their rate beside it."""
    w = make_weir(pool("hog", cpu_max="20%", start_mode="always") +
                  pool("hello", start_mode="always") + site("hog", "hello"))
    wait_for(lambda: get(w, "/hog/hello")[0] == 200 and get(w, "/hello/hello")[0] == 200,
             what="both pools serving")
    hog_pids = [wk["pid"] for wk in pool_status(w, "hog")["workers"]]
    assert hog_pids
    # its own process: client threads here would take this process's
    # interpreter lock from the client that measures hello
    hog = subprocess.Popen([PY, "-c", HOG_CLIENT, str(w.port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    on, off = [0, 0.0], [0, 0.0]    # hello's answers, seconds
    try:
        wait_for(lambda: pool_status(w, "hog")["cgroup"]["throttled_periods"] > 0,
                 timeout=20, what="the hog throttled")
        share = cpu_share(w, "hog", 10)
        with Answers(w.port, "/hello/hello", conns=2) as hello:
            # warm-up: connections, the worker's first requests
            wait_for(lambda: len(hello.times) >= 100, timeout=30, what="hello answering")
            # hello's rate with and without the hog, in phases of half a
            # second, alternately: the hog's workers run, then are stopped
            # (SIGSTOP: no CPU at once, their requests wait).  The other
            # developers' load on this shared machine, and the test file
            # meson runs beside this one, move hello's rate by up to 45%
            # from one second to the next; windows seconds long, one after
            # another, compared that drift, not the hog.  Interleaved this
            # finely, both sides see the same drift, and what differs is the
            # hog alone; what is left is noise from one half second to the
            # next (about 15% of a phase's rate), which 16 phases a side
            # bring to about 6% of the ratio.
            for i in range(32):
                running = i % 2 == 0
                for pid in hog_pids:
                    os.kill(pid, signal.SIGCONT if running else signal.SIGSTOP)
                t0 = time.monotonic()
                time.sleep(0.5)  # the measurement window itself, not a wait for a condition
                t1 = time.monotonic()
                side = on if running else off
                side[0] += hello.answered(t0, t1)
                side[1] += t1 - t0
        assert not hello.failed, hello.failed
    finally:
        for pid in hog_pids:
            os.kill(pid, signal.SIGCONT)
        hog.terminate()
        _, err = hog.communicate(timeout=60)
    assert hog.returncode == -15, err.decode(errors="replace")
    # the same workers throughout: none was taken for hung and replaced
    assert sorted(wk["pid"] for wk in pool_status(w, "hog")["workers"]) == sorted(hog_pids)
    with_hog, without = on[0] / on[1], off[0] / off[1]
    ratio = with_hog / without
    print(f"hog CPU share over 10 s: {share:.1f}% of one CPU (cpu_max 20%); hello "
          f"{without:.0f} req/s without the hog, {with_hog:.0f} with it "
          f"(16 half-second phases each, alternating): {ratio * 100:.0f}%")
    record_property("hog_cpu_percent", round(share, 1))
    record_property("hello_rps_ratio", round(ratio, 3))
    assert 15 <= share <= 25, share
    # The hog may take at most 20% of one of the two CPUs (a little more
    # in phases this short: each resumes with a period's quota unused):
    # hello, CPU-bound on both, could lose about 10% of its rate to it,
    # which is what the issue asks.  A hog without the limit takes a whole
    # CPU, half the machine; the bound asserted is 60%.
    assert ratio >= 0.6, ratio
    wait_for(lambda: [e for e in events(w, 1322) if e["pool"] == "hog"], timeout=15,
             what="1322 for the throttled pool")
    ev = [e for e in events(w, 1322) if e["pool"] == "hog"]
    assert ev[0]["throttled_periods"] > 0 and "cpu_max 20%" in ev[0]["message"]
    assert metric(w, "weir_pool_cpu_throttled_seconds_total", "hog") > 0


def v2_controllers():
    """The unified hierarchy's controllers for our cgroup, or why there are none."""
    try:
        self = open("/proc/self/cgroup").read().splitlines()
        mounts = open("/proc/mounts").read().splitlines()
    except OSError as e:
        return None, str(e)
    path = next((ln[3:] for ln in self if ln.startswith("0::")), None)
    mnt = next((ln.split()[1] for ln in mounts if ln.split()[2:3] == ["cgroup2"]), None)
    if path is None or mnt is None:
        return None, "no cgroup2 mount or no unified line in /proc/self/cgroup"
    try:
        ctl = open(f"{mnt}{path.rstrip('/')}/cgroup.controllers").read().split()
    except OSError as e:
        return None, f"{mnt}{path}: {e}"
    need = {"memory", "pids", "cpu"}
    if not need <= set(ctl):
        return None, f"{mnt}{path} offers {' '.join(ctl) or 'nothing'}"
    return f"{mnt}{path.rstrip('/')}", None


def test_v2_limits_and_oom(make_weir):
    d, why = v2_controllers()
    if d is None:
        pytest.skip(V2_SKIP + why)
    w = make_weir(pool("lim", memory_max="64M", cpu_max="20%", tasks_max=32,
                       start_mode="always") + site("lim"))
    wait_for(lambda: get(w, "/lim/hello")[0] == 200, what="pool serving")
    s = status(w)
    assert s["cgroups"]["hierarchy"] == "v2", s["cgroups"]
    cgdir = pool_status(w, "lim")["cgroup"]["path"]
    assert open(cgdir + "/memory.max").read().strip() == str(64 << 20)
    assert open(cgdir + "/pids.max").read().strip() == "32"
    st, body = get(w, "/lim/forks?n=100&ms=300", timeout=60)
    assert st == 200 and int(body.split()[3]) > 0, body
    get(w, "/lim/alloc?mb=200", timeout=60)
    wait_for(lambda: any(e.get("oom_kill") for e in events(w, 1009)), timeout=20,
             what="1009 for the OOM kill")
    wait_for(lambda: get(w, "/lim/hello")[0] == 200, timeout=30, what="serving again")
