"""Export job state machine: lifecycle, status refresh delay, limits (1029), cancel, expiry, quota."""

from __future__ import annotations

from datetime import datetime, timedelta

from tap_marketo_bulk.sandbox.jobs import CHICAGO

from .helpers import JAN, Client

LEADS_BODY = {"fields": ["id", "email"], "filter": {"createdAt": JAN}}


def _created(c: Client, entity: str = "leads", body: dict | None = None) -> str:
    return c.create(entity, body or LEADS_BODY)["result"][0]["exportId"]


def test_lifecycle_fields_omitted_per_state(client):
    created = client.create("leads", LEADS_BODY)["result"][0]
    assert created["status"] == "Created" and set(created) == {
        "exportId",
        "format",
        "status",
        "createdAt",
    }
    eid = created["exportId"]
    queued = client.job_call("leads", eid, "enqueue")["result"][0]
    assert queued["status"] == "Queued" and "queuedAt" in queued and "startedAt" not in queued
    done = client.job_call("leads", eid, "status")["result"][0]
    assert done["status"] == "Completed"
    assert set(done) == {
        "exportId",
        "format",
        "status",
        "createdAt",
        "queuedAt",
        "startedAt",
        "finishedAt",
        "numberOfRecords",
        "fileSize",
        "fileChecksum",
    }
    assert None not in done.values()


def test_status_refresh_delay_and_processing_time(make_sandbox):
    sb = make_sandbox(
        status_refresh_seconds=60,
        processing_seconds_per_1000_records=100,
        min_processing_seconds=30,
    )
    c = Client(sb)
    eid = _created(c)
    assert c.job_call("leads", eid, "enqueue")["result"][0]["status"] == "Queued"
    sb.advance(10)
    assert c.job_call("leads", eid, "status")["result"][0]["status"] == "Queued"  # cached
    sb.advance(50)
    st = c.job_call("leads", eid, "status")["result"][0]
    assert st["status"] == "Completed" or st["status"] == "Processing"
    job = sb.jobs()[0]
    assert job["status"] in ("Processing", "Completed")
    # processing time = max(30 s, records/1000*100 s)
    started = datetime.fromisoformat(job["startedAt"].replace("Z", "+00:00"))
    if job["status"] == "Completed":
        fin = datetime.fromisoformat(job["finishedAt"].replace("Z", "+00:00"))
        assert (fin - started).total_seconds() >= 30
    sb.advance(120)
    st = c.job_call("leads", eid, "status")["result"][0]
    assert st["status"] == "Completed" and st["numberOfRecords"] > 0


def test_processing_visible_between_polls(make_sandbox):
    sb = make_sandbox(status_refresh_seconds=60, min_processing_seconds=300)
    c = Client(sb)
    eid = _created(c)
    c.job_call("leads", eid, "enqueue")
    sb.advance(61)
    assert c.job_call("leads", eid, "status")["result"][0]["status"] == "Processing"
    r = c.get(f"/bulk/v1/leads/export/{eid}/file.json")
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/plain")
    sb.advance(300)
    assert c.job_call("leads", eid, "status")["result"][0]["status"] == "Completed"


def test_max_processing_two(make_sandbox):
    sb = make_sandbox(min_processing_seconds=100)
    c = Client(sb)
    ids = [_created(c) for _ in range(3)]
    for eid in ids:
        c.job_call("leads", eid, "enqueue")
    assert [j["status"] for j in sb.jobs()] == ["Processing", "Processing", "Queued"]
    sb.advance(100)
    assert [j["status"] for j in sb.jobs()] == ["Completed", "Completed", "Processing"]
    third = sb.jobs()[2]
    assert third["startedAt"] == sb.jobs()[0]["finishedAt"]  # started when a slot became free


def test_queue_limit_1029_and_already_queued(make_sandbox):
    sb = make_sandbox(min_processing_seconds=1000, max_queued=3)
    c = Client(sb)
    ids = [_created(c) for _ in range(4)]
    for eid in ids[:3]:
        assert c.job_call("leads", eid, "enqueue")["success"]
    err = c.job_call("leads", ids[3], "enqueue")["errors"][0]
    assert err == {"code": "1029", "message": "Too many jobs (3) in queue"}
    err = c.job_call("leads", ids[2], "enqueue")["errors"][0]
    assert err == {"code": "1029", "message": "Job already queued"}
    # the limit is shared across bulk types
    aid = _created(c, "activities", {"filter": {"createdAt": JAN}})
    assert c.job_call("activities", aid, "enqueue")["errors"][0]["code"] == "1029"
    assert c.job_call("leads", ids[0], "cancel")["result"][0]["status"] == "Cancelled"
    assert c.job_call("leads", ids[3], "enqueue")["success"]


def test_cancel_states(make_sandbox):
    sb = make_sandbox(min_processing_seconds=100)
    c = Client(sb)
    a, b = _created(c), _created(c)
    assert c.job_call("leads", a, "cancel")["result"][0]["status"] == "Cancelled"
    c.job_call("leads", b, "enqueue")
    assert c.job_call("leads", b, "cancel")["result"][0]["status"] == "Cancelled"  # from Processing
    assert c.job_call("leads", b, "cancel")["errors"][0]["code"] == "1003"  # final already
    assert c.get(f"/bulk/v1/leads/export/{b}/file.json").status_code == 404


def test_unknown_export_id_404(client):
    for action, method in (
        ("status", "GET"),
        ("file", "GET"),
        ("enqueue", "POST"),
        ("cancel", "POST"),
    ):
        path = f"/bulk/v1/leads/export/00000000-0000-0000-0000-000000000000/{action}.json"
        r = client.get(path) if method == "GET" else client.post(path)
        assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/plain")


def test_job_of_other_entity_404(client):
    eid = _created(client)
    assert client.get(f"/bulk/v1/activities/export/{eid}/status.json").status_code == 404


def test_fail_job_fault(sb, client):
    sb.faults.add("fail_job")
    eid = _created(client)
    client.job_call("leads", eid, "enqueue")
    st = client.job_call("leads", eid, "status")["result"][0]
    assert st["status"] == "Failed" and st["errorMsg"]
    assert "fileSize" not in st
    assert client.get(f"/bulk/v1/leads/export/{eid}/file.json").status_code == 404
    assert client.job_call("leads", eid, "enqueue")["success"] is False


def test_stuck_queued_fault(sb, client):
    sb.faults.add("stuck_queued")
    eid = _created(client)
    client.job_call("leads", eid, "enqueue")
    sb.advance(3600)
    assert client.job_call("leads", eid, "status")["result"][0]["status"] == "Queued"
    other = _created(client)
    client.job_call("leads", other, "enqueue")
    assert client.job_call("leads", other, "status")["result"][0]["status"] == "Completed"


def test_queue_full_and_quota_exhausted_faults(sb, client):
    sb.faults.add("queue_full")
    sb.faults.add("quota_exhausted")
    eid = _created(client)
    assert client.job_call("leads", eid, "enqueue")["errors"][0] == {
        "code": "1029",
        "message": "Too many jobs (10) in queue",
    }
    assert client.job_call("leads", eid, "enqueue")["errors"][0] == {
        "code": "1029",
        "message": "Export daily quota 500MB exceeded.",
    }
    assert client.job_call("leads", eid, "enqueue")["success"]


def test_export_quota_metered_and_reset_at_chicago_midnight(make_sandbox):
    sb = make_sandbox(export_quota_mb=0.01)  # ~10 KB
    c = Client(sb)
    job, content = c.export("leads", {"fields": list(sb.data.exportable_lead_fields()), "filter": {"createdAt": JAN}})
    assert job["fileSize"] == len(content) > 0.01 * 1024 * 1024
    eid = _created(c)
    assert c.job_call("leads", eid, "enqueue")["errors"][0] == {
        "code": "1029",
        "message": "Export daily quota 0.01MB exceeded.",
    }
    now = sb.clock.now().astimezone(CHICAGO)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=CHICAGO)
    sb.advance((midnight - now).total_seconds() + 1)
    c.token = c.fetch_token()
    assert c.job_call("leads", eid, "enqueue")["success"]


def test_file_expires_after_7_days(sb, client):
    job, _ = client.export("leads", LEADS_BODY)
    path = f"/bulk/v1/leads/export/{job['exportId']}/file.json"
    sb.advance(6 * 86400)
    client.token = client.fetch_token()
    assert client.get(path).status_code == 200
    sb.advance(86400 + 1)
    client.token = client.fetch_token()
    assert client.get(path).status_code == 404


def test_list_jobs_status_filter_and_paging(make_sandbox):
    sb = make_sandbox(min_processing_seconds=1000)
    c = Client(sb)
    ids = [_created(c) for _ in range(4)]
    c.job_call("leads", ids[0], "enqueue")
    c.job_call("leads", ids[1], "enqueue")
    c.job_call("leads", ids[2], "enqueue")
    res = c.api("GET", "/bulk/v1/leads/export.json", params={"status": "Queued,Processing"})
    assert {j["exportId"] for j in res["result"]} == set(ids[:3]) and res["moreResult"] is False
    created = c.api("GET", "/bulk/v1/leads/export.json", params={"status": "Created"})["result"]
    assert [j["exportId"] for j in created] == [ids[3]]
    p1 = c.api("GET", "/bulk/v1/leads/export.json", params={"batchSize": 2})
    assert len(p1["result"]) == 2 and p1["moreResult"] is True
    p2 = c.api(
        "GET",
        "/bulk/v1/leads/export.json",
        params={"batchSize": 2, "nextPageToken": p1["nextPageToken"]},
    )
    assert [j["exportId"] for j in p1["result"] + p2["result"]] == ids
    assert c.api("GET", "/bulk/v1/activities/export.json")["result"] == []


def test_jobs_helper_exposes_request(sb, client):
    _created(client)
    job = sb.jobs()[0]
    assert job["entity"] == "leads" and job["request"] == LEADS_BODY and job["status"] == "Created"


def test_file_reflects_data_at_processing_start(make_sandbox):
    from tap_marketo_bulk.sandbox.data import parse_dt

    sb = make_sandbox(min_processing_seconds=100)
    c = Client(sb)
    eid = _created(c)
    c.job_call("leads", eid, "enqueue")
    sb.data.add_leads(3, parse_dt("2024-01-10T00:00:00Z"))  # after start: not in this file
    sb.advance(100)
    st = c.job_call("leads", eid, "status")["result"][0]
    expected = sum(1 for ld in sb.data.leads if parse_dt(JAN["startAt"]) <= ld["createdAt"] <= parse_dt(JAN["endAt"]))
    assert st["numberOfRecords"] == expected - 3
