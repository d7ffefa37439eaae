"""A duplicate of the caller's INVITE (same branch: network duplication, or
a UAC retransmitting before it saw our 2xx) that arrives after its ACK
(issue #5, RFC 6026): the A-leg INVITE server transaction stays Accepted
until Timer L (32 s) and absorbs it. It must never become a second call
toward the callee; the caller may see the identical 200 again or nothing,
but never a new 100/18x/2xx with another To tag or an error."""
import time

import pytest

from b2b_common import Uac, Uas, Sbc, hdr, status
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


def calls(sbc):
    return sbc.rpc("stats.get")["signal"][0]["stats"]["calls"]


def invite_responses(uac, since):
    return [d for d in uac.got[since:] if status(d) and hdr(d, "CSeq").endswith("INVITE")]


def drain(uac, seconds):
    """Collects whatever arrives for a while into uac.got."""
    try:
        uac.recv_until(lambda d: False, timeout=seconds)
    except AssertionError:
        pass


@pytest.mark.parametrize("when", ["after_ack", "after_bye"])
def test_duplicate_invite_is_no_new_call(procs, tmp_path, when):
    uas = Uas("answer")
    sbc = Sbc(procs, tmp_path, uas.port)
    uac = Uac(sbc.port)
    try:
        final = uac.answered()
        wait_for(lambda: uas.requests("ACK"), what="callee's ACK")
        # our ACK has reached the SBC once the caller's 2xx is no longer
        # retransmitted; give it a moment, then look only at what follows
        time.sleep(0.3)
        if when == "after_bye":
            assert status(uac.bye(final)) == 200
            wait_for(lambda: calls(sbc)["active"] == 0, what="call ended")
        n_got = len(uac.got)
        for _ in range(3):  # duplicated more than once on the way
            uac.sock.sendto(uac.inv, uac.dst)
        drain(uac, 1.0)
        assert len(uas.requests("INVITE")) == 1, uas.requests("INVITE")
        for d in invite_responses(uac, n_got):
            # only the very same 200 (same To tag) may come back
            assert status(d) == 200 and hdr(d, "To") == hdr(final, "To"), d
        st = calls(sbc)
        assert st["started"] == 1, st
        assert st["active"] == (1 if when == "after_ack" else 0), st
        if when == "after_ack":
            # the call is still up and still ends normally: one BYE each way
            assert status(uac.bye(final)) == 200
            wait_for(lambda: uas.requests("BYE"), what="callee's BYE")
            wait_for(lambda: calls(sbc)["active"] == 0, what="call ended")
        assert len(uas.requests("BYE")) == 1
        assert len(uas.requests("INVITE")) == 1
    finally:
        uas.close()
        uac.close()
