"""Reference streams of the lead database and activities: activity types, deleted leads, lead
fields and lead partitions.

Small REST reads on the shared base (:mod:`tap_marketo_bulk.streams.rest`); deleted leads are
here because bulk activity exports cannot carry Delete Lead (activity type 37).
"""

from __future__ import annotations

import typing as t

from tap_marketo_bulk import errors
from tap_marketo_bulk.records.fields import BOOLEAN, DATETIME, INTEGER, STRING, Field, array, obj
from tap_marketo_bulk.streams.leads import lead_columns
from tap_marketo_bulk.streams.rest import (
    ACTIVITY_PERMISSION,
    FILTER_MARGIN,
    LEAD_PERMISSION,
    Paging,
    RestStream,
    RestWindow,
    token_pages,
)
from tap_marketo_bulk.windows import format_timestamp

NAME_AND_TYPE = obj(Field("name", STRING), Field("dataType", STRING))


class ActivityTypesStream(RestStream):
    """Every activity type with its primary attribute and attributes (full table)."""

    name = "activity_types"
    path = "/rest/v1/activities/types.json"
    paging = Paging.NONE
    permission = ACTIVITY_PERMISSION
    fields = (
        Field("id", INTEGER),
        Field("name", STRING),
        Field("description", STRING),
        Field("primaryAttribute", NAME_AND_TYPE),
        Field("attributes", array(NAME_AND_TYPE)),
    )

    def items(self, window: RestWindow | None) -> t.Iterator[dict]:
        """The types read at discovery (the activity streams need them there)."""
        return iter(self.marketo.activity_types)

    def probe(self) -> None:
        """The types, which the activity streams are built from anyway (one call per run)."""
        _ = self.marketo.activity_types


class DeletedLeadsStream(RestStream):
    """Deleted leads (activity type 37), which bulk exports do not carry.

    Incremental on ``activityDate``: a paging token for the window's start, then pages of 300
    until Marketo says there are no more; deletions at or after the run's range end wait for
    the next run.
    """

    name = "deleted_leads"
    path = "/rest/v1/activities/deletedleads.json"
    paging = Paging.LEAD_DATABASE
    permission = ACTIVITY_PERMISSION
    replication = "activityDate"
    from_start_date = True
    fields = (
        Field("id", INTEGER),
        Field("marketoGUID", STRING),
        Field("leadId", INTEGER),
        Field("activityDate", DATETIME),
        Field("activityTypeId", INTEGER),
        Field("primaryAttributeValueId", INTEGER),
        Field("primaryAttributeValue", STRING),
        Field("attributes", array(obj(Field("name", STRING), Field("value", STRING), closed=True))),
    )

    def first_token(self, window: RestWindow) -> str:
        """A paging token for the window's start (a margin earlier: whether Marketo's
        ``sinceDatetime`` includes that second is not documented)."""
        assert window.start is not None
        since = window.start - FILTER_MARGIN
        path = "/rest/v1/activities/pagingtoken.json"
        token = self.marketo.client.get(path, {"sinceDatetime": format_timestamp(since)}).get("nextPageToken")
        if not token:
            msg = f"{path}: Marketo answered without a nextPageToken"
            raise errors.TransientServerError(msg)
        return str(token)

    def items(self, window: RestWindow | None) -> t.Iterator[dict]:
        """Deleted-lead activities from the window's start on."""
        assert window is not None
        for page in token_pages(self.marketo.client, self.path, token=self.first_token(window)):
            yield from page

    def probe(self) -> None:
        """A paging token, then one page of one deletion (the endpoint takes no call without one)."""
        token = self.first_token(RestWindow(self.marketo.range_end, self.marketo.range_end))
        self.marketo.client.get(self.path, {"nextPageToken": token, "batchSize": 1})


class LeadFieldsStream(RestStream):
    """Every field of the lead describe: id, display name, data type, length, and its REST and
    SOAP names and read-only flags as columns (SOAP-only and formula fields included), and
    ``columnName``: the field's column in the ``leads`` stream under this run's
    ``column_naming`` (``lead_status`` for ``leadStatus`` under snake_case; null for a field
    the leads stream does not carry: SOAP-only, formula). A model joining a Change Data Value
    activity's field id to its lead column reads that, not a name it derives itself.

    Read from the describe discovery already read: no call of its own.
    """

    name = "lead_fields"
    path = "/rest/v1/leads/describe.json"
    paging = Paging.NONE
    permission = LEAD_PERMISSION
    fields = (
        Field("id", INTEGER),
        Field("displayName", STRING),
        Field("dataType", STRING),
        Field("length", INTEGER),
        Field("restName", STRING),
        Field("restReadOnly", BOOLEAN),
        Field("soapName", STRING),
        Field("soapReadOnly", BOOLEAN),
        Field("columnName", STRING),
    )

    def items(self, window: RestWindow | None) -> t.Iterator[dict]:
        """The describe's fields, ``rest``/``soap`` objects spread into columns."""
        columns = lead_columns(self.marketo, self.column_naming)
        for field in self.marketo.lead_describe:
            rest, soap = field.get("rest") or {}, field.get("soap") or {}
            yield {
                **field,
                "restName": rest.get("name"),
                "restReadOnly": rest.get("readOnly"),
                "soapName": soap.get("name"),
                "soapReadOnly": soap.get("readOnly"),
                "columnName": columns.get(rest.get("name")),
            }

    def probe(self) -> None:
        """The describe discovery reads anyway (no second call)."""
        _ = self.marketo.lead_describe


class LeadPartitionsStream(RestStream):
    """Lead partitions (one call, no paging)."""

    name = "lead_partitions"
    path = "/rest/v1/leads/partitions.json"
    paging = Paging.NONE
    permission = LEAD_PERMISSION
    fields = (Field("id", INTEGER), Field("name", STRING), Field("description", STRING))
