"""TLS session tickets across resumptions (issue 13).

A TLS 1.3 client must not show a ticket twice (RFC 8446, appendix C.4), and
OpenSSL's clients do not: a client that resumed gets a fresh ticket from
weir for its next connection, or every other connection of it would be a
full handshake.  bench/tls.py's tls-resume scenario found it (wrk resumed
only every other connection); this is the same check with Python's ssl.
"""
import socket
import ssl
import subprocess

from conftest import free_port


def make_pair(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


def client(version):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


def connect(ctx, port, session):
    """One connection with one request; (resumed?, its session afterwards)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
            s.sendall(b"GET /f.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"hello\n"), data[:200]
            return s.session_reused, s.session


def resumption_chain(port, version, n=5):
    """n connections, each offering the session the previous one ended with."""
    out, session, ctx = [], None, client(version)
    for _ in range(n):
        reused, session = connect(ctx, port, session)
        out.append((reused, session.id))
    return out


def test_every_resumption_gets_a_fresh_ticket(tmp_path, make_weir):
    cert, key = make_pair(tmp_path)
    www = tmp_path / "www"
    www.mkdir()
    (www / "f.txt").write_text("hello\n")
    tls_port = free_port()
    make_weir(f"[site s]\nlisten = 127.0.0.1:{tls_port} tls\nhosts = localhost\n"
              f"root = {www}\ncertificate = {cert}\ncertificate_key = {key}\n")
    chain = resumption_chain(tls_port, ssl.TLSVersion.TLSv1_3)
    assert [r for r, _ in chain] == [False] + [True] * 4, chain
    ids = [i for _, i in chain]
    assert len(set(ids)) == len(ids), f"a ticket was handed out twice: {ids}"
    # TLS 1.2: the ticket may be kept (RFC 5077), every connection resumes
    chain = resumption_chain(tls_port, ssl.TLSVersion.TLSv1_2)
    assert [r for r, _ in chain] == [False] + [True] * 4, chain
