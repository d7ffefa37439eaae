"""reuse_inbound: a carrier's connection that closes with our INVITE on it
unanswered. The INVITE is lost (the carrier would have to connect again to
answer it): the call fails over to the next route at once, not after
no_response_ms, also when the INVITE came from another worker than the
connection's (it crossed the in-process ring: SIG_XMSG_SEND), which
learns of the loss through the ring too (SIG_XMSG_LOST).

The UAC's socket is chosen so that its call lands on the other worker than
the carrier's connection (SO_REUSEPORT spreads them by address hash: each
worker's counters say where they went)."""
import socket
import time

import pytest

from b2b_common import Sbc, Uac, Uas, hdr, response, sdp, status
from conftest import BUILD, wait_for
from test_b2b_transport_fail import trunk_stat
from test_b2b_reuse import CARRIER_IP, carrier_connects, next_request
from test_b2b_workers import TcpSip
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


def per_worker(sbc, tp, key):
    return [w.get("stats", {}).get(tp, {}).get(key, 0) for w in sbc.rpc("stats.get")["signal"]]


def uac_on_worker(sbc, want):
    """A Uac whose datagrams the worker `want` reads (its OPTIONS counted
    there); None after 24 tries."""
    for _ in range(24):
        uac = Uac(sbc.port)
        before = per_worker(sbc, "udp", "msgs_in")
        for i in range(3):
            uac.sock.sendto((f"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{uac.port};"
                             f"branch=z9hG4bKwhere{i}\r\nFrom: <sip:p@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n"
                             f"Call-ID: where-{uac.port}\r\nCSeq: {i + 1} OPTIONS\r\nMax-Forwards: 70\r\n"
                             "Content-Length: 0\r\n\r\n").encode(), uac.dst)
            uac.recv_until(lambda d: status(d) == 200, timeout=3)
        after = per_worker(sbc, "udp", "msgs_in")
        if after[want] - before[want] >= 3:
            return uac
        uac.close()
    return None


def carrier_reused_sbc(procs, tmp_path, workers, pinger, backup):
    """An Sbc whose demo-out is the carrier's trunk, reached over its own
    inbound connection (reuse_inbound; pinger answers the pings to its
    listed destination), with backup as the failover route; a lost request
    would wait no_response_ms 6 s."""
    sbc = Sbc(procs, tmp_path, pinger.port, workers=workers, timers={"no_response_ms": 6000})
    sbc.rpc("trunk.update", {"name": "demo-out", "cidrs": [f"{CARRIER_IP}/32"], "tls_profile": "default",
                             "destinations": [{"host": "127.0.0.1", "port": pinger.port, "transport": "udp"}],
                             "reuse_inbound": True})
    sbc.add_failover(backup.port)
    return sbc


@pytest.mark.parametrize("workers", [1, 2])
def test_carrier_connection_closed_with_our_invite_fails_over_at_once(procs, tmp_path, workers):
    pinger = Uas("answer", options=200)  # demo-out's destination: answers our pings
    backup = Uas("answer")
    uac = c = None
    try:
        sbc = carrier_reused_sbc(procs, tmp_path, workers, pinger, backup)
        c = carrier_connects(sbc)
        owner = per_worker(sbc, "tls", "conns_open").index(1)  # the carrier connection's worker
        other = (owner + 1) % workers
        uac = uac_on_worker(sbc, other)
        assert uac, f"no caller socket landed on worker {other}"
        uac.invite()
        inv = next_request(c, "INVITE")
        assert hdr(inv, "Via").startswith("SIP/2.0/TLS ")
        t0 = time.monotonic()
        c.close()  # the carrier's connection goes, our INVITE unanswered
        final = uac.wait_final(timeout=10)
        took = time.monotonic() - t0
        assert status(final) == 200, final
        assert len(backup.requests("INVITE")) == 1
        assert took < 4.0, f"failed over after {took:.1f} s: no_response_ms (6 s), not the loss"
        if workers == 2:  # the INVITE crossed the ring to the connection's worker
            assert per_worker(sbc, "tcp", "xworker_sends")[other] > 0
        assert "transaction(s) fail now" in sbc.log()
        uac.ack(final)
        assert status(uac.bye(final)) == 200
        wait_for(lambda: backup.requests("BYE"), timeout=3, what="BYE at the backup")
    finally:
        for x in (uac, c):
            if x:
                x.close()
        pinger.close()
        backup.close()


def test_carrier_connection_closed_leaves_our_own_connection_to_it(procs, tmp_path):
    """A carrier that connects from its listening port (127.0.0.2:P, where
    it also accepts our connections): its connection closing is the loss of
    that connection only. A call of another trunk whose INVITE waits on OUR
    connection to 127.0.0.2:P is not failed over (it was, when the loss was
    reported with the carrier's address: same transport and ip:port), and
    is answered there afterwards."""
    backup = Uas("answer")
    lst = c = ours = uac = None
    try:
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            lst.bind((CARRIER_IP, 0))
        except OSError as e:
            pytest.skip(f"cannot bind {CARRIER_IP}: {e}")
        lst.listen(4)
        cport = lst.getsockname()[1]
        sbc = Sbc(procs, tmp_path, backup.port, timers={"no_response_ms": 8000})
        # the carrier's trunk: its connection (TCP) is reused for its calls
        sbc.rpc("trunk.update", {"name": "demo-out", "cidrs": [f"{CARRIER_IP}/32"], "reuse_inbound": True,
                                 "destinations": [{"host": CARRIER_IP, "port": cport, "transport": "tcp"}]})
        # another trunk toward the same ip:port, over our own connection
        sbc.rpc("trunk.add", {"name": "direct", "destinations": [
            {"host": CARRIER_IP, "port": cport, "transport": "tcp"}],
            "srtp_inbound": {"mode": "off"}, "srtp_outbound": {"mode": "off"}})
        sbc.add_failover(backup.port, first="direct")
        # the carrier connects from its listening port
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind((CARRIER_IP, cport))
        s.settimeout(5)
        s.connect(("127.0.0.1", sbc.port))
        c = TcpSip(s)
        c.send((f"OPTIONS sip:sbc@127.0.0.1:{sbc.port};transport=tcp SIP/2.0\r\n"
                f"Via: SIP/2.0/TCP {CARRIER_IP}:{cport};branch=z9hG4bKcarrierping\r\n"
                f"From: <sip:carrier@{CARRIER_IP}>;tag=cp\r\nTo: <sip:sbc@127.0.0.1>\r\n"
                f"Call-ID: carrier-ping-{cport}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n").encode())
        assert status(c.recv_until(lambda d: status(d) >= 200)) == 200
        uac = Uac(sbc.port)
        uac.invite()
        lst.settimeout(5)
        a, _ = lst.accept()  # our own connection to the carrier's listener
        ours = TcpSip(a)
        inv = next_request(ours, "INVITE")  # left unanswered for now
        c.close()  # the carrier's own connection goes
        c = None
        wait_for(lambda: sum(w.get("stats", {}).get("tcp", {}).get("conns_closed", 0)
                             for w in sbc.rpc("stats.get")["signal"]) >= 1, timeout=5, what="its close seen")
        # the worker has handled the close (and any loss it reported): a
        # request it answers after that ran through the loop behind it
        assert sbc.options_ok()
        ours.send(response(inv, 200, "OK", "carrier-tag", f"Contact: <sip:c@{CARRIER_IP}:{cport};transport=tcp>",
                           sdp(CARRIER_IP, 40020)))
        final = uac.wait_final(timeout=10)
        assert status(final) == 200, final
        assert backup.requests("INVITE") == [], "the call failed over: our own connection taken as lost"
        assert "transaction(s) fail now" not in sbc.log()
        assert trunk_stat(sbc, "direct", "transport_errors") == 0
    finally:
        for x in (uac, c, ours, lst):
            if x:
                x.close()
        backup.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_older_carrier_connection_closed_with_our_invite_fails_over_at_once(procs, tmp_path, workers):
    """The carrier holds two connections to us. Our INVITE went on the
    first (then its newest); the carrier then opened a second and used it,
    so new calls go there. The first closing with our INVITE unanswered is
    that INVITE's loss all the same: the call fails over at once. (Only the
    trunk's newest connection was reported as it closed, so the older one's
    requests waited for no_response_ms; each connection a request of ours
    went out on is now reported, whichever is newest.)"""
    pinger = Uas("answer", options=200)
    backup = Uas("answer")
    uac = c1 = c2 = None
    try:
        sbc = carrier_reused_sbc(procs, tmp_path, workers, pinger, backup)
        c1 = carrier_connects(sbc)
        uac = Uac(sbc.port)
        uac.invite()
        next_request(c1, "INVITE")  # left unanswered
        c2 = carrier_connects(sbc)  # its OPTIONS makes it the trunk's newest connection
        t0 = time.monotonic()
        c1.close()
        c1 = None
        final = uac.wait_final(timeout=10)
        took = time.monotonic() - t0
        assert status(final) == 200, final
        assert len(backup.requests("INVITE")) == 1
        assert took < 4.0, f"failed over after {took:.1f} s: no_response_ms (6 s), not the loss"
        assert "transaction(s) fail now" in sbc.log()
        uac.ack(final)
        assert status(uac.bye(final)) == 200
    finally:
        for x in (uac, c1, c2):
            if x:
                x.close()
        pinger.close()
        backup.close()
