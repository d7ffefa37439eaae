"""The real sbc-media on the AF_XDP backend (media.backend "xdp"), in network
namespaces made by the test: host A -- relay R -- host B over veth pairs
(tests/tools/xdp/nsnet.py). medtool (control + signal + SRTP endpoints)
runs in R with sbc-media; its endpoints' sockets live in A and B, so every
media packet crosses a veth into the XDP program and the AF_XDP sockets.

The same checks as test_media_relay.py / test_media_restart.py, against the
XDP backend: RTP->RTP, SRTP->RTP and RTP->SRTP (and SRTP->SRTP with other
suites) decrypted at the receiver by libsrtp2, RTCP through the RTCP ports,
latching, timeouts, counters, a packet not for a session reaching the
kernel, kill -9 + restart with media flowing, and no XDP program left on
the interfaces after exit. Skipped, with the reason, without root,
namespaces or AF_XDP. The fallback to sockets (why logged and in
media.stats) is checked everywhere.
"""
import json
import os
import pathlib
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools" / "xdp"))
import nsnet  # noqa: E402

from conftest import BUILD  # noqa: E402
from medtool import Medtool, key_for, leg  # noqa: E402


def _need_medtool():
    if not (BUILD / "tools" / "medtool").exists():
        pytest.skip(f"medtool not built in {BUILD}")


@pytest.fixture
def topo():
    why = nsnet.unavailable()
    if why:
        pytest.skip(why)
    _need_medtool()
    t = nsnet.Topology().setup()
    try:
        # The media address is R's address towards A; B reaches it through R.
        t.run(t.A, "ip", "route", "add", "default", "via", t.ra4)
        t.run(t.B, "ip", "route", "add", "default", "via", t.rb4)
        yield t
    finally:
        t.teardown()


class XdpMedia:
    """sbc-media on backend xdp in R, endpoints in A (leg 0) and B (leg 1)."""

    def __init__(self, topo, tmp_path, timeout_ms=30000):
        self.t = topo
        self.mt = Medtool(tmp_path, netns=topo.R, address=topo.ra4, timeout_ms=timeout_ms,
                          media={"backend": "xdp", "xdp_interfaces": [topo.ra, topo.rb]})
        st = self.mt.spawn()
        if st.get("backend") != "xdp":
            log = self.mt.media_log()
            self.mt.close()
            pytest.skip("AF_XDP backend not usable here: %s\n%s" % (st.get("xdp_unused"), log))
        self.st = st

    def peer(self, name, host):
        ns = self.t.A if host == "a" else self.t.B
        ip = self.t.a4 if host == "a" else self.t.b4
        return self.mt.cmd(f"peer {name} v4 ns={ns} addr={ip}")["port"]

    def session(self, sid, a_suite, b_suite, latch=0):
        a, b = f"a{sid}", f"b{sid}"
        pa, pb = self.peer(a, "a"), self.peer(b, "b")
        ka, kb = key_for(a_suite, sid), key_for(b_suite, sid + 100)
        kar, kbr = key_for(a_suite, sid + 200), key_for(b_suite, sid + 300)
        r = self.mt.create(sid, [leg(pa, a_suite, ka, a_suite, kar, latch=latch, host=self.t.a4),
                                 leg(pb, b_suite, kbr, b_suite, kb, latch=latch, host=self.t.b4)])
        assert r["status"] == 0, r
        return dict(a=a, b=b, pa=pa, pb=pb, ka=ka, kb=kb, kar=kar, kbr=kbr, sa=a_suite, sb=b_suite,
                    ra=r["legs"][0]["port"], rb=r["legs"][1]["port"], sid=sid)

    def flow(self, s, seq, n):
        cmd, R = self.mt.cmd, self.t.ra4
        assert cmd(f"send {s['a']} {R}:{s['ra']} {s['sa']} {s['ka']} 1{s['sid']} {seq} {n}")["sent"] == n
        got = cmd(f"recv {s['b']} {s['sb']} {s['kb']} {n} 2000")
        cmd(f"send {s['b']} {R}:{s['rb']} {s['sb']} {s['kbr']} 2{s['sid']} {seq} {n}")
        back = cmd(f"recv {s['a']} {s['sa']} {s['kar']} {n} 2000")
        return got, back

    def stats(self):
        return self.mt.cmd("stats 0")

    def close(self):
        self.mt.close()


@pytest.fixture
def xm(topo, tmp_path):
    m = XdpMedia(topo, tmp_path)
    yield m
    m.close()


def test_backend_and_mode_in_stats(xm):
    st = xm.st
    assert st["backend"] == "xdp"
    assert st["xdp_attach"] in ("native", "generic"), st
    assert st["xdp_mode"] in ("native-copy", "native-zerocopy", "generic-copy"), st
    assert st["xdp"]["backend"] == "xdp" and st["xdp"]["mode"] == st["xdp_mode"]
    assert xm.t.xdp_attached(xm.t.ra) and xm.t.xdp_attached(xm.t.rb)
    assert "media backend: AF_XDP" in xm.mt.media_log()


def test_rtp_to_rtp_both_ways(xm):
    s = xm.session(1, 0, 0)
    got, back = xm.flow(s, 100, 20)
    assert got["ok"] == 20 and got["first_seq"] == 100 and got["last_seq"] == 119, got
    assert got["from"] == f"{xm.t.ra4}:{s['rb']}"  # from the relay's media address and port
    assert back["ok"] == 20 and back["from"] == f"{xm.t.ra4}:{s['ra']}", back
    q = xm.mt.cmd("query 1")
    assert q["legs"][0]["packets_in"] == 20 and q["legs"][1]["packets_out"] == 20, q
    assert q["legs"][1]["packets_in"] == 20 and q["legs"][0]["packets_out"] == 20, q
    st = xm.stats()
    # carried by the AF_XDP sockets, not the kernel's: the XDP counters saw them
    assert st["xdp"]["rx"] >= 40 and st["xdp"]["tx"] >= 40, st
    assert st["packets_in"] == 40 and st["packets_out"] == 40, st


@pytest.mark.parametrize("a_suite,b_suite", [(1, 0), (0, 1), (5, 0), (0, 7), (1, 5), (3, 2)])
def test_srtp_transcrypt_and_srtcp(xm, a_suite, b_suite):
    s = xm.session(10, a_suite, b_suite)
    got, back = xm.flow(s, 65530, 12)  # across the ROC wrap
    assert got["ok"] == 12 and got["auth_fail"] == 0 and got["bad_payload"] == 0, got
    assert got["first_seq"] == 65530 and got["last_seq"] == 5, got
    assert back["ok"] == 12 and back["auth_fail"] == 0, back
    # SRTCP (or RTCP) both ways through the RTCP ports, decrypted at the far end
    pac, pbc = xm.peer("ac10", "a"), xm.peer("bc10", "b")
    r = xm.mt.update(10, [leg(s["pa"], a_suite, s["ka"], a_suite, s["kar"], remote_rtcp=pac, host=xm.t.a4),
                          leg(s["pb"], b_suite, s["kbr"], b_suite, s["kb"], remote_rtcp=pbc, host=xm.t.b4)])
    assert r["status"] == 0, r
    R = xm.t.ra4
    xm.mt.cmd(f"send a10 {R}:{s['ra'] + 1} {a_suite} {s['ka']} 3333 9 3 rtcp")
    r = xm.mt.cmd(f"recv bc10 {b_suite} {s['kb']} 3 2000")
    assert r["rtcp"] == 3 and r["ok"] == 3 and r["auth_fail"] == 0, r
    assert r["from"] == f"{R}:{s['rb'] + 1}"
    xm.mt.cmd(f"send b10 {R}:{s['rb'] + 1} {b_suite} {s['kbr']} 4444 9 2 rtcp")
    r = xm.mt.cmd(f"recv ac10 {a_suite} {s['kar']} 2 2000")
    assert r["rtcp"] == 2 and r["ok"] == 2 and r["auth_fail"] == 0, r
    st = xm.stats()
    assert st["rtcp_in"] == 5 and st["rtcp_out"] == 5 and sum(st["drops"].values()) == 0, st


@pytest.mark.parametrize("a_suite,b_suite", [(0, 0), (0, 1)])
def test_udp_checksum_right_when_the_kernel_finishes_it(xm, a_suite, b_suite):
    """In copy mode the UDP checksum is left to the device (TX metadata,
    CHECKSUM_PARTIAL) where the kernel has it; a veth passes such packets
    on unchecked, so R's veths are set to finish checksums in software
    (tx-checksumming off): the receivers' kernels then verify every packet."""
    t = xm.t
    for dev in (t.ra, t.rb):
        t.tx_csum_off(t.R, dev)
    errs = (t.udp_csum_errors(t.A), t.udp_csum_errors(t.B))
    s = xm.session(30 + b_suite, a_suite, b_suite)
    got, back = xm.flow(s, 500, 20)
    assert got["ok"] == 20 and back["ok"] == 20, (got, back)
    assert (t.udp_csum_errors(t.A), t.udp_csum_errors(t.B)) == errs
    st = xm.stats()["xdp"]
    # TX metadata needs XDP_UMEM_TX_METADATA_LEN (Linux >= 6.11), copy mode
    rel = tuple(int(x) for x in os.uname().release.split("-")[0].split(".")[:2])
    assert st["csum_offload"] is (rel >= (6, 11) and st["mode"] != "native-zerocopy"), st


def test_wrong_key_dropped_and_counted(xm):
    s = xm.session(20, 1, 0)
    xm.mt.cmd(f"send a20 {xm.t.ra4}:{s['ra']} 1 {key_for(1, 77)} 5 1 10")
    assert xm.mt.cmd("recv b20 0 - 10 500")["got"] == 0
    assert xm.stats()["drops"]["auth"] == 10


def test_latching(xm):
    t, R = xm.t, xm.t.ra4
    pb, pa, pz = xm.peer("b", "b"), xm.peer("a", "a"), xm.peer("z", "a")
    ka = key_for(1, 5)
    # leg 0's SDP address is wrong (nobody on port 9): latching learns A
    r = xm.mt.create(40, [leg(9, 1, ka, 1, ka, latch=1, host=t.a4), leg(pb, host=t.b4)])
    assert r["status"] == 0, r
    ra, rb = r["legs"][0]["port"], r["legs"][1]["port"]
    xm.mt.cmd(f"send b {R}:{rb} 0 - 1 1 2")
    assert xm.mt.cmd(f"recv a 1 {ka} 1 300")["got"] == 0
    xm.mt.cmd(f"send z {R}:{ra} 1 {key_for(1, 6)} 66 1 2")  # unauthenticated: no latch
    assert xm.mt.cmd("query 40")["legs"][0]["latched"] is False
    xm.mt.cmd(f"send a {R}:{ra} 1 {ka} 55 1 3")
    assert xm.mt.cmd("recv b 0 - 3 2000")["ok"] == 3
    q = xm.mt.cmd("query 40")
    assert q["legs"][0]["latched"] is True and q["legs"][0]["peer"] == f"{t.a4}:{pa}", q
    ev = xm.mt.cmd("events 1000")["events"]
    assert {"id": 40, "kind": "latched", "leg": 0, "addr": f"{t.a4}:{pa}", "to": 0} in ev, ev
    xm.mt.cmd(f"send b {R}:{rb} 0 - 1 10 4")
    assert xm.mt.cmd(f"recv a 1 {ka} 4 2000")["ok"] == 4
    xm.mt.cmd("rekey z")
    xm.mt.cmd(f"send z {R}:{ra} 1 {ka} 55 100 2")  # right key, other source
    assert xm.mt.cmd("recv b 0 - 1 300")["got"] == 0
    assert xm.stats()["drops"]["source"] == 2


def test_not_for_session_reaches_kernel(xm):
    t = xm.t
    s = xm.session(30, 0, 0)
    idle = xm.mt.base + 4 * 15  # a port of the range with no session (slot 15 of 16)
    inside = t.peer(t.R, "recv", f"{t.ra4}:{idle}", "1", "3")
    outside = t.peer(t.R, "recv", f"{t.ra4}:7000", "1", "3")
    for r in (inside, outside):
        assert r.stdout.readline().strip() == "READY"
    xm.mt.cmd(f"send a30 {t.ra4}:{idle} 0 - 1 1 1")
    xm.mt.cmd(f"send a30 {t.ra4}:7000 0 - 1 1 1")
    for r in (inside, outside):
        out, err = r.communicate(timeout=10)
        assert r.returncode == 0, err
        assert len(json.loads(out.strip().splitlines()[-1])["got"]) == 1, out
    # the session still flows through XDP
    got, back = xm.flow(s, 1, 5)
    assert got["ok"] == 5 and back["ok"] == 5
    assert xm.stats()["xdp"]["rx"] == 10


def test_timeout_event(topo, tmp_path):
    m = XdpMedia(topo, tmp_path, timeout_ms=300)
    try:
        pa, pb = m.peer("a", "a"), m.peer("b", "b")
        r = m.mt.create(60, [leg(pa, host=topo.a4), leg(pb, host=topo.b4)], timeout_ms=400)
        assert r["status"] == 0
        ev = m.mt.cmd("events 3000")["events"]
        assert {"id": 60, "kind": "timeout", "leg": 0, "addr": "", "to": 0} in ev, ev
        assert m.stats()["timeouts"] == 1
    finally:
        m.close()


def test_kill9_restart_calls_carry_on_and_interfaces_clean(xm):
    t = xm.t
    sessions = [xm.session(1, 1, 0, latch=1), xm.session(2, 5, 3, latch=1), xm.session(3, 0, 6, latch=1)]
    for s in sessions:
        got, back = xm.flow(s, 65500, 50)
        assert got["ok"] == 50 and back["ok"] == 50, (s, got, back)
    before = {s["sid"]: xm.mt.cmd(f"query {s['sid']}") for s in sessions}
    assert xm.mt.cmd("kill9")["signal"] == 9
    # the kernel released the bpf_links with the process: nothing attached
    assert t.xdp_attached(t.ra) is None and t.xdp_attached(t.rb) is None
    st = xm.mt.spawn()
    assert st["backend"] == "xdp" and st["restored"] == 3, st
    for s in sessions:
        got, back = xm.flow(s, 65550 - 65536, 30)
        assert got["ok"] == 30 and got["auth_fail"] == 0 and got["replay"] == 0, (s, got)
        assert back["ok"] == 30 and back["auth_fail"] == 0, (s, back)
    st = xm.stats()
    assert st["drops"]["auth"] == 0 and st["drops"]["replay"] == 0 and st["drops"]["srtp"] == 0, st
    for s in sessions:
        q = xm.mt.cmd(f"query {s['sid']}")
        assert q["legs"][0]["packets_in"] == 80 and q["legs"][0]["latched"], q
        assert q["legs"][0]["peer"] == before[s["sid"]]["legs"][0]["peer"]
    assert xm.mt.cmd("term")["exit"] == 0
    assert t.xdp_attached(t.ra) is None and t.xdp_attached(t.rb) is None


STREAM = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
dst = (sys.argv[2], int(sys.argv[3]))
t0 = time.monotonic()
for seq in range(int(sys.argv[4])):
    time.sleep(max(0.0, t0 + seq * 0.02 - time.monotonic()))
    try:
        s.sendto(bytes([0x80, 0, seq >> 8, seq & 0xFF, 0, 0, 0, 0, 0, 0, 0, 77]) + bytes(160), dst)
    except OSError:
        pass  # ICMP port unreachable while sbc-media is down
"""


def test_media_keeps_flowing_across_kill9(xm):
    """A 50 packets/s stream from A runs the whole time (4 s); sbc-media is
    killed and restarted meanwhile; B hears it again within a second, on the
    same relay port, in order, through the AF_XDP path."""
    t = xm.t
    r = xm.mt.create(77, [leg(6100, host=t.a4), leg(6200, host=t.b4)])
    assert r["status"] == 0, r
    ra, rb = r["legs"][0]["port"], r["legs"][1]["port"]
    rx = t.peer(t.B, "recv", f"{t.b4}:6200", "200", "3")
    assert rx.stdout.readline().strip() == "READY"
    tx = t.popen(t.A, "/usr/bin/python3", "-c", STREAM, t.a4, t.ra4, str(ra), "200")
    time.sleep(1.0)
    t_kill = time.monotonic()
    assert xm.mt.cmd("kill9")["signal"] == 9
    st = xm.mt.spawn()
    restart = time.monotonic() - t_kill  # kill to the new sbc-media answering
    assert st["backend"] == "xdp" and st["restored"] == 1, st
    tx.communicate(timeout=20)
    out, err = rx.communicate(timeout=20)
    assert rx.returncode == 0, err
    got = json.loads(out.strip().splitlines()[-1])["got"]
    assert {src for src, _ in got} == {f"{t.ra4}:{rb}"}
    seqs = [int(p[4:8], 16) for _, p in got]
    assert seqs == sorted(seqs), seqs          # in order
    assert seqs[-1] == 199, seqs               # the end of the stream arrived
    gaps = [b - a for a, b in zip(seqs, seqs[1:])]
    # at most a second (50 packets) missing, or on a loaded machine whose
    # process start-up is slow, the restart time plus half a second
    assert restart < 5.0, restart
    lost = max(50, int((restart + 0.5) / 0.02) + 1)
    assert max(gaps) <= lost, (gaps, restart)
    assert len(seqs) >= 200 - lost, (len(seqs), restart)
    assert xm.stats()["xdp"]["rx"] > 0


def test_fallback_to_sockets_says_why(tmp_path):
    """No root needed: an interface that does not exist makes sbc-media log
    why and carry the media on sockets, as before."""
    _need_medtool()
    m = Medtool(tmp_path, media={"backend": "xdp", "xdp_interfaces": ["nosuchif0"]})
    try:
        st = m.spawn()
        assert st["backend"] == "socket", st
        assert "nosuchif0" in st["xdp_unused"], st
        assert "AF_XDP backend not used" in m.media_log()
        pa, pb = m.cmd("peer a")["port"], m.cmd("peer b")["port"]
        r = m.create(1, [leg(pa), leg(pb)])
        assert m.cmd(f"send a 127.0.0.1:{r['legs'][0]['port']} 0 - 1 1 5")["sent"] == 5
        assert m.cmd("recv b 0 - 5 2000")["ok"] == 5
    finally:
        m.close()


def test_more_workers_than_queues_falls_back_cleanly(topo, tmp_path):
    """Two workers on single-queue veths: AF_XDP cannot steer each session to
    its worker, so sbc-media says so, detaches, and relays on sockets."""
    t = topo
    m = Medtool(tmp_path, netns=t.R, address=t.ra4, workers=2,
                media={"backend": "xdp", "xdp_interfaces": [t.ra, t.rb]})
    try:
        st = m.spawn()
        assert st["backend"] == "socket" and "RX queue" in st["xdp_unused"], st
        assert t.xdp_attached(t.ra) is None and t.xdp_attached(t.rb) is None
        pa = m.cmd(f"peer a v4 ns={t.A} addr={t.a4}")["port"]
        pb = m.cmd(f"peer b v4 ns={t.B} addr={t.b4}")["port"]
        r = m.create(1, [leg(pa, host=t.a4), leg(pb, host=t.b4)])
        assert r["status"] == 0, r
        assert m.cmd(f"send a {t.ra4}:{r['legs'][0]['port']} 0 - 1 1 5")["sent"] == 5
        assert m.cmd("recv b 0 - 5 2000")["ok"] == 5
    finally:
        m.close()
