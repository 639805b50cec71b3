"""bench/php.py - the PHP scenarios of bench/run.py (issue 7).

php             weir + php-cgi (a `kind = fastcgi` pool weir starts) against
                nginx + php-fpm (pm = static), the same number of PHP
                workers and the same PHP settings;
php-fpm-shared  weir and nginx in front of the same php-fpm socket.

Two scripts each: hello.php (13 bytes) and 100k.php (100 KiB), interleaved
wrk rounds.  CPU per request is split: the front end alone (weir's front
end; nginx's worker) and PHP apart.  See README.md.  Standard library only.
"""
import glob
import os
import shutil
import socket
import subprocess
import time

from common import SPLIT_COLUMNS, SPLIT_KEYS, Server, rounds, split_row, targets, tree
import pools

SCENARIOS = {
    "php": "PHP: weir + php-cgi against nginx + php-fpm",
    "php-fpm-shared": "PHP: weir and nginx in front of the same php-fpm",
}
SCRIPTS = {     # name: (source, the body it answers)
    "hello.php": ('<?php echo "hello, world\\n";\n', b"hello, world\n"),
    "100k.php": ('<?php echo str_repeat("0123456789abcdef", 6400);\n',
                 b"0123456789abcdef" * 6400),
}
# PHP's settings, the same for php-cgi and php-fpm: both run with -n (no
# php.ini, no conf.d) and one -d per line here.
PHP_INI = (
    ("zend_extension", "opcache"),
    ("opcache.enable", "1"),
    ("opcache.memory_consumption", "128"),
    ("opcache.validate_timestamps", "1"),
    ("opcache.revalidate_freq", "2"),
    ("opcache.jit_buffer_size", "0"),
    ("output_buffering", "4096"),
    ("memory_limit", "128M"),
    ("display_errors", "Off"),
    ("log_errors", "On"),
    ("expose_php", "Off"),
)
FPM_IDLE = 1       # s: nginx's upstream keepalive_timeout, as weir closes an idle one
TARGET_RPS, TARGET_CPU = 1.0, 0.8   # issue 7: weir >= 1.0 x nginx req/s, <= 0.8 x its CPU/req
ROOT = os.geteuid() == 0
POOL_USER = "user = nobody\ngroup = nogroup" if ROOT else ""


def php_args():
    return ["-n"] + [f"-d{k}={v}" for k, v in PHP_INI]


def fpm_binary():
    found = shutil.which("php-fpm") or sorted(glob.glob("/usr/sbin/php-fpm*"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def setup_scripts(www):
    for name, (src, _) in SCRIPTS.items():
        with open(os.path.join(www, name), "w") as f:
            f.write(src)
        os.chmod(os.path.join(www, name), 0o644)


# ------------------------------------------------------------------ servers
class PhpMixin:
    """Ready once every script answers its body; PHP's processes apart."""
    ready_what = "no 200 with the right body for every script"

    def is_ready(self):
        return all(self.get_body("/" + n) == (200, body) for n, (_, body) in SCRIPTS.items())

    def upstream_sockets(self, pool=None):
        return []


class PhpFpm(Server):
    """php-fpm, pm = static, on a Unix socket; shared by nginx and weir."""
    name, exe, conf = "php-fpm", "php-fpm", "php-fpm"
    argv_fmt = ("{bin}", "--nodaemonize", "--fpm-config", "{conf}")
    ready_what = "no socket"

    def __init__(self, binary, base, www, logs, workers):
        self.sock, self.workers = os.path.join(base, "php-fpm.sock"), workers
        super().__init__(binary, base, www, logs, sock=self.sock, workers=workers,
                         pool_user=POOL_USER)
        self.argv += php_args()
        self.cmd = " ".join(self.argv)
        self.setup = (f"pm = static, pm.max_children = {workers}, pm.max_requests = 0; "
                      f"-n {' '.join(f'-d {k}={v}' for k, v in PHP_INI)}")

    def is_ready(self):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.sock)
        return True

    def pids(self):
        return tree(self.proc.pid) if self.proc and self.proc.poll() is None else []


class WeirPhp(PhpMixin, pools.WeirPools):
    """A weir of the PHP scenarios; baseline: another weir binary (--baseline)
    run alike, to measure a change."""

    def __init__(self, binary, base, www, logs, baseline=False, **subst):
        if baseline:
            self.name, self.template, self.conf = "weir baseline", self.conf, self.conf + "-baseline"
        super().__init__(binary, base, www, logs, **subst)


class WeirPhpCgi(WeirPhp):
    name, conf, pool_name = "weir", "weir-php-cgi", "php"

    def __init__(self, binary, base, www, logs, workers, baseline=False):
        cmd = "\n    ".join(["/usr/bin/php-cgi"] + php_args())   # continuation lines
        super().__init__(binary, base, www, logs, baseline, php_cgi=cmd, workers=workers,
                         pool_user=POOL_USER)
        self.setup = (f"threads = 1; [pool php] kind = fastcgi, command = php-cgi (same -n "
                      f"-d settings), processes = {workers}; script = .php php")

    def upstream_pids(self, pool=None):
        return pools.WeirPools.upstream_pids(self, self.pool_name)


class WeirPhpFpm(WeirPhp):
    name, conf = "weir", "weir-php-fpm"

    def __init__(self, binary, base, www, logs, fpm, baseline=False):
        self.fpm = fpm
        super().__init__(binary, base, www, logs, baseline, sock=fpm.sock, workers=fpm.workers)
        self.setup = (f"threads = 1; [pool fpm] kind = fastcgi, address = unix:(php-fpm), "
                      f"max_conns = {fpm.workers}; script = .php fpm")

    def upstream_pids(self, pool=None):
        return self.fpm.pids()


class NginxPhp(PhpMixin, Server):
    """nginx, one worker, fastcgi_pass to php-fpm: with keepalive > 0 the
    issue's setup (fastcgi_keep_conn on, upstream keepalive), with 0 a new
    connection per request (nginx's default)."""
    exe, template = "nginx", "nginx-php"
    argv_fmt = pools.NginxProxy.argv_fmt
    front_cmd, user = pools.NginxProxy.front_cmd, pools.NginxProxy.user
    log_on, log_off = pools.NginxProxy.log_on, pools.NginxProxy.log_off

    def __init__(self, binary, base, www, logs, fpm, keepalive):
        self.fpm = fpm
        self.name = "nginx" if keepalive else "nginx, conn/req"
        self.conf = "nginx-php" if keepalive else "nginx-php-close"
        ka = (f"keepalive {keepalive};\n        keepalive_requests 1000000000;\n"
              f"        keepalive_timeout {FPM_IDLE}s;" if keepalive else "")
        super().__init__(binary, base, www, logs, sock=fpm.sock, keepalive=ka,
                         keep_conn="fastcgi_keep_conn on;" if keepalive else "")
        self.setup = ("worker_processes 1; fastcgi_pass to upstream { server unix:(php-fpm); " + (
            f"keepalive {keepalive}; keepalive_timeout {FPM_IDLE}s }}; fastcgi_keep_conn on"
            if keepalive else "} without keep-alive: a connection per request") +
            "; fastcgi_split_path_info, try_files $fastcgi_script_name =404 (Debian's "
            "snippets/fastcgi-php.conf)")

    def upstream_pids(self, pool=None):
        return self.fpm.pids()

    def check(self, notes, why=None):
        if not why and self.fpm.proc is not None and self.fpm.proc.poll() is not None:
            why = f"php-fpm died (status {self.fpm.proc.returncode})"
        return super().check(notes, why)


def accept_queue(path):
    """Connections waiting in the accept queue of the listening Unix socket
    path (ss), None if unknown."""
    try:
        out = subprocess.run(["ss", "-xlnH"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for ln in out.splitlines():
        f = ln.split()
        if len(f) >= 5 and f[4] == path:
            return int(f[2])
    return None


def make_servers(a, base, www, logs, weir, notes):
    """The PHP scenarios' servers, php-fpm first (the others need it)."""
    want = [sc for sc in a.scenarios if sc in SCENARIOS]
    names = {c.name for c in a.servers}
    if not want:
        return []
    setup_scripts(www)
    out, fpm = [], None
    fpm_bin, nginx = fpm_binary(), shutil.which("nginx")
    if fpm_bin and (("nginx" in names and nginx) or "php-fpm-shared" in want):
        fpm = PhpFpm(fpm_bin, base, www, logs, a.php_workers)
        out.append(fpm)
    elif not fpm_bin:
        notes.append("php-fpm: not installed (apt-get install php-fpm): nginx + php-fpm and "
                     "php-fpm-shared skipped")
    weirs = [(weir, False)] if "weir" in names and weir else []
    if weirs and a.baseline:    # a copy, like weir's: a rebuild changes nothing
        weirs.append((shutil.copy2(a.baseline, os.path.join(base, "weir-baseline.bin")), True))
    if "php" in want and weirs and not os.access("/usr/bin/php-cgi", os.X_OK):
        notes.append("php-cgi: not installed (apt-get install php-cgi): weir + php-cgi skipped")
    elif "php" in want:
        out += [WeirPhpCgi(w, base, www, logs, a.php_workers, b) for w, b in weirs]
    if "php-fpm-shared" in want and fpm:
        out += [WeirPhpFpm(w, base, www, logs, fpm, b) for w, b in weirs]
    if "nginx" in names and nginx and fpm:
        out += [NginxPhp(nginx, base, www, logs, fpm, k)
                for k in (a.php_keepalive or a.php_workers, 0)]
    return out


# ------------------------------------------------------------------ run
def pick(servers, sc):
    """The servers compared in scenario sc: weir first, then the nginxes."""
    cls = WeirPhpCgi if sc == "php" else WeirPhpFpm
    return sorted((s for s in servers if isinstance(s, (cls, NginxPhp))),
                  key=lambda s: isinstance(s, NginxPhp))


def measure(server, seconds, conns, path, settle):
    """measure_proxy, then the php-fpm accept queue: connections that no
    php-fpm child took (their requests are stuck)."""
    time.sleep(settle)
    res = pools.measure_proxy(server, seconds, conns, path)
    fpm = getattr(server, "fpm", None)
    res["fpm_queue"] = accept_queue(fpm.sock) if fpm else None
    return res


def run(sc, servers, a, notes):
    # php-fpm is shared (the nginxes, weir): let the last one's idle connections go
    settle = FPM_IDLE + 0.5
    live, data = [s for s in pick(servers, sc) if not s.failed], {}
    for script in SCRIPTS:
        data[script] = rounds(f"{sc} {script}", live, a, notes,
                              lambda s, secs, _, p="/" + script:
                              measure(s, secs, a.php_conns, p, settle), SPLIT_KEYS)
    return report(sc, data, pick(servers, sc), a), data


def report(sc, data, servers, a):
    lines = [f"## {SCENARIOS[sc]}: {a.php_workers} PHP workers, {a.php_conns} keep-alive "
             "connections", "",
             "| script | server | " + SPLIT_COLUMNS.format(ref="nginx", up="PHP") + " |",
             "|---|---|" + "--:|" * 10]
    for script, d in data.items():
        for s in servers:
            lines.append(f"| {script} " + split_row(
                s.name, d.get(s.name, {}), d.get("nginx") if s.name != "nginx" else None,
                s.failed))
    lines.append("")
    for script, d in data.items():
        for peer in (s.name for s in servers if isinstance(s, NginxPhp)):
            lines += targets(f"{script}, issue 7 targets against {peer}", d.get("weir", {}),
                             d.get(peer, {}), TARGET_RPS, TARGET_CPU, peer)
    for script, d in data.items():
        w, b = d.get("weir", {}), d.get("weir baseline", {})
        if w.get("cpu_us_per_req") and b.get("cpu_us_per_req"):
            lines.append(f"- {script}: weir ÷ weir baseline ({a.baseline}): req/s "
                         f"{w['rps'] / b['rps']:.2f} ×, front-end CPU/req "
                         f"{w['cpu_us_per_req'] / b['cpu_us_per_req']:.2f} ×")
    queued = {(script, s.name): [r["fpm_queue"] for r in d[s.name]["runs"]]
              for script, d in data.items() for s in servers
              if getattr(s, "fpm", None) and d.get(s.name, {}).get("runs")}
    if queued:
        lines += ["", "Connections left in php-fpm's accept queue at the end of each run "
                  "(requests no php-fpm child took; 0 is right): " + "; ".join(
                      f"{script} {name}: {', '.join(map(str, q))}"
                      for (script, name), q in queued.items()) + "."]
    lines += ["", "front-end CPU: weir's front-end process alone (not its master), nginx's "
              "worker alone; PHP CPU: " + (
                  "weir's php-cgi workers, php-fpm's master and children" if sc == "php"
                  else "php-fpm's master and children (the same php-fpm for both)")
              + ". PHP runs on the server's CPU too. nginx: fastcgi_keep_conn on with "
              f"upstream keepalive {a.php_keepalive or a.php_workers} (the issue's setup); "
              "nginx, conn/req: a new php-fpm connection per request (nginx's default)."]
    return lines
