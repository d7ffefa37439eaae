"""A server handshake reads ahead (sig_tls_profile.h caveat 6): whatever the
client sent behind its Finished arrives with it in one recv(), and must all
be answered although epoll will never report those bytes again: here 40
OPTIONS (more than one wake-up's worth of records) in the same TCP segment
burst as the client's Finished, over TLS 1.3 and TLS 1.2."""
import socket
import ssl

import pytest

from test_signal_common import (no_sanitizer_reports,  # noqa: F401
                                Signal, make_pki, options, profile, read_responses)

N = 40


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def handshake_in_memory(sock, ctx):
    """Runs the client side of a handshake over sock through memory BIOs and
    returns (sslobj, incoming, outgoing) with the client's last flight
    (its Finished) written to outgoing but NOT sent."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=False)
    while True:
        try:
            obj.do_handshake()
            return obj, inc, out
        except ssl.SSLWantReadError:
            pending = out.read()
            if pending:
                sock.sendall(pending)
            data = sock.recv(65536)
            assert data, "server closed during the handshake"
            inc.write(data)


class Decrypting:
    """The socket face read_responses wants, decrypting through the SSLObject."""

    def __init__(self, sock, obj, inc):
        self.sock, self.obj, self.inc = sock, obj, inc

    def settimeout(self, t):
        self.sock.settimeout(t)

    def recv(self, n):
        while True:
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:
                data = self.sock.recv(65536)
                if not data:
                    return b""
                self.inc.write(data)


@pytest.mark.parametrize("version", ["tls13", "tls12"])
def test_requests_behind_finished_all_answered(procs, tmp_path, pki, version):
    sig = Signal(procs, tmp_path, pki, profiles=[profile("default", pki)])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.p("ca.pem"))
    ctx.check_hostname = False
    v = ssl.TLSVersion.TLSv1_3 if version == "tls13" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    s = socket.create_connection(("127.0.0.1", sig.tls_port), timeout=5)
    obj, inc, out = handshake_in_memory(s, ctx)
    for i in range(N):  # one TLS record each
        obj.write(options(callid=f"ra-{i}", transport="TLS"))
    s.sendall(out.read())  # Finished + N records at once
    rs = read_responses(Decrypting(s, obj, inc), N, timeout=5)
    assert len(rs) == N, rs[-1:]
    assert all(r.startswith(b"SIP/2.0 200") for r in rs)
    assert sig.stats()["tls"]["msgs_in"] >= N
