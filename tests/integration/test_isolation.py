"""Pools isolated from each other and from the host (issue 12, identity and
privileges).  Started as root, a pool without `user` runs under a uid and
gid of its own (ident.c), stable across restarts; no worker and no front end
holds a capability or can gain one (NO_NEW_PRIVS, empty sets); a worker
cannot signal the front end or another pool's workers, connect to another
pool's worker socket, or read another pool's 0700 directory; a pool with
the front end's user is refused by `weir check`; `user = root` warns.

The app's /run endpoint (tests/apps/app.py --allow-run) runs a program as
the worker, so each check is made by a real process of the pool.  These
tests need root (CI runs the suite as root)."""
import errno
import http.client
import json
import os
import shutil
import stat
import subprocess

import pytest

from conftest import SRC, WEIR, traversable, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root (pool identities); CI runs as root")

PY = "/usr/bin/python3"
APP = f"{PY} {SRC}/tests/apps/app.py --allow-run"
CAPS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


def two_pools(extra_a="", extra_b=""):
    return (f"[pool a]\ncommand = {APP}\n{extra_a}\n"
            f"[pool b]\ncommand = {APP}\n{extra_b}\n"
            "[site main]\napp = /a a\napp = /b b\n")


def status(w):
    r = subprocess.run([WEIR, "status", "--json", "-s", str(w.state_dir / "admin.sock")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def pool_of(w, name):
    return next(p for p in status(w)["pools"] if p["name"] == name)


def ready_workers(w, name, n=1):
    """The pool's ready workers, once it has n (pools start on demand: a
    request starts it)."""
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=30)
    try:
        c.request("GET", f"/{name}/hello")
        assert c.getresponse().status == 200
    finally:
        c.close()
    return wait_for(lambda: [x for x in pool_of(w, name)["workers"] if x["state"] == "ready"]
                    if len([x for x in pool_of(w, name)["workers"]
                            if x["state"] == "ready"]) >= n else None,
                    timeout=20, what=f"{n} ready worker(s) of pool {name}")


def run_in(w, pool, argv):
    """Run argv as a worker of `pool` (through its /run endpoint)."""
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=30)
    try:
        c.request("POST", f"/{pool}/run", body=json.dumps(argv),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, body
        return json.loads(body)
    finally:
        c.close()


def py_in(w, pool, code):
    """Run a Python snippet as a worker of `pool`; its stdout, stripped."""
    r = run_in(w, pool, [PY, "-c", code])
    assert r["rc"] == 0, r
    return r["out"].strip()


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            k, _, v = ln.partition(":")
            out[k] = v.strip()
    return out


def test_a_pool_without_user_runs_under_its_own_stable_uid(make_weir):
    w = make_weir(two_pools())
    ua = ready_workers(w, "a")[0]
    ub = ready_workers(w, "b")[0]
    pa, pb = pool_of(w, "a"), pool_of(w, "b")
    assert pa["identity"] == "own" and pb["identity"] == "own"
    assert pa["uid"] not in (0, pb["uid"]) and pa["gid"] == pa["uid"]
    assert pb["uid"] != 0 and pb["gid"] == pb["uid"]
    fe = w.frontend_pid()
    fe_uid = int(proc_status(fe)["Uid"].split()[0])
    assert fe_uid not in (0, pa["uid"], pb["uid"])
    # what the processes really run as, every id (real, effective, saved, fs)
    for wk, p in ((ua, pa), (ub, pb)):
        st = proc_status(wk["pid"])
        assert st["Uid"].split() == [str(p["uid"])] * 4, st["Uid"]
        assert st["Gid"].split() == [str(p["gid"])] * 4, st["Gid"]
        assert st["Groups"] == ""       # no supplementary groups
    # weir pool show says it too
    r = subprocess.run([WEIR, "pool", "show", "a", "-s", str(w.state_dir / "admin.sock")],
                       capture_output=True, text=True, timeout=30)
    assert f"identity: own, uid {pa['uid']}, gid {pa['gid']}" in r.stdout, r.stdout
    # the same after a restart of weir
    w.stop()
    w.start()
    ready_workers(w, "a")
    ready_workers(w, "b")
    assert pool_of(w, "a")["uid"] == pa["uid"]
    assert pool_of(w, "b")["uid"] == pb["uid"]
    assert int(proc_status(w.frontend_pid())["Uid"].split()[0]) == fe_uid


def test_no_worker_and_no_front_end_holds_a_privilege(make_weir):
    w = make_weir(two_pools())
    pids = [x["pid"] for p in ("a", "b") for x in ready_workers(w, p)]
    pids.append(w.frontend_pid())
    for pid in pids:
        st = proc_status(pid)
        assert st["NoNewPrivs"] == "1", (pid, st)
        for k in CAPS:
            assert int(st[k], 16) == 0, (pid, k, st[k])
    # and what the worker's own children get (inherited)
    me = py_in(w, "a", "print(open('/proc/self/status').read())")
    got = dict(ln.split(":", 1) for ln in me.splitlines() if ":" in ln)
    assert got["NoNewPrivs"].strip() == "1"
    for k in CAPS:
        assert int(got[k], 16) == 0, (k, got[k])


def test_a_worker_cannot_signal_the_front_end_or_another_pool(make_weir):
    w = make_weir(two_pools())
    ready_workers(w, "a")
    b = ready_workers(w, "b")[0]
    fe = w.frontend_pid()
    code = ("import os, sys\n"
            "for pid in map(int, sys.argv[1:]):\n"
            "    try:\n"
            "        os.kill(pid, 0)\n"
            "        print(pid, 'ok')\n"
            "    except OSError as e:\n"
            "        print(pid, e.errno)\n")
    r = run_in(w, "a", [PY, "-c", code, str(fe), str(b["pid"])])
    assert r["out"].split("\n")[:2] == [f"{fe} {errno.EPERM}", f"{b['pid']} {errno.EPERM}"], r
    # nothing happened to them
    assert w.frontend_pid() == fe
    assert [x["pid"] for x in pool_of(w, "b")["workers"]] == [b["pid"]]


def test_a_worker_cannot_connect_to_another_pools_worker_socket(make_weir):
    w = make_weir(two_pools())
    ready_workers(w, "a")
    b = ready_workers(w, "b")[0]
    sock = w.state_dir / f"w{b['id']}.sock"
    assert stat.S_ISSOCK(os.stat(sock).st_mode)
    code = ("import errno, os, socket, sys\n"
            "os.stat(sys.argv[1])\n"         # the path is reachable: not ENOENT
            "s = socket.socket(socket.AF_UNIX)\n"
            "try:\n"
            "    s.connect(sys.argv[1]); print('connected')\n"
            "except OSError as e:\n"
            "    print(errno.errorcode[e.errno])\n")
    assert py_in(w, "a", code.replace("sys.argv[1]", repr(str(sock)))) == "EACCES"
    # the front end reaches it all the same
    assert run_in(w, "b", ["true"])["rc"] == 0


def test_a_pool_cannot_read_another_pools_private_directory(make_weir, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)            # like /tmp: both pools may make dirs here
    traversable(shared)
    w = make_weir(two_pools())
    ready_workers(w, "a")
    ready_workers(w, "b")
    mine = shared / "b"
    py_in(w, "b", f"import os\nos.mkdir({str(mine)!r}, 0o700)\n"
                  f"open({str(mine / 'secret')!r}, 'w').write('b only')\n"
                  f"os.chmod({str(mine / 'secret')!r}, 0o644)\n")
    assert py_in(w, "b", f"print(open({str(mine / 'secret')!r}).read())") == "b only"
    code = ("import errno, os\n"
            "for f in (lambda: os.listdir(%r), lambda: open(%r).read()):\n"
            "    try:\n"
            "        f(); print('read')\n"
            "    except OSError as e:\n"
            "        print(errno.errorcode[e.errno])\n") % (str(mine), str(mine / "secret"))
    assert py_in(w, "a", code).split() == ["EACCES", "EACCES"]


def test_a_setuid_root_helper_gives_a_worker_nothing(make_weir, tmp_path):
    helper_dir = tmp_path / "bin"
    helper_dir.mkdir()
    helper = helper_dir / "id"
    shutil.copy("/usr/bin/id", helper)
    os.chown(helper, 0, 0)
    os.chmod(helper, 0o4755)
    traversable(helper_dir)
    os.chmod(helper_dir, 0o755)
    w = make_weir(two_pools())
    ready_workers(w, "a")
    uid = pool_of(w, "a")["uid"]
    # control: the same uid without NO_NEW_PRIVS does become root (the
    # filesystem honours setuid), so the check below can fail
    ctl = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                          str(helper), "-u"], capture_output=True, text=True, timeout=30)
    assert ctl.stdout.strip() == "0", ctl
    r = run_in(w, "a", [str(helper), "-u"])
    assert r["rc"] == 0 and r["out"].strip() == str(uid), r


def line_of(conf, text):
    return conf.read_text().splitlines().index(text) + 1


def test_check_refuses_a_pool_with_the_front_ends_user(make_weir):
    w = make_weir(two_pools(extra_b="user = nobody"), start=False,
                  server_extra="user = nobody")
    line = line_of(w.conf_path, "[pool b]")
    r = subprocess.run([WEIR, "check", "-c", str(w.conf_path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1
    assert (f"{w.conf_path}:{line}: [pool b] user nobody is the front end's user"
            in r.stderr), r.stderr
    # and run refuses it the same way (EX_CONFIG), before binding anything
    w.start(wait=False)
    assert w.proc.wait(timeout=30) == 78
    assert "[pool b] user nobody is the front end's user" in w.log()


def test_user_root_runs_as_root_with_a_warning_and_no_capabilities(make_weir):
    w = make_weir(two_pools(extra_a="user = root"))
    a = ready_workers(w, "a")[0]
    ev = wait_for(lambda: [e for e in w.events() if e["id"] == 1320], what="event 1320")
    assert ev[0]["pool"] == "a" and ev[0]["level"] == "warning"
    assert "runs as root" in ev[0]["message"]
    assert "pool a: runs as root (user = root)" in w.log()
    st = proc_status(a["pid"])
    assert st["Uid"].split()[0] == "0"
    assert st["NoNewPrivs"] == "1"
    assert all(int(st[k], 16) == 0 for k in CAPS), st
    assert pool_of(w, "a")["identity"] == "user"
    # at every start
    w.stop()
    w.start()
    wait_for(lambda: len([e for e in w.events() if e["id"] == 1320]) >= 2,
             what="event 1320 again")


def test_a_reload_that_adds_pools_keeps_each_pools_uid_and_workers(make_weir):
    w = make_weir(two_pools())
    a = ready_workers(w, "a")[0]
    ua, ub = pool_of(w, "a")["uid"], pool_of(w, "b")["uid"]
    text = w.conf_path.read_text()
    w.conf_path.write_text(text.replace(
        "[site main]\n", f"[pool c]\ncommand = {APP}\n[pool aa]\ncommand = {APP}\n"
        "[site main]\napp = /c c\napp = /aa aa\n"))
    r = subprocess.run([WEIR, "reload", "-s", str(w.state_dir / "admin.sock")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: [e for e in w.events() if e["id"] == 1303], what="reload event 1303")
    ready_workers(w, "c")
    uids = {p["name"]: p["uid"] for p in status(w)["pools"]}
    assert uids["a"] == ua and uids["b"] == ub
    assert len({uids["a"], uids["b"], uids["c"], uids["aa"]}) == 4
    # a's worker was not replaced: its identity did not change
    assert [x["pid"] for x in pool_of(w, "a")["workers"]] == [a["pid"]]


def test_not_started_as_root_nothing_changes_identities(make_weir, tmp_path):
    """weir run by an ordinary user: the pools and the front end run as that
    user (no own identities), and still with NO_NEW_PRIVS."""
    nobody = 65534
    wrapper = tmp_path / "weir-as-nobody"
    wrapper.write_text("#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup "
                       f"--clear-groups {WEIR} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    w = make_weir(two_pools(), start=False, binary=str(wrapper))
    for d, _, files in os.walk(w.dir):
        os.chown(d, nobody, -1)
        for f in files:
            os.chown(os.path.join(d, f), nobody, -1)
    w.start()
    a = ready_workers(w, "a")[0]
    p = pool_of(w, "a")
    assert (p["identity"], p["uid"]) == ("weir's", nobody)
    for pid in (a["pid"], w.frontend_pid()):
        st = proc_status(pid)
        assert st["Uid"].split() == [str(nobody)] * 4, st["Uid"]
        assert st["NoNewPrivs"] == "1"
        assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
