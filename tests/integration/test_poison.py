"""Poison requests: a request whose worker died while handling it is retried
once, alone on a worker; when that worker dies too, the client gets 502,
event 1016 names the request, and it is never tried on a third worker.
Requests to other paths keep being served throughout, and the pool is not
disabled.  With the default pool settings (no rapid_fail = off).

Also: a non-idempotent request whose worker dies gets 502 at once (no
retry), and `weir check` / `weir run` / a reload refuse a native pool whose
module is missing or fails weir verify's checks.
"""
import http.client
import json
import os
import shutil
import socket
import subprocess

import pytest

from conftest import Load, SRC, WEIR, cli, read_response, wait_for

PY = "/usr/bin/python3"
APP = f"{PY} {SRC}/tests/apps/app.py"
PHP = "/usr/bin/php-cgi"
BUILD = os.path.dirname(os.path.abspath(WEIR))


def get(w, path, method="GET", body=None, timeout=60):
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=timeout)
    try:
        c.request(method, path, body=body)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def events(w, eid):
    return [e for e in w.events() if e["id"] == eid]


def pool_status(w, name):
    j = json.loads(cli(w, "status", "--json").stdout)
    return next(p for p in j["pools"] if p["name"] == name)


def metric(w, name, pool):
    out = subprocess.run(["curl", "-s", "--unix-socket", str(w.state_dir / "admin.sock"),
                          "http://weir/metrics"], capture_output=True, text=True,
                         timeout=30).stdout
    prefix = f'{name}{{pool="{pool}"}} '
    return next(int(ln[len(prefix):]) for ln in out.splitlines() if ln.startswith(prefix))


def check_poisoned(w, pool, target, load, ready_path):
    """The request to target killed two workers and got 502; load (other
    paths) saw no failure; the pool serves on."""
    ok_before = load.ok
    st, body = get(w, target)
    assert st == 502, (st, body)
    e1016 = wait_for(lambda: events(w, 1016), what="event 1016")
    deaths = wait_for(lambda: len(events(w, 1009)) >= 2 and events(w, 1009),
                      what="two 1009 events")
    ev = e1016[0]
    assert ev["level"] == "warning" and ev["pool"] == pool
    assert ev["method"] == "GET" and ev["target"] == target
    assert len(ev["pids"]) == 2 and ev["pids"][0] != ev["pids"][1]
    assert sorted(ev["pids"]) == sorted(e["pid"] for e in deaths[:2])
    assert ev["pids"][0] != 0 and ev["pids"][1] != 0
    assert len(ev["workers"]) == 2
    assert target in ev["message"] and str(ev["pids"][1]) in ev["message"]
    # each death lists the request in flight; the second says it was the retry
    first = next(e for e in deaths if e["pid"] == ev["pids"][0])
    second = next(e for e in deaths if e["pid"] == ev["pids"][1])
    assert any(f["target"] == target and not f.get("retry") for f in first["inflight"]), first
    assert any(f["target"] == target and f.get("retry") for f in second["inflight"]), second
    # the pool keeps serving: replacements are ready, the load goes on
    wait_for(lambda: pool_status(w, pool)["state"] == "started" and
             len([x for x in pool_status(w, pool)["workers"] if x["state"] == "ready"]) == 2,
             timeout=30, what="two ready workers again")
    wait_for(lambda: load.ok > ok_before + 50, timeout=30, what="load served on")
    assert get(w, ready_path)[0] == 200
    wait_for(lambda: "Poison_Request" in w.httperr_log(), what="httperr line")
    line = next(ln for ln in w.httperr_log().splitlines() if "Poison_Request" in ln)
    assert " 502 " in line and target in line
    assert metric(w, "weir_pool_poison_requests_total", pool) == 1
    # `weir events` (text): how each died, what it had in flight, its output
    out = cli(w, "events", "--id", "1009").stdout
    assert out.count("signal 9 (SIGKILL)") == 2, out
    assert f"in flight: GET {target} (its retry)" in out, out
    if pool == "app":   # php-cgi's own output goes over FastCGI, not to its stderr
        assert "last output:" in out and "killing myself" in out, out
    return deaths


def test_poison_request_kills_two_workers_then_502(make_weir):
    w = make_weir(f"[pool app]\ncommand = {APP}\nprocesses = 2\n\n"
                  "[site main]\napp = /app app\n")
    assert get(w, "/app/hello")[0] == 200   # pools start on demand
    wait_for(lambda: len([x for x in pool_status(w, "app")["workers"]
                          if x["state"] == "ready"]) == 2, what="two ready workers")
    # Slow requests are surely in flight on both workers when they die: their
    # retries must not be taken down by the poison request's retry.
    with Load(w.port, "/app/hello", conns=2,
              expect=lambda b: b.startswith(b"hello from")) as load, \
            Load(w.port, "/app/slow?ms=100", conns=4,
                 expect=lambda b: b.startswith(b"slow ")) as slow:
        wait_for(lambda: load.ok > 50 and slow.ok > 8, what="load running")
        check_poisoned(w, "app", "/app/kill", load, "/app/hello")
    assert load.failed == [] and slow.failed == [], (load.failed[:5], slow.failed[:5])
    assert load.ok > 100 and slow.ok > 10
    assert len(events(w, 1009)) == 2, "never tried on a third worker"
    assert events(w, 1002) == [] and events(w, 1301) == []
    assert pool_status(w, "app")["state"] == "started"


PHP_SCRIPTS = {
    "kill.php": "<?php error_log('killing myself'); posix_kill(getmypid(), 9); echo 'alive';",
    "ok.php": "<?php echo 'ok ', getmypid();",
}


@pytest.mark.skipif(not os.path.exists(PHP), reason="php-cgi not installed")
def test_poison_request_fastcgi(make_weir, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    for name, text in PHP_SCRIPTS.items():
        (root / name).write_text(text)
    for d in (tmp_path, root):
        os.chmod(d, 0o755)
    w = make_weir(f"[pool php]\nkind = fastcgi\ncommand = {PHP}\nprocesses = 2\n\n"
                  f"[site main]\nroot = {root}\nscript = .php php\n")
    assert get(w, "/ok.php")[0] == 200
    wait_for(lambda: len([x for x in pool_status(w, "php")["workers"]
                          if x["state"] == "ready"]) == 2, what="two ready workers")
    with Load(w.port, "/ok.php", conns=3, expect=lambda b: b.startswith(b"ok ")) as load:
        wait_for(lambda: load.ok > 50, what="load running")
        check_poisoned(w, "php", "/kill.php", load, "/ok.php")
    assert load.failed == [], load.failed[:5]
    assert len(events(w, 1009)) == 2, "never tried on a third worker"
    assert events(w, 1002) == []
    assert pool_status(w, "php")["state"] == "started"


def test_non_idempotent_request_is_not_retried(make_weir):
    w = make_weir(f"[pool app]\ncommand = {APP}\nprocesses = 2\n\n"
                  "[site main]\napp = /app app\n")
    assert get(w, "/app/hello")[0] == 200
    s = socket.create_connection(("127.0.0.1", w.port), timeout=30)
    s.sendall(b"POST /app/exit?code=3 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
    st, h, body = read_response(s)
    s.close()
    assert st == 502
    ev = wait_for(lambda: events(w, 1009), what="1009")
    assert any(f["target"] == "/app/exit?code=3" and f["method"] == "POST" and
               not f.get("retry") for f in ev[0]["inflight"]), ev
    out = cli(w, "events", "--id", "1009").stdout
    assert "\n" + " " * 25 + "exit status 3\n" in out, out
    assert "in flight: POST /app/exit?code=3\n" in out, out
    assert "exiting with 3 on request" in out
    wait_for(lambda: "Connection_Abandoned_By_AppPool" in w.httperr_log(), what="httperr line")
    # one worker died, the request was not tried on another: no poison event
    wait_for(lambda: len([x for x in pool_status(w, "app")["workers"]
                          if x["state"] == "ready"]) == 2, what="replacement ready")
    assert len(events(w, 1009)) == 1 and events(w, 1016) == []
    assert "Poison_Request" not in w.httperr_log()
    assert get(w, "/app/hello")[0] == 200


# --- native modules that cannot load are configuration errors -------------------------


def native_conf(modules):
    return (f"[pool n]\nkind = native\nmodules = {modules}\n\n"
            "[site main]\napp = /n n\n")


def bad_abi_module(tmp_path):
    """hello.so built against a module.h whose ABI is bumped (fails weir verify)."""
    import re
    inc = tmp_path / "inc" / "weir"
    inc.mkdir(parents=True)
    text = open(os.path.join(SRC, "include", "weir", "module.h")).read()
    text = re.sub(r"#define WEIR_MODULE_ABI\s+\d+", "#define WEIR_MODULE_ABI 99", text)
    (inc / "module.h").write_text(text)
    out = tmp_path / "mods" / "hello.so"
    out.parent.mkdir()
    subprocess.run(["cc", "-shared", "-fPIC", "-I", str(tmp_path / "inc"), "-o", str(out),
                    os.path.join(SRC, "modules", "hello.c")], check=True)
    for d in (tmp_path, out.parent):
        os.chmod(d, 0o755)
    return out


@pytest.fixture
def native_built():
    if not os.path.exists(os.path.join(BUILD, "weir-host")):
        pytest.fail("weir-host is not built beside weir")


def test_check_and_run_refuse_missing_or_bad_module(make_weir, tmp_path, native_built):
    bad = bad_abi_module(tmp_path)
    cases = [("greet", "module 'greet': ", "greet.so: missing (No such file or directory)"),
             (str(bad), "module 'hello': ", "ABI")]
    for modules, who, what in cases:
        w = make_weir(native_conf(modules), start=False)
        # the pool's section starts on the line after the [server] ones
        line = w.conf_path.read_text().splitlines().index("[pool n]") + 1
        r = subprocess.run([WEIR, "check", "-c", str(w.conf_path)], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 1, r
        err = [ln for ln in r.stderr.splitlines() if "[pool n]" in ln]
        assert len(err) == 1, r.stderr
        assert err[0].startswith(f"{w.conf_path}:{line}: [pool n] {who}"), err
        assert what in err[0], err
        r = subprocess.run([WEIR, "run", "-c", str(w.conf_path)], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 78, r
        assert err[0] in r.stderr and "not started" in r.stderr
        assert not (w.log_dir / "events.jsonl").exists()
    # the good module passes
    w = make_weir(native_conf("hello"), start=False)
    r = subprocess.run([WEIR, "check", "-c", str(w.conf_path)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "ok" in r.stdout, r


def test_reload_with_missing_module_is_refused(make_weir, native_built):
    w = make_weir(native_conf("hello"))
    assert get(w, "/n/x")[0] == 200
    text = w.conf_path.read_text()
    w.conf_path.write_text(text.replace("modules = hello", "modules = hello, greet"))
    r = cli(w, "reload")
    assert r.returncode == 1 and "module 'greet'" in r.stderr, r
    ev = wait_for(lambda: events(w, 1304), what="1304")[0]
    assert any("[pool n] module 'greet': " in x for x in ev["errors"]), ev
    # the old configuration serves on, with no 1300 and no disabled pool
    assert get(w, "/n/x")[0] == 200
    assert events(w, 1300) == [] and events(w, 1303) == []
    assert pool_status(w, "n")["state"] == "started"
