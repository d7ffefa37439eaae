"""A call that has ended releases its call object at once (issue #5) while
its UDP transactions linger (Timers J, K, L, M: 32 s) and still absorb
retransmissions on their own: the caller's INVITE and BYE again, the
callee's 200 again. Nothing of that may start a new call or a second BYE."""
import time

import pytest

from b2b_common import Sbc, Uac, Uas, calls_one_after_another, hdr, response, sdp, status
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


def calls(sbc):
    return sbc.rpc("stats.get")["signal"][0]["stats"]["calls"]


def test_retransmissions_after_the_call_ended(procs, tmp_path):
    uas = Uas("answer")
    sbc = Sbc(procs, tmp_path, uas.port)
    uac = Uac(sbc.port)
    try:
        uac.invite()
        final = uac.wait_final()
        assert status(final) == 200
        wait_for(lambda: uas.requests("ACK"), what="callee's ACK")
        # the caller hangs up before its ACK (lost): the A-leg INVITE
        # transaction stays Accepted, retransmitting the 2xx
        ok = uac.bye(final)
        assert status(ok) == 200
        bye_req = uac._request("BYE", final, 2)
        wait_for(lambda: calls(sbc)["active"] == 0, what="call ended")
        st = calls(sbc)
        # the call object is back on the free list although its
        # transactions are still there (32 s over UDP)
        assert st["objects"] == 0, st
        assert st["transactions"] >= 3, st  # INVITEs, BYEs still absorbing
        assert st["started"] == 1

        # the caller retransmits its BYE: the same 200, from the BYE's
        # server transaction
        n_got = len(uac.got)
        uac.sock.sendto(bye_req, uac.dst)
        again = uac.recv_until(lambda d: len(uac.got) > n_got and status(d) and "BYE" in hdr(d, "CSeq"), timeout=5)
        assert again == ok
        # ... and its INVITE (same branch): absorbed, never a new call; the
        # 2xx keeps coming (Timer G) with the same To tag until the ACK
        n_got = len(uac.got)
        uac.sock.sendto(uac.inv, uac.dst)
        again = uac.recv_until(lambda d: status(d) and "INVITE" in hdr(d, "CSeq"), timeout=5)
        assert status(again) == 200 and hdr(again, "To") == hdr(final, "To")
        assert all(status(d) == 200 for d in uac.got[n_got:] if status(d) and "INVITE" in hdr(d, "CSeq"))
        uac.ack(final)
        time.sleep(0.3)
        assert len(uas.requests("INVITE")) == 1
        assert calls(sbc)["started"] == 1

        # the callee retransmits its 200 (it missed our ACK): ACKed again
        # by the lingering INVITE client transaction, no second BYE
        n_ack, n_bye = len(uas.requests("ACK")), len(uas.requests("BYE"))
        assert n_bye == 1
        uas.send(response(uas.invite, 200, "OK", uas.tag, f"Contact: <sip:uas@127.0.0.1:{uas.port}>",
                          sdp("127.0.0.1", uas.rtp_port)))
        wait_for(lambda: len(uas.requests("ACK")) > n_ack, what="ACK for the retransmitted 200")
        ack = uas.requests("ACK")[-1]
        assert hdr(ack, "Call-ID") == hdr(uas.invite, "Call-ID") and hdr(ack, "CSeq").endswith("ACK")
        time.sleep(0.5)
        assert len(uas.requests("BYE")) == 1
        st = calls(sbc)
        assert st["started"] == 1 and st["active"] == 0 and st["objects"] == 0, st
    finally:
        uas.close()
        uac.close()


def test_many_calls_objects_recycled(procs, tmp_path):
    """Calls one after the other: the objects in use stay at the live calls
    (0 between calls), not at the calls of the last 32 s."""
    uas = Uas("answer")
    sbc = Sbc(procs, tmp_path, uas.port)
    try:
        calls_one_after_another(sbc.port, 5)
        wait_for(lambda: calls(sbc)["active"] == 0, what="calls ended")
        st = calls(sbc)
        assert st["started"] == 5 and st["answered"] == 5 and st["objects"] == 0, st
        assert st["transactions"] >= 5 * 3, st
    finally:
        uas.close()
