"""Media sessions of a killed sbc-signal. Its calls die with it (sbc-control
closes their records: test_b2b_orphan_calls), but sbc-media keeps a session
until told to delete it, and the new sbc-signal hears of an old session
only through its RTP timeout: while a far end streams (music on hold, an IVR
loop) the dead call's media was relayed for as long as it streamed,
unbilled, on relay ports nobody could use. Now sbc-media deletes every
session a signal worker's ring carried before that ring's HELLO from a new
pid (the restarted process says HELLO as its workers start), in chunks of
64 a loop turn (test_media_purge: thousands do not stall the relay),
counted in media.stats `orphans_deleted`; the new process's calls relay as
usual."""
import re
import socket
import threading
import time

import pytest

from b2b_common import Sbc, Uac, Uas, body, child_pid, sdp_media, status
from conftest import BUILD, wait_for
from test_b2b_restart_ids import relayed
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")

RTP = bytes([0x80, 0x00, 0x00, 0x01]) + b"\x00" * 8 + b"orphan-media" * 12


class Stream(threading.Thread):
    """RTP every 20 ms from sock to dst (sequence numbers counting up), and
    whatever arrives on sock counted with its arrival time."""

    def __init__(self, sock, dst, tag):
        super().__init__(daemon=True)
        self.sock, self.dst, self.tag = sock, dst, tag
        self.sent = 0
        self.got = []  # monotonic arrival times
        self.stop = False
        self.sock.settimeout(0.005)
        self.start()

    def run(self):
        nxt = time.monotonic()
        while not self.stop:
            now = time.monotonic()
            if now >= nxt:
                seq = self.sent & 0xffff
                try:
                    self.sock.sendto(RTP[:2] + bytes([seq >> 8, seq & 0xff]) + RTP[4:] + self.tag, self.dst)
                except OSError:
                    pass  # the relay port closed: an ICMP error may come back
                self.sent += 1
                nxt += 0.02
            try:
                d = self.sock.recv(2048)
                if d.startswith(RTP[:2]):
                    self.got.append(time.monotonic())
            except (socket.timeout, OSError):
                pass

    def count(self):
        return len(self.got)

    def halt(self):
        self.stop = True
        self.join(2)


def media_totals(sbc):
    return sbc.rpc("media.stats")["totals"]


def test_killed_signal_media_deleted_at_its_successors_hello(procs, tmp_path):
    uas = Uas("answer")
    # the RTP timeout far beyond the test: only the HELLO can delete it
    sbc = Sbc(procs, tmp_path, uas.port, rtp_timeout_ms=60000)
    uac1 = Uac(sbc.port)
    uac2 = None
    streams = []
    try:
        final1 = uac1.answered()
        aip, aport, _ = sdp_media(body(final1))
        _, bport, _ = sdp_media(body(uas.invite))
        wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK at the callee")
        # both ends stream every 20 ms through the relay, as a call would
        a = Stream(uac1.rtp, (aip, aport), b"A")
        b = Stream(uas.rtp, ("127.0.0.1", bport), b"B")
        streams += [a, b]
        wait_for(lambda: a.count() >= 10 and b.count() >= 10, timeout=5, what="RTP relayed both ways")
        ss = sbc.rpc("media.sessions")
        assert ss["total"] == 1, ss
        sid = ss["sessions"][0]["id"]
        ports = sorted(lg["port"] for lg in ss["sessions"][0]["legs"])
        assert ports == sorted((aport, bport)), (ports, aport, bport)
        assert media_totals(sbc)["orphans_deleted"] == 0
        old_pid = child_pid(sbc.ctl.pid, "sbc-signal")

        sbc.kill_signal()  # returns once the next sbc-signal runs
        new_pid = child_pid(sbc.ctl.pid, "sbc-signal")
        # the new process's workers say HELLO as they start: the session
        # goes then, not after 60 s of silence (RTP never stopped)
        t0 = time.monotonic()
        wait_for(lambda: sbc.rpc("media.sessions")["total"] == 0, timeout=5,
                 what="the killed process's session deleted at its successor's HELLO")
        gone_after = time.monotonic() - t0
        st = media_totals(sbc)
        assert st["orphans_deleted"] == 1 and st["deleted"] == 1 and st["sessions"] == 0, st
        assert st["timeouts"] == 0, st  # not the RTP timeout's doing
        log = sbc.log()
        m = re.search(r"worker 0: signal worker 0 is now pid (\d+) \(was pid (\d+)\): deleted its 1 media "
                      r"session\(s\)", log)
        assert m and int(m.group(1)) == new_pid and int(m.group(2)) == old_pid, (old_pid, new_pid, log[-3000:])

        # the relay stopped: both ends keep streaming, nothing more arrives
        # (a packet already on its way when the sockets closed aside)
        time.sleep(0.1)
        na, nb = a.count(), b.count()
        sent = a.sent + b.sent
        time.sleep(0.6)
        assert a.sent + b.sent >= sent + 40  # still streaming meanwhile
        assert (a.count(), b.count()) == (na, nb), "RTP still relayed after the session was deleted"
        for s in streams:
            s.halt()
        assert f"{sid:x}" not in str(sbc.rpc("media.sessions"))

        # a call on the new process right after: its media relays normally
        wait_for(sbc.options_ok, timeout=15, what="the restarted sbc-signal answering")
        uac2 = Uac(sbc.port)
        final2 = uac2.answered()
        assert status(final2) == 200
        aip2, aport2, _ = sdp_media(body(final2))
        _, bport2, _ = sdp_media(body(uas.invite))
        assert relayed(uac2.rtp, (aip2, aport2), uas.rtp, b"n-ab") == bport2
        assert relayed(uas.rtp, ("127.0.0.1", bport2), uac2.rtp, b"n-ba") == aport2
        ss = sbc.rpc("media.sessions")
        assert ss["total"] == 1 and ss["sessions"][0]["id"] != sid, ss
        st = media_totals(sbc)
        assert st["orphans_deleted"] == 1 and st["created"] == 2, st
        assert status(uac2.bye(final2)) == 200
        wait_for(lambda: sbc.rpc("media.sessions")["total"] == 0, timeout=5, what="call 2's session deleted by its BYE")
        assert media_totals(sbc)["orphans_deleted"] == 1
        print(f"session gone {gone_after * 1000:.0f} ms after the new sbc-signal was up")
    finally:
        for s in streams:
            s.halt()
        uac1.close()
        if uac2:
            uac2.close()
        uas.close()
