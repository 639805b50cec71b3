"""Routing that real applications need (issue 16): a site's fallback front
controller (nginx's try_files $uri $uri/ /index.php?$args), rewrite and
return rules (PCRE2, captures, flags, the loop bound), alias directories
with root's containment, symlinks = owner (Apache's SymLinksIfOwnerMatch,
the default), app routes with a script, and strip_prefix for HTTP and
FastCGI pools.  Real php-cgi and tests/apps/app.py pools."""
import http.client
import json
import os
import re
import subprocess

import pytest

from conftest import SRC, WEIR, raw, wait_for
from test_pools import APP, get

PHP = "/usr/bin/php-cgi"
needs_php = pytest.mark.skipif(not os.path.exists(PHP), reason="php-cgi not installed")

DUMP = r"""<?php
$keys = ['REQUEST_URI','QUERY_STRING','SCRIPT_NAME','SCRIPT_FILENAME','PATH_INFO','PHP_SELF'];
$s = [];
foreach ($keys as $k) { if (array_key_exists($k, $_SERVER)) $s[$k] = $_SERVER[$k]; }
header('Content-Type: application/json');
echo json_encode(['script' => basename(__FILE__), 'server' => $s, 'get' => $_GET]);
"""

PHP_POOL = (f"[pool php]\nkind = fastcgi\ncommand = {PHP} -d display_errors=0\n"
            "processes = 1\n")


def chmod_tree(root):
    """The front end and the pool run as uids of their own: they read it all."""
    for d, dirs, files in os.walk(root):
        os.chmod(d, 0o755)
        for f in files:
            if not os.path.islink(os.path.join(d, f)):
                os.chmod(os.path.join(d, f), 0o644)


@pytest.fixture
def app_root(tmp_path):
    """A PHP application's root: a front controller, a script, static files,
    a directory with an index and one without."""
    root = tmp_path / "app"
    (root / "wp-admin").mkdir(parents=True)
    (root / "assets").mkdir()
    (root / "index.php").write_text(DUMP)
    (root / "other.php").write_text(DUMP)
    (root / "wp-admin" / "index.php").write_text(DUMP)
    (root / "style.css").write_text("body{}\n")
    (root / "assets" / "a.txt").write_text("asset\n")
    chmod_tree(root)
    return root


def php_json(w, path, **kw):
    st, h, body = get(w, path, **kw)
    assert st == 200, (path, st, body[:300])
    return json.loads(body)


@needs_php
def test_fallback_front_controller(make_weir, app_root):
    w = make_weir(PHP_POOL + f"[site main]\nroot = {app_root}\nscript = .php php\n"
                  "index = index.php, index.html\nfallback = /index.php\n")
    # a pretty path: the front controller, with the original URI and query
    j = php_json(w, "/2026/11/hello-world?p=1&q=two")
    assert j["script"] == "index.php"
    s = j["server"]
    assert s["REQUEST_URI"] == "/2026/11/hello-world?p=1&q=two"
    assert s["SCRIPT_NAME"] == "/index.php"
    assert s["SCRIPT_FILENAME"] == f"{app_root}/index.php"
    assert s["QUERY_STRING"] == "p=1&q=two" and j["get"] == {"p": "1", "q": "two"}
    assert s.get("PATH_INFO", "") == ""
    # a missing .php is the front controller's too (try_files $uri ... /index.php)
    assert php_json(w, "/missing.php")["server"]["SCRIPT_NAME"] == "/index.php"
    # existing files are served statically, existing scripts run themselves
    st, h, body = get(w, "/style.css")
    assert st == 200 and body == b"body{}\n" and "css" in h["content-type"]
    assert php_json(w, "/other.php")["script"] == "other.php"
    # an existing directory with an index: its index; without one: 403, not the fallback
    j = php_json(w, "/wp-admin/")
    assert j["server"]["SCRIPT_NAME"] == "/wp-admin/index.php"
    st, _, _ = get(w, "/assets/")
    assert st == 403
    st, h, _ = get(w, "/assets")
    assert st == 301 and h["location"] == "/assets/"
    # the fallback never serves hidden files
    (app_root / ".env").write_text("SECRET=1\n")
    st, _, body = get(w, "/.env")
    assert st == 404 and b"SECRET" not in body


@needs_php
def test_fallback_needs_a_mapped_script(make_weir, app_root):
    w = make_weir(PHP_POOL + f"[site main]\nroot = {app_root}\nfallback = /index.php\n",
                  start=False)
    w.start(wait=False)
    w.proc.wait(timeout=20)
    assert w.proc.returncode != 0
    assert "fallback /index.php: no script = line maps its extension" in w.log()


@needs_php
def test_app_route_with_a_script(make_weir, app_root):
    """app = / POOL SCRIPT: every path runs the script (no "No input file
    specified."), and app = / POOL with the site's fallback does the same."""
    w = make_weir(PHP_POOL + f"[site main]\nroot = {app_root}\napp = / php /index.php\n")
    for path in ("/", "/blog/post?x=1", "/style.css"):
        j = php_json(w, path)
        assert j["script"] == "index.php", path
        assert j["server"]["SCRIPT_NAME"] == "/index.php"
        assert j["server"]["REQUEST_URI"] == path
    w2 = make_weir(PHP_POOL + f"[site main]\nroot = {app_root}\napp = / php\n"
                   "script = .php php\nfallback = /index.php\n")
    j = php_json(w2, "/anything/at/all?y=2")
    assert j["script"] == "index.php" and j["get"] == {"y": "2"}


@needs_php
def test_strip_prefix_fastcgi(make_weir, app_root):
    w = make_weir(PHP_POOL + f"[site main]\nroot = {app_root}\n"
                  "app = /shop php /index.php strip_prefix\n")
    s = php_json(w, "/shop/products/7?sort=asc")["server"]
    assert s["SCRIPT_NAME"] == "/shop/index.php"
    assert s["SCRIPT_FILENAME"] == f"{app_root}/index.php"
    assert s["PATH_INFO"] == "/products/7"
    assert s["REQUEST_URI"] == "/shop/products/7?sort=asc"
    assert s["QUERY_STRING"] == "sort=asc"


def test_strip_prefix_http(make_weir, tmp_path):
    w = make_weir(f"[pool app]\ncommand = {APP}\n"
                  "[site main]\napp = /api app strip_prefix\napp = /raw app\n")
    st, _, body = get(w, "/api/headers?x=1", headers={"X-Forwarded-Prefix": "/evil"})
    assert st == 200
    j = json.loads(body)
    assert j["path"] == "/headers?x=1"
    hdrs = [(k.lower(), v) for k, v in j["headers"]]
    assert ("x-forwarded-prefix", "/api") in hdrs
    assert ("x-forwarded-prefix", "/evil") not in hdrs
    # without strip_prefix the pool sees the whole path
    assert json.loads(get(w, "/raw/headers")[2])["path"] == "/raw/headers"


def test_rewrite_captures_and_flags(make_weir, tmp_path):
    w = make_weir(
        f"[pool app]\ncommand = {APP}\n"
        "[site main]\napp = / app\n"
        # no flag: the next rules see the new path
        r"rewrite = ^/old/(\w+)$ /mid/$1" "\n"
        r"rewrite = ^/mid/(\w+)$ /x/headers?from=$1" "\n"
        # break: stop here (the rule after it would send it elsewhere)
        r"rewrite = ^/b/(.*)$ /b2/headers?b=$1 break" "\n"
        r"rewrite = ^/b2/headers$ /status?code=418" "\n"
        # last: run the rules again on the new path
        r"rewrite = ^/l/(.*)$ /b/$1 last" "\n"
        # redirect / permanent, and an absolute URL
        r"rewrite = ^/go/(.*)$ /new/$1 redirect" "\n"
        r"rewrite = ^/moved/(.*)$ /new/$1 permanent" "\n"
        r"rewrite = ^/ext/(.*)$ https://example.com/$1" "\n"
        # "?" at the end: the client's query is dropped
        r"rewrite = ^/noq$ /headers? break" "\n")
    j = json.loads(get(w, "/old/abc")[2])
    assert j["path"] == "/x/headers?from=abc"
    # the client's query goes after the replacement's
    assert json.loads(get(w, "/old/abc?k=v")[2])["path"] == "/x/headers?from=abc&k=v"
    assert json.loads(get(w, "/b/x%20y")[2])["path"] == "/b2/headers?b=x%20y"
    # a capture with '?' or '&' in it stays data
    assert json.loads(get(w, "/b/a%3Fq%26r")[2])["path"] == "/b2/headers?b=a%3Fq%26r"
    assert json.loads(get(w, "/l/z")[2])["path"] == "/b2/headers?b=z"
    assert get(w, "/b2/headers")[0] == 418
    assert json.loads(get(w, "/noq?drop=1")[2])["path"] == "/headers"
    st, h, _ = get(w, "/go/p?q=1")
    assert st == 302 and h["location"] == "/new/p?q=1"
    st, h, _ = get(w, "/moved/p")
    assert st == 301 and h["location"] == "/new/p"
    st, h, _ = get(w, "/ext/x")
    assert st == 302 and h["location"] == "https://example.com/x"
    # one kept-alive connection: a rewritten request, then one that is not
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=30)
    try:
        for path, want in (("/old/k", "/x/headers?from=k"), ("/y/headers?z=1", "/y/headers?z=1"),
                           ("/b/q", "/b2/headers?b=q"), ("/y/headers", "/y/headers")):
            c.request("GET", path)
            resp = c.getresponse()
            assert json.loads(resp.read())["path"] == want, path
    finally:
        c.close()


def test_return_and_loop_bound(make_weir, site):
    w = make_weir(
        f"[site main]\nroot = {site}\n"
        r"return = ^/gone/ 410" "\n"
        r"return = ^/blog/(\d+)$ 301 https://blog.example.com/p/$1" "\n"
        r"return = ^/tmp$ 307 /hello.txt" "\n"
        r"rewrite = ^/loop/(.*)$ /loop/$1 last" "\n"
        r"rewrite = ^/greet$ /hello.txt" "\n")
    st, _, _ = get(w, "/gone/x")
    assert st == 410
    st, h, _ = get(w, "/blog/42")
    assert st == 301 and h["location"] == "https://blog.example.com/p/42"
    st, h, _ = get(w, "/tmp")
    assert st == 307 and h["location"] == "/hello.txt"
    st, _, body = get(w, "/greet")
    assert st == 200 and body == b"hello, world\n"
    # a rule that matches its own result: 10 rewrites, then 500 with a token
    st, _, _ = get(w, "/loop/x")
    assert st == 500
    wait_for(lambda: "Rewrite_Loop" in w.httperr_log(), what="Rewrite_Loop in httperr.log")
    # rules match the decoded, normalized path: no encoding slips past
    st, _, _ = get(w, "/%67one/x")
    assert st == 410
    st, _, _ = get(w, "/a/../gone/x")
    assert st == 410


def test_bad_regex_is_a_config_error(make_weir, site):
    """weir check and a reload say file:line; the running rules serve on."""
    w = make_weir(f"[site main]\nroot = {site}\n" r"return = ^/gone 410" "\n")
    assert get(w, "/gone")[0] == 410
    w.conf_path.write_text(w.conf_path.read_text() + "rewrite = ^/(a /b\n")
    lineno = w.conf_path.read_text().count("\n")
    want = f"{w.conf_path}:{lineno}: rewrite: regex '^/(a': missing closing parenthesis at offset 4"
    r = subprocess.run([WEIR, "check", "-c", str(w.conf_path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1 and want in r.stderr, r.stderr
    r = subprocess.run([WEIR, "reload", "-s", str(w.state_dir / "admin.sock")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "missing closing parenthesis" in r.stdout + r.stderr
    e = wait_for(lambda: [x for x in w.events() if x["id"] == 1304], what="event 1304")[0]
    assert any("missing closing parenthesis" in x for x in e["errors"]), e
    assert get(w, "/gone")[0] == 410
    assert get(w, "/hello.txt")[2] == b"hello, world\n"


@pytest.fixture
def alias_tree(tmp_path, site):
    static = tmp_path / "static"
    (static / "css").mkdir(parents=True)
    (static / "css" / "a.css").write_text("a{}\n")
    (static / "index.html").write_text("<h1>static</h1>\n")
    (static / "big.bin").write_bytes(bytes(range(256)) * 64)
    (tmp_path / "secret.txt").write_text("SECRET\n")
    os.symlink(tmp_path / "secret.txt", static / "out.txt")
    os.chown(static / "out.txt", 65534, 65534, follow_symlinks=False)
    chmod_tree(static)
    return static


def test_alias_serves_and_contains(make_weir, site, alias_tree, tmp_path):
    w = make_weir(f"[pool app]\ncommand = {APP}\n"
                  f"[site main]\nroot = {site}\napp = / app\nalias = /static {alias_tree}\n")
    st, h, body = get(w, "/static/css/a.css")
    assert st == 200 and body == b"a{}\n" and "css" in h["content-type"]
    st, _, body = get(w, "/static/")
    assert st == 200 and body == b"<h1>static</h1>\n"
    st, h, _ = get(w, "/static")
    assert st == 301 and h["location"] == "/static/"
    st, h, body = get(w, "/static/big.bin", headers={"Range": "bytes=0-9"})
    assert st == 206 and body == bytes(range(10))
    # the rest of the site is the app's
    assert get(w, "/hello")[0] == 200
    # containment: .., encoded .., a link out (owner differs: refused)
    for t in (b"/static/../../secret.txt", b"/static/%2e%2e/%2e%2e/secret.txt",
              b"/static/%2E%2E/secret.txt"):
        data = raw(w.port, b"GET " + t + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert b"SECRET" not in data, t
    st, _, body = get(w, "/static/out.txt")
    assert st in (403, 404) and b"SECRET" not in body
    # "/static/.." climbs back to "/": the app's, not the alias directory's parent
    data = raw(w.port, b"GET /static/../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"SECRET" not in data


def symlink_tree(tmp_path, site):
    """In the root: links owned by the target's owner and links owned by
    someone else, to files in and out of the root."""
    out = tmp_path / "shared"
    out.mkdir()
    (out / "mine.txt").write_text("MINE\n")
    (out / "root-owned.txt").write_text("SECRET\n")
    for f in ("mine.txt", "root-owned.txt"):
        os.chmod(out / f, 0o644)
    os.chmod(out, 0o755)
    os.chown(out / "mine.txt", 65534, 65534)
    # a link owned by the file's owner: followed (the Debian packages' case)
    os.symlink(out / "mine.txt", site / "same-owner.txt")
    os.chown(site / "same-owner.txt", 65534, 65534, follow_symlinks=False)
    # root's link to root's file: followed too
    os.symlink(out / "root-owned.txt", site / "root-link.txt")
    # a user's link to a file they do not own: refused
    os.symlink(out / "root-owned.txt", site / "stolen.txt")
    os.chown(site / "stolen.txt", 65534, 65534, follow_symlinks=False)
    os.symlink("/etc", site / "etc")
    os.chown(site / "etc", 65534, 65534, follow_symlinks=False)
    # a directory link, then a file inside it
    os.symlink(out, site / "shared-dir")


def test_symlinks_owner_is_the_default(make_weir, site, tmp_path):
    symlink_tree(tmp_path, site)
    w = make_weir(f"[site main]\nroot = {site}\n")
    st, _, body = get(w, "/same-owner.txt")
    assert st == 200 and body == b"MINE\n"
    st, _, body = get(w, "/root-link.txt")
    assert st == 200 and body == b"SECRET\n"
    assert get(w, "/shared-dir/mine.txt")[2] == b"MINE\n"
    for t in ("/stolen.txt", "/etc/passwd", "/etc/hostname"):
        st, _, body = get(w, t)
        assert st == 403, t
        assert b"SECRET" not in body and b"root:" not in body
    assert get(w, "/hello.txt")[2] == b"hello, world\n"


def test_symlinks_within_root_refuses_what_owner_allows(make_weir, site, tmp_path):
    symlink_tree(tmp_path, site)
    w = make_weir(f"[site main]\nroot = {site}\nsymlinks = within-root\n")
    for t in ("/same-owner.txt", "/root-link.txt", "/stolen.txt", "/shared-dir/mine.txt"):
        st, _, body = get(w, t)
        assert st == 404, t
        assert b"SECRET" not in body and b"MINE" not in body


def test_fd3_without_listen_fds(make_weir, tmp_path):
    """An app that takes fd 3 by number and ignores LISTEN_FDS (uvicorn
    --fd 3, Node's listen({fd: 3})): the socket is there."""
    app = tmp_path / "fd3.py"
    app.write_text(
        "import os, socket\n"
        "for k in ('LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'): os.environ.pop(k, None)\n"
        "s = socket.socket(fileno=3)\n"
        "while True:\n"
        "    c, _ = s.accept()\n"
        "    buf = b''\n"
        "    while b'\\r\\n\\r\\n' not in buf:\n"
        "        d = c.recv(4096)\n"
        "        if not d: break\n"
        "        buf += d\n"
        "    c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\nConnection: close\\r\\n\\r\\nfd3')\n"
        "    c.close()\n")
    os.chmod(app, 0o644)
    w = make_weir(f"[pool app]\ncommand = /usr/bin/python3 {app}\n[site main]\napp = / app\n")
    st, _, body = get(w, "/x")
    assert st == 200 and body == b"fd3"


def doc_block(doc, lang, contains):
    """The fenced ```lang block of docs/DOC that contains a string."""
    text = open(os.path.join(SRC, "docs", doc)).read()
    for part in text.split("```" + lang + "\n")[1:]:
        block = part.split("```")[0]
        if contains in block:
            return block
    raise AssertionError(f"no ```{lang} block with {contains!r} in docs/{doc}")


@pytest.mark.skipif(not os.path.exists("/usr/bin/node"), reason="nodejs not installed")
def test_node_example_of_apps_md(make_weir, tmp_path):
    """docs/apps.md's Node server and pool, as written (paths moved to tmp)."""
    app_dir = tmp_path / "node"
    app_dir.mkdir()
    js = doc_block("apps.md", "js", "listen({fd: 3})")
    # the same program as tests/apps/node_app.js of `make test-apps`
    assert js == open(os.path.join(SRC, "tests", "apps", "node_app.js")).read()
    (app_dir / "node_app.js").write_text(js)
    chmod_tree(app_dir)
    conf = doc_block("apps.md", "ini", "[pool node]").replace("/srv/node", str(app_dir))
    w = make_weir(conf)
    st, _, body = get(w, "/x?y=1", headers={"Host": "node.example.com"})
    assert st == 200 and re.search(rb'<p id="who">pid \d+, path /x\?y=1</p>\n$', body), body


@needs_php
def test_rules_example_of_php_md(make_weir, app_root):
    """docs/php.md's rewrite/return example, as written (root moved to tmp)."""
    conf = doc_block("php.md", "ini", "return = ^/xmlrpc").replace("/srv/blog", str(app_root))
    w = make_weir(PHP_POOL.replace("[pool php]", "[pool blog]") + conf)
    (app_root / "xmlrpc.php").write_text("<?php echo 'ran';")
    os.chmod(app_root / "xmlrpc.php", 0o644)
    st, _, body = get(w, "/xmlrpc.php")
    assert st == 403 and b"ran" not in body
    j = php_json(w, "/feed/")
    assert j["script"] == "index.php" and j["get"] == {"feed": "rss2"}
    assert j["server"]["REQUEST_URI"] == "/feed/"
    st, h, _ = get(w, "/old-blog/2026/x")
    assert st == 301 and h["location"] == "/2026/x"
    j = php_json(w, "/hello-world/?replytocom=3")
    assert j["server"]["REQUEST_URI"] == "/hello-world/?replytocom=3"
    assert j["server"]["SCRIPT_NAME"] == "/index.php" and j["get"] == {"replytocom": "3"}


def test_alias_directory_outage_is_its_own(make_weir, site, alias_tree, tmp_path):
    """An alias directory that goes away answers 503 for its prefix only,
    with 1311/1312 named SITE:PREFIX, like a root."""
    w = make_weir(f"[site main]\nroot = {site}\nalias = /static {alias_tree}\n")
    assert get(w, "/static/css/a.css")[0] == 200
    moved = tmp_path / "moved"
    os.rename(alias_tree, moved)
    wait_for(lambda: get(w, "/static/css/a.css")[0] == 503, what="503 for the alias")
    assert get(w, "/hello.txt")[2] == b"hello, world\n"
    e = wait_for(lambda: [x for x in w.events() if x["id"] == 1311], what="1311")[0]
    assert e["site"] == "main:/static" and e["root"] == str(alias_tree)
    assert "Site_Unavailable" in w.httperr_log() or wait_for(
        lambda: "Site_Unavailable" in w.httperr_log(), what="httperr line")
    os.rename(moved, alias_tree)
    wait_for(lambda: [x for x in w.events() if x["id"] == 1312], what="1312")
    assert get(w, "/static/css/a.css")[2] == b"a{}\n"


def test_check_refuses_an_alias_the_front_end_cannot_read(make_weir, site, tmp_path):
    hidden = tmp_path / "hidden"
    (hidden / "static").mkdir(parents=True)
    os.chmod(hidden, 0o700)
    w = make_weir(f"[site main]\nroot = {site}\nalias = /static {hidden}/static\n",
                  start=False, server_extra="user = nobody")
    lineno = w.conf_path.read_text().splitlines().index(f"alias = /static {hidden}/static") + 1
    r = subprocess.run([WEIR, "check", "-c", str(w.conf_path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1, r.stderr
    assert (f"{w.conf_path}:{lineno}: [site main] alias /static {hidden}/static: not "
            "readable by user nobody (the front end's user): Permission denied") in r.stderr, r.stderr
    os.chmod(hidden, 0o711)
    r = subprocess.run([WEIR, "check", "-c", str(w.conf_path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr


@needs_php
def test_fallback_never_runs_an_upload(make_weir, app_root, tmp_path):
    """/uploads/evil.jpg/x.php with a fallback: the front controller, never evil.jpg."""
    marker = tmp_path / "evil-ran"
    (app_root / "uploads").mkdir()
    (app_root / "uploads" / "evil.jpg").write_text(f"<?php touch('{marker}'); echo 'pwned';")
    chmod_tree(app_root)
    os.chmod(tmp_path, 0o777)
    w = make_weir(PHP_POOL + f"[site main]\nroot = {app_root}\nscript = .php php\n"
                  "fallback = /index.php\n")
    j = php_json(w, "/uploads/evil.jpg/x.php")
    assert j["script"] == "index.php"
    assert j["server"]["REQUEST_URI"] == "/uploads/evil.jpg/x.php"
    st, _, body = get(w, "/uploads/evil.jpg")
    assert st == 200 and b"<?php" in body   # a static file, its source never run
    assert not marker.exists()
