"""The ``leads`` stream: every lead through bulk lead export, windowed on updatedAt or createdAt."""

from __future__ import annotations

import typing as t

from tap_marketo_bulk import errors
from tap_marketo_bulk.exports.model import ExportRequest
from tap_marketo_bulk.records.names import column_names, naming_rule
from tap_marketo_bulk.records.types import typed_fields
from tap_marketo_bulk.streams.base import INTENTS_KEY, JOBS_KEY, BulkExportStream
from tap_marketo_bulk.windows import format_timestamp, parse_timestamp

if t.TYPE_CHECKING:
    from singer_sdk import Tap

    from tap_marketo_bulk.instance import MarketoInstance
    from tap_marketo_bulk.windows import Window


#: STATE of a createdAt pass over the whole history still under way: the end of its last
#: finished window. An interrupted pass (quota, budget, signal) resumes there next run
#: instead of starting over and spending the same export quota again.
SWEEP_KEY = "created_at_sweep_until"
#: STATE: the filter this subscription was found to need, so an unfinished createdAt pass
#: is continued without probing updatedAt again.
FILTER_KEY = "filter"


class LeadsStream(BulkExportStream):
    """Leads, with the schema of the lead describe endpoint.

    ``updatedAt`` windows pick up new and changed leads incrementally. Subscriptions without
    that filter (Marketo answers 1035) get ``createdAt`` windows over the whole history on
    every run instead: createdAt windows from the bookmark would miss leads updated later.
    """

    entity = "leads"

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        setting = self.config.get("leads_filter", "auto")
        #: The filter in use; ``auto`` becomes ``updatedAt`` or ``createdAt`` at the first job.
        self.filter_type = "updatedAt" if setting == "auto" else setting
        self._may_fall_back = setting == "auto"

    def boundary_column(self) -> str:
        """The visible column of the filter (see :mod:`tap_marketo_bulk.windows`)."""
        return self.filter_type

    def plan(self, context: t.Mapping | None) -> list[Window | None]:
        """From the bookmark for updatedAt; for createdAt the whole history, resuming a pass
        an earlier run left unfinished."""
        state = self.stream_state
        if (
            self._may_fall_back
            and state.get(FILTER_KEY) == "createdAt"
            and any(key in state for key in (SWEEP_KEY, JOBS_KEY, INTENTS_KEY))
        ):
            self.logger.info("Continuing the createdAt pass over the lead history an earlier run began.")
            self.filter_type = "createdAt"
            self._may_fall_back = False
        if self.filter_type == "createdAt":
            until = state.get(SWEEP_KEY)
            return list(self.windows_between(parse_timestamp(until) if until else None))
        return super().plan(context)

    def set_bookmark(self, window: Window) -> None:
        """createdAt windows advance the pass; the bookmark moves when the pass is complete."""
        if self.filter_type != "createdAt":
            super().set_bookmark(window)
            return
        state = self.stream_state
        state[FILTER_KEY] = "createdAt"
        if window.end < self.marketo.range_end:
            state[SWEEP_KEY] = format_timestamp(window.end)
            self.state_manager.is_flushed = False
        else:
            state.pop(SWEEP_KEY, None)
            super().set_bookmark(window)

    def export_requests(self, windows: t.Sequence[Window | None]) -> t.Iterator[ExportRequest]:
        """One lead export per window, asking only for the selected fields."""
        fields = self.selected_fields(always=[self.filter_type])
        for window in windows:
            assert window is not None
            body = {
                "fields": fields,
                "format": "CSV",
                "filter": {self.filter_type: window.as_filter()},
            }
            yield ExportRequest(self.entity, body, window)

    def get_records(self, context: t.Mapping | None) -> t.Iterable[dict]:
        """Fall back from updatedAt to createdAt when the subscription lacks the filter."""
        try:
            yield from super().get_records(context)
        except errors.UnsupportedFilter:
            if not self._may_fall_back:
                msg = (
                    "leads_filter=updatedAt is not enabled for this Marketo subscription "
                    "(1035). Set leads_filter to auto or createdAt, or ask Marketo support "
                    "to enable the updatedAt filter."
                )
                raise errors.UnsupportedFilter(msg, code="1035") from None
            self.logger.warning(
                "This subscription does not support the leads updatedAt filter (1035): "
                "exporting leads by createdAt over the whole history on every run, so that "
                "updated leads are not missed."
            )
            self.filter_type = "createdAt"
            self._may_fall_back = False
            yield from super().get_records(context)


def lead_columns(marketo: MarketoInstance, column_naming: str | None) -> dict[str, str]:
    """REST name -> column of the ``leads`` stream, under a ``column_naming`` (the lead_fields
    stream says each field's column with it, so a model can find the column of a field id)."""
    return column_names((field["name"] for field in marketo.lead_fields), naming_rule(column_naming))


def leads_stream(tap: Tap, marketo: MarketoInstance) -> LeadsStream:
    """The leads stream, typed from the lead describe."""
    properties, converters = typed_fields(
        marketo.lead_fields, singer_decimal=bool(tap.config.get("use_singer_decimal"))
    )
    for required in ("id", "updatedAt", "createdAt"):
        if required not in properties:
            msg = (
                f"The lead describe of this instance has no '{required}' field; "
                "check that the API user may read leads (Read-Only Lead permission)."
            )
            raise errors.AccessDenied(msg)
    return LeadsStream(
        tap,
        marketo,
        name="leads",
        schema={"type": "object", "properties": properties},
        converters=converters,
        primary_keys=["id"],
        replication_key="updatedAt",
        columns=lead_columns(marketo, tap.config.get("column_naming")),
    )
