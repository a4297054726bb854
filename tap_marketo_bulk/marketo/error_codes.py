"""Marketo's answers read as the exception types of :mod:`tap_marketo_bulk.errors`.

Marketo fails in three layers: the network (no answer), HTTP (a status code) and the JSON
envelope (HTTP 200 with ``success: false`` and a string code). These functions are the one
place that knows both numberings, so the client and the access token raise the same types,
and the one place that tells a refusal of one entity (:class:`errors.Refusal`: 603, 610, HTTP
401/403/404, codes we do not know) from errors that concern the whole run.
Their messages never contain a URL with a query string: the identity call carries the secret
there.
"""

from __future__ import annotations

import html
import re

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
    """Raise the error an HTTP status of 400 or more stands for; return on success.

    401/403/404 refuse one entity (:class:`errors.Refusal`); other 4xx are not retried. (A
    ``base_url`` pointing at a web page is found by the identity call, on the same host: see
    :func:`not_marketo`.)
    """
    status = response.status_code
    if status < 400:
        return
    excerpt = body_excerpt(response)
    excerpt = excerpt.removeprefix(f"{status} - ").removeprefix(f"{status} ")  # "404 Not Found" pages
    answer = f"HTTP {status} {excerpt}".strip()
    if status == 404:
        raise errors.NotFound(f"{path}: {answer}", path=path, answer=answer)
    if status in {401, 403}:
        msg = f"{path}: {answer}. The API user may lack the permission for this call."
        raise errors.AccessDenied(msg, path=path, answer=answer)
    if status in {413, 414}:
        raise errors.InvalidRequest(f"{path}: HTTP {status}, request too large")
    if status == 429:
        raise errors.RateLimited(f"{path}: HTTP 429 too many requests")
    if status >= 500:
        raise errors.TransientServerError(f"{path}: {answer}")
    raise errors.InvalidRequest(f"{path}: {answer}")


def is_json(response: requests.Response) -> bool:
    """Whether the answer's body is JSON (Marketo's envelope, or the identity's OAuth answer)."""
    try:
        response.json()
    except ValueError:
        return False
    return True


def body_excerpt(response: requests.Response, limit: int = 120) -> str:
    """A body in a few words on one line: an HTML page's title (or its text), else the text."""
    text = response.text or ""
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        text = title.group(1)
    elif "<" in text:
        text = re.sub(r"<[^>]*>", " ", text)
    text = " ".join(html.unescape(text).split())
    return text if len(text) <= limit else f"{text[: limit - 1]}\u2026"


def not_marketo(response: requests.Response, path: str) -> errors.ConfigError:
    """An answer that is not Marketo's JSON: ``base_url`` points at something else (a web page,
    a proxy's login page). Said at once: waiting does not change where a URL points."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
    excerpt = body_excerpt(response, 80)
    msg = (
        f"{path} answered HTTP {response.status_code} with a body that is not JSON ({kind}"
        f"{': ' + repr(excerpt) if excerpt else ''}), so base_url does not point at Marketo's REST API. "
        "Set base_url to the REST endpoint from Marketo Admin > Web Services, e.g. "
        "https://123-ABC-456.mktorest.com/rest"
    )
    return errors.ConfigError(msg)


def read_envelope(response: requests.Response, path: str) -> dict:
    """The JSON object Marketo answered; anything else (an HTML page, a list) is transient.

    After Marketo's identity service has answered, a 2xx page that is not JSON is most likely
    a proxy or maintenance page for a while, so it is retried; the message still says where to
    look if it persists. (The identity call itself treats such an answer as a wrong
    ``base_url``: see :mod:`tap_marketo_bulk.marketo.auth`.)
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
    """Map the first error of a ``success: false`` envelope to an exception type.

    Codes this tap does not know are :class:`errors.UnknownCode`, a refusal of the entity:
    Marketo does not document what it answers for a feature the subscription lacks.
    """
    first = (body.get("errors") or [{}])[0]
    code = str(first.get("code", "")) or None
    message = str(first.get("message", "unknown error"))
    where = f"{path}: {message.rstrip('.')}"
    answer = f"{code or '(no code)'} {message}"
    if code in {"600", "601", "602"}:
        return errors.TokenRejected(where, code=code)
    if code == "603":
        return errors.AccessDenied(
            f"{where}. Give the API user's role the permission this call needs "
            "(Read-Only Lead, Read-Only Activity, Read-Only Assets).",
            code=code,
            path=path,
            answer=answer,
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
        return errors.NotFound(where, code=code, path=path, answer=answer)
    if code in INVALID_REQUEST_CODES:
        return errors.InvalidRequest(where, code=code)
    return errors.UnknownCode(where, code=code, path=path, answer=answer)


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
