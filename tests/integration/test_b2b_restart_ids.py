"""Call and media session ids across a restart of sbc-signal.

sbc-signal names a call's media sessions (worker << 56) | (call id << 4) |
stream, and sbc-media answers a CREATE for a session id it already holds with
that session (idempotent, for ring records seen again after its own restart).
A killed sbc-signal left its calls' sessions in sbc-media until their RTP
timeout: if the restarted process numbered its calls from 1 again, its first
call's CREATE named a live session of the old process, and the new call was
put on the old call's relay ports (crosstalk between two calls). The ids must
not repeat across restarts, and sbc-media must refuse a repeated CREATE whose
legs are not the session's own rather than hand out another call's relay.
(sbc-media now deletes the old process's sessions when the new one says
HELLO, test_b2b_orphan_media; the ids still must not repeat.)"""
import socket
import time

import pytest

from b2b_common import Sbc, Uac, Uas, body, rtp_port, sdp_media, status
from conftest import BUILD, wait_for
from medtool import key_for, leg, running
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")

RTP = bytes([0x80, 0x00, 0x00, 0x01]) + b"\x00" * 8 + b"restart-ids" * 8


def relayed(src_sock, dst_addr, sink, tag):
    """Sends RTP packets tagged `tag` from src_sock to the relay port
    dst_addr until one arrives at sink; returns the relay port it came
    from. Several packets: the relay may still be latching."""
    pkt = RTP + tag
    sink.settimeout(0.2)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        src_sock.sendto(pkt, dst_addr)
        try:
            while True:
                got, src = sink.recvfrom(2048)
                if got.endswith(tag):
                    return src[1]
        except socket.timeout:
            continue
    raise AssertionError(f"RTP {tag!r} toward {dst_addr} never reached the far end")


def test_new_call_after_signal_kill9_gets_its_own_relay(procs, tmp_path):
    uas = Uas("answer")
    sbc = Sbc(procs, tmp_path, uas.port, rtp_timeout_ms=30000)
    uac1 = uac2 = rtp_b1 = None
    try:
        # call 1, answered, media flowing both ways through the relay
        uac1 = Uac(sbc.port)
        final1 = uac1.answered()
        aip1, aport1, _ = sdp_media(body(final1))
        _, bport1, _ = sdp_media(body(uas.invite))
        rtp_b1 = uas.rtp
        assert relayed(uac1.rtp, (aip1, aport1), rtp_b1, b"c1-ab") == bport1
        assert relayed(rtp_b1, ("127.0.0.1", bport1), uac1.rtp, b"c1-ba") == aport1
        before = sbc.rpc("media.sessions")
        assert before["total"] == 1, before
        id1 = before["sessions"][0]["id"]
        # its call record in sbc-control (start and answer events arrive
        # on their own ring, not at once)
        wait_for(lambda: [c for c in sbc.rpc("call.list")["calls"] if c["state"] == "answered"],
                 what="call 1 answered in call.list")

        # sbc-signal killed: sbc-control starts another; call 1's session
        # is deleted when the new process says HELLO to sbc-media (no call
        # holds it any more; its RTP timeout is 30 s)
        sbc.kill_signal()
        wait_for(sbc.options_ok, timeout=15, what="the restarted sbc-signal answering")
        sbc.signal_synced()
        sig = next(c for c in sbc.rpc("system.status")["children"] if c["name"] == "sbc-signal")
        assert sig["restarts"] == 1 and "signal 9" in sig["last_exit"], sig

        # call 2 from another caller, the callee's media on another socket
        uas.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        uas.rtp.bind(("127.0.0.1", rtp_port()))
        uas.rtp_port = uas.rtp.getsockname()[1]
        uac2 = Uac(sbc.port)
        uac2.invite()
        final2 = uac2.wait_final()
        assert status(final2) == 200, (final2, sbc.log()[-4000:])
        uac2.ack(final2)
        aip2, aport2, _ = sdp_media(body(final2))
        _, bport2, _ = sdp_media(body(uas.invite))
        # its own session id, not call 1's (before the fix: the CREATE of the
        # restarted process's first call named call 1's then live session,
        # and B was offered bport1 again); call 1's session is gone
        after = sbc.rpc("media.sessions")
        ids = sorted(s["id"] for s in after["sessions"])
        assert after["total"] == 1 and id1 not in ids, after
        # the new call's media is its own ...
        assert relayed(uac2.rtp, (aip2, aport2), uas.rtp, b"c2-ab") == bport2
        assert relayed(uas.rtp, ("127.0.0.1", bport2), uac2.rtp, b"c2-ba") == aport2
        # ... and call 1's relay ports relay nothing any more
        if aport1 not in (aport2, bport2):
            uac1.rtp.sendto(RTP + b"c1-ab2", (aip1, aport1))
        rtp_b1.settimeout(0.3)
        with pytest.raises(socket.timeout):
            while True:
                if rtp_b1.recv(2048).endswith(b"c1-ab2"):
                    break
        uas.rtp.settimeout(0.3)
        with pytest.raises(socket.timeout):
            while True:  # nothing of call 1 reached call 2's callee
                if uas.rtp.recv(2048).startswith(RTP + b"c1-"):
                    break
        assert "refused: not that session" not in sbc.log()

        # call records: two calls under two names (sbc-control keys them by
        # name: a repeated one overwrote call 1's); call 1 ended with its
        # process (test_b2b_orphan_calls), and call.hangup with call 1's name
        # is refused and does not end call 2
        seen = []

        def both():
            seen[:] = sbc.rpc("call.list")["calls"]
            return len(seen) == 2 and sorted(c["state"] for c in seen) == ["answered", "ended"] and seen
        try:
            calls = wait_for(both, what="both calls in call.list")
        except AssertionError:
            raise AssertionError(f"call.list: {seen}")
        # a call's name is "<worker>-<id in hex>", its sessions' ids
        # (worker << 56) | (id << 4) | stream
        name1 = f"0-{(id1 >> 4) & ((1 << 52) - 1):x}"
        name2 = next(c["id"] for c in calls if c["id"] != name1)
        assert sorted(c["id"] for c in calls) == sorted((name1, name2)), (name1, calls)
        assert next(c for c in calls if c["id"] == name1)["state"] == "ended", calls
        with pytest.raises(AssertionError, match="has ended"):
            sbc.rpc("call.hangup", {"id": name1})
        uac2.sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            while True:
                if uac2.sock.recv(65536).startswith(b"BYE "):
                    break
        sbc.rpc("call.hangup", {"id": name2})
        bye = uac2.recv_until(lambda d: d.startswith(b"BYE "), timeout=5, what="BYE for call 2's hangup")
        assert bye
    finally:
        for u in (uac1, uac2):
            if u:
                u.close()
        if rtp_b1 is not None and rtp_b1 is not uas.rtp:
            rtp_b1.close()
        uas.close()


def relayed_call_then_kill_signal(sbc, uac, uas):
    """An answered call, RTP relayed A to B, then sbc-signal killed (back
    once kill_signal returns): the call's media session id."""
    final = uac.answered()
    aip, aport, _ = sdp_media(body(final))
    _, bport, _ = sdp_media(body(uas.invite))
    assert relayed(uac.rtp, (aip, aport), uas.rtp, b"o-ab") == bport
    sid = sbc.rpc("media.sessions")["sessions"][0]["id"]
    sbc.kill_signal()
    return sid


def test_killed_signal_sessions_deleted_before_rtp_timeout(procs, tmp_path):
    """A killed sbc-signal's call leaves its media session in sbc-media,
    which keeps a session until told to delete it. Before, only its RTP
    timeout ended it (the restarted process, with no call under that id,
    answered the TIMEOUT with DELETE; earlier still its ports stayed held
    for good); now the restarted process's HELLO does, before any timeout
    (test_b2b_orphan_media: while RTP flows)."""
    uas = Uas("answer")
    sbc = Sbc(procs, tmp_path, uas.port, rtp_timeout_ms=1500)
    uac = Uac(sbc.port)
    try:
        sid = relayed_call_then_kill_signal(sbc, uac, uas)
        # kill_signal returned once the new process ran: well within the
        # 1.5 s RTP timeout
        wait_for(lambda: sbc.rpc("media.sessions")["total"] == 0, timeout=1,
                 what="the killed process's session deleted at the new process's HELLO")
        assert f"media session {sid:x}: timed out, no call of ours" not in sbc.log()
        st = sbc.rpc("media.stats")["totals"]
        assert st["orphans_deleted"] == 1 and st["deleted"] == 1, st
    finally:
        uac.close()
        uas.close()


def test_timeout_of_no_call_answered_with_delete(procs, tmp_path, monkeypatch):
    """sbc-signal's fallback on its own, with the HELLO purge off
    (SBC_MEDIA_ORPHANS=keep, as when a successor's HELLO never reached
    sbc-media): a killed sbc-signal's call leaves its media session in
    sbc-media, which keeps a session until told to delete it; its RTP
    timeout goes to the restarted process, which has no call under that id
    and answers it with DELETE (the READMEs rely on it when a HELLO is
    lost)."""
    monkeypatch.setenv("SBC_MEDIA_ORPHANS", "keep")  # inherited by sbc-media
    uas = Uas("answer")
    sbc = Sbc(procs, tmp_path, uas.port, rtp_timeout_ms=1500)
    uac = Uac(sbc.port)
    try:
        sid = relayed_call_then_kill_signal(sbc, uac, uas)
        # the new process's HELLO deleted nothing: the session is there
        st = sbc.rpc("media.stats")["totals"]
        assert st["orphans_deleted"] == 0 and sbc.rpc("media.sessions")["total"] == 1, st
        # no more RTP: the session times out 1.5 s after the last packet
        wait_for(lambda: sbc.rpc("media.sessions")["total"] == 0, timeout=15,
                 what="the killed process's session deleted after its RTP timeout")
        assert f"media session {sid:x}: timed out, no call of ours" in sbc.log()
        st = sbc.rpc("media.stats")["totals"]
        assert st["timeouts"] >= 1 and st["deleted"] == 1 and st["orphans_deleted"] == 0, st
    finally:
        uac.close()
        uas.close()


def test_killed_signal_ringing_session_deleted(procs, tmp_path):
    """A call still ringing past its RTP timeout ignores the TIMEOUT (only
    an answered call ends on it); when that sbc-signal is killed, the
    restarted one heard of the session only because sbc-media repeats the
    TIMEOUT every timeout_ms while the session stays silent (before, one
    event: the session held its ports for good). Now its HELLO ends the
    session first (orphans_deleted)."""
    uas = Uas("ring")
    sbc = Sbc(procs, tmp_path, uas.port, rtp_timeout_ms=1000)
    uac = Uac(sbc.port)
    try:
        uac.invite()
        wait_for(lambda: sbc.rpc("media.sessions")["total"] == 1, timeout=5, what="the call's session")
        wait_for(lambda: sbc.rpc("media.sessions")["sessions"][0]["timed_out"], timeout=5,
                 what="its TIMEOUT sent while the call rings")
        # the old process takes the event off the ring on its 100 ms tick
        # (not in a hurry: a ringing call ignores it); killed before that,
        # the restarted one would read it there (the same either way, but
        # then the test would not show the repeat)
        time.sleep(1.0)
        sbc.kill_signal()
        wait_for(lambda: sbc.rpc("media.sessions")["total"] == 0, timeout=15,
                 what="the ringing call's session deleted on a repeated TIMEOUT")
        st = sbc.rpc("media.stats")["totals"]
        assert st["timeouts"] == 1 and st["orphans_deleted"] == 1, st  # silences, not events
    finally:
        uac.close()
        uas.close()


@pytest.fixture
def mt(tmp_path):
    yield from running(tmp_path, "epoll", signal_workers=2)


def test_repeated_create_must_be_the_same_session(mt):
    """sbc-media: a CREATE naming a session it holds is answered with that
    session only when its legs are the session's (a record replayed after
    a restart); other legs (another call under a reused id) are refused,
    logged, and the session keeps its ports, peers and keys."""
    pa, pb, pc = (mt.cmd(f"peer {n}")["port"] for n in ("a", "b", "c"))
    ka, kb = key_for(1, 41), key_for(1, 42)
    legs = [leg(pa, 1, ka, 1, ka), leg(pb)]
    r = mt.create(41, legs)
    assert r["status"] == 0, r
    ports = [lg["port"] for lg in r["legs"]]
    # the same CREATE again: idempotent
    again = mt.create(41, legs)
    assert again["status"] == 0 and [lg["port"] for lg in again["legs"]] == ports, again
    # another call's legs under the same id: refused, nothing changed
    for other in ([leg(pc, 1, ka, 1, ka), leg(pb)],   # another caller address
                  [leg(pa, 1, kb, 1, ka), leg(pb)],   # other keys
                  [leg(pa), leg(pb)],                 # plain RTP
                  [leg(pa, 1, ka, 1, ka), leg(pc)]):  # another callee address
        bad = mt.create(41, other)
        assert bad["status"] != 0 and "exists" in bad["error"], (other, bad)
    # the same legs from another signal worker's ring: not a replay either
    bad = mt.create(41, legs, signal=1)
    assert bad["status"] != 0 and "exists" in bad["error"], bad
    log = mt.media_log()
    assert log.count("refused: not that session") == 5, log[-3000:]
    assert ka not in log and kb not in log  # no key material in the log
    assert mt.cmd("stats 0")["sessions"] == 1
    q = mt.cmd("query 41")
    assert q["status"] == 0 and [lg["port"] for lg in q["legs"]] == ports, q
    assert q["legs"][0]["peer"] == f"127.0.0.1:{pa}" and q["legs"][1]["peer"] == f"127.0.0.1:{pb}", q
    # still relaying with the first CREATE's keys: A (SRTP) -> B (plain)
    mt.cmd(f"send a 127.0.0.1:{ports[0]} 1 {ka} 4141 1 5")
    got = mt.cmd("recv b 0 - 5 2000")
    assert got["ok"] == 5 and got["auth_fail"] == 0, got
