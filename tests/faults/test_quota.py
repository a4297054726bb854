"""Quotas: export quota, daily call quota, the tap's own export budget; and the resume after."""

from __future__ import annotations

import collections

import pytest

from .helpers import (
    WINDOW_ENDS,
    WINDOW_STARTS,
    TapProcess,
    assert_records_equal,
    assert_states_never_skip,
    base_config,
    create_bodies,
    lead_jobs,
    one_error_line,
    run_tap,
    truth_leads,
    unique_by_id,
    wait_until,
    window_of_request,
    windows_with_leads,
)


def _fault_on_second_window_enqueue(sb, catalog, kind):
    """Run the tap with ``kind`` on window 2's enqueue: window 1's enqueue is held 1 s in the
    server (``delay``), time enough to target window 2's job, created meanwhile, by its id."""
    sb.faults.add("delay", path_contains="enqueue.json", count=1, seconds=1.0)
    proc = TapProcess(base_config(sb), catalog)
    try:
        wait_until(lambda: len(lead_jobs(sb)) >= 2, what="two jobs created")
        second = next(j for j in lead_jobs(sb) if window_of_request(j["request"]) == WINDOW_STARTS[1])
        sb.faults.add(kind, path_contains=f"/{second['exportId']}/enqueue.json", count=1)
        return proc.finish()
    finally:
        proc.kill()


def _assert_window1_delivered(run, sb):
    assert_states_never_skip(run.messages, sb)
    marks = [b for b in run.bookmarks() if b]
    assert marks and marks[-1] == WINDOW_ENDS[0], f"last bookmark {marks}"
    got = unique_by_id(run.records(), sb)
    truth = truth_leads(sb)
    w1 = windows_with_leads(sb, WINDOW_ENDS[0])
    assert_records_equal({i: got[i] for i in got if i in w1}, {i: truth[i] for i in w1})


def _resume_completes(run1, sb, catalog):
    run2 = run_tap(base_config(sb), catalog, state=run1.last_state)
    assert run2.returncode == 0, run2.describe()
    assert_states_never_skip(run2.messages, sb, already={r["id"] for r in run1.records()})
    union = unique_by_id(run1.records() + run2.records(), sb)
    assert_records_equal(union, truth_leads(sb))
    per_window = collections.Counter(window_of_request(b) for b in create_bodies(sb))
    assert all(n == 1 for n in per_window.values()), f"jobs created per window: {dict(per_window)}"
    return run2


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("quota_exhausted", ["export quota", "This run downloaded", "resets at midnight US Central"]),
        ("code_607", ["call quota", "This run", "resets at midnight US Central"]),
    ],
)
def test_quota_on_second_window_then_resume(sb, leads_catalog, kind, words):
    run1 = _fault_on_second_window_enqueue(sb, leads_catalog, kind)
    assert [k for k, _ in sb.faults.fired] == ["delay", kind]
    assert run1.returncode != 0, run1.describe()
    line = one_error_line(run1)
    for w in words:
        assert w in line, f"{w!r} not in {line}"
    _assert_window1_delivered(run1, sb)
    _resume_completes(run1, sb, leads_catalog)


def test_export_budget_stops_before_exceeding(make_sandbox, leads_catalog):
    sb = make_sandbox(leads=1200)
    budget_mb = 0.05
    run1 = run_tap(base_config(sb, export_quota_budget_mb=budget_mb), leads_catalog)
    assert run1.returncode != 0, run1.describe()
    line = one_error_line(run1)
    assert "export_quota_budget_mb" in line, line
    # Every file was downloaded within the budget, except that the first file's size is
    # unknown before it exists: no job was created once the budget was used up.
    sizes = [j.get("fileSize", 0) for j in lead_jobs(sb)]
    assert len(lead_jobs(sb)) < 3, sizes
    downloaded_before_last = sum(sizes[:-1])
    assert downloaded_before_last <= budget_mb * 1_000_000, f"a job was created past the budget: sizes {sizes}"
    assert_states_never_skip(run1.messages, sb)
    _resume_completes(run1, sb, leads_catalog)
