"""B2BUA calls with two sbc-signal workers over TCP and TLS: a call lives on
the worker that accepted its INVITE, but a carrier may send the rest of the
dialog on another connection (a second one it opened, or the other carrier's
own connection toward us), which another worker may have accepted. The
message must reach the call (forwarded over the in-process ring) and the
answer must leave through the connection it came on (crossing back): the
call ends with 200 on both legs, never 481. Also: a CANCEL on another
connection (it names none of our tokens), and our BYE toward a caller whose
first connection is gone; a UDP CANCEL from another source port that
SO_REUSEPORT hashed to the other worker.

Which worker accepts a connection is the kernel's SO_REUSEPORT hash of the
4-tuple: the tests open connections until stats.get shows one accepted by
the worker that does not own the call (each try is a coin toss; 24 tries)."""
import re
import socket
import ssl
import time

import pytest

from b2b_common import Sbc, Uac, Uas, hdr, response, sdp, status
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


class TcpSip:
    """One SIP-over-TCP connection (a carrier's), framed by Content-Length."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(0.2)
        self.buf = b""
        self.got = []

    @classmethod
    def connect(cls, port, tls=False):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if tls:  # sbc-control's self-signed default profile: no verification here
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        return cls(s)

    @property
    def port(self):
        return self.sock.getsockname()[1]

    def send(self, data):
        self.sock.sendall(data)

    def _one(self):
        if b"\r\n\r\n" not in self.buf:
            return None
        head, rest = self.buf.split(b"\r\n\r\n", 1)
        m = re.search(rb"^(?:Content-Length|l):\s*(\d+)", head, re.M | re.I)
        n = int(m.group(1)) if m else 0
        if len(rest) < n:
            return None
        self.buf = rest[n:]
        return head + b"\r\n\r\n" + rest[:n]

    def recv_until(self, pred, timeout=8.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self._one()
            if msg is None:
                try:
                    d = self.sock.recv(65536)
                except socket.timeout:
                    continue
                if not d:
                    break
                self.buf += d
                continue
            self.got.append(msg)
            if pred(msg):
                return msg
        raise AssertionError("not received; got: %r" % self.got)

    def close(self):
        self.sock.close()


def worker_accepts(sbc, tp):
    """Connections accepted over tp ("tcp", "tls") so far, per worker index."""
    out = {}
    for i, w in enumerate(sbc.rpc("stats.get")["signal"]):
        st = w.get("stats", {})
        out[w.get("worker", i)] = st.get(tp, {}).get("conns_accepted", 0)
    return out


def call_owner(sbc):
    """The worker whose B2BUA holds the (only) active call."""
    active = wait_for(lambda: [w.get("worker", i) for i, w in enumerate(sbc.rpc("stats.get")["signal"])
                               if w.get("stats", {}).get("calls", {}).get("active", 0) > 0],
                      timeout=3, what="an active call")
    assert len(active) == 1, active
    return active[0]


def connect_on_other_worker(sbc, owner, conns, tp="tcp", tries=24):
    """A new TCP/TLS connection to sbc that a worker other than `owner`
    accepted (added to conns)."""
    for _ in range(tries):
        before = worker_accepts(sbc, tp)
        c = TcpSip.connect(sbc.tls_port if tp == "tls" else sbc.port, tls=tp == "tls")
        # the listener defers accept until data arrives: an OPTIONS (answered
        # by whichever worker accepted it) makes the accept visible
        c.send(tcp_request("OPTIONS", f"sip:x@127.0.0.1:{sbc.port}", c.port, "<sip:probe@127.0.0.1>;tag=p",
                           "<sip:x@127.0.0.1>", f"probe-{c.port}", 1, f"probe{c.port}", tp=tp))
        c.recv_until(lambda d: status(d) >= 200 and "OPTIONS" in hdr(d, "CSeq"))
        after = wait_for(lambda: (lambda a: a if sum(a.values()) > sum(before.values()) else None)(
            worker_accepts(sbc, tp)), timeout=3, what="the connection accepted")
        took = [w for w in after if after[w] > before.get(w, 0)]
        if took and took[0] != owner:
            conns.append(c)
            return c
        c.close()
    raise AssertionError(f"{tries} connections, all on worker {owner}")


def tcp_request(method, ruri, via_port, from_hdr, to_hdr, callid, cseq, branch, extra="", tp="tcp", body_text=""):
    out = (f"{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/{tp.upper()} 127.0.0.1:{via_port};branch=z9hG4bK{branch}\r\n"
           f"From: {from_hdr}\r\nTo: {to_hdr}\r\nCall-ID: {callid}\r\nCSeq: {cseq} {method}\r\n"
           f"Max-Forwards: 70\r\n{extra}")
    if body_text:
        out += "Content-Type: application/sdp\r\n"
    return (out + f"Content-Length: {len(body_text.encode())}\r\n\r\n{body_text}").encode()


def accept_invite(srv, conns, why, timeout=8.0):
    """Every worker pings the trunk with OPTIONS over its own connection:
    accept them all (answering OPTIONS) until one carries the INVITE."""
    srv.setblocking(False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conns.append(TcpSip(srv.accept()[0]))
        except BlockingIOError:
            pass
        for c in [x for x in conns if isinstance(x, TcpSip)]:
            try:
                m = c.recv_until(lambda d: d.startswith(b"INVITE ") or d.startswith(b"OPTIONS "), timeout=0.1)
            except AssertionError:
                continue
            if m.startswith(b"OPTIONS "):
                c.send(response(m, 200, "OK"))
                continue
            return c, m
    raise AssertionError("no INVITE on any connection: " + why())


class Env:
    """make(): sbc-control with two sbc-signal workers whose demo-out trunk
    points at a python UAS (plan as in b2b_common.Uas) or at `port`; every
    socket in self.conns is closed at the end."""

    def __init__(self, procs, tmp_path):
        self.procs, self.tmp = procs, tmp_path
        self.conns = []

    def make(self, plan="answer", port=None):
        uas = None
        if port is None:
            uas = Uas(plan)
            self.conns.append(uas)
            port = uas.port
        sbc = Sbc(self.procs, self.tmp, port, workers=2)
        assert len(sbc.rpc("stats.get")["signal"]) == 2
        return sbc, uas


@pytest.fixture
def env(procs, tmp_path):
    e = Env(procs, tmp_path)
    yield e
    for c in e.conns:
        c.close()


class Caller:
    """The calling carrier over TCP or TLS: sends its INVITE on a first
    connection (self.c); in-dialog requests and CANCEL may go on another."""

    def __init__(self, sbc, tp, conns):
        self.tp = tp
        port = sbc.tls_port if tp == "tls" else sbc.port
        self.c = TcpSip.connect(port, tls=tp == "tls")
        conns.append(self.c)
        self.frm = f"<sip:15550001111@127.0.0.1:{self.c.port}>;tag=tcp-uac-tag"
        self.callid = f"tcp-uac-call-{self.c.port}"
        self.ruri = f"sip:4930123456@127.0.0.1:{port};transport={tp}"
        self.to = "<sip:4930123456@127.0.0.1>"
        self.c.send(self.request("INVITE", self.c, 1, "tcpinv1", extra=(
            f"Contact: <sip:alice@127.0.0.1:{self.c.port};transport={tp}>\r\n"), body_text=sdp("127.0.0.1", 40002)))

    def request(self, method, conn, cseq, branch, ruri=None, to=None, **kw):
        return tcp_request(method, ruri or self.ruri, conn.port, self.frm, to or self.to, self.callid, cseq, branch,
                           tp=self.tp, **kw)


@pytest.mark.parametrize("tp", ["tcp", "tls"])
def test_caller_ack_and_bye_on_a_second_connection(env, tp):
    """The calling carrier sends INVITE on one TCP (TLS) connection, then ACK
    and BYE on a new one that the other worker accepted."""
    sbc, uas = env.make("answer")
    a = Caller(sbc, tp, env.conns)
    final = a.c.recv_until(lambda d: status(d) >= 200)
    assert status(final) == 200, sbc.log()[-3000:]
    a2 = connect_on_other_worker(sbc, call_owner(sbc), env.conns, tp)
    target, to = hdr(final, "Contact").strip("<>"), hdr(final, "To")
    a2.send(a.request("ACK", a2, 1, "tcpack1", target, to))
    a2.send(a.request("BYE", a2, 2, "tcpbye1", target, to))
    ok = a2.recv_until(lambda d: status(d) and "BYE" in hdr(d, "CSeq"))
    assert status(ok) == 200, (ok, sbc.log()[-3000:])
    # the callee's leg ended too, on its own dialog
    bye = wait_for(lambda: uas.requests("BYE"), timeout=3, what="BYE at the callee")[0]
    assert hdr(bye, "Call-ID") == hdr(uas.invite, "Call-ID")
    assert len(uas.requests("ACK")) == 1  # the B leg's 2xx ACKed once
    assert "message forwarded to worker" in sbc.log()
    wait_for(lambda: no_call(sbc), timeout=3, what="no call left active")


@pytest.mark.parametrize("tp", ["tcp", "tls"])
def test_bye_toward_a_caller_that_moved_to_a_new_connection(env, tp):
    """The caller's first connection is gone; it sends its ACK on a new one
    (the other worker's). The callee's BYE must reach the caller there."""
    sbc, uas = env.make("answer")
    a = Caller(sbc, tp, env.conns)
    final = a.c.recv_until(lambda d: status(d) >= 200)
    assert status(final) == 200, sbc.log()[-3000:]
    owner = call_owner(sbc)
    a.c.close()
    a2 = connect_on_other_worker(sbc, owner, env.conns, tp)
    a2.send(a.request("ACK", a2, 1, "tcpack1", hdr(final, "Contact").strip("<>"), hdr(final, "To")))
    # the call's worker took the ACK (its connection is the caller's now)
    # before the callee hangs up: a fixed wait could be too short on a
    # loaded box, and the BYE would go to the closed first connection
    wait_for(lambda: "the caller moved to another connection" in sbc.log(), timeout=5,
             what="the ACK on the new connection handled")
    uas.bye()
    bye = a2.recv_until(lambda d: d.startswith(b"BYE "))
    assert hdr(bye, "Call-ID") == a.callid and str(uas.port) not in bye.decode()
    a2.send(response(bye, 200, "OK"))
    wait_for(lambda: [r for r in uas.responses() if "BYE" in (hdr(r, "CSeq") or "") and status(r) == 200],
             timeout=3, what="the callee's BYE answered")
    wait_for(lambda: no_call(sbc), timeout=3, what="no call left active")


@pytest.mark.parametrize("tp", ["tcp", "tls"])
def test_callee_bye_reaches_the_caller_on_its_connection(env, tp):
    """A carrier that called in over TCP/TLS gets the callee's BYE on the
    connection it called on (never a new one toward its Contact port), the
    other worker's or not."""
    sbc, uas = env.make("answer")
    a = Caller(sbc, tp, env.conns)
    final = a.c.recv_until(lambda d: status(d) >= 200)
    assert status(final) == 200, sbc.log()[-3000:]
    a.c.send(a.request("ACK", a.c, 1, "tcpack1", hdr(final, "Contact").strip("<>"), hdr(final, "To")))
    wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
    uas.bye()
    bye = a.c.recv_until(lambda d: d.startswith(b"BYE "))
    assert hdr(bye, "Call-ID") == a.callid and f"SIP/2.0/{tp.upper()} " in hdr(bye, "Via")
    a.c.send(response(bye, 200, "OK"))
    wait_for(lambda: [r for r in uas.responses() if "BYE" in (hdr(r, "CSeq") or "") and status(r) == 200],
             timeout=3, what="the callee's BYE answered")
    wait_for(lambda: no_call(sbc), timeout=3, what="no call left active")


def test_caller_cancel_on_a_second_connection(env):
    """A CANCEL names none of our tokens: on a connection of the worker
    that does not hold its INVITE it is handed on until one does."""
    sbc, uas = env.make("ring")
    a = Caller(sbc, "tcp", env.conns)
    a.c.recv_until(lambda d: status(d) == 180)
    a2 = connect_on_other_worker(sbc, call_owner(sbc), env.conns)
    # the INVITE's branch and sent-by (RFC 3261 9.1), on the new connection
    a2.send(a.request("CANCEL", a.c, 1, "tcpinv1"))
    ok = a2.recv_until(lambda d: status(d) and "CANCEL" in hdr(d, "CSeq"))
    assert status(ok) == 200, (ok, sbc.log()[-3000:])
    assert status(a.c.recv_until(lambda d: status(d) >= 200 and "INVITE" in hdr(d, "CSeq"))) == 487
    wait_for(lambda: uas.requests("CANCEL"), timeout=3, what="CANCEL at the callee")
    wait_for(lambda: no_call(sbc), timeout=3, what="no call left active")


def no_call(sbc):
    return all(w.get("stats", {}).get("calls", {}).get("active", 0) == 0 for w in sbc.rpc("stats.get")["signal"])


def test_callee_bye_on_its_own_connection_to_us(env):
    """The called carrier is a TCP trunk: we open the connection toward it
    (owned by the call's worker). It sends its BYE on a connection it opens
    toward our listener, which the other worker accepted."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    env.conns.append(srv)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    sbc, _ = env.make(port=srv.getsockname()[1])
    sbc.rpc("trunk.update", {"name": "demo-out", "destinations": [
        {"host": "127.0.0.1", "port": srv.getsockname()[1], "transport": "tcp"}]})
    sbc.signal_synced()
    uac = Uac(sbc.port)
    env.conns.append(uac)
    uac.invite()
    b, inv = accept_invite(srv, env.conns, lambda: f"caller got {uac.got!r}\n{sbc.log()[-3000:]}")
    b.send(response(inv, 200, "OK", "tcp-uas-tag", f"Contact: <sip:uas@127.0.0.1:{srv.getsockname()[1]};"
                    "transport=tcp>", sdp("127.0.0.1", 40004)))
    final = uac.wait_final()
    assert status(final) == 200, sbc.log()[-3000:]
    uac.ack(final)
    b.recv_until(lambda d: d.startswith(b"ACK "))
    b2 = connect_on_other_worker(sbc, call_owner(sbc), env.conns)
    b2.send(tcp_request("BYE", hdr(inv, "Contact").strip("<>"), b2.port, f"{hdr(inv, 'To')};tag=tcp-uas-tag",
                        hdr(inv, "From"), hdr(inv, "Call-ID"), 1, "uasbye1"))
    ok = b2.recv_until(lambda d: status(d) and "BYE" in hdr(d, "CSeq"))
    assert status(ok) == 200, (ok, sbc.log()[-3000:])
    bye = uac.recv_until(lambda d: d.startswith(b"BYE "))  # answered 200 by Uac
    assert hdr(bye, "Call-ID") == uac.callid
    assert "message forwarded to worker" in sbc.log()
    wait_for(lambda: no_call(sbc), timeout=3, what="no call left active")


def worker_udp_in(sbc):
    """UDP messages received so far, per worker index."""
    return {w.get("worker", i): w.get("stats", {}).get("udp", {}).get("msgs_in", 0)
            for i, w in enumerate(sbc.rpc("stats.get")["signal"])}


def udp_on_other_worker(sbc, owner, conns, tries=24):
    """A UDP socket whose datagrams to sbc's port SO_REUSEPORT hands to a
    worker other than `owner` (an OPTIONS shows which one counted it)."""
    for i in range(tries):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(2)
        before = worker_udp_in(sbc)
        p = s.getsockname()[1]
        s.sendto(tcp_request("OPTIONS", f"sip:x@127.0.0.1:{sbc.port}", p, "<sip:probe@127.0.0.1>;tag=p",
                             "<sip:x@127.0.0.1>", f"uprobe-{p}", 1, f"uprobe{p}", tp="udp"), ("127.0.0.1", sbc.port))
        assert status(s.recv(65536)) == 200
        after = worker_udp_in(sbc)
        took = [w for w in after if after[w] > before.get(w, 0)]
        if len(took) == 1 and took[0] != owner:
            conns.append(s)
            return s
        s.close()
    raise AssertionError(f"{tries} UDP sockets, all on worker {owner}")


def test_udp_cancel_from_another_port(env):
    """A UDP caller's CANCEL comes from another source port than its INVITE
    and lands on the worker that does not hold the INVITE: it is handed on
    (200, 487 for the INVITE, CANCEL at the callee), not answered 481."""
    sbc, uas = env.make("ring")
    uac = Uac(sbc.port)
    env.conns.append(uac)
    uac.invite()
    uac.recv_until(lambda d: status(d) == 180)
    s = udp_on_other_worker(sbc, call_owner(sbc), env.conns)
    # the INVITE's Via (branch, sent-by with rport): the 200 goes to our new port
    s.sendto(uac._request("CANCEL", uac.inv, 1, ruri=uac.inv.split(b" ")[1].decode(), to=hdr(uac.inv, "To"),
                          branch="z9hG4bKuacinv1"), ("127.0.0.1", sbc.port))
    ok = s.recv(65536)
    assert status(ok) == 200 and "CANCEL" in hdr(ok, "CSeq"), (ok, sbc.log()[-3000:])
    assert status(uac.wait_final()) == 487
    wait_for(lambda: uas.requests("CANCEL"), timeout=3, what="CANCEL at the callee")
    wait_for(lambda: no_call(sbc), timeout=3, what="no call left active")
