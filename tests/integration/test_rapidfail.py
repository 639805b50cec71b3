"""Rapid-Fail Protection counts crash loops, not bad luck; deploys report
their outcome.

With the default pool settings: ready workers killed from outside (what the
OOM killer does) are replaced at once and never disable the pool; a worker
that dies at start still trips it (5 x 1009, 1002, 503 with Retry-After,
then 1301 after the back-off); a pool whose workers die every few requests
serves on and is shown degraded; a syntax error deployed by `weir pool
recycle` or `weir reload` is reported by the command, rolled back, and the
old workers serve on.  Workers are signalled only by the pids this weir's
status gives.  Every wait polls a condition with a deadline.
"""
import json
import os
import shutil
import signal
import subprocess
import time

import conftest
from conftest import SRC, WEIR, wait_for
from test_pools import APP, Load, events, get, pool, sitesec, wait_event

PY = "/usr/bin/python3"
PHP_CGI = "/usr/bin/php-cgi"


def weir_cmd(w, *args, timeout=120):
    return subprocess.run([WEIR, *args, "-c", str(w.conf_path)], capture_output=True,
                          text=True, timeout=timeout)


def status(w):
    r = weir_cmd(w, "status", "--json", timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def pool_status(w, name):
    return [p for p in status(w)["pools"] if p["name"] == name][0]


def ready_workers(w, name):
    return [x for x in pool_status(w, name)["workers"] if x["state"] == "ready"]


def kill_ready_workers(w, name, load, seconds=10.0, every=0.5):
    """SIGKILL a ready worker of this weir's pool that has served (what the
    OOM killer hits is a process that runs) every `every` seconds, the
    busiest first; the pids come from this weir's status.  Returns the pids
    killed."""
    killed = []
    deadline = time.monotonic() + seconds
    next_kill = time.monotonic()
    while time.monotonic() < deadline:
        if time.monotonic() < next_kill:
            time.sleep(0.02)
            continue
        ready = [x for x in ready_workers(w, name)
                 if x["pid"] not in killed and x["requests"] > 0]
        if not ready:
            time.sleep(0.05)    # polling the status with a deadline
            continue
        victim = max(ready, key=lambda x: x["requests"])
        try:
            os.kill(victim["pid"], signal.SIGKILL)
            killed.append(victim["pid"])
        except ProcessLookupError:
            pass
        next_kill = time.monotonic() + every
    return killed


def chaos(w, name, path, expect, load=None):
    """A ready worker killed every half second under load (conftest's Load
    of path over HTTP/1.1, or `load`): no client sees a failure, every kill
    is a 1009 that does not count, the pool is never disabled."""
    wait_for(lambda: len(ready_workers(w, name)) == 2, timeout=30, what="two ready workers")
    if load is None:
        load = conftest.Load(w.port, path, conns=4, expect=expect)
    with load:
        wait_for(lambda: load.ok > 50, timeout=30, what="load running")
        killed = kill_ready_workers(w, name, load)
        n = load.ok
        wait_for(lambda: load.ok > n + 50, timeout=30, what="serving after the kills")
    assert len(killed) >= 10, killed
    assert load.failed == [], load.failed[:5]
    e1009 = wait_for(lambda: [e for e in events(w, 1009) if e["pid"] in killed]
                     if len([e for e in events(w, 1009) if e["pid"] in killed]) == len(killed)
                     else None, timeout=30, what="a 1009 for every kill")
    for e in e1009:
        assert e["signal"] == 9 and "signal 9 (SIGKILL)" in e["message"], e
        assert e["counted"] is False, e
        assert "does not count" in e["message"], e
    assert events(w, 1002) == []
    p = pool_status(w, name)
    assert p["state"] == "started"
    return load, killed


def test_gunicorn_ready_worker_killed_every_half_second(make_weir):
    gunicorn = f"{PY} -m gunicorn -w 1 --chdir {SRC}/tests/apps wsgi_app:app"
    w = make_weir(pool("g", gunicorn, processes=2, start_mode="always") +
                  sitesec(apps=(("/", "g"),)))
    load, killed = chaos(w, "g", "/x", lambda b: b.startswith(b"hello from"))
    assert load.ok > 200


def test_php_cgi_ready_worker_killed_every_half_second(make_weir, tmp_path):
    www = tmp_path / "php"
    www.mkdir()
    conftest.traversable(www)
    (www / "i.php").write_text("<?php echo 'php ', getmypid();\n")
    w = make_weir(f"[pool php]\nkind = fastcgi\ncommand = {PHP_CGI}\nprocesses = 2\n"
                  "start_mode = always\n"
                  f"[site main]\nroot = {www}\nscript = .php php\n")
    load, killed = chaos(w, "php", "/i.php", lambda b: b.startswith(b"php "))
    assert load.ok > 200


def test_exit_at_start_backs_off_then_503_and_1301(make_weir, site):
    """Defaults but a short back-off (the test is about the back-off)."""
    w = make_weir(pool("bad", f"{APP} --exit-at-start 1", rapid_fail_backoff="3s") +
                  pool("good") +
                  sitesec("main", root=site, apps=(("/bad", "bad"), ("/good", "good"))))
    with conftest.Load(w.port, "/good/hello", conns=2) as good, \
            conftest.Load(w.port, "/hello.txt", conns=2) as static:
        st, h, body = get(w, "/bad/x", timeout=60)
        assert st == 503 and int(h["retry-after"]) > 0
        e1002 = wait_event(w, 1002)
        assert len(events(w, 1009)) == 5
        assert all(e["counted"] is True and e["exit"] == "exit status 1"
                   for e in events(w, 1009))
        assert e1002[0]["action"] == "auto"
        st, h, body = get(w, "/bad/x")
        assert st == 503 and 1 <= int(h["retry-after"]) <= 3
        p = pool_status(w, "bad")
        assert p["state"] == "disabled" and p["last_failure"]["how"] == "exit status 1"
        assert "configuration error" in p["last_failure"]["output"]
        e1301 = wait_event(w, 1301, timeout=20)[0]
        assert e1301["backoff_s"] == 3
        assert pool_status(w, "bad")["state"] != "disabled" or len(events(w, 1002)) == 2
    assert good.failed == [] and good.ok > 0
    assert static.failed == [] and static.ok > 0
    assert len(events(w, 1002)) <= 2


def test_worker_dying_every_tenth_request_is_degraded_and_serves(make_weir):
    w = make_weir(pool("app", f"{APP} --die-every 10", processes=2) + sitesec())
    with Load(w.port, "/app/hello", conns=4) as load:
        wait_for(lambda: len(events(w, 1014)) >= 1, timeout=60, what="event 1014")
        wait_for(lambda: len([e for e in events(w, 1009) if not e["counted"]]) >= 8,
                 timeout=60, what="more deaths")
    assert load.failed == [], load.failed[:5]
    assert load.ok > 50
    e = events(w, 1014)[0]
    assert e["deaths"] >= 5 and e["deaths_per_minute"] > 0 and e["requests_per_death"] > 0
    assert events(w, 1002) == []
    p = pool_status(w, "app")
    assert p["state"] == "started" and p["degraded"] is True
    assert "die after serving" in p["degraded_reason"]
    text = weir_cmd(w, "status").stdout
    assert "degraded" in text
    r = subprocess.run(["curl", "-s", "--unix-socket", str(w.state_dir / "admin.sock"),
                        "http://weir/metrics"], capture_output=True, text=True, timeout=30)
    assert 'weir_pool_degraded{pool="app"} 1' in r.stdout
    served = [ln for ln in r.stdout.splitlines()
              if ln.startswith('weir_worker_served_deaths_total{pool="app"}')]
    assert served and int(served[0].split()[1]) >= 5


def test_degraded_clears_after_a_quiet_window(make_weir):
    """A short rapid_fail window (the test is about the window): 1014 while
    workers die after serving, 1015 once a whole window passed without."""
    w = make_weir(pool("app", f"{APP} --die-every 3", processes=2, rapid_fail="5 in 4s") +
                  sitesec())
    with Load(w.port, "/app/hello", conns=2) as load:
        wait_for(lambda: events(w, 1014), timeout=60, what="event 1014")
    assert load.failed == [], load.failed[:5]
    assert pool_status(w, "app")["degraded"] is True
    e = wait_for(lambda: events(w, 1015), timeout=30, what="event 1015")[0]
    assert e["window_ms"] == 4000
    p = pool_status(w, "app")
    assert p["degraded"] is False and p["degraded_reason"] is None
    assert get(w, "/app/hello")[0] == 200


def test_reload_with_new_settings_tries_a_disabled_pool_again(make_weir):
    w = make_weir(pool("app", f"{APP} --exit-at-start 1") + sitesec())
    assert get(w, "/app/x", timeout=60)[0] == 503
    wait_event(w, 1002)
    assert pool_status(w, "app")["state"] == "disabled"
    w.conf_path.write_text(w.conf_path.read_text().replace(" --exit-at-start 1", ""))
    r = weir_cmd(w, "reload")
    assert r.returncode == 0, r.stdout + r.stderr
    st, h, body = get(w, "/app/hello", timeout=30)
    assert st == 200 and body.startswith(b"hello from")
    p = pool_status(w, "app")
    assert p["state"] == "started" and p["reason"] is None and p["failures"] == []
    assert not [e for e in events(w, 1308)], "no `weir pool enable` was needed"


# --- deploys ---------------------------------------------------------------------

def broken_app_dir(tmp_path):
    """A copy of the gunicorn test app the test can break and fix."""
    d = tmp_path / "deploy"
    d.mkdir()
    conftest.traversable(d)
    shutil.copy(f"{SRC}/tests/apps/wsgi_app.py", d / "wsgi_app.py")
    return d


def gunicorn_in(d):
    return f"{PY} -m gunicorn -w 1 --chdir {d} wsgi_app:app"


def break_app(d):
    good = (d / "wsgi_app.py").read_text()
    (d / "wsgi_app.py").write_text("def broken(\n" + good)
    return good


def two_serving(w, load):
    """Both workers answered requests (so gunicorn loaded the app before the
    test breaks it)."""
    wait_for(lambda: load.ok > 50, what="load")
    wait_for(lambda: len([x for x in ready_workers(w, "api") if x["requests"] > 0]) == 2,
             timeout=30, what="both workers serving")
    return sorted(x["pid"] for x in ready_workers(w, "api"))


def check_failed_deploy(w, r, load):
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "SyntaxError" in out and "new worker failed" in out, out
    assert "rolled back, old workers serving" in out, out
    lf = pool_status(w, "api")["last_failure"]
    assert "SyntaxError" in lf["output"], lf
    assert "exit status 3" in lf["how"], lf
    assert "SyntaxError" in weir_cmd(w, "status").stdout
    n = load.ok
    wait_for(lambda: load.ok > n + 50, timeout=30, what="old workers serving on")
    assert load.failed == [], load.failed[:5]
    assert events(w, 1002) == []
    assert len(events(w, 1302)) >= 1


def test_syntax_error_by_recycle_is_reported_and_rolled_back(make_weir, tmp_path):
    d = broken_app_dir(tmp_path)
    w = make_weir(pool("api", gunicorn_in(d), processes=2, start_mode="always") +
                  sitesec(apps=(("/", "api"),)))
    wait_for(lambda: len(ready_workers(w, "api")) == 2, timeout=30, what="two workers")
    with Load(w.port, "/x", conns=4) as load:
        before = two_serving(w, load)
        good = break_app(d)
        r = weir_cmd(w, "pool", "recycle", "api")
        check_failed_deploy(w, r, load)
        assert sorted(x["pid"] for x in ready_workers(w, "api")) == before
        # the fix goes in with the next recycle, no `weir pool enable`
        (d / "wsgi_app.py").write_text(good)
        r = weir_cmd(w, "pool", "recycle", "api")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "2 new workers ready" in r.stdout, r.stdout
    assert load.failed == [], load.failed[:5]
    after = sorted(x["pid"] for x in ready_workers(w, "api"))
    assert set(after).isdisjoint(before)


def test_syntax_error_by_reload_is_reported_and_rolled_back(make_weir, tmp_path):
    d = broken_app_dir(tmp_path)
    w = make_weir(pool("api", gunicorn_in(d), processes=2, start_mode="always") +
                  sitesec(apps=(("/", "api"),)))
    wait_for(lambda: len(ready_workers(w, "api")) == 2, timeout=30, what="two workers")
    conf = w.conf_path.read_text()
    with Load(w.port, "/x", conns=4) as load:
        before = two_serving(w, load)
        good = break_app(d)
        # a changed setting makes the reload a deploy of the pool
        w.conf_path.write_text(conf.replace("start_mode = always", "start_mode = always\nenv = DEPLOY=2"))
        r = weir_cmd(w, "reload")
        check_failed_deploy(w, r, load)
        assert sorted(x["pid"] for x in ready_workers(w, "api")) == before
        (d / "wsgi_app.py").write_text(good)
        w.conf_path.write_text(conf.replace("start_mode = always", "start_mode = always\nenv = DEPLOY=3"))
        r = weir_cmd(w, "reload")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "pool api: 2 new workers ready" in r.stdout, r.stdout
    assert load.failed == [], load.failed[:5]
    assert set(x["pid"] for x in ready_workers(w, "api")).isdisjoint(before)
