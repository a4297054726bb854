"""Asset API and lead database reference endpoints: paging and its end, limits, the readings of
what the docs leave open, the data (lists of different sizes, recurrence, tags and costs, special
text) and the API that changes it over time."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_marketo_bulk.sandbox.asset_api import ENDPOINTS, NO_ASSETS, endpoint_of
from tap_marketo_bulk.sandbox.assets import SPECIAL_DESCRIPTION

from .helpers import Client, parse_file

UTC = dt.timezone.utc
AT = dt.datetime(2024, 4, 3, 12, 0, tzinfo=UTC)


def browse(client: Client, path: str, **params) -> list[dict]:
    """Every row of an asset listing, 200 at a time, until the documented end."""
    rows, offset = [], 0
    while True:
        body = client.api("GET", path, params={**params, "offset": offset, "maxReturn": 200})
        assert body["success"] and body["errors"] == [], body
        if "result" not in body:
            assert body["warnings"] == [NO_ASSETS]
            return rows
        rows += body["result"]
        offset += len(body["result"])


def list_pages(client: Client, path: str, **params) -> list[list[dict]]:
    pages, token = [], None
    while True:
        query = {**params, **({"nextPageToken": token} if token else {})}
        body = client.api("GET", path, params=query)
        assert body["success"], body
        pages.append(body["result"])
        token = body.get("nextPageToken")
        if not token:
            return pages


def test_every_endpoint_is_registered_under_its_entity_and_served(client):
    assert {e.entity for e in ENDPOINTS} == {
        "campaigns",
        "emails",
        "email_templates",
        "forms",
        "landing_pages",
        "segmentations",
        "segments",
        "channels",
        "tag_types",
        "programs",
        "static_lists",
        "static_list_members",
        "lead_partitions",
    }
    paths = {
        "/rest/asset/v1/smartCampaigns.json": "campaigns",
        "/rest/asset/v1/segmentation/1001/segments.json": "segments",
        "/rest/asset/v1/program/1001.json": "programs",
        "/rest/v1/lists/2001/leads.json": "static_list_members",
    }
    for path, entity in paths.items():
        endpoint, _ = endpoint_of(path)
        assert endpoint.entity == entity
        assert client.api("GET", path)["success"], path
    assert endpoint_of("/rest/v1/leads.json") is None


def test_asset_paging_default_limits_and_end_warning(sb, client):
    campaigns = sb.data.reference.rows["campaigns"]
    first = client.api("GET", "/rest/asset/v1/smartCampaigns.json")
    assert len(first["result"]) == 20 and first["warnings"] == [] and first["errors"] == []
    rest = client.api("GET", "/rest/asset/v1/smartCampaigns.json", params={"offset": 20, "maxReturn": 200})
    assert len(rest["result"]) == len(campaigns) - 20
    past = client.api("GET", "/rest/asset/v1/smartCampaigns.json", params={"offset": len(campaigns)})
    assert past["success"] and "result" not in past and past["warnings"] == [NO_ASSETS]
    for bad in ({"maxReturn": 201}, {"maxReturn": 0}, {"offset": -1}, {"maxReturn": "x"}):
        body = client.api("GET", "/rest/asset/v1/emails.json", params=bad)
        assert not body["success"] and body["errors"][0]["code"] == "1003", bad
        assert body["warnings"] == []  # the asset API always carries both lists


def test_page_limit_reading_gives_short_pages_before_the_end(make_sandbox):
    sb = make_sandbox(page_limit=7)
    client = Client(sb)
    body = client.api("GET", "/rest/asset/v1/smartCampaigns.json", params={"maxReturn": 200})
    assert len(body["result"]) == 7
    assert len(browse(client, "/rest/asset/v1/smartCampaigns.json")) == len(sb.data.reference.rows["campaigns"])
    pages = list_pages(client, "/rest/v1/lists/2005/leads.json", fields="id")
    assert [len(p) for p in pages[:2]] == [7, 7] and sum(map(len, pages)) == 300


def test_campaigns_carry_every_documented_member_a_recurrence_and_special_text(client):
    rows = browse(client, "/rest/asset/v1/smartCampaigns.json")
    recurring = [r for r in rows if r["recurrence"].get("intervalType") == "Weekly"]
    assert recurring and set(recurring[0]["recurrence"]) == {
        "startAt",
        "endAt",
        "intervalType",
        "interval",
        "weekdayOnly",
        "weekdayMask",
    }
    assert recurring[0]["recurrence"]["startAt"].endswith("Z+0000")
    assert any(r["description"] == SPECIAL_DESCRIPTION for r in rows)
    assert any("folder" not in r for r in rows) and any(r.get("folder", {}).get("type") == "Program" for r in rows)
    assert all(r["createdAt"].endswith("Z+0000") and r["updatedAt"].endswith("Z+0000") for r in rows)
    assert any(r["qualificationRuleType"] == "interval" and "qualificationRuleUnit" in r for r in rows)


@pytest.mark.parametrize("inclusive", [True, False])
def test_updated_at_bounds_inclusive_or_not(make_sandbox, inclusive):
    sb = make_sandbox(updated_at_inclusive=inclusive)
    client = Client(sb)
    sb.data.reference.update("campaigns", [1003], AT)
    on_bounds = {"earliestUpdatedAt": "2024-04-03T12:00:00Z", "latestUpdatedAt": "2024-04-03T12:00:00Z"}
    body = client.api("GET", "/rest/asset/v1/smartCampaigns.json", params=on_bounds)
    assert not body["success"] and body["errors"][0]["code"] == "701"  # earliest must precede latest
    from_bound = browse(client, "/rest/asset/v1/smartCampaigns.json", earliestUpdatedAt="2024-04-03T12:00:00Z")
    to_bound = browse(client, "/rest/asset/v1/smartCampaigns.json", latestUpdatedAt="2024-04-03T12:00:00+00:00")
    assert ([r["id"] for r in from_bound] == [1003]) is inclusive
    assert (1003 in [r["id"] for r in to_bound]) is inclusive
    wider = browse(
        client,
        "/rest/asset/v1/smartCampaigns.json",
        earliestUpdatedAt="2024-04-03T11:59:59Z",
        latestUpdatedAt="2024-04-03T12:00:01Z",
    )
    assert [r["id"] for r in wider] == [1003]


@pytest.mark.parametrize("reading", ["versions", "latest"])
def test_status_readings_of_versioned_assets(make_sandbox, reading):
    sb = make_sandbox(asset_status_reading=reading)
    client = Client(sb)
    rows = sb.data.reference.rows["emails"]
    both = {r["id"] for r in rows if r["status"] == "draft"} & {r["id"] for r in rows if r["status"] == "approved"}
    approved_only = {r["id"] for r in rows if r["status"] == "approved"} - {
        r["id"] for r in rows if r["status"] == "draft"
    }
    assert both and approved_only
    approved = browse(client, "/rest/asset/v1/emails.json", status="approved")
    assert {r["status"] for r in approved} == {"approved"}
    drafts = browse(client, "/rest/asset/v1/emails.json", status="draft")
    unfiltered = browse(client, "/rest/asset/v1/emails.json")
    if reading == "versions":
        assert {r["status"] for r in drafts} == {"draft"}
        assert len(unfiltered) == len(rows)
    else:
        assert {r["id"] for r in drafts if r["status"] == "approved"} == approved_only
        assert len(unfiltered) == len({r["id"] for r in rows})
        assert {r["status"] for r in unfiltered if r["id"] in both} == {"draft"}
    templates = browse(client, "/rest/asset/v1/emailTemplates.json")
    assert {r["status"] for r in templates} <= {"Approved", "Draft"}  # capitalised, as the docs show them
    body = client.api("GET", "/rest/asset/v1/forms.json", params={"status": "published"})
    assert body["errors"][0]["code"] == "1003"


def test_lists_members_and_their_limits(sb, client):
    lists = {row["id"]: row for page in list_pages(client, "/rest/v1/lists.json") for row in page}
    sizes = {lst["id"]: len(lst["leadIds"]) for lst in sb.data.static_lists}
    assert set(lists) == set(sizes) and sorted(sizes.values()) == [0, 1, 25, 25, 120, 300]
    assert all(row["createdAt"].endswith("Z") and "+" not in row["createdAt"] for row in lists.values())
    assert "leadIds" not in lists[2001] and lists[2001]["workspaceName"] == "Default"
    for list_id in sizes:
        members = [
            row for page in list_pages(client, f"/rest/v1/lists/{list_id}/leads.json", fields="id") for row in page
        ]
        assert [m["id"] for m in members] == sorted(sb.data.reference.static_list(list_id)["leadIds"]), list_id
        assert all(set(m) == {"id"} for m in members)
    full = client.api("GET", "/rest/v1/lists/2005/leads.json", params={"fields": "id"})
    assert len(full["result"]) == 300 and full["moreResult"] is False and "nextPageToken" not in full
    default = client.api("GET", "/rest/v1/lists/2004/leads.json")["result"][0]
    assert set(default) == {"id", "email", "updatedAt", "createdAt", "lastName", "firstName"}
    for path, params, code in [
        ("/rest/v1/lists/2001/leads.json", {"batchSize": 301}, "1003"),
        ("/rest/v1/lists.json", {"batchSize": 301}, "1003"),
        ("/rest/v1/lists/2001/leads.json", {"fields": "id,nope"}, "1006"),
        ("/rest/v1/lists/9999/leads.json", {}, "1013"),
        ("/rest/v1/lists/2001/leads.json", {"nextPageToken": "garbage"}, "1003"),
    ]:
        body = client.api("GET", path, params=params)
        assert not body["success"] and body["errors"][0]["code"] == code, (path, params)


def test_rest_members_agree_with_a_bulk_static_list_export(sb, client):
    sb.data.reference.add_list_members(2001, [1, 2, 3])
    sb.data.reference.remove_list_members(2001, sb.data.static_lists[0]["leadIds"][-2:])
    rest = [row["id"] for page in list_pages(client, "/rest/v1/lists/2001/leads.json", fields="id") for row in page]
    _, content = client.export("leads", {"fields": ["id"], "filter": {"staticListId": 2001}})
    header, rows = parse_file(content)
    assert header == ["id"] and [int(r[0]) for r in rows] == rest
    assert {1, 2, 3} <= set(rest)


def test_program_by_id_adds_tags_costs_and_dates_the_browse_lacks(sb, client):
    programs = browse(client, "/rest/asset/v1/programs.json")
    assert len(programs) == len(sb.data.programs)
    assert not any({"tags", "costs", "startDate", "endDate"} & set(p) for p in programs)
    assert any("sfdcId" in p and "sfdcName" in p for p in programs)
    details = {p["id"]: client.api("GET", f"/rest/asset/v1/program/{p['id']}.json")["result"][0] for p in programs}
    assert any(d["costs"] is None for d in details.values())
    assert any(len(d["costs"] or []) == 2 for d in details.values())
    assert any(d["tags"] == [] for d in details.values()) and any(len(d["tags"]) == 2 for d in details.values())
    event = next(d for d in details.values() if d["type"] == "Event")
    assert event["startDate"].endswith("Z+0000") and event["endDate"] > event["startDate"]
    missing = client.api("GET", "/rest/asset/v1/program/99.json")
    assert missing["success"] and "result" not in missing and missing["warnings"] == [NO_ASSETS]

    sb.data.reference.update_program(1001, AT, tags=[{"tagType": "Region", "tagValue": "APAC"}], costs=[])
    changed = browse(client, "/rest/asset/v1/programs.json", earliestUpdatedAt="2024-04-03T00:00:00Z")
    assert [p["id"] for p in changed] == [1001] and changed[0]["updatedAt"] == "2024-04-03T12:00:00Z+0000"
    again = client.api("GET", "/rest/asset/v1/program/1001.json")["result"][0]
    assert (again["tags"], again["costs"]) == ([{"tagType": "Region", "tagValue": "APAC"}], [])


def test_segments_by_segmentation_and_status(client):
    segmentations = browse(client, "/rest/asset/v1/segmentation.json", status="approved")
    assert [s["id"] for s in segmentations] == [1001, 1003]
    segments = browse(client, "/rest/asset/v1/segmentation/1001/segments.json", status="approved")
    assert segments[0]["name"] == "Default" and {s["segmentationId"] for s in segments} == {1001}
    drafts = browse(client, "/rest/asset/v1/segmentation/1002/segments.json", status="draft")
    assert (
        len(drafts) == 4 and browse(client, "/rest/asset/v1/segmentation/1002/segments.json", status="approved") == []
    )


def test_channels_tag_types_and_partitions(sb, client):
    channels = browse(client, "/rest/asset/v1/channels.json")
    assert [c["name"] for c in channels][:2] == ["Email Blast", "Webinar"]
    assert channels[0]["progressionStatuses"][0] == {
        "name": "Not in Program",
        "step": 0,
        "description": None,
        "hidden": False,
        "success": False,
        "type": "Member",
    }
    tags = browse(client, "/rest/asset/v1/tagTypes.json")
    assert tags[0]["applicableProgramTypes"].startswith("[") and isinstance(tags[0]["required"], bool)
    partitions = client.api("GET", "/rest/v1/leads/partitions.json")
    assert partitions["result"] == sb.data.reference.rows["lead_partitions"] and "nextPageToken" not in partitions


def test_changes_over_time(sb, client):
    ref = sb.data.reference
    new = ref.add("emails", 2, AT)
    ref.update("emails", [4002], AT + dt.timedelta(hours=1), status="approved", name="Renamed")
    ref.add_draft("emails", 4002, AT + dt.timedelta(hours=2))
    ref.approve_draft("emails", 4000, AT + dt.timedelta(hours=3))  # 4000 has a draft
    since = browse(client, "/rest/asset/v1/emails.json", earliestUpdatedAt="2024-04-03T00:00:00Z", status="approved")
    assert sorted(r["id"] for r in since) == sorted([*new, 4002, 4000])
    drafts = browse(client, "/rest/asset/v1/emails.json", earliestUpdatedAt="2024-04-03T00:00:00Z", status="draft")
    assert [(r["id"], r["name"]) for r in drafts] == [(4002, "Renamed (draft)")]
    assert 4000 not in {r["id"] for r in browse(client, "/rest/asset/v1/emails.json", status="draft")}
    added = ref.add("campaigns", 1, AT)
    assert [
        r["id"] for r in browse(client, "/rest/asset/v1/smartCampaigns.json", earliestUpdatedAt="2024-04-03T00:00:00Z")
    ] == added
