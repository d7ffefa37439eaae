"""conftest's free_port() and free_port_range() under ephemeral port ranges
other than Debian's default, each set in a network namespace of its own
(ip_local_port_range is per namespace), so the box's setting is never
touched. "1024 65535" (a common tuning) leaves no window outside the
ephemeral range: free_port() must still hand out a port (the kernel's pick)
and free_port_range() a range, instead of failing every test. Two test
processes that would have the same share of the ports by their xdist
worker number (a crashed worker's replacement; a second pytest run) get
different shares (conftest._window_slot's lock files)."""
import os
import shutil
import subprocess
import sys

import pytest

import conftest
from conftest import REPO

# Runs inside `unshare -n`: sets the range, then prints what conftest hands
# out and whether it lies inside the ephemeral range.
CHECK = r"""
import socket, sys
sys.path.insert(0, sys.argv[1])
rng = sys.argv[2]
open("/proc/sys/net/ipv4/ip_local_port_range", "w").write(rng)
import conftest
eph_lo, eph_hi = map(int, rng.split())
p = conftest.free_port()
base = conftest.free_port_range(100)
assert base % 2 == 0 and 1024 <= base and base + 100 <= 65536, base
assert not (base <= p < base + 100), (p, base)
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t, \
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
    t.bind(("127.0.0.1", p))
    u.bind(("127.0.0.1", p))
print("port", p, "inside" if eph_lo <= p <= eph_hi else "outside",
      "range", base, "inside" if base + 99 >= eph_lo and base <= eph_hi else "outside")
"""

# ephemeral range -> where the port and the range must lie (None: anywhere;
# with no room outside the range, ports 10000-65535 are taken as they bind)
CASES = (
    ("1024 65535", "inside", None),    # no room on either side
    ("12000 63000", "inside", None),   # too little room on either side
    ("32768 60999", "outside", "outside"),  # Debian's default: below it
    ("1024 50000", "outside", "outside"),   # room above it only
)


def _unshare_or_skip():
    if os.geteuid() != 0:
        pytest.skip("needs root to set ip_local_port_range in a network namespace")
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) not installed")
    r = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("unshare -n refused: " + r.stderr.strip())


@pytest.mark.parametrize("workers", ("1", "2", "64"))
@pytest.mark.parametrize("rng,port_where,range_where", CASES, ids=[c[0].replace(" ", "-") for c in CASES])
def test_free_port_any_ephemeral_range(rng, port_where, range_where, workers):
    _unshare_or_skip()
    env = dict(os.environ, PYTEST_XDIST_WORKER="gw1", PYTEST_XDIST_WORKER_COUNT=workers)
    r = subprocess.run(["unshare", "-n", sys.executable, "-c", CHECK,
                        str(REPO / "tests" / "integration"), rng],
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    words = r.stdout.split()
    assert words[0] == "port" and words[2] == port_where, r.stdout
    assert words[3] == "range" and range_where in (None, words[5]), r.stdout


# Runs as a test process of its own: prints its share of the port window,
# then holds it until its stdin closes.
HOLD = r"""
import sys
sys.path.insert(0, sys.argv[1])
import conftest
lo, hi, _ = conftest._port_window()
print(conftest._window_slot()[0], lo, hi, flush=True)
sys.stdin.read()
"""


def free_slots():
    """How many of the port-window lock files no process holds now."""
    import fcntl
    n = 0
    for i in range(conftest._SLOTS):
        try:
            fd = os.open(f"/tmp/sbc-test-portwin-{conftest._SLOTS}-{i}.lock", os.O_RDONLY | os.O_CREAT, 0o666)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            n += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return n


def test_two_processes_same_worker_number_get_separate_windows():
    # both claim to be gw0 of -n 2: by the number alone they would share
    if free_slots() < 2:  # other test runs hold the slots: both would fall back to gw0's
        pytest.skip("fewer than 2 port-window slots free (other test processes on this box hold them)")
    env = dict(os.environ, PYTEST_XDIST_WORKER="gw0", PYTEST_XDIST_WORKER_COUNT="2")
    argv = [sys.executable, "-c", HOLD, str(REPO / "tests" / "integration")]
    a = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        wa = a.stdout.readline().split()
        b = subprocess.run(argv, input="", capture_output=True, text=True, env=env, timeout=30)
        assert b.returncode == 0, b.stderr
        wb = b.stdout.split()
    finally:
        a.stdin.close()
        a.wait(timeout=30)
    assert len(wa) == 3 and len(wb) == 3, (wa, wb)
    assert wa[0] != wb[0], (wa, wb)
    a_lo, a_hi, b_lo, b_hi = int(wa[1]), int(wa[2]), int(wb[1]), int(wb[2])
    assert a_hi <= b_lo or b_hi <= a_lo, (wa, wb)  # no port in both
