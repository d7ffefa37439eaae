"""Call records of an sbc-signal process that ended. A call's state lives in
the sbc-signal process that holds it; when that process is killed its calls
are gone and no end event ever comes. Before, sbc-control kept them
"answered" for good: listed as active by call.list, no end line in
cdr.jsonl (a start without an end: a billing dispute), and call.hangup
"succeeded" by asking the restarted process, which does not know them.
sbc-control now ends them itself when it reaps the process (cause 500, a
reason naming the exit), and only them: a call of the restarted process is
never taken for one of the dead one's."""
import json

import pytest

from b2b_common import Sbc, Uac, Uas, child_pid, status
from conftest import BUILD, free_port, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


def cdr_lines(sbc):
    p = sbc.data / "cdr.jsonl"
    return [json.loads(ln) for ln in p.read_text().splitlines()] if p.exists() else []


def active_ids(sbc):
    return [c["id"] for c in sbc.rpc("call.list", {"active": True})["calls"]]


def answered_record(sbc, exclude=()):
    """The one answered call of call.list that is not in exclude."""
    def one():
        got = [c for c in sbc.rpc("call.list", {"active": True})["calls"]
               if c["state"] == "answered" and c["id"] not in exclude]
        return got[0] if len(got) == 1 else None
    return wait_for(one, what="an answered call in call.list")


def test_killed_signal_calls_are_ended_and_only_theirs(procs, tmp_path):
    uas = Uas("answer")
    sbc = Sbc(procs, tmp_path, uas.port)
    uac1 = Uac(sbc.port)
    uac2 = None
    try:
        final1 = uac1.answered()
        rec1 = answered_record(sbc)
        id1 = rec1["id"]
        old_pid = child_pid(sbc.ctl.pid, "sbc-signal")

        sbc.kill_signal()
        # sbc-control ends the record as it reaps the process (before it
        # starts the next): by now, or within a short bound on a slow box
        wait_for(lambda: id1 not in active_ids(sbc), timeout=5, what="the killed process's call no longer active")
        got = sbc.rpc("call.get", {"id": id1})
        assert got["state"] == "ended" and got["cause"] == 500, got
        assert got["reason"].startswith("sbc-signal exited (killed by signal 9") and \
            got["reason"].endswith("call state lost"), got
        assert got["answer_ms"] == rec1["answer_ms"] and got["trunk_out"] == "demo-out", got
        # its end line, in the format of any other end, once
        ends = [e for e in cdr_lines(sbc) if e["id"] == id1 and e["event"] == "end"]
        assert len(ends) == 1, cdr_lines(sbc)
        end = ends[0]
        assert end["cause"] == 500 and end["reason"] == got["reason"], end
        assert end["start_ms"] <= end["answer_ms"] <= end["time_ms"], end
        assert end["worker"] == 0 and end["signal_pid"] == old_pid and end["to_out"] == rec1["to_out"], end
        # call.hangup on it: an error, not a request sent to the new process
        r = sbc.rpc_raw("call.hangup", {"id": id1})
        assert "result" not in r and r["error"]["code"] == -32001, r
        assert "has ended (sbc-signal exited (killed by signal 9" in r["error"]["message"], r
        assert rec1["signal_pid"] == old_pid, rec1  # whose call it was

        # a call on the restarted process at once: listed, and ends normally
        # (its record is the new process's, not closed by the death handling)
        wait_for(sbc.options_ok, timeout=15, what="the restarted sbc-signal answering")
        new_pid = child_pid(sbc.ctl.pid, "sbc-signal")
        # the caller was not told; its BYE now finds no dialog, and adds no
        # second end to call 1's record
        assert status(uac1.bye(final1)) == 481
        uac2 = Uac(sbc.port)
        final2 = uac2.answered()
        rec2 = answered_record(sbc, exclude=(id1,))
        assert rec2["id"] != id1 and rec2["signal_pid"] == new_pid != old_pid, (rec1, rec2)
        assert active_ids(sbc) == [rec2["id"]]
        assert status(uac2.bye(final2)) == 200
        got2 = wait_for(lambda: (lambda r: r if r["state"] == "ended" else None)(
            sbc.rpc("call.get", {"id": rec2["id"]})), what="call 2 ended by its BYE")
        assert got2["cause"] == 200 and got2["reason"] == "BYE from caller", got2
        lines = cdr_lines(sbc)
        assert [e["event"] for e in lines if e["id"] == rec2["id"]] == ["start", "answer", "end"], lines
        assert [e["event"] for e in lines if e["id"] == id1] == ["start", "answer", "end"], lines
        assert active_ids(sbc) == []
        assert sbc.log().count("call record(s) left open") == 1  # the kill's, not call 2's
    finally:
        uac1.close()
        if uac2:
            uac2.close()
        uas.close()


def test_restart_for_reload_ends_each_call_once(procs, tmp_path):
    """A reload that restarts sbc-signal (DRAIN, SIGTERM): the stopping
    process ends its calls itself (503 "shutdown"), and those end events
    are read before sbc-control looks for calls left open: one end line per
    call, the process's own, not a second one from sbc-control."""
    uas = Uas("answer")
    sbc = Sbc(procs, tmp_path, uas.port)
    uac = Uac(sbc.port)
    try:
        uac.answered()
        rec = answered_record(sbc)
        old_pid = child_pid(sbc.ctl.pid, "sbc-signal")
        cfg_path = tmp_path / "cfg.json"
        cfg = json.loads(cfg_path.read_text())
        # a listener more concerns sbc-signal: restarted; a short drain
        cfg["signal"]["listen"].append({"transport": "tcp", "address": f"127.0.0.1:{free_port()}"})
        cfg["control"] = {"drain_ms": 300}
        cfg_path.write_text(json.dumps(cfg))
        assert sbc.rpc("system.reload")["restarted"] == ["sbc-signal"]
        wait_for(lambda: child_pid(sbc.ctl.pid, "sbc-signal") not in (None, old_pid), timeout=15,
                 what="sbc-signal restarted for the reload")
        got = wait_for(lambda: (lambda r: r if r["state"] == "ended" else None)(
            sbc.rpc("call.get", {"id": rec["id"]})), timeout=5, what="the call ended")
        ends = [e for e in cdr_lines(sbc) if e["id"] == rec["id"] and e["event"] == "end"]
        assert len(ends) == 1 and ends[0]["cause"] == got["cause"], cdr_lines(sbc)
        # ended by sbc-signal itself as it stopped (before, those end events
        # were reserved on its ring but never published: the process exited
        # before its next tick, and the call was left open)
        assert got["cause"] == 503 and got["reason"] == "shutdown", got
        assert active_ids(sbc) == []
    finally:
        uac.close()
        uas.close()
