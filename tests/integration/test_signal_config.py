"""sbc-signal start-up: a bad runtime.json or TLS material is a fatal start
error with a log line naming it (non-zero exit); a good one starts."""
import json
import subprocess

import pytest

from conftest import free_port
from test_signal_common import SIGNAL, no_sanitizer_reports  # noqa: F401


def run_with(tmp_path, doc, raw=None):
    p = tmp_path / "runtime.json"
    p.write_text(raw if raw is not None else json.dumps(doc))
    return subprocess.run([str(SIGNAL), "--runtime", str(p)], capture_output=True, text=True,
                          timeout=10)


def base(port):
    return {"log_level": "info", "signal": {"workers": 1, "listen": [
        {"transport": "udp", "address": f"127.0.0.1:{port}"}]}}


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: d["signal"].update({"bogus": 1}), 'unknown key "bogus"'),
    (lambda d: d["signal"]["listen"][0].update({"transport": "sctp"}), "transport"),
    (lambda d: d["signal"]["listen"][0].update({"address": "nowhere:x"}), "address"),
    (lambda d: d["signal"].update({"workers": 1000}), "signal.workers"),
    (lambda d: d["signal"].update({"limits": {"max_header": 1}}), "signal.limits.max_header"),
    (lambda d: d["signal"]["listen"].append(
        {"transport": "tls", "address": "127.0.0.1:1", "tls_profile": "x"})
     or d["signal"].update({"tls_profiles": [{"name": "x", "certs": [
         {"cert": "/nonexistent.pem", "key": "/nonexistent.key"}]}]}), "/nonexistent.pem"),
    (lambda d: d["signal"]["listen"].append(
        {"transport": "tls", "address": "127.0.0.1:1", "tls_profile": "x"})
     or d["signal"].update({"tls_profiles": [{"name": "x", "certs": [
         {"cert": "/dev/null", "key": "/dev/null"}]}]}), "tls profile x"),
])
def test_bad_config_is_fatal_and_named(tmp_path, mutate, needle):
    d = base(free_port())
    mutate(d)
    r = run_with(tmp_path, d)
    assert r.returncode != 0
    assert "fatal" in r.stderr and needle in r.stderr, r.stderr


def test_unparsable_and_missing(tmp_path):
    r = run_with(tmp_path, None, raw="{ not json")
    assert r.returncode != 0 and "fatal" in r.stderr
    r = subprocess.run([str(SIGNAL), "--runtime", str(tmp_path / "missing.json")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "missing.json" in r.stderr
    r = subprocess.run([str(SIGNAL)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "usage" in r.stderr


def test_port_in_use_is_fatal(tmp_path):
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))  # no SO_REUSEPORT: sbc-signal cannot share it
    port = s.getsockname()[1]
    r = run_with(tmp_path, base(port))
    s.close()
    assert r.returncode != 0 and f"127.0.0.1:{port}" in r.stderr, r.stderr
