"""Issue #5, delayed offer on the first INVITE (RFC 3261 13.2.1): the
caller's INVITE comes without SDP, goes to the callee without SDP, the
callee's 200 carries the offer (answered with the callee trunk's SRTP
policy), our 200 to the caller carries our offer on sbc-media's relay (the
caller trunk's policy as offerer), and the caller's ACK the answer, which
reaches the callee in our ACK. Before, such an INVITE got 488 and no callee
was tried: every test here fails on that."""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from b2b_common import Sbc, Uac, Uas, body, child_pid, hdr, rtp_lands, sdp, sdp_media, status
from conftest import BUILD, free_port, free_port_range, wait_for
from test_signal_common import no_sanitizer_reports, stunnel_client  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")

CRYPTO_B = "7 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
KEY_LEN = {"AES_CM_128_HMAC_SHA1_80": 30, "AES_CM_128_HMAC_SHA1_32": 30, "AEAD_AES_128_GCM": 28,
           "AEAD_AES_256_GCM": 44, "AES_256_CM_HMAC_SHA1_80": 46, "AES_256_CM_HMAC_SHA1_32": 46}


class DelayedUac(Uac):
    """The calling carrier sending its INVITE without a body (and without
    Content-Type), answering in its ACK."""

    def invite(self, **kw):
        real = self.sock

        class Hold:  # Uac.invite builds and sends at once: build only
            def sendto(self, data, dst):
                pass
        self.sock = Hold()
        try:
            super().invite(body_text="", **kw)
        finally:
            self.sock = real
        self.inv = self.inv.replace(b"Content-Type: application/sdp\r\n", b"")
        self.sock.sendto(self.inv, self.dst)

    def ack_answer(self, final, text):
        self.sock.sendto(self._request("ACK", final, 1, ctype="application/sdp", body_text=text), self.dst)


class NoSdpUas(Uas):
    """A callee whose 200 to the INVITE has no body (no offer to a delayed-
    offer INVITE: a protocol error), or with plan "garbage" a body that is
    no SDP."""

    def __init__(self, plan, crypto=None):
        self.garbage = plan == "garbage"
        super().__init__("answer", crypto)

    def send(self, data):
        if data.startswith(b"SIP/2.0 200") and (hdr(data, "CSeq") or "").endswith("INVITE"):
            head = data.split(b"\r\n\r\n", 1)[0]
            junk = b"v=0\r\nm=audio port? RTP/AVP\r\n" if self.garbage else b""
            if not junk:
                head = re.sub(rb"\r\nContent-Type:[^\r]*", b"", head)
            data = re.sub(rb"Content-Length: \d+", b"Content-Length: %d" % len(junk), head) + b"\r\n\r\n" + junk
        super().send(data)


def cdr_end(sbc):
    """The end record of the (only) call in cdr.jsonl, once written."""
    def get():
        p = sbc.data / "cdr.jsonl"
        evs = [json.loads(ln) for ln in p.read_text().splitlines()] if p.exists() else []
        return evs if any(e["event"] == "end" for e in evs) else None
    return wait_for(get, timeout=5, what="end record in cdr.jsonl")


def crypto_of(text):
    """[(tag, suite, key bytes)] of the a=crypto lines."""
    return [(int(t), s, base64.b64decode(k)) for t, s, k in
            re.findall(r"^a=crypto:(\d+) (\S+) inline:([A-Za-z0-9+/=]+)", text, re.M)]


def in_relay(sbc, port):
    return sbc.mbase <= port < sbc.mbase + 60


@pytest.fixture(name="call")
def call_fixture(procs, tmp_path):
    """call(plan, crypto, changes, uas_cls, timers): an Sbc in front of a
    callee with that plan, trunk changes applied, and a DelayedUac."""
    made = []

    def make(plan="answer", crypto=None, changes=(), uas_cls=Uas, timers=None):
        uas = uas_cls(plan, crypto)
        made.append(uas)
        sbc = Sbc(procs, tmp_path, uas.port, timers=timers)
        for method, params in changes:
            sbc.rpc(method, params)
        if changes:
            sbc.signal_synced()
        uac = DelayedUac(sbc.port)
        made.append(uac)
        return sbc, uas, uac

    yield make
    for m in made:
        m.close()


def test_delayed_offer_call_rtp_both_ways(call):
    """RTP on both legs: the callee gets our INVITE without SDP, the caller
    our offer on the relay's A side in the 200 (nothing of the callee's),
    the callee its ACK only once the caller answered, with our answer on the
    relay's B side; media flow both ways through the relay."""
    sbc, uas, uac = call(changes=[("trunk.update", {"name": "demo-in", "srtp_inbound": {"mode": "off"}})])
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 200, sbc.log()[-3000:]
    inv = uas.invite
    assert inv is not None and body(inv) == "" and hdr(inv, "Content-Type") is None, inv
    offer = body(final)
    ip, relay_a, proto = sdp_media(offer)
    assert ip == "127.0.0.1" and in_relay(sbc, relay_a) and proto == "RTP/AVP", offer
    assert str(uas.rtp_port) not in offer, (uas.rtp_port, offer)
    assert "crypto" not in offer, offer
    assert "a=rtpmap:101 telephone-event/8000" in offer  # codecs kept
    time.sleep(0.3)
    assert not uas.requests("ACK"), "the callee was ACKed before the caller answered"
    uac.ack_answer(final, sdp(uac.ip, uac.rtp_port))
    wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
    ack = uas.requests("ACK")[0]
    ip_b, relay_b, proto_b = sdp_media(body(ack))
    assert ip_b == "127.0.0.1" and in_relay(sbc, relay_b) and proto_b == "RTP/AVP", ack
    assert str(uac.rtp_port) not in body(ack) and str(uac.port) not in ack.decode()
    assert "uac-secret-agent" not in ack.decode() and "crypto" not in body(ack)
    ok, src = rtp_lands(uac.rtp, ("127.0.0.1", relay_a), uas.rtp, b"caller-to-callee" * 4)
    assert ok and src[1] == relay_b, sbc.log()[-2000:]
    ok, src = rtp_lands(uas.rtp, ("127.0.0.1", relay_b), uac.rtp, b"callee-to-caller" * 4)
    assert ok and src[1] == relay_a, sbc.log()[-2000:]
    assert status(uac.bye(final)) == 200
    wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")
    evs = cdr_end(sbc)
    assert [e["event"] for e in evs] == ["start", "answer", "end"], evs
    end = evs[-1]
    assert end["srtp_in"] == "NONE" and end["srtp_out"] == "NONE" and end["cause"] == 200, end
    assert end["from"] == "15550001111" and end["to_out"] == "4930123456" and end["answer_ms"] >= end["start_ms"]


def drain(uac, seconds):
    """Every message the caller gets within seconds."""
    got, deadline = [], time.monotonic() + seconds
    uac.sock.settimeout(0.05)
    while time.monotonic() < deadline:
        try:
            got.append(uac.sock.recvfrom(65536)[0])
        except OSError:
            pass
    return got


def test_callees_200_retransmissions_absorbed(call):
    """The callee retransmits its 200 while its offer is with the caller:
    nothing reaches the caller beyond what its own transaction resends
    (T1 2 s here: nothing within 0.6 s), and the callee gets no ACK until
    the caller's answer; after it, a retransmitted 200 gets that same ACK
    again, answer included."""
    sbc, uas, uac = call(timers={"t1_ms": 2000})
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 200
    # the callee's thread records a message after sending it: the caller
    # can have our 200 first (seen once under ASan)
    ok = wait_for(lambda: [d for d in uas.sent if d.startswith(b"SIP/2.0 200")], timeout=3, what="the 200 sent")[-1]
    for _ in range(3):
        uas.send(ok)
    assert not [d for d in drain(uac, 0.6) if status(d) == 200]
    assert not uas.requests("ACK")
    uac.ack_answer(final, sdp(uac.ip, uac.rtp_port))
    wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
    uas.send(ok)
    wait_for(lambda: len(uas.requests("ACK")) == 2, timeout=3, what="the ACK again at the callee")
    acks = uas.requests("ACK")
    assert body(acks[1]) == body(acks[0]) and in_relay(sbc, sdp_media(body(acks[1]))[1])
    assert status(uac.bye(final)) == 200


def test_srtp_on_the_callers_leg_plain_on_the_callees(call):
    """The caller's trunk requires SRTP (two suites): our offer to it is
    RTP/SAVP with one a=crypto per allowed suite, in order, with fresh keys;
    its answer picks tag 2; the callee (plain) offered and gets RTP/AVP
    without crypto. The records name the suites, never a key."""
    sbc, uas, uac = call(changes=[("trunk.update", {"name": "demo-in", "srtp_inbound": {
        "mode": "required", "suites": ["AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80"]}})])
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 200, sbc.log()[-3000:]
    offer = body(final)
    ip, relay_a, proto = sdp_media(offer)
    assert in_relay(sbc, relay_a) and proto == "RTP/SAVP", offer
    cr = crypto_of(offer)
    assert [(t, s) for t, s, _ in cr] == [(1, "AEAD_AES_128_GCM"), (2, "AES_CM_128_HMAC_SHA1_80")], offer
    assert all(len(k) == KEY_LEN[s] for _, s, k in cr) and cr[0][2] != cr[1][2][:28]
    assert str(uas.rtp_port) not in offer
    a_key = base64.b64encode(bytes(range(30))).decode()
    uac.ack_answer(final, sdp(uac.ip, uac.rtp_port, [f"2 AES_CM_128_HMAC_SHA1_80 inline:{a_key}"]))
    wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
    ack = body(uas.requests("ACK")[0])
    assert sdp_media(ack)[2] == "RTP/AVP" and "crypto" not in ack and str(uac.rtp_port) not in ack, ack
    assert status(uac.bye(final)) == 200
    end = cdr_end(sbc)[-1]
    assert end["srtp_in"] == "AES_CM_128_HMAC_SHA1_80" and end["srtp_out"] == "NONE", end
    text = (sbc.data / "cdr.jsonl").read_text() + sbc.log()
    assert a_key not in text and "inline:" not in (sbc.data / "cdr.jsonl").read_text()
    for _, _, k in cr:
        assert base64.b64encode(k).decode() not in text


def test_plain_callers_leg_srtp_on_the_callees(call):
    """The callee's trunk requires SRTP and its offer has it (tag 7): our
    answer in the ACK keeps tag 7 with a fresh key of ours (not the
    callee's), RTP/SAVP; the caller (SRTP off) gets RTP/AVP without crypto."""
    sbc, uas, uac = call(crypto=[CRYPTO_B], changes=[
        ("trunk.update", {"name": "demo-in", "srtp_inbound": {"mode": "off"}}),
        ("trunk.update", {"name": "demo-out", "srtp_outbound": {"mode": "required",
                                                               "suites": ["AES_CM_128_HMAC_SHA1_80"]}})])
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 200, sbc.log()[-3000:]
    offer = body(final)
    assert sdp_media(offer)[2] == "RTP/AVP" and "crypto" not in offer, offer
    uac.ack_answer(final, sdp(uac.ip, uac.rtp_port))
    wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
    ack = body(uas.requests("ACK")[0])
    assert sdp_media(ack)[2] == "RTP/SAVP" and in_relay(sbc, sdp_media(ack)[1]), ack
    cr = crypto_of(ack)
    assert [(t, s) for t, s, _ in cr] == [(7, "AES_CM_128_HMAC_SHA1_80")], ack
    assert len(cr[0][2]) == 30 and base64.b64encode(cr[0][2]).decode() != CRYPTO_B.split("inline:")[1]
    assert status(uac.bye(final)) == 200
    end = cdr_end(sbc)[-1]
    assert end["srtp_in"] == "NONE" and end["srtp_out"] == "AES_CM_128_HMAC_SHA1_80", end


def test_callee_srtp_required_but_offers_none(call):
    """The callee's trunk requires SRTP and its offer has no crypto: the
    callee gets its ACK (answering by declining the stream) and BYE, the
    caller a final 488 (its INVITE was still open: no 200 reached it)."""
    sbc, uas, uac = call(changes=[("trunk.update", {"name": "demo-out", "srtp_outbound": {"mode": "required"}})])
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 488, final
    assert not [m for m in uac.got if status(m) == 200]
    wait_for(lambda: uas.requests("ACK") and uas.requests("BYE"), timeout=3, what="ACK and BYE at the callee")
    ack = body(uas.requests("ACK")[0])
    assert re.search(r"^m=audio 0 RTP/AVP", ack, re.M) and str(uac.rtp_port) not in ack, ack
    end = cdr_end(sbc)[-1]
    assert end["cause"] == 488 and end["reason"] == "offer in the 2xx not acceptable (SRTP policy or addresses)", end


def test_ack_without_answer_ends_the_call(call):
    """The caller's ACK has no SDP: the callee gets its ACK and a BYE, so
    does the caller (a BYE); the record says why."""
    sbc, uas, uac = call()
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 200
    uac.ack(final)
    bye = uac.recv_until(lambda d: d.startswith(b"BYE "), timeout=5)
    assert hdr(bye, "Call-ID") == uac.callid
    wait_for(lambda: uas.requests("ACK") and uas.requests("BYE"), timeout=3, what="ACK and BYE at the callee")
    assert re.search(r"^m=audio 0 ", body(uas.requests("ACK")[0]), re.M)  # an answer, declining
    end = cdr_end(sbc)[-1]
    assert end["cause"] == 400 and end["reason"] == "ACK without an answer to the delayed offer", end
    assert sbc.rpc("stats.get")["signal"][0]["stats"]["calls"]["active"] == 0


def test_answer_with_crypto_on_an_srtp_off_leg_ends_the_call(call):
    """The caller's leg has SRTP off and its answer carries a=crypto: not
    an answer to our offer; BYE on both legs, 488 in the record."""
    sbc, uas, uac = call(changes=[("trunk.update", {"name": "demo-in", "srtp_inbound": {"mode": "off"}})])
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 200 and "crypto" not in body(final)
    uac.ack_answer(final, sdp(uac.ip, uac.rtp_port, [CRYPTO_B.replace("7 ", "1 ", 1)]))
    uac.recv_until(lambda d: d.startswith(b"BYE "), timeout=5)
    wait_for(lambda: uas.requests("ACK") and uas.requests("BYE"), timeout=3, what="ACK and BYE at the callee")
    end = cdr_end(sbc)[-1]
    assert end["cause"] == 488 and end["reason"] == "answer in the ACK not acceptable", end


def test_caller_hangs_up_before_answering(call):
    """The caller sends BYE instead of the ACK with its answer: the callee's
    200 still gets its ACK (answering its offer by declining the stream)
    before our BYE, in that order."""
    sbc, uas, uac = call()
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 200
    assert status(uac.bye(final)) == 200
    wait_for(lambda: uas.requests("ACK") and uas.requests("BYE"), timeout=3, what="ACK and BYE at the callee")
    order = [m.split(b" ", 1)[0] for m, _ in uas.got if m[:4] in (b"ACK ", b"BYE ")]
    assert order[:2] == [b"ACK", b"BYE"], order
    assert re.search(r"^m=audio 0 ", body(uas.requests("ACK")[0]), re.M)
    end = cdr_end(sbc)[-1]
    assert end["cause"] == 200 and end["reason"] == "BYE from caller", end


@pytest.mark.parametrize("kind", ["none", "garbage"])
def test_callees_200_without_a_usable_offer(call, kind):
    """The callee's 200 has no offer, or SDP that does not parse: it gets
    ACK and BYE, the caller 502 (an invalid response from the next hop, RFC
    3261 21.5.3), never a 200; the record names the case."""
    sbc, uas, uac = call(kind, uas_cls=NoSdpUas)
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 502, final
    assert not [m for m in uac.got if status(m) == 200]
    wait_for(lambda: uas.requests("ACK") and uas.requests("BYE"), timeout=3, what="ACK and BYE at the callee")
    assert body(uas.requests("ACK")[0]) == ""
    end = cdr_end(sbc)[-1]
    why = "offer in the 2xx does not parse" if kind == "garbage" else "2xx without an offer to a delayed-offer INVITE"
    assert end["cause"] == 502 and end["reason"] == why, end


def test_cancel_before_answer(call):
    sbc, uas, uac = call("ring")
    uac.invite()
    uac.recv_until(lambda d: status(d) == 180, timeout=5)
    assert body(uas.invite) == ""
    uac.cancel()
    assert status(uac.wait_final()) == 487
    wait_for(lambda: uas.requests("CANCEL"), timeout=3, what="CANCEL at the callee")
    assert hdr(uas.requests("CANCEL")[0], "Call-ID") == hdr(uas.invite, "Call-ID")
    assert cdr_end(sbc)[-1]["cause"] == 487


def test_failover_on_503(call):
    """The first trunk's 503: the next route gets the INVITE, without SDP
    too, and its offer makes the call."""
    sbc, uas, uac = call("503")
    uas2 = Uas("answer")
    try:
        sbc.add_failover(uas2.port)
        uac.invite()
        final = uac.wait_final()
        assert status(final) == 200, sbc.log()[-3000:]
        assert body(uas.invite) == "" and body(uas2.invite) == ""
        assert str(uas2.rtp_port) not in body(final) and in_relay(sbc, sdp_media(body(final))[1])
        uac.ack_answer(final, sdp(uac.ip, uac.rtp_port))
        wait_for(lambda: uas2.requests("ACK"), timeout=3, what="ACK at the second callee")
        assert in_relay(sbc, sdp_media(body(uas2.requests("ACK")[0]))[1])
        assert status(uac.bye(final)) == 200
        wait_for(lambda: uas2.requests("BYE"), timeout=3, what="BYE at the second callee")
        assert cdr_end(sbc)[-1]["trunk_out"] == "alt-out"
    finally:
        uas2.close()


def test_100rel_not_offered_to_the_callee(call):
    """The caller supports 100rel: the callee is not told so (Supported
    without it), so that its offer cannot come in a reliable provisional;
    the other option tags cross."""
    sbc, uas, uac = call()
    uac.invite(extra="Supported: timer, 100rel\r\n")
    final = uac.wait_final()
    assert status(final) == 200
    assert hdr(uas.invite, "Supported") == "timer", uas.invite
    uac.ack_answer(final, sdp(uac.ip, uac.rtp_port))
    wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
    assert status(uac.bye(final)) == 200


def test_offer_in_a_reliable_provisional_refused(call):
    """A callee that sends a reliable 183 (RSeq) with SDP anyway (we took
    100rel out of Supported and nobody required it): that is the offer, to
    be answered in a PRACK: not supported, the attempt is CANCELled and,
    with no other route, the caller gets 502; the record says why."""
    sbc, uas, uac = call("100rel")
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 502, final
    wait_for(lambda: uas.requests("CANCEL"), timeout=3, what="CANCEL at the callee")
    assert cdr_end(sbc)[-1]["reason"] == "offer in a reliable provisional (not supported)"


def test_unreliable_provisional_sdp_not_relayed(call):
    """An unreliable 183 with SDP cannot be the offer: the caller gets the
    183 without SDP, then the 200 with our offer."""
    sbc, uas, uac = call("early")
    uac.invite()
    p = uac.recv_until(lambda d: status(d) == 183, timeout=5)
    assert body(p) == "" and hdr(p, "Content-Type") is None, p
    final = uac.wait_final()
    assert status(final) == 200 and in_relay(sbc, sdp_media(body(final))[1])
    uac.ack_answer(final, sdp(uac.ip, uac.rtp_port))
    wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
    assert status(uac.bye(final)) == 200


def test_never_acked_ends_the_call(call):
    """Our 200 with the offer is never ACKed (t1_ms 50: Timer H at 3.2 s):
    the callee's 200 gets its ACK, and BYE goes on both legs."""
    sbc, uas, uac = call(timers={"t1_ms": 50})
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 200
    bye = uac.recv_until(lambda d: d.startswith(b"BYE "), timeout=8)
    assert hdr(bye, "Call-ID") == uac.callid
    wait_for(lambda: uas.requests("ACK") and uas.requests("BYE"), timeout=3, what="ACK and BYE at the callee")
    end = cdr_end(sbc)[-1]
    assert end["cause"] == 408 and end["reason"] == "no ACK", end


# The SDP SIPp sends in its scenarios (its media port), origin named o=
SIPP_SDP = """v=0
o={origin} 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=sendrecv
"""

SIPP_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="delayed offer">
<send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:15550001111@[local_ip]:[local_port]>;tag=sipptag[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
User-Agent: sipp-secret-agent
Content-Length: 0

]]></send>
<recv response="100" optional="true"/>
<recv response="180" optional="true"/>
<recv response="200"><action>
<ereg regexp="m=audio [0-9]+ RTP/AVP 0 101" search_in="body" check_it="true" assign_to="m"/>
<ereg regexp="c=IN IP4 127.0.0.1" search_in="body" check_it="true" assign_to="c"/>
</action></recv>
<send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:15550001111@[local_ip]:[local_port]>;tag=sipptag[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

{sdp}]]></send>
<pause milliseconds="300"/>
<send><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:15550001111@[local_ip]:[local_port]>;tag=sipptag[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
<recv response="200"/>
<Reference variables="m,c"/>
</scenario>
""".format(sdp=SIPP_SDP.format(origin="sipp"))


@pytest.mark.skipif(not shutil.which("sipp"), reason="sipp missing")
@pytest.mark.parametrize("transport", ["udp", "tls"])
def test_sipp_delayed_offer_call(procs, tmp_path, transport):
    """SIPp as the calling carrier, over UDP and over TLS (SIPp over TCP
    through a local stunnel4 client, a real TLS handshake with
    sbc-signal): its INVITE without SDP, our offer checked in the 200
    (relay address, RTP/AVP), its answer in the ACK (SIPp's media port),
    BYE. The callee gets our answer on the relay, nothing of SIPp's."""
    if transport == "tls" and not shutil.which("stunnel4"):
        pytest.skip("stunnel4 missing")
    uas = Uas("answer")
    try:
        sbc = Sbc(procs, tmp_path, uas.port)
        (tmp_path / "scen.xml").write_text(SIPP_SCENARIO)
        mport = free_port_range(8)
        if transport == "tls":  # SIPp's own port faces stunnel only
            lport, target = None, f"127.0.0.1:{stunnel_client(procs, tmp_path, sbc.tls_port)}"
            tflag = ["-t", "t1"]
        else:
            lport = free_port()
            target, tflag = f"127.0.0.1:{sbc.port}", ["-p", str(lport)]
        r = subprocess.run(["sipp", "-sf", str(tmp_path / "scen.xml"), target, "-s", "4930123456",
                            "-m", "1", "-i", "127.0.0.1", "-mp", str(mport), "-timeout", "20",
                            "-nostdin", "-trace_err", "-trace_msg"] + tflag,
                           capture_output=True, text=True, timeout=40, cwd=tmp_path)
        msgs = "".join(p.read_text(errors="replace")[-3000:] for p in tmp_path.glob("*_messages.log"))
        assert r.returncode == 0, (r.stdout[-1500:], msgs, sbc.log()[-2000:])
        assert body(uas.invite) == ""
        wait_for(lambda: uas.requests("ACK") and uas.requests("BYE"), timeout=3, what="ACK and BYE at the callee")
        ack = uas.requests("ACK")[0]
        assert in_relay(sbc, sdp_media(body(ack))[1]), ack
        for m, _ in uas.got:
            text = m.decode(errors="replace")
            for needle in ("sipptag", "sipp-secret-agent", "sipp@", f" {mport} ") + ((f":{lport}",) if lport else ()):
                assert needle not in text, (needle, text)
    finally:
        uas.close()


SIPP_UAS_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="delayed offer callee">
<recv request="INVITE"><action>
<ereg regexp="^ *0 *$" search_in="hdr" header="Content-Length:" check_it="true" assign_to="len"/>
</action></recv>
<send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]sippuas[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:callee@[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

]]></send>
<send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]sippuas[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:callee@[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

{sdp}]]></send>
<recv request="ACK"><action>
<ereg regexp="m=audio [0-9]+ RTP/AVP 0 101" search_in="body" check_it="true" assign_to="m"/>
<ereg regexp="c=IN IP4 127.0.0.1" search_in="body" check_it="true" assign_to="c"/>
</action></recv>
<recv request="BYE"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
<Reference variables="len,m,c"/>
</scenario>
""".format(sdp=SIPP_SDP.format(origin="callee"))


@pytest.mark.skipif(not shutil.which("sipp"), reason="sipp missing")
def test_sipp_callee_gets_the_answer_in_our_ack(procs, tmp_path):
    """SIPp as the called carrier over UDP: it checks that our INVITE has
    no body and that our ACK carries the answer to its offer (RTP/AVP on
    the relay, its codecs); the python caller answers our offer."""
    (tmp_path / "uas.xml").write_text(SIPP_UAS_SCENARIO)
    for _ in range(5):  # a port picked free may be taken before SIPp binds it
        port = free_port()
        sipp = procs.start("sipp-uas", ["sipp", "-sf", str(tmp_path / "uas.xml"), "-i", "127.0.0.1", "-p", str(port),
                                        "-mp", str(free_port_range(8)), "-m", "1", "-nostdin", "-trace_err",
                                        "-trace_msg"], cwd=tmp_path)
        time.sleep(0.3)
        if sipp.poll() is None:
            break
    assert sipp.poll() is None, procs.log(sipp)
    sbc = Sbc(procs, tmp_path, port)
    uac = DelayedUac(sbc.port)
    try:
        uac.invite()
        final = uac.wait_final()
        assert status(final) == 200, sbc.log()[-2000:]
        offer = body(final)
        assert in_relay(sbc, sdp_media(offer)[1]) and "callee" not in final.decode(), final
        uac.ack_answer(final, sdp(uac.ip, uac.rtp_port))
        time.sleep(0.3)
        assert status(uac.bye(final)) == 200
        rc = wait_for(lambda: sipp.poll() is not None, timeout=10, what="SIPp UAS done") and sipp.returncode
        errs = "".join(p.read_text(errors="replace")[-2000:] for p in tmp_path.glob("*_errors.log"))
        assert rc == 0, (rc, errs, procs.log(sipp)[-2000:], sbc.log()[-2000:])
    finally:
        uac.close()


def test_require_100rel_without_offer_420(call):
    """A delayed offer that requires 100rel would make the callee offer in
    a reliable provisional (RFC 3262 5), which we do not answer: 420 with
    Unsupported: 100rel at once (RFC 3261 8.2.2.3), nothing reaches a
    callee. Before: a CANCEL on every route, then 502."""
    sbc, uas, uac = call()
    uac.invite(extra="Require: 100rel\r\n")
    final = uac.wait_final()
    assert status(final) == 420 and hdr(final, "Unsupported") == "100rel", final
    time.sleep(0.3)
    assert uas.invite is None
    assert cdr_end(sbc)[-1]["cause"] == 420


@pytest.mark.parametrize("method", ["INVITE", "UPDATE"])
def test_offer_before_the_ack_491(call, method):
    """Our 200 carries our offer to the caller; before its ACK the caller
    sends a re-INVITE or an UPDATE with an offer of its own: glare with the
    open exchange, 491 (RFC 3261 14.1, RFC 3311 5.2). Nothing reaches the
    callee, whose 200 still waits for our ACK; the caller's ACK then
    completes the call: the callee gets the ACK for CSeq 1 with the answer.
    Before: relayed to the callee before its 200 was ACKed, and the ACK
    went out with the re-INVITE's CSeq."""
    sbc, uas, uac = call()
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 200
    b = sdp(uac.ip, uac.rtp_port).replace("o=uac 1 1 ", "o=uac 1 2 ")
    uac.sock.sendto(uac._request(method, final, 3, extra=f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\n",
                                 ctype="application/sdp", body_text=b), uac.dst)
    r = uac.recv_until(lambda d: status(d) >= 200 and hdr(d, "CSeq") == f"3 {method}", timeout=5)
    assert status(r) == 491, r
    if method == "INVITE":
        uac.sock.sendto(uac._request("ACK", final, 3), uac.dst)
    assert len(uas.requests("INVITE")) == 1 and not uas.requests("UPDATE")
    assert not uas.requests("ACK")
    uac.ack_answer(final, sdp(uac.ip, uac.rtp_port))
    ack = wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")[0]
    assert hdr(ack, "CSeq") == "1 ACK" and in_relay(sbc, sdp_media(body(ack))[1]), ack
    assert status(uac.bye(final)) == 200


class AnswerByeUas(Uas):
    """A callee that answers (the offer in its 200), hangs up at once and
    sends its 200 again: the BYE and the second 200 reach the SBC while it
    is still making the media sessions for the offer."""

    def send(self, data):
        super().send(data)
        if data.startswith(b"SIP/2.0 200") and (hdr(data, "CSeq") or "").endswith("INVITE") and \
                not getattr(self, "byed", False):
            self.byed = True
            bye = (f"BYE sip:sbc@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bKfastbye\r\n"
                   f"From: {hdr(data, 'To')}\r\nTo: {hdr(data, 'From')}\r\nCall-ID: {hdr(data, 'Call-ID')}\r\n"
                   f"CSeq: 1 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
            self.sock.sendto(bye, self.peer)
            self.sock.sendto(data, self.peer)


def test_callee_hangs_up_before_its_answer_reached_the_caller(call):
    """The callee's 200 (with the offer), its BYE and its 200 again arrive
    while the SBC makes the media sessions: the caller gets 480, not our
    200 and then a BYE; the call ends once (one end record), no media
    session is left, and the second 200 does not start a second exchange
    (before: a second CREATE, refused by sbc-media, and leaked copies)."""
    sbc, uas, uac = call(uas_cls=AnswerByeUas)
    # sbc-media held until the caller's final: the callee's BYE is taken
    # while the sessions are being made, not raced against their replies
    # (which won once under ASan: our 200, then a BYE)
    media = child_pid(sbc.ctl.pid, "sbc-media")
    os.kill(media, signal.SIGSTOP)
    try:
        uac.invite()
        final = uac.wait_final()
    finally:
        os.kill(media, signal.SIGCONT)
    assert status(final) == 480, final
    ends = [e for e in cdr_end(sbc) if e["event"] == "end"]
    assert len(ends) == 1 and ends[0]["cause"] == 480, ends
    wait_for(lambda: sbc.rpc("media.sessions")["total"] == 0, timeout=5, what="no media session left")
    assert "refused" not in sbc.log()


def test_stray_2xx_offer_is_answered_in_its_ack(call):
    """The caller CANCELs while ringing; the callee's 200 (with its offer,
    our INVITE had none) crosses our CANCEL: that 2xx is ACKed and BYEd as
    a stray, and the ACK answers its offer by declining every stream
    (RFC 3261 13.2.2.4: a valid answer in the ACK, then the BYE). Before:
    an ACK without a body."""
    sbc, uas, uac = call("cancel200")
    uac.invite()
    uac.recv_until(lambda d: status(d) == 180, timeout=5)
    uac.cancel()
    assert status(uac.wait_final()) == 487
    wait_for(lambda: uas.requests("ACK") and uas.requests("BYE"), timeout=3, what="ACK and BYE at the callee")
    ack = uas.requests("ACK")[0]
    text = body(ack)
    assert re.search(r"^m=audio 0 RTP/AVP", text, re.M) and "a=crypto" not in text, ack
    assert hdr(ack, "Content-Type") == "application/sdp"
