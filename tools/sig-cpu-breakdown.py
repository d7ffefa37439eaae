#!/usr/bin/python3
"""Where sbc-signal's CPU goes: a breakdown of `perf script` output taken
with DWARF call graphs (perf record --call-graph dwarf -p PID).

Kernel samples are put under the system call or fault they happened in
(sendmsg/sendmmsg, recvmmsg, epoll_wait, eventfd write, TCP send/receive,
page faults, mprotect, scheduling). User samples are put under the
innermost function on the stack that belongs to sbc-signal or shared/src
(by the source file that defines it); "(libc)" marks libc time spent on
that file's behalf (memchr, snprintf, malloc ...).

Usage:
  BENCH_ATTACH="perf record -q -F 2000 --call-graph dwarf,16384 -o /tmp/sig-{tp}.data -p {pid}" \\
      SBC_BUILD=$PWD/build tests/bench/sbc-signal/bench_b2b_calls.py --no-kamailio
  perf script -i /tmp/sig-udp.data | tools/sig-cpu-breakdown.py [FILE-PREFIX]
FILE-PREFIX (e.g. txn_layer) also lists the top stacks charged to that file.
"""
import collections
import glob
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# function name -> source file, from the definitions in our C files
FN_FILE = {}
for f in sorted(glob.glob(f"{REPO}/sbc-signal/src/*.c") + glob.glob(f"{REPO}/shared/src/*.c")):
    with open(f) as fh:
        for m in re.finditer(r"^[a-z][\w \*]*?\b(\w+)\(", fh.read(), re.M):
            FN_FILE.setdefault(m.group(1), os.path.basename(f))

# first match wins: the order puts faults and sends before the scheduler
# that runs inside them
KERNEL = [("page fault", ("exc_page_fault", "asm_exc_page_fault")),
          ("tcp send", ("tcp_sendmsg",)), ("tcp recv", ("tcp_recvmsg",)),
          ("udp sendmsg/sendmmsg", ("__sys_sendmsg", "__sys_sendmmsg")),
          ("recvmmsg", ("__sys_recvmmsg", "__sys_recvmsg", "__x64_sys_recvfrom", "__x64_sys_recvmmsg")),
          ("epoll_wait", ("do_epoll_wait",)), ("write (eventfd doorbells)", ("ksys_write",)),
          ("read", ("ksys_read",)), ("mprotect (heap growth)", ("__x64_sys_mprotect", "do_mprotect_pkey")),
          ("timer interrupt", ("asm_sysvec_apic_timer_interrupt",)), ("other interrupt", ("asm_common_interrupt",))]


def frames_of(sample):
    out = []
    for ln in sample.strip().split("\n")[1:]:
        parts = ln.strip().split(None, 1)
        if len(parts) < 2:
            continue
        name = parts[1].split("+")[0].split(" (")[0]
        dso = parts[1][parts[1].rfind("(") + 1:-1] if "(" in parts[1] else ""
        out.append((name, dso))
    return out


def main():
    want = sys.argv[1] if len(sys.argv) > 1 else None
    total = 0
    kern, user, detail = collections.Counter(), collections.Counter(), collections.Counter()
    for sample in sys.stdin.read().split("\n\n"):
        frames = frames_of(sample)
        if not frames:
            continue
        total += 1
        leaf, leaf_dso = frames[0]
        names = [f[0] for f in frames]
        if "kernel" in leaf_dso:
            cat = next((c for c, keys in KERNEL if any(k in names for k in keys)), None)
            kern[cat or ("scheduler (sleep, wake-up)" if "schedule" in names else "kernel, other")] += 1
            continue
        comp = next((FN_FILE[n] + (" (libc)" if "libc" in leaf_dso else "")
                     for n, d in frames if d.endswith("sbc-signal") and n in FN_FILE), None)
        comp = comp or (f"{os.path.basename(leaf_dso)}: {leaf}" if leaf_dso else "?")
        user[comp] += 1
        if want and comp.startswith(want):
            detail[" < ".join(names[:5])] += 1
    if not total:
        print("no samples (perf script output with call graphs expected on stdin)")
        return 1
    print(f"{total} samples")
    print(f"kernel {100 * sum(kern.values()) / total:5.1f} %")
    for c, n in kern.most_common():
        print(f"   {100 * n / total:5.1f} %  {c}")
    print(f"user   {100 * sum(user.values()) / total:5.1f} %  (innermost sbc-signal source file)")
    for c, n in user.most_common(30):
        print(f"   {100 * n / total:5.1f} %  {c}")
    for st, n in detail.most_common(20):
        print(f"   {want}: {100 * n / total:5.1f} %  {st}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
