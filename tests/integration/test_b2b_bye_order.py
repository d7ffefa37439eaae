"""BYE from the callee while the caller has not yet ACKed our 2xx: toward
the caller sbc-signal is the callee's UA, which "MUST NOT send a BYE on a
confirmed dialog until it has received an ACK for its 2xx response or until
the server transaction times out" (RFC 3261 15). SIPp over TLS showed it
(test_b2b_sipp bye_from_callee: "Aborting call on an unexpected BYE", the
BYE came before SIPp's ACK went out): sbc-signal ACKs B's 200 at once, B
hangs up at once, and the BYE was relayed to A straight away. Over UDP and
over TLS (TlsUac)."""
import re
import time

import pytest

from b2b_common import call_env, hdr, sdp, status  # noqa: F401 (call_env: the env fixture)
from conftest import BUILD, wait_for
from test_b2b_calls_tls import TlsUac
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


def ended(sbc):
    """The record of the (one) call once it ended."""
    return wait_for(lambda: [c for c in sbc.rpc("call.list")["calls"] if c["state"] == "ended"], timeout=3,
                    what="the call ended")[0]


def callee_bye_answered(uas):
    wait_for(lambda: [r for r in uas.responses() if "BYE" in (hdr(r, "CSeq") or "") and status(r) == 200],
             timeout=3, what="the callee's BYE answered")


def hangup(sbc):
    """call.hangup of the (one) active call."""
    call = wait_for(lambda: sbc.rpc("call.list", {"active": True})["calls"], timeout=3, what="the call")[0]
    assert sbc.rpc("call.hangup", {"id": call["id"]})["requested"] is True


def no_bye_for(uac, seconds):
    """Reads what reaches the caller for that long: no BYE among it (2xx
    repeats over UDP are fine)."""
    deadline = time.monotonic() + seconds
    uac.sock.settimeout(0.1)
    while time.monotonic() < deadline:
        try:
            d, _ = uac.sock.recvfrom(65536)
        except OSError:
            continue
        assert not d.startswith(b"BYE "), "BYE before our ACK"


@pytest.mark.parametrize("transport", ["udp", "tls"])
def test_callee_bye_waits_for_the_callers_ack(env, transport):
    sbc, uas, uac = env("bye")  # BYE as soon as sbc-signal's ACK reaches it
    if transport == "tls":
        TlsUac.tls_ports[sbc.port] = sbc.tls_port
        uac = TlsUac(sbc.port)
    try:
        uac.invite()
        final = uac.wait_final()
        assert status(final) == 200
        callee_bye_answered(uas)  # the callee has hung up ...
        no_bye_for(uac, 0.7)  # ... but no BYE reaches the caller before its ACK
        uac.ack(final)
        bye = uac.recv_until(lambda d: d.startswith(b"BYE "), timeout=3, what="BYE after our ACK")
        assert hdr(bye, "Call-ID") == uac.callid
        end = ended(sbc)  # the call record: ended by the callee's BYE
        assert end["cause"] == 200 and end["reason"] == "BYE from callee", end
    finally:
        if transport == "tls":
            uac.close()


def test_callee_bye_held_until_the_callers_2xx_times_out(env):
    """The caller never ACKs: the held BYE goes when our 2xx's transaction
    gives up (Timer H, 64*T1: T1 50 ms here), the call ends as the
    callee's BYE, not as "no ACK" with a BYE toward the callee that left."""
    sbc, uas, uac = env("bye", timers={"t1_ms": 50})
    uac.invite()
    assert status(uac.wait_final()) == 200
    t0 = time.monotonic()
    bye = uac.recv_until(lambda d: d.startswith(b"BYE "), timeout=8, what="the held BYE")
    assert hdr(bye, "Call-ID") == uac.callid and time.monotonic() - t0 > 1.5
    assert ended(sbc)["reason"] == "BYE from callee"
    assert len(uas.requests("BYE")) == 0  # the callee hung up itself: no BYE back to it


def test_callers_bye_crossing_the_held_bye_not_sent_to_the_callee(env):
    """The callee hung up (its BYE answered, ours to the caller held for
    its ACK) and the caller's BYE crosses: the call ends as the callee's
    BYE, and no BYE goes back to the callee, whose dialog is gone (it would
    answer 481). Review s7: the crossing BYE was relayed to the callee."""
    sbc, uas, uac = env("bye")
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 200
    callee_bye_answered(uas)
    assert status(uac.bye(final)) == 200
    end = ended(sbc)
    assert end["cause"] == 200 and end["reason"] == "BYE from callee", end
    time.sleep(0.3)
    assert len(uas.requests("BYE")) == 0, "BYE relayed to the callee that had hung up"


@pytest.mark.parametrize("offer", ["early", "delayed"])
def test_hangup_before_the_callers_ack_waits_for_it(env, offer):
    """call.hangup between our 2xx and the caller's ACK (with a delayed
    offer that window holds the caller's answer): the callee gets its BYE
    at once (after its ACK, declining the offer, for the delayed one), the
    caller's BYE waits for its ACK (RFC 3261 15), with Q.850 16, and the
    call ends "hangup" then. Before, the BYE went to the caller at once."""
    from test_b2b_delayed_offer import DelayedUac
    sbc, uas, uac = env("answer")
    if offer == "delayed":
        uac = DelayedUac(sbc.port)
    try:
        uac.invite()
        final = uac.wait_final()
        assert status(final) == 200
        hangup(sbc)
        wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")
        if offer == "delayed":  # its 200 had the offer: ACKed (every stream declined) before the BYE
            ack = uas.requests("ACK")
            assert ack and uas.got.index(next(g for g in uas.got if g[0] == ack[0])) < \
                uas.got.index(next(g for g in uas.got if g[0].startswith(b"BYE "))), uas.got
        no_bye_for(uac, 0.7)
        assert sbc.rpc("call.list", {"active": True})["calls"], "the call ended before the caller's ACK"
        if offer == "delayed":
            uac.ack_answer(final, sdp(uac.ip, uac.rtp_port))
        else:
            uac.ack(final)
        bye = uac.recv_until(lambda d: d.startswith(b"BYE "), timeout=3, what="BYE after our ACK")
        assert hdr(bye, "Call-ID") == uac.callid
        assert "Q.850;cause=16" in (hdr(bye, "Reason") or ""), bye
        end = ended(sbc)
        assert end["cause"] == 200 and end["reason"] == "hangup", end
        assert len(uas.requests("BYE")) == 1
    finally:
        if offer == "delayed":
            uac.close()


def test_callees_bye_crossing_our_held_hangup_keeps_its_cause(env):
    """call.hangup before the caller's ACK, and the callee's BYE crosses
    ours: the call still ends "hangup" with Q.850 16 on the BYE the caller
    gets after its ACK. Review s9: the crossing BYE replaced the held
    cause, reason and Reason lines (the caller's BYE had no Reason)."""
    sbc, uas, uac = env("answer")
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 200
    hangup(sbc)
    bye = wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")[0]
    # the callee's own BYE crosses ours (its dialog: our From and To swapped)
    frm, to = hdr(bye, "From"), hdr(bye, "To")
    theirs = bye.replace(f"From: {frm}".encode(), b"From: X").replace(f"To: {to}".encode(), f"From: {to}".encode())
    theirs = theirs.replace(b"From: X", f"To: {frm}".encode())
    theirs = re.sub(rb"CSeq: \d+ BYE", b"CSeq: 9 BYE", theirs)
    theirs = re.sub(rb"Via: [^\r]*", f"Via: SIP/2.0/UDP 127.0.0.1:{uas.port};branch=z9hG4bKcross".encode(), theirs)
    uas.sock.sendto(theirs, ("127.0.0.1", sbc.port))
    time.sleep(0.3)
    uac.ack(final)
    got = uac.recv_until(lambda d: d.startswith(b"BYE "), timeout=3, what="BYE after our ACK")
    assert "Q.850;cause=16" in (hdr(got, "Reason") or ""), got
    assert ended(sbc)["reason"] == "hangup"
