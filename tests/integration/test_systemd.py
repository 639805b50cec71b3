"""weir under systemd, without systemd: the test plays its part.

sd_notify: READY=1 once the front end serves and every `start_mode =
always` pool has a ready worker; RELOADING=1 then READY=1 around a reload
(also a rejected one); STOPPING=1 on SIGTERM.  Socket activation: a
listening socket passed as fd 3 with LISTEN_FDS/LISTEN_PID is the one weir
serves on, not a socket of its own.
"""
import os
import socket
import subprocess
import time

import pytest

from conftest import WEIR, wait_for
from test_pools import get, pool, sitesec


class Notify:
    """The NOTIFY_SOCKET end: a datagram socket collecting messages."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.setblocking(False)
        self.msgs = []          # (monotonic time, message)

    def poll(self):
        while True:
            try:
                m = self.sock.recv(4096)
            except BlockingIOError:
                return self.msgs
            self.msgs.append((time.monotonic(), m.decode()))

    def texts(self):
        return [m for _, m in self.poll()]

    def wait(self, line, n=1, timeout=20):
        """Wait until `line` has been a line of n messages; return their times."""
        def found():
            hits = [t for t, m in self.poll() if line in m.split("\n")]
            return hits if len(hits) >= n else None
        return wait_for(found, timeout=timeout, what=f"{n}x {line} on NOTIFY_SOCKET")

    def close(self):
        self.sock.close()


@pytest.fixture
def notify(tmp_path):
    n = Notify(tmp_path / "notify.sock")
    yield n
    n.close()


def reload(w):
    return subprocess.run([WEIR, "reload", "-c", str(w.conf_path)], capture_output=True,
                          text=True, timeout=60)


def test_ready_waits_for_always_pools_then_reload_and_stop(make_weir, notify):
    # the always-started pool takes 1.5 s before its socket answers
    w = make_weir(pool(command=f"/usr/bin/python3 {os.environ['WEIR_SRC']}/tests/apps/app.py "
                       "--start-delay 1500", start_mode="always", ping_path="/healthz")
                  + sitesec(), start=False)
    w.start(wait=False, env={"NOTIFY_SOCKET": notify.path})
    wait_for(lambda: "front end ready" in w.log(), what="front end ready")
    fe_ready = time.monotonic()
    assert "READY=1" not in "\n".join(notify.texts())
    t_ready = notify.wait("READY=1")[0]
    # READY=1 came once the pool's worker was ready, not with the front end
    assert "worker 1" in w.log() and "ready in" in w.log()
    assert t_ready - fe_ready >= 0.5, (t_ready - fe_ready)
    assert get(w, "/app/hello")[0] == 200
    assert any("STATUS=serving" in m for m in notify.texts())
    # a reload is bracketed by RELOADING=1 and READY=1
    r = reload(w)
    assert r.returncode == 0, r.stderr
    msgs = notify.texts()
    i = msgs.index("RELOADING=1")
    assert "READY=1" in msgs[i + 1:]
    # a rejected reload too: systemd must not think weir is still reloading
    w.conf_path.write_text(w.conf_path.read_text() + "\n[pool bad]\nbogus_key = 1\n")
    r = reload(w)
    assert r.returncode != 0
    notify.wait("RELOADING=1", n=2)
    notify.wait("READY=1", n=3)
    # STOPPING=1 on SIGTERM, and nothing after it
    w.proc.send_signal(15)
    notify.wait("STOPPING=1")
    assert w.stop() == 0
    msgs = notify.texts()
    assert msgs[-1] == "STOPPING=1", msgs


def test_ready_when_an_always_pool_is_disabled(make_weir, notify):
    """A pool that cannot start does not keep the server from being ready."""
    w = make_weir(pool(command=f"/usr/bin/python3 {os.environ['WEIR_SRC']}/tests/apps/app.py "
                       "--exit-at-start 78", start_mode="always", ping_path="/healthz")
                  + sitesec(), start=False)
    w.start(env={"NOTIFY_SOCKET": notify.path})
    notify.wait("READY=1")
    e = wait_for(lambda: [e for e in w.events() if e["id"] == 1002], what="event 1002")[0]
    assert e["pool"] == "app"
    log = w.log()
    assert "ready in" not in log  # it never had a ready worker
    # READY=1 waited for the pool's fate, then did not wait for the pool
    assert log.index("starting -> disabled") < log.index("ready: the front end")


def test_socket_activation_serves_on_the_passed_socket(make_weir, notify):
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", 0))
    lst.listen(128)
    port = lst.getsockname()[1]
    inode = os.fstat(lst.fileno()).st_ino
    w = make_weir(pool() + sitesec(), port=port, start=False)
    try:
        w.start(env={"NOTIFY_SOCKET": notify.path}, listen_fd=lst.fileno())
    finally:
        lst.close()     # weir holds its own copy now
    assert "systemd passed 1 listening socket" in w.log()

    def sockets(pid):
        out = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                out.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                pass
        return out
    mine = f"socket:[{inode}]"
    # the master and the front end serve on that very socket...
    assert mine in sockets(w.proc.pid)
    fe = wait_for(w.frontend_pid, what="the front end")
    assert mine in sockets(fe)
    # ...and on no other socket for that port (it did not bind its own)
    with open("/proc/net/tcp") as f:
        listening = [ln for ln in f.read().splitlines()[1:]
                     if ln.split()[1].endswith(f":{port:04X}") and ln.split()[3] == "0A"]
    assert len(listening) == 1, listening
    for _ in range(20):
        assert get(w, "/app/hello")[0] == 200
    notify.wait("READY=1")
