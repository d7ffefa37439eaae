"""Issue #5, four RFC gaps of the B2BUA's in-dialog handling, driven with
the python carriers of b2b_common over UDP (and TCP for item 2):

1. RFC 3311 5.2: an UPDATE with an offer while an offer/answer exchange is
   open gets 491 (we sent an offer not yet answered) or 500 with a
   Retry-After (we received one not yet answered), never 501 (the method
   is in our Allow).
2. RFC 3261 7.1 / 8.2.1: methods are case-sensitive; an unknown one
   (`invite`, `FOO`, `ack`) gets one "501 Not Implemented" with an Allow
   header, a known one we do not take (REGISTER, MESSAGE) one 405 with
   Allow, inside a dialog or outside, and none is relayed.
3. RFC 3261 9.2: a CANCEL of a pending re-INVITE gets 200, the re-INVITE
   487, the relayed copy is cancelled on the other leg, and the call stays
   up with the media as before the re-INVITE (RFC 3261 14.1).
4. RFC 4028 10 with RFC 3261 15.1.2: the session timer expiring while a
   refresh is being relayed answers that refresh 487 before the BYEs."""
import re
import socket
import time

import pytest

from b2b_common import Sbc, Uac, Uas, body, call_env, hdr, response, rtp_lands, rtp_port, sdp, sdp_media, status  # noqa: F401 (call_env: the env fixture)
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")

ALLOW = {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE", "PRACK", "INFO"}


def allow_of(msg):
    a = hdr(msg, "Allow")
    return {m.strip() for m in a.split(",")} if a else set()


def quiet_for(sock_recv, seconds=0.4):
    """Whatever else arrives within `seconds` (sock_recv returns bytes or
    raises socket.timeout)."""
    extra = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            extra.append(sock_recv())
        except socket.timeout:
            pass
    return extra


# ---- 2. methods are case-sensitive; unknown -> 501 + Allow, known not taken -> 405 ---


def bare_request(method, port, tp, callid, cseq=1, to_tag=None, cseq_method=None, branch=None):
    return (f"{method} sip:4930123456@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/{tp} 127.0.0.1:{port};branch={branch or 'z9hG4bK' + callid}\r\n"
            f"From: <sip:15550001111@127.0.0.1>;tag=f-{callid}\r\n"
            f"To: <sip:4930123456@127.0.0.1>{';tag=' + to_tag if to_tag else ''}\r\n"
            f"Call-ID: {callid}\r\nCSeq: {cseq} {cseq_method or method}\r\nMax-Forwards: 70\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


OUT_OF_DIALOG = [("invite", 501), ("Invite", 501), ("FOO", 501), ("ack", 501), ("REGISTER", 405),
                 ("MESSAGE", 405)]


@pytest.mark.parametrize("tp", ["udp", "tcp"])
def test_unknown_method_out_of_dialog(procs, tmp_path, tp):
    """One response each: 501 Not Implemented with Allow for a method we do
    not know (RFC 3261 7.1: `invite` is not INVITE), 405 with Allow for one
    we know and do not take (8.2.1); nothing reaches the called carrier."""
    uas = Uas("answer")
    try:
        sbc = Sbc(procs, tmp_path, uas.port)
        if tp == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.settimeout(3)
            send = lambda b: s.sendto(b, ("127.0.0.1", sbc.port))  # noqa: E731
            recv = lambda: s.recv(65536)  # noqa: E731
        else:
            s = socket.create_connection(("127.0.0.1", sbc.port), timeout=3)
            buf = [b""]

            def recv():
                while b"\r\n\r\n" not in buf[0]:
                    d = s.recv(65536)
                    if not d:
                        raise AssertionError("connection closed")
                    buf[0] += d
                head, rest = buf[0].split(b"\r\n\r\n", 1)
                n = int(hdr(head + b"\r\n", "Content-Length") or 0)
                msg, buf[0] = head + b"\r\n\r\n" + rest[:n], rest[n:]
                return msg
            send = s.sendall
        port = s.getsockname()[1]
        for method, want in OUT_OF_DIALOG:
            cid = f"unk-{tp}-{method}-{port}"
            send(bare_request(method, port, tp.upper(), cid))
            r = recv()
            assert status(r) == want and hdr(r, "Call-ID") == cid, (method, r)
            assert allow_of(r) == ALLOW, (method, r)
            assert hdr(r, "CSeq") == f"1 {method}", r
        s.settimeout(0.1)
        assert quiet_for(recv) == []  # one response per request
        assert not [m for m, _ in uas.got if not m.startswith(b"OPTIONS ")]
        s.close()
        assert sbc.options_ok()
    finally:
        uas.close()


def test_unknown_method_in_dialog(env):
    """Inside a confirmed dialog an unknown method (`FOO`, `ack`, `bye`) gets
    501 with Allow and is not relayed; the call goes on."""
    sbc, uas, uac = env()
    final = uac.answered()
    wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
    for cseq, method in ((4, "FOO"), (5, "ack"), (6, "bye")):
        r = uac._transaction(method, final, cseq)
        assert status(r) == 501 and allow_of(r) == ALLOW, (method, r)
    assert not [m for m, _ in uas.got if re.match(rb"(FOO|ack|bye) ", m)]
    assert len(uas.requests("ACK")) == 1 and not uas.requests("BYE")
    assert sbc.rpc("stats.get")["signal"][0]["stats"]["calls"]["active"] == 1
    assert status(uac.bye(final)) == 200
