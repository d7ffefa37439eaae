"""Issue #5 item 1, "IPv6 references" at the running process: a call whose
signalling runs over IPv6 on both legs (a caller on [::1] toward an [::1]
listener, a trunk toward an [::1] gateway; the media stay on sbc-media's
IPv4 address). What sbc-signal builds carries bracketed references
(Request-URI, Via sent-by, Contact) and what it reads from the carriers
(Via sent-by, Contact, rport) does too: the answer, ACK and BYE find their
way. test_sip_parse holds the parser's side in memory."""
import json
import re
import socket

import pytest

from b2b_common import Sbc, body, hdr, response, sdp, sdp_media, status
from conftest import BUILD, free_port, free_port_range, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class Sbc6(Sbc):
    """Sbc (b2b_common) with one more UDP listener on [::1]:port6."""

    def __init__(self, procs, tmp):
        from conftest import BUILD as build
        self.procs = procs
        self.port = free_port()
        self.port6 = free_port()
        mbase = free_port_range(20)
        self.data = tmp / "data"
        cfg = {"log_level": "debug", "data_dir": str(self.data), "store_path": str(self.data / "store"),
               "signal": {"workers": 1, "listen": [
                   {"transport": "udp", "address": f"127.0.0.1:{self.port}"},
                   {"transport": "udp", "address": f"[::1]:{self.port6}"}]},
               "media": {"workers": 1, "address": "127.0.0.1", "port_min": mbase, "port_max": mbase + 19,
                         "backend": "socket"},
               "demo": {"enabled": True, "outbound": "127.0.0.1:9", "inbound_cidr": "127.0.0.0/8"}}
        (tmp / "cfg.json").write_text(json.dumps(cfg))
        self.sock = self.data / "control.sock"
        self.ctl = procs.start("control", [str(build / "sbc-control"), "--config", str(tmp / "cfg.json"),
                                           "--data-dir", str(self.data)])
        wait_for(lambda: self.sock.exists() and self.options_ok() or self.ctl.poll() is not None,
                 timeout=20, what="sbc-control and sbc-signal")
        assert self.ctl.poll() is None, procs.log(self.ctl)
        self.mbase = mbase


def recv(sock, pred, timeout=5.0):
    sock.settimeout(timeout)
    while True:
        d, a = sock.recvfrom(65536)
        if pred(d):
            return d, a


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
def test_call_over_ipv6_signalling(procs, tmp_path):
    callee = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    caller = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        callee.bind(("::1", 0))
        caller.bind(("::1", 0))
        rtp.bind(("127.0.0.1", 0))
        uport, cport = callee.getsockname()[1], caller.getsockname()[1]
        sbc = Sbc6(procs, tmp_path)
        sbc.rpc("trunk.update", {"name": "demo-in", "cidrs": ["127.0.0.0/8", "::1/128"]})
        sbc.rpc("trunk.add", {"name": "v6-out", "destinations": [{"host": "::1", "port": uport, "transport": "udp"}],
                              "srtp_inbound": {"mode": "off"}, "srtp_outbound": {"mode": "off"}})
        sbc.rpc("route.add", {"prefix": "49", "trunk": "v6-out"})
        sbc.signal_synced()
        sbc6 = ("::1", sbc.port6)
        b = sdp("127.0.0.1", rtp.getsockname()[1])
        inv = (f"INVITE sip:4930123456@[::1]:{sbc.port6} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP [::1]:{cport};branch=z9hG4bKv6inv1;rport\r\n"
               f"From: <sip:15550001111@[::1]:{cport}>;tag=v6from\r\nTo: <sip:4930123456@[::1]>\r\n"
               f"Call-ID: v6-call-{cport}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@[::1]:{cport}>\r\n"
               f"Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {len(b)}\r\n\r\n{b}").encode()
        caller.sendto(inv, sbc6)
        # the callee's INVITE: every reference to us bracketed
        b_inv, b_src = recv(callee, lambda d: d.startswith(b"INVITE "))
        assert b_inv.split(b" ")[1].decode() == f"sip:4930123456@[::1]:{uport}", b_inv
        assert hdr(b_inv, "Via").startswith(f"SIP/2.0/UDP [::1]:{sbc.port6};branch="), hdr(b_inv, "Via")
        assert re.search(rf"<sip:[^>]*@\[::1\]:{sbc.port6}[;>]", hdr(b_inv, "Contact")), hdr(b_inv, "Contact")
        assert b"v6from" not in b_inv and str(cport).encode() not in b_inv
        assert sbc.mbase <= sdp_media(body(b_inv))[1] < sbc.mbase + 20
        callee.sendto(response(b_inv, 200, "OK", "v6uas", f"Contact: <sip:uas@[::1]:{uport}>",
                               sdp("127.0.0.1", rtp.getsockname()[1])), b_src)
        # the caller's 200, back to its IPv6 source
        ok, _ = recv(caller, lambda d: status(d) == 200 and "INVITE" in hdr(d, "CSeq"))
        assert hdr(ok, "Via").startswith(f"SIP/2.0/UDP [::1]:{cport};branch=z9hG4bKv6inv1")
        contact = hdr(ok, "Contact").strip("<>")
        assert re.match(rf"sip:[^@]*@\[::1\]:{sbc.port6}\b", contact), contact
        # ACK and BYE on the dialog: to the Contact we were given
        to = hdr(ok, "To")

        def req(method, cseq, branch):
            return (f"{method} {contact} SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:{cport};branch={branch};rport\r\n"
                    f"From: <sip:15550001111@[::1]:{cport}>;tag=v6from\r\nTo: {to}\r\nCall-ID: v6-call-{cport}\r\n"
                    f"CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()

        caller.sendto(req("ACK", 1, "z9hG4bKv6ack1"), sbc6)
        ack, _ = recv(callee, lambda d: d.startswith(b"ACK "))
        assert ack.split(b" ")[1].decode() == f"sip:uas@[::1]:{uport}"  # the callee's Contact
        caller.sendto(req("BYE", 2, "z9hG4bKv6bye2"), sbc6)
        bye, bsrc = recv(callee, lambda d: d.startswith(b"BYE "))
        assert hdr(bye, "Call-ID") == hdr(b_inv, "Call-ID")
        callee.sendto(response(bye, 200, "OK"), bsrc)
        done, _ = recv(caller, lambda d: status(d) == 200 and "BYE" in hdr(d, "CSeq"))
        assert hdr(done, "Call-ID") == f"v6-call-{cport}"
    finally:
        callee.close()
        caller.close()
        rtp.close()
