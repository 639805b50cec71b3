"""FastCGI pools with real php-cgi from Debian: the CGI/1.1 environment,
bodies both ways, errors, crashes, PHP_FCGI_MAX_REQUESTS, and the script
resolution that keeps "/uploads/evil.jpg/x.php" from ever running."""
import hashlib
import json
import os
import signal
import socket
import subprocess
import threading

import pytest
import requests

from conftest import read_response, wait_for
from test_pools import Load, get

PHP = "/usr/bin/php-cgi"
pytestmark = pytest.mark.skipif(not os.path.exists(PHP), reason="php-cgi not installed")

DUMP = r"""<?php
$keys = ['GATEWAY_INTERFACE','SERVER_SOFTWARE','SERVER_NAME','SERVER_PORT','SERVER_PROTOCOL',
  'SERVER_ADDR','REMOTE_ADDR','REMOTE_PORT','REQUEST_METHOD','REQUEST_URI','QUERY_STRING',
  'SCRIPT_NAME','SCRIPT_FILENAME','PATH_INFO','PATH_TRANSLATED','DOCUMENT_ROOT','CONTENT_TYPE',
  'CONTENT_LENGTH','REDIRECT_STATUS','HTTP_X_CUSTOM','HTTP_PROXY','HTTP_X_USER','HTTP_HOST',
  'HTTP_ACCEPT'];
$s = [];
foreach ($keys as $k) { if (array_key_exists($k, $_SERVER)) $s[$k] = $_SERVER[$k]; }
header('Content-Type: application/json');
echo json_encode(['server' => $s, 'get' => $_GET, 'post' => $_POST, 'cookie' => $_COOKIE,
  'body' => file_get_contents('php://input'), 'proxy_env' => getenv('HTTP_PROXY')]);
"""

SCRIPTS = {
    "dump.php": DUMP,
    "index.php": "<?php echo 'index php';",
    "upload.php": r"""<?php
$f = $_FILES['f'];
echo json_encode(['error' => $f['error'], 'size' => $f['size'], 'name' => $f['name'],
  'sha256' => $f['error'] == 0 ? hash_file('sha256', $f['tmp_name']) : null,
  'field' => $_POST['field'] ?? null]);
""",
    "body.php": r"""<?php
$b = file_get_contents('php://input');
echo json_encode(['len' => strlen($b), 'sha256' => hash('sha256', $b),
  'content_length' => $_SERVER['CONTENT_LENGTH'] ?? null]);
""",
    "big.php": r"""<?php
$block = str_repeat('z', 65536);
for ($i = 0; $i < 800; $i++) { echo $block; flush(); }
""",
    "code.php": r"""<?php
http_response_code(418);
header('X-Teapot: short and stout');
echo 'teapot';
""",
    "redirect.php": r"""<?php
header('Location: /index.php');
""",
    "fatal.php": r"""<?php
echo 'before';
this_function_does_not_exist();
""",
    "die.php": r"""<?php
$m = __DIR__ . '/../died-once';
if (!file_exists($m)) { touch($m); error_log('about to die'); posix_kill(getmypid(), 9); }
echo 'survived ', getmypid();
""",
    "pid.php": "<?php echo getmypid();",
}


@pytest.fixture
def php_site(tmp_path):
    root = tmp_path / "www"
    (root / "uploads").mkdir(parents=True)
    for name, text in SCRIPTS.items():
        (root / name).write_text(text)
    (root / "static.txt").write_text("static file\n")
    marker = tmp_path / "evil-ran"
    (root / "uploads" / "evil.jpg").write_text(f"<?php touch('{marker}'); echo 'pwned';")
    (tmp_path / "outside.php").write_text(f"<?php touch('{marker}'); echo 'outside';")
    os.symlink(tmp_path / "outside.php", root / "link.php")
    # made by a user who can write in the root but does not own the script
    # (the default symlinks = owner follows only a link its target's owner made)
    os.chown(root / "link.php", 65534, 65534, follow_symlinks=False)
    for d in (tmp_path, root, root / "uploads"):
        os.chmod(d, 0o777)
    return root, marker


def conf(root, extra=""):
    return (f"[pool php]\nkind = fastcgi\ncommand = {PHP} -d upload_max_filesize=64M "
            f"-d post_max_size=64M -d display_errors=0 -d log_errors=1\nprocesses = 2\n"
            f"{extra}\n"
            f"[site main]\nroot = {root}\nscript = .php php\nindex = index.php, index.html\n")


def test_cgi_environment_field_by_field(make_weir, php_site):
    root, _ = php_site
    w = make_weir(conf(root))
    r = requests.post(f"http://127.0.0.1:{w.port}/dump.php/extra/info?a=1&b=two",
                      data={"x": "1", "y": "zwei"},
                      headers={"X-Custom": "hello", "Proxy": "http://evil.example:3128",
                               "Cookie": "c1=v1; c2=v2", "Accept": "text/plain"},
                      timeout=30)
    assert r.status_code == 200, r.text
    j = r.json()
    s = j["server"]
    assert s["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert s["SERVER_SOFTWARE"].startswith("weir/")
    assert s["SERVER_NAME"] == "127.0.0.1" and s["SERVER_PORT"] == str(w.port)
    assert s["SERVER_PROTOCOL"] == "HTTP/1.1" and s["SERVER_ADDR"] == "127.0.0.1"
    assert s["REMOTE_ADDR"] == "127.0.0.1" and int(s["REMOTE_PORT"]) > 0
    assert s["REQUEST_METHOD"] == "POST"
    assert s["REQUEST_URI"] == "/dump.php/extra/info?a=1&b=two"
    assert s["QUERY_STRING"] == "a=1&b=two"
    assert s["SCRIPT_NAME"] == "/dump.php"
    assert s["SCRIPT_FILENAME"] == f"{root}/dump.php"
    assert s["PATH_INFO"] == "/extra/info"
    assert s["PATH_TRANSLATED"] == f"{root}/extra/info"
    assert s["DOCUMENT_ROOT"] == str(root)
    assert s["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert s["CONTENT_LENGTH"] == str(len("x=1&y=zwei"))
    assert s["REDIRECT_STATUS"] == "200"
    assert s["HTTP_X_CUSTOM"] == "hello" and s["HTTP_ACCEPT"] == "text/plain"
    assert s["HTTP_HOST"] == f"127.0.0.1:{w.port}"
    # httpoxy: the Proxy header never becomes HTTP_PROXY
    assert "HTTP_PROXY" not in s and j["proxy_env"] is False
    assert j["get"] == {"a": "1", "b": "two"}
    assert j["post"] == {"x": "1", "y": "zwei"}
    assert j["cookie"] == {"c1": "v1", "c2": "v2"}


def test_colliding_header_names_are_dropped(make_weir, php_site):
    root, _ = php_site
    w = make_weir(conf(root))
    r = requests.get(f"http://127.0.0.1:{w.port}/dump.php", timeout=30,
                     headers={"X-User": "alice", "X_User": "mallory"})
    assert r.status_code == 200
    assert "HTTP_X_USER" not in r.json()["server"]
    r = requests.get(f"http://127.0.0.1:{w.port}/dump.php", timeout=30,
                     headers={"X-User": "alice"})
    assert r.json()["server"]["HTTP_X_USER"] == "alice"


def test_multipart_upload_10mib(make_weir, php_site):
    root, _ = php_site
    w = make_weir(conf(root))
    data = os.urandom(10 * 1024 * 1024)
    r = requests.post(f"http://127.0.0.1:{w.port}/upload.php", timeout=60,
                      files={"f": ("blob.bin", data, "application/octet-stream")},
                      data={"field": "value"})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["error"] == 0 and j["size"] == len(data) and j["name"] == "blob.bin"
    assert j["sha256"] == hashlib.sha256(data).hexdigest()
    assert j["field"] == "value"


def test_chunked_request_body(make_weir, php_site):
    root, _ = php_site
    w = make_weir(conf(root))
    body = os.urandom(200_000)  # beyond the in-memory spool: goes to a file
    pieces = [body[i:i + 7777] for i in range(0, len(body), 7777)]
    s = socket.create_connection(("127.0.0.1", w.port), timeout=30)
    s.sendall(b"POST /body.php HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for p in pieces:
        s.sendall(b"%x\r\n%s\r\n" % (len(p), p))
    s.sendall(b"0\r\n\r\n")
    data = b""
    while b"}" not in data:
        chunk = s.recv(65536)
        assert chunk
        data += chunk
    s.close()
    j = json.loads(data[data.index(b"{"):data.index(b"}") + 1])
    assert j["len"] == len(body) and j["content_length"] == str(len(body))
    assert j["sha256"] == hashlib.sha256(body).hexdigest()


def test_50mib_streamed_response_keeps_frontend_rss_flat(make_weir, php_site):
    root, _ = php_site
    w = make_weir(conf(root))
    fe = w.frontend_pid()

    def rss():
        with open(f"/proc/{fe}/status") as f:
            return int([ln.split()[1] for ln in f if ln.startswith("VmRSS:")][0])

    get(w, "/index.php")
    before = rss()
    peak = before
    got = 0
    h = hashlib.sha256()
    with requests.get(f"http://127.0.0.1:{w.port}/big.php", stream=True, timeout=60) as r:
        assert r.status_code == 200
        for chunk in r.iter_content(1 << 16):
            got += len(chunk)
            h.update(chunk)
            if got % (4 << 20) < (1 << 16):
                peak = max(peak, rss())
    assert got == 800 * 65536
    assert peak - before < 8 * 1024, (before, peak)  # kB: flat, not 50 MiB


def test_status_headers_and_redirects(make_weir, php_site):
    root, _ = php_site
    w = make_weir(conf(root))
    st, h, body = get(w, "/code.php")
    assert st == 418 and h["x-teapot"] == "short and stout" and body == b"teapot"
    st, h, body = get(w, "/redirect.php")
    assert st == 302 and h["location"] == "/index.php"
    st, h, body = get(w, "/")
    assert st == 200 and body == b"index php"
    st, h, body = get(w, "/static.txt")
    assert st == 200 and body == b"static file\n"
    st, h, body = get(w, "/dump.php", method="HEAD")
    assert st == 200 and body == b""


def test_fatal_error_is_a_page_not_a_crash(make_weir, php_site):
    root, _ = php_site
    w = make_weir(conf(root))
    st, h, body = get(w, "/fatal.php")
    assert st == 500
    wait_for(lambda: "this_function_does_not_exist" in
             (w.log_dir / "pools" / "php.log").read_text(), what="PHP's error in the pool log")
    assert [e for e in w.events() if e["id"] in (1009, 1002)] == []
    assert get(w, "/index.php")[0] == 200


def test_script_killing_itself_gives_1009_and_retry(make_weir, php_site):
    root, _ = php_site
    w = make_weir(conf(root))
    st, h, body = get(w, "/die.php")
    assert st == 200 and body.startswith(b"survived"), body
    ev = wait_for(lambda: [e for e in w.events() if e["id"] == 1009], what="1009")[0]
    assert ev["pool"] == "php" and ev["signal"] == 9
    assert any(f["target"] == "/die.php" for f in ev["inflight"]), ev


def test_php_fcgi_max_requests_under_load(make_weir, php_site):
    root, _ = php_site
    w = make_weir(conf(root, "recycle_requests = 20"))
    assert get(w, "/index.php")[0] == 200
    with Load(w.port, "/pid.php", conns=4) as load:
        # the Load helper wants "hello from"; count by status instead
        wait_for(lambda: len(load.failed) + load.ok > 300, timeout=60, what="300 requests")
    bad = [f for f in load.failed if not (isinstance(f, tuple) and f[0] == 200)]
    assert bad == [], bad[:5]
    assert [e for e in w.events() if e["id"] in (1009, 1002)] == []


@pytest.mark.parametrize("target,status", [
    ("/uploads/evil.jpg/x.php", 404),
    ("/uploads/evil.jpg", 200),           # served as a file, never run
    ("/link.php", 404),                   # a .php outside root, through a link
    ("/../outside.php", 400),
    ("/%2e%2e/outside.php", 400),
    ("/uploads/%2e%2e/%2e%2e/outside.php", 400),
    ("/dump.php%00.jpg", 400),
    ("/uploads/evil.jpg%00.php", 400),
    ("/missing.php", 404),
    ("/missing.php/path/info", 404),
])
def test_scripts_outside_the_rules_never_run(make_weir, php_site, target, status):
    root, marker = php_site
    w = make_weir(conf(root))
    out = b""
    s = socket.create_connection(("127.0.0.1", w.port), timeout=20)
    s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    assert out.startswith(f"HTTP/1.1 {status} ".encode()), out[:200]
    assert not marker.exists(), "PHP ran a file it must not"
    assert b"pwned" not in out or status == 200 and b"<?php" in out
