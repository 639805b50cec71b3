"""FastCGI pools and external upstreams, the master's side: health by
FCGI_GET_VALUES, PHP_FCGI_MAX_REQUESTS exits as recycles, upstreams weir
does not start (probed, disabled as `unreachable`, re-enabled after the
back-off), the front end's spool directory.

Real programs: php-cgi and php-fpm from Debian (php8.2-cgi, php8.2-fpm),
a stdlib HTTP server on a Unix socket.  Most FastCGI requests these tests
need go straight to a worker's socket (state_dir/w<id>.sock) with the
minimal client below, so they do not depend on the front end's FastCGI
handler; the last tests go through it.  Every wait polls a condition with
a deadline.
"""
import http.client
import http.server
import glob
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import threading

import pytest

from conftest import WEIR, wait_for

PHP_CGI = "/usr/bin/php-cgi"
# Debian names the binary after PHP's version (php-fpm8.2 on Debian 12).
PHP_FPM = shutil.which("php-fpm") or max(glob.glob("/usr/sbin/php-fpm*"), default="php-fpm")

needs_php_cgi = pytest.mark.skipif(not os.access(PHP_CGI, os.X_OK), reason="php-cgi not installed")
needs_php_fpm = pytest.mark.skipif(not os.access(PHP_FPM, os.X_OK), reason="php-fpm not installed")


def pool(name, **keys):
    """A pool and a site that routes /NAME to it (a config needs a site)."""
    lines = [f"[pool {name}]"] + [f"{k} = {v}" for k, v in keys.items()]
    return "\n".join(lines) + f"\n[site {name}]\nhosts = {name}.test\napp = /{name} {name}\n"


def events(w, eid=None, pool_name=None):
    return [e for e in w.events()
            if (eid is None or e["id"] == eid) and (pool_name is None or e.get("pool") == pool_name)]


def wait_event(w, eid, n=1, timeout=20, pool_name=None):
    return wait_for(lambda: len(events(w, eid, pool_name)) >= n and events(w, eid, pool_name),
                    timeout=timeout, what=f"{n} event(s) {eid}")


def show(w, name):
    """`weir pool show NAME --json` against this weir's admin socket."""
    r = subprocess.run([WEIR, "pool", "show", name, "--json", "-s",
                        str(w.state_dir / "admin.sock")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def ready_workers(w, name):
    return [x for x in show(w, name)["workers"] if x["state"] == "ready"]


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


# --- a minimal FastCGI client -------------------------------------------------

def fcgi_record(rtype, rid, content=b""):
    pad = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBB", 1, rtype, rid, len(content), pad, 0) + content + b"\0" * pad


def fcgi_pair(name, value):
    def ln(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    return ln(len(name)) + ln(len(value)) + name + value


def fcgi_request(sock_path, script, timeout=10):
    """One FCGI_RESPONDER request; returns (stdout bytes, app status)."""
    params = b"".join(fcgi_pair(k.encode(), v.encode()) for k, v in {
        "SCRIPT_FILENAME": script, "SCRIPT_NAME": "/" + os.path.basename(script),
        "REQUEST_METHOD": "GET", "QUERY_STRING": "", "REDIRECT_STATUS": "200",
        "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1"}.items())
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(fcgi_record(1, 1, struct.pack(">HB5x", 1, 0)) +
                  fcgi_record(4, 1, params) + fcgi_record(4, 1) + fcgi_record(5, 1))
        buf, out = b"", b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed before FCGI_END_REQUEST: {buf!r}")
            buf += chunk
            while len(buf) >= 8:
                _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", buf[:8])
                if len(buf) < 8 + clen + plen:
                    break
                body, buf = buf[8:8 + clen], buf[8 + clen + plen:]
                if rtype == 6:
                    out += body
                elif rtype == 3:
                    return out, struct.unpack(">I", body[:4])[0]


# --- managed FastCGI workers (php-cgi) ------------------------------------------

@needs_php_cgi
def test_php_cgi_ready_via_get_values(make_weir):
    w = make_weir(pool("php", kind="fastcgi", command=PHP_CGI, processes=2,
                       start_mode="always"))
    wait_for(lambda: w.log().count("ready in") >= 2, what="two php-cgi workers ready")
    ws = ready_workers(w, "php")
    assert len(ws) == 2 and all(x["pid"] > 0 for x in ws)
    assert show(w, "php")["state"] == "started"
    # the readiness probe was closed once answered: php-cgi serves one
    # connection at a time, so a held probe would hold the worker
    for x in ws:
        sock = str(w.state_dir / f"w{x['id']}.sock")
        assert os.path.exists(sock)
        out, status = fcgi_request(sock, "/nonexistent.php")
        assert status in (0, 255) and b"Status: 404" in out, out[:200]
    assert events(w, 1009) == [] and events(w, 1010) == []


def test_fastcgi_worker_that_never_answers_get_values_is_not_ready(make_weir):
    # A program that never accepts on fd 0: the GET_VALUES probe waits in
    # the backlog, the startup time limit ends it.
    w = make_weir(pool("deaf", kind="fastcgi",
                       command="/usr/bin/python3 -c 'import time; time.sleep(60)'",
                       start_mode="always", startup_time_limit="1s"))
    e = wait_event(w, 1012)[0]
    assert e["pool"] == "deaf"
    assert "ready in" not in w.log()


@needs_php_cgi
def test_php_cgi_missed_get_values_ping_1010(make_weir):
    w = make_weir(pool("php", kind="fastcgi", command=PHP_CGI, processes=2,
                       start_mode="always", ping_interval="1s", ping_response_time="1s"))
    wait_for(lambda: len(ready_workers(w, "php")) == 2, what="two ready workers")
    victim = ready_workers(w, "php")[0]["pid"]
    os.kill(victim, signal.SIGSTOP)
    try:
        e = wait_event(w, 1010)[0]
        assert e["pid"] == victim and "did not answer a ping within 1s" in e["reason"], e
    finally:
        if pid_alive(victim):
            os.kill(victim, signal.SIGCONT)
    wait_for(lambda: not pid_alive(victim), what="the stopped php-cgi to be killed")
    wait_for(lambda: len(ready_workers(w, "php")) == 2 and
             victim not in [x["pid"] for x in ready_workers(w, "php")],
             what="a replacement worker")
    assert len(events(w, 1010)) == 1  # the healthy worker kept answering


@needs_php_cgi
def test_php_fcgi_max_requests_exit_is_a_recycle(make_weir, tmp_path):
    script = tmp_path / "hello.php"
    script.write_text("<?php echo 'hello from php';\n")
    w = make_weir(pool("php", kind="fastcgi", command=PHP_CGI, start_mode="always",
                       recycle_requests=1))
    wait_for(lambda: len(ready_workers(w, "php")) == 1, what="a ready worker")
    first = ready_workers(w, "php")[0]
    out, status = fcgi_request(str(w.state_dir / f"w{first['id']}.sock"), str(script))
    assert status == 0 and out.endswith(b"hello from php"), out
    # php-cgi exits 0 after PHP_FCGI_MAX_REQUESTS (= recycle_requests)
    e = wait_event(w, 1075)[0]
    assert e["pid"] == first["pid"] and "request limit" in e["message"], e
    assert e["limit"] == "PHP_FCGI_MAX_REQUESTS"
    wait_for(lambda: [x for x in ready_workers(w, "php") if x["id"] != first["id"]],
             what="the replacement worker")
    p = show(w, "php")
    assert events(w, 1009) == [] and p["failures"] == [] and p["failures_total"] == 0


@needs_php_cgi
def test_php_cgi_clean_exit_short_of_the_limit_is_a_failure(make_weir):
    w = make_weir(pool("php", kind="fastcgi", command=PHP_CGI, start_mode="always",
                       recycle_requests=50))
    wait_for(lambda: len(ready_workers(w, "php")) == 1, what="a ready worker")
    pid = ready_workers(w, "php")[0]["pid"]
    os.kill(pid, signal.SIGTERM)  # php-cgi exits 0 on SIGTERM
    e = wait_event(w, 1009)[0]
    assert e["pid"] == pid and e["exit_code"] == 0 and e["requests"] == 0, e
    assert events(w, 1075) == []
    wait_for(lambda: len(ready_workers(w, "php")) == 1, what="the replacement worker")


# --- external upstreams ------------------------------------------------------------

class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"ok\n" if self.path == "/healthz" else f"hello from upstream {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def address_string(self):
        return "unix"

    def log_message(self, *a):
        pass


def serve_unix(path):
    srv = UnixHTTPServer(path, Handler)
    os.chmod(path, 0o666)  # the front end connects as an unprivileged user
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_external_unreachable_disabled_then_backoff(make_weir, tmp_path):
    sock = tmp_path / "up.sock"
    w = make_weir(pool("up", kind="http", address=f"unix:{sock}", ping_path="/healthz",
                       rapid_fail="3 in 1m", rapid_fail_action="backoff",
                       rapid_fail_backoff="2s").replace("hosts = up.test\n", ""))
    e1002 = wait_event(w, 1002)[0]
    fails = events(w, 1010, "up")
    assert len(fails) == 3 and all("No such file or directory" in e["reason"] for e in fails)
    assert e1002["reason"] == "unreachable" and len(e1002["failures"]) == 3
    # the listener comes up while the pool waits out its back-off
    srv = serve_unix(str(sock))
    try:
        p = show(w, "up")
        assert p["state"] == "disabled" and p["reason"] == "unreachable", p
        assert p["address"] == f"unix:{sock}"
        code = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                               w.url("/up/x")], capture_output=True, text=True,
                              timeout=30).stdout
        assert code == "503"
        e1301 = wait_event(w, 1301, timeout=20)[0]
        assert e1301["backoff_s"] == 2
        wait_for(lambda: len(ready_workers(w, "up")) == 1, what="the upstream ready again")
        p = show(w, "up")
        assert p["state"] == "started" and p["reason"] is None
        pw = p["workers"][0]
        assert pw["pid"] == 0 and pw["address"] == f"unix:{sock}"
        # the front end sends requests to it (an HTTP pool: proxied as usual)
        out = subprocess.run(["curl", "-s", w.url("/up/hello")], capture_output=True,
                             text=True, timeout=30).stdout
        assert out == "hello from upstream /up/hello"
        assert len(events(w, 1002)) == 1
    finally:
        srv.shutdown()
        srv.server_close()


def test_external_tcp_connect_probe(make_weir):
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(16)
    port = lst.getsockname()[1]
    w = make_weir(pool("tcp", kind="http", address=f"127.0.0.1:{port}",
                       ping_interval="1s", ping_response_time="1s", rapid_fail="off"))
    wait_for(lambda: len(ready_workers(w, "tcp")) == 1, what="the upstream ready")
    first = ready_workers(w, "tcp")[0]
    assert first["address"] == f"127.0.0.1:{port}"
    lst.close()
    e = wait_event(w, 1010)[0]
    assert "Connection refused" in e["reason"] and e["address"] == f"127.0.0.1:{port}", e
    # it stays unreachable: probed every second, but one 1010 per outage
    # when rapid_fail is off, and the pool is never disabled
    wait_for(lambda: show(w, "tcp")["failures_total"] >= 3, what="more failed probes")
    assert len(events(w, 1010)) == 1
    assert show(w, "tcp")["state"] == "starting"
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen(16)
    try:
        wait_for(lambda: len(ready_workers(w, "tcp")) == 1, what="the upstream ready again")
        again = ready_workers(w, "tcp")[0]
        assert again["id"] != first["id"]  # a new pseudo worker
        assert show(w, "tcp")["state"] == "started"
    finally:
        lst.close()


def fpm_start(tmp_path, children=2, extra=""):
    conf = tmp_path / "fpm.conf"
    conf.write_text(
        "[global]\n"
        f"error_log = {tmp_path}/fpm.log\n"
        f"pid = {tmp_path}/fpm.pid\n"
        "daemonize = no\n"
        "[www]\n"
        f"listen = {tmp_path}/fpm.sock\n"
        "pm = static\n"
        "listen.mode = 0666\n"
        f"pm.max_children = {children}\n" + extra)
    proc = subprocess.Popen([PHP_FPM, "-F", "-R", "-y", str(conf), "-p", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_for(lambda: (tmp_path / "fpm.sock").exists() or proc.poll() is not None,
             what="php-fpm's socket")
    assert proc.poll() is None, (tmp_path / "fpm.log").read_text()
    return proc


def fpm_stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@needs_php_fpm
def test_external_php_fpm(make_weir, tmp_path):
    fpm = fpm_start(tmp_path)
    try:
        sock = tmp_path / "fpm.sock"
        w = make_weir(pool("fpm", kind="fastcgi", address=f"unix:{sock}",
                           ping_interval="1s", ping_response_time="2s", rapid_fail="off"))
        wait_for(lambda: len(ready_workers(w, "fpm")) == 1, what="php-fpm ready")
        first = ready_workers(w, "fpm")[0]
        assert first["pid"] == 0 and first["address"] == f"unix:{sock}"
        assert "ready in" in w.log()
        # liveness probes keep answering (and never hold a php-fpm child)
        wait_for(lambda: show(w, "fpm")["workers"][0]["uptime_s"] >= 2,
                 what="two seconds of probes")
        assert events(w, 1010) == []
        fpm_stop(fpm)
        e = wait_event(w, 1010)[0]
        assert e["pool"] == "fpm" and e["address"] == f"unix:{sock}", e
        assert show(w, "fpm")["workers"][0]["state"] == "starting"
        # php-fpm back: weir notices by itself, no restart of weir
        fpm = fpm_start(tmp_path)
        wait_for(lambda: len(ready_workers(w, "fpm")) == 1, what="php-fpm ready again")
        assert ready_workers(w, "fpm")[0]["id"] != first["id"]
        assert events(w, 1002) == []
    finally:
        fpm_stop(fpm)


RENDEZVOUS_PHP = r"""<?php
// Both requests of a round must be in PHP at the same time: each says it
// arrived, then waits (at most 10 s) for the other.
$dir = __DIR__ . "/meet";
$round = basename($_GET["round"]);
$me = $_GET["me"] === "a" ? "a" : "b";
$other = $me === "a" ? "b" : "a";
touch("$dir/$round-$me");
for ($i = 0; $i < 1000 && !file_exists("$dir/$round-$other"); $i++)
    usleep(10000);
echo file_exists("$dir/$round-$other") ? "together" : "alone";
"""


@needs_php_fpm
def test_external_php_fpm_takes_max_conns_requests_at_once(make_weir, tmp_path):
    # An external php-fpm with two children and max_conns = 2: two requests
    # run in PHP at once, over two connections (a weir-managed php-cgi
    # process takes one at a time; php-fpm has a child per connection).
    # Two front-end threads: a connection one thread keeps idle must not
    # leave the other thread's request waiting for a child.
    fpm = fpm_start(tmp_path)
    try:
        root = tmp_path / "www"
        (root / "meet").mkdir(parents=True)
        (root / "meet.php").write_text(RENDEZVOUS_PHP)
        sock = tmp_path / "fpm.sock"
        w = make_weir(f"[pool fpm]\nkind = fastcgi\naddress = unix:{sock}\nmax_conns = 2\n"
                      f"[site main]\nroot = {root}\nscript = .php fpm\n",
                      threads=2)
        wait_for(lambda: len(ready_workers(w, "fpm")) == 1, what="php-fpm ready")
        for rnd in range(6):
            out = {}

            def one(me):
                out[me] = http_get(w, f"/meet.php?round={rnd}&me={me}")

            ts = [threading.Thread(target=one, args=(me,)) for me in "ab"]
            for t in ts:
                t.start()
            for t in ts:
                t.join(30)
            assert out == {"a": (200, b"together"), "b": (200, b"together")}, (rnd, out)
        assert events(w, 1010) == [] and events(w, 1011) == []
    finally:
        fpm_stop(fpm)


@needs_php_fpm
def test_php_fpm_child_recycled_under_a_kept_alive_connection(make_weir, tmp_path):
    # php-fpm's pm.max_requests: after 3 requests a child exits and closes
    # the connection weir keeps alive to it.  The next request finds it
    # closed (at once, or when its send fails) and goes over a new one:
    # every request is answered, nothing counts as a fault.
    fpm = fpm_start(tmp_path, children=1, extra="pm.max_requests = 3\n")
    try:
        root = tmp_path / "www"
        root.mkdir()
        (root / "pid.php").write_text("<?php echo getmypid();")
        sock = tmp_path / "fpm.sock"
        w = make_weir(f"[pool fpm]\nkind = fastcgi\naddress = unix:{sock}\nmax_conns = 1\n"
                      f"[site main]\nroot = {root}\nscript = .php fpm\n")
        wait_for(lambda: len(ready_workers(w, "fpm")) == 1, what="php-fpm ready")
        c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=30)
        pids = []
        try:
            for _ in range(12):
                c.request("GET", "/pid.php")
                r = c.getresponse()
                body = r.read()
                assert r.status == 200, (r.status, body)
                pids.append(int(body))
        finally:
            c.close()
        assert len(set(pids)) >= 3, pids     # the child was replaced
        assert events(w, 1011) == [] and events(w, 1010) == []
        assert "Connection_Abandoned" not in w.httperr_log()
    finally:
        fpm_stop(fpm)


def test_external_address_change_on_reload(make_weir, tmp_path):
    a, b = tmp_path / "a.sock", tmp_path / "b.sock"
    sa, sb = serve_unix(str(a)), serve_unix(str(b))
    try:
        w = make_weir(pool("up", kind="http", address=f"unix:{a}", ping_path="/healthz"))
        wait_for(lambda: len(ready_workers(w, "up")) == 1, what="upstream a ready")
        old = ready_workers(w, "up")[0]
        w.conf_path.write_text(w.conf_path.read_text().replace(str(a), str(b)))
        r = subprocess.run([WEIR, "reload", "-s", str(w.state_dir / "admin.sock")],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        wait_for(lambda: [x for x in ready_workers(w, "up") if x["address"] == f"unix:{b}"],
                 what="upstream b ready")
        ws = show(w, "up")["workers"]
        assert len(ws) == 1 and ws[0]["id"] != old["id"]
        wait_event(w, 1080)
    finally:
        for s in (sa, sb):
            s.shutdown()
            s.server_close()


# --- the front end's spool directory ----------------------------------------------

def test_spool_directory(make_weir):
    w = make_weir(pool("php", kind="fastcgi", command="/usr/bin/true"), start=False)
    spool = w.state_dir / "spool"
    spool.mkdir(parents=True)
    (spool / "stale-body").write_bytes(b"x" * 100)
    os.chmod(spool, 0o755)
    w.start()
    st = os.stat(spool)
    assert st.st_mode & 0o777 == 0o700
    assert os.listdir(spool) == []
    if os.geteuid() == 0:
        # the front end writes there after dropping root (to weir, or to
        # an own uid without a weir account)
        with open(f"/proc/{w.frontend_pid()}/status") as f:
            fe_uid = [int(ln.split()[1]) for ln in f if ln.startswith("Uid:")][0]
        assert fe_uid != 0 and st.st_uid == fe_uid


# --- with the front end's FastCGI handler ---------------------------------------

def php_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "pid.php").write_text("<?php echo getmypid();")
    (root / "err.php").write_text("<?php error_log('hello from stderr'); echo 'ok';")
    os.chmod(tmp_path, 0o755)
    os.chmod(root, 0o755)
    return root


def http_get(w, path):
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=30)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


@needs_php_cgi
def test_fastcgi_stderr_lines_go_to_the_pool_log(make_weir, tmp_path):
    root = php_root(tmp_path)
    w = make_weir(f"[pool php]\nkind = fastcgi\ncommand = {PHP_CGI} -d log_errors=1\n"
                  f"[site main]\nroot = {root}\nscript = .php php\n")
    assert http_get(w, "/err.php") == (200, b"ok")
    log = w.log_dir / "pools" / "php.log"
    line = wait_for(lambda: [ln for ln in log.read_text().splitlines()
                             if "hello from stderr" in ln],
                    what="the STDERR line in the pool log")[0]
    # "TIME [fe] METHOD TARGET: text", from the front end through the master
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[fe\] GET /err\.php: ", line), line


@needs_php_cgi
def test_fastcgi_worker_that_ignores_its_request_limit_is_recycled(make_weir, tmp_path):
    # env keeps php-cgi from exiting at recycle_requests: the front end stops
    # sending it requests after 2, so weir recycles it (overlapped)
    root = php_root(tmp_path)
    w = make_weir(f"[pool php]\nkind = fastcgi\ncommand = {PHP_CGI}\nstart_mode = always\n"
                  f"recycle_requests = 2\nenv = PHP_FCGI_MAX_REQUESTS=0\n"
                  f"[site main]\nroot = {root}\nscript = .php php\n")
    first = {http_get(w, "/pid.php")[1] for _ in range(2)}
    assert len(first) == 1
    e = wait_event(w, 1075)[0]
    assert e["pid"] == int(first.pop()) and e["requests"] == 2, e
    st, body = http_get(w, "/pid.php")
    assert st == 200 and int(body) != e["pid"]
    wait_for(lambda: not pid_alive(e["pid"]), what="the old worker to stop")
    assert events(w, 1009) == [] and show(w, "php")["failures_total"] == 0
