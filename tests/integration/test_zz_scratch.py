import os, subprocess
from test_http2 import APP, Client, sha, start
from test_http2_pool import start_conf, start_pool

def test_http_echo_1m(make_weir, site):
    w = start_pool(make_weir, "")
    c = Client(w.h2port)
    data = os.urandom(1 << 20)
    sid = c.request("/app/echo", method="POST", body=data)
    ok = c.wait(lambda: c.done(sid), timeout=20)
    print("DEBUG http", ok, c.closed, len(c.streams[sid]["data"]), c.streams[sid]["reset"])
    assert ok and sha(c.streams[sid]["data"]) == sha(data)

def test_native_curl(make_weir, site, tmp_path):
    w = start_conf(make_weir, "[pool native]\nkind = native\nmodules = hello\n"
                   "hello.greeting = Hallo\n[site main]\napp = /n native\n")
    f = tmp_path / "d"
    data = os.urandom(1 << 20)
    f.write_bytes(data)
    out = subprocess.run(["curl", "-sS", "-m", "20", "--http2-prior-knowledge", "--data-binary", f"@{f}", "-o", str(tmp_path / "o"),
                          f"http://127.0.0.1:{w.h2port}/n/echo"], capture_output=True, text=True)
    print("DEBUG curl h2", out.returncode, out.stderr, (tmp_path / "o").stat().st_size if (tmp_path / "o").exists() else None)
    out = subprocess.run(["curl", "-sS", "-m", "20", "--data-binary", f"@{f}", "-o", str(tmp_path / "o1"),
                          f"http://127.0.0.1:{w.port}/n/echo"], capture_output=True, text=True)
    print("DEBUG curl h1", out.returncode, out.stderr, (tmp_path / "o1").stat().st_size)
    assert False
