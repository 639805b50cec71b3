"""A pool's output log, log_dir/pools/NAME.log: bounded and rotatable.

The worker is real: a `kind = http` pool whose command is a shell that
prints (100 MB of lines, or one 100 MB line), then execs tests/apps/app.py,
which serves on the socket the shell was given (fd 3, LISTEN_PID is the
shell's pid, kept by exec) and logs every request to stderr.  The log must
stay within pool_log_max_size x (pool_log_keep + 1), every file within the
cap, the long line written in pieces marked '+' (never cut unmarked), and
SIGUSR1 to this weir's master must start a new file.  Every wait polls a
condition with a deadline.
"""
import json
import os
import re
import signal
import subprocess
import time

from conftest import SRC, WEIR, wait_for
import http.client

PY = "/usr/bin/python3"
APP = f"{PY} {SRC}/tests/apps/app.py"
MB = 1024 * 1024
CAP = 1 * MB            # pool_log_max_size in these tests
KEEP = 3                # pool_log_keep
PIECE = 16384           # longer output lines are written in marked pieces
RECORD = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[(\d+|fe|weir)\](\+?) (.*)$")


def conf(command):
    # indented lines continue `command` (lines are at most 198 characters)
    script = f"{command} && exec {APP}'".split(" && ")
    body = "\n    && ".join(script)
    return (f"[pool chatty]\ncommand = /bin/sh -c '{body}\n"
            "start_mode = always\n"
            "[site main]\napp = /app chatty\n")


def server_keys():
    return f"pool_log_max_size = {CAP}\npool_log_keep = {KEEP}\n"


def log_files(w):
    d = w.log_dir / "pools"
    return [d / "chatty.log"] + [d / f"chatty.log.{k}" for k in range(1, KEEP + 2)]


def current_log(w):
    try:
        return (w.log_dir / "pools" / "chatty.log").read_bytes()
    except FileNotFoundError:   # between a rotation's rename and the new file
        return b""


def get(w, path):
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=30)
    try:
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def status_pool(w):
    out = subprocess.run([WEIR, "status", "--json", "-s", str(w.state_dir / "admin.sock")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return [p for p in json.loads(out.stdout)["pools"] if p["name"] == "chatty"][0]


def check_bounded(w):
    """Every file within the cap, KEEP rotated ones, none beyond; whole
    records only.  Returns the records of all files, oldest first."""
    files = log_files(w)
    sizes = {f.name: (f.stat().st_size if f.exists() else None) for f in files}
    for f in files[:KEEP + 1]:
        assert sizes[f.name] is not None, f"{f.name} missing: {sizes}"
        assert 0 < sizes[f.name] <= CAP, sizes
    assert sizes[files[KEEP + 1].name] is None, f"more than pool_log_keep kept: {sizes}"
    assert sum(s for s in sizes.values() if s) <= CAP * (KEEP + 1)
    records = []
    for f in reversed(files[:KEEP + 1]):
        data = f.read_bytes()
        assert data.endswith(b"\n"), f"{f.name} ends inside a record"
        for ln in data.decode(errors="replace").split("\n")[:-1]:
            m = RECORD.match(ln)
            assert m, f"{f.name}: not a record: {ln[:120]!r}"
            records.append(m.groups())
    return records


def check_drops_reported(w, records):
    """Dropped output is counted: status and /metrics agree, and when
    anything was dropped the log says so."""
    dropped = status_pool(w)["log_dropped_bytes"]
    assert isinstance(dropped, int) and dropped >= 0
    out = subprocess.run(["curl", "-s", "--unix-socket", str(w.state_dir / "admin.sock"),
                          "http://weir/metrics"], capture_output=True, text=True, timeout=30)
    assert f'weir_pool_log_dropped_bytes_total{{pool="chatty"}} {dropped}' in out.stdout
    if dropped > 0:
        wait_for(lambda: any(e["id"] == 1313 for e in w.events()), timeout=15,
                 what="event 1313 for the dropped output")
    return dropped


def test_100mb_of_lines_rotates_within_cap(make_weir):
    # 100 MB of 100-byte lines, then a marker once the pipe is drained
    line = "0123456789" * 9 + "abcdefghi"
    t0 = time.monotonic()
    w = make_weir(conf(f"yes {line} | head -c {100 * MB} && sleep 1 && echo END-OF-OUTPUT"),
                  server_extra=server_keys())
    wait_for(lambda: b"END-OF-OUTPUT" in current_log(w), timeout=60,
             what="the end of 100 MB of output in the pool log")
    elapsed = time.monotonic() - t0
    records = check_bounded(w)
    # what came before the marker (the app logs its start after it)
    records = records[:[r[2] for r in records].index("END-OF-OUTPUT")]
    body = [r for r in records if r[0] not in ("weir", "fe")]
    assert len(body) > 3 * CAP // 150
    bad = [r for r in body if r[1] != "" or r[2] != line]
    assert not bad, f"lines cut or marked: {[(r[0], r[1], r[2][:120]) for r in bad[:5]]}"
    dropped = check_drops_reported(w, records)
    assert get(w, "/app/hello") in (200, 404)   # the app serves after its output
    print(f"100 MB of lines: {elapsed:.1f}s, {dropped} bytes dropped")


def test_100mb_line_is_written_in_marked_pieces(make_weir):
    t0 = time.monotonic()
    w = make_weir(conf(f"yes x | head -c {100 * MB} | tr -d \"\\n\" && echo && sleep 1 && "
                       "echo END-OF-LINE"),
                  server_extra=server_keys())
    wait_for(lambda: b"END-OF-LINE" in current_log(w), timeout=60,
             what="the end of a 100 MB line in the pool log")
    elapsed = time.monotonic() - t0
    records = check_bounded(w)
    end = [r[2] for r in records].index("END-OF-LINE")
    assert records[end][1] == "", "the marker is a record of its own"
    # what came before the marker (the app logs its start after it)
    pieces = [r for r in records[:end] if r[0] not in ("weir", "fe")]
    assert len(pieces) > 3 * CAP // (PIECE + 40)
    for who, cont, text in pieces:
        assert set(text) == {"x"}, text[:80]
        assert len(text) <= PIECE
        # the first piece is the only unmarked one, and it is a full piece
        assert cont == "+" or len(text) == PIECE
    # the first piece (unmarked) was rotated away: what is left is marked
    assert pieces[-1][1] == "+", "the line's last piece is not marked as a continuation"
    assert sum(1 for p in pieces if p[1] == "") <= 1
    dropped = check_drops_reported(w, records)
    print(f"one 100 MB line: {elapsed:.1f}s, {dropped} bytes dropped")


def test_sigusr1_reopens_the_pool_log(make_weir):
    w = make_weir(conf("echo STARTED"), server_extra=server_keys())
    wait_for(lambda: b"STARTED" in current_log(w), what="the worker's first line")
    log = w.log_dir / "pools" / "chatty.log"
    moved = w.log_dir / "pools" / "chatty.log.moved"
    os.rename(log, moved)
    # the master is the process this test started
    os.kill(w.proc.pid, signal.SIGUSR1)
    wait_for(lambda: log.exists(), what="a new chatty.log after SIGUSR1")

    # new output goes to the new file, none to the renamed one
    def logged():
        get(w, "/app/after-reopen")
        return b"/app/after-reopen" in log.read_bytes()

    wait_for(logged, timeout=30, what="a request's log line in the new file")
    assert b"after-reopen" not in moved.read_bytes()
    assert b"STARTED" in moved.read_bytes()


def test_full_disk_drops_are_counted_and_the_worker_goes_on(make_weir):
    # the pool logs on a 256 KiB tmpfs of weir's own (a private mount
    # namespace): the disk is full long before the worker is done printing
    assert os.geteuid() == 0, "needs root for a mount namespace"
    line = "0123456789" * 9 + "abcdefghi"
    w = make_weir(conf(f"yes {line} | head -c {20 * MB} && echo END-OF-OUTPUT"),
                  start=False, server_extra=server_keys())
    pools = w.log_dir / "pools"
    pools.mkdir(parents=True)
    wrapper = w.dir / "weir-fulldisk"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"exec unshare --mount -- /bin/sh -c 'mount --make-rprivate / && "
        f"mount -t tmpfs -o size=256k tmpfs {pools} && exec \"$0\" \"$@\"' {WEIR} \"$@\"\n")
    wrapper.chmod(0o755)
    w.binary = str(wrapper)
    w.start()
    # the worker printed everything and serves: its pipe was never left unread
    wait_for(lambda: get(w, "/app/hello") == 200, timeout=60, what="the app serving")
    ev = wait_for(lambda: [e for e in w.events() if e["id"] == 1313], timeout=30,
                  what="event 1313")
    assert ev[0]["pool"] == "chatty" and ev[0]["reason"] == "No space left on device"
    wait_for(lambda: status_pool(w)["log_dropped_bytes"] >= 19 * MB, timeout=30,
             what="the dropped output counted")
    check_drops_reported(w, [])
    # what was written is whole records, within the tmpfs (seen through
    # weir's own mount namespace)
    data = open(f"/proc/{w.proc.pid}/root{pools}/chatty.log", "rb").read()
    assert 0 < len(data) <= 256 * 1024
    assert all(RECORD.match(ln) for ln in data.decode().split("\n")[:-1] if ln)
