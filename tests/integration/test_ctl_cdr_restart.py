"""Call records of a dead sbc-control. When sbc-control itself dies (crash,
SIGKILL, OOM kill) its children get SIGTERM (PR_SET_PDEATHSIG), so its
calls die too, but nobody is left to write their end lines: before, the
calls open then kept a start (and answer) line in cdr.jsonl with no end
for good. The next sbc-control now reads cdr.jsonl back before it spawns
sbc-signal and ends each of them (cause 500, a reason naming what
happened), once. A clean stop (SIGTERM) leaves no call open: the stopping
sbc-signal ends its calls (503) and sbc-control reads those ends before it
exits."""
import json
import os
import signal
import time

import pytest

from b2b_common import Sbc, Uac, Uas, child_pid, status
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")

REASON = "sbc-control restarted: call state lost (previous sbc-control did not end its calls)"


def cdr_lines(sbc):
    """The lines of cdr.jsonl that parse (a partial line does not)."""
    out = []
    for ln in (sbc.data / "cdr.jsonl").read_text().splitlines():
        try:
            out.append(json.loads(ln))
        except ValueError:
            pass
    return out


def answered_record(sbc, exclude=()):
    def one():
        got = [c for c in sbc.rpc("call.list", {"active": True})["calls"]
               if c["state"] == "answered" and c["id"] not in exclude]
        return got[0] if len(got) == 1 else None
    return wait_for(one, what="an answered call in call.list")


def gone(pid):
    """pid has exited (reaped, or a zombie of an init that does not reap)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def restart_control(sbc, procs, name):
    """A new sbc-control on the same configuration and data_dir."""
    sbc.ctl = procs.start(name, [str(BUILD / "sbc-control"), "--config", str(sbc.data.parent / "cfg.json"),
                                 "--data-dir", str(sbc.data)])
    wait_for(lambda: sbc.sock.exists() and sbc.options_ok() or sbc.ctl.poll() is not None,
             timeout=20, what="the new sbc-control and its sbc-signal")
    assert sbc.ctl.poll() is None, procs.log(sbc.ctl)


def test_killed_control_calls_ended_by_next(procs, tmp_path):
    uas = Uas("answer")
    sbc = Sbc(procs, tmp_path, uas.port)
    uac1, uac2 = Uac(sbc.port), Uac(sbc.port)
    try:
        # a call that ends normally, then one left answered
        final2 = uac2.answered()
        rec2 = answered_record(sbc)
        assert status(uac2.bye(final2)) == 200
        wait_for(lambda: sbc.rpc("call.get", {"id": rec2["id"]})["state"] == "ended", what="call 2 ended")
        uac1.answered()
        rec1 = answered_record(sbc, exclude=(rec2["id"],))
        id1 = rec1["id"]

        kids = [child_pid(sbc.ctl.pid, n) for n in ("sbc-signal", "sbc-media")]
        assert all(kids), kids
        os.kill(sbc.ctl.pid, signal.SIGKILL)
        sbc.ctl.wait(timeout=10)
        # its children follow it (SIGTERM from the kernel); what the
        # stopping sbc-signal sends on its ring is read by nobody
        wait_for(lambda: all(gone(p) for p in kids), timeout=15, what="the dead sbc-control's children gone")
        lines = cdr_lines(sbc)
        assert [e["event"] for e in lines if e["id"] == id1] == ["start", "answer"], lines
        # a crash in the middle of a line: the part stays a bad line
        with open(sbc.data / "cdr.jsonl", "a") as f:
            f.write('{"event":"end","id":"%s","cau' % id1)

        restart_control(sbc, procs, "control2")
        got = sbc.rpc("call.get", {"id": id1})
        assert got["state"] == "ended" and got["cause"] == 500 and got["reason"] == REASON, got
        assert got["answer_ms"] == rec1["answer_ms"] and got["trunk_out"] == "demo-out", got
        assert id1 not in [c["id"] for c in sbc.rpc("call.list", {"active": True})["calls"]]
        assert id1 in [c["id"] for c in sbc.rpc("call.list")["calls"]]
        lines = cdr_lines(sbc)
        ends = [e for e in lines if e["id"] == id1 and e["event"] == "end"]
        assert len(ends) == 1, lines
        end = ends[0]
        assert end["cause"] == 500 and end["reason"] == REASON, end
        assert end["start_ms"] <= end["answer_ms"] <= end["time_ms"], end
        assert end["to_out"] == rec1["to_out"] and end["signal_pid"] == rec1["signal_pid"], end
        # call 2 keeps its own end, and only it
        assert [e["event"] for e in lines if e["id"] == rec2["id"]] == ["start", "answer", "end"], lines
        assert [e for e in lines if e["id"] == rec2["id"]][-1]["reason"] == "BYE from caller", lines
        log2 = procs.log(sbc.ctl)
        assert "1 bad line(s) of" in log2, log2
        assert f"1 call(s) left open in {sbc.data}/cdr.jsonl by a previous sbc-control" in log2, log2
        # the bad part is a line of its own: every other line whole
        raw = (sbc.data / "cdr.jsonl").read_text()
        assert raw.endswith("\n") and raw.count("\n") == len(lines) + 1, raw

        # and the next start after that finds nothing open
        os.kill(sbc.ctl.pid, signal.SIGKILL)
        sbc.ctl.wait(timeout=10)
        kids = [p for p in (child_pid(sbc.ctl.pid, n) for n in ("sbc-signal", "sbc-media")) if p]
        wait_for(lambda: all(gone(p) for p in kids), timeout=15, what="the children gone again")
        restart_control(sbc, procs, "control3")
        assert "left open in" not in procs.log(sbc.ctl)
        assert len([e for e in cdr_lines(sbc) if e["id"] == id1 and e["event"] == "end"]) == 1
    finally:
        uac1.close()
        uac2.close()
        uas.close()


def test_clean_stop_leaves_no_call_open(procs, tmp_path):
    """SIGTERM to sbc-control with a call up: DRAIN and SIGTERM to
    sbc-signal, which ends the call (503 "shutdown"); sbc-control reads that
    end before it exits, so the next start has nothing to end."""
    uas = Uas("answer")
    sbc = Sbc(procs, tmp_path, uas.port)
    uac = Uac(sbc.port)
    try:
        uac.answered()
        rec = answered_record(sbc)
        os.kill(sbc.ctl.pid, signal.SIGTERM)
        assert sbc.ctl.wait(timeout=15) == 0, procs.log(sbc.ctl)
        ends = [e for e in cdr_lines(sbc) if e["id"] == rec["id"] and e["event"] == "end"]
        assert len(ends) == 1 and ends[0]["cause"] == 503 and ends[0]["reason"] == "shutdown", cdr_lines(sbc)
        size = (sbc.data / "cdr.jsonl").stat().st_size
        time.sleep(0.2)  # the children are gone by now: nothing more is written
        restart_control(sbc, procs, "control2")
        assert "left open in" not in procs.log(sbc.ctl)
        assert (sbc.data / "cdr.jsonl").stat().st_size == size
        got = sbc.rpc_raw("call.get", {"id": rec["id"]})
        assert got["error"]["code"] == -32001, got  # a closed call is not loaded back
    finally:
        uac.close()
        uas.close()


def test_second_control_ends_no_live_call(procs, tmp_path):
    """A second sbc-control started on the same data_dir while the first
    runs (an operator's mistake, a supervisor that did not wait) refuses to
    start (its control socket answers) before it reads cdr.jsonl: the first
    one's live call is not ended."""
    uas = Uas("answer")
    sbc = Sbc(procs, tmp_path, uas.port)
    uac = Uac(sbc.port)
    try:
        final = uac.answered()
        rec = answered_record(sbc)
        second = procs.start("control2", [str(BUILD / "sbc-control"), "--config", str(tmp_path / "cfg.json"),
                                          "--data-dir", str(sbc.data)])
        assert second.wait(timeout=15) == 1, procs.log(second)
        assert "another sbc-control is listening" in procs.log(second), procs.log(second)
        assert [e["event"] for e in cdr_lines(sbc) if e["id"] == rec["id"]] == ["start", "answer"], cdr_lines(sbc)
        assert sbc.rpc("call.get", {"id": rec["id"]})["state"] == "answered"
        assert status(uac.bye(final)) == 200
        got = wait_for(lambda: (lambda r: r if r["state"] == "ended" else None)(
            sbc.rpc("call.get", {"id": rec["id"]})), what="the call ended by its BYE")
        assert got["cause"] == 200, got
    finally:
        uac.close()
        uas.close()
