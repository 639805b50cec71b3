"""Fixtures for weir's integration tests.

Every test starts the real `weir` binary on a free loopback port with its own
config and directories (under pytest's tmp_path), talks to it with real
clients, and stops it; the fixture always reaps the process, even when the
test fails.  Nothing here sleeps for a fixed time: waits poll a condition
until a deadline.
"""
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import weakref

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("WEIR_SRC", os.path.abspath(os.path.join(HERE, "..", "..")))
WEIR = os.environ.get("WEIR_BIN", os.path.join(SRC, "build", "weir"))


def module_abi():
    """WEIR_MODULE_ABI of include/weir/module.h: tests that build a module for
    another ABI use this one + 1."""
    with open(os.path.join(SRC, "include", "weir", "module.h")) as f:
        return int(re.search(r"#define WEIR_MODULE_ABI\s+(\d+)", f.read()).group(1))


def module_h_for_abi(abi):
    """module.h's text with WEIR_MODULE_ABI set to abi."""
    with open(os.path.join(SRC, "include", "weir", "module.h")) as f:
        text = f.read()
    assert "#define WEIR_MODULE_ABI" in text
    return re.sub(r"#define WEIR_MODULE_ABI\s+\d+", f"#define WEIR_MODULE_ABI\t\t{abi}", text)


def wait_for(cond, timeout=10.0, interval=0.01, what="condition"):
    """Poll cond() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def recv_to_eof(s):
    """Every byte socket s receives until its peer closes."""
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk


# Ports handed to weir come from below the kernel's ephemeral range: a port
# the kernel picked (bind to port 0) is one it may give the next outgoing
# connection of any test running beside this one, before weir binds it
# ("Address already in use" at start-up).  Below the range, only another
# test picking the same number at the same moment can take it.
_PORT_RANGE = (10000, 32767)
_port_rng = random.Random(os.urandom(8))


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host="127.0.0.1"):
    """A port nothing listens on, outside the kernel's ephemeral range."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    hi = min(_PORT_RANGE[1], _ephemeral_low() - 1)
    if hi < _PORT_RANGE[0]:
        # no room below the range on this machine: any port the kernel gives
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            return s.getsockname()[1]
    for _ in range(200):
        port = _port_rng.randint(_PORT_RANGE[0], hi)
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port in {_PORT_RANGE[0]}-{hi} on {host}")


def can_connect(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def raw(port, data, timeout=5.0, host="127.0.0.1", shut=False):
    """Send raw bytes, return everything received until the server closes
    or `timeout` passes without data."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


# Bytes read past a response (pipelining), per socket.  socket.socket has
# __slots__, so they cannot be kept as an attribute of the socket itself.
_extra = weakref.WeakKeyDictionary()


def parse_head(head):
    """(status, {lower-case name: value}) of a response header section."""
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for ln in lines[1:]:
        k, v = ln.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split(" ")[1]), headers


def read_response(sock, head_only=False):
    """Read one HTTP/1.1 response (Content-Length or no body) from a socket.
    Returns (status, headers dict (lowercase names), body).  Bytes of the
    next response that came with it are kept for the next call."""
    buf = _extra.pop(sock, b"")
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed mid-header: {buf!r}")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    status, headers = parse_head(head)
    n = int(headers.get("content-length", "0"))
    if head_only or status in (204, 304) or 100 <= status < 200:
        n = 0
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed mid-body")
        rest += chunk
    body, extra = rest[:n], rest[n:]
    if extra:
        _extra[sock] = extra  # pipelined bytes already read
    return status, headers, body


def parse_responses(data):
    """Split a byte stream of Content-Length-framed responses."""
    out = []
    while data:
        if b"\r\n\r\n" not in data:
            raise AssertionError(f"trailing garbage: {data!r}")
        head, rest = data.split(b"\r\n\r\n", 1)
        status, headers = parse_head(head)
        n = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:n]))
        data = rest[n:]
    return out


class Weir:
    """A running weir with its own config, state_dir and log_dir."""

    def __init__(self, tmp_path, conf_body, port=None, server_extra="", threads=1,
                 binary=None):
        self.binary = binary or WEIR
        self.dir = tmp_path
        self.port = port or free_port()
        self.state_dir = tmp_path / "run"
        self.log_dir = tmp_path / "log"
        self.conf_path = tmp_path / "weir.conf"
        self.conf_path.write_text(
            "[server]\n"
            f"listen = 127.0.0.1:{self.port}\n"
            f"threads = {threads}\n"
            f"state_dir = {self.state_dir}\n"
            f"log_dir = {self.log_dir}\n"
            "syslog = no\n"
            "shutdown_timeout = 5s\n"
            f"{server_extra}\n"
            f"{conf_body}\n")
        self.proc = None
        self.stderr_path = tmp_path / "weir.stderr"

    def start(self, wait=True, env=None, listen_fd=None):
        """Start it; env adds variables; listen_fd is handed over as fd 3
        with LISTEN_FDS=1 and LISTEN_PID (systemd's socket activation)."""
        argv = [self.binary, "run", "-c", str(self.conf_path)]
        kw = {}
        if listen_fd is not None:
            # the shell's $$ is the pid weir gets when it execs
            argv = ["/bin/sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh"] + argv
            kw = {"pass_fds": (3,), "preexec_fn": lambda: os.dup2(listen_fd, 3)}
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            argv, stdout=self.stderr, stderr=subprocess.STDOUT,
            env=dict(os.environ, **(env or {})), start_new_session=True, **kw)
        if wait:
            wait_for(lambda: self.proc.poll() is not None or can_connect(self.port),
                     what="weir to accept connections")
            wait_for(lambda: self.proc.poll() is not None or "front end ready" in self.log(),
                     what="front end ready")
            if self.proc.poll() is not None:
                raise AssertionError("weir exited at start:\n" + self.log())
        return self

    def log(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def events(self):
        p = self.log_dir / "events.jsonl"
        if not p.exists():
            return []
        return [json.loads(ln) for ln in p.read_text().splitlines() if ln.strip()]

    def access_log(self):
        p = self.log_dir / "access.log"
        return p.read_text() if p.exists() else ""

    def httperr_log(self):
        p = self.log_dir / "httperr.log"
        return p.read_text() if p.exists() else ""

    def frontend_pid(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)],
                             capture_output=True, text=True).stdout.split()
        for pid in out:
            try:
                # the master's other child is its warden (weir-warden)
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == "weir-warden":
                        continue
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"weir" in f.read():
                        return int(pid)
            except OSError:
                pass
        return None

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stop weir and reap it; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # anything left in its process group (front end, workers) goes too
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.stderr.close()
        rc = self.proc.returncode
        self.proc = None
        # Sanitizer builds: the front end is a forked child whose reports
        # land only in this file, never in the test's own output.
        log = self.log()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "runtime error:"):
            if marker in log:
                raise AssertionError(f"sanitizer report in {self.stderr_path}:\n"
                                     + log[-8000:])
        return rc


NODE = shutil.which("node") or "/usr/bin/node"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
BROWSER_DIR = os.path.join(SRC, "tests", "browser")


def run_browser(script, env, timeout):
    """Run tests/browser/SCRIPT (puppeteer-core driving headless Chromium)
    with env; its last stdout line is a JSON report.  Returns (exit status,
    report or {}, stderr).  The script and its browser run in a session of
    their own, all of which is ended and reaped here."""
    p = subprocess.Popen([NODE, os.path.join(BROWSER_DIR, script)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    rep = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    return p.returncode, rep, err


def traversable(path):
    """The front end and the pools drop root (to uids of their own by
    default) before they open anything, and pytest makes its temporary
    directories 0700: let others through (x only, no listing) from path up
    to the first directory that already allows it."""
    p = os.path.abspath(path)
    while p != "/":
        mode = os.stat(p).st_mode
        if mode & 0o001:
            break
        os.chmod(p, (mode & 0o7777) | 0o001)
        p = os.path.dirname(p)


@pytest.fixture
def make_weir(tmp_path):
    """Factory: make_weir(conf_body, **kw) -> started Weir; all are stopped
    and reaped at the end of the test."""
    started = []
    traversable(tmp_path)
    # Pools run as uids of their own and the front end as its user: they
    # must reach the test apps in the checkout and weir-host and the modules
    # in the build tree, wherever CI cloned them.
    traversable(SRC)
    traversable(os.path.dirname(os.path.abspath(WEIR)))

    def factory(conf_body, start=True, **kw):
        sub = tmp_path / f"w{len(started)}"
        sub.mkdir()
        w = Weir(sub, conf_body, **kw)
        started.append(w)
        return w.start() if start else w

    yield factory
    errors = []
    for w in started:
        try:
            w.stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def site(tmp_path):
    """A document root with a few files."""
    root = tmp_path / "www"
    root.mkdir()
    traversable(tmp_path)
    (root / "index.html").write_text("<h1>home</h1>\n")
    (root / "hello.txt").write_text("hello, world\n")
    (root / "1k.bin").write_bytes(bytes(range(256)) * 4)
    (root / "100k.bin").write_bytes(os.urandom(100 * 1024))
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_text("<h1>sub</h1>\n")
    (root / "empty").mkdir()
    return root


def cli(w, *args, timeout=30, user=None):
    """`weir ARGS` against w's admin socket (as `user`: setpriv arguments)."""
    cmd = [WEIR, *args, "-s", str(w.state_dir / "admin.sock")]
    if user is not None:
        cmd = ["setpriv", *user, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class Chaos:
    """step() every `every` seconds on a thread of its own while the
    with-block runs, then check()."""

    every = 0.2

    def __init__(self, w):
        self.w, self.done = w, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            self.step()
            time.sleep(self.every)   # the pace of the chaos, not a wait

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(90)
        self.check()


class Reloads(Chaos):
    """`weir reload` after `weir reload`, `every` seconds apart, each a
    change the master applies: the environment of `pool` (its workers are
    recycled), and in turn `route` added to [site main] and taken away.
    done: the commands' exit statuses, all 0."""

    def __init__(self, w, pool, route=None, every=0.2):
        super().__init__(w)
        self.pool, self.route, self.every = pool, route, every
        self.base = w.conf_path.read_text()

    def step(self):
        k = len(self.done) + 1
        conf = self.base.replace(f"[pool {self.pool}]\n",
                                 f"[pool {self.pool}]\nenv = K={k % 3}\n", 1)
        if self.route is not None and k % 2:
            conf = conf.replace("[site main]\n", f"[site main]\n{self.route}\n", 1)
        self.w.conf_path.write_text(conf)
        self.done.append(cli(self.w, "reload", timeout=60).returncode)

    def check(self):
        assert self.done and set(self.done) == {0}, self.done


class Load:
    """Keep-alive GETs of path from `conns` threads until stopped; counts
    what the clients saw: an answer is ok when it is a 200 whose body
    expect(body) accepts, anything else (another status, an exception) is
    kept in failed."""

    def __init__(self, port, path="/", conns=4, expect=lambda body: True):
        self.port, self.path, self.expect = port, path, expect
        self.ok = 0
        self.failed = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(conns)]

    # What a subclass may vary: the connection, the path of the n-th request
    # on it, what an answer counts for, whether to go on with the connection.
    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def next_path(self, n):
        return self.path

    def counted(self, r, body):
        """Under self.lock: one answer."""
        if r.status == 200 and self.expect(body):
            self.ok += 1
        else:
            self.failed.append((r.status, body[:100]))

    def keep(self, n, r):
        return r.getheader("connection", "").lower() != "close"

    def exchange(self, c, n):
        """The n-th request on connection c and its answer, counted; whether
        to go on with the connection.  (A subclass may speak another protocol
        here: test_http2_pool.py's H2Load.)"""
        c.request("GET", self.next_path(n))
        r = c.getresponse()
        body = r.read()
        with self.lock:
            self.counted(r, body)
        return self.keep(n + 1, r)

    def run(self):
        c, n = None, 0
        while not self.stop.is_set():
            try:
                if c is None:
                    c, n = self.connection(), 0
                go_on = self.exchange(c, n)
                n += 1
                if not go_on:
                    c.close()
                    c = None
            except Exception as e:  # any client-visible failure counts
                with self.lock:
                    self.failed.append(repr(e))
                if c is not None:
                    c.close()
                c = None
        if c is not None:
            c.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        for t in self.threads:
            t.join(60)
