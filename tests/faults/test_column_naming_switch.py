"""Switching ``column_naming`` keeps STATE: bookmarks, jobs in flight and create intents are
per stream and keyed by Marketo's request, not by column names (issue 23).

Both tests run with ``column_naming: marketo`` first and then with ``snake_case`` from the
first run's STATE: no export job is created twice for a window, and the records of both runs
together are the sandbox's truth, with no window lost and none read again (the one duplicate
a clean run may emit, a lead whose hidden last update is a window boundary, aside).
"""

from __future__ import annotations

import collections
import signal
from typing import Any

from ..support import END, START, to_json
from .helpers import (
    WINDOW_ENDS,
    WINDOW_STARTS,
    TapProcess,
    after_window1_with_jobs,
    assert_records_equal,
    base_config,
    bookmark,
    create_bodies,
    discover,
    jobs_in_flight,
    run_tap,
    select,
    truth_leads,
    unique_by_id,
    window_of_request,
)

PURCHASE = "custom_object_purchase_c"
STREAMS = {"leads", "activities", "activities_send_email", "program_members", PURCHASE}
#: Bulk path of each stream's jobs, and its replication key under each naming.
ENTITIES = {
    "leads": ("leads", "updatedAt", "updated_at"),
    "activities": ("activities", "activityDate", "activity_date"),
    "program_members": ("program/members", "updatedAt", "updated_at"),
    PURCHASE: ("customobjects/purchase_c", "updatedAt", "updated_at"),
}


def _catalog(config: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    return select(discover(config), streams)


def _marketo_names(marketo: dict[str, Any], snake: dict[str, Any], stream: str) -> dict[str, str]:
    """Column -> Marketo name of a stream, from two catalogs (the same fields, in the same order)."""

    def columns(catalog: dict[str, Any]) -> list[str]:
        return list(next(s for s in catalog["streams"] if s["tap_stream_id"] == stream)["schema"]["properties"])

    return dict(zip(columns(snake), columns(marketo), strict=True))


def _back(records: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    return [{names[key]: value for key, value in record.items()} for record in records]


def _windows(sb: Any, entity: str, skip: int = 0) -> collections.Counter:
    """(window start, the rest of the filter) of each create call of an entity, after ``skip``."""
    out: collections.Counter = collections.Counter()
    for body in create_bodies(sb, entity)[skip:]:
        rest = {k: v for k, v in body["filter"].items() if k not in ("updatedAt", "createdAt")}
        out[(window_of_request(body), repr(sorted(rest.items())))] += 1
    return out


def test_a_finished_run_then_snake_case_continues_every_stream_from_its_bookmark(make_sandbox):
    sb = make_sandbox()
    middle = WINDOW_ENDS[1]
    first = base_config(sb, end_date=middle, activity_type_streams=True)
    marketo_catalog = _catalog(first, STREAMS)
    run1 = run_tap(first, marketo_catalog)
    assert run1.returncode == 0, run1.describe()
    state = run1.last_state
    for stream, (_, key, _) in ENTITIES.items():
        assert state["bookmarks"][stream] == {"replication_key": key, "replication_key_value": middle}, stream
    before = {stream: len(create_bodies(sb, entity)) for stream, (entity, _, _) in ENTITIES.items()}

    second = base_config(sb, column_naming="snake_case", activity_type_streams=True)
    snake_catalog = _catalog(second, STREAMS)
    run2 = run_tap(second, snake_catalog, state=state)
    assert run2.returncode == 0, run2.describe()

    for stream, (entity, _, snake_key) in ENTITIES.items():
        per_window = _windows(sb, entity)
        assert set(per_window.values()) == {1}, (stream, per_window)  # no job created twice
        assert {w for w, _ in per_window} == set(WINDOW_STARTS), (stream, per_window)  # none lost
        assert {w for w, _ in _windows(sb, entity, before[stream])} == {WINDOW_STARTS[-1]}, stream
        assert run2.last_state["bookmarks"][stream] == {
            "replication_key": snake_key,
            "replication_key_value": WINDOW_ENDS[-1],
        }, stream

    # Leads: both runs together are the truth (boundary duplicates only, as in any run).
    names = _marketo_names(marketo_catalog, snake_catalog, "leads")
    assert {"updated_at", "first_name"} <= set(run2.records("leads")[0])
    leads = run1.records("leads") + _back(run2.records("leads"), names)
    assert_records_equal(unique_by_id(leads, sb), truth_leads(sb))
    # Activities (windowed on createdAt): every activity exactly once, none lost between runs.
    names = _marketo_names(marketo_catalog, snake_catalog, "activities")
    acts = run1.records("activities") + _back(run2.records("activities"), names)
    truth = {a["marketoGUID"]: a for a in sb.data.activities if START <= a["activityDate"] < END}
    assert sorted(a["marketoGUID"] for a in acts) == sorted(truth)
    for act in acts:
        assert act["activityDate"] == to_json(truth[act["marketoGUID"]]["activityDate"])
        assert act["attributes"] == to_json(truth[act["marketoGUID"]]["attributes"])
    # The typed stream follows its own bookmark: run 2 has window 3's rows of its type only.
    send = {a["marketoGUID"] for a in truth.values() if a["activityTypeId"] == 6}
    send1 = {r["marketoGUID"] for r in run1.records("activities_send_email")}
    send2 = {r["marketo_guid"] for r in run2.records("activities_send_email")}
    assert send1 | send2 == send and not send1 & send2
    assert all(r["activity_date"] >= middle for r in run2.records("activities_send_email"))


# One job processes at a time, ~1.5 s each: after window 1's checkpoint, window 2's job is
# Processing and window 3's waits, for long enough to kill the run.
SLOW = dict(max_processing=1, min_processing_seconds=1.5)
POLL = dict(poll_interval_seconds=0.25)


def test_jobs_a_killed_marketo_run_left_are_reattached_by_a_snake_case_run(make_sandbox):
    """Jobs in flight are found again by their request's key, which hashes Marketo's request
    body (export fields by Marketo name): the same under both namings."""
    sb = make_sandbox(**SLOW)
    first = base_config(sb, **POLL)
    marketo_catalog = _catalog(first, {"leads"})
    proc = TapProcess(first, marketo_catalog)
    try:
        proc.wait_for(after_window1_with_jobs())
        proc.send(signal.SIGKILL)
        run1 = proc.finish(timeout=30)
    finally:
        proc.kill()
    assert run1.returncode == -signal.SIGKILL
    state = run1.last_state
    assert jobs_in_flight(state), state
    assert state["bookmarks"]["leads"]["replication_key"] == "updatedAt"

    second = base_config(sb, column_naming="snake_case", **POLL)
    snake_catalog = _catalog(second, {"leads"})
    run2 = run_tap(second, snake_catalog, state=state)
    assert run2.returncode == 0, run2.describe()
    assert "re-attached (" in run2.stderr, run2.describe()
    assert collections.Counter(window_of_request(b) for b in create_bodies(sb)) == dict.fromkeys(WINDOW_STARTS, 1)
    assert bookmark(run2.last_state) == WINDOW_ENDS[-1]
    # Killed after window 1's checkpoint and before window 2's records: together the runs hold
    # every lead once (boundary leads aside), exactly, under the column names in run 2.
    leads = run1.records() + _back(run2.records(), _marketo_names(marketo_catalog, snake_catalog, "leads"))
    assert_records_equal(unique_by_id(leads, sb), truth_leads(sb))
