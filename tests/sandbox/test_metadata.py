"""Describe endpoints, activity types, asset programs paging and deleted leads paging."""

from __future__ import annotations

import re

DATA_TYPES = {
    "string",
    "text",
    "textarea",
    "email",
    "phone",
    "url",
    "reference",
    "integer",
    "float",
    "currency",
    "percent",
    "score",
    "boolean",
    "date",
    "datetime",
    "lead_function",
    "array",
}


def test_leads_describe(sb, client):
    body = client.api("GET", "/rest/v1/leads/describe.json")
    fields = body["result"]
    assert body["success"] and body["requestId"]
    assert {f["dataType"] for f in fields} >= DATA_TYPES
    assert any("rest" not in f for f in fields), "one SOAP-only field"
    assert any(f["dataType"] == "formula" for f in fields)
    names = {f["rest"]["name"] for f in fields if "rest" in f}
    assert {
        "id",
        "email",
        "createdAt",
        "updatedAt",
        "annualRevenue",
        "leadScore",
        "dateOfBirth",
    } <= names


def test_leads_describe2(client):
    res = client.api("GET", "/rest/v1/leads/describe2.json")["result"]
    assert res[0]["name"] == "API Lead" and res[0]["searchableFields"]
    f = {x["name"]: x for x in res[0]["fields"]}
    assert f["id"]["updateable"] is False and f["email"]["updateable"] is True
    assert set(f["email"]) >= {
        "name",
        "displayName",
        "dataType",
        "length",
        "updateable",
        "crmManaged",
    }
    assert "soapOnlyField" not in f


def test_program_member_describe(client):
    res = client.api("GET", "/rest/v1/programs/members/describe.json")["result"][0]
    assert res["name"] == "API Program Membership" and res["dedupeFields"] == [
        "leadId",
        "programId",
    ]
    names = {f["name"] for f in res["fields"]}
    assert {
        "leadId",
        "programId",
        "membershipDate",
        "statusName",
        "progressionStatus",
        "reachedSuccess",
        "reachedSuccessDate",
        "isExhausted",
        "nurtureCadence",
        "nurtureTrack",
        "acquiredBy",
        "attendanceLikelihood",
        "registrationLikelihood",
        "updatedAt",
        "createdAt",
        "waitlistPriority",
        "webinarUrl",
    } <= names
    assert {f["dataType"] for f in res["fields"]} >= {
        "string",
        "integer",
        "boolean",
        "datetime",
        "date",
        "currency",
    }


def test_activity_types(client):
    types = {t["id"]: t for t in client.api("GET", "/rest/v1/activities/types.json")["result"]}
    assert {1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 22, 24, 37, 46, 104} <= set(types)
    assert types[1]["primaryAttribute"] == {"name": "Webpage ID", "dataType": "integer"}
    assert "primaryAttribute" not in types[46] and "attributes" not in types[46]


def test_programs_paging_and_dates(sb, client):
    page1 = client.api("GET", "/rest/asset/v1/programs.json", params={"offset": 0, "maxReturn": 10})
    assert page1["errors"] == [] and page1["warnings"] == [] and len(page1["result"]) == 10
    page2 = client.api("GET", "/rest/asset/v1/programs.json", params={"offset": 10, "maxReturn": 10})
    assert len(page2["result"]) == 4
    default = client.api("GET", "/rest/asset/v1/programs.json")
    assert len(default["result"]) == 14  # default maxReturn 20
    end = client.api("GET", "/rest/asset/v1/programs.json", params={"offset": 14, "maxReturn": 10})
    assert end["success"] and "result" not in end
    assert end["warnings"] == ["No assets found for the given search criteria."]
    p = page1["result"][0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\+0000", p["updatedAt"])
    assert {
        "id",
        "name",
        "description",
        "type",
        "channel",
        "status",
        "workspace",
        "folder",
        "url",
    } <= set(p)
    assert len({x["channel"] for x in page1["result"] + page2["result"]}) >= 5
    too_many = client.api("GET", "/rest/asset/v1/programs.json", params={"maxReturn": 201})
    assert too_many["success"] is False


def test_programs_updated_filter(sb, client):
    progs = sorted(sb.data.programs, key=lambda p: p["updatedAt"])
    lo = progs[5]["updatedAt"].strftime("%Y-%m-%dT%H:%M:%SZ")
    res = client.api("GET", "/rest/asset/v1/programs.json", params={"earliestUpdatedAt": lo, "maxReturn": 200})[
        "result"
    ]
    assert {p["id"] for p in res} == {p["id"] for p in progs[5:]}


def test_deleted_leads_paging(sb, client):
    from datetime import datetime, timezone

    at = datetime(2024, 3, 15, tzinfo=timezone.utc)
    ids = [ld["id"] for ld in sb.data.leads[:7]]
    sb.data.delete_leads(ids, at)
    tok = client.api(
        "GET",
        "/rest/v1/activities/pagingtoken.json",
        params={"sinceDatetime": "2024-03-15T00:00:00Z"},
    )
    token = tok["nextPageToken"]
    seen = []
    for _ in range(10):
        page = client.api(
            "GET",
            "/rest/v1/activities/deletedleads.json",
            params={"nextPageToken": token, "batchSize": 3},
        )
        assert page["success"]
        seen += page.get("result", [])
        token = page["nextPageToken"]
        if not page["moreResult"]:
            break
    assert [r["leadId"] for r in seen] == ids
    assert all(r["activityTypeId"] == 37 and r["activityDate"] == "2024-03-15T00:00:00Z" for r in seen)
    again = client.api("GET", "/rest/v1/activities/deletedleads.json", params={"nextPageToken": token})
    assert again["moreResult"] is False and "result" not in again
    assert client.api("GET", "/rest/v1/activities/pagingtoken.json")["errors"][0]["code"] == "1003"
    assert (
        client.api("GET", "/rest/v1/activities/deletedleads.json", params={"nextPageToken": "%%%"})["errors"][0]["code"]
        == "1003"
    )
    all_deleted = client.api(
        "GET",
        "/rest/v1/activities/deletedleads.json",
        params={
            "nextPageToken": client.api(
                "GET",
                "/rest/v1/activities/pagingtoken.json",
                params={"sinceDatetime": "2023-12-01T00:00:00Z"},
            )["nextPageToken"]
        },
    )
    assert len(all_deleted["result"]) == len(sb.data.deleted_leads)


def test_unknown_path_404(client):
    assert client.get("/rest/v1/nothing.json").status_code == 404


def test_asset_error_envelope_has_warnings(client):
    body = client.api("GET", "/rest/asset/v1/programs.json", params={"maxReturn": 0})
    assert body["success"] is False and body["errors"][0]["code"] and body["warnings"] == []
