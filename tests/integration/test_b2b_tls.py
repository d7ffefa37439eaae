"""B2BUA call over TLS: SIPp (built without TLS) over TCP through stunnel4 in
client mode toward sbc-signal's TLS listener (sbc-control's self-signed
default profile); the B leg goes out over UDP to a python UAS. Checks that
SIPp counts one successful call and that the UAS got an INVITE with SDP on
sbc-media's address and nothing of the caller's."""
import shutil
import subprocess

import pytest

from b2b_common import Sbc, Uas, body, hdr, sdp_media
from conftest import BUILD, free_port_range, wait_for
from test_signal_common import no_sanitizer_reports, stunnel_client  # noqa: F401

pytestmark = pytest.mark.skipif(
    not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media"))
    or not shutil.which("sipp") or not shutil.which("stunnel4"),
    reason="binaries, sipp or stunnel4 missing")


def test_sipp_call_over_tls(procs, tmp_path):
    uas = Uas("answer")
    try:
        sbc = Sbc(procs, tmp_path, uas.port)
        local = stunnel_client(procs, tmp_path, sbc.tls_port)
        r = subprocess.run(["sipp", "-sn", "uac", "-t", "t1", f"127.0.0.1:{local}", "-s", "4930123456",
                            "-m", "3", "-r", "10", "-i", "127.0.0.1", "-mp", str(free_port_range(8)), "-timeout", "30", "-d", "100",
                            "-nostdin", "-trace_stat", "-stf", str(tmp_path / "stat.csv")],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:], sbc.log()[-3000:])
        stat = (tmp_path / "stat.csv").read_text().splitlines()
        head, last = stat[0].split(";"), stat[-1].split(";")
        assert int(last[head.index("SuccessfulCall(C)")]) == 3
        invs = uas.requests("INVITE")
        assert len({hdr(i, "Call-ID") for i in invs}) == 3
        for inv in invs:
            ip, port, proto = sdp_media(body(inv))
            assert ip == "127.0.0.1" and sbc.mbase <= port < sbc.mbase + 60 and proto == "RTP/AVP"
            assert "sipp" not in hdr(inv, "Call-ID") and "[" not in inv.decode()
            assert f":{local}" not in inv.decode()
        wait_for(lambda: len(uas.requests("BYE")) == 3, timeout=3, what="3 BYEs at the callee")
    finally:
        uas.close()
