"""The REST stream base: every Marketo entity read page by page through the run's one client.

Reference entities (campaigns, assets, lists, programs, types, fields) are small next to the
bulk exports, so they are read from Marketo's REST and asset APIs. They share everything but
their path, paging, fields, key and replication, which each stream declares in a few lines;
this module does the rest once:

- **Paging.** The asset API pages by ``offset`` and ``maxReturn`` (at most 200) and says it is
  done with the warning "No assets found for the given search criteria." and no ``result``;
  the lead database pages by ``nextPageToken`` and ``batchSize`` (at most 300). Both at the
  maximum, so a listing costs the fewest calls.
- **Typing.** Each stream's schema and records come from one list of
  :class:`~tap_marketo_bulk.records.fields.Field`: ids integers, booleans booleans, asset dates
  such as ``2015-11-18T15:25:35Z+0000`` RFC 3339 UTC, nested objects JSON objects.
- **Column names.** :class:`~tap_marketo_bulk.streams.columns.NamedColumns` names the schema,
  the keys and the replication key once, by the ``column_naming`` setting; every record is
  built with the same mapping (``columns``). Members of nested objects (``folder``,
  ``subject``, ``recurrence``, ...) keep Marketo's names: they are JSON values, not columns.
- **Incremental reads** where the endpoint filters by ``updatedAt`` (see :class:`RestWindow`),
  with the bookmark at the run's range end, and records deduplicated on the key within a run.
- **Calls** go through the run's one client, counted under the stream's name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import typing as t

from tap_marketo_bulk import errors
from tap_marketo_bulk.records.fields import DATETIME, Field, schema
from tap_marketo_bulk.streams.base import bookmark_at, warn_unknown_selection
from tap_marketo_bulk.streams.columns import NamedColumns
from tap_marketo_bulk.streams.optional import READ_ONLY_ACTIVITY, READ_ONLY_ASSETS, READ_ONLY_LEAD, OptionalStream
from tap_marketo_bulk.windows import format_timestamp, parse_timestamp

if t.TYPE_CHECKING:
    from singer_sdk import Tap

    from tap_marketo_bulk.instance import MarketoInstance
    from tap_marketo_bulk.marketo.client import MarketoClient

#: Marketo's most rows per asset API page (``maxReturn``).
ASSET_PAGE_SIZE = 200
#: Marketo's most rows per lead database page (``batchSize``).
LEAD_DATABASE_PAGE_SIZE = 300
#: The warning the asset API ends a listing with.
NO_ASSETS_WARNING = "No assets found"
#: How far past both ends of a window an ``earliestUpdatedAt``/``latestUpdatedAt`` request
#: reaches. Marketo does not say whether those bounds are inclusive: asking one second wider
#: catches the records on the bounds under either reading, and the stream keeps only those in
#: ``[start, end)`` (see :class:`RestWindow`), so none is lost and none is sent twice.
FILTER_MARGIN = dt.timedelta(seconds=1)

#: What each REST stream's role needs (:attr:`RestStream.permission`), as the optional-entity
#: warnings say it.
ASSETS_PERMISSION = READ_ONLY_ASSETS
LEAD_PERMISSION = READ_ONLY_LEAD
ACTIVITY_PERMISSION = READ_ONLY_ACTIVITY

Page = list[dict]


def asset_pages(client: MarketoClient, path: str, params: t.Mapping[str, t.Any] | None = None) -> t.Iterator[Page]:
    """Pages of an asset API listing, ``offset`` stepping by what each page held.

    The listing ends with the "No assets found" warning, or an answer without (or with an
    empty) ``result``. A page shorter than ``maxReturn`` does not end it: whether Marketo can
    answer short pages before the end (the asset API filters by workspace) is not
    documented, and the one more call that proves the end is cheap.
    """
    offset, previous = 0, None
    while True:
        envelope = client.get(path, {**(params or {}), "offset": offset, "maxReturn": ASSET_PAGE_SIZE})
        page = envelope.get("result") or []
        if page and page == previous:  # an endpoint ignoring offset would page forever
            msg = f"{path}: Marketo answered offset {offset} with the rows of the page before; retry the run later"
            raise errors.TransientServerError(msg)
        if page:
            yield page
        warnings = " ".join(str(warning) for warning in envelope.get("warnings") or [])
        if not page or NO_ASSETS_WARNING in warnings:
            return
        offset, previous = offset + len(page), page


def token_pages(
    client: MarketoClient, path: str, params: t.Mapping[str, t.Any] | None = None, token: str | None = None
) -> t.Iterator[Page]:
    """Pages of a lead database listing, each call passing the previous answer's ``nextPageToken``.

    Where the answer carries ``moreResult``, it says whether to go on (activity endpoints
    answer empty pages with ``moreResult: true`` while they scan); where it does not (lists,
    list members), the listing ends with the page that has no ``nextPageToken`` or no rows.
    """
    while True:
        query = {**(params or {}), "batchSize": LEAD_DATABASE_PAGE_SIZE}
        if token:
            query["nextPageToken"] = token
        envelope = client.get(path, query)
        page = envelope.get("result") or []
        if page:
            yield page
        sent, token = token, envelope.get("nextPageToken") or None
        more = envelope.get("moreResult")
        if not token or more is False or (more is None and not page):
            return
        if token == sent:  # a token that does not move would page forever
            msg = f"{path}: Marketo answered the nextPageToken it was sent; retry the run later"
            raise errors.TransientServerError(msg)


class Paging(enum.Enum):
    """How an endpoint pages: the two Marketo pagings, or one answer."""

    ASSET = "offset"
    LEAD_DATABASE = "nextPageToken"
    NONE = "none"

    def pages(self, client: MarketoClient, path: str, params: t.Mapping[str, t.Any] | None = None) -> t.Iterator[Page]:
        """Every page of ``path``."""
        if self is Paging.ASSET:
            return asset_pages(client, path, params)
        if self is Paging.LEAD_DATABASE:
            return token_pages(client, path, params)
        return iter([client.get(path, params).get("result") or []])

    def first_row_params(self) -> dict[str, int]:
        """Query of the cheapest call: one page of one row."""
        if self is Paging.ASSET:
            return {"offset": 0, "maxReturn": 1}
        if self is Paging.LEAD_DATABASE:
            return {"batchSize": 1}
        return {}


@dataclasses.dataclass(frozen=True)
class RestWindow:
    """What an incremental REST read covers: replication values in ``[start, end)``.

    ``end`` is the run's range end (``end_date`` or the moment the run started), where the
    bookmark goes once the read is complete. ``start`` is the bookmark, or for a first run
    ``start_date`` (events) or nothing at all (reference data: a campaign last edited before
    ``start_date`` is still the one this year's activities point to).
    """

    start: dt.datetime | None
    end: dt.datetime

    def holds(self, value: str | None) -> bool:
        """Whether a record's replication value (RFC 3339, as emitted) is in the window.

        A record without one is kept: Marketo's filter, not this check, chose it.
        """
        if value is None:
            return True
        if self.start is not None and value < format_timestamp(self.start):
            return False
        return value < format_timestamp(self.end)

    def updated_at_params(self) -> dict[str, str]:
        """``earliestUpdatedAt``/``latestUpdatedAt``, a margin wider than the window."""
        params = {"latestUpdatedAt": format_timestamp(self.end + FILTER_MARGIN)}
        if self.start is not None:
            params["earliestUpdatedAt"] = format_timestamp(self.start - FILTER_MARGIN)
        return params


class RestStream(OptionalStream, NamedColumns):
    """A Marketo entity read through REST pages; subclasses declare what differs.

    A subclass sets :attr:`name`, :attr:`path`, :attr:`paging`, :attr:`fields`, :attr:`key`,
    :attr:`permission` and, when incremental, :attr:`replication`; it overrides :meth:`items`
    only when the rows do not come from paging :attr:`path` (per-parent endpoints, answers
    read at discovery).
    """

    #: The endpoint listed (also what :meth:`probe` calls).
    path: t.ClassVar[str]
    paging: t.ClassVar[Paging] = Paging.ASSET
    #: The members of Marketo's answer this stream emits, in column order.
    fields: t.ClassVar[tuple[Field, ...]]
    #: Marketo names of the primary key.
    key: t.ClassVar[tuple[str, ...]] = ("id",)
    #: Marketo name of the replication key; None: full table.
    replication: t.ClassVar[str | None] = None
    #: What to ask a Marketo admin for when Marketo refuses this stream (an optional entity:
    #: :mod:`~tap_marketo_bulk.streams.optional`), e.g. "the Read-Only Assets permission ...".
    permission: t.ClassVar[str]
    #: Whether :attr:`path` takes ``earliestUpdatedAt``/``latestUpdatedAt``.
    updated_at_filter: t.ClassVar[bool] = False
    #: Asset versions browsed one after the other (``status=approved``, ``status=draft``): what
    #: a browse without ``status`` returns of an asset with both is not documented. Each row's
    #: ``status`` is the version's, lower case (the browse's status where Marketo gives none).
    statuses: t.ClassVar[tuple[str, ...]] = ()
    #: Whether a first run starts at ``start_date`` (events) instead of reading everything.
    from_start_date: t.ClassVar[bool] = False
    #: Whether records are sent once per key in a run (a stream whose keys would not fit in
    #: memory deduplicates its own way).
    dedupe: t.ClassVar[bool] = True
    is_sorted = False

    def __init__(self, tap: Tap, marketo: MarketoInstance) -> None:
        self.marketo = marketo
        marketo_schema = schema(((field.name, field.kind) for field in self.fields), self.key)
        super().__init__(tap, schema=marketo_schema, name=self.name)
        self.primary_keys = self.named_keys(self.key)
        self.replication_key = self.named_key(self.replication)
        #: ``(column, field)`` of each field: the records, like the schema, come from this list.
        self.typed = [(self.columns[field.name], field) for field in self.fields]

    # --- what streams may override -------------------------------------------------------

    def items(self, window: RestWindow | None) -> t.Iterator[dict]:
        """Marketo's rows for this read: every page of :attr:`path`, per status if versioned."""
        params = window.updated_at_params() if window and self.updated_at_filter else {}
        return self.browse(self.path, params, self.statuses)

    def probe(self) -> None:
        """The cheapest call proving Marketo serves this entity to this API user: one page of
        one row, once a run for streams of one endpoint. Marketo's refusal is raised as is."""
        self.marketo.probe(self.path, self.paging.first_row_params())

    # --- shared machinery ----------------------------------------------------------------

    def browse(
        self, path: str, params: t.Mapping[str, t.Any] | None = None, statuses: t.Sequence[str] = ()
    ) -> t.Iterator[dict]:
        """Rows of every page of ``path`` (this stream's paging), once per status if given."""
        client = self.marketo.client
        for status in statuses or (None,):
            query = {**(params or {}), "status": status} if status else params
            for page in self.paging.pages(client, path, query):
                for item in page:
                    yield version_of(item, status) if status else item

    def window(self) -> RestWindow | None:
        """The window of an incremental read (None for a full table)."""
        if not self.replication_key:
            return None
        value = self.stream_state.get("replication_key_value")
        if value:
            start: dt.datetime | None = parse_timestamp(value)
        elif self.from_start_date:
            start = parse_timestamp(self.config["start_date"])
        else:
            start = None
        return RestWindow(start, self.marketo.range_end)

    def record(self, item: t.Mapping[str, t.Any]) -> dict:
        """The typed record of one of Marketo's rows."""
        record = {}
        for column, field in self.typed:
            value = item.get(field.name)
            try:
                record[column] = field.kind.convert(value)
            except ValueError as exc:
                msg = f"{self.name}: Marketo answered {field.name}={value!r}, which is {exc}; report it to Marketo"
                raise errors.UnexpectedValue(msg) from None
        return record

    def get_records(self, context: t.Mapping | None) -> t.Iterable[dict]:
        """Typed records in the window, each key once; then the bookmark at the window's end."""
        del context  # REST streams are not partitioned
        warn_unknown_selection(self, f"the {self.name} stream")
        with self.marketo.client.attributed_to(self.name):
            window = self.window()
            if window is not None:
                self.logger.info(
                    "%s: reading rows with %s in [%s, %s).",
                    self.name,
                    self.replication_key,
                    format_timestamp(window.start) if window.start else "the beginning (a first run)",
                    format_timestamp(window.end),
                )
            seen: set[tuple] = set()
            for item in self.items(window):
                record = self.record(item)
                if window is not None and not window.holds(record[self.replication_key]):
                    continue
                if self.dedupe:
                    key = tuple(record[column] for column in self.primary_keys)
                    if key in seen:  # offset paging over changing data, or one version browsed twice
                        continue
                    seen.add(key)
                yield record
            if window is not None:
                bookmark_at(self, window.end)

    def holds_updated_at(self, window: RestWindow | None, value: t.Any) -> bool:
        """Whether Marketo's ``updatedAt`` value of a parent (a program) falls in the window."""
        return window is None or window.holds(DATETIME.convert(value))

    def get_replication_key_signpost(self, context: t.Any = None) -> None:
        """No signpost: the bookmark is the run's range end, set when the read is complete."""
        return

    def _increment_stream_state(self, latest_record: dict, *, context: t.Any = None) -> None:
        """Records never move the bookmark; :meth:`get_records` puts it at the window's end."""


def version_of(item: dict, status: str) -> dict:
    """The row of a versioned asset with ``status`` its version, in lower case."""
    value = item.get("status")
    return {**item, "status": value.lower() if isinstance(value, str) and value else status}
