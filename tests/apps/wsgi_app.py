"""A WSGI app for weir's gunicorn tests (gunicorn takes fd 3 via LISTEN_FDS)."""
import os
import time


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path.endswith("/slow"):
        time.sleep(0.2)
    if path.endswith("/healthz"):
        body = b"ok"
    else:
        body = ("hello from %d\n" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
