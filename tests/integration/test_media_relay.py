"""sbc-media end to end: real SRTP through the relay, decrypted at the far end
by an independent libsrtp2 (Debian's, its own ciphers)."""
import itertools

import pytest

from conftest import wait_for
from medtool import Medtool, key_for, leg, running

ALL_SUITES = [1, 2, 3, 4, 5, 6, 7]


@pytest.fixture(params=["uring", "epoll"])
def mt(tmp_path, request):
    """A running sbc-media, once per data path (io_uring, epoll)."""
    yield from running(tmp_path, request.param)


def session(mt, sid, a_suite, b_suite, latch=0, **kw):
    """Peer A (leg 0) <-> relay <-> peer B (leg 1). A sends with a_suite,
    B receives with b_suite (0 = plain RTP)."""
    a, b = f"a{sid}", f"b{sid}"
    pa = mt.cmd(f"peer {a}")["port"]
    pb = mt.cmd(f"peer {b}")["port"]
    ka, kb = key_for(a_suite, sid), key_for(b_suite, sid + 100)
    kar, kbr = key_for(a_suite, sid + 200), key_for(b_suite, sid + 300)
    r = mt.create(sid, [leg(pa, a_suite, ka, a_suite, kar, latch=latch),
                        leg(pb, b_suite, kbr, b_suite, kb, latch=latch)], **kw)
    assert r["status"] == 0, r
    return dict(a=a, b=b, pa=pa, pb=pb, ka=ka, kb=kb, kar=kar, kbr=kbr,
                ra=r["legs"][0]["port"], rb=r["legs"][1]["port"], sa=a_suite, sb=b_suite)


def test_plain_rtp_both_ways(mt):
    s = session(mt, 1, 0, 0)
    assert mt.cmd(f"send a1 127.0.0.1:{s['ra']} 0 - 1111 100 20")["sent"] == 20
    r = mt.cmd("recv b1 0 - 20 2000")
    assert r["ok"] == 20 and r["first_seq"] == 100 and r["last_seq"] == 119, r
    assert r["from"] == f"127.0.0.1:{s['rb']}"  # topology hiding: from the relay's port
    assert mt.cmd(f"send b1 127.0.0.1:{s['rb']} 0 - 2222 7 10")["sent"] == 10
    r = mt.cmd("recv a1 0 - 10 2000")
    assert r["ok"] == 10, r
    q = mt.cmd("query 1")
    assert q["legs"][0]["packets_in"] == 20 and q["legs"][1]["packets_out"] == 20, q
    assert q["legs"][1]["packets_in"] == 10 and q["legs"][0]["packets_out"] == 10, q


@pytest.mark.parametrize("a_suite,b_suite",
                         [(x, 0) for x in ALL_SUITES] + [(0, x) for x in ALL_SUITES] +
                         [(1, 5), (5, 3), (2, 6), (4, 1), (3, 3), (7, 2)])
def test_transcrypt_every_suite(mt, a_suite, b_suite):
    s = session(mt, 10, a_suite, b_suite)
    # A -> B: protected with A's suite/key, must arrive as B's suite/key
    r = mt.cmd(f"send a10 127.0.0.1:{s['ra']} {a_suite} {s['ka']} 3333 65530 12")
    assert r["sent"] == 12
    r = mt.cmd(f"recv b10 {b_suite} {s['kb']} 12 3000")
    assert r["ok"] == 12 and r["auth_fail"] == 0 and r["bad_payload"] == 0, r
    assert r["first_seq"] == 65530 and r["last_seq"] == 5, r  # across the ROC wrap
    # B -> A
    r = mt.cmd(f"send b10 127.0.0.1:{s['rb']} {b_suite} {s['kbr']} 4444 1 8")
    r = mt.cmd(f"recv a10 {a_suite} {s['kar']} 8 3000")
    assert r["ok"] == 8 and r["auth_fail"] == 0, r
    # SRTCP (or RTCP) both ways through the RTCP ports
    # SRTCP (or RTCP) both ways, each checked by decrypting at the far end:
    # the RTCP destinations are listeners of ours.
    pac = mt.cmd("peer ac10")["port"]
    pbc = mt.cmd("peer bc10")["port"]
    r = mt.update(10, [leg(s["pa"], a_suite, s["ka"], a_suite, s["kar"], remote_rtcp=pac),
                       leg(s["pb"], b_suite, s["kbr"], b_suite, s["kb"], remote_rtcp=pbc)])
    assert r["status"] == 0, r
    mt.cmd(f"send a10 127.0.0.1:{s['ra'] + 1} {a_suite} {s['ka']} 3333 9 3 rtcp")
    r = mt.cmd(f"recv bc10 {b_suite} {s['kb']} 3 2000")
    assert r["rtcp"] == 3 and r["ok"] == 3 and r["auth_fail"] == 0, r
    mt.cmd(f"send b10 127.0.0.1:{s['rb'] + 1} {b_suite} {s['kbr']} 4444 9 2 rtcp")
    r = mt.cmd(f"recv ac10 {a_suite} {s['kar']} 2 2000")
    assert r["rtcp"] == 2 and r["ok"] == 2 and r["auth_fail"] == 0, r
    st = mt.cmd("stats 0")
    assert st["rtcp_in"] == 5 and st["rtcp_out"] == 5 and sum(st["drops"].values()) == 0, st


def test_srtcp_to_rtcp_ports(mt, tmp_path):
    # Far ends with explicit RTCP ports: separate sockets for RTCP.
    pa = mt.cmd("peer a")["port"]
    pb = mt.cmd("peer b")["port"]
    pac = mt.cmd("peer ac")["port"]
    pbc = mt.cmd("peer bc")["port"]
    ka, kb = key_for(1, 1), key_for(5, 2)
    r = mt.create(5, [leg(pa, 1, ka, 1, ka, remote_rtcp=pac), leg(pb, 5, kb, 5, kb, remote_rtcp=pbc)])
    assert r["status"] == 0
    ra, rb = r["legs"][0]["port"], r["legs"][1]["port"]
    assert mt.cmd(f"send a 127.0.0.1:{ra + 1} 1 {ka} 77 0 4 rtcp")["sent"] == 4
    r = mt.cmd(f"recv bc 5 {kb} 4 2000")
    assert r["rtcp"] == 4 and r["ok"] == 4 and r["auth_fail"] == 0, r
    assert r["from"] == f"127.0.0.1:{rb + 1}"
    assert mt.cmd(f"send b 127.0.0.1:{rb + 1} 5 {kb} 88 0 3 rtcp")["sent"] == 3
    r = mt.cmd(f"recv ac 1 {ka} 3 2000")
    assert r["rtcp"] == 3 and r["ok"] == 3, r
    # a forged SRTCP (wrong key) is dropped, not forwarded
    mt.cmd("rekey a")
    # (indices 1-4 were seen: those fail the replay check first, 5-6 the tag)
    mt.cmd(f"send a 127.0.0.1:{ra + 1} 1 {key_for(1, 99)} 77 0 6 rtcp")
    r = mt.cmd(f"recv bc 5 {kb} 1 400")
    assert r["got"] == 0, r
    st = mt.cmd("stats 0")
    assert st["drops"]["auth"] == 2 and st["drops"]["replay"] == 4, st


def test_wrong_key_dropped_and_counted(mt):
    s = session(mt, 20, 1, 0)
    bad = key_for(1, 77)
    mt.cmd(f"send a20 127.0.0.1:{s['ra']} 1 {bad} 5 1 10")
    r = mt.cmd("recv b20 0 - 10 500")
    assert r["got"] == 0, r  # never forwarded
    q = mt.cmd("query 20")
    assert q["legs"][0]["drops"] == 10 and q["legs"][1]["packets_out"] == 0, q
    st = mt.cmd("stats 0")
    assert st["drops"]["auth"] == 10, st
    # the right key still works afterwards
    mt.cmd("rekey a20")
    mt.cmd(f"send a20 127.0.0.1:{s['ra']} 1 {s['ka']} 5 1 5")
    assert mt.cmd("recv b20 0 - 5 2000")["ok"] == 5


def test_replay_dropped(mt):
    s = session(mt, 30, 5, 1)
    mt.cmd(f"send a30 127.0.0.1:{s['ra']} 5 {s['ka']} 9 50 3")
    assert mt.cmd(f"recv b30 1 {s['kb']} 3 2000")["ok"] == 3
    for _ in range(3):
        mt.cmd(f"resend a30 127.0.0.1:{s['ra']}")
    r = mt.cmd(f"recv b30 1 {s['kb']} 1 400")
    assert r["got"] == 0, r
    st = mt.cmd("stats 0")
    assert st["drops"]["replay"] == 3, st


def test_latching(mt):
    # Leg 0's SDP address is wrong (nobody there); latch learns the real one.
    pb = mt.cmd("peer b")["port"]
    pa = mt.cmd("peer a")["port"]
    pz = mt.cmd("peer z")["port"]  # an attacker on another port
    ka = key_for(1, 5)
    r = mt.create(40, [leg(9, 1, ka, 1, ka, latch=1), leg(pb)])
    ra, rb = r["legs"][0]["port"], r["legs"][1]["port"]
    # B -> A first: goes to the SDP address (port 9): A sees nothing
    mt.cmd(f"send b 127.0.0.1:{rb} 0 - 1 1 2")
    assert mt.cmd(f"recv a 1 {ka} 1 300")["got"] == 0
    # an unauthenticated packet from z must not latch
    mt.cmd(f"send z 127.0.0.1:{ra} 1 {key_for(1, 6)} 66 1 2")
    q = mt.cmd("query 40")
    assert q["legs"][0]["latched"] is False
    # A speaks with the right key: latched to A's real address
    mt.cmd(f"send a 127.0.0.1:{ra} 1 {ka} 55 1 3")
    assert mt.cmd("recv b 0 - 3 2000")["ok"] == 3
    q = mt.cmd("query 40")
    assert q["legs"][0]["latched"] is True and q["legs"][0]["peer"] == f"127.0.0.1:{pa}", q
    ev = mt.cmd("events 1000")["events"]
    assert {"id": 40, "kind": "latched", "leg": 0, "addr": f"127.0.0.1:{pa}", "to": 0} in ev, ev
    # now B -> A reaches A
    mt.cmd(f"send b 127.0.0.1:{rb} 0 - 1 10 4")
    r = mt.cmd(f"recv a 1 {ka} 4 2000")
    assert r["ok"] == 4, r
    # after latching, another source (even with the right key) is refused
    mt.cmd("rekey z")
    mt.cmd(f"send z 127.0.0.1:{ra} 1 {ka} 55 100 2")
    assert mt.cmd("recv b 0 - 1 300")["got"] == 0
    assert mt.cmd("stats 0")["drops"]["source"] == 2


def test_no_latch_stays_on_sdp_address(mt):
    pa = mt.cmd("peer a")["port"]
    pb = mt.cmd("peer b")["port"]
    pc = mt.cmd("peer c")["port"]
    r = mt.create(41, [leg(pc), leg(pb)])  # SDP says C for leg 0; A sends
    ra, rb = r["legs"][0]["port"], r["legs"][1]["port"]
    mt.cmd(f"send a 127.0.0.1:{ra} 0 - 1 1 2")
    assert mt.cmd("recv b 0 - 2 2000")["ok"] == 2
    mt.cmd(f"send b 127.0.0.1:{rb} 0 - 2 1 2")
    assert mt.cmd("recv c 0 - 2 2000")["ok"] == 2  # to the SDP address, not to A
    assert mt.cmd("recv a 0 - 1 200")["got"] == 0


def test_garbage_and_bad_requests(mt):
    s = session(mt, 50, 0, 0)
    mt.cmd("peer g")
    # Not RTP: dropped as parse errors, relay keeps going.
    mt.cmd(f"send g 127.0.0.1:{s['ra']} 0 - 1 1 1")  # valid one first
    assert mt.cmd("recv b50 0 - 1 2000")["ok"] == 1
    bad = mt.create(51, [leg(1, 1, "00", 0), leg(1)])  # key of the wrong length
    assert bad["status"] != 0 and "invalid" in bad["error"], bad
    assert mt.cmd("query 999")["status"] != 0
    assert mt.cmd("delete 50")["status"] == 0
    assert mt.cmd("query 50")["status"] != 0
    st = mt.cmd("stats 0")
    assert st["sessions"] == 0 and st["created"] == 1 and st["deleted"] == 1, st


def test_timeout_event(tmp_path):
    m = Medtool(tmp_path, timeout_ms=300)
    try:
        m.spawn()
        pa = m.cmd("peer a")["port"]
        pb = m.cmd("peer b")["port"]
        r = m.create(60, [leg(pa), leg(pb)], timeout_ms=400)
        assert r["status"] == 0
        ev = m.cmd("events 3000")["events"]
        assert {"id": 60, "kind": "timeout", "leg": 0, "addr": "", "to": 0} in ev, ev
        assert m.cmd("stats 0")["timeouts"] == 1
    finally:
        m.close()


def test_sessions_listing_command(mt):
    for sid in (70, 71, 72):
        session(mt, sid, 1, 0)
    r = mt.cmd('cmd 0 {"method":"media.sessions"}')
    ids = sorted(s["id"] for s in r["sessions"])
    assert ids == [70, 71, 72] and r["next"] is None, r
    assert r["sessions"][0]["legs"][0]["rx"] == "AES_CM_128_HMAC_SHA1_80"
    # per-session drops by reason
    s70 = next(x for x in r["sessions"] if x["id"] == 70)
    assert s70["legs"][0]["drops"] == {}
    mt.cmd("peer junk")
    mt.cmd(f"send junk 127.0.0.1:{s70['legs'][0]['port']} 1 {key_for(1, 99)} 1 1 3")

    def drops70():
        r = mt.cmd('cmd 0 {"method":"media.sessions"}')
        return next(x for x in r["sessions"] if x["id"] == 70)["legs"][0]["drops"]
    wait_for(lambda: drops70() == {"auth": 3}, timeout=3, what="auth drops listed")
    assert "error" in mt.cmd('cmd 0 {"method":"nope"}')
