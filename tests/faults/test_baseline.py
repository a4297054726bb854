"""No fault: the reference every fault test is measured against."""

from __future__ import annotations

from .helpers import (
    WINDOW_ENDS,
    assert_records_equal,
    assert_states_never_skip,
    base_config,
    run_tap,
    truth_leads,
    unique_by_id,
)


def test_clean_run_matches_truth(sb, leads_catalog):
    run = run_tap(base_config(sb), leads_catalog)
    assert run.returncode == 0, run.describe()
    assert_records_equal(unique_by_id(run.records(), sb), truth_leads(sb))
    assert_states_never_skip(run.messages, sb)
    assert [b for b in run.bookmarks() if b][-1] == WINDOW_ENDS[-1]
