"""weir upgrade: a new weir binary replaces the running generation with no
refused connection and no failed request, or not at all.

The "new build" is a copy of the build tree's components (weir, weir-host,
the MANIFEST, the modules) in a temporary directory.  To make it a different
build, not only a different path, the copy's build id is patched: every
occurrence of the build id string in the copied weir is replaced by another
of the same length, and the copy's MANIFEST line for weir gets the patched
file's SHA-256 (what a real new build's MANIFEST says).  `weir version` and
`weir status` of the new master then show the patched build id.
"""
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import SRC, WEIR, wait_for
from test_pools import APP, get

BUILD = os.path.dirname(WEIR)
PATCHED = "upgrade-test-build-0123456789abcdef"


def copy_install(dst, skip_module=None, manifest_drop=None):
    """A copy of the components under dst, as a new install would have them."""
    dst.mkdir()
    for f in ("weir", "weir-host", "MANIFEST"):
        shutil.copy2(os.path.join(BUILD, f), dst / f)
    shutil.copytree(os.path.join(BUILD, "modules"), dst / "modules",
                    ignore=shutil.ignore_patterns("*.p", "*.c", "*.o", "*.txt", "meson*"))
    if skip_module:
        os.unlink(dst / "modules" / f"{skip_module}.so")
    if manifest_drop:
        lines = (dst / "MANIFEST").read_text().splitlines(True)
        (dst / "MANIFEST").write_text("".join(ln for ln in lines
                                              if not ln.startswith(manifest_drop + "\t")))
    for p in (dst.parent, dst, dst / "modules"):
        os.chmod(p, 0o755)
    return dst


def build_id(binary):
    out = subprocess.run([str(binary), "version"], capture_output=True, text=True,
                         check=True).stdout
    return re.search(r"build ([^)]+)\)", out).group(1)


def replace_weir(d, data):
    """Install data as d/weir and give its MANIFEST line the new hash."""
    # a new file renamed over the old one, as package managers install
    (d / "weir.new").write_bytes(data)
    os.chmod(d / "weir.new", 0o755)
    os.replace(d / "weir.new", d / "weir")
    sha = hashlib.sha256((d / "weir").read_bytes()).hexdigest()
    lines = []
    for ln in (d / "MANIFEST").read_text().splitlines(True):
        f = ln.rstrip("\n").split("\t")
        if f[0] == "weir":
            f[4] = sha
            ln = "\t".join(f) + "\n"
        lines.append(ln)
    (d / "MANIFEST").write_text("".join(lines))


def patch_build(d):
    """Give the copied weir another build id and its MANIFEST line the new hash."""
    old = build_id(d / "weir")
    new = (PATCHED * 4)[:len(old)]
    data = (d / "weir").read_bytes()
    assert old.encode() in data
    replace_weir(d, data.replace(old.encode(), new.encode()))
    assert build_id(d / "weir") == new
    return new


# The machine code of `return 1;` for a function returning int.
RETURN_1 = {
    "x86_64": bytes.fromhex("b801000000c3"),            # mov $1, %eax; ret
    "aarch64": bytes.fromhex("20008052c0035fd6"),       # mov w0, #1; ret
}


def file_offset(path, symbol):
    """Where in the ELF file `path` the code of function `symbol` starts."""
    out = subprocess.run(["nm", "--defined-only", str(path)], capture_output=True,
                         text=True, check=True).stdout
    addr = [int(ln.split()[0], 16) for ln in out.splitlines()
            if ln.split()[1:] == ["T", symbol]]
    assert len(addr) == 1, f"{symbol} not in {path}'s symbols"
    data = path.read_bytes()
    assert data[:5] == b"\x7fELF\x02" and data[5] == 1, "a 64-bit little-endian ELF file"
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        typ, _, off, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if typ == 1 and vaddr <= addr[0] < vaddr + filesz:     # PT_LOAD
            return addr[0] - vaddr + off
    raise AssertionError(f"{symbol} is in no loaded segment of {path}")


def break_frontend(d):
    """Make d/weir a build whose front end exits at start: frontend_main(),
    which the forked front-end process runs, returns 1 at once (the path a
    front end that cannot start takes), with a MANIFEST that agrees; its
    build id differs too.  Returns the build id."""
    arch = os.uname().machine
    if arch not in RETURN_1:
        pytest.skip(f"no return-1 machine code for {arch}")
    new = patch_build(d)
    at = file_offset(d / "weir", "frontend_main")
    data = bytearray((d / "weir").read_bytes())
    data[at:at + len(RETURN_1[arch])] = RETURN_1[arch]
    replace_weir(d, bytes(data))
    return new


def conf(root):
    return (f"[pool app]\ncommand = {APP}\nstart_mode = always\n"
            "[pool native]\nkind = native\nmodules = hello\nstart_mode = always\n"
            f"[site main]\nroot = {root}\napp = /app app\napp = /n native\n")


PHP = "/usr/bin/php-cgi"


def conf_with_php(root):
    """conf() and a PHP pool (php-cgi over FastCGI) for .php files."""
    (root / "hi.php").write_text("<?php echo 'php ', getmypid(), \"\\n\";\n")
    return (conf(root) + "script = .php php\n"
            f"[pool php]\nkind = fastcgi\ncommand = {PHP}\nstart_mode = always\n")


def status(w):
    out = subprocess.run([WEIR, "status", "--json", "-c", str(w.conf_path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def upgrade(w, binary):
    return subprocess.run([WEIR, "upgrade", "-c", str(w.conf_path), "--binary", str(binary)],
                          capture_output=True, text=True, timeout=180)


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def tree(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


class Traffic:
    """Clients with a deadline: keep-alive threads (static file and the HTTP
    pool) and a thread opening a new connection per request.  Every request
    is recorded with its time and latency; refused connections and other
    failures are kept apart."""

    def __init__(self, port, deadline=120,
                 paths=("/index.html", "/app/hello", "/index.html", "/app/hello", "/n/x")):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.samples = []       # (start monotonic, latency s)
        self.failed = []
        self.refused = 0
        self.end = time.monotonic() + deadline
        self.threads = [threading.Thread(target=self.keepalive, args=(p,), daemon=True)
                        for p in paths]
        self.threads.append(threading.Thread(target=self.fresh, daemon=True))

    def record(self, t0, ok, what=None):
        with self.lock:
            if ok:
                self.samples.append((t0, time.monotonic() - t0))
            else:
                self.failed.append(what)

    def keepalive(self, path):
        c = None
        while not self.stop.is_set() and time.monotonic() < self.end:
            t0 = time.monotonic()
            try:
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                c.request("GET", path)
                r = c.getresponse()
                body = r.read()
                self.record(t0, r.status == 200, (path, r.status, body[:80]))
                if r.getheader("connection", "").lower() == "close":
                    c.close()
                    c = None
            except ConnectionRefusedError:
                with self.lock:
                    self.refused += 1
                c = None
            except Exception as e:  # a client-visible failure
                self.record(t0, False, (path, repr(e)))
                if c is not None:
                    c.close()
                c = None
        if c is not None:
            c.close()

    def fresh(self):
        while not self.stop.is_set() and time.monotonic() < self.end:
            t0 = time.monotonic()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
                    s.sendall(b"GET /app/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    data = b""
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                self.record(t0, data.startswith(b"HTTP/1.1 200"), ("fresh", data[:80]))
            except ConnectionRefusedError:
                with self.lock:
                    self.refused += 1
            except Exception as e:
                self.record(t0, False, ("fresh", repr(e)))

    def count(self):
        with self.lock:
            return len(self.samples)

    def p99(self, t_from, t_to):
        with self.lock:
            lat = sorted(l for t, l in self.samples if t_from <= t < t_to)
        assert lat, "no requests in the window"
        return lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, len(lat)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def stop_new_master(w, pid):
    """The new master is not the fixture's child: stop it through its admin
    API and wait until it (and what it started) is gone."""
    procs = tree(pid)
    out = subprocess.run([WEIR, "stop", "-c", str(w.conf_path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    wait_for(lambda: all(gone(p) for p in procs), timeout=30,
             what="the new generation's processes to exit")


def test_upgrade_under_load(make_weir, site, tmp_path):
    new = copy_install(tmp_path / "new")
    new_build = patch_build(new)
    w = make_weir(conf_with_php(site))
    old = status(w)
    old_pid, old_build = old["pid"], old["build"]
    assert old_build != new_build
    old_tree = tree(old_pid)
    assert get(w, "/hi.php")[0] == 200
    with Traffic(w.port, paths=("/index.html", "/app/hello", "/hi.php", "/index.html",
                                "/app/hello", "/hi.php", "/n/x")) as t:
        wait_for(lambda: t.count() >= 300, timeout=60, what="traffic before the upgrade")
        t_up = time.monotonic()
        out = upgrade(w, new / "weir")
        t_done = time.monotonic()
        n_at_done = t.count()
        wait_for(lambda: t.count() >= n_at_done + 300, timeout=60,
                 what="traffic after the upgrade")
        # the old generation finished and exited meanwhile
        wait_for(lambda: w.proc.poll() is not None, timeout=30, what="the old master to exit")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "upgraded" in out.stdout and new_build in out.stdout, out.stdout
    print(f"\nrequests: {len(t.samples)} ok, {len(t.failed)} failed, {t.refused} refused")
    assert t.failed == [] and t.refused == 0, (t.failed[:5], t.refused)
    before, nb = t.p99(t_up - 5, t_up)
    during, nd = t.p99(t_up, t_done + 1)
    print(f"p99 latency: before {before:.1f} ms ({nb} requests), "
          f"during the upgrade {during:.1f} ms ({nd} requests), upgrade took "
          f"{(t_done - t_up) * 1000:.0f} ms")
    assert w.proc.returncode == 0, w.log()[-3000:]
    st = status(w)
    new_pid = st["pid"]
    assert new_pid != old_pid and st["build"] == new_build
    assert st["binary"] == str(new / "weir")
    assert st["frontend"]["build"] == new_build and st["frontend"]["pid"] not in old_tree
    assert (w.state_dir / "weir.pid").read_text().strip() == str(new_pid)
    assert all(gone(p) for p in old_tree)
    ev = w.events()
    started = [e for e in ev if e["id"] == 1340]
    done = [e for e in ev if e["id"] == 1341]
    assert len(started) == 1 and started[0]["pid"] == new_pid
    assert len(done) == 1 and done[0]["build"] == new_build and done[0]["old_pid"] == old_pid
    assert not [e for e in ev if e["id"] in (1342, 1305, 1009)], ev
    # the new generation serves every kind of request
    assert get(w, "/index.html")[0] == 200
    assert get(w, "/app/hello")[0] == 200
    assert get(w, "/n/x")[0] == 200
    st, _, body = get(w, "/hi.php")
    assert st == 200 and body.startswith(b"php "), body
    stop_new_master(w, new_pid)


def test_upgrade_sigusr2_to_binary_on_disk(make_weir, site, tmp_path):
    """SIGUSR2 upgrades to the binary the master was started from, as it is
    on disk now: here a copy that is replaced by another build meanwhile."""
    inst = copy_install(tmp_path / "inst")
    w = make_weir(conf(site), binary=str(inst / "weir"))
    old_pid = status(w)["pid"]
    new_build = patch_build(inst)        # the file on disk is now another build
    os.kill(old_pid, signal.SIGUSR2)
    wait_for(lambda: [e for e in w.events() if e["id"] == 1341], timeout=60,
             what="the upgrade to complete")
    wait_for(lambda: w.proc.poll() is not None, timeout=30, what="the old master to exit")
    st = status(w)
    assert st["pid"] != old_pid and st["build"] == new_build
    stop_new_master(w, st["pid"])


def test_new_master_that_cannot_start_is_rolled_back(make_weir, site, tmp_path):
    """A new install that passes its own verify but lacks a module an
    always-started pool needs (copied without it, its MANIFEST without its
    line): the new master cannot start; the old generation never stops."""
    bad = copy_install(tmp_path / "bad", skip_module="hello", manifest_drop="hello")
    assert subprocess.run([str(bad / "weir"), "verify"], capture_output=True).returncode == 0
    w = make_weir(conf(site))
    before = status(w)
    old_tree = set(tree(before["pid"]))
    with Traffic(w.port) as t:
        wait_for(lambda: t.count() >= 200, timeout=60, what="traffic before")
        out = upgrade(w, bad / "weir")
        n = t.count()
        wait_for(lambda: t.count() >= n + 200, timeout=60, what="traffic after")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "rolled back" in out.stderr and "hello.so" in out.stderr, out.stderr
    assert t.failed == [] and t.refused == 0, (t.failed[:5], t.refused)
    ev = w.events()
    rb = [e for e in ev if e["id"] == 1342]
    assert len(rb) == 1, ev
    assert "hello.so" in rb[0]["reason"] and "rolled back" in rb[0]["message"]
    new_pid = rb[0]["pid"]
    assert gone(new_pid)
    assert not [e for e in ev if e["id"] == 1341]
    after = status(w)
    assert after["pid"] == before["pid"] and after["upgrade"] is None
    assert after["frontend"]["pid"] == before["frontend"]["pid"]
    assert set(tree(before["pid"])) == old_tree   # nothing of the new one is left
    assert (w.state_dir / "weir.pid").read_text().strip() == str(before["pid"])
    assert get(w, "/app/hello")[0] == 200


def test_manifest_mismatch_is_refused_with_1300(make_weir, site, tmp_path):
    mm = copy_install(tmp_path / "mm")
    with open(mm / "modules" / "hello.so", "ab") as f:
        f.write(b"not what the MANIFEST says")
    w = make_weir(conf(site))
    before = status(w)
    old_tree = set(tree(before["pid"]))
    with Traffic(w.port) as t:
        wait_for(lambda: t.count() >= 100, timeout=60, what="traffic before")
        out = upgrade(w, mm / "weir")
        n = t.count()
        wait_for(lambda: t.count() >= n + 100, timeout=60, what="traffic after")
    assert out.returncode == 1 and "refused" in out.stderr, out.stdout + out.stderr
    assert "hello.so" in out.stderr
    assert t.failed == [] and t.refused == 0, (t.failed[:5], t.refused)
    ev = w.events()
    ref = [e for e in ev if e["id"] == 1300]
    assert len(ref) == 1 and ref[0]["upgrade"] == "refused"
    assert [c["path"] for c in ref[0]["components"]] == ["modules/hello.so"]
    assert not [e for e in ev if e["id"] in (1340, 1341, 1342)]
    after = status(w)
    assert after["pid"] == before["pid"] and set(tree(before["pid"])) == old_tree


def test_upgrade_api_refuses_a_second_and_bad_input(make_weir, site, tmp_path):
    w = make_weir(conf(site))
    out = upgrade(w, tmp_path / "nothing-here")
    assert out.returncode == 1 and "No such file" in out.stderr, out.stderr
    # not a weir binary: verify cannot run it
    out = upgrade(w, "/bin/true")
    assert out.returncode == 1 and "refused" in out.stderr, out.stderr
    assert status(w)["pid"] == w.proc.pid


def test_pool_protection_state_survives_the_upgrade(make_weir, site, tmp_path):
    """A pool Rapid-Fail disabled (default settings: it never served, so it
    backs off) stays disabled in the new generation for the rest of its
    back-off, with its failures, instead of starting over; the upgrade does
    not wait for it, and the other pools serve."""
    new = copy_install(tmp_path / "new")
    new_build = patch_build(new)
    w = make_weir(conf(site) + f"[pool broken]\ncommand = {APP} --exit-at-start 3\n"
                  "start_mode = always\n[site b]\nhosts = b.example\napp = / broken\n")
    def pool(st, name):
        return [p for p in st["pools"] if p["name"] == name][0]
    wait_for(lambda: pool(status(w), "broken")["state"] == "disabled", timeout=60,
             what="the broken pool to be disabled")
    before = pool(status(w), "broken")
    assert before["reason"] == "rapid-fail" and before["retry_in_s"] > 0
    assert len(before["failures"]) == 5
    out = upgrade(w, new / "weir")
    assert out.returncode == 0, out.stdout + out.stderr
    wait_for(lambda: w.proc.poll() is not None, timeout=30, what="the old master to exit")
    st = status(w)
    assert st["build"] == new_build
    after = pool(st, "broken")
    assert after["state"] == "disabled" and after["reason"] == "rapid-fail"
    assert 0 < after["retry_in_s"] <= before["retry_in_s"]
    assert [f["pid"] for f in after["failures"]] == [f["pid"] for f in before["failures"]]
    assert after["workers"] == []
    assert get(w, "/app/hello")[0] == 200
    stop_new_master(w, st["pid"])


def test_tls_tickets_resume_across_the_upgrade(make_weir, tmp_path):
    """The session ticket keys are handed over: a ticket the old generation
    issued resumes with the new one, and a TLS listener passes with no
    refused connection."""
    import ssl
    from test_tls_tickets import client, connect, make_pair
    from conftest import free_port
    new = copy_install(tmp_path / "new")
    new_build = patch_build(new)
    cert, key = make_pair(tmp_path)
    www = tmp_path / "www"
    www.mkdir()
    (www / "f.txt").write_text("hello\n")
    tls_port = free_port()
    w = make_weir(f"[site s]\nlisten = 127.0.0.1:{tls_port} tls\nhosts = localhost\n"
                  f"root = {www}\ncertificate = {cert}\ncertificate_key = {key}\n")
    sessions, ctxs = {}, {}
    for v in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        ctxs[v] = client(v)     # a session resumes only with its own context
        reused, sessions[v] = connect(ctxs[v], tls_port, None)
        assert not reused
    out = upgrade(w, new / "weir")
    assert out.returncode == 0, out.stdout + out.stderr
    wait_for(lambda: w.proc.poll() is not None, timeout=30, what="the old master to exit")
    st = status(w)
    assert st["build"] == new_build
    for v, s in sessions.items():
        reused, _ = connect(ctxs[v], tls_port, s)
        assert reused, f"{v}: the old generation's ticket did not resume"
    stop_new_master(w, st["pid"])


def test_systemd_follows_the_new_master(make_weir, site, tmp_path):
    """Under systemd (NOTIFY_SOCKET): the old master, still the main
    process, announces MAINPID=NEW at the hand-over and sends no STOPPING=1
    while it drains; the new master sends no second READY=1, and its own
    notifications (STOPPING=1 at its stop) reach the same socket."""
    from test_systemd import Notify
    n = Notify(tmp_path / "notify.sock")
    try:
        new = copy_install(tmp_path / "new")
        patch_build(new)
        w = make_weir(conf(site), start=False)
        w.start(env={"NOTIFY_SOCKET": n.path})
        n.wait("READY=1")
        out = upgrade(w, new / "weir")
        assert out.returncode == 0, out.stdout + out.stderr
        wait_for(lambda: w.proc.poll() is not None, timeout=30, what="the old master to exit")
        new_pid = status(w)["pid"]
        n.wait(f"MAINPID={new_pid}")
        lines = [ln for m in n.texts() for ln in m.split("\n")]
        assert lines.count("READY=1") == 1 and "STOPPING=1" not in lines, lines
        stop_new_master(w, new_pid)
        n.wait("STOPPING=1")
    finally:
        n.close()


def test_new_generation_whose_pool_never_gets_ready_is_rolled_back(make_weir, site, tmp_path):
    """The new master and its front end start, but an always-started pool
    never gets ready in the new generation (its program changed on disk
    meanwhile and now hangs at start; startup_time_limit = 2s is what the
    test is about): Rapid-Fail Protection disables it there, the upgrade is
    rolled back, the new master and every worker it started are stopped and
    reaped, and the old workers, started from the program as it was, serve
    on without a failed request."""
    new = copy_install(tmp_path / "new")
    patch_build(new)
    script = tmp_path / "app.sh"
    script.write_text(f"#!/bin/sh\nexec {APP}\n")
    script.chmod(0o755)
    w = make_weir(f"[pool app]\ncommand = {script}\nstart_mode = always\n"
                  "startup_time_limit = 2s\n"
                  f"[site main]\nroot = {site}\napp = /app app\n")
    before = status(w)
    old_tree = set(tree(before["pid"]))
    script.write_text(f"#!/bin/sh\nexec {APP} --start-delay 600000\n")
    with Traffic(w.port, paths=("/index.html", "/app/hello")) as t:
        out = upgrade(w, new / "weir")
        n = t.count()
        wait_for(lambda: t.count() >= n + 100, timeout=60, what="traffic after")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "pool 'app' is disabled in the new generation" in out.stderr, out.stderr
    assert t.failed == [] and t.refused == 0, (t.failed[:5], t.refused)
    rb = [e for e in w.events() if e["id"] == 1342]
    assert len(rb) == 1 and "rapid-fail" in rb[0]["reason"], rb
    assert gone(rb[0]["pid"])
    after = status(w)
    assert after["pid"] == before["pid"] and after["upgrade"] is None
    wait_for(lambda: set(tree(before["pid"])) == old_tree, timeout=30,
             what="nothing of the new generation left")


def test_new_build_whose_front_end_exits_is_rolled_back(make_weir, site, tmp_path):
    """A new build that passes its own verify but whose front end exits at
    start (its frontend_main returns 1 at once): the new master's front end
    is not restarted, the upgrade is rolled back with event 1342 saying the
    front end exited, the new master and the workers it started are reaped,
    and the old generation serves every request meanwhile."""
    bad = copy_install(tmp_path / "bad")
    bad_build = break_frontend(bad)
    assert subprocess.run([str(bad / "weir"), "verify"], capture_output=True).returncode == 0
    w = make_weir(conf(site))
    before = status(w)
    assert before["build"] != bad_build
    old_tree = set(tree(before["pid"]))
    with Traffic(w.port) as t:
        wait_for(lambda: t.count() >= 200, timeout=60, what="traffic before")
        t_up = time.monotonic()
        out = upgrade(w, bad / "weir")
        t_done = time.monotonic()
        n = t.count()
        wait_for(lambda: t.count() >= n + 200, timeout=60, what="traffic after")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "rolled back" in out.stderr and "front end" in out.stderr, out.stderr
    print(f"\nrequests: {len(t.samples)} ok, {len(t.failed)} failed, {t.refused} refused; "
          f"rollback took {(t_done - t_up) * 1000:.0f} ms")
    assert t.failed == [] and t.refused == 0, (t.failed[:5], t.refused)
    ev = w.events()
    rb = [e for e in ev if e["id"] == 1342]
    assert len(rb) == 1, ev
    assert re.search(r"its front end \(pid \d+\) exited \(exit status 1\)", rb[0]["reason"]), rb
    assert "rolled back" in rb[0]["message"] and rb[0]["binary"] == str(bad / "weir")
    assert gone(rb[0]["pid"])
    assert not [e for e in ev if e["id"] == 1341]
    after = status(w)
    assert after["pid"] == before["pid"] and after["upgrade"] is None
    assert after["build"] == before["build"] != bad_build
    assert after["frontend"]["pid"] == before["frontend"]["pid"]
    assert (w.state_dir / "weir.pid").read_text().strip() == str(before["pid"])
    wait_for(lambda: set(tree(before["pid"])) == old_tree, timeout=30,
             what="nothing of the new generation left")
    for path in ("/index.html", "/app/hello", "/n/x"):
        assert get(w, path)[0] == 200
