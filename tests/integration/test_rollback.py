"""A reload that breaks a pool: weir keeps trying the new settings while
the old workers serve, counts every failure, and then disables the pool
(rapid_fail_action = disable, IIS's way) or goes back to the settings that
served (rapid_fail_action = rollback, event 1302) without a failed request.

Real workers: tests/apps/app.py; every wait polls a condition with a
deadline.
"""
import json
import subprocess

import pytest

from conftest import WEIR, wait_for
from test_pools import APP, Load, get, sitesec

BAD = f"{APP} --exit-at-start 3"          # a broken update: exits at once


def conf(command, action, processes=2):
    return (f"[pool app]\ncommand = {command}\nprocesses = {processes}\n"
            f"start_mode = always\nping_path = /healthz\nrapid_fail = 3 in 1m\n"
            f"rapid_fail_action = {action}\n" + sitesec())


def reload_with(w, command, action):
    text = w.conf_path.read_text()
    start = text.index("[pool app]")
    w.conf_path.write_text(text[:start] + conf(command, action))
    # --no-wait: these tests watch the events themselves (test_rapidfail.py
    # checks what `weir reload` prints and its exit status)
    r = subprocess.run([WEIR, "reload", "--no-wait", "-c", str(w.conf_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)


def show(w):
    r = subprocess.run([WEIR, "pool", "show", "app", "--json", "-c", str(w.conf_path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def ready_pids(w):
    return sorted(x["pid"] for x in show(w)["workers"] if x["state"] == "ready")


def events(w, eid):
    return [e for e in w.events() if e["id"] == eid]


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode()


def ready_cmdlines(w):
    """The command lines of the ready workers, or None when one of them
    exited between the status snapshot and the read (an old worker being
    stopped): the caller's wait_for then simply asks again."""
    try:
        return [cmdline(p) for p in ready_pids(w)]
    except (FileNotFoundError, ProcessLookupError):
        return None


@pytest.fixture
def w(make_weir):
    w = make_weir(conf(APP, "rollback"))
    wait_for(lambda: len(ready_pids(w)) == 2, what="two ready workers")
    return w


def test_a_failing_update_rolls_back_and_nothing_fails(w):
    before = ready_pids(w)
    with Load(w.port, "/app/hello", conns=4) as load:
        wait_for(lambda: load.ok > 50, what="load")
        reload_with(w, BAD, "rollback")
        e = wait_for(lambda: events(w, 1302), timeout=60, what="event 1302")[0]
        n = load.ok
        wait_for(lambda: load.ok > n + 50, what="more load after the rollback")
    assert load.failed == [], load.failed[:5]
    assert e["pool"] == "app" and e["level"] == "error"
    assert e["failed_generation"] == 2 and e["restored_generation"] == 1, e
    # two workers are replaced at a time: the pair whose deaths fill the
    # window (3) may bring a fourth failure, which is listed too
    nfail = len(e["failures"])
    assert 3 <= nfail <= 4 and "exit status 3" in e["last_failure"], e
    # the replacements failed (1009 each, with the reason), no 1002
    wait_for(lambda: len(events(w, 1009)) == nfail, what="a 1009 per failure")
    fails = events(w, 1009)
    assert all(x["exit_code"] == 3 for x in fails), fails
    assert events(w, 1002) == []
    # the workers that served before the reload are the ones serving now
    assert ready_pids(w) == before
    p = show(w)
    assert p["state"] == "started" and p["reason"] is None
    assert p["rolled_back_from"] == 2 and p["settings_generation"] == 1
    out = subprocess.run([WEIR, "status", "-c", str(w.conf_path)], capture_output=True,
                         text=True, timeout=30).stdout
    assert "rolled back: the settings of generation 2 failed; running those of generation 1" \
        in out, out
    # it stays put: no more replacement attempts of the good workers
    assert len(events(w, 1009)) == nfail
    # a fixed update applies as usual and clears the rollback
    reload_with(w, f"{APP} --start-delay 1", "rollback")
    wait_for(lambda: all(p not in before for p in ready_pids(w)) and len(ready_pids(w)) == 2,
             what="workers of the fixed settings")
    c = wait_for(lambda: ready_cmdlines(w), what="command lines of the ready workers")
    assert all("--start-delay 1" in x for x in c), c
    p = show(w)
    assert p["rolled_back_from"] is None and p["settings_generation"] == 3


def test_a_version_that_served_then_crashes_rolls_back_to_the_one_before(w):
    # generation 2 answers its readiness ping, then each of its workers dies
    # right after that answer, having completed no request: a crash loop
    # that passes the readiness check.  Whether the master read the answer
    # before it reaped the worker (ready, "good", then died serving nothing)
    # or after (never ready) depends on which event its loop takes first;
    # both count, and both roll back to generation 1.
    reload_with(w, f"{APP} --die-every 1", "rollback")
    e = wait_for(lambda: events(w, 1302), timeout=30, what="event 1302")[0]
    counted = [x for x in events(w, 1009) if x["counted"]]
    assert len(counted) >= 3, counted
    for x in counted:
        assert x["counted_why"] == ("it became ready but died before completing a request"
                                    if x["was_ready"] else "it never became ready"), x
    assert e["failed_generation"] == 2 and e["restored_generation"] == 1, e
    # the workers of generation 2 are replaced by ones with generation 1's command
    wait_for(lambda: (c := ready_cmdlines(w)) is not None and len(c) == 2 and
             not any("--die-every" in x for x in c),
             timeout=30, what="generation 1's settings serving")
    assert get(w, "/app/hello")[0] == 200
    assert events(w, 1002) == []


def test_rollback_with_nothing_to_go_back_to_disables(make_weir):
    w = make_weir(conf(BAD, "rollback"))
    e = wait_for(lambda: events(w, 1002), timeout=60, what="event 1002")[0]
    assert e["action"] == "rollback"
    assert events(w, 1302) == []
    assert show(w)["state"] == "disabled"
    assert get(w, "/app/hello")[0] == 503


def test_a_failing_update_is_retried_until_the_pool_is_disabled(make_weir):
    """rapid_fail_action = disable: the old workers serve while the update
    is tried again; it never quietly stays on the old settings."""
    w = make_weir(conf(APP, "disable"))
    wait_for(lambda: len(ready_pids(w)) == 2, what="two ready workers")
    reload_with(w, BAD, "disable")
    e = wait_for(lambda: events(w, 1002), timeout=60, what="event 1002")[0]
    # two workers are replaced at a time: the pair whose deaths fill the
    # window (3) may bring a fourth failure, which is listed too
    assert 3 <= len(e["failures"]) <= 4 and e["action"] == "disable", e
    wait_for(lambda: len(events(w, 1009)) == len(e["failures"]), what="a 1009 per failure")
    wait_for(lambda: show(w)["state"] == "disabled", what="disabled")
    assert get(w, "/app/hello")[0] == 503
