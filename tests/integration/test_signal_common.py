"""Helpers for the sbc-signal integration tests (no tests in here).

Certificates are made with the openssl CLI in the test's tmp dir; sbc-signal
runs standalone (`--runtime PATH`, no --shm): SIGHUP reloads TLS, SIGUSR1
logs its counters as one JSON line.
"""
import json
import os
import pathlib
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import BUILD, free_port, free_port_range, wait_for

SIGNAL = BUILD / "sbc-signal"


def run(*args, cwd=None):
    subprocess.run(args, check=True, cwd=cwd, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


class Pki:
    """A small PKI: two CAs (one trusted, one unknown), EC and RSA server
    certificates, client certificates (good, unknown CA, expired)."""

    def __init__(self, d):
        self.d = pathlib.Path(d)
        self.d.mkdir(parents=True, exist_ok=True)

    def p(self, name):
        return str(self.d / name)

    def key(self, name, kind="ec"):
        if kind == "ec":
            run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", self.p(name + ".key"))
        else:
            run("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", self.p(name + ".key"))
        return self.p(name + ".key")

    def ca(self, name, kind="ec"):
        self.key(name, kind)
        run("openssl", "req", "-x509", "-new", "-key", self.p(name + ".key"), "-days", "30",
            "-subj", f"/CN={name}", "-out", self.p(name + ".pem"),
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return self.p(name + ".pem")

    def leaf(self, name, ca, kind="ec", cn=None, san=None, expired=False, client=False):
        self.key(name, kind)
        cn = cn or name
        san = san or f"DNS:{cn}"
        ext = self.d / (name + ".ext")
        ext.write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                       f"extendedKeyUsage={'clientAuth' if client else 'serverAuth'}\n")
        run("openssl", "req", "-new", "-key", self.p(name + ".key"), "-subj", f"/CN={cn}",
            "-out", self.p(name + ".csr"))
        if not expired:
            run("openssl", "x509", "-req", "-in", self.p(name + ".csr"), "-CA", self.p(ca + ".pem"),
                "-CAkey", self.p(ca + ".key"), "-CAcreateserial", "-days", "30",
                "-extfile", str(ext), "-out", self.p(name + ".pem"))
        else:
            cadir = self.d / (ca + "-db")
            cadir.mkdir(exist_ok=True)
            (cadir / "index.txt").write_text("")
            (cadir / "serial").write_text("1000\n")
            conf = self.d / (name + ".cnf")
            conf.write_text(f"""[ca]
default_ca = d
[d]
database = {cadir}/index.txt
serial = {cadir}/serial
new_certs_dir = {cadir}
default_md = sha256
policy = pol
copy_extensions = none
[pol]
commonName = supplied
""")
            run("openssl", "ca", "-batch", "-config", str(conf), "-in", self.p(name + ".csr"),
                "-cert", self.p(ca + ".pem"), "-keyfile", self.p(ca + ".key"),
                "-startdate", "20200101000000Z", "-enddate", "20200201000000Z",
                "-extfile", str(ext), "-out", self.p(name + ".pem"), "-notext")
        return self.p(name + ".pem"), self.p(name + ".key")


def make_pki(d):
    """The standard set used by most tests."""
    k = Pki(d)
    k.ca("ca")                      # signs server certificates
    k.ca("clientca")                # trusted for client certificates
    k.ca("rogueca")                 # nobody trusts it
    k.leaf("srv-ec", "ca", "ec", cn="sbc.example")
    k.leaf("srv-rsa", "ca", "rsa", cn="sbc.example")
    k.leaf("srv2-ec", "ca", "ec", cn="other.example")
    k.leaf("client", "clientca", "ec", cn="carrier-a.example",
           san="DNS:carrier-a.example,URI:sip:carrier-a.example", client=True)
    k.leaf("rogue", "rogueca", "ec", cn="rogue.example", client=True)
    k.leaf("expired", "clientca", "ec", cn="old.example", expired=True, client=True)
    return k


def profile(name, pki, certs=("srv-ec", "srv-rsa"), verify_client=False, sni=None, depth=4):
    p = {"name": name,
         "certs": [{"cert": pki.p(c + ".pem"), "key": pki.p(c + ".key")} for c in certs]}
    if verify_client:
        p["ca"] = pki.p("clientca.pem")
        p["verify_client"] = True
        p["verify_depth"] = depth
    if sni:
        p["sni"] = list(sni)
    return p


def write_runtime(path, listen, profiles=(), workers=1, limits=None, log_level="info"):
    sig = {"workers": workers, "listen": listen}
    if profiles:
        sig["tls_profiles"] = list(profiles)
    if limits:
        sig["limits"] = limits
    doc = {"log_level": log_level, "data_dir": str(pathlib.Path(path).parent),
           "store_path": str(pathlib.Path(path).parent / "store"), "signal": sig}
    pathlib.Path(path).write_text(json.dumps(doc, indent=1))
    return str(path)


def start_control(procs, tmp_path, tls_profile, wait_tls):
    """sbc-control with 2 signal workers, UDP/TCP/TLS on free ports and a
    free media range; waits for the TLS listener (wait_tls) or the SIP port.
    Returns (sip_port, tls_port, control socket path, sbc-control process)."""
    port, tls_port = free_port(), free_port()
    mbase = free_port_range(100)
    data = tmp_path / "data"
    cfg = {"log_level": "info", "data_dir": str(data), "store_path": str(data / "store"),
           "signal": {"workers": 2, "listen": [
               {"transport": "udp", "address": f"127.0.0.1:{port}"},
               {"transport": "tcp", "address": f"127.0.0.1:{port}"},
               {"transport": "tls", "address": f"127.0.0.1:{tls_port}", "tls_profile": tls_profile}]},
           "media": {"workers": 1, "address": "127.0.0.1", "port_min": mbase,
                     "port_max": mbase + 99, "backend": "socket", "rtp_timeout_ms": 30000}}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    sock = data / "control.sock"
    ctl = procs.start("control", [str(BUILD / "sbc-control"), "--config", str(tmp_path / "cfg.json"),
                                  "--data-dir", str(data)])
    up = tls_port if wait_tls else port
    wait_for(lambda: sock.exists() and tcp_open(up) or ctl.poll() is not None, timeout=20,
             what="sbc-control and its listeners")
    assert ctl.poll() is None, procs.log(ctl)
    return port, tls_port, sock, ctl


def tcp_open(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), timeout=0.2).close()
        return True
    except OSError:
        return False


def stunnel_client(procs, tmp, tls_port, pki=None):
    """stunnel4 in client mode from a free local TCP port toward tls_port on
    127.0.0.1 (SIPp has no TLS here); returns the local port once it listens.
    With pki: presents client.pem and verifies the server's chain against
    ca.pem (mutual TLS); without, the server is not verified."""
    local = free_port()
    auth = (f"cert = {pki.p('client.pem')}\nkey = {pki.p('client.key')}\n"
            f"CAfile = {pki.p('ca.pem')}\nverifyChain = yes\n" if pki else "verifyChain = no\n")
    conf = pathlib.Path(tmp) / "stunnel.conf"
    conf.write_text(f"foreground = yes\npid =\n[sip]\nclient = yes\n"
                    f"accept = 127.0.0.1:{local}\nconnect = 127.0.0.1:{tls_port}\n"
                    f"{auth}sslVersionMin = TLSv1.2\n")
    procs.start("stunnel", ["stunnel4", str(conf)])
    wait_for(lambda: tcp_open(local), what="stunnel listening")
    return local


# SIPp scenario (-sf): one OPTIONS, answered 200 by sbc-signal's built-in
# responder; for test_signal_tls and bench_signal_tls.
SIPP_OPTIONS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="options">
  <send><![CDATA[
OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:sipp@[local_ip]:[local_port]>;tag=[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
"""


class Signal:
    """A standalone sbc-signal with UDP, TCP and TLS listeners."""

    def __init__(self, procs, tmp, pki=None, profiles=None, workers=1, limits=None,
                 tls_profile="default", extra_listen=()):
        self.procs = procs
        self.port = free_port()
        self.tls_port = free_port()
        listen = [{"transport": "udp", "address": f"127.0.0.1:{self.port}"},
                  {"transport": "tcp", "address": f"127.0.0.1:{self.port}"}]
        if profiles:
            listen.append({"transport": "tls", "address": f"127.0.0.1:{self.tls_port}",
                           "tls_profile": tls_profile})
        listen.extend(extra_listen)
        self.runtime = write_runtime(pathlib.Path(tmp) / "runtime.json", listen,
                                     profiles or (), workers, limits)
        self.p = procs.start("sbc-signal", [str(SIGNAL), "--runtime", self.runtime])
        wait_for(lambda: tcp_open(self.port) and (not profiles or tcp_open(self.tls_port))
                 or self.p.poll() is not None, timeout=10, what="sbc-signal listening")
        assert self.p.poll() is None, procs.log(self.p)

    def log(self):
        return self.procs.log(self.p)

    def stats(self):
        before = self.log().count("stats {")
        os.kill(self.p.pid, signal.SIGUSR1)
        wait_for(lambda: self.log().count("stats {") > before, timeout=5, what="stats line")
        line = [l for l in self.log().splitlines() if "stats {" in l][-1]
        return json.loads(line[line.index("stats ") + 6:])

    def reload(self):
        before = self.log().count("tls reload")
        os.kill(self.p.pid, signal.SIGHUP)
        wait_for(lambda: self.log().count("tls reload") > before, timeout=5, what="reload")

    def alive(self):
        return self.p.poll() is None


def options(callid="c1", branch="z9hG4bK-1", transport="UDP", port=5060, extra=""):
    return (f"OPTIONS sip:sbc@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} 127.0.0.1:{port};branch={branch}\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:probe@127.0.0.1>;tag=f1\r\n"
            f"To: <sip:sbc@127.0.0.1>\r\n"
            f"Call-ID: {callid}\r\n"
            f"CSeq: 1 OPTIONS\r\n{extra}"
            f"Content-Length: 0\r\n\r\n").encode()


def request(method, body=b"", callid="c2"):
    return (f"{method} sip:x@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-{callid}\r\n"
            f"From: <sip:a@127.0.0.1>;tag=f2\r\n"
            f"To: <sip:x@127.0.0.1>\r\n"
            f"Call-ID: {callid}\r\n"
            f"CSeq: 1 {method}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def read_responses(sock, count, timeout=3.0):
    """Reads `count` SIP responses framed by Content-Length from a stream."""
    sock.settimeout(timeout)
    buf = b""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        while b"\r\n\r\n" in buf and len(out) < count:
            head, rest = buf.split(b"\r\n\r\n", 1)
            m = re.search(rb"(?im)^(content-length|l)\s*:\s*(\d+)", head)
            n = int(m.group(2)) if m else 0
            if len(rest) < n:
                break
            out.append(head + b"\r\n\r\n" + rest[:n])
            buf = rest[n:]
        if len(out) >= count:
            break
        try:
            d = sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            break
        if not d:
            break
        buf += d
    return out


def client_ctx(pki, cert=None, minv=ssl.TLSVersion.TLSv1_2, maxv=None, ca="ca"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.p(ca + ".pem"))
    ctx.check_hostname = False
    ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    if cert:
        ctx.load_cert_chain(pki.p(cert + ".pem"), pki.p(cert + ".key"))
    return ctx


def tls_connect(port, ctx, sni=None, session=None, source=None, timeout=5):
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(timeout)
    if source:
        raw.bind((source, 0))
    raw.connect(("127.0.0.1", port))
    s = ctx.wrap_socket(raw, server_hostname=sni, session=session)
    return s


@pytest.fixture(autouse=True)
def no_sanitizer_reports(tmp_path):
    """Fails a test whose sbc-signal (or load tool) logged an ASan/UBSan report."""
    yield
    for log in pathlib.Path(tmp_path).rglob("*.log"):
        text = log.read_text(errors="replace")
        for bad in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert bad not in text, f"{log}: {text[text.index(bad) - 200:][:3000]}"
