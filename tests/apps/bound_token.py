"""Channel-bound tokens: the example app of docs/tls.md, "Channel binding
for applications" (WSGI; run by gunicorn in weir's tests).

A token is the user's name and an HMAC over the name and the TLS
connection's channel binding, which weir gives every request as
X-TLS-Exporter (TLS 1.3, RFC 9266) or X-TLS-Unique (TLS 1.2, RFC 5929).
Stolen and replayed on another connection, the binding differs and the
token is refused: a relayed credential is useless (Extended Protection).

  POST /login?user=NAME  -> a token bound to this connection
  GET  /me               -> 200 NAME with "Authorization: Bearer TOKEN" sent
                            on the connection it was issued on, else 401
  GET  /tls              -> the X-TLS-* and X-Forwarded-Proto it got, JSON
"""
import hashlib
import hmac
import json
import os
import urllib.parse

KEY = os.urandom(32)    # one process; a real app keeps its key across restarts


def binding(environ):
    """This connection's channel binding, or None over cleartext."""
    return environ.get("HTTP_X_TLS_EXPORTER") or environ.get("HTTP_X_TLS_UNIQUE")


def mac(user, cb):
    return hmac.new(KEY, f"{user}\n{cb}".encode(), hashlib.sha256).hexdigest()


def app(environ, start_response):
    path, cb = environ.get("PATH_INFO", "/"), binding(environ)
    status, body = "200 OK", ""
    if path.endswith("/login"):
        user = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("user", ["?"])[0]
        if cb is None:
            status, body = "403 Forbidden", "login needs TLS\n"
        else:
            body = f"{user}.{mac(user, cb)}"
    elif path.endswith("/me"):
        token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
        user, _, got = token.partition(".")
        if cb is not None and hmac.compare_digest(got, mac(user, cb)):
            body = user
        else:
            status, body = "401 Unauthorized", "token not bound to this connection\n"
    elif path.endswith("/tls"):
        body = json.dumps({k: v for k, v in environ.items()
                           if k.startswith("HTTP_X_TLS_") or k == "HTTP_X_FORWARDED_PROTO"})
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
