"""HTTP/2 clients that do everything at once: seeded random sequences of
what a client may do on a connection (h2c or TLS) -- static streams, an
HTTP pool's and a PHP (FastCGI) pool's, ranges, HEAD, bodies with and
without content-length, trailers, priority fields and PRIORITY_UPDATE
frames, large header sections, resets at any point, the window kept back
and given back, settings changed, pings, the connection dropped -- against
one weir with the default settings, then one that streams bodies and
answers (test_http1_monkey.py's monkey_weir).

Whatever a client does, weir must not crash, leak or corrupt: every stream
that ends, ends with the right bytes (by SHA-256); once the client reads
again, every stream it still waits on ends (answered or reset) unless the
connection was closed; a plain request after each connection is answered;
the front end is the same process at the end and weir exits 0 (under ASan,
`make asan`, with no report).  The same again while `weir reload`s follow
one another, and while ready workers are SIGKILLed (test_http1_monkey.py's
CHAOS): a stream whose worker died mid-answer is reset, never ended short.
WEIR_MONKEY_SEEDS (default 40) and WEIR_MONKEY_BASE run more or other
sequences.
"""
import os
import socket
import time

import pytest


h2 = pytest.importorskip("h2")
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.exceptions  # noqa: E402
import h2.settings  # noqa: E402

from test_http1_monkey import CHAOS, monkey_weir, run_monkeys  # noqa: E402,F401  (the fixture)
from test_http2 import certs, connect, sha  # noqa: E402,F401  (certs: monkey_weir's)



class Monkey:
    """One connection and a seeded random walk over it."""

    def __init__(self, port, rng, tls=None):
        self.rng = rng
        self.sock = connect(port, tls, timeout=10)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_inbound_headers=False)
        self.c = h2.connection.H2Connection(config=cfg)
        self.c.initiate_connection()
        self.streams = {}
        self.ack = True
        self.owed = 0           # bytes received while not acknowledging
        self.dead = False
        self.goaway = None      # the error code of weir's GOAWAY
        self.flush()

    def flush(self):
        d = self.c.data_to_send()
        if d and not self.dead:
            try:
                self.sock.sendall(d)
            except OSError:
                self.dead = True

    def open(self, path, method="GET", body=None, cl=True, trailers=False, headers=()):
        try:
            sid = self.c.get_next_available_stream_id()
            hs = [(":method", method), (":path", path), (":scheme", "http"),
                  (":authority", "a.test")] + list(headers)
            if body is not None and cl:
                hs.append(("content-length", str(len(body))))
            self.c.send_headers(sid, hs, end_stream=body is None)
        except (h2.exceptions.ProtocolError, h2.exceptions.TooManyStreamsError):
            return None
        self.streams[sid] = {"path": path, "method": method, "body": body, "sent": 0,
                             "trailers": trailers, "headers": None, "data": bytearray(),
                             "ended": False, "reset": None, "cancelled": False}
        self.flush()
        return sid

    def pump(self):
        for sid, s in list(self.streams.items()):
            body = s["body"]
            if body is None or s["sent"] > len(body) or s["cancelled"] or s["reset"] is not None:
                continue
            try:
                while s["sent"] < len(body):
                    room = min(self.c.local_flow_control_window(sid),
                               self.c.max_outbound_frame_size, len(body) - s["sent"])
                    if room <= 0:
                        break
                    end = s["sent"] + room == len(body) and not s["trailers"]
                    self.c.send_data(sid, body[s["sent"]:s["sent"] + room], end_stream=end)
                    s["sent"] += room
                if s["sent"] == len(body):
                    if s["trailers"]:
                        self.c.send_headers(sid, [("x-check", "1")], end_stream=True)
                    elif not body:
                        self.c.send_data(sid, b"", end_stream=True)
                    s["sent"] += 1      # done
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError,
                    h2.exceptions.FlowControlError):
                s["sent"] = len(body) + 1
        self.flush()

    def set_ack(self, on):
        """Stop giving the window back, or give back (the connection's) what
        came meanwhile: a client that reads again."""
        self.ack = on
        if on and self.owed and not self.dead:
            self.c.increment_flow_control_window(self.owed)
            self.owed = 0
            self.flush()

    def read(self, timeout=0.05):
        if self.dead:
            return
        self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(1 << 16)
        except socket.timeout:
            return
        except OSError:
            d = b""
        if not d:
            self.dead = True
            return
        try:
            events = self.c.receive_data(d)
        except h2.exceptions.ProtocolError:
            self.dead = True
            return
        for ev in events:
            s = self.streams.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived) and s is not None:
                s["headers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                if s is not None:
                    s["data"] += ev.data
                if self.ack:
                    try:
                        self.c.acknowledge_received_data(ev.flow_controlled_length,
                                                         ev.stream_id)
                    except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                        pass
                else:
                    self.owed += ev.flow_controlled_length
            elif isinstance(ev, h2.events.StreamEnded) and s is not None:
                s["ended"] = True
            elif isinstance(ev, h2.events.StreamReset) and s is not None:
                s["reset"] = ev.error_code
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.dead = True
                self.goaway = ev.error_code
        self.pump()

    def step(self, files):
        r = self.rng.random()
        rng = self.rng
        if r < 0.25:
            hs = []
            if rng.random() < 0.1:
                hs.append(("range", "bytes=10-2000"))
            if rng.random() < 0.03:
                # a large header section; rarely one over max_header_size (GOAWAY)
                hs += [("x-pad-%d" % i, "v" * 1000)
                       for i in range(rng.choice([4, 4, 4, 30, 40]))]
            if rng.random() < 0.1:
                hs.append(("priority", "u=%d%s" % (rng.randint(0, 7),
                                                   ", i" if rng.random() < 0.5 else "")))
            self.open(rng.choice(list(files) + ["/missing", "/"]),
                      method=rng.choice(["GET", "GET", "GET", "HEAD"]), headers=hs)
        elif r < 0.45:
            self.open(rng.choice(["/app/x", "/app/stream?n=40&size=9000", "/app/big?mb=2",
                                  "/app/slow?ms=30", "/app/close", "/app/status?code=500",
                                  "/app/oddheaders", "/app/missing/", "/hi.php",
                                  "/nothere.php"]))
        elif r < 0.6:
            size = rng.choice([0, 1, 1000, 70000, 300000])
            # (/early413 reads 10 bytes of the body first)
            self.open(rng.choice(["/app/echo", "/app/echostream", "/echo.php"] +
                                 (["/app/early413?n=10"] if size >= 10 else [])),
                      method="POST", body=os.urandom(size), cl=rng.random() < 0.7,
                      trailers=rng.random() < 0.2)
        elif r < 0.7:
            live = [k for k, s in self.streams.items()
                    if not s["ended"] and s["reset"] is None and not s["cancelled"]]
            if live:
                k = rng.choice(live)
                try:
                    self.c.reset_stream(k, error_code=rng.choice([0, 8]))
                    self.streams[k]["cancelled"] = True
                except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                    pass
                self.flush()
        elif r < 0.75:
            self.set_ack(not self.ack)
        elif r < 0.8:
            try:
                self.c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE:
                                        rng.choice([1, 1000, 65535, 1 << 20])})
            except h2.exceptions.ProtocolError:
                pass
            self.flush()
        elif r < 0.83:
            self.c.ping(os.urandom(8))
            self.flush()
        elif r < 0.85 and self.streams:
            # RFC 9218 PRIORITY_UPDATE (h2 does not know the frame: raw)
            k = rng.choice(list(self.streams))
            field = b"u=%d" % rng.randint(0, 7)
            payload = k.to_bytes(4, "big") + field
            self.flush()
            try:
                self.sock.sendall(len(payload).to_bytes(3, "big") + b"\x10\x00" +
                                  b"\x00\x00\x00\x00" + payload)
            except OSError:
                self.dead = True
        else:
            self.read()

    def check(self, files):
        """Every stream that ended, ended right."""
        for sid, s in self.streams.items():
            if not s["ended"] or s["cancelled"] or s["reset"] is not None:
                continue
            h = s["headers"] or {}
            code = h.get(":status")
            p = s["path"]
            assert code is not None, (sid, s["path"])
            if p in files and s["method"] == "GET" and code == "200":
                assert sha(s["data"]) == sha(files[p]), (sid, p, len(s["data"]))
            if p in files and s["method"] == "GET" and code == "206":
                assert bytes(s["data"]) == files[p][10:2001], (sid, p)
            if s["method"] == "HEAD":
                assert len(s["data"]) == 0, (sid, p)
            if p == "/app/echo" and code == "200" and s["sent"] > len(s["body"]):
                assert sha(s["data"]) == sha(s["body"]), (sid, len(s["data"]), len(s["body"]))
            if p in ("/app/echostream", "/echo.php") and code == "200":
                assert sha(s["data"]) == sha(s["body"]), (sid, len(s["data"]), len(s["body"]))
            if p == "/app/x":
                assert code == "200" and s["data"].startswith(b"hello from"), (sid, code)
            if p == "/hi.php":
                assert code == "200" and s["data"].startswith(b"php "), (sid, code)

    def close(self):
        self.sock.close()


def one_connection(w, rng):
    """A seeded random walk on one connection, h2c or TLS; what is still
    open then is waited for (or the connection dropped with it)."""
    m = Monkey(w.tls, rng, w.ctx) if rng.random() < 0.5 else Monkey(w.h2port, rng)
    try:
        for _ in range(rng.randint(20, 200)):
            m.step(w.files)
            if m.dead:
                break
        if rng.random() < 0.2:
            return      # dropped with whatever is open
        # let what is open finish (the windows the monkey closed opened again)
        m.set_ack(True)
        if not m.dead:
            m.c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
            m.flush()
        end = time.monotonic() + 5
        while not m.dead and time.monotonic() < end and any(
                not s["ended"] and s["reset"] is None and not s["cancelled"]
                for s in m.streams.values()):
            m.read(0.2)
        m.check(w.files)
        hung = [(k, v["method"], v["path"], (v["headers"] or {}).get(":status"), len(v["data"]))
                for k, v in m.streams.items()
                if not v["ended"] and v["reset"] is None and not v["cancelled"]]
        assert m.dead or not hung, hung
    finally:
        m.close()


@pytest.mark.parametrize("chaos", list(CHAOS))
def test_random_clients(monkey_weir, chaos):
    run_monkeys(monkey_weir, one_connection, chaos)
