"""Issue #5, four RFC gaps of the B2BUA's in-dialog handling, driven with
the python carriers of b2b_common over UDP (and TCP for item 2):

1. RFC 3311 5.2: an UPDATE with an offer while an offer/answer exchange is
   open gets 491 (we sent an offer not yet answered) or 500 with a
   Retry-After (we received one not yet answered), never 501 (the method
   is in our Allow).
2. RFC 3261 7.1 / 8.2.1: methods are case-sensitive; an unknown one
   (`invite`, `FOO`, `ack`) gets one "501 Not Implemented" with an Allow
   header, a known one we do not take (REGISTER, MESSAGE) one 405 with
   Allow, inside a dialog or outside, and none is relayed.
3. RFC 3261 9.2: a CANCEL of a pending re-INVITE gets 200, the re-INVITE
   487, the relayed copy is cancelled on the other leg, and the call stays
   up with the media as before the re-INVITE (RFC 3261 14.1).
4. RFC 4028 10 with RFC 3261 15.1.2: the session timer expiring while a
   refresh is being relayed answers that refresh 487 before the BYEs."""
import re
import socket
import time

import pytest

from b2b_common import Sbc, Uac, Uas, body, call_env, hdr, response, rtp_lands, rtp_port, sdp, sdp_media, status  # noqa: F401 (call_env: the env fixture)
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")

ALLOW = {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE", "PRACK", "INFO"}


def allow_of(msg):
    a = hdr(msg, "Allow")
    return {m.strip() for m in a.split(",")} if a else set()


def quiet_for(sock_recv, seconds=0.4):
    """Whatever else arrives within `seconds` (sock_recv returns bytes or
    raises socket.timeout)."""
    extra = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            extra.append(sock_recv())
        except socket.timeout:
            pass
    return extra


# ---- 1. RFC 3311 5.2: UPDATE with an offer while one is open -----------------------


def early_update_offer(uac, prov, cseq):
    return uac._transaction("UPDATE", prov, cseq, extra=f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\n",
                            ctype="application/sdp", body_text=sdp(uac.ip, uac.rtp_port).replace(
                                "o=uac 1 1 ", "o=uac 1 2 "))


def test_early_update_offer_from_caller_with_its_offer_open_500(env):
    """The caller's INVITE offer is unanswered (a 180 without SDP): its
    UPDATE with another offer gets 500 with a Retry-After of 0..10 s (we
    received an offer we have not answered), not relayed. Before: 501."""
    sbc, uas, uac = env("ring")
    uac.invite()
    prov = uac.recv_until(lambda d: status(d) == 180)
    r = early_update_offer(uac, prov, 2)
    assert status(r) == 500, r
    assert 0 <= int(hdr(r, "Retry-After").split()[0]) <= 10, r
    assert not uas.requests("UPDATE")
    uac.cancel()
    assert status(uac.wait_final()) == 487


def test_early_update_offer_from_callee_with_our_offer_open_491(env):
    """The callee has not answered our INVITE offer (180 without SDP) and
    sends an UPDATE with an offer on its early dialog: 491 (we sent an
    offer not yet answered), not relayed to the caller. Before: 501."""
    sbc, uas, uac = env("ring")
    uac.invite()
    uac.recv_until(lambda d: status(d) == 180)
    upd = uas._request("UPDATE", hdr(uas.invite, "Contact").strip("<>"), 1, hdr(uas.invite, "From"), "uasupd",
                       f"Contact: <sip:uas@127.0.0.1:{uas.port}>\r\n", sdp("127.0.0.1", uas.rtp_port))
    uas.send(upd)
    r = wait_for(lambda: [m for m in uas.responses() if hdr(m, "CSeq") == "1 UPDATE"], timeout=3,
                 what="the answer to the callee's UPDATE")
    assert len(r) == 1 and status(r[0]) == 491, r
    assert not any(m.startswith(b"UPDATE ") for m in uac.got)
    uac.cancel()
    assert status(uac.wait_final()) == 487


def test_early_update_offer_after_reliable_answer(env):
    """The offer/answer of the INVITE completed in a reliable 183 and its
    PRACK: the caller's UPDATE with a new offer is not taken yet (limit in
    sbc-signal/README.md): 500 with a Retry-After, never 501, and the call
    is answered and ends as usual."""
    sbc, uas, uac = env("100rel")
    send = uas.send
    uas.send = lambda d: None if d.startswith(b"SIP/2.0 200") and hdr(d, "CSeq") == "1 INVITE" else send(d)
    uac.invite()
    prov = uac.recv_until(lambda d: status(d) == 183)
    assert status(uac.prack(prov)) == 200
    r = early_update_offer(uac, prov, 3)
    assert status(r) == 500 and hdr(r, "Retry-After"), r
    assert not uas.requests("UPDATE")
    send(response(uas.invite, 200, "OK", uas.tag, f"Contact: <sip:uas@127.0.0.1:{uas.port}>",
                  sdp("127.0.0.1", uas.rtp_port)))
    final = uac.wait_final()
    assert status(final) == 200
    uac.ack(final)
    assert status(uac.bye(final)) == 200


# ---- 2. methods are case-sensitive; unknown -> 501 + Allow, known not taken -> 405 ---


def bare_request(method, port, tp, callid, cseq=1, to_tag=None, cseq_method=None, branch=None):
    return (f"{method} sip:4930123456@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/{tp} 127.0.0.1:{port};branch={branch or 'z9hG4bK' + callid}\r\n"
            f"From: <sip:15550001111@127.0.0.1>;tag=f-{callid}\r\n"
            f"To: <sip:4930123456@127.0.0.1>{';tag=' + to_tag if to_tag else ''}\r\n"
            f"Call-ID: {callid}\r\nCSeq: {cseq} {cseq_method or method}\r\nMax-Forwards: 70\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


OUT_OF_DIALOG = [("invite", 501), ("Invite", 501), ("FOO", 501), ("ack", 501), ("REGISTER", 405),
                 ("MESSAGE", 405)]


@pytest.mark.parametrize("tp", ["udp", "tcp"])
def test_unknown_method_out_of_dialog(procs, tmp_path, tp):
    """One response each: 501 Not Implemented with Allow for a method we do
    not know (RFC 3261 7.1: `invite` is not INVITE), 405 with Allow for one
    we know and do not take (8.2.1); nothing reaches the called carrier."""
    uas = Uas("answer")
    try:
        sbc = Sbc(procs, tmp_path, uas.port)
        if tp == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.settimeout(3)
            send = lambda b: s.sendto(b, ("127.0.0.1", sbc.port))  # noqa: E731
            recv = lambda: s.recv(65536)  # noqa: E731
        else:
            s = socket.create_connection(("127.0.0.1", sbc.port), timeout=3)
            buf = [b""]

            def recv():
                while b"\r\n\r\n" not in buf[0]:
                    d = s.recv(65536)
                    if not d:
                        raise AssertionError("connection closed")
                    buf[0] += d
                head, rest = buf[0].split(b"\r\n\r\n", 1)
                n = int(hdr(head + b"\r\n", "Content-Length") or 0)
                msg, buf[0] = head + b"\r\n\r\n" + rest[:n], rest[n:]
                return msg
            send = s.sendall
        port = s.getsockname()[1]
        for method, want in OUT_OF_DIALOG:
            cid = f"unk-{tp}-{method}-{port}"
            send(bare_request(method, port, tp.upper(), cid))
            r = recv()
            assert status(r) == want and hdr(r, "Call-ID") == cid, (method, r)
            assert allow_of(r) == ALLOW, (method, r)
            assert hdr(r, "CSeq") == f"1 {method}", r
        s.settimeout(0.1)
        assert quiet_for(recv) == []  # one response per request
        assert not [m for m, _ in uas.got if not m.startswith(b"OPTIONS ")]
        s.close()
        assert sbc.options_ok()
    finally:
        uas.close()


def test_unknown_method_in_dialog(env):
    """Inside a confirmed dialog an unknown method (`FOO`, `ack`, `bye`) gets
    501 with Allow and is not relayed; the call goes on."""
    sbc, uas, uac = env()
    final = uac.answered()
    wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
    for cseq, method in ((4, "FOO"), (5, "ack"), (6, "bye")):
        r = uac._transaction(method, final, cseq)
        assert status(r) == 501 and allow_of(r) == ALLOW, (method, r)
    assert not [m for m, _ in uas.got if re.match(rb"(FOO|ack|bye) ", m)]
    assert len(uas.requests("ACK")) == 1 and not uas.requests("BYE")
    assert sbc.rpc("stats.get")["signal"][0]["stats"]["calls"]["active"] == 1
    assert status(uac.bye(final)) == 200
