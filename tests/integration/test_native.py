"""Native pools: weir-host with C modules, started and checked by the master.

The seed of weir's story replayed: an update leaves a module built for
another ABI next to weir-host.  IIS crashed in a loop and disabled the pool
with a bare 503; weir must refuse to start that pool before any worker runs
(event 1300 naming the file, expected and found), keep everything else
serving, and come back with `weir pool enable` once the file is right.
"""
import os
import shutil
import signal
import subprocess

import pytest

from conftest import SRC, WEIR, module_abi, module_h_for_abi, wait_for
from test_pools import APP, get, pid_alive

BUILD = os.path.dirname(WEIR)
CRASH = os.path.join(BUILD, "tests", "modules", "crash.so")


@pytest.fixture
def comp(tmp_path):
    """A private copy of the installed components: weir, weir-host, the
    modules and the MANIFEST, so a test can break files without touching
    the build tree."""
    if not os.path.exists(os.path.join(BUILD, "weir-host")):
        pytest.skip("weir-host is not built")
    d = tmp_path / "comp"
    d.mkdir()
    for f in ("weir", "weir-host", "MANIFEST"):
        shutil.copy2(os.path.join(BUILD, f), d / f)
    shutil.copytree(os.path.join(BUILD, "modules"), d / "modules",
                    ignore=shutil.ignore_patterns("*.p", "*.c", "*.o", "*.txt", "meson*"))
    for p in (tmp_path, d, d / "modules"):
        os.chmod(p, 0o755)
    return d


ABI = module_abi()
NEXT = ABI + 1      # what a module built against a bumped module.h says


def bad_hello(tmp_path, abi=NEXT):
    """hello.so built from its source against a copy of module.h whose ABI is bumped."""
    inc = tmp_path / "inc" / "weir"
    inc.mkdir(parents=True)
    (inc / "module.h").write_text(module_h_for_abi(abi))
    out = tmp_path / "hello-bumped.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-I", str(tmp_path / "inc"), "-o", str(out),
                    os.path.join(SRC, "modules", "hello.c")], check=True)
    return out


def conf(site):
    return ("[pool native]\nkind = native\nmodules = hello\nhello.greeting = Hallo\n"
                        f"[pool py]\ncommand = {APP}\n"
            f"[site main]\nroot = {site}\napp = /n native\napp = /py py\n")


def test_native_pool_serves(make_weir, comp, site):
    w = make_weir(conf(site), binary=str(comp / "weir"))
    st, h, body = get(w, "/n/anything")
    assert st == 200 and b"Hallo" in body, body
    # health pings go to weir-host's own /.weir/ping
    assert "ready in" in w.log()


def test_seed_abi_mismatch_is_held_with_1300(make_weir, comp, site, tmp_path):
    good = comp / "modules" / "hello.so"
    saved = tmp_path / "hello-good.so"
    shutil.copy2(good, saved)
    # weir run would refuse the bad module (test_poison.py): it comes with an
    # update after the start, before the pool's first worker (on demand)
    w = make_weir(conf(site), binary=str(comp / "weir"))
    shutil.copy2(bad_hello(tmp_path), good)
    # weir verify names it
    r = subprocess.run([str(comp / "weir"), "verify"], capture_output=True, text=True)
    assert r.returncode == 1
    line = [ln for ln in r.stdout.splitlines() if "modules/hello.so" in ln][0]
    assert f"ABI {ABI}" in line and f"ABI {NEXT}" in line, r.stdout
    # the master holds the pool: 1300 naming the file, no worker, no crash loop
    assert get(w, "/n/x")[0] == 503
    ev = wait_for(lambda: [e for e in w.events() if e["id"] == 1300], what="1300")[0]
    assert ev["pool"] == "native"
    files = ev["files"]
    assert any("hello.so" in (f.get("file") or "") and str(NEXT) in (f.get("found") or "")
               and str(ABI) in (f.get("expected") or "") for f in files), files
    st, h, body = get(w, "/n/x")
    assert st == 503 and "retry-after" in h
    # the other pool and the static site are fine
    assert get(w, "/py/hello")[0] == 200
    assert get(w, "/hello.txt")[0] == 200
    assert [e for e in w.events() if e["id"] in (1009, 1002)] == []
    assert "weir-host" not in subprocess.run(["pgrep", "-a", "-f", str(comp)],
                                             capture_output=True, text=True).stdout
    # fix the file, enable: serving again
    shutil.copy2(saved, good)
    r = subprocess.run([str(comp / "weir"), "pool", "enable", "native", "-s",
                        str(w.state_dir / "admin.sock")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    st, h, body = get(w, "/n/x", timeout=30)
    assert st == 200 and b"Hallo" in body


def test_weir_host_refuses_mismatch_itself_exit_78(make_weir, comp, site, tmp_path):
    """With an explicit command the master does no preflight; weir-host
    checks the module's ABI before running any of its code and exits 78, and
    the pool is disabled at once with that line as the reason (one 1009, no
    crash loop)."""
    mod = tmp_path / "mods"
    mod.mkdir()
    shutil.copy2(bad_hello(tmp_path), mod / "hello.so")
    os.chmod(mod, 0o755)
    w = make_weir(f"[pool native]\nkind = native\nmodules = hello\n"
                  f"command = {comp}/weir-host --pool native\n"
                  f"    --module-dir {mod}\n    --module hello\n"
                  f"[site main]\nroot = {site}\napp = /n native\n", binary=str(comp / "weir"))
    st, h, body = get(w, "/n/x", timeout=30)
    assert st == 503
    e1002 = wait_for(lambda: [e for e in w.events() if e["id"] == 1002], what="1002")[0]
    assert (f"module hello: built for ABI {NEXT}, weir-host has ABI {ABI}"
            in e1002["message"]), e1002
    assert len([e for e in w.events() if e["id"] == 1009]) == 1


def test_crashing_module_1009_and_retry_on_replacement(make_weir, comp, site, tmp_path):
    if not os.path.exists(CRASH):
        pytest.skip("test modules are not built")
    # the pool runs under its own uid: a directory it may write its mark in
    marks = tmp_path / "marks"
    marks.mkdir()
    os.chmod(marks, 0o1777)
    once = marks / "crashed"
    w = make_weir(f"[pool native]\nkind = native\nmodules = {CRASH}, hello\n"
                  f"crash.once = {once}\n"
                  f"[site main]\nroot = {site}\napp = /n native\n", binary=str(comp / "weir"))
    assert get(w, "/n/hello")[0] == 200
    st, h, body = get(w, "/n/crash", timeout=30)
    assert st == 200 and body == b"crashed once\n", "retried on the replacement"
    ev = wait_for(lambda: [e for e in w.events() if e["id"] == 1009], what="1009")[0]
    assert ev["signal"] == 11 and ev["signal_name"] == "Segmentation fault"
    assert any("about to crash on /n/crash" in ln for ln in ev["stderr_tail"]), ev
    assert any(f["target"] == "/n/crash" for f in ev["inflight"]), ev
