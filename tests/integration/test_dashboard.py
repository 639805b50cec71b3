"""The dashboard: a web page the master serves on its admin listener only
(the Unix socket, and the TCP admin listener with its token), with live
figures, a 5-minute history, the event log as server-sent events, and pool
actions guarded by a per-page CSRF token and an Origin check.

The browser test drives it in headless Chromium (Debian's `chromium`, with
npm's puppeteer-core from tests/browser: scripts/install-deps installs
both) through tests/browser/dashboard.mjs, reaped with a deadline; its
screenshot is left in build/ (see SHOT below), not committed."""
import json
import os
import re
import signal
import subprocess

import pytest

from conftest import BROWSER_DIR, CHROMIUM, WEIR, free_port, run_browser, wait_for
from test_pools import APP, get

CURL = "/usr/bin/curl"
# The screenshot: beside the binary's build tree, a new file each run.
SHOT = os.environ.get("WEIR_DASHBOARD_SHOT",
                      os.path.join(os.path.dirname(os.path.abspath(WEIR)), "dashboard.png"))
TOKEN = "dash-token-0123456789abcdef"


def conf():
    return (f"[pool app]\ncommand = {APP}\nstart_mode = always\nping_path = /healthz\n\n"
            f"[pool other]\ncommand = {APP}\nstart_mode = always\n\n"
            f"[pool idle]\ncommand = {APP}\n\n"
            "[site main]\napp = /app app\napp = /other other\napp = /idle idle\n")


@pytest.fixture
def w(make_weir):
    port = free_port()
    w = make_weir(conf(), server_extra=f"admin_listen = 127.0.0.1:{port}\nadmin_token = {TOKEN}")
    w.admin = f"http://127.0.0.1:{port}"
    wait_for(lambda: all(p["workers"] and p["workers"][0]["state"] == "ready"
                         for p in status(w)["pools"] if p["name"] != "idle"),
             what="app and other ready")
    return w


def curl(*args):
    out = subprocess.run([CURL, "-s", "-o", "-", "-w", "\n%{http_code}", *args],
                         capture_output=True, text=True, timeout=30).stdout
    body, _, code = out.rpartition("\n")
    return int(code), body


def unix(w, path, *args):
    return curl("--unix-socket", str(w.state_dir / "admin.sock"), *args, f"http://weir{path}")


def status(w):
    return json.loads(unix(w, "/status")[1])


def page_token(body):
    return re.search(r'name="weir-csrf" content="([0-9a-f]{32})"', body).group(1)


def test_page_on_the_admin_socket_and_never_on_a_public_listener(w):
    code, body = unix(w, "/dashboard")
    assert code == 200 and "<title>weir dashboard</title>" in body
    tok1 = page_token(body)
    assert page_token(unix(w, "/dashboard/")[1]) != tok1       # one token per page
    for f, ctype in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        r = subprocess.run([CURL, "-s", "-i", "--unix-socket", str(w.state_dir / "admin.sock"),
                            f"http://weir/dashboard/{f}"], capture_output=True, text=True)
        assert r.stdout.startswith("HTTP/1.1 200") and f"Content-Type: {ctype}" in r.stdout
        assert "Content-Security-Policy: default-src 'self'" in r.stdout
    assert unix(w, "/dashboard/../MANIFEST")[0] == 404
    assert unix(w, "/dashboard/meson.build")[0] == 404
    # the public listener has no such page
    assert get(w, "/dashboard")[0] == 404


def test_tcp_needs_the_token_then_a_cookie(w):
    assert curl(f"{w.admin}/dashboard")[0] == 401
    assert curl(f"{w.admin}/dashboard/data")[0] == 401
    assert curl(f"{w.admin}/dashboard?token=x{TOKEN}")[0] == 401
    r = subprocess.run([CURL, "-s", "-i", f"{w.admin}/dashboard?token={TOKEN}"],
                       capture_output=True, text=True)
    assert r.stdout.startswith("HTTP/1.1 303")
    assert "Location: /dashboard\n" in r.stdout
    assert (f"Set-Cookie: weir_admin={TOKEN}; Path=/dashboard; HttpOnly; SameSite=Strict"
            in r.stdout)
    code, body = curl("-b", f"weir_admin={TOKEN}", f"{w.admin}/dashboard/data")
    assert code == 200 and {p["name"] for p in json.loads(body)["status"]["pools"]} == \
        {"app", "other", "idle"}
    # the cookie is for the dashboard only, not the API
    assert curl("-b", f"weir_admin={TOKEN}", f"{w.admin}/status")[0] == 401


def test_posts_need_the_page_token_and_its_origin(w):
    sock = ["--unix-socket", str(w.state_dir / "admin.sock")]
    tok = page_token(unix(w, "/dashboard")[1])
    act = "http://weir/dashboard/pools/other/recycle"
    assert curl(*sock, "-X", "POST", "-H", "Origin: http://weir", act)[0] == 403
    assert curl(*sock, "-X", "POST", "-H", "Origin: http://weir", "-H",
                "X-Weir-CSRF: " + "0" * 32, act)[0] == 403
    assert curl(*sock, "-X", "POST", "-H", f"X-Weir-CSRF: {tok}", act)[0] == 403   # no Origin
    assert curl(*sock, "-X", "POST", "-H", f"X-Weir-CSRF: {tok}", "-H",
                "Origin: http://evil.example", act)[0] == 403
    n1079 = len([e for e in w.events() if e["id"] == 1079])
    assert n1079 == 0
    code, body = curl(*sock, "-X", "POST", "-H", f"X-Weir-CSRF: {tok}", "-H",
                      "Origin: http://weir", act)
    assert code == 200 and json.loads(body)["action"] == "recycle", body
    wait_for(lambda: any(e["id"] == 1079 for e in w.events()), what="the recycle's 1079")
    # the reload button
    code, body = curl(*sock, "-X", "POST", "-H", f"X-Weir-CSRF: {tok}", "-H",
                      "Origin: http://weir", "http://weir/dashboard/reload")
    assert code == 200, body
    # a page elsewhere cannot use the API itself (the CLI sends no Origin)
    assert unix(w, "/pools/other/stop", "-X", "POST", "-H", "Origin: http://evil.example")[0] == 403
    assert unix(w, "/status", "-H", "Sec-Fetch-Site: cross-site")[0] == 403
    # nor reach the dashboard under its own name (DNS rebinding)
    assert unix(w, "/dashboard/data", "-H", "Host: evil.example")[0] == 403
    assert unix(w, "/dashboard/data", "-H", "Host: localhost:8099")[0] == 200


def test_figures_are_live_and_history_is_kept(w):
    """A request served is counted at once (not at the next CTL_STATS)."""
    before = {p["name"]: p for p in json.loads(unix(w, "/dashboard/data")[1])["status"]["pools"]}
    pid = before["other"]["workers"][0]["pid"]
    for _ in range(3):
        assert get(w, "/other/hello")[0] == 200
    data = json.loads(unix(w, "/dashboard/data")[1])
    assert data["live"] is True
    other = next(p for p in data["status"]["pools"] if p["name"] == "other")
    wk = next(x for x in other["workers"] if x["pid"] == pid)
    assert wk["requests"] == before["other"]["workers"][0]["requests"] + 3
    assert other["requests"] == before["other"]["requests"] + 3
    # `weir status` shows the same at once
    st = next(p for p in status(w)["pools"] if p["name"] == "other")
    assert st["requests"] == other["requests"]
    # history: a sample every 5 s with requests/s and p99 per pool
    assert data["history"]["interval_s"] == 5

    def sample_with_traffic():
        get(w, "/other/hello")
        h = json.loads(unix(w, "/dashboard/data")[1])["history"]["samples"]
        return [s for s in h if s["pools"].get("other", {}).get("rps", 0) > 0]
    s = wait_for(sample_with_traffic, timeout=20, interval=0.2, what="a sample with traffic")
    assert s[-1]["pools"]["other"]["p99_ms"] > 0
    assert s[-1]["pools"]["idle"]["rps"] == 0 and s[-1]["pools"]["idle"]["p99_ms"] is None


def test_events_as_server_sent_events(w):
    p = subprocess.Popen([CURL, "-s", "-N", "--max-time", "20", "--unix-socket",
                          str(w.state_dir / "admin.sock"),
                          "http://weir/dashboard/events?pool=other&level=warning&limit=5"],
                         stdout=subprocess.PIPE, text=True)
    try:
        pid = next(x for x in status(w)["pools"] if x["name"] == "other")["workers"][0]["pid"]
        # the stream opens with a comment: from then on every event reaches it
        assert p.stdout.readline() == ": weir events\n"
        assert p.stdout.readline() == "\n"
        os.kill(pid, signal.SIGKILL)
        line = p.stdout.readline()
        assert line.startswith("data: {"), line
        ev = json.loads(line[6:])
        assert ev["id"] == 1009 and ev["pid"] == pid and ev["pool"] == "other"
        assert p.stdout.readline() == "\n"
    finally:
        p.kill()
        p.wait()


def test_weir_dashboard_says_how_to_reach_it(w):
    r = subprocess.run([WEIR, "dashboard", "-c", str(w.conf_path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    sock = os.path.realpath(w.state_dir / "admin.sock")
    assert f"ssh -N -L 8099:{sock} HOST" in r.stdout
    assert "http://localhost:8099/dashboard" in r.stdout
    assert f"open {w.admin}/dashboard?token=ADMIN_TOKEN" in r.stdout
    assert TOKEN not in r.stdout
    assert "serves the dashboard" in r.stdout
    w.stop()
    r = subprocess.run([WEIR, "dashboard", "-c", str(w.conf_path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1 and "is weir running?" in r.stderr


def test_in_chromium(w):
    """Every pool shown; a recycle press gives a new pid on the page within
    2 s; a worker killed from outside has its 1009 in the event pane within
    1 s; the filters; refusals; no JavaScript error."""
    assert os.access(CHROMIUM, os.X_OK), "chromium is missing: run scripts/install-deps"
    assert os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "puppeteer-core")), \
        "puppeteer-core is missing: run scripts/install-deps"
    env = dict(os.environ, WEIR_ADMIN=w.admin, WEIR_TOKEN=TOKEN, WEIR_POOLS="app,other,idle",
               RECYCLE_POOL="app", KILL_POOL="other", SHOT=SHOT, CHROMIUM=CHROMIUM)
    rc, rep, err = run_browser("dashboard.mjs", env, timeout=50)
    assert rc == 0, f"{rep}\n{err[-3000:]}"
    assert sorted(rep["pools_seen"]) == ["app", "idle", "other"]
    assert rep["recycle"]["new"] != rep["recycle"]["old"] and rep["recycle"]["ms"] < 2000
    assert rep["kill"]["ms"] < 1000
    assert rep["filter_ok"] is True
    assert rep["refused"] == {"no_token_page": 401, "no_token_data": 401, "wrong_cookie": 401,
                              "no_csrf": 403, "wrong_csrf": 403, "other_origin": 403,
                              "api_from_page": 403}
    assert rep["accepted"] == 200
    assert rep["js_errors"] == []
    assert os.path.getsize(SHOT) > 10000
    print(f"dashboard: recycle {rep['recycle']['ms']} ms, kill {rep['kill']['ms']} ms, "
          f"screenshot {SHOT}")
