"""The docs, tried as a new user would: what they show is run as written.

- docs/modules.md: the hello.c walkthrough's excerpts are hello.c's code;
  the whole module it shows (greet.c) builds out of tree with the documented
  `pkg-config` command, against the build tree (meson-uninstalled) and after
  `make install` into a prefix (and a DESTDIR staging), and serves in a
  native pool.
- docs/php.md: the WordPress-style configuration (`fallback = /index.php`)
  with real php-cgi: a pretty URL reaches index.php with REQUEST_URI kept.
- docs/events.md lists every event ID the code logs, and only those;
  docs/cli.md every command and option `weir --help` shows.

The code blocks run here are marked in the docs with an HTML comment on the
line before them: <!-- docs-test: NAME -->.
"""
import glob
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import SRC, WEIR, module_abi, traversable
from test_pools import get

PHP = "/usr/bin/php-cgi"
BUILD = os.path.dirname(os.path.abspath(WEIR))


def doc_text(doc):
    with open(os.path.join(SRC, "docs", doc)) as f:
        return f.read()


def marked_block(doc, name):
    """The fenced block right after <!-- docs-test: NAME --> in docs/DOC."""
    text = doc_text(doc)
    marker = f"<!-- docs-test: {name} -->\n"
    assert text.count(marker) == 1, f"docs/{doc}: marker {name!r} not there exactly once"
    after = text.split(marker, 1)[1]
    m = re.match(r"```[a-z]*\n(.*?)^```", after, re.S | re.M)
    assert m, f"docs/{doc}: no fenced block right after marker {name!r}"
    return m.group(1)


def sh(cmd, cwd, env=None, timeout=120):
    """A documented shell command, run by sh as written."""
    r = subprocess.run(["/bin/sh", "-ec", cmd], cwd=cwd, capture_output=True, text=True,
                       env=dict(os.environ, **(env or {})), timeout=timeout)
    assert r.returncode == 0, f"$ {cmd}\nexit {r.returncode}\n{r.stdout}{r.stderr}"
    return r.stdout


def code_lines(text):
    """C code's lines without comments, blank lines and runs of white space:
    for comparing code."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return [" ".join(ln.split()) for ln in text.splitlines() if ln.strip()]


def test_walkthrough_excerpts_are_hello_c():
    """Each C excerpt of "hello.c, walked through" is code of modules/hello.c,
    line for line and in order (comments aside; lines may be left out), so
    the walkthrough cannot drift from the file."""
    text = doc_text("modules.md")
    part = text.split("## hello.c, walked through", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```c\n(.*?)^```", part, re.S | re.M)
    assert len(blocks) >= 5, "the walkthrough's C excerpts"
    with open(os.path.join(SRC, "modules", "hello.c")) as f:
        hello = code_lines(f.read())
    for b in blocks:
        at = 0
        for ln in code_lines(b):
            assert ln in hello[at:], f"not in modules/hello.c (in this order): {ln!r} of\n{b}"
            at = hello.index(ln, at) + 1


def greet_source(d):
    """docs/modules.md's greet.c, written to d."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "greet.c").write_text(marked_block("modules.md", "module-source greet.c"))
    return d


def build_greet(d, pc_path):
    """The documented build command, then the same with every warning an
    error (the doc's example is clean C11)."""
    env = {"PKG_CONFIG_PATH": pc_path}
    sh(marked_block("modules.md", "module-build"), d, env)
    assert (d / "greet.so").exists()
    sh("cc -std=c11 -Wall -Wextra -Wpedantic -Werror -shared -fPIC "
       "$(pkg-config --cflags weir-module) -o strict.so greet.c", d, env)
    os.chmod(d / "greet.so", 0o755)
    return env


def greet_conf(root, modules=None):
    """docs/modules.md's pool and site, root moved to tmp (and the module
    given as a path when it is not installed)."""
    conf = marked_block("modules.md", "module-conf").replace("/srv/www", str(root))
    if modules is not None:
        conf = re.sub(r"^modules = greet\b", f"modules = {modules}", conf, flags=re.M)
    assert "[pool greet]" in conf and "app = /greet greet" in conf
    return conf


def check_greet(w):
    st, _, body = get(w, "/greet?Ann")
    assert st == 200 and body == b"Hi, Ann!\n", (st, body)
    st, _, body = get(w, "/greet")
    assert st == 200 and body == b"Hi, world!\n", (st, body)


def test_module_builds_against_the_build_tree(make_weir, tmp_path, site):
    """pkg-config against the build tree as documented (meson-uninstalled),
    the module built out of tree with it, loaded by path into a native pool."""
    # the documented command runs in weir's checkout ($PWD/build/...): a
    # stand-in checkout whose build/ is this build (build-asan/ under ASan)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "build").symlink_to(BUILD)
    out = sh(marked_block("modules.md", "pkg-config-uninstalled"), checkout)
    assert out.split() == [f"-I{os.path.realpath(SRC)}/include"], out
    pc_path = os.path.join(BUILD, "meson-uninstalled")
    d = greet_source(tmp_path / "greet")
    env = build_greet(d, pc_path)
    var = sh("pkg-config --variable=moduledir weir-module; "
             "pkg-config --variable=abi weir-module", d, env).split()
    assert var == [os.path.join(BUILD, "modules"), str(module_abi())], var
    traversable(d)
    w = make_weir(greet_conf(site, modules=d / "greet.so"))
    check_greet(w)


def make_env():
    """The environment for a make of our own: not a sub-make of whatever
    make runs this test (its flags and jobserver are not ours)."""
    return {k: v for k, v in os.environ.items()
            if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES")}


def test_make_install_then_a_module(make_weir, tmp_path, site):
    """make install into a fresh prefix (a clean build of its own), the
    module built against the installed weir-module.pc, installed into its
    moduledir as documented, served by the installed weir; make install with
    DESTDIR stages the same files; with another PREFIX the build is set up
    for it again; weir verify passes on each."""
    build, prefix, stage = tmp_path / "build", tmp_path / "prefix", tmp_path / "stage"
    r = subprocess.run(["make", "-C", SRC, "install", f"BUILD={build}", f"PREFIX={prefix}"],
                       capture_output=True, text=True, env=make_env(), timeout=840)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    pcs = glob.glob(f"{prefix}/lib*/**/weir-module.pc", recursive=True)
    assert len(pcs) == 1, pcs
    assert os.path.isfile(prefix / "include" / "weir" / "module.h")
    # "for another prefix, export PKG_CONFIG_PATH=<prefix>/<libdir>/pkgconfig"
    pc_path = os.path.dirname(pcs[0])
    d = greet_source(tmp_path / "greet")
    env = build_greet(d, pc_path)
    out = sh("pkg-config --cflags --libs weir-module", d, env)
    assert out.split() == [f"-I{prefix}/include"], out
    sh(marked_block("modules.md", "module-install"), d, env)
    moduledir = sh("pkg-config --variable=moduledir weir-module", d, env).strip()
    assert os.path.isfile(os.path.join(moduledir, "greet.so"))
    assert moduledir.startswith(f"{prefix}/lib") and moduledir.endswith("/weir/modules")
    weir = str(prefix / "bin" / "weir")
    v = subprocess.run([weir, "verify"], capture_output=True, text=True, timeout=60)
    assert v.returncode == 0, v.stdout + v.stderr
    assert re.search(r"^greet\s.*ok \(not in MANIFEST\)", v.stdout, re.M), v.stdout
    traversable(prefix)
    w = make_weir(greet_conf(site), binary=weir)
    check_greet(w)
    # DESTDIR: the same build staged, nothing rebuilt, the files still name PREFIX
    r = subprocess.run(["make", "-C", SRC, "install", f"BUILD={build}", f"PREFIX={prefix}",
                        f"DESTDIR={stage}"],
                       capture_output=True, text=True, env=make_env(), timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    staged = f"{stage}{prefix}"
    assert os.path.isfile(f"{staged}/include/weir/module.h")
    with open(glob.glob(f"{staged}/lib*/**/weir-module.pc", recursive=True)[0]) as f:
        assert f"prefix={prefix}\n" in f.read()
    v = subprocess.run([f"{staged}/bin/weir", "verify"], capture_output=True, text=True,
                       timeout=60)
    assert v.returncode == 0, v.stdout + v.stderr
    # another PREFIX for the same build: set up again, rebuilt, installed there
    other = tmp_path / "other"
    r = subprocess.run(["make", "-C", SRC, "install", f"BUILD={build}", f"PREFIX={other}"],
                       capture_output=True, text=True, env=make_env(), timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    v = subprocess.run([f"{other}/bin/weir", "verify", "--json"], capture_output=True,
                       text=True, timeout=60)
    assert v.returncode == 0, v.stdout + v.stderr
    assert json.loads(v.stdout)["manifest"].startswith(f"{other}/lib"), v.stdout
    with open(glob.glob(f"{other}/lib*/**/weir-module.pc", recursive=True)[0]) as f:
        assert f"prefix={other}\n" in f.read()
    shutil.rmtree(build)


FRONT = r"""<?php
header('Content-Type: application/json');
$k = ['REQUEST_URI', 'QUERY_STRING', 'SCRIPT_NAME', 'SCRIPT_FILENAME', 'PATH_INFO'];
$s = [];
foreach ($k as $n) { if (isset($_SERVER[$n])) $s[$n] = $_SERVER[$n]; }
echo json_encode(['script' => basename(__FILE__), 'server' => $s, 'get' => $_GET]);
"""


@pytest.mark.skipif(not os.path.exists(PHP), reason="php-cgi not installed")
def test_php_md_front_controller(make_weir, tmp_path):
    """docs/php.md's WordPress-style configuration as written (its [server]
    is make_weir's, /srv/blog moved to tmp): pretty URLs reach index.php with
    REQUEST_URI kept; files are static; evil.jpg/x.php never runs."""
    conf = marked_block("php.md", "front-controller")
    assert "fallback = /index.php" in conf and "[pool blog]" in conf
    conf = conf.split("[pool blog]", 1)[1]      # the [server] part is make_weir's
    root = tmp_path / "blog"
    (root / "wp-content" / "uploads").mkdir(parents=True)
    (root / "index.php").write_text(FRONT)
    (root / "wp-login.php").write_text(FRONT)
    (root / "style.css").write_text("body{}\n")
    (root / "wp-content" / "uploads" / "evil.jpg").write_text("<?php echo 'evil ran';")
    for dirpath, _, files in os.walk(root):
        os.chmod(dirpath, 0o755)
        for f in files:
            os.chmod(os.path.join(dirpath, f), 0o644)
    traversable(root)
    w = make_weir("[pool blog]" + conf.replace("/srv/blog", str(root)))
    host = {"Host": "blog.example.com"}

    def php(path):
        st, _, body = get(w, path, headers=host)
        assert st == 200, (path, st, body[:300])
        return json.loads(body)

    j = php("/2026/11/hello-world/?replytocom=3")
    assert j["script"] == "index.php"
    assert j["server"]["REQUEST_URI"] == "/2026/11/hello-world/?replytocom=3"
    assert j["server"]["SCRIPT_NAME"] == "/index.php"
    assert j["server"]["SCRIPT_FILENAME"] == f"{root}/index.php"
    assert j["server"]["QUERY_STRING"] == "replytocom=3" and j["get"] == {"replytocom": "3"}
    assert php("/hello-world/")["server"]["REQUEST_URI"] == "/hello-world/"
    assert php("/")["script"] == "index.php"
    assert php("/wp-login.php")["script"] == "wp-login.php"
    assert php("/missing.php")["server"]["SCRIPT_NAME"] == "/index.php"
    j = php("/index.php/2026/11/hello-world")
    assert j["server"]["SCRIPT_NAME"] == "/index.php"
    assert j["server"]["PATH_INFO"] == "/2026/11/hello-world"
    j = php("/wp-content/uploads/evil.jpg/x.php")
    assert j["script"] == "index.php", j
    st, h, body = get(w, "/style.css", headers=host)
    assert st == 200 and body == b"body{}\n"
    st, _, body = get(w, "/wp-content/uploads/evil.jpg", headers=host)
    assert st == 200 and body == b"<?php echo 'evil ran';"


def strip_c_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def logged_event_ids():
    """Event IDs the code logs: events_emit(ID, ...) and the helpers that
    log the ID they are given (pool_recycle, pool_recycle_worker,
    pool_worker_failed), from src/ with comments removed."""
    ids = {}
    for path in glob.glob(os.path.join(SRC, "src", "**", "*.c"), recursive=True):
        with open(path) as f:
            code = strip_c_comments(f.read())
        for m in re.finditer(r"\b(events_emit|pool_recycle|pool_recycle_worker|"
                             r"pool_worker_failed)\s*\(([^;]*)", code):
            n = re.search(r"\b(1\d{3})\b", m.group(2))
            if n:
                ids.setdefault(int(n.group(1)), os.path.relpath(path, SRC))
        for m in re.finditer(r"\brecycle_event\s*=\s*(1\d{3})\b", code):
            ids.setdefault(int(m.group(1)), os.path.relpath(path, SRC))
    return ids


def anchor(heading):
    """GitHub's anchor for a heading."""
    h = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return h.replace(" ", "-")


def test_events_md_lists_every_logged_event():
    """docs/events.md's table has every event ID the code logs and none it
    does not; each row links to a heading that exists and names its ID."""
    text = doc_text("events.md")
    rows = re.findall(r"^\| \[(\d{4})\]\(#([^)]+)\)", text, re.M)
    table = [int(i) for i, _ in rows]
    assert len(table) == len(set(table)), "an ID listed twice"
    logged = logged_event_ids()
    assert len(logged) > 30, "the scan finds the events"
    missing = {i: f for i, f in logged.items() if i not in table}
    assert not missing, f"logged but not in docs/events.md's table: {missing}"
    stale = sorted(set(table) - set(logged))
    assert not stale, f"in docs/events.md's table but logged nowhere: {stale}"
    headings = {anchor(h): h for h in re.findall(r"^#{2,4} (.+)$", text, re.M)}
    for i, a in rows:
        assert a in headings, f"row {i}: no heading for #{a}"
        assert i in headings[a], f"row {i} links to '{headings[a]}'"


def weir_help(*args):
    r = subprocess.run([WEIR, *args, "--help"], capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr


def test_cli_md_has_every_command_and_option():
    """Every command of `weir --help` has one row in docs/cli.md's table, and
    every option of `weir COMMAND --help` is in that row or in the command's
    own section."""
    commands = re.findall(r"^  ([a-z]+)\s", weir_help().split("commands:", 1)[1], re.M)
    assert len(commands) >= 10, commands
    text = doc_text("cli.md")
    table = [ln for ln in text.splitlines() if ln.startswith("| `weir ")]
    sections = dict(re.findall(r"^## (\S+)\n(.*?)(?=^## |\Z)", text, re.S | re.M))
    # -c and -s are described once, before the table
    intro = text.split("| command |", 1)[0]
    m = re.search(r"The operator commands \(([^)]*)\)", intro)
    assert m and "-c FILE" in intro and "-s SOCKET" in intro, "docs/cli.md: -c and -s"
    operators = set(re.findall(r"`([a-z]+)`", m.group(1)))
    takes_s = set()
    for cmd in commands:
        rows = [ln for ln in table if re.match(rf"\| `weir {cmd}[ `]", ln)]
        assert len(rows) == 1, f"docs/cli.md: {len(rows)} table rows for weir {cmd}"
        usage = weir_help(cmd)
        usage = usage.split("\n\n", 1)[0] if usage.startswith("usage:") else ""
        if "-s SOCKET" in usage:
            takes_s.add(cmd)
        opts = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", usage)) - {"-c", "-s"}
        for opt in sorted(opts):
            where = rows[0] + sections.get(cmd, "")
            assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", where), \
                f"docs/cli.md: weir {cmd}: {opt} is in its --help, not in its row or section"
    assert operators == takes_s, \
        f"docs/cli.md's operator commands {sorted(operators)}; -s in --help: {sorted(takes_s)}"
