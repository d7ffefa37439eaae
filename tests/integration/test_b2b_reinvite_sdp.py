"""Issue #5 item 1, "re-INVITE (hold/resume and SDP changes)": a re-INVITE
whose SDP moves the caller's media to another port is passed to the other
leg (the relay's B side unchanged, so the same SDP there) and sbc-media
follows it: RTP from the callee reaches the caller's new port,
not the old one (the caller never sent RTP, so nothing was latched: only
the re-INVITE's SDP can have told sbc-media). A re-INVITE without SDP
(delayed offer) gets the callee's offer in our 200 and its answer from the
caller's ACK, or ends the call when that ACK never comes. test_b2b_calls
covers hold and resume from either side."""
import re
import socket

import pytest

from b2b_common import Sbc, Uac, Uas, body, hdr, rtp_lands, rtp_port, sdp, sdp_media, status
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


def o_version(text):
    return int(re.search(r"^o=\S+ \d+ (\d+) ", text, re.M).group(1))


def test_reinvite_moves_the_callers_media(procs, tmp_path):
    uas = Uas("answer")
    uac = None
    new_rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    new_rtp.bind(("127.0.0.1", rtp_port()))
    try:
        sbc = Sbc(procs, tmp_path, uas.port)
        uac = Uac(sbc.port)
        final = uac.answered()
        relay_a = sdp_media(body(final))[1]
        relay_b = sdp_media(body(uas.invite))[1]
        wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
        # the caller's re-INVITE: same session, media on another port (o= version 2)
        new_port = new_rtp.getsockname()[1]
        offer = sdp(uac.ip, new_port).replace("o=uac 1 1 ", "o=uac 1 2 ")
        ok = uac._transaction("INVITE", final, 3, extra=f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\n",
                              ctype="application/sdp", body_text=offer)
        assert status(ok) == 200, sbc.log()[-2000:]
        uac.sock.sendto(uac._request("ACK", final, 3), uac.dst)
        # the caller's answer: still the relay's A side, none of the callee's
        assert sdp_media(body(ok))[1] == relay_a and str(uas.rtp_port) not in body(ok)
        # the callee got it on its own dialog as a new offer: the relay's B
        # side, a higher o= version, none of the caller's ports
        re_b = [m for m in uas.requests("INVITE") if hdr(m, "CSeq") != hdr(uas.invite, "CSeq")]
        assert len(re_b) == 1 and hdr(re_b[0], "Call-ID") == hdr(uas.invite, "Call-ID")
        assert sdp_media(body(re_b[0]))[1] == relay_b
        assert str(new_port) not in body(re_b[0]) and str(uac.rtp_port) not in body(re_b[0])
        # nothing changed on the callee's side of the relay: the same offer,
        # o= version kept (RFC 3264 8: a new version only for a changed SDP)
        assert o_version(body(re_b[0])) == o_version(body(uas.invite)) and body(re_b[0]) == body(uas.invite)
        wait_for(lambda: len(uas.requests("ACK")) == 2, timeout=3, what="ACK of the re-INVITE at the callee")
        # RTP from the callee to the relay's B side lands on the caller's new port
        ok, src = rtp_lands(uas.rtp, ("127.0.0.1", relay_b), new_rtp, b"moved-rtp" * 10)
        assert ok and src[1] == relay_a, sbc.log()[-2000:]
        assert status(uac.bye(final)) == 200
    finally:
        uas.close()
        new_rtp.close()
        if uac:
            uac.close()


def test_reinvite_without_sdp_gets_an_offer_in_the_200(procs, tmp_path):
    """A re-INVITE without SDP (a session refresh some carriers send, or a
    third-party call control step; delayed offer, RFC 3261 13.2.1): the
    callee's offer in its 200 reaches the caller in our 200, on the relay;
    the caller's answer in its ACK reaches the callee in our ACK and moves
    the media (the caller answers with another port: the callee's RTP goes
    there)."""
    uas = Uas("answer")
    uac = None
    new_rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    new_rtp.bind(("127.0.0.1", rtp_port()))
    try:
        sbc = Sbc(procs, tmp_path, uas.port)
        uac = Uac(sbc.port)
        final = uac.answered()
        relay_a, relay_b = sdp_media(body(final))[1], sdp_media(body(uas.invite))[1]
        wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
        ok = uac._transaction("INVITE", final, 3, extra=f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\n")
        assert status(ok) == 200
        re_b = [m for m in uas.requests("INVITE") if hdr(m, "CSeq") != hdr(uas.invite, "CSeq")]
        assert len(re_b) == 1 and not body(re_b[0])  # relayed as it came: no offer
        # the offer in the 200: on the relay's A side, none of the callee's
        assert sdp_media(body(ok))[1] == relay_a and str(uas.rtp_port) not in body(ok), ok
        # the callee gets no ACK before the caller's answer is in
        assert len(uas.requests("ACK")) == 1
        new_port = new_rtp.getsockname()[1]
        uac.sock.sendto(uac._request("ACK", final, 3, ctype="application/sdp",
                                     body_text=sdp(uac.ip, new_port).replace("o=uac 1 1 ", "o=uac 1 2 ")),
                        uac.dst)
        wait_for(lambda: len(uas.requests("ACK")) == 2, timeout=3, what="ACK of the re-INVITE at the callee")
        ack = uas.requests("ACK")[-1]
        assert sdp_media(body(ack))[1] == relay_b and str(new_port) not in body(ack), ack
        # the callee's RTP to the relay lands on the caller's new port
        ok, src = rtp_lands(uas.rtp, ("127.0.0.1", relay_b), new_rtp, b"delayed-offer" * 8)
        assert ok and src[1] == relay_a, sbc.log()[-2000:]
        assert status(uac.bye(final)) == 200
    finally:
        uas.close()
        new_rtp.close()
        if uac:
            uac.close()


def test_delayed_offer_never_answered_ends_the_call(procs, tmp_path):
    """Our 200 with the delayed offer is never ACKed (t1_ms 50: Timer L at
    3.2 s): the callee's 200 gets its ACK all the same, and the call ends
    with BYE on both legs."""
    uas = Uas("answer")
    uac = None
    try:
        sbc = Sbc(procs, tmp_path, uas.port, timers={"t1_ms": 50})
        uac = Uac(sbc.port)
        final = uac.answered()
        ok = uac._transaction("INVITE", final, 3, extra=f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\n")
        assert status(ok) == 200 and body(ok)
        bye = uac.recv_until(lambda d: d.startswith(b"BYE "), timeout=6)
        assert hdr(bye, "Call-ID") == uac.callid
        wait_for(lambda: uas.requests("BYE") and len(uas.requests("ACK")) == 2, timeout=3,
                 what="the callee's 200 ACKed and BYE at the callee")
        assert sbc.rpc("stats.get")["signal"][0]["stats"]["calls"]["active"] == 0
    finally:
        uas.close()
        if uac:
            uac.close()
