"""Trunk setting reuse_inbound: a carrier behind NAT/a firewall connects to
our TLS listener (from 127.0.0.2, which only its trunk's CIDR matches) and
refuses connections from us (nothing listens on its destination port). With
reuse_inbound our INVITE, ACK and BYE for its calls go on its connection and
the call works end to end; OPTIONS pings go there too. Without the setting
the call goes out on a connection of ours, which it refuses: the caller gets
an error. After the carrier's connection is gone (its worker tells the
engine as it closes), a call goes out on ours again (and fails the same
way) rather than into a dead connection.

With two workers the carrier's connection may sit on the other worker than
the call's: the INVITE crosses the in-process ring and the carrier's
responses are forwarded back by our branch token."""
import socket
import ssl

import pytest

from b2b_common import Sbc, Uac, Uas, hdr, response, sdp, status
from conftest import BUILD, free_port, wait_for
from test_b2b_workers import TcpSip
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")

CARRIER_IP = "127.0.0.2"


def carrier_connects(sbc):
    """The carrier's TLS connection to sbc from CARRIER_IP; an OPTIONS on it
    (answered 200) shows it arrived as the trunk's."""
    try:
        s = socket.create_connection(("127.0.0.1", sbc.tls_port), timeout=5, source_address=(CARRIER_IP, 0))
    except OSError as e:
        pytest.skip(f"cannot bind {CARRIER_IP}: {e}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = TcpSip(ctx.wrap_socket(s))
    c.send((f"OPTIONS sip:sbc@127.0.0.1:{sbc.tls_port};transport=tls SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS {CARRIER_IP}:{c.port};branch=z9hG4bKcarrierping\r\n"
            f"From: <sip:carrier@{CARRIER_IP}>;tag=cp\r\nTo: <sip:sbc@127.0.0.1>\r\n"
            f"Call-ID: carrier-ping-{c.port}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n").encode())
    assert status(c.recv_until(lambda d: status(d) >= 200)) == 200
    return c


def next_request(c, method, timeout=8.0):
    """The next request `method` on the carrier's connection, answering our
    OPTIONS pings on the way."""
    def want(d):
        if d.startswith(b"OPTIONS "):
            c.send(response(d, 200, "OK"))
            c.pings = getattr(c, "pings", 0) + 1
            return False
        return d.startswith(method.encode() + b" ")
    return c.recv_until(want, timeout)


@pytest.fixture
def env(procs, tmp_path):
    made = []

    def make(reuse, workers=1, ping_first=False):
        """sbc whose demo-out is the carrier: TLS toward CARRIER_IP on a port
        where nothing listens, matched by CARRIER_IP/32. ping_first: its
        destination stays a UAS that answers OPTIONS (a ping toward the
        refused port would be in flight for 32 s, holding the next back)."""
        closed = free_port()
        # demo-out's first destination answers the first pings at once
        # (a ping in flight holds the next ones back)
        first = Uas("answer", options=200)
        made.append(first)
        sbc = Sbc(procs, tmp_path, first.port, workers=workers)
        sbc.rpc("trunk.update", {"name": "demo-out", "cidrs": [f"{CARRIER_IP}/32"], "tls_profile": "default",
                                 "destinations": [{"host": "127.0.0.1", "port": first.port, "transport": "udp"}
                                                  if ping_first else
                                                  {"host": CARRIER_IP, "port": closed, "transport": "tls"}],
                                 "reuse_inbound": reuse})
        assert sbc.rpc("trunk.get", {"name": "demo-out"})["reuse_inbound"] is reuse
        sbc.signal_synced()  # the workers' view of the store
        uac = Uac(sbc.port)
        made.append(uac)
        return sbc, uac, closed

    yield make
    for x in made:
        x.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_call_to_a_carrier_on_its_own_connection(env, workers):
    sbc, uac, closed = env(True, workers)
    c = carrier_connects(sbc)
    try:
        uac.invite()
        inv = next_request(c, "INVITE")
        assert "Via: SIP/2.0/TLS 127.0.0.1:%d;" % sbc.tls_port in inv.decode(), inv
        assert hdr(inv, "Contact").endswith(";transport=tls>")
        c.send(response(inv, 180, "Ringing", "carrier-tag"))
        c.send(response(inv, 200, "OK", "carrier-tag",
                        f"Contact: <sip:carrier@{CARRIER_IP}:{closed};transport=tls>", sdp(CARRIER_IP, 40010)))
        final = uac.wait_final()
        assert status(final) == 200, sbc.log()[-3000:]
        uac.ack(final)
        ack = next_request(c, "ACK")
        assert hdr(ack, "Call-ID") == hdr(inv, "Call-ID")
        uac.sock.sendto(uac._request("BYE", final, 2), uac.dst)
        bye = next_request(c, "BYE")
        assert hdr(bye, "Call-ID") == hdr(inv, "Call-ID") and ";tag=carrier-tag" in hdr(bye, "To")
        c.send(response(bye, 200, "OK"))
        ok = uac.recv_until(lambda d: status(d) and "BYE" in hdr(d, "CSeq"))
        assert status(ok) == 200
    finally:
        c.close()


def test_pings_go_on_the_carriers_connection(env):
    sbc, uac, closed = env(True, ping_first=True)
    c = carrier_connects(sbc)
    try:
        # a worker pings every 5 s: the next one goes on the carrier's
        # connection (any TCP/TLS one when the destination is UDP)
        opt = c.recv_until(lambda d: d.startswith(b"OPTIONS "), timeout=7)
        assert hdr(opt, "Via").startswith("SIP/2.0/TLS ")
        c.send(response(opt, 200, "OK"))
        # the trunk is up: a call goes through
        uac.invite()
        inv = next_request(c, "INVITE")
        c.send(response(inv, 486, "Busy Here", "carrier-tag"))
        assert status(uac.wait_final()) == 486
    finally:
        c.close()


def test_without_reuse_inbound_the_call_goes_out_on_our_connection(env):
    sbc, uac, closed = env(False)
    c = carrier_connects(sbc)
    try:
        uac.invite()
        final = uac.wait_final()
        assert status(final) >= 400, final  # our connection refused, nothing on the carrier's
        with pytest.raises(AssertionError):
            next_request(c, "INVITE", timeout=0.5)
    finally:
        c.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_closed_carrier_connection_is_not_used(env, workers):
    sbc, uac, closed = env(True, workers)
    c = carrier_connects(sbc)
    c.close()
    # its worker forgets it as it closes
    wait_for(lambda: all(w.get("stats", {}).get("tls", {}).get("conns_open", 0) == 0
                         for w in sbc.rpc("stats.get")["signal"]), timeout=3, what="the connection closed")
    uac.invite()
    final = uac.wait_final()
    assert status(final) >= 400, final  # out on our connection, which the carrier refuses
    # never tried on the dead connection: neither at once on this worker nor
    # across the ring (the other worker counts a send to a gone connection)
    assert "its connection failed" not in sbc.log()
    assert all(w.get("stats", {}).get("tcp", {}).get("send_errors", 0) == 0 for w in sbc.rpc("stats.get")["signal"])
