"""cdr.jsonl that is not a regular file. sbc-control opens cdr.jsonl
O_RDWR (to look at its last byte); on a FIFO that open succeeds with no
reader, and once the pipe is full the next write(2) blocks sbc-control's
loop for good: no JSON-RPC, no supervision, no more call records. It must
refuse the FIFO with a clear warning and keep running."""
import fcntl
import os
import socket

import pytest

from b2b_common import Sbc, Uas, calls_one_after_another
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


def test_fifo_cdr_file_does_not_hang_control(procs, tmp_path):
    uas = Uas("answer")
    sbc = Sbc(procs, tmp_path, uas.port)
    path = sbc.data / "cdr.jsonl"
    rd = None
    try:
        calls_one_after_another(sbc.port, 1)
        wait_for(path.exists, what="cdr.jsonl open in sbc-control")
        os.unlink(path)  # rotation by rm: the next line reopens the path ...
        os.mkfifo(path)  # ... which is now a FIFO
        # the smallest pipe buffer (one page), so a few calls fill it; the
        # pipe lives while someone holds the FIFO: ours until sbc-control
        # has opened it for the next call's lines
        rd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        fcntl.fcntl(rd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
        calls_one_after_another(sbc.port, 1)
        # opened for that call's lines (the defect), or refused (the fix)
        wait_for(lambda: "not a regular file" in procs.log(sbc.ctl) or any(
            os.path.realpath(f"/proc/{sbc.ctl.pid}/fd/{f}") == str(path) for f in os.listdir(f"/proc/{sbc.ctl.pid}/fd")),
            what="sbc-control holding or refusing the FIFO")
        os.close(rd)  # no reader but sbc-control itself from now on
        rd = None
        calls_one_after_another(sbc.port, 8)  # ~900 bytes of lines a call: past 4 KiB

        def ended():
            try:
                got = sbc.rpc_raw("call.list", {"active": False})
            except (socket.timeout, TimeoutError):
                pytest.fail("sbc-control stopped answering JSON-RPC: blocked writing into the FIFO cdr.jsonl")
            assert "result" in got, got
            return sum(c["state"] == "ended" for c in got["result"]["calls"]) == 10
        wait_for(ended, timeout=20, what="the 10 calls ended in call.list (their end events handled)")
        assert sbc.ctl.poll() is None
        wait_for(lambda: "not a regular file" in procs.log(sbc.ctl), what="the warning about the FIFO")
    finally:
        if rd is not None:
            os.close(rd)
        uas.close()
