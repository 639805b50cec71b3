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

    /usr/bin/python3 bench/h2instr.py ./build/weir [/work/main/build/weir ...] \
        [--path /1k.bin] [--proto tls|h2c]

Needs valgrind (Debian `valgrind`) and h2load (`nghttp2-client`).
"""
import argparse
import glob
import os
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


def run(binary, d, n, a, www, key, crt, hello, tag):
    """The front end's instructions for n requests after start-up."""
    out = os.path.join(d, "cg")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    os.chmod(out, 0o1777)   # the front end runs as a user of its own
    vg = os.path.join(d, "vg-weir")
    with open(vg, "w") as f:
        f.write("#!/bin/sh\nexec valgrind -q --tool=callgrind "
                f"--callgrind-out-file={out}/cg.%p {binary} \"$@\"\n")
    os.chmod(vg, 0o755)
    tls = a.proto == "tls"
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
    # write a file; the front end's is the largest
    return max(totals(p) for p in glob.glob(f"{out}/cg.*"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("weir", nargs="+")
    ap.add_argument("--path", default="/1k.bin")
    ap.add_argument("--proto", choices=("tls", "h2c"), default="tls")
    ap.add_argument("--n1", type=int, default=10000)
    ap.add_argument("--n2", type=int, default=30000)
    a = ap.parse_args()
    for tool in ("valgrind", "h2load"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed")
    d = tempfile.mkdtemp(prefix="weir-h2instr-")
    os.chmod(d, 0o755)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        www, key, crt, hello = h2.setup(d, None)
        print(f"| weir | {a.path} instructions / request |\n|---|--:|")
        for k, b in enumerate(a.weir):
            binary = os.path.abspath(b)
            i1 = run(binary, d, a.n1, a, www, key, crt, hello, k)
            i2 = run(binary, d, a.n2, a, www, key, crt, hello, k)
            print(f"| {b} | {(i2 - i1) / (a.n2 - a.n1):,.0f} |", flush=True)
    finally:
        signal.signal(signal.SIGINT, old)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
