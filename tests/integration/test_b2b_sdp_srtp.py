"""Issue #5 items 4-7 on the running processes (sbc-control, sbc-signal,
sbc-media), clauses that test_b2b_calls does not show: several m= lines
with a declined one, a=rtcp ports (rewritten, and RTCP relayed to them), ICE
dropped both ways, codecs and attributes kept; hold with inactive and
recvonly; a re-INVITE that moves the caller's media (MEDIA_UPDATE); latching
a caller whose RTP comes from another port than its SDP says; the SRTP
offer (one a=crypto per allowed suite, in the policy's order, fresh keys),
the answer (the first offered suite the policy allows, its tag kept), the
488s of a bad answer with failover, keys in no log and no call record;
early media under SRTP flowing before the answer; the call record of a
failed call. Each test checks what the far side received."""
import base64
import json
import re
import socket
import subprocess
import time

import pytest

from b2b_common import Sbc, Uac, Uas, body, hdr, rtp_port, sdp, sdp_media, status
from conftest import BUILD, wait_for
from test_b2b_calls import CRYPTO_A, SRTP_PEER, reaches, send_srtp_from_caller
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")
need_srtp_peer = pytest.mark.skipif(not SRTP_PEER.exists(), reason="srtp_peer not built")


class SdpUas(Uas):
    """Uas whose 200 to the INVITE carries answer_body as its SDP when set
    (several m= lines, ICE, a=rtcp...)."""
    answer_body = None

    def send(self, data):
        if self.answer_body and data.startswith(b"SIP/2.0 200") and (hdr(data, "CSeq") or "").endswith("INVITE") \
                and (hdr(data, "CSeq") == hdr(self.invite, "CSeq")):
            head = data.split(b"\r\n\r\n", 1)[0]
            b = self.answer_body.encode()
            head = re.sub(rb"Content-Length: \d+", b"Content-Length: %d" % len(b), head)
            data = head + b"\r\n\r\n" + b
        super().send(data)


@pytest.fixture
def env(procs, tmp_path):
    made = []

    def make(plan="answer", crypto=None, uac_ip="127.0.0.1", rtp_timeout_ms=30000):
        uas = SdpUas(plan, crypto)
        sbc = Sbc(procs, tmp_path, uas.port, rtp_timeout_ms=rtp_timeout_ms)
        uac = Uac(sbc.port, ip=uac_ip)
        made.extend([uas, uac])
        return sbc, uas, uac

    yield make
    for x in made:
        x.close()


def udp(ip="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, rtp_port(ip)))
    s.settimeout(2)
    made_socks.append(s)
    return s


made_socks = []


@pytest.fixture(autouse=True)
def close_socks():
    yield
    while made_socks:
        made_socks.pop().close()


def streams(text):
    """The m= sections of an SDP: [(m= line fields, [a= lines])]."""
    out = []
    for ln in text.split("\r\n"):
        if ln.startswith("m="):
            out.append((ln[2:].split(" ", 3), []))
        elif ln.startswith("a=") and out:
            out[-1][1].append(ln[2:])
    return out


def in_relay(sbc, port):
    return sbc.mbase <= port < sbc.mbase + 60


def crypto_lines(text):
    """[(tag, suite, key bytes)] of the a=crypto lines."""
    return [(int(t), s, base64.b64decode(k))
            for t, s, k in re.findall(r"^a=crypto:(\d+) (\S+) inline:([^|\s]+)", text, re.M)]


RTCP_SR = bytes([0x80, 200, 0, 6]) + b"\x11\x22\x33\x44" + b"\x00" * 20


def test_several_streams_port0_rtcp_ice_and_codecs(env):
    """A: audio (3 codecs, DTMF, ptime, a=rtcp, ICE), a declined video, a
    second audio (recvonly) from 127.0.0.2; B answers with ICE of its own,
    a=rtcp, the video declined and the second audio sendonly. Each side
    gets c= and m= on sbc-media, the declined line alone at port 0, a=rtcp
    on the relay's RTCP port, no ICE, codecs and directions kept; RTCP and
    the second stream are relayed."""
    sbc, uas, uac = env(uac_ip="127.0.0.2")
    a_rtcp, a_rtp2 = udp("127.0.0.2"), udp("127.0.0.2")
    b_rtcp = udp()
    ar, ac, a2 = uac.rtp_port, a_rtcp.getsockname()[1], a_rtp2.getsockname()[1]
    offer = ("v=0\r\no=uac 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\na=ice-lite\r\n"
             f"m=audio {ar} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
             f"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=rtcp:{ac}\r\n"
             f"a=ice-ufrag:Ufr4\r\na=ice-pwd:pwd4567890123456789012\r\n"
             f"a=candidate:1 1 UDP 2130706431 127.0.0.2 {ar} typ host\r\na=sendrecv\r\n"
             "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
             f"m=audio {a2} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=recvonly\r\n")
    br, bc, b2 = uas.rtp_port, b_rtcp.getsockname()[1], uas.rtp2_port
    uas.answer_body = ("v=0\r\no=uas 5 5 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                       f"m=audio {br} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
                       f"a=fmtp:101 0-16\r\na=rtcp:{bc}\r\na=ice-ufrag:Bfr8\r\na=ice-pwd:bpwd567890123456789012\r\n"
                       f"a=candidate:1 1 UDP 2130706431 127.0.0.1 {br} typ host\r\na=sendrecv\r\n"
                       "m=video 0 RTP/AVP 96\r\n"
                       f"m=audio {b2} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendonly\r\n")
    final = uac.answered(body_text=offer)

    ob = body(uas.invite)  # what B got
    assert re.findall(r"^c=[^\r\n]*", ob, re.M) == ["c=IN IP4 127.0.0.1"] and "127.0.0.2" not in ob, ob
    assert "ice" not in ob and "candidate" not in ob, ob
    sb = streams(ob)
    assert [(m[0], m[2], m[3]) for m, _ in sb] == [("audio", "RTP/AVP", "0 8 101"), ("video", "RTP/AVP", "96"),
                                                    ("audio", "RTP/AVP", "8")], ob
    p1, p3 = int(sb[0][0][1]), int(sb[2][0][1])
    assert in_relay(sbc, p1) and in_relay(sbc, p3) and p1 != p3 and sb[1][0][1] == "0" and sb[1][1] == []
    assert sb[0][1] == ["rtpmap:0 PCMU/8000", "rtpmap:8 PCMA/8000", "rtpmap:101 telephone-event/8000",
                        "fmtp:101 0-16", "ptime:20", "sendrecv", f"rtcp:{p1 + 1}"], sb[0][1]
    assert sb[2][1] == ["rtpmap:8 PCMA/8000", "recvonly"], sb[2][1]
    for port in (ar, ac, a2):
        assert str(port) not in ob

    fb = body(final)  # what A got
    assert re.findall(r"^c=[^\r\n]*", fb, re.M) == ["c=IN IP4 127.0.0.1"] and "ice" not in fb and "candidate" not in fb
    sa = streams(fb)
    assert [(m[0], m[2], m[3]) for m, _ in sa] == [("audio", "RTP/AVP", "0 101"), ("video", "RTP/AVP", "96"),
                                                    ("audio", "RTP/AVP", "8")], fb
    q1, q3 = int(sa[0][0][1]), int(sa[2][0][1])
    assert in_relay(sbc, q1) and in_relay(sbc, q3) and len({p1, p3, q1, q3}) == 4 and sa[1][0][1] == "0"
    assert f"rtcp:{q1 + 1}" in sa[0][1] and "fmtp:101 0-16" in sa[0][1] and sa[2][1][-1] == "sendonly", sa
    for port in (br, bc, b2):
        assert str(port) not in fb

    # RTCP: A's report to the relay's RTCP port reaches B's a=rtcp port
    b_rtcp.settimeout(2)
    for _ in range(3):
        a_rtcp.sendto(RTCP_SR, ("127.0.0.1", q1 + 1))
        time.sleep(0.02)
    got, src = b_rtcp.recvfrom(2048)
    assert got[:8] == RTCP_SR[:8] and src[1] == p1 + 1
    # the second audio stream: B (sendonly) -> relay -> A's second port
    pkt = bytes([0x80, 8, 0, 1]) + b"\x00" * 8 + b"stream-3" * 10
    for i in range(3):
        uas.rtp2.sendto(pkt[:3] + bytes([i]) + pkt[4:], ("127.0.0.1", p3))
        time.sleep(0.02)
    a_rtp2.settimeout(2)
    got, src = a_rtp2.recvfrom(2048)
    assert got[12:] == pkt[12:] and src[1] == q3
    assert status(uac.bye(final)) == 200


def test_hold_inactive_and_recvonly(env):
    sbc, uas, uac = env()
    final = uac.answered()
    for cseq, (sent, back) in enumerate((("inactive", "inactive"), ("recvonly", "sendonly"),
                                         ("sendrecv", "sendrecv")), start=3):
        ok = uac.reinvite(final, sent, cseq=cseq)
        assert status(ok) == 200 and re.findall(r"^a=(sendrecv|sendonly|recvonly|inactive)", body(ok), re.M) \
            == [back], body(ok)
        reinv = [m for m in uas.requests("INVITE") if hdr(m, "CSeq") == f"{cseq - 1} INVITE"]
        assert len(reinv) == 1, [hdr(m, "CSeq") for m in uas.requests("INVITE")]
        assert re.findall(r"^a=(sendrecv|sendonly|recvonly|inactive)", body(reinv[0]), re.M) == [sent]
    assert status(uac.bye(final)) == 200


def test_reinvite_moves_callers_media(env):
    """A re-INVITE with a new port for the caller: sbc-media is updated, B's
    media goes to the new port (not the old one, latched or not)."""
    sbc, uas, uac = env()
    final = uac.answered()
    relay_b = sdp_media(body(uas.invite))[1]
    pkt = bytes([0x80, 0, 0, 1]) + b"\x00" * 8 + b"before" * 10
    uas.rtp.settimeout(2)
    uac.rtp.sendto(pkt, ("127.0.0.1", sdp_media(body(final))[1]))  # A's media latched on the old port
    uas.rtp.recvfrom(2048)
    moved = udp()
    ok = uac.reinvite(final, "sendrecv", cseq=3, port=moved.getsockname()[1])
    assert status(ok) == 200 and sdp_media(body(ok))[1] == sdp_media(body(final))[1]
    reinv = [m for m in uas.requests("INVITE") if hdr(m, "CSeq") == "2 INVITE"]
    assert len(reinv) == 1 and sdp_media(body(reinv[0]))[1] == relay_b  # B's side of the relay unchanged
    wait_for(lambda: len(uas.requests("ACK")) == 2, timeout=3, what="ACK of the re-INVITE at the callee")
    back = bytes([0x80, 0, 0, 9]) + b"\x00" * 8 + b"after" * 10
    for i in range(5):
        uas.rtp.sendto(back[:3] + bytes([9 + i]) + back[4:], ("127.0.0.1", relay_b))
        time.sleep(0.02)
    got, _ = moved.recvfrom(2048)
    assert got[12:] == back[12:]
    uac.rtp.settimeout(0.2)
    with pytest.raises(socket.timeout):
        uac.rtp.recvfrom(2048)
    assert status(uac.bye(final)) == 200


def test_latching_caller_behind_nat(env):
    """The caller's RTP comes from another port than its SDP names (a NAT):
    the relay latches that source, B's media goes back there."""
    sbc, uas, uac = env()
    final = uac.answered()
    aport = sdp_media(body(final))[1]
    natted = udp()
    assert reaches(type("U", (), {"rtp": natted})(), ("127.0.0.1", aport), uas.rtp, b"natted")
    _, src = uas.rtp.recvfrom(2048)
    pkt = bytes([0x80, 0, 0, 1]) + b"\x00" * 8 + b"to-nat" * 10
    uas.rtp.sendto(pkt, src)
    got, gsrc = natted.recvfrom(2048)
    assert got[12:] == pkt[12:] and gsrc[1] == aport
    uac.rtp.settimeout(0.2)
    with pytest.raises(socket.timeout):  # not to the SDP's port
        uac.rtp.recvfrom(2048)
    assert status(uac.bye(final)) == 200


@need_srtp_peer
def test_srtp_offer_suites_in_order_fresh_keys_rtp_in_srtp_out(env):
    """Toward an SRTP-required trunk: RTP/SAVP, one a=crypto per allowed
    suite in the policy's order, tags 1.., keys of the suite's length, fresh
    for every call; the caller's plain RTP reaches B as SRTP under the key we
    offered on the tag B chose (RTP in, SRTP out)."""
    sbc, uas, uac = env(crypto="mirror")
    suites = ["AEAD_AES_128_GCM", "AES_256_CM_HMAC_SHA1_32", "AES_CM_128_HMAC_SHA1_80"]
    sbc.rpc("trunk.update", {"name": "demo-out", "srtp_outbound": {"mode": "required", "suites": suites}})
    sbc.signal_synced()
    final = uac.answered()
    ob = body(uas.invite)
    got = crypto_lines(ob)
    assert sdp_media(ob)[2] == "RTP/SAVP" and [(t, s) for t, s, _ in got] == list(zip((1, 2, 3), suites)), ob
    assert [len(k) for _, _, k in got] == [28, 46, 30] and len({k for _, _, k in got}) == 3
    # the caller offered plain: its answer is plain
    assert sdp_media(body(final))[2] == "RTP/AVP" and "a=crypto" not in body(final)
    # RTP from A, SRTP (AEAD_AES_128_GCM, our tag-1 key) at B
    ub = f"127.0.0.1:{uas.rtp_port}"
    uas.rtp.close()
    rcv = subprocess.Popen([str(SRTP_PEER), "recv", ub, "5", "4000", "AEAD_AES_128_GCM", got[0][2].hex()],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert rcv.stdout.readline().strip() == "READY"
        pkt = bytes([0x80, 0, 0x03, 0xe8]) + b"\x00\x00\x00\x00" + b"\x5b\xc0\xff\xee"
        aport = sdp_media(body(final))[1]
        for i in range(5):
            payload = bytes((i * 3 + k) & 0xff for k in range(160))
            uac.rtp.sendto(pkt[:2] + (1000 + i).to_bytes(2, "big") + (160 * i).to_bytes(4, "big") + pkt[8:]
                           + payload, ("127.0.0.1", aport))
            time.sleep(0.02)
        out, err = rcv.communicate(timeout=10)
    finally:
        if rcv.poll() is None:
            rcv.kill()
    res = json.loads(out.strip().splitlines()[-1])
    assert res["ok"] == 5 and res["auth_fail"] == 0, (res, err)
    assert status(uac.bye(final)) == 200
    # the next call: other keys
    uac2 = Uac(sbc.port)
    try:
        f2 = uac2.answered()
        keys2 = {k for _, _, k in crypto_lines(body(uas.invite))}
        assert len(keys2) == 3 and not keys2 & {k for _, _, k in got}
        assert status(uac2.bye(f2)) == 200
    finally:
        uac2.close()


@need_srtp_peer
def test_srtp_answer_first_offered_allowed_suite_tag_kept(env):
    """demo-in allows AEAD_AES_128_GCM, then AES_CM_128_HMAC_SHA1_80; the
    caller offers tag 3 AEAD_AES_256_GCM (not allowed), tag 7 AES_CM_128_
    HMAC_SHA1_80, tag 9 AEAD_AES_128_GCM: the answer is the first offered
    that the policy allows, tag 7 (not the policy's favourite), one
    a=crypto with our own key; the caller's SRTP under its tag-7 key
    reaches B as plain RTP."""
    sbc, uas, uac = env()
    sbc.rpc("trunk.update", {"name": "demo-in", "srtp_inbound": {
        "mode": "required", "suites": ["AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80"]}})
    sbc.signal_synced()
    k7 = CRYPTO_A.split("inline:")[1]
    offer = [f"3 AEAD_AES_256_GCM inline:{base64.b64encode(bytes(range(44))).decode()}",
             f"7 AES_CM_128_HMAC_SHA1_80 inline:{k7}",
             f"9 AEAD_AES_128_GCM inline:{base64.b64encode(bytes(range(28))).decode()}"]
    uac.invite(crypto=offer)
    final = uac.wait_final()
    assert status(final) == 200, final
    fb = body(final)
    ans = crypto_lines(fb)
    assert sdp_media(fb)[2] == "RTP/SAVP" and [(t, s) for t, s, _ in ans] == [(7, "AES_CM_128_HMAC_SHA1_80")], fb
    assert len(ans[0][2]) == 30 and ans[0][2] != base64.b64decode(k7)
    assert "a=crypto" not in body(uas.invite)
    uac.ack(final)
    aip, aport, _ = sdp_media(fb)
    send_srtp_from_caller(uac, aip, aport)  # AES_CM_128_HMAC_SHA1_80, the key of tag 7
    uas.rtp.settimeout(2)
    d, _ = uas.rtp.recvfrom(2048)
    assert len(d) == 12 + 160
    assert status(uac.bye(final)) == 200


def bad_answer(kind):
    k30 = base64.b64encode(bytes(range(30))).decode()
    return {"crypto_on_srtp_off_leg": (None, [CRYPTO_A]),
            "tag_not_offered": (["AES_CM_128_HMAC_SHA1_80"], [f"9 AES_CM_128_HMAC_SHA1_80 inline:{k30}"]),
            "suite_not_offered": (["AES_CM_128_HMAC_SHA1_80"], [f"1 AES_CM_128_HMAC_SHA1_32 inline:{k30}"])}[kind]


@pytest.mark.parametrize("kind", ["crypto_on_srtp_off_leg", "tag_not_offered", "suite_not_offered"])
def test_bad_srtp_answer_488_and_failover(env, kind):
    """B's 200 breaks demo-out's SRTP policy: that call leg fails (ACK and
    BYE toward B, cause 488), the call fails over to alt-out, whose answer
    the caller gets, with media toward alt-out."""
    suites, crypto = bad_answer(kind)
    sbc, uas1, uac = env(crypto=crypto)
    if suites:
        sbc.rpc("trunk.update", {"name": "demo-out", "srtp_outbound": {"mode": "required", "suites": suites}})
    uas2 = Uas("answer")
    try:
        sbc.add_failover(uas2.port)
        uac.invite()
        final = uac.wait_final()
        assert status(final) == 200, (final, sbc.log()[-2000:])
        assert uas1.invite is not None and uas2.invite is not None
        wait_for(lambda: uas1.requests("ACK") and uas1.requests("BYE"), timeout=3, what="ACK and BYE at demo-out")
        assert "488" in sbc.log() or "Not Acceptable" in sbc.log()
        uac.ack(final)
        assert reaches(uac, sdp_media(body(final))[:2], uas2.rtp, b"failed-over")
        assert status(uac.bye(final)) == 200
    finally:
        uas2.close()


def key_forms(raw):
    b64 = base64.b64encode(raw).decode()
    return [b64, b64[:16], raw.hex(), raw.hex().upper()]


@need_srtp_peer
def test_keys_never_in_logs_or_call_records(env):
    """SRTP on both legs at log level debug: none of the four keys (the
    caller's, ours to it, ours to B, B's), as base64, its first 16
    characters or hex, is in any log, cdr.jsonl, call.get's answer or
    media.sessions' listing (which names the suites sbc-media got)."""
    sbc, uas, uac = env(crypto="mirror")
    sbc.rpc("trunk.update", {"name": "demo-out", "srtp_outbound": {"mode": "required",
                                                                    "suites": ["AEAD_AES_128_GCM"]}})
    sbc.signal_synced()
    final = uac.answered(crypto=[CRYPTO_A])
    keys = [base64.b64decode(CRYPTO_A.split("inline:")[1]), crypto_lines(body(final))[0][2],
            crypto_lines(body(uas.invite))[0][2], uas.answer_key]
    # sbc-media got them (through the ring): its session listing names the suites, never a key
    sessions = json.dumps(sbc.rpc("media.sessions"))
    assert "AES_CM_128_HMAC_SHA1_80" in sessions and "AEAD_AES_128_GCM" in sessions, sessions
    assert status(uac.bye(final)) == 200
    evs = wait_for(lambda: (lambda t: t if '"end"' in t else None)(
        (sbc.data / "cdr.jsonl").read_text() if (sbc.data / "cdr.jsonl").exists() else ""), what="end record")
    end = [json.loads(ln) for ln in evs.splitlines()][-1]
    assert end["srtp_in"] == "AES_CM_128_HMAC_SHA1_80" and end["srtp_out"] == "AEAD_AES_128_GCM", end
    got = json.dumps(sbc.rpc("call.get", {"id": end["id"]}))
    log = sbc.log()
    assert "SRTP" in log or "srtp" in log or "AES" in log  # the debug log speaks of the SRTP set-up
    for i, raw in enumerate(keys):
        for form in key_forms(raw):
            assert form not in log, (i, form)
            assert form not in evs and form not in got and form not in sessions, (i, form)
    assert "inline:" not in log and "inline" not in evs


@need_srtp_peer
def test_early_media_srtp_before_the_answer(env):
    """The caller offers SRTP, B (plain) sends 183 with SDP and answers 2 s
    later: the 183 toward A carries RTP/SAVP and our key on A's tag, A's
    SRTP reaches B as RTP before B's 200 went out, and the 200 repeats the
    183's answer (same key)."""
    sbc, uas, uac = env(plan="early")
    uas.early_s = 2.0
    uac.invite(crypto=[CRYPTO_A])
    early = uac.recv_until(lambda d: status(d) == 183)
    eb = body(early)
    c183 = crypto_lines(eb)
    assert sdp_media(eb)[2] == "RTP/SAVP" and [(t, s) for t, s, _ in c183] == [(1, "AES_CM_128_HMAC_SHA1_80")]
    assert c183[0][2] != base64.b64decode(CRYPTO_A.split("inline:")[1])
    assert "a=crypto" not in body(uas.invite)
    eip, eport, _ = sdp_media(eb)
    send_srtp_from_caller(uac, eip, eport)
    uas.rtp.settimeout(2)
    d, _ = uas.rtp.recvfrom(2048)
    assert len(d) == 12 + 160 and d[12:] == bytes((k & 0xff) for k in range(160))
    assert not [m for m in uas.sent if m.startswith(b"SIP/2.0 200")], "media only after the answer"
    final = uac.wait_final()
    assert status(final) == 200
    assert sdp_media(body(final))[1] == eport and crypto_lines(body(final)) == c183
    uac.ack(final)
    assert status(uac.bye(final)) == 200


def test_call_record_of_failed_calls(env):
    """A call refused before any B leg (488: SRTP required, none offered):
    an end record with its cause; one refused by the callee (503, no other
    route): start and end with the cause and reason, no answer."""
    sbc, uas, uac = env(plan="503")
    want = 0

    def ends():
        p = sbc.data / "cdr.jsonl"
        evs = [json.loads(ln) for ln in p.read_text().splitlines()] if p.exists() else []
        return evs if len([e for e in evs if e["event"] == "end"]) == want else None

    sbc.rpc("trunk.update", {"name": "demo-in", "srtp_inbound": {"mode": "required"}})
    sbc.signal_synced()
    uac.invite(number="4930222")
    assert status(uac.wait_final()) == 488
    want = 1
    evs = wait_for(ends, what="end record of the 488 call")
    assert [e["event"] for e in evs] == ["end"], evs  # refused before it started: its end alone
    end = evs[-1]
    assert end["cause"] == 488 and end.get("reason") == "Not Acceptable Here" and end["to"] == "4930222", end
    assert end["trunk_in"] == "demo-in", end
    assert uas.invite is None and not end.get("answer_ms"), end  # never reached B

    sbc.rpc("trunk.update", {"name": "demo-in", "srtp_inbound": {"mode": "optional"}})
    sbc.signal_synced()
    uac2 = Uac(sbc.port)
    try:
        uac2.invite(number="4930111")
        assert status(uac2.wait_final()) == 503
    finally:
        uac2.close()
    want = 2
    evs = wait_for(ends, what="end record of the 503 call")
    mine = [e for e in evs if e["id"] != end["id"]]
    assert [e["event"] for e in mine] == ["start", "end"], evs
    end2 = mine[-1]
    assert end2["cause"] == 503 and end2["trunk_out"] == "demo-out" and end2["to"] == "4930111", end2
    assert not end2.get("answer_ms") and end2.get("reason") == "Service Unavailable", end2


def test_callee_declines_a_stream(env):
    """A offers two audio streams, B answers the second with port 0: A's
    answer declines it too (port 0, the m= line alone); the first carries
    media; both sessions made with the offer go when the call ends."""
    sbc, uas, uac = env()
    a2 = udp()
    offer = ("v=0\r\no=uac 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
             f"m=audio {uac.rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
             f"m=audio {a2.getsockname()[1]} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n")
    uas.answer_body = ("v=0\r\no=uas 5 5 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                       f"m=audio {uas.rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\nm=audio 0 RTP/AVP 8\r\n")
    st0 = sbc.rpc("stats.get")["media"][0]["stats"]
    created, deleted = st0["created"], st0["deleted"]
    final = uac.answered(body_text=offer)
    sa = streams(body(final))
    assert [m[1] for m, _ in sa][1] == "0" and sa[1][1] == [] and in_relay(sbc, int(sa[0][0][1])), body(final)
    assert len(streams(body(uas.invite))) == 2 and in_relay(sbc, int(streams(body(uas.invite))[1][0][1]))
    assert reaches(uac, ("127.0.0.1", int(sa[0][0][1])), uas.rtp, b"stream-1")
    assert status(uac.bye(final)) == 200
    # both sessions made with the offer go with the call (the declined one is kept till then)
    st = wait_for(lambda: (lambda s: s if s["sessions"] == 0 else None)(sbc.rpc("stats.get")["media"][0]["stats"]),
                  timeout=3, what="the call's sessions deleted")
    assert st["created"] - created == 2 and st["deleted"] - deleted == 2, st


def test_srtp_optional_outbound(env):
    """demo-out with SRTP optional: the offer stays RTP/AVP and carries
    a=crypto (SDES best effort); a plain answer is a plain call, an answer
    with a=crypto on the offered tag makes that leg SRTP (call records say
    which)."""
    sbc, uas, uac = env()
    sbc.rpc("trunk.update", {"name": "demo-out", "srtp_outbound": {"mode": "optional",
                                                                    "suites": ["AES_CM_128_HMAC_SHA1_80"]}})
    sbc.signal_synced()
    final = uac.answered()
    ob = body(uas.invite)
    assert sdp_media(ob)[2] == "RTP/AVP" and [(t, s) for t, s, _ in crypto_lines(ob)] == \
        [(1, "AES_CM_128_HMAC_SHA1_80")], ob
    assert status(uac.bye(final)) == 200
    # the next call: B answers RTP/AVP with a=crypto on tag 1
    key = base64.b64encode(bytes(range(30))).decode()
    uas.answer_body = sdp("127.0.0.1", uas.rtp_port, [f"1 AES_CM_128_HMAC_SHA1_80 inline:{key}"]).replace(
        "RTP/SAVP", "RTP/AVP")
    uac2 = Uac(sbc.port)
    try:
        f2 = uac2.answered()
        assert status(uac2.bye(f2)) == 200
    finally:
        uac2.close()

    def ends():
        p = sbc.data / "cdr.jsonl"
        e = [json.loads(ln) for ln in p.read_text().splitlines() if '"end"' in ln] if p.exists() else []
        return e if len(e) == 2 else None
    e1, e2 = wait_for(ends, what="two end records")
    assert e1["srtp_out"] == "NONE" and e2["srtp_out"] == "AES_CM_128_HMAC_SHA1_80", (e1, e2)


def talk(uac, a_dst, uas, b_dst, seconds):
    """RTP both ways on the first stream for that long (20 ms apart); fails
    on a BYE to the caller meanwhile. Returns the packets B got."""
    pkt = bytes([0x80, 0, 0, 0]) + b"\x00" * 8 + b"talk" * 40
    uac.sock.settimeout(0.001)
    uas.rtp.settimeout(0.001)
    got, i, end = 0, 0, time.monotonic() + seconds
    while time.monotonic() < end:
        i += 1
        seq = i.to_bytes(2, "big")
        uac.rtp.sendto(pkt[:2] + seq + pkt[4:], a_dst)
        uas.rtp.sendto(pkt[:2] + seq + pkt[4:], b_dst)
        try:
            d, _ = uac.sock.recvfrom(65536)
            assert not d.startswith(b"BYE "), f"BYE after {i} packets: {d[:200]!r}"
        except OSError:
            pass
        try:
            while True:
                uas.rtp.recvfrom(2048)
                got += 1
        except OSError:
            pass
        time.sleep(0.02)
    return got


def test_declined_stream_does_not_time_the_call_out(env):
    """A offers audio and video, B declines the video (port 0, the usual
    audio-only answer): media flows on the audio; the video's relay session,
    created with the offer, carries nothing and must not end the call by an
    RTP timeout (rtp_timeout_ms 1000 here; the talk lasts 2.5 s)."""
    sbc, uas, uac = env(rtp_timeout_ms=1000)
    v = udp()
    offer = ("v=0\r\no=uac 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
             f"m=audio {uac.rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
             f"m=video {v.getsockname()[1]} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n")
    uas.answer_body = ("v=0\r\no=uas 5 5 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                       f"m=audio {uas.rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\nm=video 0 RTP/AVP 96\r\n")
    final = uac.answered(body_text=offer)
    assert streams(body(final))[1][0][1] == "0"
    a_dst = ("127.0.0.1", int(streams(body(final))[0][0][1]))
    b_dst = ("127.0.0.1", int(streams(body(uas.invite))[0][0][1]))
    assert talk(uac, a_dst, uas, b_dst, 2.5) > 50
    assert not uas.requests("BYE")
    assert status(uac.bye(final)) == 200


def test_inactive_hold_is_not_a_media_timeout(env):
    """A call put on hold with a=inactive sends no RTP either way by design:
    the RTP timeout (1 s here) does not end it (sbc-media is asked for an
    hour for that stream, as rtpengine's silent-timeout); resumed with
    sendrecv, silence ends it again with BYE on both legs."""
    sbc, uas, uac = env(rtp_timeout_ms=1000)
    final = uac.answered()
    assert status(uac.reinvite(final, "inactive", cseq=3)) == 200
    with pytest.raises(AssertionError, match="BYE"):
        uac.recv_until(lambda d: d.startswith(b"BYE "), timeout=2.5, what="no BYE on hold")
    assert not uas.requests("BYE")
    assert status(uac.reinvite(final, "sendrecv", cseq=4)) == 200
    bye = uac.recv_until(lambda d: d.startswith(b"BYE "), timeout=5, what="BYE after the resumed silence")
    assert hdr(bye, "Call-ID") == uac.callid
    wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")


def test_srtp_required_no_allowed_suite_488(env):
    """demo-in requires SRTP with AES_CM_128_HMAC_SHA1_80 only; the caller
    offers SRTP, but only AEAD_AES_256_GCM: 488, no B leg."""
    sbc, uas, uac = env()
    sbc.rpc("trunk.update", {"name": "demo-in", "srtp_inbound": {"mode": "required",
                                                                  "suites": ["AES_CM_128_HMAC_SHA1_80"]}})
    sbc.signal_synced()
    uac.invite(crypto=[f"1 AEAD_AES_256_GCM inline:{base64.b64encode(bytes(range(44))).decode()}"])
    assert status(uac.wait_final()) == 488 and uas.invite is None
