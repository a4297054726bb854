"""MarketoClient: the one place that talks HTTP to Marketo.

Marketo's limits (100 calls per 20 s, 10 concurrent calls, 50,000 calls a day, the bulk queue)
count per subscription, so every call of every stream goes through one client, one
``requests.Session``, one :class:`~tap_marketo_bulk.marketo.ratelimit.CallRateLimiter` and one
:class:`~tap_marketo_bulk.marketo.auth.AccessToken`. The client knows Marketo's envelope and raises the
exception types of :mod:`tap_marketo_bulk.errors` (mapped in :mod:`tap_marketo_bulk.marketo.error_codes`);
it never knows about export jobs or Singer.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import email.utils
import logging
import typing as t
from urllib.parse import urlsplit

import backoff
import requests

from tap_marketo_bulk import errors, interrupts
from tap_marketo_bulk.marketo.auth import AccessToken
from tap_marketo_bulk.marketo.error_codes import (
    connection_error,
    error_from_envelope,
    raise_for_http_status,
    read_envelope,
)
from tap_marketo_bulk.marketo.ratelimit import CallRateLimiter

LOGGER = logging.getLogger(__name__)


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


class MarketoClient:
    """Marketo API calls, each paced, authenticated and retried until it yields an envelope.

    Why this class is long: JSON calls, file downloads and the token's own calls share one
    session, one pacing, one call count (per stream too) and one clock offset; split apart,
    each piece would have to pass all of them around.

    Secrets never leave the :class:`AccessToken`: the token travels only in the
    ``Authorization`` header, and the messages of errors raised here never contain a URL with
    query parameters.
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
        self.timeout = timeout
        self.rate_limiter = rate_limiter or CallRateLimiter()
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = user_agent
        #: Calls made by this run, identity calls included, reported in the end-of-run summary
        #: and quota messages.
        self.calls_made = 0
        #: The same calls by the label they were made under (:meth:`attributed_to`); calls
        #: made under no label (discovery, the spend line's own lookups) are not in it.
        self.calls_by_label: collections.Counter[str] = collections.Counter()
        self._label: str | None = None
        #: Marketo's clock minus ours, from the ``Date`` header of its last answer.
        self._clock_offset = dt.timedelta(0)
        self._access_token = AccessToken(
            self.root,
            client_id,
            client_secret,
            session=self.session,
            timeout=timeout,
            before_call=self._count_call,
        )
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
        #: Rate limits (606/615) waited out like every call's, nothing else retried: for calls
        #: whose failure is only reported (the end-of-run spend line).
        self._send_paced = backoff.on_exception(
            backoff.expo,
            errors.RateLimited,
            max_tries=max_tries,
            factor=backoff_factor,
            max_value=backoff_max_seconds,
            jitter=backoff.full_jitter,
            on_backoff=self._log_retry,
            giveup=lambda _exc: interrupts.requested(),
            logger=None,
        )(self._send_once)

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

    def request(
        self, method: str, path: str, *, retry: bool | t.Literal["rate_limits"] = True, **kwargs: t.Any
    ) -> dict:
        """Send one API call, renewing the token once if Marketo rejects it (601/602).

        ``retry``: True retries rate limits and transient failures with backoff; False makes
        one attempt; ``"rate_limits"`` waits out 606/615 only (pacing, not failure).
        """
        send = self._send if retry is True else self._send_paced if retry == "rate_limits" else self._send_once
        try:
            return send(method, path, **kwargs)
        except errors.TokenRejected:
            self._access_token.invalidate()
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
                    body = read_envelope(response, path)
                    response.close()
                    if body.get("success", True) is False:
                        raise error_from_envelope(body, path)
                    msg = f"{path}: Marketo answered JSON instead of the export file"
                    raise errors.TransientServerError(msg)
                return response
            response.close()
            raise_for_http_status(response, path)
            msg = f"unexpected HTTP {response.status_code} downloading {path}"
            raise errors.TransientServerError(msg)

        try:
            return self._retrying(_open)()
        except errors.TokenRejected:
            self._access_token.invalidate()
            return self._retrying(_open)()

    @contextlib.contextmanager
    def attributed_to(self, label: str) -> t.Iterator[None]:
        """Count the calls made inside the block under ``label`` (a stream's name), so the
        end-of-run line can say what each stream cost. Blocks nest: a stream synced inside
        another's block counts its own calls, and the outer label is back when it ends."""
        outer, self._label = self._label, label
        try:
            yield
        finally:
            self._label = outer

    def marketo_now(self) -> dt.datetime:
        """Marketo's time now, to the second: our clock corrected by its last ``Date`` header.

        Job dates in Marketo's answers come from its clock; comparing them with ours would
        misjudge by however far the two clocks are apart.
        """
        return (dt.datetime.now(dt.timezone.utc) + self._clock_offset).replace(microsecond=0)

    # --- internals --------------------------------------------------------------------

    def _count_call(self) -> None:
        """Wait for room under the rate limit, then count the call against this run."""
        self.rate_limiter.acquire()
        self.calls_made += 1
        if self._label is not None:
            self.calls_by_label[self._label] += 1

    def _http(self, method: str, path: str, **kwargs: t.Any) -> requests.Response:
        """One HTTP exchange with the bearer token and the call-rate limit applied."""
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Authorization"] = f"Bearer {self._access_token.get()}"
        self._count_call()
        try:
            response = self.session.request(
                method, f"{self.root}{path}", headers=headers, timeout=self.timeout, **kwargs
            )
        except requests.RequestException as exc:
            raise connection_error(exc, path, urlsplit(self.root).netloc) from None
        self._observe_clock(response)
        return response

    def _observe_clock(self, response: requests.Response) -> None:
        """Keep Marketo's clock offset from the answer's ``Date`` header (whole seconds)."""
        date = response.headers.get("Date")
        if not date:
            return
        try:
            theirs = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return
        if theirs.tzinfo is not None:
            self._clock_offset = theirs - dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

    def _send_once(self, method: str, path: str, **kwargs: t.Any) -> dict:
        response = self._http(method, path, **kwargs)
        raise_for_http_status(response, path)
        body = read_envelope(response, path)
        if body.get("success", True) is False:
            error = error_from_envelope(body, path)
            if isinstance(error, errors.DailyCallQuotaExhausted):
                error.args = (f"{error.args[0]} This run made {self.calls_made} calls.",)
            raise error
        return body

    @staticmethod
    def _log_retry(details: t.Mapping[str, t.Any]) -> None:
        exc = details.get("exception")
        LOGGER.warning(
            "Retrying Marketo call in %.1f s (try %d): %s",
            details.get("wait", 0.0),
            details.get("tries", 0),
            exc,
        )
