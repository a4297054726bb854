"""Interrupted runs re-attach to their jobs; incremental activities and program members;
activity filters and field selection; program member lead fields."""

from __future__ import annotations

import datetime as dt

from ..support import END, START, lead_export_fields
from .helpers import (
    ACTIVITY_COLUMNS,
    WINDOWS,
    base_config,
    by_key,
    create_bodies,
    discover,
    expected_activity,
    expected_lead,
    expected_member,
    jobs_of,
    pm_fields,
    run_tap,
    select,
    to_json,
    ts,
)

UTC = dt.timezone.utc


def test_run_resumed_from_mid_run_state_reattaches_jobs(make_sandbox):
    sb = make_sandbox(end_at_inclusive=False)
    config = base_config(sb)
    catalog = select(discover(config), ["leads"])
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.describe()
    # The first STATE whose bookmark is the end of window 1: as if the run was killed there.
    mid = next(s for s in first.states if s["bookmarks"]["leads"].get("replication_key_value") == WINDOWS[0][1])
    in_flight = mid["bookmarks"]["leads"].get("jobs_in_flight") or []
    window2_job = next(
        j for j in jobs_of(sb, "leads") if j["request"]["filter"]["updatedAt"]["startAt"] == WINDOWS[1][0]
    )
    assert window2_job["exportId"] in {entry["exportId"] for entry in in_flight}, mid
    jobs_before = {j["exportId"] for j in jobs_of(sb, "leads")}

    second = run_tap(config, catalog=catalog, state=mid)
    assert second.returncode == 0, second.describe()
    new_jobs = [j for j in jobs_of(sb, "leads") if j["exportId"] not in jobs_before]
    # Window 2's job is re-attached; only window 3 needs a new job.
    assert [j["request"]["filter"]["updatedAt"] for j in new_jobs] == [
        {"startAt": WINDOWS[2][0], "endAt": WINDOWS[2][1]}
    ]
    fields = lead_export_fields(sb.data)
    lo = ts(WINDOWS[1][0])
    truth = {
        lead["id"]: expected_lead(lead, fields)
        for lead in sb.data.leads
        if lo <= sb.data.lead_last_modified[lead["id"]] < END
    }
    assert by_key(second.records("leads"), "id") == truth
    assert second.states[-1] == {
        "bookmarks": {"leads": {"replication_key": "updatedAt", "replication_key_value": WINDOWS[2][1]}}
    }


def test_activities_incremental_second_run(sb):
    config = base_config(sb, activity_type_streams=True)
    catalog = select(discover(config), ["activities", "activities_open_email", "activities_fill_out_form"])
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.describe()
    state = first.states[-1]
    for name in ("activities", "activities_open_email", "activities_fill_out_form"):
        assert state["bookmarks"][name]["replication_key_value"] == "2024-04-01T00:00:00Z", state
        assert "jobs_in_flight" not in state["bookmarks"][name], state
        assert "jobs_being_created" not in state["bookmarks"][name], state

    april = dt.datetime(2024, 4, 3, 9, 30, tzinfo=UTC)
    new_guids = set(sb.data.add_activities(25, april))
    new_guids |= set(sb.data.add_activities(10, dt.datetime(2024, 4, 2, 12, 0, tzinfo=UTC)))
    sb.data.add_activities(2, dt.datetime(2024, 5, 1, tzinfo=UTC))  # at the new end: next run's
    creates_before = len(create_bodies(sb, "activities"))
    second = run_tap(
        base_config(sb, activity_type_streams=True, end_date="2024-05-01T00:00:00Z"), catalog=catalog, state=state
    )
    assert second.returncode == 0, second.describe()
    bodies = create_bodies(sb, "activities")[creates_before:]
    assert [b["filter"]["createdAt"] for b in bodies] == [
        {"startAt": "2024-04-01T00:00:00Z", "endAt": "2024-05-01T00:00:00Z"}
    ]
    assert bodies[0]["filter"]["createdAt"] == {"startAt": "2024-04-01T00:00:00Z", "endAt": "2024-05-01T00:00:00Z"}
    new = [a for a in sb.data.activities if a["marketoGUID"] in new_guids]
    assert by_key(second.records("activities"), "marketoGUID") == {a["marketoGUID"]: expected_activity(a) for a in new}
    assert {a["activityTypeId"] for a in new} & {2, 10}
    assert set(by_key(second.records("activities_open_email"), "marketoGUID")) == {
        a["marketoGUID"] for a in new if a["activityTypeId"] == 10
    }
    assert set(by_key(second.records("activities_fill_out_form"), "marketoGUID")) == {
        a["marketoGUID"] for a in new if a["activityTypeId"] == 2
    }


def test_activity_primary_attribute_filter_and_field_selection(sb):
    config = base_config(sb, activity_type_ids=[2], activity_primary_attribute_value_ids=[2000, 2001])
    deselected = ["actionResult", "campaignId"]
    catalog = select(discover(config), ["activities"], deselect={"activities": deselected})
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.describe()
    bodies = create_bodies(sb, "activities")
    assert len(bodies) == 3
    for body, (start, end) in zip(bodies, WINDOWS, strict=True):
        assert body["filter"] == {
            "createdAt": {"startAt": start, "endAt": end},
            "activityTypeIds": [2],
            "primaryAttributeValueIds": [2000, 2001],
        }
        assert sorted(body["fields"]) == sorted(c for c in ACTIVITY_COLUMNS if c not in deselected)
    want = {
        a["marketoGUID"]: {k: v for k, v in expected_activity(a).items() if k not in deselected}
        for a in sb.data.activities
        if START <= a["activityDate"] < END
        and a["activityTypeId"] == 2
        and a["primaryAttributeValueId"] in (2000, 2001)
    }
    assert want
    assert by_key(run.records("activities"), "marketoGUID") == want


def test_program_members_incremental_and_lead_fields(sb):
    config = base_config(sb, program_member_lead_fields=["email", "leadScore", "customDate"])
    catalog = select(discover(config), ["program_members"])
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.describe()
    data = sb.data
    leads = {lead["id"]: lead for lead in data.leads}
    fields = pm_fields(data)
    for record in first.records("program_members"):
        lead = leads[record["leadId"]]
        assert record["email"] == lead["email"]
        assert record["leadScore"] == lead["leadScore"]
        assert record["customDate"] == to_json(lead["customDate"])
    state = first.states[-1]
    assert state["bookmarks"]["program_members"]["replication_key_value"] == "2024-04-01T00:00:00Z"

    april = dt.datetime(2024, 4, 20, tzinfo=UTC)
    members = sorted({(m["programId"], m["leadId"]) for m in data.program_members if m["leadId"] in leads})
    changed = set(members[:3])
    data.update_program_members(changed, april, fields={"statusReason": "April change"})
    outsiders = [lid for lid in sorted(leads) if (1012, lid) not in set(members)][:2]
    data.add_program_members(1012, outsiders, april)
    changed |= {(1012, lid) for lid in outsiders}
    creates_before = len(create_bodies(sb, "program/members"))
    second = run_tap(
        base_config(
            sb, program_member_lead_fields=["email", "leadScore", "customDate"], end_date="2024-05-01T00:00:00Z"
        ),
        catalog=catalog,
        state=state,
    )
    assert second.returncode == 0, second.describe()
    bodies = create_bodies(sb, "program/members")[creates_before:]
    assert len(bodies) == 2
    assert all(
        b["filter"]["updatedAt"] == {"startAt": "2024-04-01T00:00:00Z", "endAt": "2024-05-01T00:00:00Z"} for b in bodies
    )
    want = {}
    for m in data.program_members:
        key = (m["programId"], m["leadId"])
        if key in changed:
            record = expected_member(m, fields)
            lead = leads[m["leadId"]]
            record.update(email=lead["email"], leadScore=lead["leadScore"], customDate=to_json(lead["customDate"]))
            want[key] = record
    assert by_key(second.records("program_members"), "programId", "leadId") == want
