"""REST reference streams: activity types, programs and deleted leads.

These are small, so they use Marketo's plain REST endpoints through the run's one
:class:`~tap_marketo_bulk.marketo.client.MarketoClient` (shared rate limit and token), not bulk jobs.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from singer_sdk import Stream
from singer_sdk import typing as th

from tap_marketo_bulk import errors
from tap_marketo_bulk.streams.optional import READ_ONLY_ACTIVITY, READ_ONLY_ASSETS, OptionalStream
from tap_marketo_bulk.windows import format_timestamp, parse_marketo_datetime

if t.TYPE_CHECKING:
    from singer_sdk import Tap

    from tap_marketo_bulk.instance import MarketoInstance

DELETED_LEADS_PAGE_SIZE = 300
DELETED_LEADS_PATH = "/rest/v1/activities/deletedleads.json"

NAME_AND_TYPE = th.ObjectType(
    th.Property("name", th.StringType),
    th.Property("dataType", th.StringType),
)


def marketo_datetime_to_rfc3339(value: str | None) -> str | None:
    """Marketo writes asset dates like ``2015-11-18T15:25:35Z+0000``; emit RFC 3339 UTC."""
    return format_timestamp(parse_marketo_datetime(value)) if value else None


class MarketoRestStream(Stream):
    """A stream read with plain REST calls through the run's shared client."""

    def __init__(self, tap: Tap, marketo: MarketoInstance) -> None:
        super().__init__(tap)
        self.marketo = marketo


class ActivityTypesStream(OptionalStream, MarketoRestStream):
    """Every activity type with its primary attribute and attributes (full table)."""

    name = "activity_types"
    permission = READ_ONLY_ACTIVITY
    primary_keys = ("id",)
    schema = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("name", th.StringType),
        th.Property("description", th.StringType),
        th.Property("primaryAttribute", NAME_AND_TYPE),
        th.Property("attributes", th.ArrayType(NAME_AND_TYPE)),
    ).to_dict()

    def probe(self) -> None:
        """The types, which the activity streams are built from anyway (one call per run)."""
        _ = self.marketo.activity_types

    def get_records(self, context: t.Mapping | None) -> t.Iterable[dict]:
        """The types endpoint returns all types in one answer."""
        for activity_type in self.marketo.activity_types:
            yield {name: activity_type.get(name) for name in self.schema["properties"]}


class ProgramsStream(OptionalStream, MarketoRestStream):
    """Programs from the asset API, paged with offset until Marketo says there are no more."""

    name = "programs"
    permission = READ_ONLY_ASSETS
    primary_keys = ("id",)
    schema = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("name", th.StringType),
        th.Property("description", th.StringType),
        th.Property("type", th.StringType),
        th.Property("channel", th.StringType),
        th.Property("status", th.StringType),
        th.Property("workspace", th.StringType),
        th.Property(
            "folder",
            th.ObjectType(
                th.Property("type", th.StringType),
                th.Property("value", th.IntegerType),
                th.Property("folderName", th.StringType),
            ),
        ),
        th.Property("url", th.StringType),
        th.Property("createdAt", th.DateTimeType),
        th.Property("updatedAt", th.DateTimeType),
    ).to_dict()

    def probe(self) -> None:
        """A first page of one program."""
        self.marketo.probe_programs()

    def get_records(self, context: t.Mapping | None) -> t.Iterable[dict]:
        """Programs with their dates in RFC 3339."""
        for program in self.marketo.programs:
            record = {name: program.get(name) for name in self.schema["properties"]}
            record["createdAt"] = marketo_datetime_to_rfc3339(program.get("createdAt"))
            record["updatedAt"] = marketo_datetime_to_rfc3339(program.get("updatedAt"))
            yield record


class DeletedLeadsStream(OptionalStream, MarketoRestStream):
    """Deleted leads (activity type 37), which bulk exports do not carry.

    Incremental on ``activityDate``: a paging token for the bookmark, then pages of 300 until
    ``moreResult`` is false.
    """

    name = "deleted_leads"
    permission = READ_ONLY_ACTIVITY
    primary_keys = ("id",)
    replication_key = "activityDate"
    is_sorted = False
    schema = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("marketoGUID", th.StringType),
        th.Property("leadId", th.IntegerType),
        th.Property("activityDate", th.DateTimeType),
        th.Property("activityTypeId", th.IntegerType),
        th.Property("primaryAttributeValueId", th.IntegerType),
        th.Property("primaryAttributeValue", th.StringType),
        th.Property(
            "attributes",
            th.ArrayType(
                th.ObjectType(
                    th.Property("name", th.StringType),
                    th.Property("value", th.StringType),
                )
            ),
        ),
    ).to_dict()

    def paging_token(self, since: dt.datetime) -> str:
        """Marketo's paging token for activities since ``since``."""
        path = "/rest/v1/activities/pagingtoken.json"
        token = self.marketo.client.get(path, {"sinceDatetime": format_timestamp(since)}).get("nextPageToken")
        if not token:
            msg = f"{path}: Marketo answered without a nextPageToken"
            raise errors.TransientServerError(msg)
        return str(token)

    def probe(self) -> None:
        """A paging token for now, and a first page of one deleted lead (two calls)."""
        token = self.paging_token(self.marketo.range_end)
        self.marketo.client.get(DELETED_LEADS_PATH, {"nextPageToken": token, "batchSize": 1})

    def get_records(self, context: t.Mapping | None) -> t.Iterable[dict]:
        """Deleted-lead activities since the bookmark (or ``start_date``)."""
        since = self.get_starting_timestamp(context)
        end = format_timestamp(self.marketo.range_end)
        token = self.paging_token(since)
        while True:
            envelope = self.marketo.client.get(
                DELETED_LEADS_PATH,
                {"nextPageToken": token, "batchSize": DELETED_LEADS_PAGE_SIZE},
            )
            for item in envelope.get("result") or []:
                record = {name: item.get(name) for name in self.schema["properties"]}
                record["activityDate"] = marketo_datetime_to_rfc3339(item.get("activityDate"))
                if record["activityDate"] and record["activityDate"] >= end:
                    continue  # end_date bounds every stream; later deletions come next run
                record["attributes"] = [
                    {
                        "name": a.get("name"),
                        "value": None if a.get("value") is None else str(a["value"]),
                    }
                    for a in item.get("attributes") or []
                ]
                yield record
            token = envelope.get("nextPageToken", token)
            if not envelope.get("moreResult"):
                return
