"""The REST streams of assets, lists and reference data, as a tap process against the sandbox.

Every record of every stream is compared with what the sandbox holds (same count, same keys,
same typed values) under each reading of what Marketo's docs leave open; a second run emits
exactly what changed; static list members agree with a bulk staticListId export.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import typing as t

import pytest

from ..sandbox.helpers import Client, parse_file
from ..support import REST_STREAMS, to_json
from .helpers import base_config, by_key, discover, run_tap, select

UTC = dt.timezone.utc
END = dt.datetime(2024, 4, 1, tzinfo=UTC)
KEYS = {
    "emails": ("id", "status"),
    "email_templates": ("id", "status"),
    "forms": ("id", "status"),
    "landing_pages": ("id", "status"),
    "segments": ("segmentationId", "id"),
    "tag_types": ("tagType",),
    "program_tags": ("programId", "tagType"),
    "program_costs": ("programId", "startDate", "cost"),
    "static_list_members": ("listId", "leadId"),
}


def json_of(value: t.Any) -> t.Any:
    """A sandbox value (date-times anywhere inside) as the tap emits it."""
    if isinstance(value, dict):
        return {key: json_of(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_of(item) for item in value]
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return f"{value}T00:00:00Z"  # a cost's startDate
    return to_json(value)


def shaped(rows: list[dict], properties: list[str], keys: tuple[str, ...] = ("id",)) -> dict:
    """Truth rows as records of a stream with these properties, by key; every member the
    sandbox serves must be a property (none dropped)."""
    out = {}
    for row in rows:
        assert set(row) <= set(properties), set(row) - set(properties)
        record = {name: json_of(row.get(name)) for name in properties}
        out[record[keys[0]] if len(keys) == 1 else tuple(record[k] for k in keys)] = record
    return out


def expected(sb: t.Any, properties: dict[str, list[str]], end: dt.datetime = END) -> dict[str, dict]:
    """What each stream must emit from the sandbox's data for a first run ending at ``end``."""
    data, ref = sb.data, sb.data.reference
    rows = ref.rows
    versions: dict[int, dict] = {}
    for row in sorted(rows["segmentations"], key=lambda r: r["status"] != "approved"):
        versions.setdefault(row["id"], row)  # the approved version where there is one
    kept = {(sid, row["status"]) for sid, row in versions.items()}
    members = [
        {"listId": lst["id"], "leadId": lead_id}
        for lst in data.static_lists
        for lead_id in lst["leadIds"]
        if lead_id in {lead["id"] for lead in data.leads}
    ]
    tags, costs = [], []
    for program in data.programs:
        details = ref.program_details[program["id"]]
        extra = {"programId": program["id"], "programUpdatedAt": program["updatedAt"]}
        tags += [{**tag, **extra} for tag in details["tags"]]
        costs += [{**cost, **extra} for cost in details["costs"] or []]
    describe = [
        {
            "id": f["id"],
            "displayName": f["displayName"],
            "dataType": f["dataType"],
            "length": f.get("length"),
            "restName": (f.get("rest") or {}).get("name"),
            "restReadOnly": (f.get("rest") or {}).get("readOnly"),
            "soapName": (f.get("soap") or {}).get("name"),
            "soapReadOnly": (f.get("soap") or {}).get("readOnly"),
            # the leads stream's column of the field (Marketo's naming: its REST name)
            "columnName": next((c for c in properties["leads"] if c == (f.get("rest") or {}).get("name")), None),
        }
        for f in data.lead_fields
    ]
    # Get Program by Id's dates on each program (the browse has none)
    programs = [
        {
            **program,
            **{
                k: ref.program_details[program["id"]][k]
                for k in ("startDate", "endDate")
                if k in ref.program_details[program["id"]]
            },
        }
        for program in data.programs
        if program["updatedAt"] < end
    ]
    truth = {
        "campaigns": [row for row in rows["campaigns"] if row["updatedAt"] < end],
        "emails": [row for row in rows["emails"] if row["updatedAt"] < end],
        "segmentations": list(versions.values()),
        "segments": [row for row in rows["segments"] if (row["segmentationId"], row["status"]) in kept],
        "programs": programs,
        "program_tags": tags,
        "program_costs": costs,
        "static_lists": [{k: v for k, v in lst.items() if k != "leadIds"} for lst in data.static_lists],
        "static_list_members": members,
        "lead_fields": describe,
    }
    for name in ("email_templates", "forms", "landing_pages", "channels", "tag_types", "lead_partitions"):
        truth[name] = rows[name]
    return {name: shaped(truth[name], properties[name], KEYS.get(name, ("id",))) for name in REST_STREAMS}


def properties_of(catalog: dict) -> dict[str, list[str]]:
    return {s["tap_stream_id"]: list(s["schema"]["properties"]) for s in catalog["streams"]}


@pytest.mark.parametrize(
    ("reading", "lists"),
    [
        # Several pages of every listing, short pages before the end; the small lists only,
        # so the run stays under the 100 calls per 20 s the tap paces itself to.
        ({"page_limit": 7}, [2001, 2002, 2003, 2004]),
        ({"updated_at_inclusive": False, "asset_status_reading": "latest"}, None),
    ],
    ids=["short-pages", "exclusive-bounds-latest-versions"],
)
def test_every_record_of_every_rest_stream_equals_the_sandbox(make_sandbox, reading, lists):
    sb = make_sandbox(**reading)
    config = base_config(sb, static_list_members_lists=lists)
    catalog = discover(config)
    run = run_tap(config, catalog=select(catalog, REST_STREAMS))
    assert run.returncode == 0, run.describe()
    properties = properties_of(catalog)
    want = expected(sb, properties)
    if lists:
        want["static_list_members"] = {k: v for k, v in want["static_list_members"].items() if k[0] in lists}
    for name in REST_STREAMS:
        got = by_key(run.records(name), *KEYS.get(name, ("id",)))
        assert got == want[name], name
    assert len(want["emails"]) > len({key[0] for key in want["emails"]})  # drafts beside approved versions
    assert {len(lst["leadIds"]) for lst in sb.data.static_lists} == {0, 1, 25, 120, 300}
    # Typed: ids integers, booleans booleans, asset dates RFC 3339, nested objects objects.
    campaign = run.records("campaigns")[0]
    assert isinstance(campaign["id"], int) and isinstance(campaign["isActive"], bool)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", campaign["updatedAt"])
    assert isinstance(campaign["recurrence"], dict)
    assert properties["emails"] and catalog_keys(catalog)["emails"] == ["id", "status"]
    # Calls are counted per stream in the end-of-run line.
    [spent] = [line for line in run.stderr.splitlines() if "Run spent:" in line]
    assert re.search(r"API calls by stream: .*campaigns \d+, .*static_list_members \d+", spent), spent
    if reading.get("page_limit"):  # several pages: a call per 7 campaigns, and the one proving the end
        assert f"campaigns {math.ceil(len(want['campaigns']) / 7) + 1}," in spent, spent


def catalog_keys(catalog: dict) -> dict[str, list[str]]:
    keys = {}
    for stream in catalog["streams"]:
        top = next(m for m in stream["metadata"] if m["breadcrumb"] == [])
        keys[stream["tap_stream_id"]] = top["metadata"].get("table-key-properties")
    return keys


@pytest.mark.parametrize("inclusive", [True, False], ids=["inclusive-bounds", "exclusive-bounds"])
def test_a_second_run_emits_exactly_what_changed(make_sandbox, inclusive):
    sb = make_sandbox(updated_at_inclusive=inclusive)
    ref = sb.data.reference
    at = dt.datetime(2024, 4, 3, 12, 0, tzinfo=UTC)
    second_end = dt.datetime(2024, 4, 10, tzinfo=UTC)
    ref.update("campaigns", [1005], END)  # exactly the first run's end: the second run's
    streams = ["campaigns", "emails", "program_tags", "program_costs"]
    config = base_config(sb)
    catalog = select(discover(config), streams)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.describe()
    assert 1005 not in {r["id"] for r in first.records("campaigns")}

    ref.update("campaigns", [1003], at, description="changed\r\nagain ✓")
    new_campaigns = ref.add("campaigns", 2, at)
    ref.update("campaigns", [1007], second_end)  # exactly the second run's end: the third run's
    ref.add_draft("emails", 4002, at)
    ref.update("emails", [4004], at, status="approved", name="Renamed")
    ref.approve_draft("emails", 4000, at)
    ref.update_program(1002, at, tags=[{"tagType": "Region", "tagValue": "APAC"}], costs=[])
    ref.update_program(1003, at, costs=[{"startDate": "2024-04-01", "cost": 999, "note": "Booth"}])

    second = run_tap(base_config(sb, end_date="2024-04-10T00:00:00Z"), catalog=catalog, state=first.states[-1])
    assert second.returncode == 0, second.describe()
    assert sorted(r["id"] for r in second.records("campaigns")) == sorted([1003, 1005, *new_campaigns])
    assert next(r for r in second.records("campaigns") if r["id"] == 1003)["description"] == "changed\r\nagain ✓"
    assert sorted((r["id"], r["status"]) for r in second.records("emails")) == [
        (4000, "approved"),
        (4002, "draft"),
        (4004, "approved"),
    ]
    assert [(r["programId"], r["tagType"], r["tagValue"]) for r in second.records("program_tags")] == [
        (1002, "Region", "APAC"),
        *[(1003, tag["tagType"], tag["tagValue"]) for tag in ref.program_details[1003]["tags"]],
    ]
    assert [(r["programId"], r["cost"]) for r in second.records("program_costs")] == [(1003, 999)]
    assert {r["programUpdatedAt"] for r in second.records("program_tags")} == {"2024-04-03T12:00:00Z"}
    for name in streams:
        assert second.states[-1]["bookmarks"][name]["replication_key_value"] == "2024-04-10T00:00:00Z", name

    third = run_tap(base_config(sb, end_date="2024-04-11T00:00:00Z"), catalog=catalog, state=second.states[-1])
    assert third.returncode == 0, third.describe()
    assert [r["id"] for r in third.records("campaigns")] == [1007]
    assert third.records("emails") == [] and third.records("program_tags") == []


def bulk_members(sb: t.Any, list_id: int) -> list[int]:
    """The list's members by the sandbox's own bulk staticListId export."""
    _, content = Client(sb).export("leads", {"fields": ["id"], "filter": {"staticListId": list_id}})
    header, rows = parse_file(content)
    assert header == ["id"]
    return sorted(int(row[0]) for row in rows)


def test_static_list_members_agree_with_a_bulk_static_list_export_by_rest_and_by_job(make_sandbox):
    sb = make_sandbox(leads=3200, activities=10, programs=2, members_per_program=2, custom_object_records=3)
    big = next(lst["id"] for lst in sb.data.static_lists if lst["name"] == "All leads")
    assert len(sb.data.reference.static_list(big)["leadIds"]) == 3200
    config = base_config(sb)
    catalog = select(discover(config), ["static_list_members"])
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.describe()
    pages = [e for e in sb.request_log if e["path"] == f"/rest/v1/lists/{big}/leads.json"]
    assert len(pages) == 11 and all(e["query"]["fields"] == "id" for e in pages)  # then a job for the rest
    assert [j["request"] for j in sb.jobs("leads")] == [
        {"fields": ["id"], "format": "CSV", "filter": {"staticListId": big}}
    ]

    got: dict[int, list[int]] = {}
    for record in first.records("static_list_members"):
        got.setdefault(record["listId"], []).append(record["leadId"])
    for lst in sb.data.static_lists:
        assert sorted(got.get(lst["id"], [])) == bulk_members(sb, lst["id"]), lst["id"]
    assert len(first.records("static_list_members")) == sum(len(set(v)) for v in got.values())  # each once
    sizes = first.states[-1]["bookmarks"]["static_list_members"]["list_sizes"]
    assert sizes == {str(lst["id"]): len(lst["leadIds"]) for lst in sb.data.static_lists}
    assert "about 6 API calls (6 member pages, 0 bulk export jobs; 6 lists not read before" in first.stderr

    # The next run knows the big list: one job at once, no page of it.
    sb.data.reference.remove_list_members(big, sb.data.reference.static_list(big)["leadIds"][:5])
    before, jobs_before = len(sb.request_log), len(sb.jobs("leads"))
    second = run_tap(config, catalog=catalog, state=first.states[-1])
    assert second.returncode == 0, second.describe()
    assert not [e for e in sb.request_log[before:] if e["path"] == f"/rest/v1/lists/{big}/leads.json"]
    assert len(sb.jobs("leads")) == jobs_before + 1
    members = sorted(r["leadId"] for r in second.records("static_list_members") if r["listId"] == big)
    assert members == bulk_members(sb, big) and len(members) == 3195
    assert "about 10 API calls (5 member pages, 1 bulk export jobs)" in second.stderr
    assert re.search(r"API calls by stream: static_list_members \d+", second.stderr)


def test_static_list_members_lists_limits_the_lists_and_names_the_existing_ones(sb):
    config = base_config(sb, static_list_members_lists=["Webinar Invitees", 2004])
    run = run_tap(config, catalog=select(discover(config), ["static_list_members", "static_lists"]))
    assert run.returncode == 0, run.describe()
    assert {r["listId"] for r in run.records("static_list_members")} == {2001, 2004}
    assert len(run.records("static_lists")) == len(sb.data.static_lists)  # the setting limits members only
    lists = [e["query"]["batchSize"] for e in sb.request_log if e["path"] == "/rest/v1/lists.json"]
    assert lists == ["1", "300", "1", "300"]  # per process (--discover, the run): the probe, one read kept

    bad = run_tap(base_config(sb, static_list_members_lists=["Webinar Invitees", "VIP", 77]), "--discover")
    assert bad.returncode != 0
    [line] = [ln for ln in bad.stderr.splitlines() if "static_list_members_lists" in ln]
    assert "lists ['VIP', 77], which this Marketo instance does not have" in line
    assert """2002 'VIP, "Gold" Customers'""" in line and "2005 'All leads'" in line
