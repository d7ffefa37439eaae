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
import ssl
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
    raises socket.timeout; an ssl socket raises ssl.SSLError on timeout in
    some Python versions)."""
    extra = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            extra.append(sock_recv())
        except (socket.timeout, ssl.SSLError):
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
    """The INVITE's offer/answer completed in a reliable 183 (and its
    PRACK): the caller's UPDATE with a new offer crosses on the callee's
    early dialog like a confirmed dialog's (RFC 3311 5.1; preconditions,
    RFC 3312), SDP rewritten both ways, the media moved to the new ports
    of both sides. The callee's 200 to the INVITE then repeats its 183
    SDP: it reaches the caller without SDP and the media stay where the
    UPDATE put them. Before: 501."""
    sbc, uas, uac = env("100rel")
    new_rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    new_rtp.bind(("127.0.0.1", rtp_port()))
    try:
        send = uas.send

        def callee_send(d):
            if d.startswith(b"SIP/2.0 200") and hdr(d, "CSeq") == "1 INVITE":
                return None  # held: answered below, after the UPDATE
            if d.startswith(b"SIP/2.0 200") and hdr(d, "CSeq").endswith("UPDATE"):  # answered with SDP
                d = response(uas.requests("UPDATE")[-1], 200, "OK", None, f"Contact: <sip:uas@127.0.0.1:{uas.port}>",
                             sdp("127.0.0.1", uas.rtp2_port).replace("o=uac 1 1 ", "o=uac 1 2 "))
            return send(d)
        uas.send = callee_send
        uac.invite()
        prov = uac.recv_until(lambda d: status(d) == 183)
        relay_a, relay_b = sdp_media(body(prov))[1], sdp_media(body(uas.invite))[1]
        assert status(uac.prack(prov)) == 200
        new_port = new_rtp.getsockname()[1]
        r = uac._transaction("UPDATE", prov, 3, extra=f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\n",
                             ctype="application/sdp",
                             body_text=sdp(uac.ip, new_port).replace("o=uac 1 1 ", "o=uac 1 2 "))
        assert status(r) == 200, (r, sbc.log()[-2000:])
        assert sdp_media(body(r))[1] == relay_a and str(uas.rtp2_port) not in body(r), r
        upd = uas.requests("UPDATE")
        assert len(upd) == 1 and hdr(upd[0], "To").endswith(f"tag={uas.tag}")  # the callee's early dialog
        assert sdp_media(body(upd[0]))[1] == relay_b and str(new_port) not in body(upd[0]), upd[0]
        # the media follow the UPDATE both ways
        ok, _ = rtp_lands(uas.rtp2, ("127.0.0.1", relay_b), new_rtp, b"early-upd" * 10)
        assert ok, sbc.log()[-2000:]
        ok, _ = rtp_lands(new_rtp, ("127.0.0.1", relay_a), uas.rtp2, b"early-upd-back" * 5)
        assert ok, sbc.log()[-2000:]
        # the 200 repeats the 183's SDP: no new answer, none toward the caller
        send(response(uas.invite, 200, "OK", uas.tag, f"Contact: <sip:uas@127.0.0.1:{uas.port}>",
                      sdp("127.0.0.1", uas.rtp_port)))
        final = uac.wait_final()
        assert status(final) == 200 and body(final) == "", final
        uac.ack(final)
        ok, _ = rtp_lands(uas.rtp2, ("127.0.0.1", relay_b), new_rtp, b"after-200" * 10)
        assert ok, sbc.log()[-2000:]
        assert status(uac.bye(final)) == 200
    finally:
        new_rtp.close()


def test_early_update_offer_from_callee_after_reliable_answer(env):
    """The other way: the callee's UPDATE with an offer after its reliable
    183 was PRACKed reaches the caller on its early dialog with the relay's
    SDP, and the caller's answer goes back rewritten onto the relay."""
    sbc, uas, uac = env("100rel")
    send = uas.send
    uas.send = lambda d: None if d.startswith(b"SIP/2.0 200") and hdr(d, "CSeq") == "1 INVITE" else send(d)
    uac.invite()
    prov = uac.recv_until(lambda d: status(d) == 183)
    relay_a, relay_b = sdp_media(body(prov))[1], sdp_media(body(uas.invite))[1]
    assert status(uac.prack(prov)) == 200
    upd = uas._request("UPDATE", hdr(uas.invite, "Contact").strip("<>"), 2, hdr(uas.invite, "From"), "uasupd",
                       f"Contact: <sip:uas@127.0.0.1:{uas.port}>\r\n",
                       sdp("127.0.0.1", uas.rtp2_port).replace("o=uac 1 1 ", "o=uac 1 2 "))
    uas.send(upd)
    got = uac.recv_until(lambda d: d.startswith(b"UPDATE "))
    assert hdr(got, "To").endswith(f"tag={uac.ftag}") and sdp_media(body(got))[1] == relay_a, got
    assert str(uas.rtp2_port) not in body(got)
    uac.sock.sendto(response(got, 200, "OK", None, f"Contact: <sip:alice@{uac.ip}:{uac.port}>",
                             sdp(uac.ip, uac.rtp_port)), uac.dst)
    r = wait_for(lambda: [m for m in uas.responses() if hdr(m, "CSeq") == "2 UPDATE"], timeout=3,
                 what="the answer to the callee's UPDATE")
    assert status(r[0]) == 200 and sdp_media(body(r[0]))[1] == relay_b, r
    assert str(uac.rtp_port) not in body(r[0])
    ok, _ = rtp_lands(uas.rtp2, ("127.0.0.1", relay_b), uac.rtp, b"callee-upd" * 10)
    assert ok, sbc.log()[-2000:]
    send(response(uas.invite, 200, "OK", uas.tag, f"Contact: <sip:uas@127.0.0.1:{uas.port}>"))
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


@pytest.mark.parametrize("tp", ["udp", "tcp", "tls"])
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
            s = socket.create_connection(("127.0.0.1", sbc.port if tp == "tcp" else sbc.tls_port), timeout=3)
            if tp == "tls":
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE  # sbc-control's self-signed default profile
                s = ctx.wrap_socket(s)
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
    # a PRACK after the answer is for no unacknowledged reliable
    # provisional (RFC 3262 3): 481, not 501 (PRACK is in our Allow)
    r = uac._transaction("PRACK", final, 7, extra="RAck: 1 1 INVITE\r\n")
    assert status(r) == 481, r
    assert not [m for m, _ in uas.got if re.match(rb"(FOO|ack|bye|PRACK) ", m)]
    assert len(uas.requests("ACK")) == 1 and not uas.requests("BYE")
    assert sbc.rpc("stats.get")["signal"][0]["stats"]["calls"]["active"] == 1
    assert status(uac.bye(final)) == 200


# ---- 3. CANCEL of a re-INVITE ------------------------------------------------------------


def reinvite_pending(sbc, uas, uac, new_port):
    """An answered call, then the caller's re-INVITE (CSeq 3) moving its
    media to new_port, relayed to a callee that does not answer it yet."""
    final = uac.answered()
    wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
    uas.mute = True
    offer = sdp(uac.ip, new_port).replace("o=uac 1 1 ", "o=uac 1 2 ")
    uac.sock.sendto(uac._request("INVITE", final, 3, extra=f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\n",
                                 ctype="application/sdp", body_text=offer), uac.dst)
    reinv = wait_for(lambda: [m for m in uas.requests("INVITE") if m is not uas.invite and
                              hdr(m, "CSeq").endswith("INVITE") and hdr(m, "CSeq") != hdr(uas.invite, "CSeq")],
                     timeout=3, what="the re-INVITE at the callee")[0]
    return final, reinv


def cancel_reinvite(uac, final):
    uac.sock.sendto(uac._request("CANCEL", final, 3, ruri=hdr(final, "Contact").strip("<>"),
                                 branch="z9hG4bKuacinvite3"), uac.dst)


def test_cancel_of_a_reinvite(env):
    """RFC 3261 9.2: the CANCEL gets 200 and the re-INVITE 487 (the
    callee's, relayed), the relayed re-INVITE is cancelled on the callee's
    leg once it sent a provisional (9.1), the call stays up (14.1) and the
    media keep the old addresses. Before: 481 to the CANCEL, the re-INVITE
    left pending."""
    sbc, uas, uac = env()
    new_rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    new_rtp.bind(("127.0.0.1", rtp_port()))
    try:
        final, reinv = reinvite_pending(sbc, uas, uac, new_rtp.getsockname()[1])
        relay_b = sdp_media(body(uas.invite))[1]
        cancel_reinvite(uac, final)
        ok = uac.recv_until(lambda d: status(d) and hdr(d, "CSeq") == "3 CANCEL")
        assert status(ok) == 200, ok
        time.sleep(0.3)
        assert not uas.requests("CANCEL")  # RFC 3261 9.1: not before a provisional
        uas.send(response(reinv, 100, "Trying"))
        can = wait_for(lambda: uas.requests("CANCEL"), timeout=3, what="CANCEL at the callee")[0]
        assert hdr(can, "CSeq") == hdr(reinv, "CSeq").replace("INVITE", "CANCEL")
        assert hdr(can, "Via").split(";branch=")[1].split(";")[0] == \
            hdr(reinv, "Via").split(";branch=")[1].split(";")[0]
        uas.send(response(can, 200, "OK"))
        uas.send(response(reinv, 487, "Request Terminated"))
        r = uac.recv_until(lambda d: status(d) >= 200 and hdr(d, "CSeq") == "3 INVITE")
        assert status(r) == 487, r
        uac.sock.sendto(uac._request("ACK", final, 3, branch="z9hG4bKuacinvite3"), uac.dst)
        # our 487 toward the callee's was ACKed (RFC 3261 17.1.1.3)
        wait_for(lambda: [m for m in uas.requests("ACK") if hdr(m, "CSeq") == hdr(reinv, "CSeq").replace(
            "INVITE", "ACK")], timeout=3, what="ACK of the callee's 487")
        # the media kept the caller's old port: the callee's RTP lands there
        got, _ = rtp_lands(uas.rtp, ("127.0.0.1", relay_b), uac.rtp, b"old-port" * 10)
        assert got, sbc.log()[-2000:]
        uas.mute = False
        assert sbc.rpc("stats.get")["signal"][0]["stats"]["calls"]["active"] == 1
        assert status(uac.bye(final)) == 200
        wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")
    finally:
        new_rtp.close()


def test_cancel_of_a_reinvite_crossed_by_2xx(env):
    """The callee's 200 to the re-INVITE crosses our CANCEL: it is ACKed,
    and the caller gets that 200 (with the answer on the relay), so both
    legs keep the same, new session; the call stays up."""
    sbc, uas, uac = env()
    new_rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    new_rtp.bind(("127.0.0.1", rtp_port()))
    try:
        final, reinv = reinvite_pending(sbc, uas, uac, new_rtp.getsockname()[1])
        relay_a, relay_b = sdp_media(body(final))[1], sdp_media(body(uas.invite))[1]
        cancel_reinvite(uac, final)
        uas.send(response(reinv, 100, "Trying"))
        assert status(uac.recv_until(lambda d: status(d) and hdr(d, "CSeq") == "3 CANCEL")) == 200
        can = wait_for(lambda: uas.requests("CANCEL"), timeout=3, what="CANCEL at the callee")[0]
        uas.send(response(reinv, 200, "OK", None, f"Contact: <sip:uas@127.0.0.1:{uas.port}>",
                          sdp("127.0.0.1", uas.rtp_port)))
        uas.send(response(can, 200, "OK"))
        r = uac.recv_until(lambda d: status(d) >= 200 and hdr(d, "CSeq") == "3 INVITE")
        assert status(r) == 200 and sdp_media(body(r))[1] == relay_a, r
        uac.sock.sendto(uac._request("ACK", final, 3), uac.dst)
        wait_for(lambda: [m for m in uas.requests("ACK") if hdr(m, "CSeq") == hdr(reinv, "CSeq").replace(
            "INVITE", "ACK")], timeout=3, what="ACK of the callee's 200")
        got, _ = rtp_lands(uas.rtp, ("127.0.0.1", relay_b), new_rtp, b"new-port" * 10)
        assert got, sbc.log()[-2000:]
        uas.mute = False
        assert status(uac.bye(final)) == 200
    finally:
        new_rtp.close()


def test_cancel_of_the_callees_reinvite(env):
    """The same from the callee's side: its re-INVITE (hold) relayed to the
    caller, then its CANCEL: 200, a CANCEL on the caller's leg for our copy,
    the caller's 487 relayed as the callee's 487, and the call goes on."""
    sbc, uas, uac = env("reinv")
    final = uac.answered()
    reinv = uac.recv_until(lambda d: d.startswith(b"INVITE "))  # not answered by the caller
    uac.sock.sendto(response(reinv, 100, "Trying"), uac.dst)
    cancel = uas.reinv.split(b"\r\n\r\n", 1)[0].decode()
    cancel = re.sub(r"^INVITE ", "CANCEL ", cancel)
    cancel = re.sub(r"CSeq: 2 INVITE", "CSeq: 2 CANCEL", cancel)
    cancel = re.sub(r"Content-Type: [^\r]*\r\n", "", cancel)
    cancel = re.sub(r"Content-Length: \d+", "Content-Length: 0", cancel) + "\r\n\r\n"
    uas.send(cancel.encode())
    ok = wait_for(lambda: [m for m in uas.responses() if hdr(m, "CSeq") == "2 CANCEL"], timeout=3,
                  what="the answer to the callee's CANCEL")
    assert status(ok[0]) == 200, ok
    can = uac.recv_until(lambda d: d.startswith(b"CANCEL "))
    assert hdr(can, "CSeq") == hdr(reinv, "CSeq").replace("INVITE", "CANCEL")
    uac.sock.sendto(response(can, 200, "OK"), uac.dst)
    uac.sock.sendto(response(reinv, 487, "Request Terminated"), uac.dst)
    r = wait_for(lambda: [m for m in uas.responses() if hdr(m, "CSeq") == "2 INVITE" and status(m) >= 200],
                 timeout=3, what="the final response to the callee's re-INVITE")
    assert status(r[0]) == 487, r
    assert sbc.rpc("stats.get")["signal"][0]["stats"]["calls"]["active"] == 1
    assert status(uac.bye(final)) == 200


# ---- 4. session timer expiring with a refresh pending --------------------------------


def test_session_timer_expiry_answers_a_pending_refresh(procs, tmp_path):
    """The callee's 200 sets a 2 s session timer; the caller's refresh
    (re-INVITE) is relayed and the callee never answers it. At expiry the
    caller's re-INVITE gets 487 (RFC 3261 15.1.2: requests pending on a
    dialog that ends), then both legs get BYE and the record says "session
    timer expired". Before: the refresh got no final response."""
    uas = Uas("answer")
    uas.extra200 = "\r\nRequire: timer\r\nSession-Expires: 2;refresher=uac"
    uac = None
    try:
        sbc = Sbc(procs, tmp_path, uas.port, timers={"session_min_s": 1})
        uac = Uac(sbc.port)
        final = uac.answered(extra="Supported: timer\r\nSession-Expires: 2\r\n")
        wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
        uas.mute = True
        uac.sock.sendto(uac._request("INVITE", final, 3, extra=f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\n"
                                     "Session-Expires: 2;refresher=uac\r\n", ctype="application/sdp",
                                     body_text=sdp(uac.ip, uac.rtp_port).replace("o=uac 1 1 ", "o=uac 1 2 ")),
                        uac.dst)
        r = uac.recv_until(lambda d: status(d) >= 200 and hdr(d, "CSeq") == "3 INVITE", 6,
                           "no final response to the pending refresh")
        assert status(r) == 487, r
        uac.sock.sendto(uac._request("ACK", final, 3, branch="z9hG4bKuacinvite3"), uac.dst)
        uac.recv_until(lambda d: d.startswith(b"BYE "), 3, "no BYE toward the caller")
        assert uac.got.index(r) < len(uac.got) - 1  # the 487 came before the BYE
        wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")
        calls = wait_for(lambda: sbc.rpc("call.list")["calls"], timeout=5, what="the call in call.list")
        rec = wait_for(lambda: (lambda x: x if x["state"] == "ended" else None)(
            sbc.rpc("call.get", {"id": calls[0]["id"]})), timeout=5, what="call record ended")
        assert rec["cause"] == 408 and rec["reason"].startswith("session timer expired"), rec
    finally:
        uas.close()
        if uac:
            uac.close()


def test_pending_reinvite_answered_when_the_callee_hangs_up(env):
    """The caller's re-INVITE is being relayed when the callee hangs up:
    the caller gets the BYE and a 487 for its re-INVITE (RFC 3261 15.1.2),
    also once the callee answers our copy 487 after its BYE. Before, only
    the session timer, media timeout and call.hangup answered it: the
    re-INVITE stayed without a final and its transaction in the table."""
    sbc, uas, uac = env()
    final, reinv = reinvite_pending(sbc, uas, uac, uac.rtp_port)
    uas.bye()
    uac.recv_until(lambda d: d.startswith(b"BYE "), 3, "no BYE toward the caller")
    uas.send(response(reinv, 487, "Request Terminated"))
    r = uac.recv_until(lambda d: status(d) >= 200 and hdr(d, "CSeq") == "3 INVITE", 4,
                       "no final response to the caller's re-INVITE")
    assert status(r) == 487


def test_pending_reinvite_answered_when_the_caller_hangs_up(env):
    """The caller BYEs while its own re-INVITE is relayed: 487 for the
    re-INVITE, 200 for the BYE, the BYE reaches the callee."""
    sbc, uas, uac = env()
    final, reinv = reinvite_pending(sbc, uas, uac, uac.rtp_port)
    uac.sock.sendto(uac._request("BYE", final, 4), uac.dst)
    r = uac.recv_until(lambda d: status(d) >= 200 and hdr(d, "CSeq") == "3 INVITE", 4,
                       "no final response to the caller's re-INVITE")
    assert status(r) == 487
    wait_for(lambda: [d for d in uac.got if status(d) == 200 and hdr(d, "CSeq") == "4 BYE"], timeout=3,
             what="200 to the BYE")
    wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")


def test_pending_early_update_answered_on_cancel(env):
    """Ringing; the caller's UPDATE is relayed on the early dialog and the
    callee does not answer it; the caller CANCELs: its INVITE gets 487 and
    its UPDATE a final (487) too, not silence."""
    sbc, uas, uac = env("ring")
    uac.invite()
    prov = uac.recv_until(lambda d: status(d) == 180, 5)
    wait_for(lambda: uas.invite is not None, timeout=3, what="INVITE at callee")
    uas.mute = True
    uac.sock.sendto(uac._request("UPDATE", prov, 2, extra=f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\n"), uac.dst)
    wait_for(lambda: uas.requests("UPDATE"), timeout=3, what="UPDATE at callee")
    uac.cancel()
    assert status(uac.wait_final(5)) == 487
    r = uac.recv_until(lambda d: status(d) >= 200 and hdr(d, "CSeq") == "2 UPDATE", 4,
                       "no final response to the caller's UPDATE")
    assert status(r) == 487


def test_second_request_while_one_is_relayed(env):
    """The caller's re-INVITE is being relayed (one at a time per call):
    its second INVITE gets 500 with a Retry-After (RFC 3261 14.2: an INVITE
    on the same side before the first got its final), an INFO 500 with a
    Retry-After too, and an offer from the callee (its own re-INVITE: glare)
    491. Before: 491 to everything, which tells a UA to back off and retry
    an offer that was never in conflict."""
    sbc, uas, uac = env()
    final, reinv = reinvite_pending(sbc, uas, uac, uac.rtp_port)
    offer = sdp(uac.ip, uac.rtp_port).replace("o=uac 1 1 ", "o=uac 1 3 ")
    uac.sock.sendto(uac._request("INVITE", final, 4, extra=f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\n",
                                 ctype="application/sdp", body_text=offer, branch="z9hG4bKuacsecond4"), uac.dst)
    r = uac.recv_until(lambda d: status(d) >= 200 and hdr(d, "CSeq") == "4 INVITE", 4, "no final to the second INVITE")
    assert status(r) == 500 and 0 <= int(hdr(r, "Retry-After")) <= 10, r
    uac.sock.sendto(uac._request("INFO", final, 5, ctype="application/dtmf-relay", body_text="Signal=1\r\n"), uac.dst)
    r = uac.recv_until(lambda d: status(d) >= 200 and hdr(d, "CSeq") == "5 INFO", 4, "no final to the INFO")
    assert status(r) == 500 and hdr(r, "Retry-After") is not None, r
    glare = uas._request("INVITE", hdr(uas.invite, "Contact").strip("<>"), 2, hdr(uas.invite, "From"), "uasglare",
                         f"Contact: <sip:uas@127.0.0.1:{uas.port}>\r\n", sdp("127.0.0.1", uas.rtp_port))
    uas.sock.sendto(glare, uas.peer)
    r = wait_for(lambda: [d for d, _ in uas.got if status(d) >= 200 and hdr(d, "CSeq") == "2 INVITE"], timeout=4,
                 what="a final to the callee's re-INVITE")[0]
    assert status(r) == 491, r
