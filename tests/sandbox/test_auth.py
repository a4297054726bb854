"""Identity endpoint and token checks (600/601/602, 401) including token faults."""

from __future__ import annotations

import requests

DESCRIBE = "/rest/v1/leads/describe.json"


def _token(sb, cid="sandbox-client", secret="sandbox-secret"):
    return requests.get(
        f"{sb.url}/identity/oauth/token",
        params={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
    )


def test_token_shape_and_reuse(sb):
    first = _token(sb).json()
    assert first["token_type"] == "bearer" and first["expires_in"] == 3600 and first["scope"]
    sb.advance(100)
    second = _token(sb).json()
    assert second["access_token"] == first["access_token"]
    assert 3499 <= second["expires_in"] <= 3500


def test_bad_credentials_401(sb):
    r = _token(sb, secret="wrong")
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"


def test_missing_token_600_and_query_param_is_ignored(client):
    r = requests.get(client.url + DESCRIBE)
    assert r.status_code == 200 and r.json()["errors"][0]["code"] == "600"
    r = requests.get(client.url + DESCRIBE, params={"access_token": client.token})
    assert r.json()["success"] is False and r.json()["errors"][0]["code"] == "600"


def test_invalid_token_601(client):
    r = requests.get(client.url + DESCRIBE, headers={"Authorization": "Bearer nope"})
    body = r.json()
    assert r.status_code == 200 and body["success"] is False
    assert body["errors"] == [{"code": "601", "message": "Access token invalid"}]


def test_expired_token_602_then_new_token(sb, client):
    client.auto_refresh = False
    sb.advance(3601)
    body = client.api("GET", DESCRIBE)
    assert body["errors"][0]["code"] == "602"
    new = client.fetch_token()
    assert new != client.token
    client.token = new
    assert client.api("GET", DESCRIBE)["success"] is True


def test_expire_token_fault(sb, client):
    client.auto_refresh = False
    sb.faults.add("expire_token", path_contains="describe")
    assert client.api("GET", DESCRIBE)["errors"][0]["code"] == "602"
    assert client.api("GET", DESCRIBE)["errors"][0]["code"] == "602"
    client.token = client.fetch_token()
    assert client.api("GET", DESCRIBE)["success"]


def test_invalidate_token_fault(sb, client):
    client.auto_refresh = False
    sb.faults.add("invalidate_token")
    assert client.api("GET", DESCRIBE)["errors"][0]["code"] == "601"
    client.token = client.fetch_token()
    assert client.api("GET", DESCRIBE)["success"]


def test_custom_credentials_and_ttl(make_sandbox):
    sb = make_sandbox(client_id="a", client_secret="b", token_ttl_seconds=10)
    assert _token(sb).status_code == 401
    assert _token(sb, "a", "b").json()["expires_in"] == 10
