"""MarketoClient: the one place that talks HTTP to Marketo.

Marketo's limits (100 calls per 20 s, 10 concurrent calls, 50,000 calls a day, the bulk queue)
count per subscription, so every call of every stream goes through one client, one
``requests.Session`` and one access token. The client knows Marketo's envelope and error codes
and turns them into the exception types of :mod:`tap_marketo_bulk.errors`; it never knows
about export jobs or Singer.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import typing as t
from urllib.parse import quote_plus, urlsplit

import backoff
import requests

from tap_marketo_bulk import errors, interrupts

LOGGER = logging.getLogger("tap_marketo_bulk.client")

#: Refresh the token this long before Marketo says it expires, so no call races the expiry.
TOKEN_EXPIRY_MARGIN_SECONDS = 60

#: Marketo codes answered with "try again": timeouts, temporary unavailability, system errors.
TRANSIENT_CODES = frozenset({"604", "608", "611", "713"})


def normalize_base_url(base_url: str) -> str:
    """Return the instance root (``https://123-ABC-456.mktorest.com``).

    Users copy the "REST endpoint" from Admin > Web Services, which ends in ``/rest``; the
    identity (``/identity``) and bulk (``/bulk``) APIs live beside it, not under it.
    """
    root = base_url.strip().rstrip("/")
    if root.endswith("/rest"):
        root = root[: -len("/rest")]
    if root.endswith("/identity"):
        root = root[: -len("/identity")]
    parts = urlsplit(root)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        msg = (
            f"base_url {base_url!r} is not a URL. Use the REST endpoint from Marketo "
            "Admin > Web Services, e.g. https://123-ABC-456.mktorest.com/rest"
        )
        raise errors.ConfigError(msg)
    return root


class RedactSecrets(logging.Filter):
    """Replace the client secret and access tokens in any log record with ``***``.

    The identity call carries the secret in its query string, and urllib3 logs request lines
    at DEBUG; this filter keeps them out of every log a user can switch on.
    """

    def __init__(self, secrets: t.Callable[[], t.Iterable[str | None]]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message when it contains a secret; never drop it."""
        message = record.getMessage()
        redacted = message
        for secret in self._secrets():
            if secret and len(secret) >= MIN_SECRET_LENGTH:
                redacted = redacted.replace(secret, "***")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


#: Failed attempts to reach the identity endpoint, before any token, that mean "wrong base_url".
UNREACHABLE_AT_START = 3


def _is_name_resolution(exc: BaseException) -> bool:
    """Whether a connection error is a host name that does not resolve (a typo in base_url)."""
    text = repr(exc)
    return "NameResolutionError" in text or "Name or service not known" in text or "nodename nor servname" in text


#: Shorter strings are not secrets worth redacting (and would mangle every message).
MIN_SECRET_LENGTH = 6

#: Loggers of HTTP libraries that write request URLs (with query strings) at DEBUG.
HTTP_LOGGERS = ("urllib3.connectionpool", "requests_mock.adapter")


class CallRateLimiter:
    """Client-side sliding window: at most ``calls`` calls in any ``period`` seconds.

    Staying under Marketo's 100 calls per 20 s ourselves is cheaper than spending calls on 606
    answers; the window is shared by every thread of the tap.
    """

    def __init__(
        self,
        calls: int = 100,
        period: float = 20.0,
        *,
        clock: t.Callable[[], float] = time.monotonic,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.calls = calls
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._sent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until one more call fits in the window, then count it."""
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and now - self._sent[0] >= self.period:
                    self._sent.popleft()
                if len(self._sent) < self.calls:
                    self._sent.append(now)
                    return
                wait = self.period - (now - self._sent[0])
            self._sleep(max(wait, 0.01))


class MarketoClient:
    """HTTP to Marketo with token handling, retries and Marketo's error codes mapped.

    Secrets never leave this object: the token travels only in the ``Authorization`` header,
    and the messages of errors raised here never contain a URL with query parameters.
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 300.0,
        max_tries: int = 8,
        backoff_factor: float = 2.0,
        backoff_max_seconds: float = 120.0,
        rate_limiter: CallRateLimiter | None = None,
        session: requests.Session | None = None,
        user_agent: str = "tap-marketo-bulk",
    ) -> None:
        self.root = normalize_base_url(base_url)
        self._client_id = client_id
        self._client_secret = client_secret
        self.timeout = timeout
        self.rate_limiter = rate_limiter or CallRateLimiter()
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self._token: str | None = None
        self._token_expires_at = 0.0
        #: Whether the identity endpoint ever answered: before that, a host that cannot be
        #: reached is most likely a wrong base_url, reported at once instead of retried.
        self._authenticated = False
        self._unreachable = 0
        self._token_lock = threading.Lock()
        #: Calls made by this run, reported in the end-of-run summary and quota messages.
        self.calls_made = 0
        self._retrying = backoff.on_exception(
            backoff.expo,
            (errors.TransientServerError, errors.RateLimited),
            max_tries=max_tries,
            factor=backoff_factor,
            max_value=backoff_max_seconds,
            jitter=backoff.full_jitter,
            on_backoff=self._log_retry,
            giveup=lambda _exc: interrupts.requested(),  # a stop is not delayed by backoff
            logger=None,
        )
        self._send = self._retrying(self._send_once)
        self._install_redaction()

    # --- public API -------------------------------------------------------------------

    def get(self, path: str, params: t.Mapping[str, t.Any] | None = None) -> dict:
        """GET a REST/bulk JSON endpoint and return its successful envelope."""
        return self.request("GET", path, params=params)

    def post(self, path: str, body: t.Any = None, *, retry: bool = True) -> dict:
        """POST JSON to a REST/bulk endpoint and return its successful envelope.

        ``retry=False`` makes one attempt only: for best-effort calls on the way out (cancel
        after a signal), where waiting minutes on backoff would hold up the shutdown.
        """
        return self.request("POST", path, retry=retry, json=body)

    def request(self, method: str, path: str, *, retry: bool = True, **kwargs: t.Any) -> dict:
        """Send one API call, renewing the token once if Marketo rejects it (601/602)."""
        send = self._send if retry else self._send_once
        try:
            return send(method, path, **kwargs)
        except errors.TokenRejected:
            self._invalidate_token()
            return send(method, path, **kwargs)

    def open_download(self, path: str, start_byte: int = 0, *, probe: bool = False) -> requests.Response:
        """Open a streamed GET of an export file, from ``start_byte`` on (``Range``).

        Returns the response with headers read; the caller iterates the body. A 404 (file
        not ready or gone) raises :class:`errors.NotFound`. ``probe`` asks for one byte only,
        to learn whether the file still exists. Marketo answers auth and quota errors on this
        endpoint with its JSON envelope, which is raised as the matching error, never saved.
        """

        def _open() -> requests.Response:
            headers = {}
            if probe:
                headers["Range"] = "bytes=0-0"
            elif start_byte:
                headers["Range"] = f"bytes={start_byte}-"
            response = self._http("GET", path, headers=headers, stream=True)
            if response.status_code in {200, 206}:
                if "json" in response.headers.get("Content-Type", "").lower():
                    body = self._json(response, path)
                    response.close()
                    if body.get("success", True) is False:
                        raise self._error_from_envelope(body, path)
                    msg = f"{path}: Marketo answered JSON instead of the export file"
                    raise errors.TransientServerError(msg)
                return response
            response.close()
            self._raise_for_http(response, path)
            msg = f"unexpected HTTP {response.status_code} downloading {path}"
            raise errors.TransientServerError(msg)

        try:
            return self._retrying(_open)()
        except errors.TokenRejected:
            self._invalidate_token()
            return self._retrying(_open)()

    def token(self) -> str:
        """Return a valid access token, asking the identity endpoint only when needed.

        Marketo returns the same token until it expires, so asking early gains nothing; we ask
        when there is no token or less than a minute of life is left.
        """
        with self._token_lock:
            if self._token and time.monotonic() < self._token_expires_at:
                return self._token
            self.rate_limiter.acquire()
            self.calls_made += 1
            params = {
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            }
            try:
                response = self.session.get(f"{self.root}/identity/oauth/token", params=params, timeout=self.timeout)
            except requests.RequestException as exc:
                self._unreachable += 1
                if not self._authenticated and (self._unreachable >= UNREACHABLE_AT_START or _is_name_resolution(exc)):
                    host = urlsplit(self.root).netloc
                    msg = (
                        f"Cannot reach {host} ({type(exc).__name__}). Check base_url: the REST "
                        "endpoint from Marketo Admin > Web Services, e.g. "
                        "https://123-ABC-456.mktorest.com/rest; and this machine's network."
                    )
                    raise errors.ConfigError(msg) from None
                raise self._connection_error(exc, "/identity/oauth/token") from None
            if response.status_code in {400, 401, 403}:
                msg = (
                    "Marketo refused client_id/client_secret (HTTP "
                    f"{response.status_code}). Copy both from Admin > LaunchPoint > "
                    "View Details of the API service, and check the API user is active."
                )
                raise errors.AuthenticationFailed(msg)
            if response.status_code >= 500:
                msg = f"Marketo identity endpoint answered HTTP {response.status_code}"
                raise errors.TransientServerError(msg)
            body = self._json(response, "/identity/oauth/token")
            token = body.get("access_token")
            if not token:
                msg = (
                    f"{self.root}/identity/oauth/token gave no access_token: is base_url "
                    "your instance's REST endpoint (Admin > Web Services)?"
                )
                raise errors.AuthenticationFailed(msg)
            self._token = token
            self._authenticated = True
            life = float(body.get("expires_in", 3600))
            self._token_expires_at = time.monotonic() + life - TOKEN_EXPIRY_MARGIN_SECONDS
            return token

    # --- internals --------------------------------------------------------------------

    def _install_redaction(self) -> None:
        """Redact our secrets from HTTP library loggers and from every root handler."""
        redact = RedactSecrets(lambda: (self._client_secret, quote_plus(self._client_secret), self._token))
        for name in HTTP_LOGGERS:
            logging.getLogger(name).addFilter(redact)
        for handler in logging.getLogger().handlers:
            handler.addFilter(redact)

    def _invalidate_token(self) -> None:
        with self._token_lock:
            self._token = None
            self._token_expires_at = 0.0

    def _http(self, method: str, path: str, **kwargs: t.Any) -> requests.Response:
        """One HTTP exchange with the bearer token and the call-rate limit applied."""
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Authorization"] = f"Bearer {self.token()}"
        self.rate_limiter.acquire()
        self.calls_made += 1
        try:
            return self.session.request(method, f"{self.root}{path}", headers=headers, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise self._connection_error(exc, path) from None

    def _send_once(self, method: str, path: str, **kwargs: t.Any) -> dict:
        response = self._http(method, path, **kwargs)
        self._raise_for_http(response, path)
        body = self._json(response, path)
        if body.get("success", True) is False:
            error = self._error_from_envelope(body, path)
            if isinstance(error, errors.DailyCallQuotaExhausted):
                error.args = (f"{error.args[0]} This run made {self.calls_made} calls.",)
            raise error
        return body

    def _raise_for_http(self, response: requests.Response, path: str) -> None:
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

    @staticmethod
    def _json(response: requests.Response, path: str) -> dict:
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

    @staticmethod
    def _error_from_envelope(body: dict, path: str) -> errors.MarketoError:
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
            lowered = message.lower()
            if "quota" in lowered:
                return errors.ExportQuotaExhausted(
                    f"{where}. Marketo's daily bulk export quota is used up; {errors.quota_reset_text()}.",
                    code=code,
                )
            if "already queued" in lowered:
                return errors.JobAlreadyQueued(where, code=code)
            return errors.ExportQueueFull(where, code=code)
        if code == "1035":
            return errors.UnsupportedFilter(where, code=code)
        if code == "610":
            return errors.NotFound(where, code=code)
        if code in {"1003", "609", "701", "1001", "1002", "1004", "1006"}:
            return errors.InvalidRequest(where, code=code)
        return errors.MarketoError(where, code=code)

    def _connection_error(self, exc: requests.RequestException, path: str) -> errors.MarketoError:
        """A network failure, described without the URL (its query may carry the secret)."""
        kind = type(exc).__name__
        return errors.TransientServerError(f"{path}: {kind} talking to {urlsplit(self.root).netloc}")

    @staticmethod
    def _log_retry(details: t.Mapping[str, t.Any]) -> None:
        exc = details.get("exception")
        LOGGER.warning(
            "Retrying Marketo call in %.1f s (try %d): %s",
            details.get("wait", 0.0),
            details.get("tries", 0),
            exc,
        )
