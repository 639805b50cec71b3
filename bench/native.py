"""bench/native.py - the native-module scenario of bench/run.py (issue 6).

native  the hello module (modules/hello.c) in weir-host, a `kind = native`
        pool, against nginx proxying to the socket-activated C upstream
        tests/apps/hello.c; both answer "hello, world\\n".  The same weir also
        proxies to that C upstream (an http pool), so weir-host's own cost
        shows against the C upstream's behind the same front end.

See README.md.  Standard library only.
"""
import os
import shutil

from common import SPLIT_COLUMNS, SPLIT_KEYS, fmt, rounds, split_row, targets
import pools

SCENARIOS = {
    "native": "Native module: the hello module in weir-host against nginx + the C hello "
              "upstream",
}
NATIVE_PATH = "/n/"         # weir-native.conf: app = /n native, app = / hello


class WeirNative(pools.WeirPools):
    """weir with two pools: native (weir-host + hello.so, at /n) and hello
    (the C upstream, at /)."""
    conf = "weir-native"
    ready_what = "no 200 'hello, world' for / and /n/"

    def __init__(self, binary, base, www, logs, hello, host_threads):
        super().__init__(binary, base, www, logs, hello=hello, host_threads=host_threads)
        self.setup = (f"threads = 1; [pool native] kind = native, modules = hello, "
                      f"hello.greeting = hello, world, host_threads = {host_threads}, "
                      "processes = 1 (app = /n); [pool hello] the C upstream, processes = 1, "
                      "ping_path = /healthz (app = /)")

    def is_ready(self):
        return all(self.get_body(p) == (200, pools.HELLO_BODY) for p in ("/", NATIVE_PATH))


class Route:
    """One pool of a WeirNative as a server of its own for rounds(): its
    name, the path wrk asks, whose CPU is the upstream's."""

    def __init__(self, server, name, pool, path):
        self.server, self.name, self.pool, self.path = server, name, pool, path

    def __getattr__(self, attr):        # port, proc, failed, check(), front_pid() ...
        return getattr(self.server, attr)

    def upstream_pids(self):
        return self.server.upstream_pids(self.pool)

    def upstream_sockets(self):     # the C upstream answers /conns, weir-host does not
        return self.server.upstream_sockets(self.pool) if self.pool == "hello" else []


def copy_components(weir, src_dir):
    """weir runs from a copy (run.py): put weir-host, the MANIFEST and the
    hello module beside it, where weir looks for its components."""
    dst = os.path.dirname(weir)
    for rel in ("weir-host", "MANIFEST", os.path.join("modules", "hello.so")):
        src = os.path.join(src_dir, rel)
        if not os.path.exists(src):
            raise RuntimeError(f"{src}: missing (build weir first)")
        os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dst, rel))


def make_servers(a, base, www, logs, weir, hello, notes, others):
    """The native scenario's servers; an nginx of the proxy scenario among
    others (already made) is used rather than a second one."""
    if "native" not in a.scenarios:
        return []
    names = {c.name for c in a.servers}
    out = []
    if "weir" in names and weir:
        copy_components(weir, os.path.dirname(os.path.abspath(a.weir)))
        out.append(WeirNative(weir, base, www, logs, hello, a.host_threads))
    else:
        notes.append("the native scenario needs weir (--servers weir)")
    nginx = shutil.which(pools.NginxProxy.exe)
    if "nginx" in names and nginx and not any(isinstance(s, pools.NginxProxy) for s in others):
        out.append(pools.NginxProxy(nginx, base, www, logs, hello, a.nginx_keepalive))
    return out


def run(sc, servers, a, notes):
    weir = next((s for s in servers if isinstance(s, WeirNative) and not s.failed), None)
    nginx = next((s for s in servers if isinstance(s, pools.NginxProxy) and not s.failed), None)
    live = ([Route(weir, "weir + weir-host", "native", NATIVE_PATH),
             Route(weir, "weir + C hello", "hello", "/")] if weir else []) + (
                 [nginx] if nginx else [])
    data = rounds(sc, live, a, notes,
                  lambda s, secs, _: pools.measure_proxy(s, secs, a.proxy_conns,
                                                         getattr(s, "path", "/")), SPLIT_KEYS)
    return report(data, live, a), data


def report(data, servers, a):
    lines = [f"## {SCENARIOS['native']}, {a.proxy_conns} keep-alive connections", "",
             f"weir-host: hello.so, host_threads = {a.host_threads}; the C upstream: "
             "tests/apps/hello.c (one thread, epoll); nginx: the proxy scenario's setup "
             f"(keepalive {a.nginx_keepalive}). Each row's upstream runs on the server's CPU.",
             "", "| server | " + SPLIT_COLUMNS.format(ref="nginx", up="upstream") + " |",
             "|---|" + "--:|" * 10]
    ng = data.get("nginx", {})
    for s in servers:
        lines.append(split_row(s.name, data.get(s.name, {}),
                               ng if s.name != "nginx" else None, s.failed))
    host, c = data.get("weir + weir-host", {}), data.get("weir + C hello", {})
    lines += [""] + targets("weir + weir-host against nginx + C hello", host, ng, 1.0, 0.8)
    if host.get("upstream_us_per_req") and c.get("upstream_us_per_req"):
        lines += [
            f"- weir-host's overhead: {host['upstream_us_per_req']:.1f} µs CPU per request "
            f"against {c['upstream_us_per_req']:.1f} µs for the C upstream behind the same "
            f"front end ({host['upstream_us_per_req'] / c['upstream_us_per_req']:.2f} ×, "
            f"{host['upstream_us_per_req'] - c['upstream_us_per_req']:+.1f} µs); latency "
            f"p50 {fmt(host.get('p50_ms'), '.2f', ' ms')} against "
            f"{fmt(c.get('p50_ms'), '.2f', ' ms')}, p99 {fmt(host.get('p99_ms'), '.2f', ' ms')} "
            f"against {fmt(c.get('p99_ms'), '.2f', ' ms')}; front end "
            f"{fmt(host.get('cpu_us_per_req'), '.1f')} against "
            f"{fmt(c.get('cpu_us_per_req'), '.1f')} µs/req."]
    lines += ["", "front-end CPU: weir's front-end process alone, nginx's worker alone; "
              "upstream CPU: weir-host (hello module) or the C upstream, whichever answered "
              "the row's requests. The issue 6 comparison is the first row against nginx; "
              "the second row isolates weir-host: same front end, same answer, only the "
              "upstream differs."]
    return lines
