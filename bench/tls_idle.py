#!/usr/bin/python3
"""Idle TLS connections: how much memory a server's process keeps for them.

    bench/tls_idle.py --port 8443 --cafile ca.pem --name a.test --pid PID [--conns 10000]

Opens --conns TLS connections to 127.0.0.1:PORT (SNI --name, certificates
checked against --cafile), sends one request on each (GET /, read the whole
response) so every connection is past its handshake and idle in keep-alive,
waits 2 s, then prints VmRSS of process PID (the front end) before and after,
and closes them.  Runs as one process: raise `ulimit -n` above --conns.
"""
import argparse
import socket
import ssl
import time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def one(ctx, port, name):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    t = ctx.wrap_socket(s, server_hostname=name)
    t.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += t.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    n = 0
    for ln in head.split(b"\r\n"):
        if ln.lower().startswith(b"content-length:"):
            n = int(ln.split(b":")[1])
    while len(body) < n:
        body += t.recv(65536)
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--conns", type=int, default=10000)
    a = ap.parse_args()
    ctx = ssl.create_default_context(cafile=a.cafile)
    before = rss_kb(a.pid)
    t0 = time.monotonic()
    conns = [one(ctx, a.port, a.name) for _ in range(a.conns)]
    took = time.monotonic() - t0
    time.sleep(2)
    after = rss_kb(a.pid)
    print(f"{len(conns)} idle TLS connections (opened in {took:.1f} s): "
          f"RSS {before / 1024:.1f} MB before, {after / 1024:.1f} MB with them, "
          f"{(after - before) / len(conns):.2f} KB each")
    for t in conns:
        t.close()


if __name__ == "__main__":
    main()
