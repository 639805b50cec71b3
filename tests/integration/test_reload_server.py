"""A reload tells the truth about every [server] key.

docs/config.md's [server] table says, key by key, what a reload does with a
changed value: `applied` or `restart` (the unit tests keep that column equal
to the key table's CK_RELOAD / CK_RESTART).  Here, for every key in that
table: a `restart` key's change is refused (exit 1, event 1304 naming the
key with both values) and the old configuration still serves; an `applied`
key's change is seen in weir's behaviour after the reload (a new listener
answers, a lowered limit refuses, a shorter timeout closes, the access log
changes format in a new file, events reach syslog, ...).  A [server] key
without a case here fails test_every_server_key_has_a_case.

The front end takes a new generation asynchronously after `weir reload`
returns, so every check polls with a deadline.
"""
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import time

import pytest

from conftest import SRC, WEIR, free_port, raw, read_response, wait_for

PY = "/usr/bin/python3"
APP = f"{PY} {SRC}/tests/apps/app.py"


def docs_server_keys():
    """(key, reload cell) of every row of docs/config.md's [server] table."""
    text = open(os.path.join(SRC, "docs", "config.md")).read()
    sec = text[text.index("## `[server]`"):text.index("## `[site NAME]`")]
    rows = []
    for ln in sec.splitlines():
        m = re.match(r"\| `(\w+)` \|", ln)
        if m:
            cells = [c.strip() for c in ln.strip().strip("|").split("|")]
            rows.append((m.group(1), cells[4]))
    return rows


# --- a weir whose [server] section this test writes -------------------------

def base_server(w):
    return {"listen": f"127.0.0.1:{w.port}", "threads": "1",
            "state_dir": str(w.state_dir), "log_dir": str(w.log_dir),
            "syslog": "no", "shutdown_timeout": "5s"}


def write_conf(w, server, body):
    lines = ["[server]"]
    for k, v in server.items():
        for one in (v if isinstance(v, list) else [v]):
            lines.append(f"{k} = {one}")
    w.conf_path.write_text("\n".join(lines) + "\n" + body)


def start(make_weir, body, **server):
    w = make_weir("", start=False)
    w.server = dict(base_server(w), **server)
    w.body = body
    write_conf(w, w.server, body)
    return w.start()


def reload_with(w, **changes):
    """Rewrite the [server] section with changes (None removes a key) and
    reload; returns the CompletedProcess of `weir reload`."""
    server = dict(w.server)
    for k, v in changes.items():
        if v is None:
            server.pop(k, None)
        else:
            server[k] = v
    write_conf(w, server, w.body)

    def last():
        # the newest is always in events.jsonl, even right after a rotation
        ev = [e for e in w.events() if e["id"] in (1303, 1304)]
        return ev[-1] if ev else None

    before = last()
    r = subprocess.run([WEIR, "reload", "-s", str(w.state_dir / "admin.sock")],
                       capture_output=True, text=True, timeout=30)
    wait_for(lambda: last() not in (None, before), what="the reload's event")
    if r.returncode == 0:
        w.server = server
    return r


def applied(w, **changes):
    r = reload_with(w, **changes)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r


def site_body(root, extra=""):
    return f"[site main]\nroot = {root}\n{extra}"


def get(port, path="/hello.txt", headers=None, method="GET", body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def status(w):
    out = subprocess.run([WEIR, "status", "--json", "-s", str(w.state_dir / "admin.sock")],
                         capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout)


def connect(w):
    s = socket.create_connection(("127.0.0.1", w.port), timeout=10)
    return s


def closed_by_server(s, timeout=10):
    """Read until the server closes; True if it did within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def until(cond, what, timeout=10):
    return wait_for(cond, timeout=timeout, interval=0.05, what=what)


# --- keys that need a restart -------------------------------------------------

# key -> a new value (the old one is base_server's, or none)
RESTART = {
    "threads": "2",
    "user": "daemon",
    "group": "daemon",
    "state_dir": "{tmp}/run2",
    "log_dir": "{tmp}/log2",
    "admin_group": "daemon",
    "admin_listen": "127.0.0.1:{port}",
}


@pytest.mark.parametrize("key", sorted(RESTART))
def test_restart_key_refuses_the_reload(make_weir, site, tmp_path, key):
    w = start(make_weir, site_body(site))
    old = w.server.get(key, "(none)")
    new = RESTART[key].format(tmp=tmp_path, port=free_port())
    changes = {key: new}
    if key == "admin_listen":
        changes["admin_token"] = "0123456789abcdef0123"     # applied: not an error
    # and an applied key in the same reload: the whole reload is refused
    changes["keepalive_requests"] = "1"
    r = reload_with(w, **changes)
    assert r.returncode != 0, r.stdout
    want = f"[server] {key}: changed from {old} to {new}; needs a restart"
    assert want in r.stderr, r.stderr
    ev = [e for e in w.events() if e["id"] == 1304][-1]
    assert ev["errors"] == [want], ev
    assert status(w)["generation"] == 1
    # the old configuration serves, keep-alive included (keepalive_requests not taken)
    s = connect(w)
    for _ in range(3):
        s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        st, hdrs, body = read_response(s)
        assert st == 200 and body == b"hello, world\n"
    s.close()


# --- keys a reload applies ------------------------------------------------------

def case_listen(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site))
    port = free_port()
    applied(w, listen=[f"127.0.0.1:{w.port}", f"127.0.0.1:{port}"])
    until(lambda: get(port) == (200, b"hello, world\n"), "the new address serving")
    applied(w, listen=f"127.0.0.1:{port}")
    until(lambda: not can_connect(w.port), "the removed address closed")
    assert get(port)[0] == 200


def can_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def case_access_log(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site))
    log = w.log_dir / "access.log"
    assert get(w.port, "/hello.txt?w3c")[0] == 200
    until(lambda: "/hello.txt w3c " in log.read_text(), "the W3C line")
    assert log.read_text().startswith("#Software: weir")
    applied(w, access_log="combined")

    def combined():
        get(w.port, "/hello.txt?combined")
        return log.exists() and '"GET /hello.txt?combined HTTP/1.1" 200' in log.read_text()

    until(combined, "a combined line in access.log")
    text = log.read_text()
    assert "#" not in text and "w3c" not in text, text      # no W3C header or line mixed in
    aside = [p for p in w.log_dir.iterdir() if p.name.startswith("access.log.")]
    assert len(aside) == 1 and "/hello.txt w3c " in aside[0].read_text()
    assert "combined" not in aside[0].read_text()
    # off: nothing more is written; back to w3c: a new file with its header
    applied(w, access_log="off")
    applied(w, access_log="w3c")
    until(lambda: get(w.port, "/hello.txt?again")[0] == 200 and
          "/hello.txt again " in log.read_text(), "W3C again")
    assert log.read_text().startswith("#Software: weir")
    assert "combined" not in log.read_text()


def syslog_wrapper(tmp_path):
    """weir in a mount namespace of its own whose /dev/log is a socket this
    test reads (a private /dev with null, zero, urandom, random, full)."""
    sock_path = tmp_path / "log.sock"
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(str(sock_path))
    old = tmp_path / "olddev"
    old.mkdir()
    setup = (f"mount --make-rprivate / && mount --rbind /dev {old} && "
             "mount -t tmpfs tmpfs /dev && "
             "for n in null zero urandom random full; do "
             f"touch /dev/$n && mount --bind {old}/$n /dev/$n || exit 1; done && "
             f"touch /dev/log && mount --bind {sock_path} /dev/log")
    wrapper = tmp_path / "weir-ns"
    wrapper.write_text("#!/bin/sh\n"
                       f"exec unshare --mount -- /bin/sh -c '{setup} && exec \"$0\" \"$@\"' "
                       f"{WEIR} \"$@\"\n")
    wrapper.chmod(0o755)
    return rx, wrapper


def case_syslog(make_weir, site, tmp_path):
    assert os.geteuid() == 0, "needs root for a private /dev/log"
    rx, wrapper = syslog_wrapper(tmp_path)
    rx.setblocking(False)
    w = make_weir("", start=False, binary=str(wrapper))
    w.server = base_server(w)
    w.body = site_body(site)
    write_conf(w, w.server, w.body)
    w.start()

    def received():
        out = []
        try:
            while True:
                out.append(rx.recv(65536).decode(errors="replace"))
        except BlockingIOError:
            return out

    applied(w, syslog="yes")          # its own 1303 goes to syslog
    got = until(lambda: [m for m in received() if "event 1303" in m], "1303 in syslog")
    assert "generation 2" in got[0]
    applied(w, syslog="no")
    applied(w, keepalive_requests="5")      # a 1303 that must not reach syslog
    assert [e["generation"] for e in w.events() if e["id"] == 1303] == [2, 3, 4]
    assert [m for m in received() if "event" in m] == []
    rx.close()


def case_admin_token(make_weir, site, tmp_path):
    port = free_port()
    w = start(make_weir, site_body(site), admin_listen=f"127.0.0.1:{port}",
              admin_token="first-token-0123456789")

    def code(token):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            c.request("GET", "/status", headers={"Authorization": f"Bearer {token}"})
            r = c.getresponse()
            r.read()
            return r.status
        finally:
            c.close()

    assert code("first-token-0123456789") == 200
    applied(w, admin_token="second-token-0123456789")
    assert code("second-token-0123456789") == 200
    assert code("first-token-0123456789") == 401


def case_events_max_size(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site))
    applied(w, events_max_size="4096")
    ev = w.log_dir / "events.jsonl"
    # every reload writes an event: the file is rotated before it passes 4096
    for i in range(100):
        if (w.log_dir / "events.jsonl.1").exists():
            break
        applied(w, keepalive_requests=str(i + 1))
    assert (w.log_dir / "events.jsonl.1").exists()
    assert ev.stat().st_size <= 4096


def case_events_keep(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site), events_max_size="4096")
    applied(w, events_keep="1")
    for i in range(200):
        if (w.log_dir / "events.jsonl.1").exists() and i > 30:
            break
        applied(w, keepalive_requests=str(i + 1))
    assert (w.log_dir / "events.jsonl.1").exists()
    assert not (w.log_dir / "events.jsonl.2").exists()


def chatty_body(site):
    # a worker that prints 1000-byte lines while it serves
    return ("[pool chatty]\n"
            "command = /bin/sh -c '(while :; do printf %01000d 0 && echo && sleep 0.01; done) &\n"
            f"    exec {APP}'\nstart_mode = always\n" + site_body(site, "app = /app chatty\n"))


def pool_logs(w):
    d = w.log_dir / "pools"
    return sorted(p.name for p in d.iterdir() if p.name.startswith("chatty.log"))


def case_pool_log_max_size(make_weir, site, tmp_path):
    w = start(make_weir, chatty_body(site))
    applied(w, pool_log_max_size="64k")
    until(lambda: "chatty.log.1" in pool_logs(w), "a rotation at 64k", timeout=30)
    for name in pool_logs(w):
        assert (w.log_dir / "pools" / name).stat().st_size <= 64 * 1024


def case_pool_log_keep(make_weir, site, tmp_path):
    w = start(make_weir, chatty_body(site), pool_log_max_size="64k")
    d = w.log_dir / "pools"
    until(lambda: "chatty.log.2" in pool_logs(w), "two rotations", timeout=30)
    applied(w, pool_log_keep="1")
    # keep 1: a rotation replaces .1 and no longer shifts it up to .2
    one, two = (d / "chatty.log.1").stat().st_ino, (d / "chatty.log.2").stat().st_ino
    until(lambda: (d / "chatty.log.1").stat().st_ino != one,
          "a rotation with pool_log_keep = 1", timeout=30)
    assert (d / "chatty.log.2").stat().st_ino == two
    assert "chatty.log.3" not in pool_logs(w)


def request_status(w, data):
    s = connect(w)
    try:
        s.sendall(data)
        st, _, _ = read_response(s)
        return st
    finally:
        s.close()


def case_max_request_line(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site))
    req = b"GET /hello.txt?" + b"q" * 200 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert request_status(w, req) == 200
    applied(w, max_request_line="128")
    until(lambda: request_status(w, req) == 414, "414 after the reload")


def case_max_header_size(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site))
    req = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 400 + b"\r\n\r\n"
    assert request_status(w, req) == 200
    applied(w, max_header_size="256", max_request_line="128")
    until(lambda: request_status(w, req) == 431, "431 after the reload")


def case_max_headers(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site))
    req = (b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n" +
           b"".join(b"X-H%d: v\r\n" % i for i in range(5)) + b"\r\n")
    assert request_status(w, req) == 200
    applied(w, max_headers="3")
    until(lambda: request_status(w, req) == 431, "431 after the reload")


def case_max_body(make_weir, site, tmp_path):
    w = start(make_weir, chatty_body(site))
    until(lambda: get(w.port, "/app/echo", method="POST", body=b"b" * 100)[0] == 200,
          "the app echoing")
    applied(w, max_body="10")
    until(lambda: get(w.port, "/app/echo", method="POST", body=b"b" * 100)[0] == 413,
          "413 after the reload")


def partial_then_closed(w, data, timeout):
    """Send data (an unfinished request) and say whether the server closed
    (or answered and closed) within timeout."""
    s = connect(w)
    try:
        s.sendall(data)
        return closed_by_server(s, timeout)
    finally:
        s.close()


def case_header_timeout(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site))
    applied(w, header_timeout="1s")
    # the default (30s) would keep it open far beyond 8s
    until(lambda: partial_then_closed(w, b"GET /hello.txt HTTP/1.1\r\nHost", 8),
          "a stalled header closed after 1s", timeout=20)
    until(lambda: "Timer_HeaderWait" in w.httperr_log(), "the 408 in httperr.log")


def case_body_timeout(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site))
    applied(w, body_timeout="1s")
    # a body the static handler does not need: answered, then the rest is
    # read and discarded, and the stall there is body_timeout's
    req = b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"b" * 10

    def timed_out():
        s = connect(w)
        try:
            s.sendall(req)
            closed_by_server(s, 8)
            return "Timer_EntityBody" in w.httperr_log()
        finally:
            s.close()

    # the default (60s) would not close it within 8s
    until(timed_out, "a stalled body closed after 1s", timeout=20)


def unread_response_closed(w, timeout):
    """Ask for a large file and never read it: closed by weir within timeout?"""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", w.port))
    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        until(lambda: status(w)["frontend"]["connections"] == 0,
              "the unread connection closed", timeout=timeout)
        return True
    except AssertionError:
        return False
    finally:
        s.close()


def case_send_timeout(make_weir, site, tmp_path):
    (site / "big.bin").write_bytes(b"\0" * (64 << 20))
    w = start(make_weir, site_body(site))
    applied(w, send_timeout="1s")
    # not reading: the front end holds the connection until send_timeout
    assert until(lambda: unread_response_closed(w, 8), "send_timeout applied", timeout=30)


STALLED_HEAD = b"GET /hello.txt HTTP/1.1\r\nHost"


def case_min_request_rate(make_weir, site, tmp_path):
    # off, with a 1s window and a long header_timeout: a stalled head stays
    w = start(make_weir, site_body(site), min_request_rate="0", min_rate_grace="1s",
              header_timeout="60s")
    assert not partial_then_closed(w, STALLED_HEAD, 4)
    applied(w, min_request_rate="240")
    until(lambda: partial_then_closed(w, STALLED_HEAD, 8),
          "a head slower than 240 bytes/s closed", timeout=30)
    until(lambda: "Timer_MinBytesPerSecond" in w.httperr_log(), "the 408 in httperr.log")


def case_min_rate_grace(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site), min_rate_grace="60s", header_timeout="60s")
    assert not partial_then_closed(w, STALLED_HEAD, 4)
    applied(w, min_rate_grace="1s")
    until(lambda: partial_then_closed(w, STALLED_HEAD, 8),
          "the slow head closed after a 1s window", timeout=30)


def case_min_response_rate(make_weir, site, tmp_path):
    (site / "big.bin").write_bytes(b"\0" * (64 << 20))
    w = start(make_weir, site_body(site), min_response_rate="0", min_rate_grace="1s")
    # off: only send_timeout (60s) would close it
    assert not unread_response_closed(w, 4)
    until(lambda: status(w)["frontend"]["connections"] == 0, "the test's connection gone")
    applied(w, min_response_rate="240")
    until(lambda: unread_response_closed(w, 8), "a reader slower than 240 bytes/s closed",
          timeout=30)


def case_max_connections_per_ip(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site))

    def third_refused():
        conns = [connect(w) for _ in range(3)]
        try:
            # two answer; the third is closed unanswered once over the limit
            for s in conns[:2]:
                s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                assert read_response(s)[0] == 200
            return closed_by_server(conns[2], 5)
        finally:
            for s in conns:
                s.close()

    assert not third_refused()
    applied(w, max_connections_per_ip="2")
    until(third_refused, "the third connection from 127.0.0.1 closed", timeout=30)


def answered_then_closed(w, timeout):
    """One GET answered 200, then the connection closed by weir within timeout?"""
    s = connect(w)
    try:
        s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        st, _, _ = read_response(s)
        return st == 200 and closed_by_server(s, timeout)
    finally:
        s.close()


def case_keepalive_timeout(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site))
    applied(w, keepalive_timeout="1s")

    until(lambda: answered_then_closed(w, 8), "an idle connection closed after 1s",
          timeout=30)


def case_keepalive_requests(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site))
    applied(w, keepalive_requests="1")

    until(lambda: answered_then_closed(w, 5), "the connection closed after one request")


def case_shutdown_timeout(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site))
    applied(w, shutdown_timeout="2s")
    assert w.stop() == 0
    # the master and the front end both stop with the new value
    assert "in-flight requests get up to 2000ms" in w.log()
    assert "stopping: no new connections, 2000ms for requests in flight" in w.log()


def case_health_path(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site))
    assert get(w.port, "/lb-health")[0] == 404
    applied(w, health_path="/lb-health")
    until(lambda: get(w.port, "/lb-health") == (200, b"serving\n"),
          "health_path answered by the front end")
    applied(w, health_path=None)
    until(lambda: get(w.port, "/lb-health")[0] == 404, "health_path gone")


def case_drain_time(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site), health_path="/h", drain_time="1h")
    applied(w, drain_time="1s")
    r = subprocess.run([WEIR, "drain", "--no-wait", "-s", str(w.state_dir / "admin.sock")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "1000 ms" in r.stdout, (r.stdout, r.stderr)
    # gone after the new drain_time, not the old hour
    assert w.proc.wait(timeout=30) == 0
    ev = [e for e in w.events() if e["id"] == 1315]
    assert ev and ev[0]["how"] == "drain_time passed" and ev[0]["drained_ms"] < 5000


def case_max_connections(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site))
    applied(w, max_connections="1")

    def second_refused():
        a = connect(w)
        try:
            a.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            if read_response(a)[0] != 200:
                return False
            b = connect(w)          # a is still open: over the limit
            try:
                b.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                return closed_by_server(b, 5)
            finally:
                b.close()
        finally:
            a.close()

    until(second_refused, "a second connection refused")


def app_body(site):
    return "[pool app]\n" f"command = {APP}\n" + site_body(site, "app = /app app\n")


def app_headers(w, extra):
    """The header fields app.py received for a GET with `extra` fields."""
    st, body = get(w.port, "/app/headers", headers=dict(extra))
    assert st == 200, body
    return {k.lower(): v for k, v in json.loads(body)["headers"]}


def case_trusted_proxies(make_weir, site, tmp_path):
    w = start(make_weir, app_body(site))
    fwd = [("X-Forwarded-For", "6.6.6.6")]
    assert app_headers(w, fwd)["x-forwarded-for"] == "127.0.0.1"
    applied(w, trusted_proxies="127.0.0.0/8")
    until(lambda: app_headers(w, fwd)["x-forwarded-for"] == "6.6.6.6, 127.0.0.1",
          "a trusted proxy's X-Forwarded-For kept and appended to")


def case_underscores_in_headers(make_weir, site, tmp_path):
    w = start(make_weir, app_body(site))
    assert "x_custom" not in app_headers(w, [("X_Custom", "1")])
    applied(w, underscores_in_headers="on")
    until(lambda: app_headers(w, [("X_Custom", "1")]).get("x_custom") == "1",
          "X_Custom passed to the pool")


def h2_max_streams(port):
    """SETTINGS_MAX_CONCURRENT_STREAMS a new HTTP/2 connection is told."""
    from hyperframe import frame as hf
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + hf.SettingsFrame(0).serialize())
        buf = b""
        while len(buf) < 9 or len(buf) < 9 + int.from_bytes(buf[:3], "big"):
            d = s.recv(4096)
            assert d, "closed before SETTINGS"
            buf += d
        f, n = hf.Frame.parse_frame_header(memoryview(buf[:9]))
        f.parse_body(memoryview(buf[9:9 + n]))
        assert isinstance(f, hf.SettingsFrame)
        return f.settings.get(hf.SettingsFrame.MAX_CONCURRENT_STREAMS)
    finally:
        s.close()


def case_http2_max_concurrent_streams(make_weir, site, tmp_path):
    h2port = free_port()
    w = make_weir("", start=False)
    w.server = dict(base_server(w))
    w.server["listen"] = [w.server["listen"], f"127.0.0.1:{h2port} h2c"]
    w.body = site_body(site)
    write_conf(w, w.server, w.body)
    w.start()
    assert h2_max_streams(h2port) == 100
    applied(w, http2_max_concurrent_streams="7")
    until(lambda: h2_max_streams(h2port) == 7, "the new limit in a new connection's SETTINGS")


def same_stat_rewrite(path, content):
    """Rewrite a file in place with content of the same size and mtime: a
    cached entry cannot tell."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.write(content)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def case_open_file_cache(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site), open_file_cache_valid="1h")
    f = site / "hello.txt"
    assert get(w.port) == (200, b"hello, world\n")
    same_stat_rewrite(f, b"HELLO, WORLD\n")
    assert get(w.port) == (200, b"hello, world\n")      # cached
    applied(w, open_file_cache="0")
    until(lambda: get(w.port) == (200, b"HELLO, WORLD\n"), "the cache off")
    same_stat_rewrite(f, b"hello, again\n")
    assert get(w.port) == (200, b"hello, again\n")


def case_open_file_cache_valid(make_weir, site, tmp_path):
    w = start(make_weir, site_body(site), open_file_cache_valid="1h")
    f = site / "hello.txt"
    assert get(w.port) == (200, b"hello, world\n")
    f.write_bytes(b"changed\n")
    assert get(w.port) == (200, b"hello, world\n")      # cached for an hour
    applied(w, open_file_cache_valid="0")
    until(lambda: get(w.port) == (200, b"changed\n"), "checked on every request")
    f.write_bytes(b"changed again\n")
    assert get(w.port) == (200, b"changed again\n")


# --- TLS keys (test_tls.py makes the certificates) ---------------------------------

TLS_CERTS = []      # the TLS cases' certificates (they take no fixture of their own)


@pytest.fixture(scope="module")
def tls_certs(tmp_path_factory):
    from test_tls import Certs
    c = Certs(tmp_path_factory.mktemp("certs"))
    c.a, c.b = c.leaf("a", ["a.test"]), c.leaf("b", ["b.test"])
    return c


def start_tls(make_weir, site, certs, **server):
    """A weir with two TLS sites (a.test, b.test) on w.tls as well."""
    w = make_weir("", start=False)
    w.tls = free_port()
    body = ""
    for name, (cert, key) in (("a", certs.a), ("b", certs.b)):
        body += (f"[site {name}]\nroot = {site}\nhosts = {name}.test\n"
                 f"certificate = {cert}\ncertificate_key = {key}\n")
    w.server = dict(base_server(w), **server)
    w.server["listen"] = [w.server["listen"], f"127.0.0.1:{w.tls} tls"]
    w.body = body
    write_conf(w, w.server, body)
    return w.start()


def tls_cn(w, certs, name=None, **ctxattrs):
    """The CN weir's certificate has for SNI `name` (None: no SNI), or the
    ssl.SSLError of a refused handshake."""
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    ctx.check_hostname = False
    for k, v in ctxattrs.items():
        setattr(ctx, k, v)
    try:
        with socket.create_connection(("127.0.0.1", w.tls), timeout=10) as s, \
                ctx.wrap_socket(s, server_hostname=name) as t:
            return dict(x[0] for x in t.getpeercert()["subject"])["commonName"]
    except ssl.SSLError as e:
        return e


def case_default_certificate(make_weir, site, tmp_path):
    certs = TLS_CERTS[0]
    w = start_tls(make_weir, site, certs)
    assert tls_cn(w, certs) == "a"
    applied(w, default_certificate="b")
    until(lambda: tls_cn(w, certs) == "b", "no SNI gets b's certificate")
    applied(w, default_certificate="alert")
    until(lambda: "UNRECOGNIZED_NAME" in str(tls_cn(w, certs)).upper(),
          "no SNI refused")
    assert tls_cn(w, certs, "a.test") == "a"


def case_tls_protocols(make_weir, site, tmp_path):
    certs = TLS_CERTS[0]
    w = start_tls(make_weir, site, certs)
    v12 = {"maximum_version": ssl.TLSVersion.TLSv1_2}
    assert tls_cn(w, certs, "a.test", **v12) == "a"
    applied(w, tls_protocols="TLSv1.3")
    until(lambda: isinstance(tls_cn(w, certs, "a.test", **v12), ssl.SSLError),
          "TLS 1.2 refused")
    assert tls_cn(w, certs, "a.test") == "a"


def case_tls_ciphers(make_weir, site, tmp_path):
    certs = TLS_CERTS[0]
    w = start_tls(make_weir, site, certs)

    def chacha():
        c = ssl.create_default_context(cafile=str(certs.ca))
        c.check_hostname = False
        c.maximum_version = ssl.TLSVersion.TLSv1_2
        c.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305")
        try:
            with socket.create_connection(("127.0.0.1", w.tls), timeout=10) as s, \
                    c.wrap_socket(s, server_hostname="a.test") as t:
                return t.cipher()[0]
        except ssl.SSLError as e:
            return e

    assert chacha() == "ECDHE-ECDSA-CHACHA20-POLY1305"
    applied(w, tls_ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")
    until(lambda: isinstance(chacha(), ssl.SSLError), "ChaCha20 refused for TLS 1.2")
    assert tls_cn(w, certs, "a.test") == "a"


def case_handshake_timeout(make_weir, site, tmp_path):
    certs = TLS_CERTS[0]
    w = start_tls(make_weir, site, certs)

    def idle_closed_within(secs):
        s = socket.create_connection(("127.0.0.1", w.tls), timeout=10)
        try:
            return closed_by_server(s, secs)
        finally:
            s.close()

    assert not idle_closed_within(2)        # 10s by default
    applied(w, handshake_timeout="1s")
    until(lambda: idle_closed_within(4), "a silent client closed after 1s")
# --- ACME: the next order uses the new value -----------------------------------

class FakeCA:
    """A directory on HTTPS (a certificate of its own CA) that records the
    newAccount payloads and refuses every account: enough to see which
    directory, CA file and contact an order used.  Stopped by close()."""

    def __init__(self, tmp_path):
        import base64
        import http.server
        import ssl
        import threading
        d = tmp_path / "fakeca"
        d.mkdir()
        for args in (["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "2",
                      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],):
            subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True,
                           timeout=30)
        self.ca_file = d / "cert.pem"
        self.contacts = []
        ca = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, code, body=b"", ctype="application/json"):
                self.send_response(code)
                self.send_header("Replay-Nonce", "n0nce")
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):
                base = f"https://127.0.0.1:{ca.port}"
                self.reply(200, json.dumps({"newNonce": base + "/nonce", "newAccount": base +
                                            "/acct", "newOrder": base + "/order"}).encode())

            def do_HEAD(self):
                self.reply(200)

            def do_POST(self):
                jws = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                pl = jws["payload"]
                ca.contacts.append(json.loads(base64.urlsafe_b64decode(pl + "=" * (-len(pl) % 4)))
                                   .get("contact"))
                self.reply(403, json.dumps({"type": "urn:ietf:params:acme:error:unauthorized",
                                            "detail": "fake CA"}).encode(),
                           "application/problem+json")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(d / "cert.pem", d / "key.pem")
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}/dir"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def acme_failures(w):
    return [e for e in w.events() if e["id"] == 1332]


def acme_order(w):
    """Force an order; return its failure event (1332)."""
    n = len(acme_failures(w))
    r = subprocess.run([WEIR, "acme", "renew", "shop", "-s", str(w.state_dir / "admin.sock")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    until(lambda: len(acme_failures(w)) > n, "the order's event", timeout=30)
    return acme_failures(w)[n]


def acme_body(site):
    return f"[site shop]\nhosts = localhost\nroot = {site}\ncertificate = acme\n"


def acme_start(make_weir, site, **server):
    w = start(make_weir, acme_body(site), **server)
    until(lambda: acme_failures(w), "the first order's failure", timeout=30)
    return w


def case_acme_directory(make_weir, site, tmp_path):
    p1, p2 = free_port(), free_port()
    w = acme_start(make_weir, site, acme_directory=f"https://127.0.0.1:{p1}/dir")
    assert f"connect 127.0.0.1:{p1}" in acme_failures(w)[0]["detail"]
    applied(w, acme_directory=f"https://127.0.0.1:{p2}/dir")
    assert f"connect 127.0.0.1:{p2}" in acme_order(w)["detail"]


def case_acme_ca_file(make_weir, site, tmp_path):
    ca = FakeCA(tmp_path)
    try:
        w = acme_start(make_weir, site, acme_directory=ca.url)
        assert "TLS with 127.0.0.1" in acme_failures(w)[0]["detail"]   # not trusted
        applied(w, acme_ca_file=str(ca.ca_file))
        ev = acme_order(w)
        assert "fake CA" in ev["detail"] and ev["problem"]["detail"] == "fake CA", ev
    finally:
        ca.close()


def case_acme_email(make_weir, site, tmp_path):
    ca = FakeCA(tmp_path)
    try:
        w = acme_start(make_weir, site, acme_directory=ca.url, acme_ca_file=str(ca.ca_file),
                       acme_email="one@example.com")
        assert ca.contacts[-1] == ["mailto:one@example.com"]
        applied(w, acme_email="two@example.com")
        acme_order(w)
        assert ca.contacts[-1] == ["mailto:two@example.com"]
    finally:
        ca.close()


APPLIED = {
    "default_certificate": case_default_certificate,
    "tls_protocols": case_tls_protocols,
    "tls_ciphers": case_tls_ciphers,
    "handshake_timeout": case_handshake_timeout,
    "listen": case_listen,
    "access_log": case_access_log,
    "syslog": case_syslog,
    "admin_token": case_admin_token,
    "events_max_size": case_events_max_size,
    "events_keep": case_events_keep,
    "pool_log_max_size": case_pool_log_max_size,
    "pool_log_keep": case_pool_log_keep,
    "max_request_line": case_max_request_line,
    "max_header_size": case_max_header_size,
    "max_headers": case_max_headers,
    "max_body": case_max_body,
    "header_timeout": case_header_timeout,
    "body_timeout": case_body_timeout,
    "send_timeout": case_send_timeout,
    "keepalive_timeout": case_keepalive_timeout,
    "keepalive_requests": case_keepalive_requests,
    "shutdown_timeout": case_shutdown_timeout,
    "health_path": case_health_path,
    "drain_time": case_drain_time,
    "max_connections": case_max_connections,
    "open_file_cache": case_open_file_cache,
    "open_file_cache_valid": case_open_file_cache_valid,
    "trusted_proxies": case_trusted_proxies,
    "min_request_rate": case_min_request_rate,
    "min_response_rate": case_min_response_rate,
    "min_rate_grace": case_min_rate_grace,
    "max_connections_per_ip": case_max_connections_per_ip,
    "underscores_in_headers": case_underscores_in_headers,
    "acme_directory": case_acme_directory,
    "acme_ca_file": case_acme_ca_file,
    "acme_email": case_acme_email,
    "http2_max_concurrent_streams": case_http2_max_concurrent_streams,
}


def test_every_server_key_has_a_case():
    rows = docs_server_keys()
    assert len(rows) >= 20
    for key, reload in rows:
        assert reload in ("applied", "restart"), (key, reload)
        cases = APPLIED if reload == "applied" else RESTART
        assert key in cases, f"[server] {key} ({reload}) has no reload case in this file"
    assert set(APPLIED) | set(RESTART) == {k for k, _ in rows}
    assert not set(APPLIED) & set(RESTART)


@pytest.mark.parametrize("key", sorted(APPLIED))
def test_applied_key_takes_effect(make_weir, site, tmp_path, key, request):
    if key in ("default_certificate", "tls_protocols", "tls_ciphers", "handshake_timeout"):
        TLS_CERTS[:] = [request.getfixturevalue("tls_certs")]
    t0 = time.monotonic()
    APPLIED[key](make_weir, site, tmp_path)
    assert time.monotonic() - t0 < 120
