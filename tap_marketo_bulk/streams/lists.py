"""Static lists and their members.

``static_lists`` is Get Lists (``/rest/v1/lists.json``, 300 a call). ``static_list_members`` is
a snapshot of every selected list's membership on each run, one row per list and lead, read
the cheapest way for each list's size (README, "Cost per stream"):

- Get Leads by List Id (``/rest/v1/lists/{id}/leads.json?fields=id``) costs one call per 300
  members and nothing else. A list of up to :data:`BULK_FROM_MEMBERS` members is read so.
- One Bulk Lead Extract job with the ``staticListId`` filter and ``fields: ["id"]`` costs about
  five calls whatever the size (create, enqueue, status, file), a few bytes of export quota per
  member and a place in the bulk queue. A list that had more members at its last read goes
  this way, through the run's export runner (jobs in STATE, never created twice); so does a
  list read for the first time once its first :data:`BULK_FROM_MEMBERS` members are in (the
  members already sent are not sent again).

The sizes seen are kept in STATE (``list_sizes``), which also gives the estimate of a run's
calls logged before any member is read, and the warning when a selection would not stay far
inside Marketo's daily 50,000 calls.
"""

from __future__ import annotations

import math
import typing as t

from tap_marketo_bulk import errors
from tap_marketo_bulk.exports.model import ExportRequest
from tap_marketo_bulk.records.fields import DATETIME, INTEGER, STRING, Field
from tap_marketo_bulk.records.reader import read_export
from tap_marketo_bulk.records.types import converter
from tap_marketo_bulk.streams.base import connection_tested, exported_files
from tap_marketo_bulk.streams.rest import (
    LEAD_DATABASE_PAGE_SIZE,
    LEAD_PERMISSION,
    Paging,
    RestStream,
    RestWindow,
    token_pages,
)

if t.TYPE_CHECKING:
    from singer_sdk import Tap

    from tap_marketo_bulk.instance import MarketoInstance

LISTS_PATH = "/rest/v1/lists.json"
#: Lists with more members than this are read by a bulk export job: ten REST pages cost twice
#: the calls of a job (README, "Cost per stream").
BULK_FROM_MEMBERS = 10 * LEAD_DATABASE_PAGE_SIZE
#: Calls of one bulk export job in the estimate: create, enqueue, about two status checks, file.
BULK_JOB_CALLS = 5
#: The daily API calls most subscriptions have, and the share of it a run is warned above.
DAILY_CALLS = 50_000
WARN_ABOVE_SHARE = 0.1
#: STATE: members of each list (by id) at its last read.
SIZES_KEY = "list_sizes"
SETTING = "static_list_members_lists"


def static_list_listing(marketo: MarketoInstance) -> list[dict]:
    """Every static list as Get Lists answers it, read once a run."""
    return marketo.read_once(
        "static lists", lambda: [row for page in token_pages(marketo.client, LISTS_PATH) for row in page]
    )


class StaticListsStream(RestStream):
    """Static lists (full table)."""

    name = "static_lists"
    path = LISTS_PATH
    paging = Paging.LEAD_DATABASE
    permission = LEAD_PERMISSION
    fields = (
        Field("id", INTEGER),
        Field("name", STRING),
        Field("description", STRING),
        Field("programName", STRING),
        Field("workspaceName", STRING),
        Field("workspaceId", INTEGER),
        Field("createdAt", DATETIME),
        Field("updatedAt", DATETIME),
    )

    def items(self, window: RestWindow | None) -> t.Iterator[dict]:
        """The run's list listing."""
        return iter(static_list_listing(self.marketo))


class StaticListMembersStream(RestStream):
    """Every selected static list's members: a full snapshot each run (see the module)."""

    name = "static_list_members"
    path = LISTS_PATH  # probed: the member endpoint needs a list id and the same permission
    paging = Paging.LEAD_DATABASE
    permission = LEAD_PERMISSION
    key = ("listId", "leadId")
    fields = (Field("listId", INTEGER), Field("leadId", INTEGER))
    #: A refusal stops the run when this setting names lists (they were asked for by name).
    naming_settings = (SETTING,)
    #: Members are deduplicated per list here: a run-wide set would hold every member.
    dedupe = False

    def lists(self) -> list[dict]:
        """The lists ``static_list_members_lists`` names (ids or names), or every list."""
        listed = static_list_listing(self.marketo)
        wanted = self.config.get(SETTING)
        if not wanted:
            return listed
        chosen = [lst for lst in listed if lst.get("id") in wanted or lst.get("name") in wanted]
        found = {lst.get("id") for lst in chosen} | {lst.get("name") for lst in chosen}
        unknown = [item for item in wanted if item not in found]
        if unknown:
            names = ", ".join(f"{lst.get('id')} {lst.get('name')!r}" for lst in listed) or "none"
            msg = f"{SETTING} lists {unknown}, which this Marketo instance does not have; its static lists: {names}"
            raise errors.ConfigError(msg)
        return chosen

    def items(self, window: RestWindow | None) -> t.Iterator[dict]:
        """Small lists by REST pages, large ones by bulk export jobs; then the sizes seen."""
        lists = self.lists()
        known = self.stream_state.get(SIZES_KEY) or {}
        by_bulk = [lst for lst in lists if known.get(str(lst["id"]), 0) > BULK_FROM_MEMBERS]
        self.log_estimate(lists, known, len(by_bulk))
        sizes: dict[str, int] = {}
        sent: dict[int, set[int]] = {}  # members sent by REST of lists found too large for it
        for lst in lists:
            if lst in by_bulk:
                continue
            members: set[int] = set()
            yield from self.rest_members(int(lst["id"]), members)
            if len(members) > BULK_FROM_MEMBERS:  # larger than thought: the rest by a job
                sent[int(lst["id"])] = members
                by_bulk.append(lst)
            else:
                sizes[str(lst["id"])] = len(members)
        yield from self.bulk_members(by_bulk, sent, sizes)
        listed = {str(lst.get("id")) for lst in static_list_listing(self.marketo)}
        self.stream_state[SIZES_KEY] = {**{k: v for k, v in known.items() if k in listed}, **sizes}
        self.state_manager.is_flushed = False

    def rest_members(self, list_id: int, members: set[int]) -> t.Iterator[dict]:
        """A list's members by Get Leads by List Id, into ``members``; stops once the list has
        more than :data:`BULK_FROM_MEMBERS`. A list deleted since the listing is skipped."""
        path = f"/rest/v1/lists/{list_id}/leads.json"
        try:
            for page in token_pages(self.marketo.client, path, {"fields": "id"}):
                for row in page:
                    if row.get("id") not in members:  # token paging over a list that changes
                        members.add(row.get("id"))
                        yield {"listId": list_id, "leadId": row.get("id")}
                if len(members) > BULK_FROM_MEMBERS:
                    return
        except errors.MarketoError as exc:
            if exc.code != "1013":
                raise
            self.logger.warning("%s: static list %s is gone (deleted since it was listed): %s", self.name, list_id, exc)

    def bulk_members(self, lists: list[dict], sent: dict[int, set[int]], sizes: dict[str, int]) -> t.Iterator[dict]:
        """Members of ``lists`` by one lead export job each (``staticListId``, ``fields: ["id"]``);
        none in a connection test that has its record already."""
        if lists and connection_tested(self):
            return
        requests = [
            ExportRequest(
                "leads",
                {"fields": ["id"], "format": "CSV", "filter": {"staticListId": int(lst["id"])}},
                label=f"static list {lst['id']}",
            )
            for lst in lists
        ]
        to_int = {"id": converter("integer")}
        for export_file in exported_files(self, self.marketo, requests):
            list_id = export_file.request.body["filter"]["staticListId"]
            already = sent.get(list_id, set())
            count = 0
            if export_file.path is not None:
                for row in read_export(export_file.path, to_int, file_format=export_file.file_format):
                    count += 1
                    if row["id"] not in already:
                        yield {"listId": list_id, "leadId": row["id"]}
            sizes[str(list_id)] = count

    def log_estimate(self, lists: list[dict], known: t.Mapping[str, int], bulk: int) -> None:
        """The calls this read will take, from the sizes of the last read; a warning when that
        would not stay far inside the daily calls."""
        unknown = [lst for lst in lists if str(lst["id"]) not in known]
        pages = sum(
            max(1, math.ceil(known[str(lst["id"])] / LEAD_DATABASE_PAGE_SIZE))
            for lst in lists
            if str(lst["id"]) in known and known[str(lst["id"])] <= BULK_FROM_MEMBERS
        )
        calls = pages + len(unknown) + bulk * BULK_JOB_CALLS
        text = (
            f"{self.name}: {len(lists)} lists, about {calls} API calls ({pages + len(unknown)} member pages, "
            f"{bulk} bulk export jobs"
            + (f"; {len(unknown)} lists not read before, counted at one page each" if unknown else "")
            + ")."
        )
        if calls > WARN_ABOVE_SHARE * DAILY_CALLS:
            self.logger.warning(
                "%s That is %.0f%% of the %d calls a day most subscriptions have; name fewer lists in %s.",
                text,
                100 * calls / DAILY_CALLS,
                DAILY_CALLS,
                SETTING,
            )
        else:
            self.logger.info(text)


def static_list_members_stream(tap: Tap, marketo: MarketoInstance) -> StaticListMembersStream:
    """The members stream; lists named in ``static_list_members_lists`` are checked now, so a
    wrong name stops discovery with the instance's lists (one Get Lists read, kept for the run)."""
    stream = StaticListMembersStream(tap, marketo)
    if tap.config.get(SETTING):
        stream.lists()
    return stream
