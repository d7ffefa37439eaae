"""RFC 3263 resolution (sbc-signal's sig_dns.c, driven through the
sig-resolve tool) against a small DNS server of our own on loopback:
NAPTR order/preference and service filtering, SRV priority and weight,
A/AAAA, the fallbacks when records are missing, sips: keeping TLS only."""
import collections
import socket
import struct
import subprocess
import threading

import pytest

from conftest import BUILD
from test_signal_common import no_sanitizer_reports  # noqa: F401

RESOLVE = BUILD / "tools" / "sig-resolve"


def enc_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def rdata(rtype, value):
    if rtype == "A":
        return 1, socket.inet_pton(socket.AF_INET, value)
    if rtype == "AAAA":
        return 28, socket.inet_pton(socket.AF_INET6, value)
    if rtype == "SRV":
        prio, weight, port, target = value
        return 33, struct.pack("!HHH", prio, weight, port) + enc_name(target)
    if rtype == "NAPTR":
        order, pref, flags, service, regexp, repl = value
        s = lambda x: bytes([len(x)]) + x.encode()  # noqa: E731
        return 35, struct.pack("!HH", order, pref) + s(flags) + s(service) + s(regexp) + \
            enc_name(repl)
    raise ValueError(rtype)


TYPES = {1: "A", 28: "AAAA", 33: "SRV", 35: "NAPTR"}


class DnsServer:
    """Answers from a dict {(name, type): [values]} over UDP; counts queries."""

    def __init__(self, zone):
        self.zone = zone
        self.queries = collections.Counter()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            try:
                self.sock.sendto(self.answer(data), peer)
            except Exception:  # a malformed query: no answer
                pass

    def answer(self, q):
        qid, flags, qd = struct.unpack("!HHH", q[:6])
        pos, labels = 12, []
        while q[pos]:
            labels.append(q[pos + 1:pos + 1 + q[pos]].decode())
            pos += 1 + q[pos]
        qname = ".".join(labels).lower()
        qtype, qclass = struct.unpack("!HH", q[pos + 1:pos + 5])
        question = q[12:pos + 5]
        tname = TYPES.get(qtype, "?")
        self.queries[(qname, tname)] += 1
        answers = self.zone.get((qname, tname), [])
        known = any(k[0] == qname for k in self.zone)
        rcode = 0 if known else 3  # NXDOMAIN for names we do not know
        body = b""
        for v in answers:
            t, rd = rdata(tname, v)
            body += enc_name(qname) + struct.pack("!HHIH", t, 1, 60, len(rd)) + rd
        hdr = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, len(answers), 0, 0)
        return hdr + question + body

    def close(self):
        self.stop = True
        self.t.join()
        self.sock.close()


ZONE = {
    # NAPTR: TLS preferred (order 10), then TCP (order 20); UDP and an
    # unknown service are listed too; "SIP+D2X" must be ignored
    ("carrier.example", "NAPTR"): [
        (20, 10, "s", "SIP+D2T", "", "_sip._tcp.carrier.example"),
        (10, 10, "s", "SIPS+D2T", "", "_sips._tcp.carrier.example"),
        (30, 10, "s", "SIP+D2U", "", "_sip._udp.carrier.example"),
        (5, 10, "s", "SIP+D2X", "", "_bogus._tcp.carrier.example"),
    ],
    ("_sips._tcp.carrier.example", "SRV"): [(20, 0, 5061, "backup.carrier.example"),
                                            (10, 0, 5061, "sbc1.carrier.example")],
    ("_sip._tcp.carrier.example", "SRV"): [(10, 0, 5060, "sbc1.carrier.example")],
    ("_sip._udp.carrier.example", "SRV"): [(10, 0, 5060, "sbc1.carrier.example")],
    ("sbc1.carrier.example", "A"): ["192.0.2.10"],
    ("sbc1.carrier.example", "AAAA"): ["2001:db8::10"],
    ("backup.carrier.example", "A"): ["192.0.2.20"],
    # no NAPTR, SRV only (TCP): weighted 90/10 at one priority
    ("weighted.example", "A"): ["198.51.100.99"],
    ("_sip._tcp.weighted.example", "SRV"): [(1, 90, 5070, "heavy.weighted.example"),
                                            (1, 10, 5071, "light.weighted.example")],
    ("heavy.weighted.example", "A"): ["198.51.100.1"],
    ("light.weighted.example", "A"): ["198.51.100.2"],
    # nothing but an A record
    ("plain.example", "A"): ["203.0.113.7"],
}


@pytest.fixture
def dns():
    if not RESOLVE.exists():
        pytest.skip(f"build {RESOLVE} first")
    d = DnsServer(ZONE)
    yield d
    d.close()


def resolve(dns, host, *args):
    r = subprocess.run([str(RESOLVE), "--server", f"127.0.0.1:{dns.port}", *args, host],
                       capture_output=True, text=True, timeout=20)
    return [tuple(line.split()) for line in r.stdout.splitlines()], r.returncode


def test_naptr_srv_a_aaaa_order(dns):
    out, rc = resolve(dns, "carrier.example")
    assert rc == 0
    got = [(t, a) for t, a, *_ in out]
    assert got == [
        ("tls", "192.0.2.10:5061"), ("tls", "[2001:db8::10]:5061"),  # SRV priority 10
        ("tls", "192.0.2.20:5061"),                                  # then priority 20
        ("tcp", "192.0.2.10:5060"), ("tcp", "[2001:db8::10]:5060"),  # NAPTR order 20
        ("udp", "192.0.2.10:5060"), ("udp", "[2001:db8::10]:5060"),  # NAPTR order 30
    ], out
    assert dns.queries[("_bogus._tcp.carrier.example", "SRV")] == 0


def test_sips_keeps_tls_only(dns):
    out, rc = resolve(dns, "carrier.example", "--secure")
    assert rc == 0 and out and all(t == "tls" for t, *_ in out)


def test_explicit_transport_skips_naptr(dns):
    out, rc = resolve(dns, "carrier.example", "--tp", "tcp")
    assert rc == 0
    assert [(t, a) for t, a, *_ in out] == [("tcp", "192.0.2.10:5060"),
                                            ("tcp", "[2001:db8::10]:5060")]
    assert dns.queries[("carrier.example", "NAPTR")] == 0


def test_explicit_port_skips_naptr_and_srv(dns):
    out, rc = resolve(dns, "carrier.example", "--port", "5080")
    assert rc == 1 or out == [] or all(a.endswith(":5080") for _, a, *_ in out)
    out, rc = resolve(dns, "sbc1.carrier.example", "--port", "5080")
    assert rc == 0 and ("udp", "192.0.2.10:5080") in [(t, a) for t, a, *_ in out]
    assert dns.queries[("sbc1.carrier.example", "NAPTR")] == 0
    assert dns.queries[("_sip._udp.sbc1.carrier.example", "SRV")] == 0


def test_no_naptr_srv_weights(dns):
    out, rc = resolve(dns, "weighted.example", "--repeat", "200")
    assert rc == 0 and len(out) == 200
    first = collections.Counter(a for _, a, *_ in out)
    # 90/10 weights: the heavy target first most of the time, the light one sometimes
    assert first["198.51.100.1:5070"] > 140, first
    assert first["198.51.100.2:5071"] > 2, first
    assert dns.queries[("_sips._tcp.weighted.example", "SRV")] >= 1  # fallback SRV probes


def test_no_naptr_no_srv_uses_a_record(dns):
    out, rc = resolve(dns, "plain.example")
    assert rc == 0 and out[0][:2] == ("udp", "203.0.113.7:5060")
    out, rc = resolve(dns, "plain.example", "--secure")
    assert rc == 0 and out[0][:2] == ("tls", "203.0.113.7:5061")


def test_unknown_name_and_dead_server(dns):
    out, rc = resolve(dns, "nowhere.example")
    assert rc == 1 and out[0][0] == "error"
    r = subprocess.run([str(RESOLVE), "--server", "127.0.0.1:9", "dead.example"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "error" in r.stdout
