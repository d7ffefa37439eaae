"""stats.get shows each sbc-signal worker's transaction-table walks over a
long hash chain (calls.txn_long_walks, txn_table_long_walks()): a number,
0 after ordinary calls (the table's hash is keyed per table: no caller
picks the chains its Call-IDs land in)."""
import pytest

from b2b_common import Sbc, Uas, calls_one_after_another
from conftest import BUILD, wait_for
from test_signal_common import no_sanitizer_reports  # noqa: F401

pytestmark = pytest.mark.skipif(not all((BUILD / b).exists() for b in ("sbc-control", "sbc-signal", "sbc-media")),
                                reason="binaries not built")


def test_stats_show_long_transaction_walks(procs, tmp_path):
    uas = Uas("answer")
    try:
        sbc = Sbc(procs, tmp_path, uas.port, workers=2)
        calls_one_after_another(sbc.port, 3)
        # both workers' answers waited for: one stats.get may miss a worker
        # on a loaded box (available false); a worker that never answers fails
        def both_answered():
            ws = sbc.rpc("stats.get")["signal"]
            return ws if len(ws) == 2 and all(w.get("available") for w in ws) else None
        workers = wait_for(both_answered, timeout=10, what="both sbc-signal workers answering stats.get")
        for w in workers:
            calls = w["stats"]["calls"]
            walks = calls.get("txn_long_walks")
            assert type(walks) is int and walks == 0, calls
        # the same table's count beside it: the calls' transactions linger
        assert sum(w["stats"]["calls"]["transactions"] for w in workers) > 0, workers
    finally:
        uas.close()
