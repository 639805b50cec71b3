"""bench/tls.py - the TLS scenarios of bench/run.py (issue 13).

tls-1k      1 KiB file over TLS, keep-alive;
tls-conn    the same with a new connection and a full handshake per request;
tls-resume  the same with a resumed handshake (TLS 1.3 ticket) per request;
tls-proxy   the C hello upstream (tests/apps/hello.c) behind TLS, keep-alive;
tls-idle    10,000 idle TLS connections: the front end's resident memory.

weir, nginx and h2o, one worker/thread each, one instance each for every TLS
scenario, with the same ECDSA P-256 key and self-signed certificate (made
with openssl at the start of the run).  The load is wrk over https, with
tlsshim.c preloaded for tls-conn and tls-resume: it makes wrk's handshakes
full or resumed and counts them.  See README.md.  Standard library only
(and cc, openssl, perf).
"""
import os
import re
import shutil
import ssl
import subprocess
import sys
import time

from common import (HERE, client_tls, fmt, idle_test, open_idle, report_idle,
                    response_complete, rounds)
import pools

SCENARIOS = {
    "tls-1k": "TLS: 1 KiB file, keep-alive, 50 connections",
    "tls-conn": "TLS: 1 KiB file, a new connection and a full handshake per request "
                "(Connection: close), 50 at a time",
    "tls-resume": "TLS: 1 KiB file, a new connection and a resumed handshake (TLS 1.3 ticket) "
                  "per request (Connection: close), 50 at a time",
    "tls-proxy": "TLS: the C hello pool behind TLS, keep-alive, 50 connections",
    "tls-idle": "TLS: idle connections, resident memory",
}
RUNS = {    # scenario: (path, Connection: close?, handshakes wanted: None, "full", "resumed")
    "tls-1k": ("/1k.bin", False, None),
    "tls-conn": ("/1k.bin", True, "full"),
    "tls-resume": ("/1k.bin", True, "resumed"),
    "tls-proxy": ("/hello", False, None),
}
CONNS = 50                  # wrk connections, as the static scenarios (tls-proxy: --proxy-conns)
IDLE_TARGET_MB = 60         # issue 13: 10,000 idle TLS connections in <= 60 MB of front end
KEYS = ("rps", "cpu_us_per_req", "upstream_us_per_req", "cpu_pct", "upstream_cpu_pct",
        "wrk_cpu_pct", "other_cpu_pct", "p50_ms", "p99_ms", "full", "resumed")
PERF_TOP = 25               # lines of perf report shown per server


# ------------------------------------------------------------------ files
def make_certificate(base):
    """An ECDSA P-256 key and a self-signed certificate for 127.0.0.1 and
    localhost, valid 2 days: (cert path, key path)."""
    d = os.path.join(base, "tls")
    os.mkdir(d, 0o755)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl req failed: {r.stderr.strip()}")
    os.chmod(key, 0o600)        # read by the servers' masters (root), as in production
    return cert, key


def build_shim(base):
    """bench/tlsshim.c as a shared object for LD_PRELOAD into wrk."""
    src, dst = os.path.join(HERE, "tlsshim.c"), os.path.join(base, "tlsshim.so")
    r = subprocess.run(["cc", "-std=c11", "-O2", "-shared", "-fPIC", "-o", dst, src, "-lssl"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"cannot build {src} (libssl-dev?): {r.stderr.strip()}")
    return dst


# ------------------------------------------------------------------ servers
class TlsMixin:
    """Listens with TLS; ready once it serves the 1 KiB file and hello over
    https; after start, what a client negotiates with it is in its setup."""
    scheme = "https"
    ready_what = "no 200 for /1k.bin and 'hello, world' for /hello over https"

    def is_ready(self):
        return (self.get("/1k.bin") == (200, 1024)
                and self.get_body("/hello") == (200, pools.HELLO_BODY))

    def start(self):
        super().start()
        self.setup += "; negotiated: " + negotiated(self.port)


def negotiated(port):
    """Protocol, cipher suite and key exchange group a default OpenSSL client
    (as wrk is) gets, from openssl s_client -brief."""
    try:
        r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-brief"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return f"? ({e})"
    out = r.stdout + r.stderr
    found = [re.search(rf"{k}: *([^\n]*)", out) for k in
             ("Protocol version", "Ciphersuite", "Server Temp Key", "Signature type")]
    return " ".join(m.group(1) for m in found if m) or "? (no handshake)"


class WeirTls(TlsMixin, pools.WeirPools):
    """baseline: another weir binary (--baseline) run alike, to measure a change."""
    conf = "weir-tls"
    setup = ("threads = 1; listen = … tls; [site] certificate, certificate_key; weir's TLS "
             "defaults; [pool hello] processes = 1, start_mode = always (app = /hello)")

    def __init__(self, binary, base, www, logs, baseline=False, **subst):
        if baseline:
            self.name, self.template, self.conf = "weir baseline", self.conf, self.conf + "-baseline"
        super().__init__(binary, base, www, logs, **subst)


class NginxTls(TlsMixin, pools.NginxProxy):
    conf = "nginx-tls"

    def __init__(self, *args, **subst):
        super().__init__(*args, **subst)
        self.setup = ("worker_processes 1; listen … ssl; ssl_protocols TLSv1.2 TLSv1.3; "
                      "otherwise nginx's TLS defaults (session tickets on, no session cache); "
                      "sendfile on (unused with TLS); location /hello: the proxy scenario's "
                      f"upstream setup (keepalive {subst['keepalive']})")


class H2oTls(TlsMixin, pools.WithUpstream):
    name = exe = "h2o"
    conf = "h2o-tls"
    argv_fmt = ("{bin}", "-c", "{conf}")
    version_flag = "--version"
    user = "user: nobody"
    log_on = "access-log: {dir}/access.log"
    setup = ("num-threads: 1; ssl: minimum-version TLSv1.2, otherwise h2o's TLS defaults "
             "(session resumption: its cache and tickets); /hello: proxy.reverse.url "
             "http://[unix:…] (h2o's upstream keep-alive defaults)")


def make_servers(a, base, www, logs, weir, hello, notes):
    """The TLS scenarios' servers, with the certificate made for this run."""
    if not set(a.scenarios) & set(SCENARIOS):
        return []
    cert, key = make_certificate(base)
    names, out = {c.name for c in a.servers}, []
    subst = dict(hello=hello, cert=cert, key=key)
    if "weir" in names and weir:
        out.append(WeirTls(weir, base, www, logs, **subst))
        if a.baseline:      # a copy, like weir's: a rebuild changes nothing
            b = shutil.copy2(a.baseline, os.path.join(base, "weir-tls-baseline.bin"))
            out.append(WeirTls(b, base, www, logs, baseline=True, **subst))
    for c in (NginxTls, H2oTls):
        binary = shutil.which(c.exe)
        if c.name not in names:
            continue
        if not binary:
            notes.append(f"{c.name}: not installed, skipped in the TLS scenarios")
            continue
        extra = {"keepalive": a.nginx_keepalive} if c is NginxTls else {}
        out.append(c(binary, base, www, logs, hello=hello, cert=cert, key=key, **extra))
    if "lighttpd" in names:
        notes.append("lighttpd: not in the TLS scenarios")
    return out


# ------------------------------------------------------------------ load
def measure(server, sc, seconds, a, shim, perf=None):
    """One wrk run over https; the front end's CPU apart from the upstream's
    (pools.measure_proxy), and for tls-conn/tls-resume the handshakes the
    shim counted.  perf: a perf.data path to profile the front end into."""
    path, close, _ = RUNS[sc]
    env = None
    count = os.path.join(server.dir, "handshakes.txt")
    if close:
        env = dict(os.environ, LD_PRELOAD=shim, WEIR_BENCH_TLS_COUNT=count,
                   WEIR_BENCH_TLS_FRESH="1" if sc == "tls-conn" else "0")
        if os.path.exists(count):
            os.unlink(count)
    rec = perf_record(server.front_pid(), perf, seconds) if perf else None
    try:
        res = pools.measure_proxy(server, seconds, a.proxy_conns if sc == "tls-proxy" else CONNS,
                                  path, close=close, env=env)
    finally:
        if rec:
            rec.wait(30)
    if close:
        try:
            with open(count) as f:
                m = re.match(r"full (\d+) resumed (\d+)", f.read())
            res["full"], res["resumed"] = int(m.group(1)), int(m.group(2))
        except (OSError, AttributeError) as e:
            raise RuntimeError(f"the TLS shim left no handshake count ({e})") from e
    return res


def check_handshakes(sc, data, notes):
    """A note for each server whose runs did not do the handshakes the
    scenario measures (a resumption in tls-conn, a full one beyond each
    connection's first in tls-resume)."""
    want = RUNS.get(sc, (None, None, None))[2]
    for name, d in data.items():
        full = sum(r.get("full", 0) for r in d["runs"])
        resumed = sum(r.get("resumed", 0) for r in d["runs"])
        if want == "full" and resumed:
            notes.append(f"[{sc}] {name}: {resumed:,} of {full + resumed:,} handshakes were "
                         "resumptions: not all full handshakes")
        if want == "resumed" and full > CONNS * len(d["runs"]):
            notes.append(f"[{sc}] {name}: only {resumed:,} of {full + resumed:,} handshakes "
                         "resumed a session: it did not resume every time")


# ------------------------------------------------------------------ idle
class TlsClient:
    """One GET per connection over TLS (common.open_idle), through memory
    BIOs.  Once a connection is set up its TLS state is dropped here and
    only the socket kept (the server keeps its own), so 10,000 of them cost
    this script little."""

    def __init__(self, path):
        self.ctx = client_tls()
        self.req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()

    def start(self, sock):
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        st = {"tls": self.ctx.wrap_bio(inc, out), "in": inc, "out": out, "shaken": False,
              "buf": b""}
        self.step(sock, st)                 # the ClientHello
        return st

    def feed(self, sock, st, data):
        st["in"].write(data)
        return self.step(sock, st)

    def step(self, sock, st):
        """Handshake, request, response as far as the input goes; True once
        the whole response is in."""
        try:
            if not st["shaken"]:
                st["tls"].do_handshake()
                st["shaken"] = True
                st["tls"].write(self.req)   # the handshake just finished: the request
            while True:
                st["buf"] += st["tls"].read(65536)
        except ssl.SSLWantReadError:
            pass
        finally:
            pending = st["out"].read()
            if pending:
                sock.setblocking(True)      # a few hundred bytes: never blocks for long
                sock.sendall(pending)
                sock.setblocking(False)
        return response_complete(st["buf"])


# ------------------------------------------------------------------ perf
def perf_record(pid, out, seconds):
    """perf record of one process (on-CPU samples, call graphs) while a run
    lasts; the caller waits for it."""
    return subprocess.Popen(["perf", "record", "-q", "-g", "-F", "1999", "-o", out, "-p", str(pid),
                             "--", "sleep", str(seconds)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def perf_top(data, n=PERF_TOP):
    """The top of perf report: the share of each library (dso), then the
    hottest symbols (self time), flat."""
    lines = []
    for sort, limit in (("dso", 1), ("dso,symbol", 0.7)):
        r = subprocess.run(["perf", "report", "--stdio", "--no-children", "-g", "none",
                            "--percent-limit", str(limit), "--sort", sort, "-i", data],
                           capture_output=True, text=True, timeout=120)
        # without the empty columns some perf versions add ("-  -")
        rows = [re.sub(r"(\s+-)+\s*$", "", ln) for ln in r.stdout.splitlines()
                if ln.strip() and not ln.startswith("#")]
        lines += rows[:n] or [f"(perf report: {(r.stderr.strip() or 'no samples')[:200]})"]
        lines.append("")
    return lines


def profile(sc, live, a, shim):
    """One more run of sc per server under perf record; the top of each
    profile, as report lines.  The perf.data files are kept in
    bench/results/ (perf keeps the binaries' build ids in ~/.debug, so
    perf report still works once the run's temp dir is gone)."""
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    lines = [f"### Where the front end's CPU goes in {sc} (perf, one extra {a.seconds} s run "
             "each)", ""]
    for s in live:
        data = os.path.join(HERE, "results", f"{stamp}-perf-{s.name}-{sc}.data")
        try:
            res = measure(s, sc, a.seconds, a, shim, perf=data)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            lines += [f"{s.name}: the profiled run failed: {e}", ""]
            continue
        print(f"bench: {sc:8} perf     {s.name:8} {res['rps']:>9,.0f} req/s", file=sys.stderr)
        lines += [f"{s.name} (pid {res['front_pid']}, {res['rps']:,.0f} req/s while profiled; "
                  f"`perf report -i {os.path.relpath(data)} --no-children`):", "", "```"]
        lines += perf_top(data) + ["```", ""]
    return lines


# ------------------------------------------------------------------ report
def report(sc, data, servers, a):
    close = RUNS[sc][1]
    title = SCENARIOS[sc]
    if sc == "tls-proxy":
        title = title.replace("50 ", f"{a.proxy_conns} ")
    lines = [f"## {title}", "",
             "| server | req/s | min–max | weir ÷ nginx | weir ÷ h2o | front-end CPU µs/req "
             "| weir ÷ nginx CPU/req | weir ÷ h2o CPU/req | upstream CPU µs/req "
             "| CPU % front end / upstream / wrk / others | p50 | p99 | errors"
             + (" | handshakes full / resumed" if close else "") + " |",
             "|---|" + "--:|" * (12 + close)]
    w = data.get("weir", {})
    for s in servers:
        d = data.get(s.name, {})
        if not d.get("runs"):
            lines.append(f"| {s.name} | {s.failed or 'no data'} |" + " |" * (11 + close))
            continue
        rps = [r["rps"] for r in d["runs"]]
        ratios = []
        for key in ("rps", "cpu_us_per_req"):
            for peer in ("nginx", "h2o"):
                p = data.get(peer, {})
                ratios.append(w[key] / p[key] if s.name == peer and w.get(key) and p.get(key)
                              else None)
        hs = (f" | {sum(r['full'] for r in d['runs']):,} / "
              f"{sum(r['resumed'] for r in d['runs']):,}" if close else "")
        lines.append(
            f"| {s.name} | {d['rps']:,.0f} | {min(rps):,.0f}–{max(rps):,.0f} "
            f"| {fmt(ratios[0], '.2f')} | {fmt(ratios[1], '.2f')} "
            f"| {fmt(d.get('cpu_us_per_req'), '.1f')} | {fmt(ratios[2], '.2f')} "
            f"| {fmt(ratios[3], '.2f')} | {fmt(d.get('upstream_us_per_req'), '.1f')} "
            f"| {fmt(d.get('cpu_pct'), '.0f')} / {fmt(d.get('upstream_cpu_pct'), '.0f')} / "
            f"{d['wrk_cpu_pct']:.0f} / {d['other_cpu_pct']:.0f} "
            f"| {fmt(d.get('p50_ms'), '.2f', ' ms')} | {fmt(d.get('p99_ms'), '.2f', ' ms')} "
            f"| {d['errors']}{hs} |")
    lines += [""] + target_lines(sc, data)
    if close:
        lines += ["", "handshakes: counted in wrk by bench/tlsshim.c over every round "
                  "(SSL_session_reused() after each completed handshake)."]
    lines += ["", "front-end CPU: weir's front-end process alone, nginx's worker alone, h2o's "
              "process; upstream CPU: the C hello (only tls-proxy sends it requests)."]
    return lines


def target_lines(sc, data):
    """Issue 13's targets for this scenario, met or not."""
    w, ng, h2 = (data.get(n, {}) for n in ("weir", "nginx", "h2o"))
    ok = lambda b: "**met**" if b else "**NOT met**"    # noqa: E731

    def ratio(key, peer):
        return w[key] / peer[key] if w.get(key) and peer.get(key) else None
    if sc == "tls-1k":
        r, c = ratio("rps", h2), ratio("cpu_us_per_req", ng)
        return [f"issue 13 target, keep-alive req/s ≥ 1.0 × h2o: {ok(r and r >= 1.0)} "
                f"({fmt(r, '.2f')} ×); front-end CPU/req ≤ 0.75 × nginx: "
                f"{ok(c and c <= 0.75)} ({fmt(c, '.2f')} ×)"]
    if sc == "tls-proxy":
        r = ratio("rps", ng)
        return [f"issue 13 target, a pool behind TLS ≥ 1.3 × nginx req/s: {ok(r and r >= 1.3)} "
                f"({fmt(r, '.2f')} ×)"]
    if sc == "tls-conn":
        best = max((p for p in (ng, h2) if p.get("rps")), key=lambda p: p["rps"], default={})
        r = ratio("rps", best)
        return [f"issue 13 target, full handshakes ≥ 1.0 × the better of nginx and h2o: "
                f"{ok(r and r >= 1.0)} ({fmt(r, '.2f')} ×)"]
    return ["issue 13 sets no target for resumed handshakes."]


# ------------------------------------------------------------------ driver
def run(sc, servers, a, notes, shim=None):
    """One TLS scenario over the started TLS servers: report lines, raw data."""
    live = [s for s in servers if not s.failed]
    if sc == "tls-idle":
        data = {}
        for s in live:
            print(f"bench: tls-idle {s.name}", file=sys.stderr)
            try:
                data[s.name] = idle_test(
                    s, a.idle_conns, lambda: open_idle(s.port, a.idle_conns, TlsClient("/1k.bin")))
            except RuntimeError as e:
                data[s.name] = {"error": str(e)}
            s.check(notes)
        lines = report_idle(data, servers, a.idle_conns, "TLS keep-alive", IDLE_TARGET_MB)
        return lines + ["", "Each connection: a TLS handshake (the servers' defaults: TLS "
                        "1.3), one GET /1k.bin, the whole response read; whole tree RSS: "
                        "weir's includes its hello worker, nginx's and h2o's hello are apart."
                        ], data
    data = rounds(sc, live, a, notes, lambda s, secs, _: measure(s, sc, secs, a, shim), KEYS)
    check_handshakes(sc, data, notes)
    lines = report(sc, data, servers, a)
    if sc in a.perf:
        lines += [""] + profile(sc, [s for s in live if not s.failed], a, shim)
    return lines, data

