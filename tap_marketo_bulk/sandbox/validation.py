"""Validation of bulk export create bodies, turning them into normalized job specs.

Error codes: 1003 for invalid field/data (message names the problem), 1035 for a filter the
subscription has disabled; for custom objects also 1013 (unknown type) and 603 (denied type).
Whether a create body with programIds AND "programId" in fields duplicates the column is not
documented; see :func:`validate_program_members`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from .data import ACTIVITY_FIELDS, ASSET_GROUPS, DEFAULT_ACTIVITY_FIELDS, SandboxData, parse_dt

ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:?\d{2})?$")
LEAD_FILTERS = (
    "createdAt",
    "updatedAt",
    "staticListId",
    "staticListName",
    "smartListId",
    "smartListName",
)


class ApiError(Exception):
    """A Marketo API error: answered as HTTP 200, success=false, errors=[{code, message}]."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


def _date_range(value: Any, name: str) -> tuple[datetime, datetime]:
    """Validate {startAt, endAt}: ISO-8601 without ms, start <= end, at most 31 days."""
    if not isinstance(value, dict) or "startAt" not in value or "endAt" not in value:
        raise ApiError("1003", f"Invalid filter '{name}': startAt and endAt are required")
    parsed = []
    for key in ("startAt", "endAt"):
        raw = value[key]
        if not isinstance(raw, str) or not ISO_RE.match(raw.strip()):
            raise ApiError(
                "1003",
                f"Invalid date value '{raw}' for {name}.{key}: expected ISO-8601 without milliseconds",
            )
        parsed.append(parse_dt(raw))
    lo, hi = parsed
    if lo > hi:
        raise ApiError("1003", f"Invalid filter '{name}': startAt must not be after endAt")
    if hi - lo > timedelta(days=31):
        raise ApiError("1003", f"Invalid filter '{name}': date range exceeds 31 days")
    return lo, hi


def _common(body: dict[str, Any]) -> dict[str, Any]:
    fmt = body.get("format", "CSV")
    if fmt not in ("CSV", "TSV", "SSV"):
        raise ApiError("1003", f"Invalid format '{fmt}': must be CSV, TSV or SSV")
    renames = body.get("columnHeaderNames")
    if renames is not None and not isinstance(renames, dict):
        raise ApiError("1003", "Invalid columnHeaderNames: must be an object")
    return {"format": fmt, "columnHeaderNames": renames or {}}


def _check_renames(spec: dict[str, Any]) -> None:
    for k in spec["columnHeaderNames"]:
        if k not in spec["fields"]:
            raise ApiError("1003", f"Invalid columnHeaderNames key '{k}': field not in fields")


def _fields(body: dict[str, Any], allowed: set[str] | dict[str, Any]) -> list[str]:
    fields = body.get("fields")
    if not isinstance(fields, list) or not fields:
        raise ApiError("1003", "Field 'fields' is required and must be a non-empty array")
    for f in fields:
        if f not in allowed:
            raise ApiError("1003", f"Invalid field '{f}'")
    return list(fields)


def _one_filter(body: dict[str, Any], allowed: Any) -> tuple[str, Any]:
    """The body's single filter, of an ``allowed`` type (leads and custom objects take one)."""
    flt = body.get("filter")
    if not isinstance(flt, dict) or not flt:
        raise ApiError("1003", "Field 'filter' is required")
    unknown = [k for k in flt if k not in allowed]
    if unknown:
        raise ApiError("1003", f"Invalid filter type '{unknown[0]}'")
    if len(flt) != 1:
        raise ApiError("1003", "Only one filter type may be specified per export job")
    return next(iter(flt.items()))


def validate_leads(body: dict[str, Any], data: SandboxData, disabled: frozenset[str]) -> dict[str, Any]:
    """Leads: fields required (exportable REST names), exactly one filter type."""
    spec = _common(body)
    spec["fields"] = _fields(body, data.exportable_lead_fields())
    _check_renames(spec)
    kind, val = _one_filter(body, LEAD_FILTERS)
    if kind in ("updatedAt", "smartListId", "smartListName") and f"leads.{kind}" in disabled:
        raise ApiError("1035", "Unsupported filter type for target subscription")
    if kind in ("createdAt", "updatedAt"):
        val = _date_range(val, kind)
    elif kind.endswith("Id"):
        lists = data.static_lists if kind.startswith("static") else data.smart_lists
        if not isinstance(val, int) or isinstance(val, bool) or val not in {x["id"] for x in lists}:
            raise ApiError("1003", f"Invalid filter '{kind}': list {val!r} not found")
    else:
        lists = data.static_lists if kind.startswith("static") else data.smart_lists
        if val not in {x["name"] for x in lists}:
            raise ApiError("1003", f"Invalid filter '{kind}': list {val!r} not found")
    spec.update(filter=body["filter"], filter_kind=kind, filter_value=val)
    return spec


def validate_activities(body: dict[str, Any], data: SandboxData, disabled: frozenset[str]) -> dict[str, Any]:
    """Activities: filter.createdAt required, optional type / primary attribute filters, fields subset."""
    spec = _common(body)
    spec["fields"] = _fields(body, set(ACTIVITY_FIELDS)) if "fields" in body else list(DEFAULT_ACTIVITY_FIELDS)
    _check_renames(spec)
    flt = body.get("filter")
    if not isinstance(flt, dict) or "createdAt" not in flt:
        raise ApiError("1003", "Filter 'createdAt' is required")
    allowed = {"createdAt", "activityTypeIds", "primaryAttributeValueIds", "primaryAttributeValues"}
    unknown = [k for k in flt if k not in allowed]
    if unknown:
        raise ApiError("1003", f"Invalid filter type '{unknown[0]}'")
    spec["created"] = _date_range(flt["createdAt"], "createdAt")
    types = flt.get("activityTypeIds")
    known = {t["id"] for t in data.activity_types}
    if types is not None:
        if not isinstance(types, list) or not types:
            raise ApiError("1003", "Invalid filter 'activityTypeIds': must be a non-empty array of integers")
        for t in types:
            if t == 37:
                raise ApiError("1003", "Invalid activityTypeId '37': Delete Lead activities cannot be exported")
            if t not in known:
                raise ApiError("1003", f"Invalid activityTypeId '{t}'")
    ids, names = flt.get("primaryAttributeValueIds"), flt.get("primaryAttributeValues")
    if ids is not None and names is not None:
        raise ApiError("1003", "primaryAttributeValueIds and primaryAttributeValues cannot be used together")
    prim = ids if ids is not None else names
    if prim is not None:
        label = "primaryAttributeValueIds" if ids is not None else "primaryAttributeValues"
        if not isinstance(prim, list) or not prim or len(prim) > 50:
            raise ApiError("1003", f"Invalid filter '{label}': between 1 and 50 values allowed")
        if not types:
            raise ApiError("1003", f"Filter '{label}' requires 'activityTypeIds'")
        groups = {g for g, members in ASSET_GROUPS.items() for t in types if t in members}
        if len(groups) != 1 or any(t not in ASSET_GROUPS[next(iter(groups))] for t in types):
            raise ApiError(
                "1003",
                f"Filter '{label}' requires activityTypeIds of a single matching asset group",
            )
    spec["filter"] = flt
    return spec


def validate_program_members(body: dict[str, Any], data: SandboxData, disabled: frozenset[str]) -> dict[str, Any]:
    """Program members: fields (member and lead fields may be mixed), programId xor programIds (<=10).

    With ``programIds`` the docs say an *additional* field ``programId`` is added as the first
    field.  The sandbox therefore always prepends a literal ``programId`` column (not affected by
    columnHeaderNames), even when ``programId`` is also requested in ``fields`` - in that case the
    file carries the program id twice: first column and at its requested position.
    """
    spec = _common(body)
    allowed = {f["name"] for f in data.program_member_fields} | set(data.exportable_lead_fields())
    spec["fields"] = _fields(body, allowed)
    _check_renames(spec)
    flt = body.get("filter")
    if not isinstance(flt, dict):
        raise ApiError("1003", "Field 'filter' is required")
    allowed_f = {
        "programId",
        "programIds",
        "isExhausted",
        "nurtureCadence",
        "statusNames",
        "updatedAt",
    }
    unknown = [k for k in flt if k not in allowed_f]
    if unknown:
        raise ApiError("1003", f"Invalid filter type '{unknown[0]}'")
    if ("programId" in flt) == ("programIds" in flt):
        raise ApiError("1003", "Exactly one of filter 'programId' or 'programIds' is required")
    known = {p["id"]: p for p in data.programs}
    if "programId" in flt:
        pids = [flt["programId"]]
    else:
        pids = flt["programIds"]
        if not isinstance(pids, list) or not pids or len(pids) > 10:
            raise ApiError("1003", "Invalid filter 'programIds': between 1 and 10 program ids allowed")
    for p in pids:
        if not isinstance(p, int) or isinstance(p, bool) or p not in known:
            raise ApiError("1003", f"Invalid programId '{p}': program not found")
    spec["program_ids"] = list(dict.fromkeys(pids))
    spec["multi"] = "programIds" in flt
    if "isExhausted" in flt and not isinstance(flt["isExhausted"], bool):
        raise ApiError("1003", "Invalid filter 'isExhausted': must be a boolean")
    if "nurtureCadence" in flt:
        cad = {"paus": "paus", "pause": "paus", "norm": "norm"}.get(flt["nurtureCadence"])
        if cad is None:
            raise ApiError(
                "1003",
                f"Invalid filter 'nurtureCadence' value '{flt['nurtureCadence']}': use paus or norm",
            )
        spec["cadence"] = cad
    if "statusNames" in flt:
        names = flt["statusNames"]
        if not isinstance(names, list) or not names:
            raise ApiError("1003", "Invalid filter 'statusNames': must be a non-empty array")
        valid = {s for ss in data.channel_statuses.values() for s in ss}
        for n in names:  # MARKETO_API.md: an unknown status name gives 1003
            if n not in valid:
                raise ApiError("1003", f"Invalid statusName '{n}'")
    if "updatedAt" in flt:
        if "program_members.updatedAt" in disabled:
            raise ApiError("1035", "Unsupported filter type for target subscription")
        spec["updated"] = _date_range(flt["updatedAt"], "updatedAt")
    spec["filter"] = flt
    return spec


CUSTOM_OBJECT_FILTERS = ("updatedAt", "staticListId", "staticListName", "smartListId", "smartListName")


def check_custom_object(api_name: str, data: SandboxData, denied: frozenset[str], export: bool) -> dict[str, Any]:
    """The type of ``api_name`` if the API user may use it (for a bulk export when ``export``).

    Unknown type: 1013 ``Object not found`` (the documented code for a missing object).  A type in
    ``denied``: 603 ``Access denied`` (the documented code for a missing permission).  For bulk
    exports only (undocumented codes, 1003 with a message naming the reason): a type that is
    only a draft (never approved), and a type not linked directly to Lead (the docs: the API
    "supports exporting first-level Marketo custom object records that are linked directly to a lead").
    """
    obj = data.custom.get(api_name)
    if obj is None:
        raise ApiError("1013", "Object not found")
    if api_name in denied:
        raise ApiError("603", "Access denied")
    if export and obj["state"] != "approved":
        raise ApiError(
            "1003",
            f"Custom object '{api_name}' is in state '{obj['state']}': only approved custom objects can be exported",
        )
    if export and not any(rel["relatedTo"]["name"] == "Lead" for rel in obj["relationships"]):
        raise ApiError(
            "1003",
            f"Custom object '{api_name}' is not linked directly to Lead: "
            "only first-level custom objects can be exported",
        )
    return obj


def validate_custom_object(
    api_name: str, body: dict[str, Any], data: SandboxData, disabled: frozenset[str], denied: frozenset[str]
) -> dict[str, Any]:
    """Custom objects: fields required (names from describe), exactly one filter type.

    Filters: ``updatedAt`` ({startAt, endAt}, 31 days at most; on the record's updatedAt),
    ``staticListId``/``staticListName``/``smartListId``/``smartListName`` (records linked to a
    lead in the list).  ``customobjects.updatedAt`` / ``.smartListId`` / ``.smartListName`` in
    ``disabled`` give 1035 like the lead filters (the docs star the smart list filters).
    """
    obj = check_custom_object(api_name, data, denied, export=True)
    spec = _common(body)
    spec["fields"] = _fields(body, {f["name"] for f in obj["fields"]})
    _check_renames(spec)
    kind, val = _one_filter(body, CUSTOM_OBJECT_FILTERS)
    if f"customobjects.{kind}" in disabled:
        raise ApiError("1035", "Unsupported filter type for target subscription")
    if kind == "updatedAt":
        val = _date_range(val, kind)
    else:
        lists = data.static_lists if kind.startswith("static") else data.smart_lists
        if kind.endswith("Id"):
            if not isinstance(val, int) or isinstance(val, bool) or val not in {x["id"] for x in lists}:
                raise ApiError("1003", f"Invalid filter '{kind}': list {val!r} not found")
        elif val not in {x["name"] for x in lists}:
            raise ApiError("1003", f"Invalid filter '{kind}': list {val!r} not found")
    spec.update(api_name=api_name, filter=body["filter"], filter_kind=kind, filter_value=val)
    return spec


VALIDATORS = {
    "leads": validate_leads,
    "activities": validate_activities,
    "program_members": validate_program_members,
}
