"""A trunk's max_calls and max_cps count its calls both ways: calls we send
toward it as well as calls it sends us (a carrier's channel and call-rate
contract covers the interconnect, not one direction). A route whose trunk
is at its limit is skipped like a trunk that is down: the call fails over
to the next route, or gets 503 with Retry-After when no route is left."""
import json

import pytest

from b2b_common import Uac, Uas, call_env, status, hdr  # noqa: F401
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


def cdr_lines(sbc):
    p = sbc.data / "cdr.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


def test_outbound_call_limit_fails_over(env):
    """demo-out takes one call: the second call goes to alt-out; once the
    first ends, demo-out takes calls again."""
    sbc, uas, uac = env()
    alt = Uas("answer")
    second = third = None
    try:
        sbc.add_failover(alt.port)
        sbc.rpc("trunk.update", {"name": "demo-out", "max_calls": 1})
        sbc.signal_synced()
        first = uac.answered()
        assert len(uas.requests("INVITE")) == 1
        # a store change reloads every worker's trunks: the count must
        # survive it (one counter per trunk name, not per loaded record)
        sbc.rpc("trunk.update", {"name": "alt-out", "max_cps": 0})
        sbc.signal_synced()
        second = Uac(sbc.port)
        f2 = second.answered()
        assert len(uas.requests("INVITE")) == 1, "demo-out got a call over its limit"
        assert len(alt.requests("INVITE")) == 1
        assert "trunk demo-out is at its limit" in sbc.log()
        assert status(second.bye(f2)) == 200
        assert status(uac.bye(first)) == 200
        third = Uac(sbc.port)
        f3 = third.answered()
        assert len(uas.requests("INVITE")) == 2, "demo-out's slot was not given back"
        assert status(third.bye(f3)) == 200
    finally:
        for u in (alt, second, third):
            if u:
                u.close()


def test_outbound_limit_without_other_route_503(env):
    """The only route's trunk is at its limit: 503 with Retry-After, and
    the record says why; nothing reaches the trunk."""
    sbc, uas, uac = env()
    sbc.rpc("trunk.update", {"name": "demo-out", "max_calls": 1})
    sbc.signal_synced()
    first = uac.answered()
    second = Uac(sbc.port)
    try:
        second.invite()
        busy = second.wait_final()
        assert status(busy) == 503 and int(hdr(busy, "Retry-After")) >= 1
        assert len(uas.requests("INVITE")) == 1
        wait_for(lambda: any(r.get("event") == "end" and r.get("cause") == 503 and
                             r.get("reason", "").startswith("no routed trunk usable") for r in cdr_lines(sbc)),
                 timeout=5, what="the end record of the refused call, with its reason")
    finally:
        second.close()
    assert status(uac.bye(first)) == 200


def test_outbound_cps_limit(env):
    """max_cps on the called trunk: of calls started at once, those over
    the rate get 503 instead of reaching the trunk. The rate is counted in
    whole seconds: a burst that straddles a second's end can meet two
    windows, so 6 calls get at least 2 refusals and at most 4 reach it."""
    sbc, uas, uac = env()
    sbc.rpc("trunk.update", {"name": "demo-out", "max_cps": 2})
    sbc.signal_synced()
    uacs = [Uac(sbc.port) for _ in range(6)]
    try:
        for u in uacs:
            u.invite()
        finals = [u.wait_final() for u in uacs]
        codes = sorted(status(f) for f in finals)
        assert codes.count(503) >= 2, codes
        assert len(uas.requests("INVITE")) <= 4, "demo-out got more calls than its rate in two windows"
        for u, f in zip(uacs, finals):
            if status(f) == 200:
                u.ack(f)
                assert status(u.bye(f)) == 200
    finally:
        for u in uacs:
            u.close()


def test_failed_attempt_gives_the_slot_back(env):
    """An attempt that failed over (500 from demo-out) does not keep
    demo-out's only slot: the next call can use it."""
    sbc, uas, uac = env(plan="final:500")
    alt = Uas("answer")
    try:
        sbc.add_failover(alt.port)
        sbc.rpc("trunk.update", {"name": "demo-out", "max_calls": 1})
        sbc.signal_synced()
        f1 = uac.answered()
        assert len(uas.requests("INVITE")) == 1 and len(alt.requests("INVITE")) == 1
        second = Uac(sbc.port)
        try:
            f2 = second.answered()
            assert len(uas.requests("INVITE")) == 2, "demo-out's slot stayed with the call that left it"
            assert status(second.bye(f2)) == 200
        finally:
            second.close()
        assert status(uac.bye(f1)) == 200
    finally:
        alt.close()
