"""Reference streams of the lead database and activities: activity types and deleted leads.

Small REST reads on the shared base (:mod:`tap_marketo_bulk.streams.rest`); deleted leads are
there because bulk activity exports cannot carry Delete Lead (activity type 37).
"""

from __future__ import annotations

import typing as t

from tap_marketo_bulk import errors
from tap_marketo_bulk.records.fields import DATETIME, INTEGER, STRING, Field, array, obj
from tap_marketo_bulk.streams.rest import (
    ACTIVITY_PERMISSION,
    FILTER_MARGIN,
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
