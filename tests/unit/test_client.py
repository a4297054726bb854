"""MarketoClient: tokens in use, envelope errors code by code, retries, secrets kept out of logs."""

from __future__ import annotations

import logging
import urllib.parse

import pytest
import requests

from tap_marketo_bulk import errors
from tap_marketo_bulk.marketo.client import MarketoClient, normalize_base_url

ROOT = "https://123-ABC-456.mktorest.com"
TOKEN_URL = f"{ROOT}/identity/oauth/token"
SECRET = "s3cr3t-client-secret"


def token_body(token: str = "tok-1", expires_in: int = 3599) -> dict:
    return {"access_token": token, "token_type": "bearer", "expires_in": expires_in}


def envelope_error(code: str, message: str = "boom") -> dict:
    return {"requestId": "r#1", "success": False, "errors": [{"code": code, "message": message}]}


@pytest.fixture
def client() -> MarketoClient:
    return MarketoClient(
        ROOT + "/rest",
        "the-id",
        SECRET,
        max_tries=3,
        backoff_factor=0.001,
        backoff_max_seconds=0.001,
    )


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("https://123-ABC-456.mktorest.com", ROOT),
        ("https://123-ABC-456.mktorest.com/", ROOT),
        ("https://123-ABC-456.mktorest.com/rest", ROOT),
        ("https://123-ABC-456.mktorest.com/rest/", ROOT),
        (" http://127.0.0.1:8080/rest ", "http://127.0.0.1:8080"),
    ],
)
def test_base_url_accepts_rest_endpoint_forms(given: str, root: str) -> None:
    assert normalize_base_url(given) == root


def test_base_url_that_is_not_a_url_names_the_setting() -> None:
    with pytest.raises(errors.ConfigError, match="base_url 'mktorest' is not a URL"):
        normalize_base_url("mktorest")


def test_token_is_sent_in_header_only_and_reused(requests_mock, client) -> None:
    requests_mock.post(TOKEN_URL, json=token_body("tok-1"))
    api = requests_mock.get(f"{ROOT}/rest/v1/leads/describe.json", json={"success": True, "result": []})

    client.get("/rest/v1/leads/describe.json")
    client.get("/rest/v1/leads/describe.json")

    token_calls = [r for r in requests_mock.request_history if r.path == "/identity/oauth/token"]
    assert len(token_calls) == 1
    # The credentials go in a POST form body, never in the URL (URLs land in proxy logs).
    assert token_calls[0].method == "POST"
    assert token_calls[0].qs == {}
    assert token_calls[0].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(token_calls[0].text) == {
        "grant_type": ["client_credentials"],
        "client_id": ["the-id"],
        "client_secret": [SECRET],
    }
    for call in api.request_history:
        assert call.headers["Authorization"] == "Bearer tok-1"
        assert "access_token" not in call.url
    assert client.calls_made == 3


@pytest.mark.parametrize("code", ["601", "602"])
def test_rejected_token_is_renewed_and_the_call_retried_once(requests_mock, client, code) -> None:
    requests_mock.post(TOKEN_URL, [{"json": token_body("old")}, {"json": token_body("new")}])
    api = requests_mock.get(
        f"{ROOT}/rest/v1/x.json",
        [{"json": envelope_error(code)}, {"json": {"success": True, "result": [1]}}],
    )
    assert client.get("/rest/v1/x.json")["result"] == [1]
    assert [c.headers["Authorization"] for c in api.request_history] == [
        "Bearer old",
        "Bearer new",
    ]


def test_token_rejected_twice_is_an_error(requests_mock, client) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(f"{ROOT}/rest/v1/x.json", json=envelope_error("601", "Access token invalid"))
    with pytest.raises(errors.TokenRejected, match="601"):
        client.get("/rest/v1/x.json")


def test_bad_credentials_name_the_settings_and_hide_the_secret(requests_mock, client) -> None:
    requests_mock.post(TOKEN_URL, status_code=401, json={"error": "invalid_client"})
    with pytest.raises(errors.AuthenticationFailed) as caught:
        client.get("/rest/v1/x.json")
    assert "client_id/client_secret" in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("code", ["606", "615", "604", "608", "611"])
def test_rate_limits_and_transient_codes_are_retried(requests_mock, client, code) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    api = requests_mock.get(
        f"{ROOT}/rest/v1/x.json",
        [{"json": envelope_error(code)}, {"json": {"success": True, "result": ["ok"]}}],
    )
    assert client.get("/rest/v1/x.json")["result"] == ["ok"]
    assert api.call_count == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_http_5xx_is_retried_then_raised(requests_mock, client, status) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    api = requests_mock.get(f"{ROOT}/rest/v1/x.json", status_code=status, text="oops")
    with pytest.raises(errors.TransientServerError, match=f"HTTP {status}"):
        client.get("/rest/v1/x.json")
    assert api.call_count == 3


def test_unreachable_host_before_any_token_names_base_url_without_the_secret(requests_mock, client) -> None:
    token_calls = requests_mock.post(TOKEN_URL, exc=requests.ConnectionError(f"{TOKEN_URL}?client_secret={SECRET}"))
    with pytest.raises(errors.ConfigError) as caught:
        client.get("/rest/v1/x.json")
    assert SECRET not in str(caught.value)
    assert str(caught.value).startswith("Cannot reach 123-ABC-456.mktorest.com (ConnectionError). Check base_url")
    assert token_calls.call_count == 3


def test_connection_errors_after_authentication_are_retried(requests_mock, client) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    api = requests_mock.get(
        f"{ROOT}/rest/v1/x.json",
        [{"exc": requests.ConnectionError(f"{ROOT}/rest/v1/x.json?secret={SECRET}")}, {"json": {"success": True}}],
    )
    client.get("/rest/v1/x.json")  # authenticates
    api2 = requests_mock.get(
        f"{ROOT}/rest/v1/y.json",
        [{"exc": requests.ConnectionError("reset")}, {"json": {"success": True, "result": [2]}}],
    )
    assert client.get("/rest/v1/y.json")["result"] == [2]
    assert api.call_count == 2 and api2.call_count == 2


@pytest.mark.parametrize(
    ("code", "message", "error_type"),
    [
        ("603", "Access denied", errors.AccessDenied),
        ("607", "Daily quota reached", errors.DailyCallQuotaExhausted),
        ("1029", "Export daily quota 500MB exceeded.", errors.ExportQuotaExhausted),
        ("1029", "Too many jobs (10) in queue", errors.ExportQueueFull),
        ("1029", "Job already queued", errors.JobAlreadyQueued),
        ("1035", "Unsupported filter type for target subscription", errors.UnsupportedFilter),
        ("1003", "Invalid field 'foo'", errors.InvalidRequest),
        ("610", "Requested resource not found", errors.NotFound),
        ("999", "Something new", errors.UnknownCode),
        ("1026", "Not available for this subscription", errors.UnknownCode),
    ],
)
def test_error_codes_map_to_types(requests_mock, client, code, message, error_type) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    api = requests_mock.post(f"{ROOT}/bulk/v1/leads/export/create.json", json=envelope_error(code, message))
    with pytest.raises(error_type) as caught:
        client.post("/bulk/v1/leads/export/create.json", {"fields": ["id"]})
    assert type(caught.value) is error_type
    assert caught.value.code == code
    assert message in str(caught.value)
    assert api.call_count == 1  # none of these is retried
    assert api.last_request.json() == {"fields": ["id"]}


def test_quota_messages_say_when_it_resets(requests_mock, client) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(f"{ROOT}/rest/v1/x.json", json=envelope_error("607", "Daily quota reached"))
    with pytest.raises(errors.DailyCallQuotaExhausted, match="midnight US Central"):
        client.get("/rest/v1/x.json")


@pytest.mark.parametrize(
    ("code", "message", "refused"),
    [
        ("603", "Access denied", True),
        ("610", "Requested resource not found", True),
        ("1026", "Not available for this subscription", True),
        ("1013", "Object not found", True),
        ("1003", "Invalid field 'foo'", False),
        ("1035", "Unsupported filter type for target subscription", False),
        ("1029", "Export daily quota 500MB exceeded.", False),
        ("607", "Daily quota reached", False),
    ],
)
def test_refusals_of_one_entity_carry_marketo_code_message_and_path(requests_mock, client, code, message, refused):
    """The one classification streams/optional.py relies on: what refuses one entity, in Marketo's words."""
    requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(f"{ROOT}/rest/v1/customobjects.json", json=envelope_error(code, message))
    with pytest.raises(errors.MarketoError) as caught:
        client.get("/rest/v1/customobjects.json")
    assert isinstance(caught.value, errors.Refusal) is refused
    if refused:
        assert caught.value.path == "/rest/v1/customobjects.json"
        assert caught.value.answer == f"{code} {message}"


@pytest.mark.parametrize(
    ("status", "body", "error_type", "answer"),
    [
        (404, "Not found", errors.NotFound, "HTTP 404 Not found"),
        (
            404,
            "<html><head><title>404 - Page\n Not Found</title></head><body>x</body></html>",
            errors.NotFound,
            "HTTP 404 Page Not Found",
        ),
        (403, "Forbidden", errors.AccessDenied, "HTTP 403 Forbidden"),
        (401, "", errors.AccessDenied, "HTTP 401"),
    ],
)
def test_http_refusals_of_one_entity_are_not_retried(requests_mock, client, status, body, error_type, answer):
    requests_mock.post(TOKEN_URL, json=token_body())
    api = requests_mock.get(f"{ROOT}/rest/v1/customobjects.json", status_code=status, text=body)
    with pytest.raises(error_type) as caught:
        client.get("/rest/v1/customobjects.json")
    assert caught.value.answer == answer
    assert "\n" not in str(caught.value)
    assert api.call_count == 1


@pytest.mark.parametrize("status", [400, 405, 407])
def test_other_4xx_pages_stop_at_once_in_one_line(requests_mock, client, status):
    requests_mock.post(TOKEN_URL, json=token_body())
    page = "<html><head><title>Proxy\n login</title></head></html>"
    api = requests_mock.get(
        f"{ROOT}/rest/v1/x.json", status_code=status, text=page, headers={"Content-Type": "text/html"}
    )
    with pytest.raises(errors.InvalidRequest) as caught:
        client.get("/rest/v1/x.json")
    assert str(caught.value) == f"/rest/v1/x.json: HTTP {status} Proxy login"
    assert api.call_count == 1


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (404, "text/html", "<html><head><title>404 Not Found</title></head><body>nginx</body></html>"),
        (200, "text/html; charset=utf-8", "<html><head><title>Sign in to the proxy</title></head></html>"),
        (405, "text/plain", "Method Not Allowed"),
        (401, "text/html", "<title>Unauthorized</title>"),
    ],
)
def test_an_identity_answer_that_is_not_json_names_base_url_at_once(requests_mock, client, status, content_type, body):
    token = requests_mock.post(TOKEN_URL, status_code=status, text=body, headers={"Content-Type": content_type})
    with pytest.raises(errors.ConfigError) as caught:
        client.get("/rest/v1/x.json")
    message = str(caught.value)
    assert message.startswith(f"/identity/oauth/token answered HTTP {status} with a body that is not JSON (")
    assert "so base_url does not point at Marketo's REST API. Set base_url to the REST endpoint" in message
    assert "\n" not in message and SECRET not in message
    assert token.call_count == 1  # not retried: waiting does not change where a URL points


def test_spend_lookups_wait_out_rate_limits_but_retry_nothing_else(requests_mock, client) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    api = requests_mock.get(
        f"{ROOT}/bulk/v1/leads/export.json",
        [{"json": envelope_error("606")}, {"json": envelope_error("615")}, {"json": {"success": True, "result": []}}],
    )
    assert client.request("GET", "/bulk/v1/leads/export.json", retry="rate_limits") == {"success": True, "result": []}
    assert api.call_count == 3
    requests_mock.get(f"{ROOT}/bulk/v1/leads/export.json", [{"status_code": 503, "text": "x"}, {"json": {}}])
    with pytest.raises(errors.TransientServerError):
        client.request("GET", "/bulk/v1/leads/export.json", retry="rate_limits")


def test_http_404_is_not_found(requests_mock, client) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(f"{ROOT}/bulk/v1/leads/export/abc/status.json", status_code=404, text="Not found")
    with pytest.raises(errors.NotFound, match="HTTP 404 Not found"):
        client.get("/bulk/v1/leads/export/abc/status.json")


def test_non_json_answer_suggests_checking_base_url(requests_mock, client) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(f"{ROOT}/rest/v1/x.json", text="<html>hello</html>", status_code=200)
    with pytest.raises(errors.TransientServerError, match="Is base_url"):
        client.get("/rest/v1/x.json")


def test_download_sends_range_when_resuming(requests_mock, client) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    api = requests_mock.get(f"{ROOT}/bulk/v1/leads/export/e1/file.json", status_code=206, content=b"tail")
    response = client.open_download("/bulk/v1/leads/export/e1/file.json", start_byte=10)
    assert response.content == b"tail"
    assert api.last_request.headers["Range"] == "bytes=10-"
    response = client.open_download("/bulk/v1/leads/export/e1/file.json")
    assert "Range" not in api.last_request.headers


def test_secret_and_token_never_logged(requests_mock, client, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    requests_mock.post(TOKEN_URL, json=token_body("tok-secret-value"))
    requests_mock.get(
        f"{ROOT}/rest/v1/x.json",
        [
            {"json": envelope_error("606")},
            {"status_code": 503, "text": "x"},
            {"json": {"success": True}},
        ],
    )
    client.get("/rest/v1/x.json")
    text = caplog.text
    assert "Retrying Marketo call" in text
    assert SECRET not in text
    assert "tok-secret-value" not in text


def test_calls_are_counted_per_label_and_labels_nest(requests_mock, client) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(f"{ROOT}/rest/v1/x.json", json={"success": True, "result": []})
    client.get("/rest/v1/x.json")  # token + call, under no label
    with client.attributed_to("campaigns"):
        client.get("/rest/v1/x.json")
        with client.attributed_to("segments"):
            client.get("/rest/v1/x.json")
            client.get("/rest/v1/x.json")
        client.get("/rest/v1/x.json")  # the outer label is back
    with pytest.raises(RuntimeError), client.attributed_to("emails"):
        client.get("/rest/v1/x.json")
        raise RuntimeError
    client.get("/rest/v1/x.json")  # no label again after the error
    assert client.calls_made == 8
    assert dict(client.calls_by_label) == {"campaigns": 2, "segments": 2, "emails": 1}
