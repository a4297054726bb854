"""Marketo's answers read as the exception types of :mod:`tap_marketo_bulk.errors`.

Marketo fails in three layers: the network (no answer), HTTP (a status code) and the JSON
envelope (HTTP 200 with ``success: false`` and a string code). These functions are the one
place that knows both numberings, so the client and the access token raise the same types.
Their messages never contain a URL with a query string: the identity call carries the secret
there.
"""

from __future__ import annotations

import requests

from tap_marketo_bulk import errors

#: Marketo codes answered with "try again": timeouts, temporary unavailability, system errors.
TRANSIENT_CODES = frozenset({"604", "608", "611", "713"})

#: Codes of requests Marketo will never accept as sent: retrying them only spends calls.
INVALID_REQUEST_CODES = frozenset({"1003", "609", "701", "1001", "1002", "1004", "1006"})


def connection_error(exc: requests.RequestException, path: str, host: str) -> errors.MarketoError:
    """A network failure, described without the URL (its query may carry the secret)."""
    return errors.TransientServerError(f"{path}: {type(exc).__name__} talking to {host}")


def raise_for_http_status(response: requests.Response, path: str) -> None:
    """Raise the error an HTTP status of 400 or more stands for; return on success."""
    status = response.status_code
    if status < 400:
        return
    text = response.text[:200].strip()
    if status == 404:
        raise errors.NotFound(f"{path}: HTTP 404 {text}".strip())
    if status in {401, 403}:
        msg = f"{path}: HTTP {status}. The API user may lack the permission for this call."
        raise errors.AccessDenied(msg)
    if status in {413, 414}:
        raise errors.InvalidRequest(f"{path}: HTTP {status}, request too large")
    if status == 429:
        raise errors.RateLimited(f"{path}: HTTP 429 too many requests")
    if status >= 500:
        raise errors.TransientServerError(f"{path}: HTTP {status} {text}".strip())
    raise errors.InvalidRequest(f"{path}: HTTP {status} {text}".strip())


def read_envelope(response: requests.Response, path: str) -> dict:
    """The JSON object Marketo answered; anything else (an HTML page, a list) is transient.

    A body that is not JSON most often means base_url points at a web page, not the REST
    endpoint, so the message says where to look.
    """
    try:
        body = response.json()
    except ValueError:
        msg = (
            f"{path}: Marketo answered HTTP {response.status_code} with a body that is not "
            "JSON. Is base_url your instance's REST endpoint (Admin > Web Services)?"
        )
        raise errors.TransientServerError(msg) from None
    if not isinstance(body, dict):
        raise errors.TransientServerError(f"{path}: unexpected JSON answer")
    return body


def error_from_envelope(body: dict, path: str) -> errors.MarketoError:
    """Map the first error of a ``success: false`` envelope to an exception type."""
    first = (body.get("errors") or [{}])[0]
    code = str(first.get("code", "")) or None
    message = str(first.get("message", "unknown error"))
    where = f"{path}: {message.rstrip('.')}"
    if code in {"600", "601", "602"}:
        return errors.TokenRejected(where, code=code)
    if code == "603":
        return errors.AccessDenied(
            f"{where}. Give the API user's role the permission this call needs "
            "(Read-Only Lead, Read-Only Activity, Read-Only Assets).",
            code=code,
        )
    if code in {"606", "615"}:
        return errors.RateLimited(where, code=code)
    if code in TRANSIENT_CODES:
        return errors.TransientServerError(where, code=code)
    if code == "607":
        return errors.DailyCallQuotaExhausted(
            f"{where}. Marketo's daily API call quota is used up; {errors.quota_reset_text()}.",
            code=code,
        )
    if code == "1029":
        return _export_queue_error(where, message, code)
    if code == "1035":
        return errors.UnsupportedFilter(where, code=code)
    if code == "610":
        return errors.NotFound(where, code=code)
    if code in INVALID_REQUEST_CODES:
        return errors.InvalidRequest(where, code=code)
    return errors.MarketoError(where, code=code)


def _export_queue_error(where: str, message: str, code: str) -> errors.MarketoError:
    """Marketo answers 1029 for three different bulk queue refusals; only the message tells them apart."""
    lowered = message.lower()
    if "quota" in lowered:
        return errors.ExportQuotaExhausted(
            f"{where}. Marketo's daily bulk export quota is used up; {errors.quota_reset_text()}.",
            code=code,
        )
    if "already queued" in lowered:
        return errors.JobAlreadyQueued(where, code=code)
    return errors.ExportQueueFull(where, code=code)
