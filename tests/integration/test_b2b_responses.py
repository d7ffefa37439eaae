"""Issue #5 item 2, responses mapped across the legs without the called
carrier's topology: a final refusal (a redirect with its Contact, or a 486
with Server, Warning and a Reason) reaches the caller as that status with
the headers the allow list lets cross (Retry-After, Reason) and nothing
that names the callee's hosts; a 3xx is the callee's answer (relayed, no
failover). The caller's INVITE gets it on its own Via, tags and Call-ID."""
import pytest

from b2b_common import Sbc, Uac, Uas, hdr, response, status
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")

SECRET = ("Contact: <sip:4930123456@10.77.0.9:5070;transport=tcp>\r\n"
          "Server: gw-internal-10.77.0.9/4.2\r\nWarning: 399 10.77.0.9 \"core-sw-3 busy\"\r\n"
          "P-Charging-Vector: icid-value=abc;orig-ioi=10.77.0.9\r\n"
          "Reason: Q.850;cause=17;text=\"User busy\"\r\nRetry-After: 120")


@pytest.mark.parametrize("code,reason", [(302, "Moved Temporarily"), (486, "Busy Here")], ids=["302", "486"])
def test_refusal_relayed_without_the_callees_topology(procs, tmp_path, code, reason):
    uas, alt = Uas("answer"), Uas("answer")
    uac = None
    try:
        sbc = Sbc(procs, tmp_path, uas.port)
        sbc.add_failover(alt.port)  # a next route exists: neither is a failover case
        send = uas.send

        def refuse(d):
            """The answer plan's 180 becomes the refusal, its 200 is not sent."""
            if d.startswith(b"SIP/2.0 180"):
                send(response(uas.invite, code, reason, uas.tag, SECRET))
            elif not (d.startswith(b"SIP/2.0 200") and "INVITE" in hdr(d, "CSeq")):
                send(d)

        uas.send = refuse
        uac = Uac(sbc.port)
        uac.invite()
        final = uac.wait_final()
        assert status(final) == code, (final, sbc.log()[-2000:])
        text = final.decode()
        for needle in ("10.77.0.9", "gw-internal", "core-sw", "icid", "transport=tcp", str(uas.port), uas.tag):
            assert needle not in text, (needle, text)
        assert hdr(final, "Call-ID") == uac.callid and "z9hG4bKuacinv1" in hdr(final, "Via")
        assert uac.ftag in hdr(final, "From")
        assert hdr(final, "Reason") == 'Q.850;cause=17;text="User busy"'  # allowed to cross
        assert hdr(final, "Retry-After") == "120"
        assert alt.invite is None  # the callee's answer: no failover
        wait_for(lambda: uas.requests("ACK"), timeout=3, what="ACK of the refusal at the callee")
    finally:
        uas.close()
        alt.close()
        if uac:
            uac.close()
