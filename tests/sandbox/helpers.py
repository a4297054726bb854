"""Test helpers: a minimal authenticated Marketo client and an export-file parser."""

from __future__ import annotations

import csv
import io
from typing import Any

import requests

from tap_marketo_bulk.sandbox import SandboxServer

JAN = {"startAt": "2024-01-01T00:00:00Z", "endAt": "2024-02-01T00:00:00Z"}


class Client:
    """Minimal Marketo client used by the tests (Bearer header auth only)."""

    def __init__(self, sb: SandboxServer) -> None:
        self.sb = sb
        self.url = sb.url
        self.session = requests.Session()
        self.auto_refresh = True
        self.token = self.fetch_token()

    def fetch_token(self) -> str:
        o = self.sb.options
        r = self.session.get(
            f"{self.url}/identity/oauth/token",
            params={
                "grant_type": "client_credentials",
                "client_id": o.client_id,
                "client_secret": o.client_secret,
            },
        )
        r.raise_for_status()
        return r.json()["access_token"]

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.url + path, headers=self.headers(kw.pop("headers", None)), **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.session.post(self.url + path, headers=self.headers(kw.pop("headers", None)), **kw)

    def api(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """Call and return the envelope; refreshes an expired/invalid token once when auto_refresh."""
        r = self.get(path, **dict(kw)) if method == "GET" else self.post(path, **dict(kw))
        assert r.status_code == 200, r.text
        body = r.json()
        if self.auto_refresh and not body.get("success") and body.get("errors", [{}])[0].get("code") in ("601", "602"):
            self.token = self.fetch_token()
            return self.api(method, path, **kw)
        return body

    def create(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.api("POST", f"/bulk/v1/{entity}/export/create.json", json=body)

    def job_call(self, entity: str, export_id: str, action: str) -> dict[str, Any]:
        method = "GET" if action == "status" else "POST"
        return self.api(method, f"/bulk/v1/{entity}/export/{export_id}/{action}.json")

    def export(self, entity: str, body: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        """Create, enqueue, poll until final, download; returns (final job, bytes)."""
        created = self.create(entity, body)
        assert created["success"], created
        eid = created["result"][0]["exportId"]
        enq = self.job_call(entity, eid, "enqueue")
        assert enq["success"], enq
        for _ in range(50):
            job = self.job_call(entity, eid, "status")["result"][0]
            if job["status"] in ("Completed", "Failed", "Cancelled"):
                break
            self.sb.advance(61)
        assert job["status"] == "Completed", job
        r = self.get(f"/bulk/v1/{entity}/export/{eid}/file.json")
        assert r.status_code == 200
        return job, r.content


def parse_file(content: bytes, delimiter: str = ",") -> tuple[list[str], list[list[str | None]]]:
    """Read an export with Python's csv module; unquoted ``null`` becomes None."""
    text = content.decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=True)
    rows = list(reader)
    header, body = rows[0], rows[1:]
    # csv cannot tell quoted "null" from unquoted null; the sandbox never generates the string "null".
    return header, [[None if v == "null" else v for v in row] for row in body]


def lead_fields(sb: SandboxServer) -> list[str]:
    return [f["rest"]["name"] for f in sb.data.lead_fields if "rest" in f and f["dataType"] != "formula"]
