"""The operator's interface: admin API, `weir` CLI, event queries,
metrics, reload and stop, against a running server with real pools."""
import json
import os
import re
import select
import signal
import subprocess
import time

import pytest

from conftest import SRC, WEIR, Reloads, cli, free_port, raw, wait_for
from test_pools import APP, Load, get, pid_alive

CURL = "/usr/bin/curl"


def api(w, path, method="GET", headers=()):
    cmd = [CURL, "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method,
           "--unix-socket", str(w.state_dir / "admin.sock"), f"http://weir{path}"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    body, _, code = out.rpartition("\n")
    return int(code), body


def conf(extra_pool=""):
    return (f"[pool app]\ncommand = {APP}\nping_path = /healthz\n"
            f"{extra_pool}\n"
            f"[pool other]\ncommand = {APP}\n\n"
            "[site main]\napp = /app app\napp = /other other\n")


@pytest.fixture
def w(make_weir):
    w = make_weir(conf())
    assert get(w, "/app/hello")[0] == 200
    return w


def test_status_cli_and_api(w):
    pid = int(get(w, "/app/pid")[2])
    r = cli(w, "status")
    assert r.returncode == 0, r.stderr
    assert "POOL" in r.stdout and "app" in r.stdout and "started" in r.stdout
    assert f"pid {pid}" in r.stdout
    r = cli(w, "status", "--json")
    j = json.loads(r.stdout)
    assert j["version"] and j["generation"] == 1 and j["frontend"]["threads"] == 1
    pools = {p["name"]: p for p in j["pools"]}
    app = pools["app"]
    assert app["state"] == "started" and app["kind"] == "http"
    assert app["queue"] == 0
    assert [x["pid"] for x in app["workers"]] == [pid]
    assert app["workers"][0]["state"] == "ready" and app["workers"][0]["rss"] > 0
    assert pools["other"]["workers"] == []  # on-demand, not started yet
    code, body = api(w, "/pools/app")
    assert code == 200 and json.loads(body)["name"] == "app"
    code, body = api(w, "/pools")
    assert code == 200 and {p["name"] for p in json.loads(body)} == {"app", "other"}
    code, body = api(w, "/pools/nope")
    assert code == 404 and json.loads(body)["error"] == "no pool 'nope'"
    code, body = api(w, "/status", method="DELETE")
    assert code == 405 and "error" in json.loads(body)
    code, body = api(w, "/nothing")
    assert code == 404


def test_recycle_replaces_worker_and_logs_1079(w):
    pid = int(get(w, "/app/pid")[2])
    r = cli(w, "pool", "recycle", "app")
    assert r.returncode == 0 and "recycling 1 worker" in r.stdout, r
    wait_for(lambda: int(get(w, "/app/pid")[2]) != pid, what="a new worker")
    wait_for(lambda: not pid_alive(pid), what="old worker gone")
    ev = [e for e in w.events() if e["id"] == 1079]
    assert len(ev) == 1 and ev[0]["pool"] == "app"


def test_stop_start_enable(w):
    r = cli(w, "pool", "stop", "app")
    assert r.returncode == 0, r.stderr
    st, h, body = get(w, "/app/hello")
    assert st == 503 and "retry-after" in h
    wait_for(lambda: "Disabled" in w.httperr_log(), what="httperr Disabled")
    wait_for(lambda: json.loads(cli(w, "status", "--json").stdout)["pools"][0]["state"]
             == "stopped", what="stopped")
    r = cli(w, "pool", "start", "app")
    assert r.returncode == 0
    assert get(w, "/app/hello")[0] == 200
    ids = [e["id"] for e in w.events()]
    assert 1307 in ids and 1306 in ids
    # enable on a pool that is not disabled: fine, says so
    r = cli(w, "pool", "enable", "app")
    assert r.returncode == 0 and "not disabled" in r.stdout


def test_enable_after_rapid_fail(make_weir, tmp_path):
    flag = tmp_path / "broken"
    flag.write_text("1")
    # a command that fails while the flag file exists
    script = tmp_path / "maybe.sh"
    script.write_text(f"#!/bin/sh\n[ -e {flag} ] && exit 1\nexec {APP}\n")
    script.chmod(0o755)
    w = make_weir(f"[pool app]\ncommand = {script}\nrapid_fail = 2 in 1m\n"
                  "[site main]\napp = /app app\n")
    assert get(w, "/app/x", timeout=30)[0] == 503
    wait_for(lambda: any(e["id"] == 1002 for e in w.events()), what="1002")
    j = json.loads(cli(w, "pool", "show", "app", "--json").stdout)
    assert j["state"] == "disabled" and j["reason"] == "rapid-fail"
    assert len(j["failures"]) == 2 and "exit status 1" in j["failures"][0]["reason"]
    flag.unlink()
    r = cli(w, "pool", "enable", "app")
    assert r.returncode == 0, r.stderr
    assert get(w, "/app/hello", timeout=30)[0] == 200
    assert any(e["id"] == 1308 for e in w.events())


def test_cli_errors_and_help(w, tmp_path):
    r = cli(w, "pool", "stop", "nope")
    assert r.returncode == 1 and "no pool 'nope'" in r.stderr
    r = cli(w, "pool", "explode", "app")
    assert r.returncode == 1 and "unknown action" in r.stderr
    r = subprocess.run([WEIR, "status", "-s", str(tmp_path / "none.sock")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "is weir running?" in r.stderr
    # options after the arguments
    r = subprocess.run([WEIR, "pool", "show", "app", "--json", "-s",
                        str(w.state_dir / "admin.sock")], capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["name"] == "app"
    # -c FILE finds the socket through state_dir
    r = subprocess.run([WEIR, "status", "-c", str(w.conf_path)], capture_output=True, text=True)
    assert r.returncode == 0 and "POOL" in r.stdout
    for cmd in ("status", "pool", "events", "reload", "stop", "check", "run"):
        r = subprocess.run([WEIR, cmd, "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and f"usage: weir {cmd}" in r.stdout, cmd


def test_events_queries(w):
    pid = int(get(w, "/app/pid")[2])
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: any(e["id"] == 1009 for e in w.events()), what="1009")
    cli(w, "pool", "recycle", "other")  # a 409: other has no workers
    r = cli(w, "events")
    assert r.returncode == 0
    line = [ln for ln in r.stdout.splitlines() if " 1009 " in ln][0]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\s+warning\s+1009\s+app\s+A process serving", line)
    r = cli(w, "events", "--json", "--id", "1009")
    evs = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert evs and all(e["id"] == 1009 for e in evs)
    r = cli(w, "events", "--json", "--pool", "other")
    assert all(json.loads(ln).get("pool") == "other" for ln in r.stdout.splitlines())
    r = cli(w, "events", "--json", "--level", "warning")
    levels = {json.loads(ln)["level"] for ln in r.stdout.splitlines()}
    assert levels and levels <= {"warning", "error"}
    r = cli(w, "events", "--json", "--since", "1h", "--limit", "1")
    assert len(r.stdout.splitlines()) == 1
    code, body = api(w, "/events?id=1009&limit=5")
    assert code == 200 and all(e["id"] == 1009 for e in json.loads(body))
    code, body = api(w, "/events?level=loud")
    assert code == 400 and "level" in json.loads(body)["error"]


def test_events_follow_shows_1009_within_a_second(w):
    pid = int(get(w, "/app/pid")[2])
    p = subprocess.Popen([WEIR, "events", "--follow", "--limit", "0", "-s",
                          str(w.state_dir / "admin.sock")],
                         stdout=subprocess.PIPE, text=True)
    try:
        # An event we cause ourselves shows the stream is up.
        assert cli(w, "pool", "stop", "other").returncode == 0
        deadline = time.monotonic() + 10
        seen = False
        while time.monotonic() < deadline and not seen:
            r, _, _ = select.select([p.stdout], [], [], 0.1)
            if r and " 1307 " in p.stdout.readline():
                seen = True
        assert seen, "the follower did not print 1307"
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        deadline = killed + 5
        got = None
        while time.monotonic() < deadline and got is None:
            r, _, _ = select.select([p.stdout], [], [], 0.1)
            if r:
                ln = p.stdout.readline()
                if " 1009 " in ln:
                    got = time.monotonic()
        assert got is not None, "no 1009 from events --follow"
        assert got - killed < 1.0, got - killed
    finally:
        p.terminate()
        p.wait(10)


def test_reload_broken_line_keeps_old_config(w):
    text = w.conf_path.read_text()
    w.conf_path.write_text(text + "\n[pool app]\nthis line is broken\n")
    r = cli(w, "reload")
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    n = len((text + "\n[pool app]\n").splitlines())
    assert any(ln.startswith(f"{w.conf_path}:{n + 1}: ") for ln in lines), r.stderr
    assert "still serving generation 1" in r.stderr
    assert get(w, "/app/hello")[0] == 200
    ev = [e for e in w.events() if e["id"] == 1304]
    assert ev and any(f":{n + 1}:" in x for x in ev[0]["errors"])
    # SIGHUP does the same
    w.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: len([e for e in w.events() if e["id"] == 1304]) == 2, what="second 1304")
    # a long command's continuation after its refused first line (the
    # master's parse crashed on it, and took every pool and site down)
    w.conf_path.write_text(text + "\n[pool extra]\ncommand =\n  more\n")
    w.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: len([e for e in w.events() if e["id"] == 1304]) == 3, what="third 1304")
    r = cli(w, "reload")
    assert r.returncode == 1 and "command: empty value" in r.stderr, r.stderr
    assert w.proc.poll() is None and get(w, "/app/hello")[0] == 200


def test_reload_adds_site_and_pool(w, site):
    port = free_port()
    orig = w.conf_path.read_text()
    w.conf_path.write_text(orig +
                           f"\n[pool third]\ncommand = {APP}\n"
                           f"[site more]\nlisten = 127.0.0.1:{port}\nroot = {site}\n"
                           "app = /third third\n")
    r = cli(w, "reload")
    assert r.returncode == 0 and "generation 2" in r.stdout, r.stderr
    out = raw(port, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200") and out.endswith(b"hello, world\n")
    out = raw(port, b"GET /third/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=20)
    assert out.startswith(b"HTTP/1.1 200") and b"hello from" in out
    ev = [e for e in w.events() if e["id"] == 1303][-1]
    assert ev["pools_added"] == ["third"] and ev["listen_added"] == [f"127.0.0.1:{port}"]
    # and removing them again closes the port and stops the pool
    w.conf_path.write_text(orig)
    assert cli(w, "reload").returncode == 0

    def refused():
        # the front end takes the new generation after the reload returned
        try:
            raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=2)
        except OSError:
            return True
        return False
    wait_for(refused, what="the removed address refusing connections")
    wait_for(lambda: get(w, "/third/hello")[0] == 404, what="the removed pool's route gone")


def test_reload_under_load_changes_command_without_failures(w, tmp_path):
    wrapper = tmp_path / "app2.sh"
    wrapper.write_text(f"#!/bin/sh\nexport FLAVOUR=new\nexec {APP}\n")
    wrapper.chmod(0o755)
    old = int(get(w, "/app/pid")[2])
    with Load(w.port, "/app/hello", conns=4) as load:
        wait_for(lambda: load.ok > 50, what="load")
        w.conf_path.write_text(w.conf_path.read_text().replace(
            f"command = {APP}\nping_path", f"command = {wrapper}\nping_path", 1))
        r = cli(w, "reload")
        assert r.returncode == 0 and "pools_changed: app" in r.stdout, (r.stdout, r.stderr)
        wait_for(lambda: get(w, "/app/env?name=FLAVOUR")[2] == b"new", what="new command serving")
        wait_for(lambda: not pid_alive(old), what="old worker gone")
        n = load.ok
        wait_for(lambda: load.ok > n + 50, what="more load")
    assert load.failed == [], load.failed[:5]
    assert any(e["id"] == 1080 for e in w.events())


def test_first_requests_of_idle_pools_cross_reloads(make_weir):
    """The first request to an on-demand pool asks the master for a worker
    in the generation its thread serves; the master drops a demand from a
    generation it has just left (a pool's index means something only in
    its own).  Such a request waited out queue_timeout (120 s) for a 503:
    the demand is now asked again every second while requests wait.  Here
    each of 12 idle pools gets its first request while reloads follow one
    another: every one is answered, none waits for queue_timeout."""
    n = 12
    body = "".join(f"[pool p{i}]\ncommand = {APP}\n" for i in range(n))
    body += "[pool churn]\ncommand = {APP}\n".format(APP=APP)
    body += "[site main]\n" + "".join(f"app = /p{i} p{i}\n" for i in range(n))
    w = make_weir(body)
    took = []
    # one reload after another, each a change of the churn pool's env
    with Reloads(w, "churn", every=0) as reloads:
        for i in range(n):
            t0 = time.monotonic()
            st, _, b = get(w, f"/p{i}/hello", timeout=60)
            took.append(time.monotonic() - t0)
            assert st == 200 and b.startswith(b"hello from"), (i, st, b)
    assert len(reloads.done) >= n, reloads.done
    # a demand asked again after a second, and the worker's start: well
    # under queue_timeout
    assert max(took) < 30, took


PROM_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
PROM_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"')


def parse_prometheus(text):
    """A strict parser of the text exposition format 0.0.4: returns
    {family: {"type": t, "samples": [(name, labels, value)]}}; raises on any
    violation of the format rules."""
    fams = {}
    typed = {}
    assert text.endswith("\n")
    for ln in text.split("\n")[:-1]:
        assert ln == ln.strip() and ln, f"blank or padded line {ln!r}"
        if ln.startswith("#"):
            parts = ln.split(" ", 3)
            assert parts[0] == "#" and parts[1] in ("HELP", "TYPE"), ln
            assert PROM_NAME.match(parts[2]), ln
            if parts[1] == "TYPE":
                assert parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), ln
                assert parts[2] not in typed, f"second TYPE for {parts[2]}"
                assert parts[2] not in fams, f"TYPE after samples of {parts[2]}"
                typed[parts[2]] = parts[3]
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$", ln)
        assert m, f"bad sample line {ln!r}"
        name, labels_s, value = m.group(1), m.group(3), m.group(4)
        labels = {}
        if labels_s:
            pos = 0
            while pos < len(labels_s):
                lm = PROM_LABEL.match(labels_s, pos)
                assert lm, f"bad labels in {ln!r}"
                assert lm.group(1) not in labels
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
                if pos < len(labels_s):
                    assert labels_s[pos] == ",", ln
                    pos += 1
        v = float(value)  # raises if not a float (+Inf, NaN allowed by float())
        fam = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and typed.get(name[:-len(suffix)]) == "histogram":
                fam = name[:-len(suffix)]
        assert fam in typed, f"sample {name} without TYPE"
        if typed[fam] == "counter":
            assert v >= 0, ln
        fams.setdefault(fam, {"type": typed[fam], "samples": []})["samples"].append((name, labels, v))
    # histograms: cumulative buckets ending in +Inf == _count
    for fam, d in fams.items():
        if d["type"] != "histogram":
            continue
        series = {}
        for name, labels, v in d["samples"]:
            key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
            series.setdefault(key, {"buckets": [], "count": None})
            if name.endswith("_bucket"):
                series[key]["buckets"].append((labels["le"], v))
            elif name.endswith("_count"):
                series[key]["count"] = v
        for key, s in series.items():
            vals = [v for _, v in s["buckets"]]
            assert vals == sorted(vals), f"{fam} {key} buckets not cumulative"
            assert s["buckets"][-1][0] == "+Inf" and s["buckets"][-1][1] == s["count"]
    return fams


def test_metrics_parse_as_prometheus(w):
    for _ in range(5):
        get(w, "/app/hello")
    get(w, "/nothing-here")
    code, text = api(w, "/metrics")
    assert code == 200
    fams = parse_prometheus(text + ("\n" if not text.endswith("\n") else ""))
    s = {(n, tuple(sorted(l.items()))): v for f in fams.values() for n, l, v in f["samples"]}
    assert s[("weir_pool_responses_total", (("code", "2xx"), ("pool", "app")))] >= 6
    assert s[("weir_site_responses_total", (("code", "4xx"), ("site", "main")))] >= 1
    assert s[("weir_pool_state", (("pool", "app"), ("state", "started")))] == 1
    assert s[("weir_worker_starts_total", (("pool", "app"),))] >= 1
    assert fams["weir_pool_upstream_seconds"]["type"] == "histogram"
    assert s[("weir_pool_upstream_seconds_count", (("pool", "app"),))] >= 6
    assert "weir_frontend_connections" in fams and "weir_pool_queue_depth" in fams


def site_4xx(w):
    code, text = api(w, "/metrics")
    assert code == 200
    fams = parse_prometheus(text + ("\n" if not text.endswith("\n") else ""))
    for name, labels, v in fams["weir_site_responses_total"]["samples"]:
        if labels == {"site": "main", "code": "4xx"}:
            return v
    return 0


def test_counters_survive_a_reload(w):
    # Counters are counters: a reload builds the sites anew, but a site
    # that keeps its name keeps its counts (Prometheus reads a drop as a
    # restart of the process).
    for _ in range(3):
        assert get(w, "/nothing-here")[0] == 404
    wait_for(lambda: site_4xx(w) >= 3, what="the 404s counted")
    before = site_4xx(w)
    w.conf_path.write_text(w.conf_path.read_text() + "\n# a reload\n")
    r = cli(w, "reload")
    assert r.returncode == 0 and "generation 2" in r.stdout, r.stderr
    assert get(w, "/nothing-here")[0] == 404
    wait_for(lambda: site_4xx(w) == before + 1, what="the 404 after the reload counted")


def test_admin_socket_refuses_other_users(make_weir):
    if os.geteuid() != 0:
        pytest.skip("needs root to switch users")
    w = make_weir(conf(), server_extra="admin_group = adm")
    sock = w.state_dir / "admin.sock"
    assert oct(sock.stat().st_mode & 0o777) == "0o660"
    r = cli(w, "status", user=["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
    assert r.returncode == 1 and "Permission denied" in r.stderr
    r = cli(w, "status", user=["--reuid=nobody", "--regid=adm", "--clear-groups"])
    assert r.returncode == 0, r.stderr


def test_admin_tcp_needs_token(make_weir):
    port = free_port()
    token = "s3cret-token-0123456789"
    w = make_weir(conf(), server_extra=f"admin_listen = 127.0.0.1:{port}\nadmin_token = {token}")
    url = f"http://127.0.0.1:{port}/status"
    r = subprocess.run([CURL, "-s", "-w", "%{http_code}", "-o", "/dev/null", url],
                       capture_output=True, text=True)
    assert r.stdout == "401"
    r = subprocess.run([CURL, "-s", "-w", "%{http_code}", "-o", "/dev/null", "-H",
                        f"Authorization: Bearer {token}x", url], capture_output=True, text=True)
    assert r.stdout == "401"
    r = subprocess.run([CURL, "-s", "-H", f"Authorization: Bearer {token}", url],
                       capture_output=True, text=True)
    assert json.loads(r.stdout)["pools"][0]["name"] == "app"


def test_weir_stop(w):
    r = cli(w, "stop")
    assert r.returncode == 0 and "stopped" in r.stdout, r.stderr
    assert w.proc.wait(20) == 0


def test_event_log_rotation_keeps_whole_lines(make_weir):
    w = make_weir(conf(), server_extra="events_max_size = 4096\nevents_keep = 3")
    for _ in range(30):
        assert cli(w, "pool", "recycle", "app").returncode in (0, 1)
    wait_for(lambda: (w.log_dir / "events.jsonl.1").exists(), what="a rotation")
    files = [w.log_dir / "events.jsonl"] + [w.log_dir / f"events.jsonl.{k}" for k in (1, 2, 3)]
    seen = []
    for f in files:
        if not f.exists():
            continue
        data = f.read_text()
        assert len(data) <= 4096 + 1024, f
        assert data.endswith("\n")
        seen += [json.loads(ln) for ln in data.splitlines()]
    assert not (w.log_dir / "events.jsonl.4").exists()
    n1079 = len([e for e in seen if e["id"] == 1079])
    # the queries read the rotated files too
    r = cli(w, "events", "--json", "--id", "1079", "--limit", "0")
    assert len(r.stdout.splitlines()) == n1079 >= 10


def test_meson_install(tmp_path):
    build = os.path.dirname(WEIR)
    if not os.path.exists(os.path.join(build, "build.ninja")):
        pytest.skip("not run from a meson build directory")
    dest = tmp_path / "dest"
    r = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--destdir", str(dest)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    prefix = subprocess.run(["meson", "introspect", build, "--buildoptions"],
                            capture_output=True, text=True).stdout
    prefix = [o["value"] for o in json.loads(prefix) if o["name"] == "prefix"][0]
    root = dest / prefix.lstrip("/")
    assert os.access(root / "bin" / "weir", os.X_OK)
    unit = (root / "lib" / "systemd" / "system" / "weir.service").read_text()
    assert f"ExecStart={prefix}/bin/weir run" in unit and "Type=notify" in unit
    assert (root / "share" / "doc" / "weir" / "docs" / "config.md").exists()
    assert (root / "share" / "doc" / "weir" / "examples" / "weir.conf").exists()
