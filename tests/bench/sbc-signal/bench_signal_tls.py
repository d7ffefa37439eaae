#!/usr/bin/python3
"""sbc-signal TLS benchmark (run by bench_signal_tls, see its header).

Figures: full handshakes/s and server CPU ms per handshake (sbc-signal's
utime+stime from /proc/PID/stat over the handshakes it counted) for ECDSA
P-256, RSA-2048 and mutual TLS; resumed handshakes/s; PSS per idle TLS
connection at 1k, 10k and ~18k connections (every process is capped at
20,000 open files here, so the load is split over several tool processes).
The rate figures are taken for each BoringSSL build in the same run, on the
same sbc-signal binary: Debian's android-libboringssl (built with
-DOPENSSL_SMALL) and Debian's source rebuilt without it by
tools/boringssl-rebuild.sh (make BORINGSSL=rebuilt; built here the first time
into $SBC_BUILD/boringssl, or taken from $SBC_BORINGSSL_REBUILT), chosen with
LD_LIBRARY_PATH and checked in /proc/PID/maps. A third build, "tuned", is the
same rebuild with BORINGSSL_CC=gcc BORINGSSL_OPT=-O3 BORINGSSL_LTO=1 and a
profile of sbc-signal's handshakes (BORINGSSL_PGO; instrumented into
$SBC_BUILD/boringssl-tuned-gen, trained by this bench's scenarios, then built
into $SBC_BUILD/boringssl-tuned; or $SBC_BORINGSSL_TUNED): gcc -O3's code for
the fiat-crypto X25519 field arithmetic is the faster one here (-march=x86-64-v3
on top measured no better, so the build stays generic x86-64), and LTO with
the profile takes ~6% off the library's own handshake work.
The load tool keeps the library it was linked with, so only the server side
changes between the rows. The
builds run one after the other within each of --reps runs (ratios paired per
run), or with --side-by-side at the same time (one sbc-signal and one load
tool each: the machine's other load weighs on both alike, but four busy
processes on two cores inflate every figure).
Usage: bench_signal_tls [--quick] [--tls-only] [--reps N] [--side-by-side] [--builds B,..]
                        [--only WORD,..]
  --tls-only: only the handshake rows (no idle memory, UDP or Kamailio)
  --only: only the handshake scenarios whose name holds one of the words
  --builds: which BoringSSL builds to measure (default debian,rebuilt,tuned)
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "bench"))
from benchlib import cpu_s, pss_kb, summed  # noqa: E402
BUILD = pathlib.Path(os.environ.get("SBC_BUILD", REPO / "build"))
os.environ["SBC_BUILD"] = str(BUILD)
import conftest  # noqa: E402
conftest.BUILD = BUILD
import test_signal_common as C  # noqa: E402
C.SIGNAL = BUILD / "sbc-signal"
LOAD = BUILD / "tools" / "sig-tlsload"
QUICK = "--quick" in sys.argv
TLS_ONLY = "--tls-only" in sys.argv
SIDE_BY_SIDE = "--side-by-side" in sys.argv
REPS = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else (1 if QUICK else 2)
SECS = 2 if QUICK else 5
BUILDS = (sys.argv[sys.argv.index("--builds") + 1] if "--builds" in sys.argv
          else "debian,rebuilt,tuned").split(",")
# --only WORD[,WORD..]: just the handshake scenarios whose name holds one of
# the words (e.g. --only "verified each time"), for measuring one change
ONLY = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
DEBIAN_LIB = "/usr/lib/x86_64-linux-gnu/android"
UNLIMITED = {"max_conns_per_source": 10000000, "handshakes_per_source_per_s": 10000000,
             "handshake_burst_per_source": 10000000}


def start(procs, tmp, pki, prof, workers):
    d = pathlib.Path(tempfile.mkdtemp(dir=tmp))
    return C.Signal(procs, d, pki, profiles=[prof], workers=workers, limits=UNLIMITED)


def sys_s(pid):
    """Kernel CPU seconds of a process (stime)."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[12]) / os.sysconf("SC_CLK_TCK")


def loaded_libcrypto(pid):
    """The libcrypto.so.0 file a running process mapped."""
    for line in open(f"/proc/{pid}/maps"):
        if "/libcrypto.so.0" in line:
            return line.split(None, 5)[5].strip()
    return "?"


def lib_env(libdir):
    """Environment for a process that must load BoringSSL from libdir."""
    e = dict(os.environ)
    e.pop("LD_LIBRARY_PATH", None)
    if libdir:
        e["LD_LIBRARY_PATH"] = libdir
    return e


def rate_runs(procs, tmp, pki, prof, mode, extra=(), conc=32, libdirs=(None,), env=None, secs=None):
    """One sbc-signal per BoringSSL build in libdirs, loaded at the same time by
    one load tool each: whatever else the shared machine does then weighs on
    every build alike, so their ratio is steady even when the figures move."""
    sigs = []
    # a Procs each: the log (where stats are read) is named after the process
    pp = [conftest.Procs(tempfile.mkdtemp(dir=tmp)) for _ in libdirs]
    saved = dict(os.environ)
    try:
        for libdir, pr in zip(libdirs, pp):
            os.environ.clear()
            os.environ.update(lib_env(libdir))  # sbc-signal takes its environment from ours
            os.environ.update(env or {})
            sigs.append(start(pr, tmp, pki, prof, 1))
    except BaseException:
        for pr in pp:
            pr.stop_all()
        raise
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        return _rate_runs(sigs, mode, extra, conc, libdirs, secs or SECS)
    finally:
        for pr in pp:
            pr.stop_all()


def _rate_runs(sigs, mode, extra, conc, libdirs, secs):
    libs = [loaded_libcrypto(sig.p.pid) for sig in sigs]
    for lib, libdir in zip(libs, libdirs):
        if libdir and os.path.dirname(lib) != libdir:
            raise RuntimeError(f"sbc-signal loaded {lib}, not the one in {libdir}")
    h0 = [sig.stats()["tls"].get("handshakes", 0) for sig in sigs]
    c0 = [(cpu_s(sig.p.pid), sys_s(sig.p.pid)) for sig in sigs]
    loads = [subprocess.Popen([str(LOAD), "--target", f"127.0.0.1:{sig.tls_port}", "--mode", mode,
                               "--seconds", str(secs), "--concurrency", str(conc), "--sources",
                               "64", "--source-base", str(10 + i), *extra],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env=lib_env(None)) for i, sig in enumerate(sigs)]
    outs = [ld.communicate(timeout=secs + 60)[0] for ld in loads]
    c1 = [(cpu_s(sig.p.pid), sys_s(sig.p.pid)) for sig in sigs]
    sts = [sig.stats()["tls"] for sig in sigs]
    res = []
    for i in range(len(sigs)):
        kv = dict(x.split("=") for x in outs[i].split())
        hs = sts[i].get("handshakes", 0) - h0[i]
        cpu, ksys = c1[i][0] - c0[i][0], c1[i][1] - c0[i][1]
        res.append({"rate": float(kv.get("rate", 0)), "server_hs": hs,
                    "failed": int(kv.get("failed", 0)), "resumed": sts[i].get("resumed", 0),
                    "cpu_ms": cpu * 1000 / max(hs, 1), "lib": libs[i],
                    "sys_ms": ksys * 1000 / max(hs, 1),
                    "sys_pct": 100 * ksys / max(cpu, 1e-9)})
    return res


def rate_run(procs, tmp, pki, prof, mode, extra=(), conc=32, libdir=None, env=None, secs=None):
    """One sbc-signal (BoringSSL from libdir, or as linked) under one load tool."""
    return rate_runs(procs, tmp, pki, prof, mode, extra, conc, (libdir,), env, secs)[0]


# BoringSSL rebuilds of Debian's source (tools/boringssl-rebuild.sh): name ->
# (directory under $SBC_BUILD, options, environment variable naming a ready
# one, profile-guided). The tuned build is gcc -O3 with link-time
# optimisation and a profile of sbc-signal's own handshakes (train_pgo):
# in memory 1.02-1.09x less library CPU per handshake than gcc -O3 alone
# (ECDSA and mutual TLS medians 1.06x; LTO alone 1.01x / 1.03x, the
# profile alone 1.01x / 1.02x), see tools/boringssl-rebuild.sh.
REBUILDS = {
    "rebuilt": ("boringssl", {}, "SBC_BORINGSSL_REBUILT", False),
    "tuned": ("boringssl-tuned", {"BORINGSSL_CC": "gcc", "BORINGSSL_OPT": "-O3", "BORINGSSL_LTO": "1"},
              "SBC_BORINGSSL_TUNED", True),
}


def rebuild(top, opts):
    """tools/boringssl-rebuild.sh into top with opts (the script keeps a
    build made with the same options); "" or why it failed."""
    # the source package another rebuild here fetched already serves this one
    first = BUILD / REBUILDS["rebuilt"][0] / "download"
    if top != BUILD / REBUILDS["rebuilt"][0] and first.is_dir() and not (top / "download").exists():
        top.mkdir(parents=True, exist_ok=True)
        (top / "download").symlink_to(first.resolve())
    env = dict(os.environ)
    for k in ("BORINGSSL_CC", "BORINGSSL_OPT", "BORINGSSL_MARCH", "BORINGSSL_LTO", "BORINGSSL_PGO"):
        env.pop(k, None)
    env.update(opts)
    r = subprocess.run([str(REPO / "tools" / "boringssl-rebuild.sh"), str(top)],
                       capture_output=True, text=True, env=env)
    return "" if r.returncode == 0 else (r.stderr.strip().splitlines() or ["failed"])[-1]


def train_pgo(libdir, trainer):
    """Run sbc-signal on an instrumented library (BORINGSSL_PGO=generate)
    through the handshakes the bench measures, 2 s each: each sbc-signal
    writes the library's counters when it exits."""
    for _name, pk, mode, cc, _t, _f, env in SCENARIOS_ALL:
        trainer(pk, mode, cc, env, libdir)


def rebuilt_libdir(name="rebuilt", trainer=None):
    """Directory of a BoringSSL rebuilt without OPENSSL_SMALL (REBUILDS),
    building it (tools/boringssl-rebuild.sh) the first time; (None, why)
    when unavailable (no source, a CPU without the -march level, ...).
    A profile-guided one is built instrumented first (OUTDIR-gen), trained
    with trainer(profile, mode, client cert, env, libdir) once (until a
    training has finished: profile/.trained) and then built from them."""
    sub, opts, var, pgo = REBUILDS[name]
    d = os.environ.get(var)
    if d:
        d = pathlib.Path(d)
        return (str(d.resolve()), "") if (d / "libcrypto.so.0").exists() else \
            (None, f"{var}={d} holds no libcrypto.so.0")
    top = BUILD / sub
    want = " ".join(f"{k}={v}" for k, v in opts.items()) + (" + profile of sbc-signal" if pgo else "")
    # the script keeps a build made with the same options and rebuilds otherwise
    print(f"BoringSSL without OPENSSL_SMALL, {want or 'Debian flags'}, in {top} (built the "
          "first time, kept while the options stay the same)", flush=True)
    if pgo:
        if not trainer:
            return None, "a profile-guided build needs the bench's handshakes to train it"
        gen = BUILD / (sub + "-gen")
        why = rebuild(gen, {**opts, "BORINGSSL_PGO": "generate"})
        if why:
            return None, why
        prof = gen / "profile"
        # written once every scenario has trained: counters without it are
        # an interrupted training's (some scenarios only), which would skew
        # the build silently; the instrumented rebuild removes the profile
        # directory, marker included, so new options train anew
        trained = prof / ".trained"
        if not trained.exists():
            shutil.rmtree(prof, ignore_errors=True)
            print(f"  training: sbc-signal's handshakes on the instrumented build in {gen}",
                  flush=True)
            train_pgo(str((gen / "lib").resolve()), trainer)
            if not any(prof.rglob("*.gcda")):
                return None, f"training wrote no counters into {prof}"
            trained.write_text("every scenario of bench_signal_tls trained\n")
        opts = {**opts, "BORINGSSL_PGO": f"use:{prof}"}
    why = rebuild(top, opts)
    if why:
        return None, why
    return str((top / "lib").resolve()), ""


def floors(libdir, runs=3):
    """Crypto floors (us per op) of one BoringSSL build, from the C half of
    the bench: the least of `runs` measurements per primitive (the machine's
    other load only ever adds CPU time, and one slow pass would otherwise
    move a verdict)."""
    exe = BUILD / "bench" / "bench_signal_tls"
    best = None
    for _ in range(runs):
        r = subprocess.run([str(exe), "--floor-only"], capture_output=True, text=True,
                           timeout=120, env=lib_env(libdir))
        try:
            kv = dict(x.split("=", 1) for x in r.stdout.split())
            f = {k: (v if k == "lib" else float(v)) for k, v in kv.items()}
        except ValueError:
            continue
        best = f if best is None else {k: (v if k == "lib" else min(v, best.get(k, v)))
                                       for k, v in f.items()}
    return best


def lib_handshake(libdir, pki, mtls, runs=3):
    """CPU ms the library itself takes per full TLS 1.3 server handshake
    (bench_signal_tls --hs-only: client and server in one process over a
    BIO pair, only the server's calls timed; no kernel, no sbc-signal),
    the least of `runs` (each already the least of its batches); None
    when it fails."""
    exe = BUILD / "bench" / "bench_signal_tls"
    args = [pki.p("srv-ec.pem"), pki.p("srv-ec.key")]
    if mtls:
        args += [pki.p("clientca.pem"), pki.p("client.pem"), pki.p("client.key")]
    best = None
    for _ in range(runs):
        r = subprocess.run([str(exe), "--hs-only", *args], capture_output=True, text=True,
                           timeout=120, env=lib_env(libdir))
        kv = dict(x.split("=", 1) for x in r.stdout.split() if "=" in x)
        if r.returncode != 0 or "hs_us" not in kv:
            continue
        v = float(kv["hs_us"]) / 1000
        best = v if best is None else min(best, v)
    return best


SCENARIOS = (  # name, profile key, mode, client cert, target ms, floor(f) in ms, sbc-signal env
    ("full handshake, ECDSA P-256 (TLS 1.3)", "ec", "full", False, 0.12,
     lambda f: (f["x25519"] + f["ecsign"]) / 1000, None),
    # the same with a client that puts P-256 first (its key share is P-256;
    # the server follows the client's order, so no HelloRetryRequest): what
    # the group costs the server with each build's P-256 code
    ("full handshake, ECDSA P-256, client's key share P-256", "ec", "full", False, None,
     lambda f: (f.get("p256", 0) + f["ecsign"]) / 1000, None),
    ("full handshake, RSA-2048 (TLS 1.3)", "rsa", "full", False, None,
     lambda f: (f["x25519"] + f["rsasign"]) / 1000, None),
    # the carrier's chain verified on first sight and remembered by the
    # profile (sig_tls_profile.h caveat 5); CertificateVerify checked each time
    ("full handshake, mutual TLS (chain known, identity matched)", "mtls", "full", True, 0.3,
     lambda f: (f["x25519"] + f["ecsign"] + f["ecverify"]) / 1000, None),
    # the same with the memory off: every handshake verifies the chain
    ("full handshake, mutual TLS (chain verified each time)", "mtls", "full", True, 0.3,
     lambda f: (f["x25519"] + f["ecsign"] + 2 * f["ecverify"]) / 1000,
     {"SBC_TLS_VERIFY_CACHE": "0"}),
    ("resumed handshake (TLS 1.3 ticket, ECDHE)", "ec", "resume", False, None,
     lambda f: f["x25519"] / 1000, None),
)
SCENARIOS_ALL = SCENARIOS
if ONLY:
    SCENARIOS = tuple(s for s in SCENARIOS if any(w in s[0] for w in ONLY))


def handshake_rows(procs, tmp, pki, profs):
    """Every scenario on every BoringSSL build, REPS times; prints
    the table and returns rows (name, Debian-build result, target, floor) for
    the Kamailio comparison."""
    builds = [("debian", DEBIAN_LIB)] if "debian" in BUILDS else []
    skipped = {}
    def trainer(pk, mode, cc, env, libdir):
        extra = ("--cert", pki.p("client.pem"), "--key", pki.p("client.key")) if cc else ()
        rate_run(procs, tmp, pki, profs[pk], mode, extra=extra, libdir=libdir, env=env, secs=2)

    for name in REBUILDS:
        if name in BUILDS:
            rb, why = rebuilt_libdir(name, trainer)
            if rb:
                builds.append((name, rb))
            else:
                skipped[name] = why
    if not builds:
        print(f"no BoringSSL build to measure (--builds {','.join(BUILDS)})")
        return []
    fl = {}
    for b, d in builds:
        fl[b] = floors(d)
        f = fl[b]
        if f:
            print(f"crypto floor, {b:7s} ({f['lib']}): X25519 share {f['x25519']:.1f} us, P-256 ECDHE "
                  f"share {f.get('p256', 0):.1f}, ECDSA-P256 sign {f['ecsign']:.1f}, verify "
                  f"{f['ecverify']:.1f}, RSA-2048 sign {f['rsasign']:.1f}")
    for name, why in skipped.items():
        print(f"crypto floor, {name}: skipped ({why})")
    # the library's own handshake cost, for the verdicts of the targets
    # measured against (a scenario's row with a target and a chain verified
    # every time, or no client certificate at all)
    libhs = {}
    for b, d in builds:
        for name, _pk, _m, cc, target, _f, env in SCENARIOS:
            if target and (not cc or env):
                libhs[(name, b)] = lib_handshake(d, pki, cc)
        shown = [f"{'mutual TLS' if 'mutual' in n else 'ECDSA'} {v * 1000:.1f} us"
                 for (n, bb), v in libhs.items() if bb == b and v]
        if shown:
            print(f"library alone, {b:7s}: CPU per full TLS 1.3 server handshake in memory "
                  f"(no kernel, no sbc-signal): {', '.join(shown)}")
    res = {}  # (scenario, build) -> [results]
    for _ in range(REPS):
        for name, pk, mode, cc, _t, _f, env in SCENARIOS:
            extra = ("--cert", pki.p("client.pem"), "--key", pki.p("client.key")) if cc else ()
            if "key share P-256" in name:
                extra += ("--groups", "P-256:X25519")
            if SIDE_BY_SIDE:
                rr = rate_runs(procs, tmp, pki, profs[pk], mode, extra=extra,
                               libdirs=[d for _, d in builds], env=env)
            else:
                rr = [rate_runs(procs, tmp, pki, profs[pk], mode, extra=extra, libdirs=[d],
                                env=env)[0] for _, d in builds]
            for (b, _), r in zip(builds, rr):
                res.setdefault((name, b), []).append(r)
    rng = lambda v, fmt: (fmt % min(v)) if len(v) == 1 else (fmt % min(v)) + "-" + (fmt % max(v))
    print(f"server CPU ms per handshake (sbc-signal utime+stime / handshakes it counted), "
          f"{REPS} run(s) of {SECS}s each, range; builds "
          f"{'side by side' if SIDE_BY_SIDE else 'one after the other'} in each run:")
    hdr = f"{'scenario':60s} {'build':8s} {'hs/s':>11s} {'CPU ms/hs':>13s} {'target':>8s} {'floor':>7s} {'kernel':>7s}"
    print(hdr)
    rows = []
    for name, pk, mode, cc, target, floor, _env in SCENARIOS:
        for b, d in builds:
            rs = res[(name, b)]
            cpu = [r["cpu_ms"] for r in rs]
            tg = f"<= {target}" if target else "-"
            fs = f"{floor(fl[b]):.3f}" if fl.get(b) else "?"
            met = "" if not target else ("  meets target" if max(cpu) <= target else "  above target")
            print(f"{name:60s} {b:8s} {rng([r['rate'] for r in rs], '%.0f'):>11s} "
                  f"{rng(cpu, '%.3f'):>13s} {tg:>8s} {fs:>7s} {rng([r['sys_pct'] for r in rs], '%.0f') + '%':>7s}{met}"
                  f"   ({sum(r['server_hs'] for r in rs)} handshakes, "
                  f"{sum(r['failed'] for r in rs)} failed)")
        # paired: within a run the builds were measured back to back (or
        # side by side), so their ratio is steadier than the ranges
        for i, j in ((i, j) for j in range(1, len(builds)) for i in range(j)):
            q = sorted(a["cpu_ms"] / max(z["cpu_ms"], 1e-9)
                       for a, z in zip(res[(name, builds[i][0])], res[(name, builds[j][0])]))
            print(f"{'':60s} {'ratio':8s} {'':>11s} {rng(q, '%.2f'):>12s}x less CPU per handshake with "
                  f"{builds[j][0]} than {builds[i][0]} (median {q[len(q) // 2]:.2f}x, runs paired)")
        b0 = builds[0][0]  # Debian's when measured: what the Kamailio rows compare
        rows.append((name, {"cpu_ms": min(r["cpu_ms"] for r in res[(name, b0)]),
                            "rate": max(r["rate"] for r in res[(name, b0)])}, target, 0))
    verdicts(res, fl, builds, libhs)
    print("  floor = the server's public-key crypto per handshake for that build (X25519 share + "
          "signature [+ 1 ECDSA verification (CertificateVerify) for mutual TLS with a known chain, "
          "+ 2 when the chain is verified too]), CPU ms; reference Kamailio 6.0.7: "
          "0.55 ms ECDSA, 0.65 ms RSA, 2.3 ms mutual TLS; kernel = share of the CPU time spent in the "
          "kernel (TCP accept/teardown, loopback delivery, epoll)")
    return rows


def verdicts(res, fl, builds, libhs=None):
    """Per target and build: the crypto floor against the target and what the
    rest (libssl, kernel, our code) took, so an unreachable target says so.
    With the library's own in-memory handshake (libhs) the rest is split
    into the library's non-public-key work, the kernel and what is left
    (sbc-signal, libuv, the socket BIO, caches shared with the load tool),
    and the ECDSA target says what the X25519 share would have to cost for
    it to be met with everything else as measured."""
    libhs = libhs or {}
    for name, _pk, _m, client_cert, target, floor, _env in SCENARIOS:
        if not target:
            continue
        for b, _d in builds:
            if not fl.get(b):
                continue
            f = floor(fl[b])
            cpu = [r["cpu_ms"] for r in res[(name, b)]]
            rest = f"{min(cpu) - f:.3f}-{max(cpu) - f:.3f}"
            # the kernel's part (accept, reads, writes, close, epoll, and on
            # loopback the peer's TCP receive path run in our sends) measured
            # in the same runs: floor + kernel is what libssl, the rest of
            # libcrypto (hashes, AEAD, message code), malloc and ours must fit beside
            ks = [r["sys_ms"] for r in res[(name, b)]]
            user = [c - k - f for c, k in zip(cpu, ks)]
            fk = f" + kernel {min(ks):.3f}-{max(ks):.3f} ms; user-space beside the floor " \
                 f"{min(user):.3f}-{max(user):.3f} ms"
            if f >= target:
                why = (f"UNREACHABLE with this build: its crypto floor alone is {f:.3f} ms "
                       f"(>= {target})")
            elif max(cpu) <= target:
                why = f"met ({min(cpu):.3f}-{max(cpu):.3f} ms)"
            elif f + min(ks) >= target:
                why = (f"UNREACHABLE on this machine: floor + the kernel's part alone are "
                       f"{f + min(ks):.3f} ms (>= {target})")
            else:
                why = (f"not met: {min(cpu):.3f}-{max(cpu):.3f} ms; beside floor and kernel, "
                       f"user-space may take at most {target - f - min(ks):.3f} ms")
            print(f"  target {target} ms, {name} [{b}]: floor {f:.3f} ms{fk}; the rest (libssl, "
                  f"kernel, ours) {rest} ms: {why}")
            lib = libhs.get((name, b))
            if lib:
                left = [c - k - lib for c, k in zip(cpu, ks)]
                print(f"    split: library in memory {lib:.3f} ms = floor {f:.3f} + its own "
                      f"non-public-key work {lib - f:.3f} (transcript hash, HKDF, record AEAD, "
                      f"ticket, X.509, malloc); kernel {min(ks):.3f}-{max(ks):.3f}; left to "
                      f"sbc-signal/libuv/socket BIO/cache sharing {min(left):.3f}-{max(left):.3f}")
                if "x25519" in fl[b] and not client_cert:
                    # everything but the X25519 share, as measured in these runs
                    x = fl[b]["x25519"] / 1000
                    others = min(cpu) - x
                    need = target - others
                    print(f"    X25519: for {target} ms with all else as measured (the least run: "
                          f"{others:.3f} ms = signature {f - x:.3f} + library's other work "
                          f"{lib - f:.3f} + kernel and sbc-signal {min(cpu) - lib:.3f}) the X25519 "
                          f"share (now {x * 1000:.1f} us) would have to take "
                          + (f"at most {need * 1000:.1f} us ({x / need:.1f}x faster)" if need > 0
                             else "less than nothing"))


def hold_loaders(port, total, per_proc=6000, conc=64, source_base=10, extra=()):
    """sig-tlsload processes that open `total` TLS connections to port
    between them and hold them (at most per_proc each: a process may have
    20,000 open files here), each from its own 32 source addresses; each
    prints a "ready=N ..." line when its connections are open and quits when
    its stdin closes."""
    loaders = []
    left, i = total, 0
    while left > 0:
        n = min(per_proc, left)
        loaders.append(subprocess.Popen(
            [str(LOAD), "--target", f"127.0.0.1:{port}", "--mode", "hold", "--conns", str(n),
             "--concurrency", str(conc), "--sources", "32", "--source-base", str(source_base + i),
             *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        left -= n
        i += 1
    return loaders


def hold_run(procs, tmp, pki, prof, total, per_proc=6000, extra=()):
    # one worker per core (the configuration wants the number: 1..32)
    sig = start(procs, tmp, pki, prof, os.cpu_count() or 1)
    time.sleep(0.3)
    base = pss_kb(sig.p.pid)
    t0 = time.monotonic()
    loaders = hold_loaders(sig.tls_port, total, per_proc, extra=extra)
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


def udp_options(procs, tmp):
    """SIPp over UDP: OPTIONS answered by the built-in responder."""
    import shutil
    if not shutil.which("sipp"):
        print("UDP OPTIONS: sipp not installed")
        return
    d = pathlib.Path(tempfile.mkdtemp(dir=tmp, prefix="udp-"))
    (d / "options.xml").write_text(C.SIPP_OPTIONS)
    sig = C.Signal(procs, d, workers=1, limits=UNLIMITED)
    n = 5000 if QUICK else 20000
    c0 = cpu_s(sig.p.pid)
    subprocess.run(["sipp", "-sf", str(d / "options.xml"), "-t", "u1", f"127.0.0.1:{sig.port}",
                    "-m", str(n), "-r", "4000", "-l", "1000", "-recv_timeout", "2000", "-nostdin",
                    "-timeout", "60s"], cwd=d, capture_output=True, timeout=120)
    c1 = cpu_s(sig.p.pid)
    got = sig.stats()["udp"].get("msgs_in", 0)
    procs.stop_all()
    procs.items.clear()
    print(f"UDP OPTIONS (SIPp, 4000/s offered): {got} of {n} answered, sbc-signal "
          f"{(c1 - c0) * 1e6 / max(got, 1):.1f} us CPU per message (parse + answer)")


IDLE = {}  # connections -> sbc-signal PSS kB per idle TLS connection (all memory)

KAM_CFG = """#!KAMAILIO
debug=1
log_stderror=yes
fork=yes
children=1
tcp_children=1
enable_tls=yes
tcp_max_connections=40000
tls_max_connections=40000
tcp_connection_lifetime=3600
listen=tls:127.0.0.1:{port}
loadmodule "sl.so"
loadmodule "tls.so"
modparam("tls", "config", "{tlscfg}")
request_route {{
	if (method=="OPTIONS") {{ sl_send_reply("200", "OK"); exit; }}
	sl_send_reply("501", "Not Implemented");
}}
"""

KAM_TLS = """[server:default]
method = TLSv1.2+
verify_certificate = {verify}
require_certificate = {verify}
private_key = {key}
certificate = {cert}
{ca}
"""


def kam_pids(marker):
    r = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()]


def kam_pss_kb(marker):
    return summed(pss_kb, kam_pids(marker))


def kam_cpu_s(marker):
    return summed(cpu_s, kam_pids(marker))


def kam_start(procs, tmp, pki, cert, mtls=False):
    d = pathlib.Path(tempfile.mkdtemp(dir=tmp, prefix="kam-"))
    port = conftest.free_port()
    tlscfg = d / "tls.cfg"
    tlscfg.write_text(KAM_TLS.format(verify="yes" if mtls else "no", key=pki.p(cert + ".key"),
                                     cert=pki.p(cert + ".pem"),
                                     ca=f"ca_list = {pki.p('clientca.pem')}" if mtls else ""))
    cfg = d / "kamailio.cfg"
    cfg.write_text(KAM_CFG.format(port=port, tlscfg=tlscfg))
    p = procs.start("kamailio", ["kamailio", "-f", str(cfg), "-DD", "-E", "-m", "512", "-M", "32",
                                 "-Y", str(d)])
    conftest.wait_for(lambda: C.tcp_open(port) or p.poll() is not None, timeout=15,
                      what="kamailio listening")
    if p.poll() is not None:
        raise RuntimeError("kamailio did not start: " + procs.log(p)[-500:])
    return port, str(cfg)


def kam_rate(procs, tmp, pki, cert, mode, mtls=False):
    port, marker = kam_start(procs, tmp, pki, cert, mtls)
    extra = ("--cert", pki.p("client.pem"), "--key", pki.p("client.key")) if mtls else ()
    c0 = kam_cpu_s(marker)
    out = subprocess.run([str(LOAD), "--target", f"127.0.0.1:{port}", "--mode", mode,
                          "--seconds", str(SECS), "--concurrency", "16", "--sources", "64", *extra],
                         capture_output=True, text=True, timeout=SECS + 60)
    c1 = kam_cpu_s(marker)
    procs.stop_all()
    procs.items.clear()
    kv = dict(x.split("=") for x in out.stdout.split())
    hs = int(kv.get("handshakes", 0))
    return {"rate": float(kv.get("rate", 0)), "hs": hs, "cpu_ms": (c1 - c0) * 1000 / max(hs, 1)}


def kam_hold(procs, tmp, pki, n):
    port, marker = kam_start(procs, tmp, pki, "srv-ec")
    time.sleep(0.5)
    base = kam_pss_kb(marker)
    ld = subprocess.Popen([str(LOAD), "--target", f"127.0.0.1:{port}", "--mode", "hold", "--conns",
                           str(n), "--concurrency", "32", "--sources", "32"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = ld.stdout.readline()
    kv = dict(x.split("=") for x in line.split()) if line else {}
    time.sleep(1.0)
    pss = kam_pss_kb(marker)
    ld.stdin.close()
    ld.wait(timeout=60)
    procs.stop_all()
    procs.items.clear()
    ready = int(kv.get("ready", 0))
    return {"ready": ready, "per_conn_kb": (pss - base) / max(ready, 1), "pss_kb": pss}


def kamailio_side_by_side(procs, tmp, pki, rows):
    import shutil
    if not shutil.which("kamailio"):
        print("  Kamailio side-by-side: kamailio not installed (make bench-deps); reference "
              "6.0.7: 35 kB PSS + 40 kB shm per idle TLS connection")
        return
    ver = subprocess.run(["kamailio", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"Kamailio side by side ({ver.strip()}, tls module with the system OpenSSL; "
          "moderate load: 5.6.3 is known to crash under heavy TLS load, kamailio#3791)")
    try:
        ours = {r[0]: r[1] for r in rows}
        for name, cert, mode, mtls in (
                ("full handshake, ECDSA P-256 (TLS 1.3)", "srv-ec", "full", False),
                ("full handshake, RSA-2048 (TLS 1.3)", "srv-rsa", "full", False),
                ("full handshake, mutual TLS (chain verified each time)", "srv-ec", "full", True)):
            o = ours.get(name)
            if o is None:  # left out by --only: nothing of ours to compare with
                continue
            k = kam_rate(procs, tmp, pki, cert, mode, mtls)
            print(f"  {name:50s} kamailio {k['cpu_ms']:.3f} ms/hs ({k['rate']:.0f}/s)  "
                  f"sbc-signal {o['cpu_ms']:.3f} ms/hs  ratio {k['cpu_ms'] / max(o['cpu_ms'], 1e-9):.1f}x")
        n = 1000 if QUICK else 5000
        k = kam_hold(procs, tmp, pki, n)
        ours_kb = IDLE.get(1000, 0)
        print(f"  idle TLS connections: kamailio {k['per_conn_kb']:.1f} kB PSS/conn (all its processes, "
              f"shm included) at {k['ready']} connections; sbc-signal {ours_kb:.1f} kB at 1000 "
              f"(same measure: PSS growth per connection)  ratio {k['per_conn_kb'] / max(ours_kb, 1e-9):.1f}x")
    except Exception as e:  # kamailio's trouble must not hide our figures
        print(f"  Kamailio run failed: {e}")
    finally:
        procs.stop_all()
        procs.items.clear()


def bench_pki(tmp):
    """The benches' PKI under tmp/pki (server CA with an ECDSA P-256 and an
    RSA-2048 sbc.example leaf, client CA with an ECDSA carrier.example
    client leaf) and the three "default" profiles measured: (pki, ECDSA,
    RSA, mutual TLS with ECDSA). bench_kamailio_tls uses the same."""
    pki = C.Pki(pathlib.Path(tmp) / "pki")
    pki.ca("ca")
    pki.ca("clientca")
    pki.leaf("srv-ec", "ca", "ec", cn="sbc.example")
    pki.leaf("srv-rsa", "ca", "rsa", cn="sbc.example")
    pki.leaf("client", "clientca", "ec", cn="carrier.example", client=True)
    ec = C.profile("default", pki, certs=("srv-ec",))
    rsa = C.profile("default", pki, certs=("srv-rsa",))
    mtls = C.profile("default", pki, certs=("srv-ec",), verify_client=True)
    return pki, ec, rsa, mtls


def main():
    if not LOAD.exists() or not C.SIGNAL.exists():
        print(f"build first: {LOAD} / {C.SIGNAL}")
        return 1
    tmp = tempfile.mkdtemp(prefix="sigbench-")
    procs = conftest.Procs(tmp)
    try:
        pki, ec, rsa, mtls = bench_pki(tmp)
        print(f"sbc-signal TLS benchmark ({'quick' if QUICK else 'full'}; {os.cpu_count()} cores "
              "shared by sbc-signal and the load tool; 1 worker for the rate figures)")
        rows = handshake_rows(procs, tmp, pki, {"ec": ec, "rsa": rsa, "mtls": mtls})
        if TLS_ONLY:
            return 0
        sizes = (1000, 2000) if QUICK else (1000, 10000, 18000)
        print(f"{'idle TLS connections':>22s} {'PSS total':>10s} {'PSS/conn':>9s} "
              f"{'(all mem)/conn':>15s} {'target':>9s}")
        for n in sizes:
            h = hold_run(procs, tmp, pki, ec, n)
            IDLE[n] = h["per_conn_b"] / 1024
            print(f"{h['conns']:>22d} {h['pss_kb'] / 1024:8.1f}MB {h['per_conn_b'] / 1024:7.2f}kB "
                  f"{h['total_per_conn_b'] / 1024:13.2f}kB {'<= 8 kB':>9s}"
                  f"   (opened in {h['seconds']:.1f}s, baseline {h['base_kb'] / 1024:.1f} MB)")
        n = 1000 if QUICK else 10000
        h = hold_run(procs, tmp, pki, mtls, n,
                     extra=("--cert", pki.p("client.pem"), "--key", pki.p("client.key")))
        print(f"{h['conns']:>13d} mutual {h['pss_kb'] / 1024:8.1f}MB {h['per_conn_b'] / 1024:7.2f}kB "
              f"{h['total_per_conn_b'] / 1024:13.2f}kB {'<= 8 kB':>9s}"
              f"   (opened in {h['seconds']:.1f}s)")
        udp_options(procs, tmp)
        kamailio_side_by_side(procs, tmp, pki, rows)
        return 0
    finally:
        procs.stop_all()


if __name__ == "__main__":
    sys.exit(main())
