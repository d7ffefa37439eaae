"""Helper for the sbc-media integration tests: drives tests/tools/media/medtool
(a C program acting as sbc-control + sbc-signal worker 0 + SRTP endpoints)."""
import json
import os
import pathlib
import subprocess

import pytest

from conftest import BUILD, free_port_range

SUITES = {  # enum sbc_srtp_suite -> master key + salt bytes
    1: 30, 2: 30, 3: 46, 4: 46, 5: 28, 6: 44, 7: 30,
}


def key_for(suite, seed):
    if suite == 0:
        return "-"
    return bytes((seed * 31 + i * 7) & 0xFF for i in range(SUITES[suite])).hex()


class Medtool:
    def __init__(self, tmp_path, workers=1, slots=16, timeout_ms=30000, name=None, io=None,
                 signal_workers=1, address="127.0.0.1", netns=None, media=None):
        """netns: run medtool (and so sbc-media) in that network namespace;
        media: more keys for runtime.json's media section (e.g. the backend)."""
        self.tmp = pathlib.Path(tmp_path)
        self.base = free_port_range(4 * slots)
        self.runtime = self.tmp / "runtime.json"
        self.runtime.write_text(json.dumps({
            "log_level": "info",
            "media": {"workers": workers, "address": address, "port_min": self.base,
                      "port_max": self.base + 4 * slots - 1, "rtp_timeout_ms": timeout_ms,
                      **(media or {})}}))
        self.log = open(self.tmp / "sbc-media.log", "wb")
        env = dict(os.environ)
        if io:
            env["SBC_MEDIA_IO"] = io  # data path of the sbc-media it starts
        argv = [str(BUILD / "tools" / "medtool")]
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1,
                                  start_new_session=True, env=env)
        self.name = name or f"/sbc-mt{os.getpid()}-{self.base}"
        r = self.cmd(f"seg {self.name} {signal_workers} {workers} {slots}")
        assert r.get("seg") == self.name, r

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline()
        assert out, f"medtool died on {line!r}; log:\n{self.media_log()}"
        return json.loads(out)

    def media_log(self):
        self.log.flush()
        return (self.tmp / "sbc-media.log").read_text(errors="replace")

    def spawn(self):
        r = self.cmd(f"spawn {BUILD / 'sbc-media'} {self.runtime}")
        assert r["pid"] > 0
        self.pid = r["pid"]
        # Ready once it answers a stats request.
        st = self.cmd("stats 0")
        assert "sessions" in st, (st, self.media_log())
        return st

    def create(self, sid, legs, worker=0, **kw):
        d = {"id": sid, "worker": worker, "legs": legs}
        d.update(kw)
        return self.cmd("create " + json.dumps(d))

    def update(self, sid, legs, worker=0, **kw):
        d = {"id": sid, "worker": worker, "legs": legs}
        d.update(kw)
        return self.cmd("update " + json.dumps(d))

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=10)
        except Exception:
            self.p.kill()
            self.p.wait()
        self.log.close()


def running(tmp_path, io, **kw):
    """The body of the tests' mt fixtures: a spawned sbc-media under
    medtool on data path io ("uring" or "epoll"), kw for Medtool; skips when
    medtool is not built; closed after the test. Use with yield from."""
    if not (BUILD / "tools" / "medtool").exists():
        pytest.skip(f"medtool not built in {BUILD}")
    m = Medtool(tmp_path, io=io, **kw)
    m.spawn()
    yield m
    m.close()


def leg(remote_port, rx_suite=0, rx_key="-", tx_suite=0, tx_key="-", latch=0, remote_rtcp=None,
        host="127.0.0.1"):
    h = f"[{host}]" if ":" in host else host
    d = {"remote": f"{h}:{remote_port}" if remote_port else "", "latch": latch,
         "rx": {"suite": rx_suite, **({"key": rx_key} if rx_suite else {})},
         "tx": {"suite": tx_suite, **({"key": tx_key} if tx_suite else {})}}
    if remote_rtcp:
        d["remote_rtcp"] = f"{h}:{remote_rtcp}"
    return d


def all_stopped(pid):
    """True once every thread of pid is stopped (after SIGSTOP): the relay
    then takes no packet at all, whatever its threads were doing."""
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] != "T":
                return False
    return True
