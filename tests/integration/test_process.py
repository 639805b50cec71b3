"""The process model: the master validates, binds, starts the front end,
restarts it when it dies (listening sockets stay open), drops privileges,
and stops gracefully.  Plus the `weir` command line around `run`/`check`."""
import http.client
import os
import pwd
import signal
import socket
import subprocess
import threading

import pytest

from conftest import SRC, WEIR, free_port, raw, wait_for

PY = "/usr/bin/python3"
APP = f"{PY} {SRC}/tests/apps/app.py"


def run_weir(*args, timeout=20):
    return subprocess.run([WEIR, *args], capture_output=True, text=True, timeout=timeout)


def test_version_and_help():
    r = run_weir("version")
    assert r.returncode == 0 and r.stdout.startswith("weir ")
    r = run_weir("--help")
    assert r.returncode == 0 and "run" in r.stdout and "check" in r.stdout
    r = run_weir("no-such-command")
    assert r.returncode == 2 and "unknown command" in r.stderr
    r = run_weir("check", "--help")
    assert r.returncode == 0 and "usage: weir check" in r.stdout


def test_check_ok(tmp_path, site):
    conf = tmp_path / "ok.conf"
    conf.write_text(f"[server]\nlisten = 127.0.0.1:{free_port()}\n[site a]\nroot = {site}\n")
    r = run_weir("check", "-c", str(conf))
    assert r.returncode == 0, r.stderr
    assert "ok (1 site, 0 pools)" in r.stdout


def test_check_lists_every_error_with_file_and_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text(
        "[server]\n"                      # 1
        "listen = 127.0.0.1:80800\n"      # 2 bad port
        "threads = many\n"                # 3 bad value
        "colour = blue\n"                 # 4 unknown key
        "[site a]\n"                      # 5
        "root = /nonexistent/dir\n"       # 6
        "app = /api nopool\n"             # 7 unknown pool
        "[gadget x]\n"                    # 8 unknown section
    )
    r = run_weir("check", "-c", str(conf))
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith(str(conf))]
    want = [f"{conf}:2:", f"{conf}:3:", f"{conf}:4:", f"{conf}:7:", f"{conf}:8:"]
    for w in want:
        assert any(ln.startswith(w) for ln in lines), (w, r.stderr)
    assert any("root /nonexistent/dir" in ln for ln in lines), r.stderr
    assert "unknown key 'colour'" in r.stderr
    assert "no [pool nopool]" in r.stderr


def test_run_refuses_invalid_config(tmp_path):
    port = free_port()
    conf = tmp_path / "bad.conf"
    conf.write_text(f"[server]\nlisten = 127.0.0.1:{port}\nmax_headers = 0\n[site a]\nroot = /\n")
    r = run_weir("run", "-c", str(conf))
    assert r.returncode == 78     # EX_CONFIG: starting again will not help
    assert f"{conf}:3: max_headers: '0' is out of range" in r.stderr
    assert "not started" in r.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_port_in_use_is_reported(make_weir, site):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        w = make_weir(f"[site a]\nroot = {site}\n", start=False, port=port)
        r = run_weir("run", "-c", str(w.conf_path))
        assert r.returncode == 1
        assert f"listen 127.0.0.1:{port}: bind: Address already in use" in r.stderr
    finally:
        holder.close()


def test_second_weir_on_the_same_port_is_refused(make_weir, site):
    """Our sockets use SO_REUSEPORT: a second weir must not quietly join
    the first one's group and take half of its connections."""
    w = make_weir(f"[site a]\nroot = {site}\n")
    other = make_weir(f"[site a]\nroot = {site}\n", start=False, port=w.port)
    r = run_weir("run", "-c", str(other.conf_path))
    assert r.returncode == 1
    assert f"listen 127.0.0.1:{w.port}: bind: Address already in use" in r.stderr
    assert "another weir" in r.stderr
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=10)
    c.request("GET", "/")
    assert c.getresponse().status in (200, 403, 404)  # the first one still serves
    c.close()


def test_frontend_runs_unprivileged(make_weir, site):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    w = make_weir(f"[site a]\nroot = {site}\n")
    fe = w.frontend_pid()
    with open(f"/proc/{fe}/status") as f:
        uids = [ln.split()[1:] for ln in f if ln.startswith("Uid:")][0]
    assert len(set(uids)) == 1, uids   # real, effective, saved, fs
    try:
        assert int(uids[0]) == pwd.getpwnam("weir").pw_uid
    except KeyError:
        # no weir account: an own uid (src/master/ident.c), never an
        # account's (nobody may be a pool's user)
        assert 65536 <= int(uids[0]) <= 99999, uids
        with pytest.raises(KeyError):
            pwd.getpwuid(int(uids[0]))
    with open(f"/proc/{w.proc.pid}/status") as f:
        assert [ln.split()[1] for ln in f if ln.startswith("Uid:")][0] == "0"


def test_frontend_as_root_is_refused(make_weir, site):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    w = make_weir(f"[site a]\nroot = {site}\n", start=False, server_extra="user = root")
    r = run_weir("run", "-c", str(w.conf_path))
    assert r.returncode == 78     # a configuration error
    assert "must not run as root" in r.stderr


def test_frontend_restart_keeps_port_open(make_weir, site):
    w = make_weir(f"[site a]\nroot = {site}\n")
    old = w.frontend_pid()
    os.kill(old, signal.SIGKILL)
    # Connect at once: the master's sockets keep accepting into the backlog.
    s = socket.create_connection(("127.0.0.1", w.port), timeout=10)
    s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 200"), data[:100]
    assert data.endswith(b"hello, world\n")
    ev = wait_for(lambda: [e for e in w.events() if e["id"] == 1305], what="event 1305")[0]
    assert "signal 9" in ev["exit"]
    new = wait_for(lambda: w.frontend_pid() not in (None, old) and w.frontend_pid(),
                   what="a new front end")
    assert new != old


def test_frontend_restart_holds_no_admin_connection(make_weir, site):
    """The front end is forked from the master: it must not keep the
    master's descriptors.  An admin connection open while a new front end
    starts (accepted, its request not yet sent) is answered and then ends
    with EOF -- before, the new front end held the accepted socket, and
    `weir status` read its response and waited for an EOF that came only
    when that front end exited."""
    w = make_weir(f"[site a]\nroot = {site}\n")
    old = w.frontend_pid()
    a = socket.socket(socket.AF_UNIX)
    a.settimeout(10)
    a.connect(str(w.state_dir / "admin.sock"))
    # the master accepts it before it restarts the front end
    wait_for(lambda: run_weir("status", "-s", str(w.state_dir / "admin.sock")).returncode == 0,
             what="the master answering")
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: w.frontend_pid() not in (None, old) and w.frontend_pid(),
                   what="a new front end")
    a.sendall(b"GET /status HTTP/1.1\r\nHost: weir\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = a.recv(65536)      # socket.timeout here: the EOF never came
        if not chunk:
            break
        data += chunk
    a.close()
    assert data.startswith(b"HTTP/1.1 200"), data[:100]


def test_sigterm_finishes_inflight_requests(make_weir, site):
    w = make_weir(f"[pool app]\ncommand = {APP}\n[site a]\nroot = {site}\napp = /app app\n")
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=30)
    c.request("GET", "/app/hello")
    assert c.getresponse().read().startswith(b"hello")
    result = {}

    def slow():
        c2 = http.client.HTTPConnection("127.0.0.1", w.port, timeout=30)
        c2.request("GET", "/app/slow?ms=1500")
        r = c2.getresponse()
        result["status"], result["body"] = r.status, r.read()

    t = threading.Thread(target=slow)
    t.start()
    wait_for(lambda: "slow start" in (w.log_dir / "pools" / "app.log").read_text(),
             what="the slow request to reach the worker")
    w.proc.send_signal(signal.SIGTERM)
    t.join(30)
    assert result.get("status") == 200 and result["body"].startswith(b"slow")
    assert w.proc.wait(30) == 0
    # everything is gone: no listener, no worker
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", w.port), timeout=1).close()
    out = subprocess.run(["pgrep", "-f", str(w.state_dir)], capture_output=True, text=True)
    assert out.stdout.strip() == ""


def test_sigint_stops(make_weir, site):
    w = make_weir(f"[site a]\nroot = {site}\n")
    w.proc.send_signal(signal.SIGINT)
    assert w.proc.wait(20) == 0
    assert not (w.state_dir / "weir.pid").exists()


def test_sigusr1_reopens_logs(make_weir, site):
    w = make_weir(f"[site a]\nroot = {site}\n")
    raw(w.port, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    wait_for(lambda: "/hello.txt" in w.access_log(), what="first request logged")
    os.rename(w.log_dir / "access.log", w.log_dir / "access.log.1")
    w.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: (w.log_dir / "access.log").exists(), what="a new access.log")
    wait_for(lambda: "logs reopened" in w.log(), what="reopen done")
    raw(w.port, b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    wait_for(lambda: "/index.html" in w.access_log(), what="request in the new file")
    assert w.access_log().startswith("#Software: weir")
    assert "/index.html" not in (w.log_dir / "access.log.1").read_text()
