"""Rate limit (606), concurrency (615), daily call quota (607) and injected HTTP/code faults."""

from __future__ import annotations

import threading

import pytest

from .helpers import Client

DESCRIBE = "/rest/v1/leads/describe.json"


def test_rate_limit_606_sliding_window(make_sandbox):
    sb = make_sandbox(rate_limit_calls=5, rate_limit_window_seconds=20)
    c = Client(sb)
    for _ in range(5):
        assert c.api("GET", DESCRIBE)["success"]
    err = c.api("GET", DESCRIBE)["errors"][0]
    assert err == {"code": "606", "message": "Max rate limit '5' exceeded with in '20' secs"}
    sb.advance(21)
    assert c.api("GET", DESCRIBE)["success"]


def test_concurrency_615(make_sandbox):
    sb = make_sandbox(max_concurrent=2)
    c = Client(sb)
    sb.faults.add("delay", path_contains="types", count=2, seconds=0.6)
    results: list[dict] = []

    def call() -> None:
        results.append(Client(sb).api("GET", "/rest/v1/activities/types.json"))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    import time

    time.sleep(0.2)
    third = c.api("GET", DESCRIBE)
    for t in threads:
        t.join()
    assert third["errors"][0]["code"] == "615"
    assert all(r["success"] for r in results)


def test_daily_quota_607_resets_midnight_chicago(make_sandbox):
    sb = make_sandbox(daily_call_quota=3)
    c = Client(sb)
    for _ in range(3):
        assert c.api("GET", DESCRIBE)["success"]
    assert c.api("GET", DESCRIBE)["errors"][0]["code"] == "607"
    sb.advance(86400)
    c.token = c.fetch_token()
    assert c.api("GET", DESCRIBE)["success"]


@pytest.mark.parametrize(
    "kind,code",
    [
        ("code_604", "604"),
        ("code_606", "606"),
        ("code_607", "607"),
        ("code_611", "611"),
        ("code_615", "615"),
    ],
)
def test_code_faults(sb, client, kind, code):
    sb.faults.add(kind, path_contains="describe", count=2)
    assert client.api("GET", "/rest/v1/activities/types.json")["success"]  # not matching
    assert client.api("GET", DESCRIBE)["errors"][0]["code"] == code
    assert client.api("GET", DESCRIBE)["errors"][0]["code"] == code
    assert client.api("GET", DESCRIBE)["success"]


@pytest.mark.parametrize("kind,status", [("http_500", 500), ("http_502", 502), ("http_503", 503)])
def test_http_faults(sb, client, kind, status):
    sb.faults.add(kind)
    r = client.get(DESCRIBE)
    assert r.status_code == status
    assert r.headers["Content-Type"].startswith("text/plain")
    assert client.get(DESCRIBE).status_code == 200


def test_unknown_fault_kind_rejected(sb):
    with pytest.raises(ValueError):
        sb.faults.add("nope")


def test_request_log(sb, client):
    client.api(
        "POST",
        "/bulk/v1/leads/export/create.json",
        json={"fields": ["id"], "filter": {"staticListId": 2001}},
    )
    assert (
        "POST",
        "/bulk/v1/leads/export/create.json",
        {"fields": ["id"], "filter": {"staticListId": 2001}},
    ) in sb.requests
