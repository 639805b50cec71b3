"""Certificates from an ACME CA (certificate = acme) against pebble.

pebble (Let's Encrypt's test CA, Debian's `pebble`) runs on loopback for
each test, with a directory served over HTTPS by a certificate of a CA this
test makes (weir trusts it through acme_ca_file) and its HTTP-01 validation
pointed at weir's cleartext port, so the challenge is answered by weir's
front end itself.  pebble makes a new root at every start and serves it at
its management port (/roots/0): the test verifies weir's certificate
against that root.  Every pebble a test starts is stopped and reaped by the
fixture.
"""
import json
import os
import re
import socket
import ssl
import subprocess
import time
import urllib.request

import pytest

from conftest import WEIR, can_connect, cli, free_port, wait_for

SITE = """
[site shop]
hosts = localhost
root = {root}
certificate = acme
"""


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


class Pebble:
    """One pebble process; stop() and the fixture reap it."""

    def __init__(self, d, http_port, env=None):
        self.dir = d
        self.port = free_port()
        self.mgmt = free_port()
        self.http_port = http_port
        self.env = env or {}
        d.mkdir(exist_ok=True)
        # a CA for pebble's own HTTPS, and its certificate for 127.0.0.1
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                "-subj", "/CN=weir test CA", cwd=d)
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "pebble.key", "-out", "pebble.csr", "-subj", "/CN=127.0.0.1", cwd=d)
        (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        openssl("x509", "-req", "-in", "pebble.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "pebble.pem", "-days", "2", "-extfile", "ext.cnf",
                cwd=d)
        (d / "pebble.json").write_text(json.dumps({"pebble": {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.mgmt}",
            "certificate": str(d / "pebble.pem"), "privateKey": str(d / "pebble.key"),
            "httpPort": http_port, "tlsPort": free_port(), "ocspResponderURL": "",
            "externalAccountBindingRequired": False}}))
        self.ca_file = d / "ca.pem"
        self.directory = f"https://127.0.0.1:{self.port}/dir"
        self.proc = None

    def start(self):
        self.log = open(self.dir / "pebble.log", "ab")
        self.proc = subprocess.Popen(
            ["/usr/bin/pebble", "-config", str(self.dir / "pebble.json")],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            env=dict(os.environ, PEBBLE_VA_NOSLEEP="1", **self.env))
        wait_for(lambda: self.proc.poll() is not None or
                 (can_connect(self.port) and can_connect(self.mgmt)), what="pebble up")
        assert self.proc.poll() is None, (self.dir / "pebble.log").read_text()
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self.log.close()

    def root_pem(self):
        """The root of the chains this pebble issues."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(f"https://127.0.0.1:{self.mgmt}/roots/0",
                                    context=ctx, timeout=10) as r:
            return r.read().decode()

    def server(self):
        return (f"acme_directory = {self.directory}\n"
                f"acme_ca_file = {self.ca_file}\n"
                "acme_email = hostmaster@example.com\n")


@pytest.fixture
def pebbles(tmp_path):
    started = []

    def factory(http_port, start=True, **kw):
        p = Pebble(tmp_path / f"pebble{len(started)}", http_port, **kw)
        started.append(p)
        return p.start() if start else p

    yield factory
    for p in started:
        p.stop()


def acme_status(w):
    out = subprocess.run([WEIR, "status", "--json", "-s", str(w.state_dir / "admin.sock")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return {a["site"]: a for a in json.loads(out.stdout)["acme"]}


def event(w, eid, after=0):
    ev = [e for e in w.events() if e["id"] == eid]
    return ev[after] if len(ev) > after else None


def pem_certs(text):
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", text, re.S)


def verify_chain(tmp_path, pem_file, root_pem, host="localhost"):
    """openssl verify: the leaf against pebble's root, with the file's
    other certificates as the chain, for the host name."""
    certs = pem_certs(pem_file.read_text())
    assert len(certs) >= 2, "leaf and intermediate"
    (tmp_path / "leaf.pem").write_text(certs[0])
    (tmp_path / "chain.pem").write_text("".join(certs[1:]))
    (tmp_path / "root.pem").write_text(root_pem)
    r = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"),
                        "-untrusted", str(tmp_path / "chain.pem"), "-verify_hostname", host,
                        str(tmp_path / "leaf.pem")], capture_output=True, text=True, timeout=30)
    return r.returncode == 0, r.stdout + r.stderr


def issuer_subject(pem_text):
    r = subprocess.run(["openssl", "x509", "-noout", "-issuer", "-subject", "-serial"],
                       input=pem_certs(pem_text)[0], capture_output=True, text=True, timeout=30)
    return r.stdout


def tls_server(p, tls_port):
    return p.server() + f"listen = 127.0.0.1:{tls_port} tls\n"


def tls_connect(port, cadata=None):
    """A TLS connection with SNI localhost: verified against cadata (pebble's
    root) when given, else not verified (to look at a self-signed one)."""
    ctx = ssl.create_default_context(cadata=cadata) if cadata else \
        ssl._create_unverified_context()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(s, server_hostname="localhost")


def peer_serial(conn):
    der = conn.getpeercert(binary_form=True)
    r = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial", "-issuer",
                        "-subject"], input=der, capture_output=True, timeout=30)
    return r.stdout.decode()


def get_hello(conn):
    conn.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
    data = b""
    while b"hello, world\n" not in data:
        d = conn.recv(65536)
        assert d, data
        data += d
    return data


def wait_served(w, serial):
    """The front end takes a new certificate asynchronously after the
    event: wait until new handshakes get it."""
    def served():
        with tls_connect(w.tls_port) as c:
            return f"serial={serial}" in peer_serial(c)
    wait_for(served, what=f"certificate {serial} on new connections")


def issued_weir(make_weir, pebbles, site, **pebble_kw):
    port, tls_port = free_port(), free_port()
    p = pebbles(port, **pebble_kw)
    w = make_weir(SITE.format(root=site), port=port, server_extra=tls_server(p, tls_port))
    w.tls_port = tls_port
    wait_for(lambda: event(w, 1330) or event(w, 1332), timeout=60, what="the first order")
    assert event(w, 1330), w.events()
    wait_served(w, event(w, 1330)["serial"])
    return w, p


def test_fresh_site_gets_its_certificate(make_weir, pebbles, site, tmp_path):
    port, tls_port = free_port(), free_port()
    # pebble rejects 30% of good nonces here: every one is retried (badNonce)
    p = pebbles(port, start=False, env={"PEBBLE_WFE_NONCEREJECT": "30"})
    w = make_weir(SITE.format(root=site), port=port, server_extra=tls_server(p, tls_port))
    acme = w.state_dir / "acme"
    # before (the CA not up yet): the temporary certificate the master made,
    # self-signed for the hosts, served over TLS
    wait_for(lambda: event(w, 1332), timeout=60, what="the first order to fail")
    info = issuer_subject((acme / "shop.self.pem").read_text())
    assert "issuer=CN = localhost" in info and "subject=CN = localhost" in info, info
    with tls_connect(tls_port) as c:
        served = peer_serial(c)
        assert re.search(r"serial=\w+", served).group(0) in info, (served, info)
        assert "issuer=CN = localhost" in served
        assert get_hello(c).startswith(b"HTTP/1.1 200")
    assert acme_status(w)["shop"]["self_signed"]
    # the CA comes up; an order now
    p.start()
    assert cli(w, "acme", "renew", "shop").returncode == 0
    wait_for(lambda: event(w, 1330) or event(w, 1332, 1), timeout=60, what="the order")
    assert event(w, 1330), w.events()
    w.tls_port = tls_port
    wait_served(w, event(w, 1330)["serial"])
    # after: pebble's, verified against pebble's root for the site's host, in
    # the file and on the wire (a TLS client with SNI that trusts only that root)
    ok, why = verify_chain(tmp_path, acme / "shop.pem", p.root_pem())
    assert ok, why
    with tls_connect(tls_port, cadata=p.root_pem()) as c:
        assert f"serial={event(w, 1330)['serial']}" in peer_serial(c)
        assert get_hello(c).startswith(b"HTTP/1.1 200")
    assert oct((acme / "shop.pem").stat().st_mode & 0o777) == "0o600"
    assert oct((acme / "account.key").stat().st_mode & 0o777) == "0o600"
    ev = event(w, 1330)
    assert ev["site"] == "shop" and "Pebble Intermediate" in ev["issuer"]
    # renewal two thirds into the lifetime
    nb = time.time()
    na = time.mktime(time.strptime(ev["not_after"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    ra = time.mktime(time.strptime(ev["renew_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs((ra - nb) / (na - nb) - 2 / 3) < 0.01
    st = acme_status(w)["shop"]
    assert st["state"] == "valid" and not st["self_signed"] and st["serial"] == ev["serial"]
    assert st["next_attempt"] == ev["renew_at"] and st["failures"] == 0
    # the CA validated the challenge at weir's own front end
    wait_for(lambda: re.search(r"GET /\.well-known/acme-challenge/\S+ .* 200 ", w.access_log()),
             what="the challenge in access.log")
    assert "shop" in cli(w, "status").stdout
    # a restarted weir takes the stored certificate and orders nothing
    w.stop()
    w.start()
    st = acme_status(w)["shop"]
    assert st["state"] == "valid" and st["serial"] == ev["serial"] and st["helper_pid"] is None
    assert [e["id"] for e in w.events()].count(1330) == 1


def test_forced_renewal_replaces_it_without_dropping_a_connection(make_weir, pebbles, site):
    w, p = issued_weir(make_weir, pebbles, site)
    first = event(w, 1330)["serial"]
    old_pem = (w.state_dir / "acme" / "shop.pem").read_text()
    root = p.root_pem()
    conn = tls_connect(w.tls_port, cadata=root)      # keep-alive, over TLS
    assert f"serial={first}" in peer_serial(conn)
    get_hello(conn)
    r = cli(w, "acme", "renew", "shop")
    assert r.returncode == 0 and "started" in r.stdout, (r.stdout, r.stderr)
    ev = wait_for(lambda: event(w, 1331) or event(w, 1332), timeout=60, what="the renewal")
    assert ev["id"] == 1331, ev
    assert ev["previous_serial"] == first and ev["serial"] != first
    assert (w.state_dir / "acme" / "shop.pem").read_text() != old_pem
    assert acme_status(w)["shop"]["serial"] == ev["serial"]
    # new handshakes get the new certificate; the connection opened before
    # is still served, with the certificate it was made with
    wait_served(w, ev["serial"])
    with tls_connect(w.tls_port, cadata=root) as c:     # verified, with SNI
        assert get_hello(c).startswith(b"HTTP/1.1 200")
    for _ in range(3):
        assert get_hello(conn).startswith(b"HTTP/1.1 200")
    assert f"serial={first}" in peer_serial(conn)
    conn.close()
    # a second forced renewal while one runs is refused; an unknown site is 404
    r = cli(w, "acme", "renew", "nosuch")
    assert r.returncode != 0 and "no certificate = acme" in r.stderr


def test_unreachable_ca_fails_with_back_off_and_keeps_the_certificate(make_weir, pebbles, site):
    w, p = issued_weir(make_weir, pebbles, site)
    serial = event(w, 1330)["serial"]
    pem = (w.state_dir / "acme" / "shop.pem").read_text()
    p.stop()
    t0 = time.time()
    assert cli(w, "acme", "renew", "shop").returncode == 0
    ev = wait_for(lambda: event(w, 1332), timeout=60, what="the failure event")
    assert ev["level"] == "warning" and ev["serving"] == "previous certificate"
    assert "connect 127.0.0.1" in ev["detail"] and "refused" in ev["detail"], ev
    assert ev["failures"] == 1 and 54 <= ev["retry_in_s"] <= 67, ev
    st = acme_status(w)["shop"]
    assert st["state"] == "failed" and st["serial"] == serial and st["failures"] == 1
    nxt = time.mktime(time.strptime(st["next_attempt"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert 50 <= nxt - t0 <= 70, st
    assert "back-off" in cli(w, "status").stdout
    assert (w.state_dir / "acme" / "shop.pem").read_text() == pem
    # the site still serves, with the certificate it had
    with tls_connect(w.tls_port) as c:
        assert f"serial={serial}" in peer_serial(c)
        assert get_hello(c).startswith(b"HTTP/1.1 200")
    # a second failure doubles the back-off
    assert cli(w, "acme", "renew", "shop").returncode == 0
    ev = wait_for(lambda: event(w, 1332, 1), timeout=60, what="the second failure")
    assert ev["failures"] == 2 and 108 <= ev["retry_in_s"] <= 133, ev


def test_ca_problem_detail_reaches_the_event(make_weir, pebbles, site):
    """The CA refuses the order (pebble does not issue for an IP address as
    a DNS name): 1332 carries its problem document."""
    port = free_port()
    p = pebbles(port)
    w = make_weir(SITE.replace("hosts = localhost", "hosts = localhost, 127.0.0.1")
                  .format(root=site), port=port, server_extra=p.server())
    ev = wait_for(lambda: event(w, 1332), timeout=60, what="the failure event")
    assert ev["level"] == "error" and ev["serving"] == "self-signed"
    assert ev["problem"] and ev["problem"]["type"].startswith("urn:ietf:params:acme:error:"), ev
    assert ev["problem"]["detail"] and ev["problem"]["detail"].strip() in ev["detail"]
    assert "\n" not in ev["message"]
    st = acme_status(w)["shop"]
    assert st["self_signed"] and st["state"] == "failed"


@pytest.mark.parametrize("hosts,listen,msg", [
    ("*.example.com", "", "is a wildcard, which HTTP-01 cannot prove"),
    (None, "", "certificate = acme needs hosts"),
    ("example.com", "tls", "needs a cleartext listen address"),
])
def test_config_errors(tmp_path, hosts, listen, msg):
    port = free_port()
    conf = tmp_path / "weir.conf"
    (tmp_path / "c.pem").write_text("")
    conf.write_text(f"[server]\nlisten = 127.0.0.1:{port} {listen}\n"
                    f"state_dir = {tmp_path}/run\nlog_dir = {tmp_path}/log\n"
                    f"[site shop]\n" + (f"hosts = {hosts}\n" if hosts else "") +
                    "certificate = acme\n")
    r = subprocess.run([WEIR, "check", "-c", str(conf)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0
    assert re.search(rf"weir.conf:\d+: .*{re.escape(msg)}", r.stderr), r.stderr


def test_admin_api_renew(make_weir, site):
    w = make_weir(f"[site main]\nroot = {site}\n")
    r = cli(w, "acme", "renew", "main")
    assert r.returncode != 0 and "has no certificate = acme" in r.stderr
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                          "--unix-socket", str(w.state_dir / "admin.sock"),
                          "http://weir/acme/main/renew"], capture_output=True, text=True,
                         timeout=30)
    assert out.stdout == "405"
