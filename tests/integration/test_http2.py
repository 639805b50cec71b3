"""HTTP/2 in the front end (RFC 9113), on cleartext listeners with prior
knowledge (`listen = ADDR:PORT h2c`).

Clients: curl --http2-prior-knowledge, nghttp (nghttp2-client) and Python's
h2 / hyperframe / hpack (python3-h2) on raw sockets, so that every frame the
server sends -- GOAWAY and RST_STREAM codes, how much DATA a window allowed --
is what gets checked.  Each stream is a request through the same router,
static handler and pools as an HTTP/1.1 request: the access log says
HTTP/2.0 and the counters count it by protocol.

Attacks are sent with the default settings a user gets; each must end in a
GOAWAY with the documented code, cost the front end bounded CPU and memory
(measured from /proc/PID of this weir's front end and printed), and leave
another client's requests answered meanwhile.
"""
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import SRC, free_port, traversable, wait_for

h2 = pytest.importorskip("h2")
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.exceptions  # noqa: E402
import h2.settings  # noqa: E402
import hpack  # noqa: E402
from hyperframe import frame as hf  # noqa: E402

PY = "/usr/bin/python3"
APP = f"{PY} {SRC}/tests/apps/app.py"
PHP = "/usr/bin/php-cgi"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# RFC 9113 §7 error codes
NO_ERROR, PROTOCOL_ERROR, ENHANCE_YOUR_CALM = 0x0, 0x1, 0xb


# --- helpers -------------------------------------------------------------------

def h2conf(port, extra="", body=""):
    """Server lines for an extra h2c listener on `port`, plus body."""
    return dict(server_extra=f"listen = 127.0.0.1:{port} h2c\n{extra}", conf_body=body)


def start(make_weir, root=None, pool=False, extra="", body=""):
    port = free_port()
    b = body
    if pool:
        b += f"[pool app]\ncommand = {APP}\n"
    b += "[site main]\n"
    if root is not None:
        b += f"root = {root}\n"
    if pool:
        b += "app = /app app\n"
    c = h2conf(port, extra, b)
    w = make_weir(c["conf_body"], server_extra=c["server_extra"])
    w.h2port = port
    return w


def status(w):
    out = subprocess.run([w.binary, "status", "--json", "-s", str(w.state_dir / "admin.sock")],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def metrics(w):
    out = subprocess.run(["curl", "-s", "--unix-socket", str(w.state_dir / "admin.sock"),
                          "http://weir/metrics"], capture_output=True, text=True, timeout=10)
    return out.stdout


def proc_usage(pid):
    """(CPU seconds, RSS KiB) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                rss = int(ln.split()[1])
    return cpu, rss


def connect(port, tls=None, timeout=30):
    """A socket to port; tls: an SSLContext to wrap it in (ALPN h2, SNI a.test)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls is None:
        return s
    t = tls.wrap_socket(s, server_hostname="a.test")
    assert t.selected_alpn_protocol() == "h2"
    return t


class Client:
    """A Python h2 client on a raw socket: requests, bodies, every event."""

    def __init__(self, port, window=None, validate=True, timeout=30, tls=None):
        self.sock = connect(port, tls, timeout)
        self.authority = "a.test" if tls is not None else "127.0.0.1"
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_outbound_headers=validate,
                                        normalize_outbound_headers=validate,
                                        validate_inbound_headers=False)
        self.c = h2.connection.H2Connection(config=cfg)
        self.c.initiate_connection()
        if window is not None:
            self.c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.flush()
        self.streams = {}       # id -> {"headers", "data", "ended", "reset"}
        self.goaway = None      # error code of a GOAWAY received
        self.closed = False
        self.auto_ack = True    # give the window back as data arrives
        self.order = []         # ("data" | "end", stream id), as they came
        self.pace = 0           # bytes per second the client reads at most (0: no bound)

    def flush(self):
        d = self.c.data_to_send()
        if d:
            self.sock.sendall(d)

    def request(self, path, method="GET", body=None, headers=()):
        sid = self.c.get_next_available_stream_id()
        hs = [(":method", method), (":path", path), (":scheme", "http"),
              (":authority", self.authority)] + list(headers)
        if body is not None:
            hs.append(("content-length", str(len(body))))
        self.c.send_headers(sid, hs, end_stream=body is None)
        self.streams[sid] = {"headers": None, "data": bytearray(), "ended": False,
                             "reset": None, "body": body, "sent": 0}
        self.flush()
        self.pump_body(sid)
        return sid

    def pump_body(self, sid):
        s = self.streams[sid]
        body = s["body"]
        while body is not None and s["sent"] < len(body):
            room = min(self.c.local_flow_control_window(sid), self.c.max_outbound_frame_size)
            if room <= 0:
                return
            n = min(room, len(body) - s["sent"])
            end = s["sent"] + n == len(body)
            try:
                self.c.send_data(sid, body[s["sent"]:s["sent"] + n], end_stream=end)
            except h2.exceptions.StreamClosedError:
                return      # reset by the server (its event is in this batch): no more body
            s["sent"] += n
            self.flush()

    def step(self):
        """Read once and handle the events; False when the peer closed."""
        try:
            d = self.sock.recv(1 << 16)
        except (ConnectionResetError, socket.timeout):
            d = b""
        if not d:
            self.closed = True
            return False
        if self.pace:
            # a client on a slow link: this read's bytes take their time
            time.sleep(len(d) / self.pace)
        for ev in self.c.receive_data(d):
            sid = getattr(ev, "stream_id", None)
            s = self.streams.get(sid)
            if isinstance(ev, h2.events.ResponseReceived):
                s["headers"] = dict(ev.headers)
                s["fields"] = list(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                s["data"] += ev.data
                self.order.append(("data", sid))
                if self.auto_ack:
                    self.c.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.TrailersReceived):
                s["trailers"] = list(ev.headers)
            elif isinstance(ev, h2.events.StreamEnded):
                s["ended"] = True
                self.order.append(("end", sid))
            elif isinstance(ev, h2.events.StreamReset):
                if s is not None:
                    s["reset"] = ev.error_code
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = ev.error_code
            elif isinstance(ev, h2.events.WindowUpdated):
                for k, v in self.streams.items():
                    if v["body"] is not None and not v["ended"] and v["reset"] is None:
                        self.pump_body(k)
        self.flush()
        return True

    def wait(self, cond, timeout=30):
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise AssertionError("timed out waiting on the h2 connection")
            if not self.step():
                break
        return cond()

    def done(self, sid):
        s = self.streams[sid]
        return s["ended"] or s["reset"] is not None

    def get(self, path, **kw):
        sid = self.request(path, **kw)
        assert self.wait(lambda: self.done(sid)), f"connection closed before {path}"
        return self.streams[sid]

    def close(self):
        self.sock.close()


class Raw:
    """Frames by hand (hyperframe, hpack): what a well-behaved library refuses."""

    def __init__(self, port, timeout=20, tls=None):
        self.sock = connect(port, tls, timeout)
        self.authority = "a.test" if tls is not None else "127.0.0.1"
        self.enc = hpack.Encoder()
        self.sock.sendall(PREFACE + hf.SettingsFrame(0).serialize())
        self.buf = b""

    def send(self, *frames):
        data = b"".join(f.serialize() for f in frames)
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def block(self, path="/hello.txt", extra=()):
        return self.enc.encode([(":method", "GET"), (":path", path), (":scheme", "http"),
                                (":authority", self.authority)] + list(extra))

    def frames(self, timeout=10):
        """Every frame until the server closes (or timeout)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            while len(self.buf) >= 9:
                f, n = hf.Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + n:
                    break
                f.parse_body(memoryview(self.buf[9:9 + n]))
                self.buf = self.buf[9 + n:]
                yield f
            try:
                d = self.sock.recv(1 << 16)
            except (ConnectionResetError, socket.timeout, ssl.SSLError):
                return
            if not d:
                return
            self.buf += d

    def ack_settings(self):
        """Acknowledge the server's SETTINGS (its limits count from then on)."""
        for f in self.frames(10):
            if isinstance(f, hf.SettingsFrame) and "ACK" not in f.flags:
                self.send(hf.SettingsFrame(0, flags={"ACK"}))
                return
        raise AssertionError("no SETTINGS from the server")

    def goaway(self, timeout=10):
        for f in self.frames(timeout):
            if isinstance(f, hf.GoAwayFrame):
                return f.error_code
        return None

    def close(self):
        self.sock.close()


def sha(b):
    return hashlib.sha256(bytes(b)).hexdigest()


# --- requests over HTTP/2 --------------------------------------------------------

def test_curl_prior_knowledge_static_and_h1_untouched(make_weir, site):
    w = start(make_weir, root=site)
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-D", "-",
                          f"http://127.0.0.1:{w.h2port}/100k.bin", "-o", str(w.dir / "o")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("HTTP/2 200"), out.stdout
    assert "content-length: 102400" in out.stdout
    assert sha((w.dir / "o").read_bytes()) == sha((site / "100k.bin").read_bytes())
    # the default listener speaks HTTP/1.1 (h2c is off by default): a preface is a bad request
    s = socket.create_connection(("127.0.0.1", w.port), timeout=10)
    s.sendall(PREFACE)
    assert s.recv(100).startswith(b"HTTP/1.1 4")
    s.close()
    # conditional and range requests take the same handler
    c = Client(w.h2port)
    r = c.get("/hello.txt")
    etag = r["headers"]["etag"]
    r = c.get("/hello.txt", headers=[("if-none-match", etag)])
    assert r["headers"][":status"] == "304" and r["data"] == b""
    r = c.get("/100k.bin", headers=[("range", "bytes=10-19")])
    assert r["headers"][":status"] == "206"
    assert bytes(r["data"]) == (site / "100k.bin").read_bytes()[10:20]
    r = c.get("/nope")
    assert r["headers"][":status"] == "404"
    r = c.get("/hello.txt", method="HEAD")
    assert r["headers"][":status"] == "200" and r["data"] == b""
    c.close()
    wait_for(lambda: "HTTP/2.0" in w.access_log() and "/100k.bin" in w.access_log(),
             what="the HTTP/2 requests in access.log")
    fe = wait_for(lambda: (s := status(w)["frontend"])["requests"]["HTTP/2.0"] >= 6 and s,
                  what="HTTP/2 requests counted")
    assert fe["requests"]["HTTP/1.1"] >= 1 and fe["http2"]["connections"] >= 2
    m = metrics(w)
    assert 'weir_frontend_requests_total{protocol="HTTP/2.0"}' in m


def test_many_streams_static_and_pool_on_one_connection(make_weir, site):
    w = start(make_weir, root=site, pool=True)
    want = {"/1k.bin": sha((site / "1k.bin").read_bytes()),
            "/100k.bin": sha((site / "100k.bin").read_bytes()),
            "/app/stream?n=50&size=1000": sha(b"x" * 50000),       # chunked from the pool
            "/app/big?mb=1": sha(b"y" * (1 << 20)),                 # Content-Length
            "/app/close": sha(b"delimited by close\n")}             # delimited by close
    c = Client(w.h2port)
    sids = {}
    for i in range(90):
        path = list(want)[i % len(want)]
        sids[c.request(path)] = path
    posted = {}
    for i in range(8):
        body = os.urandom(30000 + i)
        posted[c.request("/app/echo", method="POST", body=body)] = sha(body)
    assert c.wait(lambda: all(c.done(s) for s in list(sids) + list(posted)), timeout=60)
    for sid, path in sids.items():
        s = c.streams[sid]
        assert s["reset"] is None and s["headers"][":status"] == "200", (path, s["headers"])
        assert sha(s["data"]) == want[path], path
    for sid, h in posted.items():
        s = c.streams[sid]
        assert s["headers"][":status"] == "200" and s["headers"]["x-sha256"] == h
        assert sha(s["data"]) == h
    c.close()


def test_nghttp_concurrent_streams(make_weir, site):
    w = start(make_weir, root=site, pool=True)
    # nghttp fetches a URI once: a query of its own for each
    urls = [f"http://127.0.0.1:{w.h2port}/100k.bin?i={i}" for i in range(20)] + \
        [f"http://127.0.0.1:{w.h2port}/app/hello?i={i}" for i in range(20)]
    out = subprocess.run(["nghttp", "-n", "-s", "-m", "1"] + urls,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = [ln.split() for ln in out.stdout.splitlines() if "?i=" in ln]
    assert len(rows) == 40 and all(r[4] == "200" for r in rows), out.stdout
    # one body by hash through nghttp's own output
    out = subprocess.run(["nghttp", f"http://127.0.0.1:{w.h2port}/100k.bin"],
                         capture_output=True, timeout=30)
    assert sha(out.stdout) == sha((site / "100k.bin").read_bytes())


def test_slow_reader_100mib_frontend_rss_flat(make_weir, tmp_path, site):
    big = site / "100m.bin"
    block = os.urandom(1 << 20)
    with open(big, "wb") as f:
        for _ in range(100):
            f.write(block)
    w = start(make_weir, root=site)
    pid = wait_for(w.frontend_pid, what="front end pid")
    c = Client(w.h2port, window=65535)
    c.auto_ack = False
    sid = c.request("/100m.bin")
    h = hashlib.sha256()
    got, samples = 0, []
    _, rss0 = proc_usage(pid)
    # one 64 KiB window at a time, given back only after a pause of the
    # client's own (its pace, not a wait for the server): the server must
    # wait on the window, never buffer the file ahead
    while not c.done(sid):
        c.wait(lambda: c.done(sid) or len(c.streams[sid]["data"]) >= 65535, timeout=30)
        data = c.streams[sid]["data"]
        n = len(data)
        h.update(bytes(data))
        got += n
        data.clear()
        if n:
            time.sleep(0.002)
            c.c.acknowledge_received_data(n, sid)
            c.flush()
        if got // (8 << 20) > len(samples):
            samples.append(proc_usage(pid)[1])
    assert c.streams[sid]["headers"][":status"] == "200"
    assert got == 100 << 20 and h.hexdigest() == sha(block * 100)
    c.close()
    print(f"front-end RSS: {rss0} KiB before, samples {samples} KiB while streaming 100 MiB")
    assert max(samples) - rss0 < 16 * 1024, (rss0, samples)


@pytest.mark.skipif(not os.path.exists(PHP), reason="php-cgi not installed")
def test_upload_10mib_to_php_pool_by_sha256(make_weir, tmp_path):
    root = tmp_path / "php"
    root.mkdir()
    (root / "up.php").write_text(
        "<?php $b = file_get_contents('php://input');"
        " echo hash('sha256', $b), ' ', strlen($b);")
    os.chmod(root, 0o755)
    body = (f"[pool php]\nkind = fastcgi\ncommand = {PHP} -d post_max_size=64M\n"
            f"[site main]\nroot = {root}\nscript = .php php\n")
    port = free_port()
    w = make_weir(body, server_extra=f"listen = 127.0.0.1:{port} h2c\n")
    data = os.urandom(10 << 20)
    f = tmp_path / "up.bin"
    f.write_bytes(data)
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "--data-binary", f"@{f}",
                          "-H", "Content-Type: application/octet-stream",
                          f"http://127.0.0.1:{port}/up.php"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"{sha(data)} {len(data)}"
    # the same through the Python client, which sends no content-length: chunked to the pool
    c = Client(port)
    sid = c.c.get_next_available_stream_id()
    c.c.send_headers(sid, [(":method", "POST"), (":path", "/up.php"), (":scheme", "http"),
                           (":authority", "127.0.0.1")])
    c.streams[sid] = {"headers": None, "data": bytearray(), "ended": False, "reset": None,
                      "body": data[:3 << 20], "sent": 0}
    c.flush()
    c.pump_body(sid)
    assert c.wait(lambda: c.done(sid), timeout=120)
    assert bytes(c.streams[sid]["data"]).decode() == f"{sha(data[:3 << 20])} {3 << 20}"
    c.close()


def test_slow_reader_holds_its_stream_not_the_worker_nor_other_streams(make_weir, site):
    """A stream whose client gives no window gets its pool response
    buffered (response_buffer, 16M by default) and the worker is free; a
    second stream on the same connection, to the same one-worker pool, is
    answered meanwhile."""
    w = start(make_weir, root=site, pool=True)
    c = Client(w.h2port, window=1000)
    c.auto_ack = False
    slow = c.request("/app/big?mb=4")
    c.wait(lambda: len(c.streams[slow]["data"]) >= 1000)
    wait_for(lambda: status(w)["pools"][0]["inflight"] == 0, timeout=20,
             what="the worker released while the stream waits for its window")
    fast = c.request("/app/hello")
    # only the fast stream's bytes are given back: the slow one stays stuck
    c.wait(lambda: c.streams[fast]["headers"] is not None and len(c.streams[fast]["data"]) > 0)
    c.c.acknowledge_received_data(len(c.streams[fast]["data"]), fast)
    c.flush()
    assert c.wait(lambda: c.done(fast), timeout=20)
    assert bytes(c.streams[fast]["data"]).startswith(b"hello from ")
    assert len(c.streams[slow]["data"]) == 1000 and not c.done(slow)
    # and the slow one gets all of it once it reads
    c.auto_ack = True
    c.c.acknowledge_received_data(1000, slow)
    c.flush()
    assert c.wait(lambda: c.done(slow), timeout=60)
    assert sha(c.streams[slow]["data"]) == sha(b"y" * (4 << 20))
    c.close()


def test_flow_control_window_honoured(make_weir, site):
    w = start(make_weir, root=site)
    c = Client(w.h2port, window=1000)
    c.auto_ack = False
    # the SETTINGS must be acknowledged before the window counts
    c.wait(lambda: c.c.remote_settings.acknowledged if hasattr(c.c.remote_settings,
                                                               "acknowledged") else True)
    sid = c.request("/100k.bin")
    c.wait(lambda: len(c.streams[sid]["data"]) >= 1000)
    # a PING's answer comes after anything the server had framed before it
    c.c.ping(b"12345678")
    c.flush()
    pong = []
    c.c_events_hook = pong
    end = time.monotonic() + 10
    while time.monotonic() < end:
        d = c.sock.recv(1 << 16)
        assert d, "connection closed"
        evs = c.c.receive_data(d)
        for ev in evs:
            if isinstance(ev, h2.events.DataReceived):
                c.streams[sid]["data"] += ev.data
        if any(isinstance(ev, h2.events.PingAckReceived) for ev in evs):
            break
    assert len(c.streams[sid]["data"]) == 1000
    # more window, more data, and exactly that much
    c.c.acknowledge_received_data(1000, sid)
    c.flush()
    c.auto_ack = True
    assert c.wait(lambda: c.done(sid))
    assert sha(c.streams[sid]["data"]) == sha((site / "100k.bin").read_bytes())
    c.close()


def random_files(tmp_path, n, size):
    """A document root with n files /f0.bin ... of size random bytes: (root, {path: bytes})."""
    root = tmp_path / "www"
    root.mkdir()
    traversable(tmp_path)
    files = {f"/f{i}.bin": os.urandom(size) for i in range(n)}
    for p, b in files.items():
        (root / p[1:]).write_bytes(b)
    return root, files


def test_pool_head_fields_as_http2_wants_them(make_weir, site):
    """A worker's head written by hand, every field form HTTP/1.1 allows:
    over HTTP/2 the values come without the whitespace around them, an
    empty one stays empty, both Set-Cookie fields come, the
    connection-specific ones do not, names are lowercase."""
    w = start(make_weir, root=site, pool=True)
    c = Client(w.h2port)
    r = c.get("/app/oddheaders")
    c.close()
    f = [(k, v) for k, v in r["fields"] if k not in ("date", "server")]
    assert f == [(":status", "200"), ("x-empty", ""), ("x-spaces", "a  b"), ("x-tab", "v"),
                 ("set-cookie", "a=1"), ("set-cookie", "b=2"), ("content-type", "text/plain"),
                 ("content-length", "2")], f
    assert bytes(r["data"]) == b"ok"


def test_streams_share_the_connection_unless_the_client_asks_otherwise(make_weir, tmp_path):
    """Streams without a priority field (RFC 9218: urgency 3) share the
    connection, as RFC 7540's default did: each of eight 256 KiB files has
    data before the first is complete.  With the field saying not
    incremental (what browsers send for scripts and styles), they come one
    after another, as the client asked."""
    root, files = random_files(tmp_path, 8, 256 << 10)
    w = start(make_weir, root=root)
    for prio, shared in (((), True), ((("priority", "u=3"),), False)):
        c = Client(w.h2port)
        sids = {c.request(p, headers=prio): p for p in files}
        assert c.wait(lambda: all(c.done(s) for s in sids), timeout=60)
        for sid, p in sids.items():
            assert c.streams[sid]["ended"] and sha(c.streams[sid]["data"]) == sha(files[p])
        first_end = c.order.index(next(e for e in c.order if e[0] == "end"))
        before = {sid for kind, sid in c.order[:first_end] if kind == "data"}
        if shared:
            assert before == set(sids), c.order[:first_end + 1]
        else:
            assert before == {min(sids)}, c.order[:first_end + 1]
        c.close()


def test_stream_waiting_its_turn_is_not_a_slow_client(make_weir, tmp_path):
    """min_response_rate judges what the client holds back, not the
    streams weir itself sends first: eight 512 KiB files one after another
    (the client asks so) on a link of 1 MB/s take four seconds, the last
    waits three of them with nothing sent, and none is reset, even with
    min_rate_grace at 1 s.  A stream whose window the client never opens
    is still reset for it, and a connection that reads nothing is closed."""
    root, files = random_files(tmp_path, 8, 512 << 10)
    w = start(make_weir, root=root, extra="min_rate_grace = 1s\n")
    c = Client(w.h2port)
    c.pace = 1 << 20
    sids = {c.request(p, headers=(("priority", "u=3"),)): p for p in files}
    assert c.wait(lambda: all(c.done(s) for s in sids), timeout=60)
    for sid, p in sids.items():
        s = c.streams[sid]
        assert s["reset"] is None and sha(s["data"]) == sha(files[p]), (p, s["reset"])
    c.close()
    # the client that holds a stream back (no window for it) is judged as before
    c = Client(w.h2port, window=1000)
    c.auto_ack = False
    sid = c.request("/f0.bin")
    assert c.wait(lambda: c.done(sid), timeout=30)
    assert c.streams[sid]["reset"] is not None and len(c.streams[sid]["data"]) == 1000
    c.close()
    # a client that stops reading altogether is closed as a whole, for the rate
    assert "Timer_MinBytesPerSecond" not in w.httperr_log()
    c = Client(w.h2port)
    for p in files:
        c.request(p)
    wait_for(lambda: "Timer_MinBytesPerSecond" in w.httperr_log(), timeout=20,
             what="the connection that reads nothing closed for min_response_rate")
    c.close()


def test_connection_window_never_opened_ends_at_send_timeout(make_weir, tmp_path):
    """A client that never gives back its connection window holds every
    stream at once (each stream's own window still open, so none is judged
    alone): with min_response_rate off, send_timeout still ends the
    connection, logged as a client that does not read."""
    root, files = random_files(tmp_path, 2, 512 << 10)
    w = start(make_weir, root=root, extra="min_response_rate = 0\nsend_timeout = 2s\n")
    c = Client(w.h2port, window=1 << 20)
    c.auto_ack = False
    sids = [c.request(p) for p in files]
    assert c.wait(lambda: c.closed, timeout=30), "the connection was not closed"
    assert sum(len(c.streams[s]["data"]) for s in sids) == 65535
    wait_for(lambda: "Timer_MinBytesPerSecond" in w.httperr_log(), timeout=10,
             what="the connection's send_timeout in httperr.log")
    c.close()


# --- RFC 9113 §8.1.1: malformed requests are stream errors --------------------------

MALFORMED = {
    "connection-specific": [("connection", "keep-alive")],
    "transfer-encoding": [("transfer-encoding", "chunked")],
    "uppercase-name": [("X-Upper", "1")],
    "te-not-trailers": [("te", "gzip")],
}


@pytest.mark.parametrize("case", sorted(MALFORMED) + ["no-path", "pseudo-after-regular",
                                                    "unknown-pseudo", "content-length"])
def test_malformed_request_is_stream_error(make_weir, site, case):
    w = start(make_weir, root=site, pool=True)
    r = Raw(w.h2port)
    base = [(":method", "GET"), (":path", "/app/hello"), (":scheme", "http"),
            (":authority", "127.0.0.1")]
    flags = {"END_HEADERS", "END_STREAM"}
    frames = []
    if case in MALFORMED:
        hs = base + MALFORMED[case]
    elif case == "no-path":
        hs = [h for h in base if h[0] != ":path"]
    elif case == "pseudo-after-regular":
        hs = base[:2] + [("accept", "*/*")] + base[2:]
    elif case == "unknown-pseudo":
        hs = base + [(":protocol", "x")]
    else:
        hs = [(":method", "POST")] + base[1:] + [("content-length", "10")]
        flags = {"END_HEADERS"}
        frames.append(hf.DataFrame(1, data=b"12345", flags={"END_STREAM"}))
    frames.insert(0, hf.HeadersFrame(1, data=r.enc.encode(hs), flags=flags))
    r.send(*frames)
    # then a good request on the same connection: only the bad stream is refused
    r.send(hf.HeadersFrame(3, data=r.block("/hello.txt"), flags={"END_HEADERS", "END_STREAM"}))
    rst, ok = None, False
    for f in r.frames(10):
        if isinstance(f, hf.RstStreamFrame) and f.stream_id == 1:
            rst = f.error_code
        if isinstance(f, hf.HeadersFrame) and f.stream_id == 1:
            raise AssertionError(f"{case}: the malformed request was answered")
        if isinstance(f, hf.DataFrame) and f.stream_id == 3 and "END_STREAM" in f.flags:
            ok = True
        if isinstance(f, hf.GoAwayFrame):
            raise AssertionError(f"{case}: GOAWAY {f.error_code}, not a stream error")
        if rst is not None and ok:
            break
    r.close()
    assert rst == PROTOCOL_ERROR and ok, (case, rst, ok)
    # it never reached the pool (nor the access log as a request)
    assert "/app/hello" not in w.access_log()
    wait_for(lambda: status(w)["frontend"]["http2"]["limits"]["H2_Malformed"] >= 1,
             what="the malformed request counted")


# --- attacks: each ends in GOAWAY, bounded, while others are served ------------------

def attack_frames(r, kind, n):
    """n frames of one attack, as bytes to send in batches."""
    if kind == "rapid_reset":
        out = []
        for i in range(n):
            sid = 1 + 2 * i
            out += [hf.HeadersFrame(sid, data=r.block(), flags={"END_HEADERS", "END_STREAM"}),
                    hf.RstStreamFrame(sid, error_code=0x8)]
        return out
    if kind == "continuation":
        out = [hf.HeadersFrame(1, data=r.block()[:4], flags=set())]
        out += [hf.ContinuationFrame(1, data=b"") for _ in range(n)]
        return out
    if kind == "hpack_bomb":
        # one 4 KiB value in the dynamic table, then references to it: tiny on the wire
        enc = r.enc
        first = enc.encode([(":method", "GET"), (":path", "/"), (":scheme", "http"),
                            (":authority", "x"), ("x-bomb", "a" * 4000)])
        again = enc.encode([("x-bomb", "a" * 4000)]) * 200
        return [hf.HeadersFrame(1, data=first, flags=set()),
                hf.ContinuationFrame(1, data=again, flags={"END_HEADERS"})]
    if kind == "settings":
        return [hf.SettingsFrame(0, settings={0x4: 65535}) for _ in range(n)]
    if kind == "ping":
        return [hf.PingFrame(0, opaque_data=b"\0" * 8) for _ in range(n)]
    if kind == "priority":
        return [hf.PriorityFrame(1 + 2 * (i % 50), depends_on=0, stream_weight=15)
                for i in range(n)]
    if kind == "empty_data":
        return [hf.HeadersFrame(1, data=r.enc.encode(
            [(":method", "POST"), (":path", "/hello.txt"), (":scheme", "http"),
             (":authority", "127.0.0.1")]), flags={"END_HEADERS"})] + \
            [hf.DataFrame(1, data=b"") for _ in range(n)]
    if kind == "streams":
        return [hf.HeadersFrame(1 + 2 * i, data=r.enc.encode(
            [(":method", "POST"), (":path", "/hello.txt"), (":scheme", "http"),
             (":authority", "127.0.0.1")]), flags={"END_HEADERS"}) for i in range(n)]
    raise ValueError(kind)


ATTACKS = {  # kind: (GOAWAY code, counter token, frames)
    "rapid_reset": (ENHANCE_YOUR_CALM, "H2_RapidReset", 5000),
    "continuation": (ENHANCE_YOUR_CALM, "H2_ContinuationFlood", 100000),
    "hpack_bomb": (ENHANCE_YOUR_CALM, "H2_HeaderListSize", 0),
    "settings": (ENHANCE_YOUR_CALM, "H2_SettingsFlood", 100000),
    "ping": (ENHANCE_YOUR_CALM, "H2_PingFlood", 100000),
    "priority": (ENHANCE_YOUR_CALM, "H2_PriorityFlood", 100000),
    "empty_data": (ENHANCE_YOUR_CALM, "H2_EmptyDataFlood", 100000),
    "streams": (PROTOCOL_ERROR, "H2_TooManyStreams", 300),
}


@pytest.mark.parametrize("kind", sorted(ATTACKS))
def test_attack_ends_in_goaway_bounded_while_others_served(make_weir, site, kind):
    code, token, n = ATTACKS[kind]
    w = start(make_weir, root=site)
    pid = wait_for(w.frontend_pid, what="front end pid")
    # warm: a first connection so the baseline RSS has its buffers
    Client(w.h2port).get("/hello.txt")
    cpu0, rss0 = proc_usage(pid)
    stop = threading.Event()
    served = []

    def other():
        while not stop.is_set():
            c = Client(w.h2port)
            r = c.get("/1k.bin")
            served.append(r["headers"][":status"] == "200" and len(r["data"]) == 1024)
            c.close()

    th = threading.Thread(target=other)
    th.start()
    try:
        r = Raw(w.h2port)
        if kind == "streams":
            r.ack_settings()
        frames = attack_frames(r, kind, n)
        sent = 0
        for i in range(0, len(frames), 500):
            if not r.send(*frames[i:i + 500]):
                break
            sent += len(frames[i:i + 500])
        got = r.goaway(timeout=20)
        r.close()
        wait_for(lambda: len(served) >= 3, what="another client's requests")
    finally:
        stop.set()
        th.join(30)
    cpu1, rss1 = proc_usage(pid)
    print(f"{kind}: sent {sent} frames; GOAWAY {got}; front end CPU {cpu1 - cpu0:.2f}s, "
          f"RSS {rss0} -> {rss1} KiB")
    assert got == code, (kind, got)
    assert all(served), served
    assert cpu1 - cpu0 < 5.0
    assert rss1 - rss0 < 32 * 1024
    wait_for(lambda: status(w)["frontend"]["http2"]["limits"][token] >= 1,
             what=f"{token} counted")
    wait_for(lambda: token in w.httperr_log(), what=f"{token} in httperr.log")


# --- connection life ----------------------------------------------------------------

def test_goaway_on_stop_lets_inflight_streams_finish(make_weir, site):
    w = start(make_weir, root=site, pool=True)
    assert Client(w.h2port).get("/app/hello")["headers"][":status"] == "200"  # pool up
    # raw frames: python-h2 drops streams once it has a GOAWAY
    r = Raw(w.h2port)
    r.send(hf.HeadersFrame(1, data=r.block("/app/slow?ms=1500"),
                           flags={"END_HEADERS", "END_STREAM"}))
    applog = w.log_dir / "pools" / "app.log"
    wait_for(lambda: applog.exists() and "slow start" in applog.read_text(errors="replace"),
             what="the request at its worker")
    w.proc.send_signal(15)
    dec = hpack.Decoder()
    goaway, st, body, ended = None, None, b"", False
    for f in r.frames(20):
        if isinstance(f, hf.GoAwayFrame):
            goaway = (f.error_code, f.last_stream_id)
        elif isinstance(f, hf.HeadersFrame) and f.stream_id == 1:
            st = dict(dec.decode(f.data))[":status"]
        elif isinstance(f, hf.DataFrame) and f.stream_id == 1:
            body += f.data
            ended = "END_STREAM" in f.flags
    r.close()
    assert goaway == (NO_ERROR, 1), goaway
    assert st == "200" and ended and body.startswith(b"slow "), (st, body)


def test_idle_connection_gets_goaway(make_weir, site):
    w = start(make_weir, root=site, extra="keepalive_timeout = 1s\n")
    c = Client(w.h2port)
    assert c.get("/hello.txt")["headers"][":status"] == "200"
    c.wait(lambda: c.goaway is not None or c.closed, timeout=15)
    assert c.goaway == NO_ERROR
    c.close()


def raw_get(r, sid, path, timeout=20):
    """Ask for path on stream sid of a Raw connection: (status, GOAWAY's
    (code, last stream) or None) once the stream ended."""
    r.send(hf.HeadersFrame(sid, data=r.block(path), flags={"END_HEADERS", "END_STREAM"}))
    if not hasattr(r, "dec"):       # HPACK state is the connection's
        r.dec = hpack.Decoder()
    dec = r.dec
    st = goaway = None
    for f in r.frames(timeout):
        if isinstance(f, hf.GoAwayFrame):
            goaway = (f.error_code, f.last_stream_id)
        elif isinstance(f, hf.HeadersFrame) and f.stream_id == sid:
            st = dict(dec.decode(f.data))[":status"]
        if f.stream_id == sid and "END_STREAM" in getattr(f, "flags", ()):
            break
    return st, goaway


def test_drain_ends_an_http2_connection_with_goaway(make_weir, site):
    """`weir drain`: what keep-alive gets on HTTP/1.1 (Connection: close
    after the response) an HTTP/2 connection gets as GOAWAY NO_ERROR: the
    stream asked for is answered, no new one is taken; a new connection is
    still served (its first stream) while the drain lasts."""
    w = start(make_weir, root=site, extra="health_path = /lb-health\ndrain_time = 30s\n")
    r = Raw(w.h2port)
    assert raw_get(r, 1, "/hello.txt") == ("200", None)
    out = subprocess.run([w.binary, "drain", "--no-wait", "-s", str(w.state_dir / "admin.sock")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr

    def health():
        n = Raw(w.h2port)
        try:
            return raw_get(n, 1, "/lb-health")
        finally:
            n.close()
    wait_for(lambda: health()[0] == "503", what="health_path 503")
    assert health() == ("503", (NO_ERROR, 1))
    # the connection open before: its next stream is answered, with GOAWAY
    st, goaway = raw_get(r, 3, "/hello.txt")
    r.close()
    assert st == "200" and goaway == (NO_ERROR, 3), (st, goaway)
    # the drain of drain_time = 30s cut short: weir stops at once, cleanly
    assert w.stop(signal.SIGQUIT) == 0


def test_listen_option_errors(make_weir, tmp_path):
    w = make_weir("[site main]\n", start=False,
                  server_extra=f"listen = 127.0.0.1:{free_port()} h3\n")
    out = subprocess.run([w.binary, "check", "-c", str(w.conf_path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "is not a listen option (tls, h2c, proxy_protocol, alpn=, health_path=)" in out.stdout + out.stderr


# --- over TLS (ALPN) --------------------------------------------------------------

@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    from test_tls import Certs
    c = Certs(tmp_path_factory.mktemp("certs"))
    c.a = c.leaf("a-ecdsa", ["a.test"])
    return c


def start_tls(make_weir, certs, site, alpn="", pool=False):
    """A weir with a TLS address (w.tls) offering the default ALPN or alpn=."""
    tls = free_port()
    cert, key = certs.a
    body = f"[pool app]\ncommand = {APP}\n" if pool else ""
    body += (f"[site a]\nroot = {site}\nhosts = a.test\ncertificate = {cert}\n"
             f"certificate_key = {key}\n" + ("app = /app app\n" if pool else ""))
    w = make_weir(body, server_extra=f"listen = 127.0.0.1:{tls} tls {alpn}\n")
    w.tls = tls
    return w


def tls_ctx(certs, protos=("h2", "http/1.1")):
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    ctx.set_alpn_protocols(list(protos))
    return ctx


def curl_tls(w, certs, *args):
    return subprocess.run(["curl", "-sS", "--cacert", str(certs.ca), "--resolve",
                           f"a.test:{w.tls}:127.0.0.1"] + list(args),
                          capture_output=True, timeout=60)


def test_tls_alpn_offers_h2_then_http11(make_weir, certs, site):
    w = start_tls(make_weir, certs, site, pool=True)
    url = f"https://a.test:{w.tls}"
    out = curl_tls(w, certs, "--http2", "-D", "-", "-o", str(w.dir / "o"), f"{url}/100k.bin")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(b"HTTP/2 200"), out.stdout
    assert sha((w.dir / "o").read_bytes()) == sha((site / "100k.bin").read_bytes())
    # a client that offers only HTTP/1.1 gets it
    out = curl_tls(w, certs, "--http1.1", "-D", "-", "-o", "/dev/null", f"{url}/hello.txt")
    assert out.stdout.startswith(b"HTTP/1.1 200"), out.stdout
    # many streams to static files and the pool on one TLS connection
    c = Client(w.tls, tls=tls_ctx(certs))
    want = {"/100k.bin": sha((site / "100k.bin").read_bytes()),
            "/app/big?mb=1": sha(b"y" * (1 << 20))}
    sids = {c.request(p): p for p in list(want) * 20}
    assert c.wait(lambda: all(c.done(s) for s in sids), timeout=60)
    for sid, p in sids.items():
        assert c.streams[sid]["headers"][":status"] == "200" and sha(c.streams[sid]["data"]) == want[p], (p, sid, len(c.streams[sid]["data"]), c.streams[sid]["ended"], c.streams[sid]["reset"], c.goaway, c.closed)
    c.close()
    wait_for(lambda: status(w)["frontend"]["requests"]["HTTP/2.0"] >= 41,
             what="HTTP/2 over TLS counted")


def test_tls_alpn_http11_only_listener(make_weir, certs, site):
    w = start_tls(make_weir, certs, site, alpn="alpn=http/1.1")
    out = curl_tls(w, certs, "--http2", "-D", "-", "-o", "/dev/null",
                   f"https://a.test:{w.tls}/hello.txt")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(b"HTTP/1.1 200"), out.stdout
    # a client that speaks only h2 is refused (no_application_protocol)
    s = socket.create_connection(("127.0.0.1", w.tls), timeout=10)
    with pytest.raises(ssl.SSLError):
        tls_ctx(certs, ["h2"]).wrap_socket(s, server_hostname="a.test")
    s.close()


def test_tls_flood_ends_in_goaway(make_weir, certs, site):
    w = start_tls(make_weir, certs, site)
    r = Raw(w.tls, tls=tls_ctx(certs))
    frames = [hf.PingFrame(0, opaque_data=b"\0" * 8) for _ in range(5000)]
    for i in range(0, len(frames), 500):
        if not r.send(*frames[i:i + 500]):
            break
    assert r.goaway() == ENHANCE_YOUR_CALM
    r.close()
    c = Client(w.tls, tls=tls_ctx(certs))
    assert c.get("/hello.txt")["headers"][":status"] == "200"
    c.close()


def test_tls_stream_tells_the_pool_about_tls(make_weir, certs, site):
    """A stream that came over TLS is an HTTPS request to the pool: the
    same X-Forwarded-Proto and X-TLS-* values as an HTTP/1.1 request on a
    TLS connection (tls.md), and a client's own X-TLS-* never passes."""
    w = start_tls(make_weir, certs, site, pool=True)
    c = Client(w.tls, tls=tls_ctx(certs))
    r = c.get("/app/headers", headers=[("x-tls-protocol", "spoofed")])
    # the connection's values, computed once, go with each of its streams
    more = [c.get("/app/headers") for _ in range(3)]
    c.close()
    assert r["headers"][":status"] == "200"
    h = {k.lower(): v for k, v in json.loads(r["data"])["headers"]}
    for m in more:
        hm = {k.lower(): v for k, v in json.loads(m["data"])["headers"]}
        assert {k: v for k, v in hm.items() if k.startswith("x-tls-")} == \
            {k: v for k, v in h.items() if k.startswith("x-tls-")}
    assert h["x-forwarded-proto"] == "https"
    assert h["x-tls-protocol"] == "TLSv1.3"
    assert "spoofed" not in json.dumps(h)
    # the same values as HTTP/1.1 over TLS
    out = curl_tls(w, certs, "--http1.1", f"https://a.test:{w.tls}/app/headers")
    h1 = {k.lower(): v for k, v in json.loads(out.stdout)["headers"]}
    for k in ("x-forwarded-proto", "x-tls-protocol", "x-tls-cipher", "x-tls-server-end-point"):
        assert h1.get(k) == h.get(k), k
