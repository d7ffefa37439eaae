"""The malformed-SIP corpus (tests/corpus/sip, replayed at the parser by
test_sip_corpus) replayed at the running sbc-signal with the B2BUA and its
trunks: every file as one UDP datagram, and on a TCP and a TLS connection of
its own (a stream cannot resynchronise after a framing error). Whatever
comes back is a 4xx/5xx, nothing reaches the called carrier, the process is
never restarted, and calls over UDP and TLS go through afterwards.
Before the fix in b2b_rx most files got 501 Not Implemented over UDP: a
lenient second parse took them for well-formed INVITEs."""
import pathlib
import re
import socket
import ssl
import time

import pytest

from b2b_common import Sbc, Uac, Uas, child_pid, status
from conftest import BUILD
from test_b2b_calls_tls import TlsUac
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")

CORPUS = sorted((pathlib.Path(__file__).resolve().parents[1] / "corpus" / "sip").glob("*.sip"))


def tls_conn(port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5))


def drain(s):
    """What the socket got until it went quiet or closed."""
    got = b""
    s.settimeout(0.05)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
    except (OSError, ssl.SSLError):
        pass
    return got


def test_corpus_at_the_running_process(procs, tmp_path):
    assert len(CORPUS) >= 40, CORPUS
    uas = Uas("answer")
    conns = []
    try:
        sbc = Sbc(procs, tmp_path, uas.port, log_level="info")
        pid = child_pid(sbc.ctl.pid, "sbc-signal")
        for f in CORPUS:
            data = f.read_bytes()
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # one each: answers by file
            u.bind(("127.0.0.1", 0))
            u.sendto(data, ("127.0.0.1", sbc.port))
            conns.append((f.name, "udp", u))
            for tp, mk in (("tcp", lambda: socket.create_connection(("127.0.0.1", sbc.port), timeout=5)),
                           ("tls", lambda: tls_conn(sbc.tls_port))):
                c = mk()
                c.sendall(data)
                conns.append((f.name, tp, c))
        time.sleep(0.5)
        got = {(name, tp): drain(c) for name, tp, c in conns}
        # the first status line each got (a datagram or a stream: one answer at most)
        # (a stream's CRLF keep-alive ping gets a CRLF pong: not an answer)
        firsts = {key: a.lstrip(b"\r\n").split(b"\r\n", 1)[0].decode(errors="replace")
                  for key, a in got.items() if a.lstrip(b"\r\n")}
        bad = {key: ln for key, ln in firsts.items()
               if not re.match(r"SIP/2\.0 (4\d\d|5\d\d) ", ln) or ln.startswith("SIP/2.0 501")}
        assert not bad, bad  # never taken for a well-formed request (501 Not Implemented, 200, 100)
        for tp in ("udp", "tcp", "tls"):
            answered = [k for k in firsts if k[1] == tp]
            assert len(answered) >= len(CORPUS) // 2, (tp, sorted(set(c.name for c in CORPUS) - {k[0] for k in answered}))
        # over UDP the parser's reason names the bad part (not a bare "Bad Request" for all)
        assert len({ln for (n, tp), ln in firsts.items() if tp == "udp"}) > 5, firsts
        assert uas.invite is None and not [m for m, _ in uas.got if not m.startswith(b"OPTIONS ")]  # pings only
        assert child_pid(sbc.ctl.pid, "sbc-signal") == pid and sbc.log().count("started: 1 worker(s)") == 1

        # calls still go through, over UDP and over TLS
        uac = Uac(sbc.port)
        try:
            final = uac.answered()
            assert status(uac.bye(final)) == 200
        finally:
            uac.close()
        TlsUac.tls_ports[sbc.port] = sbc.tls_port
        tuac = TlsUac(sbc.port)
        try:
            final = tuac.answered()
            assert status(tuac.bye(final)) == 200
        finally:
            tuac.close()
        assert len(uas.requests("INVITE")) == 2
        assert child_pid(sbc.ctl.pid, "sbc-signal") == pid
    finally:
        for _, _, c in conns:
            c.close()
        uas.close()
