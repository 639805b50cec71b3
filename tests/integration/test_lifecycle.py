"""Workers never outlive weir, and hangs are seen.

- SIGKILL of the master under load: no process it started is left (the
  workers, gunicorn's forked workers, the front end), checked by the pids
  this weir's status gave before the kill and their children in /proc.
- A worker that outlives its master for real (it clears the parent-death
  signal weir set, and the master's warden is gone too) is ended when weir
  starts again, and event 1310 names it.
- A pool without ping_path: a SIGSTOPped worker is found by the default
  liveness probe (1010) and replaced; no GET fails, a POST in flight may
  get 502 and nothing else.
- Readiness of such a pool is the first answer: a worker that never
  answers is never "ready".  A clean stop removes the process records.

Default settings except what a test is about; every wait polls a condition
with a deadline; only processes of the test's own weir are signalled.
"""
import http.client
import json
import os
import signal
import subprocess
import threading
import time

import pytest

import conftest
from conftest import SRC, WEIR, wait_for

PY = "/usr/bin/python3"
APP = f"{PY} {SRC}/tests/apps/app.py"
GUNICORN = f"{PY} -m gunicorn --workers 2 --chdir {SRC}/tests/apps wsgi_app:app"


def conf(*pools, sites=""):
    text = ""
    apps = []
    for name, command, keys in pools:
        text += f"[pool {name}]\ncommand = {command}\n"
        text += "".join(f"{k} = {v}\n" for k, v in keys.items()) + "\n"
        apps.append(f"app = /{name} {name}")
    return text + "[site main]\n" + "\n".join(apps) + "\n" + sites


def status(w):
    r = subprocess.run([WEIR, "status", "--json", "-s", str(w.state_dir / "admin.sock")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def ready_pids(w, pool):
    for p in status(w)["pools"]:
        if p["name"] == pool:
            return [x["pid"] for x in p["workers"] if x["state"] == "ready"]
    return []


def get(w, path, method="GET", body=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=timeout)
    try:
        c.request(method, path, body=body)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def start_time(pid):
    """(start time, state) from /proc/PID/stat, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[19]), fields[0]


def alive(pid, start):
    """Is pid still the process that started at `start` (not a zombie)?"""
    st = start_time(pid)
    return st is not None and st[0] == start and st[1] != "Z"


def children(pid):
    """Every descendant of pid, from /proc/PID/task/*/children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def events(w, eid):
    return [e for e in w.events() if e["id"] == eid]


def relaunch(w):
    """Start this weir again (same config, state_dir, log_dir) after its
    master was killed and reaped."""
    w.stderr.close()
    w.proc = None
    return w.start()


def test_sigkill_of_the_master_under_load_leaves_no_process(make_weir):
    w = make_weir(conf(("g", GUNICORN, {"processes": 2}), ("a", APP, {})))
    # on-demand pools: a request starts them
    assert get(w, "/g/")[0] == 200 and get(w, "/a/hello")[0] == 200
    wait_for(lambda: len(ready_pids(w, "g")) == 2 and len(ready_pids(w, "a")) == 1,
             timeout=30, what="3 ready workers")
    # an arbiter is ready once one of its workers answers; its second one
    # may still be booting, and must be in the snapshot below
    wait_for(lambda: all(len(children(p)) == 2 for p in ready_pids(w, "g")),
             timeout=30, what="both gunicorn workers of each arbiter")
    st = status(w)
    master = w.proc.pid
    pids = [st["frontend"]["pid"]]
    for p in st["pools"]:
        pids += [x["pid"] for x in p["workers"]]
    # gunicorn's forked workers, and the warden, are in the master's tree
    pids += [c for p in list(pids) for c in children(p)] + children(master)
    pids = set(pids) - {master}
    starts = {p: start_time(p)[0] for p in pids if start_time(p) is not None}
    assert len(starts) >= 7, starts   # fe, 2 arbiters + 4 gunicorn workers, app, warden
    with conftest.Load(w.port, "/g/", conns=4) as g, conftest.Load(w.port, "/a/hello", conns=2):
        wait_for(lambda: g.ok >= 50, timeout=30, what="load served")
        os.kill(master, signal.SIGKILL)
        w.proc.wait(timeout=10)
    t0 = time.monotonic()
    wait_for(lambda: not [p for p, s in starts.items() if alive(p, s)], timeout=15,
             what="every process of the killed master to be gone: " +
             repr([p for p, s in starts.items() if alive(p, s)]))
    took = time.monotonic() - t0
    # the warden ended what the parent-death signal does not reach, named it,
    # and left no records behind
    ended = [e for e in events(w, 1310) if e["by"] == "warden"]
    assert all(set(e["ended"]) <= set(starts) for e in ended), ended
    assert not (w.state_dir / "processes").exists()
    print(f"all {len(starts)} processes gone {took:.2f}s after the master's SIGKILL; "
          f"1310: {[(e.get('pool'), e['pid'], e['ended']) for e in ended]}")


def test_next_start_ends_what_a_dead_master_left(make_weir):
    """Also: with the warden gone, the parent-death signal alone ends a
    worker that runs under its own `user` (the kernel clears the signal
    when the credentials change: weir sets it after setuid)."""
    cmd = f"{APP} --no-parent-death-signal"
    w = make_weir(conf(("keep", cmd, {"start_mode": "always"}),
                       ("own", APP, {"start_mode": "always", "user": "nobody"})))
    wait_for(lambda: len(ready_pids(w, "keep")) == 1 and len(ready_pids(w, "own")) == 1,
             timeout=30, what="workers ready")
    pid = ready_pids(w, "keep")[0]
    start = start_time(pid)[0]
    own = ready_pids(w, "own")[0]
    own_start = start_time(own)[0]
    with open(f"/proc/{own}/status") as f:
        assert [ln for ln in f if ln.startswith("Uid:")][0].split()[1] != "0"
    master = w.proc.pid
    warden = [c for c in children(master)
              if open(f"/proc/{c}/comm").read().strip() == "weir-warden"]
    assert len(warden) == 1
    os.kill(warden[0], signal.SIGKILL)
    wait_for(lambda: f"the warden (pid {warden[0]}) exited" in w.log(), what="warden reaped")
    os.kill(master, signal.SIGKILL)
    w.proc.wait(timeout=10)
    try:
        wait_for(lambda: not alive(own, own_start), what="the parent-death signal")
        # a genuine leftover: nothing ends it now
        assert alive(pid, start)
        assert (w.state_dir / "processes").exists()
        relaunch(w)
        ev = wait_for(lambda: [e for e in events(w, 1310) if e["pid"] == pid],
                      what="event 1310 naming the worker")[0]
        assert ev["pool"] == "keep" and ev["by"] == "start" and ev["kind"] == "worker"
        assert "app.py --no-parent-death-signal" in ev["command"]
        assert pid in ev["ended"] and f"'{pid}'" in ev["message"]
        assert not alive(pid, start)
        # and the new weir serves, with a worker of its own
        wait_for(lambda: ready_pids(w, "keep") and ready_pids(w, "keep")[0] != pid,
                 timeout=30, what="a new worker")
        code, body = get(w, "/keep/hello")
        assert code == 200 and body.startswith(b"hello from")
    finally:
        for p, s in ((pid, start), (own, own_start)):
            if alive(p, s):
                os.kill(p, signal.SIGKILL)


def test_sigstopped_worker_is_found_and_replaced(make_weir):
    w = make_weir(conf(("app", APP, {"processes": 2, "start_mode": "always",
                                     "ping_interval": "1s", "ping_response_time": "2s"})))
    wait_for(lambda: len(ready_pids(w, "app")) == 2, timeout=30, what="2 ready workers")
    victim = ready_pids(w, "app")[0]
    vstart = start_time(victim)[0]
    posts = {"ok": 0, "502": 0, "other": []}
    stop = threading.Event()

    def post_loop():
        while not stop.is_set():
            try:
                code, body = get(w, "/app/echo", method="POST", body=b"x" * 100)
                if code == 200:
                    posts["ok"] += 1
                elif code == 502:
                    posts["502"] += 1
                else:
                    posts["other"].append(code)
            except Exception as e:  # any client-visible failure
                posts["other"].append(repr(e))

    poster = threading.Thread(target=post_loop, daemon=True)
    try:
        with conftest.Load(w.port, "/app/hello", conns=4,
                           expect=lambda b: b.startswith(b"hello from")) as load:
            poster.start()
            wait_for(lambda: load.ok >= 50, timeout=30, what="load served")
            os.kill(victim, signal.SIGSTOP)
            t0 = time.monotonic()
            ev = wait_for(lambda: [e for e in events(w, 1010) if e["pid"] == victim],
                          timeout=15, what="event 1010")[0]
            took = time.monotonic() - t0
            wait_for(lambda: len(ready_pids(w, "app")) == 2 and
                     victim not in ready_pids(w, "app"), timeout=30, what="a replacement")
            served = load.ok
            wait_for(lambda: load.ok >= served + 50, timeout=30, what="load served after")
            stop.set()
        poster.join(60)
        assert not load.failed, load.failed[:5]
        assert not posts["other"], posts["other"][:5]
        assert posts["ok"] > 0
        assert "ping" in ev["message"] and ev["pool"] == "app"
        # ping_interval 1s + ping_response_time 2s, and the probe's own scheduling
        assert took < 1 + 2 + 1.5, took
        assert not alive(victim, vstart)  # weir killed it
        st = [p for p in status(w)["pools"] if p["name"] == "app"][0]
        assert st["state"] == "started"
        print(f"1010 {took:.2f}s after SIGSTOP; GETs ok {load.ok}, failed 0; "
              f"POSTs ok {posts['ok']}, 502 {posts['502']}")
    finally:
        stop.set()
        if alive(victim, vstart):
            os.kill(victim, signal.SIGKILL)
            os.kill(victim, signal.SIGCONT)


def test_readiness_is_the_first_answer(make_weir):
    # a worker that runs but never answers HTTP is never ready
    mute = f"{PY} -c 'import time; time.sleep(120)'"
    w = make_weir(conf(("mute", mute, {"start_mode": "always", "startup_time_limit": "2s"}),
                       ("a", APP, {"start_mode": "always"})))
    wait_for(lambda: len(ready_pids(w, "a")) == 1, timeout=30, what="the answering worker ready")
    ev = wait_for(lambda: events(w, 1012), timeout=20, what="1012 for the mute worker")[0]
    assert ev["pool"] == "mute"
    assert not [ln for ln in w.log().splitlines() if "pool mute:" in ln and "ready in" in ln]
    # the app answers OPTIONS * with 404: still an answer, so it is ready
    code, body = get(w, "/a/hello")
    assert code == 200 and body.startswith(b"hello from")
    # a clean stop leaves no process records behind
    assert (w.state_dir / "processes").exists()
    assert w.stop() == 0
    assert not (w.state_dir / "processes").exists()
