"""Issue #5 item 2, "failover ... on 5xx (but not 503 with Retry-After
from the same peer repeatedly)": the peer is the server that sent the 503
(RFC 3261 21.5.4: no more requests to that server for the Retry-After
time), not the trunk record naming it. Two trunks toward the same address
(a carrier's two number ranges, or a primary and a backup trunk that share
its gateway) must not send it the call, or the next call, again after its
503 with Retry-After; without Retry-After they may."""
import pytest

from b2b_common import Sbc, Uac, Uas, status
from conftest import BUILD
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


def trunk(sbc, name, port):
    sbc.rpc("trunk.add", {"name": name, "destinations": [{"host": "127.0.0.1", "port": port, "transport": "udp"}],
                          "srtp_inbound": {"mode": "off"}, "srtp_outbound": {"mode": "off"}})


@pytest.mark.parametrize("retry_after", [True, False], ids=["503_retry_after", "503_plain"])
def test_503_peer_behind_two_trunks(procs, tmp_path, retry_after):
    busy, good = Uas("503"), Uas("answer")  # "503": 100, then 503 with Retry-After: 30
    if not retry_after:  # the same 503 without its Retry-After line
        send = busy.send
        busy.send = lambda d: send(d.replace(b"Retry-After: 30\r\n", b""))
    uacs = []
    try:
        sbc = Sbc(procs, tmp_path, busy.port)  # demo-out -> busy
        trunk(sbc, "same-gw", busy.port)         # another trunk, the same gateway
        trunk(sbc, "alt-out", good.port)
        sbc.rpc("route.add", {"prefix": "49", "trunk": "demo-out", "priority": 10})
        sbc.rpc("route.add", {"prefix": "49", "trunk": "same-gw", "priority": 15})
        sbc.rpc("route.add", {"prefix": "49", "trunk": "alt-out", "priority": 20})
        sbc.signal_synced()
        for n in (1, 2):
            uac = Uac(sbc.port)
            uacs.append(uac)
            final = uac.answered()
            assert status(final) == 200
            assert status(uac.bye(final)) == 200
            assert len(good.requests("INVITE")) == n
            if retry_after:
                # the gateway that said 503 + Retry-After: 30 got the first
                # call's INVITE once, through demo-out, and nothing after it
                assert len(busy.requests("INVITE")) == 1, (n, sbc.log()[-3000:])
            else:
                # a plain 503 holds nothing: tried through both trunks, each call
                assert len(busy.requests("INVITE")) == 2 * n, (n, sbc.log()[-3000:])
    finally:
        busy.close()
        good.close()
        for u in uacs:
            u.close()
