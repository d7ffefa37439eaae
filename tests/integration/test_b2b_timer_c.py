"""A B-leg INVITE we CANCEL (Timer C, or the caller's CANCEL) toward a
trunk that rings and then ignores the CANCEL: no 487, no final response
ever. The client INVITE transaction in Proceeding has no timer of its own;
RFC 3261 9.1: it is given up 64*T1 after the CANCEL. T1 is 50 ms here
(signal.timers.t1_ms), so 3.2 s; the call itself is not affected (Timer C
fails it over to the next route at once; a cancelled call ends with 487)."""
import socket
import threading
import time

import pytest

from b2b_common import Sbc, Uac, Uas, hdr, response, status
from conftest import wait_for

T1_MS = 50
GIVEN_UP = "CANCELled, ended without a final response"


class RingForever(threading.Thread):
    """A UDP trunk that answers each new INVITE with 180 and then nothing:
    CANCEL, OPTIONS and retransmissions are ignored."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.got = []  # (monotonic time, datagram)
        self.start()

    def run(self):
        seen = set()
        while not self.stop:
            try:
                d, a = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            self.got.append((time.monotonic(), d))
            if d.startswith(b"INVITE ") and hdr(d, "Call-ID") not in seen:
                seen.add(hdr(d, "Call-ID"))
                self.sock.sendto(response(d, 180, "Ringing", "rf-tag"), a)

    def first(self, method):
        return next((t for t, d in self.got if d.startswith(method.encode() + b" ")), None)

    def close(self):
        self.stop = True
        self.join()
        self.sock.close()


@pytest.mark.parametrize("who", ["timer_c", "caller_cancel"])
def test_cancelled_invite_never_answered_is_given_up(procs, tmp_path, who):
    rf = RingForever()
    uas = Uas("answer")
    uac = Uac(0)
    try:
        sbc = Sbc(procs, tmp_path, uas.port, timers={"no_answer_ms": 500 if who == "timer_c" else 60000,
                                                     "t1_ms": T1_MS})
        uac.dst = ("127.0.0.1", sbc.port)
        sbc.rpc("trunk.add", {"name": "ringer", "destinations": [{"host": "127.0.0.1", "port": rf.port,
                                                                  "transport": "udp"}],
                              "srtp_inbound": {"mode": "off"}, "srtp_outbound": {"mode": "off"}})
        sbc.rpc("route.add", {"prefix": "49", "trunk": "ringer", "priority": 5})
        sbc.rpc("route.add", {"prefix": "49", "trunk": "demo-out", "priority": 10})
        sbc.signal_synced()
        uac.invite()
        uac.recv_until(lambda d: status(d) == 180, timeout=5, what="180 from the ringer")
        if who == "caller_cancel":
            uac.cancel()
            final = uac.wait_final(timeout=5)
            assert status(final) == 487, final
        else:  # Timer C: CANCEL toward the ringer, the next route answers
            final = uac.wait_final(timeout=5)
            assert status(final) == 200, final
            uac.ack(final)
            assert status(uac.bye(final)) == 200
        wait_for(lambda: rf.first("CANCEL"), timeout=5, what="CANCEL at the ringer")
        t_cancel = rf.first("CANCEL")
        assert GIVEN_UP not in sbc.log()
        wait_for(lambda: GIVEN_UP in sbc.log(), timeout=64 * T1_MS / 1000 + 3, what="INVITE given up")
        took = time.monotonic() - t_cancel
        # not before 64*T1 (less the wheel's 8 ms tick), not much after
        assert 64 * T1_MS / 1000 - 0.05 <= took < 64 * T1_MS / 1000 + 2.0, took
        assert sbc.log().count(GIVEN_UP) == 1
        assert len(uas.requests("INVITE")) == (1 if who == "timer_c" else 0)
    finally:
        rf.close()
        uac.close()
        uas.stop = True
