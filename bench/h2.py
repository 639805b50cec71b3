#!/usr/bin/python3
"""bench/h2.py - HTTP/2 (issue 14): h2load against weir, nginx and h2o.

Each server: one worker thread, the same document root (1 KiB and 100 KiB
files of random bytes), the same self-signed ECDSA P-256 certificate, and a
route /hello/ to the socket-activated C upstream tests/apps/hello.c
(weir: an http pool of it; nginx and h2o: proxying to one started here on a
Unix socket).  Scenarios, each an h2load run per server, interleaved over
--rounds rounds (the median is reported):

  1k      GET /1k.bin,   -c 50 -m 10
  100k    GET /100k.bin, -c 10 -m 10
  hello   GET /hello/,   -c 50 -m 10 (the pool)

--proto tls (default): HTTP/2 over TLS chosen by ALPN; --proto h2c: cleartext
with prior knowledge (weir `listen = ... h2c`, nginx `listen ... http2`, h2o's
cleartext listener).  CPU µs/req is the server's process tree's utime+stime
over the requests (the pool's upstream included for hello).

    /usr/bin/python3 bench/h2.py --weir ./build/weir [--rounds 3] [--seconds 5]

Standard library only; h2load from nghttp2-client.  Prints a Markdown table.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cpu_split, proc_stats  # noqa: E402
import pools  # noqa: E402

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIOS = {   # name: (path, h2load connections, streams per connection)
    "1k": ("/1k.bin", 50, 10),
    "100k": ("/100k.bin", 10, 10),
    "hello": ("/hello/", 50, 10),
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, what, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


class Peer:
    def __init__(self, name, argv, port, d, upstream=None):
        self.name, self.port, self.upstream = name, port, upstream
        self.log = open(os.path.join(d, f"{name}.log"), "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=d)
        try:
            wait_port(port, self.proc, name)
        except RuntimeError as e:
            self.log.close()
            with open(self.log.name, errors="replace") as f:
                raise RuntimeError(f"{e}:\n{f.read()[-2000:]}") from None

    def roots(self):
        return [self.proc.pid] + ([self.upstream.pid] if self.upstream else [])

    def stop(self):
        for p in (self.proc, self.upstream):
            if p is None or p.poll() is not None:
                continue
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.log.close()


def setup(d, hello):
    www = os.path.join(d, "www")
    os.makedirs(www)
    with open(os.path.join(www, "1k.bin"), "wb") as f:
        f.write(os.urandom(1024))
    with open(os.path.join(www, "100k.bin"), "wb") as f:
        f.write(os.urandom(100 * 1024))
    key, crt = os.path.join(d, "key.pem"), os.path.join(d, "crt.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "2", "-subj", "/CN=bench.test",
                    "-addext", "subjectAltName=DNS:bench.test,IP:127.0.0.1"],
                   check=True, capture_output=True)
    if hello is None:
        hello = os.path.join(d, "hello")
        subprocess.run(["cc", "-O2", "-D_GNU_SOURCE", "-o", hello, os.path.join(SRC, "tests/apps/hello.c")],
                       check=True)
    return www, key, crt, hello


def start_weir(binary, d, www, key, crt, hello, tls, name="weir"):
    port = free_port()
    wd = os.path.join(d, name.replace(" ", "-"))
    os.makedirs(wd, mode=0o755)
    opt = "tls" if tls else "h2c"
    with open(os.path.join(wd, "weir.conf"), "w") as f:
        f.write(f"[server]\nlisten = 127.0.0.1:{free_port()}\nlisten = 127.0.0.1:{port} {opt}\n"
                "threads = 1\nstate_dir = run\nlog_dir = log\naccess_log = off\nsyslog = no\n"
                "keepalive_timeout = 600s\nshutdown_timeout = 1s\n"
                f"[pool hello]\ncommand = {hello}\nprocesses = 1\nstart_mode = always\n"
                "ping_path = /healthz\n"
                f"[site bench]\nroot = {www}\napp = /hello hello\n" +
                (f"certificate = {crt}\ncertificate_key = {key}\n" if tls else ""))
    return Peer(name, [binary, "run", "-c", "weir.conf"], port, wd)


def upstream(d, hello):
    """The C hello upstream on a Unix socket in d: (its path, the process)."""
    sock = socket.socket(socket.AF_UNIX)
    path = os.path.join(d, "hello.sock")
    sock.bind(path)
    os.chmod(path, 0o777)   # the peer's worker runs as another user
    sock.listen(512)
    up = pools.Activated(hello, sock, os.path.join(d, "hello.log"))
    sock.close()
    return path, up


def start_nginx(d, www, key, crt, hello, tls):
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(exe):
        return None
    port = free_port()
    nd = os.path.join(d, "nginx")
    os.makedirs(nd)
    path, up = upstream(nd, hello)
    listen = (f"listen 127.0.0.1:{port} ssl http2; ssl_certificate {crt}; "
              f"ssl_certificate_key {key};" if tls else f"listen 127.0.0.1:{port} http2;")
    with open(os.path.join(nd, "nginx.conf"), "w") as f:
        f.write(f"""daemon off; master_process on; worker_processes 1;
pid {nd}/nginx.pid; error_log {nd}/error.log error;
events {{ worker_connections 20000; use epoll; }}
http {{
  access_log off; sendfile on; keepalive_timeout 600s; keepalive_requests 1000000000;
  http2_max_concurrent_streams 128;
  open_file_cache max=1024 inactive=60s; open_file_cache_valid 1s;
  client_body_temp_path {nd}/body; proxy_temp_path {nd}/proxy;
  upstream hello {{ server unix:{path}; keepalive 64; }}
  server {{ {listen} root {www};
    location /hello/ {{ proxy_pass http://hello; proxy_http_version 1.1;
      proxy_set_header Connection ""; }} }}
}}
""")
    return Peer("nginx", [exe, "-p", nd, "-c", os.path.join(nd, "nginx.conf")], port, nd, up)


def start_h2o(d, www, key, crt, hello, tls):
    exe = shutil.which("h2o")
    if exe is None:
        return None
    port = free_port()
    hd = os.path.join(d, "h2o")
    os.makedirs(hd)
    os.chmod(hd, 0o777)     # h2o writes its pid file after dropping to `user`
    path, up = upstream(hd, hello)
    ssl = (f"  ssl:\n    certificate-file: {crt}\n    key-file: {key}\n" if tls else "")
    user = "user: nobody\n" if os.geteuid() == 0 else ""
    with open(os.path.join(hd, "h2o.conf"), "w") as f:
        f.write(f"listen:\n  host: 127.0.0.1\n  port: {port}\n{ssl}"
                f"{user}num-threads: 1\nmax-connections: 20000\npid-file: {hd}/h2o.pid\n"
                f"error-log: {hd}/error.log\nhttp2-idle-timeout: 600\n"
                f"hosts:\n  default:\n    paths:\n      /hello/:\n"
                f"        proxy.reverse.url: http://[unix:{path}]/hello/\n"
                f"      /:\n        file.dir: {www}\n")
    return Peer("h2o", [exe, "-c", os.path.join(hd, "h2o.conf")], port, hd, up)


def h2load(port, path, conns, streams, seconds, tls):
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}{path}"
    out = subprocess.run(["h2load", "-t", "1", "-c", str(conns), "-m", str(streams),
                          "-D", str(seconds), "--warm-up-time=1", url],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    if m is None or done is None or int(done.group(2)) == 0:
        raise RuntimeError("h2load: " + out[-400:])
    return float(m.group(1)), int(done.group(2))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weir", required=True)
    ap.add_argument("--hello", help="tests/apps/hello.c built (default: compiled here)")
    ap.add_argument("--proto", choices=("tls", "h2c"), default="tls")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--servers", default="weir,nginx,h2o")
    ap.add_argument("--baseline", metavar="WEIR", help="another weir binary, run alike as "
                    "'weir baseline' (to measure a change)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    a = ap.parse_args()
    tls = a.proto == "tls"
    d = tempfile.mkdtemp(prefix="weir-h2bench-")
    os.chmod(d, 0o755)      # weir's front end drops to a user of its own
    www, key, crt, hello = setup(d, a.hello)
    servers = []
    try:
        want = a.servers.split(",")
        if "weir" in want:
            servers.append(start_weir(os.path.abspath(a.weir), d, www, key, crt, hello, tls))
        if "weir" in want and a.baseline:   # a copy: a rebuild changes nothing
            b = shutil.copy2(a.baseline, os.path.join(d, "weir-baseline.bin"))
            servers.append(start_weir(b, d, www, key, crt, hello, tls, "weir baseline"))
        for name, fn in (("nginx", start_nginx), ("h2o", start_h2o)):
            if name in want:
                s = fn(d, www, key, crt, hello, tls)
                if s is None:
                    print(f"- {name}: not installed, skipped", file=sys.stderr)
                else:
                    servers.append(s)
        time.sleep(1)       # the pools' first ping, h2o's upstream
        res = {}
        for sc in a.scenarios.split(","):
            path, conns, streams = SCENARIOS[sc]
            for _ in range(a.rounds):
                for s in servers:
                    before = proc_stats()
                    rps, n = h2load(s.port, path, conns, streams, a.seconds, tls)
                    cpu, _ = cpu_split(s.roots(), before, proc_stats())
                    res.setdefault((sc, s.name), []).append((rps, cpu * 1e6 / max(n, 1)))
                    print(f"{sc} {s.name}: {rps:.0f} req/s, {cpu * 1e6 / max(n, 1):.1f} "
                          "CPU µs/req", file=sys.stderr)
        print(f"HTTP/2 over {'TLS (ALPN h2)' if tls else 'cleartext (prior knowledge)'}, "
              f"h2load -t 1, {a.rounds} rounds × {a.seconds} s, medians\n")
        print("| scenario | server | req/s | CPU µs/req |")
        print("|---|---|---:|---:|")
        for sc in a.scenarios.split(","):
            for s in servers:
                v = sorted(res[(sc, s.name)])
                rps, cpu = v[len(v) // 2]
                print(f"| {sc} | {s.name} | {rps:.0f} | {cpu:.1f} |")
    finally:
        for s in servers:
            s.stop()
        if a.keep:
            print(f"kept {d}", file=sys.stderr)
        else:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
