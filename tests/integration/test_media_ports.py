"""sbc-media and ports of its range that someone else holds: a CREATE skips
the busy block and takes the next (counted in media.stats ports_busy, one
warning per CREATE); a restart waits for a session's ports that are still
bound for a while (a killed io_uring predecessor releases its sockets some
ms after it died) instead of losing the call."""
import socket
import threading

import pytest

from conftest import wait_for
from medtool import leg, running


@pytest.fixture(params=["uring", "epoll"])
def mt(tmp_path, request):
    yield from running(tmp_path, request.param, workers=1, slots=4)


def hold(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    return s


def test_create_skips_busy_ports(mt):
    # the first two session blocks: one RTP port held, one RTCP port held
    held = [hold(mt.base), hold(mt.base + 4 + 3)]
    try:
        r = mt.create(1, [leg(9), leg(9)])
        assert r["status"] == 0, (r, mt.media_log())
        # the third block (ports base+8..base+11) is the first whose four ports are free
        assert [lg["port"] for lg in r["legs"]] == [mt.base + 8, mt.base + 10], r
        st = mt.cmd("stats 0")
        assert st["ports_busy"] == 2 and st["sessions"] == 1, st
        assert "skipped 2 port block(s) that another socket holds" in mt.media_log()
        # the last free block, then nothing: a clear refusal, the process carries on
        assert mt.create(2, [leg(9), leg(9)])["status"] == 0
        r = mt.create(3, [leg(9), leg(9)])
        assert r["status"] != 0, r
        assert "no free block left" in mt.media_log()
        held.pop(0).close()
        r = mt.create(4, [leg(9), leg(9)])
        assert r["status"] == 0 and r["legs"][0]["port"] == mt.base, r
    finally:
        for s in held:
            s.close()


def test_restart_waits_for_ports_still_bound(mt):
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind(("127.0.0.1", 0))
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(2.0)
    try:
        r = mt.create(5, [leg(tx.getsockname()[1]), leg(rx.getsockname()[1])])
        assert r["status"] == 0, r
        ra = r["legs"][0]["port"]
        assert mt.cmd("kill9")["signal"] == 9

        # Stand in for a predecessor whose sockets outlive it: hold the
        # session's RTCP port until the new instance says it waits for it.
        def grab():
            try:
                return hold(ra + 1)
            except OSError:  # the dead io_uring instance still has it
                return None
        h = wait_for(grab, timeout=5, interval=0.002, what="the killed instance's ports")
        spawned = []
        t = threading.Thread(target=lambda: spawned.append(mt.spawn()))
        t.start()
        try:
            wait_for(lambda: "still bound: waiting up to" in mt.media_log(), timeout=10,
                     what="the restart to wait for the held port")
        finally:
            h.close()
            t.join(15)
        assert spawned, mt.media_log()
        st = mt.cmd("stats 0")
        assert st["restored"] == 1 and st["lost"] == 0, (st, mt.media_log())
        assert "were still bound" in mt.media_log()
        tx.sendto(bytes([0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5]) + bytes(160), ("127.0.0.1", ra))
        assert len(rx.recv(2048)) == 172
    finally:
        tx.close()
        rx.close()
