"""No setting may lose data: an end_date in the future ends the range at the run's start (issue 21).

Bookmarks are window ends. Had the last window ended at a future end_date, the next run would
start there, and every change made in between would never be extracted.
"""

from __future__ import annotations

import datetime as dt
import time

from ..support import lead_export_fields
from .helpers import base_config, by_key, discover, expected_lead, log_messages, run_tap, select, ts

UTC = dt.timezone.utc


def stamp(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def recent_sandbox(make_sandbox):
    """A sandbox whose data ends today, so that a run's start is inside its range."""
    today = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return make_sandbox(
        leads=40,
        activities=100,
        programs=2,
        members_per_program=3,
        custom_object_records=20,
        start=stamp(today - dt.timedelta(days=45)),
        end=stamp(today),
        end_at_inclusive=False,
    )


def bookmark(state: dict, stream: str) -> str | None:
    return ((state.get("bookmarks") or {}).get(stream) or {}).get("replication_key_value")


def test_an_end_date_in_the_future_ends_the_range_at_the_run_start_and_loses_nothing(make_sandbox):
    sb = recent_sandbox(make_sandbox)
    sb.data.delete_leads([sb.data.leads[0]["id"]], dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(hours=5))
    future = stamp(dt.datetime.now(UTC) + dt.timedelta(days=30))
    config = base_config(sb, start_date=sb.options.start, end_date=future)
    streams = ["leads", "activities", "deleted_leads", "custom_object_purchase_c"]
    catalog = select(discover(config), streams)

    before = dt.datetime.now(UTC).replace(microsecond=0)
    first = run_tap(config, catalog=catalog)
    after = dt.datetime.now(UTC)
    assert first.returncode == 0, first.describe()
    [note] = [line for line in log_messages(first.stderr, "INFO") if line.startswith("end_date")]
    started = note.split("the range ends at the start, ", 1)[1].split(",", 1)[0]
    assert before <= ts(started) <= after
    assert note == (
        f"end_date {future} is later than this run's start; the range ends at the start, {started}, "
        "so that later runs extract what changes after it"
    )
    fields = lead_export_fields(sb.data)
    assert by_key(first.records("leads"), "id") == {lead["id"]: expected_lead(lead, fields) for lead in sb.data.leads}
    # The bulk streams' last window ends at the run's start; no bookmark passes it.
    state = first.states[-1]
    for stream in ("leads", "activities", "custom_object_purchase_c"):
        assert bookmark(state, stream) == started, stream
    assert len(first.records("deleted_leads")) == len(sb.data.deleted_leads) == 1
    assert bookmark(state, "deleted_leads") <= started
    assert all(bookmark(s, name) <= started for s in first.states for name in streams if bookmark(s, name))

    # Changes made after the first run started are the second run's: none is lost.
    new_ids = sb.data.add_leads(3, at=dt.datetime.now(UTC).replace(microsecond=0))
    time.sleep(1.1)  # the next run starts a second later: its range [start, now) holds them
    second = run_tap(config, catalog=catalog, state=state)
    assert second.returncode == 0, second.describe()
    assert sorted(record["id"] for record in second.records("leads")) == sorted(new_ids)
    assert bookmark(second.states[-1], "leads") > started


def test_a_state_bookmark_in_the_future_is_brought_back_to_the_run_start(make_sandbox):
    """A STATE written by an earlier version with a future end_date resumes from now, not from then."""
    sb = recent_sandbox(make_sandbox)
    config = base_config(sb, start_date=sb.options.start, end_date=None)
    catalog = select(discover(config), ["leads"])
    future = stamp(dt.datetime.now(UTC) + dt.timedelta(days=20))
    state = {"bookmarks": {"leads": {"replication_key": "updatedAt", "replication_key_value": future}}}
    before = dt.datetime.now(UTC).replace(microsecond=0)
    run = run_tap(config, catalog=catalog, state=state)
    assert run.returncode == 0, run.describe()
    [warning] = log_messages(run.stderr)
    started = warning.split("resuming from ", 1)[1].split(".", 1)[0]
    assert warning == (
        f"leads: STATE's bookmark {future} is later than this run's start (an end_date in the future?); resuming "
        f"from {started}. Changes the run that wrote it did not see were never extracted: to fetch them, set the "
        "bookmark back to that run's time."
    )
    assert before <= ts(started)
    assert all(bookmark(s, "leads") <= started for s in run.states)  # the first STATE included
    assert run.records("leads") == []  # nothing between the run's start and itself
    # The next run picks up what changes from here on.
    later = sb.data.add_leads(1, at=dt.datetime.now(UTC).replace(microsecond=0))
    time.sleep(1.1)
    next_run = run_tap(config, catalog=catalog, state=run.states[-1])
    assert next_run.returncode == 0, next_run.describe()
    assert [record["id"] for record in next_run.records("leads")] == later
