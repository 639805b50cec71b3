"""Channel binding for applications: what the front end tells a pool about a
TLS connection, client certificates, https_redirect and hsts.

Each binding is checked against the value the client computes on its own
side of the same connection: for TLS 1.3 `openssl s_client -keymatexport
EXPORTER-Channel-Binding` (Python's ssl cannot export keying material), for
TLS 1.2 Python's `get_channel_binding("tls-unique")`; tls-server-end-point
against the SHA-256 of the certificate the client received.  The app is
tests/apps/bound_token.py under gunicorn (the example of docs/tls.md), a
PHP pool (php-cgi) shows the FastCGI variables.  Certificates come from
test_tls.py's Certs (a CA, leaves made with the openssl command), plus a
second CA for clients.
"""
import base64
import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import urllib.parse

import pytest

from conftest import SRC, WEIR, free_port
from test_tls import Certs, client_ctx, handshake, start_tls, tls_site

PY = "/usr/bin/python3"
GUNICORN = f"{PY} -m gunicorn -w 1 --chdir {SRC}/tests/apps bound_token:app"
PHP = "/usr/bin/php-cgi"
SPOOF = {"X-TLS-Exporter": "forged", "X-TLS-Client-S-DN": "CN=admin",
         "X-TLS-Client-Verify": "SUCCESS", "X-TLS-Anything": "x", "x-tls-protocol": "TLSv9"}
# $_SERVER has php-cgi's environment too (SSL_CERT_FILE and SSL_CERT_DIR
# here): only the request's variables
DUMP_PHP = ("<?php header('Content-Type: application/json'); $o = array();"
            " foreach ($_SERVER as $k => $v) { if (getenv($k, true) === false &&"
            " strncmp($k, 'SSL_', 4) == 0 ||"
            " strncmp($k, 'HTTP_X_TLS', 10) == 0 || $k == 'HTTPS' || $k == 'REQUEST_SCHEME')"
            " $o[$k] = $v; } echo json_encode($o);")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    c = Certs(d)
    c.a = c.leaf("a-ecdsa", ["a.test"])
    c.m = c.leaf("m-ecdsa", ["m.test"])
    c.o = c.leaf("o-ecdsa", ["o.test"])
    # clients' CA and a client certificate it issued; another CA's client
    cd = d / "clients"
    cd.mkdir()
    c.clients = Certs(cd)
    c.alice = c.clients.leaf("alice", ["alice.example"])
    od = d / "others"
    od.mkdir()
    c.mallory = Certs(od).leaf("mallory", ["mallory.example"])
    return c


@pytest.fixture
def php_root(tmp_path):
    root = tmp_path / "php"
    root.mkdir()
    (root / "tls.php").write_text(DUMP_PHP)
    (root / "hello.txt").write_text("hello, world\n")
    os.chmod(root, 0o755)
    return root


def sites(root, certs, a_extra="", m_verify="required"):
    """Site a (no client certificates), m (client_verify = m_verify) and o
    (optional), each with the gunicorn app under /app and PHP files."""
    pools = (f"[pool app]\ncommand = {GUNICORN}\n"
             f"[pool php]\nkind = fastcgi\ncommand = {PHP} -d display_errors=0\n")
    common = "app = /app app\nscript = .php php\n"
    ca = f"client_ca = {certs.clients.ca}\n"
    return (pools +
            tls_site("a", root, [certs.a], "a.test", common + a_extra) +
            tls_site("m", root, [certs.m], "m.test", common + ca + f"client_verify = {m_verify}\n") +
            tls_site("o", root, [certs.o], "o.test", common + ca + "client_verify = optional\n"))


def request(t, path, host, headers=None, method="GET"):
    """One request on socket t (kept open): (status, headers with lower-case
    names, body); any framing (PHP's answers come chunked)."""
    hs = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    t.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{hs}\r\n".encode())
    r = http.client.HTTPResponse(t, method=method)
    r.begin()
    body = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def connect(w, certs, name, ctx=None):
    return handshake(w, certs, name, ctx=ctx)


def curl(w, certs, url, *args):
    r = subprocess.run(["curl", "-sS", "--cacert", str(certs.ca),
                        "--resolve", f"a.test:{w.tls}:127.0.0.1",
                        "--resolve", f"m.test:{w.tls}:127.0.0.1",
                        "--resolve", f"o.test:{w.tls}:127.0.0.1", *args, url],
                       capture_output=True, timeout=60)
    return r


def b64(raw):
    return base64.b64encode(raw).decode()


# --- the bindings equal the client's -----------------------------------------------

def test_tls13_exporter_equals_the_clients(make_weir, php_root, certs):
    w = start_tls(make_weir, sites(php_root, certs))
    req = b"GET /app/tls HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{w.tls}",
                        "-servername", "a.test", "-CAfile", str(certs.ca), "-tls1_3",
                        "-keymatexport", "EXPORTER-Channel-Binding", "-keymatexportlen", "32",
                        "-ign_eof"], input=req, capture_output=True, timeout=30)
    out = r.stdout.decode(errors="replace")
    m = re.search(r"Keying material:\s*([0-9A-Fa-f]{64})", out)
    assert m, out
    # the response body; s_client may print a ticket's hex dump after it
    got = json.JSONDecoder().raw_decode(out[out.index('{"HTTP_'):])[0]
    assert got["HTTP_X_TLS_EXPORTER"] == b64(bytes.fromhex(m.group(1)))
    assert got["HTTP_X_TLS_PROTOCOL"] == "TLSv1.3"
    assert got["HTTP_X_TLS_SNI"] == "a.test"
    assert got["HTTP_X_FORWARDED_PROTO"] == "https"
    assert got["HTTP_X_TLS_CIPHER"].startswith("TLS_")
    assert "HTTP_X_TLS_UNIQUE" not in got     # undefined for TLS 1.3 (RFC 9266)
    assert got["HTTP_X_TLS_CLIENT_VERIFY"] == "NONE"


def test_tls12_unique_and_end_point_equal_the_clients(make_weir, php_root, certs):
    w = start_tls(make_weir, sites(php_root, certs))
    ctx = client_ctx(certs)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with connect(w, certs, "a.test", ctx) as t:
        unique = t.get_channel_binding("tls-unique")
        der = t.getpeercert(binary_form=True)
        st, _, body = request(t, "/app/tls", "a.test")
        assert st == 200
        got = json.loads(body)
        assert got["HTTP_X_TLS_UNIQUE"] == b64(unique)
        assert got["HTTP_X_TLS_PROTOCOL"] == "TLSv1.2"
        assert "HTTP_X_TLS_EXPORTER" not in got
        # ecdsa-with-SHA256: SHA-256 of the certificate (RFC 5929 §4.1)
        assert got["HTTP_X_TLS_SERVER_END_POINT"] == b64(hashlib.sha256(der).digest())
        # a second request on the connection: the same values (kept, not recomputed)
        st, _, body2 = request(t, "/app/tls", "a.test")
        assert st == 200 and json.loads(body2) == got
        session = t.session
    # a new connection has a binding of its own
    with connect(w, certs, "a.test", ctx) as t2:
        st, _, body = request(t2, "/app/tls", "a.test")
        assert json.loads(body)["HTTP_X_TLS_UNIQUE"] == b64(t2.get_channel_binding("tls-unique"))
        assert json.loads(body)["HTTP_X_TLS_UNIQUE"] != got["HTTP_X_TLS_UNIQUE"]
    # a resumed (abbreviated) handshake: the server's Finished comes first
    s = socket.create_connection(("127.0.0.1", w.tls), timeout=10)
    with ctx.wrap_socket(s, server_hostname="a.test", session=session) as t4:
        assert t4.session_reused
        st, _, body = request(t4, "/app/tls", "a.test")
        assert json.loads(body)["HTTP_X_TLS_UNIQUE"] == b64(t4.get_channel_binding("tls-unique"))
    # TLS 1.3 too has tls-server-end-point
    with connect(w, certs, "a.test") as t3:
        der = t3.getpeercert(binary_form=True)
        st, _, body = request(t3, "/app/tls", "a.test")
        assert json.loads(body)["HTTP_X_TLS_SERVER_END_POINT"] == b64(hashlib.sha256(der).digest())


def test_bound_token_is_refused_on_another_connection(make_weir, php_root, certs):
    w = start_tls(make_weir, sites(php_root, certs))
    for maxv in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        ctx = client_ctx(certs)
        ctx.maximum_version = maxv
        with connect(w, certs, "a.test", ctx) as t:
            st, _, token = request(t, "/app/login?user=alice", "a.test", method="POST",
                                   headers={"Content-Length": "0"})
            assert st == 200 and token.startswith(b"alice."), token
            auth = {"Authorization": "Bearer " + token.decode()}
            assert request(t, "/app/me", "a.test", auth)[::2] == (200, b"alice")
            with connect(w, certs, "a.test", ctx) as other:
                st, _, body = request(other, "/app/me", "a.test", auth)
                assert st == 401, body
            # still good where it was issued
            assert request(t, "/app/me", "a.test", auth)[0] == 200
    # over cleartext there is nothing to bind to
    with socket.create_connection(("127.0.0.1", w.port), timeout=10) as s:
        assert request(s, "/app/login?user=alice", "a.test", method="POST",
                       headers={"Content-Length": "0"})[0] == 403


# --- a client cannot speak for weir -----------------------------------------------------

def test_spoofed_tls_headers_never_reach_the_app(make_weir, php_root, certs):
    w = start_tls(make_weir, sites(php_root, certs))
    with socket.create_connection(("127.0.0.1", w.port), timeout=10) as s:
        st, _, body = request(s, "/app/tls", "a.test", SPOOF)
        assert st == 200
        assert json.loads(body) == {"HTTP_X_FORWARDED_PROTO": "http"}, body
        st, _, body = request(s, "/tls.php", "a.test", SPOOF)
        assert st == 200
        got = json.loads(body)
        assert got == {"REQUEST_SCHEME": "http"}, got
    with connect(w, certs, "a.test") as t:
        st, _, body = request(t, "/app/tls", "a.test", SPOOF)
        got = json.loads(body)
        assert got["HTTP_X_TLS_EXPORTER"] != "forged"
        assert got["HTTP_X_TLS_CLIENT_VERIFY"] == "NONE"
        assert got["HTTP_X_TLS_PROTOCOL"] == "TLSv1.3"
        assert "HTTP_X_TLS_ANYTHING" not in got and "HTTP_X_TLS_CLIENT_S_DN" not in got
        st, _, body = request(t, "/tls.php", "a.test", SPOOF)
        got = json.loads(body)
        assert not [k for k in got if k.startswith("HTTP_X_TLS")], got
        assert got["HTTPS"] == "on" and got["SSL_CLIENT_VERIFY"] == "NONE"
        assert got["SSL_PROTOCOL"] == "TLSv1.3" and len(base64.b64decode(got["SSL_TLS_EXPORTER"])) == 32


# --- client certificates --------------------------------------------------------------------

def client_der_and_pem(certs):
    pem = certs.alice[0].read_text()
    leaf = pem[:pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")] + "\n"
    return ssl.PEM_cert_to_DER_cert(leaf), leaf


def check_alice(got, certs, prefix):
    der, pem = client_der_and_pem(certs)
    serial = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", str(certs.alice[0])],
                            capture_output=True, text=True, check=True).stdout
    assert got[prefix + "VERIFY"] == "SUCCESS"
    assert got[prefix + "S_DN"] == "CN=alice"
    assert got[prefix + "I_DN"] == "CN=weir test CA"
    # whole bytes in hex, as `openssl x509 -serial` and mod_ssl write it
    # (a serial whose first byte is below 0x10 keeps its leading 0)
    assert got[prefix + "SERIAL"] == serial.strip().split("=")[1]
    assert got[prefix + "FINGERPRINT"] == hashlib.sha256(der).hexdigest().upper()
    return pem


def test_mtls_variables_reach_php_and_http_pools(make_weir, php_root, certs):
    w = start_tls(make_weir, sites(php_root, certs))
    cert = ["--cert", str(certs.alice[0]), "--key", str(certs.alice[1])]
    for host in ("m.test", "o.test"):       # required and optional
        r = curl(w, certs, f"https://{host}:{w.tls}/tls.php", *cert)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        got["SSL_CLIENT_SERIAL"] = got.pop("SSL_CLIENT_M_SERIAL")
        pem = check_alice(got, certs, "SSL_CLIENT_")
        assert got["SSL_CLIENT_CERT"] == pem
        assert got["SSL_TLS_SNI"] == host
        r = curl(w, certs, f"https://{host}:{w.tls}/app/tls", *cert)
        got = json.loads(r.stdout)
        pem = check_alice(got, certs, "HTTP_X_TLS_CLIENT_")
        # in a header the PEM is percent-encoded (no line breaks in a field)
        assert urllib.parse.unquote(got["HTTP_X_TLS_CLIENT_CERT"]) == pem
    # site a asks for no certificate: the verify mode follows the site SNI chose
    got = json.loads(curl(w, certs, f"https://a.test:{w.tls}/tls.php", *cert).stdout)
    assert got["SSL_CLIENT_VERIFY"] == "NONE" and "SSL_CLIENT_S_DN" not in got


def test_native_module_gets_the_tls_values(make_weir, tmp_path, certs):
    """The cgi module sets mod_ssl's variables from weir_tls() (module ABI 2)."""
    root = tmp_path / "cgi"
    root.mkdir()
    script = root / "env.sh"
    script.write_text("#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\n"
                      "env | grep -E '^(SSL_|HTTPS=|HTTP_X_TLS)' | sort\n")
    script.chmod(0o755)
    os.chmod(root, 0o755)
    body = ("[pool native]\nkind = native\nmodules = cgi\n"
            f"cgi.root = {root}\ncgi.prefix = /cgi\n" +
            tls_site("a", root, [certs.a], "a.test", "app = /cgi native\n"))
    w = start_tls(make_weir, body)
    with connect(w, certs, "a.test") as t:
        st, _, out = request(t, "/cgi/env.sh", "a.test", SPOOF)
        assert st == 200, out
        env = dict(ln.split("=", 1) for ln in out.decode().splitlines())
        assert env["HTTPS"] == "on" and env["SSL_PROTOCOL"] == "TLSv1.3"
        assert env["SSL_TLS_SNI"] == "a.test" and env["SSL_CLIENT_VERIFY"] == "NONE"
        assert len(base64.b64decode(env["SSL_TLS_EXPORTER"])) == 32
        der = t.getpeercert(binary_form=True)
        assert env["SSL_TLS_SERVER_END_POINT"] == b64(hashlib.sha256(der).digest())
        assert not [k for k in env if k.startswith("HTTP_X_TLS")], env
    with socket.create_connection(("127.0.0.1", w.port), timeout=10) as s:
        st, _, out = request(s, "/cgi/env.sh", "a.test", SPOOF)
        assert st == 200 and out == b"", out


def test_a_client_ca_that_is_no_certificate(tmp_path, certs):
    bad = tmp_path / "notca.pem"
    bad.write_text("not a certificate\n")
    conf = tmp_path / "bad.conf"
    conf.write_text(f"[server]\nlisten = 127.0.0.1:{free_port()} tls\n" +
                    tls_site("m", tmp_path, [certs.m], "m.test",
                             f"client_ca = {bad}\nclient_verify = required\n"))
    r = subprocess.run([WEIR, "check", "-c", str(conf)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1
    assert f"{conf}:3: [site m] client_ca {bad}: no PEM certificate in it" in r.stderr, r.stderr


def test_required_without_certificate_fails_the_handshake(make_weir, php_root, certs):
    w = start_tls(make_weir, sites(php_root, certs))
    r = curl(w, certs, f"https://m.test:{w.tls}/tls.php")
    assert r.returncode != 0 and not r.stdout, r.stdout
    # a certificate from another CA fails it too
    r = curl(w, certs, f"https://m.test:{w.tls}/tls.php",
             "--cert", str(certs.mallory[0]), "--key", str(certs.mallory[1]))
    assert r.returncode != 0 and not r.stdout, r.stdout
    # optional: served, and told there is none
    r = curl(w, certs, f"https://o.test:{w.tls}/tls.php")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["SSL_CLIENT_VERIFY"] == "NONE" and "SSL_CLIENT_S_DN" not in got
    got = json.loads(curl(w, certs, f"https://o.test:{w.tls}/app/tls").stdout)
    assert got["HTTP_X_TLS_CLIENT_VERIFY"] == "NONE" and "HTTP_X_TLS_CLIENT_S_DN" not in got
    # a handshake for site a cannot be used for site m (421), nor cleartext (403)
    with connect(w, certs, "a.test") as t:
        assert request(t, "/tls.php", "m.test")[0] == 421
    with socket.create_connection(("127.0.0.1", w.port), timeout=10) as s:
        assert request(s, "/tls.php", "m.test")[0] == 403


# --- https_redirect and hsts ----------------------------------------------------------------

def test_https_redirect_and_hsts(make_weir, php_root, certs):
    extra = "https_redirect = yes\nhsts = 365d includeSubDomains\n"
    # the test client plays a proxy in front of weir too
    w = start_tls(make_weir, sites(php_root, certs, a_extra=extra),
                  server="trusted_proxies = 127.0.0.1\n")
    with socket.create_connection(("127.0.0.1", w.port), timeout=10) as s:
        st, h, body = request(s, "/app/x?y=1&z", f"a.test:{w.port}")
        assert st == 308 and h["location"] == f"https://a.test:{w.tls}/app/x?y=1&z", h
        assert "strict-transport-security" not in h
        # a trusted proxy that took the request over https: served (no loop)
        st, h, _ = request(s, "/hello.txt", "a.test", {"X-Forwarded-Proto": "https"})
        assert st == 200 and "location" not in h
        st, h, _ = request(s, "/hello.txt", "a.test", method="POST",
                           headers={"Content-Length": "0"})
        assert st == 308 and h["location"] == f"https://a.test:{w.tls}/hello.txt"
        # the ACME challenge stays on http
        st, h, _ = request(s, "/.well-known/acme-challenge/tok", "a.test")
        assert st == 404 and "location" not in h
        # a site without the keys: served over cleartext, no HSTS
        st, h, _ = request(s, "/hello.txt", "o.test")
        assert st == 200 and "strict-transport-security" not in h
    want = "max-age=31536000; includeSubDomains"
    with connect(w, certs, "a.test") as t:
        for path in ("/hello.txt", "/app/tls", "/tls.php", "/nothing-here"):
            st, h, _ = request(t, path, "a.test")
            assert h.get("strict-transport-security") == want, (path, st, h)
    with connect(w, certs, "o.test", client_ctx(certs)) as t:
        st, h, _ = request(t, "/hello.txt", "o.test")
        assert st == 200 and "strict-transport-security" not in h
