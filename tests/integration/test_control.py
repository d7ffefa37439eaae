"""sbc-control over its real Unix socket: JSON-RPC validation, limits,
concurrency, sbcctl, supervision, crash safety of route import, shutdown.

Children are stand-ins (a shell script given with --signal-bin/--media-bin)
so these tests exercise sbc-control alone; the real children have their own.
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import BUILD, free_port, free_port_range, wait_for

STANDIN = """#!/bin/sh
trap 'exit 0' TERM
while :; do sleep 0.05; done
"""
STANDIN_FAIL = """#!/bin/sh
exit 3
"""


def rpc_lines(sock, reqs, timeout=10.0):
    """Sends the raw lines, reads one reply per line."""
    f = sock.makefile("rwb")
    out = []
    for r in reqs:
        f.write((r if isinstance(r, bytes) else r.encode()) + b"\n")
    f.flush()
    sock.settimeout(timeout)
    for _ in reqs:
        line = f.readline()
        assert line, "connection closed before the reply"
        out.append(json.loads(line))
    return out


@pytest.fixture(autouse=True)
def no_sanitizer_reports(procs, tmp_path):
    """Stops this test's processes, then fails on any ASan/UBSan/LSan report
    in their logs (a SAN=1 build writes them to stderr)."""
    yield
    procs.stop_all()
    for log in tmp_path.glob("*.log"):
        text = log.read_text(errors="replace")
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in text, f"{log.name}: {marker}\n{text[-3000:]}"


class Ctl:
    def __init__(self, procs, tmp, extra=None, child=STANDIN, media_child=None, config=True, real=False):
        self.procs = procs
        self.real = real
        self.tmp = pathlib.Path(tmp)
        self.data = self.tmp / "run"
        self.sock = str(self.data / "control.sock")
        self.child = self.tmp / "child.sh"
        self.child.write_text(child)
        self.child.chmod(0o755)
        self.media_child = self.child
        if media_child is not None:
            self.media_child = self.tmp / "media_child.sh"
            self.media_child.write_text(media_child)
            self.media_child.chmod(0o755)
        self.cfg_path = None
        if config:
            p = free_port()
            cfg = {
                "data_dir": str(self.data),
                "signal": {"listen": [{"transport": "udp", "address": f"127.0.0.1:{p}"},
                                      {"transport": "tcp", "address": f"127.0.0.1:{p}"},
                                      {"transport": "tls", "address": f"127.0.0.1:{free_port()}"}]},
                "media": {"port_min": (mp := free_port_range(100)), "port_max": mp + 99},
                "demo": {"enabled": True, "outbound": f"127.0.0.1:{free_port()}"},
                "control": {"backoff_initial_ms": 20, "backoff_max_ms": 200, "stable_ms": 5000,
                            "stop_timeout_ms": 3000, "stats_timeout_ms": 200},
            }
            for k, v in (extra or {}).items():
                if isinstance(v, dict):
                    cfg.setdefault(k, {}).update(v)
                else:
                    cfg[k] = v
            self.cfg_path = self.tmp / "sbc.json"
            self.cfg_path.write_text(json.dumps(cfg))
        self.p = None

    def argv(self):
        a = [str(BUILD / "sbc-control")]
        if not self.real:
            a += ["--signal-bin", str(self.child), "--media-bin", str(self.media_child)]
        if self.cfg_path:
            a += ["--config", str(self.cfg_path)]
        return a

    def start(self, name="control", cwd=None):
        self.p = self.procs.start(name, self.argv(), cwd=cwd)

        def answers():
            if self.p.poll() is not None:
                return True
            try:
                with self.connect():
                    return True
            except OSError:
                return False

        wait_for(answers, what="control socket")
        assert self.p.poll() is None, self.procs.log(self.p)
        return self

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.sock)
        return s

    def call(self, method, params=None, id=1):
        with self.connect() as s:
            req = {"jsonrpc": "2.0", "id": id, "method": method}
            if params is not None:
                req["params"] = params
            return rpc_lines(s, [json.dumps(req)])[0]

    def ok(self, method, params=None):
        r = self.call(method, params)
        assert "result" in r, r
        return r["result"]

    def status(self):
        return self.ok("system.status")

    def ctl(self, *args, env=None, cwd=None, input=None):
        e = dict(os.environ)
        e.pop("SBC_SOCKET", None)
        if env:
            e.update(env)
        return subprocess.run([str(BUILD / "sbcctl"), *args], capture_output=True, text=True,
                              env=e, cwd=cwd, timeout=60, input=input)


@pytest.fixture
def ctl(procs, tmp_path, build_dir):
    return Ctl(procs, tmp_path).start()


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return "zombie" not in f.read().lower()
    except OSError:
        return False


def err_of(r):
    assert "error" in r, r
    return r["error"]["code"], r["error"]["message"]


# ---- malformed input --------------------------------------------------------------------

MALFORMED = [
    # (raw line, expected code, text the message must contain)
    (b'{"jsonrpc":"2.0","id":1,"method":"system.version"', -32700, "parse error"),
    (b'not json at all', -32700, "parse error"),
    (b'{"jsonrpc":"2.0","id":1,"method":"x","method":"y"}', -32700, "duplicate"),
    (b'[{"jsonrpc":"2.0","id":1,"method":"system.version"}]', -32600, "batch"),
    (b'42', -32600, "JSON object"),
    (b'{"id":1,"method":"system.version"}', -32600, "jsonrpc"),
    (b'{"jsonrpc":"1.0","id":1,"method":"system.version"}', -32600, "jsonrpc"),
    (b'{"jsonrpc":"2.0","id":[1],"method":"system.version"}', -32600, "id"),
    (b'{"jsonrpc":"2.0","id":1}', -32600, "method: missing"),
    (b'{"jsonrpc":"2.0","id":1,"method":7}', -32600, "method: must be a string"),
    (b'{"jsonrpc":"2.0","id":1,"method":"system.version","extra":1}', -32600, "extra"),
    (b'{"jsonrpc":"2.0","id":1,"method":"no.such"}', -32601, "no.such"),
    (b'{"jsonrpc":"2.0","id":1,"method":"trunk.get","params":[1]}', -32602, "params: must be an object"),
    (b'{"jsonrpc":"2.0","id":1,"method":"trunk.get","params":{}}', -32602, "params.name: missing"),
    (b'{"jsonrpc":"2.0","id":1,"method":"trunk.get","params":{"name":5}}', -32602, "params.name: must be a string"),
    (b'{"jsonrpc":"2.0","id":1,"method":"trunk.get","params":{"name":""}}', -32602, "params.name: length"),
    (b'{"jsonrpc":"2.0","id":1,"method":"trunk.list","params":{"limit":0}}', -32602, "params.limit: 0 out of range"),
    (b'{"jsonrpc":"2.0","id":1,"method":"trunk.list","params":{"limit":100000}}', -32602, "params.limit"),
    (b'{"jsonrpc":"2.0","id":1,"method":"trunk.list","params":{"limit":"5"}}', -32602, "must be an integer"),
    (b'{"jsonrpc":"2.0","id":1,"method":"trunk.list","params":{"colour":"red"}}', -32602, "params.colour: unknown field"),
    (b'{"jsonrpc":"2.0","id":1,"method":"route.add","params":{"prefix":"44","trunk":"demo-out","priority":70000}}',
     -32602, "params.priority"),
    (b'{"jsonrpc":"2.0","id":1,"method":"route.add","params":{"prefix":"4x4","trunk":"demo-out"}}', -32602, "prefix"),
    (b'{"jsonrpc":"2.0","id":1,"method":"route.lookup","params":{"number":"abc"}}', -32602, "params.number"),
    (b'{"jsonrpc":"2.0","id":1,"method":"trunk.add","params":{"name":"t1","destinations":[{"host":"192.0.2.1","port":99999}]}}',
     -32602, "port"),
    (b'{"jsonrpc":"2.0","id":1,"method":"trunk.add","params":{"name":"t1","wibble":true}}', -32602, "wibble"),
    (b'{"jsonrpc":"2.0","id":1,"method":"trunk.add","params":{"name":"bad name!"}}', -32602, "params.name"),
    (b'{"jsonrpc":"2.0","id":1,"method":"trunk.get","params":{"name":"nope"}}', -32001, "nope"),
    (b'{"jsonrpc":"2.0","id":1,"method":"trunk.remove","params":{"name":"nope"}}', -32001, "nope"),
    (b'{"jsonrpc":"2.0","id":1,"method":"trunk.update","params":{"name":"nope","max_calls":3}}', -32001, "nope"),
    (b'{"jsonrpc":"2.0","id":1,"method":"trunk.add","params":{"name":"demo-in"}}', -32002, "demo-in"),
    (b'{"jsonrpc":"2.0","id":1,"method":"trunk.remove","params":{"name":"demo-out"}}', -32003, "route"),
    (b'{"jsonrpc":"2.0","id":1,"method":"route.add","params":{"prefix":"44","trunk":"ghost"}}', -32001, "ghost"),
    (b'{"jsonrpc":"2.0","id":1,"method":"route.remove","params":{"prefix":"999"}}', -32001, "999"),
    (b'{"jsonrpc":"2.0","id":1,"method":"tls.get","params":{"name":"ghost"}}', -32001, "ghost"),
    (b'{"jsonrpc":"2.0","id":1,"method":"route.import","params":{}}', -32602, "params.path"),
    (b'{"jsonrpc":"2.0","id":1,"method":"route.import","params":{"path":"relative.csv"}}', -32602, "absolute"),
    (b'{"jsonrpc":"2.0","id":1,"method":"route.import","params":{"data":"prefix,trunk\\n1,demo-out\\n","format":"xml"}}',
     -32602, "params.format"),
    (b'{"jsonrpc":"2.0","id":1,"method":"route.import","params":{"data":"prefix,trunk\\n1,demo-out\\n2,ghost\\n"}}',
     -32001, "line 3"),
    (b'{"jsonrpc":"2.0","id":1,"method":"route.import","params":{"path":"/nonexistent/r.csv"}}', -32001, "cannot open"),
]


def test_malformed_requests_get_errors_and_change_nothing(ctl):
    before = ctl.status()["generations"]
    routes_before = ctl.ok("route.list")["routes"]
    with ctl.connect() as s:
        replies = rpc_lines(s, [m[0] for m in MALFORMED])
    for (line, code, text), r in zip(MALFORMED, replies):
        assert r.get("jsonrpc") == "2.0", r
        c, msg = err_of(r)
        assert c == code, (line, r)
        assert text.lower() in msg.lower(), (line, msg)
        assert "result" not in r
    # The connection survived every error, and nothing was written.
    assert ctl.status()["generations"] == before
    assert ctl.ok("route.list")["routes"] == routes_before
    assert ctl.call("trunk.get", {"name": "t1"})["error"]["code"] == -32001


def test_ids_echoed_and_notifications_unanswered(ctl):
    with ctl.connect() as s:
        s.sendall(b'{"jsonrpc":"2.0","method":"system.version"}\n')   # notification: no reply
        s.sendall(b'\n   \n')                                           # blank lines ignored
        r = rpc_lines(s, [b'{"jsonrpc":"2.0","id":"abc","method":"system.version"}',
                          b'{"jsonrpc":"2.0","id":null,"method":"system.version"}'])
    assert r[0]["id"] == "abc" and r[0]["result"]["name"] == "sbc-control"
    assert r[1]["id"] is None and "result" in r[1]


def test_oversized_request_refused_and_closed(procs, tmp_path, build_dir):
    c = Ctl(procs, tmp_path, extra={"control": {"max_request_bytes": 65536}}).start()
    s = c.connect()
    big = b'{"jsonrpc":"2.0","id":1,"method":"system.version","params":{"x":"' + b"a" * 200000 + b'"}}\n'
    try:
        s.sendall(big)
    except (BrokenPipeError, ConnectionResetError):
        pass
    s.settimeout(5)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    s.close()
    first = json.loads(data.split(b"\n")[0])
    assert first["error"]["code"] == -32600 and "exceeds the limit of 65536" in first["error"]["message"]
    # A request just under the limit is fine, and the server still serves others.
    under = '{"jsonrpc":"2.0","id":2,"method":"route.lookup","params":{"number":"+44' + "1" * 50 + '"}}'
    assert "result" in c.call("route.lookup", {"number": "+44" + "1" * 50})
    with c.connect() as s2:
        assert "result" in rpc_lines(s2, [under])[0]
    assert c.ok("stats.get")["control"]["rpc_clients_dropped"] >= 1


def test_many_clients_with_a_flooder_and_a_half_open_one(procs, tmp_path, build_dir):
    c = Ctl(procs, tmp_path, extra={"control": {"client_queue_bytes": 65536}}).start()
    # A half-open client: sends half a request and then nothing.
    half = c.connect()
    half.sendall(b'{"jsonrpc":"2.0","id":1,"meth')
    # A flooder that never reads its replies.
    flood = c.connect()
    flood.setblocking(False)
    req = b'{"jsonrpc":"2.0","id":1,"method":"system.status"}\n' * 2000
    stop = threading.Event()
    sent = [0]

    def flooder():
        while not stop.is_set():
            try:
                sent[0] += flood.send(req)
            except BlockingIOError:
                time.sleep(0.005)
            except OSError:
                return   # closed by the server: expected

    t = threading.Thread(target=flooder)
    t.start()
    n = 200
    results = [None] * n
    socks = [c.connect() for _ in range(n)]

    def client(i):
        try:
            t0 = time.monotonic()
            r = rpc_lines(socks[i], [json.dumps({"jsonrpc": "2.0", "id": i, "method": "route.lookup",
                                                  "params": {"number": f"+1555{i:04d}"}})], timeout=10)[0]
            results[i] = (r, time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001
            results[i] = (e, None)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    stop.set()
    t.join(10)
    for s in socks:
        s.close()
    for i, (r, dt) in enumerate(results):
        assert isinstance(r, dict) and r["id"] == i and r["result"]["routes"][0]["trunk"] == "demo-out", r
        assert dt < 10
    # The flooder was cut off for not reading; the half-open client did not block anyone.
    st = c.ok("stats.get")["control"]
    assert st["rpc_clients_dropped"] >= 1, st
    assert sent[0] > 0
    assert "result" in c.call("system.version")
    half.close()
    flood.close()


def test_rate_limit_per_client(procs, tmp_path, build_dir):
    c = Ctl(procs, tmp_path, extra={"control": {"requests_per_sec": 20}}).start()
    with c.connect() as s:
        replies = rpc_lines(s, ['{"jsonrpc":"2.0","id":%d,"method":"system.version"}' % i for i in range(60)])
        limited = [r for r in replies if "error" in r]
        assert limited and all(r["error"]["code"] == -32005 for r in limited)
        assert len(replies) - len(limited) >= 20
        assert "result" in c.call("system.version")  # another client has its own budget
        # and this one is served again as its budget refills (a request per 50 ms)
        wait_for(lambda: "result" in rpc_lines(s, ['{"jsonrpc":"2.0","id":99,"method":"system.version"}'])[0],
                 timeout=5, what="the limited client served again")


def test_too_many_clients_refused(procs, tmp_path, build_dir):
    c = Ctl(procs, tmp_path, extra={"control": {"max_clients": 5}}).start()
    held = [c.connect() for _ in range(5)]
    with c.connect() as s:
        s.settimeout(5)
        line = s.makefile("rb").readline()
        assert json.loads(line)["error"]["code"] == -32009
    for h in held:
        h.close()

    def served():
        # until sbc-control has seen the closes, a new client is still
        # refused: the -32009 line, or the close under our write (EPIPE)
        try:
            return "result" in c.call("system.version")
        except (BrokenPipeError, ConnectionResetError):
            return False
    wait_for(served, what="slot free again")


# ---- store changes and notifications --------------------------------------------------------

def test_changes_bump_generations_and_notify_children(ctl):
    g0 = ctl.status()["generations"]
    rings0 = {(r["child"], r["worker"]): r["to_child"]["published"] for r in ctl.ok("stats.get")["control"]["rings"]}
    ctl.ok("trunk.add", {"name": "carrier-a", "cidrs": ["192.0.2.0/24"],
                         "destinations": ["udp:192.0.2.10:5060"], "srtp_inbound": {"mode": "required"}})
    ctl.ok("route.add", {"prefix": "+44", "trunk": "carrier-a", "priority": 10, "strip": 2, "prepend": "0"})
    g1 = ctl.status()["generations"]
    assert g1["trunks"] == g0["trunks"] + 1 and g1["routes"] == g0["routes"] + 1 and g1["tls"] == g0["tls"]
    rings1 = {(r["child"], r["worker"]): r["to_child"]["published"] for r in ctl.ok("stats.get")["control"]["rings"]}
    for k in rings0:
        assert rings1[k] >= rings0[k] + 2, (k, rings0, rings1)
    look = ctl.ok("route.lookup", {"number": "+44 20 7123 4567"})
    assert look["prefix"] == "+44" and look["routes"][0]["trunk"] == "carrier-a"
    assert look["routes"][0]["dial"] == "0207123" "4567"
    t = ctl.ok("trunk.update", {"name": "carrier-a", "max_calls": 50})
    assert t["max_calls"] == 50 and t["cidrs"] == ["192.0.2.0/24"]
    assert ctl.ok("trunk.get", {"name": "carrier-a"})["route_refs"] == 1
    assert ctl.call("trunk.remove", {"name": "carrier-a"})["error"]["code"] == -32003
    assert ctl.ok("route.remove", {"prefix": "+44"})["removed"] == 1
    assert ctl.ok("trunk.remove", {"name": "carrier-a"})["removed"] is True


def test_route_import_export_paging(ctl, tmp_path):
    csv = tmp_path / "r.csv"
    csv.write_text("prefix,trunk,priority,weight,strip,prepend\n" +
                   "".join(f"+1{i:04d},demo-out,{i % 5},10,0,\n" for i in range(2500)))
    r = ctl.ok("route.import", {"path": str(csv)})
    assert r["imported"] == 2500
    page = ctl.ok("route.list", {"limit": 1000})
    assert len(page["routes"]) == 1000 and page["more"] is True
    nxt = ctl.ok("route.list", dict(page["next"], limit=1000))
    assert nxt["routes"][0]["prefix"] > page["routes"][-1]["prefix"]
    exp = ctl.ok("route.export", {"format": "jsonl"})
    lines = exp["data"].splitlines()
    assert exp["count"] == 2501 and len(lines) == 2501
    out = tmp_path / "out.csv"
    assert ctl.ok("route.export", {"path": str(out)})["count"] == 2501
    assert out.read_text().splitlines()[0] == "prefix,trunk,priority,weight,strip,prepend"
    # A bad line anywhere: nothing of the file is imported.
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps({"prefix": f"+7{i}", "trunk": "demo-out"}) + "\n" for i in range(100)) +
                   '{"prefix":"+79","trunk":"demo-out","weight":-1}\n')
    e = ctl.call("route.import", {"path": str(bad)})["error"]
    assert e["data"]["line"] == 101 and "line 101" in e["message"]
    assert ctl.ok("route.lookup", {"number": "+7011"})["prefix"] == ""


def start_large_import(c, tmp_path, header, row, n=400000):
    """Writes tmp_path/big.csv (header, then row(i) for i < n: one import
    takes a while) and sends route.import of it on a connection of its own,
    which is returned; the answer is left to the caller."""
    csv = tmp_path / "big.csv"
    with open(csv, "w") as f:
        f.write(header + "\n")
        for i in range(n):
            f.write(row(i) + "\n")
    s = c.connect()
    s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "route.import",
                          "params": {"path": str(csv)}}).encode() + b"\n")
    return s


def test_import_does_not_block_other_clients_and_writes_queue_behind_it(procs, tmp_path, build_dir):
    c = Ctl(procs, tmp_path).start()
    n = 400000
    imp = start_large_import(c, tmp_path, "prefix,trunk", lambda i: f"+8{i:07d},demo-out", n)
    time.sleep(0.05)
    t0 = time.monotonic()
    assert "result" in c.call("system.version")
    look = c.ok("route.lookup", {"number": "+80000001"})
    read_latency = time.monotonic() - t0
    # A write sent during the import queues behind it and runs after the
    # import committed: both routes of +80000001 end up present.
    w = c.connect()
    w.sendall(b'{"jsonrpc":"2.0","id":2,"method":"route.add","params":{"prefix":"+80000001","trunk":"demo-in"}}\n')
    imp.settimeout(30)
    done = json.loads(imp.makefile("rb").readline())
    w.settimeout(30)
    added = json.loads(w.makefile("rb").readline())
    assert done["result"]["imported"] == n, done
    assert "result" in added, added
    # Reads were answered while the import ran (it took longer than they did).
    assert read_latency * 1000 < done["result"]["ms"], (read_latency, done)
    assert look["prefix"] in ("", "+80000001")
    routes = c.ok("route.lookup", {"number": "+80000001"})["routes"]
    assert sorted(r["trunk"] for r in routes) == ["demo-in", "demo-out"]
    imp.close()
    w.close()


# ---- sbcctl -----------------------------------------------------------------------------

def test_sbcctl_commands_and_exit_codes(ctl, tmp_path):
    env = {"SBC_SOCKET": ctl.sock}
    r = ctl.ctl("status", env=env)
    assert r.returncode == 0 and "sbc-signal" in r.stdout and "STATE" in r.stdout
    r = ctl.ctl("-s", ctl.sock, "--json", "status")
    assert r.returncode == 0 and json.loads(r.stdout)["children"][0]["name"] == "sbc-signal"
    r = ctl.ctl("trunk", "add", "carrier-a", "--dest", "udp:192.0.2.1:5060", "--inbound-cidr", "192.0.2.0/24",
                "--srtp-in", "required", "--max-calls", "10", env=env)
    assert r.returncode == 0, r.stderr
    r = ctl.ctl("trunk", "add", "carrier-a", "--dest", "udp:192.0.2.1:5060", env=env)
    assert r.returncode == 1 and "already exists" in r.stderr
    r = ctl.ctl("trunk", "add", "carrier-b", "--dest", "tls:sip.example.net:5061", env=env)
    assert r.returncode == 1 and "tls_profile" in r.stderr
    r = ctl.ctl("trunk", "list", env=env)
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].split()[:2] == ["NAME", "ENABLED"] and any(l.startswith("carrier-a ") for l in lines)
    # aligned: every row's second column starts at the same offset
    assert len({l.index(l.split()[1], len(l.split()[0])) for l in lines}) == 1
    r = ctl.ctl("route", "add", "+44", "carrier-a", "--priority", "5", env=env)
    assert r.returncode == 0, r.stderr
    r = ctl.ctl("route", "lookup", "+442071234567", env=env)
    assert r.returncode == 0 and "carrier-a" in r.stdout and "+44" in r.stdout
    csv = tmp_path / "routes.csv"
    csv.write_text("prefix,trunk\n+331,carrier-a\n+332,carrier-a\n")
    r = ctl.ctl("route", "import", str(csv.name), env=env, cwd=tmp_path)
    assert r.returncode == 0 and "imported" in r.stdout
    r = ctl.ctl("route", "import", "routes.csv", "--inline", "--json", env=env, cwd=tmp_path)
    assert r.returncode == 1 and "exists" in r.stderr
    r = ctl.ctl("route", "export", env=env)
    assert r.returncode == 0 and "+331,carrier-a" in r.stdout
    r = ctl.ctl("route", "list", "--all", "--json", env=env)
    assert r.returncode == 0 and len(json.loads(r.stdout)["routes"]) == 4
    r = ctl.ctl("trunk", "update", "carrier-a", "--disable", "--json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["enabled"] is False
    r = ctl.ctl("route", "remove", "+44", "carrier-a", env=env)
    assert r.returncode == 0
    r = ctl.ctl("call", "system.version", "{}", env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["name"] == "sbc-control"
    r = ctl.ctl("tls", "list", env=env)
    assert r.returncode == 0 and r.stdout.startswith("NAME")
    # usage errors, unknown commands, --help everywhere
    assert ctl.ctl("trunk", env=env).returncode == 2
    assert ctl.ctl("frobnicate", env=env).returncode == 2
    r = ctl.ctl("trunk", "add", "x", "--no-such-option", env=env)
    assert r.returncode == 2 and "unknown option" in r.stderr
    for cmd in (["status"], ["trunk", "add"], ["route", "import"], ["tls", "add"], ["route", "lookup"]):
        r = ctl.ctl(*cmd, "--help", env=env)
        assert r.returncode == 0 and "usage: sbcctl" in r.stdout, cmd
    assert ctl.ctl("--help").returncode == 0
    # cannot connect; -s beats $SBC_SOCKET
    r = ctl.ctl("-s", str(tmp_path / "nope.sock"), "status", env=env)
    assert r.returncode == 3 and "cannot connect" in r.stderr and "nope.sock" in r.stderr
    assert ctl.ctl("-s", ctl.sock, "status", env={"SBC_SOCKET": str(tmp_path / "nope.sock")}).returncode == 0
    r = ctl.ctl("status", cwd=tmp_path)   # ./run/control.sock: here tmp_path/run is the data dir
    assert r.returncode == 0, r.stderr


# ---- supervision ------------------------------------------------------------------------

def child(st, name):
    return next(c for c in st["children"] if c["name"] == name)


def test_child_killed_is_restarted_and_counted(ctl):
    wait_for(lambda: child(ctl.status(), "sbc-signal")["state"] == "running", what="running")
    pid = child(ctl.status(), "sbc-signal")["pid"]
    os.kill(pid, signal.SIGKILL)
    st = wait_for(lambda: (lambda c: c if c["pid"] not in (None, pid) else None)(child(ctl.status(), "sbc-signal")),
                  what="restart")
    assert st["restarts"] == 1 and st["state"] in ("starting", "running")
    assert "signal 9" in st["last_exit"]
    wait_for(lambda: child(ctl.status(), "sbc-signal")["state"] == "running", what="running again")
    assert child(ctl.status(), "sbc-media")["restarts"] == 0
    os.kill(child(ctl.status(), "sbc-signal")["pid"], signal.SIGKILL)
    wait_for(lambda: child(ctl.status(), "sbc-signal")["restarts"] == 2, what="second restart")


def test_child_that_keeps_dying_ends_failed(procs, tmp_path, build_dir):
    c = Ctl(procs, tmp_path, media_child=STANDIN_FAIL, extra={"control": {"restart_max": 3}}).start()
    st = wait_for(lambda: (lambda m: m if m["state"] == "failed" else None)(child(c.status(), "sbc-media")),
                  what="failed state")
    assert st["restarts"] == 3 and st["pid"] is None and st["last_exit"] == "exit 3"
    assert child(c.status(), "sbc-signal")["state"] in ("starting", "running")
    stats = c.ok("stats.get")
    assert stats["media"][0]["available"] is False and "control" in stats
    # reload retries a failed child
    assert c.ok("system.reload")["revived"] == 1
    wait_for(lambda: child(c.status(), "sbc-media")["state"] == "failed", what="failed again")
    assert child(c.status(), "sbc-media")["restarts"] > 3


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_stops_children_and_cleans_up(ctl, sig):
    # (running: the stand-in has installed its TERM trap by then)
    wait_for(lambda: all(c["state"] == "running" for c in ctl.status()["children"]), what="running")
    st = ctl.status()
    pids = [c["pid"] for c in st["children"]]
    shm = "/dev/shm" + st["shm"]
    assert os.path.exists(shm) and all(pids)
    ctl.p.send_signal(sig)
    assert ctl.p.wait(10) == 0
    for pid in pids:
        assert not alive(pid)
    assert not os.path.exists(shm)
    assert not os.path.exists(ctl.sock)
    log = ctl.procs.log(ctl.p)
    assert "DRAIN sent to 1 signal worker" in log and "sbc-signal stopped (exit 0)" in log


def test_system_shutdown_method(ctl):
    assert ctl.ok("system.shutdown")["stopping"] is True
    assert ctl.p.wait(10) == 0


def test_kill9_during_large_import_is_all_or_nothing(procs, tmp_path, build_dir):
    c = Ctl(procs, tmp_path).start()
    n = 400000
    wait_for(lambda: all(ch["state"] == "running" for ch in c.status()["children"]), what="running")
    old_children = [ch["pid"] for ch in c.status()["children"]]
    s = start_large_import(c, tmp_path, "prefix,trunk,priority,weight,strip,prepend",
                           lambda i: f"+9{i:07d},demo-out,1,1,0,", n)
    time.sleep(0.3)
    s.setblocking(False)
    try:
        answered = s.recv(65536)
    except BlockingIOError:
        answered = b""
    os.killpg(c.p.pid, signal.SIGKILL)
    c.p.wait()
    s.close()
    # The children follow their parent (PR_SET_PDEATHSIG): no orphans.
    wait_for(lambda: not any(alive(pid) for pid in old_children), what="orphans gone")
    # Start again on the same data directory (and the stale socket/segment).
    c.start("control2")
    st = c.ok("system.status", {"counts": True})
    assert st["routes"] in (1, n + 1), st["routes"]
    look = c.ok("route.lookup", {"number": "+90000123"})["prefix"]
    assert look == ("+90000123" if st["routes"] == n + 1 else "")
    print(f"answered before the kill: {bool(answered)}; store holds {st['routes'] - 1} of {n} routes")


# ---- configuration ----------------------------------------------------------------------

@pytest.mark.parametrize("cfg,text", [
    ({"signal": {"workerz": 1}}, "signal.workerz: unknown key"),
    ({"signal": {"workers": 0}}, "signal.workers: 0 out of range"),
    ({"signal": {"workers": "2"}}, "signal.workers: expected an integer"),
    ({"media": {"port_min": 5000, "port_max": 4000}}, "media.port_min"),
    ({"log_level": "loud"}, "log_level"),
    ({"signal": {"listen": [{"transport": "sctp", "address": "127.0.0.1:5060"}]}}, "signal.listen[0].transport"),
    ({"signal": {"listen": [{"transport": "udp", "address": "localhost"}]}}, "signal.listen[0].address"),
    ({"control": {"ctl_ring_bytes": 30000}}, "control.ctl_ring_bytes"),
])
def test_bad_config_is_refused_naming_the_key(tmp_path, build_dir, cfg, text):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(cfg))
    r = subprocess.run([str(BUILD / "sbc-control"), "--config", str(p), "--data-dir", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and text in r.stderr, r.stderr
    assert not (tmp_path / "d").exists()


def test_check_config_prints_runtime(tmp_path, build_dir):
    p = tmp_path / "ok.json"
    p.write_text(json.dumps({"signal": {"workers": 2}, "media": {"port_min": 41000, "port_max": 41999}}))
    r = subprocess.run([str(BUILD / "sbc-control"), "--config", str(p), "--data-dir", str(tmp_path / "d"),
                        "--check-config"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    rt = json.loads(r.stdout)
    assert rt["signal"]["workers"] == 2 and rt["media"]["port_min"] == 41000
    assert rt["store_path"] == str(tmp_path / "d" / "store") and "control" not in rt


def test_embedded_default_in_cwd(procs, tmp_path, build_dir):
    c = Ctl(procs, tmp_path, config=False)
    c.start(cwd=tmp_path)
    st = c.status()
    assert st["config"] == "embedded default" and st["data_dir"] == str(tmp_path / "run")
    rt = json.loads((tmp_path / "run" / "runtime.json").read_text())
    assert [l["address"] for l in rt["signal"]["listen"]] == ["127.0.0.1:5060", "127.0.0.1:5060", "127.0.0.1:5061"]
    assert rt["signal"]["listen"][2] == {"transport": "tls", "address": "127.0.0.1:5061", "tls_profile": "default"}
    assert rt["media"]["address"] == "127.0.0.1" and (rt["media"]["port_min"], rt["media"]["port_max"]) == (30000, 39999)
    din = c.ok("trunk.get", {"name": "demo-in"})
    assert din["cidrs"] == ["127.0.0.0/8"] and din["srtp_inbound"]["mode"] == "optional"
    dout = c.ok("trunk.get", {"name": "demo-out"})
    assert dout["destinations"][0] == {"host": "127.0.0.1", "port": 5080, "transport": "udp"}
    assert dout["srtp_outbound"]["mode"] == "off"
    assert c.ok("route.lookup", {"number": "+15551234"})["routes"][0]["trunk"] == "demo-out"
    # sbcctl finds ./run/control.sock from the same directory
    r = c.ctl("status", cwd=tmp_path)
    assert r.returncode == 0 and "embedded default" in r.stdout
    mode = os.stat(c.sock).st_mode & 0o777
    assert mode == 0o660
    # An operator's change survives a restart: the demo is not re-seeded.
    c.ok("trunk.add", {"name": "mine"})
    c.ok("route.remove", {"prefix": ""})
    c.ok("trunk.remove", {"name": "demo-out"})
    c.p.send_signal(signal.SIGTERM)
    assert c.p.wait(10) == 0
    c.start("control2", cwd=tmp_path)
    names = [t["name"] for t in c.ok("trunk.list")["trunks"]]
    assert names == ["demo-in", "mine"]


def test_second_instance_on_same_socket_refused(ctl, procs):
    p = procs.start("dup", ctl.argv())
    assert p.wait(10) != 0
    assert "another sbc-control is listening" in procs.log(p)
    assert "result" in ctl.call("system.version")


def test_real_children_hello_stats_restart_and_drain(procs, tmp_path, build_dir):
    if not (BUILD / "sbc-signal").exists() or not (BUILD / "sbc-media").exists():
        pytest.skip("sbc-signal/sbc-media not built")
    c = Ctl(procs, tmp_path, real=True).start()
    wait_for(lambda: all(ch["state"] == "running" for ch in c.status()["children"]), what="children running")
    # stats_timeout_ms is 200 here: on a loaded box one answer may miss it
    # (available false); a child that never answers still fails the wait
    st = wait_for(lambda: (lambda s: s if s["signal"][0]["available"] and s["media"][0]["available"] else None)(
        c.ok("stats.get")), what="both children answering stats.get")
    assert isinstance(st["signal"][0]["stats"], dict), st["signal"]
    assert isinstance(st["media"][0]["stats"], dict), st["media"]
    log = procs.log(c.p)
    assert "sbc-signal worker 0" in log and "said hello" in log
    # A change reaches both children over their control rings, and they consume it.
    before = {r["child"]: r["to_child"]["published"] for r in c.ok("stats.get")["control"]["rings"]}
    c.ok("trunk.add", {"name": "carrier-x", "cidrs": ["198.51.100.0/24"]})

    def consumed():
        rings = c.ok("stats.get")["control"]["rings"]
        return all(r["to_child"]["published"] > before[r["child"]] and r["to_child"]["queued_bytes"] == 0
                   for r in rings)

    wait_for(consumed, what="CONFIG_CHANGED consumed by the children")
    media_pid = child(c.status(), "sbc-media")["pid"]
    os.kill(media_pid, signal.SIGKILL)
    wait_for(lambda: (lambda m: m["restarts"] == 1 and m["state"] == "running")(child(c.status(), "sbc-media")),
             what="sbc-media restarted and said hello")
    wait_for(lambda: c.ok("stats.get")["media"][0]["available"], what="the new sbc-media answering stats.get")
    pids = [ch["pid"] for ch in c.status()["children"]]
    c.p.send_signal(signal.SIGTERM)
    assert c.p.wait(15) == 0
    for pid in pids:
        assert not alive(pid)
    log = procs.log(c.p)
    assert "sbc-signal stopped (exit 0)" in log and "sbc-media stopped (exit 0)" in log


def test_random_garbage_lines_never_hurt_the_server(ctl):
    import random
    rnd = random.Random(1234)
    pieces = [b'{', b'}', b'[', b']', b'"', b':', b',', b'\\', b'\x00', b'\xff\xfe', b'\xc3\x28', b'null',
              b'"jsonrpc"', b'"2.0"', b'"method"', b'"params"', b'"id"', b'"trunk.add"', b'"route.import"',
              b'"name"', b'1e999', b'-0', b'99999999999999999999999', b'true', b' ', b'\t', b'\r']
    lines = []
    for _ in range(1500):
        lines.append(b"".join(rnd.choice(pieces) for _ in range(rnd.randrange(1, 40))).replace(b"\n", b""))
    # Deeply nested and long-string specimens too.
    lines.append(b"[" * 5000 + b"]" * 5000)
    lines.append(b'{"jsonrpc":"2.0","id":1,"method":"trunk.add","params":{"name":"' + b"x" * 100000 + b'"}}')
    lines.append(b'{"jsonrpc":"2.0","id":1,"method":"trunk.add","params":{"name":"a","cidrs":' + b"[" * 3000 + b"]" * 3000 + b'}}')
    gens = ctl.status()["generations"]
    with ctl.connect() as s:
        f = s.makefile("rwb")
        s.settimeout(20)
        answered = 0
        for ln in lines:
            f.write(ln + b"\n")
        f.write(b'{"jsonrpc":"2.0","id":"end","method":"system.version"}\n')
        f.flush()
        while True:
            line = f.readline()
            assert line, "server closed the connection"
            r = json.loads(line)
            answered += 1
            if r.get("id") == "end":
                break
            assert "error" in r and r["error"]["code"] in (-32700, -32600, -32601, -32602), r
    assert answered > 1000
    assert ctl.status()["generations"] == gens
    assert ctl.p.poll() is None


def test_reload_restarts_the_child_whose_settings_changed(ctl):
    wait_for(lambda: all(c["state"] == "running" for c in ctl.status()["children"]), what="running")
    st = ctl.status()
    sig_pid, med_pid = child(st, "sbc-signal")["pid"], child(st, "sbc-media")["pid"]
    cfg = json.loads(ctl.cfg_path.read_text())
    # Nothing changed: nobody restarts.
    r = ctl.ok("system.reload")
    assert r == {"reloaded": True, "restarted": [], "revived": 0}
    # A new listener concerns sbc-signal only.
    cfg["signal"]["listen"].append({"transport": "tcp", "address": f"127.0.0.1:{free_port()}"})
    ctl.cfg_path.write_text(json.dumps(cfg))
    assert ctl.ok("system.reload")["restarted"] == ["sbc-signal"]
    wait_for(lambda: child(ctl.status(), "sbc-signal")["pid"] not in (None, sig_pid), what="new signal pid")
    s2 = child(ctl.status(), "sbc-signal")
    assert s2["restarts"] == 1 and s2["quick_deaths"] == 0
    assert child(ctl.status(), "sbc-media")["pid"] == med_pid
    rt = json.loads((ctl.data / "runtime.json").read_text())
    assert len(rt["signal"]["listen"]) == 4
    # A bad file or a change that needs a full restart: refused, nothing changes.
    good = ctl.cfg_path.read_text()
    ctl.cfg_path.write_text(json.dumps(dict(cfg, media=dict(cfg["media"], rtp_timeout_ms="soon"))))
    e = ctl.call("system.reload")["error"]
    assert e["code"] == -32602 and "media.rtp_timeout_ms" in e["message"]
    ctl.cfg_path.write_text(json.dumps(dict(cfg, signal=dict(cfg["signal"], workers=2))))
    e = ctl.call("system.reload")["error"]
    assert e["code"] == -32003 and "restart of sbc-control" in e["message"]
    assert json.loads((ctl.data / "runtime.json").read_text()) == rt
    # SIGHUP reloads too: the media timeout concerns sbc-media.
    ctl.cfg_path.write_text(json.dumps(dict(json.loads(good), media=dict(cfg["media"], rtp_timeout_ms=5000))))
    ctl.p.send_signal(signal.SIGHUP)
    wait_for(lambda: child(ctl.status(), "sbc-media")["restarts"] == 1, what="media restart on SIGHUP")
    assert json.loads((ctl.data / "runtime.json").read_text())["media"]["rtp_timeout_ms"] == 5000
    assert ctl.p.poll() is None


def test_client_that_shuts_its_write_side_still_gets_its_answers(ctl):
    s = ctl.connect()
    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"system.version"}\n'
              b'{"jsonrpc":"2.0","id":2,"method":"stats.get"}\n')
    s.shutdown(socket.SHUT_WR)
    s.settimeout(5)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    ids = sorted(json.loads(l)["id"] for l in data.splitlines())
    assert ids == [1, 2]   # stats.get (asynchronous) answered before the close
    # A client that vanishes with a request in flight harms nobody.
    s = ctl.connect()
    s.sendall(b'{"jsonrpc":"2.0","id":3,"method":"stats.get"}\n')
    s.close()
    assert "result" in ctl.call("system.version")


def test_framing_split_lines_crlf_and_pipelining(ctl):
    with ctl.connect() as s:
        req = b'{"jsonrpc":"2.0","id":7,"method":"route.lookup","params":{"number":"+15551234"}}\r\n'
        for i in range(0, len(req), 9):           # a request in many pieces
            s.sendall(req[i:i + 9])
            time.sleep(0.005)
        s.sendall(b'{"jsonrpc":"2.0","id":8,"method":"system.version"}\n'
                  b'{"jsonrpc":"2.0","id":9,"method":"system.version"}\n')  # two in one write
        f = s.makefile("rb")
        s.settimeout(5)
        got = [json.loads(f.readline()) for _ in range(3)]
    assert [r["id"] for r in got] == [7, 8, 9]
    assert got[0]["result"]["routes"][0]["trunk"] == "demo-out"


FD_DUMPER = """#!/bin/sh
echo "$@" > "$0.args.$$"
exec sleep 1000
"""


def test_children_get_the_contract_arguments_and_only_the_doorbells(procs, tmp_path, build_dir):
    c = Ctl(procs, tmp_path, child=FD_DUMPER).start()
    st = c.status()
    pid = child(st, "sbc-signal")["pid"]
    argf = tmp_path / f"child.sh.args.{pid}"
    args = wait_for(lambda: argf.exists() and argf.read_text().split(), what="args")
    assert args == ["--shm", st["shm"], "--runtime", str(c.data / "runtime.json")]
    # After exec, only what sbc-control passed on is open (the shell's own fds are CLOEXEC).
    wait_for(lambda: os.readlink(f"/proc/{pid}/exe").endswith("sleep"), what="exec of sleep")
    extra = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        if int(name) > 2:
            extra[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
    # control + signal + media doorbells, nothing else (no socket, LMDB or segment fd)
    assert sorted(extra.values()) == ["anon_inode:[eventfd]"] * 3, extra


def test_unanswered_requests_per_connection_are_bounded(ctl):
    with ctl.connect() as s:
        replies = rpc_lines(s, ['{"jsonrpc":"2.0","id":%d,"method":"stats.get"}' % i for i in range(150)])
    busy = [r for r in replies if "error" in r]
    assert busy and all(r["error"]["code"] == -32006 for r in busy)
    assert sum(1 for r in replies if "result" in r) >= 64
    assert sorted(r["id"] for r in replies) == list(range(150))
    assert "result" in ctl.call("stats.get")


def test_unfinished_request_line_times_out(procs, tmp_path, build_dir):
    c = Ctl(procs, tmp_path, extra={"control": {"partial_timeout_ms": 400}}).start()
    slow = c.connect()
    slow.sendall(b'{"jsonrpc":"2.0","id":1,"method":"sys')      # and then nothing
    # A client that keeps finishing its lines, each begun a little before, is fine.
    steady = c.connect()
    f = steady.makefile("rb")
    steady.settimeout(5)
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 1.2:
        steady.sendall(b'{"jsonrpc":"2.0","id":%d,"method":"system.version"}\n{"jsonrpc":"2.0",' % n)
        time.sleep(0.1)
        steady.sendall(b'"id":%d,"method":"system.version"}\n' % (n + 1))
        assert json.loads(f.readline())["id"] == n
        assert json.loads(f.readline())["id"] == n + 1
        n += 2
    slow.settimeout(5)
    data = slow.makefile("rb").read()                        # error line, then EOF
    e = json.loads(data.splitlines()[0])["error"]
    assert e["code"] == -32600 and "incomplete after 400 ms" in e["message"]
    steady.close()
    slow.close()
