"""Issue #5 item 1, the RFC 3261 17 UDP transaction timers on the wire of
the running sbc-signal (signal.timers.t1_ms 50, so 64*T1 = 3.2 s; T4 stays
5 s): Timer A (the B-leg INVITE retransmitted at T1, 2T1, 4T1... without a
cap) and Timer B (given up at 64*T1: 408); Timer D (a retransmitted non-2xx
final is ACKed again by the client transaction, never relayed twice); Timer
I (an ACKed 404's transaction absorbs the INVITE again for T4, not after);
Timer J (a retransmitted BYE answered from its server transaction until
64*T1, after which the BYE is a new request: 481); Timer K (our BYE toward
the callee kept T4 after its 200, the call's other transactions ending at
64*T1). test_txn drives the same timers by hand; E, F, G and H on the wire
and none over TCP are in the timer tests beside this one (test_b2b_rules)."""
import select
import socket
import time

import pytest

from b2b_common import Sbc, Uac, Uas, hdr, response, status
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")

T1 = 0.05


class Callee:
    """The called carrier as a bare UDP socket: records what arrives with
    its time (time.monotonic()), answers only what a test tells it."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.got = []  # (time, bytes, addr)

    def read_until(self, deadline, pred=lambda d: False):
        """Reads until deadline or until a datagram for which pred holds
        (returned); OPTIONS pings are recorded like the rest."""
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d, a = self.sock.recvfrom(65536)
            except socket.timeout:
                break
            self.got.append((time.monotonic(), d, a))
            if pred(d):
                return d
        return None

    def times(self, method):
        return [t for t, d, _ in self.got if d.startswith(method.encode() + b" ")]

    def close(self):
        self.sock.close()


def test_timer_a_doubles_and_timer_b_gives_up(procs, tmp_path):
    """A silent callee, no_response_ms at its maximum (32 s) so that Timer B
    (3.2 s) is what ends the attempt: the INVITE is sent at 0, T1, 3T1,
    7T1... (intervals doubling, no cap at T2 for INVITE) and the caller
    gets 408 at about 64*T1, with no INVITE after it."""
    callee = Callee()
    uac = None
    try:
        sbc = Sbc(procs, tmp_path, callee.port, timers={"t1_ms": int(T1 * 1000), "no_response_ms": 32000})
        uac = Uac(sbc.port)
        t0 = time.monotonic()
        uac.invite()
        final = t_final = None
        while time.monotonic() < t0 + 6.0:  # both sides at once, each datagram timed as it comes
            for sk in select.select([callee.sock, uac.sock], [], [], 0.05)[0]:
                d, a = sk.recvfrom(65536)
                if sk is callee.sock:
                    callee.got.append((time.monotonic(), d, a))
                elif status(d) >= 200 and final is None:
                    final, t_final = d, time.monotonic()
        assert final is not None and status(final) == 408, (final, sbc.log()[-2000:])
        inv = callee.times("INVITE")
        # expected at 0, .05, .15, .35, .75, 1.55, 3.15 s; one more would come at 6.35 s
        assert 5 <= len(inv) <= 7, [round(t - t0, 3) for t in inv]
        gaps = [b - a for a, b in zip(inv, inv[1:])]
        # doubling: the first after ~T1, the last some 32 T1 (a constant
        # interval would keep them alike); from the third on, where 50 ms of
        # scheduling jitter is small beside the gap, each at least 1.3x the one
        # before
        assert gaps[0] < 0.3 and gaps[-1] > 0.8 and gaps[-1] > 6 * gaps[0], gaps
        for a, b in zip(gaps[2:], gaps[3:]):
            assert b > 1.3 * a, gaps
        # Timer B: 64*T1 after the first INVITE, not the no-response timer's 32 s
        assert 2.9 < t_final - inv[0] < 5.5, t_final - inv[0]
        assert "no response" not in (hdr(final, "Reason") or "")
    finally:
        callee.close()
        if uac:
            uac.close()


def test_timer_d_retransmitted_final_acked_again(procs, tmp_path):
    """The callee refuses with 486 and, as if our ACK were lost, sends its
    486 twice more: the client transaction (Completed, Timer D: 32 s over
    UDP) ACKs each copy with the same ACK and the caller gets one 486."""
    callee = Callee()
    uac = None
    try:
        sbc = Sbc(procs, tmp_path, callee.port, timers={"t1_ms": int(T1 * 1000)})
        uac = Uac(sbc.port)
        uac.invite()
        inv = callee.read_until(time.monotonic() + 5, lambda d: d.startswith(b"INVITE "))
        assert inv is not None
        src = [a for _, d, a in callee.got if d is inv][0]
        busy = response(inv, 486, "Busy Here", "callee-tag")
        callee.sock.sendto(busy, src)
        acks = []
        for n in range(3):
            ack = callee.read_until(time.monotonic() + 2, lambda d: d.startswith(b"ACK "))
            assert ack is not None, (n, callee.got)
            acks.append(ack)
            if n < 2:
                callee.sock.sendto(busy, src)  # the 486 again (Timer G at a real UAS)
        # the ACK of a non-2xx is the INVITE transaction's own: same branch, same CSeq, every time
        assert len(set(acks)) == 1 and hdr(acks[0], "Via") == hdr(inv, "Via"), acks
        assert hdr(acks[0], "CSeq").split()[0] == hdr(inv, "CSeq").split()[0]
        final = uac.wait_final()
        assert status(final) == 486
        time.sleep(0.3)
        uac.sock.settimeout(0.2)
        more = []
        try:
            while True:
                more.append(uac.sock.recv(65536))
        except OSError:
            pass
        # no second 486 relayed (the caller's own 486 is retransmitted by
        # Timer G until its ACK, which this caller never sends: those
        # copies are the same response, the same To tag)
        assert all(m == final for m in more if status(m) == 486), (final, more)
        # the 486 had no new call behind it: one INVITE at the callee, no
        # second attempt, no CANCEL or BYE
        assert len(callee.times("INVITE")) == 1 and not callee.times("CANCEL") and not callee.times("BYE")
    finally:
        callee.close()
        if uac:
            uac.close()


def calls(sbc):
    return sbc.rpc("stats.get")["signal"][0]["stats"]["calls"]


def test_timer_j_then_481(procs, tmp_path):
    """The caller's BYE retransmitted within 64*T1 gets the same 200 from
    its server transaction (Timer J); the same BYE after J has no
    transaction and no call left: 481."""
    uas = Uas("answer")
    uac = None
    try:
        sbc = Sbc(procs, tmp_path, uas.port, timers={"t1_ms": int(T1 * 1000)})
        uac = Uac(sbc.port)
        final = uac.answered()
        wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
        ok = uac.bye(final)
        t_bye = time.monotonic()
        assert status(ok) == 200
        wait_for(lambda: [r for r in uas.responses()] or uas.requests("BYE"), timeout=3, what="BYE at the callee")
        wait_for(lambda: calls(sbc)["active"] == 0, timeout=3, what="call ended")
        assert calls(sbc)["transactions"] >= 3  # lingering: A's INVITE and BYE, B's INVITE and BYE
        bye = uac._request("BYE", final, 2)
        # within Timer J: the transaction's own 200, byte for byte
        time.sleep(max(0.0, t_bye + 1.0 - time.monotonic()))
        n = len(uac.got)
        uac.sock.sendto(bye, uac.dst)
        again = uac.recv_until(lambda d: len(uac.got) > n and status(d) > 0 and "BYE" in hdr(d, "CSeq"), timeout=3)
        assert again == ok
        # after Timer J (3.2 s): a new transaction for a dialog that is gone
        time.sleep(max(0.0, t_bye + 64 * T1 + 0.6 - time.monotonic()))
        n = len(uac.got)
        uac.sock.sendto(bye, uac.dst)
        late = uac.recv_until(lambda d: len(uac.got) > n and status(d) > 0 and "BYE" in hdr(d, "CSeq"), timeout=3)
        assert status(late) == 481, late
        assert len(uas.requests("BYE")) == 1  # never a second BYE toward the callee
    finally:
        uas.close()
        if uac:
            uac.close()


def test_timer_k_keeps_our_bye_for_t4(procs, tmp_path):
    """Timer K: our BYE toward the callee, once answered, stays (absorbing
    copies of the 200) for T4 = 5 s over UDP, while every other transaction
    of the call ends at 64*T1 (J, L, M: 3.2 s). Seen in stats.get's live
    transaction count, with no OPTIONS pings in it: the only trunk out is
    named by DNS (not pinged) and demo-out is gone."""
    from test_signal_dns import DnsServer
    uas = Uas("answer")
    dns = DnsServer({("carrier.example", "NAPTR"): [(10, 10, "s", "SIP+D2U", "", "_sip._udp.carrier.example")],
                     ("_sip._udp.carrier.example", "SRV"): [(10, 0, uas.port, "gw.carrier.example")],
                     ("gw.carrier.example", "A"): ["127.0.0.1"]})
    uac = None
    try:
        sbc = Sbc(procs, tmp_path, uas.port, dns_servers=f"127.0.0.1:{dns.port}", timers={"t1_ms": int(T1 * 1000)})
        sbc.rpc("route.remove", {"prefix": ""})
        sbc.rpc("trunk.remove", {"name": "demo-out"})
        sbc.rpc("trunk.add", {"name": "named-out", "destinations": [{"host": "carrier.example"}],
                              "srtp_inbound": {"mode": "off"}, "srtp_outbound": {"mode": "off"}})
        sbc.rpc("route.add", {"prefix": "49", "trunk": "named-out"})
        sbc.signal_synced()
        wait_for(lambda: calls(sbc)["transactions"] == 0, timeout=5, interval=0.1,
                 what="no transaction left before the call (pings to demo-out over)")
        uac = Uac(sbc.port)
        final = uac.answered()
        wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
        uac.sock.sendto(uac._request("BYE", final, 2), uac.dst)
        wait_for(lambda: [r for r in uas.sent if r.startswith(b"SIP/2.0 200") and "BYE" in hdr(r, "CSeq")],
                 timeout=3, interval=0.01, what="the callee's 200 to our BYE")
        t_bye = time.monotonic()
        # after 64*T1 (+ slack): J, L and M have ended theirs, K keeps our BYE
        time.sleep(max(0.0, t_bye + 64 * T1 + 0.5 - time.monotonic()))
        mid = calls(sbc)["transactions"]
        assert time.monotonic() < t_bye + 4.8, "too late to tell K from the others"
        assert mid == 1, mid
        # and T4 after the 200: none
        wait_for(lambda: calls(sbc)["transactions"] == 0, timeout=t_bye + 5.0 + 2.0 - time.monotonic(),
                 interval=0.1, what="Timer K ended our BYE's transaction")
        assert time.monotonic() > t_bye + 4.5  # not before T4
    finally:
        dns.close()
        uas.close()
        if uac:
            uac.close()


def test_timer_i_absorbs_then_ends(procs, tmp_path):
    """Timer I: a 404 to an INVITE, ACKed: the server transaction stays
    Confirmed for T4 (5 s over UDP) and absorbs a copy of the INVITE
    (no answer, no new call); after T4 the same INVITE is a new transaction
    and gets its own 404."""
    sbc = Sbc(procs, tmp_path, 9, timers={"t1_ms": int(T1 * 1000)})
    sbc.rpc("route.remove", {"prefix": ""})
    sbc.signal_synced()
    uac = Uac(sbc.port)
    try:
        uac.invite()
        nf = uac.wait_final()
        assert status(nf) == 404
        # the ACK of a non-2xx: the INVITE's Request-URI and branch, the 404's To (RFC 3261 17.1.1.3)
        inv = uac.inv.decode()
        ack = (f"ACK {inv.split(' ')[1]} SIP/2.0\r\nVia: {hdr(uac.inv, 'Via')}\r\nFrom: {hdr(uac.inv, 'From')}\r\n"
               f"To: {hdr(nf, 'To')}\r\nCall-ID: {uac.callid}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n"
               f"Content-Length: 0\r\n\r\n").encode()
        uac.sock.sendto(ack, uac.dst)
        t_ack = time.monotonic()

        def answers_within(seconds):
            uac.sock.settimeout(0.05)
            out, end = [], time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    d = uac.sock.recv(65536)
                except socket.timeout:
                    continue
                if status(d) == 404:
                    out.append(d)
            return out

        answers_within(0.5)  # a copy of the 404 already on its way when the ACK went
        uac.sock.sendto(uac.inv, uac.dst)  # within Timer I: absorbed
        assert answers_within(1.0) == []
        assert time.monotonic() < t_ack + 4.5, "too late to be inside Timer I"
        time.sleep(max(0.0, t_ack + 5.0 + 0.6 - time.monotonic()))
        uac.sock.sendto(uac.inv, uac.dst)  # after Timer I: a new transaction, a new 404
        again = answers_within(1.5)
        assert again and hdr(again[0], "Call-ID") == uac.callid, again
    finally:
        uac.close()
