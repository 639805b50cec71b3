"""HTTPS in the front end: certificates, SNI, resumption, reload, defaults.

The certificates are made here with the openssl command: a small CA, ECDSA
P-256 leaves for a.test, b.test and c.test, one for the wildcard *.w.test,
an RSA leaf for a.test (a site may have an ECDSA and an RSA certificate; the
client's signature algorithms choose), a second ECDSA one for a.test (a
reload replaces the first), and a key that matches none of them.

Clients are real ones: Python's ssl (certificates, sessions), curl (files,
a pool) and `openssl s_client` (signature algorithms, old versions).
"""
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import SRC, WEIR, free_port, wait_for

PY = "/usr/bin/python3"
APP = f"{PY} {SRC}/tests/apps/app.py"


def sh(*argv, **kw):
    return subprocess.run(list(argv), check=True, capture_output=True, timeout=60, **kw)


class Certs:
    """Certificates under one directory; leaf(name) -> (cert+chain, key)."""

    def __init__(self, d):
        self.d = d
        self.ca_key, self.ca = d / "ca.key", d / "ca.pem"
        sh("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
           "-out", str(self.ca_key))
        sh("openssl", "req", "-x509", "-new", "-key", str(self.ca_key), "-days", "3",
           "-subj", "/CN=weir test CA", "-out", str(self.ca))

    def leaf(self, tag, names, rsa=False):
        key, csr = self.d / f"{tag}.key", self.d / f"{tag}.csr"
        crt, ext, pem = self.d / f"{tag}.crt", self.d / f"{tag}.ext", self.d / f"{tag}.pem"
        if rsa:
            sh("openssl", "genrsa", "-out", str(key), "2048")
        else:
            sh("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
               "-out", str(key))
        sh("openssl", "req", "-new", "-key", str(key), "-subj", f"/CN={tag}",
           "-out", str(csr))
        ext.write_text("subjectAltName=" + ",".join("DNS:" + n for n in names) + "\n")
        sh("openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.ca),
           "-CAkey", str(self.ca_key), "-CAcreateserial", "-days", "2",
           "-extfile", str(ext), "-out", str(crt))
        # the chain in the file: leaf, then the CA
        pem.write_bytes(crt.read_bytes() + self.ca.read_bytes())
        return pem, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    c = Certs(d)
    c.a = c.leaf("a-ecdsa", ["a.test"])
    c.a_rsa = c.leaf("a-rsa", ["a.test"], rsa=True)
    c.a2 = c.leaf("a-ecdsa-2", ["a.test"])
    c.b = c.leaf("b-ecdsa", ["b.test"])
    c.c = c.leaf("c-ecdsa", ["c.test"])
    c.w = c.leaf("w-ecdsa", ["*.w.test"])
    c.other_key = c.leaf("other", ["other.test"])[1]
    return c


def tls_site(name, root, pairs, hosts, extra=""):
    lines = [f"[site {name}]", f"root = {root}"]
    if hosts:
        lines.append(f"hosts = {hosts}")
    for cert, key in pairs:
        lines += [f"certificate = {cert}", f"certificate_key = {key}"]
    return "\n".join(lines) + "\n" + extra


def start_tls(make_weir, body, threads=1, server=""):
    """A weir with a cleartext port (w.port) and a TLS one (w.tls)."""
    tls = free_port()
    w = make_weir(body, threads=threads,
                  server_extra=f"listen = 127.0.0.1:{tls} tls\n{server}")
    w.tls = tls
    return w


def client_ctx(certs, **kw):
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def handshake(w, certs, name, ctx=None, session=None):
    """Connect with SNI `name` (None: no SNI); the TLS socket (caller closes)."""
    if ctx is None:
        ctx = client_ctx(certs)
        if name is None:
            ctx.check_hostname = False
    s = socket.create_connection(("127.0.0.1", w.tls), timeout=10)
    try:
        return ctx.wrap_socket(s, server_hostname=name, session=session)
    except BaseException:
        s.close()
        raise


def peer_cn(w, certs, name, check_hostname=True):
    """The CN of the certificate weir shows for `name`; check_hostname=False
    for names weir matches that a client's rule would not (a wildcard at
    any depth, a name of no site)."""
    ctx = client_ctx(certs)
    ctx.check_hostname = check_hostname and name is not None
    with handshake(w, certs, name, ctx=ctx) as t:
        return dict(x[0] for x in t.getpeercert()["subject"])["commonName"]


def https_get(t, path="/hello.txt", host="a.test"):
    """One request on TLS socket t (kept open); (status, body)."""
    t.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    f = t.makefile("rb")
    status = int(f.readline().split()[1])
    n = 0
    while True:
        ln = f.readline()
        if ln in (b"\r\n", b""):
            break
        k, _, v = ln.decode().partition(":")
        if k.lower() == "content-length":
            n = int(v)
    body = f.read(n)
    f.close()
    return status, body


def s_client(w, *args, stdin=b""):
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{w.tls}",
                        *args], input=stdin, capture_output=True, timeout=30)
    return r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def status(w):
    r = subprocess.run([WEIR, "status", "--json", "-s", str(w.state_dir / "admin.sock")],
                       capture_output=True, text=True, timeout=30)
    return json.loads(r.stdout)


def curl(w, certs, *args):
    return subprocess.run(["curl", "-sS", "--cacert", str(certs.ca),
                           "--resolve", f"a.test:{w.tls}:127.0.0.1", *args],
                          capture_output=True, timeout=60)


def three_sites(site, certs, extra=""):
    return (tls_site("a", site, [certs.a], "a.test") +
            tls_site("b", site, [certs.b], "b.test") +
            tls_site("c", site, [certs.c], "c.test") +
            tls_site("w", site, [certs.w], "*.w.test") + extra)


# --- certificate choice ----------------------------------------------------------

def test_sni_picks_the_site_certificate(make_weir, site, certs):
    w = start_tls(make_weir, three_sites(site, certs))
    assert peer_cn(w, certs, "a.test") == "a-ecdsa"
    assert peer_cn(w, certs, "b.test") == "b-ecdsa"
    assert peer_cn(w, certs, "c.test") == "c-ecdsa"
    assert peer_cn(w, certs, "x.w.test") == "w-ecdsa"
    # the name is matched as the router does: a wildcard at any depth, any
    # case, a final dot
    assert peer_cn(w, certs, "deep.x.w.test", check_hostname=False) == "w-ecdsa"
    assert peer_cn(w, certs, "B.TEST.", check_hostname=False) == "b-ecdsa"
    ctx = client_ctx(certs)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with handshake(w, certs, "a.test", ctx=ctx) as t:
        assert t.selected_alpn_protocol() == "http/1.1"
    # and the request is served by the site of that name
    with handshake(w, certs, "c.test") as t:
        assert https_get(t, host="c.test") == (200, b"hello, world\n")


def test_no_or_unknown_sni_gets_the_default_certificate(make_weir, site, certs):
    w = start_tls(make_weir, three_sites(site, certs))
    # unset: the first site in file order on the address that has one
    assert peer_cn(w, certs, None) == "a-ecdsa"
    assert peer_cn(w, certs, "nobody.test", check_hostname=False) == "a-ecdsa"
    w2 = start_tls(make_weir, three_sites(site, certs), server="default_certificate = c\n")
    assert peer_cn(w2, certs, None) == "c-ecdsa"
    assert peer_cn(w2, certs, "b.test") == "b-ecdsa"


def test_default_certificate_alert_refuses_unknown_names(make_weir, site, certs):
    w = start_tls(make_weir, three_sites(site, certs), server="default_certificate = alert\n")
    for name in (None, "nobody.test"):
        ctx = client_ctx(certs)
        ctx.check_hostname = False
        with pytest.raises(ssl.SSLError) as e:
            handshake(w, certs, name, ctx=ctx).close()
        assert "UNRECOGNIZED_NAME" in str(e.value).upper(), e.value
    assert peer_cn(w, certs, "b.test") == "b-ecdsa"
    wait_for(lambda: status(w)["frontend"]["closed"]["TLS_Handshake_Failed"] >= 2,
             what="refused handshakes counted")


def test_ecdsa_or_rsa_by_the_clients_algorithms(make_weir, site, certs):
    w = start_tls(make_weir, tls_site("a", site, [certs.a, certs.a_rsa], "a.test"))
    common = ["-servername", "a.test", "-CAfile", str(certs.ca)]
    ec = s_client(w, *common, "-sigalgs", "ECDSA+SHA256")
    rsa = s_client(w, *common, "-sigalgs", "RSA-PSS+SHA256")
    assert "Server public key is 256 bit" in ec and "CN = a-ecdsa" in ec, ec
    assert "Server public key is 2048 bit" in rsa and "CN = a-rsa" in rsa, rsa
    # TLS 1.2 by cipher suite
    rsa12 = s_client(w, *common, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
    ec12 = s_client(w, *common, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert "CN = a-rsa" in rsa12 and "Cipher is ECDHE-RSA-AES128-GCM-SHA256" in rsa12, rsa12
    assert "CN = a-ecdsa" in ec12, ec12
    # a client that can do both gets ECDSA (the smaller, faster handshake)
    assert peer_cn(w, certs, "a.test") == "a-ecdsa"


def test_only_tls12_and_tls13(make_weir, site, certs):
    w = start_tls(make_weir, tls_site("a", site, [certs.a], "a.test"))
    for flag in ("-tls1", "-tls1_1"):
        # the client offers it for sure (its own security level would not)
        out = s_client(w, "-servername", "a.test", flag, "-cipher", "DEFAULT@SECLEVEL=0")
        assert "alert protocol version" in out, out
    for flag, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        out = s_client(w, "-servername", "a.test", "-CAfile", str(certs.ca), flag)
        assert f"Protocol  : {name}" in out or f"New, {name}" in out, out
        assert "Verify return code: 0 (ok)" in out, out


# --- serving over TLS ---------------------------------------------------------------

def test_static_files_small_and_large(make_weir, site, certs):
    big = os.urandom(3 * 1024 * 1024 + 12345)
    (site / "big.bin").write_bytes(big)
    w = start_tls(make_weir, tls_site("a", site, [certs.a], "a.test"))
    r = curl(w, certs, f"https://a.test:{w.tls}/hello.txt")
    assert r.returncode == 0 and r.stdout == b"hello, world\n", r
    r = curl(w, certs, f"https://a.test:{w.tls}/big.bin")
    assert r.returncode == 0, r
    assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(big).hexdigest()
    # several on one keep-alive connection, a range too
    r = curl(w, certs, "-w", "%{num_connects}\\n", "-o", "/dev/null", "-o", "/dev/null",
             f"https://a.test:{w.tls}/100k.bin", f"https://a.test:{w.tls}/big.bin")
    assert r.returncode == 0 and r.stdout.split() == [b"1", b"0"], r
    r = curl(w, certs, "-r", "1000-1999", f"https://a.test:{w.tls}/big.bin")
    assert r.stdout == big[1000:2000]


def test_a_pool_over_tls(make_weir, site, certs):
    body = (f"[pool app]\ncommand = {APP}\n" +
            tls_site("a", site, [certs.a], "a.test", "app = /app app\n"))
    w = start_tls(make_weir, body)
    r = curl(w, certs, f"https://a.test:{w.tls}/app/hello")
    assert r.returncode == 0 and r.stdout.startswith(b"hello from "), r
    payload = os.urandom(300 * 1024)
    (w.dir / "payload").write_bytes(payload)
    r = curl(w, certs, "-D", "-", "--data-binary", f"@{w.dir / 'payload'}",
             "-H", "Content-Type: application/octet-stream",
             f"https://a.test:{w.tls}/app/echo", "-o", str(w.dir / "echoed"))
    assert r.returncode == 0, r
    assert (w.dir / "echoed").read_bytes() == payload
    r = curl(w, certs, f"https://a.test:{w.tls}/app/big?mb=4")
    assert r.returncode == 0 and r.stdout == b"y" * (4 << 20)


def test_plain_http_on_the_tls_port(make_weir, site, certs):
    w = start_tls(make_weir, tls_site("a", site, [certs.a], "a.test"))
    with socket.create_connection(("127.0.0.1", w.tls), timeout=10) as s:
        s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: a.test\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    assert data.startswith(b"HTTP/1.1 400 "), data
    assert b"Connection: close" in data
    assert b"plain HTTP request was sent to an HTTPS port" in data
    wait_for(lambda: "Plain_HTTP_To_HTTPS" in w.httperr_log(), what="httperr line")


def test_unfinished_handshake_is_closed_after_handshake_timeout(make_weir, site, certs):
    w = start_tls(make_weir, tls_site("a", site, [certs.a], "a.test"),
                  server="handshake_timeout = 1s\n")
    socks = [socket.create_connection(("127.0.0.1", w.tls), timeout=10) for _ in range(2)]
    try:
        socks[1].sendall(b"\x16\x03\x01\x02\x00\x01")   # half a ClientHello
        t0 = time.monotonic()
        for s in socks:
            s.settimeout(8)
            try:
                assert s.recv(100) == b""
            except ConnectionResetError:
                pass
        assert 0.8 < time.monotonic() - t0 < 6
    finally:
        for s in socks:
            s.close()
    wait_for(lambda: status(w)["frontend"]["closed"]["Timer_TlsHandshake"] == 2,
             what="timeouts counted")
    # the others are not held up: a full handshake meanwhile works
    assert peer_cn(w, certs, "a.test") == "a-ecdsa"


# --- resumption ---------------------------------------------------------------------

def resumed(w, certs, sess):
    with handshake(w, certs, "a.test", ctx=resumed.ctx, session=sess) as t:
        st, _ = https_get(t)
        assert st == 200
        return t.session_reused


def test_tickets_resume_across_threads_and_a_frontend_restart(make_weir, site, certs):
    w = start_tls(make_weir, tls_site("a", site, [certs.a], "a.test"), threads=2)
    ctx = resumed.ctx = client_ctx(certs)
    with handshake(w, certs, "a.test", ctx=ctx) as t:
        assert https_get(t)[0] == 200      # the ticket comes after the handshake
        sess = t.session
        assert not t.session_reused
    assert sess is not None and sess.has_ticket
    # SO_REUSEPORT spreads new connections over both threads
    assert all(resumed(w, certs, sess) for _ in range(24))
    # TLS 1.2 too (its ticket, encrypted with the same keys)
    ctx12 = client_ctx(certs, maximum_version=ssl.TLSVersion.TLSv1_2)
    with handshake(w, certs, "a.test", ctx=ctx12) as t:
        sess12 = t.session
    with handshake(w, certs, "a.test", ctx=ctx12, session=sess12) as t:
        assert t.session_reused and t.version() == "TLSv1.2"
    # the front end dies; the master starts another with the same ticket keys
    old = status(w)["frontend"]["pid"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: status(w)["frontend"].get("pid") not in (None, old), timeout=20,
             what="a new front end")
    wait_for(lambda: _try_resume(w, certs, sess) is not None, timeout=20,
             what="the new front end to serve")
    assert resumed(w, certs, sess)
    assert all(resumed(w, certs, sess) for _ in range(8))


def _try_resume(w, certs, sess):
    try:
        return resumed(w, certs, sess)
    except OSError:
        return None


# --- reload, checks, keys -----------------------------------------------------------

def reload(w):
    return subprocess.run([WEIR, "reload", "-s", str(w.state_dir / "admin.sock")],
                          capture_output=True, text=True, timeout=30)


def rewrite(w, old, new):
    text = w.conf_path.read_text()
    assert old in text
    w.conf_path.write_text(text.replace(old, new))


def test_reload_with_a_new_certificate(make_weir, site, certs):
    w = start_tls(make_weir, tls_site("a", site, [certs.a], "a.test"))
    keep = handshake(w, certs, "a.test")
    try:
        assert https_get(keep) == (200, b"hello, world\n")
        rewrite(w, f"certificate = {certs.a[0]}\ncertificate_key = {certs.a[1]}",
                f"certificate = {certs.a2[0]}\ncertificate_key = {certs.a2[1]}")
        r = reload(w)
        assert r.returncode == 0, r
        wait_for(lambda: peer_cn(w, certs, "a.test") == "a-ecdsa-2",
                 what="new connections get the new certificate")
        # the open connection keeps its certificate and goes on
        assert dict(x[0] for x in keep.getpeercert()["subject"])["commonName"] == "a-ecdsa"
        for _ in range(3):
            assert https_get(keep) == (200, b"hello, world\n")
    finally:
        keep.close()


def test_a_key_that_does_not_match(make_weir, site, certs, tmp_path):
    bad = tls_site("a", site, [(certs.a[0], certs.other_key)], "a.test")
    conf = tmp_path / "bad.conf"
    conf.write_text(f"[server]\nlisten = 127.0.0.1:{free_port()} tls\n" + bad)
    r = subprocess.run([WEIR, "check", "-c", str(conf)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1
    assert (f"{conf}:7: certificate_key {certs.other_key} does not match certificate "
            f"{certs.a[0]}") in r.stderr, r.stderr
    # a reload to it is refused: the running certificate keeps serving
    w = start_tls(make_weir, tls_site("a", site, [certs.a], "a.test"))
    rewrite(w, f"certificate_key = {certs.a[1]}", f"certificate_key = {certs.other_key}")
    r = reload(w)
    assert r.returncode != 0
    assert "does not match certificate" in r.stdout + r.stderr
    ev = [e for e in w.events() if e["id"] == 1304]
    assert ev and any("does not match" in m for m in ev[-1]["errors"]), ev
    assert peer_cn(w, certs, "a.test") == "a-ecdsa"


def test_a_root_only_key_while_the_front_end_is_unprivileged(make_weir, site, certs, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: the key is made root's own, mode 0600")
    key = tmp_path / "secret.key"
    shutil.copy(certs.a[1], key)
    os.chown(key, 0, 0)
    os.chmod(key, 0o600)
    w = start_tls(make_weir, tls_site("a", site, [(certs.a[0], key)], "a.test"))
    fe = status(w)["frontend"]["pid"]
    with open(f"/proc/{fe}/status") as f:
        uids = [ln.split()[1:] for ln in f if ln.startswith("Uid:")][0]
    assert all(u != "0" for u in uids), uids
    assert peer_cn(w, certs, "a.test") == "a-ecdsa"
    with handshake(w, certs, "a.test") as t:
        assert https_get(t) == (200, b"hello, world\n")
