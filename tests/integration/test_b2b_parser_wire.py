"""Issue #5 item 1, the parser as the running process uses it (test_sip_parse
and test_sip_corpus take it apart in memory): an INVITE written the hard
but valid RFC 3261 / RFC 4475 way (folded header lines, white space around
the colon, several Via header lines and several values in one, compact and
mixed-case header names and parameters, a quoted display name with escaped
quotes, an escaped Request-URI user, IPv6 references) is a normal call with
every Via value answered back in order; a callee answering in compact,
lower-case headers is understood; and method names keep their case
("invite" is an extension method, not a call)."""
import re

import pytest

from b2b_common import call_env, hdr, sdp, status  # noqa: F401 (call_env: the env fixture)
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


def via_branches(msg):
    """Every Via value's branch, in order, over every Via/v header line."""
    text = msg.split(b"\r\n\r\n", 1)[0].decode()
    text = re.sub(r"\r\n[ \t]+", " ", text)  # unfold
    out = []
    for line in text.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() in ("via", "v"):
            out += re.findall(r"(?i)branch\s*=\s*([^;,\s]+)", value)
    return out


def test_tortuous_valid_invite_is_a_call(env):
    sbc, uas, uac = env()
    b = sdp("127.0.0.1", uac.rtp_port)
    msg = (f"INVITE sip:%34%39%33%30123456@127.0.0.1:{sbc.port};user=phone SIP/2.0\r\n"
           f"vIa  :  SIP/2.0/UDP 127.0.0.1:{uac.port};BRANCH=z9hG4bKtort1;rport\r\n"
           f"V: SIP / 2.0 / UDP [2001:db8::9:1]:5070;branch=z9hG4bKtort2;received=2001:db8::9:255,\r\n"
           f"   SIP/2.0/TCP proxy.example.net;branch=z9hG4bKtort3\r\n"
           f"Via: SIP/2.0/TLS [2001:db8::77];branch=z9hG4bKtort4\r\n"
           f"fRoM: \"Al \\\"the\\\" \\\\ caller\"\r\n <sip:15550001111@127.0.0.1:{uac.port}>;TAG={uac.ftag}\r\n"
           f"t :\r\n\t<sip:4930123456@127.0.0.1>\r\n"
           f"i: {uac.callid}\r\n"
           f"CSEQ:    1\r\n  INVITE\r\n"
           f"Max-Forwards: 70\r\n"
           f"m: \"x\" <sip:alice@127.0.0.1:{uac.port};transport=udp>;expires=60\r\n"
           f"Subject: a folded\r\n subject line\r\n"
           f"X-Unknown-Header: ;;,,\"\\\"\r\n"
           f"c: application/sdp\r\nl: {len(b)}\r\n\r\n{b}")
    uac.sock.sendto(msg.encode(), uac.dst)
    uac.inv = msg.encode()
    final = uac.wait_final()
    assert status(final) == 200, (final, sbc.log()[-2000:])
    # every Via value back in order (RFC 3261 8.2.6.2), Call-ID and From tag kept
    assert via_branches(final) == ["z9hG4bKtort1", "z9hG4bKtort2", "z9hG4bKtort3", "z9hG4bKtort4"], final
    # Call-ID kept; From copied as it came, its folded line included (RFC 3261 8.2.6.2)
    assert hdr(final, "Call-ID") == uac.callid
    frm = re.search(rb"\r\n(?:From|f)\s*:(.*?)\r\n(?![ \t])", final, re.I | re.S)
    assert frm and f"TAG={uac.ftag}".encode() in frm.group(1), final
    # the callee got a plain INVITE: the number unescaped, nothing of the
    # caller's Via values, IPv6 references or Subject; the calling name
    # (display name, b2b_call.h) crosses whole, its escapes kept
    inv = uas.invite
    assert inv.split(b" ")[1].decode().startswith("sip:4930123456@")
    for leak in (b"2001:db8", b"tort", b"proxy.example.net", b"folded", b"X-Unknown"):
        assert leak not in inv, (leak, inv)
    assert hdr(inv, "From").startswith('"Al \\"the\\" \\\\ caller" <sip:15550001111@'), hdr(inv, "From")
    # the dialog works: ACK and BYE (built from the folded From/To/Contact)
    uac.ack(final)
    wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
    assert status(uac.bye(final)) == 200
    wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")


def test_callee_answering_in_compact_lower_case(env):
    sbc, uas, uac = env()
    # the callee's responses in compact and lower-case header names
    send = uas.send

    def compact(d):
        head, sep, rest = d.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        short = {b"via": b"v", b"from": b"f", b"to": b"t", b"call-id": b"i", b"contact": b"m",
                 b"content-type": b"c", b"content-length": b"l"}
        out = [lines[0]]
        for ln in lines[1:]:
            name, _, value = ln.partition(b":")
            out.append(short.get(name.lower(), name.lower()) + b": " + value.strip())
        return b"\r\n".join(out) + sep + rest

    uas.send = lambda d: send(compact(d) if d.startswith(b"SIP/2.0") else d)
    final = uac.answered()
    assert hdr(final, "Call-ID") == uac.callid
    wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
    assert any(s.startswith(b"SIP/2.0 200") and b"\r\nt: " in s for s in uas.sent)  # it did answer compactly
    assert status(uac.bye(final)) == 200


def test_case_rules(env):
    """Case-insensitive: the URI scheme, the SIP version, header names and
    parameter names (RFC 3261 7.1, 7.3.1, 19.1.4); case-sensitive: the
    method. "invite" is an extension method token, never an INVITE: no call
    (sbc-signal's framing takes a start line without an upper-case method
    for garbage and drops the datagram; the full parser, test_sip_parse,
    reads it as an extension method)."""
    sbc, uas, uac = env()
    b = sdp("127.0.0.1", uac.rtp_port)

    def invite(method, ruri, version, branch):
        return (f"{method} {ruri} {version}\r\n"
                f"via: sip/2.0/udp 127.0.0.1:{uac.port};BRANCH={branch};RPORT\r\n"
                f"FROM: <sip:15550001111@127.0.0.1>;TAG={uac.ftag}\r\nTO: <sip:4930123456@127.0.0.1>\r\n"
                f"CALL-ID: {uac.callid}-{branch}\r\nCSEQ: 1 {method}\r\nMAX-FORWARDS: 70\r\n"
                f"CONTACT: <SIP:alice@127.0.0.1:{uac.port}>\r\n"
                f"CONTENT-TYPE: application/sdp\r\nCONTENT-LENGTH: {len(b)}\r\n\r\n{b}").encode()

    lower = invite("invite", f"sip:4930123456@127.0.0.1:{sbc.port}", "SIP/2.0", "z9hG4bKlower1")
    uac.sock.sendto(lower, uac.dst)
    with pytest.raises(AssertionError, match="no final response"):
        uac.wait_final(timeout=1.5)
    assert uas.invite is None
    assert sbc.rpc("stats.get")["signal"][0]["stats"]["calls"]["started"] == 0
    # upper-case scheme, lower-case version and Via, upper-case names and parameters: a call
    inv = invite("INVITE", f"SIP:4930123456@127.0.0.1:{sbc.port}", "sip/2.0", "z9hG4bKupper1")
    uac.sock.sendto(inv, uac.dst)
    uac.inv = inv
    uac.callid += "-z9hG4bKupper1"
    final = uac.wait_final()
    assert status(final) == 200, (final, sbc.log()[-2000:])
    assert uas.invite.split(b" ")[1].decode().startswith("sip:4930123456@")
    uac.ack(final)
    assert status(uac.bye(final)) == 200
