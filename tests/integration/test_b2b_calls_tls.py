"""The issue #5 item 8 call list again with the calling carrier over TLS:
the same test functions as test_b2b_calls (imported below, so pytest runs
them in this module too), with this module's call_env, whose caller is a
TlsUac: a python UAC over a real TLS connection (python's ssl module, a
separate process from the BoringSSL binaries) to sbc-signal's TLS listener
(sbc-control's self-signed default profile). The called carrier stays the
UDP Uas: every test still checks what it actually received. Tests whose
point is UDP itself (hostile datagrams, Timer A retransmissions toward the
callee are UDP either way and kept) are not repeated."""
import socket
import ssl

import pytest

import b2b_common
import test_b2b_calls
from b2b_common import Sbc, Uas
# the list of item 8, run here over TLS (the names are collected by pytest)
from test_b2b_calls import (  # noqa: F401
    test_basic_call_topology_hiding_and_media, test_srtp_in_plain_out, test_refused_before_any_b_leg,
    test_failover_on_503, test_failover_on_no_response, test_cancel_before_answer, test_bye_from_callee,
    test_over_call_limit_503, test_media_timeout_ends_call_with_bye_on_both_legs, test_reinvite_hold_and_resume,
    test_reinvite_hold_from_callee, test_crypto_in_answer_on_srtp_off_leg_488, test_srtp_both_legs_different_suites,
    test_early_media_183_with_sdp, test_answer_moves_the_early_media, test_failover_after_early_media)
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = test_b2b_calls.pytestmark


class TlsStream:
    """A TLS connection that looks like the UDP socket Uac uses: sendto()
    writes one message (the address is ignored: there is one peer),
    recvfrom() returns one whole SIP message framed by Content-Length."""

    def __init__(self, port):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # sbc-control's self-signed default profile
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.s = ctx.wrap_socket(raw)
        self.buf = b""
        self.peer = ("127.0.0.1", port)

    def getsockname(self):
        return self.s.getsockname()

    def settimeout(self, t):
        self.s.settimeout(t)

    def sendto(self, data, _addr):
        """Uac writes its requests for UDP: their Via says TLS here and
        their Contact (when it is ours) transport=tls, so that in-dialog
        requests toward the caller come back on this connection."""
        if not data.startswith(b"SIP/2.0"):
            data = data.replace(b"Via: SIP/2.0/UDP ", b"Via: SIP/2.0/TLS ", 1)
            me = f"@127.0.0.1:{self.getsockname()[1]}>".encode()
            data = data.replace(b"Contact: <sip:alice" + me, b"Contact: <sip:alice" + me[:-1] + b";transport=tls>", 1)
        self.s.sendall(data)

    def _message(self):
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buf[:end].decode(errors="replace")
        n = 0
        for ln in head.split("\r\n"):
            k, _, v = ln.partition(":")
            if k.strip().lower() in ("content-length", "l"):
                n = int(v.strip())
        if len(self.buf) < end + 4 + n:
            return None
        msg, self.buf = self.buf[:end + 4 + n], self.buf[end + 4 + n:]
        return msg

    def recvfrom(self, _n):
        while True:
            self.buf = self.buf.lstrip(b"\r\n")  # keep-alive CRLFs
            msg = self._message()
            if msg is not None:
                return msg, self.peer
            d = self.s.recv(65536)  # raises socket.timeout like the UDP socket
            if not d:
                raise OSError("TLS connection closed by sbc-signal")
            self.buf += d

    def close(self):
        self.s.close()


class TlsUac(b2b_common.Uac):
    """Uac over TLS: Via SIP/2.0/TLS and a Contact with transport=tls on the
    connection's own address (TlsStream.sendto), so in-dialog requests
    toward the caller (the callee's BYE, its re-INVITE) come back on that
    connection. Made with
    sbc-signal's UDP port like Uac (test functions call Uac(sbc.port)); the
    TLS port is looked up in tls_ports, filled by call_env."""
    tls_ports = {}

    def __init__(self, sbc_port, ip="127.0.0.1"):
        super().__init__(sbc_port, ip)
        self.sock.close()
        self.sock = TlsStream(self.tls_ports[sbc_port])
        self.port = self.sock.getsockname()[1]
        self.callid = f"uac-call-{self.port}@{ip}"


@pytest.fixture
def call_env(procs, tmp_path, monkeypatch):
    """test_b2b_calls's call_env with TlsUac callers (also the extra
    callers a test makes with Uac(sbc.port), by patching that name in
    test_b2b_calls)."""
    monkeypatch.setattr(test_b2b_calls, "Uac", TlsUac)
    envs = []

    def make(plan="answer", crypto=None, rtp_timeout_ms=30000, unknown_sources=None):
        uas = Uas(plan, crypto)
        sbc = Sbc(procs, tmp_path, uas.port, rtp_timeout_ms=rtp_timeout_ms, unknown_sources=unknown_sources)
        TlsUac.tls_ports[sbc.port] = sbc.tls_port
        uac = TlsUac(sbc.port)
        envs.append((uas, uac))
        return sbc, uas, uac

    yield make
    for uas, uac in envs:
        uas.close()
        uac.close()


def test_trunk_change_applies_to_an_open_connection(call_env):
    """A TLS connection's trunk is named again after a trunk change, as a
    UDP datagram's is on each message: the caller's address taken off its
    trunk, its next INVITE on the same connection gets 403; given back, the
    next one is a call (the connection stays open throughout). Before the
    fix the connection kept the trunk it was opened under: 200, then 403
    until a reconnect."""
    sbc, uas, uac = call_env()
    port = uac.port
    sbc.rpc("trunk.update", {"name": "demo-in", "cidrs": ["10.9.9.9/32"]})
    sbc.signal_synced()
    uac.invite()
    assert b2b_common.status(uac.wait_final()) == 403 and uas.invite is None
    sbc.rpc("trunk.update", {"name": "demo-in", "cidrs": ["127.0.0.0/8"]})
    sbc.signal_synced()
    uac.callid += "-2"
    uac.invite()
    final = uac.wait_final()
    assert b2b_common.status(final) == 200 and uas.invite is not None
    assert uac.sock.getsockname()[1] == port  # the same connection
    uac.ack(final)
    assert b2b_common.status(uac.bye(final)) == 200
