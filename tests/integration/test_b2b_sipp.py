"""Issue #5 item 8's call list with SIPp as the calling carrier, over UDP and
over TLS (Debian's SIPp has no TLS: it speaks TCP to a local stunnel4 in
client mode, which is the real TLS peer of sbc-signal's TLS listener). Each
scenario (XML below) checks what SIPp receives (statuses in order, and
regular expressions on SDP and headers: check_it fails the call), and each
test checks what the called carrier (the python Uas behind demo-out)
received: SDP on sbc-media's addresses and nothing of SIPp's (topology
hiding). The plain basic call is test_b2b_calls::test_sipp_basic_call (UDP)
and test_b2b_tls::test_sipp_call_over_tls (TLS)."""
import re
import shutil
import subprocess

import pytest

from b2b_common import Sbc, Uac, Uas, body, hdr, sdp_media, status
from conftest import BUILD, free_port, free_port_range, wait_for
from test_b2b_calls import CRYPTO_A
from test_signal_common import no_sanitizer_reports, stunnel_client  # noqa: F401

pytestmark = pytest.mark.skipif(
    not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media"))
    or not shutil.which("sipp") or not shutil.which("stunnel4"),
    reason="binaries, sipp or stunnel4 missing")

HEAD = """Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:15550001111@[local_ip]:[local_port]>;tag=sipptag[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>{totag}
Call-ID: [call_id]
CSeq: {cseq}
Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
User-Agent: sipp-secret-agent"""

SDP = """v=0
o=sipp 1 {ver} IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] {proto} 0 101
{crypto}a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a={dir}
"""


def invite(cseq=1, totag="", proto="RTP/AVP", crypto="", direction="sendrecv"):
    sdp = SDP.format(ver=cseq, proto=proto, crypto=crypto, dir=direction)
    return ("<send retrans=\"500\"><![CDATA[\nINVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n"
            + HEAD.format(totag=totag, cseq=f"{cseq} INVITE")
            + "\nContent-Type: application/sdp\nContent-Length: [len]\n\n" + sdp + "]]></send>\n")


def request(method, cseq, via=None, totag="[peer_tag_param]"):
    """ACK, BYE, CANCEL; via: "[last_Via:]" for the INVITE's own
    transaction (CANCEL, ACK of a non-2xx)."""
    h = HEAD.format(totag=totag, cseq=f"{cseq} {method}")
    if via:
        h = h.replace("Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]", via)
    return (f"<send><![CDATA[\n{method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n{h}\n"
            "Content-Length: 0\n\n]]></send>\n")


VARS = []  # every ereg's variable, named in each scenario's <Reference> (SIPp refuses unused ones)


def expect(code, *regexps, optional=False, header=None):
    """A response with that code whose body (or header's value) matches
    every regexp, else SIPp fails the call."""
    acts = ""
    where = f'search_in="hdr" header="{header}"' if header else 'search_in="body"'
    for r in regexps:
        VARS.append(f"x{len(VARS)}")
        acts += f'<ereg regexp="{r}" {where} check_it="true" assign_to="{VARS[-1]}"/>'

    opt = ' optional="true"' if optional else ""
    return (f'<recv response="{code}"{opt}>' + (f"<action>{acts}</action>" if acts else "") + "</recv>\n")


def scenario(*steps):
    used = sorted({v for st in steps for v in re.findall(r'assign_to="(x[0-9]+)"', st)})
    ref = f'<Reference variables="{",".join(used)}"/>\n' if used else ""
    return ('<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="b2b">\n' + "".join(steps) + ref
            + "</scenario>\n")


PROVISIONAL = expect(100, optional=True) + expect(180, optional=True) + expect(183, optional=True)
ANSWERED_THEN_BYE = (request("ACK", 1) + '<pause milliseconds="100"/>\n' + request("BYE", 2) + expect(200))
CRYPTO_LINE = f"a=crypto:{CRYPTO_A}\n"
# the offer's relay port: sbc-media's range, not SIPp's media port
SAVP_ANSWER = r"m=audio [0-9]+ RTP/SAVP 0 101"
AVP_ANSWER = r"m=audio [0-9]+ RTP/AVP 0 101"


def refused(code, header=None):
    """The call refused with code (header: (name, regexp) its value must match)."""
    return scenario(invite(), PROVISIONAL, expect(code, header[1], header=header[0]) if header else expect(code),
                    request("ACK", 1, via="[last_Via:]", totag="[peer_tag_param]"))


SCENARIOS = {
    # SRTP from the caller, plain toward demo-out (SRTP off)
    "srtp_in_rtp_out": scenario(invite(proto="RTP/SAVP", crypto=CRYPTO_LINE), PROVISIONAL,
                                expect(200, SAVP_ANSWER, r"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"),
                                ANSWERED_THEN_BYE),
    # plain from the caller, SRTP toward demo-out (required)
    "rtp_in_srtp_out": scenario(invite(), PROVISIONAL, expect(200, AVP_ANSWER), ANSWERED_THEN_BYE),
    "srtp_both_legs_different_suites": scenario(
        invite(proto="RTP/SAVP", crypto=CRYPTO_LINE), PROVISIONAL,
        expect(200, SAVP_ANSWER, r"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"), ANSWERED_THEN_BYE),
    "required_srtp_without_crypto_488": refused(488),
    "crypto_in_answer_on_srtp_off_leg_488": refused(488),
    "failover_on_503": scenario(invite(), PROVISIONAL, expect(200, AVP_ANSWER), ANSWERED_THEN_BYE),
    "failover_on_timeout": scenario(invite(), PROVISIONAL, expect(200, AVP_ANSWER), ANSWERED_THEN_BYE),
    "cancel_before_answer": scenario(invite(), expect(100, optional=True), expect(180),
                                     request("CANCEL", 1, via="[last_Via:]", totag=""), expect(200),
                                     expect(487), request("ACK", 1, via="[last_Via:]")),
    "reinvite_hold_and_resume": scenario(
        invite(), PROVISIONAL, expect(200), request("ACK", 1),
        invite(2, "[peer_tag_param]", direction="sendonly"), expect(100, optional=True), expect(200, "a=recvonly"),
        request("ACK", 2),
        invite(3, "[peer_tag_param]", direction="sendrecv"), expect(100, optional=True), expect(200, "a=sendrecv"),
        request("ACK", 3), request("BYE", 4), expect(200)),
    "bye_from_callee": scenario(
        invite(), PROVISIONAL, expect(200), request("ACK", 1), '<recv request="BYE"/>\n',
        "<send><![CDATA[\nSIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\n"
        "Content-Length: 0\n\n]]></send>\n"),
    "over_limit_503": refused(503, ("Retry-After:", "^ *[1-9]")),
    "unknown_source_403": refused(403),
}

# per scenario: the callee's plan and crypto, and the trunk changes before SIPp starts
SETUP = {
    "srtp_in_rtp_out": ("answer", None, []),
    "rtp_in_srtp_out": ("answer", "mirror", [("trunk.update", {"name": "demo-out", "srtp_outbound": {
        "mode": "required", "suites": ["AES_CM_128_HMAC_SHA1_80"]}})]),
    "srtp_both_legs_different_suites": ("answer", "mirror", [("trunk.update", {"name": "demo-out", "srtp_outbound": {
        "mode": "required", "suites": ["AEAD_AES_128_GCM"]}})]),
    "required_srtp_without_crypto_488": ("answer", None, [("trunk.update", {"name": "demo-in", "srtp_inbound": {
        "mode": "required"}})]),
    "crypto_in_answer_on_srtp_off_leg_488": ("answer", [CRYPTO_A], []),
    "failover_on_503": ("503", None, "failover"),
    "failover_on_timeout": ("silent", None, "failover"),
    "cancel_before_answer": ("ring", None, []),
    "reinvite_hold_and_resume": ("answer", None, []),
    "bye_from_callee": ("bye", None, []),
    "over_limit_503": ("answer", None, [("trunk.update", {"name": "demo-in", "max_calls": 1})]),
    "unknown_source_403": ("answer", None, [("trunk.update", {"name": "demo-in", "cidrs": ["10.9.9.9/32"]})]),
}


def not_leaked(msg, sipp_port):
    """Nothing of SIPp's in a message the callee got: its From tag, User-
    Agent, Contact user, Call-ID (SIPp's contain "///" with the pid) and,
    over UDP, its port (over TLS SIPp's own port faces stunnel only)."""
    text = msg.decode(errors="replace")
    for needle in ("sipptag", "sipp-secret-agent", "sipp@", "///"):
        assert needle not in text, (needle, text)
    assert not sipp_port or not re.search(rf":{sipp_port}\b", text), (sipp_port, text)


@pytest.mark.parametrize("transport", ["udp", "tls"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_sipp_call(procs, tmp_path, name, transport):
    plan, crypto, changes = SETUP[name]
    uas = Uas(plan, crypto)
    uas2 = Uas("answer") if changes == "failover" else None
    holder = None
    try:
        sbc = Sbc(procs, tmp_path, uas.port)
        if uas2:
            sbc.add_failover(uas2.port)
        else:
            for method, params in changes:
                sbc.rpc(method, params)
            sbc.signal_synced()
        if name == "over_limit_503":  # the one call demo-in may have, held by another caller
            holder = Uac(sbc.port)
            holder.answered()
        (tmp_path / "scen.xml").write_text(SCENARIOS[name])
        if transport == "tls":
            target, tflag, lport = f"127.0.0.1:{stunnel_client(procs, tmp_path, sbc.tls_port)}", ["-t", "t1"], None
        else:
            lport = free_port()
            target, tflag = f"127.0.0.1:{sbc.port}", ["-p", str(lport)]
        r = subprocess.run(["sipp", "-sf", str(tmp_path / "scen.xml"), target, "-s", "4930123456", "-m", "1",
                            "-i", "127.0.0.1", "-mp", str(free_port_range(8)), "-timeout", "20", "-nostdin",
                            "-trace_stat", "-stf", str(tmp_path / "stat.csv"), "-trace_err", "-trace_msg"] + tflag,
                           capture_output=True, text=True, timeout=40, cwd=tmp_path)
        msgs = "".join(p.read_text(errors="replace")[-3000:] for p in tmp_path.glob("*_messages.log"))
        errs = "".join(p.read_text(errors="replace")[-2000:] for p in tmp_path.glob("*_errors.log"))
        assert r.returncode == 0, (r.stdout[-1500:], errs, msgs, sbc.log()[-2000:])
        stat = (tmp_path / "stat.csv").read_text().splitlines()
        head, last = stat[0].split(";"), stat[-1].split(";")
        assert int(last[head.index("SuccessfulCall(C)")]) == 1, (stat, msgs)

        # what the called carrier(s) got
        inv = uas.invite
        sipp_port = lport or 0
        if name in ("required_srtp_without_crypto_488", "unknown_source_403", "over_limit_503"):
            assert inv is None or name == "over_limit_503" and len(uas.requests("INVITE")) == 1
            return
        if name.startswith("failover"):
            assert inv is not None and uas2.invite is not None  # tried, then the next route
            inv = uas2.invite
        assert inv is not None
        for m, _ in uas.got + (uas2.got if uas2 else []):
            not_leaked(m, sipp_port)
        ip, port, proto = sdp_media(body(inv))
        assert ip == "127.0.0.1" and sbc.mbase <= port < sbc.mbase + 60, body(inv)
        offer_crypto = re.findall(r"a=crypto:\d+ (\S+)", body(inv))
        if name == "rtp_in_srtp_out":
            assert proto == "RTP/SAVP" and offer_crypto == ["AES_CM_128_HMAC_SHA1_80"]
        elif name == "srtp_both_legs_different_suites":
            assert proto == "RTP/SAVP" and offer_crypto == ["AEAD_AES_128_GCM"]
        else:
            assert proto == "RTP/AVP" and offer_crypto == []
        if name == "crypto_in_answer_on_srtp_off_leg_488":
            wait_for(lambda: uas.requests("ACK") and uas.requests("BYE"), timeout=3, what="ACK and BYE at the callee")
        elif name == "cancel_before_answer":
            wait_for(lambda: uas.requests("CANCEL"), timeout=3, what="CANCEL at the callee")
            assert hdr(uas.requests("CANCEL")[0], "Call-ID") == hdr(inv, "Call-ID")
        elif name == "reinvite_hold_and_resume":
            reinvs = [m for m in uas.requests("INVITE") if hdr(m, "CSeq") != hdr(inv, "CSeq")]
            dirs = [re.findall(r"a=(sendonly|sendrecv|recvonly|inactive)", body(m)) for m in reinvs]
            assert dirs == [["sendonly"], ["sendrecv"]], dirs
            assert all(hdr(m, "Call-ID") == hdr(inv, "Call-ID") for m in reinvs)
            wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")
        elif name == "bye_from_callee":
            wait_for(lambda: [m for m in uas.responses() if "BYE" in (hdr(m, "CSeq") or "") and status(m) == 200],
                     timeout=3, what="200 to the callee's BYE")
        else:
            wait_for(lambda: (uas2 or uas).requests("BYE"), timeout=3, what="BYE at the callee")
    finally:
        if holder:
            holder.close()
        uas.close()
        if uas2:
            uas2.close()


def test_sipp_call_mutual_tls(procs, tmp_path):
    """Item 8's mutual TLS: SIPp through stunnel4 presenting a client
    certificate, sbc-signal's profile requiring one; the calling trunk is
    named by that certificate alone (demo-in's addresses no longer cover
    127.0.0.1). One call answered and hung up by SIPp; the callee got it on
    sbc-media's address. The same SIPp through stunnel without a client
    certificate places no call."""
    from test_signal_common import Pki
    from test_signal_trunks import sbcctl
    k = Pki(tmp_path / "pki")
    k.ca("ca")
    k.leaf("srv", "ca", "ec", cn="127.0.0.1", san="IP:127.0.0.1")
    k.leaf("client", "ca", "ec", cn="carrier-a.example", san="DNS:carrier-a.example", client=True)
    uas = Uas("answer")
    try:
        sbc = Sbc(procs, tmp_path, uas.port)
        sbcctl(sbc.sock, "tls", "update", "default", "--cert", k.p("srv.pem"), "--key", k.p("srv.key"),
               "--ca", k.p("ca.pem"), "--require-client-cert")
        sbcctl(sbc.sock, "trunk", "add", "carrier-a", "--cert-san", "carrier-a.example",
               "--dest", "tls:127.0.0.1:5999", "--tls-profile", "default", "--enable")
        sbc.rpc("trunk.update", {"name": "demo-in", "cidrs": ["127.0.0.9/32"]})
        sbc.signal_synced()

        def sipp(local, tag):
            (tmp_path / "scen.xml").write_text(SCENARIOS["reinvite_hold_and_resume"])
            return subprocess.run(["sipp", "-sf", str(tmp_path / "scen.xml"), f"127.0.0.1:{local}", "-t", "t1",
                                   "-s", "4930123456", "-m", "1", "-i", "127.0.0.1", "-mp", str(free_port_range(8)),
                                   "-timeout", "10", "-nostdin", "-trace_stat", "-stf", str(tmp_path / f"{tag}.csv")],
                                  capture_output=True, text=True, timeout=30, cwd=tmp_path)

        # the new profile is in use once a handshake with the client certificate works
        (tmp_path / "mtls").mkdir()
        local = stunnel_client(procs, tmp_path / "mtls", sbc.tls_port, k)
        r = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(sipp(local, "mtls")), timeout=15,
                     what="a SIPp call over mutual TLS")
        stat = (tmp_path / "mtls.csv").read_text().splitlines()
        assert int(stat[-1].split(";")[stat[0].split(";").index("SuccessfulCall(C)")]) == 1, (r.stdout[-1000:], stat)
        invs = uas.requests("INVITE")
        assert invs and sbc.mbase <= sdp_media(body(invs[0]))[1] < sbc.mbase + 60
        for m, _ in uas.got:
            not_leaked(m, 0)
        n = len(invs)
        # without a client certificate: refused in the handshake, no call
        (tmp_path / "anon").mkdir()
        anon = stunnel_client(procs, tmp_path / "anon", sbc.tls_port)
        r = sipp(anon, "anon")
        assert r.returncode != 0 and len(uas.requests("INVITE")) == n
    finally:
        uas.close()
