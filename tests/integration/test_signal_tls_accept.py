"""The TLS accept path after the system-call cuts of issue #4:

- accepted TCP and TLS connections still have TCP_NODELAY (set once on the
  listener, inherited at accept; checked on sbc-signal's own socket, taken
  with pidfd_getfd);
- the handshake read-ahead reads the socket at most until a short read per
  wake-up: a ClientHello that arrives in pieces, and a client Finished
  that comes in pieces after the server's flight, still complete the
  handshake (epoll wakes the connection for every piece), TLS 1.3 and 1.2.
"""
import ctypes
import os
import socket
import ssl
import time

import pytest

from test_signal_common import (no_sanitizer_reports,  # noqa: F401
                                Signal, make_pki, options, profile, read_responses)

SYS_pidfd_open, SYS_pidfd_getfd = 434, 438


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def server_socket_of(pid, want):
    """sbc-signal's end of the connection whose client address is want (a
    duplicate of its descriptor, through pidfd_getfd), or None when the
    kernel refuses."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = libc.syscall(SYS_pidfd_open, pid, 0)
    if pidfd < 0:
        return None
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
            except OSError:
                continue
            fd = libc.syscall(SYS_pidfd_getfd, pidfd, int(name), 0)
            if fd < 0:
                if ctypes.get_errno() in (1, 38):  # EPERM, ENOSYS
                    return None
                continue
            s = socket.socket(fileno=fd)
            try:
                if s.type == socket.SOCK_STREAM and s.getpeername() == want:
                    return s
            except OSError:
                pass
            s.close()
    finally:
        os.close(pidfd)
    return None


def client_ctx(pki, version="tls13"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.p("ca.pem"))
    ctx.check_hostname = False
    v = ssl.TLSVersion.TLSv1_3 if version == "tls13" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    return ctx


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_accepted_connections_have_nodelay(procs, tmp_path, pki, transport):
    sig = Signal(procs, tmp_path, pki, profiles=[profile("default", pki)])
    port = sig.tls_port if transport == "tls" else sig.port
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    me = raw.getsockname()
    c = client_ctx(pki).wrap_socket(raw) if transport == "tls" else raw
    # a request answered: the connection was accepted and is served
    c.sendall(options(callid=f"nd-{transport}", transport=transport.upper()))
    rs = read_responses(c, 1, timeout=5)
    assert rs and rs[0].startswith(b"SIP/2.0 200"), rs
    s = server_socket_of(sig.p.pid, me)
    if s is None:
        pytest.skip("pidfd_getfd not available here (kernel < 5.6 or no ptrace right)")
    try:
        assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        s.close()
    c.close()


def pieces(data, n):
    k = max(1, len(data) // n)
    return [data[i:i + k] for i in range(0, len(data), k)]


@pytest.mark.parametrize("version", ["tls13", "tls12"])
def test_handshake_flights_in_pieces(procs, tmp_path, pki, version):
    sig = Signal(procs, tmp_path, pki, profiles=[profile("default", pki)])
    st0 = sig.stats()["tls"]
    s = socket.create_connection(("127.0.0.1", sig.tls_port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx(pki, version).wrap_bio(inc, out, server_side=False)
    flights = 0
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = out.read()
            if pending:
                # every client flight in 3 segments, 50 ms apart: the server
                # reads a short piece, and must be woken for the rest
                for p in pieces(pending, 3):
                    s.sendall(p)
                    time.sleep(0.05)
                flights += 1
            data = s.recv(65536)
            assert data, "server closed during the handshake"
            inc.write(data)
    # the client's last flight (Finished; TLS 1.2: with its CCS) in pieces
    # too, then a request behind it
    last = out.read()
    obj.write(options(callid=f"pieces-{version}", transport="TLS"))
    req = out.read()
    for p in pieces(last, 3):
        s.sendall(p)
        time.sleep(0.05)
    s.sendall(req)
    assert flights >= 1

    class Dec:
        def settimeout(self, t):
            s.settimeout(t)

        def recv(self, n):
            while True:
                try:
                    return obj.read(n)
                except ssl.SSLWantReadError:
                    d = s.recv(65536)
                    if not d:
                        return b""
                    inc.write(d)

    rs = read_responses(Dec(), 1, timeout=5)
    assert rs and rs[0].startswith(b"SIP/2.0 200"), rs
    st = sig.stats()["tls"]
    assert st["handshakes"] == st0.get("handshakes", 0) + 1
    assert st.get("hs_fail_timeout", 0) == st0.get("hs_fail_timeout", 0)
