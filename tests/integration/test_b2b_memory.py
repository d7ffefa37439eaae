"""Memory after a burst of calls (issue #5): transactions linger 64*T1
after their call (Timers J, K over UDP; L, M, RFC 6026, on every
transport), so a burst leaves a worker's heap as large as the calls of its
last 64*T1 needed. Once they have ended, the worker hands the freed
memory back to the kernel (b2b_engine.c mem_settle, malloc_trim): RSS
falls back toward where it was before the burst.

A SIPp UAC calls through sbc-signal over UDP (T1 50 ms: lingering for
3.2 s) to a SIPp UAS; sbc-signal's RSS is read from /proc. Skipped under
the sanitizers (ASan has its own allocator and quarantine)."""
import pathlib
import subprocess
import time

import pytest

from b2b_common import Sbc
from conftest import BUILD, free_port, free_port_range, wait_for

pytestmark = pytest.mark.skipif(not (BUILD / "sbc-signal").exists(), reason="binaries not built")


def rss_kb(pid):
    for ln in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if ln.startswith("VmRSS:"):
            return int(ln.split()[1])
    return 0


def child_pid(ppid, name):
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


def transactions(sbc):
    return sum(w["stats"].get("calls", {}).get("transactions", 0) for w in sbc.rpc("stats.get")["signal"])


def test_memory_returns_after_a_burst(procs, tmp_path):
    if b"libasan" in (BUILD / "sbc-signal").read_bytes():
        pytest.skip("ASan build: its allocator keeps freed memory (quarantine)")
    uas_port = free_port()
    uas = procs.start("uas", ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(uas_port), "-mp",
                              str(free_port_range(8)), "-nostdin"], cwd=tmp_path)
    sbc = Sbc(procs, tmp_path, uas_port, log_level="info", media_ports=400, timers={"t1_ms": 50})
    assert uas.poll() is None, "SIPp UAS did not start"
    spid = child_pid(sbc.ctl.pid, "sbc-signal")
    assert spid

    def burst(calls):
        r = subprocess.run(["sipp", "-sn", "uac", f"127.0.0.1:{sbc.port}", "-s", "4930123456", "-m", str(calls),
                            "-r", "800", "-l", "400", "-i", "127.0.0.1", "-p", str(free_port()), "-mp",
                            str(free_port_range(8)), "-timeout", "30", "-nostdin"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
        # 1: some calls failed (a loaded box); what matters here is the heap
        assert r.returncode in (0, 1), (r.stdout[-2000:], r.stderr[-2000:], sbc.log()[-3000:])
    # a few calls first: what any load keeps (recycled call objects, the
    # pages of the arena's first uses) is not the burst's
    burst(300)
    wait_for(lambda: transactions(sbc) < 50, timeout=15, what="lingering transactions ended")
    before = rss_kb(spid)
    burst(1600)
    peak = rss_kb(spid)
    grown = peak - before
    assert grown > 2048, f"the burst should have grown the heap: {before} -> {peak} kB"
    # the lingering transactions end 64*T1 (3.2 s) after their calls
    wait_for(lambda: transactions(sbc) < 50, timeout=15, what="lingering transactions ended")
    # then, at the worker's next periodic check (5 s), the memory goes back
    try:
        wait_for(lambda: rss_kb(spid) < before + grown // 3, timeout=12, what="RSS back down")
    except AssertionError:
        raise AssertionError(f"RSS {before} kB before, {peak} kB after the burst, {rss_kb(spid)} kB now")
    print(f"sbc-signal RSS {before} kB before the burst, {peak} kB after, {rss_kb(spid)} kB once settled")
    assert "memory handed back" in sbc.log()
