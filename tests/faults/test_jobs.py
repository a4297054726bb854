"""Job faults: Failed jobs, a job stuck in Queued, a malformed export file."""

from __future__ import annotations

from .helpers import (
    WINDOW_ENDS,
    WINDOW_STARTS,
    TapProcess,
    assert_complete,
    assert_records_equal,
    assert_states_never_skip,
    base_config,
    job_window,
    lead_jobs,
    one_error_line,
    run_tap,
    truth_leads,
    unique_by_id,
    wait_until,
    windows_with_leads,
)

FAIL_MSG = "Export failed: sandbox disk on fire"


def test_failed_job_is_recreated(sb, leads_catalog):
    sb.faults.add("fail_job", path_contains="/bulk/v1/leads/export/", count=1, message=FAIL_MSG)
    run = run_tap(base_config(sb), leads_catalog)
    assert_complete(run, sb)
    jobs = lead_jobs(sb)
    failed = [j for j in jobs if j["status"] == "Failed"]
    assert len(failed) == 1 and failed[0]["errorMsg"] == FAIL_MSG
    same_window = [j for j in jobs if job_window(j) == job_window(failed[0]) and j is not failed[0]]
    assert [j["status"] for j in same_window] == ["Completed"]
    assert len(jobs) == 4


def _processing(sb):
    return any(j["status"] == "Processing" for j in lead_jobs(sb))


def test_job_failing_every_time_stops_after_three(make_sandbox, leads_catalog):
    # One job processes at a time: window 1's job is already running (and will complete) when
    # the fault is added, so every later job fails.
    sb = make_sandbox(max_processing=1, min_processing_seconds=0.5)
    proc = TapProcess(base_config(sb), leads_catalog)
    try:
        wait_until(lambda: _processing(sb), what="window 1 processing")
        sb.faults.add("fail_job", path_contains="/bulk/v1/leads/export/", count=10, message=FAIL_MSG)
        run = proc.finish()
    finally:
        proc.kill()
    assert run.returncode != 0, run.describe()
    line = one_error_line(run)
    assert FAIL_MSG in line and "3 times" in line, line
    jobs = lead_jobs(sb)
    w2 = [j for j in jobs if job_window(j) == WINDOW_STARTS[1]]
    assert [j["status"] for j in w2] == ["Failed"] * 3, [(job_window(j), j["status"]) for j in jobs]
    # STATE before the stop: bookmark only of window 1, whose records are all out.
    assert_states_never_skip(run.messages, sb)
    marks = [b for b in run.bookmarks() if b]
    assert marks and marks[-1] == WINDOW_ENDS[0], marks
    got = unique_by_id(run.records(), sb)
    want = {i: r for i, r in truth_leads(sb).items() if i in windows_with_leads(sb, WINDOW_ENDS[0])}
    assert_records_equal({i: got[i] for i in got if i in want}, want)


def test_job_stuck_in_queue_times_out(sb, leads_catalog):
    sb.faults.add("stuck_queued", path_contains="enqueue.json", count=1)
    run = run_tap(base_config(sb, job_timeout_seconds=2), leads_catalog, timeout=60)
    assert run.returncode != 0, run.describe()
    line = one_error_line(run)
    assert "job_timeout_seconds" in line, line
    stuck_id = sb.faults.fired[0][1].split("/")[-2]
    stuck = next(j for j in lead_jobs(sb) if j["exportId"] == stuck_id)
    assert stuck["status"] == "Cancelled", stuck
    assert stuck_id in line
    # Nothing is left running at Marketo after the stop.
    assert not [j for j in lead_jobs(sb) if j["status"] in ("Created", "Queued", "Processing")]
    assert_states_never_skip(run.messages, sb)


def test_malformed_row_stops_without_passing_the_window(make_sandbox, leads_catalog):
    sb = make_sandbox(max_processing=1, min_processing_seconds=0.5)
    proc = TapProcess(base_config(sb), leads_catalog)
    try:
        wait_until(lambda: _processing(sb), what="window 1 processing")
        sb.faults.add("malformed_row", path_contains="/bulk/v1/leads/export/", count=1)
        run = proc.finish()
    finally:
        proc.kill()
    assert run.returncode != 0, run.describe()
    line = one_error_line(run)
    bad_id = sb.faults.fired[0][1].split("/")[-2]
    bad = next(j for j in lead_jobs(sb) if j["exportId"] == bad_id)
    assert job_window(bad) == WINDOW_STARTS[1]
    low = line.lower()
    assert bad_id in line or "file" in low, f"message does not name the file: {line}"
    assert "line" in low or "record" in low or "row" in low, f"message does not name the line/record: {line}"
    # Window 1 complete; the bookmark never passes window 2.
    assert_states_never_skip(run.messages, sb)
    marks = [b for b in run.bookmarks() if b]
    assert marks == [WINDOW_ENDS[0]] * len(marks) and marks, marks
    got = unique_by_id(run.records(), sb)
    w1 = windows_with_leads(sb, WINDOW_ENDS[0])
    truth = truth_leads(sb)
    assert_records_equal({i: got[i] for i in got if i in w1}, {i: truth[i] for i in w1})
