"""sbc-media control path: update (re-key, new address), rtcp-mux, several
workers, and hostile input on the rings and the sockets."""
import json
import socket

import pytest

from conftest import BUILD, wait_for
from medtool import Medtool, key_for, leg


@pytest.fixture
def mt(tmp_path):
    if not (BUILD / "tools" / "medtool").exists():
        pytest.skip(f"medtool not built in {BUILD}")
    m = Medtool(tmp_path, workers=2)
    m.spawn()
    yield m
    m.close()


def test_update_rekeys_and_moves(mt):
    pa = mt.cmd("peer a")["port"]
    pb = mt.cmd("peer b")["port"]
    pc = mt.cmd("peer c")["port"]
    k1, k2 = key_for(1, 1), key_for(5, 2)
    r = mt.create(1, [leg(pa, 1, k1, 1, k1), leg(pb)])
    ra = r["legs"][0]["port"]
    mt.cmd(f"send a 127.0.0.1:{ra} 1 {k1} 1 1 5")
    assert mt.cmd("recv b 0 - 5 2000")["ok"] == 5
    # re-INVITE: A now uses GCM with a new key, B moved to C
    r = mt.update(1, [leg(pa, 5, k2, 5, k2), leg(pc)])
    assert r["status"] == 0 and r["legs"][0]["port"] == ra, r  # same ports
    mt.cmd(f"send a 127.0.0.1:{ra} 5 {k2} 1 6 5")
    assert mt.cmd("recv c 0 - 5 2000")["ok"] == 5
    assert mt.cmd("recv b 0 - 1 200")["got"] == 0
    # the old key no longer passes
    mt.cmd("rekey a")
    mt.cmd(f"send a 127.0.0.1:{ra} 1 {k1} 1 20 3")
    assert mt.cmd("recv c 0 - 1 300")["got"] == 0
    assert mt.cmd("update " + json.dumps({"id": 404, "worker": 0, "legs": [leg(pa), leg(pb)]}))["status"] != 0


def test_rtcp_mux(mt):
    pa = mt.cmd("peer a")["port"]
    pb = mt.cmd("peer b")["port"]
    ka, kb = key_for(3, 1), key_for(6, 2)
    r = mt.create(2, [leg(pa, 3, ka, 3, ka), leg(pb, 6, kb, 6, kb)], flags=1)
    ra, rb = r["legs"][0]["port"], r["legs"][1]["port"]
    # SRTCP on the RTP port, interleaved with SRTP
    mt.cmd(f"send a 127.0.0.1:{ra} 3 {ka} 9 1 3")
    mt.cmd(f"send a 127.0.0.1:{ra} 3 {ka} 9 0 2 rtcp")
    mt.cmd(f"send a 127.0.0.1:{ra} 3 {ka} 9 4 3")
    r = mt.cmd(f"recv b 6 {kb} 8 2000")
    assert r["ok"] == 8 and r["rtcp"] == 2 and r["auth_fail"] == 0, r
    assert r["from"] == f"127.0.0.1:{rb}"  # muxed: everything from the RTP port
    mt.cmd(f"send b 127.0.0.1:{rb} 6 {kb} 10 0 2 rtcp")
    r = mt.cmd(f"recv a 3 {ka} 2 2000")
    assert r["rtcp"] == 2 and r["ok"] == 2, r


def test_two_workers_own_their_sessions(mt):
    pa = mt.cmd("peer a")["port"]
    pb = mt.cmd("peer b")["port"]
    r0 = mt.create(10, [leg(pa), leg(pb)], worker=0)
    r1 = mt.create(11, [leg(pa), leg(pb)], worker=1)
    assert r0["status"] == 0 and r1["status"] == 0
    assert r0["legs"][0]["port"] != r1["legs"][0]["port"]
    assert mt.cmd("query 10 0")["status"] == 0
    assert mt.cmd("query 10 1")["status"] != 0  # not worker 1's
    s0, s1 = mt.cmd("stats 0"), mt.cmd("stats 1")
    assert s0["sessions"] == 1 and s1["sessions"] == 1
    assert s0["worker"] == 0 and s1["worker"] == 1
    # a repeated CREATE (e.g. replayed after a restart) returns the same session
    again = mt.create(10, [leg(pa), leg(pb)], worker=0)
    assert again["status"] == 0 and again["legs"][0]["port"] == r0["legs"][0]["port"]
    assert mt.cmd("stats 0")["sessions"] == 1


def test_capacity_limit(tmp_path):
    m = Medtool(tmp_path, workers=1, slots=3)
    try:
        m.spawn()
        pa = m.cmd("peer a")["port"]
        for sid in range(3):
            assert m.create(sid + 1, [leg(pa), leg(pa)])["status"] == 0
        r = m.create(99, [leg(pa), leg(pa)])
        assert r["status"] != 0 and "limit" in r["error"], r
        assert m.cmd("delete 1")["status"] == 0
        assert m.create(99, [leg(pa), leg(pa)])["status"] == 0
    finally:
        m.close()


def test_hostile_packets_do_not_hurt(mt):
    pa = mt.cmd("peer a")["port"]
    pb = mt.cmd("peer b")["port"]
    ka = key_for(1, 3)
    r = mt.create(20, [leg(pa, 1, ka, 1, ka), leg(pb)])
    ra = r["legs"][0]["port"]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    junk = [b"", b"\x00", b"\x80", b"\x80\x00\x00\x01", b"\xff" * 11, b"\x80" + b"\x00" * 11,
            b"\x40" * 200, b"\x80\xc8" + b"\x00" * 6, bytes(range(256)) * 5, b"\x80\x00" + b"\x00" * 1400]
    for j in junk * 3:
        s.sendto(j, ("127.0.0.1", ra))
        s.sendto(j, ("127.0.0.1", ra + 1))
    s.close()
    mt.cmd(f"send a 127.0.0.1:{ra} 1 {ka} 1 1 4")
    assert mt.cmd("recv b 0 - 4 2000")["ok"] == 4
    assert mt.cmd("recv b 0 - 1 200")["got"] == 0  # none of the junk went through
    st = mt.cmd("stats 0")
    assert st["drops"]["parse"] + st["drops"]["auth"] + st["drops"]["srtp"] + st["drops"]["replay"] >= 50, st


def test_hostile_ring_records(mt):
    # unknown type, wrong version, short and long records of a known type
    for args in ("0 63 1 16", "0 16 1 8", "0 16 99 480", "0 18 2 4", "0 18 2 40", "0 4 1 2", "0 7 1 64"):
        assert mt.cmd(f"ringraw {args}")["pushed"] == 1
    # (stats come over the control ring, the records over the signal ring:
    # the worker may answer one before it has read the other)
    wait_for(lambda: mt.cmd("stats 0")["ctl_bad"] >= 6, timeout=3, what="bad records counted")
    pa = mt.cmd("peer a")["port"]
    assert mt.create(30, [leg(pa), leg(pa)])["status"] == 0  # still serving


def test_events_go_to_the_creating_signal_worker(tmp_path):
    m = Medtool(tmp_path, signal_workers=2)
    try:
        m.spawn()
        pa = m.cmd("peer a")["port"]
        pb = m.cmd("peer b")["port"]
        r = m.create(5, [leg(pa, latch=1), leg(pb)], signal=1)
        assert r["status"] == 0
        m.cmd(f"send a 127.0.0.1:{r['legs'][0]['port']} 0 - 1 1 2")
        assert m.cmd("recv b 0 - 2 2000")["ok"] == 2
        ev = m.cmd("events 1000")["events"]
        assert [(e["id"], e["kind"], e["to"]) for e in ev] == [(5, "latched", 1)], ev
    finally:
        m.close()


def test_ipv6_media(tmp_path):
    import socket as s
    try:
        with s.socket(s.AF_INET6, s.SOCK_DGRAM) as t:
            t.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    m = Medtool(tmp_path, address="::1")
    try:
        m.spawn()
        pa = m.cmd("peer a v6")["port"]
        pb = m.cmd("peer b v6")["port"]
        ka, kb = key_for(5, 1), key_for(1, 2)
        r = m.create(6, [leg(pa, 5, ka, 5, ka, latch=1, host="::1"), leg(pb, 1, kb, 1, kb, host="::1")])
        assert r["status"] == 0, r
        ra, rb = r["legs"][0]["port"], r["legs"][1]["port"]
        m.cmd(f"send a [::1]:{ra} 5 {ka} 3 1 5")
        got = m.cmd(f"recv b 1 {kb} 5 2000")
        assert got["ok"] == 5 and got["from"] == f"[::1]:{rb}", got
        m.cmd(f"send b [::1]:{rb} 1 {kb} 4 1 5")
        assert m.cmd(f"recv a 5 {ka} 5 2000")["ok"] == 5
        q = m.cmd("query 6")
        assert q["legs"][0]["latched"] and q["legs"][0]["peer"] == f"[::1]:{pa}", q
        # an IPv4 far end on an IPv6 relay address: refused
        bad = m.create(7, [leg(pa), leg(pb)])
        assert bad["status"] != 0 and "invalid" in bad["error"], bad
    finally:
        m.close()
