"""AF_XDP media path (sbc-media/src/xdp_*.c) in network namespaces made by
the test: host A -- relay R -- host B over veth pairs. The relay is
tests/tools/xdp/xdp_relay.c (the backend with a static session table).

Checked: RTP relayed A->B over IPv4, IPv6 and across families with the
payload intact and the relay's address as source; a packet that is not for a
session reaches the kernel (outside the range, and inside it with the port
filter); the kernel never sees a session's packets; after SIGTERM and after
SIGKILL no XDP program stays attached; native and generic attach both work.
Skipped, with the reason, without root or namespaces or AF_XDP.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools" / "xdp"))
import nsnet  # noqa: E402

from conftest import BUILD  # noqa: E402

RELAY = BUILD / "tools" / "xdp_relay"
PORTS = "40000-40099"


@pytest.fixture
def topo():
    why = nsnet.unavailable()
    if why:
        pytest.skip(why)
    if not RELAY.exists():
        pytest.skip("%s not built" % RELAY)
    t = nsnet.Topology().setup()
    try:
        yield t
    finally:
        t.teardown()


class Relay:
    def __init__(self, topo, *extra, sessions=()):
        args = [str(RELAY), "--if", "%s=%s,%s" % (topo.ra, topo.ra4, topo.ra6),
                "--if", "%s=%s,%s" % (topo.rb, topo.rb4, topo.rb6), "--ports", PORTS]
        for s in sessions:
            args += ["--session", s]
        args += list(extra)
        self.p = topo.popen(topo.R, *args)
        line = self.p.stdout.readline()
        if not line.startswith("READY"):
            self.p.wait(timeout=10)
            err = self.p.stderr.read()
            if self.p.returncode == 77:
                pytest.skip("AF_XDP unavailable: " + err.strip())
            raise AssertionError("relay did not start (rc=%s): %s" % (self.p.returncode, err))
        self.ready = dict(kv.split("=") for kv in line.split()[1:])

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        out, err = self.p.communicate(timeout=10)
        if sig == signal.SIGTERM:
            assert self.p.returncode == 0, err
            return json.loads(out.strip().splitlines()[-1])
        return None

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.communicate(timeout=10)


def receive(topo, ns, bind, count, timeout=5.0):
    """A receiver that stops after count datagrams or timeout s of silence."""
    r = topo.peer(ns, "recv", bind, str(count), str(timeout))
    assert r.stdout.readline().strip() == "READY"
    return r


def collect(r):
    out, err = r.communicate(timeout=30)
    assert r.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])["got"]


def send(topo, ns, bind, dest, count, size, tag):
    topo.peer(ns, "send", bind, dest, str(count), str(size), tag).communicate(timeout=30)


def expected(tag, count, size):
    sys.path.insert(0, str(nsnet.TOOLS))
    import udp_peer
    return [udp_peer.payload(tag, i, size).hex() for i in range(count)]


def test_rtp_relay_ipv4_ipv6_and_across(topo):
    t = topo
    sessions = ["40000,%s:5000,40002" % t.b4,             # v4 -> v4
                "40010,[%s]:5002,40012" % t.b6,           # v6 -> v6
                "40020,[%s]:5004,40022" % t.b6]           # v4 -> v6
    relay = Relay(t, sessions=sessions)
    try:
        assert relay.ready["attach"] in ("native", "generic")
        assert relay.ready["mode"].endswith("copy")
        n, size = 200, 172  # 12-byte RTP header + 160 bytes G.711
        r4 = receive(t, t.B, "%s:5000" % t.b4, n)
        r6 = receive(t, t.B, "[%s]:5002" % t.b6, n)
        rx = receive(t, t.B, "[%s]:5004" % t.b6, n)
        send(t, t.A, "%s:6000" % t.a4, "%s:40000" % t.ra4, n, size, "v4")
        send(t, t.A, "[%s]:6002" % t.a6, "[%s]:40010" % t.ra6, n, size, "v6")
        send(t, t.A, "%s:6004" % t.a4, "%s:40020" % t.ra4, n, size, "vx")
        got4, got6, gotx = collect(r4), collect(r6), collect(rx)
    finally:
        stats = relay.stop()
    assert [p for _, p in got4] == expected("v4", n, size)
    assert {s for s, _ in got4} == {"%s:40002" % t.rb4}
    assert [p for _, p in got6] == expected("v6", n, size)
    assert {s for s, _ in got6} == {"[%s]:40012" % t.rb6}
    assert [p for _, p in gotx] == expected("vx", n, size)
    assert {s for s, _ in gotx} == {"[%s]:40022" % t.rb6}
    assert stats["rx"] == 3 * n and stats["tx"] == 3 * n
    assert stats["tx_completed"] == 3 * n
    # What media.stats will carry.
    assert stats["stats"]["backend"] == "xdp"
    assert stats["stats"]["mode"] == relay.ready["mode"]
    assert stats["stats"]["rx"] == 3 * n and stats["stats"]["tx"] == 3 * n
    # Frames out: one IPv4 stream (42 header bytes), two IPv6 ones (62).
    assert stats["stats"]["tx_bytes"] == n * (42 + size) + 2 * n * (62 + size)
    assert sum(stats["drops"].values()) == 0, stats
    assert t.xdp_attached(t.ra) is None and t.xdp_attached(t.rb) is None


def test_not_for_session_reaches_kernel(topo):
    t = topo
    relay = Relay(t, "--port-filter", sessions=["40000,%s:5000,40002" % t.b4])
    try:
        outside = receive(t, t.R, "%s:7000" % t.ra4, 1)      # outside the range
        inside = receive(t, t.R, "%s:40050" % t.ra4, 1)      # in range, no session
        # A kernel socket on a session's port must never see the session's packets.
        shadow = receive(t, t.R, "%s:40000" % t.ra4, 1, timeout=1.0)
        at_b = receive(t, t.B, "%s:5000" % t.b4, 5)
        send(t, t.A, "%s:6000" % t.a4, "%s:7000" % t.ra4, 1, 40, "out")
        send(t, t.A, "%s:6001" % t.a4, "%s:40050" % t.ra4, 1, 40, "idle")
        send(t, t.A, "%s:6002" % t.a4, "%s:40000" % t.ra4, 5, 40, "rtp")
        got_out, got_in, got_shadow, got_b = (collect(outside), collect(inside),
                                              collect(shadow), collect(at_b))
    finally:
        stats = relay.stop()
    assert [p for _, p in got_out] == expected("out", 1, 40)
    assert [p for _, p in got_in] == expected("idle", 1, 40)
    assert got_shadow == []
    assert [p for _, p in got_b] == expected("rtp", 5, 40)
    assert stats["prog_port_idle"] >= 1
    assert stats["rx"] == 5


def test_fragments_and_oversize_reach_the_kernel(topo):
    """IP fragments and frames too long for a UMEM frame are passed to the
    kernel even on a session's port: the kernel socket bound there gets
    them (reassembled), the relay never sees them, and RTP still flows."""
    t = topo
    # Jumbo MTU between A and R so a 3000-byte datagram arrives unfragmented.
    for ns, dev in ((t.A, t.va), (t.R, t.ra)):
        t.run(ns, "ip", "link", "set", dev, "mtu", "9000")
    relay = Relay(t, sessions=["40000,%s:5000,40002" % t.b4])
    try:
        shadow = receive(t, t.R, "%s:40000" % t.ra4, 2)
        shadow6 = receive(t, t.R, "[%s]:40000" % t.ra6, 1)
        at_b = receive(t, t.B, "%s:5000" % t.b4, 3)
        send(t, t.A, "%s:6000" % t.a4, "%s:40000" % t.ra4, 1, 3000, "big")
        t.run(t.A, "ip", "link", "set", t.va, "mtu", "1500")
        send(t, t.A, "%s:6001" % t.a4, "%s:40000" % t.ra4, 1, 3000, "frag")
        send(t, t.A, "[%s]:6002" % t.a6, "[%s]:40000" % t.ra6, 1, 3000, "frag6")
        send(t, t.A, "%s:6003" % t.a4, "%s:40000" % t.ra4, 3, 100, "rtp")
        got_shadow, got_shadow6, got_b = collect(shadow), collect(shadow6), collect(at_b)
    finally:
        stats = relay.stop()
    assert sorted(p for _, p in got_shadow) == sorted(expected("big", 1, 3000) +
                                                       expected("frag", 1, 3000))
    assert [p for _, p in got_shadow6] == expected("frag6", 1, 3000)
    assert [p for _, p in got_b] == expected("rtp", 3, 100)
    assert stats["rx"] == 3 and stats["prog_too_long"] == 1, stats


def _cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime + stime


def test_idle_relay_sleeps(topo):
    """After traffic stops the worker sleeps in poll(): (almost) no CPU."""
    t = topo
    relay = Relay(t, sessions=["40000,%s:5000,40002" % t.b4])
    try:
        r = receive(t, t.B, "%s:5000" % t.b4, 50)
        send(t, t.A, "%s:6000" % t.a4, "%s:40000" % t.ra4, 50, 100, "burst")
        assert len(collect(r)) == 50
        time.sleep(0.3)
        before = _cpu_ticks(relay.p.pid)
        time.sleep(2.0)
        used = _cpu_ticks(relay.p.pid) - before
    finally:
        stats = relay.stop()
    hz = os.sysconf("SC_CLK_TCK")
    assert used <= 0.02 * 2.0 * hz, (used, stats)   # under 2% of a core
    assert stats["polls"] < 200, stats               # ~10 housekeeping wake-ups/s


def test_detach_on_exit_and_on_kill(topo):
    t = topo
    relay = Relay(t)
    assert t.xdp_attached(t.ra) and t.xdp_attached(t.rb)
    relay.stop()
    assert t.xdp_attached(t.ra) is None and t.xdp_attached(t.rb) is None
    # SIGKILL: the bpf_link dies with the process, the interface is clean.
    relay = Relay(t)
    assert t.xdp_attached(t.ra)
    relay.stop(signal.SIGKILL)
    deadline = time.monotonic() + 5
    while t.xdp_attached(t.ra) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert t.xdp_attached(t.ra) is None and t.xdp_attached(t.rb) is None
    # And it can attach again at once (restart after a crash).
    relay = Relay(t)
    relay.stop()


@pytest.mark.parametrize("how", ["flush", "silent"])
def test_next_hop_mac_change_is_learned(topo, how):
    """The relay takes next-hop MACs from the kernel's neighbour table and
    re-reads them. B changes its MAC; "flush": R's kernel forgets the old
    entry; "silent": nobody tells R, whose entry only goes STALE (the relay's
    packets bypass the kernel and confirm nothing), so the relay has the
    kernel re-verify it, the probe to the old MAC fails and B is resolved
    anew. Either way the relay carries on to the new MAC."""
    t = topo
    if how == "silent":
        # Short neighbour timers on R's side towards B (the defaults are 30 s).
        for k, v in (("base_reachable_time_ms", "200"), ("delay_first_probe_time", "0"),
                     ("retrans_time_ms", "100"), ("ucast_solicit", "1")):
            t.run(t.R, "sysctl", "-qw", "net.ipv4.neigh.%s.%s=%s" % (t.rb, k, v))
    relay = Relay(t, "--neigh-refresh-ms", "100", sessions=["40000,%s:5000,40002" % t.b4])
    try:
        r = receive(t, t.B, "%s:5000" % t.b4, 5)
        send(t, t.A, "%s:6000" % t.a4, "%s:40000" % t.ra4, 5, 60, "old")
        assert len(collect(r)) == 5
        t.run(t.B, "ip", "link", "set", t.vb, "address", "02:00:00:5b:c0:01")
        if how == "flush":
            t.run(t.R, "ip", "neigh", "flush", "dev", t.rb)
        # Frames to the old MAC are dropped by B: wait for the relay to learn.
        deadline = time.monotonic() + 10
        got = []
        while time.monotonic() < deadline and not got:
            r = receive(t, t.B, "%s:5000" % t.b4, 1, timeout=0.3)
            send(t, t.A, "%s:6000" % t.a4, "%s:40000" % t.ra4, 1, 60, "new")
            got = collect(r)
        r = receive(t, t.B, "%s:5000" % t.b4, 20)
        send(t, t.A, "%s:6000" % t.a4, "%s:40000" % t.ra4, 20, 60, "after")
        after = collect(r)
    finally:
        stats = relay.stop()
    assert got, stats
    assert [p for _, p in after] == expected("after", 20, 60)
    neigh = t.run(t.R, "ip", "neigh", "show", t.b4).stdout
    assert "02:00:00:5b:c0:01" in neigh


def test_generic_mode_relays(topo):
    t = topo
    relay = Relay(t, "--generic", sessions=["40000,%s:5000,40002" % t.b4])
    try:
        assert relay.ready["attach"] == "generic"
        assert relay.ready["mode"] == "generic-copy"
        assert "xdpgeneric" in t.run(t.R, "ip", "link", "show", t.ra).stdout
        r = receive(t, t.B, "%s:5000" % t.b4, 50)
        send(t, t.A, "%s:6000" % t.a4, "%s:40000" % t.ra4, 50, 100, "gen")
        got = collect(r)
    finally:
        stats = relay.stop()
    assert [p for _, p in got] == expected("gen", 50, 100)
    assert stats["tx"] == 50


def test_two_workers_two_queues():
    """One worker per RX queue, each with its own UMEM and sockets: with
    two-queue veths and 16 flows, both workers relay and nothing is lost."""
    why = nsnet.unavailable()
    if why:
        pytest.skip(why)
    if not RELAY.exists():
        pytest.skip("%s not built" % RELAY)
    t = nsnet.Topology(queues=2).setup()
    try:
        flows = 16
        sessions = ["%d,%s:%d,%d" % (40000 + 2 * i, t.b4, 5000 + 2 * i, 40001 + 2 * i)
                    for i in range(flows)]
        relay = Relay(t, "--workers", "2", sessions=sessions)
        try:
            assert relay.ready["workers"] == "2"
            rs = [receive(t, t.B, "%s:%d" % (t.b4, 5000 + 2 * i), 20, timeout=8)
                  for i in range(flows)]
            senders = [t.peer(t.A, "send", "%s:%d" % (t.a4, 6000 + i),
                              "%s:%d" % (t.ra4, 40000 + 2 * i), "20", "100", "f%02d" % i)
                       for i in range(flows)]
            for p in senders:
                p.communicate(timeout=30)
            got = [collect(r) for r in rs]
        finally:
            stats = relay.stop()
        for i in range(flows):
            assert [p for _, p in got[i]] == expected("f%02d" % i, 20, 100), (i, stats)
            assert {s for s, _ in got[i]} == {"%s:%d" % (t.rb4, 40001 + 2 * i)}
        assert stats["rx"] == flows * 20 and stats["tx"] == flows * 20
        assert len(stats["workers_rx"]) == 2
        assert all(n > 0 for n in stats["workers_rx"]), stats["workers_rx"]
    finally:
        t.teardown()


def test_missing_interface_refused_with_reason(topo):
    t = topo
    # The good interface first: it is attached, then undone when the second fails.
    p = t.popen(t.R, str(RELAY), "--if", "%s=%s" % (t.rb, t.rb4), "--if",
                "nosuchif0=%s" % t.ra4, "--ports", PORTS)
    out, err = p.communicate(timeout=10)
    assert p.returncode not in (0, 77), (out, err)
    assert "AF_XDP backend not used on %s,nosuchif0: interface nosuchif0" % t.rb in err, err
    assert "socket backend carries the media" in err, err
    assert t.xdp_attached(t.rb) is None


def test_queue_beyond_the_interface_refused_with_reason(topo):
    """A worker per RX queue: a veth has one, so a worker on queue 1 is
    refused with the reason and the command that fixes it."""
    t = topo
    p = t.popen(t.R, str(RELAY), "--if", "%s=%s" % (t.ra, t.ra4), "--queue", "1",
                "--ports", PORTS)
    out, err = p.communicate(timeout=10)
    assert p.returncode not in (0, 77), (out, err)
    assert "has 1 RX queue, a worker needs queue 1" in err, err
    assert "ethtool -L %s combined 2" % t.ra in err, err
    assert t.xdp_attached(t.ra) is None


def test_busy_interface_refused_with_reason(topo):
    """A second relay on the same interfaces fails cleanly with a reason and
    leaves the first one attached and working."""
    t = topo
    first = Relay(t, sessions=["40000,%s:5000,40002" % t.b4])
    try:
        second = t.popen(t.R, str(RELAY), "--if", "%s=%s" % (t.ra, t.ra4), "--ports", PORTS)
        out, err = second.communicate(timeout=10)
        assert second.returncode not in (0, 77), (out, err)
        assert "already has an XDP program" in err, err
        assert t.xdp_attached(t.ra)
        r = receive(t, t.B, "%s:5000" % t.b4, 3)
        send(t, t.A, "%s:6000" % t.a4, "%s:40000" % t.ra4, 3, 60, "ok")
        assert len(collect(r)) == 3
    finally:
        first.stop()


SRTP_PEER = BUILD / "tools" / "srtp_peer"
K_CM = "e1f97a0d3e018be0d64fa32c06de4139" + "0ec675ad498afeebb6960b3aabe6"   # 16 + 14
K_GCM = "000102030405060708090a0b0c0d0e0f" + "a0a1a2a3a4a5a6a7a8a9aaab"       # 16 + 12


def srtp_recv(topo, ns, bind, count, suite, key, timeout_ms=6000):
    r = topo.popen(ns, str(SRTP_PEER), "recv", bind, str(count), str(timeout_ms), suite, key)
    assert r.stdout.readline().strip() == "READY"
    return r


def srtp_result(r):
    out, err = r.communicate(timeout=30)
    assert r.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def srtp_send(topo, ns, bind, dest, count, plen, suite, key):
    p = topo.run(ns, str(SRTP_PEER), "send", bind, dest, str(count), str(plen), suite, key)
    assert p.returncode == 0, p.stderr


def test_srtp_rtp_transcrypt_in_umem(topo):
    """SRTP->RTP (AES_CM_128_HMAC_SHA1_80) and RTP->SRTP (AEAD_AES_128_GCM,
    16-byte tag grown into the frame's tailroom), checked at the receiver by
    an independent libsrtp2; a wrong key is dropped, never forwarded."""
    t = topo
    if not SRTP_PEER.exists():
        pytest.skip("%s not built" % SRTP_PEER)
    sessions = ["40030,%s:5010,40032,unprotect,AES_CM_128_HMAC_SHA1_80,%s" % (t.b4, K_CM),
                "40040,[%s]:5012,40042,protect,AEAD_AES_128_GCM,%s" % (t.b6, K_GCM)]
    relay = Relay(t, sessions=sessions)
    try:
        n = 300
        plain_b = srtp_recv(t, t.B, "%s:5010" % t.b4, n, "none", "-")
        gcm_b = srtp_recv(t, t.B, "[%s]:5012" % t.b6, n, "AEAD_AES_128_GCM", K_GCM)
        srtp_send(t, t.A, "%s:6010" % t.a4, "%s:40030" % t.ra4, n, 160,
                  "AES_CM_128_HMAC_SHA1_80", K_CM)
        srtp_send(t, t.A, "[%s]:6012" % t.a6, "[%s]:40040" % t.ra6, n, 160, "none", "-")
        plain, gcm = srtp_result(plain_b), srtp_result(gcm_b)
        # Wrong key towards the SRTP->RTP session: nothing reaches B.
        late = srtp_recv(t, t.B, "%s:5010" % t.b4, 1, "none", "-", timeout_ms=800)
        bad_key = "00" * 30
        srtp_send(t, t.A, "%s:6014" % t.a4, "%s:40030" % t.ra4, 20, 160,
                  "AES_CM_128_HMAC_SHA1_80", bad_key)
        wrong = srtp_result(late)
    finally:
        stats = relay.stop()
    assert plain == {"ok": n, "bad": 0, "auth_fail": 0, "src": "%s:40032" % t.rb4,
                     "first_missing": -1}, json.dumps([plain, stats])
    assert gcm == {"ok": n, "bad": 0, "auth_fail": 0, "src": "[%s]:40042" % t.rb6,
                   "first_missing": -1}, json.dumps([gcm, stats])
    assert wrong["ok"] + wrong["bad"] + wrong["auth_fail"] == 0
    assert stats["srtp_fail"] == 20
    assert stats["drops"]["session"] == 20
