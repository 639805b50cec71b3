"""HTTP/2 streams a pool answers, and streams with a request body, run on
a connection whose socket is the stream itself (h2stream.c: h2s_pipe(),
cio.c hands its I/O to the stream): no socketpair, and everything an
HTTP/1.1 request goes through -- the queue, the pool handler, spool and
request_buffering, response_buffer, send_timeout, error pages, the access
log with the client's address.

What is checked, each through the Python h2 client on a raw socket (every
frame is seen): what the pool is told (X-Forwarded-For, the HTTP/1.1 request
it gets), the access-log line and counters of a pool stream, the error
pages a pool's failures give a stream (502, 503, 504) and 413 for a body
over max_body, a chunked body streamed to a pool with request_buffering
off (the client's window given back only as the pool takes it), and a slow
reader of a response larger than response_buffer: its stream is reset
after send_timeout and its worker released, while another stream on the
same connection is answered.  A response complete before the client's body
is in (an early 413) is followed by RST_STREAM NO_ERROR and the connection
goes on.  No stream is lost when the pool's workers are killed (with the
default settings) or recycled, or the configuration is reloaded, under
HTTP/2 load; after a reload, new streams on a connection opened before it
get the new configuration.
"""
import json
import os

import pytest

import conftest
from conftest import cli, free_port, wait_for

h2 = pytest.importorskip("h2")
from test_http2 import APP, Client, h2conf, random_files, sha, start, status  # noqa: E402
from test_pools import GUNICORN, events, pid_alive, pool, sitesec  # noqa: E402
from test_rapidfail import chaos  # noqa: E402


def start_conf(make_weir, body, extra=""):
    """A weir with an h2c listener (w.h2port) and this configuration body."""
    port = free_port()
    c = h2conf(port, extra, body)
    w = make_weir(c["conf_body"], server_extra=c["server_extra"])
    w.h2port = port
    return w


def start_pool(make_weir, pool_keys, extra=""):
    """/app routed to a pool of tests/apps/app.py with pool_keys."""
    return start_conf(make_weir, f"[pool app]\ncommand = {APP}\n{pool_keys}"
                      "[site main]\napp = /app app\n", extra)


class H2Load(conftest.Load):
    """conftest's Load over HTTP/2: each thread holds an h2c connection and
    keeps `streams` GETs of path in flight on it at once.  A stream is ok
    when it ends in a 200 whose body expect(body) accepts; a reset, another
    status, a connection closed or any exception is kept in failed."""

    streams = 8

    def connection(self):
        return Client(self.port)

    def exchange(self, c, n):
        sids = [c.request(self.path) for _ in range(self.streams)]
        if not c.wait(lambda: all(c.done(s) for s in sids)):
            raise AssertionError(f"connection closed, GOAWAY {c.goaway}")
        c.order.clear()
        with self.lock:
            for sid in sids:
                s = c.streams.pop(sid)
                code = (s["headers"] or {}).get(":status")
                if code == "200" and s["reset"] is None and self.expect(bytes(s["data"])):
                    self.ok += 1
                else:
                    self.failed.append((code, s["reset"], bytes(s["data"][:100])))
        return True


def hello(body):
    return body.startswith(b"hello from")


def post_chunked(c, path, data):
    """A POST without content-length (the pool gets it chunked)."""
    sid = c.c.get_next_available_stream_id()
    c.c.send_headers(sid, [(":method", "POST"), (":path", path), (":scheme", "http"),
                           (":authority", "127.0.0.1")])
    c.streams[sid] = {"headers": None, "data": bytearray(), "ended": False, "reset": None,
                      "body": data, "sent": 0}
    c.flush()
    c.pump_body(sid)
    return sid


def test_pool_stream_request_log_and_counters(make_weir, site):
    w = start(make_weir, root=site, pool=True)
    c = Client(w.h2port)
    r = c.get("/app/headers?x=1", headers=[("x-custom", "v")])
    assert r["headers"][":status"] == "200" and r["reset"] is None
    seen = json.loads(bytes(r["data"]))
    hs = {k.lower(): v for k, v in seen["headers"]}
    assert seen["method"] == "GET" and seen["path"] == "/app/headers?x=1"
    assert hs["x-forwarded-for"] == "127.0.0.1" and hs["x-custom"] == "v"
    assert hs["host"] == "127.0.0.1"
    # HEAD: the pool's head, no DATA
    r = c.get("/app/hello", method="HEAD")
    assert r["headers"][":status"] == "200" and r["data"] == b""
    c.close()
    line = wait_for(lambda: next((ln for ln in w.access_log().splitlines()
                                  if "/app/headers" in ln), None),
                    what="the pool stream's access-log line")
    assert "HTTP/2.0" in line and "127.0.0.1" in line and " 200 " in line, line
    fe = wait_for(lambda: (s := status(w)["frontend"])["requests"]["HTTP/2.0"] >= 2 and s,
                  what="HTTP/2 requests counted")
    assert fe["requests"]["HTTP/1.1"] == 0, fe["requests"]


def test_pool_stream_after_rewrite_rules(make_weir):
    """A pool request is served as the stream's detached connection parsed
    it (http1_serve_parsed(), not parsed again), routed again from its head
    as it came: the pool gets the target rewritten once, not twice."""
    w = start_conf(make_weir, f"[pool app]\ncommand = {APP}\n"
                   "[site main]\napp = /app app\n"
                   "rewrite = ^/old/(.*)$ /app/$1\n"
                   "rewrite = ^/app/twice$ /app/headers?rewritten=twice\n")
    c = Client(w.h2port)
    for path, want in (("/old/headers?x=1", "/app/headers?x=1"),
                       ("/app/headers?y=2", "/app/headers?y=2"),
                       ("/old/twice", "/app/headers?rewritten=twice")):
        r = c.get(path)
        assert r["headers"][":status"] == "200" and r["reset"] is None, (path, r)
        assert json.loads(bytes(r["data"]))["path"] == want, path
    c.close()


def test_pool_failures_are_error_pages_on_the_stream(make_weir, site):
    """502 (the worker dies, twice: the retry too), 504 (response_timeout),
    413 (max_body): each a
    response on its stream, not a reset, and the connection goes on."""
    w = start_pool(make_weir, "processes = 1\nresponse_timeout = 1s\nqueue_timeout = 1s\n",
                   extra="max_body = 1k\n")
    c = Client(w.h2port)
    r = c.get("/app/kill")
    assert r["reset"] is None and r["headers"][":status"] == "502", r["headers"]
    r = c.get("/app/slow?ms=3000")
    assert r["reset"] is None and r["headers"][":status"] == "504", r["headers"]
    sid = c.request("/app/echo", method="POST", body=b"z" * 2000)
    assert c.wait(lambda: c.done(sid), timeout=30)
    s = c.streams[sid]
    assert s["reset"] is None and s["headers"][":status"] == "413", s["headers"]
    r = c.get("/app/hello")
    assert r["headers"][":status"] == "200" and bytes(r["data"]).startswith(b"hello from ")
    c.close()

    def logged(st):
        return any("HTTP/2.0" in ln and f" {st} " in ln for ln in w.access_log().splitlines())
    wait_for(lambda: all(logged(st) for st in ("502", "504", "413")),
             what="the 502, 504 and 413 lines in access.log")


def test_early_answer_resets_the_stream_no_error(make_weir, site):
    """A response complete while the client still sends its body (413: the
    declared length is over max_body, answered before the body is in) is
    followed by RST_STREAM NO_ERROR (RFC 9113 §8.1): the client stops
    sending instead of waiting with its window spent, and the connection
    goes on serving."""
    w = start_pool(make_weir, "processes = 1\n", extra="max_body = 1k\n")
    c = Client(w.h2port)
    body = b"z" * (1 << 20)     # far more than a stream's window
    sid = c.request("/app/echo", method="POST", body=body)
    assert c.wait(lambda: c.streams[sid]["reset"] is not None, timeout=30), c.streams[sid]
    s = c.streams[sid]
    assert s["headers"][":status"] == "413" and s["ended"], s["headers"]
    assert s["reset"] == h2.errors.ErrorCodes.NO_ERROR, s["reset"]
    assert s["sent"] < len(body), "the whole body went: the reset did not stop it"
    r = c.get("/app/hello")
    assert r["headers"][":status"] == "200" and bytes(r["data"]).startswith(b"hello from ")
    assert c.goaway is None
    c.close()


def test_queue_timeout_is_503_on_the_stream(make_weir, site):
    """One worker slot, busy on one stream: the next stream waits in the
    pool's queue and gets 503 after queue_timeout; the first is answered."""
    w = start_pool(make_weir, "processes = 1\nmax_conns = 1\nqueue_timeout = 1s\n")
    c = Client(w.h2port)
    busy = c.request("/app/slow?ms=2500")
    wait_for(lambda: status(w)["pools"][0]["inflight"] == 1, timeout=30,
             what="the slow request on the worker")
    queued = c.request("/app/hello")
    assert c.wait(lambda: c.done(queued) and c.done(busy), timeout=30)
    assert c.streams[queued]["headers"][":status"] == "503"
    assert c.streams[busy]["headers"][":status"] == "200"
    assert bytes(c.streams[busy]["data"]).startswith(b"slow ")
    c.close()
    wait_for(lambda: any("HTTP/2.0" in ln and " 503 " in ln for ln in w.access_log().splitlines()),
             what="the 503 line in access.log")


def test_chunked_body_streams_to_the_pool_unbuffered(make_weir, site):
    """request_buffering = off: 3 MiB without content-length, in DATA frames
    of the client's window, reach the pool chunked; the window comes back
    as the pool takes the bytes (the client could not send 3 MiB on one)."""
    w = start_pool(make_weir, "request_buffering = off\n")
    data = os.urandom(3 << 20)
    c = Client(w.h2port)
    sid = post_chunked(c, "/app/echo", data)
    assert c.wait(lambda: c.done(sid), timeout=120)
    s = c.streams[sid]
    assert s["reset"] is None and s["headers"][":status"] == "200"
    assert s["headers"]["x-sha256"] == sha(data) and sha(s["data"]) == sha(data)
    c.close()


def test_slow_reader_past_response_buffer_is_reset_others_served(make_weir, site):
    """A client that gives no window for a 4 MiB pool response with
    response_buffer = 64k: its stream is reset once send_timeout passes,
    its worker is freed, and a stream opened on the same connection
    meanwhile is answered by the same one-worker pool (once that worker is
    free: the slow stream holds it, never the connection)."""
    w = start_pool(make_weir, "processes = 1\nresponse_buffer = 64k\n",
                   extra="send_timeout = 2s\n")
    c = Client(w.h2port, window=1000)
    c.auto_ack = False
    slow = c.request("/app/big?mb=4")
    assert c.wait(lambda: len(c.streams[slow]["data"]) >= 1000, timeout=30)
    fast = c.request("/app/hello")      # its few bytes fit the window
    assert c.wait(lambda: c.done(slow) and c.done(fast), timeout=60)
    assert c.streams[slow]["reset"] is not None
    assert len(c.streams[slow]["data"]) == 1000
    r = c.streams[fast]
    assert r["reset"] is None and r["headers"][":status"] == "200"
    assert bytes(r["data"]).startswith(b"hello from ")
    wait_for(lambda: status(w)["pools"][0]["inflight"] == 0, timeout=20,
             what="the worker released")
    c.close()
    line = wait_for(lambda: next((ln for ln in w.access_log().splitlines()
                                  if "/app/big" in ln), None),
                    what="the reset stream's access-log line")
    assert "HTTP/2.0" in line, line


def test_pool_stream_waiting_its_turn_outlives_send_timeout(make_weir, tmp_path):
    """send_timeout judges what the client holds back, not the streams
    weir sends first: a 2 MiB pool response the client ranks last
    (priority u=7) waits behind six 512 KiB files it ranks first (u=0), on
    a link of 1 MB/s: three seconds with no byte for the pool's stream, its
    response buffered (response_buffer) and its connection to the stream
    blocked for longer than send_timeout = 2s.  It is not reset, and
    comes whole once its turn comes."""
    root, files = random_files(tmp_path, 6, 512 << 10)
    w = start_conf(make_weir, f"[pool app]\ncommand = {APP}\n"
                   f"[site main]\nroot = {root}\napp = /app app\n", extra="send_timeout = 2s\n")
    c = Client(w.h2port)
    c.pace = 1 << 20
    first = {c.request(p, headers=(("priority", "u=0"),)): p for p in files}
    last = c.request("/app/big?mb=2", headers=(("priority", "u=7"),))
    assert c.wait(lambda: c.done(last) and all(c.done(s) for s in first), timeout=60)
    for sid, p in first.items():
        s = c.streams[sid]
        assert s["reset"] is None and sha(s["data"]) == sha(files[p]), (p, s["reset"])
    s = c.streams[last]
    assert s["reset"] is None, s["reset"]
    assert s["headers"][":status"] == "200" and bytes(s["data"]) == b"y" * (2 << 20)
    c.close()
    assert "Timer" not in w.httperr_log()


def test_native_pool_stream_and_echoed_body(make_weir, site):
    """weir-host (modules/hello.c) on streams: its answer, and a body echoed
    back chunked, by sha256."""
    w = start_conf(make_weir, "[pool native]\nkind = native\nmodules = hello\n"
                   "hello.greeting = Hallo\n[site main]\napp = /n native\n")
    c = Client(w.h2port)
    r = c.get("/n/anything")
    assert r["headers"][":status"] == "200" and b"Hallo" in bytes(r["data"]), r
    # larger echoes, which need the body sent while the answer comes (full
    # duplex), are test_duplex.py's
    data = os.urandom(64 << 10)
    sid = c.request("/n/echo", method="POST", body=data)
    assert c.wait(lambda: c.done(sid), timeout=60)
    s = c.streams[sid]
    assert s["reset"] is None and s["headers"][":status"] == "200"
    assert sha(s["data"]) == sha(data)
    r = c.get("/n/info")
    assert r["headers"][":status"] == "200" and b"body: 0 bytes" in bytes(r["data"]), r
    c.close()


def test_streams_survive_ready_workers_killed_every_half_second(make_weir):
    """test_rapidfail's chaos, the load over HTTP/2, with the default
    settings: a ready worker SIGKILLed every half second while two
    connections keep eight streams each in flight.  Every stream ends in its
    200, each kill is a 1009 that does not count, the pool stays started."""
    w = start_conf(make_weir, pool("g", GUNICORN, processes=2, start_mode="always") +
                   sitesec(apps=(("/", "g"),)))
    load, killed = chaos(w, "g", "/x", hello, load=H2Load(w.h2port, "/x", conns=2, expect=hello))
    assert load.ok > 400


def test_streams_survive_overlapped_recycle_every_second(make_weir):
    """Workers recycled every second (overlapped: the new one ready before
    the old one is told to go) under the same HTTP/2 load: no stream fails,
    no worker crashes, the pool never stops."""
    w = start_conf(make_weir, pool("g", GUNICORN, processes=2, ping_path="/healthz",
                                   recycle_time="1s", start_mode="always") +
                   sitesec(apps=(("/", "g"),)))
    wait_for(lambda: w.log().count("ready in") >= 2, timeout=30, what="gunicorn workers")
    with H2Load(w.h2port, "/x", conns=2, expect=hello) as load:
        wait_for(lambda: len(events(w, 1074)) >= 6, timeout=30, what="several recycles")
    assert load.failed == [], load.failed[:5]
    assert load.ok > 200
    assert events(w, 1009) == [] and events(w, 1002) == []


def test_reload_under_load_new_streams_of_open_connections_get_it(make_weir, tmp_path):
    """`weir reload` keeps the front end and its HTTP/2 connections
    (docs/http2.md): a new pool command and a new route apply to the next
    stream of a connection opened before the reload, and two connections
    that keep eight streams each in flight across it see no failure."""
    wrapper = tmp_path / "app2.sh"
    wrapper.write_text(f"#!/bin/sh\nexport FLAVOUR=new\nexec {APP}\n")
    wrapper.chmod(0o755)
    w = start_pool(make_weir, "")
    c = Client(w.h2port)
    old = int(bytes(c.get("/app/pid")["data"]))
    assert c.get("/second/hello")["headers"][":status"] == "404"
    with H2Load(w.h2port, "/app/hello", conns=2, expect=hello) as load:
        wait_for(lambda: load.ok > 100, what="load")
        w.conf_path.write_text(w.conf_path.read_text()
                               .replace(f"command = {APP}\n", f"command = {wrapper}\n", 1)
                               .replace("app = /app app\n", "app = /app app\napp = /second app\n"))
        r = cli(w, "reload")
        assert r.returncode == 0 and "pools_changed: app" in r.stdout, (r.stdout, r.stderr)
        # the connection opened before the reload: the new route and command
        r = c.get("/second/hello")
        assert r["headers"][":status"] == "200" and bytes(r["data"]).startswith(b"hello from")
        wait_for(lambda: bytes(c.get("/app/env?name=FLAVOUR")["data"]) == b"new",
                 what="the new command serving the old connection")
        wait_for(lambda: not pid_alive(old), what="the old worker gone")
        n = load.ok
        wait_for(lambda: load.ok > n + 100, what="more load")
    c.close()
    assert load.failed == [], load.failed[:5]
    assert any(e["id"] == 1080 for e in w.events())
