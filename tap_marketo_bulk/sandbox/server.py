"""HTTP front of the sandbox: routing, OAuth tokens, Marketo envelope, limits and injected faults.

API errors are HTTP 200 with ``success: false`` (codes are strings), like Marketo; real HTTP
errors are 401 (identity), 404 (plain text, unknown export / file not ready) and injected 5xx.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import email.utils
import itertools
import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .asset_api import answer as rest_answer
from .custom_object_api import custom_objects_result
from .data import SandboxData, parse_dt
from .entities import NOT_FOUND_PAGE, refusal_for
from .faults import Faults
from .files import format_dt, to_text
from .jobs import CHICAGO, Clock, JobManager
from .validation import VALIDATORS, ApiError, check_custom_object, validate_custom_object

#: Where Marketo's APIs live; any other path is answered by the web server with an HTML page.
API_PREFIXES = ("/identity/", "/rest/", "/bulk/")
BULK_RE = re.compile(
    r"^/bulk/v1/(leads|activities|program/members|customobjects/[^/]+)/export"
    r"(?:/(create)\.json|/([^/]+)/(enqueue|status|file|cancel)\.json|(\.json))$"
)
ENTITIES = {"leads": "leads", "activities": "activities", "program/members": "program_members"}
CO_RECORDS_RE = re.compile(r"^/_sandbox/customobjects/([^/]+)/records\.json$")


@dataclass
class SandboxOptions:
    """All knobs of the sandbox; defaults mirror Marketo's documented limits."""

    seed: int = 1
    leads: int = 300
    activities: int = 2000
    programs: int = 14
    members_per_program: int = 20
    start: str = "2024-01-01T00:00:00Z"
    end: str = "2024-04-01T00:00:00Z"
    status_refresh_seconds: float = 60.0
    processing_seconds_per_1000_records: float = 1.0
    min_processing_seconds: float = 0.0
    export_quota_mb: float = 500.0
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    token_ttl_seconds: int = 3600
    disabled_filters: frozenset[str] = field(default_factory=frozenset)
    max_processing: int = 2
    max_queued: int = 10
    rate_limit_calls: int = 100
    rate_limit_window_seconds: float = 20
    end_at_inclusive: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    max_concurrent: int = 10
    daily_call_quota: int = 50000
    #: Records generated for purchase_c (subscription_c 2/3, invoice_c 1/3, usage_c 1/5 of it).
    custom_object_records: int = 300
    #: Custom object types the API user lacks permission for: describe, bulk export and job
    #: calls answer 603 "Access denied"; they are still in List Custom Objects.
    denied_custom_objects: frozenset[str] = field(default_factory=lambda: frozenset({"invoice_c"}))
    #: Undocumented: whether List/Describe Custom Objects (not the ``schema`` endpoints, which
    #: document it) carry ``state``/``version`` and show draft-only types.  False: as the docs'
    #: examples (no state, drafts absent, describe of a draft 1013); True: as the OpenAPI
    #: ObjectMetaData schema (state/version on every type, the draft listed with state "draft").
    custom_object_list_state: bool = False
    #: Undocumented: how the job-list ``status`` filter matches.  False: exact status values
    #: ("Cancelled"); True: any case and "Canceled" too (the docs and OpenAPI spell it so).
    job_list_status_lenient: bool = False
    #: Undocumented: whether the asset API's ``earliestUpdatedAt``/``latestUpdatedAt`` bounds are
    #: inclusive (True) or exclusive (False).
    updated_at_inclusive: bool = True
    #: Undocumented: what an asset browse by ``status`` shows of an asset with one version.
    #: "versions": that version only, and a browse without ``status`` shows every version
    #: (an asset with a draft twice); "latest": ``status=draft`` shows an approved-only asset by
    #: its approved version, and a browse without ``status`` one row per asset.
    asset_status_reading: str = "versions"
    #: Undocumented: the most rows a REST listing page holds whatever ``maxReturn``/``batchSize``
    #: ask (None: what they ask). A reading in which a short page is not the end of a listing
    #: (the asset API filters by workspace); tests also use it for several pages of small data.
    page_limit: int | None = None
    #: Entities this subscription does not have (names of :data:`.entities.ENTITY_PATHS`, e.g.
    #: ``custom_objects``, ``program_member_export``): their calls answer ``missing_entity_answer``.
    missing_entities: frozenset[str] = field(default_factory=frozenset)
    #: Undocumented: what Marketo answers for a feature the subscription lacks: an envelope code
    #: ("610", "1026", any other, or "CODE:message") or "404" (HTTP 404 with an HTML page).
    missing_entity_answer: str = "610"
    #: Permissions the API user's role lacks (keys of :data:`.entities.PERMISSION_ENTITIES`, e.g.
    #: ``Read-Only Assets``): calls of the entities needing them answer ``missing_permission_answer``.
    missing_permissions: frozenset[str] = field(default_factory=frozenset)
    #: 603 "Access denied", as documented; any reading of ``missing_entity_answer`` too.
    missing_permission_answer: str = "603"


class ApiState:
    """Tokens, rate-limit window, concurrency and daily call counters shared by handler threads."""

    def __init__(self, opts: SandboxOptions, clock: Clock) -> None:
        self.opts, self.clock = opts, clock
        self.lock = threading.Lock()
        self.token: str | None = None
        self.token_expiry: datetime | None = None
        self.expired: set[str] = set()
        self.calls: collections.deque[float] = collections.deque()
        self.in_flight = 0
        self.day_calls: dict[Any, int] = {}
        self._ids = itertools.count(1)

    def request_id(self) -> str:
        return f"{next(self._ids):x}#{int(time.time() * 1000):x}"

    def issue_token(self) -> tuple[str, int]:
        """Same token with its remaining life until expiry, else a fresh one."""
        now = self.clock.now()
        with self.lock:
            if self.token is None or self.token_expiry is None or self.token_expiry <= now:
                if self.token:
                    self.expired.add(self.token)
                self.token = uuid.uuid4().hex + ":sb"
                self.token_expiry = now + timedelta(seconds=self.opts.token_ttl_seconds)
            return self.token, max(0, int((self.token_expiry - now).total_seconds()))

    def expire_current(self) -> None:
        with self.lock:
            if self.token:
                self.expired.add(self.token)
                self.token, self.token_expiry = None, None

    def invalidate_current(self) -> None:
        with self.lock:
            self.token, self.token_expiry = None, None

    def check_token(self, header: str | None) -> ApiError | None:
        if not header or not header.lower().startswith("bearer ") or not header[7:].strip():
            return ApiError("600", "Access token missing")
        tok = header[7:].strip()
        now = self.clock.now()
        with self.lock:
            if tok == self.token and self.token_expiry and self.token_expiry > now:
                return None
            if tok == self.token or tok in self.expired:
                return ApiError("602", "Access token expired")
        return ApiError("601", "Access token invalid")

    def admit(self) -> ApiError | None:
        """Sliding-window rate limit and daily quota; rejected calls are not counted."""
        now = self.clock.monotonic()
        day = self.clock.now().astimezone(CHICAGO).date()
        o = self.opts
        with self.lock:
            while self.calls and self.calls[0] <= now - o.rate_limit_window_seconds:
                self.calls.popleft()
            if self.day_calls.get(day, 0) >= o.daily_call_quota:
                return ApiError("607", "Daily quota reached")
            if len(self.calls) >= o.rate_limit_calls:
                return ApiError(
                    "606",
                    f"Max rate limit '{o.rate_limit_calls}' exceeded with in "
                    f"'{_num(o.rate_limit_window_seconds)}' secs",
                )
            self.calls.append(now)
            self.day_calls[day] = self.day_calls.get(day, 0) + 1
        return None


FAULT_CODES = {
    "code_604": ("604", "Request timed out"),
    "code_606": ("606", "Max rate limit '{calls}' exceeded with in '{window}' secs"),
    "code_607": ("607", "Daily quota reached"),
    "code_611": ("611", "System error"),
    "code_615": ("615", "Concurrent access limit '{concurrent}' reached"),
}


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _token_encode(ts: datetime, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{format_dt(ts)}|{last_id}".encode()).decode().rstrip("=")


def _token_decode(token: str) -> tuple[datetime, int]:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    ts, last = raw.split("|")
    return parse_dt(ts), int(last)


class Handler(BaseHTTPRequestHandler):
    """One request; the owning SandboxServer is reachable via ``self.server.sandbox``.

    Why this class is long: BaseHTTPRequestHandler dispatches on methods of one class, and each
    endpoint here needs the request (query, headers, body) and the envelope helpers it provides.
    Endpoints that need only the data and the query live in :mod:`.custom_object_api`.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out separately; avoid 40 ms delayed-ACK stalls
    server_version = "MarketoSandbox/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header from the sandbox's clock, as Marketo's comes from the clock
        that stamps its jobs' ``createdAt`` (tests move the sandbox clock forward)."""
        if timestamp is None:
            timestamp = self.sb.clock.now().timestamp()
        return email.utils.formatdate(timestamp, usegmt=True)

    # ------------------------------------------------------------------ plumbing
    @property
    def sb(self) -> Any:
        return self.server.sandbox  # type: ignore[attr-defined]

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: Any, status: int = 200) -> None:
        self._send(
            status,
            json.dumps(obj, ensure_ascii=False).encode("utf-8"),
            "application/json;charset=UTF-8",
        )

    def _text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain;charset=UTF-8")

    def _ok(self, result: list[Any] | None = None, **extra: Any) -> None:
        env: dict[str, Any] = {"requestId": self.sb.api.request_id(), "success": True}
        if result is not None:
            env["result"] = result
        env.update(extra)
        self._json(env)

    def _err(self, err: ApiError) -> None:
        env: dict[str, Any] = {
            "requestId": self.sb.api.request_id(),
            "success": False,
            "errors": [{"code": err.code, "message": err.message}],
        }
        if self.path.startswith("/rest/asset/"):
            env["warnings"] = []  # the asset API always carries both lists
        self._json(env)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        path, self.query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if path.startswith("/_sandbox/"):  # test control: no auth, no faults, not logged or counted
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            return self._control(path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        bad_json = False
        form: dict[str, str] = {}
        is_form = "x-www-form-urlencoded" in (self.headers.get("Content-Type") or "")
        if raw and is_form and path.startswith("/identity/"):
            form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
            body = form
        elif raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                bad_json = True
        self.sb._log(self.command, path, body, self.query, dict(self.headers))
        self.form = form
        api: ApiState = self.sb.api
        with api.lock:
            api.in_flight += 1
            too_many = api.in_flight > self.sb.options.max_concurrent
        try:
            self._handle(path, body, bad_json, too_many)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            with api.lock:
                api.in_flight -= 1

    def _handle(self, path: str, body: Any, bad_json: bool, too_many: bool) -> None:
        if not path.startswith(API_PREFIXES):  # not an API: the web server's page, as for a wrong base_url
            return self._send(404, NOT_FOUND_PAGE.encode(), "text/html;charset=UTF-8")
        faults: Faults = self.sb.faults
        delay = faults.take("delay", path)
        if delay is not None:
            time.sleep(float(delay.get("seconds", 0.5)))
        for kind, code in (("http_500", 500), ("http_502", 502), ("http_503", 503)):
            if faults.take(kind, path) is not None:
                return self._text(
                    code,
                    {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}[code],
                )
        if path.startswith("/identity/"):
            return self._identity(path, self.form)
        api: ApiState = self.sb.api
        if faults.take("expire_token", path) is not None:
            api.expire_current()
        if faults.take("invalidate_token", path) is not None:
            api.invalidate_current()
        err = api.check_token(self.headers.get("Authorization"))
        if err:
            return self._err(err)
        if too_many:
            return self._err(ApiError("615", f"Concurrent access limit '{self.sb.options.max_concurrent}' reached"))
        for kind, (code, msg) in FAULT_CODES.items():
            if faults.take(kind, path) is not None:
                o = self.sb.options
                return self._err(
                    ApiError(
                        code,
                        msg.format(
                            calls=o.rate_limit_calls,
                            concurrent=o.max_concurrent,
                            window=_num(o.rate_limit_window_seconds),
                        ),
                    )
                )
        err = api.admit()
        if err:
            return self._err(err)
        if bad_json:
            return self._err(ApiError("609", "Invalid JSON"))
        o = self.sb.options
        refusal = refusal_for(
            path, o.missing_entities, o.missing_entity_answer, o.missing_permissions, o.missing_permission_answer
        )
        if refusal is not None:
            if refusal.is_http_404:
                return self._send(404, NOT_FOUND_PAGE.encode(), "text/html;charset=UTF-8")
            return self._err(ApiError(refusal.code, refusal.message))
        try:
            self._route(path, body)
        except ApiError as e:
            self._err(e)

    def _identity(self, path: str, form: dict[str, str]) -> None:
        """The token, for GET (query string) or POST (form body, or query string): Marketo
        documents both."""
        if path != "/identity/oauth/token":
            return self._text(404, "Not Found")
        q, o = {**self.query, **form}, self.sb.options
        if q.get("grant_type") != "client_credentials":
            return self._json(
                {"error": "unsupported_grant_type", "error_description": "Unsupported grant type"},
                400,
            )
        if q.get("client_id") != o.client_id or q.get("client_secret") != o.client_secret:
            return self._json({"error": "invalid_client", "error_description": "Bad client credentials"}, 401)
        token, ttl = self.sb.api.issue_token()
        self._json(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": ttl,
                "scope": "apiuser@sandbox.example.com",
            }
        )

    def _route(self, path: str, body: Any) -> None:
        get = self.command == "GET"
        data: SandboxData = self.sb.data
        if get:
            answer = rest_answer(path, self.query, data, self.sb.options)
            if answer is not None:
                return self._json({"requestId": self.sb.api.request_id(), "success": True, **answer})
        simple = {
            "/rest/v1/leads/describe.json": lambda: data.lead_fields,
            "/rest/v1/leads/describe2.json": self._describe2,
            "/rest/v1/programs/members/describe.json": self._pm_describe,
            "/rest/v1/activities/types.json": lambda: data.activity_types,
        }
        if path in simple and get:
            with data.lock:
                return self._ok(json.loads(json.dumps(simple[path]())))
        if path == "/rest/v1/activities/pagingtoken.json" and get:
            return self._paging_token()
        if path == "/rest/v1/activities/deletedleads.json" and get:
            return self._deleted_leads()
        if path.startswith("/rest/v1/customobjects") and get:
            o: SandboxOptions = self.sb.options
            result = custom_objects_result(path, self.query, data, o.denied_custom_objects, o.custom_object_list_state)
            return self._text(404, "Not Found") if result is None else self._ok(result)
        m = BULK_RE.match(path)
        if not m:
            return self._text(404, "Not Found")
        entity = ENTITIES.get(m.group(1), m.group(1))  # custom objects: "customobjects/<apiName>"
        if entity.startswith("customobjects/") and not m.group(2):
            check_custom_object(entity.split("/", 1)[1], data, self.sb.options.denied_custom_objects, False)
        if m.group(2):
            if get:
                return self._text(404, "Not Found")
            return self._create(entity, body, path)
        if m.group(5):
            return self._list(entity) if get else self._text(404, "Not Found")
        export_id, action = m.group(3), m.group(4)
        job = self.sb.job_manager.get(entity, export_id)
        if job is None:
            return self._text(404, f"Export job {export_id} not found")
        if (action in ("status", "file")) != get:
            return self._text(404, "Not Found")
        jm: JobManager = self.sb.job_manager
        if action == "enqueue":
            return self._ok([jm.enqueue(job, path)])
        if action == "cancel":
            return self._ok([jm.cancel(job)])
        if action == "status":
            return self._ok([jm.status(job)])
        return self._file(job, path)

    # ------------------------------------------------------------------ REST endpoints
    def _describe2(self) -> list[dict[str, Any]]:
        data: SandboxData = self.sb.data
        fields = [
            {
                "name": f["rest"]["name"],
                "displayName": f["displayName"],
                "dataType": f["dataType"],
                **({"length": f["length"]} if "length" in f else {}),
                "updateable": not f["rest"]["readOnly"],
                "crmManaged": False,
            }
            for f in data.lead_fields
            if "rest" in f
        ]
        return [
            {
                "name": "API Lead",
                "searchableFields": [["email"], ["id"], ["customReference"]],
                "fields": fields,
            }
        ]

    def _pm_describe(self) -> list[dict[str, Any]]:
        data: SandboxData = self.sb.data
        return [
            {
                "name": "API Program Membership",
                "description": "Map for API program membership fields",
                "createdAt": "2021-03-20T01:30:05Z",
                "updatedAt": "2021-03-20T01:30:05Z",
                "dedupeFields": ["leadId", "programId"],
                "searchableFields": [["leadId"], ["reachedSuccess"], ["statusName"]],
                "fields": data.program_member_fields,
            }
        ]

    def _paging_token(self) -> None:
        since = self.query.get("sinceDatetime")
        if not since:
            raise ApiError("1003", "Field 'sinceDatetime' is required")
        try:
            ts = parse_dt(since)
        except ValueError:
            raise ApiError("1003", f"Invalid sinceDatetime '{since}'") from None
        self._json(
            {
                "requestId": self.sb.api.request_id(),
                "success": True,
                "nextPageToken": _token_encode(ts, 0),
            }
        )

    def _deleted_leads(self) -> None:
        token = self.query.get("nextPageToken")
        if not token:
            raise ApiError("1003", "Field 'nextPageToken' is required")
        try:
            ts, last_id = _token_decode(token)
        except Exception:
            raise ApiError("1003", "Invalid nextPageToken") from None
        try:
            size = int(self.query.get("batchSize", 300))
        except ValueError:
            raise ApiError("1003", "Invalid batchSize") from None
        size = max(1, min(size, 300))
        data: SandboxData = self.sb.data
        with data.lock:
            rows = [d for d in data.deleted_leads if (d["activityDate"], d["id"]) > (ts, last_id)]
            rows = sorted(rows, key=lambda d: (d["activityDate"], d["id"]))
            page, more = rows[:size], len(rows) > size
            result = [{**d, "activityDate": format_dt(d["activityDate"])} for d in page]
        nxt = _token_encode(page[-1]["activityDate"], page[-1]["id"]) if page else token
        extra: dict[str, Any] = {"nextPageToken": nxt, "moreResult": more}
        if result:
            extra["result"] = result
        self._json({"requestId": self.sb.api.request_id(), "success": True, **extra})

    def _control(self, path: str) -> None:
        """``/_sandbox/...`` (GET): ``jobs.json[?entity=]`` -> {"jobs": [...], "created": {entity: n}};
        ``customobjects/<apiName>/records.json`` -> {"records": [{field: export text or null}]}."""
        if self.command != "GET":
            return self._text(404, "Not Found")
        if path == "/_sandbox/jobs.json":
            entity = self.query.get("entity")
            return self._json({"jobs": self.sb.jobs(entity), "created": self.sb.created_jobs()})
        m = CO_RECORDS_RE.match(path)
        data: SandboxData = self.sb.data
        if m and data.custom.get(m.group(1)) is not None:
            names = data.custom.field_names(m.group(1))
            with data.lock:
                records = data.custom.records.get(m.group(1), [])
                out = [{n: to_text(rec.get(n)) for n in names} for rec in records]
            return self._json({"records": out})
        self._text(404, "Not Found")

    # ------------------------------------------------------------------ bulk endpoints
    def _create(self, entity: str, body: Any, path: str) -> None:
        if not isinstance(body, dict):
            raise ApiError("1003", "Request body must be a JSON object")
        o: SandboxOptions = self.sb.options
        disabled = frozenset(o.disabled_filters)
        if entity.startswith("customobjects/"):
            api_name = entity.split("/", 1)[1]
            spec = validate_custom_object(api_name, body, self.sb.data, disabled, o.denied_custom_objects)
        else:
            spec = VALIDATORS[entity](body, self.sb.data, disabled)
        faults: Faults = self.sb.faults
        hold = faults.take("hold_create", path)
        lost = faults.take("create_then_502", path)
        job = self.sb.job_manager.create(entity, body, spec)
        if hold is not None:
            time.sleep(float(hold.get("seconds", 5)))
        if lost is not None:
            return self._text(502, "Bad Gateway")
        self._ok([job])

    def _list(self, entity: str) -> None:
        q = self.query
        statuses = {s.strip() for s in q.get("status", "").split(",") if s.strip()} or None
        try:
            size = int(q.get("batchSize", 300))
            offset = int(base64.urlsafe_b64decode(q["nextPageToken"] + "==").decode()) if q.get("nextPageToken") else 0
        except (ValueError, UnicodeDecodeError):
            raise ApiError("1003", "Invalid batchSize or nextPageToken") from None
        size = max(1, min(size, 300))
        jobs = self.sb.job_manager.list(entity, statuses, self.sb.options.job_list_status_lenient)
        page = jobs[offset : offset + size]
        extra: dict[str, Any] = {"moreResult": offset + size < len(jobs)}
        if extra["moreResult"]:
            extra["nextPageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        self._ok(page, **extra)

    def _file(self, job: Any, path: str) -> None:
        faults: Faults = self.sb.faults
        content = self.sb.job_manager.file(job)
        if content is None or faults.take("file_gone", path) is not None:
            return self._text(404, "File not found")
        total = len(content)
        status, start, end = 200, 0, total - 1
        headers = {"Accept-Ranges": "bytes"}
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"\s*bytes=(\d+)-(\d*)\s*", rng)
            if not m or int(m.group(1)) >= total or (m.group(2) and int(m.group(2)) < int(m.group(1))):
                return self._send(
                    416,
                    b"Requested Range Not Satisfiable",
                    "text/plain",
                    {"Content-Range": f"bytes */{total}"},
                )
            start = int(m.group(1))
            end = min(int(m.group(2)), total - 1) if m.group(2) else total - 1
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        chunk = content[start : end + 1]
        corrupt = faults.take("corrupt_download", path)
        if corrupt is not None and chunk:
            pos = min(int(corrupt.get("position", len(chunk) // 2)), len(chunk) - 1)
            chunk = chunk[:pos] + bytes([chunk[pos] ^ 0x01]) + chunk[pos + 1 :]
        drop = faults.take("drop_download", path)
        if drop is None:
            return self._send(status, chunk, "text/csv;charset=UTF-8", headers)
        # Promise the whole range, send only part of it, then cut the connection.
        self.send_response(status)
        self.send_header("Content-Type", "text/csv;charset=UTF-8")
        self.send_header("Content-Length", str(len(chunk)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(chunk[: int(drop.get("after_bytes", len(chunk) // 2))])
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
