"""Mutual TLS: a client chain a profile verified once is not verified again
on the next full handshake (sig_tls_profile.h caveat 5), yet trust still
follows the profile's CA bundle: replacing it forgets what was remembered."""
import os
import shutil
import signal
import ssl

from conftest import free_port, wait_for
from test_signal_common import (no_sanitizer_reports,  # noqa: F401
                                SIGNAL, Pki, client_ctx, options, profile, read_responses,
                                tcp_open, tls_connect, write_runtime)

REMEMBERED = "client chain verified before"


def outcome(port, k, cert):
    """'ok' when OPTIONS gets its 200 over a full handshake with cert, else why not."""
    try:
        s = tls_connect(port, client_ctx(k, cert=cert))
        # TLS 1.3: a refusal reaches the client on its first read
        s.sendall(options(callid=f"vc-{cert}", transport="TLS"))
        r = read_responses(s, 1)
        s.close()
        return "ok" if r and r[0].startswith(b"SIP/2.0 200") else f"answer {r!r}"
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
        return str(e)


def test_verified_chain_remembered_until_the_ca_changes(procs, tmp_path):
    k = Pki(tmp_path / "pki")
    k.ca("ca")
    k.ca("clientca")
    k.ca("otherca")
    k.leaf("srv-ec", "ca", "ec", cn="sbc.example")
    k.leaf("client", "clientca", "ec", cn="carrier-a.example", client=True)
    k.leaf("other", "otherca", "ec", cn="carrier-b.example", client=True)
    port, tls_port = free_port(), free_port()
    rt = write_runtime(tmp_path / "runtime.json",
                       [{"transport": "udp", "address": f"127.0.0.1:{port}"},
                        {"transport": "tls", "address": f"127.0.0.1:{tls_port}",
                         "tls_profile": "default"}],
                       [profile("default", k, certs=("srv-ec",), verify_client=True)],
                       log_level="debug")
    p = procs.start("sbc-signal", [str(SIGNAL), "--runtime", rt])
    wait_for(lambda: tcp_open(tls_port) or p.poll() is not None, what="sbc-signal listening")
    assert p.poll() is None, procs.log(p)

    # three full handshakes with the same chain: verified once, remembered twice
    for _ in range(3):
        assert outcome(tls_port, k, "client") == "ok"
    assert procs.log(p).count(REMEMBERED) == 2, procs.log(p)[-2000:]
    # a chain from a CA the profile does not trust gains nothing from that
    assert "unknown ca" in outcome(tls_port, k, "other").lower()

    # the profile now trusts otherca instead: the remembered chain is refused
    # (a new snapshot, a new memory) and carrier B gets in
    before = procs.log(p).count("tls reload")
    shutil.copy(k.p("otherca.pem"), k.p("clientca.pem"))
    os.kill(p.pid, signal.SIGHUP)
    wait_for(lambda: procs.log(p).count("tls reload") > before, timeout=5, what="reload")
    remembered = procs.log(p).count(REMEMBERED)
    assert "unknown ca" in outcome(tls_port, k, "client").lower()
    assert outcome(tls_port, k, "other") == "ok"
    assert outcome(tls_port, k, "other") == "ok"
    assert procs.log(p).count(REMEMBERED) == remembered + 1
