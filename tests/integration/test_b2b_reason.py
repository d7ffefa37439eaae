"""RFC 3326 Reason across the B2BUA (issue #5): carriers bill and
troubleshoot by the Q.850 cause in the Reason of BYE and CANCEL. What the
far side actually receives:

- relayed: the Reason of a BYE from either side (also a callee's BYE held
  for the caller's ACK), of the caller's CANCEL, of a final error response;
  malformed or oversized values are dropped and the BYE still goes;
- ours: the BYEs after a media timeout, a session timer expiry, an ACK that
  never came and call.hangup, the CANCEL of call.hangup before the answer
  and of a failover after no answer;
- the end record in cdr.jsonl gains "q850" when the ending Reason had one.
"""
import json

import pytest

from b2b_common import Uas, call_env, hdr, status  # noqa: F401 (call_env: the env fixture)
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")

NORMAL = 'Q.850;cause=16;text="Normal call clearing"'
ELSEWHERE = 'SIP;cause=200;text="Call completed elsewhere"'
BAD = ['Q.850;cause=999;text="no such cause"',            # out of range
       'Q.850;cause=16;text="unterminated',                # broken quoting (ends the line's values)
       'SIP;cause=200;text="' + "x" * 300 + '"',          # oversized
       'Q.850 cause=16',                                   # no SEMI
       'Q.850;cause=16;text=unquoted']                     # text not a quoted-string
# (a control character never gets this far: sig_framing drops the datagram
# as binary; test_b2b_reason.c holds b2b_reason_check to refusing one)


def reasons(msg):
    """Every Reason header line of msg (values as sent), in order."""
    head = msg.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    return [ln.split(":", 1)[1].strip() for ln in head.split("\r\n")[1:] if ln.lower().startswith("reason:")]


def cdr_end(sbc):
    """The end line of the one call in cdr.jsonl."""
    def end():
        p = sbc.data / "cdr.jsonl"
        lines = [json.loads(ln) for ln in p.read_text().splitlines()] if p.exists() else []
        ends = [e for e in lines if e["event"] == "end"]
        return ends[0] if ends else None
    return wait_for(end, timeout=5, what="the call's end in cdr.jsonl")


def caller_bye(uac, final, extra):
    """The caller's BYE with extra header lines; returns its response."""
    cseq = max(uac.cseq, 1) + 1
    uac.sock.sendto(uac._request("BYE", final, cseq, extra=extra), uac.dst)
    return uac.recv_until(lambda d: status(d) and hdr(d, "CSeq") == f"{cseq} BYE")


def callee_bye(uas, extra):
    uas.send(uas._request("BYE", hdr(uas.invite, "Contact").strip("<>"), 1, hdr(uas.invite, "From"), "uasbye",
                          extra))


def caller_cancel(uac, extra):
    uac.sock.sendto(uac._request("CANCEL", uac.inv, 1, ruri=uac.inv.split(b" ")[1].decode(), to=hdr(uac.inv, "To"),
                                 branch="z9hG4bKuacinv1", extra=extra), uac.dst)


def test_callers_bye_reason_reaches_the_callee(env):
    """Two Reason lines (Q.850 and SIP) cross as they came; the record
    gets the Q.850 cause."""
    sbc, uas, uac = env()
    final = uac.answered()
    assert status(caller_bye(uac, final, f"Reason: {NORMAL}\r\nReason: {ELSEWHERE}\r\n")) == 200
    bye = wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")[0]
    assert reasons(bye) == [NORMAL, ELSEWHERE], bye
    end = cdr_end(sbc)
    assert end["q850"] == 16 and end["cause"] == 200 and end["reason"] == "BYE from caller", end


@pytest.mark.parametrize("acked", [True, False], ids=["after_ack", "held_for_ack"])
def test_callees_bye_reason_reaches_the_caller(env, acked):
    """The callee's BYE with Reason reaches the caller with it, also when
    that BYE waited for the caller's ACK (RFC 3261 15)."""
    sbc, uas, uac = env()
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 200
    if acked:
        uac.ack(final)
        wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
    callee_bye(uas, 'Reason: Q.850;cause=31;text="Normal, unspecified"\r\n')
    wait_for(lambda: [r for r in uas.responses() if "BYE" in hdr(r, "CSeq")], timeout=3, what="200 to the BYE")
    if not acked:
        uac.ack(final)
    bye = uac.recv_until(lambda d: d.startswith(b"BYE "), timeout=5)
    assert hdr(bye, "Call-ID") == uac.callid
    assert reasons(bye) == ['Q.850;cause=31;text="Normal, unspecified"'], bye
    end = cdr_end(sbc)
    assert end["q850"] == 31 and end["reason"] == "BYE from callee", end


def test_malformed_reason_dropped_bye_still_goes(env):
    """Malformed and oversized values never cross, the good one beside them
    (in the same line too) does, and the BYE goes."""
    sbc, uas, uac = env()
    final = uac.answered()
    lines = [f"Reason: {b}\r\n" for b in BAD]
    lines.insert(2, "Reason: SIP;cause=503, Q.850;cause=999\r\n")
    assert status(caller_bye(uac, final, "".join(lines))) == 200
    bye = wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")[0]
    assert reasons(bye) == ["SIP;cause=503"], bye
    for b in ("999", "xxxx", "unterminated", "unquoted", "Q.850 cause"):
        assert b not in bye.decode(errors="replace"), (b, bye)
    end = cdr_end(sbc)
    assert "q850" not in end, end


def test_callers_cancel_reason_reaches_the_callee(env):
    """SIP;cause=200 "Call completed elsewhere" on the caller's CANCEL
    reaches the callee, whose phone then shows no missed call."""
    sbc, uas, uac = env("ring")
    uac.invite()
    uac.recv_until(lambda d: status(d) == 180, timeout=5, what="180")
    caller_cancel(uac, f"Reason: {ELSEWHERE}\r\n")
    assert status(uac.wait_final(timeout=5)) == 487
    cancel = wait_for(lambda: uas.requests("CANCEL"), timeout=3, what="CANCEL at the callee")[0]
    assert reasons(cancel) == [ELSEWHERE], cancel
    assert "q850" not in cdr_end(sbc)


@pytest.mark.parametrize("good", [True, False], ids=["good_and_bad", "only_bad"])
def test_error_response_reason_relayed_malformed_dropped(env, good):
    """A 486 with Q.850 cause 17 reaches the caller with it, the record has
    q850 17; malformed Reasons beside it, or alone, do not cross (the 486
    does)."""
    sbc, uas, uac = env("final:486")
    bad = "\r\n".join(f"Reason: {b}" for b in BAD + ['Q.850;cause=17;text=x y'])
    uas.final_extra = ('Reason: Q.850;cause=17;text="User busy"\r\n' if good else "") + bad
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 486
    assert reasons(final) == (['Q.850;cause=17;text="User busy"'] if good else []), final
    end = cdr_end(sbc)
    assert end.get("q850") == (17 if good else None) and end["cause"] == 486, end


@pytest.mark.parametrize("why", ["media_timeout", "session_timer"])
def test_our_timeout_byes_carry_reason(env, why):
    """Media (RTP) timeout and RFC 4028 session timer expiry: BYE on both
    legs with Reason SIP 408 and what timed out."""
    if why == "media_timeout":
        sbc, uas, uac = env(rtp_timeout_ms=1000)
        uac.answered()
        text = "media timeout"
    else:
        sbc, uas, uac = env(timers={"session_min_s": 1})
        uas.extra200 = "\r\nRequire: timer\r\nSession-Expires: 2;refresher=uac"
        uac.answered(extra="Supported: timer\r\nSession-Expires: 2;refresher=uac\r\n")
        text = "session timer expired"
    want = [f'SIP;cause=408;text="{text}"']
    bye = uac.recv_until(lambda d: d.startswith(b"BYE "), timeout=8)
    assert reasons(bye) == want, bye
    bye_b = wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")[0]
    assert reasons(bye_b) == want, bye_b
    end = cdr_end(sbc)
    assert end["cause"] == 408 and "q850" not in end, end  # the record as before


def test_no_ack_bye_carries_reason(env):
    """The caller never ACKs our 200 (Timer H, 64*T1 with T1 50 ms): the
    callee's BYE says SIP 408 "no ACK"."""
    sbc, uas, uac = env(timers={"t1_ms": 50})
    uac.invite()
    assert status(uac.wait_final()) == 200
    bye = wait_for(lambda: uas.requests("BYE"), timeout=8, what="BYE at the callee")[0]
    assert reasons(bye) == ['SIP;cause=408;text="no ACK"'], bye
    assert cdr_end(sbc)["reason"] == "no ACK"


@pytest.mark.parametrize("answered", [True, False], ids=["bye", "cancel"])
def test_hangup_carries_q850_normal_clearing(env, answered):
    """call.hangup: BYE on both legs (answered) or CANCEL toward the callee
    (ringing) with Q.850 cause 16; the record has q850 16."""
    sbc, uas, uac = env("answer" if answered else "ring")
    if answered:
        uac.answered()
    else:
        uac.invite()
        uac.recv_until(lambda d: status(d) == 180, timeout=5, what="180")
    calls = wait_for(lambda: sbc.rpc("call.list", {"active": True})["calls"], timeout=5, what="the call")
    assert sbc.rpc("call.hangup", {"id": calls[0]["id"]})["requested"] is True
    want = ['Q.850;cause=16;text="Normal call clearing (call.hangup)"']
    if answered:
        bye = uac.recv_until(lambda d: d.startswith(b"BYE "), timeout=5)
        assert reasons(bye) == want, bye
        got = wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")[0]
    else:
        assert status(uac.wait_final(timeout=5)) == 487
        got = wait_for(lambda: uas.requests("CANCEL"), timeout=3, what="CANCEL at the callee")[0]
    assert reasons(got) == want, got
    end = cdr_end(sbc)
    assert end["q850"] == 16 and end["reason"] == "hangup", end


def test_failover_cancel_after_no_answer_carries_reason(env):
    """The first route rings and never answers (no_answer_ms 500): its
    CANCEL says Q.850 19 "No answer from user"; the next route answers."""
    sbc, uas, uac = env("ring", timers={"no_answer_ms": 500})
    alt = Uas("answer")
    try:
        sbc.add_failover(alt.port)
        final = uac.answered()
        assert hdr(final, "Call-ID") == uac.callid and alt.invite is not None
        cancel = wait_for(lambda: uas.requests("CANCEL"), timeout=3, what="CANCEL at the first route")[0]
        assert reasons(cancel) == ['Q.850;cause=19;text="No answer from user"'], cancel
        assert status(uac.bye(final)) == 200
    finally:
        alt.close()


@pytest.mark.parametrize("case,code,cause", [
    ("no route", 404, 1),
    ("SRTP required, no crypto", 488, 88),
    ("every route down", 503, 41),
])
def test_our_error_responses_carry_q850(env, case, code, cause):
    """An INVITE we refuse ourselves gets a Reason with the Q.850 cause
    carriers bill by (RFC 6432; the cause after RFC 3398, 488 as 88
    "Incompatible destination" as carriers send it for an SRTP mismatch),
    and the end record has it as q850. Before: no Reason at all."""
    sbc, uas, uac = env()
    number = "4930123456"
    if case == "no route":
        sbc.rpc("route.remove", {"prefix": ""})  # the demo's catch-all
    elif case == "SRTP required, no crypto":
        sbc.rpc("trunk.update", {"name": "demo-in", "srtp_inbound": {"mode": "required",
                                                                      "suites": ["AES_CM_128_HMAC_SHA1_80"]}})
        sbc.signal_synced()
    else:
        sbc.rpc("trunk.update", {"name": "demo-out", "enabled": False})
        sbc.signal_synced()
    uac.invite(number=number)
    final = uac.wait_final()
    assert status(final) == code, final
    rs = reasons(final)
    assert len(rs) == 1 and rs[0].startswith(f"Q.850;cause={cause};text=\""), rs
    end = cdr_end(sbc)
    assert end["cause"] == code and end["q850"] == cause, end
    assert uas.invite is None


def test_relayed_error_keeps_the_trunks_reason_only(env):
    """A final error relayed from the callee carries the callee's Reason,
    not one of ours beside it."""
    sbc, uas, uac = env(plan="final:486")
    uas.final_extra = f"Reason: {NORMAL}"
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 486 and reasons(final) == [NORMAL], final
