"""Media port leases (msg-t.h, sbc_msg_media rule 7): sbc-media binds relay
ports ahead for each sbc-signal worker, and a call's B-leg INVITE leaves
with a leased block's port without waiting for MEDIA_CREATE's reply. Checked
end to end with the real processes: the SDP the called carrier gets names a
block sbc-media granted (and RTP flows through it both ways), a pool that is
empty falls back to the round trip (counted), and after sbc-media is killed
(-9) and restarted by sbc-control the calls take the new instance's leases;
after sbc-signal is killed the leases of the old one are taken back."""
import os
import signal
import time

import pytest

from b2b_common import Sbc, Uac, Uas, body, child_pid, sdp_media, status
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")

RTP = bytes([0x80, 0x00, 0x00, 0x01]) + b"\x00" * 8 + b"leased-rtp" * 8


@pytest.fixture
def env(procs, tmp_path):
    made = []

    def make(media_ports=60):
        uas = Uas("answer")
        sbc = Sbc(procs, tmp_path, uas.port, media_ports=media_ports, log_level="info")
        made.append(uas)
        return sbc, uas

    yield make
    for uas in made:
        uas.close()


def leases(sbc):
    """sbc-signal worker 0's media_leases counters."""
    return sbc.rpc("stats.get")["signal"][0]["stats"]["media_leases"]


def media_leases(sbc):
    return sbc.rpc("media.stats")["workers"][0]["leases"]


def call_with_media(sbc, uas):
    """One call from a fresh UAC: answered, RTP both ways through the relay.
    Returns the relay port the called carrier was offered (leg 1)."""
    uas.invite = None
    uas.rtp.setblocking(False)
    try:  # the packets of an earlier call this test did not read
        while True:
            uas.rtp.recvfrom(2048)
    except BlockingIOError:
        pass
    uac = Uac(sbc.port)
    try:
        uac.invite()
        final = uac.wait_final()
        assert status(final) == 200, sbc.log()[-3000:]
        bip, bport, _ = sdp_media(body(uas.invite))
        aip, aport, _ = sdp_media(body(final))
        assert bip == "127.0.0.1" and sbc.mbase <= bport < sbc.mbase + 60 and aport != bport
        uac.ack(final)
        uas.rtp.settimeout(2)
        for i in range(3):
            uac.rtp.sendto(RTP[:3] + bytes([i]) + RTP[4:], (aip, aport))
        got, src = uas.rtp.recvfrom(2048)
        assert got[12:] == RTP[12:] and src == (bip, bport)  # sent from the port B was offered
        uas.rtp.sendto(RTP, src)
        uac.rtp.settimeout(2)
        back, bsrc = uac.rtp.recvfrom(2048)
        assert back[12:] == RTP[12:] and bsrc[1] == aport
        assert status(uac.bye(final)) == 200
        return bport
    finally:
        uac.close()


def test_b_invite_carries_leased_port_and_media_flows(env):
    sbc, uas = env()
    wait_for(lambda: leases(sbc)["pooled"] > 0, timeout=10, what="a lease pool at sbc-signal")
    before = leases(sbc)
    granted = media_leases(sbc)
    assert granted["granted"] >= before["pooled"] and granted["outstanding"] >= before["pooled"], granted
    bport = call_with_media(sbc, uas)
    after = leases(sbc)
    # the CREATE named a lease: no round trip before the B-leg INVITE
    assert after["used"] == before["used"] + 1 and after["fallbacks"] == before["fallbacks"], after
    m = media_leases(sbc)
    assert m["used"] == granted["used"] + 1 and m["adopted"] == 0, m
    # the leased block's leg-1 port is what B was offered: leases are the
    # blocks from mbase (4 ports each), leg 1 RTP is block + 2
    assert (bport - sbc.mbase) % 4 == 2, bport
    # and the pool is topped up again in a batch
    wait_for(lambda: leases(sbc)["pooled"] > 0, timeout=5, what="pool topped up")


def test_empty_pool_falls_back_to_round_trip(env):
    # 12 ports: 3 port blocks, a quarter of which is no lease at all
    sbc, uas = env(media_ports=12)
    time.sleep(0.3)  # time for a (wrong) batch to arrive, were one sent
    assert leases(sbc)["pooled"] == 0
    call_with_media(sbc, uas)
    after = leases(sbc)
    assert after["used"] == 0 and after["fallbacks"] == 1, after
    assert media_leases(sbc)["granted"] == 0


def test_media_kill9_calls_use_fresh_leases(env):
    sbc, uas = env()
    wait_for(lambda: leases(sbc)["pooled"] > 0, timeout=10, what="a lease pool at sbc-signal")
    call_with_media(sbc, uas)
    pid = child_pid(sbc.ctl.pid, "sbc-media")
    assert pid
    os.kill(pid, signal.SIGKILL)

    def fresh():
        p = child_pid(sbc.ctl.pid, "sbc-media")
        if not p or p == pid:
            return False
        try:
            return media_leases(sbc)["granted"] > 0 and leases(sbc)["pooled"] > 0
        except AssertionError:  # sbc-media not answering yet
            return False

    wait_for(fresh, timeout=20, what="sbc-media restarted and leases granted anew")
    used = leases(sbc)["used"]
    for _ in range(2):
        call_with_media(sbc, uas)
    assert leases(sbc)["used"] == used + 2
    # granted by the new instance (its counters start from zero)
    m = media_leases(sbc)
    assert m["used"] == 2 and m["adopted"] == 0, m


def test_signal_kill9_leases_taken_back(env):
    sbc, uas = env()
    wait_for(lambda: leases(sbc)["pooled"] > 0, timeout=10, what="a lease pool at sbc-signal")
    pid = child_pid(sbc.ctl.pid, "sbc-signal")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: (child_pid(sbc.ctl.pid, "sbc-signal") or pid) != pid and sbc.options_ok(), timeout=20,
             what="sbc-signal restarted")
    wait_for(lambda: leases(sbc)["pooled"] > 0, timeout=10, what="a lease pool at the new sbc-signal")
    m = media_leases(sbc)
    # the old worker's pool came back to sbc-media: what is out now is the
    # new worker's pool only (15 blocks / 4 = 3 at most)
    assert m["reclaimed"] >= 1 and m["outstanding"] <= 3, m
    call_with_media(sbc, uas)
    assert leases(sbc)["used"] == 1
