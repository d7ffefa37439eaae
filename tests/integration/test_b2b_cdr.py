"""Call records: sbc-signal's SBC_MSG_CALL_EVENTs (start, answer, end)
appended by sbc-control to <data-dir>/cdr.jsonl and served by call.list /
call.get; call.hangup ends an answered call with BYE on both legs."""
import json
import time

import pytest

from b2b_common import Sbc, Uac, Uas, hdr, status
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")

CRYPTO_A = "1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"


def cdr_lines(sbc):
    p = sbc.data / "cdr.jsonl"
    return [json.loads(ln) for ln in p.read_text().splitlines()] if p.exists() else []


def test_call_records_and_hangup(procs, tmp_path):
    uas = Uas("answer")
    uac = Uac(0)
    try:
        sbc = Sbc(procs, tmp_path, uas.port)
        uac.dst = ("127.0.0.1", sbc.port)
        sbc.rpc("route.add", {"prefix": "49", "trunk": "demo-out", "strip": 2, "prepend": "0049"})
        sbc.signal_synced()  # not a fixed sleep: in the workers' view for sure
        uac.invite(number="4930123456", crypto=[CRYPTO_A])
        final = uac.wait_final()
        assert status(final) == 200, sbc.log()[-3000:]
        uac.ack(final)
        assert "004930123456@" in uas.invite.decode().split("\r\n")[0]
        assert status(uac.bye(final)) == 200
        evs = wait_for(lambda: (lambda e: e if [x for x in e if x["event"] == "end"] else None)(cdr_lines(sbc)),
                       what="end event in cdr.jsonl")
        assert [e["event"] for e in evs] == ["start", "answer", "end"]
        end = evs[-1]
        assert end["trunk_in"] == "demo-in" and end["trunk_out"] == "demo-out"
        assert end["from"] == "15550001111" and end["to"] == "4930123456" and end["to_out"] == "004930123456"
        assert end["srtp_in"] == "AES_CM_128_HMAC_SHA1_80" and end["srtp_out"] == "NONE"
        assert end["cause"] == 200 and end["reason"] == "BYE from caller"
        assert end["start_ms"] <= end["answer_ms"] <= end["time_ms"]
        text = (sbc.data / "cdr.jsonl").read_text()
        assert "inline" not in text and "WVNfX19z" not in text
        got = sbc.rpc("call.get", {"id": end["id"]})
        assert got["state"] == "ended" and got["to_out"] == "004930123456"
        assert [c["id"] for c in sbc.rpc("call.list")["calls"]] == [end["id"]]
        # the operator rotates cdr.jsonl (kept open by sbc-control): the
        # next call's lines go to a new cdr.jsonl once a second has passed
        (sbc.data / "cdr.jsonl").rename(sbc.data / "cdr.jsonl.1")
        time.sleep(1.1)

        # a second call, ended by call.hangup: BYE toward both carriers
        uac2 = Uac(sbc.port)
        uac2.invite(number="4930999")
        f2 = uac2.wait_final()
        assert status(f2) == 200
        uac2.ack(f2)
        active = wait_for(lambda: [c for c in sbc.rpc("call.list", {"active": True})["calls"]
                                   if c["state"] == "answered"], what="answered call in call.list")
        assert len(active) == 1
        assert sbc.rpc("call.hangup", {"id": active[0]["id"]})["requested"] is True
        bye = uac2.recv_until(lambda d: d.startswith(b"BYE "))
        assert hdr(bye, "Call-ID") == uac2.callid
        wait_for(lambda: len(uas.requests("BYE")) == 2, what="BYE toward the callee")
        rec = wait_for(lambda: (lambda r: r if r["state"] == "ended" else None)(
            sbc.rpc("call.get", {"id": active[0]["id"]})), what="hung-up call ended")
        assert rec["reason"] == "hangup"
        evs2 = wait_for(lambda: (lambda e: e if [x for x in e if x["event"] == "end"] else None)(cdr_lines(sbc)),
                        what="second call's end in the new cdr.jsonl")
        assert [(e["event"], e["id"]) for e in evs2] == [(k, rec["id"]) for k in ("start", "answer", "end")]
        rotated = [json.loads(ln) for ln in (sbc.data / "cdr.jsonl.1").read_text().splitlines()]
        assert [(e["event"], e["id"]) for e in rotated] == [(k, end["id"]) for k in ("start", "answer", "end")]
        assert sbc.rpc("stats.get")["control"]["cdr_write_errors"] == 0
        uac2.close()
        # B2BUA counters in stats.get
        calls = wait_for(lambda: (lambda c: c if c.get("active") == 0 else None)(
            sbc.rpc("stats.get")["signal"][0]["stats"].get("calls", {})), what="call counters")
        assert calls["started"] == 2 and calls["answered"] == 2 and calls["failed"] == 0
    finally:
        uas.close()
        uac.close()
