#!/usr/bin/python3
"""bench_purge: what a dead sbc-signal's sessions cost the relay when its
successor's HELLO has sbc-media delete them (worker.c purge), and what a
normal DELETE costs with thousands of sessions live; on io_uring (the
default) and epoll. The real sbc-media under medtool, one worker.

Figures per backend and N sessions (all on signal worker 0's ring):
  stall   the longest wall ms a stats request waited for its answer while
          the purge ran (requests back to back; the relay was as stuck)
  purge   wall ms and sbc-media CPU ms until all N are gone
  refused CREATEs of N new sessions refused right after the purge (their
          ports still bound: must be 0)
  delete  sbc-media CPU us per DELETE, N sessions deleted one by one
CPU is sbc-media's (utime + stime, 10 ms ticks): the machine is shared.
Targets: stall under 50 ms at any N, none refused (one purge chunk of 64 sessions is
~2-5 ms); purge and DELETE CPU per session flat in N (no O(N) per socket).
BENCH_PURGE_N="1000 3000" and BENCH_PURGE_IO="uring epoll" choose."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "integration"))
import conftest  # noqa: E402
from medtool import Medtool  # noqa: E402

TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) * TICK_MS


def one(io, n):
    conftest._ranges_given.clear()  # the previous run's range is free again
    with tempfile.TemporaryDirectory() as tmp:
        m = Medtool(tmp, io=io, slots=n + 16, timeout_ms=600000)
        try:
            m.spawn()
            r = m.cmd(f"bulk create {n} 1")
            assert r["ok"] >= n - 50, (r, m.media_log()[-2000:])
            n = r["ok"]
            c0, t0 = cpu_ms(m.pid), time.monotonic()
            m.cmd("hello 0 4242")
            st = m.cmd("tstats 0 120000")
            stall = st.get("wait_ms", -1)
            while st.get("sessions", 1):
                st = m.cmd("tstats 0 120000")
                stall = max(stall, st.get("wait_ms", -1))
            purge_ms, purge_cpu = (time.monotonic() - t0) * 1000, cpu_ms(m.pid) - c0
            assert st["orphans_deleted"] >= n, st
            # at once: the purged sessions' ports must be free
            r = m.cmd(f"bulk create {n} {10 * n}")
            refused = r["failed"]
            c0 = cpu_ms(m.pid)
            r = m.cmd(f"bulk delete {n} {10 * n}")
            if r["ok"] + r["failed"] < n:  # replies dropped (ring full): say so
                print(f"  ({io} {n}: {n - r['ok'] - r['failed']} DELETE replies missing)")
            del_cpu = cpu_ms(m.pid) - c0
            return stall, purge_ms, purge_cpu, r["ms"], del_cpu / max(1, r["ok"]), refused
        finally:
            m.close()


def main():
    ns = [int(x) for x in os.environ.get("BENCH_PURGE_N", "1000 2000 3000").split()]
    ios = os.environ.get("BENCH_PURGE_IO", "uring epoll").split()
    print("io     N      stall ms  purge ms  purge CPU ms (us/session)  CREATEs refused after  "
          "DELETE x N: wall ms, CPU us/DELETE")
    for io in ios:
        for n in ns:
            stall, pw, pc, dw, dc, refused = one(io, n)
            print(f"{io:6} {n:5} {stall:9.1f} {pw:9.0f} {pc:9.0f} ({1000 * pc / n:6.0f})"
                  f"               {refused:5}                 {dw:7.0f}, {1000 * dc:6.0f}")
    print("targets: stall < 50 ms at any N; CPU per session flat in N")


if __name__ == "__main__":
    main()
