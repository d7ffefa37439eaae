"""Issue #5 item 3 at the running process: the called number is taken from
the Request-URI user part (or To's when the Request-URI has none),
normalised, matched by longest prefix in the LMDB route table, manipulated
per route (strip/prepend) before it goes out, and a call with no route gets
404, one with an incomplete number (a proper prefix of a route's prefix) 484.
Each call checks the Request-URI and To the called carrier actually got
(b2b_route.c and store_route.c are unit-tested in test_b2b_route)."""
import pytest

from b2b_common import Sbc, Uac, Uas, hdr, sdp, status
from conftest import BUILD
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


def send_invite(uac, ruri, to):
    """An INVITE like Uac.invite's but with its own Request-URI and To."""
    b = sdp(uac.ip, uac.rtp_port)
    uac.inv = (f"INVITE {ruri} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {uac.ip}:{uac.port};branch=z9hG4bKuacinv1;rport\r\n"
               f"From: <sip:15550001111@{uac.ip}:{uac.port}>;tag={uac.ftag}\r\n"
               f"To: {to}\r\nCall-ID: {uac.callid}\r\nCSeq: 1 INVITE\r\n"
               f"Contact: <sip:alice@{uac.ip}:{uac.port}>\r\nMax-Forwards: 70\r\n"
               f"Content-Type: application/sdp\r\nContent-Length: {len(b.encode())}\r\n\r\n{b}").encode()
    uac.sock.sendto(uac.inv, uac.dst)


def user_of(uri_text):
    """The user part of the first sip: URI in a Request-URI or To value."""
    u = uri_text[uri_text.index("sip:") + 4:]
    return u[:u.index("@")]


@pytest.fixture
def routed(procs, tmp_path):
    """sbc with the default route removed and: 49 -> trunk t-a (uas_a),
    4930 -> trunk t-b (uas_b) with strip 2 / prepend 0, 1800555 -> t-a."""
    uas_a, uas_b = Uas("answer"), Uas("answer")
    sbc = Sbc(procs, tmp_path, uas_a.port)
    for name, u in (("t-a", uas_a), ("t-b", uas_b)):
        sbc.rpc("trunk.add", {"name": name, "destinations": [{"host": "127.0.0.1", "port": u.port, "transport": "udp"}],
                              "srtp_inbound": {"mode": "off"}, "srtp_outbound": {"mode": "off"}})
    sbc.rpc("route.remove", {"prefix": ""})
    sbc.rpc("route.add", {"prefix": "49", "trunk": "t-a"})
    sbc.rpc("route.add", {"prefix": "4930", "trunk": "t-b", "strip": 2, "prepend": "0"})
    sbc.rpc("route.add", {"prefix": "1800555", "trunk": "t-a"})
    sbc.signal_synced()
    uacs = []

    def call(ruri_user=None, to_user=None, expect=200):
        """A call whose Request-URI user is ruri_user (None: sip:host
        only) and To user to_user (default: the same); returns the final
        response at the caller, the call hung up when answered."""
        uac = Uac(sbc.port)
        uacs.append(uac)
        ruri = f"sip:{ruri_user}@127.0.0.1:{sbc.port}" if ruri_user is not None else f"sip:127.0.0.1:{sbc.port}"
        to = f"<sip:{to_user if to_user is not None else ruri_user}@127.0.0.1>"
        send_invite(uac, ruri, to)
        final = uac.wait_final()
        assert status(final) == expect, (final, sbc.log()[-2000:])
        if expect == 200:
            uac.ack(final)
            assert status(uac.bye(final)) == 200
        return final

    yield sbc, uas_a, uas_b, call
    uas_a.close()
    uas_b.close()
    for u in uacs:
        u.close()


def test_longest_prefix_and_manipulation(routed):
    sbc, uas_a, uas_b, call = routed
    # 4930...: both 49 and 4930 match; the longer wins, and its strip 2 /
    # prepend 0 gives 030123456 in the Request-URI and To toward t-b
    call("4930123456")
    assert uas_b.invite is not None and uas_a.invite is None
    assert user_of(uas_b.invite.split(b" ")[1].decode()) == "030123456"
    assert user_of(hdr(uas_b.invite, "To")) == "030123456"
    # 4989...: only 49 matches; no manipulation on that route
    call("4989777")
    assert uas_a.invite is not None and len(uas_b.requests("INVITE")) == 1
    assert user_of(uas_a.invite.split(b" ")[1].decode()) == "4989777"


def test_number_normalised_and_from_to(routed):
    sbc, uas_a, uas_b, call = routed
    # visual separators and %-escapes in the user part are not part of the
    # number: 49(30)12-34.56 is 4930123456, routed by 4930 like it
    call("49(30)12-34.56")
    assert user_of(uas_b.invite.split(b" ")[1].decode()) == "030123456"
    call("%34%39%38%39555")  # %-escaped 4989555
    assert user_of(uas_a.invite.split(b" ")[1].decode()) == "4989555"
    # user-part parameters (RFC 4694) are dropped
    call("4989444;npdi;rn=4930999")
    assert user_of(uas_a.invite.split(b" ")[1].decode()) == "4989444"
    # no user in the Request-URI: To's number
    n_b = len(uas_b.requests("INVITE"))
    call(None, "4930777")
    assert len(uas_b.requests("INVITE")) == n_b + 1
    assert user_of(uas_b.invite.split(b" ")[1].decode()) == "030777"  # 4930777, strip 2, prepend 0
    # the Request-URI's user wins over To's
    n_a = len(uas_a.requests("INVITE"))
    call("4989111", "4930222")
    assert len(uas_a.requests("INVITE")) == n_a + 1
    assert user_of(uas_a.invite.split(b" ")[1].decode()) == "4989111"


def test_no_route_404_incomplete_484(routed):
    sbc, uas_a, uas_b, call = routed
    call("331234567", expect=404)   # no prefix matches
    call("18005", expect=484)       # a proper prefix of 1800555: overlap dialling, incomplete
    call("1800", expect=484)
    call("19005", expect=404)       # neither
    call("alice", expect=404)       # not a number
    call(None, "bob", expect=404)   # no number anywhere
    assert uas_a.invite is None and uas_b.invite is None
    call("18005551234")             # complete: routed
    assert uas_a.invite is not None
