"""sbc-signal over real TLS (python's ssl module and the openssl CLI as
independent peers): versions, RSA/ECDSA selection, SNI, mutual TLS with
unknown CA / expired / missing certificates, resumption, certificate
replacement under live connections, handshake deadline, per-source flood."""
import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from conftest import wait_for
from test_signal_common import (no_sanitizer_reports,  # noqa: F401
                                Signal, client_ctx, make_pki, options, profile, read_responses,
                                tls_connect, Pki)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def der(pki, name):
    return ssl.PEM_cert_to_DER_cert(open(pki.p(name + ".pem")).read())


def ask_options(s, n=1):
    s.sendall(b"".join(options(callid=f"tls-{i}", transport="TLS") for i in range(n)))
    rs = read_responses(s, n)
    assert len(rs) == n
    for r in rs:
        assert r.startswith(b"SIP/2.0 200 OK"), r
    return rs


def test_tls13_and_tls12_options(procs, tmp_path, pki):
    sig = Signal(procs, tmp_path, pki, profiles=[profile("default", pki)])
    for v in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        s = tls_connect(sig.tls_port, client_ctx(pki, minv=v, maxv=v))
        assert s.version() == ("TLSv1.3" if v == ssl.TLSVersion.TLSv1_3 else "TLSv1.2")
        ask_options(s, 3)  # pipelined
        s.close()
    st = sig.stats()["tls"]
    assert st["handshakes"] >= 2 and st["msgs_in"] >= 6


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls11_and_non_ecdhe_refused(procs, tmp_path, pki):
    sig = Signal(procs, tmp_path, pki, profiles=[profile("default", pki)])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        tls_connect(sig.tls_port, ctx)
    # TLS 1.2 with a static-RSA key exchange only: no shared cipher
    ctx2 = client_ctx(pki, maxv=ssl.TLSVersion.TLSv1_2)
    ctx2.set_ciphers("AES128-GCM-SHA256")
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        tls_connect(sig.tls_port, ctx2)
    st = wait_for(lambda: (lambda t: t if t.get("hs_fail_version", 0) >= 1 else None)(
        sig.stats()["tls"]), what="version failure counted")
    assert st.get("handshakes", 0) == 0
    assert sig.alive()


def test_ecdsa_and_rsa_chosen_per_client(procs, tmp_path, pki):
    sig = Signal(procs, tmp_path, pki, profiles=[profile("default", pki)])
    s = tls_connect(sig.tls_port, client_ctx(pki))
    assert s.getpeercert(True) == der(pki, "srv-ec")
    s.close()
    ctx = client_ctx(pki, maxv=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")
    s = tls_connect(sig.tls_port, ctx)
    assert s.getpeercert(True) == der(pki, "srv-rsa")
    ask_options(s)
    s.close()
    # TLS 1.3 client that only accepts RSA-PSS signatures (openssl CLI)
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{sig.tls_port}",
                          "-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256"],
                         input=b"", capture_output=True, timeout=10)
    text = out.stdout.decode(errors="replace")
    assert "Server public key is 2048 bit" in text, text


def test_sni_selects_profile(procs, tmp_path, pki):
    sig = Signal(procs, tmp_path, pki, profiles=[
        profile("default", pki),
        profile("other", pki, certs=("srv2-ec",), sni=("other.example",))])
    for name, want in ((None, "srv-ec"), ("sbc.example", "srv-ec"), ("other.example", "srv2-ec"),
                       ("unknown.example", "srv-ec")):
        s = tls_connect(sig.tls_port, client_ctx(pki), sni=name)
        assert s.getpeercert(True) == der(pki, want), name
        ask_options(s)
        s.close()


def test_mutual_tls(procs, tmp_path, pki):
    sig = Signal(procs, tmp_path, pki, profiles=[profile("default", pki, verify_client=True)])
    s = tls_connect(sig.tls_port, client_ctx(pki, cert="client"))
    ask_options(s)
    s.close()
    base = sig.stats()["tls"]
    outcomes = {}
    for who in ("rogue", "expired", None):
        for v in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            err = None
            try:
                s = tls_connect(sig.tls_port, client_ctx(pki, cert=who, maxv=v))
                # TLS 1.3: the client learns of the refusal on its next read
                s.sendall(options(callid="must-not-be-read", transport="TLS"))
                data = s.recv(4096)
                err = "no error" if data else "closed"
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
                err = str(e)
            outcomes[(who, v)] = err
    for v in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        assert "unknown ca" in outcomes[("rogue", v)].lower(), outcomes
        assert "expired" in outcomes[("expired", v)].lower(), outcomes
        assert outcomes[(None, v)] != "no error", outcomes
    st = sig.stats()["tls"]
    assert st.get("hs_fail_unknown_ca", 0) - base.get("hs_fail_unknown_ca", 0) == 2
    assert st.get("hs_fail_bad_cert", 0) - base.get("hs_fail_bad_cert", 0) == 2
    assert st.get("hs_fail_no_cert", 0) - base.get("hs_fail_no_cert", 0) == 2
    assert st["msgs_in"] == base["msgs_in"], "SIP read from an unverified peer"


def test_openssl_cli_unknown_ca_alert(procs, tmp_path, pki):
    sig = Signal(procs, tmp_path, pki, profiles=[profile("default", pki, verify_client=True)])
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{sig.tls_port}",
                          "-tls1_2", "-cert", pki.p("rogue.pem"), "-key", pki.p("rogue.key")],
                         input=b"", capture_output=True, timeout=10)
    text = (out.stdout + out.stderr).decode(errors="replace")
    assert "alert unknown ca" in text, text


def test_resumption_tickets_and_session_ids(procs, tmp_path, pki):
    sig = Signal(procs, tmp_path, pki, profiles=[profile("default", pki, verify_client=True)])
    # TLS 1.3 tickets
    ctx = client_ctx(pki, cert="client")
    s = tls_connect(sig.tls_port, ctx)
    ask_options(s)  # the ticket arrives with the first read
    sess = s.session
    s.close()
    s = tls_connect(sig.tls_port, ctx, session=sess)
    assert s.session_reused
    ask_options(s)
    s.close()
    # TLS 1.2 session IDs (no tickets)
    ctx12 = client_ctx(pki, cert="client", maxv=ssl.TLSVersion.TLSv1_2)
    ctx12.options |= ssl.OP_NO_TICKET
    s = tls_connect(sig.tls_port, ctx12)
    ask_options(s)
    sess = s.session
    s.close()
    s = tls_connect(sig.tls_port, ctx12, session=sess)
    assert s.session_reused
    ask_options(s)
    s.close()
    st = sig.stats()["tls"]
    assert st["resumed"] >= 2 and st["handshakes"] >= 4


def test_certificate_replaced_while_connections_stay_up(procs, tmp_path, pki):
    k = Pki(tmp_path / "live")
    shutil.copy(pki.p("ca.pem"), k.p("ca.pem"))
    shutil.copy(pki.p("ca.key"), k.p("ca.key"))
    k.leaf("live", "ca", "ec", cn="first.example")
    sig = Signal(procs, tmp_path, pki, profiles=[profile("default", k, certs=("live",))])
    old = [tls_connect(sig.tls_port, client_ctx(pki)) for _ in range(3)]
    first_der = old[0].getpeercert(True)
    for s in old:
        ask_options(s)
    # new certificate and key under the same file names, then reload
    k.leaf("live", "ca", "ec", cn="second.example")
    sig.reload()
    s = tls_connect(sig.tls_port, client_ctx(pki))
    assert s.getpeercert(True) != first_der
    assert s.getpeercert()["subject"][0][0][1] == "second.example"
    ask_options(s)
    for c in old:  # established connections untouched
        ask_options(c)
    # a broken replacement keeps the current certificate in service
    open(k.p("live.key"), "w").write("garbage")
    os.kill(sig.p.pid, 1)
    wait_for(lambda: "keeping the current certificates" in sig.log(), what="reload refused")
    s2 = tls_connect(sig.tls_port, client_ctx(pki))
    assert s2.getpeercert()["subject"][0][0][1] == "second.example"
    ask_options(s2)


def test_handshake_deadline(procs, tmp_path, pki):
    sig = Signal(procs, tmp_path, pki, profiles=[profile("default", pki)],
                 limits={"handshake_timeout_ms": 300})
    base = sig.stats()["tls"].get("hs_fail_timeout", 0)
    raw = socket.create_connection(("127.0.0.1", sig.tls_port))
    raw.sendall(b"\x16\x03\x01")  # a ClientHello that never completes
    raw.settimeout(5)
    t0 = time.monotonic()
    assert raw.recv(100) == b""
    assert time.monotonic() - t0 < 3
    assert sig.stats()["tls"]["hs_fail_timeout"] >= base + 1


def test_flood_from_one_source_does_not_starve_another(procs, tmp_path, pki):
    sig = Signal(procs, tmp_path, pki, profiles=[profile("default", pki)],
                 limits={"handshakes_per_source_per_s": 20, "handshake_burst_per_source": 20,
                         "max_conns_per_source": 40})
    flood = []
    for _ in range(300):
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        try:
            s.connect(("127.0.0.1", sig.tls_port))
            # the start of a ClientHello: silent connections never even reach
            # accept() (TCP_DEFER_ACCEPT), a handshake flood does
            s.sendall(b"\x16\x03\x01")
            flood.append(s)
        except OSError:
            s.close()
    # meanwhile another source completes real handshakes
    for _ in range(5):
        s = tls_connect(sig.tls_port, client_ctx(pki), source="127.0.0.3")
        ask_options(s)
        s.close()
    st = sig.stats()["tls"]
    assert st.get("rate_limited", 0) + st.get("conn_limited", 0) >= 250, st
    assert st["handshakes"] >= 5
    for s in flood:
        s.close()
    assert sig.alive()


def test_sipp_options_through_stunnel_mutual_tls(procs, tmp_path, pki):
    if not shutil.which("sipp") or not shutil.which("stunnel4"):
        pytest.skip("sipp or stunnel4 not installed")
    sig = Signal(procs, tmp_path, pki, profiles=[profile("default", pki, verify_client=True)])
    from conftest import free_port_range
    from test_signal_common import SIPP_OPTIONS, stunnel_client
    local = stunnel_client(procs, tmp_path, sig.tls_port, pki)
    scen = tmp_path / "options.xml"
    scen.write_text(SIPP_OPTIONS)
    # -mp: sipp binds its RTP sockets even for OPTIONS, by default from 6000
    # up, which a sipp of another test (or engineer) may hold at that moment
    r = subprocess.run(["sipp", "-sf", str(scen), "-t", "t1", f"127.0.0.1:{local}", "-m", "20",
                        "-i", "127.0.0.1", "-mp", str(free_port_range(8)),
                        "-r", "50", "-timeout", "20s", "-trace_err", "-nostdin",
                        "-error_file", str(tmp_path / "sipp_err.log")],
                       cwd=tmp_path, capture_output=True, timeout=60)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    st = sig.stats()["tls"]
    assert st["msgs_in"] >= 20 and st["handshakes"] >= 1


def test_ticket_keys_rotate(procs, tmp_path, pki):
    sig = Signal(procs, tmp_path, pki, profiles=[profile("default", pki)],
                 limits={"ticket_rotate_s": 1})
    ctx = client_ctx(pki)
    s = tls_connect(sig.tls_port, ctx)
    ask_options(s)
    sess = s.session
    s.close()
    rotations = sig.log().count("tls ticket keys rotated")  # counted after the ticket was made
    s = tls_connect(sig.tls_port, ctx, session=sess)
    assert s.session_reused  # at most one rotation since: the previous key still decrypts
    s.close()
    # two more rotations: the key that made the ticket is gone
    wait_for(lambda: sig.log().count("tls ticket keys rotated") >= rotations + 2, timeout=10,
             what="two ticket key rotations")
    s = tls_connect(sig.tls_port, ctx, session=sess)
    assert not s.session_reused
    ask_options(s)
    assert "tls ticket keys rotated" in sig.log() or sig.stats()["tls"]["handshakes"] >= 3
