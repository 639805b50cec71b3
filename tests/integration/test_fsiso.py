"""Filesystem isolation of a pool's workers (issue 12): private_tmp and
protect_system.  Runs as root (CI does): each worker unshares a mount
namespace before it drops the master's privileges.

- private_tmp: a file a worker writes to /tmp is not in the host's /tmp,
  is seen by every worker of the pool (one directory per pool, checked
  through each worker's /proc/PID/root) and by no other pool, and is gone
  once the pool stops; the other pool's stays.
- protect_system: a write outside read_write_paths fails with EROFS (/etc,
  and a directory of the test that is not listed), a write inside a listed
  path (or one a listed symlink points to) works and lands on the host; notify = yes still makes the worker
  ready (its NOTIFY_SOCKET under state_dir is on a read-only mount).
- a listed path that is gone when a worker starts: the launch fails with
  event 1059 saying which path and why (the kernel's refusals take the same
  road), never a worker less isolated than asked.
- weir check refuses the keys when not run as root, and notify with
  private_tmp when state_dir is under /tmp.

Default settings except what a test is about; every wait polls a condition
with a deadline.
"""
import atexit
import json
import os
import shutil
import subprocess
import tempfile
import urllib.parse
import uuid

import pytest

from conftest import SRC, WEIR, cli, traversable, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount namespaces)")

PY = "/usr/bin/python3"


def app_outside_tmp():
    """tests/apps/app.py at a path a private_tmp worker can still open: a
    checkout under /tmp (CI may clone there) is hidden from it by the
    pool's own /tmp, so the app is copied out (and removed at exit)."""
    src = os.path.join(SRC, "tests", "apps", "app.py")
    real = os.path.realpath(src)
    if os.geteuid() != 0 or not any(real.startswith(d + "/") for d in ("/tmp", "/var/tmp")):
        return src
    d = tempfile.mkdtemp(prefix="weir-test-app-", dir="/run")
    os.chmod(d, 0o755)     # pools run as uids of their own
    dst = os.path.join(d, "app.py")
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o644)
    atexit.register(shutil.rmtree, d, True)
    return dst


APP = f"{PY} {app_outside_tmp()} --fs-endpoints"


def conf(*pools):
    text, apps = "", []
    for name, keys in pools:
        text += f"[pool {name}]\n"
        keys = dict({"command": APP}, **keys)
        text += "".join(f"{k} = {v}\n" for k, v in keys.items()) + "\n"
        apps.append(f"app = /{name} {name}")
    return text + "[site main]\n" + "\n".join(apps) + "\n"


def get(w, path, timeout=30):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


def fs(w, pool, op, path, data=None):
    q = {"path": str(path)}
    if data is not None:
        q["data"] = data
    return get(w, f"/{pool}/fs-{op}?" + urllib.parse.urlencode(q))


def pool_status(w, name):
    r = cli(w, "status", "--json")
    assert r.returncode == 0, r.stderr
    return next(p for p in json.loads(r.stdout)["pools"] if p["name"] == name)


def events(w, eid):
    return [e for e in w.events() if e["id"] == eid]


def test_private_tmp_is_the_pools_own(make_weir):
    name = f"weir-fsiso-{uuid.uuid4().hex}"
    host = f"/tmp/{name}"
    w = make_weir(conf(("a", {"private_tmp": "yes", "processes": "2", "start_mode": "always"}),
                       ("b", {"private_tmp": "yes"}),
                       ("c", {})))
    try:
        wait_for(lambda: len([x for x in pool_status(w, "a")["workers"]
                              if x["state"] == "ready"]) == 2,
                 timeout=30, what="both workers of pool a ready")
        assert fs(w, "a", "write", host, "from a") == (200, "written\n")
        assert fs(w, "a", "write", f"/var/tmp/{name}", "var a") == (200, "written\n")
        # not the host's /tmp or /var/tmp
        assert not os.path.exists(host)
        assert not os.path.exists(f"/var/tmp/{name}")
        # the pool's directory, seen by each of its workers in its namespace
        pdir = w.state_dir / "private" / "a"
        assert (pdir / "tmp" / name).read_text() == "from a"
        pids = [x["pid"] for x in pool_status(w, "a")["workers"]]
        assert len(pids) == 2
        for pid in pids:
            with open(f"/proc/{pid}/root/tmp/{name}") as f:
                assert f.read() == "from a"
            with open(f"/proc/{pid}/root/var/tmp/{name}") as f:
                assert f.read() == "var a"
        # the other pools do not see it: b has its own, c the host's
        assert fs(w, "b", "read", host) == (500, "ENOENT")
        assert fs(w, "b", "write", host, "from b") == (200, "written\n")
        assert fs(w, "c", "read", host) == (500, "ENOENT")
        assert fs(w, "a", "read", host) == (200, "from a")
        assert (w.state_dir / "private" / "b" / "tmp" / name).read_text() == "from b"
        # stopping the pool removes its /tmp; b's stays
        r = cli(w, "pool", "stop", "a")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: pool_status(w, "a")["state"] == "stopped", timeout=30,
                 what="pool a stopped")
        wait_for(lambda: not pdir.exists(), what="pool a's private /tmp removed")
        assert (w.state_dir / "private" / "b" / "tmp" / name).exists()
        # started again: an empty /tmp of its own again
        r = cli(w, "pool", "start", "a")
        assert r.returncode == 0, r.stderr
        assert fs(w, "a", "read", host) == (500, "ENOENT")
    finally:
        for p in (host, f"/var/tmp/{name}"):
            if os.path.exists(p):
                os.unlink(p)
    w.stop()
    # weir stopped: no pool's /tmp is left
    assert not (w.state_dir / "private" / "b").exists()


def test_protect_system_read_only_but_listed_paths(make_weir, tmp_path):
    rw = tmp_path / "rw"
    other = tmp_path / "notlisted"
    real = tmp_path / "real"
    link = tmp_path / "link"
    for d in (rw, other, real):
        d.mkdir()
        d.chmod(0o777)     # the pools run as uids of their own: let them write
    link.symlink_to(real)
    etc = f"/etc/weir-test-{uuid.uuid4().hex}"
    w = make_weir(conf(("p", {"protect_system": "yes", "read_write_paths": f"{rw}, {link}",
                              "notify": "yes", "command": f"{APP} --notify"}),
                       ("open", {})))
    try:
        assert fs(w, "p", "write", etc) == (500, "EROFS")
        assert not os.path.exists(etc)
        assert fs(w, "p", "write", other / "x") == (500, "EROFS")
        assert not (other / "x").exists()
        assert fs(w, "p", "write", rw / "x", "kept") == (200, "written\n")
        assert (rw / "x").read_text() == "kept"
        # a listed symlink: what it points to stays writable (mount follows it)
        assert fs(w, "p", "write", link / "y", "via link") == (200, "written\n")
        assert (real / "y").read_text() == "via link"
        # readable as before
        assert fs(w, "p", "read", "/etc/hostname")[0] == 200
        # ready through READY=1 on a socket of the read-only state_dir
        assert "ready in" in w.log()
        # the same write from a pool without the key works (the test can fail)
        assert fs(w, "open", "write", other / "y", "open") == (200, "written\n")
    finally:
        if os.path.exists(etc):
            os.unlink(etc)


def test_missing_read_write_path_is_a_launch_failure_1059(make_weir, tmp_path):
    rw = tmp_path / "gone"
    rw.mkdir()
    w = make_weir(conf(("p", {"protect_system": "yes", "read_write_paths": str(rw)})))
    rw.rmdir()
    assert get(w, "/p/hello")[0] == 503
    wait_for(lambda: events(w, 1059), what="event 1059")
    e = events(w, 1059)[0]
    assert f"protect_system: read_write_paths {rw}: No such file or directory" in e["message"]
    assert pool_status(w, "p")["state"] == "disabled"
    assert not events(w, 1009)


def test_check_refuses_without_root(tmp_path):
    traversable(tmp_path)
    path = tmp_path / "weir.conf"
    path.write_text("[server]\nlisten = 127.0.0.1:1\n\n" + conf(("p", {"private_tmp": "yes"})))
    path.chmod(0o644)
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        WEIR, "check", "-c", str(path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert f"{path}:4: [pool p]: private_tmp needs weir to run as root" in r.stderr
    # as root, the same pool is fine
    r = subprocess.run([WEIR, "check", "-c", str(path)], capture_output=True, text=True,
                       timeout=30)
    assert "private_tmp" not in r.stderr


def test_check_refuses_notify_with_private_tmp_under_tmp(tmp_path):
    path = tmp_path / "weir.conf"
    path.write_text(f"[server]\nlisten = 127.0.0.1:1\nstate_dir = /tmp/weir-{uuid.uuid4().hex}\n\n"
                    + conf(("p", {"private_tmp": "yes", "notify": "yes"})))
    r = subprocess.run([WEIR, "check", "-c", str(path)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1
    assert "notify = yes with private_tmp needs [server] state_dir outside /tmp" in r.stderr


def test_reload_turns_protect_system_on_with_new_workers(make_weir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)      # the pool runs as a uid of its own: let it write
    w = make_weir(conf(("p", {})))
    assert fs(w, "p", "write", data / "before", "1") == (200, "written\n")
    old = int(get(w, "/p/pid")[1])
    text = w.conf_path.read_text().replace("[pool p]\n", "[pool p]\nprotect_system = yes\n")
    w.conf_path.write_text(text)
    r = cli(w, "reload")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: events(w, 1080), what="event 1080 (recycle for new settings)")
    wait_for(lambda: int(get(w, "/p/pid")[1]) != old, timeout=30,
             what="a worker with the new settings")
    assert fs(w, "p", "write", data / "after", "2") == (500, "EROFS")
    assert not (data / "after").exists()
