"""sbc-control TLS profile methods over the real socket: inspection on load
(certificate/key match, validity), refusal with nothing written, the private
key kept out of every output and log, the embedded default's certificate."""
import json
import os
import stat
import subprocess

import pytest

from test_control import Ctl, no_sanitizer_reports  # noqa: F401 (autouse)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def certs(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "key.pem", "-out", "cert.pem", "-subj", "/CN=carrier.example", "-days", "30",
            "-addext", "subjectAltName=DNS:carrier.example,IP:192.0.2.7", cwd=d)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "key2.pem", "-out", "cert2.pem", "-subj", "/CN=other.example", "-days", "30", cwd=d)
    openssl("req", "-new", "-key", "key.pem", "-subj", "/CN=old.example", "-out", "old.csr", cwd=d)
    openssl("x509", "-req", "-in", "old.csr", "-key", "key.pem", "-days", "-1", "-out", "expired.pem", cwd=d)
    (d / "garbage.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    return d


@pytest.fixture
def ctl(procs, tmp_path, build_dir):
    return Ctl(procs, tmp_path).start()


def test_tls_add_inspects_and_hides_the_key(ctl, certs):
    env = {"SBC_SOCKET": ctl.sock}
    r = ctl.ctl("tls", "add", "carrier", "--cert", str(certs / "cert.pem"), "--key", str(certs / "key.pem"),
                "--ca", str(certs / "cert2.pem"), "--sni", "carrier.example", "--min-version", "1.3",
                "--json", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["certificate"]["subject"] == "CN=carrier.example"
    assert "carrier.example" in out["certificate"]["sans"] and "192.0.2.7" in out["certificate"]["sans"]
    assert out["certificate"]["valid"] is True and out["certificate"]["key_type"] == "EC P-256"
    assert len(out["certificate"]["fingerprint_sha256"].replace(":", "")) == 64
    assert "PRIVATE KEY" not in r.stdout
    got = ctl.ok("tls.get", {"name": "carrier"})
    assert "PRIVATE KEY" not in json.dumps(got) and got["min_version"] == "1.3"
    assert "PRIVATE KEY" in json.dumps(ctl.ok("tls.get", {"name": "carrier", "include_key": True}))
    r = ctl.ctl("tls", "list", env=env)
    assert r.returncode == 0 and "carrier" in r.stdout and "CN=carrier.example" in r.stdout
    assert "PRIVATE KEY" not in r.stdout
    r = ctl.ctl("route", "export", env=env)
    assert "PRIVATE KEY" not in r.stdout
    # a trunk using it; the profile cannot go while the trunk names it
    ctl.ok("trunk.add", {"name": "carrier-a", "tls_profile": "carrier",
                         "destinations": ["tls:carrier.example:5061"]})
    e = ctl.call("tls.remove", {"name": "carrier"})["error"]
    assert e["code"] == -32003
    # update: a new certificate with its own key
    up = ctl.ok("tls.update", {"name": "carrier", "cert_pem": (certs / "cert2.pem").read_text(),
                               "key_pem": (certs / "key2.pem").read_text()})
    assert up["certificate"]["subject"] == "CN=other.example"
    ctl.ok("trunk.remove", {"name": "carrier-a"})
    assert ctl.ok("tls.remove", {"name": "carrier"})["removed"] is True
    assert "PRIVATE KEY" not in ctl.procs.log(ctl.p)


@pytest.mark.parametrize("cert,key,text", [
    ("expired.pem", "key.pem", "expired"),
    ("cert.pem", "key2.pem", "match"),
    ("garbage.pem", "key.pem", "cert"),
])
def test_bad_tls_material_refused_nothing_written(ctl, certs, cert, key, text):
    gen = ctl.status()["generations"]["tls"]
    r = ctl.call("tls.add", {"name": "bad", "cert_pem": (certs / cert).read_text(),
                             "key_pem": (certs / key).read_text()})
    assert "error" in r, r
    assert r["error"]["code"] in (-32008, -32602)
    assert text in r["error"]["message"].lower(), r["error"]["message"]
    assert "PRIVATE KEY" not in r["error"]["message"]
    assert ctl.call("tls.get", {"name": "bad"})["error"]["code"] == -32001
    assert ctl.status()["generations"]["tls"] == gen


def test_tls_update_refuses_expired_and_keeps_the_old(ctl, certs):
    ctl.ok("tls.add", {"name": "p", "cert_pem": (certs / "cert.pem").read_text(),
                       "key_pem": (certs / "key.pem").read_text()})
    e = ctl.call("tls.update", {"name": "p", "cert_pem": (certs / "expired.pem").read_text()})["error"]
    assert e["code"] == -32008 and "expired" in e["message"]
    assert ctl.ok("tls.get", {"name": "p"})["certificate"]["subject"] == "CN=carrier.example"
    assert ctl.call("tls.update", {"name": "ghost", "ciphers": "x"})["error"]["code"] == -32001


def test_embedded_default_makes_a_self_signed_ecdsa_certificate(procs, tmp_path, build_dir):
    c = Ctl(procs, tmp_path, config=False)
    c.start(cwd=tmp_path)
    d = c.ok("tls.get", {"name": "default"})
    cert = d["certificate"]
    assert cert["self_signed"] is True and cert["key_type"] == "EC P-256" and cert["valid"] is True
    assert "localhost" in cert["sans"] and "127.0.0.1" in cert["sans"]
    assert "PRIVATE KEY" not in json.dumps(d)
    fp = cert["fingerprint_sha256"]
    # LMDB files are private
    for f in (tmp_path / "run" / "store").iterdir():
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f
    # the certificate is made once: a restart keeps it
    c.ok("system.shutdown")
    assert c.p.wait(10) == 0
    c.start("control2", cwd=tmp_path)
    assert c.ok("tls.get", {"name": "default"})["certificate"]["fingerprint_sha256"] == fp
