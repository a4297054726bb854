"""AccessToken and RedactSecrets on their own: when the identity service is asked, what is hidden."""

from __future__ import annotations

import logging

import pytest
import requests

from tap_marketo_bulk import errors
from tap_marketo_bulk.marketo.auth import TOKEN_EXPIRY_MARGIN_SECONDS, AccessToken, RedactSecrets

ROOT = "https://123-ABC-456.mktorest.com"
TOKEN_URL = f"{ROOT}/identity/oauth/token"
SECRET = "s3cr3t-client-secret"


@pytest.fixture
def identity_calls() -> list[None]:
    return []


@pytest.fixture
def access_token(identity_calls: list[None]) -> AccessToken:
    return AccessToken(
        ROOT,
        "the-id",
        SECRET,
        session=requests.Session(),
        timeout=5.0,
        before_call=lambda: identity_calls.append(None),
    )


def test_token_is_reused_until_it_is_about_to_expire(requests_mock, access_token, identity_calls) -> None:
    requests_mock.post(
        TOKEN_URL,
        [
            {"json": {"access_token": "short-lived", "expires_in": TOKEN_EXPIRY_MARGIN_SECONDS}},
            {"json": {"access_token": "long-lived", "expires_in": 3600}},
        ],
    )
    assert access_token.get() == "short-lived"
    assert access_token.get() == "long-lived"  # within the margin: asked again
    assert access_token.get() == "long-lived"
    assert len(identity_calls) == 2  # every identity call counted against Marketo's limits


def test_invalidated_token_is_fetched_again(requests_mock, access_token) -> None:
    requests_mock.post(TOKEN_URL, [{"json": {"access_token": "old"}}, {"json": {"access_token": "new"}}])
    assert access_token.get() == "old"
    access_token.invalidate()
    assert access_token.get() == "new"


def test_answer_without_a_token_suggests_checking_base_url(requests_mock, access_token) -> None:
    requests_mock.post(TOKEN_URL, json={"error": "nothing here"})
    with pytest.raises(errors.AuthenticationFailed, match="is base_url"):
        access_token.get()


def test_host_that_does_not_resolve_names_base_url_at_once(requests_mock, access_token) -> None:
    requests_mock.post(TOKEN_URL, exc=requests.ConnectionError("NameResolutionError: Name or service not known"))
    with pytest.raises(errors.ConfigError, match="Check base_url"):
        access_token.get()


def test_identity_5xx_is_transient(requests_mock, access_token) -> None:
    requests_mock.post(TOKEN_URL, status_code=503)
    with pytest.raises(errors.TransientServerError, match="HTTP 503"):
        access_token.get()


def test_redaction_hides_secrets_but_not_short_strings() -> None:
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "GET /?secret=%s&id=%s", (SECRET, "abc"), None)
    assert RedactSecrets(lambda: (SECRET, "abc", None)).filter(record) is True
    assert record.getMessage() == "GET /?secret=***&id=abc"
