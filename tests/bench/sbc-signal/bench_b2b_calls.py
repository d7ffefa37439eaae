#!/usr/bin/python3
"""B2BUA call benchmark: calls per second through sbc-signal + sbc-media (make bench),
and the same load through Debian's Kamailio as a stateful proxy, side by side.

sbc-control starts the real sbc-signal and sbc-media (one worker each, log
level warn); a SIPp UAS (-sn uas) is the demo-out carrier; a SIPp UAC
(-sn uac: INVITE with SDP, 100/180/200, ACK, BYE) calls through sbc-signal
at a fixed rate, once over UDP and once over TLS (SIPp over TCP through
stunnel4 in client mode toward sbc-signal's TLS listener). Every call has
its media session created and deleted in sbc-media.
Then the same SIPp UAC/UAS pair through Kamailio (Debian's 5.6.3, config
written here: tm + rr + sl, record-routing, every INVITE relayed statefully
to the SIPp UAS over UDP; one UDP and one TCP/TLS worker process, like
sbc-signal's one worker), over TLS through stunnel4 like sbc-signal's TLS
run; the rates where Kamailio dies or fails calls over TLS (kamailio issue
#3791) are repeated over TCP on a fresh Kamailio, and each figure and ratio
says which transport it is. A last line compares calls per CPU-second, each
server at the highest rate it sustained.
Figures: calls attempted / successful / failed, calls per second, and the
server's CPU (utime+stime from /proc/PID/stat; Kamailio: summed over all its
processes) per successful call, and the ratio Kamailio / sbc-signal on the
same transport (Kamailio does less: no media, no second dialog). For
sbc-signal also: user/system split, context switches, page faults, RSS and,
with BENCH_SYSCALLS=1 where perf may attach, its system calls per call
(raw_syscalls tracepoint; off by default: counting adds to the CPU figure).
Over TLS the rate then steps up (BENCH_LADDER, calls/s, each step
BENCH_STEP_S seconds of calls on the same running processes) until a step
fails 0.1 % of its calls or more: the highest step below that is the
sustained rate; Kamailio runs the same steps up to that rate, and the ratio
is printed at each rate both sustain (load generators under SCHED_BATCH,
see GEN; BENCH_GEN_BATCH=0 for ordinary tasks). CPU per call
falls as the rate rises (at 1000/s nearly every message costs its own
wake-up; at 4000/s one wake-up serves several), so each line names its rate.
Target: <= 65 µs of sbc-signal CPU per call, < 0.1 % failed calls; reference:
Kamailio 6.0.7 as a stateful TLS proxy spends about 135 µs per call.
Usage: bench_b2b_calls [--quick] [--no-kamailio] [--tls-only | --udp-only]
Environment: BENCH_RATE, BENCH_CALLS (the first run of each transport), BENCH_LADDER
("2000,3000,4000,5000"; "" for none), BENCH_STEP_S (8), BENCH_SYSCALLS, BENCH_KAM_MEM (Kamailio's memory
manager, fm by default: see KAM_MEM), SBC_BUILD; BENCH_ATTACH: a command run
against sbc-signal while SIPp calls ({pid} and {tp} replaced), stopped with
SIGINT, e.g. "perf record -q --call-graph dwarf -o /tmp/sig-{tp}.data -p {pid}"
(then: perf script -i /tmp/sig-udp.data | tools/sig-cpu-breakdown.py),
"perf stat -e raw_syscalls:sys_enter -p {pid}" or "strace -c -f -p {pid}".
"""
import os
import pathlib
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # bench_kamailio_tls
BUILD = pathlib.Path(os.environ.get("SBC_BUILD", REPO / "build"))
os.environ["SBC_BUILD"] = str(BUILD)
import conftest  # noqa: E402
conftest.BUILD = BUILD
import b2b_common  # noqa: E402
b2b_common.BUILD = BUILD
from conftest import Procs, free_port, free_port_range, wait_for  # noqa: E402
from test_signal_common import tcp_open  # noqa: E402

QUICK = "--quick" in sys.argv
RATE = int(os.environ.get("BENCH_RATE", 400 if QUICK else 1000))
CALLS = int(os.environ.get("BENCH_CALLS", 2000 if QUICK else 10000))
LADDER = [int(r) for r in os.environ.get("BENCH_LADDER", "" if QUICK else "2000,3000,4000,5000").split(",") if r]
STEP_S = float(os.environ.get("BENCH_STEP_S", 8))
MAX_FAIL_PCT = 0.1
TARGET_US = 65.0


def cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def proc_detail(pid):
    """user and system CPU seconds, minor page faults, context switches
    (all threads) of pid: where sbc-signal's CPU per call goes."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    d = {"user": int(f[11]) / tck, "sys": int(f[12]) / tck, "faults": int(f[7]), "cs": 0, "ncs": 0, "rss": 0,
         "hwm": 0}
    for ln in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if ln.startswith(("VmRSS:", "VmHWM:")):  # kB
            d["rss" if ln.startswith("VmRSS") else "hwm"] = int(ln.split()[1])
    for t in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            for ln in (t / "status").read_text().splitlines():
                if "ctxt_switches:" in ln:
                    d["cs"] += int(ln.split(":")[1])
                    if ln.startswith("nonvoluntary"):  # preempted (a peer we woke took the CPU)
                        d["ncs"] += int(ln.split(":")[1])
        except OSError:
            pass
    return d


def syscall_counter(pid, tmp):
    """perf stat counting pid's system calls (raw_syscalls tracepoint) while
    SIPp calls; None where perf or the permission for it is missing."""
    if not os.environ.get("BENCH_SYSCALLS") or not shutil.which("perf"):
        return None
    out = tmp / "syscalls.csv"
    p = subprocess.Popen(["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-o", str(out), "-p", str(pid)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # attached before the first call
    return (p, out) if p.poll() is None else None


def syscall_count(sc):
    p, out = sc
    p.send_signal(signal.SIGINT)
    p.wait(timeout=30)
    for ln in out.read_text().splitlines() if out.exists() else []:
        f = ln.split(",")
        if len(f) > 2 and f[2] == "raw_syscalls:sys_enter" and f[0].isdigit():
            return int(f[0])
    return None


def stat_of(path):
    """SIPp's last statistics line, or {} when it wrote none (killed)."""
    lines = path.read_text().splitlines() if path.exists() else []
    if len(lines) < 2:
        return {}
    head, last = lines[0].split(";"), lines[-1].split(";")
    return {k: last[head.index(k)] for k in ("TotalCallCreated", "SuccessfulCall(C)", "FailedCall(C)")}


# The load generators (SIPp, stunnel4) run under SCHED_BATCH: on a real
# interconnect the carriers are other machines, but on this 2-core box a
# generator woken by our send preempted sbc-signal about once per call at
# 1,000/s (bench's "preemptions"), billing sbc-signal for the switch and
# the cache it lost. A batch task never preempts on wake-up; it still gets
# its share of the CPU. Kamailio's runs use the same generators.
# BENCH_GEN_BATCH=0 runs them as ordinary tasks.
GEN = [] if os.environ.get("BENCH_GEN_BATCH", "1") == "0" else ["chrt", "--batch", "0"]


def start_uas(procs, tmp):
    """A SIPp UAS (the called carrier) on a free UDP port; returns the port."""
    for _ in range(5):  # a port picked free may be taken before SIPp binds it
        uas_port = free_port()
        uas = procs.start("uas", GEN + ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(uas_port), "-mp",
                                  str(free_port_range(8)), "-nostdin", "-trace_err"], cwd=tmp)
        time.sleep(0.3)
        if uas.poll() is None:
            return uas_port
    raise RuntimeError("SIPp UAS did not start")


def stunnel_to(procs, tmp, port):
    """stunnel4 in client mode toward a TLS port; returns its local TCP port."""
    local = free_port()
    (tmp / "stunnel.conf").write_text(f"foreground = yes\npid =\n[sip]\nclient = yes\n"
                                      f"accept = 127.0.0.1:{local}\nconnect = 127.0.0.1:{port}\n"
                                      f"verifyChain = no\nsslVersionMin = TLSv1.2\n")
    procs.start("stunnel", GEN + ["stunnel4", str(tmp / "stunnel.conf")])
    wait_for(lambda: tcp_open(local), what="stunnel listening")
    return local


def sipp_calls(tmp, target, tcp, cpu, rate, calls):
    """calls calls at rate/s from a SIPp UAC to target; cpu() is the
    server's CPU seconds so far. Returns a result dict."""
    extra = ["-t", "t1"] if tcp else []
    c0 = cpu()
    t0 = time.monotonic()
    (tmp / "stat.csv").unlink(missing_ok=True)
    try:
        rc = subprocess.run(GEN + ["sipp", "-sn", "uac", *extra, target, "-s", "4930123456", "-m", str(calls),
                             "-r", str(rate), "-l", "2000", "-i", "127.0.0.1", "-mp", str(free_port_range(8)),
                             "-p", str(free_port()), "-timeout", str(calls // rate + 60), "-nostdin",
                             "-trace_stat", "-trace_err", "-stf", str(tmp / "stat.csv"), "-fd", "60"],
                            capture_output=True, text=True, timeout=calls // rate + 120, cwd=tmp).returncode
    except subprocess.TimeoutExpired:  # a SIPp stuck on a dead connection: killed, its calls failed
        rc = -9
    wall = time.monotonic() - t0
    time.sleep(0.3)
    c1 = cpu()
    st = stat_of(tmp / "stat.csv")
    ok, failed = int(st.get("SuccessfulCall(C)", 0)), int(st.get("FailedCall(C)", 0))
    # calls SIPp never completed count as failed: a SIPp that exits on a
    # fatal error (rc 255, e.g. its connection closed under it) stops
    # placing calls and its counters miss the rest (Kamailio at 2000/s:
    # 7024 ok, 0 failed of 16000, taken for a sustained rate)
    failed += max(0, calls - ok - failed)
    return {"ok": ok, "failed": failed, "rate": ok / wall, "offered": rate, "rc": rc,
            "us": (c1 - c0) * 1e6 / ok if ok else float("inf"),
            "fail_pct": 100.0 * failed / max(1, ok + failed)}


def line(who, tp, res, target):
    print(f"  {who:10} {tp.upper():4} {res['ok']:6d} ok {res['failed']:5d} failed ({res['fail_pct']:.2f} %)  "
          f"{res['rate']:7.1f} calls/s (offered {res['offered']}/s)   CPU {res['us']:7.1f} us/call{target}"
          f"{'' if res['rc'] == 0 else '  [sipp rc=%d]' % res['rc']}")


def steps_for(tp):
    """(rate, calls) of each run on one set of processes: BENCH_RATE with
    BENCH_CALLS, then over TLS the ladder of higher rates."""
    return [(RATE, CALLS)] + ([(r, int(r * STEP_S)) for r in LADDER if r > RATE] if tp == "tls" else [])


def run_steps(steps, one):
    """one(rate, calls) for each step until a step fails MAX_FAIL_PCT of its
    calls or more; returns the results, the failing step last."""
    out = []
    for rate, calls in steps:
        out.append(one(rate, calls))
        if out[-1]["fail_pct"] >= MAX_FAIL_PCT:
            break
    return out


def sustained(results):
    """The result at the highest rate that failed under MAX_FAIL_PCT, or None."""
    ok = [r for r in results if r["fail_pct"] < MAX_FAIL_PCT]
    return max(ok, key=lambda r: r["offered"]) if ok else None


def run(tp):
    """sbc-signal over tp at each of steps_for(tp); returns the results."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench_b2b_"))
    procs = Procs(tmp)
    try:
        uas_port = start_uas(procs, tmp)
        sbc = b2b_common.Sbc(procs, tmp, uas_port, log_level="warn", media_ports=2000)
        spid = b2b_common.child_pid(sbc.ctl.pid, "sbc-signal")
        assert spid, "sbc-signal pid not found"
        target = f"127.0.0.1:{stunnel_to(procs, tmp, sbc.tls_port)}" if tp == "tls" else f"127.0.0.1:{sbc.port}"
        return run_steps(steps_for(tp), lambda rate, calls: measure(tmp, tp, spid, target, rate, calls))
    finally:
        cleanup(procs, tmp)


def measure(tmp, tp, spid, target, rate, calls):
    """One step through a running sbc-signal: SIPp's calls, sbc-signal's CPU
    per call and where it went, printed; returns the result dict."""
    prof = None
    if os.environ.get("BENCH_ATTACH"):
        prof = subprocess.Popen(shlex.split(os.environ["BENCH_ATTACH"].replace("{pid}", str(spid))
                                            .replace("{tp}", tp)))
        time.sleep(1.0)  # attached before the first call
    sc = syscall_counter(spid, tmp)
    d0 = proc_detail(spid)
    res = sipp_calls(tmp, target, tp == "tls", lambda: cpu_s(spid), rate, calls)
    d1 = proc_detail(spid)
    nsys = syscall_count(sc) if sc else None
    if prof:
        prof.send_signal(signal.SIGINT)
        prof.wait(timeout=120)
    line("sbc-signal", tp, res, f" (target <= {TARGET_US:.0f} us/call, < {MAX_FAIL_PCT} % failed)")
    n = max(res["ok"], 1)
    print(f"  {'':10} {'':4} per call: user {(d1['user'] - d0['user']) * 1e6 / n:.0f} us, "
          f"system {(d1['sys'] - d0['sys']) * 1e6 / n:.0f} us, {(d1['cs'] - d0['cs']) / n:.2f} context switches "
          f"({(d1['ncs'] - d0['ncs']) / n:.2f} of them preemptions), "
          f"{(d1['faults'] - d0['faults']) / n:.1f} page faults"
          + (f", {nsys / n:.1f} system calls" if nsys is not None else ""))
    # user/system come from the kernel's tick sampling: on a VM their
    # split swings by +-30 us per call between identical runs (the sum
    # holds); perf record -p gives the real split
    # transactions linger 32 s over UDP after a call: RSS at the end of
    # the run is the memory of the calls of the last ~32 s
    print(f"  {'':10} {'':4} sbc-signal RSS {d0['rss'] / 1024:.0f} MB before, {d1['rss'] / 1024:.0f} MB after "
          f"(peak {d1['hwm'] / 1024:.0f} MB)")
    return res


def cleanup(procs, tmp):
    procs.stop_all()
    if os.environ.get("BENCH_KEEP"):
        print(f"  (kept {tmp})")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def run_retry(tp):
    """Other programs on this shared machine may hold ports inside the
    media range picked at random (sbc-media then answers "limit reached"
    from the first call): a run without a single successful call is
    repeated with a new range, at most twice."""
    for attempt in range(3):
        res = run(tp)
        if res[0]["fail_pct"] < 100.0:
            return res
        print(f"  {tp.upper():4} no call succeeded: repeated with other ports")
    return res


# ---- Kamailio as a stateful proxy (tm + rr + sl) ----------------------------

# Kamailio's memory manager for shared and private memory. Its default, qm,
# is the debugging allocator (checks and bookkeeping on every allocation):
# with it Debian's 5.6.3 spent ~3x the CPU per call here (620-680 us against
# 210 us with fm, 5000 calls at 1000/s over TLS). fm ("fast malloc") is how
# one would run it in production, so the comparison uses it.
KAM_MEM = os.environ.get("BENCH_KAM_MEM", "fm")

KAM_CFG = """#!KAMAILIO
debug=0
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
{tls_on}
listen=udp:127.0.0.1:{udp_port}
listen={tp}:127.0.0.1:{port}
tcp_accept_no_cl=yes
tcp_connection_lifetime=3605
mpath="{modules}"
loadmodule "pv.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "siputils.so"
loadmodule "maxfwd.so"
{tls_mod}
request_route {{
	if (!mf_process_maxfwd_header("10")) {{
		sl_send_reply("483", "Too Many Hops");
		exit;
	}}
	if (has_totag()) {{
		# in-dialog (ACK, BYE): along the route set we recorded; SIPp's
		# built-in UAC ignores Record-Route and sends them to us, as it
		# would to an SBC: on to the UAS like the INVITE
		if (!loose_route())
			rewritehostport("127.0.0.1:{uas_port}");
		t_relay();
		exit;
	}}
	if (method == "CANCEL") {{
		if (t_check_trans())
			t_relay();
		exit;
	}}
	t_check_trans();
	record_route();
	rewritehostport("127.0.0.1:{uas_port}");
	if (!t_relay())
		sl_reply_error();
	exit;
}}
"""


def kamailio_run(tp, steps):
    """The same load through a fresh Kamailio over tp ("tls": SIPp through
    stunnel4, or "tcp") at each step of steps while it keeps up. Returns the
    results, or None when it did not start."""
    import bench_kamailio_tls as K  # Kamailio's paths and process-group CPU
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench_b2b_kam_"))
    procs = Procs(tmp)
    kam = None
    try:
        uas_port = start_uas(procs, tmp)
        port, udp_port = free_port(), free_port()
        tls_mod = ""
        if tp == "tls":
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-days", "2", "-subj", "/CN=kamailio.bench", "-keyout", str(tmp / "kam.key"),
                            "-out", str(tmp / "kam.pem")], check=True, capture_output=True)
            tls_mod = "\n".join(['loadmodule "tls.so"', 'modparam("tls", "tls_method", "TLSv1.2+")',
                                  f'modparam("tls", "certificate", "{tmp / "kam.pem"}")',
                                  f'modparam("tls", "private_key", "{tmp / "kam.key"}")',
                                  'modparam("tls", "verify_certificate", 0)',
                                  'modparam("tls", "require_certificate", 0)',
                                  'modparam("tls", "connection_timeout", 3600)'])
        (tmp / "kamailio.cfg").write_text(KAM_CFG.format(
            tls_on="enable_tls=yes" if tp == "tls" else "", udp_port=udp_port, tp=tp, port=port,
            modules=K.MODULES, tls_mod=tls_mod, uas_port=uas_port))
        log = open(tmp / "kamailio.log", "wb")
        # -m 1024: 1 GiB of shared memory, as bench_kamailio_tls gives it.
        # With 256 MB it ran out at 2,000 calls/s ("tls: ssl bug #1491
        # workaround: not enough memory", "tm: could not allocate shared
        # memory") and failed calls that were our configuration's doing,
        # not Kamailio's: with 1 GiB it sustains 4,000/s over TLS here.
        kam = subprocess.Popen([K.KAMAILIO, "-f", str(tmp / "kamailio.cfg"), "-DD", "-E", "-m", "1024", "-M", "16",
                                "-P", str(tmp / "kamailio.pid"), "-w", str(tmp), "-x", KAM_MEM, "-X", KAM_MEM],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: tcp_open(port) or kam.poll() is not None, timeout=15, what="kamailio listening")
        if kam.poll() is not None:
            print(f"  kamailio did not start over {tp}:\n" + (tmp / "kamailio.log").read_text()[-1500:])
            return None
        time.sleep(0.3)
        nprocs = len(K.group_pids(kam.pid))
        target = f"127.0.0.1:{stunnel_to(procs, tmp, port)}" if tp == "tls" else f"127.0.0.1:{port}"

        def one(rate, calls):
            res = sipp_calls(tmp, target, True, lambda: K.group_cpu_s(kam.pid), rate, calls)
            res["alive"] = kam.poll() is None and len(K.group_pids(kam.pid)) >= nprocs
            res["log"] = (tmp / "kamailio.log").read_text(errors="replace")[-800:]
            if not res["alive"]:
                res["fail_pct"] = 100.0  # no further step
            return res
        return run_steps(steps, one)
    finally:
        if kam is not None and kam.poll() is None:
            os.killpg(kam.pid, signal.SIGTERM)
            try:
                kam.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(kam.pid, signal.SIGKILL)
                kam.wait(timeout=10)
        cleanup(procs, tmp)


def kamailio_compare(sbc_results):
    """Kamailio at each rate sbc-signal sustained over TLS: over TLS while
    Debian's 5.6.3 survives it (kamailio issue #3791), and the rates it did
    not sustain over TLS again over TCP on a fresh Kamailio; printed beside
    sbc-signal's TLS figures at the same rate, each ratio naming Kamailio's
    transport (over TCP Kamailio is spared the TLS work sbc-signal does)."""
    r = subprocess.run([str(REPO / "tools" / "deps.sh"), "kamailio", "kamailio-tls-modules"])
    import bench_kamailio_tls as K
    if r.returncode != 0 or not os.access(K.KAMAILIO, os.X_OK):
        print("  kamailio: could not be installed: no comparison")
        return
    ver = subprocess.run([K.KAMAILIO, "-v"], capture_output=True, text=True).stdout.split("\n")[0].strip()
    print(f"  kamailio: {ver} (Debian), stateful proxy (tm + rr + sl), 1 UDP + 1 TCP/TLS worker process, "
          f"memory manager {KAM_MEM} (-x/-X), 1 GiB shared memory (-m 1024), B side over UDP like sbc-signal's")
    top = sustained(sbc_results)
    # sbc-signal's own steps up to its sustained rate: the ratio is taken at
    # every rate both sustain, so that it compares equal loads
    steps = [st for st in steps_for("tls") if top and st[0] <= top["offered"]] or [(RATE, CALLS)]
    held = []  # (transport, result) of each rate Kamailio sustained
    for tp in ("tls", "tcp"):
        res = kamailio_run(tp, steps) or []
        for k in res:
            line("kamailio", tp, k, " (reference: Kamailio 6.0.7 stateful TLS proxy ~135 us/call)"
                 + ("" if k["alive"] else "  [died]"))
        held += [(tp, k) for k in res if k["alive"] and k["ok"] and k["fail_pct"] < MAX_FAIL_PCT]
        steps = steps[len([k for k in res if k["alive"] and k["fail_pct"] < MAX_FAIL_PCT]):]
        if not steps:
            break
        last = res[-1] if res else None
        why = ("did not start" if not last else "died" if not last["alive"]
               else f"failed {last['fail_pct']:.2f} % of calls")
        print(f"  kamailio over {tp.upper()} at {steps[0][0]}/s {why}"
              + (" (kamailio issue #3791?): that rate and those above repeated over TCP" if tp == "tls" else ""))
        if last:
            print("    its log ends: " + last["log"].strip().replace("\n", "\n    "))
    ours = {x["offered"]: x for x in sbc_results}
    both = []
    for tp, k in held:
        s = ours.get(k["offered"])
        if s and s["ok"] and s["fail_pct"] < MAX_FAIL_PCT:
            both.append((tp, k, s))
            print(f"  ratio kamailio/sbc-signal CPU per call at {k['offered']}/s: {k['us'] / s['us']:.2f}x "
                  f"(kamailio over {tp.upper()}, sbc-signal over TLS; > 1: sbc-signal cheaper per call, "
                  "doing more: B2BUA, two dialogs, a media session per call)")
    if both:
        tp, k, s = both[-1]
        print(f"  ratio at the highest rate both sustain ({k['offered']}/s, kamailio over {tp.upper()}): "
              f"{k['us'] / s['us']:.2f}x (target: sbc-signal at twice Kamailio's calls per CPU-second)")
    if held and top:
        tp, k = max(held, key=lambda h: (h[0] == "tls", h[1]["offered"]))
        print(f"  calls per CPU-second, each at its highest rate sustained over TLS: sbc-signal "
              f"{1e6 / top['us']:.0f} ({top['offered']}/s), kamailio {1e6 / k['us']:.0f} ({k['offered']}/s over "
              f"{tp.upper()}): {k['us'] / top['us']:.2f}x")


def main():
    for b in ("sbc-control", "sbc-signal", "sbc-media"):
        if not (BUILD / b).exists():
            print(f"bench_b2b_calls: {b} not built in {BUILD}")
            return 1
    if not shutil.which("sipp"):
        print("bench_b2b_calls: sipp not installed (Debian sip-tester): skipped")
        return 0
    print(f"bench_b2b_calls: {CALLS} calls at {RATE}/s, then over TLS {STEP_S:g} s of calls at each of "
          f"{LADDER or 'no higher rate'}/s, SIPp uac -> server -> SIPp uas; "
          f"sbc-signal: one media session per call; load generators "
          f"{'as ordinary tasks' if not GEN else 'under SCHED_BATCH (they never preempt the server on wake-up)'}")
    if "--tls-only" not in sys.argv:  # --tls-only: the run issue #5's target is about
        run_retry("udp")
    if "--udp-only" in sys.argv:
        return 0
    if not shutil.which("stunnel4"):
        print("  TLS: stunnel4 not installed: skipped (and the Kamailio comparison with it)")
        return 0
    tls = run_retry("tls")
    top = sustained(tls)
    if LADDER:
        print(f"  sbc-signal TLS sustained (< {MAX_FAIL_PCT} % failed, highest step of {RATE},"
              f"{','.join(map(str, LADDER))}/s): "
              + (f"{top['offered']} calls/s at {top['us']:.1f} us/call (target <= {TARGET_US:.0f})"
                 if top else "none"))
    if "--no-kamailio" not in sys.argv:
        kamailio_compare(tls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
