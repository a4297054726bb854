"""Shared pieces of the REST stream unit tests: a MarketoInstance on requests-mock, a bare tap
to hang streams on, and the queries the mock received."""

from __future__ import annotations

import typing as t
from urllib.parse import parse_qs, urlsplit

from singer_sdk import Tap

from tap_marketo_bulk.instance import MarketoInstance
from tap_marketo_bulk.streams.rest import RestStream

ROOT = "https://mkto.example.com"
NO_ASSETS = {"success": True, "errors": [], "warnings": ["No assets found for the given search criteria."]}
CONFIG = {
    "client_id": "id",
    "client_secret": "secret",
    "base_url": ROOT,
    "start_date": "2024-01-01T00:00:00Z",
    "end_date": "2024-04-01T00:00:00Z",
}


def ok(*rows: dict, **extra: t.Any) -> dict:
    return {"success": True, "errors": [], "warnings": [], "result": list(rows), **extra}


def instance(requests_mock: t.Any) -> MarketoInstance:
    """A MarketoInstance whose token call is mocked."""
    requests_mock.post(f"{ROOT}/identity/oauth/token", json={"access_token": "t", "expires_in": 3600})
    return MarketoInstance(CONFIG)


class _Tap(Tap):
    name = "tap-rest-test"
    config_jsonschema: t.ClassVar[dict] = {"type": "object", "properties": {}}

    def discover_streams(self) -> list:
        return []


def stream_of(
    cls: type[RestStream], marketo: MarketoInstance, state: dict | None = None, **settings: t.Any
) -> RestStream:
    """A ``cls`` stream on a bare tap with ``CONFIG`` and ``settings``, its STATE ``state``."""
    config = {**CONFIG, **settings}
    tap = _Tap(config=config, state={"bookmarks": {cls.name: state}} if state else None, validate_config=False)
    return cls(tap, marketo)


def queries(requests_mock, path: str) -> list[dict[str, str]]:
    """The query of each call to ``path``, as sent (requests-mock's ``qs`` lower-cases it)."""
    return [
        {k: v[0] for k, v in parse_qs(urlsplit(r.url).query).items()}
        for r in requests_mock.request_history
        if urlsplit(r.url).path == path  # requests-mock's ``path`` is lower case too
    ]


def mock_rest_probes(requests_mock: t.Any, root: str = ROOT) -> None:
    """Empty answers for the probes discovery makes of the asset, list and partition streams
    (one page of one row each), for tap-level tests that mock the describes."""
    from tap_marketo_bulk.streams.assets import ASSET_STREAMS
    from tap_marketo_bulk.streams.lists import LISTS_PATH
    from tap_marketo_bulk.streams.reference import LeadPartitionsStream

    for path in {*(cls.path for cls in ASSET_STREAMS), LISTS_PATH, LeadPartitionsStream.path}:
        requests_mock.get(root + path, json={"success": True, "errors": [], "warnings": [], "result": []})
