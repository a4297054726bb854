"""SIGTERM and SIGKILL mid-run, and the resumed run from the last STATE."""

from __future__ import annotations

import collections
import signal

from .helpers import (
    WINDOW_ENDS,
    TapProcess,
    after_window1_with_jobs,
    assert_records_equal,
    assert_states_never_skip,
    base_config,
    bookmark,
    create_bodies,
    jobs_in_flight,
    lead_jobs,
    no_traceback,
    run_tap,
    truth_leads,
    unique_by_id,
    window_of_request,
)

# One job processes at a time, 2 s each: after window 1's checkpoint, window 2's job is
# Processing and window 3's waits, for long enough to interrupt the run.
SLOW = dict(max_processing=1, min_processing_seconds=1.5)
#: Fewer polls: the tap keeps itself under 100 calls per 20 s, and 2 s jobs polled every
#: 0.05 s would make it wait on its own rate limiter.
POLL = dict(poll_interval_seconds=0.25)


def test_sigterm_cancels_jobs_and_resumes(make_sandbox, leads_catalog):
    sb = make_sandbox(**SLOW)
    proc = TapProcess(base_config(sb, **POLL), leads_catalog)
    try:
        proc.wait_for(after_window1_with_jobs())
        proc.send(signal.SIGTERM)
        run1 = proc.finish(timeout=60)
    finally:
        proc.kill()
    assert run1.returncode != 0, run1.describe()
    # One line "tap-marketo-bulk stopped: ... SIGTERM ..." (the tap words it "stopped:
    # interrupted by SIGTERM"), no traceback.
    lines = [ln for ln in run1.stderr.splitlines() if "SIGTERM" in ln and "stopped" in ln]
    assert len(lines) == 1, run1.describe()
    assert len(run1.error_lines()) == 1, run1.describe()
    no_traceback(run1.stderr)
    # Every job of the run that had not completed is Cancelled at Marketo.
    statuses = [(window_of_request(j["request"]), j["status"]) for j in lead_jobs(sb)]
    assert all(s in ("Completed", "Cancelled") for _, s in statuses), statuses
    assert any(s == "Cancelled" for _, s in statuses), statuses
    assert_states_never_skip(run1.messages, sb)
    assert [b for b in run1.bookmarks() if b][-1] == WINDOW_ENDS[0]

    run2 = run_tap(base_config(sb, **POLL), leads_catalog, state=run1.last_state)
    assert run2.returncode == 0, run2.describe()
    assert_states_never_skip(run2.messages, sb, already={r["id"] for r in run1.records()})
    assert_records_equal(unique_by_id(run1.records() + run2.records(), sb), truth_leads(sb))


def test_sigkill_then_reattach(make_sandbox, leads_catalog):
    sb = make_sandbox(**SLOW)
    proc = TapProcess(base_config(sb, **POLL), leads_catalog)
    try:
        proc.wait_for(after_window1_with_jobs())
        proc.send(signal.SIGKILL)
        run1 = proc.finish(timeout=30)
    finally:
        proc.kill()
    assert run1.returncode == -signal.SIGKILL
    state = run1.last_state
    assert jobs_in_flight(state), state
    in_flight_ids = {e["exportId"] for e in jobs_in_flight(state)}
    assert all(j["status"] != "Cancelled" for j in lead_jobs(sb) if j["exportId"] in in_flight_ids)

    run2 = run_tap(base_config(sb, **POLL), leads_catalog, state=state)
    assert run2.returncode == 0, run2.describe()
    assert "re-attached (" in run2.stderr, run2.describe()  # the job line, not the summary's count
    per_window = collections.Counter(window_of_request(b) for b in create_bodies(sb))
    assert all(n == 1 for n in per_window.values()), f"jobs created per window: {dict(per_window)}"
    assert_states_never_skip(run2.messages, sb, already={r["id"] for r in run1.records()})
    # Killed after window 1's checkpoint and before window 2's records: no window was being
    # emitted, so the union has no duplicates (beyond the boundary lead of a clean run).
    assert_records_equal(unique_by_id(run1.records() + run2.records(), sb), truth_leads(sb))
    assert [b for b in run2.bookmarks() if b][-1] == WINDOW_ENDS[-1]


def test_sigkill_during_a_run_ending_now_reattaches_to_its_last_window(make_sandbox, leads_catalog):
    """A daily run's last window ends at "now", which differs on the next run: the job the
    killed run left in STATE must still be found, not paid for again."""
    import datetime as dt

    sb = make_sandbox(min_processing_seconds=2.0)
    config = base_config(sb, **POLL)
    config.pop("end_date", None)  # the window ends at the time the run starts
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    state = {"bookmarks": {"leads": {"replication_key": "updatedAt", "replication_key_value": since}}}
    proc = TapProcess(config, leads_catalog, state=state)
    try:
        proc.wait_for(lambda messages: any(jobs_in_flight(m["value"]) for m in messages if m["type"] == "STATE"))
        proc.send(signal.SIGKILL)
        run1 = proc.finish(timeout=30)
    finally:
        proc.kill()
    (left,) = jobs_in_flight(run1.last_state)
    assert left["window"].startswith(since)

    run2 = run_tap(config, leads_catalog, state=run1.last_state)
    assert run2.returncode == 0, run2.describe()
    assert "re-attached (" in run2.stderr, run2.describe()  # the job line, not the summary's count
    windows = [window_of_request(b) for b in create_bodies(sb)]
    assert windows.count(since) == 1, windows  # the killed run's job served the second run
    assert bookmark(run2.last_state) >= left["window"].split("..")[1]  # same second: no new window
