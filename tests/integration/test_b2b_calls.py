"""B2BUA calls end to end: sbc-control + sbc-signal + sbc-media, a calling
carrier (python UAC or SIPp) on the demo-in trunk, a called carrier (python
UAS) behind demo-out. Each test checks what the far side actually received:
SDP on sbc-media's addresses, no header or body of one carrier reaching the
other, and RTP relayed."""
import base64
import json
import re
import subprocess
import time

import pytest

import b2b_common
from b2b_common import Sbc, Uac, Uas, body, hdr, sdp_media, status
from conftest import BUILD, free_port, free_port_range, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")

SRTP_PEER = BUILD / "tools" / "srtp_peer"
CRYPTO_A = "1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"


def leaked(msg, uac):
    """Anything of the calling carrier in a message the called one got."""
    text = msg.decode(errors="replace")
    for needle in (uac.callid, uac.ftag, f"{uac.port}", "uac-secret-agent", "X-Internal", str(uac.rtp_port),
                   "alice@"):
        if needle in text:
            return needle
    return None


@pytest.fixture
def call_env(procs, tmp_path):
    envs = []

    def make(plan="answer", crypto=None, rtp_timeout_ms=30000, unknown_sources=None):
        uas = Uas(plan, crypto)
        sbc = Sbc(procs, tmp_path, uas.port, rtp_timeout_ms=rtp_timeout_ms, unknown_sources=unknown_sources)
        uac = Uac(sbc.port)
        envs.append((uas, uac))
        return sbc, uas, uac

    yield make
    for uas, uac in envs:
        uas.close()
        uac.close()


def test_basic_call_topology_hiding_and_media(call_env):
    sbc, uas, uac = call_env()
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 200, sbc.log()[-3000:]
    # what the called carrier got
    inv = uas.invite
    assert inv is not None
    assert leaked(inv, uac) is None, (leaked(inv, uac), inv)
    assert hdr(inv, "Call-ID") != uac.callid
    ip, port, proto = sdp_media(body(inv))
    assert ip == "127.0.0.1" and sbc.mbase <= port < sbc.mbase + 60 and proto == "RTP/AVP"
    assert "telephone-event/8000" in body(inv)
    # what the caller got: SDP on the relay, none of the UAS's ports
    aip, aport, aproto = sdp_media(body(final))
    assert sbc.mbase <= aport < sbc.mbase + 60 and aport != port
    assert str(uas.rtp_port) not in body(final) and str(uas.port) not in final.decode()
    uac.ack(final)
    wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
    # media A -> relay -> B, and back (symmetric, latched)
    pkt = bytes([0x80, 0x00, 0x00, 0x01]) + b"\x00" * 8 + b"hello-rtp" * 10
    uas.rtp.settimeout(2)
    for i in range(5):
        uac.rtp.sendto(pkt[:2] + bytes([0, i]) + pkt[4:], (aip, aport))
        time.sleep(0.02)
    got, src = uas.rtp.recvfrom(2048)
    assert got[12:] == pkt[12:] and src[1] == port
    uas.rtp.sendto(pkt, src)
    uac.rtp.settimeout(2)
    back, bsrc = uac.rtp.recvfrom(2048)
    assert back[12:] == pkt[12:] and bsrc[1] == aport
    # BYE from the caller reaches the callee on its own dialog
    ok = uac.bye(final)
    assert status(ok) == 200
    wait = time.monotonic() + 3
    while not uas.requests("BYE") and time.monotonic() < wait:
        time.sleep(0.05)
    bye = uas.requests("BYE")[0]
    assert hdr(bye, "Call-ID") == hdr(inv, "Call-ID") and leaked(bye, uac) is None


def test_sipp_basic_call(call_env, tmp_path):
    sbc, uas, _ = call_env()
    r = subprocess.run(["sipp", "-sn", "uac", f"127.0.0.1:{sbc.port}", "-s", "4930123456", "-m", "1",
                        "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port_range(8)), "-timeout", "20", "-d", "200",
                        "-nostdin", "-trace_stat", "-stf", str(tmp_path / "stat.csv")],
                       capture_output=True, text=True, timeout=40, cwd=tmp_path)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:], sbc.log()[-3000:])
    stat = (tmp_path / "stat.csv").read_text().splitlines()
    head, last = stat[0].split(";"), stat[-1].split(";")
    assert int(last[head.index("SuccessfulCall(C)")]) == 1
    inv = uas.invite
    ip, port, _ = sdp_media(body(inv))
    assert sbc.mbase <= port < sbc.mbase + 60
    wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")


def send_srtp_from_caller(uac, aip, aport):
    """5 SRTP packets (AES_CM_128_HMAC_SHA1_80 with CRYPTO_A's key, as the
    caller offered) from the caller's RTP address to the relay's aip:aport,
    by srtp_peer (the caller's RTP socket is closed to free its port).
    Returns that address, "ip:port"."""
    bind = f"{uac.ip}:{uac.rtp_port}"
    uac.rtp.close()
    key_in = base64.b64decode(CRYPTO_A.split("inline:")[1]).hex()
    p = subprocess.run([str(SRTP_PEER), "send", bind, f"{aip}:{aport}", "5", "160",
                        "AES_CM_128_HMAC_SHA1_80", key_in], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    return bind


def test_srtp_in_plain_out(call_env):
    sbc, uas, uac = call_env()
    uac.invite(crypto=[CRYPTO_A])
    final = uac.wait_final()
    assert status(final) == 200, sbc.log()[-3000:]
    # toward the SRTP-off trunk: plain RTP/AVP without crypto
    assert "a=crypto" not in body(uas.invite) and sdp_media(body(uas.invite))[2] == "RTP/AVP"
    # toward the caller: RTP/SAVP with our own key on the offered tag and suite
    fb = body(final)
    m = re.search(r"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:(\S+)", fb)
    assert sdp_media(fb)[2] == "RTP/SAVP" and m and m.group(1) not in CRYPTO_A
    assert "inline:" not in sbc.log()
    uac.ack(final)
    if SRTP_PEER.exists():
        # real SRTP from the caller, decrypted by sbc-media, plain at the callee
        aip, aport, _ = sdp_media(fb)
        bind = send_srtp_from_caller(uac, aip, aport)
        uas.rtp.settimeout(2)
        got = []
        for _ in range(5):
            d, src = uas.rtp.recvfrom(2048)
            got.append(d)
        for i, d in enumerate(sorted(got, key=lambda x: x[2:4])):
            assert len(d) == 12 + 160 and d[12:] == bytes((i * 3 + k) & 0xff for k in range(160))
        # and back: plain from the callee, SRTP with the key we answered to the caller
        key_out = base64.b64decode(m.group(1)).hex()
        rcv = subprocess.Popen([str(SRTP_PEER), "recv", bind, "5", "4000", "AES_CM_128_HMAC_SHA1_80", key_out],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert rcv.stdout.readline().strip() == "READY"
        for d in got:
            uas.rtp.sendto(d, src)
        out, err = rcv.communicate(timeout=10)
        res = json.loads(out.strip().splitlines()[-1])
        assert res["ok"] == 5 and res["auth_fail"] == 0, (res, err)
    assert status(uac.bye(final)) == 200


@pytest.mark.parametrize("method,params,expect", [
    ("trunk.update", {"name": "demo-in", "srtp_inbound": {"mode": "required"}}, 488),  # no crypto offered
    ("trunk.update", {"name": "demo-in", "cidrs": ["10.9.9.9/32"]}, 403),  # the caller is no trunk's
    ("route.remove", {"prefix": ""}, 404),  # no route
], ids=["required_srtp_without_crypto_488", "unknown_source_403", "no_route_404"])
def test_refused_before_any_b_leg(call_env, method, params, expect):
    sbc, uas, uac = call_env()
    sbc.rpc(method, params)
    sbc.signal_synced()  # the worker's view of the store
    uac.invite()
    assert status(uac.wait_final()) == expect
    assert uas.invite is None


def test_unknown_source_dropped_by_setting(call_env):
    # signal.unknown_sources "drop": no answer at all, but counted
    sbc, uas, uac = call_env(unknown_sources="drop")
    sbc.rpc("trunk.update", {"name": "demo-in", "cidrs": ["10.9.9.9/32"]})
    sbc.signal_synced()
    uac.invite()
    with pytest.raises(AssertionError, match="no final response"):
        uac.wait_final(timeout=2)
    assert uac.got == [] and uas.invite is None
    udp = sbc.rpc("stats.get")["signal"][0]["stats"]["udp"]
    assert udp.get("unknown_dropped", 0) >= 1 and udp.get("forbidden", 0) == 0, udp


def test_failover_on_503(call_env):
    sbc, uas1, uac = call_env(plan="503")
    uas2 = Uas("answer")
    try:
        sbc.add_failover(uas2.port)
        uac.invite()
        final = uac.wait_final()
        assert status(final) == 200, sbc.log()[-3000:]
        assert uas1.invite is not None and uas2.invite is not None
        assert hdr(uas1.invite, "Call-ID") != hdr(uas2.invite, "Call-ID")
        # the 503 was ACKed by the transaction (uas1 reads in its own thread,
        # which a loaded box may run after the 200 reached the caller)
        wait_for(lambda: uas1.requests("ACK"), timeout=3, what="ACK of the 503 at uas1")
        uac.ack(final)
        assert status(uac.bye(final)) == 200
    finally:
        uas2.close()


def test_cancel_before_answer(call_env):
    sbc, uas, uac = call_env(plan="ring")
    uac.invite()
    uac.recv_until(lambda d: status(d) == 180)
    uac.cancel()
    final = uac.wait_final()
    assert status(final) == 487
    wait = time.monotonic() + 3
    while not uas.requests("CANCEL") and time.monotonic() < wait:
        time.sleep(0.05)
    cancel = uas.requests("CANCEL")
    assert cancel and hdr(cancel[0], "Call-ID") == hdr(uas.invite, "Call-ID")


def test_bye_from_callee(call_env):
    sbc, uas, uac = call_env(plan="bye")
    final = uac.answered()
    bye = uac.recv_until(lambda d: d.startswith(b"BYE "))
    assert hdr(bye, "Call-ID") == uac.callid and str(uas.port) not in bye.decode()
    wait = time.monotonic() + 3
    while not [r for r in uas.responses() if "BYE" in (hdr(r, "CSeq") or "")] and time.monotonic() < wait:
        time.sleep(0.05)
    assert [r for r in uas.responses() if "BYE" in hdr(r, "CSeq") and status(r) == 200]


def send_stream(sock, pkt, dst, count=5):
    """Media is a stream: the relay may apply an UPDATE a moment after the SIP
    message that caused it went out, so send a few packets 20 ms apart, as a
    phone would, rather than betting on the first one."""
    for i in range(count):
        sock.sendto(pkt[:2] + bytes([0, pkt[3] + i]) + pkt[4:], dst)
        time.sleep(0.02)


def reaches(uac, dst, sock, word):
    """A short RTP stream from the caller to dst (the relay) arrives at sock
    (the callee's media socket) with its payload intact."""
    pkt = bytes([0x80, 0x00, 0x00, len(word)]) + b"\x00" * 8 + word * 8
    sock.settimeout(2)
    send_stream(uac.rtp, pkt, dst)
    got, _ = sock.recvfrom(2048)
    return got[12:] == pkt[12:]


def test_early_media_183_with_sdp(call_env):
    sbc, uas, uac = call_env(plan="early")
    uac.invite()
    early = uac.recv_until(lambda d: status(d) == 183)
    eip, eport, _ = sdp_media(body(early))
    assert eip == "127.0.0.1" and sbc.mbase <= eport < sbc.mbase + 60
    # media flows before the answer: caller -> relay -> callee
    assert reaches(uac, (eip, eport), uas.rtp, b"ringback")
    final = uac.wait_final()
    assert status(final) == 200 and sdp_media(body(final))[1] == eport
    uac.ack(final)
    assert status(uac.bye(final)) == 200


def test_answer_moves_the_early_media(call_env):
    """183 with SDP, then a 200 whose SDP puts the callee's media elsewhere
    (an announcement first, then the called party; or another fork): the
    relay follows the answer, the caller's side stays where it was."""
    sbc, uas, uac = call_env(plan="early2")
    uac.invite()
    early = uac.recv_until(lambda d: status(d) == 183)
    final = uac.wait_final()
    assert status(final) == 200, sbc.log()[-3000:]
    uac.ack(final)
    aip, aport, _ = sdp_media(body(final))
    assert aport == sdp_media(body(early))[1]
    assert reaches(uac, (aip, aport), uas.rtp2, b"answered")
    assert status(uac.bye(final)) == 200


def test_failover_after_early_media(call_env):
    """The first trunk sent 183 with SDP, then 503: the next trunk's answer
    sets the media up anew (not the given-up trunk's early SDP)."""
    sbc, uas1, uac = call_env(plan="early503")
    uas2 = Uas("answer")
    try:
        sbc.add_failover(uas2.port)
        final = uac.answered()
        assert uas1.invite is not None and uas2.invite is not None
        aip, aport, _ = sdp_media(body(final))
        assert reaches(uac, (aip, aport), uas2.rtp, b"failover")
        assert status(uac.bye(final)) == 200
    finally:
        uas2.close()


def test_over_call_limit_503(call_env):
    sbc, uas, uac = call_env()
    sbc.rpc("trunk.update", {"name": "demo-in", "max_calls": 1})
    sbc.signal_synced()
    final = uac.answered()
    second = Uac(sbc.port)
    try:
        second.invite()
        busy = second.wait_final()
        assert status(busy) == 503 and int(hdr(busy, "Retry-After")) >= 1
        assert len(uas.requests("INVITE")) == 1
    finally:
        second.close()
    assert status(uac.bye(final)) == 200
    # the slot is free again
    third = Uac(sbc.port)
    try:
        third.invite()
        f3 = third.wait_final()
        assert status(f3) == 200
        third.ack(f3)
        assert status(third.bye(f3)) == 200
    finally:
        third.close()


def test_media_timeout_ends_call_with_bye_on_both_legs(call_env):
    sbc, uas, uac = call_env(rtp_timeout_ms=1000)
    final = uac.answered()
    # no RTP at all: sbc-media reports the timeout, sbc-signal sends BYE both ways
    bye = uac.recv_until(lambda d: d.startswith(b"BYE "), timeout=8)
    assert hdr(bye, "Call-ID") == uac.callid
    wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")


def test_reinvite_hold_and_resume(call_env):
    sbc, uas, uac = call_env()
    final = uac.answered()
    relay_a = sdp_media(body(final))[1]
    relay_b = sdp_media(body(uas.invite))[1]
    # hold: a=sendonly from the caller reaches the callee on its own dialog
    held = uac.reinvite(final, "sendonly", cseq=3)
    assert status(held) == 200 and "a=recvonly" in body(held)
    assert sdp_media(body(held))[1] == relay_a and str(uas.rtp_port) not in body(held)
    re_b = [m for m in uas.requests("INVITE") if hdr(m, "CSeq") != hdr(uas.invite, "CSeq")]
    assert len(re_b) == 1 and "a=sendonly" in body(re_b[0])
    assert hdr(re_b[0], "Call-ID") == hdr(uas.invite, "Call-ID") and leaked(re_b[0], uac) is None
    assert sdp_media(body(re_b[0]))[1] == relay_b
    wait_for(lambda: len(uas.requests("ACK")) == 2, timeout=3, what="ACK of the re-INVITE at the callee")
    # resume
    res = uac.reinvite(final, "sendrecv", cseq=4)
    assert status(res) == 200 and "a=sendrecv" in body(res)
    # media still flows after the re-INVITEs
    assert reaches(uac, ("127.0.0.1", relay_a), uas.rtp, b"resumed")
    assert status(uac.bye(final)) == 200


def test_failover_on_no_response(call_env):
    sbc, uas1, uac = call_env(plan="silent")
    uas2 = Uas("answer")
    try:
        sbc.add_failover(uas2.port)
        t0 = time.monotonic()
        uac.invite()
        final = uac.wait_final(timeout=15)
        took = time.monotonic() - t0
        assert status(final) == 200 and 2.5 < took < 10, (took, sbc.log()[-2000:])
        assert len(uas1.requests("INVITE")) >= 2  # retransmitted over UDP (Timer A) before giving up
        assert uas2.invite is not None
        uac.ack(final)
        assert status(uac.bye(final)) == 200
    finally:
        uas2.close()


def test_hostile_messages_then_a_normal_call(call_env):
    """Malformed or out-of-place SIP through the B2BUA path (trunks
    configured): answered or dropped, never fatal; a call still goes
    through afterwards."""
    sbc, uas, uac = call_env()
    s = uac.sock
    base = ("{m} sip:4930123456@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK{b}\r\n"
            "From: <sip:x@127.0.0.1>;tag=f{b}\r\nTo: <sip:4930123456@127.0.0.1>{tt}\r\nCall-ID: h{b}\r\n"
            "CSeq: 1 {m}\r\nMax-Forwards: 70\r\n{extra}Content-Length: {n}\r\n\r\n{body}")

    def msg(m, b, tt="", extra="", body_text=""):
        return base.format(m=m, p=uac.port, b=b, tt=tt, extra=extra, n=len(body_text.encode()),
                           body=body_text).encode()

    bad_sdp = ["v=0\r\n", "garbage", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 host.example\r\nt=0 0\r\n"
               "m=audio 4000 RTP/AVP 0\r\n", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"
               + "m=audio 4000 RTP/AVP 0\r\n" * 12,
               "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n"
               "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:!!!!\r\n"]
    msgs = [msg("INVITE", f"sdp{i}", extra="Content-Type: application/sdp\r\n", body_text=b)
            for i, b in enumerate(bad_sdp)]
    msgs += [msg("INVITE", "nosdp"), msg("BYE", "bye1", tt=";tag=nope"), msg("CANCEL", "cx"),
             msg("ACK", "ack1", tt=";tag=x"), msg("INVITE", "reinv", tt=";tag=zz"),
             msg("UPDATE", "upd", tt=";tag=zz"), msg("INFO", "info"),
             b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKnothing\r\nFrom: <sip:a@b>;tag=1\r\n"
             b"To: <sip:c@d>;tag=2\r\nCall-ID: nothing\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
             b"SIP/2.0 180 x\r\n\r\n", b"INVITE\r\n\r\n", b"\x00" * 100, b"INVITE sip:a SIP/2.0\r\n" * 50,
             msg("INVITE", "mf", extra="Max-Forwards: 0\r\n").replace(b"Max-Forwards: 70\r\n", b""),
             msg("INVITE", "x" * 600)]
    for m in msgs:
        s.sendto(m, uac.dst)
    time.sleep(0.5)
    uac.got.clear()
    s.settimeout(0.2)
    try:
        while True:
            s.recvfrom(65536)
    except OSError:
        pass
    uac.invite()
    # this call's final response: the 4xx to the hostile INVITEs above come
    # again (Timer G: 0.5, 1.5, 3.5 s... until ACKed, never here), and on a
    # loaded box one can land after the drain, before the call's 200
    final = uac.recv_until(lambda d: status(d) >= 200 and hdr(d, "Call-ID") == uac.callid
                           and hdr(d, "CSeq").endswith("INVITE"), what="the call's final response")
    assert status(final) == 200, sbc.log()[-3000:]
    uac.ack(final)
    assert status(uac.bye(final)) == 200
    assert sbc.ctl.poll() is None
    assert sbc.log().count("sbc-signal") and sbc.log().count("started: 1 worker(s)") == 1  # never restarted


def test_crypto_in_answer_on_srtp_off_leg_488(call_env):
    # demo-out has SRTP off: an answer with a=crypto breaks its policy
    sbc, uas, uac = call_env(crypto=[CRYPTO_A])
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 488
    # the callee's 200 was ACKed and its dialog ended with BYE
    wait_for(lambda: uas.requests("ACK") and uas.requests("BYE"), timeout=3, what="ACK and BYE at the callee")


def test_srtp_both_legs_different_suites(call_env):
    sbc, uas, uac = call_env(crypto="mirror")
    sbc.rpc("trunk.update", {"name": "demo-out", "srtp_outbound": {"mode": "required",
                                                                    "suites": ["AEAD_AES_128_GCM"]}})
    sbc.signal_synced()
    uac.invite(crypto=[CRYPTO_A])
    final = uac.wait_final()
    assert status(final) == 200, sbc.log()[-3000:]
    offer_b = body(uas.invite)
    assert sdp_media(offer_b)[2] == "RTP/SAVP"
    assert re.findall(r"a=crypto:\d+ (\S+)", offer_b) == ["AEAD_AES_128_GCM"]
    fb = body(final)
    m = re.search(r"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:(\S+)", fb)
    assert m and sdp_media(fb)[2] == "RTP/SAVP"
    uac.ack(final)
    if SRTP_PEER.exists():
        # AES-CM in from the caller, AES-GCM out to the callee with the key we offered it (SDES: each
        # side's a=crypto is the key it sends with)
        aip, aport, _ = sdp_media(fb)
        ub = f"127.0.0.1:{uas.rtp_port}"
        uas.rtp.close()
        key_b = base64.b64decode(re.search(r"a=crypto:\d+ AEAD_AES_128_GCM inline:([^|\s]+)", offer_b).group(1)).hex()
        rcv = subprocess.Popen([str(SRTP_PEER), "recv", ub, "5", "4000", "AEAD_AES_128_GCM", key_b],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert rcv.stdout.readline().strip() == "READY"
        send_srtp_from_caller(uac, aip, aport)
        out, err = rcv.communicate(timeout=10)
        res = json.loads(out.strip().splitlines()[-1])
        assert res["ok"] == 5 and res["auth_fail"] == 0, (res, err)
    assert status(uac.bye(final)) == 200


def test_trunk_down_by_options_is_routed_around(call_env):
    sbc, uas1, uac = call_env()
    uas1.options = 503  # overloaded: 503 + Retry-After to our OPTIONS pings
    uas2 = Uas("answer", options=200)
    try:
        sbc.add_failover(uas2.port, wait=False)
        wait_for(lambda: uas1.requests("OPTIONS"), timeout=8, what="OPTIONS ping to demo-out")
        # its 503 + Retry-After holds demo-out; sent before our INVITE, it is
        # read first (one worker: one UDP socket, in arrival order)
        wait_for(lambda: any(m.startswith(b"SIP/2.0 503") for m in uas1.sent), timeout=5,
                 what="the 503 to the ping sent")
        sbc.signal_synced()  # and alt-out in the worker's view
        uac.invite()
        final = uac.wait_final()
        assert status(final) == 200
        assert uas1.invite is None and uas2.invite is not None  # demo-out not even tried
        ping = uas1.requests("OPTIONS")[0]
        assert hdr(ping, "Max-Forwards") == "70" and "127.0.0.1" in hdr(ping, "Via")
        assert "down" in sbc.log(), [ln for ln in sbc.log().splitlines() if "down" in ln]
        uac.ack(final)
        assert status(uac.bye(final)) == 200
    finally:
        uas2.close()


def test_trunk_destination_by_dns_name(procs, tmp_path):
    """A trunk whose destination is a DNS name: resolved per RFC 3263 by
    sbc-signal (our own DNS server on loopback: NAPTR -> SRV -> A)."""
    from test_signal_dns import DnsServer
    uas = Uas("answer")
    dns = DnsServer({("carrier.example", "NAPTR"): [(10, 10, "s", "SIP+D2U", "", "_sip._udp.carrier.example")],
                     ("_sip._udp.carrier.example", "SRV"): [(10, 0, uas.port, "gw.carrier.example")],
                     ("gw.carrier.example", "A"): ["127.0.0.1"]})
    uac = None
    try:
        sbc = Sbc(procs, tmp_path, free_port(), dns_servers=f"127.0.0.1:{dns.port}")
        uac = Uac(sbc.port)
        sbc.rpc("trunk.add", {"name": "named-out", "destinations": [{"host": "carrier.example"}],
                              "srtp_inbound": {"mode": "off"}, "srtp_outbound": {"mode": "off"}})
        sbc.rpc("route.add", {"prefix": "49", "trunk": "named-out"})
        sbc.signal_synced()
        uac.invite()
        final = uac.wait_final()
        assert status(final) == 200, sbc.log()[-2000:]
        assert uas.invite is not None and dns.queries[("carrier.example", "NAPTR")] >= 1
        assert uas.invite.split(b" ")[1].decode().endswith(f"@127.0.0.1:{uas.port}")
        uac.ack(final)
        assert status(uac.bye(final)) == 200
    finally:
        dns.close()
        uas.close()
        if uac:
            uac.close()


def test_two_signal_workers(procs, tmp_path):
    """With two workers, SO_REUSEPORT spreads datagrams by source: a call's
    messages that reach the other worker are forwarded to the call's one."""
    uas = Uas("bye")
    uacs = []
    try:
        sbc = Sbc(procs, tmp_path, uas.port, workers=2)
        for i in range(16):
            if i >= 8 and "message forwarded to worker" in sbc.log():
                break
            u = Uac(sbc.port)
            uacs.append(u)
            u.invite()
            final = u.wait_final()
            assert status(final) == 200, (i, sbc.log()[-2000:])
            u.ack(final)
            bye = u.recv_until(lambda d: d.startswith(b"BYE "))  # from the callee, through the B2BUA
            assert hdr(bye, "Call-ID") == u.callid
        wait_for(lambda: len([r for r in uas.responses() if "BYE" in (hdr(r, "CSeq") or "")]) == len(uacs),
                 timeout=5, what="every BYE answered")
        assert "message forwarded to worker" in sbc.log() and "ring full" not in sbc.log()
    finally:
        uas.close()
        for u in uacs:
            u.close()


def test_update_session_refresh_crosses(call_env):
    sbc, uas, uac = call_env()
    final = uac.answered()
    ok = uac.update(final)
    assert status(ok) == 200 and hdr(ok, "Session-Expires").startswith("1800")
    upd = uas.requests("UPDATE")
    assert len(upd) == 1 and hdr(upd[0], "Call-ID") == hdr(uas.invite, "Call-ID")
    assert hdr(upd[0], "Session-Expires").startswith("1800") and leaked(upd[0], uac) is None
    assert status(uac.bye(final)) == 200


def test_100rel_prack_crosses(call_env):
    sbc, uas, uac = call_env(plan="100rel")
    uac.invite()
    prov = uac.recv_until(lambda d: status(d) == 183)
    assert hdr(prov, "Require") == "100rel" and hdr(prov, "RSeq") == "7"
    assert sbc.mbase <= sdp_media(body(prov))[1] < sbc.mbase + 60
    ok = uac.prack(prov)
    assert status(ok) == 200
    pr = uas.requests("PRACK")
    assert len(pr) == 1 and hdr(pr[0], "RAck") == "7 1 INVITE"  # RSeq kept, the B leg's INVITE CSeq
    assert hdr(pr[0], "Call-ID") == hdr(uas.invite, "Call-ID") and leaked(pr[0], uac) is None
    final = uac.wait_final()
    assert status(final) == 200
    uac.ack(final)
    assert status(uac.bye(final)) == 200


def test_info_dtmf_crosses_other_bodies_refused(call_env):
    sbc, uas, uac = call_env()
    final = uac.answered()
    dtmf = "Signal=5\r\nDuration=160\r\n"
    assert status(uac.info(final, "application/dtmf-relay", dtmf)) == 200
    infos = uas.requests("INFO")
    assert len(infos) == 1 and body(infos[0]) == dtmf and hdr(infos[0], "Call-ID") == hdr(uas.invite, "Call-ID")
    # a body that might carry addresses does not cross
    assert status(uac.info(final, "application/xml", f"<a>{uac.ip}:{uac.port}</a>", cseq=7)) == 415
    assert len(uas.requests("INFO")) == 1
    assert status(uac.bye(final)) == 200


def test_reinvite_hold_from_callee(call_env):
    sbc, uas, uac = call_env(plan="reinv")
    final = uac.answered()
    reinv = uac.recv_until(lambda d: d.startswith(b"INVITE "))
    assert hdr(reinv, "Call-ID") == uac.callid and "a=sendonly" in body(reinv)
    assert str(uas.rtp_port) not in body(reinv) and str(uas.port) not in reinv.decode()
    ans = b2b_common.sdp(uac.ip, uac.rtp_port).replace("a=sendrecv", "a=recvonly")
    uac.sock.sendto(b2b_common.response(reinv, 200, "OK", None, f"Contact: <sip:alice@{uac.ip}:{uac.port}>", ans),
                    uac.dst)
    # our ACK comes back to the caller (not to the callee), the callee gets the answer
    ack = uac.recv_until(lambda d: d.startswith(b"ACK "))
    assert hdr(ack, "Call-ID") == uac.callid
    ok = wait_for(lambda: [r for r in uas.responses() if hdr(r, "CSeq") == "2 INVITE"], timeout=3,
                  what="200 to the callee's re-INVITE")
    assert status(ok[0]) == 200 and "a=recvonly" in body(ok[0]) and str(uac.rtp_port) not in body(ok[0])
    assert status(uac.bye(final)) == 200


def test_invite_on_a_connection_we_opened(call_env):
    """A carrier that sends a new INVITE over the TCP connection we opened
    toward it (connection reuse): a call like any other, no crash."""
    import socket as so
    sbc, uas, uac = call_env()
    srv = so.socket(so.AF_INET, so.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(5)
    try:
        sbc.rpc("trunk.add", {"name": "tcp-out", "destinations": [
            {"host": "127.0.0.1", "port": srv.getsockname()[1], "transport": "tcp"}],
            "srtp_inbound": {"mode": "off"}, "srtp_outbound": {"mode": "off"}})
        sbc.rpc("route.add", {"prefix": "49", "trunk": "tcp-out"})
        sbc.signal_synced()
        uac.invite()
        conn, _ = srv.accept()
        conn.settimeout(5)
        got = b""
        deadline = time.monotonic() + 5
        while b"INVITE sip:" not in got and time.monotonic() < deadline:  # an OPTIONS ping may come first
            got += conn.recv(65536)
        assert b"INVITE sip:" in got
        b = b2b_common.sdp("127.0.0.1", 40000)
        inv = (f"INVITE sip:4930777@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKrev1\r\n"
               f"From: <sip:carrier@127.0.0.1>;tag=rev\r\nTo: <sip:4930777@127.0.0.1>\r\nCall-ID: rev-1\r\n"
               f"CSeq: 1 INVITE\r\nContact: <sip:carrier@127.0.0.1:9;transport=tcp>\r\nMax-Forwards: 70\r\n"
               f"Content-Type: application/sdp\r\nContent-Length: {len(b)}\r\n\r\n{b}").encode()
        conn.sendall(inv)
        deadline = time.monotonic() + 5
        while b"Call-ID: rev-1" not in got and time.monotonic() < deadline:
            got += conn.recv(65536)
        # answered on that connection (the transport layer names no trunk for a connection we
        # opened, so today it is refused like an unknown source), never a crash
        rsp = got[got.rindex(b"SIP/2.0 "):]
        assert b"Call-ID: rev-1" in rsp and (rsp.startswith(b"SIP/2.0 100") or rsp.startswith(b"SIP/2.0 403"))
        assert sbc.log().count("started: 1 worker(s)") == 1
        conn.close()
    finally:
        srv.close()
