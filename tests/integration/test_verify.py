"""`weir verify`: components against the MANIFEST and against each other.

The build tree verifies clean; a copy of it (weir, weir-host, MANIFEST,
modules/) verifies clean too, and then each way an update can go wrong is
replayed on the copy: a module built against a module.h with the ABI bumped
(the seed's failure), an altered file, a missing file, a version the
MANIFEST does not list, a MANIFEST from another ABI, an unlisted module for
another ABI.  Each is named with expected and found values and exits 1.
Also: --json, --manifest, and the installed layout (meson install into a
DESTDIR: the installed weir finds the installed MANIFEST, and a module
builds with `pkg-config --cflags weir-module`).
"""
import json
import os
import shutil
import subprocess

import pytest

from conftest import module_abi, module_h_for_abi

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("WEIR_SRC", os.path.abspath(os.path.join(HERE, "..", "..")))
WEIR = os.environ.get("WEIR_BIN", os.path.join(SRC, "build", "weir"))
BUILD = os.path.dirname(os.path.abspath(WEIR))
ABI = module_abi()
NEXT = ABI + 1      # what a module built against a bumped module.h says
CORE = ["weir", "weir-host", "modules/hello.so", "modules/cgi.so"]


def verify(weir=WEIR, *args):
    return subprocess.run([weir, "verify", *args], capture_output=True, text=True,
                          timeout=60)


def rows(out):
    """Table rows (between the COMPONENT header and the blank line) as
    {component: line}."""
    res, inside = {}, False
    for line in out.splitlines():
        if line.startswith("COMPONENT "):
            inside = True
        elif inside and not line.strip():
            break
        elif inside:
            res[line.split()[0]] = line
    return res


@pytest.fixture
def tree(tmp_path):
    """A flat copy of the build tree's components and MANIFEST."""
    d = tmp_path / "tree"
    (d / "modules").mkdir(parents=True)
    for p in CORE + ["MANIFEST"]:
        shutil.copy2(os.path.join(BUILD, p), d / p)
    return d


def bumped_module(tmp_path, src, out):
    """Build src against a copy of module.h with WEIR_MODULE_ABI bumped."""
    inc = tmp_path / "inc" / "weir"
    inc.mkdir(parents=True, exist_ok=True)
    (inc / "module.h").write_text(module_h_for_abi(NEXT))
    subprocess.run(["cc", "-shared", "-fPIC", "-I", str(tmp_path / "inc"), "-o",
                    str(out), src], check=True)


def test_build_tree_verifies(capsys):
    r = verify()
    assert r.returncode == 0, r.stdout + r.stderr
    t = rows(r.stdout)
    for name in ("weir", "weir-host", "hello", "cgi"):
        assert name in t, r.stdout
        assert t[name].split()[-1] == "ok", t[name]
    assert f"0.1.0 / ABI {ABI}" in t["hello"]
    assert f"MANIFEST {BUILD}/MANIFEST" in r.stdout
    assert "weir verify: 4 components ok" in r.stdout
    print(r.stdout)   # the docs quote this


def test_build_tree_json():
    r = verify(WEIR, "--json")
    assert r.returncode == 0
    j = json.loads(r.stdout)
    assert j["ok"] is True and j["problems"] == 0 and j["weir"]["abi"] == ABI
    comps = {c["component"]: c for c in j["components"]}
    assert set(comps) >= {"weir", "weir-host", "hello", "cgi"}
    for c in comps.values():
        assert c["ok"] and c["sha256_ok"] is True and c["found_abi"] == ABI
        assert len(c["sha256"]) == 64
    assert comps["hello"]["path"] == "modules/hello.so"


def test_copied_tree_verifies(tree):
    r = verify(str(tree / "weir"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"MANIFEST {tree}/MANIFEST" in r.stdout


def test_abi_bumped_module_is_named(tree, tmp_path):
    """The seed: hello.so replaced by one built for the next ABI."""
    bumped_module(tmp_path, os.path.join(SRC, "modules", "hello.c"),
                  tree / "modules" / "hello.so")
    r = verify(str(tree / "weir"))
    assert r.returncode == 1
    t = rows(r.stdout)
    assert t["hello"].split()[1] == "modules/hello.so"
    assert f"0.1.0 / ABI {ABI}  0.1.0 / ABI {NEXT}  DIFFERS" in t["hello"]
    assert f"ABI mismatch (expected {ABI}, found {NEXT})" in t["hello"]
    assert t["cgi"].endswith("  ok") and t["weir-host"].endswith("  ok")
    assert "weir verify: 1 problem:" in r.stdout
    assert (f"  {tree}/modules/hello.so (hello): ABI mismatch (expected {ABI}, found {NEXT}); "
            "SHA-256 differs from MANIFEST") in r.stdout

    j = json.loads(verify(str(tree / "weir"), "--json").stdout)
    assert j["ok"] is False and j["problems"] == 1
    hello = [c for c in j["components"] if c["component"] == "hello"][0]
    assert (hello["expected_abi"], hello["found_abi"]) == (ABI, NEXT)
    assert (hello["expected"] == f"0.1.0 (ABI {ABI})"
            and hello["found"] == f"0.1.0 (ABI {NEXT})")
    assert hello["sha256_ok"] is False and hello["ok"] is False


def test_altered_file_sha_mismatch(tree):
    with open(tree / "weir-host", "ab") as f:
        f.write(b"\0")
    r = verify(str(tree / "weir"))
    assert r.returncode == 1
    t = rows(r.stdout)
    assert "DIFFERS" in t["weir-host"] and t["weir-host"].endswith(
        "SHA-256 differs from MANIFEST")
    assert f"{tree}/weir-host (weir-host): SHA-256 differs from MANIFEST" in r.stdout


def test_missing_file(tree):
    os.unlink(tree / "modules" / "cgi.so")
    r = verify(str(tree / "weir"))
    assert r.returncode == 1
    t = rows(r.stdout)
    assert "missing" in t["cgi"] and "missing (No such file or directory)" in t["cgi"]


def test_version_not_the_listed_one(tree):
    m = (tree / "MANIFEST").read_text().replace("hello\tmodules/hello.so\t0.1.0",
                                                "hello\tmodules/hello.so\t0.2.0")
    (tree / "MANIFEST").write_text(m)
    r = verify(str(tree / "weir"))
    assert r.returncode == 1
    assert "version mismatch (expected 0.2.0, found 0.1.0)" in rows(r.stdout)["hello"]


def test_manifest_from_another_abi(tree):
    m = (tree / "MANIFEST").read_text().replace(f"cgi\tmodules/cgi.so\t0.1.0\t{ABI}",
                                                f"cgi\tmodules/cgi.so\t0.1.0\t{NEXT}")
    (tree / "MANIFEST").write_text(m)
    r = verify(str(tree / "weir"))
    assert r.returncode == 1
    assert f"MANIFEST lists ABI {NEXT}, this weir has ABI {ABI}" in rows(r.stdout)["cgi"]


def test_unlisted_modules(tree, tmp_path):
    shutil.copy2(os.path.join(BUILD, "tests", "modules", "slow.so"), tree / "modules")
    r = verify(str(tree / "weir"))
    assert r.returncode == 0, r.stdout
    assert "ok (not in MANIFEST)" in rows(r.stdout)["slow"]
    bumped_module(tmp_path, os.path.join(SRC, "tests", "modules", "marker.c"),
                  tree / "modules" / "marker.so")
    r = verify(str(tree / "weir"))
    assert r.returncode == 1
    marker = rows(r.stdout)["marker"]
    assert (f"0.0.1 / ABI {NEXT}" in marker
            and f"ABI mismatch (expected {ABI}, found {NEXT})" in marker)


def test_manifest_option_and_missing_manifest(tree, tmp_path):
    r = verify(WEIR, "--manifest", str(tree / "MANIFEST"))
    assert r.returncode == 0 and f"MANIFEST {tree}/MANIFEST" in r.stdout
    os.unlink(tree / "MANIFEST")
    r = verify(str(tree / "weir"))
    assert r.returncode == 1
    assert f"weir verify: {tree}/MANIFEST: No such file or directory" in r.stderr
    j = json.loads(verify(str(tree / "weir"), "--json").stdout)
    assert j["ok"] is False and "No such file" in j["error"]
    (tmp_path / "bad").write_text("weir weir 0.1.0 1 nothex\n")
    r = verify(WEIR, "--manifest", str(tmp_path / "bad"))
    assert r.returncode == 1 and "bad:1: malformed entry" in r.stderr
    assert verify(WEIR, "--bogus").returncode == 2


def test_installed_layout(tmp_path):
    """meson install into a DESTDIR: the installed weir finds the installed
    MANIFEST (written from the installed files) relative to itself, and a
    module builds with pkg-config alone."""
    dest = tmp_path / "dest"
    r = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--quiet",
                        "--destdir", str(dest)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    weirs = [os.path.join(dp, "weir") for dp, _, fs in os.walk(dest)
             if "weir" in fs and dp.endswith("/bin")]
    assert len(weirs) == 1
    manifests = [os.path.join(dp, "MANIFEST") for dp, _, fs in os.walk(dest)
                 if "MANIFEST" in fs]
    assert len(manifests) == 1 and manifests[0].endswith("/weir/MANIFEST")
    pkgdir = os.path.dirname(manifests[0])
    assert os.path.exists(os.path.join(pkgdir, "weir-host"))
    assert os.path.exists(os.path.join(pkgdir, "modules", "hello.so"))
    text = open(manifests[0]).read()
    assert "\nweir\t../../" in text          # the binary, relative to the MANIFEST

    r = verify(weirs[0])
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"MANIFEST {pkgdir}/MANIFEST" in r.stdout

    pcs = [os.path.join(dp, "weir-module.pc") for dp, _, fs in os.walk(dest)
           if "weir-module.pc" in fs]
    assert len(pcs) == 1
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]),
               PKG_CONFIG_SYSROOT_DIR=str(dest))
    cflags = subprocess.run(["pkg-config", "--cflags", "weir-module"], env=env,
                            capture_output=True, text=True, check=True).stdout.split()
    abi = subprocess.run(["pkg-config", "--variable=abi", "weir-module"], env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert abi == str(ABI)
    out = tmp_path / "hello.so"
    subprocess.run(["cc", "-shared", "-fPIC", *cflags, "-o", str(out),
                    os.path.join(SRC, "modules", "hello.c")], check=True)
    assert out.exists()
