"""Trailer fields end to end (RFC 9110 §6.5, RFC 9112 §7.1.2, RFC 9113 §8.1).

A pool's worker (tests/apps/trailers_app.py, an HTTP/1.1 upstream) answers
chunked with a trailer section that holds fields weir forwards (x-checksum
of the body, grpc-status, X-Mixed-Case) and fields it never forwards
(content-length, transfer-encoding, set-cookie, host, authorization,
connection, te, content-type, x-forwarded-for, trailer).  Checked:
  - HTTP/1.1 with `TE: trailers`: the client gets exactly the allowed
    trailers (names lowercase) and the body intact by hash; the worker was
    told `TE: trailers` (and only that member);
  - HTTP/1.1 without TE: no trailer section, no Trailer field, body intact;
  - HTTP/2 (h2c, python3-h2): a trailing HEADERS frame that ends the stream,
    with the allowed fields only;
  - request trailers, HTTP/1.1 chunked and HTTP/2 trailing HEADERS, reach
    the worker filtered, with request_buffering on (the default: the body
    goes on chunked because it has trailers) and off; a buffered chunked
    body without trailers still goes with Content-Length; an HTTP/2 body
    with content-length has no place for them (dropped);
  - a trailer section over the limit (8 KiB) is a 400.
"""
import hashlib
import json
import socket

import pytest

from conftest import SRC, free_port, recv_to_eof

h2 = pytest.importorskip("h2")
from test_http2 import Client, h2conf  # noqa: E402

APP = f"/usr/bin/python3 {SRC}/tests/apps/trailers_app.py"
ALLOWED = {"x-checksum", "grpc-status", "x-mixed-case"}


def pattern(n):
    unit = bytes(range(256))
    return (unit * (n // 256 + 1))[:n]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def start(make_weir, pool_keys=""):
    """weir with the trailers app as pool t for every path, and an h2c listener."""
    port = free_port()
    c = h2conf(port, "", f"[pool t]\ncommand = {APP}\n{pool_keys}"
               "[site main]\napp = / t\n")
    w = make_weir(c["conf_body"], server_extra=c["server_extra"])
    w.h2port = port
    return w


def exchange(port, req, timeout=20):
    """Send one request (it asks the server to close), read to EOF."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(req)
        return recv_to_eof(s)


def parse_chunked(data):
    """(status, headers, body, trailers [(name, value)]) of one response:
    chunked (decoded) or Content-Length."""
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    hs = {}
    for ln in lines[1:]:
        k, v = ln.split(":", 1)
        hs[k.strip().lower()] = v.strip()
    if hs.get("transfer-encoding") != "chunked":
        return status, hs, rest[:int(hs.get("content-length", "0"))], []
    body = bytearray()
    while True:
        line, rest = rest.split(b"\r\n", 1)
        n = int(line.split(b";")[0], 16)
        if n == 0:
            break
        body += rest[:n]
        assert rest[n:n + 2] == b"\r\n", "chunk not ended by CRLF"
        rest = rest[n + 2:]
    trailers = []
    while True:
        line, rest = rest.split(b"\r\n", 1)
        if line == b"":
            break
        k, v = line.decode("latin-1").split(":", 1)
        trailers.append((k, v.strip()))
    assert rest == b"", f"bytes after the trailer section: {rest!r}"
    return status, hs, bytes(body), trailers


def get_h1(w, size, te=None):
    te_line = f"TE: {te}\r\nConnection: TE, close\r\n" if te else "Connection: close\r\n"
    data = exchange(w.port, (f"GET /trailers?size={size} HTTP/1.1\r\nHost: a\r\n"
                             f"{te_line}\r\n").encode())
    return parse_chunked(data)


def test_h1_response_trailers_with_te(make_weir):
    w = start(make_weir)
    size = 300_000
    status, hs, body, trailers = get_h1(w, size, te="gzip;q=0.5, trailers")
    assert status == 200
    assert sha(body) == sha(pattern(size))
    # exactly the allowed fields, names lowercased, forbidden ones gone
    assert dict(trailers) == {"x-checksum": sha(pattern(size)), "grpc-status": "0",
                              "x-mixed-case": "Yes"}, trailers
    assert len(trailers) == 3
    # the worker was told the client takes trailers, and nothing of gzip
    assert hs["x-saw-te"] == "trailers"
    assert hs["trailer"] == "x-checksum, grpc-status, X-Mixed-Case"


def test_h1_response_trailers_dropped_without_te(make_weir):
    w = start(make_weir)
    status, hs, body, trailers = get_h1(w, 50_000)
    assert status == 200 and hs["transfer-encoding"] == "chunked"
    assert sha(body) == sha(pattern(50_000))
    assert trailers == []
    assert "trailer" not in hs and hs["x-saw-te"] == "-"
    # HTTP/1.0: close-delimited, nothing of a trailer section in the body
    data = exchange(w.port, b"GET /trailers?size=5000 HTTP/1.0\r\nHost: a\r\n"
                    b"TE: trailers\r\n\r\n")
    head, body = data.split(b"\r\n\r\n", 1)
    assert b" 200 " in head.split(b"\r\n")[0] and body == pattern(5000)


def chunked_body(data, trailers, piece=10_000):
    out = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + piece]), data[i:i + piece])
                   for i in range(0, len(data), piece))
    return out + b"0\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in trailers) + b"\r\n"


REQ_TRAILERS = [("X-Sig", "abc123"), ("Content-Length", "1"), ("Host", "evil"),
                ("Authorization", "Bearer x"), ("X-Forwarded-For", "6.6.6.6"),
                ("Grpc-Timeout", " 5S ")]
REQ_EXPECT = [["x-sig", "abc123"], ["grpc-timeout", "5S"]]


def post_h1(w, data, trailers, extra=""):
    req = (f"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n{extra}"
           "Connection: close\r\n\r\n").encode() + chunked_body(data, trailers)
    status, _, body, _ = parse_chunked(exchange(w.port, req))
    assert status == 200, body
    return json.loads(body)


@pytest.mark.parametrize("buffering", ["on", "off"])
def test_h1_request_trailers_reach_the_worker(make_weir, buffering):
    w = start(make_weir, "" if buffering == "on" else "request_buffering = off\n")
    data = pattern(123_457)
    seen = post_h1(w, data, REQ_TRAILERS, extra="Trailer: X-Sig\r\n")
    assert seen["sha"] == sha(data) and seen["len"] == len(data)
    assert seen["chunked"] is True and seen["trailers"] == REQ_EXPECT
    assert seen["trailer"] == "X-Sig" and seen["te"] is None
    # without trailers: buffered bodies still go with Content-Length
    seen = post_h1(w, data, [])
    assert seen["sha"] == sha(data) and seen["trailers"] == []
    assert seen["chunked"] is (buffering == "off")
    # only forbidden ones: as if none came
    seen = post_h1(w, b"", [("Host", "x")])
    assert seen["len"] == 0 and seen["trailers"] == []
    # an empty body with a trailer (the spool's end read as a last, empty
    # piece: UBSan saw a copy from a pointer never set)
    seen = post_h1(w, b"", [("X-Sig", "e")])
    assert seen["len"] == 0 and seen["trailers"] == [["x-sig", "e"]]


def test_h1_request_trailer_section_over_the_limit(make_weir):
    w = start(make_weir)
    big = [(f"x-f{i}", "v" * 100) for i in range(90)]     # > 8 KiB
    req = (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
           b"Connection: close\r\n\r\n") + chunked_body(b"hello", big)
    data = exchange(w.port, req)
    assert data.startswith(b"HTTP/1.1 400 "), data[:200]
    # one just under it passes
    ok = [(f"x-f{i}", "v" * 100) for i in range(70)]
    seen = post_h1(w, b"hello", ok)
    assert len(seen["trailers"]) == 70


def test_h2_response_trailers(make_weir):
    w = start(make_weir)
    c = Client(w.h2port)
    size = 200_000
    for headers in ([], [("te", "trailers")]):
        r = c.get(f"/trailers?size={size}", headers=headers)
        assert r["headers"][":status"] == "200" and r["reset"] is None and r["ended"]
        assert sha(bytes(r["data"])) == sha(pattern(size))
        got = r.get("trailers")
        assert got is not None, "no trailing HEADERS"
        assert dict(got) == {"x-checksum": sha(pattern(size)), "grpc-status": "0",
                             "x-mixed-case": "Yes"}, got
        assert len(got) == 3
        assert r["headers"]["x-saw-te"] == ("trailers" if headers else "-")
    c.close()


def h2_send(c, data, trailers, content_length=False):
    """HEADERS, DATA, then trailing HEADERS with END_STREAM; the stream id."""
    sid = c.c.get_next_available_stream_id()
    hs = [(":method", "POST"), (":path", "/echo"), (":scheme", "http"),
          (":authority", "127.0.0.1")]
    if content_length:
        hs.append(("content-length", str(len(data))))
    c.c.send_headers(sid, hs)
    c.streams[sid] = {"headers": None, "data": bytearray(), "ended": False, "reset": None,
                      "body": None, "sent": 0}
    for i in range(0, len(data), 16384):
        c.c.send_data(sid, data[i:i + 16384])
    c.c.send_headers(sid, trailers, end_stream=True)
    c.flush()
    assert c.wait(lambda: c.done(sid))
    return sid


def h2_post(c, data, trailers, content_length=False):
    r = c.streams[h2_send(c, data, trailers, content_length)]
    assert r["headers"][":status"] == "200" and r["reset"] is None
    return json.loads(bytes(r["data"]))


@pytest.mark.parametrize("buffering", ["on", "off"])
def test_h2_request_trailers_reach_the_worker(make_weir, buffering):
    w = start(make_weir, "" if buffering == "on" else "request_buffering = off\n")
    c = Client(w.h2port)
    data = pattern(40_000)     # within the default stream window
    seen = h2_post(c, data, [("x-sig", "abc123"), ("grpc-timeout", "5S"),
                             ("authorization", "Bearer x"), ("x-forwarded-for", "6.6.6.6")])
    assert seen["sha"] == sha(data) and seen["chunked"] is True
    assert seen["trailers"] == REQ_EXPECT
    # with content-length the body goes so: no place for trailers
    seen = h2_post(c, data, [("x-sig", "abc")], content_length=True)
    assert seen["sha"] == sha(data) and seen["chunked"] is False and seen["trailers"] == []
    # a trailer section over the HTTP/1.1 limit (8 KiB): the stream is reset,
    # the connection serves on
    sid = h2_send(c, b"x", [(f"x-f{i}", "v" * 100) for i in range(90)])
    assert c.streams[sid]["reset"] is not None and c.goaway is None
    assert h2_post(c, data, [("x-sig", "again")])["trailers"] == [["x-sig", "again"]]
    c.close()
