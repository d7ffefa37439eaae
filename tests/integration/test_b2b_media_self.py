"""SDP naming this SBC's own endpoints as the media address: refused.

sbc-media relays to whatever address an SDP names. Before this check, the
callee answering with the relay port we had offered it made the relay send
the caller's RTP to itself and back to the caller (an echo of the caller's
own media, measured), and a relay port of another call would have received
this call's media. An SDP naming one of sbc-media's relay ports
(media.address, port_min..port_max) or one of our SIP listeners (RTP
payloads, which a carrier chooses, into our SIP port) gets 488 where it
comes in: the caller's offer, a re-INVITE's offer, or the callee's answer
(that attempt fails with 488, the callee gets ACK and BYE, and the call
fails over like any unacceptable answer)."""
import re

import pytest

from b2b_common import Uas, body, call_env, rtp_lands, sdp, sdp_media, status  # noqa: F401 (call_env: the env fixture)
from conftest import BUILD, wait_for
from test_b2b_hold import reinvite_body
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


class SelfNamingUas(Uas):
    """A callee whose 200 names, as its media port, the relay port our
    INVITE offered it (plus delta)."""

    delta = 0

    def send(self, data):
        if data.startswith(b"SIP/2.0 200") and b"INVITE" in data.split(b"\r\n\r\n", 1)[0].split(b"CSeq:", 1)[1][:30]:
            _, port, _ = sdp_media(body(self.requests("INVITE")[-1]))
            data = re.sub(rb"m=audio \d+", b"m=audio %d" % (port + self.delta), data)
        super().send(data)


@pytest.mark.parametrize("where", ["relay_first", "relay_last", "sip_listener"])
def test_offer_naming_us_488(env, where):
    """The caller's offer names our relay's first or last port, or our SIP
    listener: 488, and nothing reaches the callee."""
    sbc, uas, uac = env()
    port = {"relay_first": sbc.mbase, "relay_last": sbc.mbase + 59, "sip_listener": sbc.port}[where]
    uac.invite(body_text=sdp("127.0.0.1", port))
    assert status(uac.wait_final()) == 488
    assert uas.invite is None
    assert f"SDP names 127.0.0.1:{port}" in sbc.log()


def test_offer_whose_implicit_rtcp_is_our_relay_port_488(env):
    """RTP on the port just below the relay range and no a=rtcp: RTCP goes
    to the RTP port + 1 (RFC 3550 11), our first relay port: 488 too."""
    sbc, uas, uac = env()
    uac.invite(body_text=sdp("127.0.0.1", sbc.mbase - 1))
    assert status(uac.wait_final()) == 488
    assert uas.invite is None


def test_udptl_line_next_to_our_relay_range_is_not_refused(env):
    """A T.38 line (UDPTL, no RTCP) on the port just below the relay range
    has no implicit RTCP port: it reaches the callee."""
    sbc, uas, uac = env()
    uac.invite(body_text=("v=0\r\no=uac 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                          f"m=image {sbc.mbase - 1} udptl t38\r\na=T38FaxVersion:0\r\n"))
    wait_for(lambda: uas.invite is not None, timeout=3, what="the INVITE at the callee")


def test_offer_next_to_our_relay_range_is_relayed(env):
    """A port just outside the relay range on the same address is a peer's
    like any other: the call goes through."""
    sbc, uas, uac = env()
    uac.invite(body_text=sdp("127.0.0.1", sbc.mbase + 60))  # RTCP at + 61
    assert status(uac.wait_final()) == 200
    assert uas.invite is not None


def test_answer_naming_our_relay_port_fails_that_attempt(procs, tmp_path):
    """The callee answers with the relay port we offered it: the caller
    gets 488 (no other route), the callee ACK and BYE."""
    from b2b_common import Sbc, Uac
    uas = SelfNamingUas("answer")
    uac = None
    try:
        sbc = Sbc(procs, tmp_path, uas.port)
        uac = Uac(sbc.port)
        uac.invite()
        assert status(uac.wait_final()) == 488
        wait_for(lambda: uas.requests("ACK") and uas.requests("BYE"), timeout=3, what="ACK and BYE at the callee")
        assert "own relay port or SIP listener" in sbc.log()
    finally:
        if uac:
            uac.close()
        uas.close()


def test_reinvite_naming_our_relay_488_call_stays(env):
    """A re-INVITE whose offer names our relay port gets 488; the call and
    its media go on as before."""
    sbc, uas, uac = env()
    final = uac.answered()
    assert status(reinvite_body(uac, final, sdp("127.0.0.1", sbc.mbase + 1), 3)) == 488
    assert len(uas.requests("INVITE")) == 1, "the re-INVITE reached the callee"
    wait_for(lambda: sbc.rpc("call.list", {"active": True})["calls"], timeout=3, what="the call still up")
    c, p, _ = sdp_media(body(final))
    assert rtp_lands(uac.rtp, (c, p), uas.rtp, b"still-relayed")[0]
    assert status(uac.bye(final)) == 200
