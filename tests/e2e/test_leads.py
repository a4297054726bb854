"""Leads end to end: exact records over three windows, STATE sequence, incremental runs,
the 1035 fallback and field selection."""

from __future__ import annotations

import datetime as dt

from ..support import lead_export_fields
from .helpers import WINDOWS, base_config, by_key, create_bodies, discover, expected_lead, jobs_of, run_tap, select, ts

INNER_BOUNDARIES = {ts(WINDOWS[0][1]), ts(WINDOWS[1][1])}


def _leads_run(sb, **config_overrides):
    config = base_config(sb, **config_overrides)
    catalog = select(discover(config), ["leads"])
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.describe()
    return run


def _expected_body(fields, start, end, filter_type="updatedAt"):
    return {"fields": fields, "format": "CSV", "filter": {filter_type: {"startAt": start, "endAt": end}}}


def test_leads_three_windows_equal_truth_with_inclusive_end(sb):
    run = _leads_run(sb)
    data = sb.data
    fields = lead_export_fields(data)
    records = run.records("leads")

    # Every record has exactly the exported fields.
    for record in records:
        assert set(record) == set(fields), sorted(set(record) ^ set(fields))

    # Duplicates are exactly the leads whose hidden last-modified sits on an inner boundary
    # while the visible updatedAt is earlier (the sandbox's endAt is inclusive).
    counts: dict[int, int] = {}
    for record in records:
        counts[record["id"]] = counts.get(record["id"], 0) + 1
    duplicated = {lead_id for lead_id, n in counts.items() if n > 1}
    assert all(n <= 2 for n in counts.values()), counts
    expected_duplicates = {
        lead["id"]
        for lead in data.leads
        if data.lead_last_modified[lead["id"]] in INNER_BOUNDARIES
        and lead["updatedAt"] != data.lead_last_modified[lead["id"]]
    }
    assert expected_duplicates, "sandbox data should contain a hidden-boundary lead"
    assert duplicated == expected_duplicates

    deduped = {record["id"]: record for record in records}  # last one wins
    truth = {lead["id"]: expected_lead(lead, fields) for lead in data.leads}
    assert set(deduped) == set(truth)
    for lead_id, want in truth.items():
        assert deduped[lead_id] == want, lead_id

    # Three lead jobs, one per window, each asking exactly for the selected fields.
    assert len(jobs_of(sb, "leads")) == 3
    assert create_bodies(sb, "leads") == [_expected_body(fields, s, e) for s, e in WINDOWS]
    assert [job["request"] for job in jobs_of(sb, "leads")] == [_expected_body(fields, s, e) for s, e in WINDOWS]


def test_leads_exclusive_end_has_no_duplicates(make_sandbox):
    sb = make_sandbox(end_at_inclusive=False)
    run = _leads_run(sb)
    fields = lead_export_fields(sb.data)
    records = by_key(run.records("leads"), "id")  # asserts no duplicate id
    truth = {lead["id"]: expected_lead(lead, fields) for lead in sb.data.leads}
    assert records == truth
    assert len(jobs_of(sb, "leads")) == 3


def test_state_sequence_is_one_checkpoint_per_window(sb):
    run = _leads_run(sb)
    data = sb.data

    # Segments of consecutive RECORD messages, and the STATEs before/between/after them.
    segments: list[list[dict]] = []
    states_after: list[list[dict]] = [[]]  # states_after[i]: STATEs after segment i-1
    previous = None
    for message in run.messages:
        if message["type"] == "RECORD":
            if previous != "RECORD":
                segments.append([])
                states_after.append([])
            segments[-1].append(message["record"])
        elif message["type"] == "STATE":
            states_after[-1].append(message["value"])
        previous = message["type"]
    assert len(segments) == 3, [len(s) for s in segments]
    assert len(states_after) == 4

    def leads_bookmark(state):
        bookmark = dict(state["bookmarks"]["leads"])
        bookmark.pop("jobs_in_flight", None)
        bookmark.pop("jobs_being_created", None)
        return bookmark

    # Before the first record: no bookmark value yet (or the start).
    for state in states_after[0]:
        assert leads_bookmark(state).get("replication_key_value") in (None, WINDOWS[0][0]), state
    for index, (start, end) in enumerate(WINDOWS):
        # The first STATE after the window's last record moves the bookmark to the window end.
        after = states_after[index + 1]
        assert after, f"no STATE after window {index}"
        assert leads_bookmark(after[0]) == {"replication_key": "updatedAt", "replication_key_value": end}
        # ... and no later STATE before the next window's records moves it further.
        for state in after:
            assert leads_bookmark(state) == {"replication_key": "updatedAt", "replication_key_value": end}
        # The records in between are exactly the window's leads ([start, end] at the
        # sandbox, minus rows whose visible updatedAt is the window's end).
        lo, hi = ts(start), ts(end)
        want = sorted(
            lead["id"]
            for lead in data.leads
            if lo <= data.lead_last_modified[lead["id"]] <= hi and lead["updatedAt"] != hi
        )
        assert sorted(r["id"] for r in segments[index]) == want, index
    # The distinct bookmark values, in order, are the window ends.
    values = []
    for state in run.states:
        value = leads_bookmark(state).get("replication_key_value")
        if value and (not values or values[-1] != value):
            values.append(value)
    assert values == [end for _, end in WINDOWS]
    assert run.states[-1] == {
        "bookmarks": {"leads": {"replication_key": "updatedAt", "replication_key_value": "2024-04-01T00:00:00Z"}}
    }


def test_incremental_second_run_exports_only_new_and_changed(sb):
    config = base_config(sb)
    catalog = select(discover(config), ["leads"])
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.describe()
    state = first.states[-1]
    assert state["bookmarks"]["leads"]["replication_key_value"] == "2024-04-01T00:00:00Z"

    data = sb.data
    april = dt.datetime(2024, 4, 10, 12, 0, 0, tzinfo=dt.timezone.utc)
    new_ids = data.add_leads(3, april)
    old_ids = sorted(lead["id"] for lead in data.leads if lead["id"] not in new_ids)
    visible_ids = old_ids[10:12]
    hidden_id = old_ids[20]
    data.update_leads(visible_ids, april + dt.timedelta(days=2), fields={"title": "Changed in April"})
    data.update_leads(
        [hidden_id], april + dt.timedelta(days=5), fields={"customString": "hidden change"}, visible=False
    )
    boundary_id = old_ids[30]  # last modified exactly at the new end: belongs to a later run
    data.update_leads([boundary_id], dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc))
    jobs_before = len(jobs_of(sb, "leads"))
    creates_before = len(create_bodies(sb, "leads"))

    config2 = base_config(sb, end_date="2024-05-01T00:00:00Z")
    second = run_tap(config2, catalog=catalog, state=state)
    assert second.returncode == 0, second.describe()

    fields = lead_export_fields(data)
    assert len(jobs_of(sb, "leads")) - jobs_before == 1
    assert create_bodies(sb, "leads")[creates_before:] == [
        _expected_body(fields, "2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z")
    ]
    records = by_key(second.records("leads"), "id")
    changed = {*new_ids, *visible_ids, hidden_id}
    truth = {lead["id"]: expected_lead(lead, fields) for lead in data.leads if lead["id"] in changed}
    assert records == truth
    assert records[hidden_id]["customString"] == "hidden change"
    assert second.states[-1] == {
        "bookmarks": {"leads": {"replication_key": "updatedAt", "replication_key_value": "2024-05-01T00:00:00Z"}}
    }


def test_leads_filter_auto_falls_back_to_created_at_on_1035(make_sandbox):
    sb = make_sandbox(disabled_filters=frozenset({"leads.updatedAt"}))
    run = _leads_run(sb)
    fields = lead_export_fields(sb.data)
    records = by_key(run.records("leads"), "id")
    truth = {lead["id"]: expected_lead(lead, fields) for lead in sb.data.leads}
    assert records == truth
    assert len([line for line in run.stderr.splitlines() if "(1035)" in line]) == 1, run.stderr
    assert "WARN" in next(line for line in run.stderr.splitlines() if "(1035)" in line)
    # Only the createdAt jobs exist (the refused updatedAt create made none).
    assert [job["request"] for job in jobs_of(sb, "leads")] == [
        _expected_body(fields, s, e, "createdAt") for s, e in WINDOWS
    ]
    assert run.states[-1]["bookmarks"]["leads"]["replication_key_value"] == "2024-04-01T00:00:00Z"


def test_leads_filter_updated_at_forced_fails_cleanly_on_1035(make_sandbox):
    sb = make_sandbox(disabled_filters=frozenset({"leads.updatedAt"}))
    config = base_config(sb, leads_filter="updatedAt")
    catalog = select(discover(config), ["leads"])
    run = run_tap(config, catalog=catalog)
    assert run.returncode != 0, run.describe()
    assert "Traceback" not in run.stderr, run.stderr
    lines = [line for line in run.stderr.splitlines() if "leads_filter" in line]
    assert len(lines) == 1, run.stderr
    assert "1035" in lines[0]
    assert jobs_of(sb, "leads") == []
    assert run.records("leads") == []


def test_field_selection_limits_export_fields_and_records(sb):
    config = base_config(sb)
    deselected = ["email", "company", "customTextarea", "customFloat", "createdAt", "dateOfBirth"]
    catalog = select(discover(config), ["leads"], deselect={"leads": deselected})
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.describe()
    all_fields = lead_export_fields(sb.data)
    selected = [f for f in all_fields if f not in deselected]
    assert "id" in selected and "updatedAt" in selected
    assert create_bodies(sb, "leads") == [_expected_body(selected, s, e) for s, e in WINDOWS]
    deduped = {r["id"]: r for r in run.records("leads")}
    for record in run.records("leads"):
        assert set(record) == set(selected)
    truth = {lead["id"]: expected_lead(lead, selected) for lead in sb.data.leads}
    assert deduped == truth


def test_field_selection_with_created_at_filter_adds_filter_column(make_sandbox):
    sb = make_sandbox(end_at_inclusive=False)
    config = base_config(sb, leads_filter="createdAt")
    deselected = ["email", "createdAt", "customArray"]
    catalog = select(discover(config), ["leads"], deselect={"leads": deselected})
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.describe()
    all_fields = lead_export_fields(sb.data)
    requested = [f for f in all_fields if f not in deselected or f == "createdAt"]
    assert create_bodies(sb, "leads") == [_expected_body(requested, s, e, "createdAt") for s, e in WINDOWS]
    emitted = [f for f in all_fields if f not in deselected]
    records = by_key(run.records("leads"), "id")
    truth = {lead["id"]: expected_lead(lead, emitted) for lead in sb.data.leads}
    assert records == truth
