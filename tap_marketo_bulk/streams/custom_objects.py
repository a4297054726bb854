"""Custom objects: one stream per lead-linked custom object, by Bulk Custom Object Extract.

Marketo's bulk extract serves first-level custom objects only (linked directly to a lead);
second-level objects and objects not yet approved are named in one line at discovery and
skipped. Objects Marketo refuses (a role without *Read-Only Custom Object*, a subscription
without custom objects) are optional entities: one warning each, or a stop where the
``custom_objects`` setting names them. Each stream exports only its selected fields, in
``updatedAt`` windows of at most 31 days from the bookmark, through the same export runner as
every bulk stream: one job per window per object.
Where the subscription refuses the ``updatedAt`` filter (1035), a run sweeps every record of
the leads in the list named by ``custom_object_sweep_list``, or stops with a line naming it.
"""

from __future__ import annotations

import typing as t

from tap_marketo_bulk import errors
from tap_marketo_bulk.exports.model import ExportRequest
from tap_marketo_bulk.records.names import snake_case
from tap_marketo_bulk.records.types import exportable_fields, typed_fields
from tap_marketo_bulk.streams.base import BulkExportStream
from tap_marketo_bulk.streams.optional import READ_ONLY_CUSTOM_OBJECT, OptionalEntities, OptionalStream
from tap_marketo_bulk.windows import Window

if t.TYPE_CHECKING:
    from singer_sdk import Tap

    from tap_marketo_bulk.instance import MarketoInstance

#: Custom object states whose approved version can be exported (absent: approved, as listed).
APPROVED_STATES = frozenset({"approved", "approvedWithDraft"})


class CustomObjectStream(OptionalStream, BulkExportStream):
    """Records of one custom object, with the fields of its describe."""

    permission = READ_ONLY_CUSTOM_OBJECT
    naming_settings = ("custom_objects",)

    def __init__(self, tap: Tap, marketo: MarketoInstance, api_name: str, **kwargs: t.Any) -> None:
        #: Bulk path segment of this object (``customobjects/<apiName>``).
        self.entity = f"customobjects/{api_name}"
        self.api_name = api_name
        super().__init__(tap, marketo, **kwargs)

    def boundary_column(self) -> str | None:
        """Rows stamped at a window's end belong to the next window."""
        return "updatedAt" if self.incremental else None

    def export_requests(self, windows: t.Sequence[Window | None]) -> t.Iterator[ExportRequest]:
        """One job per window with the selected fields."""
        fields = self.selected_fields(always=["updatedAt"])
        sweep_list = {
            k: v for k, v in (self.config.get("custom_object_sweep_list") or {}).items() if v not in (None, "")
        }
        for window in windows:
            object_filter = {"updatedAt": window.as_filter()} if window else sweep_list
            body = {"fields": fields, "format": "CSV", "filter": object_filter}
            yield ExportRequest(self.entity, body, window, label="" if window else "sweep")

    def get_records(self, context: t.Mapping | None) -> t.Iterable[dict]:
        """Fall back to a sweep over ``custom_object_sweep_list`` where updatedAt is refused."""
        try:
            yield from super().get_records(context)
            return
        except errors.UnsupportedFilter:
            sweep_list = self.config.get("custom_object_sweep_list")
            if not sweep_list:
                msg = (
                    f"{self.name}: this subscription refuses the custom object updatedAt filter (1035). Set "
                    "custom_object_sweep_list to a static or smart list of the leads whose records to export "
                    'on every run (e.g. {"staticListName": "All leads"}), or ask Marketo support to enable '
                    "the filter."
                )
                raise errors.UnsupportedFilter(msg, code="1035") from None
        self.logger.warning(
            "%s: this subscription refuses the custom object updatedAt filter (1035): exporting all "
            "records of the leads in custom_object_sweep_list on every run.",
            self.name,
        )
        self.incremental = False
        try:
            yield from super().get_records(context)
        except errors.UnsupportedFilter:
            kind = ", ".join(key for key, value in sweep_list.items() if value not in (None, ""))
            msg = (
                f"{self.name}: this subscription refuses the {kind} filter of custom_object_sweep_list "
                "too (1035); name a list by another filter (static lists: staticListId or staticListName)."
            )
            raise errors.UnsupportedFilter(msg, code="1035") from None
        self.sweep_done()


def custom_object_streams(tap: Tap, marketo: MarketoInstance, optional: OptionalEntities) -> list[CustomObjectStream]:
    """A stream per exportable custom object ``custom_objects`` names (default: all).

    Marketo refusing the list (a subscription without custom objects, a role without Read-Only
    Custom Object) or one object's describe skips them with one warning each, or stops the run
    where ``custom_objects`` names them (see :mod:`tap_marketo_bulk.streams.optional`).
    """
    wanted = tap.config.get("custom_objects")
    if wanted is not None and not wanted:
        return []
    return optional.streams(
        CustomObjectStream, "custom objects", ("custom_object_*",), lambda: _streams(tap, marketo, optional, wanted)
    )


def _streams(
    tap: Tap, marketo: MarketoInstance, optional: OptionalEntities, wanted: list[str] | None
) -> list[CustomObjectStream]:
    """The listed objects' streams; those bulk extract cannot serve are named in one line."""
    envelope = marketo.client.get("/rest/v1/customobjects.json")
    listed = {str(o["name"]): o for o in envelope.get("result") or []}
    wanted = list(dict.fromkeys(wanted)) if wanted else None
    if wanted:
        unknown = sorted(set(wanted) - set(listed))
        if unknown:
            msg = (
                f"custom_objects lists {unknown}, which this Marketo instance does not have "
                f"(its custom objects: {sorted(listed) or 'none'}); use their API names"
            )
            raise errors.ConfigError(msg)
    streams: list[CustomObjectStream] = []
    skipped: dict[str, str] = {}  # apiName -> why
    used: set[str] = set()
    for api_name in wanted or sorted(listed):
        name = f"custom_object_{snake_case(api_name)}"
        if name in used:  # myCar_c and my_car_c: the same snake case
            name = f"{name}_{len(used) + 1}"
        why = _not_exportable(listed[api_name])
        if why:
            if optional.selection is None or optional.selects([name]):  # a sync: the discovery said it
                skipped[api_name] = why
            continue

        def build(api_name: str = api_name, name: str = name) -> list[CustomObjectStream]:
            stream, reason = _stream(tap, marketo, listed[api_name], name)
            if stream is None and (optional.selection is None or optional.selects([name])):
                skipped[api_name] = reason
            return [stream] if stream else []

        built = optional.streams(CustomObjectStream, name, (name,), build)
        if built:
            used.add(name)
            streams.extend(built)
    if skipped:
        tap.logger.warning("Custom objects not exported: %s.", "; ".join(f"{k} ({v})" for k, v in skipped.items()))
    return streams


def _not_exportable(listed: t.Mapping[str, t.Any]) -> str:
    """Why the listed object cannot be bulk exported at all, or ''."""
    state = listed.get("state")
    if state is not None and state not in APPROVED_STATES:
        return f"state {state}, not approved"
    if not any(
        str((r.get("relatedTo") or {}).get("name", "")).lower() == "lead" for r in listed.get("relationships") or []
    ):
        return "not linked to leads: bulk extract serves first-level custom objects only"
    return ""


def _stream(
    tap: Tap, marketo: MarketoInstance, listed: t.Mapping[str, t.Any], name: str
) -> tuple[CustomObjectStream | None, str]:
    """The object's stream, or None and why it cannot be bulk exported (a refusal is raised)."""
    api_name = str(listed["name"])
    try:
        envelope = marketo.client.get(f"/rest/v1/customobjects/{api_name}/describe.json")
    except errors.InvalidRequest as exc:
        return None, f"Marketo cannot describe it: {exc}"
    describe = (envelope.get("result") or [{}])[0]
    fields = exportable_fields(describe.get("fields") or [])
    names = {field["name"] for field in fields}
    id_field = describe.get("idField") or listed.get("idField")
    keys = (
        [str(id_field)]
        if id_field in names
        else [str(k) for k in describe.get("dedupeFields") or listed.get("dedupeFields") or []]
    )
    if "updatedAt" not in names or not keys or not set(keys) <= names:
        return None, "its describe has no updatedAt or key fields"
    properties, converters = typed_fields(fields, singer_decimal=bool(tap.config.get("use_singer_decimal")))
    stream = CustomObjectStream(
        tap,
        marketo,
        api_name,
        name=name,
        schema={"type": "object", "properties": properties},
        converters=converters,
        primary_keys=keys,
        replication_key="updatedAt",
    )
    return stream, ""
