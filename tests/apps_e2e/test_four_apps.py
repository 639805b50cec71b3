"""Four real applications on one weir, driven end to end in headless Chromium
(issue 16): WordPress (Debian's `wordpress`, FastCGI php-cgi pool, MariaDB
started here in a private data directory), MediaWiki (Debian's `mediawiki`,
SQLite, its root /var/lib/mediawiki linking into /usr/share/mediawiki),
Django (tests/apps/django_site, gunicorn with socket activation, static
files by `alias`) and Node (tests/apps/node_app.js, `listen({fd: 3})`).

Each application is its own pool (its own uid: the per-pool default
identity) and its own site, by host name (`*.test`, which Chromium maps to
127.0.0.1).  While the browser runs the flows (tests/browser/apps.mjs),
the WordPress pool is recycled every few seconds and one of its php-cgi
workers is SIGKILLed: no flow may fail.  The figures (requests served,
failed, recycles, kills, duration) are printed at the end; screenshots go to
build/test-apps/ (WEIR_APPS_SHOTS).

Run by `make test-apps` (not by `make test`: it takes a minute or more and
needs the packages `scripts/install-deps apps` installs), as root.

Everything this starts is reaped here: MariaDB, weir (with its front end
and workers) and the browser; /etc/wordpress/config-HOST.php, the one file
written outside the temporary directory (Debian's wordpress reads its
configuration only from there), is removed even on failure.
"""
import json
import os
import pwd
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import zlib
from pathlib import Path


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from conftest import (BROWSER_DIR, CHROMIUM, NODE, SRC, WEIR, Weir, free_port,  # noqa: E402
                      run_browser, traversable, wait_for)
from test_routes import doc_block  # noqa: E402

APPS_DIR = os.path.join(SRC, "tests", "apps")
SHOTS = os.environ.get("WEIR_APPS_SHOTS", os.path.join(SRC, "build", "test-apps"))
WP_ROOT = "/usr/share/wordpress"
MW_ROOT = "/var/lib/mediawiki"      # Debian's: symbolic links into /usr/share/mediawiki
MW_SRC = "/usr/share/mediawiki"
TOKEN = secrets.token_hex(16)


def run(argv, **kw):
    """A setup command: its output is shown when it fails."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=kw.pop("timeout", 120), **kw)
    assert r.returncode == 0, f"{argv[:3]}... exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def png(path, w=320, h=200):
    """A small RGB PNG (a gradient): the image the WordPress post uploads."""
    rows = b"".join(b"\0" + b"".join(bytes((x * 255 // w, y * 255 // h, 160)) for x in range(w))
                    for y in range(h))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class MariaDB:
    """mariadbd in a private data directory, on a Unix socket only."""

    def __init__(self, top):
        self.datadir = os.path.join(top, "db")
        self.sockdir = os.path.join(top, "dbsock")
        self.sock = os.path.join(self.sockdir, "mysqld.sock")
        self.err = os.path.join(top, "mariadb.err")
        self.proc = None
        mysql = pwd.getpwnam("mysql")
        for d in (self.datadir, self.sockdir):
            os.mkdir(d, 0o750 if d == self.datadir else 0o755)
            os.chown(d, mysql.pw_uid, mysql.pw_gid)
        run(["mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={self.datadir}",
             "--auth-root-authentication-method=socket", "--skip-test-db"])

    def start(self):
        self.proc = subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", "--user=mysql", f"--datadir={self.datadir}",
             f"--socket={self.sock}", "--skip-networking", f"--log-error={self.err}",
             f"--pid-file={self.datadir}/mariadbd.pid"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(lambda: self.proc.poll() is not None or self.sql("SELECT 1", check=False),
                 timeout=60, interval=0.1, what="mariadbd to accept connections")
        assert self.proc.poll() is None, open(self.err).read()[-3000:]

    def sql(self, text, check=True):
        r = subprocess.run(["mariadb", "--no-defaults", "-S", self.sock, "-u", "root", "-e", text],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 or not check, r.stderr
        return r.returncode == 0

    def stop(self):
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


def wordpress(top, conf, db):
    """Debian's wordpress: its configuration file CONF (in /etc/wordpress:
    the caller removes it), wp-content in TOP (themes and plugins linked
    from the package, uploads and the must-use plugin here)."""
    content = os.path.join(top, "wp-content")
    os.makedirs(os.path.join(content, "mu-plugins"))
    os.mkdir(os.path.join(content, "uploads"))
    for d in ("themes", "plugins"):
        os.symlink(os.path.join(WP_ROOT, "wp-content", d), os.path.join(content, d))
    # docs/php.md's must-use plugin: weir routes pretty URLs (fallback =).
    # The classic editor (a filter of WordPress itself) keeps the browser
    # flow to plain forms.
    with open(os.path.join(content, "mu-plugins", "weir.php"), "w") as f:
        f.write("<?php\n"
                "// weir answers every path that names no file with index.php (fallback =)\n"
                "add_filter('got_url_rewrite', '__return_true');\n"
                "add_filter('use_block_editor_for_post', '__return_false');\n")
    salts = "".join(f"define('{k}', '{secrets.token_hex(24)}');\n" for k in (
        "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT",
        "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"))
    with open(conf, "w") as f:
        f.write("<?php\n// written by weir's tests/apps_e2e/test_four_apps.py, removed at its end\n"
                "define('DB_NAME', 'wordpress');\ndefine('DB_USER', 'wp');\n"
                "define('DB_PASSWORD', 'wp-db-pass');\n"
                f"define('DB_HOST', 'localhost:{db.sock}');\n"
                f"define('WP_CONTENT_DIR', '{content}');\n"
                # no network here: no update checks, no cron loopback requests
                "define('WP_HTTP_BLOCK_EXTERNAL', true);\ndefine('DISABLE_WP_CRON', true);\n"
                + salts)
    db.sql("CREATE DATABASE wordpress; CREATE USER 'wp'@'localhost' IDENTIFIED BY 'wp-db-pass'; "
           "GRANT ALL ON wordpress.* TO 'wp'@'localhost';")
    return content


def mediawiki(top, url):
    """MediaWiki installed by its own maintenance/install.php into TOP: the
    SQLite files in TOP/data and LocalSettings.php in TOP, which the pool
    names with MW_CONFIG_FILE (the system's /etc/mediawiki is left alone)."""
    data = os.path.join(top, "data")
    os.makedirs(data)
    run(["php", os.path.join(MW_SRC, "maintenance", "install.php"), "--dbtype=sqlite",
         f"--dbpath={data}", "--dbname=weirwiki", f"--server={url}", "--scriptpath=",
         f"--confpath={top}", "--lang=en", "--pass=Weir-wiki-Pass-2026", "Weir Wiki", "Admin"],
        cwd=MW_SRC, timeout=180)
    settings = os.path.join(top, "LocalSettings.php")
    cache = os.path.join(data, "cache")
    os.mkdir(cache)
    with open(settings, "a") as f:
        # Debian's default is /var/cache/mediawiki, www-data's: the pool's own
        f.write(f'\n$wgCacheDirectory = "{cache}";\n')
    return settings, data


def django(top, host):
    """The Django project: migrations, a superuser and collectstatic, as its
    docs say, with DJANGO_DATA = TOP."""
    env = dict(os.environ, DJANGO_DATA=top, DJANGO_HOSTS=host,
               DJANGO_SUPERUSER_PASSWORD="Weir-django-Pass-2026")
    manage = [sys.executable, os.path.join(APPS_DIR, "django_site", "manage.py")]
    run(manage + ["migrate", "--noinput"], env=env)
    run(manage + ["createsuperuser", "--noinput", "--username", "admin",
                  "--email", "admin@example.test"], env=env)
    run(manage + ["collectstatic", "--noinput"], env=env)


def docs_conf(hosts, wp_content, mw_dir, dj_dir):
    """The pools and sites, taken as written from docs/php.md (WordPress from
    Debian's package) and docs/apps.md (MediaWiki, Django, Node): only the
    host names and the /srv paths are this run's."""
    def block(doc, marker, subst):
        text = textwrap.dedent(doc_block(doc, "ini", marker))
        for a, b in subst:
            assert a in text, f"docs/{doc}: {a!r} not in the {marker!r} example"
            text = text.replace(a, b)
        return text + "\n"
    return (block("php.md", "alias = /wp-content", (
                ("[pool blog]", "[pool wp]"), ("[site blog]", "[site wp]"),
                ("script = .php blog", "script = .php wp"),
                ("blog.example.com", hosts["wp"]), ("/srv/blog/wp-content", wp_content)))
            + block("apps.md", "[pool wiki]", (
                ("wiki.example.com", hosts["wiki"]), ("/srv/wiki", mw_dir)))
            + block("apps.md", "[pool dj]", (
                ("dj.example.com", hosts["dj"]),
                ("/srv/django_site", os.path.join(APPS_DIR, "django_site")),
                ("/srv/dj", dj_dir)))
            + block("apps.md", "[pool node]", (
                ("node.example.com", hosts["node"]),
                ("/usr/bin/node /srv/node/node_app.js", f"{NODE} {APPS_DIR}/node_app.js"))))


def chown_tree(path, uid, gid):
    for d, dirs, files in os.walk(path):
        for n in [d] + [os.path.join(d, x) for x in dirs + files]:
            os.lchown(n, uid, gid)


def access_figures(w):
    """(requests, [5xx lines]) from weir's W3C access log."""
    fields, total, bad = [], 0, []
    for ln in w.access_log().splitlines():
        if ln.startswith("#Fields:"):
            fields = ln.split()[1:]
        elif ln and not ln.startswith("#"):
            total += 1
            status = ln.split()[fields.index("sc-status")]
            if status.startswith("5"):
                bad.append(ln)
    return total, bad


def test_four_apps():
    assert os.geteuid() == 0, "the pools' own identities need weir started as root"
    for p in (CHROMIUM, "/usr/bin/php-cgi", "/usr/sbin/mariadbd", os.path.join(WP_ROOT, "wp-config.php"),
              os.path.join(MW_SRC, "index.php")):
        assert os.path.exists(p), f"{p} is missing: run scripts/install-deps apps"
    assert os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "puppeteer-core")), \
        "puppeteer-core is missing: run scripts/install-deps"
    t0 = time.monotonic()
    tag = f"{os.getpid()}"
    hosts = {a: f"{a}-{tag}.test" for a in ("wp", "wiki", "dj", "node")}
    # short: Unix socket paths (weir's workers', MariaDB's) must fit 107 bytes
    top = tempfile.mkdtemp(prefix="weir-apps-", dir="/tmp")
    traversable(top)
    traversable(SRC)
    traversable(os.path.dirname(os.path.abspath(WEIR)))
    os.makedirs(SHOTS, exist_ok=True)
    for n in os.listdir(SHOTS):     # this run's pictures only (NAME.png, NAME-failed.png)
        if n.endswith(".png"):
            os.unlink(os.path.join(SHOTS, n))
    port, admin_port = free_port(), free_port()
    db, w, wp_conf = None, None, None
    try:
        db = MariaDB(top)
        db.start()
        # a name of this run's own: never another's file (O_EXCL), removed at the end
        os.close(os.open(f"/etc/wordpress/config-{hosts['wp']}.php",
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        wp_conf = f"/etc/wordpress/config-{hosts['wp']}.php"
        wp_content = wordpress(os.path.join(top, "wp"), wp_conf, db)
        mw_dir = os.path.join(top, "wiki")
        mw_settings, mw_data = mediawiki(mw_dir, f"http://{hosts['wiki']}:{port}")
        dj_dir = os.path.join(top, "dj")
        os.mkdir(dj_dir)
        django(dj_dir, hosts["dj"])
        image = os.path.join(top, "weir-test-image.png")
        png(image)
        os.chmod(image, 0o644)
        for d in ("wp", "wiki", "dj"):
            os.chmod(os.path.join(top, d), 0o755)

        conf = docs_conf(hosts, wp_content, mw_dir, dj_dir)
        # MediaWiki from Debian's root of links: symlinks = owner (the default) follows them
        assert f"root = {MW_ROOT}\n" in conf and "symlinks" not in conf
        wdir = os.path.join(top, "weir")
        os.mkdir(wdir)
        w = Weir(Path(wdir), conf, port=port, threads=2,
                 server_extra=f"admin_listen = 127.0.0.1:{admin_port}\nadmin_token = {TOKEN}")
        w.start()
        pools = {p["name"]: p for p in json.loads(run([WEIR, "status", "--json", "-c", str(w.conf_path)]))["pools"]}
        for name in ("wp", "wiki", "dj", "node"):
            assert pools[name]["identity"] == "own", pools[name]
        uids = {pools[n]["uid"] for n in pools}
        assert len(uids) == 4, "each pool has a uid of its own"
        # what each application writes belongs to its pool's uid
        wp_up = os.path.join(wp_content, "uploads")
        os.chown(wp_up, pools["wp"]["uid"], pools["wp"]["gid"])
        chown_tree(mw_data, pools["wiki"]["uid"], pools["wiki"]["gid"])
        os.chown(dj_dir, pools["dj"]["uid"], pools["dj"]["gid"])
        os.chown(os.path.join(dj_dir, "db.sqlite3"), pools["dj"]["uid"], pools["dj"]["gid"])

        env = dict(os.environ, CHROMIUM=CHROMIUM, WEIR_ADMIN=f"http://127.0.0.1:{admin_port}",
                   WEIR_TOKEN=TOKEN, PORT=str(port), SHOTS=SHOTS, IMAGE=image,
                   WP_HOST=hosts["wp"], WIKI_HOST=hosts["wiki"], DJ_HOST=hosts["dj"],
                   NODE_HOST=hosts["node"], DJ_PASS="Weir-django-Pass-2026")
        rc, rep, err = run_browser("apps.mjs", env, timeout=240)

        # figures: weir's own
        served, fives = access_figures(w)
        st = json.loads(run([WEIR, "status", "--json", "-c", str(w.conf_path)]))
        per_pool = {p["name"]: p["requests"] for p in st["pools"]}
        ev = w.events()
        recycles = [e for e in ev if e["id"] == 1079 and e.get("pool") == "wp"]
        kills = [e for e in ev if e["id"] == 1009 and e.get("pool") == "wp"]
        failed = len(fives) + len(rep.get("failures", []))
        dur = time.monotonic() - t0
        print(f"\nfour apps: {served} requests served (access log; pools: "
              + ", ".join(f"{k} {v}" for k, v in sorted(per_pool.items())) + f"), "
              f"{failed} failed ({len(fives)} 5xx in the access log, "
              f"{len(rep.get('failures', []))} in the browser), "
              f"{len(recycles)} recycles and {len(kills)} kills of the wp pool during the flows, "
              f"{dur:.0f} s; screenshots in {SHOTS}")
        for f in rep.get("failures", []):
            print("  browser failure:", f)
        for ln in fives:
            print("  5xx:", ln)
        print("  JavaScript errors:", json.dumps(rep.get("js_errors", []))[:3000])
        print("  flows:", json.dumps(rep.get("flows", {})))
        print("  notes:", json.dumps(rep.get("notes", []))[:3000])
        print("  requests not made (only *.test resolves):", json.dumps(rep.get("outside", {})))
        assert rc == 0, f"{rep.get('error')}\n{err[-3000:]}"
        assert rep["flows"] == {"wordpress": "ok", "mediawiki": "ok", "django": "ok", "node": "ok"}
        assert failed == 0
        # an uncaught error in a page's own script (one whose file came back
        # cut or as an error page while the pool was recycled, say) is a failure
        assert rep.get("js_errors", []) == [], rep.get("js_errors")
        assert rep["recycles"] >= 2 and len(recycles) == rep["recycles"]
        assert rep["kills"] == 1 and len(kills) == 1 and kills[0]["pid"] == rep["killed_pid"]
        for name in ("wp", "wiki", "dj", "node"):
            assert per_pool[name] > 0
            assert os.path.getsize(os.path.join(SHOTS, f"{name}.png")) > 5000
    finally:
        try:
            if w is not None:
                w.stop()
        finally:
            if wp_conf is not None:
                os.unlink(wp_conf)
            if db is not None:
                db.stop()
            if os.environ.get("WEIR_APPS_KEEP"):
                print(f"kept {top} (WEIR_APPS_KEEP)")
            else:
                shutil.rmtree(top, ignore_errors=True)
