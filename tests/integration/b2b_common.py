"""Helpers for the B2BUA call tests (no tests in here): sbc-control with the
real sbc-signal and sbc-media on free ports, a scripted python UAS (the
called carrier) and a python UAC (the calling carrier), both over UDP, that
record every message they received."""
import base64
import json
import os
import pathlib
import re
import signal
import socket
import threading
import time

import pytest

from conftest import BUILD, free_port, free_port_range, wait_for

SDP_TMPL = ("v=0\r\no=uac 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
            "m=audio {port} {proto} 0 101\r\n{crypto}a=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n")


def rtp_port(ip="127.0.0.1"):
    """A UDP port for a test peer's RTP socket: not one the kernel picks
    (port 0) but from the window below the ephemeral range (free_port_range),
    since a test may close that socket to let srtp_peer bind the same port,
    and a port of the ephemeral range can be taken meanwhile by any socket
    bound to port 0 or connected (the other xdist worker's too). The port
    after it is handed out too: it is the peer's RTCP port when its SDP has
    no a=rtcp (RFC 3550 11), and were it this test's SBC's SIP listener
    (free_port can pick an odd port), the SDP would name our own endpoint
    and be refused 488 (test_b2b_media_self)."""
    return free_port_range(2, ip)


def sdp(ip, port, crypto=None):
    lines = "".join(f"a=crypto:{c}\r\n" for c in (crypto or []))
    return SDP_TMPL.format(ip=ip, port=port, proto="RTP/SAVP" if crypto else "RTP/AVP",
                           crypto=lines)


def hdr(msg, name):
    m = re.search(rb"^" + name.encode() + rb":\s*(.*?)\r\n", msg, re.M | re.I)
    return m.group(1).decode() if m else None


def status(msg):
    m = re.match(rb"SIP/2.0 (\d+)", msg)
    return int(m.group(1)) if m else 0


def body(msg):
    return msg.split(b"\r\n\r\n", 1)[1].decode() if b"\r\n\r\n" in msg else ""


def sdp_media(text):
    c = re.search(r"^c=IN IP4 (\S+)", text, re.M)
    m = re.search(r"^m=audio (\d+) (\S+)", text, re.M)
    return (c.group(1) if c else None, int(m.group(1)) if m else None, m.group(2) if m else None)


def rtp_lands(sender, dst, receiver, word, tries=25):
    """An RTP stream from sender to dst (a relay address), one packet at a
    time, each given 0.2 s to reach receiver (a relay update may trail the
    200 that announced it a little): whether a packet arrived with its
    payload intact, and its source address (None if none arrived)."""
    pkt = bytes([0x80, 0x00, 0x00, 0x01]) + b"\x00" * 8 + word
    receiver.settimeout(0.2)
    for i in range(tries):
        sender.sendto(pkt[:3] + bytes([i]) + pkt[4:], dst)
        try:
            got, src = receiver.recvfrom(2048)
        except socket.timeout:
            continue
        return got[12:] == pkt[12:], src
    return False, None


def response(req, code, reason, to_tag=None, extra="", body_text=""):
    lines = req.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    keep = [ln for ln in lines[1:] if re.match(r"(?i)(via|from|to|call-id|cseq):", ln)]
    out = [f"SIP/2.0 {code} {reason}"]
    for ln in keep:
        if to_tag and ln.lower().startswith("to:") and ";tag=" not in ln:
            ln += f";tag={to_tag}"
        out.append(ln)
    if extra:
        out.append(extra.rstrip("\r\n"))
    if body_text:
        out.append("Content-Type: application/sdp")
    out.append(f"Content-Length: {len(body_text.encode())}")
    return ("\r\n".join(out) + "\r\n\r\n" + body_text).encode()


class Sbc:
    """sbc-control with the demo trunks: demo-in from 127.0.0.0/8 (SRTP
    optional), demo-out toward `outbound` (UDP, SRTP off)."""

    def __init__(self, procs, tmp, outbound_port, rtp_timeout_ms=30000, log_level="debug", media_ports=60,
                 dns_servers=None, workers=1, unknown_sources=None, timers=None, limits=None, control=None):
        self.procs = procs
        self.port = free_port()
        self.tls_port = free_port()
        mbase = free_port_range(media_ports)
        self.data = tmp / "data"
        cfg = {"log_level": log_level, "data_dir": str(self.data), "store_path": str(self.data / "store"),
               "signal": {"workers": workers, "listen": [
                   {"transport": "udp", "address": f"127.0.0.1:{self.port}"},
                   {"transport": "tcp", "address": f"127.0.0.1:{self.port}"},
                   {"transport": "tls", "address": f"127.0.0.1:{self.tls_port}", "tls_profile": "default"}]},
               "media": {"workers": 1, "address": "127.0.0.1", "port_min": mbase, "port_max": mbase + media_ports - 1,
                         "backend": "socket", "rtp_timeout_ms": rtp_timeout_ms},
               "demo": {"enabled": True, "outbound": f"127.0.0.1:{outbound_port}",
                        "inbound_cidr": "127.0.0.0/8"}}
        if dns_servers:
            cfg["signal"]["dns_servers"] = dns_servers
        if timers:  # {"no_response_ms": ..., "no_answer_ms": ...}
            cfg["signal"]["timers"] = timers
        if unknown_sources:
            cfg["signal"]["unknown_sources"] = unknown_sources
        if limits:  # signal.limits: {"trim_min_transactions": ...}
            cfg["signal"]["limits"] = limits
        if control:  # {"ctl_ring_bytes": ...}
            cfg["control"] = control
        (tmp / "cfg.json").write_text(json.dumps(cfg))
        self.sock = self.data / "control.sock"
        self.ctl = procs.start("control", [str(BUILD / "sbc-control"), "--config", str(tmp / "cfg.json"),
                                           "--data-dir", str(self.data)])
        wait_for(lambda: self.sock.exists() and self.options_ok() or self.ctl.poll() is not None,
                 timeout=20, what="sbc-control and sbc-signal")
        assert self.ctl.poll() is None, procs.log(self.ctl)
        self.mbase = mbase

    def options_ok(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.3)
        try:
            s.sendto(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKo\r\n"
                     b"From: <sip:p@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: ping\r\n"
                     b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                     ("127.0.0.1", self.port))
            return s.recv(4096).startswith(b"SIP/2.0 200")
        except OSError:
            return False
        finally:
            s.close()

    def add_failover(self, port, wait=True, first="demo-out"):
        """Routes for 49... to trunk first, then to a new trunk alt-out
        (UDP toward port, SRTP off); waits for the workers' view of the
        store to take it in (signal_synced) unless told not to."""
        self.rpc("trunk.add", {"name": "alt-out", "destinations": [
            {"host": "127.0.0.1", "port": port, "transport": "udp"}],
            "srtp_inbound": {"mode": "off"}, "srtp_outbound": {"mode": "off"}})
        self.rpc("route.add", {"prefix": "49", "trunk": first, "priority": 10})
        self.rpc("route.add", {"prefix": "49", "trunk": "alt-out", "priority": 20})
        if wait:
            self.signal_synced()

    def signal_synced(self):
        """Returns once every sbc-signal worker has handled everything
        sbc-control sent it before this call, so a trunk change made over
        RPC is in the workers' view (routes are read from the store on each
        call anyway). sbc-control tells each worker of a change on its
        control ring, and the worker reloads its trunks as it handles that
        message (sig_worker.c, SBC_MSG_CONFIG_CHANGED); stats.get asks every
        worker on the same ring, behind it, and answers once all replied.
        Faster and surer than sleeping past the workers' 1 s store poll."""
        wait_for(lambda: all(w.get("available") for w in self.rpc("stats.get")["signal"]),
                 timeout=10, what="every sbc-signal worker answering stats (config changes taken in)")

    def kill_signal(self):
        """Kills sbc-signal with SIGKILL; returns once sbc-control has
        started another."""
        pid = child_pid(self.ctl.pid, "sbc-signal")
        assert pid, "sbc-signal not found under sbc-control"
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: child_pid(self.ctl.pid, "sbc-signal") not in (None, pid), timeout=15,
                 what="sbc-signal restarted by sbc-control")

    def rpc_raw(self, method, params=None):
        """The whole JSON-RPC answer, a result or an error (no params member
        when params is None)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(self.sock))
        req = {"jsonrpc": "2.0", "id": 1, "method": method}
        if params is not None:
            req["params"] = params
        s.sendall((json.dumps(req) + "\n").encode())
        buf = b""
        s.settimeout(15)
        while not buf.endswith(b"\n"):
            d = s.recv(65536)
            if not d:
                break
            buf += d
        s.close()
        return json.loads(buf)

    def rpc(self, method, params=None):
        r = self.rpc_raw(method, params or {})
        assert "result" in r, r
        return r["result"]

    def log(self):
        out = ""
        for f in sorted(self.data.parent.glob("*.log")):
            out += f.read_text(errors="replace")
        return out


class Uas(threading.Thread):
    """The called carrier on UDP. plan: what to do with an INVITE:
    "answer" (100, 180, 200 with SDP), "503" (503 + Retry-After), "ring"
    (100, 180 and wait: for CANCEL), "bye" (answer, then BYE after the ACK),
    "silent" (nothing), "late200" / "late180" (nothing, then 200 / 180 after
    late_s seconds), "early" (183 with SDP, then 200), "early2" (183 with
    SDP, then 200 with media on self.rtp2), "early503" (183 with SDP, then
    503),
    "cancel200" (ring; a CANCEL crosses our 200: 200 to the INVITE, then to
    the CANCEL, no 487), "fork2" (two forks answer: 180 and 200 with tag
    fork-1, then 200 with fork-2), "forkswitch" (180 with fork-1, 200 with
    fork-2), "final:<code>" or "final:<code>:<retry-after s>" (100, then
    that final response, with Retry-After when given).
    extra200: header lines added to its 200 to the INVITE; mute: when set,
    every message is recorded and none answered (a callee gone silent).
    The UAS's SDP points media at self.rtp (a bound UDP socket). rr: that
    many Record-Route values (proxies p0..) on its 200 (plans answer,
    late200, cancel200), two per header line."""

    def __init__(self, plan="answer", crypto=None, options=None, rr=0):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", rtp_port()))
        self.rtp_port = self.rtp.getsockname()[1]
        self.rtp2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp2.bind(("127.0.0.1", rtp_port()))
        self.rtp2_port = self.rtp2.getsockname()[1]
        self.plan = plan
        self.crypto = crypto
        self.options = options  # None: OPTIONS ignored, else the status to answer
        self.extra200 = ""
        self.final_extra = ""  # header lines on the final response of plan final:<code>
        self.update_extra = "Session-Expires: 1800;refresher=uac"  # on its 200 to an UPDATE
        self.mute = False
        self.got = []      # (bytes, addr)
        self.sent = []     # bytes, once sent (got records a request before its answer goes)
        self.stop = False
        self.invite = None
        self.peer = None
        self.tag = "uas-tag-1"
        self.late_s = 3.6
        self.early_s = 0.3       # plans early*: from the 183 to the 200 (or 503)
        self.rr = "".join(f"\r\nRecord-Route: <sip:p{i}.carrier.example;lr>, <sip:p{i + 1}.carrier.example;lr>"
                          for i in range(0, rr, 2)) if rr else ""
        self.start()

    def requests(self, method):
        return [m for m, _ in self.got if m.startswith(method.encode() + b" ")]

    def responses(self):
        return [m for m, _ in self.got if m.startswith(b"SIP/2.0")]

    def send(self, data):
        self.sock.sendto(data, self.peer)
        self.sent.append(data)

    def run(self):
        while not self.stop:
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.got.append((data, addr))
            self.peer = addr
            if self.mute:
                continue
            if data.startswith(b"INVITE "):
                if self.invite is not None and hdr(data, "Call-ID") == hdr(self.invite, "Call-ID"):
                    if hdr(data, "CSeq") != hdr(self.invite, "CSeq"):  # re-INVITE: mirror the direction
                        d = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}
                        m = re.search(r"a=(sendonly|recvonly|inactive|sendrecv)", body(data))
                        ans = sdp("127.0.0.1", self.rtp_port, self.crypto).replace(
                            "a=sendrecv", "a=" + d.get(m.group(1) if m else "", "sendrecv"))
                        self.send(response(data, 200, "OK", None, f"Contact: <sip:uas@127.0.0.1:{self.port}>",
                                           ans))
                    continue  # retransmission
                self.invite = data
                if self.plan == "silent":
                    continue
                if self.plan in ("late200", "late180"):  # after the SBC gave up on us
                    late = response(data, 200, "OK", self.tag, f"Contact: <sip:uas@127.0.0.1:{self.port}>{self.rr}",
                                    sdp("127.0.0.1", self.rtp_port)) if self.plan == "late200" else \
                        response(data, 180, "Ringing", self.tag)
                    threading.Timer(self.late_s, lambda: self.stop or self.send(late)).start()
                    continue
                if self.plan in ("fork2", "forkswitch"):
                    ans = sdp("127.0.0.1", self.rtp_port)
                    self.send(response(data, 180, "Ringing", "fork-1"))
                    for tag in (("fork-1", "fork-2") if self.plan == "fork2" else ("fork-2",)):
                        self.send(response(data, 200, "OK", tag, f"Contact: <sip:{tag}@127.0.0.1:{self.port}>", ans))
                        time.sleep(0.1)
                    continue
                self.send(response(data, 100, "Trying"))
                if self.plan == "503":
                    self.send(response(data, 503, "Service Unavailable", self.tag, "Retry-After: 30"))
                    continue
                if self.plan.startswith("final:"):
                    code, *ra = self.plan.split(":")[1:]
                    ex = "\r\n".join(([f"Retry-After: {ra[0]}"] if ra else []) + ([self.final_extra] if
                                                                                 self.final_extra else []))
                    self.send(response(data, int(code), "Refused", self.tag, ex))
                    continue
                if self.plan == "100rel":
                    self.send(response(data, 183, "Session Progress", self.tag,
                                       f"Contact: <sip:uas@127.0.0.1:{self.port}>\r\nRequire: 100rel\r\nRSeq: 7",
                                       sdp("127.0.0.1", self.rtp_port, self.crypto)))
                    continue  # the 200 follows the PRACK
                if self.plan in ("early", "early2", "early503"):
                    self.send(response(data, 183, "Session Progress", self.tag,
                                       f"Contact: <sip:uas@127.0.0.1:{self.port}>",
                                       sdp("127.0.0.1", self.rtp_port, self.crypto)))
                    time.sleep(self.early_s)
                    if self.plan == "early503":
                        self.send(response(data, 503, "Service Unavailable", self.tag))
                        continue
                else:
                    self.send(response(data, 180, "Ringing", self.tag))
                if self.plan in ("ring", "cancel200"):
                    continue
                crypto = self.crypto
                if crypto == "mirror":  # answer our first offered suite and tag with a fresh key
                    m = re.search(r"a=crypto:(\d+) (\S+) inline:", body(data))
                    klen = {"AEAD_AES_128_GCM": 28, "AEAD_AES_256_GCM": 44, "AES_256_CM_HMAC_SHA1_80": 46,
                            "AES_256_CM_HMAC_SHA1_32": 46}.get(m.group(2), 30)
                    self.answer_key = os.urandom(klen)
                    crypto = [f"{m.group(1)} {m.group(2)} inline:{base64.b64encode(self.answer_key).decode()}"]
                # early2: the answer moves the media to another port than the 183's
                ans = sdp("127.0.0.1", self.rtp2_port if self.plan == "early2" else self.rtp_port, crypto)
                contact = f"Contact: <sip:uas@127.0.0.1:{self.port}>{self.rr}{self.extra200}"
                self.send(response(data, 200, "OK", self.tag, contact, ans))
            elif data.startswith(b"ACK ") and self.plan == "reinv" and hdr(data, "CSeq") == "1 ACK":
                b = sdp("127.0.0.1", self.rtp_port).replace("a=sendrecv", "a=sendonly")
                self.reinv = self._request("INVITE", hdr(self.invite, "Contact").strip("<>"), 2,
                                           hdr(self.invite, "From"), "uasreinv",
                                           f"Contact: <sip:uas@127.0.0.1:{self.port}>\r\n", b)
                self.send(self.reinv)
            elif data.startswith(b"SIP/2.0 200") and hdr(data, "CSeq") == "2 INVITE":
                self.send(self._request("ACK", hdr(data, "Contact").strip("<>"), 2, hdr(data, "To"), "uasreack"))
            elif data.startswith(b"ACK ") and self.plan == "bye":
                self.bye()
            elif data.startswith(b"PRACK "):
                self.send(response(data, 200, "OK"))
                self.send(response(self.invite, 200, "OK", self.tag, f"Contact: <sip:uas@127.0.0.1:{self.port}>",
                                   sdp("127.0.0.1", self.rtp_port, self.crypto)))
            elif data.startswith(b"INFO "):
                self.send(response(data, 200, "OK"))
            elif data.startswith(b"UPDATE "):
                self.send(response(data, 200, "OK", None, self.update_extra))
            elif data.startswith(b"OPTIONS "):
                if self.options:
                    self.send(response(data, self.options, "Health", None,
                                       "Retry-After: 60" if self.options == 503 else ""))
            elif data.startswith(b"BYE "):
                self.send(response(data, 200, "OK"))
            elif data.startswith(b"CANCEL ") and self.plan == "cancel200":
                self.send(response(self.invite, 200, "OK", self.tag, f"Contact: <sip:uas@127.0.0.1:{self.port}>{self.rr}",
                                   sdp("127.0.0.1", self.rtp_port)))
                self.send(response(data, 200, "OK"))
            elif data.startswith(b"CANCEL "):
                self.send(response(data, 200, "OK"))
                self.send(response(self.invite, 487, "Request Terminated", self.tag))

    def _request(self, method, ruri, cseq, to, branch, extra="", body_text=""):
        """A request of ours (the callee's) on the dialog of self.invite."""
        inv = self.invite
        ctype = "Content-Type: application/sdp\r\n" if body_text else ""
        return (f"{method} {ruri} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{branch}{len(self.got)}\r\n"
                f"From: {hdr(inv, 'To')};tag={self.tag}\r\nTo: {to}\r\n"
                f"Call-ID: {hdr(inv, 'Call-ID')}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n"
                f"{extra}{ctype}Content-Length: {len(body_text.encode())}\r\n\r\n{body_text}").encode()

    def bye(self):
        """Hangs up the answered call: BYE on the dialog of self.invite."""
        self.send(self._request("BYE", hdr(self.invite, "Contact").strip("<>"), 1, hdr(self.invite, "From"), "uasbye"))

    def close(self):
        self.stop = True
        self.join(2)
        self.sock.close()
        self.rtp.close()
        self.rtp2.close()


def calls_one_after_another(sbc_port, n):
    """n calls through sbc-signal one after the other, each answered and
    hung up by the caller (its BYE answered 200)."""
    for _ in range(n):
        uac = Uac(sbc_port)
        try:
            assert status(uac.bye(uac.answered())) == 200
        finally:
            uac.close()


class Uac:
    """The calling carrier on UDP, one call at a time."""

    def __init__(self, sbc_port, ip="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.ip = ip
        self.port = self.sock.getsockname()[1]
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((ip, rtp_port(ip)))
        self.rtp_port = self.rtp.getsockname()[1]
        self.dst = ("127.0.0.1", sbc_port)
        self.cseq = 1  # the highest CSeq of our requests in the dialog (_request; bye() goes above it)
        self.callid = f"uac-call-{self.port}@{ip}"
        self.ftag = "uac-from-tag-77"
        self.got = []

    def invite(self, number="4930123456", crypto=None, body_text=None, ruri=None, to=None, extra="", cseq=1):
        """ruri / to: other Request-URI / To URI than the number's; extra:
        header lines ("Name: value\r\n") added; cseq: its CSeq number
        (ack, cancel and prack assume 1)."""
        b = body_text if body_text is not None else sdp(self.ip, self.rtp_port, crypto)
        ruri = ruri or f"sip:{number}@127.0.0.1:{self.dst[1]}"
        to = to or f"sip:{number}@127.0.0.1"
        self.inv = (f"INVITE {ruri} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP {self.ip}:{self.port};branch=z9hG4bKuacinv1;rport\r\n"
                    f"From: \"Alice\" <sip:15550001111@{self.ip}:{self.port}>;tag={self.ftag}\r\n"
                    f"To: <{to}>\r\nCall-ID: {self.callid}\r\nCSeq: {cseq} INVITE\r\n"
                    f"Contact: <sip:alice@{self.ip}:{self.port}>\r\nMax-Forwards: 70\r\n{extra}"
                    f"User-Agent: uac-secret-agent\r\nX-Internal: {self.ip}\r\n"
                    f"Content-Type: application/sdp\r\nContent-Length: {len(b.encode())}\r\n\r\n{b}").encode()
        self.sock.sendto(self.inv, self.dst)

    def answered(self, **invite_kw):
        """An INVITE answered 200 and ACKed: returns the 200."""
        self.invite(**invite_kw)
        final = self.wait_final()
        assert status(final) == 200, final
        self.ack(final)
        return final

    def wait_final(self, timeout=10.0):
        return self.recv_until(lambda d: status(d) >= 200 and hdr(d, "CSeq").endswith("INVITE"), timeout,
                               "no final response")

    def recv_until(self, pred, timeout=10.0, what="not received"):
        """The first message for which pred holds; every message is kept in
        self.got, a BYE from the SBC answered 200 on the way."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            self.got.append(data)
            if data.startswith(b"BYE "):
                self.sock.sendto(response(data, 200, "OK"), self.dst)
            if pred(data):
                return data
        raise AssertionError(f"{what}; got: {self.got!r}")

    def _request(self, method, dlg, cseq, extra="", ctype=None, body_text="", ruri=None, to=None, branch=None):
        """A request of ours on the dialog that message dlg (the 200, or a
        reliable provisional) set up: to its Contact, with its To (tag)."""
        ruri = ruri or hdr(dlg, "Contact").strip("<>")
        branch = branch or f"z9hG4bKuac{method.lower()}{cseq}"
        if method not in ("ACK", "CANCEL"):
            self.cseq = max(self.cseq, cseq)
        if ctype:
            extra += f"Content-Type: {ctype}\r\n"
        return (f"{method} {ruri} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {self.ip}:{self.port};branch={branch};rport\r\n"
                f"From: \"Alice\" <sip:15550001111@{self.ip}:{self.port}>;tag={self.ftag}\r\n"
                f"To: {to or hdr(dlg, 'To')}\r\nCall-ID: {self.callid}\r\nCSeq: {cseq} {method}\r\n"
                f"Max-Forwards: 70\r\n{extra}Content-Length: {len(body_text.encode())}\r\n\r\n{body_text}").encode()

    def _transaction(self, method, dlg, cseq, **kw):
        """Sends the request and returns its final response."""
        self.sock.sendto(self._request(method, dlg, cseq, **kw), self.dst)
        return self.recv_until(lambda d: status(d) >= 200 and hdr(d, "CSeq") == f"{cseq} {method}")

    def reinvite(self, final, direction, cseq=3, port=None):
        b = sdp(self.ip, port or self.rtp_port).replace("a=sendrecv", f"a={direction}")
        ok = self._transaction("INVITE", final, cseq, extra=f"Contact: <sip:alice@{self.ip}:{self.port}>\r\n",
                               ctype="application/sdp", body_text=b)
        self.sock.sendto(self._request("ACK", final, cseq), self.dst)
        return ok

    def prack(self, prov, cseq=2):
        return self._transaction("PRACK", prov, cseq, extra=f"RAck: {hdr(prov, 'RSeq')} 1 INVITE\r\n")

    def info(self, final, ctype, text, cseq=6):
        return self._transaction("INFO", final, cseq, ctype=ctype, body_text=text)

    def update(self, final, cseq=5):
        return self._transaction("UPDATE", final, cseq, extra=f"Contact: <sip:alice@{self.ip}:{self.port}>\r\n"
                                 "Session-Expires: 1800;refresher=uac\r\n")

    def ack(self, final):
        self.sock.sendto(self._request("ACK", final, 1), self.dst)

    def bye(self, final):
        """BYE with a CSeq above every earlier request of ours (RFC 3261
        12.2.1.1; sbc-signal refuses an out-of-order one with 500): 2 after
        the INVITE alone, as before."""
        cseq = max(self.cseq, int(hdr(self.inv, "CSeq").split()[0])) + 1
        self.sock.sendto(self._request("BYE", final, cseq), self.dst)
        return self.recv_until(lambda d: status(d) and "BYE" in hdr(d, "CSeq"))

    def cancel(self):
        # the INVITE's Request-URI, To and branch (RFC 3261 9.1)
        self.sock.sendto(self._request("CANCEL", self.inv, 1, ruri=self.inv.split(b" ")[1].decode(),
                                       to=hdr(self.inv, "To"), branch="z9hG4bKuacinv1"), self.dst)

    def close(self):
        self.sock.close()
        self.rtp.close()


def child_pid(ppid, name):
    """The pid of ppid's child process called name (e.g. sbc-control's
    sbc-signal), or None."""
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            st = (d / "stat").read_text()
        except OSError:
            continue
        if st[st.index("(") + 1:st.rindex(")")] == name and int(st.rsplit(")", 1)[1].split()[1]) == ppid:
            return int(d.name)
    return None


@pytest.fixture(name="env")
def call_env(procs, tmp_path):
    """env(plan, **Sbc options): an Sbc (with those options, e.g.
    rtp_timeout_ms) in front of a Uas with that plan, and a Uac to call it
    through; all closed after the test. A test module takes it with
    `from b2b_common import call_env  # noqa: F401`."""
    made = []

    def make(plan="answer", **sbc_kw):
        uas = Uas(plan)
        sbc = Sbc(procs, tmp_path, uas.port, **sbc_kw)
        uac = Uac(sbc.port)
        made.extend([uas, uac])
        return sbc, uas, uac

    yield make
    for m in made:
        m.close()
