"""Helpers shared by the python benchmarks (tests/bench/<component>/bench_*.py).

Not a benchmark itself (the Makefile runs tests/bench/*/bench_*.py only). A
bench in either component directory imports it with
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    import benchlib
"""
import os
import signal
import sys


def cpu_s(pid):
    """CPU seconds (utime + stime) process pid has used so far."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def pss_kb(pid):
    """Process pid's proportional set size in kB (0 when not readable)."""
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def summed(fn, pids):
    """fn(pid) summed over pids (cpu_s, pss_kb); a process that is gone by
    then counts nothing."""
    total = 0
    for p in pids:
        try:
            total += fn(p)
        except OSError:
            pass
    return total


def fmt(v, spec):
    """v formatted with spec, or "-" for a figure that could not be taken."""
    return format(v, spec) if v is not None else "-"


class OverTime(BaseException):
    """Not an Exception: no scenario's error handling swallows it."""


def time_bound(name, seconds):
    """Bounds the bench's run time: after seconds, SIGALRM raises OverTime;
    SIGTERM exits with 143. Both unwind through the bench's finally clauses,
    which stop every server and load process it started."""
    def on_alarm(sig, frm):
        raise OverTime(f"{name}: over its time bound, stopping")
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))
    signal.alarm(seconds)


def run_main(main):
    """Exits with main()'s status; over the time bound: says so, exits 1."""
    try:
        sys.exit(main())
    except OverTime as e:
        print(e)
        sys.exit(1)
