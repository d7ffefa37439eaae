"""sbc-media behind on its work (here: stopped for a while) sheds the stale
backlog, counts it, and every stream carries on by itself."""
import os
import signal
import time

import pytest

from conftest import wait_for
from medtool import all_stopped, key_for, leg, running


@pytest.fixture(params=["uring", "epoll"])
def mt(tmp_path, request):
    yield from running(tmp_path, request.param)


def test_stale_backlog_shed_then_recovers(mt):
    streams = []
    for sid in (1, 2, 3):
        pa = mt.cmd(f"peer a{sid}")["port"]
        pb = mt.cmd(f"peer b{sid}")["port"]
        k = key_for(1, sid)
        r = mt.create(sid, [leg(pa, 1, k, 1, k), leg(pb)])
        streams.append((sid, r["legs"][0]["port"], k))
    for sid, ra, k in streams:
        mt.cmd(f"send a{sid} 127.0.0.1:{ra} 1 {k} {sid} 1 5")
        assert mt.cmd(f"recv b{sid} 0 - 5 2000")["ok"] == 5
    os.kill(mt.pid, signal.SIGSTOP)  # the relay falls behind
    try:
        wait_for(lambda: all_stopped(mt.pid), what="sbc-media stopped")
        for sid, ra, k in streams:
            mt.cmd(f"send a{sid} 127.0.0.1:{ra} 1 {k} {sid} 6 20")
        time.sleep(0.4)
    finally:
        os.kill(mt.pid, signal.SIGCONT)
    for sid, ra, k in streams:
        mt.cmd(f"send a{sid} 127.0.0.1:{ra} 1 {k} {sid} 26 5")
    for sid, ra, k in streams:
        r = mt.cmd(f"recv b{sid} 0 - 25 600")
        # the 20 that waited 400 ms were shed; the fresh 5 went through
        assert r["ok"] == 5 and r["first_seq"] == 26, r
    st = mt.cmd("stats 0")
    assert st["drops"]["shed"] == 60 and st["drops"]["auth"] == 0, st


def test_kernel_queue_drops_are_read_and_reported(mt):
    pa = mt.cmd("peer a")["port"]
    pb = mt.cmd("peer b")["port"]
    r = mt.create(9, [leg(pa), leg(pb)])
    ra = r["legs"][0]["port"]
    os.kill(mt.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: all_stopped(mt.pid), what="sbc-media stopped")
        # far more than the port's 64 KB receive buffer holds
        assert mt.cmd(f"send a 127.0.0.1:{ra} 0 - 1 1 1000")["sent"] == 1000
        time.sleep(0.3)
    finally:
        os.kill(mt.pid, signal.SIGCONT)
    # let it drain its (full) queue first, or the fresh packets meet a full
    # queue and are the kernel's to drop
    wait_for(lambda: mt.cmd("stats 0")["drops"]["shed"] >= 100, what="backlog shed")
    time.sleep(0.1)
    mt.cmd(f"send a 127.0.0.1:{ra} 0 - 1 1001 3")
    r = mt.cmd("recv b 0 - 4 800")
    assert r["ok"] == 3 and r["first_seq"] == 1001, r
    st = mt.cmd("stats 0")
    d = st["drops"]
    # what the kernel dropped is counted from SO_RXQ_OVFL; the rest was shed
    assert d["kernel"] > 100 and d["kernel"] + d["shed"] == 1000, d
