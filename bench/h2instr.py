#!/usr/bin/python3
"""bench/h2instr.py - the front end's instructions per HTTP/2 request (callgrind).

Time on a shared machine moves by 1.4x between rounds and hides a change
under 10 %; instructions under a fixed load do not (+-0.2 % run to run).
For each weir binary given: weir runs under `valgrind --tool=callgrind`
(bench/h2.py's configuration: one front-end thread, TLS or h2c, the same
document root and pool), h2load sends N1 requests to a fresh server, then
N2 to another fresh one; the front end's instruction totals differ by the
cost of N2 - N1 requests (start-up, connections and TLS handshakes are in
both and cancel out).  Not time: memory stalls and the kernel do not show.

--h2o adds a row for h2o (bench/h2.py's configuration, one thread), so the
two front ends' user-space work per request can be set side by side; each
row is split by the object the instructions ran in (the server's own code,
libnghttp2, OpenSSL, libc).

    /usr/bin/python3 bench/h2instr.py ./build/weir [/work/main/build/weir ...] \
        [--h2o] [--path /1k.bin] [--proto tls|h2c]

Needs valgrind (Debian `valgrind`) and h2load (`nghttp2-client`).
"""
import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2  # noqa: E402  (bench/h2.py: setup(), start_weir(), h2load)


def totals(path):
    """The `totals:` line of a callgrind output file (0 when it has none)."""
    with open(path, errors="replace") as f:
        for ln in f:
            if ln.startswith("totals:"):
                return int(ln.split()[1])
    return 0


GROUPS = (("own", None), ("libnghttp2", "libnghttp2"), ("OpenSSL", "libssl|libcrypto"),
          ("libc", "libc[.-]|ld-linux"))


def by_object(path, own):
    """A callgrind file's instructions by group of GROUPS: the server's own
    binary (own), the libraries, and what is left (other)."""
    out = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    sums = dict.fromkeys([g for g, _ in GROUPS] + ["other"], 0)
    for ln in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+\S.*\[(.+)\]\s*$", ln)
        if m is None:
            continue
        obj = os.path.basename(m.group(2))
        group = "own" if obj == own else next(
            (g for g, pat in GROUPS[1:] if re.match(pat, obj)), "other")
        sums[group] += int(m.group(1).replace(",", ""))
    return sums


def vg_wrapper(d, out, binary, user=None):
    """A script that runs binary under callgrind, its files in out."""
    vg = os.path.join(d, "vg-" + os.path.basename(binary))
    pre = f"runuser -u {user} -- " if user else ""
    with open(vg, "w") as f:
        f.write(f"#!/bin/sh\nexec {pre}valgrind -q --tool=callgrind "
                f"--callgrind-out-file={out}/cg.%p {binary} \"$@\"\n")
    os.chmod(vg, 0o755)
    return vg


def start_h2o(vg, d, www, key, crt, tls, name):
    """h2o as bench/h2.py runs it, but started as nobody (when root) rather
    than dropping to it: callgrind writes its file at exit, as the process
    is then, into the file it opened as root at start."""
    hd = os.path.join(d, name)
    os.makedirs(hd)
    os.chmod(hd, 0o777)
    port = h2.free_port()
    ssl = (f"  ssl:\n    certificate-file: {crt}\n    key-file: {key}\n" if tls else "")
    with open(os.path.join(hd, "h2o.conf"), "w") as f:
        f.write(f"listen:\n  host: 127.0.0.1\n  port: {port}\n{ssl}"
                f"num-threads: 1\nmax-connections: 20000\npid-file: {hd}/h2o.pid\n"
                f"error-log: {hd}/error.log\nhttp2-idle-timeout: 600\n"
                f"hosts:\n  default:\n    paths:\n      /:\n        file.dir: {www}\n")
    return h2.Peer(name, [vg, "-c", os.path.join(hd, "h2o.conf")], port, hd)


def run(server, d, n, a, www, key, crt, hello, tag):
    """The front end's instructions for n requests after start-up, whole and
    by object."""
    out = os.path.join(d, "cg")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    os.chmod(out, 0o1777)   # the front end runs as a user of its own
    tls = a.proto == "tls"
    if server == "h2o":
        binary = shutil.which("h2o")
        vg = vg_wrapper(d, out, binary, "nobody" if os.geteuid() == 0 else None)
        s = start_h2o(vg, d, www, key, crt, tls, name=f"cg-{tag}-{n}")
    else:
        binary = server
        vg = vg_wrapper(d, out, binary)
        s = h2.start_weir(vg, d, www, key, crt, hello, tls, name=f"cg-{tag}-{n}")
    try:
        url = f"{'https' if tls else 'http'}://127.0.0.1:{s.port}{a.path}"
        r = subprocess.run(["h2load", "-t", "1", "-c", "50", "-m", "10", "-n", str(n), url],
                           capture_output=True, text=True, timeout=600).stdout
        if f"{n} succeeded" not in r:
            raise RuntimeError("h2load: " + r[-400:])
    finally:
        s.stop()
    # the master, the front end and a worker's fork before its exec each
    # write a file (h2o: its helpers); the front end's is the largest
    top = max(glob.glob(f"{out}/cg.*"), key=totals)
    return totals(top), by_object(top, os.path.basename(binary))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("weir", nargs="+")
    ap.add_argument("--h2o", action="store_true", help="a row for h2o too")
    ap.add_argument("--path", default="/1k.bin")
    ap.add_argument("--proto", choices=("tls", "h2c"), default="tls")
    ap.add_argument("--n1", type=int, default=10000)
    ap.add_argument("--n2", type=int, default=30000)
    a = ap.parse_args()
    for tool in ("valgrind", "callgrind_annotate", "h2load") + (("h2o",) if a.h2o else ()):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed")
    d = tempfile.mkdtemp(prefix="weir-h2instr-")
    os.chmod(d, 0o755)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        www, key, crt, hello = h2.setup(d, None)
        os.chmod(key, 0o644)    # a throwaway key, read by h2o as nobody
        cols = [g for g, _ in GROUPS] + ["other"]
        print(f"| server | {a.path} instructions / request | " + " | ".join(cols) +
              " |\n|---|--:|" + "--:|" * len(cols))
        servers = [os.path.abspath(b) for b in a.weir] + (["h2o"] if a.h2o else [])
        for k, server in enumerate(servers):
            i1, o1 = run(server, d, a.n1, a, www, key, crt, hello, k)
            i2, o2 = run(server, d, a.n2, a, www, key, crt, hello, k)
            per = a.n2 - a.n1
            name = server if server == "h2o" else a.weir[k]
            print(f"| {name} | {(i2 - i1) / per:,.0f} | " +
                  " | ".join(f"{(o2[c] - o1[c]) / per:,.0f}" for c in cols) + " |", flush=True)
    finally:
        signal.signal(signal.SIGINT, old)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
