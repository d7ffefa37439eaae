#!/usr/bin/python3
"""Kamailio (Debian's kamailio + kamailio-tls-modules) against sbc-signal,
side by side, with the same TLS load tool (tests/tools/signal/sig_tlsload.c).

What it does, in one run:
  1. tools/deps.sh kamailio kamailio-tls-modules (a no-op when installed).
  2. A PKI made with the openssl CLI (ECDSA P-256 and RSA-2048 server
     certificates, a client CA and an ECDSA client certificate).
  3. For each scenario, a fresh Kamailio in the foreground (-DD -E, its own
     pid file, config in a temp dir: tls module on a free 127.0.0.1 port,
     tls_method TLSv1.2+, sl answering OPTIONS, ctl for kamcmd), then the
     same scenario against a fresh sbc-signal (bench_signal_tls.py's
     functions, imported).
Figures:
  - full (and resumed) handshakes/s and CPU ms per handshake: CPU = utime+stime summed
    over every process of the server (Kamailio: the main process and all its
    children, found by process group), divided by the handshakes the load
    tool completed (each waits for the server's session ticket, so the
    server's side of the handshake is done). ECDSA P-256, RSA-2048, mutual
    TLS (client certificate required and verified).
  - memory per idle TLS connection at 1k and 10k connections (each
    connection did a handshake and one OPTIONS transaction): PSS summed over
    all server processes (Kamailio's shared memory pool is a shared mapping,
    so the pages of it that are in use are part of that sum), growth over
    the idle baseline divided by the connections; and Kamailio's own
    accounting of its shared memory in use (kamcmd core.shmmem), growth per
    connection.
Kamailio 5.6.3 with OpenSSL 3 may crash under heavy TLS load (kamailio issue
#3791): every Kamailio run checks that its processes are still alive; a run
where it died is repeated with less load (lower concurrency, fewer
connections) and the output says so.
Usage: bench_kamailio_tls [--quick]
"""
import os
import pathlib
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_signal_tls as S  # noqa: E402  (sets up conftest/test_signal_common)
from benchlib import cpu_s, fmt, run_main, summed, time_bound  # noqa: E402  (on the path through S)

C, conftest = S.C, S.conftest
REPO, LOAD = S.REPO, S.LOAD
QUICK = S.QUICK
SECS = S.SECS
KAMAILIO = "/usr/sbin/kamailio"
KAMCMD = "/usr/sbin/kamcmd"
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
# Reference figures for Kamailio 6.0.7 measured on this kind of machine.
REF = {"ecdsa": 0.55, "rsa": 0.65, "mtls": 2.3, "pss_kb": 35, "shm_kb": 40}
HZ = os.sysconf("SC_CLK_TCK")
# Kamailio's TLS worker processes (tcp_children) to try first; 1 by default
# (see the header line printed about kamailio issue #3791); with more, a run
# where it dies or stalls falls back to 1 and the notes say so.
KAM_WORKERS = max(1, int(os.environ.get("BENCH_KAM_WORKERS", "1")))


def group_pids(pgid):
    """Every live process whose process group is pgid (Kamailio's main
    process and its forked children)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(st[2]) == pgid and st[0] != "Z":
            out.append(int(d))
    return out


def group_cpu_s(pgid):
    return summed(cpu_s, group_pids(pgid))


def group_pss_kb(pgid, pool_kb):
    """(PSS of all processes of the group, the part of it in Kamailio's
    shared memory pool: the rw-s /dev/zero mapping of pool_kb)."""
    total = pool = 0
    for p in group_pids(pgid):
        try:
            in_pool = False
            for line in open(f"/proc/{p}/smaps"):
                head = line.split(None, 1)[0]
                if "-" in head and not head.endswith(":"):
                    f = line.split()
                    lo, hi = (int(x, 16) for x in head.split("-"))
                    in_pool = (hi - lo) // 1024 == pool_kb and f[1].endswith("s")
                elif head == "Pss:":
                    kb = int(line.split()[1])
                    total += kb
                    if in_pool:
                        pool += kb
        except OSError:
            pass
    return total, pool


LIVE = []  # every Kamailio started and not yet stopped (stopped at exit)


class Kamailio:
    """A Kamailio with one TLS listener, run in the foreground (-DD -E)."""

    def __init__(self, tmp, pki, cert, mtls=False, tcp_children=1, shm_mb=1024):
        self.shm_mb = shm_mb
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="kam-", dir=tmp))
        self.port = conftest.free_port()
        self.ctl = self.dir / "ctl.sock"
        self.pidfile = self.dir / "kamailio.pid"
        tls = [f'modparam("tls", "tls_method", "TLSv1.2+")',
               f'modparam("tls", "certificate", "{pki.p(cert + ".pem")}")',
               f'modparam("tls", "private_key", "{pki.p(cert + ".key")}")',
               'modparam("tls", "connection_timeout", 3600)',
               # the memory knob Kamailio documents for many idle connections
               'modparam("tls", "ssl_release_buffers", 1)',
               'modparam("tls", "ssl_freelist_max_len", 0)']
        if mtls:
            tls += [f'modparam("tls", "ca_list", "{pki.p("clientca.pem")}")',
                    'modparam("tls", "verify_certificate", 1)',
                    'modparam("tls", "require_certificate", 1)',
                    'modparam("tls", "verify_depth", 4)']
        else:
            tls += ['modparam("tls", "verify_certificate", 0)',
                    'modparam("tls", "require_certificate", 0)']
        nl = "\n"
        cfg = f"""#!KAMAILIO
debug=1
log_stderror=yes
memlog=5
children=1
tcp_children={tcp_children}
auto_aliases=no
enable_tls=yes
listen=tls:127.0.0.1:{self.port}
tcp_max_connections=19000
tls_max_connections=19000
tcp_connection_lifetime=3605
tcp_accept_no_cl=yes
open_files_limit=19900
mpath="{MODULES}"
loadmodule "sl.so"
loadmodule "tls.so"
loadmodule "ctl.so"
{nl.join(tls)}
modparam("ctl", "binrpc", "unix:{self.ctl}")
request_route {{
	if (method == "OPTIONS") {{
		sl_send_reply("200", "OK");
		exit;
	}}
	sl_send_reply("403", "Forbidden");
}}
"""
        self.cfg = self.dir / "kamailio.cfg"
        self.cfg.write_text(cfg)
        self.log_path = self.dir / "kamailio.log"
        self.log = open(self.log_path, "wb")
        self.p = subprocess.Popen(
            [KAMAILIO, "-f", str(self.cfg), "-DD", "-E", "-m", str(shm_mb), "-M", "16",
             "-P", str(self.pidfile), "-w", str(self.dir)],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        LIVE.append(self)
        try:
            conftest.wait_for(lambda: (C.tcp_open(self.port) and self.ctl.exists())
                              or self.p.poll() is not None, timeout=15,
                              what="kamailio listening")
        except AssertionError:
            pass
        if not self.alive():
            msg = "kamailio did not start:\n" + self.tail()
            self.stop()
            raise RuntimeError(msg)
        time.sleep(0.3)
        self.nprocs = len(group_pids(self.p.pid))

    def alive(self):
        """Main process running and none of its children gone."""
        if self.p.poll() is not None:
            return False
        return len(group_pids(self.p.pid)) >= getattr(self, "nprocs", 0)

    def tail(self, n=15):
        self.log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def crashed(self):
        txt = self.log_path.read_text(errors="replace")
        return "signal 11" in txt or "SIGSEGV" in txt or "core dumped" in txt or \
            "terminated by signal" in txt

    def cpu_s(self):
        return group_cpu_s(self.p.pid)

    def pss_kb(self):
        return group_pss_kb(self.p.pid, self.shm_mb * 1024)

    def rpc(self, *cmd):
        r = subprocess.run([KAMCMD, "-s", f"unix:{self.ctl}", *cmd], capture_output=True,
                           text=True, timeout=10)
        return r.stdout

    def shm_used_kb(self):
        for line in self.rpc("core.shmmem", "k").splitlines():
            k, _, v = line.strip().partition(":")
            if k.strip() == "real_used":
                return int(v)
        return -1

    def tls_conns(self):
        for line in self.rpc("tls.info").splitlines():
            k, _, v = line.strip().partition(":")
            if k.strip() == "opened_connections":
                return int(v)
        return -1

    def stop(self):
        if self in LIVE:
            LIVE.remove(self)
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        try:  # children left behind (the main process died first)
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.p.poll() is None:
            self.p.wait(timeout=10)
        self.log.close()


def kam_rate(tmp, pki, cert, mtls, notes, conc=32, mode="full"):
    """Full handshakes against a fresh Kamailio; lowers the concurrency when
    it dies. Returns the figures and the concurrency that held."""
    extra = ("--cert", pki.p("client.pem"), "--key", pki.p("client.key")) if mtls else ()
    tries = [(KAM_WORKERS, conc)] + ([(1, conc)] if KAM_WORKERS > 1 else []) + [(1, 8), (1, 2)]
    for w, c in tries:
        k = Kamailio(tmp, pki, cert, mtls=mtls, tcp_children=w)
        try:
            c0 = k.cpu_s()
            out = subprocess.run([str(LOAD), "--target", f"127.0.0.1:{k.port}", "--mode", mode,
                                  "--seconds", str(SECS), "--concurrency", str(c), "--sources",
                                  "64", *extra], capture_output=True, text=True, timeout=SECS + 60)
            time.sleep(0.2)
            c1 = k.cpu_s()
            ok = k.alive()
            kv = dict(x.split("=") for x in out.stdout.split() if "=" in x)
            hs = int(kv.get("handshakes", 0))
            failed = int(kv.get("failed", 0))
            if ok and hs > 0 and failed <= max(2, hs // 100):
                return {"rate": float(kv.get("rate", 0)), "hs": hs,
                        "failed": int(kv.get("failed", 0)), "conc": c, "workers": w,
                        "resumed": int(kv.get("resumed", 0)),
                        "cpu_ms": (c1 - c0) * 1000 / hs}
            why = "died" if not ok else f"completed {hs} handshakes, {failed} failed,"
            notes.append(f"kamailio ({w} TLS worker{'s' if w > 1 else ''}) {why} at concurrency "
                         f"{c} ({cert}{', mTLS' if mtls else ''});"
                         f" retrying with less load. Its log ends:\n    " +
                         k.tail(4).replace("\n", "\n    "))
        finally:
            k.stop()
    return None


def kam_hold(tmp, pki, total, notes, per_proc=6000, conc=64):
    """`total` idle TLS connections held against a fresh Kamailio (ECDSA);
    fewer connections or a lower opening concurrency when it dies."""
    tries = ([(KAM_WORKERS, total, conc)] + ([(1, total, conc)] if KAM_WORKERS > 1 else []) +
             [(1, total, 8), (1, total // 2, 8), (1, total // 5, 4)])
    for w, n, c in tries:
        k = Kamailio(tmp, pki, "srv-ec", tcp_children=w)
        loaders = []
        try:
            base_pss, base_shm = k.pss_kb(), k.shm_used_kb()
            t0 = time.monotonic()
            loaders = S.hold_loaders(k.port, n, per_proc, conc=c, source_base=40)
            ready = failed = 0
            # A Kamailio that stalls (alive, handshakes stuck) would keep the
            # loaders waiting for ever: give them a deadline.
            deadline = t0 + 20 + n / 200
            stalled = False
            for ld in loaders:
                left_s = deadline - time.monotonic()
                if left_s <= 0 or not select.select([ld.stdout], [], [], left_s)[0]:
                    stalled = True
                    break
                line = ld.stdout.readline()
                kv = dict(x.split("=") for x in line.split()) if line else {}
                ready += int(kv.get("ready", 0))
                failed += int(kv.get("failed", 0))
            took = time.monotonic() - t0
            if stalled:
                notes.append(f"kamailio ({w} TLS worker{'s' if w > 1 else ''}) stalled opening {n} "
                             f"connections {c} at a time (alive: "
                             f"{k.alive()}, no progress within {deadline - t0:.0f} s); retrying "
                             "with less load. Its log ends:\n    " + k.tail(4).replace("\n", "\n    "))
                continue
            time.sleep(1.0)
            alive = k.alive()
            if alive:
                conns = k.tls_conns()
                pss, shm = k.pss_kb(), k.shm_used_kb()
            for ld in loaders:
                ld.stdin.close()
            for ld in loaders:
                ld.wait(timeout=30)
            if alive and ready >= n * 0.99:
                nc = conns if conns > 0 else ready
                return {"conns": nc, "ready": ready, "failed": failed, "wanted": total,
                        "base_pss": base_pss, "pss": pss, "base_shm": base_shm, "shm": shm,
                        "pss_per": (pss[0] - base_pss[0]) * 1024 / nc,
                        "pool_per": (pss[1] - base_pss[1]) * 1024 / nc,
                        "shm_per": (shm - base_shm) * 1024 / nc, "seconds": took, "conc": c,
                        "workers": w}
            why = "died" if not alive else f"opened only {ready} of {n} ({failed} failed)"
            notes.append(f"kamailio ({w} TLS worker{'s' if w > 1 else ''}) {why} holding {n} "
                         f"connections opened {c} at a time; "
                         "retrying with less load. Its log ends:\n    " +
                         k.tail(4).replace("\n", "\n    "))
        finally:
            for ld in loaders:
                if ld.poll() is None:
                    ld.kill()
                    ld.wait()
            k.stop()
    return None


def sbc_run(notes, what, fn, *args, **kw):
    """One of bench_signal_tls's scenarios against sbc-signal; tried twice
    (its stats come from a log line, slow on a busy machine)."""
    for attempt in (1, 2):
        try:
            return fn(*args, **kw)
        except Exception as e:  # noqa: BLE001 (reported in the notes)
            args[0].stop_all()
            args[0].items.clear()
            notes.append(f"sbc-signal, {what}, try {attempt}: {type(e).__name__}: {e}")
    return None


def main():
    # bounded run time; SIGTERM/SIGINT and the bound both unwind through the
    # finally clauses, which stop every server and load process started here
    time_bound("bench_kamailio_tls", 200 if QUICK else 480)
    r = subprocess.run([str(REPO / "tools" / "deps.sh"), "kamailio", "kamailio-tls-modules"])
    if r.returncode != 0 or not os.access(KAMAILIO, os.X_OK):
        print("bench_kamailio_tls: kamailio could not be installed: no comparison")
        return 1
    if not LOAD.exists() or not C.SIGNAL.exists():
        print(f"bench_kamailio_tls: build first: {LOAD} / {C.SIGNAL}")
        return 1
    ver = subprocess.run([KAMAILIO, "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    tmp = tempfile.mkdtemp(prefix="kambench-")
    procs = conftest.Procs(tmp)
    notes = []
    rc = 0
    try:
        pki, ec, rsa, mtls = S.bench_pki(tmp)
        print(f"Kamailio vs sbc-signal, TLS ({'quick' if QUICK else 'full'} run; "
              f"{os.cpu_count()} cores shared by the server and the load tool)")
        print(f"  kamailio: {ver.strip()} (Debian), tls module, TLSv1.2+, "
              "-m 1024 MB shared memory, ssl_release_buffers=1;")
        if KAM_WORKERS == 1:
            print("    1 TCP/TLS worker process (tcp_children=1), like sbc-signal's 1 worker: with 2 "
                  "(BENCH_KAM_WORKERS=2 tries it), Debian's 5.6.3 + OpenSSL 3 corrupts its shared "
                  "memory within seconds of concurrent handshakes (kamailio issue #3791)")
        else:
            print(f"    {KAM_WORKERS} TCP/TLS worker processes first (BENCH_KAM_WORKERS); where it "
                  "dies or stalls (kamailio issue #3791) the bench falls back to 1 worker and "
                  "lower load, see the notes")
        print("  sbc-signal: 1 worker for the handshake figures, as bench_signal_tls")
        print(f"  load: sig-tlsload, TLS 1.3 full handshakes, 32 in flight, {SECS} s per scenario;"
              " CPU = utime+stime of every server process / handshakes completed")
        rows = []
        for label, cert, prof, mt, key, mode in (
                ("full handshake ECDSA P-256, CPU ms", "srv-ec", ec, False, "ecdsa", "full"),
                ("full handshake RSA-2048, CPU ms", "srv-rsa", rsa, False, "rsa", "full"),
                ("full handshake mutual TLS, CPU ms", "srv-ec", mtls, True, "mtls", "full"),
                ("resumed handshake (TLS 1.3 ticket), CPU ms", "srv-ec", ec, False, None,
                 "resume")):
            extra = ("--cert", pki.p("client.pem"), "--key", pki.p("client.key")) if mt else ()
            # mutual TLS: sbc-signal verifies the chain every time too, as
            # Kamailio does (no memory of chains verified before)
            s = sbc_run(notes, label, S.rate_run, procs, tmp, pki, prof, mode, extra=extra,
                        env={"SBC_TLS_VERIFY_CACHE": "0"} if mt else None)
            k = kam_rate(tmp, pki, cert, mt, notes, mode=mode)
            if mode == "resume" and k and k["resumed"] < k["hs"] * 0.9:
                notes.append(f"kamailio resumed only {k['resumed']} of {k['hs']} handshakes")
            rows.append((label, s, k, REF.get(key)))
        print()
        print(f"{'figure':50s} {'sbc-signal':>11s} {'kamailio':>10s} {'ratio k/s':>10s} "
              f"{'ref kam 6.0.7':>14s}")
        for label, s, k, ref in rows:
            kc, sc = (k["cpu_ms"] if k else None), (s["cpu_ms"] if s else None)
            print(f"{label:50s} {fmt(sc, '11.3f'):>11s} {fmt(kc, '10.3f'):>10s} "
                  f"{fmt(kc / sc if kc and sc else None, '9.1f'):>9s}x {fmt(ref, '14.2f'):>14s}")
            hl = label.replace(", CPU ms", ", handshakes/s")
            kr, sr = (k["rate"] if k else None), (s["rate"] if s else None)
            print(f"{hl:50s} {fmt(sr, '11.0f'):>11s} {fmt(kr, '10.0f'):>10s} "
                  f"{fmt(sr / kr if kr and sr else None, '9.1f'):>9s}x {'':>14s}"
                  f"   (kamailio: {k['workers'] if k else '-'} worker(s), concurrency "
                  f"{k['conc'] if k else '-'}; "
                  f"{k['hs'] if k else 0} handshakes, {k['failed'] if k else 0} failed)")
            if not k or not s:
                rc = 1
        print("  ratio k/s: Kamailio's CPU per handshake over sbc-signal's (higher = sbc better); "
              "for handshakes/s sbc-signal's rate over Kamailio's")
        sizes = (1000, 2000) if QUICK else (1000, 10000)
        print()
        print(f"{'idle TLS connections':22s} {'sbc PSS/conn':>13s} {'kam PSS/conn':>13s} "
              f"{'(in shm pool)':>14s} {'kam shm/conn':>13s} {'ratio k/s':>10s} "
              f"{'ref kam 6.0.7':>22s}")
        for n in sizes:
            s = sbc_run(notes, f"{n} idle connections", S.hold_run, procs, tmp, pki, ec, n)
            k = kam_hold(tmp, pki, n, notes)
            sp = s["per_conn_b"] / 1024 if s else None
            kp = k["pss_per"] / 1024 if k else None
            print(f"{n:<22d} {fmt(sp, '11.2f'):>11s}kB {fmt(kp, '11.2f'):>11s}kB "
                  f"{fmt(k['pool_per'] / 1024 if k else None, '12.2f'):>12s}kB "
                  f"{fmt(k['shm_per'] / 1024 if k else None, '11.2f'):>11s}kB "
                  f"{fmt(kp / sp if kp and sp and sp > 0 else None, '9.1f'):>9s}x "
                  f"{'35 kB PSS + 40 kB shm':>22s}")
            if s:
                print(f"{'':22s} sbc-signal: {s['conns']} conns, {s['pss_kb'] / 1024:.1f} MB PSS "
                      f"(baseline {s['base_kb'] / 1024:.1f})")
            if k:
                print(f"{'':22s} kamailio: {k['conns']} conns ({k['workers']} worker(s), opened "
                      f"{k['conc']} at a time), PSS "
                      f"of all processes {k['base_pss'][0] / 1024:.1f} -> {k['pss'][0] / 1024:.1f} "
                      f"MB, shm used {k['base_shm'] / 1024:.1f} -> {k['shm'] / 1024:.1f} MB")
                if k["conns"] < n:
                    print(f"{'':22s} (kamailio held only {k['conns']} of {n}: see the notes)")
            else:
                print(f"{'':22s} (kamailio did not hold them: see the notes)")
            if not k or not s:
                rc = 1
        print("  PSS/conn: growth of the PSS summed over all the server's processes, per idle "
              "connection;")
        print("  (in shm pool): the part of kam PSS/conn that lies in Kamailio's shared memory "
              "pool mapping (the pages of the pool in use);")
        print("  kam shm/conn: growth of Kamailio's own count of shared memory in use "
              "(kamcmd core.shmmem real_used), per connection; ratio k/s = kam PSS/conn over sbc's")
        print()
        if notes:
            print("NOTES (what failed and what the bench did about it; Kamailio 5.6.3 + OpenSSL 3 "
                  "under TLS load is kamailio issue #3791):")
            for n in notes:
                print("  - " + n)
        else:
            print("NOTES: Kamailio stayed up through every scenario at the loads above "
                  "(kamailio issue #3791 not hit in this run)")
        return rc
    finally:
        for k in list(LIVE):
            k.stop()
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_main(main)
