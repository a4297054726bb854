"""Results of the custom object REST endpoints: List/Describe Custom Objects and Custom Object Types.

Functions rather than ``Handler`` methods: they need the data, two options and the query, not the
request, so ``Handler`` only routes to them and wraps what they return in its envelope.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .data import SandboxData
from .validation import ApiError, check_custom_object

CO_DESCRIBE_RE = re.compile(r"^/rest/v1/customobjects/([^/]+)/describe\.json$")
CO_SCHEMA_DESCRIBE_RE = re.compile(r"^/rest/v1/customobjects/schema/([^/]+)/describe\.json$")
#: Keys of a type in List/Describe Custom Objects, in the docs' order (describe adds ``fields``).
CO_LIST_KEYS = (
    "name",
    "displayName",
    "pluralName",
    "description",
    "createdAt",
    "updatedAt",
    "idField",
    "dedupeFields",
    "searchableFields",
    "relationships",
)


def _copy(value: Any) -> Any:
    """A JSON-only deep copy, so a response never shares objects with the data."""
    return json.loads(json.dumps(value))


def public_type(obj: dict[str, Any], describe: bool, list_state: bool) -> dict[str, Any]:
    """Shape of List/Describe Custom Objects; ``list_state`` adds state/version (SandboxOptions)."""
    out = {k: _copy(obj[k]) for k in CO_LIST_KEYS}
    if list_state:
        out.update(state=obj["state"], version=obj["state"])
    if describe:
        out["fields"] = _copy(obj["fields"])
    return out


def schema_type(obj: dict[str, Any]) -> dict[str, Any]:
    """Shape of the Custom Object *Type* (schema) endpoints: state/version/apiName and fields."""
    out: dict[str, Any] = {"state": obj["state"], "version": obj["state"], "apiName": obj["name"]}
    out.update({k: _copy(obj[k]) for k in CO_LIST_KEYS if k != "name"})
    out["fields"] = _copy(obj["fields"])
    return out


def custom_objects_result(
    path: str, query: dict[str, str], data: SandboxData, denied: frozenset[str], list_state: bool
) -> list[dict[str, Any]] | None:
    """The ``result`` of a GET under ``/rest/v1/customobjects``, None for an unknown path (404).

    Drafts are listed only with ``list_state`` (SandboxOptions.custom_object_list_state); the
    schema endpoints list them always.  Refusals raise ApiError.
    """
    names = {n.strip() for n in query.get("names", "").split(",") if n.strip()}
    state = query.get("state")
    if state is not None and state not in ("draft", "approved", "approvedWithDraft"):
        raise ApiError("1003", f"Invalid state '{state}': use draft, approved or approvedWithDraft")
    with data.lock:
        types = list(data.custom.types)
        visible = [t for t in types if list_state or t["state"] == "approved"]
        if path == "/rest/v1/customobjects.json":
            return [public_type(t, False, list_state) for t in visible if not names or t["name"] in names]
        if path == "/rest/v1/customobjects/schema.json":
            return [
                schema_type(t)
                for t in types
                if (not names or t["name"] in names) and (state is None or t["state"] == state)
            ]
        m = CO_SCHEMA_DESCRIBE_RE.match(path)
        if m:
            obj = check_custom_object(m.group(1), data, denied, False)
            if state is not None and obj["state"] != state:
                raise ApiError("1013", "Object not found")
            return [schema_type(obj)]
        m = CO_DESCRIBE_RE.match(path)
        if m:
            obj = check_custom_object(m.group(1), data, denied, False)
            if obj not in visible:
                raise ApiError("1013", "Object not found")
            return [public_type(obj, True, list_state)]
    return None
