#!/usr/bin/python3
"""bench/run.py - compare weir with nginx, h2o and lighttpd on one machine.

One worker each, the same files, a generated config, its own temp dir and
loopback port; wrk makes the load, /proc gives the CPU time.  The pool
scenarios (proxy, kill, disabled) are in pools.py, PHP (php,
php-fpm-shared) in php.py, the native module (native) in native.py, what
they share in common.py.  See README.md.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import sys
import tempfile
import time

sys.dont_write_bytecode = True      # no __pycache__ in bench/
from common import (CLIENT_CPU, HERE, IDLE_TIMEOUT, PINNED, SERVER_CPU, Server,  # noqa: E402
                    cgroup_usable, cpu_split, first_line, fmt, idle_test, open_idle, proc_stats,
                    report_idle, response_complete, rounds, wrk)
import native  # noqa: E402
import php  # noqa: E402
import pools  # noqa: E402
import tls  # noqa: E402

SCENARIOS = {   # name: (title, path, connections, Connection: close?)
    "1k": ("1 KiB file, keep-alive, 50 connections", "/1k.bin", 50, False),
    "100k": ("100 KiB file, keep-alive, 50 connections", "/100k.bin", 50, False),
    "404": ("404 (missing file), keep-alive, 50 connections", "/missing.bin", 50, False),
    "conn": ("1 KiB file, Connection: close (new connection per request), 50", "/1k.bin", 50, True),
    "idle": ("Idle keep-alive connections: resident memory", "/1k.bin", None, False),
}
EXTRA = {sc: m for m in (pools, php, native, tls) for sc in m.SCENARIOS}  # scenario: module
ALL_SCENARIOS = list(SCENARIOS) + list(EXTRA)


# ------------------------------------------------------------------ servers
class Weir(Server):
    name, version_flag = "weir", "--version"
    argv_fmt = ("{bin}", "run", "-c", "{conf}")
    log_on, log_off = "w3c", "off"
    setup = ("threads = 1; access log buffered (one write per 64 KiB or 1 s); small files "
             "from memory, others sendfile; open_file_cache 1024")

    def front_pid(self):
        return pools.weir_front_pid(self)


class Nginx(Server):
    name = exe = "nginx"
    argv_fmt = ("{bin}", "-p", "{dir}", "-e", "{dir}/error.log", "-c", "{conf}")
    front_cmd = "worker process"
    user = "user nobody nogroup;"
    log_on = "access_log {dir}/access.log combined buffer=64k flush=1s;"
    log_off = "access_log off;"
    setup = ("worker_processes 1; access_log buffer=64k flush=1s; sendfile on; "
             "open_file_cache max=1024 valid=1s; log_not_found off")


class H2o(Server):
    name = exe = "h2o"
    argv_fmt = ("{bin}", "-c", "{conf}")
    version_flag = "--version"
    user = "user: nobody"
    log_on = "access-log: {dir}/access.log"
    can_buffer_log = False
    setup = ("num-threads: 1; access log unbuffered (one write per request, it has no "
             "option to buffer); no sendfile (h2o reads files with pread)")


class Lighttpd(Server):
    name = exe = "lighttpd"
    argv_fmt = ("{bin}", "-D", "-f", "{conf}")
    user = 'server.username = "nobody"\nserver.groupname = "nogroup"'
    log_on = 'server.modules += ("mod_accesslog")\naccesslog.filename = "{dir}/access.log"'
    setup = ("single process; access log lines buffered in memory; sendfile; stat cache; "
             "at most 65535 requests per connection (its maximum)")


# ------------------------------------------------------------------ load
def measure(server, scenario, seconds):
    """A wrk run, with the CPU time of the server, of wrk and of the rest."""
    _, path, conns, close = SCENARIOS[scenario]
    s0, w0, t0 = proc_stats(), os.times(), time.monotonic()
    res = wrk(server.port, path, conns, seconds, close)  # wrk's CPU: our reaped children's
    s1, w1, t1 = proc_stats(), os.times(), time.monotonic()
    cpu, other = cpu_split(server.proc.pid, s0, s1)
    res.update(cpu_s=round(cpu, 3), cpu_pct=round(100 * cpu / (t1 - t0), 1),
               wrk_cpu_pct=round(100 * (w1.children_user + w1.children_system
                                        - w0.children_user - w0.children_system) / (t1 - t0), 1),
               other_cpu_pct=round(100 * other / (t1 - t0), 1),
               cpu_us_per_req=round(cpu * 1e6 / res["requests"], 2) if res["requests"] else None)
    # any status but the expected one (200, or 404 for "404") is an error
    bad = res["requests"] - res["non_2xx"] if scenario == "404" else res["non_2xx"]
    res["errors"] = res["socket_errors"] + bad
    return res


class PlainClient:
    """One GET per connection, in cleartext (common.open_idle)."""

    def __init__(self, path):
        self.req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()

    def start(self, sock):
        sock.send(self.req)                 # tiny: fits in the socket buffer
        return [b""]

    def feed(self, sock, st, data):
        st[0] += data
        return response_complete(st[0])


# ------------------------------------------------------------------ report
def header(meta, servers):
    pin = (f"server pinned to CPU {SERVER_CPU}; wrk (1 thread) and this script to CPU "
           f"{CLIENT_CPU} (taskset)" if PINNED else "no CPU pinning (1 CPU or no taskset)")
    lines = [f"# weir benchmark {meta['time']}", "",
             f"- machine: {meta['cpus']} CPUs ({meta['cpu_model']}), Linux {meta['kernel']}, "
             f"loopback; load average at start {meta['loadavg']}",
             f"- client: {meta['wrk']}; {pin}",
             f"- {meta['rounds']} rounds × {meta['seconds']} s per server and scenario, servers "
             f"in a rotated order each round, {meta['warmup']} s warm-up first; medians shown",
             f"- {meta['log_note']}",
             "- every server: one worker, keep-alive without request limit, "
             f"{IDLE_TIMEOUT} s idle timeout, fd limit ≥ 20000",
             "- CPU µs/req: server process tree's utime+stime ÷ requests (pool scenarios: "
             "the proxy process alone, the upstream apart). CPU %: CPU time ÷ wall time "
             "(100 = one CPU); wrk ≈ 100 = client-bound: compare CPU µs/req there",
             ] + ([f"- static scenarios' servers limited to {meta['cpu_quota']} % of one CPU "
                   "each (cgroup cpu.cfs_quota_us, 10 ms period): the server sets the pace, "
                   "so req/s compares the servers' efficiency"] if meta.get("cpu_quota") else []) + [
             "", "| server | version | setup |", "|---|---|---|"]
    lines += [f"| {s.conf or s.name} | {meta['servers'][s.conf or s.name]['version']} "
              f"| {s.setup} |" for s in servers]
    return lines


def report_scenario(name, data, servers):
    lines = [f"## {SCENARIOS[name][0]}", "",
             "| server | req/s | min–max | weir ÷ peer req/s | CPU µs/req | weir ÷ peer CPU/req "
             "| CPU % server / wrk / others | p99 | errors |", "|---|" + "--:|" * 8]
    w = data.get("weir", {})
    for s in servers:
        d = data.get(s.name, {})
        if not d.get("runs"):
            lines.append(f"| {s.name} | {s.failed or 'no data'} |" + " |" * 7)
            continue
        rps = [r["rps"] for r in d["runs"]]
        ratio = cratio = None
        if s.name != "weir" and w.get("rps") and d["rps"]:
            ratio = w["rps"] / d["rps"]
            if w["cpu_us_per_req"] and d["cpu_us_per_req"]:
                cratio = w["cpu_us_per_req"] / d["cpu_us_per_req"]
        lines.append(
            f"| {s.name} | {d['rps']:,.0f} | {min(rps):,.0f}–{max(rps):,.0f} "
            f"| {fmt(ratio, '.2f')} | {fmt(d['cpu_us_per_req'], '.1f')} | {fmt(cratio, '.2f')} "
            f"| {d['cpu_pct']:.0f} / {d['wrk_cpu_pct']:.0f} / {d['other_cpu_pct']:.0f} "
            f"| {fmt(d['p99_ms'], '.2f', ' ms')} | {d['errors']} |")
    return lines


# ------------------------------------------------------------------ main
def setup_files(base):
    """The document root every server serves: 1 KiB and 100 KiB random files."""
    www = os.path.join(base, "www")
    os.mkdir(www)
    for name, size in (("1k.bin", 1024), ("100k.bin", 100 * 1024)):
        with open(os.path.join(www, name), "wb") as f:
            f.write(os.urandom(size))
    for p in [base, www] + [os.path.join(www, x) for x in os.listdir(www)]:
        os.chmod(p, 0o755 if os.path.isdir(p) else 0o644)
    return www


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weir", default=os.path.join(HERE, "..", "build", "weir"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5, help="per run")
    ap.add_argument("--warmup", type=int, default=1, help="seconds per server and scenario")
    ap.add_argument("--scenarios", default=",".join(ALL_SCENARIOS))
    ap.add_argument("--servers", default="weir,nginx,h2o,lighttpd")
    ap.add_argument("--idle-conns", type=int, default=10000)
    ap.add_argument("--logs", choices=("auto", "on", "off"), default="auto",
                    help="access logs; auto: on if every server can buffer them, else off")
    ap.add_argument("--quick", action="store_true", help="2 rounds × 2 s: a smoke test")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    ap.add_argument("--hello", help="the C upstream (default: tests/apps/weir-test-hello "
                    "next to --weir, else compiled from tests/apps/hello.c)")
    ap.add_argument("--proxy-conns", type=int, default=50, metavar="N",
                    help="proxy scenario: wrk connections (50, as the static scenarios)")
    ap.add_argument("--no-direct", dest="direct", action="store_false",
                    help="proxy scenario: no reference run of wrk straight to the upstream")
    ap.add_argument("--nginx-keepalive", type=int, default=64, metavar="N",
                    help="proxy scenario: nginx's upstream keepalive (idle connections "
                    "kept; 32 as in issue 4)")
    ap.add_argument("--kills", type=int, default=20, help="kill scenario: kills per pool")
    ap.add_argument("--kill-spacing", type=float, default=0.5,
                    help="kill scenario: seconds between kills")
    ap.add_argument("--cpu-quota", type=int, default=0, metavar="PCT",
                    help="static scenarios: limit each server to PCT %% of one CPU "
                    "(cgroup v1 cpu controller, as root) so the server, not wrk, sets "
                    "the pace; 0 (default): no limit")
    ap.add_argument("--php-workers", type=int, default=2, metavar="N",
                    help="php, php-fpm-shared: php-cgi processes and php-fpm pm.max_children")
    ap.add_argument("--php-conns", type=int, default=50, metavar="N",
                    help="php, php-fpm-shared: wrk connections (50)")
    ap.add_argument("--php-keepalive", type=int, default=0, metavar="N",
                    help="php, php-fpm-shared: nginx's upstream keepalive to php-fpm "
                    "(default: --php-workers)")
    ap.add_argument("--baseline", metavar="WEIR", help="php, php-fpm-shared, TLS: another weir "
                    "binary, run alike as 'weir baseline' (to measure a change)")
    ap.add_argument("--perf", default="", metavar="SCENARIOS",
                    help="TLS scenarios (e.g. tls-conn) to profile: one more run per server "
                    "under perf record, the top of perf report in the report")
    ap.add_argument("--host-threads", type=int, default=4, metavar="N",
                    help="native: weir-host's handler threads (4, its default)")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.seconds, a.kills = 2, 2, 5
    if not 0 <= a.cpu_quota <= 100:
        ap.error("--cpu-quota: a percentage of one CPU, 1 to 100 (0: no limit)")
    if a.cpu_quota and cgroup_usable():
        ap.error(f"--cpu-quota: {cgroup_usable()}")
    a.perf = [x for x in a.perf.split(",") if x]
    if set(a.perf) - set(tls.RUNS):
        ap.error(f"--perf: not a TLS throughput scenario: {', '.join(set(a.perf) - set(tls.RUNS))}")
    if a.perf and shutil.which("perf") is None:
        ap.error("--perf: perf is not installed (linux-perf)")
    known = {c.name: c for c in (Weir, Nginx, H2o, Lighttpd)}
    for opt, table in (("scenarios", ALL_SCENARIOS), ("servers", known)):
        names = [x for x in getattr(a, opt).split(",") if x]
        if set(names) - set(table):
            ap.error(f"--{opt}: unknown {', '.join(set(names) - set(table))} "
                     f"(known: {', '.join(table)})")
        setattr(a, opt, [table[x] if opt == "servers" else x for x in names])
    return a


def throughput(sc, servers, a, notes):
    """Interleaved rounds of one static scenario; medians per server."""
    return rounds(sc, servers, a, notes, lambda s, secs, warm: measure(s, sc, secs),
                  ("rps", "cpu_us_per_req", "cpu_pct", "wrk_cpu_pct", "other_cpu_pct", "p99_ms"))


def main():
    a = parse_args()
    if shutil.which("wrk") is None and set(a.scenarios) - {"idle"}:
        sys.exit("bench: wrk is not installed (scripts/install-deps bench)")
    for sig in (signal.SIGTERM, signal.SIGHUP):     # exit through the finally: below
        signal.signal(sig, lambda n, _: sys.exit(f"bench: signal {n}, stopping the servers"))
    # the idle test needs fds here and in the servers, who inherit the limit
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if PINNED:
        os.sched_setaffinity(0, {int(CLIENT_CPU)})

    notes, wanted = [], []
    for c in a.servers:
        binary = os.path.abspath(a.weir) if c is Weir else shutil.which(c.exe)
        if binary and os.access(binary, os.X_OK):
            wanted.append((c, binary))
        else:
            notes.append(f"{c.name}: not installed ({binary or c.exe}), skipped")
    can = all(c.can_buffer_log for c, _ in wanted)
    logs = a.logs == "on" or (a.logs == "auto" and can)
    log_note = ("access logs ON, buffered by every server that can" if logs else
                "access logs OFF for every server") + ("" if can else (
                    " (h2o 2.2 cannot buffer its access log: one write(2) per request)"))
    if "idle" in a.scenarios and hard < a.idle_conns + 100:
        notes.append(f"RLIMIT_NOFILE hard limit {hard} is too low for {a.idle_conns} connections")

    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = tempfile.mkdtemp(prefix="weir-bench-")
    servers, psrv, tsrv = [], [], []    # static scenarios' servers, pool ones, TLS ones
    shim = None
    results = {"scenarios": {}, "idle": {}, "pools": {}, "notes": notes}
    try:
        www = setup_files(base)
        # test a copy of weir: a rebuild during the run must not change what runs
        wanted = [(c, shutil.copy2(b, os.path.join(base, "weir.bin")) if c is Weir else b)
                  for c, b in wanted]
        weir = next((b for c, b in wanted if c is Weir), None)
        if set(a.scenarios) & (set(pools.SCENARIOS) | set(native.SCENARIOS) | set(tls.SCENARIOS)):
            hello = pools.hello_binary(a, base, notes)
            psrv = pools.make_servers(a, base, www, logs, weir, hello, notes)
            psrv += native.make_servers(a, base, www, logs, weir, hello, notes, psrv)
            tsrv = tls.make_servers(a, base, www, logs, weir, hello, notes)
        psrv += php.make_servers(a, base, www, logs, weir, notes)
        if {"tls-conn", "tls-resume"} & set(a.scenarios):
            shim = tls.build_shim(base)
        static = set(a.scenarios) & set(SCENARIOS)
        for c, binary in wanted if static else ():
            servers.append(c(binary, base, www, logs))
            servers[-1].cpu_quota = a.cpu_quota
        for s in servers + psrv + tsrv:
            try:
                s.start()
            except (RuntimeError, OSError) as e:
                s.check(notes, f"failed to start: {e}")
                s.stop()
        with open("/proc/cpuinfo") as f:
            model = re.search(r"model name\s*: (.*)", f.read())
        results["meta"] = meta = {
            "time": stamp, "cpus": os.cpu_count(), "cpu_model": model and model.group(1),
            "kernel": os.uname().release, "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "rounds": a.rounds, "seconds": a.seconds, "warmup": a.warmup, "pinned": PINNED,
            "cpu_quota": a.cpu_quota,
            "access_logs": logs, "log_note": log_note, "wrk": first_line(["wrk", "-v"]),
            "servers": {s.conf or s.name: {"version": s.version(), "setup": s.setup,
                                           "command": s.cmd} for s in servers + psrv + tsrv}}
        print(f"bench: temp dir {base}", file=sys.stderr)
        pool_reports = {}
        for sc in a.scenarios:
            if sc in tls.SCENARIOS:
                pool_reports[sc], results["pools"][sc] = tls.run(sc, tsrv, a, notes, shim)
                continue
            if sc in EXTRA:
                pool_reports[sc], results["pools"][sc] = EXTRA[sc].run(sc, psrv, a, notes)
                continue
            if sc != "idle":
                results["scenarios"][sc] = throughput(sc, servers, a, notes)
                continue
            for s in servers:
                if not s.failed:
                    print(f"bench: idle {s.name}", file=sys.stderr)
                    try:
                        client = PlainClient(SCENARIOS["idle"][1])
                        results["idle"][s.name] = idle_test(
                            s, a.idle_conns, lambda: open_idle(s.port, a.idle_conns, client))
                    except RuntimeError as e:
                        results["idle"][s.name] = {"error": str(e)}
                    s.check(notes)
    finally:
        for s in servers + psrv + tsrv:
            s.stop()
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)

    out = header(meta, servers + psrv + tsrv) + [""]
    for sc in a.scenarios:
        out += (pool_reports[sc] if sc in pool_reports else
                report_idle(results["idle"], servers, a.idle_conns) if sc == "idle" else
                report_scenario(sc, results["scenarios"][sc], servers)) + [""]
    if notes:
        out += ["## Notes", ""] + [f"- {n.rstrip()}" for n in notes] + [""]
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", f"{stamp}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print("\n".join(out + [f"Raw data: {os.path.relpath(path)}"]))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("bench: interrupted; servers stopped")
