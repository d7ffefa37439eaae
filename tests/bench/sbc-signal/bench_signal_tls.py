#!/usr/bin/python3
"""sbc-signal TLS benchmark (run by bench_signal_tls, see its header).

Figures: full handshakes/s and server CPU ms per handshake (sbc-signal's
utime+stime from /proc/PID/stat over the handshakes it counted) for ECDSA
P-256, RSA-2048 and mutual TLS; resumed handshakes/s; PSS per idle TLS
connection at 1k, 10k and ~18k connections (every process is capped at
20,000 open files here, so the load is split over several tool processes).
Usage: bench_signal_tls [--quick]
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "integration"))
BUILD = pathlib.Path(os.environ.get("SBC_BUILD", REPO / "build"))
os.environ["SBC_BUILD"] = str(BUILD)
import conftest  # noqa: E402
conftest.BUILD = BUILD
import test_signal_common as C  # noqa: E402
C.SIGNAL = BUILD / "sbc-signal"
LOAD = BUILD / "tools" / "sig-tlsload"
QUICK = "--quick" in sys.argv
SECS = 2 if QUICK else 5
UNLIMITED = {"max_conns_per_source": 10000000, "handshakes_per_source_per_s": 10000000,
             "handshake_burst_per_source": 10000000}


def cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def pss_kb(pid):
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def start(procs, tmp, pki, prof, workers):
    d = pathlib.Path(tempfile.mkdtemp(dir=tmp))
    return C.Signal(procs, d, pki, profiles=[prof], workers=workers, limits=UNLIMITED)


def rate_run(procs, tmp, pki, prof, mode, extra=(), conc=32):
    sig = start(procs, tmp, pki, prof, 1)
    h0 = sig.stats()["tls"].get("handshakes", 0)
    c0 = cpu_s(sig.p.pid)
    out = subprocess.run([str(LOAD), "--target", f"127.0.0.1:{sig.tls_port}", "--mode", mode,
                          "--seconds", str(SECS), "--concurrency", str(conc), "--sources", "64",
                          *extra], capture_output=True, text=True, timeout=SECS + 60)
    c1 = cpu_s(sig.p.pid)
    st = sig.stats()["tls"]
    procs.stop_all()
    procs.items.clear()
    kv = dict(x.split("=") for x in out.stdout.split())
    hs = st.get("handshakes", 0) - h0
    return {"rate": float(kv.get("rate", 0)), "server_hs": hs, "failed": int(kv.get("failed", 0)),
            "resumed": st.get("resumed", 0), "cpu_ms": (c1 - c0) * 1000 / max(hs, 1)}


def hold_run(procs, tmp, pki, prof, total, per_proc=6000, extra=()):
    sig = start(procs, tmp, pki, prof, 0)
    time.sleep(0.3)
    base = pss_kb(sig.p.pid)
    loaders = []
    left, i = total, 0
    t0 = time.monotonic()
    while left > 0:
        n = min(per_proc, left)
        loaders.append(subprocess.Popen(
            [str(LOAD), "--target", f"127.0.0.1:{sig.tls_port}", "--mode", "hold", "--conns",
             str(n), "--concurrency", "64", "--sources", "32", "--source-base", str(10 + i),
             *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        left -= n
        i += 1
    ready = 0
    for ld in loaders:
        line = ld.stdout.readline()
        kv = dict(x.split("=") for x in line.split()) if line else {}
        ready += int(kv.get("ready", 0))
    took = time.monotonic() - t0
    time.sleep(1.0)
    st = sig.stats()["tls"]
    pss = pss_kb(sig.p.pid)
    for ld in loaders:
        ld.stdin.close()
    for ld in loaders:
        ld.wait(timeout=30)
    procs.stop_all()
    procs.items.clear()
    return {"conns": st.get("conns_open", 0), "ready": ready, "base_kb": base, "pss_kb": pss,
            "per_conn_b": (pss - base) * 1024 / max(st.get("conns_open", 1), 1),
            "total_per_conn_b": pss * 1024 / max(st.get("conns_open", 1), 1), "seconds": took}


def main():
    if not LOAD.exists() or not C.SIGNAL.exists():
        print(f"build first: {LOAD} / {C.SIGNAL}")
        return 1
    fx = float(os.environ.get("SIG_FLOOR_X25519_US", "0"))
    fs = float(os.environ.get("SIG_FLOOR_ECSIGN_US", "0"))
    fv = float(os.environ.get("SIG_FLOOR_ECVERIFY_US", "0"))
    fr = float(os.environ.get("SIG_FLOOR_RSASIGN_US", "0"))
    tmp = tempfile.mkdtemp(prefix="sigbench-")
    procs = conftest.Procs(tmp)
    try:
        pki = C.Pki(pathlib.Path(tmp) / "pki")
        pki.ca("ca")
        pki.ca("clientca")
        pki.leaf("srv-ec", "ca", "ec", cn="sbc.example")
        pki.leaf("srv-rsa", "ca", "rsa", cn="sbc.example")
        pki.leaf("client", "clientca", "ec", cn="carrier.example", client=True)
        ec = C.profile("default", pki, certs=("srv-ec",))
        rsa = C.profile("default", pki, certs=("srv-rsa",))
        mtls = C.profile("default", pki, certs=("srv-ec",), verify_client=True)
        print(f"sbc-signal TLS benchmark ({'quick' if QUICK else 'full'}; {os.cpu_count()} cores "
              "shared by sbc-signal and the load tool; 1 worker for the rate figures)")
        rows = []
        r = rate_run(procs, tmp, pki, ec, "full")
        rows.append(("full handshake, ECDSA P-256 (TLS 1.3)", r, 0.12, (fx + fs) / 1000))
        r = rate_run(procs, tmp, pki, rsa, "full")
        rows.append(("full handshake, RSA-2048 (TLS 1.3)", r, None, (fx + fr) / 1000))
        r = rate_run(procs, tmp, pki, mtls, "full",
                     extra=("--cert", pki.p("client.pem"), "--key", pki.p("client.key")))
        rows.append(("full handshake, mutual TLS (ECDSA chain verified)", r, 0.3,
                     (fx + fs + 2 * fv) / 1000))
        r = rate_run(procs, tmp, pki, ec, "resume")
        rows.append(("resumed handshake (TLS 1.3 ticket, ECDHE)", r, None, fx / 1000))
        print(f"{'scenario':52s} {'hs/s':>8s} {'CPU ms/hs':>10s} {'target':>8s} "
              f"{'crypto floor':>13s}")
        for name, r, target, floor in rows:
            tg = f"<= {target}" if target else "-"
            print(f"{name:52s} {r['rate']:8.0f} {r['cpu_ms']:10.3f} {tg:>8s} {floor:10.3f} ms"
                  f"   ({r['server_hs']} handshakes, {r['failed']} failed)")
        print("  crypto floor = this machine's BoringSSL (a build without assembly) in CPU time for "
              "the server's share of one handshake; reference Kamailio 6.0.7: 0.55 ms ECDSA, "
              "0.65 ms RSA, 2.3 ms mutual TLS")
        sizes = (1000, 2000) if QUICK else (1000, 10000, 18000)
        print(f"{'idle TLS connections':>22s} {'PSS total':>10s} {'PSS/conn':>9s} "
              f"{'(all mem)/conn':>15s} {'target':>9s}")
        for n in sizes:
            h = hold_run(procs, tmp, pki, ec, n)
            print(f"{h['conns']:>22d} {h['pss_kb'] / 1024:8.1f}MB {h['per_conn_b'] / 1024:7.2f}kB "
                  f"{h['total_per_conn_b'] / 1024:13.2f}kB {'<= 8 kB':>9s}"
                  f"   (opened in {h['seconds']:.1f}s, baseline {h['base_kb'] / 1024:.1f} MB)")
        n = 1000 if QUICK else 10000
        h = hold_run(procs, tmp, pki, mtls, n,
                     extra=("--cert", pki.p("client.pem"), "--key", pki.p("client.key")))
        print(f"{h['conns']:>13d} mutual {h['pss_kb'] / 1024:8.1f}MB {h['per_conn_b'] / 1024:7.2f}kB "
              f"{h['total_per_conn_b'] / 1024:13.2f}kB {'<= 8 kB':>9s}"
              f"   (opened in {h['seconds']:.1f}s)")
        print("  Kamailio side-by-side: not run (reference: 35 kB PSS + 40 kB shm per idle TLS "
              "connection)")
        return 0
    finally:
        procs.stop_all()


if __name__ == "__main__":
    sys.exit(main())
