"""Marketo's access token: fetched from the identity service, renewed, and kept out of logs.

Marketo authenticates REST and bulk calls with a 2-legged OAuth token from
``/identity/oauth/token``, which it documents for GET or POST. The client id and secret travel
only in that call's POST form body, never in a URL (URLs end up in proxy and server logs); the
token travels only in the ``Authorization`` header of the others. Neither ever appears in a
log record or an error message.
"""

from __future__ import annotations

import logging
import threading
import time
import typing as t
from urllib.parse import quote_plus, urlsplit

import requests

from tap_marketo_bulk import errors
from tap_marketo_bulk.marketo.error_codes import connection_error, is_json, not_marketo, read_envelope

IDENTITY_PATH = "/identity/oauth/token"

#: Refresh the token this long before Marketo says it expires, so no call races the expiry.
TOKEN_EXPIRY_MARGIN_SECONDS = 60

#: Failed attempts to reach the identity endpoint, before any token, that mean "wrong base_url".
UNREACHABLE_AT_START = 3

#: Shorter strings are not secrets worth redacting (and would mangle every message).
MIN_SECRET_LENGTH = 6

#: Loggers of HTTP libraries that write request URLs (with query strings) at DEBUG.
HTTP_LOGGERS = ("urllib3.connectionpool", "requests_mock.adapter")


class RedactSecrets(logging.Filter):
    """Replace the client secret and access tokens in any log record with ``***``.

    The secret travels in a request body, which no HTTP library logs, and the token in a header;
    this filter is the second line of defence, for any log a user can switch on.
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


class AccessToken:
    """The access token of one API service, asked of Marketo's identity service only when needed.

    Marketo returns the same token until it expires, so asking early gains nothing; we ask when
    there is no token or less than a minute of life is left, and again after Marketo rejects it
    (601/602, see :meth:`invalidate`). The object holds the secret, so it also installs the log
    filter that hides it.
    """

    def __init__(
        self,
        root: str,
        client_id: str,
        client_secret: str,
        *,
        session: requests.Session,
        timeout: float,
        before_call: t.Callable[[], None],
    ) -> None:
        """``before_call`` runs before each identity call: it counts against Marketo's limits too."""
        self._root = root
        self._client_id = client_id
        self._client_secret = client_secret
        self._session = session
        self._timeout = timeout
        self._before_call = before_call
        self._token: str | None = None
        self._expires_at = 0.0
        #: Whether the identity endpoint ever answered: before that, a host that cannot be
        #: reached is most likely a wrong base_url, reported at once instead of retried.
        self._authenticated = False
        self._unreachable = 0
        self._lock = threading.Lock()
        self._install_redaction()

    def get(self) -> str:
        """Return a valid access token, fetching a new one when there is none or it is about to expire."""
        with self._lock:
            if self._token and time.monotonic() < self._expires_at:
                return self._token
            body = self._fetch()
            token = body.get("access_token")
            if not token:
                msg = (
                    f"{self._root}{IDENTITY_PATH} gave no access_token: is base_url "
                    "your instance's REST endpoint (Admin > Web Services)?"
                )
                raise errors.AuthenticationFailed(msg)
            self._token = token
            self._authenticated = True
            life = float(body.get("expires_in", 3600))
            self._expires_at = time.monotonic() + life - TOKEN_EXPIRY_MARGIN_SECONDS
            return token

    def invalidate(self) -> None:
        """Forget the token Marketo rejected, so the next :meth:`get` fetches a new one."""
        with self._lock:
            self._token = None
            self._expires_at = 0.0

    def _fetch(self) -> dict:
        """One identity call; its failures name the setting to check, never the secret."""
        self._before_call()
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        host = urlsplit(self._root).netloc
        try:
            response = self._session.post(f"{self._root}{IDENTITY_PATH}", data=form, timeout=self._timeout)
        except requests.RequestException as exc:
            self._unreachable += 1
            if not self._authenticated and (self._unreachable >= UNREACHABLE_AT_START or _is_name_resolution(exc)):
                msg = (
                    f"Cannot reach {host} ({type(exc).__name__}). Check base_url: the REST "
                    "endpoint from Marketo Admin > Web Services, e.g. "
                    "https://123-ABC-456.mktorest.com/rest; and this machine's network."
                )
                raise errors.ConfigError(msg) from None
            raise connection_error(exc, IDENTITY_PATH, host) from None
        if response.status_code < 500 and not is_json(response):
            # A web page, a proxy's login page: base_url points elsewhere, and will next time.
            raise not_marketo(response, IDENTITY_PATH)
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
        return read_envelope(response, IDENTITY_PATH)

    def _install_redaction(self) -> None:
        """Redact the secret and the token from HTTP library loggers and from every root handler."""
        redact = RedactSecrets(lambda: (self._client_secret, quote_plus(self._client_secret), self._token))
        for name in HTTP_LOGGERS:
            logging.getLogger(name).addFilter(redact)
        for handler in logging.getLogger().handlers:
            handler.addFilter(redact)


def _is_name_resolution(exc: BaseException) -> bool:
    """Whether a connection error is a host name that does not resolve (a typo in base_url)."""
    text = repr(exc)
    return "NameResolutionError" in text or "Name or service not known" in text or "nodename nor servname" in text
