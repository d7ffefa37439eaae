"""A mutual-TLS carrier identified by its certificate only (the address
trunk demo-in no longer covers 127.0.0.1) keeps that identification when
its messages cross to the worker that owns the call: with two sbc-signal
workers the carrier sends INVITE on one TLS connection and ACK and BYE on
a second one that the other worker accepted. The second worker matched the
certificate to the trunk in its own handshake; the message crosses the
in-process ring with that verdict (sig_xmsg_rx.trunk, the interned name),
and the owner takes the BYE from the call's own trunk (200 and BYE toward
the callee; a lost identity would be a 403 from the owner). A carrier
whose certificate names no trunk is refused in the handshake."""
import socket
import ssl
import time

import pytest

import test_b2b_workers
from b2b_common import status, hdr
from conftest import BUILD, wait_for
from test_b2b_workers import Caller, call_owner, connect_on_other_worker, env  # noqa: F401
from test_signal_common import Pki, no_sanitizer_reports, options, read_responses  # noqa: F401
from test_signal_trunks import sbcctl

pytestmark = pytest.mark.skipif(
    not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media", "sbcctl")),
    reason="binaries not built")


def client_ctx(pki, cert):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(pki.p(cert + ".pem"), pki.p(cert + ".key"))
    return ctx


def test_mtls_trunk_kept_across_workers(env, monkeypatch, tmp_path):
    k = Pki(tmp_path / "pki")
    k.ca("ca")
    k.ca("clientca")
    k.leaf("srv", "ca", "ec", cn="sbc.example")
    k.leaf("good", "clientca", "ec", cn="carrier-a.example", san="DNS:carrier-a.example", client=True)
    k.leaf("stranger", "clientca", "ec", cn="stranger.example", san="DNS:stranger.example", client=True)
    ctx = client_ctx(k, "good")

    def connect(cls, port, tls=False):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        return cls(ctx.wrap_socket(s) if tls else s)
    # every TLS connection of the workers tests' helpers carries the certificate
    monkeypatch.setattr(test_b2b_workers.TcpSip, "connect", classmethod(connect))

    sbc, uas = env.make("answer")
    sbcctl(sbc.sock, "tls", "update", "default", "--cert", k.p("srv.pem"), "--key", k.p("srv.key"),
           "--ca", k.p("clientca.pem"), "--require-client-cert")
    sbcctl(sbc.sock, "trunk", "add", "carrier-a", "--cert-san", "carrier-a.example",
           "--dest", "tls:127.0.0.1:5999", "--tls-profile", "default", "--enable")
    sbc.rpc("trunk.update", {"name": "demo-in", "cidrs": ["127.0.0.9/32"]})

    def mtls_options_ok():
        try:
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", sbc.tls_port), timeout=2))
            s.sendall(options(callid=f"probe-{time.monotonic()}", transport="TLS"))
            r = read_responses(s, 1, timeout=1)
            s.close()
            return r and r[0].startswith(b"SIP/2.0 200")
        except (ssl.SSLError, OSError):
            return False
    wait_for(mtls_options_ok, timeout=15, what="mutual TLS profile and carrier-a in service")
    sbc.signal_synced()  # both workers' view of the trunks

    a = Caller(sbc, "tls", env.conns)
    final = a.c.recv_until(lambda d: status(d) >= 200)
    assert status(final) == 200, sbc.log()[-3000:]
    owner = call_owner(sbc)
    a2 = connect_on_other_worker(sbc, owner, env.conns, "tls")
    target, to = hdr(final, "Contact").strip("<>"), hdr(final, "To")
    a2.send(a.request("ACK", a2, 1, "mtlsack1", target, to))
    a2.send(a.request("BYE", a2, 2, "mtlsbye1", target, to))
    ok = a2.recv_until(lambda d: status(d) and "BYE" in hdr(d, "CSeq"))
    assert status(ok) == 200, (ok, sbc.log()[-3000:])
    wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")
    calls = sbc.rpc("call.list")["calls"]
    assert [c["trunk_in"] for c in calls] == ["carrier-a"], calls
    fwd = sum(w.get("stats", {}).get("calls", {}).get("forwarded", 0) for w in sbc.rpc("stats.get")["signal"])
    assert fwd >= 2, fwd  # the ACK and the BYE crossed to the owner

    # a certificate from the same CA that no trunk names: refused in the handshake
    def stranger_answered():
        try:
            s = client_ctx(k, "stranger").wrap_socket(socket.create_connection(("127.0.0.1", sbc.tls_port),
                                                                              timeout=2))
            s.sendall(options(callid="stranger", transport="TLS"))
            r = read_responses(s, 1, timeout=1)
            s.close()
            return bool(r)
        except (ssl.SSLError, OSError):
            return False
    assert not stranger_answered()
