"""A WSGI app for weir's gunicorn tests (gunicorn takes fd 3 via LISTEN_FDS).

/environ answers the request's HTTP_* variables and REMOTE_ADDR as JSON:
what an application sees once the server (gunicorn) has merged header names
into the CGI-style environ.
"""
import json
import os
import time


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path.endswith("/slow"):
        time.sleep(0.2)
    if path.endswith("/healthz"):
        body = b"ok"
    elif path.endswith("/environ"):
        body = json.dumps({k: v for k, v in environ.items()
                           if k.startswith("HTTP_") or k == "REMOTE_ADDR"}).encode()
    elif path.endswith("/upload"):
        # read the whole body, as an upload handler does (a worker held by it)
        n = int(environ.get("CONTENT_LENGTH") or 0)
        got = len(environ["wsgi.input"].read(n)) if n else 0
        body = ("got %d\n" % got).encode()
    else:
        body = ("hello from %d\n" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
