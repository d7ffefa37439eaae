"""Three network namespaces for the AF_XDP tests: host A and host B, each
joined by a veth pair to the relay namespace R.

    A: <p>va 10.<n>.1.2/24 fd00:<n>:1::2/64   <->  R: <p>ra 10.<n>.1.1 fd00:<n>:1::1
    B: <p>vb 10.<n>.2.2/24 fd00:<n>:2::2/64   <->  R: <p>rb 10.<n>.2.1 fd00:<n>:2::1

Names carry the pid and a counter so tests can run in parallel; teardown
deletes the namespaces (and with them the veths) even after a failure.
"""
import itertools
import os
import pathlib
import subprocess

TOOLS = pathlib.Path(__file__).resolve().parent
_seq = itertools.count()


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def unavailable():
    """Why namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, XDP)"
    name = "sbcxprobe%d" % os.getpid()
    r = _ip("netns", "add", name, check=False)
    if r.returncode != 0:
        return "ip netns add failed: " + r.stderr.strip()
    _ip("netns", "del", name, check=False)
    return None


class Topology:
    def __init__(self, queues=1):
        self.queues = queues
        k = next(_seq)
        pid = os.getpid()
        self.p = "x%x%x" % (pid, k)       # short: interface names <= 15 chars
        self.n = (pid * 7 + k) % 250 + 1   # second octet / v6 group
        self.A, self.R, self.B = "sbc%sa" % self.p, "sbc%sr" % self.p, "sbc%sb" % self.p
        self.va, self.ra = self.p + "va", self.p + "ra"
        self.vb, self.rb = self.p + "vb", self.p + "rb"
        n = self.n
        self.a4, self.ra4 = "10.%d.1.2" % n, "10.%d.1.1" % n
        self.b4, self.rb4 = "10.%d.2.2" % n, "10.%d.2.1" % n
        self.a6, self.ra6 = "fd00:%x:1::2" % n, "fd00:%x:1::1" % n
        self.b6, self.rb6 = "fd00:%x:2::2" % n, "fd00:%x:2::1" % n
        self.up = False

    def setup(self):
        try:
            for ns in (self.A, self.R, self.B):
                _ip("netns", "add", ns)
                _ip("-n", ns, "link", "set", "lo", "up")
                # No DAD (link-local included) and no router solicitations:
                # the links carry test traffic from the first millisecond.
                subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                                "net.ipv6.conf.all.accept_dad=0",
                                "net.ipv6.conf.default.accept_dad=0",
                                "net.ipv6.conf.default.router_solicitations=0"],
                               check=True, capture_output=True)
            q = ["numtxqueues", str(self.queues), "numrxqueues", str(self.queues)]
            _ip("link", "add", self.va, "netns", self.A, *q, "type", "veth", "peer", "name",
                self.ra, "netns", self.R, *q)
            _ip("link", "add", self.vb, "netns", self.B, *q, "type", "veth", "peer", "name",
                self.rb, "netns", self.R, *q)
            for ns, dev, a4, a6 in ((self.A, self.va, self.a4, self.a6),
                                    (self.R, self.ra, self.ra4, self.ra6),
                                    (self.R, self.rb, self.rb4, self.rb6),
                                    (self.B, self.vb, self.b4, self.b6)):
                _ip("-n", ns, "addr", "add", a4 + "/24", "dev", dev)
                _ip("-n", ns, "addr", "add", a6 + "/64", "dev", dev, "nodad")
                _ip("-n", ns, "link", "set", dev, "up")
            # The hosts know the relay's MACs statically: a host that resolves
            # while sending queues its first packets and flushes them in one
            # burst into the relay veth's 256-slot XDP ring, which drops the
            # excess. The relay itself resolves its next hops through the
            # kernel, as in production.
            for ns, dev, rdev, addrs in ((self.A, self.va, self.ra, (self.ra4, self.ra6)),
                                         (self.B, self.vb, self.rb, (self.rb4, self.rb6))):
                mac = self.mac(rdev)
                for a in addrs:
                    _ip("-n", ns, "neigh", "replace", a, "lladdr", mac, "dev", dev,
                        "nud", "permanent")
            self.up = True
        except Exception:
            self.teardown()
            raise
        return self

    def mac(self, dev):
        import json
        out = _ip("-n", self.R, "-j", "link", "show", dev).stdout
        return json.loads(out)[0]["address"]

    def teardown(self):
        for ns in (self.A, self.R, self.B):
            _ip("netns", "del", ns, check=False)
        self.up = False

    def exec_args(self, ns, *args):
        return ["ip", "netns", "exec", ns, *args]

    def popen(self, ns, *args, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        return subprocess.Popen(self.exec_args(ns, *args), **kw)

    def run(self, ns, *args, timeout=30, check=True):
        return subprocess.run(self.exec_args(ns, *args), capture_output=True, text=True,
                              timeout=timeout, check=check)

    def peer(self, ns, *args, **kw):
        return self.popen(ns, "/usr/bin/python3", str(TOOLS / "udp_peer.py"), *args, **kw)

    def tx_csum_off(self, ns, dev):
        """Turns tx-checksumming off on dev in ns (SIOCETHTOOL ETHTOOL_STXCSUM,
        no ethtool binary needed): a CHECKSUM_PARTIAL packet sent there gets
        its checksum finished by the kernel (skb_checksum_help) and the peer
        verifies it, where veth would otherwise pass it on unchecked."""
        code = (
            "import ctypes, fcntl, socket, struct, sys\n"
            "ev = ctypes.create_string_buffer(struct.pack('II', 0x17, 0))\n"
            "ifr = struct.pack('16sP', sys.argv[1].encode(), ctypes.addressof(ev)).ljust(40, b'\\0')\n"
            "s = socket.socket()\n"
            "fcntl.ioctl(s.fileno(), 0x8946, ifr)\n")
        self.run(ns, "/usr/bin/python3", "-c", code, dev)

    def udp_csum_errors(self, ns):
        """Udp InCsumErrors of ns (/proc/net/snmp)."""
        out = self.run(ns, "cat", "/proc/net/snmp").stdout.splitlines()
        udp = [line.split() for line in out if line.startswith("Udp:")]
        return int(udp[1][udp[0].index("InCsumErrors")])

    def xdp_attached(self, dev):
        """The XDP program id on dev in R, or None ('ip -d link' text)."""
        out = _ip("-n", self.R, "-d", "link", "show", dev).stdout
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("prog/xdp"):
                return line
        return None if " xdp" not in out.split("\n")[0] else out
