"""The front end's FastCGI handler against a FastCGI responder written
here, for what php never does: CGI local redirects (RFC 3875 §6.2.2: a
Location that is a path and nothing else), FCGI_OVERLOADED, and a worker
that breaks the record stream.

The responder is an external upstream (`address = unix:...`) speaking
FastCGI from a thread of the test: it answers FCGI_GET_VALUES (weir's
probe) and FCGI_RESPONDER requests on kept-alive connections, and records
the parameters of every request it served, so the tests see what the
script behind it saw.
"""
import socket
import socketserver
import struct
import threading

import pytest

from conftest import wait_for
from test_fastcgi_master import fcgi_pair as pair, fcgi_record as record, ready_workers, show
from test_pools import get

BEGIN, ABORT, END, PARAMS, STDIN, STDOUT = 1, 2, 3, 4, 5, 6
GET_VALUES, GET_VALUES_RESULT = 9, 10
REQUEST_COMPLETE, OVERLOADED = 0, 2


def parse_pairs(data):
    out, i = {}, 0
    while i < len(data):
        lens = []
        for _ in range(2):
            if data[i] < 128:
                lens.append(data[i])
                i += 1
            else:
                lens.append(struct.unpack(">I", data[i:i + 4])[0] & 0x7FFFFFFF)
                i += 4
        name, value = data[i:i + lens[0]], data[i + lens[0]:i + lens[0] + lens[1]]
        i += lens[0] + lens[1]
        out[name.decode()] = value.decode()
    return out


class Responder(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path, scripts):
        self.scripts = scripts      # SCRIPT_NAME -> fn(params, body, n) -> bytes | None
        self.seen = []              # (params, body) of every request
        self.counts = {}
        self.lock = threading.Lock()
        super().__init__(path, Conn)


def fcgi_records(sock):
    """The FastCGI records a peer sends on sock, as (type, request id,
    content), until it closes."""
    buf = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return
        if not chunk:
            return
        buf += chunk
        while len(buf) >= 8:
            _, rtype, rid, clen, plen, _ = struct.unpack(">BBHHBB", buf[:8])
            if len(buf) < 8 + clen + plen:
                break
            body, buf = buf[8:8 + clen], buf[8 + clen + plen:]
            yield rtype, rid, body


class Conn(socketserver.BaseRequestHandler):
    def handle(self):
        srv, reqs = self.server, {}
        for rtype, rid, body in fcgi_records(self.request):
            if rtype == GET_VALUES:
                names = parse_pairs(body)
                vals = {"FCGI_MAX_CONNS": "16", "FCGI_MAX_REQS": "16",
                        "FCGI_MPXS_CONNS": "0"}
                self.request.sendall(record(GET_VALUES_RESULT, 0, b"".join(
                    pair(k.encode(), vals[k].encode()) for k in names if k in vals)))
            elif rtype == BEGIN:
                reqs[rid] = {"params": b"", "stdin": b""}
            elif rtype == PARAMS and rid in reqs:
                reqs[rid]["params"] += body
                params = parse_pairs(reqs[rid]["params"]) if not body else {}
                if params.get("SCRIPT_NAME") in EARLY:
                    # answer before reading any input, then ignore it
                    with srv.lock:
                        srv.seen.append((params, b""))
                    reqs[rid]["early"] = True
                    self.request.sendall(
                        record(STDOUT, rid, text("early answer")) + record(STDOUT, rid) +
                        record(END, rid, struct.pack(">IB3x", 0, REQUEST_COMPLETE)))
            elif rtype == STDIN and rid in reqs and reqs[rid].get("early"):
                if not body:
                    del reqs[rid]
            elif rtype == STDIN and rid in reqs:
                if body:
                    reqs[rid]["stdin"] += body
                    continue
                r = reqs.pop(rid)
                params = parse_pairs(r["params"])
                with srv.lock:
                    srv.seen.append((params, r["stdin"]))
                    name = params.get("SCRIPT_NAME", "")
                    srv.counts[name] = n = srv.counts.get(name, 0) + 1
                fn = srv.scripts.get(name)
                out = fn(params, r["stdin"], n) if fn else \
                    b"Status: 404\r\nContent-Type: text/plain\r\n\r\nno such script"
                if out is None:          # overloaded: refuse without output
                    self.request.sendall(record(END, rid, struct.pack(">IB3x", 0, OVERLOADED)))
                    continue
                if isinstance(out, tuple):   # raw bytes that break the protocol
                    self.request.sendall(out[0])
                    return
                msg = b""
                for i in range(0, len(out), 32768):
                    msg += record(STDOUT, rid, out[i:i + 32768])
                msg += record(STDOUT, rid) + record(END, rid, struct.pack(">IB3x", 0, REQUEST_COMPLETE))
                self.request.sendall(msg)


def text(s):
    return b"Content-Type: text/plain\r\n\r\n" + s.encode()


EARLY = {"/early.fx"}


SCRIPTS = {
    # local redirect to another script, with a query of its own
    "/a.fx": lambda p, b, n: b"Location: /b.fx?from=a\r\n\r\n",
    "/b.fx": lambda p, b, n: text(
        f"b: method={p['REQUEST_METHOD']} query={p['QUERY_STRING']} "
        f"length={p.get('CONTENT_LENGTH', '')} body={len(b)}"),
    # local redirect to a static file of the site
    "/s.fx": lambda p, b, n: b"Location: /file.txt\r\n\r\n",
    # local redirect to itself: weir gives up after its limit
    "/loop.fx": lambda p, b, n: b"Location: /loop.fx\r\n\r\n",
    # FCGI_OVERLOADED the first time, an answer the second
    "/over.fx": lambda p, b, n: None if n == 1 else text(f"answered on try {n}"),
    # a client redirect stays one
    "/client.fx": lambda p, b, n: b"Location: http://example.test/x\r\n\r\n",
    # answered before its input is read (see EARLY)
    "/early.fx": None,
    # garbage instead of records
    "/garbage.fx": lambda p, b, n: (b"HTTP/1.1 200 OK\r\n\r\nnot fastcgi at all",),
}


def site(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    for name in SCRIPTS:
        (root / name.lstrip("/")).write_text("run by the responder\n")
    (root / "file.txt").write_text("a static file\n")
    tmp_path.chmod(0o755)
    root.chmod(0o755)
    return root


@pytest.fixture
def fx(make_weir, tmp_path):
    """(weir, responder): a site whose *.fx scripts the responder runs."""
    sock = tmp_path / "fx.sock"
    srv = Responder(str(sock), SCRIPTS)
    sock.chmod(0o666)     # the front end connects as an unprivileged user
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        root = site(tmp_path)
        w = make_weir(f"[pool fx]\nkind = fastcgi\naddress = unix:{sock}\nrapid_fail = off\n"
                      f"[site main]\nroot = {root}\nscript = .fx fx\n")
        wait_for(lambda: len(ready_workers(w, "fx")) == 1, what="the responder ready")
        yield w, srv
    finally:
        srv.shutdown()
        srv.server_close()


def test_local_redirect_runs_the_other_script_as_get(fx):
    w, srv = fx
    st, h, body = get(w, "/a.fx?orig=1")
    assert st == 200, body
    assert body == b"b: method=GET query=from=a length= body=0"
    # a POST becomes a GET without the body (RFC 3875 §6.2.2)
    st, h, body = get(w, "/a.fx", method="POST", body=b"x" * 1000,
                      headers={"Content-Type": "application/octet-stream"})
    assert st == 200 and body == b"b: method=GET query=from=a length= body=0", body
    names = [p["SCRIPT_NAME"] for p, _ in srv.seen]
    assert names == ["/a.fx", "/b.fx", "/a.fx", "/b.fx"], names
    # the POST reached /a.fx with its body
    assert srv.seen[2][0]["REQUEST_METHOD"] == "POST" and len(srv.seen[2][1]) == 1000
    # the connection stays usable after a local redirect
    st, _, body = get(w, "/b.fx?again")
    assert st == 200 and body.startswith(b"b: method=GET query=again")

def test_local_redirect_to_a_static_file(fx):
    w, srv = fx
    st, h, body = get(w, "/s.fx")
    assert st == 200 and body == b"a static file\n", (st, body)
    assert h["content-type"].startswith("text/plain")

def test_local_redirect_loop_is_a_500(fx):
    w, srv = fx
    st, _, _ = get(w, "/loop.fx")
    assert st == 500
    # the first run and ten redirects, then weir stops
    assert srv.counts["/loop.fx"] == 11
    assert show(w, "fx")["state"] == "started"

def test_client_redirect_is_a_302(fx):
    w, srv = fx
    st, h, _ = get(w, "/client.fx")
    assert st == 302 and h["location"] == "http://example.test/x"

def test_overloaded_is_sent_again(fx):
    w, srv = fx
    st, _, body = get(w, "/over.fx")
    assert st == 200 and body == b"answered on try 2", body

def test_a_broken_record_stream_is_a_502_and_a_1011(fx):
    w, srv = fx
    st, _, _ = get(w, "/garbage.fx")
    assert st == 502
    e = wait_for(lambda: [x for x in w.events() if x["id"] == 1011], what="event 1011")[0]
    assert e["pool"] == "fx" and "malformed" in e["reason"], e
    # the next request is served (the broken connection was not reused)
    st, _, body = get(w, "/b.fx?after")
    assert st == 200 and body.startswith(b"b: method=GET query=after"), body

def test_a_body_the_script_did_not_read_is_not_a_request(fx):
    """A script that answers before reading its input: the rest of the
    client's body must never be parsed as requests on the connection."""
    w, srv = fx
    inner = b"GET /b.fx?smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    body = inner * (400000 // len(inner))
    # After the body, a request of the client's own: on a connection weir
    # keeps, its answer comes after any the body could have caused (they
    # would be answered in order), so reading up to it is reading them all;
    # a connection weir closes ends with EOF instead.
    last = b"GET /b.fx?last HTTP/1.1\r\nHost: x\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", w.port), timeout=30)
    try:
        s.sendall(b"POST /early.fx HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                  % len(body))
        data, sent = body + last, 0
        try:
            while sent < len(data):
                sent += s.send(data[sent:sent + 65536])
        except OSError:
            pass  # weir may close once it has answered
        got = b""
        while b"query=last " not in got:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    assert got.startswith(b"HTTP/1.1 200 "), got[:200]
    assert b"early answer" in got
    # the early answer, then at most the client's last request's
    assert got.count(b"HTTP/1.1 ") == 1 + (b"query=last " in got), got[:400]
    assert b"smuggled" not in got, got[:400]
    assert not [p for p, _ in srv.seen if "smuggled" in p.get("QUERY_STRING", "")]
    # the pool goes on
    st, _, body = get(w, "/b.fx?after")
    assert st == 200 and body.startswith(b"b: method=GET query=after"), body