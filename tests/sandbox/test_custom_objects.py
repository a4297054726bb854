"""Custom objects: list/describe shapes, refused types, create validation, exports, job list, faults."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from tap_marketo_bulk.sandbox import SandboxData
from tap_marketo_bulk.sandbox.cli import build_parser, options_from_args
from tap_marketo_bulk.sandbox.data import SPECIAL_STRINGS, parse_dt
from tap_marketo_bulk.sandbox.files import to_text

from .helpers import JAN, Client, parse_file

UTC = timezone.utc
PURCHASE = "customobjects/purchase_c"
PURCHASE_FIELDS = [
    "createdAt",
    "marketoGUID",
    "updatedAt",
    "leadId",
    "purchaseId",
    "productName",
    "amount",
    "quantity",
    "purchasedAt",
    "isRefunded",
    "notes",
]
LIST_KEYS = {
    "name",
    "displayName",
    "pluralName",
    "description",
    "createdAt",
    "updatedAt",
    "idField",
    "dedupeFields",
    "searchableFields",
    "relationships",
}
CREATED_KEYS = {"exportId", "format", "status", "createdAt"}
COMPLETED_KEYS = CREATED_KEYS | {"queuedAt", "startedAt", "finishedAt", "numberOfRecords", "fileSize", "fileChecksum"}
AT = datetime(2024, 4, 2, 12, 0, 0, tzinfo=UTC)  # after the generated range
ROOT = Path(__file__).resolve().parents[2]


def body(fields=None, **flt):
    return {"fields": fields or PURCHASE_FIELDS, "filter": flt or {"updatedAt": JAN}}


def truth(sb, api, fields, keep):
    """Export text of the records ``keep`` selects, in the sandbox's documented row order."""
    recs = [c for c in sb.data.custom.records[api] if keep(c)]
    recs.sort(key=lambda c: (c.get("leadId") or 0, c["createdAt"], c["marketoGUID"]))
    return [[to_text(c.get(f)) for f in fields] for c in recs]


def in_window(lo, hi, inclusive):
    lo, hi = parse_dt(lo), parse_dt(hi)
    return lambda c: lo <= c["updatedAt"] <= hi if inclusive else lo <= c["updatedAt"] < hi


def err(envelope):
    assert envelope["success"] is False, envelope
    return envelope["errors"][0]


# ------------------------------------------------------------------ data


def test_data_deterministic_and_independent_of_other_data():
    a, b = SandboxData(seed=3), SandboxData(seed=3)
    assert a.custom.records == b.custom.records
    assert SandboxData(seed=4).custom.records != a.custom.records
    none = SandboxData(seed=3, custom_object_records=0)
    assert none.leads == a.leads and none.activities == a.activities
    assert none.program_members == a.program_members and none.lead_last_modified == a.lead_last_modified
    assert all(v == [] for v in none.custom.records.values())


def test_data_records_shape_and_coverage():
    d = SandboxData()
    counts = {k: len(v) for k, v in d.custom.records.items()}
    assert counts == {"purchase_c": 300, "subscription_c": 200, "usage_c": 60, "invoice_c": 100, "shipment_c": 0}
    lead_ids = {ld["id"] for ld in d.leads}
    for api in ("purchase_c", "subscription_c", "invoice_c"):
        recs = d.custom.records[api]
        assert set(recs[0]) == set(d.custom.field_names(api))
        assert all(d.start <= c["createdAt"] <= c["updatedAt"] < d.end for c in recs)
        assert all(c["leadId"] in lead_ids for c in recs)
        assert {c["updatedAt"] for c in recs} >= set(d.boundaries)
        assert any(c["updatedAt"] > c["createdAt"] for c in recs)
        assert any(c["updatedAt"] in d.boundaries and c["createdAt"] < c["updatedAt"] for c in recs)
        assert len({c["marketoGUID"] for c in recs}) == len(recs)
    subs = d.custom.records["subscription_c"]
    assert len({(s["leadId"], s["productCode"]) for s in subs}) == len(subs)
    assert any(s["seats"] is None for s in subs) and any(s["discountPct"] is None for s in subs)
    assert any(isinstance(s["discountPct"], float) for s in subs)
    notes = {p["notes"] for p in d.custom.records["purchase_c"]}
    assert set(SPECIAL_STRINGS) <= notes and None in notes
    guids = {s["marketoGUID"] for s in subs}
    assert all(u["subscriptionGUID"] in guids for u in d.custom.records["usage_c"])


def test_sandbox_data_delegates_to_custom():
    """The SandboxData names the e2e/faults/integration tests use reach the same CustomObjectData."""
    d = SandboxData(seed=2, custom_object_records=20)
    assert d.custom_object_records is d.custom.records
    assert d.custom_object("purchase_c") is d.custom.get("purchase_c") and d.custom_object("nope_c") is None
    assert d.custom_object_field_names("usage_c") == d.custom.field_names("usage_c")
    (guid,) = d.add_custom_object_records("purchase_c", 1, AT, lead_id=3)
    d.update_custom_object_records("purchase_c", [guid], AT + timedelta(hours=1), notes="x")
    rec = next(c for c in d.custom.records["purchase_c"] if c["marketoGUID"] == guid)
    assert (rec["leadId"], rec["notes"], rec["updatedAt"]) == (3, "x", AT + timedelta(hours=1))


def test_mutations_seen_by_the_next_export(sb, client):
    d = sb.data
    new = d.custom.add_records("purchase_c", 2, AT, lead_id=5)
    old = [c["marketoGUID"] for c in d.custom.records["purchase_c"][10:13]]
    d.custom.update_records("purchase_c", old, AT + timedelta(hours=1), notes='Changed, "X"\nline')
    before = {c["marketoGUID"]: c["quantity"] for c in d.custom.records["purchase_c"]}
    d.custom.update_records("purchase_c", [new[0]], AT + timedelta(hours=2))  # bumps quantity
    assert {c["marketoGUID"]: c["quantity"] for c in d.custom.records["purchase_c"]}[new[0]] == (before[new[0]] + 1)
    subs = d.custom.add_records("subscription_c", 2, AT, lead_id=7)
    keys = [(s["leadId"], s["productCode"]) for s in d.custom.records["subscription_c"]]
    assert len(set(keys)) == len(keys) and len(subs) == 2
    with pytest.raises(ValueError):
        d.custom.update_records("purchase_c", old, AT, nope=1)
    with pytest.raises(ValueError):
        d.custom.update_records("purchase_c", ["no-such-guid"], AT)
    with pytest.raises(ValueError):
        d.custom.add_records("shipment_c", 1, AT)
    win = {"startAt": "2024-04-02T12:00:00Z", "endAt": "2024-04-05T00:00:00Z"}
    job, content = client.export(PURCHASE, body(updatedAt=win))
    header, rows = parse_file(content)
    assert header == PURCHASE_FIELDS and job["numberOfRecords"] == 5
    assert {r[1] for r in rows} == set(new) | set(old)
    assert rows == truth(sb, "purchase_c", PURCHASE_FIELDS, in_window(win["startAt"], win["endAt"], True))
    assert all(r[10] == 'Changed, "X"\nline' for r in rows if r[1] in old)
    assert sum(1 for r in rows if r[3] == "5") >= 2


def test_delete_leads_removes_their_records(sb):
    lead = sb.data.custom.records["purchase_c"][0]["leadId"]
    sb.data.delete_leads([lead], AT)
    for api in ("purchase_c", "subscription_c", "invoice_c"):
        assert all(c["leadId"] != lead for c in sb.data.custom.records[api])
    subs = {s["marketoGUID"] for s in sb.data.custom.records["subscription_c"]}
    assert all(u["subscriptionGUID"] in subs for u in sb.data.custom.records["usage_c"])


# ------------------------------------------------------------------ list and describe


def test_list_shape_and_names_filter(client):
    res = client.api("GET", "/rest/v1/customobjects.json")
    assert res["success"] is True
    types = res["result"]
    assert [t["name"] for t in types] == ["purchase_c", "subscription_c", "usage_c", "invoice_c"]
    assert all(set(t) == LIST_KEYS for t in types)
    p = types[0]
    assert p["displayName"] == "Purchase" and p["pluralName"] == "Purchases" and p["idField"] == "marketoGUID"
    assert p["dedupeFields"] == ["purchaseId"]
    assert p["searchableFields"] == [["purchaseId"], ["marketoGUID"], ["leadId"]]
    assert p["relationships"] == [{"field": "leadId", "type": "child", "relatedTo": {"name": "Lead", "field": "id"}}]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", p["createdAt"])
    assert types[1]["dedupeFields"] == ["leadId", "productCode"]
    assert types[2]["relationships"][0]["relatedTo"] == {"name": "subscription_c", "field": "marketoGUID"}
    some = client.api("GET", "/rest/v1/customobjects.json", params={"names": "usage_c, invoice_c,nope"})
    assert [t["name"] for t in some["result"]] == ["usage_c", "invoice_c"]
    assert client.api("GET", "/rest/v1/customobjects.json", params={"names": "nope"})["result"] == []


def test_describe_shape(client):
    res = client.api("GET", "/rest/v1/customobjects/purchase_c/describe.json")
    (obj,) = res["result"]
    assert set(obj) == LIST_KEYS | {"fields"}
    assert [f["name"] for f in obj["fields"]] == PURCHASE_FIELDS
    by = {f["name"]: f for f in obj["fields"]}
    assert by["marketoGUID"] == {
        "name": "marketoGUID",
        "displayName": "Marketo GUID",
        "dataType": "string",
        "length": 36,
        "updateable": False,
        "crmManaged": False,
    }
    assert by["leadId"] == {
        "name": "leadId",
        "displayName": "Lead ID",
        "dataType": "integer",
        "updateable": True,
        "crmManaged": False,
    }
    assert {n: f["dataType"] for n, f in by.items()} == {
        "createdAt": "datetime",
        "marketoGUID": "string",
        "updatedAt": "datetime",
        "leadId": "integer",
        "purchaseId": "string",
        "productName": "string",
        "amount": "currency",
        "quantity": "integer",
        "purchasedAt": "datetime",
        "isRefunded": "boolean",
        "notes": "text",
    }
    sub = client.api("GET", "/rest/v1/customobjects/subscription_c/describe.json")["result"][0]
    assert {f["dataType"] for f in sub["fields"]} == {"datetime", "string", "integer", "date", "float", "boolean"}


def test_describe_errors(client):
    assert err(client.api("GET", "/rest/v1/customobjects/nope_c/describe.json")) == {
        "code": "1013",
        "message": "Object not found",
    }
    assert err(client.api("GET", "/rest/v1/customobjects/invoice_c/describe.json")) == {
        "code": "603",
        "message": "Access denied",
    }
    assert err(client.api("GET", "/rest/v1/customobjects/shipment_c/describe.json"))["code"] == "1013"


def test_list_state_knob_shows_draft(make_sandbox):
    c = Client(make_sandbox(custom_object_list_state=True))
    types = c.api("GET", "/rest/v1/customobjects.json")["result"]
    assert [(t["name"], t["state"], t["version"]) for t in types] == [
        ("purchase_c", "approved", "approved"),
        ("subscription_c", "approved", "approved"),
        ("usage_c", "approved", "approved"),
        ("invoice_c", "approved", "approved"),
        ("shipment_c", "draft", "draft"),
    ]
    assert all(set(t) == LIST_KEYS | {"state", "version"} for t in types)
    draft = c.api("GET", "/rest/v1/customobjects/shipment_c/describe.json")["result"][0]
    assert draft["state"] == "draft" and draft["idField"] is None and draft["createdAt"] is None


def test_schema_endpoints_carry_state(client):
    types = client.api("GET", "/rest/v1/customobjects/schema.json")["result"]
    assert [(t["apiName"], t["state"]) for t in types][-1] == ("shipment_c", "draft")
    assert all(set(t) == (LIST_KEYS - {"name"}) | {"apiName", "state", "version", "fields"} for t in types)
    drafts = client.api("GET", "/rest/v1/customobjects/schema.json", params={"state": "draft"})["result"]
    assert [t["apiName"] for t in drafts] == ["shipment_c"]
    one = client.api("GET", "/rest/v1/customobjects/schema/shipment_c/describe.json")["result"][0]
    assert one["state"] == "draft" and one["version"] == "draft" and one["dedupeFields"] == ["trackingNumber"]
    approved = client.api("GET", "/rest/v1/customobjects/schema/shipment_c/describe.json", params={"state": "approved"})
    assert err(approved)["code"] == "1013"
    assert err(client.api("GET", "/rest/v1/customobjects/schema.json", params={"state": "x"}))["code"] == "1003"


# ------------------------------------------------------------------ create: refused types and validation


def test_refused_types(sb, client):
    assert err(client.create("customobjects/usage_c", body(["marketoGUID"]))) == {
        "code": "1003",
        "message": "Custom object 'usage_c' is not linked directly to Lead: "
        "only first-level custom objects can be exported",
    }
    assert err(client.create("customobjects/invoice_c", body(["marketoGUID"]))) == {
        "code": "603",
        "message": "Access denied",
    }
    assert err(client.create("customobjects/shipment_c", body(["marketoGUID"]))) == {
        "code": "1003",
        "message": "Custom object 'shipment_c' is in state 'draft': only approved custom objects can be exported",
    }
    assert err(client.create("customobjects/nope_c", body(["marketoGUID"]))) == {
        "code": "1013",
        "message": "Object not found",
    }
    for action in ("export.json",):
        assert err(client.api("GET", f"/bulk/v1/customobjects/invoice_c/{action}"))["code"] == "603"
    assert client.api("GET", "/bulk/v1/customobjects/usage_c/export.json")["result"] == []
    assert sb.created_jobs() == {}


def test_denied_knob_empty_allows_invoice(make_sandbox):
    sb = make_sandbox(denied_custom_objects=frozenset())
    c = Client(sb)
    job, content = c.export(
        "customobjects/invoice_c", {"fields": ["invoiceNumber", "total"], "filter": {"updatedAt": JAN}}
    )
    expected = truth(sb, "invoice_c", ["invoiceNumber", "total"], in_window(JAN["startAt"], JAN["endAt"], True))
    assert parse_file(content)[1] == expected and job["numberOfRecords"] == len(expected) > 0


@pytest.mark.parametrize(
    "payload,message",
    [
        ({"filter": {"updatedAt": JAN}}, "Field 'fields' is required and must be a non-empty array"),
        ({"fields": [], "filter": {"updatedAt": JAN}}, "Field 'fields' is required and must be a non-empty array"),
        (body(["marketoGUID", "nope"]), "Invalid field 'nope'"),
        (body(["email"]), "Invalid field 'email'"),
        ({"fields": ["marketoGUID"]}, "Field 'filter' is required"),
        ({"fields": ["marketoGUID"], "filter": {}}, "Field 'filter' is required"),
        (
            body(["marketoGUID"], updatedAt=JAN, staticListId=2001),
            "Only one filter type may be specified per export job",
        ),
        (body(["marketoGUID"], createdAt=JAN), "Invalid filter type 'createdAt'"),
        (
            body(["marketoGUID"], updatedAt={"startAt": "2024-01-01T00:00:00Z", "endAt": "2024-02-01T00:00:01Z"}),
            "Invalid filter 'updatedAt': date range exceeds 31 days",
        ),
        (
            body(["marketoGUID"], updatedAt={"startAt": "2024-01-01T00:00:00.000Z", "endAt": "2024-01-02T00:00:00Z"}),
            "Invalid date value '2024-01-01T00:00:00.000Z' for updatedAt.startAt: "
            "expected ISO-8601 without milliseconds",
        ),
        (body(["marketoGUID"], updatedAt={"startAt": "2024-01-01T00:00:00Z"}), None),
        ({**body(["marketoGUID"]), "format": "XLS"}, "Invalid format 'XLS': must be CSV, TSV or SSV"),
        (
            {**body(["marketoGUID"]), "columnHeaderNames": {"leadId": "Lead"}},
            "Invalid columnHeaderNames key 'leadId': field not in fields",
        ),
        (body(["marketoGUID"], staticListId=999), "Invalid filter 'staticListId': list 999 not found"),
        (body(["marketoGUID"], smartListName="nope"), "Invalid filter 'smartListName': list 'nope' not found"),
    ],
)
def test_create_validation(sb, client, payload, message):
    e = err(client.create(PURCHASE, payload))
    assert e["code"] == "1003"
    if message is None:
        assert e["message"] == "Invalid filter 'updatedAt': startAt and endAt are required"
    else:
        assert e["message"] == message
    assert sb.created_jobs() == {} and sb.jobs() == []


def test_31_day_window_accepted(client):
    res = client.create(PURCHASE, body(updatedAt={"startAt": "2024-01-01T00:00:00Z", "endAt": "2024-02-01T00:00:00Z"}))
    assert res["success"] is True and set(res["result"][0]) == CREATED_KEYS


@pytest.mark.parametrize("kind", ["updatedAt", "smartListId", "smartListName"])
def test_disabled_filters_1035(make_sandbox, kind):
    sb = make_sandbox(disabled_filters=frozenset({f"customobjects.{kind}"}))
    c = Client(sb)
    value = {"updatedAt": JAN, "smartListId": 3001, "smartListName": "All Engaged"}[kind]
    assert err(c.create(PURCHASE, body(["marketoGUID"], **{kind: value}))) == {
        "code": "1035",
        "message": "Unsupported filter type for target subscription",
    }
    assert c.create(PURCHASE, body(["marketoGUID"], staticListId=2001))["success"] is True
    # the lead filter of the same name is not affected
    assert c.create("leads", {"fields": ["id"], "filter": {kind: value}})["success"] is True


# ------------------------------------------------------------------ exports


@pytest.mark.parametrize("inclusive", [True, False])
def test_export_window_exact_file(make_sandbox, inclusive):
    sb = make_sandbox(end_at_inclusive=inclusive)
    c = Client(sb)
    job, content = c.export(PURCHASE, body())
    header, rows = parse_file(content)
    assert header == PURCHASE_FIELDS
    expected = truth(sb, "purchase_c", PURCHASE_FIELDS, in_window(JAN["startAt"], JAN["endAt"], inclusive))
    assert rows == expected and job["numberOfRecords"] == len(rows) > 50
    assert job["fileSize"] == len(content) and job["fileChecksum"] == "sha256:" + hashlib.sha256(content).hexdigest()
    assert set(job) == COMPLETED_KEYS
    end = parse_dt(JAN["endAt"])
    on_end = {c["marketoGUID"] for c in sb.data.custom.records["purchase_c"] if c["updatedAt"] == end}
    on_start = {c["marketoGUID"] for c in sb.data.custom.records["purchase_c"] if c["updatedAt"] == sb.data.start}
    assert len(on_end) >= 2 and on_start
    guids = {r[1] for r in rows}
    if inclusive:
        assert on_end <= guids
    else:
        assert not on_end & guids
    assert on_start <= guids
    assert content.endswith(b"\n") and not content.startswith(b"\xef\xbb\xbf")
    assert b",null" in content and b",false," in content


def test_export_renames_tsv_and_static_list(sb, client):
    fields = ["leadId", "productCode", "plan", "seats", "renewalDate", "discountPct", "active"]
    job, content = client.export(
        "customobjects/subscription_c",
        {
            "fields": fields,
            "format": "TSV",
            "columnHeaderNames": {"leadId": "Lead Id", "discountPct": "Discount %"},
            "filter": {"staticListName": 'VIP, "Gold" Customers'},
        },
    )
    header, rows = parse_file(content, "\t")
    assert header == ["Lead Id", "productCode", "plan", "seats", "renewalDate", "Discount %", "active"]
    members = set(next(x for x in sb.data.static_lists if x["name"] == 'VIP, "Gold" Customers')["leadIds"])
    expected = truth(sb, "subscription_c", fields, lambda c: c["leadId"] in members)
    assert rows == expected and len(rows) == job["numberOfRecords"] > 0
    assert {int(r[0]) for r in rows} <= members
    assert None in {r[3] for r in rows} | {r[5] for r in rows}


def test_smart_list_filter(sb, client):
    _, content = client.export(PURCHASE, body(["marketoGUID", "leadId"], smartListId=3002))
    members = set(next(x for x in sb.data.smart_lists if x["id"] == 3002)["leadIds"])
    assert parse_file(content)[1] == truth(
        sb, "purchase_c", ["marketoGUID", "leadId"], lambda c: c["leadId"] in members
    )


def test_range_download(sb, client):
    job, content = client.export(PURCHASE, body())
    path = f"/bulk/v1/{PURCHASE}/export/{job['exportId']}/file.json"
    total = len(content)
    r = client.get(path, headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and r.content == content[:100]
    assert r.headers["Content-Range"] == f"bytes 0-99/{total}" and r.headers["Accept-Ranges"] == "bytes"
    rest = client.get(path, headers={"Range": "bytes=100-"})
    assert rest.status_code == 206 and r.content + rest.content == content
    bad = client.get(path, headers={"Range": f"bytes={total}-"})
    assert bad.status_code == 416 and bad.headers["Content-Range"] == f"bytes */{total}"
    assert client.get(f"/bulk/v1/customobjects/subscription_c/export/{job['exportId']}/file.json").status_code == 404


def test_download_faults_match_custom_object_paths(sb, client):
    job, content = client.export(PURCHASE, body())
    path = f"/bulk/v1/{PURCHASE}/export/{job['exportId']}/file.json"
    sb.faults.add("corrupt_download", path_contains="customobjects/purchase_c", position=5)
    r = client.get(path)
    assert r.status_code == 200 and r.content != content and len(r.content) == len(content)
    assert client.get(path).content == content
    sb.faults.add("fail_job", path_contains="customobjects")
    eid = client.create(PURCHASE, body())["result"][0]["exportId"]
    client.job_call(PURCHASE, eid, "enqueue")
    st = client.job_call(PURCHASE, eid, "status")["result"][0]
    assert st["status"] == "Failed" and set(st) == CREATED_KEYS | {"queuedAt", "startedAt", "finishedAt", "errorMsg"}


# ------------------------------------------------------------------ job list


def test_job_list_documented_keys_paging_and_7_days(make_sandbox):
    sb = make_sandbox()
    c = Client(sb)
    listing = f"/bulk/v1/{PURCHASE}/export.json"
    ids = [c.create(PURCHASE, body())["result"][0]["exportId"] for _ in range(4)]
    c.job_call(PURCHASE, ids[0], "enqueue")  # completes at once
    c.job_call(PURCHASE, ids[1], "cancel")
    sb.faults.add("fail_job")
    c.job_call(PURCHASE, ids[2], "enqueue")
    jobs = {j["exportId"]: j for j in c.api("GET", listing)["result"]}
    assert list(jobs) == ids
    assert [jobs[i]["status"] for i in ids] == ["Completed", "Cancelled", "Failed", "Created"]
    assert set(jobs[ids[0]]) == COMPLETED_KEYS
    assert set(jobs[ids[1]]) == CREATED_KEYS
    assert set(jobs[ids[2]]) == CREATED_KEYS | {"queuedAt", "startedAt", "finishedAt", "errorMsg"}
    assert set(jobs[ids[3]]) == CREATED_KEYS
    assert all(j["format"] == "CSV" for j in jobs.values())
    assert [j["exportId"] for j in c.api("GET", listing, params={"status": "Failed,Created"})["result"]] == ids[2:]
    assert c.api("GET", listing, params={"status": "canceled"})["result"] == []  # exact values by default
    p1 = c.api("GET", listing, params={"batchSize": 3})
    assert len(p1["result"]) == 3 and p1["moreResult"] is True
    p2 = c.api("GET", listing, params={"batchSize": 3, "nextPageToken": p1["nextPageToken"]})
    assert [j["exportId"] for j in p1["result"] + p2["result"]] == ids and p2["moreResult"] is False
    assert "nextPageToken" not in p2
    assert len(c.api("GET", listing, params={"batchSize": 1000})["result"]) == 4  # capped at 300, not refused
    assert c.api("GET", "/bulk/v1/leads/export.json")["result"] == []  # per entity
    assert c.api("GET", "/bulk/v1/customobjects/subscription_c/export.json")["result"] == []
    sb.advance(7 * 86400 - 60)
    assert len(c.api("GET", listing)["result"]) == 4
    sb.advance(120)
    assert c.api("GET", listing)["result"] == []
    assert c.job_call(PURCHASE, ids[0], "status")["result"][0]["status"] == "Completed"  # status outlives the list


def test_job_list_lenient_status_knob(make_sandbox):
    c = Client(make_sandbox(job_list_status_lenient=True))
    eid = c.create(PURCHASE, body())["result"][0]["exportId"]
    c.job_call(PURCHASE, eid, "cancel")
    listing = f"/bulk/v1/{PURCHASE}/export.json"
    for value in ("Canceled", "cancelled", "CANCELLED"):
        assert [j["exportId"] for j in c.api("GET", listing, params={"status": value})["result"]] == [eid]
    assert c.api("GET", listing, params={"status": "created"})["result"] == []


# ------------------------------------------------------------------ limits shared with the other entities


def test_two_processing_across_leads_and_custom_objects(make_sandbox):
    sb = make_sandbox(min_processing_seconds=100)
    c = Client(sb)
    lead = c.create("leads", {"fields": ["id"], "filter": {"createdAt": JAN}})["result"][0]["exportId"]
    cos = [c.create(PURCHASE, body())["result"][0]["exportId"] for _ in range(2)]
    for entity, eid in [("leads", lead), (PURCHASE, cos[0]), (PURCHASE, cos[1])]:
        assert c.job_call(entity, eid, "enqueue")["success"]
    assert [(j["entity"], j["status"]) for j in sb.jobs()] == [
        ("leads", "Processing"),
        (PURCHASE, "Processing"),
        (PURCHASE, "Queued"),
    ]
    sb.advance(100)
    assert [j["status"] for j in sb.jobs()] == ["Completed", "Completed", "Processing"]


def test_ten_queued_across_leads_and_custom_objects(make_sandbox):
    sb = make_sandbox(min_processing_seconds=1000)
    c = Client(sb)
    lead_ids = [
        c.create("leads", {"fields": ["id"], "filter": {"createdAt": JAN}})["result"][0]["exportId"] for _ in range(5)
    ]
    co_ids = [c.create(PURCHASE, body())["result"][0]["exportId"] for _ in range(6)]
    for eid in lead_ids:
        assert c.job_call("leads", eid, "enqueue")["success"]
    for eid in co_ids[:5]:
        assert c.job_call(PURCHASE, eid, "enqueue")["success"]
    assert err(c.job_call(PURCHASE, co_ids[5], "enqueue")) == {"code": "1029", "message": "Too many jobs (10) in queue"}
    assert c.job_call("leads", lead_ids[0], "cancel")["result"][0]["status"] == "Cancelled"
    assert c.job_call(PURCHASE, co_ids[5], "enqueue")["success"]
    assert sb.created_jobs() == {"leads": 5, PURCHASE: 6}


# ------------------------------------------------------------------ create faults


def test_hold_create_job_listed_before_the_answer(sb, client):
    sb.faults.add("hold_create", path_contains="customobjects/purchase_c", seconds=2.0)
    assert err(client.create(PURCHASE, body(["nope"])))["code"] == "1003"  # invalid: answered, fault kept
    assert client.create("leads", {"fields": ["id"], "filter": {"createdAt": JAN}})["success"]  # not matching
    assert len(sb.faults.pending()) == 1
    answer: dict = {}
    started = time.monotonic()
    t = threading.Thread(
        target=lambda: answer.update(r=client.post(f"/bulk/v1/{PURCHASE}/export/create.json", json=body()))
    )
    t.start()
    other = Client(sb)
    listing = f"/bulk/v1/{PURCHASE}/export.json"
    deadline = time.monotonic() + 1.5
    listed: list = []
    while not listed and time.monotonic() < deadline:
        listed = other.api("GET", listing)["result"]
        time.sleep(0.02)
    assert t.is_alive() and "r" not in answer  # Marketo has the job; the caller has no id yet
    assert len(listed) == 1 and listed[0]["status"] == "Created"
    assert sb.created_jobs() == {"leads": 1, PURCHASE: 1}
    t.join(timeout=10)
    assert time.monotonic() - started >= 2.0
    r = answer["r"]
    assert r.status_code == 200 and r.json()["result"][0]["exportId"] == listed[0]["exportId"]
    assert sb.faults.pending() == []


def test_create_then_502(sb, client):
    sb.faults.add("create_then_502", path_contains="customobjects")
    r = client.post(f"/bulk/v1/{PURCHASE}/export/create.json", json=body())
    assert r.status_code == 502 and r.text == "Bad Gateway" and r.headers["Content-Type"].startswith("text/plain")
    (job,) = sb.jobs(PURCHASE)
    assert job["status"] == "Created" and job["request"] == body()
    listed = client.api("GET", f"/bulk/v1/{PURCHASE}/export.json")["result"]
    assert [j["exportId"] for j in listed] == [job["exportId"]]
    assert client.job_call(PURCHASE, job["exportId"], "enqueue")["success"]  # the lost job is usable
    assert client.create(PURCHASE, body())["success"] is True  # fired once
    assert sb.created_jobs() == {PURCHASE: 2}


def test_http_fault_before_create_makes_no_job(sb, client):
    sb.faults.add("http_502", path_contains="customobjects/purchase_c/export/create")
    r = client.post(f"/bulk/v1/{PURCHASE}/export/create.json", json=body())
    assert r.status_code == 502 and sb.jobs() == [] and sb.created_jobs() == {}


# ------------------------------------------------------------------ control endpoints and CLI


def test_control_endpoints(sb, client):
    client.create(PURCHASE, body())
    n = len(sb.requests)
    r = requests.get(f"{sb.url}/_sandbox/jobs.json", params={"entity": PURCHASE}, timeout=5)
    assert r.status_code == 200
    got = r.json()
    assert got["created"] == {PURCHASE: 1} and [j["entity"] for j in got["jobs"]] == [PURCHASE]
    assert got["jobs"][0]["request"] == body()
    recs = requests.get(f"{sb.url}/_sandbox/customobjects/purchase_c/records.json", timeout=5).json()["records"]
    assert recs == [{f: to_text(c[f]) for f in PURCHASE_FIELDS} for c in sb.data.custom.records["purchase_c"]]
    assert requests.get(f"{sb.url}/_sandbox/customobjects/nope/records.json", timeout=5).status_code == 404
    assert len(sb.requests) == n  # control calls are not logged


def test_cli_options():
    ns = build_parser().parse_args(
        ["--denied-custom-objects", "", "--disable-filter", "customobjects.updatedAt", "--custom-object-list-state"]
    )
    o = options_from_args(ns)
    assert o.denied_custom_objects == frozenset() and o.disabled_filters == frozenset({"customobjects.updatedAt"})
    assert o.custom_object_list_state is True and o.job_list_status_lenient is False
    d = options_from_args(build_parser().parse_args([]))
    assert d.denied_custom_objects == frozenset({"invoice_c"}) and d.custom_object_records == 300
    two = options_from_args(build_parser().parse_args(["--denied-custom-objects", "invoice_c, purchase_c"]))
    assert two.denied_custom_objects == frozenset({"invoice_c", "purchase_c"})


def test_cli_serves_custom_objects():
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tap_marketo_bulk.sandbox",
            "--leads",
            "20",
            "--activities",
            "10",
            "--disable-filter",
            "customobjects.updatedAt",
            "--denied-custom-objects",
            "",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(ROOT),
    )
    try:
        url = re.fullmatch(r"Marketo sandbox listening on (http://\S+)", proc.stdout.readline().strip()).group(1)
        tok = requests.get(
            f"{url}/identity/oauth/token",
            params={
                "grant_type": "client_credentials",
                "client_id": "sandbox-client",
                "client_secret": "sandbox-secret",
            },
            timeout=5,
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {tok}"}
        names = [
            t["name"] for t in requests.get(f"{url}/rest/v1/customobjects.json", headers=h, timeout=5).json()["result"]
        ]
        assert names == ["purchase_c", "subscription_c", "usage_c", "invoice_c"]
        create = f"{url}/bulk/v1/customobjects/invoice_c/export/create.json"
        r = requests.post(create, headers=h, json={"fields": ["marketoGUID"], "filter": {"updatedAt": JAN}}, timeout=5)
        assert r.json()["errors"][0]["code"] == "1035"
        r = requests.post(
            create, headers=h, json={"fields": ["marketoGUID"], "filter": {"staticListId": 2001}}, timeout=5
        )
        assert r.json()["success"] is True  # invoice_c not denied
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
