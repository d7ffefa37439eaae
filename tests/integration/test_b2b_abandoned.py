"""A 2xx that arrives on a B-leg INVITE the SBC no longer wants must be
ACKed and then BYEd by the SBC, never left to be retransmitted for 32 s
with a dialog hanging at the called carrier: after failover moved on (no
answer in time), when a CANCEL crossed the answer, and from a second fork
after the call was answered; also a 2xx with more Record-Route than a
dialog keeps (ACKed and BYEd along the whole route set). The called carrier is a python UAS on UDP that
records what it receives."""
import time

import pytest

from b2b_common import Sbc, Uac, Uas, hdr, status
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


def to_tag(msg):
    t = hdr(msg, "To") or ""
    return t.split(";tag=", 1)[1].split(";")[0] if ";tag=" in t else None


def in_dialog(uas, method, tag):
    """Requests of `method` the UAS got on the dialog with its To tag `tag`."""
    return [m for m in uas.requests(method) if to_tag(m) == tag and hdr(m, "Call-ID") == hdr(uas.invite, "Call-ID")]


@pytest.fixture
def env(procs, tmp_path):
    made = []

    def make(plan, failover=False, rr=0):
        """sbc, the UAS on demo-out with `plan` (rr Record-Route on its
        200), a UAC; with failover, also alt-out (an answering UAS) routed
        after demo-out: (..., alt)."""
        uas = Uas(plan, rr=rr)
        made.append(uas)
        sbc = Sbc(procs, tmp_path, uas.port)
        uac = Uac(sbc.port)
        made.append(uac)
        if not failover:
            return sbc, uas, uac
        alt = Uas("answer")
        made.append(alt)
        sbc.add_failover(alt.port)
        return sbc, uas, uac, alt

    yield make
    for x in made:
        x.close()


def answered_by_alt(sbc, uac, alt):
    """A call from uac that demo-out does not answer in time (3 s): it ends
    up answered by alt-out. Returns the caller's 200 (ACKed)."""
    uac.invite()
    final = uac.wait_final(timeout=15)
    assert status(final) == 200 and alt.invite is not None, sbc.log()[-3000:]
    uac.ack(final)
    return final


def test_late_2xx_after_failover_is_acked_and_byed(env):
    # demo-out stays silent, the SBC fails over to alt-out after 3 s; then
    # demo-out answers after all
    sbc, late, uac, alt = env("late200", failover=True)
    final = answered_by_alt(sbc, uac, alt)
    # the late 200 (sent 3.6 s after the INVITE): ACK, then BYE on its own dialog
    wait_for(lambda: in_dialog(late, "ACK", late.tag) and in_dialog(late, "BYE", late.tag), timeout=6,
             what="ACK and BYE for the late 200")
    ack, bye = in_dialog(late, "ACK", late.tag)[0], in_dialog(late, "BYE", late.tag)[0]
    assert hdr(ack, "CSeq") == "1 ACK" and hdr(bye, "CSeq").endswith(" BYE")
    assert hdr(bye, "From") == hdr(late.invite, "From")
    assert bye.split(b" ")[1] == f"sip:uas@127.0.0.1:{late.port}".encode()  # its Contact
    # it never reached the caller, whose call goes on with alt-out
    assert len([m for m in uac.got if status(m) == 200 and "INVITE" in hdr(m, "CSeq")]) == 1
    assert status(uac.bye(final)) == 200
    wait_for(lambda: alt.requests("BYE"), timeout=3, what="BYE at alt-out")
    assert not alt.requests("BYE")[1:] and len(in_dialog(late, "BYE", late.tag)) == 1


def test_late_ringing_after_failover_is_cancelled(env):
    # demo-out only rings after the SBC moved on to alt-out: CANCEL it
    # (before any response a CANCEL may not be sent, RFC 3261 9.1)
    sbc, late, uac, alt = env("late180", failover=True)
    final = answered_by_alt(sbc, uac, alt)
    cancel = wait_for(lambda: late.requests("CANCEL"), timeout=6, what="CANCEL for the late ringing")[0]
    assert hdr(cancel, "Call-ID") == hdr(late.invite, "Call-ID") and hdr(cancel, "CSeq") == "1 CANCEL"
    # the 487 that follows does not disturb the call on alt-out
    time.sleep(0.3)
    assert status(uac.bye(final)) == 200
    assert len(late.requests("CANCEL")) == 1 and not late.requests("BYE")


def cancel_crossed_by_200(env, **kw):
    """The caller cancels after 180 while the callee answers 200: the caller
    gets 487 and the callee's 200 is ACKed and BYEd by us."""
    sbc, uas, uac = env("cancel200", **kw)
    uac.invite()
    uac.recv_until(lambda d: status(d) == 180)
    uac.cancel()
    assert status(uac.wait_final()) == 487
    wait_for(lambda: in_dialog(uas, "ACK", uas.tag) and in_dialog(uas, "BYE", uas.tag), timeout=3,
             what="ACK and BYE for the 200 that crossed the CANCEL")
    return sbc, uas, uac


def test_2xx_crossing_our_cancel_is_acked_and_byed(env):
    sbc, uas, uac = cancel_crossed_by_200(env)
    assert uas.requests("CANCEL")
    assert hdr(in_dialog(uas, "ACK", uas.tag)[0], "CSeq") == "1 ACK"
    # the caller saw no 200 at all
    assert not [m for m in uac.got if status(m) == 200 and "INVITE" in hdr(m, "CSeq")]


def test_second_fork_2xx_is_acked_and_byed(env):
    sbc, uas, uac = env("fork2")
    final = uac.answered()
    wait_for(lambda: in_dialog(uas, "ACK", "fork-2") and in_dialog(uas, "BYE", "fork-2"), timeout=3,
             what="ACK and BYE for the second fork")
    # the first fork's dialog is the call: ACKed, not BYEd until the caller hangs up
    assert len(in_dialog(uas, "ACK", "fork-1")) == 1 and not in_dialog(uas, "BYE", "fork-1")
    assert status(uac.bye(final)) == 200
    wait_for(lambda: in_dialog(uas, "BYE", "fork-1"), timeout=3, what="the caller's BYE on fork-1")
    assert len(in_dialog(uas, "BYE", "fork-2")) == 1


def test_answer_from_another_fork_than_the_ringing_one(env):
    # 180 from fork-1, 200 from fork-2: the call is fork-2's dialog
    sbc, uas, uac = env("forkswitch")
    final = uac.answered()
    wait_for(lambda: in_dialog(uas, "ACK", "fork-2"), timeout=3, what="ACK on fork-2")
    assert not in_dialog(uas, "ACK", "fork-1") and not uas.requests("BYE")
    assert status(uac.bye(final)) == 200
    wait_for(lambda: in_dialog(uas, "BYE", "fork-2"), timeout=3, what="BYE on fork-2")
    bye = in_dialog(uas, "BYE", "fork-2")[0]
    assert bye.split(b" ")[1] == f"sip:fork-2@127.0.0.1:{uas.port}".encode()


def routes(msg):
    """The Route values of msg, in order."""
    out = []
    for line in msg.split(b"\r\n\r\n", 1)[0].decode().split("\r\n"):
        if line.lower().startswith("route:"):
            out += [v.strip() for v in line.split(":", 1)[1].split(",")]
    return out


def proxies(n):
    """The route set toward the UAS for its n Record-Route (reversed)."""
    return [f"<sip:p{i}.carrier.example;lr>" for i in reversed(range(n))]


def test_answer_with_many_record_routes(env):
    # 12 Record-Route (8 was the limit): an ordinary call, its ACK and BYE
    # along the whole route set
    sbc, uas, uac = env("answer", rr=12)
    final = uac.answered()
    ack = wait_for(lambda: in_dialog(uas, "ACK", uas.tag), timeout=3, what="ACK at the callee")[0]
    assert routes(ack) == proxies(12), ack
    assert status(uac.bye(final)) == 200
    bye = wait_for(lambda: in_dialog(uas, "BYE", uas.tag), timeout=3, what="BYE at the callee")[0]
    assert routes(bye) == proxies(12) and hdr(bye, "CSeq").endswith(" BYE")


def test_answer_with_a_route_set_too_long_for_a_dialog(env):
    # 40 Record-Route: more than a dialog keeps: that 2xx is ACKed and BYEd
    # along its whole route set and the caller gets an error, never a call
    # nobody can end
    sbc, uas, uac = env("answer", rr=40)
    uac.invite()
    assert status(uac.wait_final()) >= 500, sbc.log()[-3000:]
    wait_for(lambda: in_dialog(uas, "ACK", uas.tag) and in_dialog(uas, "BYE", uas.tag), timeout=3,
             what="ACK and BYE for the 200")
    assert routes(in_dialog(uas, "ACK", uas.tag)[0]) == proxies(40)
    assert routes(in_dialog(uas, "BYE", uas.tag)[0]) == proxies(40)
    assert "route set too long" in sbc.log()


def test_2xx_crossing_our_cancel_with_many_record_routes(env):
    # a 2xx on an INVITE given up, with 40 Record-Route: ACK and BYE, once
    sbc, uas, uac = cancel_crossed_by_200(env, rr=40)
    assert routes(in_dialog(uas, "BYE", uas.tag)[0]) == proxies(40)
    time.sleep(0.3)
    assert len(in_dialog(uas, "BYE", uas.tag)) == 1
