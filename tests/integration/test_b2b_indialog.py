"""Issue #5 items 1 and 2, in-dialog requests mapped across the legs at the
running process, where test_b2b_calls leaves a gap: PRACK's RAck carries
the other leg's INVITE CSeq (the caller's INVITE is CSeq 314 here, ours
toward the callee 1: equal numbers would hide a missing mapping); an UPDATE
with SDP in a confirmed dialog is an offer that moves the media like a
re-INVITE's; an OPTIONS inside a dialog is answered by the SBC itself."""
import socket

import pytest

from b2b_common import body, call_env, hdr, response, rtp_lands, rtp_port, sdp, sdp_media, status  # noqa: F401 (call_env: the env fixture)
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


def test_prack_rack_carries_the_other_legs_cseq(env):
    sbc, uas, uac = env("100rel")
    b = sdp(uac.ip, uac.rtp_port)
    uac.inv = (f"INVITE sip:4930123456@127.0.0.1:{sbc.port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {uac.ip}:{uac.port};branch=z9hG4bKuacinv314;rport\r\n"
               f"From: <sip:15550001111@{uac.ip}:{uac.port}>;tag={uac.ftag}\r\n"
               f"To: <sip:4930123456@127.0.0.1>\r\nCall-ID: {uac.callid}\r\nCSeq: 314 INVITE\r\n"
               f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\nSupported: 100rel\r\nMax-Forwards: 70\r\n"
               f"Content-Type: application/sdp\r\nContent-Length: {len(b)}\r\n\r\n{b}").encode()
    uac.sock.sendto(uac.inv, uac.dst)
    prov = uac.recv_until(lambda d: status(d) == 183)
    assert hdr(prov, "CSeq") == "314 INVITE" and hdr(prov, "RSeq") == "7" and hdr(prov, "Require") == "100rel"
    # the caller's Supported: 100rel reached the callee
    assert "100rel" in (hdr(uas.invite, "Supported") or ""), uas.invite
    ok = uac._transaction("PRACK", prov, 315, extra="RAck: 7 314 INVITE\r\n")
    assert status(ok) == 200 and hdr(ok, "CSeq") == "315 PRACK"
    b_cseq = hdr(uas.invite, "CSeq").split()[0]
    assert b_cseq != "314"
    pr = uas.requests("PRACK")
    assert len(pr) == 1 and hdr(pr[0], "RAck") == f"7 {b_cseq} INVITE", pr
    final = uac.recv_until(lambda d: status(d) == 200 and hdr(d, "CSeq") == "314 INVITE")
    uac.sock.sendto(uac._request("ACK", final, 314), uac.dst)
    assert status(uac._transaction("BYE", final, 316)) == 200


def test_update_with_sdp_moves_the_media(env):
    """A session refresh with an offer (RFC 3311 UPDATE in a confirmed
    dialog): the callee gets it on its own dialog with the relay's SDP, the
    caller an answer on the relay, and sbc-media sends the callee's RTP to
    the caller's new port."""
    sbc, uas, uac = env()
    new_rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    new_rtp.bind(("127.0.0.1", rtp_port()))
    try:
        final = uac.answered()
        relay_a, relay_b = sdp_media(body(final))[1], sdp_media(body(uas.invite))[1]
        wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
        # the callee answers the UPDATE's offer in its 200 (RFC 3311 5.2)
        send = uas.send
        uas.send = lambda d: send(response(uas.requests("UPDATE")[-1], 200, "OK", None,
                                           f"Contact: <sip:uas@127.0.0.1:{uas.port}>",
                                           sdp("127.0.0.1", uas.rtp_port))
                                  if d.startswith(b"SIP/2.0 200") and "UPDATE" in hdr(d, "CSeq") else d)
        new_port = new_rtp.getsockname()[1]
        offer = sdp(uac.ip, new_port).replace("o=uac 1 1 ", "o=uac 1 2 ")
        ok = uac._transaction("UPDATE", final, 5, extra=f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\n",
                              ctype="application/sdp", body_text=offer)
        assert status(ok) == 200, sbc.log()[-2000:]
        upd = uas.requests("UPDATE")
        assert len(upd) == 1 and hdr(upd[0], "Call-ID") == hdr(uas.invite, "Call-ID")
        assert sdp_media(body(upd[0]))[1] == relay_b and str(new_port) not in body(upd[0])
        # the caller's answer: on the relay's A side, none of the callee's
        assert sdp_media(body(ok))[1] == relay_a and str(uas.rtp_port) not in body(ok), ok
        # the callee's RTP to the relay lands on the caller's new port
        ok, src = rtp_lands(uas.rtp, ("127.0.0.1", relay_b), new_rtp, b"update-rtp" * 10)
        assert ok and src[1] == relay_a, sbc.log()[-2000:]
        assert status(uac.bye(final)) == 200
    finally:
        new_rtp.close()


def test_options_in_a_dialog_answered_locally(env):
    sbc, uas, uac = env()
    final = uac.answered()
    ok = uac._transaction("OPTIONS", final, 4)
    assert status(ok) == 200 and hdr(ok, "CSeq") == "4 OPTIONS"
    assert not uas.requests("OPTIONS") or all(hdr(m, "Call-ID") != hdr(uas.invite, "Call-ID")
                                               for m in uas.requests("OPTIONS"))  # pings only, never the dialog's
    assert status(uac.bye(final)) == 200


def test_update_in_the_early_dialog_crosses(env):
    """RFC 3311: UPDATE also works in an early dialog (after a reliable
    provisional and its PRACK; preconditions, RFC 3312, live there). The
    caller's early UPDATE reaches the callee on its early dialog, the
    callee's 200 comes back, then the call is answered as usual."""
    sbc, uas, uac = env("100rel")
    # b2b_common's 100rel callee answers the INVITE right after the PRACK:
    # its 200 is held back here until the UPDATE has crossed
    send = uas.send
    uas.send = lambda d: None if d.startswith(b"SIP/2.0 200") and hdr(d, "CSeq") == "1 INVITE" else send(d)
    uac.invite()
    prov = uac.recv_until(lambda d: status(d) == 183)
    assert status(uac.prack(prov)) == 200
    ok = uac._transaction("UPDATE", prov, 3, extra=f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\n"
                          "Session-Expires: 1800;refresher=uac\r\n")
    assert status(ok) == 200, (ok, sbc.log()[-2000:])
    upd = uas.requests("UPDATE")
    assert len(upd) == 1 and hdr(upd[0], "Call-ID") == hdr(uas.invite, "Call-ID")
    assert hdr(upd[0], "To").endswith(f"tag={uas.tag}")  # on the callee's early dialog
    assert hdr(upd[0], "Session-Expires").startswith("1800")
    send(response(uas.invite, 200, "OK", uas.tag, f"Contact: <sip:uas@127.0.0.1:{uas.port}>",
                  sdp("127.0.0.1", uas.rtp_port)))
    final = uac.wait_final()
    assert status(final) == 200
    uac.ack(final)
    assert status(uac.bye(final)) == 200



def test_prack_while_an_early_update_is_relayed(env):
    """A reliable provisional arriving while the caller's early UPDATE is
    still being relayed: the caller's PRACK for it is no offer and must not
    get 491 (the callee would retransmit the provisional until it gives the
    call up, RFC 3262 3). Review s7: it got 491 (one relayed request per
    call at a time). It reaches the callee with the RAck mapped."""
    sbc, uas, uac = env("100rel")
    send = uas.send
    # the callee answers neither the INVITE (after the PRACK) nor the UPDATE: both stay pending
    uas.send = lambda d: None if d.startswith(b"SIP/2.0 200") and (
        hdr(d, "CSeq") == "1 INVITE" or hdr(d, "CSeq").endswith("UPDATE")) else send(d)
    uac.invite()
    prov = uac.recv_until(lambda d: status(d) == 183)
    assert status(uac.prack(prov)) == 200
    uac.sock.sendto(uac._request("UPDATE", prov, 3, extra=f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\n"), uac.dst)
    wait_for(lambda: uas.requests("UPDATE"), timeout=3, what="the early UPDATE relayed")
    send(response(uas.invite, 180, "Ringing", uas.tag,
                  f"Contact: <sip:uas@127.0.0.1:{uas.port}>\r\nRequire: 100rel\r\nRSeq: 8"))
    prov2 = uac.recv_until(lambda d: status(d) == 180)
    ok = uac.prack(prov2, cseq=4)
    assert status(ok) == 200, ok
    b_cseq = hdr(uas.invite, "CSeq").split()[0]
    pr = wait_for(lambda: [p for p in uas.requests("PRACK") if hdr(p, "RAck").startswith("8 ")], timeout=3,
                  what="the second PRACK at the callee")
    assert hdr(pr[0], "RAck") == f"8 {b_cseq} INVITE", pr

def test_out_of_order_cseq_refused_500(env):
    """RFC 3261 12.2.2: a request in a dialog whose CSeq is not above the
    last one's is out of order (stale, or replayed with a new branch): 500,
    and it never reaches the other leg nor ends the call."""
    sbc, uas, uac = env()
    final = uac.answered()  # INVITE CSeq 1
    assert status(uac.info(final, "application/dtmf-relay", "Signal=1\r\n", cseq=5)) == 200
    assert len(uas.requests("INFO")) == 1
    late = uac._transaction("INFO", final, 4, ctype="application/dtmf-relay", body_text="Signal=2\r\n")
    assert status(late) == 500, late
    stale_bye = uac._transaction("BYE", final, 5, branch="z9hG4bKuacstalebye")  # the INFO's CSeq again
    assert status(stale_bye) == 500, stale_bye
    assert len(uas.requests("INFO")) == 1 and not uas.requests("BYE")
    assert sbc.rpc("stats.get")["signal"][0]["stats"]["calls"]["active"] == 1
    assert status(uac.bye(final)) == 200  # CSeq 6
    wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")
