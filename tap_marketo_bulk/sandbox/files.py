"""Record selection for a validated export request and rendering of the export file bytes.

Rendering follows the documented file format: header row, LF line endings with a trailing LF,
UTF-8 without BOM, RFC-4180 quoting with the job's delimiter, ``null`` (unquoted) for empty values.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from .data import SandboxData

DELIMITERS: dict[str, str] = {"CSV": ",", "TSV": "\t", "SSV": " "}


def format_dt(value: datetime) -> str:
    """Marketo's export datetime form: ``2022-02-13T14:06:20Z``."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_text(value: Any) -> str | None:
    """Typed Python value -> export text; None means the unquoted ``null`` marker."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_dt(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def quote(text: str | None, delim: str) -> str:
    """RFC 4180: wrap when the value holds the delimiter, a quote, CR or LF; double inner quotes."""
    if text is None:
        return "null"
    if any(c in text for c in (delim, '"', "\r", "\n")):
        return '"' + text.replace('"', '""') + '"'
    return text


def render(header: list[str], rows: list[list[Any]], fmt: str, malformed: bool = False) -> bytes:
    """Build the exact file bytes; ``malformed`` injects one row with a wrong column count."""
    delim = DELIMITERS[fmt]
    lines = [delim.join(quote(h, delim) for h in header)]
    for i, row in enumerate(rows):
        lines.append(delim.join(quote(to_text(v), delim) for v in row))
        if malformed and i == 0:
            lines.append(delim.join(quote(to_text(v), delim) for v in row[:-1]) if len(row) > 1 else "x,y")
    if malformed and not rows:
        lines.append(delim.join(["broken"] * (len(header) + 1)))
    return ("\n".join(lines) + "\n").encode("utf-8")


def in_range(value: datetime | None, rng: tuple[datetime, datetime], end_inclusive: bool) -> bool:
    """startAt inclusive; endAt inclusive or exclusive depending on the sandbox option."""
    if value is None:
        return False
    lo, hi = rng
    return lo <= value <= hi if end_inclusive else lo <= value < hi


def select_leads(data: SandboxData, spec: dict[str, Any], end_incl: bool) -> list[list[Any]]:
    """Lead rows for a validated spec (filter kind/value in spec['filter_kind'/'filter_value'])."""
    kind, val = spec["filter_kind"], spec["filter_value"]
    with data.lock:
        if kind == "createdAt":
            leads = [ld for ld in data.leads if in_range(ld["createdAt"], val, end_incl)]
        elif kind == "updatedAt":  # hidden "last update of any field", not the visible updatedAt
            leads = [ld for ld in data.leads if in_range(data.lead_last_modified.get(ld["id"]), val, end_incl)]
        else:
            lists = data.static_lists if kind.startswith("static") else data.smart_lists
            key = "id" if kind.endswith("Id") else "name"
            members = {lid for lst in lists if lst[key] == val for lid in lst["leadIds"]}
            leads = [ld for ld in data.leads if ld["id"] in members]
        leads = sorted(leads, key=lambda ld: ld["id"])
        return [[ld.get(f) for f in spec["fields"]] for ld in leads]


def select_activities(data: SandboxData, spec: dict[str, Any], end_incl: bool) -> list[list[Any]]:
    """Activity rows filtered on activityDate and the optional type / primary attribute filters."""
    f = spec["filter"]
    types = set(f.get("activityTypeIds") or [])
    ids = set(f.get("primaryAttributeValueIds") or [])
    names = set(f.get("primaryAttributeValues") or [])
    with data.lock:
        acts = [
            a
            for a in data.activities
            if in_range(a["activityDate"], spec["created"], end_incl)
            and (not types or a["activityTypeId"] in types)
            and (not ids or a["primaryAttributeValueId"] in ids)
            and (not names or a["primaryAttributeValue"] in names)
        ]
        acts = sorted(acts, key=lambda a: (a["activityDate"], a["id"]))
        return [[a.get(c) for c in spec["fields"]] for a in acts]


def select_members(data: SandboxData, spec: dict[str, Any], end_incl: bool) -> list[list[Any]]:
    """Program member rows; lead fields are joined from the lead as of processing start."""
    f = spec["filter"]
    programs = spec["program_ids"]
    with data.lock:
        leads = {ld["id"]: ld for ld in data.leads}
        pm_names = {x["name"] for x in data.program_member_fields}
        out = []
        members = sorted(
            data.program_members,
            key=lambda m: (
                programs.index(m["programId"]) if m["programId"] in programs else 0,
                m["leadId"],
            ),
        )
        for m in members:
            if m["programId"] not in programs or m["leadId"] not in leads:
                continue
            if "isExhausted" in f and m["isExhausted"] != f["isExhausted"]:
                continue
            if "nurtureCadence" in f and m["nurtureCadence"] != spec["cadence"]:
                continue
            if f.get("statusNames") and m["statusName"] not in f["statusNames"]:
                continue
            if spec.get("updated") and not in_range(m["updatedAt"], spec["updated"], end_incl):
                continue
            lead = leads[m["leadId"]]
            row = [m.get(c) if c in pm_names else lead.get(c) for c in spec["fields"]]
            if spec["multi"]:
                row.insert(0, m["programId"])
            out.append(row)
        return out


def select_custom_objects(data: SandboxData, spec: dict[str, Any], end_incl: bool) -> list[list[Any]]:
    """Custom object rows: ``updatedAt`` on the record's updatedAt, list filters on its linked lead.

    Rows are ordered by (leadId, createdAt, marketoGUID): the docs write the linked records
    lead by lead.
    """
    kind, val = spec["filter_kind"], spec["filter_value"]
    with data.lock:
        records = data.custom.records.get(spec["api_name"], [])
        if kind == "updatedAt":
            chosen = [c for c in records if in_range(c["updatedAt"], val, end_incl)]
        else:
            lists = data.static_lists if kind.startswith("static") else data.smart_lists
            key = "id" if kind.endswith("Id") else "name"
            members = {lid for lst in lists if lst[key] == val for lid in lst["leadIds"]}
            chosen = [c for c in records if c.get("leadId") in members]
        chosen = sorted(chosen, key=lambda c: (c.get("leadId") or 0, c["createdAt"], c["marketoGUID"]))
        return [[c.get(f) for f in spec["fields"]] for c in chosen]


def build_file(
    data: SandboxData, entity: str, spec: dict[str, Any], end_incl: bool, malformed: bool = False
) -> tuple[bytes, int]:
    """Return (file bytes, numberOfRecords) for a job spec."""
    select = {
        "leads": select_leads,
        "activities": select_activities,
        "program_members": select_members,
    }.get(entity, select_custom_objects)  # "customobjects/<apiName>"
    rows = select(data, spec, end_incl)
    renames = spec.get("columnHeaderNames") or {}
    header = [renames.get(c, c) for c in spec["fields"]]
    if entity == "program_members" and spec["multi"]:
        header.insert(0, "programId")
    return render(header, rows, spec["format"], malformed), len(rows)
