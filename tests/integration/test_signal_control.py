"""sbc-signal under sbc-control (the process contract): started with --shm
and runtime.json, TLS material from the LMDB store (sbc-control's
self-signed default profile), counters through stats.get, a certificate
replaced with `sbcctl tls update` while an established connection stays up."""
import json
import socket
import ssl
import subprocess

import pytest

from conftest import BUILD, wait_for
from test_signal_common import (no_sanitizer_reports,  # noqa: F401
                                options, read_responses, start_control, Pki)


def sbcctl(sock, *args):
    r = subprocess.run([str(BUILD / "sbcctl"), "-s", str(sock), "--json", *args],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return json.loads(r.stdout) if r.stdout.strip().startswith(("{", "[")) else r.stdout


def tls_client():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def signal_tls_stats(stats):
    out = {}
    for w in stats["signal"]:
        for k, v in w.get("stats", {}).get("tls", {}).items():
            out[k] = out.get(k, 0) + v
    return out


def test_signal_under_control(procs, tmp_path):
    for b in ("sbc-control", "sbcctl", "sbc-signal", "sbc-media"):
        if not (BUILD / b).exists():
            pytest.skip(f"{b} not built")
    port, tls_port, sock, ctl = start_control(procs, tmp_path, "default", wait_tls=True)

    # an established TLS connection with the store's certificate
    s = tls_client().wrap_socket(socket.create_connection(("127.0.0.1", tls_port), timeout=5))
    first = s.getpeercert(True)
    s.sendall(options(callid="ctl-1", transport="TLS"))
    assert read_responses(s, 1)[0].startswith(b"SIP/2.0 200")

    st = wait_for(lambda: (lambda t: t if t.get("handshakes", 0) >= 1 else None)(
        signal_tls_stats(sbcctl(sock, "stats"))), what="signal counters in stats.get")
    assert st["msgs_in"] >= 1

    # replace the certificate through sbc-control
    k = Pki(tmp_path / "pki")
    k.ca("ca")
    cert, key = k.leaf("new", "ca", "ec", cn="replaced.example")
    sbcctl(sock, "tls", "update", "default", "--cert", cert, "--key", key)

    def new_cert_served():
        c = tls_client().wrap_socket(socket.create_connection(("127.0.0.1", tls_port), timeout=5))
        d = c.getpeercert(True)
        c.close()
        return d != first
    wait_for(new_cert_served, timeout=10, what="new certificate in service")
    # the old connection is untouched
    s.sendall(options(callid="ctl-2", transport="TLS"))
    assert read_responses(s, 1)[0].startswith(b"SIP/2.0 200")
    log = procs.log(ctl)
    assert "tls reload" in log
