"""Calls on hold and hostile media addresses in SDP.

On hold no RTP need flow: with a=sendonly (the holder plays no music),
a=recvonly, a=inactive, or the RFC 2543 form c=0.0.0.0, the RTP timeout
(1 s here) must not end the call; sbc-media is asked for an hour for such
a stream, as rtpengine's silent-timeout. A c=0.0.0.0 is "send nothing
here", never an address to relay to (Linux delivers packets for 0.0.0.0 to
the host itself). A multicast or broadcast media address is refused: the
relay would otherwise flood a group on a carrier's say-so."""
import pytest

from b2b_common import body, call_env, hdr, sdp, sdp_media, status  # noqa: F401 (call_env: the env fixture)
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


@pytest.fixture(name="timed")
def timed_env(env):
    """env with a 1 s RTP timeout."""
    return lambda plan="answer": env(plan, rtp_timeout_ms=1000)


def no_bye(uac, uas, secs=2.5):
    with pytest.raises(AssertionError, match="BYE"):
        uac.recv_until(lambda d: d.startswith(b"BYE "), timeout=secs, what="no BYE on hold")
    assert not uas.requests("BYE")


def resumed_silence_ends(uac, uas, final, cseq):
    assert status(uac.reinvite(final, "sendrecv", cseq=cseq)) == 200
    bye = uac.recv_until(lambda d: d.startswith(b"BYE "), timeout=5, what="BYE after the resumed silence")
    assert hdr(bye, "Call-ID") == uac.callid
    wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")


@pytest.mark.parametrize("direction", ["sendonly", "recvonly"])
def test_one_way_hold_without_media_is_not_a_timeout(timed, direction):
    """Hold with a=sendonly and no music (and the recvonly mirror): no RTP
    either way for longer than the RTP timeout, the call stays up; resumed,
    silence ends it again."""
    sbc, uas, uac = timed()
    final = uac.answered()
    assert status(uac.reinvite(final, direction, cseq=3)) == 200
    no_bye(uac, uas)
    resumed_silence_ends(uac, uas, final, 4)


def reinvite_body(uac, final, text, cseq):
    ok = uac._transaction("INVITE", final, cseq, extra=f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\n",
                          ctype="application/sdp", body_text=text)
    uac.sock.sendto(uac._request("ACK", final, cseq), uac.dst)
    return ok


def test_legacy_hold_c0_is_not_an_address(timed):
    """RFC 2543 hold (c=IN IP4 0.0.0.0, a=sendrecv): the callee gets the
    relay's address, the call is not timed out, and sbc-media is not told
    to send to 0.0.0.0 (media.sessions shows no such peer)."""
    sbc, uas, uac = timed()
    final = uac.answered()
    held = sdp("0.0.0.0", uac.rtp_port).replace("o=uac 1 1 IN IP4 0.0.0.0", f"o=uac 1 2 IN IP4 {uac.ip}")
    assert status(reinvite_body(uac, final, held, 3)) == 200
    reinv = [d for d, _ in uas.got if d.startswith(b"INVITE ") and hdr(d, "CSeq") == "2 INVITE"]
    assert reinv, "the hold did not reach the callee"
    ip, port, _ = sdp_media(body(reinv[-1]))
    assert ip == "127.0.0.1" and port > 0, "the callee was not given the relay's address"
    peers = [lg.get("peer") for s in sbc.rpc("media.sessions").get("sessions", []) for lg in s.get("legs", [])]
    assert not any(p and p.startswith("0.0.0.0") for p in peers), peers
    no_bye(uac, uas)
    resumed_silence_ends(uac, uas, final, 4)


@pytest.mark.parametrize("addr", ["224.0.0.1", "239.1.2.3", "255.255.255.255"])
def test_multicast_or_broadcast_media_address_488(timed, addr):
    """An offer whose c= is a multicast or broadcast address: 488, nothing
    reaches the callee."""
    sbc, uas, uac = timed()
    uac.invite(body_text=sdp(addr, uac.rtp_port))
    assert status(uac.wait_final()) == 488
    assert uas.invite is None
