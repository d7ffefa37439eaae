"""A re-offer that adds a stream (RFC 3264 8.1: an m= line appended, or a
port-0 line taken up again): video added to a voice call, and T.38 fax the
way some gateways switch to it, audio set to port 0 and an m=image line
appended. The new stream's media session is made (MEDIA_CREATE) before the
offer goes on to the other leg, on the relay's ports; the answer updates
it like the others. Before, such a re-INVITE got 488 (an appended line)
or 500 (a line taken up again) and never reached the other leg, with no
log line. A re-offer with fewer m= lines than the session has (RFC 3264
8: lines are never removed) gets 488, logged; the call goes on."""
import re

import pytest

from b2b_common import Uas, body, hdr, rtp_lands, status
from conftest import BUILD, wait_for
from test_b2b_hold import reinvite_body
from test_b2b_sdp_srtp import close_socks, streams, talk, udp  # noqa: F401 (close_socks: autouse)
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")

AUDIO = "m=audio {p} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
VIDEO = "m=video {p} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
T38 = ("m=image {p} udptl t38\r\na=T38FaxVersion:0\r\na=T38MaxBitRate:14400\r\n"
       "a=T38FaxRateManagement:transferredTCF\r\na=T38FaxUdpEC:t38UDPRedundancy\r\n")


def sdp_of(who, ver, *lines):
    return f"v=0\r\no={who} 1 {ver} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" + "".join(lines)


class ReofferUas(Uas):
    """A callee that answers a re-INVITE with next_body, or with a 488
    when refuse is set (once)."""

    next_body = None
    refuse = False

    def send(self, data):
        reinv_200 = data.startswith(b"SIP/2.0 200") and (hdr(data, "CSeq") or "").endswith("INVITE") \
            and len(self.requests("INVITE")) > 1
        if reinv_200 and self.refuse:
            self.refuse = False
            head = data.split(b"\r\n\r\n", 1)[0].replace(b"SIP/2.0 200 OK", b"SIP/2.0 488 Not Acceptable Here")
            head = re.sub(rb"\r\nContent-Type:[^\r]*", b"", head)
            data = re.sub(rb"Content-Length: \d+", b"Content-Length: 0", head) + b"\r\n\r\n"
        elif self.next_body and reinv_200:
            head = data.split(b"\r\n\r\n", 1)[0]
            b = self.next_body.encode()
            head = re.sub(rb"Content-Length: \d+", b"Content-Length: %d" % len(b), head)
            if b"Content-Type:" not in head:
                head += b"\r\nContent-Type: application/sdp"
            data = head + b"\r\n\r\n" + b
        super().send(data)


@pytest.fixture(name="call")
def call_fixture(procs, tmp_path):
    made = []

    def make(first_offer=None, first_answer=None, **sbc_kw):
        from b2b_common import Sbc, Uac
        uas = ReofferUas("answer")
        sbc = Sbc(procs, tmp_path, uas.port, **sbc_kw)
        uac = Uac(sbc.port)
        made.extend([uas, uac])
        if first_answer:
            uas.next_body = None
            orig = uas.send

            def first(data, orig=orig):
                if data.startswith(b"SIP/2.0 200") and (hdr(data, "CSeq") or "").endswith("INVITE") \
                        and len(uas.requests("INVITE")) == 1:
                    head = data.split(b"\r\n\r\n", 1)[0]
                    b = first_answer(uas).encode()
                    data = re.sub(rb"Content-Length: \d+", b"Content-Length: %d" % len(b), head) + b"\r\n\r\n" + b
                orig(data)
            uas.send = first
        final = uac.answered(body_text=first_offer(uac)) if first_offer else uac.answered()
        return sbc, uas, uac, final

    yield make
    for m in made:
        m.close()


def relayed_both_ways(a_sock, a_dst, b_sock, b_dst, word):
    return rtp_lands(a_sock, a_dst, b_sock, word)[0] and rtp_lands(b_sock, b_dst, a_sock, word)[0]


def last_invite_to_b(uas):
    return uas.requests("INVITE")[-1]


def video_taken_up(uas, uac, final, va, vb):
    """The caller re-offers audio + video (its video socket va), the callee
    takes both (vb): 200, the video relayed both ways. Returns the m=
    sections of our 200 to the caller and of our re-INVITE to the callee."""
    uas.next_body = sdp_of("uas", 2, AUDIO.format(p=uas.rtp_port), VIDEO.format(p=vb.getsockname()[1]))
    r = reinvite_body(uac, final, sdp_of("uac", 2, AUDIO.format(p=uac.rtp_port),
                                         VIDEO.format(p=va.getsockname()[1])), 3)
    assert status(r) == 200, r
    to_a, to_b = streams(body(r)), streams(body(last_invite_to_b(uas)))
    assert relayed_both_ways(va, ("127.0.0.1", int(to_a[1][0][1])), vb, ("127.0.0.1", int(to_b[1][0][1])), b"vid")
    return to_a, to_b


def test_video_appended_to_a_voice_call(call):
    """Audio call; the caller re-offers audio + video; the callee takes
    both: the caller's 200 and the callee's re-INVITE carry the relay's
    ports for the video, which is relayed both ways, audio still too."""
    sbc, uas, uac, final = call()
    va, vb = udp(), udp()
    to_a, to_b = video_taken_up(uas, uac, final, va, vb)
    assert [s[0][0] for s in to_a] == ["audio", "video"] and [s[0][0] for s in to_b] == ["audio", "video"]
    assert relayed_both_ways(uac.rtp, ("127.0.0.1", int(to_a[0][0][1])), uas.rtp,
                             ("127.0.0.1", int(to_b[0][0][1])), b"aud")
    assert len(sbc.rpc("media.sessions")["sessions"]) == 2
    assert status(uac.bye(final)) == 200
    wait_for(lambda: not sbc.rpc("media.sessions")["sessions"], timeout=3, what="both sessions deleted")


def test_t38_in_the_audio_lines_place(call):
    """The usual T.38 switch: m=image in the audio line's place (one line):
    that stream's session is reused, the fax goes through both ways."""
    sbc, uas, uac, final = call()
    fa, fb = udp(), udp()
    uas.next_body = sdp_of("uas", 2, T38.format(p=fb.getsockname()[1]))
    r = reinvite_body(uac, final, sdp_of("uac", 2, T38.format(p=fa.getsockname()[1])), 3)
    assert status(r) == 200, r
    to_a, to_b = streams(body(r)), streams(body(last_invite_to_b(uas)))
    assert to_a[0][0][0] == "image" and to_b[0][0][0] == "image"
    assert relayed_both_ways(fa, ("127.0.0.1", int(to_a[0][0][1])), fb, ("127.0.0.1", int(to_b[0][0][1])), b"fax")
    assert len(sbc.rpc("media.sessions")["sessions"]) == 1
    assert status(uac.bye(final)) == 200


def test_t38_appended_with_audio_set_to_port_0(call):
    """T.38 the way some gateways switch to it: m=audio 0 and an m=image
    line appended; the fax (UDPTL) goes through the relay both ways."""
    sbc, uas, uac, final = call()
    fa, fb = udp(), udp()
    uas.next_body = sdp_of("uas", 2, "m=audio 0 RTP/AVP 0\r\n", T38.format(p=fb.getsockname()[1]))
    r = reinvite_body(uac, final, sdp_of("uac", 2, "m=audio 0 RTP/AVP 0\r\n", T38.format(p=fa.getsockname()[1])), 3)
    assert status(r) == 200, r
    to_a, to_b = streams(body(r)), streams(body(last_invite_to_b(uas)))
    assert to_a[0][0][:2] == ["audio", "0"] and to_a[1][0][0] == "image" and to_a[1][0][2] == "udptl"
    assert to_b[1][0][0] == "image" and "T38FaxVersion:0" in to_b[1][1]
    assert relayed_both_ways(fa, ("127.0.0.1", int(to_a[1][0][1])), fb, ("127.0.0.1", int(to_b[1][0][1])), b"fax")
    assert status(uac.bye(final)) == 200


def test_port0_stream_taken_up_again(call):
    """The caller's first offer had video at port 0 (no session made); its
    re-offer takes it up: the session is made then, video relayed."""
    va, vb = udp(), udp()
    sbc, uas, uac, final = call(
        first_offer=lambda uac: sdp_of("uac", 1, AUDIO.format(p=uac.rtp_port), VIDEO.format(p=0)),
        first_answer=lambda uas: sdp_of("uas", 1, AUDIO.format(p=uas.rtp_port), VIDEO.format(p=0)))
    assert len(streams(body(final))) == 2
    to_a, to_b = video_taken_up(uas, uac, final, va, vb)
    assert status(uac.bye(final)) == 200


def test_added_stream_declined_by_the_callee(call):
    """The callee declines the video the caller adds (port 0): the caller
    gets 200 with video at port 0, audio goes on."""
    sbc, uas, uac, final = call()
    va = udp()
    uas.next_body = sdp_of("uas", 2, AUDIO.format(p=uas.rtp_port), VIDEO.format(p=0))
    r = reinvite_body(uac, final, sdp_of("uac", 2, AUDIO.format(p=uac.rtp_port),
                                         VIDEO.format(p=va.getsockname()[1])), 3)
    assert status(r) == 200, r
    to_a, to_b = streams(body(r)), streams(body(last_invite_to_b(uas)))
    assert to_a[1][0][1] == "0"
    assert relayed_both_ways(uac.rtp, ("127.0.0.1", int(to_a[0][0][1])), uas.rtp,
                             ("127.0.0.1", int(to_b[0][0][1])), b"aud")
    assert status(uac.bye(final)) == 200


def test_reoffer_with_fewer_lines_488_call_goes_on(call):
    """Audio + video call; a re-offer with the audio line only: 488 (lines
    are never removed, RFC 3264 8), logged; the call and its audio go on."""
    vb = udp()
    sbc, uas, uac, final = call(
        first_offer=lambda uac: sdp_of("uac", 1, AUDIO.format(p=uac.rtp_port), VIDEO.format(p=udp().getsockname()[1])),
        first_answer=lambda uas: sdp_of("uas", 1, AUDIO.format(p=uas.rtp_port), VIDEO.format(p=vb.getsockname()[1])))
    r = reinvite_body(uac, final, sdp_of("uac", 2, AUDIO.format(p=uac.rtp_port)), 3)
    assert status(r) == 488
    assert len(uas.requests("INVITE")) == 1
    assert "with 1 m= lines for 2: refused" in sbc.log()
    to_a, to_b = streams(body(final)), streams(body(uas.requests("INVITE")[0]))
    assert relayed_both_ways(uac.rtp, ("127.0.0.1", int(to_a[0][0][1])), uas.rtp,
                             ("127.0.0.1", int(to_b[0][0][1])), b"aud")
    assert status(uac.bye(final)) == 200


def video_refused(uas, uac, final):
    """The caller re-offers audio + video, the callee answers 488: so does
    our answer to the caller."""
    va = udp()
    uas.refuse = True
    r = reinvite_body(uac, final, sdp_of("uac", 2, AUDIO.format(p=uac.rtp_port),
                                         VIDEO.format(p=va.getsockname()[1])), 3)
    assert status(r) == 488


def test_added_stream_refused_then_the_old_session_reoffered(call):
    """The callee refuses (488) the re-offer that adds video: the caller
    gets 488, the session is as it was, and a later re-offer of the audio
    alone (hold) is taken (200), not refused as one removing a line."""
    sbc, uas, uac, final = call()
    video_refused(uas, uac, final)
    assert status(uac.reinvite(final, "sendonly", cseq=4)) == 200
    assert status(uac.bye(final)) == 200


def test_declined_stream_gives_its_ports_back_and_comes_back(call):
    """The callee's 2xx declines the video the caller offered: its media
    session, made with the offer, is deleted (before, it held its four
    relay ports idle until the call ended); a later re-offer that takes
    the video up again gets a new one, and video is relayed."""
    va, vb = udp(), udp()
    sbc, uas, uac, final = call(
        first_offer=lambda uac: sdp_of("uac", 1, AUDIO.format(p=uac.rtp_port), VIDEO.format(p=va.getsockname()[1])),
        first_answer=lambda uas: sdp_of("uas", 1, AUDIO.format(p=uas.rtp_port), VIDEO.format(p=0)))
    assert streams(body(final))[1][0][1] == "0"
    wait_for(lambda: len(sbc.rpc("media.sessions")["sessions"]) == 1, timeout=3, what="the video's session deleted")
    to_a, to_b = video_taken_up(uas, uac, final, va, vb)
    assert len(sbc.rpc("media.sessions")["sessions"]) == 2
    assert status(uac.bye(final)) == 200


def test_refused_t38_attempt_does_not_time_the_call_out(call):
    """The callee refuses the T.38 switch (488): the session made for the
    m=image line carries nothing, and its silence must not end the voice
    call (rtp_timeout_ms 1000; the talk lasts 2.5 s). Review s9: it was
    hung up by "media timeout" with audio flowing."""
    sbc, uas, uac, final = call(rtp_timeout_ms=1000)
    fa = udp()
    uas.refuse = True
    r = reinvite_body(uac, final, sdp_of("uac", 2, "m=audio 0 RTP/AVP 0\r\n", T38.format(p=fa.getsockname()[1])), 3)
    assert status(r) == 488
    to_a, to_b = streams(body(final)), streams(body(uas.requests("INVITE")[0]))
    assert talk(uac, ("127.0.0.1", int(to_a[0][0][1])), uas, ("127.0.0.1", int(to_b[0][0][1])), 2.5) > 50
    assert not uas.requests("BYE")
    assert status(uac.bye(final)) == 200


def test_refused_add_then_a_reinvite_without_sdp(call):
    """After a refused re-offer that added a line, a re-INVITE without SDP
    gets the callee's one-line offer in our 2xx (the session has one line).
    Review s9: that offer was refused as a line count change, and our 200
    went to the caller without SDP while the callee's offer got an ACK
    without an answer."""
    sbc, uas, uac, final = call()
    video_refused(uas, uac, final)
    ok = uac._transaction("INVITE", final, 4, extra=f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\n")
    assert status(ok) == 200 and len(streams(body(ok))) == 1, ok
    uac.sock.sendto(uac._request("ACK", final, 4, ctype="application/sdp",
                                 body_text=sdp_of("uac", 3, AUDIO.format(p=uac.rtp_port))), uac.dst)
    wait_for(lambda: [d for d in uas.requests("ACK") if body(d)], timeout=3, what="the answer in our ACK")
    assert status(uac.bye(final)) == 200


def test_reinvite_without_sdp_offering_a_line_whose_session_went(call):
    """Video declined at the start (its session deleted); a re-INVITE
    without SDP from the caller, and the callee's 2xx offers audio + video
    again: we decline the video in that exchange (port 0 to the caller in
    our 2xx's offer, and in the answer in the callee's ACK), audio stays.
    Review s9: our 2xx went without SDP and the callee's offer got an ACK
    without an answer."""
    va, vb = udp(), udp()
    sbc, uas, uac, final = call(
        first_offer=lambda uac: sdp_of("uac", 1, AUDIO.format(p=uac.rtp_port), VIDEO.format(p=va.getsockname()[1])),
        first_answer=lambda uas: sdp_of("uas", 1, AUDIO.format(p=uas.rtp_port), VIDEO.format(p=0)))
    wait_for(lambda: len(sbc.rpc("media.sessions")["sessions"]) == 1, timeout=3, what="the video's session deleted")
    uas.next_body = sdp_of("uas", 2, AUDIO.format(p=uas.rtp_port), VIDEO.format(p=vb.getsockname()[1]))
    ok = uac._transaction("INVITE", final, 3, extra=f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\n")
    assert status(ok) == 200
    offer = streams(body(ok))
    assert len(offer) == 2 and int(offer[0][0][1]) > 0 and offer[1][0][1] == "0", ok
    uac.sock.sendto(uac._request("ACK", final, 3, ctype="application/sdp",
                                 body_text=sdp_of("uac", 2, AUDIO.format(p=uac.rtp_port), VIDEO.format(p=0))), uac.dst)
    ack = wait_for(lambda: [d for d in uas.requests("ACK") if body(d)], timeout=3, what="the answer in our ACK")[-1]
    ans = streams(body(ack))
    assert len(ans) == 2 and int(ans[0][0][1]) > 0 and ans[1][0][1] == "0", ack
    assert relayed_both_ways(uac.rtp, ("127.0.0.1", int(offer[0][0][1])), uas.rtp,
                             ("127.0.0.1", int(ans[0][0][1])), b"aud")
    assert status(uac.bye(final)) == 200
