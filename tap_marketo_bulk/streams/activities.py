"""Activities: one bulk export per window for every selected activity type.

The ``activities`` stream and the optional per-type streams (``activities_fill_out_form``, ...)
form one family fed by the same export jobs: whichever family stream syncs first runs the
window's single job and routes each row to every selected member, so selecting ten type
streams never costs ten times the jobs or the export quota.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import json
import typing as t

import msgspec

from tap_marketo_bulk import errors
from tap_marketo_bulk.exports.model import ExportRequest
from tap_marketo_bulk.records.names import column_list, column_name, column_names, naming_rule, snake_case
from tap_marketo_bulk.records.types import converter, json_schema
from tap_marketo_bulk.streams.base import BulkExportStream
from tap_marketo_bulk.streams.optional import READ_ONLY_ACTIVITY, OptionalStream
from tap_marketo_bulk.windows import format_timestamp

if t.TYPE_CHECKING:
    from singer_sdk import Tap

    from tap_marketo_bulk.instance import MarketoInstance
    from tap_marketo_bulk.windows import Window

#: Columns of an activity export file and their types (``attributes`` is a JSON object).
ACTIVITY_COLUMNS: dict[str, str] = {
    "marketoGUID": "string",
    "leadId": "integer",
    "activityDate": "datetime",
    "activityTypeId": "integer",
    "campaignId": "integer",
    "primaryAttributeValueId": "integer",
    "primaryAttributeValue": "string",
    "actionResult": "string",
    "attributes": "json",
}
#: Columns every family member needs to route and checkpoint rows.
ROUTING_COLUMNS = ("marketoGUID", "activityDate", "activityTypeId")
#: Bulk export refuses "Delete Lead"; deletions come from the deleted_leads stream.
DELETE_LEAD_TYPE_ID = 37
#: Settings that ask for activities by name: Marketo refusing them then stops the run.
ACTIVITY_SETTINGS = (
    "activity_type_ids",
    "activity_primary_attribute_value_ids",
    "activity_primary_attribute_values",
)
#: Decodes ``attributes`` a type stream spreads into columns (the reader checked it is an object).
_ATTRIBUTES = msgspec.json.Decoder(dict)


def activity_schema() -> dict:
    """Schema of the ``activities`` stream: the file's columns, typed."""
    return {
        "type": "object",
        "properties": {name: json_schema(kind) for name, kind in ACTIVITY_COLUMNS.items()},
    }


def activity_converters() -> dict[str, t.Callable[[str], t.Any]]:
    """Converters of the file's columns, shared by every family member."""
    return {name: converter(kind) for name, kind in ACTIVITY_COLUMNS.items()}


def json_value_converter(data_type: str, *, singer_decimal: bool = False) -> t.Callable[[t.Any], t.Any]:
    """Types a native JSON attribute value like a file value of the same ``dataType``.

    Built once per column. A value that does not fit its declared type is kept as text in
    text columns and dropped (None) in typed ones, rather than failing the whole run. An empty
    string is NULL, as Marketo's export files write an empty value (``null``): a Change Data
    Value's ``Old Value`` of a field that was empty is no value, not text (models cast it to
    the field's type). A list or object (``Merge Ids``: ``[1,2]``) is compact JSON text.
    """
    convert = converter(data_type, singer_decimal=singer_decimal)
    is_text = json_schema(data_type, singer_decimal=singer_decimal)["type"][0] == "string"

    def to_json(value: t.Any) -> t.Any:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float, decimal.Decimal)):
            value = repr(value) if isinstance(value, float) else str(value)
        elif not isinstance(value, str):
            return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if is_text else None
        try:
            return convert(value)
        except (ValueError, decimal.InvalidOperation):
            return value if is_text else None

    return to_json


class ActivityFamilyStream(OptionalStream, BulkExportStream):
    """A stream fed by the shared activity export (see the module docstring).

    Every member names the file's columns alike (:attr:`ActivityFeed.columns`): a row read
    for one member is shaped into the others' records.
    """

    entity = "activities"
    permission = READ_ONLY_ACTIVITY
    naming_settings = ACTIVITY_SETTINGS

    def __init__(
        self,
        tap: Tap,
        marketo: MarketoInstance,
        feed: ActivityFeed,
        *,
        name: str,
        properties: dict | None = None,
        columns: t.Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            tap,
            marketo,
            name=name,
            schema={"type": "object", "properties": {**activity_schema()["properties"], **(properties or {})}},
            converters=activity_converters(),
            primary_keys=["marketoGUID"],
            replication_key="activityDate",
            columns={**feed.columns, **(columns or {})},
        )
        #: The family's shared export, which runs the jobs for whichever member syncs first.
        self.feed = feed
        feed.streams.append(self)

    def boundary_column(self) -> str:
        """Activities are windowed on createdAt, which the file shows as activityDate."""
        return "activityDate"

    def shape(self, row: dict) -> dict | None:
        """This stream's record for a file row, or None when the row is not for it."""
        deselected = self.deselected()
        return {key: value for key, value in row.items() if key not in deselected} if deselected else row

    @functools.cache  # noqa: B019 (one per stream; the catalog's selection is fixed for the run)
    def deselected(self) -> frozenset[str]:
        """Computed once: :meth:`shape` asks for every row."""
        return super().deselected()

    def export_requests(self, windows: t.Sequence[Window | None]) -> t.Iterator[ExportRequest]:
        """Built by the feed for the whole family."""
        return self.feed.requests(windows)

    def get_records(self, context: t.Mapping | None) -> t.Iterable[dict]:
        """The feed runs once per tap run, for the first family stream that syncs."""
        return self.feed.records_for(self, context)


class ActivitiesStream(ActivityFamilyStream):
    """All exported activities in one table, ``attributes`` kept as a JSON object."""


class ActivityTypeStream(ActivityFamilyStream):
    """Activities of one type, with its primary attribute and attributes as typed columns."""

    def __init__(self, tap: Tap, marketo: MarketoInstance, feed: ActivityFeed, activity_type: dict, name: str) -> None:
        self.activity_type_id = int(activity_type["id"])
        singer_decimal = bool(tap.config.get("use_singer_decimal"))
        primary = activity_type.get("primaryAttribute") or {}
        attributes = ([primary] if primary.get("name") else []) + list(activity_type.get("attributes") or [])
        # Under marketo naming, attribute columns keep the rule they always had (stream names'),
        # so no existing table loses a column.
        rule = column_name if tap.config.get("column_naming") == "snake_case" else snake_case
        names = column_list([str(a["name"]) for a in attributes], rule, taken=feed.columns.values())
        properties: dict[str, dict] = {}
        #: (column, attribute display name, converter) of each typed attribute column.
        self.attribute_columns: list[tuple[str, str, t.Callable[[t.Any], t.Any]]] = []
        #: The primary attribute's column, its converter, and whether it holds the value's id.
        self.primary_column: tuple[str, t.Callable[[t.Any], t.Any], bool] | None = None
        for attribute, column in zip(attributes, names, strict=True):
            data_type = str(attribute.get("dataType") or "string")
            properties[column] = json_schema(data_type, singer_decimal=singer_decimal)
            to_json = json_value_converter(data_type, singer_decimal=singer_decimal)
            if attribute is primary:
                holds_id = properties[column]["type"][0] == "integer"
                self.primary_column = (column, to_json, holds_id)
            else:
                self.attribute_columns.append((column, str(attribute["name"]), to_json))
        super().__init__(
            tap, marketo, feed, name=name, properties=properties, columns={column: column for column in properties}
        )

    def shape(self, row: dict) -> dict | None:
        """Rows of this type, attributes spread into typed columns."""
        keys = self.feed.keys
        if row.get(keys.type_id) != self.activity_type_id:
            return None
        record = dict(row)
        attributes = row.get(keys.attributes) or {}
        if isinstance(attributes, msgspec.Raw):  # kept as JSON text on the fast path
            attributes = _ATTRIBUTES.decode(attributes)
        for column, attribute, to_json in self.attribute_columns:
            record[column] = to_json(attributes.get(attribute))
        if self.primary_column:
            column, to_json, holds_id = self.primary_column
            by_id = row.get(keys.value_id)
            record[column] = by_id if holds_id and by_id is not None else to_json(row.get(keys.value))
        for name in self.deselected():
            record.pop(name, None)
        return record


#: The file columns of :class:`RowKeys`, in its order.
ROW_KEYS = ("activityTypeId", "activityDate", "attributes", "primaryAttributeValueId", "primaryAttributeValue")


class RowKeys(t.NamedTuple):
    """The record keys of the file columns the family reads in a row (column names)."""

    type_id: str
    date: str
    attributes: str
    value_id: str
    value: str


class ActivityFeed:
    """Runs the activity export jobs once per run and routes rows to the family's streams."""

    def __init__(self, type_ids: list[int], filters: dict, columns: t.Mapping[str, str]) -> None:
        self.type_ids = type_ids
        self.filters = filters
        #: File column -> column name, the same for every family member.
        self.columns = dict(columns)
        self.keys = RowKeys(*(self.columns[name] for name in ROW_KEYS))
        self.streams: list[ActivityFamilyStream] = []
        self._ran = False

    def members(self) -> list[ActivityFamilyStream]:
        """The family streams this run emits records for."""
        return [stream for stream in self.streams if stream.selected]

    def fields(self, members: t.Sequence[ActivityFamilyStream]) -> list[str]:
        """File columns the selected members need (only what someone selected)."""
        wanted: set[str] = set(ROUTING_COLUMNS)
        for stream in members:
            if isinstance(stream, ActivityTypeStream):
                wanted.update(ACTIVITY_COLUMNS)
            else:
                wanted.update(stream.selected_fields())
        return [name for name in ACTIVITY_COLUMNS if name in wanted]

    def requests(self, windows: t.Sequence[Window | None]) -> t.Iterator[ExportRequest]:
        """One job per window covering every selected activity type."""
        fields = self.fields(self.members() or self.streams[:1])
        for window in windows:
            assert window is not None
            body: dict[str, t.Any] = {
                "fields": fields,
                "format": "CSV",
                "filter": {
                    "createdAt": window.as_filter(),
                    "activityTypeIds": self.type_ids,
                    **self.filters,
                },
            }
            yield ExportRequest("activities", body, window)

    @staticmethod
    def router(
        caller: ActivityFamilyStream, targets: list[ActivityFamilyStream], since: dict[str, str]
    ) -> t.Callable[[dict], dict | None] | None:
        """The function giving the caller's record for a row and emitting the other members';
        None when every row simply is the caller's record (``activities`` alone).

        Built once per file: a row visits its own type stream (first: it copies the row) and
        the streams taking every type, however many types are selected.
        """
        if targets == [caller] and not isinstance(caller, ActivityTypeStream) and not since:
            return None
        everyone = [s for s in targets if not isinstance(s, ActivityTypeStream)]
        routes = {s.activity_type_id: [s, *everyone] for s in targets if isinstance(s, ActivityTypeStream)}
        type_id, date = caller.feed.keys.type_id, caller.feed.keys.date

        def route(row: dict) -> dict | None:
            own = None
            for stream in routes.get(row[type_id], everyone):
                if since and stream.name in since and row[date] < since[stream.name]:
                    continue
                record = stream.shape(row)
                if record is None:
                    continue
                if stream is caller:
                    own = record
                else:
                    stream.emit(record)
            return own

        return route

    def records_for(self, caller: ActivityFamilyStream, context: t.Mapping | None) -> t.Iterator[dict]:
        """Yield the caller's rows and write the other members' rows, once per run.

        Members can have different bookmarks (a type stream selected later than
        ``activities``): windows start at the earliest, and each member gets only rows at or
        after its own bookmark, so none is skipped or sent twice.
        """
        del context  # activity streams are not partitioned
        if self._ran:
            return
        self._ran = True
        members = self.members()
        # Like the SDK's get_starting_timestamp: the later of the bookmark and start_date.
        starts = {stream.name: max(stream.bookmark() or stream.start_date(), stream.start_date()) for stream in members}
        windows = caller.windows_between(min(starts.values()), self.streams)
        for stream in members:
            if stream is not caller:
                stream._write_schema_message()
        siblings = [stream for stream in self.streams if stream is not caller]
        requests = list(self.requests(windows))
        caller.begin_progress(windows, requests)
        for export_file in caller.exported_files(requests, siblings):
            window = export_file.request.window
            assert window is not None
            # Members whose bookmark this window reaches.
            targets = [s for s in members if window.end > starts[s.name]]
            since = {s.name: format_timestamp(starts[s.name]) for s in targets if starts[s.name] > window.start}
            # The fast path needs every member on it: the feed writes their records itself.
            fast = caller._lines is not None and all(s.fast_path() for s in targets)
            for stream in targets:
                if fast and stream._lines is None:
                    stream._lines = stream.record_lines()
                if stream._lines is not None:
                    stream._lines.stamp(dt.datetime.now(dt.timezone.utc))  # extracted with this file
            route = self.router(caller, targets, since)
            yield from caller.emitted_records(export_file, route, fast=fast)
            for stream in targets:
                stream.set_bookmark(window)
            caller.count_records()
            caller.state_manager.is_flushed = False  # also when only siblings moved
            caller.write_state()
        caller.log_summary()


def activity_feed(config: t.Mapping[str, t.Any], activity_types: list[dict]) -> ActivityFeed:
    """The one activity export per window: the types ``activity_type_ids`` names (checked
    against the instance) or every exportable type, the primary attribute filters, and the
    file's column names under ``column_naming``."""
    exportable = [int(a["id"]) for a in activity_types if int(a["id"]) != DELETE_LEAD_TYPE_ID]
    wanted = config.get("activity_type_ids")
    if wanted:
        unknown = sorted(set(wanted) - set(exportable))
        if unknown:
            msg = (
                f"activity_type_ids lists {unknown}, which are not exportable activity "
                "types of this instance; see the activity_types stream for valid ids"
            )
            raise errors.ConfigError(msg)
        type_ids = list(dict.fromkeys(int(i) for i in wanted))
    else:
        type_ids = exportable
    filters: dict[str, t.Any] = {}
    if config.get("activity_primary_attribute_value_ids"):
        filters["primaryAttributeValueIds"] = config["activity_primary_attribute_value_ids"]
    if config.get("activity_primary_attribute_values"):
        filters["primaryAttributeValues"] = config["activity_primary_attribute_values"]
    return ActivityFeed(type_ids, filters, column_names(ACTIVITY_COLUMNS, naming_rule(config.get("column_naming"))))


def activity_streams(tap: Tap, marketo: MarketoInstance) -> list[ActivityFamilyStream]:
    """``activities``, and with ``activity_type_streams`` one stream per exported type (names
    unique and stable), all fed by one shared export."""
    feed = activity_feed(tap.config, marketo.activity_types)
    ActivitiesStream(tap, marketo, feed, name="activities")
    if tap.config.get("activity_type_streams"):
        by_id = {int(a["id"]): a for a in marketo.activity_types}
        used: set[str] = {"activities", "activity_types"}
        for type_id in sorted(feed.type_ids):
            activity_type = by_id[type_id]
            name = f"activities_{snake_case(str(activity_type.get('name') or type_id))}"
            if name in used:
                name = f"{name}_{type_id}"
            used.add(name)
            ActivityTypeStream(tap, marketo, feed, activity_type, name)
    return list(feed.streams)
