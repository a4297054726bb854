"""Exceptions named for what happened, each with a message that tells the user what to do.

Marketo reports most failures as HTTP 200 with ``success: false`` and a string code; the
client maps those codes to these types so that streams and the tap can decide per case
(retry, fall back, stop cleanly) without knowing Marketo's numbering.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

#: Marketo's daily quotas (API calls, bulk export size) reset at midnight in this zone.
QUOTA_ZONE = ZoneInfo("America/Chicago")


def quota_day_start(now: dt.datetime | None = None) -> dt.datetime:
    """Start of Marketo's current quota day (midnight US Central), in UTC."""
    now = now or dt.datetime.now(dt.timezone.utc)
    local = now.astimezone(QUOTA_ZONE)
    return dt.datetime.combine(local.date(), dt.time(), QUOTA_ZONE).astimezone(dt.timezone.utc)


def quota_reset_text(now: dt.datetime | None = None) -> str:
    """When Marketo's daily quotas reset, in words: midnight US Central, in UTC and from now."""
    now = now or dt.datetime.now(dt.timezone.utc)
    local = now.astimezone(QUOTA_ZONE)
    midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), QUOTA_ZONE)
    reset = midnight.astimezone(dt.timezone.utc)
    minutes = int((reset - now).total_seconds() // 60)
    return f"it resets at midnight US Central ({reset:%Y-%m-%d %H:%M} UTC, in {minutes // 60} h {minutes % 60:02d} min)"


class MarketoError(Exception):
    """Base of every error this tap raises on purpose; its message is meant for the user."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code

    def __str__(self) -> str:
        text = super().__str__()
        return f"[Marketo {self.code}] {text}" if self.code else text


class ConfigError(MarketoError):
    """A setting is missing, malformed or contradicts another; the message names it."""


class AuthenticationFailed(MarketoError):
    """The identity endpoint refused the client id/secret."""


class Refusal(MarketoError):
    """Marketo refused one entity: the API user's role lacks a permission, or the subscription
    lacks the feature. Marketo documents 603 for the first and nothing for the second, so every
    answer that can mean either is one: 603, HTTP 401/403/404 on an API call, 610, and any
    envelope code this tap does not otherwise know. Errors that concern the whole run (bad
    credentials, an unreachable host or wrong ``base_url``, 5xx, rate limits, quotas, invalid
    settings) are never refusals. An optional entity Marketo refuses is skipped with one
    warning (:mod:`tap_marketo_bulk.streams.optional`); leads are not optional.
    """

    def __init__(self, message: str, *, code: str | None = None, path: str = "", answer: str = "") -> None:
        super().__init__(message, code=code)
        #: The API path Marketo refused (no query string: it never carries a secret).
        self.path = path
        #: Marketo's answer in its own words, e.g. ``603 Access denied`` or ``HTTP 404 Not Found``.
        self.answer = answer or (f"{code} {message}" if code else message)


class AccessDenied(Refusal):
    """The API user lacks a permission (Marketo 603, or HTTP 401/403 on an API call)."""


class TokenRejected(MarketoError):
    """Marketo refused the access token (601 invalid, 602 expired); the client renews it."""


class RateLimited(MarketoError):
    """Too many calls per 20 s (606) or concurrent calls (615); waited out and retried."""


class TransientServerError(MarketoError):
    """HTTP 5xx, Marketo 604/608/611 or a dropped connection; retried with backoff."""


class DailyCallQuotaExhausted(MarketoError):
    """The subscription's 50,000 daily API calls are spent (607)."""


class ExportQuotaExhausted(MarketoError):
    """The daily bulk export quota is spent (1029 ``Export daily quota ... exceeded``)."""


class ExportQueueFull(MarketoError):
    """The subscription's bulk queue has no room (1029 ``Too many jobs``); wait and retry."""


class UnsupportedFilter(MarketoError):
    """The filter is not enabled for this subscription (1035)."""


class InvalidRequest(MarketoError):
    """Marketo rejected a field or value (1003 and similar): names what to fix."""


class NotFound(Refusal):
    """An endpoint, export id or file that Marketo does not have (HTTP 404 or 610)."""


class UnknownCode(Refusal):
    """An envelope error code this tap does not know (such as 1026): most likely a feature
    this subscription lacks."""


class ExportFailed(MarketoError):
    """An export job ended ``Failed`` or ``Cancelled``, or did not finish in time."""


class ChecksumMismatch(MarketoError):
    """A downloaded file does not match Marketo's ``fileChecksum``/``fileSize``."""


class TempFileUnwritable(MarketoError):
    """A downloaded export file could not be written (disk full, folder gone); names the folder."""


class MalformedExportFile(MarketoError):
    """A row of an export file does not fit the header; names file, row and columns."""


class UnexpectedValue(MarketoError):
    """A REST answer holds a value its field cannot hold (text in an id, say); names the
    stream, the field and the value instead of emitting a wrong one."""


class JobAlreadyQueued(MarketoError):
    """Enqueue of a job that is already queued (1029 ``Job already queued``): not a failure."""


class ExportBudgetReached(MarketoError):
    """The run would spend more than ``export_quota_budget_mb``; stopped before the next job."""


class Interrupted(BaseException):
    """SIGINT/SIGTERM. Not an ``Exception``: no ``except Exception`` (ours, the SDK's or a
    library's) may swallow it or log it as an unexpected error on the way out."""
