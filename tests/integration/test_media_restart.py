"""sbc-media killed with SIGKILL and restarted: calls carry on from the shared
segment (same ports, keys, roll-over counters, SRTCP indices, latched
addresses) with no authentication failure at either end."""
import time

import pytest

from conftest import wait_for
from medtool import key_for, leg, running


@pytest.fixture(params=["uring", "epoll"])
def mt(tmp_path, request):
    """A running sbc-media, once per data path (io_uring, epoll)."""
    yield from running(tmp_path, request.param, workers=2)


def make(mt, sid, sa, sb, worker, latch=1):
    a, b = f"a{sid}", f"b{sid}"
    pa = mt.cmd(f"peer {a}")["port"]
    pb = mt.cmd(f"peer {b}")["port"]
    ka, kar, kb, kbr = key_for(sa, sid), key_for(sa, sid + 1), key_for(sb, sid + 2), key_for(sb, sid + 3)
    r = mt.create(sid, [leg(pa, sa, ka, sa, kar, latch=latch), leg(pb, sb, kbr, sb, kb, latch=latch)],
                  worker=worker)
    assert r["status"] == 0, r
    return dict(a=a, b=b, ka=ka, kar=kar, kb=kb, kbr=kbr, sa=sa, sb=sb,
                ra=r["legs"][0]["port"], rb=r["legs"][1]["port"], w=worker, sid=sid)


def flow(mt, s, seq, n, rtcp_seq=None):
    """n packets A->B and B->A starting at seq; all must decrypt."""
    r = mt.cmd(f"send {s['a']} 127.0.0.1:{s['ra']} {s['sa']} {s['ka']} 1000{s['sid']} {seq} {n}")
    assert r["sent"] == n
    got = mt.cmd(f"recv {s['b']} {s['sb']} {s['kb']} {n} 2000")
    mt.cmd(f"send {s['b']} 127.0.0.1:{s['rb']} {s['sb']} {s['kbr']} 2000{s['sid']} {seq} {n}")
    back = mt.cmd(f"recv {s['a']} {s['sa']} {s['kar']} {n} 2000")
    if rtcp_seq is not None:
        mt.cmd(f"send {s['a']} 127.0.0.1:{s['ra'] + 1} {s['sa']} {s['ka']} 1000{s['sid']} 0 2 rtcp")
    return got, back


def test_kill9_restart_calls_carry_on(mt):
    sessions = [make(mt, 1, 1, 0, 0), make(mt, 2, 5, 3, 1), make(mt, 3, 0, 6, 0), make(mt, 4, 2, 5, 1)]
    for s in sessions:
        # start just below the 16-bit wrap so the ROC is 1 when we kill it
        got, back = flow(mt, s, 65500, 50)
        assert got["ok"] == 50 and back["ok"] == 50, (s, got, back)
    before = {s["sid"]: mt.cmd(f"query {s['sid']} {s['w']}") for s in sessions}
    assert all(q["legs"][0]["latched"] for q in before.values())

    assert mt.cmd("kill9")["signal"] == 9
    t0 = time.monotonic()
    mt.spawn()
    # first packets after the restart
    for s in sessions:
        got, back = flow(mt, s, 65550 - 65536, 30)
        assert got["ok"] == 30 and got["auth_fail"] == 0 and got["replay"] == 0, (s, got)
        assert back["ok"] == 30 and back["auth_fail"] == 0, (s, back)
    elapsed = time.monotonic() - t0
    # spawn + 4 sessions x 60 packets: about 0.3 s on an idle box; the bound only
    # says the calls carried on without a recv timing out (2 s each), also
    # under ASan on a CI box that runs another test on the other core
    assert elapsed < 8.0, elapsed
    st0, st1 = mt.cmd("stats 0"), mt.cmd("stats 1")
    assert st0["restored"] + st1["restored"] == 4, (st0, st1)
    for st in (st0, st1):
        assert st["drops"]["auth"] == 0 and st["drops"]["replay"] == 0 and st["drops"]["srtp"] == 0, st
    # counters and latching survived in the segment
    for s in sessions:
        q = mt.cmd(f"query {s['sid']} {s['w']}")
        assert q["legs"][0]["packets_in"] == 80 and q["legs"][0]["latched"], q
        assert q["legs"][0]["peer"] == before[s["sid"]]["legs"][0]["peer"]


def test_srtcp_index_continues_after_restart(mt):
    s = make(mt, 9, 1, 1, 0, latch=0)
    pbc = mt.cmd("peer bc")["port"]
    # leg 1 RTCP to a listener of ours
    r = mt.update(9, [leg(int(mt.cmd(f"query 9")["legs"][0]["peer"].split(":")[1]), 1, s["ka"], 1, s["kar"]),
                      leg(int(mt.cmd(f"query 9")["legs"][1]["peer"].split(":")[1]), 1, s["kbr"], 1, s["kb"],
                          remote_rtcp=pbc)])
    assert r["status"] == 0, r
    mt.cmd(f"send {s['a']} 127.0.0.1:{s['ra'] + 1} 1 {s['ka']} 5 0 5 rtcp")
    r = mt.cmd(f"recv bc 1 {s['kb']} 5 2000")
    assert r["ok"] == 5, r
    mt.cmd("kill9")
    mt.spawn()
    mt.cmd(f"send {s['a']} 127.0.0.1:{s['ra'] + 1} 1 {s['ka']} 5 0 5 rtcp")
    r = mt.cmd(f"recv bc 1 {s['kb']} 5 2000")
    # the relay's outbound SRTCP index continued: the far end sees no replay
    assert r["ok"] == 5 and r["replay"] == 0 and r["auth_fail"] == 0, r


def test_sigterm_exits_zero_and_keeps_sessions(mt):
    s = make(mt, 7, 1, 0, 0)
    flow(mt, s, 1, 5)
    assert mt.cmd("term")["exit"] == 0
    mt.spawn()
    got, back = flow(mt, s, 6, 5)
    assert got["ok"] == 5 and back["ok"] == 5


def test_media_keeps_flowing_across_kill9(mt):
    """A 50 packets/s plain stream runs the whole time; sbc-media is killed
    and restarted meanwhile; the far end hears the stream again, on the same
    relay port and in order, within half a second of the new sbc-media
    answering (a second of the kill on an idle machine; the bound follows
    the restart time so that a loaded machine's slow process start-up is
    not taken for a relay fault)."""
    import socket
    import threading

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.1)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind(("127.0.0.1", 0))
    r = mt.create(77, [leg(tx.getsockname()[1], latch=1), leg(rx.getsockname()[1])])
    assert r["status"] == 0
    ra = r["legs"][0]["port"]
    stop = threading.Event()
    arrivals = []

    def send():
        seq = 0
        while not stop.is_set():
            hdr = bytes([0x80, 0, seq >> 8 & 0xFF, seq & 0xFF, 0, 0, 0, 0, 0, 0, 0, 77])
            tx.sendto(hdr + bytes(160), ("127.0.0.1", ra))
            seq += 1
            time.sleep(0.02)

    def recv():
        while not stop.is_set():
            try:
                d = rx.recv(2048)
            except socket.timeout:
                continue
            arrivals.append((time.monotonic(), d[2] << 8 | d[3]))

    ts = [threading.Thread(target=send), threading.Thread(target=recv)]
    for t in ts:
        t.start()
    try:
        time.sleep(0.5)
        t_kill = time.monotonic()
        assert mt.cmd("kill9")["signal"] == 9
        mt.spawn()
        t_ready = time.monotonic()
        # the stream back for half a second (25 packets) after the restart
        wait_for(lambda: sum(1 for a in arrivals if a[0] >= t_ready) >= 25, timeout=5,
                 what="the stream at the far end after the restart")
    finally:
        stop.set()
        for t in ts:
            t.join()
        tx.close()
        rx.close()
    before = [a for a in arrivals if a[0] < t_kill]
    after = [a for a in arrivals if a[0] >= t_kill]
    assert len(before) >= 15 and len(after) >= 20, (len(before), len(after))
    # the silence the far end heard, around the kill
    gap = max(b[0] - a[0] for a, b in zip(arrivals, arrivals[1:]))
    restart = t_ready - t_kill
    print(f"silence at the far end across kill -9 + restart: {gap * 1000:.0f} ms "
          f"(kill to the new sbc-media answering: {restart * 1000:.0f} ms)")
    # the silence can only end after the restart; what comes on top of it
    # is the relay's own delay (restored sessions, sockets) and must stay
    # small; the restart itself only has a sanity bound (process start-up
    # is the machine's, and 0.1-0.3 s when idle)
    assert restart < 5.0, restart
    assert gap < max(1.0, restart + 0.5), (gap, restart)
    seqs = [s for _, s in arrivals]
    assert seqs == sorted(seqs)  # nothing replayed or reordered by the restart
