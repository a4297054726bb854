"""The sandbox's asset API and lead database reference endpoints, in one table by entity.

Each entry of :data:`ENDPOINTS` names the entity an endpoint serves (the tap's stream name), its
path pattern, the function answering it and the permission it needs; :func:`answer` routes a
GET to it. :mod:`.entities` registers them, so its switches (a subscription without an
entity, a role without a permission) refuse every endpoint of an entity by name.

What the docs say, the sandbox does: the asset API pages by ``offset``/``maxReturn`` (default 20,
at most 200; above it error 1003) and ends a listing with success, the warning "No assets found
for the given search criteria." and no ``result``; the lead database pages by
``nextPageToken``/``batchSize`` (default and at most 300). Where they are silent the sandbox
offers each reading (:class:`~.server.SandboxOptions`): whether ``earliestUpdatedAt`` and
``latestUpdatedAt`` are inclusive (``updated_at_inclusive``); what a browse by ``status``
shows of an asset with one version only (``asset_status_reading``); and whether a page can
hold fewer rows than asked before the end (``page_limit``, as workspace filtering might).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .data import SandboxData, parse_dt
from .files import format_dt
from .validation import ApiError

NO_ASSETS = "No assets found for the given search criteria."
#: Get Leads by List Id's fields when ``fields`` is not given (the docs' list).
DEFAULT_LIST_LEAD_FIELDS = ["email", "updatedAt", "createdAt", "lastName", "firstName", "id"]
#: Status readings of a browse by ``status`` (see the module docstring).
STATUS_READINGS = ("versions", "latest")


@dataclasses.dataclass(frozen=True)
class Ask:
    """One GET: the path's match, its query, the data and the sandbox options."""

    match: re.Match[str]
    query: dict[str, str]
    data: SandboxData
    options: Any

    def number(self, name: str, default: int, low: int, high: int | None = None) -> int:
        """An integer parameter within Marketo's limits, else Marketo's 1003."""
        raw = self.query.get(name)
        try:
            value = default if raw is None else int(raw)
        except ValueError:
            raise ApiError("1003", f"Invalid value '{raw}' for {name}: must be an integer") from None
        if value < low or (high is not None and value > high):
            limit = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ApiError("1003", f"Invalid value '{raw}' for {name}: must be {limit}")
        return value

    def page_size(self, asked: int) -> int:
        """What a page holds: what was asked, or fewer with the ``page_limit`` reading."""
        limit = self.options.page_limit
        return min(asked, limit) if limit else asked


# --- presentation ------------------------------------------------------------------------------


def asset_value(value: Any) -> Any:
    """A row as the asset API writes it: date-times ``2015-11-18T15:25:35Z+0000``."""
    if isinstance(value, datetime):
        return format_dt(value) + "+0000"
    if isinstance(value, dict):
        return {key: asset_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [asset_value(item) for item in value]
    return value


def lead_value(value: Any) -> Any:
    """A value as the lead database writes it: date-times ``2015-04-06T17:13:50Z``."""
    if isinstance(value, datetime):
        return format_dt(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def copy_rows(rows: list[dict[str, Any]], present: Callable[[Any], Any]) -> list[dict[str, Any]]:
    """Rows copied as JSON would carry them, so an answer never shares objects with the data."""
    return json.loads(json.dumps([present(row) for row in rows]))


# --- the two pagings ---------------------------------------------------------------------------


def asset_page(ask: Ask, rows: list[dict[str, Any]], shown: Callable[[dict], dict] | None = None) -> dict[str, Any]:
    """One ``offset``/``maxReturn`` page; past the end, the warning and no ``result``."""
    offset = ask.number("offset", 0, 0)
    size = ask.page_size(ask.number("maxReturn", 20, 1, 200))
    present = (lambda row: shown(asset_value(row))) if shown else asset_value
    page = copy_rows(rows[offset : offset + size], present)
    if not page:
        return {"errors": [], "warnings": [NO_ASSETS]}
    return {"errors": [], "warnings": [], "result": page}


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def lead_database_page(ask: Ask, rows: list[dict[str, Any]], *, more_result: bool) -> dict[str, Any]:
    """One ``nextPageToken``/``batchSize`` page; a ``nextPageToken`` while rows remain, and
    ``moreResult`` where the endpoint's answer type has it."""
    size = ask.page_size(ask.number("batchSize", 300, 1, 300))
    token = ask.query.get("nextPageToken")
    try:
        offset = int(base64.urlsafe_b64decode(token).decode().split(":", 1)[1]) if token else 0
    except (ValueError, IndexError, UnicodeDecodeError):
        raise ApiError("1003", "Invalid nextPageToken") from None
    page = copy_rows(rows[offset : offset + size], lambda row: {k: lead_value(v) for k, v in row.items()})
    answer: dict[str, Any] = {"result": page}
    following = offset + len(page)
    if following < len(rows):
        answer["nextPageToken"] = _token(following)
    if more_result:
        answer["moreResult"] = following < len(rows)
    return answer


# --- filters -----------------------------------------------------------------------------------


def updated_between(ask: Ask, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``earliestUpdatedAt``/``latestUpdatedAt``; inclusive bounds or not (``updated_at_inclusive``)."""
    try:
        low = parse_dt(ask.query["earliestUpdatedAt"]) if "earliestUpdatedAt" in ask.query else None
        high = parse_dt(ask.query["latestUpdatedAt"]) if "latestUpdatedAt" in ask.query else None
    except ValueError:
        raise ApiError("701", "Invalid earliestUpdatedAt/latestUpdatedAt: use ISO-8601") from None
    if low and high and low >= high:
        raise ApiError("701", "earliestUpdatedAt must precede latestUpdatedAt")
    inclusive = ask.options.updated_at_inclusive

    def inside(value: datetime) -> bool:
        above = low is None or (value >= low if inclusive else value > low)
        below = high is None or (value <= high if inclusive else value < high)
        return above and below

    return [row for row in rows if inside(row["updatedAt"])]


def versions(ask: Ask, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows a browse shows for its ``status`` (or none), in id order, approved first.

    ``versions`` reading: ``status`` shows that version only; without it, every version.
    ``latest`` reading: without ``status`` one row per asset (its draft if it has one);
    ``status=draft`` shows an asset without a draft by its approved version.
    """
    status = ask.query.get("status")
    if status not in (None, "approved", "draft"):
        raise ApiError("1003", f"Invalid status '{status}': use approved or draft")
    ordered = sorted(rows, key=lambda row: (row["id"], row.get("status") != "approved"))
    if status == "approved":
        return [row for row in ordered if row.get("status") == "approved"]
    drafts = {row["id"] for row in ordered if row.get("status") == "draft"}
    if ask.options.asset_status_reading == "versions":
        return ordered if status is None else [row for row in ordered if row.get("status") == "draft"]
    return [row for row in ordered if row.get("status") == "draft" or row["id"] not in drafts]


# --- endpoints ---------------------------------------------------------------------------------


def _assets(entity: str, *, dates: bool = False, statuses: bool = False) -> Callable[[Ask], dict[str, Any]]:
    """A browse of ``entity``: paged, filtered by ``status`` and by date where it has them."""

    def browse(ask: Ask) -> dict[str, Any]:
        with ask.data.lock:
            rows = list(ask.data.reference.rows[entity])
            rows = (
                versions(ask, rows)
                if statuses
                else sorted(rows, key=lambda row: str(row.get("id", row.get("tagType"))))
            )
            if dates:
                rows = updated_between(ask, rows)
            if entity == "campaigns" and ask.query.get("isActive") == "true":
                rows = [row for row in rows if row["isActive"]]
            shown = _capitalised_status if entity == "email_templates" else None
            return asset_page(ask, rows, shown)

    return browse


def _order(row: dict[str, Any]) -> tuple[int, str]:
    """Rows in id order (tag types, which have no id, by name)."""
    return (row.get("id") or 0, str(row.get("tagType") or ""))


def _capitalised_status(row: dict[str, Any]) -> dict[str, Any]:
    """Email templates write their status capitalised (``Approved``), as the docs' examples."""
    return {**row, "status": str(row["status"]).capitalize()}


def _programs(ask: Ask) -> dict[str, Any]:
    """Get Programs (browse): no tags, costs or dates (the docs: use Get Program by Id)."""
    with ask.data.lock:
        return asset_page(ask, updated_between(ask, sorted(ask.data.programs, key=lambda program: program["id"])))


def _program(ask: Ask) -> dict[str, Any]:
    """Get Program by Id: the browse's fields plus tags, costs, startDate and endDate."""
    program_id = int(ask.match.group(1))
    with ask.data.lock:
        program = next((p for p in ask.data.programs if p["id"] == program_id), None)
        if program is None:
            return {"errors": [], "warnings": [NO_ASSETS]}
        row = {**program, **ask.data.reference.program_details[program_id]}
        return {"errors": [], "warnings": [], "result": copy_rows([row], asset_value)}


def _segments(ask: Ask) -> dict[str, Any]:
    """A segmentation's segments, by ``status``."""
    segmentation = int(ask.match.group(1))
    with ask.data.lock:
        rows = [row for row in ask.data.reference.rows["segments"] if row["segmentationId"] == segmentation]
        return asset_page(ask, versions(ask, rows))


def _lists(ask: Ask) -> dict[str, Any]:
    """Get Lists: every static list (optionally by ``id`` or ``name``), without its members."""
    ids = {int(i) for i in ask.query.get("id", "").split(",") if i.strip()}
    names = {n for n in ask.query.get("name", "").split(",") if n}
    keys = ("id", "name", "description", "programName", "workspaceName", "workspaceId", "createdAt", "updatedAt")
    with ask.data.lock:
        rows = [
            {key: lst[key] for key in keys if key in lst}
            for lst in sorted(ask.data.static_lists, key=lambda lst: lst["id"])
            if (not ids or lst["id"] in ids) and (not names or lst["name"] in names)
        ]
        return lead_database_page(ask, rows, more_result=False)


def _list_leads(ask: Ask) -> dict[str, Any]:
    """Get Leads by List Id: the list's leads (that still exist) in id order, with ``fields``."""
    list_id = int(ask.match.group(1))
    data = ask.data
    fields = [f for f in ask.query.get("fields", "").split(",") if f] or DEFAULT_LIST_LEAD_FIELDS
    known = data.lead_rest_fields()
    for name in fields:
        if name not in known:
            raise ApiError("1006", f"Field '{name}' not found")
    with data.lock:
        lst = next((lst for lst in data.static_lists if lst["id"] == list_id), None)
        if lst is None:
            raise ApiError("1013", "Object not found")
        members = set(lst["leadIds"])
        rows = [{name: lead.get(name) for name in ["id", *fields]} for lead in data.leads if lead["id"] in members]
        return lead_database_page(ask, sorted(rows, key=lambda row: row["id"]), more_result=True)


def _partitions(ask: Ask) -> dict[str, Any]:
    with ask.data.lock:
        return {"result": copy_rows(ask.data.reference.rows["lead_partitions"], lead_value)}


ASSETS = "Read-Only Assets"
LEAD = "Read-Only Lead"


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A GET endpoint: the entity it serves, its path, what answers it, and the permission of
    an API role it needs (the switches of :mod:`.entities` refuse it by entity and permission)."""

    entity: str
    pattern: re.Pattern[str]
    answer: Callable[[Ask], dict[str, Any]]
    permission: str


def _endpoint(entity: str, path: str, answer: Callable[[Ask], dict[str, Any]], permission: str = ASSETS) -> Endpoint:
    return Endpoint(entity, re.compile(f"^{path}$"), answer, permission)


#: Every endpoint of this module, by the entity (tap stream) it serves.
ENDPOINTS: tuple[Endpoint, ...] = (
    _endpoint("campaigns", r"/rest/asset/v1/smartCampaigns\.json", _assets("campaigns", dates=True)),
    _endpoint("emails", r"/rest/asset/v1/emails\.json", _assets("emails", dates=True, statuses=True)),
    _endpoint("email_templates", r"/rest/asset/v1/emailTemplates\.json", _assets("email_templates", statuses=True)),
    _endpoint("forms", r"/rest/asset/v1/forms\.json", _assets("forms", statuses=True)),
    _endpoint("landing_pages", r"/rest/asset/v1/landingPages\.json", _assets("landing_pages", statuses=True)),
    _endpoint("segmentations", r"/rest/asset/v1/segmentation\.json", _assets("segmentations", statuses=True)),
    _endpoint("segments", r"/rest/asset/v1/segmentation/(\d+)/segments\.json", _segments),
    _endpoint("channels", r"/rest/asset/v1/channels\.json", _assets("channels")),
    _endpoint("tag_types", r"/rest/asset/v1/tagTypes\.json", _assets("tag_types")),
    _endpoint("programs", r"/rest/asset/v1/programs\.json", _programs),
    _endpoint("programs", r"/rest/asset/v1/program/(\d+)\.json", _program),
    _endpoint("static_lists", r"/rest/v1/lists\.json", _lists, LEAD),
    _endpoint("static_list_members", r"/rest/v1/lists/(\d+)/leads\.json", _list_leads, LEAD),
    _endpoint("lead_partitions", r"/rest/v1/leads/partitions\.json", _partitions, LEAD),
)


def endpoint_of(path: str) -> tuple[Endpoint, re.Match[str]] | None:
    """The endpoint serving ``path``, with its match; None when this module serves none."""
    for endpoint in ENDPOINTS:
        match = endpoint.pattern.match(path)
        if match:
            return endpoint, match
    return None


def answer(path: str, query: dict[str, str], data: SandboxData, options: Any) -> dict[str, Any] | None:
    """The envelope body (without ``requestId``/``success``) of a GET, None if not ours."""
    found = endpoint_of(path)
    if found is None:
        return None
    endpoint, match = found
    return endpoint.answer(Ask(match, query, data, options))
