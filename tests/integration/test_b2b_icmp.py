"""ICMP errors for our UDP requests (sig_udp.c udp_drain_errors, RFC 5927
4.1). Linux hands an unconnected UDP socket with IP_RECVERR any ICMP whose
quoted headers name our address and the peer's, from any source: only the
quoted request's Via branch (64 secret bits) makes one credible.

 1. A flood of forged port unreachables for a live trunk (quoting no
    branch, or a branch with our worker's token but a guessed tail) fails
    no call over and never marks the trunk down.
 2. One that quotes our real INVITE (what the trunk's host would send if
    its SIP process were gone) fails that call over at once, but only when
    it names the peer the INVITE went to; the trunk's health is untouched
    and a second call to it is still tried.

Needs a raw ICMP socket (root or CAP_NET_RAW): skipped without one."""
import re
import socket
import struct
import sys
import threading
import time

import pytest

from b2b_common import Sbc, Uac, Uas, hdr, status
from conftest import wait_for
from test_b2b_transport_fail import trunk_stat


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def icmp_unreach(sport, dport, quoted, code=3):
    """ICMP destination unreachable (code 3: port, 1: host) for a datagram
    127.0.0.1:sport -> 127.0.0.1:dport whose payload began with quoted."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(quoted), 0) + quoted
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    body = ip + udp
    c = csum(struct.pack("!BBHI", 3, code, 0, 0) + body)
    return struct.pack("!BBHI", 3, code, c, 0) + body


# A flood process: forged host unreachables (the quote is no request of
# ours) for our socket, as fast as python sends them, for argv[3] seconds.
FLOOD = """
import socket, sys, time
sys.path.insert(0, sys.argv[4])
from test_b2b_icmp import icmp_unreach
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
p = icmp_unreach(int(sys.argv[1]), int(sys.argv[2]), b"", code=1)
print("flooding", flush=True)
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    for _ in range(200):
        s.sendto(p, ("127.0.0.1", 0))
"""


@pytest.fixture
def raw_icmp():
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    except PermissionError:
        pytest.skip("no raw ICMP socket (needs root or CAP_NET_RAW)")
    yield s
    s.close()


def invites(uas):
    """The INVITEs uas got, the first of each call: Timer A's copies left
    out (a silent or slow victim gets one every T1, 2*T1...; how many came
    before the next step depends on how loaded the box is)."""
    first = {}
    for m in uas.requests("INVITE"):
        first.setdefault(hdr(m, "Call-ID"), m)
    return list(first.values())


def add_victim(sbc, port):
    """Trunk victim (UDP to port) first for 49..., demo-out second."""
    sbc.rpc("trunk.add", {"name": "victim", "destinations": [{"host": "127.0.0.1", "port": port,
                                                              "transport": "udp"}],
                          "srtp_inbound": {"mode": "off"}, "srtp_outbound": {"mode": "off"}})
    sbc.rpc("route.add", {"prefix": "49", "trunk": "victim", "priority": 5})
    sbc.rpc("route.add", {"prefix": "49", "trunk": "demo-out", "priority": 10})
    sbc.signal_synced()


def call(sbc, timeout=8):
    uac = Uac(sbc.port)
    try:
        uac.invite()
        final = uac.wait_final(timeout=timeout)
        assert status(final) == 200, final
        uac.ack(final)
        try:
            uac.bye(final)
        except AssertionError:
            raise AssertionError("BYE: " + sbc.log()[-8000:])
    finally:
        uac.close()


def test_forged_icmp_flood_fails_nothing(procs, tmp_path, raw_icmp):
    victim = Uas("late200")
    victim.late_s = 0.3  # alive: answers every INVITE after 300 ms
    backup = Uas("answer")
    try:
        sbc = Sbc(procs, tmp_path, backup.port)
        add_victim(sbc, victim.port)
        # our worker's token is public (every tag and Call-ID carries it):
        # learn it from a first call, then guess the branches that follow
        call(sbc)
        branch = re.search(rb"branch=(z9hG4bK[0-9a-f]+)", victim.requests("INVITE")[0]).group(1).decode()
        assert len(branch) == 7 + 48, branch  # seed, sequence number, 64 secret bits
        seed, seq = branch[7:23], int(branch[23:39], 16)
        forged = [icmp_unreach(sbc.port, victim.port, b"INVITE sip:x SIP/2.0\r\n"[:20])]
        for n in range(seq + 1, seq + 12):  # the next sequence numbers, a wrong tail
            q = (f"INVITE sip:4930123456@127.0.0.1:{victim.port} SIP/2.0\r\n"
                 f"Via: SIP/2.0/UDP 127.0.0.1:{sbc.port};branch=z9hG4bK{seed}{n:016x}{'0' * 16};rport\r\n")
            forged.append(icmp_unreach(sbc.port, victim.port, q.encode()))
        stop = []

        def flood():
            while not stop:
                for p in forged:
                    raw_icmp.sendto(p, ("127.0.0.1", 0))
                time.sleep(0.005)
        th = threading.Thread(target=flood, daemon=True)
        th.start()
        try:
            for _ in range(3):
                call(sbc)
        finally:
            stop.append(1)
            th.join()
        log = sbc.log()
        assert len(invites(victim)) == 4
        assert len(backup.requests("INVITE")) == 0, "calls to a live trunk failed over on forged ICMP"
        assert "trunk victim is down" not in log
        assert "fails now" not in log
        assert trunk_stat(sbc, "victim", "transport_errors") == 0
        # the flood reached the socket (counted as send errors) and was read off it
        assert sbc.rpc("stats.get")["signal"][0]["stats"]["udp"].get("send_errors", 0) > 0
    finally:
        victim.stop = backup.stop = True


def test_icmp_quoting_our_invite_fails_that_call_over(procs, tmp_path, raw_icmp):
    victim = Uas("silent")  # its host is up, its SIP process would answer ICMP
    backup = Uas("answer")
    uac = Uac(0)
    try:
        sbc = Sbc(procs, tmp_path, backup.port, timers={"no_response_ms": 8000})
        uac.dst = ("127.0.0.1", sbc.port)
        add_victim(sbc, victim.port)
        uac.invite()
        wait_for(lambda: victim.invite is not None, timeout=5, what="INVITE at the victim")
        inv = victim.invite
        # the right quote, but for another peer port: not the INVITE's destination
        raw_icmp.sendto(icmp_unreach(sbc.port, victim.port + 1, inv), ("127.0.0.1", 0))
        # the right peer, the quote's branch one digit off
        bad = re.sub(rb"(branch=z9hG4bK[0-9a-f]{47})([0-9a-f])",
                     lambda m: m.group(1) + (b"0" if m.group(2) != b"0" else b"1"), inv, count=1)
        assert bad != inv
        raw_icmp.sendto(icmp_unreach(sbc.port, victim.port, bad), ("127.0.0.1", 0))
        with pytest.raises(AssertionError):
            uac.wait_final(timeout=0.7)
        assert len(backup.requests("INVITE")) == 0
        # what the victim's host would send: its quote of our INVITE
        t0 = time.monotonic()
        raw_icmp.sendto(icmp_unreach(sbc.port, victim.port, inv[:512]), ("127.0.0.1", 0))
        final = uac.wait_final(timeout=5)
        assert status(final) == 200, final
        assert time.monotonic() - t0 < 4.0  # at once, not after no_response_ms (8 s)
        assert len(backup.requests("INVITE")) == 1
        uac.ack(final)
        uac.bye(final)
        log = sbc.log()
        assert re.search(r"INVITE z9hG4bK[0-9a-f]{48} to 127\.0\.0\.1:%d: ICMP Connection refused: "
                         r"its transaction fails now" % victim.port, log), log
        assert log.count("its transaction fails now") == 1
        assert trunk_stat(sbc, "victim", "transport_errors") == 1
        assert "trunk victim is down" not in log
        # the victim still gets the next call first (not routed around)
        uac2 = Uac(sbc.port)
        try:
            uac2.invite()
            try:
                wait_for(lambda: len(invites(victim)) == 2, timeout=5, what="second INVITE at the victim")
            except AssertionError:
                raise AssertionError("second INVITE not at the victim: " + sbc.log()[-6000:])
        finally:
            uac2.close()
    finally:
        uac.close()
        victim.stop = backup.stop = True


def test_icmp_quoting_our_ping_fails_nothing(procs, tmp_path, raw_icmp):
    # only a ping's own timeout (Timer F) says a trunk does not answer: an
    # ICMP for it, even one quoting it whole, leaves it retransmitting
    victim = Uas("silent")  # OPTIONS ignored
    backup = Uas("answer")
    try:
        sbc = Sbc(procs, tmp_path, backup.port, timers={"t1_ms": 100})
        add_victim(sbc, victim.port)
        wait_for(lambda: victim.requests("OPTIONS"), timeout=5, what="a ping at the victim")
        ping = victim.requests("OPTIONS")[0]
        branch = re.search(rb"branch=(z9hG4bK[0-9a-f]+)", ping).group(1)
        raw_icmp.sendto(icmp_unreach(sbc.port, victim.port, ping), ("127.0.0.1", 0))
        n = sum(1 for p in victim.requests("OPTIONS") if branch in p)
        # Timer E: 100, 200, 400 ms... the same ping again after the ICMP
        wait_for(lambda: sum(1 for p in victim.requests("OPTIONS") if branch in p) >= n + 2, timeout=3,
                 what="the ping retransmitted after the ICMP")
        assert "fails now" not in sbc.log()
    finally:
        victim.stop = backup.stop = True


def test_icmp_reaches_the_worker_that_sent(procs, tmp_path, raw_icmp):
    # 4 workers share the UDP port (SO_REUSEPORT): an ICMP lands on the
    # socket its addresses hash to, one worker for this victim, while the
    # calls from 4 callers' ports spread over the workers: each call's
    # ICMP still fails that call over at once (handed to the branch's
    # owner), whichever worker drained it
    victim = Uas("silent")
    backup = Uas("answer")
    try:
        sbc = Sbc(procs, tmp_path, backup.port, workers=4, timers={"no_response_ms": 8000})
        add_victim(sbc, victim.port)
        for i in range(4):
            uac = Uac(sbc.port)
            try:
                uac.invite()
                wait_for(lambda: len(invites(victim)) == i + 1, timeout=5, what="INVITE at the victim")
                inv = invites(victim)[i]
                t0 = time.monotonic()
                raw_icmp.sendto(icmp_unreach(sbc.port, victim.port, inv[:512]), ("127.0.0.1", 0))
                final = uac.wait_final(timeout=5)
                assert status(final) == 200, final
                assert time.monotonic() - t0 < 4.0, f"call {i}: failed over after no_response_ms, not at once"
                uac.ack(final)
                uac.bye(final)
            finally:
                uac.close()
        assert sbc.log().count("its transaction fails now") == 4
    finally:
        victim.stop = backup.stop = True


def call_through_loss(sbc):
    """A call whose INVITE and BYE are sent again until answered (a flood
    may have the kernel drop datagrams): True when it was answered."""
    uac = Uac(sbc.port)
    try:
        uac.invite()
        for _ in range(8):
            try:
                final = uac.wait_final(timeout=0.5)
                break
            except AssertionError:
                uac.sock.sendto(uac.inv, uac.dst)
        else:
            return False
        uac.ack(final)
        for _ in range(4):
            try:
                uac.bye(final)
                break
            except AssertionError:
                pass
        return status(final) == 200
    finally:
        uac.close()


def test_forged_host_unreachable_flood_fails_nothing(procs, tmp_path, raw_icmp):
    # IP_RECVERR makes every ICMP error (a forged one too) the socket's
    # pending error, which the next send returns instead of sending: a
    # host unreachable flood makes sends fail with EHOSTUNREACH, which
    # must never be taken as that destination being lost (a call failed
    # over, the trunk's transport_errors, the trunk marked down): only the
    # routing table can say so (sig_udp.c udp_send_lost_err; the case of
    # a flood that beats every retry is test_sig_unreach's, the flood of
    # this test rarely does)
    victim = Uas("answer")
    victim.options = 200
    backup = Uas("answer")
    try:
        sbc = Sbc(procs, tmp_path, backup.port, log_level="info", timers={"t1_ms": 100})
        add_victim(sbc, victim.port)
        here = str(__import__("pathlib").Path(__file__).parent)
        floods = [procs.start(f"flood{i}", [sys.executable, "-c", FLOOD, str(sbc.port), str(victim.port), "2.5", here])
                  for i in range(1)]  # one: the CI box has two cores for everything
        # the calls overlap the flood however slowly python starts on a
        # loaded box (a fixed wait could let the calls run before it)
        for f in floods:
            wait_for(lambda: "flooding" in procs.log(f), timeout=10, what="the flood running")
        n = ok = 0
        t_end = time.monotonic() + 2
        while time.monotonic() < t_end:
            ok += call_through_loss(sbc)
            n += 1
        for f in floods:
            f.wait(timeout=10)
        log = sbc.log()
        assert ok > 0
        assert "fail now" not in log, "a forged ICMP failed transactions over"
        assert trunk_stat(sbc, "victim", "transport_errors") == 0
        assert "trunk victim is down" not in log
        # the flood reached the socket: sends met its pending errors
        assert sbc.rpc("stats.get")["signal"][0]["stats"]["udp"].get("send_errors", 0) > 0
    finally:
        victim.stop = backup.stop = True
