"""The checks weir makes on certificates (docs/tls.md, "Checks weir makes on
certificates"): `weir check`, the master at start and on reload, and the
expiry in status, /metrics and events 1316/1317.

Every certificate is made here with the `openssl` command line: a root CA,
an intermediate, and leafs issued by it with the names and lifetimes each
test needs.
"""
import datetime
import json
import re
import socket
import subprocess
import time

import pytest

from conftest import WEIR, cli, free_port, wait_for

OPENSSL = "openssl"


def ossl(*args, cwd):
    r = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def ec_key(d, name):
    ossl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", f"{name}.key", cwd=d)
    return d / f"{name}.key"


def issue(d, name, issuer, *, ca=False, names=(), days=90):
    """A certificate NAME.crt (key NAME.key) signed by issuer (a name made
    here, or None for self-signed)."""
    ec_key(d, name)
    ext = d / f"{name}.ext"
    lines = (["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"]
             if ca else ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
                         "extendedKeyUsage=serverAuth"])
    lines.append("subjectKeyIdentifier=hash")
    if issuer is not None:
        lines.append("authorityKeyIdentifier=keyid")
    if names:
        lines.append("subjectAltName=" + ",".join(f"DNS:{n}" for n in names))
    ext.write_text("\n".join(lines) + "\n")
    ossl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}", "-out", f"{name}.csr",
         cwd=d)
    sign = (["-CA", f"{issuer}.crt", "-CAkey", f"{issuer}.key", "-CAcreateserial"]
            if issuer else ["-signkey", f"{name}.key"])
    ossl("x509", "-req", "-in", f"{name}.csr", *sign, "-days", str(days),
         "-extfile", ext.name, "-out", f"{name}.crt", cwd=d)
    return d / f"{name}.crt"


def not_after(path):
    out = ossl("x509", "-in", str(path), "-noout", "-enddate", cwd=path.parent)
    when = out.strip().split("=", 1)[1]
    return datetime.datetime.strptime(when, "%b %d %H:%M:%S %Y %Z").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def chain(d, name, *parts):
    """A file NAME.pem of the given certificate files, in order."""
    p = d / f"{name}.pem"
    p.write_text("".join(x.read_text() for x in parts))
    return p


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    issue(d, "root", None, ca=True, days=3650)
    issue(d, "inter", "root", ca=True, days=1000)
    return d


def site_conf(root, cert, key, hosts="www.example.test", name="shop"):
    return (f"[site {name}]\nhosts = {hosts}\nroot = {root}\n"
            f"certificate = {cert}\ncertificate_key = {key}\n")


def line_of(w, prefix):
    """The 1-based line of the config file that starts with prefix."""
    for i, ln in enumerate(w.conf_path.read_text().splitlines(), 1):
        if ln.startswith(prefix):
            return i
    raise AssertionError(f"no line {prefix!r} in {w.conf_path}")


def check(w):
    return subprocess.run([WEIR, "check", "-c", str(w.conf_path)], capture_output=True,
                          text=True, timeout=30)


def admin_get(w, path):
    """GET path from the admin API over its Unix socket: (status, body)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(w.state_dir / "admin.sock"))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: weir\r\nConnection: close\r\n\r\n".encode())
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def errors_at(r, w, line):
    """The lines of `weir check`'s stderr that are errors at that config line."""
    return [ln for ln in r.stderr.splitlines()
            if ln.startswith(f"{w.conf_path}:{line}: ") and ": warning: " not in ln]


# --- weir check -------------------------------------------------------------------------


def test_check_accepts_leaf_with_its_intermediate(make_weir, site, pki):
    leaf = issue(pki, "good", "inter", names=["www.example.test", "*.shop.example.test"])
    full = chain(pki, "good-chain", leaf, pki / "inter.crt")
    w = make_weir(site_conf(site, full, pki / "good.key",
                            hosts="www.example.test, a.shop.example.test, *.shop.example.test"),
                  start=False)
    r = check(w)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    # the root may be in the file too
    w.conf_path.write_text(w.conf_path.read_text().replace(
        str(full), str(chain(pki, "good-root", leaf, pki / "inter.crt", pki / "root.crt"))))
    r = check(w)
    assert r.returncode == 0, r.stderr


def test_check_mismatched_key(make_weir, site, pki):
    issue(pki, "mm", "inter", names=["www.example.test"])
    full = chain(pki, "mm-chain", pki / "mm.crt", pki / "inter.crt")
    other = ec_key(pki, "mm-other")
    w = make_weir(site_conf(site, full, other), start=False)
    r = check(w)
    assert r.returncode == 1
    # the loader compares key and certificate (tlsload.c): at the key's line
    errs = errors_at(r, w, line_of(w, "certificate_key ="))
    assert len(errs) == 1 and "does not match" in errs[0] and str(other) in errs[0], r.stderr
    assert "it is another EC key than the certificate's" in errs[0], errs
    # an RSA key for an ECDSA certificate says which is which
    ossl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "mm-rsa.key",
         cwd=pki)
    w.conf_path.write_text(w.conf_path.read_text().replace(str(other), str(pki / "mm-rsa.key")))
    r = check(w)
    errs = errors_at(r, w, line_of(w, "certificate_key ="))
    assert r.returncode == 1 and len(errs) == 1, r.stderr
    assert "it is an RSA key, the certificate's is EC" in errs[0], errs
    # a key file that is not a key: at the certificate_key line
    w.conf_path.write_text(w.conf_path.read_text().replace(str(pki / "mm-rsa.key"), str(full)))
    r = check(w)
    errs = errors_at(r, w, line_of(w, "certificate_key ="))
    assert r.returncode == 1 and len(errs) == 1 and "not an unencrypted PEM private key" in errs[0], r.stderr


def test_check_missing_intermediate(make_weir, site, pki):
    leaf = issue(pki, "alone", "inter", names=["www.example.test"])
    w = make_weir(site_conf(site, leaf, pki / "alone.key"), start=False)
    r = check(w)
    errs = errors_at(r, w, line_of(w, "certificate ="))
    assert r.returncode == 1 and len(errs) == 1, r.stderr
    assert "chain is incomplete" in errs[0] and "(/CN=inter)" in errs[0], errs
    # the intermediate in the wrong place: the leaf is not issued by the root
    w.conf_path.write_text(w.conf_path.read_text().replace(
        str(leaf), str(chain(pki, "alone-wrong", leaf, pki / "root.crt", pki / "inter.crt"))))
    r = check(w)
    errs = errors_at(r, w, line_of(w, "certificate ="))
    assert r.returncode == 1 and any("not issued by the next" in e for e in errs), r.stderr
    # something after the chain that is not a certificate
    junk = pki / "alone-junk.pem"
    junk.write_text(leaf.read_text() + (pki / "inter.crt").read_text() +
                    "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    w.conf_path.write_text(w.conf_path.read_text().replace(str(pki / "alone-wrong.pem"), str(junk)))
    r = check(w)
    errs = errors_at(r, w, line_of(w, "certificate ="))
    assert r.returncode == 1 and len(errs) == 1, r.stderr
    assert "certificate 3 in the file is not a PEM certificate" in errs[0], errs
    w.conf_path.write_text(w.conf_path.read_text().replace(str(junk), str(pki / "alone-wrong.pem")))
    # a self-signed certificate needs no chain
    issue(pki, "self", None, names=["www.example.test"])
    w.conf_path.write_text(w.conf_path.read_text().replace(
        str(pki / "alone-wrong.pem"), str(pki / "self.crt")).replace(
        str(pki / "alone.key"), str(pki / "self.key")))
    r = check(w)
    assert r.returncode == 0, r.stderr


def test_check_names_must_cover_hosts(make_weir, site, pki):
    issue(pki, "names", "inter", names=["www.example.test", "*.api.example.test"])
    full = chain(pki, "names-chain", pki / "names.crt", pki / "inter.crt")
    w = make_weir(site_conf(site, full, pki / "names.key",
                            hosts="www.example.test, v1.api.example.test, example.test, "
                                  "a.b.api.example.test, *.example.test"),
                  start=False)
    r = check(w)
    errs = errors_at(r, w, line_of(w, "certificate ="))
    assert r.returncode == 1 and len(errs) == 1, r.stderr
    m = re.search(r"do not cover the site's hosts (.*) \(the certificate's subjectAltName: (.*)\)",
                  errs[0])
    assert m, errs[0]
    # RFC 6125: the wildcard is one label; a wildcard host needs the same wildcard
    assert m.group(1) == "example.test, a.b.api.example.test, *.example.test", m.group(1)
    assert m.group(2) == "www.example.test, *.api.example.test"
    # a wildcard host is covered by the same wildcard
    w.conf_path.write_text(w.conf_path.read_text().replace(
        "hosts = www.example.test, v1.api.example.test, example.test, "
        "a.b.api.example.test, *.example.test",
        "hosts = WWW.example.test, *.api.example.test, x.api.example.test"))
    r = check(w)
    assert r.returncode == 0, r.stderr


def test_check_expiry_warning_and_error(make_weir, site, pki):
    issue(pki, "soon", "inter", names=["www.example.test"], days=10)
    soon = chain(pki, "soon-chain", pki / "soon.crt", pki / "inter.crt")
    w = make_weir(site_conf(site, soon, pki / "soon.key"), start=False)
    r = check(w)
    line = line_of(w, "certificate =")
    assert r.returncode == 0, r.stderr
    warn = [ln for ln in r.stderr.splitlines() if ln.startswith(f"{w.conf_path}:{line}: warning: ")]
    assert len(warn) == 1 and re.search(r"expires on \S+ \S+ UTC \((in )?(9|10) days\)", warn[0]), \
        r.stderr
    assert "ok" in r.stdout
    issue(pki, "gone", "inter", names=["www.example.test"], days=-1)
    gone = chain(pki, "gone-chain", pki / "gone.crt", pki / "inter.crt")
    w.conf_path.write_text(w.conf_path.read_text().replace(str(soon), str(gone)).replace(
        str(pki / "soon.key"), str(pki / "gone.key")))
    r = check(w)
    errs = errors_at(r, w, line)
    assert r.returncode == 1 and len(errs) == 1 and "expired on" in errs[0], r.stderr


# --- the master: start, reload, status, metrics, events ----------------------------------


def test_start_refused_with_bad_certificate(make_weir, site, pki):
    issue(pki, "st", "inter", names=["www.example.test"])
    w = make_weir(site_conf(site, pki / "st.crt", pki / "st.key"), start=False)
    w.start(wait=False)
    assert w.proc.wait(timeout=30) == 78
    line = line_of(w, "certificate =")
    assert f"{w.conf_path}:{line}: " in w.log() and "chain is incomplete" in w.log(), w.log()
    assert w.stop() == 78


def served_cn(port, name):
    """The CN of the certificate weir serves for SNI name, by `openssl s_client`."""
    r = subprocess.run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}",
                        "-servername", name], input=b"", capture_output=True, timeout=30)
    x = subprocess.run([OPENSSL, "x509", "-noout", "-subject"], input=r.stdout,
                       capture_output=True, timeout=30)
    assert x.returncode == 0, (r.stdout, r.stderr)
    return x.stdout.decode().strip().split("CN = ", 1)[1]


def test_reload_with_bad_certificate_is_refused(make_weir, site, pki):
    issue(pki, "rl", "inter", names=["www.example.test"], days=40)
    good = chain(pki, "rl-chain", pki / "rl.crt", pki / "inter.crt")
    tls = free_port()
    w = make_weir(site_conf(site, good, pki / "rl.key"),
                  server_extra=f"listen = 127.0.0.1:{tls} tls\n")
    assert served_cn(tls, "www.example.test") == "rl"
    before = json.loads(cli(w, "status", "--json").stdout)["tls_certificates"]
    assert [c["certificate"] for c in before] == [str(good)]
    # the new certificate without its intermediate: refused, the old one serves on
    issue(pki, "rl2", "inter", names=["www.example.test"], days=60)
    w.conf_path.write_text(w.conf_path.read_text().replace(str(good), str(pki / "rl2.crt"))
                           .replace(str(pki / "rl.key"), str(pki / "rl2.key")))
    r = cli(w, "reload")
    line = line_of(w, "certificate =")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"{w.conf_path}:{line}: " in r.stderr and "chain is incomplete" in r.stderr, r.stderr
    ev = [e for e in w.events() if e["id"] == 1304]
    assert len(ev) == 1 and any(f":{line}: " in x and "chain is incomplete" in x
                                for x in ev[0]["errors"]), ev
    assert served_cn(tls, "www.example.test") == "rl"
    after = json.loads(cli(w, "status", "--json").stdout)
    assert after["generation"] == 1
    assert [(c["certificate"], c["not_after"]) for c in after["tls_certificates"]] == \
        [(c["certificate"], c["not_after"]) for c in before]
    # with its chain the reload goes through: served, and in status
    new = chain(pki, "rl2-chain", pki / "rl2.crt", pki / "inter.crt")
    w.conf_path.write_text(w.conf_path.read_text().replace(str(pki / "rl2.crt"), str(new)))
    r = cli(w, "reload")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: served_cn(tls, "www.example.test") == "rl2", what="the new certificate")
    now = json.loads(cli(w, "status", "--json").stdout)["tls_certificates"]
    assert [c["certificate"] for c in now] == [str(new)]
    assert abs(now[0]["expires_in_s"] - (not_after(pki / "rl2.crt") - time.time())) < 5


def test_status_and_metrics_show_expiry(make_weir, site, pki):
    issue(pki, "ex", "inter", names=["www.example.test"], days=30)
    issue(pki, "ex2", "inter", names=["*.example.test"], days=200)
    ex = chain(pki, "ex-chain", pki / "ex.crt", pki / "inter.crt")
    ex2 = chain(pki, "ex2-chain", pki / "ex2.crt", pki / "inter.crt")
    w = make_weir(site_conf(site, ex, pki / "ex.key") +
                  site_conf(site, ex2, pki / "ex2.key", hosts="api.example.test", name="api"))
    want = {"shop": not_after(pki / "ex.crt"), "api": not_after(pki / "ex2.crt")}
    st = json.loads(cli(w, "status", "--json").stdout)
    got = {c["site"]: c for c in st["tls_certificates"]}
    assert set(got) == {"shop", "api"}
    for name, na in want.items():
        assert abs(got[name]["expires_in_s"] - (na - time.time())) < 5, (name, got[name])
        assert got[name]["not_after"] == datetime.datetime.fromtimestamp(
            na, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, text = admin_get(w, "/metrics")
    assert code == 200
    assert "# TYPE weir_tls_certificate_expiry_seconds gauge" in text
    for name, path in (("shop", ex), ("api", ex2)):
        m = re.search(r'^weir_tls_certificate_expiry_seconds\{site="%s",certificate="%s"\} (-?\d+)$'
                      % (name, re.escape(str(path))), text, re.M)
        assert m, text
        assert abs(int(m.group(1)) - (want[name] - time.time())) < 5
    out = cli(w, "status").stdout
    assert re.search(r"^site shop: certificate %s expires \S+ \(in (29|30)d" % re.escape(str(ex)),
                     out, re.M), out
    # no 14-day event for certificates that have longer
    assert not [e for e in w.events() if e["id"] in (1316, 1317)]


def test_expiry_events_once_per_threshold(make_weir, site, pki):
    issue(pki, "ten", "inter", names=["www.example.test"], days=10)
    ten = chain(pki, "ten-chain", pki / "ten.crt", pki / "inter.crt")
    w = make_weir(site_conf(site, ten, pki / "ten.key"))
    ev = wait_for(lambda: [e for e in w.events() if e["id"] == 1316], what="event 1316")
    assert len(ev) == 1
    e = ev[0]
    assert e["level"] == "warning" and e["site"] == "shop" and e["certificate"] == str(ten)
    assert abs(e["expires_in_s"] - (not_after(pki / "ten.crt") - time.time())) < 5
    assert re.search(r"expires on \S+ \(in (9|10) days\)", e["message"]), e["message"]
    assert "pool" not in e
    # a reload with the same certificate does not say it again
    assert cli(w, "reload").returncode == 0
    assert [x for x in w.events() if x["id"] == 1303]
    assert len([x for x in w.events() if x["id"] == 1316]) == 1
    # a certificate with 2 days left: the 3-day event (an error), once
    issue(pki, "two", "inter", names=["www.example.test"], days=2)
    two = chain(pki, "two-chain", pki / "two.crt", pki / "inter.crt")
    w.conf_path.write_text(w.conf_path.read_text().replace(str(ten), str(two)).replace(
        str(pki / "ten.key"), str(pki / "two.key")))
    assert cli(w, "reload").returncode == 0
    ev = wait_for(lambda: [x for x in w.events() if x["id"] == 1317], what="event 1317")
    assert len(ev) == 1 and ev[0]["level"] == "error" and ev[0]["certificate"] == str(two)
    assert len([x for x in w.events() if x["id"] == 1316]) == 1
    assert cli(w, "reload").returncode == 0
    assert len([x for x in w.events() if x["id"] == 1317]) == 1
