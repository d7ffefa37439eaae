#!/usr/bin/python3
"""rtpengine (Debian's rtpengine-daemon, userspace) against sbc-media, side by
side, with the same load tool (tests/tools/compare/rtpload.c).

What it does, in one run:
  1. tools/deps.sh rtpengine-daemon (a no-op when installed).
  2. For each mode (RTP->RTP, SRTP->RTP, RTP->SRTP, AES_CM_128_HMAC_SHA1_80):
     - sbc-media: a fresh one started by medtool (tests/tools/media/medtool.c,
       which creates the shared segment as sbc-control does and forks
       sbc-media: 1 worker, pinned to cpu 0 by sbc-media itself), sessions
       created over the rings (medtool "create": leg 0 takes SRTP in /
       plain, leg 1 gives plain / SRTP out), as bench_relay does;
     - rtpengine: a fresh one in the foreground (--table=-1: no kernel
       forwarding, userspace only; --num-threads=1; pinned to cpu 0; ng
       control on a free loopback UDP port; its own free port range; no
       config file, no systemd), sessions created over its ng protocol
       (bencoded dictionaries over UDP, our own encoder/decoder below):
       "offer" from the caller (our generator) and "answer" from the callee
       (our receiver), with transport-protocol set so that rtpengine
       transcrypts (RTP/SAVP with a=crypto on one side, RTP/AVP on the other);
     - then the same load against each: N streams at 50 packets/s, 160-byte
       payloads, batched sendmmsg from one socket (rtpload on cpu 1), for
       N = 500 and 2,000, and the relayed packets received, checked (plain
       payloads compared; SRTP output of 8 streams decrypted with the key the
       relay announced/was given).
Figures per mode and N: packets/s relayed and loss (exact: every stream sends
sequence number P in 20 ms period P; a window is a range of periods), relay
CPU us per relayed packet (all threads of the relay process, schedstat), the
same as packets per CPU-second, the whole path's CPU us per relayed packet
(relay + load tool + the kernel's ksoftirqd threads, schedstat), and the
whole machine's (/proc/stat busy time; on these shared cores it includes
other work and is only a rough check). Ratio = rtpengine's CPU
per packet over sbc-media's = sbc-media's packets per CPU-second over
rtpengine's. Target: >= 1.5 on SRTP<->RTP at 2,000 streams. Also p50/p99
latency from the send of a packet to its arrival.
Usage: bench_rtpengine [--quick]
"""
import base64
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[3]
BUILD = pathlib.Path(os.environ.get("SBC_BUILD", REPO / "build"))
os.environ["SBC_BUILD"] = str(BUILD)
sys.path.insert(0, str(REPO / "tests" / "integration"))
import conftest  # noqa: E402
conftest.BUILD = BUILD
import medtool as MT  # noqa: E402
MT.BUILD = BUILD
sys.path.insert(0, str(REPO / "tests" / "bench"))
from benchlib import fmt, run_main, time_bound  # noqa: E402

QUICK = "--quick" in sys.argv
SECS = 1.0 if QUICK else 3.0
STEPS = (500, 2000)
RTPENGINE = "/usr/bin/rtpengine"
LOAD = BUILD / "tools" / "rtpload"
FLOOR = BUILD / "tools" / "udpfloor"
MODES = ("rtp", "srtp-rtp", "rtp-srtp")
NAMES = {"rtp": "RTP->RTP", "srtp-rtp": "SRTP->RTP", "rtp-srtp": "RTP->SRTP"}
SUITE = "AES_CM_128_HMAC_SHA1_80"
KEY_A = bytes((i * 3 + 1) & 0xFF for i in range(30))  # what the generator encrypts with
KEY_B = bytes((i * 5 + 2) & 0xFF for i in range(30))  # sbc-media's key towards the receiver
CHECKED = 8  # streams whose SRTP output the receiver decrypts (every 64th packet)


# ---- bencode (the ng protocol's encoding) ----

def benc(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(benc(x) for x in v) + b"e"
    if isinstance(v, dict):
        return b"d" + b"".join(benc(k) + benc(v[k]) for k in sorted(v)) + b"e"
    raise TypeError(type(v))


def bdec(b, i=0):
    """Decodes one value at b[i:]; returns (value, next index). Strings come
    back as str (latin-1, so any byte survives)."""
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c == b"l":
        out, i = [], i + 1
        while b[i:i + 1] != b"e":
            v, i = bdec(b, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        out, i = {}, i + 1
        while b[i:i + 1] != b"e":
            k, i = bdec(b, i)
            v, i = bdec(b, i)
            out[k] = v
        return out, i + 1
    if c.isdigit():
        j = b.index(b":", i)
        n = int(b[i:j])
        if j + 1 + n > len(b):
            raise ValueError("bencode: string past the end")
        return b[j + 1:j + 1 + n].decode("latin-1"), j + 1 + n
    raise ValueError(f"bencode: unexpected {c!r} at {i}")


def loadavg():
    return open("/proc/loadavg").read().split()[0]


def sdp(port, srtp=False, key=None, tag=1):
    s = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         f"m=audio {port} RTP/{'SAVP' if srtp else 'AVP'} 0\r\na=rtpmap:0 PCMU/8000\r\n"
         "a=sendrecv\r\n")
    if srtp:
        s += f"a=crypto:{tag} {SUITE} inline:{base64.b64encode(key).decode()}\r\n"
    return s


def sdp_port(s):
    m = re.search(r"^m=audio (\d+) ", s, re.M)
    return int(m.group(1)) if m else None


def sdp_crypto(s):
    """(tag, key) of the AES_CM_128_HMAC_SHA1_80 line of an SDP."""
    m = re.search(r"^a=crypto:(\d+) " + SUITE + r" inline:([A-Za-z0-9+/=]+)", s, re.M)
    return (int(m.group(1)), base64.b64decode(m.group(2))[:30]) if m else (None, None)


LIVE = []  # every relay / load process started and not yet stopped


def quit_tool(tool):
    """Asks a line-driven tool (udpfloor, rtpload) to quit, killing it if
    it does not within 10 s."""
    if tool in LIVE:
        LIVE.remove(tool)
    if tool.p.poll() is None:
        try:
            tool.p.stdin.write("quit\n")
            tool.p.stdin.close()
            tool.p.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            tool.p.kill()
            tool.p.wait()


class Rtpengine:
    def __init__(self, tmp, streams):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="rtpe-", dir=tmp))
        self.port = conftest.free_port(socket.SOCK_DGRAM)
        base = conftest.free_port_range(4 * streams + 64)
        self.log_path = self.dir / "rtpengine.log"
        self.log = open(self.log_path, "wb")
        self.p = subprocess.Popen(
            [RTPENGINE, "--config-file=none", "--foreground", "--log-stderr", "--table=-1",
             "--interface=127.0.0.1", f"--listen-ng=127.0.0.1:{self.port}",
             f"--port-min={base}", f"--port-max={base + 4 * streams + 63}", "--num-threads=1",
             "--log-level=3", "--timeout=600", "--delete-delay=0",
             f"--pidfile={self.dir / 'rtpengine.pid'}"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: os.sched_setaffinity(0, {0}))
        LIVE.append(self)
        self.pid = self.p.pid
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(0.2)
        self.cookie = 0
        for _ in range(50):
            try:
                if self.ng({"command": "ping"}).get("result") == "pong":
                    return
            except (OSError, ValueError):
                pass
            if self.p.poll() is not None:
                break
        msg = "rtpengine did not answer ping:\n" + self.tail()
        self.stop()
        raise RuntimeError(msg)

    def tail(self, n=10):
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def ng(self, d, timeout=3.0):
        self.cookie += 1
        ck = f"{os.getpid()}_{self.cookie}".encode()
        self.sock.sendto(ck + b" " + benc(d), ("127.0.0.1", self.port))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            c, _, body = data.partition(b" ")
            if c == ck:  # else: a late answer to an earlier command
                return bdec(body)[0]
        raise OSError(f"rtpengine: no answer to {d.get('command')}")

    def create(self, k, mode, tx_port, rx_port):
        """One call: caller = our generator, callee = our receiver. Returns
        (port to send to, key the relay encrypts with towards the callee)."""
        cid = f"bench-{k}"
        off = {"command": "offer", "call-id": cid, "from-tag": "caller",
               "sdp": sdp(tx_port, mode == "srtp-rtp", KEY_A),
               "transport-protocol": "RTP/SAVP" if mode == "rtp-srtp" else "RTP/AVP"}
        r = self.ng(off)
        if r.get("result") != "ok":
            raise RuntimeError(f"rtpengine offer: {r}")
        tag, key = sdp_crypto(r["sdp"]) if mode == "rtp-srtp" else (1, None)
        if mode == "rtp-srtp" and key is None:
            raise RuntimeError("rtpengine offered no " + SUITE + ":\n" + r["sdp"])
        ans = {"command": "answer", "call-id": cid, "from-tag": "caller", "to-tag": "callee",
               "sdp": sdp(rx_port, mode == "rtp-srtp", KEY_B, tag)}
        r = self.ng(ans)
        if r.get("result") != "ok":
            raise RuntimeError(f"rtpengine answer: {r}")
        if mode == "srtp-rtp" and "RTP/SAVP" not in r["sdp"]:
            raise RuntimeError("rtpengine answered the SRTP caller without SRTP:\n" + r["sdp"])
        return sdp_port(r["sdp"]), key

    def stop(self):
        if self in LIVE:
            LIVE.remove(self)
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.sock.close()
        self.log.close()


class SbcMedia:
    def __init__(self, tmp, streams):
        d = pathlib.Path(tempfile.mkdtemp(prefix="sbcm-", dir=tmp))
        self.mt = None
        LIVE.append(self)
        self.mt = MT.Medtool(d, workers=1, slots=streams + 8, timeout_ms=600000)
        self.mt.spawn()
        self.pid = self.mt.pid

    def create(self, k, mode, tx_port, rx_port):
        ka, kb = KEY_A.hex(), KEY_B.hex()
        legs = [MT.leg(tx_port, *((1, ka) if mode == "srtp-rtp" else (0, "-"))),
                MT.leg(rx_port, 0, "-", *((1, kb) if mode == "rtp-srtp" else (0, "-")))]
        r = self.mt.create(k + 1, legs)
        if r.get("status") != 0:
            raise RuntimeError(f"sbc-media create: {r}")
        return r["legs"][0]["port"], (KEY_B if mode == "rtp-srtp" else None)

    def tail(self, n=10):
        return "\n".join(self.mt.media_log().splitlines()[-n:])

    def stop(self):
        if self in LIVE:
            LIVE.remove(self)
        if self.mt:
            self.mt.close()


class Floor:
    """The kernel floor (tests/tools/compare/udpfloor.c): a bare epoll +
    recvmmsg + sendmmsg loop on cpu 0 over one socket per stream, relaying
    plain RTP to the load's receiver; its CPU per packet is what the
    kernel's UDP path costs here, now."""

    def __init__(self, tmp, streams):
        self.p = subprocess.Popen([str(FLOOR), "--ports", str(streams), "--cpu", "0"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        LIVE.append(self)
        line = self.p.stdout.readline()
        if not line.startswith("ports="):
            raise RuntimeError(f"udpfloor: {line!r}")
        self.ports = [int(x) for x in line.strip()[6:].split(",")]
        self.pid = self.p.pid
        self.to = None

    def create(self, k, mode, tx_port, rx_port):
        if mode != "rtp":
            raise RuntimeError("the floor relays plain RTP only")
        if self.to is None:
            self.to = rx_port
            self.p.stdin.write(f"to {rx_port}\n")
            self.p.stdin.flush()
            if self.p.stdout.readline().strip() != "ok":
                raise RuntimeError("udpfloor refused its destination")
        return self.ports[k], None

    def tail(self, n=10):
        return ""

    def stop(self):
        quit_tool(self)


class Load:
    def __init__(self, mode, pid):
        self.p = subprocess.Popen([str(LOAD), "--mode", mode, "--key", KEY_A.hex(), "--pid",
                                   str(pid), "--cpu", "1"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)
        LIVE.append(self)
        kv = self.kv(self.p.stdout.readline())
        self.rx, self.tx = int(kv["rx_port"]), int(kv["tx_port"])

    @staticmethod
    def kv(line):
        return dict(x.split("=", 1) for x in line.split() if "=" in x)

    def send(self, line):
        self.p.stdin.write(line + "\n")

    def run(self, n, secs):
        self.send(f"run {n} {secs}")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("rtpload died")
        kv = self.kv(line)
        if "error" in kv:
            raise RuntimeError(f"rtpload: {kv['error']}")
        return {k: float(v) for k, v in kv.items()}

    def stop(self):
        quit_tool(self)


def measure(target_cls, tmp, mode, maxn):
    """A fresh relay, maxn sessions, the load at each step. Returns
    {n: figures} or raises with the relay's log."""
    try:
        relay = target_cls(tmp, maxn)
    except Exception as e:  # noqa: BLE001
        raise RuntimeError(f"{target_cls.__name__}: could not start: {e}") from e
    load = None
    try:
        load = Load(mode, relay.pid)
        for k in range(maxn):
            port, key = relay.create(k, mode, load.tx, load.rx)
            load.send(f"dst {port}")
            if key is not None and k < CHECKED:
                load.send(f"check {k} {key.hex()}")
        out = {}
        for n in STEPS:
            # two windows; the one with less relay CPU per packet is kept
            # (others' work on these shared cores only ever adds); the
            # other's loss is reported beside it when above 0.1%
            runs = [load.run(n, SECS) for _ in range(2)]
            if relay.pid and not os.path.exists(f"/proc/{relay.pid}"):
                raise RuntimeError("relay died")
            best = min(runs, key=lambda x: x["relay_us"] if x["relay_us"] > 0 else 1e9)
            r = dict(best)
            r["loss_other"] = max(x["loss"] for x in runs if x is not best) if len(runs) > 1 else 0
            out[n] = r
        return out
    except Exception as e:
        raise RuntimeError(f"{target_cls.__name__} {NAMES[mode]}: {e}\n{relay.tail()}") from e
    finally:
        if load:
            load.stop()
        relay.stop()


def main():
    # bounded run time; SIGTERM/SIGINT and the bound both unwind through the
    # finally clauses, which stop every relay and load process started here
    time_bound("bench_rtpengine", 150 if QUICK else 300)
    r = subprocess.run([str(REPO / "tools" / "deps.sh"), "rtpengine-daemon"])
    if r.returncode != 0 or not os.access(RTPENGINE, os.X_OK):
        print("bench_rtpengine: rtpengine-daemon could not be installed: no comparison")
        return 1
    for need in (LOAD, FLOOR, BUILD / "sbc-media", BUILD / "tools" / "medtool"):
        if not need.exists():
            print(f"bench_rtpengine: build first: {need}")
            return 1
    ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "rtpengine-daemon"],
                         capture_output=True, text=True).stdout.strip()
    tmp = tempfile.mkdtemp(prefix="rtpebench-")
    maxn = max(STEPS)
    rc = 0
    print(f"rtpengine vs sbc-media, RTP/SRTP relay ({'quick' if QUICK else 'full'} run; "
          f"{os.cpu_count()} cores: the relay on cpu 0, the load tool on cpu 1)")
    print(f"  rtpengine {ver} (Debian), userspace: --table=-1, --num-threads=1, driven over ng "
          "(offer/answer with SDES a=crypto)")
    print("  sbc-media: 1 worker (default data path), sessions over the rings via medtool")
    print(f"  load: rtpload, N streams x 50 pps, 160-byte payloads, batched sendmmsg; "
          f"0.7 s warm-up + 2 windows of {SECS:.0f} s per step (the one with less relay CPU per packet shown; the other's loss noted when above 0.1%); {SUITE} where SRTP")
    res = {}
    load0 = loadavg()
    try:
        try:
            floor = measure(Floor, tmp, "rtp", maxn)
        except Exception as e:  # noqa: BLE001 (reported; the relays still run)
            print(f"  FAILED: {e}")
            floor = {}
            rc = 1
        for mode in MODES:
            for name, cls in (("sbc-media", SbcMedia), ("rtpengine", Rtpengine)):
                try:
                    res[(name, mode)] = measure(cls, tmp, mode, maxn)
                except Exception as e:  # noqa: BLE001 (reported, the others still run)
                    print(f"  FAILED: {e}")
                    rc = 1
        print()
        print(f"{'figure':44s} {'sbc-media':>11s} {'rtpengine':>11s} {'ratio':>8s}")
        verdict = []
        for mode in MODES:
            for n in STEPS:
                s = res.get(("sbc-media", mode), {}).get(n)
                k = res.get(("rtpengine", mode), {}).get(n)

                def col(d, key, spec):
                    return format(d[key], spec) if d else f"{'-':>11s}"

                def rate(d):
                    if not d:
                        return f"{'-':>11s}"
                    return f"{d['pps']:.0f} ({d['loss'] * 100:.2f}%){'*' if d['loss'] > 0.001 else ''}"
                head = f"{NAMES[mode]} N={n}: relayed packets/s (loss)"
                other = [f"{w}'s other window lost {d['loss_other'] * 100:.2f}%"
                         for w, d in (("sbc-media", s), ("rtpengine", k))
                         if d and d["loss_other"] > 0.001]
                print(f"{head:44s} {rate(s):>11s} {rate(k):>11s}"
                      + (f"   ({'; '.join(other)})" if other else ""))
                ratio = k["relay_us"] / s["relay_us"] if s and k and s["relay_us"] > 0 else None
                print(f"{'   relay CPU us per packet':44s} {col(s, 'relay_us', '11.2f')} "
                      f"{col(k, 'relay_us', '11.2f')} "
                      f"{format(ratio, '7.2f') + 'x' if ratio else '-':>8s}")
                pcs = lambda d: format(1e6 / d["relay_us"], "11.0f") if d and d["relay_us"] > 0 else f"{'-':>11s}"  # noqa: E731
                print(f"{'   packets per relay CPU-second':44s} {pcs(s)} {pcs(k)}")
                fl = floor.get(n)
                fus = fl["relay_us"] if fl and fl["loss"] <= 0.001 else None
                print(f"{'   kernel floor us per packet (bare loop)':44s} {fmt(fus, '11.2f'):>11s}")
                xf = [format(d["relay_us"] / fus, "10.2f") + "x" if d and fus else "-" for d in (s, k)]
                print(f"{'   relay CPU / kernel floor':44s} {xf[0]:>11s} {xf[1]:>11s}")
                for label, f in (("whole path CPU us per packet",
                                  lambda d: d["relay_us"] + d["tool_us"] + d["ksoftirq_us"]),
                                 ("whole machine CPU us per packet (/proc/stat)",
                                  lambda d: d["machine_us"])):
                    a, b = (f(s) if s else None), (f(k) if k else None)
                    rr = b / a if a and b else None
                    print(f"{'   ' + label:44s} {fmt(a, '11.2f'):>11s} {fmt(b, '11.2f'):>11s} "
                          f"{format(rr, '7.2f') + 'x' if rr else '-':>8s}")
                def lat(d):
                    if not d:
                        return "-"
                    return "/".join(f"{v:.0f}" if v < 200000 else ">200000"
                                    for v in (d["p50_us"], d["p99_us"]))
                print(f"{'   latency p50/p99 us (send to receive)':44s} {lat(s):>11s} {lat(k):>11s}")
                for who, d in (("sbc-media", s), ("rtpengine", k)):
                    if d and (d["bad"] or (mode == "rtp-srtp" and n == STEPS[-1] and not d["checked"])):
                        print(f"   {who}: {int(d['bad'])} damaged packets, {int(d['checked'])} "
                              "SRTP packets decrypted at the receiver")
                        rc = 1
                if mode != "rtp" and n >= 2000:
                    ok = ratio is not None and ratio >= 1.5 and s["loss"] <= 0.001
                    verdict.append(f"{NAMES[mode]} at {n} streams: {ratio:.2f}x" if ratio else
                                   f"{NAMES[mode]} at {n} streams: not measured")
                    why = ""
                    if ratio is not None and s["loss"] > 0.001:
                        why = f": sbc-media lost {s['loss'] * 100:.2f}% at this load"
                    verdict[-1] += " (target >= 1.5x: " + ("met" if ok else "NOT MET" + why) + ")"
        chk = [f"{w} {int(d[STEPS[-1]]['checked'])}" for (w, m), d in res.items()
               if m == "rtp-srtp" and STEPS[-1] in d]
        print("  ratio = rtpengine's CPU per relayed packet / sbc-media's (= sbc-media's packets per "
              "CPU-second / rtpengine's); * = loss above 0.1%")
        print("  receiver checks: plain payloads compared byte for byte; RTP->SRTP: every 64th packet "
              f"of {CHECKED} streams decrypted with the relay's key (" + ", ".join(chk) + ")")
        print("  latency: from the packet's send to its arrival at the receiver, "
              "which polls every 100 us (as bench_relay's does): up to ~0.1 ms of it is ours")
        print("  kernel floor = udpfloor (the loop bench_relay measures too: epoll + recvmmsg + sendmmsg, "
              "no sessions, no checks, no crypto) on cpu 0 under the same load, plain RTP; "
              "'-' where it lost over 0.1%; the target for sbc-media is <= 1.1x plus the crypto")
        print("  reference on this kind of machine: kernel UDP path ~4.1-4.4 us CPU per relayed "
              "packet (receive + send); rtpengine userspace ~7.4 us per SRTP->RTP packet")
        print("  whole path = relay + load tool (generator and receiver) + the kernel's ksoftirqd "
              "threads, from their schedstat: on loopback the kernel does each packet's delivery in "
              "its sender's context or in ksoftirqd, so this is the CPU the traffic costs, without "
              "whatever else runs here")
        print("  whole machine = /proc/stat busy time of both cores (iowait excluded: io_uring "
              "waits count there): it includes every other process on these shared cores and this "
              "VM's tick-based accounting, so read it as a rough check only (load average "
              f"{load0} at start, {loadavg()} at end)")
        for v in verdict:
            print("  " + v)
        return rc
    finally:
        for x in list(LIVE):
            x.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_main(main)
