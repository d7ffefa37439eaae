"""A genuine local routing failure: the trunk's address has no route
(ENETUNREACH from the routing table as our INVITE is sent). Unlike an
unreachable that an ICMP left pending on the socket (anyone can forge
those: test_b2b_icmp, test_sig_unreach), this one is the destination's
loss: the call fails over to the next route at once, not after
no_response_ms (sig_udp.c udp_send_lost_err asks the routing table).

Runs in a network namespace of its own (loopback only, so 192.0.2.1 has no
route; the test thread enters it, and every process and socket it makes
lives there): root only, skipped otherwise."""
import ctypes
import os
import re
import subprocess
import time

import pytest

from b2b_common import Sbc, Uac, Uas, status
from conftest import BUILD
from test_b2b_transport_fail import trunk_stat
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")

CLONE_NEWNET = 0x40000000


@pytest.fixture
def own_netns():
    """This thread (and what it starts) in a new network namespace with
    loopback up; back in the old one afterwards."""
    libc = ctypes.CDLL(None, use_errno=True)
    old = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            pytest.skip(f"no network namespace of our own: {os.strerror(ctypes.get_errno())} (needs root)")
        try:
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True, capture_output=True, timeout=10)
            yield
        finally:
            assert libc.setns(old, CLONE_NEWNET) == 0, os.strerror(ctypes.get_errno())
    finally:
        os.close(old)


def test_no_route_fails_over_at_once(procs, tmp_path, own_netns):
    backup = Uas("answer")
    uac = None
    try:
        sbc = Sbc(procs, tmp_path, backup.port, timers={"no_response_ms": 8000})
        sbc.rpc("trunk.add", {"name": "nowhere", "destinations": [{"host": "192.0.2.1", "port": 5060,
                                                                   "transport": "udp"}],
                              "srtp_inbound": {"mode": "off"}, "srtp_outbound": {"mode": "off"}})
        sbc.rpc("route.add", {"prefix": "49", "trunk": "nowhere", "priority": 5})
        sbc.rpc("route.add", {"prefix": "49", "trunk": "demo-out", "priority": 10})
        sbc.signal_synced()
        uac = Uac(sbc.port)
        t0 = time.monotonic()
        uac.invite()
        final = uac.wait_final(timeout=10)
        took = time.monotonic() - t0
        assert status(final) == 200, final
        assert took < 4.0, f"failed over after {took:.1f} s: no_response_ms (8 s), not the loss"
        assert len(backup.requests("INVITE")) == 1
        log = sbc.log()
        assert re.search(r"udp to 192\.0\.2\.1:5060 failed \([^)]*\): 1 transaction\(s\) fail now", log), log[-4000:]
        assert trunk_stat(sbc, "nowhere", "transport_errors") == 1
        uac.ack(final)
        assert status(uac.bye(final)) == 200
    finally:
        if uac:
            uac.close()
        backup.close()
