"""A call's MEDIA_DELETE is published lazily (b2b_engine.c media_push): with
the next create/update toward that sbc-media worker, or by a 20 ms timer
when none follows. Either way the session goes: the last call of a burst
(nothing after it) and calls ended while others start."""
from b2b_common import Sbc, Uac, Uas, calls_one_after_another, status
from conftest import wait_for


def media_stats(sbc):
    return sbc.rpc("stats.get")["media"][0]["stats"]


def test_last_call_session_deleted_without_another_record(procs, tmp_path):
    uas = Uas("answer")
    uac = Uac(0)
    try:
        sbc = Sbc(procs, tmp_path, uas.port)
        uac.dst = ("127.0.0.1", sbc.port)
        sbc.signal_synced()
        final = uac.answered()
        assert media_stats(sbc)["sessions"] == 1
        assert status(uac.bye(final)) == 200
        # nothing else goes to sbc-media: the timer publishes the delete
        st = wait_for(lambda: (lambda s: s if s["sessions"] == 0 else None)(media_stats(sbc)), timeout=2,
                      what="the session deleted")
        assert st["created"] == 1 and st["deleted"] == 1, st
        # calls that end while the next one starts: every session goes
        calls_one_after_another(sbc.port, 3)
        st = wait_for(lambda: (lambda s: s if s["deleted"] == 4 else None)(media_stats(sbc)), timeout=2,
                      what="four sessions deleted")
        assert st["created"] == 4 and st["sessions"] == 0, st
    finally:
        uas.close()
        uac.close()
