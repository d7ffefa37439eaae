"""Shared pytest fixtures for integration tests that start real sbc processes.

Rules: no fixed ports (ask free_port()), every process started through
`procs` is killed at teardown, logs land in the test's tmp_path.
"""
import functools
import os
import pathlib
import signal
import socket
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("SBC_BUILD", REPO / "build"))


# Fewer ports than this on either side of the ephemeral range: no window of
# our own (free_port asks the kernel instead, see _port_window).
_MIN_WINDOW = 4000


@functools.lru_cache(maxsize=None)  # the ephemeral range and our slot stay for the process
def _port_window(split=True):
    """The ports free_port() and free_port_range() pick from, and whether
    they lie outside the kernel's ephemeral range. Outside is what we want:
    every bind to port 0 and every outgoing TCP connection draws from the
    ephemeral range, so a media range inside it gets taken from under
    sbc-media, e.g. between a kill -9 and the restart that rebinds the same
    ports. The window is split into slots, one per test process (xdist
    worker or pytest run, _window_slot), so that two tests running at once
    never pick overlapping ports. With no room on either side of the
    ephemeral range (e.g. "1024 65535", a common tuning) the window is
    ports 10000-65535, inside it (outside=False)."""
    lo, hi, outside = 10000, 32768, True
    try:
        eph_lo, eph_hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
        if eph_lo - lo >= _MIN_WINDOW:
            hi = eph_lo
        elif 65536 - (eph_hi + 1) >= _MIN_WINDOW:  # an unusual range: take what lies above it
            lo, hi = eph_hi + 1, 65536
        else:
            lo, hi, outside = 10000, 65536, False
    except (OSError, ValueError):
        pass
    if not split:
        return lo, hi, outside
    slot, slots = _window_slot()
    step = (hi - lo) // slots
    if step < 512:  # too few ports to split (a test takes up to 400 in a row): share them
        return lo, hi, outside
    return lo + slot * step, lo + (slot + 1) * step, outside


# The window is split into this many slots; fixed, so that separate pytest
# runs on one box agree on them.
_SLOTS = 8
_slot_claimed = None  # (slot, slots, fd of its lock file or None)


def _window_slot():
    """This process's share of the port window: the first of the slots whose
    lock file (/tmp/sbc-test-portwin-<slots>-<i>.lock) it can flock, held
    for the process's lifetime (the kernel drops it when the process dies).
    So a crashed xdist worker's replacement (gw2 with -n 2), whose number
    would land on a running worker's share, and a second pytest run on the
    same box each get a share of their own. With every slot held, the one
    the xdist worker's number gives (as before: overlap is possible)."""
    global _slot_claimed
    if _slot_claimed is None:
        import fcntl
        # always _SLOTS lock files, whatever the worker count, so that runs
        # with different -n exclude each other (more workers than slots:
        # the number's slot below, shared)
        slots = _SLOTS
        for i in range(slots):
            path = f"/tmp/sbc-test-portwin-{slots}-{i}.lock"
            try:  # without O_CREAT first: another user's file in sticky /tmp (protected_regular)
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
                except OSError:
                    continue
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            _slot_claimed = (i, slots, fd)
            break
        else:
            worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
            _slot_claimed = (int(worker[2:]) % slots if worker[2:].isdigit() else 0, slots, None)
    return _slot_claimed[0], _slot_claimed[1]


# Ports and ranges free_port() and free_port_range() handed out during the
# current test. A port is only free when it is picked; the process it is
# for may bind it a while later (SIPp's ports, sbc-signal's listeners,
# sbc-media's range), so a port or range picked meanwhile must not overlap
# it. Cleared per test by _forget_port_ranges.
_ranges_given = []


def _pick_ports(count, host, kinds, even):
    """The first port of `count` consecutive ports that each of `kinds`
    (socket types) can bind on host now, from this xdist worker's window,
    overlapping nothing handed out in this test."""
    import random
    lo, hi, _ = _port_window()
    if 4 * count > hi - lo and "PYTEST_XDIST_WORKER" not in os.environ:
        # more than a share holds comfortably (bench_b2b_calls' 2000 media
        # ports, outside pytest-xdist): the whole window, overlap checked
        # by binding (under xdist another worker's pick could overlap)
        lo, hi, _ = _port_window(split=False)
    if hi - lo <= count:
        raise RuntimeError(f"no room for {count} ports in {lo}-{hi - 1}")
    for _ in range(200):
        base = random.randrange(lo, hi - count)
        if even:
            base &= ~1
            if base < lo:
                base += 2
        if any(base < b + n and b < base + count for b, n in _ranges_given):
            continue
        socks = []
        try:
            for p in range(base, base + count):
                for kind in kinds:
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind((host, p))
            _ranges_given.append((base, count))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {count} free consecutive port(s) in {lo}-{hi - 1} after 200 tries "
                       "(this test process's share of the window, see _port_window)")


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1"):
    """A port that is free for TCP and UDP right now (kind is kept for the
    callers that name one: both are checked), from this xdist worker's share
    of the ports below the ephemeral range, and none handed out before in
    this test. Not a port the kernel picks (bind to port 0): those come from
    the ephemeral range, which every outgoing connection and every bind to
    port 0 (this test's, the other xdist worker's) draws from meanwhile, so
    the port could be taken before the process it is for binds it (sbc-signal
    binds its listeners a second or more after sbc-control starts, later
    under ASan), and the kernel could hand the same unbound port out twice.
    Only when the ephemeral range leaves no room outside it is the port the
    kernel's pick (_kernel_port)."""
    del kind
    if not _port_window()[2]:
        return _kernel_port(host)
    return _pick_ports(1, host, (socket.SOCK_STREAM, socket.SOCK_DGRAM), even=False)


def _kernel_port(host):
    """free_port() when the ephemeral range leaves no window outside it
    (see _port_window): a port the kernel picks (TCP bind to port 0) that
    UDP can bind too and that overlaps nothing handed out in this test.
    Such a port may be handed out again before its process binds it; a
    random pick in the same range would be no better."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            t.bind((host, 0))
            p = t.getsockname()[1]
            if any(b <= p < b + n for b, n in _ranges_given):
                continue
            try:
                u.bind((host, p))
            except OSError:
                continue
        _ranges_given.append((p, 1))
        return p
    raise RuntimeError("no free port: the kernel's picks were all taken for UDP")


def free_port_range(count, host="127.0.0.1"):
    """A run of `count` consecutive free UDP ports (even first port), from
    this xdist worker's share of the ports outside the ephemeral range (or,
    with no room outside it, of ports 10000-65535: whatever binds), not
    overlapping any port or range already handed out in this test."""
    return _pick_ports(count, host, (socket.SOCK_DGRAM,), even=True)


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Procs:
    def __init__(self, logdir):
        self.logdir = pathlib.Path(logdir)
        self.items = []

    def start(self, name, argv, env=None, **kw):
        log = open(self.logdir / f"{name}.log", "wb")
        e = dict(os.environ)
        if env:
            e.update(env)
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=e,
                             start_new_session=True, **kw)
        p.log_path = self.logdir / f"{name}.log"
        self.items.append(p)
        return p

    def log(self, p):
        return p.log_path.read_text(errors="replace")

    def stop_all(self):
        for p in reversed(self.items):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in reversed(self.items):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()


@pytest.fixture(autouse=True)
def _forget_port_ranges():
    """Each test starts with no ranges handed out (the last test's
    processes are gone)."""
    _ranges_given.clear()
    yield


@pytest.fixture
def procs(tmp_path):
    ps = Procs(tmp_path)
    yield ps
    ps.stop_all()


@pytest.fixture(scope="session")
def build_dir():
    assert (BUILD / "sbc-control").exists(), f"build first: {BUILD}"
    return BUILD
