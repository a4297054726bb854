"""Export file format: quoting round trip, delimiters, header renames, Range/206, checksum, download faults."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests

from tap_marketo_bulk.sandbox.data import LONG_TEXT, SPECIAL_STRINGS
from tap_marketo_bulk.sandbox.files import to_text

from .helpers import JAN, lead_fields, parse_file

WIDE = {"startAt": "2024-01-01T00:00:00Z", "endAt": "2024-01-31T23:59:59Z"}


def _all_leads_by_list(sb, client, fmt="CSV"):
    """Every lead across the 3 month range via three createdAt windows."""
    rows = {}
    header = None
    windows = [
        ("2024-01-01T00:00:00Z", "2024-01-31T23:59:59Z"),
        ("2024-02-01T00:00:00Z", "2024-03-02T23:59:59Z"),
        ("2024-03-03T00:00:00Z", "2024-04-01T00:00:00Z"),
    ]
    for lo, hi in windows:
        job, content = client.export(
            "leads",
            {
                "fields": lead_fields(sb),
                "format": fmt,
                "filter": {"createdAt": {"startAt": lo, "endAt": hi}},
            },
        )
        header, body = parse_file(content, {"CSV": ",", "TSV": "\t", "SSV": " "}[fmt])
        assert job["numberOfRecords"] == len(body)
        for r in body:
            rows[int(r[0])] = r
    return header, rows


@pytest.mark.parametrize("fmt", ["CSV", "TSV", "SSV"])
def test_round_trip_all_leads(sb, client, fmt):
    header, rows = _all_leads_by_list(sb, client, fmt)
    assert header == lead_fields(sb)
    assert len(rows) == len(sb.data.leads)
    for lead in sb.data.leads:
        assert rows[lead["id"]] == [to_text(lead[f]) for f in header]
    values = {v for r in rows.values() for v in r}
    for special in SPECIAL_STRINGS:
        assert special in values, special
    assert LONG_TEXT in values and len(LONG_TEXT) > 10000
    assert "123456789012.34" in values and "12.3456" in values
    assert {"true", "false"} <= values and None in values


def test_file_bytes_format(sb, client):
    job, content = client.export("leads", {"fields": lead_fields(sb), "filter": {"createdAt": JAN}})
    assert not content.startswith(b"\xef\xbb\xbf") and content.endswith(b"\n")
    assert b",null," in content
    text = content.decode("utf-8")
    assert '"He said ""hello"""' in text
    first = text.split("\n")[1]
    assert "2024-01-01T00:00:00Z" in first  # the record at the very start instant
    assert job["fileChecksum"] == "sha256:" + hashlib.sha256(content).hexdigest()
    assert job["fileSize"] == len(content)


def test_activity_attributes_json(sb, client):
    _job, content = client.export(
        "activities",
        {
            "filter": {"createdAt": JAN},
            "fields": [
                "marketoGUID",
                "leadId",
                "activityDate",
                "activityTypeId",
                "campaignId",
                "primaryAttributeValueId",
                "primaryAttributeValue",
                "attributes",
                "actionResult",
            ],
        },
    )
    header, rows = parse_file(content)
    assert header[-1] == "actionResult"
    by_guid = {a["marketoGUID"]: a for a in sb.data.activities}
    for r in rows:
        act = by_guid[r[0]]
        assert json.loads(r[7]) == act["attributes"]
        assert r[2] == act["activityDate"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert any("\n" in r[7] or '\\"' in r[7] for r in rows)


def test_default_activity_fields(client):
    _, content = client.export("activities", {"filter": {"createdAt": JAN}})
    assert content.split(b"\n")[0] == (
        b"marketoGUID,leadId,activityDate,activityTypeId,campaignId,"
        b"primaryAttributeValueId,primaryAttributeValue,attributes"
    )


def test_column_header_names(sb, client):
    _, content = client.export(
        "leads",
        {
            "fields": ["id", "email"],
            "columnHeaderNames": {"email": "E, Mail"},
            "filter": {"createdAt": JAN},
        },
    )
    assert content.split(b"\n")[0] == b'id,"E, Mail"'


def test_header_only_for_no_records(client):
    job, content = client.export(
        "leads",
        {
            "fields": ["id", "email"],
            "filter": {"createdAt": {"startAt": "2030-01-01T00:00:00Z", "endAt": "2030-01-02T00:00:00Z"}},
        },
    )
    assert content == b"id,email\n" and job["numberOfRecords"] == 0


def test_range_requests(sb, client):
    job, content = client.export("leads", {"fields": lead_fields(sb), "filter": {"createdAt": JAN}})
    path = f"/bulk/v1/leads/export/{job['exportId']}/file.json"
    total = len(content)
    r = client.get(path, headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and r.content == content[:100]
    assert r.headers["Content-Range"] == f"bytes 0-99/{total}"
    r = client.get(path, headers={"Range": "bytes=100-"})
    assert r.status_code == 206 and r.content == content[100:]
    assert r.headers["Content-Range"] == f"bytes 100-{total - 1}/{total}"
    r = client.get(path, headers={"Range": f"bytes={total}-"})
    assert r.status_code == 416
    full = client.get(path)
    assert full.status_code == 200 and "Content-Range" not in full.headers


def test_drop_download_then_resume(sb, client):
    job, content = client.export("leads", {"fields": lead_fields(sb), "filter": {"createdAt": JAN}})
    path = f"/bulk/v1/leads/export/{job['exportId']}/file.json"
    sb.faults.add("drop_download", path_contains="file.json", after_bytes=1000)
    r = client.session.get(client.url + path, headers=client.headers(), stream=True)
    assert r.headers["Content-Length"] == str(len(content))
    got = b""
    with pytest.raises(requests.exceptions.RequestException):
        for chunk in r.iter_content(100):
            got += chunk
    assert got == content[: len(got)] and len(got) == 1000, (len(got), len(content))
    rest = client.get(path, headers={"Range": f"bytes={len(got)}-"})
    assert rest.status_code == 206
    whole = got + rest.content
    assert "sha256:" + hashlib.sha256(whole).hexdigest() == job["fileChecksum"]


def test_corrupt_download(sb, client):
    job, content = client.export("leads", {"fields": ["id", "email"], "filter": {"createdAt": JAN}})
    path = f"/bulk/v1/leads/export/{job['exportId']}/file.json"
    sb.faults.add("corrupt_download")
    bad = client.get(path).content
    assert len(bad) == len(content) and bad != content
    assert "sha256:" + hashlib.sha256(bad).hexdigest() != job["fileChecksum"]
    assert client.get(path).content == content


def test_file_gone(sb, client):
    job, _ = client.export("leads", {"fields": ["id"], "filter": {"createdAt": JAN}})
    sb.faults.add("file_gone")
    path = f"/bulk/v1/leads/export/{job['exportId']}/file.json"
    assert client.get(path).status_code == 404
    assert client.job_call("leads", job["exportId"], "status")["result"][0]["status"] == "Completed"


def test_malformed_row(sb, client):
    sb.faults.add("malformed_row")
    _job, content = client.export("leads", {"fields": ["id", "email", "lastName"], "filter": {"createdAt": JAN}})
    header, rows = parse_file(content)
    assert any(len(r) != len(header) for r in rows)
    _, content2 = client.export("leads", {"fields": ["id", "email", "lastName"], "filter": {"createdAt": JAN}})
    header, rows = parse_file(content2)
    assert all(len(r) == len(header) for r in rows)
