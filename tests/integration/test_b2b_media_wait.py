"""sbc-media stopped or hung: calls fail fast instead of hanging.

A call's media sessions are made before its INVITE goes on (MEDIA_CREATE,
normally answered in well under a millisecond). With sbc-media stopped
(SIGSTOP here; a hung process looks the same), every new call stayed at
100 Trying until the caller gave up (measured: no final response in 8 s).
Now the caller gets 503 with Retry-After after B2B_MEDIA_WAIT_MS (2 s), a
carrier's cue to route elsewhere; a re-offer that adds a stream gets 500
and the call keeps its streams. Once sbc-media runs again, its late
replies are dropped and calls go through."""
import os
import signal
import time

import pytest

from b2b_common import body, call_env, child_pid, hdr, rtp_lands, sdp_media, status  # noqa: F401 (call_env)
from conftest import BUILD, wait_for
from test_b2b_delayed_offer import DelayedUac
from test_b2b_hold import reinvite_body
from test_b2b_reoffer_streams import AUDIO, VIDEO, call_fixture, sdp_of  # noqa: F401 (call_fixture: the call fixture)
from test_b2b_sdp_srtp import close_socks, streams, udp  # noqa: F401 (close_socks: autouse)
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


class Stopped:
    """sbc-media under SIGSTOP for the with-block."""

    def __init__(self, sbc):
        self.pid = child_pid(sbc.ctl.pid, "sbc-media")

    def __enter__(self):
        os.kill(self.pid, signal.SIGSTOP)

    def __exit__(self, *exc):
        os.kill(self.pid, signal.SIGCONT)


@pytest.mark.parametrize("offer", ["early", "delayed"])
def test_stopped_media_503_then_calls_go_through(env, offer):
    """sbc-media stopped: the caller gets 503 with Retry-After 2-5 s after
    its INVITE (with a delayed offer the callee, whose 2xx brought the
    offer, gets ACK and BYE); once it runs again, a new call is answered."""
    sbc, uas, uac = env()
    caller = DelayedUac(sbc.port) if offer == "delayed" else uac
    try:
        with Stopped(sbc):
            t0 = time.monotonic()
            caller.invite()
            final = caller.wait_final(timeout=8)
            took = time.monotonic() - t0
        assert status(final) == 503 and hdr(final, "Retry-After") == "5", final
        assert 1.5 <= took <= 5, took
        assert "no reply from sbc-media within 2000 ms" in sbc.log()
        if offer == "delayed":
            wait_for(lambda: uas.requests("ACK") and uas.requests("BYE"), timeout=3, what="ACK and BYE at the callee")
        else:
            assert uas.invite is None
        uac2 = type(uac)(sbc.port)
        try:
            ok = uac2.answered()
            assert status(uac2.bye(ok)) == 200
        finally:
            uac2.close()
    finally:
        if caller is not uac:
            caller.close()


def test_stopped_media_reoffer_adding_a_stream_500_call_goes_on(env):
    """A call up; sbc-media stopped; the caller's re-offer adds video: 500
    after about 2 s, the callee never sees it; sbc-media back: the audio
    is still relayed and the call ends normally."""
    sbc, uas, uac = env()
    final = uac.answered()
    va = udp()
    with Stopped(sbc):
        t0 = time.monotonic()
        r = reinvite_body(uac, final, sdp_of("uac", 2, AUDIO.format(p=uac.rtp_port),
                                             VIDEO.format(p=va.getsockname()[1])), 3)
        took = time.monotonic() - t0
    assert status(r) == 500 and 1.5 <= took <= 5, (r, took)
    assert len(uas.requests("INVITE")) == 1
    c, p, _ = sdp_media(body(final))
    assert rtp_lands(uac.rtp, (c, p), uas.rtp, b"still")[0]
    assert status(uac.bye(final)) == 200


def test_line_given_up_is_usable_once_its_late_reply_comes(call):
    """The re-offer adding video got 500 while sbc-media was stopped; once
    it runs again its late reply lands (the session it made is real, and
    its id was not reused meanwhile), so the next re-offer of video is
    taken and the video relayed. Review s9: such a reply was dropped and
    the line refused for the rest of the call (and a declined line's id
    could be made again while the old reply was in flight)."""
    sbc, uas, uac, final = call()
    va, vb = udp(), udp()
    offer = sdp_of("uac", 2, AUDIO.format(p=uac.rtp_port), VIDEO.format(p=va.getsockname()[1]))
    with Stopped(sbc):
        assert status(reinvite_body(uac, final, offer, 3)) == 500
    time.sleep(0.5)  # the late reply
    uas.next_body = sdp_of("uas", 2, AUDIO.format(p=uas.rtp_port), VIDEO.format(p=vb.getsockname()[1]))
    r = reinvite_body(uac, final, offer.replace("o=uac 1 2", "o=uac 1 3"), 4)
    assert status(r) == 200, r
    to_a, to_b = streams(body(r)), streams(body(uas.requests("INVITE")[-1]))
    assert rtp_lands(va, ("127.0.0.1", int(to_a[1][0][1])), vb, b"vid")[0]
    assert rtp_lands(vb, ("127.0.0.1", int(to_b[1][0][1])), va, b"vid")[0]
    assert status(uac.bye(final)) == 200
