"""Issue #5 items 1-3 on the running processes (sbc-control + sbc-signal +
sbc-media, python carriers over UDP/TCP): the clauses the other call tests
leave to unit tests only. Failover per final status (408 and 5xx to the
next route, 4xx/6xx relayed, a 503 with Retry-After holding its peer), the
CPS limit, OPTIONS health down and up again, topology hiding with the carriers on different addresses, session timers
on both legs, OPTIONS answered locally, the RFC 3261 timers over UDP and
none over TCP, a compact-form INVITE. Routing is test_b2b_routing's, PRACK
and UPDATE test_b2b_indialog's, a re-INVITE's SDP test_b2b_reinvite_sdp's."""
import re
import select
import socket
import time

import pytest

from b2b_common import Sbc, Uac, Uas, hdr, sdp, status
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


@pytest.fixture
def env(procs, tmp_path):
    """make(plan, **sbc_kw) -> (sbc, uas) with uas behind demo-out;
    peer(plan) another callee; caller(sbc) a calling carrier. All closed at
    the end."""
    made = []

    class Env:
        def make(self, plan="answer", **kw):
            uas = self.peer(plan)
            return Sbc(procs, tmp_path, uas.port, **kw), uas

        def peer(self, plan="answer", options=None):
            u = Uas(plan, options=options)
            made.append(u)
            return u

        def caller(self, sbc, ip="127.0.0.1"):
            u = Uac(sbc.port, ip)
            made.append(u)
            return u

    yield Env()
    for u in made:
        u.close()


def ack_non2xx(uac, final):
    """ACK of a non-2xx final response: the INVITE's Request-URI and branch,
    the response's To (RFC 3261 17.1.1.3)."""
    uac.sock.sendto(uac._request("ACK", final, 1, ruri=uac.inv.split(b" ")[1].decode(), branch="z9hG4bKuacinv1"),
                    uac.dst)


def quiet(uas, method, seconds=0.5):
    """No new request of method reaches uas for that long: returns how many
    it has."""
    n = len(uas.requests(method))
    time.sleep(seconds)
    assert len(uas.requests(method)) == n, uas.requests(method)[n:]
    return n


# ---- failover (item 2) ------------------------------------------------------------


@pytest.mark.parametrize("code", [408, 500, 504])
def test_failover_to_next_route_on(env, code):
    sbc, uas1 = env.make(f"final:{code}")
    uas2 = env.peer()
    sbc.add_failover(uas2.port)
    uac = env.caller(sbc)
    final = uac.answered()
    assert len(uas1.requests("INVITE")) == 1 and len(uas2.requests("INVITE")) == 1
    wait_for(lambda: uas1.requests("ACK"), timeout=3, what=f"ACK of the {code} at the first trunk")
    assert status(uac.bye(final)) == 200


@pytest.mark.parametrize("code", [486, 404, 603, 600])
def test_no_failover_final_relayed(env, code):
    """A 4xx other than 408 is the callee's answer, a 6xx a global one
    (never a failover after it): the caller gets it, the next route nothing."""
    sbc, uas1 = env.make(f"final:{code}")
    uas2 = env.peer()
    sbc.add_failover(uas2.port)
    uac = env.caller(sbc)
    uac.invite()
    final = uac.wait_final()
    assert status(final) == code
    ack_non2xx(uac, final)
    quiet(uas2, "INVITE")
    assert uas2.invite is None and len(uas1.requests("INVITE")) == 1


@pytest.mark.parametrize("retry_after", [None, 30], ids=["503", "503_retry_after"])
def test_503_retry_after_peer_not_tried_again(env, retry_after):
    """A 503 fails over either way; with Retry-After the peer that sent it
    is not sent the next call (RFC 3261 21.5.4), without it it is."""
    sbc, uas1 = env.make("final:503" + (f":{retry_after}" if retry_after else ""))
    uas2 = env.peer()
    sbc.add_failover(uas2.port)
    for i in range(2):
        uac = env.caller(sbc)
        final = uac.answered()
        assert status(uac.bye(final)) == 200
        assert len(uas2.requests("INVITE")) == i + 1
    assert len(uas1.requests("INVITE")) == (1 if retry_after else 2), sbc.log()[-2000:]


def test_every_route_held_503_not_404(env):
    """The only route's peer answered 503 with Retry-After: 30, so it is
    held: the next call has a route but no usable trunk. It gets 503 (the
    caller's carrier tries another), not 404 ("no such number"), and the
    held peer is not sent it."""
    sbc, uas = env.make("final:503:30")
    uac = env.caller(sbc)
    uac.invite()
    first = uac.wait_final()
    assert status(first) == 503
    ack_non2xx(uac, first)
    uac = env.caller(sbc)
    uac.invite()
    final = uac.wait_final()
    assert status(final) == 503, final
    ack_non2xx(uac, final)
    assert len(uas.requests("INVITE")) == 1


def test_invite_without_offer_is_taken(env):
    """An INVITE that starts a call without SDP (delayed offer) is no longer
    refused 488: it reaches the called carrier without SDP, whose offer
    comes back to the caller in our 200 (the whole exchange, SRTP and the
    error paths: test_b2b_delayed_offer)."""
    sbc, uas = env.make()
    uac = env.caller(sbc)
    uac.invite(body_text="")
    final = uac.wait_final()
    assert status(final) == 200, final
    assert uas.invite is not None and uas.invite.split(b"\r\n\r\n", 1)[1] == b""
    assert b"m=audio" in final.split(b"\r\n\r\n", 1)[1]


# ---- limits (item 2) ---------------------------------------------------------------


def test_over_cps_limit_503_retry_after(env):
    """max_cps 1 on the calling trunk: of three INVITEs sent at once (at
    most two one-second windows) one at least is refused 503 with
    Retry-After, and never reaches the called trunk."""
    sbc, uas = env.make()
    sbc.rpc("trunk.update", {"name": "demo-in", "max_cps": 1})
    sbc.signal_synced()
    uacs = [env.caller(sbc) for _ in range(3)]
    for u in uacs:
        u.invite()
    finals = [u.wait_final() for u in uacs]
    codes = sorted(status(f) for f in finals)
    assert codes.count(503) >= 1 and codes.count(200) >= 1 and set(codes) <= {200, 503}, codes
    for f in finals:
        if status(f) == 503:
            assert int(hdr(f, "Retry-After")) >= 1, f
    assert len(uas.requests("INVITE")) == codes.count(200)
    for u, f in zip(uacs, finals):
        if status(f) == 200:
            u.ack(f)
            assert status(u.bye(f)) == 200


# ---- OPTIONS (items 1 and 2) -------------------------------------------------------


def allow(msg):
    return {m.strip() for m in (hdr(msg, "Allow") or "").split(",") if m.strip()}


CARRIED = {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE", "PRACK", "INFO"}


def test_options_answered_locally(env):
    """An OPTIONS from a carrier, even to a routable number, and one inside
    a call, is answered by the SBC itself and never crosses to the other
    carrier; its Allow names every method the B2BUA carries across (a
    carrier sends UPDATE only to a peer that allows it, RFC 3311 5.1)."""
    sbc, uas = env.make()
    uac = env.caller(sbc)
    req = (f"OPTIONS sip:4930123456@127.0.0.1:{sbc.port} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{uac.port};branch=z9hG4bKopt1;rport\r\n"
           f"From: <sip:mon@127.0.0.1:{uac.port}>;tag=o1\r\nTo: <sip:4930123456@127.0.0.1>\r\n"
           f"Call-ID: opt-local-{uac.port}\r\nCSeq: 7 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    uac.sock.sendto(req.encode(), uac.dst)
    ok = uac.recv_until(lambda d: status(d) and hdr(d, "CSeq") == "7 OPTIONS")
    assert status(ok) == 200 and hdr(ok, "Call-ID") == f"opt-local-{uac.port}"
    assert "branch=z9hG4bKopt1" in hdr(ok, "Via")
    assert allow(ok) >= CARRIED, hdr(ok, "Allow")
    # inside a call
    final = uac.answered()
    ok = uac._transaction("OPTIONS", final, 8)
    assert status(ok) == 200 and hdr(ok, "Call-ID") == uac.callid
    assert allow(ok) >= CARRIED, hdr(ok, "Allow")
    assert status(uac.bye(final)) == 200
    wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")
    assert not [m for m, _ in uas.got if b"opt-local" in m or m.startswith(b"OPTIONS") and b"CSeq: 8 " in m]


def test_trunk_silent_to_options_routed_around_until_it_answers(env):
    """demo-out stops answering OPTIONS (two pings time out: Timer F, 64*T1
    with t1_ms 20): calls go to the next route without trying it; once it
    answers a ping again, calls go to it again. Pings go every 5 s (the first
    0.5 s after start): some 11 s in all."""
    sbc, uas1 = env.make(timers={"t1_ms": 20})
    uas2 = env.peer(options=200)
    sbc.add_failover(uas2.port)
    wait_for(lambda: "trunk demo-out is down" in sbc.log(), timeout=12, what="demo-out marked down")
    assert len(uas1.requests("OPTIONS")) >= 2
    uac = env.caller(sbc)
    final = uac.answered()
    assert uas1.invite is None and len(uas2.requests("INVITE")) == 1
    assert status(uac.bye(final)) == 200
    # it answers again: the next ping brings it back
    uas1.options = 200
    wait_for(lambda: "trunk demo-out is up again" in sbc.log(), timeout=8, what="demo-out up again")
    uac = env.caller(sbc)
    final = uac.answered()
    assert len(uas1.requests("INVITE")) == 1 and len(uas2.requests("INVITE")) == 1
    assert status(uac.bye(final)) == 200


# ---- topology hiding, session timers (items 1 and 2) -------------------------------


def test_topology_hiding_every_message_both_ways(env):
    """The caller on 127.0.0.5, the callee on 127.0.0.1 with revealing
    headers of its own (and a Record-Route): a call with 200, re-INVITE, UPDATE and BYE; no
    message either carrier receives names the other's address, port, tags,
    Call-ID or headers. The B leg's Via and Contact are the SBC's own."""
    sbc, uas = env.make()
    uas.extra200 = "\r\nServer: callee-box-9\r\nX-Callee-Net: 10.77.1.2"
    uas.rr = "\r\nRecord-Route: <sip:p0.callee-net.example;lr>, <sip:10.77.1.3;lr>"
    uac = env.caller(sbc, ip="127.0.0.5")
    final = uac.answered()
    assert status(uac.reinvite(final, "sendonly", cseq=3)) == 200
    assert status(uac.update(final, cseq=4)) == 200
    assert status(uac.bye(final)) == 200
    wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")
    inv = uas.invite
    via = hdr(inv, "Via")
    assert len(re.findall(r"(?im)^(via|v):", inv.decode())) == 1 and "," not in via
    assert f"127.0.0.1:{sbc.port}" in via and f"127.0.0.1:{sbc.port}" in hdr(inv, "Contact")
    assert hdr(inv, "Call-ID") != uac.callid and uac.ftag not in hdr(inv, "From")
    caller_marks = ["127.0.0.5", uac.callid, uac.ftag, "alice", "uac-secret-agent", "X-Internal"]
    for m, _ in uas.got:
        text = m.decode(errors="replace")
        for needle in caller_marks + [str(uac.port), str(uac.rtp_port)]:
            assert not re.search(r"(?<![\w.])" + re.escape(needle) + r"(?![\w])", text), (needle, text)
    b_callid = hdr(inv, "Call-ID")
    callee_marks = [b_callid, uas.tag, "uas@", "callee-box-9", "X-Callee-Net", "10.77.1.2", "callee-net",
                    "10.77.1.3", str(uas.port),
                    str(uas.rtp_port)]
    assert len(uac.got) >= 4
    for m in uac.got:
        text = m.decode(errors="replace")
        for needle in callee_marks:
            assert not re.search(r"(?<![\w.])" + re.escape(needle) + r"(?![\w])", text), (needle, text)


def test_session_timers_on_both_legs(env):
    """RFC 4028: the caller's Session-Expires, Min-SE and Supported: timer
    reach the called carrier; its 200's Session-Expires (refresher) and
    Require: timer reach the caller; a refresh (UPDATE) crosses too."""
    sbc, uas = env.make()
    uas.extra200 = "\r\nRequire: timer\r\nSession-Expires: 900;refresher=uas"
    uac = env.caller(sbc)
    final = uac.answered(extra="Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\nMin-SE: 90\r\n")
    inv = uas.invite
    assert hdr(inv, "Session-Expires") == "1800;refresher=uac" and hdr(inv, "Min-SE") == "90"
    assert "timer" in hdr(inv, "Supported")
    assert hdr(final, "Session-Expires") == "900;refresher=uas" and "timer" in hdr(final, "Require")
    ok = uac.update(final, cseq=4)
    assert status(ok) == 200 and hdr(ok, "Session-Expires").startswith("1800")
    assert hdr(uas.requests("UPDATE")[0], "Session-Expires") == "1800;refresher=uac"
    assert status(uac.bye(final)) == 200


def test_session_interval_too_small_422_reaches_the_caller_with_min_se(env):
    """RFC 4028 6: the callee's 422 with its Min-SE reaches the caller (who
    retries with a larger Session-Expires), not a failover."""
    sbc, uas = env.make("final:422")
    uas.final_extra = "Min-SE: 1800"
    uas2 = env.peer()
    sbc.add_failover(uas2.port)
    uac = env.caller(sbc)
    uac.invite(extra="Supported: timer\r\nSession-Expires: 90\r\nMin-SE: 90\r\n")
    final = uac.wait_final()
    assert status(final) == 422 and hdr(final, "Min-SE") == "1800", final
    ack_non2xx(uac, final)
    quiet(uas2, "INVITE", 0.3)
    assert uas2.invite is None


# ---- RFC 3261 timers over UDP, none over TCP (item 1) ------------------------------


def arrivals(socks, pred, until, stop=None):
    """(time.monotonic(), datagram) of those for which pred holds, as they
    reach each of socks (a list per socket), read until that time.
    stop(i, out): asked after each one, True ends the reading early."""
    out = [[] for _ in socks]
    while time.monotonic() < until:
        ready, _, _ = select.select(socks, [], [], 0.02)
        for s in ready:
            i = socks.index(s)
            d = s.recv(65536)
            if pred(d):
                out[i].append((time.monotonic(), d))
                if stop and stop(i, out):
                    return out
    return out


def test_udp_final_response_timers_g_h_i(env):
    """t1_ms 20: a 404 to an INVITE is retransmitted over UDP (Timer G:
    T1, 2T1, 4T1...) until the ACK, then no more (Timer I absorbs); without
    an ACK it stops at Timer H (64*T1 = 1.28 s): its next copy (2.54 s) never
    comes."""
    sbc, uas = env.make(timers={"t1_ms": 20})
    sbc.rpc("route.remove", {"prefix": ""})
    sbc.signal_synced()
    acked, unacked = env.caller(sbc), env.caller(sbc)
    socks = [acked.sock, unacked.sock]
    is404 = lambda d: status(d) == 404  # noqa: E731
    t0 = time.monotonic()
    unacked.invite()
    acked.invite()
    # the acked one: its first 404 and two copies (20, 60 ms), then our ACK
    got = arrivals(socks, is404, t0 + 3.0, stop=lambda i, out: len(out[0]) >= 3)
    assert len(got[0]) >= 3, [[round(t - t0, 3) for t, _ in x] for x in got]
    ack_non2xx(acked, got[0][0][1])
    t_ack = time.monotonic()
    rest = arrivals(socks, is404, t0 + 3.0)
    after = [t - t_ack for t, _ in rest[0]]
    # Timer I: nothing after the ACK but what was on its way (copies due at .14, .30, .62 s else)
    assert not [t for t in after if t > 0.25], after
    # the other one: 0, .02, .06, .14, .30, .62, 1.26 s, then Timer H (1.28 s; a loaded box
    # delays each copy, never brings the next one at 2.54 s forward)
    late = [t - t0 for t, _ in got[1] + rest[1]]
    assert 4 <= len(late) <= 8 and late[-1] < 2.0, late


def test_udp_non_invite_client_timers_e_f(env):
    """t1_ms 20: our BYE toward a callee gone silent is retransmitted (Timer
    E: T1, 2T1, 4T1...) and given up at Timer F (64*T1 = 1.28 s): its next
    copy (2.54 s) never comes."""
    sbc, uas = env.make(timers={"t1_ms": 20})
    uac = env.caller(sbc)
    final = uac.answered()
    wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
    uas.mute = True
    t0 = time.monotonic()
    uac.sock.sendto(uac._request("BYE", final, 2), uac.dst)
    wait_for(lambda: len(uas.requests("BYE")) >= 4, timeout=2, what="BYE retransmitted (Timer E)")
    time.sleep(max(0.0, t0 + 2.0 - time.monotonic()))
    n = quiet(uas, "BYE", 1.0)  # Timer F: nothing after 1.28 s (the next copy would come at 2.54 s)
    assert 4 <= n <= 8, n  # 0, .02, .06, .14, .30, .62, 1.26 s
    byes = uas.requests("BYE")
    assert len({hdr(b, "Via") for b in byes}) == 1  # one transaction, the same branch


def test_tcp_no_retransmissions(env):
    """Over TCP (reliable): a final response is sent once (no Timer G) and
    an INVITE toward a silent TCP trunk once (no Timer A), where UDP would
    have sent several within the same time at t1_ms 50."""
    sbc, uas = env.make(timers={"t1_ms": 50, "no_response_ms": 3000})
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(5)
    cli = socket.create_connection(("127.0.0.1", sbc.port), timeout=5)
    try:
        sbc.rpc("trunk.add", {"name": "tcp-out", "destinations": [
            {"host": "127.0.0.1", "port": srv.getsockname()[1], "transport": "tcp"}],
            "srtp_inbound": {"mode": "off"}, "srtp_outbound": {"mode": "off"}})
        sbc.rpc("route.remove", {"prefix": ""})
        sbc.rpc("route.add", {"prefix": "4930", "trunk": "tcp-out"})
        sbc.signal_synced()
        lport = cli.getsockname()[1]

        def inv(number, n):
            b = sdp("127.0.0.1", 40000)
            return (f"INVITE sip:{number}@127.0.0.1:{sbc.port};transport=tcp SIP/2.0\r\n"
                    f"Via: SIP/2.0/TCP 127.0.0.1:{lport};branch=z9hG4bKtcp{n}\r\n"
                    f"From: <sip:a@127.0.0.1>;tag=t{n}\r\nTo: <sip:{number}@127.0.0.1>\r\nCall-ID: tcp-{n}-{lport}\r\n"
                    f"CSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:{lport};transport=tcp>\r\nMax-Forwards: 70\r\n"
                    f"Content-Type: application/sdp\r\nContent-Length: {len(b)}\r\n\r\n{b}").encode()

        def read_for(sock, seconds):
            out, t0 = b"", time.monotonic()
            sock.settimeout(0.1)
            while time.monotonic() - t0 < seconds:
                try:
                    d = sock.recv(65536)
                except socket.timeout:
                    continue
                if not d:
                    break
                out += d
            return out

        cli.sendall(inv("4940123456", 1))  # no route: 404, never ACKed
        got = read_for(cli, 1.0)
        assert got.count(b"SIP/2.0 404") == 1, got
        cli.sendall(inv("4930123456", 2))  # to the silent TCP trunk
        conn, _ = srv.accept()
        seen = read_for(conn, 1.0)
        assert seen.count(b"INVITE sip:") == 1, seen
        conn.close()
    finally:
        cli.close()
        srv.close()


# ---- parser on the running process (item 1) ----------------------------------------


def test_compact_form_invite_with_multiple_values(env):
    """An INVITE in compact header forms (v f t i m l c k s), mixed case,
    two Via values in one header and a quoted display name with escapes:
    a normal call; the 200 carries both Via values back."""
    sbc, uas = env.make()
    uac = env.caller(sbc)
    b = sdp("127.0.0.1", uac.rtp_port)
    msg = (f"INVITE sip:4930123456@127.0.0.1:{sbc.port} SIP/2.0\r\n"
           f"v: SIP/2.0/UDP 127.0.0.1:{uac.port};branch=z9hG4bKcmp1;rport , SIP/2.0/UDP 192.0.2.9:5060;"
           f"branch=z9hG4bKupstream\r\n"
           f"f: \"A \\\"quoted\\\" name\" <sip:15550001111@[2001:db8::5]>;tag={uac.ftag}\r\n"
           f"t: <sip:4930123456@127.0.0.1>\r\ni: {uac.callid}\r\ncSeQ: 1 INVITE\r\n"
           f"m: <sip:alice@127.0.0.1:{uac.port}>\r\nk: timer\r\ns: compact test\r\nmax-forwards: 70\r\n"
           f"c: application/sdp\r\nl: {len(b)}\r\n\r\n{b}")
    uac.sock.sendto(msg.encode(), uac.dst)
    uac.inv = msg.encode()
    final = uac.wait_final()
    assert status(final) == 200, sbc.log()[-2000:]
    vias = re.findall(r"(?im)^(?:via|v):\s*(.*?)\r$", final.decode())
    joined = ",".join(vias)
    assert "z9hG4bKcmp1" in joined and "z9hG4bKupstream" in joined, vias
    inv = uas.invite
    assert inv is not None and "2001:db8::5" not in inv.decode() and "z9hG4bKupstream" not in inv.decode()
    assert hdr(inv, "Supported") and "timer" in hdr(inv, "Supported")
    uac.ack(final)
    assert status(uac.bye(final)) == 200
