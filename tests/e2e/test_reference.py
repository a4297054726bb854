"""REST reference streams: activity types, programs, deleted leads."""

from __future__ import annotations

import datetime as dt

from ..support import END
from .helpers import base_config, by_key, discover, run_tap, select, to_json

PROGRAM_FIELDS = [
    "id",
    "name",
    "description",
    "type",
    "channel",
    "status",
    "workspace",
    "folder",
    "url",
    "createdAt",
    "updatedAt",
    # Added for the warehouse models (issue 22): the Salesforce link where the browse has it;
    # the dates only where the browse carries them (the sandbox's, like the docs', does not).
    "sfdcId",
    "sfdcName",
    "headStart",
    "startDate",
    "endDate",
]


def _expected_deleted(item):
    return {
        "id": item["id"],
        "marketoGUID": item.get("marketoGUID"),
        "leadId": item["leadId"],
        "activityDate": to_json(item["activityDate"]),
        "activityTypeId": 37,
        "primaryAttributeValueId": item["primaryAttributeValueId"],
        "primaryAttributeValue": item["primaryAttributeValue"],
        "attributes": [
            {"name": a["name"], "value": None if a["value"] is None else str(a["value"])} for a in item["attributes"]
        ],
    }


def test_reference_streams_equal_truth(sb):
    data = sb.data
    config = base_config(sb)
    run = run_tap(config, catalog=select(discover(config), ["activity_types", "programs", "deleted_leads"]))
    assert run.returncode == 0, run.describe()

    types = by_key(run.records("activity_types"), "id")
    assert len(types) == 17 == len(data.activity_types)
    assert types == {
        t["id"]: {k: to_json(t.get(k)) for k in ("id", "name", "description", "primaryAttribute", "attributes")}
        for t in data.activity_types
    }

    programs = by_key(run.records("programs"), "id")
    details = data.reference.program_details  # Get Program by Id's dates
    assert programs == {
        p["id"]: {k: to_json(p.get(k, details[p["id"]].get(k))) for k in PROGRAM_FIELDS}
        for p in data.programs
        if p["updatedAt"] < END  # incremental: a later change is the next run's
    }
    assert any(record["startDate"] for record in programs.values())
    for record in programs.values():
        for key in ("createdAt", "updatedAt"):
            dt.datetime.strptime(record[key], "%Y-%m-%dT%H:%M:%SZ")

    assert data.deleted_leads
    deleted = by_key(run.records("deleted_leads"), "id")
    assert deleted == {d["id"]: _expected_deleted(d) for d in data.deleted_leads}


def test_deleted_leads_include_new_deletions_and_respect_end_date(sb):
    data = sb.data
    victim = data.leads[5]["id"]
    data.delete_leads([victim], dt.datetime(2024, 3, 20, 8, 0, 0, tzinfo=dt.timezone.utc))
    late = data.leads[6]["id"]
    data.delete_leads([late], dt.datetime(2024, 4, 15, tzinfo=dt.timezone.utc))  # after end_date
    config = base_config(sb)
    run = run_tap(config, catalog=select(discover(config), ["deleted_leads"]))
    assert run.returncode == 0, run.describe()
    deleted = by_key(run.records("deleted_leads"), "id")
    end = dt.datetime(2024, 4, 1, tzinfo=dt.timezone.utc)
    want = {d["id"]: _expected_deleted(d) for d in data.deleted_leads if d["activityDate"] < end}
    assert victim in {d["leadId"] for d in want.values()}
    assert deleted == want
    # The bookmark never passes the end of the run's range (end_date is exclusive).
    bookmark = run.states[-1]["bookmarks"]["deleted_leads"]["replication_key_value"]
    assert bookmark <= "2024-04-01T00:00:00Z", bookmark
