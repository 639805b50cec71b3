"""A site's fault is that site's: the front end never exits because of one
site's root.  A root the front end's user cannot read is refused by `weir
check`, `weir run` (exit 78, before binding) and reloads; a root that goes
away while weir runs (chmod, rename, a deleted release) makes that site
answer 503 (Site_Unavailable) with one event 1311, the other sites serve
on, and it serves again without a reload when the root is back (1312).  A
front end that dies is reported with its exit in words and its last output
lines (1305); one that cannot start at all stops weir with status 78 (1309).

The front end drops root only when weir is started as root: these tests
need root (CI runs the suite as root) and run the front end as `nobody`."""
import http.client
import json
import os
import resource
import shutil
import signal
import subprocess

import pytest

from conftest import WEIR, cli, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root (the front end drops to [server] user); CI runs as root")

FE_USER = "user = nobody"


def get(w, path="/hello.txt", host="a.test"):
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=10)
    try:
        c.request("GET", path, headers={"Host": host})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def events(w, eid):
    return [e for e in w.events() if e["id"] == eid]


def make_root(path, text):
    path.mkdir(parents=True)
    (path / "hello.txt").write_text(text)
    os.chmod(path, 0o755)
    return path


def two_sites(a_root, b_root):
    return (f"[site a]\nroot = {a_root}\n"
            f"[site b]\nhosts = b.test\nroot = {b_root}\n")


def line_of(conf, text):
    return conf.read_text().splitlines().index(text) + 1


@pytest.fixture
def private(tmp_path):
    """A root inside a directory only root may enter."""
    d = tmp_path / "private"
    make_root(d / "www", "secret\n")
    os.chmod(d, 0o700)
    return d / "www"


def test_check_and_run_refuse_a_root_the_front_end_cannot_read(make_weir, tmp_path, private):
    a = make_root(tmp_path / "a", "a\n")
    w = make_weir(two_sites(a, private), start=False, server_extra=FE_USER)
    line = line_of(w.conf_path, "[site b]")
    want = (f"{w.conf_path}:{line}: [site b] root {private}: not readable by user nobody "
            "(the front end's user): Permission denied")
    r = subprocess.run([WEIR, "check", "-c", str(w.conf_path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1 and want in r.stderr.splitlines(), r.stderr
    r = subprocess.run([WEIR, "run", "-c", str(w.conf_path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 78 and want in r.stderr.splitlines(), r.stderr
    assert "not started" in r.stderr and "listening on" not in r.stderr, r.stderr
    # the same configuration is fine once the front end may enter
    os.chmod(private.parent, 0o711)
    r = subprocess.run([WEIR, "check", "-c", str(w.conf_path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_check_covers_state_dir_and_runs_as_the_current_user_when_not_root(make_weir, tmp_path):
    a = make_root(tmp_path / "a", "a\n")
    hidden = tmp_path / "hidden"
    hidden.mkdir(mode=0o700)
    w = make_weir(f"[site a]\nroot = {a}\n", start=False, server_extra=FE_USER)
    conf = w.conf_path.read_text().replace(f"state_dir = {w.state_dir}",
                                           f"state_dir = {hidden}/run")
    w.conf_path.write_text(conf)
    r = subprocess.run([WEIR, "check", "-c", str(w.conf_path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1, r.stderr
    assert (f"[server] state_dir {hidden}/run: not searchable by user nobody "
            "(the front end's user): Permission denied") in r.stderr, r.stderr
    # Not root: the front end runs as weir's own user, so that is who is asked.
    os.chmod(w.conf_path, 0o644)
    os.chmod(a, 0o700)
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        WEIR, "check", "-c", str(w.conf_path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stderr
    assert (f"[site a] root {a}: not readable by user nobody (the front end's user): "
            "Permission denied") in r.stderr, r.stderr


def test_reload_to_an_unreadable_root_is_refused_and_the_old_one_serves(make_weir, tmp_path, private):
    a = make_root(tmp_path / "a", "a\n")
    b = make_root(tmp_path / "b", "b\n")
    w = make_weir(two_sites(a, b), server_extra=FE_USER)
    assert get(w, host="b.test") == (200, b"b\n")
    w.conf_path.write_text(w.conf_path.read_text().replace(f"root = {b}\n", f"root = {private}\n"))
    r = cli(w, "reload")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"[site b] root {private}: not readable by user nobody" in r.stdout + r.stderr
    e = wait_for(lambda: events(w, 1304), what="event 1304")[0]
    assert any(f"root {private}: not readable by user nobody" in x for x in e["errors"]), e
    assert get(w, host="b.test") == (200, b"b\n")
    assert get(w, host="a.test") == (200, b"a\n")
    assert events(w, 1305) == [] and events(w, 1303) == []


def test_root_chmod_at_run_time_is_that_sites_503(make_weir, tmp_path):
    a = make_root(tmp_path / "a", "a\n")
    b = make_root(tmp_path / "b", "b\n")
    w = make_weir(two_sites(a, b), server_extra=FE_USER, threads=2)
    fe = w.frontend_pid()
    assert get(w, host="b.test") == (200, b"b\n")
    # a missing file under an available root is the file's 404, not the site's 503
    assert get(w, "/no-such-file", host="b.test")[0] == 404
    assert get(w, "/no/such/dir/file", host="b.test")[0] == 404
    os.chmod(b, 0o700)
    wait_for(lambda: get(w, host="b.test")[0] == 503, what="503 for site b")
    for _ in range(20):       # the outage is reported once, not per request
        assert get(w, host="b.test")[0] == 503
        assert get(w, host="a.test") == (200, b"a\n")
    e = wait_for(lambda: events(w, 1311), what="event 1311")
    assert len(e) == 1, e
    assert e[0]["site"] == "b" and e[0]["root"] == str(b) and e[0]["errno"] == 13, e[0]
    wait_for(lambda: " 503 2 Site_Unavailable " in w.httperr_log(), what="httperr line")
    st = json.loads(cli(w, "status", "--json").stdout)
    assert [s["site"] for s in st["sites_unavailable"]] == ["b"], st["sites_unavailable"]
    assert f"site b: root {b} unavailable" in cli(w, "status").stdout
    os.chmod(b, 0o755)
    wait_for(lambda: get(w, host="b.test") == (200, b"b\n"), what="site b back")
    assert get(w, "/no-such-file", host="b.test")[0] == 404
    e = wait_for(lambda: events(w, 1312), what="event 1312")
    assert len(e) == 1 and e[0]["site"] == "b", e
    assert len(events(w, 1311)) == 1
    assert w.frontend_pid() == fe and events(w, 1305) == []
    assert json.loads(cli(w, "status", "--json").stdout)["sites_unavailable"] == []


def test_root_renamed_away_then_back(make_weir, tmp_path):
    a = make_root(tmp_path / "a", "a\n")
    b = make_root(tmp_path / "b", "b\n")
    w = make_weir(two_sites(a, b), server_extra=FE_USER)
    fe = w.frontend_pid()
    assert get(w, host="b.test") == (200, b"b\n")
    os.rename(b, tmp_path / "b.away")
    wait_for(lambda: get(w, host="b.test")[0] == 503, what="503 for site b")
    assert get(w, host="a.test") == (200, b"a\n")
    e = wait_for(lambda: events(w, 1311), what="event 1311")
    assert len(e) == 1 and e[0]["errno"] == 2, e
    os.rename(tmp_path / "b.away", b)
    wait_for(lambda: get(w, host="b.test") == (200, b"b\n"), what="site b back")
    wait_for(lambda: events(w, 1312), what="event 1312")
    assert w.frontend_pid() == fe


def test_deleted_release_behind_a_symlink_then_a_new_one(make_weir, tmp_path):
    """root -> releases/1; the release is deleted (503), then a deploy
    points the link at releases/2: served without a reload."""
    a = make_root(tmp_path / "a", "a\n")
    make_root(tmp_path / "releases" / "1", "v1\n")
    os.chmod(tmp_path / "releases", 0o755)
    current = tmp_path / "current"
    current.symlink_to(tmp_path / "releases" / "1")
    w = make_weir(two_sites(a, current), server_extra=FE_USER)
    assert get(w, host="b.test") == (200, b"v1\n")
    shutil.rmtree(tmp_path / "releases" / "1")
    wait_for(lambda: get(w, host="b.test")[0] == 503, what="503 for the deleted release")
    assert get(w, host="a.test") == (200, b"a\n")
    make_root(tmp_path / "releases" / "2", "v2\n")
    current.unlink()
    current.symlink_to(tmp_path / "releases" / "2")
    wait_for(lambda: get(w, host="b.test") == (200, b"v2\n"), what="the new release")
    assert len(events(w, 1311)) == 1
    wait_for(lambda: events(w, 1312), what="event 1312")


def test_frontend_killed_is_reported_in_words_and_restarted(make_weir, tmp_path):
    a = make_root(tmp_path / "a", "a\n")
    w = make_weir(f"[site a]\nroot = {a}\n", server_extra=FE_USER)
    fe = w.frontend_pid()
    os.kill(fe, signal.SIGKILL)
    e = wait_for(lambda: events(w, 1305), what="event 1305")[0]
    assert e["pid"] == fe and e["exit"] == "signal 9 (SIGKILL)", e
    assert "signal 9 (SIGKILL)" in e["message"] and isinstance(e["stderr_tail"], list), e
    wait_for(lambda: w.frontend_pid() not in (None, fe), what="a new front end")
    wait_for(lambda: get(w)[0] == 200, what="served again")
    st = json.loads(cli(w, "status", "--json").stdout)
    lf = st["frontend"]["last_failure"]
    assert lf["pid"] == fe and lf["exit"] == "signal 9 (SIGKILL)", lf
    assert f"front end last failure: {lf['time']}, pid {fe}, signal 9 (SIGKILL)" in \
        cli(w, "status").stdout
    assert events(w, 1309) == []


def test_frontend_that_cannot_start_stops_weir_with_78(make_weir, tmp_path):
    """A real cause that passes every check of the configuration: a process
    limit (RLIMIT_NPROC = 1) that lets the master (root) run but not the
    front end (nobody) start its second thread."""
    a = make_root(tmp_path / "a", "a\n")
    w = make_weir(f"[site a]\nroot = {a}\n", start=False, server_extra=FE_USER, threads=2)

    def limit():
        resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))

    r = subprocess.run([WEIR, "run", "-c", str(w.conf_path)], capture_output=True, text=True,
                       timeout=60, preexec_fn=limit)
    assert r.returncode == 78, r.stderr
    assert "weir: the front end cannot start (exit status 1" in r.stderr, r.stderr
    assert "pthread_create: Resource temporarily unavailable" in r.stderr
    e1305 = events(w, 1305)
    e1309 = events(w, 1309)
    assert len(e1305) == 5 and len(e1309) == 1, (e1305, e1309)
    assert all(e["exit"] == "exit status 1" for e in e1305), e1305
    assert any("pthread_create" in ln for ln in e1305[-1]["stderr_tail"]), e1305[-1]
    assert e1309[0]["attempts"] == 5 and "exit status 78" in e1309[0]["message"], e1309
    assert "pthread_create: Resource temporarily unavailable" in e1309[0]["message"]
