"""Behind a load balancer: PROXY protocol v1 and v2 on a `proxy_protocol`
listener (hand-made headers, and HAProxy's), who is believed
(trusted_proxies), health_path and `weir drain`.

The client address a PROXY header names must be the one weir logs, hands to
pools (X-Forwarded-For / Forwarded for HTTP pools, REMOTE_ADDR for FastCGI)
and counts per IP; a peer outside trusted_proxies is refused; a malformed,
truncated or late header closes the connection without a request line in
any log.  Two weirs behind HAProxy (send-proxy-v2, health checks on
health_path) are drained in turn under a client loop: no request fails."""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import http.client

import pytest

from conftest import Load, free_port, recv_to_eof, wait_for, WEIR, SRC
from test_upgrade import copy_install, patch_build, stop_new_master, upgrade
from test_upgrade import status as upgrade_status

PY = "/usr/bin/python3"
APP = f"{PY} {SRC}/tests/apps/app.py"
PHP = "/usr/bin/php-cgi"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, dst="127.0.0.1", sport=40000, dport=80, fam="TCP4"):
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode()


def v2(src, dst, sport=40000, dport=80, cmd=1):
    """A v2 header: PROXY (cmd 1) or LOCAL (cmd 0) over TCP, IPv4 or IPv6."""
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    addrs = (socket.inet_pton(fam, src) + socket.inet_pton(fam, dst)
             + struct.pack("!HH", sport, dport))
    famproto = 0x21 if fam == socket.AF_INET6 else 0x11
    return V2SIG + bytes([0x20 | cmd, famproto]) + struct.pack("!H", len(addrs)) + addrs


def exchange(port, data, timeout=10, source=None, shut=False):
    """Send data on a new connection, read until the server closes; b"" or
    what came.  A reset counts as a close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    out = b""
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out


def body_of(resp):
    return resp.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in resp else b""


def req(path, extra=""):
    return f"GET {path} HTTP/1.1\r\nHost: lb.test\r\n{extra}Connection: close\r\n\r\n".encode()


def status(w):
    r = subprocess.run([WEIR, "status", "--json", "-s", str(w.state_dir / "admin.sock")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def closed(w, reason):
    return (status(w)["frontend"].get("closed") or {}).get(reason, 0)


def log_rows(w):
    """Access-log lines as dicts (W3C fields)."""
    rows, fields = [], []
    for ln in w.access_log().splitlines():
        if ln.startswith("#Fields:"):
            fields = ln.split()[1:]
        elif ln and not ln.startswith("#"):
            rows.append(dict(zip(fields, ln.split(" "))))
    return rows


def logged(w, path):
    return [r for r in log_rows(w) if r.get("cs-uri-stem") == path]


def lb_conf(pport, root, trusted="127.0.0.1", extra=""):
    return (f"listen = 127.0.0.1:{pport} proxy_protocol\n"
            f"trusted_proxies = {trusted}\n{extra}",
            f"[pool app]\ncommand = {APP}\n"
            f"[site main]\nroot = {root}\napp = /app app\n")


@pytest.fixture
def proxied(make_weir, site):
    """A weir with a plain listener (w.port) and a proxy_protocol one."""
    pport = free_port()
    server, body = lb_conf(pport, site)
    w = make_weir(body, server_extra=server)
    w.pport = pport
    return w


CASES = [
    # (name, header, client address logged and passed on)
    ("v1-tcp4", v1("192.0.2.10"), "192.0.2.10"),
    ("v1-tcp6", v1("2001:db8::10", "::1", fam="TCP6"), "2001:db8::10"),
    ("v1-unknown", b"PROXY UNKNOWN\r\n", "127.0.0.1"),
    ("v2-tcp4", v2("198.51.100.20", "127.0.0.1"), "198.51.100.20"),
    ("v2-tcp6", v2("2001:db8::20", "::1"), "2001:db8::20"),
    ("v2-local", v2("203.0.113.9", "127.0.0.1", cmd=0), "127.0.0.1"),
]


def test_proxy_headers_name_the_client(proxied):
    """Each header kind: the access log and the HTTP pool see the client it
    names (UNKNOWN and LOCAL: the proxy itself); the bytes after the header
    are the request, untouched."""
    w = proxied
    for name, hdr, client in CASES:
        resp = exchange(w.pport, hdr + req(f"/app/headers", f"X-Case: {name}\r\n"))
        assert resp.startswith(b"HTTP/1.1 200 "), (name, resp[:200])
        got = dict(json.loads(body_of(resp))["headers"])
        # the client's own claim is never believed: weir writes what it saw
        assert got["X-Forwarded-For"] == client, (name, got)
        fwd = f'"[{client}]"' if ":" in client else client
        assert got["Forwarded"].startswith(f"for={fwd};"), (name, got)
        assert got["X-Case"] == name
    rows = wait_for(lambda: len(logged(w, "/app/headers")) == len(CASES) and
                    logged(w, "/app/headers"), what="access-log lines")
    assert [r["c-ip"] for r in rows] == [c for _, _, c in CASES]
    assert all(r["s-port"] == str(w.pport) for r in rows)
    # on the plain listener a PROXY line is just a bad request line
    resp = exchange(w.port, v1("192.0.2.10") + req("/app/headers"))
    assert resp.startswith(b"HTTP/1.1 400 "), resp[:100]


def test_a_lying_x_forwarded_for_behind_the_proxy_is_replaced(proxied):
    """One rule for both: the proxy (trusted) names the client; the client
    is not a trusted proxy, so its own X-Forwarded-For is not believed."""
    w = proxied
    resp = exchange(w.pport, v2("192.0.2.33", "127.0.0.1")
                    + req("/app/headers", "X-Forwarded-For: 10.9.9.9\r\n"))
    got = dict(json.loads(body_of(resp))["headers"])
    assert got["X-Forwarded-For"] == "192.0.2.33", got


@pytest.mark.skipif(not os.path.exists(PHP), reason="php-cgi not installed")
def test_fastcgi_remote_addr_is_the_client(make_weir, tmp_path):
    root = tmp_path / "php"
    root.mkdir()
    (root / "addr.php").write_text(
        "<?php echo $_SERVER['REMOTE_ADDR'], ' ', $_SERVER['REMOTE_PORT'];")
    os.chmod(root, 0o755)
    pport = free_port()
    w = make_weir(f"[pool php]\nkind = fastcgi\ncommand = {PHP}\n"
                  f"[site main]\nroot = {root}\nscript = .php php\n",
                  server_extra=f"listen = 127.0.0.1:{pport} proxy_protocol\n"
                               "trusted_proxies = 127.0.0.1\n")
    for hdr, want in ((v1("192.0.2.44", sport=4444), b"192.0.2.44 4444"),
                      (v2("2001:db8::44", "::1", sport=4445), b"2001:db8::44 4445"),
                      (v2("192.0.2.45", "127.0.0.1", cmd=0), b"127.0.0.1 ")):
        resp = exchange(pport, hdr + req("/addr.php"))
        assert resp.startswith(b"HTTP/1.1 200 "), resp[:300]
        assert want in body_of(resp), body_of(resp)  # chunked: one chunk


def test_tls_listener_reads_the_proxy_header_before_the_handshake(make_weir, site, tmp_path):
    """`listen = ... tls proxy_protocol`: the header in clear first (as a
    TCP balancer sends it), then the TLS handshake on the same bytes stream;
    the request inside names the header's client."""
    import ssl
    from test_tls import Certs
    certs = Certs(tmp_path)
    cert, key = certs.leaf("lb", ["lb.test"])
    pport = free_port()
    w = make_weir(f"[pool app]\ncommand = {APP}\n"
                  f"[site main]\nroot = {site}\napp = /app app\n"
                  f"certificate = {cert}\ncertificate_key = {key}\n",
                  server_extra=f"listen = 127.0.0.1:{pport} tls proxy_protocol\n"
                               "trusted_proxies = 127.0.0.1\n")
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    for hdr, client in ((v2("192.0.2.99", "127.0.0.1"), "192.0.2.99"),
                        (v1("2001:db8::99", "::1", fam="TCP6"), "2001:db8::99")):
        s = socket.create_connection(("127.0.0.1", pport), timeout=10)
        s.sendall(hdr)
        with ctx.wrap_socket(s, server_hostname="lb.test") as t:
            t.sendall(req("/app/headers"))
            resp = recv_to_eof(t)
        assert resp.startswith(b"HTTP/1.1 200 "), resp[:200]
        assert dict(json.loads(body_of(resp))["headers"])["X-Forwarded-For"] == client
    rows = wait_for(lambda: len(logged(w, "/app/headers")) == 2 and logged(w, "/app/headers"),
                    what="two lines")
    assert [r["c-ip"] for r in rows] == ["192.0.2.99", "2001:db8::99"]
    # a handshake without the header first is refused (its ClientHello is no header)
    s = socket.create_connection(("127.0.0.1", pport), timeout=10)
    with pytest.raises((ssl.SSLError, OSError)):
        ctx.wrap_socket(s, server_hostname="lb.test").close()
    s.close()
    wait_for(lambda: closed(w, "Proxy_Header") == 1, what="Proxy_Header")


BAD = [
    ("plain-http", req("/hello.txt")),
    ("v1-lf-only", b"PROXY TCP4 192.0.2.1 127.0.0.1 1 2\n" + req("/hello.txt")),
    ("v1-octal", b"PROXY TCP4 192.0.2.01 127.0.0.1 1 2\r\n" + req("/hello.txt")),
    ("v1-port", b"PROXY TCP4 192.0.2.1 127.0.0.1 65536 2\r\n" + req("/hello.txt")),
    ("v1-no-crlf", b"PROXY UNKNOWN " + b"x" * 120),
    ("v2-version", V2SIG + b"\x11\x11\x00\x0c" + b"\0" * 12 + req("/hello.txt")),
    ("v2-command", V2SIG + b"\x22\x11\x00\x0c" + b"\0" * 12 + req("/hello.txt")),
    ("v2-short", V2SIG + b"\x21\x21\x00\x0c" + b"\0" * 12 + req("/hello.txt")),
]


def test_malformed_truncated_and_late_headers_close_unlogged(make_weir, site):
    pport = free_port()
    server, body = lb_conf(pport, site, extra="header_timeout = 1s\n")
    w = make_weir(body, server_extra=server)
    for name, data in BAD:
        assert exchange(pport, data) == b"", name
    # truncated: the proxy closes in the middle of its header
    for cut in (v1("192.0.2.1")[:20], v2("192.0.2.1", "127.0.0.1")[:20], V2SIG[:5]):
        assert exchange(pport, cut, shut=True) == b""
    # late: a part of a header, then nothing; header_timeout (1s) closes it
    t0 = time.monotonic()
    assert exchange(pport, v1("192.0.2.1")[:10], timeout=10) == b""
    assert time.monotonic() - t0 < 8
    n = len(BAD) + 3 + 1
    wait_for(lambda: closed(w, "Proxy_Header") == n, what=f"{n} Proxy_Header closes")
    # a good request after them: once its line is there, nothing else is
    assert exchange(pport, v1("192.0.2.77") + req("/hello.txt")).startswith(b"HTTP/1.1 200")
    rows = wait_for(lambda: log_rows(w), what="the good request's line")
    assert [(r["cs-uri-stem"], r["c-ip"]) for r in rows] == [("/hello.txt", "192.0.2.77")]
    assert [ln for ln in w.httperr_log().splitlines() if not ln.startswith("#")] == []


def test_untrusted_peer_is_refused(make_weir, site):
    """trusted_proxies covers 127.0.0.1 only: a connection from 127.0.0.2
    is refused before anything it sent is read, counted, and has its
    httperr line; one from 127.0.0.1 on the same listener is served."""
    pport = free_port()
    server, body = lb_conf(pport, site)
    w = make_weir(body, server_extra=server)
    assert exchange(pport, v1("192.0.2.5") + req("/hello.txt"), source="127.0.0.2") == b""
    wait_for(lambda: closed(w, "Proxy_Untrusted") == 1, what="Proxy_Untrusted")
    rows = wait_for(lambda: [ln for ln in w.httperr_log().splitlines()
                             if "Proxy_Untrusted" in ln], what="httperr line")
    assert rows[0].split(" ")[2] == "127.0.0.2", rows
    assert exchange(pport, v1("192.0.2.5") + req("/hello.txt")).startswith(b"HTTP/1.1 200")
    assert [r["c-ip"] for r in wait_for(lambda: log_rows(w), what="line")] == ["192.0.2.5"]


def test_no_trusted_proxies_refuses_everyone(make_weir, site):
    """The default (no trusted_proxies): a proxy_protocol listener believes
    no one, so it serves no one; the plain listener is unaffected."""
    pport = free_port()
    w = make_weir(f"[site main]\nroot = {site}\n",
                  server_extra=f"listen = 127.0.0.1:{pport} proxy_protocol\n")
    assert exchange(pport, v2("192.0.2.5", "127.0.0.1") + req("/hello.txt")) == b""
    wait_for(lambda: closed(w, "Proxy_Untrusted") == 1, what="Proxy_Untrusted")
    assert exchange(w.port, req("/hello.txt")).startswith(b"HTTP/1.1 200")


def test_per_ip_limit_counts_clients_not_the_proxy(make_weir, site):
    """max_connections_per_ip = 1 behind one proxy address: two clients
    hold a connection each; a second one of the same client is refused."""
    pport = free_port()
    server, body = lb_conf(pport, site, extra="max_connections_per_ip = 1\n")
    w = make_weir(body, server_extra=server)
    held = []
    try:
        for client in ("192.0.2.1", "192.0.2.2"):
            s = socket.create_connection(("127.0.0.1", pport), timeout=10)
            held.append(s)
            s.sendall(v1(client) + b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200"), client
        assert exchange(pport, v1("192.0.2.1") + req("/hello.txt")) == b""
        wait_for(lambda: closed(w, "ConnLimit") == 1, what="ConnLimit")
    finally:
        for s in held:
            s.close()


def test_conf_rejects_unknown_options_and_disagreeing_listens(tmp_path, site):
    def check(text):
        p = tmp_path / "c.conf"
        p.write_text(text)
        return subprocess.run([WEIR, "check", "-c", str(p)], capture_output=True, text=True)
    base = f"[server]\nstate_dir = {tmp_path}/run\nlog_dir = {tmp_path}/log\n"
    r = check(base + "listen = 127.0.0.1:9 proxy\n" + f"[site a]\nroot = {site}\n")
    assert r.returncode != 0 and "not a listen option" in r.stderr, r.stderr
    r = check(base + "listen = 127.0.0.1:9 proxy_protocol\n"
              + f"[site a]\nroot = {site}\nlisten = 127.0.0.1:9\n")
    assert r.returncode != 0 and "options differ" in r.stderr, r.stderr
    r = check(base + "health_path = health\n" + f"[site a]\nroot = {site}\n")
    assert r.returncode != 0 and "health_path" in r.stderr, r.stderr


# --- health_path and drain ------------------------------------------------------------

def keepalive_get(sock, path):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    f = sock.makefile("rb")
    line = f.readline()
    hdrs = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b""):
            break
        k, v = h.decode().split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    body = f.read(int(hdrs.get("content-length", 0)))
    return int(line.split()[1]), hdrs, body


def test_drain_health_503_keepalive_ends_new_connections_served(make_weir, site):
    w = make_weir(f"[site main]\nroot = {site}\n",
                  server_extra="health_path = /lb-health\ndrain_time = 4s\n")
    s = socket.create_connection(("127.0.0.1", w.port), timeout=10)
    try:
        st, h, b = keepalive_get(s, "/lb-health")
        assert (st, b) == (200, b"serving\n") and h.get("connection") != "close"
        assert status(w)["state"] == "serving" and status(w)["drain"] is None
        r = subprocess.run([WEIR, "drain", "--no-wait", "-s", str(w.state_dir / "admin.sock")],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "draining" in r.stdout, r.stderr
        began = time.monotonic()
        # the front end hears of it from the master a moment later
        wait_for(lambda: exchange(w.port, req("/lb-health")).startswith(b"HTTP/1.1 503 "),
                 what="health_path 503")
        # the open keep-alive connection: answered, then closed
        st, h, b = keepalive_get(s, "/hello.txt")
        assert st == 200 and h.get("connection") == "close"
        assert s.recv(1) == b""
    finally:
        s.close()
    st_json = status(w)
    assert st_json["state"] == "draining" and st_json["drain"]["remaining_ms"] > 0
    text = subprocess.run([WEIR, "status", "-s", str(w.state_dir / "admin.sock")],
                          capture_output=True, text=True, timeout=30).stdout
    assert "draining" in text
    # new connections are served while it drains; health says 503
    resp = exchange(w.port, req("/lb-health"))
    assert resp.startswith(b"HTTP/1.1 503 ") and body_of(resp) == b"draining\n"
    assert exchange(w.port, req("/hello.txt")).startswith(b"HTTP/1.1 200 ")
    ev = {e["id"]: e for e in w.events()}
    assert ev[1314]["by"] == "an administrator" and ev[1314]["drain_time_ms"] == 4000
    # then it stops by itself, no sooner than drain_time
    assert w.proc.wait(timeout=30) == 0
    assert time.monotonic() - began >= 3.5
    ev = {e["id"]: e for e in w.events()}
    assert ev[1315]["how"] == "drain_time passed" and ev[1315]["drained_ms"] >= 3900


def test_sigterm_drains_first_only_with_health_path(make_weir, site):
    w = make_weir(f"[site main]\nroot = {site}\n",
                  server_extra="health_path = /h\ndrain_time = 2s\n")
    w.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: any(e["id"] == 1314 for e in w.events()), what="1314")
    # the front end hears of it from the master a moment later
    wait_for(lambda: exchange(w.port, req("/h")).startswith(b"HTTP/1.1 503 "),
             what="health_path 503")
    assert w.proc.wait(timeout=30) == 0
    assert [e["by"] for e in w.events() if e["id"] == 1314] == ["SIGTERM"]
    # without health_path nobody watches: stop at once, as before
    w2 = make_weir(f"[site main]\nroot = {site}\n")
    w2.proc.send_signal(signal.SIGTERM)
    assert w2.proc.wait(timeout=30) == 0
    assert not any(e["id"] in (1314, 1315) for e in w2.events())


def test_health_path_per_listener(make_weir, site):
    """`listen = ADDR health_path=/lb`: that address answers /lb itself and
    not the server's health_path; the other address answers the server's
    and serves /lb from its site.  A drain turns both to 503; the site is
    still served meanwhile."""
    lb_port = free_port()
    (site / "lb").write_text("a file of the site\n")
    w = make_weir(f"[site main]\nroot = {site}\n",
                  server_extra=f"listen = 127.0.0.1:{lb_port} health_path=/lb\n"
                               "health_path = /h\ndrain_time = 1h\n")

    def get(port, path):
        r = exchange(port, req(path))
        return int(r.split()[1]), body_of(r)
    assert get(lb_port, "/lb") == (200, b"serving\n")
    assert get(lb_port, "/h")[0] == 404
    assert get(w.port, "/h") == (200, b"serving\n")
    assert get(w.port, "/lb") == (200, b"a file of the site\n")
    r = subprocess.run([WEIR, "drain", "--no-wait", "-s", str(w.state_dir / "admin.sock")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: get(lb_port, "/lb")[0] == 503, what="the address's health_path 503")
    assert get(lb_port, "/lb") == (503, b"draining\n")
    assert get(w.port, "/h") == (503, b"draining\n")
    assert get(w.port, "/lb") == (200, b"a file of the site\n")
    assert get(lb_port, "/hello.txt")[0] == 200
    # the drain of drain_time = 1h cut short: weir stops at once, cleanly
    assert w.stop(signal.SIGQUIT) == 0


def test_health_path_on_a_listener_only_makes_a_stop_drain(make_weir, site, tmp_path):
    lb_port = free_port()
    w = make_weir(f"[site main]\nroot = {site}\n",
                  server_extra=f"listen = 127.0.0.1:{lb_port} health_path=/lb\n"
                               "drain_time = 2s\n")
    w.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: any(e["id"] == 1314 for e in w.events()), what="1314")
    wait_for(lambda: exchange(lb_port, req("/lb")).startswith(b"HTTP/1.1 503 "),
             what="the address's health_path 503")
    assert w.proc.wait(timeout=30) == 0
    # weir check: a path, and the same wherever the address is listed
    def check(text):
        p = tmp_path / "c.conf"
        p.write_text(f"[server]\nstate_dir = {tmp_path}/run\nlog_dir = {tmp_path}/log\n"
                     + text + f"[site a]\nroot = {site}\n")
        return subprocess.run([WEIR, "check", "-c", str(p)], capture_output=True, text=True)
    r = check("listen = 127.0.0.1:9 health_path=lb\n")
    assert r.returncode != 0 and "health_path=lb is not a path" in r.stderr, r.stderr
    r = check("listen = 127.0.0.1:9 health_path=/lb\n")
    assert r.returncode == 0, r.stderr
    p = tmp_path / "c.conf"
    p.write_text(f"[server]\nstate_dir = {tmp_path}/run\nlog_dir = {tmp_path}/log\n"
                 "listen = 127.0.0.1:9 health_path=/lb\n"
                 f"[site a]\nroot = {site}\nlisten = 127.0.0.1:9 health_path=/other\n")
    r = subprocess.run([WEIR, "check", "-c", str(p)], capture_output=True, text=True)
    assert r.returncode != 0 and "options differ" in r.stderr, r.stderr


def test_drain_outlives_a_front_end_restart_and_sigint_cuts_it_short(make_weir, site):
    w = make_weir(f"[site main]\nroot = {site}\n",
                  server_extra="health_path = /h\ndrain_time = 1h\n")
    r = subprocess.run([WEIR, "drain", "--no-wait", "-s", str(w.state_dir / "admin.sock")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: exchange(w.port, req("/h")).startswith(b"HTTP/1.1 503 "),
             what="health_path 503")
    fe = status(w)["frontend"]["pid"]
    os.kill(fe, signal.SIGKILL)
    wait_for(lambda: any(e["id"] == 1305 for e in w.events()), what="1305")
    wait_for(lambda: status(w)["frontend"]["pid"] not in (None, fe), what="a new front end")
    # the new front end is told (right after its hello): still draining
    wait_for(lambda: exchange(w.port, req("/h")).startswith(b"HTTP/1.1 503 "),
             what="health_path 503 from the new front end")
    assert exchange(w.port, req("/hello.txt")).startswith(b"HTTP/1.1 200 ")
    # a second drain changes nothing; SIGINT ends it without the hour
    r = subprocess.run([WEIR, "drain", "--no-wait", "-s", str(w.state_dir / "admin.sock")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and len([e for e in w.events() if e["id"] == 1314]) == 1
    w.proc.send_signal(signal.SIGINT)
    assert w.proc.wait(timeout=30) == 0
    assert [e["how"] for e in w.events() if e["id"] == 1315] == ["cut short by SIGINT"]


# --- HAProxy in front of two weirs ----------------------------------------------------

class ClientLoop(Load):
    """Requests through HAProxy from 127.0.0.2 (so the real client is not
    the proxy's address), a static file and a pool's page in turn, five on
    a connection, then a new one; counts the answers by the server that gave
    them (HAProxy's X-Served-By).  Stops at its deadline at the latest."""

    def __init__(self, port, deadline_s=120, conns=4):
        super().__init__(port, conns=conns)
        self.deadline = time.monotonic() + deadline_s
        self.by = {}

    def connection(self):
        if time.monotonic() > self.deadline:
            self.stop.set()
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=20,
                                          source_address=("127.0.0.2", 0))

    def next_path(self, n):
        return "/app/pid" if n % 2 else "/hello.txt"

    def counted(self, r, body):
        super().counted(r, body)
        if r.status == 200:
            who = r.getheader("x-served-by", "?")
            self.by[who] = self.by.get(who, 0) + 1

    def keep(self, n, r):
        return n < 5 and super().keep(n, r)

    def count(self):
        with self.lock:
            return self.ok


def haproxy_cfg_from_docs(stats, front, ports):
    """docs/scale-out.md's haproxy.cfg, on loopback: what the docs promise
    is what runs.  One line is added: the server's name in a response
    header, to see both weirs serve."""
    text = open(os.path.join(SRC, "docs", "scale-out.md")).read()
    cfg = text.split("```haproxy\n", 1)[1].split("```", 1)[0]
    for old, new in (("/run/haproxy/admin.sock", str(stats)),
                     ("bind :80", f"bind 127.0.0.1:{front}"),
                     ("10.0.0.11:8081", f"127.0.0.1:{ports[0]}"),
                     ("10.0.0.12:8081", f"127.0.0.1:{ports[1]}"),
                     ("    balance roundrobin\n",
                      "    balance roundrobin\n    http-response set-header X-Served-By %s\n")):
        assert old in cfg, old
        cfg = cfg.replace(old, new)
    return cfg


def haproxy_state(sock_path, server):
    """The status column of `show stat` for backend server `server`."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(str(sock_path))
        s.sendall(b"show stat\n")
        out = recv_to_eof(s)
    finally:
        s.close()
    lines = out.decode().splitlines()
    head = lines[0].lstrip("# ").split(",")
    for ln in lines[1:]:
        row = dict(zip(head, ln.split(",")))
        if row.get("svname") == server:
            return row.get("status")
    return None


@pytest.mark.skipif(not os.path.exists(HAPROXY), reason="haproxy not installed")
def test_haproxy_drain_each_in_turn_no_failed_request(make_weir, site, tmp_path):
    ports = [free_port(), free_port()]
    front = free_port()
    ws, every, down_ms, upgraded = [], [], [], []

    def start_weir(port):
        w = make_weir(f"[pool app]\ncommand = {APP}\nstart_mode = always\n"
                      f"[site main]\nroot = {site}\napp = /app app\n",
                      server_extra=f"listen = 127.0.0.1:{port} proxy_protocol\n"
                                   "trusted_proxies = 127.0.0.1\n"
                                   "health_path = /health\ndrain_time = 3s\n")
        w.pport = port
        every.append(w)
        return w

    for p in ports:
        ws.append(start_weir(p))
    stats = tmp_path / "haproxy.sock"
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(haproxy_cfg_from_docs(stats, front, ports))
    hap = subprocess.Popen([HAPROXY, "-f", str(cfg), "-db"], stdout=subprocess.DEVNULL,
                           stderr=open(tmp_path / "haproxy.log", "wb"),
                           start_new_session=True)
    try:
        wait_for(lambda: hap.poll() is not None or (stats.exists() and all(
            haproxy_state(stats, s) == "UP" for s in ("w1", "w2"))), timeout=20,
            what="both weirs UP in HAProxy")
        assert hap.poll() is None, (tmp_path / "haproxy.log").read_text()
        with ClientLoop(front) as load:
            for i in (0, 1):
                base = load.count()
                wait_for(lambda: load.count() >= base + 20, timeout=30, what="traffic")
                old = ws[i]
                t0 = time.monotonic()
                r = subprocess.run([WEIR, "drain", "--no-wait", "-s",
                                    str(old.state_dir / "admin.sock")],
                                   capture_output=True, text=True, timeout=30)
                assert r.returncode == 0, r.stderr
                # HAProxy sees the 503 and takes it out before it stops
                wait_for(lambda: (haproxy_state(stats, f"w{i + 1}") or "").startswith("DOWN"),
                         timeout=10, what=f"w{i + 1} DOWN in HAProxy")
                assert old.proc.poll() is None, "stopped before HAProxy took it out"
                down_ms.append(int((time.monotonic() - t0) * 1000))
                assert old.proc.wait(timeout=30) == 0
                old.stop()
                # the upgrade: a new weir on the same address, back in rotation
                ws[i] = start_weir(ports[i])
                wait_for(lambda: haproxy_state(stats, f"w{i + 1}") == "UP", timeout=20,
                         what=f"w{i + 1} UP again")
            # then each upgraded in place in turn (weir upgrade to another
            # build), staying in rotation: the listening sockets are handed over
            for i in (0, 1):
                new = copy_install(tmp_path / f"new{i}")
                new_build = patch_build(new)
                base = load.count()
                out = upgrade(ws[i], new / "weir")
                assert out.returncode == 0, out.stdout + out.stderr
                wait_for(lambda: ws[i].proc.poll() is not None, timeout=30,
                         what=f"w{i + 1}'s old master to exit")
                st = upgrade_status(ws[i])
                assert st["build"] == new_build
                upgraded.append((ws[i], st["pid"]))
                wait_for(lambda: load.count() >= base + 20, timeout=30,
                         what=f"traffic after w{i + 1}'s upgrade")
                assert haproxy_state(stats, f"w{i + 1}") == "UP"
            base = load.count()
            wait_for(lambda: load.count() >= base + 20, timeout=30, what="traffic after")
        print(f"haproxy: {load.ok} requests ok, {len(load.failed)} failed, by server "
              f"{load.by}; drain to DOWN in HAProxy: {down_ms} ms; "
              f"{len(upgraded)} upgraded in place")
        assert load.failed == [], load.failed[:10]
        assert load.ok > 0
        assert set(load.by) == {"w1", "w2"}, load.by
    finally:
        hap.terminate()
        try:
            hap.wait(timeout=10)
        except subprocess.TimeoutExpired:
            hap.kill()
            hap.wait()
        # an upgraded master is not the fixture's child
        for w, pid in upgraded:
            stop_new_master(w, pid)
    # every weir, old and new, logged the real client, never HAProxy's
    # address for a client request (health checks: LOCAL, the proxy's own)
    for w in every:
        rows = wait_for(lambda: [r for r in log_rows(w) if r["cs-uri-stem"] != "/health"],
                        what="client lines")
        assert {r["c-ip"] for r in rows} == {"127.0.0.2"}, rows[:5]
        health = [r for r in log_rows(w) if r["cs-uri-stem"] == "/health"]
        assert health and {r["c-ip"] for r in health} == {"127.0.0.1"}
