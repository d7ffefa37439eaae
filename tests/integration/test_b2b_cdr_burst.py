"""Call records under bursts: carriers bill from cdr.jsonl, so every call
needs its real end there. sbc-signal holds call events on its control ring
until its 100 ms tick; a burst of ends (hundreds of BYEs at once) filled the
64 KiB ring and the rest were dropped silently, and became sbc-control's
made-up "call state lost" end (cause 500) when the process ended, maybe days
after the real BYE. A reload's restart likewise lost most "503 shutdown"
ends past ~200 calls per worker. Now held events are published as they pass
a quarter of the ring, what the ring refuses waits in a bounded per-worker
backlog, and a stopping worker waits (bounded) for sbc-control to drain.

The tests shrink the control ring to its smallest (16 KiB, a quarter of the
default) so that 90 calls (~50 KB of end events) overflow it as ~360 calls
do the default ring: a call takes 4 media ports, and a test takes at most
~400 ports in a row from its share of the port window (conftest)."""

# the smallest control ring sbc-control accepts (control.ctl_ring_bytes)
SMALL_RING = {"ctl_ring_bytes": 16384}
N_CALLS = 90
import contextlib
import json
import socket
import time

import pytest

from b2b_common import Sbc, Uas, child_pid, hdr, sdp, status
from conftest import BUILD, free_port, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


def cdr_lines(sbc):
    p = sbc.data / "cdr.jsonl"
    return [json.loads(ln) for ln in p.read_text().splitlines()] if p.exists() else []


class ManyUac:
    """The calling carrier on one UDP socket with many calls (Call-ID
    burst-<n>), each a dialog of its own."""

    def __init__(self, sbc_port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.port = self.sock.getsockname()[1]
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.dst = ("127.0.0.1", sbc_port)
        self.finals = {}   # Call-ID -> the INVITE's 200
        self.bye_st = {}   # Call-ID -> the BYE's final status

    def _req(self, method, cid, cseq, ruri, to, body_text=""):
        ctype = "Content-Type: application/sdp\r\n" if body_text else ""
        return (f"{method} {ruri} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{method.lower()}{cseq}-{cid};rport\r\n"
                f"From: <sip:15550001111@127.0.0.1:{self.port}>;tag=f-{cid}\r\nTo: {to}\r\n"
                f"Call-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContact: <sip:a@127.0.0.1:{self.port}>\r\n"
                f"Max-Forwards: 70\r\n{ctype}Content-Length: {len(body_text.encode())}\r\n\r\n{body_text}").encode()

    def _pump(self, until, timeout, what):
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.05)
        while not until():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: {len(self.finals)} answered, {len(self.bye_st)} BYEs answered")
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            if not data.startswith(b"SIP/2.0 "):
                continue
            cid, cseq = hdr(data, "Call-ID"), hdr(data, "CSeq")
            if cseq == "1 INVITE" and status(data) >= 200 and cid not in self.finals:
                assert status(data) == 200, data
                self.finals[cid] = data
                to = hdr(data, "To")
                self.sock.sendto(self._req("ACK", cid, 1, hdr(data, "Contact").strip("<>"), to), self.dst)
            elif cseq == "2 BYE" and status(data) >= 200:
                self.bye_st[cid] = status(data)

    def call(self, n, batch=10, pause=0.1):
        """n answered calls, batch INVITEs at a time, pause seconds apart
        (100 calls/s: their start and answer events are no burst)."""
        for first in range(0, n, batch):
            ids = [f"burst-{i}" for i in range(first, min(n, first + batch))]
            for cid in ids:
                self.sock.sendto(self._req("INVITE", cid, 1, f"sip:4930123456@127.0.0.1:{self.dst[1]}",
                                           "<sip:4930123456@127.0.0.1>",
                                           sdp("127.0.0.1", self.rtp.getsockname()[1])), self.dst)
            self._pump(lambda: all(c in self.finals for c in ids), 20, "calls not answered")
            time.sleep(pause)

    def bye_all(self):
        """Every call's BYE at once (built first, then sent back to back:
        within one 100 ms tick of sbc-signal's); returns once all are
        answered."""
        byes = [self._req("BYE", cid, 2, hdr(final, "Contact").strip("<>"), hdr(final, "To"))
                for cid, final in self.finals.items()]
        for b in byes:
            self.sock.sendto(b, self.dst)
        self._pump(lambda: len(self.bye_st) == len(self.finals), 20, "BYEs not answered")

    def close(self):
        self.sock.close()
        self.rtp.close()


def call_ids(sbc, n):
    """The record ids of the n calls, once sbc-control has their answers."""
    def got():
        lines = cdr_lines(sbc)
        ids = {e["id"] for e in lines if e["event"] == "answer"}
        return ids if len(ids) == n else None
    return wait_for(got, timeout=10, what=f"{n} answered calls in cdr.jsonl")


def ends_by_id(sbc):
    out = {}
    for e in cdr_lines(sbc):
        if e["event"] == "end":
            out.setdefault(e["id"], []).append(e)
    return out


@contextlib.contextmanager
def answered_burst(procs, tmp_path, n):
    """n answered calls (ManyUac) through an Sbc on SMALL_RING: yields
    (sbc, uac, the calls' record ids); the sockets closed after."""
    uas = Uas("answer")
    sbc = Sbc(procs, tmp_path, uas.port, log_level="info", media_ports=4 * n + 40, control=SMALL_RING)
    uac = ManyUac(sbc.port)
    try:
        uac.call(n)
        yield sbc, uac, call_ids(sbc, n)
    finally:
        uac.close()
        uas.close()


def test_burst_of_byes_keeps_every_end(procs, tmp_path):
    """90 answered calls, their BYEs at once (all answered 200): each has
    its own end in cdr.jsonl (cause 200 "BYE from caller"), none open, and a
    kill -9 afterwards adds no made-up end. Fails before: the burst filled
    the control ring, most ends were lost and the kill ended those calls
    with cause 500."""
    n = N_CALLS
    with answered_burst(procs, tmp_path, n) as (sbc, uac, ids):
        uac.bye_all()
        assert set(uac.bye_st.values()) == {200}, uac.bye_st
        # the ends reach sbc-control within a tick or so
        try:
            wait_for(lambda: len(ends_by_id(sbc)) == n, timeout=5, what="every call's end in cdr.jsonl")
        finally:
            ends = ends_by_id(sbc)
            assert len(ends) == n, f"{n - len(ends)} of {n} calls have no end in cdr.jsonl"
        assert sbc.rpc("call.list", {"active": True, "limit": 1000})["calls"] == []

        sbc.kill_signal()
        wait_for(sbc.options_ok, timeout=15, what="the restarted sbc-signal answering")
        ends = ends_by_id(sbc)
        assert set(ends) == ids
        bad = {i: e for i, e in ends.items() if len(e) != 1 or e[0]["cause"] != 200 or
               e[0]["reason"] != "BYE from caller"}
        assert not bad, f"{len(bad)} calls without their one real end, e.g. {next(iter(bad.values()))}"
        assert "call record(s) left open" not in sbc.log()
        # sbc-signal said nothing was dropped either (its new process: 0)
        sbc.signal_synced()
        stats = sbc.rpc("stats.get")["signal"]
        assert all(w["stats"]["call_events"] == {"held": 0, "dropped": 0} for w in stats), stats


def test_reload_restart_ends_every_call_503(procs, tmp_path):
    """90 answered calls on one worker (as 360 on the default ring), then a
    reload that restarts sbc-signal: the stopping worker ends each call
    itself, exactly once, cause 503 "shutdown". Fails before: the ends that
    fit the ring before its single publish were kept, the rest became
    sbc-control's cause 500."""
    n = N_CALLS
    with answered_burst(procs, tmp_path, n) as (sbc, uac, ids):
        old_pid = child_pid(sbc.ctl.pid, "sbc-signal")
        cfg_path = tmp_path / "cfg.json"
        cfg = json.loads(cfg_path.read_text())
        # a new listener concerns sbc-signal: restarted; a short drain
        cfg["signal"]["listen"].append({"transport": "tcp", "address": f"127.0.0.1:{free_port()}"})
        cfg.setdefault("control", {})["drain_ms"] = 300
        cfg_path.write_text(json.dumps(cfg))
        assert sbc.rpc("system.reload")["restarted"] == ["sbc-signal"]
        wait_for(lambda: child_pid(sbc.ctl.pid, "sbc-signal") not in (None, old_pid), timeout=15,
                 what="sbc-signal restarted for the reload")
        wait_for(lambda: len(ends_by_id(sbc)) == n, timeout=10, what="every call's end in cdr.jsonl")
        ends = ends_by_id(sbc)
        assert set(ends) == ids
        causes = {}
        for e in ends.values():
            key = (len(e), e[0]["cause"], e[0]["reason"])
            causes[key] = causes.get(key, 0) + 1
        assert causes == {(1, 503, "shutdown"): n}, causes
        assert sbc.rpc("call.list", {"active": True, "limit": 1000})["calls"] == []
        assert "call record(s) left open" not in sbc.log()
