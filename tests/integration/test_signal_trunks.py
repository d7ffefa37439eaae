"""Trunks at the transport layer, under sbc-control: a client certificate
must be named by a trunk (refused during the handshake otherwise, before
any SIP is read), sources that match no trunk get 403, per-trunk counters
show up in stats.get."""
import json
import socket
import ssl
import subprocess

import pytest

from conftest import BUILD, wait_for
from test_signal_common import (no_sanitizer_reports,  # noqa: F401
                                Pki, client_ctx, options, read_responses, start_control, tls_connect)


def sbcctl(sock, *args, check=True):
    r = subprocess.run([str(BUILD / "sbcctl"), "-s", str(sock), "--json", *args],
                       capture_output=True, text=True, timeout=20)
    if check:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return json.loads(r.stdout) if r.stdout.strip().startswith(("{", "[")) else r.stdout


def trunk_stats(stats):
    out = {}
    for w in stats["signal"]:
        for name, c in w.get("stats", {}).get("trunks", {}).items():
            o = out.setdefault(name, {})
            for k, v in c.items():
                o[k] = o.get(k, 0) + v
    return out


def tls_stat(stats, key):
    return sum(w.get("stats", {}).get("tls", {}).get(key, 0) for w in stats["signal"])


def mtls_control(procs, tmp_path, clients):
    """sbc-control with an "mtls" profile that requires a client certificate
    of clientca; clients: {leaf name: its DNS name}, each a client
    certificate of clientca. Returns (pki, port, tls_port, socket, ctl)."""
    for b in ("sbc-control", "sbcctl", "sbc-signal", "sbc-media"):
        if not (BUILD / b).exists():
            pytest.skip(f"{b} not built")
    k = Pki(tmp_path / "pki")
    k.ca("ca")
    k.ca("clientca")
    k.leaf("srv", "ca", "ec", cn="sbc.example")
    for name, dns in clients.items():
        k.leaf(name, "clientca", "ec", cn=dns, san=f"DNS:{dns}", client=True)
    port, tls_port, sock, ctl = start_control(procs, tmp_path, "mtls", wait_tls=False)
    sbcctl(sock, "tls", "add", "mtls", "--cert", k.p("srv.pem"), "--key", k.p("srv.key"),
           "--ca", k.p("clientca.pem"), "--require-client-cert")
    return k, port, tls_port, sock, ctl


def test_trunks_by_certificate_and_address(procs, tmp_path):
    k, port, tls_port, sock, ctl = mtls_control(procs, tmp_path, {"good": "carrier-a.example",
                                                                  "stranger": "stranger.example"})
    sbcctl(sock, "trunk", "add", "carrier-a", "--cert-san", "carrier-a.example",
           "--dest", "tls:127.0.0.1:5999", "--tls-profile", "mtls", "--enable")
    sbcctl(sock, "trunk", "add", "udp-peer", "--inbound-cidr", "127.0.0.5/32",
           "--dest", "udp:127.0.0.5:5060", "--enable")

    u5 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u5.bind(("127.0.0.5", 0))
    u5.settimeout(3)
    u6 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u6.bind(("127.0.0.6", 0))
    u6.settimeout(0.5)

    def strangers_refused():
        u6.sendto(options(callid="u6"), ("127.0.0.1", port))
        try:
            return u6.recv(4096).startswith(b"SIP/2.0 403")
        except socket.timeout:
            return False
    # the trunks reach every worker (generation watched, CONFIG_CHANGED)
    wait_for(strangers_refused, timeout=15, what="trunks in service")
    u5.sendto(options(callid="u5"), ("127.0.0.1", port))
    assert u5.recv(4096).startswith(b"SIP/2.0 200")

    def good_handshake():
        try:
            s = tls_connect(tls_port, client_ctx(k, cert="good"))
            s.sendall(options(callid="t-good", transport="TLS"))
            r = read_responses(s, 1)
            s.close()
            return r and r[0].startswith(b"SIP/2.0 200")
        except (ssl.SSLError, OSError):
            return False
    wait_for(good_handshake, timeout=15, what="mtls profile in service")

    # a resumed session (the server kept only the certificate's hash) still
    # maps to the carrier's identity and trunk
    ctx = client_ctx(k, cert="good")
    s = tls_connect(tls_port, ctx)
    s.sendall(options(callid="t-first", transport="TLS"))
    assert read_responses(s, 1)[0].startswith(b"SIP/2.0 200")
    sess = s.session
    s.close()
    s = tls_connect(tls_port, ctx, session=sess)
    assert s.session_reused
    s.sendall(options(callid="t-resumed", transport="TLS"))
    assert read_responses(s, 1)[0].startswith(b"SIP/2.0 200")
    s.close()

    # a certificate from the trusted CA that no trunk names: refused in the handshake
    for _ in range(2):
        err = None
        try:
            s = tls_connect(tls_port, client_ctx(k, cert="stranger"))
            s.sendall(options(callid="t-stranger", transport="TLS"))
            err = "answered" if s.recv(4096) else "closed"
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
            err = str(e)
        assert err != "answered", err

    def counted():
        st = sbcctl(sock, "stats")
        ts = trunk_stats(st)
        ok = (ts.get("carrier-a", {}).get("handshakes", 0) >= 1 and
              ts.get("carrier-a", {}).get("msgs_in", 0) >= 1 and
              ts.get("udp-peer", {}).get("msgs_in", 0) >= 1 and
              tls_stat(st, "hs_fail_no_trunk") >= 1)
        return ok and st
    wait_for(counted, timeout=10, what="per-trunk counters")


def test_cert_trunk_added_applies_to_open_mtls_connection(procs, tmp_path):
    """An mTLS connection accepted while no trunk named certificates got its
    trunk by address. Once a trunk names certificates, a new connection with
    a certificate no trunk names is refused in the handshake; the one left
    open must not keep its address trunk (it got 200 before the fix):
    named again by its certificate, it gets 403 as an unknown source."""
    k, port, tls_port, sock, ctl = mtls_control(procs, tmp_path, {"stranger": "stranger.example"})
    sbcctl(sock, "trunk", "add", "by-addr", "--inbound-cidr", "127.0.0.7/32",
           "--dest", "udp:127.0.0.7:5060", "--enable")
    n = [0]

    def ask(s):
        n[0] += 1
        s.sendall(options(callid=f"t-{n[0]}", branch=f"z9hG4bK-{n[0]}", transport="TLS"))
        r = read_responses(s, 1)
        return r[0] if r else b""

    def connected():
        try:
            s = tls_connect(tls_port, client_ctx(k, cert="stranger"), source="127.0.0.7")
            if ask(s).startswith(b"SIP/2.0 200"):
                return s
            s.close()
        except (ssl.SSLError, OSError):
            pass
        return None
    s = wait_for(connected, timeout=15, what="the connection named by its address (200)")
    try:
        sbcctl(sock, "trunk", "add", "carrier-a", "--cert-san", "carrier-a.example",
               "--dest", "tls:127.0.0.1:5999", "--tls-profile", "mtls", "--enable")

        def new_refused():
            try:
                c = tls_connect(tls_port, client_ctx(k, cert="stranger"), source="127.0.0.7")
                c.sendall(options(callid="t-new", transport="TLS"))
                ok = not c.recv(4096)
                c.close()
                return ok
            except (ssl.SSLError, OSError):
                return True
        wait_for(new_refused, timeout=15, what="a new connection with that certificate refused")
        got = wait_for(lambda: (lambda r: r if not r.startswith(b"SIP/2.0 200") else None)(ask(s)), timeout=5,
                       what="the open connection no longer answered 200")
        assert got.startswith(b"SIP/2.0 403"), got
    finally:
        s.close()
