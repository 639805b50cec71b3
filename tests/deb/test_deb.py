"""make test-deb: weir's Debian package, installed, upgraded under load and
purged on this machine (as root; not part of make test, since it installs
packages system-wide).

Two packages of this tree are built with two versions (make deb
DEB_VERSION=...).  OLD is installed with apt, /etc/weir/weir.conf is given
a test configuration (a loopback port, a static site, an HTTP pool and a
PHP pool, both start_mode = always; the packaged state_dir, log_dir and
user, _weir), and weir is started from the package's paths (/usr/bin/weir run -c
/etc/weir/weir.conf).  Under wrk's load (50 connections: 40 keep-alive, 10
with a new connection per request) NEW is installed with apt: its postinst
finds weir running and runs `weir upgrade`.  No request may fail and no
connection be refused, and `weir status` must show NEW's version serving.
Whatever happens, weir is stopped, the package purged (which must remove
/etc/weir, /var/log/weir and /var/lib/weir) and every process reaped.
"""
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("WEIR_SRC", os.path.abspath(os.path.join(HERE, "..", "..")))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
from conftest import free_port, wait_for  # noqa: E402

CONF = "/etc/weir/weir.conf"
WEIR = "/usr/bin/weir"
PY = "/usr/bin/python3"
APT = ["apt-get", "install", "-y", "-q", "--no-install-recommends",
       "-o", "Dpkg::Options::=--force-confold"]
ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def meson_version():
    with open(os.path.join(SRC, "meson.build")) as f:
        return re.search(r"^  version: '([^']+)',$", f.read(), re.M).group(1)


def build_debs(*versions):
    """make deb of each version, all at once: each build is its own copy of
    the tree (scripts/make-deb), and the steps of one that use a single CPU
    (dpkg-deb's compression, dh_*) overlap the other's compiling."""
    ps = [subprocess.Popen([os.path.join(SRC, "scripts", "make-deb"), v],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=dict(os.environ, DEB_BUILD_OPTIONS="nocheck"),
                           start_new_session=True)
          for v in versions]
    try:
        outs = [p.communicate(timeout=1800)[0] for p in ps]
    finally:
        for p in ps:    # a build left running (a timeout): it and its children
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    debs = []
    for v, p, out in zip(versions, ps, outs):
        assert p.returncode == 0, out
        deb = os.path.join(SRC, "build-deb", f"weir_{v}_{arch()}.deb")
        assert os.path.exists(deb), out
        debs.append(deb)
    return debs


def arch():
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                          text=True, check=True).stdout.strip()


def installed(pkg):
    """Installed, or removed with its configuration files left."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True,
                         text=True)
    return out.returncode == 0 and out.stdout.split()[-1:] != ["not-installed"]


def status():
    out = subprocess.run([WEIR, "status", "--json", "-c", CONF], capture_output=True,
                         text=True, timeout=30)
    return json.loads(out.stdout) if out.returncode == 0 else None


def serving():
    """weir's status once every pool has started, else None."""
    st = status()
    return st if st and st["pools"] and all(p["state"] == "started"
                                           for p in st["pools"]) else None


def tree(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            pass
    return out


def started(pid):
    """(pid, start time) of a live process, or None: a pid alone could be
    another process's by the time it is looked at again."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return None if fields[0] == "Z" else (pid, fields[19])


def procs(pid):
    return {s for s in map(started, tree(pid)) if s is not None}


def wrk(port, seconds, conns, close=False):
    """Start wrk; its figures come from wrk_result()."""
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s",
           "-s", os.path.join(HERE, "load.lua")]
    if close:
        cmd += ["-H", "Connection: close"]
    return subprocess.Popen(cmd + [f"http://127.0.0.1:{port}"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wrk_result(p):
    out, _ = p.communicate(timeout=300)
    m = re.search(r"^WRK (\{.*\})$", out, re.M)
    assert p.returncode == 0 and m, out
    return json.loads(m.group(1))


def load(port, seconds):
    """50 connections: 40 kept alive, 10 with a new connection per request."""
    return [wrk(port, seconds, 40), wrk(port, seconds, 10, close=True)]


def summed(procs):
    r = [wrk_result(p) for p in procs]
    s = {k: sum(x[k] for x in r) for k in ("requests", "connect", "read", "write",
                                          "status", "timeout")}
    s["p99_ms"] = max(x["p99_ms"] for x in r)       # the worse of the two
    s["p99_ms_keepalive"], s["p99_ms_new_conn"] = r[0]["p99_ms"], r[1]["p99_ms"]
    s["failed"] = s["read"] + s["write"] + s["status"] + s["timeout"]
    return s


def test_apt_upgrade_under_load(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("make test-deb installs packages: run it as root")
    for tool in ("dpkg-buildpackage", "wrk", "apt-get", "php-cgi", "lintian"):
        assert shutil.which(tool), f"{tool} is missing (scripts/install-deps)"
    for pkg in ("weir", "weir-dev"):
        assert not installed(pkg), f"{pkg} is installed on this machine: not touching it"
    # WEIR_DEB_OLD / WEIR_DEB_NEW: packages to use instead (e.g. the last
    # release as OLD), named weir_VERSION_ARCH.deb
    base = meson_version()
    old_v, new_v = f"{base}+debtest1", f"{base}+debtest2"
    old_deb, new_deb = os.environ.get("WEIR_DEB_OLD"), os.environ.get("WEIR_DEB_NEW")
    built = iter(build_debs(*[v for v, d in ((old_v, old_deb), (new_v, new_deb)) if not d]))
    old_deb, new_deb = old_deb or next(built), new_deb or next(built)
    old_v, new_v = (os.path.basename(d).split("_")[1] for d in (old_deb, new_deb))
    # every package of the build (weir, weir-dev) when its .changes is there
    changes = re.sub(r"\.deb$", ".changes", old_deb)
    lint = subprocess.run(["lintian", "--pedantic",
                           changes if os.path.exists(changes) else old_deb],
                          capture_output=True, text=True, timeout=600)
    print("\nlintian:", lint.stdout.strip() or "clean")
    assert lint.returncode == 0 and lint.stdout.strip() == "", lint.stdout + lint.stderr

    user_existed = True
    try:
        pwd.getpwnam("_weir")
    except KeyError:
        user_existed = False
    # a document root every user can read: the front end runs as weir, the
    # PHP pool with a uid of its own
    www = tempfile.mkdtemp(prefix="weir-deb-www.", dir="/tmp")
    os.chmod(www, 0o755)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("<h1>weir from its package</h1>\n")
    with open(os.path.join(www, "info.php"), "w") as f:
        f.write("<?php echo 'php ', PHP_VERSION, \"\\n\";\n")
    port = free_port()
    master = None
    pids = set()
    log = open(tmp_path / "weir.log", "w")
    try:
        out = subprocess.run(APT + [old_deb], capture_output=True, text=True, env=ENV,
                             timeout=600)
        assert out.returncode == 0, out.stdout + out.stderr
        assert subprocess.run([WEIR, "verify"], capture_output=True).returncode == 0
        with open(CONF, "w") as f:
            f.write(f"""; make test-deb's configuration
[server]
listen = 127.0.0.1:{port}
user = _weir
state_dir = /var/lib/weir
log_dir = /var/log/weir
access_log = w3c

[pool app]
command = {PY} {SRC}/tests/apps/app.py
start_mode = always

[pool php]
kind = fastcgi
command = php-cgi
start_mode = always

[site main]
root = {www}
index = index.html
app = /app app
script = .php php
""")
        master = subprocess.Popen([WEIR, "run", "-c", CONF], stdout=log,
                                  stderr=subprocess.STDOUT)
        st = wait_for(serving, timeout=60,
                      what="weir from the package with both pools started")
        assert st["version"] == old_v and st["pid"] == master.pid
        pids.update(procs(master.pid))
        old_pid = st["pid"]

        before = summed(load(port, 5))
        print(f"before:  {before}")
        assert before["requests"] > 0 and before["failed"] == 0 and before["connect"] == 0

        during = load(port, 45)
        t0 = time.monotonic()
        wait_for(lambda: time.monotonic() - t0 > 2, timeout=5, what="load to run")
        t_apt = time.monotonic()
        out = subprocess.run(APT + [new_deb], capture_output=True, text=True, env=ENV,
                             timeout=600)
        t_apt = time.monotonic() - t_apt
        print(out.stdout[-1500:], out.stderr[-1500:])
        assert out.returncode == 0, out.stdout + out.stderr
        assert "weir upgrade: upgraded" in out.stdout + out.stderr
        st = status()
        pids.update(procs(st["pid"]))
        res = summed(during)
        print(f"during (apt install of {new_v}, {t_apt:.1f} s within the 45 s of load): {res}")
        assert t_apt < 40, "the upgrade did not finish while the load ran"
        assert res["failed"] == 0 and res["connect"] == 0, res
        # the new version serves, from the package's paths
        st = status()
        assert st["version"] == new_v and st["pid"] != old_pid, st
        assert st["binary"] == WEIR
        assert all(p["state"] == "started" for p in st["pools"]), st["pools"]
        wait_for(lambda: master.poll() is not None, timeout=60, what="the old master to exit")
        assert master.returncode == 0
        ev = [json.loads(ln) for ln in open("/var/log/weir/events.jsonl")]
        assert [e for e in ev if e["id"] == 1341 and e["version"] == new_v], ev
        assert not [e for e in ev if e["id"] in (1342, 1009, 1305)], ev
        pids.update(procs(st["pid"]))
    finally:
        st = status()
        if st is not None:
            pids.update(procs(st["pid"]))
        # purge stops weir (the prerm) and removes its files
        purge = subprocess.run(["apt-get", "purge", "-y", "-q"] +
                               [p for p in ("weir", "weir-dev") if installed(p)],
                               capture_output=True, text=True, env=ENV, timeout=600)
        if master is not None and master.poll() is None:
            master.kill()
        if master is not None:
            master.wait(timeout=60)
        left = [p for p in pids if started(p[0]) == p]
        for pid, _ in left:
            os.kill(pid, 9)     # weir's own processes, started by this test
        if not user_existed:     # the postinst made it; the purge keeps it
            subprocess.run(["userdel", "_weir"], capture_output=True)
            subprocess.run(["groupdel", "_weir"], capture_output=True)
        shutil.rmtree(www, ignore_errors=True)
        log.close()
    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert not left, f"processes left after the purge: {left}"
    assert not installed("weir")
    for d in ("/etc/weir", "/var/log/weir", "/var/lib/weir"):
        assert not os.path.exists(d), f"{d} is left after the purge"
